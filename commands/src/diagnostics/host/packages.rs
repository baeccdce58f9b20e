//! What a package manager's log says changed (apt's history, dpkg's
//! log): the changes and transactions both are read into.

use std::sync::LazyLock;

use regex::Regex;
use time::OffsetDateTime;

use super::clock::LogClock;

/// What happened to a package.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change {
    /// `Upgrade`, `Install`, `Remove`, … as apt writes it.
    pub action: String,
    /// The package name without its architecture.
    pub package: String,
    /// The version before, for an upgrade or downgrade.
    pub from: Option<String>,
    /// The version after (the only version for install and remove).
    pub to: Option<String>,
}

/// One apt run (or one change made by dpkg alone).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Transaction {
    /// `Start-Date`, in the host's zone.
    pub start: Option<OffsetDateTime>,
    /// `End-Date`.
    pub end: Option<OffsetDateTime>,
    /// `Commandline` (`/usr/bin/unattended-upgrade`).
    pub commandline: Option<String>,
    /// What it changed.
    pub changes: Vec<Change>,
    /// `Error:` lines.
    pub errors: Vec<String>,
    /// The block as written (capped), for evidence.
    pub text: String,
}

static DATE: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"^(\d{4})-(\d{2})-(\d{2})\s+(\d{2}):(\d{2}):(\d{2})").unwrap());

/// A log line's leading `YYYY-MM-DD HH:MM:SS`, in the host's zone.
pub(super) fn local_time(text: &str, clock: &LogClock) -> Option<OffsetDateTime> {
    let c = DATE.captures(text.trim())?;
    let n = |i: usize| c[i].parse::<u32>().unwrap_or(0);
    clock.local(
        (n(1) as i32, n(2) as u8, n(3) as u8),
        (n(4) as u8, n(5) as u8, n(6) as u8),
        0,
    )
}

//! Purpose: `cat /var/log/unattended-upgrades/unattended-upgrades.log |
//! tail -50` — what the morning's automatic upgrade did, whether it failed
//! half-way, and whether it rebooted the host
//! (`seeds/production-debugging-guide.md`, step 4 and "Understanding
//! unattended-upgrades"); with the configuration ([`super::aptconf`]: may
//! it reboot, when does it run next) and a pending reboot
//! ([`super::reboot`]).
//!
//! The log is Python logging's `2026-12-06 06:25:31,123 INFO message`, in
//! the host's local time, one run starting at "Starting unattended upgrades
//! script": "Packages that will be upgraded: libssl3 openssl", "All
//! upgrades installed", "No packages found that can be upgraded
//! unattended…", ERROR lines when dpkg failed, "Found
//! /var/run/reboot-required, rebooting" with systemd's "Shutdown msg"
//! when Automatic-Reboot is on. The window ("the last 24 h") is the apt
//! check's ([`super::apt::in_window`]).

use time::OffsetDateTime;

use super::aptconf::{self, AptConf, Timer};
use super::clock::{LogClock, when};
use super::{Ctx, apt, io, reboot};
use crate::model::report::Finding;

/// unattended-upgrades' own log (rotated weekly, `.gz` after the first).
pub const LOG: &str = "var/log/unattended-upgrades/unattended-upgrades.log";
/// Lines of one run kept as evidence.
const EVIDENCE_LINES: usize = 12;
/// Runs listed in the finding's details.
const SHOWN_RUNS: usize = 5;

/// How a run ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// "All upgrades installed".
    Installed,
    /// "No packages found that can be upgraded unattended".
    Nothing,
    /// An ERROR line ("Installing the upgrades failed!").
    Failed,
    /// None of these (still running, killed, or the log was cut).
    Unfinished,
}

/// One run of unattended-upgrade.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Run {
    /// Its first line's time.
    pub start: Option<OffsetDateTime>,
    /// "Packages that will be upgraded" (or, in older versions, "were").
    pub upgraded: Vec<String>,
    /// How it ended.
    pub outcome: Outcome,
    /// ERROR lines' messages.
    pub errors: Vec<String>,
    /// "Found /var/run/reboot-required, rebooting" and the shutdown
    /// message, when it rebooted (or scheduled a reboot).
    pub reboot: Option<String>,
    /// Its lines, the first [`EVIDENCE_LINES`] that say something.
    pub lines: Vec<String>,
}

impl Run {
    fn new(start: Option<OffsetDateTime>) -> Self {
        Run {
            start,
            upgraded: Vec::new(),
            outcome: Outcome::Unfinished,
            errors: Vec::new(),
            reboot: None,
            lines: Vec::new(),
        }
    }
}

/// Lines that only restate the configuration: left out of the evidence.
const NOISE: [&str; 4] = [
    "Allowed origins are",
    "Initial blacklist",
    "Initial whitelist",
    "Writing dpkg log to",
];

/// Reads the log into its runs, oldest first.
pub fn parse(text: &str, clock: &LogClock) -> Vec<Run> {
    let mut runs: Vec<Run> = Vec::new();
    for line in text.lines() {
        let (time, rest) = clock.stamp(line);
        let (level, msg) = match rest.split_once(' ') {
            Some((l @ ("INFO" | "WARNING" | "ERROR" | "DEBUG" | "CRITICAL"), m)) => (l, m.trim()),
            _ => ("", rest.trim()),
        };
        if msg.is_empty() {
            continue;
        }
        if msg.starts_with("Starting unattended upgrades script") || runs.is_empty() {
            runs.push(Run::new(time));
        }
        let run = runs.last_mut().expect("one run at least");
        if run.start.is_none() {
            run.start = time;
        }
        if let Some(list) = msg
            .strip_prefix("Packages that will be upgraded:")
            .or_else(|| msg.strip_prefix("Packages that were upgraded:"))
        {
            for p in list.split_whitespace() {
                if !run.upgraded.iter().any(|q| q == p) {
                    run.upgraded.push(p.to_string());
                }
            }
        } else if msg.starts_with("All upgrades installed") {
            if run.outcome != Outcome::Failed {
                run.outcome = Outcome::Installed;
            }
        } else if msg.starts_with("No packages found that can be upgraded unattended") {
            run.outcome = Outcome::Nothing;
        } else if msg.starts_with("Found /var/run/reboot-required, rebooting")
            || msg.starts_with("Found /run/reboot-required, rebooting")
        {
            run.reboot = Some(msg.to_string());
        } else if let Some(m) = msg.strip_prefix("Shutdown msg:")
            && let Some(r) = &mut run.reboot
        {
            r.push_str(&format!(" ({})", m.trim()));
        }
        if level == "ERROR" || level == "CRITICAL" {
            run.outcome = Outcome::Failed;
            run.errors.push(msg.to_string());
        }
        if run.lines.len() < EVIDENCE_LINES && !NOISE.iter().any(|n| msg.starts_with(n)) {
            // Masked before it is cut, while secrets still look like secrets.
            let line = crate::redact::redact(line.trim_end());
            run.lines
                .push(line[..line.floor_char_boundary(300)].to_string());
        }
    }
    runs
}

/// "libssl3, openssl (high-impact: openssl terminates all SSL connections)".
// NOTE: shown in chat.
fn package_words(names: &[String]) -> String {
    let mut list = names[..names.len().min(10)].join(", ");
    if names.len() > 10 {
        list.push_str(&format!(" and {} more", names.len() - 10));
    }
    let risky: Vec<String> = names
        .iter()
        .filter_map(|n| apt::high_impact(n).map(|why| format!("{n} {why}")))
        .take(3)
        .collect();
    if risky.is_empty() {
        list
    } else {
        format!("{list} (high-impact: {})", risky.join("; "))
    }
}

// NOTE: shown in chat.
fn run_words(run: &Run, now: OffsetDateTime) -> String {
    let at = run
        .start
        .map(|t| when(t, now))
        .unwrap_or_else(|| "?".into());
    let what = match run.outcome {
        Outcome::Failed => format!(
            "failed: {}",
            run.errors.first().map(String::as_str).unwrap_or("an error")
        ),
        Outcome::Nothing => "nothing to upgrade".into(),
        Outcome::Installed | Outcome::Unfinished if !run.upgraded.is_empty() => {
            let verb = if run.outcome == Outcome::Installed {
                "upgraded"
            } else {
                "was upgrading (no end in the log)"
            };
            format!("{verb} {}", package_words(&run.upgraded))
        }
        Outcome::Installed => "nothing to upgrade".into(),
        Outcome::Unfinished => "no end in the log".into(),
    };
    let reboot = if run.reboot.is_some() {
        "; then rebooted the host"
    } else {
        ""
    };
    format!("{at}: {what}{reboot}")
}

/// The `host.unattended` finding for the runs that started in the window:
/// a reboot it made or a failed run is a warning (the first explains every
/// service stopping at once, the second leaves packages half-configured);
/// upgrades alone are listed (host.apt warns about the high-impact ones,
/// with their versions).
pub fn finding(
    runs: &[Run],
    conf: &AptConf,
    timer: Option<&Timer>,
    now: OffsetDateTime,
    window_start: OffsetDateTime,
    window_words: &str,
) -> Finding {
    let recent: Vec<&Run> = runs
        .iter()
        .filter(|r| {
            r.start
                .is_some_and(|t| apt::in_window(t, now, window_start))
        })
        .collect();
    let rebooted = recent.iter().rev().find(|r| r.reboot.is_some());
    let failed = recent.iter().rev().find(|r| r.outcome == Outcome::Failed);
    let upgraded: Vec<&String> = recent.iter().flat_map(|r| r.upgraded.iter()).collect();
    let (mut f, about) = if let Some(r) = rebooted {
        (
            Finding::warn(
                "host.unattended",
                format!(
                    "unattended-upgrades rebooted the host (Automatic-Reboot) after its run at {}",
                    when(r.start.expect("in window"), now)
                ),
            )
            .with_detail("Every service stopped and started then: errors from all of them around that time are explained by it."),
            Some(*r),
        )
    } else if let Some(r) = failed {
        (
            Finding::warn(
                "host.unattended",
                format!(
                    "unattended-upgrades failed at {}: {}",
                    when(r.start.expect("in window"), now),
                    r.errors.first().map(String::as_str).unwrap_or("an error")
                ),
            )
            .with_detail("A half-finished upgrade can leave packages unconfigured and services stopped: dpkg --audit; details in /var/log/unattended-upgrades/unattended-upgrades-dpkg.log."),
            Some(*r),
        )
    } else if let Some(r) = recent.iter().rev().find(|r| !r.upgraded.is_empty()) {
        let n = upgraded.len();
        (
            Finding::ok(
                "host.unattended",
                format!(
                    "unattended-upgrades upgraded {n} {} in the last {window_words}; latest run at {}",
                    if n == 1 { "package" } else { "packages" },
                    when(r.start.expect("in window"), now)
                ),
            ),
            Some(*r),
        )
    } else if let Some(r) = recent.last() {
        (
            Finding::ok(
                "host.unattended",
                format!(
                    "unattended-upgrades ran {} in the last {window_words}, upgrading nothing (latest at {})",
                    match recent.len() {
                        1 => "once".to_string(),
                        n => format!("{n} times"),
                    },
                    when(r.start.expect("in window"), now)
                ),
            ),
            None,
        )
    } else {
        (
            Finding::ok(
                "host.unattended",
                format!("unattended-upgrades did not run in the last {window_words}"),
            ),
            None,
        )
    };
    for r in recent.iter().rev().take(SHOWN_RUNS) {
        f = f.with_detail(run_words(r, now));
    }
    if conf.enabled() == Some(false) {
        f = f
            .with_detail("APT::Periodic::Unattended-Upgrade is 0: the daily timer does not run it");
    }
    f = f.with_detail(conf.reboot_words());
    if let Some(t) = timer {
        f = f.with_detail(t.words(now));
    }
    match about {
        Some(r) if !r.lines.is_empty() => f.with_evidence(r.lines.join("\n")),
        _ => f,
    }
}

/// Reads the log (with its rotations in the window), apt's configuration,
/// the timer (where systemd runs) and the reboot flag: `host.unattended`
/// and `host.reboot`.
pub async fn check(ctx: &Ctx) -> Vec<Finding> {
    let since = std::time::SystemTime::from(ctx.window_start);
    let logs = ctx.machine.read_rotated(LOG, Some(since)).await;
    let conf = aptconf::read(&ctx.machine).await;
    let timer = if ctx.local && ctx.machine.exists(super::systemd::SYSTEMD_DIR).await {
        match ctx.machine.run(&aptconf::TIMER_ARGV, ctx.budget).await {
            Ok(out) if out.success => Some(aptconf::parse_timer(&out.stdout, &ctx.clock)),
            _ => None,
        }
    } else {
        None
    };
    let pending = reboot::read(&ctx.machine).await;
    let reboot = reboot::finding(pending.as_ref(), &conf, timer.as_ref(), ctx.clock.now);

    let mut runs = Vec::new();
    let mut problems = Vec::new();
    // Rotations come newest first; runs are wanted oldest first.
    for f in logs.iter().rev() {
        match &f.text {
            Ok(t) => runs.extend(parse(t, &ctx.clock)),
            Err(e) => problems.push(format!("/{}: {}", f.shown, io::io_words(e))),
        }
    }
    let main = if logs.is_empty() && !conf.reboots() && conf.enabled().is_none() {
        Finding::ok(
            "host.unattended",
            "unattended-upgrades is not set up here (no log, no APT::Periodic setting): automatic upgrades not checked",
        )
    } else if !problems.is_empty() && runs.is_empty() {
        Finding::unknown(
            "host.unattended",
            format!(
                "The unattended-upgrades log is not readable ({})",
                problems.join("; ")
            ),
        )
        .with_detail(
            "It is readable by root and group adm on a stock system: add medic's user to adm.",
        )
    } else {
        let mut f = finding(
            &runs,
            &conf,
            timer.as_ref(),
            ctx.clock.now,
            ctx.window_start,
            &ctx.window_words(),
        );
        for p in problems {
            f = f.with_detail(format!("Not read: {p}"));
        }
        f
    };
    vec![main, reboot]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Status;

    fn at(unix: i64) -> OffsetDateTime {
        OffsetDateTime::from_unix_timestamp(unix).unwrap()
    }

    /// Two mornings of a Debian host, in the package's own format.
    pub const LOG_TEXT: &str = "\
2026-12-05 06:12:03,412 INFO Starting unattended upgrades script
2026-12-05 06:12:03,413 INFO Allowed origins are: origin=Debian,codename=bookworm,label=Debian-Security, origin=Debian,codename=bookworm-security,label=Debian-Security
2026-12-05 06:12:03,413 INFO Initial blacklist: 
2026-12-05 06:12:03,413 INFO Initial whitelist (not strict): 
2026-12-05 06:12:06,001 INFO No packages found that can be upgraded unattended and no pending auto-removals
2026-12-06 06:25:02,118 INFO Starting unattended upgrades script
2026-12-06 06:25:02,119 INFO Allowed origins are: origin=Debian,codename=bookworm,label=Debian-Security
2026-12-06 06:25:02,119 INFO Initial blacklist: 
2026-12-06 06:25:02,119 INFO Initial whitelist (not strict): 
2026-12-06 06:25:31,123 INFO Packages that will be upgraded: libssl3 openssl
2026-12-06 06:25:31,124 INFO Writing dpkg log to /var/log/unattended-upgrades/unattended-upgrades-dpkg.log
2026-12-06 06:25:44,870 INFO All upgrades installed
";

    #[test]
    fn runs_are_read_with_their_packages_and_ends() {
        let now = at(1_796_538_331 + 600); // 2026-12-06 06:35:31 UTC
        let runs = parse(LOG_TEXT, &LogClock::utc(now));
        assert_eq!(runs.len(), 2);
        assert_eq!(runs[0].outcome, Outcome::Nothing);
        assert_eq!(runs[1].start.unwrap().unix_timestamp(), 1_796_538_302); // 06:25:02
        assert_eq!(runs[1].upgraded, ["libssl3", "openssl"]);
        assert_eq!(runs[1].outcome, Outcome::Installed);
        let f = finding(
            &runs,
            &AptConf::default(),
            None,
            now,
            now - time::Duration::hours(48),
            "48 h",
        );
        assert_eq!(f.status, Status::Ok);
        assert_eq!(
            f.summary,
            "unattended-upgrades upgraded 2 packages in the last 48 h; latest run at 06:25:02 UTC (10 min ago)"
        );
        assert_eq!(
            f.detail[0],
            "06:25:02 UTC (10 min ago): upgraded libssl3, openssl (high-impact: libssl3 terminates all SSL connections; openssl terminates all SSL connections)"
        );
        assert_eq!(
            f.detail[1],
            "2026-12-05 06:12 UTC (24 h ago): nothing to upgrade"
        );
        let evidence = f.evidence.as_deref().unwrap();
        assert!(evidence.contains("INFO Packages that will be upgraded: libssl3 openssl"));
        assert!(!evidence.contains("Allowed origins"), "{evidence}");
    }

    #[test]
    fn a_failed_run_and_an_automatic_reboot_are_warnings() {
        let log = "\
2016-10-09 03:41:20,001 INFO Starting unattended upgrades script
2016-10-09 03:41:26,268 INFO Packages that will be upgraded: linux-image-4.4.0-42-generic tzdata
2016-10-09 03:42:11,052 ERROR Installing the upgrades failed!
2016-10-09 03:42:11,062 ERROR error message: 'installArchives() failed'
2016-10-09 03:42:11,065 ERROR dpkg returned a error! See '/var/log/unattended-upgrades/unattended-upgrades-dpkg.log' for details
";
        let now = at(1_475_984_531 + 3600); // 2016-10-09 04:42:11 UTC
        let runs = parse(log, &LogClock::utc(now));
        let f = finding(
            &runs,
            &AptConf::default(),
            None,
            now,
            now - time::Duration::hours(24),
            "24 h",
        );
        assert_eq!(f.status, Status::Warn);
        assert_eq!(
            f.summary,
            "unattended-upgrades failed at 03:41:20 UTC (1 h ago): Installing the upgrades failed!"
        );

        let log = "\
2025-03-13 20:43:29,082 INFO Packages that will be upgraded: libc6 python3-jinja2
2025-03-13 20:43:39,532 INFO All upgrades installed
2025-03-13 20:43:40,201 WARNING Found /var/run/reboot-required, rebooting
2025-03-13 20:43:40,207 WARNING Shutdown msg: b\"Reboot scheduled for Thu 2025-03-13 20:45:00 UTC, use 'shutdown -c' to cancel.\"
";
        let now = at(1_741_898_700 + 600);
        let runs = parse(log, &LogClock::utc(now));
        assert!(
            runs[0]
                .reboot
                .as_deref()
                .unwrap()
                .contains("Reboot scheduled for Thu 2025-03-13 20:45:00 UTC")
        );
        let f = finding(
            &runs,
            &AptConf::default(),
            None,
            now,
            now - time::Duration::hours(24),
            "24 h",
        );
        assert_eq!(f.status, Status::Warn);
        assert!(f.summary.starts_with("unattended-upgrades rebooted the host (Automatic-Reboot) after its run at 20:43:29 UTC"), "{}", f.summary);
        assert!(
            f.detail
                .iter()
                .any(|d| d.ends_with("upgraded libc6, python3-jinja2; then rebooted the host")),
            "{f:#?}"
        );
    }
}

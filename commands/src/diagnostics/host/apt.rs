//! Purpose: `cat /var/log/apt/history.log` and `zcat history.log.*.gz` —
//! unattended-upgrades installs security updates every morning, and some
//! packages take connections down with them: an openssl upgrade ends every
//! SSL connection ("SSL connection has been closed unexpectedly"), a
//! postgresql one restarts the database ("terminating connection due to
//! administrator command") (`seeds/production-debugging-guide.md`, step 4).
//!
//! apt's history is blocks of `Start-Date`, `Commandline`, `Requested-By`,
//! `Install`/`Upgrade`/`Downgrade`/`Remove`/`Purge`/`Reinstall`, `Error`,
//! `End-Date`; a package list is `name:arch (old, new), other:arch (ver,
//! automatic)`. Times are the host's local time. `dpkg -i` never reaches
//! apt's history, so `/var/log/dpkg.log` is read too and its changes outside
//! any apt transaction are added.

use time::OffsetDateTime;

use super::Ctx;
use super::clock::{LogClock, when};
use super::io;
use super::packages::local_time;
pub use super::packages::{Change, Transaction};
use crate::model::report::Finding;

/// Packages whose change takes running services down, and what it does
/// (the runbook's table).
pub const HIGH_IMPACT: &[(&str, &str)] = &[
    ("openssl", "terminates all SSL connections"),
    ("libssl", "terminates all SSL connections"),
    ("systemd", "may restart services and reload daemons"),
    ("postgresql", "restarts the database"),
    ("redis", "restarts Redis"),
    ("linux-image", "needs a reboot to take effect"),
];

/// Why a package is high-impact, when it is: `openssl` exactly, or a name
/// starting with one of the other prefixes (`libssl3t64`, `systemd-timesyncd`).
pub fn high_impact(package: &str) -> Option<&'static str> {
    HIGH_IMPACT.iter().find_map(|(prefix, why)| {
        let hit = if *prefix == "openssl" {
            package == "openssl"
        } else {
            package.starts_with(prefix)
        };
        hit.then_some(*why)
    })
}

/// Splits `a:amd64 (1, 2), b (3, automatic)` at the commas outside
/// parentheses into changes.
pub fn parse_packages(action: &str, list: &str) -> Vec<Change> {
    let mut items = Vec::new();
    let mut depth = 0i32;
    let mut start = 0;
    for (i, ch) in list.char_indices() {
        match ch {
            '(' => depth += 1,
            ')' => depth -= 1,
            ',' if depth == 0 => {
                items.push(&list[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    items.push(&list[start..]);
    items
        .into_iter()
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|item| {
            let (name, versions) = match item.split_once(" (") {
                Some((n, v)) => (n, v.trim_end_matches(')')),
                None => (item, ""),
            };
            let package = name.split(':').next().unwrap_or(name).trim().to_string();
            let versions: Vec<&str> = versions
                .split(", ")
                .map(str::trim)
                .filter(|v| !v.is_empty() && *v != "automatic")
                .collect();
            let (from, to) = match versions.as_slice() {
                [old, new, ..] => (Some(old.to_string()), Some(new.to_string())),
                [only] => (None, Some(only.to_string())),
                [] => (None, None),
            };
            Change {
                action: action.to_string(),
                package,
                from,
                to,
            }
        })
        .collect()
}

/// Reads `history.log` into its transactions, oldest first.
pub fn parse_history(text: &str, clock: &LogClock) -> Vec<Transaction> {
    let mut out = Vec::new();
    let mut cur: Option<Transaction> = None;
    let mut last_key = String::new();
    let mut pending = String::new();
    let flush_list = |tx: &mut Transaction, key: &str, list: &str| {
        if [
            "Install",
            "Upgrade",
            "Downgrade",
            "Remove",
            "Purge",
            "Reinstall",
        ]
        .contains(&key)
        {
            tx.changes.extend(parse_packages(key, list));
        }
    };
    for line in text.lines() {
        if line.trim().is_empty() {
            if let Some(mut tx) = cur.take() {
                flush_list(&mut tx, &last_key, &pending);
                out.push(tx);
            }
            last_key.clear();
            pending.clear();
            continue;
        }
        // A wrapped package list continues on an indented line.
        if line.starts_with(char::is_whitespace) {
            pending.push(' ');
            pending.push_str(line.trim());
            continue;
        }
        let Some((key, value)) = line.split_once(": ") else {
            continue;
        };
        let tx = cur.get_or_insert_with(Transaction::default);
        flush_list(tx, &last_key, &pending);
        pending.clear();
        if tx.text.len() < 2000 {
            // Masked before it is cut, while secrets still look like secrets.
            let line = crate::redact::redact(line);
            let room = 2000 - tx.text.len();
            tx.text
                .push_str(&line[..line.floor_char_boundary(room.min(line.len()))]);
            tx.text.push('\n');
        }
        match key {
            "Start-Date" => tx.start = local_time(value, clock),
            "End-Date" => tx.end = local_time(value, clock),
            "Commandline" => tx.commandline = Some(value.trim().to_string()),
            "Error" => tx.errors.push(value.trim().to_string()),
            _ => pending.push_str(value),
        }
        last_key = key.to_string();
    }
    if let Some(mut tx) = cur.take() {
        flush_list(&mut tx, &last_key, &pending);
        out.push(tx);
    }
    out
}

/// How far past "now" a log time may be and still count: the host's clock
/// and medic's disagree by a little, and a log line written as medic reads
/// it is not from the future.
pub const CLOCK_SKEW: time::Duration = time::Duration::minutes(5);

/// Whether a log time falls in the window the host checks look back over
/// (`upgrade_window`): from `window_start` to now, with [`CLOCK_SKEW`].
/// Every log-reading check that speaks of "the last 24 h" uses this.
pub fn in_window(t: OffsetDateTime, now: OffsetDateTime, window_start: OffsetDateTime) -> bool {
    t >= window_start && t <= now + CLOCK_SKEW
}

/// Package findings for the transactions that started since
/// `window_start`: high-impact changes are a warning with their times, apt
/// errors a warning, anything else a plain count.
pub fn findings(
    txs: &[Transaction],
    now: OffsetDateTime,
    window_start: OffsetDateTime,
    window_words: &str,
) -> Vec<Finding> {
    let recent: Vec<&Transaction> = txs
        .iter()
        .filter(|t| t.start.is_some_and(|s| in_window(s, now, window_start)))
        .collect();
    let mut out = Vec::new();

    let mut risky = Vec::new();
    let mut names: Vec<&str> = Vec::new();
    let mut latest: Option<(OffsetDateTime, &Transaction)> = None;
    for tx in &recent {
        let start = tx.start.expect("filtered on start");
        for c in &tx.changes {
            if let Some(why) = high_impact(&c.package) {
                let versions = match (&c.from, &c.to) {
                    (Some(a), Some(b)) => format!(" {a} → {b}"),
                    (None, Some(v)) => format!(" {v}"),
                    _ => String::new(),
                };
                risky.push(format!(
                    "{} {}{versions} at {} by {}: {why}",
                    c.action.to_lowercase(),
                    c.package,
                    when(start, now),
                    short(tx.commandline.as_deref().unwrap_or("?"))
                ));
                if !names.contains(&c.package.as_str()) {
                    names.push(&c.package);
                }
                if latest.is_none_or(|(t, _)| start > t) {
                    latest = Some((start, tx));
                }
            }
        }
    }
    if let Some((t, tx)) = latest {
        let mut f = Finding::warn(
            "host.apt",
            format!(
                "High-impact {} changed in the last {window_words}: {} (latest at {})",
                if names.len() == 1 {
                    "package"
                } else {
                    "packages"
                },
                names.join(", "),
                when(t, now)
            ),
        );
        for line in risky.iter().rev().take(10) {
            f = f.with_detail(line.clone());
        }
        f = f.with_detail(
            "Connection errors shortly after are explained by it; they heal as clients reconnect.",
        );
        if names.iter().any(|n| n.starts_with("linux-image")) {
            f = f.with_detail(
                "A new kernel runs only after a reboot (cat /var/run/reboot-required).",
            );
        }
        out.push(f.with_evidence(tx.text.trim_end().to_string()));
    }

    for tx in recent.iter().filter(|t| !t.errors.is_empty()) {
        out.push(
            Finding::warn(
                "host.apt",
                format!(
                    "apt failed at {}: {}",
                    when(tx.start.expect("filtered on start"), now),
                    tx.errors[0]
                ),
            )
            .with_detail("A half-finished upgrade can leave packages unconfigured; check with dpkg --audit, finish with dpkg --configure -a.")
            .with_evidence(tx.text.trim_end().to_string()),
        );
    }

    if out.is_empty() {
        let changed: usize = recent.iter().map(|t| t.changes.len()).sum();
        out.push(if changed == 0 {
            Finding::ok(
                "host.apt",
                format!("No package changes in the last {window_words}"),
            )
        } else {
            let mut f = Finding::ok(
                "host.apt",
                format!(
                    "{changed} package {} in the last {window_words}, none high-impact",
                    if changed == 1 { "change" } else { "changes" }
                ),
            );
            for tx in recent.iter().rev().take(5) {
                let pkgs: Vec<&str> = tx
                    .changes
                    .iter()
                    .map(|c| c.package.as_str())
                    .take(8)
                    .collect();
                f = f.with_detail(format!(
                    "{}: {}{}",
                    when(tx.start.expect("filtered on start"), now),
                    pkgs.join(", "),
                    if tx.changes.len() > 8 { ", …" } else { "" }
                ));
            }
            f
        });
    }
    out
}

/// A command line cut to a readable length. Secret shapes are masked
/// first: once cut, `http://u:password@` no longer looks like one.
fn short(text: &str) -> String {
    const MAX: usize = 60;
    let text = &crate::redact::redact(text);
    if text.len() <= MAX {
        return text.to_string();
    }
    format!("{}…", &text[..text.floor_char_boundary(MAX)])
}

/// apt's own history of what it did.
pub const HISTORY_LOG: &str = "var/log/apt/history.log";
/// dpkg's log, which also records what bypassed apt.
pub const DPKG_LOG: &str = "var/log/dpkg.log";

/// Reads `var/log/apt/history.log` (and rotations) and `var/log/dpkg.log`
/// under root.
pub async fn check(ctx: &Ctx) -> Vec<Finding> {
    let since = std::time::SystemTime::from(ctx.window_start);
    let history = ctx.machine.read_rotated(HISTORY_LOG, Some(since)).await;
    let dpkg = ctx.machine.read_rotated(DPKG_LOG, Some(since)).await;
    if history.is_empty() && dpkg.is_empty() {
        return vec![Finding::ok(
            "host.apt",
            "No apt or dpkg history here (not a Debian or Ubuntu host): package changes not checked",
        )];
    }
    let mut txs = Vec::new();
    let mut problems = Vec::new();
    for f in &history {
        match &f.text {
            Ok(t) => txs.extend(parse_history(t, &ctx.clock)),
            Err(e) => problems.push(format!("/{}: {}", f.shown, io::io_words(e))),
        }
    }
    let mut from_dpkg = Vec::new();
    for f in &dpkg {
        match &f.text {
            Ok(t) => from_dpkg.extend(super::dpkg::parse_dpkg_log(t, &ctx.clock)),
            Err(e) => problems.push(format!("/{}: {}", f.shown, io::io_words(e))),
        }
    }
    let extra = super::dpkg::dpkg_only(&txs, from_dpkg);
    txs.extend(extra);
    if !problems.is_empty() && txs.is_empty() {
        return vec![
            Finding::unknown(
                "host.apt",
                format!(
                    "The package history is not readable ({})",
                    problems.join("; ")
                ),
            )
            .with_detail(
                "It is world-readable on a stock system; check the permissions under /var/log/apt.",
            ),
        ];
    }
    let mut out = findings(&txs, ctx.clock.now, ctx.window_start, &ctx.window_words());
    for p in problems {
        out[0] = out[0].clone().with_detail(format!("Not read: {p}"));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Status;

    const HISTORY: &str = include_str!("testdata/apt_history_plaso.log");

    fn at(unix: i64) -> OffsetDateTime {
        OffsetDateTime::from_unix_timestamp(unix).unwrap()
    }

    #[test]
    fn every_transaction_of_the_fixture_is_read() {
        let txs = parse_history(HISTORY, &LogClock::utc(at(1_563_000_000)));
        assert_eq!(txs.len(), 10);
        let first = &txs[0];
        assert_eq!(first.start, Some(at(1_562_776_688))); // 2019-07-10 16:38:08 UTC
        assert_eq!(first.end, Some(at(1_562_776_690)));
        assert_eq!(
            first.commandline.as_deref(),
            Some("apt-get upgrade --no-install-recommends --assume-yes")
        );
        assert_eq!(first.changes.len(), 8, "{:#?}", first.changes);
        assert_eq!(
            first.changes[0],
            Change {
                action: "Upgrade".into(),
                package: "libdns-export162".into(),
                from: Some("1:9.10.3.dfsg.P4-12.3+deb9u4".into()),
                to: Some("1:9.10.3.dfsg.P4-12.3+deb9u5".into()),
            }
        );
        assert!(first.changes.iter().any(|c| c.package == "libssl1.1"));
        let failed: Vec<&Transaction> = txs.iter().filter(|t| !t.errors.is_empty()).collect();
        assert_eq!(failed.len(), 1);
        assert_eq!(
            failed[0].errors[0],
            "Sub-process /usr/bin/dpkg returned an error code (1)"
        );
        let screen = txs[1]
            .changes
            .iter()
            .find(|c| c.package == "screen")
            .unwrap();
        assert_eq!(
            (screen.action.as_str(), screen.to.as_deref()),
            ("Install", Some("4.5.0-6"))
        );
        assert_eq!(txs[6].changes.len(), 2, "Remove: volatility, forensics-all");
        assert_eq!(txs[7].changes[0].action, "Purge");
    }

    #[test]
    fn high_impact_upgrades_in_the_window_are_a_warning_with_their_times() {
        // 2019-07-10 18:00 UTC: the first two transactions are in the last 24 h.
        let now = at(1_562_781_600);
        let clock = LogClock::utc(now);
        let txs = parse_history(HISTORY, &clock);
        let fs = findings(&txs, now, now - time::Duration::hours(24), "24 h");
        assert_eq!(fs.len(), 1, "{fs:#?}");
        let f = &fs[0];
        assert_eq!(f.status, Status::Warn);
        assert_eq!(
            f.summary,
            "High-impact packages changed in the last 24 h: libssl1.1, libssl1.0.2, openssl, linux-image-4.9.0-9-amd64, linux-image-amd64 (latest at 16:38:12 UTC (1 h ago))"
        );
        assert!(f.detail.iter().any(|d| d
            == "upgrade libssl1.1 1.1.0j-1~deb9u1 → 1.1.0k-1~deb9u1 at 16:38:08 UTC (1 h ago) by apt-get upgrade --no-install-recommends --assume-yes: terminates all SSL connections"), "{:#?}", f.detail);
        assert!(!f.summary.contains("bruteforce-salted-openssl"));
    }

    #[test]
    fn an_apt_error_in_the_window_is_reported() {
        // 2019-07-11 13:00 UTC
        let now = at(1_562_850_000);
        let txs = parse_history(HISTORY, &LogClock::utc(now));
        let fs = findings(&txs, now, now - time::Duration::hours(1), "1 h");
        assert_eq!(fs.len(), 1, "{fs:#?}");
        assert_eq!(
            fs[0].summary,
            "apt failed at 12:25:24 UTC (34 min ago): Sub-process /usr/bin/dpkg returned an error code (1)"
        );
        let quiet = findings(&txs, now, now - time::Duration::minutes(10), "10 min");
        assert_eq!(quiet[0].status, Status::Ok);
        assert_eq!(quiet[0].summary, "No package changes in the last 10 min");
    }

    #[test]
    fn the_runbooks_outage_with_wrapped_lines() {
        let text = "Start-Date: 2026-01-31  06:32:07\nCommandline: /usr/bin/unattended-upgrade\nUpgrade: libssl-dev:arm64 (3.0.13-0ubuntu3.6, 3.0.13-0ubuntu3.7),\n         libssl3t64:arm64 (3.0.13-0ubuntu3.6, 3.0.13-0ubuntu3.7),\n         openssl:arm64 (3.0.13-0ubuntu3.6, 3.0.13-0ubuntu3.7)\nEnd-Date: 2026-01-31  06:32:09\n";
        let now = at(1_769_841_127 + 600);
        let txs = parse_history(text, &LogClock::utc(now));
        let names: Vec<&str> = txs[0].changes.iter().map(|c| c.package.as_str()).collect();
        assert_eq!(names, ["libssl-dev", "libssl3t64", "openssl"]);
        let f = &findings(&txs, now, now - time::Duration::hours(24), "24 h")[0];
        assert!(
            f.summary
                .ends_with("libssl-dev, libssl3t64, openssl (latest at 06:32:07 UTC (10 min ago))"),
            "{}",
            f.summary
        );
        assert!(
            f.evidence
                .as_deref()
                .unwrap()
                .contains("Commandline: /usr/bin/unattended-upgrade")
        );
    }
}

//! Purpose: `dmesg | grep "systemd\[1\]:"` and `journalctl --since … | grep
//! reload` — a systemd daemon-reload or re-exec (often from a package
//! upgrade) restarts services, and a journal restart marks a system-wide
//! reload; errors from several services in the same minute point here, not
//! at the application (`seeds/production-debugging-guide.md`: "Both errors
//! at same timestamp → infrastructure event (network, systemd reload,
//! updates)").
//!
//! Read from `/var/log/syslog` (traditional, RFC 3339 or RFC 5424 lines);
//! where there is none (Debian 12 keeps only the journal), from
//! `journalctl` on this machine.

use std::sync::LazyLock;

use regex::Regex;
use time::OffsetDateTime;

use super::clock::{LogClock, when};
use super::io::{self, CmdError};
use super::{Ctx, SharedSyslog};
use crate::model::report::Finding;

/// A reload this recent is a warning: it likely explains current errors.
pub const RECENT: time::Duration = time::Duration::hours(1);
/// Lines of one reload (request, "Reloading…", "finished") are this close.
const SAME_EVENT: time::Duration = time::Duration::seconds(10);

/// What systemd did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EventKind {
    /// `systemctl daemon-reload`: "Reloading." / "Reloading requested from client PID …".
    DaemonReload,
    /// "systemd 255.4-1ubuntu8.12 running in system mode": a re-exec (or a boot).
    Reexec(String),
    /// The journal was stopped or restarted ("Stopped Journal Service",
    /// journald "Received SIGTERM from PID 1").
    JournalRestart,
    /// A unit stopped ("Stopped redis-server.service").
    Stopped(String),
}

/// One systemd event in the log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SystemdEvent {
    /// When, if the line said.
    pub time: Option<OffsetDateTime>,
    /// What.
    pub kind: EventKind,
    /// The line.
    pub line: String,
}

static PID1: LazyLock<Regex> = LazyLock::new(|| {
    // "host systemd[1]: MSG", "systemd[1]: MSG" or RFC 5424 "host systemd 1 - -  MSG".
    Regex::new(r"(?:^|\s)systemd(?:\[1\]:| 1 \S+ (?:-|\[[^\]]*\])) +(.*)$").unwrap()
});
static JOURNALD: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"systemd-journald(?:\[\d+\]:| \d+ \S+ (?:-|\[[^\]]*\])) +(.*)$").unwrap()
});
static RELOAD: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"^Reloading(?:\.|\.\.\.|…| requested from client PID.*)$").unwrap()
});
static REEXEC: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"^systemd (\S+) running in system mode").unwrap());

/// Finds reloads, re-execs, journal restarts and unit stops, in log order.
pub fn parse_events(text: &str, clock: &LogClock) -> Vec<SystemdEvent> {
    let mut out: Vec<SystemdEvent> = Vec::new();
    for line in text.lines() {
        if !line.contains("systemd") {
            continue;
        }
        let (time, rest) = clock.stamp(line);
        let kind = if let Some(c) = PID1.captures(rest) {
            let msg = c[1].trim();
            if RELOAD.is_match(msg) {
                EventKind::DaemonReload
            } else if let Some(v) = REEXEC.captures(msg) {
                EventKind::Reexec(v[1].to_string())
            } else if msg.starts_with("Stopped Journal Service")
                || msg.starts_with("Stopping Journal Service")
                || msg.starts_with("systemd-journald.service: Deactivated")
            {
                EventKind::JournalRestart
            } else if let Some(unit) = msg.strip_prefix("Stopped ") {
                EventKind::Stopped(unit.trim_end_matches('.').to_string())
            } else {
                continue;
            }
        } else if let Some(c) = JOURNALD.captures(rest) {
            if c[1].starts_with("Received SIGTERM from PID 1")
                || c[1].starts_with("Journal stopped")
            {
                EventKind::JournalRestart
            } else {
                continue;
            }
        } else {
            continue;
        };
        // One reload writes several lines; keep the first.
        let repeat = out.iter().rev().any(|e| {
            e.kind == kind
                && match (e.time, time) {
                    (Some(a), Some(b)) => (b - a).abs() <= SAME_EVENT,
                    _ => false,
                }
        });
        if !repeat {
            out.push(SystemdEvent {
                time,
                kind,
                line: rest.trim_end().to_string(),
            });
        }
    }
    out
}

// NOTE: shown in chat.
fn words(kind: &EventKind) -> String {
    match kind {
        EventKind::DaemonReload => "systemd daemon-reload".into(),
        EventKind::Reexec(v) => format!("systemd {v} re-executed (or the machine booted)"),
        EventKind::JournalRestart => "journal restarted".into(),
        EventKind::Stopped(u) => format!("stopped {u}"),
    }
}

/// Reloads, re-execs and journal restarts since `window_start`: a warning
/// when the latest is within the hour, with the units stopped within five
/// minutes of one (the services it took down).
pub fn findings(
    events: &[SystemdEvent],
    now: OffsetDateTime,
    window_start: OffsetDateTime,
    window_words: &str,
) -> Finding {
    let in_window = |e: &&SystemdEvent| {
        e.time
            .is_some_and(|t| t >= window_start && t <= now + time::Duration::minutes(5))
    };
    let big: Vec<&SystemdEvent> = events
        .iter()
        .filter(in_window)
        .filter(|e| !matches!(e.kind, EventKind::Stopped(_)))
        .collect();
    let Some(latest) = big.last() else {
        return Finding::ok(
            "host.reloads",
            format!("No systemd reloads or journal restarts in the last {window_words}"),
        );
    };
    let latest_t = latest.time.expect("in window has a time");
    let summary = format!(
        "{} at {}{}",
        capitalise(&words(&latest.kind)),
        when(latest_t, now),
        match big.len() {
            1 => String::new(),
            n => format!("; {} such events in the last {window_words}", n),
        }
    );
    let mut f = if now - latest_t <= RECENT {
        Finding::warn("host.reloads", summary)
            .with_detail("Services restarted around it; connection errors from several services at that minute are explained by it.")
    } else {
        Finding::ok("host.reloads", summary)
    };
    for e in big.iter().rev().take(5) {
        f = f.with_detail(format!(
            "{}: {}",
            when(e.time.expect("in window"), now),
            words(&e.kind)
        ));
    }
    let near = time::Duration::minutes(5);
    let mut stopped: Vec<&str> = Vec::new();
    for e in events.iter().filter(in_window) {
        if let EventKind::Stopped(u) = &e.kind
            && big
                .iter()
                .any(|b| (b.time.expect("in window") - e.time.expect("in window")).abs() <= near)
            && !stopped.contains(&u.as_str())
        {
            stopped.push(u);
        }
    }
    if !stopped.is_empty() {
        f = f.with_detail(format!("Stopped around then: {}", stopped.join(", ")));
    }
    f.with_evidence(latest.line.clone())
}

fn capitalise(s: &str) -> String {
    let mut c = s.chars();
    c.next()
        .map(|first| first.to_uppercase().collect::<String>() + c.as_str())
        .unwrap_or_default()
}

/// systemd's own messages (PID 1) and journald's since `start` (unix
/// seconds).
pub fn journal_argv(start: i64) -> Vec<String> {
    ["journalctl", "-q", "--no-pager", "-o", "short-iso"]
        .into_iter()
        .map(String::from)
        .chain([
            format!("--since=@{start}"),
            "_PID=1".into(),
            "+".into(),
            "SYSLOG_IDENTIFIER=systemd-journald".into(),
        ])
        .collect()
}

/// Reads the shared syslog, or the journal where there is no syslog.
pub async fn check(ctx: &Ctx, syslog: SharedSyslog) -> Vec<Finding> {
    let files = syslog.await;
    let mut events = Vec::new();
    let mut problems = Vec::new();
    let mut read = false;
    for f in files.iter() {
        match &f.text {
            Ok(t) => {
                events.extend(parse_events(t, &ctx.clock));
                read = true;
            }
            Err(e) => problems.push(format!(
                "/{} is not readable ({}): add medic's user to the adm group",
                f.shown,
                io::io_words(e)
            )),
        }
    }
    if !read && files.is_empty() {
        if !ctx.local {
            return vec![Finding::ok(
                "host.reloads",
                format!(
                    "No /var/log/syslog under {}: systemd reloads not checked (not available)",
                    ctx.root.display()
                ),
            )];
        }
        let argv = journal_argv(ctx.window_start.unix_timestamp());
        let argv: Vec<&str> = argv.iter().map(String::as_str).collect();
        match ctx.machine.run(&argv, ctx.budget).await {
            Ok(out) if out.success => {
                events.extend(parse_events(&out.stdout, &ctx.clock));
                read = true;
            }
            Ok(out) => problems.push(format!(
                "journalctl failed ({}): add medic's user to the systemd-journal group",
                out.stderr.trim()
            )),
            Err(CmdError::Missing(_)) => {
                return vec![Finding::ok(
                    "host.reloads",
                    "No syslog and no journal here: systemd reloads not checked (not available)",
                )];
            }
            Err(e) => problems.push(e.to_string()),
        }
    }
    if !read {
        return vec![Finding::unknown(
            "host.reloads",
            problems
                .first()
                .cloned()
                .unwrap_or_else(|| "The system log is not readable".into()),
        )];
    }
    let mut f = findings(
        &events,
        ctx.clock.now,
        ctx.window_start,
        &ctx.window_words(),
    );
    for p in problems {
        f = f.with_detail(format!("Not read: {p}"));
    }
    vec![f]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Status;

    const SYSKLOGD: &str =
        include_str!("testdata/syslog_systemd_stopped_sysklogd_format_plaso.log");
    const RFC5424: &str = include_str!("testdata/syslog_systemd_stopped_rfc5424_format_plaso.log");
    const EDGES: &str = include_str!("testdata/syslog_edge_cases_plaso.log");

    fn at(unix: i64) -> OffsetDateTime {
        OffsetDateTime::from_unix_timestamp(unix).unwrap()
    }

    #[test]
    fn unit_stops_in_both_syslog_formats() {
        let clock = LogClock::utc(at(1_615_075_200)); // 2021-03-07
        for (text, t) in [(SYSKLOGD, 1_615_003_648), (RFC5424, 1_615_003_658)] {
            let events = parse_events(text, &clock);
            assert_eq!(events.len(), 1, "{events:#?}");
            assert_eq!(
                events[0].kind,
                EventKind::Stopped("Regular background program processing daemon".into())
            );
            assert_eq!(events[0].time.unwrap().unix_timestamp(), t);
        }
        let f = findings(&parse_events(SYSKLOGD, &clock), clock.now, at(0), "24 h");
        assert_eq!(f.status, Status::Ok, "a unit stop alone is not a reload");
    }

    #[test]
    fn edge_cases_do_not_confuse_the_parser() {
        let clock = LogClock::utc(at(1_615_075_200));
        assert!(parse_events(EDGES, &clock).is_empty());
    }

    #[test]
    fn a_reload_with_the_services_it_took_down() {
        let now = at(1_769_841_127); // 2026-01-31 06:32:07 UTC
        let clock = LogClock::utc(now);
        let log = "\
2026-01-31T06:32:09.100000+00:00 web1 systemd[1]: Reloading requested from client PID 4123 ('systemctl') (unit unattended-upgrades.service)...
2026-01-31T06:32:09.120000+00:00 web1 systemd[1]: Reloading...
2026-01-31T06:32:09.400000+00:00 web1 systemd[1]: Reloading finished in 280 ms.
Jan 31 06:32:10 web1 systemd[1]: Stopped redis-server.service - Advanced key-value store.
Jan 31 06:32:11 web1 systemd-journald[312]: Received SIGTERM from PID 1 (systemd).
Jan 31 06:32:11 web1 systemd[1]: Stopped Journal Service.
Jan 31 06:32:12 web1 systemd[1]: systemd 255.4-1ubuntu8.12 running in system mode (+PAM +AUDIT)
";
        let events = parse_events(log, &clock);
        let kinds: Vec<&EventKind> = events.iter().map(|e| &e.kind).collect();
        assert_eq!(
            kinds,
            [
                &EventKind::DaemonReload,
                &EventKind::Stopped("redis-server.service - Advanced key-value store".into()),
                &EventKind::JournalRestart,
                &EventKind::Reexec("255.4-1ubuntu8.12".into()),
            ]
        );
        let later = now + time::Duration::minutes(10);
        let f = findings(&events, later, later - time::Duration::hours(24), "24 h");
        assert_eq!(f.status, Status::Warn);
        assert_eq!(
            f.summary,
            "Systemd 255.4-1ubuntu8.12 re-executed (or the machine booted) at 06:32:12 UTC (9 min ago); 3 such events in the last 24 h"
        );
        assert!(
            f.detail.iter().any(
                |d| d == "Stopped around then: redis-server.service - Advanced key-value store"
            )
        );
        let next_day = now + time::Duration::hours(30);
        let f = findings(
            &events,
            next_day,
            next_day - time::Duration::hours(24),
            "24 h",
        );
        assert_eq!(
            f.summary,
            "No systemd reloads or journal restarts in the last 24 h"
        );
    }
}

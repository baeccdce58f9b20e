//! Purpose: `redis-cli latency latest` and `latency doctor`, where the
//! latency monitor is on. Redis records, per event class (`command`,
//! `fast-command`, `fork`, `aof-fsync-always`, `expire-cycle`, …), the
//! latest and the worst spike over `latency-monitor-threshold`; that names
//! *what* stalled the server (a fork for a save, a disk fsync), which the
//! slowlog cannot, since it only times commands.
//!
//! The monitor is off by default (threshold 0). Then, and when `LATENCY` is
//! not allowed, this check says nothing: a line about a tool nobody turned
//! on is noise. With the monitor on and nothing recorded, one ok line says
//! so.

use redis::Value;
use time::OffsetDateTime;

use super::connect::{Session, config_get};
use super::slowlog::{self, int, printable, text};
use crate::format::{human_age, utc_clock};
use crate::model::report::Finding;

/// A spike this long is a warning: every client waited that long, as for a
/// slow command in the slowlog.
pub const SPIKE_WARN_MS: u64 = slowlog::SLOW_COMMAND.as_millis() as u64;
/// "Recent", for that warning: older spikes are history, shown as ok.
pub const RECENT: std::time::Duration = slowlog::RECENT;
/// The most lines of `LATENCY DOCTOR`'s report kept as evidence: its
/// findings come first, its general advice after.
pub const DOCTOR_LINES: usize = 20;

/// One event class of `LATENCY LATEST`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    /// `command`, `fork`, `aof-fsync-always`, …
    pub name: String,
    /// When the latest spike happened (unix seconds).
    pub at: i64,
    /// The latest spike, in ms.
    pub latest_ms: u64,
    /// The worst spike recorded, in ms.
    pub max_ms: u64,
}

/// Reads the monitor's threshold and latest events, and the doctor's
/// report when there are events.
pub async fn check(session: Session, now: OffsetDateTime) -> Vec<Finding> {
    let mut conn = session.conn;
    let threshold = config_get(&mut conn, "latency-monitor-threshold")
        .await
        .and_then(|v| v.parse::<u64>().ok());
    let Ok(latest) = redis::cmd("LATENCY")
        .arg("LATEST")
        .query_async::<Value>(&mut conn)
        .await
    else {
        return Vec::new();
    };
    let events = parse(&latest);
    let doctor = if events.is_empty() {
        None
    } else {
        redis::cmd("LATENCY")
            .arg("DOCTOR")
            .query_async::<String>(&mut conn)
            .await
            .ok()
    };
    findings(&events, threshold, doctor.as_deref(), now)
}

/// The events of a `LATENCY LATEST` reply; junk is skipped.
pub fn parse(value: &Value) -> Vec<Event> {
    let Value::Array(events) = value else {
        return Vec::new();
    };
    events
        .iter()
        .filter_map(|e| {
            let Value::Array(f) = e else { return None };
            Some(Event {
                name: text(f.first()?)?,
                at: int(f.get(1)?)?,
                latest_ms: u64::try_from(int(f.get(2)?)?).ok()?,
                max_ms: u64::try_from(int(f.get(3)?)?).ok()?,
            })
        })
        .collect()
}

/// Judges the events: a warning when one in the last [`RECENT`] reached
/// [`SPIKE_WARN_MS`]; ok listing them otherwise; one ok line when the
/// monitor is on and quiet; nothing when it is off (`threshold` 0) or its
/// state unknown and nothing was recorded.
pub fn findings(
    events: &[Event],
    threshold: Option<u64>,
    doctor: Option<&str>,
    now: OffsetDateTime,
) -> Vec<Finding> {
    if events.is_empty() {
        return match threshold {
            Some(t) if t > 0 => vec![Finding::ok(
                "redis.latency",
                format!("Latency monitor on: no event over {t} ms recorded"),
            )],
            _ => Vec::new(),
        };
    }
    let mut sorted: Vec<&Event> = events.iter().collect();
    sorted.sort_by(|a, b| b.max_ms.cmp(&a.max_ms).then(a.name.cmp(&b.name)));
    let recent_start = now.unix_timestamp() - RECENT.as_secs() as i64;
    let mut recent: Vec<&&Event> = sorted
        .iter()
        .filter(|e| e.at >= recent_start && e.latest_ms >= SPIKE_WARN_MS)
        .collect();
    recent.sort_by_key(|e| std::cmp::Reverse(e.latest_ms));
    let ago = |e: &Event| human_age((now.unix_timestamp() - e.at).max(0) as u64);
    let mut f = match recent.first() {
        Some(e) => Finding::warn(
            "redis.latency",
            format!(
                "Latency spike: {} took {} ms ({} ago)",
                printable(&e.name, slowlog::ARG_CHARS),
                e.latest_ms,
                ago(e)
            ),
        )
        .with_detail("Redis stalled for every client meanwhile. `command`: a slow command (see the slowlog); `fork`: a save or rewrite forking a big dataset; `aof-*`: the disk."),
        None => Finding::ok(
            "redis.latency",
            format!(
                "Latency monitor: worst recorded {} at {} ms",
                printable(&sorted[0].name, slowlog::ARG_CHARS),
                sorted[0].max_ms
            ),
        ),
    };
    for e in &sorted {
        let at = OffsetDateTime::from_unix_timestamp(e.at).unwrap_or(now);
        f = f.with_detail(format!(
            "• {}: latest {} ms at {} ({} ago), worst {} ms",
            printable(&e.name, slowlog::ARG_CHARS),
            e.latest_ms,
            utc_clock(at),
            ago(e),
            e.max_ms
        ));
    }
    if let Some(t) = threshold.filter(|&t| t > 0) {
        f = f.with_detail(format!("Recorded over latency-monitor-threshold {t} ms."));
    }
    if let Some(report) = doctor {
        let mut lines: Vec<&str> = report
            .lines()
            .filter(|l| !l.trim().is_empty())
            .take(DOCTOR_LINES + 1)
            .collect();
        if lines.len() > DOCTOR_LINES {
            lines.truncate(DOCTOR_LINES);
            lines.push("…");
        }
        f = f.with_evidence(lines.join("\n"));
    }
    vec![f.with_detail(
        "By hand: redis-cli latency latest; redis-cli latency doctor; LATENCY RESET once read",
    )]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Status;

    fn now() -> OffsetDateTime {
        OffsetDateTime::from_unix_timestamp(1_800_000_000).unwrap()
    }

    fn ev(name: &str, ago: i64, latest: u64, max: u64) -> Event {
        Event {
            name: name.into(),
            at: now().unix_timestamp() - ago,
            latest_ms: latest,
            max_ms: max,
        }
    }

    #[test]
    fn a_recent_spike_is_a_warning_naming_the_event() {
        let events = [ev("command", 120, 250, 250), ev("fork", 7200, 900, 1500)];
        let fs = findings(
            &events,
            Some(100),
            Some("Dave, I have observed latency spikes…\n\n1. command: 1 latency spikes"),
            now(),
        );
        let f = &fs[0];
        assert_eq!(f.status, Status::Warn);
        assert_eq!(f.summary, "Latency spike: command took 250 ms (2 min ago)");
        // The worst first, old ones included as history.
        assert!(
            f.detail[1].starts_with("• fork: latest 900 ms at"),
            "{:?}",
            f.detail
        );
        assert!(
            f.detail[1].ends_with("(2 h ago), worst 1500 ms"),
            "{:?}",
            f.detail
        );
        assert!(
            f.detail
                .iter()
                .any(|d| d == "Recorded over latency-monitor-threshold 100 ms.")
        );
        assert_eq!(
            f.evidence.as_deref(),
            Some("Dave, I have observed latency spikes…\n1. command: 1 latency spikes")
        );
    }

    #[test]
    fn old_spikes_are_history_and_an_idle_monitor_is_one_line_or_none() {
        let f = &findings(&[ev("fork", 7200, 900, 1500)], Some(100), None, now())[0];
        assert_eq!(f.status, Status::Ok);
        assert_eq!(f.summary, "Latency monitor: worst recorded fork at 1500 ms");
        let fs = findings(&[], Some(100), None, now());
        assert_eq!(
            fs[0].summary,
            "Latency monitor on: no event over 100 ms recorded"
        );
        // Off (the default) or unknown: nothing at all.
        assert!(findings(&[], Some(0), None, now()).is_empty());
        assert!(findings(&[], None, None, now()).is_empty());
    }

    #[test]
    fn a_reply_parses_and_junk_is_skipped() {
        let bulk = |s: &str| Value::BulkString(s.as_bytes().to_vec());
        let reply = Value::Array(vec![
            Value::Array(vec![
                bulk("command"),
                Value::Int(1_799_999_880),
                Value::Int(250),
                Value::Int(251),
            ]),
            Value::Array(vec![bulk("fork")]),
            Value::Int(3),
        ]);
        assert_eq!(parse(&reply), [ev("command", 120, 250, 251)]);
    }
}

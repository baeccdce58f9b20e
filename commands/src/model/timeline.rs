//! An incident's timeline: every event of it, with its time and who did
//! it, in the order they happened — what `/incident timeline` shows and
//! the postmortem draft is written from.
//!
//! Most entries are recorded as they happen (`incident_events`); a
//! remediation's steps come from the audit log, which already records
//! each with its actor, and the repeats of a firing alert are one line
//! (a storm's thousand repeats are not a thousand events).

use serde::Serialize;
use time::OffsetDateTime;

use super::inbound::{Actor, Platform};
use super::report::Report;

/// What kind of event an entry is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum EventKind {
    /// An alert opened it, or fired again after a resolve.
    Alert,
    /// Someone opened it from chat (`/incident declare`).
    Declared,
    /// The repeats of its alert while it was open.
    Repeats,
    /// A note from its source (acknowledged or reassigned there).
    Note,
    /// A runbook ran; its findings.
    Runbook,
    /// medic's likely cause, with its evidence.
    Cause,
    /// A remediation offered, requested, approved, run …
    Action,
    /// Acknowledged from its thread.
    Acknowledged,
    /// Its severity level changed.
    Severity,
    /// A reminder that nobody had acknowledged it.
    Reminder,
    /// Resolved (at its source or from its thread).
    Resolved,
    /// Reopened from its thread.
    Reopened,
}

impl EventKind {
    /// The symbol a timeline line starts with.
    // NOTE: shown in chat.
    pub fn symbol(self) -> &'static str {
        match self {
            EventKind::Alert => "🚨",
            EventKind::Declared => "📣",
            EventKind::Repeats => "🔁",
            EventKind::Note => "📝",
            EventKind::Runbook => "🩺",
            EventKind::Cause => "🔎",
            EventKind::Action => "🔧",
            EventKind::Acknowledged => "👀",
            EventKind::Severity => "🔺",
            EventKind::Reminder => "⏰",
            EventKind::Resolved => "✅",
            EventKind::Reopened => "↩️",
        }
    }
}

impl super::word::Word for EventKind {
    const SET: &'static str = "incident event";
    const ALL: &'static [EventKind] = &[
        EventKind::Alert,
        EventKind::Declared,
        EventKind::Repeats,
        EventKind::Note,
        EventKind::Runbook,
        EventKind::Cause,
        EventKind::Action,
        EventKind::Acknowledged,
        EventKind::Severity,
        EventKind::Reminder,
        EventKind::Resolved,
        EventKind::Reopened,
    ];
    fn as_str(self) -> &'static str {
        match self {
            EventKind::Alert => "alert",
            EventKind::Declared => "declared",
            EventKind::Repeats => "repeats",
            EventKind::Note => "note",
            EventKind::Runbook => "runbook",
            EventKind::Cause => "cause",
            EventKind::Action => "action",
            EventKind::Acknowledged => "acknowledged",
            EventKind::Severity => "severity",
            EventKind::Reminder => "reminder",
            EventKind::Resolved => "resolved",
            EventKind::Reopened => "reopened",
        }
    }
}

/// One event of an incident.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Entry {
    /// When.
    #[serde(with = "time::serde::rfc3339")]
    pub at: OffsetDateTime,
    /// What kind of event.
    pub kind: EventKind,
    /// Who, when a person did it (none: the source or medic).
    pub actor: Option<Actor>,
    /// What happened, one line, already redacted.
    pub text: String,
}

impl Entry {
    /// What happened, its first line (a likely cause's evidence follows
    /// on the next ones).
    pub fn first_line(&self) -> &str {
        self.text.lines().next().unwrap_or_default()
    }

    /// The lines after the first: a likely cause's evidence.
    pub fn detail(&self) -> impl Iterator<Item = &str> {
        self.text.lines().skip(1)
    }

    /// The entry as one line of a chat message on `platform`:
    /// "`2026-12-06 14:02:07` 👀 Acknowledged — <@U1>".
    // NOTE: shown in chat.
    pub fn chat_line(&self, platform: Platform) -> String {
        let who = self
            .actor
            .as_ref()
            .map(|a| format!(" — {}", a.mention(platform)))
            .unwrap_or_default();
        format!(
            "`{}` {} {}{who}",
            clock(self.at),
            self.kind.symbol(),
            self.first_line()
        )
    }

    /// The entry as one line naming its actor by name (a document has no
    /// mentions): "`2026-12-06 14:02:07` 👀 Acknowledged — alice".
    pub fn headline(&self) -> String {
        let who = self
            .actor
            .as_ref()
            .map(|a| format!(" — {}", a.name))
            .unwrap_or_default();
        format!(
            "`{}` {} {}{who}",
            clock(self.at),
            self.kind.symbol(),
            self.first_line()
        )
    }
}

/// A runbook's line: each target with its status and what is wrong,
/// "Runbook ran: ⚠️ redis — Memory 1.9 GiB of 2 GiB (95 %); ✅ postgres".
// NOTE: shown in chat.
pub fn runbook<R: AsRef<Report>>(reports: &[R]) -> String {
    if reports.is_empty() {
        return "Runbook ran: no target to diagnose".to_string();
    }
    let parts: Vec<String> = reports
        .iter()
        .map(|r| {
            let r = r.as_ref();
            let status = r.status();
            match r.problems().next() {
                Some(_) => format!("{} {} — {}", status.symbol(), r.target.name, r.headline()),
                None => format!("{} {}", status.symbol(), r.target.name),
            }
        })
        .collect();
    format!("Runbook ran: {}", parts.join("; "))
}

/// "2026-12-06 14:02:07", in UTC: a bare clock time is ambiguous in an
/// incident that runs past midnight, so the timeline always says the date.
fn clock(at: OffsetDateTime) -> String {
    let fmt = time::macros::format_description!("[year]-[month]-[day] [hour]:[minute]:[second]");
    at.to_offset(time::UtcOffset::UTC)
        .format(&fmt)
        .unwrap_or_else(|_| at.to_string())
}

/// Puts entries in the order they happened; entries at the same
/// millisecond keep the order they were given in (the order they were
/// recorded).
pub fn in_order(mut entries: Vec<Entry>) -> Vec<Entry> {
    entries.sort_by_key(|e| e.at);
    entries
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::word::Word;

    fn at(secs: i64) -> OffsetDateTime {
        OffsetDateTime::from_unix_timestamp(1_765_000_000 + secs).unwrap()
    }

    #[test]
    fn every_kind_reads_back_as_itself() {
        for &k in EventKind::ALL {
            assert_eq!(EventKind::parse(k.as_str()), Ok(k));
        }
    }

    #[test]
    fn a_line_names_its_time_in_utc_and_its_actor_as_the_platform_does() {
        let e = Entry {
            at: at(0),
            kind: EventKind::Acknowledged,
            actor: Some(Actor {
                id: "U1".into(),
                name: "alice".into(),
            }),
            text: "Acknowledged".into(),
        };
        assert_eq!(
            e.chat_line(Platform::Slack),
            "`2025-12-06 05:46:40` 👀 Acknowledged — <@U1>"
        );
        assert_eq!(
            e.chat_line(Platform::Console),
            "`2025-12-06 05:46:40` 👀 Acknowledged — @alice"
        );
        assert_eq!(
            e.headline(),
            "`2025-12-06 05:46:40` 👀 Acknowledged — alice"
        );
    }

    #[test]
    fn entries_sort_by_time_keeping_the_recorded_order_of_ties() {
        let e = |s, text: &str| Entry {
            at: at(s),
            kind: EventKind::Note,
            actor: None,
            text: text.into(),
        };
        let sorted = in_order(vec![e(5, "c"), e(1, "a"), e(5, "d"), e(2, "b")]);
        let texts: Vec<&str> = sorted.iter().map(|e| e.text.as_str()).collect();
        assert_eq!(texts, ["a", "b", "c", "d"]);
    }
}

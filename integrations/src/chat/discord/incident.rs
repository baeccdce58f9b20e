//! Purpose: an alert incident as Discord messages — one root message in
//! the routed channel, edited as the incident changes (seen 37×,
//! resolved), and notes in the thread started from it. The same content
//! as on Slack (UX.md, "An alert incident"), as an embed.

use medic_commands::model::alert::Severity;
use medic_commands::model::incident::{IncidentState, IncidentView};
use time::OffsetDateTime;

use super::render::{DiscordMessage, Embed, Footer, MAX_THREAD_NAME};
use crate::chat::shorten;

/// The symbol, word and embed colour of a severity.
pub(super) fn mark(severity: Severity) -> (&'static str, &'static str, u32) {
    match severity {
        Severity::Critical => ("🔴", "critical", 0xe7_4c_3c),
        Severity::Error => ("🔴", "error", 0xe7_4c_3c),
        Severity::Warning => ("🟠", "warning", 0xe6_7e_22),
        Severity::Info => ("⚪", "info", 0x95_a5_a6),
    }
}

/// "06:35:02", with the date when it is not the day of `reference`.
fn clock(t: OffsetDateTime, reference: OffsetDateTime) -> String {
    let hms = format!("{:02}:{:02}:{:02}", t.hour(), t.minute(), t.second());
    if t.date() == reference.date() {
        hms
    } else {
        format!("{} {} {hms}", t.month(), t.day())
    }
}

/// The root message of an incident, as it reads now.
pub fn incident_root(v: &IncidentView) -> DiscordMessage {
    let (symbol, word, colour) = match v.state {
        IncidentState::Open => mark(v.severity),
        IncidentState::Resolved => ("✅", "resolved", 0x2e_cc_71),
    };
    let place = match (&v.service, &v.host) {
        (Some(s), Some(h)) => format!("{s} ({h}) · "),
        (Some(s), None) => format!("{s} · "),
        (None, Some(h)) => format!("{h} · "),
        (None, None) => String::new(),
    };
    let mut line = format!(
        "{place}{word} · seen {}× · first {} · last {} UTC",
        v.seen_count,
        clock(v.first_seen, v.last_seen),
        clock(v.last_seen, v.last_seen)
    );
    if let Some(at) = v.resolved_at {
        line.push_str(&format!(
            " · resolved {} UTC after {}",
            clock(at, v.last_seen),
            v.lasted().unwrap_or_default()
        ));
    }
    if let Some(by) = &v.acked_by {
        line.push_str(&format!(" · acknowledged by <@{}>", by.id));
    }
    let mut m = DiscordMessage::embeds(vec![Embed {
        title: Some(shorten(&format!("{symbol} {}{}", v.level_prefix(), v.title), 256).0),
        description: Some(line),
        // Only a web link: a title link that is not http(s) is rejected.
        url: v
            .link
            .clone()
            .filter(|l| l.starts_with("https://") || l.starts_with("http://")),
        color: Some(colour),
        footer: Some(Footer {
            text: match v.level_line() {
                Some(l) => format!(
                    "{} · incident #{} · {l} · notes in thread",
                    v.source.name(),
                    v.id
                ),
                None => format!("{} · incident #{} · notes in thread", v.source.name(), v.id),
            },
        }),
        ..Default::default()
    }]);
    m.components = super::components::responses(v);
    m
}

/// The name of an incident's thread.
pub fn thread_name(v: &IncidentView) -> String {
    shorten(&format!("#{} {}", v.id, v.title), MAX_THREAD_NAME).0
}

/// A short note in an incident's thread.
pub fn incident_note(text: &str) -> DiscordMessage {
    DiscordMessage::text(text)
}

#[cfg(test)]
mod tests {
    use medic_commands::model::alert::AlertSource;
    use time::macros::datetime;

    use super::*;

    fn view() -> IncidentView {
        IncidentView {
            id: 7,
            source: AlertSource::Alertmanager,
            state: IncidentState::Open,
            title: "RedisDown".into(),
            severity: Severity::Critical,
            service: Some("cache".into()),
            host: Some("10.0.1.1".into()),
            link: Some("https://am.example/#/alerts".into()),
            seen_count: 37,
            first_seen: datetime!(2026-11-29 06:29:07 UTC),
            last_seen: datetime!(2026-11-29 06:35:02 UTC),
            resolved_at: None,
            priority: None,
            acked_by: None,
        }
    }

    #[test]
    fn root_reads_like_slacks() {
        let m = incident_root(&view());
        let e = &m.embeds[0];
        assert_eq!(e.title.as_deref(), Some("🔴 RedisDown"));
        assert_eq!(
            e.description.as_deref(),
            Some("cache (10.0.1.1) · critical · seen 37× · first 06:29:07 · last 06:35:02 UTC")
        );
        assert_eq!(e.url.as_deref(), Some("https://am.example/#/alerts"));
        let mut v = view();
        v.state = IncidentState::Resolved;
        v.resolved_at = Some(datetime!(2026-11-29 07:00:00 UTC));
        let text = incident_root(&v).all_text();
        assert!(text.starts_with("✅ RedisDown"), "{text}");
        assert!(text.contains("resolved 07:00:00 UTC"), "{text}");
    }

    #[test]
    fn names_and_notes_fit() {
        let mut v = view();
        v.title = "x".repeat(500);
        assert!(thread_name(&v).chars().count() <= MAX_THREAD_NAME);
        assert!(
            incident_note(&"n".repeat(5000))
                .content
                .unwrap()
                .chars()
                .count()
                <= 2000
        );
    }
}

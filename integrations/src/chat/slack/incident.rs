//! Purpose: an alert incident as Slack messages — one root message in the
//! routed channel that is edited as the incident changes (seen 37×,
//! resolved), and short notes in its thread (UX.md, "An alert incident").

use medic_commands::model::alert::Severity;
use medic_commands::model::incident::{IncidentState, IncidentView};
use slack_morphism::prelude::*;
use time::OffsetDateTime;

use super::render::{MAX_SECTION_TEXT, context, escape, section};
use crate::chat::shorten;

/// The symbol for a severity: colour never carries meaning alone, so the
/// word follows it in the fallback text.
fn symbol(severity: Severity) -> &'static str {
    match severity {
        Severity::Critical | Severity::Error => "🔴",
        Severity::Warning => "🟠",
        Severity::Info => "⚪",
    }
}

fn word(severity: Severity) -> &'static str {
    match severity {
        Severity::Critical => "critical",
        Severity::Error => "error",
        Severity::Warning => "warning",
        Severity::Info => "info",
    }
}

/// "06:35:02", with the date when it is not the day of `reference`.
fn clock(t: OffsetDateTime, reference: OffsetDateTime) -> String {
    if t.date() == reference.date() {
        format!("{:02}:{:02}:{:02}", t.hour(), t.minute(), t.second())
    } else {
        format!(
            "{} {} {:02}:{:02}:{:02}",
            t.month(),
            t.day(),
            t.hour(),
            t.minute(),
            t.second()
        )
    }
}

fn source_name(v: &IncidentView) -> &'static str {
    match v.source {
        medic_commands::model::alert::AlertSource::Sentry => "Sentry",
        medic_commands::model::alert::AlertSource::PagerDuty => "PagerDuty",
        medic_commands::model::alert::AlertSource::Alertmanager => "Alertmanager",
    }
}

/// The root message of an incident, as it reads now.
pub fn incident_root(v: &IncidentView) -> SlackMessageContent {
    let (mark, status) = match v.state {
        IncidentState::Open => (symbol(v.severity), word(v.severity).to_string()),
        IncidentState::Resolved => ("✅", "resolved".to_string()),
    };
    let place = match (&v.service, &v.host) {
        (Some(s), Some(h)) => format!(" — {} ({})", escape(s), escape(h)),
        (Some(s), None) => format!(" — {}", escape(s)),
        (None, Some(h)) => format!(" — {}", escape(h)),
        (None, None) => String::new(),
    };
    let title = shorten(&escape(&v.title), 300).0;
    let mut line2 = format!(
        "seen {}× · first {} · last {} UTC",
        v.seen_count,
        clock(v.first_seen, v.last_seen),
        clock(v.last_seen, v.last_seen)
    );
    if let Some(at) = v.resolved_at {
        line2.push_str(&format!(" · resolved {} UTC", clock(at, v.last_seen)));
    }
    if let Some(link) = &v.link {
        line2.push_str(&format!(" · <{}|{} ↗>", escape(link), source_name(v)));
    }
    let text = shorten(
        &format!("{mark} *{title}*{place} · {status}\n{line2}"),
        MAX_SECTION_TEXT,
    )
    .0;
    SlackMessageContent::new()
        .with_text(format!("{mark} {status}: {}", shorten(&v.title, 200).0))
        .with_blocks(vec![
            section(text),
            context(format!(
                "incident #{} · {}",
                v.id,
                source_name(v).to_lowercase()
            )),
        ])
}

/// A short note in an incident's thread ("✅ Resolved at 06:40:02 UTC by
/// Sentry").
pub fn incident_note(text: &str) -> SlackMessageContent {
    let body = shorten(&escape(text), MAX_SECTION_TEXT).0;
    SlackMessageContent::new()
        .with_text(shorten(text, 200).0)
        .with_blocks(vec![section(body)])
}

#[cfg(test)]
mod tests {
    use super::*;
    use medic_commands::model::alert::AlertSource;
    use time::macros::datetime;

    fn view() -> IncidentView {
        IncidentView {
            id: 12,
            source: AlertSource::Sentry,
            state: IncidentState::Open,
            title: "ActiveRecord::DatabaseConnectionError".into(),
            severity: Severity::Error,
            service: Some("pagecord".into()),
            host: None,
            link: Some("https://sentry.io/issues/1".into()),
            seen_count: 37,
            first_seen: datetime!(2026-01-31 06:35:02 UTC),
            last_seen: datetime!(2026-01-31 06:38:40 UTC),
            resolved_at: None,
        }
    }

    fn text(m: &SlackMessageContent) -> String {
        serde_json::to_string(m).unwrap()
    }

    #[test]
    fn the_root_says_how_bad_how_often_and_since_when() {
        let t = text(&incident_root(&view()));
        assert!(
            t.contains("🔴 *ActiveRecord::DatabaseConnectionError* — pagecord · error"),
            "{t}"
        );
        assert!(
            t.contains("seen 37× · first 06:35:02 · last 06:38:40 UTC · <https://sentry.io/issues/1|Sentry ↗>"),
            "{t}"
        );
        assert!(t.contains("incident #12 · sentry"), "{t}");
    }

    #[test]
    fn a_resolved_incident_says_so_first() {
        let mut v = view();
        v.state = IncidentState::Resolved;
        v.resolved_at = Some(datetime!(2026-01-31 06:40:02 UTC));
        let t = text(&incident_root(&v));
        assert!(t.contains("✅ *ActiveRecord"), "{t}");
        assert!(t.contains("· resolved\\n"), "{t}");
        assert!(t.contains("resolved 06:40:02 UTC"), "{t}");
    }
}

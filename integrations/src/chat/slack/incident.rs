//! Purpose: an alert incident as Slack messages — one root message in the
//! routed channel that is edited as the incident changes (seen 37×,
//! resolved), and short notes in its thread (UX.md, "An alert incident").

use medic_commands::model::alert::Severity;
use medic_commands::model::inbound::ClickVerb;
use medic_commands::model::incident::{IncidentState, IncidentView};
use slack_morphism::prelude::*;
use time::OffsetDateTime;

use super::buttons::button;
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
        line2.push_str(&format!(
            " · resolved {} UTC after {}",
            clock(at, v.last_seen),
            v.lasted().unwrap_or_default()
        ));
    }
    if let Some(by) = &v.acked_by {
        line2.push_str(&format!(" · acknowledged by <@{}>", escape(&by.id)));
    }
    if let Some(link) = &v.link {
        line2.push_str(&format!(" · <{}|{} ↗>", escape(link), v.source.name()));
    }
    let level = v.level_prefix();
    let text = shorten(
        &format!("{mark} *{level}{title}*{place} · {status}\n{line2}"),
        MAX_SECTION_TEXT,
    )
    .0;
    let mut about = format!("incident #{} · {}", v.id, v.source.name().to_lowercase());
    if let Some(l) = v.level_line() {
        about.push_str(&format!(" · {l}"));
    }
    SlackMessageContent::new()
        // The fallback is what notifications show, and Slack parses it
        // like any text: an alert's title must not ping (`<!channel>`).
        .with_text(format!(
            "{mark} {level}{status}: {}",
            escape(&shorten(&v.title, 200).0)
        ))
        .with_blocks(vec![
            section(text),
            context(about),
            SlackActionsBlock::new(
                v.responses()
                    .into_iter()
                    .map(|(label, verb)| {
                        let style = (verb == ClickVerb::Acknowledge)
                            .then_some(SlackBlockButtonStyle::Primary);
                        button(verb.action_id(), label, &v.id.to_string(), style)
                    })
                    .collect(),
            )
            .into(),
        ])
}

/// The most incidents one digest lists: 40 lines of at most ~300
/// characters fit Slack's 50 blocks with room for the header.
pub const DIGEST_MAX: usize = 40;

/// One line of a digest: how bad, what, where, how often.
fn digest_line(v: &IncidentView) -> String {
    let (mark, status) = match v.state {
        IncidentState::Open => (symbol(v.severity), word(v.severity)),
        IncidentState::Resolved => ("✅", "resolved"),
    };
    let place = match (&v.service, &v.host) {
        (Some(s), _) => format!(" — {}", escape(&shorten(s, 60).0)),
        (None, Some(h)) => format!(" — {}", escape(&shorten(h, 60).0)),
        (None, None) => String::new(),
    };
    let title = escape(&shorten(&v.title, 150).0);
    let title = match &v.link {
        Some(link) => format!("<{}|{title}>", escape(link)),
        None => title,
    };
    let seen = if v.seen_count > 1 {
        format!(" · seen {}×", v.seen_count)
    } else {
        String::new()
    };
    format!(
        "{mark} #{} {}*{title}*{place} · {status}{seen}",
        v.id,
        v.level_prefix()
    )
}

/// One message for many new incidents in one channel (an alert storm):
/// each incident a line that changes as it does, their updates in this
/// message's thread. Posting one root per incident at Slack's pace would
/// keep the channel busy for minutes and bury the first alert under the
/// rest; a digest makes all of them visible at once.
pub fn incident_digest(views: &[IncidentView]) -> SlackMessageContent {
    let resolved = views
        .iter()
        .filter(|v| v.state == IncidentState::Resolved)
        .count();
    let mut head = format!(
        "🚨 *{} new incidents at once* — listed together to keep this channel readable; their updates follow in this thread.",
        views.len()
    );
    if resolved > 0 {
        head.push_str(&format!(" {resolved} resolved since."));
    }
    let mut blocks = vec![section(head)];
    let mut chunk = String::new();
    for line in views.iter().take(DIGEST_MAX).map(digest_line) {
        if !chunk.is_empty() && chunk.len() + line.len() + 1 > MAX_SECTION_TEXT {
            blocks.push(section(std::mem::take(&mut chunk)));
        }
        if !chunk.is_empty() {
            chunk.push('\n');
        }
        chunk.push_str(&shorten(&line, MAX_SECTION_TEXT).0);
    }
    if !chunk.is_empty() {
        blocks.push(section(chunk));
    }
    let ids = match (views.first(), views.last()) {
        (Some(a), Some(b)) if a.id != b.id => format!("incidents #{}–#{}", a.id, b.id),
        (Some(a), _) => format!("incident #{}", a.id),
        _ => "no incidents".to_string(),
    };
    blocks.push(context(format!("{ids} · alert storm digest")));
    let titles: Vec<&str> = views.iter().map(|v| v.title.as_str()).collect();
    SlackMessageContent::new()
        .with_text(escape(
            &shorten(
                &format!("🚨 {} new incidents: {}", views.len(), titles.join("; ")),
                200,
            )
            .0,
        ))
        .with_blocks(blocks)
}

/// A note in a digest's thread, headed by the incident it is about (many
/// incidents share that thread).
pub fn digest_note(v: &IncidentView, note: SlackMessageContent) -> SlackMessageContent {
    let head = context(format!("#{} · {}", v.id, escape(&shorten(&v.title, 200).0)));
    let mut blocks = vec![head];
    blocks.extend(note.blocks.clone().unwrap_or_default());
    blocks.truncate(super::render::MAX_BLOCKS);
    let text = note.text.clone().unwrap_or_default();
    SlackMessageContent::new()
        .with_text(shorten(&format!("#{}: {text}", v.id), 200).0)
        .with_blocks(blocks)
}

/// A short note in an incident's thread ("✅ Resolved at 06:40:02 UTC by
/// Sentry").
pub fn incident_note(text: &str) -> SlackMessageContent {
    note(&escape(text))
}

/// A note saying what `user` (a Slack user id) did: the text escaped, the
/// mention real.
pub fn incident_note_by(text: &str, user: &str) -> SlackMessageContent {
    note(&format!("{} by <@{user}>", escape(text)))
}

/// A note of ready mrkdwn, the fallback text (notifications) the same.
fn note(mrkdwn: &str) -> SlackMessageContent {
    SlackMessageContent::new()
        .with_text(shorten(mrkdwn, 200).0)
        .with_blocks(vec![section(shorten(mrkdwn, MAX_SECTION_TEXT).0)])
}

#[cfg(test)]
mod tests {
    use super::*;
    use medic_commands::model::alert::AlertSource;

    #[test]
    fn a_note_pings_nobody_from_alert_text_but_mentions_whom_it_names() {
        let note = incident_note_by("Acknowledged <!channel> & co", "U0ALICE");
        let fallback = note.text.clone().unwrap();
        assert_eq!(
            fallback,
            "Acknowledged &lt;!channel&gt; &amp; co by <@U0ALICE>"
        );
        let block = serde_json::to_string(&note.blocks).unwrap();
        assert!(block.contains("&lt;!channel&gt;"), "{block}");
        assert!(block.contains("by <@U0ALICE>"), "{block}");
        let plain = incident_note("details: <!here> <@U0EVE>");
        assert_eq!(plain.text.unwrap(), "details: &lt;!here&gt; &lt;@U0EVE&gt;");
    }
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
            priority: None,
            acked_by: None,
        }
    }

    fn text(m: &SlackMessageContent) -> String {
        serde_json::to_string(m).unwrap()
    }

    #[test]
    fn an_alert_title_that_looks_like_a_mention_pings_nobody() {
        let mut v = view();
        v.title = "<!channel> disk full & more".into();
        for m in [incident_root(&v), incident_digest(std::slice::from_ref(&v))] {
            let fallback = m.text.clone().unwrap_or_default();
            assert!(!fallback.contains("<!"), "{fallback}");
            assert!(!text(&m).contains("<!"), "{}", text(&m));
        }
    }

    #[test]
    fn the_root_leads_with_the_p_level_and_says_how_soon_to_respond() {
        let mut v = view();
        v.priority = Some(medic_commands::model::priority::Priority::P1);
        let t = text(&incident_root(&v));
        assert!(
            t.contains("🔴 *P1 ActiveRecord::DatabaseConnectionError*"),
            "{t}"
        );
        assert!(
            t.contains("incident #12 · sentry · P1 High: respond within 15 min"),
            "{t}"
        );
        v.priority = Some(medic_commands::model::priority::Priority::P0);
        assert!(text(&incident_root(&v)).contains("P0 Critical: respond now"));
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

    #[test]
    fn a_digest_lists_every_incident_within_slacks_limits() {
        let views: Vec<IncidentView> = (0..DIGEST_MAX as i64)
            .map(|i| {
                let mut v = view();
                v.id = 100 + i;
                v.seen_count = 1;
                v.title = format!("{} {}", "x".repeat(180), i);
                if i == 3 {
                    v.state = IncidentState::Resolved;
                }
                v
            })
            .collect();
        let m = incident_digest(&views);
        let blocks = m.blocks.clone().unwrap();
        assert!(blocks.len() <= 50, "{} blocks", blocks.len());
        let t = text(&m);
        assert!(t.contains("*40 new incidents at once*"), "{t}");
        assert!(t.contains("1 resolved since"), "{t}");
        assert!(
            t.contains("incidents #100–#139 · alert storm digest"),
            "{t}"
        );
        for i in 0..DIGEST_MAX {
            assert!(
                t.contains(&format!("#{} *<https://sentry.io", 100 + i)),
                "line {i}"
            );
        }
        assert!(t.contains("✅ #103"), "{t}");
        for b in blocks {
            let b = serde_json::to_string(&b).unwrap();
            assert!(b.chars().count() < MAX_SECTION_TEXT + 200, "{}", b.len());
        }
    }

    #[test]
    fn a_note_in_a_digest_thread_names_its_incident() {
        let m = digest_note(
            &view(),
            incident_note("✅ Resolved at 06:40:02 UTC (sentry)"),
        );
        let t = text(&m);
        assert!(
            t.contains("#12 · ActiveRecord::DatabaseConnectionError"),
            "{t}"
        );
        assert!(t.contains("✅ Resolved at 06:40:02"), "{t}");
    }
}

//! The "Likely cause" message and the correlation line on Discord: the same
//! content as Slack's (`chat::slack::triage`), as one embed. `fit` keeps it
//! inside Discord's limits; the evidence is cut to [`MAX_EVIDENCE`] first so
//! the cause and the next check are never the part that is shortened.

use medic_commands::model::report::Status;
use medic_commands::triage::{LikelyCause, Triage};

use super::render::{DiscordMessage, Embed, EmbedField, Footer, MAX_EVIDENCE, color};
use crate::chat::{Correlated, shorten};

/// Evidence lines shown; the rest is counted.
pub const MAX_EVIDENCE_LINES: usize = 8;

/// The message for a verdict.
pub fn likely_cause(t: &Triage) -> DiscordMessage {
    match t {
        Triage::Likely(c) => cause_message(c),
        Triage::NoLikelyCause { looked_at } => DiscordMessage::text(&format!(
            "**Likely cause:** none found. Nothing medic knows explains this error, so it is not guessing.\nLooked at: {}.",
            looked_at.join("; ")
        )),
    }
}

fn cause_message(c: &LikelyCause) -> DiscordMessage {
    let heals = if c.self_healing {
        "♻️ Heals itself: clients reconnect; nothing to do unless it persists."
    } else {
        "🛠 Does not heal itself."
    };
    let category = c
        .category
        .map(|k| format!(" ({})", k.word()))
        .unwrap_or_default();
    let lines: Vec<String> = c
        .evidence
        .iter()
        .take(MAX_EVIDENCE_LINES)
        .map(|l| shorten(&l.replace("```", "'''"), 400).0)
        .collect();
    let mut evidence = format!("```\n{}\n```", shorten(&lines.join("\n"), MAX_EVIDENCE).0);
    if let n @ 1.. = c.evidence.len().saturating_sub(MAX_EVIDENCE_LINES) {
        evidence.push_str(&format!("\n*… and {n} more lines*"));
    }
    let mut next = c.next_check.clone();
    if !c.actions.is_empty() {
        next.push_str(&format!(" · *suggested: {}*", c.actions.join(", ")));
    }
    DiscordMessage::embeds(vec![Embed {
        title: Some(format!("🧭 Likely cause{category}")),
        description: Some(format!(
            "{}\n**Confidence:** {} — {}\n{heals}\n\n**Evidence**\n{evidence}",
            c.cause,
            c.confidence.word(),
            c.why
        )),
        color: Some(color(Status::Warn)),
        fields: vec![EmbedField {
            name: "Next".into(),
            value: next,
            inline: false,
        }],
        footer: Some(Footer {
            text: format!("triage rule: {}", c.rule.as_deref().unwrap_or("timeline")),
        }),
        ..Default::default()
    }])
}

/// The line in one incident's thread naming the other of one event. No
/// link: a Discord thread's address needs the server's id, which an
/// outgoing message does not know.
pub fn correlation_note(other: &Correlated<'_>) -> DiscordMessage {
    DiscordMessage::text(&other.sentence(
        &format!("incident #{}", other.id),
        &shorten(other.title, 300).0,
        other.host,
    ))
}

#[cfg(test)]
mod tests {
    use medic_commands::triage::{Category, Confidence};

    use super::*;
    use crate::chat::discord::render::{MAX_DESCRIPTION, MAX_EMBED_TOTAL};

    fn cause(evidence: usize) -> LikelyCause {
        LikelyCause {
            cause: "OpenSSL was upgraded by unattended-upgrades".into(),
            category: Some(Category::Infrastructure),
            rule: Some("ssl-closed-unexpectedly".into()),
            evidence: (0..evidence)
                .map(|i| format!("line {i} {}", "x".repeat(390)))
                .collect(),
            confidence: Confidence::High,
            why: "the upgrade came 3 min before".into(),
            self_healing: true,
            next_check: "grep -i ssl /var/log/apt/history.log".into(),
            actions: vec!["diagnose-host".into()],
        }
    }

    #[test]
    fn a_cause_keeps_its_cause_and_next_check_within_the_limits() {
        let m = likely_cause(&Triage::Likely(cause(40)));
        let e = &m.embeds[0];
        let d = e.description.as_deref().unwrap();
        assert!(d.starts_with("OpenSSL was upgraded"), "{d}");
        assert!(d.contains("**Confidence:** high"), "{d}");
        assert!(d.contains("and 32 more lines"), "{d}");
        assert!(d.chars().count() <= MAX_DESCRIPTION);
        assert!(e.chars() <= MAX_EMBED_TOTAL);
        assert!(e.fields[0].value.starts_with("grep -i ssl"));
        assert!(e.fields[0].value.contains("suggested: diagnose-host"));
    }

    #[test]
    fn no_cause_says_so_and_names_what_was_read() {
        let m = likely_cause(&Triage::NoLikelyCause {
            looked_at: vec!["the exception chain".into(), "apt history".into()],
        });
        let text = m.all_text();
        assert!(text.contains("none found"), "{text}");
        assert!(text.contains("apt history"), "{text}");
    }
}

//! Purpose: the "Likely cause" message that leads an incident's thread —
//! the cause, the lines that prove it, how sure and why, whether it heals
//! itself, what to check next — and the line that links two threads of one
//! event. Within Block Kit's limits: a few sections of at most 3,000
//! characters, evidence as one code block cut to [`MAX_EVIDENCE`].

use medic_commands::triage::{LikelyCause, Triage};
use slack_morphism::prelude::*;

use super::render::{MAX_EVIDENCE, MAX_SECTION_TEXT, context, escape, section};
use crate::chat::{Correlated, shorten};

/// Evidence lines shown; the rest is counted.
pub const MAX_EVIDENCE_LINES: usize = 8;

/// The message for a verdict.
pub fn likely_cause(t: &Triage) -> SlackMessageContent {
    match t {
        Triage::Likely(c) => cause_message(c),
        Triage::NoLikelyCause { looked_at } => {
            let text = format!(
                "*Likely cause:* none found. Nothing medic knows explains this error, so it is not guessing.\nLooked at: {}.",
                escape(&looked_at.join("; "))
            );
            SlackMessageContent::new()
                .with_text("Likely cause: none found".into())
                .with_blocks(vec![section(shorten(&text, MAX_SECTION_TEXT).0)])
        }
    }
}

fn cause_message(c: &LikelyCause) -> SlackMessageContent {
    let heals = if c.self_healing {
        "♻️ Heals itself: clients reconnect; nothing to do unless it persists."
    } else {
        "🛠 Does not heal itself."
    };
    let category = c
        .category
        .map(|k| format!(" ({})", k.word()))
        .unwrap_or_default();
    let head = format!(
        "🧭 *Likely cause{category}:* {}\n*Confidence:* {} — {}\n{heals}",
        escape(&c.cause),
        c.confidence.word(),
        escape(&c.why),
    );
    let lines: Vec<String> = c
        .evidence
        .iter()
        .take(MAX_EVIDENCE_LINES)
        .map(|l| shorten(&escape(&l.replace("```", "'''")), 400).0)
        .collect();
    let evidence = shorten(&lines.join("\n"), MAX_EVIDENCE).0;
    let more = match c.evidence.len().saturating_sub(MAX_EVIDENCE_LINES) {
        0 => String::new(),
        n => format!("\n_… and {n} more lines_"),
    };
    let mut next = format!("*Next:* {}", escape(&c.next_check));
    if !c.actions.is_empty() {
        next.push_str(&format!(
            " · _suggested: {}_",
            escape(&c.actions.join(", "))
        ));
    }
    let blocks = vec![
        section(shorten(&head, MAX_SECTION_TEXT).0),
        section(format!("*Evidence*\n```{evidence}```{more}")),
        section(shorten(&next, MAX_SECTION_TEXT).0),
        context(format!(
            "triage rule: {}",
            escape(c.rule.as_deref().unwrap_or("timeline"))
        )),
    ];
    SlackMessageContent::new()
        .with_text(escape(
            &shorten(&format!("Likely cause: {}", c.cause), 200).0,
        ))
        .with_blocks(blocks)
}

/// A Slack link to a thread when its root is known:
/// `https://slack.com/archives/C123/p1700000000123456`.
pub fn thread_link(channel: &str, root_ts: Option<&str>) -> Option<String> {
    let ts = root_ts?;
    Some(format!(
        "https://slack.com/archives/{channel}/p{}",
        ts.replace('.', "")
    ))
}

/// The line in one incident's thread naming the other of one event.
pub fn correlation_note(other: &Correlated<'_>, link: Option<&str>) -> SlackMessageContent {
    let id = other.id;
    let name = match link {
        Some(l) => format!("<{l}|incident #{id}>"),
        None => format!("incident #{id}"),
    };
    let text = other.sentence(
        &name,
        &escape(&shorten(other.title, 300).0),
        &escape(other.host),
    );
    SlackMessageContent::new()
        .with_text(escape(&format!(
            "Same event as incident #{id}: {}",
            other.host
        )))
        .with_blocks(vec![section(shorten(&text, MAX_SECTION_TEXT).0)])
}

#[cfg(test)]
mod tests {
    use super::*;
    use medic_commands::triage::{Category, Confidence};

    fn cause(evidence: usize) -> LikelyCause {
        LikelyCause {
            cause: "OpenSSL was upgraded <by unattended-upgrades>".into(),
            category: Some(Category::Infrastructure),
            rule: Some("ssl-closed-unexpectedly".into()),
            evidence: (0..evidence).map(|i| format!("line {i} ```x```")).collect(),
            confidence: Confidence::High,
            why: "the upgrade came 3 min before".into(),
            self_healing: true,
            next_check: "grep -i ssl /var/log/apt/history.log".into(),
            actions: vec!["diagnose-host".into()],
        }
    }

    fn json(m: &SlackMessageContent) -> String {
        serde_json::to_string(m).unwrap()
    }

    #[test]
    fn the_cause_leads_with_confidence_healing_and_evidence() {
        let m = likely_cause(&Triage::Likely(cause(2)));
        let j = json(&m);
        assert!(j.contains("Likely cause (infrastructure):* OpenSSL was upgraded &lt;by"));
        assert!(j.contains("*Confidence:* high"));
        assert!(j.contains("Heals itself"));
        assert!(
            j.contains("line 0 '''x'''"),
            "code fences inside evidence are defused: {j}"
        );
        assert!(j.contains("suggested: diagnose-host"));
        assert!(
            m.text
                .as_deref()
                .unwrap()
                .starts_with("Likely cause: OpenSSL")
        );
    }

    #[test]
    fn long_evidence_stays_within_block_kit_limits() {
        let mut c = cause(40);
        c.evidence = (0..40)
            .map(|i| format!("{i} {}", "x".repeat(500)))
            .collect();
        let m = likely_cause(&Triage::Likely(c));
        let blocks = m.blocks.as_ref().unwrap();
        assert!(blocks.len() <= 50);
        for b in blocks {
            let j = serde_json::to_value(b).unwrap();
            if let Some(t) = j.pointer("/text/text").and_then(|v| v.as_str()) {
                assert!(t.chars().count() <= MAX_SECTION_TEXT, "{}", t.len());
            }
        }
        assert!(json(&m).contains("more"));
    }

    #[test]
    fn no_cause_is_said_plainly() {
        let m = likely_cause(&Triage::NoLikelyCause {
            looked_at: vec!["48 known error patterns".into()],
        });
        let j = json(&m);
        assert!(j.contains("none found"));
        assert!(j.contains("48 known error patterns"));
    }

    #[test]
    fn the_link_line_names_the_other_thread() {
        let link = thread_link("C0ALERTS", Some("1700000000.123456")).unwrap();
        assert_eq!(
            link,
            "https://slack.com/archives/C0ALERTS/p1700000000123456"
        );
        let other = Correlated {
            id: 7,
            title: "Redis down",
            host: "10.0.1.1",
            channel: "C0ALERTS",
            root: None,
            more: 0,
        };
        let j = json(&correlation_note(&other, Some(&link)));
        assert!(j.contains("<https://slack.com/archives/C0ALERTS/p1700000000123456|incident #7>"));
        assert!(j.contains("10.0.1.1"));
    }
}

//! Purpose: a [`Report`] as Slack messages an engineer can read on a phone:
//! a short root message in the channel (status, counts, the headline) and
//! the findings in its thread (UX.md).
//!
//! Slack rejects messages over its limits (`invalid_blocks`,
//! `msg_too_long`), which would lose a report at the worst moment, so every
//! text is fitted here: at most [`MAX_BLOCKS`] blocks a message (the thread
//! continues in further messages), at most [`MAX_SECTION_TEXT`] characters a
//! section, evidence shortened with a note saying so.

use medic_commands::format::human_duration;
use medic_commands::{Diagnosis, Finding, Report, Status, TargetRef};
use slack_morphism::prelude::*;

use crate::chat::{Provenance, shorten};

/// Blocks in one message (Slack: "a maximum of 50 blocks").
pub const MAX_BLOCKS: usize = 50;
/// Characters in a section's text (Slack: "maximum length … 3000").
pub const MAX_SECTION_TEXT: usize = 3000;
/// Elements in a context block.
pub const MAX_CONTEXT_ELEMENTS: usize = 10;
/// The top-level `text` is the notification and screen-reader fallback;
/// Slack truncates past 40 000 characters, and a notification needs far
/// fewer.
pub const MAX_FALLBACK_TEXT: usize = 3000;
/// Evidence longer than this is shortened even when the section has room:
/// "evidence verbatim, short" (UX.md).
pub const MAX_EVIDENCE: usize = 1200;

const SHORTENED_NOTE: &str = "_(shortened — `medic diag` on the host prints it all)_";

/// Escapes the three characters Slack's mrkdwn treats as control.
pub fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// The root line: "🔴 *redis* (127.0.0.1:6379) — critical · 1 problem, 4 checks ok · 12 ms".
fn root_line(report: &Report) -> String {
    let status = report.status();
    format!(
        "{} *{}* ({}) — {} · {} · {}",
        status.symbol(),
        escape(&report.target.name),
        escape(&report.target.location),
        status.word(),
        report.counts(),
        human_duration(report.elapsed)
    )
}

/// The context line: "/diag redis by <@U1> · 12 ms · #42".
fn context_line(report: &Report, prov: &Provenance, in_thread: bool) -> String {
    if in_thread {
        provenance_line(prov, &human_duration(report.elapsed))
    } else {
        provenance_line(prov, "details in thread")
    }
}

/// A section block. Its text is held to Slack's limit here, whatever the
/// caller built: one section over [`MAX_SECTION_TEXT`] makes Slack refuse
/// the whole message, and a line such as a report's root line carries a
/// target name and location from config, of any length (found by fuzzing:
/// truncation).
pub(crate) fn section(text: String) -> SlackBlock {
    SlackSectionBlock::new()
        .with_text(SlackBlockText::MarkDown(SlackBlockMarkDownText::new(
            within(text, MAX_SECTION_TEXT),
        )))
        .into()
}

/// A context block of one text, held to the same limit as a section.
pub(crate) fn context(text: String) -> SlackBlock {
    SlackContextBlock::new(vec![SlackContextBlockElement::MarkDown(
        SlackBlockMarkDownText::new(within(text, MAX_SECTION_TEXT)),
    )])
    .into()
}

/// `text` when it fits in `max` characters, else shortened to fit.
fn within(text: String, max: usize) -> String {
    if text.chars().count() <= max {
        text
    } else {
        shorten(&text, max).0
    }
}

/// The root message posted into the channel.
pub fn root_message(report: &Report, prov: &Provenance) -> SlackMessageContent {
    root_message_with(report, prov, &report.headline())
}

/// [`root_message`] with another second line (a likely cause).
fn root_message_with(report: &Report, prov: &Provenance, headline: &str) -> SlackMessageContent {
    let line = root_line(report);
    let (headline, _) = shorten(
        &escape(headline),
        MAX_SECTION_TEXT.saturating_sub(line.chars().count() + 1),
    );
    let fallback = format!(
        "{} {} — {}: {}",
        report.status().symbol(),
        report.target.name,
        report.status().word(),
        headline
    );
    SlackMessageContent::new()
        .with_text(shorten(&fallback, MAX_FALLBACK_TEXT).0)
        .with_blocks(vec![
            section(format!("{line}\n{headline}")),
            context(context_line(report, prov, false)),
        ])
}

/// The mrkdwn for one problem finding: symbol and summary, detail lines,
/// evidence as code — fitted into one section.
fn finding_text(f: &Finding) -> String {
    let head = format!("{} *{}*", f.status.symbol(), escape(&f.summary));
    let detail: Vec<String> = f.detail.iter().map(|d| escape(d)).collect();
    let mut text = head;
    if !detail.is_empty() {
        text.push('\n');
        text.push_str(&detail.join("\n"));
    }
    // Keep room for the evidence fence, the note and the text so far.
    let (mut text, mut cut) = shorten(&text, MAX_SECTION_TEXT / 2);
    if let Some(evidence) = &f.evidence {
        let room = MAX_SECTION_TEXT
            .saturating_sub(text.chars().count() + SHORTENED_NOTE.len() + 16)
            .min(MAX_EVIDENCE);
        let (evidence, ev_cut) = shorten(&escape(evidence), room);
        cut |= ev_cut;
        text.push_str(&format!("\n```{evidence}```"));
    }
    if cut {
        text.push('\n');
        text.push_str(SHORTENED_NOTE);
    }
    text
}

/// The blocks for some findings: one section per problem, worst first,
/// then the healthy checks together as a compact list.
fn finding_blocks(findings: &[Finding]) -> Vec<SlackBlock> {
    let mut problems: Vec<&Finding> = findings.iter().filter(|f| f.status != Status::Ok).collect();
    problems.sort_by_key(|f| std::cmp::Reverse(f.status));
    let mut blocks: Vec<SlackBlock> = problems
        .into_iter()
        .map(|f| section(finding_text(f)))
        .collect();
    // Healthy checks read as a compact list, as many per section as fit.
    let mut ok_text = String::new();
    for f in findings.iter().filter(|f| f.status == Status::Ok) {
        let line = format!("{} {}", f.status.symbol(), escape(&f.summary));
        let line = shorten(&line, MAX_SECTION_TEXT).0;
        if !ok_text.is_empty()
            && ok_text.chars().count() + 1 + line.chars().count() > MAX_SECTION_TEXT
        {
            blocks.push(section(std::mem::take(&mut ok_text)));
        }
        if !ok_text.is_empty() {
            ok_text.push('\n');
        }
        ok_text.push_str(&line);
    }
    if !ok_text.is_empty() {
        blocks.push(section(ok_text));
    }
    blocks
}

/// Splits blocks into messages within [`MAX_BLOCKS`], the optional context
/// line closing the last one.
fn into_messages(
    blocks: Vec<SlackBlock>,
    fallback: &str,
    closing: Option<SlackBlock>,
) -> Vec<SlackMessageContent> {
    let per_message = MAX_BLOCKS - 1; // room for the context line in the last one
    // Moved into their messages, not cloned: a block is a tree of strings.
    let mut chunks: Vec<Vec<SlackBlock>> = Vec::with_capacity(blocks.len().div_ceil(per_message));
    let mut blocks = blocks.into_iter().peekable();
    while blocks.peek().is_some() {
        chunks.push(blocks.by_ref().take(per_message).collect());
    }
    if chunks.is_empty() {
        chunks.push(Vec::new());
    }
    if let (Some(last), Some(block)) = (chunks.last_mut(), closing) {
        last.push(block);
    }
    chunks
        .into_iter()
        .filter(|c| !c.is_empty())
        .map(|chunk| {
            SlackMessageContent::new()
                .with_text(within(fallback.to_string(), MAX_FALLBACK_TEXT))
                .with_blocks(chunk)
        })
        .collect()
}

/// The thread under the root message: one section per problem, the healthy
/// checks together, and the context line. Usually one message; a report with
/// more findings than fit continues in further messages rather than being
/// rejected.
pub fn thread_messages(report: &Report, prov: &Provenance) -> Vec<SlackMessageContent> {
    let mut blocks = finding_blocks(&report.findings);
    if blocks.is_empty() {
        blocks.push(section("⚪ No checks ran.".into()));
    }
    let fallback = format!(
        "{} {} — details",
        report.status().symbol(),
        report.target.name
    );
    into_messages(
        blocks,
        &fallback,
        Some(context(context_line(report, prov, true))),
    )
}

/// A target's header in a thread about several: "🔴 *db* (10.0.0.5:5432) —
/// critical · 1 problem, 2 checks ok".
fn target_header(report: &Report) -> SlackBlock {
    section(root_line(report))
}

/// The root message for a request: a single target's [`root_message`], or
/// for several (`/diag all`) the worst status, how many targets have
/// problems, and which.
pub fn diagnosis_root(diagnosis: &Diagnosis, prov: &Provenance) -> SlackMessageContent {
    if let Some(report) = diagnosis.single() {
        return root_message_with(report, prov, &diagnosis.headline());
    }
    let status = diagnosis.status();
    let line = format!(
        "{} *{}* — {} · {} · {}",
        status.symbol(),
        escape(&diagnosis.label),
        status.word(),
        diagnosis.counts(),
        human_duration(diagnosis.elapsed())
    );
    let (headline, _) = shorten(
        &escape(&diagnosis.headline()),
        MAX_SECTION_TEXT.saturating_sub(line.chars().count() + 1),
    );
    let fallback = format!(
        "{} {} — {}: {}",
        status.symbol(),
        diagnosis.label,
        status.word(),
        diagnosis.headline()
    );
    SlackMessageContent::new()
        .with_text(shorten(&fallback, MAX_FALLBACK_TEXT).0)
        .with_blocks(vec![
            section(format!("{line}\n{headline}")),
            context(provenance_line(prov, "details in thread")),
        ])
}

/// The thread for a whole request: a single target's [`thread_messages`],
/// or for several, each target's header and findings, troubled targets
/// first.
pub fn diagnosis_thread(diagnosis: &Diagnosis, prov: &Provenance) -> Vec<SlackMessageContent> {
    if let Some(report) = diagnosis.single() {
        return thread_messages(report, prov);
    }
    let reports = diagnosis.worst_first();
    let mut blocks = Vec::new();
    for r in reports {
        blocks.push(target_header(r));
        blocks.extend(finding_blocks(&r.findings));
    }
    let fallback = format!(
        "{} {} — details",
        diagnosis.status().symbol(),
        diagnosis.label
    );
    let took = human_duration(diagnosis.elapsed());
    into_messages(
        blocks,
        &fallback,
        Some(context(provenance_line(prov, &took))),
    )
}

/// The root message while checks are still running: what is being checked
/// and that results follow in the thread. It is edited into
/// [`diagnosis_root`] when the last check answers.
pub fn running_root(label: &str, targets: &[TargetRef], prov: &Provenance) -> SlackMessageContent {
    let what = match targets {
        [only] => format!("*{}* ({})", escape(&only.name), escape(&only.location)),
        many => format!("*{}* ({} targets)", escape(label), many.len()),
    };
    let line = format!("⏳ {what} — checking…");
    SlackMessageContent::new()
        .with_text(format!("⏳ {label} — checking…"))
        .with_blocks(vec![
            section(line),
            context(provenance_line(prov, "results in thread as they arrive")),
        ])
}

/// Thread messages for findings that just arrived while a request runs.
/// With several targets each group is headed by its target's name.
pub fn progress_messages(
    batch: &[(TargetRef, Vec<Finding>)],
    several: bool,
) -> Vec<SlackMessageContent> {
    let mut blocks = Vec::new();
    for (target, findings) in batch {
        if several {
            let worst = findings
                .iter()
                .map(|f| f.status)
                .max()
                .unwrap_or(Status::Ok);
            blocks.push(section(format!(
                "{} *{}* ({})",
                worst.symbol(),
                escape(&target.name),
                escape(&target.location)
            )));
        }
        blocks.extend(finding_blocks(findings));
    }
    let names: Vec<&str> = batch.iter().map(|(t, _)| t.name.as_str()).collect();
    let fallback = format!("Results from {}", names.join(", "));
    into_messages(blocks, &fallback, None)
}

/// "/diag all by <@U1> · {middle} · #42".
fn provenance_line(prov: &Provenance, middle: &str) -> String {
    let mut parts = vec![escape(&prov.command)];
    if let Some(actor) = &prov.actor {
        parts[0] = format!("{} by <@{}>", parts[0], escape(&actor.id));
    }
    parts.push(middle.to_string());
    if let Some(r) = prov.reference {
        parts.push(format!("#{r}"));
    }
    parts.join(" · ")
}

/// An answer only the person who typed the command sees.
#[derive(Debug, Clone, Copy, serde::Serialize)]
pub struct Ephemeral<'a> {
    response_type: &'static str,
    /// The message text (Slack mrkdwn).
    pub text: &'a str,
}

/// An ephemeral answer (only the person who typed the command sees it).
pub fn ephemeral(text: &str) -> Ephemeral<'_> {
    Ephemeral {
        response_type: "ephemeral",
        text,
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use medic_commands::TargetRef;
    use medic_commands::model::inbound::Actor;

    use super::*;

    fn report(findings: Vec<Finding>) -> Report {
        Report::new(
            TargetRef {
                name: "redis".into(),
                kind: "redis".into(),
                location: "127.0.0.1:6379".into(),
            },
            findings,
            Duration::from_millis(12),
        )
    }

    #[test]
    fn a_target_name_of_any_length_still_makes_messages_slack_accepts() {
        let mut r = report(vec![Finding::critical("redis.ping", "no answer")]);
        r.target.name = "r".repeat(5000);
        r.target.location = "l".repeat(5000);
        let mut messages = vec![root_message(&r, &prov())];
        messages.extend(thread_messages(&r, &prov()));
        for m in messages {
            let v = serde_json::to_value(&m).unwrap();
            let fallback = v["text"].as_str().unwrap();
            assert!(fallback.chars().count() <= MAX_FALLBACK_TEXT);
            for b in v["blocks"].as_array().unwrap() {
                let text = b
                    .pointer("/text/text")
                    .or_else(|| b.pointer("/elements/0/text"))
                    .and_then(|t| t.as_str())
                    .unwrap();
                assert!(text.chars().count() <= MAX_SECTION_TEXT, "{}", text.len());
            }
        }
    }

    fn prov() -> Provenance {
        Provenance {
            command: "/diag redis".into(),
            actor: Some(Actor {
                id: "U2CERLKJA".into(),
                name: "roadrunner".into(),
            }),
            reference: Some(42),
        }
    }

    fn json(c: &SlackMessageContent) -> serde_json::Value {
        serde_json::to_value(c).unwrap()
    }

    /// Every section text within Slack's limit, every message within 50 blocks.
    fn assert_within_limits(messages: &[SlackMessageContent]) {
        for m in messages {
            let v = json(m);
            let blocks = v["blocks"].as_array().unwrap();
            assert!(blocks.len() <= MAX_BLOCKS, "{} blocks", blocks.len());
            for b in blocks {
                if let Some(t) = b["text"]["text"].as_str() {
                    assert!(
                        t.chars().count() <= MAX_SECTION_TEXT,
                        "section of {} chars",
                        t.chars().count()
                    );
                }
            }
        }
    }

    #[test]
    fn a_target_name_longer_than_a_section_still_makes_a_root() {
        let mut r = report(vec![Finding::ok("redis.ping", "PONG")]);
        r.target.name = "r".repeat(MAX_SECTION_TEXT + 10);
        let j = json(&root_message(&r, &prov()));
        assert!(j["blocks"].is_array());
    }

    #[test]
    fn root_message_leads_with_status_counts_and_headline() {
        let r = report(vec![
            Finding::critical(
                "redis.reach",
                "Connection refused by 127.0.0.1:6399 after 0 ms",
            ),
            Finding::ok("x", "fine"),
        ]);
        let v = json(&root_message(&r, &prov()));
        let text = v["blocks"][0]["text"]["text"].as_str().unwrap();
        assert_eq!(
            text,
            "🔴 *redis* (127.0.0.1:6379) — critical · 1 problem, 1 check ok · 12 ms\nConnection refused by 127.0.0.1:6399 after 0 ms"
        );
        assert_eq!(
            v["blocks"][1]["elements"][0]["text"],
            "/diag redis by <@U2CERLKJA> · details in thread · #42"
        );
        assert!(
            v["text"]
                .as_str()
                .unwrap()
                .starts_with("🔴 redis — critical")
        );
    }

    #[test]
    fn thread_puts_problems_first_and_groups_healthy_checks() {
        let r = report(vec![
            Finding::ok("a", "PING answered in 0.20 ms"),
            Finding::warn("b", "Redis restarted at 06:29:07 UTC (3 min ago)").with_detail("why"),
            Finding::ok("c", "Clients 1/10000 (0 %)"),
        ]);
        let msgs = thread_messages(&r, &prov());
        assert_eq!(msgs.len(), 1);
        let v = json(&msgs[0]);
        assert_eq!(
            v["blocks"][0]["text"]["text"],
            "🟠 *Redis restarted at 06:29:07 UTC (3 min ago)*\nwhy"
        );
        assert_eq!(
            v["blocks"][1]["text"]["text"],
            "🟢 PING answered in 0.20 ms\n🟢 Clients 1/10000 (0 %)"
        );
        assert_eq!(
            v["blocks"][2]["elements"][0]["text"],
            "/diag redis by <@U2CERLKJA> · 12 ms · #42"
        );
    }

    #[test]
    fn long_evidence_is_shortened_with_a_note_not_rejected() {
        let huge = "x".repeat(20_000);
        let r = report(vec![
            Finding::critical("e", "boom")
                .with_evidence(huge)
                .with_detail("d".repeat(5000)),
        ]);
        let msgs = thread_messages(&r, &prov());
        assert_within_limits(&msgs);
        let text = json(&msgs[0])["blocks"][0]["text"]["text"]
            .as_str()
            .unwrap()
            .to_string();
        assert!(text.contains("shortened"), "{text}");
        assert!(text.contains("```x"));
    }

    #[test]
    fn many_findings_spill_into_more_messages() {
        let findings = (0..120)
            .map(|i| Finding::warn(format!("c{i}"), format!("problem {i}")))
            .collect();
        let msgs = thread_messages(&report(findings), &prov());
        assert_eq!(msgs.len(), 3);
        assert_within_limits(&msgs);
        let total: usize = msgs
            .iter()
            .map(|m| json(m)["blocks"].as_array().unwrap().len())
            .sum();
        assert_eq!(total, 121, "120 problems and one context line");
    }

    #[test]
    fn many_healthy_lines_stay_within_section_limits() {
        let findings = (0..400)
            .map(|i| Finding::ok(format!("c{i}"), format!("check {i} is fine and dandy")))
            .collect();
        assert_within_limits(&thread_messages(&report(findings), &prov()));
    }

    #[test]
    fn mrkdwn_control_characters_are_escaped() {
        let r = report(vec![
            Finding::critical("e", "<!channel> & friends").with_evidence("a < b"),
        ]);
        let text = json(&thread_messages(&r, &prov())[0])["blocks"][0]["text"]["text"]
            .as_str()
            .unwrap()
            .to_string();
        assert!(text.contains("&lt;!channel&gt; &amp; friends"), "{text}");
        assert!(text.contains("a &lt; b"));
    }
}

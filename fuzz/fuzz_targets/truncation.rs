//! Message truncation: whatever a report holds (a log line of any length,
//! any characters), what medic sends fits the platform's limits, and text
//! is cut at a character, never inside one.
//!
//! - `chat::shorten` / `chat::split_lines`: at most `max` characters (for
//!   `max` ≥ 1), a cut ends in `…` after a prefix of the input, an uncut
//!   text comes back unchanged.
//! - Discord (`render::fit`, through `DiscordMessage::text` / `embeds`, and
//!   `diagnosis_root` / `diagnosis_thread`): content ≤ 2000, ≤ 10 embeds,
//!   title ≤ 256, description ≤ 4096, ≤ 25 fields, name ≤ 256, value ≤ 1024,
//!   footer ≤ 2048, all embeds ≤ 6000 characters.
//! - Slack (`root_message`, `thread_messages`, `diagnosis_root` /
//!   `diagnosis_thread`): ≤ 50 blocks, section text ≤ 3000, context
//!   elements ≤ 10, fallback text ≤ 3000 characters.
#![no_main]

use std::time::Duration;

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use medic_commands::model::inbound::Actor;
use medic_commands::{Diagnosis, Finding, Report, Status, TargetRef};
use medic_integrations::chat::discord::render::{
    self as discord, DiscordMessage, Embed, EmbedField, Footer,
};
use medic_integrations::chat::slack::render as slack;
use medic_integrations::chat::{Provenance, shorten, split_lines};
use serde_json::Value;

/// A text and how many times it is repeated: long texts from short inputs.
#[derive(Debug, Arbitrary)]
struct Text(String, u8);

impl Text {
    fn get(&self) -> String {
        self.0.repeat(1 + self.1 as usize % 128)
    }
}

#[derive(Debug, Arbitrary)]
struct Input {
    text: Text,
    max: u16,
    embeds: Vec<EmbedIn>,
    label: Text,
    reports: Vec<ReportIn>,
    command: Text,
    actor: Option<(String, Text)>,
}

#[derive(Debug, Arbitrary)]
struct EmbedIn {
    title: Option<Text>,
    description: Option<Text>,
    fields: Vec<(Text, Text)>,
    footer: Option<Text>,
}

#[derive(Debug, Arbitrary)]
struct ReportIn {
    name: Text,
    kind: String,
    location: Text,
    findings: Vec<FindingIn>,
    elapsed_ms: u32,
}

#[derive(Debug, Arbitrary)]
struct FindingIn {
    check: Text,
    status: u8,
    summary: Text,
    detail: Vec<Text>,
    evidence: Option<Text>,
}

fuzz_target!(|input: Input| {
    let text = input.text.get();
    let max = input.max as usize;
    check_shorten(&text, max);
    if max > 0 {
        for part in split_lines(&text, max) {
            assert!(part.chars().count() <= max, "split_lines part over {max}");
        }
    }

    check_discord(&DiscordMessage::text(&text));
    let embeds = input.embeds.iter().map(embed).collect();
    check_discord(&DiscordMessage::embeds(embeds));

    let reports: Vec<Report> = input.reports.iter().take(8).map(report).collect();
    let prov = Provenance {
        command: input.command.get(),
        actor: input.actor.as_ref().map(|(id, name)| Actor {
            id: id.clone(),
            name: name.get(),
        }),
        reference: Some(1187),
    };
    for r in &reports {
        check_slack(&slack::root_message(r, &prov));
        for m in slack::thread_messages(r, &prov) {
            check_slack(&m);
        }
    }
    let d = Diagnosis::new(input.label.get(), reports);
    check_slack(&slack::diagnosis_root(&d, &prov));
    for m in slack::diagnosis_thread(&d, &prov) {
        check_slack(&m);
    }
    check_discord(&discord::diagnosis_root(&d, &prov));
    for m in discord::diagnosis_thread(&d, &prov) {
        check_discord(&m);
    }
    assert!(discord::thread_name(&d).chars().count() <= discord::MAX_THREAD_NAME);
});

fn check_shorten(text: &str, max: usize) {
    let (out, cut) = shorten(text, max);
    let n = text.chars().count();
    assert_eq!(cut, n > max, "cut flag for {n} chars, max {max}");
    if !cut {
        assert_eq!(out, text);
        return;
    }
    if max > 0 {
        assert!(
            out.chars().count() <= max,
            "{} chars > max {max}",
            out.chars().count()
        );
    }
    let kept = out.strip_suffix('…').expect("a cut ends in …");
    assert!(text.starts_with(kept), "the kept part is not a prefix");
}

fn len(s: &str) -> usize {
    s.chars().count()
}

fn check_discord(m: &DiscordMessage) {
    if let Some(c) = &m.content {
        assert!(len(c) <= discord::MAX_CONTENT, "content {}", len(c));
    }
    assert!(
        m.embeds.len() <= discord::MAX_EMBEDS,
        "{} embeds",
        m.embeds.len()
    );
    let mut total = 0;
    for e in &m.embeds {
        if let Some(t) = &e.title {
            assert!(len(t) <= discord::MAX_TITLE, "title {}", len(t));
        }
        if let Some(d) = &e.description {
            assert!(len(d) <= discord::MAX_DESCRIPTION, "description {}", len(d));
        }
        assert!(
            e.fields.len() <= discord::MAX_FIELDS,
            "{} fields",
            e.fields.len()
        );
        for f in &e.fields {
            assert!(
                len(&f.name) <= discord::MAX_FIELD_NAME,
                "field name {}",
                len(&f.name)
            );
            assert!(
                len(&f.value) <= discord::MAX_FIELD_VALUE,
                "field value {}",
                len(&f.value)
            );
        }
        if let Some(f) = &e.footer {
            assert!(
                len(&f.text) <= discord::MAX_FOOTER,
                "footer {}",
                len(&f.text)
            );
        }
        total += e.chars();
    }
    assert!(total <= discord::MAX_EMBED_TOTAL, "embeds total {total}");
}

fn check_slack<T: serde::Serialize>(m: &T) {
    let v = serde_json::to_value(m).expect("a Slack message serialises");
    if let Some(t) = v.get("text").and_then(Value::as_str) {
        assert!(
            len(t) <= slack::MAX_FALLBACK_TEXT,
            "fallback text {}",
            len(t)
        );
    }
    let blocks = v
        .get("blocks")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    assert!(blocks.len() <= slack::MAX_BLOCKS, "{} blocks", blocks.len());
    for b in &blocks {
        if let Some(t) = b.pointer("/text/text").and_then(Value::as_str) {
            assert!(len(t) <= slack::MAX_SECTION_TEXT, "section text {}", len(t));
        }
        if let Some(els) = b.get("elements").and_then(Value::as_array) {
            assert!(
                els.len() <= slack::MAX_CONTEXT_ELEMENTS,
                "{} context elements",
                els.len()
            );
            for e in els {
                if let Some(t) = e.get("text").and_then(Value::as_str) {
                    assert!(len(t) <= slack::MAX_SECTION_TEXT, "context text {}", len(t));
                }
            }
        }
    }
}

fn embed(e: &EmbedIn) -> Embed {
    Embed {
        title: e.title.as_ref().map(Text::get),
        description: e.description.as_ref().map(Text::get),
        fields: e
            .fields
            .iter()
            .map(|(n, v)| EmbedField {
                name: n.get(),
                value: v.get(),
                inline: false,
            })
            .collect(),
        footer: e.footer.as_ref().map(|t| Footer { text: t.get() }),
        ..Default::default()
    }
}

fn report(r: &ReportIn) -> Report {
    let findings = r
        .findings
        .iter()
        .take(64)
        .map(|f| {
            let status = match f.status % 4 {
                0 => Status::Ok,
                1 => Status::Unknown,
                2 => Status::Warn,
                _ => Status::Critical,
            };
            let mut finding = Finding::new(f.check.get(), status, f.summary.get());
            for d in f.detail.iter().take(16) {
                finding = finding.with_detail(d.get());
            }
            if let Some(e) = &f.evidence {
                finding = finding.with_evidence(e.get());
            }
            finding
        })
        .collect();
    Report::new(
        TargetRef {
            name: r.name.get(),
            kind: r.kind.clone(),
            location: r.location.get(),
        },
        findings,
        Duration::from_millis(r.elapsed_ms.into()),
    )
}

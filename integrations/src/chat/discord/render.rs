//! Purpose: a [`Report`] as Discord messages an engineer can read on a
//! phone: a short root (status, counts, headline) as the answer to the
//! command, and the findings as embeds in a thread started from it.
//!
//! Discord rejects a message over its limits (400 "Invalid Form Body"),
//! which would lose a report at the worst moment, so every message is
//! fitted here ([`fit`]): content 2000 characters, 10 embeds, an embed's
//! description 4096, 25 fields, 6000 characters across a message's
//! embeds. Long evidence is shortened with a note saying so; a report with
//! more findings than fit continues in further messages.

use medic_commands::format::human_duration;
use medic_commands::{Diagnosis, Finding, Report, Status};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::chat::{Provenance, shorten};

/// Characters of `content`.
pub const MAX_CONTENT: usize = 2000;
/// Embeds in one message.
pub const MAX_EMBEDS: usize = 10;
/// Characters of an embed's title.
pub const MAX_TITLE: usize = 256;
/// Characters of an embed's description.
pub const MAX_DESCRIPTION: usize = 4096;
/// Fields in one embed.
pub const MAX_FIELDS: usize = 25;
/// Characters of a field's name.
pub const MAX_FIELD_NAME: usize = 256;
/// Characters of a field's value.
pub const MAX_FIELD_VALUE: usize = 1024;
/// Characters of an embed's footer.
pub const MAX_FOOTER: usize = 2048;
/// Characters across all embeds of a message (titles, descriptions,
/// field names and values, footers).
pub const MAX_EMBED_TOTAL: usize = 6000;
/// Characters of a thread's name.
pub const MAX_THREAD_NAME: usize = 100;
/// Evidence longer than this is shortened even when there is room:
/// "evidence verbatim, short" (UX.md).
pub const MAX_EVIDENCE: usize = 1500;
/// Ephemeral messages (only the invoking user sees them): `flags: 64`.
pub const EPHEMERAL: u64 = 64;

/// Said wherever something was cut to fit.
pub const SHORTENED_NOTE: &str = "*(shortened — `medic diag` on the host prints it all)*";

/// A message to create or edit, as Discord's JSON.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct DiscordMessage {
    /// Plain text above the embeds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content: Option<String>,
    /// The embeds.
    #[serde(default)]
    pub embeds: Vec<Embed>,
    /// Action rows of buttons, built in [`super::components`]. Always
    /// sent, even empty: on an edit, an absent `components` keeps the old
    /// buttons, and a decided request's Approve/Deny must go.
    #[serde(default)]
    pub components: Vec<Value>,
    /// 64 for ephemeral.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub flags: Option<u64>,
    /// Who may be pinged: nobody. A report quoting `@everyone` from a log
    /// line must not wake a server; mentions still render as names.
    #[serde(default = "no_pings")]
    pub allowed_mentions: Value,
}

fn no_pings() -> Value {
    json!({ "parse": [] })
}

/// One embed.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Embed {
    /// Bold first line.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    /// Markdown body.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Where the title links to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// The side bar's colour (status; the symbol in the title says it too).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub color: Option<u32>,
    /// Name/value pairs.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub fields: Vec<EmbedField>,
    /// Small print at the bottom.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub footer: Option<Footer>,
}

/// An embed field.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct EmbedField {
    /// Its name.
    pub name: String,
    /// Its value.
    pub value: String,
    /// Side by side with its neighbours.
    #[serde(default)]
    pub inline: bool,
}

/// An embed footer.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Footer {
    /// Its text (no markdown).
    pub text: String,
}

impl Embed {
    /// The characters that count towards [`MAX_EMBED_TOTAL`].
    pub fn chars(&self) -> usize {
        let len = |s: &Option<String>| s.as_deref().map_or(0, |s| s.chars().count());
        len(&self.title)
            + len(&self.description)
            + self
                .fields
                .iter()
                .map(|f| f.name.chars().count() + f.value.chars().count())
                .sum::<usize>()
            + self.footer.as_ref().map_or(0, |f| f.text.chars().count())
    }
}

impl DiscordMessage {
    /// A message with just text.
    pub fn text(content: &str) -> Self {
        let mut m = DiscordMessage {
            content: Some(content.to_string()),
            allowed_mentions: no_pings(),
            ..Default::default()
        };
        fit(&mut m);
        m
    }

    /// A message with these embeds.
    pub fn embeds(embeds: Vec<Embed>) -> Self {
        let mut m = DiscordMessage {
            embeds,
            allowed_mentions: no_pings(),
            ..Default::default()
        };
        fit(&mut m);
        m
    }

    /// Every text in the message, joined (tests, logs).
    pub fn all_text(&self) -> String {
        let mut out: Vec<&str> = Vec::new();
        out.extend(self.content.as_deref());
        for e in &self.embeds {
            out.extend(e.title.as_deref());
            out.extend(e.description.as_deref());
            for f in &e.fields {
                out.push(&f.name);
                out.push(&f.value);
            }
            out.extend(e.footer.as_ref().map(|f| f.text.as_str()));
        }
        out.join("\n")
    }
}

fn cut(text: &mut String, max: usize) -> bool {
    let (short, was) = shorten(text, max);
    *text = short;
    was
}

fn cut_noted(text: &mut String, max: usize) {
    if text.chars().count() > max {
        let room = max.saturating_sub(SHORTENED_NOTE.chars().count() + 1);
        cut(text, room);
        text.push('\n');
        text.push_str(SHORTENED_NOTE);
    }
}

/// Fits a message into Discord's limits, shortening (with a note) rather
/// than dropping: every per-field cap, then the 6000-character total by
/// shortening the longest descriptions first. Embeds past ten are dropped
/// with a note in the last one kept; [`diagnosis_thread`] never makes that
/// many, so this guards only hand-made messages.
pub fn fit(m: &mut DiscordMessage) {
    if let Some(c) = &mut m.content {
        cut_noted(c, MAX_CONTENT);
    }
    if m.embeds.len() > MAX_EMBEDS {
        m.embeds.truncate(MAX_EMBEDS);
        if let Some(last) = m.embeds.last_mut() {
            let d = last.description.get_or_insert_with(String::new);
            d.push('\n');
            d.push_str(SHORTENED_NOTE);
        }
    }
    for e in &mut m.embeds {
        if let Some(t) = &mut e.title {
            cut(t, MAX_TITLE);
        }
        if let Some(d) = &mut e.description {
            cut_noted(d, MAX_DESCRIPTION);
        }
        if e.fields.len() > MAX_FIELDS {
            e.fields.truncate(MAX_FIELDS);
            e.fields[MAX_FIELDS - 1].value = SHORTENED_NOTE.to_string();
        }
        for f in &mut e.fields {
            cut(&mut f.name, MAX_FIELD_NAME);
            cut_noted(&mut f.value, MAX_FIELD_VALUE);
        }
        if let Some(f) = &mut e.footer {
            cut(&mut f.text, MAX_FOOTER);
        }
    }
    loop {
        let total: usize = m.embeds.iter().map(Embed::chars).sum();
        if total <= MAX_EMBED_TOTAL {
            return;
        }
        let over = total - MAX_EMBED_TOTAL;
        let longest = m
            .embeds
            .iter_mut()
            .filter_map(|e| e.description.as_mut())
            .max_by_key(|d| d.chars().count());
        match longest {
            Some(d) if d.chars().count() > SHORTENED_NOTE.len() + 16 => {
                let keep = d
                    .chars()
                    .count()
                    .saturating_sub(over)
                    .max(SHORTENED_NOTE.len() + 16);
                cut_noted(d, keep);
            }
            _ => {
                // Only titles, fields and footers left to cut: drop fields
                // from the end, then the last embed.
                if let Some(e) = m.embeds.iter_mut().rev().find(|e| !e.fields.is_empty()) {
                    e.fields.pop();
                } else if m.embeds.len() > 1 {
                    m.embeds.pop();
                } else {
                    return;
                }
            }
        }
    }
}

/// The embed colour of a status.
pub fn color(status: Status) -> u32 {
    match status {
        Status::Ok => 0x2e_cc_71,
        Status::Warn => 0xe6_7e_22,
        Status::Critical => 0xe7_4c_3c,
        Status::Unknown => 0x95_a5_a6,
    }
}

/// Keeps text inside a code block from closing it early.
fn code(text: &str) -> String {
    text.replace("```", "`\u{200b}``")
}

/// "/diag redis by alice · {middle} · #42" (a footer: no markdown, no
/// mentions).
fn provenance_line(prov: &Provenance, middle: &str) -> String {
    let mut first = prov.command.clone();
    if let Some(actor) = &prov.actor {
        let who = if actor.name.is_empty() {
            &actor.id
        } else {
            &actor.name
        };
        first = format!("{first} by {who}");
    }
    let mut parts = vec![first, middle.to_string()];
    if let Some(r) = prov.reference {
        parts.push(format!("#{r}"));
    }
    shorten(&parts.join(" · "), 300).0
}

fn root_embed(
    title: String,
    status: Status,
    line: String,
    headline: &str,
    footer: String,
) -> Embed {
    let mut description = line;
    if !headline.is_empty() {
        description.push('\n');
        description.push_str(headline);
    }
    Embed {
        title: Some(title),
        description: Some(description),
        color: Some(color(status)),
        footer: Some(Footer { text: footer }),
        ..Default::default()
    }
}

/// The answer to `/diag`: status, counts and headline, details in the
/// thread below it.
pub fn diagnosis_root(d: &Diagnosis, prov: &Provenance) -> DiscordMessage {
    let status = d.status();
    let (title, line, headline) = match d.single() {
        Some(r) => (
            format!(
                "{} {} ({}) — {}",
                status.symbol(),
                r.target.name,
                r.target.location,
                status.word()
            ),
            format!("{} · {}", r.counts(), human_duration(r.elapsed)),
            d.headline(),
        ),
        None => (
            format!("{} {} — {}", status.symbol(), d.label, status.word()),
            format!("{} · {}", d.counts(), human_duration(d.elapsed())),
            d.headline(),
        ),
    };
    DiscordMessage::embeds(vec![root_embed(
        title,
        status,
        line,
        &headline,
        provenance_line(prov, "details in thread"),
    )])
}

/// One problem as an embed: summary as title, detail lines, evidence in
/// a code block, shortened with a note.
fn finding_embed(f: &Finding) -> Embed {
    let mut description = f.detail.join("\n");
    let mut was_cut = cut(&mut description, MAX_DESCRIPTION / 2);
    if let Some(evidence) = &f.evidence {
        let (evidence, ev_cut) = shorten(&code(evidence), MAX_EVIDENCE);
        was_cut |= ev_cut;
        if !description.is_empty() {
            description.push('\n');
        }
        description.push_str(&format!("```\n{evidence}\n```"));
    }
    if was_cut {
        description.push_str(SHORTENED_NOTE);
    }
    Embed {
        title: Some(shorten(&format!("{} {}", f.status.symbol(), f.summary), MAX_TITLE).0),
        description: (!description.is_empty()).then_some(description),
        color: Some(color(f.status)),
        ..Default::default()
    }
}

/// The healthy checks together, as many lines per embed as fit.
fn healthy_embeds(findings: &[Finding]) -> Vec<Embed> {
    let mut out = Vec::new();
    let mut text = String::new();
    for f in findings.iter().filter(|f| f.status == Status::Ok) {
        let line = shorten(&format!("{} {}", f.status.symbol(), f.summary), 300).0;
        if !text.is_empty() && text.chars().count() + 1 + line.chars().count() > 2000 {
            out.push(std::mem::take(&mut text));
        }
        if !text.is_empty() {
            text.push('\n');
        }
        text.push_str(&line);
    }
    if !text.is_empty() {
        out.push(text);
    }
    out.into_iter()
        .map(|t| Embed {
            description: Some(t),
            color: Some(color(Status::Ok)),
            ..Default::default()
        })
        .collect()
}

fn report_embeds(r: &Report, header: bool) -> Vec<Embed> {
    let mut embeds = Vec::new();
    if header {
        embeds.push(Embed {
            title: Some(format!(
                "{} {} ({}) — {} · {}",
                r.status().symbol(),
                r.target.name,
                r.target.location,
                r.status().word(),
                r.counts()
            )),
            color: Some(color(r.status())),
            ..Default::default()
        });
    }
    let mut problems: Vec<&Finding> = r
        .findings
        .iter()
        .filter(|f| f.status != Status::Ok)
        .collect();
    problems.sort_by_key(|f| std::cmp::Reverse(f.status));
    embeds.extend(problems.into_iter().map(finding_embed));
    embeds.extend(healthy_embeds(&r.findings));
    embeds
}

/// Packs embeds into messages of at most ten embeds and 6000 characters,
/// the footer on the last embed of the last message.
fn pack(mut embeds: Vec<Embed>, footer: String) -> Vec<DiscordMessage> {
    if embeds.is_empty() {
        embeds.push(Embed {
            description: Some("⚪ No checks ran.".into()),
            ..Default::default()
        });
    }
    if let Some(last) = embeds.last_mut() {
        last.footer = Some(Footer { text: footer });
    }
    let mut messages = Vec::new();
    let mut current: Vec<Embed> = Vec::new();
    let mut total = 0;
    for mut e in embeds {
        // Each embed alone within the total, so the packing terminates.
        let mut single = DiscordMessage::embeds(vec![e]);
        e = single.embeds.remove(0);
        let n = e.chars();
        if !current.is_empty() && (current.len() == MAX_EMBEDS || total + n > MAX_EMBED_TOTAL) {
            messages.push(DiscordMessage::embeds(std::mem::take(&mut current)));
            total = 0;
        }
        total += n;
        current.push(e);
    }
    messages.push(DiscordMessage::embeds(current));
    messages
}

/// The thread under the root: one embed per problem, worst first, the
/// healthy checks together; for several targets each headed by its name,
/// troubled targets first.
pub fn diagnosis_thread(d: &Diagnosis, prov: &Provenance) -> Vec<DiscordMessage> {
    let took = human_duration(d.elapsed());
    let embeds = match d.single() {
        Some(r) => report_embeds(r, false),
        None => {
            let reports = d.worst_first();
            reports
                .into_iter()
                .flat_map(|r| report_embeds(r, true))
                .collect()
        }
    };
    pack(embeds, provenance_line(prov, &took))
}

/// The name of the thread for a report: "🔴 redis — critical".
pub fn thread_name(d: &Diagnosis) -> String {
    let status = d.status();
    shorten(
        &format!("{} {} — {}", status.symbol(), d.label, status.word()),
        MAX_THREAD_NAME,
    )
    .0
}

/// Interaction response 1: the answer to a PING.
pub fn pong() -> Value {
    json!({ "type": 1 })
}

/// Interaction response 5: "medic is thinking…", in the channel; the
/// answer follows by editing it.
pub fn deferred() -> Value {
    json!({ "type": 5 })
}

/// Interaction response 4 with flags 64: an answer only the invoking user
/// sees.
pub fn ephemeral(text: &str) -> Value {
    let mut m = DiscordMessage::text(text);
    m.flags = Some(EPHEMERAL);
    json!({ "type": 4, "data": m })
}

/// Interaction response 8: autocomplete choices (at most 25, names and
/// values at most 100 characters).
pub fn autocomplete(choices: &[String]) -> Value {
    let choices: Vec<Value> = choices
        .iter()
        .take(25)
        .map(|c| {
            let c = shorten(c, 100).0;
            json!({ "name": c, "value": c })
        })
        .collect();
    json!({ "type": 8, "data": { "choices": choices } })
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use medic_commands::TargetRef;
    use medic_commands::model::inbound::Actor;

    use super::*;

    fn report(name: &str, findings: Vec<Finding>) -> Report {
        Report::new(
            TargetRef {
                name: name.into(),
                kind: "redis".into(),
                location: "127.0.0.1:6379".into(),
            },
            findings,
            Duration::from_millis(12),
        )
    }

    fn one(r: Report) -> Diagnosis {
        Diagnosis::new(r.target.name.clone(), [r])
    }

    fn prov() -> Provenance {
        Provenance {
            command: "/diag redis".into(),
            actor: Some(Actor {
                id: "53908232506183680".into(),
                name: "mason".into(),
            }),
            reference: Some(42),
        }
    }

    /// Every limit Discord enforces, checked on the JSON as sent.
    fn assert_within_limits(m: &DiscordMessage) {
        let v = serde_json::to_value(m).unwrap();
        let len = |v: &Value| v.as_str().map_or(0, |s| s.chars().count());
        assert!(len(&v["content"]) <= MAX_CONTENT);
        let embeds = v["embeds"].as_array().unwrap();
        assert!(embeds.len() <= MAX_EMBEDS, "{} embeds", embeds.len());
        let mut total = 0;
        for e in embeds {
            assert!(len(&e["title"]) <= MAX_TITLE);
            assert!(len(&e["description"]) <= MAX_DESCRIPTION);
            let fields = e["fields"].as_array().cloned().unwrap_or_default();
            assert!(fields.len() <= MAX_FIELDS);
            for f in &fields {
                assert!(len(&f["name"]) <= MAX_FIELD_NAME);
                assert!(len(&f["value"]) <= MAX_FIELD_VALUE);
                total += len(&f["name"]) + len(&f["value"]);
            }
            total += len(&e["title"]) + len(&e["description"]) + len(&e["footer"]["text"]);
        }
        assert!(total <= MAX_EMBED_TOTAL, "{total} characters of embeds");
    }

    #[test]
    fn root_leads_with_status_counts_and_headline() {
        let d = one(report(
            "redis",
            vec![
                Finding::critical("r", "Connection refused by 127.0.0.1:6399 after 0 ms"),
                Finding::ok("x", "fine"),
            ],
        ));
        let m = diagnosis_root(&d, &prov());
        let e = &m.embeds[0];
        assert_eq!(
            e.title.as_deref(),
            Some("🔴 redis (127.0.0.1:6379) — critical")
        );
        assert_eq!(
            e.description.as_deref(),
            Some("1 problem, 1 check ok · 12 ms\nConnection refused by 127.0.0.1:6399 after 0 ms")
        );
        assert_eq!(e.color, Some(color(Status::Critical)));
        assert_eq!(
            e.footer.as_ref().unwrap().text,
            "/diag redis by mason · details in thread · #42"
        );
        assert_eq!(
            serde_json::to_value(&m).unwrap()["allowed_mentions"],
            json!({"parse": []})
        );
    }

    #[test]
    fn thread_puts_problems_first_and_groups_healthy_checks() {
        let d = one(report(
            "redis",
            vec![
                Finding::ok("a", "PING answered in 0.20 ms"),
                Finding::warn("b", "Redis restarted 3 min ago").with_detail("why"),
                Finding::ok("c", "Clients 1/10000"),
            ],
        ));
        let msgs = diagnosis_thread(&d, &prov());
        assert_eq!(msgs.len(), 1);
        let e = &msgs[0].embeds;
        assert_eq!(e[0].title.as_deref(), Some("🟠 Redis restarted 3 min ago"));
        assert_eq!(e[0].description.as_deref(), Some("why"));
        assert_eq!(
            e[1].description.as_deref(),
            Some("🟢 PING answered in 0.20 ms\n🟢 Clients 1/10000")
        );
        assert_eq!(
            e[1].footer.as_ref().unwrap().text,
            "/diag redis by mason · 12 ms · #42"
        );
    }

    #[test]
    fn huge_evidence_is_shortened_with_a_note_never_rejected() {
        let d = one(report(
            "redis",
            vec![
                Finding::critical("e", "boom".repeat(200))
                    .with_evidence("x".repeat(50_000))
                    .with_detail("d".repeat(9000)),
            ],
        ));
        let msgs = diagnosis_thread(&d, &prov());
        for m in &msgs {
            assert_within_limits(m);
        }
        let text = msgs[0].all_text();
        assert!(text.contains("shortened"), "{text}");
        assert!(text.contains("```\nxxx"));
    }

    #[test]
    fn many_findings_spill_into_more_messages_within_every_limit() {
        let findings = (0..60)
            .map(|i| {
                Finding::warn(format!("c{i}"), format!("problem {i}"))
                    .with_evidence("e".repeat(900))
            })
            .collect();
        let msgs = diagnosis_thread(&one(report("redis", findings)), &prov());
        assert!(msgs.len() >= 6, "{} messages", msgs.len());
        for m in &msgs {
            assert_within_limits(m);
        }
        let problems: usize = msgs
            .iter()
            .flat_map(|m| &m.embeds)
            .filter(|e| e.title.as_deref().is_some_and(|t| t.contains("problem")))
            .count();
        assert_eq!(problems, 60, "nothing is dropped");
    }

    #[test]
    fn several_targets_are_headed_worst_first() {
        let d = Diagnosis::new(
            "all",
            vec![
                report("cache", vec![Finding::ok("a", "fine")]),
                report("db", vec![Finding::critical("b", "down")]),
            ],
        );
        let msgs = diagnosis_thread(&d, &prov());
        let titles: Vec<_> = msgs[0]
            .embeds
            .iter()
            .filter_map(|e| e.title.clone())
            .collect();
        assert!(titles[0].starts_with("🔴 db"), "{titles:?}");
        assert_eq!(
            diagnosis_root(&d, &prov()).embeds[0].title.as_deref(),
            Some("🔴 all — critical")
        );
        assert_eq!(thread_name(&d), "🔴 all — critical");
    }

    #[test]
    fn fit_cuts_content_fields_and_the_total() {
        let mut m = DiscordMessage {
            content: Some("c".repeat(5000)),
            embeds: (0..12)
                .map(|_| Embed {
                    title: Some("t".repeat(400)),
                    description: Some("d".repeat(5000)),
                    fields: (0..30)
                        .map(|_| EmbedField {
                            name: "n".repeat(300),
                            value: "v".repeat(2000),
                            inline: false,
                        })
                        .collect(),
                    ..Default::default()
                })
                .collect(),
            ..Default::default()
        };
        fit(&mut m);
        assert_within_limits(&m);
        assert!(m.content.unwrap().contains("shortened"));
    }

    #[test]
    fn code_fences_in_evidence_cannot_escape() {
        let d = one(report(
            "redis",
            vec![Finding::critical("e", "x").with_evidence("a```b")],
        ));
        let text = diagnosis_thread(&d, &prov())[0].all_text();
        assert!(!text.contains("a```b"), "{text}");
    }

    #[test]
    fn interaction_responses() {
        assert_eq!(pong(), json!({"type": 1}));
        assert_eq!(deferred(), json!({"type": 5}));
        let e = ephemeral("hi");
        assert_eq!(e["type"], 4);
        assert_eq!(e["data"]["flags"], 64);
        assert_eq!(e["data"]["content"], "hi");
        let many: Vec<String> = (0..40).map(|i| format!("t{i}")).collect();
        assert_eq!(
            autocomplete(&many)["data"]["choices"]
                .as_array()
                .unwrap()
                .len(),
            25
        );
    }
}

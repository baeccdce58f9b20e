//! Chat platforms, and the seam they share: [`Draw`], what every platform
//! draws, picked by [`draw`] from a [`Platform`]. Each platform is one
//! folder holding its wire types, verification, parsing, rendering and API
//! client; adding one is adding its folder, its [`Platform`] variant and
//! the arm in [`draw`] (and in the bot's sender), which the compiler names.

pub mod console;
pub mod discord;
pub mod slack;

use medic_commands::Diagnosis;
use medic_commands::actions::view::{OfferButton, StatusView};
use medic_commands::model::inbound::{Actor, Platform};
use medic_commands::model::incident::IncidentView;
use medic_commands::oncall::handoff::HandoffView;
use medic_commands::triage::Triage;
use serde::{Deserialize, Serialize};

/// One message in its platform's own JSON: Block Kit content on Slack, a
/// message body on Discord, text and numbered buttons on the console. What
/// the durable outbox stores and its sender posts.
pub type Wire = String;

/// The longest a platform's `Retry-After` is obeyed: a value past it (a
/// bug, a hostile proxy) would otherwise park a channel for years, or
/// overflow the clock it is added to.
pub const LONGEST_WAIT: std::time::Duration = std::time::Duration::from_secs(3600);

/// A `Retry-After` in seconds as a platform may send it (fractional, or
/// anything a header can hold): negative is now, past [`LONGEST_WAIT`] is
/// that, and what is not a number (NaN) is one second.
pub fn wait_of_secs(secs: f64) -> std::time::Duration {
    if secs.is_nan() {
        return std::time::Duration::from_secs(1);
    }
    std::time::Duration::from_secs_f64(secs.clamp(0.0, LONGEST_WAIT.as_secs_f64()))
}

/// The other incident of one event, as a correlation note names it.
#[derive(Debug, Clone, Copy)]
pub struct Correlated<'a> {
    /// Its number.
    pub id: i64,
    /// Its title.
    pub title: &'a str,
    /// The host both name.
    pub host: &'a str,
    /// Its channel.
    pub channel: &'a str,
    /// Its root message, once posted (Slack links the thread).
    pub root: Option<&'a str>,
    /// Other incidents of the same event that this note stands for
    /// besides the one it names: a storm on one host is one line in each
    /// thread, not one per pair.
    pub more: usize,
}

impl Correlated<'_> {
    /// The note's sentence; `name`, `title` and `host` as the platform
    /// writes them (a link, escaped text).
    pub fn sentence(&self, name: &str, title: &str, host: &str) -> String {
        match self.more {
            0 => format!(
                "🔗 Same event as {name} ({title}): both name {host} at the same time — one infrastructure event, not two bugs."
            ),
            n => format!(
                "🔗 Same event as {name} ({title}) and {n} other incident{s}: all name {host} at the same time — one infrastructure event, not {all} bugs.",
                s = if n == 1 { "" } else { "s" },
                all = n + 2
            ),
        }
    }
}

/// What every chat platform draws, each message as its own [`Wire`].
///
/// Object-safe, so that the bot can hold "the platform of this incident"
/// as a value ([`draw`]) and render into the outbox without knowing which.
pub trait Draw: Sync {
    /// A diagnosis's root message: status and one-line summary.
    fn diagnosis_root(&self, diagnosis: &Diagnosis, prov: &Provenance) -> Wire;
    /// A diagnosis's details, as the messages of its thread.
    fn diagnosis_thread(&self, diagnosis: &Diagnosis, prov: &Provenance) -> Vec<Wire>;
    /// The name of a diagnosis's thread, on platforms that name threads.
    fn diagnosis_thread_name(&self, diagnosis: &Diagnosis) -> Option<String>;
    /// An incident's root message as the incident stands.
    fn incident_root(&self, view: &IncidentView) -> Wire;
    /// A short note in an incident's thread. `text` is shown as written:
    /// alert text in it (a title, a PagerDuty note) can mention nobody.
    fn incident_note(&self, text: &str) -> Wire;
    /// A note saying what `by` did (`Acknowledged by @alice`): `text` as
    /// in [`Draw::incident_note`], then a real mention of the person.
    fn incident_note_by(&self, text: &str, by: &Actor) -> Wire;
    /// The most characters one note holds whole.
    fn note_max(&self) -> usize;
    /// A note of any length (a postmortem draft), as as many notes as it
    /// takes, cut between lines.
    fn long_note(&self, text: &str) -> Vec<Wire> {
        split_lines(text, self.note_max())
            .iter()
            .map(|part| self.incident_note(part))
            .collect()
    }
    /// One root for many new incidents of a storm.
    fn incident_digest(&self, views: &[IncidentView]) -> Wire;
    /// The most incidents one digest lists.
    fn digest_max(&self) -> usize;
    /// `note`, a message of this platform, headed by its incident, for the
    /// digest's shared thread. `None` when `note` is not this platform's.
    fn digest_note(&self, view: &IncidentView, note: &str) -> Option<Wire>;
    /// The "Likely cause" message that leads a runbook's thread.
    fn likely_cause(&self, triage: &Triage) -> Wire;
    /// The note naming the other incident of the same event.
    fn correlation(&self, other: Correlated<'_>) -> Wire;
    /// The buttons of the actions offered for `label` (a target, a vendor's
    /// incident), valid for `expires` ("in 15 min").
    fn offers(&self, label: &str, buttons: &[OfferButton], expires: &str) -> Wire;
    /// A remediation request's status message.
    fn status(&self, view: &StatusView) -> Wire;
    /// A handoff digest, with its "I've got it" button while nobody has
    /// taken it.
    fn handoff(&self, view: &HandoffView) -> Wire;
    /// The lines a digest left out, for its thread; `None` when all fit.
    fn handoff_overflow(&self, view: &HandoffView) -> Option<Wire>;
    /// A note that notifies the people it mentions (and only them): a
    /// handoff's reminder.
    fn reminder(&self, text: &str) -> Wire;
    /// A link to a thread whose root is `root` in `channel`, on platforms
    /// whose thread addresses medic can write.
    fn thread_link(&self, channel: &str, root: &str) -> Option<String>;
}

/// A diagnosis's thread: its likely cause first ([`Draw::likely_cause`], the
/// message that leads an incident's thread too), when triage found one, then
/// `details`.
pub(crate) fn cause_first(
    draw: &dyn Draw,
    diagnosis: &Diagnosis,
    details: impl IntoIterator<Item = Wire>,
) -> Vec<Wire> {
    let cause = diagnosis
        .cause
        .as_ref()
        .map(|c| draw.likely_cause(&Triage::Likely(c.clone())));
    cause.into_iter().chain(details).collect()
}

/// How `platform` draws.
pub fn draw(platform: Platform) -> &'static dyn Draw {
    match platform {
        Platform::Slack => &slack::draw::Slack,
        Platform::Discord => &discord::draw::Discord,
        Platform::Console => &console::draw::Console,
    }
}

/// `m` as [`Wire`]. The message types are plain serde structs, so this
/// cannot fail in practice; an empty object is what a failure would send.
pub fn wire<T: Serialize>(m: &T) -> Wire {
    serde_json::to_string(m).unwrap_or_else(|_| "{}".to_string())
}

/// Who asked for a report and how to find it again: the context line under
/// every report ("/diag redis by @alice · 1.4 s · #1187").
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Provenance {
    /// The command as typed, e.g. `/diag redis`.
    pub command: String,
    /// Who asked; `None` for local runs and scheduled ones.
    pub actor: Option<Actor>,
    /// The run's record number in medic's database, when it has one.
    pub reference: Option<i64>,
}

/// `text` in parts of at most `max` characters, cut at line ends (a line
/// longer than `max` is shortened on its own).
pub fn split_lines(text: &str, max: usize) -> Vec<String> {
    let mut parts = Vec::new();
    let mut part = String::new();
    let mut len = 0;
    for line in text.lines() {
        let line = shorten(line, max).0;
        let n = line.chars().count();
        if len > 0 && len + 1 + n > max {
            parts.push(std::mem::take(&mut part));
            len = 0;
        }
        if len > 0 {
            part.push('\n');
            len += 1;
        }
        part.push_str(&line);
        len += n;
    }
    if !part.is_empty() || parts.is_empty() {
        parts.push(part);
    }
    parts
}

/// Shortens `text` to at most `max` characters (not bytes: platforms count
/// characters), ending with `…` when cut. Cuts at a line end when one is
/// close, so evidence stays readable.
pub fn shorten(text: &str, max: usize) -> (String, bool) {
    if text.chars().count() <= max {
        return (text.to_string(), false);
    }
    let keep = max.saturating_sub(1);
    let cut: String = text.chars().take(keep).collect();
    let cut = match cut.rfind('\n') {
        Some(i) if i > cut.len() * 3 / 4 => cut[..i].to_string(),
        _ => cut,
    };
    (format!("{cut}…"), true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_retry_after_of_any_value_is_a_bounded_wait() {
        use std::time::Duration;
        assert_eq!(wait_of_secs(1.5), Duration::from_millis(1500));
        assert_eq!(wait_of_secs(f64::NAN), Duration::from_secs(1));
        assert_eq!(wait_of_secs(-3.0), Duration::ZERO);
        assert_eq!(wait_of_secs(f64::INFINITY), LONGEST_WAIT);
        assert_eq!(wait_of_secs(1e300), LONGEST_WAIT);
        // Added to now, the longest wait is a time, not an overflow.
        assert!(
            std::time::Instant::now()
                .checked_add(LONGEST_WAIT)
                .is_some()
        );
    }

    #[test]
    fn a_diagnosis_with_a_likely_cause_leads_with_it_on_every_platform() {
        use medic_commands::triage::{Category, Confidence, LikelyCause};
        use medic_commands::{Finding, Report, TargetRef};
        let report = Report::new(
            TargetRef {
                name: "host".into(),
                kind: "host".into(),
                location: "this machine".into(),
            },
            vec![Finding::warn("host.apt", "openssl upgraded 5 min ago")],
            std::time::Duration::from_millis(40),
        );
        let mut d = Diagnosis::new("host", vec![report]);
        let prov = Provenance {
            command: "/diag host".into(),
            actor: None,
            reference: Some(1),
        };
        for p in [Platform::Slack, Platform::Discord, Platform::Console] {
            let plain = draw(p).diagnosis_thread(&d, &prov);
            assert!(plain.iter().all(|m| !m.contains("Likely cause")), "{p:?}");
        }
        d.cause = Some(LikelyCause {
            cause: "openssl upgraded on host, 2 min before the PostgreSQL restart".into(),
            category: Some(Category::Infrastructure),
            rule: None,
            evidence: vec!["Upgrade: openssl:amd64 (1, 2)".into()],
            confidence: Confidence::Medium,
            why: "closest change".into(),
            self_healing: true,
            next_check: "journalctl".into(),
            actions: vec![],
        });
        for p in [Platform::Slack, Platform::Discord, Platform::Console] {
            let draw = draw(p);
            let root = draw.diagnosis_root(&d, &prov);
            assert!(
                root.contains("Likely cause: openssl upgraded on host"),
                "{p:?}: {root}"
            );
            let thread = draw.diagnosis_thread(&d, &prov);
            assert!(thread.len() >= 2, "{p:?}");
            assert!(thread[0].contains("Likely cause"), "{p:?}: {}", thread[0]);
            assert!(thread[0].contains("Upgrade: openssl:amd64"), "{p:?}");
            assert!(!thread[1].contains("Likely cause"), "{p:?}");
        }
    }

    #[test]
    fn a_long_text_is_cut_between_lines_and_loses_nothing() {
        let text = (1..=30)
            .map(|i| format!("line {i:02}"))
            .collect::<Vec<_>>()
            .join("\n");
        let parts = split_lines(&text, 20);
        assert!(parts.iter().all(|p| p.chars().count() <= 20), "{parts:?}");
        assert_eq!(parts.join("\n"), text);
        assert_eq!(parts[0], "line 01\nline 02");
        assert_eq!(split_lines("short", 20), ["short"]);
    }

    #[test]
    fn shorten_counts_characters_not_bytes() {
        let text = "🔴".repeat(10);
        assert_eq!(shorten(&text, 10), (text.clone(), false));
        let (cut, was_cut) = shorten(&text, 5);
        assert!(was_cut);
        assert_eq!(cut.chars().count(), 5);
        assert!(cut.ends_with('…'));
    }

    #[test]
    fn shorten_prefers_a_line_end() {
        let text = format!("{}\n{}", "a".repeat(90), "b".repeat(50));
        let (cut, _) = shorten(&text, 100);
        assert_eq!(cut, format!("{}…", "a".repeat(90)));
    }
}

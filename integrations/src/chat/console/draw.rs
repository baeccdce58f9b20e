//! The console's side of the seam ([`crate::chat::Draw`]): plain text and
//! buttons that the person presses by number (`click 2`, `approve 3`).
//!
//! The text is the same as in chat, without colour: a console message is
//! stored in the outbox like any other and printed when it is sent.

use medic_commands::Diagnosis;
use medic_commands::actions::view::{OfferButton, StatusView};
use medic_commands::model::alert::Severity;
use medic_commands::model::inbound::{Actor, ClickVerb, Platform};
use medic_commands::model::incident::{IncidentState, IncidentView};
use medic_commands::oncall::handoff::HandoffView;
use medic_commands::triage::Triage;
use serde::{Deserialize, Serialize};

use super::render::{self, Style};
use crate::chat::{Correlated, Draw, Provenance, Wire, cause_first, shorten, wire};

/// Lines a handoff part shows before "and N more".
const HANDOFF_LINES: usize = 10;

/// A console message: its lines, and the buttons under them.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConsoleMessage {
    /// What it says.
    pub text: String,
    /// Its buttons, in order; the console numbers them as it prints.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub buttons: Vec<ConsoleButton>,
}

/// A button: what pressing it asks, and the server-side id it carries.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConsoleButton {
    /// Its label.
    pub label: String,
    /// Request an offer, approve or deny a request.
    pub verb: ClickVerb,
    /// The offer's or request's opaque id.
    pub id: String,
}

fn text(text: impl Into<String>) -> Wire {
    wire(&ConsoleMessage {
        text: text.into(),
        buttons: Vec::new(),
    })
}

const PLAIN: Style = Style { color: false };

/// The most incidents one digest lists.
pub const DIGEST_MAX: usize = 40;

fn mark(v: &IncidentView) -> (&'static str, &'static str) {
    match v.state {
        IncidentState::Resolved => ("✅", "resolved"),
        IncidentState::Open => match v.severity {
            Severity::Critical => ("🔴", "critical"),
            Severity::Error => ("🔴", "error"),
            Severity::Warning => ("🟠", "warning"),
            Severity::Info => ("⚪", "info"),
        },
    }
}

fn hms(t: time::OffsetDateTime) -> String {
    format!("{:02}:{:02}:{:02}", t.hour(), t.minute(), t.second())
}

/// The console draws text.
#[derive(Debug, Clone, Copy)]
pub struct Console;

impl Draw for Console {
    fn diagnosis_root(&self, diagnosis: &Diagnosis, _prov: &Provenance) -> Wire {
        match diagnosis.single() {
            Some(report) => text(render::root_with(report, PLAIN, &diagnosis.headline())),
            None => text(format!(
                "{} {} — {} · {}\n{}",
                diagnosis.status().symbol(),
                diagnosis.label,
                diagnosis.status().word(),
                diagnosis.counts(),
                diagnosis.headline()
            )),
        }
    }
    fn diagnosis_thread(&self, diagnosis: &Diagnosis, prov: &Provenance) -> Vec<Wire> {
        let several = diagnosis.single().is_none();
        let details = diagnosis.worst_first().into_iter().map(|report| {
            let details = render::details(report, Some(prov), PLAIN, "");
            if several {
                text(format!("{}\n{details}", render::root(report, PLAIN)))
            } else {
                text(details)
            }
        });
        cause_first(self, diagnosis, details)
    }
    fn diagnosis_thread_name(&self, _diagnosis: &Diagnosis) -> Option<String> {
        None
    }
    fn incident_root(&self, v: &IncidentView) -> Wire {
        let (symbol, status) = mark(v);
        let place = match (&v.service, &v.host) {
            (Some(s), Some(h)) => format!(" — {s} ({h})"),
            (Some(s), None) => format!(" — {s}"),
            (None, Some(h)) => format!(" — {h}"),
            (None, None) => String::new(),
        };
        let mut second = format!(
            "seen {}× · first {} · last {} UTC",
            v.seen_count,
            hms(v.first_seen),
            hms(v.last_seen)
        );
        if let Some(at) = v.resolved_at {
            second.push_str(&format!(
                " · resolved {} UTC after {}",
                hms(at),
                v.lasted().unwrap_or_default()
            ));
        }
        if let Some(by) = &v.acked_by {
            second.push_str(&format!(" · acknowledged by @{}", by.name));
        }
        let mut about = format!("incident #{} · {}", v.id, v.source.as_str());
        if let Some(l) = v.level_line() {
            about.push_str(&format!(" · {l}"));
        }
        wire(&ConsoleMessage {
            text: format!(
                "{symbol} {}{}{place} · {status}\n{second}\n{about}",
                v.level_prefix(),
                shorten(&v.title, 300).0,
            ),
            buttons: v
                .responses()
                .into_iter()
                .map(|(label, verb)| ConsoleButton {
                    label: label.to_string(),
                    verb,
                    id: v.id.to_string(),
                })
                .collect(),
        })
    }
    fn note_max(&self) -> usize {
        usize::MAX
    }
    fn incident_note(&self, note: &str) -> Wire {
        text(note)
    }
    fn incident_note_by(&self, note: &str, by: &Actor) -> Wire {
        text(format!("{note} by {}", by.mention(Platform::Console)))
    }
    fn incident_digest(&self, views: &[IncidentView]) -> Wire {
        let mut lines = vec![format!("🌩 {} new incidents", views.len())];
        for v in views.iter().take(DIGEST_MAX) {
            let (symbol, status) = mark(v);
            lines.push(format!(
                "{symbol} #{} {}{} · {status}",
                v.id,
                v.level_prefix(),
                shorten(&v.title, 150).0
            ));
        }
        text(lines.join("\n"))
    }
    fn digest_max(&self) -> usize {
        DIGEST_MAX
    }
    fn digest_note(&self, v: &IncidentView, note: &str) -> Option<Wire> {
        let mut note: ConsoleMessage = serde_json::from_str(note).ok()?;
        note.text = format!("#{} · {}\n{}", v.id, shorten(&v.title, 200).0, note.text);
        Some(wire(&note))
    }
    fn likely_cause(&self, t: &Triage) -> Wire {
        match t {
            Triage::NoLikelyCause { looked_at } => text(format!(
                "Likely cause: none found. Nothing medic knows explains this error, so it is not guessing.\nLooked at: {}.",
                looked_at.join("; ")
            )),
            Triage::Likely(c) => {
                let category = c
                    .category
                    .map(|k| format!(" ({})", k.word()))
                    .unwrap_or_default();
                let heals = if c.self_healing {
                    "Heals itself: clients reconnect; nothing to do unless it persists."
                } else {
                    "Does not heal itself."
                };
                let mut out = format!(
                    "🧭 Likely cause{category}: {}\nConfidence: {} — {}\n{heals}\nEvidence:",
                    c.cause,
                    c.confidence.word(),
                    c.why
                );
                for line in c.evidence.iter().take(8) {
                    out.push_str(&format!("\n  │ {}", shorten(line, 400).0));
                }
                out.push_str(&format!("\nNext: {}", c.next_check));
                text(out)
            }
        }
    }
    fn correlation(&self, other: Correlated<'_>) -> Wire {
        text(other.sentence(
            &format!("incident #{}", other.id),
            &shorten(other.title, 300).0,
            other.host,
        ))
    }
    fn offers(&self, label: &str, offered: &[OfferButton], expires: &str) -> Wire {
        wire(&ConsoleMessage {
            text: format!(
                "Remediations for {label} (buttons expire {expires}; each runs once, for people the policy allows)"
            ),
            buttons: offered
                .iter()
                .map(|b| ConsoleButton {
                    label: if b.approvals > 0 {
                        format!("{} (needs {} approval(s))", b.title, b.approvals)
                    } else {
                        b.title.clone()
                    },
                    verb: ClickVerb::Request,
                    id: b.offer_id.clone(),
                })
                .collect(),
        })
    }
    fn status(&self, view: &StatusView) -> Wire {
        let mut lines = vec![view.headline.replace('*', "")];
        lines.extend(
            view.lines
                .iter()
                .map(|l| l.replace("<@", "@").replace('>', "")),
        );
        if let Some(out) = &view.output {
            lines.extend(out.lines().map(|l| format!("  │ {l}")));
        }
        let buttons = if view.decision_buttons {
            [("Approve", ClickVerb::Approve), ("Deny", ClickVerb::Deny)]
                .into_iter()
                .map(|(label, verb)| ConsoleButton {
                    label: label.to_string(),
                    verb,
                    id: view.request_id.clone(),
                })
                .collect()
        } else {
            Vec::new()
        };
        wire(&ConsoleMessage {
            text: lines.join("\n"),
            buttons,
        })
    }
    fn handoff(&self, view: &HandoffView) -> Wire {
        let plain = |t: &str| t.replace('*', "");
        let link = |_url: &str, text: &str| text.to_string();
        let mut lines = vec![plain(&view.headline())];
        for part in view.parts(HANDOFF_LINES, &link) {
            lines.push(format!("  {}", part.heading));
            lines.extend(part.lines.iter().map(|l| format!("    {l}")));
            if part.more > 0 {
                lines.push(format!("    …and {} more in the thread", part.more));
            }
        }
        lines.push(plain(&view.footer()));
        let buttons = if view.open_for_taking() {
            vec![ConsoleButton {
                label: "I've got it".into(),
                verb: ClickVerb::Take,
                id: view.button.clone(),
            }]
        } else {
            Vec::new()
        };
        wire(&ConsoleMessage {
            text: lines.join("\n"),
            buttons,
        })
    }
    fn handoff_overflow(&self, view: &HandoffView) -> Option<Wire> {
        let lines = view.overflow(HANDOFF_LINES, &|_url, text| text.to_string());
        (!lines.is_empty()).then(|| text(lines.join("\n")))
    }
    fn reminder(&self, note: &str) -> Wire {
        text(note.replace('*', ""))
    }
    fn thread_link(&self, _channel: &str, _root: &str) -> Option<String> {
        None
    }
}

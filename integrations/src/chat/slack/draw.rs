//! Slack's side of the seam: Block Kit messages ([`crate::chat::Draw`]).

use medic_commands::Diagnosis;
use medic_commands::actions::view::{OfferButton, StatusView};
use medic_commands::model::inbound::Actor;
use medic_commands::model::incident::IncidentView;
use medic_commands::oncall::handoff::HandoffView;
use medic_commands::triage::Triage;
use slack_morphism::prelude::SlackMessageContent;

use super::{buttons, handoff, incident, render, triage};
use crate::chat::{Correlated, Draw, Provenance, Wire, cause_first, wire};

/// Slack draws Block Kit.
#[derive(Debug, Clone, Copy)]
pub struct Slack;

impl Draw for Slack {
    fn diagnosis_root(&self, diagnosis: &Diagnosis, prov: &Provenance) -> Wire {
        wire(&render::diagnosis_root(diagnosis, prov))
    }
    fn diagnosis_thread(&self, diagnosis: &Diagnosis, prov: &Provenance) -> Vec<Wire> {
        let details = render::diagnosis_thread(diagnosis, prov);
        cause_first(self, diagnosis, details.iter().map(wire))
    }
    fn diagnosis_thread_name(&self, _diagnosis: &Diagnosis) -> Option<String> {
        None
    }
    fn incident_root(&self, view: &IncidentView) -> Wire {
        wire(&incident::incident_root(view))
    }
    fn note_max(&self) -> usize {
        // Room for escaping (`&` → `&amp;`) within one section's 3,000.
        super::render::MAX_SECTION_TEXT - 400
    }
    fn incident_note(&self, text: &str) -> Wire {
        wire(&incident::incident_note(text))
    }
    fn incident_note_by(&self, text: &str, by: &Actor) -> Wire {
        wire(&incident::incident_note_by(text, &by.id))
    }
    fn incident_digest(&self, views: &[IncidentView]) -> Wire {
        wire(&incident::incident_digest(views))
    }
    fn digest_max(&self) -> usize {
        incident::DIGEST_MAX
    }
    fn digest_note(&self, view: &IncidentView, note: &str) -> Option<Wire> {
        let note: SlackMessageContent = serde_json::from_str(note).ok()?;
        Some(wire(&incident::digest_note(view, note)))
    }
    fn likely_cause(&self, t: &Triage) -> Wire {
        wire(&triage::likely_cause(t))
    }
    fn correlation(&self, other: Correlated<'_>) -> Wire {
        let link = triage::thread_link(other.channel, other.root);
        wire(&triage::correlation_note(&other, link.as_deref()))
    }
    fn offers(&self, label: &str, offered: &[OfferButton], expires: &str) -> Wire {
        wire(&buttons::offer_message(label, offered, expires))
    }
    fn status(&self, view: &StatusView) -> Wire {
        wire(&buttons::status_message(view))
    }
    fn handoff(&self, view: &HandoffView) -> Wire {
        wire(&handoff::handoff(view))
    }
    fn handoff_overflow(&self, view: &HandoffView) -> Option<Wire> {
        handoff::overflow(view).map(|m| wire(&m))
    }
    fn reminder(&self, text: &str) -> Wire {
        wire(&handoff::reminder(text))
    }
    fn thread_link(&self, channel: &str, root: &str) -> Option<String> {
        triage::thread_link(channel, Some(root))
    }
}

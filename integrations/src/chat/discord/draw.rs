//! Discord's side of the seam: message bodies with embeds and components
//! ([`crate::chat::Draw`]).

use medic_commands::Diagnosis;
use medic_commands::actions::view::{OfferButton, StatusView};
use medic_commands::model::inbound::{Actor, Platform};
use medic_commands::model::incident::IncidentView;
use medic_commands::oncall::handoff::HandoffView;
use medic_commands::triage::Triage;

use super::render::DiscordMessage;
use super::{components, digest, handoff, incident, render, triage};
use crate::chat::{Correlated, Draw, Provenance, Wire, cause_first, wire};

/// Discord draws message bodies.
#[derive(Debug, Clone, Copy)]
pub struct Discord;

impl Draw for Discord {
    fn diagnosis_root(&self, diagnosis: &Diagnosis, prov: &Provenance) -> Wire {
        wire(&render::diagnosis_root(diagnosis, prov))
    }
    fn diagnosis_thread(&self, diagnosis: &Diagnosis, prov: &Provenance) -> Vec<Wire> {
        let details = render::diagnosis_thread(diagnosis, prov);
        cause_first(self, diagnosis, details.iter().map(wire))
    }
    fn diagnosis_thread_name(&self, diagnosis: &Diagnosis) -> Option<String> {
        Some(render::thread_name(diagnosis))
    }
    fn incident_root(&self, view: &IncidentView) -> Wire {
        wire(&incident::incident_root(view))
    }
    fn note_max(&self) -> usize {
        super::render::MAX_CONTENT
    }
    fn incident_note(&self, text: &str) -> Wire {
        wire(&incident::incident_note(text))
    }
    fn incident_note_by(&self, text: &str, by: &Actor) -> Wire {
        wire(&incident::incident_note(&format!(
            "{text} by {}",
            by.mention(Platform::Discord)
        )))
    }
    fn incident_digest(&self, views: &[IncidentView]) -> Wire {
        wire(&digest::incident_digest(views))
    }
    fn digest_max(&self) -> usize {
        digest::DIGEST_MAX
    }
    fn digest_note(&self, view: &IncidentView, note: &str) -> Option<Wire> {
        let note: DiscordMessage = serde_json::from_str(note).ok()?;
        Some(wire(&digest::digest_note(view, note)))
    }
    fn likely_cause(&self, t: &Triage) -> Wire {
        wire(&triage::likely_cause(t))
    }
    fn correlation(&self, other: Correlated<'_>) -> Wire {
        // No link: a Discord thread's address needs the server's id.
        wire(&triage::correlation_note(&other))
    }
    fn offers(&self, label: &str, offered: &[OfferButton], expires: &str) -> Wire {
        wire(&components::offer_message(label, offered, expires))
    }
    fn status(&self, view: &StatusView) -> Wire {
        wire(&components::status_message(view))
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
    fn thread_link(&self, _channel: &str, _root: &str) -> Option<String> {
        // A Discord thread's address needs the server's id.
        None
    }
}

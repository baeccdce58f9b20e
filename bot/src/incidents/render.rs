//! Which platform an incident lives on, and its messages in that
//! platform's JSON, as stored in the outbox.

use medic_commands::Diagnosis;
use medic_commands::actions::view::OfferButton;
use medic_commands::model::incident::IncidentView;
use medic_commands::routing::Route;
use medic_commands::triage::Triage;
use medic_integrations::chat::Provenance;
use medic_integrations::chat::discord::components as discord_components;
use medic_integrations::chat::discord::incident as discord_incident;
use medic_integrations::chat::discord::render as discord_render;
use medic_integrations::chat::discord::triage as discord_triage;
use medic_integrations::chat::slack::buttons as slack_buttons;
use medic_integrations::chat::slack::incident as slack_incident;
use medic_integrations::chat::slack::render as slack_render;
use medic_integrations::chat::slack::triage as slack_triage;

/// The chat platforms this medic serves.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Platforms {
    /// `[slack]` is configured.
    pub slack: bool,
    /// `[discord]` is configured.
    pub discord: bool,
}

impl Platforms {
    /// Where a route's incidents go: its Slack channel when Slack is
    /// served, else its Discord channel when Discord is. One incident has
    /// one thread; a route naming both posts where the team's Slack is,
    /// and a medic serving only Discord uses the Discord channel of the
    /// same config.
    pub fn place<'r>(&self, route: &'r Route) -> Option<(&'static str, &'r str)> {
        route
            .slack_channel
            .as_deref()
            .filter(|_| self.slack)
            .map(|c| ("slack", c))
            .or_else(|| {
                route
                    .discord_channel
                    .as_deref()
                    .filter(|_| self.discord)
                    .map(|c| ("discord", c))
            })
    }
}

fn json<T: serde::Serialize>(m: &T) -> String {
    serde_json::to_string(m).unwrap_or_default()
}

/// An incident's root message.
pub fn root(platform: &str, view: &IncidentView) -> String {
    match platform {
        "discord" => json(&discord_incident::incident_root(view)),
        _ => json(&slack_incident::incident_root(view)),
    }
}

/// A note in an incident's thread.
pub fn note(platform: &str, text: &str) -> String {
    match platform {
        "discord" => json(&discord_incident::incident_note(text)),
        _ => json(&slack_incident::incident_note(text)),
    }
}

/// The "Likely cause" message that leads a runbook's thread.
pub fn likely_cause(platform: &str, triage: &Triage) -> String {
    match platform {
        "discord" => json(&discord_triage::likely_cause(triage)),
        _ => json(&slack_triage::likely_cause(triage)),
    }
}

/// The line in one incident's thread that names the other incident of the
/// same event; on Slack it links that incident's thread when its root is
/// posted (`channel`, `root_ts` are the other incident's).
pub fn correlation(
    platform: &str,
    other_id: i64,
    other_title: &str,
    host: &str,
    other_place: (&str, Option<&str>),
) -> String {
    match platform {
        "discord" => json(&discord_triage::correlation_note(
            other_id,
            other_title,
            host,
        )),
        _ => {
            let link = slack_triage::thread_link(other_place.0, other_place.1);
            json(&slack_triage::correlation_note(
                other_id,
                other_title,
                host,
                link.as_deref(),
            ))
        }
    }
}

/// The message ending an incident's thread with the buttons of the
/// actions offered for `label` (a target, or the vendor's incident);
/// `None` when nothing is offered.
pub fn offers(platform: &str, label: &str, buttons: &[OfferButton]) -> Option<String> {
    let expires = buttons.iter().map(|b| b.expires_in).min()?;
    let note = format!("in {}", medic_commands::format::human_duration(expires));
    Some(match platform {
        "discord" => json(&discord_components::offer_message(label, buttons, &note)),
        _ => json(&slack_buttons::offer_message(label, buttons, &note)),
    })
}

/// A runbook's report, as thread messages: its summary, then its details.
pub fn report(platform: &str, diagnosis: &Diagnosis, prov: &Provenance) -> Vec<String> {
    match platform {
        "discord" => {
            let mut out = vec![json(&discord_render::diagnosis_root(diagnosis, prov))];
            out.extend(
                discord_render::diagnosis_thread(diagnosis, prov)
                    .iter()
                    .map(json),
            );
            out
        }
        _ => {
            let mut out = vec![json(&slack_render::diagnosis_root(diagnosis, prov))];
            out.extend(
                slack_render::diagnosis_thread(diagnosis, prov)
                    .iter()
                    .map(json),
            );
            out
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn route(slack: Option<&str>, discord: Option<&str>) -> Route {
        let mut r: Route = serde_json::from_value(serde_json::json!({})).unwrap();
        r.slack_channel = slack.map(str::to_string);
        r.discord_channel = discord.map(str::to_string);
        r
    }

    #[test]
    fn slack_first_then_discord_when_served() {
        let both = route(Some("C1"), Some("123"));
        let all = Platforms {
            slack: true,
            discord: true,
        };
        assert_eq!(all.place(&both), Some(("slack", "C1")));
        let discord_only = Platforms {
            slack: false,
            discord: true,
        };
        assert_eq!(discord_only.place(&both), Some(("discord", "123")));
        assert_eq!(
            all.place(&route(None, Some("123"))),
            Some(("discord", "123"))
        );
        assert_eq!(Platforms::default().place(&both), None);
    }
}

//! Which platform an incident lives on, and the messages that are made of
//! several drawings ([`medic_integrations::chat::Draw`]).

use medic_commands::Diagnosis;
use medic_commands::actions::view::OfferButton;
use medic_commands::model::alert::Alert;
use medic_commands::model::inbound::Platform;
use medic_commands::routing::Route;
use medic_integrations::chat::{Provenance, Wire, draw};

/// The chat platforms this medic serves.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Platforms {
    /// `[slack]` is configured.
    pub slack: bool,
    /// `[discord]` is configured.
    pub discord: bool,
    /// `medic console`: every incident goes to the console's channel.
    pub console: bool,
}

impl Platforms {
    /// Where `alert`'s incident goes: the console's channel under `medic
    /// console`, the channel it was declared in when it was, else its
    /// route's ([`Platforms::place`]).
    pub fn place_for(&self, routes: &[Route], alert: &Alert) -> Option<(Platform, String)> {
        if self.console {
            return Some((Platform::Console, crate::chat::console::CHANNEL.to_string()));
        }
        if let Some(d) = alert.declaration() {
            let served = match d.platform {
                Platform::Slack => self.slack,
                Platform::Discord => self.discord,
                Platform::Console => self.console,
            };
            return served.then_some((d.platform, d.channel));
        }
        medic_commands::routing::route(routes, alert)
            .and_then(|r| self.place(r))
            .map(|(p, c)| (p, c.to_string()))
    }

    /// Where a route's incidents go: its Slack channel when Slack is
    /// served, else its Discord channel when Discord is. One incident has
    /// one thread; a route naming both posts where the team's Slack is,
    /// and a medic serving only Discord uses the Discord channel of the
    /// same config.
    pub fn place<'r>(&self, route: &'r Route) -> Option<(Platform, &'r str)> {
        route
            .slack_channel
            .as_deref()
            .filter(|_| self.slack)
            .map(|c| (Platform::Slack, c))
            .or_else(|| {
                route
                    .discord_channel
                    .as_deref()
                    .filter(|_| self.discord)
                    .map(|c| (Platform::Discord, c))
            })
    }
}

/// The message ending a thread with the buttons of the actions offered
/// for `label` (a target, or the vendor's incident); `None` when nothing
/// is offered.
pub fn offers(platform: Platform, label: &str, buttons: &[OfferButton]) -> Option<Wire> {
    let expires = buttons.iter().map(|b| b.expires_in).min()?;
    let note = format!("in {}", medic_commands::format::human_duration(expires));
    Some(draw(platform).offers(label, buttons, &note))
}

/// A report, as thread messages: its summary, then its details.
pub fn report(platform: Platform, diagnosis: &Diagnosis, prov: &Provenance) -> Vec<Wire> {
    let draw = draw(platform);
    let mut out = vec![draw.diagnosis_root(diagnosis, prov)];
    out.extend(draw.diagnosis_thread(diagnosis, prov));
    out
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
            console: false,
        };
        assert_eq!(all.place(&both), Some((Platform::Slack, "C1")));
        let discord_only = Platforms {
            slack: false,
            discord: true,
            console: false,
        };
        assert_eq!(discord_only.place(&both), Some((Platform::Discord, "123")));
        assert_eq!(
            all.place(&route(None, Some("123"))),
            Some((Platform::Discord, "123"))
        );
        assert_eq!(Platforms::default().place(&both), None);
    }
}

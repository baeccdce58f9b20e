//! Which Slack workspaces and Discord servers may use medic
//! (`[slack] teams`, `[discord] guilds`).
//!
//! A Slack app with public distribution, or a Discord bot anyone can
//! invite, receives correctly signed requests from every workspace or
//! server it was added to: the signature says the request comes from the
//! platform, not from *your* workspace. Without a list, anyone who adds
//! the app could run `/diag all` and read internal reports. So each
//! platform's runtime holds one [`Gate`], and every inbound kind (slash
//! commands, mentions, clicks, autocomplete; over HTTP, Socket Mode or
//! the gateway) asks it before anything is dispatched.
//!
//! A refusal is counted on every request (`medic_chat_refused_total`) but
//! logged at `warn` once per workspace or server: Discord sends an
//! autocomplete request per keystroke, and a stranger's server should not
//! be able to flood the log.

use std::collections::{BTreeSet, HashSet};
use std::sync::{Arc, Mutex};

use medic_commands::model::inbound::Platform;

use crate::telemetry::metrics::{Metrics, RequestKind};

/// How many refused workspaces or servers are remembered as already
/// logged; past that the memory starts over (and each is logged again
/// once), so strangers cannot grow it without bound.
const REMEMBERED: usize = 1024;

/// The allow-list of one platform.
#[derive(Debug)]
pub struct Gate {
    platform: Platform,
    /// `None`: every workspace or server (no list configured).
    allowed: Option<BTreeSet<String>>,
    logged: Mutex<HashSet<String>>,
    metrics: Arc<Metrics>,
}

impl Gate {
    /// A gate admitting `allowed`, or everyone when it is empty.
    pub fn new(platform: Platform, allowed: &[String], metrics: Arc<Metrics>) -> Gate {
        Gate {
            platform,
            allowed: (!allowed.is_empty()).then(|| allowed.iter().cloned().collect()),
            logged: Mutex::default(),
            metrics,
        }
    }

    /// What the person refused reads (privately): that medic is not
    /// enabled there, naming nothing about this medic.
    pub fn refusal(&self, from: Option<&str>) -> &'static str {
        match (self.platform, from) {
            (Platform::Slack, _) => {
                "medic is not enabled for this Slack workspace; nothing was run."
            }
            (Platform::Discord, None) => {
                "medic is not enabled in direct messages; nothing was run."
            }
            (Platform::Discord, Some(_)) => {
                "medic is not enabled for this server; nothing was run."
            }
            (Platform::Console, _) => "medic is not enabled here; nothing was run.",
        }
    }

    /// Whether a request of `kind` from workspace or server `from` may be
    /// dispatched. `from` is `None` when the request names none (a Discord
    /// DM): refused whenever a list is configured. A refusal is counted
    /// and logged here, so callers only answer it.
    pub fn admits(&self, from: Option<&str>, kind: RequestKind) -> bool {
        let Some(allowed) = &self.allowed else {
            return true;
        };
        if from.is_some_and(|id| allowed.contains(id)) {
            return true;
        }
        self.metrics.chat_refused(self.platform, kind);
        let key = from.unwrap_or_default();
        let first = {
            let mut logged = self.logged.lock().unwrap_or_else(|e| e.into_inner());
            if logged.len() >= REMEMBERED {
                logged.clear();
            }
            logged.insert(key.to_string())
        };
        let (setting, place) = match self.platform {
            Platform::Slack => ("slack.teams", "Slack workspace"),
            Platform::Discord => ("discord.guilds", "Discord server"),
            Platform::Console => ("", "console"),
        };
        if first {
            match from {
                Some(id) => tracing::warn!(
                    platform = self.platform.as_str(),
                    from = id,
                    kind = kind.as_str(),
                    "Refused a request from a {place} not in {setting}; further ones from it are only counted (medic_chat_refused_total)."
                ),
                None => tracing::warn!(
                    platform = self.platform.as_str(),
                    kind = kind.as_str(),
                    "Refused a request from outside any {place} (a direct message) because {setting} is set; further ones are only counted (medic_chat_refused_total)."
                ),
            }
        } else {
            tracing::debug!(
                platform = self.platform.as_str(),
                from = key,
                kind = kind.as_str(),
                "Refused a request from outside {setting}."
            );
        }
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_empty_list_admits_everyone_and_a_list_only_its_members() {
        let metrics = Arc::new(Metrics::new());
        let open = Gate::new(Platform::Slack, &[], metrics.clone());
        assert!(open.admits(Some("T999"), RequestKind::Command));
        assert!(open.admits(None, RequestKind::Command));

        let gate = Gate::new(Platform::Discord, &["123".into()], metrics.clone());
        assert!(gate.admits(Some("123"), RequestKind::Command));
        assert!(!gate.admits(Some("456"), RequestKind::Autocomplete));
        assert!(!gate.admits(Some("456"), RequestKind::Autocomplete));
        assert!(!gate.admits(None, RequestKind::Click), "a DM");
        assert!(!gate.admits(Some(""), RequestKind::Click));
        let text = metrics.encode();
        assert!(
            text.contains(r#"medic_chat_refused_total{platform="discord",kind="autocomplete"} 2"#),
            "{text}"
        );
        assert!(
            text.contains(r#"medic_chat_refused_total{platform="discord",kind="click"} 2"#),
            "{text}"
        );
    }
}

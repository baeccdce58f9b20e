//! Commands whose report is on its way, by platform, channel and target:
//! five people typing `/diag redis` in one channel get one report, not
//! five ([`crate::dispatch`] looks here first).

use std::collections::HashMap;

use medic_commands::model::inbound::Platform;

/// Diagnostics running now, by (platform, channel, target), with their run
/// number: what coalesces duplicate commands.
pub type InFlight = std::sync::Mutex<HashMap<RunningKey, i64>>;

/// A diagnostic in flight: the key of [`InFlight`].
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct RunningKey {
    platform: Platform,
    channel: String,
    target: String,
}

impl RunningKey {
    /// The key of `target` run from `platform`'s `channel`.
    pub fn new(platform: Platform, channel: &str, target: &str) -> Self {
        RunningKey {
            platform,
            channel: channel.to_string(),
            target: target.to_string(),
        }
    }

    /// Its key in Redis ([`crate::cluster`]), where replicas share what
    /// runs. Each part's length is written, so no two keys alias.
    pub fn redis_key(&self) -> String {
        format!(
            "medic:running:{}:{}:{}:{}:{}",
            self.platform.as_str(),
            self.channel.len(),
            self.channel,
            self.target.len(),
            self.target
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_running_diagnostic_is_found_by_platform_channel_and_target_alone() {
        let key = RunningKey::new;
        let mut in_flight: HashMap<RunningKey, i64> = HashMap::new();
        in_flight.insert(key(Platform::Slack, "C1", "redis"), 7);
        let find = |k| in_flight.get(&k).copied();
        assert_eq!(find(key(Platform::Slack, "C1", "redis")), Some(7));
        assert_eq!(find(key(Platform::Discord, "C1", "redis")), None);
        assert_eq!(find(key(Platform::Slack, "C2", "redis")), None);
        assert_eq!(find(key(Platform::Slack, "C1", "postgres")), None);
        // The parts are compared as parts: no concatenation aliases them,
        // in memory or in Redis.
        assert_eq!(find(key(Platform::Slack, "C1r", "edis")), None);
        assert_ne!(
            key(Platform::Slack, "C1:5", "redis").redis_key(),
            key(Platform::Slack, "C1", "5:redis").redis_key()
        );
    }
}

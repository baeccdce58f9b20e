//! `[retention]`: how long medic keeps what is over before the sweep
//! deletes it ([`crate::storage::retention`]). The audit log is not
//! swept: it has no key here.

use std::time::Duration;

use serde::Deserialize;

use crate::storage::retention::Swept;

const DAY: Duration = Duration::from_secs(24 * 3600);

/// How long each kind of row is kept once it is over.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(default)]
pub struct RetentionSettings {
    /// Alert deliveries applied or parked: a week. Vendors retry within
    /// hours (Sentry and PagerDuty) and Alertmanager repeats an unchanged
    /// notification every `repeat_interval` (4 h by default), so
    /// redelivery dedup loses nothing.
    #[serde(deserialize_with = "medic_commands::duration::deserialize")]
    pub deliveries: Duration,
    /// Chat messages sent, failed or digested: a week (the platform has
    /// them; medic needs a row only while edits may follow).
    #[serde(deserialize_with = "medic_commands::duration::deserialize")]
    pub outbox: Duration,
    /// Commands and their reports: 30 days (`#42` under a report finds
    /// its record for a month).
    #[serde(deserialize_with = "medic_commands::duration::deserialize")]
    pub command_runs: Duration,
    /// Resolved incidents with their timelines and jobs, and handoff
    /// digests: 180 days, long enough for a quarter's reviews.
    #[serde(deserialize_with = "medic_commands::duration::deserialize")]
    pub incidents: Duration,
    /// Finished remediation requests and their approvals: 180 days (the
    /// audit log keeps who ran what for good).
    #[serde(deserialize_with = "medic_commands::duration::deserialize")]
    pub requests: Duration,
}

impl Default for RetentionSettings {
    fn default() -> Self {
        RetentionSettings {
            deliveries: 7 * DAY,
            outbox: 7 * DAY,
            command_runs: 30 * DAY,
            incidents: 180 * DAY,
            requests: 180 * DAY,
        }
    }
}

impl RetentionSettings {
    /// How long rows of `what` are kept.
    pub fn keep(&self, what: Swept) -> Duration {
        match what {
            Swept::Deliveries => self.deliveries,
            Swept::Outbox => self.outbox,
            Swept::CommandRuns => self.command_runs,
            Swept::Incidents => self.incidents,
            Swept::Requests => self.requests,
        }
    }

    /// The shortest each may be, and why: deliveries must outlive the
    /// vendors' retries, the rest an hour (a shorter one would delete a
    /// thread's rows while people still look at it).
    pub fn shortest(what: Swept) -> (Duration, &'static str) {
        match what {
            Swept::Deliveries => (
                DAY,
                "must be at least 1d: a vendor's retry of a forgotten delivery would open its incident again",
            ),
            Swept::Outbox | Swept::CommandRuns | Swept::Incidents | Swept::Requests => {
                (Duration::from_secs(3600), "must be at least 1h")
            }
        }
    }
}

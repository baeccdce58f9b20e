//! On call: the handoff digest at a handover (on a clock the test moves,
//! never by sleeping to it), "I've got it" and its reminders, `/oncall`,
//! policies bound to the live rotation, and exactly one digest across a
//! SIGKILL at the handover minute.

mod crash;
mod discord;
mod pagerduty;
mod policy;
mod slack;

use std::time::Duration;

use jiff::{Timestamp, ToSpan};

/// A generous bound that only catches a hang.
pub const LIMIT: Duration = Duration::from_secs(30);
/// Where rotation `db` posts its handoffs on Slack.
pub const ONCALL: &str = "C0ONCALL";

/// A daily rotation `db` of alice then bob, in UTC, whose next handover
/// (alice → bob) is `handover`: a minute boundary between 30 and 90
/// seconds from now. Real time, so that what the test does now (alerts,
/// actions) falls in alice's shift; the test then moves medic's clock
/// past the handover.
pub struct Rotation {
    /// The handover instant.
    pub handover: Timestamp,
}

impl Rotation {
    /// The next one.
    pub fn next() -> Rotation {
        let soon = Timestamp::now() + 90.seconds();
        let handover = Timestamp::from_second(soon.as_second() - soon.as_second().rem_euclid(60))
            .expect("a time");
        Rotation { handover }
    }

    /// A rotation whose handover (alice → bob) was `ago` seconds ago, at
    /// the start of a minute no later than that.
    pub fn past(ago: i64) -> Rotation {
        let then = Timestamp::now() - ago.seconds();
        let handover = Timestamp::from_second(then.as_second() - then.as_second().rem_euclid(60))
            .expect("a time");
        Rotation { handover }
    }

    /// `[oncall]` for it; `channels` are the rotation's channel keys
    /// (`slack_channel = "C…"`).
    pub fn config(&self, channels: &str) -> String {
        let utc = self.handover.to_zoned(jiff::tz::TimeZone::UTC);
        // Turn 0 (alice) starts the day before the handover, turn 1 (bob) at it.
        let start = utc.date().yesterday().expect("a date");
        format!(
            "[oncall.people.alice]\nslack = \"U0ALICE\"\ndiscord = \"{ALICE_DISCORD}\"\n\
             [oncall.people.bob]\nslack = \"U0BOB\"\ndiscord = \"{BOB_DISCORD}\"\n\
             [[oncall.rotations]]\nname = \"db\"\nmembers = [\"alice\", \"bob\"]\nlength = \"daily\"\n\
             handover = \"{}\"\ntime_zone = \"UTC\"\nstart = \"{start}\"\nack_within = \"15m\"\n{channels}\n",
            utc.strftime("%H:%M"),
        )
    }
}

/// alice's Discord id.
pub const ALICE_DISCORD: &str = "1300000000000000001";
/// bob's Discord id.
pub const BOB_DISCORD: &str = "1300000000000000002";

//! Who has the pager: people, rotations and their arithmetic, and the
//! answer to `/oncall` — pure code over config and a clock, so chat, the
//! command line and the policy that guards buttons all agree.
//!
//! - [`rotation`]: turns, overrides, DST; who holds the pager at an instant.
//! - [`handoff`]: the handoff digest as data, and its lines.
//! - [`pagerduty`]: who is on call in a PagerDuty schedule (REST `GET
//!   /oncalls`).
//!
//! A person is a name in `[oncall.people]` with their chat ids; rotations
//! name people, never raw ids, so one person is the same on Slack, Discord
//! and the console (where the name is the id typed with `--as`).

pub mod handoff;
pub mod pagerduty;
pub mod rotation;

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use jiff::Timestamp;

use crate::model::inbound::Platform;
pub use rotation::{Handover, Length, Listed, Override, Rotating, Schedule, Shift, Turns};

/// Someone who can hold the pager.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Person {
    /// The name rotations use (`[oncall.people.NAME]`).
    pub name: String,
    /// Their Slack user id (`U0123ABCD`).
    pub slack: Option<String>,
    /// Their Discord user id (a snowflake).
    pub discord: Option<String>,
    /// Their email, as PagerDuty knows them.
    pub email: Option<String>,
    /// Their PagerDuty user id (`PXPGF42`), when their email there differs.
    pub pagerduty: Option<String>,
}

impl Person {
    /// Their id on `platform`; on the console, their name.
    pub fn id_on(&self, platform: Platform) -> Option<&str> {
        match platform {
            Platform::Slack => self.slack.as_deref(),
            Platform::Discord => self.discord.as_deref(),
            Platform::Console => Some(&self.name),
        }
    }

    /// Every id that is this person, on any platform.
    pub fn ids(&self) -> impl Iterator<Item = &str> {
        [
            self.slack.as_deref(),
            self.discord.as_deref(),
            Some(&*self.name),
        ]
        .into_iter()
        .flatten()
    }

    /// How a message on `platform` names them: a mention where the
    /// platform has one for this person, else `@name`.
    pub fn mention(&self, platform: Platform) -> String {
        match (platform, self.id_on(platform)) {
            (Platform::Slack | Platform::Discord, Some(id)) => format!("<@{id}>"),
            (Platform::Slack | Platform::Discord, None) | (Platform::Console, _) => {
                format!("@{}", self.name)
            }
        }
    }
}

/// One `[[oncall.rotations]]`.
#[derive(Debug, Clone)]
pub struct Rotation {
    /// Its name (`db`), as in `oncall:db` and `/oncall db`.
    pub name: String,
    /// Its turns.
    pub schedule: Schedule,
    /// The PagerDuty schedule its turns are read from, when they are.
    pub pagerduty_schedule: Option<String>,
    /// The Slack user group (`S0…`) kept to whoever holds its pager.
    pub usergroup: Option<String>,
    /// The Slack channel its handoffs go to.
    pub slack_channel: Option<String>,
    /// The Discord channel its handoffs go to.
    pub discord_channel: Option<String>,
    /// How long the incoming person has to press "I've got it" before medic
    /// reminds them.
    pub ack_within: Duration,
}

/// `[oncall]`: the people and the rotations.
#[derive(Debug, Clone, Default)]
pub struct OnCall {
    /// `[oncall.people.NAME]`.
    pub people: BTreeMap<String, Person>,
    /// `[[oncall.rotations]]` by name.
    pub rotations: BTreeMap<String, Rotation>,
}

/// The answer for one rotation at one instant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Now {
    /// The rotation's name.
    pub rotation: String,
    /// Who holds the pager, if anyone.
    pub now: Option<Shift>,
    /// Who is next.
    pub next: Option<Shift>,
}

impl OnCall {
    /// A person by name; a name with no `[oncall.people]` entry is a person
    /// known only by that name (check-config warns about it).
    pub fn person(&self, name: &str) -> Person {
        self.people.get(name).cloned().unwrap_or_else(|| Person {
            name: name.to_string(),
            ..Person::default()
        })
    }

    /// Who is on call in each rotation at `at`: rotation name → the ids
    /// (on every platform) of whoever holds its pager.
    pub fn holders_at(&self, at: Timestamp) -> BTreeMap<String, BTreeSet<String>> {
        self.rotations
            .values()
            .map(|r| {
                let ids = r
                    .schedule
                    .shift_at(at)
                    .map(|s| self.person(&s.who).ids().map(str::to_string).collect())
                    .unwrap_or_default();
                (r.name.clone(), ids)
            })
            .collect()
    }

    /// Now and next for `rotation`, or every rotation when `None`.
    /// `Err` names the rotations there are when `rotation` is unknown.
    pub fn now(&self, rotation: Option<&str>, at: Timestamp) -> Result<Vec<Now>, String> {
        let chosen: Vec<&Rotation> = match rotation {
            None => self.rotations.values().collect(),
            Some(name) => match self.rotations.get(name) {
                Some(r) => vec![r],
                None => return Err(self.unknown(name)),
            },
        };
        Ok(chosen
            .into_iter()
            .map(|r| Now {
                rotation: r.name.clone(),
                now: r.schedule.shift_at(at),
                next: r.schedule.next_after(at),
            })
            .collect())
    }

    /// "There is no rotation `x`", naming those there are.
    pub fn unknown(&self, name: &str) -> String {
        if self.rotations.is_empty() {
            format!("There is no rotation `{name}`: no `[[oncall.rotations]]` are configured.")
        } else {
            format!(
                "There is no rotation `{name}`; there are: {}.",
                self.rotations
                    .keys()
                    .map(|k| format!("`{k}`"))
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        }
    }

    /// The `/oncall` answer at `at` as text for `platform`: one line per
    /// rotation, with shift ends in the rotation's own zone, named; for a
    /// schedule that could not be read, why, and the age of what is shown.
    pub fn describe(&self, answers: &[Now], platform: Platform, at: Timestamp) -> String {
        if answers.is_empty() {
            return "No on-call rotations are configured (`[[oncall.rotations]]` in medic.toml)."
                .to_string();
        }
        let mut out = Vec::new();
        for a in answers {
            let zone = &self.rotations[&a.rotation].schedule.zone;
            let who = |s: &Shift| {
                let mut text = self.person(&s.who).mention(platform);
                if let Some(c) = &s.covering {
                    text.push_str(&format!(" (covering for @{c})"));
                }
                text
            };
            let line = match (&a.now, &a.next) {
                (Some(now), Some(next)) => format!(
                    "*{}*: {} until {} · next {} until {}",
                    a.rotation,
                    who(now),
                    local(now.end, zone),
                    who(next),
                    local(next.end, zone)
                ),
                (Some(now), None) => format!(
                    "*{}*: {} until {}",
                    a.rotation,
                    who(now),
                    local(now.end, zone)
                ),
                (None, Some(next)) => format!(
                    "*{}*: nobody yet · first {} from {}",
                    a.rotation,
                    who(next),
                    local(next.start, zone)
                ),
                (None, None) => format!("*{}*: nobody is on call", a.rotation),
            };
            out.push(line);
            if let Turns::Listed(l) = &self.rotations[&a.rotation].schedule.turns
                && let Some(error) = &l.error
            {
                out.push(match l.read_at {
                    Some(read) => format!(
                        "⚠️ {} could not be read ({error}); the answer above is the last known, read {} ago.",
                        l.source,
                        crate::format::human_age(
                            u64::try_from(at.duration_since(read).as_secs()).unwrap_or(0)
                        )
                    ),
                    None => format!("⚠️ {} could not be read yet ({error}).", l.source),
                });
            }
        }
        out.join("\n")
    }
}

/// `t` as people read it in `zone`: `Mon 7 Dec 09:00 CET`.
pub fn local(t: Timestamp, zone: &jiff::tz::TimeZone) -> String {
    let z = t.to_zoned(zone.clone());
    z.strftime("%a %-d %b %H:%M %Z").to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ts(text: &str) -> Timestamp {
        text.parse().unwrap()
    }

    fn oncall() -> OnCall {
        let mut people = BTreeMap::new();
        for (name, slack) in [("alice", "U0ALICE"), ("bob", "U0BOB")] {
            people.insert(
                name.to_string(),
                Person {
                    name: name.into(),
                    slack: Some(slack.into()),
                    ..Person::default()
                },
            );
        }
        let schedule = Schedule {
            turns: Turns::Rotating(Rotating {
                members: vec!["alice".into(), "bob".into()],
                length: Length::WEEKLY,
                handover: "09:00".parse().unwrap(),
                start: "2026-11-02".parse().unwrap(),
            }),
            zone: jiff::tz::db().get("Europe/Berlin").unwrap(),
            overrides: Vec::new(),
        };
        let db = Rotation {
            name: "db".into(),
            schedule,
            pagerduty_schedule: None,
            usergroup: None,
            slack_channel: Some("C0DB".into()),
            discord_channel: None,
            ack_within: Duration::from_secs(900),
        };
        OnCall {
            people,
            rotations: BTreeMap::from([("db".to_string(), db)]),
        }
    }

    #[test]
    fn now_and_next_name_people_and_local_times() {
        let o = oncall();
        // Turns from Mon 2 Nov: alice, bob, alice, bob, alice (from 30 Nov).
        let at = ts("2026-12-06T12:00:00Z");
        let answers = o.now(None, at).unwrap();
        assert_eq!(
            o.describe(&answers, Platform::Slack, at),
            "*db*: <@U0ALICE> until Mon 7 Dec 09:00 CET · next <@U0BOB> until Mon 14 Dec 09:00 CET"
        );
        assert_eq!(
            o.describe(&answers, Platform::Discord, at),
            "*db*: @alice until Mon 7 Dec 09:00 CET · next @bob until Mon 14 Dec 09:00 CET",
            "no Discord id: named, not mentioned"
        );
    }

    #[test]
    fn holders_cover_every_id_of_the_person() {
        let o = oncall();
        let h = o.holders_at(ts("2026-12-06T12:00:00Z"));
        assert_eq!(
            h["db"],
            BTreeSet::from(["U0ALICE".to_string(), "alice".to_string()])
        );
    }

    #[test]
    fn an_unknown_rotation_names_the_known_ones() {
        let o = oncall();
        assert_eq!(
            o.now(Some("web"), Timestamp::now()).unwrap_err(),
            "There is no rotation `web`; there are: `db`."
        );
    }
}

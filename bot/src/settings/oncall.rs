//! `[oncall]`: the people who carry the pager, the rotations they take
//! turns in, and overrides.
//!
//! ```toml
//! [oncall]
//! users = ["U0LEAD"]              # always counted as on call (optional)
//!
//! [oncall.people.alice]
//! slack = "U0ALICE"
//! discord = "111111111111111111"
//! email = "alice@example.com"
//!
//! [[oncall.rotations]]
//! name = "db"
//! members = ["alice", "bob"]
//! length = "weekly"               # daily | weekly | "N days"
//! handover = "09:00"
//! time_zone = "Europe/Berlin"
//! start = "2026-11-02"            # the first member's first turn
//! slack_channel = "C0DB"          # where its handoffs go
//! usergroup = "S0DBONCALL"        # optional: @oncall-db follows the pager
//! ack_within = "15m"
//!
//! [[oncall.overrides]]
//! rotation = "db"
//! who = "carol"
//! from = "2026-12-24 09:00"       # in the rotation's zone, or RFC 3339
//! until = "2026-12-26 09:00"
//! ```
//!
//! The gaps that would bite at 3 a.m. are caught here: an empty rotation,
//! an unknown zone, a member nobody can be mentioned as, an override that
//! changes nothing.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use config::Value;
use jiff::Timestamp;
use jiff::civil::{Date, DateTime, Time};
use jiff::tz::TimeZone;
use medic_commands::oncall::{
    Length, Listed, OnCall, Override, Person, Rotating, Rotation, Schedule, Turns,
};
use serde::Deserialize;

use super::{Reader, problem};

/// `[oncall]`, validated.
#[derive(Debug, Clone, Default)]
pub struct OnCallSettings {
    /// `users`: people always counted as on call.
    pub users: BTreeSet<String>,
    /// People and rotations.
    pub oncall: OnCall,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct RawOnCall {
    users: Vec<String>,
    people: BTreeMap<String, RawPerson>,
    rotations: Vec<RawRotation>,
    overrides: Vec<RawOverride>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct RawPerson {
    slack: Option<String>,
    discord: Option<String>,
    email: Option<String>,
    pagerduty: Option<String>,
}

#[derive(Deserialize)]

struct RawRotation {
    name: String,
    #[serde(default)]
    members: Vec<String>,
    #[serde(default = "weekly")]
    length: String,
    #[serde(default = "nine")]
    handover: String,
    #[serde(default = "utc")]
    time_zone: String,
    start: Option<String>,
    pagerduty_schedule: Option<String>,
    usergroup: Option<String>,
    slack_channel: Option<String>,
    discord_channel: Option<String>,
    #[serde(
        default = "quarter_hour",
        deserialize_with = "medic_commands::duration::deserialize"
    )]
    ack_within: Duration,
}

fn weekly() -> String {
    "weekly".into()
}
fn nine() -> String {
    "09:00".into()
}
fn utc() -> String {
    "UTC".into()
}
fn quarter_hour() -> Duration {
    Duration::from_secs(15 * 60)
}

#[derive(Deserialize)]

struct RawOverride {
    rotation: String,
    who: String,
    from: String,
    until: String,
}

/// An instant as written in config: RFC 3339 (`2026-12-24T09:00:00Z`, with
/// an offset) or a local date and time in `zone` (`2026-12-24 09:00`).
fn instant(text: &str, zone: &TimeZone) -> Result<Timestamp, String> {
    let t = text.trim();
    if let Ok(ts) = t.parse::<Timestamp>() {
        return Ok(ts);
    }
    let civil: DateTime = t
        .replacen(' ', "T", 1)
        .parse()
        .map_err(|_| format!("`{text}` is neither RFC 3339 nor a local `YYYY-MM-DD HH:MM`"))?;
    zone.to_ambiguous_zoned(civil)
        .compatible()
        .map(|z| z.timestamp())
        .map_err(|e| format!("`{text}`: {e}"))
}

impl Reader {
    /// `pagerduty_api`: whether `[pagerduty] api_token` is set, which a
    /// rotation read from a PagerDuty schedule needs.
    pub(super) fn oncall(&mut self, value: Option<Value>, pagerduty_api: bool) -> OnCallSettings {
        let Some(raw) = self.section::<RawOnCall>("oncall", value) else {
            return OnCallSettings::default();
        };
        let mut people = BTreeMap::new();
        for (name, p) in raw.people {
            if p.slack.is_none() && p.discord.is_none() {
                self.warnings.push(problem(
                    format!("oncall.people.{name}"),
                    "has no chat id (`slack` or `discord`): medic cannot mention them, and their clicks are not theirs",
                ));
            }
            people.insert(
                name.clone(),
                Person {
                    name,
                    slack: p.slack,
                    discord: p.discord,
                    email: p.email,
                    pagerduty: p.pagerduty,
                },
            );
        }

        let mut rotations = BTreeMap::new();
        for (i, r) in raw.rotations.into_iter().enumerate() {
            let key = format!("oncall.rotations[{i}]");
            if let Some(rotation) = self.rotation(&key, r, &people, pagerduty_api) {
                if rotations.contains_key(&rotation.name) {
                    self.problems.push(problem(
                        format!("{key}.name"),
                        format!("`{}` is the name of an earlier rotation", rotation.name),
                    ));
                } else {
                    rotations.insert(rotation.name.clone(), rotation);
                }
            }
        }

        for (i, o) in raw.overrides.into_iter().enumerate() {
            let key = format!("oncall.overrides[{i}]");
            let Some(rotation) = rotations.get_mut(&o.rotation) else {
                self.problems.push(problem(
                    format!("{key}.rotation"),
                    format!("`{}` is not a rotation", o.rotation),
                ));
                continue;
            };
            if !people.contains_key(&o.who) {
                self.problems.push(problem(
                    format!("{key}.who"),
                    format!("`{}` is nobody in [oncall.people]", o.who),
                ));
                continue;
            }
            let zone = &rotation.schedule.zone;
            let (from, until) = match (instant(&o.from, zone), instant(&o.until, zone)) {
                (Ok(f), Ok(u)) => (f, u),
                (Err(e), _) => {
                    self.problems.push(problem(format!("{key}.from"), e));
                    continue;
                }
                (_, Err(e)) => {
                    self.problems.push(problem(format!("{key}.until"), e));
                    continue;
                }
            };
            if until <= from {
                self.problems
                    .push(problem(format!("{key}.until"), "is not after `from`"));
                continue;
            }
            if rotation
                .schedule
                .first_handover()
                .is_some_and(|first| until <= first)
            {
                self.warnings.push(problem(
                    key,
                    format!(
                        "ends before rotation `{}` starts: it is outside every shift and changes nothing",
                        o.rotation
                    ),
                ));
            }
            rotation.schedule.overrides.push(Override {
                who: o.who,
                from,
                until,
            });
        }

        OnCallSettings {
            users: raw.users.into_iter().collect(),
            oncall: OnCall { people, rotations },
        }
    }

    fn rotation(
        &mut self,
        key: &str,
        r: RawRotation,
        people: &BTreeMap<String, Person>,
        pagerduty_api: bool,
    ) -> Option<Rotation> {
        let before = self.problems.len();
        let name = r.name.trim().to_string();
        let r_pd = r
            .pagerduty_schedule
            .as_deref()
            .map(|s| s.trim().to_string());
        if name.is_empty() || name.contains(char::is_whitespace) {
            self.problems.push(problem(
                format!("{key}.name"),
                "must be one word (it is typed as `/oncall NAME` and `oncall:NAME`)",
            ));
        }
        match (&r.pagerduty_schedule, r.members.is_empty()) {
            (Some(_), false) => self.problems.push(problem(
                format!("{key}.members"),
                "and `pagerduty_schedule` both say who is on call; keep one",
            )),
            (Some(_), true) if !pagerduty_api => self.problems.push(problem(
                format!("{key}.pagerduty_schedule"),
                "needs `[pagerduty] api_token` to read the schedule",
            )),
            (Some(id), true) if id.trim().is_empty() => self
                .problems
                .push(problem(format!("{key}.pagerduty_schedule"), "is empty")),
            (Some(_), true) => {}
            (None, true) => self.problems.push(problem(
                format!("{key}.members"),
                "is empty: nobody would be on call (or name a `pagerduty_schedule`)",
            )),
            (None, false) => {}
        }
        for m in &r.members {
            match people.get(m) {
                None => self.problems.push(problem(
                    format!("{key}.members"),
                    format!("`{m}` is nobody in [oncall.people] (add [oncall.people.{m}] with their chat ids)"),
                )),
                Some(p) => {
                    if r.slack_channel.is_some() && p.slack.is_none() {
                        self.warnings.push(problem(
                            format!("oncall.people.{m}.slack"),
                            format!("is missing; rotation `{name}` posts on Slack and cannot mention them"),
                        ));
                    }
                    if r.discord_channel.is_some() && p.discord.is_none() {
                        self.warnings.push(problem(
                            format!("oncall.people.{m}.discord"),
                            format!("is missing; rotation `{name}` posts on Discord and cannot mention them"),
                        ));
                    }
                }
            }
        }
        let length = Length::parse(&r.length)
            .map_err(|e| self.problems.push(problem(format!("{key}.length"), e)))
            .ok();
        let handover = r
            .handover
            .trim()
            .parse::<Time>()
            .map_err(|_| {
                self.problems.push(problem(
                    format!("{key}.handover"),
                    format!("`{}` is not a time of day like 09:00", r.handover),
                ))
            })
            .ok();
        let zone = jiff::tz::db()
            .get(r.time_zone.trim())
            .map_err(|_| {
                self.problems.push(problem(
                    format!("{key}.time_zone"),
                    format!(
                        "`{}` is not an IANA time zone (like Europe/Berlin or America/New_York)",
                        r.time_zone
                    ),
                ))
            })
            .ok();
        let start = match (&r.start, &r.pagerduty_schedule) {
            (Some(text), _) => text
                .trim()
                .parse::<Date>()
                .map_err(|_| {
                    self.problems.push(problem(
                        format!("{key}.start"),
                        format!("`{text}` is not a date like 2026-11-02"),
                    ))
                })
                .ok(),
            (None, Some(_)) => None,
            (None, None) => {
                self.problems.push(problem(
                    format!("{key}.start"),
                    "is missing: the day the first member's first turn starts",
                ));
                None
            }
        };
        if r.slack_channel.is_none() && r.discord_channel.is_none() {
            self.warnings.push(problem(
                key,
                format!("rotation `{name}` has no `slack_channel` or `discord_channel`: its handoffs are posted nowhere"),
            ));
        }
        if let Some(g) = &r.usergroup
            && !(g.starts_with('S') && g.len() > 1 && g.chars().all(|c| c.is_ascii_alphanumeric()))
        {
            self.problems.push(problem(
                format!("{key}.usergroup"),
                format!("`{g}` is not a Slack user group id (like S0614TZR7)"),
            ));
        }
        if self.problems.len() != before {
            return None;
        }
        let turns = match r.pagerduty_schedule {
            Some(id) => Turns::Listed(Listed {
                source: format!("PagerDuty schedule {}", id.trim()),
                ..Listed::default()
            }),
            None => Turns::Rotating(Rotating {
                members: r.members,
                length: length?,
                handover: handover?,
                start: start?,
            }),
        };
        Some(Rotation {
            name,
            pagerduty_schedule: r_pd,
            usergroup: r.usergroup,
            schedule: Schedule {
                turns,
                zone: zone?,
                overrides: Vec::new(),
            },
            slack_channel: r.slack_channel,
            discord_channel: r.discord_channel,
            ack_within: r.ack_within,
        })
    }
}

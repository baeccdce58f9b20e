//! Rotations read from PagerDuty schedules (`pagerduty_schedule = "P…"`):
//! the shifts of the next two weeks, read at start-up and every
//! [`EVERY`] ([`super::refresh`]), kept in memory as the rotation's turns. PagerDuty users are
//! matched to `[oncall.people]` by `pagerduty` id, then by email; someone
//! with neither is shown by their PagerDuty name and cannot press
//! medic's buttons as on-call.
//!
//! When PagerDuty cannot be read, the last shifts read stay in use and
//! `/oncall` says so, with their age: an outage at PagerDuty does not make
//! medic forget who is on call.

use std::collections::BTreeMap;
use std::sync::RwLock;
use std::time::Duration;

use jiff::{Timestamp, ToSpan};
use medic_commands::oncall::pagerduty::{self, Shift as PdShift};
use medic_commands::oncall::{Listed, OnCall, Person, Turns};
use secrecy::SecretString;

/// How often schedules are read again.
pub const EVERY: Duration = Duration::from_secs(5 * 60);

/// PagerDuty's REST API, as `[pagerduty]` configures it for reading.
#[derive(Clone)]
pub struct Reader {
    /// An HTTP client.
    pub http: reqwest::Client,
    /// `pagerduty.api_url`.
    pub url: url::Url,
    /// `pagerduty.api_token`.
    pub token: SecretString,
}

impl std::fmt::Debug for Reader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("pagerduty::Reader { •••• }")
    }
}

/// The shifts last read, by rotation.
#[derive(Debug, Default)]
pub struct Schedules {
    read: RwLock<BTreeMap<String, Listed>>,
}

impl Schedules {
    /// Reads `schedule` (rotation `rotation`'s) for the two weeks from
    /// `now`; on failure keeps what was read before and notes why.
    pub async fn read(
        &self,
        reader: &Reader,
        people: &BTreeMap<String, Person>,
        rotation: &str,
        schedule: &str,
        now: Timestamp,
    ) {
        let since = now - 24.hours();
        let until = now + (14 * 24).hours();
        let answer = pagerduty::oncalls(
            &reader.http,
            &reader.url,
            &reader.token,
            schedule,
            since,
            until,
        )
        .await;
        let mut read = self.read.write().expect("schedules lock");
        let entry = read.entry(rotation.to_string()).or_insert_with(|| Listed {
            source: format!("PagerDuty schedule {schedule}"),
            ..Listed::default()
        });
        match answer {
            Ok(shifts) => {
                entry.shifts = turns(people, &shifts);
                entry.read_at = Some(now);
                entry.error = None;
            }
            Err(error) => {
                tracing::warn!(rotation, schedule, %error, "Could not read a PagerDuty schedule; the last shifts read stay in use.");
                entry.error = Some(error.to_string());
            }
        }
    }

    /// `config` with each PagerDuty rotation's turns as last read.
    pub fn apply(&self, config: &OnCall) -> OnCall {
        let mut live = config.clone();
        let read = self.read.read().expect("schedules lock");
        for r in live.rotations.values_mut() {
            if let (Turns::Listed(listed), Some(known)) = (&mut r.schedule.turns, read.get(&r.name))
            {
                *listed = known.clone();
            }
        }
        live
    }
}

/// PagerDuty's on-call entries as turns: the first escalation level's,
/// in order, each named by the person it is in `[oncall.people]`.
fn turns(
    people: &BTreeMap<String, Person>,
    shifts: &[PdShift],
) -> Vec<(String, Timestamp, Timestamp)> {
    let Some(level) = shifts.iter().map(|s| s.escalation_level).min() else {
        return Vec::new();
    };
    let mut out: Vec<(String, Timestamp, Timestamp)> = shifts
        .iter()
        .filter(|s| s.escalation_level == level)
        .map(|s| {
            (
                person_of(people, s),
                s.start.unwrap_or(Timestamp::MIN),
                s.end.unwrap_or(Timestamp::MAX),
            )
        })
        .collect();
    out.sort_by_key(|(_, start, _)| *start);
    out.dedup();
    out
}

/// The name in `[oncall.people]` of PagerDuty's user, by id then email;
/// their PagerDuty name when neither matches.
fn person_of(people: &BTreeMap<String, Person>, s: &PdShift) -> String {
    let by_id = people
        .values()
        .find(|p| p.pagerduty.as_deref() == Some(s.user_id.as_str()));
    let by_email = || {
        people.values().find(|p| {
            p.email
                .as_deref()
                .zip(s.email.as_deref())
                .is_some_and(|(a, b)| a.eq_ignore_ascii_case(b))
        })
    };
    by_id
        .or_else(by_email)
        .map_or_else(|| s.name.clone(), |p| p.name.clone())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shift(id: &str, email: &str, level: u32, start: &str, end: &str) -> PdShift {
        PdShift {
            user_id: id.into(),
            name: format!("PD {id}"),
            email: Some(email.into()),
            start: Some(start.parse().unwrap()),
            end: Some(end.parse().unwrap()),
            escalation_level: level,
            escalation_policy_id: None,
        }
    }

    #[test]
    fn pagerduty_users_become_people_by_id_then_email() {
        let people = BTreeMap::from([
            (
                "alice".to_string(),
                Person {
                    name: "alice".into(),
                    email: Some("Alice@Example.com".into()),
                    ..Person::default()
                },
            ),
            (
                "bob".to_string(),
                Person {
                    name: "bob".into(),
                    pagerduty: Some("PBOB".into()),
                    ..Person::default()
                },
            ),
        ]);
        let shifts = vec![
            shift(
                "PBOB",
                "bob@elsewhere",
                1,
                "2026-12-07T08:00:00Z",
                "2026-12-08T08:00:00Z",
            ),
            shift(
                "PALICE",
                "alice@example.com",
                1,
                "2026-12-06T08:00:00Z",
                "2026-12-07T08:00:00Z",
            ),
            shift(
                "PLEAD",
                "lead@example.com",
                2,
                "2026-12-01T00:00:00Z",
                "2026-12-31T00:00:00Z",
            ),
            shift(
                "PNEW",
                "new@example.com",
                1,
                "2026-12-08T08:00:00Z",
                "2026-12-09T08:00:00Z",
            ),
            // The same shift again, through a second escalation policy.
            shift(
                "PBOB",
                "bob@elsewhere",
                1,
                "2026-12-07T08:00:00Z",
                "2026-12-08T08:00:00Z",
            ),
        ];
        let t = turns(&people, &shifts);
        let who: Vec<&str> = t.iter().map(|(w, _, _)| w.as_str()).collect();
        assert_eq!(
            who,
            vec!["alice", "bob", "PD PNEW"],
            "level 1 only, in order, once each"
        );
    }
}

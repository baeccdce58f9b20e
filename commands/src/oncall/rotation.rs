//! Rotation arithmetic: who holds the pager at an instant, from a member
//! list, a shift length, a handover time in an IANA zone and overrides.
//!
//! Shifts are counted in the rotation's own calendar, not in hours: a daily
//! 09:00 handover in Europe/Berlin is at 09:00 local on the day the clocks
//! change too, so that shift is 23 or 25 hours long. A handover time that
//! does not exist that day (02:30 on the spring-forward Sunday) is taken
//! as the instant after the gap (03:30), and one that happens twice (02:30
//! on the fall-back Sunday) as the first of the two: jiff's "compatible"
//! rule, the one RFC 5545 calendars and most schedulers use.

use jiff::civil::{Date, Time};
use jiff::tz::TimeZone;
use jiff::{Span, Timestamp};

/// How long a scheduled shift lasts, in calendar days.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Length {
    days: u32,
}

impl Length {
    /// One day.
    pub const DAILY: Length = Length { days: 1 };
    /// Seven days.
    pub const WEEKLY: Length = Length { days: 7 };

    /// Parses `daily`, `weekly`, or `N days` / `Nd` (1 to 366).
    pub fn parse(text: &str) -> Result<Length, String> {
        let t = text.trim().to_ascii_lowercase();
        let days = match t.as_str() {
            "daily" => 1,
            "weekly" => 7,
            other => {
                let n = other
                    .strip_suffix("days")
                    .or_else(|| other.strip_suffix("day"))
                    .or_else(|| other.strip_suffix('d'))
                    .map(str::trim)
                    .and_then(|n| n.parse::<u32>().ok());
                match n {
                    Some(n) if (1..=366).contains(&n) => n,
                    _ => {
                        return Err(format!(
                            "`{text}` is not a shift length: `daily`, `weekly` or `N days` (1 to 366)"
                        ));
                    }
                }
            }
        };
        Ok(Length { days })
    }

    /// The length in days.
    pub fn days(self) -> u32 {
        self.days
    }
}

/// Someone else holding the pager for a while: a swap, a holiday, a sick
/// day. Later overrides win over earlier ones where they overlap.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Override {
    /// The person (a name from `[oncall.people]`).
    pub who: String,
    /// From this instant…
    pub from: Timestamp,
    /// …until this one (exclusive).
    pub until: Timestamp,
}

/// A rotation's schedule: whose turn it is when (members taking turns, or
/// the shifts a PagerDuty schedule listed), in `zone`, with overrides.
#[derive(Debug, Clone)]
pub struct Schedule {
    /// Whose turn it is when.
    pub turns: Turns,
    /// The zone handovers are written and shown in.
    pub zone: TimeZone,
    /// Overrides, in config order.
    pub overrides: Vec<Override>,
}

/// Where turns come from.
#[derive(Debug, Clone)]
pub enum Turns {
    /// Members take turns of a length, from a start date.
    Rotating(Rotating),
    /// Shifts read from elsewhere (a PagerDuty schedule), as last read.
    Listed(Listed),
}

/// Members taking turns of `length`, the first starting on `start` at
/// `handover`, in the schedule's zone.
#[derive(Debug, Clone)]
pub struct Rotating {
    /// People (names from `[oncall.people]`), in turn order.
    pub members: Vec<String>,
    /// How long each turn lasts.
    pub length: Length,
    /// The local time of day turns change.
    pub handover: Time,
    /// The day the first member's first turn starts.
    pub start: Date,
}

/// Shifts as another system lists them.
#[derive(Debug, Clone, Default)]
pub struct Listed {
    /// What lists them (`PagerDuty schedule PXXXXXX`), for messages.
    pub source: String,
    /// The shifts, as last read: (person's name, start, end).
    pub shifts: Vec<(String, Timestamp, Timestamp)>,
    /// When they were last read successfully.
    pub read_at: Option<Timestamp>,
    /// Why the last read failed, when it did.
    pub error: Option<String>,
}

/// One stretch of time during which one person holds the pager.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Shift {
    /// Who holds it.
    pub who: String,
    /// Since when.
    pub start: Timestamp,
    /// Until when (exclusive).
    pub end: Timestamp,
    /// For an override: the person whose turn it covers.
    pub covering: Option<String>,
}

impl Rotating {
    /// The instant turn `k` starts (turn 0 starts on `start`) in `zone`.
    fn turn_start(&self, k: i64, zone: &TimeZone) -> Option<Timestamp> {
        let days = k.checked_mul(i64::from(self.length.days))?;
        let date = self
            .start
            .checked_add(Span::new().try_days(days).ok()?)
            .ok()?;
        zone.to_ambiguous_zoned(date.to_datetime(self.handover))
            .compatible()
            .ok()
            .map(|z| z.timestamp())
    }

    /// The turn at `at`: whose, and its bounds. `None` before the
    /// rotation starts or with no members.
    fn turn_at(&self, at: Timestamp, zone: &TimeZone) -> Option<(String, Timestamp, Timestamp)> {
        if self.members.is_empty() {
            return None;
        }
        let first = self.turn_start(0, zone)?;
        if at < first {
            return None;
        }
        let local = at.to_zoned(zone.clone()).date();
        let days = i64::from(self.start.until(local).ok()?.get_days());
        let mut k = days.div_euclid(i64::from(self.length.days));
        // The estimate is off by one near a handover (before it on the
        // boundary day, or a DST shift of the instant's date): step to it.
        while k > 0 && self.turn_start(k, zone)? > at {
            k -= 1;
        }
        while self.turn_start(k + 1, zone)? <= at {
            k += 1;
        }
        let n = self.members.len() as i64;
        let who = self.members[k.rem_euclid(n) as usize].clone();
        Some((
            who,
            self.turn_start(k, zone)?,
            self.turn_start(k + 1, zone)?,
        ))
    }
}

impl Schedule {
    /// The scheduled turn at `at`, ignoring overrides: whose, and its
    /// bounds.
    fn turn_at(&self, at: Timestamp) -> Option<(String, Timestamp, Timestamp)> {
        match &self.turns {
            Turns::Rotating(r) => r.turn_at(at, &self.zone),
            Turns::Listed(l) => l
                .shifts
                .iter()
                .find(|(_, start, end)| *start <= at && at < *end)
                .cloned(),
        }
    }

    /// When the first turn begins.
    pub fn first_handover(&self) -> Option<Timestamp> {
        match &self.turns {
            Turns::Rotating(r) => r.turn_start(0, &self.zone),
            Turns::Listed(l) => l.shifts.iter().map(|(_, start, _)| *start).min(),
        }
    }

    /// The first turn to begin after `at`.
    fn next_turn_start(&self, at: Timestamp) -> Option<Timestamp> {
        match &self.turns {
            Turns::Rotating(r) => r.turn_start(0, &self.zone).filter(|first| *first > at),
            Turns::Listed(l) => l
                .shifts
                .iter()
                .map(|(_, start, _)| *start)
                .filter(|start| *start > at)
                .min(),
        }
    }

    /// The override in force at `at`: the last configured that covers it.
    fn override_at(&self, at: Timestamp) -> Option<&Override> {
        self.overrides
            .iter()
            .rev()
            .find(|o| o.from <= at && at < o.until)
    }

    /// Who holds the pager at `at`, and the bounds of that stretch: a
    /// scheduled turn, cut where overrides begin and end, or an override.
    /// `None` when nobody does (before the rotation starts, no members).
    pub fn shift_at(&self, at: Timestamp) -> Option<Shift> {
        let turn = self.turn_at(at);
        if let Some(o) = self.override_at(at) {
            // An override is its own stretch, trimmed where a later one
            // takes over.
            let end = self
                .overrides
                .iter()
                .rev()
                .take_while(|later| !std::ptr::eq(*later, o))
                .filter(|later| later.from > at && later.from < o.until)
                .map(|later| later.from)
                .min()
                .unwrap_or(o.until);
            return Some(Shift {
                who: o.who.clone(),
                start: o.from,
                end,
                covering: turn.map(|(who, _, _)| who),
            });
        }
        let (who, start, end) = turn?;
        let start = self
            .overrides
            .iter()
            .map(|o| o.until)
            .filter(|u| *u > start && *u <= at)
            .max()
            .unwrap_or(start);
        let end = self
            .overrides
            .iter()
            .map(|o| o.from)
            .filter(|f| *f > at && *f < end)
            .min()
            .unwrap_or(end);
        Some(Shift {
            who,
            start,
            end,
            covering: None,
        })
    }

    /// The stretch after the one at `at` (after a gap, the next to begin).
    pub fn next_after(&self, at: Timestamp) -> Option<Shift> {
        let from = match self.shift_at(at) {
            Some(now) => {
                if let Some(next) = self.shift_at(now.end) {
                    return Some(next);
                }
                now.end
            }
            None => at,
        };
        let candidates = self
            .overrides
            .iter()
            .map(|o| o.from)
            .filter(|f| *f > from)
            .chain(self.next_turn_start(from));
        candidates.min().and_then(|t| self.shift_at(t))
    }

    /// The last handover at or before `at`: when the stretch in force at
    /// `at` began, with who had the pager just before (`None` at the very
    /// start).
    pub fn handover_at(&self, at: Timestamp) -> Option<Handover> {
        let incoming = self.shift_at(at)?;
        let before = incoming.start.checked_sub(Span::new().nanoseconds(1)).ok();
        let outgoing = before.and_then(|b| self.shift_at(b));
        Some(Handover { outgoing, incoming })
    }
}

/// A change of hands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Handover {
    /// Who had the pager until now (`None` when the rotation just began).
    pub outgoing: Option<Shift>,
    /// Who has it from now.
    pub incoming: Shift,
}

impl Handover {
    /// When it happens.
    pub fn at(&self) -> Timestamp {
        self.incoming.start
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn berlin() -> TimeZone {
        jiff::tz::db().get("Europe/Berlin").unwrap()
    }

    fn ts(text: &str) -> Timestamp {
        text.parse().unwrap()
    }

    fn schedule(members: &[&str], length: Length, handover: &str, start: &str) -> Schedule {
        Schedule {
            turns: Turns::Rotating(Rotating {
                members: members.iter().map(|m| m.to_string()).collect(),
                length,
                handover: handover.parse().unwrap(),
                start: start.parse().unwrap(),
            }),
            zone: berlin(),
            overrides: Vec::new(),
        }
    }

    #[test]
    fn lengths_parse_and_nonsense_is_named() {
        assert_eq!(Length::parse("daily"), Ok(Length::DAILY));
        assert_eq!(Length::parse("Weekly"), Ok(Length::WEEKLY));
        assert_eq!(Length::parse("3 days").unwrap().days(), 3);
        assert_eq!(Length::parse("14d").unwrap().days(), 14);
        assert_eq!(Length::parse("1 day").unwrap().days(), 1);
        assert!(Length::parse("0 days").unwrap_err().contains("`0 days`"));
        assert!(Length::parse("fortnightly").is_err());
    }

    #[test]
    fn weekly_turns_go_round_the_members() {
        // 2026-11-02 is a Monday; handover Mondays 09:00 CET (08:00Z).
        let s = schedule(
            &["alice", "bob", "carol"],
            Length::WEEKLY,
            "09:00",
            "2026-11-02",
        );
        let at = |t| s.shift_at(ts(t)).map(|s| s.who);
        assert_eq!(at("2026-11-02T07:59:59Z"), None, "before the first turn");
        assert_eq!(at("2026-11-02T08:00:00Z").as_deref(), Some("alice"));
        assert_eq!(at("2026-11-09T07:59:59Z").as_deref(), Some("alice"));
        assert_eq!(at("2026-11-09T08:00:00Z").as_deref(), Some("bob"));
        assert_eq!(at("2026-11-16T12:00:00Z").as_deref(), Some("carol"));
        assert_eq!(at("2026-11-23T08:00:00Z").as_deref(), Some("alice"));
        let now = s.shift_at(ts("2026-11-10T00:00:00Z")).unwrap();
        assert_eq!(
            (now.start, now.end),
            (ts("2026-11-09T08:00:00Z"), ts("2026-11-16T08:00:00Z"))
        );
        assert_eq!(
            s.next_after(ts("2026-11-10T00:00:00Z")).unwrap().who,
            "carol"
        );
        assert_eq!(
            s.next_after(ts("2026-11-01T00:00:00Z")).unwrap().who,
            "alice"
        );
    }

    #[test]
    fn spring_forward_keeps_the_local_handover_and_shortens_the_shift() {
        // Europe/Berlin: 2026-03-29 02:00 CET → 03:00 CEST.
        let s = schedule(&["alice", "bob"], Length::DAILY, "09:00", "2026-03-27");
        let sat = s.shift_at(ts("2026-03-28T12:00:00Z")).unwrap();
        assert_eq!(sat.who, "bob");
        assert_eq!(sat.start, ts("2026-03-28T08:00:00Z"), "09:00 CET");
        assert_eq!(sat.end, ts("2026-03-29T07:00:00Z"), "09:00 CEST");
        assert_eq!(sat.end.duration_since(sat.start).as_secs(), 23 * 3600);
        assert_eq!(s.shift_at(ts("2026-03-29T07:00:00Z")).unwrap().who, "alice");
        assert_eq!(s.shift_at(ts("2026-03-29T06:59:59Z")).unwrap().who, "bob");
    }

    #[test]
    fn fall_back_lengthens_the_shift() {
        // Europe/Berlin: 2026-10-25 03:00 CEST → 02:00 CET.
        let s = schedule(&["alice", "bob"], Length::DAILY, "09:00", "2026-10-24");
        let sat = s.shift_at(ts("2026-10-24T12:00:00Z")).unwrap();
        assert_eq!(sat.who, "alice");
        assert_eq!(sat.start, ts("2026-10-24T07:00:00Z"), "09:00 CEST");
        assert_eq!(sat.end, ts("2026-10-25T08:00:00Z"), "09:00 CET");
        assert_eq!(sat.end.duration_since(sat.start).as_secs(), 25 * 3600);
    }

    #[test]
    fn a_handover_in_the_gap_or_the_fold_is_well_defined() {
        // 02:30 does not exist on 2026-03-29 and happens twice on 2026-10-25.
        let s = schedule(&["alice", "bob"], Length::DAILY, "02:30", "2026-03-28");
        let gap = s.shift_at(ts("2026-03-29T12:00:00Z")).unwrap();
        assert_eq!(
            gap.start,
            ts("2026-03-29T01:30:00Z"),
            "03:30 CEST, after the gap"
        );
        let s = schedule(&["alice", "bob"], Length::DAILY, "02:30", "2026-10-24");
        let fold = s.shift_at(ts("2026-10-25T12:00:00Z")).unwrap();
        assert_eq!(
            fold.start,
            ts("2026-10-25T00:30:00Z"),
            "the first 02:30 (CEST)"
        );
    }

    #[test]
    fn a_handover_at_midnight() {
        let s = schedule(&["alice", "bob"], Length::DAILY, "00:00", "2026-12-01");
        // 2026-12-06 00:00 CET is 2026-12-05T23:00Z: turn 5 → bob.
        let h = s.handover_at(ts("2026-12-05T23:00:00Z")).unwrap();
        assert_eq!(h.at(), ts("2026-12-05T23:00:00Z"));
        assert_eq!(h.incoming.who, "bob");
        assert_eq!(h.outgoing.unwrap().who, "alice");
        assert_eq!(s.shift_at(ts("2026-12-05T22:59:59Z")).unwrap().who, "alice");
    }

    #[test]
    fn a_rotation_of_one_person_still_hands_over_to_itself() {
        let s = schedule(&["alice"], Length::WEEKLY, "09:00", "2026-11-02");
        let h = s.handover_at(ts("2026-11-20T12:00:00Z")).unwrap();
        assert_eq!(h.incoming.who, "alice");
        assert_eq!(h.outgoing.as_ref().unwrap().who, "alice");
        assert_eq!(h.at(), ts("2026-11-16T08:00:00Z"));
        let first = s.handover_at(ts("2026-11-02T08:00:00Z")).unwrap();
        assert_eq!(
            first.outgoing, None,
            "the very first turn has nobody before it"
        );
    }

    #[test]
    fn an_override_splits_a_shift_in_three() {
        let mut s = schedule(&["alice", "bob"], Length::WEEKLY, "09:00", "2026-11-02");
        // Carol covers Wednesday 12:00–18:00 UTC of alice's week.
        s.overrides.push(Override {
            who: "carol".into(),
            from: ts("2026-11-04T12:00:00Z"),
            until: ts("2026-11-04T18:00:00Z"),
        });
        let before = s.shift_at(ts("2026-11-03T00:00:00Z")).unwrap();
        assert_eq!(before.who, "alice");
        assert_eq!(
            before.end,
            ts("2026-11-04T12:00:00Z"),
            "cut where carol starts"
        );
        let during = s.shift_at(ts("2026-11-04T13:00:00Z")).unwrap();
        assert_eq!(during.who, "carol");
        assert_eq!(during.covering.as_deref(), Some("alice"));
        let after = s.shift_at(ts("2026-11-04T18:00:00Z")).unwrap();
        assert_eq!(after.who, "alice");
        assert_eq!(after.start, ts("2026-11-04T18:00:00Z"));
        assert_eq!(after.end, ts("2026-11-09T08:00:00Z"));
        // Each cut is a handover.
        let h = s.handover_at(ts("2026-11-04T12:30:00Z")).unwrap();
        assert_eq!(h.outgoing.unwrap().who, "alice");
        assert_eq!(h.incoming.who, "carol");
        assert_eq!(
            s.next_after(ts("2026-11-03T00:00:00Z")).unwrap().who,
            "carol"
        );
        assert_eq!(
            s.next_after(ts("2026-11-04T13:00:00Z")).unwrap().who,
            "alice"
        );
    }

    #[test]
    fn a_later_override_wins_over_an_earlier_one() {
        let mut s = schedule(&["alice"], Length::WEEKLY, "09:00", "2026-11-02");
        s.overrides.push(Override {
            who: "bob".into(),
            from: ts("2026-11-03T00:00:00Z"),
            until: ts("2026-11-05T00:00:00Z"),
        });
        s.overrides.push(Override {
            who: "carol".into(),
            from: ts("2026-11-04T00:00:00Z"),
            until: ts("2026-11-04T06:00:00Z"),
        });
        let bob = s.shift_at(ts("2026-11-03T12:00:00Z")).unwrap();
        assert_eq!(
            (bob.who.as_str(), bob.end),
            ("bob", ts("2026-11-04T00:00:00Z"))
        );
        assert_eq!(s.shift_at(ts("2026-11-04T01:00:00Z")).unwrap().who, "carol");
        assert_eq!(s.shift_at(ts("2026-11-04T07:00:00Z")).unwrap().who, "bob");
    }

    #[test]
    fn three_day_turns_count_from_the_start_date() {
        let s = schedule(
            &["alice", "bob"],
            Length::parse("3 days").unwrap(),
            "09:00",
            "2026-12-01",
        );
        assert_eq!(s.shift_at(ts("2026-12-03T12:00:00Z")).unwrap().who, "alice");
        assert_eq!(s.shift_at(ts("2026-12-04T08:00:00Z")).unwrap().who, "bob");
        assert_eq!(s.shift_at(ts("2026-12-07T08:00:00Z")).unwrap().who, "alice");
        // A year on, still on the local 09:00.
        let later = s.shift_at(ts("2027-07-01T12:00:00Z")).unwrap();
        assert_eq!(
            later.start.to_zoned(berlin()).time(),
            "09:00".parse().unwrap()
        );
    }

    #[test]
    fn listed_turns_hand_over_at_their_bounds_and_skip_gaps() {
        let s = Schedule {
            turns: Turns::Listed(Listed {
                source: "PagerDuty schedule P1".into(),
                shifts: vec![
                    (
                        "alice".into(),
                        ts("2026-12-06T08:00:00Z"),
                        ts("2026-12-07T08:00:00Z"),
                    ),
                    (
                        "bob".into(),
                        ts("2026-12-07T08:00:00Z"),
                        ts("2026-12-07T20:00:00Z"),
                    ),
                    // Nobody from 20:00 to 22:00.
                    (
                        "carol".into(),
                        ts("2026-12-07T22:00:00Z"),
                        ts("2026-12-08T08:00:00Z"),
                    ),
                ],
                ..Listed::default()
            }),
            zone: berlin(),
            overrides: Vec::new(),
        };
        let h = s.handover_at(ts("2026-12-07T09:00:00Z")).unwrap();
        assert_eq!(
            (h.outgoing.unwrap().who.as_str(), h.incoming.who.as_str()),
            ("alice", "bob")
        );
        assert_eq!(
            s.next_after(ts("2026-12-07T09:00:00Z")).unwrap().who,
            "carol",
            "after the gap"
        );
        assert_eq!(s.shift_at(ts("2026-12-07T21:00:00Z")), None);
        assert_eq!(s.first_handover(), Some(ts("2026-12-06T08:00:00Z")));
    }
}

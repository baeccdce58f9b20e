//! The loop that reads PagerDuty-backed rotations' schedules at start-up
//! and every [`EVERY`] ([`super::pagerduty`] holds what was read).

use std::collections::BTreeMap;
use std::sync::Arc;

use medic_commands::oncall::{OnCall, Person};
use tokio_util::sync::CancellationToken;

use super::pagerduty::{EVERY, Reader, Schedules};
use crate::clock::Clock;

/// What the loop needs: PagerDuty's API, which rotations to read from
/// which schedule, the people they may name, and where to keep the turns.
pub struct Refresh {
    reader: Reader,
    /// (rotation, PagerDuty schedule id).
    rotations: Vec<(String, String)>,
    people: BTreeMap<String, Person>,
    schedules: Arc<Schedules>,
    clock: Clock,
}

impl Refresh {
    /// The loop's handle; `None` when there is nothing to read (no
    /// `[pagerduty] api_token`, or no rotation names a schedule).
    pub fn new(
        reader: Option<Reader>,
        oncall: &OnCall,
        schedules: Arc<Schedules>,
        clock: Clock,
    ) -> Option<Refresh> {
        let rotations: Vec<(String, String)> = oncall
            .rotations
            .values()
            .filter_map(|r| Some((r.name.clone(), r.pagerduty_schedule.clone()?)))
            .collect();
        if rotations.is_empty() {
            return None;
        }
        Some(Refresh {
            reader: reader?,
            rotations,
            people: oncall.people.clone(),
            schedules,
            clock,
        })
    }
}

/// Reads every PagerDuty rotation's schedule now and then, until `stop`.
pub async fn run(refresh: Refresh, stop: CancellationToken) {
    loop {
        for (rotation, schedule) in &refresh.rotations {
            let now = refresh.clock.now();
            refresh
                .schedules
                .read(&refresh.reader, &refresh.people, rotation, schedule, now)
                .await;
        }
        let next = refresh.clock.now() + EVERY;
        tokio::select! {
            () = stop.cancelled() => return,
            () = refresh.clock.sleep_until(next) => {}
        }
    }
}

//! The loop that reads PagerDuty-backed rotations' schedules at start-up
//! and every [`EVERY`] ([`super::pagerduty`] holds what was read).

use tokio_util::sync::CancellationToken;

use super::pagerduty::EVERY;
use crate::state::AppState;

/// Reads every PagerDuty rotation's schedule now and then, until `stop`.
pub async fn run(state: AppState, stop: CancellationToken) {
    let rotations: Vec<(String, String)> = state
        .settings
        .oncall
        .rotations
        .values()
        .filter_map(|r| Some((r.name.clone(), r.pagerduty_schedule.clone()?)))
        .collect();
    let Some(reader) = state.pagerduty_reader.clone() else {
        return;
    };
    if rotations.is_empty() {
        return;
    }
    loop {
        for (rotation, schedule) in &rotations {
            let people = &state.settings.oncall.people;
            let now = state.clock.now();
            state
                .schedules
                .read(&reader, people, rotation, schedule, now)
                .await;
        }
        let next = state.clock.now() + EVERY;
        tokio::select! {
            () = stop.cancelled() => return,
            () = state.clock.sleep_until(next) => {}
        }
    }
}

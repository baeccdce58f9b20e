//! Each person's command budget (`[limits] commands_per_minute`,
//! `command_burst`): typed commands and button presses alike spend it, so
//! a script in a loop is slowed whichever it does.

use std::time::Duration;

use medic_commands::model::inbound::Platform;

use crate::cluster::Verdict;
use crate::state::AppState;

/// Spends one of `person`'s commands: this replica's budget first (a
/// flood is answered without a round trip), then, with `[redis]`, the one
/// all replicas share. `Err` says how long to wait.
pub async fn spend(state: &AppState, platform: Platform, person: &str) -> Result<(), Duration> {
    state.limiter.check(platform, person)?;
    let Some(cluster) = &state.cluster else {
        return Ok(());
    };
    match cluster.admit(platform, person, None).await {
        Some(Verdict::Limited(wait)) => Err(wait),
        // Redis did not answer: this replica decides alone.
        Some(Verdict::Admitted(_) | Verdict::Running(_)) | None => Ok(()),
    }
}

//! The housekeeping duty and this replica's own upkeep: what is old is
//! forgotten (unpressed offers, event ids, and whatever `[retention]` says
//! is over), what a dead replica or a crash left half-done is taken up
//! again (accepted commands, stranded approvals, lost runs), and expired
//! approvals say so while people still look.

use std::time::Duration;

use tokio_util::sync::CancellationToken;

use crate::state::AppState;

/// This replica's per-person limiters forget people idle for a while.
pub async fn forget_idle_limiters(state: AppState, stop: CancellationToken) {
    let mut tick = tokio::time::interval(Duration::from_secs(60));
    loop {
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = tick.tick() => state.limiter.forget_idle(),
        }
    }
}

/// The housekeeping duty: periodic upkeep of the database.
pub async fn run(state: AppState, stop: CancellationToken) {
    {
        let mut tick = tokio::time::interval(Duration::from_secs(60));
        // Pending approvals are expired within seconds of their expiry,
        // so their messages say "expired" while people still look.
        let mut expiry = tokio::time::interval(Duration::from_secs(10));
        loop {
            tokio::select! {
                _ = stop.cancelled() => return,
                _ = tick.tick() => {
                    // Unpressed offers a day past their expiry are noise.
                    if let Err(error) = state.store.forget_old_offers(24 * 3600 * 1000).await {
                        tracing::warn!(%error, "Could not forget old offers.");
                    }
                    if let Err(error) = state.store.forget_old_events(24 * 3600 * 1000).await {
                        tracing::warn!(%error, "Could not forget old event ids.");
                    }
                    sweep(&state).await;
                }
                _ = expiry.tick() => {
                    // Commands a replica that died had accepted.
                    crate::delivery::recover(&state).await;
                    if !state.settings.remediation.actions.is_empty() {
                        crate::remediation::flow::expire_sweep(&state).await;
                        crate::remediation::flow::lost_run_sweep(&state).await;
                        crate::remediation::flow::stranded_sweep(&state).await;
                    }
                }
            }
        }
    }
}

/// Batches one sweep deletes of one kind at most: a first sweep over a
/// year of rows spreads over several minutes instead of holding the
/// database for one long stretch.
const SWEEP_BATCHES: usize = 20;

/// The retention sweep ([`crate::storage::retention`]): every kind of row
/// that is over and older than its `[retention]` setting goes, counted
/// on `/metrics`.
async fn sweep(state: &AppState) {
    use crate::storage::retention::{BATCH, Swept};
    for what in Swept::ALL {
        let keep = state.settings.retention.keep(what);
        let keep_ms = i64::try_from(keep.as_millis()).unwrap_or(i64::MAX);
        for _ in 0..SWEEP_BATCHES {
            match state.store.sweep(what, keep_ms).await {
                Ok(rows) => {
                    state.metrics.retention_deleted(what.as_str(), rows);
                    if rows < BATCH as u64 {
                        break;
                    }
                }
                Err(error) => {
                    tracing::warn!(%error, table = what.as_str(), "Could not delete old rows.");
                    break;
                }
            }
        }
    }
}

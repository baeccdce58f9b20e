//! Duties: background work that one replica does at a time. Several
//! medics behind a load balancer all take webhooks, commands and clicks,
//! and all write them to the one database; but only one applies what is
//! left pending and runs the runbook jobs, one sends the outbox (so one
//! pace per channel holds for the cluster: Slack's one message a second
//! is per channel, not per process), one sends the reminders, one posts
//! the scheduled handoffs, one does the housekeeping.
//!
//! A duty is a lease row in the database (`duties`): taken with one
//! conditional upsert, renewed every [`RENEW`] while its work runs, and
//! given up on a clean stop. A holder that is killed stops renewing; the
//! row expires after [`TTL`] and the next replica to try (every [`TRY`])
//! takes the duty over, within `TTL + TRY` of the kill. A holder that
//! cannot renew (its database is unreachable, or it paused past the TTL)
//! stops the work at once: two holders never work the same duty for
//! longer than one renewal. The database, not Redis, because every
//! replica already needs it and the work it guards lives there (a claimed
//! job and its outcome commit together); on SQLite (one process) the
//! duties are simply this process's, without rows.
//!
//! Expiry compares the replicas' wall clocks: a clock ahead by more than
//! the TTL would take a live holder's duty. Keep them in NTP sync (the
//! duty table's times are the database clients', not the server's, so
//! that SQLite and PostgreSQL read the same SQL).
//!
//! Work that is interrupted by losing the duty is left as it was in the
//! database: a job still pending, an outbox row not marked sent. Its next
//! holder does it; nothing is done twice that was committed once.

pub mod held;

use std::future::Future;
use std::time::Duration;

use std::sync::Arc;

use tokio_util::sync::CancellationToken;

use crate::storage::{Backend, Store};
use crate::telemetry::metrics::Metrics;

pub use held::{Duties, Duty};

/// How long a duty lasts unless renewed.
pub const TTL: Duration = Duration::from_secs(6);
/// How often its holder renews it.
pub const RENEW: Duration = Duration::from_secs(2);
/// How often a replica without it tries to take it.
pub const TRY: Duration = Duration::from_secs(1);

/// What taking, renewing and showing duties needs: the database holding
/// the lease rows, this replica's duties, and the metrics that show them.
#[derive(Debug, Clone)]
pub struct Lease {
    /// The `duties` table.
    pub store: Store,
    /// This replica's holder id and what it holds.
    pub duties: Duties,
    /// `medic_duty_held`.
    pub metrics: Arc<Metrics>,
}

/// Runs `work` on `handle` (what the work needs, and only that) whenever
/// this replica holds `duty`, until `stop`: waits to take it, runs `work`
/// with a token that is cancelled when the duty is lost or medic stops,
/// and gives it up when `work` has returned.
pub async fn run<H, F, Fut>(state: Lease, duty: Duty, stop: CancellationToken, handle: H, work: F)
where
    H: Clone,
    F: Fn(H, CancellationToken) -> Fut,
    Fut: Future<Output = ()> + Send + 'static,
{
    let name = duty.as_str();
    let holder = state.duties.holder().to_string();
    if state.store.backend() == Backend::Sqlite {
        // One process on its own file: every duty is its own, at once
        // (a restart after a crash need not wait for its dead self's rows
        // to expire).
        show(&state, duty, true);
        work(handle, stop).await;
        show(&state, duty, false);
        return;
    }
    state.metrics.duty(name, false);
    while !stop.is_cancelled() {
        match take(&state, name, &holder).await {
            Ok(true) => {}
            Ok(false) => {
                if pause(&stop, TRY).await {
                    return;
                }
                continue;
            }
            Err(error) => {
                tracing::warn!(duty = name, %error, "Could not ask for a duty; retrying.");
                if pause(&stop, TRY).await {
                    return;
                }
                continue;
            }
        }
        tracing::info!(duty = name, holder, "This replica took a duty.");
        show(&state, duty, true);
        let working = stop.child_token();
        let mut task = tokio::spawn(work(handle.clone(), working.clone()));
        let lost = loop {
            tokio::select! {
                ended = &mut task => {
                    if let Err(error) = ended {
                        tracing::error!(duty = name, %error, "A duty's work failed; this replica gives the duty up.");
                    }
                    break false;
                }
                _ = tokio::time::sleep(RENEW) => {
                    match take(&state, name, &holder).await {
                        Ok(true) => {}
                        Ok(false) => break true,
                        Err(error) => {
                            tracing::warn!(duty = name, %error, "Could not renew a duty; stopping its work.");
                            break true;
                        }
                    }
                }
            }
        };
        working.cancel();
        if lost {
            tracing::warn!(
                duty = name,
                holder,
                "This replica lost a duty; another takes it over."
            );
            let _ = task.await;
        }
        show(&state, duty, false);
        if stop.is_cancelled() || !lost {
            if let Err(error) = state.store.release_duty(name, &holder).await {
                tracing::warn!(duty = name, %error, "Could not give up a duty; it expires instead.");
            }
            // The work returned on its own only when medic is stopping.
            return;
        }
    }
}

/// Shows whether this replica holds `duty` now, on `/readyz` and
/// `/metrics` (`medic_duty_held`): for the duties above, and for one held
/// by other means (the Discord gateway's Redis lease), so that every
/// "only one replica does this" reads the same way.
pub fn show(state: &Lease, duty: Duty, holding: bool) {
    state.duties.mark(duty, holding);
    state.metrics.duty(duty.as_str(), holding);
}

/// This replica's presence row's name: a lease nobody else takes, that
/// says it is alive (its accepted commands are being run).
fn presence_name(holder: &str) -> String {
    format!("replica:{holder}")
}

/// Says, once, that this replica is alive: before it accepts a command,
/// so that no other replica takes its commands for a dead one's.
pub async fn present(state: &Lease) {
    if state.store.backend() == Backend::Sqlite {
        return;
    }
    let holder = state.duties.holder();
    if let Err(error) = take(state, &presence_name(holder), holder).await {
        tracing::warn!(%error, "Could not record this replica's presence; retrying.");
    }
}

/// Keeps this replica's presence row alive until `stop`, then removes it:
/// the commands it accepted and did not finish are another replica's to
/// run again ([`crate::delivery::recover`]).
pub async fn presence(state: Lease, stop: CancellationToken) {
    if state.store.backend() == Backend::Sqlite {
        return;
    }
    let holder = state.duties.holder().to_string();
    let name = presence_name(&holder);
    loop {
        if let Err(error) = take(&state, &name, &holder).await {
            tracing::warn!(%error, "Could not renew this replica's presence; retrying.");
        }
        if pause(&stop, RENEW).await {
            break;
        }
    }
    if let Err(error) = state.store.release_duty(&name, &holder).await {
        tracing::warn!(%error, "Could not remove this replica's presence; it expires instead.");
    }
}

async fn take(state: &Lease, name: &str, holder: &str) -> sqlx::Result<bool> {
    let now = crate::storage::now_ms();
    state
        .store
        .take_duty(name, holder, now, now + crate::storage::millis(TTL))
        .await
}

/// Sleeps `d`; `true` when `stop` came first.
async fn pause(stop: &CancellationToken, d: Duration) -> bool {
    tokio::select! {
        _ = stop.cancelled() => true,
        _ = tokio::time::sleep(d) => false,
    }
}

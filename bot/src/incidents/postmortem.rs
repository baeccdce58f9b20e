//! The postmortem draft posted in an incident's thread when it is
//! resolved, from its source or its thread.
//!
//! The resolve queues a job in its own transaction; the worker runs it
//! once that has committed, so the draft is written from the timeline as
//! it stands after the resolve, resolve included. A resolve, a reopen and
//! a second resolve post two drafts: the second is the one to keep.

use medic_commands::model::postmortem::{Draft, draft};
use medic_integrations::chat::draw;

use crate::state::AppState;
use crate::storage::incidents::{self, IncidentRow, Job, JobFailed};
use crate::storage::outbox::{OutboxKind, enqueue};
use crate::storage::{Store, now_ms};

/// The incident job kind that posts the draft.
pub const JOB_KIND: &str = "postmortem";

/// Incident `row`'s draft as of now, from its timeline.
pub async fn of(store: &Store, row: &IncidentRow) -> sqlx::Result<Draft> {
    let timeline = store.timeline(row).await?;
    Ok(draft(&row.view, &timeline, time::OffsetDateTime::now_utc()))
}

/// Posts the draft of `job`'s incident in its thread, and marks the job
/// done in the same transaction; left pending (and retried) when the
/// database fails.
pub async fn run_job(state: &AppState, job: Job) -> Result<(), JobFailed> {
    let posted: sqlx::Result<()> = async {
        let row = state.store.incident(job.incident_id).await?;
        let drafted = match &row {
            Some(row) => Some(of(&state.store, row).await?),
            None => None,
        };
        let mut tx = state.store.begin_write().await?;
        if let (Some(row), Some(drafted)) = (&row, drafted)
            && let Some((platform, channel)) = &row.place
        {
            let draw = draw(*platform);
            // Redacted as a whole: the alert's own title and link are in it.
            let text = medic_commands::redact::redact(&drafted.chat(*platform));
            for part in draw.long_note(&text) {
                enqueue(
                    &mut tx,
                    *platform,
                    channel,
                    row.id,
                    OutboxKind::Reply,
                    &part,
                )
                .await?;
            }
        }
        incidents::finish_job(&mut tx, job.id, now_ms()).await?;
        state.outbox.commit(tx).await
    }
    .await;
    posted.map_err(|e| JobFailed::new("posting its postmortem draft", e))
}

//! From stored alert deliveries to incident threads.
//!
//! - [`apply`]: one delivery's alerts change incidents (open, seen again,
//!   resolved, reopened, noted) and queue the chat calls and follow-ups
//!   that follow, in one transaction with the delivery marked done. Run
//!   twice after a crash, it cannot happen twice: the delivery is either
//!   still pending (nothing happened) or done (all of it did).
//! - [`decide`]: what an alert does, as plain functions of what is known
//!   (the change, its messages, its follow-up jobs), tested without SQL.
//! - [`worker`]: takes pending deliveries and runbook jobs, in order.
//! - [`triage`]: a runbook job's likely cause.
//! - [`respond`]: Acknowledge, Resolve, Reopen and a severity change,
//!   pressed on a root or typed in its thread ([`command`]: `/incident`).
//! - [`postmortem`]: the draft posted in the thread when it is resolved.
//! - [`remind`]: reminders when nobody acknowledges within the response
//!   time of the incident's severity level.
//! - the messages go out through the durable outbox ([`crate::outbox`]).

pub mod command;
pub mod decide;
pub mod postmortem;
pub mod remind;
pub(crate) mod render;
pub mod respond;
pub mod triage;
pub mod worker;

pub use render::Platforms;

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use futures::future::BoxFuture;

use medic_commands::model::alert::{Alert, AlertSource};
use medic_commands::model::inbound::Platform;
use medic_integrations::chat::draw;
use sqlx::AnyConnection;
use sqlx::any::AnyRow;
use time::OffsetDateTime;
use tokio::sync::Notify;

use crate::outbox::Outbox;
use crate::settings::AlertSettings;
use crate::storage::deliveries::{Apply, deliveries_done};
use crate::storage::incidents::{self, IncidentRow, OpenIncident};
use crate::storage::outbox::{Edit, OutboxKind, enqueue, enqueue_edits};
use crate::storage::script::{Script, Statement};
use crate::storage::timeline;
use crate::storage::{Backend, Store, now_ms};

/// What an alert did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Change {
    /// A new incident.
    Opened(i64),
    /// Another firing of an open one.
    Repeated(i64),
    /// It fired again within the reopen window.
    Reopened(i64),
    /// The source says it is over.
    Resolved(i64),
    /// Acknowledged, reassigned, annotated…: a line in the thread.
    Noted(i64),
    /// Nothing to do (a resolve of an incident medic never opened).
    Nothing,
}

/// Applies a stored delivery: see the module docs. `platforms` says which
/// routes' channels can be served.
pub async fn apply(
    store: &Store,
    config: &AlertSettings,
    platforms: Platforms,
    delivery_id: i64,
    alerts: &[Alert],
) -> sqlx::Result<Vec<Change>> {
    let batch = [Pending {
        id: delivery_id,
        alerts: alerts.to_vec(),
    }];
    Ok(apply_batch(store, config, platforms, &batch)
        .await?
        .pop()
        .unwrap_or_default())
}

pub use crate::storage::deliveries::Pending;

/// The incident logic as the delivery writer's [`Apply`]: each batch of
/// new deliveries changes incidents in the transaction that stores it.
/// Before, the writer stored deliveries as pending and the worker read them
/// back, parsed their JSON again, applied them and rewrote each row as
/// done in a second transaction: two turns at SQLite's write lock per
/// delivery, and most of the ingest path's database work.
#[derive(Debug)]
pub struct Applier {
    config: AlertSettings,
    platforms: Platforms,
    /// The worker runs the runbook jobs new incidents queue, and the
    /// deliveries left pending when applying failed.
    incident_wake: Arc<Notify>,
    outbox: Arc<Outbox>,
    /// A batch opened or resolved an incident (it may have queued a
    /// runbook job or a postmortem draft) since the worker was last woken.
    queued_jobs: AtomicBool,
}

impl Applier {
    /// The incident logic under `config`, for `platforms`, waking the
    /// worker and the outbox when a batch commits.
    pub fn new(
        config: AlertSettings,
        platforms: Platforms,
        incident_wake: Arc<Notify>,
        outbox: Arc<Outbox>,
    ) -> Applier {
        Applier {
            config,
            platforms,
            incident_wake,
            outbox,
            queued_jobs: AtomicBool::new(false),
        }
    }
}

impl Apply for Applier {
    fn reads(&self, backend: Backend, alerts: &mut dyn Iterator<Item = &Alert>) -> Vec<Statement> {
        open_reads(backend, alerts)
    }

    fn apply<'c>(
        &'c self,
        conn: &'c mut AnyConnection,
        batch: &'c [Pending],
        read: Vec<Vec<AnyRow>>,
        tail: &'c mut Script,
    ) -> BoxFuture<'c, sqlx::Result<()>> {
        Box::pin(async move {
            let open = Open::of(&read)?;
            let changes = apply_in(conn, &self.config, self.platforms, batch, open, tail).await?;
            if changes
                .iter()
                .flatten()
                .any(|c| matches!(c, Change::Opened(_) | Change::Resolved(_)))
            {
                self.queued_jobs.store(true, Ordering::Relaxed);
            }
            tracing::debug!(deliveries = batch.len(), ?changes, "Deliveries applied.");
            Ok(())
        })
    }

    fn committed(&self, applied: bool) {
        if applied {
            self.outbox.wake();
        }
        if !applied || self.queued_jobs.swap(false, Ordering::Relaxed) {
            self.incident_wake.notify_one();
        }
    }
}

/// Applies several deliveries, in order, in one transaction: one write
/// lock and one commit for the lot instead of one per delivery. In an
/// alert storm the incident logic shares SQLite's single write lock with
/// the webhooks' group commits and the outbox, and a commit per delivery
/// was most of its cost. Returns each delivery's changes, in order.
///
/// Repeats of open incidents — most of a storm — are not written one by
/// one: the batch's open incidents are read in one statement, [`decide`]
/// decides each alert on that read, repeats are counted in memory, and each repeated incident gets one UPDATE and one
/// root edit for the whole batch, written together at the end
/// ([`Repeated`]). Any other alert (a resolve, an acknowledgement, a new
/// incident) first writes the repeats its incident has gathered so far,
/// then takes the one-by-one path, so what it reads is current; later
/// alerts of that fingerprint in the batch take that path too.
pub async fn apply_batch(
    store: &Store,
    config: &AlertSettings,
    platforms: Platforms,
    batch: &[Pending],
) -> sqlx::Result<Vec<Vec<Change>>> {
    let backend = store.backend();
    let mut tx = store.begin_write().await?;
    let mut reads = Script::new(backend);
    reads.extend(open_reads(
        backend,
        &mut batch.iter().flat_map(|d| &d.alerts),
    ));
    let open = Open::of(&reads.run(&mut tx).await?)?;
    let mut tail = Script::new(backend);
    let all = apply_in(&mut tx, config, platforms, batch, open, &mut tail).await?;
    tail.run(&mut tx).await?;
    let ids: Vec<i64> = batch.iter().map(|d| d.id).collect();
    deliveries_done(&mut tx, &ids).await?;
    tx.commit().await?;
    Ok(all)
}

/// [`apply_batch`] on `conn`, inside the caller's transaction, without
/// marking the deliveries done: the delivery writer stores them done in the
/// same transaction ([`Applier`]). `open` holds the batch's open incidents
/// ([`open_reads`]); the repeats' writes go in `tail`, for the caller to
/// run before it commits.
pub async fn apply_in(
    tx: &mut AnyConnection,
    config: &AlertSettings,
    platforms: Platforms,
    batch: &[Pending],
    mut open: Open,
    tail: &mut Script,
) -> sqlx::Result<Vec<Vec<Change>>> {
    let now = now_ms();
    let mut repeated = Repeated::default();
    let mut all = Vec::with_capacity(batch.len());
    for delivery in batch {
        let mut changes = Vec::with_capacity(delivery.alerts.len());
        for alert in &delivery.alerts {
            // Decided on the batch's read of the open incident: only a
            // repeat is counted in memory; whatever else `decide` makes of
            // it takes the one-by-one path, which reads and decides again.
            if let Some(row) = open.get(alert)
                && let change @ Change::Repeated(_) =
                    decide::decide(alert.state, Some(row.id), None)
            {
                changes.push(change);
                repeated.count(row, alert, now);
                continue;
            }
            if let Some(row) = open.remove(alert) {
                repeated.write_one(tx, row.id).await?;
            }
            changes.push(apply_one(tx, config, platforms, alert, now).await?);
        }
        all.push(changes);
    }
    repeated.write_all(tail);
    Ok(all)
}

/// The statements reading the open incidents that `alerts` name: one per
/// source (and per 200 fingerprints).
pub fn open_reads(backend: Backend, alerts: &mut dyn Iterator<Item = &Alert>) -> Vec<Statement> {
    let mut by_source: HashMap<AlertSource, HashSet<&str>> = HashMap::new();
    for alert in alerts {
        by_source
            .entry(alert.source)
            .or_default()
            .insert(alert.fingerprint.as_str());
    }
    by_source
        .into_iter()
        .flat_map(|(source, wanted)| {
            let fingerprints: Vec<&str> = wanted.into_iter().collect();
            incidents::open_incidents(backend, source, &fingerprints)
        })
        .collect()
}

/// A batch's open incidents, by source and fingerprint, as
/// [`open_reads`] found them.
#[derive(Debug, Default)]
pub struct Open(HashMap<AlertSource, HashMap<String, OpenIncident>>);

impl Open {
    /// The open incidents in the rows of [`open_reads`]' statements.
    pub fn of(read: &[Vec<AnyRow>]) -> sqlx::Result<Open> {
        let mut open = Open::default();
        for row in read.iter().flatten() {
            let (source, fingerprint, incident) = incidents::open_incident_of(row)?;
            open.0
                .entry(source)
                .or_default()
                .insert(fingerprint, incident);
        }
        Ok(open)
    }

    fn get(&self, alert: &Alert) -> Option<&OpenIncident> {
        self.0.get(&alert.source)?.get(alert.fingerprint.as_str())
    }

    fn remove(&mut self, alert: &Alert) -> Option<OpenIncident> {
        self.0
            .get_mut(&alert.source)?
            .remove(alert.fingerprint.as_str())
    }
}

/// A batch's repeats of open incidents, gathered in memory and written
/// once per incident: its count, last time and severity, and one root
/// edit (drawn from the incident when it is sent) showing them.
#[derive(Default)]
struct Repeated {
    /// In the order each incident was first repeated.
    order: Vec<i64>,
    by_id: HashMap<i64, (Option<(Platform, String)>, incidents::Repeats)>,
}

impl Repeated {
    fn count(&mut self, open: &OpenIncident, alert: &Alert, now: i64) {
        let (_, r) = self.by_id.entry(open.id).or_insert_with(|| {
            self.order.push(open.id);
            (
                open.place.clone(),
                incidents::Repeats {
                    id: open.id,
                    count: 0,
                    last_seen: now,
                    severity: open.severity,
                },
            )
        });
        r.count += 1;
        r.last_seen = now;
        r.severity = r.severity.max(alert.severity);
    }

    /// Writes one incident's repeats now (another alert of it follows,
    /// which reads the incident).
    async fn write_one(&mut self, conn: &mut AnyConnection, id: i64) -> sqlx::Result<()> {
        let Some(entry) = self.by_id.remove(&id) else {
            return Ok(());
        };
        self.order.retain(|i| *i != id);
        let mut script = Script::for_conn(conn);
        write(&mut script, vec![entry]);
        script.execute(conn).await
    }

    /// Adds every incident's repeats to `tail`.
    fn write_all(mut self, tail: &mut Script) {
        let entries = self
            .order
            .iter()
            .filter_map(|id| self.by_id.remove(id))
            .collect();
        write(tail, entries);
    }
}

/// Adds to `script` the writes of `entries`: their counts, and their root
/// edits.
fn write(script: &mut Script, entries: Vec<(Option<(Platform, String)>, incidents::Repeats)>) {
    if entries.is_empty() {
        return;
    }
    let backend = script.backend();
    let updates: Vec<_> = entries.iter().map(|(_, r)| r.clone()).collect();
    script.extend(incidents::seen_again_many(backend, &updates));
    let edits: Vec<Edit> = entries
        .iter()
        .filter_map(|(place, r)| {
            let (platform, channel) = place.as_ref()?;
            Some(Edit {
                platform: *platform,
                channel,
                incident_id: r.id,
            })
        })
        .collect();
    script.extend(enqueue_edits(backend, &edits));
}

/// One alert the one-by-one way: read what [`decide`] needs, decide,
/// write the change, then its messages and follow-ups.
async fn apply_one(
    conn: &mut AnyConnection,
    config: &AlertSettings,
    platforms: Platforms,
    alert: &Alert,
    now: i64,
) -> sqlx::Result<Change> {
    let open = incidents::open_incident(conn, alert).await?;
    let reopenable = if decide::asks_reopenable(alert.state, open.as_ref().map(|r| r.id)) {
        let since = now - config.incidents.reopen_window.as_millis() as i64;
        incidents::resolved_since(conn, alert, since)
            .await?
            .map(|r| r.id)
    } else {
        None
    };
    let change = decide::decide(alert.state, open.as_ref().map(|r| r.id), reopenable);
    let acknowledged_here = open.as_ref().is_some_and(|r| r.view.acked_by.is_some());
    let change = decide::echo(change, alert.state, acknowledged_here);
    let known = match (change, open) {
        (Change::Resolved(id), _) => {
            incidents::resolve(conn, id, now).await?;
            None
        }
        (Change::Repeated(_), Some(mut row)) => {
            incidents::seen_again(conn, &row, alert, now).await?;
            // The row as the UPDATE left it, without reading it back: a
            // repeat is most of a storm's alerts.
            row.view.seen_count += 1;
            row.view.last_seen = incidents::time_ms(now);
            row.view.severity = row.view.severity.max(alert.severity);
            Some(row)
        }
        (Change::Reopened(id), _) => {
            incidents::reopen(conn, id, now).await?;
            None
        }
        (Change::Opened(_), _) => {
            let place = platforms.place_for(&config.routes, alert);
            let priority = config.incidents.severity.of(alert);
            let place = place.as_ref().map(|(p, c)| (*p, c.as_str()));
            let id = incidents::insert_incident(conn, alert, place, priority, now).await?;
            let hosts = medic_commands::triage::correlation::named_hosts(alert, &alert.chain);
            if !hosts.is_empty() {
                incidents::set_named_hosts(conn, id, &hosts).await?;
            }
            return queue_messages(conn, config, alert, Change::Opened(id), None, now).await;
        }
        _ => None,
    };
    queue_messages(conn, config, alert, change, known, now).await
}

/// Writes what people should see for `change` in the incident's channel,
/// its line in the timeline, and the jobs that follow a new incident;
/// returns `change`. `known` is the incident as it now stands when the
/// caller has it.
async fn queue_messages(
    conn: &mut AnyConnection,
    config: &AlertSettings,
    alert: &Alert,
    change: Change,
    known: Option<IncidentRow>,
    now: i64,
) -> sqlx::Result<Change> {
    let id = match change {
        Change::Nothing => return Ok(change),
        Change::Opened(id)
        | Change::Repeated(id)
        | Change::Reopened(id)
        | Change::Resolved(id)
        | Change::Noted(id) => id,
    };
    let (jobs, deferred) = match change {
        Change::Opened(_) => decide::follow_ups(alert, config),
        _ => (Vec::new(), false),
    };
    for job in &jobs {
        incidents::insert_job(conn, id, job.kind, &job.payload, now).await?;
    }
    if let Some(e) = decide::event(change, alert) {
        timeline::record(conn, id, now, e.kind, e.actor.as_ref(), &e.text).await?;
    }
    if matches!(change, Change::Resolved(_)) {
        incidents::insert_job(conn, id, postmortem::JOB_KIND, "", now).await?;
    }
    let row = match known {
        Some(row) => row,
        None => match incidents::incident(conn, id).await? {
            Some(row) => row,
            None => return Ok(change),
        },
    };
    let Some((platform, channel)) = row.place.clone() else {
        return Ok(change);
    };
    for message in decide::messages(change, alert, OffsetDateTime::now_utc(), deferred) {
        match message {
            decide::Message::Root => {
                let root = draw(platform).incident_root(&row.view);
                enqueue(conn, platform, &channel, id, OutboxKind::Root, &root).await?;
            }
            decide::Message::Edit => {
                enqueue(conn, platform, &channel, id, OutboxKind::Edit, "").await?;
            }
            decide::Message::Note(text) => reply(conn, &row, &text).await?,
        }
    }
    Ok(change)
}

async fn reply(conn: &mut AnyConnection, row: &IncidentRow, text: &str) -> sqlx::Result<()> {
    let Some((platform, channel)) = &row.place else {
        return Ok(());
    };
    let body = draw(*platform).incident_note(text);
    enqueue(conn, *platform, channel, row.id, OutboxKind::Reply, &body).await
}

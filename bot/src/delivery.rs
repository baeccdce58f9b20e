//! From running diagnostics to messages in the channel that asked, all of
//! them through the durable outbox.
//!
//! A quick diagnosis (most are: a healthy Redis answers in milliseconds)
//! reads best as one root message with its final status and the details in
//! its thread, so medic waits up to [`ROOT_GRACE`] for it. A slower one
//! (a dead target waiting out its timeout, `/diag all` over twenty targets)
//! gets its root message at once on Slack, saying what is being checked;
//! results stream into the thread as checks finish, batched by the
//! channel's posting pace (the next batch is queued when the last one is
//! sent), and the root is edited with the final status at the end. On
//! Discord the deferred answer ("medic is thinking…") already says that
//! something runs, so the report is queued whole when it is done.
//!
//! The finished diagnosis is stored and its messages queued in one
//! transaction. A run accepted before a crash or a SIGKILL is found still
//! `accepted` at the next start ([`recover`]), run again and delivered;
//! its messages already queued are sent, once, by the outbox.

use std::sync::Arc;
use std::time::Duration;

use medic_commands::diagnostics::{self, Target};
use medic_commands::model::inbound::{Actor, Place, Platform};
use medic_commands::{Diagnosis, Finding, Report, TargetRef};
use medic_integrations::chat::slack::render as slack_render;
use medic_integrations::chat::{Provenance, Wire, draw, wire};
use tracing::Instrument;

use crate::cluster::Claim;
use crate::coalesce::RunningKey;
use crate::outbox::Settled;
use crate::single_flight::RunWatch;
use crate::state::AppState;
use crate::storage::outbox::{NewRow, OutboxKind, push};
use crate::storage::runs::{self, NewRun, RunRecord};

/// How long the root message waits for every check before it is posted as
/// "checking…" and edited later. Slack paces a channel at one message a
/// second, so the thread could not start sooner anyway.
pub const ROOT_GRACE: Duration = Duration::from_secs(1);

/// How to deliver a report, once it exists.
#[derive(Debug, Clone)]
pub enum Delivery {
    /// Into a Slack channel, with the command's `response_url` as the way
    /// to reach the person when medic may not post in the channel.
    Slack {
        /// Where `chat.postMessage` goes.
        channel: String,
        /// Slack's per-command URL for delayed (ephemeral) answers
        /// (empty for a mention).
        response_url: String,
        /// For an `@medic` mention: the thread the whole report goes in
        /// (the root as a reply there, the details after it).
        thread_ts: Option<String>,
    },
    /// As the answer to a Discord interaction: its deferred response is
    /// edited into the root, and the details go into a thread started
    /// from it.
    Discord {
        /// The channel it came from (the outbox lane).
        channel: String,
        /// The interaction token (15 minutes), for the answer and
        /// follow-ups. Never logged.
        token: String,
        /// Resolves once the deferred answer has reached Discord: the
        /// token takes edits only after that.
        acked: crate::chat::discord::ack::Acked,
    },
    /// Into the console's one channel (`medic console`).
    Console {
        /// The console's channel.
        channel: String,
    },
}

impl Delivery {
    /// The platform it delivers to.
    pub fn platform(&self) -> Platform {
        match self {
            Delivery::Slack { .. } => Platform::Slack,
            Delivery::Discord { .. } => Platform::Discord,
            Delivery::Console { .. } => Platform::Console,
        }
    }

    /// The channel the report goes to.
    pub fn channel(&self) -> &str {
        match self {
            Delivery::Slack { channel, .. }
            | Delivery::Discord { channel, .. }
            | Delivery::Console { channel } => channel,
        }
    }

    /// The thread the whole report goes in (an @mention's).
    fn thread(&self) -> Option<&str> {
        match self {
            Delivery::Slack { thread_ts, .. } => thread_ts.as_deref(),
            Delivery::Discord { .. } | Delivery::Console { .. } => None,
        }
    }

    /// What the run's record keeps of this, so that a restarted medic can
    /// still deliver: `run` with the thread, `response_url` or token.
    pub fn record<'a>(&'a self, run: NewRun<'a>) -> NewRun<'a> {
        match self {
            Delivery::Slack {
                response_url,
                thread_ts,
                ..
            } => NewRun {
                thread_ts: thread_ts.as_deref(),
                response_url: Some(response_url.as_str()),
                ..run
            },
            Delivery::Discord { token, .. } => NewRun {
                interaction_token: Some(token.as_str()),
                ..run
            },
            Delivery::Console { .. } => run,
        }
    }

    /// A run recorded before a restart, delivered as it was asked.
    fn of(run: &RunRecord) -> Delivery {
        match run.platform {
            Platform::Console => Delivery::Console {
                channel: run.channel.clone(),
            },
            Platform::Slack => Delivery::Slack {
                channel: run.channel.clone(),
                response_url: run.response_url.clone().unwrap_or_default(),
                thread_ts: run.thread_ts.clone(),
            },
            Platform::Discord => Delivery::Discord {
                channel: run.channel.clone(),
                token: run.interaction_token.clone().unwrap_or_default(),
                acked: crate::chat::discord::ack::Acked::already(),
            },
        }
    }
}

/// The runs of one request, gathered as they progress.
#[derive(Debug)]
pub struct Gather {
    label: String,
    watches: Vec<RunWatch>,
    reports: Vec<Option<Arc<Report>>>,
    /// Findings taken from the runs and not yet shown, by target index.
    pending: Vec<(usize, Vec<Finding>)>,
}

impl Gather {
    /// Gathers `watches` under `label` (`redis`, `all`).
    pub fn new(label: String, watches: Vec<RunWatch>) -> Self {
        let reports = vec![None; watches.len()];
        Gather {
            label,
            watches,
            reports,
            pending: Vec::new(),
        }
    }

    /// The targets, in request order.
    pub fn targets(&self) -> Vec<TargetRef> {
        self.watches.iter().map(|w| w.target().clone()).collect()
    }

    /// Takes whatever the runs have published since the last call.
    pub fn take_now(&mut self) {
        for (i, w) in self.watches.iter_mut().enumerate() {
            let (new, report) = w.take();
            if !new.is_empty() {
                match self.pending.iter_mut().find(|(j, _)| *j == i) {
                    Some((_, list)) => list.extend(new),
                    None => self.pending.push((i, new)),
                }
            }
            if self.reports[i].is_none() {
                self.reports[i] = report.or_else(|| w.report_now());
            }
        }
    }

    /// Whether every run has its report.
    pub fn all_done(&self) -> bool {
        self.reports.iter().all(Option::is_some)
    }

    /// Waits until any unfinished run publishes something new.
    pub async fn wait_any(&mut self) {
        let waiting: Vec<_> = self
            .watches
            .iter_mut()
            .zip(&self.reports)
            .filter(|(_, r)| r.is_none())
            .map(|(w, _)| Box::pin(w.changed()))
            .collect();
        if !waiting.is_empty() {
            futures::future::select_all(waiting).await;
        }
    }

    /// Waits until every run has its report.
    pub async fn wait_all(&mut self) {
        loop {
            self.take_now();
            if self.all_done() {
                return;
            }
            self.wait_any().await;
        }
    }

    /// Findings not yet shown, with their targets, in arrival order.
    pub fn take_pending(&mut self) -> Vec<(TargetRef, Vec<Finding>)> {
        std::mem::take(&mut self.pending)
            .into_iter()
            .map(|(i, f)| (self.watches[i].target().clone(), f))
            .collect()
    }

    /// The whole diagnosis. Call once [`Gather::all_done`].
    pub fn diagnosis(&self) -> Diagnosis {
        Diagnosis {
            label: self.label.clone(),
            reports: self.reports.iter().flatten().cloned().collect(),
            cause: None,
        }
    }
}

/// Runs a request's diagnostics (joined with any run of the same target in
/// progress), queues its messages in the outbox and waits until the last
/// of them is in chat (or failed), recording the outcome.
pub async fn run_and_deliver(
    state: &AppState,
    run_id: i64,
    mut gather: Gather,
    prov: &Provenance,
    delivery: Delivery,
) {
    let platform = delivery.platform();
    let error = deliver(state, run_id, &mut gather, prov, &delivery, None)
        .await
        .err();
    if let Some(e) = &error {
        tracing::warn!(error = %e, "A report could not be delivered.");
    }
    state.metrics.report_finished(platform, error.is_none());
}

/// Queues a run's messages as its diagnosis progresses, then waits for
/// the last one. `root` is a root already queued for this run (a restart
/// found it), which the final report then edits.
async fn deliver(
    state: &AppState,
    run_id: i64,
    gather: &mut Gather,
    prov: &Provenance,
    delivery: &Delivery,
    root: Option<i64>,
) -> Result<(), String> {
    let last = match (delivery, root) {
        (Delivery::Slack { .. }, None) => stream(state, run_id, gather, prov, delivery).await,
        (Delivery::Slack { .. } | Delivery::Console { .. }, _) => {
            gather.wait_all().await;
            let diagnosis = gather.diagnosis();
            queue_final(state, run_id, &diagnosis, prov, delivery, root, false).await
        }
        (Delivery::Discord { acked, .. }, _) => {
            gather.wait_all().await;
            let diagnosis = gather.diagnosis();
            if !acked.wait().await {
                // The deferred answer never reached Discord: its token is
                // of no use, and nothing says "thinking" to replace.
                let mut tx = state.store.begin_write().await.map_err(|e| e.to_string())?;
                runs::store_report(&mut tx, run_id, &diagnosis)
                    .await
                    .map_err(|e| e.to_string())?;
                tx.commit().await.map_err(|e| e.to_string())?;
                let why = "the interaction was never answered, so Discord takes no report for it";
                let _ = state.store.fail_run(run_id, why).await;
                return Err(why.into());
            }
            queue_final(state, run_id, &diagnosis, prov, delivery, root, false).await
        }
    };
    let last = match last {
        Ok(id) => id,
        Err(error) => {
            let why = format!("its messages could not be queued: {error}");
            let _ = state.store.fail_run(run_id, &why).await;
            return Err(why);
        }
    };
    if state.outbox.settled(&state.store, last).await == Settled::Sent {
        return Ok(());
    }
    let run = state.store.run(run_id).await.ok().flatten();
    let error = run
        .as_ref()
        .and_then(|r| r.error.clone())
        .unwrap_or_else(|| "its messages were not delivered".into());
    if let (Delivery::Slack { response_url, .. }, Some(run)) = (delivery, &run)
        && matches!(error.as_str(), "not_in_channel" | "channel_not_found")
    {
        // Private channels and DMs need the bot invited; rather than lose
        // the report, show it to the person who asked.
        let slack = state.slack.as_ref().ok_or("Slack is not configured")?;
        let diagnosis = run.report.clone().unwrap_or_else(|| gather.diagnosis());
        slack
            .respond_privately(response_url, &diagnosis, prov, &error)
            .await?;
        if let Err(e) = state.store.run_delivered_privately(run_id).await {
            tracing::warn!(error = %e, "Could not record a report delivered privately.");
        }
        return Ok(());
    }
    Err(error)
}

/// Slack: the root (final if everything is in within [`ROOT_GRACE`],
/// "checking…" otherwise), the findings streamed into its thread as they
/// arrive, the root's final edit. Returns the last row queued.
async fn stream(
    state: &AppState,
    run_id: i64,
    gather: &mut Gather,
    prov: &Provenance,
    delivery: &Delivery,
) -> sqlx::Result<i64> {
    let _ = tokio::time::timeout(ROOT_GRACE, gather.wait_all()).await;
    gather.take_now();
    if gather.all_done() {
        gather.take_pending();
        let diagnosis = gather.diagnosis();
        return queue_final(state, run_id, &diagnosis, prov, delivery, None, false).await;
    }
    let targets = gather.targets();
    let channel = delivery.channel();
    let running = wire(&slack_render::running_root(&gather.label, &targets, prov));
    let mut tx = state.store.begin_write().await?;
    let root = push(
        &mut tx,
        &NewRow {
            run_id: Some(run_id),
            thread_ts: delivery.thread(),
            ..NewRow::new(Platform::Slack, channel, OutboxKind::Root, &running)
        },
    )
    .await?;
    state.outbox.commit(tx).await?;
    // Stream: queue what has arrived, wait until it is sent (the
    // channel's pace), meanwhile more arrives and goes out together.
    let several = targets.len() > 1;
    loop {
        gather.take_now();
        let batch = gather.take_pending();
        if !batch.is_empty() {
            let bodies: Vec<Wire> = slack_render::progress_messages(&batch, several)
                .iter()
                .map(wire)
                .collect();
            let mut tx = state.store.begin_write().await?;
            let mut last = root;
            for body in &bodies {
                last = push(
                    &mut tx,
                    &NewRow {
                        run_id: Some(run_id),
                        parent_id: Some(root),
                        ..NewRow::new(Platform::Slack, channel, OutboxKind::Reply, body)
                    },
                )
                .await?;
            }
            state.outbox.commit(tx).await?;
            state.outbox.settled(&state.store, last).await;
            continue;
        }
        if gather.all_done() {
            break;
        }
        gather.wait_any().await;
    }
    let diagnosis = gather.diagnosis();
    queue_final(state, run_id, &diagnosis, prov, delivery, Some(root), true).await
}

/// In one transaction: the diagnosis stored, and its messages queued — a
/// new root, or (`root` given) the root's final edit; the details in its
/// thread unless they were `streamed` there already; then the buttons of
/// the remediations it offers. Returns the last row queued.
///
/// Triage runs first ([`crate::incidents::triage::for_diagnosis`]): a
/// likely cause leads the root's second line and the thread (after the
/// findings when they were streamed there already).
async fn queue_final(
    state: &AppState,
    run_id: i64,
    diagnosis: &Diagnosis,
    prov: &Provenance,
    delivery: &Delivery,
    root: Option<i64>,
    streamed: bool,
) -> sqlx::Result<i64> {
    let platform = delivery.platform();
    let channel = delivery.channel();
    let draw = draw(platform);
    let mut diagnosis = diagnosis.clone();
    if diagnosis.cause.is_none() {
        diagnosis.cause = crate::incidents::triage::for_diagnosis(state, &diagnosis).await;
    }
    let diagnosis = &diagnosis;
    // Offers first: storing one is a write of its own, which on SQLite
    // would wait for the transaction below. Bound to the channel (and the
    // @mention's thread); on Discord the sender moves them into the
    // report's thread as it posts them.
    let place = Place {
        platform,
        channel: channel.to_string(),
        thread: delivery.thread().map(str::to_string),
    };
    let mut offers = Vec::new();
    for report in &diagnosis.reports {
        let buttons = crate::remediation::make_offers(state, report, &place).await;
        offers.extend(crate::incidents::render::offers(
            platform,
            &report.target.name,
            &buttons,
        ));
    }
    let root_body = draw.diagnosis_root(diagnosis, prov);
    let details = if streamed {
        diagnosis
            .cause
            .iter()
            .map(|c| draw.likely_cause(&medic_commands::triage::Triage::Likely(c.clone())))
            .collect()
    } else {
        draw.diagnosis_thread(diagnosis, prov)
    };
    let title = draw.diagnosis_thread_name(diagnosis);
    let mut tx = state.store.begin_write().await?;
    runs::store_report(&mut tx, run_id, diagnosis).await?;
    let root = match root {
        Some(root) => {
            push(
                &mut tx,
                &NewRow {
                    run_id: Some(run_id),
                    parent_id: Some(root),
                    ..NewRow::new(platform, channel, OutboxKind::Edit, &root_body)
                },
            )
            .await?;
            root
        }
        None => {
            push(
                &mut tx,
                &NewRow {
                    run_id: Some(run_id),
                    thread_ts: delivery.thread(),
                    title: title.as_deref(),
                    ..NewRow::new(platform, channel, OutboxKind::Root, &root_body)
                },
            )
            .await?
        }
    };
    for body in details.iter().chain(&offers) {
        push(
            &mut tx,
            &NewRow {
                run_id: Some(run_id),
                parent_id: Some(root),
                ..NewRow::new(platform, channel, OutboxKind::Reply, body)
            },
        )
        .await?;
    }
    // The run's last row (an edit coalesced into one still waiting keeps
    // that one's id, so the newest id is asked, not remembered).
    let last = crate::storage::outbox::last_of_run(&mut tx, run_id).await?;
    state.outbox.commit(tx).await?;
    Ok(last)
}

/// Runs interrupted by a stop or a crash (of this replica's predecessor,
/// or of another replica that is gone): those accepted within
/// `[outbox] give_up_after` are run again and delivered (their messages
/// already queued are not queued again: a root already there is edited);
/// older ones are marked failed.
pub async fn recover(state: &AppState) {
    let give_up = state.settings.outbox.give_up_after.as_millis() as i64;
    let since = crate::storage::now_ms() - give_up;
    match state.store.abandon_runs(since).await {
        Ok(0) => {}
        Ok(n) => tracing::warn!(
            runs = n,
            "Commands accepted before the last stop are too old to run again; marked failed."
        ),
        Err(error) => tracing::warn!(%error, "Could not read runs left unfinished."),
    }
    // Only runs whose replica is gone (this process's predecessor, or a
    // replica that died): this one's and a live replica's are running.
    let me = state.duties.holder();
    let now = crate::storage::now_ms();
    let runs = match state.store.orphaned_runs(since, me, now).await {
        Ok(r) => r,
        Err(error) => {
            tracing::warn!(%error, "Could not read runs left unfinished; they are not delivered.");
            return;
        }
    };
    for run in runs {
        match state.store.take_run(&run, me).await {
            Ok(true) => {}
            // Another replica took it over first.
            Ok(false) => continue,
            Err(error) => {
                tracing::warn!(%error, run = run.id, "Could not take over a run left unfinished.");
                continue;
            }
        }
        let selected: Vec<Target> = diagnostics::select(&state.targets, &run.target)
            .unwrap_or_default()
            .into_iter()
            .cloned()
            .collect();
        let root = match state.store.outbox_root_of_run(run.id).await {
            Ok(r) => r,
            Err(error) => {
                tracing::warn!(%error, run = run.id, "Could not read a run's messages; it is not delivered.");
                continue;
            }
        };
        tracing::info!(run = run.id, target = %run.target, "A command accepted before the last stop runs again.");
        let prov = Provenance {
            command: run.command.clone(),
            actor: Some(Actor {
                id: run.actor.0.clone(),
                name: run.actor.1.clone(),
            }),
            reference: Some(run.id),
        };
        let job = state.clone();
        let span =
            tracing::info_span!("diag", run = run.id, target = %run.target, recovered = true);
        state.tasks.spawn(
            async move {
                let watches = selected.iter().map(|t| job.diagnostics.watch(t)).collect();
                let mut gather = Gather::new(run.target.clone(), watches);
                let delivery = Delivery::of(&run);
                let result = deliver(&job, run.id, &mut gather, &prov, &delivery, root).await;
                if let Err(e) = &result {
                    tracing::warn!(error = %e, "A recovered report could not be delivered.");
                }
                job.metrics.report_finished(run.platform, result.is_ok());
                // The dead replica's claim on the channel named this run:
                // the report is in, so the next `/diag` runs anew.
                if let Some(cluster) = &job.cluster {
                    let key = RunningKey::new(run.platform, &run.channel, &run.target);
                    cluster.release(&Claim::of_run(&key, run.id)).await;
                }
            }
            .instrument(span),
        );
    }
}

//! From running diagnostics to messages in the channel that asked.
//!
//! A quick diagnosis (most are: a healthy Redis answers in milliseconds)
//! reads best as one root message with its final status and the details in
//! its thread, so medic waits up to [`ROOT_GRACE`] for it. A slower one
//! (a dead target waiting out its timeout, `/diag all` over twenty targets)
//! gets its root message at once, saying what is being checked; results
//! stream into the thread as checks finish, batched by the channel's
//! posting pace, and the root is edited with the final status at the end.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;

use medic_commands::model::inbound::Platform;
use medic_commands::{Diagnosis, Finding, Report, TargetRef};
use medic_integrations::chat::Provenance;
use medic_integrations::chat::slack::client::SlackApiError;
use medic_integrations::chat::slack::render;
use slack_morphism::prelude::SlackMessageContent;

use crate::app::AppState;
use crate::single_flight::RunWatch;

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
        acked: crate::discord::ack::Acked,
    },
}

impl Delivery {
    /// The platform it delivers to.
    pub fn platform(&self) -> Platform {
        match self {
            Delivery::Slack { .. } => Platform::Slack,
            Delivery::Discord { .. } => Platform::Discord,
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
        }
    }
}

/// Runs a request's diagnostics (joined with any run of the same target in
/// progress) and delivers the result, recording each step.
pub async fn run_and_deliver(
    state: &AppState,
    run_id: i64,
    mut gather: Gather,
    prov: &Provenance,
    delivery: Delivery,
) {
    let platform = delivery.platform();
    let outcome = match delivery {
        Delivery::Slack {
            channel,
            response_url,
            thread_ts,
        } => {
            deliver_slack(
                state,
                run_id,
                &mut gather,
                prov,
                &channel,
                &response_url,
                thread_ts.as_deref(),
            )
            .await
        }
        Delivery::Discord {
            channel,
            token,
            acked,
        } => deliver_discord(state, run_id, &mut gather, prov, &channel, &token, &acked).await,
    };
    let error = outcome.err();
    if let Some(e) = &error {
        tracing::warn!(error = %e, "A report could not be delivered.");
    }
    if let Err(db) = state.store.finish_run(run_id, error.as_deref()).await {
        tracing::warn!(error = %db, "Could not mark a run finished.");
    }
    state.metrics.report_finished(platform, error.is_none());
}

/// Stores the finished diagnosis; a database failure costs the record, not
/// the answer in chat.
async fn record(state: &AppState, run_id: i64, diagnosis: &Diagnosis) {
    if let Err(error) = state.store.set_report(run_id, diagnosis).await {
        tracing::warn!(%error, "Could not store a report; delivering it anyway.");
    }
}

async fn deliver_slack(
    state: &AppState,
    run_id: i64,
    gather: &mut Gather,
    prov: &Provenance,
    channel: &str,
    response_url: &str,
    in_thread: Option<&str>,
) -> Result<(), String> {
    let Some(slack) = &state.slack else {
        return Err("Slack is not configured".into());
    };
    let _ = tokio::time::timeout(ROOT_GRACE, gather.wait_all()).await;
    gather.take_now();

    // The root: final when everything is in by the time the channel's pace
    // lets it go out, "checking…" otherwise.
    let targets = gather.targets();
    let mut root_final = false;
    let posted = slack
        .outbox
        .send(channel, || {
            gather.take_now();
            root_final = gather.all_done();
            let root = if root_final {
                render::diagnosis_root(&gather.diagnosis(), prov)
            } else {
                render::running_root(&gather.label, &targets, prov)
            };
            slack.api.post_message(channel, root, in_thread)
        })
        .await;
    let posted = match posted {
        Ok(p) => p,
        Err(SlackApiError::Rejected { code })
            if code == "not_in_channel" || code == "channel_not_found" =>
        {
            // Private channels and DMs need the bot invited; rather than
            // lose the report, show it to the person who asked.
            gather.wait_all().await;
            let diagnosis = gather.diagnosis();
            record(state, run_id, &diagnosis).await;
            return slack
                .respond_privately(response_url, &diagnosis, prov, &code)
                .await;
        }
        Err(e) => return Err(e.to_string()),
    };
    // A final root is on record together with its diagnosis.
    let final_diagnosis = root_final.then(|| gather.diagnosis());
    if let Err(error) = state
        .store
        .set_root(run_id, &posted.ts, final_diagnosis.as_ref())
        .await
    {
        tracing::warn!(%error, "Could not record the root message and its report.");
    }
    // Slack threads do not nest: under a mention, the details follow the
    // root in the mention's thread.
    let thread_ts = in_thread.unwrap_or(&posted.ts);

    if let Some(diagnosis) = final_diagnosis {
        gather.take_pending();
        post_in_thread(state, channel, thread_ts, || {
            render::diagnosis_thread(&diagnosis, prov)
        })
        .await?;
        offer_remediations(state, channel, &posted.ts, &diagnosis).await?;
        return Ok(());
    }

    // Stream: post what has arrived, wait for more, until every run is in.
    // While a post waits for the channel's pace, results keep arriving and
    // go out together in the next one.
    let several = targets.len() > 1;
    loop {
        gather.take_now();
        let batch = gather.take_pending();
        if !batch.is_empty() {
            post_in_thread(state, channel, thread_ts, || {
                render::progress_messages(&batch, several)
            })
            .await?;
            continue;
        }
        if gather.all_done() {
            break;
        }
        gather.wait_any().await;
    }
    let diagnosis = gather.diagnosis();
    record(state, run_id, &diagnosis).await;
    let root = render::diagnosis_root(&diagnosis, prov);
    slack
        .outbox
        .send(channel, || {
            slack.api.update_message(channel, &posted.ts, root.clone())
        })
        .await
        .map_err(|e| e.to_string())?;
    offer_remediations(state, channel, &posted.ts, &diagnosis).await?;
    Ok(())
}

/// Posts, in the report's thread, the buttons of the actions its reports
/// offer (`[actions.NAME] offered_on`), each bound to this thread.
async fn offer_remediations(
    state: &AppState,
    channel: &str,
    root_ts: &str,
    diagnosis: &Diagnosis,
) -> Result<(), String> {
    let place = medic_commands::model::inbound::Place {
        platform: Platform::Slack,
        channel: channel.to_string(),
        thread: Some(root_ts.to_string()),
    };
    for report in &diagnosis.reports {
        let buttons = crate::remediation::make_offers(state, report, &place).await;
        if buttons.is_empty() {
            continue;
        }
        let expires = buttons
            .iter()
            .map(|b| b.expires_in)
            .min()
            .unwrap_or(medic_commands::actions::DEFAULT_EXPIRES);
        let note = format!("in {}", medic_commands::format::human_duration(expires));
        let message = medic_integrations::chat::slack::buttons::offer_message(
            &report.target.name,
            &buttons,
            &note,
        );
        // Boxed, as offers are: the message it carries would otherwise
        // sit in every delivery's task.
        Box::pin(post_in_thread(state, channel, root_ts, || vec![message])).await?;
    }
    Ok(())
}

/// Posts `render`'s messages, in order, in the thread under `root_ts`.
///
/// They are rendered when the first one's turn comes at the channel's
/// pace, not before: a report waiting its turn (about a second behind its
/// root) holds its shared diagnosis, not kilobytes of Block Kit per
/// message, which under a flood of commands is the difference between
/// hundreds of rendered threads in memory and a handful.
async fn post_in_thread(
    state: &AppState,
    channel: &str,
    root_ts: &str,
    render: impl FnOnce() -> Vec<SlackMessageContent>,
) -> Result<(), String> {
    let slack = state.slack.as_ref().ok_or("Slack is not configured")?;
    let api = &slack.api;
    let mut render = Some(render);
    let mut queue = VecDeque::new();
    loop {
        slack
            .outbox
            .send(channel, || {
                if let Some(render) = render.take() {
                    queue = render().into();
                }
                let next = queue.front().cloned();
                async move {
                    match next {
                        Some(message) => api
                            .post_message(channel, message, Some(root_ts))
                            .await
                            .map(drop),
                        // Nothing to say after all (never, for today's
                        // renderers): the turn passes unused.
                        None => Ok(()),
                    }
                }
            })
            .await
            .map_err(|e| e.to_string())?;
        queue.pop_front();
        if queue.is_empty() {
            return Ok(());
        }
    }
}

/// Discord: the deferred answer ("medic is thinking…") already says that
/// something runs, so there is no "checking…" root to post and edit: the
/// answer is edited once into the final root, a thread is started from
/// it, and the findings go into the thread. Where no thread can be started
/// (a DM, no permission to create threads), they follow as follow-up
/// messages to the interaction instead, which need no channel permission.
async fn deliver_discord(
    state: &AppState,
    run_id: i64,
    gather: &mut Gather,
    prov: &Provenance,
    channel: &str,
    token: &str,
    acked: &crate::discord::ack::Acked,
) -> Result<(), String> {
    use medic_integrations::chat::discord::render as discord_render;

    let Some(discord) = &state.discord else {
        return Err("Discord is not configured".into());
    };
    gather.wait_all().await;
    let diagnosis = gather.diagnosis();
    record(state, run_id, &diagnosis).await;
    if !acked.wait().await {
        return Err("the interaction was never answered, so Discord takes no report for it".into());
    }
    let root = discord_render::diagnosis_root(&diagnosis, prov);
    let posted = discord
        .outbox
        .send(channel, || discord.api.edit_original(token, &root))
        .await
        .map_err(|e| e.to_string())?;
    if let Err(error) = state.store.set_root(run_id, &posted.id, None).await {
        tracing::warn!(%error, "Could not record the root message.");
    }
    let parent = if posted.channel_id.is_empty() {
        channel
    } else {
        posted.channel_id.as_str()
    };
    let name = discord_render::thread_name(&diagnosis);
    let thread = discord
        .outbox
        .send(parent, || {
            discord.api.start_thread(parent, &posted.id, &name)
        })
        .await;
    let messages = discord_render::diagnosis_thread(&diagnosis, prov);
    match thread {
        Ok(thread) => {
            for m in &messages {
                discord
                    .outbox
                    .send(&thread, || discord.api.create_message(&thread, m, None))
                    .await
                    .map_err(|e| e.to_string())?;
            }
            crate::remediation::discord::offer(state, &thread, &diagnosis.reports).await?;
        }
        Err(error) => {
            tracing::warn!(%error, "Could not start a thread for a report; its details follow as replies.");
            for m in &messages {
                discord
                    .outbox
                    .send(channel, || discord.api.followup(token, m))
                    .await
                    .map_err(|e| e.to_string())?;
            }
        }
    }
    Ok(())
}

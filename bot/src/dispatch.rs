//! From a command someone typed to a report in their channel, on any
//! platform: parse → per-user limit → coalesce → record → acknowledge; then,
//! in the background, run the diagnostic and deliver the report.
//!
//! The acknowledgement never waits for a diagnostic: Slack and Discord drop
//! an answer after 3 s, and a dead target takes its whole timeout to say so.

use std::time::Instant;

use medic_commands::TargetRef;
use medic_commands::command::{ChatCommand, help_text};
use medic_commands::diagnostics::{self, Target};
use medic_commands::model::inbound::{CommandInvocation, Platform};
use medic_integrations::chat::Provenance;
use tracing::Instrument;

use crate::app::AppState;
use crate::delivery::{Delivery, Gather, run_and_deliver};
use crate::storage::runs::NewRun;
use crate::telemetry::metrics::AckOutcome;

/// The immediate answer to a command, shown only to its author.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ack {
    /// The text of the ephemeral answer.
    pub text: String,
    /// How it was answered, for metrics and tests.
    pub outcome: AckOutcome,
}

fn ack(text: impl Into<String>, outcome: AckOutcome) -> Ack {
    Ack {
        text: text.into(),
        outcome,
    }
}

/// Handles a typed command and returns the immediate answer; a diagnostic
/// it starts runs on after this returns.
pub async fn command(state: &AppState, inv: CommandInvocation, delivery: Delivery) -> Ack {
    let started = Instant::now();
    let answer = decide(state, &inv, delivery).await;
    state
        .metrics
        .command_ack(inv.place.platform, answer.outcome, started.elapsed());
    answer
}

fn target_refs(state: &AppState) -> Vec<TargetRef> {
    state.targets.values().map(Target::target_ref).collect()
}

async fn decide(state: &AppState, inv: &CommandInvocation, delivery: Delivery) -> Ack {
    let parsed = ChatCommand::parse_split(&inv.name, &inv.args);
    let target_name = match parsed {
        Ok(ChatCommand::Help) => return ack(help_text(&target_refs(state)), AckOutcome::Help),
        Err(e) => {
            return ack(
                format!("{e}\n\n{}", help_text(&target_refs(state))),
                AckOutcome::Help,
            );
        }
        Ok(ChatCommand::Diag { target }) => target,
    };
    let Some(selected) = diagnostics::select(&state.targets, &target_name) else {
        return ack(
            format!(
                "I don't know the target `{target_name}`.\n\n{}",
                help_text(&target_refs(state))
            ),
            AckOutcome::Help,
        );
    };

    if let Err(wait) = state.limiter.check(inv.place.platform, &inv.actor.id) {
        return ack(
            format!(
                "You've run a lot of commands in the last minute; try again in {} s.",
                wait.as_secs().max(1)
            ),
            AckOutcome::RateLimited,
        );
    }

    // Five people typing `/diag redis` in the incident channel at once get
    // one report, not five.
    let key = (
        inv.place.platform,
        inv.place.channel.clone(),
        target_name.clone(),
    );
    let admission = {
        let mut in_flight = state.in_flight.lock().expect("in-flight lock");
        match in_flight.get(&key) {
            Some(existing) => Admission::Running(*existing),
            // Backpressure: every accepted command holds a permit until its
            // report is in chat. When chat delivery or the targets cannot
            // keep up (an alert storm, a script), say so now instead of
            // queueing without bound.
            None => match state.pending.clone().try_acquire_owned() {
                Ok(permit) => {
                    // Reserve the channel before the await below, so a
                    // concurrent duplicate sees it; the number is filled in
                    // once recorded.
                    in_flight.insert(key.clone(), 0);
                    Admission::Admitted(permit)
                }
                Err(_) => Admission::Busy,
            },
        }
    };
    let permit = match admission {
        Admission::Admitted(permit) => permit,
        Admission::Running(existing) => {
            // 0: the first request is still being recorded and has no number yet.
            let reference = if existing > 0 {
                format!(" (#{existing})")
            } else {
                String::new()
            };
            return ack(
                format!(
                    "Diagnostics for *{target_name}* are already running in this channel{reference}; the report will be posted here."
                ),
                AckOutcome::Coalesced,
            );
        }
        Admission::Busy => {
            return ack(
                "medic is busy: too many reports are waiting to be delivered. Try again in a minute.",
                AckOutcome::Busy,
            );
        }
    };

    let command_text = format!(
        "/{} {}",
        inv.name.trim_start_matches('/'),
        inv.args.join(" ")
    );
    let command_text = command_text.trim().to_string();
    let recorded = state
        .store
        .insert_run(&NewRun {
            platform: inv.place.platform.as_str(),
            channel: &inv.place.channel,
            actor_id: &inv.actor.id,
            actor_name: &inv.actor.name,
            command: &command_text,
            target: &target_name,
        })
        .await;
    let run_id = match recorded {
        Ok(id) => id,
        Err(error) => {
            state.in_flight.lock().expect("in-flight lock").remove(&key);
            tracing::error!(%error, "Could not record a command; the database is failing.");
            return ack(
                "medic could not record this command (its database is failing), so it did not run it. Try again in a minute; the operator has a log line.",
                AckOutcome::Failed,
            );
        }
    };
    state
        .in_flight
        .lock()
        .expect("in-flight lock")
        .insert(key.clone(), run_id);

    let prov = Provenance {
        command: command_text,
        actor: Some(inv.actor.clone()),
        reference: Some(run_id),
    };
    let job_state = state.clone();
    let selected: Vec<Target> = selected.into_iter().cloned().collect();
    let what = match selected.as_slice() {
        [only] => only.spec.location(),
        many => format!(
            "{} targets: {}",
            many.len(),
            many.iter()
                .map(|t| t.name.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        ),
    };
    let span = tracing::info_span!("diag", run = run_id, target = %target_name);
    let label = target_name.clone();
    state.tasks.spawn(
        async move {
            let watches = selected
                .iter()
                .map(|t| job_state.diagnostics.watch(t))
                .collect();
            let gather = Gather::new(label, watches);
            run_and_deliver(&job_state, run_id, gather, &prov, delivery).await;
            drop(permit);
            job_state
                .in_flight
                .lock()
                .expect("in-flight lock")
                .remove(&key);
        }
        .instrument(span),
    );
    ack(
        format!("Running diagnostics for *{target_name}* ({what})… (#{run_id})"),
        AckOutcome::Accepted,
    )
}

/// Whether a command may start a diagnostic in its channel.
enum Admission {
    /// Yes; the permit is held until its report is delivered.
    Admitted(tokio::sync::OwnedSemaphorePermit),
    /// The same target is already being diagnosed there, as run `#n`
    /// (0 while that run is still being recorded).
    Running(i64),
    /// Too many reports are waiting to be delivered.
    Busy,
}

/// Diagnostics running now, by (platform, channel, target), with their run
/// number: what coalesces duplicate commands.
pub type InFlight = std::sync::Mutex<std::collections::HashMap<(Platform, String, String), i64>>;

//! From a command someone typed to a report in their channel, on any
//! platform: parse → per-user limit → coalesce → (with `[redis]`, the same
//! two across replicas) → record → acknowledge; then, in the background,
//! run the diagnostic and deliver the report.
//!
//! The acknowledgement never waits for a diagnostic: Slack and Discord drop
//! an answer after 3 s, and a dead target takes its whole timeout to say so.
//!
//! A flood of commands (a channel of people, a script, a retry storm) is
//! mostly answered at once: help, "already running", "busy". Those answers
//! are decided on the command as the request holds it ([`Typed`]), without
//! copying a field or allocating a key; only a command that is accepted is
//! copied, recorded and spawned ([`accept`]).

use std::borrow::Cow;
use std::time::Instant;

use medic_commands::TargetRef;
use medic_commands::command::{ChatCommand, help_text};
use medic_commands::diagnostics::{self, Target};
use medic_commands::model::inbound::Actor;
use medic_integrations::chat::Provenance;
use tracing::Instrument;

pub(crate) mod typed;

pub use typed::{Ack, Typed};
pub(crate) use typed::{ack, rate_limited};

use crate::cluster::{Claim, Verdict};
use crate::coalesce::RunningKey;
use crate::delivery::{Delivery, Gather, run_and_deliver};
use crate::state::AppState;
use crate::storage::runs::NewRun;
use crate::telemetry::metrics::AckOutcome;

/// Handles a typed command and returns the immediate answer; a diagnostic
/// it starts runs on after this returns. `delivery` says where its report
/// goes, and is called only for a command that is accepted.
pub async fn command(
    state: &AppState,
    typed: Typed<'_>,
    delivery: impl FnOnce() -> Delivery,
) -> Ack {
    let started = Instant::now();
    let answer = match ChatCommand::parse_slash(typed.name, typed.text) {
        Ok(ChatCommand::Help) => ack(help_text(&target_refs(state)), AckOutcome::Help),
        Err(e) => ack(
            format!("{e}\n\n{}", help_text(&target_refs(state))),
            AckOutcome::Help,
        ),
        Ok(ChatCommand::OnCall { rotation }) => ack(
            crate::oncall::answer(state, rotation.as_deref(), typed.platform),
            AckOutcome::Answered,
        ),
        // Boxed like `accept`, below.
        Ok(ChatCommand::Handoff { rotation }) => {
            Box::pin(handoff(state, &typed, rotation.as_deref())).await
        }
        Ok(ChatCommand::Incident { action, number }) => {
            Box::pin(crate::incidents::command::run(
                state, &typed, action, number,
            ))
            .await
        }
        Ok(ChatCommand::Declare { title, level }) => {
            Box::pin(crate::incidents::command::declare(
                state, &typed, &title, level,
            ))
            .await
        }
        Ok(ChatCommand::Diag { target }) => match admit(state, &typed, target) {
            // Boxed, so that the future of every command answered at once
            // (hyper allocates one per request) does not carry the size of
            // recording one.
            Ok(admitted) => Box::pin(accept(state, typed, admitted, delivery())).await,
            Err(answer) => answer,
        },
    };
    state
        .metrics
        .command_ack(typed.platform, answer.outcome, started.elapsed());
    answer
}

fn target_refs(state: &AppState) -> Vec<TargetRef> {
    state.targets.values().map(Target::target_ref).collect()
}

/// A command that may run: its target, its place among those in flight,
/// and the permit it holds until its report is delivered.
struct Admitted<'a> {
    target: Cow<'a, str>,
    reserved: Reservation,
    permit: tokio::sync::OwnedSemaphorePermit,
}

/// A channel's place for a target among the diagnostics in flight, on
/// this replica and (with `[redis]`) across replicas. Given up when
/// dropped: when the report is delivered, when the command is refused
/// after all, and when the request is dropped half-way (Slack hangs up
/// after 3 s) or the run panics — a place kept by mistake would answer
/// "already running" in that channel until restart.
struct Reservation {
    state: AppState,
    key: RunningKey,
    claim: Option<Claim>,
}

impl Drop for Reservation {
    fn drop(&mut self) {
        self.state
            .in_flight
            .lock()
            .expect("in-flight lock")
            .remove(&self.key);
        if let (Some(claim), Some(_)) = (self.claim.take(), &self.state.cluster) {
            let state = self.state.clone();
            tokio::spawn(async move {
                if let Some(cluster) = &state.cluster {
                    cluster.release(&claim).await;
                }
            });
        }
    }
}

/// The answer to a `/diag` of a target that is running in the channel.
fn already_running(target: &str, number: Option<i64>) -> Ack {
    let reference = number.map(|n| format!(" (#{n})")).unwrap_or_default();
    ack(
        format!(
            "Diagnostics for *{target}* are already running in this channel{reference}; the report will be posted here."
        ),
        AckOutcome::Coalesced,
    )
}

/// Whether `/diag target` runs, or the answer it gets at once.
fn admit<'a>(
    state: &AppState,
    typed: &Typed<'a>,
    target: Cow<'a, str>,
) -> Result<Admitted<'a>, Ack> {
    if !diagnostics::selects(&state.targets, &target) {
        return Err(ack(
            format!(
                "I don't know the target `{target}`.\n\n{}",
                help_text(&target_refs(state))
            ),
            AckOutcome::Help,
        ));
    }

    if let Err(wait) = state.limiter.check(typed.platform, typed.actor_id) {
        return Err(rate_limited(wait));
    }

    // Five people typing `/diag redis` in the incident channel at once get
    // one report, not five.
    let key = RunningKey::new(typed.platform, typed.channel, &target);
    let mut in_flight = state.in_flight.lock().expect("in-flight lock");
    if let Some(existing) = in_flight.get(&key) {
        // 0: the first request is still being recorded and has no number yet.
        return Err(already_running(
            &target,
            (*existing > 0).then_some(*existing),
        ));
    }
    // Backpressure: every accepted command holds a permit until its report
    // is in chat. When chat delivery or the targets cannot keep up (an
    // alert storm, a script), say so now instead of queueing without
    // bound.
    let Ok(permit) = state.pending.clone().try_acquire_owned() else {
        return Err(ack(
            "medic is busy: too many reports are waiting to be delivered. Try again in a minute.",
            AckOutcome::Busy,
        ));
    };
    // Reserve the channel before recording (an await), so that a
    // concurrent duplicate sees it; the number is filled in once recorded.
    in_flight.insert(key.clone(), 0);
    drop(in_flight);
    Ok(Admitted {
        target,
        reserved: Reservation {
            state: state.clone(),
            key,
            claim: None,
        },
        permit,
    })
}

/// Records an admitted command, starts its diagnostic and delivery in the
/// background, and says so.
async fn accept(
    state: &AppState,
    typed: Typed<'_>,
    admitted: Admitted<'_>,
    delivery: Delivery,
) -> Ack {
    let Admitted {
        target,
        mut reserved,
        permit,
    } = admitted;
    // Across replicas: the person's shared budget and the channel's
    // shared claim. Refused here, the reservation and the permit are
    // given up as they drop.
    if let Some(cluster) = &state.cluster {
        match cluster
            .admit(typed.platform, typed.actor_id, Some(&reserved.key))
            .await
        {
            Some(Verdict::Admitted(claim)) => reserved.claim = claim,
            Some(Verdict::Limited(wait)) => return rate_limited(wait),
            Some(Verdict::Running(number)) => return already_running(&target, number),
            None => {}
        }
    }
    let words: Vec<&str> = typed.text.split_whitespace().collect();
    let command_text = format!(
        "/{} {}",
        typed.name.trim_start_matches('/'),
        words.join(" ")
    );
    let command_text = command_text.trim().to_string();
    let recorded = state
        .store
        .insert_run(
            &delivery.record(NewRun {
                platform: typed.platform,
                channel: typed.channel,
                actor_id: typed.actor_id,
                actor_name: typed.actor_name,
                command: &command_text,
                target: &target,
                thread_ts: None,
                response_url: None,
                interaction_token: None,
            }),
            state.duties.holder(),
        )
        .await;
    let run_id = match recorded {
        Ok(id) => id,
        Err(error) => {
            tracing::error!(%error, "Could not record a command; the database is failing.");
            return ack(
                "medic could not record this command (its database is failing), so it did not run it. Try again in a minute; the operator has a log line.",
                AckOutcome::Failed,
            );
        }
    };
    if let Some(number) = state
        .in_flight
        .lock()
        .expect("in-flight lock")
        .get_mut(&reserved.key)
    {
        *number = run_id;
    }
    if let (Some(cluster), Some(claim)) = (&state.cluster, &mut reserved.claim) {
        cluster.recorded(claim, run_id).await;
    }

    let prov = Provenance {
        command: command_text,
        actor: Some(Actor {
            id: typed.actor_id.to_string(),
            name: typed.actor_name.to_string(),
        }),
        reference: Some(run_id),
    };
    let selected: Vec<Target> = diagnostics::select(&state.targets, &target)
        .unwrap_or_default()
        .into_iter()
        .cloned()
        .collect();
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
    let span = tracing::info_span!("diag", run = run_id, target = %target);
    let label = target.to_string();
    let job_state = state.clone();
    state.tasks.spawn(
        async move {
            let watches = selected
                .iter()
                .map(|t| job_state.diagnostics.watch(t))
                .collect();
            let gather = Gather::new(label, watches);
            run_and_deliver(&job_state, run_id, gather, &prov, delivery).await;
            // Until its report is in chat, the same command in the same
            // channel joins it ("the report will be posted here").
            drop(permit);
            drop(reserved);
        }
        .instrument(span),
    );
    ack(
        format!("Running diagnostics for *{target}* ({what})… (#{run_id})"),
        AckOutcome::Accepted,
    )
}

/// `/handoff [ROTATION]`: the digest of the shift so far, from whoever
/// holds the pager to whoever is next, posted in the rotation's channel.
async fn handoff(state: &AppState, typed: &Typed<'_>, rotation: Option<&str>) -> Ack {
    let oncall = crate::oncall::live(state);
    let chosen = match rotation {
        Some(name) => oncall
            .rotations
            .get(name)
            .ok_or_else(|| oncall.unknown(name)),
        None => match oncall.rotations.values().collect::<Vec<_>>().as_slice() {
            [only] => Ok(*only),
            [] => Err(
                "No on-call rotations are configured (`[[oncall.rotations]]` in medic.toml)."
                    .to_string(),
            ),
            many => Err(format!(
                "Which rotation? `/handoff NAME`, one of: {}.",
                many.iter()
                    .map(|r| format!("`{}`", r.name))
                    .collect::<Vec<_>>()
                    .join(", ")
            )),
        },
    };
    let rotation = match chosen {
        Ok(r) => r,
        Err(text) => return ack(text, AckOutcome::Help),
    };
    if let Err(wait) = crate::budget::spend(state, typed.platform, typed.actor_id).await {
        return rate_limited(wait);
    }
    let now = state.clock.now();
    let schedule = &rotation.schedule;
    let (Some(current), Some(next)) = (schedule.shift_at(now), schedule.next_after(now)) else {
        return ack(
            format!(
                "Nobody is on call in *{}* now, so there is nothing to hand over.",
                rotation.name
            ),
            AckOutcome::Answered,
        );
    };
    let places = crate::oncall::digest::places(state, rotation);
    if places.is_empty() {
        return ack(
            format!(
                "Rotation *{}* has no channel on a platform this medic serves (`slack_channel`, `discord_channel`).",
                rotation.name
            ),
            AckOutcome::Help,
        );
    }
    let asked_by = Actor {
        id: typed.actor_id.to_string(),
        name: typed.actor_name.to_string(),
    };
    let window = (current.start.as_millisecond(), now.as_millisecond());
    let handover = medic_commands::oncall::Handover {
        outgoing: Some(current),
        incoming: next,
    };
    let digest = crate::oncall::digest::Digest {
        rotation,
        handover: &handover,
        scheduled_for: None,
        asked_by: Some(&asked_by),
        window,
    };
    match crate::oncall::digest::post(state, digest).await {
        Ok(_) => ack(
            format!(
                "The *{}* handoff digest is on its way to {}.",
                rotation.name,
                places
                    .iter()
                    .map(|(p, c)| crate::oncall::digest::channel_name(*p, c))
                    .collect::<Vec<_>>()
                    .join(" and ")
            ),
            AckOutcome::Answered,
        ),
        Err(error) => {
            tracing::error!(%error, "Could not queue a handoff digest; the database is failing.");
            ack(
                "medic could not queue the digest (its database is failing). Try again in a minute; the operator has a log line.",
                AckOutcome::Failed,
            )
        }
    }
}

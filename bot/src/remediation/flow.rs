//! A click → the answer and the next state. Every refusal runs nothing
//! and says why (naming the rule) to the clicker alone; every decision is
//! audited.

use medic_commands::actions::policy;
use medic_commands::model::inbound::{ButtonClick, ClickVerb};

use super::UNKNOWN;
use super::status::refresh;
use super::{Notifier, audit, gate, run, status};
use crate::state::AppState;
use crate::storage::audit::AuditEvent;
use crate::storage::now_ms;
use crate::storage::offers::{Request, RequestState, new_id};

/// Handles one click to its end (including the run, when it starts one).
pub async fn handle<N: Notifier>(state: &AppState, click: ButtonClick, notifier: &N) {
    // Clicks spend the per-person command budget, on every platform: a
    // script pressing buttons in a loop is slowed like one typing commands.
    if let Err(wait) = crate::budget::spend(state, click.place.platform, &click.actor.id).await {
        return notifier
            .ephemeral(&format!(
                "Too many requests from you just now; nothing was run. Try again in {} s.",
                wait.as_secs().max(1)
            ))
            .await;
    }
    match click.verb {
        ClickVerb::Request => request(state, &click, notifier).await,
        ClickVerb::Approve | ClickVerb::Deny => decide(state, &click, notifier).await,
        ClickVerb::Take => crate::oncall::take::press(state, &click, notifier).await,
        ClickVerb::Acknowledge | ClickVerb::Resolve | ClickVerb::Reopen => {
            crate::incidents::respond::press(state, &click, notifier).await
        }
    }
}

async fn refuse<N: Notifier>(
    state: &AppState,
    click: &ButtonClick,
    action: &str,
    target: &str,
    why: &str,
    notifier: &N,
) {
    audit(
        state,
        AuditEvent {
            event: "refused",
            actor: &click.actor.id,
            action,
            target,
            ref_id: &click.id,
            detail: why,
        },
    )
    .await;
    notifier.ephemeral(why).await;
}

/// The answer to a second press of a button.
const ALREADY_USED: &str = "This button was already used; nothing was run again.";

async fn request<N: Notifier>(state: &AppState, click: &ButtonClick, notifier: &N) {
    let offer = match state.store.offer(&click.id).await {
        Ok(Some(o)) => o,
        Ok(None) => return refuse(state, click, "", "", UNKNOWN, notifier).await,
        Err(error) => {
            tracing::warn!(%error, "Could not read an offer.");
            return notifier.ephemeral("medic could not read its records just now; nothing was run. Try again in a moment.").await;
        }
    };
    // A button's value only counts in the thread it was posted in.
    let other_thread = matches!((&offer.thread, &click.place.thread), (Some(a), Some(b)) if a != b);
    if offer.platform != click.place.platform
        || offer.channel != click.place.channel
        || other_thread
    {
        return refuse(
            state,
            click,
            &offer.action,
            &offer.target,
            UNKNOWN,
            notifier,
        )
        .await;
    }
    if now_ms() >= offer.expires_at {
        let why =
            "This button has expired; nothing was run. Run the diagnostic again for fresh buttons.";
        return refuse(state, click, &offer.action, &offer.target, why, notifier).await;
    }
    let Some(action) = state.settings.remediation.actions.get(&offer.action) else {
        let why = format!(
            "`{}` is no longer configured; nothing was run.",
            offer.action
        );
        return refuse(state, click, &offer.action, &offer.target, &why, notifier).await;
    };
    let dir = &crate::oncall::directory_now(state);
    let rule = match policy::may_request(action, dir, &click.actor.id) {
        Ok(rule) => rule.to_string(),
        Err(e) => {
            let why = format!("Not run: {e}.");
            return refuse(state, click, &offer.action, &offer.target, &why, notifier).await;
        }
    };
    if let Err(why) = gate(&state.store, action, &offer.target).await {
        // The run in the way may be this very button's (a double click
        // whose first press is running): say so, as the single-use check
        // would have had it come first.
        let why = match state.store.offer_used(&offer.id).await {
            Ok(true) => ALREADY_USED.to_string(),
            _ => format!("Not run: {why}."),
        };
        return refuse(state, click, &offer.action, &offer.target, &why, notifier).await;
    }
    let now = now_ms();
    let request = Request {
        id: new_id(),
        offer_id: offer.id.clone(),
        action: offer.action.clone(),
        target: offer.target.clone(),
        params: offer.params.clone(),
        platform: offer.platform,
        channel: offer.channel.clone(),
        thread: offer.thread.clone(),
        requester: click.actor.id.clone(),
        requester_name: click.actor.name.clone(),
        approvals_needed: action.approvals as i64,
        state: if action.approvals == 0 {
            RequestState::Approved
        } else {
            RequestState::Pending
        },
        created_at: now,
        expires_at: now + action.expires.as_millis() as i64,
        started_at: None,
        finished_at: None,
        outcome: None,
        output: None,
        status_row: None,
    };
    match state.store.create_request(&request).await {
        Ok(true) => {}
        Ok(false) => {
            return refuse(
                state,
                click,
                &offer.action,
                &offer.target,
                ALREADY_USED,
                notifier,
            )
            .await;
        }
        Err(error) => {
            tracing::warn!(%error, "Could not record a request.");
            return notifier
                .ephemeral(
                    "medic could not record the request; nothing was run. Try again in a moment.",
                )
                .await;
        }
    }
    audit(
        state,
        AuditEvent {
            event: "requested",
            actor: &click.actor.id,
            action: &request.action,
            target: &request.target,
            ref_id: &request.id,
            detail: &format!("offer {} by rule {rule}", offer.id),
        },
    )
    .await;
    let view = status::view(Some(action), &request, &[], Vec::new());
    let request = Request {
        status_row: status::post(state, &request, &view).await,
        ..request
    };
    if action.approvals == 0 {
        run::execute(state, action, request).await;
    } else {
        notifier
            .ephemeral(&format!(
                "Requested *{}* on `{}`; it runs once {} approver(s) approve (not you).",
                action.title, request.target, action.approvals
            ))
            .await;
    }
}

async fn decide<N: Notifier>(state: &AppState, click: &ButtonClick, notifier: &N) {
    let request = match state.store.request(&click.id).await {
        Ok(Some(r)) => r,
        Ok(None) => return refuse(state, click, "", "", UNKNOWN, notifier).await,
        Err(error) => {
            tracing::warn!(%error, "Could not read a request.");
            return notifier
                .ephemeral("medic could not read its records just now; nothing changed.")
                .await;
        }
    };
    if request.platform != click.place.platform || request.channel != click.place.channel {
        return refuse(
            state,
            click,
            &request.action,
            &request.target,
            UNKNOWN,
            notifier,
        )
        .await;
    }
    let action = state.settings.remediation.actions.get(&request.action);
    if request.state != RequestState::Pending {
        let why = format!(
            "This request is already {}; nothing changes.",
            request.state.as_str()
        );
        return refuse(
            state,
            click,
            &request.action,
            &request.target,
            &why,
            notifier,
        )
        .await;
    }
    if now_ms() >= request.expires_at {
        for expired in state.store.expire_due().await.unwrap_or_default() {
            expired_notice(state, &expired).await;
        }
        let why = "This request has expired; nothing was run.";
        return refuse(
            state,
            click,
            &request.action,
            &request.target,
            why,
            notifier,
        )
        .await;
    }
    let Some(action) = action else {
        let why = format!(
            "`{}` is no longer configured; nothing was run.",
            request.action
        );
        return refuse(
            state,
            click,
            &request.action,
            &request.target,
            &why,
            notifier,
        )
        .await;
    };
    let dir = &crate::oncall::directory_now(state);
    let approvers = state.store.approvers(&request.id).await.unwrap_or_default();
    let ids: Vec<String> = approvers.iter().map(|(id, _)| id.clone()).collect();
    if click.verb == ClickVerb::Deny {
        // The requester may withdraw; otherwise denying takes an approver.
        if click.actor.id != request.requester
            && let Err(e) =
                policy::may_approve(action, dir, &click.actor.id, &request.requester, &[])
        {
            let why = format!("Not denied: only the requester or an approver may deny ({e}).");
            return refuse(
                state,
                click,
                &request.action,
                &request.target,
                &why,
                notifier,
            )
            .await;
        }
        let why = format!("denied by <@{}>", click.actor.id);
        if let Ok(true) = state
            .store
            .finish_request(
                &request.id,
                RequestState::Pending,
                RequestState::Denied,
                &why,
                None,
            )
            .await
        {
            audit(
                state,
                AuditEvent {
                    event: "denied",
                    actor: &click.actor.id,
                    action: &request.action,
                    target: &request.target,
                    ref_id: &request.id,
                    detail: "",
                },
            )
            .await;
            refresh(state, &request.id, Vec::new()).await;
        } else {
            notifier
                .ephemeral("This request was decided a moment ago; nothing changes.")
                .await;
        }
        return;
    }
    let rule = match policy::may_approve(action, dir, &click.actor.id, &request.requester, &ids) {
        Ok(rule) => rule.to_string(),
        Err(e) => {
            let why = format!("Not approved: {e}.");
            return refuse(
                state,
                click,
                &request.action,
                &request.target,
                &why,
                notifier,
            )
            .await;
        }
    };
    match state
        .store
        .add_approval(&request.id, &click.actor.id, &click.actor.name)
        .await
    {
        Ok(true) => {}
        Ok(false) => {
            let why = format!("Not approved: you already approved *{}*.", action.title);
            return refuse(
                state,
                click,
                &request.action,
                &request.target,
                &why,
                notifier,
            )
            .await;
        }
        Err(error) => {
            tracing::warn!(%error, "Could not record an approval.");
            return notifier
                .ephemeral("medic could not record the approval; try again.")
                .await;
        }
    }
    audit(
        state,
        AuditEvent {
            event: "approved",
            actor: &click.actor.id,
            action: &request.action,
            target: &request.target,
            ref_id: &request.id,
            detail: &format!("by rule {rule}"),
        },
    )
    .await;
    match state.store.mark_approved(&request.id).await {
        Ok(true) => {
            let Ok(Some(request)) = state.store.request(&request.id).await else {
                return;
            };
            run::execute(state, action, request).await;
        }
        Ok(false) => refresh(state, &request.id, Vec::new()).await,
        Err(error) => tracing::warn!(%error, "Could not move a request to approved."),
    }
}

/// Expires pending requests past their expiry and edits their status
/// messages ("expired"); run now and then by housekeeping.
pub async fn expire_sweep(state: &AppState) {
    match state.store.expire_due().await {
        Ok(list) => {
            for r in list {
                expired_notice(state, &r).await;
            }
        }
        Err(error) => tracing::warn!(%error, "Could not expire pending requests."),
    }
}

/// How long an approved request may wait for its run before it is taken
/// for stranded: the run follows the last approval at once, so this only
/// has to outlast that step on a slow database.
pub const STRANDED_AFTER: std::time::Duration = std::time::Duration::from_secs(30);

/// Runs requests left approved but never claimed (medic stopped between
/// the approval and the run), or, once they have expired, says that they
/// will not run: an approval is for now, not for whenever medic is back.
/// The claim makes it run once, whoever else tries.
pub async fn stranded_sweep(state: &AppState) {
    let before = now_ms() - STRANDED_AFTER.as_millis() as i64;
    let stranded = match state.store.stranded_requests(before).await {
        Ok(r) => r,
        Err(error) => {
            tracing::warn!(%error, "Could not list approved requests left unrun.");
            return;
        }
    };
    for request in stranded {
        let action = state.settings.remediation.actions.get(&request.action);
        let why = match action {
            _ if request.expires_at <= now_ms() => {
                "medic stopped between its approval and its run, and it has expired since"
            }
            None => "its action is no longer configured",
            Some(action) => {
                tracing::info!(request = %request.id, action = %request.action, "An approved request left unrun by a stop runs now.");
                run::execute(state, action, request).await;
                continue;
            }
        };
        run::skip(state, &request, why).await;
    }
}

/// How long past its action's timeout a run may stay `running` before it
/// is taken for lost (medic stopped while it ran): the diagnostics before
/// and after it take their own time too.
pub const LOST_RUN_GRACE: std::time::Duration = std::time::Duration::from_secs(5 * 60);

/// Marks runs that have been `running` far past their timeout as failed
/// with an unknown outcome — otherwise a crash mid-run would block the
/// action on that target forever (one run at a time).
pub async fn lost_run_sweep(state: &AppState) {
    let running = match state.store.running_requests().await {
        Ok(r) => r,
        Err(error) => {
            tracing::warn!(%error, "Could not list running remediations.");
            return;
        }
    };
    for r in running {
        let timeout = state
            .settings
            .remediation
            .actions
            .get(&r.action)
            .map_or(medic_commands::actions::DEFAULT_TIMEOUT, |a| a.timeout);
        let deadline =
            r.started_at.unwrap_or(r.created_at) + (timeout + LOST_RUN_GRACE).as_millis() as i64;
        if now_ms() < deadline {
            continue;
        }
        let why =
            "outcome unknown: medic stopped while it ran; check the target before running it again";
        if let Ok(true) = state
            .store
            .finish_request(
                &r.id,
                RequestState::Running,
                RequestState::Failed,
                why,
                None,
            )
            .await
        {
            audit(
                state,
                AuditEvent {
                    event: "failed",
                    actor: "medic",
                    action: &r.action,
                    target: &r.target,
                    ref_id: &r.id,
                    detail: why,
                },
            )
            .await;
            refresh(state, &r.id, Vec::new()).await;
        }
    }
}

async fn expired_notice(state: &AppState, request: &Request) {
    audit(
        state,
        AuditEvent {
            event: "expired",
            actor: "medic",
            action: &request.action,
            target: &request.target,
            ref_id: &request.id,
            detail: "",
        },
    )
    .await;
    refresh(state, &request.id, Vec::new()).await;
}

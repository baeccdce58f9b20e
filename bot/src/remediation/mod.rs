//! Remediation buttons, platform-neutral: offers in reports, clicks →
//! policy → approval → exactly-once run → audit.
//!
//! # Layout
//!
//! - this file: the [`Notifier`] a platform adapter implements, the
//!   cooldown/one-at-a-time [`gate`], and [`make_offers`].
//! - [`flow`]: a click (request, approve, deny) → what to say and do.
//! - [`run`]: the run itself: precondition, action, after-check, record.
//! - [`status`]: a request's state in words ([`StatusView`](medic_commands::actions::view::StatusView)).
//! - [`vendor`]: the PagerDuty / Sentry buttons in an incident's thread.
//!
//! Each platform (`crate::chat::slack::interactions`,
//! `crate::chat::discord::interactions`, `crate::chat::console::session`)
//! only translates clicks into
//! [`medic_commands::model::inbound::ButtonClick`] and implements
//! [`Notifier`]; everything that decides is here and in
//! `medic_commands::actions::policy`, and what it posts goes through the
//! outbox ([`status`]).

/// What the clicker is told when a button's id names nothing usable.
pub const UNKNOWN: &str =
    "This button is not one medic knows (unknown, or changed on the way); nothing was run.";

pub mod flow;
pub mod run;
pub mod status;
pub mod vendor;

use std::future::Future;
use std::time::Duration;

use medic_commands::Report;
use medic_commands::actions::view::OfferButton;
use medic_commands::actions::{Action, params, policy};
use medic_commands::model::inbound::Place;

use crate::state::AppState;
use crate::storage::audit::AuditEvent;
use crate::storage::offers::{Offer, new_id};
use crate::storage::{Store, now_ms};

/// What a platform adapter does for the flow: answer the clicker alone
/// (the interaction's own channel back to them). Everything posted in a
/// channel — a request's status message and its edits — goes through the
/// outbox ([`status::post`], [`status::edit`]).
pub trait Notifier: Send + Sync {
    /// An answer only the person who clicked sees.
    fn ephemeral(&self, text: &str) -> impl Future<Output = ()> + Send;
}

/// Refuses a run while another of the same action on the same target is
/// in progress, or before the cooldown has passed. The text names the
/// rule. Used by clicks and by `medic policy check --target`.
pub async fn gate(store: &Store, action: &Action, target: &str) -> Result<(), String> {
    let (last, running) = store
        .run_history(&action.name, target)
        .await
        .map_err(|e| format!("cannot read the run history: {e}"))?;
    if running {
        return Err(policy::Refusal::Running {
            title: action.title.clone(),
            target: target.to_string(),
        }
        .to_string());
    }
    let ago = last.map(|at| Duration::from_millis((now_ms() - at).max(0) as u64));
    policy::check_cooldown(action, target, ago).map_err(|e| e.to_string())
}

/// Creates an offer for each action a report offers, bound to `place`
/// (its channel and thread) and the action's expiry, and records them.
pub async fn make_offers(state: &AppState, report: &Report, place: &Place) -> Vec<OfferButton> {
    let problems: Vec<&str> = report.problems().map(|f| f.check.as_str()).collect();
    let mut buttons = Vec::new();
    for action in state
        .settings
        .remediation
        .offered(&report.target.name, &problems)
    {
        let values = params::offer_values(&report.target.name, &action.params);
        // Boxed: storing and auditing an offer is a 1.6 kB future, and
        // unboxed it would be carried by every report's delivery task
        // (hundreds at once under a flood), offers or not.
        let stored = Box::pin(offer(state, action, &report.target.name, values, place));
        buttons.extend(stored.await);
    }
    buttons
}

/// Stores one offer of `action` on `target` with these parameter values,
/// bound to `place` and the action's expiry, and audits it; its button, or
/// `None` when it could not be stored (the button is then left out).
pub(crate) async fn offer(
    state: &AppState,
    action: &Action,
    target: &str,
    params: std::collections::BTreeMap<String, String>,
    place: &Place,
) -> Option<OfferButton> {
    let now = now_ms();
    let offer = Offer {
        id: new_id(),
        action: action.name.clone(),
        target: target.to_string(),
        params,
        platform: place.platform,
        channel: place.channel.clone(),
        thread: place.thread.clone(),
        created_at: now,
        expires_at: now + action.expires.as_millis() as i64,
    };
    if let Err(error) = state.store.create_offer(&offer).await {
        tracing::warn!(%error, action = %action.name, "Could not store an offer; its button is left out.");
        return None;
    }
    audit(
        state,
        AuditEvent {
            event: "offered",
            actor: "medic",
            action: &action.name,
            target: &offer.target,
            ref_id: &offer.id,
            detail: &format!("in {} {}", offer.platform.as_str(), offer.channel),
        },
    )
    .await;
    Some(OfferButton {
        title: action.title.clone(),
        offer_id: offer.id,
        approvals: action.approvals,
        expires_in: action.expires,
    })
}

/// Appends to the audit log; a failure is logged loudly (the action
/// itself is not undone).
pub async fn audit(state: &AppState, event: AuditEvent<'_>) -> bool {
    let detail = medic_commands::redact::redact(event.detail);
    let event = AuditEvent {
        detail: &detail,
        ..event
    };
    match state.store.audit(event).await {
        Ok(_) => true,
        Err(error) => {
            tracing::error!(%error, "Could not write to the audit log.");
            false
        }
    }
}

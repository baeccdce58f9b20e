//! A request's state in words, as its status message shows it:
//! pending → approved by X → running → succeeded / failed with output;
//! or denied, expired, skipped.

use medic_commands::actions::Action;
use medic_commands::actions::view::StatusView;
use medic_integrations::chat::draw;

use crate::state::AppState;
use crate::storage::offers::{Request, RequestState};
use crate::storage::outbox::{NewRow, OutboxKind, push};

/// Queues `request`'s status message in its thread (or its channel) and
/// records which outbox row it is, so that its edits can name it.
/// Returns that row; `None` when it could not be queued (the request
/// goes on; its status is then only in the audit log).
pub async fn post(state: &AppState, request: &Request, view: &StatusView) -> Option<i64> {
    let body = draw(request.platform).status(view);
    let queued: sqlx::Result<i64> = async {
        let mut tx = state.store.begin_write().await?;
        let row = push(
            &mut tx,
            &NewRow {
                thread_ts: request.thread.as_deref(),
                ..NewRow::new(request.platform, &request.channel, OutboxKind::Reply, &body)
            },
        )
        .await?;
        crate::storage::offers::set_status_row(&mut tx, &request.id, row).await?;
        state.outbox.commit(tx).await?;
        Ok(row)
    }
    .await;
    match queued {
        Ok(row) => Some(row),
        Err(error) => {
            tracing::warn!(%error, "Could not queue a request's status message.");
            None
        }
    }
}

/// Queues the edit of `request`'s status message to show `view`; an edit
/// still waiting takes the newer state instead.
pub async fn edit(state: &AppState, request: &Request, view: &StatusView) {
    let Some(row) = request.status_row else {
        return;
    };
    let body = draw(request.platform).status(view);
    let edit = NewRow {
        parent_id: Some(row),
        ..NewRow::new(request.platform, &request.channel, OutboxKind::Edit, &body)
    };
    if let Err(error) = state.outbox.queue(&state.store, &edit).await {
        tracing::warn!(%error, "Could not queue the edit of a request's status message.");
    }
}

/// The status message of `request`, with `approvers` (names) and extra
/// `lines` (before/after).
pub fn view(
    action: Option<&Action>,
    request: &Request,
    approvers: &[(String, String)],
    lines: Vec<String>,
) -> StatusView {
    let title = action.map_or(request.action.as_str(), |a| a.title.as_str());
    let counted = approvers
        .iter()
        .filter(|(id, _)| *id != request.requester)
        .count() as i64;
    let missing = (request.approvals_needed - counted).max(0);
    let (symbol, state) = match request.state {
        RequestState::Pending => ("⏳", format!("waiting for {missing} more approval(s)")),
        RequestState::Approved => ("✅", "approved".to_string()),
        RequestState::Running => ("⚙️", "running".to_string()),
        RequestState::Succeeded => ("🟢", "succeeded".to_string()),
        RequestState::Failed => ("🔴", "failed".to_string()),
        RequestState::Skipped => ("⏭️", "not run".to_string()),
        RequestState::Denied => ("⛔", "denied".to_string()),
        RequestState::Expired => ("⌛", "expired".to_string()),
    };
    let mut all = vec![format!(
        "Requested by <@{}>{}",
        request.requester,
        if request.approvals_needed > 0 {
            format!(
                " · needs {} approval(s), never the requester's own",
                request.approvals_needed
            )
        } else {
            " · no approval needed".to_string()
        }
    )];
    if !approvers.is_empty() {
        let names: Vec<String> = approvers.iter().map(|(id, _)| format!("<@{id}>")).collect();
        all.push(format!("Approved by {}", names.join(", ")));
    }
    if let Some(a) = action
        && request.state == RequestState::Pending
        && !a.may_approve.is_empty()
    {
        let rules: Vec<String> = a.may_approve.iter().map(|p| p.to_string()).collect();
        all.push(format!("May approve: {}", rules.join(", ")));
    }
    if let Some(outcome) = &request.outcome {
        all.push(format!("Outcome: {outcome}"));
    }
    all.extend(lines);
    StatusView {
        request_id: request.id.clone(),
        headline: format!("{symbol} *{title}* on `{}` — {state}", request.target),
        lines: all,
        output: request.output.clone().filter(|o| !o.trim().is_empty()),
        decision_buttons: request.state == RequestState::Pending,
    }
}

/// Re-reads a request and queues the edit of its status message.
pub async fn refresh(state: &AppState, id: &str, lines: Vec<String>) {
    let Ok(Some(request)) = state.store.request(id).await else {
        return;
    };
    let approvers = state.store.approvers(id).await.unwrap_or_default();
    let action = state.settings.remediation.actions.get(&request.action);
    let view = view(action, &request, &approvers, lines);
    edit(state, &request, &view).await;
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;

    fn request(state: RequestState) -> Request {
        Request {
            id: "r1".into(),
            offer_id: "o1".into(),
            action: "mark".into(),
            target: "svc".into(),
            params: BTreeMap::new(),
            platform: medic_commands::model::inbound::Platform::Slack,
            channel: "C1".into(),
            thread: None,
            requester: "U1".into(),
            requester_name: "u1".into(),
            approvals_needed: 2,
            state,
            created_at: 0,
            expires_at: 0,
            started_at: None,
            finished_at: None,
            outcome: None,
            output: Some("done".into()),
            status_row: None,
        }
    }

    #[test]
    fn pending_counts_only_others_and_offers_the_decision() {
        let approvers = vec![
            ("U1".to_string(), "u1".to_string()),
            ("U2".to_string(), "u2".to_string()),
        ];
        let v = view(
            None,
            &request(RequestState::Pending),
            &approvers,
            Vec::new(),
        );
        assert_eq!(
            v.headline,
            "⏳ *mark* on `svc` — waiting for 1 more approval(s)"
        );
        assert!(v.decision_buttons);
        assert!(v.lines.iter().any(|l| l == "Approved by <@U1>, <@U2>"));
    }

    #[test]
    fn finished_requests_show_output_and_no_buttons() {
        let v = view(
            None,
            &request(RequestState::Succeeded),
            &[],
            vec!["Before: x".into()],
        );
        assert!(v.headline.ends_with("— succeeded"));
        assert!(!v.decision_buttons);
        assert_eq!(v.output.as_deref(), Some("done"));
        assert_eq!(v.lines.last().map(String::as_str), Some("Before: x"));
    }
}

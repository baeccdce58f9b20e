//! The run itself, once a request is approved: claim it (exactly one
//! caller wins), re-check the precondition by running the offering
//! diagnostic again, run the action, run the diagnostic once more, and
//! record and show before and after.

use medic_commands::actions::Action;
use medic_commands::{Report, Status};

use super::audit;
use super::status::refresh;
use crate::state::AppState;
use crate::storage::audit::AuditEvent;
use crate::storage::offers::{Claim, Request, RequestState};

/// Whether the trouble that offered `action` is in `report`; the line
/// that says so (or that it is gone).
fn precondition(action: &Action, report: &Report) -> (bool, String) {
    let relevant: Vec<_> = report
        .findings
        .iter()
        .filter(|f| action.offered_when.is_empty() || action.offered_when.contains(&f.check))
        .collect();
    let troubled = relevant.iter().find(|f| f.status != Status::Ok);
    match troubled {
        Some(f) => (true, format!("{} {}", f.status.symbol(), f.summary)),
        None => (
            false,
            relevant
                .first()
                .map(|f| format!("{} {}", f.status.symbol(), f.summary))
                .unwrap_or_else(|| format!("{} {}", report.status().symbol(), report.headline())),
        ),
    }
}

/// An approved request that will not run, and why.
pub(super) async fn skip(state: &AppState, request: &Request, why: &str) {
    let why = format!("not run: {why}");
    end(
        state,
        request,
        RequestState::Approved,
        RequestState::Skipped,
        &why,
    )
    .await;
}

/// Ends `request` (`from` → `to`, skipped or failed) with why: recorded,
/// audited under `to`'s name and shown on its status message — once,
/// whoever gets here first.
async fn end(state: &AppState, request: &Request, from: RequestState, to: RequestState, why: &str) {
    if let Ok(true) = state
        .store
        .finish_request(&request.id, from, to, why, None)
        .await
    {
        audit(
            state,
            AuditEvent {
                event: to.as_str(),
                actor: "medic",
                action: &request.action,
                target: &request.target,
                ref_id: &request.id,
                detail: why,
            },
        )
        .await;
        refresh(state, &request.id, Vec::new()).await;
    }
}

/// Runs an approved request to its end. Returns at once when another
/// caller claimed it first.
pub async fn execute(state: &AppState, action: &Action, request: Request) {
    // Checked at the press and again now: another request of the same
    // action and target may have run while this one waited for approval.
    if let Err(why) = super::gate(&state.store, action, &request.target).await {
        return skip(state, &request, &why).await;
    }
    match state.store.claim_run(&request.id, action.cooldown).await {
        Ok(Claim::Won) => {}
        Ok(Claim::Lost) => return,
        // Another request ran between the gate and the claim.
        Ok(Claim::Cooling) => {
            let why = super::gate(&state.store, action, &request.target)
                .await
                .err()
                .unwrap_or_else(|| "its cooldown has not passed".to_string());
            return skip(state, &request, &why).await;
        }
        Ok(Claim::Busy) => {
            let why = "not run: another run of this action on this target is in progress";
            return end(
                state,
                &request,
                RequestState::Approved,
                RequestState::Failed,
                why,
            )
            .await;
        }
        Err(error) => {
            tracing::warn!(%error, "Could not claim a run.");
            return;
        }
    }
    refresh(state, &request.id, Vec::new()).await;
    let target = state.targets.get(&request.target).cloned();
    let before = match &target {
        Some(t) => Some(t.run().await),
        None => None,
    };
    if let Some(report) = &before {
        let (holds, line) = precondition(action, report);
        if !holds {
            let why = format!("precondition no longer holds: {line}");
            return end(
                state,
                &request,
                RequestState::Running,
                RequestState::Skipped,
                &why,
            )
            .await;
        }
    }
    let recorded = audit(
        state,
        AuditEvent {
            event: "started",
            actor: "medic",
            action: &request.action,
            target: &request.target,
            ref_id: &request.id,
            detail: "",
        },
    )
    .await;
    if !recorded {
        // Nothing runs that the audit log does not show as started.
        let why = "not run: the audit log could not be written (the operator has a log line)";
        let _ = state
            .store
            .finish_request(
                &request.id,
                RequestState::Running,
                RequestState::Failed,
                why,
                None,
            )
            .await;
        refresh(state, &request.id, Vec::new()).await;
        return;
    }
    let vendors = state.settings.alerts.vendor_apis();
    let ctx = medic_commands::actions::RunContext {
        target: target.as_ref().map(|t| &t.spec),
        vendors: Some(&vendors),
    };
    let outcome = action.execute_in(&request.params, ctx).await;
    // Everything that leaves here passes the target's redactor (its own
    // secrets verbatim) and the shared one (secret shapes).
    let redactor = target
        .as_ref()
        .map(|t| t.spec.redactor())
        .unwrap_or_default();
    let output = redactor.redact(&outcome.output);
    let status_text = redactor.redact(&outcome.status);
    let after = match &target {
        Some(t) => Some(t.run().await),
        None => None,
    };
    let mut lines = Vec::new();
    if let (Some(b), Some(a)) = (&before, &after) {
        lines.push(format!("Before: {}", precondition(action, b).1));
        lines.push(format!("After: {}", precondition(action, a).1));
    }
    let to = if outcome.success {
        RequestState::Succeeded
    } else {
        RequestState::Failed
    };
    let outcome_line = format!(
        "{status_text} in {}",
        medic_commands::format::human_duration(outcome.duration)
    );
    if let Err(error) = state
        .store
        .finish_request(
            &request.id,
            RequestState::Running,
            to,
            &outcome_line,
            Some(&output),
        )
        .await
    {
        tracing::warn!(%error, "Could not record a run's outcome.");
    }
    let detail = format!("{outcome_line}\n{}\n{output}", lines.join("\n"));
    audit(
        state,
        AuditEvent {
            event: to.as_str(),
            actor: "medic",
            action: &request.action,
            target: &request.target,
            ref_id: &request.id,
            detail: &detail,
        },
    )
    .await;
    tracing::info!(action = %request.action, target = %request.target, success = outcome.success, "A remediation ran.");
    refresh(state, &request.id, lines).await;
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use medic_commands::actions::{Action, ActionConfig};
    use medic_commands::{Finding, Report, TargetRef};

    use super::precondition;

    fn report(findings: Vec<Finding>) -> Report {
        let t = TargetRef {
            name: "db".into(),
            kind: "postgres".into(),
            location: "127.0.0.1:5432".into(),
        };
        Report::new(t, findings, Duration::from_millis(5))
    }

    fn action(kind: &str) -> Action {
        Action::parse(
            "a",
            &ActionConfig {
                title: "A".into(),
                kind: kind.into(),
                run: vec!["true".into()],
                offered_on: vec!["db".into()],
                may_request: vec!["U1".into()],
                ..Default::default()
            },
        )
        .unwrap()
    }

    #[test]
    fn the_offering_check_decides_for_built_ins() {
        let a = action("postgres.terminate_idle");
        let busy = report(vec![
            Finding::ok("postgres.uptime", "up 3 days"),
            Finding::critical("postgres.connections", "Connections 19/20 (95 %)"),
        ]);
        let (holds, line) = precondition(&a, &busy);
        assert!(holds);
        assert!(line.ends_with("Connections 19/20 (95 %)"), "{line}");
        let calm = report(vec![
            Finding::warn("postgres.uptime", "restarted"),
            Finding::ok("postgres.connections", "Connections 3/20 (15 %)"),
        ]);
        let (holds, line) = precondition(&a, &calm);
        assert!(!holds);
        assert!(line.contains("Connections 3/20"), "{line}");
    }

    #[test]
    fn any_problem_holds_for_other_kinds() {
        let a = action("command");
        assert!(precondition(&a, &report(vec![Finding::warn("tcp.connect", "slow")])).0);
        assert!(!precondition(&a, &report(vec![Finding::ok("tcp.connect", "open")])).0);
    }
}

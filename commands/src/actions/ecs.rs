//! Purpose: the Troubleshooting Runbook's `aws ecs update-service
//! --force-new-deployment`: ECS replaces every task of the service with a
//! new one of the same task definition (a fresh image pull for a moving
//! tag, new hosts, new ENIs), rolling as the service's deployment
//! configuration allows.
//!
//! It re-checks before acting — the service exists and is ACTIVE — and
//! shows the service before and after: its deployments and task counts.

use std::time::{Duration, Instant};

use super::exec::Outcome;
use crate::diagnostics::ecs::EcsTarget;
use crate::diagnostics::ecs::client::{AwsError, Clients};
use crate::diagnostics::ecs::service::Svc;

fn failed(started: Instant, status: String) -> Outcome {
    Outcome {
        success: false,
        status,
        output: String::new(),
        duration: started.elapsed(),
    }
}

/// The service as one line of counts and one per deployment.
fn shown(s: &Svc) -> String {
    let mut lines = vec![format!(
        "{}: {} desired, {} running, {} pending",
        s.name, s.desired, s.running, s.pending
    )];
    for d in &s.deployments {
        lines.push(format!(
            "  {} {} ({}): {}, {}/{} running{}",
            d.status,
            d.id,
            d.task_definition
                .as_deref()
                .map(crate::diagnostics::ecs::short_arn)
                .unwrap_or("?"),
            d.rollout_state.as_deref().unwrap_or("no rollout state"),
            d.running,
            d.desired,
            if d.failed > 0 {
                format!(", {} failed", d.failed)
            } else {
                String::new()
            }
        ));
    }
    lines.join("\n")
}

/// The service this action acts on: `named`, or the target's only one.
pub fn service_of<'a>(target: &'a EcsTarget, named: Option<&'a str>) -> Result<&'a str, String> {
    match (named, target.services.as_slice()) {
        (Some(s), _) if target.services.iter().any(|t| t == s) => Ok(s),
        (Some(s), _) => Err(format!("`{s}` is not one of the target's services")),
        (None, [only]) => Ok(only),
        (None, _) => Err("the target names several services; set `service`".into()),
    }
}

/// Forces a new deployment of `service` on `target`'s cluster.
pub async fn force_new_deployment(
    target: &EcsTarget,
    service: Option<&str>,
    timeout: Duration,
) -> Outcome {
    let started = Instant::now();
    let service = match service_of(target, service) {
        Ok(s) => s.to_string(),
        Err(e) => return failed(started, format!("refused: {e}")),
    };
    match tokio::time::timeout(timeout, run(target, &service)).await {
        Ok(Ok((before, after))) => {
            let old = before.deployments.first().map(|d| d.id.as_str());
            let new = after.deployments.first().map(|d| d.id.as_str());
            Outcome {
                success: true,
                status: match (old, new) {
                    (Some(o), Some(n)) if o != n => {
                        format!("forced a new deployment of {service}: {n} replaces {o}")
                    }
                    _ => format!("forced a new deployment of {service}"),
                },
                output: format!("Before:\n{}\nAfter:\n{}", shown(&before), shown(&after)),
                duration: started.elapsed(),
            }
        }
        Ok(Err(why)) => failed(started, why),
        Err(_) => failed(started, "timed out".into()),
    }
}

async fn run(target: &EcsTarget, service: &str) -> Result<(Svc, Svc), String> {
    let said = |e: AwsError| format!("{} failed: {}", e.call, e.text);
    let clients = Clients::connect(target)
        .await
        .map_err(|e| format!("not run: {}", said(e)))?;
    let narrowed = EcsTarget {
        services: vec![service.to_string()],
        ..target.clone()
    };
    let (found, missing) = crate::diagnostics::ecs::service::describe(&clients, &narrowed)
        .await
        .map_err(|e| format!("not run: {}", said(e)))?;
    let before = match (found.into_iter().next(), missing.first()) {
        (Some(s), _) => s,
        (None, Some((_, reason))) => {
            return Err(format!(
                "not run: {service} is not in cluster {} ({reason})",
                target.cluster
            ));
        }
        (None, None) => return Err(format!("not run: {service} was not described")),
    };
    if before.status != "ACTIVE" {
        return Err(format!("not run: {service} is {}", before.status));
    }
    let out = clients
        .ecs
        .update_service()
        .cluster(&target.cluster)
        .service(service)
        .force_new_deployment(true)
        .send()
        .await
        .map_err(|e| said(AwsError::from_sdk("ecs:UpdateService", e)))?;
    let after = out
        .service()
        .map(Svc::from_sdk)
        .ok_or_else(|| "ecs:UpdateService answered without the service".to_string())?;
    Ok((before, after))
}

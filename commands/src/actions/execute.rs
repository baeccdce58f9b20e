//! Purpose: one action run, dispatched by kind — argv, HTTP, a
//! PostgreSQL, Docker or vendor built-in — with its parameters checked once
//! more and its output capped.

use std::collections::BTreeMap;
use std::time::Duration;

use super::vendor::{SOURCE_ID_PARAM, VendorApis};
use super::{
    Action, ActionKind, docker, ecs, exec, http, kubernetes, pagerduty, params, postgres, sentry,
    vendor,
};
use crate::diagnostics::TargetSpec;

/// What a run may act on besides its parameters.
#[derive(Debug, Clone, Copy, Default)]
pub struct RunContext<'a> {
    /// The offering target: the built-ins of its kind act on it
    /// (PostgreSQL, ECS, Docker, Kubernetes), and refuse any other.
    pub target: Option<&'a TargetSpec>,
    /// The vendor APIs, for the PagerDuty and Sentry built-ins.
    pub vendors: Option<&'a VendorApis>,
}

impl Action {
    /// Runs the action with `values` (bound by its offer, checked again
    /// here) on the offering `target`. Output is capped; the caller
    /// redacts it before it goes anywhere.
    pub async fn execute(
        &self,
        values: &BTreeMap<String, String>,
        target: Option<&TargetSpec>,
    ) -> exec::Outcome {
        let ctx = RunContext {
            target,
            ..RunContext::default()
        };
        self.execute_in(values, ctx).await
    }

    /// [`Action::execute`] with everything a run may act on; the vendor
    /// built-ins act on the incident id their offer bound
    /// ([`SOURCE_ID_PARAM`]).
    pub async fn execute_in(
        &self,
        values: &BTreeMap<String, String>,
        ctx: RunContext<'_>,
    ) -> exec::Outcome {
        let refuse = |status: String| exec::Outcome {
            success: false,
            status,
            output: String::new(),
            duration: Duration::ZERO,
        };
        let mut outcome = match &self.kind {
            ActionKind::Command { argv, on, env } => {
                match params::substitute(argv, &self.params, values) {
                    Ok(argv) => {
                        exec::run_argv(&argv, on.as_ref(), env, self.timeout, self.output_cap).await
                    }
                    Err(e) => refuse(format!("refused a parameter: {e}")),
                }
            }
            ActionKind::Http {
                method,
                url,
                headers,
                body,
            } => {
                for (name, p) in &self.params {
                    if let Some(v) = values.get(name)
                        && let Err(e) = p.check(v)
                    {
                        return refuse(format!("refused a parameter: `{name}`: {e}"));
                    }
                }
                let body = body.as_deref().map(|b| http::render_body(b, values));
                http::call(
                    method,
                    url,
                    headers,
                    body.as_deref(),
                    self.timeout,
                    self.output_cap,
                )
                .await
            }
            ActionKind::TerminateIdle {
                idle_for,
                application_name,
            } => match ctx.target {
                Some(TargetSpec::Postgres(p)) => {
                    postgres::terminate_idle(
                        p.url.expose(),
                        *idle_for,
                        application_name.as_deref(),
                        self.timeout,
                    )
                    .await
                }
                _ => refuse("the target is not a PostgreSQL target".into()),
            },
            ActionKind::CancelBlocking { blocked_for } => match ctx.target {
                Some(TargetSpec::Postgres(p)) => {
                    postgres::cancel_blocking(p.url.expose(), *blocked_for, self.timeout).await
                }
                _ => refuse("the target is not a PostgreSQL target".into()),
            },
            ActionKind::EcsForceNewDeployment { service } => match ctx.target {
                Some(TargetSpec::Ecs(target)) => {
                    ecs::force_new_deployment(target, service.as_deref(), self.timeout).await
                }
                _ => refuse("the target is not an ECS target".into()),
            },
            ActionKind::Docker(op) => {
                for (name, p) in &self.params {
                    if let Some(v) = values.get(name)
                        && let Err(e) = p.check(v)
                    {
                        return refuse(format!("refused a parameter: `{name}`: {e}"));
                    }
                }
                match ctx.target {
                    Some(TargetSpec::Docker(target)) => {
                        docker::run(*op, target, values, self.timeout).await
                    }
                    _ => refuse("the target is not a docker target".into()),
                }
            }
            ActionKind::PagerDuty(op) => {
                let api = ctx.vendors.and_then(|v| v.pagerduty.as_ref());
                match (api, values.get(SOURCE_ID_PARAM)) {
                    (None, _) => refuse("[pagerduty] api_token and from are not configured".into()),
                    (_, None) => refuse("this button names no PagerDuty incident".into()),
                    (Some(api), Some(id)) => match pagerduty::request(api, op, id) {
                        Ok(req) => {
                            vendor::send("PagerDuty", req, self.timeout, self.output_cap).await
                        }
                        Err(e) => refuse(format!("refused: {e}")),
                    },
                }
            }
            ActionKind::Kubernetes(op) => match ctx.target {
                Some(TargetSpec::Kubernetes(target)) => {
                    kubernetes::run(*op, target, self.timeout).await
                }
                _ => refuse("the target is not a kubernetes target".into()),
            },
            ActionKind::Sentry(op) => {
                let api = ctx.vendors.and_then(|v| v.sentry.as_ref());
                match (api, values.get(SOURCE_ID_PARAM)) {
                    (None, _) => {
                        refuse("[sentry] auth_token and organization are not configured".into())
                    }
                    (_, None) => refuse("this button names no Sentry issue".into()),
                    (Some(api), Some(id)) => match sentry::request(api, *op, id) {
                        Ok(req) => vendor::send("Sentry", req, self.timeout, self.output_cap).await,
                        Err(e) => refuse(format!("refused: {e}")),
                    },
                }
            }
        };
        outcome.output =
            exec::cap_output(&outcome.output, self.output_cap, Some(outcome.output.len()));
        outcome
    }
}

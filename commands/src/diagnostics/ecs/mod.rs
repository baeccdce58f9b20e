//! Purpose: what the Troubleshooting Runbook does by hand for a service on
//! AWS ECS — `aws ecs describe-services` (counts, deployments, the last
//! 10 service events), the stopped tasks and their `stoppedReason`
//! (OutOfMemory, "Essential container in task exited", a failed health
//! check) with each container's exit code, and `aws logs tail
//! /aws/ecs/CLUSTER/SERVICE --filter-pattern=ERROR` — done in one go, with
//! the AWS SDK for Rust.
//!
//! # Layout
//!
//! [`client`] builds the SDK clients of one run (region, credentials from
//! the usual chain, a named profile or the target's own keys, the test
//! `endpoint_url`) on medic's rustls-with-ring HTTPS client, and turns an
//! SDK error into words ([`client::AwsError`]): no credentials, an
//! unreachable endpoint, a denied call with the IAM action it needs.
//! DescribeServices is called once per run and shared ([`Described`]).
//! Each check is a file with a pure reading function over plain data
//! ("now" passed in) and a thin async shell: [`service`] (counts,
//! deployments and their rollout state, the last service events),
//! [`stopped`] (tasks stopped in the last hour, their reason and each
//! container's exit code, next to the memory limit), [`logs`] (the
//! service's `awslogs` log group filtered for errors), with the task
//! definitions read once per run ([`taskdef`]).
//!
//! The target's selection is plain data (`services`), so a copy narrowed
//! to one service is a clone with one field set.

pub mod client;
pub mod logs;
pub mod service;
pub mod stopped;
pub mod taskdef;
#[cfg(test)]
mod tests;

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use futures::FutureExt;
use futures::future::{BoxFuture, Shared};
use secrecy::SecretString;
use serde::Deserialize;
use time::OffsetDateTime;

use self::client::Clients;
use self::service::Svc;
use super::{Check, Diagnostic, SecretUrl};
use crate::model::report::Finding;
use crate::redact::Redactor;

/// DescribeServices takes at most this many services in one call.
pub const MAX_SERVICES: usize = 10;
/// The runbook's `describe-services` shows the last 10 events.
pub const EVENTS_SHOWN: usize = 10;
/// A deployment in progress for longer than this is stuck: ECS rolls a
/// healthy service out in minutes, and its circuit breaker (when on) gives
/// up well before; past it, new tasks are failing to become healthy.
pub const STUCK_AFTER: Duration = Duration::from_secs(30 * 60);
/// Stopped tasks are read this far back (ECS keeps them visible for about
/// an hour).
pub const STOPPED_WINDOW: Duration = Duration::from_secs(3600);

/// `[targets.NAME] kind = "ecs"`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EcsTarget {
    /// The cluster's name or ARN.
    pub cluster: String,
    /// The services to check, by name (1 to 10).
    pub services: Vec<String>,
    /// The AWS region (`eu-west-1`); default: the usual chain's
    /// (`AWS_REGION`, the profile's `region`).
    #[serde(default)]
    pub region: Option<String>,
    /// A named profile of `~/.aws/config` and `~/.aws/credentials`;
    /// default: the usual credentials chain (environment, profile, web
    /// identity, the ECS task role, the EC2 instance role).
    #[serde(default)]
    pub profile: Option<String>,
    /// An IAM user's access key id, with `secret_access_key`; prefer a
    /// role (the chain) where medic runs on AWS.
    #[serde(default)]
    pub access_key_id: Option<String>,
    /// That key's secret; masked wherever an error might echo it.
    #[serde(default)]
    pub secret_access_key: Option<SecretString>,
    /// Another endpoint for ECS and CloudWatch Logs (tests, a VPC
    /// endpoint); default: AWS's own for the region.
    #[serde(default)]
    pub endpoint_url: Option<SecretUrl>,
    /// How far back the log group is read for errors (default 15 min).
    #[serde(
        default = "default_log_window",
        deserialize_with = "crate::duration::deserialize"
    )]
    pub log_window: Duration,
    /// A CloudWatch Logs filter pattern for the lines that are errors
    /// (default `ERROR`, as `aws logs tail --filter-pattern=ERROR`).
    #[serde(default = "default_error_pattern")]
    pub error_pattern: String,
    /// The most each check may take (default 5 s); checks run at once.
    #[serde(
        default = "crate::diagnostics::default_timeout",
        deserialize_with = "crate::duration::deserialize"
    )]
    pub timeout: Duration,
}

fn default_log_window() -> Duration {
    Duration::from_secs(15 * 60)
}

fn default_error_pattern() -> String {
    "ERROR".to_string()
}

impl EcsTarget {
    /// This target narrowed to the one of its services an incident's
    /// alert names (CloudWatch's `ServiceName` dimension, an
    /// `ecs_service`/`service` label, the alert's service); `None` when it
    /// names none of them, or the target has only that one.
    pub fn focused(&self, alert: &crate::model::alert::Alert) -> Option<Self> {
        if self.services.len() < 2 {
            return None;
        }
        let named = super::named(
            alert,
            &["ServiceName", "ecs_service", "service_name", "service"],
        );
        let service = named
            .into_iter()
            .find(|n| self.services.iter().any(|s| s == n))?;
        Some(EcsTarget {
            services: vec![service.to_string()],
            ..self.clone()
        })
    }

    /// A target for `services` of `cluster` with every default; tests and
    /// samples start here.
    pub fn new(cluster: &str, services: &[&str]) -> Self {
        EcsTarget {
            cluster: cluster.to_string(),
            services: services.iter().map(|s| s.to_string()).collect(),
            region: None,
            profile: None,
            access_key_id: None,
            secret_access_key: None,
            endpoint_url: None,
            log_window: default_log_window(),
            error_pattern: default_error_pattern(),
            timeout: crate::diagnostics::default_timeout(),
        }
    }

    /// Checks what serde cannot. The error names the key at fault.
    pub fn validate(&self) -> Result<(), (&'static str, String)> {
        if self.cluster.trim().is_empty() {
            return Err(("cluster", "is empty: the cluster's name or ARN".into()));
        }
        if self.services.is_empty() {
            return Err((
                "services",
                "is empty: name the services to check (`services = [\"api\"]`)".into(),
            ));
        }
        if self.services.len() > MAX_SERVICES {
            return Err((
                "services",
                format!(
                    "names {} services; one target checks at most {MAX_SERVICES} (one DescribeServices call): split it",
                    self.services.len()
                ),
            ));
        }
        if let Some(s) = self.services.iter().find(|s| s.trim().is_empty()) {
            return Err(("services", format!("`{s}` is not a service name")));
        }
        match (&self.access_key_id, &self.secret_access_key) {
            (Some(_), None) => {
                return Err((
                    "secret_access_key",
                    "missing: access_key_id needs its secret_access_key".into(),
                ));
            }
            (None, Some(_)) => {
                return Err((
                    "access_key_id",
                    "missing: secret_access_key needs its access_key_id".into(),
                ));
            }
            _ => {}
        }
        if self.access_key_id.is_some() && self.profile.is_some() {
            return Err((
                "profile",
                "and access_key_id both name credentials: keep one".into(),
            ));
        }
        if let Some(u) = &self.endpoint_url
            && !matches!(u.url().scheme(), "http" | "https")
        {
            return Err(("endpoint_url", "must be http:// or https://".into()));
        }
        if self.error_pattern.trim().is_empty() {
            return Err(("error_pattern", "is empty; leave it out for `ERROR`".into()));
        }
        if self.log_window.is_zero() {
            return Err(("log_window", "must be longer than 0s".into()));
        }
        Ok(())
    }

    /// Every check as of `now`, sharing one DescribeServices. The service
    /// check reports that call's fate (no credentials, no answer, denied);
    /// the others say nothing without it, so an outage is one finding.
    pub fn checks_at(&self, now: OffsetDateTime) -> Vec<Check> {
        let target = Arc::new(self.clone());
        let described = describe(target.clone());
        let task_defs = taskdef::Cache::default();
        vec![
            Check::new("ecs.service", "DescribeServices", {
                let described = described.clone();
                async move {
                    let d = described.await;
                    let mut findings = d.findings.clone();
                    if let Some(d) = &d.described {
                        findings.extend(service::counts(&d.services, &d.missing));
                    }
                    findings
                }
            })
            .critical_when_silent()
            .silence_hint("An endpoint that accepts and never answers (a proxy, a firewall dropping packets) looks like this."),
            described_check(&described, "ecs.deployments", "Deployments", move |d| {
                std::future::ready(service::deployments(&d.services, now))
            }),
            described_check(&described, "ecs.events", "Service events", move |d| {
                std::future::ready(service::events(&d.services, now))
            }),
            described_check(&described, "ecs.stopped", "Stopped tasks", {
                let task_defs = task_defs.clone();
                let target = target.clone();
                move |d| async move { stopped::check(&target, &d, &task_defs, now).await }
            }),
            described_check(&described, "ecs.logs", "The services' log groups", {
                let target = target.clone();
                move |d| async move { logs::check(&target, &d, &task_defs, now).await }
            }),
        ]
    }

    /// Where the API is: `endpoint_url`'s host, or AWS's own for the
    /// region.
    fn endpoint_shown(&self) -> String {
        match &self.endpoint_url {
            Some(u) => {
                let host = u.url().host_str().unwrap_or("?");
                match u.url().port() {
                    Some(p) => format!("{host}:{p}"),
                    None => host.to_string(),
                }
            }
            None => match &self.region {
                Some(r) => format!("ecs.{r}.amazonaws.com"),
                None => "ECS (the default region)".to_string(),
            },
        }
    }
}

/// What DescribeServices returned, with the clients that asked: shared by
/// every check of a run.
#[derive(Debug)]
pub struct Described {
    /// The clients of this run.
    pub clients: Clients,
    /// The services found, in the target's order.
    pub services: Vec<Svc>,
    /// The services not found: name and ECS's reason (`MISSING`).
    pub missing: Vec<(String, String)>,
}

/// The outcome of the shared step: what it found, or the finding saying
/// why it could not.
#[derive(Debug, Clone)]
struct Opened {
    findings: Vec<Finding>,
    described: Option<Arc<Described>>,
}

type SharedDescribed = Shared<BoxFuture<'static, Opened>>;

/// Builds the clients and calls DescribeServices once for the run.
fn describe(target: Arc<EcsTarget>) -> SharedDescribed {
    async move {
        let clients = match Clients::connect(&target).await {
            Ok(c) => c,
            Err(e) => {
                return Opened {
                    findings: vec![e.finding("ecs.service", &target)],
                    described: None,
                };
            }
        };
        match service::describe(&clients, &target).await {
            Ok((services, missing)) => Opened {
                findings: Vec::new(),
                described: Some(Arc::new(Described {
                    clients,
                    services,
                    missing,
                })),
            },
            Err(e) => Opened {
                findings: vec![e.finding("ecs.service", &target)],
                described: None,
            },
        }
    }
    .boxed()
    .shared()
}

/// A check that needs DescribeServices' answer; it says nothing without
/// one (the service check reports why).
fn described_check<F>(
    described: &SharedDescribed,
    id: &'static str,
    what: &'static str,
    run: impl FnOnce(Arc<Described>) -> F + Send + 'static,
) -> Check
where
    F: Future<Output = Vec<Finding>> + Send + 'static,
{
    let described = described.clone();
    Check::new(id, what, async move {
        match described.await.described {
            Some(d) => run(d).await,
            None => Vec::new(),
        }
    })
}

impl Diagnostic for EcsTarget {
    const KIND: &'static str = "ecs";

    /// Names the service when there is one: a run narrowed to one of
    /// several ([`EcsTarget::focused`]) says which.
    fn location(&self) -> String {
        let region = self.region.as_deref().unwrap_or("the default region");
        let which = match self.services.as_slice() {
            [one] => format!("service {one}, "),
            _ => String::new(),
        };
        match &self.endpoint_url {
            Some(_) => format!(
                "{which}cluster {} at {} ({region})",
                self.cluster,
                self.endpoint_shown()
            ),
            None => format!("{which}cluster {} in {region}", self.cluster),
        }
    }

    fn timeout(&self) -> Duration {
        self.timeout
    }

    fn redactor(&self) -> Redactor {
        let mut r = self
            .endpoint_url
            .as_ref()
            .map(SecretUrl::redactor)
            .unwrap_or_default();
        if let Some(s) = &self.secret_access_key {
            r.add_secret(secrecy::ExposeSecret::expose_secret(s));
        }
        r
    }

    fn checks(&self) -> Vec<Check> {
        self.checks_at(OffsetDateTime::now_utc())
    }
}

/// An SDK time as a `time` value; `None` when out of range.
pub(crate) fn to_time(t: &aws_sdk_ecs::primitives::DateTime) -> Option<OffsetDateTime> {
    let nanos = i128::from(t.secs()) * 1_000_000_000 + i128::from(t.subsec_nanos());
    OffsetDateTime::from_unix_timestamp_nanos(nanos).ok()
}

/// How long before `now` `at` was, in round words ("12 min").
pub(crate) fn ago(at: OffsetDateTime, now: OffsetDateTime) -> String {
    crate::format::human_age((now - at).whole_seconds().max(0) as u64)
}

/// The last part of an ARN or a task definition's `family:revision`
/// (`arn:…:task-definition/api:7` → `api:7`).
pub(crate) fn short_arn(arn: &str) -> &str {
    arn.rsplit('/').next().unwrap_or(arn)
}

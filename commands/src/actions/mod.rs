//! Remediations declared in config (`[actions.NAME]`): what they run, where
//! they are offered, and who may request and approve them.
//!
//! # Layout
//!
//! - this file: [`Action`] (validated) from [`ActionConfig`] (as written).
//! - [`params`]: typed parameters, substituted as whole argv elements.
//! - [`policy`]: who may request and approve; cooldown; pure functions.
//! - [`http`]: the `http` kind (headers from the environment, escaped body).
//! - [`postgres`]: the PostgreSQL built-ins.
//! - [`ecs`]: the ECS built-in (force a new deployment).
//! - [`docker`]: the Docker built-ins (restart a container, a Compose
//!   service), on the offering docker target.
//! - [`kubernetes`]: the Kubernetes built-ins (rollout restart, rollback),
//!   on the offering kubernetes target's workload.
//! - [`pagerduty`], [`sentry`]: the vendor built-ins, offered in an alert
//!   incident's thread (`offered_on = ["source:pagerduty"]`); [`vendor`]:
//!   their APIs and the one HTTP call they share.
//! - [`view`]: a request's status message, for any platform to render.
//! - `execute`: one run, dispatched by kind.
//! - [`exec`]: runs an argv (here or over ssh) with a timeout and an output
//!   cap — never through a shell.
//!
//! Nothing here knows a chat platform: the Slack and Discord adapters both
//! turn a click into calls of these functions.

pub mod docker;
pub mod ecs;
pub mod exec;
mod execute;
pub use execute::RunContext;
pub mod http;
pub mod kubernetes;
pub mod pagerduty;
pub mod params;
pub mod policy;
pub mod postgres;
pub mod sentry;
pub mod vendor;
pub mod view;

use std::collections::BTreeMap;
use std::time::Duration;

use serde::Deserialize;

use crate::diagnostics::host::ssh::{Destination, Ssh, check_path};
use params::{Arg, Param, ParamConfig};
use policy::Principal;

/// How long an offer and an approval stay valid unless `expires` says.
pub const DEFAULT_EXPIRES: Duration = Duration::from_secs(15 * 60);
/// How long a run may take unless `timeout` says.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(60);
/// Bytes of output kept (and shown) unless `output_cap` says.
pub const DEFAULT_OUTPUT_CAP: usize = 4000;
/// Sessions idle this long are terminated unless `idle_for` says.
pub const DEFAULT_IDLE_FOR: Duration = Duration::from_secs(10 * 60);
/// Queries blocking others this long are cancelled unless `blocked_for` says.
pub const DEFAULT_BLOCKED_FOR: Duration = Duration::from_secs(60);

/// Every `kind`, as written in config.
pub const KINDS: [&str; 14] = [
    "command",
    "http",
    "postgres.terminate_idle",
    "postgres.cancel_blocking",
    "docker.restart",
    "docker.compose_restart",
    "kubernetes.rollout_restart",
    "kubernetes.rollback",
    "pagerduty.acknowledge",
    "pagerduty.resolve",
    "pagerduty.reassign",
    "sentry.resolve",
    "sentry.ignore",
    "ecs.force_new_deployment",
];

/// How `offered_on` names an alert source's incidents
/// (`source:pagerduty`); target names cannot contain `:`.
pub const SOURCE_PREFIX: &str = "source:";

/// `[actions.NAME]` as written in config. Every field is documented in the
/// README's "Remediation buttons" section.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct ActionConfig {
    /// The button's label.
    pub title: String,
    /// `command`, `http`, `postgres.terminate_idle`, `postgres.cancel_blocking`,
    /// `docker.restart`, `docker.compose_restart`, the vendor built-ins.
    pub kind: String,
    /// `command`: the argv; `{param}` elements are substituted whole.
    pub run: Vec<String>,
    /// `command`: run over ssh on this host (`deploy@10.0.1.1`) instead of here.
    pub on: Option<String>,
    /// `command` with `on`: the ssh port (default 22).
    pub ssh_port: Option<u16>,
    /// `command` with `on`: the private key (default: the ssh client's
    /// own choice); `IdentitiesOnly` then.
    pub ssh_key: Option<std::path::PathBuf>,
    /// `command` with `on`: the known_hosts file holding the host's key
    /// (default: the user's); the key is checked strictly either way.
    pub ssh_known_hosts: Option<std::path::PathBuf>,
    /// `command`, run here: variables of medic's environment passed to
    /// the program besides `PATH`, `HOME`, `LANG` and the like
    /// (`KUBECONFIG`); never medic's own `MEDIC_*`.
    pub env: Vec<String>,
    /// `http`: the method (default POST).
    pub method: Option<String>,
    /// `http`: the URL.
    pub url: Option<String>,
    /// `http`: header name → the environment variable holding its value
    /// (secrets stay out of the config file).
    pub headers: BTreeMap<String, String>,
    /// `http`: the body; `{param}` is replaced by the JSON-escaped value.
    pub body: Option<String>,
    /// `postgres.terminate_idle`: how long a session must have been idle.
    pub idle_for: Option<String>,
    /// `postgres.terminate_idle`: only sessions of this application_name.
    pub application_name: Option<String>,
    /// `postgres.cancel_blocking`: how long the blocked query has waited.
    pub blocked_for: Option<String>,
    /// `ecs.force_new_deployment`: the service to redeploy (default: the
    /// target's only service).
    pub service: Option<String>,
    /// `pagerduty.reassign`: the PagerDuty user id to assign to.
    pub assign_to: Option<String>,
    /// Targets whose reports offer the action; for the vendor built-ins,
    /// `source:pagerduty` or `source:sentry` (that source's incidents).
    pub offered_on: Vec<String>,
    /// Offered only when one of these checks is not ok (default: the
    /// built-in's own check; for others, any problem in the report).
    pub offered_when: Vec<String>,
    /// Who may press the button.
    pub may_request: Vec<String>,
    /// Who may approve a request.
    pub may_approve: Vec<String>,
    /// Approvals needed besides the requester (0..N).
    pub approvals: u32,
    /// How long an offer and a request stay valid (default 15m).
    pub expires: Option<String>,
    /// Least time between the end of one run and the next on a target.
    pub cooldown: Option<String>,
    /// How long a run may take (default 60s).
    pub timeout: Option<String>,
    /// Bytes of output kept and shown (default 4000).
    pub output_cap: Option<usize>,
    /// Typed parameters.
    pub params: BTreeMap<String, ParamConfig>,
}

/// How long a remote action's ssh waits for the connection.
const SSH_CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// A `command` action's `on` and its ssh keys, checked as a host target's
/// `ssh` is: a destination that could read as an option, or paths with
/// spaces or quotes, are problems; the ssh keys without `on` are too.
fn remote(raw: &ActionConfig, p: &mut dyn FnMut(&str, String)) -> Option<Ssh> {
    let Some(dest) = raw.on.as_deref().map(str::trim).filter(|s| !s.is_empty()) else {
        for (key, set) in [
            ("ssh_port", raw.ssh_port.is_some()),
            ("ssh_key", raw.ssh_key.is_some()),
            ("ssh_known_hosts", raw.ssh_known_hosts.is_some()),
        ] {
            if set {
                p(key, "only means something with on = \"user@host\"".into());
            }
        }
        return None;
    };
    let dest = match Destination::parse(dest) {
        Ok(d) => d,
        Err(e) => {
            p("on", e);
            return None;
        }
    };
    if raw.ssh_port == Some(0) {
        p("ssh_port", "must be a port number, 1 to 65535".into());
    }
    for (key, path) in [
        ("ssh_key", &raw.ssh_key),
        ("ssh_known_hosts", &raw.ssh_known_hosts),
    ] {
        if let Some(path) = path
            && let Err(e) = check_path(path)
        {
            p(key, e);
        }
    }
    Some(Ssh {
        dest,
        port: raw.ssh_port,
        key: raw.ssh_key.clone(),
        known_hosts: raw.ssh_known_hosts.clone(),
        connect_timeout: SSH_CONNECT_TIMEOUT,
    })
}

/// What an action does.
#[derive(Debug, Clone)]
pub enum ActionKind {
    /// Runs an argv, here or on `on` over ssh.
    Command {
        /// The program and its arguments.
        argv: Vec<Arg>,
        /// How to reach the host it runs on over ssh, or `None` for this
        /// machine.
        on: Option<Ssh>,
        /// Variables passed from medic's environment (local runs only).
        env: Vec<String>,
    },
    /// Calls an HTTP endpoint.
    Http {
        /// The method.
        method: String,
        /// The URL.
        url: url::Url,
        /// Header name → environment variable.
        headers: BTreeMap<String, String>,
        /// The body template.
        body: Option<String>,
    },
    /// Terminates idle sessions on the offering PostgreSQL target.
    TerminateIdle {
        /// Idle at least this long.
        idle_for: Duration,
        /// Only this application's sessions.
        application_name: Option<String>,
    },
    /// Cancels the queries that block others on the offering target.
    CancelBlocking {
        /// Only when the blocked query has waited this long.
        blocked_for: Duration,
    },
    /// Forces a new deployment of a service of the offering ECS target.
    EcsForceNewDeployment {
        /// The service; `None`: the target's only one.
        service: Option<String>,
    },
    /// Changes the PagerDuty incident whose thread offered it.
    PagerDuty(pagerduty::Op),
    /// Changes the Sentry issue whose thread offered it.
    Sentry(sentry::Op),
    /// Restarts a container or a Compose service of the offering docker
    /// target.
    Docker(docker::Op),
    /// Restarts or rolls back the offering kubernetes target's workload.
    Kubernetes(kubernetes::Op),
}

impl ActionKind {
    /// The checks whose trouble offers an action of this kind when its
    /// config names none (`offered_when`): what the action can clear.
    fn offered_when(&self) -> Vec<String> {
        let checks: &[&str] = match self {
            // People's own commands and calls, and the vendor buttons
            // (offered on incidents of their source): no check implies them.
            ActionKind::Command { .. }
            | ActionKind::Http { .. }
            | ActionKind::PagerDuty(_)
            | ActionKind::Sentry(_) => &[],
            ActionKind::TerminateIdle { .. } => &["postgres.connections"],
            ActionKind::CancelBlocking { .. } => &["postgres.locks"],
            // Tasks not running, failing, or a rollout that cannot
            // finish: what a new deployment can clear.
            ActionKind::EcsForceNewDeployment { .. } => {
                &["ecs.service", "ecs.deployments", "ecs.stopped"]
            }
            // A container down, crash-looping, OOM-killed or unhealthy.
            ActionKind::Docker(_) => &[
                "docker.state",
                "docker.crash_loop",
                "docker.oom",
                "docker.health",
            ],
            ActionKind::Kubernetes(op) => op.offered_when(),
        };
        checks.iter().map(|c| c.to_string()).collect()
    }
}

impl ActionKind {
    /// The kind's name as written in config.
    pub fn name(&self) -> &'static str {
        match self {
            ActionKind::Command { .. } => "command",
            ActionKind::Http { .. } => "http",
            ActionKind::TerminateIdle { .. } => "postgres.terminate_idle",
            ActionKind::CancelBlocking { .. } => "postgres.cancel_blocking",
            ActionKind::EcsForceNewDeployment { .. } => "ecs.force_new_deployment",
            ActionKind::PagerDuty(op) => op.kind(),
            ActionKind::Sentry(op) => op.kind(),
            ActionKind::Docker(op) => op.kind(),
            ActionKind::Kubernetes(op) => op.kind(),
        }
    }

    /// The alert source whose incidents offer the kind (`pagerduty`,
    /// `sentry`), for the vendor built-ins.
    pub fn source(&self) -> Option<&'static str> {
        match self {
            ActionKind::PagerDuty(_) => Some("pagerduty"),
            ActionKind::Sentry(_) => Some("sentry"),
            _ => None,
        }
    }

    /// Whether the kind acts on a PostgreSQL target's server.
    pub fn needs_postgres_target(&self) -> bool {
        matches!(
            self,
            ActionKind::TerminateIdle { .. } | ActionKind::CancelBlocking { .. }
        )
    }
}

/// A validated action.
#[derive(Debug, Clone)]
pub struct Action {
    /// `NAME` of `[actions.NAME]`.
    pub name: String,
    /// The button's label.
    pub title: String,
    /// What it does.
    pub kind: ActionKind,
    /// Targets whose reports offer it.
    pub offered_on: Vec<String>,
    /// Checks whose trouble offers it (empty: any problem).
    pub offered_when: Vec<String>,
    /// Who may request it.
    pub may_request: Vec<Principal>,
    /// Who may approve it.
    pub may_approve: Vec<Principal>,
    /// Approvals needed besides the requester.
    pub approvals: u32,
    /// Validity of offers and requests.
    pub expires: Duration,
    /// Least time between runs on one target.
    pub cooldown: Duration,
    /// Longest run.
    pub timeout: Duration,
    /// Output kept.
    pub output_cap: usize,
    /// Typed parameters.
    pub params: BTreeMap<String, Param>,
}

impl Action {
    /// Validates a config entry; `Err` lists every problem as
    /// `(field, message)`.
    pub fn parse(name: &str, raw: &ActionConfig) -> Result<Action, Vec<(String, String)>> {
        let mut problems: Vec<(String, String)> = Vec::new();
        let mut p = |field: &str, msg: String| problems.push((field.to_string(), msg));
        let duration = |field: &str,
                        v: &Option<String>,
                        default: Duration,
                        p: &mut dyn FnMut(&str, String)| {
            match v {
                None => default,
                Some(t) => crate::duration::parse(t).unwrap_or_else(|e| {
                    p(field, e);
                    default
                }),
            }
        };
        if raw.title.trim().is_empty() {
            p("title", "missing: the button's label".into());
        }
        let mut params = BTreeMap::new();
        for (pname, pc) in &raw.params {
            if pname == params::TARGET_PARAM {
                p(
                    &format!("params.{pname}"),
                    "`target` is given by the offer; choose another name".into(),
                );
                continue;
            }
            match Param::parse(pc) {
                Ok(v) => {
                    params.insert(pname.clone(), v);
                }
                Err(e) => p(&format!("params.{pname}"), e),
            }
        }
        let kind = match raw.kind.as_str() {
            "command" => {
                let on = remote(raw, &mut p);
                for name in &raw.env {
                    if let Err(e) = crate::child_env::check_passed(name) {
                        p("env", e);
                    }
                }
                if !raw.env.is_empty() && on.is_some() {
                    p(
                        "env",
                        "passes variables to a program run here; over ssh the remote command does not get them".into(),
                    );
                }
                match params::parse_argv(&raw.run, &params) {
                    Ok(argv) => Some(ActionKind::Command {
                        argv,
                        on,
                        env: raw.env.clone(),
                    }),
                    Err(e) => {
                        p("run", e);
                        None
                    }
                }
            }
            "http" => {
                let url = raw.url.as_deref().map(url::Url::parse);
                let method = raw
                    .method
                    .clone()
                    .unwrap_or_else(|| "POST".into())
                    .to_uppercase();
                if !["GET", "POST", "PUT", "PATCH", "DELETE"].contains(&method.as_str()) {
                    p(
                        "method",
                        format!("`{method}` is not GET, POST, PUT, PATCH or DELETE"),
                    );
                }
                match url {
                    Some(Ok(u)) if matches!(u.scheme(), "http" | "https") => {
                        Some(ActionKind::Http {
                            method,
                            url: u,
                            headers: raw.headers.clone(),
                            body: raw.body.clone(),
                        })
                    }
                    Some(Ok(_)) => {
                        p("url", "must be http:// or https://".into());
                        None
                    }
                    Some(Err(e)) => {
                        p("url", format!("not a valid URL ({e})"));
                        None
                    }
                    None => {
                        p("url", "missing: the endpoint to call".into());
                        None
                    }
                }
            }
            "postgres.terminate_idle" => Some(ActionKind::TerminateIdle {
                idle_for: duration("idle_for", &raw.idle_for, DEFAULT_IDLE_FOR, &mut p),
                application_name: raw.application_name.clone(),
            }),
            "postgres.cancel_blocking" => Some(ActionKind::CancelBlocking {
                blocked_for: duration("blocked_for", &raw.blocked_for, DEFAULT_BLOCKED_FOR, &mut p),
            }),
            "ecs.force_new_deployment" => Some(ActionKind::EcsForceNewDeployment {
                service: raw.service.clone(),
            }),
            "" => {
                p("kind", format!("missing: one of {}", KINDS.join(", ")));
                None
            }
            "pagerduty.acknowledge" => Some(ActionKind::PagerDuty(pagerduty::Op::Acknowledge)),
            "pagerduty.resolve" => Some(ActionKind::PagerDuty(pagerduty::Op::Resolve)),
            "pagerduty.reassign" => match raw.assign_to.as_deref().map(str::trim) {
                Some(user) if pagerduty::valid_user_id(user) => {
                    Some(ActionKind::PagerDuty(pagerduty::Op::Reassign {
                        user: user.to_string(),
                    }))
                }
                Some(user) => {
                    p(
                        "assign_to",
                        format!("`{user}` is not a PagerDuty user id (like PXPGF42)"),
                    );
                    None
                }
                None => {
                    p(
                        "assign_to",
                        "missing: the PagerDuty user id to reassign to (like PXPGF42)".into(),
                    );
                    None
                }
            },
            "docker.restart" => Some(ActionKind::Docker(docker::Op::Restart)),
            "docker.compose_restart" => Some(ActionKind::Docker(docker::Op::ComposeRestart)),
            "kubernetes.rollout_restart" => {
                Some(ActionKind::Kubernetes(kubernetes::Op::RolloutRestart))
            }
            "kubernetes.rollback" => Some(ActionKind::Kubernetes(kubernetes::Op::Rollback)),
            "sentry.resolve" => Some(ActionKind::Sentry(sentry::Op::Resolve)),
            "sentry.ignore" => Some(ActionKind::Sentry(sentry::Op::Ignore)),
            other => {
                p(
                    "kind",
                    format!("`{other}` is not one of {}", KINDS.join(", ")),
                );
                None
            }
        };
        let mut principals = |field: &str, list: &[String]| -> Vec<Principal> {
            list.iter()
                .filter_map(|s| Principal::parse(s).map_err(|e| p(field, e)).ok())
                .collect()
        };
        let may_request = principals("may_request", &raw.may_request);
        let may_approve = principals("may_approve", &raw.may_approve);
        if raw.may_request.is_empty() {
            p(
                "may_request",
                "missing: nobody could press the button (e.g. [\"group:sre\"])".into(),
            );
        }
        if raw.approvals > 0 && raw.may_approve.is_empty() {
            p(
                "may_approve",
                format!("missing: `approvals = {}` needs approvers", raw.approvals),
            );
        }
        if raw.offered_on.is_empty() {
            p(
                "offered_on",
                "missing: the targets whose reports offer this action".into(),
            );
        }
        let source = kind.as_ref().and_then(ActionKind::source);
        for o in &raw.offered_on {
            match (o.strip_prefix(SOURCE_PREFIX), source) {
                (Some(s), Some(want)) if s != want => p(
                    "offered_on",
                    format!(
                        "`{o}`: {} acts on {want} incidents only; write `source:{want}`",
                        raw.kind
                    ),
                ),
                (Some(_), Some(_)) => {}
                (None, Some(want)) => p(
                    "offered_on",
                    format!(
                        "`{o}`: {} acts on an incident, not a target; write `source:{want}`",
                        raw.kind
                    ),
                ),
                (Some(_), None) if kind.is_some() => p(
                    "offered_on",
                    format!(
                        "`{o}`: only the pagerduty.* and sentry.* built-ins are offered on incidents"
                    ),
                ),
                _ => {}
            }
        }
        let expires = duration("expires", &raw.expires, DEFAULT_EXPIRES, &mut p);
        let cooldown = duration("cooldown", &raw.cooldown, Duration::ZERO, &mut p);
        let timeout = duration("timeout", &raw.timeout, DEFAULT_TIMEOUT, &mut p);
        if expires.is_zero() {
            p("expires", "must be longer than 0s".into());
        }
        if timeout.is_zero() {
            p("timeout", "must be longer than 0s".into());
        }
        let output_cap = raw.output_cap.unwrap_or(DEFAULT_OUTPUT_CAP);
        if output_cap == 0 {
            p("output_cap", "must be at least 1 byte".into());
        }
        let offered_when = match (&kind, raw.offered_when.is_empty()) {
            (Some(kind), true) => kind.offered_when(),
            _ => raw.offered_when.clone(),
        };
        match kind {
            Some(kind) if problems.is_empty() => Ok(Action {
                name: name.to_string(),
                title: raw.title.trim().to_string(),
                kind,
                offered_on: raw.offered_on.clone(),
                offered_when,
                may_request,
                may_approve,
                approvals: raw.approvals,
                expires,
                cooldown,
                timeout,
                output_cap,
                params,
            }),
            _ => Err(problems),
        }
    }

    /// Whether an incident from `source` (`pagerduty`, `sentry`) offers
    /// this action in its thread.
    pub fn offered_for_source(&self, source: &str) -> bool {
        self.kind.source() == Some(source)
            && self
                .offered_on
                .iter()
                .any(|o| o.strip_prefix(SOURCE_PREFIX) == Some(source))
    }

    /// Whether a report of `target` whose troubled checks are `problems`
    /// offers this action.
    pub fn offered_for(&self, target: &str, problems: &[&str]) -> bool {
        self.offered_on.iter().any(|t| t == target)
            && if self.offered_when.is_empty() {
                !problems.is_empty()
            } else {
                problems
                    .iter()
                    .any(|c| self.offered_when.iter().any(|w| w == c))
            }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A terminate_idle action needing `approvals`, for policy tests.
    pub(crate) fn action(approvals: u32) -> Action {
        Action::parse(
            "kill-idle",
            &ActionConfig {
                title: "Terminate idle".into(),
                kind: "postgres.terminate_idle".into(),
                offered_on: vec!["db".into()],
                may_request: vec!["group:sre".into(), "oncall".into()],
                may_approve: vec!["group:sre".into()],
                approvals,
                cooldown: Some("5m".into()),
                ..Default::default()
            },
        )
        .expect("valid")
    }

    #[test]
    fn defaults_and_offering() {
        let a = action(1);
        assert_eq!(a.expires, DEFAULT_EXPIRES);
        assert_eq!(a.offered_when, vec!["postgres.connections"]);
        assert!(a.offered_for("db", &["postgres.connections"]));
        assert!(!a.offered_for("db", &["postgres.uptime"]));
        assert!(!a.offered_for("other", &["postgres.connections"]));
    }

    #[test]
    fn every_problem_is_listed_with_its_field() {
        let raw = ActionConfig {
            kind: "command".into(),
            run: vec!["sh".into(), "-c={x}".into()],
            may_request: vec!["team:x".into()],
            approvals: 1,
            expires: Some("soon".into()),
            ..Default::default()
        };
        let errs = Action::parse("x", &raw).unwrap_err();
        let fields: Vec<&str> = errs.iter().map(|(f, _)| f.as_str()).collect();
        for f in [
            "title",
            "run",
            "may_request",
            "may_approve",
            "offered_on",
            "expires",
        ] {
            assert!(fields.contains(&f), "{f} missing from {errs:?}");
        }
    }

    fn vendor(kind: &str, offered_on: &str) -> Result<Action, Vec<(String, String)>> {
        Action::parse(
            "v",
            &ActionConfig {
                title: "Vendor".into(),
                kind: kind.into(),
                offered_on: vec![offered_on.into()],
                may_request: vec!["oncall".into()],
                assign_to: Some("PXPGF42".into()),
                ..Default::default()
            },
        )
    }

    fn command(edit: impl FnOnce(&mut ActionConfig)) -> Result<Action, Vec<(String, String)>> {
        let mut raw = ActionConfig {
            title: "Restart".into(),
            kind: "command".into(),
            run: vec!["systemctl".into(), "restart".into(), "redis".into()],
            offered_on: vec!["cache".into()],
            may_request: vec!["oncall".into()],
            ..Default::default()
        };
        edit(&mut raw);
        Action::parse("restart", &raw)
    }

    fn fields(errs: Vec<(String, String)>) -> Vec<String> {
        errs.into_iter().map(|(f, _)| f).collect()
    }

    #[test]
    fn a_remote_command_is_checked_like_a_host_targets_ssh() {
        let a = command(|r| {
            r.on = Some("deploy@10.0.1.1".into());
            r.ssh_port = Some(2222);
            r.ssh_key = Some("/etc/medic/id_ed25519".into());
            r.ssh_known_hosts = Some("/etc/medic/known_hosts".into());
        })
        .expect("valid");
        let ActionKind::Command { on: Some(ssh), .. } = &a.kind else {
            panic!("{:?}", a.kind);
        };
        assert_eq!(ssh.shown(), "deploy@10.0.1.1:2222");
        let errs = command(|r| r.on = Some("-oProxyCommand=touch /tmp/x".into())).unwrap_err();
        assert_eq!(fields(errs), ["on"]);
        let errs = command(|r| {
            r.on = Some("deploy@h".into());
            r.ssh_key = Some("id_rsa".into());
        })
        .unwrap_err();
        assert_eq!(fields(errs), ["ssh_key"]);
        let errs = command(|r| r.ssh_known_hosts = Some("/k".into())).unwrap_err();
        assert_eq!(fields(errs), ["ssh_known_hosts"]);
    }

    #[test]
    fn env_names_variables_and_never_medics_own() {
        let a = command(|r| r.env = vec!["KUBECONFIG".into()]).expect("valid");
        assert!(matches!(&a.kind, ActionKind::Command { env, .. } if env == &["KUBECONFIG"]));
        for bad in ["MEDIC__SLACK__BOT_TOKEN", "medic_x", "A=B", "1X", ""] {
            let errs = command(|r| r.env = vec![bad.into()]).unwrap_err();
            assert_eq!(fields(errs), ["env"], "{bad}");
        }
        let errs = command(|r| {
            r.env = vec!["KUBECONFIG".into()];
            r.on = Some("deploy@h".into());
        })
        .unwrap_err();
        assert_eq!(fields(errs), ["env"]);
    }

    #[test]
    fn vendor_built_ins_are_offered_on_their_source_only() {
        let ack = vendor("pagerduty.acknowledge", "source:pagerduty").expect("valid");
        assert!(ack.offered_for_source("pagerduty"));
        assert!(!ack.offered_for_source("sentry"));
        assert!(!ack.offered_for("pagerduty", &["x"]));
        let ignore = vendor("sentry.ignore", "source:sentry").expect("valid");
        assert!(ignore.offered_for_source("sentry"));
        let errs = vendor("sentry.resolve", "source:pagerduty").unwrap_err();
        assert!(errs[0].1.contains("write `source:sentry`"), "{errs:?}");
        let errs = vendor("pagerduty.resolve", "db").unwrap_err();
        assert!(errs[0].1.contains("not a target"), "{errs:?}");
        let errs = vendor("postgres.terminate_idle", "source:sentry").unwrap_err();
        assert!(errs.iter().any(|(f, _)| f == "offered_on"), "{errs:?}");
    }

    #[test]
    fn reassign_needs_a_user_id() {
        let raw = ActionConfig {
            title: "Reassign".into(),
            kind: "pagerduty.reassign".into(),
            offered_on: vec!["source:pagerduty".into()],
            may_request: vec!["oncall".into()],
            ..Default::default()
        };
        let errs = Action::parse("r", &raw).unwrap_err();
        assert_eq!(errs[0].0, "assign_to", "{errs:?}");
        let raw = ActionConfig {
            assign_to: Some("px\"}".into()),
            ..raw
        };
        let errs = Action::parse("r", &raw).unwrap_err();
        assert!(errs[0].1.contains("not a PagerDuty user id"), "{errs:?}");
        let a = vendor("pagerduty.reassign", "source:pagerduty").expect("valid");
        assert_eq!(a.kind.name(), "pagerduty.reassign");
    }
}

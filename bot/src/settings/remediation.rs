//! `[groups]` and `[actions.NAME]`: the remediations medic
//! offers and the people who may use them.
//!
//! Validation goes past each action's own fields: the targets it is
//! offered on must exist (and be PostgreSQL for the postgres built-ins),
//! and every `group:NAME` must name a group — a typo there would quietly
//! lock everyone out of a button when it is needed most.

use std::collections::{BTreeMap, BTreeSet};

use config::{Value, ValueKind};
use medic_commands::actions::policy::{Directory, Principal};
use medic_commands::actions::{Action, ActionConfig, ActionKind};
use medic_commands::diagnostics::TargetSpec;
use medic_commands::oncall::OnCall;

use super::{Reader, problem};

/// The remediations and who may use them.
#[derive(Debug, Clone, Default)]
pub struct RemediationSettings {
    /// `[actions.NAME]`, validated.
    pub actions: BTreeMap<String, Action>,
    /// `[groups]` and `[oncall] users`; rotations' holders are added per
    /// check (`Directory::holders`).
    pub directory: Directory,
}

impl RemediationSettings {
    /// The actions a report of `target` with these troubled checks offers.
    pub fn offered<'a>(&'a self, target: &str, problems: &[&str]) -> Vec<&'a Action> {
        self.actions
            .values()
            .filter(|a| a.offered_for(target, problems))
            .collect()
    }
}

impl Reader {
    pub(super) fn remediation(
        &mut self,
        groups: Option<Value>,
        on_call_users: BTreeSet<String>,
        oncall: &OnCall,
        actions: Option<Value>,
        targets: &BTreeMap<String, TargetSpec>,
    ) -> RemediationSettings {
        let mut directory = Directory::default();
        if let Some(raw) = self.section::<BTreeMap<String, Vec<String>>>("groups", groups) {
            for (name, members) in raw {
                if members.is_empty() {
                    self.warnings
                        .push(problem(format!("groups.{name}"), "has no members"));
                }
                directory
                    .groups
                    .insert(name, members.into_iter().collect::<BTreeSet<_>>());
            }
        }
        directory.on_call = on_call_users;

        let mut out = RemediationSettings {
            actions: BTreeMap::new(),
            directory,
        };
        let table = match actions.map(|v| v.kind) {
            None => return out,
            Some(ValueKind::Table(t)) => t,
            Some(_) => {
                self.problems.push(problem(
                    "actions",
                    "must be a table of [actions.NAME] sections",
                ));
                return out;
            }
        };
        let table: BTreeMap<String, Value> = table.into_iter().collect();
        let mut uses_oncall = false;
        for (name, value) in table {
            let key = format!("actions.{name}");
            let Some(raw) = self.section::<ActionConfig>(&key, Some(value)) else {
                continue;
            };
            let before = self.problems.len();
            for t in &raw.offered_on {
                // `source:…` names an alert source; settings/vendor.rs checks it.
                if t.starts_with(medic_commands::actions::SOURCE_PREFIX) {
                    continue;
                }
                match targets.get(t) {
                    None => self.problems.push(problem(
                        format!("{key}.offered_on"),
                        format!("`{t}` is not a configured target"),
                    )),
                    Some(spec)
                        if raw.kind.starts_with("postgres.")
                            && !matches!(spec, TargetSpec::Postgres(_)) =>
                    {
                        self.problems.push(problem(
                            format!("{key}.offered_on"),
                            format!(
                                "`{t}` is a {} target; {} acts on PostgreSQL targets only",
                                spec.kind(),
                                raw.kind
                            ),
                        ))
                    }
                    Some(spec) if raw.kind.starts_with("ecs.") => match spec {
                        TargetSpec::Ecs(e) => {
                            if let Err(why) =
                                medic_commands::actions::ecs::service_of(e, raw.service.as_deref())
                            {
                                self.problems.push(problem(
                                    format!("{key}.service"),
                                    format!("on `{t}`: {why}"),
                                ));
                            }
                        }
                        other => self.problems.push(problem(
                            format!("{key}.offered_on"),
                            format!(
                                "`{t}` is a {} target; {} acts on ECS targets only",
                                other.kind(),
                                raw.kind
                            ),
                        )),
                    },
                    Some(spec)
                        if raw.kind.starts_with("docker.")
                            && !matches!(spec, TargetSpec::Docker(_)) =>
                    {
                        self.problems.push(problem(
                            format!("{key}.offered_on"),
                            format!(
                                "`{t}` is a {} target; {} acts on docker targets only",
                                spec.kind(),
                                raw.kind
                            ),
                        ))
                    }
                    Some(TargetSpec::Docker(d))
                        if raw.kind == "docker.compose_restart" && d.compose_project.is_none() =>
                    {
                        self.problems.push(problem(
                            format!("{key}.offered_on"),
                            format!(
                                "`{t}` names no compose_project; docker.compose_restart restarts a service of a Compose project"
                            ),
                        ))
                    }
                    Some(spec) if raw.kind.starts_with("kubernetes.") => {
                        let fits = match (spec, Action::parse(&name, &raw).map(|a| a.kind)) {
                            (TargetSpec::Kubernetes(k), Ok(ActionKind::Kubernetes(op))) => {
                                op.fits(k).map_err(|e| format!("`{t}`: {e}"))
                            }
                            // The kind itself is reported by Action::parse.
                            (TargetSpec::Kubernetes(_), _) => Ok(()),
                            (other, _) => Err(format!(
                                "`{t}` is a {} target; {} acts on kubernetes targets only",
                                other.kind(),
                                raw.kind
                            )),
                        };
                        if let Err(e) = fits {
                            self.problems.push(problem(format!("{key}.offered_on"), e));
                        }
                    }
                    Some(_) => {}
                }
            }
            if raw.service.is_some() && !raw.kind.starts_with("ecs.") {
                self.problems.push(problem(
                    format!("{key}.service"),
                    format!(
                        "only means something for ecs.force_new_deployment, not {}",
                        raw.kind
                    ),
                ));
            }
            match Action::parse(&name, &raw) {
                Ok(action) => {
                    for p in action.may_request.iter().chain(&action.may_approve) {
                        match p {
                            Principal::Group(g) if !out.directory.groups.contains_key(g) => {
                                self.problems.push(problem(
                                    &key,
                                    format!("`group:{g}` names no group in [groups]"),
                                ));
                            }
                            Principal::OnCall => uses_oncall = true,
                            Principal::OnCallIn(r) if !oncall.rotations.contains_key(r) => {
                                self.problems.push(problem(
                                    &key,
                                    format!(
                                        "`oncall:{r}` names no rotation in [[oncall.rotations]]"
                                    ),
                                ));
                            }
                            Principal::Group(_) | Principal::User(_) | Principal::OnCallIn(_) => {}
                        }
                    }
                    if self.problems.len() == before {
                        out.actions.insert(name, action);
                    }
                }
                Err(problems) => {
                    for (field, msg) in problems {
                        self.problems.push(problem(format!("{key}.{field}"), msg));
                    }
                }
            }
        }
        if uses_oncall && out.directory.on_call.is_empty() && oncall.rotations.is_empty() {
            self.warnings.push(problem(
                "oncall.users",
                "actions name `oncall`, but there is no rotation and nobody is listed as on call, so that rule matches nobody",
            ));
        }
        out
    }
}

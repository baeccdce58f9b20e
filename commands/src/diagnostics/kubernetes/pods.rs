//! Purpose: `kubectl get pods` and `kubectl describe pod`, read the way
//! the Troubleshooting Guide reads them: each container's state and its
//! reason (CrashLoopBackOff, ImagePullBackOff / ErrImagePull, OOMKilled,
//! Error with its exit code), restarts, readiness, a pod that cannot be
//! scheduled — with the container's requests and limits next to the
//! reason, since an OOM kill is read against the memory limit.
//!
//! Pure: pods (and the namespace's Warning events, for the pull error) in,
//! findings out, `now` passed in. The same trouble in many pods of one
//! Deployment is one finding naming the pods, not one per replica.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{
    Container, ContainerStateTerminated, ContainerStatus, Event, Pod, ResourceRequirements,
};
use time::OffsetDateTime;

use super::connect::Workload;
use super::{KubernetesTarget, secs_since, to_offset};
use crate::format::human_age;
use crate::model::report::{Finding, Status};

/// A restart older than this is history, not news.
pub const RECENT_RESTART_SECS: u64 = 3600;

/// Pods named in one finding before "and N more".
const PODS_NAMED: usize = 3;

/// The exit code of a process killed by SIGKILL (128 + 9): what an OOM
/// kill looks like from outside.
pub const SIGKILL_EXIT: i32 = 137;

/// Waiting reasons that mean the image cannot be had.
const PULL_REASONS: [&str; 4] = [
    "ImagePullBackOff",
    "ErrImagePull",
    "InvalidImageName",
    "ErrImageNeverPull",
];

/// Waiting reasons that mean the container cannot start as configured.
const START_REASONS: [&str; 6] = [
    "CreateContainerConfigError",
    "CreateContainerError",
    "RunContainerError",
    "PreStartHookError",
    "PostStartHookError",
    "ContainerCannotRun",
];

/// Waiting reasons of a container on its way up.
const STARTING_REASONS: [&str; 2] = ["ContainerCreating", "PodInitializing"];

/// The API check's line about the pods: how many, how many ready, and
/// their states the way `kubectl get pods` shows its STATUS column.
pub fn summary(target: &KubernetesTarget, workload: Option<&Workload>, pods: &[Pod]) -> Finding {
    let ns = &target.namespace;
    let what = match workload {
        Some(w) => w.describe(),
        None => target.selection(),
    };
    let desired = workload.map(Workload::desired);
    if pods.is_empty() {
        return match desired {
            Some(0) => Finding::ok(
                "kubernetes.pods",
                format!("{what} in {ns}: scaled to 0, no pods"),
            ),
            Some(d) => Finding::critical(
                "kubernetes.pods",
                format!("{what} in {ns}: no pods, {d} desired"),
            )
            .with_detail("The ReplicaSet cannot create them: the Warning events (FailedCreate: quota, admission) say why."),
            None => match (&target.selector, target.pods.is_empty()) {
                (Some(s), true) => {
                    Finding::warn("kubernetes.pods", format!("No pods match {s} in {ns}"))
                }
                _ => Finding::warn("kubernetes.pods", format!("{what} in {ns}: not found")),
            },
        };
    }
    let ready = pods.iter().filter(|p| is_ready(p)).count();
    let mut states: BTreeMap<String, usize> = BTreeMap::new();
    for p in pods {
        *states.entry(display_status(p)).or_default() += 1;
    }
    let mut states: Vec<(String, usize)> = states.into_iter().collect();
    states.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    let states: Vec<String> = states.iter().map(|(s, n)| format!("{n} {s}")).collect();
    let of = match desired {
        Some(d) => format!("{ready}/{d} ready"),
        None => format!("{ready}/{} ready", pods.len()),
    };
    let text = format!(
        "{what} in {ns}: {of} ({} pod{}: {})",
        pods.len(),
        if pods.len() == 1 { "" } else { "s" },
        states.join(", ")
    );
    let wanted = desired.map_or(pods.len(), |d| d.max(0) as usize);
    let status = if ready == 0 {
        Status::Critical
    } else if ready < wanted || ready < pods.len() {
        Status::Warn
    } else {
        Status::Ok
    };
    Finding::new("kubernetes.pods", status, text)
}

/// Whether the pod's Ready condition is true.
fn is_ready(pod: &Pod) -> bool {
    pod.status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .is_some_and(|cs| cs.iter().any(|c| c.type_ == "Ready" && c.status == "True"))
}

/// The STATUS column of `kubectl get pods`: a waiting or terminated
/// container's reason wins over the pod's phase.
pub fn display_status(pod: &Pod) -> String {
    if pod.metadata.deletion_timestamp.is_some() {
        return "Terminating".into();
    }
    let Some(status) = &pod.status else {
        return "Unknown".into();
    };
    if let Some(r) = &status.reason {
        return r.clone();
    }
    let mut shown = status.phase.clone().unwrap_or_else(|| "Unknown".into());
    for cs in status.init_container_statuses.iter().flatten() {
        match cs.state.as_ref() {
            Some(s) if s.waiting.as_ref().and_then(|w| w.reason.as_ref()).is_some() => {
                let r = s
                    .waiting
                    .as_ref()
                    .and_then(|w| w.reason.clone())
                    .unwrap_or_default();
                if !STARTING_REASONS.contains(&r.as_str()) {
                    return format!("Init:{r}");
                }
            }
            Some(s) if s.terminated.as_ref().is_some_and(|t| t.exit_code != 0) => {
                return "Init:Error".into();
            }
            _ => {}
        }
    }
    for cs in status.container_statuses.iter().flatten() {
        if let Some(state) = &cs.state {
            if let Some(r) = state.waiting.as_ref().and_then(|w| w.reason.clone()) {
                shown = r;
            } else if let Some(t) = &state.terminated {
                shown = t
                    .reason
                    .clone()
                    .unwrap_or_else(|| format!("ExitCode:{}", t.exit_code));
            }
        }
    }
    shown
}

/// One container's trouble in one pod, before pods with the same trouble
/// are put together.
struct Item {
    check: &'static str,
    status: Status,
    container: String,
    /// What the container is or did: "is crash-looping (CrashLoopBackOff)".
    what: String,
    pod: String,
    /// After the pods: "; 7 restarts, last exit code 1 (Error) 2 min ago".
    tail: String,
    detail: Vec<String>,
    evidence: Option<String>,
    at: Option<OffsetDateTime>,
    /// Orders pods within a group: the worst (most restarts) first.
    weight: i64,
}

/// Every container's and pod's trouble, grouped; one ok line when there
/// is none. `events` are the namespace's Warning events, when they could
/// be read (they hold the image pull's own error).
pub fn findings(pods: &[Pod], events: Option<&[Event]>, now: OffsetDateTime) -> Vec<Finding> {
    let mut items = Vec::new();
    let mut containers = 0;
    for pod in pods {
        let name = pod.metadata.name.clone().unwrap_or_default();
        let ns = pod.metadata.namespace.clone().unwrap_or_default();
        let Some(status) = &pod.status else { continue };
        pod_items(pod, &name, &mut items);
        let spec = pod.spec.as_ref();
        let inits = status.init_container_statuses.iter().flatten().map(|cs| {
            let c = spec.and_then(|s| {
                s.init_containers
                    .iter()
                    .flatten()
                    .find(|c| c.name == cs.name)
            });
            (cs, c, true)
        });
        let mains = status.container_statuses.iter().flatten().map(|cs| {
            let c = spec.and_then(|s| s.containers.iter().find(|c| c.name == cs.name));
            (cs, c, false)
        });
        for (cs, c, init) in inits.chain(mains) {
            containers += usize::from(!init);
            container_items(&ns, &name, cs, c, init, events, now, &mut items);
        }
    }
    if items.is_empty() {
        if pods.is_empty() {
            return Vec::new();
        }
        return vec![Finding::ok(
            "kubernetes.containers",
            format!(
                "All {containers} container{} in {} pod{} running, ready and not restarting",
                if containers == 1 { "" } else { "s" },
                pods.len(),
                if pods.len() == 1 { "" } else { "s" }
            ),
        )];
    }
    group(items)
}

fn pod_items(pod: &Pod, name: &str, out: &mut Vec<Item>) {
    let Some(status) = &pod.status else { return };
    let phase = status.phase.as_deref().unwrap_or("Unknown");
    let unscheduled = status
        .conditions
        .iter()
        .flatten()
        .find(|c| c.type_ == "PodScheduled" && c.status == "False");
    let item = |check, status, what: String, evidence: Option<String>| Item {
        check,
        status,
        container: String::new(),
        what,
        pod: name.to_string(),
        tail: String::new(),
        detail: Vec::new(),
        evidence,
        at: None,
        weight: 0,
    };
    match (phase, unscheduled) {
        ("Pending", Some(c)) => {
            let mut i = item(
                "kubernetes.scheduling",
                Status::Critical,
                format!(
                    "cannot be scheduled ({})",
                    c.reason.as_deref().unwrap_or("Unschedulable")
                ),
                c.message.clone(),
            );
            i.detail.push("No node fits its requests, node selector, affinity or tolerations: the message says which.".into());
            out.push(i);
        }
        ("Failed", _) => out.push(item(
            "kubernetes.pod_failed",
            Status::Critical,
            format!(
                "failed{}",
                status
                    .reason
                    .as_deref()
                    .map(|r| format!(" ({r})"))
                    .unwrap_or_default()
            ),
            status.message.clone(),
        )),
        ("Unknown", _) => out.push(item(
            "kubernetes.pod_failed",
            Status::Critical,
            "is in phase Unknown: its node stopped reporting".into(),
            status.message.clone(),
        )),
        _ => {}
    }
}

#[allow(clippy::too_many_arguments)]
fn container_items(
    ns: &str,
    pod: &str,
    cs: &ContainerStatus,
    spec: Option<&Container>,
    init: bool,
    events: Option<&[Event]>,
    now: OffsetDateTime,
    out: &mut Vec<Item>,
) {
    let container = if init {
        format!("{} (init)", cs.name)
    } else {
        cs.name.clone()
    };
    let resources = resources_line(spec.and_then(|c| c.resources.as_ref()));
    let last = cs.last_state.as_ref().and_then(|s| s.terminated.as_ref());
    let state = cs.state.as_ref();
    let waiting = state.and_then(|s| s.waiting.as_ref());
    let terminated = state.and_then(|s| s.terminated.as_ref());
    let running = state.and_then(|s| s.running.as_ref());
    let base = |check, status, what: String| Item {
        check,
        status,
        container: container.clone(),
        what,
        pod: pod.to_string(),
        tail: String::new(),
        detail: Vec::new(),
        evidence: None,
        at: None,
        weight: i64::from(cs.restart_count),
    };
    let by_hand_previous = format!(
        "By hand: kubectl logs -n {ns} {pod} -c {} --previous",
        cs.name
    );

    if let Some(w) = waiting {
        let reason = w.reason.clone().unwrap_or_default();
        if reason == "CrashLoopBackOff" {
            let mut i = base(
                "kubernetes.crashloop",
                Status::Critical,
                "is crash-looping (CrashLoopBackOff)".into(),
            );
            i.tail = format!("; {}", restarts_phrase(cs.restart_count, last, now));
            if let Some(t) = last {
                i.detail.push(last_run(t));
                i.at = t.finished_at.as_ref().and_then(|f| to_offset(&f.0));
            }
            i.detail.push(resources.clone());
            i.detail.push(by_hand_previous.clone());
            out.push(i);
            if let Some(t) = last.filter(|t| is_oom(t)) {
                out.push(oom_item(
                    base("kubernetes.oom_killed", Status::Critical, String::new()),
                    t,
                    spec,
                ));
            }
        } else if PULL_REASONS.contains(&reason.as_str()) {
            let image = spec
                .map(|c| c.image.clone().unwrap_or_default())
                .filter(|i| !i.is_empty())
                .unwrap_or_else(|| cs.image.clone());
            let mut i = base(
                "kubernetes.image_pull",
                Status::Critical,
                format!("cannot pull image {image} ({reason})"),
            );
            let event = events.and_then(|evs| pull_error(evs, pod));
            match (event, &w.message) {
                (Some(e), message) => {
                    i.evidence = Some(e);
                    if let Some(m) = message {
                        i.detail.push(format!("Kubelet: {m}"));
                    }
                }
                (None, Some(m)) => i.evidence = Some(m.clone()),
                (None, None) => {}
            }
            i.detail.push("Check the image name and tag exist in the registry, and that the node may pull it (imagePullSecrets).".into());
            out.push(i);
        } else if START_REASONS.contains(&reason.as_str()) {
            let mut i = base(
                "kubernetes.containers",
                Status::Critical,
                format!("cannot start ({reason})"),
            );
            i.evidence = w.message.clone();
            i.detail.push(
                "A missing Secret or ConfigMap, or a bad command, usually: the message names it."
                    .into(),
            );
            out.push(i);
        } else if !STARTING_REASONS.contains(&reason.as_str()) && !reason.is_empty() {
            let mut i = base(
                "kubernetes.containers",
                Status::Warn,
                format!("is waiting ({reason})"),
            );
            i.evidence = w.message.clone();
            out.push(i);
        }
        return;
    }
    if let Some(t) = terminated {
        if t.exit_code != 0 {
            let mut i = base(
                "kubernetes.exited",
                Status::Critical,
                format!("exited with code {}{}", t.exit_code, reason_phrase(t)),
            );
            i.at = t.finished_at.as_ref().and_then(|f| to_offset(&f.0));
            i.evidence = t.message.clone();
            i.detail.push(resources.clone());
            i.detail.push(format!(
                "By hand: kubectl logs -n {ns} {pod} -c {}",
                cs.name
            ));
            out.push(i);
            if is_oom(t) {
                out.push(oom_item(
                    base("kubernetes.oom_killed", Status::Critical, String::new()),
                    t,
                    spec,
                ));
            }
        }
        return;
    }
    if running.is_some() {
        if let Some(t) = last
            && cs.restart_count > 0
        {
            let ago = t.finished_at.as_ref().map(|f| secs_since(&f.0, now));
            if ago.is_some_and(|a| a < RECENT_RESTART_SECS) {
                let mut i = base("kubernetes.restarts", Status::Warn, "restarted".into());
                i.tail = format!("; {}", restarts_phrase(cs.restart_count, Some(t), now));
                i.at = t.finished_at.as_ref().and_then(|f| to_offset(&f.0));
                i.detail.push(last_run(t));
                i.detail.push(resources.clone());
                i.detail.push(by_hand_previous.clone());
                out.push(i);
                if is_oom(t) {
                    out.push(oom_item(
                        base("kubernetes.oom_killed", Status::Warn, String::new()),
                        t,
                        spec,
                    ));
                }
            }
        }
        if !cs.ready && !init {
            let mut i = base(
                "kubernetes.readiness",
                Status::Warn,
                "is running but not ready".into(),
            );
            i.evidence = events.and_then(|evs| latest_for_pod(evs, pod, "Unhealthy"));
            i.detail.push("Its readiness probe fails, so it gets no traffic; the probe's error is in the Unhealthy events.".into());
            out.push(i);
        }
    }
}

fn is_oom(t: &ContainerStateTerminated) -> bool {
    t.reason.as_deref() == Some("OOMKilled")
}

/// The OOM kill, read against the memory limit (or its absence).
fn oom_item(mut i: Item, t: &ContainerStateTerminated, spec: Option<&Container>) -> Item {
    let resources = spec.and_then(|c| c.resources.as_ref());
    let limit = quantity(resources, Part::Limits, "memory");
    let request = quantity(resources, Part::Requests, "memory");
    i.what = format!("was OOMKilled (exit code {})", t.exit_code);
    i.tail = match (&limit, &request) {
        (Some(l), Some(r)) => format!(": memory limit {l} (request {r})"),
        (Some(l), None) => format!(": memory limit {l}"),
        (None, _) => ": no memory limit set, so the node itself ran out of memory".into(),
    };
    i.at = t.finished_at.as_ref().and_then(|f| to_offset(&f.0));
    i.detail.push(match limit {
        Some(l) => format!("The kernel killed it for using more than its {l} limit: raise resources.limits.memory, or find what grows (a leak, a large request or batch)."),
        None => "Without a limit the container can use the node's memory until the kernel kills something: set resources.limits.memory.".into(),
    });
    i
}

#[derive(Clone, Copy)]
enum Part {
    Requests,
    Limits,
}

fn quantity(r: Option<&ResourceRequirements>, part: Part, name: &str) -> Option<String> {
    let map = match part {
        Part::Requests => r?.requests.as_ref()?,
        Part::Limits => r?.limits.as_ref()?,
    };
    map.get(name).map(|q| q.0.clone())
}

/// "Resources: requests cpu 100m, memory 128Mi; limits memory 256Mi".
pub fn resources_line(r: Option<&ResourceRequirements>) -> String {
    let list = |part: Part| -> Option<String> {
        let items: Vec<String> = ["cpu", "memory"]
            .iter()
            .filter_map(|n| quantity(r, part, n).map(|q| format!("{n} {q}")))
            .collect();
        (!items.is_empty()).then(|| items.join(", "))
    };
    match (list(Part::Requests), list(Part::Limits)) {
        (None, None) => "Resources: no requests or limits set".into(),
        (Some(rq), None) => format!("Resources: requests {rq}; no limits"),
        (None, Some(l)) => format!("Resources: no requests; limits {l}"),
        (Some(rq), Some(l)) => format!("Resources: requests {rq}; limits {l}"),
    }
}

fn reason_phrase(t: &ContainerStateTerminated) -> String {
    t.reason
        .as_deref()
        .map(|r| format!(" ({r})"))
        .unwrap_or_default()
}

/// "7 restarts, last exit code 1 (Error) 2 min ago".
fn restarts_phrase(
    count: i32,
    last: Option<&ContainerStateTerminated>,
    now: OffsetDateTime,
) -> String {
    let mut text = format!("{count} restart{}", if count == 1 { "" } else { "s" });
    if let Some(t) = last {
        text.push_str(&format!(
            ", last exit code {}{}",
            t.exit_code,
            reason_phrase(t)
        ));
        if let Some(f) = &t.finished_at {
            text.push_str(&format!(" {} ago", human_age(secs_since(&f.0, now))));
        }
    }
    text
}

/// "Its last run: 14 s, ended 06:32:10 UTC".
fn last_run(t: &ContainerStateTerminated) -> String {
    let started = t.started_at.as_ref().and_then(|s| to_offset(&s.0));
    let finished = t.finished_at.as_ref().and_then(|s| to_offset(&s.0));
    match (started, finished) {
        (Some(s), Some(f)) => format!(
            "Its last run lasted {}, ending {}",
            human_age((f - s).whole_seconds().max(0) as u64),
            crate::format::utc_clock(f)
        ),
        (_, Some(f)) => format!("Its last run ended {}", crate::format::utc_clock(f)),
        _ => "Its last run's times are not known".into(),
    }
}

/// The image pull's own error: the latest "Failed to pull image" event of
/// the pod (the waiting message only says "Back-off pulling image").
fn pull_error(events: &[Event], pod: &str) -> Option<String> {
    let mut of_pod: Vec<&Event> = events
        .iter()
        .filter(|e| {
            e.involved_object.kind.as_deref() == Some("Pod")
                && e.involved_object.name.as_deref() == Some(pod)
                && e.message
                    .as_deref()
                    .is_some_and(|m| m.starts_with("Failed to pull image"))
        })
        .collect();
    of_pod.sort_by_key(|e| super::events::last_seen(e));
    of_pod.last().and_then(|e| e.message.clone())
}

fn latest_for_pod(events: &[Event], pod: &str, reason: &str) -> Option<String> {
    events
        .iter()
        .filter(|e| {
            e.involved_object.name.as_deref() == Some(pod) && e.reason.as_deref() == Some(reason)
        })
        .max_by_key(|e| super::events::last_seen(e))
        .and_then(|e| e.message.clone())
}

/// Puts together the same trouble of the same container in several pods.
fn group(mut items: Vec<Item>) -> Vec<Finding> {
    items.sort_by(|a, b| b.weight.cmp(&a.weight).then(a.pod.cmp(&b.pod)));
    let mut groups: Vec<(Item, Vec<String>)> = Vec::new();
    for item in items {
        match groups.iter_mut().find(|(g, _)| {
            g.check == item.check && g.container == item.container && g.what == item.what
        }) {
            Some((_, pods)) => pods.push(item.pod),
            None => {
                let pod = item.pod.clone();
                groups.push((item, vec![pod]));
            }
        }
    }
    groups
        .into_iter()
        .map(|(i, pods)| {
            let subject = match (i.container.is_empty(), pods.as_slice()) {
                (true, [one]) => format!("Pod {one}"),
                (true, _) => pods_phrase(&pods),
                (false, _) => format!("Container {} in {}", i.container, pods_phrase(&pods)),
            };
            let mut f = Finding::new(i.check, i.status, format!("{subject} {}{}", i.what, i.tail))
                .at_opt(i.at);
            f.detail = i.detail;
            f.evidence = i.evidence;
            f
        })
        .collect()
}

/// "pod api-1", "3 pods (api-1, api-2, api-3)", "5 pods (api-1, api-2,
/// api-3 and 2 more)".
fn pods_phrase(pods: &[String]) -> String {
    let named: Vec<&str> = pods.iter().take(PODS_NAMED).map(String::as_str).collect();
    let more = pods.len().saturating_sub(PODS_NAMED);
    let list = if more > 0 {
        format!("{} and {more} more", named.join(", "))
    } else {
        named.join(", ")
    };
    match pods.len() {
        1 => format!("pod {list}"),
        n => format!("{n} pods ({list})"),
    }
}

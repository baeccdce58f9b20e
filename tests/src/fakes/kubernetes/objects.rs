//! Objects in the API reference's shape (v1.33), for tests to put in the
//! fake: a Deployment with its ReplicaSets and pods, container statuses
//! for each state the Troubleshooting Guide names, and core v1 Events.

use serde_json::{Value, json};

/// An RFC 3339 time `secs` seconds before now, as the API writes times.
pub fn ago(secs: i64) -> String {
    let t = time::OffsetDateTime::now_utc() - time::Duration::seconds(secs);
    t.replace_nanosecond(0)
        .unwrap_or(t)
        .format(&time::format_description::well_known::Rfc3339)
        .expect("formats")
}

/// A container spec with the resources medic reads next to a reason.
pub fn container(name: &str, image: &str, memory_limit: Option<&str>) -> Value {
    let mut resources = json!({"requests": {"cpu": "100m", "memory": "128Mi"}});
    if let Some(l) = memory_limit {
        resources["limits"] = json!({"memory": l});
    }
    json!({
        "name": name,
        "image": image,
        "imagePullPolicy": "IfNotPresent",
        "resources": resources,
        "terminationMessagePath": "/dev/termination-log",
        "terminationMessagePolicy": "File"
    })
}

/// A Deployment `name` (selector `app=name`) at `revision`, with
/// `desired` replicas of which `ready` are ready and updated.
pub fn deployment(
    ns: &str,
    name: &str,
    revision: i64,
    desired: i32,
    ready: i32,
    image: &str,
) -> Value {
    json!({
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {
            "name": name,
            "namespace": ns,
            "uid": format!("uid-deploy-{name}"),
            "generation": revision,
            "creationTimestamp": ago(86_400),
            "labels": {"app": name},
            "annotations": {"deployment.kubernetes.io/revision": revision.to_string()}
        },
        "spec": {
            "replicas": desired,
            "selector": {"matchLabels": {"app": name}},
            "template": template(name, image),
            "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": "25%", "maxSurge": "25%"}},
            "revisionHistoryLimit": 10,
            "progressDeadlineSeconds": 600
        },
        "status": {
            "observedGeneration": revision,
            "replicas": desired,
            "updatedReplicas": desired,
            "readyReplicas": ready,
            "availableReplicas": ready,
            "unavailableReplicas": desired - ready,
            "conditions": [
                {"type": "Available", "status": if ready >= desired { "True" } else { "False" },
                 "reason": if ready >= desired { "MinimumReplicasAvailable" } else { "MinimumReplicasUnavailable" },
                 "message": "Deployment has minimum availability.",
                 "lastUpdateTime": ago(600), "lastTransitionTime": ago(600)},
                {"type": "Progressing", "status": "True", "reason": "NewReplicaSetAvailable",
                 "message": format!("ReplicaSet \"{name}-{}\" has successfully progressed.", hash(revision)),
                 "lastUpdateTime": ago(3_600), "lastTransitionTime": ago(86_400)}
            ]
        }
    })
}

/// The pod template of [`deployment`] with `image`.
pub fn template(app: &str, image: &str) -> Value {
    json!({
        "metadata": {"labels": {"app": app}},
        "spec": {
            "containers": [container(app, image, Some("256Mi"))],
            "restartPolicy": "Always",
            "terminationGracePeriodSeconds": 30,
            "dnsPolicy": "ClusterFirst"
        }
    })
}

/// The pod-template-hash a test uses for `revision`.
pub fn hash(revision: i64) -> String {
    format!("7d9c5b{revision:04}")
}

/// The ReplicaSet of deployment `name` at `revision`, running `image`.
pub fn replicaset(ns: &str, name: &str, revision: i64, image: &str, replicas: i32) -> Value {
    let h = hash(revision);
    let mut t = template(name, image);
    t["metadata"]["labels"]["pod-template-hash"] = json!(h);
    json!({
        "apiVersion": "apps/v1",
        "kind": "ReplicaSet",
        "metadata": {
            "name": format!("{name}-{h}"),
            "namespace": ns,
            "uid": format!("uid-rs-{name}-{revision}"),
            "labels": {"app": name, "pod-template-hash": h},
            "annotations": {
                "deployment.kubernetes.io/revision": revision.to_string(),
                "deployment.kubernetes.io/desired-replicas": replicas.to_string(),
                "deployment.kubernetes.io/max-replicas": (replicas + 1).to_string()
            },
            "ownerReferences": [{
                "apiVersion": "apps/v1", "kind": "Deployment", "name": name,
                "uid": format!("uid-deploy-{name}"), "controller": true, "blockOwnerDeletion": true
            }],
            "creationTimestamp": ago(86_400 - revision * 60)
        },
        "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": name, "pod-template-hash": h}}, "template": t},
        "status": {"replicas": replicas, "readyReplicas": replicas, "availableReplicas": replicas, "observedGeneration": 1}
    })
}

/// A pod of deployment `app`'s ReplicaSet at `revision`, with its
/// containers' `statuses` (see [`running`], [`crash_looping`], …); Ready
/// when every container is.
pub fn pod(
    ns: &str,
    name: &str,
    app: &str,
    revision: i64,
    image: &str,
    statuses: Vec<Value>,
) -> Value {
    let ready = statuses.iter().all(|s| s["ready"] == true);
    let phase = if statuses.iter().any(|s| s["state"]["running"].is_object()) || ready {
        "Running"
    } else {
        "Pending"
    };
    let word = if ready { "True" } else { "False" };
    json!({
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": name,
            "namespace": ns,
            "uid": format!("uid-pod-{name}"),
            "labels": {"app": app, "pod-template-hash": hash(revision)},
            "ownerReferences": [{
                "apiVersion": "apps/v1", "kind": "ReplicaSet", "name": format!("{app}-{}", hash(revision)),
                "uid": format!("uid-rs-{app}-{revision}"), "controller": true, "blockOwnerDeletion": true
            }],
            "creationTimestamp": ago(3_600)
        },
        "spec": {
            "containers": [container(app, image, Some("256Mi"))],
            "restartPolicy": "Always",
            "nodeName": "node-1",
            "serviceAccountName": "default"
        },
        "status": {
            "phase": phase,
            "conditions": [
                {"type": "PodReadyToStartContainers", "status": "True", "lastTransitionTime": ago(3_590)},
                {"type": "Initialized", "status": "True", "lastTransitionTime": ago(3_595)},
                {"type": "Ready", "status": word, "lastTransitionTime": ago(300),
                 "reason": if ready { Value::Null } else { json!("ContainersNotReady") }},
                {"type": "ContainersReady", "status": word, "lastTransitionTime": ago(300)},
                {"type": "PodScheduled", "status": "True", "lastTransitionTime": ago(3_600)}
            ],
            "hostIP": "10.0.1.7",
            "podIP": "10.244.1.23",
            "startTime": ago(3_600),
            "qosClass": "Burstable",
            "containerStatuses": statuses
        }
    })
}

fn container_id(name: &str, n: i64) -> String {
    format!(
        "containerd://{:064x}",
        (n as u64).wrapping_mul(0x9e37_79b9) ^ name.len() as u64
    )
}

/// A running, ready container that never restarted.
pub fn running(name: &str, image: &str) -> Value {
    json!({
        "name": name,
        "state": {"running": {"startedAt": ago(3_500)}},
        "lastState": {},
        "ready": true,
        "restartCount": 0,
        "image": image,
        "imageID": format!("{image}@sha256:{:064x}", 1),
        "containerID": container_id(name, 1),
        "started": true
    })
}

/// A container in CrashLoopBackOff after `restarts` restarts, its last
/// run ended `secs_ago` with `exit_code` and `reason` (Error, OOMKilled).
pub fn crash_looping(
    name: &str,
    pod: &str,
    image: &str,
    restarts: i32,
    exit_code: i32,
    reason: &str,
    secs_ago: i64,
) -> Value {
    json!({
        "name": name,
        "state": {"waiting": {
            "reason": "CrashLoopBackOff",
            "message": format!("back-off 5m0s restarting failed container={name} pod={pod}_shop(uid-pod-{pod})")
        }},
        "lastState": {"terminated": {
            "exitCode": exit_code,
            "reason": reason,
            "startedAt": ago(secs_ago + 4),
            "finishedAt": ago(secs_ago),
            "containerID": container_id(name, i64::from(restarts))
        }},
        "ready": false,
        "restartCount": restarts,
        "image": image,
        "imageID": format!("{image}@sha256:{:064x}", 2),
        "containerID": container_id(name, i64::from(restarts)),
        "started": false
    })
}

/// A container waiting on its image: `reason` ImagePullBackOff or
/// ErrImagePull, with the kubelet's message.
pub fn image_pull(name: &str, image: &str, reason: &str) -> Value {
    let message = match reason {
        "ImagePullBackOff" => format!("Back-off pulling image \"{image}\""),
        _ => format!(
            "rpc error: code = NotFound desc = failed to pull and unpack image \"{image}\": failed to resolve reference \"{image}\": {image}: not found"
        ),
    };
    json!({
        "name": name,
        "state": {"waiting": {"reason": reason, "message": message}},
        "lastState": {},
        "ready": false,
        "restartCount": 0,
        "image": image,
        "imageID": "",
        "started": false
    })
}

/// A running container that restarted `restarts` times, last `secs_ago`
/// with `exit_code` and `reason`.
pub fn restarted(
    name: &str,
    image: &str,
    restarts: i32,
    exit_code: i32,
    reason: &str,
    secs_ago: i64,
) -> Value {
    json!({
        "name": name,
        "state": {"running": {"startedAt": ago(secs_ago - 1)}},
        "lastState": {"terminated": {
            "exitCode": exit_code,
            "reason": reason,
            "startedAt": ago(secs_ago + 600),
            "finishedAt": ago(secs_ago),
            "containerID": container_id(name, i64::from(restarts))
        }},
        "ready": true,
        "restartCount": restarts,
        "image": image,
        "imageID": format!("{image}@sha256:{:064x}", 3),
        "containerID": container_id(name, i64::from(restarts) + 1),
        "started": true
    })
}

/// A core v1 Event about `kind`/`name`, seen `count` times, last
/// `secs_ago`.
pub fn event(
    ns: &str,
    kind: &str,
    name: &str,
    reason: &str,
    message: &str,
    count: i32,
    secs_ago: i64,
) -> Value {
    json!({
        "apiVersion": "v1",
        "kind": "Event",
        "metadata": {
            "name": format!("{name}.{:x}", secs_ago * 7919 + i64::from(count)),
            "namespace": ns,
            "creationTimestamp": ago(secs_ago + 600)
        },
        "involvedObject": {
            "kind": kind, "namespace": ns, "name": name, "uid": format!("uid-pod-{name}"),
            "apiVersion": "v1", "fieldPath": format!("spec.containers{{{}}}", name.split('-').next().unwrap_or(name))
        },
        "reason": reason,
        "message": message,
        "source": {"component": "kubelet", "host": "node-1"},
        "firstTimestamp": ago(secs_ago + 600),
        "lastTimestamp": ago(secs_ago),
        "count": count,
        "type": "Warning",
        "eventTime": null,
        "reportingComponent": "kubelet",
        "reportingInstance": "node-1"
    })
}

//! The pure readings against objects in the API reference's shape.

use k8s_openapi::api::apps::v1::{Deployment, StatefulSet};
use k8s_openapi::api::core::v1::{Event, Pod};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;
use serde_json::{Value, json};
use time::macros::datetime;

use super::*;
use crate::model::report::Status;

const NOW: OffsetDateTime = datetime!(2026-12-07 06:00:00 UTC);

/// NOW minus `secs`, as the API writes times.
fn at(secs: i64) -> String {
    let t = NOW - time::Duration::seconds(secs);
    t.format(&time::format_description::well_known::Rfc3339)
        .unwrap()
}

fn pod(name: &str, statuses: Value, extra: Value) -> Pod {
    let mut p = json!({
        "metadata": {"name": name, "namespace": "shop", "labels": {"app": "api"}},
        "spec": {"containers": [{
            "name": "api", "image": "registry.example.com/api:1",
            "resources": {"requests": {"cpu": "250m", "memory": "256Mi"}, "limits": {"memory": "512Mi"}}
        }]},
        "status": {"phase": "Running", "containerStatuses": statuses,
                   "conditions": [{"type": "Ready", "status": "False"}]}
    });
    merge(&mut p, &extra);
    serde_json::from_value(p).unwrap()
}

fn merge(a: &mut Value, b: &Value) {
    match (a, b) {
        (Value::Object(a), Value::Object(b)) => {
            for (k, v) in b {
                merge(a.entry(k.clone()).or_insert(Value::Null), v);
            }
        }
        (a, b) => *a = b.clone(),
    }
}

fn crash(restarts: i32, exit: i32, reason: &str) -> Value {
    json!([{
        "name": "api", "image": "registry.example.com/api:1", "imageID": "", "ready": false,
        "restartCount": restarts,
        "state": {"waiting": {"reason": "CrashLoopBackOff", "message": "back-off 5m0s"}},
        "lastState": {"terminated": {"exitCode": exit, "reason": reason,
                                      "startedAt": at(70), "finishedAt": at(60)}}
    }])
}

fn target(toml_text: &str) -> KubernetesTarget {
    toml::from_str(&format!("namespace = \"shop\"\n{toml_text}")).unwrap()
}

#[test]
fn the_same_crash_in_three_replicas_is_one_finding_naming_them() {
    let pods: Vec<Pod> = ["api-a", "api-b", "api-c"]
        .iter()
        .zip([3, 9, 5])
        .map(|(n, r)| pod(n, crash(r, 1, "Error"), json!({})))
        .collect();
    let found = pods::findings(&pods, None, NOW);
    assert_eq!(found.len(), 1, "{found:#?}");
    let f = &found[0];
    assert_eq!(f.check, "kubernetes.crashloop");
    assert_eq!(
        f.summary,
        "Container api in 3 pods (api-b, api-c, api-a) is crash-looping (CrashLoopBackOff); 9 restarts, last exit code 1 (Error) 1 min ago"
    );
    assert_eq!(
        f.detail,
        [
            "Its last run lasted 10 s, ending 05:59:00 UTC",
            "Resources: requests cpu 250m, memory 256Mi; limits memory 512Mi",
            "By hand: kubectl logs -n shop api-b -c api --previous",
        ]
    );
    assert_eq!(f.at, Some(NOW - time::Duration::seconds(60)));
}

#[test]
fn an_oom_kill_without_a_limit_blames_the_node() {
    let p = pod(
        "api-a",
        crash(2, 137, "OOMKilled"),
        json!({"spec": {"containers": [{"name": "api", "image": "i", "resources": {}}]}}),
    );
    let found = pods::findings(&[p], None, NOW);
    let oom = found
        .iter()
        .find(|f| f.check == "kubernetes.oom_killed")
        .unwrap();
    assert_eq!(
        oom.summary,
        "Container api in pod api-a was OOMKilled (exit code 137): no memory limit set, so the node itself ran out of memory"
    );
    let crash = found
        .iter()
        .find(|f| f.check == "kubernetes.crashloop")
        .unwrap();
    assert!(
        crash
            .detail
            .contains(&"Resources: no requests or limits set".to_string())
    );
}

#[test]
fn a_recent_restart_is_news_and_an_old_one_is_not() {
    let restarted = |secs: i64| {
        json!([{
            "name": "api", "image": "i", "imageID": "", "ready": true, "restartCount": 1,
            "state": {"running": {"startedAt": at(secs - 1)}},
            "lastState": {"terminated": {"exitCode": 137, "reason": "OOMKilled", "finishedAt": at(secs)}}
        }])
    };
    let ready = json!({"status": {"conditions": [{"type": "Ready", "status": "True"}]}});
    let recent = pods::findings(&[pod("api-a", restarted(300), ready.clone())], None, NOW);
    let checks: Vec<(&str, Status)> = recent
        .iter()
        .map(|f| (f.check.as_str(), f.status))
        .collect();
    assert_eq!(
        checks,
        [
            ("kubernetes.restarts", Status::Warn),
            ("kubernetes.oom_killed", Status::Warn)
        ]
    );
    assert!(
        recent[0]
            .summary
            .ends_with("restarted; 1 restart, last exit code 137 (OOMKilled) 5 min ago"),
        "{}",
        recent[0].summary
    );
    let old = pods::findings(&[pod("api-a", restarted(7_200), ready)], None, NOW);
    assert_eq!(old.len(), 1);
    assert_eq!(old[0].status, Status::Ok);
    assert_eq!(
        old[0].summary,
        "All 1 container in 1 pod running, ready and not restarting"
    );
}

#[test]
fn an_unscheduled_pod_and_an_unready_container_say_why() {
    let pending = pod(
        "api-p",
        json!([]),
        json!({"status": {"phase": "Pending", "conditions": [{
            "type": "PodScheduled", "status": "False", "reason": "Unschedulable",
            "message": "0/3 nodes are available: 3 Insufficient memory."
        }]}}),
    );
    let unready = pod(
        "api-u",
        json!([{"name": "api", "image": "i", "imageID": "", "ready": false, "restartCount": 0,
                "state": {"running": {"startedAt": at(600)}}}]),
        json!({}),
    );
    let events: Vec<Event> = vec![
        serde_json::from_value(json!({
            "metadata": {"name": "e1", "namespace": "shop"},
            "involvedObject": {"kind": "Pod", "name": "api-u"},
            "reason": "Unhealthy", "type": "Warning", "count": 12, "lastTimestamp": at(20),
            "message": "Readiness probe failed: HTTP probe failed with statuscode: 503"
        }))
        .unwrap(),
    ];
    let found = pods::findings(&[pending, unready], Some(&events), NOW);
    let sched = found
        .iter()
        .find(|f| f.check == "kubernetes.scheduling")
        .unwrap();
    assert_eq!(
        sched.summary,
        "Pod api-p cannot be scheduled (Unschedulable)"
    );
    assert_eq!(
        sched.evidence.as_deref(),
        Some("0/3 nodes are available: 3 Insufficient memory.")
    );
    let ready = found
        .iter()
        .find(|f| f.check == "kubernetes.readiness")
        .unwrap();
    assert_eq!(
        ready.summary,
        "Container api in pod api-u is running but not ready"
    );
    assert_eq!(
        ready.evidence.as_deref(),
        Some("Readiness probe failed: HTTP probe failed with statuscode: 503")
    );
}

#[test]
fn the_status_column_reads_like_kubectl() {
    let init = pod(
        "a",
        json!([]),
        json!({"status": {"phase": "Pending", "initContainerStatuses": [{
            "name": "migrate", "image": "i", "imageID": "", "ready": false, "restartCount": 4,
            "state": {"waiting": {"reason": "CrashLoopBackOff"}}
        }]}}),
    );
    assert_eq!(pods::display_status(&init), "Init:CrashLoopBackOff");
    let evicted = pod(
        "b",
        json!([]),
        json!({"status": {"phase": "Failed", "reason": "Evicted", "message": "The node was low on resource: memory."}}),
    );
    assert_eq!(pods::display_status(&evicted), "Evicted");
    let found = pods::findings(&[evicted], None, NOW);
    assert_eq!(found[0].summary, "Pod b failed (Evicted)");
    assert_eq!(
        found[0].evidence.as_deref(),
        Some("The node was low on resource: memory.")
    );
}

#[test]
fn the_last_error_line_is_the_last_line_that_reads_like_one() {
    let log = "INFO up\nERROR first\nFATAL: password authentication failed for user \"api\"\nINFO bye\n\n";
    assert_eq!(
        logs::last_error_line(log),
        Some("FATAL: password authentication failed for user \"api\"")
    );
    assert_eq!(logs::last_error_line("INFO a\nINFO b"), Some("INFO b"));
    assert_eq!(logs::last_error_line("\n \n"), None);
    let w = logs::Wanted {
        pod: "api-a".into(),
        container: "api".into(),
        previous: true,
    };
    let long = format!("ERROR {}", "x".repeat(500));
    let f = logs::finding("shop", &w, &long);
    assert!(f.summary.ends_with('…'), "{}", f.summary);
    assert!(f.summary.chars().count() < 400);
    let empty = logs::finding("shop", &w, "");
    assert_eq!(
        empty.summary,
        "Log of api-a/api before its last restart is empty"
    );
}

#[test]
fn logs_are_read_once_per_container_name_worst_first() {
    let exited = json!([{
        "name": "job", "image": "i", "imageID": "", "ready": false, "restartCount": 0,
        "state": {"terminated": {"exitCode": 2, "reason": "Error"}}
    }]);
    let pods = vec![
        pod("api-a", crash(3, 1, "Error"), json!({})),
        pod("api-b", crash(8, 1, "Error"), json!({})),
        pod("job-x", exited, json!({})),
    ];
    let wanted = logs::wanted(&pods, NOW);
    assert_eq!(
        wanted,
        [
            logs::Wanted {
                pod: "api-b".into(),
                container: "api".into(),
                previous: true
            },
            logs::Wanted {
                pod: "job-x".into(),
                container: "job".into(),
                previous: false
            },
        ]
    );
}

#[test]
fn only_recent_warnings_about_the_targets_objects_count() {
    let event = |name: &str, reason: &str, secs: i64| -> Event {
        serde_json::from_value(json!({
            "metadata": {"name": format!("{name}.{secs}"), "namespace": "shop"},
            "involvedObject": {"kind": "Pod", "name": name},
            "reason": reason, "type": "Warning", "message": format!("{reason} happened"),
            "count": 2, "lastTimestamp": at(secs)
        }))
        .unwrap()
    };
    let events = vec![
        event("api-a", "BackOff", 30),
        event("api-a", "Unhealthy", 7_200),
        event("other", "BackOff", 30),
        event("api-a-rs", "FailedCreate", 90),
    ];
    let watched = ["api-a".to_string(), "api-a-rs".to_string()].into();
    let f = events::findings(&events, &watched, Duration::from_secs(3600), NOW);
    assert_eq!(f.status, Status::Warn);
    assert_eq!(
        f.summary,
        "2 Warning events in the last 1 h: BackOff, FailedCreate"
    );
    assert_eq!(
        f.detail,
        [
            "05:59:30 UTC BackOff ×2 pod/api-a: BackOff happened",
            "05:58:30 UTC FailedCreate ×2 pod/api-a-rs: FailedCreate happened",
        ]
    );
    let none = events::findings(
        &events,
        &["x".to_string()].into(),
        Duration::from_secs(3600),
        NOW,
    );
    assert_eq!(none.status, Status::Ok);
}

fn deployment(status: Value, spec: Value) -> Deployment {
    let mut d = json!({
        "metadata": {"name": "api", "namespace": "shop",
                     "annotations": {"deployment.kubernetes.io/revision": "7"}},
        "spec": {"replicas": 4, "selector": {"matchLabels": {"app": "api"}},
                 "template": {"metadata": {"labels": {"app": "api"}}}},
        "status": status
    });
    merge(&mut d["spec"], &spec);
    serde_json::from_value(d).unwrap()
}

#[test]
fn a_rollout_is_done_in_progress_paused_or_stuck() {
    let done = deployment(
        json!({"updatedReplicas": 4, "readyReplicas": 4, "availableReplicas": 4}),
        json!({}),
    );
    let f = rollout::deployment(&done, 600, NOW);
    assert_eq!(f.status, Status::Ok);
    assert_eq!(
        f.summary,
        "deployment api revision 7: 4/4 updated, 4/4 ready, 4/4 available"
    );
    let moving = deployment(
        json!({"updatedReplicas": 2, "readyReplicas": 4, "availableReplicas": 4, "conditions": [
            {"type": "Progressing", "status": "True", "reason": "ReplicaSetUpdated", "lastUpdateTime": at(60)}
        ]}),
        json!({}),
    );
    let f = rollout::deployment(&moving, 600, NOW);
    assert_eq!(f.status, Status::Warn);
    assert!(
        f.summary
            .starts_with("Rollout of deployment api revision 7 in progress")
    );
    assert!(
        rollout::deployment(&moving, 30, NOW)
            .summary
            .contains("is stuck: no progress for 1 min")
    );
    let paused = deployment(json!({"updatedReplicas": 2}), json!({"paused": true}));
    let f = rollout::deployment(&paused, 600, NOW);
    assert!(
        f.summary
            .starts_with("Rollout of deployment api revision 7 is paused"),
        "{}",
        f.summary
    );
    assert!(f.detail[0].contains("kubectl rollout resume -n shop deployment/api"));

    let sts: StatefulSet = serde_json::from_value(json!({
        "metadata": {"name": "db", "namespace": "shop"},
        "spec": {"replicas": 3, "selector": {}, "serviceName": "db", "template": {}},
        "status": {"replicas": 3, "readyReplicas": 2, "updatedReplicas": 1,
                   "currentRevision": "db-5f8", "updateRevision": "db-6a1"}
    }))
    .unwrap();
    let f = rollout::statefulset(&sts);
    assert_eq!(
        f.summary,
        "Rollout of statefulset db to revision db-6a1 in progress: 1/3 updated, 2/3 ready"
    );
}

#[test]
fn a_selector_is_written_as_the_label_selector_parameter() {
    let s: LabelSelector = serde_json::from_value(json!({
        "matchLabels": {"app": "api", "tier": "web"},
        "matchExpressions": [
            {"key": "track", "operator": "In", "values": ["stable", "canary"]},
            {"key": "legacy", "operator": "DoesNotExist"}
        ]
    }))
    .unwrap();
    assert_eq!(
        connect::selector_text(&s).as_deref(),
        Some("app=api,tier=web,track in (stable,canary),!legacy")
    );
    assert_eq!(connect::selector_text(&LabelSelector::default()), None);
}

#[test]
fn a_403_names_the_namespace_and_the_role() {
    let t = connect::Trouble::Forbidden {
        verb: "read",
        resource: "pods",
        message: "pods is forbidden: …".into(),
    };
    let f = t.finding("kubernetes.api", "shop");
    assert_eq!(f.summary, "medic may not read pods in shop");
    assert!(
        f.detail[0].contains("pods, pods/log and events"),
        "{:?}",
        f.detail
    );
    assert!(f.detail[0].contains("deployments, replicasets and statefulsets"));
    let patch = connect::Trouble::Forbidden {
        verb: "patch",
        resource: "deployments",
        message: String::new(),
    };
    assert_eq!(
        patch.finding("x", "shop").summary,
        "medic may not patch deployments in shop"
    );
}

#[test]
fn config_problems_name_their_key() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("kubeconfig");
    std::fs::write(
        &path,
        "apiVersion: v1\nkind: Config\nclusters:\n- name: c\n  cluster:\n    server: https://admin:pw-in-url@10.0.0.1:6443\n\
         users:\n- name: u\n  user:\n    token: s3cret-t0ken-value\n\
         contexts:\n- name: prod\n  context:\n    cluster: c\n    user: u\ncurrent-context: prod\n",
    )
    .unwrap();
    let k = path.display();
    let ok = target(&format!("kubeconfig = \"{k}\"\ndeployment = \"api\""));
    ok.validate().unwrap();
    // The server without its userinfo; the token known to the redactor.
    assert_eq!(ok.location(), "https://10.0.0.1:6443, namespace shop");
    assert_eq!(
        ok.redactor().redact("token s3cret-t0ken-value refused"),
        "token •••• refused"
    );
    let key = |t: &str| target(t).validate().unwrap_err().0;
    assert_eq!(key(&format!("kubeconfig = \"{k}\"")), "selector");
    assert_eq!(
        key(&format!(
            "kubeconfig = \"{k}\"\ndeployment = \"api\"\nstatefulset = \"db\""
        )),
        "statefulset"
    );
    assert_eq!(
        key(&format!("kubeconfig = \"{k}\"\ndeployment = \"Api_1\"")),
        "deployment"
    );
    assert_eq!(
        key(&format!(
            "kubeconfig = \"{k}\"\nselector = \"app=x\"\nlog_lines = 0"
        )),
        "log_lines"
    );
    assert_eq!(
        key(&format!(
            "kubeconfig = \"{k}\"\ncontext = \"dev\"\nselector = \"app=x\""
        )),
        "context"
    );
    assert_eq!(
        key("kubeconfig = \"/nonexistent/kc\"\nselector = \"app=x\""),
        "kubeconfig"
    );
    assert_eq!(key("context = \"dev\"\nselector = \"app=x\""), "context");
    let bad_ns: KubernetesTarget = toml::from_str(&format!(
        "namespace = \"Shop!\"\nkubeconfig = \"{k}\"\nselector = \"app=x\""
    ))
    .unwrap();
    assert_eq!(bad_ns.validate().unwrap_err().0, "namespace");
}

#[test]
fn the_pods_line_counts_ready_against_desired() {
    let t = target("kubeconfig = \"/k\"\ndeployment = \"api\"");
    let d: Deployment = serde_json::from_value(json!({
        "metadata": {"name": "api"}, "spec": {"replicas": 3, "selector": {}, "template": {}}
    }))
    .unwrap();
    let w = connect::Workload::Deployment(Box::new(d));
    let f = pods::summary(&t, Some(&w), &[]);
    assert_eq!(f.status, Status::Critical);
    assert_eq!(f.summary, "deployment api in shop: no pods, 3 desired");
    let sel = target("kubeconfig = \"/k\"\nselector = \"app=api\"");
    let f = pods::summary(&sel, None, &[]);
    assert_eq!(f.status, Status::Warn);
    assert_eq!(f.summary, "No pods match app=api in shop");
}

#[test]
fn the_current_revision_says_when_it_rolled_out_and_with_what() {
    let d: Deployment = serde_json::from_value(json!({
        "metadata": {"name": "api", "uid": "d-1",
                     "annotations": {"deployment.kubernetes.io/revision": "6"}},
        "spec": {"selector": {}, "template": {}}
    }))
    .unwrap();
    let rs = |rev: &str, owner: &str, secs: i64| {
        serde_json::from_value::<k8s_openapi::api::apps::v1::ReplicaSet>(json!({
            "metadata": {"name": format!("api-{rev}"), "creationTimestamp": at(secs),
                         "annotations": {"deployment.kubernetes.io/revision": rev},
                         "ownerReferences": [{"apiVersion": "apps/v1", "kind": "Deployment",
                                              "name": "api", "uid": owner, "controller": true}]},
            "spec": {"selector": {}, "template": {"spec": {"containers": [
                {"name": "api", "image": format!("registry.example.com/api:{rev}")}
            ]}}}
        }))
        .unwrap()
    };
    let sets = [
        rs("5", "d-1", 86_400),
        rs("6", "other", 60),
        rs("6", "d-1", 180),
    ];
    let f = rollout::revision(&d, &sets, NOW).unwrap();
    assert_eq!(
        f.summary,
        "deployment api revision 6 (api=registry.example.com/api:6) rolled out at 05:57:00 UTC (3 min ago)"
    );
    assert_eq!(f.at, Some(NOW - time::Duration::seconds(180)));
    assert!(rollout::revision(&d, &sets[..1], NOW).is_none());
}

#[test]
fn an_alert_naming_one_of_the_workloads_pods_narrows_the_run_to_it() {
    use crate::diagnostics::alert_labelled;
    let api = target("deployment = \"api\"");
    let crashing = alert_labelled(&[
        ("alertname", "KubePodCrashLooping"),
        ("namespace", "shop"),
        ("pod", "api-7d9c5b-x2k4p"),
        ("container", "api"),
    ]);
    let narrowed = api.focused(&crashing).expect("narrowed");
    assert_eq!(narrowed.pods, ["api-7d9c5b-x2k4p"]);
    assert!(
        narrowed
            .location()
            .contains("pod api-7d9c5b-x2k4p, namespace shop"),
        "{}",
        narrowed.location()
    );
    assert_ne!(
        narrowed.location(),
        api.location(),
        "told apart from /diag's run"
    );
    // Another namespace, another workload's pod, no pod: the whole target.
    let elsewhere = alert_labelled(&[("namespace", "billing"), ("pod", "api-7d9c5b-x2k4p")]);
    assert!(api.focused(&elsewhere).is_none());
    let other = alert_labelled(&[("namespace", "shop"), ("pod", "api-gateway-5f6d8-abcde")]);
    assert!(
        api.focused(&other).is_none(),
        "api-gateway's pod is not api's"
    );
    assert!(
        api.focused(&alert_labelled(&[("namespace", "shop")]))
            .is_none()
    );
    // A StatefulSet's pods are numbered.
    let db = target("statefulset = \"db\"");
    let db1 = alert_labelled(&[("namespace", "shop"), ("pod", "db-1")]);
    assert_eq!(db.focused(&db1).expect("narrowed").pods, ["db-1"]);
    // A selector alone says nothing of pod names.
    let sel = target("selector = \"app=api\"");
    assert!(sel.focused(&crashing).is_none());
}

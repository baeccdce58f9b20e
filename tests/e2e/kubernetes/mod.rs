//! `kind = "kubernetes"` against the fake API server (no API server can
//! be installed here): the kube client reaches it through a kubeconfig
//! the test writes, with the bearer token the fake checks. The
//! Troubleshooting Guide's states — CrashLoopBackOff with its previous
//! log, ImagePullBackOff, OOMKilled — a stuck rollout, a 403 from RBAC
//! and an unreachable server, each read as a user would see it; the
//! buttons (rollout restart, rollback) and the triage scenario are in
//! the submodules.

mod actions;
mod triage;

use std::path::PathBuf;

use medic_commands::diagnostics::{Target, TargetSpec};
use medic_commands::{Finding, Report, Status};
use medic_tests::fakes::kubernetes::*;
use medic_tests::services;

/// The namespace of every scenario.
pub const NS: &str = "shop";
/// The token medic's kubeconfig holds.
pub const TOKEN: &str = "kube-t0ken-7f3a9c1e5b2d4f6a8c0e";
/// The image every scenario runs.
pub const IMAGE: &str = "registry.example.com/shop/api:2.4.1";

/// A fake with `TOKEN`, and a kubeconfig for it in a temporary folder.
pub async fn fake() -> (FakeKubernetes, tempfile::TempDir, PathBuf) {
    let k = FakeKubernetes::start(TOKEN).await;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("kubeconfig");
    k.write_kubeconfig(&path, TOKEN, NS);
    (k, dir, path)
}

/// The target's TOML body for `selection` (`deployment = "api"`).
pub fn target_toml(kubeconfig: &std::path::Path, selection: &str) -> String {
    format!(
        "kind = \"kubernetes\"\nkubeconfig = \"{}\"\nnamespace = \"{NS}\"\n{selection}\ntimeout = \"5s\"\n",
        kubeconfig.display()
    )
}

/// Runs the target `selection` selects through the fake.
async fn run(kubeconfig: &std::path::Path, selection: &str) -> Report {
    let spec: TargetSpec = toml::from_str(&target_toml(kubeconfig, selection)).expect("parses");
    if let TargetSpec::Kubernetes(k) = &spec {
        k.validate().expect("valid");
    }
    let target = Target {
        name: "shop-k8s".into(),
        spec,
    };
    tokio::time::timeout(std::time::Duration::from_secs(30), target.run())
        .await
        .expect("the run ends")
}

/// The findings of check `id`.
fn of<'r>(report: &'r Report, id: &str) -> Vec<&'r Finding> {
    report.findings.iter().filter(|f| f.check == id).collect()
}

/// The one finding of check `id`.
fn one<'r>(report: &'r Report, id: &str) -> &'r Finding {
    let found = of(report, id);
    assert_eq!(found.len(), 1, "{id}: {report:#?}");
    found[0]
}

/// Deployment `api` at revision 5 with ReplicaSets 4 and 5, and
/// `pods` (name, container status) of revision 5.
pub fn api_deployment(k: &FakeKubernetes, ready: i32, pods: Vec<(&str, serde_json::Value)>) {
    k.put_deployment(deployment(NS, "api", 5, 3, ready, IMAGE));
    k.put_replicaset(replicaset(
        NS,
        "api",
        4,
        "registry.example.com/shop/api:2.4.0",
        0,
    ));
    k.put_replicaset(replicaset(NS, "api", 5, IMAGE, 3));
    for (name, status) in pods {
        k.put_pod(pod(NS, name, "api", 5, IMAGE, vec![status]));
    }
}

/// The previous log of a pod whose database refuses it.
pub const PG_REFUSED_LOG: &str = "\
2026-12-07T05:41:02.118Z INFO  api starting, version 2.4.1
2026-12-07T05:41:02.120Z INFO  connecting to postgres://api:hunter2-db-pass@db.shop.svc:5432/shop
2026-12-07T05:41:02.131Z ERROR psql: could not connect to server: Connection refused
\tIs the server running on host \"db.shop.svc\" (10.96.12.7) and accepting
\tTCP/IP connections on port 5432?
2026-12-07T05:41:02.132Z INFO  shutting down";

#[tokio::test]
async fn a_crash_loop_shows_its_previous_log_redacted_with_the_last_error() {
    let (k, _dir, kubeconfig) = fake().await;
    let crashing = crash_looping("api", "api-7d9c5b0005-x2k4p", IMAGE, 7, 1, "Error", 30);
    api_deployment(
        &k,
        2,
        vec![
            ("api-7d9c5b0005-x2k4p", crashing),
            ("api-7d9c5b0005-q8m2n", running("api", IMAGE)),
            ("api-7d9c5b0005-h5t7w", running("api", IMAGE)),
        ],
    );
    k.put_log("api-7d9c5b0005-x2k4p", "api", true, PG_REFUSED_LOG);
    k.put_event(event(
        NS,
        "Pod",
        "api-7d9c5b0005-x2k4p",
        "BackOff",
        "Back-off restarting failed container api in pod api-7d9c5b0005-x2k4p_shop(uid-pod-api-7d9c5b0005-x2k4p)",
        37,
        20,
    ));
    // Another pod's event and an old one are not this target's news.
    k.put_event(event(NS, "Pod", "worker-1", "BackOff", "not ours", 3, 20));
    k.put_event(event(
        NS,
        "Pod",
        "api-7d9c5b0005-x2k4p",
        "Unhealthy",
        "old",
        1,
        7_200,
    ));

    let report = run(&kubeconfig, "deployment = \"api\"").await;
    assert_eq!(report.status(), Status::Critical);
    assert_eq!(
        report.target.location,
        format!("{}, namespace {NS}", k.server())
    );
    let pods = one(&report, "kubernetes.pods");
    assert_eq!(pods.status, Status::Warn);
    assert_eq!(
        pods.summary,
        "deployment api in shop: 2/3 ready (3 pods: 2 Running, 1 CrashLoopBackOff)"
    );
    let crash = one(&report, "kubernetes.crashloop");
    assert_eq!(crash.status, Status::Critical);
    assert!(
        crash.summary.starts_with(
            "Container api in pod api-7d9c5b0005-x2k4p is crash-looping (CrashLoopBackOff); 7 restarts, last exit code 1 (Error) "
        ),
        "{}",
        crash.summary
    );
    assert!(
        crash
            .detail
            .iter()
            .any(|d| d == "Resources: requests cpu 100m, memory 128Mi; limits memory 256Mi"),
        "{:?}",
        crash.detail
    );
    let log = one(&report, "kubernetes.previous_logs");
    assert_eq!(
        log.summary,
        "Log of api-7d9c5b0005-x2k4p/api before its last restart: 2026-12-07T05:41:02.131Z ERROR psql: could not connect to server: Connection refused"
    );
    let tail = log.evidence.as_deref().unwrap();
    assert!(tail.contains("TCP/IP connections on port 5432?"), "{tail}");
    assert!(!tail.contains("hunter2-db-pass"), "redacted: {tail}");
    // The log was read as `kubectl logs --previous --tail` reads it.
    let reads: Vec<KubeCall> = k
        .calls()
        .into_iter()
        .filter(|c| c.path.ends_with("/log"))
        .collect();
    assert_eq!(reads.len(), 1, "{reads:#?}");
    assert_eq!(reads[0].param("previous"), Some("true"));
    assert_eq!(reads[0].param("container"), Some("api"));
    assert_eq!(reads[0].param("tailLines"), Some("20"));
    assert_eq!(
        reads[0].authorization.as_deref(),
        Some(format!("Bearer {TOKEN}").as_str())
    );
    let events = one(&report, "kubernetes.events");
    assert_eq!(events.status, Status::Warn);
    assert_eq!(events.summary, "1 Warning event in the last 1 h: BackOff");
    assert!(
        events.detail[0].contains("BackOff ×37 pod/api-7d9c5b0005-x2k4p: Back-off restarting"),
        "{:?}",
        events.detail
    );
    // Only Warning events were asked for.
    let listed = k
        .calls()
        .into_iter()
        .find(|c| c.path.ends_with("/events"))
        .unwrap();
    assert_eq!(listed.param("fieldSelector"), Some("type=Warning"));
    let rollout = one(&report, "kubernetes.rollout");
    assert_eq!(
        rollout.summary,
        "deployment api revision 5: 3/3 updated, 2/3 ready, 2/3 available"
    );
    assert_eq!(rollout.status, Status::Warn);
    let revision = one(&report, "kubernetes.revision");
    assert!(
        revision.summary.starts_with(&format!(
            "deployment api revision 5 (api={IMAGE}) rolled out at "
        )),
        "{}",
        revision.summary
    );
    // The pods were listed by the Deployment's own selector.
    let listed = k
        .calls()
        .into_iter()
        .find(|c| c.path == "/api/v1/namespaces/shop/pods")
        .unwrap();
    assert_eq!(listed.param("labelSelector"), Some("app=api"));
}

#[tokio::test]
async fn an_image_that_cannot_be_pulled_names_the_image_and_the_pull_error() {
    let (k, _dir, kubeconfig) = fake().await;
    let bad = "registry.example.com/shop/api:2.5.0-typo";
    k.put_pod(pod(
        NS,
        "api-7d9c5b0006-zz9k1",
        "api",
        6,
        bad,
        vec![image_pull("api", bad, "ImagePullBackOff")],
    ));
    let pull_error = format!(
        "Failed to pull image \"{bad}\": rpc error: code = NotFound desc = failed to pull and unpack image \"{bad}\": failed to resolve reference \"{bad}\": {bad}: not found"
    );
    k.put_event(event(
        NS,
        "Pod",
        "api-7d9c5b0006-zz9k1",
        "Failed",
        &pull_error,
        4,
        40,
    ));
    k.put_event(event(
        NS,
        "Pod",
        "api-7d9c5b0006-zz9k1",
        "BackOff",
        &format!("Back-off pulling image \"{bad}\""),
        12,
        10,
    ));

    let report = run(&kubeconfig, "selector = \"app=api\"").await;
    let pull = one(&report, "kubernetes.image_pull");
    assert_eq!(pull.status, Status::Critical);
    assert_eq!(
        pull.summary,
        format!(
            "Container api in pod api-7d9c5b0006-zz9k1 cannot pull image {bad} (ImagePullBackOff)"
        )
    );
    assert_eq!(pull.evidence.as_deref(), Some(pull_error.as_str()));
    assert!(
        pull.detail[0].starts_with("Kubelet: Back-off pulling image"),
        "{:?}",
        pull.detail
    );
    // No previous log to read: it never started.
    assert!(of(&report, "kubernetes.previous_logs").is_empty());
    assert!(k.calls().iter().all(|c| !c.path.ends_with("/log")));
    assert_eq!(
        one(&report, "kubernetes.pods").summary,
        "pods app=api in shop: 0/1 ready (1 pod: 1 ImagePullBackOff)"
    );
}

#[tokio::test]
async fn an_oom_kill_is_read_against_the_memory_limit() {
    let (k, _dir, kubeconfig) = fake().await;
    let oom = crash_looping(
        "api",
        "api-7d9c5b0005-m3v8r",
        IMAGE,
        4,
        137,
        "OOMKilled",
        15,
    );
    api_deployment(&k, 0, vec![("api-7d9c5b0005-m3v8r", oom)]);
    k.put_log(
        "api-7d9c5b0005-m3v8r",
        "api",
        true,
        "INFO loading catalogue into memory\nINFO loaded 2000000 items",
    );

    let report = run(&kubeconfig, "deployment = \"api\"").await;
    let killed = one(&report, "kubernetes.oom_killed");
    assert_eq!(killed.status, Status::Critical);
    assert_eq!(
        killed.summary,
        "Container api in pod api-7d9c5b0005-m3v8r was OOMKilled (exit code 137): memory limit 256Mi (request 128Mi)"
    );
    assert!(
        killed.detail[0].contains("more than its 256Mi limit"),
        "{:?}",
        killed.detail
    );
    let crash = one(&report, "kubernetes.crashloop");
    assert!(
        crash.summary.contains("last exit code 137 (OOMKilled)"),
        "{}",
        crash.summary
    );
    // A log with no error line still gives its last line.
    assert_eq!(
        one(&report, "kubernetes.previous_logs").summary,
        "Log of api-7d9c5b0005-m3v8r/api before its last restart: INFO loaded 2000000 items"
    );
    assert_eq!(one(&report, "kubernetes.pods").status, Status::Critical);
}

#[tokio::test]
async fn a_rollout_past_its_progress_deadline_is_stuck() {
    let (k, _dir, kubeconfig) = fake().await;
    let mut d = deployment(NS, "api", 6, 3, 2, IMAGE);
    d["status"]["updatedReplicas"] = 1.into();
    d["status"]["conditions"][1] = serde_json::json!({
        "type": "Progressing", "status": "False", "reason": "ProgressDeadlineExceeded",
        "message": "ReplicaSet \"api-7d9c5b0006\" has timed out progressing.",
        "lastUpdateTime": ago(700), "lastTransitionTime": ago(100)
    });
    k.put_deployment(d);
    for (name, status) in [
        ("api-7d9c5b0005-a1", running("api", IMAGE)),
        ("api-7d9c5b0005-a2", running("api", IMAGE)),
    ] {
        k.put_pod(pod(NS, name, "api", 5, IMAGE, vec![status]));
    }

    let report = run(&kubeconfig, "deployment = \"api\"").await;
    let rollout = one(&report, "kubernetes.rollout");
    assert_eq!(rollout.status, Status::Critical);
    assert_eq!(
        rollout.summary,
        "Rollout of deployment api revision 6 is stuck (ProgressDeadlineExceeded): 1/3 updated, 2/3 ready, 2/3 available"
    );
    assert_eq!(
        rollout.evidence.as_deref(),
        Some("ReplicaSet \"api-7d9c5b0006\" has timed out progressing.")
    );
    assert!(rollout.detail[0].contains("kubectl rollout undo -n shop deployment/api"));

    // Before its deadline, a rollout that has not moved for longer than
    // `stuck_after` is stuck too.
    let mut d = deployment(NS, "api", 6, 3, 2, IMAGE);
    d["status"]["updatedReplicas"] = 1.into();
    d["status"]["conditions"][1] = serde_json::json!({
        "type": "Progressing", "status": "True", "reason": "ReplicaSetUpdated",
        "message": "ReplicaSet \"api-7d9c5b0006\" is progressing.",
        "lastUpdateTime": ago(1_500), "lastTransitionTime": ago(1_500)
    });
    k.put_deployment(d);
    let report = run(&kubeconfig, "deployment = \"api\"\nstuck_after = \"20m\"").await;
    let rollout = one(&report, "kubernetes.rollout");
    assert_eq!(rollout.status, Status::Critical);
    assert!(
        rollout
            .summary
            .starts_with("Rollout of deployment api revision 6 is stuck: no progress for 25 min"),
        "{}",
        rollout.summary
    );
}

#[tokio::test]
async fn rbac_refusing_pods_names_the_namespace_and_the_role() {
    let (k, _dir, kubeconfig) = fake().await;
    api_deployment(&k, 3, vec![("api-7d9c5b0005-a1", running("api", IMAGE))]);
    k.forbid("list", "pods");

    let report = run(&kubeconfig, "deployment = \"api\"").await;
    assert_eq!(report.status(), Status::Critical);
    let api = one(&report, "kubernetes.api");
    assert_eq!(api.summary, "medic may not read pods in shop");
    assert_eq!(
        api.evidence.as_deref(),
        Some(format!("pods is forbidden: User \"{USER}\" cannot list resource \"pods\" in API group \"\" in the namespace \"shop\"").as_str())
    );
    assert!(
        api.detail[0].contains(
            "a Role in the namespace with get, list and watch on pods, pods/log and events"
        ),
        "{:?}",
        api.detail
    );
    // One refusal is one finding: the other checks have nothing to add.
    assert_eq!(report.findings.len(), 1, "{report:#?}");
}

#[tokio::test]
async fn rbac_refusing_logs_still_reports_the_pods() {
    let (k, _dir, kubeconfig) = fake().await;
    let crashing = crash_looping("api", "api-7d9c5b0005-x2k4p", IMAGE, 3, 1, "Error", 30);
    api_deployment(&k, 0, vec![("api-7d9c5b0005-x2k4p", crashing)]);
    k.put_log("api-7d9c5b0005-x2k4p", "api", true, PG_REFUSED_LOG);
    k.forbid("get", "pods/log");
    let report = run(&kubeconfig, "deployment = \"api\"").await;
    let log = one(&report, "kubernetes.previous_logs");
    assert_eq!(log.summary, "medic may not read pods/log in shop");
    one(&report, "kubernetes.crashloop");
}

#[tokio::test]
async fn an_unreachable_api_server_is_critical_and_named() {
    let port = services::dead_port().await;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("kubeconfig");
    let server = format!("http://127.0.0.1:{port}");
    std::fs::write(&path, kubeconfig(&server, TOKEN, NS)).unwrap();
    let report = run(&path, "deployment = \"api\"").await;
    assert_eq!(report.status(), Status::Critical);
    let api = one(&report, "kubernetes.api");
    assert_eq!(
        api.summary,
        format!("Kubernetes API server {server} is unreachable: connection refused")
    );
    assert_eq!(report.findings.len(), 1, "{report:#?}");

    // A server that accepts and never answers: named, within the limit.
    let silent = services::silent_listener().await;
    let server = format!("http://{silent}");
    std::fs::write(&path, kubeconfig(&server, TOKEN, NS)).unwrap();
    let report = run(&path, "deployment = \"api\"").await;
    let api = one(&report, "kubernetes.api");
    assert_eq!(api.status, Status::Critical);
    assert_eq!(
        api.summary,
        format!("Kubernetes API server {server} did not answer within 4.0 s")
    );
}

#[tokio::test]
async fn a_wrong_token_is_a_refusal_of_medics_credentials() {
    let (k, dir, _) = fake().await;
    let path = dir.path().join("wrong");
    std::fs::write(&path, kubeconfig(&k.server(), "not-the-token-1234", NS)).unwrap();
    let report = run(&path, "selector = \"app=api\"").await;
    let api = one(&report, "kubernetes.api");
    assert_eq!(
        api.summary,
        format!(
            "Kubernetes API server {} refused medic's credentials (401)",
            k.server()
        )
    );
    assert!(!format!("{report:?}").contains("not-the-token-1234"));
}

#[tokio::test]
async fn a_narrowed_target_reads_only_the_pods_it_names() {
    let (k, _dir, kubeconfig) = fake().await;
    let crashing = crash_looping("api", "api-7d9c5b0005-x2k4p", IMAGE, 7, 1, "Error", 30);
    api_deployment(
        &k,
        2,
        vec![
            ("api-7d9c5b0005-x2k4p", crashing),
            ("api-7d9c5b0005-q8m2n", running("api", IMAGE)),
        ],
    );
    k.put_log("api-7d9c5b0005-x2k4p", "api", true, PG_REFUSED_LOG);
    let report = run(
        &kubeconfig,
        "deployment = \"api\"\npods = [\"api-7d9c5b0005-x2k4p\", \"api-gone\"]",
    )
    .await;
    let summaries: Vec<&str> = of(&report, "kubernetes.pods")
        .iter()
        .map(|f| f.summary.as_str())
        .collect();
    assert!(
        summaries.contains(&"No pod api-gone in namespace shop (gone, or replaced by a new one)"),
        "{summaries:?}"
    );
    assert!(
        summaries.contains(&"deployment api in shop: 0/3 ready (1 pod: 1 CrashLoopBackOff)"),
        "{summaries:?}"
    );
    // Each pod read by name, none listed.
    let gets: Vec<String> = k
        .calls()
        .into_iter()
        .filter(|c| c.path.starts_with("/api/v1/namespaces/shop/pods"))
        .filter(|c| !c.path.ends_with("/log"))
        .map(|c| c.path)
        .collect();
    assert_eq!(
        gets,
        [
            "/api/v1/namespaces/shop/pods/api-7d9c5b0005-x2k4p",
            "/api/v1/namespaces/shop/pods/api-gone"
        ]
    );
}

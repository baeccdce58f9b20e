//! The triage scenarios of the issue: Alertmanager's `KubePodCrashLooping`
//! (kube-prometheus' rule, labels `namespace`, `pod`, `container`) for a
//! pod whose previous run ended on a PostgreSQL connection error. A
//! `[[runbooks]]` entry matching `namespace = "shop"` runs the kubernetes
//! target; the thread's likely cause names the database, with the log
//! line, redacted — not "a pod is crash looping"; and for a pod its
//! memory limit killed, the likely cause is that limit.

use std::time::Duration;

use medic_tests::fakes::kubernetes::*;
use medic_tests::fakes::slack::Call;
use medic_tests::{Options, TestMedic, spawn_medic};
use serde_json::{Value, json};

use super::{IMAGE, PG_REFUSED_LOG, api_deployment, fake, target_toml};

const ALERTS: &str = "C0K8SALERTS";
const AM_TOKEN: &str = "am-k8s-t0ken-5e1d";
const LIMIT: Duration = Duration::from_secs(60);
const POD: &str = "api-7d9c5b0005-x2k4p";

/// Alertmanager's webhook (the captured v4 body's shape, one alert)
/// carrying kube-prometheus' KubePodCrashLooping for [`POD`].
fn crash_looping_alert() -> Vec<u8> {
    let path = format!(
        "{}/../integrations/tests/fixtures/alertmanager/webhook_v4_firing_2alerts_captured.json",
        env!("CARGO_MANIFEST_DIR")
    );
    let mut body: Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    let labels = json!({
        "alertname": "KubePodCrashLooping",
        "container": "api",
        "job": "kube-state-metrics",
        "namespace": "shop",
        "pod": POD,
        "severity": "warning"
    });
    let mut alert = body["alerts"][0].clone();
    alert["labels"] = labels.clone();
    alert["annotations"] = json!({
        "description": format!("Pod shop/{POD} (api) is in waiting state (reason: \"CrashLoopBackOff\")."),
        "runbook_url": "https://runbooks.prometheus-operator.dev/runbooks/kubernetes/kubepodcrashlooping",
        "summary": "Pod is crash looping."
    });
    alert["fingerprint"] = json!("9a1b7c3d5e2f4a60");
    alert["generatorURL"] = json!(
        "http://prometheus.example:9090/graph?g0.expr=max_over_time%28kube_pod_container_status_waiting_reason%7Breason%3D%22CrashLoopBackOff%22%7D%5B5m%5D%29+%3E%3D+1&g0.tab=1"
    );
    body["alerts"] = json!([alert]);
    body["groupLabels"] = json!({"alertname": "KubePodCrashLooping", "namespace": "shop"});
    body["commonLabels"] = labels;
    body["commonAnnotations"] = body["alerts"][0]["annotations"].clone();
    body["groupKey"] = json!("{}:{alertname=\"KubePodCrashLooping\", namespace=\"shop\"}");
    serde_json::to_vec(&body).unwrap()
}

async fn medic(kubeconfig: &std::path::Path) -> TestMedic {
    spawn_medic(Options {
        targets: format!(
            "[targets.shop-k8s]\n{}",
            target_toml(kubeconfig, "deployment = \"api\"")
        ),
        extra: format!(
            "[alertmanager]\ntoken = \"{AM_TOKEN}\"\n\n\
             [[routes]]\nmatch = {{}}\nslack_channel = \"{ALERTS}\"\n\n\
             [[runbooks]]\nmatch = {{ labels = {{ namespace = \"shop\" }} }}\nrun = [\"shop-k8s\"]\n\n\
             [incidents]\ndigest_after = 0\n"
        ),
        ..Default::default()
    })
    .await
}

/// Sends [`crash_looping_alert`] as Alertmanager does and returns the
/// likely-cause message of the incident's thread, once it is there.
async fn likely_cause_of_the_alert(m: &TestMedic) -> String {
    let (status, answer) = m
        .post_json(
            "/webhooks/alertmanager",
            &[("authorization", format!("Bearer {AM_TOKEN}"))],
            crash_looping_alert(),
        )
        .await;
    assert_eq!(status, 202, "{answer}");
    let root = m
        .slack
        .wait_for(LIMIT, |c| {
            c.method == "chat.postMessage"
                && c.thread_ts().is_none()
                && c.ts.is_some()
                && c.all_text().contains("KubePodCrashLooping")
        })
        .await;
    let ts = root.ts.clone().unwrap();
    m.slack
        .wait_for(LIMIT, |c| {
            c.thread_ts() == Some(ts.as_str()) && c.all_text().contains("Likely cause")
        })
        .await
        .all_text()
}

#[tokio::test]
async fn a_crash_looping_pod_whose_log_cannot_reach_postgres_is_the_database() {
    let (k, _dir, kubeconfig) = fake().await;
    let crashing = crash_looping("api", POD, IMAGE, 7, 1, "Error", 30);
    api_deployment(
        &k,
        2,
        vec![
            (POD, crashing),
            ("api-7d9c5b0005-q8m2n", running("api", IMAGE)),
            ("api-7d9c5b0005-h5t7w", running("api", IMAGE)),
        ],
    );
    k.put_log(POD, "api", true, PG_REFUSED_LOG);
    let m = medic(&kubeconfig).await;
    let cause = likely_cause_of_the_alert(&m).await;
    assert!(cause.contains("Likely cause (database)"), "{cause}");
    assert!(cause.contains("PostgreSQL is unreachable"), "{cause}");
    assert!(
        cause.contains(&format!(
            "shop-k8s: Log of {POD}/api before its last restart: 2026-12-07T05:41:02.131Z ERROR psql: could not connect to server: Connection refused"
        )),
        "{cause}"
    );
    // The runbook's report is in the thread too, with the log's tail,
    // and the database password in it reaches no chat.
    m.slack
        .wait_for(LIMIT, |c| {
            c.all_text().contains("TCP/IP connections on port 5432?")
        })
        .await;
    let all: String = m.slack.calls().iter().map(Call::all_text).collect();
    assert!(all.contains("is crash-looping (CrashLoopBackOff)"), "{all}");
    assert!(!all.contains("hunter2-db-pass"), "redacted: {all}");
    // The runbook ran the target narrowed to the alert's pod: the report
    // says so, and the pod was read by name, not the Deployment's list.
    assert!(
        all.contains(&format!("pod {POD}, namespace shop")),
        "the report names the pod: {all}"
    );
    assert!(
        k.calls()
            .iter()
            .any(|c| c.path == format!("/api/v1/namespaces/shop/pods/{POD}")),
        "the alert's pod was read by name"
    );
    // The pod's previous log was read once, for the runbook.
    let logs = k
        .calls()
        .into_iter()
        .filter(|c| c.path == format!("/api/v1/namespaces/shop/pods/{POD}/log"))
        .count();
    assert_eq!(logs, 1);
    m.stop().await.unwrap();
}

/// The second scenario: the same alert for a pod its memory limit
/// killed. The log says nothing wrong ("loaded 2000000 items"); the
/// termination reason does, and the likely cause is the limit, with it.
#[tokio::test]
async fn a_crash_looping_pod_killed_by_its_memory_limit_is_that_limit() {
    let (k, _dir, kubeconfig) = fake().await;
    let oom = crash_looping("api", POD, IMAGE, 4, 137, "OOMKilled", 15);
    api_deployment(
        &k,
        1,
        vec![(POD, oom), ("api-7d9c5b0005-q8m2n", running("api", IMAGE))],
    );
    k.put_log(
        POD,
        "api",
        true,
        "INFO loading catalogue into memory\nINFO loaded 2000000 items",
    );
    let m = medic(&kubeconfig).await;
    let cause = likely_cause_of_the_alert(&m).await;
    assert!(cause.contains("Likely cause (resource)"), "{cause}");
    assert!(cause.contains("reached its memory limit"), "{cause}");
    assert!(
        cause.contains(&format!(
            "shop-k8s: Container api in pod {POD} was OOMKilled (exit code 137): memory limit 256Mi (request 128Mi)"
        )),
        "the limit is the evidence: {cause}"
    );
    m.stop().await.unwrap();
}

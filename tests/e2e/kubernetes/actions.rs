//! The Kubernetes built-ins through chat: `/diag` of a crash-looping
//! Deployment offers the buttons; a member of the group requests, another
//! approves, and the fake API server records exactly one PATCH — kubectl's
//! restart annotation, or kubectl's rollback to the previous ReplicaSet's
//! template — and the status message shows the revision before and after.

use medic_tests::fakes::kubernetes::*;
use medic_tests::{CHANNEL, Options, TestMedic, spawn_medic};
use serde_json::json;

use super::{IMAGE, NS, api_deployment, fake, target_toml};
use crate::remediation::{ALICE, BOB, LIMIT, groups, press, wait_for_buttons};

/// The image revision 4 ran.
const OLD_IMAGE: &str = "registry.example.com/shop/api:2.4.0";

async fn medic(kubeconfig: &std::path::Path, kind: &str, title: &str) -> TestMedic {
    spawn_medic(Options {
        targets: format!(
            "[targets.shop-k8s]\n{}",
            target_toml(kubeconfig, "deployment = \"api\"")
        ),
        extra: format!(
            "{}\n[actions.k8s]\ntitle = \"{title}\"\nkind = \"{kind}\"\noffered_on = [\"shop-k8s\"]\n\
             may_request = [\"group:sre\"]\nmay_approve = [\"group:sre\"]\napprovals = 1\n",
            groups()
        ),
        ..Default::default()
    })
    .await
}

/// Requests the one offered button as Alice, approves as Bob, and
/// returns the finished status message.
async fn request_and_approve(m: &TestMedic, k: &FakeKubernetes, title: &str) -> String {
    assert_eq!(m.slash("/diag", "shop-k8s").await.status(), 200);
    let (offer, thread) = wait_for_buttons(m, "medic.request", 1).await.remove(0);
    press(m, ALICE, "medic.request", &offer, &thread).await;
    let (request, _) = wait_for_buttons(m, "medic.approve", 1).await.remove(0);
    assert!(
        k.calls_of("PATCH").is_empty(),
        "nothing runs before approval"
    );
    press(m, BOB, "medic.approve", &request, &thread).await;
    m.slack
        .wait_for_message(CHANNEL, LIMIT, |t| {
            t.contains(title) && (t.contains("succeeded") || t.contains("failed"))
        })
        .await
}

fn crash_looping_api(k: &FakeKubernetes) {
    let crashing = crash_looping("api", "api-7d9c5b0005-x2k4p", IMAGE, 7, 1, "Error", 30);
    api_deployment(
        k,
        2,
        vec![
            ("api-7d9c5b0005-x2k4p", crashing),
            ("api-7d9c5b0005-q8m2n", running("api", IMAGE)),
            ("api-7d9c5b0005-h5t7w", running("api", IMAGE)),
        ],
    );
    k.put_log("api-7d9c5b0005-x2k4p", "api", true, super::PG_REFUSED_LOG);
}

/// The one PATCH the action sent: to the Deployment `api`, accepted, with
/// `content_type`.
fn the_one_patch(k: &FakeKubernetes, content_type: &str) -> KubeCall {
    let patches = k.calls_of("PATCH");
    assert_eq!(patches.len(), 1, "{patches:#?}");
    let p = patches.into_iter().next().unwrap();
    assert_eq!(p.path, "/apis/apps/v1/namespaces/shop/deployments/api");
    assert_eq!(p.status, 200);
    assert_eq!(p.content_type.as_deref(), Some(content_type));
    p
}

#[tokio::test]
async fn rollout_restart_patches_the_restart_annotation_once_after_approval() {
    let (k, _dir, kubeconfig) = fake().await;
    crash_looping_api(&k);
    let m = medic(&kubeconfig, "kubernetes.rollout_restart", "Restart api").await;
    let status = request_and_approve(&m, &k, "Restart api").await;
    assert!(status.contains("succeeded"), "{status}");
    assert!(
        status.contains("restarted deployment api in shop"),
        "{status}"
    );
    assert!(
        status.contains("Before: revision 5, 3/3 updated, 2/3 ready, 2/3 available"),
        "{status}"
    );
    assert!(
        status.contains("After: revision 6, 0/3 updated"),
        "{status}"
    );

    let p = the_one_patch(&k, "application/strategic-merge-patch+json");
    assert_eq!(
        p.authorization.as_deref(),
        Some(format!("Bearer {}", super::TOKEN).as_str())
    );
    assert_eq!(p.param("fieldManager"), Some("medic"));
    let at =
        p.body["spec"]["template"]["metadata"]["annotations"]["kubectl.kubernetes.io/restartedAt"]
            .as_str()
            .unwrap_or_else(|| panic!("{}", p.body));
    time::OffsetDateTime::parse(at, &time::format_description::well_known::Rfc3339)
        .unwrap_or_else(|e| panic!("{at}: {e}"));
    // Exactly that, nothing else.
    let mut body = p.body.clone();
    body["spec"]["template"]["metadata"]["annotations"]["kubectl.kubernetes.io/restartedAt"] =
        json!("T");
    assert_eq!(
        body,
        json!({"spec": {"template": {"metadata": {"annotations": {"kubectl.kubernetes.io/restartedAt": "T"}}}}})
    );
    // The Deployment now carries it, at a new revision.
    let d = k.deployment("api").unwrap();
    assert_eq!(
        d["spec"]["template"]["metadata"]["annotations"]["kubectl.kubernetes.io/restartedAt"],
        at
    );
    assert_eq!(
        d["metadata"]["annotations"]["deployment.kubernetes.io/revision"],
        "6"
    );
    m.stop().await.unwrap();
}

#[tokio::test]
async fn rollback_gives_the_deployment_the_previous_replicasets_template() {
    let (k, _dir, kubeconfig) = fake().await;
    crash_looping_api(&k);
    // An older revision (3) and a ReplicaSet of another Deployment with
    // a higher revision: neither is "the previous one".
    k.put_replicaset(replicaset(
        NS,
        "api",
        3,
        "registry.example.com/shop/api:2.3.9",
        0,
    ));
    let mut foreign = replicaset(NS, "api", 9, "registry.example.com/shop/other:1", 0);
    foreign["metadata"]["name"] = json!("other-rs");
    foreign["metadata"]["ownerReferences"][0]["uid"] = json!("uid-deploy-other");
    k.put_replicaset(foreign);
    let m = medic(&kubeconfig, "kubernetes.rollback", "Roll back api").await;
    let status = request_and_approve(&m, &k, "Roll back api").await;
    assert!(status.contains("succeeded"), "{status}");
    assert!(
        status.contains("rolled deployment api in shop back to the template of revision 4"),
        "{status}"
    );
    assert!(
        status.contains(&format!(
            "Before: revision 5, 3/3 updated, 2/3 ready, 2/3 available (api={IMAGE})"
        )),
        "{status}"
    );
    assert!(
        status.contains(&format!(
            "After: revision 6, 0/3 updated, 2/3 ready, 2/3 available (api={OLD_IMAGE})"
        )),
        "{status}"
    );

    let p = the_one_patch(&k, "application/json-patch+json");
    // kubectl rollout undo's two operations: revision 4's template
    // without the controller's hash label, and the annotations.
    let ops = p.body.as_array().unwrap_or_else(|| panic!("{}", p.body));
    assert_eq!(ops.len(), 2, "{ops:#?}");
    assert_eq!(ops[0]["op"], "replace");
    assert_eq!(ops[0]["path"], "/spec/template");
    assert_eq!(ops[0]["value"]["spec"]["containers"][0]["image"], OLD_IMAGE);
    assert_eq!(ops[0]["value"]["metadata"]["labels"], json!({"app": "api"}));
    assert_eq!(ops[1]["op"], "replace");
    assert_eq!(ops[1]["path"], "/metadata/annotations");
    assert_eq!(
        ops[1]["value"]["deployment.kubernetes.io/revision"], "5",
        "the Deployment's own bookkeeping is kept: {}",
        ops[1]
    );
    assert!(ops[1]["value"]["deployment.kubernetes.io/desired-replicas"].is_null());

    // What `kubectl rollout history` would now say: revision 4's
    // ReplicaSet is revision 6, and the Deployment runs its image.
    let d = k.deployment("api").unwrap();
    assert_eq!(
        d["spec"]["template"]["spec"]["containers"][0]["image"],
        OLD_IMAGE
    );
    assert_eq!(
        d["metadata"]["annotations"]["deployment.kubernetes.io/revision"],
        "6"
    );
    let rs = k
        .replicasets()
        .into_iter()
        .find(|r| r["metadata"]["name"] == format!("api-{}", hash(4)))
        .unwrap();
    assert_eq!(
        rs["metadata"]["annotations"]["deployment.kubernetes.io/revision"],
        "6"
    );
    m.stop().await.unwrap();
}

#[tokio::test]
async fn a_rollback_with_no_earlier_revision_sends_nothing() {
    let (k, _dir, kubeconfig) = fake().await;
    crash_looping_api(&k);
    // Only revision 5's ReplicaSet is left.
    let fresh = FakeKubernetes::start(super::TOKEN).await;
    for rs in k.replicasets() {
        if rs["metadata"]["annotations"]["deployment.kubernetes.io/revision"] == "5" {
            fresh.put_replicaset(rs);
        }
    }
    fresh.put_deployment(k.deployment("api").unwrap());
    let crashing = crash_looping("api", "api-7d9c5b0005-x2k4p", IMAGE, 7, 1, "Error", 30);
    fresh.put_pod(pod(
        NS,
        "api-7d9c5b0005-x2k4p",
        "api",
        5,
        IMAGE,
        vec![crashing],
    ));
    fresh.write_kubeconfig(&kubeconfig, super::TOKEN, NS);
    let m = medic(&kubeconfig, "kubernetes.rollback", "Roll back api").await;
    let status = request_and_approve(&m, &fresh, "Roll back api").await;
    assert!(status.contains("failed"), "{status}");
    assert!(
        status.contains("no rollout history found for deployment api"),
        "{status}"
    );
    assert!(fresh.calls_of("PATCH").is_empty());
    m.stop().await.unwrap();
}

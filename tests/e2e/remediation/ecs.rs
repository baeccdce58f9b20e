//! `ecs.force_new_deployment` against moto's ECS (scripts/services runs
//! it): a service whose tasks are not running offers the button in its
//! `/diag` report; a member of the group requests, another approves, and
//! moto sees exactly one UpdateService with forceNewDeployment for that
//! cluster — none before the approval — and the service gets a new
//! deployment. The status message shows the outcome and before/after.

use medic_tests::spawn_medic;
use medic_tests::{CHANNEL, Options};

use super::*;

use crate::moto::{ACCESS_KEY_ID, Moto, REGION};

const SECRET_KEY: &str = "moto-secret-Pa55-e2e";

#[tokio::test]
async fn force_new_deployment_redeploys_the_service_once_approved() {
    let Some(moto) = Moto::require().await else {
        return;
    };
    let cluster = Moto::unique("e2e");
    moto.service(&cluster, "api", &format!("/ecs/{cluster}/api"), 512)
        .await;
    let deployment = |s: serde_json::Value| s["deployments"][0]["id"].as_str().unwrap().to_string();
    let before = deployment(moto.describe_service(&cluster, "api").await);

    let m = spawn_medic(Options {
        targets: format!(
            "[targets.api]\nkind = \"ecs\"\ncluster = \"{cluster}\"\nservices = [\"api\"]\n\
             region = \"{REGION}\"\nendpoint_url = \"{}\"\naccess_key_id = \"{ACCESS_KEY_ID}\"\n\
             secret_access_key = \"{SECRET_KEY}\"\ntimeout = \"10s\"\n",
            moto.endpoint
        ),
        extra: format!(
            "{}\n[actions.redeploy]\ntitle = \"Force a new deployment\"\nkind = \"ecs.force_new_deployment\"\n\
             offered_on = [\"api\"]\nmay_request = [\"group:sre\"]\nmay_approve = [\"group:sre\"]\napprovals = 1\n",
            groups()
        ),
        ..Default::default()
    })
    .await;
    // moto starts no task: 0 of 2 running, which offers the button.
    assert_eq!(m.slash("/diag", "api").await.status(), 200);
    let (offer, thread) = wait_for_buttons(&m, "medic.request", 1).await.remove(0);
    press(&m, ALICE, "medic.request", &offer, &thread).await;
    let (request, _) = wait_for_buttons(&m, "medic.approve", 1).await.remove(0);
    assert_eq!(
        moto.recorded("UpdateService", &cluster).await,
        0,
        "nothing runs before the approval"
    );

    press(&m, BOB, "medic.approve", &request, &thread).await;
    let status = m
        .slack
        .wait_for_message(CHANNEL, LIMIT, |t| {
            t.contains("Force a new deployment")
                && (t.contains("succeeded") || t.contains("failed"))
        })
        .await;
    assert!(
        status.contains("forced a new deployment of api: ecs-svc/")
            && status.contains(" replaces ecs-svc/"),
        "{status}"
    );
    assert!(
        status.contains("Before:") && status.contains("After:"),
        "{status}"
    );
    assert_eq!(moto.recorded("UpdateService", &cluster).await, 1);
    let after = deployment(moto.describe_service(&cluster, "api").await);
    assert_ne!(after, before, "a new deployment replaced {before}");

    let events = audited_events(&m).await;
    assert!(events.iter().any(|e| e == "succeeded"), "{events:?}");
    let said: String = m.slack.calls().iter().map(|c| c.all_text()).collect();
    assert!(!said.contains(SECRET_KEY), "the secret key reached chat");
    m.stop().await.unwrap();
}

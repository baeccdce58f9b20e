//! `docker.restart` on real containers: a Compose project whose `web` and
//! `worker` both fail their health checks offers the button on `/diag`; a
//! member of the group requests, another approves, and exactly `web` is
//! restarted, once — `worker`'s start time does not move.

use medic_tests::{Options, spawn_medic};

use super::*;

use crate::docker::Docker;

#[tokio::test]
async fn an_approved_restart_restarts_exactly_the_named_container_once() {
    let Some(d) = Docker::connect() else {
        return;
    };
    let project = d.name("proj");
    let pl = format!("com.docker.compose.project={project}");
    let (web, worker) = (d.name("web-1"), d.name("worker-1"));
    for (name, service) in [(&web, "web"), (&worker, "worker")] {
        d.run(
            name,
            &[
                "-l",
                &pl,
                "-l",
                &format!("com.docker.compose.service={service}"),
                "--health-cmd",
                "echo 'upstream db down'; exit 1",
                "--health-interval",
                "1s",
                "--health-retries",
                "1",
            ],
            &["sleep", "600"],
        );
    }
    d.wait_for(&web, "{{.State.Health.Status}}", "unhealthy");
    d.wait_for(&worker, "{{.State.Health.Status}}", "unhealthy");
    let started = |name: &str| d.inspect(name, "{{.State.StartedAt}}");
    let (web_before, worker_before) = (started(&web), started(&worker));

    let m = spawn_medic(Options {
        targets: format!(
            "[targets.app]\nkind = \"docker\"\nhost = \"{}\"\ncompose_project = \"{project}\"\ntimeout = \"10s\"\n",
            d.host
        ),
        extra: format!(
            "{}\n[actions.restart-web]\ntitle = \"Restart web\"\nkind = \"docker.restart\"\noffered_on = [\"app\"]\n\
             may_request = [\"group:sre\"]\nmay_approve = [\"group:sre\"]\napprovals = 1\n\
             [actions.restart-web.params.container]\nenum = [\"{web}\"]\ndefault = \"{web}\"\n",
            groups()
        ),
        ..Default::default()
    })
    .await;
    assert_eq!(m.slash("/diag", "app").await.status(), 200);
    let (offer, thread) = wait_for_buttons(&m, "medic.request", 1).await.remove(0);

    press(&m, ALICE, "medic.request", &offer, &thread).await;
    let (request, _) = wait_for_buttons(&m, "medic.approve", 1).await.remove(0);
    assert_eq!(started(&web), web_before, "nothing runs before approval");
    press(&m, BOB, "medic.approve", &request, &thread).await;
    let status = m
        .slack
        .wait_for_message(CHANNEL, LIMIT, |t| {
            t.contains("Restart web") && (t.contains("succeeded") || t.contains("failed"))
        })
        .await;
    assert!(status.contains("succeeded"), "{status}");
    assert!(
        status.contains(&format!("restarted {web}: was running since ")),
        "{status}"
    );
    assert!(
        status.contains("Before:") && status.contains("After:"),
        "{status}"
    );

    // Exactly that container, once.
    assert_ne!(started(&web), web_before, "web was restarted");
    assert_eq!(started(&worker), worker_before, "worker was not");
    let events = audited_events(&m).await;
    assert_eq!(
        events.iter().filter(|e| *e == "started").count(),
        1,
        "{events:?}"
    );
    assert!(events.iter().any(|e| e == "succeeded"), "{events:?}");
    // A replayed approval changes nothing.
    let web_after = started(&web);
    press(&m, CAROL, "medic.approve", &request, &thread).await;
    m.slack.wait_for_ephemerals(CAROL, 1, LIMIT).await;
    assert_eq!(started(&web), web_after);
    m.stop().await.unwrap();
}

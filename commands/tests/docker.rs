//! The docker diagnostic against a real dockerd (support/docker.rs): a
//! container that really exits 3 under a restart policy, one really killed
//! by its memory limit, health checks that really pass and fail, a Compose
//! project made of really labelled containers, a daemon that is not there.

#[path = "support/docker.rs"]
mod docker;

use docker::{Docker, about, findings};
use medic_commands::Status;

macro_rules! docker {
    () => {
        match Docker::connect() {
            Some(d) => d,
            None => return,
        }
    };
}

/// Everything a report shows, for "this is nowhere" assertions.
fn all_text(report: &medic_commands::Report) -> String {
    format!("{report:?}{}", serde_json::to_string(report).unwrap())
}

#[tokio::test]
async fn a_crash_loop_names_its_restarts_exit_code_and_last_error() {
    let d = docker!();
    let web = d.name("crash");
    d.run(
        &web,
        &["--restart", "on-failure:5"],
        &[
            "sh",
            "-c",
            "echo listening on :8080; echo 'FATAL: could not connect to db:5432' >&2; exit 3",
        ],
    );
    // The policy's five restarts, then it stays down.
    d.wait_for(&web, "{{.RestartCount}} {{.State.Status}}", "5 exited");

    let report = d
        .target("app", |t| t.containers = vec![web.clone()])
        .run()
        .await;
    assert_eq!(report.status(), Status::Critical);
    let f = about(&report, "docker.crash_loop", &web);
    assert_eq!(f.status, Status::Critical);
    assert!(
        f.summary
            .contains("is crash-looping: 5 restarts in the last hour, last exit code 3"),
        "{}",
        f.summary
    );
    assert!(
        f.summary
            .ends_with("last error: FATAL: could not connect to db:5432"),
        "{}",
        f.summary
    );
    assert!(
        f.detail
            .iter()
            .any(|l| l.contains("on-failure:5 gave up after 5 restarts")),
        "{:?}",
        f.detail
    );
    assert!(
        f.detail.iter().any(|l| l.contains("docker events")),
        "{:?}",
        f.detail
    );
    let evidence = f.evidence.as_deref().unwrap_or_default();
    assert!(
        evidence.contains("stderr| FATAL: could not connect to db:5432"),
        "{evidence}"
    );
    assert!(evidence.contains("listening on :8080"), "{evidence}");
    // The headline leads with it.
    assert!(
        report.headline().contains("is crash-looping"),
        "{}",
        report.headline()
    );
    // Crash-looping, not also "exited": one finding for one problem.
    assert!(findings(&report, "docker.state").is_empty(), "{report:#?}");
}

#[tokio::test]
async fn an_oom_killed_container_names_its_memory_limit_and_exit_137() {
    let d = docker!();
    let hog = d.name("oom");
    d.run(
        &hog,
        &["-m", "16m", "--memory-swap", "16m"],
        &["tail", "/dev/zero"],
    );
    d.wait_for(&hog, "{{.State.OOMKilled}} {{.State.ExitCode}}", "true 137");

    let report = d
        .target("hog", |t| t.containers = vec![hog.clone()])
        .run()
        .await;
    let f = about(&report, "docker.oom", &hog);
    assert_eq!(f.status, Status::Critical);
    assert_eq!(
        f.summary,
        format!("{hog} was OOMKilled at its memory limit of 16.0 MiB, exit 137"),
    );
    assert!(f.at.is_some(), "the kill's time, for the timeline");
    assert!(
        f.detail
            .iter()
            .any(|l| l.contains("its last usage was the limit")),
        "{:?}",
        f.detail
    );
    assert!(
        f.detail.iter().any(|l| l.contains("Raise the limit")),
        "{:?}",
        f.detail
    );
}

#[tokio::test]
async fn a_healthy_container_passes_its_health_check_and_shows_its_resources() {
    let d = docker!();
    let api = d.name("healthy");
    d.run(
        &api,
        &[
            "-m",
            "64m",
            "--cpus",
            "0.5",
            "--health-cmd",
            "true",
            "--health-interval",
            "1s",
        ],
        &["sleep", "600"],
    );
    d.wait_for(&api, "{{.State.Health.Status}}", "healthy");

    let report = d
        .target("api", |t| t.containers = vec![api.clone()])
        .run()
        .await;
    assert!(report.status() < Status::Critical, "{report:#?}");
    let health = about(&report, "docker.health", &api);
    assert_eq!(health.status, Status::Ok);
    assert!(
        health.summary.starts_with(&format!("{api} healthy")),
        "{}",
        health.summary
    );
    let state = about(&report, "docker.state", &api);
    assert_eq!(state.status, Status::Ok);
    assert!(
        state.summary.starts_with(&format!("{api} running, up ")),
        "{}",
        state.summary
    );
    let stats = about(&report, "docker.stats", &api);
    assert_eq!(stats.status, Status::Ok, "{}", stats.summary);
    assert!(
        stats.summary.contains(" of 64.0 MiB limit ("),
        "{}",
        stats.summary
    );
    assert!(
        stats.summary.contains("of a 0.5 CPUs limit"),
        "{}",
        stats.summary
    );
    // Just created: news, with its time for the timeline.
    let started = about(&report, "docker.started", &api);
    assert_eq!(started.status, Status::Warn);
    assert!(
        started.summary.contains("was created and started at"),
        "{}",
        started.summary
    );
    assert!(started.at.is_some());
    let image = about(&report, "docker.image", &api);
    assert!(image.summary.contains(docker::IMAGE), "{}", image.summary);
    assert!(
        about(&report, "docker.reach", "Docker")
            .summary
            .contains("answered in")
    );
}

#[tokio::test]
async fn an_unhealthy_container_shows_its_failing_checks_own_words() {
    let d = docker!();
    let api = d.name("unhealthy");
    d.run(
        &api,
        &[
            "--health-cmd",
            "echo 'db down: connection refused'; exit 1",
            "--health-interval",
            "1s",
            "--health-retries",
            "2",
        ],
        &["sleep", "600"],
    );
    d.wait_for(&api, "{{.State.Health.Status}}", "unhealthy");

    let report = d
        .target("api", |t| t.containers = vec![api.clone()])
        .run()
        .await;
    assert_eq!(report.status(), Status::Critical);
    let f = about(&report, "docker.health", &api);
    assert_eq!(f.status, Status::Critical);
    assert!(
        f.summary.starts_with(&format!("{api} is unhealthy: ")),
        "{}",
        f.summary
    );
    assert!(
        f.summary.contains("health checks failed in a row"),
        "{}",
        f.summary
    );
    assert_eq!(f.evidence.as_deref(), Some("db down: connection refused"));
    assert!(
        f.detail.iter().any(|l| l.contains("exit code 1")),
        "{:?}",
        f.detail
    );
    // Still running: its state is fine, its health is not.
    assert_eq!(about(&report, "docker.state", &api).status, Status::Ok);
}

#[tokio::test]
async fn a_compose_project_is_its_labelled_containers_with_their_services() {
    let d = docker!();
    let project = d.name("proj");
    let label = |k: &str, v: &str| format!("{k}={v}");
    let project_label = label("com.docker.compose.project", &project);
    let (web, worker, oneoff, stranger) = (
        d.name("web-1"),
        d.name("worker-1"),
        d.name("run-1"),
        d.name("other"),
    );
    d.run(
        &web,
        &["-l", &project_label, "-l", "com.docker.compose.service=web"],
        &["sleep", "600"],
    );
    d.run(
        &worker,
        &[
            "-l",
            &project_label,
            "-l",
            "com.docker.compose.service=worker",
        ],
        &["sh", "-c", "echo 'job 7 failed' >&2; exit 2"],
    );
    // `docker compose run`: a one-off, not the service.
    d.run(
        &oneoff,
        &[
            "-l",
            &project_label,
            "-l",
            "com.docker.compose.service=web",
            "-l",
            "com.docker.compose.oneoff=True",
        ],
        &["true"],
    );
    d.run(
        &stranger,
        &["-l", "com.docker.compose.project=elsewhere"],
        &["true"],
    );
    d.wait_for(&worker, "{{.State.Status}}", "exited");

    let report = d
        .target("pazpaz", |t| t.compose_project = Some(project.clone()))
        .run()
        .await;
    let select = about(&report, "docker.select", "2 containers");
    assert_eq!(
        select.summary,
        format!(
            "2 containers of Compose project {project}: {web} (service web), {worker} (service worker)"
        )
    );
    let text = all_text(&report);
    assert!(
        !text.contains(&oneoff) && !text.contains(&stranger),
        "{report:#?}"
    );
    let failed = about(&report, "docker.state", &worker);
    assert_eq!(failed.status, Status::Critical);
    assert!(
        failed
            .summary
            .starts_with(&format!("{worker} (service worker) exited with code 2 at ")),
        "{}",
        failed.summary
    );
    assert!(
        failed.summary.ends_with("last error: job 7 failed"),
        "{}",
        failed.summary
    );
    assert_eq!(about(&report, "docker.state", &web).status, Status::Ok);

    // `services` narrows the project to one service.
    let report = d
        .target("pazpaz-web", |t| {
            t.compose_project = Some(project.clone());
            t.services = vec!["web".into()];
        })
        .run()
        .await;
    assert!(!all_text(&report).contains(&worker), "{report:#?}");
    assert_eq!(about(&report, "docker.state", &web).status, Status::Ok);
}

#[tokio::test]
async fn a_missing_container_or_project_is_said_plainly() {
    let d = docker!();
    let gone = d.name("never-made");
    let report = d
        .target("gone", |t| t.containers = vec![gone.clone()])
        .run()
        .await;
    assert_eq!(report.status(), Status::Critical);
    let f = about(&report, "docker.select", &gone);
    assert_eq!(f.summary, format!("Container {gone} does not exist"));

    let report = d
        .target("proj", |t| t.compose_project = Some(gone.clone()))
        .run()
        .await;
    let f = about(&report, "docker.select", &gone);
    assert_eq!(
        f.summary,
        format!("No container matches Compose project {gone}")
    );
    assert_eq!(f.status, Status::Critical);
}

#[tokio::test]
async fn no_daemon_at_the_socket_is_one_critical_finding() {
    let d = docker!();
    let dir = tempfile::tempdir().unwrap();
    let socket = dir.path().join("docker.sock");
    let target = d.target("nowhere", |t| {
        t.host =
            medic_commands::diagnostics::SecretUrl::parse(&format!("unix://{}", socket.display()))
                .unwrap();
        t.containers = vec!["web".into()];
    });
    let report = target.run().await;
    assert_eq!(report.status(), Status::Critical);
    assert_eq!(report.findings.len(), 1, "{report:#?}");
    let f = &report.findings[0];
    assert_eq!(f.check, "docker.reach");
    assert_eq!(
        f.summary,
        format!("No Docker socket at {}", socket.display())
    );
    assert!(f.detail[0].contains("Is dockerd running"), "{:?}", f.detail);
}

#[tokio::test]
async fn secrets_in_a_containers_logs_never_reach_the_report() {
    let d = docker!();
    let app = d.name("leaky");
    d.run(
        &app,
        &[],
        &[
            "sh",
            "-c",
            "echo 'connecting to postgres://app:Tr0ub4dor-and-3@db:5432/app' >&2; echo 'api_key=sk_live_0123456789abcdef' >&2; exit 1",
        ],
    );
    d.wait_for(&app, "{{.State.Status}}", "exited");
    let report = d
        .target("leaky", |t| t.containers = vec![app.clone()])
        .run()
        .await;
    let f = about(&report, "docker.state", &app);
    let evidence = f.evidence.as_deref().unwrap_or_default();
    assert!(
        evidence.contains("postgres://app:••••@db:5432/app"),
        "{evidence}"
    );
    let text = all_text(&report);
    assert!(!text.contains("Tr0ub4dor-and-3"), "{text}");
    assert!(!text.contains("0123456789abcdef"), "{text}");
}

mod actions {
    use std::collections::BTreeMap;

    use medic_commands::actions::params::ParamConfig;
    use medic_commands::actions::{Action, ActionConfig, RunContext};

    use super::docker::Docker;

    fn action(kind: &str, param: Option<(&str, &str)>) -> Action {
        let mut params = BTreeMap::new();
        if let Some((name, value)) = param {
            params.insert(
                name.to_string(),
                ParamConfig {
                    regex: Some("[a-zA-Z0-9_.-]+".into()),
                    default: Some(value.into()),
                    ..Default::default()
                },
            );
        }
        Action::parse(
            "restart",
            &ActionConfig {
                title: "Restart".into(),
                kind: kind.into(),
                offered_on: vec!["app".into()],
                may_request: vec!["oncall".into()],
                timeout: Some("30s".into()),
                params,
                ..Default::default()
            },
        )
        .expect("valid action")
    }

    fn values(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    /// StartedAt of each container, to tell which were restarted.
    fn starts(d: &Docker, names: &[&String]) -> Vec<String> {
        names
            .iter()
            .map(|n| d.inspect(n, "{{.State.StartedAt}}"))
            .collect()
    }

    #[tokio::test]
    async fn restart_restarts_exactly_the_named_container_of_the_target() {
        let d = docker!();
        let project = d.name("proj");
        let pl = format!("com.docker.compose.project={project}");
        let (web, worker, stranger) = (d.name("web-1"), d.name("worker-1"), d.name("other"));
        for (name, service) in [(&web, "web"), (&worker, "worker")] {
            d.run(
                name,
                &[
                    "-l",
                    &pl,
                    "-l",
                    &format!("com.docker.compose.service={service}"),
                ],
                &["sleep", "600"],
            );
        }
        d.run(&stranger, &[], &["sleep", "600"]);
        let before = starts(&d, &[&web, &worker, &stranger]);
        let target = d.target("app", |t| t.compose_project = Some(project.clone()));
        let ctx = RunContext {
            target: Some(&target.spec),
            ..RunContext::default()
        };

        let a = action("docker.restart", Some(("container", &web)));
        let out = a
            .execute_in(&values(&[("target", "app"), ("container", &web)]), ctx)
            .await;
        assert!(out.success, "{out:?}");
        assert!(
            out.status
                .starts_with(&format!("restarted {web}: was running since ")),
            "{}",
            out.status
        );
        assert!(
            out.status.contains("; now running since "),
            "{}",
            out.status
        );
        assert!(
            out.output
                .contains(&format!("{web}: before: running since ")),
            "{}",
            out.output
        );
        assert!(
            out.output
                .contains(&format!("{web}: after: running since ")),
            "{}",
            out.output
        );
        let after = starts(&d, &[&web, &worker, &stranger]);
        assert_ne!(after[0], before[0], "web restarted");
        assert_eq!(after[1..], before[1..], "nothing else restarted");

        // A container on the host that is not the target's is refused, even
        // when a parameter names it.
        let out = a
            .execute_in(&values(&[("target", "app"), ("container", &stranger)]), ctx)
            .await;
        assert!(!out.success);
        assert!(
            out.status.contains("refused: no container named"),
            "{}",
            out.status
        );
        assert_eq!(starts(&d, &[&stranger]), before[2..]);
        // Without a parameter, a target of many containers names none.
        let bare = action("docker.restart", None);
        let out = bare.execute_in(&values(&[("target", "app")]), ctx).await;
        assert!(!out.success);
        assert!(out.status.contains("name one container"), "{}", out.status);
    }

    #[tokio::test]
    async fn compose_restart_restarts_every_container_of_the_service_only() {
        let d = docker!();
        let project = d.name("proj");
        let pl = format!("com.docker.compose.project={project}");
        let (web1, web2, worker) = (d.name("web-1"), d.name("web-2"), d.name("worker-1"));
        for (name, service) in [(&web1, "web"), (&web2, "web"), (&worker, "worker")] {
            d.run(
                name,
                &[
                    "-l",
                    &pl,
                    "-l",
                    &format!("com.docker.compose.service={service}"),
                ],
                &["sleep", "600"],
            );
        }
        let before = starts(&d, &[&web1, &web2, &worker]);
        let target = d.target("app", |t| t.compose_project = Some(project.clone()));
        let ctx = RunContext {
            target: Some(&target.spec),
            ..RunContext::default()
        };
        let a = action("docker.compose_restart", Some(("service", "web")));
        let out = a
            .execute_in(&values(&[("target", "app"), ("service", "web")]), ctx)
            .await;
        assert!(out.success, "{out:?}");
        assert_eq!(out.status, "restarted 2 of 2 container(s) of service web");
        let after = starts(&d, &[&web1, &web2, &worker]);
        assert_ne!(after[0], before[0]);
        assert_ne!(after[1], before[1]);
        assert_eq!(after[2], before[2], "the worker was left alone");

        let out = a
            .execute_in(&values(&[("target", "app"), ("service", "nope")]), ctx)
            .await;
        assert!(!out.success);
        assert!(
            out.status.contains("no container of service nope"),
            "{}",
            out.status
        );
    }
}

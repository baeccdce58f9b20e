//! The docker readings against answers recorded from a real dockerd
//! (Docker 20.10.24, API 1.41, cgroup v1; `testdata/`): `GET
//! /containers/{id}/json` of a container that exited 3 five times under
//! `--restart on-failure:5` (Compose labels on it), one OOM-killed under
//! `-m 16m`, one unhealthy and one healthy; `GET /events` of the crash
//! loop; `GET /containers/{id}/stats?stream=false`; `GET
//! /images/{name}/json`. Then what triage makes of the findings.

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use bollard::models::{
    ContainerInspectResponse, ContainerStatsResponse, EventMessage, ImageInspect,
};
use time::OffsetDateTime;
use time::macros::datetime;

use super::history::History;
use super::logs::{Line, Stream};
use super::select::{self, Candidate};
use super::session::Container;
use super::state::{Observed, findings};
use super::*;
use crate::model::report::{Report, Status, TargetRef};

fn inspect(name: &str) -> Container {
    let text = match name {
        "crash" => include_str!("testdata/inspect-crash.json"),
        "oom" => include_str!("testdata/inspect-oom.json"),
        "unhealthy" => include_str!("testdata/inspect-unhealthy.json"),
        "healthy" => include_str!("testdata/inspect-healthy.json"),
        other => panic!("no recording {other}"),
    };
    let i: ContainerInspectResponse = serde_json::from_str(text).expect("inspect parses");
    Container::from_inspect(i)
}

fn crash_events() -> Vec<EventMessage> {
    include_str!("testdata/events-crash.jsonl")
        .lines()
        .map(|l| serde_json::from_str(l).expect("event parses"))
        .collect()
}

/// The recordings were made at 05:50:38–05:50:51 UTC.
const NOW: OffsetDateTime = datetime!(2026-12-07 05:51:00 UTC);

fn lines(spec: &[(Stream, &str)]) -> Vec<Line> {
    spec.iter()
        .map(|(s, t)| Line {
            stream: *s,
            text: t.to_string(),
        })
        .collect()
}

fn one<'a>(all: &'a [Finding], check: &str) -> &'a Finding {
    let found: Vec<&Finding> = all.iter().filter(|f| f.check == check).collect();
    assert_eq!(found.len(), 1, "one {check}: {all:#?}");
    found[0]
}

fn none(all: &[Finding], check: &str) {
    assert!(all.iter().all(|f| f.check != check), "no {check}: {all:#?}");
}

#[test]
fn the_crash_loops_events_count_five_restarts_and_the_last_exit() {
    let h = History::from_events(&crash_events());
    assert_eq!(
        h,
        History {
            restarts: 5,
            exits: 6,
            ooms: 0,
            last_exit_code: Some(3),
            created: true,
        }
    );
    // Without its create event (made more than an hour ago), every start
    // in the hour is a restart.
    let later: Vec<EventMessage> = crash_events()
        .into_iter()
        .filter(|e| e.action.as_deref() != Some("create"))
        .collect();
    assert_eq!(History::from_events(&later).restarts, 6);
}

#[test]
fn a_crash_loop_is_one_critical_finding_with_its_last_error_and_logs() {
    let c = inspect("crash");
    assert_eq!(c.label(), "crash (service web)");
    let observed = Observed {
        history: Some(Ok(History::from_events(&crash_events()))),
        logs: Some(lines(&[
            (Stream::Out, "listening"),
            (Stream::Err, "FATAL: could not connect to db:5432"),
        ])),
        memory_now: None,
    };
    let all = findings(&c, &observed, NOW);
    let f = one(&all, "docker.crash_loop");
    assert_eq!(f.status, Status::Critical);
    assert_eq!(
        f.summary,
        "crash (service web) is crash-looping: 5 restarts in the last hour, last exit code 3 — last error: FATAL: could not connect to db:5432"
    );
    assert_eq!(f.detail[0], "Down since 05:50:42 UTC (17 s ago)");
    assert!(
        f.detail
            .contains(&"Restart policy on-failure:5 gave up after 5 restarts: it stays down until restarted by hand.".to_string()),
        "{:?}",
        f.detail
    );
    assert!(
        f.detail
            .contains(&"Restarts counted from docker events.".to_string())
    );
    assert_eq!(
        f.evidence.as_deref(),
        Some("       listening\nstderr| FATAL: could not connect to db:5432")
    );
    assert_eq!(f.at, Some(datetime!(2026-12-07 05:50:42.500938378 UTC)));
    // One problem, one finding: no "exited" line besides it, and a
    // crash-looping container's last start is not separate news.
    none(&all, "docker.state");
    none(&all, "docker.started");
}

#[test]
fn without_events_a_crash_loop_is_counted_from_restart_count() {
    let c = inspect("crash");
    let observed = Observed {
        history: Some(Err("403 Forbidden".into())),
        ..Default::default()
    };
    let all = findings(&c, &observed, NOW);
    let f = one(&all, "docker.crash_loop");
    assert!(
        f.summary.contains("5 restarts in the last hour"),
        "{}",
        f.summary
    );
    assert!(
        f.detail.contains(
            &"Restarts counted from RestartCount: the events could not be read (403 Forbidden)."
                .to_string()
        ),
        "{:?}",
        f.detail
    );
    // Two hours later those restarts are old news: an exited container.
    let later = findings(&c, &observed, NOW + time::Duration::hours(2));
    none(&later, "docker.crash_loop");
    let f = one(&later, "docker.state");
    assert_eq!(f.status, Status::Critical);
    assert!(
        f.summary
            .starts_with("crash (service web) exited with code 3 at 05:50:42 UTC (2 h ago)"),
        "{}",
        f.summary
    );
}

#[test]
fn an_oom_kill_names_the_limit_the_usage_and_exit_137() {
    let c = inspect("oom");
    assert_eq!(stats::memory_limit(&c.inspect), Some(16 * 1024 * 1024));
    let all = findings(&c, &Observed::default(), NOW);
    let f = one(&all, "docker.oom");
    assert_eq!(f.status, Status::Critical);
    assert_eq!(
        f.summary,
        "oom was OOMKilled at its memory limit of 16.0 MiB, exit 137"
    );
    assert_eq!(f.at, Some(datetime!(2026-12-07 05:50:38.77985003 UTC)));
    none(&all, "docker.state");
    // Running again after the kill: its usage now, against the limit.
    let again = Observed {
        memory_now: Some(15 * 1024 * 1024),
        ..Default::default()
    };
    let f = one(&findings(&c, &again, NOW), "docker.oom").clone();
    assert_eq!(
        f.summary,
        "oom was OOMKilled: memory limit 16.0 MiB, exit 137; using 15.0 MiB (94 %) again since its restart"
    );
}

#[test]
fn an_unhealthy_container_quotes_its_health_check() {
    let c = inspect("unhealthy");
    let all = findings(&c, &Observed::default(), NOW);
    let f = one(&all, "docker.health");
    assert_eq!(f.status, Status::Critical);
    assert!(
        f.summary.starts_with("unhealthy is unhealthy: ")
            && f.summary.ends_with("health checks failed in a row"),
        "{}",
        f.summary
    );
    assert_eq!(f.evidence.as_deref(), Some("db down"));
    assert!(
        f.detail
            .last()
            .unwrap()
            .ends_with("exit code 1; its output:"),
        "{:?}",
        f.detail
    );
    assert_eq!(one(&all, "docker.state").status, Status::Ok);
    // Created and started 21 s before NOW: a new container is news.
    let started = one(&all, "docker.started");
    assert_eq!(started.status, Status::Warn);
    assert_eq!(
        started.summary,
        "unhealthy was created and started at 05:50:38 UTC (21 s ago)"
    );
}

#[test]
fn a_healthy_container_hours_later_is_all_ok() {
    let c = inspect("healthy");
    let all = findings(&c, &Observed::default(), NOW + time::Duration::hours(3));
    assert!(all.iter().all(|f| f.status == Status::Ok), "{all:#?}");
    assert_eq!(one(&all, "docker.state").summary, "healthy running, up 3 h");
    assert!(
        one(&all, "docker.health")
            .summary
            .starts_with("healthy healthy (last check passed ")
    );
    none(&all, "docker.started");
}

#[test]
fn a_restart_is_news_and_says_so() {
    let mut c = inspect("healthy");
    let state = c.inspect.state.as_mut().unwrap();
    state.started_at = Some("2026-12-07T05:45:00Z".into());
    c.inspect.restart_count = Some(1);
    let all = findings(&c, &Observed::default(), NOW);
    let f = one(&all, "docker.started");
    assert_eq!(f.summary, "healthy restarted at 05:45:00 UTC (6 min ago)");
    assert_eq!(f.at, Some(datetime!(2026-12-07 05:45:00 UTC)));
    assert_eq!(
        one(&all, "docker.state").summary,
        "healthy running, up 6 min, 1 restart since it was created"
    );
}

#[test]
fn stats_are_read_against_the_containers_own_limits() {
    let c = inspect("healthy");
    let s: ContainerStatsResponse =
        serde_json::from_str(include_str!("testdata/stats-healthy.json")).unwrap();
    assert_eq!(stats::memory_used(&s), Some(626_688));
    assert_eq!(stats::cpu_limit(&c), Some(0.5));
    let f = stats::reading(&c, &s);
    assert_eq!(f.status, Status::Ok);
    assert!(
        f.summary
            .starts_with("healthy: memory 612.0 KiB of 64.0 MiB limit (1 %), CPU "),
        "{}",
        f.summary
    );
    assert!(
        f.summary.contains(" of a 0.5 CPUs limit ("),
        "{}",
        f.summary
    );
    // Near the limit: the next OOMKilled.
    let mut full = s.clone();
    full.memory_stats.as_mut().unwrap().usage = Some(63 * 1024 * 1024);
    let f = stats::reading(&c, &full);
    assert_eq!(f.status, Status::Critical);
    assert!(
        f.summary
            .contains("memory 63.0 MiB of 64.0 MiB limit (98 %)"),
        "{}",
        f.summary
    );
    assert!(
        f.detail[0].contains("OOM-kills it (exit 137)"),
        "{:?}",
        f.detail
    );
    // Pinned at its CPU limit: throttled.
    let mut busy = s.clone();
    let cpu = busy.cpu_stats.as_mut().unwrap();
    let pre = busy.precpu_stats.as_ref().unwrap();
    let system = cpu.system_cpu_usage.unwrap() - pre.system_cpu_usage.unwrap();
    // Half a CPU of two, over the sample: 50 %, its whole limit.
    cpu.cpu_usage.as_mut().unwrap().total_usage =
        Some(pre.cpu_usage.as_ref().unwrap().total_usage.unwrap() + system / 4);
    let f = stats::reading(&c, &busy);
    assert_eq!(f.status, Status::Warn, "{}", f.summary);
    assert!(
        f.summary.contains("CPU 50 % of a 0.5 CPUs limit (100 %)"),
        "{}",
        f.summary
    );
}

#[test]
fn a_new_image_is_a_deploy_on_the_timeline() {
    let i: ImageInspect = serde_json::from_str(include_str!("testdata/image.json")).unwrap();
    // Tagged here after it was built: the later time is when it arrived.
    assert_eq!(
        image::arrived(&i),
        Some(datetime!(2026-12-07 05:40:46.577000744 UTC))
    );
    let f = image::reading("medic-test/busybox:1", &["web".into()], &i, NOW);
    assert_eq!(
        f.summary,
        "web runs medic-test/busybox:1 (9e7a1d586858), a new image: built 05:40:46 UTC (10 min ago)"
    );
    assert_eq!(timeline::image(&f).as_deref(), Some("medic-test/busybox:1"));
    let f = image::reading(
        "medic-test/busybox:1",
        &["web".into(), "worker".into()],
        &i,
        NOW + time::Duration::days(3),
    );
    assert_eq!(
        f.summary,
        "web, worker run medic-test/busybox:1 (9e7a1d586858), built 05:40:46 UTC (3 days ago)"
    );
    assert_eq!(timeline::image(&f).as_deref(), Some("medic-test/busybox:1"));
}

fn candidate(name: &str, labels: &[(&str, &str)]) -> Candidate {
    Candidate {
        id: format!("id-{name}"),
        name: name.into(),
        labels: labels
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect::<HashMap<_, _>>(),
    }
}

fn target(edit: impl FnOnce(&mut DockerTarget)) -> DockerTarget {
    let mut t = DockerTarget::local(Vec::new());
    edit(&mut t);
    t
}

#[test]
fn selection_matches_every_selector_and_skips_one_off_runs() {
    let all = [
        candidate(
            "pazpaz-web-1",
            &[
                (COMPOSE_PROJECT_LABEL, "pazpaz"),
                (COMPOSE_SERVICE_LABEL, "web"),
            ],
        ),
        candidate(
            "pazpaz-worker-1",
            &[
                (COMPOSE_PROJECT_LABEL, "pazpaz"),
                (COMPOSE_SERVICE_LABEL, "worker"),
            ],
        ),
        candidate(
            "pazpaz-web-run-3f2a",
            &[
                (COMPOSE_PROJECT_LABEL, "pazpaz"),
                (COMPOSE_SERVICE_LABEL, "web"),
                (COMPOSE_ONEOFF_LABEL, "True"),
            ],
        ),
        candidate("redis", &[("tier", "cache")]),
    ];
    let names = |t: &DockerTarget| -> (Vec<String>, Vec<String>) {
        let (chosen, missing) = select::choose(t, &all);
        (chosen.iter().map(|c| c.name.clone()).collect(), missing)
    };
    let project = target(|t| t.compose_project = Some("pazpaz".into()));
    assert_eq!(names(&project).0, ["pazpaz-web-1", "pazpaz-worker-1"]);
    assert_eq!(
        select::label_filters(&project),
        ["com.docker.compose.project=pazpaz"]
    );
    assert_eq!(select::describe(&project), "Compose project pazpaz");
    let web = target(|t| {
        t.compose_project = Some("pazpaz".into());
        t.services = vec!["web".into()];
    });
    assert_eq!(names(&web).0, ["pazpaz-web-1"]);
    assert_eq!(
        select::describe(&web),
        "Compose service web of project pazpaz"
    );
    let named = target(|t| t.containers = vec!["redis".into(), "gone".into()]);
    assert_eq!(
        names(&named),
        (vec!["redis".to_string()], vec!["gone".to_string()])
    );
    let labelled = target(|t| t.labels = BTreeMap::from([("tier".into(), "cache".into())]));
    assert_eq!(names(&labelled).0, ["redis"]);
    assert_eq!(select::describe(&labelled), "labels tier=cache");
    // Every selector must hold: a name outside the project is not chosen.
    let both = target(|t| {
        t.compose_project = Some("pazpaz".into());
        t.containers = vec!["redis".into()];
    });
    assert!(names(&both).0.is_empty());
}

#[test]
fn config_is_checked_key_by_key() {
    let parse = |toml_text: &str| -> DockerTarget {
        toml::from_str(toml_text).unwrap_or_else(|e| panic!("{toml_text}: {e}"))
    };
    let t = parse("containers = [\"web\"]");
    assert_eq!(t.validate(), Ok(()));
    assert_eq!(
        t.endpoint(),
        Ok(Endpoint::Unix("/var/run/docker.sock".into()))
    );
    assert_eq!(t.daemon(), "unix:///var/run/docker.sock");
    assert_eq!(t.location(), "container web on unix:///var/run/docker.sock");
    let t = parse(
        "host = \"tcp://10.0.0.5:2376\"\ntls_ca = \"/c/ca.pem\"\ntls_cert = \"/c/cert.pem\"\ntls_key = \"/c/key.pem\"\ncompose_project = \"pazpaz\"",
    );
    assert!(matches!(t.endpoint(), Ok(Endpoint::Tls { ref addr, .. }) if addr == "10.0.0.5:2376"));
    for (text, key, words) in [
        ("", "containers", "name the containers"),
        (
            "host = \"tcp://10.0.0.5\"\ncontainers = [\"w\"]",
            "host",
            "give the port",
        ),
        (
            "host = \"http://10.0.0.5:2375\"\ncontainers = [\"w\"]",
            "host",
            "not unix:// or tcp://",
        ),
        (
            "host = \"tcp://h:2376\"\ntls_ca = \"/ca\"\ncontainers = [\"w\"]",
            "tls_ca",
            "all three",
        ),
        (
            "tls_ca = \"/ca\"\ncontainers = [\"w\"]",
            "tls_ca",
            "only mean something with tcp://",
        ),
        (
            "services = [\"web\"]\ncontainers = [\"w\"]",
            "services",
            "needs `compose_project`",
        ),
        (
            "containers = [\"w\"]\nlog_lines = 500",
            "log_lines",
            "at most 200",
        ),
        ("containers = [\" \"]", "containers", "empty"),
    ] {
        let (k, why) = parse(text).validate().unwrap_err();
        assert_eq!(k, key, "{text}");
        assert!(why.contains(words), "{text}: {why}");
    }
    // A user and password in the URL never show where the target is shown.
    let t = parse("host = \"tcp://medic:hunter2hunter2@10.0.0.5:2375\"\ncontainers = [\"w\"]");
    assert_eq!(t.location(), "container w on tcp://medic@10.0.0.5:2375");
    assert_eq!(t.redactor().redact("x hunter2hunter2 y"), "x •••• y");
    let header = client::basic_auth(&t).expect("basic auth");
    assert!(header.is_sensitive());
    // base64("medic:hunter2hunter2")
    assert_eq!(
        header.to_str().unwrap(),
        "Basic bWVkaWM6aHVudGVyMmh1bnRlcjI="
    );
    assert!(toml::from_str::<DockerTarget>("containers = [\"w\"]\nnope = 1").is_err());
}

#[test]
fn log_evidence_keeps_the_newest_lines_and_marks_stderr() {
    let many: Vec<Line> = (0..100)
        .map(|i| Line {
            stream: if i % 10 == 9 {
                Stream::Err
            } else {
                Stream::Out
            },
            text: format!("line {i} {}", "x".repeat(60)),
        })
        .collect();
    let e = logs::evidence(&many);
    assert!(e.len() <= logs::MAX_EVIDENCE + 4, "{}", e.len());
    assert!(e.starts_with('…'), "cut at the old end: {e}");
    assert!(
        e.ends_with(&format!("stderr| line 99 {}", "x".repeat(60))),
        "{e}"
    );
    assert_eq!(logs::last_error(&many), Some(many[99].text.as_str()));
    let tty = lines(&[(Stream::Tty, "a"), (Stream::Tty, "panic: boom")]);
    assert_eq!(logs::last_error(&tty), Some("panic: boom"));
    assert_eq!(logs::shorten("ééééé", 3), "ééé…");
    let long = lines(&[(Stream::Err, &"y".repeat(1000))]);
    assert_eq!(
        logs::evidence(&long).chars().count(),
        "stderr| ".len() + logs::MAX_LINE + 1
    );
}

#[test]
fn exit_codes_are_said_in_words() {
    assert!(state::exit_meaning(137).unwrap().contains("OOM killer"));
    assert!(state::exit_meaning(127).unwrap().contains("not found"));
    assert!(state::exit_meaning(143).unwrap().contains("SIGTERM"));
    assert_eq!(state::exit_meaning(3), None);
}

fn report(name: &str, findings: Vec<Finding>) -> Report {
    Report::new(
        TargetRef {
            name: name.into(),
            kind: "docker".into(),
            location: DEFAULT_HOST.into(),
        },
        findings,
        Duration::ZERO,
    )
}

#[test]
fn triage_blames_an_oom_kill_on_the_memory_limit_with_its_numbers() {
    use crate::triage::{Confidence, Input, Knowledge, Triage, decide, timeline};
    let findings_ = findings(&inspect("oom"), &Observed::default(), NOW);
    let reports = [report("pazpaz", findings_)];
    let events = timeline::from_reports(&reports);
    assert!(
        events.iter().any(|e| e.tagged("oom") && e.describe() == "OOM killer killed container oom on pazpaz"),
        "{events:#?}"
    );
    let k = Knowledge::builtin();
    let verdict = decide(&Input {
        knowledge: &k,
        chain: &[],
        title: "ContainerOOMKilled: container oom in pazpaz was OOMKilled",
        first_error: NOW,
        events: &events,
        reports: &reports,
        correlated: &[],
        timeline_window: Duration::from_secs(1800),
        symptom: None,
    });
    let Triage::Likely(c) = verdict else {
        panic!("a likely cause: {verdict:?}")
    };
    assert_eq!(c.rule.as_deref(), Some("container-oom-killed"));
    assert!(c.cause.contains("memory limit"), "{}", c.cause);
    assert_eq!(c.confidence, Confidence::High);
    assert!(
        c.evidence.contains(
            &"pazpaz: oom was OOMKilled at its memory limit of 16.0 MiB, exit 137".to_string()
        ),
        "{:?}",
        c.evidence
    );
}

#[test]
fn triage_quotes_a_crash_loops_last_error() {
    use crate::triage::{Input, Knowledge, Triage, decide};
    let observed = Observed {
        history: Some(Ok(History::from_events(&crash_events()))),
        logs: Some(lines(&[(
            Stream::Err,
            "FATAL: could not connect to db:5432",
        )])),
        memory_now: None,
    };
    let reports = [report(
        "pazpaz",
        findings(&inspect("crash"), &observed, NOW),
    )];
    let k = Knowledge::builtin();
    let verdict = decide(&Input {
        knowledge: &k,
        chain: &[],
        title: "Container crash keeps restarting",
        first_error: NOW,
        events: &[],
        reports: &reports,
        correlated: &[],
        timeline_window: Duration::from_secs(1800),
        symptom: None,
    });
    let Triage::Likely(c) = verdict else {
        panic!("a likely cause: {verdict:?}")
    };
    assert_eq!(c.rule.as_deref(), Some("crash-loop"));
    assert!(
        c.evidence.iter().any(
            |e| e.starts_with("pazpaz: crash (service web) is crash-looping")
                && e.ends_with("last error: FATAL: could not connect to db:5432")
        ),
        "{:?}",
        c.evidence
    );
}

#[test]
fn a_diag_blames_a_restart_right_after_a_new_image_on_the_deploy() {
    use crate::triage::symptom;
    use crate::triage::{Category, Knowledge, timeline};
    let i: ImageInspect = serde_json::from_str(include_str!("testdata/image.json")).unwrap();
    // Restarted two minutes after the image arrived (05:40:46).
    let mut c = inspect("healthy");
    c.inspect.state.as_mut().unwrap().started_at = Some("2026-12-07T05:42:50Z".into());
    c.inspect.restart_count = Some(1);
    let mut all = findings(&c, &Observed::default(), NOW);
    all.push(image::reading("pazpaz/web:1.4", &[c.label()], &i, NOW));
    let reports = [report("pazpaz", all)];
    let events = timeline::from_reports(&reports);
    assert!(
        events.iter().any(|e| e.tagged("restart:container")),
        "{events:#?}"
    );
    assert!(events.iter().any(|e| e.tagged("deploy")), "{events:#?}");
    let cause = symptom::for_diagnosis(
        &Knowledge::builtin(),
        &reports,
        &events,
        NOW,
        Duration::from_secs(1800),
    )
    .expect("a likely cause");
    assert_eq!(
        cause.cause,
        "new image pazpaz/web:1.4 on pazpaz, 2 min before the start of healthy"
    );
    assert_eq!(cause.category, Some(Category::Deploy));
    assert!(
        !cause.self_healing,
        "a broken image does not heal by itself"
    );
    assert!(
        cause.next_check.contains("docker logs"),
        "{}",
        cause.next_check
    );
    assert!(
        cause.evidence[0].contains("a new image: built 05:40:46 UTC"),
        "{:?}",
        cause.evidence
    );
    // Without the new image, a restart alone has no likely cause.
    let alone = [report("pazpaz", findings(&c, &Observed::default(), NOW))];
    let events = timeline::from_reports(&alone);
    assert!(
        symptom::for_diagnosis(
            &Knowledge::builtin(),
            &alone,
            &events,
            NOW,
            Duration::from_secs(1800)
        )
        .is_none()
    );
}

#[test]
fn a_socket_medic_may_not_use_says_what_access_means() {
    let denied = bollard::errors::Error::IOError {
        err: std::io::Error::from(std::io::ErrorKind::PermissionDenied),
    };
    let f = client::failure(DEFAULT_HOST, &denied, Duration::from_secs(5));
    assert_eq!(f.status, Status::Critical);
    assert_eq!(
        f.summary,
        "medic may not use the Docker socket at unix:///var/run/docker.sock (permission denied)"
    );
    assert!(f.detail[0].contains("root-equivalent"), "{:?}", f.detail);
    assert!(
        f.detail[0].contains("read-only socket proxy"),
        "{:?}",
        f.detail
    );
    let refused = bollard::errors::Error::DockerResponseServerError {
        status_code: 403,
        message: "Forbidden".into(),
    };
    let f = client::failure("tcp://socket-proxy:2375", &refused, Duration::from_secs(5));
    assert_eq!(
        f.summary,
        "The Docker API at tcp://socket-proxy:2375 refused medic (403)"
    );
    assert!(f.detail[0].contains("/containers/*/logs"), "{:?}", f.detail);
}

#[test]
fn an_alert_naming_one_container_or_service_narrows_the_run_to_it() {
    use crate::diagnostics::alert_labelled;
    let project: DockerTarget = toml::from_str("compose_project = \"pazpaz\"").unwrap();
    // cAdvisor's `name` of one of the project's containers.
    let web = project
        .focused(&alert_labelled(&[("name", "pazpaz-web-1")]))
        .expect("narrowed");
    assert_eq!(web.containers, ["pazpaz-web-1"]);
    assert_eq!(web.compose_project.as_deref(), Some("pazpaz"));
    assert_eq!(
        web.location(),
        "container pazpaz-web-1 on unix:///var/run/docker.sock"
    );
    assert_ne!(
        web.location(),
        project.location(),
        "told apart from /diag's run"
    );
    // A Compose service label.
    let worker = project
        .focused(&alert_labelled(&[("com_docker_compose_service", "worker")]))
        .expect("narrowed");
    assert_eq!(worker.services, ["worker"]);
    assert_eq!(
        worker.location(),
        "service worker on unix:///var/run/docker.sock"
    );
    // Another project's container, or nothing named: the whole target.
    assert!(
        project
            .focused(&alert_labelled(&[("name", "shop-web-1")]))
            .is_none()
    );
    assert!(
        project
            .focused(&alert_labelled(&[("severity", "page")]))
            .is_none()
    );
    // A project limited to some services takes only their containers.
    let some: DockerTarget =
        toml::from_str("compose_project = \"pazpaz\"\nservices = [\"web\", \"api\"]").unwrap();
    assert!(
        some.focused(&alert_labelled(&[("name", "pazpaz-db-1")]))
            .is_none()
    );
    assert!(
        some.focused(&alert_labelled(&[("name", "pazpaz-api-2")]))
            .is_some()
    );
    // A listed container of several.
    let listed = DockerTarget::local(vec!["a".into(), "b".into()]);
    let b = listed
        .focused(&alert_labelled(&[("container", "b")]))
        .expect("narrowed");
    assert_eq!(b.containers, ["b"]);
    assert!(
        listed
            .focused(&alert_labelled(&[("container", "c")]))
            .is_none()
    );
}

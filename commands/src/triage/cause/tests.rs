use std::time::Duration;

use time::macros::datetime;

use super::*;
use crate::triage::correlation::Peer;
use crate::triage::timeline::{EventKind, Service};
use crate::{Finding, TargetRef};

const FIRST: OffsetDateTime = datetime!(2026-01-31 06:33:00 UTC);
const WINDOW: Duration = Duration::from_secs(1800);

fn link(kind: &str, message: &str) -> Link {
    Link {
        kind: kind.into(),
        message: message.into(),
    }
}

fn upgrade(name: &str, at: OffsetDateTime) -> Event {
    Event {
        at,
        kind: EventKind::Package {
            name: name.into(),
            action: "Upgrade".into(),
            version: Some("3.0.13-0ubuntu3.5".into()),
        },
        place: "web-1".into(),
        evidence: format!("Upgrade: {name}:amd64 (3.0.13-0ubuntu3.4, 3.0.13-0ubuntu3.5)"),
    }
}

fn reload(at: OffsetDateTime) -> Event {
    Event {
        at,
        kind: EventKind::Reload,
        place: "web-1".into(),
        evidence: "systemd[1]: Reloading.".into(),
    }
}

fn report(name: &str, findings: Vec<Finding>) -> Report {
    Report::new(
        TargetRef {
            name: name.into(),
            kind: "x".into(),
            location: "x".into(),
        },
        findings,
        Duration::ZERO,
    )
}

fn run(
    chain: &[Link],
    title: &str,
    events: &[Event],
    reports: &[Report],
    correlated: &[Correlated],
) -> Triage {
    let k = Knowledge::builtin();
    decide(&Input {
        knowledge: &k,
        chain,
        title,
        first_error: FIRST,
        events,
        reports,
        correlated,
        timeline_window: WINDOW,
        symptom: None,
    })
}

fn likely(t: Triage) -> LikelyCause {
    match t {
        Triage::Likely(c) => c,
        other => panic!("expected a likely cause, got {other:?}"),
    }
}

#[test]
fn ssl_closed_after_an_openssl_upgrade_is_that_upgrade_and_heals() {
    let chain = [link(
        "PG::ConnectionBad",
        "SSL connection has been closed unexpectedly",
    )];
    let events = [
        upgrade("openssl", datetime!(2026-01-31 06:30:00 UTC)),
        reload(datetime!(2026-01-31 06:32:50 UTC)),
    ];
    let c = likely(run(&chain, "PG::ConnectionBad", &events, &[], &[]));
    assert_eq!(c.rule.as_deref(), Some("ssl-closed-unexpectedly"));
    assert_eq!(c.confidence, Confidence::High);
    assert!(c.self_healing);
    assert!(c.cause.contains("openssl upgraded"), "{}", c.cause);
    assert!(
        c.evidence
            .iter()
            .any(|e| e.contains("Upgrade: openssl:amd64")
                && e.contains("3 min before the first error")),
        "{:?}",
        c.evidence
    );
}

#[test]
fn admin_command_in_the_innermost_link_is_a_database_restart() {
    let chain = [
        link(
            "PG::ConnectionBad",
            "terminating connection due to administrator command",
        ),
        link("PG::ConnectionBad", "Connection refused"),
        link(
            "ActiveRecord::DatabaseConnectionError",
            "database unavailable",
        ),
    ];
    let restart = Event {
        at: datetime!(2026-01-31 06:32:40 UTC),
        kind: EventKind::Restart {
            service: Service::Postgres,
        },
        place: "db".into(),
        evidence: "PostgreSQL 16.4 restarted at 06:32:40 (2 min ago)".into(),
    };
    let c = likely(run(
        &chain,
        "ActiveRecord::DatabaseConnectionError",
        &[restart],
        &[],
        &[],
    ));
    assert_eq!(c.rule.as_deref(), Some("admin-command"));
    assert_eq!(c.confidence, Confidence::High);
    assert!(c.evidence[0].starts_with("Error (innermost of 3 chained exceptions)"));
    assert!(c.evidence[1].contains("PostgreSQL restarted on db (20 s before"));
}

#[test]
fn redis_and_postgres_against_one_host_are_one_infrastructure_event() {
    let chain = [link(
        "ActiveRecord::DatabaseConnectionError",
        "connection to server at \"10.0.1.1\", port 5432 failed: Connection refused",
    )];
    let peer = Peer {
        id: 7,
        source: "sentry".into(),
        service: Some("web".into()),
        title: "RedisClient::CannotConnectError: Connection refused - connect(2) for 10.0.1.1:6379"
            .into(),
        hosts: vec!["10.0.1.1".into()],
        first_seen: datetime!(2026-01-31 06:33:04 UTC),
    };
    let correlated = [Correlated {
        peer,
        host: "10.0.1.1".into(),
        apart: Duration::from_secs(4),
    }];
    let events = [reload(datetime!(2026-01-31 06:32:58 UTC))];
    let c = likely(run(
        &chain,
        "ActiveRecord::DatabaseConnectionError",
        &events,
        &[],
        &correlated,
    ));
    assert_eq!(c.rule.as_deref(), Some("correlation"));
    assert_eq!(c.category, Some(Category::Infrastructure));
    assert_eq!(c.confidence, Confidence::High);
    assert!(c.cause.contains("host 10.0.1.1"));
    assert!(
        c.evidence
            .iter()
            .any(|e| e.starts_with("Incident #7 (sentry, web)"))
    );
    assert!(
        c.evidence
            .iter()
            .any(|e| e.contains("systemd[1]: Reloading."))
    );
}

#[test]
fn a_reload_explains_connections_the_server_closed() {
    let chain = [link(
        "PG::UnableToSend",
        "server closed the connection unexpectedly",
    )];
    let events = [reload(datetime!(2026-01-31 06:31:00 UTC))];
    let c = likely(run(&chain, "PG::UnableToSend", &events, &[], &[]));
    assert_eq!(c.rule.as_deref(), Some("server-closed-connection"));
    assert_eq!(c.confidence, Confidence::High);
    assert!(c.self_healing);
    assert!(c.cause.contains("systemd reload on web-1 (2 min before"));
}

#[test]
fn pool_exhaustion_confirmed_by_the_connections_finding() {
    let chain = [link(
        "Npgsql.NpgsqlException",
        "The connection pool has been exhausted",
    )];
    let reports = [report(
        "db",
        vec![
            Finding::critical(
                "postgres.connections",
                "Connections 19/20 of max_connections (95 %)",
            ),
            Finding::ok("postgres.reach", "SELECT 1 in 1 ms"),
        ],
    )];
    let c = likely(run(
        &chain,
        "Npgsql.NpgsqlException: Connection pool exhausted",
        &[],
        &reports,
        &[],
    ));
    assert_eq!(c.rule.as_deref(), Some("pool-exhausted"));
    assert_eq!(c.confidence, Confidence::High);
    assert!(!c.self_healing);
    assert!(
        c.evidence
            .iter()
            .any(|e| e == "db: Connections 19/20 of max_connections (95 %)")
    );
}

#[test]
fn a_full_disk_confirmed_by_the_disk_finding() {
    let chain = [link("Errno::ENOSPC", "No space left on device @ io_write")];
    let reports = [report(
        "web-1",
        vec![Finding::critical(
            "host.disk",
            "/ 99 % full (49.5 of 50 GiB)",
        )],
    )];
    let c = likely(run(&chain, "Errno::ENOSPC", &[], &reports, &[]));
    assert_eq!(c.rule.as_deref(), Some("disk-full"));
    assert_eq!(c.category, Some(Category::Resource));
    assert_eq!(c.confidence, Confidence::High);
}

#[test]
fn a_type_error_is_never_blamed_on_the_infrastructure() {
    let chain = [link(
        "TypeError",
        "Cannot read properties of undefined (reading 'email')",
    )];
    let events = [
        upgrade("openssl", datetime!(2026-01-31 06:31:00 UTC)),
        reload(datetime!(2026-01-31 06:32:00 UTC)),
    ];
    // Even with another incident naming a host at the same time.
    let correlated = [Correlated {
        peer: Peer {
            id: 3,
            source: "sentry".into(),
            service: Some("api".into()),
            title: "Timeout 10.0.1.1:6379".into(),
            hosts: vec!["10.0.1.1".into()],
            first_seen: FIRST,
        },
        host: "10.0.1.1".into(),
        apart: Duration::ZERO,
    }];
    let c = likely(run(
        &chain,
        "TypeError: Cannot read properties of undefined (reading 'email')",
        &events,
        &[],
        &correlated,
    ));
    assert_eq!(c.rule.as_deref(), Some("application-bug"));
    assert_eq!(c.category, Some(Category::Application));
    assert!(!c.cause.contains("openssl") && !c.cause.contains("reload"));
    assert!(
        c.evidence
            .iter()
            .all(|e| !e.contains("openssl") && !e.contains("Reloading"))
    );
    assert!(!c.self_healing);
    assert_ne!(c.confidence, Confidence::High);
}

#[test]
fn a_type_error_after_a_deploy_points_at_the_deploy() {
    let chain = [link("TypeError", "x.map is not a function")];
    let deploy = Event {
        at: datetime!(2026-01-31 06:25:00 UTC),
        kind: EventKind::Deploy {
            release: "20260131062500".into(),
        },
        place: "web-1".into(),
        evidence: "releases/20260131062500".into(),
    };
    let c = likely(run(&chain, "TypeError", &[deploy], &[], &[]));
    assert_eq!(c.rule.as_deref(), Some("application-bug"));
    assert!(
        c.cause
            .contains("deploy of release 20260131062500 on web-1 (8 min before")
    );
    assert_eq!(c.confidence, Confidence::High);
}

#[test]
fn nothing_known_and_nothing_changed_says_so() {
    let t = run(
        &[link("Frobnicator::Jammed", "the widget is stuck")],
        "Frobnicator::Jammed",
        &[upgrade("curl", datetime!(2026-01-31 06:30:00 UTC))],
        &[],
        &[],
    );
    match t {
        Triage::NoLikelyCause { looked_at } => {
            assert!(looked_at[0].contains("known error patterns"));
            assert!(looked_at[0].contains("1 chained exceptions"));
        }
        other => panic!("invented a cause: {other:?}"),
    }
}

#[test]
fn an_unknown_error_after_a_high_impact_change_is_a_low_confidence_candidate() {
    let c = likely(run(
        &[link("Frobnicator::Jammed", "the widget is stuck")],
        "Frobnicator::Jammed",
        &[reload(datetime!(2026-01-31 06:32:00 UTC))],
        &[],
        &[],
    ));
    assert_eq!(c.confidence, Confidence::Low);
    assert_eq!(c.rule, None);
    assert!(c.cause.starts_with("Unknown error, but systemd reload"));
}

#[test]
fn a_change_outside_the_window_is_no_evidence() {
    let chain = [link(
        "PG::ConnectionBad",
        "SSL connection has been closed unexpectedly",
    )];
    let events = [upgrade("openssl", datetime!(2026-01-31 04:00:00 UTC))];
    let c = likely(run(&chain, "x", &events, &[], &[]));
    assert_eq!(c.confidence, Confidence::Medium);
    assert_eq!(c.evidence.len(), 1);
}

#[test]
fn redis_unreachable_right_after_the_private_interface_went_down_is_that() {
    let chain = [link(
        "Redis::CannotConnectError",
        "Error connecting to Redis on 10.0.1.1:6379 (Errno::ECONNREFUSED)",
    )];
    let down = Event {
        at: datetime!(2026-01-31 06:32:59 UTC),
        kind: EventKind::LinkDown {
            interface: "enp7s0".into(),
        },
        place: "db-1".into(),
        evidence: "kernel: enp7s0: NIC Link is Down".into(),
    };
    let c = likely(run(&chain, "Redis::CannotConnectError", &[down], &[], &[]));
    assert_eq!(c.rule.as_deref(), Some("redis-cannot-connect"));
    assert_eq!(c.confidence, Confidence::High);
    assert!(
        c.cause
            .contains("interface enp7s0 went down on db-1 (1 s before the first error)"),
        "{}",
        c.cause
    );
}

/// What a kubernetes target reports for a crash-looping container whose
/// previous run ended with `last_line`, after `before`.
fn crash_looping(before: &str, last_line: &str) -> Report {
    report(
        "shop-k8s",
        vec![
            Finding::critical(
                "kubernetes.crashloop",
                "Container api in pod api-7d9c-x2k4p is crash-looping (CrashLoopBackOff); 7 restarts, last exit code 1 (Error) 30 s ago",
            ),
            Finding::warn(
                "kubernetes.previous_logs",
                format!("Log of api-7d9c-x2k4p/api before its last restart: {last_line}"),
            )
            .with_evidence(format!("{before}\n{last_line}\nINFO shutting down")),
        ],
    )
}

const CRASH_TITLE: &str = "KubePodCrashLooping: Pod is crash looping.";

#[test]
fn a_crash_loop_whose_log_cannot_reach_postgres_is_the_database() {
    let line = "ERROR psql: could not connect to server: Connection refused";
    let c = likely(run(
        &[],
        CRASH_TITLE,
        &[],
        &[crash_looping("INFO starting", line)],
        &[],
    ));
    assert_eq!(c.rule.as_deref(), Some("postgres-cannot-connect"));
    assert!(
        c.cause.starts_with("PostgreSQL is unreachable"),
        "{}",
        c.cause
    );
    assert_eq!(
        c.evidence[0],
        format!("shop-k8s: Log of api-7d9c-x2k4p/api before its last restart: {line}")
    );
    assert_eq!(c.confidence, Confidence::Medium);
}

#[test]
fn a_known_error_higher_in_the_tail_is_found_when_the_chosen_line_is_not() {
    let c = likely(run(
        &[],
        CRASH_TITLE,
        &[],
        &[crash_looping(
            "FATAL: sorry, too many clients already",
            "panic: main.go:42 giving up",
        )],
        &[],
    ));
    assert_eq!(c.rule.as_deref(), Some("pool-exhausted"));
    assert_eq!(
        c.evidence[0],
        "shop-k8s: FATAL: sorry, too many clients already"
    );
}

#[test]
fn an_unknown_crash_is_a_crash_loop_with_the_previous_logs_last_error() {
    let line = "panic: runtime error: index out of range [3] with length 3";
    let c = likely(run(
        &[],
        CRASH_TITLE,
        &[],
        &[crash_looping("INFO starting", line)],
        &[],
    ));
    assert_eq!(c.rule.as_deref(), Some("crash-loop"));
    assert_eq!(c.evidence[0], format!("Error: {CRASH_TITLE}"));
    assert!(
        c.evidence
            .iter()
            .any(|e| e.ends_with(&format!("before its last restart: {line}"))),
        "{:?}",
        c.evidence
    );
    assert_eq!(c.confidence, Confidence::High, "{}", c.why);
}

#[test]
fn an_oom_killed_container_is_its_memory_limit_whatever_the_title() {
    let oom = "Container api in pod api-7d9c-m3v8r was OOMKilled (exit code 137): memory limit 256Mi (request 128Mi)";
    let r = report(
        "shop-k8s",
        vec![
            Finding::critical("kubernetes.oom_killed", oom),
            Finding::warn(
                "kubernetes.previous_logs",
                "Log of api-7d9c-m3v8r/api before its last restart: INFO loaded 2000000 items",
            ),
        ],
    );
    let c = likely(run(&[], CRASH_TITLE, &[], &[r], &[]));
    assert_eq!(c.rule.as_deref(), Some("container-oom-killed"));
    assert!(c.cause.contains("memory limit"), "{}", c.cause);
    assert_eq!(c.evidence, [format!("shop-k8s: {oom}")], "quoted once");
    assert_eq!(c.confidence, Confidence::High);
}

#[test]
fn a_docker_container_oom_killed_or_failing_on_its_database_is_read_from_its_target() {
    let title = "ContainerKilled: A container has disappeared";
    let oom = "web was OOMKilled: memory limit 64 MiB, exit 137";
    let r = report("pazpaz", vec![Finding::critical("docker.oom", oom)]);
    let c = likely(run(&[], title, &[], &[r], &[]));
    assert_eq!(c.rule.as_deref(), Some("container-oom-killed"));
    assert_eq!(c.evidence, [format!("pazpaz: {oom}")]);

    let crash = "worker is crash-looping: 5 restarts in the last hour, last exit code 1 — last error: psql: could not connect to server: Connection refused";
    let r =
        report(
            "pazpaz",
            vec![Finding::critical("docker.crash_loop", crash).with_evidence(
                "INFO starting\npsql: could not connect to server: Connection refused",
            )],
        );
    let c = likely(run(&[], title, &[], &[r], &[]));
    assert_eq!(c.rule.as_deref(), Some("postgres-cannot-connect"));
    assert_eq!(c.evidence[0], format!("pazpaz: {crash}"));
}

#[test]
fn an_ecs_task_stopped_for_memory_is_the_task_definitions_limit() {
    let stopped = "api: 3 task(s) failed in the last hour; the last 2 min ago: OutOfMemoryError: Container killed due to memory usage (api exit 137)";
    let r = report("shop-ecs", vec![Finding::critical("ecs.stopped", stopped)]);
    let c = likely(run(
        &[],
        "ECS service api: RunningTaskCount below desired",
        &[],
        &[r],
        &[],
    ));
    assert_eq!(c.rule.as_deref(), Some("ecs-out-of-memory"));
    assert_eq!(c.evidence, [format!("shop-ecs: {stopped}")]);
}

#[test]
fn an_image_pull_failure_names_the_image_and_the_pull_error() {
    let pull = "Container api in pod api-7d9c-zz9k1 cannot pull image registry.example.com/shop/api:2.5.0-typo (ImagePullBackOff)";
    let error = "Failed to pull image \"registry.example.com/shop/api:2.5.0-typo\": rpc error: code = NotFound desc = not found";
    let r = report(
        "shop-k8s",
        vec![Finding::critical("kubernetes.image_pull", pull).with_evidence(error)],
    );
    let c = likely(run(
        &[],
        "KubePodNotReady: Pod has been in a non-ready state for more than 15 minutes.",
        &[],
        &[r],
        &[],
    ));
    assert_eq!(c.rule.as_deref(), Some("image-pull"));
    assert_eq!(
        c.evidence,
        [format!("shop-k8s: {pull}"), format!("shop-k8s: {error}")]
    );
}

#[test]
fn a_crash_loop_minutes_after_a_rollout_is_that_deploy() {
    let mut r = crash_looping("INFO starting", "panic: nil map");
    r.findings.push(
        Finding::ok(
            "kubernetes.revision",
            "deployment api revision 6 (api=registry.example.com/shop/api:2.5.0) rolled out at 06:30:00 UTC (3 min ago)",
        )
        .at(datetime!(2026-01-31 06:30:00 UTC)),
    );
    let reports = [r];
    let events = timeline::from_reports(&reports);
    let c = likely(run(&[], CRASH_TITLE, &events, &reports, &[]));
    assert_eq!(c.rule.as_deref(), Some("crash-loop"));
    assert!(
        c.cause.ends_with(
            "On the timeline: deploy of release api revision 6 (api=registry.example.com/shop/api:2.5.0) on shop-k8s (3 min before the first error)"
        ),
        "{}",
        c.cause
    );
    assert_eq!(c.confidence, Confidence::High, "{}", c.why);
}

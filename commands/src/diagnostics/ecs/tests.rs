use std::collections::HashMap;
use std::sync::Arc;

use time::OffsetDateTime;
use time::macros::datetime;

use super::logs::{Line, Read};
use super::service::{Deployment, Event, Svc};
use super::stopped::{StoppedContainer, StoppedTask};
use super::taskdef::{ContainerDef, TaskDef};
use super::*;
use crate::model::report::Status;

const NOW: OffsetDateTime = datetime!(2026-12-07 06:00:00 UTC);

fn mins(m: i64) -> OffsetDateTime {
    NOW - time::Duration::minutes(m)
}

fn deployment(state: &str, started_mins_ago: i64) -> Deployment {
    Deployment {
        id: "ecs-svc/7".into(),
        status: "PRIMARY".into(),
        rollout_state: Some(state.into()),
        rollout_reason: None,
        task_definition: Some("arn:aws:ecs:eu-west-1:1:task-definition/api:7".into()),
        desired: 2,
        running: 1,
        pending: 1,
        failed: 0,
        created_at: Some(mins(started_mins_ago)),
    }
}

fn svc(deployments: Vec<Deployment>) -> Svc {
    Svc {
        name: "api".into(),
        status: "ACTIVE".into(),
        desired: 2,
        running: 2,
        pending: 0,
        task_definition: Some("arn:aws:ecs:eu-west-1:1:task-definition/api:7".into()),
        deployments,
        events: Vec::new(),
    }
}

#[test]
fn a_rollout_is_stuck_past_30_minutes_not_before() {
    let young = service::deployments(&[svc(vec![deployment("IN_PROGRESS", 29)])], NOW);
    assert_eq!(young[0].status, Status::Ok);
    assert!(young[0].summary.contains("rolling out"), "{young:?}");
    let old = service::deployments(&[svc(vec![deployment("IN_PROGRESS", 31)])], NOW);
    assert_eq!(old[0].status, Status::Critical);
    assert!(
        old[0].summary.contains("stuck: in progress for 31 min"),
        "{old:?}"
    );
    assert_eq!(old[0].at, Some(mins(31)));
    let failed = service::deployments(&[svc(vec![deployment("FAILED", 5)])], NOW);
    assert_eq!(failed[0].status, Status::Critical);
    assert_eq!(failed[0].summary, "api: deployment ecs-svc/7 failed");
    let done = service::deployments(&[svc(vec![deployment("COMPLETED", 300)])], NOW);
    assert_eq!(done[0].status, Status::Ok);
    assert_eq!(
        done[0].summary,
        "api: deployment ecs-svc/7 completed (api:7)"
    );
}

#[test]
fn without_a_rollout_state_two_deployments_mean_one_in_progress() {
    let mut primary = deployment("x", 45);
    primary.rollout_state = None;
    let mut active = deployment("x", 600);
    active.rollout_state = None;
    active.status = "ACTIVE".into();
    active.id = "ecs-svc/6".into();
    let f = service::deployments(&[svc(vec![primary.clone(), active])], NOW);
    assert_eq!(f[0].status, Status::Critical, "{f:?}");
    let f = service::deployments(&[svc(vec![primary])], NOW);
    assert_eq!(f[0].status, Status::Ok, "{f:?}");
}

#[test]
fn counts_read_as_the_runbook_does() {
    let mut s = svc(Vec::new());
    let ok = service::counts(std::slice::from_ref(&s), &[]);
    assert_eq!(ok[0].status, Status::Ok);
    assert_eq!(ok[0].summary, "api: 2/2 tasks running");
    s.running = 0;
    s.pending = 2;
    let down = service::counts(std::slice::from_ref(&s), &[]);
    assert_eq!(down[0].status, Status::Critical);
    assert_eq!(down[0].summary, "api: 0/2 tasks running, 2 pending");
    s.running = 1;
    s.pending = 0;
    assert_eq!(service::counts(&[s.clone()], &[])[0].status, Status::Warn);
    s.status = "DRAINING".into();
    assert_eq!(service::counts(&[s], &[])[0].status, Status::Critical);
    let missing = service::counts(&[], &[("ghost".into(), "MISSING".into())]);
    assert_eq!(
        missing[0].summary,
        "ghost: no such service in the cluster (MISSING)"
    );
}

#[test]
fn old_trouble_in_events_is_history_and_only_ten_are_shown() {
    let mut s = svc(Vec::new());
    s.events = (0..15)
        .map(|i| Event {
            at: Some(mins(90 + i)),
            message: format!("(service api) was unable to place a task {i}"),
        })
        .collect();
    let f = service::events(std::slice::from_ref(&s), NOW);
    assert_eq!(f[0].status, Status::Ok, "over an hour old: {f:?}");
    assert_eq!(f[0].detail.len(), EVENTS_SHOWN);
    s.events.insert(
        0,
        Event {
            at: Some(mins(2)),
            message: "(service api) has reached a steady state.".into(),
        },
    );
    assert_eq!(service::events(&[s.clone()], NOW)[0].status, Status::Ok);
    s.events.insert(
        0,
        Event {
            at: Some(mins(1)),
            message: "(service api) (port 8080) is unhealthy in (target-group arn:tg/api) due to (reason Health checks failed).".into(),
        },
    );
    let f = service::events(&[s], NOW);
    assert_eq!(f[0].status, Status::Warn);
    assert!(
        f[0].evidence
            .as_deref()
            .unwrap()
            .contains("is unhealthy in")
    );
}

fn task(
    id: &str,
    ago: i64,
    code: &str,
    reason: &str,
    exit: i32,
    creason: Option<&str>,
) -> StoppedTask {
    StoppedTask {
        id: id.into(),
        stopped_at: Some(mins(ago)),
        stop_code: Some(code.into()),
        reason: reason.into(),
        task_definition: Some("td".into()),
        containers: vec![StoppedContainer {
            name: "web".into(),
            exit_code: Some(exit),
            reason: creason.map(str::to_string),
        }],
    }
}

fn defs() -> HashMap<String, Arc<TaskDef>> {
    let def = TaskDef {
        name: "api:7".into(),
        task_memory_mib: Some(1024),
        containers: vec![ContainerDef {
            name: "web".into(),
            memory_mib: None,
            logs: None,
            other_driver: None,
        }],
    };
    HashMap::from([("td".to_string(), Arc::new(def))])
}

#[test]
fn tasks_replaced_by_a_deployment_are_not_failures() {
    let replaced = vec![
        task(
            "a1",
            5,
            "ServiceSchedulerInitiated",
            "Scaling activity initiated by (deployment ecs-svc/7)",
            143,
            None,
        ),
        task(
            "a2",
            6,
            "ServiceSchedulerInitiated",
            "Scaling activity initiated by (deployment ecs-svc/7)",
            137,
            None,
        ),
        task("a3", 7, "UserInitiated", "Task stopped by user", 0, None),
    ];
    let f = stopped::findings("api", replaced, &defs(), NOW);
    assert_eq!(f.status, Status::Ok, "{f:?}");
    assert!(
        f.summary
            .contains("3 task(s) stopped in the last hour, none failed")
    );
    let none = stopped::findings("api", Vec::new(), &defs(), NOW);
    assert_eq!(none.summary, "api: no task stopped in the last hour");
}

#[test]
fn failures_name_the_exit_code_and_the_task_memory_limit() {
    let oom = "OutOfMemoryError: Container killed due to memory usage";
    let one = vec![task(
        "b1",
        3,
        "EssentialContainerExited",
        "Essential container in task exited",
        137,
        Some(oom),
    )];
    let f = stopped::findings("api", one, &defs(), NOW);
    assert_eq!(f.status, Status::Warn);
    // The container has no limit of its own: the task's applies.
    assert!(f.summary.ends_with("(web exit 137 (OutOfMemoryError: Container killed due to memory usage), memory limit 1024 MiB)"), "{f:?}");
    assert_eq!(f.at, Some(mins(3)));
    let three: Vec<StoppedTask> = (0..3)
        .map(|i| {
            task(
                &format!("c{i}"),
                3 + i,
                "EssentialContainerExited",
                "Essential container in task exited",
                1,
                None,
            )
        })
        .collect();
    let f = stopped::findings("api", three, &defs(), NOW);
    assert_eq!(f.status, Status::Critical);
    assert!(
        f.detail
            .iter()
            .any(|l| l.starts_with("Exit code 1: the application exited")),
        "{f:?}"
    );
    assert!(
        !f.summary.contains("memory limit"),
        "exit 1 is not a memory question: {f:?}"
    );
    // A health-check stop is asked for by the scheduler, and still a failure.
    let hc = vec![task(
        "d1",
        3,
        "ServiceSchedulerInitiated",
        "Task failed ELB health checks in (target-group arn:tg/api)",
        143,
        None,
    )];
    assert_eq!(
        stopped::findings("api", hc, &defs(), NOW).status,
        Status::Warn
    );
    // Older than the hour: gone.
    let old = vec![task(
        "e1",
        61,
        "EssentialContainerExited",
        "Essential container in task exited",
        1,
        None,
    )];
    assert_eq!(
        stopped::findings("api", old, &defs(), NOW).status,
        Status::Ok
    );
}

#[test]
fn log_lines_are_counted_and_the_newest_quoted() {
    let t = EcsTarget::new("prod", &["api"]);
    let quiet = Read {
        places: vec!["/ecs/api (ecs/web/*)".into()],
        ..Read::default()
    };
    let f = logs::findings("api", &t, &quiet);
    assert_eq!(f.status, Status::Ok);
    assert_eq!(
        f.summary,
        "api: no line matching `ERROR` in the last 15 min (/ecs/api (ecs/web/*))"
    );
    let noisy = Read {
        places: vec!["/ecs/api".into()],
        matched: 120,
        truncated: true,
        lines: vec![Line {
            at: Some(mins(1)),
            stream: "ecs/web/0123456789abcdef".into(),
            message: "ERROR   boom\n  at line 3".into(),
        }],
    };
    let f = logs::findings("api", &t, &noisy);
    assert_eq!(f.status, Status::Warn);
    assert!(f.summary.starts_with("api: 120+ line(s)"), "{f:?}");
    assert_eq!(f.detail[0], "The newest 1:");
    assert_eq!(f.detail[1], "05:59:00 UTC [01234567] ERROR boom at line 3");
}

#[test]
fn config_is_checked_key_by_key() {
    let parse = |v: serde_json::Value| -> EcsTarget { serde_json::from_value(v).unwrap() };
    let ok = parse(serde_json::json!({"cluster": "prod", "services": ["api"]}));
    assert!(ok.validate().is_ok());
    assert_eq!(ok.log_window, Duration::from_secs(900));
    assert_eq!(ok.error_pattern, "ERROR");
    let key = |v: serde_json::Value| parse(v).validate().unwrap_err().0;
    assert_eq!(
        key(serde_json::json!({"cluster": "prod", "services": []})),
        "services"
    );
    let eleven: Vec<String> = (0..11).map(|i| format!("s{i}")).collect();
    assert_eq!(
        key(serde_json::json!({"cluster": "prod", "services": eleven})),
        "services"
    );
    assert_eq!(
        key(serde_json::json!({"cluster": "prod", "services": ["api"], "access_key_id": "AKIA"})),
        "secret_access_key"
    );
    assert_eq!(
        key(serde_json::json!({"cluster": "prod", "services": ["api"], "endpoint_url": "ftp://x"})),
        "endpoint_url"
    );
    let unknown = serde_json::from_value::<EcsTarget>(
        serde_json::json!({"cluster": "prod", "services": ["api"], "servcies": []}),
    );
    assert!(unknown.is_err());
}

#[test]
fn the_secret_key_is_masked_and_the_location_says_where() {
    let t: EcsTarget = serde_json::from_value(serde_json::json!({
        "cluster": "prod", "services": ["api"], "region": "eu-west-1",
        "access_key_id": "AKIAIOSFODNN7EXAMPLE",
        "secret_access_key": "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
    }))
    .unwrap();
    assert!(!format!("{t:?}").contains("wJalrXUtnFEMI"));
    assert_eq!(
        t.redactor()
            .redact("sig wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"),
        "sig ••••"
    );
    assert_eq!(t.location(), "service api, cluster prod in eu-west-1");
}

/// Triage: an alert in ECS's words, with this kind's report.
mod triage {
    use std::time::Duration;

    use super::*;
    use crate::model::report::{Report, TargetRef};
    use crate::triage::chain::Link;
    use crate::triage::{Category, Confidence, Input, Knowledge, Triage, decide};

    fn verdict(title: &str, reports: &[Report]) -> crate::triage::LikelyCause {
        let k = Knowledge::builtin();
        let chain: Vec<Link> = Vec::new();
        match decide(&Input {
            knowledge: &k,
            chain: &chain,
            title,
            first_error: NOW,
            events: &[],
            reports,
            correlated: &[],
            timeline_window: Duration::from_secs(1800),
            symptom: None,
        }) {
            Triage::Likely(c) => c,
            other => panic!("{other:?}"),
        }
    }

    fn ecs_report(findings: Vec<crate::model::report::Finding>) -> Report {
        let target = TargetRef {
            name: "orders".into(),
            kind: "ecs".into(),
            location: "cluster prod in eu-west-1".into(),
        };
        Report::new(target, findings, Duration::ZERO)
    }

    #[test]
    fn an_ecs_out_of_memory_stop_is_the_memory_limit_with_exit_137() {
        let oom = "OutOfMemoryError: Container killed due to memory usage";
        let finding = stopped::findings(
            "api",
            vec![task(
                "b1",
                3,
                "EssentialContainerExited",
                "Essential container in task exited",
                137,
                Some(oom),
            )],
            &defs(),
            NOW,
        );
        let c = verdict(
            "ECS task stopped in prod/api: OutOfMemoryError: Container killed due to memory usage",
            &[ecs_report(vec![finding])],
        );
        assert_eq!(c.rule.as_deref(), Some("ecs-out-of-memory"));
        assert_eq!(c.category, Some(Category::Resource));
        assert!(c.cause.contains("memory limit"), "{c:?}");
        // The stopped-task finding confirms it: the limit and exit 137.
        assert_eq!(c.confidence, Confidence::High, "{c:?}");
        assert!(
            c.evidence
                .iter()
                .any(|e| e.starts_with("orders: api: 1 task(s) failed")
                    && e.contains("web exit 137")
                    && e.contains("memory limit 1024 MiB")),
            "{c:?}"
        );
    }

    #[test]
    fn an_essential_container_exit_points_at_its_exit_code_and_logs() {
        let c = verdict("Essential container in task exited", &[]);
        assert_eq!(c.rule.as_deref(), Some("ecs-essential-container-exited"));
        assert!(c.cause.contains("exit code and reason"), "{c:?}");
        assert!(c.next_check.contains("log group"), "{c:?}");
    }

    #[test]
    fn a_failed_health_check_points_at_the_target_group_check() {
        let events = service::events(
            &[Svc {
                events: vec![Event {
                    at: Some(mins(2)),
                    message: "(service api) (port 8080) is unhealthy in (target-group arn:aws:elasticloadbalancing:eu-west-1:1:targetgroup/api/1) due to (reason Health checks failed).".into(),
                }],
                ..svc(Vec::new())
            }],
            NOW,
        );
        let c = verdict(
            "Task failed ELB health checks in (target-group arn:aws:elasticloadbalancing:eu-west-1:1:targetgroup/api/1)",
            &[ecs_report(events)],
        );
        assert_eq!(c.rule.as_deref(), Some("ecs-health-check-failed"));
        assert!(
            c.next_check.contains("target group's health check"),
            "{c:?}"
        );
        assert_eq!(c.confidence, Confidence::High, "{c:?}");
    }
}

#[test]
fn an_alert_naming_one_of_the_services_narrows_the_run_to_it() {
    let target = EcsTarget::new("prod", &["api", "worker"]);
    let alert = crate::diagnostics::alert_labelled(&[("ServiceName", "worker")]);
    let narrowed = target.focused(&alert).expect("narrowed");
    assert_eq!(narrowed.services, ["worker"]);
    assert!(
        narrowed
            .location()
            .starts_with("service worker, cluster prod"),
        "{}",
        narrowed.location()
    );
    assert_ne!(
        narrowed.location(),
        target.location(),
        "told apart from /diag's run"
    );
    // A service the target does not cover, or a target of one service:
    // the run is the target's own.
    let other = crate::diagnostics::alert_labelled(&[("service", "billing")]);
    assert!(target.focused(&other).is_none());
    let one = EcsTarget::new("prod", &["worker"]);
    assert!(one.focused(&alert).is_none());
}

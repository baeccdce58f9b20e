//! The ecs diagnostic against moto's server mode (support/moto.rs: a
//! widely used AWS emulator that `scripts/services` starts), and — for
//! what moto cannot show — against responses recorded from the AWS API
//! reference (support/aws_reference.rs).
//!
//! What moto 5.2 lacks, and where it is tested instead:
//! - a stopped container's exit code and reason: moto reports exit 0 and
//!   no reason for every container, and no stop code or stop time. The
//!   moto test checks the task's reason and the exit code moto gives; the
//!   recorded test checks exit 137, the container's OutOfMemoryError and
//!   the memory limit.
//! - a deployment created in the past: moto stamps CreateService's
//!   moment. The moto test reads its deployment 40 minutes later by
//!   medic's clock (`checks_at`); the recorded test has AWS's answer with
//!   a `createdAt` 40 minutes ago.
//! - service events: moto keeps none; recorded.
//! - FilterLogEvents' `logStreamNamePrefix`: moto ignores it (medic
//!   checks each line's stream as well); the recorded test checks medic
//!   sends it.
//! - AWS's refusals (AccessDeniedException, UnrecognizedClientException):
//!   moto checks neither credentials nor IAM; recorded.

#[path = "support/aws_reference.rs"]
mod aws_reference;
#[path = "support/moto.rs"]
mod moto;

use std::time::Duration;

use aws_reference::{Recorded, epoch_ago, error, source};
use medic_commands::diagnostics::ecs::EcsTarget;
use medic_commands::diagnostics::{Target, TargetSpec};
use medic_commands::{Finding, Report, Status};
use moto::Moto;
use serde_json::json;
use time::OffsetDateTime;

macro_rules! moto {
    () => {
        match Moto::require().await {
            Some(m) => m,
            None => return,
        }
    };
}

/// Everything a report shows, for "this secret is nowhere" assertions.
fn all_text(report: &Report) -> String {
    format!("{report:?}{}", serde_json::to_string(report).unwrap())
}

async fn run(target: EcsTarget) -> Report {
    run_at(target, None).await
}

/// A run of `target`'s checks as of `now` (default: now).
async fn run_at(target: EcsTarget, now: Option<OffsetDateTime>) -> Report {
    let t = Target {
        name: "api".into(),
        spec: TargetSpec::Ecs(target.clone()),
    };
    let Some(now) = now else {
        return t.run().await;
    };
    use futures::StreamExt;
    let started = std::time::Instant::now();
    let findings: Vec<Finding> = medic_commands::diagnostics::run_checks(
        target.checks_at(now),
        target.timeout,
        "test",
        t.spec.redactor(),
    )
    .flat_map(|done| futures::stream::iter(done.findings))
    .collect()
    .await;
    Report::new(t.target_ref(), findings, started.elapsed())
}

fn finding<'a>(report: &'a Report, check: &str) -> &'a Finding {
    report
        .findings
        .iter()
        .find(|f| f.check == check)
        .unwrap_or_else(|| panic!("no {check} finding in {report:#?}"))
}

#[tokio::test]
async fn a_task_stopped_out_of_memory_is_reported_with_its_reason_and_exit_code() {
    let moto = moto!();
    let cluster = Moto::unique("oom");
    let group = format!("/ecs/{cluster}/api");
    moto.service(&cluster, "api", &group, 512).await;
    moto.stopped_task(
        &cluster,
        "api",
        "OutOfMemoryError: Container killed due to memory usage",
    )
    .await;

    let report = run(moto.target(&cluster, &["api"])).await;
    let stopped = finding(&report, "ecs.stopped");
    assert_eq!(stopped.status, Status::Warn, "{stopped:#?}");
    assert!(
        stopped
            .summary
            .contains("OutOfMemoryError: Container killed due to memory usage"),
        "{stopped:#?}"
    );
    // moto gives every stopped container exit 0; the recorded test below
    // has AWS's 137. The limit comes from moto's task definition.
    assert!(
        stopped.summary.contains("web exit 0, memory limit 512 MiB"),
        "{stopped:#?}"
    );
    assert_eq!(
        stopped.evidence.as_deref(),
        Some("OutOfMemoryError: Container killed due to memory usage")
    );
    // moto starts no task for a service: 0 of 2 running is the outage.
    let service = finding(&report, "ecs.service");
    assert_eq!(service.status, Status::Critical);
    assert_eq!(service.summary, "api: 0/2 tasks running, 2 pending");
}

#[tokio::test]
async fn a_deployment_in_progress_for_40_minutes_is_stuck() {
    let moto = moto!();
    let cluster = Moto::unique("stuck");
    moto.service(&cluster, "api", &format!("/ecs/{cluster}/api"), 512)
        .await;
    let target = moto.target(&cluster, &["api"]);

    // Just created: rolling out, not stuck.
    let report = run(target.clone()).await;
    let d = finding(&report, "ecs.deployments");
    assert_eq!(d.status, Status::Ok, "{d:#?}");
    assert!(d.summary.contains("rolling out (0/2 running)"), "{d:#?}");

    // moto cannot date a deployment back; medic reads it 40 minutes on.
    let later = OffsetDateTime::now_utc() + time::Duration::minutes(40);
    let report = run_at(target, Some(later)).await;
    let d = finding(&report, "ecs.deployments");
    assert_eq!(d.status, Status::Critical, "{d:#?}");
    assert!(
        d.summary.contains("stuck: in progress for 40 min"),
        "{d:#?}"
    );
    assert!(d.detail.iter().any(|l| l.contains("IN_PROGRESS")), "{d:#?}");
}

#[tokio::test]
async fn error_lines_in_the_log_group_are_shown_redacted() {
    let moto = moto!();
    let cluster = Moto::unique("logs");
    let group = format!("/ecs/{cluster}/api");
    moto.service(&cluster, "api", &group, 512).await;
    moto.log_lines(
        &group,
        "ecs/web/5f2a9c1e4b7d",
        &[
            "INFO listening on :8080",
            "ERROR payment failed: could not connect to postgres://pay:hunter22-Secret@db.internal:5432/pay",
            "INFO retrying",
            "ERROR upstream said 401 with api_key=sk-abcdefghijklmnopqrstu",
        ],
    )
    .await;
    // Another container's stream in the same group is not this service's.
    moto.log_lines(&group, "other/worker/1", &["ERROR not ours"])
        .await;

    let report = run(moto.target(&cluster, &["api"])).await;
    let logs = finding(&report, "ecs.logs");
    assert_eq!(logs.status, Status::Warn, "{logs:#?}");
    assert!(
        logs.summary.starts_with(&format!(
            "api: 2 line(s) matching `ERROR` in the last 15 min ({group} (ecs/web/*))"
        )),
        "{logs:#?}"
    );
    assert!(
        logs.detail.iter().any(|l| l.contains(
            "[5f2a9c1e] ERROR payment failed: could not connect to postgres://pay:••••@db.internal"
        )),
        "{logs:#?}"
    );
    let text = all_text(&report);
    assert!(!text.contains("hunter22"), "{text}");
    assert!(!text.contains("sk-abcdefghijklmnopqrstu"), "{text}");
    assert!(!text.contains("not ours"), "{text}");
    assert!(!text.contains("INFO"), "{text}");
}

#[tokio::test]
async fn a_service_that_is_not_there_is_named() {
    let moto = moto!();
    let cluster = Moto::unique("ghost");
    moto.service(&cluster, "api", &format!("/ecs/{cluster}/api"), 512)
        .await;
    let report = run(moto.target(&cluster, &["api", "ghost"])).await;
    let ghost = report
        .findings
        .iter()
        .find(|f| f.check == "ecs.service" && f.summary.starts_with("ghost:"))
        .unwrap_or_else(|| panic!("{report:#?}"));
    assert_eq!(ghost.status, Status::Critical);
    assert!(ghost.summary.contains("no such service"), "{ghost:#?}");
}

const KEY: &str = "AKIDRECORDEDTEST";
const SECRET: &str = "recorded-Secret-Key-0123456789";
const REGION: &str = "eu-west-1";

fn recorded_target(r: &Recorded) -> EcsTarget {
    serde_json::from_value(json!({
        "cluster": "prod",
        "services": ["api"],
        "region": REGION,
        "endpoint_url": r.endpoint,
        "access_key_id": KEY,
        "secret_access_key": SECRET,
        "timeout": "10s",
    }))
    .unwrap()
}

const TASK_DEF: &str = "arn:aws:ecs:eu-west-1:123456789012:task-definition/api:7";

fn minutes(m: u64) -> Duration {
    Duration::from_secs(m * 60)
}

/// A stopped task as DescribeTasks shows it ([`source::DESCRIBE_TASKS`]).
fn stopped_task(
    id: &str,
    ago: Duration,
    code: &str,
    reason: &str,
    exit: i64,
    container_reason: Option<&str>,
) -> serde_json::Value {
    let mut container = json!({
        "containerArn": format!("arn:aws:ecs:eu-west-1:123456789012:container/prod/{id}/0c8e"),
        "exitCode": exit,
        "lastStatus": "STOPPED",
        "name": "web",
        "taskArn": format!("arn:aws:ecs:eu-west-1:123456789012:task/prod/{id}"),
    });
    if let Some(r) = container_reason {
        container["reason"] = json!(r);
    }
    json!({
        "clusterArn": "arn:aws:ecs:eu-west-1:123456789012:cluster/prod",
        "containers": [container],
        "desiredStatus": "STOPPED",
        "group": "service:api",
        "lastStatus": "STOPPED",
        "launchType": "FARGATE",
        "stopCode": code,
        "stoppedAt": epoch_ago(ago),
        "stoppedReason": reason,
        "taskArn": format!("arn:aws:ecs:eu-west-1:123456789012:task/prod/{id}"),
        "taskDefinitionArn": TASK_DEF,
    })
}

/// A service crash-looping on its memory limit, mid-deployment for 40
/// minutes, as the AWS API answers.
fn crash_looping(r: &Recorded) {
    let mut events = vec![json!({
        "id": "e-12",
        "createdAt": epoch_ago(minutes(3)),
        "message": "(service api) (task 9e1b2c3d) failed container health checks."
    })];
    for i in 0..11 {
        events.push(json!({
            "id": format!("e-{i}"),
            "createdAt": epoch_ago(minutes(5 + i * 5)),
            "message": "(service api) has started 1 tasks: (task 1a2b3c4d)."
        }));
    }
    r.answer(
        "DescribeServices",
        200,
        json!({
            "failures": [],
            "services": [{
                "clusterArn": "arn:aws:ecs:eu-west-1:123456789012:cluster/prod",
                "deployments": [
                    {
                        "createdAt": epoch_ago(minutes(40)),
                        "desiredCount": 2,
                        "failedTasks": 3,
                        "id": "ecs-svc/5000000000000000007",
                        "pendingCount": 1,
                        "rolloutState": "IN_PROGRESS",
                        "rolloutStateReason": "ECS deployment ecs-svc/5000000000000000007 in progress.",
                        "runningCount": 0,
                        "status": "PRIMARY",
                        "taskDefinition": TASK_DEF,
                        "updatedAt": epoch_ago(minutes(3))
                    },
                    {
                        "createdAt": epoch_ago(minutes(60 * 24)),
                        "desiredCount": 0,
                        "failedTasks": 0,
                        "id": "ecs-svc/5000000000000000006",
                        "pendingCount": 0,
                        "rolloutState": "COMPLETED",
                        "rolloutStateReason": "ECS deployment ecs-svc/5000000000000000006 completed.",
                        "runningCount": 1,
                        "status": "ACTIVE",
                        "taskDefinition": "arn:aws:ecs:eu-west-1:123456789012:task-definition/api:6",
                        "updatedAt": epoch_ago(minutes(40))
                    }
                ],
                "desiredCount": 2,
                "events": events,
                "launchType": "FARGATE",
                "pendingCount": 1,
                "runningCount": 1,
                "serviceArn": "arn:aws:ecs:eu-west-1:123456789012:service/prod/api",
                "serviceName": "api",
                "status": "ACTIVE",
                "taskDefinition": TASK_DEF
            }]
        }), source::DESCRIBE_SERVICES);
    r.answer(
        "ListTasks",
        200,
        json!({ "taskArns": [
            "arn:aws:ecs:eu-west-1:123456789012:task/prod/1a2b3c4d5e6f",
            "arn:aws:ecs:eu-west-1:123456789012:task/prod/2b3c4d5e6f70",
            "arn:aws:ecs:eu-west-1:123456789012:task/prod/9e1b2c3d4e5f",
            "arn:aws:ecs:eu-west-1:123456789012:task/prod/0000aaaabbbb"
        ]}),
        source::LIST_TASKS,
    );
    let oom = "OutOfMemoryError: Container killed due to memory usage";
    r.answer(
        "DescribeTasks",
        200,
        json!({
            "failures": [],
            "tasks": [
                stopped_task("1a2b3c4d5e6f", minutes(4), "EssentialContainerExited", "Essential container in task exited", 137, Some(oom)),
                stopped_task("2b3c4d5e6f70", minutes(9), "EssentialContainerExited", "Essential container in task exited", 137, Some(oom)),
                stopped_task("9e1b2c3d4e5f", minutes(14), "ServiceSchedulerInitiated", "Task failed container health checks", 143, None),
                // Older than the hour: history, not counted.
                stopped_task("0000aaaabbbb", minutes(70), "EssentialContainerExited", "Essential container in task exited", 1, None),
            ]
        }), source::DESCRIBE_TASKS);
    r.answer(
        "DescribeTaskDefinition",
        200,
        json!({ "taskDefinition": {
            "family": "api",
            "revision": 7,
            "taskDefinitionArn": TASK_DEF,
            "memory": "1024",
            "containerDefinitions": [{
                "name": "web",
                "image": "123456789012.dkr.ecr.eu-west-1.amazonaws.com/api:1.4.3",
                "memory": 512,
                "essential": true,
                "logConfiguration": {
                    "logDriver": "awslogs",
                    "options": {
                        "awslogs-group": "/ecs/prod/api",
                        "awslogs-region": "eu-west-1",
                        "awslogs-stream-prefix": "ecs"
                    }
                }
            }]
        }}),
        source::DESCRIBE_TASK_DEFINITION,
    );
    let now_ms = (epoch_ago(Duration::ZERO) * 1000.0) as i64;
    r.answer(
        "FilterLogEvents",
        200,
        json!({
            "events": [{
                "eventId": "37134448277055075350299286727843935745286458474000000",
                "ingestionTime": now_ms - 240_000,
                "logStreamName": "ecs/web/1a2b3c4d5e6f",
                "message": "ERROR java.lang.OutOfMemoryError: Java heap space",
                "timestamp": now_ms - 241_000
            }],
            "searchedLogStreams": []
        }),
        source::FILTER_LOG_EVENTS,
    );
}

#[tokio::test]
async fn recorded_out_of_memory_crash_loop_gives_exit_137_and_the_memory_limit() {
    let r = Recorded::start(KEY, REGION).await;
    crash_looping(&r);
    let report = run(recorded_target(&r)).await;

    let stopped = finding(&report, "ecs.stopped");
    assert_eq!(stopped.status, Status::Critical, "{stopped:#?}");
    assert!(
        stopped.summary.starts_with(
            "api: 3 task(s) failed in the last hour; the last 4 min ago: Essential container in task exited (web exit 137 (OutOfMemoryError: Container killed due to memory usage), memory limit 512 MiB)"
        ),
        "{stopped:#?}"
    );
    assert!(
        stopped
            .detail
            .iter()
            .any(|l| l.starts_with("Exit code 137: killed by SIGKILL")),
        "{stopped:#?}"
    );
    assert!(
        stopped.detail.iter().any(
            |l| l.contains("Task failed container health checks") && l.contains("web exit 143")
        ),
        "{stopped:#?}"
    );
    assert!(
        !stopped.detail.iter().any(|l| l.contains("0000aaaa")),
        "older than the hour: {stopped:#?}"
    );

    let d = finding(&report, "ecs.deployments");
    assert_eq!(d.status, Status::Critical);
    assert!(
        d.summary.starts_with("api: deployment ecs-svc/5000000000000000007 stuck: in progress for 40 min (0/2 running)"),
        "{d:#?}"
    );
    assert!(
        d.detail
            .iter()
            .any(|l| l
                .contains("ACTIVE ecs-svc/5000000000000000006 (api:6): COMPLETED, 1/0 running")),
        "{d:#?}"
    );

    let events = finding(&report, "ecs.events");
    assert_eq!(events.status, Status::Warn);
    assert_eq!(
        events.evidence.as_deref(),
        Some("(service api) (task 9e1b2c3d) failed container health checks.")
    );
    assert_eq!(events.detail.len(), 10, "the last 10 of 12: {events:#?}");

    let service = finding(&report, "ecs.service");
    assert_eq!(service.status, Status::Warn);
    assert_eq!(service.summary, "api: 1/2 tasks running, 1 pending");

    let logs = finding(&report, "ecs.logs");
    assert_eq!(
        logs.evidence.as_deref(),
        Some("ERROR java.lang.OutOfMemoryError: Java heap space")
    );

    // Every call signed with the target's key for eu-west-1; one
    // DescribeServices and one DescribeTaskDefinition for the whole run.
    assert!(r.bad_auth().is_empty(), "{:?}", r.bad_auth());
    assert_eq!(r.count("DescribeServices"), 1);
    assert_eq!(r.count("DescribeTaskDefinition"), 1);
    let filter = r
        .calls()
        .into_iter()
        .find(|c| c.action == "FilterLogEvents")
        .unwrap();
    assert_eq!(filter.body["logGroupName"], "/ecs/prod/api");
    assert_eq!(filter.body["logStreamNamePrefix"], "ecs/web/");
    assert_eq!(filter.body["filterPattern"], "ERROR");
    let list = r
        .calls()
        .into_iter()
        .find(|c| c.action == "ListTasks")
        .unwrap();
    assert_eq!(list.body["serviceName"], "api");
    assert_eq!(list.body["desiredStatus"], "STOPPED");
    assert!(!all_text(&report).contains(SECRET));
}

#[tokio::test]
async fn recorded_access_denied_names_the_permission_medic_lacks() {
    let r = Recorded::start(KEY, REGION).await;
    // As IAM words a denial.
    r.answer(
        "DescribeServices",
        400,
        error(
            "AccessDeniedException",
            "User: arn:aws:iam::123456789012:user/medic is not authorized to perform: ecs:DescribeServices on resource: arn:aws:ecs:eu-west-1:123456789012:service/prod/api because no identity-based policy allows the ecs:DescribeServices action",
        ), source::COMMON_ERRORS);
    let report = run(recorded_target(&r)).await;
    assert_eq!(
        report.findings.len(),
        1,
        "one finding, not one per check: {report:#?}"
    );
    let f = &report.findings[0];
    assert_eq!(f.check, "ecs.service");
    assert_eq!(
        f.summary,
        "medic may not call ecs:DescribeServices on cluster prod"
    );
    assert!(f.detail[0].contains("README (\"ECS targets\")"), "{f:#?}");
    assert!(
        f.evidence
            .as_deref()
            .unwrap()
            .starts_with("AccessDeniedException: User: arn:aws:iam::123456789012:user/medic")
    );
    assert_ne!(report.status(), Status::Ok);
}

#[tokio::test]
async fn recorded_unknown_key_is_a_credentials_finding_without_the_secret() {
    let r = Recorded::start(KEY, REGION).await;
    r.answer(
        "DescribeServices",
        400,
        error(
            "UnrecognizedClientException",
            "The security token included in the request is invalid.",
        ),
        source::COMMON_ERRORS,
    );
    let report = run(recorded_target(&r)).await;
    let f = finding(&report, "ecs.service");
    assert_eq!(f.status, Status::Unknown);
    assert!(
        f.summary
            .starts_with("No usable AWS credentials for 127.0.0.1:"),
        "{f:#?}"
    );
    assert!(
        f.detail[0].contains("AWS refused the target's access_key_id"),
        "{f:#?}"
    );
    assert!(!all_text(&report).contains(SECRET));
}

#[tokio::test]
async fn a_profile_that_does_not_exist_is_a_credentials_finding() {
    let r = Recorded::start(KEY, REGION).await;
    let mut target = recorded_target(&r);
    target.access_key_id = None;
    target.secret_access_key = None;
    target.profile = Some("medic-no-such-profile".into());
    let report = run(target).await;
    let f = finding(&report, "ecs.service");
    assert_eq!(f.status, Status::Unknown, "{f:#?}");
    assert!(f.summary.starts_with("No usable AWS credentials"), "{f:#?}");
    assert!(f.detail[0].contains("medic-no-such-profile"), "{f:#?}");
    assert!(
        r.calls().is_empty(),
        "nothing is sent unsigned: {:?}",
        r.calls()
    );
}

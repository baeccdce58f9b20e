//! Purpose: `docker inspect web` read the way the runbooks read it — is it
//! running, did it crash (exit code), is it crash-looping (restarts in the
//! last hour), was it OOM-killed (against which limit), does its health
//! check fail (with the check's own words), did it just restart (news:
//! every connection to it was lost then) — each with the last log lines
//! before its last exit as evidence.
//!
//! [`findings`] is pure: the inspect answer, the hour's events, the log
//! lines and "now" in, findings out; [`check`] gathers them for every
//! selected container at once.

use std::time::Duration;

use bollard::models::{
    ContainerInspectResponse, ContainerStateStatusEnum, HealthStatusEnum, RestartPolicyNameEnum,
};
use time::OffsetDateTime;

use super::history::{self, History};
use super::logs::{self, Line};
use super::session::{Container, Session, api_failed};
use super::{CRASH_LOOP_RESTARTS, HISTORY, RECENT_START, stats};
use crate::format::{human_age, human_bytes, percent, utc_clock};
use crate::model::report::{Finding, Status};

/// What was read about one container besides its inspect.
#[derive(Debug, Clone, Default)]
pub struct Observed {
    /// The last hour's events; `Err` says why they could not be read.
    pub history: Option<Result<History, String>>,
    /// The last log lines before its last exit, when they were read.
    pub logs: Option<Vec<Line>>,
    /// Its memory use now, for a container the OOM killer hit that runs again.
    pub memory_now: Option<u64>,
}

/// A time from inspect (RFC 3339 with nanoseconds); `None` for Docker's
/// "never" (`0001-01-01T00:00:00Z`) and anything unreadable.
pub fn parse_time(text: Option<&str>) -> Option<OffsetDateTime> {
    let t = OffsetDateTime::parse(text?, &time::format_description::well_known::Rfc3339).ok()?;
    (t.year() >= 1970).then_some(t)
}

/// "06:32:07 UTC (3 min ago)".
// NOTE: shown in chat.
pub fn when(t: OffsetDateTime, now: OffsetDateTime) -> String {
    let ago = (now - t).whole_seconds().max(0) as u64;
    format!("{} ({} ago)", utc_clock(t), human_age(ago))
}

/// What an exit code usually means, for the detail line.
// NOTE: shown in chat.
pub fn exit_meaning(code: i64) -> Option<&'static str> {
    Some(match code {
        0 => "exit 0: the program ended on its own (or was stopped cleanly)",
        1 => "exit 1: the program's own error exit",
        125 => "exit 125: Docker could not run the container (docker run's own error)",
        126 => "exit 126: the command is not executable",
        127 => "exit 127: the command was not found (a wrong entrypoint, or an image without it)",
        137 => {
            "exit 137 = SIGKILL: the OOM killer, or `docker stop` after the stop timeout, or `docker kill`"
        }
        139 => "exit 139 = SIGSEGV: the program crashed (segmentation fault)",
        143 => "exit 143 = SIGTERM: stopped (`docker stop`, a deploy) and it exited on the signal",
        _ => return None,
    })
}

/// Its restart policy in the words of `docker run --restart`.
fn policy(inspect: &ContainerInspectResponse) -> Option<(String, Option<i64>)> {
    let p = inspect.host_config.as_ref()?.restart_policy.as_ref()?;
    let name = match p.name? {
        RestartPolicyNameEnum::EMPTY | RestartPolicyNameEnum::NO => return None,
        RestartPolicyNameEnum::ALWAYS => "always",
        RestartPolicyNameEnum::UNLESS_STOPPED => "unless-stopped",
        RestartPolicyNameEnum::ON_FAILURE => "on-failure",
    };
    let max = p.maximum_retry_count.filter(|&m| m > 0);
    Some((name.to_string(), max))
}

/// Every finding about one container's state, as of `now`.
pub fn findings(c: &Container, o: &Observed, now: OffsetDateTime) -> Vec<Finding> {
    let i = &c.inspect;
    let label = c.label();
    let state = i.state.clone().unwrap_or_default();
    let status = state.status.unwrap_or(ContainerStateStatusEnum::EMPTY);
    let exit = state.exit_code.unwrap_or(0);
    let restart_count = i.restart_count.unwrap_or(0).max(0) as u64;
    let started = parse_time(state.started_at.as_deref());
    let finished = parse_time(state.finished_at.as_deref());
    let created = parse_time(i.created.as_deref());
    let history = o.history.as_ref().and_then(|h| h.as_ref().ok());
    let events_failed = o.history.as_ref().and_then(|h| h.as_ref().err());
    let recent = |t: Option<OffsetDateTime>, within: Duration| {
        t.is_some_and(|t| now - t <= within && t <= now + time::Duration::minutes(1))
    };
    let last_error = o
        .logs
        .as_deref()
        .and_then(logs::last_error)
        .map(|l| logs::shorten(l, 160));
    let evidence = o
        .logs
        .as_deref()
        .filter(|l| !l.is_empty())
        .map(logs::evidence);
    let mut out = Vec::new();

    // Restarts in the last hour: the events, else RestartCount when the
    // container last started within the hour.
    let (restarts_hour, source) = match history {
        Some(h) => (h.restarts, "docker events"),
        None if recent(started, HISTORY) => (restart_count, "RestartCount"),
        None => (0, "RestartCount"),
    };
    let restarting = status == ContainerStateStatusEnum::RESTARTING;
    let crash_loop = restarting || restarts_hour >= CRASH_LOOP_RESTARTS;
    let oom_kills = history.map(|h| h.ooms).unwrap_or(0);
    let oom = state.oom_killed == Some(true) || oom_kills > 0;
    let last_exit = history.and_then(|h| h.last_exit_code).unwrap_or(exit);

    if crash_loop {
        let mut summary = format!(
            "{label} is crash-looping: {restarts_hour} {} in the last hour, last exit code {last_exit}",
            if restarts_hour == 1 {
                "restart"
            } else {
                "restarts"
            }
        );
        if let Some(line) = &last_error {
            summary.push_str(&format!(" — last error: {line}"));
        }
        let mut f = Finding::critical("docker.crash_loop", summary);
        if let Some(m) = exit_meaning(last_exit) {
            f = f.with_detail(m);
        }
        let now_state = match status {
            ContainerStateStatusEnum::RUNNING => match started {
                Some(s) => format!("Running again since {}", when(s, now)),
                None => "Running again".to_string(),
            },
            ContainerStateStatusEnum::RESTARTING => {
                "Restarting now (Docker waits longer between each attempt)".to_string()
            }
            _ => match finished {
                Some(t) => format!("Down since {}", when(t, now)),
                None => "Down".to_string(),
            },
        };
        f = f.with_detail(now_state);
        match policy(i) {
            Some((name, Some(max)))
                if restart_count as i64 >= max && !state.running.unwrap_or(false) =>
            {
                f = f.with_detail(format!(
                    "Restart policy {name}:{max} gave up after {restart_count} restarts: it stays down until restarted by hand."
                ));
            }
            Some((name, max)) => {
                let max = max.map(|m| format!(":{m}")).unwrap_or_default();
                f = f.with_detail(format!(
                    "Restart policy {name}{max}; {restart_count} restarts since it was created."
                ));
            }
            None => {}
        }
        f = f.with_detail(match events_failed {
            Some(why) => {
                format!("Restarts counted from {source}: the events could not be read ({why}).")
            }
            None => format!("Restarts counted from {source}."),
        });
        f = f.with_detail(match &evidence {
            Some(_) => "Why: the last lines it wrote before it exited, below; a bad deploy, missing configuration or an unreachable dependency are the usual causes.".to_string(),
            None => format!("Why: its last lines (docker logs --tail 20 {}); a bad deploy, missing configuration or an unreachable dependency are the usual causes.", c.name),
        });
        if let Some(e) = &evidence {
            f = f.with_evidence(e.clone());
        }
        out.push(f.at_opt(started));
    }

    if oom {
        let limit = stats::memory_limit(i);
        // Limit, last usage and exit code in the summary itself: it is
        // the line triage quotes as evidence.
        let mut summary = match (limit, o.memory_now) {
            (Some(l), Some(used)) => format!(
                "{label} was OOMKilled: memory limit {}, exit 137; using {} ({}) again since its restart",
                human_bytes(l),
                human_bytes(used),
                percent(used, l)
            ),
            (Some(l), None) => format!(
                "{label} was OOMKilled at its memory limit of {}, exit 137",
                human_bytes(l)
            ),
            (None, _) => format!(
                "{label} was OOMKilled with no memory limit of its own (the host ran out of memory), exit 137"
            ),
        };
        if oom_kills > 1 {
            summary.push_str(&format!(", {oom_kills} OOM kills in the last hour"));
        }
        let mut f = Finding::critical("docker.oom", summary);
        if let Some(t) = finished {
            f = f.with_detail(format!("Killed at {}", when(t, now)));
        }
        f = f.with_detail(match (o.memory_now, limit) {
            (Some(_), Some(_)) => "Its usage now is the trend to watch: a leak climbs back to the limit after each restart.".to_string(),
            (Some(used), None) => format!("Using {} again since its restart.", human_bytes(used)),
            (None, Some(_)) => "The kernel kills a container when its memory reaches the limit: its last usage was the limit.".to_string(),
            (None, None) => "Its usage is not known once it exited; dmesg names the victim and the host's memory then.".to_string(),
        });
        f = f.with_detail(match limit {
            Some(_) => "Raise the limit (compose mem_limit / deploy.resources.limits.memory, docker run -m) if the load is real, or find what grows (a leak keeps growing after each restart).",
            None => "Give it a memory limit so it is killed before the host is, and look at what else uses the host's memory.",
        });
        if !crash_loop && let Some(e) = &evidence {
            f = f.with_evidence(e.clone());
        }
        out.push(f.at_opt(finished));
    }

    if !crash_loop && !oom {
        let seen = Seen {
            status,
            exit,
            started,
            finished,
            restart_count,
            last_error: last_error.as_deref(),
            evidence: evidence.as_deref(),
        };
        out.push(state_finding(c, &seen, now));
    }

    if let Some(f) = health_finding(c, now) {
        out.push(f);
    }

    // A recent start is news: every connection to it was lost then.
    if !crash_loop && status == ContainerStateStatusEnum::RUNNING && recent(started, RECENT_START) {
        let s = started.expect("recent() checked it");
        let fresh = restart_count == 0
            && history.is_none_or(|h| h.restarts == 0)
            && created.is_some_and(|c| (s - c).abs() < time::Duration::minutes(1));
        let f = if fresh {
            Finding::warn(
                "docker.started",
                format!("{label} was created and started at {}", when(s, now)),
            )
            .with_detail("A new container: a deploy or `docker compose up` replaced the old one; errors around then are explained by it.")
        } else {
            Finding::warn(
                "docker.started",
                format!("{label} restarted at {}", when(s, now)),
            )
            .with_detail("Every connection to it was lost then; errors around that time are explained by it.")
            .with_detail(format!("Why it restarted: the last lines before it (docker logs --until {} {}).", utc_clock(s), c.name))
        };
        out.push(f.at(s));
    }
    out
}

/// What [`state_finding`] reads.
struct Seen<'a> {
    status: ContainerStateStatusEnum,
    exit: i64,
    started: Option<OffsetDateTime>,
    finished: Option<OffsetDateTime>,
    restart_count: u64,
    last_error: Option<&'a str>,
    evidence: Option<&'a str>,
}

/// The one line on a container that neither crash-loops nor was
/// OOM-killed: running, exited (with its code), created, paused, dead.
fn state_finding(c: &Container, s: &Seen, now: OffsetDateTime) -> Finding {
    let label = c.label();
    let at = |t: Option<OffsetDateTime>| {
        t.map(|t| format!(" at {}", when(t, now)))
            .unwrap_or_default()
    };
    let f = match s.status {
        ContainerStateStatusEnum::RUNNING => {
            let up = s
                .started
                .map(|t| {
                    format!(
                        ", up {}",
                        human_age((now - t).whole_seconds().max(0) as u64)
                    )
                })
                .unwrap_or_default();
            let restarts = match s.restart_count {
                0 => String::new(),
                1 => ", 1 restart since it was created".to_string(),
                n => format!(", {n} restarts since it was created"),
            };
            return Finding::ok("docker.state", format!("{label} running{up}{restarts}"));
        }
        ContainerStateStatusEnum::EXITED if s.exit == 0 => Finding::warn(
            "docker.state",
            format!(
                "{label} is not running: exited with code 0{}",
                at(s.finished)
            ),
        )
        .with_detail(
            "Stopped, or a one-off task that finished; a service that should run is down.",
        ),
        ContainerStateStatusEnum::EXITED => {
            let mut summary = format!("{label} exited with code {}{}", s.exit, at(s.finished));
            if let Some(line) = s.last_error {
                summary.push_str(&format!(" — last error: {line}"));
            }
            let f = Finding::critical("docker.state", summary);
            match exit_meaning(s.exit) {
                Some(m) => f.with_detail(m),
                None => f,
            }
        }
        ContainerStateStatusEnum::CREATED => Finding::warn(
            "docker.state",
            format!("{label} was created but never started"),
        ),
        ContainerStateStatusEnum::PAUSED => Finding::warn(
            "docker.state",
            format!(
                "{label} is paused: its processes are frozen (docker unpause {})",
                c.name
            ),
        ),
        ContainerStateStatusEnum::DEAD => Finding::critical(
            "docker.state",
            format!("{label} is dead: Docker could not stop or remove it"),
        )
        .with_detail("Usually a busy device or mount; dockerd's log says which."),
        ContainerStateStatusEnum::REMOVING => {
            Finding::warn("docker.state", format!("{label} is being removed"))
        }
        ContainerStateStatusEnum::STOPPING => {
            Finding::warn("docker.state", format!("{label} is stopping"))
        }
        // Restarting is a crash loop, reported as one before this.
        ContainerStateStatusEnum::RESTARTING => {
            Finding::warn("docker.state", format!("{label} is restarting"))
        }
        ContainerStateStatusEnum::EMPTY => Finding::new(
            "docker.state",
            Status::Unknown,
            format!("Docker did not say what state {label} is in"),
        ),
    };
    let f = f.at_opt(s.finished);
    match s.evidence {
        Some(e) => f.with_evidence(e),
        None => f,
    }
}

/// The health check's status and, when failing, its own last output.
fn health_finding(c: &Container, now: OffsetDateTime) -> Option<Finding> {
    let health = c.inspect.state.as_ref()?.health.as_ref()?;
    let label = c.label();
    let log = health.log.as_deref().unwrap_or_default();
    let last = log.last();
    let last_failing = log.iter().rev().find(|r| r.exit_code.unwrap_or(0) != 0);
    let streak = health.failing_streak.unwrap_or(0);
    let output = |r: &bollard::models::HealthcheckResult| {
        logs::shorten(r.output.as_deref().unwrap_or("").trim(), 600)
    };
    let at = |r: &bollard::models::HealthcheckResult| {
        parse_time(r.end.as_deref().or(r.start.as_deref()))
    };
    match health.status? {
        HealthStatusEnum::HEALTHY => {
            let mut summary = format!("{label} healthy");
            if let Some(t) = last.and_then(at) {
                summary.push_str(&format!(
                    " (last check passed {} ago)",
                    human_age((now - t).whole_seconds().max(0) as u64)
                ));
            }
            Some(Finding::ok("docker.health", summary))
        }
        HealthStatusEnum::UNHEALTHY => {
            let mut f = Finding::critical(
                "docker.health",
                format!(
                    "{label} is unhealthy: {streak} health {} failed in a row",
                    if streak == 1 { "check" } else { "checks" }
                ),
            )
            .with_detail("The health check's own words name what it found wrong (a dependency down, a port not answering); Compose's `depends_on: condition: service_healthy` waits on it.");
            if let Some(r) = last_failing {
                let when_text = at(r)
                    .map(|t| format!(" at {}", when(t, now)))
                    .unwrap_or_default();
                f = f
                    .with_detail(format!(
                        "Last failing check{when_text}, exit code {}; its output:",
                        r.exit_code.unwrap_or(0)
                    ))
                    .with_evidence(output(r));
            }
            Some(f)
        }
        HealthStatusEnum::STARTING => {
            let mut f = Finding::warn(
                "docker.health",
                format!("{label}'s health check is still starting"),
            );
            if let Some(r) = last_failing.filter(|_| streak > 0) {
                f = f
                    .with_detail(format!("{streak} failed so far; the last one said:"))
                    .with_evidence(output(r));
            }
            Some(f)
        }
        HealthStatusEnum::NONE | HealthStatusEnum::EMPTY => None,
    }
}

/// Whether the last log lines are worth reading: it is not running, it
/// restarted, or it was OOM-killed.
fn needs_logs(c: &Container, history: Option<&History>) -> bool {
    let state = c.inspect.state.clone().unwrap_or_default();
    state.status != Some(ContainerStateStatusEnum::RUNNING)
        || state.oom_killed == Some(true)
        || history.is_some_and(|h| h.restarts > 0 || h.exits > 0)
}

/// The state check: every selected container at once.
pub async fn check(session: Session, now: OffsetDateTime, log_lines: usize) -> Vec<Finding> {
    let containers = session.containers.clone();
    let per_container = containers.iter().map(|c| {
        let session = session.clone();
        async move {
            let history = history::read(&session, c.id(), now).await;
            let history = history.map_err(|e| e.text());
            let mut observed = Observed {
                history: Some(history),
                ..Default::default()
            };
            let h = observed.history.as_ref().and_then(|h| h.as_ref().ok());
            let state = c.inspect.state.clone().unwrap_or_default();
            let mut extra = Vec::new();
            if log_lines > 0 && needs_logs(c, h) {
                // Lines up to its last exit; a container that never exited
                // (running, unhealthy) shows its last lines.
                let until = parse_time(state.finished_at.as_deref());
                match logs::read(&session, c.id(), log_lines, until).await {
                    Ok(lines) => observed.logs = Some(lines),
                    Err(e) => extra.push(api_failed(
                        "docker.logs",
                        &format!("Reading the logs of {}", c.label()),
                        &e,
                    )),
                }
            }
            let oom = state.oom_killed == Some(true) || h.is_some_and(|h| h.ooms > 0);
            if oom && state.running == Some(true) {
                observed.memory_now = stats::memory_now(&session, c.id()).await;
            }
            let mut out = findings(c, &observed, now);
            out.extend(extra);
            out
        }
    });
    futures::future::join_all(per_container)
        .await
        .into_iter()
        .flatten()
        .collect()
}

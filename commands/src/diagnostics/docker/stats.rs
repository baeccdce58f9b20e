//! Purpose: `docker stats --no-stream` — each running container's CPU and
//! memory, against its own limits (`--cpus`, `-m`), because a container
//! near its memory limit is the next OOMKilled and one pinned at its CPU
//! limit is throttled, however idle the host looks.
//!
//! One sample per container (`stream=false`: the daemon reads the counters
//! twice, a second apart, so the CPU share is over that second).

use bollard::models::{ContainerInspectResponse, ContainerStatsResponse};
use bollard::query_parameters::StatsOptionsBuilder;
use futures::StreamExt;

use super::client::{Failed, within};
use super::session::{Container, Session, api_failed};
use super::{CRITICAL_RATIO, WARN_RATIO};
use crate::format::{human_bytes, percent};
use crate::model::report::{Finding, Status};

/// The container's memory limit, when it has one.
pub fn memory_limit(inspect: &ContainerInspectResponse) -> Option<u64> {
    inspect
        .host_config
        .as_ref()?
        .memory
        .filter(|&m| m > 0)
        .map(|m| m as u64)
}

/// One stats sample of `id`.
pub async fn sample(session: &Session, id: &str) -> Result<ContainerStatsResponse, Failed> {
    let options = StatsOptionsBuilder::default().stream(false).build();
    let one = async {
        let mut stream = session.docker.stats(id, Some(options));
        match stream.next().await {
            Some(r) => r,
            None => Err(bollard::errors::Error::DockerStreamError {
                error: "the stats stream ended without a sample".into(),
            }),
        }
    };
    within(session.budget, one).await
}

/// The memory `id` uses now, page cache left out (what the limit is
/// enforced against); `None` when it cannot be read.
pub async fn memory_now(session: &Session, id: &str) -> Option<u64> {
    sample(session, id).await.ok().and_then(|s| memory_used(&s))
}

/// Memory in use as `docker stats` shows it: usage less the inactive page
/// cache.
pub fn memory_used(s: &ContainerStatsResponse) -> Option<u64> {
    let m = s.memory_stats.as_ref()?;
    let usage = m.usage?;
    // As the docker CLI computes it: cgroup v1 reports the hierarchy's
    // `total_inactive_file`, v2 `inactive_file`.
    let stats = m.stats.as_ref();
    let cache = stats
        .and_then(|st| st.get("total_inactive_file"))
        .or_else(|| stats.and_then(|st| st.get("inactive_file")))
        .copied()
        .filter(|&c| c < usage)
        .unwrap_or(0);
    Some(usage - cache)
}

/// CPU use over the sample's second, in percent of one CPU (200 % is two
/// CPUs busy), as `docker stats` shows it.
pub fn cpu_percent(s: &ContainerStatsResponse) -> Option<f64> {
    let now = s.cpu_stats.as_ref()?;
    let before = s.precpu_stats.as_ref()?;
    let used = now.cpu_usage.as_ref()?.total_usage? as f64
        - before.cpu_usage.as_ref()?.total_usage? as f64;
    let system = now.system_cpu_usage? as f64 - before.system_cpu_usage? as f64;
    if system <= 0.0 || used < 0.0 {
        return None;
    }
    let cpus = now
        .online_cpus
        .filter(|&n| n > 0)
        .map(f64::from)
        .or_else(|| {
            now.cpu_usage
                .as_ref()?
                .percpu_usage
                .as_ref()
                .map(|p| p.len() as f64)
        })
        .unwrap_or(1.0);
    Some(used / system * cpus * 100.0)
}

/// The container's CPU limit in CPUs (`--cpus`, or a CFS quota).
pub fn cpu_limit(c: &Container) -> Option<f64> {
    let h = c.inspect.host_config.as_ref()?;
    if let Some(n) = h.nano_cpus.filter(|&n| n > 0) {
        return Some(n as f64 / 1e9);
    }
    match (h.cpu_quota, h.cpu_period) {
        (Some(q), Some(p)) if q > 0 && p > 0 => Some(q as f64 / p as f64),
        (Some(q), _) if q > 0 => Some(q as f64 / 100_000.0),
        _ => None,
    }
}

fn cpus(n: f64) -> String {
    let text = format!("{n:.2}");
    let text = text.trim_end_matches('0').trim_end_matches('.');
    format!("{text} {}", if n == 1.0 { "CPU" } else { "CPUs" })
}

/// One running container's CPU and memory against its limits.
pub fn reading(c: &Container, s: &ContainerStatsResponse) -> Finding {
    let label = c.label();
    let mut parts = Vec::new();
    let mut status = Status::Ok;
    let mut details = Vec::new();
    match (memory_used(s), memory_limit(&c.inspect)) {
        (Some(used), Some(limit)) => {
            let ratio = used as f64 / limit as f64;
            let level = Status::by_level(ratio, WARN_RATIO, CRITICAL_RATIO);
            status = status.max(level);
            parts.push(format!(
                "memory {} of {} limit ({})",
                human_bytes(used),
                human_bytes(limit),
                percent(used, limit)
            ));
            if level != Status::Ok {
                details.push("At its memory limit the kernel OOM-kills it (exit 137): raise the limit or find what grows.".to_string());
            }
        }
        (Some(used), None) => {
            let host = s
                .memory_stats
                .as_ref()
                .and_then(|m| m.limit)
                .filter(|&l| l > 0);
            parts.push(match host {
                Some(h) => format!(
                    "memory {}, no limit ({} of the host's {})",
                    human_bytes(used),
                    percent(used, h),
                    human_bytes(h)
                ),
                None => format!("memory {}, no limit", human_bytes(used)),
            });
        }
        (None, _) => parts.push("memory not reported".to_string()),
    }
    match (cpu_percent(s), cpu_limit(c)) {
        (Some(pct), Some(limit)) => {
            let ratio = pct / 100.0 / limit;
            if ratio >= CRITICAL_RATIO {
                status = status.max(Status::Warn);
                details.push(
                    "Pinned at its CPU limit: it is throttled, and requests slow down.".to_string(),
                );
            }
            parts.push(format!(
                "CPU {pct:.0} % of a {} limit ({:.0} %)",
                cpus(limit),
                ratio * 100.0
            ));
        }
        (Some(pct), None) => {
            let online = s
                .cpu_stats
                .as_ref()
                .and_then(|c| c.online_cpus)
                .unwrap_or(0);
            parts.push(if online > 0 {
                format!(
                    "CPU {pct:.0} % (no limit; the host has {})",
                    cpus(f64::from(online))
                )
            } else {
                format!("CPU {pct:.0} % (no limit)")
            });
        }
        (None, _) => {}
    }
    let mut f = Finding::new(
        "docker.stats",
        status,
        format!("{label}: {}", parts.join(", ")),
    );
    for d in details {
        f = f.with_detail(d);
    }
    f
}

/// The stats check: a sample of every running container, at once.
pub async fn check(session: Session) -> Vec<Finding> {
    let running: Vec<&Container> = session
        .containers
        .iter()
        .filter(|c| {
            c.inspect
                .state
                .as_ref()
                .is_some_and(|s| s.running == Some(true) && s.restarting != Some(true))
        })
        .collect();
    let samples = futures::future::join_all(running.iter().map(|c| sample(&session, c.id()))).await;
    running
        .iter()
        .zip(samples)
        .map(|(c, s)| match s {
            Ok(s) => reading(c, &s),
            Err(e) => api_failed(
                "docker.stats",
                &format!("Reading the stats of {}", c.label()),
                &e,
            ),
        })
        .collect()
}

//! Purpose: `redis-cli info replication` read both ways. On a master: each
//! replica's state and how far behind it is, in bytes (the master's offset
//! minus the replica's last acknowledged one) and in seconds since its last
//! acknowledgement. On a replica: whether its link to the master is up,
//! when it last heard from it, a full sync in progress, and how much it
//! received but has not yet applied.
//!
//! A replica is judged from what it says about itself; medic does not
//! connect to the master it names (only configured hosts are contacted),
//! so a replica's lag against its master is read on the master's target.

use super::info::Info;
use crate::format::{human_age, human_bytes};
use crate::model::report::{Finding, Status};

/// Seconds since a replica's last acknowledgement that make a warning
/// (replicas acknowledge every second).
pub const ACK_WARN_SECS: u64 = 10;
/// … and that make it critical (near the default repl-timeout of 60 s).
pub const ACK_CRITICAL_SECS: u64 = 60;
/// Seconds since a replica last heard from its master that make a warning:
/// the master pings every 10 s even when idle.
pub const IO_WARN_SECS: i64 = 30;

/// Judges replication from INFO.
pub fn findings(info: &Info) -> Vec<Finding> {
    match info.get("role") {
        Some("master") => master(info),
        Some("slave") => replica(info),
        _ => Vec::new(),
    }
}

fn master(info: &Info) -> Vec<Finding> {
    let offset = info.num("master_repl_offset").unwrap_or(0);
    let backlog = info.num("repl_backlog_size").unwrap_or(1 << 20);
    let replicas = info.numbered("slave");
    let count = info
        .num("connected_slaves")
        .unwrap_or(replicas.len() as u64);
    let headline = match count {
        0 => "Role master, no replicas".to_string(),
        1 => "Role master, 1 replica connected".to_string(),
        n => format!("Role master, {n} replicas connected"),
    };
    let mut worst = Status::Ok;
    let mut problems = Vec::new();
    let mut lines = Vec::new();
    for (_, r) in &replicas {
        let name = format!(
            "{}:{}",
            r.get("ip").unwrap_or("?"),
            r.get("port").unwrap_or("?")
        );
        let state = r.get("state").unwrap_or("?");
        let behind = offset.saturating_sub(r.num("offset").unwrap_or(0));
        let ack = r.num("lag").unwrap_or(0);
        lines.push(format!(
            "{name}: {state}, {} behind (offset {}), last ack {ack} s ago",
            human_bytes(behind),
            r.num("offset").unwrap_or(0)
        ));
        let mut status = Status::Ok;
        if state != "online" {
            status = Status::Warn;
            problems.push(format!("replica {name} is syncing ({state})"));
        } else {
            if ack > ACK_CRITICAL_SECS {
                status = Status::Critical;
                problems.push(format!("replica {name} silent for {}", human_age(ack)));
            } else if ack > ACK_WARN_SECS {
                status = Status::Warn;
                problems.push(format!("replica {name} last acknowledged {ack} s ago"));
            }
            if behind > backlog {
                status = status.max(Status::Warn);
                problems.push(format!(
                    "replica {name} is {} behind, more than the {} backlog",
                    human_bytes(behind),
                    human_bytes(backlog)
                ));
            }
        }
        worst = worst.max(status);
    }
    let summary = if problems.is_empty() {
        headline
    } else {
        format!("{headline}: {}", problems.join("; "))
    };
    let mut f = Finding::new("redis.replication", worst, summary);
    for line in lines {
        f = f.with_detail(line);
    }
    if worst != Status::Ok {
        f = f.with_detail("A replica behind serves stale reads and loses those writes on a failover; one further behind than the backlog needs a full resync (a fork and a full copy) when it reconnects.")
            .with_detail("Look at the replica's host (CPU, disk, network) and at the master's write rate.");
    }
    vec![f]
}

fn replica(info: &Info) -> Vec<Finding> {
    let master = format!(
        "{}:{}",
        info.get("master_host").unwrap_or("?"),
        info.get("master_port").unwrap_or("?")
    );
    let pending = info
        .num("slave_read_repl_offset")
        .zip(info.num("slave_repl_offset"))
        .map(|(read, applied)| read.saturating_sub(applied));
    if info.get("master_link_status") == Some("up") {
        let io = info.signed("master_last_io_seconds_ago").unwrap_or(-1);
        let summary = format!("Replica of {master}, link up (last I/O {io} s ago)");
        let mut f = if io > IO_WARN_SECS {
            Finding::warn("redis.replication", summary)
                .with_detail("The master pings every 10 s; this long a silence means the link is stalling and will be dropped at repl-timeout (60 s).")
        } else {
            Finding::ok("redis.replication", summary)
        };
        if let Some(p) = pending {
            f = f.with_detail(format!(
                "{} received from the master and not yet applied (offset {})",
                human_bytes(p),
                info.num("slave_repl_offset").unwrap_or(0)
            ));
        }
        return vec![f];
    }
    let down = match info.signed("master_link_down_since_seconds") {
        Some(s) if s >= 0 => format!("down for {}", human_age(s as u64)),
        _ => "down, never synced since start".to_string(),
    };
    let mut f = Finding::critical(
        "redis.replication",
        format!("Replica of {master}: link {down}"),
    )
    .with_detail(
        "This replica serves stale data (or none); check the master and the network between them.",
    );
    if info.num("master_sync_in_progress") == Some(1) {
        f = f.with_detail(
            "A full sync is in progress: the master forks and sends its whole dataset.",
        );
    }
    vec![f.with_detail(format!(
        "By hand: redis-cli -h {} -p {} ping",
        info.get("master_host").unwrap_or("?"),
        info.get("master_port").unwrap_or("?")
    ))]
}

#[cfg(test)]
mod tests {
    use super::*;

    const MASTER: &str = include_str!("testdata/redis_info_7.0_master.txt");
    const WITH_REPLICA: &str = include_str!("testdata/redis_info_7.0_master_with_replica.txt");
    const REPLICA_UP: &str = include_str!("testdata/redis_info_7.0_replica_link_up.txt");
    const REPLICA_DOWN: &str = include_str!("testdata/redis_info_7.0_replica_link_down.txt");

    fn with(base: &str, overrides: &[(&str, &str)]) -> Info {
        let mut info = Info::parse(base);
        for (k, v) in overrides {
            info.insert(k, v);
        }
        info
    }

    #[test]
    fn a_master_lists_its_replicas_with_their_lag() {
        assert_eq!(
            findings(&Info::parse(MASTER))[0].summary,
            "Role master, no replicas"
        );
        let f = &findings(&Info::parse(WITH_REPLICA))[0];
        assert_eq!(f.status, Status::Ok);
        assert_eq!(f.summary, "Role master, 1 replica connected");
        assert!(
            f.detail[0].starts_with("127.0.0.1:17302: online, 0 B behind"),
            "{:?}",
            f.detail
        );
    }

    #[test]
    fn a_replica_behind_or_silent_is_reported() {
        let far = with(
            WITH_REPLICA,
            &[
                ("master_repl_offset", "5000000"),
                (
                    "slave0",
                    "ip=10.0.1.2,port=6379,state=online,offset=1000,lag=1",
                ),
            ],
        );
        let f = &findings(&far)[0];
        assert_eq!(f.status, Status::Warn);
        assert_eq!(
            f.summary,
            "Role master, 1 replica connected: replica 10.0.1.2:6379 is 4.8 MiB behind, more than the 1.0 MiB backlog"
        );
        let silent = with(
            WITH_REPLICA,
            &[(
                "slave0",
                "ip=10.0.1.2,port=6379,state=online,offset=54,lag=95",
            )],
        );
        assert_eq!(findings(&silent)[0].status, Status::Critical);
        let syncing = with(
            WITH_REPLICA,
            &[(
                "slave0",
                "ip=10.0.1.2,port=6379,state=wait_bgsave,offset=0,lag=0",
            )],
        );
        let f = &findings(&syncing)[0];
        assert_eq!(f.status, Status::Warn);
        assert!(
            f.summary
                .ends_with("replica 10.0.1.2:6379 is syncing (wait_bgsave)")
        );
    }

    #[test]
    fn a_replica_reads_its_own_link() {
        let f = &findings(&Info::parse(REPLICA_UP))[0];
        assert_eq!(f.status, Status::Ok);
        assert_eq!(
            f.summary,
            "Replica of 127.0.0.1:17301, link up (last I/O 1 s ago)"
        );
        assert_eq!(
            f.detail[0],
            "0 B received from the master and not yet applied (offset 68)"
        );
        let stalled = with(REPLICA_UP, &[("master_last_io_seconds_ago", "45")]);
        assert_eq!(findings(&stalled)[0].status, Status::Warn);
    }

    #[test]
    fn a_replica_with_its_link_down_is_critical() {
        let f = &findings(&Info::parse(REPLICA_DOWN))[0];
        assert_eq!(f.status, Status::Critical);
        assert_eq!(
            f.summary,
            "Replica of 127.0.0.1:6391: link down, never synced since start"
        );
        let info = with(
            REPLICA_DOWN,
            &[
                ("master_link_down_since_seconds", "125"),
                ("master_sync_in_progress", "1"),
            ],
        );
        let f = &findings(&info)[0];
        assert_eq!(f.summary, "Replica of 127.0.0.1:6391: link down for 2 min");
        assert!(f.detail[1].starts_with("A full sync is in progress"));
    }
}

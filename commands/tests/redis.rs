//! The redis diagnostic against real redis-servers that each test starts
//! for itself (support/redis_server.rs): slow commands really run, a real
//! client really blocked in BLPOP, a save that really fails, a real replica
//! that really falls behind and whose master really dies, a real 12 MiB key,
//! a real latency spike.

#[path = "support/redis_server.rs"]
mod redis_server;

use std::process::Command;

use medic_commands::Status;
use medic_commands::diagnostics::redis::slowlog;
use redis_server::{RedisServer, finding};

/// Everything a report shows, for "this secret is nowhere" assertions.
fn all_text(report: &medic_commands::Report) -> String {
    format!("{report:?}{}", serde_json::to_string(report).unwrap())
}

macro_rules! server {
    ($($arg:expr),* $(,)?) => {
        match RedisServer::start(&[$($arg),*]).await {
            Some(s) => s,
            None => return,
        }
    };
}

#[tokio::test]
async fn a_healthy_server_answers_every_check() {
    let server = server!();
    let report = server.target("cache").run().await;
    for check in [
        "redis.reach",
        "redis.ping",
        "redis.uptime",
        "redis.clients",
        "redis.memory",
        "redis.slowlog",
        "redis.blocked",
        "redis.persistence",
        "redis.fragmentation",
        "redis.keyspace",
        "redis.replication",
        "redis.bigkeys",
    ] {
        finding(&report, check);
    }
    // Just started: the restart warning is the only problem.
    let problems: Vec<&str> = report.problems().map(|f| f.check.as_str()).collect();
    assert_eq!(problems, ["redis.uptime"], "{report:#?}");
    assert!(
        finding(&report, "redis.fragmentation")
            .summary
            .starts_with("Fragmentation not judged"),
        "a few KiB of data say nothing about fragmentation"
    );
    assert_eq!(
        finding(&report, "redis.keyspace").summary,
        "Keyspace empty: no keys"
    );
    assert_eq!(
        finding(&report, "redis.replication").summary,
        "Role master, no replicas"
    );
    assert_eq!(
        finding(&report, "redis.bigkeys").summary,
        "No keys to sample in db 0"
    );
}

#[tokio::test]
async fn slow_commands_are_named_and_their_secrets_are_not() {
    const PASSWORD: &str = "redis-Pa55-for-slowlog";
    const VALUE: &str = "tok-3f9a1c7e-secret-value";
    let Some(server) = RedisServer::start_with_password(
        &["--slowlog-log-slower-than", "0", "--slowlog-max-len", "128"],
        Some(PASSWORD),
    )
    .await
    else {
        return;
    };
    server.cmd(&["SET", "session:42", VALUE]).await.unwrap();
    server.cmd(&["DEBUG", "SLEEP", "0.25"]).await.unwrap();

    // What Redis itself logged holds the value: it is medic that hides it.
    let raw = server.cmd(&["SLOWLOG", "GET", "128"]).await.unwrap();
    assert!(
        format!("{raw:?}").contains(VALUE),
        "Redis logged the SET's value"
    );
    let entries = slowlog::parse(&raw);
    let set = entries
        .iter()
        .find(|e| {
            e.args
                .first()
                .is_some_and(|a| a.eq_ignore_ascii_case("set"))
        })
        .expect("the SET is in the slowlog");
    assert_eq!(
        slowlog::shown_command(&set.args),
        "SET session:42 … (+1 arg)"
    );
    let auth = entries
        .iter()
        .find(|e| {
            e.args
                .first()
                .is_some_and(|a| a.eq_ignore_ascii_case("auth"))
        })
        .expect("the connections' AUTH is in the slowlog");
    assert_eq!(
        slowlog::shown_command(&auth.args),
        "AUTH (arguments hidden)"
    );

    let report = server.target("cache").run().await;
    let f = finding(&report, "redis.slowlog");
    assert_eq!(f.status, Status::Warn, "{f:#?}");
    // How long exactly depends on the machine; at least the sleep.
    assert!(
        f.summary
            .starts_with("Slow command: DEBUG SLEEP … (+1 arg) blocked Redis for "),
        "{}",
        f.summary
    );
    let sleep = entries
        .iter()
        .find(|e| {
            e.args
                .first()
                .is_some_and(|a| a.eq_ignore_ascii_case("debug"))
        })
        .expect("the DEBUG SLEEP is in the slowlog");
    assert!(sleep.micros >= 250_000, "{sleep:?}");
    assert!(
        f.detail.iter().any(|l| l.contains("from 127.0.0.1:")),
        "{f:#?}"
    );
    let text = all_text(&report);
    assert!(!text.contains(VALUE), "the value leaked: {text}");
    assert!(!text.contains(PASSWORD), "the password leaked: {text}");
}

#[tokio::test]
async fn a_client_in_blpop_is_reported_as_blocked() {
    let server = server!();
    let mut waiter = server.conn().await;
    let blpop = tokio::spawn(async move {
        redis::cmd("BLPOP")
            .arg("queue:jobs")
            .arg(0)
            .query_async::<redis::Value>(&mut waiter)
            .await
    });
    server.wait_for("blocked_clients", |v| v == "1").await;

    let report = server.target("queue").run().await;
    let f = finding(&report, "redis.blocked");
    assert_eq!(f.status, Status::Ok, "a queue worker waiting is normal");
    assert!(f.summary.starts_with("1 of "), "{}", f.summary);
    assert!(
        f.summary.ends_with("client blocked: 1 in BLPOP"),
        "{}",
        f.summary
    );
    assert!(
        f.detail.iter().any(|l| l.starts_with("Longest wait: ")),
        "{f:#?}"
    );

    server.cmd(&["RPUSH", "queue:jobs", "job-1"]).await.unwrap();
    blpop.await.unwrap().unwrap();
    server.wait_for("blocked_clients", |v| v == "0").await;
    let report = server.target("queue").run().await;
    assert_eq!(
        finding(&report, "redis.blocked").summary,
        "No client blocked"
    );
}

#[tokio::test]
async fn keys_per_database_and_a_volatile_policy_that_cannot_evict() {
    let server = server!();
    let mut c = server.conn().await;
    redis::pipe()
        .cmd("SET")
        .arg("a")
        .arg(1)
        .ignore()
        .cmd("SET")
        .arg("b")
        .arg(2)
        .ignore()
        .cmd("SET")
        .arg("c")
        .arg(3)
        .arg("EX")
        .arg(600)
        .ignore()
        .cmd("SELECT")
        .arg(2)
        .ignore()
        .cmd("SET")
        .arg("d")
        .arg(4)
        .ignore()
        .query_async::<()>(&mut c)
        .await
        .unwrap();
    let report = server.target("cache").run().await;
    assert_eq!(
        finding(&report, "redis.keyspace").summary,
        "Keys: db0 3 (1 with a TTL), db2 1 (0 with a TTL)"
    );

    // Full, under volatile-lru, with the only TTL key gone: nothing is
    // evictable, and Redis really refuses writes.
    server.cmd(&["SELECT", "0"]).await.unwrap();
    server.cmd(&["DEL", "c"]).await.unwrap();
    server
        .cmd(&["CONFIG", "SET", "maxmemory-policy", "volatile-lru"])
        .await
        .unwrap();
    let used: u64 = server
        .info_field("used_memory")
        .await
        .unwrap()
        .parse()
        .unwrap();
    let limit = (used / 2).to_string();
    server
        .cmd(&["CONFIG", "SET", "maxmemory", &limit])
        .await
        .unwrap();
    let refused = server.cmd(&["SET", "e", "5"]).await.unwrap_err();
    assert_eq!(refused.code(), Some("OOM"), "{refused}");

    let report = server.target("cache").run().await;
    let full = report
        .findings
        .iter()
        .find(|f| f.check == "redis.keyspace" && f.status == Status::Critical)
        .unwrap_or_else(|| panic!("no critical keyspace finding in {report:#?}"));
    assert!(
        full.summary
            .ends_with("under volatile-lru: no key has a TTL, so nothing can be evicted"),
        "{}",
        full.summary
    );
}

#[tokio::test]
async fn a_failed_background_save_is_critical_and_redis_says_misconf() {
    // MISCONF needs save rules: without any, a failed BGSAVE refuses nothing.
    let server = server!("--save", "3600 1");
    server.cmd(&["SET", "order:1", "paid"]).await.unwrap();
    // The server runs inside its --dir; removing it makes the save's temp
    // file impossible to create, as a lost mount or a wiped directory
    // would (and works as root too, where a read-only mode would not).
    std::fs::remove_dir_all(server.data_dir()).unwrap();
    server.cmd(&["BGSAVE"]).await.unwrap();
    server
        .wait_for("rdb_last_bgsave_status", |v| v == "err")
        .await;
    server
        .wait_for("rdb_bgsave_in_progress", |v| v == "0")
        .await;

    // What the application sees, and what the finding explains.
    let refused = server.cmd(&["SET", "order:2", "paid"]).await.unwrap_err();
    assert_eq!(refused.code(), Some("MISCONF"), "{refused}");

    let report = server.target("orders").run().await;
    let ping = finding(&report, "redis.ping");
    assert_eq!(
        ping.status,
        Status::Critical,
        "Redis refuses PING too: {ping:#?}"
    );
    assert!(
        ping.summary.starts_with("PING refused with MISCONF"),
        "{}",
        ping.summary
    );
    let f = finding(&report, "redis.persistence");
    assert_eq!(f.status, Status::Critical, "{f:#?}");
    assert_eq!(
        f.summary,
        "Last RDB save failed (err): Redis refuses writes with MISCONF"
    );
    assert!(
        f.detail[0].contains("stop-writes-on-bgsave-error yes,"),
        "read from CONFIG: {f:#?}"
    );
    assert!(
        f.detail[1].starts_with("1 changes since the last successful save"),
        "{f:#?}"
    );
}

/// SIGSTOP / SIGCONT a process (argv, no shell).
fn signal(pid: u32, sig: &str) {
    let ok = Command::new("kill")
        .args([sig, &pid.to_string()])
        .status()
        .unwrap()
        .success();
    assert!(ok, "kill {sig} {pid}");
}

#[tokio::test]
async fn a_real_replica_falls_behind_then_loses_its_master() {
    let mut master = server!(
        "--repl-diskless-sync-delay",
        "0",
        "--repl-backlog-size",
        "16kb",
    );
    let replica_of = ["--replicaof", "127.0.0.1"];
    let master_port = master.port.to_string();
    let replica = server!(replica_of[0], replica_of[1], &master_port);
    replica.wait_for("master_link_status", |v| v == "up").await;
    master
        .wait_for("slave0", |v| v.contains("state=online"))
        .await;

    let report = replica.target("replica").run().await;
    let f = finding(&report, "redis.replication");
    assert_eq!(f.status, Status::Ok, "{f:#?}");
    assert!(
        f.summary
            .starts_with(&format!("Replica of 127.0.0.1:{}, link up", master.port)),
        "{}",
        f.summary
    );

    // The replica stops acknowledging (paused) while the master takes
    // 64 KiB of writes: four times its 16 KiB backlog.
    signal(replica.pid(), "-STOP");
    let chunk = "x".repeat(4096);
    for i in 0..16 {
        master
            .cmd(&["SET", &format!("k{i}"), &chunk])
            .await
            .unwrap();
    }
    let report = master.target("primary").run().await;
    signal(replica.pid(), "-CONT");
    let f = finding(&report, "redis.replication");
    assert_eq!(f.status, Status::Warn, "{f:#?}");
    assert!(
        f.summary
            .starts_with("Role master, 1 replica connected: replica 127.0.0.1:"),
        "{}",
        f.summary
    );
    assert!(
        f.summary.ends_with("more than the 16.0 KiB backlog"),
        "{}",
        f.summary
    );
    assert!(f.detail[0].contains(" KiB behind (offset "), "{f:#?}");

    // The master dies: the replica's link goes down, which is critical.
    master.kill();
    replica
        .wait_for("master_link_status", |v| v == "down")
        .await;
    let report = replica.target("replica").run().await;
    let f = finding(&report, "redis.replication");
    assert_eq!(f.status, Status::Critical, "{f:#?}");
    assert!(
        f.summary.starts_with(&format!(
            "Replica of 127.0.0.1:{master_port}: link down for "
        )),
        "{}",
        f.summary
    );
}

#[tokio::test]
async fn a_cache_at_maxmemory_evicting_is_a_warning_that_says_so() {
    let server = server!("--maxmemory", "4mb", "--maxmemory-policy", "allkeys-lru");
    let mut c = server.conn().await;
    let value = "x".repeat(64 * 1024);
    for i in 0..200 {
        redis::cmd("SET")
            .arg(format!("page:{i}"))
            .arg(&value)
            .query_async::<()>(&mut c)
            .await
            .unwrap();
    }
    let evicted: u64 = server
        .info_field("evicted_keys")
        .await
        .unwrap()
        .parse()
        .unwrap();
    assert!(evicted > 0, "12 MiB into 4 MiB must evict");

    let report = server.target("cache").run().await;
    let evictions = finding(&report, "redis.evictions");
    assert_eq!(evictions.status, Status::Warn);
    assert!(
        evictions
            .summary
            .ends_with("keys evicted since start (policy allkeys-lru)"),
        "{}",
        evictions.summary
    );
    // At its limit, a cache that evicts does its job: a warning, not an
    // outage.
    let memory = finding(&report, "redis.memory");
    assert_eq!(memory.status, Status::Warn, "{memory:#?}");
    assert!(
        memory.summary.contains("policy allkeys-lru"),
        "{}",
        memory.summary
    );
    assert!(
        memory
            .detail
            .iter()
            .any(|d| d.contains("allkeys-lru evicts keys")),
        "{memory:#?}"
    );
}

#[tokio::test]
async fn a_client_limit_reached_is_named_from_inside_and_outside() {
    let server = server!("--maxclients", "6");
    // Five clients hold connections; medic takes the sixth and last slot.
    let mut held = Vec::new();
    for _ in 0..5 {
        held.push(server.conn().await);
    }
    // (Connections just dropped close a moment later: wait for the slot.)
    let report = until(&server, |r| {
        r.findings.iter().any(|f| f.check == "redis.clients")
    })
    .await;
    let clients = finding(&report, "redis.clients");
    assert_eq!(clients.status, Status::Critical, "{report:#?}");
    assert_eq!(clients.summary, "Clients 6/6 (100 %)");

    // One more client (once medic's own connection has closed): now medic
    // itself is turned away, and says why.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    loop {
        if let Ok(Ok(c)) = tokio::time::timeout(
            std::time::Duration::from_secs(1),
            redis::Client::open(server.url())
                .unwrap()
                .get_multiplexed_async_connection(),
        )
        .await
        {
            held.push(c);
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the sixth slot never freed"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let report = server.target("cache").run().await;
    assert_eq!(report.status(), Status::Critical, "{report:#?}");
    let refused = finding(&report, "redis.session");
    assert_eq!(refused.status, Status::Critical);
    assert!(
        refused
            .summary
            .ends_with("turns new connections away: max number of clients reached"),
        "{}",
        refused.summary
    );

    // A slot frees up: medic gets in and reports the refusals it saw.
    drop(held.pop());
    let report = until(&server, |r| {
        r.findings.iter().all(|f| f.check != "redis.session")
    })
    .await;
    let rejected = finding(&report, "redis.rejected");
    assert_eq!(rejected.status, Status::Warn);
    assert!(
        rejected
            .summary
            .ends_with("connections rejected since start (maxclients reached)"),
        "{}",
        rejected.summary
    );
}

#[tokio::test]
async fn the_biggest_key_is_named_with_its_size() {
    let server = server!();
    let prefix = "medic-test:bigkeys:";
    let big = format!("{prefix}orders:queue");
    // A list of 12 values of 1 MiB: 12 MiB in one key.
    let chunk = "x".repeat(1 << 20);
    for _ in 0..12 {
        server.cmd(&["RPUSH", &big, &chunk]).await.unwrap();
    }
    let medium = format!("{prefix}user:42");
    let fields: Vec<String> = (0..300)
        .flat_map(|i| [format!("field{i}"), "v".repeat(4096)])
        .collect();
    let mut hset = vec!["HSET", medium.as_str()];
    hset.extend(fields.iter().map(String::as_str));
    server.cmd(&hset).await.unwrap();
    for i in 0..50 {
        server
            .cmd(&["SET", &format!("{prefix}small:{i}"), "1"])
            .await
            .unwrap();
    }
    // A key name can hold a secret: it is listed, masked.
    let secret_key = format!("{prefix}cfg:password=hunter2-in-a-key");
    server
        .cmd(&["SET", &secret_key, &"y".repeat(512 << 10)])
        .await
        .unwrap();

    let report = server.target("cache").run().await;
    let f = finding(&report, "redis.bigkeys");
    assert_eq!(f.status, Status::Warn, "{f:#?}");
    // MEMORY USAGE counts what the allocator gave: at least the 12 MiB of
    // data, in jemalloc's size classes.
    let size = f
        .summary
        .strip_prefix(&format!("Big key: list {big} holds "))
        .and_then(|s| s.strip_suffix(" MiB"))
        .and_then(|s| s.parse::<f64>().ok())
        .unwrap_or_else(|| panic!("the key and its size: {f:#?}"));
    assert!(size >= 12.0, "{f:#?}");
    assert_eq!(
        f.detail[1], "Sampled all 53 keys of db 0; the biggest:",
        "{f:#?}"
    );
    assert_eq!(f.detail[2], format!("• {size:.1} MiB list {big}"), "{f:#?}");
    assert!(
        f.detail[3].starts_with("• 1.") && f.detail[3].ends_with(&format!(" MiB hash {medium}")),
        "{f:#?}"
    );
    assert!(
        f.detail[4].ends_with(&format!("string {prefix}cfg:password=••••")),
        "{f:#?}"
    );
    assert!(!all_text(&report).contains("hunter2"), "{report:#?}");
    // The latency monitor is off (the default): not a word about it.
    assert!(
        report.findings.iter().all(|f| f.check != "redis.latency"),
        "{report:#?}"
    );
}

#[tokio::test]
async fn a_latency_spike_is_named_where_the_monitor_is_on() {
    let server = server!("--latency-monitor-threshold", "100");
    let report = server.target("cache").run().await;
    assert_eq!(
        finding(&report, "redis.latency").summary,
        "Latency monitor on: no event over 100 ms recorded"
    );
    server.cmd(&["DEBUG", "SLEEP", "0.25"]).await.unwrap();
    let report = server.target("cache").run().await;
    let f = finding(&report, "redis.latency");
    assert_eq!(f.status, Status::Warn, "{f:#?}");
    assert!(
        f.summary.starts_with("Latency spike: command took "),
        "{f:#?}"
    );
    assert!(
        f.detail.iter().any(|d| d.starts_with("• command: latest ")),
        "{f:#?}"
    );
    assert!(
        f.evidence.as_deref().is_some_and(|e| e.contains("command")),
        "LATENCY DOCTOR's report: {f:#?}"
    );
}

/// Runs the diagnostic until `done` holds of its report (at most 5 s).
async fn until(
    server: &RedisServer,
    done: impl Fn(&medic_commands::Report) -> bool,
) -> medic_commands::Report {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    loop {
        let report = server.target("cache").run().await;
        if done(&report) {
            return report;
        }
        assert!(std::time::Instant::now() < deadline, "{report:#?}");
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}

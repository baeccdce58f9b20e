//! Unit tests of the session check's reading of INFO and of the connection step.

use super::*;
use crate::Status;

const MASTER: &str = include_str!("testdata/redis_info_7.0_master.txt");

fn now() -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp(1_769_841_127).unwrap()
}

fn with(base: &str, overrides: &[(&str, &str)]) -> Info {
    let mut info = Info::parse(base);
    for (k, v) in overrides {
        info.insert(k, v);
    }
    info
}

fn find<'a>(fs: &'a [Finding], check: &str) -> &'a Finding {
    fs.iter()
        .find(|f| f.check == check)
        .unwrap_or_else(|| panic!("no {check} in {fs:#?}"))
}

#[test]
fn a_healthy_master_is_all_ok() {
    let info = with(MASTER, &[("uptime_in_seconds", "3542400")]);
    let fs = info_findings(&info, now());
    assert!(fs.iter().all(|f| f.status == Status::Ok), "{fs:#?}");
    assert_eq!(
        find(&fs, "redis.uptime").summary,
        "Redis 7.0.15, up 41 days"
    );
    assert_eq!(find(&fs, "redis.clients").summary, "Clients 1/10000 (0 %)");
}

#[test]
fn an_absurd_uptime_is_read_as_a_long_one() {
    let info = with(MASTER, &[("uptime_in_seconds", "9223372036854775807")]);
    let f = find(&info_findings(&info, now()), "redis.uptime").clone();
    assert_eq!(f.status, Status::Ok);
    assert_eq!(f.summary, "Redis 7.0.15, up 106751991167300 days");
}

#[test]
fn a_recent_restart_is_a_warning_with_its_time() {
    let info = with(MASTER, &[("uptime_in_seconds", "180")]);
    let f = find(&info_findings(&info, now()), "redis.uptime").clone();
    assert_eq!(f.status, Status::Warn);
    assert_eq!(f.summary, "Redis restarted at 06:29:07 UTC (3 min ago)");
}

#[test]
fn clients_near_maxclients_escalate() {
    let info = with(
        MASTER,
        &[
            ("connected_clients", "9600"),
            ("uptime_in_seconds", "99999"),
        ],
    );
    let f = find(&info_findings(&info, now()), "redis.clients").clone();
    assert_eq!(f.status, Status::Critical);
    assert_eq!(f.summary, "Clients 9600/10000 (96 %)");
    let info = with(MASTER, &[("connected_clients", "8100")]);
    assert_eq!(
        find(&info_findings(&info, now()), "redis.clients").status,
        Status::Warn
    );
}

#[test]
fn memory_at_maxmemory_depends_on_the_policy() {
    let full = [("used_memory", "1030000000"), ("maxmemory", "1073741824")];
    let info = with(MASTER, &full);
    let f = find(&info_findings(&info, now()), "redis.memory").clone();
    assert_eq!(
        f.status,
        Status::Critical,
        "noeviction at the limit refuses writes"
    );
    assert!(
        f.summary.contains("of 1.0 GiB maxmemory (96 %)"),
        "{}",
        f.summary
    );

    let info = with(
        MASTER,
        &[full[0], full[1], ("maxmemory_policy", "allkeys-lru")],
    );
    let f = find(&info_findings(&info, now()), "redis.memory").clone();
    assert_eq!(f.status, Status::Warn, "a cache at its limit evicts");
}

#[test]
fn evictions_and_rejections_are_reported() {
    let info = with(
        MASTER,
        &[("evicted_keys", "1234"), ("rejected_connections", "7")],
    );
    let fs = info_findings(&info, now());
    assert_eq!(
        find(&fs, "redis.evictions").summary,
        "1234 keys evicted since start (policy noeviction)"
    );
    assert_eq!(find(&fs, "redis.rejected").status, Status::Warn);
}

#[test]
fn urls_are_validated() {
    let t = |u: &str| RedisTarget {
        url: SecretUrl::parse(u).unwrap(),
        ..RedisTarget::local_default()
    };
    assert!(t("redis://10.0.1.1:6379").validate().is_ok());
    assert!(
        t("rediss://10.0.1.1:6379")
            .validate()
            .unwrap_err()
            .contains("TLS")
    );
    assert!(t("http://10.0.1.1").validate().is_err());
    assert_eq!(t("redis://:pw@10.0.1.1").location(), "10.0.1.1:6379");
}

#[tokio::test]
async fn a_dead_port_is_a_finding_not_an_error() {
    // Port 1 on loopback: nothing listens there on any sane machine.
    let target = RedisTarget {
        url: SecretUrl::parse("redis://:topsecret@127.0.0.1:1").unwrap(),
        ..RedisTarget::local_default()
    };
    let fs = target.open().await.findings.as_ref().clone();
    assert_eq!(fs.len(), 1);
    assert_eq!(fs[0].status, Status::Critical);
    assert!(
        fs[0]
            .summary
            .starts_with("Connection refused by 127.0.0.1:1 after"),
        "{}",
        fs[0].summary
    );
    assert!(!format!("{fs:?}").contains("topsecret"));
}

#[tokio::test]
async fn a_silent_server_is_named_by_the_session_not_cut_off_by_the_timeout() {
    // A loopback port that accepts and never answers (held open by the
    // listener's backlog; nothing ever reads).
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    // A connect_timeout longer than timeout: the session must still give
    // up inside the check's timeout and say what happened.
    let target = crate::diagnostics::Target {
        name: "silent".into(),
        spec: crate::diagnostics::TargetSpec::Redis(RedisTarget {
            url: SecretUrl::parse(&format!("redis://:topsecret@{addr}")).unwrap(),
            connect_timeout: Duration::from_secs(5),
            timeout: Duration::from_millis(1500),
        }),
    };
    // Generous: catches a hang, times nothing.
    let report = tokio::time::timeout(Duration::from_secs(20), target.run())
        .await
        .expect("the redis diagnostic finishes");
    let session = find(&report.findings, "redis.session");
    assert_eq!(session.status, Status::Critical, "{session:#?}");
    assert_eq!(
        session.summary,
        format!("Redis at {addr} accepted the connection but did not answer"),
        "{:#?}",
        report.findings
    );
    assert!(!format!("{report:?}").contains("topsecret"));
    drop(listener);
}

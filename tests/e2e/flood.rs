//! A flood of slow clients does not stop medic answering Slack (#26).
//!
//! A real `medic serve` process, held to 1,024 file descriptors as many
//! hosts hold services, gets 1,500 connections that send their headers
//! and then trickle their bodies a byte at a time — each reopened as soon
//! as medic closes it, as an attacker keeps a flood up. Meanwhile Slack
//! sends 15 signed slash commands: each must be answered 200 within
//! Slack's own 3 s, also one sent two seconds after its connection opened,
//! and medic's descriptors and memory stay bounded.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use medic_tests::db::TestDb;
use medic_tests::fakes::slack::FakeSlack;
use medic_tests::signing::{post_slash, slack_signature, slash_form};
use medic_tests::wait::eventually;
use medic_tests::{BOT_TOKEN, SIGNING_SECRET, dead_redis_target, ephemeral_text};
use rustix::process::{Pid, Resource, Rlimit, getrlimit, prlimit, setrlimit};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::task::JoinSet;

use super::child::Process;

/// The slow clients the attacker keeps connected.
const FLOOD: usize = 1500;
/// medic's file-descriptor soft limit, a common default.
const MEDIC_NOFILE: u64 = 1024;
/// The signed slash commands sent during the flood.
const COMMANDS: usize = 15;
/// Slack's deadline for an answer to a slash command.
const SLACK_DEADLINE: Duration = Duration::from_secs(3);
/// Far above what medic needs with its connections capped; far below
/// what it would take were every flood connection to buffer a body.
const RSS_BOUND_KIB: u64 = 256 * 1024;
const CHANNEL: &str = "C0FLOOD";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_bodies_from_1500_connections_leave_slash_commands_answered_in_time() {
    ensure_own_nofile(FLOOD as u64 + 512);
    let slack = FakeSlack::start(BOT_TOKEN).await;
    let db = TestDb::fresh().await;
    let (dirs, ports) =
        super::child::replica_dirs(1, db.url(), &slack, &dead_redis_target("cache").await).await;
    let (dir, port) = (&dirs[0], ports[0]);
    let medic = Process::start(dir.path(), port, 0).await;
    let pid = Pid::from_raw(i32::try_from(medic.pid()).unwrap()).expect("a child's pid");
    prlimit(
        Some(pid),
        Resource::Nofile,
        Rlimit {
            current: Some(MEDIC_NOFILE),
            maximum: Some(4096),
        },
    )
    .expect("lower medic's file-descriptor limit");

    let peak = Arc::new(Peak::default());
    let mut background = JoinSet::new();
    background.spawn(Arc::clone(&peak).watch(medic.pid()));
    for _ in 0..FLOOD {
        background.spawn(slow_client(port));
    }
    // The flood is on once medic holds as many connections as its
    // limits let it; the commands go in from then on.
    eventually(
        "the flood to fill medic's connections",
        Duration::from_secs(30),
        || {
            let fds = peak.fds.load(Ordering::Relaxed);
            async move {
                if fds >= 500 {
                    Ok(())
                } else {
                    Err(format!("{fds} descriptors open"))
                }
            }
        },
    )
    .await;

    // A Slack connection that sends its command two seconds after it has
    // opened (a busy sender, a slow network), while the commands below
    // go in: the flood's new connections must not push it out first.
    let late = tokio::spawn(late_speaker(
        port,
        slash_form(
            "/diag",
            "cache",
            CHANNEL,
            "U0LATE",
            "oncall",
            &slack.response_url("late"),
        ),
    ));

    let mut slowest = Duration::ZERO;
    // Spread over a few seconds of the flood, not sent in one burst.
    let mut pace = tokio::time::interval(Duration::from_millis(200));
    for i in 0..COMMANDS {
        pace.tick().await;
        // A new connection for each, as a Slack request comes in: a pooled
        // one could have been closed while idle, which is the flood's
        // doing, not a refusal.
        let http = reqwest::Client::builder()
            .pool_max_idle_per_host(0)
            .build()
            .unwrap();
        let body = slash_form(
            "/diag",
            "cache",
            CHANNEL,
            &format!("U0FLOOD{i:02}"),
            "oncall",
            &slack.response_url(&format!("flood{i}")),
        );
        let started = Instant::now();
        let answer = tokio::time::timeout(SLACK_DEADLINE, async {
            let response = post_slash(&http, port, body).await.unwrap_or_else(|error| {
                panic!("slash command {i}: {error:?}; medic's peak: {peak}")
            });
            ephemeral_text(response).await
        })
        .await
        .unwrap_or_else(|_| {
            panic!(
                "slash command {i} unanswered after {SLACK_DEADLINE:?} \
                 (Slack has given up); medic's peak: {peak}; its log:\n{}",
                medic.log_text()
            )
        });
        assert!(!answer.is_empty(), "command {i}: an empty answer");
        slowest = slowest.max(started.elapsed());
        eprintln!(
            "flood: command {i} answered in {:?}; peak {peak}",
            started.elapsed()
        );
    }
    let late = late.await.unwrap();
    assert!(
        late.starts_with("HTTP/1.1 200 OK"),
        "the command sent two seconds after connecting: {late:?}; medic's peak: {peak}"
    );
    let metrics = reqwest::get(format!("http://127.0.0.1:{port}/metrics"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    background.abort_all();

    let fds = peak.fds.load(Ordering::Relaxed);
    let rss = peak.rss_kib.load(Ordering::Relaxed);
    eprintln!("flood: slowest answer {slowest:?}; medic's peak: {peak}");
    assert!(
        fds < MEDIC_NOFILE,
        "medic ran out of file descriptors: {fds}"
    );
    assert!(rss < RSS_BOUND_KIB, "medic's memory grew to {rss} KiB");
    let evicted = metrics
        .lines()
        .find(|l| l.starts_with("medic_http_connections_shed_total{reason=\"evicted\"}"))
        .unwrap_or_else(|| panic!("no eviction counter in:\n{metrics}"));
    assert_ne!(evicted.split(' ').nth(1), Some("0"), "{evicted}");
}

/// The highest descriptor count and resident memory medic showed, read
/// from `/proc` while the flood runs.
#[derive(Default)]
struct Peak {
    fds: AtomicU64,
    rss_kib: AtomicU64,
}

impl Peak {
    async fn watch(self: Arc<Self>, pid: u32) {
        let mut every = tokio::time::interval(Duration::from_millis(50));
        loop {
            every.tick().await;
            let fds = std::fs::read_dir(format!("/proc/{pid}/fd")).map_or(0, |d| d.count());
            self.fds.fetch_max(fds as u64, Ordering::Relaxed);
            let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
            let rss = status
                .lines()
                .find_map(|l| l.strip_prefix("VmRSS:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
                .unwrap_or(0);
            self.rss_kib.fetch_max(rss, Ordering::Relaxed);
        }
    }
}

impl std::fmt::Display for Peak {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} descriptors, {} KiB resident",
            self.fds.load(Ordering::Relaxed),
            self.rss_kib.load(Ordering::Relaxed)
        )
    }
}

/// One attacker's connection, kept up: headers of a slash command with a
/// 4 KiB body, then a byte of it every half second; once medic closes it,
/// another after a second.
async fn slow_client(port: u16) {
    const HEAD: &[u8] = b"POST /slack/commands HTTP/1.1\r\nHost: medic\r\n\
        Content-Type: application/x-www-form-urlencoded\r\n\
        X-Slack-Request-Timestamp: 1700000000\r\nX-Slack-Signature: v0=00\r\n\
        Content-Length: 4096\r\n\r\n";
    loop {
        if let Ok(mut stream) = TcpStream::connect(("127.0.0.1", port)).await
            && stream.write_all(HEAD).await.is_ok()
        {
            let mut answer = [0u8; 512];
            let mut trickle = tokio::time::interval(Duration::from_millis(500));
            loop {
                tokio::select! {
                    // An answer (408) or a close: this one is done.
                    _ = stream.read(&mut answer) => break,
                    _ = trickle.tick() => {
                        if stream.write_all(b"a").await.is_err() {
                            break;
                        }
                    }
                }
            }
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}

/// Opens a connection, sends the signed slash command `body` on it two
/// seconds later, and returns what medic answered within Slack's deadline
/// after that (empty if it closed the connection instead).
async fn late_speaker(port: u16, body: String) -> String {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
    // The client's own delay, not a wait for anything.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let ts = medic_tests::now_unix();
    let signature = slack_signature(SIGNING_SECRET, ts, body.as_bytes());
    let request = format!(
        "POST /slack/commands HTTP/1.1\r\nHost: medic\r\n\
         Content-Type: application/x-www-form-urlencoded\r\n\
         X-Slack-Request-Timestamp: {ts}\r\nX-Slack-Signature: {signature}\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    // A refused write shows as an empty answer below.
    let _ = stream.write_all(request.as_bytes()).await;
    let mut answer = Vec::new();
    let _ = tokio::time::timeout(SLACK_DEADLINE, stream.read_to_end(&mut answer)).await;
    String::from_utf8_lossy(&answer).into_owned()
}

/// Makes sure this test process may open `needed` descriptors, raising its
/// soft limit up to the hard one if it must.
fn ensure_own_nofile(needed: u64) {
    let limit = getrlimit(Resource::Nofile);
    if limit.current.is_some_and(|soft| soft < needed) {
        let raised = Rlimit {
            current: limit.maximum.map(|hard| hard.min(needed * 2)),
            maximum: limit.maximum,
        };
        setrlimit(Resource::Nofile, raised).expect("raise the test's descriptor limit");
    }
    let soft = getrlimit(Resource::Nofile).current;
    assert!(
        soft.is_none_or(|soft| soft >= needed),
        "the flood test needs {needed} file descriptors; its limit is {soft:?}"
    );
}

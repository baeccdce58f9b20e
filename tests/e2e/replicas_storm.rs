//! Three `medic serve` processes on one PostgreSQL and one Redis, behind a
//! round-robin "load balancer", take an alert storm — 300 distinct
//! Alertmanager alerts over ten team channels, 30 % of them delivered
//! twice — and 20 `/diag`s, while one replica is killed with SIGKILL and
//! started again half-way. In the end every alert is in its channel once,
//! every message was posted once, every incident's runbook reported once,
//! every `/diag` was answered once, and Slack never had to say 429.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use medic::storage::Store;
use medic_commands::diagnostics::SecretUrl;
use medic_tests::db::TestDb;
use medic_tests::fakes::slack::FakeSlack;
use medic_tests::signing::{post_slash, slash_form};
use medic_tests::wait::eventually;
use medic_tests::{BOT_TOKEN, redis_target, require_redis, store_idle};
use tokio::task::JoinSet;

use super::child::{Process, replica_dirs};
use super::crash::firing;
use super::replicas::duties;

const TOKEN: &str = "am-storm-t0ken";
const ALERTS: usize = 300;
const TEAMS: usize = 10;
const REPLICAS: usize = 3;
/// `/diag`s: each target in each of the first channels, so that none
/// joins another (each must be answered by its own report).
const DIAG_TARGETS: usize = 4;
const DIAG_CHANNELS: usize = 5;
/// The runbook's target: its name is in each runbook report.
const RUNBOOK: &str = "dbport";
const LIMIT: Duration = Duration::from_secs(240);

fn channel(team: usize) -> String {
    format!("C0STORM{team}")
}

/// The probe word in alert `i`'s title: three digits, so that no probe
/// is a prefix of another.
fn probe(i: usize) -> String {
    format!("StormProbe{i:03}")
}

/// Alert `i`'s notification, labelled with its team.
fn payload(i: usize) -> String {
    firing(&probe(i), &format!("t{}", i % TEAMS), i as u64 + 0x5700)
}

/// The load balancer: delivery `n` goes to replica `n % 3`; a replica
/// that does not answer 2xx (it is dead) is skipped for the next, as a
/// balancer's retry would. `true` once some replica took it.
async fn deliver(http: &reqwest::Client, ports: &[u16], n: usize, body: String) -> bool {
    for k in 0..ports.len() {
        let port = ports[(n + k) % ports.len()];
        let ok = http
            .post(format!("http://127.0.0.1:{port}/webhooks/alertmanager"))
            .bearer_auth(TOKEN)
            .header("content-type", "application/json")
            .body(body.clone())
            .send()
            .await
            .is_ok_and(|r| r.status().is_success());
        if ok {
            return true;
        }
    }
    false
}

/// A signed `/diag TARGET` typed in `channel`, through the balancer; the
/// ephemeral answer.
async fn diag(
    http: &reqwest::Client,
    slack: &FakeSlack,
    ports: &[u16],
    n: usize,
    channel: &str,
    target: &str,
) -> String {
    let body = slash_form(
        "/diag",
        target,
        channel,
        &format!("U0DIAG{n}"),
        "someone",
        &slack.response_url(&format!("d{n}")),
    );
    for k in 0..ports.len() {
        let port = ports[(n + k) % ports.len()];
        let answer = post_slash(http, port, body.clone()).await;
        if let Ok(r) = answer
            && r.status().is_success()
            && let Ok(v) = r.json::<serde_json::Value>().await
        {
            return v["text"].as_str().unwrap_or_default().to_string();
        }
    }
    panic!("no replica answered /diag {target} in {channel}");
}

#[tokio::test]
async fn a_storm_through_three_replicas_with_one_killed_posts_everything_once() {
    let redis = require_redis!();
    let Some(db) = TestDb::postgres().await else {
        return;
    };
    let slack = FakeSlack::start(BOT_TOKEN).await;
    let mut config = String::new();
    for team in 0..TEAMS {
        config += &format!(
            "[[routes]]\nmatch = {{ labels = {{ team = \"t{team}\" }} }}\nslack_channel = \"{}\"\n\n",
            channel(team)
        );
    }
    // The runbook: is the database port open (the real Redis's, here).
    let address = redis.trim_start_matches("redis://").trim_end_matches('/');
    config += &format!(
        "[[runbooks]]\nmatch = {{ title = \"StormProbe\" }}\nrun = [\"{RUNBOOK}\"]\n\n\
         [targets.{RUNBOOK}]\nkind = \"tcp\"\naddress = \"{address}\"\n\n"
    );
    for t in 0..DIAG_TARGETS {
        config += &redis_target(&format!("fast{t}"), &redis);
    }
    let rest =
        format!("[redis]\nurl = \"{redis}\"\n\n[alertmanager]\ntoken = \"{TOKEN}\"\n\n{config}");
    let (dirs, ports) = replica_dirs(REPLICAS, db.url(), &slack, &rest).await;
    let mut replicas = Vec::new();
    for (run, dir) in dirs.iter().enumerate() {
        replicas.push(Process::start(dir.path(), ports[run], run).await);
    }

    // The storm: every alert once, 30 % of them twice (every tenth,
    // third and seventh), and a /diag every fifteenth delivery.
    let mut sends: Vec<usize> = (0..ALERTS).collect();
    sends.extend((0..ALERTS).filter(|i| matches!(i % 10, 0 | 3 | 7)));
    let http = reqwest::Client::new();
    let mut sending = JoinSet::new();
    let mut diags = JoinSet::new();
    let mut asked: Vec<(String, String)> = Vec::new();
    // The replica to kill: the one sending every chat message (the
    // `outbox` duty), so that its work must be taken over mid-storm.
    let holder = || async {
        for (k, port) in ports.iter().enumerate() {
            if duties(*port).await.iter().any(|d| d == "outbox") {
                return Some(k);
            }
        }
        None
    };
    eventually("the outbox held", Duration::from_secs(30), || async {
        holder()
            .await
            .map(|_| ())
            .ok_or_else(|| "no replica holds the outbox".to_string())
    })
    .await;
    let victim = holder().await.expect("held");
    let mut restarted = None;
    for (n, &i) in sends.iter().enumerate() {
        if n == sends.len() / 3 {
            // A third of the way through what is sent: SIGKILL the
            // outbox's holder (its duties, claims and runs with it), then
            // start it again.
            replicas[victim].kill();
            let dir = dirs[victim].path().to_path_buf();
            let port = ports[victim];
            restarted = Some(tokio::spawn(async move {
                Process::start(&dir, port, REPLICAS).await
            }));
        }
        let (h, p) = (http.clone(), ports.clone());
        sending.spawn(async move { (i, deliver(&h, &p, n, payload(i)).await) });
        if n % 15 == 7 && asked.len() < DIAG_TARGETS * DIAG_CHANNELS {
            let k = asked.len();
            let (c, t) = (
                channel(k % DIAG_CHANNELS),
                format!("fast{}", k / DIAG_CHANNELS),
            );
            asked.push((c.clone(), t.clone()));
            let (h, p, s) = (http.clone(), ports.clone(), slack.clone());
            diags.spawn(async move { diag(&h, &s, &p, n, &c, &t).await });
        }
    }
    while asked.len() < DIAG_TARGETS * DIAG_CHANNELS {
        let k = asked.len();
        let (c, t) = (
            channel(k % DIAG_CHANNELS),
            format!("fast{}", k / DIAG_CHANNELS),
        );
        asked.push((c.clone(), t.clone()));
        let (h, p, s) = (http.clone(), ports.clone(), slack.clone());
        diags.spawn(async move { diag(&h, &s, &p, 1000 + k, &c, &t).await });
    }
    let mut taken = BTreeSet::new();
    while let Some(Ok((i, ok))) = sending.join_next().await {
        if ok {
            taken.insert(i);
        }
    }
    assert_eq!(taken.len(), ALERTS, "every alert taken by some replica");
    while let Some(answer) = diags.join_next().await {
        let answer = answer.unwrap();
        assert!(answer.contains("Running diagnostics"), "{answer}");
    }
    replicas[victim] = restarted.unwrap().await.unwrap();

    // Every alert visible in its channel, in a root or a digest line.
    let unseen = || -> Vec<usize> {
        (0..ALERTS)
            .filter(|&i| {
                !slack
                    .roots_now(&channel(i % TEAMS))
                    .iter()
                    .any(|r| r.contains(&probe(i)))
            })
            .collect()
    };
    slack
        .changes()
        .wait_for(
            "every alert visible",
            LIMIT,
            || unseen().is_empty().then_some(()),
            || {
                format!(
                    "never visible: {:?}\n{}",
                    unseen(),
                    replicas
                        .iter()
                        .map(Process::log_text)
                        .collect::<Vec<_>>()
                        .join("\n---\n")
                )
            },
        )
        .await;
    // Then everything medic meant to post: once the database holds no
    // work, every post it was going to make is in the fake's record.
    let store = Store::connect(&SecretUrl::parse(db.url()).unwrap())
        .await
        .expect("open medic's database");
    eventually("medic idle", LIMIT, || store_idle(&store)).await;
    store.close().await;

    // Each alert in exactly one top-level message.
    for i in 0..ALERTS {
        let holding = slack
            .roots_now(&channel(i % TEAMS))
            .iter()
            .filter(|r| r.contains(&probe(i)))
            .count();
        assert_eq!(holding, 1, "{} in {holding} top-level messages", probe(i));
    }
    // Every message posted once: no outbox row's marker twice.
    let mut markers: BTreeMap<String, usize> = BTreeMap::new();
    for call in slack.calls() {
        if call.method == "chat.postMessage" && call.status == 200 && call.error.is_none() {
            let marker = call.body["metadata"]["event_payload"]["outbox_id"]
                .as_str()
                .map(str::to_string)
                .unwrap_or_else(|| panic!("an unmarked post: {}", call.body));
            *markers.entry(marker).or_default() += 1;
        }
    }
    let twice: Vec<_> = markers.iter().filter(|(_, n)| **n > 1).collect();
    assert!(twice.is_empty(), "posted more than once: {twice:?}");
    // Every incident's runbook reported once, and a storm on one host is
    // not a line per pair of incidents.
    let replies: Vec<String> = (0..TEAMS)
        .flat_map(|team| slack.posts_in(&channel(team)))
        .filter(|p| p.thread_ts().is_some())
        .map(|p| p.all_text())
        .collect();
    // A report's summary names its target in bold: `*dbport* (address)`.
    let summary = format!("*{RUNBOOK}* (");
    let reports = replies.iter().filter(|t| t.contains(&summary)).count();
    assert_eq!(reports, ALERTS, "one runbook report per incident");
    let same_event = replies
        .iter()
        .filter(|t| t.contains("Same event as"))
        .count();
    assert!(
        same_event <= ALERTS + 3,
        "{same_event} correlation lines for {ALERTS} incidents of one host"
    );
    eprintln!("{} thread replies in all", replies.len());
    // Every /diag answered by one report.
    for (c, t) in &asked {
        let reports = slack
            .posts_in(c)
            .iter()
            .filter(|p| {
                p.thread_ts().is_none()
                    && p.all_text().contains(t)
                    && !p.all_text().contains("StormProbe")
            })
            .count();
        assert_eq!(reports, 1, "/diag {t} in {c}: {reports} reports");
    }
    assert_eq!(slack.rate_limited(), 0, "Slack's pace held by the cluster");
    drop(replicas);
    db.drop_database().await;
}

//! `medic-bench-diag`: how long `medic diag all` takes over 20 targets when
//! one of them is dead, against the goal "within the slowest timeout plus
//! 100 ms" (issue #3). Prints figures; checks none of them.
//!
//! The 20 targets mix every kind medic has, all on loopback: Redis and
//! PostgreSQL (the servers given), this machine as `host`, and http, tcp,
//! tls and dns targets against servers this bench starts itself
//! ([`loopback`]). One of them is dead, of the kind `--dead-kind` names: a
//! loopback port that accepts connections and never answers (a blackholed
//! service behind a live TCP stack: the worst case, because nothing fails
//! fast), or for dns a UDP port that never replies.
//!
//! Each round runs the real binary, `medic diag all --json --config FILE`,
//! and reads the per-target times from its JSON, so the figure includes
//! everything a user waits for: start-up, config, every check, output.

mod loopback;

use std::io::Read;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

const USAGE: &str = "\
medic-bench-diag: times `medic diag all` over 20 targets with one dead.

USAGE (from the repository root):
  cargo build --release -p medic -p medic-tests
  target/release/medic-bench-diag [OPTIONS]

OPTIONS:
  --rounds N        runs of `medic diag all`            [10]
  --timeout S       the dead target's (and every) timeout, seconds  [2]
  --redis URL       Redis for the live redis targets    [redis://127.0.0.1:6379]
  --postgres URL    PostgreSQL for the live postgres targets (without it,
                    their places go to more redis targets)
  --dead-kind KIND  the dead target's kind: redis, postgres, http, tcp,
                    tls or dns                          [redis]
  --medic PATH      medic binary (default: next to this one)
";

/// The kinds a dead target can be (host has no address to blackhole).
const DEAD_KINDS: [&str; 6] = ["redis", "postgres", "http", "tcp", "tls", "dns"];

struct Options {
    rounds: usize,
    timeout: u64,
    redis: String,
    postgres: Option<String>,
    dead_kind: String,
    medic: PathBuf,
}

fn parse() -> Options {
    let mut o = Options {
        rounds: 10,
        timeout: 2,
        redis: "redis://127.0.0.1:6379".into(),
        postgres: None,
        dead_kind: "redis".into(),
        medic: std::env::current_exe()
            .expect("own path")
            .with_file_name("medic"),
    };
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let mut value = || args.next().unwrap_or_else(|| panic!("{a} needs a value"));
        match a.as_str() {
            "--rounds" => o.rounds = value().parse().expect("--rounds N"),
            "--timeout" => o.timeout = value().parse().expect("--timeout S"),
            "--redis" => o.redis = value(),
            "--postgres" => o.postgres = Some(value()),
            "--dead-kind" => o.dead_kind = value(),
            "--medic" => o.medic = value().into(),
            "-h" | "--help" => {
                print!("{USAGE}");
                std::process::exit(0);
            }
            other => {
                eprint!("unknown option {other}\n\n{USAGE}");
                std::process::exit(64);
            }
        }
    }
    if !DEAD_KINDS.contains(&o.dead_kind.as_str()) {
        eprint!(
            "--dead-kind {} is not one of {DEAD_KINDS:?}\n\n{USAGE}",
            o.dead_kind
        );
        std::process::exit(64);
    }
    o
}

/// Where the live loopback services listen.
struct Live {
    http: SocketAddr,
    tls: SocketAddr,
    ca_file: PathBuf,
    dns: SocketAddr,
}

/// The dead target's body: its kind pointed at a port that never answers.
fn dead_body(o: &Options, live: &Live) -> String {
    let t = o.timeout;
    match o.dead_kind.as_str() {
        "redis" => format!(
            "kind = \"redis\"\nurl = \"redis://127.0.0.1:{}\"\nconnect_timeout = \"{t}s\"",
            loopback::silent_tcp()
        ),
        "postgres" => format!(
            "kind = \"postgres\"\nurl = \"postgres://medic@127.0.0.1:{}/postgres\"\nconnect_timeout = \"{t}s\"",
            loopback::silent_tcp()
        ),
        "http" => format!(
            "kind = \"http\"\nurl = \"http://127.0.0.1:{}/health\"",
            loopback::silent_tcp()
        ),
        // Without `expect` a port that accepts is a live one to tcp.
        "tcp" => format!(
            "kind = \"tcp\"\naddress = \"127.0.0.1:{}\"\nexpect = \"SSH-\"",
            loopback::silent_tcp()
        ),
        "tls" => format!(
            "kind = \"tls\"\naddress = \"127.0.0.1:{}\"\nca_file = {:?}",
            loopback::silent_tcp(),
            live.ca_file
        ),
        "dns" => format!(
            "kind = \"dns\"\nname = \"{}\"\nserver = \"127.0.0.1:{}\"",
            loopback::DNS_NAME,
            loopback::silent_udp()
        ),
        other => unreachable!("checked in parse: {other}"),
    }
}

/// The 19 live targets: 5 redis, 3 postgres (redis without `--postgres`),
/// host, 3 http, 3 tcp, 2 tls, 2 dns.
fn live_bodies(o: &Options, live: &Live) -> Vec<String> {
    let mut bodies = Vec::new();
    let redis = format!("kind = \"redis\"\nurl = \"{}\"", o.redis);
    bodies.extend(std::iter::repeat_n(redis.clone(), 5));
    let postgres = match &o.postgres {
        Some(url) => format!("kind = \"postgres\"\nurl = \"{url}\""),
        None => redis,
    };
    bodies.extend(std::iter::repeat_n(postgres, 3));
    bodies.push("kind = \"host\"".into());
    bodies.extend(std::iter::repeat_n(
        format!(
            "kind = \"http\"\nurl = \"http://{}/health\"\nexpect_status = 200\nexpect_body = \"{}\"",
            live.http,
            loopback::HTTP_BODY
        ),
        3,
    ));
    bodies.extend(std::iter::repeat_n(
        format!("kind = \"tcp\"\naddress = \"{}\"", live.http),
        3,
    ));
    bodies.extend(std::iter::repeat_n(
        format!(
            "kind = \"tls\"\naddress = \"{}\"\nca_file = {:?}",
            live.tls, live.ca_file
        ),
        2,
    ));
    let [a, b, c, d] = loopback::DNS_ANSWER;
    bodies.extend(std::iter::repeat_n(
        format!(
            "kind = \"dns\"\nname = \"{}\"\nserver = \"{}\"\nexpect = \"{a}.{b}.{c}.{d}\"",
            loopback::DNS_NAME,
            live.dns
        ),
        2,
    ));
    bodies
}

/// The config: the dead target first, then the 19 live ones, every
/// timeout the same. Names say the kind (`t01-dead-redis`, `t07-postgres`).
fn config(o: &Options, live: &Live) -> String {
    let mut bodies = vec![dead_body(o, live)];
    bodies.extend(live_bodies(o, live));
    assert_eq!(bodies.len(), 20, "20 targets");
    bodies
        .iter()
        .enumerate()
        .map(|(i, body)| {
            let kind = body
                .split('"')
                .nth(1)
                .expect("every body starts with its kind");
            let dead = if i == 0 { "dead-" } else { "" };
            format!(
                "[targets.t{:02}-{dead}{kind}]\n{body}\ntimeout = \"{}s\"\n\n",
                i + 1,
                o.timeout
            )
        })
        .collect()
}

/// Starts the loopback services on a runtime of their own, which keeps
/// serving (on its worker thread) while the rounds run.
fn start_live(dir: &Path) -> (tokio::runtime::Runtime, Live) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("runtime");
    let live = runtime.block_on(async {
        let (tls, ca_file) = loopback::tls(dir).await;
        Live {
            http: loopback::http().await,
            tls,
            ca_file,
            dns: loopback::dns().await,
        }
    });
    (runtime, live)
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    let rank = ((p / 100.0) * sorted.len() as f64).ceil().max(1.0) as usize;
    sorted[rank.min(sorted.len()) - 1]
}

/// A report's status: its worst finding's (`unknown` when it has none).
fn report_status(report: &serde_json::Value) -> &str {
    // As medic's `Status` serializes; anything else counts as the worst.
    const ORDER: [&str; 4] = ["ok", "unknown", "warn", "critical"];
    report["findings"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|f| f["status"].as_str())
        .max_by_key(|s| ORDER.iter().position(|o| o == s).unwrap_or(ORDER.len()))
        .unwrap_or("unknown")
}

fn main() {
    let o = parse();
    let dir = tempfile::tempdir().expect("temp dir");
    let (_runtime, live) = start_live(dir.path());
    let path = dir.path().join("medic.toml");
    std::fs::write(&path, config(&o, &live)).expect("write config");
    let limit = Duration::from_secs(o.timeout);

    println!(
        "medic diag all: 20 targets of 7 kinds on loopback, 1 dead ({}), every timeout {} s, {} rounds",
        o.dead_kind, o.timeout, o.rounds
    );
    println!(
        "| round | wall ms | over the timeout ms | slowest target ms | slowest target | dead target ms | the dead target says | live targets not ok | status |"
    );
    println!("|---:|---:|---:|---:|---|---:|---|---|---|");
    let mut walls = Vec::new();
    for round in 1..=o.rounds {
        let started = Instant::now();
        let mut child = Command::new(&o.medic)
            .args(["diag", "all", "--json", "--config"])
            .arg(&path)
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("run medic");
        let mut stdout = String::new();
        child
            .stdout
            .take()
            .expect("stdout")
            .read_to_string(&mut stdout)
            .expect("read");
        child.wait().expect("medic exits");
        let wall = started.elapsed();
        let json: serde_json::Value = serde_json::from_str(&stdout).expect("JSON out");
        let reports = json["reports"].as_array().cloned().unwrap_or_default();
        assert_eq!(reports.len(), 20, "a report per target: {stdout}");
        let elapsed = |r: &serde_json::Value| r["elapsed"].as_u64().unwrap_or(0);
        let name = |r: &serde_json::Value| r["target"]["name"].as_str().unwrap_or("?").to_string();
        let slowest = reports
            .iter()
            .max_by_key(|r| elapsed(r))
            .expect("20 reports");
        let dead = reports
            .iter()
            .find(|r| name(r).contains("-dead-"))
            .expect("the dead target's report");
        // Its worst finding's summary: which check went silent, and why.
        let says = dead["findings"][0]["summary"]
            .as_str()
            .unwrap_or("?")
            .replace('|', "/");
        // Live targets that were not ok, by kind and status ("redis warn ×5").
        let mut not_ok = std::collections::BTreeMap::<String, usize>::new();
        for r in reports.iter().filter(|r| !name(r).contains("-dead-")) {
            if report_status(r) != "ok" {
                let kind = r["target"]["kind"].as_str().unwrap_or("?");
                *not_ok
                    .entry(format!("{kind} {}", report_status(r)))
                    .or_default() += 1;
            }
        }
        let not_ok: Vec<String> = not_ok.iter().map(|(k, n)| format!("{k} ×{n}")).collect();
        let over = wall.as_secs_f64() * 1000.0 - limit.as_secs_f64() * 1000.0;
        walls.push(wall.as_secs_f64() * 1000.0);
        println!(
            "| {round} | {:.0} | {over:+.0} | {} | {} | {} | {says} | {} | {} |",
            wall.as_secs_f64() * 1000.0,
            elapsed(slowest),
            name(slowest),
            elapsed(dead),
            if not_ok.is_empty() {
                "none".to_string()
            } else {
                not_ok.join(", ")
            },
            json["status"].as_str().unwrap_or("?"),
        );
    }
    walls.sort_by(f64::total_cmp);
    let timeout_ms = limit.as_secs_f64() * 1000.0;
    println!(
        "\nwall: p50 {:.0} ms, max {:.0} ms; over the slowest timeout: p50 {:+.0} ms, max {:+.0} ms (goal ≤ +100 ms)",
        percentile(&walls, 50.0),
        percentile(&walls, 100.0),
        percentile(&walls, 50.0) - timeout_ms,
        percentile(&walls, 100.0) - timeout_ms,
    );
}

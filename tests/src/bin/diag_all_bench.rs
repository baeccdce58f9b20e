//! `medic-bench-diag`: how long `medic diag all` takes over 20 targets when
//! one of them is dead, against the goal "within the slowest timeout plus
//! 100 ms" (issue #3). Prints figures; checks none of them.
//!
//! The dead target is a loopback port that accepts connections and never
//! answers (a blackholed service behind a live TCP stack: the worst case,
//! because nothing fails fast). The other 19 are real services on this
//! machine: Redis, PostgreSQL when given, and this machine as `host`.
//!
//! Each round runs the real binary, `medic diag all --json --config FILE`,
//! and reads the per-target times from its JSON, so the figure includes
//! everything a user waits for: start-up, config, every check, output.

use std::io::Read;
use std::net::TcpListener;
use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

const USAGE: &str = "\
medic-bench-diag: times `medic diag all` over 20 targets with one dead.

USAGE (from the repository root, Redis on 127.0.0.1:6379):
  cargo build --release -p medic -p medic-tests
  target/release/medic-bench-diag [OPTIONS]

OPTIONS:
  --rounds N      runs of `medic diag all`            [10]
  --timeout S     the dead target's (and every) timeout, seconds  [2]
  --redis URL     Redis for the live targets          [redis://127.0.0.1:6379]
  --postgres URL  PostgreSQL for live targets (optional)
  --medic PATH    medic binary (default: next to this one)
";

struct Options {
    rounds: usize,
    timeout: u64,
    redis: String,
    postgres: Option<String>,
    medic: PathBuf,
}

fn parse() -> Options {
    let mut o = Options {
        rounds: 10,
        timeout: 2,
        redis: "redis://127.0.0.1:6379".into(),
        postgres: None,
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
    o
}

/// Accepts connections on a loopback port and never answers; returns the
/// port. The thread lives as long as the process.
fn blackhole() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("addr").port();
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for stream in listener.incoming().flatten() {
            held.push(stream);
        }
    });
    port
}

/// The config: 19 live targets and one dead one, every timeout the same.
fn config(o: &Options, dead_port: u16) -> String {
    let t = o.timeout;
    let mut bodies = vec![
        format!(
            "kind = \"redis\"\nurl = \"redis://127.0.0.1:{dead_port}\"\nconnect_timeout = \"{t}s\""
        ),
        "kind = \"host\"".to_string(),
    ];
    if let Some(pg) = &o.postgres {
        for _ in 0..3 {
            bodies.push(format!("kind = \"postgres\"\nurl = \"{pg}\""));
        }
    }
    while bodies.len() < 20 {
        bodies.push(format!("kind = \"redis\"\nurl = \"{}\"", o.redis));
    }
    bodies
        .iter()
        .enumerate()
        .map(|(i, body)| format!("[targets.t{:02}]\n{body}\ntimeout = \"{t}s\"\n\n", i + 1))
        .collect()
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    let rank = ((p / 100.0) * sorted.len() as f64).ceil().max(1.0) as usize;
    sorted[rank.min(sorted.len()) - 1]
}

fn main() {
    let o = parse();
    let dead = blackhole();
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("medic.toml");
    std::fs::write(&path, config(&o, dead)).expect("write config");
    let limit = Duration::from_secs(o.timeout);

    println!(
        "medic diag all: 20 targets (1 blackholed on 127.0.0.1:{dead}), every timeout {} s, {} rounds",
        o.timeout, o.rounds
    );
    println!("| round | wall ms | over the timeout ms | slowest target ms | targets | status |");
    println!("|---:|---:|---:|---:|---:|---|");
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
        let slowest = reports
            .iter()
            .filter_map(|r| r["elapsed"].as_u64())
            .max()
            .unwrap_or(0);
        let over = wall.as_secs_f64() * 1000.0 - limit.as_secs_f64() * 1000.0;
        walls.push(wall.as_secs_f64() * 1000.0);
        println!(
            "| {round} | {:.0} | {over:+.0} | {slowest} | {} | {} |",
            wall.as_secs_f64() * 1000.0,
            reports.len(),
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

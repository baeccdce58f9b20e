//! `medic-bench`: medic's Slack slash-command acknowledgement path under
//! load, beside a bare hyper server that only checks the same signature (the
//! ceiling), measured the same way in the same run. Method and figures:
//! BENCHMARKS.md.
//!
//! ```text
//! cargo build --release -p medic -p medic-tests
//! target/release/medic-bench [--duration S] [--warmup S] [--concurrency N]
//!                            [--rounds N] [--slices N] [--drain S] [--skip-coalesced]
//!                            [--concurrent-diagnostics N] [--medic PATH]
//!                            [--redis URL] [--keep]
//! ```
//!
//! Both servers run as child processes of this binary (medic as
//! `medic serve --config …`, the ceiling as `medic-bench ceiling --port N`),
//! so each one's CPU time and memory are its own. The load generator and a
//! fake Slack Web API run in this process. It prints figures and asserts
//! nothing about them.

use std::fmt::Write as _;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use medic_tests::bench_support::{
    DisplayBuf, RssSampler, Server, bench_main, clock_ticks, connect, cpu_time, exchange, find,
    get_text, log_warnings, machine_busy, mb, medic_binary, memory_makeup, metric_sum,
    metric_sum_u64, nearest_rank, print_heading, redis_pid, rss_kb, start_ceiling, start_medic,
};
use medic_tests::signing::{slack_signature, slash_form};
use medic_tests::{BOT_TOKEN, FakeSlack, SIGNING_SECRET, now_unix};
use tokio::net::TcpStream;

const USAGE: &str = "\
medic-bench: drives a running medic with signed Slack slash commands and
compares it with a bare hyper server that only checks the same HMAC.

USAGE (from the repository root):
  cargo build --release -p medic -p medic-tests
  target/release/medic-bench [OPTIONS]

OPTIONS (each also readable from the environment variable shown):
  --duration S      measured seconds per scenario     [MEDIC_BENCH_DURATION, 10]
  --warmup S        unmeasured seconds before each    [MEDIC_BENCH_WARMUP, 3]
  --concurrency N   connections / requests in flight  [MEDIC_BENCH_CONCURRENCY, 64]
  --rounds N        ceiling + medic, N times          [MEDIC_BENCH_ROUNDS, 1]
  --drain S         longest wait for medic's backlog  [MEDIC_BENCH_DRAIN, 60]
  --slices N        measure the ceiling and medic's full path in N
                    alternating slices (each with its share of the
                    warm-up and duration), so that a shared machine's
                    drift falls on both alike; 1 = one after the other
                                                      [MEDIC_BENCH_SLICES, 5]
  --skip-coalesced  skip the one-channel (coalesced) scenario
  --medic PATH      medic binary (default: next to this one)
  --redis URL       diagnostic target   [MEDIC_BENCH_REDIS, redis://127.0.0.1:6379]
  --concurrent-diagnostics N
                    medic's limits.concurrent_diagnostics  [32, medic's default]
  --keep            keep the temporary directory (config, database, medic log)
";

/// What to run.
#[derive(Debug, Clone)]
struct Opts {
    duration: Duration,
    warmup: Duration,
    concurrency: usize,
    rounds: usize,
    drain: Duration,
    slices: usize,
    coalesced: bool,
    medic: Option<PathBuf>,
    redis: String,
    concurrent_diagnostics: usize,
    keep: bool,
}

fn env_or<T: std::str::FromStr>(name: &str, default: T) -> Result<T, String> {
    match std::env::var(name) {
        Ok(v) => v.parse().map_err(|_| format!("{name}={v} is not a number")),
        Err(_) => Ok(default),
    }
}

/// Seconds between 0 and an hour, as a duration.
fn seconds(what: &str, s: f64) -> Result<Duration, String> {
    if !(0.0..=3600.0).contains(&s) {
        return Err(format!("{what} {s}: between 0 and 3600 s"));
    }
    Ok(Duration::from_secs_f64(s))
}

impl Opts {
    fn parse(mut args: impl Iterator<Item = String>) -> Result<Opts, String> {
        let mut o = Opts {
            duration: seconds(
                "MEDIC_BENCH_DURATION",
                env_or("MEDIC_BENCH_DURATION", 10.0)?,
            )?,
            warmup: seconds("MEDIC_BENCH_WARMUP", env_or("MEDIC_BENCH_WARMUP", 3.0)?)?,
            concurrency: env_or("MEDIC_BENCH_CONCURRENCY", 64)?,
            rounds: env_or("MEDIC_BENCH_ROUNDS", 1)?,
            drain: seconds("MEDIC_BENCH_DRAIN", env_or("MEDIC_BENCH_DRAIN", 60.0)?)?,
            slices: env_or("MEDIC_BENCH_SLICES", 5)?,
            coalesced: true,
            medic: None,
            redis: std::env::var("MEDIC_BENCH_REDIS")
                .unwrap_or_else(|_| "redis://127.0.0.1:6379".into()),
            concurrent_diagnostics: 32,
            keep: false,
        };
        fn value(flag: &str, v: Option<String>) -> Result<String, String> {
            v.ok_or_else(|| format!("{flag} needs a value"))
        }
        fn secs(flag: &str, v: Option<String>) -> Result<Duration, String> {
            let v = value(flag, v)?;
            let s: f64 = v
                .parse()
                .map_err(|_| format!("{flag} {v}: not a number of seconds"))?;
            seconds(flag, s)
        }
        fn count(flag: &str, v: Option<String>) -> Result<usize, String> {
            let v = value(flag, v)?;
            v.parse().map_err(|_| format!("{flag} {v}: not a count"))
        }
        while let Some(a) = args.next() {
            match a.as_str() {
                "--duration" => o.duration = secs(&a, args.next())?,
                "--warmup" => o.warmup = secs(&a, args.next())?,
                "--drain" => o.drain = secs(&a, args.next())?,
                "--concurrency" => o.concurrency = count(&a, args.next())?,
                "--rounds" => o.rounds = count(&a, args.next())?,
                "--slices" => o.slices = count(&a, args.next())?,
                "--skip-coalesced" => o.coalesced = false,
                "--medic" => o.medic = Some(PathBuf::from(value(&a, args.next())?)),
                "--redis" => o.redis = value(&a, args.next())?,
                "--concurrent-diagnostics" => o.concurrent_diagnostics = count(&a, args.next())?,
                "--keep" => o.keep = true,
                "-h" | "--help" => return Err(String::new()),
                other => return Err(format!("unknown argument `{other}`")),
            }
        }
        if o.concurrency == 0 || o.rounds == 0 || o.slices == 0 || o.duration.is_zero() {
            return Err("--concurrency, --rounds, --slices and --duration must be above 0".into());
        }
        Ok(o)
    }
}

fn main() -> ExitCode {
    bench_main("medic-bench", USAGE, Opts::parse, ceiling::main, bench)
}

// ---------------------------------------------------------------------------
// The ceiling: bare hyper, the same signature check, the same small answer.
// ---------------------------------------------------------------------------

mod ceiling {
    use std::convert::Infallible;
    use std::process::ExitCode;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicU64, Ordering};

    use bytes::Bytes;
    use hmac::{Hmac, KeyInit, Mac};
    use http_body_util::{BodyExt, Full, Limited};
    use hyper::body::Incoming;
    use hyper::header::{CONTENT_TYPE, HeaderValue};
    use hyper::{Method, Request, Response, StatusCode};
    use medic_tests::bench_support::{MAX_BODY, block_on, ceiling_port, serve_bare, text};
    use sha2::Sha256;

    /// medic's replay window (`verify::MAX_SKEW_SECS`).
    const MAX_SKEW_SECS: i64 = 5 * 60;

    /// `medic-bench ceiling --port N`.
    pub fn main(args: impl Iterator<Item = String>) -> ExitCode {
        match ceiling_port("medic-bench", args) {
            Ok(port) => block_on("medic-bench ceiling", serve(port)),
            Err(code) => code,
        }
    }

    struct Ctx {
        /// Keyed once, cloned per request, as medic does.
        mac: Hmac<Sha256>,
        seq: AtomicU64,
    }

    async fn serve(port: u16) -> std::io::Result<()> {
        let ctx = Arc::new(Ctx {
            mac: <Hmac<Sha256> as KeyInit>::new_from_slice(medic_tests::SIGNING_SECRET.as_bytes())
                .expect("any key length"),
            seq: AtomicU64::new(1),
        });
        serve_bare(port, move |req| handle(ctx.clone(), req)).await
    }

    async fn handle(
        ctx: Arc<Ctx>,
        req: Request<Incoming>,
    ) -> Result<Response<Full<Bytes>>, Infallible> {
        match (req.method(), req.uri().path()) {
            (&Method::GET, "/healthz") => return Ok(text(StatusCode::OK, "ok\n")),
            (&Method::POST, "/slack/commands") => {}
            _ => return Ok(text(StatusCode::NOT_FOUND, "not found\n")),
        }
        let header = |name: &str| {
            req.headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(|s| s.trim().to_string())
        };
        let (Some(ts), Some(sig)) = (
            header("x-slack-request-timestamp"),
            header("x-slack-signature"),
        ) else {
            return Ok(text(StatusCode::UNAUTHORIZED, "invalid signature\n"));
        };
        let body = match Limited::new(req.into_body(), MAX_BODY).collect().await {
            Ok(b) => b.to_bytes(),
            Err(_) => return Ok(text(StatusCode::PAYLOAD_TOO_LARGE, "too large\n")),
        };
        if !verified(&ctx.mac, &ts, &sig, &body) {
            return Ok(text(StatusCode::UNAUTHORIZED, "invalid signature\n"));
        }
        let n = ctx.seq.fetch_add(1, Ordering::Relaxed);
        let answer = serde_json::json!({
            "response_type": "ephemeral",
            "text": format!("Running diagnostics for *redis* (127.0.0.1:6379)… (#{n})"),
        });
        let mut r = Response::new(Full::new(Bytes::from(
            serde_json::to_vec(&answer).unwrap_or_default(),
        )));
        r.headers_mut()
            .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        Ok(r)
    }

    /// Slack's v0 scheme, as medic checks it: timestamp within five minutes,
    /// HMAC-SHA256 over `v0:{ts}:{body}`, compared in constant time.
    fn verified(keyed: &Hmac<Sha256>, ts: &str, sig: &str, body: &[u8]) -> bool {
        let Ok(t) = ts.parse::<i64>() else {
            return false;
        };
        if (medic_tests::now_unix() - t).abs() > MAX_SKEW_SECS {
            return false;
        }
        let mut expected = [0u8; 32];
        let Some(Ok(())) = sig
            .strip_prefix("v0=")
            .map(|hex| hex::decode_to_slice(hex, &mut expected))
        else {
            return false;
        };
        let mut mac = keyed.clone();
        mac.update(b"v0:");
        mac.update(ts.as_bytes());
        mac.update(b":");
        mac.update(body);
        mac.verify_slice(&expected).is_ok()
    }
}

// ---------------------------------------------------------------------------
// Load.
// ---------------------------------------------------------------------------

/// Which channel each command names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Channels {
    /// A fresh channel per request: every command is recorded and runs a
    /// diagnostic (medic's full path).
    PerRequest,
    /// One channel for all: duplicates are coalesced while one runs.
    Shared,
}

struct Load {
    addr: SocketAddr,
    concurrency: usize,
    channels: Channels,
    response_url: String,
    /// The diagnostic target's server, when found on this machine.
    redis_pid: Option<u32>,
    /// Numbers channels; shared by every phase, so none repeats in a run.
    seq: Arc<AtomicU64>,
}

/// What the load workers saw: every answer, classified by its text.
#[derive(Debug, Clone, Default)]
struct WorkerStats {
    /// Microseconds per answered request (sorted once a phase ends).
    latencies_us: Vec<u32>,
    non_200: u64,
    transport_errors: u64,
    /// "Running diagnostics…": recorded, will be reported.
    accepted: u64,
    /// "already running in this channel".
    coalesced: u64,
    /// "medic is busy": shed at once, nothing recorded.
    busy: u64,
    /// Anything else (a bug, for this bench).
    other: u64,
    sample: Option<String>,
}

impl WorkerStats {
    fn absorb(&mut self, s: WorkerStats) {
        self.latencies_us.extend_from_slice(&s.latencies_us);
        self.non_200 += s.non_200;
        self.transport_errors += s.transport_errors;
        self.accepted += s.accepted;
        self.coalesced += s.coalesced;
        self.busy += s.busy;
        self.other += s.other;
        if self.sample.is_none() {
            self.sample = s.sample;
        }
    }
}

async fn worker(load: Arc<Load>, id: usize, deadline: Instant) -> WorkerStats {
    let mut stats = WorkerStats {
        latencies_us: Vec::with_capacity(16 * 1024),
        ..WorkerStats::default()
    };
    let user = format!("U0BENCH{id:03}");
    let host = load.addr.to_string();
    let mut conn: Option<TcpStream> = None;
    let mut request = Vec::with_capacity(2048);
    let mut buf = Vec::with_capacity(4096);
    while Instant::now() < deadline {
        if conn.is_none() {
            match connect(load.addr).await {
                Ok(s) => conn = Some(s),
                Err(_) => {
                    stats.transport_errors += 1;
                    tokio::time::sleep(Duration::from_millis(10)).await;
                    continue;
                }
            }
        }
        let channel = match load.channels {
            Channels::PerRequest => format!("C0B{:07}", load.seq.fetch_add(1, Ordering::Relaxed)),
            Channels::Shared => "C0BSHARED".to_string(),
        };
        // A freshly signed command, stamped now, as Slack sends it.
        let body = slash_form(
            "/diag",
            "redis",
            &channel,
            &user,
            "bench",
            &load.response_url,
        );
        let ts = now_unix();
        let sig = slack_signature(SIGNING_SECRET, ts, body.as_bytes());
        request.clear();
        let _ = write!(
            DisplayBuf(&mut request),
            "POST /slack/commands HTTP/1.1\r\nhost: {host}\r\ncontent-type: application/x-www-form-urlencoded\r\n\
             x-slack-request-timestamp: {ts}\r\nx-slack-signature: {sig}\r\ncontent-length: {}\r\n\r\n",
            body.len()
        );
        request.extend_from_slice(body.as_bytes());

        let stream = conn.as_mut().expect("connected above");
        let started = Instant::now();
        let answer = exchange(stream, &request, &mut buf).await;
        let took = started.elapsed();
        match answer {
            Ok(a) => {
                stats
                    .latencies_us
                    .push(took.as_micros().min(u32::MAX as u128) as u32);
                let body = &buf[a.body];
                if a.status != 200 {
                    stats.non_200 += 1;
                    if stats.sample.is_none() {
                        stats.sample = Some(format!(
                            "HTTP {}: {}",
                            a.status,
                            String::from_utf8_lossy(body)
                        ));
                    }
                } else if find(body, b"Running diagnostics for").is_some() {
                    stats.accepted += 1;
                } else if find(body, b"already running").is_some() {
                    stats.coalesced += 1;
                } else if find(body, b"medic is busy").is_some() {
                    stats.busy += 1;
                } else {
                    stats.other += 1;
                    if stats.sample.is_none() {
                        stats.sample = Some(String::from_utf8_lossy(body).into_owned());
                    }
                }
                if a.close {
                    conn = None;
                }
            }
            Err(_) => {
                stats.transport_errors += 1;
                conn = None;
            }
        }
    }
    stats
}

/// What one measured phase saw.
#[derive(Debug, Clone, Default)]
struct Phase {
    requests: u64,
    wall: Duration,
    answers: WorkerStats,
    server_cpu: Duration,
    client_cpu: Duration,
    redis_cpu: Duration,
    machine_cpu: Duration,
    /// medic's acknowledgement histogram over the phase: (sum of
    /// seconds, count).
    server_acks: Option<(f64, f64)>,
    rss_max_kb: u64,
    rss_end_kb: u64,
    hwm_kb: u64,
    makeup: String,
}

impl Phase {
    /// Adds a later slice of the same scenario.
    fn absorb(&mut self, s: Phase) {
        self.requests += s.requests;
        self.wall += s.wall;
        self.answers.absorb(s.answers);
        self.answers.latencies_us.sort_unstable();
        self.server_cpu += s.server_cpu;
        self.client_cpu += s.client_cpu;
        self.redis_cpu += s.redis_cpu;
        self.machine_cpu += s.machine_cpu;
        self.server_acks = match (self.server_acks, s.server_acks) {
            (Some((a, n)), Some((b, m))) => Some((a + b, n + m)),
            (a, b) => a.or(b),
        };
        self.rss_max_kb = self.rss_max_kb.max(s.rss_max_kb);
        self.rss_end_kb = s.rss_end_kb;
        self.hwm_kb = self.hwm_kb.max(s.hwm_kb);
        self.makeup = s.makeup;
    }

    /// medic's own mean acknowledgement time (its histogram), ms.
    fn server_ack_mean_ms(&self) -> Option<f64> {
        self.server_acks.map(|(sum, n)| sum / n * 1000.0)
    }

    fn rps(&self) -> f64 {
        self.requests as f64 / self.wall.as_secs_f64()
    }

    /// Nearest-rank percentile, in milliseconds.
    fn pct_ms(&self, q: f64) -> f64 {
        nearest_rank(&self.answers.latencies_us, q, 1000.0)
    }

    fn mean_ms(&self) -> f64 {
        let l = &self.answers.latencies_us;
        let n = l.len().max(1) as f64;
        l.iter().map(|&v| v as f64).sum::<f64>() / n / 1000.0
    }

    fn max_ms(&self) -> f64 {
        self.answers
            .latencies_us
            .last()
            .map_or(f64::NAN, |v| *v as f64 / 1000.0)
    }

    fn cpu_us_per_request(&self) -> f64 {
        self.server_cpu.as_secs_f64() * 1e6 / self.requests.max(1) as f64
    }
}

/// Runs `load` against the server with `pid` for `duration`, sampling its
/// RSS every 100 ms and its CPU time before and after.
async fn run_phase(load: &Arc<Load>, server: &Server, duration: Duration, tick_hz: f64) -> Phase {
    let pid = server.pid();
    let pid_s = pid.to_string();
    let redis = load.redis_pid.map(|p| p.to_string());
    let redis_cpu = || {
        redis
            .as_deref()
            .map_or(Duration::ZERO, |p| cpu_time(p, tick_hz))
    };
    let acks0 = if server.medic {
        ack_totals(server.addr).await
    } else {
        None
    };
    let cpu0 = cpu_time(&pid_s, tick_hz);
    let self0 = cpu_time("self", tick_hz);
    let redis0 = redis_cpu();
    let machine0 = machine_busy(tick_hz);
    let sampler = RssSampler::start(pid);
    let started = Instant::now();
    let deadline = started + duration;
    let workers: Vec<_> = (0..load.concurrency)
        .map(|id| tokio::spawn(worker(load.clone(), id, deadline)))
        .collect();
    let mut phase = Phase::default();
    for w in workers {
        phase
            .answers
            .absorb(w.await.expect("a load worker panicked"));
    }
    phase.wall = started.elapsed();
    phase.server_cpu = cpu_time(&pid_s, tick_hz).saturating_sub(cpu0);
    phase.client_cpu = cpu_time("self", tick_hz).saturating_sub(self0);
    phase.redis_cpu = redis_cpu().saturating_sub(redis0);
    phase.machine_cpu = machine_busy(tick_hz).saturating_sub(machine0);
    if let Some((sum0, n0)) = acks0
        && let Some((sum1, n1)) = ack_totals(server.addr).await
        && n1 > n0
    {
        phase.server_acks = Some((sum1 - sum0, n1 - n0));
    }
    let sampled = sampler.stop().await;
    let (rss_end, hwm) = rss_kb(pid).unwrap_or((0, 0));
    phase.rss_max_kb = sampled.max(rss_end);
    phase.rss_end_kb = rss_end;
    phase.makeup = memory_makeup(pid);
    phase.hwm_kb = hwm;
    phase.requests = phase.answers.latencies_us.len() as u64;
    phase.answers.latencies_us.sort_unstable();
    phase
}

// ---------------------------------------------------------------------------
// medic's own view: /metrics.
// ---------------------------------------------------------------------------

/// medic's acknowledgement histogram: (sum of seconds, count).
async fn ack_totals(addr: SocketAddr) -> Option<(f64, f64)> {
    let m = get_text(addr, "/metrics").await.ok()?;
    Some((
        metric_sum(&m, "medic_slash_command_ack_seconds_sum", ""),
        metric_sum(&m, "medic_slash_command_ack_seconds_count", ""),
    ))
}

#[derive(Debug, Default, Clone)]
struct MedicCounters {
    accepted: u64,
    /// Accepted commands whose report reached chat.
    delivered: u64,
    /// Accepted commands whose report finally could not.
    undelivered: u64,
    diagnostics: u64,
    /// Diagnostics by report status (`ok 10, warning 5`).
    diag_statuses: String,
    posts_ok: u64,
    posts_rate_limited: u64,
    posts_failed: u64,
    posts_retried: u64,
}

async fn medic_counters(addr: SocketAddr) -> Option<MedicCounters> {
    let m = get_text(addr, "/metrics").await.ok()?;
    Some(MedicCounters {
        accepted: metric_sum_u64(&m, "medic_slash_command_acks_total", "outcome=\"accepted\""),
        delivered: metric_sum_u64(&m, "medic_reports_total", "outcome=\"delivered\""),
        undelivered: metric_sum_u64(&m, "medic_reports_total", "outcome=\"failed\""),
        diagnostics: metric_sum_u64(&m, "medic_diagnostic_duration_seconds_count", ""),
        diag_statuses: ["ok", "warning", "critical", "unknown"]
            .iter()
            .filter_map(|st| {
                let label = format!("status=\"{st}\"");
                let n = metric_sum_u64(&m, "medic_diagnostic_duration_seconds_count", &label);
                (n > 0).then(|| format!("{st} {n}"))
            })
            .collect::<Vec<_>>()
            .join(", "),
        posts_ok: metric_sum_u64(&m, "medic_chat_posts_total", "outcome=\"ok\""),
        posts_rate_limited: metric_sum_u64(
            &m,
            "medic_chat_posts_total",
            "outcome=\"rate_limited\"",
        ),
        posts_failed: metric_sum_u64(&m, "medic_chat_posts_total", "outcome=\"failed\""),
        posts_retried: metric_sum_u64(&m, "medic_chat_posts_total", "outcome=\"retried\""),
    })
}

/// How medic's background work caught up after the load stopped.
#[derive(Debug, Default, Clone)]
struct Drain {
    took: Duration,
    complete: bool,
    before: MedicCounters,
    after: MedicCounters,
    cpu: Duration,
    rss_end_kb: u64,
    hwm_kb: u64,
    makeup: String,
}

/// Waits until every accepted command's report has been delivered (or has
/// finally failed) and chat posts have stopped for a second, or `limit`
/// passes.
async fn drain(addr: SocketAddr, pid: u32, limit: Duration, tick_hz: f64) -> Drain {
    let started = Instant::now();
    let cpu0 = cpu_time(&pid.to_string(), tick_hz);
    let before = medic_counters(addr).await.unwrap_or_default();
    let mut last = before.clone();
    let mut still = 0;
    let mut complete = false;
    while started.elapsed() < limit {
        tokio::time::sleep(Duration::from_millis(500)).await;
        let Some(now) = medic_counters(addr).await else {
            continue;
        };
        let posts = now.posts_ok + now.posts_failed;
        let was = last.posts_ok + last.posts_failed;
        still = if posts == was && now.delivered + now.undelivered >= now.accepted {
            still + 1
        } else {
            0
        };
        last = now;
        if still >= 2 {
            complete = true;
            break;
        }
    }
    let (rss_end_kb, hwm_kb) = rss_kb(pid).unwrap_or((0, 0));
    let makeup = memory_makeup(pid);
    Drain {
        took: started.elapsed(),
        complete,
        before,
        after: last,
        cpu: cpu_time(&pid.to_string(), tick_hz).saturating_sub(cpu0),
        rss_end_kb,
        hwm_kb,
        makeup,
    }
}

// ---------------------------------------------------------------------------
// The run.
// ---------------------------------------------------------------------------

struct Round {
    ceiling: Phase,
    ceiling_idle_kb: u64,
    medic_idle_kb: u64,
    coalesced: Option<Phase>,
    full: Phase,
    drain: Drain,
    medic_log_warnings: usize,
    /// 429s the fake Slack answered during the round: (root posts, thread
    /// replies).
    slack_429: (usize, usize),
}

fn medic_config(port: u16, dir: &Path, slack: &FakeSlack, opts: &Opts) -> String {
    format!(
        r#"# Written by medic-bench.
[server]
bind = "127.0.0.1:{port}"
shutdown_grace = "1s"

[database]
url = "sqlite://{db}"

[slack]
signing_secret = "{SIGNING_SECRET}"
bot_token = "{BOT_TOKEN}"
api_url = "{api}"

[targets.redis]
kind = "redis"
url = "{redis}"

# Raised for the bench: the load comes from 64 "people" sending thousands
# of commands a second, far past the per-person default.
[limits]
commands_per_minute = 1000000
command_burst = 1000000
concurrent_diagnostics = {diags}
"#,
        db = dir.join("medic.db").display(),
        api = slack.api_url(),
        redis = opts.redis,
        diags = opts.concurrent_diagnostics,
    )
}

/// Warm-up (discarded), then the measured phase.
async fn measure(load: &Arc<Load>, server: &Server, opts: &Opts, tick_hz: f64) -> Phase {
    measure_for(load, server, opts.warmup, opts.duration, tick_hz).await
}

async fn measure_for(
    load: &Arc<Load>,
    server: &Server,
    warmup: Duration,
    duration: Duration,
    tick_hz: f64,
) -> Phase {
    if !warmup.is_zero() {
        let _ = run_phase(load, server, warmup, tick_hz).await;
    }
    run_phase(load, server, duration, tick_hz).await
}

/// The ceiling and medic's full path, in `opts.slices` alternating
/// slices. On a shared machine whose speed drifts over a minute (seen
/// here: the same ceiling at 76k and 103k requests/s within ten minutes),
/// measuring one server after the other makes the ratio mostly a measure
/// of the drift; alternating puts it on both alike.
async fn ceiling_and_full(
    ceiling: (&Arc<Load>, &Server),
    full: (&Arc<Load>, &Server),
    opts: &Opts,
    tick_hz: f64,
) -> (Phase, Phase) {
    let n = opts.slices as u32;
    let (warmup, duration) = (opts.warmup / n, opts.duration / n);
    let (mut c, mut f) = (Phase::default(), Phase::default());
    for _ in 0..n {
        c.absorb(measure_for(ceiling.0, ceiling.1, warmup, duration, tick_hz).await);
        f.absorb(measure_for(full.0, full.1, warmup, duration, tick_hz).await);
    }
    (c, f)
}

async fn one_round(
    n: usize,
    opts: &Opts,
    bin: &Path,
    root: &Path,
    slack: &FakeSlack,
    seq: &Arc<AtomicU64>,
    tick_hz: f64,
) -> anyhow::Result<Round> {
    let round_start = Instant::now();
    let response_url = slack.response_url("bench");
    let redis_pid = redis_pid(&opts.redis);
    let load = |addr, channels| {
        Arc::new(Load {
            addr,
            concurrency: opts.concurrency,
            channels,
            response_url: response_url.clone(),
            redis_pid,
            seq: seq.clone(),
        })
    };

    let ceiling = start_ceiling().await?;
    let ceiling_idle_kb = rss_kb(ceiling.pid()).map_or(0, |r| r.0);

    let dir = root.join(format!("round{n}"));
    std::fs::create_dir_all(&dir)?;
    let (medic, log) = start_medic(bin, &dir, |port| medic_config(port, &dir, slack, opts)).await?;
    let medic_idle_kb = rss_kb(medic.pid()).map_or(0, |r| r.0);
    let coalesced = if opts.coalesced {
        eprintln!(
            "[round {n}] medic, one channel (coalesced): warm-up {:?}, measure {:?} …",
            opts.warmup, opts.duration
        );
        let p = measure(&load(medic.addr, Channels::Shared), &medic, opts, tick_hz).await;
        // Let the one running diagnostic finish.
        let _ = drain(medic.addr, medic.pid(), Duration::from_secs(10), tick_hz).await;
        Some(p)
    } else {
        None
    };
    eprintln!(
        "[round {n}] ceiling and medic's full path (one channel per request), {} alternating slices …",
        opts.slices
    );
    let (ceiling_phase, full) = ceiling_and_full(
        (&load(ceiling.addr, Channels::PerRequest), &ceiling),
        (&load(medic.addr, Channels::PerRequest), &medic),
        opts,
        tick_hz,
    )
    .await;
    drop(ceiling);
    eprintln!(
        "[round {n}] waiting for medic's background work (at most {:?}) …",
        opts.drain
    );
    let drain = drain(medic.addr, medic.pid(), opts.drain, tick_hz).await;
    drop(medic);
    let medic_log_warnings = log_warnings(&log);
    let calls = slack.calls();
    let throttled = calls
        .iter()
        .filter(|c| c.at >= round_start && c.status == 429);
    let (thread, root): (Vec<_>, Vec<_>) = throttled.partition(|c| c.thread_ts().is_some());
    let slack_429 = (root.len(), thread.len());
    drop(calls);
    tokio::time::sleep(Duration::from_secs(1)).await;
    Ok(Round {
        ceiling: ceiling_phase,
        ceiling_idle_kb,
        medic_idle_kb,
        coalesced,
        full,
        drain,
        medic_log_warnings,
        slack_429,
    })
}

/// One row of the main table.
fn row(name: &str, p: &Phase) -> String {
    format!(
        "| {name:<30} | {:>7.0} | {:>6.2} | {:>6.2} | {:>6.2} | {:>7.1} | {:>5} | {:>5} | {:>6.1} | {:>5.1} / {:>5.1} |",
        p.rps(),
        p.mean_ms(),
        p.pct_ms(0.50),
        p.pct_ms(0.99),
        p.max_ms(),
        p.answers.non_200 + p.answers.other,
        p.answers.transport_errors,
        p.cpu_us_per_request(),
        mb(p.rss_max_kb),
        mb(p.hwm_kb),
    )
}

/// Where the CPU went during a phase, in cores busy.
fn cpu_row(name: &str, p: &Phase) -> String {
    let w = p.wall.as_secs_f64();
    let c = |d: Duration| d.as_secs_f64() / w;
    let others = (p.machine_cpu.as_secs_f64()
        - p.server_cpu.as_secs_f64()
        - p.client_cpu.as_secs_f64()
        - p.redis_cpu.as_secs_f64())
    .max(0.0)
        / w;
    format!(
        "| {name:<30} | {:>6.2} | {:>6.2} | {:>6.2} | {:>6.2} | {:>7.2} | {:>13} |",
        c(p.server_cpu),
        c(p.client_cpu),
        c(p.redis_cpu),
        others,
        c(p.machine_cpu),
        p.server_ack_mean_ms()
            .map_or_else(|| "–".to_string(), |v| format!("{v:.3}")),
    )
}

fn report(n: usize, opts: &Opts, cores: usize, r: &Round) -> String {
    let mut out = String::new();
    let mut line = |s: String| {
        out.push_str(&s);
        out.push('\n');
    };
    line(format!(
        "\n## Round {n}: concurrency {}, {:.0} s measured after {:.0} s warm-up; ceiling and full path in {} alternating slices\n",
        opts.concurrency,
        opts.duration.as_secs_f64(),
        opts.warmup.as_secs_f64(),
        opts.slices
    ));
    line(
        "| server                         |   req/s | mean ms | p50 ms | p99 ms |  max ms |   bad | io err | CPU µs/req | RSS max / HWM MB |"
            .into(),
    );
    line(
        "|--------------------------------|--------:|-------:|-------:|-------:|--------:|------:|------:|-------:|--------------:|"
            .into(),
    );
    let mut phases = vec![
        ("ceiling (bare hyper + HMAC)", &r.ceiling),
        ("medic, channel per request", &r.full),
    ];
    if let Some(c) = &r.coalesced {
        phases.push(("medic, one channel (coalesced)", c));
    }
    for (name, p) in &phases {
        line(row(name, p));
    }
    line(String::new());
    line(format!(
        "CPU, in cores busy (of {cores}); \"bench\" is this process (load generator + fake Slack):\n"
    ));
    line("| server                         | server |  bench |  redis | others | machine | medic's ack ms |".into());
    line("|--------------------------------|-------:|-------:|-------:|-------:|--------:|--------------:|".into());
    for (name, p) in &phases {
        line(cpu_row(name, p));
    }
    line(String::new());
    let ratio = r.full.rps() / r.ceiling.rps();
    line(format!(
        "medic full path / ceiling throughput (every answer: accepted, busy, …): {ratio:.3}"
    ));
    if let Some(c) = &r.coalesced {
        line(format!(
            "medic coalesced / ceiling throughput: {:.3}",
            c.rps() / r.ceiling.rps()
        ));
    }
    let peak = r.full.hwm_kb.max(r.drain.hwm_kb);
    line(format!(
        "medic RSS: idle {:.1} MB; max sampled under full-path load {:.1} MB; peak (VmHWM) {:.1} MB; after drain {:.1} MB",
        mb(r.medic_idle_kb),
        mb(r.full.rss_max_kb),
        mb(peak),
        mb(r.drain.rss_end_kb),
    ));
    if let Some(c) = &r.coalesced {
        line(format!(
            "medic RSS after the coalesced scenario (before the full path): {:.1} MB (VmHWM {:.1} MB)",
            mb(c.rss_end_kb),
            mb(c.hwm_kb)
        ));
    }
    line(format!(
        "medic memory at the end of the full-path load: {}; after drain: {}",
        r.full.makeup, r.drain.makeup
    ));
    line(format!(
        "ceiling RSS: idle {:.1} MB, peak {:.1} MB",
        mb(r.ceiling_idle_kb),
        mb(r.ceiling.hwm_kb)
    ));
    let f = &r.full.answers;
    let secs = r.full.wall.as_secs_f64();
    line(format!(
        "medic full path answers: {} accepted ({:.0}/s), {} busy ({:.0}/s), {} coalesced, {} other, {} non-200, {} transport errors",
        f.accepted,
        f.accepted as f64 / secs,
        f.busy,
        f.busy as f64 / secs,
        f.coalesced,
        f.other,
        f.non_200,
        f.transport_errors
    ));
    for (name, p) in &phases {
        if let Some(s) = &p.answers.sample {
            line(format!("first unexpected answer from {name}: {s}"));
        }
    }
    let d = &r.drain;
    line(format!(
        "medic background work when the full-path load stopped: {} commands accepted (all scenarios), {} reports delivered, {} diagnostic runs, {} posts ok",
        d.before.accepted, d.before.delivered, d.before.diagnostics, d.before.posts_ok
    ));
    line(format!(
        "  … {} after {:.1} s (medic {:.2} cores): reports delivered {} of {} accepted ({} failed); {} diagnostic runs ({}); posts: {} ok, {} rate-limited (429), {} retried, {} failed; {} WARN/ERROR lines in medic's log",
        if d.complete { "drained" } else { "NOT drained" },
        d.took.as_secs_f64(),
        d.cpu.as_secs_f64() / d.took.as_secs_f64(),
        d.after.delivered,
        d.after.accepted,
        d.after.undelivered,
        d.after.diagnostics,
        d.after.diag_statuses,
        d.after.posts_ok,
        d.after.posts_rate_limited,
        d.after.posts_retried,
        d.after.posts_failed,
        r.medic_log_warnings
    ));
    line(format!(
        "fake Slack answered 429 (one message a second per channel) to {} root posts and {} thread replies this round",
        r.slack_429.0, r.slack_429.1
    ));
    out
}

async fn bench(opts: Opts) -> anyhow::Result<()> {
    let bin = medic_binary(opts.medic.as_deref())?;
    let tick_hz = clock_ticks();
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    print_heading("medic-bench", &bin, cores);
    let _ = rustls::crypto::ring::default_provider().install_default();
    let root = tempfile::Builder::new().prefix("medic-bench-").tempdir()?;
    // Records every call (memory grows with the run; fine for bounded runs).
    let slack = FakeSlack::start(BOT_TOKEN).await;
    let seq = Arc::new(AtomicU64::new(1));
    let mut rounds = Vec::new();
    for n in 1..=opts.rounds {
        let r = one_round(n, &opts, &bin, root.path(), &slack, &seq, tick_hz).await?;
        println!("{}", report(n, &opts, cores, &r));
        rounds.push(r);
    }
    if rounds.len() > 1 {
        println!("\n## All rounds\n");
        println!("| round | ceiling req/s | medic req/s | ratio | medic p99 ms | medic VmHWM MB |");
        println!("|------:|--------------:|------------:|------:|-------------:|---------------:|");
        for (i, r) in rounds.iter().enumerate() {
            println!(
                "| {} | {:.0} | {:.0} | {:.3} | {:.2} | {:.1} |",
                i + 1,
                r.ceiling.rps(),
                r.full.rps(),
                r.full.rps() / r.ceiling.rps(),
                r.full.pct_ms(0.99),
                mb(r.full.hwm_kb.max(r.drain.hwm_kb)),
            );
        }
    }
    if opts.keep {
        let kept = root.keep();
        println!("kept {}", kept.display());
    }
    Ok(())
}

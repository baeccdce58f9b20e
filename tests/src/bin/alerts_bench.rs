//! `medic-bench-alerts`: medic's alert intake under load (issue #4's two
//! benchmarks). Method and figures: BENCHMARKS.md, "Alert intake".
//!
//! ```text
//! cargo build --release -p medic -p medic-tests
//! target/release/medic-bench-alerts [--scenario ingest|storm|both] [OPTIONS]
//! ```
//!
//! - **ingest**: signed Sentry `issue` deliveries at concurrency 64, 30 % of
//!   them redeliveries (a retry: the same bytes under the same
//!   `Request-ID`), against a real `medic serve` and, in the same run, a
//!   bare hyper server that only checks the same signature (the ceiling).
//!   medic knows a delivery by a hash of its signed body, so every new
//!   delivery's body is unique (its number spliced into the issue's
//!   `userCount`). Afterwards medic's SQLite file is compared with the
//!   delivery ids medic computes for what the load generator saw answered.
//! - **storm**: 1,000 distinct alerts spread over 60 s, routed to one
//!   channel of the fake Slack; how long until every one is visible there,
//!   how many top-level messages, how many 429s, medic's peak memory, and
//!   how long until medic's outbox is empty. With `--database-url` medic
//!   runs on PostgreSQL (a database made for each round), and with
//!   `--replicas N` as N processes on it, the alerts spread round-robin
//!   as a load balancer would: all of them take alerts, one of them (the
//!   outbox duty's holder, which the report names) posts, so that the
//!   cluster keeps Slack's pace per channel.
//!
//! medic and the ceiling run as child processes (`medic serve`,
//! `medic-bench-alerts ceiling --port N`), so each one's CPU time and memory
//! are its own; the load generator and the fake Slack run in this process.
//! It prints figures and asserts nothing.

use std::collections::HashSet;
use std::fmt::Write as _;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use hmac::{Hmac, KeyInit, Mac};
use medic_integrations::alerts::Intake;
use medic_integrations::alerts::sentry::SentryVerifier;
use medic_tests::bench_support::{
    DisplayBuf, RssSampler, Server, bench_main, clock_ticks, connect, cpu_time, exchange, get_text,
    log_warnings, mb, medic_binary, memory_makeup, metric_sum_u64, nearest_rank, print_heading,
    rss_kb, start_ceiling_with, start_medic,
};
use medic_tests::{BOT_TOKEN, FakeSlack, SIGNING_SECRET};
use serde_json::Value;
use sha2::Sha256;
use tokio::net::TcpStream;

/// The integration's client secret both servers check signatures with.
const CLIENT_SECRET: &str = "bench-sentry-client-secret-5b1d0c7e";
/// The channel every alert is routed to.
const CHANNEL: &str = "C0BENCHALERTS";
/// Sentry's documented `issue.created` webhook (a real vendor payload).
const FIXTURE: &str =
    include_str!("../../../integrations/tests/fixtures/sentry/webhook_issue_created_docs.json");

const USAGE: &str = "\
medic-bench-alerts: medic's Sentry webhook intake under load (durable
ingest beside a bare-server ceiling), and an alert storm into one channel.

USAGE (from the repository root):
  cargo build --release -p medic -p medic-tests
  target/release/medic-bench-alerts [OPTIONS]

OPTIONS:
  --scenario S      ingest | storm | both                      [both]
  --rounds N        times each scenario runs                   [1]
  --concurrency N   ingest: requests in flight                 [64]
  --duration S      ingest: measured seconds per server        [10]
  --warmup S        ingest: unmeasured seconds before each     [3]
  --redeliver P     ingest: share of requests that are redeliveries [0.3]
  --issues N        ingest: distinct Sentry issue ids cycled   [1000]
  --alerts N        storm: distinct alerts                     [1000]
  --window S        storm: seconds the alerts are spread over  [60]
  --replicas N      storm: medic processes on one database, alerts
                    sent round-robin across them (more than 1 needs
                    --database-url)                            [1]
  --database-url U  storm: a PostgreSQL server (postgres://…); each
                    round creates a database on it, medic_bench_<random>,
                    and drops it afterwards           [SQLite file]
  --redis-url U     storm: `[redis] url` of every replica       [none]
  --drain S         longest wait for medic's background work   [600]
  --medic PATH      medic binary (default: next to this one)
  --keep            keep the temporary directory (config, database, log)
                    and each round's PostgreSQL database
";

#[derive(Debug, Clone)]
struct Opts {
    ingest: bool,
    storm: bool,
    rounds: usize,
    concurrency: usize,
    duration: Duration,
    warmup: Duration,
    redeliver: f64,
    issues: usize,
    alerts: usize,
    window: Duration,
    drain: Duration,
    replicas: usize,
    database_url: Option<String>,
    redis_url: Option<String>,
    medic: Option<PathBuf>,
    keep: bool,
}

impl Opts {
    fn parse(mut args: impl Iterator<Item = String>) -> Result<Opts, String> {
        let mut o = Opts {
            ingest: true,
            storm: true,
            rounds: 1,
            concurrency: 64,
            duration: Duration::from_secs(10),
            warmup: Duration::from_secs(3),
            redeliver: 0.3,
            issues: 1000,
            alerts: 1000,
            window: Duration::from_secs(60),
            drain: Duration::from_secs(600),
            replicas: 1,
            database_url: None,
            redis_url: None,
            medic: None,
            keep: false,
        };
        fn value(flag: &str, v: Option<String>) -> Result<String, String> {
            v.ok_or_else(|| format!("{flag} needs a value"))
        }
        fn number(flag: &str, v: Option<String>) -> Result<f64, String> {
            let v = value(flag, v)?;
            v.parse()
                .map_err(|_| format!("{flag} {v}: not a number"))
                .and_then(|n: f64| {
                    if (0.0..=3600.0).contains(&n) {
                        Ok(n)
                    } else {
                        Err(format!("{flag} {v}: between 0 and 3600"))
                    }
                })
        }
        fn count(flag: &str, v: Option<String>) -> Result<usize, String> {
            let v = value(flag, v)?;
            v.parse().map_err(|_| format!("{flag} {v}: not a count"))
        }
        let secs = |flag: &str, v| number(flag, v).map(Duration::from_secs_f64);
        while let Some(a) = args.next() {
            match a.as_str() {
                "--scenario" => match value(&a, args.next())?.as_str() {
                    "ingest" => (o.ingest, o.storm) = (true, false),
                    "storm" => (o.ingest, o.storm) = (false, true),
                    "both" => (o.ingest, o.storm) = (true, true),
                    other => return Err(format!("--scenario {other}: ingest, storm or both")),
                },
                "--rounds" => o.rounds = count(&a, args.next())?,
                "--concurrency" => o.concurrency = count(&a, args.next())?,
                "--duration" => o.duration = secs(&a, args.next())?,
                "--warmup" => o.warmup = secs(&a, args.next())?,
                "--redeliver" => o.redeliver = number(&a, args.next())?.min(1.0),
                "--issues" => o.issues = count(&a, args.next())?,
                "--alerts" => o.alerts = count(&a, args.next())?,
                "--window" => o.window = secs(&a, args.next())?,
                "--drain" => o.drain = secs(&a, args.next())?,
                "--replicas" => o.replicas = count(&a, args.next())?,
                "--database-url" => o.database_url = Some(value(&a, args.next())?),
                "--redis-url" => o.redis_url = Some(value(&a, args.next())?),
                "--medic" => o.medic = Some(PathBuf::from(value(&a, args.next())?)),
                "--keep" => o.keep = true,
                "-h" | "--help" => return Err(String::new()),
                other => return Err(format!("unknown argument `{other}`")),
            }
        }
        if o.concurrency == 0 || o.rounds == 0 || o.duration.is_zero() || o.issues == 0 {
            return Err("--concurrency, --rounds, --duration and --issues must be above 0".into());
        }
        if o.alerts == 0 || o.alerts > 9999 {
            return Err("--alerts: between 1 and 9999".into());
        }
        if o.replicas == 0 || o.replicas > 16 {
            return Err("--replicas: between 1 and 16".into());
        }
        if o.replicas > 1 && o.database_url.is_none() {
            return Err(
                "--replicas above 1 needs --database-url: replicas share a PostgreSQL database, never an SQLite file"
                    .into(),
            );
        }
        if let Some(url) = &o.database_url
            && !(url.starts_with("postgres://") || url.starts_with("postgresql://"))
        {
            return Err(format!("--database-url {url}: a postgres:// URL"));
        }
        if o.ingest && (o.replicas > 1 || o.database_url.is_some() || o.redis_url.is_some()) {
            // The ingest scenario compares medic's SQLite file with what
            // it answered, beside SQLite floors: on another database it
            // would compare unlike things.
            return Err(
                "--replicas, --database-url and --redis-url apply to the storm only: add --scenario storm"
                    .into(),
            );
        }
        Ok(o)
    }
}

fn main() -> ExitCode {
    bench_main(
        "medic-bench-alerts",
        USAGE,
        Opts::parse,
        ceiling::main,
        bench,
    )
}

// ---------------------------------------------------------------------------
// The ceiling: bare hyper checking Sentry's signature, a tiny answer.
// ---------------------------------------------------------------------------

mod ceiling {
    use std::convert::Infallible;
    use std::process::ExitCode;
    use std::sync::Arc;

    use bytes::Bytes;
    use hmac::{Hmac, KeyInit, Mac};
    use http_body_util::{BodyExt, Full, Limited};
    use hyper::body::Incoming;
    use hyper::header::{CONTENT_TYPE, HeaderValue};
    use hyper::{Method, Request, Response, StatusCode};
    use medic_integrations::alerts::Intake;
    use medic_integrations::alerts::sentry::SentryVerifier;
    use medic_tests::bench_support::{MAX_BODY, block_on, ceiling_port, serve_bare, text};
    use sha2::Sha256;

    /// `medic-bench-alerts ceiling --port N [--durable DB]`: with
    /// `--durable`, the durable floor ([`super::durable`]).
    pub fn main(args: impl Iterator<Item = String>) -> ExitCode {
        let mut args: Vec<String> = args.collect();
        let durable = match args
            .iter()
            .position(|a| a == "--durable" || a == "--durable-raw")
        {
            Some(i) if i + 1 < args.len() => {
                let path = args.remove(i + 1);
                let raw = args.remove(i) == "--durable-raw";
                Some((std::path::PathBuf::from(path), raw))
            }
            Some(_) => {
                eprintln!(
                    "usage: medic-bench-alerts ceiling --port N [--durable DB | --durable-raw DB]"
                );
                return ExitCode::from(2);
            }
            None => None,
        };
        let port = match ceiling_port("medic-bench-alerts", args.into_iter()) {
            Ok(port) => port,
            Err(code) => return code,
        };
        // Keyed once, cloned per request, as medic does.
        let keyed = Arc::new(
            <Hmac<Sha256> as KeyInit>::new_from_slice(super::CLIENT_SECRET.as_bytes())
                .expect("any key length"),
        );
        block_on("medic-bench-alerts ceiling", async move {
            let store = match durable {
                Some((path, raw)) => Some(super::durable::Store::open(&path, raw).await?),
                None => None,
            };
            let intake = Arc::new(SentryVerifier::new(super::CLIENT_SECRET));
            serve_bare(port, move |req| {
                handle(keyed.clone(), intake.clone(), store.clone(), req)
            })
            .await?;
            Ok::<_, anyhow::Error>(())
        })
    }

    async fn handle(
        keyed: Arc<Hmac<Sha256>>,
        intake: Arc<SentryVerifier>,
        store: Option<super::durable::Store>,
        req: Request<Incoming>,
    ) -> Result<Response<Full<Bytes>>, Infallible> {
        match (req.method(), req.uri().path()) {
            (&Method::GET, "/healthz") => return Ok(text(StatusCode::OK, "ok\n")),
            (&Method::POST, "/webhooks/sentry") => {}
            _ => return Ok(text(StatusCode::NOT_FOUND, "not found\n")),
        }
        let sig = req
            .headers()
            .get("sentry-hook-signature")
            .and_then(|v| v.to_str().ok())
            .and_then(|s| hex::decode(s.trim()).ok());
        let Some(sig) = sig else {
            return Ok(text(StatusCode::UNAUTHORIZED, "invalid signature\n"));
        };
        let (parts, body) = req.into_parts();
        let body = match Limited::new(body, MAX_BODY).collect().await {
            Ok(b) => b.to_bytes(),
            Err(_) => return Ok(text(StatusCode::PAYLOAD_TOO_LARGE, "too large\n")),
        };
        let mut mac = Hmac::clone(&keyed);
        mac.update(&body);
        if mac.verify_slice(&sig).is_err() {
            return Ok(text(StatusCode::UNAUTHORIZED, "invalid signature\n"));
        }
        let mut status = StatusCode::ACCEPTED;
        if let Some(store) = store {
            // Keyed as medic keys it: a hash of the signed body.
            let id = intake.delivery_id(&parts.headers, &body);
            match store.record(id, body).await {
                Ok(true) => {}
                Ok(false) => status = StatusCode::OK,
                Err(e) => {
                    eprintln!("durable floor: {e}");
                    return Ok(text(StatusCode::SERVICE_UNAVAILABLE, "database failed\n"));
                }
            }
        }
        // medic's answer to a new delivery, same size.
        let mut r = Response::new(Full::new(Bytes::from_static(b"{\"ok\":true,\"alerts\":1}")));
        *r.status_mut() = status;
        r.headers_mut()
            .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        Ok(r)
    }
}

// ---------------------------------------------------------------------------
// The durable floor: the ceiling, plus what any durable intake must do.
// ---------------------------------------------------------------------------

/// The ceiling plus group-committed storage: each verified delivery is
/// inserted into an SQLite file (WAL, `synchronous = NORMAL`, as medic)
/// by one writer task, a batch per multi-row `INSERT … ON CONFLICT DO
/// NOTHING RETURNING` (one statement, one implicit transaction, padded to
/// a power of two as medic's), and answered 202 new or 200 redelivered
/// once committed. The table is medic's `deliveries` with the raw body in
/// place of the normalised alerts (870 bytes against medic's ~360), and
/// its three indexes. No parsing, no incident logic, no outbox: it is the
/// least a durable, deduplicating intake on this storage does, so the
/// ratio floor ÷ ceiling bounds what medic can reach on this machine.
mod durable {
    use std::collections::HashSet;
    use std::path::Path;
    use std::str::FromStr;

    use bytes::Bytes;
    use sqlx::Row;
    use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqliteSynchronous};
    use tokio::sync::{mpsc, oneshot};

    const MAX_BATCH: usize = 512;

    /// medic's `deliveries`, with the raw body for the alerts.
    const DDL: [&str; 3] = [
        "CREATE TABLE IF NOT EXISTS deliveries (id INTEGER PRIMARY KEY AUTOINCREMENT, \
         source TEXT NOT NULL, delivery_id TEXT NOT NULL, received_at BIGINT NOT NULL, \
         body TEXT NOT NULL, state TEXT NOT NULL, UNIQUE (source, delivery_id))",
        "CREATE INDEX IF NOT EXISTS deliveries_state ON deliveries (state, id)",
        "CREATE INDEX IF NOT EXISTS deliveries_received ON deliveries (received_at)",
    ];

    /// The first job of each id, in batch order (later ones are its
    /// redeliveries), and the INSERT for them padded to a power of two.
    fn insert_sql(batch: &[Job]) -> (Vec<usize>, usize, String) {
        let mut seen = HashSet::with_capacity(batch.len());
        let rows: Vec<usize> = (0..batch.len())
            .filter(|&i| seen.insert(batch[i].id.as_str()))
            .collect();
        let padded = rows.len().next_power_of_two();
        let mut sql = String::from(
            "INSERT INTO deliveries (source, delivery_id, received_at, body, state) VALUES ",
        );
        for n in 0..padded {
            sql.push_str(if n == 0 {
                "(?, ?, ?, ?, ?)"
            } else {
                ", (?, ?, ?, ?, ?)"
            });
        }
        sql.push_str(" ON CONFLICT (source, delivery_id) DO NOTHING RETURNING delivery_id");
        (rows, padded, sql)
    }

    fn now_ms() -> i64 {
        time::OffsetDateTime::now_utc().unix_timestamp_nanos() as i64 / 1_000_000
    }

    /// Answers each job of `batch`: new when it was the first of its id
    /// and the INSERT returned it.
    fn answer(batch: &mut Vec<Job>, rows: &[usize], new: Result<HashSet<String>, String>) {
        for (i, job) in batch.drain(..).enumerate() {
            let answer = match &new {
                Ok(new) => Ok(rows.binary_search(&i).is_ok() && new.contains(&job.id)),
                Err(e) => Err(e.clone()),
            };
            let _ = job.done.send(answer);
        }
    }

    /// The raw writer: takes what is queued, runs one INSERT (a cached
    /// prepared statement, autocommit) and answers, all on this thread.
    fn raw_writer(conn: rusqlite::Connection, mut rx: mpsc::Receiver<Job>) {
        conn.set_prepared_statement_cache_capacity(32);
        let mut batch: Vec<Job> = Vec::with_capacity(MAX_BATCH);
        while let Some(job) = rx.blocking_recv() {
            batch.push(job);
            while batch.len() < MAX_BATCH {
                match rx.try_recv() {
                    Ok(job) => batch.push(job),
                    Err(_) => break,
                }
            }
            let (rows, padded, sql) = insert_sql(&batch);
            let now = now_ms();
            let run = || -> rusqlite::Result<HashSet<String>> {
                let mut statement = conn.prepare_cached(&sql)?;
                let mut params: Vec<Box<dyn rusqlite::ToSql>> = Vec::with_capacity(5 * padded);
                for n in 0..padded {
                    let job = &batch[rows[n.min(rows.len() - 1)]];
                    params.push(Box::new("sentry"));
                    params.push(Box::new(job.id.clone()));
                    params.push(Box::new(now));
                    params.push(Box::new(String::from_utf8_lossy(&job.body).into_owned()));
                    params.push(Box::new("done"));
                }
                statement
                    .query_map(rusqlite::params_from_iter(params.iter()), |r| {
                        r.get::<_, String>(0)
                    })?
                    .collect()
            };
            let new = run().map_err(|e| e.to_string());
            answer(&mut batch, &rows, new);
        }
    }

    struct Job {
        id: String,
        body: Bytes,
        done: oneshot::Sender<Result<bool, String>>,
    }

    /// The handle webhooks record through.
    #[derive(Clone)]
    pub struct Store {
        jobs: mpsc::Sender<Job>,
    }

    impl Store {
        /// Creates the table in a fresh file at `path`, starts the writer:
        /// through sqlx, or with `raw` on a thread of its own that drives
        /// SQLite itself (rusqlite: no hand-off to another thread per
        /// statement).
        pub async fn open(path: &Path, raw: bool) -> anyhow::Result<Store> {
            if raw {
                let conn = rusqlite::Connection::open(path)?;
                conn.pragma_update(None, "journal_mode", "WAL")?;
                conn.pragma_update(None, "synchronous", "NORMAL")?;
                conn.busy_timeout(std::time::Duration::from_secs(5))?;
                for ddl in DDL {
                    conn.execute(ddl, [])?;
                }
                let (jobs, rx) = mpsc::channel(4 * MAX_BATCH);
                std::thread::Builder::new()
                    .name("floor-writer".into())
                    .spawn(move || raw_writer(conn, rx))?;
                return Ok(Store { jobs });
            }
            let options = SqliteConnectOptions::from_str("sqlite://")?
                .filename(path)
                .create_if_missing(true)
                .journal_mode(SqliteJournalMode::Wal)
                .synchronous(SqliteSynchronous::Normal)
                .busy_timeout(std::time::Duration::from_secs(5));
            let pool = sqlx::sqlite::SqlitePoolOptions::new()
                .max_connections(1)
                .connect_with(options)
                .await?;
            for ddl in DDL {
                sqlx::query(ddl).execute(&pool).await?;
            }
            let (jobs, rx) = mpsc::channel(4 * MAX_BATCH);
            tokio::spawn(writer(pool, rx));
            Ok(Store { jobs })
        }

        /// Stores a delivery; `true` when it is new.
        pub async fn record(&self, id: String, body: Bytes) -> Result<bool, String> {
            let (done, rx) = oneshot::channel();
            self.jobs
                .send(Job { id, body, done })
                .await
                .map_err(|_| "closed".to_string())?;
            rx.await.map_err(|_| "closed".to_string())?
        }
    }

    async fn writer(pool: SqlitePool, mut rx: mpsc::Receiver<Job>) {
        let mut batch = Vec::with_capacity(MAX_BATCH);
        let mut conn = match pool.acquire().await {
            Ok(conn) => conn,
            Err(e) => {
                eprintln!("durable floor: {e}");
                return;
            }
        };
        while rx.recv_many(&mut batch, MAX_BATCH).await > 0 {
            let (rows, padded, sql) = insert_sql(&batch);
            let now = now_ms();
            let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
            for n in 0..padded {
                let job = &batch[rows[n.min(rows.len() - 1)]];
                query = query
                    .bind("sentry")
                    .bind(job.id.clone())
                    .bind(now)
                    .bind(String::from_utf8_lossy(&job.body).into_owned())
                    .bind("done");
            }
            let outcome = query.fetch_all(&mut *conn).await;
            let new: Result<HashSet<String>, String> = outcome
                .map(|returned| {
                    returned
                        .iter()
                        .filter_map(|r| r.try_get::<String, _>(0).ok())
                        .collect()
                })
                .map_err(|e| e.to_string());
            answer(&mut batch, &rows, new);
        }
    }
}

// ---------------------------------------------------------------------------
// Payloads.
// ---------------------------------------------------------------------------

/// Sentry's `issue.created` for one issue, with a slot for the number of
/// the delivery: medic knows a delivery by a hash of its signed body, so
/// every new delivery must differ in its bytes (as consecutive Sentry
/// deliveries about one issue differ in its counts), and a redelivery is
/// the same bytes again.
struct Payload {
    /// The body before the delivery's number.
    head: Bytes,
    /// The body after it.
    tail: Bytes,
    /// HMAC-SHA256 under the client secret, having read `head` (computed
    /// once): a delivery's signature then costs only its number and
    /// `tail`.
    signed_head: Hmac<Sha256>,
}

/// Where the delivery's number goes in the serialised fixture.
const SLOT: &str = "\"@@delivery-number@@\"";

/// The fixture with its issue id, short id and title made unique for `n`,
/// serialised compactly once with [`SLOT`] as the issue's `userCount`
/// (a field medic does not read, and the last one of the issue).
fn payload(n: usize) -> Payload {
    let mut v: Value = serde_json::from_str(FIXTURE).expect("the fixture is JSON");
    let issue = &mut v["data"]["issue"];
    issue["id"] = Value::String((4_000_000_000u64 + n as u64).to_string());
    issue["shortId"] = Value::String(format!("FRONT-END-{n}"));
    issue["title"] = Value::String(format!("ReferenceError: storm_{n:04} is not defined"));
    issue["userCount"] = Value::String(SLOT.trim_matches('"').to_string());
    let text = serde_json::to_string(&v).expect("serialises");
    let at = text.find(SLOT).expect("the slot is in the body");
    let mut signed_head = <Hmac<Sha256> as KeyInit>::new_from_slice(CLIENT_SECRET.as_bytes())
        .expect("any key length");
    signed_head.update(&text.as_bytes()[..at]);
    Payload {
        head: Bytes::copy_from_slice(&text.as_bytes()[..at]),
        tail: Bytes::copy_from_slice(&text.as_bytes()[at + SLOT.len()..]),
        signed_head,
    }
}

impl Payload {
    /// Delivery `number`'s body, appended to `out`.
    fn write_body(&self, number: u64, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.head);
        let _ = write!(DisplayBuf(out), "{number}");
        out.extend_from_slice(&self.tail);
    }

    /// Delivery `number`'s body.
    fn body(&self, number: u64) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.head.len() + 20 + self.tail.len());
        self.write_body(number, &mut out);
        out
    }

    /// Delivery `number`'s `Sentry-Hook-Signature`: the HMAC over its body.
    fn signature(&self, number: u64) -> String {
        let mut mac = self.signed_head.clone();
        mac.update(number.to_string().as_bytes());
        mac.update(&self.tail);
        hex::encode(mac.finalize().into_bytes())
    }
}

/// One delivery the load generator sent: retried, it is sent again as it
/// was, under the same Request-ID.
#[derive(Debug, Clone)]
struct Delivery {
    request_id: String,
    /// Which issue ([`Payload`]).
    payload: usize,
    /// Its number, spliced into the body.
    number: u64,
}

impl Delivery {
    /// The id medic stores it under, computed by medic's own intake from
    /// what was sent.
    fn medic_id(&self, payloads: &[Payload], intake: &SentryVerifier) -> String {
        let body = payloads[self.payload].body(self.number);
        let mut headers = axum::http::HeaderMap::new();
        headers.insert(
            "sentry-hook-resource",
            axum::http::HeaderValue::from_static("issue"),
        );
        if let Ok(id) = axum::http::HeaderValue::from_str(&self.request_id) {
            headers.insert("request-id", id);
        }
        intake.delivery_id(&headers, &body)
    }
}

/// A Request-ID in Sentry's form (a uuid), unique per `(round, seq)`.
fn request_id(round: u64, seq: u64) -> String {
    format!(
        "{:08x}-{:04x}-4{:03x}-8{:03x}-{:012x}",
        0xbe_0000 + round,
        (seq >> 48) & 0xffff,
        (seq >> 36) & 0xfff,
        (seq >> 24) & 0xfff,
        seq & 0xff_ffff_ffff
    )
}

/// The raw request for delivery `number` of `p`, under Request-ID `id`.
fn request(out: &mut Vec<u8>, host: &str, p: &Payload, number: u64, id: &str) {
    out.clear();
    let len = p.head.len() + number.to_string().len() + p.tail.len();
    let _ = write!(
        DisplayBuf(out),
        "POST /webhooks/sentry HTTP/1.1\r\nhost: {host}\r\ncontent-type: application/json\r\n\
         request-id: {id}\r\nsentry-hook-resource: issue\r\nsentry-hook-timestamp: {ts}\r\n\
         sentry-hook-signature: {sig}\r\ncontent-length: {len}\r\n\r\n",
        ts = medic_tests::now_unix(),
        sig = p.signature(number),
    );
    p.write_body(number, out);
}

/// A tiny deterministic generator (xorshift64*), so the bench needs no
/// random-number crate and a run is reproducible.
struct Rng(u64);

impl Rng {
    fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn chance(&mut self, p: f64) -> bool {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64 <= p
    }
}

// ---------------------------------------------------------------------------
// Ingest.
// ---------------------------------------------------------------------------

/// What the load generator saw, over a whole server's run (warm-up too).
#[derive(Debug, Default, Clone)]
struct Seen {
    /// Microseconds per answered request, of the measured phase only.
    latencies_us: Vec<u32>,
    requests: u64,
    new_sent: u64,
    redeliveries_sent: u64,
    /// New deliveries answered 202.
    new_202: u64,
    /// New deliveries answered 200 (a duplicate: would be a bug).
    new_200: u64,
    /// Redeliveries answered 200 (`duplicate`).
    redelivery_200: u64,
    /// Redeliveries answered 202 (stored twice: would be a bug).
    redelivery_202: u64,
    other_status: u64,
    transport_errors: u64,
    /// New deliveries whose answer was lost in transport: medic may or
    /// may not hold them.
    unknown: Vec<Delivery>,
    /// New deliveries answered 2xx (what medic must hold, exactly once
    /// each).
    acked: Vec<Delivery>,
    sample: Option<String>,
}

impl Seen {
    fn absorb(&mut self, s: Seen) {
        self.latencies_us.extend_from_slice(&s.latencies_us);
        self.requests += s.requests;
        self.new_sent += s.new_sent;
        self.redeliveries_sent += s.redeliveries_sent;
        self.new_202 += s.new_202;
        self.new_200 += s.new_200;
        self.redelivery_200 += s.redelivery_200;
        self.redelivery_202 += s.redelivery_202;
        self.other_status += s.other_status;
        self.transport_errors += s.transport_errors;
        self.unknown.extend(s.unknown);
        self.acked.extend(s.acked);
        if self.sample.is_none() {
            self.sample = s.sample;
        }
    }
}

struct Ingest {
    addr: SocketAddr,
    concurrency: usize,
    redeliver: f64,
    payloads: Arc<Vec<Payload>>,
    round: u64,
    /// Numbers new deliveries across phases, so no Request-ID or body
    /// repeats.
    seq: Arc<AtomicU64>,
}

/// One connection's loop: a new delivery, or (with probability
/// `redeliver`) a redelivery of one this worker sent earlier and saw
/// answered, until `deadline`.
async fn ingest_worker(load: Arc<Ingest>, id: usize, deadline: Instant, measured: bool) -> Seen {
    let mut seen = Seen {
        latencies_us: Vec::with_capacity(if measured { 16 * 1024 } else { 0 }),
        ..Seen::default()
    };
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15 ^ ((id as u64 + 1) << 17) ^ load.round);
    let host = load.addr.to_string();
    // What this worker sent and saw answered.
    let mut sent: Vec<Delivery> = Vec::new();
    let mut conn: Option<TcpStream> = None;
    let mut req = Vec::with_capacity(4096);
    let mut buf = Vec::with_capacity(4096);
    while Instant::now() < deadline {
        if conn.is_none() {
            match connect(load.addr).await {
                Ok(s) => conn = Some(s),
                Err(_) => {
                    seen.transport_errors += 1;
                    tokio::time::sleep(Duration::from_millis(10)).await;
                    continue;
                }
            }
        }
        let redelivery = !sent.is_empty() && rng.chance(load.redeliver);
        let delivery = if redelivery {
            sent[(rng.next_u64() % sent.len() as u64) as usize].clone()
        } else {
            let n = load.seq.fetch_add(1, Ordering::Relaxed);
            Delivery {
                request_id: request_id(load.round, n),
                payload: (n % load.payloads.len() as u64) as usize,
                number: n,
            }
        };
        request(
            &mut req,
            &host,
            &load.payloads[delivery.payload],
            delivery.number,
            &delivery.request_id,
        );
        let stream = conn.as_mut().expect("connected above");
        let started = Instant::now();
        let answer = exchange(stream, &req, &mut buf).await;
        let took = started.elapsed();
        seen.requests += 1;
        if redelivery {
            seen.redeliveries_sent += 1;
        } else {
            seen.new_sent += 1;
        }
        match answer {
            Ok(a) => {
                if measured {
                    seen.latencies_us
                        .push(took.as_micros().min(u32::MAX as u128) as u32);
                }
                match (redelivery, a.status) {
                    (false, 202) => seen.new_202 += 1,
                    (false, 200) => seen.new_200 += 1,
                    (true, 200) => seen.redelivery_200 += 1,
                    (true, 202) => seen.redelivery_202 += 1,
                    (_, status) => {
                        seen.other_status += 1;
                        if seen.sample.is_none() {
                            seen.sample = Some(format!(
                                "HTTP {status}: {}",
                                String::from_utf8_lossy(&buf[a.body.clone()])
                            ));
                        }
                    }
                }
                if !redelivery && (a.status == 200 || a.status == 202) {
                    seen.acked.push(delivery.clone());
                    sent.push(delivery);
                }
                if a.close {
                    conn = None;
                }
            }
            Err(_) => {
                seen.transport_errors += 1;
                if !redelivery {
                    seen.unknown.push(delivery);
                }
                conn = None;
            }
        }
    }
    seen
}

/// One measured phase against one server.
#[derive(Debug, Default)]
struct Phase {
    wall: Duration,
    seen: Seen,
    server_cpu: Duration,
    client_cpu: Duration,
    rss_max_kb: u64,
    hwm_kb: u64,
}

impl Phase {
    fn rps(&self) -> f64 {
        self.seen.latencies_us.len() as f64 / self.wall.as_secs_f64()
    }

    /// Nearest-rank percentile, ms (latencies sorted).
    fn pct_ms(&self, q: f64) -> f64 {
        nearest_rank(&self.seen.latencies_us, q, 1000.0)
    }

    fn mean_ms(&self) -> f64 {
        let l = &self.seen.latencies_us;
        l.iter().map(|&v| v as f64).sum::<f64>() / l.len().max(1) as f64 / 1000.0
    }
}

/// Runs the ingest load against `server` for `duration`, sampling its RSS.
async fn ingest_phase(
    load: &Arc<Ingest>,
    server: &Server,
    duration: Duration,
    measured: bool,
    tick_hz: f64,
) -> Phase {
    let pid = server.pid();
    let cpu0 = cpu_time(&pid.to_string(), tick_hz);
    let self0 = cpu_time("self", tick_hz);
    let sampler = RssSampler::start(pid);
    let started = Instant::now();
    let deadline = started + duration;
    let workers: Vec<_> = (0..load.concurrency)
        .map(|id| tokio::spawn(ingest_worker(load.clone(), id, deadline, measured)))
        .collect();
    let mut phase = Phase::default();
    for w in workers {
        if let Ok(s) = w.await {
            phase.seen.absorb(s);
        }
    }
    phase.wall = started.elapsed();
    phase.server_cpu = cpu_time(&pid.to_string(), tick_hz).saturating_sub(cpu0);
    phase.client_cpu = cpu_time("self", tick_hz).saturating_sub(self0);
    phase.rss_max_kb = sampler.stop().await;
    phase.hwm_kb = rss_kb(pid).map_or(0, |r| r.1);
    phase.seen.latencies_us.sort_unstable();
    phase
}

/// What medic's database and /metrics say after the ingest run.
#[derive(Debug, Default)]
struct Stored {
    rows: u64,
    distinct_ids: u64,
    /// Ids answered 2xx that medic does not hold.
    lost: u64,
    /// Ids medic holds that were never answered 2xx (nor lost in transit).
    unexpected: u64,
    metric_stored: u64,
    metric_duplicate: u64,
}

async fn sqlite(db: &Path) -> anyhow::Result<sqlx::SqlitePool> {
    let opts = sqlx::sqlite::SqliteConnectOptions::new()
        .filename(db)
        .read_only(true);
    Ok(sqlx::sqlite::SqlitePoolOptions::new()
        .max_connections(1)
        .connect_with(opts)
        .await?)
}

async fn stored(
    db: &Path,
    addr: SocketAddr,
    seen: &Seen,
    payloads: &[Payload],
) -> anyhow::Result<Stored> {
    let pool = sqlite(db).await?;
    let ids: sqlx::Result<Vec<(String,)>> =
        sqlx::query_as("SELECT delivery_id FROM deliveries WHERE source = 'sentry'")
            .fetch_all(&pool)
            .await;
    // Closed on every path: a pool dropped open leaves sqlx's maintenance
    // task behind, which spun a core at exit and kept the bench from
    // ending (seen once).
    pool.close().await;
    let ids = ids?;
    let held: HashSet<&str> = ids.iter().map(|(id,)| id.as_str()).collect();
    // The ids medic computed, by medic's own intake.
    let intake = SentryVerifier::new(CLIENT_SECRET);
    let medic_ids = |ds: &[Delivery]| -> HashSet<String> {
        ds.iter().map(|d| d.medic_id(payloads, &intake)).collect()
    };
    let (acked, unknown) = (medic_ids(&seen.acked), medic_ids(&seen.unknown));
    let acked: HashSet<&str> = acked.iter().map(String::as_str).collect();
    let unknown: HashSet<&str> = unknown.iter().map(String::as_str).collect();
    let metrics = get_text(addr, "/metrics").await.unwrap_or_default();
    let metric = |outcome: &str| {
        metric_sum_u64(
            &metrics,
            "medic_alert_deliveries_total",
            &format!("outcome=\"{outcome}\""),
        )
    };
    Ok(Stored {
        rows: ids.len() as u64,
        distinct_ids: held.len() as u64,
        lost: acked.iter().filter(|id| !held.contains(*id)).count() as u64,
        unexpected: held
            .iter()
            .filter(|id| !acked.contains(*id) && !unknown.contains(*id))
            .count() as u64,
        metric_stored: metric("stored"),
        metric_duplicate: metric("duplicate"),
    })
}

/// Counts of medic's unfinished background work.
#[derive(Debug, Default, Clone, Copy)]
struct Backlog {
    deliveries: i64,
    jobs: i64,
    outbox: i64,
}

impl Backlog {
    fn empty(&self) -> bool {
        self.deliveries == 0 && self.jobs == 0 && self.outbox == 0
    }
}

/// medic's database, as the bench reads it: its SQLite file, or a
/// database created on a PostgreSQL server for one storm round (the only
/// backend several replicas can share), dropped after the round.
enum MedicDb {
    Sqlite(PathBuf),
    Postgres {
        /// The server's URL as given (`--database-url`), to create and
        /// drop the round's database through.
        admin: String,
        name: String,
        url: String,
    },
}

impl MedicDb {
    /// A new, empty database on the PostgreSQL server at `admin`, named
    /// at random so that rounds, runs and other users of the server never
    /// meet.
    async fn create_postgres(admin: &str) -> anyhow::Result<MedicDb> {
        use sqlx::{AssertSqlSafe, Connection, Executor};
        use std::hash::{BuildHasher, Hasher};
        let random = std::collections::hash_map::RandomState::new()
            .build_hasher()
            .finish();
        let name = format!("medic_bench_{random:016x}");
        let mut conn = sqlx::PgConnection::connect(admin)
            .await
            .map_err(|e| anyhow::anyhow!("PostgreSQL at --database-url: {e}"))?;
        // The name is ours (hex digits), never user input.
        conn.execute(AssertSqlSafe(format!("CREATE DATABASE \"{name}\"")))
            .await?;
        let _ = conn.close().await;
        let mut url = url::Url::parse(admin)?;
        url.set_path(&name);
        Ok(MedicDb::Postgres {
            admin: admin.to_string(),
            name,
            url: url.to_string(),
        })
    }

    /// `[database] url` for medic.
    fn url(&self) -> String {
        match self {
            MedicDb::Sqlite(path) => format!("sqlite://{}", path.display()),
            MedicDb::Postgres { url, .. } => url.clone(),
        }
    }

    fn backend(&self) -> &'static str {
        match self {
            MedicDb::Sqlite(_) => "SQLite",
            MedicDb::Postgres { .. } => "PostgreSQL",
        }
    }

    /// Drops a round's PostgreSQL database (an SQLite file goes with the
    /// temporary directory). `FORCE`: a medic that was killed may still
    /// hold connections the server has not noticed closing.
    async fn drop_database(&self) {
        use sqlx::{AssertSqlSafe, Connection, Executor};
        if let MedicDb::Postgres { admin, name, .. } = self {
            match sqlx::PgConnection::connect(admin).await {
                Ok(mut conn) => {
                    let dropped = conn
                        .execute(AssertSqlSafe(format!(
                            "DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"
                        )))
                        .await;
                    if let Err(e) = dropped {
                        eprintln!("could not drop database {name}: {e}");
                    }
                    let _ = conn.close().await;
                }
                Err(e) => eprintln!("could not drop database {name}: {e}"),
            }
        }
    }
}

/// One connection to medic's database, for counting its backlog.
enum Reader {
    Sqlite(sqlx::SqlitePool),
    Postgres(sqlx::PgPool),
}

impl Reader {
    async fn open(db: &MedicDb) -> anyhow::Result<Reader> {
        Ok(match db {
            MedicDb::Sqlite(path) => Reader::Sqlite(sqlite(path).await?),
            MedicDb::Postgres { url, .. } => Reader::Postgres(
                sqlx::postgres::PgPoolOptions::new()
                    .max_connections(1)
                    .connect(url)
                    .await?,
            ),
        })
    }

    async fn count(&self, sql: &'static str) -> sqlx::Result<i64> {
        let row = match self {
            Reader::Sqlite(pool) => sqlx::query_as::<_, (i64,)>(sql).fetch_one(pool).await?,
            Reader::Postgres(pool) => sqlx::query_as::<_, (i64,)>(sql).fetch_one(pool).await?,
        };
        Ok(row.0)
    }

    async fn close(&self) {
        match self {
            Reader::Sqlite(pool) => pool.close().await,
            Reader::Postgres(pool) => pool.close().await,
        }
    }
}

async fn backlog(db: &MedicDb) -> anyhow::Result<Backlog> {
    let reader = Reader::open(db).await?;
    let b = async {
        Ok::<_, sqlx::Error>(Backlog {
            deliveries: reader
                .count("SELECT COUNT(*) FROM deliveries WHERE state = 'pending'")
                .await?,
            jobs: reader
                .count("SELECT COUNT(*) FROM incident_jobs WHERE state = 'pending'")
                .await?,
            outbox: reader
                .count("SELECT COUNT(*) FROM outbox WHERE state IN ('pending', 'sending')")
                .await?,
        })
    }
    .await;
    // Closed on every path, as in `stored`.
    reader.close().await;
    Ok(b?)
}

/// Waits (at most `limit`) until medic's backlog is empty.
async fn wait_drained(db: &MedicDb, limit: Duration) -> (Duration, Backlog) {
    let started = Instant::now();
    loop {
        let b = backlog(db).await.unwrap_or(Backlog {
            deliveries: -1,
            jobs: -1,
            outbox: -1,
        });
        if b.empty() || started.elapsed() > limit {
            return (started.elapsed(), b);
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

struct IngestRound {
    ceiling: Phase,
    /// The durable floor ([`durable`]), through sqlx.
    floor: Phase,
    /// The same with SQLite driven on the writer's own thread (rusqlite).
    raw_floor: Phase,
    medic: Phase,
    /// medic's answers over warm-up and measured phase together.
    medic_all: Seen,
    medic_idle_kb: u64,
    stored: Stored,
    backlog_at_end: Backlog,
    drain: (Duration, Backlog),
    drain_hwm_kb: u64,
    makeup: String,
    slack_429: usize,
    warnings: usize,
}

async fn ingest_round(
    n: usize,
    opts: &Opts,
    bin: &Path,
    root: &Path,
    slack: &FakeSlack,
    tick_hz: f64,
) -> anyhow::Result<IngestRound> {
    let round_start = Instant::now();
    let payloads = Arc::new((0..opts.issues).map(payload).collect::<Vec<_>>());
    let load = |addr, round| {
        Arc::new(Ingest {
            addr,
            concurrency: opts.concurrency,
            redeliver: opts.redeliver,
            payloads: payloads.clone(),
            round,
            seq: Arc::new(AtomicU64::new(1)),
        })
    };

    // The bare servers, one after another: the ceiling, then the two
    // durable floors (each with a fresh database in this round's folder).
    let dir = root.join(format!("ingest{n}"));
    std::fs::create_dir_all(&dir)?;
    let bare = |label: &'static str, args: Vec<String>| {
        let load = &load;
        async move {
            eprintln!("[ingest {n}] {label} …");
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
            let server = start_ceiling_with(&args).await?;
            let l = load(server.addr, 0);
            if !opts.warmup.is_zero() {
                ingest_phase(&l, &server, opts.warmup, false, tick_hz).await;
            }
            let phase = ingest_phase(&l, &server, opts.duration, true, tick_hz).await;
            drop(server);
            tokio::time::sleep(Duration::from_secs(1)).await;
            Ok::<_, anyhow::Error>(phase)
        }
    };
    let db = |name: &str| dir.join(name).to_string_lossy().into_owned();
    let ceiling_phase = bare("ceiling", vec![]).await?;
    let floor_phase = bare("durable floor", vec!["--durable".into(), db("floor.db")]).await?;
    let raw_phase = bare(
        "durable floor, SQLite on the writer's thread",
        vec!["--durable-raw".into(), db("floor-raw.db")],
    )
    .await?;

    eprintln!("[ingest {n}] medic …");
    let (medic, log) = start_medic(bin, &dir, |port| {
        medic_config(
            port,
            &MedicDb::Sqlite(dir.join("medic.db")).url(),
            None,
            slack,
        )
    })
    .await?;
    let medic_idle_kb = rss_kb(medic.pid()).map_or(0, |r| r.0);
    let l = load(medic.addr, n as u64);
    let mut medic_all = Seen::default();
    if !opts.warmup.is_zero() {
        let w = ingest_phase(&l, &medic, opts.warmup, false, tick_hz).await;
        medic_all.absorb(w.seen);
    }
    let medic_phase = ingest_phase(&l, &medic, opts.duration, true, tick_hz).await;
    let mut measured = medic_phase.seen.clone();
    measured.latencies_us.clear();
    medic_all.absorb(measured);
    let db = dir.join("medic.db");
    let stored = stored(&db, medic.addr, &medic_all, &payloads).await?;
    let db = MedicDb::Sqlite(db);
    let backlog_at_end = backlog(&db).await?;
    eprintln!("[ingest {n}] waiting for medic's background work …");
    let drain = wait_drained(&db, opts.drain).await;
    let drain_hwm_kb = rss_kb(medic.pid()).map_or(0, |r| r.1);
    let makeup = memory_makeup(medic.pid());
    drop(medic);
    let slack_429 = slack
        .calls()
        .iter()
        .filter(|c| c.at >= round_start && c.status == 429)
        .count();
    Ok(IngestRound {
        ceiling: ceiling_phase,
        floor: floor_phase,
        raw_floor: raw_phase,
        medic: medic_phase,
        medic_all,
        medic_idle_kb,
        stored,
        backlog_at_end,
        drain,
        drain_hwm_kb,
        makeup,
        slack_429,
        warnings: log_warnings(&log),
    })
}

fn ingest_report(n: usize, opts: &Opts, cores: usize, r: &IngestRound) -> String {
    let mut out = String::new();
    let mut line = |s: String| {
        out.push_str(&s);
        out.push('\n');
    };
    line(format!(
        "\n## Ingest, round {n}: concurrency {}, {:.0} s measured after {:.0} s warm-up, {:.0} % redeliveries, {} issue ids cycled\n",
        opts.concurrency,
        opts.duration.as_secs_f64(),
        opts.warmup.as_secs_f64(),
        opts.redeliver * 100.0,
        opts.issues
    ));
    line("| server | req/s | mean ms | p50 ms | p90 ms | p99 ms | max ms | server CPU (cores of {cores}) | bench CPU | CPU µs/req | RSS max / HWM MB |".replace("{cores}", &cores.to_string()));
    line("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|".into());
    for (name, p) in [
        ("ceiling (bare hyper + HMAC)", &r.ceiling),
        ("durable floor (ceiling + group-commit INSERT)", &r.floor),
        ("durable floor, SQLite on the writer's thread", &r.raw_floor),
        ("medic", &r.medic),
    ] {
        let w = p.wall.as_secs_f64();
        line(format!(
            "| {name} | {:.0} | {:.2} | {:.2} | {:.2} | {:.2} | {:.1} | {:.2} | {:.2} | {:.0} | {:.1} / {:.1} |",
            p.rps(),
            p.mean_ms(),
            p.pct_ms(0.5),
            p.pct_ms(0.9),
            p.pct_ms(0.99),
            p.pct_ms(1.0),
            p.server_cpu.as_secs_f64() / w,
            p.client_cpu.as_secs_f64() / w,
            p.server_cpu.as_secs_f64() * 1e6 / p.seen.latencies_us.len().max(1) as f64,
            mb(p.rss_max_kb),
            mb(p.hwm_kb),
        ));
    }
    let ratio = r.medic.rps() / r.ceiling.rps();
    line(String::new());
    line(format!(
        "medic / ceiling throughput: {ratio:.3} (goal ≥ 0.5: {})",
        if ratio >= 0.5 { "met" } else { "NOT met" }
    ));
    for (name, floor) in [
        ("durable floor", &r.floor),
        (
            "durable floor with SQLite on the writer's thread",
            &r.raw_floor,
        ),
    ] {
        line(format!(
            "{name} / ceiling: {:.3}; medic / {name}: {:.3} (its answers: {} 202, {} 200, {} other)",
            floor.rps() / r.ceiling.rps(),
            r.medic.rps() / floor.rps(),
            floor.seen.new_202 + floor.seen.redelivery_202,
            floor.seen.new_200 + floor.seen.redelivery_200,
            floor.seen.other_status + floor.seen.transport_errors,
        ));
    }
    let a = &r.medic_all;
    let s = &r.stored;
    line(format!(
        "medic, warm-up + measured: {} requests: {} new ({} → 202, {} → 200), {} redeliveries ({} → 200 duplicate, {} → 202), {} other status, {} transport errors ({} new ids with no answer)",
        a.requests,
        a.new_sent,
        a.new_202,
        a.new_200,
        a.redeliveries_sent,
        a.redelivery_200,
        a.redelivery_202,
        a.other_status,
        a.transport_errors,
        a.unknown.len()
    ));
    line(format!(
        "medic's database: {} sentry deliveries, {} distinct ids; ids answered 2xx but not stored (lost): {}; stored but never answered 2xx: {}",
        s.rows, s.distinct_ids, s.lost, s.unexpected
    ));
    line(format!(
        "medic's /metrics: medic_alert_deliveries_total stored {} (load generator's 202s: {}), duplicate {} (load generator's 200s: {})",
        s.metric_stored,
        a.new_202 + a.redelivery_202,
        s.metric_duplicate,
        a.new_200 + a.redelivery_200
    ));
    let exact = s.lost == 0
        && s.unexpected == 0
        && s.rows == s.distinct_ids
        && s.rows == a.new_202
        && a.new_200 == 0
        && a.redelivery_202 == 0
        && s.metric_stored == a.new_202
        && s.metric_duplicate == a.redelivery_200;
    line(format!(
        "0 lost, dedup exact: {}",
        if exact { "yes" } else { "NO" }
    ));
    if let Some(sample) = a.sample.as_ref().or(r.ceiling.seen.sample.as_ref()) {
        line(format!("first unexpected answer: {sample}"));
    }
    line(format!(
        "medic RSS: idle {:.1} MB, max sampled under load {:.1} MB, VmHWM after drain {:.1} MB; {}",
        mb(r.medic_idle_kb),
        mb(r.medic.rss_max_kb),
        mb(r.drain_hwm_kb),
        r.makeup
    ));
    let b = r.backlog_at_end;
    let (took, left) = r.drain;
    line(format!(
        "medic's backlog when the load stopped: {} deliveries, {} incident jobs, {} outbox calls; {} after {:.1} s more (left: {} / {} / {}); fake Slack 429s: {}; {} WARN/ERROR lines in medic's log",
        b.deliveries,
        b.jobs,
        b.outbox,
        if left.empty() {
            "drained"
        } else {
            "NOT drained"
        },
        took.as_secs_f64(),
        left.deliveries,
        left.jobs,
        left.outbox,
        r.slack_429,
        r.warnings
    ));
    out
}

// ---------------------------------------------------------------------------
// Storm.
// ---------------------------------------------------------------------------

/// What one `medic serve` of the round used, and what it said it held.
struct ReplicaFigures {
    port: u16,
    /// Alerts it answered 202 (the load balancer's share).
    answered: u64,
    /// Its `/readyz` duties before the first alert and after the drain.
    duties_before: Vec<String>,
    duties_after: Vec<String>,
    idle_kb: u64,
    rss_max_kb: u64,
    hwm_kb: u64,
    cpu: Duration,
    makeup: String,
    warnings: usize,
}

struct StormRound {
    alerts: usize,
    backend: &'static str,
    sent_in: Duration,
    answers_2xx: usize,
    send_errors: usize,
    /// From the first send until every alert was visible (None: never,
    /// within the wait).
    all_visible: Option<Duration>,
    /// Per alert: from its own send until visible, ms (sorted).
    visible_after_ms: Vec<u32>,
    roots: usize,
    digests: usize,
    slack_429: usize,
    posts_ok: usize,
    drained: (Duration, Backlog),
    replicas: Vec<ReplicaFigures>,
}

impl StormRound {
    /// The replicas whose `/readyz` named `duty` before the storm and
    /// after the drain (1-based, as the report numbers them).
    fn holders(&self, duty: &str) -> (Vec<usize>, Vec<usize>) {
        let held = |pick: fn(&ReplicaFigures) -> &Vec<String>| {
            self.replicas
                .iter()
                .enumerate()
                .filter(|(_, r)| pick(r).iter().any(|d| d == duty))
                .map(|(i, _)| i + 1)
                .collect()
        };
        (held(|r| &r.duties_before), held(|r| &r.duties_after))
    }
}

/// The alert numbers `text` shows (`storm_0042` → 42).
fn visible_numbers(text: &str, into: &mut [bool]) {
    let mut rest = text;
    while let Some(p) = rest.find("storm_") {
        let digits = &rest[p + 6..];
        if let Some(n) = digits.get(..4).and_then(|d| d.parse::<usize>().ok())
            && n < into.len()
        {
            into[n] = true;
        }
        rest = &rest[p + 6..];
    }
}

/// The duties a `/readyz` answer names, or None when the replica is not
/// ready (its database does not answer) or did not answer at all.
async fn readyz_duties(addr: SocketAddr) -> Option<Vec<String>> {
    let body = get_text(addr, "/readyz").await.ok()?;
    if !body.starts_with("ready") {
        return None;
    }
    Some(
        body.lines()
            .filter_map(|l| l.strip_prefix("duty: "))
            .map(str::to_string)
            .collect(),
    )
}

/// Waits (at most 30 s) until every replica is ready and one of them
/// holds the outbox: on PostgreSQL the duties are leases a replica takes
/// within a second or so of starting, and alerts sent before then would
/// time the lease, not medic. Returns each replica's duties as last seen.
async fn wait_ready(addrs: &[SocketAddr]) -> Vec<Vec<String>> {
    let give_up = Instant::now() + Duration::from_secs(30);
    loop {
        let mut seen = Vec::with_capacity(addrs.len());
        for addr in addrs {
            seen.push(readyz_duties(*addr).await);
        }
        let all_ready = seen.iter().all(Option::is_some);
        let outbox_held = seen
            .iter()
            .flatten()
            .any(|d| d.iter().any(|d| d == "outbox"));
        if (all_ready && outbox_held) || Instant::now() > give_up {
            return seen.into_iter().map(Option::unwrap_or_default).collect();
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// One storm round: its database made (a fresh one per round on
/// PostgreSQL), the round run, and the database dropped whatever became
/// of the round (unless `--keep`).
async fn storm_round(
    n: usize,
    opts: &Opts,
    bin: &Path,
    root: &Path,
    tick_hz: f64,
) -> anyhow::Result<StormRound> {
    let dir = root.join(format!("storm{n}"));
    std::fs::create_dir_all(&dir)?;
    let db = match &opts.database_url {
        Some(admin) => MedicDb::create_postgres(admin).await?,
        None => MedicDb::Sqlite(dir.join("medic.db")),
    };
    let round = storm_on(n, opts, bin, &dir, &db, tick_hz).await;
    match (&db, opts.keep) {
        (MedicDb::Postgres { name, .. }, true) => eprintln!("[storm {n}] kept database {name}"),
        _ => db.drop_database().await,
    }
    round
}

async fn storm_on(
    n: usize,
    opts: &Opts,
    bin: &Path,
    dir: &Path,
    db: &MedicDb,
    tick_hz: f64,
) -> anyhow::Result<StormRound> {
    // A fresh fake Slack per round: its pace (one message a second per
    // channel) and its record start empty.
    let slack = FakeSlack::start(BOT_TOKEN).await;
    let db_url = db.url();
    // One after the other: the first migrates the database, the others
    // start on it migrated.
    let mut medics = Vec::with_capacity(opts.replicas);
    for r in 0..opts.replicas {
        let rdir = if opts.replicas == 1 {
            dir.to_path_buf()
        } else {
            dir.join(format!("replica{}", r + 1))
        };
        std::fs::create_dir_all(&rdir)?;
        let redis = opts.redis_url.as_deref();
        let (medic, log) = start_medic(bin, &rdir, |port| {
            medic_config(port, &db_url, redis, &slack)
        })
        .await?;
        medics.push((medic, log));
    }
    let addrs: Arc<Vec<SocketAddr>> = Arc::new(medics.iter().map(|(m, _)| m.addr).collect());
    let duties_before = wait_ready(&addrs).await;
    let pids: Vec<u32> = medics.iter().map(|(m, _)| m.pid()).collect();
    let idle_kb: Vec<u64> = pids.iter().map(|&p| rss_kb(p).map_or(0, |r| r.0)).collect();
    let cpu0: Vec<Duration> = pids
        .iter()
        .map(|p| cpu_time(&p.to_string(), tick_hz))
        .collect();
    let samplers: Vec<RssSampler> = pids.iter().map(|&p| RssSampler::start(p)).collect();
    let payloads: Arc<Vec<Payload>> = Arc::new((0..opts.alerts).map(payload).collect());
    let step = opts.window.div_f64(opts.alerts as f64);
    let sent_at: Arc<Mutex<Vec<Option<Instant>>>> = Arc::new(Mutex::new(vec![None; opts.alerts]));
    let next = Arc::new(AtomicU64::new(0));
    let answered: Arc<Vec<AtomicU64>> =
        Arc::new((0..opts.replicas).map(|_| AtomicU64::new(0)).collect());
    let errors = Arc::new(AtomicU64::new(0));
    eprintln!(
        "[storm {n}] {} alerts over {:?} into {CHANNEL}, {} replica(s) on {} …",
        opts.alerts,
        opts.window,
        opts.replicas,
        db.backend()
    );
    let start = Instant::now();
    // Eight senders take alerts in order, each at its scheduled time;
    // alert i goes to replica i mod N, as a round-robin load balancer
    // would send it.
    let senders: Vec<_> = (0..8)
        .map(|_| {
            let (payloads, sent_at, next, answered, errors, addrs) = (
                payloads.clone(),
                sent_at.clone(),
                next.clone(),
                answered.clone(),
                errors.clone(),
                addrs.clone(),
            );
            tokio::spawn(async move {
                let hosts: Vec<String> = addrs.iter().map(|a| a.to_string()).collect();
                let mut conns: Vec<Option<TcpStream>> = (0..addrs.len()).map(|_| None).collect();
                let (mut req, mut buf) = (Vec::new(), Vec::new());
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed) as usize;
                    if i >= payloads.len() {
                        break;
                    }
                    let r = i % addrs.len();
                    tokio::time::sleep_until((start + step * i as u32).into()).await;
                    request(
                        &mut req,
                        &hosts[r],
                        &payloads[i],
                        1,
                        &request_id(1000 + n as u64, i as u64),
                    );
                    sent_at.lock().unwrap()[i] = Some(Instant::now());
                    let conn = &mut conns[r];
                    let mut ok = false;
                    for _ in 0..3 {
                        if conn.is_none() {
                            *conn = connect(addrs[r]).await.ok();
                        }
                        let Some(stream) = conn.as_mut() else {
                            continue;
                        };
                        match exchange(stream, &req, &mut buf).await {
                            Ok(a) if a.status == 202 => {
                                ok = true;
                                break;
                            }
                            _ => *conn = None,
                        }
                    }
                    if ok {
                        answered[r].fetch_add(1, Ordering::Relaxed);
                    } else {
                        errors.fetch_add(1, Ordering::Relaxed);
                    }
                }
            })
        })
        .collect();

    // Watch the channel while sending and after.
    let mut visible = vec![false; opts.alerts];
    let mut visible_at: Vec<Option<Instant>> = vec![None; opts.alerts];
    let give_up = start + opts.window + Duration::from_secs(600);
    let mut all_visible = None;
    let mut sent_in = None;
    loop {
        tokio::time::sleep(Duration::from_millis(200)).await;
        if sent_in.is_none() && senders.iter().all(|s| s.is_finished()) {
            sent_in = Some(start.elapsed());
        }
        let text = slack.roots_now(CHANNEL).join("\n");
        visible_numbers(&text, &mut visible);
        let now = Instant::now();
        for (i, v) in visible.iter().enumerate() {
            if *v && visible_at[i].is_none() {
                visible_at[i] = Some(now);
            }
        }
        if visible.iter().all(|v| *v) {
            all_visible = Some(start.elapsed());
            break;
        }
        if now > give_up {
            break;
        }
    }
    for s in senders {
        let _ = s.await;
    }
    let sent_in = sent_in.unwrap_or_else(|| start.elapsed());
    let sent_at = sent_at.lock().unwrap().clone();
    let mut visible_after_ms: Vec<u32> = visible_at
        .iter()
        .zip(&sent_at)
        .filter_map(|(v, s)| Some(v.as_ref()?.saturating_duration_since(*s.as_ref()?)))
        .map(|d| d.as_millis().min(u32::MAX as u128) as u32)
        .collect();
    visible_after_ms.sort_unstable();
    eprintln!("[storm {n}] waiting for medic's outbox to drain …");
    let waited_from = start.elapsed();
    let (took, left) = wait_drained(db, opts.drain).await;
    let drained = (waited_from + took, left);
    let mut replicas = Vec::with_capacity(medics.len());
    for (r, ((medic, _), sampler)) in medics.iter().zip(samplers).enumerate() {
        let pid = medic.pid();
        let rss_max_kb = sampler.stop().await;
        replicas.push(ReplicaFigures {
            port: medic.addr.port(),
            answered: answered[r].load(Ordering::Relaxed),
            duties_before: duties_before[r].clone(),
            duties_after: readyz_duties(medic.addr).await.unwrap_or_default(),
            idle_kb: idle_kb[r],
            rss_max_kb,
            hwm_kb: rss_kb(pid).map_or(0, |r| r.1),
            cpu: cpu_time(&pid.to_string(), tick_hz).saturating_sub(cpu0[r]),
            makeup: memory_makeup(pid),
            // Counted once medic is stopped, below: its last lines are in.
            warnings: 0,
        });
    }
    let logs: Vec<PathBuf> = medics.iter().map(|(_, log)| log.clone()).collect();
    drop(medics);
    for (figures, log) in replicas.iter_mut().zip(&logs) {
        figures.warnings = log_warnings(log);
    }
    let roots = slack.roots_now(CHANNEL);
    let calls = slack.calls();
    Ok(StormRound {
        alerts: opts.alerts,
        backend: db.backend(),
        sent_in,
        answers_2xx: replicas.iter().map(|r| r.answered as usize).sum(),
        send_errors: errors.load(Ordering::Relaxed) as usize,
        all_visible,
        visible_after_ms,
        digests: roots
            .iter()
            .filter(|r| r.contains("new incidents at once"))
            .count(),
        roots: roots.len(),
        slack_429: calls.iter().filter(|c| c.status == 429).count(),
        posts_ok: calls
            .iter()
            .filter(|c| c.status == 200 && c.error.is_none())
            .count(),
        drained,
        replicas,
    })
}

/// `a / b / c` of one figure per replica.
fn per_replica(r: &StormRound, f: impl Fn(&ReplicaFigures) -> String) -> String {
    r.replicas.iter().map(f).collect::<Vec<_>>().join(" / ")
}

/// Replica numbers as `2` or `1, 3`, or `none`.
fn numbers(ns: &[usize]) -> String {
    if ns.is_empty() {
        return "none".into();
    }
    ns.iter()
        .map(usize::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}

fn storm_report(n: usize, opts: &Opts, r: &StormRound) -> String {
    let mut out = String::new();
    let mut line = |s: String| {
        out.push_str(&s);
        out.push('\n');
    };
    // One medic on SQLite, as the storm always ran, reads as it always did.
    let cluster = r.replicas.len() > 1 || r.backend != "SQLite";
    line(format!(
        "\n## Storm, round {n}: {} distinct alerts over {:.0} s into one channel{}\n",
        r.alerts,
        opts.window.as_secs_f64(),
        if cluster {
            format!(", {} replica(s) on {}", r.replicas.len(), r.backend)
        } else {
            String::new()
        }
    ));
    let pct = |q: f64| nearest_rank(&r.visible_after_ms, q, 1000.0);
    let all = r.all_visible.map_or_else(
        || "never".to_string(),
        |d| format!("{:.1} s", d.as_secs_f64()),
    );
    let (took, left) = r.drained;
    line("| alerts answered 202 | sent in s | all visible after (from first send) | per-alert send→visible p50 / p99 / max s | top-level messages (digests) | 429s | chat calls ok | medic peak RSS (VmHWM) MB | outbox drained after s | medic CPU s |".into());
    line("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|".into());
    line(format!(
        "| {} of {} | {:.1} | {all} | {:.1} / {:.1} / {:.1} | {} ({}) | {} | {} | {} | {} | {} |",
        r.answers_2xx,
        r.alerts,
        r.sent_in.as_secs_f64(),
        pct(0.5),
        pct(0.99),
        pct(1.0),
        r.roots,
        r.digests,
        r.slack_429,
        r.posts_ok,
        per_replica(r, |m| format!("{:.1}", mb(m.hwm_kb))),
        if left.empty() {
            format!("{:.1}", took.as_secs_f64())
        } else {
            format!(
                "not within {:.0} (left {} / {} / {})",
                took.as_secs_f64(),
                left.deliveries,
                left.jobs,
                left.outbox
            )
        },
        per_replica(r, |m| format!("{:.1}", m.cpu.as_secs_f64())),
    ));
    line(String::new());
    let visible_ok = r.all_visible.is_some_and(|d| d <= Duration::from_secs(120));
    line(format!(
        "every alert visible within 2 minutes: {}; no 429: {}",
        if visible_ok { "met" } else { "NOT met" },
        if r.slack_429 == 0 { "met" } else { "NOT met" },
    ));
    if !cluster {
        let m = &r.replicas[0];
        line(format!(
            "medic RSS: idle {:.1} MB, max sampled {:.1} MB, VmHWM {:.1} MB; {}; send errors {}; {} WARN/ERROR lines in medic's log",
            mb(m.idle_kb),
            mb(m.rss_max_kb),
            mb(m.hwm_kb),
            m.makeup,
            r.send_errors,
            m.warnings
        ));
        return out;
    }
    let (before, after) = r.holders("outbox");
    line(format!(
        "outbox held by replica {} before the first alert, {} after the drain; send errors {}",
        numbers(&before),
        numbers(&after),
        r.send_errors
    ));
    line(String::new());
    line("| replica | port | alerts answered 202 | duties before → after | idle RSS MB | max sampled RSS MB | peak RSS (VmHWM) MB | memory | CPU s | WARN/ERROR log lines |".into());
    line("|---:|---:|---:|---|---:|---:|---:|---|---:|---:|".into());
    for (i, m) in r.replicas.iter().enumerate() {
        let duties = |d: &[String]| {
            if d.is_empty() {
                "none".to_string()
            } else {
                d.join(", ")
            }
        };
        line(format!(
            "| {} | {} | {} | {} → {} | {:.1} | {:.1} | {:.1} | {} | {:.1} | {} |",
            i + 1,
            m.port,
            m.answered,
            duties(&m.duties_before),
            duties(&m.duties_after),
            mb(m.idle_kb),
            mb(m.rss_max_kb),
            mb(m.hwm_kb),
            m.makeup,
            m.cpu.as_secs_f64(),
            m.warnings
        ));
    }
    out
}

/// One line per round, for comparing rounds (and runs with other
/// `--replicas`) side by side.
fn storm_summary(rounds: &[StormRound]) -> String {
    let mut out = String::from(
        "\n| storm round | backend | replicas | all visible s | p50 / p99 / max s | top-level messages (digests) | 429s | peak RSS per replica MB | outbox holder |\n|---:|---|---:|---:|---:|---:|---:|---:|---:|\n",
    );
    for (i, r) in rounds.iter().enumerate() {
        let pct = |q: f64| nearest_rank(&r.visible_after_ms, q, 1000.0);
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} | {:.1} / {:.1} / {:.1} | {} ({}) | {} | {} | {} |",
            i + 1,
            r.backend,
            r.replicas.len(),
            r.all_visible
                .map_or_else(|| "never".into(), |d| format!("{:.1}", d.as_secs_f64())),
            pct(0.5),
            pct(0.99),
            pct(1.0),
            r.roots,
            r.digests,
            r.slack_429,
            per_replica(r, |m| format!("{:.1}", mb(m.hwm_kb))),
            numbers(&r.holders("outbox").0),
        );
    }
    out
}

// ---------------------------------------------------------------------------
// Servers.
// ---------------------------------------------------------------------------

/// medic with Sentry intake and one catch-all route on `database`, and
/// `[redis]` when given; `[incidents]` at its defaults (digest_after 5).
/// Every replica of a round gets the same, but for its port.
fn medic_config(port: u16, database: &str, redis: Option<&str>, slack: &FakeSlack) -> String {
    let mut config = format!(
        r#"# Written by medic-bench-alerts.
[server]
bind = "127.0.0.1:{port}"
shutdown_grace = "1s"

[database]
url = "{database}"

[slack]
signing_secret = "{SIGNING_SECRET}"
bot_token = "{BOT_TOKEN}"
api_url = "{api}"

[sentry]
client_secret = "{CLIENT_SECRET}"

[[routes]]
match = {{}}
slack_channel = "{CHANNEL}"
"#,
        api = slack.api_url(),
    );
    if let Some(url) = redis {
        let _ = write!(config, "\n[redis]\nurl = \"{url}\"\n");
    }
    config
}

async fn bench(opts: Opts) -> anyhow::Result<()> {
    let bin = medic_binary(opts.medic.as_deref())?;
    let tick_hz = clock_ticks();
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    print_heading("medic-bench-alerts", &bin, cores);
    let _ = rustls::crypto::ring::default_provider().install_default();
    let root = tempfile::Builder::new()
        .prefix("medic-bench-alerts-")
        .tempdir()?;
    if opts.ingest {
        let slack = FakeSlack::start(BOT_TOKEN).await;
        let mut ratios = Vec::new();
        for n in 1..=opts.rounds {
            let r = ingest_round(n, &opts, &bin, root.path(), &slack, tick_hz).await?;
            println!("{}", ingest_report(n, &opts, cores, &r));
            ratios.push((r.ceiling.rps(), r.medic.rps(), r.medic.pct_ms(0.99)));
        }
        if ratios.len() > 1 {
            println!("\n| ingest round | ceiling req/s | medic req/s | ratio | medic p99 ms |");
            println!("|---:|---:|---:|---:|---:|");
            for (i, (c, m, p99)) in ratios.iter().enumerate() {
                println!("| {} | {c:.0} | {m:.0} | {:.3} | {p99:.2} |", i + 1, m / c);
            }
        }
    }
    if opts.storm {
        let mut rounds = Vec::new();
        for n in 1..=opts.rounds {
            let r = storm_round(n, &opts, &bin, root.path(), tick_hz).await?;
            println!("{}", storm_report(n, &opts, &r));
            rounds.push(r);
        }
        if rounds.len() > 1 {
            println!("{}", storm_summary(&rounds));
        }
    }
    if opts.keep {
        println!("kept {}", root.keep().display());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_storm_number_in_a_text_is_found() {
        let mut seen = vec![false; 12];
        visible_numbers(
            "🚨 3 new incidents: ReferenceError: storm_0001 is not defined; storm_0011 x\nstorm_0042 storm_",
            &mut seen,
        );
        let found: Vec<usize> = (0..12).filter(|&i| seen[i]).collect();
        assert_eq!(found, vec![1, 11]);
    }

    #[test]
    fn replicas_need_a_shared_database_and_the_storm_alone() {
        let parse = |args: &[&str]| Opts::parse(args.iter().map(|a| a.to_string()));
        assert!(parse(&["--scenario", "storm", "--replicas", "3"]).is_err());
        assert!(parse(&["--replicas", "3", "--database-url", "postgres://h/db"]).is_err());
        assert!(parse(&["--scenario", "storm", "--database-url", "sqlite://x.db"]).is_err());
        let o = parse(&[
            "--scenario",
            "storm",
            "--replicas",
            "3",
            "--database-url",
            "postgres://h/db",
        ])
        .unwrap();
        assert_eq!(
            (o.replicas, o.database_url.as_deref()),
            (3, Some("postgres://h/db"))
        );
        assert_eq!(parse(&["--scenario", "storm"]).unwrap().replicas, 1);
    }

    #[test]
    fn each_delivery_is_its_own_signed_body_and_medic_id() {
        let payloads: Vec<Payload> = (0..2).map(payload).collect();
        let intake = SentryVerifier::new(CLIENT_SECRET);
        let mut ids = HashSet::new();
        for (p, number) in [(0, 1), (0, 2), (1, 1), (1, 12345)] {
            let body = payloads[p].body(number);
            // Signed as Sentry signs (an independent implementation), and
            // still the fixture with the number as its user count.
            assert_eq!(
                payloads[p].signature(number),
                medic_tests::signing::sentry_signature(CLIENT_SECRET, &body)
            );
            let v: Value = serde_json::from_slice(&body).unwrap();
            assert_eq!(v["data"]["issue"]["userCount"], number);
            let mut req = Vec::new();
            request(&mut req, "h", &payloads[p], number, "rid");
            assert!(req.ends_with(&body));
            let d = Delivery {
                request_id: request_id(0, number),
                payload: p,
                number,
            };
            assert!(ids.insert(d.medic_id(&payloads, &intake)));
            // A retry under another Request-ID is the same delivery.
            let retried = Delivery {
                request_id: request_id(9, number),
                ..d.clone()
            };
            assert_eq!(
                retried.medic_id(&payloads, &intake),
                d.medic_id(&payloads, &intake)
            );
        }
    }

    #[test]
    fn request_ids_are_unique_per_round_and_sequence() {
        let ids: HashSet<String> = (0..2)
            .flat_map(|r| (0..1000).map(move |s| request_id(r, s)))
            .collect();
        assert_eq!(ids.len(), 2000);
        assert_eq!(request_id(1, 7).len(), 36);
    }
}

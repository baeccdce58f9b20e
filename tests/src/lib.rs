//! medic's end-to-end harness: the real medic on port 0, with a fresh
//! database, against fake chat APIs on port 0 and real Redis / PostgreSQL.
//!
//! # Layout
//!
//! - [`spawn_medic`] → [`TestMedic`], with one helper per user action
//!   ([`TestMedic::slash`]).
//! - [`fakes`]: faithful fakes of the platform APIs.
//! - [`services`]: the real servers tests need; under `CI=true` a missing
//!   one fails the test, never skips it.
//! - [`db`]: a fresh database per test.
//! - [`signing`]: signs requests the way the platforms do, independently of
//!   medic's own verifier.
//! - [`wait`]: waiting on events (a fake's record, a condition polled
//!   with a deadline), never on a fixed sleep.
//! - `e2e/`: the end-to-end tests, one module per capability; `e2e/child.rs`
//!   runs medic as a real process, for the tests that SIGKILL it, and
//!   `e2e/console.rs` drives `medic console` through its stdin.

pub mod bench_support;
pub mod db;
pub mod fakes;
pub mod services;
pub mod signing;
pub mod wait;

use std::net::SocketAddr;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use medic::app::App;
use medic::settings::{Settings, Sources};
use medic::state::AppState;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

pub use fakes::discord::FakeDiscord;
pub use fakes::slack::FakeSlack;

/// The Slack signing secret every test medic uses.
pub const SIGNING_SECRET: &str = "8f742231b10e8888abcd99yyyzzz85a5";
/// The bot token the fake Slack accepts.
pub const BOT_TOKEN: &str = "xoxb-test-0000-medic";
/// The Discord bot token the fake Discord accepts.
pub const DISCORD_TOKEN: &str = "MTAwMDAw.fake.discord-bot-token";
/// The Discord application id of every test medic.
pub const DISCORD_APP: &str = "1100000000000000001";
/// The seed of the test Discord application's Ed25519 key.
pub const DISCORD_KEY_SEED: u8 = 7;
/// The Discord channel interactions come from unless a test says otherwise.
pub const DISCORD_CHANNEL: &str = "1200000000000000001";

/// The channel commands come from unless a test says otherwise.
pub const CHANNEL: &str = "C0INCIDENT";

/// How a test wants its medic.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// `[targets.…]` sections (TOML); medic's defaults when empty.
    pub targets: String,
    /// Extra TOML appended to the config (e.g. `[limits]`).
    pub extra: String,
    /// A pre-started fake Slack (e.g. with a custom interval).
    pub slack: Option<FakeSlack>,
    /// Configure `[discord]` against a fake Discord.
    pub discord: bool,
    /// A pre-started fake Discord (implies `discord`): several medics
    /// against one Discord, or an application id of the test's own.
    pub discord_fake: Option<FakeDiscord>,
    /// `[discord] gateway = true` (and no public key: nothing comes over
    /// HTTP then).
    pub discord_gateway: bool,
    /// `[redis] url`: medic's own Redis (the gateway lock).
    pub redis: Option<String>,
    /// `slack.app_token`: Socket Mode (the fake Slack must serve it).
    pub slack_app_token: Option<String>,
    /// `slack.teams`: the workspaces served (every one when empty).
    pub slack_teams: Vec<String>,
    /// `discord.guilds`: the servers served (every one, and DMs, when
    /// empty).
    pub discord_guilds: Vec<String>,
    /// Another test medic's `database.url`: this one is a second replica
    /// on the same database (a fresh database when `None`).
    pub shared_database: Option<String>,
}

/// A running medic and its surroundings.
pub struct TestMedic {
    /// Where it listens.
    pub addr: SocketAddr,
    /// The fake Slack it posts to.
    pub slack: FakeSlack,
    /// The fake Discord it posts to, when `Options::discord`.
    pub discord: Option<FakeDiscord>,
    /// Its shared state (database, metrics).
    pub state: AppState,
    /// Its database.
    pub db: db::TestDb,
    /// An HTTP client for requests to medic.
    pub http: reqwest::Client,
    shutdown: Option<oneshot::Sender<()>>,
    handle: Option<JoinHandle<anyhow::Result<()>>>,
}

/// Starts medic with `opts`.
pub async fn spawn_medic(opts: Options) -> TestMedic {
    if std::env::var_os("TEST_LOG").is_some() {
        medic::telemetry::init("info");
    }
    let _ = rustls::crypto::ring::default_provider().install_default();
    let slack = match opts.slack {
        Some(s) => s,
        None => FakeSlack::start(BOT_TOKEN).await,
    };
    let db = match opts.shared_database {
        Some(url) => db::TestDb::Shared { url },
        None => db::TestDb::fresh().await,
    };
    let discord = match opts.discord_fake {
        Some(d) => Some(d),
        None if opts.discord || opts.discord_gateway => {
            Some(FakeDiscord::start(DISCORD_TOKEN, DISCORD_APP).await)
        }
        None => None,
    };
    let discord_section = match &discord {
        Some(d) if opts.discord_gateway => format!(
            "[discord]\napplication_id = \"{}\"\nbot_token = \"{DISCORD_TOKEN}\"\napi_url = \"{}\"\ngateway = true\n",
            d.application_id(),
            d.api_url()
        ),
        Some(d) => format!(
            "[discord]\napplication_id = \"{}\"\npublic_key = \"{}\"\nbot_token = \"{DISCORD_TOKEN}\"\napi_url = \"{}\"\n",
            d.application_id(),
            signing::discord_public_key(&signing::discord_key(DISCORD_KEY_SEED)),
            d.api_url()
        ),
        None => String::new(),
    };
    let ids = |ids: &[String]| {
        ids.iter()
            .map(|id| format!("\"{id}\""))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let discord_section = if opts.discord_guilds.is_empty() {
        discord_section
    } else {
        format!(
            "{discord_section}guilds = [{}]\n",
            ids(&opts.discord_guilds)
        )
    };
    let slack_teams = if opts.slack_teams.is_empty() {
        String::new()
    } else {
        format!("teams = [{}]", ids(&opts.slack_teams))
    };
    let redis_section = opts
        .redis
        .as_deref()
        .map(|url| format!("[redis]\nurl = \"{url}\"\n"))
        .unwrap_or_default();
    let config = format!(
        r#"
[server]
bind = "127.0.0.1:0"
shutdown_grace = "20s"

[database]
url = "{db}"

[slack]
signing_secret = "{SIGNING_SECRET}"
bot_token = "{BOT_TOKEN}"
api_url = "{api}"
{app_token}
{slack_teams}

{discord_section}

{redis_section}

{targets}

{extra}
"#,
        db = db.url(),
        api = slack.api_url(),
        app_token = opts
            .slack_app_token
            .as_deref()
            .map(|t| format!("app_token = \"{t}\""))
            .unwrap_or_default(),
        targets = opts.targets,
        extra = opts.extra,
    );
    let loaded = Settings::load(&Sources::toml(&config))
        .unwrap_or_else(|p| panic!("test config invalid: {p:#?}"));
    let app = App::build(loaded.settings).await.expect("medic builds");
    let addr = app.local_addr();
    let state = app.state().clone();
    let (tx, rx) = oneshot::channel::<()>();
    let handle = tokio::spawn(app.run_until_stopped(async move {
        let _ = rx.await;
    }));
    TestMedic {
        addr,
        slack,
        discord,
        state,
        db,
        http: reqwest::Client::new(),
        shutdown: Some(tx),
        handle: Some(handle),
    }
}

/// `[targets.NAME]` for a Redis at `url`, with timeouts short enough for
/// tests and long enough for a loaded CI machine.
pub fn redis_target(name: &str, url: &str) -> String {
    format!(
        "[targets.{name}]\nkind = \"redis\"\nurl = \"{url}\"\nconnect_timeout = \"2s\"\ntimeout = \"3s\"\n"
    )
}

/// `[targets.NAME]` for a Redis on a loopback port where nothing listens:
/// a stopped server.
pub async fn dead_redis_target(name: &str) -> String {
    redis_target(
        name,
        &format!("redis://127.0.0.1:{}", services::dead_port().await),
    )
}

/// Starts medic with these `[targets…]` and everything else default.
pub async fn spawn_with_targets(targets: String) -> TestMedic {
    spawn_medic(Options {
        targets,
        ..Default::default()
    })
    .await
}

/// The text of medic's ephemeral answer to a slash command, checking that
/// it is one (200, `response_type: ephemeral`).
pub async fn ephemeral_text(r: reqwest::Response) -> String {
    assert_eq!(r.status(), 200);
    let v: serde_json::Value = r.json().await.expect("JSON ack");
    assert_eq!(v["response_type"], "ephemeral", "{v}");
    v["text"].as_str().unwrap_or_default().to_string()
}

/// Now as Unix seconds.
pub fn now_unix() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

/// `Ok` when medic's database holds no work: no delivery or incident job
/// pending, no outbox call waiting or in flight (a call stays `sending`
/// until its answer is recorded). Otherwise what is left, as text. Asked
/// in this order because each step queues the next in the same
/// transaction that ends it.
pub async fn store_idle(store: &medic::storage::Store) -> Result<(), String> {
    let text = |e: sqlx::Error| e.to_string();
    let deliveries = store.pending_deliveries(1).await.map_err(text)?.len();
    let jobs = store.pending_jobs(1).await.map_err(text)?.len();
    let mut calls = 0;
    for state in ["pending", "sending"] {
        calls += store.outbox_count(state).await.map_err(text)?;
    }
    if deliveries + jobs == 0 && calls == 0 {
        Ok(())
    } else {
        Err(format!(
            "pending: {deliveries} delivery(ies), {jobs} incident job(s); {calls} outbox call(s) waiting"
        ))
    }
}

impl TestMedic {
    /// Records one Sentry delivery of `alert` under delivery id `id`
    /// through the webhooks' own writer (no HTTP, no signature): its
    /// incident changes commit with it, as from `POST /webhooks/sentry`.
    pub async fn deliver(
        &self,
        id: &str,
        alert: medic_commands::model::alert::Alert,
    ) -> medic::storage::deliveries::Recorded {
        self.state
            .ingest
            .record(medic::storage::deliveries::NewDelivery::new(
                "sentry",
                id.into(),
                vec![alert],
            ))
            .await
            .expect("recorded")
    }

    /// A URL on this medic.
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// Posts a signed slash command, as user U0ALICE in [`CHANNEL`].
    pub async fn slash(&self, command: &str, text: &str) -> reqwest::Response {
        self.slash_in(CHANNEL, command, text).await
    }

    /// Posts a signed slash command, as user U0ALICE in `channel`.
    pub async fn slash_in(&self, channel: &str, command: &str, text: &str) -> reqwest::Response {
        self.slash_as("U0ALICE", "alice", channel, command, text)
            .await
    }

    /// Posts a signed slash command as `user` (`name`) in `channel`.
    pub async fn slash_as(
        &self,
        user: &str,
        name: &str,
        channel: &str,
        command: &str,
        text: &str,
    ) -> reqwest::Response {
        let body = signing::slash_form(
            command,
            text,
            channel,
            user,
            name,
            &self.slack.response_url("r1"),
        );
        self.post_signed("/slack/commands", &body, now_unix()).await
    }

    /// Presses a button as `user` in [`CHANNEL`]: a signed
    /// `block_actions` interaction carrying `action_id` and `value`. The
    /// ephemeral answer goes to the fake's response URL `user`.
    pub async fn click(
        &self,
        user: &str,
        action_id: &str,
        value: &str,
        thread_ts: Option<&str>,
    ) -> reqwest::Response {
        let body = signing::block_actions_form(
            user,
            CHANNEL,
            thread_ts,
            action_id,
            value,
            &self.slack.response_url(user),
        );
        self.post_signed("/slack/interactions", &body, now_unix())
            .await
    }

    /// Posts `body` signed with medic's secret at timestamp `ts`.
    pub async fn post_signed(&self, path: &str, body: &str, ts: i64) -> reqwest::Response {
        let sig = signing::slack_signature(SIGNING_SECRET, ts, body.as_bytes());
        self.post_raw(
            path,
            body.as_bytes().to_vec(),
            Some(ts.to_string()),
            Some(sig),
        )
        .await
    }

    /// Posts a Discord interaction signed with the test application's
    /// key, now; returns the status and the JSON answer.
    pub async fn interaction(&self, body: &serde_json::Value) -> (u16, serde_json::Value) {
        let body = serde_json::to_vec(body).expect("JSON");
        let ts = now_unix().to_string();
        let sig = signing::discord_signature(&signing::discord_key(DISCORD_KEY_SEED), &ts, &body);
        self.post_json(
            "/discord/interactions",
            &[("x-signature-ed25519", sig), ("x-signature-timestamp", ts)],
            body,
        )
        .await
    }

    /// The fake Discord (panics when the medic was started without it).
    pub fn discord(&self) -> &FakeDiscord {
        self.discord
            .as_ref()
            .expect("spawned with Options { discord: true }")
    }

    /// Posts with exactly the headers given.
    pub async fn post_raw(
        &self,
        path: &str,
        body: Vec<u8>,
        ts: Option<String>,
        sig: Option<String>,
    ) -> reqwest::Response {
        let mut req = self
            .http
            .post(self.url(path))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(body);
        if let Some(ts) = ts {
            req = req.header("x-slack-request-timestamp", ts);
        }
        if let Some(sig) = sig {
            req = req.header("x-slack-signature", sig);
        }
        req.send().await.expect("medic answers")
    }

    /// Posts a JSON body with `headers`, as an alert source does; returns
    /// the status and the JSON answer (`null` when it is not JSON).
    pub async fn post_json(
        &self,
        path: &str,
        headers: &[(&str, String)],
        body: Vec<u8>,
    ) -> (u16, serde_json::Value) {
        let mut req = self
            .http
            .post(self.url(path))
            .header("content-type", "application/json")
            .body(body);
        for (name, value) in headers {
            req = req.header(*name, value);
        }
        let r = req.send().await.expect("medic answers");
        let status = r.status().as_u16();
        let text = r.text().await.unwrap_or_default();
        (status, serde_json::from_str(&text).unwrap_or_default())
    }

    /// `GET path` → (status, body).
    pub async fn get(&self, path: &str) -> (u16, String) {
        let r = self
            .http
            .get(self.url(path))
            .send()
            .await
            .expect("medic answers");
        (r.status().as_u16(), r.text().await.unwrap_or_default())
    }

    /// Waits until medic has nothing left to do: no command, event,
    /// click or outbox task running, no delivery or incident job pending,
    /// no outbox call waiting or in flight. Everything it was going to
    /// post is in the fakes' record by then, so a check that something
    /// did *not* happen (no second post, no second run) follows this
    /// instead of a sleep. Not for a test whose chat is down: the outbox
    /// never empties then.
    pub async fn idle(&self) {
        let tasks = &self.state.tasks;
        wait::eventually("medic idle", Duration::from_secs(30), || async {
            // Tasks first and last: a task that finishes in between may
            // have queued work the store is asked about.
            let before = tasks.len();
            store_idle(&self.state.store).await?;
            match before.max(tasks.len()) {
                0 => Ok(()),
                n => Err(format!("{n} task(s) running")),
            }
        })
        .await
    }

    /// Stops medic the way SIGTERM does and waits for it to drain.
    pub async fn stop(mut self) -> anyhow::Result<()> {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        let result = match self.handle.take() {
            Some(h) => tokio::time::timeout(Duration::from_secs(60), h)
                .await
                .map_err(|_| anyhow::anyhow!("medic did not stop within 60 s"))??,
            None => Ok(()),
        };
        self.db.drop_database().await;
        result
    }
}

impl Drop for TestMedic {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }
}

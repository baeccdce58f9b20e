//! A fake Discord REST API (v10): channel messages, threads, interaction
//! webhooks and command registration.
//!
//! Faithful where medic could go wrong:
//! - `Authorization: Bot <token>` is required on bot routes (401, code 0,
//!   like Discord); interaction webhooks need no token and must name a
//!   known interaction token and the right application (404, 10015
//!   Unknown Webhook);
//! - message limits: content 2000, 10 embeds, title 256, description
//!   4096, 25 fields (name 256, value 1024), footer 2048, 6000 characters
//!   across a message's embeds, and a message needs content or embeds
//!   (400, 50035 Invalid Form Body / 50006 Cannot send an empty message);
//! - about five messages per five seconds per channel: past that 429 with
//!   `retry_after` in the JSON body and a `Retry-After` header; a test can
//!   also force 429s on a route ([`FakeDiscord::rate_limit`]);
//! - a thread is started from a message that exists in that channel, once
//!   (10008 Unknown Message, 160004 thread exists), named ≤ 100
//!   characters; posting into a message id that has no thread is 10003
//!   Unknown Channel;
//! - `nonce` with `enforce_nonce` returns the earlier message instead of
//!   posting twice.
//!
//! - the gateway: `GET /gateway` (and `/gateway/bot`, which needs the
//!   token) name a [`FakeGateway`] started with the API; an interaction a
//!   test injects there ([`FakeDiscord::inject_interaction`]) must be
//!   answered once through `POST /interactions/{id}/{token}/callback`
//!   (204; 10062 Unknown interaction for one never sent, 40060 already
//!   acknowledged for a second answer) before its token takes follow-ups
//!   or edits of `@original` (10015 Unknown Webhook until then).
//!
//! Every call, accepted or not, is recorded.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, patch, post, put};
use serde_json::{Value, json};

use super::discord_gateway::FakeGateway;
use crate::wait::Changes;

/// Messages per channel per [`CHANNEL_WINDOW`].
pub const CHANNEL_BURST: usize = 5;
/// The window of the per-channel limit.
pub const CHANNEL_WINDOW: Duration = Duration::from_secs(5);

/// One recorded call.
#[derive(Debug, Clone)]
pub struct Call {
    /// `POST`, `PATCH`, `PUT`.
    pub method: String,
    /// The route, with ids: `/channels/1/messages`.
    pub path: String,
    /// The route's template: `create_message`, `edit_message`,
    /// `start_thread`, `edit_original`, `followup`, `commands`.
    pub route: &'static str,
    /// The `Authorization` header as sent.
    pub authorization: Option<String>,
    /// The JSON body.
    pub body: Value,
    /// The HTTP status answered.
    pub status: u16,
    /// When it arrived.
    pub at: Instant,
}

#[derive(Debug, Clone)]
struct Message {
    channel: String,
    body: Value,
}

#[derive(Debug)]
struct Inner {
    token: String,
    application_id: String,
    calls: Mutex<Vec<Call>>,
    /// By id, their latest body.
    messages: Mutex<HashMap<String, Message>>,
    /// Message ids in the order posted.
    order: Mutex<Vec<String>>,
    /// Thread id (= its starter message's id) → (parent channel, name).
    threads: Mutex<HashMap<String, (String, String)>>,
    /// Interaction token → (channel, the original message once answered).
    interactions: Mutex<HashMap<String, (String, Option<String>)>>,
    /// Interactions sent over the gateway and not yet answered: token →
    /// (interaction id, channel).
    pending: Mutex<HashMap<String, (String, String)>>,
    /// The gateway's URL, for `GET /gateway`.
    gateway_url: String,
    /// Route → (429s still to answer, retry_after seconds).
    forced: Mutex<HashMap<String, (u32, f64)>>,
    /// Route → refusals still to answer.
    refused: Mutex<HashMap<String, u32>>,
    /// Route → the retry_after of a global 429 its next call gets.
    global_next: Mutex<HashMap<String, f64>>,
    /// Until when every call is globally rate limited.
    global_until: Mutex<Option<Instant>>,
    /// Calls that came while the global limit held: a bot Discord would
    /// have answered 429 again (and, past a few, banned for a while).
    global_violations: AtomicU64,
    recent: Mutex<HashMap<String, Vec<Instant>>>,
    nonces: Mutex<HashMap<String, String>>,
    /// Guild (None: global) → the commands as last overwritten.
    commands: Mutex<HashMap<Option<String>, Value>>,
    seq: AtomicU64,
    /// Bumped after every recorded call: wakes [`FakeDiscord::wait_until`].
    changes: Changes,
}

/// A running fake Discord.
#[derive(Debug, Clone)]
pub struct FakeDiscord {
    addr: SocketAddr,
    inner: Arc<Inner>,
    gateway: FakeGateway,
}

/// A refusal: status, headers, JSON body (boxed: errors stay small).
type Answer = Box<(StatusCode, HeaderMap, Value)>;

fn answer(status: StatusCode, v: Value) -> Answer {
    Box::new((status, HeaderMap::new(), v))
}

fn error(status: StatusCode, code: u64, message: &str) -> Answer {
    answer(status, json!({ "code": code, "message": message }))
}

/// Discord's answer when the bot as a whole went too fast: every route
/// waits (`X-RateLimit-Global`, `"global": true`; discord.com/developers/
/// docs/topics/rate-limits#global-rate-limit).
fn too_many_globally(retry_after: f64) -> Answer {
    let mut h = HeaderMap::new();
    h.insert(
        "retry-after",
        format!("{}", retry_after.ceil() as u64).parse().unwrap(),
    );
    h.insert("x-ratelimit-global", "true".parse().unwrap());
    h.insert("x-ratelimit-scope", "global".parse().unwrap());
    Box::new((
        StatusCode::TOO_MANY_REQUESTS,
        h,
        json!({ "message": "You are being rate limited.", "retry_after": retry_after, "global": true }),
    ))
}

fn too_many(retry_after: f64) -> Answer {
    let mut h = HeaderMap::new();
    h.insert(
        "retry-after",
        format!("{}", retry_after.ceil() as u64).parse().unwrap(),
    );
    h.insert("x-ratelimit-scope", "user".parse().unwrap());
    Box::new((
        StatusCode::TOO_MANY_REQUESTS,
        h,
        json!({ "message": "You are being rate limited.", "retry_after": retry_after, "global": false }),
    ))
}

/// Discord's message limits; the first one broken, as Discord's error.
fn check_limits(body: &Value) -> Result<(), Answer> {
    let len = |v: &Value| v.as_str().map_or(0, |s| s.chars().count());
    let invalid = |what: &str| {
        Err(answer(
            StatusCode::BAD_REQUEST,
            json!({ "code": 50035, "message": "Invalid Form Body", "errors": { "field": what } }),
        ))
    };
    if len(&body["content"]) > 2000 {
        return invalid("content: Must be 2000 or fewer in length.");
    }
    let embeds = body["embeds"].as_array().cloned().unwrap_or_default();
    if embeds.len() > 10 {
        return invalid("embeds: Must be 10 or fewer in length.");
    }
    let mut total = 0;
    for e in &embeds {
        if len(&e["title"]) > 256 {
            return invalid("embeds.title");
        }
        if len(&e["description"]) > 4096 {
            return invalid("embeds.description: Must be 4096 or fewer in length.");
        }
        if len(&e["footer"]["text"]) > 2048 {
            return invalid("embeds.footer.text");
        }
        let fields = e["fields"].as_array().cloned().unwrap_or_default();
        if fields.len() > 25 {
            return invalid("embeds.fields: Must be 25 or fewer in length.");
        }
        for f in &fields {
            if len(&f["name"]) > 256 || len(&f["value"]) > 1024 {
                return invalid("embeds.fields.value");
            }
            total += len(&f["name"]) + len(&f["value"]);
        }
        total += len(&e["title"]) + len(&e["description"]) + len(&e["footer"]["text"]);
    }
    if total > 6000 {
        return invalid("embeds: Embed size exceeds maximum size of 6000");
    }
    check_components(body)
}

/// Discord's component limits: at most 5 action rows of at most 5
/// buttons; a button's `custom_id` 1 to 100 characters, its label at most
/// 80; `custom_id`s unique within the message.
fn check_components(body: &Value) -> Result<(), Answer> {
    let invalid = |what: &str| {
        Err(answer(
            StatusCode::BAD_REQUEST,
            json!({ "code": 50035, "message": "Invalid Form Body", "errors": { "components": what } }),
        ))
    };
    let rows = body["components"].as_array().cloned().unwrap_or_default();
    if rows.len() > 5 {
        return invalid("Must be 5 or fewer in length.");
    }
    let mut seen = std::collections::HashSet::new();
    for row in &rows {
        if row["type"] != 1 {
            return invalid("a top-level component must be an action row (type 1)");
        }
        let buttons = row["components"].as_array().cloned().unwrap_or_default();
        if buttons.is_empty() || buttons.len() > 5 {
            return invalid("an action row holds 1 to 5 buttons");
        }
        for b in &buttons {
            let id = b["custom_id"].as_str().unwrap_or_default();
            if b["type"] != 2 || id.is_empty() || id.chars().count() > 100 {
                return invalid("a button needs a custom_id of 1 to 100 characters");
            }
            if b["label"].as_str().map_or(0, |l| l.chars().count()) > 80 {
                return invalid("a button's label is at most 80 characters");
            }
            if !seen.insert(id.to_string()) {
                return invalid("custom_id values must be unique");
            }
        }
    }
    Ok(())
}

fn non_empty(body: &Value) -> Result<(), Answer> {
    let has_content = body["content"].as_str().is_some_and(|c| !c.is_empty());
    let has_embeds = body["embeds"].as_array().is_some_and(|e| !e.is_empty());
    if has_content || has_embeds {
        Ok(())
    } else {
        Err(error(
            StatusCode::BAD_REQUEST,
            50006,
            "Cannot send an empty message",
        ))
    }
}

impl FakeDiscord {
    /// Starts a fake that accepts `token` for `application_id`.
    pub async fn start(token: &str, application_id: &str) -> FakeDiscord {
        let gateway = FakeGateway::start(token, application_id).await;
        let inner = Arc::new(Inner {
            token: token.to_string(),
            application_id: application_id.to_string(),
            calls: Mutex::default(),
            messages: Mutex::default(),
            order: Mutex::default(),
            threads: Mutex::default(),
            interactions: Mutex::default(),
            pending: Mutex::default(),
            gateway_url: gateway.url(),
            forced: Mutex::default(),
            refused: Mutex::default(),
            global_next: Mutex::default(),
            global_until: Mutex::default(),
            global_violations: AtomicU64::new(0),
            recent: Mutex::default(),
            nonces: Mutex::default(),
            commands: Mutex::default(),
            seq: AtomicU64::new(1_300_000_000_000_000_000),
            changes: Changes::default(),
        });
        let app = Router::new()
            .route("/api/v10/channels/{channel}/messages", post(create_message))
            .route(
                "/api/v10/channels/{channel}/messages/{id}",
                patch(edit_message),
            )
            .route(
                "/api/v10/channels/{channel}/messages/{id}/threads",
                post(start_thread),
            )
            .route("/api/v10/webhooks/{app}/{token}", post(followup))
            .route(
                "/api/v10/webhooks/{app}/{token}/messages/{which}",
                patch(edit_original),
            )
            .route("/api/v10/gateway", get(gateway_url))
            .route("/api/v10/gateway/bot", get(gateway_bot))
            .route(
                "/api/v10/interactions/{id}/{token}/callback",
                post(interaction_callback),
            )
            .route("/api/v10/applications/{app}/commands", put(global_commands))
            .route(
                "/api/v10/applications/{app}/guilds/{guild}/commands",
                put(guild_commands),
            )
            .with_state(inner.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind fake Discord");
        let addr = listener.local_addr().expect("fake Discord address");
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        FakeDiscord {
            addr,
            inner,
            gateway,
        }
    }

    /// The application it serves.
    pub fn application_id(&self) -> &str {
        &self.inner.application_id
    }

    /// The fake gateway whose URL `GET /gateway` gives.
    pub fn gateway(&self) -> &FakeGateway {
        &self.gateway
    }

    /// Sends `interaction` as an INTERACTION_CREATE to every connected
    /// bot, expecting its answer through the callback; returns how many
    /// connections got it.
    pub fn inject_interaction(&self, interaction: &Value) -> usize {
        let channel = interaction["channel_id"]
            .as_str()
            .or(interaction["channel"]["id"].as_str())
            .or(interaction["message"]["channel_id"].as_str())
            .unwrap_or_default();
        self.inner.pending.lock().unwrap().insert(
            interaction["token"]
                .as_str()
                .unwrap_or_default()
                .to_string(),
            (
                interaction["id"].as_str().unwrap_or_default().to_string(),
                channel.to_string(),
            ),
        );
        self.gateway
            .dispatch("INTERACTION_CREATE", interaction.clone())
    }

    /// The callback bodies posted for interaction `token`, in order.
    pub fn callbacks_to(&self, token: &str) -> Vec<Call> {
        self.calls_to("callback")
            .into_iter()
            .filter(|c| c.path.split('/').nth(3) == Some(token))
            .collect()
    }

    /// The base URL, for `discord.api_url`.
    pub fn api_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Makes `token` a live interaction from `channel` (Discord knows the
    /// interactions it sent; the fake is told).
    pub fn expect_interaction(&self, token: &str, channel: &str) {
        self.inner
            .interactions
            .lock()
            .unwrap()
            .insert(token.to_string(), (channel.to_string(), None));
    }

    /// Answers the next `times` calls of `route` with 429 and
    /// `retry_after` seconds.
    pub fn rate_limit(&self, route: &str, times: u32, retry_after: f64) {
        self.inner
            .forced
            .lock()
            .unwrap()
            .insert(route.to_string(), (times, retry_after));
    }

    /// Refuses the next `times` calls of `route` with 403 50001 Missing
    /// Access (the bot lacks a permission there).
    pub fn refuse(&self, route: &str, times: u32) {
        self.inner
            .refused
            .lock()
            .unwrap()
            .insert(route.to_string(), times);
    }

    /// Answers the next call of `route` with a *global* 429: for
    /// `retry_after` seconds every call, to any route, is refused, and
    /// counted as a violation ([`FakeDiscord::global_violations`]).
    pub fn rate_limit_globally(&self, route: &str, retry_after: f64) {
        self.inner
            .global_next
            .lock()
            .unwrap()
            .insert(route.to_string(), retry_after);
    }

    /// Calls made while a global 429 held.
    pub fn global_violations(&self) -> u64 {
        self.inner.global_violations.load(Ordering::SeqCst)
    }

    /// Every call so far.
    pub fn calls(&self) -> Vec<Call> {
        self.inner.calls.lock().unwrap().clone()
    }

    /// The calls of one route.
    pub fn calls_to(&self, route: &str) -> Vec<Call> {
        self.calls()
            .into_iter()
            .filter(|c| c.route == route)
            .collect()
    }

    /// A message as it reads now.
    pub fn message(&self, id: &str) -> Option<Value> {
        self.inner
            .messages
            .lock()
            .unwrap()
            .get(id)
            .map(|m| m.body.clone())
    }

    /// The messages in a channel or thread, in order, as each reads now.
    pub fn messages_in(&self, channel: &str) -> Vec<(String, Value)> {
        let order = self.inner.order.lock().unwrap().clone();
        let messages = self.inner.messages.lock().unwrap();
        order
            .into_iter()
            .filter_map(|id| {
                let m = messages.get(&id)?;
                (m.channel == channel).then(|| (id, m.body.clone()))
            })
            .collect()
    }

    /// The thread started from a message: (parent channel, name).
    pub fn thread(&self, message_id: &str) -> Option<(String, String)> {
        self.inner.threads.lock().unwrap().get(message_id).cloned()
    }

    /// The original answer to an interaction, as it reads now.
    pub fn original(&self, token: &str) -> Option<(String, Value)> {
        let id = self
            .inner
            .interactions
            .lock()
            .unwrap()
            .get(token)?
            .1
            .clone()?;
        Some((id.clone(), self.message(&id)?))
    }

    /// The texts of the follow-ups sent to interaction `token` (a
    /// click's ephemeral answers, flags 64), in order.
    pub fn followups_to(&self, token: &str) -> Vec<String> {
        let path = format!("/webhooks/{}/{token}", self.inner.application_id);
        self.calls_to("followup")
            .into_iter()
            .filter(|c| c.path == path && c.status == 200)
            .map(|c| {
                assert_eq!(c.body["flags"], 64, "a click's answer must be ephemeral");
                all_text(&c.body)
            })
            .collect()
    }

    /// Waits until interaction `token` has `n` follow-ups; returns them.
    pub async fn wait_for_followups(&self, token: &str, n: usize, limit: Duration) -> Vec<String> {
        self.wait_until(&format!("{n} follow-up(s) to {token}"), limit, |d| {
            d.followups_to(token).len() >= n
        })
        .await;
        self.followups_to(token)
    }

    /// Every button in messages of `channel` whose `custom_id` starts
    /// with `prefix`, as (custom_id, message id).
    pub fn buttons(&self, channel: &str, prefix: &str) -> Vec<(String, String)> {
        let mut out = Vec::new();
        for (id, m) in self.messages_in(channel) {
            for row in m["components"].as_array().into_iter().flatten() {
                for b in row["components"].as_array().into_iter().flatten() {
                    if let Some(c) = b["custom_id"].as_str().filter(|c| c.starts_with(prefix)) {
                        out.push((c.to_string(), id.clone()));
                    }
                }
            }
        }
        out
    }

    /// Waits until messages of `channel` carry a button whose `custom_id`
    /// starts with `prefix`; returns them as [`FakeDiscord::buttons`] does.
    /// A status message goes through medic's outbox, so it may land a
    /// moment after the click's private answer.
    pub async fn wait_for_buttons(
        &self,
        channel: &str,
        prefix: &str,
        limit: Duration,
    ) -> Vec<(String, String)> {
        self.wait_until(&format!("a {prefix} button in {channel}"), limit, |d| {
            !d.buttons(channel, prefix).is_empty()
        })
        .await;
        self.buttons(channel, prefix)
    }

    /// The commands registered (`None`: globally).
    pub fn commands(&self, guild: Option<&str>) -> Option<Value> {
        self.inner
            .commands
            .lock()
            .unwrap()
            .get(&guild.map(str::to_string))
            .cloned()
    }

    /// Waits until `check` holds, looking again after every recorded
    /// call; panics after `limit` naming `what`, with every call.
    pub async fn wait_until(
        &self,
        what: &str,
        limit: Duration,
        check: impl Fn(&FakeDiscord) -> bool,
    ) {
        self.inner
            .changes
            .wait_for(
                format!("fake Discord: {what}"),
                limit,
                || check(self).then_some(()),
                || format!("{:#?}", self.calls()),
            )
            .await
    }

    /// What wakes the waiters: bumped after every recorded call.
    pub fn changes(&self) -> &Changes {
        &self.inner.changes
    }
}

/// Every text in a message body: content, titles, descriptions, fields,
/// footers.
pub fn all_text(body: &Value) -> String {
    let mut out: Vec<String> = Vec::new();
    let mut push = |v: &Value| {
        if let Some(s) = v.as_str().filter(|s| !s.is_empty()) {
            out.push(s.to_string());
        }
    };
    push(&body["content"]);
    for e in body["embeds"].as_array().cloned().unwrap_or_default() {
        push(&e["title"]);
        push(&e["description"]);
        for f in e["fields"].as_array().cloned().unwrap_or_default() {
            push(&f["name"]);
            push(&f["value"]);
        }
        push(&e["footer"]["text"]);
    }
    out.join("\n")
}

impl Inner {
    fn record(
        &self,
        method: &Method,
        path: String,
        route: &'static str,
        headers: &HeaderMap,
        body: &Value,
        status: StatusCode,
    ) {
        self.calls.lock().unwrap().push(Call {
            method: method.to_string(),
            path,
            route,
            authorization: headers
                .get("authorization")
                .and_then(|v| v.to_str().ok())
                .map(str::to_string),
            body: body.clone(),
            status: status.as_u16(),
            at: Instant::now(),
        });
        self.changes.bump();
    }

    fn authorized(&self, headers: &HeaderMap) -> Result<(), Answer> {
        let expected = format!("Bot {}", self.token);
        match headers.get("authorization").and_then(|v| v.to_str().ok()) {
            Some(h) if h == expected => Ok(()),
            _ => Err(error(StatusCode::UNAUTHORIZED, 0, "401: Unauthorized")),
        }
    }

    fn forced_429(&self, route: &str) -> Result<(), Answer> {
        let now = Instant::now();
        let mut until = self.global_until.lock().unwrap();
        if let Some(t) = *until
            && now < t
        {
            self.global_violations.fetch_add(1, Ordering::SeqCst);
            return Err(too_many_globally((t - now).as_secs_f64()));
        }
        if let Some(wait) = self.global_next.lock().unwrap().remove(route) {
            *until = Some(now + Duration::from_secs_f64(wait));
            return Err(too_many_globally(wait));
        }
        drop(until);
        if let Some(left) = self.refused.lock().unwrap().get_mut(route)
            && *left > 0
        {
            *left -= 1;
            return Err(error(StatusCode::FORBIDDEN, 50001, "Missing Access"));
        }
        let mut forced = self.forced.lock().unwrap();
        if let Some((left, wait)) = forced.get_mut(route)
            && *left > 0
        {
            *left -= 1;
            return Err(too_many(*wait));
        }
        Ok(())
    }

    fn channel_limit(&self, channel: &str) -> Result<(), Answer> {
        let mut recent = self.recent.lock().unwrap();
        let list = recent.entry(channel.to_string()).or_default();
        let now = Instant::now();
        list.retain(|t| now.duration_since(*t) < CHANNEL_WINDOW);
        if list.len() >= CHANNEL_BURST {
            let wait = CHANNEL_WINDOW - now.duration_since(list[0]);
            return Err(too_many(wait.as_secs_f64()));
        }
        list.push(now);
        Ok(())
    }

    fn next_id(&self) -> String {
        self.seq.fetch_add(1, Ordering::SeqCst).to_string()
    }

    fn store(&self, channel: &str, body: &Value) -> Value {
        let id = self.next_id();
        let mut m = json!({
            "id": id,
            "channel_id": channel,
            "type": 0,
            "content": body["content"].as_str().unwrap_or_default(),
            "embeds": body["embeds"].clone(),
            "components": body["components"].clone(),
            "author": { "id": self.application_id, "username": "medic", "bot": true },
            "timestamp": "2026-11-29T23:00:00.000000+00:00",
        });
        if m["embeds"].is_null() {
            m["embeds"] = json!([]);
        }
        self.messages.lock().unwrap().insert(
            id.clone(),
            Message {
                channel: channel.to_string(),
                body: m.clone(),
            },
        );
        self.order.lock().unwrap().push(id);
        m
    }

    fn edit(&self, id: &str, body: &Value) -> Option<Value> {
        let mut messages = self.messages.lock().unwrap();
        let m = messages.get_mut(id)?;
        for key in ["content", "embeds", "components"] {
            if let Some(v) = body.get(key) {
                m.body[key] = v.clone();
            }
        }
        Some(m.body.clone())
    }

    /// A channel id that is a message of ours without a thread: posting
    /// there is posting into a thread never started.
    fn unstarted_thread(&self, channel: &str) -> bool {
        self.messages.lock().unwrap().contains_key(channel)
            && !self.threads.lock().unwrap().contains_key(channel)
    }
}

fn parse(body: &Bytes) -> Result<Value, Answer> {
    serde_json::from_slice(body).map_err(|_| {
        error(
            StatusCode::BAD_REQUEST,
            50109,
            "The request body contains invalid JSON.",
        )
    })
}

fn respond(
    inner: &Inner,
    method: Method,
    path: String,
    route: &'static str,
    headers: &HeaderMap,
    body: &Value,
    result: Result<Value, Answer>,
) -> Response {
    let (status, h, v) = match result {
        Ok(v) => (StatusCode::OK, HeaderMap::new(), v),
        Err(a) => *a,
    };
    inner.record(&method, path, route, headers, body, status);
    (status, h, axum::Json(v)).into_response()
}

async fn create_message(
    State(inner): State<Arc<Inner>>,
    Path(channel): Path<String>,
    headers: HeaderMap,
    raw: Bytes,
) -> Response {
    let body = parse(&raw).unwrap_or(Value::Null);
    let result = (|| {
        inner.authorized(&headers)?;
        let body = parse(&raw)?;
        inner.forced_429("create_message")?;
        if inner.unstarted_thread(&channel) {
            return Err(error(StatusCode::NOT_FOUND, 10003, "Unknown Channel"));
        }
        check_limits(&body)?;
        non_empty(&body)?;
        if body["enforce_nonce"] == true
            && let Some(nonce) = body["nonce"].as_str()
            && let Some(id) = inner.nonces.lock().unwrap().get(nonce).cloned()
        {
            return Ok(inner.messages.lock().unwrap()[&id].body.clone());
        }
        inner.channel_limit(&channel)?;
        let m = inner.store(&channel, &body);
        if let Some(nonce) = body["nonce"].as_str() {
            inner
                .nonces
                .lock()
                .unwrap()
                .insert(nonce.to_string(), m["id"].as_str().unwrap().to_string());
        }
        Ok(m)
    })();
    respond(
        &inner,
        Method::POST,
        format!("/channels/{channel}/messages"),
        "create_message",
        &headers,
        &body,
        result,
    )
}

async fn edit_message(
    State(inner): State<Arc<Inner>>,
    Path((channel, id)): Path<(String, String)>,
    headers: HeaderMap,
    raw: Bytes,
) -> Response {
    let body = parse(&raw).unwrap_or(Value::Null);
    let result = (|| {
        inner.authorized(&headers)?;
        let body = parse(&raw)?;
        inner.forced_429("edit_message")?;
        check_limits(&body)?;
        let in_channel = inner
            .messages
            .lock()
            .unwrap()
            .get(&id)
            .is_some_and(|m| m.channel == channel);
        if !in_channel {
            return Err(error(StatusCode::NOT_FOUND, 10008, "Unknown Message"));
        }
        Ok(inner.edit(&id, &body).expect("checked above"))
    })();
    respond(
        &inner,
        Method::PATCH,
        format!("/channels/{channel}/messages/{id}"),
        "edit_message",
        &headers,
        &body,
        result,
    )
}

async fn start_thread(
    State(inner): State<Arc<Inner>>,
    Path((channel, id)): Path<(String, String)>,
    headers: HeaderMap,
    raw: Bytes,
) -> Response {
    let body = parse(&raw).unwrap_or(Value::Null);
    let result = (|| {
        inner.authorized(&headers)?;
        let body = parse(&raw)?;
        inner.forced_429("start_thread")?;
        let name = body["name"].as_str().unwrap_or_default().to_string();
        if name.is_empty() || name.chars().count() > 100 {
            return Err(answer(
                StatusCode::BAD_REQUEST,
                json!({ "code": 50035, "message": "Invalid Form Body", "errors": { "name": "1 to 100 characters" } }),
            ));
        }
        let in_channel = inner
            .messages
            .lock()
            .unwrap()
            .get(&id)
            .is_some_and(|m| m.channel == channel);
        if !in_channel {
            return Err(error(StatusCode::NOT_FOUND, 10008, "Unknown Message"));
        }
        let mut threads = inner.threads.lock().unwrap();
        if threads.contains_key(&id) {
            return Err(error(
                StatusCode::BAD_REQUEST,
                160004,
                "A thread has already been created for this message",
            ));
        }
        threads.insert(id.clone(), (channel.clone(), name.clone()));
        Ok(json!({ "id": id, "type": 11, "parent_id": channel, "name": name }))
    })();
    respond(
        &inner,
        Method::POST,
        format!("/channels/{channel}/messages/{id}/threads"),
        "start_thread",
        &headers,
        &body,
        result,
    )
}

fn interaction_channel(
    inner: &Inner,
    app: &str,
    token: &str,
) -> Result<(String, Option<String>), Answer> {
    if app != inner.application_id {
        return Err(error(StatusCode::NOT_FOUND, 10015, "Unknown Webhook"));
    }
    inner
        .interactions
        .lock()
        .unwrap()
        .get(token)
        .cloned()
        .ok_or_else(|| error(StatusCode::NOT_FOUND, 10015, "Unknown Webhook"))
}

async fn edit_original(
    State(inner): State<Arc<Inner>>,
    Path((app, token, which)): Path<(String, String, String)>,
    headers: HeaderMap,
    raw: Bytes,
) -> Response {
    let body = parse(&raw).unwrap_or(Value::Null);
    let result = (|| {
        let body = parse(&raw)?;
        if which != "@original" {
            return Err(error(StatusCode::NOT_FOUND, 10008, "Unknown Message"));
        }
        let (channel, original) = interaction_channel(&inner, &app, &token)?;
        inner.forced_429("edit_original")?;
        check_limits(&body)?;
        let m = match original {
            Some(id) => inner.edit(&id, &body).expect("stored"),
            None => {
                // The deferred answer becomes a message when first edited.
                let m = inner.store(&channel, &body);
                inner.interactions.lock().unwrap().insert(
                    token.clone(),
                    (channel, Some(m["id"].as_str().unwrap().to_string())),
                );
                m
            }
        };
        Ok(m)
    })();
    respond(
        &inner,
        Method::PATCH,
        "/webhooks/{app}/{token}/messages/@original".into(),
        "edit_original",
        &headers,
        &body,
        result,
    )
}

async fn followup(
    State(inner): State<Arc<Inner>>,
    Path((app, token)): Path<(String, String)>,
    headers: HeaderMap,
    raw: Bytes,
) -> Response {
    let body = parse(&raw).unwrap_or(Value::Null);
    let result = (|| {
        let body = parse(&raw)?;
        let (channel, _) = interaction_channel(&inner, &app, &token)?;
        inner.forced_429("followup")?;
        check_limits(&body)?;
        non_empty(&body)?;
        Ok(inner.store(&channel, &body))
    })();
    respond(
        &inner,
        Method::POST,
        format!("/webhooks/{app}/{token}"),
        "followup",
        &headers,
        &body,
        result,
    )
}

fn overwrite(
    inner: &Inner,
    app: &str,
    guild: Option<String>,
    headers: &HeaderMap,
    raw: &Bytes,
) -> Result<Value, Answer> {
    inner.authorized(headers)?;
    let body = parse(raw)?;
    if app != inner.application_id {
        return Err(error(StatusCode::FORBIDDEN, 50001, "Missing Access"));
    }
    let Some(list) = body.as_array() else {
        return Err(error(StatusCode::BAD_REQUEST, 50035, "Invalid Form Body"));
    };
    let mut out = Vec::new();
    for c in list {
        let name = c["name"].as_str().unwrap_or_default();
        let desc = c["description"]
            .as_str()
            .unwrap_or_default()
            .chars()
            .count();
        if name.is_empty() || name.len() > 32 || !(1..=100).contains(&desc) {
            return Err(error(StatusCode::BAD_REQUEST, 50035, "Invalid Form Body"));
        }
        // As Discord documents them: contexts 0 GUILD, 1 BOT_DM,
        // 2 PRIVATE_CHANNEL; integration_types 0 GUILD_INSTALL,
        // 1 USER_INSTALL; default_member_permissions a bit set as a
        // string of digits, or null.
        let codes = |field: &str, max: u64| match c.get(field) {
            None | Some(Value::Null) => true,
            Some(Value::Array(list)) => list.iter().all(|v| v.as_u64().is_some_and(|n| n <= max)),
            Some(_) => false,
        };
        let permissions = match c.get("default_member_permissions") {
            None | Some(Value::Null) => true,
            Some(Value::String(p)) => !p.is_empty() && p.chars().all(|ch| ch.is_ascii_digit()),
            Some(_) => false,
        };
        if !codes("contexts", 2) || !codes("integration_types", 1) || !permissions {
            return Err(error(StatusCode::BAD_REQUEST, 50035, "Invalid Form Body"));
        }
        let mut c = c.clone();
        c["id"] = json!(inner.next_id());
        c["application_id"] = json!(inner.application_id);
        out.push(c);
    }
    let out = Value::Array(out);
    inner.commands.lock().unwrap().insert(guild, out.clone());
    Ok(out)
}

async fn global_commands(
    State(inner): State<Arc<Inner>>,
    Path(app): Path<String>,
    headers: HeaderMap,
    raw: Bytes,
) -> Response {
    let body = parse(&raw).unwrap_or(Value::Null);
    let result = overwrite(&inner, &app, None, &headers, &raw);
    respond(
        &inner,
        Method::PUT,
        format!("/applications/{app}/commands"),
        "commands",
        &headers,
        &body,
        result,
    )
}

async fn guild_commands(
    State(inner): State<Arc<Inner>>,
    Path((app, guild)): Path<(String, String)>,
    headers: HeaderMap,
    raw: Bytes,
) -> Response {
    let body = parse(&raw).unwrap_or(Value::Null);
    let result = overwrite(&inner, &app, Some(guild.clone()), &headers, &raw);
    respond(
        &inner,
        Method::PUT,
        format!("/applications/{app}/guilds/{guild}/commands"),
        "commands",
        &headers,
        &body,
        result,
    )
}

/// `GET /gateway`: where to connect (no token needed, as on Discord).
async fn gateway_url(State(inner): State<Arc<Inner>>, headers: HeaderMap) -> Response {
    let v = json!({ "url": inner.gateway_url });
    respond(
        &inner,
        Method::GET,
        "/gateway".into(),
        "gateway",
        &headers,
        &Value::Null,
        Ok(v),
    )
}

/// `GET /gateway/bot`: the same, with the shard count and session limits;
/// needs the bot token.
async fn gateway_bot(State(inner): State<Arc<Inner>>, headers: HeaderMap) -> Response {
    let result = inner.authorized(&headers).map(|()| {
        json!({
            "url": inner.gateway_url,
            "shards": 1,
            "session_start_limit": { "total": 1000, "remaining": 999, "reset_after": 14400000, "max_concurrency": 1 }
        })
    });
    respond(
        &inner,
        Method::GET,
        "/gateway/bot".into(),
        "gateway_bot",
        &headers,
        &Value::Null,
        result,
    )
}

/// `POST /interactions/{id}/{token}/callback`: the one answer to an
/// interaction sent over the gateway. 204 with no body, like Discord.
async fn interaction_callback(
    State(inner): State<Arc<Inner>>,
    Path((id, token)): Path<(String, String)>,
    headers: HeaderMap,
    raw: Bytes,
) -> Response {
    let body = parse(&raw).unwrap_or(Value::Null);
    let result = (|| {
        let body = parse(&raw)?;
        if !(1..=10).contains(&body["type"].as_u64().unwrap_or_default()) {
            return Err(error(StatusCode::BAD_REQUEST, 50035, "Invalid Form Body"));
        }
        check_limits(&body["data"])?;
        if inner.interactions.lock().unwrap().contains_key(&token) {
            return Err(error(
                StatusCode::BAD_REQUEST,
                40060,
                "Interaction has already been acknowledged.",
            ));
        }
        let mut pending = inner.pending.lock().unwrap();
        match pending.get(&token) {
            Some((known, _)) if *known == id => {}
            _ => return Err(error(StatusCode::NOT_FOUND, 10062, "Unknown interaction")),
        }
        let (_, channel) = pending.remove(&token).expect("checked above");
        inner
            .interactions
            .lock()
            .unwrap()
            .insert(token.clone(), (channel, None));
        Ok(Value::Null)
    })();
    let path = format!("/interactions/{id}/{token}/callback");
    match result {
        Ok(_) => {
            inner.record(
                &Method::POST,
                path,
                "callback",
                &headers,
                &body,
                StatusCode::NO_CONTENT,
            );
            StatusCode::NO_CONTENT.into_response()
        }
        Err(e) => respond(
            &inner,
            Method::POST,
            path,
            "callback",
            &headers,
            &body,
            Err(e),
        ),
    }
}

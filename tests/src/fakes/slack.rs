//! A fake Slack Web API (`POST /api/{method}`) and `response_url` endpoint.
//!
//! Faithful where medic could go wrong:
//! - `Authorization: Bearer <bot token>` is required (`not_authed`,
//!   `invalid_auth`, as HTTP 200 with `ok: false`, like Slack);
//! - about one message per second per channel: a faster post gets HTTP 429
//!   with `Retry-After` (Slack's documented behaviour for chat.postMessage);
//! - Block Kit limits: 50 blocks (`invalid_blocks`), 3000 characters a
//!   section text, 10 context elements, 40 000 characters of `text`
//!   (`msg_too_long`), and a message needs text or blocks (`no_text`);
//! - `thread_ts` must name a message posted in that channel;
//! - `chat.update` must name a message the bot posted in that channel
//!   (`message_not_found`), obeys the same block limits, and is held to
//!   Tier 3's ~50 calls a minute (429 with `Retry-After` past that);
//! - channels can be marked as ones the bot is not in (`not_in_channel`);
//! - `chat.postEphemeral` needs a `user` and the same token and limits,
//!   and is not paced with the channel's messages.
//!
//! Every call, accepted or not, is recorded.

use std::collections::{HashMap, HashSet};

/// `chat.update` calls allowed per minute (Slack's Tier 3: "50+ per minute").
pub const UPDATES_PER_MINUTE: usize = 50;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Bytes;
use axum::extract::Query;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use serde_json::{Value, json};

use crate::wait::Changes;

/// One recorded call.
#[derive(Debug, Clone)]
pub struct Call {
    /// `chat.postMessage`, or `response_url` for calls to a response URL.
    pub method: String,
    /// The `Authorization` header as sent.
    pub authorization: Option<String>,
    /// The JSON body (form bodies are converted to JSON objects).
    pub body: Value,
    /// The HTTP status the fake answered.
    pub status: u16,
    /// Slack's `error` code when `ok` was false.
    pub error: Option<String>,
    /// When the call arrived.
    pub at: Instant,
    /// The `ts` Slack answered with (the message's id), when accepted.
    pub ts: Option<String>,
}

impl Call {
    /// The channel the call names.
    pub fn channel(&self) -> Option<&str> {
        self.body.get("channel").and_then(Value::as_str)
    }

    /// The thread the call posts into.
    pub fn thread_ts(&self) -> Option<&str> {
        self.body.get("thread_ts").and_then(Value::as_str)
    }

    /// Every text in the message: `text` and all block texts, joined.
    pub fn all_text(&self) -> String {
        all_text(&self.body)
    }
}

/// Every text in a message body, joined.
pub fn all_text(body: &Value) -> String {
    let mut out = Vec::new();
    collect_text(body, &mut out);
    out.join("\n")
}

fn collect_text(v: &Value, out: &mut Vec<String>) {
    match v {
        Value::Object(map) => {
            for (k, v) in map {
                if k == "text"
                    && let Some(s) = v.as_str()
                {
                    out.push(s.to_string());
                    continue;
                }
                collect_text(v, out);
            }
        }
        Value::Array(items) => items.iter().for_each(|i| collect_text(i, out)),
        _ => {}
    }
}

/// What the fake remembers.
#[derive(Debug)]
struct Inner {
    token: String,
    interval: Duration,
    calls: Mutex<Vec<Call>>,
    last_post: Mutex<HashMap<String, Instant>>,
    /// Messages by (channel, ts): their latest body, after updates.
    posted: Mutex<HashMap<(String, String), Value>>,
    /// Every accepted post in order: (channel, ts, thread_ts).
    order: Mutex<Vec<(String, String, Option<String>)>>,
    /// When recent `chat.update` calls arrived (Tier 3 window).
    updates: Mutex<Vec<Instant>>,
    not_member: Mutex<HashSet<String>>,
    /// Socket Mode: the app-level token and the WebSocket URL that
    /// `apps.connections.open` hands out.
    socket: Mutex<Option<(String, String)>>,
    down: Mutex<bool>,
    /// Until when every call is answered 500.
    failing_until: Mutex<Option<Instant>>,
    /// How long an accepted post waits before it is answered.
    answer_delay: Mutex<Duration>,
    seq: AtomicU64,
    /// User groups' members, as `usergroups.users.update` last set them.
    usergroups: Mutex<HashMap<String, Vec<String>>>,
    /// Bumped after every recorded call: wakes the `wait_…` helpers.
    changes: Changes,
}

/// A running fake Slack.
#[derive(Debug, Clone)]
pub struct FakeSlack {
    addr: SocketAddr,
    inner: Arc<Inner>,
}

impl FakeSlack {
    /// Starts a fake that accepts `token`, pacing channels at one message a
    /// second.
    pub async fn start(token: &str) -> FakeSlack {
        Self::start_with_interval(token, Duration::from_secs(1)).await
    }

    /// Starts a fake with a custom per-channel interval.
    pub async fn start_with_interval(token: &str, interval: Duration) -> FakeSlack {
        let inner = Arc::new(Inner {
            token: token.to_string(),
            interval,
            calls: Mutex::default(),
            last_post: Mutex::default(),
            posted: Mutex::default(),
            updates: Mutex::default(),
            order: Mutex::default(),
            not_member: Mutex::default(),
            socket: Mutex::default(),
            down: Mutex::new(false),
            failing_until: Mutex::new(None),
            answer_delay: Mutex::new(Duration::ZERO),
            seq: AtomicU64::new(0),
            usergroups: Mutex::default(),
            changes: Changes::default(),
        });
        let app = Router::new()
            .route("/api/{method}", post(api).get(api_get))
            .route("/response/{id}", post(response_url))
            .with_state(inner.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind fake Slack");
        let addr = listener.local_addr().expect("fake Slack address");
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        FakeSlack { addr, inner }
    }

    /// The members of user group `id`, as medic last set them.
    pub fn usergroup(&self, id: &str) -> Option<Vec<String>> {
        self.inner.usergroups.lock().unwrap().get(id).cloned()
    }

    /// The Web API base URL, for `slack.api_url`.
    pub fn api_url(&self) -> String {
        format!("http://{}/api/", self.addr)
    }

    /// A `response_url` served by this fake.
    pub fn response_url(&self, id: &str) -> String {
        format!("http://{}/response/{id}", self.addr)
    }

    /// A message a person wrote in `channel` at `ts` (an `@medic` mention
    /// medic then answers in the thread of).
    pub fn user_says(&self, channel: &str, ts: &str, text: &str) {
        self.inner.posted.lock().unwrap().insert(
            (channel.to_string(), ts.to_string()),
            json!({ "type": "message", "user": "U0ALICE", "text": text, "ts": ts }),
        );
    }

    /// Serves `apps.connections.open` for `app_token`, handing out
    /// `ws_url` (a fake Socket Mode server).
    pub fn enable_socket_mode(&self, app_token: &str, ws_url: &str) {
        *self.inner.socket.lock().unwrap() = Some((app_token.to_string(), ws_url.to_string()));
    }

    /// Marks a channel as one the bot has not been invited to.
    pub fn remove_bot_from(&self, channel: &str) {
        self.inner
            .not_member
            .lock()
            .unwrap()
            .insert(channel.to_string());
    }

    /// Makes every call fail with 503 (an outage) until set back.
    pub fn set_down(&self, down: bool) {
        *self.inner.down.lock().unwrap() = down;
    }

    /// Makes every call fail with 500 for `how_long` from now: an outage
    /// with an end, as Slack's status page reports them.
    pub fn fail_for(&self, how_long: Duration) {
        *self.inner.failing_until.lock().unwrap() = Some(Instant::now() + how_long);
    }

    /// Answers each accepted `chat.postMessage` only after `delay`: the
    /// message is already in the channel, its ts not yet with the caller
    /// (a slow network, or a crash in between).
    pub fn set_answer_delay(&self, delay: Duration) {
        *self.inner.answer_delay.lock().unwrap() = delay;
    }

    /// How many calls were answered 429 (rate limited) so far.
    pub fn rate_limited(&self) -> usize {
        self.calls().iter().filter(|c| c.status == 429).count()
    }

    /// Every call so far.
    pub fn calls(&self) -> Vec<Call> {
        self.inner.calls.lock().unwrap().clone()
    }

    /// A message as it reads now (its latest `text` and `blocks`, after any
    /// `chat.update`), or `None` when no such message was posted.
    pub fn message(&self, channel: &str, ts: &str) -> Option<Value> {
        self.inner
            .posted
            .lock()
            .unwrap()
            .get(&(channel.to_string(), ts.to_string()))
            .cloned()
    }

    /// The first root message in `channel` (not a thread reply) as it
    /// reads now, after any edits.
    pub fn root_now(&self, channel: &str) -> Option<String> {
        let root = self
            .posts_in(channel)
            .into_iter()
            .find(|c| c.thread_ts().is_none())?;
        self.message(channel, root.ts.as_deref()?)
            .map(|m| all_text(&m))
    }

    /// Every root message in `channel` (not thread replies), in order, as
    /// each reads now.
    pub fn roots_now(&self, channel: &str) -> Vec<String> {
        self.posts_in(channel)
            .into_iter()
            .filter(|c| c.thread_ts().is_none())
            .filter_map(|c| self.message(channel, c.ts.as_deref()?))
            .map(|m| all_text(&m))
            .collect()
    }

    /// Waits until `channel`'s root messages, as they read now, mention
    /// every needle between them; returns them. Panics after `limit` with
    /// what they said.
    pub async fn wait_for_roots(
        &self,
        channel: &str,
        needles: &[&str],
        limit: Duration,
    ) -> Vec<String> {
        let what = format!("roots in {channel} mentioning all of {needles:?}");
        self.wait_for_state(what, limit, || {
            let roots = self.roots_now(channel);
            let all = roots.join("\n");
            needles.iter().all(|n| all.contains(n)).then_some(roots)
        })
        .await
    }

    /// Waits until `channel` has a finished report: a root message that no
    /// longer says "checking…", and at least one reply in its thread.
    /// Returns the root as it reads then, and every post. Panics after
    /// `limit` with what it saw.
    pub async fn wait_for_report(&self, channel: &str, limit: Duration) -> (String, Vec<Call>) {
        let what = format!("a finished report in {channel}");
        self.wait_for_state(what, limit, || {
            let posts = self.posts_in(channel);
            let root = self.root_now(channel)?;
            (!root.contains("checking…") && posts.iter().any(|c| c.thread_ts().is_some()))
                .then_some((root, posts))
        })
        .await
    }

    /// Accepted `chat.update` calls in `channel`, in order.
    pub fn updates_in(&self, channel: &str) -> Vec<Call> {
        self.calls()
            .into_iter()
            .filter(|c| c.method == "chat.update" && c.status == 200 && c.error.is_none())
            .filter(|c| c.channel() == Some(channel))
            .collect()
    }

    /// Accepted `chat.postMessage` calls into `channel`, in order.
    pub fn posts_in(&self, channel: &str) -> Vec<Call> {
        self.calls()
            .into_iter()
            .filter(|c| c.method == "chat.postMessage" && c.status == 200 && c.error.is_none())
            .filter(|c| c.channel() == Some(channel))
            .collect()
    }

    /// Waits until `channel` has at least `n` accepted posts, or panics
    /// after `limit` with what it did see.
    pub async fn wait_for_posts(&self, channel: &str, n: usize, limit: Duration) -> Vec<Call> {
        let what = format!("{n} accepted post(s) in {channel}");
        self.wait_for_state(what, limit, || {
            let posts = self.posts_in(channel);
            (posts.len() >= n).then_some(posts)
        })
        .await
    }

    /// The texts sent to response URL `id` (ephemeral answers), in order.
    pub fn ephemerals_to(&self, id: &str) -> Vec<String> {
        self.calls()
            .into_iter()
            .filter(|c| c.method == "response_url" && c.body["response_url_id"] == id)
            .map(|c| c.body["text"].as_str().unwrap_or_default().to_string())
            .collect()
    }

    /// Waits until response URL `id` has received `n` answers; returns
    /// them all.
    pub async fn wait_for_ephemerals(&self, id: &str, n: usize, limit: Duration) -> Vec<String> {
        let what = format!("{n} answer(s) to response URL {id}");
        self.wait_for_state(what, limit, || {
            let got = self.ephemerals_to(id);
            (got.len() >= n).then_some(got)
        })
        .await
    }

    /// Every button with `action_id` in messages posted in `channel`, as
    /// (value, the message's ts, its thread_ts).
    pub fn buttons(&self, channel: &str, action_id: &str) -> Vec<(String, String, Option<String>)> {
        let mut out = Vec::new();
        for c in self.posts_in(channel) {
            for block in c.body["blocks"].as_array().into_iter().flatten() {
                for e in block["elements"].as_array().into_iter().flatten() {
                    if e["type"] == "button" && e["action_id"] == action_id {
                        out.push((
                            e["value"].as_str().unwrap_or_default().to_string(),
                            c.ts.clone().unwrap_or_default(),
                            c.thread_ts().map(str::to_string),
                        ));
                    }
                }
            }
        }
        out
    }

    /// Waits for a message matching `pred` (by its text as it reads now,
    /// after edits) in `channel`; returns that text.
    pub async fn wait_for_message(
        &self,
        channel: &str,
        limit: Duration,
        pred: impl Fn(&str) -> bool,
    ) -> String {
        let what = format!("a matching message in {channel}");
        self.wait_for_state(what, limit, || {
            self.posts_in(channel).into_iter().find_map(|c| {
                let m = self.message(channel, c.ts.as_deref()?)?;
                let text = all_text(&m);
                pred(&text).then_some(text)
            })
        })
        .await
    }

    /// Waits for a call matching `pred`, or panics after `limit`.
    pub async fn wait_for(&self, limit: Duration, pred: impl Fn(&Call) -> bool) -> Call {
        self.wait_for_state("a matching call", limit, || {
            self.calls().into_iter().find(|c| pred(c))
        })
        .await
    }

    /// Waits until `check` holds of the fake, looking again after every
    /// recorded call; panics after `limit` naming `what`, with every call.
    pub async fn wait_until(
        &self,
        what: &str,
        limit: Duration,
        check: impl Fn(&FakeSlack) -> bool,
    ) {
        self.wait_for_state(what, limit, || check(self).then_some(()))
            .await
    }

    /// What wakes the waiters: bumped after every recorded call.
    pub fn changes(&self) -> &Changes {
        &self.inner.changes
    }

    /// `check`'s answer once it has one, looking again after every
    /// recorded call; panics after `limit` with every call.
    async fn wait_for_state<T>(
        &self,
        what: impl std::fmt::Display,
        limit: Duration,
        check: impl FnMut() -> Option<T>,
    ) -> T {
        self.inner
            .changes
            .wait_for(format!("fake Slack: {what}"), limit, check, || {
                format!("{:#?}", self.calls())
            })
            .await
    }
}

fn slack_error(code: &str) -> (StatusCode, Value) {
    (StatusCode::OK, json!({"ok": false, "error": code}))
}

/// Checks a message against Slack's documented limits.
fn check_limits(body: &Value) -> Result<(), &'static str> {
    let text = body.get("text").and_then(Value::as_str);
    let blocks = body.get("blocks").and_then(Value::as_array);
    if text.is_none_or(str::is_empty) && blocks.is_none_or(|b| b.is_empty()) {
        return Err("no_text");
    }
    if text.is_some_and(|t| t.chars().count() > 40_000) {
        return Err("msg_too_long");
    }
    for block in blocks.into_iter().flatten() {
        let kind = block
            .get("type")
            .and_then(Value::as_str)
            .unwrap_or_default();
        match kind {
            "section" => {
                let t = block.pointer("/text/text").and_then(Value::as_str);
                if t.is_some_and(|t| t.chars().count() > 3000 || t.is_empty()) {
                    return Err("invalid_blocks");
                }
                if t.is_none() && block.get("fields").is_none() {
                    return Err("invalid_blocks");
                }
            }
            "context" => {
                let n = block
                    .get("elements")
                    .and_then(Value::as_array)
                    .map_or(0, Vec::len);
                if n == 0 || n > 10 {
                    return Err("invalid_blocks");
                }
            }
            "header" => {
                let t = block
                    .pointer("/text/text")
                    .and_then(Value::as_str)
                    .unwrap_or_default();
                if t.chars().count() > 150 {
                    return Err("invalid_blocks");
                }
            }
            "actions" | "divider" | "image" | "rich_text" => {}
            _ => return Err("invalid_blocks"),
        }
    }
    if blocks.is_some_and(|b| b.len() > 50) {
        return Err("invalid_blocks");
    }
    Ok(())
}

fn parse_body(headers: &HeaderMap, body: &Bytes) -> Value {
    let is_json = headers
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    if is_json {
        serde_json::from_slice(body).unwrap_or(Value::Null)
    } else {
        let pairs: HashMap<String, String> =
            url::form_urlencoded::parse(body).into_owned().collect();
        serde_json::to_value(pairs).unwrap_or(Value::Null)
    }
}

/// The `Authorization` header as sent, when it is text.
fn authorization(headers: &HeaderMap) -> Option<String> {
    headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
}

impl Inner {
    /// Records one call as the fake answered it, for tests to assert on.
    fn record(
        &self,
        method: String,
        authorization: Option<String>,
        body: Value,
        status: StatusCode,
        error: Option<String>,
        ts: Option<String>,
    ) {
        self.calls.lock().unwrap().push(Call {
            method,
            authorization,
            body,
            status: status.as_u16(),
            error,
            at: Instant::now(),
            ts,
        });
        self.changes.bump();
    }
}

async fn api(
    State(s): State<Arc<Inner>>,
    Path(method): Path<String>,
    headers: HeaderMap,
    raw: Bytes,
) -> Response {
    let body = parse_body(&headers, &raw);
    let authorization = authorization(&headers);
    let (status, answer, retry_after) = answer(&s, &method, authorization.as_deref(), &body);
    let error = answer
        .get("error")
        .and_then(Value::as_str)
        .map(str::to_string);
    let ts = answer.get("ts").and_then(Value::as_str).map(str::to_string);
    let landed = method == "chat.postMessage" && ts.is_some();
    s.record(method, authorization, body, status, error, ts);
    let delay = *s.answer_delay.lock().unwrap();
    if landed && !delay.is_zero() {
        tokio::time::sleep(delay).await;
    }
    let mut response = (status, axum::Json(answer)).into_response();
    if let Some(secs) = retry_after {
        response.headers_mut().insert(
            "retry-after",
            secs.to_string().parse().expect("digits are a header value"),
        );
    }
    response
}

fn answer(
    s: &Inner,
    method: &str,
    auth: Option<&str>,
    body: &Value,
) -> (StatusCode, Value, Option<u64>) {
    if *s.down.lock().unwrap() {
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            json!({"ok": false, "error": "service_unavailable"}),
            None,
        );
    }
    if s.failing_until
        .lock()
        .unwrap()
        .is_some_and(|t| Instant::now() < t)
    {
        return (
            StatusCode::INTERNAL_SERVER_ERROR,
            json!({"ok": false, "error": "internal_error"}),
            None,
        );
    }
    let Some(auth) = auth else {
        let (st, v) = slack_error("not_authed");
        return (st, v, None);
    };
    if method == "apps.connections.open" {
        // Only an app-level token opens a connection (a bot token gets
        // not_allowed_token_type, like Slack).
        let socket = s.socket.lock().unwrap().clone();
        let (st, v) = match socket {
            Some((token, url)) if auth == format!("Bearer {token}") => {
                (StatusCode::OK, json!({"ok": true, "url": url}))
            }
            Some(_) if auth == format!("Bearer {}", s.token) => {
                slack_error("not_allowed_token_type")
            }
            _ => slack_error("invalid_auth"),
        };
        return (st, v, None);
    }
    if auth != format!("Bearer {}", s.token) {
        let (st, v) = slack_error("invalid_auth");
        return (st, v, None);
    }
    if method == "usergroups.users.update" {
        // api.slack.com/methods/usergroups.users.update: `usergroup` (an
        // `S…` id) and `users`, a comma-separated list of user ids that
        // must not be empty.
        let group = body
            .get("usergroup")
            .and_then(Value::as_str)
            .unwrap_or_default();
        let users: Vec<String> = body
            .get("users")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .split(',')
            .map(str::trim)
            .filter(|u| !u.is_empty())
            .map(str::to_string)
            .collect();
        let (st, v) = if !group.starts_with('S') {
            slack_error("no_such_subteam")
        } else if users.is_empty() || users.iter().any(|u| !u.starts_with('U')) {
            slack_error("invalid_users")
        } else {
            s.usergroups
                .lock()
                .unwrap()
                .insert(group.to_string(), users.clone());
            (
                StatusCode::OK,
                json!({"ok": true, "usergroup": {"id": group, "users": users}}),
            )
        };
        return (st, v, None);
    }
    if !["chat.postMessage", "chat.update", "chat.postEphemeral"].contains(&method) {
        let (st, v) = slack_error("unknown_method");
        return (st, v, None);
    }
    let Some(channel) = body
        .get("channel")
        .and_then(Value::as_str)
        .map(str::to_string)
    else {
        let (st, v) = slack_error("channel_not_found");
        return (st, v, None);
    };
    if s.not_member.lock().unwrap().contains(&channel) {
        let (st, v) = slack_error("not_in_channel");
        return (st, v, None);
    }
    if let Err(code) = check_limits(body) {
        let (st, v) = slack_error(code);
        return (st, v, None);
    }
    if method == "chat.update" {
        return update(s, channel, body);
    }
    if method == "chat.postEphemeral" {
        // Seen by `user` alone; not a channel message (no ts to thread on,
        // not held to the channel's posting pace).
        if body
            .get("user")
            .and_then(Value::as_str)
            .is_none_or(str::is_empty)
        {
            let (st, v) = slack_error("user_not_in_channel");
            return (st, v, None);
        }
        return (
            StatusCode::OK,
            json!({"ok": true, "message_ts": s.next_ts()}),
            None,
        );
    }
    if let Some(thread) = body.get("thread_ts").and_then(Value::as_str)
        && !s
            .posted
            .lock()
            .unwrap()
            .contains_key(&(channel.clone(), thread.to_string()))
    {
        let (st, v) = slack_error("thread_not_found");
        return (st, v, None);
    }
    {
        let mut last = s.last_post.lock().unwrap();
        let now = Instant::now();
        if let Some(prev) = last.get(&channel) {
            let since = now.duration_since(*prev);
            if since < s.interval {
                let wait = (s.interval - since).as_secs_f64().ceil().max(1.0) as u64;
                return (
                    StatusCode::TOO_MANY_REQUESTS,
                    json!({"ok": false, "error": "ratelimited"}),
                    Some(wait),
                );
            }
        }
        last.insert(channel.clone(), now);
    }
    let ts = s.next_ts();
    s.posted
        .lock()
        .unwrap()
        .insert((channel.clone(), ts.clone()), body.clone());
    s.order.lock().unwrap().push((
        channel.clone(),
        ts.clone(),
        body.get("thread_ts")
            .and_then(Value::as_str)
            .map(str::to_string),
    ));
    let message = json!({
        "type": "message",
        "user": "U0MEDICBOT",
        "bot_id": "B0MEDICBOT",
        "text": body.get("text").cloned().unwrap_or(Value::Null),
        "ts": ts,
    });
    (
        StatusCode::OK,
        json!({"ok": true, "channel": channel, "ts": ts, "message": message}),
        None,
    )
}

/// `conversations.history` and `conversations.replies` (GET, query
/// parameters, bearer token): a channel's top-level messages since
/// `oldest`, newest first, or a thread's root and replies, oldest first.
/// Message metadata is included only with `include_all_metadata=true`, as
/// Slack does.
async fn api_get(
    State(s): State<Arc<Inner>>,
    Path(method): Path<String>,
    Query(q): Query<HashMap<String, String>>,
    headers: HeaderMap,
) -> Response {
    let authorization = authorization(&headers);
    let body = serde_json::to_value(&q).unwrap_or(Value::Null);
    let answer = if authorization.as_deref() != Some(&format!("Bearer {}", s.token)) {
        json!({"ok": false, "error": "invalid_auth"})
    } else {
        match (method.as_str(), q.get("channel")) {
            (_, None) => json!({"ok": false, "error": "channel_not_found"}),
            ("conversations.history", Some(channel)) => {
                let oldest = q.get("oldest").cloned().unwrap_or_default();
                let order = s.order.lock().unwrap().clone();
                let picked: Vec<(String, String)> = order
                    .into_iter()
                    .rev()
                    .filter(|(c, ts, thread)| c == channel && thread.is_none() && *ts >= oldest)
                    .map(|(c, ts, _)| (c, ts))
                    .collect();
                json!({"ok": true, "messages": s.messages(&picked, &q), "has_more": false})
            }
            ("conversations.replies", Some(channel)) => {
                let root = q.get("ts").cloned().unwrap_or_default();
                let order = s.order.lock().unwrap().clone();
                let picked: Vec<(String, String)> = order
                    .into_iter()
                    .filter(|(c, ts, thread)| {
                        c == channel && (*ts == root || thread.as_deref() == Some(root.as_str()))
                    })
                    .map(|(c, ts, _)| (c, ts))
                    .collect();
                if picked.is_empty() {
                    json!({"ok": false, "error": "thread_not_found"})
                } else {
                    json!({"ok": true, "messages": s.messages(&picked, &q), "has_more": false})
                }
            }
            _ => json!({"ok": false, "error": "unknown_method"}),
        }
    };
    let error = answer
        .get("error")
        .and_then(Value::as_str)
        .map(str::to_string);
    s.record(method, authorization, body, StatusCode::OK, error, None);
    (StatusCode::OK, axum::Json(answer)).into_response()
}

impl Inner {
    /// A message ts as Slack makes them: the wall clock in seconds and
    /// microseconds, unique (later than every earlier one).
    fn next_ts(&self) -> String {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default()
            .as_micros() as u64;
        let prev = self.seq.fetch_max(now, Ordering::SeqCst);
        let micros = if now > prev {
            now
        } else {
            self.seq.fetch_add(1, Ordering::SeqCst) + 1
        };
        format!("{}.{:06}", micros / 1_000_000, micros % 1_000_000)
    }

    /// Messages as `conversations.*` return them.
    fn messages(&self, picked: &[(String, String)], q: &HashMap<String, String>) -> Vec<Value> {
        let with_metadata = q.get("include_all_metadata").is_some_and(|v| v == "true");
        let posted = self.posted.lock().unwrap();
        picked
            .iter()
            .filter_map(|key| {
                let body = posted.get(key)?;
                let mut m = json!({
                    "type": "message",
                    "user": "U0MEDICBOT",
                    "bot_id": "B0MEDICBOT",
                    "ts": key.1,
                    "text": body.get("text").cloned().unwrap_or(Value::Null),
                });
                if let Some(t) = body.get("thread_ts") {
                    m["thread_ts"] = t.clone();
                }
                if with_metadata && let Some(md) = body.get("metadata") {
                    m["metadata"] = md.clone();
                }
                Some(m)
            })
            .collect()
    }
}

/// `chat.update`: replaces a posted message's text and blocks.
fn update(s: &Inner, channel: String, body: &Value) -> (StatusCode, Value, Option<u64>) {
    let Some(ts) = body.get("ts").and_then(Value::as_str).map(str::to_string) else {
        let (st, v) = slack_error("message_not_found");
        return (st, v, None);
    };
    {
        let mut recent = s.updates.lock().unwrap();
        let now = Instant::now();
        recent.retain(|at| now.duration_since(*at) < Duration::from_secs(60));
        if recent.len() >= UPDATES_PER_MINUTE {
            let oldest = recent[0];
            let wait = 60 - now.duration_since(oldest).as_secs().min(59);
            return (
                StatusCode::TOO_MANY_REQUESTS,
                json!({"ok": false, "error": "ratelimited"}),
                Some(wait),
            );
        }
        recent.push(now);
    }
    let mut posted = s.posted.lock().unwrap();
    let Some(message) = posted.get_mut(&(channel.clone(), ts.clone())) else {
        let (st, v) = slack_error("message_not_found");
        return (st, v, None);
    };
    if let Value::Object(m) = message {
        for key in ["text", "blocks"] {
            match body.get(key) {
                Some(v) => m.insert(key.into(), v.clone()),
                None => m.remove(key),
            };
        }
    }
    // As documented for chat.update: the channel, the ts, the new text
    // and the updated message.
    let text = body.get("text").cloned().unwrap_or(Value::Null);
    let updated = json!({
        "type": "message",
        "user": "U0MEDICBOT",
        "bot_id": "B0MEDICBOT",
        "text": text,
        "blocks": body.get("blocks").cloned().unwrap_or(Value::Null),
        "edited": {"user": "U0MEDICBOT", "ts": s.next_ts()},
    });
    (
        StatusCode::OK,
        json!({"ok": true, "channel": channel, "ts": ts, "text": text, "message": updated}),
        None,
    )
}

async fn response_url(
    State(s): State<Arc<Inner>>,
    Path(id): Path<String>,
    headers: HeaderMap,
    raw: Bytes,
) -> Response {
    let body = parse_body(&headers, &raw);
    let mut body = body;
    if let Value::Object(map) = &mut body {
        map.insert("response_url_id".into(), Value::String(id));
    }
    s.record(
        "response_url".into(),
        authorization(&headers),
        body,
        StatusCode::OK,
        None,
        None,
    );
    (StatusCode::OK, "ok").into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_match_slacks_documentation() {
        let ok = json!({"text": "x", "blocks": [{"type": "section", "text": {"type": "mrkdwn", "text": "hi"}}]});
        assert_eq!(check_limits(&ok), Ok(()));
        let long = json!({"blocks": [{"type": "section", "text": {"type": "mrkdwn", "text": "x".repeat(3001)}}]});
        assert_eq!(check_limits(&long), Err("invalid_blocks"));
        let many: Vec<Value> = (0..51).map(|_| json!({"type": "divider"})).collect();
        assert_eq!(
            check_limits(&json!({"text": "x", "blocks": many})),
            Err("invalid_blocks")
        );
        assert_eq!(check_limits(&json!({"text": ""})), Err("no_text"));
    }
}

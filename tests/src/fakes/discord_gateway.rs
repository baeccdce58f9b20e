//! A fake Discord gateway (v10, JSON, no compression): the WebSocket that
//! `GET /api/v10/gateway` of [`super::discord::FakeDiscord`] names, as
//! `ws://127.0.0.1:PORT`.
//!
//! It speaks the protocol as far as a bot client needs it, and as strictly
//! as Discord where medic could go wrong:
//! - HELLO (op 10) with a short `heartbeat_interval`, so heartbeats happen
//!   within a test; each heartbeat (op 1) is acknowledged (op 11);
//! - IDENTIFY (op 2) is required before anything else is sent: a wrong
//!   token closes with 4004 (Authentication failed), a privileged intent
//!   (GUILD_MEMBERS, GUILD_PRESENCES, MESSAGE_CONTENT) the application is
//!   not approved for closes with 4014 (Disallowed intent(s)), a second
//!   IDENTIFY closes with 4005 (Already authenticated);
//! - then READY (op 0, `t` READY) with `session_id`, `resume_gateway_url`,
//!   the bot user, its guilds (unavailable, as Discord sends them first)
//!   and the application;
//! - dispatches carry an increasing `s`.
//!
//! A test injects events ([`FakeGateway::dispatch`]); everything a client
//! sent is recorded per connection.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::handshake::server::{Request, Response};
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;

use crate::wait::Changes;

/// The heartbeat interval the fake asks for (Discord: about 41 s).
pub const HEARTBEAT_MS: u64 = 500;
/// The privileged intents: GUILD_MEMBERS, GUILD_PRESENCES, MESSAGE_CONTENT.
pub const PRIVILEGED_INTENTS: u64 = (1 << 1) | (1 << 8) | (1 << 15);
/// A lane message that closes the connection instead of dispatching.
const CLOSE: &str = "\u{0}close";
/// The guild the bot is in.
pub const GUILD: &str = "1290000000000000001";

/// One WebSocket connection, as the fake saw it.
#[derive(Debug, Clone, Default)]
pub struct Session {
    /// The request path and query (`/?v=10`).
    pub path: String,
    /// IDENTIFY's `d`, once sent.
    pub identify: Option<Value>,
    /// Heartbeats received (each acknowledged).
    pub heartbeats: u32,
    /// Every frame the client sent, parsed.
    pub received: Vec<Value>,
    /// The close code, whoever closed (`None`: still open, or dropped).
    pub closed: Option<u16>,
    /// Whether the connection has ended.
    pub ended: bool,
}

#[derive(Debug)]
struct Inner {
    token: String,
    application_id: String,
    addr: Mutex<Option<SocketAddr>>,
    sessions: Mutex<Vec<Session>>,
    /// Outbound lanes of the identified, open connections: (session
    /// index, sender of dispatches as (t, d)).
    live: Mutex<Vec<(usize, Lane)>>,
    /// Bumped after every change to the sessions or the live lanes:
    /// wakes [`FakeGateway::wait_until`].
    changes: Changes,
}

/// Where a connection takes the dispatches to send, as (t, d).
type Lane = mpsc::UnboundedSender<(String, Value)>;

/// A running fake gateway.
#[derive(Debug, Clone)]
pub struct FakeGateway {
    addr: SocketAddr,
    inner: Arc<Inner>,
}

impl FakeGateway {
    /// Starts a gateway that accepts `token` (with or without serenity's
    /// `Bot ` prefix) for `application_id`.
    pub async fn start(token: &str, application_id: &str) -> FakeGateway {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind fake gateway");
        let addr = listener.local_addr().expect("fake gateway address");
        let inner = Arc::new(Inner {
            token: token.to_string(),
            application_id: application_id.to_string(),
            addr: Mutex::new(Some(addr)),
            sessions: Mutex::default(),
            live: Mutex::default(),
            changes: Changes::default(),
        });
        let accepting = inner.clone();
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                tokio::spawn(connection(accepting.clone(), stream));
            }
        });
        FakeGateway { addr, inner }
    }

    /// The URL `GET /gateway` answers with.
    pub fn url(&self) -> String {
        format!("ws://{}", self.addr)
    }

    /// Every connection so far.
    pub fn sessions(&self) -> Vec<Session> {
        self.inner.sessions.lock().unwrap().clone()
    }

    /// Connections that sent IDENTIFY.
    pub fn identified(&self) -> Vec<Session> {
        self.sessions()
            .into_iter()
            .filter(|s| s.identify.is_some())
            .collect()
    }

    /// How many identified connections are open now.
    pub fn live(&self) -> usize {
        self.inner.live.lock().unwrap().len()
    }

    /// Sends a dispatch (`op` 0) to every identified, open connection;
    /// returns how many got it.
    pub fn dispatch(&self, t: &str, d: Value) -> usize {
        let live = self.inner.live.lock().unwrap();
        live.iter()
            .filter(|(_, tx)| tx.send((t.to_string(), d.clone())).is_ok())
            .count()
    }

    /// Closes every open connection with `code` (4000 Unknown error: the
    /// client may resume), as Discord does when it restarts a gateway
    /// node; returns how many were closed.
    pub fn drop_connections(&self, code: u16) -> usize {
        self.dispatch(CLOSE, json!(code))
    }

    /// Waits until `n` connections are identified and open; panics after
    /// `limit` with what the fake saw.
    pub async fn wait_live(&self, n: usize, limit: Duration) {
        self.wait_until(&format!("{n} live gateway session(s)"), limit, |g| {
            g.live() >= n
        })
        .await;
    }

    /// Waits until `check` holds, looking again after every change the
    /// fake sees; panics after `limit` naming `what`, with every session.
    pub async fn wait_until(
        &self,
        what: &str,
        limit: Duration,
        check: impl Fn(&FakeGateway) -> bool,
    ) {
        self.inner
            .changes
            .wait_for(
                format!("fake gateway: {what}"),
                limit,
                || check(self).then_some(()),
                || format!("{:#?}", self.sessions()),
            )
            .await
    }
}

fn frame(op: u8, s: Option<u64>, t: Option<&str>, d: Value) -> Message {
    Message::Text(
        json!({ "op": op, "s": s, "t": t, "d": d })
            .to_string()
            .into(),
    )
}

fn close(code: u16, reason: &'static str) -> Message {
    Message::Close(Some(CloseFrame {
        code: CloseCode::from(code),
        reason: reason.into(),
    }))
}

async fn connection(inner: Arc<Inner>, stream: TcpStream) {
    let mut path = String::new();
    // The signature is tungstenite's handshake callback.
    #[allow(clippy::result_large_err)]
    let record_path = |req: &Request, resp: Response| {
        path = req.uri().to_string();
        Ok(resp)
    };
    let Ok(mut ws) = tokio_tungstenite::accept_hdr_async(stream, record_path).await else {
        return;
    };
    let index = {
        let mut sessions = inner.sessions.lock().unwrap();
        sessions.push(Session {
            path,
            ..Session::default()
        });
        sessions.len() - 1
    };
    inner.changes.bump();
    let session = |f: &mut dyn FnMut(&mut Session)| {
        f(&mut inner.sessions.lock().unwrap()[index]);
        inner.changes.bump();
    };
    let hello = frame(
        10,
        None,
        None,
        json!({ "heartbeat_interval": HEARTBEAT_MS }),
    );
    if ws.send(hello).await.is_err() {
        return;
    }
    let (tx, mut rx) = mpsc::unbounded_channel::<(String, Value)>();
    let mut tx = Some(tx);
    let mut seq = 0u64;
    loop {
        tokio::select! {
            Some((t, d)) = rx.recv() => {
                if t == CLOSE {
                    let code = d.as_u64().unwrap_or(4000) as u16;
                    let _ = ws.send(close(code, "Unknown error.")).await;
                    session(&mut |s| s.closed = Some(code));
                    break;
                }
                seq += 1;
                if ws.send(frame(0, Some(seq), Some(&t), d)).await.is_err() {
                    break;
                }
            }
            incoming = ws.next() => {
                let text = match incoming {
                    Some(Ok(Message::Text(t))) => t.to_string(),
                    Some(Ok(Message::Close(c))) => {
                        let code = c.map(|c| u16::from(c.code));
                        session(&mut |s| s.closed = code);
                        break;
                    }
                    Some(Ok(_)) => continue,
                    None | Some(Err(_)) => break,
                };
                let Ok(v) = serde_json::from_str::<Value>(&text) else {
                    let _ = ws.send(close(4002, "Decode error")).await;
                    session(&mut |s| s.closed = Some(4002));
                    break;
                };
                session(&mut |s| s.received.push(v.clone()));
                match v["op"].as_u64() {
                    Some(1) => {
                        session(&mut |s| s.heartbeats += 1);
                        if ws.send(frame(11, None, None, Value::Null)).await.is_err() {
                            break;
                        }
                    }
                    Some(2) => {
                        let Some(lane) = tx.take() else {
                            let _ = ws.send(close(4005, "Already authenticated")).await;
                            session(&mut |s| s.closed = Some(4005));
                            break;
                        };
                        let d = v["d"].clone();
                        session(&mut |s| s.identify = Some(d.clone()));
                        if let Err((code, reason)) = inner.check_identify(&d) {
                            let _ = ws.send(close(code, reason)).await;
                            session(&mut |s| s.closed = Some(code));
                            break;
                        }
                        seq += 1;
                        if ws.send(frame(0, Some(seq), Some("READY"), inner.ready(index))).await.is_err() {
                            break;
                        }
                        inner.live.lock().unwrap().push((index, lane));
                        inner.changes.bump();
                    }
                    // RESUME without a session this fake remembers: Discord
                    // answers INVALID_SESSION (not resumable).
                    Some(6) if ws.send(frame(9, None, None, json!(false))).await.is_err() => break,
                    _ => {}
                }
            }
        }
    }
    inner.live.lock().unwrap().retain(|(i, _)| *i != index);
    session(&mut |s| s.ended = true);
}

impl Inner {
    fn check_identify(&self, d: &Value) -> Result<(), (u16, &'static str)> {
        let token = d["token"].as_str().unwrap_or_default();
        if token.strip_prefix("Bot ").unwrap_or(token) != self.token {
            return Err((4004, "Authentication failed."));
        }
        let Some(intents) = d["intents"].as_u64() else {
            return Err((4013, "Invalid intent(s)."));
        };
        if intents & PRIVILEGED_INTENTS != 0 {
            return Err((4014, "Disallowed intent(s)."));
        }
        Ok(())
    }

    fn ready(&self, index: usize) -> Value {
        let url = self
            .addr
            .lock()
            .unwrap()
            .map(|a| format!("ws://{a}"))
            .unwrap_or_default();
        json!({
            "v": 10,
            "user": {
                "id": self.application_id, "username": "medic", "discriminator": "0",
                "global_name": null, "avatar": null, "bot": true, "verified": true,
                "mfa_enabled": false, "flags": 0
            },
            "guilds": [{ "id": GUILD, "unavailable": true }],
            "session_id": format!("fake-session-{index}"),
            "resume_gateway_url": url,
            "application": { "id": self.application_id, "flags": 0 },
            "shard": [0, 1]
        })
    }
}

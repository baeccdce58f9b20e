//! A fake Slack Socket Mode server: a WebSocket on loopback that greets
//! each connection with Slack's `hello`, sends the envelopes a test
//! pushes (Slack's own, from `fixtures/slack/socket_mode_*.json`), records
//! every acknowledgement, and can ask for a reconnect (`disconnect`) or
//! drop the connection like a network failure.
//!
//! One connection is served at a time; the next waits for the previous to
//! end, as after a `disconnect`.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::{SinkExt, StreamExt};
use serde_json::Value;
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::Message;

use crate::wait::Changes;

enum Push {
    Frame(String),
    Drop,
}

struct Inner {
    connections: AtomicUsize,
    acks: Mutex<Vec<String>>,
    hello: String,
    pushes: tokio::sync::Mutex<mpsc::UnboundedReceiver<Push>>,
    /// Bumped after every connection and acknowledgement: wakes
    /// [`FakeSocketMode::wait_until`].
    changes: Changes,
}

/// A running fake Socket Mode server.
#[derive(Clone)]
pub struct FakeSocketMode {
    addr: SocketAddr,
    inner: Arc<Inner>,
    tx: mpsc::UnboundedSender<Push>,
}

/// A Slack Socket Mode fixture, as JSON.
pub fn fixture(name: &str) -> Value {
    let path = format!("{}/fixtures/slack/{name}", env!("CARGO_MANIFEST_DIR"));
    serde_json::from_slice(&std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}")))
        .expect("fixture is JSON")
}

impl FakeSocketMode {
    /// Starts the server.
    pub async fn start() -> FakeSocketMode {
        let (tx, rx) = mpsc::unbounded_channel();
        let inner = Arc::new(Inner {
            connections: AtomicUsize::new(0),
            acks: Mutex::default(),
            hello: fixture("socket_mode_hello.json").to_string(),
            pushes: tokio::sync::Mutex::new(rx),
            changes: Changes::default(),
        });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind fake Socket Mode");
        let addr = listener.local_addr().expect("address");
        let server = inner.clone();
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let inner = server.clone();
                tokio::spawn(async move {
                    let Ok(mut ws) = tokio_tungstenite::accept_async(stream).await else {
                        return;
                    };
                    // One connection at a time: wait for the previous one.
                    let mut pushes = inner.pushes.lock().await;
                    inner.connections.fetch_add(1, Ordering::SeqCst);
                    inner.changes.bump();
                    if ws
                        .send(Message::Text(inner.hello.clone().into()))
                        .await
                        .is_err()
                    {
                        return;
                    }
                    loop {
                        tokio::select! {
                            push = pushes.recv() => match push {
                                Some(Push::Frame(f)) => {
                                    if ws.send(Message::Text(f.into())).await.is_err() {
                                        return;
                                    }
                                }
                                // Gone without a close frame: a network drop.
                                Some(Push::Drop) | None => return,
                            },
                            incoming = ws.next() => match incoming {
                                Some(Ok(Message::Text(t))) => {
                                    if let Ok(v) = serde_json::from_str::<Value>(&t)
                                        && let Some(id) = v["envelope_id"].as_str()
                                    {
                                        inner.acks.lock().unwrap().push(id.to_string());
                                        inner.changes.bump();
                                    }
                                }
                                Some(Ok(_)) => {}
                                _ => return,
                            },
                        }
                    }
                });
            }
        });
        FakeSocketMode { addr, inner, tx }
    }

    /// The URL `apps.connections.open` hands out.
    pub fn url(&self) -> String {
        format!("ws://{}/link/?ticket=fake", self.addr)
    }

    /// Sends a frame to the connected medic (queued until one is).
    pub fn send(&self, frame: &Value) {
        let _ = self.tx.send(Push::Frame(frame.to_string()));
    }

    /// Drops the connection without a close frame.
    pub fn drop_connection(&self) {
        let _ = self.tx.send(Push::Drop);
    }

    /// Connections accepted so far.
    pub fn connections(&self) -> usize {
        self.inner.connections.load(Ordering::SeqCst)
    }

    /// Envelope ids acknowledged so far, in order.
    pub fn acks(&self) -> Vec<String> {
        self.inner.acks.lock().unwrap().clone()
    }

    /// Waits until `check` holds, looking again after every connection
    /// and acknowledgement; panics after `limit` naming `what`.
    pub async fn wait_until(
        &self,
        what: &str,
        limit: Duration,
        check: impl Fn(&FakeSocketMode) -> bool,
    ) {
        self.inner
            .changes
            .wait_for(
                format!("fake Socket Mode: {what}"),
                limit,
                || check(self).then_some(()),
                || format!("connections {}, acks {:?}", self.connections(), self.acks()),
            )
            .await
    }
}

/// An `interactive` envelope carrying a press of a medic button: Slack's
/// own Socket Mode envelope (fixture) around Slack's own `block_actions`
/// payload (fixture), with the clicker, place, button and response URL
/// set. Each call gets a fresh envelope id, as each delivery does.
pub fn interactive_click(
    user: &str,
    channel: &str,
    thread_ts: Option<&str>,
    action_id: &str,
    value: &str,
    response_url: &str,
) -> Value {
    static NEXT: AtomicUsize = AtomicUsize::new(1);
    let mut payload = fixture("block_actions_button.json");
    payload["user"]["id"] = user.into();
    payload["user"]["username"] = user.to_lowercase().into();
    payload["channel"]["id"] = channel.into();
    payload["container"]["channel_id"] = channel.into();
    payload["container"]["is_ephemeral"] = false.into();
    if let Some(ts) = thread_ts {
        payload["container"]["thread_ts"] = ts.into();
    }
    payload["response_url"] = response_url.into();
    payload["actions"][0]["action_id"] = action_id.into();
    payload["actions"][0]["value"] = value.into();
    let mut envelope = fixture("socket_mode_interactive_block_actions_static_select_large.json");
    envelope["payload"] = payload;
    envelope["envelope_id"] = format!("e0c1-click-{}", NEXT.fetch_add(1, Ordering::SeqCst)).into();
    envelope
}

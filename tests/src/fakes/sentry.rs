//! A faithful fake of the one Sentry API call medic makes:
//! `GET /api/0/issues/{issue_id}/events/latest/` with
//! `Authorization: Bearer <token>`. A wrong or missing token is 401 with
//! Sentry's `{"detail": …}` body; an issue without an event is 404. The
//! event is answered in the API's shape (exceptions under `entries[]`), and
//! every call is recorded.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use axum::Json;
use axum::Router;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::routing::get;
use serde_json::{Value, json};

/// One call the fake received.
#[derive(Debug, Clone)]
pub struct SentryCall {
    /// The issue id in the path.
    pub issue_id: String,
    /// The `Authorization` header as sent.
    pub authorization: Option<String>,
    /// The status answered.
    pub status: u16,
}

#[derive(Debug, Default)]
struct Inner {
    token: String,
    events: Mutex<HashMap<String, Value>>,
    calls: Mutex<Vec<SentryCall>>,
}

/// A running fake Sentry API.
#[derive(Debug, Clone)]
pub struct FakeSentry {
    addr: SocketAddr,
    inner: Arc<Inner>,
}

impl FakeSentry {
    /// Starts a fake that accepts `token`.
    pub async fn start(token: &str) -> FakeSentry {
        let inner = Arc::new(Inner {
            token: token.to_string(),
            ..Inner::default()
        });
        let app = Router::new()
            .route("/api/0/issues/{id}/events/latest/", get(latest))
            .with_state(inner.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind fake Sentry");
        let addr = listener.local_addr().expect("fake Sentry address");
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        FakeSentry { addr, inner }
    }

    /// The API base, for `sentry.api_url`.
    pub fn api_url(&self) -> String {
        format!("http://{}/api/0/", self.addr)
    }

    /// Makes `event` (protocol shape: `exception.values`) the latest event
    /// of `issue_id`; it is answered in the API's `entries` shape.
    pub fn set_latest_event(&self, issue_id: &str, event: Value) {
        self.inner
            .events
            .lock()
            .unwrap()
            .insert(issue_id.to_string(), event);
    }

    /// Every call so far.
    pub fn calls(&self) -> Vec<SentryCall> {
        self.inner.calls.lock().unwrap().clone()
    }
}

async fn latest(
    State(inner): State<Arc<Inner>>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> (StatusCode, Json<Value>) {
    let authorization = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let expected = format!("Bearer {}", inner.token);
    let (status, body) = if authorization.as_deref() != Some(expected.as_str()) {
        (StatusCode::UNAUTHORIZED, json!({"detail": "Invalid token"}))
    } else {
        match inner.events.lock().unwrap().get(&id) {
            Some(event) => (StatusCode::OK, api_shape(&id, event)),
            None => (
                StatusCode::NOT_FOUND,
                json!({"detail": "The requested resource does not exist"}),
            ),
        }
    };
    inner.calls.lock().unwrap().push(SentryCall {
        issue_id: id,
        authorization,
        status: status.as_u16(),
    });
    (status, Json(body))
}

/// The API's event: the interfaces moved into `entries`, the rest kept.
fn api_shape(issue_id: &str, event: &Value) -> Value {
    let mut out = event.clone();
    let exception = out
        .as_object_mut()
        .and_then(|o| o.remove("exception"))
        .unwrap_or(Value::Null);
    out["groupID"] = json!(issue_id);
    out["entries"] = json!([{ "type": "exception", "data": exception }]);
    out
}

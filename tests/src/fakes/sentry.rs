//! A faithful fake of the Sentry web API calls medic makes:
//!
//! - `GET /api/0/issues/{id}/events/latest/` (triage reads the event a
//!   webhook did not carry), answered in the API's shape (exceptions under
//!   `entries[]`); an issue without an event is 404;
//! - `PUT /api/0/organizations/{org}/issues/{id}/` ("Update an Issue",
//!   docs.sentry.io/api/events/update-an-issue/; the `sentry.resolve` and
//!   `sentry.ignore` actions): `status` must be one Sentry takes
//!   (`resolved`, `resolvedInNextRelease`, `unresolved`, `ignored`), else
//!   400; an organization other than the configured one is 404, as Sentry
//!   answers for organizations a token cannot see.
//!
//! Both need `Authorization: Bearer <token>`; anything else is a 401
//! `{"detail": "Invalid token"}`. A test can script 429 with `Retry-After`
//! or any error status for the next authenticated calls. Every call,
//! accepted or not, is recorded.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, put};
use serde_json::{Value, json};

use super::vendor::{Recorder, Trouble, VendorCall, header, serve, trouble_response};

struct Inner {
    token: String,
    organization: String,
    events: Mutex<HashMap<String, Value>>,
    recorder: Recorder,
}

/// A running fake Sentry API.
#[derive(Clone)]
pub struct FakeSentry {
    addr: SocketAddr,
    inner: Arc<Inner>,
}

impl FakeSentry {
    /// Starts a fake accepting `token` for `organization`.
    pub async fn start(token: &str, organization: &str) -> FakeSentry {
        let inner = Arc::new(Inner {
            token: token.to_string(),
            organization: organization.to_string(),
            events: Mutex::new(HashMap::new()),
            recorder: Recorder::default(),
        });
        let app = Router::new()
            .route("/api/0/issues/{id}/events/latest/", get(latest))
            .route("/api/0/organizations/{org}/issues/{id}/", put(update))
            .with_state(inner.clone());
        FakeSentry {
            addr: serve(app).await,
            inner,
        }
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
    pub fn calls(&self) -> Vec<VendorCall> {
        self.inner.recorder.calls()
    }

    /// Answers the next authenticated call with `trouble`.
    pub fn then(&self, trouble: Trouble) {
        self.inner.recorder.push(trouble);
    }
}

fn detail(status: StatusCode, text: &str) -> (u16, Response) {
    (
        status.as_u16(),
        (status, axum::Json(json!({"detail": text}))).into_response(),
    )
}

fn authorized(inner: &Inner, authorization: Option<&str>) -> bool {
    authorization == Some(format!("Bearer {}", inner.token).as_str())
}

async fn latest(
    State(inner): State<Arc<Inner>>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Response {
    let authorization = header(&headers, "authorization");
    let (status, response) = if !authorized(&inner, authorization.as_deref()) {
        detail(StatusCode::UNAUTHORIZED, "Invalid token")
    } else if let Some(t) = inner.recorder.next_trouble() {
        trouble_response(t, json!({"detail": "Scripted trouble"}))
    } else {
        let event = inner.events.lock().unwrap().get(&id).cloned();
        match event {
            Some(event) => (200, axum::Json(api_shape(&id, &event)).into_response()),
            None => detail(
                StatusCode::NOT_FOUND,
                "The requested resource does not exist",
            ),
        }
    };
    inner.recorder.record(VendorCall {
        method: "GET".into(),
        path: format!("/api/0/issues/{id}/events/latest/"),
        query: Vec::new(),
        authorization,
        from: header(&headers, "from"),
        accept: header(&headers, "accept"),
        body: Value::Null,
        status,
    });
    response
}

async fn update(
    State(inner): State<Arc<Inner>>,
    Path((org, id)): Path<(String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let body: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let authorization = header(&headers, "authorization");
    let (status, response) = if !authorized(&inner, authorization.as_deref()) {
        detail(StatusCode::UNAUTHORIZED, "Invalid token")
    } else if org != inner.organization || !id.chars().all(|c| c.is_ascii_digit()) {
        detail(
            StatusCode::NOT_FOUND,
            "The requested resource does not exist",
        )
    } else if let Some(t) = inner.recorder.next_trouble() {
        trouble_response(t, json!({"detail": "Scripted trouble"}))
    } else {
        match body["status"].as_str() {
            Some(s @ ("resolved" | "resolvedInNextRelease" | "unresolved" | "ignored")) => (
                200,
                axum::Json(json!({"id": id, "status": s, "statusDetails": {}})).into_response(),
            ),
            _ => detail(StatusCode::BAD_REQUEST, "Invalid status"),
        }
    };
    inner.recorder.record(VendorCall {
        method: "PUT".into(),
        path: format!("/api/0/organizations/{org}/issues/{id}/"),
        query: Vec::new(),
        authorization,
        from: header(&headers, "from"),
        accept: header(&headers, "accept"),
        body,
        status,
    });
    response
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

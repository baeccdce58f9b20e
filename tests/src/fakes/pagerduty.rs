//! A fake PagerDuty REST API v2: `PUT /incidents/{id}` ("Update an
//! incident", developer.pagerduty.com/api-reference/8a0e1aa2ec666), and
//! `GET /oncalls` ("List all of the on-calls", in [`oncalls`]) over the
//! schedules a test sets with [`FakePagerDuty::set_oncalls`].
//!
//! Faithful where medic could go wrong:
//! - `Authorization: Token token=<key>` is required: anything else is a
//!   401 with PagerDuty's error body (code 2006);
//! - `From:` must carry an email (PagerDuty answers 400 without it for
//!   account-level keys);
//! - `Accept: application/vnd.pagerduty+json;version=2` is required here
//!   (PagerDuty serves v2 only with it);
//! - the body must be `{"incident": {"type": "incident_reference" |
//!   "incident", ...}}` with a `status` of `acknowledged`/`resolved` or
//!   `assignments`;
//! - a test can script 429 with `Retry-After`, or any error status.
//!
//! Every call, accepted or not, is recorded.

mod oncalls;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, put};
use serde_json::{Value, json};

use super::vendor::{Recorder, Trouble, VendorCall, header, serve, trouble_response};

pub use oncalls::{DEFAULT_LIMIT, FakeOncall, MAX_LIMIT};

/// The `Accept` that selects REST API v2.
const ACCEPT_V2: &str = "application/vnd.pagerduty+json;version=2";

struct Inner {
    token: String,
    recorder: Recorder,
    /// Each schedule's on-call periods, by schedule id; ordered, so pages
    /// are stable from one call to the next.
    schedules: Mutex<BTreeMap<String, Vec<FakeOncall>>>,
}

/// A running fake PagerDuty API.
#[derive(Clone)]
pub struct FakePagerDuty {
    addr: SocketAddr,
    inner: Arc<Inner>,
}

fn error(status: u16, message: &str, code: u32) -> (u16, Response) {
    let code_status =
        axum::http::StatusCode::from_u16(status).unwrap_or(axum::http::StatusCode::BAD_REQUEST);
    (
        status,
        (
            code_status,
            axum::Json(json!({"error": {"message": message, "code": code}})),
        )
            .into_response(),
    )
}

async fn update(
    State(inner): State<Arc<Inner>>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let body: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let authorization = header(&headers, "authorization");
    let from = header(&headers, "from");
    let accept = header(&headers, "accept");
    let (status, response) = if authorization.as_deref()
        != Some(format!("Token token={}", inner.token).as_str())
    {
        error(401, "Authentication failed", 2006)
    } else if accept.as_deref() != Some(ACCEPT_V2) {
        error(406, "Accept must ask for version=2", 2001)
    } else if !from.as_deref().is_some_and(|f| f.contains('@')) {
        error(
            400,
            "You must specify a user's email address in the \"From\" header to perform this action",
            2001,
        )
    } else if let Some(t) = inner.recorder.next_trouble() {
        trouble_response(
            t,
            json!({"error": {"message": "Scripted trouble", "code": 2000}}),
        )
    } else {
        let incident = &body["incident"];
        let typed = matches!(
            incident["type"].as_str(),
            Some("incident_reference" | "incident")
        );
        let status_ok = match incident.get("status") {
            None => true,
            Some(s) => matches!(s.as_str(), Some("acknowledged" | "resolved")),
        };
        let changes = incident.get("status").is_some() || incident["assignments"].is_array();
        if !typed || !status_ok || !changes {
            error(400, "Invalid Input Provided", 2001)
        } else {
            let status = incident["status"].as_str().unwrap_or("triggered");
            (
                200,
                axum::Json(json!({"incident": {
                    "id": id,
                    "type": "incident",
                    "status": status,
                    "summary": format!("[#1] incident {id}"),
                }}))
                .into_response(),
            )
        }
    };
    inner.recorder.record(VendorCall {
        method: "PUT".into(),
        path: format!("/incidents/{id}"),
        query: Vec::new(),
        authorization,
        from,
        accept,
        body,
        status,
    });
    response
}

impl FakePagerDuty {
    /// Starts a fake accepting the REST API key `token`.
    pub async fn start(token: &str) -> FakePagerDuty {
        let inner = Arc::new(Inner {
            token: token.to_string(),
            recorder: Recorder::default(),
            schedules: Mutex::default(),
        });
        let app = Router::new()
            .route("/incidents/{id}", put(update))
            .route("/oncalls", get(oncalls::oncalls))
            .with_state(inner.clone());
        FakePagerDuty {
            addr: serve(app).await,
            inner,
        }
    }

    /// The base URL for `pagerduty.api_url`.
    pub fn api_url(&self) -> String {
        format!("http://{}/", self.addr)
    }

    /// Every call so far.
    pub fn calls(&self) -> Vec<VendorCall> {
        self.inner.recorder.calls()
    }

    /// Puts these on-call periods on `schedule` (replacing what it had),
    /// in the order `GET /oncalls` lists them.
    pub fn set_oncalls(&self, schedule: &str, periods: Vec<FakeOncall>) {
        self.inner
            .schedules
            .lock()
            .unwrap()
            .insert(schedule.to_string(), periods);
    }

    /// The calls to `GET /oncalls` so far.
    pub fn oncalls_calls(&self) -> Vec<VendorCall> {
        self.calls()
            .into_iter()
            .filter(|c| c.method == "GET" && c.path == "/oncalls")
            .collect()
    }

    /// Answers the next authenticated call with `trouble`.
    pub fn then(&self, trouble: Trouble) {
        self.inner.recorder.push(trouble);
    }
}

#[cfg(test)]
mod tests;

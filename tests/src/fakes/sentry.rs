//! A fake Sentry web API: `PUT /api/0/organizations/{org}/issues/{id}/`
//! ("Update an Issue", docs.sentry.io/api/events/update-an-issue/).
//!
//! Faithful where medic could go wrong:
//! - `Authorization: Bearer <token>` is required: anything else is a 401
//!   `{"detail": "Invalid token"}`;
//! - an organization other than the configured one is a 404, as Sentry
//!   answers for organizations a token cannot see;
//! - `status` must be one Sentry takes (`resolved`,
//!   `resolvedInNextRelease`, `unresolved`, `ignored`), else 400;
//! - a test can script 429 with `Retry-After`, or any error status.
//!
//! Every call, accepted or not, is recorded.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::put;
use serde_json::{Value, json};

use super::vendor::{Recorder, Trouble, VendorCall, header, serve, trouble_response};

struct Inner {
    token: String,
    organization: String,
    recorder: Recorder,
}

/// A running fake Sentry API.
#[derive(Clone)]
pub struct FakeSentry {
    addr: SocketAddr,
    inner: Arc<Inner>,
}

fn detail(status: StatusCode, text: &str) -> (u16, Response) {
    (
        status.as_u16(),
        (status, axum::Json(json!({"detail": text}))).into_response(),
    )
}

async fn update(
    State(inner): State<Arc<Inner>>,
    Path((org, id)): Path<(String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let body: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let authorization = header(&headers, "authorization");
    let (status, response) =
        if authorization.as_deref() != Some(format!("Bearer {}", inner.token).as_str()) {
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
        authorization,
        from: header(&headers, "from"),
        accept: header(&headers, "accept"),
        body,
        status,
    });
    response
}

impl FakeSentry {
    /// Starts a fake accepting `token` for `organization`.
    pub async fn start(token: &str, organization: &str) -> FakeSentry {
        let inner = Arc::new(Inner {
            token: token.to_string(),
            organization: organization.to_string(),
            recorder: Recorder::default(),
        });
        let app = Router::new()
            .route("/api/0/organizations/{org}/issues/{id}/", put(update))
            .with_state(inner.clone());
        FakeSentry {
            addr: serve(app).await,
            inner,
        }
    }

    /// The base URL for `sentry.api_url`.
    pub fn api_url(&self) -> String {
        format!("http://{}/api/0/", self.addr)
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

//! What the fake vendor APIs (PagerDuty, Sentry) share: the record of
//! every call and the script of trouble a test asks for (rate limiting,
//! server errors).

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::Mutex;

use axum::Router;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::Value;

/// One recorded call, accepted or not.
#[derive(Debug, Clone)]
pub struct VendorCall {
    /// `PUT` or `GET`.
    pub method: String,
    /// The path as sent, without the query.
    pub path: String,
    /// The query's pairs, decoded, in order (`schedule_ids[]` repeats).
    pub query: Vec<(String, String)>,
    /// `Authorization`, as sent.
    pub authorization: Option<String>,
    /// `From`, as sent (PagerDuty).
    pub from: Option<String>,
    /// `Accept`, as sent.
    pub accept: Option<String>,
    /// The JSON body (`Null` when it was not JSON).
    pub body: Value,
    /// The status the fake answered.
    pub status: u16,
}

impl VendorCall {
    /// Every value of query parameter `name`, in order.
    pub fn params(&self, name: &str) -> Vec<&str> {
        self.query
            .iter()
            .filter(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
            .collect()
    }
}

/// An answer a test scripted for the next calls.
#[derive(Debug, Clone, Copy)]
pub enum Trouble {
    /// 429 with `Retry-After: seconds`.
    RateLimited {
        /// The `Retry-After` value.
        seconds: u64,
    },
    /// This status with a vendor-shaped error body.
    Status(u16),
}

/// The shared state of one fake.
#[derive(Debug, Default)]
pub struct Recorder {
    calls: Mutex<Vec<VendorCall>>,
    script: Mutex<VecDeque<Trouble>>,
}

impl Recorder {
    /// Records a call.
    pub fn record(&self, call: VendorCall) {
        self.calls.lock().unwrap().push(call);
    }

    /// Every call so far.
    pub fn calls(&self) -> Vec<VendorCall> {
        self.calls.lock().unwrap().clone()
    }

    /// Queues `trouble` for the next authenticated call.
    pub fn push(&self, trouble: Trouble) {
        self.script.lock().unwrap().push_back(trouble);
    }

    /// The trouble for this call, if any is scripted.
    pub fn next_trouble(&self) -> Option<Trouble> {
        self.script.lock().unwrap().pop_front()
    }
}

/// A header as text.
pub fn header(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
}

/// The response for scripted trouble, with `error` as its JSON body.
pub fn trouble_response(t: Trouble, error: Value) -> (u16, Response) {
    match t {
        Trouble::RateLimited { seconds } => (
            429,
            (
                StatusCode::TOO_MANY_REQUESTS,
                [("retry-after", seconds.to_string())],
                axum::Json(error),
            )
                .into_response(),
        ),
        Trouble::Status(s) => {
            let code = StatusCode::from_u16(s).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            (s, (code, axum::Json(error)).into_response())
        }
    }
}

/// Serves `app` on a free loopback port.
pub async fn serve(app: Router) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind a loopback port");
    let addr = listener.local_addr().expect("local addr");
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    addr
}

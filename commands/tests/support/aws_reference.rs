//! Recorded responses of the AWS API, for what moto cannot show: a
//! container's exit code and reason (moto reports exit 0 and no reason
//! for every stopped container), a stop code and a stop time, service
//! events (moto keeps none), a deployment created in the past (moto
//! stamps CreateService's moment and has no way to move it), and AWS's
//! own error answers (moto checks no credentials or IAM policy).
//!
//! Each response is the shape of the API reference page named beside it,
//! in the awsJson1.1 protocol the SDK speaks (times are epoch seconds).
//! The server checks every request is SigV4-signed with the expected
//! access key id for the expected region and service, and records each
//! call so a test can assert what medic asked, and how often.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::IntoResponse;
use serde_json::{Value, json};

/// The API reference pages the shapes below come from.
pub mod source {
    /// DescribeServices: services[].deployments[], events[], failures[].
    pub const DESCRIBE_SERVICES: &str =
        "https://docs.aws.amazon.com/AmazonECS/latest/APIReference/API_DescribeServices.html";
    /// ListTasks: taskArns[].
    pub const LIST_TASKS: &str =
        "https://docs.aws.amazon.com/AmazonECS/latest/APIReference/API_ListTasks.html";
    /// DescribeTasks: tasks[] with stopCode, stoppedAt, stoppedReason,
    /// containers[].exitCode and .reason (API_Task.html, API_Container.html).
    pub const DESCRIBE_TASKS: &str =
        "https://docs.aws.amazon.com/AmazonECS/latest/APIReference/API_DescribeTasks.html";
    /// DescribeTaskDefinition: containerDefinitions[].memory and
    /// .logConfiguration (API_LogConfiguration.html: awslogs options).
    pub const DESCRIBE_TASK_DEFINITION: &str =
        "https://docs.aws.amazon.com/AmazonECS/latest/APIReference/API_DescribeTaskDefinition.html";
    /// FilterLogEvents: events[] with logStreamName, timestamp (ms), message.
    pub const FILTER_LOG_EVENTS: &str = "https://docs.aws.amazon.com/AmazonCloudWatchLogs/latest/APIReference/API_FilterLogEvents.html";
    /// The error body of the JSON protocols: `__type` and `message`, HTTP 400.
    pub const COMMON_ERRORS: &str =
        "https://docs.aws.amazon.com/AmazonECS/latest/APIReference/CommonErrors.html";
}

/// The ECS and CloudWatch Logs targets (X-Amz-Target prefixes).
const ECS_PREFIX: &str = "AmazonEC2ContainerServiceV20141113.";
const LOGS_PREFIX: &str = "Logs_20140328.";

/// One call the server answered.
#[derive(Debug, Clone)]
pub struct Call {
    /// `DescribeServices`, `FilterLogEvents`…
    pub action: String,
    /// The JSON body sent.
    pub body: Value,
}

#[derive(Default)]
struct Inner {
    /// Action → status, body, and the reference page its shape is from.
    answers: HashMap<String, (u16, Value, &'static str)>,
    calls: Vec<Call>,
    bad_auth: Vec<String>,
}

/// A server answering recorded responses.
#[derive(Clone)]
pub struct Recorded {
    /// Its base URL.
    pub endpoint: String,
    inner: Arc<Mutex<Inner>>,
    access_key_id: String,
    region: String,
}

impl Recorded {
    /// Starts one on loopback expecting requests signed with
    /// `access_key_id` for `region`.
    pub async fn start(access_key_id: &str, region: &str) -> Recorded {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr: SocketAddr = listener.local_addr().unwrap();
        let recorded = Recorded {
            endpoint: format!("http://{addr}"),
            inner: Arc::default(),
            access_key_id: access_key_id.to_string(),
            region: region.to_string(),
        };
        let app = Router::new().fallback(answer).with_state(recorded.clone());
        tokio::spawn(async move {
            axum::serve(listener, app).await.unwrap();
        });
        recorded
    }

    /// Answers `action` with `status` and `body` from now on; `source` is
    /// the API reference page the body's shape is taken from.
    pub fn answer(&self, action: &str, status: u16, body: Value, source: &'static str) {
        assert!(
            source.starts_with("https://docs.aws.amazon.com/"),
            "{source}"
        );
        self.inner
            .lock()
            .unwrap()
            .answers
            .insert(action.to_string(), (status, body, source));
    }

    /// The calls so far.
    pub fn calls(&self) -> Vec<Call> {
        self.inner.lock().unwrap().calls.clone()
    }

    /// How many calls of `action` so far.
    pub fn count(&self, action: &str) -> usize {
        self.calls().iter().filter(|c| c.action == action).count()
    }

    /// Requests whose signature did not name the expected key, region or
    /// service (each as its Authorization header).
    pub fn bad_auth(&self) -> Vec<String> {
        self.inner.lock().unwrap().bad_auth.clone()
    }
}

async fn answer(State(r): State<Recorded>, headers: HeaderMap, body: Bytes) -> impl IntoResponse {
    let (status, body) = respond(&r, &headers, &body);
    (
        status,
        [(
            axum::http::header::CONTENT_TYPE,
            "application/x-amz-json-1.1",
        )],
        body,
    )
}

fn respond(r: &Recorded, headers: &HeaderMap, body: &Bytes) -> (StatusCode, String) {
    let target = headers
        .get("x-amz-target")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    let (service, action) = if let Some(a) = target.strip_prefix(ECS_PREFIX) {
        ("ecs", a.to_string())
    } else if let Some(a) = target.strip_prefix(LOGS_PREFIX) {
        ("logs", a.to_string())
    } else {
        return (
            StatusCode::BAD_REQUEST,
            json!({"__type": "UnknownOperationException"}).to_string(),
        );
    };
    let auth = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    let scope = format!("Credential={}/", r.access_key_id);
    let region_scope = format!("/{}/{service}/aws4_request", r.region);
    let mut inner = r.inner.lock().unwrap();
    if !(auth.starts_with("AWS4-HMAC-SHA256 ")
        && auth.contains(&scope)
        && auth.contains(&region_scope)
        && auth.contains("Signature="))
    {
        inner.bad_auth.push(auth);
        // CommonErrors: a request without a valid signature.
        return (
            StatusCode::BAD_REQUEST,
            json!({"__type": "MissingAuthenticationTokenException", "message": "Missing Authentication Token"}).to_string(),
        );
    }
    inner.calls.push(Call {
        action: action.clone(),
        body: serde_json::from_slice(body).unwrap_or(Value::Null),
    });
    match inner.answers.get(&action) {
        Some((status, body, _source)) => (
            StatusCode::from_u16(*status).unwrap(),
            body.to_string(),
        ),
        None => (
            StatusCode::BAD_REQUEST,
            json!({"__type": "InvalidParameterException", "message": format!("no recorded answer for {action}")}).to_string(),
        ),
    }
}

/// Epoch seconds `ago` before now, as the JSON protocol writes times.
pub fn epoch_ago(ago: std::time::Duration) -> f64 {
    let now = time::OffsetDateTime::now_utc().unix_timestamp_nanos() as f64 / 1e9;
    now - ago.as_secs_f64()
}

/// An error answer ([`source::COMMON_ERRORS`]): `__type` and `message`.
pub fn error(code: &str, message: &str) -> Value {
    json!({ "__type": code, "message": message })
}

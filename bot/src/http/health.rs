//! Operations endpoints: liveness, readiness and metrics.

use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;

use crate::state::AppState;

/// `GET /healthz`: the process is up and serving.
pub async fn healthz() -> &'static str {
    "ok\n"
}

/// `GET /readyz`: the database answers, so commands can be recorded;
/// with the duties this replica holds (`crate::duty`), one per line, so
/// an operator sees which replica does what.
pub async fn readyz(State(state): State<AppState>) -> impl IntoResponse {
    if !state.store.ping().await {
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            "database unreachable\n".to_string(),
        );
    }
    let mut body = String::from("ready\n");
    for duty in state.duties.held() {
        body.push_str(&format!("duty: {duty}\n"));
    }
    (StatusCode::OK, body)
}

/// `GET /metrics`: Prometheus text format.
pub async fn metrics(State(state): State<AppState>) -> impl IntoResponse {
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        state.metrics.encode(),
    )
}

//! The HTTP surface: platform endpoints and operations endpoints, behind
//! one body limit and one request counter.

mod health;
mod serve;
mod slack;

pub use serve::serve;

use axum::Router;
use axum::extract::{DefaultBodyLimit, MatchedPath, Request, State};
use axum::middleware::{self, Next};
use axum::response::Response;
use axum::routing::{get, post};

use crate::app::AppState;

/// Bodies larger than this are refused with 413 before they are read in
/// full: no platform sends more, and a flood of huge bodies must not
/// exhaust memory.
pub const MAX_BODY: usize = 1024 * 1024;

/// Every route template medic serves: the closed set of values of the
/// `route` label on `medic_http_requests_total`.
const ROUTES: [&str; 4] = ["/healthz", "/readyz", "/metrics", "/slack/commands"];

/// Every route medic serves.
pub fn router(state: AppState) -> Router {
    let [healthz, readyz, metrics, slack_commands] = ROUTES;
    Router::new()
        .route(healthz, get(health::healthz))
        .route(readyz, get(health::readyz))
        .route(metrics, get(health::metrics))
        .route(slack_commands, post(slack::commands))
        .layer(middleware::from_fn_with_state(
            state.clone(),
            count_requests,
        ))
        .layer(DefaultBodyLimit::max(MAX_BODY))
        .with_state(state)
}

/// Counts requests by route template (never the raw path, which a caller
/// could vary without bound) and status.
async fn count_requests(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .and_then(|p| ROUTES.iter().find(|r| **r == p.as_str()).copied())
        .unwrap_or("unmatched");
    let response = next.run(req).await;
    state
        .metrics
        .http_request(route, response.status().as_u16());
    response
}

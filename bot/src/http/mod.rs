//! The HTTP surface: platform endpoints and operations endpoints, behind
//! one body limit and one request counter.

mod health;
pub mod intakes;
mod serve;
pub mod webhooks;

pub use serve::{Limits, listen, serve};

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};

use axum::Router;
use axum::extract::{DefaultBodyLimit, MatchedPath, Request};
use axum::response::Response;
use axum::routing::{get, post};
use tower::{Layer, Service};

use crate::chat::{discord, slack};
use crate::state::AppState;
use crate::telemetry::metrics::Metrics;

/// Bodies larger than this are refused with 413, before a byte is read
/// when `Content-Length` says so ([`serve`]), else once this much has
/// arrived: no platform sends more, and a flood of huge bodies must not
/// exhaust memory.
pub const MAX_BODY: usize = 1024 * 1024;

/// Every route template medic serves: the closed set of values of the
/// `route` label on `medic_http_requests_total`.
const ROUTES: [&str; 10] = [
    "/healthz",
    "/readyz",
    "/metrics",
    "/slack/commands",
    "/slack/interactions",
    "/slack/events",
    "/discord/interactions",
    "/webhooks/sentry",
    "/webhooks/pagerduty",
    "/webhooks/alertmanager",
];

/// The `route` label for a request to `path`, for requests answered
/// before they reach the router (a body too slow or too large).
fn route_label(path: &str) -> &'static str {
    ROUTES
        .iter()
        .find(|r| **r == path)
        .copied()
        .unwrap_or("unmatched")
}

/// Every route medic serves.
pub fn router(state: AppState) -> Router {
    let [
        healthz,
        readyz,
        metrics,
        slack_commands,
        slack_interactions,
        slack_events,
        discord_interactions,
        sentry,
        pagerduty,
        alertmanager,
    ] = ROUTES;
    Router::new()
        .route(healthz, get(health::healthz))
        .route(readyz, get(health::readyz))
        .route(metrics, get(health::metrics))
        .route(slack_commands, post(slack::http::commands))
        .route(slack_interactions, post(slack::interactions::interactions))
        .route(slack_events, post(slack::http::events))
        .route(discord_interactions, post(discord::http::interactions))
        .route(sentry, post(webhooks::sentry))
        .route(pagerduty, post(webhooks::pagerduty))
        .route(alertmanager, post(webhooks::alertmanager))
        .layer(CountRequests {
            metrics: state.metrics.clone(),
        })
        .layer(DefaultBodyLimit::max(MAX_BODY))
        .with_state(state)
}

/// Counts requests by route template (never the raw path, which a caller
/// could vary without bound) and status.
///
/// A plain tower layer rather than `middleware::from_fn`: it calls the
/// route directly instead of cloning and boxing it on every request.
#[derive(Clone)]
struct CountRequests {
    metrics: Arc<Metrics>,
}

impl<S> Layer<S> for CountRequests {
    type Service = Counted<S>;
    fn layer(&self, inner: S) -> Counted<S> {
        Counted {
            inner,
            metrics: self.metrics.clone(),
        }
    }
}

#[derive(Clone)]
struct Counted<S> {
    inner: S,
    metrics: Arc<Metrics>,
}

impl<S> Service<Request> for Counted<S>
where
    S: Service<Request, Response = Response>,
{
    type Response = Response;
    type Error = S::Error;
    type Future = CountedFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request) -> Self::Future {
        let route = req
            .extensions()
            .get::<MatchedPath>()
            .map_or("unmatched", |p| route_label(p.as_str()));
        CountedFuture {
            inner: self.inner.call(req),
            route,
            metrics: self.metrics.clone(),
        }
    }
}

pin_project_lite::pin_project! {
    struct CountedFuture<F> {
        #[pin]
        inner: F,
        route: &'static str,
        metrics: Arc<Metrics>,
    }
}

impl<F, E> Future for CountedFuture<F>
where
    F: Future<Output = Result<Response, E>>,
{
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        let this = self.project();
        let output = ready!(this.inner.poll(cx));
        if let Ok(response) = &output {
            this.metrics
                .http_request(this.route, response.status().as_u16());
        }
        Poll::Ready(output)
    }
}

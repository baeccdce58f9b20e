//! The service hyper calls for every request: `POST /slack/commands`
//! straight to its handler, everything else through the axum router.
//!
//! Slash commands are the one route that takes a flood at Slack's 3 s
//! deadline (a channel of people, a script, a retry storm), and the router
//! costs each request a clone and a box of the matched route per layer, a
//! boxed body and its extensions: about a tenth of medic's CPU on that
//! route (BENCHMARKS.md, stop 16). Here the route is matched by its fixed
//! path, the body is read under the same 1 MiB limit, the same handler
//! answers and the same request counter counts it, so nothing a client or
//! an operator sees differs. The router keeps the route too, so
//! [`super::router`] alone is still all of medic's HTTP surface.

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;

use axum::Router;
use axum::http::{HeaderMap, Method, Request, StatusCode};
use axum::response::{IntoResponse, Response};
use http_body_util::{BodyExt, LengthLimitError, Limited};
use hyper::body::Incoming;
use tower::Service;

use super::{MAX_BODY, SLACK_COMMANDS};
use crate::app::AppState;

/// What [`super::serve`] hands each connection.
#[derive(Clone)]
pub struct Routes {
    state: AppState,
    router: Router,
}

impl Routes {
    /// medic's routes over `state`.
    pub fn new(state: AppState) -> Self {
        Routes {
            router: super::router(state.clone()),
            state,
        }
    }
}

type Answer = Pin<Box<dyn Future<Output = Result<Response, Infallible>> + Send>>;

impl hyper::service::Service<Request<Incoming>> for Routes {
    type Response = Response;
    type Error = Infallible;
    type Future = Answer;

    fn call(&self, req: Request<Incoming>) -> Answer {
        if req.method() == Method::POST && req.uri().path() == SLACK_COMMANDS {
            // Only the headers and the body go into the future: hyper
            // allocates it for every request, so its size is paid per
            // command.
            let (parts, body) = req.into_parts();
            return Box::pin(slack_command(self.state.clone(), parts.headers, body));
        }
        let mut router = self.router.clone();
        Box::pin(async move { router.call(req).await })
    }
}

/// `POST /slack/commands` without the router: the body under
/// [`MAX_BODY`] (413 past it, as the router's limit answers), then the
/// route's own handler, counted as the router counts a request.
async fn slack_command(
    state: AppState,
    headers: HeaderMap,
    body: Incoming,
) -> Result<Response, Infallible> {
    let response = match Limited::new(body, MAX_BODY).collect().await {
        Ok(collected) => {
            let signed = super::slack::Signed::from_headers(&headers);
            super::slack::command(&state, signed, &collected.to_bytes()).await
        }
        Err(error) if error.downcast_ref::<LengthLimitError>().is_some() => {
            // In the router's words, so that every route says it alike.
            (
                StatusCode::PAYLOAD_TOO_LARGE,
                "Failed to buffer the request body: length limit exceeded",
            )
                .into_response()
        }
        // The client went away or broke the framing mid-body.
        Err(_) => (StatusCode::BAD_REQUEST, "could not read the request body\n").into_response(),
    };
    state
        .metrics
        .http_request(SLACK_COMMANDS, response.status().as_u16());
    Ok(response)
}

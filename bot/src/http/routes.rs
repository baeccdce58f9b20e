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
use bytes::{Bytes, BytesMut};
use http_body_util::BodyExt;
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
    let response = match read_body(body, MAX_BODY).await {
        Ok(body) => {
            let signed = super::slack::Signed::from_headers(&headers);
            super::slack::command(&state, signed, &body).await
        }
        Err(BodyError::TooLarge) => {
            // In the router's words, so that every route says it alike.
            (
                StatusCode::PAYLOAD_TOO_LARGE,
                "Failed to buffer the request body: length limit exceeded",
            )
                .into_response()
        }
        // The client went away or broke the framing mid-body.
        Err(BodyError::Broken) => {
            (StatusCode::BAD_REQUEST, "could not read the request body\n").into_response()
        }
    };
    state
        .metrics
        .http_request(SLACK_COMMANDS, response.status().as_u16());
    Ok(response)
}

/// Why a body could not be read.
#[derive(Debug, PartialEq, Eq)]
enum BodyError {
    /// Longer than the limit (by its `Content-Length`, or as it arrived).
    TooLarge,
    /// The connection failed or the framing was broken.
    Broken,
}

/// The whole body, at most `limit` bytes. A slash command's body arrives
/// in one frame, which is taken as it is; only a body in several frames is
/// copied together.
async fn read_body<B>(mut body: B, limit: usize) -> Result<Bytes, BodyError>
where
    B: hyper::body::Body<Data = Bytes> + Unpin,
{
    if body.size_hint().lower() > limit as u64 {
        return Err(BodyError::TooLarge);
    }
    let mut first: Option<Bytes> = None;
    let mut more: Option<BytesMut> = None;
    while let Some(frame) = body.frame().await {
        let Ok(data) = frame.map_err(|_| BodyError::Broken)?.into_data() else {
            // Trailers: nothing a form body needs.
            continue;
        };
        let so_far = more
            .as_ref()
            .map_or_else(|| first.as_ref().map_or(0, Bytes::len), BytesMut::len);
        if so_far + data.len() > limit {
            return Err(BodyError::TooLarge);
        }
        match (&mut first, &mut more) {
            (None, None) => first = Some(data),
            (Some(_), None) => {
                let head = first.take().unwrap_or_default();
                let mut joined = BytesMut::with_capacity(head.len() + data.len());
                joined.extend_from_slice(&head);
                joined.extend_from_slice(&data);
                more = Some(joined);
            }
            (_, Some(joined)) => joined.extend_from_slice(&data),
        }
    }
    Ok(match more {
        Some(joined) => joined.freeze(),
        None => first.unwrap_or_default(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body_util::{Full, StreamBody};
    use hyper::body::Frame;

    type Frames = futures::stream::Iter<std::vec::IntoIter<Result<Frame<Bytes>, Infallible>>>;

    /// A body that arrives in `parts`, one frame each, with no length.
    fn frames(parts: &[&'static [u8]]) -> StreamBody<Frames> {
        let frames: Vec<Result<Frame<Bytes>, Infallible>> = parts
            .iter()
            .map(|p| Ok(Frame::data(Bytes::from_static(p))))
            .collect();
        StreamBody::new(futures::stream::iter(frames))
    }

    #[tokio::test]
    async fn a_body_is_read_whole_in_one_frame_or_several() {
        assert_eq!(
            read_body(Full::new(Bytes::from_static(b"a=1&b=2")), 16).await,
            Ok(Bytes::from_static(b"a=1&b=2"))
        );
        assert_eq!(
            read_body(frames(&[b"a=1", b"&b=", b"2"]), 16).await,
            Ok(Bytes::from_static(b"a=1&b=2"))
        );
        assert_eq!(read_body(frames(&[]), 16).await, Ok(Bytes::new()));
    }

    #[tokio::test]
    async fn a_body_past_the_limit_is_refused_by_its_length_or_as_it_arrives() {
        // Declared too long: refused before a byte is read.
        assert_eq!(
            read_body(Full::new(Bytes::from_static(b"0123456789")), 9).await,
            Err(BodyError::TooLarge)
        );
        // Undeclared, and too long once the frames add up.
        assert_eq!(
            read_body(frames(&[b"01234", b"56789"]), 9).await,
            Err(BodyError::TooLarge)
        );
        assert_eq!(
            read_body(frames(&[b"01234", b"5678"]), 9).await,
            Ok(Bytes::from_static(b"012345678"))
        );
        let broken = StreamBody::new(futures::stream::iter(vec![
            Ok(Frame::data(Bytes::from_static(b"a"))),
            Err(std::io::Error::other("reset")),
        ]));
        assert_eq!(read_body(broken, 9).await, Err(BodyError::Broken));
    }
}

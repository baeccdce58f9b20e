//! Reading a request's body before medic answers it: within a deadline
//! and up to a size, in one place rather than in every handler.
//!
//! Every route medic serves reads its whole body (a signature covers all
//! of it), so reading it here first costs nothing, and a client that
//! sends its headers and then trickles its body is answered 408 and
//! closed once the deadline passes, instead of holding its connection
//! open for as long as it likes.

use std::time::Duration;

use axum::body::Body;
use bytes::Bytes;
use http_body_util::{BodyExt, LengthLimitError, Limited};
use hyper::body::{Body as _, Incoming};
use hyper::header::{CONNECTION, CONTENT_TYPE, HeaderValue};
use hyper::{Response, StatusCode};

/// How much of a request medic reads, and for how long.
#[derive(Debug, Clone, Copy)]
pub(super) struct BodyLimits {
    /// The most a body may take to arrive, counted from when its headers
    /// did.
    pub(super) deadline: Duration,
    /// The largest body, in bytes.
    pub(super) max: usize,
}

/// Why a request was answered without being routed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Cut {
    /// The body did not arrive within the deadline: 408.
    TimedOut,
    /// `Content-Length`, or the bytes read so far, exceed the cap: 413.
    TooLarge,
    /// The client went away mid-body or sent a malformed chunk: 400.
    Unreadable,
    /// The connection was closed to make room for a newer one while its
    /// body arrived: 503, and nothing runs.
    Evicted,
}

impl Cut {
    /// The answer, with `Connection: close`: the rest of the body is not
    /// read, so the connection cannot carry another request.
    pub(super) fn response(self) -> Response<Body> {
        let (status, text) = match self {
            Cut::TimedOut => (
                StatusCode::REQUEST_TIMEOUT,
                "The request body did not arrive in time.\n",
            ),
            // Word for word what the router's own body limit answers (axum's
            // rejection), so a client sees one answer wherever it is cut.
            Cut::TooLarge => (
                StatusCode::PAYLOAD_TOO_LARGE,
                "Failed to buffer the request body: length limit exceeded",
            ),
            Cut::Unreadable => (
                StatusCode::BAD_REQUEST,
                "The request body could not be read.\n",
            ),
            Cut::Evicted => (
                StatusCode::SERVICE_UNAVAILABLE,
                "medic is at its connection limit; try again.\n",
            ),
        };
        let mut response = Response::new(Body::from(text));
        *response.status_mut() = status;
        let headers = response.headers_mut();
        headers.insert(CONNECTION, HeaderValue::from_static("close"));
        headers.insert(
            CONTENT_TYPE,
            HeaderValue::from_static("text/plain; charset=utf-8"),
        );
        response
    }
}

/// The whole body, or why not. A body announced larger than the cap is
/// refused before a byte of it is read (hyper sends no `100 Continue`
/// either); one without a length is capped as it arrives.
pub(super) async fn read_body(body: Incoming, limits: BodyLimits) -> Result<Bytes, Cut> {
    if body.is_end_stream() {
        return Ok(Bytes::new());
    }
    let max = u64::try_from(limits.max).unwrap_or(u64::MAX);
    if body.size_hint().lower() > max {
        return Err(Cut::TooLarge);
    }
    let collect = Limited::new(body, limits.max).collect();
    match tokio::time::timeout(limits.deadline, collect).await {
        Err(_elapsed) => Err(Cut::TimedOut),
        Ok(Ok(collected)) => Ok(collected.to_bytes()),
        Ok(Err(error)) if error.downcast_ref::<LengthLimitError>().is_some() => Err(Cut::TooLarge),
        Ok(Err(_)) => Err(Cut::Unreadable),
    }
}

//! The HTTP/1.1 server loop: hyper's own connection driver under medic's
//! axum router ([`super::router`]), with the limits a public endpoint needs.
//!
//! `axum::serve` has no header-read timeout (a client that opens
//! connections and never finishes its headers would hold them forever) and
//! sniffs every connection for HTTP/2, which no platform webhook uses. This
//! loop serves HTTP/1.1 only, closes connections that start no request for
//! a while, and on shutdown stops accepting, lets requests in progress
//! finish, then closes idle keep-alive connections.

use std::error::Error as StdError;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use hyper::body::{Body, Incoming};
use hyper::server::conn::http1;
use hyper::service::Service;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use hyper_util::server::graceful::GracefulShutdown;
use tokio::net::TcpListener;
use tokio::time::{Instant, MissedTickBehavior};

use axum::Router;
use hyper_util::service::TowerToHyperService;

/// How long a connection may go without starting a request. A client that
/// never finishes its headers (slowloris), or a keep-alive connection left
/// idle, is closed between one and two of these after its last request
/// began; a request in progress keeps its connection open however long it
/// takes.
const IDLE_TIMEOUT: Duration = Duration::from_secs(10);

/// How long requests in progress get to finish once shutdown starts.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(10);

/// Serves `router` on `listener` until `shutdown` completes.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    shutdown: impl Future<Output = ()> + Send + 'static,
) {
    serve_with(
        listener,
        TowerToHyperService::new(router),
        shutdown,
        IDLE_TIMEOUT,
    )
    .await;
}

/// [`serve`] for any service, with the idle timeout given (tests shorten
/// it).
async fn serve_with<S, B>(
    listener: TcpListener,
    service: S,
    shutdown: impl Future<Output = ()> + Send + 'static,
    idle: Duration,
) where
    S: Service<Request<Incoming>, Response = Response<B>> + Clone + Send + 'static,
    S::Future: Send + 'static,
    S::Error: Into<Box<dyn StdError + Send + Sync>>,
    B: Body + Send + 'static,
    B::Data: Send,
    B::Error: Into<Box<dyn StdError + Send + Sync>>,
{
    let mut builder = http1::Builder::new();
    builder.keep_alive(true);
    let graceful = GracefulShutdown::new();
    tokio::pin!(shutdown);
    loop {
        let stream = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _peer)) => stream,
                Err(error) => {
                    // Out of file descriptors and the like: say so and
                    // retry shortly rather than spin or die.
                    tracing::warn!(%error, "Could not accept a connection.");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        // Answers are one small write; do not let Nagle hold them back.
        let _ = stream.set_nodelay(true);
        let activity = Arc::new(Activity::default());
        let watched = Watched {
            inner: service.clone(),
            activity: Arc::clone(&activity),
        };
        let connection = graceful.watch(builder.serve_connection(TokioIo::new(stream), watched));
        tokio::spawn(async move {
            tokio::select! {
                // A client that goes away mid-request is its own business.
                _ = connection => {}
                () = activity.lapsed(idle) => {
                    // Dropping the connection closes its socket.
                    tracing::debug!("Closed a connection that started no request in {idle:?}.");
                }
            }
        });
    }
    drop(listener);
    if tokio::time::timeout(DRAIN_TIMEOUT, graceful.shutdown())
        .await
        .is_err()
    {
        tracing::warn!("Some HTTP requests were still in progress after the drain timeout.");
    }
}

/// What one connection's requests have done, for its watchdog.
///
/// hyper's own `header_read_timeout` arms a boxed timer for every request
/// (a clock read, a timer-wheel insert and removal, and an extra read
/// poll after each answer); this costs two atomic additions a request and
/// one timer tick a connection every `idle`.
#[derive(Default)]
struct Activity {
    started: AtomicU64,
    finished: AtomicU64,
}

impl Activity {
    /// Completes once a whole `idle` period passed in which the
    /// connection started no request and had none in progress.
    async fn lapsed(&self, idle: Duration) {
        let mut ticks = tokio::time::interval_at(Instant::now() + idle, idle);
        ticks.set_missed_tick_behavior(MissedTickBehavior::Delay);
        let mut seen = 0;
        loop {
            ticks.tick().await;
            let started = self.started.load(Ordering::Acquire);
            let finished = self.finished.load(Ordering::Acquire);
            if started == seen && finished == started {
                return;
            }
            seen = started;
        }
    }
}

/// A connection's service, counting the requests it starts and finishes.
#[derive(Clone)]
struct Watched<S> {
    inner: S,
    activity: Arc<Activity>,
}

impl<S: Service<Request<Incoming>>> Service<Request<Incoming>> for Watched<S> {
    type Response = S::Response;
    type Error = S::Error;
    type Future = Tracked<S::Future>;

    fn call(&self, req: Request<Incoming>) -> Self::Future {
        self.activity.started.fetch_add(1, Ordering::Release);
        Tracked {
            inner: self.inner.call(req),
            _finish: Finish(Arc::clone(&self.activity)),
        }
    }
}

pin_project_lite::pin_project! {
    /// A request's answer; counted finished when it completes or is
    /// dropped.
    struct Tracked<F> {
        #[pin]
        inner: F,
        _finish: Finish,
    }
}

impl<F: Future> Future for Tracked<F> {
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        self.project().inner.poll(cx)
    }
}

/// Counts its request finished when dropped.
struct Finish(Arc<Activity>);

impl Drop for Finish {
    fn drop(&mut self) {
        self.0.finished.fetch_add(1, Ordering::Release);
    }
}

#[cfg(test)]
mod tests {
    use std::convert::Infallible;
    use std::net::SocketAddr;

    use bytes::Bytes;
    use http_body_util::Full;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::TcpStream;
    use tokio::sync::oneshot;

    use super::*;

    const IDLE: Duration = Duration::from_millis(200);

    /// Longer than any close the watchdog owes: two idle periods and slack
    /// for a loaded machine. A bound on waiting, not a timing assertion.
    const PATIENCE: Duration = Duration::from_secs(5);

    /// A server on a free loopback port whose handler answers `ok`, after
    /// `delay` when the path is `/slow`.
    async fn start(delay: Duration) -> (SocketAddr, oneshot::Sender<()>) {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let service = hyper::service::service_fn(move |req: Request<Incoming>| async move {
            if req.uri().path() == "/slow" {
                tokio::time::sleep(delay).await;
            }
            Ok::<_, Infallible>(Response::new(Full::new(Bytes::from_static(b"ok"))))
        });
        let (stop, stopped) = oneshot::channel::<()>();
        tokio::spawn(serve_with(
            listener,
            service,
            async move {
                let _ = stopped.await;
            },
            IDLE,
        ));
        (addr, stop)
    }

    /// Sends `GET path` on `stream` and checks that it is answered 200.
    async fn get_ok(stream: &mut TcpStream, path: &str) {
        let request = format!("GET {path} HTTP/1.1\r\nHost: medic\r\n\r\n");
        stream.write_all(request.as_bytes()).await.unwrap();
        let response = read_response(stream).await;
        assert!(response.starts_with("HTTP/1.1 200 OK"), "{response}");
    }

    /// Reads one whole response (this server's bodies are `ok`).
    async fn read_response(stream: &mut TcpStream) -> String {
        let mut got = Vec::new();
        let mut buf = [0u8; 1024];
        while !got.ends_with(b"\r\n\r\nok") {
            let n = tokio::time::timeout(PATIENCE, stream.read(&mut buf))
                .await
                .expect("an answer in time")
                .unwrap();
            assert!(
                n > 0,
                "closed before answering: {:?}",
                String::from_utf8_lossy(&got)
            );
            got.extend_from_slice(&buf[..n]);
        }
        String::from_utf8(got).unwrap()
    }

    /// Waits for the server to close the connection; fails if it answers
    /// anything or keeps it open.
    async fn expect_closed(stream: &mut TcpStream) {
        let mut buf = [0u8; 1024];
        let read = tokio::time::timeout(PATIENCE, stream.read(&mut buf))
            .await
            .expect("the server closes the connection");
        match read {
            Ok(0) => {}
            // A reset is a close too.
            Err(error) if error.kind() == std::io::ErrorKind::ConnectionReset => {}
            other => panic!("expected the connection closed, got {other:?}"),
        }
    }

    #[tokio::test]
    async fn a_client_that_never_finishes_its_headers_is_cut_off() {
        let (addr, _stop) = start(Duration::ZERO).await;
        let mut stream = TcpStream::connect(addr).await.unwrap();
        stream
            .write_all(b"POST /slack/commands HTTP/1.1\r\nHost: me")
            .await
            .unwrap();
        expect_closed(&mut stream).await;
    }

    #[tokio::test]
    async fn a_silent_connection_is_cut_off() {
        let (addr, _stop) = start(Duration::ZERO).await;
        let mut stream = TcpStream::connect(addr).await.unwrap();
        expect_closed(&mut stream).await;
    }

    #[tokio::test]
    async fn a_keep_alive_connection_is_answered_then_closed_when_idle() {
        let (addr, _stop) = start(Duration::ZERO).await;
        let mut stream = TcpStream::connect(addr).await.unwrap();
        get_ok(&mut stream, "/").await;
        expect_closed(&mut stream).await;
    }

    #[tokio::test]
    async fn a_busy_keep_alive_connection_stays_open() {
        let (addr, _stop) = start(Duration::ZERO).await;
        let mut stream = TcpStream::connect(addr).await.unwrap();
        // Six idle periods' worth of requests, one every half period.
        for _ in 0..12 {
            get_ok(&mut stream, "/").await;
            tokio::time::sleep(IDLE / 2).await;
        }
    }

    #[tokio::test]
    async fn a_slow_answer_is_not_cut_off() {
        let (addr, _stop) = start(IDLE * 4).await;
        let mut stream = TcpStream::connect(addr).await.unwrap();
        get_ok(&mut stream, "/slow").await;
    }
}

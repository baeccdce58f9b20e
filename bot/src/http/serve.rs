//! The HTTP/1.1 server loop: hyper's own connection driver under medic's
//! axum router ([`super::router`]), with the limits a public endpoint needs.
//!
//! `axum::serve` has no header-read timeout (a client that opens
//! connections and never finishes its headers would hold them forever),
//! no body deadline and no cap on connections, and sniffs every connection
//! for HTTP/2, which no platform webhook uses. This loop serves HTTP/1.1
//! only and bounds what any client can hold:
//!
//! - a connection that starts no request for a while is closed
//!   ([`IDLE_TIMEOUT`]);
//! - a request's body must arrive within `[server] request_timeout` of its
//!   headers and be at most [`super::MAX_BODY`] ([`read`]);
//! - at most `[server] max_connections` are open at once; past that one
//!   that waits on its client is closed for the newcomer ([`slots`]).
//!
//! On shutdown it stops accepting, lets requests in progress finish, then
//! closes idle keep-alive connections.

mod read;
mod slots;

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::Service;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use tokio::net::{TcpListener, TcpSocket};
use tokio::time::{Instant, MissedTickBehavior};

use self::read::{BodyLimits, Cut};
use self::slots::{Admission, SlotRef, Slots};
use crate::telemetry::metrics::{Metrics, Shed};

/// How long a connection may go without starting a request. A client that
/// never finishes its headers (slowloris), or a keep-alive connection left
/// idle, is closed between one and two of these after its last request
/// began; a request being answered keeps its connection open however long
/// it takes.
const IDLE_TIMEOUT: Duration = Duration::from_secs(10);

/// How long requests in progress get to finish once shutdown starts.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(10);

/// How often, at most, hitting the connection cap is logged: under a flood
/// it happens on every accept.
const CAP_LOG_EVERY: Duration = Duration::from_secs(60);

/// How many new connections the kernel holds for medic to accept. A
/// burst larger than this has its handshakes dropped, and their clients
/// (Slack among them) retry only a second later; the kernel caps it at
/// `net.core.somaxconn`.
const BACKLOG: u32 = 4096;

/// Listens on `addr` with room for a burst of new connections
/// ([`BACKLOG`]; `TcpListener::bind` leaves 1,024).
pub fn listen(addr: SocketAddr) -> std::io::Result<TcpListener> {
    let socket = if addr.is_ipv4() {
        TcpSocket::new_v4()?
    } else {
        TcpSocket::new_v6()?
    };
    // As `TcpListener::bind` does: a restart can listen again at once.
    socket.set_reuseaddr(true)?;
    socket.bind(addr)?;
    socket.listen(BACKLOG)
}

/// What clients may hold of the server: `[server] max_connections` and
/// `request_timeout`.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Connections open at once.
    pub max_connections: usize,
    /// How long a request's body may take to arrive after its headers.
    pub request_timeout: Duration,
}

/// Everything [`serve_with`] bounds; tests shorten the times.
#[derive(Debug, Clone, Copy)]
struct Config {
    max_connections: usize,
    idle: Duration,
    body: BodyLimits,
}

/// Serves `router` on `listener` until `shutdown` completes.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    limits: Limits,
    metrics: Arc<Metrics>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) {
    let config = Config {
        max_connections: limits.max_connections,
        idle: IDLE_TIMEOUT,
        body: BodyLimits {
            deadline: limits.request_timeout,
            max: super::MAX_BODY,
        },
    };
    serve_with(
        listener,
        TowerToHyperService::new(router),
        config,
        metrics,
        shutdown,
    )
    .await;
}

/// [`serve`] for any service taking whole bodies.
async fn serve_with<S>(
    listener: TcpListener,
    service: S,
    config: Config,
    metrics: Arc<Metrics>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) where
    S: Service<Request<Body>, Response = Response<Body>, Error = Infallible>
        + Clone
        + Send
        + 'static,
    S::Future: Send + 'static,
{
    let mut builder = http1::Builder::new();
    builder.keep_alive(true);
    let graceful = GracefulShutdown::new();
    let slots = Slots::new(config.max_connections);
    let mut cap_logged: Option<Instant> = None;
    tokio::pin!(shutdown);
    loop {
        let stream = tokio::select! {
            accepted = async {
                slots.room().await;
                listener.accept().await
            } => match accepted {
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
        let slot = match slots.admit() {
            Admission::Admitted { slot, evicted } => {
                if evicted {
                    metrics.http_connection_shed(Shed::Evicted);
                    log_at_cap(&mut cap_logged, config.max_connections);
                }
                slot
            }
            Admission::Full => {
                // Dropping the stream closes it.
                metrics.http_connection_shed(Shed::Refused);
                log_at_cap(&mut cap_logged, config.max_connections);
                continue;
            }
        };
        // Answers are one small write; do not let Nagle hold them back.
        let _ = stream.set_nodelay(true);
        let activity = Arc::new(Activity::default());
        let watched = Watched {
            inner: service.clone(),
            activity: Arc::clone(&activity),
            slot: slot.handle(),
            body: config.body,
            metrics: Arc::clone(&metrics),
        };
        let connection = graceful.watch(builder.serve_connection(TokioIo::new(stream), watched));
        let idle = config.idle;
        tokio::spawn(async move {
            tokio::select! {
                // A client that goes away mid-request is its own business.
                _ = connection => {}
                () = activity.lapsed(idle) => {
                    // Dropping the connection closes its socket.
                    tracing::debug!("Closed a connection that started no request in {idle:?}.");
                }
                () = slot.evicted() => {
                    tracing::debug!("Closed a connection waiting on its client to make room for a new one.");
                }
            }
            drop(slot);
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

/// Says that medic is at its connection cap, at most once every
/// [`CAP_LOG_EVERY`]: the on-call engineer learns of a flood, the log does
/// not drown in it.
fn log_at_cap(last: &mut Option<Instant>, max: usize) {
    let now = Instant::now();
    if last.is_some_and(|at| now.duration_since(at) < CAP_LOG_EVERY) {
        return;
    }
    *last = Some(now);
    tracing::warn!(
        max_connections = max,
        "At the connection limit: closing the connections that wait longest on their clients \
         (see medic_http_connections_shed_total)."
    );
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

/// A connection's service: reads each request's body within its limits,
/// then hands the whole request on, counting the requests it starts and
/// finishes and marking the connection running while medic answers.
#[derive(Clone)]
struct Watched<S> {
    inner: S,
    activity: Arc<Activity>,
    slot: SlotRef,
    body: BodyLimits,
    metrics: Arc<Metrics>,
}

impl<S> Service<Request<Incoming>> for Watched<S>
where
    S: Service<Request<Body>, Response = Response<Body>, Error = Infallible>
        + Clone
        + Send
        + 'static,
    S::Future: Send + 'static,
{
    type Response = Response<Body>;
    type Error = Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<Response<Body>, Infallible>> + Send>>;

    fn call(&self, req: Request<Incoming>) -> Self::Future {
        self.activity.started.fetch_add(1, Ordering::Release);
        self.slot.spoke();
        let finish = Finish(Arc::clone(&self.activity));
        let inner = self.inner.clone();
        let slot = self.slot.clone();
        let limits = self.body;
        let metrics = Arc::clone(&self.metrics);
        Box::pin(async move {
            let _finish = finish;
            let (parts, body) = req.into_parts();
            let read = read::read_body(body, limits).await;
            // Not running once evicted: the connection is being closed.
            let running = slot.run();
            let cut = match (read, &running) {
                (Ok(bytes), Some(_)) => {
                    return inner
                        .call(Request::from_parts(parts, Body::from(bytes)))
                        .await;
                }
                (Err(cut), _) => cut,
                (Ok(_), None) => Cut::Evicted,
            };
            let response = cut.response();
            metrics.http_request(
                super::route_label(parts.uri.path()),
                response.status().as_u16(),
            );
            Ok(response)
        })
    }
}

/// Counts its request finished when dropped: answered, cut, or abandoned
/// with its connection.
struct Finish(Arc<Activity>);

impl Drop for Finish {
    fn drop(&mut self) {
        self.0.finished.fetch_add(1, Ordering::Release);
    }
}
#[cfg(test)]
mod tests;

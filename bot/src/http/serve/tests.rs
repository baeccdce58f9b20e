//! The server loop over real loopback sockets, with its times shortened.

use std::sync::Mutex;

use bytes::Bytes;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::oneshot;

use super::*;

const IDLE: Duration = Duration::from_millis(200);

/// Longer than any close the server owes: two idle periods, a body
/// deadline, and slack for a loaded machine. A bound on waiting, not a
/// timing assertion.
const PATIENCE: Duration = Duration::from_secs(5);

/// The limits most tests run with: short times, a small body cap, and
/// connections enough.
fn config() -> Config {
    Config {
        max_connections: 64,
        idle: IDLE,
        body: BodyLimits {
            deadline: Duration::from_millis(300),
            max: 1024,
        },
    }
}

/// A server on a free loopback port whose handler answers `ok`, after
/// `delay` when the path is `/slow`, and keeps the bodies it was given.
struct Server {
    addr: SocketAddr,
    metrics: Arc<Metrics>,
    bodies: Arc<Mutex<Vec<Bytes>>>,
    _stop: oneshot::Sender<()>,
}

async fn start(delay: Duration) -> Server {
    start_with(delay, config()).await
}

async fn start_with(delay: Duration, config: Config) -> Server {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let bodies = Arc::new(Mutex::new(Vec::new()));
    let kept = Arc::clone(&bodies);
    let service = hyper::service::service_fn(move |req: Request<Body>| {
        let kept = Arc::clone(&kept);
        async move {
            let slow = req.uri().path() == "/slow";
            let body = axum::body::to_bytes(req.into_body(), usize::MAX)
                .await
                .expect("a whole body");
            kept.lock().unwrap().push(body);
            if slow {
                tokio::time::sleep(delay).await;
            }
            Ok::<_, Infallible>(Response::new(Body::from("ok")))
        }
    });
    let metrics = Arc::new(Metrics::new());
    let (stop, stopped) = oneshot::channel::<()>();
    tokio::spawn(serve_with(
        listener,
        service,
        config,
        Arc::clone(&metrics),
        async move {
            let _ = stopped.await;
        },
    ));
    Server {
        addr,
        metrics,
        bodies,
        _stop: stop,
    }
}

impl Server {
    async fn connect(&self) -> TcpStream {
        TcpStream::connect(self.addr).await.unwrap()
    }

    /// How many requests reached the handler.
    fn handled(&self) -> usize {
        self.bodies.lock().unwrap().len()
    }
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

/// Reads everything until the server closes the connection (a reset is a
/// close too).
async fn read_to_close(stream: &mut TcpStream) -> String {
    let mut got = Vec::new();
    let read = tokio::time::timeout(PATIENCE, stream.read_to_end(&mut got))
        .await
        .expect("the server closes the connection");
    match read {
        Ok(_) => {}
        Err(error) if error.kind() == std::io::ErrorKind::ConnectionReset => {}
        Err(error) => panic!("reading the answer: {error}"),
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
    let server = start(Duration::ZERO).await;
    let mut stream = server.connect().await;
    stream
        .write_all(b"POST /slack/commands HTTP/1.1\r\nHost: me")
        .await
        .unwrap();
    expect_closed(&mut stream).await;
}

#[tokio::test]
async fn a_silent_connection_is_cut_off() {
    let server = start(Duration::ZERO).await;
    let mut stream = server.connect().await;
    expect_closed(&mut stream).await;
}

#[tokio::test]
async fn a_keep_alive_connection_is_answered_then_closed_when_idle() {
    let server = start(Duration::ZERO).await;
    let mut stream = server.connect().await;
    get_ok(&mut stream, "/").await;
    expect_closed(&mut stream).await;
}

#[tokio::test]
async fn a_busy_keep_alive_connection_stays_open() {
    let server = start(Duration::ZERO).await;
    let mut stream = server.connect().await;
    // Six idle periods' worth of requests, one every half period.
    for _ in 0..12 {
        get_ok(&mut stream, "/").await;
        tokio::time::sleep(IDLE / 2).await;
    }
}

#[tokio::test]
async fn a_slow_answer_is_not_cut_off() {
    let server = start(IDLE * 4).await;
    let mut stream = server.connect().await;
    get_ok(&mut stream, "/slow").await;
}

#[tokio::test]
async fn a_body_is_handed_on_whole() {
    let server = start(Duration::ZERO).await;
    let mut stream = server.connect().await;
    stream
        .write_all(
            b"POST /slack/commands HTTP/1.1\r\nHost: medic\r\nContent-Length: 11\r\n\r\nhello",
        )
        .await
        .unwrap();
    stream.write_all(b" world").await.unwrap();
    let response = read_response(&mut stream).await;
    assert!(response.starts_with("HTTP/1.1 200 OK"), "{response}");
    assert_eq!(*server.bodies.lock().unwrap(), [Bytes::from("hello world")]);
}

#[tokio::test]
async fn a_trickled_body_is_answered_408_at_its_deadline_and_closed() {
    let server = start(Duration::ZERO).await;
    let mut stream = server.connect().await;
    stream
        .write_all(b"POST /slack/commands HTTP/1.1\r\nHost: medic\r\nContent-Length: 1000\r\n\r\n")
        .await
        .unwrap();
    // A byte every 20 ms: always something new, never the whole body.
    let mut got = Vec::new();
    let mut buf = [0u8; 1024];
    let mut trickle = tokio::time::interval(Duration::from_millis(20));
    let gave_up = tokio::time::Instant::now() + PATIENCE;
    loop {
        tokio::select! {
            read = stream.read(&mut buf) => match read {
                Ok(0) | Err(_) => break,
                Ok(n) => got.extend_from_slice(&buf[..n]),
            },
            _ = trickle.tick() => {
                // The server may have closed its side already.
                let _ = stream.write_all(b"a").await;
            }
            () = tokio::time::sleep_until(gave_up) => panic!("still open after {PATIENCE:?}"),
        }
    }
    let response = String::from_utf8(got).unwrap();
    assert!(
        response.starts_with("HTTP/1.1 408 Request Timeout"),
        "{response}"
    );
    assert!(response.contains("connection: close"), "{response}");
    assert_eq!(server.handled(), 0, "the handler never saw the request");
    let metrics = server.metrics.encode();
    assert!(
        metrics.contains("medic_http_requests_total{route=\"/slack/commands\",status=\"408\"} 1"),
        "{metrics}"
    );
}

#[tokio::test]
async fn a_content_length_over_the_cap_is_answered_413_before_the_body_is_sent() {
    // A deadline far beyond the wait: the answer cannot be a timeout.
    let server = start_with(
        Duration::ZERO,
        Config {
            body: BodyLimits {
                deadline: Duration::from_secs(3600),
                max: 1024,
            },
            ..config()
        },
    )
    .await;
    let mut stream = server.connect().await;
    stream
        .write_all(b"POST /webhooks/sentry HTTP/1.1\r\nHost: medic\r\nContent-Length: 1025\r\n\r\n")
        .await
        .unwrap();
    let response = read_to_close(&mut stream).await;
    assert!(
        response.starts_with("HTTP/1.1 413 Payload Too Large"),
        "{response}"
    );
    assert_eq!(server.handled(), 0);
}

#[tokio::test]
async fn a_chunked_body_is_capped_as_it_arrives() {
    let server = start(Duration::ZERO).await;
    let mut stream = server.connect().await;
    stream
        .write_all(
            b"POST /slack/events HTTP/1.1\r\nHost: medic\r\nTransfer-Encoding: chunked\r\n\r\n",
        )
        .await
        .unwrap();
    let chunk = format!("200\r\n{}\r\n", "a".repeat(0x200));
    // Three chunks of 512 bytes: over the 1 KiB cap at the third.
    for _ in 0..3 {
        stream.write_all(chunk.as_bytes()).await.unwrap();
    }
    let response = read_to_close(&mut stream).await;
    assert!(
        response.starts_with("HTTP/1.1 413 Payload Too Large"),
        "{response}"
    );
    assert_eq!(server.handled(), 0);
}

#[tokio::test]
async fn at_the_cap_the_connection_waiting_longest_is_closed_for_a_new_one() {
    // Idle connections are not closed on their own during this test.
    let server = start_with(
        Duration::ZERO,
        Config {
            max_connections: 2,
            idle: Duration::from_secs(3600),
            ..config()
        },
    )
    .await;
    let mut first = server.connect().await;
    get_ok(&mut first, "/").await;
    let mut second = server.connect().await;
    get_ok(&mut second, "/").await;
    // Answered last, the first connection no longer waits longest.
    get_ok(&mut first, "/").await;

    let mut third = server.connect().await;
    get_ok(&mut third, "/").await;
    expect_closed(&mut second).await;
    get_ok(&mut first, "/").await;
    let metrics = server.metrics.encode();
    assert!(
        metrics.contains("medic_http_connections_shed_total{reason=\"evicted\"} 1"),
        "{metrics}"
    );
}

#[tokio::test]
async fn a_stalled_body_gives_way_to_a_new_connection() {
    let server = start_with(
        Duration::ZERO,
        Config {
            max_connections: 1,
            body: BodyLimits {
                deadline: Duration::from_secs(3600),
                max: 1024,
            },
            ..config()
        },
    )
    .await;
    let mut stalled = server.connect().await;
    stalled
        .write_all(b"POST /slack/commands HTTP/1.1\r\nHost: medic\r\nContent-Length: 10\r\n\r\nab")
        .await
        .unwrap();
    let mut fresh = server.connect().await;
    get_ok(&mut fresh, "/").await;
    let response = read_to_close(&mut stalled).await;
    // Evicted mid-body: closed with at most a 503, never handled.
    assert!(
        response.is_empty() || response.starts_with("HTTP/1.1 503"),
        "{response}"
    );
    assert_eq!(server.handled(), 1);
}

#[tokio::test]
async fn at_the_cap_with_every_request_running_a_new_connection_is_closed() {
    let server = start_with(
        Duration::from_millis(500),
        Config {
            max_connections: 1,
            ..config()
        },
    )
    .await;
    let mut running = server.connect().await;
    running
        .write_all(b"GET /slow HTTP/1.1\r\nHost: medic\r\n\r\n")
        .await
        .unwrap();
    // Admitted and running once the handler has its (empty) body.
    let admitted = tokio::time::Instant::now() + PATIENCE;
    while server.handled() == 0 {
        assert!(tokio::time::Instant::now() < admitted, "never handled");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let mut refused = server.connect().await;
    expect_closed(&mut refused).await;
    let response = read_response(&mut running).await;
    assert!(response.starts_with("HTTP/1.1 200 OK"), "{response}");
    let metrics = server.metrics.encode();
    assert!(
        metrics.contains("medic_http_connections_shed_total{reason=\"refused\"} 1"),
        "{metrics}"
    );
}

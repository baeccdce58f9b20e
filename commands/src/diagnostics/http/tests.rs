//! The http diagnostic against a real HTTP server on loopback (axum): status
//! codes, a slow answer, body checks, redirects, and secrets that must not
//! come back in the report.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::get;

use super::*;
use crate::diagnostics::{Target, TargetSpec};
use crate::model::report::Report;

/// What the server saw: one line per request,
/// `METHOD path authorization x-api-key`.
type Seen = Arc<Mutex<Vec<String>>>;

async fn record(State(seen): State<Seen>, req: Request) -> impl IntoResponse {
    let auth = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("-")
        .to_string();
    let key = req
        .headers()
        .get("x-api-key")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("-")
        .to_string();
    let line = format!("{} {} {auth} {key}", req.method(), req.uri());
    seen.lock().unwrap().push(line.clone());
    // Echo everything back with an error, as a misbehaving app might.
    (
        StatusCode::INTERNAL_SERVER_ERROR,
        format!("internal error handling {line}"),
    )
}

/// Starts the test server; returns its address and what it saw.
async fn server() -> (SocketAddr, Seen) {
    let seen: Seen = Arc::default();
    let app = Router::new()
        .route("/ok", get(|| async { "{\"status\":\"ok\"}" }))
        .route(
            "/down",
            get(|| async { (StatusCode::SERVICE_UNAVAILABLE, "upstream down") }),
        )
        .route(
            "/missing",
            get(|| async { (StatusCode::NOT_FOUND, "no such route") }),
        )
        .route(
            "/degraded",
            get(|| async {
                "{\"status\":\"degraded\",\n  \"db\":\"timeout connecting with password=hunter22\"}"
            }),
        )
        .route(
            "/slow",
            get(|| async {
                tokio::time::sleep(Duration::from_secs(30)).await;
                "too late"
            }),
        )
        .route(
            "/old",
            get(|| async {
                let mut h = HeaderMap::new();
                h.insert(header::LOCATION, "/ok".parse().unwrap());
                (StatusCode::FOUND, h)
            }),
        )
        .route(
            "/to-login",
            get(|| async {
                let mut h = HeaderMap::new();
                h.insert(
                    header::LOCATION,
                    "http://sso:sso-pa55word@login.test/auth?session=abcdef123456&next=%2F"
                        .parse()
                        .unwrap(),
                );
                (StatusCode::MOVED_PERMANENTLY, h)
            }),
        )
        .route("/echo", get(record))
        .with_state(seen.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    (addr, seen)
}

fn target(addr: SocketAddr, path: &str) -> HttpTarget {
    HttpTarget {
        timeout: Duration::from_secs(3),
        ..HttpTarget::for_url(SecretUrl::parse(&format!("http://{addr}{path}")).unwrap())
    }
}

fn only<'a>(fs: &'a [Finding], check: &str) -> &'a Finding {
    let found: Vec<&Finding> = fs.iter().filter(|f| f.check == check).collect();
    assert_eq!(found.len(), 1, "one {check} in {fs:#?}");
    found[0]
}

/// Runs the target as medic does: through its checks and its redactor.
async fn run(t: HttpTarget) -> Report {
    let target = Target {
        name: "api".into(),
        spec: TargetSpec::Http(t),
    };
    // Generous: catches a hang, times nothing.
    tokio::time::timeout(Duration::from_secs(20), target.run())
        .await
        .expect("the http diagnostic finishes")
}

#[tokio::test]
async fn statuses_are_judged_like_an_engineer_would() {
    let (addr, _) = server().await;

    let fs = target(addr, "/ok").probe().await;
    let f = only(&fs, "http.response");
    assert_eq!(f.status, Status::Ok);
    assert!(f.summary.starts_with("HTTP 200 OK in "), "{}", f.summary);

    let fs = target(addr, "/down").probe().await;
    let f = only(&fs, "http.response");
    assert_eq!(f.status, Status::Critical);
    assert!(
        f.summary.starts_with("HTTP 503 Service Unavailable in "),
        "{}",
        f.summary
    );

    let fs = target(addr, "/missing").probe().await;
    assert_eq!(
        only(&fs, "http.response").status,
        Status::Warn,
        "a 4xx answers, but not to us"
    );

    // An explicit expectation overrides the defaults both ways.
    let t = HttpTarget {
        expect_status: Some(200),
        ..target(addr, "/missing")
    };
    let fs = t.probe().await;
    let f = only(&fs, "http.response");
    assert_eq!(f.status, Status::Critical);
    assert!(f.summary.ends_with(", expected 200"), "{}", f.summary);
    let t = HttpTarget {
        expect_status: Some(404),
        ..target(addr, "/missing")
    };
    assert_eq!(only(&t.probe().await, "http.response").status, Status::Ok);
}

#[tokio::test]
async fn a_slow_answer_is_a_timeout_finding_not_a_hang() {
    let (addr, _) = server().await;
    let t = HttpTarget {
        timeout: Duration::from_millis(500),
        ..target(addr, "/slow")
    };
    let report = run(t).await;
    let f = only(&report.findings, "http.response");
    assert_eq!(f.status, Status::Critical);
    assert_eq!(
        f.summary,
        format!("GET http://{addr}/slow: no response within 450 ms")
    );
}

#[tokio::test]
async fn the_body_is_checked_and_a_mismatch_quoted_short_and_redacted() {
    let (addr, _) = server().await;
    let t = HttpTarget {
        expect_body: Some("\"status\":\"ok\"".into()),
        ..target(addr, "/ok")
    };
    let fs = t.probe().await;
    assert_eq!(only(&fs, "http.body").status, Status::Ok);

    let t = HttpTarget {
        expect_body: Some("\"status\":\"ok\"".into()),
        ..target(addr, "/degraded")
    };
    let report = run(t).await;
    let f = only(&report.findings, "http.body");
    assert_eq!(f.status, Status::Critical);
    assert!(
        f.summary.contains("does not contain `\"status\":\"ok\"`"),
        "{}",
        f.summary
    );
    let quoted = f.evidence.as_deref().unwrap();
    assert!(
        quoted.starts_with("{\"status\":\"degraded\", \"db\""),
        "one line: {quoted}"
    );
    assert!(!quoted.contains("hunter22"), "redacted: {quoted}");
    assert_eq!(report.status(), Status::Critical);
}

#[test]
fn snippets_are_short_and_on_one_line() {
    let long = "line one\n\tline two ".repeat(50);
    let s = snippet(&long);
    assert!(!s.contains('\n') && !s.contains('\t'));
    assert_eq!(s.chars().count(), SNIPPET_CHARS + 1, "{s}");
    assert!(s.ends_with('…'));
    assert_eq!(snippet("  short  "), "short");
}

#[tokio::test]
async fn redirects_are_reported_unless_asked_to_follow() {
    let (addr, _) = server().await;

    let fs = target(addr, "/old").probe().await;
    let f = only(&fs, "http.response");
    assert_eq!(f.status, Status::Ok, "a 3xx answers");
    assert!(f.summary.starts_with("HTTP 302 Found in "), "{}", f.summary);
    assert!(
        f.detail.contains(&format!(
            "Location: http://{addr}/ok (not followed: follow_redirects is off)"
        )),
        "{f:#?}"
    );

    let t = HttpTarget {
        follow_redirects: true,
        expect_body: Some("\"status\":\"ok\"".into()),
        ..target(addr, "/old")
    };
    let fs = t.probe().await;
    let f = only(&fs, "http.response");
    assert!(f.summary.starts_with("HTTP 200 OK in "), "{}", f.summary);
    assert!(
        f.detail
            .contains(&format!("After redirects: http://{addr}/ok")),
        "{f:#?}"
    );
    assert_eq!(only(&fs, "http.body").status, Status::Ok);

    // A Location carrying credentials and a session is shown masked.
    let t = HttpTarget {
        expect_status: Some(200),
        ..target(addr, "/to-login")
    };
    let report = run(t).await;
    let f = only(&report.findings, "http.response");
    assert_eq!(f.status, Status::Critical);
    let text = format!("{report:?}");
    assert!(!text.contains("sso-pa55word"), "{text}");
    assert!(!text.contains("abcdef123456"), "{text}");
    assert!(
        f.detail
            .iter()
            .any(|d| d.starts_with("Location: http://sso:••••@login.test/auth?session=")),
        "{f:#?}"
    );
}

#[tokio::test]
async fn credentials_reach_the_server_but_never_the_report() {
    let (addr, seen) = server().await;
    let mut headers = BTreeMap::new();
    headers.insert(
        "X-Api-Key".to_string(),
        SecretString::from("hdr-t0ken-value"),
    );
    let t = HttpTarget {
        headers,
        expect_body: Some("healthy".into()),
        ..HttpTarget::for_url(
            SecretUrl::parse(&format!(
                "http://medic:url-pa55word@{addr}/echo?token=qry-s3cret&x=1"
            ))
            .unwrap(),
        )
    };
    let report = run(t).await;
    // The server saw the real values (the feature works): the URL's
    // credentials as basic auth, as curl sends them…
    let seen = seen.lock().unwrap().clone();
    assert_eq!(
        seen,
        ["GET /echo?token=qry-s3cret&x=1 Basic bWVkaWM6dXJsLXBhNTV3b3Jk hdr-t0ken-value"]
    );
    // …and echoed them into its error page, which the report quotes masked.
    let text = format!("{report:?}{}", serde_json::to_string(&report).unwrap());
    for secret in [
        "url-pa55word",
        "qry-s3cret",
        "hdr-t0ken-value",
        "bWVkaWM6dXJsLXBhNTV3b3Jk",
    ] {
        assert!(!text.contains(secret), "{secret} leaked: {text}");
    }
    assert_eq!(report.target.location, format!("http://{addr}/echo"));
    let body = only(&report.findings, "http.body");
    assert!(
        body.evidence.as_deref().unwrap().contains("••••"),
        "{body:#?}"
    );
    assert_eq!(
        only(&report.findings, "http.response").status,
        Status::Critical
    );
}

#[tokio::test]
async fn head_requests_ask_for_no_body() {
    let (addr, seen) = server().await;
    let t = HttpTarget {
        method: HttpMethod::HEAD,
        ..target(addr, "/echo")
    };
    let fs = t.probe().await;
    assert_eq!(only(&fs, "http.response").status, Status::Critical);
    assert!(seen.lock().unwrap()[0].starts_with("HEAD /echo "));
}

#[test]
fn config_mistakes_name_their_key() {
    let t = |url: &str| HttpTarget::for_url(SecretUrl::parse(url).unwrap());
    assert!(t("https://api.example.com/health").validate().is_ok());
    assert_eq!(
        t("ftp://files.example.com/").validate().unwrap_err().0,
        "url"
    );
    let head_body = HttpTarget {
        method: HttpMethod::HEAD,
        expect_body: Some("ok".into()),
        ..t("http://x.test/")
    };
    assert_eq!(head_body.validate().unwrap_err().0, "expect_body");
    let bad_status = HttpTarget {
        expect_status: Some(42),
        ..t("http://x.test/")
    };
    assert_eq!(bad_status.validate().unwrap_err().0, "expect_status");
    let mut headers = BTreeMap::new();
    headers.insert(
        "X-Token".to_string(),
        SecretString::from("line\nbreak-secret"),
    );
    let bad_header = HttpTarget {
        headers,
        ..t("http://x.test/")
    };
    let (key, msg) = bad_header.validate().unwrap_err();
    assert_eq!(key, "headers");
    assert!(!msg.contains("break-secret"), "{msg}");
}

#[test]
fn config_parses_with_defaults_and_a_header_table() {
    let spec: TargetSpec = serde_json::from_value(serde_json::json!({
        "kind": "http",
        "url": "https://api.example.com/health",
        "method": "HEAD",
        "headers": { "Authorization": "Bearer x" },
    }))
    .unwrap();
    let TargetSpec::Http(t) = spec else {
        panic!("http")
    };
    assert_eq!(t.method, HttpMethod::HEAD);
    assert!(!t.follow_redirects);
    assert_eq!(t.timeout, Duration::from_secs(5));
    assert!(
        !format!("{t:?}").contains("Bearer x"),
        "headers are secret in Debug"
    );
}

#[tokio::test]
async fn https_trusts_a_private_ca_only_through_ca_file() {
    use crate::diagnostics::testcerts::{DAY, ca, serve_tls, signed};
    let ca = ca();
    let addr = serve_tls(
        signed(&ca, "127.0.0.1", -DAY, 30 * DAY),
        Some(b"HTTP/1.1 200 OK\r\nContent-Length: 15\r\nConnection: close\r\n\r\n{\"status\":\"ok\"}"),
    )
    .await;
    let url = SecretUrl::parse(&format!("https://{addr}/health")).unwrap();
    let t = HttpTarget {
        expect_body: Some("\"status\":\"ok\"".into()),
        timeout: Duration::from_secs(3),
        ..HttpTarget::for_url(url)
    };

    let fs = t.probe().await;
    let f = only(&fs, "http.response");
    assert_eq!(f.status, Status::Critical);
    assert_eq!(
        f.summary,
        format!("GET https://{addr}/health: TLS handshake failed")
    );
    assert!(
        f.evidence.as_deref().unwrap().contains("UnknownIssuer"),
        "{f:#?}"
    );

    let t = HttpTarget {
        ca_file: Some(ca.pem_file.path().to_path_buf()),
        ..t
    };
    let fs = t.probe().await;
    assert_eq!(only(&fs, "http.response").status, Status::Ok, "{fs:#?}");
    assert_eq!(only(&fs, "http.body").status, Status::Ok, "{fs:#?}");
}

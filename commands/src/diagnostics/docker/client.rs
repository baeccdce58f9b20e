//! Purpose: the Docker Engine API client for a target — its unix socket,
//! `tcp://`, or `tcp://` with TLS client certificates — and its failures in
//! the words of the runbook ("is dockerd running?", "medic may not use the
//! socket"), so a dead daemon is one plain finding, never an error value.
//!
//! TLS is rustls with ring, like the rest of the tree (bollard's `ssl`
//! feature; docs/crates.md § bollard).

use std::error::Error as StdError;
use std::io::ErrorKind as IoKind;
use std::time::Duration;

use base64::Engine as _;
use bollard::errors::Error as ApiError;
use bollard::{API_DEFAULT_VERSION, Docker};

use super::{DockerTarget, Endpoint};
use crate::format::human_duration;
use crate::model::report::Finding;

/// A client for `target`'s daemon, not yet connected (the first request
/// connects). `Err` is the finding that says why none could be made.
pub fn build(target: &DockerTarget) -> Result<Docker, Finding> {
    let endpoint = target
        .endpoint()
        .map_err(|(key, why)| Finding::critical("docker.reach", format!("`{key}`: {why}")))?;
    // bollard's own limit, in whole seconds, is a backstop: every call is
    // bounded by the check's budget first.
    let backstop = target.timeout.as_secs() + 2;
    let docker = match &endpoint {
        Endpoint::Unix(path) => {
            Docker::connect_with_unix(&path.to_string_lossy(), backstop, API_DEFAULT_VERSION)
        }
        Endpoint::Tcp(addr) => Docker::connect_with_http(addr, backstop, API_DEFAULT_VERSION),
        Endpoint::Tls {
            addr,
            ca,
            cert,
            key,
        } => Docker::connect_with_ssl(addr, key, cert, ca, backstop, API_DEFAULT_VERSION),
    };
    let docker = docker.map_err(|e| failure(&target.host.to_string(), &e, target.timeout))?;
    Ok(match basic_auth(target) {
        Some(value) => docker.with_request_modifier(move |mut req| {
            req.headers_mut()
                .insert(http::header::AUTHORIZATION, value.clone());
            req
        }),
        None => docker,
    })
}

/// The `Authorization: Basic …` value for a `tcp://user:password@` URL (a
/// Docker API behind an authenticating proxy), marked sensitive so that
/// hyper never logs it.
pub(super) fn basic_auth(target: &DockerTarget) -> Option<http::HeaderValue> {
    let url = target.host.url();
    if url.username().is_empty() && url.password().is_none() {
        return None;
    }
    let user = crate::redact::percent_decode(url.username());
    let password = crate::redact::percent_decode(url.password().unwrap_or(""));
    let token = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
    let mut value = http::HeaderValue::from_str(&format!("Basic {token}")).ok()?;
    value.set_sensitive(true);
    Some(value)
}

/// Runs one API call within `budget`; a call past it is
/// [`Failed::Timeout`].
pub async fn within<T>(
    budget: Duration,
    call: impl Future<Output = Result<T, ApiError>>,
) -> Result<T, Failed> {
    match tokio::time::timeout(budget, call).await {
        Ok(Ok(v)) => Ok(v),
        Ok(Err(e)) => Err(Failed::Api(e)),
        Err(_) => Err(Failed::Timeout(budget)),
    }
}

/// Why a call failed.
#[derive(Debug)]
pub enum Failed {
    /// The API answered with an error, or could not be reached.
    Api(ApiError),
    /// No answer within the budget.
    Timeout(Duration),
}

impl Failed {
    /// The HTTP status the API answered with, when it answered.
    pub fn status(&self) -> Option<u16> {
        match self {
            Failed::Api(ApiError::DockerResponseServerError { status_code, .. }) => {
                Some(*status_code)
            }
            Failed::Api(_) | Failed::Timeout(_) => None,
        }
    }

    /// The daemon's own words, or the transport's, for evidence.
    pub fn text(&self) -> String {
        match self {
            Failed::Api(ApiError::DockerResponseServerError { message, .. }) => message.clone(),
            Failed::Api(e) => chain(e),
            Failed::Timeout(d) => format!("no answer within {}", human_duration(*d)),
        }
    }
}

/// An error and its sources, one line: hyper's "client error (Connect)"
/// alone says nothing; its source says "Connection refused".
fn chain(e: &dyn StdError) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        let more = s.to_string();
        if !text.contains(&more) {
            text.push_str(": ");
            text.push_str(&more);
        }
        source = s.source();
    }
    text
}

/// The I/O error kind in `e` or its sources. bollard's `IOError` is
/// `#[error(transparent)]`: its own `source()` skips the I/O error itself.
fn io_kind(e: &ApiError) -> Option<IoKind> {
    if let ApiError::IOError { err } = e {
        return Some(err.kind());
    }
    let mut cur: Option<&(dyn StdError + 'static)> = Some(e);
    while let Some(err) = cur {
        if let Some(io) = err.downcast_ref::<std::io::Error>() {
            return Some(io.kind());
        }
        cur = err.source();
    }
    None
}

/// The reach finding for a call that failed before the daemon could
/// answer anything useful.
pub fn unreachable(location: &str, failed: &Failed) -> Finding {
    match failed {
        Failed::Api(e) => failure(location, e, Duration::ZERO),
        Failed::Timeout(d) => Finding::critical(
            "docker.reach",
            format!(
                "The Docker API at {location} did not answer within {}",
                human_duration(*d)
            ),
        )
        .with_detail("A daemon that accepts the connection and does not answer is hung or overloaded: dockerd's log (journalctl -u docker), `docker info` by hand."),
    }
}

/// A failure to reach or use the daemon, in plain words with what to do.
pub(super) fn failure(location: &str, e: &ApiError, budget: Duration) -> Finding {
    let text = chain(e);
    let (summary, hint) = match e {
        ApiError::SocketNotFoundError(path) => (
            format!("No Docker socket at {path}"),
            "Is dockerd running (systemctl status docker)? When medic runs in a container, mount the host's socket (-v /var/run/docker.sock:/var/run/docker.sock:ro) or point `host` at a socket proxy.".to_string(),
        ),
        ApiError::CertPathError { path } | ApiError::CertParseError { path } => (
            format!("Cannot use the TLS file {}", path.display()),
            "tls_ca, tls_cert and tls_key must be readable PEM files (the ones `docker --tlsverify` uses).".to_string(),
        ),
        ApiError::RequestTimeoutError => (
            format!(
                "The Docker API at {location} did not answer within {}",
                human_duration(budget)
            ),
            "A hung or overloaded daemon: dockerd's log (journalctl -u docker).".to_string(),
        ),
        ApiError::DockerResponseServerError { status_code, .. }
            if matches!(status_code, 401 | 403) =>
        (
            format!("The Docker API at {location} refused medic ({status_code})"),
            "A socket proxy or an authorization plugin denies what medic reads: allow GET on /version, /containers, /containers/*/json, /containers/*/logs, /containers/*/stats, /events and /images/*/json.".to_string(),
        ),
        _ => match io_kind(e) {
            Some(IoKind::PermissionDenied) => (
                format!("medic may not use the Docker socket at {location} (permission denied)"),
                "Add medic's user to the `docker` group — root-equivalent on that host — or give it a read-only socket proxy for diagnostics (README: Docker targets).".to_string(),
            ),
            Some(IoKind::NotFound) => (
                format!("No Docker socket at {location}"),
                "Is dockerd running (systemctl status docker)?".to_string(),
            ),
            Some(IoKind::ConnectionRefused) => (
                format!("Connection refused by the Docker API at {location}"),
                "Nothing listens there: is dockerd running, and listening on that address (dockerd -H)?".to_string(),
            ),
            Some(IoKind::TimedOut) => (
                format!("Connection to the Docker API at {location} timed out"),
                "A firewall, a down host or a broken private network looks like this.".to_string(),
            ),
            _ if text.contains("failed to lookup address") || text.contains("dns error") => (
                format!("Cannot resolve the host of {location}"),
                "The name does not resolve from medic's host; check DNS or use the IP.".to_string(),
            ),
            _ => (
                format!("Cannot use the Docker API at {location}"),
                "See the evidence for the daemon's or the transport's words.".to_string(),
            ),
        },
    };
    Finding::critical("docker.reach", summary)
        .with_detail(hint)
        .with_evidence(text)
}

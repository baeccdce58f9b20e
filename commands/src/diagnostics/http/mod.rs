//! Purpose: `curl -sv https://api.example.com/health` the way the runbook
//! reads it (`seeds/production-debugging-guide.md`: "is the app answering,
//! and with what?"): the status, how long it took, and — when asked — that
//! the body says what a healthy service says.
//!
//! Choices an on-call engineer would expect, written down:
//! - Without `expect_status`, any 2xx or 3xx is healthy, a 4xx a warning
//!   (the service answers, but not to us: auth, a moved route) and a 5xx
//!   critical. With it, any other status is critical.
//! - Redirects are not followed unless `follow_redirects = true`: a health
//!   URL that redirects (to a login page, to https) usually means the URL or
//!   the proxy in front changed, and the `Location` is the clue. It is
//!   reported with its credentials masked.
//! - The request goes straight to the target, never through an
//!   `HTTP(S)_PROXY` from medic's environment: the question is whether the
//!   service answers, not whether a proxy does.
//! - Header values and the URL's password (and secret-looking query values,
//!   `token=`, `key=` …) are secrets: masked wherever they might be echoed.
//!   A body is quoted only on a mismatch, short, on one line, redacted.

mod show;
#[cfg(test)]
mod tests;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use reqwest::redirect::Policy;
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;

use super::{Check, Diagnostic, SecretUrl};
use crate::format::{human_bytes, human_duration, human_latency};
use crate::model::report::{Finding, Status};
use crate::redact::Redactor;

pub use show::snippet;
use show::{error_chain, is_secret_key, masked, shown_location};

/// How much of a body is read to look for `expect_body`; past it the rest
/// is not downloaded (a health check is not a load test).
pub const BODY_CAP: usize = 1024 * 1024;
/// How many characters of a body a mismatch quotes.
pub const SNIPPET_CHARS: usize = 200;
/// Redirects followed at most when `follow_redirects` is on.
pub const MAX_REDIRECTS: usize = 10;

/// `GET` or `HEAD`: a check reads, it never changes anything.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
pub enum HttpMethod {
    /// The default.
    #[default]
    #[serde(alias = "get")]
    GET,
    /// Status and headers only; `expect_body` cannot be used with it.
    #[serde(alias = "head")]
    HEAD,
}

/// `[targets.NAME] kind = "http"`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HttpTarget {
    /// `http://` or `https://`; a password or token in it is kept secret.
    pub url: SecretUrl,
    /// `GET` (default) or `HEAD`.
    #[serde(default)]
    pub method: HttpMethod,
    /// The one status that counts as healthy; default: any 2xx or 3xx.
    #[serde(default)]
    pub expect_status: Option<u16>,
    /// Text the body must contain (`"status":"ok"`).
    #[serde(default)]
    pub expect_body: Option<String>,
    /// Follow redirects (up to 10) and judge the final answer (default false:
    /// a 3xx is reported with its Location).
    #[serde(default)]
    pub follow_redirects: bool,
    /// Request headers (`Authorization = "Bearer …"`); values are secrets.
    #[serde(default)]
    pub headers: BTreeMap<String, SecretString>,
    /// A response slower than this is a warning (default 1 s).
    #[serde(
        default = "default_slow",
        deserialize_with = "crate::duration::deserialize"
    )]
    pub slow: Duration,
    /// A PEM file of extra CA certificates to trust for https (a private CA),
    /// besides the public roots.
    #[serde(default)]
    pub ca_file: Option<PathBuf>,
    /// The most the request may take, connect to last byte (default 5 s).
    #[serde(
        default = "crate::diagnostics::default_timeout",
        deserialize_with = "crate::duration::deserialize"
    )]
    pub timeout: Duration,
}

fn default_slow() -> Duration {
    Duration::from_secs(1)
}

impl HttpTarget {
    /// A target for `url` with every default; tests and samples start here.
    pub fn for_url(url: SecretUrl) -> Self {
        HttpTarget {
            url,
            method: HttpMethod::GET,
            expect_status: None,
            expect_body: None,
            follow_redirects: false,
            headers: BTreeMap::new(),
            slow: default_slow(),
            ca_file: None,
            timeout: crate::diagnostics::default_timeout(),
        }
    }

    /// Checks what serde cannot. The error names the key at fault.
    pub fn validate(&self) -> Result<(), (&'static str, String)> {
        let url = self.url.url();
        if !matches!(url.scheme(), "http" | "https") {
            return Err((
                "url",
                format!("scheme `{}` is not http:// or https://", url.scheme()),
            ));
        }
        if url.host_str().is_none_or(str::is_empty) {
            return Err(("url", "the URL names no host".into()));
        }
        if let Some(s) = self.expect_status
            && !(100..=599).contains(&s)
        {
            return Err(("expect_status", format!("{s} is not an HTTP status")));
        }
        if self.expect_body.is_some() && self.method == HttpMethod::HEAD {
            return Err((
                "expect_body",
                "a HEAD response has no body; use method = \"GET\"".into(),
            ));
        }
        for (name, value) in &self.headers {
            if reqwest::header::HeaderName::from_bytes(name.as_bytes()).is_err() {
                return Err(("headers", format!("`{name}` is not a header name")));
            }
            if reqwest::header::HeaderValue::from_str(value.expose_secret()).is_err() {
                // The value is a secret: name the header, never the value.
                return Err((
                    "headers",
                    format!("the value of `{name}` is not a valid header value"),
                ));
            }
        }
        Ok(())
    }

    /// The request, as shown: method and URL with its password masked and
    /// no query (it may hold tokens).
    fn shown(&self) -> String {
        format!("{:?} {}", self.method, self.location())
    }

    fn client(&self) -> Result<reqwest::Client, String> {
        let policy = if self.follow_redirects {
            Policy::limited(MAX_REDIRECTS)
        } else {
            Policy::none()
        };
        let mut builder = reqwest::Client::builder()
            .use_rustls_tls()
            .redirect(policy)
            .no_proxy()
            .timeout(self.timeout.mul_f64(0.9))
            .user_agent(concat!(
                "medic/",
                env!("CARGO_PKG_VERSION"),
                " (diagnostic)"
            ));
        if let Some(path) = &self.ca_file {
            let pem = std::fs::read(path)
                .map_err(|e| format!("cannot read ca_file {}: {e}", path.display()))?;
            let certs = reqwest::Certificate::from_pem_bundle(&pem)
                .map_err(|e| format!("ca_file {} holds no PEM certificate: {e}", path.display()))?;
            for cert in certs {
                builder = builder.add_root_certificate(cert);
            }
        }
        builder.build().map_err(|e| error_chain(&e))
    }

    /// One request, read the way the runbook reads `curl -sv`.
    pub async fn probe(&self) -> Vec<Finding> {
        let client = match self.client() {
            Ok(c) => c,
            Err(e) => {
                return vec![Finding::unknown(
                    "http.response",
                    format!("Not checked: {e}"),
                )];
            }
        };
        let method = match self.method {
            HttpMethod::GET => reqwest::Method::GET,
            HttpMethod::HEAD => reqwest::Method::HEAD,
        };
        let mut request = client.request(method, self.url.url().clone());
        for (name, value) in &self.headers {
            request = request.header(name.as_str(), value.expose_secret());
        }
        let started = Instant::now();
        let response = match request.send().await {
            Ok(r) => r,
            Err(e) => return vec![self.failure(&e)],
        };
        let took = started.elapsed();
        let status = response.status();
        let location = response
            .headers()
            .get(reqwest::header::LOCATION)
            .and_then(|v| v.to_str().ok())
            .map(|l| shown_location(self.url.url(), l));
        let final_url = (response.url() != self.url.url()).then(|| masked(response.url()));
        let mut findings = vec![self.status_finding(status, took, location, final_url)];
        if let Some(expect) = &self.expect_body {
            findings.push(body_finding(response, expect).await);
        }
        findings
    }

    fn status_finding(
        &self,
        status: reqwest::StatusCode,
        took: Duration,
        location: Option<String>,
        final_url: Option<String>,
    ) -> Finding {
        let code = status.as_u16();
        let reason = status.canonical_reason().unwrap_or("");
        let summary = format!("HTTP {code} {reason} in {}", human_latency(took)).replace("  ", " ");
        let judged = match self.expect_status {
            Some(want) if want == code => Status::Ok,
            Some(_) => Status::Critical,
            None if status.is_server_error() => Status::Critical,
            None if status.is_client_error() => Status::Warn,
            None => Status::Ok,
        };
        let mut f = match (judged, self.expect_status) {
            (Status::Critical, Some(want)) => {
                Finding::critical("http.response", format!("{summary}, expected {want}"))
            }
            (Status::Ok, _) if took > self.slow => Finding::warn(
                "http.response",
                format!("Slow: {summary} (over {})", human_duration(self.slow)),
            ),
            (status, _) => Finding::new("http.response", status, summary),
        };
        if status.is_redirection() {
            match &location {
                Some(l) => {
                    f = f.with_detail(format!(
                        "Location: {l} (not followed: follow_redirects is off)"
                    ))
                }
                None => f = f.with_detail("A redirect with no Location header."),
            }
        }
        if let Some(u) = final_url {
            f = f.with_detail(format!("After redirects: {u}"));
        }
        if status.is_server_error() {
            f = f.with_detail("The service (or the proxy in front of it: 502/503/504) is failing; look at its logs around this time.");
        } else if matches!(code, 401 | 403) {
            f = f.with_detail("The service answers but refuses medic: check the target's headers (a token) or the service's allow-list.");
        }
        f.with_detail(format!("By hand: curl -sv {}", self.location()))
    }

    /// A request that got no response, in plain words.
    fn failure(&self, e: &reqwest::Error) -> Finding {
        let shown = self.shown();
        let chain = error_chain(e);
        let (summary, hint) = if e.is_timeout() {
            (
                format!(
                    "{shown}: no response within {}",
                    human_duration(self.timeout.mul_f64(0.9))
                ),
                "The service accepted nothing in time: overloaded, hung, or a firewall dropping packets.",
            )
        } else if chain.contains("Connection refused") {
            (
                format!("{shown}: connection refused"),
                "Nothing listens there: is the service (or its proxy) running?",
            )
        } else if chain.contains("certificate") || chain.contains("tls") || chain.contains("TLS") {
            (
                format!("{shown}: TLS handshake failed"),
                "A certificate problem: a tls target on the same host says which.",
            )
        } else if chain.contains("dns error") || chain.contains("lookup address") {
            (
                format!("{shown}: the host name does not resolve"),
                "Check DNS from medic's host (a dns target).",
            )
        } else if chain.contains("connection closed") || chain.contains("reset by peer") {
            (
                format!("{shown}: the server closed the connection without an HTTP answer"),
                "Not an HTTP server on that port (TLS only? another protocol?), or a proxy dropping the request.",
            )
        } else if e.is_redirect() {
            (
                format!("{shown}: more than {MAX_REDIRECTS} redirects"),
                "A redirect loop, often http ↔ https behind a proxy.",
            )
        } else {
            (
                format!("{shown}: no response"),
                "The connection failed before an HTTP answer; see the evidence.",
            )
        };
        Finding::critical("http.response", summary)
            .with_detail(hint)
            .with_evidence(chain)
    }
}

/// Checks the body for `expect`, reading at most [`BODY_CAP`].
async fn body_finding(mut response: reqwest::Response, expect: &str) -> Finding {
    let mut body: Vec<u8> = Vec::new();
    let mut truncated = false;
    loop {
        match response.chunk().await {
            Ok(Some(chunk)) => {
                body.extend_from_slice(&chunk);
                if body.len() >= BODY_CAP {
                    truncated = true;
                    break;
                }
            }
            Ok(None) => break,
            Err(e) => {
                return Finding::unknown(
                    "http.body",
                    "The body could not be read to the end, so it was not checked",
                )
                .with_evidence(error_chain(&e));
            }
        }
    }
    let text = String::from_utf8_lossy(&body);
    if text.contains(expect) {
        return Finding::ok("http.body", format!("Body contains `{expect}`"));
    }
    let size = if truncated {
        format!("first {}", human_bytes(body.len() as u64))
    } else {
        human_bytes(body.len() as u64)
    };
    let f = Finding::critical(
        "http.body",
        format!("Body ({size}) does not contain `{expect}`"),
    )
    .with_detail("The service answers, but not as a healthy one does: an error page, a maintenance page, or a proxy's own answer.");
    match snippet(&text) {
        s if s.is_empty() => f.with_detail("The body is empty."),
        s => f.with_evidence(s),
    }
}

impl Diagnostic for HttpTarget {
    const KIND: &'static str = "http";

    /// `scheme://host[:port]/path`: no credentials, no query.
    fn location(&self) -> String {
        let url = self.url.url();
        let host = url.host_str().unwrap_or("?");
        match url.port() {
            Some(p) => format!("{}://{host}:{p}{}", url.scheme(), url.path()),
            None => format!("{}://{host}{}", url.scheme(), url.path()),
        }
    }

    fn timeout(&self) -> Duration {
        self.timeout
    }

    fn redactor(&self) -> Redactor {
        let mut r = self.url.redactor();
        if let Some(user) = self.url.url().password().map(|_| self.url.url().username()) {
            // A user name next to a password is often a token too (basic auth).
            if !user.is_empty() {
                r.add_secret(user);
            }
        }
        for (k, v) in self.url.url().query_pairs() {
            if is_secret_key(&k) {
                r.add_secret(&v);
            }
        }
        for value in self.headers.values() {
            let value = value.expose_secret();
            r.add_secret(value);
            // "Bearer abc…": the token alone may be echoed too.
            if let Some((_, token)) = value.split_once(' ') {
                r.add_secret(token);
            }
        }
        r
    }

    fn checks(&self) -> Vec<Check> {
        let target = self.clone();
        vec![
            Check::new("http.response", self.shown(), async move { target.probe().await })
                .critical_when_silent()
                .silence_hint("The service accepted the connection but never answered: hung workers or a proxy with no backend."),
        ]
    }
}

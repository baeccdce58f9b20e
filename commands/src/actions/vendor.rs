//! Purpose: what the PagerDuty and Sentry built-ins share — the APIs they
//! call (base URL, token, identity), the id of the incident they act on,
//! and one careful HTTP call.
//!
//! The call adds its token to a redactor before anything can fail, so a
//! vendor that echoes the request (or an error that quotes a URL) never
//! puts the token in chat, the audit log or the logs. A `429` with a
//! `Retry-After` inside the action's timeout is retried once: PagerDuty and
//! Sentry both rate-limit per token, and an on-call engineer pressing
//! "Acknowledge" expects it acknowledged, not "rate limited, try again".

use std::time::{Duration, Instant};

use secrecy::{ExposeSecret, SecretString};

use super::exec::{Outcome, cap_output};

/// The value an incident offer binds: the incident's id at its source
/// (PagerDuty's incident id, Sentry's issue id).
pub const SOURCE_ID_PARAM: &str = "source_id";

/// The longest `Retry-After` medic waits for before its one retry.
const MAX_RETRY_AFTER: Duration = Duration::from_secs(30);

/// PagerDuty's REST API, as `[pagerduty]` configures it.
#[derive(Clone)]
pub struct PagerDutyApi {
    /// `pagerduty.api_url` (default `https://api.pagerduty.com/`).
    pub url: url::Url,
    /// `pagerduty.api_token`: a REST API key.
    pub token: SecretString,
    /// `pagerduty.from`: the email of the PagerDuty user the change is
    /// made as (required with account-level keys).
    pub from: String,
}

/// Sentry's web API, as `[sentry]` configures it.
#[derive(Clone)]
pub struct SentryApi {
    /// `sentry.api_url` (default `https://sentry.io/api/0/`).
    pub url: url::Url,
    /// `sentry.auth_token`: needs `event:write` for these actions.
    pub token: SecretString,
    /// `sentry.organization`: the organization slug in issue URLs.
    pub organization: String,
}

/// The vendor APIs a run may call; `None` where not configured.
#[derive(Clone, Default)]
pub struct VendorApis {
    /// PagerDuty, for `pagerduty.*`.
    pub pagerduty: Option<PagerDutyApi>,
    /// Sentry, for `sentry.*`.
    pub sentry: Option<SentryApi>,
}

impl std::fmt::Debug for VendorApis {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VendorApis")
            .field(
                "pagerduty",
                &self.pagerduty.as_ref().map(|p| p.url.as_str()),
            )
            .field("sentry", &self.sentry.as_ref().map(|s| s.url.as_str()))
            .finish()
    }
}

/// One request to a vendor, built by `pagerduty` or `sentry` and sent by
/// [`send`]. No `Debug`: its headers hold the token.
pub struct VendorRequest {
    /// Always PUT for these actions.
    pub method: reqwest::Method,
    /// The full URL.
    pub url: url::Url,
    /// Headers, the token's included.
    pub headers: Vec<(&'static str, String)>,
    /// The JSON body.
    pub body: serde_json::Value,
    /// The token, to redact from anything the vendor answers.
    pub secret: String,
}

/// Joins `path` (relative, no leading slash) to a base URL, keeping the
/// base's own path (`https://host/api/0/` + `organizations/…`).
pub fn join(base: &url::Url, path: &str) -> Result<url::Url, String> {
    let mut base = base.clone();
    if !base.path().ends_with('/') {
        let p = format!("{}/", base.path());
        base.set_path(&p);
    }
    base.join(path)
        .map_err(|e| format!("cannot build the API URL ({e})"))
}

/// Whether `id` is safe as one URL path segment and plausible as an id
/// at a vendor: letters and digits only, 1 to 64 of them.
pub fn plain_id(id: &str) -> bool {
    !id.is_empty() && id.len() <= 64 && id.chars().all(|c| c.is_ascii_alphanumeric())
}

fn failed(started: Instant, status: String) -> Outcome {
    Outcome {
        success: false,
        status,
        output: String::new(),
        duration: started.elapsed(),
    }
}

/// Sends `req` within `timeout`, retrying once on a `429` whose
/// `Retry-After` fits in what is left. The outcome's status names the
/// vendor and the HTTP status; its output is the vendor's answer,
/// redacted and capped at `cap` bytes.
pub async fn send(vendor: &str, req: VendorRequest, timeout: Duration, cap: usize) -> Outcome {
    let started = Instant::now();
    let redactor = crate::redact::Redactor::new().with_secret(&req.secret);
    let client = match reqwest::Client::builder().timeout(timeout).build() {
        Ok(c) => c,
        Err(e) => return failed(started, format!("cannot build an HTTP client: {e}")),
    };
    let mut retried = false;
    loop {
        let mut r = client
            .request(req.method.clone(), req.url.clone())
            .json(&req.body);
        for (name, value) in &req.headers {
            r = r.header(*name, value);
        }
        let resp = match r.send().await {
            Ok(resp) => resp,
            Err(e) => {
                // reqwest's error names the URL; the token is never in it,
                // but the redactor runs anyway.
                let why = redactor.redact(&e.without_url().to_string());
                return failed(started, format!("{vendor} request failed: {why}"));
            }
        };
        let status = resp.status();
        let retry_after = resp
            .headers()
            .get(reqwest::header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok())
            .map(Duration::from_secs);
        if status.as_u16() == 429
            && !retried
            && let Some(wait) = retry_after
            && wait <= MAX_RETRY_AFTER
            && started.elapsed() + wait < timeout
        {
            retried = true;
            tokio::time::sleep(wait).await;
            continue;
        }
        let length = resp.content_length().and_then(|n| usize::try_from(n).ok());
        let (text, total) = match crate::http_body::read_capped(resp, cap + 1).await {
            Ok(b) if b.truncated => (redactor.redact(&b.text()), length),
            Ok(b) => (redactor.redact(&b.text()), Some(b.bytes.len())),
            Err(e) => (
                format!(
                    "(the answer's body could not be read: {})",
                    redactor.redact(&e.without_url().to_string())
                ),
                Some(0),
            ),
        };
        let status_text = match status.as_u16() {
            200..=299 => format!("{vendor} answered HTTP {}", status.as_u16()),
            401 | 403 => format!(
                "{vendor} refused the token (HTTP {}): check its permissions",
                status.as_u16()
            ),
            404 => format!("{vendor} does not know this incident (HTTP 404)"),
            429 => format!("{vendor} is rate limiting medic (HTTP 429); try again later"),
            s => format!("{vendor} answered HTTP {s}"),
        };
        return Outcome {
            success: status.is_success(),
            status: status_text,
            output: cap_output(&text, cap, total),
            duration: started.elapsed(),
        };
    }
}

/// The token as a header value needs it exposed; kept in one place.
pub(super) fn expose(token: &SecretString) -> String {
    token.expose_secret().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn join_keeps_the_base_path() {
        let base = url::Url::parse("http://127.0.0.1:9/api/0").unwrap();
        assert_eq!(
            join(&base, "organizations/acme/issues/1/")
                .unwrap()
                .as_str(),
            "http://127.0.0.1:9/api/0/organizations/acme/issues/1/"
        );
    }

    #[test]
    fn ids_that_could_leave_their_path_segment_are_refused() {
        assert!(plain_id("PGR0VU2"));
        assert!(plain_id("1170820242"));
        for bad in ["", "../users", "a/b", "1?x=1", "a b", "%2e%2e"] {
            assert!(!plain_id(bad), "{bad}");
        }
    }

    /// A vendor that answers each call with the next (status,
    /// retry-after) and echoes the `Authorization` it got; counts calls.
    async fn vendor_server(
        answers: Vec<(u16, Option<&'static str>)>,
    ) -> (url::Url, std::sync::Arc<std::sync::atomic::AtomicUsize>) {
        use std::sync::Arc;
        use std::sync::atomic::{AtomicUsize, Ordering};

        use axum::http::{HeaderMap, StatusCode};
        use axum::response::IntoResponse;

        let count = Arc::new(AtomicUsize::new(0));
        let seen = count.clone();
        let app = axum::Router::new().fallback(move |headers: HeaderMap| {
            let n = seen.fetch_add(1, Ordering::SeqCst);
            let (status, retry) = answers[n.min(answers.len() - 1)];
            async move {
                let auth = headers
                    .get("authorization")
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or_default()
                    .to_string();
                let mut resp = (
                    StatusCode::from_u16(status).unwrap(),
                    format!("{{\"error\": \"bad request from {auth}\"}}"),
                )
                    .into_response();
                if let Some(r) = retry {
                    resp.headers_mut().insert("retry-after", r.parse().unwrap());
                }
                resp
            }
        });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await });
        (url::Url::parse(&format!("http://{addr}/")).unwrap(), count)
    }

    fn request(url: &url::Url, token: &str) -> VendorRequest {
        VendorRequest {
            method: reqwest::Method::PUT,
            url: url.join("incidents/P1").unwrap(),
            headers: vec![("authorization", format!("Token token={token}"))],
            body: serde_json::json!({"incident": {}}),
            secret: token.to_string(),
        }
    }

    #[tokio::test]
    async fn an_echoed_token_is_redacted_and_the_status_named() {
        let token = "y_NbAkKc66ryYTWUXYEu-echo";
        let (url, count) = vendor_server(vec![(500, None)]).await;
        let out = send(
            "PagerDuty",
            request(&url, token),
            Duration::from_secs(10),
            4000,
        )
        .await;
        assert!(!out.success);
        assert_eq!(out.status, "PagerDuty answered HTTP 500");
        assert!(out.output.contains("bad request from"), "{}", out.output);
        assert!(!out.output.contains(token), "{}", out.output);
        assert_eq!(count.load(std::sync::atomic::Ordering::SeqCst), 1);
    }

    #[tokio::test]
    async fn a_429_is_retried_once_only_when_retry_after_fits() {
        let (url, count) = vendor_server(vec![(429, Some("0")), (429, Some("0"))]).await;
        let out = send(
            "Sentry",
            request(&url, "tok-0123456789abcdef"),
            Duration::from_secs(10),
            4000,
        )
        .await;
        assert!(!out.success);
        assert!(out.status.contains("rate limiting"), "{}", out.status);
        assert_eq!(
            count.load(std::sync::atomic::Ordering::SeqCst),
            2,
            "one retry, not more"
        );

        // A Retry-After longer than the timeout is not waited for.
        let (url, count) = vendor_server(vec![(429, Some("5")), (200, None)]).await;
        let out = send(
            "Sentry",
            request(&url, "tok-0123456789abcdef"),
            Duration::from_secs(2),
            4000,
        )
        .await;
        assert!(!out.success);
        assert_eq!(count.load(std::sync::atomic::Ordering::SeqCst), 1);
    }

    #[tokio::test]
    async fn output_is_capped() {
        let (url, _) = vendor_server(vec![(400, None)]).await;
        let out = send(
            "PagerDuty",
            request(&url, "tok-0123456789abcdef"),
            Duration::from_secs(10),
            8,
        )
        .await;
        assert!(
            out.output.contains("output capped at 8 bytes"),
            "{}",
            out.output
        );
        assert!(out.output.starts_with("{\"error\""), "{}", out.output);
    }

    #[test]
    fn debug_shows_no_token() {
        let apis = VendorApis {
            pagerduty: Some(PagerDutyApi {
                url: url::Url::parse("https://api.pagerduty.com/").unwrap(),
                token: SecretString::from("u+pd-secret-token"),
                from: "oncall@example.com".into(),
            }),
            sentry: None,
        };
        assert!(!format!("{apis:?}").contains("pd-secret"));
    }
}

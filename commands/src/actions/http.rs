//! Purpose: the `http` action kind — call an endpoint (a deploy system's
//! rollback hook, a feature-flag API) with headers from the environment.
//!
//! Header values come from environment variables named in config, so a
//! token never sits in the config file; the body is a template where
//! `{param}` becomes the JSON-escaped value (it cannot close a string and
//! add fields).

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use super::exec::{Outcome, cap_output};
use crate::http_body::read_capped;

/// Replaces each `{name}` in `template` with the JSON-escaped value.
pub fn render_body(template: &str, values: &BTreeMap<String, String>) -> String {
    let mut out = template.to_string();
    for (name, value) in values {
        let escaped = serde_json::to_string(value).unwrap_or_default();
        let inner = &escaped[1..escaped.len().saturating_sub(1).max(1)];
        out = out.replace(&format!("{{{name}}}"), inner);
    }
    out
}

/// Calls `url` with `method`, the headers (name → environment variable)
/// and the rendered body, for at most `timeout`.
pub async fn call(
    method: &str,
    url: &url::Url,
    headers: &BTreeMap<String, String>,
    body: Option<&str>,
    timeout: Duration,
    cap: usize,
) -> Outcome {
    let started = Instant::now();
    let client = match reqwest::Client::builder().timeout(timeout).build() {
        Ok(c) => c,
        Err(e) => {
            return Outcome {
                success: false,
                status: format!("cannot build an HTTP client: {e}"),
                output: String::new(),
                duration: started.elapsed(),
            };
        }
    };
    let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap_or(reqwest::Method::POST);
    let mut req = client.request(method, url.clone());
    // Header values are secrets more often than not; an endpoint that
    // echoes them (or an error that quotes them) must not put them in chat.
    let mut redactor = crate::redact::Redactor::new();
    for (name, var) in headers {
        match std::env::var(var) {
            Ok(v) => {
                redactor.add_secret(&v);
                if let Some((_, token)) = v.split_once(' ') {
                    redactor.add_secret(token);
                }
                req = req.header(name.as_str(), v)
            }
            Err(_) => {
                return Outcome {
                    success: false,
                    status: format!("header {name}: environment variable {var} is not set"),
                    output: String::new(),
                    duration: started.elapsed(),
                };
            }
        }
    }
    if let Some(b) = body {
        req = req
            .header("content-type", "application/json")
            .body(b.to_string());
    }
    match req.send().await {
        Ok(resp) => {
            let status = resp.status();
            // One byte past the cap tells a longer answer from one that
            // fits; the rest is never read.
            let length = resp.content_length().and_then(|n| usize::try_from(n).ok());
            let body = read_capped(resp, cap + 1).await;
            let (text, total) = match &body {
                Ok(b) if b.truncated => (redactor.redact(&b.text()), length),
                Ok(b) => (redactor.redact(&b.text()), Some(b.bytes.len())),
                Err(e) => (
                    format!(
                        "(the answer's body could not be read: {})",
                        redactor.redact(&e.to_string())
                    ),
                    Some(0),
                ),
            };
            Outcome {
                success: status.is_success(),
                status: format!("HTTP {}", status.as_u16()),
                output: cap_output(&text, cap, total),
                duration: started.elapsed(),
            }
        }
        Err(e) => Outcome {
            success: false,
            status: format!("request failed: {}", redactor.redact(&e.to_string())),
            output: String::new(),
            duration: started.elapsed(),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    #[tokio::test]
    async fn an_endless_answer_is_cut_at_the_cap_and_never_read_whole() {
        // An endpoint that answers with a chunked body that never ends.
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url =
            url::Url::parse(&format!("http://{}/hook", listener.local_addr().unwrap())).unwrap();
        let server = tokio::spawn(async move {
            let (mut s, _) = listener.accept().await.unwrap();
            let mut buf = [0u8; 4096];
            let _ = s.read(&mut buf).await;
            s.write_all(b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n")
                .await
                .unwrap();
            let chunk = format!("{:x}\r\n{}\r\n", 65536, "y".repeat(65536));
            let mut sent = 0usize;
            while s.write_all(chunk.as_bytes()).await.is_ok() {
                sent += 65536;
            }
            sent
        });
        let out = call(
            "POST",
            &url,
            &BTreeMap::new(),
            None,
            Duration::from_secs(10),
            100,
        )
        .await;
        assert!(out.success, "{out:?}");
        assert!(out.output.starts_with(&"y".repeat(100)), "{}", out.output);
        assert!(
            out.output.ends_with(
                "(output capped at 100 bytes, and there was more; `output_cap` raises the limit)"
            ),
            "{}",
            out.output
        );
        // medic hung up: the server's writes failed long before any
        // memory mattered.
        assert!(server.await.unwrap() < 64 << 20);
    }

    #[test]
    fn values_cannot_break_out_of_a_json_string() {
        let values = BTreeMap::from([(
            "target".to_string(),
            "x\",\"admin\":true,\"y\":\"".to_string(),
        )]);
        let body = render_body(r#"{"service":"{target}"}"#, &values);
        let parsed: serde_json::Value = serde_json::from_str(&body).unwrap();
        assert_eq!(parsed.as_object().unwrap().len(), 1);
        assert_eq!(parsed["service"], "x\",\"admin\":true,\"y\":\"");
    }
}

//! How an http check shows what it saw: short body snippets, URLs with
//! their secrets masked, and errors without the request URL.

use super::SNIPPET_CHARS;

/// Query keys whose values are treated as secrets.
const SECRET_QUERY_KEYS: &[&str] = &[
    "token",
    "key",
    "secret",
    "pass",
    "auth",
    "sig",
    "session",
    "code",
    "credential",
];

/// The start of a body, on one line, at most [`SNIPPET_CHARS`] characters.
/// (Secrets are masked later, by the target's redactor, like every finding.)
pub fn snippet(text: &str) -> String {
    let flat: String = text.split_whitespace().collect::<Vec<_>>().join(" ");
    let mut out: String = flat.chars().take(SNIPPET_CHARS).collect();
    if flat.chars().count() > SNIPPET_CHARS {
        out.push('…');
    }
    out
}

/// A `Location` header as shown: made absolute against the request, with
/// any password masked and secret query values masked.
pub(super) fn shown_location(base: &url::Url, location: &str) -> String {
    match base.join(location) {
        Ok(u) => masked(&u),
        Err(_) => crate::redact::redact(location),
    }
}

/// A URL as text with its password and secret-looking query values masked.
pub(super) fn masked(u: &url::Url) -> String {
    // The url crate percent-encodes what it is given, so mask with a plain
    // placeholder and swap in the mask on the text.
    const PLACEHOLDER: &str = "medic-masked-value";
    let mut u = u.clone();
    if u.password().is_some() {
        let _ = u.set_password(Some(PLACEHOLDER));
    }
    if u.query().is_some() {
        let pairs: Vec<(String, String)> = u
            .query_pairs()
            .map(|(k, v)| {
                let v = if is_secret_key(&k) {
                    PLACEHOLDER.to_string()
                } else {
                    v.into_owned()
                };
                (k.into_owned(), v)
            })
            .collect();
        u.query_pairs_mut().clear().extend_pairs(pairs);
    }
    u.to_string().replace(PLACEHOLDER, crate::redact::MASK)
}

pub(super) fn is_secret_key(key: &str) -> bool {
    let key = key.to_ascii_lowercase();
    SECRET_QUERY_KEYS.iter().any(|s| key.contains(s))
}

/// An error and its causes on one line, without the request URL (it may
/// carry credentials; the summary names the request instead).
pub(super) fn error_chain(e: &reqwest::Error) -> String {
    use std::error::Error;
    let mut out = String::new();
    let mut cause: Option<&dyn Error> = e.source();
    // reqwest's own text names the URL; start from its kind instead.
    out.push_str(if e.is_timeout() {
        "timed out"
    } else if e.is_connect() {
        "error connecting"
    } else if e.is_redirect() {
        "redirect error"
    } else if e.is_body() || e.is_decode() {
        "error reading the body"
    } else if e.is_builder() {
        "cannot build the client"
    } else {
        "request error"
    });
    while let Some(c) = cause {
        out.push_str(": ");
        out.push_str(&c.to_string());
        cause = c.source();
    }
    out
}

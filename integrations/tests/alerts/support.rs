//! Fixture loading, headers, and signing the way the vendors do — written
//! with hmac/sha2 directly, not with medic's verifiers, so a bug in a
//! verifier cannot hide itself.

use hmac::{Hmac, KeyInit, Mac};
use http::{HeaderMap, HeaderName, HeaderValue};
use medic_integrations::alerts::IntakeError;
use sha2::Sha256;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

/// The bytes of `tests/fixtures/<path>`, exactly as stored.
pub fn fixture(path: &str) -> Vec<u8> {
    let full = format!("{}/tests/fixtures/{path}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read(&full).unwrap_or_else(|e| panic!("{full}: {e}"))
}

/// A fixture as JSON.
pub fn fixture_json(path: &str) -> serde_json::Value {
    serde_json::from_slice(&fixture(path)).expect("fixture is JSON")
}

/// Headers from `(name, value)` pairs.
pub fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
    let mut map = HeaderMap::new();
    for (k, v) in pairs {
        map.append(
            HeaderName::from_bytes(k.as_bytes()).unwrap(),
            HeaderValue::from_str(v).unwrap(),
        );
    }
    map
}

/// Lower-case hex HMAC-SHA256 of `body` under `secret`.
pub fn hmac_hex(secret: &str, body: &[u8]) -> String {
    let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(body);
    hex::encode(mac.finalize().into_bytes())
}

/// An RFC 3339 time.
pub fn at(s: &str) -> OffsetDateTime {
    OffsetDateTime::parse(s, &Rfc3339).unwrap()
}

/// Asserts `result` is `Unauthorized` and returns its reason.
pub fn unauthorized<T: std::fmt::Debug>(result: Result<T, IntakeError>) -> String {
    match result {
        Err(IntakeError::Unauthorized(why)) => why,
        other => panic!("expected Unauthorized, got {other:?}"),
    }
}

/// Asserts `result` is `Malformed` and returns the field path.
pub fn malformed_field<T: std::fmt::Debug>(result: Result<T, IntakeError>) -> String {
    match result {
        Err(IntakeError::Malformed { field, .. }) => field,
        other => panic!("expected Malformed, got {other:?}"),
    }
}

/// Asserts `result` is `Ignored` and returns why.
pub fn ignored<T: std::fmt::Debug>(result: Result<T, IntakeError>) -> String {
    match result {
        Err(IntakeError::Ignored(why)) => why,
        other => panic!("expected Ignored, got {other:?}"),
    }
}

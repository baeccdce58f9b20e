//! Purpose: prove a request came from Slack before reading a byte of it.
//!
//! Slack signs `v0:{X-Slack-Request-Timestamp}:{raw body}` with HMAC-SHA256
//! under the app's signing secret and sends `v0=<hex>` in
//! `X-Slack-Signature`. The timestamp must be within five minutes of now, so
//! a captured request cannot be replayed later. The comparison is constant
//! time (`subtle`). `now` is passed in, so Slack's published test
//! vector (signed in 2018) can be checked as it is.

use crate::alerts::signature::{HmacKey, digests_equal};

/// How far a request's timestamp may be from now, either way.
pub const MAX_SKEW_SECS: i64 = 5 * 60;

/// Why a request failed verification. Each is answered with 401 and logged
/// once; none is ever explained to the caller beyond "unauthorized".
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VerifyError {
    /// A required header is absent.
    #[error("missing header {0}")]
    MissingHeader(&'static str),
    /// The timestamp header is not a number.
    #[error("timestamp header is not a unix time")]
    BadTimestamp,
    /// The timestamp is outside the replay window.
    #[error("timestamp is {age_secs} s away from now (limit {MAX_SKEW_SECS} s)")]
    Stale {
        /// Seconds between the timestamp and now.
        age_secs: i64,
    },
    /// The signature header is not `v0=<64 hex digits>`.
    #[error("signature header is not v0=<hex>")]
    Malformed,
    /// The signature does not match the body.
    #[error("signature does not match")]
    Mismatch,
}

/// Verifies Slack request signatures with one signing secret.
#[derive(Clone)]
pub struct SlackVerifier {
    key: HmacKey,
}

impl std::fmt::Debug for SlackVerifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SlackVerifier(••••)")
    }
}

impl SlackVerifier {
    /// A verifier for this signing secret.
    pub fn new(signing_secret: &str) -> Self {
        SlackVerifier {
            key: HmacKey::new(signing_secret.as_bytes()),
        }
    }

    /// Checks the headers against the raw body, at time `now_unix`.
    pub fn verify(
        &self,
        timestamp: Option<&str>,
        signature: Option<&str>,
        body: &[u8],
        now_unix: i64,
    ) -> Result<(), VerifyError> {
        let timestamp = timestamp.ok_or(VerifyError::MissingHeader("X-Slack-Request-Timestamp"))?;
        let signature = signature.ok_or(VerifyError::MissingHeader("X-Slack-Signature"))?;
        let ts: i64 = timestamp
            .trim()
            .parse()
            .map_err(|_| VerifyError::BadTimestamp)?;
        // Any i64 is a timestamp a client can send: the distance must not
        // overflow (i64::MIN would, as a plain subtraction).
        let age_secs = i64::try_from(now_unix.abs_diff(ts)).unwrap_or(i64::MAX);
        if age_secs > MAX_SKEW_SECS {
            return Err(VerifyError::Stale { age_secs });
        }
        let hex_sig = signature
            .trim()
            .strip_prefix("v0=")
            .ok_or(VerifyError::Malformed)?;
        let mut given = [0u8; 32];
        hex::decode_to_slice(hex_sig, &mut given).map_err(|_| VerifyError::Malformed)?;
        let expected = self
            .key
            .tag(&[b"v0:", timestamp.trim().as_bytes(), b":", body]);
        if digests_equal(&expected, &given) {
            Ok(())
        } else {
            Err(VerifyError::Mismatch)
        }
    }

    /// Signs a body the way Slack does: `v0=<hex>`. Used by tests, the
    /// benchmark and `medic console`'s loopback, never on inbound requests.
    pub fn sign(&self, timestamp: i64, body: &[u8]) -> String {
        let prefix = format!("v0:{timestamp}:");
        format!(
            "v0={}",
            hex::encode(self.key.tag(&[prefix.as_bytes(), body]))
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // Slack's published vector (shared/fixtures/slack/signing_vector.json).
    const SECRET: &str = "8f742231b10e8888abcd99yyyzzz85a5";
    const TS: &str = "1531420618";
    const SIG: &str = "v0=a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503";
    const BODY: &str = "token=xyzz0WbapA4vBCDEFasx0q6G&team_id=T1DC2JH3J&team_domain=testteamnow&channel_id=G8PSS9T3V&channel_name=foobar&user_id=U2CERLKJA&user_name=roadrunner&command=%2Fwebhook-collect&text=&response_url=https%3A%2F%2Fhooks.slack.com%2Fcommands%2FT1DC2JH3J%2F397700885554%2F96rGlfmibIGlgcZRskXaIFfN&trigger_id=398738663015.47445629121.803a0bc887a14d10d2c447fce8b6703c";
    const NOW: i64 = 1_531_420_618;

    #[test]
    fn a_timestamp_at_the_edge_of_i64_is_stale_not_a_panic() {
        let v = SlackVerifier::new(SECRET);
        for ts in [i64::MIN, i64::MAX] {
            let ts = ts.to_string();
            assert!(matches!(
                v.verify(Some(&ts), Some(SIG), BODY.as_bytes(), NOW),
                Err(VerifyError::Stale { .. })
            ));
        }
    }

    #[test]
    fn slacks_published_vector_passes() {
        let v = SlackVerifier::new(SECRET);
        assert_eq!(v.verify(Some(TS), Some(SIG), BODY.as_bytes(), NOW), Ok(()));
        assert_eq!(v.sign(NOW, BODY.as_bytes()), SIG);
    }

    #[test]
    fn a_changed_body_fails() {
        let v = SlackVerifier::new(SECRET);
        let body = BODY.replace("roadrunner", "coyote");
        assert_eq!(
            v.verify(Some(TS), Some(SIG), body.as_bytes(), NOW),
            Err(VerifyError::Mismatch)
        );
    }

    #[test]
    fn another_secret_fails() {
        let v = SlackVerifier::new("not-the-secret");
        assert_eq!(
            v.verify(Some(TS), Some(SIG), BODY.as_bytes(), NOW),
            Err(VerifyError::Mismatch)
        );
    }

    #[test]
    fn old_and_future_timestamps_fail() {
        let v = SlackVerifier::new(SECRET);
        assert_eq!(
            v.verify(Some(TS), Some(SIG), BODY.as_bytes(), NOW + 600),
            Err(VerifyError::Stale { age_secs: 600 })
        );
        assert_eq!(
            v.verify(Some(TS), Some(SIG), BODY.as_bytes(), NOW - 301),
            Err(VerifyError::Stale { age_secs: 301 })
        );
        assert_eq!(
            v.verify(Some(TS), Some(SIG), BODY.as_bytes(), NOW + 300),
            Ok(())
        );
    }

    #[test]
    fn missing_and_malformed_headers_fail() {
        let v = SlackVerifier::new(SECRET);
        let b = BODY.as_bytes();
        assert!(matches!(
            v.verify(None, Some(SIG), b, NOW),
            Err(VerifyError::MissingHeader(_))
        ));
        assert!(matches!(
            v.verify(Some(TS), None, b, NOW),
            Err(VerifyError::MissingHeader(_))
        ));
        assert_eq!(
            v.verify(Some("soon"), Some(SIG), b, NOW),
            Err(VerifyError::BadTimestamp)
        );
        assert_eq!(
            v.verify(Some(TS), Some("v1=abcd"), b, NOW),
            Err(VerifyError::Malformed)
        );
        assert_eq!(
            v.verify(Some(TS), Some("v0=zz"), b, NOW),
            Err(VerifyError::Malformed)
        );
        // Hex, but not the 64 digits of a SHA-256 tag.
        assert_eq!(
            v.verify(Some(TS), Some("v0=abcd"), b, NOW),
            Err(VerifyError::Malformed)
        );
        let wrong = format!("v0={}", "ab".repeat(32));
        assert_eq!(
            v.verify(Some(TS), Some(&wrong), b, NOW),
            Err(VerifyError::Mismatch)
        );
    }

    #[test]
    fn debug_hides_the_secret() {
        assert!(!format!("{:?}", SlackVerifier::new(SECRET)).contains(SECRET));
    }
}

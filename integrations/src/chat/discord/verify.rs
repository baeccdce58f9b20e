//! Is this request really from Discord? Discord signs `timestamp ‖ body`
//! with the application's Ed25519 key and sends the signature (hex) in
//! `X-Signature-Ed25519` and the timestamp in `X-Signature-Timestamp`.
//!
//! Discord probes the endpoint with bad signatures when it is saved and
//! now and then afterwards: any failure must be a 401.

use ed25519_dalek::{Signature, VerifyingKey};

/// How far a request's timestamp may be from our clock. Discord documents
/// no window; five minutes (Slack's) stops a captured request from being
/// replayed later while tolerating ordinary clock skew.
pub const MAX_SKEW_SECS: i64 = 300;

/// Why a request was refused. Callers answer 401 to all of them; the
/// variant goes into the log line.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VerifyError {
    /// A signature header is missing.
    #[error("the {0} header is missing")]
    Missing(&'static str),
    /// The signature is not 64 bytes of hex, or the timestamp not a number.
    #[error("the {0} header is malformed")]
    Malformed(&'static str),
    /// The timestamp is too far from now.
    #[error("the timestamp is {0} s away from this host's clock")]
    Stale(i64),
    /// The signature does not match the body.
    #[error("the signature does not match the body")]
    Mismatch,
}

/// The application's public key is not 32 bytes of hex.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "not an Ed25519 public key: expected 64 hex characters (Discord Developer Portal → General Information → Public Key)"
)]
pub struct KeyError;

/// Checks Discord's signatures with the application's public key.
#[derive(Clone)]
pub struct DiscordVerifier {
    key: VerifyingKey,
}

impl std::fmt::Debug for DiscordVerifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // A public key is no secret, but nobody needs it in a log either.
        f.write_str("DiscordVerifier")
    }
}

impl DiscordVerifier {
    /// A verifier for the hex `public_key` from the Developer Portal.
    pub fn new(public_key: &str) -> Result<Self, KeyError> {
        let bytes: [u8; 32] = hex::decode(public_key.trim())
            .map_err(|_| KeyError)?
            .try_into()
            .map_err(|_| KeyError)?;
        let key = VerifyingKey::from_bytes(&bytes).map_err(|_| KeyError)?;
        Ok(DiscordVerifier { key })
    }

    /// Verifies a request's headers against its raw body at time `now`
    /// (Unix seconds).
    pub fn verify(
        &self,
        timestamp: Option<&str>,
        signature: Option<&str>,
        body: &[u8],
        now: i64,
    ) -> Result<(), VerifyError> {
        let timestamp = timestamp.ok_or(VerifyError::Missing("X-Signature-Timestamp"))?;
        let signature = signature.ok_or(VerifyError::Missing("X-Signature-Ed25519"))?;
        let ts: i64 = timestamp
            .trim()
            .parse()
            .map_err(|_| VerifyError::Malformed("X-Signature-Timestamp"))?;
        let sig: [u8; 64] = hex::decode(signature.trim())
            .map_err(|_| VerifyError::Malformed("X-Signature-Ed25519"))?
            .try_into()
            .map_err(|_| VerifyError::Malformed("X-Signature-Ed25519"))?;
        let mut message = Vec::with_capacity(timestamp.len() + body.len());
        message.extend_from_slice(timestamp.as_bytes());
        message.extend_from_slice(body);
        // Strict: rejects the malleable and small-order forms that a plain
        // verify accepts; Discord's signatures are canonical.
        self.key
            .verify_strict(&message, &Signature::from_bytes(&sig))
            .map_err(|_| VerifyError::Mismatch)?;
        // Checked after the signature, so an unsigned probe learns nothing
        // about our clock.
        let skew = (now - ts).abs();
        if skew > MAX_SKEW_SECS {
            return Err(VerifyError::Stale(skew));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const VECTOR: &str = include_str!(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../tests/fixtures/discord/signature_vector_computed_rfc8032.json"
    ));

    fn vector() -> (DiscordVerifier, String, String, String, i64) {
        let v: serde_json::Value = serde_json::from_str(VECTOR).unwrap();
        let verifier = DiscordVerifier::new(v["public_key_hex"].as_str().unwrap()).unwrap();
        let ts = v["headers"]["X-Signature-Timestamp"]
            .as_str()
            .unwrap()
            .to_string();
        let sig = v["headers"]["X-Signature-Ed25519"]
            .as_str()
            .unwrap()
            .to_string();
        let body = v["body"].as_str().unwrap().to_string();
        let now = ts.parse().unwrap();
        (verifier, ts, sig, body, now)
    }

    #[test]
    fn accepts_the_rfc8032_vector() {
        let (v, ts, sig, body, now) = vector();
        assert_eq!(
            v.verify(Some(&ts), Some(&sig), body.as_bytes(), now),
            Ok(())
        );
    }

    #[test]
    fn rejects_a_tampered_body_timestamp_or_signature() {
        let (v, ts, sig, body, now) = vector();
        let tampered = body.replace("\"type\":1", "\"type\":2");
        assert_eq!(
            v.verify(Some(&ts), Some(&sig), tampered.as_bytes(), now),
            Err(VerifyError::Mismatch)
        );
        assert_eq!(
            v.verify(Some("1620000001"), Some(&sig), body.as_bytes(), now),
            Err(VerifyError::Mismatch)
        );
        let mut flipped = sig.clone().into_bytes();
        flipped[0] = if flipped[0] == b'0' { b'1' } else { b'0' };
        let flipped = String::from_utf8(flipped).unwrap();
        assert_eq!(
            v.verify(Some(&ts), Some(&flipped), body.as_bytes(), now),
            Err(VerifyError::Mismatch)
        );
    }

    #[test]
    fn rejects_missing_malformed_and_stale() {
        let (v, ts, sig, body, now) = vector();
        let b = body.as_bytes();
        assert!(matches!(
            v.verify(None, Some(&sig), b, now),
            Err(VerifyError::Missing(_))
        ));
        assert!(matches!(
            v.verify(Some(&ts), None, b, now),
            Err(VerifyError::Missing(_))
        ));
        assert!(matches!(
            v.verify(Some(&ts), Some("abc"), b, now),
            Err(VerifyError::Malformed(_))
        ));
        assert!(matches!(
            v.verify(Some("soon"), Some(&sig), b, now),
            Err(VerifyError::Malformed(_))
        ));
        assert_eq!(
            v.verify(Some(&ts), Some(&sig), b, now + 301),
            Err(VerifyError::Stale(301))
        );
    }

    #[test]
    fn a_bad_key_is_refused() {
        assert!(DiscordVerifier::new("ab").is_err());
        assert!(DiscordVerifier::new(&"zz".repeat(32)).is_err());
    }
}

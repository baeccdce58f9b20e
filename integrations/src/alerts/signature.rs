//! Purpose: the two comparisons every intake makes — an HMAC-SHA256 of the
//! raw body against the vendor's hex signature, and a bearer token against
//! the configured one — both in constant time.

use hmac::{Hmac, KeyInit, Mac};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// An HMAC-SHA256 key, keyed once. Keying hashes the inner and outer
/// pads, two SHA-256 blocks that every verified request paid again: a
/// Slack slash command is about twelve blocks in all, a Sentry alert
/// twenty. Each tag starts from a copy of the keyed state. The state is as
/// secret as the key: it is never printed.
#[derive(Clone)]
pub(crate) struct HmacKey(Hmac<Sha256>);

impl std::fmt::Debug for HmacKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("HmacKey(••••)")
    }
}

impl HmacKey {
    /// Keys HMAC-SHA256 with `key` (any length).
    pub(crate) fn new(key: &[u8]) -> HmacKey {
        // HMAC takes keys of any length; this cannot fail.
        HmacKey(
            <Hmac<Sha256> as KeyInit>::new_from_slice(key).expect("HMAC accepts any key length"),
        )
    }

    /// The tag of `parts`, concatenated, as raw bytes.
    pub(crate) fn tag(&self, parts: &[&[u8]]) -> [u8; 32] {
        let mut mac = self.0.clone();
        for part in parts {
            mac.update(part);
        }
        mac.finalize().into_bytes().into()
    }
}

/// HMAC-SHA256 of `body` under `key`, as raw bytes.
#[cfg(test)]
fn hmac_sha256(key: &[u8], body: &[u8]) -> [u8; 32] {
    HmacKey::new(key).tag(&[body])
}

/// Decodes a 64-digit hex signature (either case); `None` when it is not one.
pub(crate) fn decode_hex_sha256(sig: &str) -> Option<[u8; 32]> {
    let sig = sig.trim();
    if sig.len() != 64 {
        return None;
    }
    let mut out = [0u8; 32];
    hex::decode_to_slice(sig, &mut out).ok()?;
    Some(out)
}

/// Constant-time equality of two digests.
pub(crate) fn digests_equal(a: &[u8; 32], b: &[u8; 32]) -> bool {
    a.ct_eq(b).into()
}

/// Constant-time equality of two secrets of any length: both are hashed
/// first, so the comparison's time reveals neither the content nor the
/// length of the configured one.
pub(crate) fn secrets_equal(given: &[u8], expected: &[u8]) -> bool {
    let a: [u8; 32] = Sha256::digest(given).into();
    let b: [u8; 32] = Sha256::digest(expected).into();
    digests_equal(&a, &b)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc4231_case_2() {
        // RFC 4231 test case 2: key "Jefe".
        let tag = hmac_sha256(b"Jefe", b"what do ya want for nothing?");
        assert_eq!(
            hex::encode(tag),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }

    #[test]
    fn a_key_reused_gives_each_message_its_own_tag() {
        let key = HmacKey::new(b"Jefe");
        let once = key.tag(&[b"what do ya want ", b"for nothing?"]);
        assert_eq!(once, hmac_sha256(b"Jefe", b"what do ya want for nothing?"));
        assert_eq!(key.tag(&[b"what do ya want for nothing?"]), once);
        assert_ne!(key.tag(&[b"something else"]), once);
        assert_eq!(format!("{key:?}"), "HmacKey(••••)");
    }

    #[test]
    fn hex_signatures_must_be_64_digits() {
        assert!(decode_hex_sha256(&"ab".repeat(32)).is_some());
        assert!(decode_hex_sha256(&"AB".repeat(32)).is_some());
        assert!(decode_hex_sha256(&"ab".repeat(31)).is_none());
        assert!(decode_hex_sha256(&"zz".repeat(32)).is_none());
    }

    #[test]
    fn secrets_compare_by_content() {
        assert!(secrets_equal(b"s3cret", b"s3cret"));
        assert!(!secrets_equal(b"s3cret", b"s3cre"));
        assert!(!secrets_equal(b"", b"s3cret"));
    }
}

//! Purpose: read a webhook body into typed wire structs, and when it does
//! not fit, say *which field* is wrong (`alerts[0].status`,
//! `data.issue.id`) so the 400 answer and the log line point at it.
//!
//! `serde_path_to_error` tracks where deserialisation was when it failed.
//! For a missing field serde reports the enclosing object, so the name of
//! the missing field is appended from serde's message (`missing field
//! `id``): the caller then reads `data.issue.id`, not `data.issue`.

use serde::de::{DeserializeOwned, Deserializer, MapAccess, SeqAccess, Visitor};
use sha2::{Digest, Sha256};

use super::IntakeError;

/// Deserialises `body` into `T`, or a [`IntakeError::Malformed`] that names
/// the field path (`body` when the failure is at the top).
///
/// A well-formed body is read once, without tracking paths: recording the
/// path of every field cost a quarter of the parse (2.8 → 2.1 µs for
/// Sentry's 869-byte `issue.created`), paid by every
/// webhook of an alert storm for the few that are malformed. Only a body
/// that fails is read again to name the field.
pub fn parse<T: DeserializeOwned>(body: &[u8]) -> Result<T, IntakeError> {
    if let Ok(value) = serde_json::from_slice(body) {
        return Ok(value);
    }
    let mut de = serde_json::Deserializer::from_slice(body);
    let value = serde_path_to_error::deserialize(&mut de).map_err(|e| {
        let reason = e.inner().to_string();
        let path = e.path().to_string();
        malformed(field_path(&path, &reason), reason)
    })?;
    // Trailing garbage after the document is as malformed as a bad field.
    de.end().map_err(|e| malformed("body", e.to_string()))?;
    Ok(value)
}

/// A [`IntakeError::Malformed`] for `field`.
pub fn malformed(field: impl Into<String>, reason: impl Into<String>) -> IntakeError {
    IntakeError::Malformed {
        field: field.into(),
        reason: reason.into(),
    }
}

/// Lower-case hex SHA-256 of `parts`, each length-prefixed so that
/// `["ab", "c"]` and `["a", "bc"]` differ; prefixed `sha256:` so a content
/// hash can never be mistaken for a vendor's delivery id.
pub fn content_hash<'a>(parts: impl IntoIterator<Item = &'a [u8]>) -> String {
    let mut hash = Sha256::new();
    for part in parts {
        hash.update((part.len() as u64).to_be_bytes());
        hash.update(part);
    }
    format!("sha256:{}", hex::encode(hash.finalize()))
}

/// The path serde_path_to_error reports, completed with the missing
/// field's name and spelled `body` at the root.
fn field_path(path: &str, reason: &str) -> String {
    let missing = reason
        .strip_prefix("missing field `")
        .and_then(|rest| rest.split('`').next());
    let at_root = path.is_empty() || path == ".";
    match (missing, at_root) {
        (Some(name), true) => name.to_string(),
        (Some(name), false) => format!("{path}.{name}"),
        (None, true) => "body".to_string(),
        (None, false) => path.to_string(),
    }
}

/// Deserialises a JSON object of string values into `(key, value)` pairs in
/// the order they were sent (labels, annotations), where a map type would
/// sort or shuffle them.
pub fn ordered_strings<'de, D: Deserializer<'de>>(
    de: D,
) -> Result<Vec<(String, String)>, D::Error> {
    struct Pairs;
    impl<'de> Visitor<'de> for Pairs {
        type Value = Vec<(String, String)>;
        fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
            f.write_str("an object of string values")
        }
        fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
            let mut pairs = Vec::with_capacity(map.size_hint().unwrap_or(0));
            while let Some((k, v)) = map.next_entry::<String, String>()? {
                pairs.push((k, v));
            }
            Ok(pairs)
        }
        fn visit_unit<E: serde::de::Error>(self) -> Result<Self::Value, E> {
            Ok(Vec::new())
        }
    }
    de.deserialize_any(Pairs)
}

/// An id that vendors send as a string in one payload and a number in
/// another (Sentry's actor ids): read as its string form.
pub fn id_string<'de, D: Deserializer<'de>>(de: D) -> Result<String, D::Error> {
    struct Id;
    impl<'de> Visitor<'de> for Id {
        type Value = String;
        fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
            f.write_str("a string or integer id")
        }
        fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<String, E> {
            if v.trim().is_empty() {
                return Err(E::custom("empty id"));
            }
            Ok(v.to_string())
        }
        fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<String, E> {
            Ok(v.to_string())
        }
        fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<String, E> {
            Ok(v.to_string())
        }
    }
    de.deserialize_any(Id)
}

/// Tags as Sentry sends them — a list of `[key, value]` pairs, a list of
/// `{"key", "value"}` objects, or an object — read leniently: tags only
/// help routing, so an odd entry is skipped rather than failing the alert.
pub fn lenient_tags<'de, D: Deserializer<'de>>(de: D) -> Result<Vec<(String, String)>, D::Error> {
    struct Tags;
    impl<'de> Visitor<'de> for Tags {
        type Value = Vec<(String, String)>;
        fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
            f.write_str("tags")
        }
        fn visit_unit<E: serde::de::Error>(self) -> Result<Self::Value, E> {
            Ok(Vec::new())
        }
        fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
            let mut tags = Vec::new();
            while let Some(entry) = seq.next_element::<serde_json::Value>()? {
                let (k, v) = match &entry {
                    serde_json::Value::Array(pair) if pair.len() == 2 => (&pair[0], &pair[1]),
                    serde_json::Value::Object(o) => match (o.get("key"), o.get("value")) {
                        (Some(k), Some(v)) => (k, v),
                        _ => continue,
                    },
                    _ => continue,
                };
                if let (Some(k), Some(v)) = (scalar(k), scalar(v)) {
                    tags.push((k, v));
                }
            }
            Ok(tags)
        }
        fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
            let mut tags = Vec::new();
            while let Some((k, v)) = map.next_entry::<String, serde_json::Value>()? {
                if let Some(v) = scalar(&v) {
                    tags.push((k, v));
                }
            }
            Ok(tags)
        }
    }
    de.deserialize_any(Tags)
}

/// A string, number or boolean as text; nothing for null, lists, objects.
fn scalar(v: &serde_json::Value) -> Option<String> {
    match v {
        serde_json::Value::String(s) => Some(s.clone()),
        serde_json::Value::Number(n) => Some(n.to_string()),
        serde_json::Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

/// Parses an RFC 3339 time; `field` names it in the error.
pub fn rfc3339(field: &str, s: &str) -> Result<time::OffsetDateTime, IntakeError> {
    time::OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339)
        .map_err(|e| malformed(field, format!("not an RFC 3339 time ({e}): {s:?}")))
}

/// An RFC 3339 time where a bad one is not worth refusing the alert over
/// (a secondary timestamp): `None` when absent or unreadable.
pub fn rfc3339_lenient(s: Option<&str>) -> Option<time::OffsetDateTime> {
    s.and_then(|s| {
        time::OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339).ok()
    })
}

/// A header's value as text, when present and visible ASCII.
pub fn header<'h>(headers: &'h http::HeaderMap, name: &str) -> Option<&'h str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, serde::Deserialize)]
    #[allow(dead_code)]
    struct Outer {
        inner: Vec<Inner>,
    }
    #[derive(Debug, serde::Deserialize)]
    #[allow(dead_code)]
    struct Inner {
        id: String,
    }

    fn field_of(body: &str) -> String {
        match parse::<Outer>(body.as_bytes()) {
            Err(IntakeError::Malformed { field, .. }) => field,
            other => panic!("expected Malformed, got {other:?}"),
        }
    }

    #[test]
    fn names_the_missing_field_with_its_path() {
        assert_eq!(field_of(r#"{"inner":[{"id":"a"},{}]}"#), "inner[1].id");
        assert_eq!(field_of(r#"{}"#), "inner");
    }

    #[test]
    fn names_a_field_of_the_wrong_type() {
        assert_eq!(field_of(r#"{"inner":[{"id":5}]}"#), "inner[0].id");
    }

    #[test]
    fn syntax_errors_at_the_top_are_the_body() {
        assert_eq!(field_of("not json"), "body");
        assert_eq!(field_of(r#"{"inner":[]} trailing"#), "body");
    }

    #[test]
    fn content_hash_separates_parts() {
        let a = content_hash([b"ab".as_slice(), b"c".as_slice()]);
        let b = content_hash([b"a".as_slice(), b"bc".as_slice()]);
        assert_ne!(a, b);
        assert!(a.starts_with("sha256:") && a.len() == 7 + 64);
    }
}

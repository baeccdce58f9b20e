//! Purpose: "the root cause is often nested" (`seeds/production-debugging-guide.md`,
//! Sentry Integration) — read a Sentry event's exception chain so that the
//! innermost link is matched first.
//!
//! Sentry's exception interface lists a chain oldest first: `values[0]` is
//! the first exception raised (the innermost cause), the last one is what
//! surfaced. Older SDKs send `exception` as a bare list; frames may be
//! `null`. The Sentry API's event (what medic fetches when a webhook did not
//! carry the event) nests the same list under `entries[].data` with
//! `type = "exception"`. Everything is read leniently from a JSON value: a
//! strange shape gives fewer links, never an error.

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// One exception of a chain.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Link {
    /// Its type (`PG::ConnectionBad`), empty when the SDK sent none.
    #[serde(rename = "type")]
    pub kind: String,
    /// Its message, empty when none.
    pub message: String,
}

impl Link {
    /// `Type: message`, as Sentry titles it.
    // NOTE: shown in chat.
    pub fn headline(&self) -> String {
        let first = self.message.lines().next().unwrap_or("").trim();
        match (self.kind.is_empty(), first.is_empty()) {
            (false, false) => format!("{}: {first}", self.kind),
            (false, true) => self.kind.clone(),
            (true, _) => first.to_string(),
        }
    }
}

/// The exception list of an event in any of its shapes.
fn exception_values(event: &Value) -> Option<&Vec<Value>> {
    match event.get("exception") {
        Some(Value::Array(list)) => return Some(list),
        Some(Value::Object(o)) => {
            if let Some(Value::Array(list)) = o.get("values") {
                return Some(list);
            }
        }
        _ => {}
    }
    event
        .get("entries")?
        .as_array()?
        .iter()
        .find(|e| e.get("type").and_then(Value::as_str) == Some("exception"))?
        .get("data")?
        .get("values")?
        .as_array()
}

/// One exception as an SDK sent it, before ordering.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Entry {
    /// `type`.
    pub kind: String,
    /// `value`.
    pub message: String,
    /// `mechanism.exception_id`, in an exception group.
    pub exception_id: Option<u64>,
    /// `mechanism.parent_id`, in an exception group.
    pub parent_id: Option<u64>,
}

/// Orders entries (as listed, oldest first) innermost first. For an
/// exception group the leaves (entries no other entry names as its parent)
/// are the causes and come first. Entries with neither type nor message are
/// left out.
pub fn order(entries: Vec<Entry>) -> Vec<Link> {
    let parents: Vec<u64> = entries.iter().filter_map(|e| e.parent_id).collect();
    let (leaves, inner): (Vec<Entry>, Vec<Entry>) = entries
        .into_iter()
        .partition(|e| e.exception_id.is_none_or(|id| !parents.contains(&id)));
    leaves
        .into_iter()
        .chain(inner)
        .filter(|e| !e.kind.is_empty() || !e.message.is_empty())
        .map(|e| Link {
            kind: e.kind,
            message: e.message,
        })
        .collect()
}

/// The chain of `event` (a Sentry event as JSON, webhook or API shape),
/// innermost (root cause) first.
pub fn walk(event: &Value) -> Vec<Link> {
    let Some(values) = exception_values(event) else {
        return Vec::new();
    };
    let mech = |v: &Value, key: &str| {
        v.get("mechanism")
            .and_then(|m| m.get(key))
            .and_then(Value::as_u64)
    };
    order(
        values
            .iter()
            .map(|v| Entry {
                kind: text(v.get("type")),
                message: text(v.get("value")),
                exception_id: mech(v, "exception_id"),
                parent_id: mech(v, "parent_id"),
            })
            .collect(),
    )
}

fn text(v: Option<&Value>) -> String {
    v.and_then(Value::as_str).unwrap_or("").trim().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixture(name: &str) -> Value {
        let path = format!(
            "{}/../../shared/fixtures/sentry/{name}",
            env!("CARGO_MANIFEST_DIR")
        );
        let text = std::fs::read_to_string(&path)
            .or_else(|_| std::fs::read_to_string(format!("/work/shared/fixtures/sentry/{name}")))
            .unwrap_or_else(|e| panic!("{path}: {e}"));
        serde_json::from_str(&text).unwrap()
    }

    #[test]
    fn a_chain_is_read_innermost_first() {
        let chain = walk(&fixture("event_exception_chained_develop_docs.json"));
        assert_eq!(chain.len(), 2);
        assert_eq!(chain[0].headline(), "Exception: initial exception");
        assert_eq!(chain[1].headline(), "ValueError: chained exception");
    }

    #[test]
    fn a_bare_list_and_null_frames_are_read() {
        // `"exception": [ … ]`, the older SDKs' bare list.
        let flat = fixture("event_exception_flat_list_develop_docs.json");
        assert!(flat["exception"].is_array());
        let chain = walk(&flat);
        assert_eq!(chain[0].headline(), "Error: An error occurred");
        let grouped = walk(&fixture(
            "event_chained_exception_sentry_grouping_test.json",
        ));
        assert!(!grouped.is_empty());
        assert_eq!(grouped[0].kind, "RemoteException");
    }

    #[test]
    fn the_api_event_shape_nests_it_under_entries() {
        let event = serde_json::json!({
            "entries": [
                {"type": "breadcrumbs", "data": {"values": []}},
                {"type": "exception", "data": {"values": [
                    {"type": "PG::ConnectionBad", "value": "terminating connection due to administrator command", "stacktrace": {"frames": null}},
                    {"type": "ActiveRecord::DatabaseConnectionError", "value": "db down", "stacktrace": null}
                ]}}
            ]
        });
        let chain = walk(&event);
        assert_eq!(chain[0].kind, "PG::ConnectionBad");
        assert_eq!(chain[1].kind, "ActiveRecord::DatabaseConnectionError");
    }

    #[test]
    fn an_exception_group_puts_its_leaves_first() {
        let event = serde_json::json!({"exception": {"values": [
            {"type": "ExceptionGroup", "value": "many", "mechanism": {"exception_id": 0, "is_exception_group": true}},
            {"type": "ConnectionError", "value": "a", "mechanism": {"exception_id": 1, "parent_id": 0}},
            {"type": "TimeoutError", "value": "b", "mechanism": {"exception_id": 2, "parent_id": 0}}
        ]}});
        let kinds: Vec<String> = walk(&event).into_iter().map(|l| l.kind).collect();
        assert_eq!(kinds, ["ConnectionError", "TimeoutError", "ExceptionGroup"]);
    }

    #[test]
    fn odd_shapes_give_nothing_not_an_error() {
        for event in [
            serde_json::json!({}),
            serde_json::json!({"exception": null}),
            serde_json::json!({"exception": {"values": null}}),
            serde_json::json!({"exception": "text"}),
            serde_json::json!({"exception": [{"type": null, "value": 3}]}),
        ] {
            assert!(walk(&event).is_empty(), "{event}");
        }
    }
}

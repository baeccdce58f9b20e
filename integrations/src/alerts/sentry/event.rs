//! Purpose: reduce a Sentry event's exceptions to what an on-call engineer
//! reads first — the innermost cause of the chain and the frame where it
//! was raised — as detail lines for the incident thread.
//!
//! Sentry's event protocol (develop docs, "Exception Interface"):
//!
//! - `exception` is `{"values": [...]}` or, in older SDKs, the bare list.
//! - A *chain* (`raise B from A`) is ordered oldest first: `values[0]` is
//!   the innermost cause, the last value is the exception that surfaced.
//!   DESIGN.md's triage rule names the innermost link as the root cause.
//! - An *exception group* marks entries with `mechanism.exception_id` and
//!   `parent_id`; the group is the root of a tree and the root causes are
//!   its leaves (entries no other entry names as parent).
//! - `stacktrace.frames` may be `null`; frames run oldest call first, so
//!   the crash site is the last frame, preferably the last in-app one.

use serde::{Deserialize, Deserializer};

/// An event's `exception` interface, whichever of its two shapes was sent;
/// empty when it has neither.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Exceptions(pub Vec<Exception>);

impl<'de> Deserialize<'de> for Exceptions {
    fn deserialize<D: Deserializer<'de>>(de: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Shape {
            Values {
                #[serde(default)]
                values: Option<Vec<Exception>>,
            },
            List(Vec<Exception>),
        }
        // Leniently: exceptions only add detail lines, and an alert must
        // not be refused because an SDK sent an odd frame.
        let raw = Option::<serde_json::Value>::deserialize(de)?;
        Ok(
            match raw.and_then(|v| serde_json::from_value::<Shape>(v).ok()) {
                Some(Shape::Values { values }) => Exceptions(values.unwrap_or_default()),
                Some(Shape::List(list)) => Exceptions(list),
                None => Exceptions::default(),
            },
        )
    }
}

/// One exception of a chain or group.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
pub struct Exception {
    /// The exception's type, e.g. `ConnectionError`.
    #[serde(rename = "type", default)]
    pub kind: Option<String>,
    /// Its message.
    #[serde(default)]
    pub value: Option<String>,
    /// The module it is defined in, e.g. `redis.exceptions`.
    #[serde(default)]
    pub module: Option<String>,
    /// Where it was raised.
    #[serde(default)]
    pub stacktrace: Option<Stacktrace>,
    /// How it was caught, and its place in an exception group.
    #[serde(default)]
    pub mechanism: Option<Mechanism>,
}

/// A stack trace; `frames` may be `null`.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
pub struct Stacktrace {
    /// Oldest call first.
    #[serde(default)]
    pub frames: Option<Vec<Frame>>,
}

/// One stack frame (the fields medic shows).
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
pub struct Frame {
    /// The function, when symbolicated.
    #[serde(default)]
    pub function: Option<String>,
    /// The file, relative.
    #[serde(default)]
    pub filename: Option<String>,
    /// The file, absolute (or a URL).
    #[serde(default)]
    pub abs_path: Option<String>,
    /// The module or package.
    #[serde(default)]
    pub module: Option<String>,
    /// Line number.
    #[serde(default)]
    pub lineno: Option<u64>,
    /// Column number.
    #[serde(default)]
    pub colno: Option<u64>,
    /// Whether the frame is the application's own code.
    #[serde(default)]
    pub in_app: Option<bool>,
}

/// How the exception was caught, and its place in an exception group.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
pub struct Mechanism {
    /// e.g. `onerror`, `generic`.
    #[serde(rename = "type", default)]
    pub kind: Option<String>,
    /// `false` when nothing caught it.
    #[serde(default)]
    pub handled: Option<bool>,
    /// This entry is an exception group.
    #[serde(default)]
    pub is_exception_group: Option<bool>,
    /// This entry's id in the group tree.
    #[serde(default)]
    pub exception_id: Option<u64>,
    /// The id of the group this entry belongs to.
    #[serde(default)]
    pub parent_id: Option<u64>,
}

/// The chain as triage reads it: innermost first, exception-group leaves
/// first (`medic_commands::triage::chain::order`).
pub fn chain(exceptions: &Exceptions) -> Vec<medic_commands::triage::chain::Link> {
    use medic_commands::triage::chain::{Entry, order};
    let trimmed = |t: &Option<String>| t.as_deref().unwrap_or("").trim().to_string();
    order(
        exceptions
            .0
            .iter()
            .map(|e| Entry {
                kind: trimmed(&e.kind),
                message: trimmed(&e.value),
                exception_id: e.mechanism.as_ref().and_then(|m| m.exception_id),
                parent_id: e.mechanism.as_ref().and_then(|m| m.parent_id),
            })
            .collect(),
    )
}

impl Exception {
    /// `Type: message`, as Sentry titles an exception ("ReferenceError:
    /// blooopy is not defined"); the first line of a multi-line message.
    pub fn headline(&self) -> String {
        let kind = self.kind.as_deref().unwrap_or("").trim();
        let value = self
            .value
            .as_deref()
            .and_then(|v| v.lines().map(str::trim).find(|l| !l.is_empty()))
            .unwrap_or("");
        match (kind.is_empty(), value.is_empty()) {
            (false, false) => format!("{kind}: {value}"),
            (false, true) => kind.to_string(),
            (true, false) => value.to_string(),
            (true, true) => "(unnamed exception)".to_string(),
        }
    }

    /// The crash site: the last in-app frame, else the last frame.
    pub fn top_frame(&self) -> Option<&Frame> {
        let frames = self.stacktrace.as_ref()?.frames.as_deref()?;
        frames
            .iter()
            .rev()
            .find(|f| f.in_app == Some(true))
            .or_else(|| frames.last())
    }

    fn in_group_tree(&self) -> bool {
        self.mechanism
            .as_ref()
            .is_some_and(|m| m.exception_id.is_some())
    }
}

impl Frame {
    /// `function at file:line:col`, with `?` for an unknown function, as
    /// one line for the thread.
    pub fn describe(&self) -> String {
        let function = self.function.as_deref().unwrap_or("?");
        let file = self
            .filename
            .as_deref()
            .or(self.abs_path.as_deref())
            .or(self.module.as_deref())
            .unwrap_or("?");
        let mut at = file.to_string();
        if let Some(line) = self.lineno {
            at.push_str(&format!(":{line}"));
            if let Some(col) = self.colno {
                at.push_str(&format!(":{col}"));
            }
        }
        let origin = if self.in_app == Some(true) {
            ""
        } else {
            " (not in app)"
        };
        format!("{function} at {at}{origin}")
    }
}

/// What the thread shows about an event's exceptions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Summary {
    /// The exception that surfaced (the chain's last, or the group).
    pub headline: String,
    /// The innermost cause(s): the chain's first link, or the group's
    /// leaves. Empty when there is only one exception (it is the headline).
    pub root_causes: Vec<String>,
    /// The crash site of the innermost cause (or of the only exception).
    pub top_frame: Option<String>,
}

impl Summary {
    /// The detail lines for an alert: root cause(s), then the top frame.
    pub fn detail_lines(&self) -> Vec<String> {
        let mut lines: Vec<String> = match self.root_causes.as_slice() {
            [] => Vec::new(),
            [one] => vec![format!("Root cause: {one}")],
            many => many
                .iter()
                .enumerate()
                .map(|(i, c)| format!("Root cause {} of {}: {c}", i + 1, many.len()))
                .collect(),
        };
        if let Some(frame) = &self.top_frame {
            lines.push(format!("Top frame: {frame}"));
        }
        lines
    }
}

/// Summarises an event's exceptions; `None` when there are none.
pub fn summarize(exceptions: &Exceptions) -> Option<Summary> {
    let all = &exceptions.0;
    if all.is_empty() {
        return None;
    }
    let (surfaced, causes): (&Exception, Vec<&Exception>) = if all.iter().any(|e| e.in_group_tree())
    {
        group_tree(all)
    } else {
        let last = all.last().expect("not empty");
        let causes = if all.len() > 1 { vec![&all[0]] } else { vec![] };
        (last, causes)
    };
    let frame_of = causes.first().copied().unwrap_or(surfaced);
    let top_frame = frame_of
        .top_frame()
        .or_else(|| surfaced.top_frame())
        .map(Frame::describe);
    Some(Summary {
        headline: surfaced.headline(),
        root_causes: causes.iter().map(|e| e.headline()).collect(),
        top_frame,
    })
}

/// The group's root (no parent; `exception_id` 0 by the protocol) and its
/// leaves (entries no one names as parent), in the order sent.
fn group_tree(all: &[Exception]) -> (&Exception, Vec<&Exception>) {
    let id = |e: &Exception| e.mechanism.as_ref().and_then(|m| m.exception_id);
    let parent = |e: &Exception| e.mechanism.as_ref().and_then(|m| m.parent_id);
    let root = all
        .iter()
        .find(|e| id(e).is_some() && parent(e).is_none())
        .unwrap_or(&all[0]);
    let leaves: Vec<&Exception> = all
        .iter()
        .filter(|e| !std::ptr::eq(*e, root))
        .filter(|e| match id(e) {
            Some(my_id) => !all.iter().any(|o| parent(o) == Some(my_id)),
            None => true,
        })
        .collect();
    (root, leaves)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(json: &str) -> Exceptions {
        serde_json::from_str(json).unwrap()
    }

    #[test]
    fn null_and_empty_exception_interfaces_summarise_to_nothing() {
        assert_eq!(summarize(&read("null")), None);
        assert_eq!(summarize(&read(r#"{"values": []}"#)), None);
        assert_eq!(summarize(&read("[]")), None);
    }

    #[test]
    fn a_frame_without_details_still_reads() {
        let f = Frame::default();
        assert_eq!(f.describe(), "? at ? (not in app)");
    }
}

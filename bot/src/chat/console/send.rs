//! The console's sender for the durable outbox: a row is printed. The
//! terminal has no pace and no outage; a message that is not the
//! console's (unreadable) is rejected like any platform's.

use medic_integrations::chat::console::draw::ConsoleMessage;

use super::{ConsoleRuntime, Shown};
use crate::outbox::{Call, Outcome};
use crate::storage::outbox::OutboxKind;

/// Prints `call`.
pub fn send(console: &ConsoleRuntime, call: &Call<'_>) -> Outcome {
    let message: ConsoleMessage = match serde_json::from_str(&call.body) {
        Ok(m) => m,
        Err(e) => return Outcome::Rejected(format!("unreadable message: {e}")),
    };
    let shown = match (call.row.kind, &call.thread, &call.message) {
        (OutboxKind::Edit, _, Some(id)) => Shown::Edit(id),
        (OutboxKind::Edit, _, None) => {
            return Outcome::Rejected("an edit of a message never shown".into());
        }
        (OutboxKind::Reply, Some(root), _) if !root.is_empty() => Shown::Reply(root),
        _ => Shown::Root,
    };
    Outcome::Posted(console.show(shown, &message))
}

//! Purpose: what a request's status message says, independent of the
//! platform that shows it. Slack renders it as blocks with Approve/Deny
//! buttons; Discord as components; the console as lines.

/// The action ids a platform gives its buttons, so a click says what it
/// asks for: request an offer, approve or deny a request
/// ([`ClickVerb::action_id`], the one mapping).
pub const REQUEST: &str = "medic.request";
/// See [`REQUEST`].
pub const APPROVE: &str = "medic.approve";
/// See [`REQUEST`].
pub const DENY: &str = "medic.deny";

#[cfg(test)]
#[test]
fn the_constants_are_the_verbs_ids() {
    use crate::model::inbound::ClickVerb;
    assert_eq!(ClickVerb::Request.action_id(), REQUEST);
    assert_eq!(ClickVerb::Approve.action_id(), APPROVE);
    assert_eq!(ClickVerb::Deny.action_id(), DENY);
    for v in ClickVerb::ALL {
        assert_eq!(ClickVerb::from_action_id(v.action_id()), Some(v));
    }
    assert_eq!(ClickVerb::from_action_id("other.app"), None);
}

/// One offered action, as a button.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OfferButton {
    /// The label.
    pub title: String,
    /// The opaque offer id (the button's value).
    pub offer_id: String,
    /// Whether the action needs approval (shown on the message).
    pub approvals: u32,
    /// How long the button stays valid.
    pub expires_in: std::time::Duration,
}

/// A request's status message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatusView {
    /// The opaque request id (the Approve/Deny buttons' value).
    pub request_id: String,
    /// The first line: symbol, action title, target, state.
    pub headline: String,
    /// Further lines: who requested and approved, before/after.
    pub lines: Vec<String>,
    /// The run's output (redacted, capped), when there is one.
    pub output: Option<String>,
    /// Whether Approve and Deny are offered (only while pending).
    pub decision_buttons: bool,
}

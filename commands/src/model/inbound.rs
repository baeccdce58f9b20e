//! What arrives from the outside world, after an adapter has verified and
//! parsed it. Adapters produce these; the bot acts on them without knowing
//! which platform they came from.

use serde::{Deserialize, Serialize};

/// The chat platforms medic speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Platform {
    /// Slack, over HTTP or Socket Mode.
    Slack,
    /// Discord, over HTTP interactions or the gateway.
    Discord,
    /// The local console (`medic console`).
    Console,
}

impl Platform {
    /// The lowercase name, as stored and as used in metrics labels.
    pub fn as_str(self) -> &'static str {
        match self {
            Platform::Slack => "slack",
            Platform::Discord => "discord",
            Platform::Console => "console",
        }
    }
}

impl super::word::Word for Platform {
    const SET: &'static str = "platform";
    const ALL: &'static [Platform] = &[Platform::Slack, Platform::Discord, Platform::Console];
    fn as_str(self) -> &'static str {
        Platform::as_str(self)
    }
}

/// Who did something: the platform's user id (what policy checks) and a
/// display name (what people read).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Actor {
    /// The platform's stable user id (`U2CERLKJA`).
    pub id: String,
    /// A name for people (`roadrunner`); may change, never used for policy.
    pub name: String,
}

impl Actor {
    /// How a message on `platform` names them: a mention on Slack and
    /// Discord, `@name` on the console (where the name is the id).
    // NOTE: shown in chat.
    pub fn mention(&self, platform: Platform) -> String {
        match platform {
            Platform::Slack | Platform::Discord => format!("<@{}>", self.id),
            Platform::Console => format!("@{}", self.name),
        }
    }
}

/// Where something happened: a platform and a channel, optionally a thread.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Place {
    /// Which platform.
    pub platform: Platform,
    /// The channel id on that platform.
    pub channel: String,
    /// The thread within the channel, when there is one.
    pub thread: Option<String>,
}

/// What a button press asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ClickVerb {
    /// Run (or ask approval for) an offered action.
    Request,
    /// Approve a pending request.
    Approve,
    /// Deny a pending request.
    Deny,
    /// Take the pager from a handoff digest ("I've got it").
    Take,
    /// Acknowledge an incident from its root.
    Acknowledge,
    /// Resolve an incident from its root.
    Resolve,
    /// Reopen a resolved incident from its root.
    Reopen,
}

impl ClickVerb {
    /// Every verb.
    pub const ALL: [ClickVerb; 7] = [
        ClickVerb::Request,
        ClickVerb::Approve,
        ClickVerb::Deny,
        ClickVerb::Take,
        ClickVerb::Acknowledge,
        ClickVerb::Resolve,
        ClickVerb::Reopen,
    ];

    /// The action id a button asking for this carries (Slack's
    /// `action_id`, the first part of Discord's `custom_id`).
    pub fn action_id(self) -> &'static str {
        match self {
            ClickVerb::Request => "medic.request",
            ClickVerb::Approve => "medic.approve",
            ClickVerb::Deny => "medic.deny",
            ClickVerb::Take => "medic.take",
            ClickVerb::Acknowledge => "medic.ack",
            ClickVerb::Resolve => "medic.resolve",
            ClickVerb::Reopen => "medic.reopen",
        }
    }

    /// The verb of an action id; `None` for one that is not medic's.
    pub fn from_action_id(id: &str) -> Option<ClickVerb> {
        ClickVerb::ALL.into_iter().find(|v| v.action_id() == id)
    }
}

/// A button press, after an adapter verified and parsed it. `id` is the
/// opaque server-side id the button carried; nothing else in the click
/// is trusted to say what to run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ButtonClick {
    /// Who pressed.
    pub actor: Actor,
    /// Where the button was.
    pub place: Place,
    /// What the button asks for.
    pub verb: ClickVerb,
    /// The offer id (for `Request`), request id (`Approve`, `Deny`),
    /// handoff id (`Take`) or incident number (`Acknowledge`, `Resolve`,
    /// `Reopen`: what they may do is decided by the incident's state and
    /// the policy at the click, not by the button).
    pub id: String,
}

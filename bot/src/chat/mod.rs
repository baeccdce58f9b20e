//! The chat platforms' runtimes: one folder each, holding what medic needs
//! to speak that platform (its client and pace, its inbound handlers, its
//! sender for the durable outbox). What each platform draws is
//! `medic_integrations::chat::Draw`; which one a message goes to is
//! [`medic_commands::model::inbound::Platform`].

pub mod allow;
pub mod console;
pub mod discord;
pub mod slack;

/// Now, in the unit the platforms' signed timestamps use (seconds), for
/// the replay windows of Slack's and Discord's verifiers.
pub(crate) fn now_unix() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or_default()
}

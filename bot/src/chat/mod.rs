//! The chat platforms' runtimes: one folder each, holding what medic needs
//! to speak that platform (its client and pace, its inbound handlers, its
//! sender for the durable outbox). What each platform draws is
//! `medic_integrations::chat::Draw`; which one a message goes to is
//! [`medic_commands::model::inbound::Platform`].

pub mod console;
pub mod discord;
pub mod slack;

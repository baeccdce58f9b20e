//! Slack: slash commands over HTTP, reports as Block Kit messages in threads.
//!
//! - [`verify`]: the v0 request signature, checked before anything is parsed.
//! - [`parse`]: form bodies → [`parse::SlashCommand`].
//! - [`render`]: [`medic_commands::Report`] → a root message and its thread,
//!   within Slack's block and text limits.
//! - [`interaction`]: button clicks (`block_actions`) → neutral clicks.
//! - [`buttons`]: remediation offers and request status as Block Kit.
//! - [`client`]: the Web API (`chat.postMessage`) at a configurable base URL.

pub mod buttons;
pub mod client;
pub mod draw;
pub mod events;
pub mod handoff;
pub mod incident;
pub mod interaction;
pub mod manifest;
pub mod parse;
pub mod render;
pub mod triage;
pub mod verify;

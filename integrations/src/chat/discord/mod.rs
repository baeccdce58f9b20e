//! Discord: `/diag` as an application command over HTTP interactions,
//! reports as embeds in a thread started from the answer.
//!
//! - [`verify`]: the Ed25519 request signature, checked before anything is
//!   parsed.
//! - [`parse`]: interaction JSON → [`parse::Interaction`], leniently (our
//!   own structs with defaults: Discord adds and drops fields, and a click
//!   or command must still be understood; docs/crates.md on serenity's strict
//!   structs).
//! - [`render`]: [`medic_commands::Report`] → messages with embeds, fitted
//!   into Discord's limits rather than rejected.
//! - [`incident`]: alert incidents as a root message and thread notes.
//! - [`digest`]: an alert storm as one message listing its incidents.
//! - [`client`]: the REST API (v10) at a configurable base URL.
//! - [`commands`]: the application commands medic registers.
//! - [`components`]: remediation buttons (offers, Approve/Deny) as
//!   message components, and a click back into a neutral click.

pub mod client;
pub mod commands;
pub mod components;
pub mod digest;
pub mod draw;
pub mod handoff;
pub mod incident;
pub mod parse;
pub mod render;
pub mod triage;
pub mod verify;

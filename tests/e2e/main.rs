//! End-to-end tests: one binary, one module per capability.

mod crash;
mod discord;
mod discord_buttons;
mod incidents;
mod ingest_store;
mod operations;
mod parity;
mod remediation;
mod slack_delivery;
mod slack_events;
mod slash_commands;
mod socket_mode;
mod streaming;
mod webhooks;

//! End-to-end tests: one binary, one module per capability.

mod crash;
mod incidents;
mod ingest_store;
mod operations;
mod slack_delivery;
mod slash_commands;
mod streaming;
mod triage;
mod webhooks;

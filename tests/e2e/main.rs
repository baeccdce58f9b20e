//! End-to-end tests: one binary, one module per capability.

mod operations;
mod slack_delivery;
mod slash_commands;
mod streaming;

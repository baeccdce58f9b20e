//! The terminal as a chat platform: `medic diag` prints a report, and
//! `medic console` is a local chat where typed commands are answered as a
//! root message and its thread, the way Slack shows them.

pub mod draw;
pub mod render;

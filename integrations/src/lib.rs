//! medic's outside world: each chat platform and alert source in its own
//! module, each knowing its wire format and nothing of diagnostics.
//!
//! # Layout
//!
//! - [`chat`]: chat platforms. Each has the same roles in the same files:
//!   `verify` (is this request really from the platform), `parse` (wire →
//!   medic's neutral types), `render` ([`medic_commands::Report`] → the
//!   platform's message format, within its limits) and `client` (its API).
//!   - [`chat::slack`]: Slack over HTTP (slash commands) and its Web API.
//!   - [`chat::console`]: the terminal, for `medic diag` and `medic console`.
#![warn(missing_docs)]

pub mod chat;

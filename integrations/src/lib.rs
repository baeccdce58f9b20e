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
//! - [`alerts`]: alert sources (Sentry, PagerDuty, Alertmanager). Each
//!   verifies its webhook over the raw body, then parses it into
//!   [`medic_commands::model::alert::Alert`]s, behind one trait
//!   ([`alerts::Intake`]).
#![warn(missing_docs)]

pub mod alerts;
pub mod chat;

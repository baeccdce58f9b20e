//! medic's outside world: each chat platform and alert source in its own
//! module, each knowing its wire format and nothing of diagnostics.
//!
//! # Layout
//!
//! - [`chat`]: chat platforms, and their seam: [`chat::Draw`], what every
//!   platform draws (a report, an incident, a digest, a likely cause,
//!   offers, a request's status), picked by [`chat::draw`] from a
//!   `Platform`. Each platform has the same roles in the same files:
//!   `verify` (is this request really from the platform), `parse` (wire →
//!   medic's neutral types), `render` (a report → the platform's message
//!   format, within its limits), `draw` (its side of the seam) and
//!   `client` (its API).
//!   - [`chat::slack`]: Slack's Block Kit, verification, Web API.
//!   - [`chat::discord`]: Discord's messages and components, Ed25519
//!     verification, REST API.
//!   - [`chat::console`]: the terminal, for `medic diag` and `medic
//!     console` (text, and buttons pressed by number).
//! - [`alerts`]: alert sources (Sentry, PagerDuty, Alertmanager). Each
//!   verifies its webhook over the raw body, then parses it into
//!   [`medic_commands::model::alert::Alert`]s, behind one trait
//!   ([`alerts::Intake`]).
#![warn(missing_docs)]

pub mod alerts;
pub mod chat;

//! medic's platform-neutral core. Nothing here knows Slack, Discord or HTTP:
//! a diagnostic produces a [`Report`], and the integrations render it.
//!
//! # Layout
//!
//! - [`model`]: the neutral data that flows through medic — [`Report`],
//!   [`Finding`], [`Status`], the inbound [`model::inbound`] types, and
//!   [`model::word`]: the closed sets medic stores as words (platforms,
//!   alert sources, severities, states), read back exhaustively.
//! - [`actions`]: remediations from config, the policy that guards them,
//!   and the argv runner.
//! - [`command`]: the chat grammar (`/diag TARGET`, `/help`) as data, parsed
//!   from the words a user typed.
//! - [`diagnostics`]: target specs from config (a closed enum tagged by
//!   `kind`), the [`diagnostics::Diagnostic`] trait, the concurrent runner, and
//!   one file per built-in diagnostic.
//! - [`triage`]: the likely cause of an incident, with its evidence —
//!   knowledge (error patterns as data), the exception chain, the timeline
//!   and correlation rules, all pure functions.
//! - [`oncall`]: people and rotations: who holds the pager at an instant
//!   (turns, overrides, DST), the `/oncall` answer, the handoff digest, and
//!   [`oncall::pagerduty`], who is on call in a PagerDuty schedule.
//! - [`redact`]: the one place that scrubs secrets from text bound for chat
//!   or logs.
#![warn(missing_docs)]

pub mod actions;
pub mod child_env;
pub mod command;
pub mod diagnostics;
pub mod duration;
pub mod format;
pub mod http_body;
pub mod model;
pub mod oncall;
pub mod redact;
pub mod routing;
pub mod triage;

pub use model::diagnosis::Diagnosis;
pub use model::report::{Finding, Report, Status, TargetRef};

//! Triage: say the likely cause first, with its evidence, the way the
//! runbooks in `seeds/` teach it.
//!
//! # Layout
//!
//! - [`knowledge`]: the runbooks' tables as data (embedded default file plus
//!   user files): error patterns, high-impact packages, the correlation rule.
//! - [`chain`]: a Sentry event's exception chain, innermost first.
//! - [`patterns`]: which pattern an error matches, innermost link first.
//! - [`quoted`]: the error text the diagnostics quote (a crashed
//!   container's previous log, its termination reason), for alerts that
//!   carry no exception.
//! - [`timeline`]: changes before the first error (upgrades, deploys,
//!   restarts, reloads, OOM kills), ranked.
//! - [`correlation`]: incidents naming one host at the same time.
//! - [`symptom`]: `/diag`'s likely cause — the change before a restart the
//!   diagnosis saw, judged by [`cause`].
//! - [`cause`]: the verdict — a [`LikelyCause`] or an explicit "no likely
//!   cause found".
//!
//! Every rule is a pure function; the incident worker gathers the inputs
//! (the alert, the diagnostic reports, the host timeline, other incidents),
//! and `/diag`'s delivery the reports and the host timeline.

pub mod cause;
pub mod chain;
pub mod correlation;
pub mod knowledge;
pub mod patterns;
pub mod quoted;
pub mod symptom;
pub mod timeline;

#[cfg(test)]
mod seeds;

pub use cause::{Confidence, Input, LikelyCause, Triage, decide};
pub use knowledge::{Category, Knowledge, KnowledgeError};

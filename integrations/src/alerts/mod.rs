//! Alert sources: verify a webhook came from the vendor, then turn its
//! payload into medic's neutral [`Alert`]s.
//!
//! Each source is one type implementing [`Intake`]: [`sentry::SentryVerifier`],
//! [`pagerduty::PagerDutyVerifier`], [`alertmanager::AlertmanagerVerifier`].
//! The HTTP route (bot's `http::webhooks`) calls [`Intake::accept`] on the
//! raw body, stores the alerts under [`Intake::delivery_id`] — derived from
//! what the signature covers, never from an unsigned header — and answers.
//!
//! The order is fixed: the signature or token is checked over the bytes as
//! received, in constant time, before a byte is parsed — a forged body never
//! reaches the parser, and a re-serialised body could never match the
//! vendor's signature anyway.
//!
//! # Layout
//!
//! - [`json`]: typed reads that name the bad field (`alerts[0].status`).
//! - [`sentry`]: Sentry integration-platform webhooks; `sentry/wire.rs` the
//!   payload shapes, [`sentry::event`] exception chains → root cause and
//!   top frame.
//! - [`pagerduty`]: PagerDuty V3 webhooks, rotating secrets.
//! - [`alertmanager`]: Prometheus Alertmanager's v4 webhook payload.
//! - `signature`: the constant-time HMAC and token comparisons they share.

pub mod alertmanager;
pub mod json;
pub mod pagerduty;
pub mod sentry;
pub(crate) mod signature;

use medic_commands::model::alert::{Alert, AlertSource};

/// One alert source: how its webhooks are verified, read and recognised
/// when the vendor delivers them again.
///
/// Implementations hold their secrets privately and never show them in
/// `Debug` output or in any error.
pub trait Intake {
    /// Which source this is.
    fn source(&self) -> AlertSource;

    /// Checks the signature/token over the raw body, in constant time,
    /// before parsing.
    fn verify(&self, headers: &http::HeaderMap, body: &[u8]) -> Result<(), IntakeError>;

    /// Reads a (verified) body into alerts. One delivery can carry several
    /// (an Alertmanager group); a delivery with nothing to act on is
    /// [`IntakeError::Ignored`].
    fn parse(&self, headers: &http::HeaderMap, body: &[u8]) -> Result<Vec<Alert>, IntakeError>;

    /// The id a redelivery of this (verified) body is recognised by.
    ///
    /// It comes only from what [`verify`](Intake::verify) vouched for —
    /// the signed body, or for a source without signatures its content —
    /// never from a header: headers are not signed, and an id read from
    /// one would let a captured body resent under a new id pass as a new
    /// delivery (flip its incident again, re-run its runbooks). Each
    /// source's module doc says what it keys on and what that costs.
    /// `headers` is for a source whose signature covers a header (as
    /// Slack's covers its timestamp); none of today's does.
    fn delivery_id(&self, headers: &http::HeaderMap, body: &[u8]) -> String;

    /// [`verify`](Intake::verify), then [`parse`](Intake::parse).
    fn accept(&self, headers: &http::HeaderMap, body: &[u8]) -> Result<Vec<Alert>, IntakeError> {
        self.verify(headers, body)?;
        self.parse(headers, body)
    }
}

/// Why a delivery was not turned into alerts. The route branches on the
/// variant (401 / 400 / 200); the text is for the log line and the 400
/// body, and never contains a secret or a signature.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IntakeError {
    /// The signature or token is missing, malformed or does not match.
    /// Why, for the log; the caller only ever hears "invalid signature".
    #[error("not verified: {0}")]
    Unauthorized(String),
    /// The body is verified but does not have the shape the vendor
    /// documents.
    #[error("malformed {field}: {reason}")]
    Malformed {
        /// The field path, e.g. `event.data.id` or `alerts[1].status`;
        /// `body` when the JSON itself is broken.
        field: String,
        /// What is wrong with it.
        reason: String,
    },
    /// Verified and well formed, but nothing an incident is made of (e.g.
    /// "installation event"): acknowledged so the vendor does not retry.
    #[error("ignored: {0}")]
    Ignored(String),
}

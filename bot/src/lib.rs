//! The `medic` binary's library: configuration, the HTTP server, the
//! dispatcher and storage, wired together. Nothing depends on this crate;
//! the tests crate drives it through [`app::App`].
//!
//! # Layout
//!
//! - [`cli`]: the command line (`serve`, `diag`, `console`, `check-config`).
//! - [`settings`]: layered, validated, secret-safe configuration.
//! - [`app`]: [`app::App`] — build from settings, serve until a shutdown
//!   future completes, drain.
//! - [`http`]: routes, body limit, request metrics.
//! - [`dispatch`]: a typed command → an acknowledgement now, a report later.
//! - [`delivery`]: running diagnostics → root message, streamed thread, final edit.
//! - [`single_flight`]: one run per target, shared and watched.
//! - [`incidents`]: alert deliveries → incidents → threads, through a durable outbox.
//! - [`remediation`]: buttons → policy → approval → one run → audit.
//! - [`discord`]: the Discord runtime, its interaction handling, and
//!   gateway mode.
//! - [`lease`]: one holder among replicas (a renewed Redis key).
//! - [`slack`]: the Slack runtime (verifier, Web API client, outbox).
//! - [`outbox`]: per-channel pacing and retry of chat posts.
//! - [`ratelimit`]: the per-person command limit.
//! - [`storage`]: SQLite or PostgreSQL through sqlx, with migrations.
//! - [`telemetry`]: logs and Prometheus metrics.

pub mod app;
pub mod cli;
pub mod delivery;
pub mod discord;
pub mod dispatch;
pub mod http;
pub mod incidents;
pub mod lease;
pub mod outbox;
pub mod ratelimit;
pub mod remediation;
pub mod settings;
pub mod single_flight;
pub mod slack;
pub mod slack_socket;
pub mod storage;
pub mod telemetry;

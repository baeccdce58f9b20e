//! The `medic` binary's library: configuration, the HTTP server, the
//! dispatcher and storage, wired together. Nothing depends on this crate;
//! the tests crate drives it through [`app::App`].
//!
//! # Layout
//!
//! - [`cli`]: the command line (`serve`, `diag`, `console`, `check-config`).
//! - [`settings`]: layered, validated, secret-safe configuration.
//! - [`app`]: [`app::App`] — build from settings, wire the loops, serve
//!   until a shutdown future completes, drain. It only wires.
//! - [`state`]: [`state::AppState`], what the request handlers and the
//!   loops that use most of it share; a loop that needs little gets its
//!   own handle instead ([`outbox::drain::Drain`], [`duty::Lease`]).
//! - [`duty`]: background work one replica does at a time (a lease row).
//! - [`housekeeping`]: the upkeep duty — retention, expiry, recovery.
//! - [`http`]: the router, the server loop, health, metrics and the alert
//!   webhooks; each chat platform's routes live in its folder.
//! - [`chat`]: one folder per chat platform ([`chat::slack`],
//!   [`chat::discord`], [`chat::console`]): its runtime, inbound handlers
//!   and outbox sender.
//! - [`dispatch`]: a typed command → an acknowledgement now, a report later.
//! - [`coalesce`]: commands whose report is on its way, by channel and
//!   target.
//! - [`delivery`]: running diagnostics → root message, streamed thread, final edit.
//! - [`single_flight`]: one run per target, shared and watched.
//! - [`incidents`]: alert deliveries → incidents (decided by plain
//!   functions, [`incidents::decide`]) → messages in the outbox.
//! - [`remediation`]: buttons → policy → approval → one run → audit
//!   ([`remediation::flow::handle`] is where every button press lands).
//! - [`oncall`]: who holds each pager now, `/oncall` and `/handoff`, the
//!   handoff digest at each handover, "I've got it" and its reminders.
//! - [`clock`]: the time schedules run on (a test moves it).
//! - [`outbox`]: the durable outbox's drain, and each platform's pace.
//! - [`lease`]: one holder among replicas (a renewed Redis key).
//! - [`ratelimit`]: the per-person command limit; [`budget`]: spending
//!   it, locally or across replicas ([`cluster`], with `[redis]`).
//! - [`storage`]: SQLite or PostgreSQL through sqlx, with migrations.
//! - [`telemetry`]: logs and Prometheus metrics.

pub mod app;
pub mod budget;
pub mod chat;
pub mod cli;
pub mod clock;
pub mod cluster;
pub mod coalesce;
pub mod delivery;
pub mod dispatch;
pub mod duty;
pub mod housekeeping;
pub mod http;
pub mod incidents;
pub mod lease;
pub mod oncall;
pub mod outbox;
pub mod ratelimit;
pub mod remediation;
pub mod settings;
pub mod single_flight;
pub mod state;
pub mod storage;
pub mod telemetry;

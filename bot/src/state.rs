//! What every request handler and background loop shares: the settings,
//! the database, each platform's runtime, the limits, the outbox's
//! handle. [`crate::app`] builds it and wires the loops; handlers take an
//! [`AppState`] (a cheap clone).

use std::collections::BTreeMap;
use std::ops::Deref;
use std::sync::Arc;

use medic_commands::diagnostics::Target;
use medic_integrations::alerts::sentry::api::SentryApi;
use tokio::sync::{Notify, Semaphore};
use tokio_util::task::TaskTracker;

use crate::chat::console::ConsoleRuntime;
use crate::chat::discord::DiscordRuntime;
use crate::chat::slack::SlackRuntime;
use crate::coalesce::InFlight;
use crate::http::intakes::Intakes;
use crate::outbox::Outbox;
use crate::ratelimit::CommandLimiter;
use crate::settings::Settings;
use crate::single_flight::DiagnosticRuns;
use crate::storage::Store;
use crate::storage::deliveries::Ingest;
use crate::telemetry::metrics::Metrics;

/// What every request handler and background job shares.
#[derive(Debug)]
pub struct Shared {
    /// The validated configuration.
    pub settings: Settings,
    /// The database.
    pub store: Store,
    /// Prometheus metrics.
    pub metrics: Arc<Metrics>,
    /// Slack, when configured.
    pub slack: Option<Arc<SlackRuntime>>,
    /// Discord, when configured.
    pub discord: Option<Arc<DiscordRuntime>>,
    /// The terminal, under `medic console`.
    pub console: Option<Arc<ConsoleRuntime>>,
    /// Targets by the name users type.
    pub targets: BTreeMap<String, Target>,
    /// The per-person command limit, on this replica.
    pub limiter: CommandLimiter,
    /// With `[redis]`: the per-person limit and the `/diag`s in flight
    /// across replicas.
    pub cluster: Option<crate::cluster::Cluster>,
    /// Diagnostic runs in progress, shared by the commands that ask for
    /// the same target meanwhile; bounds how many run at once.
    pub diagnostics: DiagnosticRuns,
    /// One permit per accepted command until its report is delivered:
    /// the bound past which commands are answered "busy".
    pub pending: Arc<Semaphore>,
    /// Diagnostics running now, for coalescing.
    pub in_flight: InFlight,
    /// Background jobs; shutdown waits for them.
    pub tasks: TaskTracker,
    /// Commits alert deliveries, batched.
    pub ingest: Ingest,
    /// The configured alert sources' verifiers and parsers.
    pub intakes: Intakes,
    /// Wakes the incident worker when a runbook job is queued or a
    /// delivery is left pending.
    pub incident_wake: Arc<Notify>,
    /// The durable outbox's handle: wakes its drain, tells waiters how
    /// their rows ended.
    pub outbox: Arc<Outbox>,
    /// The duties this replica holds ([`crate::duty`]).
    pub duties: crate::duty::held::Duties,
    /// The turns of rotations read from PagerDuty, as last read.
    pub schedules: Arc<crate::oncall::pagerduty::Schedules>,
    /// The time schedules run on (handovers, reminders, who is on call);
    /// a test moves it.
    pub clock: crate::clock::Clock,
    /// Sentry's API, when `sentry.auth_token` is set: triage fetches an
    /// issue's latest event from it when the webhook did not carry one.
    pub sentry_api: Option<SentryApi>,
}

/// A cheap handle to [`Shared`].
#[derive(Debug, Clone)]
pub struct AppState(Arc<Shared>);

impl AppState {
    /// A handle to `shared`.
    pub fn new(shared: Shared) -> AppState {
        AppState(Arc::new(shared))
    }

    /// What the duties' runner needs of it ([`crate::duty::Lease`]).
    pub fn lease(&self) -> crate::duty::Lease {
        crate::duty::Lease {
            store: self.store.clone(),
            duties: self.duties.clone(),
            metrics: self.metrics.clone(),
        }
    }
}

impl Deref for AppState {
    type Target = Shared;
    fn deref(&self) -> &Shared {
        &self.0
    }
}

//! The running medic: built from settings, bound to a listener, stopped by
//! a future. `main` passes SIGINT/SIGTERM; tests pass a channel.
//!
//! Shutdown order: stop accepting HTTP requests and close the Discord
//! gateway (releasing its lock), let running diagnostics
//! finish and their reports reach chat (up to `server.shutdown_grace`), then
//! close the database.

use medic_integrations::alerts::sentry::api::SentryApi;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use medic_commands::diagnostics::Target;
use tokio::net::TcpListener;
use tokio::sync::{Notify, Semaphore};
use tokio_util::sync::CancellationToken;
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
use crate::state::{AppState, Shared};
use crate::storage::Store;
use crate::storage::deliveries::Ingest;
use crate::telemetry::metrics::Metrics;

/// A built, bound, not yet serving medic.
pub struct App {
    listener: TcpListener,
    state: AppState,
    /// The PagerDuty schedules' loop, when there is one to run.
    refresh: Option<crate::oncall::refresh::Refresh>,
}

impl App {
    /// Binds the listener, opens (and migrates) the database and builds the
    /// platform clients.
    pub async fn build(settings: Settings) -> anyhow::Result<App> {
        App::build_with(settings, None).await
    }

    /// [`App::build`], with the terminal as a chat platform (`medic
    /// console`): every incident goes to its one channel.
    pub async fn build_with(
        settings: Settings,
        console: Option<ConsoleRuntime>,
    ) -> anyhow::Result<App> {
        // Whatever this medic posts or logs, its own secrets are masked.
        medic_commands::redact::configure(&settings.secrets());
        let listener = crate::http::listen(settings.server.bind)
            .with_context(|| format!("cannot listen on {} (server.bind)", settings.server.bind))?;
        let store = Store::connect(&settings.database.url).await?;
        let metrics = Arc::new(Metrics::new());
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            // As many idle connections as the outbox has calls in flight.
            .pool_max_idle_per_host(crate::outbox::pace::CONCURRENT_CALLS)
            .build()
            .context("building the HTTP client")?;
        let slack = match &settings.slack {
            Some(s) => Some(Arc::new(SlackRuntime::new(
                s,
                metrics.clone(),
                http.clone(),
            )?)),
            None => None,
        };
        let discord = match &settings.discord {
            Some(d) => Some(Arc::new(DiscordRuntime::new(
                d,
                metrics.clone(),
                http.clone(),
            )?)),
            None => None,
        };
        let sentry_api = settings.alerts.sentry.as_ref().and_then(|s| {
            use secrecy::ExposeSecret;
            let token = s.auth_token.as_ref()?.expose_secret().to_string();
            Some(SentryApi::new(s.api_url.clone(), token, http.clone()))
        });
        let (clock, schedules) = (crate::clock::Clock::default(), Arc::default());
        let pagerduty_reader = settings.alerts.pagerduty.as_ref().and_then(|p| {
            Some(crate::oncall::pagerduty::Reader {
                http: http.clone(),
                url: p.api_url.clone(),
                token: p.api_token.clone()?,
            })
        });
        let refresh = crate::oncall::refresh::Refresh::new(
            pagerduty_reader,
            &settings.oncall,
            Arc::clone(&schedules),
            clock.clone(),
        );
        let targets = settings
            .targets
            .iter()
            .map(|(name, spec)| {
                (
                    name.clone(),
                    Target {
                        name: name.clone(),
                        spec: spec.clone(),
                    },
                )
            })
            .collect();
        let limits = settings.limits;
        let (incident_wake, outbox) = (Arc::new(Notify::new()), Arc::new(Outbox::new()));
        let platforms = crate::incidents::Platforms {
            slack: slack.is_some(),
            discord: discord.is_some(),
            console: console.is_some(),
        };
        let applier = crate::incidents::Applier::new(
            settings.alerts.clone(),
            platforms,
            incident_wake.clone(),
            outbox.clone(),
        );
        let cluster = match &settings.redis {
            Some(url) => Some(crate::cluster::Cluster::new(url, &limits)?),
            None => None,
        };
        let state = AppState::new(Shared {
            limiter: CommandLimiter::new(limits.commands_per_minute, limits.command_burst),
            cluster,
            diagnostics: DiagnosticRuns::new(limits.concurrent_diagnostics, metrics.clone()),
            pending: Arc::new(Semaphore::new(limits.pending_commands.max(1))),
            in_flight: InFlight::default(),
            tasks: TaskTracker::new(),
            ingest: Ingest::start_applying(store.clone(), Arc::new(applier)),
            incident_wake,
            intakes: Intakes::new(&settings.alerts),
            outbox,
            settings,
            store,
            metrics,
            slack,
            discord,
            console: console.map(Arc::new),
            targets,
            sentry_api,
            duties: crate::duty::held::Duties::new(),
            clock,
            schedules,
        });
        Ok(App {
            listener,
            state,
            refresh,
        })
    }

    /// The address actually bound (port 0 picks a free one).
    pub fn local_addr(&self) -> SocketAddr {
        self.listener
            .local_addr()
            .expect("a bound listener has an address")
    }

    /// The shared state, for tests that look inside.
    pub fn state(&self) -> &AppState {
        &self.state
    }

    /// Serves until `shutdown` completes, then drains and closes.
    pub async fn run_until_stopped(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> anyhow::Result<()> {
        let App {
            listener,
            state,
            refresh,
        } = self;
        let housekeeping = CancellationToken::new();
        // Every replica forgets its own idle limiters and reads the
        // schedules it answers `/oncall` from; the rest is a duty, done by
        // one replica at a time (`crate::duty`).
        tokio::spawn(crate::housekeeping::forget_idle_limiters(
            state.clone(),
            housekeeping.clone(),
        ));
        let presence_stop = CancellationToken::new();
        let presence = tokio::spawn(crate::duty::presence(state.lease(), presence_stop.clone()));
        if let Some(refresh) = refresh {
            tokio::spawn(crate::oncall::refresh::run(refresh, housekeeping.clone()));
        }
        let stop = &housekeeping;
        use crate::duty::{Duty, run as duty};
        tokio::spawn(duty(
            state.lease(),
            Duty::Incidents,
            stop.clone(),
            state.clone(),
            crate::incidents::worker::run,
        ));
        tokio::spawn(duty(
            state.lease(),
            Duty::Reminders,
            stop.clone(),
            state.clone(),
            crate::incidents::remind::run,
        ));
        tokio::spawn(duty(
            state.lease(),
            Duty::Handoffs,
            stop.clone(),
            state.clone(),
            crate::oncall::schedule::run,
        ));
        tokio::spawn(duty(
            state.lease(),
            Duty::Housekeeping,
            stop.clone(),
            state.clone(),
            crate::housekeeping::run,
        ));
        // The outbox drains until the reports of running diagnostics are
        // in chat (or the grace runs out): it stops last.
        let outbox_stop = CancellationToken::new();
        let drain = crate::outbox::drain::Drain {
            store: state.store.clone(),
            outbox: state.outbox.clone(),
            metrics: state.metrics.clone(),
            give_up_after: state.settings.outbox.give_up_after,
            digest_after: state.settings.alerts.incidents.digest_after,
            slack: state.slack.clone(),
            discord: state.discord.clone(),
            console: state.console.clone(),
        };
        let outbox = tokio::spawn(duty(
            state.lease(),
            Duty::Outbox,
            outbox_stop.clone(),
            drain,
            crate::outbox::drain::run,
        ));
        // Commands accepted before the last stop (or by a replica that
        // is gone), never reported.
        crate::duty::present(&state.lease()).await;
        crate::delivery::recover(&state).await;
        tokio::spawn(crate::chat::slack::socket::run(
            state.clone(),
            housekeeping.clone(),
        ));

        // The Discord gateway stops taking interactions when the HTTP
        // server does — as soon as shutdown begins, not after its drain.
        let stopping = CancellationToken::new();
        let mut gateway = tokio::spawn(crate::chat::discord::gateway::run(
            state.clone(),
            stopping.clone(),
        ));
        let shutdown = {
            let stopping = stopping.clone();
            async move {
                shutdown.await;
                stopping.cancel();
            }
        };

        let limits = crate::http::Limits {
            max_connections: state.settings.server.max_connections,
            request_timeout: state.settings.server.request_timeout,
        };
        crate::http::serve(
            listener,
            crate::http::router(state.clone()),
            limits,
            state.metrics.clone(),
            shutdown,
        )
        .await;
        stopping.cancel();
        // Closing the shard waits up to 5 s for Discord (serenity); the
        // lease is released after it.
        if tokio::time::timeout(Duration::from_secs(15), &mut gateway)
            .await
            .is_err()
        {
            gateway.abort();
            tracing::warn!("The Discord gateway did not close in time.");
        }

        tracing::info!("Stopped accepting requests; finishing running diagnostics.");
        housekeeping.cancel();
        state.tasks.close();
        let grace = state.settings.server.shutdown_grace;
        if tokio::time::timeout(grace, state.tasks.wait())
            .await
            .is_err()
        {
            tracing::warn!(
                unfinished = state.tasks.len(),
                grace_secs = grace.as_secs(),
                "Shutdown grace ran out; reports still running or waiting in the outbox are delivered after the restart."
            );
        }
        outbox_stop.cancel();
        if tokio::time::timeout(Duration::from_secs(15), outbox)
            .await
            .is_err()
        {
            tracing::warn!(
                "The outbox did not stop in time; what it holds is sent after the restart."
            );
        }
        // Present until its commands are run or left: what is left is
        // another replica's (or the next start's) to run again.
        presence_stop.cancel();
        let _ = presence.await;
        state.store.close().await;
        tracing::info!("medic stopped.");
        Ok(())
    }
}

/// Resolves on SIGINT (Ctrl-C) or SIGTERM (systemd, Kubernetes).
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => tracing::info!("SIGINT received; shutting down."),
        _ = term => tracing::info!("SIGTERM received; shutting down."),
    }
}

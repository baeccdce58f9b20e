//! `medic serve`: the HTTP server, with first log lines that say what is
//! configured and what is not (and how to add it).

use std::path::Path;

use crate::app::{App, shutdown_signal};
use crate::settings::Settings;

pub async fn run(config: Option<&Path>) -> u8 {
    // serenity's own info lines (every shard boot and heartbeat) would
    // bury medic's; its warnings still show.
    crate::telemetry::init("info,serenity=warn");
    let Some(loaded) = super::load_or_report(config) else {
        return super::EXIT_USAGE;
    };
    for w in &loaded.warnings {
        tracing::warn!(key = %w.key, "Configuration: {}", w.message);
    }
    let settings = loaded.settings;
    announce(&settings);
    let app = match App::build(settings).await {
        Ok(app) => app,
        Err(error) => {
            tracing::error!("medic could not start: {error:#}");
            return 1;
        }
    };
    tracing::info!(
        "medic {} listening on http://{} (GET /healthz, /readyz, /metrics).",
        env!("CARGO_PKG_VERSION"),
        app.local_addr()
    );
    match app.run_until_stopped(shutdown_signal()).await {
        Ok(()) => 0,
        Err(error) => {
            tracing::error!("medic stopped with an error: {error:#}");
            1
        }
    }
}

/// The first lines an operator reads: what is on, what is off, what next.
fn announce(s: &Settings) {
    match &s.source {
        Some(p) => tracing::info!("Configuration: {}.", p.display()),
        None => tracing::info!(
            "Configuration: no file found, using defaults (create medic.toml or pass --config)."
        ),
    }
    tracing::info!(
        "Database: {} (migrations are applied at start).",
        s.database.url
    );
    match &s.slack {
        Some(slack) => tracing::info!(
            "Slack: configured; slash commands at POST /slack/commands, Web API at {}.",
            slack.api_url
        ),
        None => tracing::warn!(
            "Slack: not configured. Set slack.signing_secret and slack.bot_token in medic.toml \
             (or MEDIC__SLACK__SIGNING_SECRET and MEDIC__SLACK__BOT_TOKEN) to answer /diag in Slack. \
             Meanwhile, `medic console` is a local chat."
        ),
    }
    match &s.discord {
        Some(d) if d.gateway => tracing::info!(
            "Discord: configured in gateway mode; interactions over the gateway{}, REST API at {}. \
             Run `medic discord register` once to create /diag, and leave the Interactions Endpoint URL empty.",
            if s.redis.is_some() {
                " (one replica at a time: a lock in [redis])"
            } else {
                ""
            },
            d.api_url
        ),
        Some(d) => tracing::info!(
            "Discord: configured; interactions at POST /discord/interactions, REST API at {}. \
             Run `medic discord register` once to create /diag.",
            d.api_url
        ),
        None => {}
    }
    for section in &s.not_yet_served {
        tracing::warn!(
            "[{section}] is configured but not served by this version of medic; it is ignored."
        );
    }
    let targets: Vec<String> = s
        .targets
        .iter()
        .map(|(n, t)| format!("{n} → {} {}", t.kind(), t.location()))
        .collect();
    if s.default_targets {
        tracing::info!(
            "Targets (defaults): {}. Add [targets.NAME] sections to name your own.",
            targets.join(", ")
        );
    } else {
        tracing::info!("Targets: {}.", targets.join(", "));
    }
    let a = &s.alerts;
    let sources = a.sources();
    if sources.is_empty() {
        tracing::info!(
            "Alerts: no source configured; add [sentry], [pagerduty] or [alertmanager] to open incident threads from alerts."
        );
    } else {
        let routes = if a.routes.is_empty() {
            " No [[routes]]: incidents are recorded but posted nowhere.".to_string()
        } else {
            String::new()
        };
        tracing::info!(
            "Alerts: POST /webhooks/{{{}}}; {} routes, {} runbooks.{routes}",
            sources.join(","),
            a.routes.len(),
            a.runbooks.len()
        );
    }
}

//! Logs and metrics, set up once.
//!
//! Logs are `tracing` events to stderr, each line through the one
//! redactor ([`redacting`]), filtered by `RUST_LOG` (default
//! `info` for the server, `warn` for one-shot commands so a report is not
//! buried in log lines). Metrics are Prometheus counters and histograms in
//! [`metrics::Metrics`], served at `GET /metrics`.

pub mod metrics;
pub mod redacting;

use tracing_subscriber::EnvFilter;

/// Installs the global log subscriber. `default` applies when `RUST_LOG`
/// is unset. Safe to call more than once (later calls do nothing), so tests
/// that spawn several medics in one process can all call it.
pub fn init(default: &str) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(redacting::Redacting(std::io::stderr))
        .with_target(false)
        .try_init();
}

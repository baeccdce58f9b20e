//! Prometheus metrics: what an operator graphs and alerts on. Each metric
//! is recorded through a method named for the event, so call sites read as
//! what happened, and label values come from closed sets (never user input,
//! which would explode the series count).

use std::time::Duration;

use medic_commands::model::inbound::Platform;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct HttpLabels {
    route: &'static str,
    status: u16,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct AckLabels {
    platform: &'static str,
    outcome: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct DiagLabels {
    kind: String,
    status: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct TableLabels {
    table: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct PostLabels {
    platform: &'static str,
    outcome: &'static str,
}

/// How a slash command was answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AckOutcome {
    /// A diagnostic was started.
    Accepted,
    /// The same diagnostic was already running in that channel.
    Coalesced,
    /// Help, an unknown command or target.
    Help,
    /// The person hit the per-user limit.
    RateLimited,
    /// Too many diagnostics were already waiting.
    Busy,
    /// medic could not record the command (database down).
    Failed,
    /// Answered at once with what was asked (`/oncall`, `/handoff`,
    /// `/incident`).
    Answered,
    /// Not allowed by the policy, or refused by an incident's source.
    Refused,
}

impl AckOutcome {
    /// Every outcome, in the order of [`AckOutcome::index`].
    const ALL: [AckOutcome; 8] = [
        AckOutcome::Accepted,
        AckOutcome::Coalesced,
        AckOutcome::Help,
        AckOutcome::RateLimited,
        AckOutcome::Busy,
        AckOutcome::Failed,
        AckOutcome::Answered,
        AckOutcome::Refused,
    ];

    fn index(self) -> usize {
        match self {
            AckOutcome::Accepted => 0,
            AckOutcome::Coalesced => 1,
            AckOutcome::Help => 2,
            AckOutcome::RateLimited => 3,
            AckOutcome::Busy => 4,
            AckOutcome::Failed => 5,
            AckOutcome::Answered => 6,
            AckOutcome::Refused => 7,
        }
    }

    fn as_str(self) -> &'static str {
        match self {
            AckOutcome::Accepted => "accepted",
            AckOutcome::Coalesced => "coalesced",
            AckOutcome::Help => "help",
            AckOutcome::RateLimited => "rate_limited",
            AckOutcome::Busy => "busy",
            AckOutcome::Failed => "failed",
            AckOutcome::Answered => "answered",
            AckOutcome::Refused => "refused",
        }
    }
}

/// What kind of chat request was refused for coming from a workspace or
/// server outside `slack.teams` / `discord.guilds`: a closed set, so the
/// label cannot be made to grow by what a stranger sends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RequestKind {
    /// A slash command (`/diag`, `/oncall`…).
    Command,
    /// An `@medic` mention (Slack's Events API).
    Mention,
    /// A button click (Slack `block_actions`, a Discord component).
    Click,
    /// Discord typing a command's option (autocomplete).
    Autocomplete,
    /// Any other interaction (a Discord modal, a type medic does not know).
    Other,
}

impl RequestKind {
    /// The label value.
    pub fn as_str(self) -> &'static str {
        match self {
            RequestKind::Command => "command",
            RequestKind::Mention => "mention",
            RequestKind::Click => "click",
            RequestKind::Autocomplete => "autocomplete",
            RequestKind::Other => "other",
        }
    }
}

/// Why the HTTP server closed a connection it had not finished with
/// (`medic_http_connections_shed_total{reason}`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shed {
    /// At the connection cap: an open connection that waited longest on
    /// its client was closed to make room for a new one.
    Evicted,
    /// At the connection cap with every connection running a request: the
    /// new one was closed at once.
    Refused,
}

impl Shed {
    fn as_str(self) -> &'static str {
        match self {
            Shed::Evicted => "evicted",
            Shed::Refused => "refused",
        }
    }
}

/// Labels of `medic_chat_refused_total`.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RefusedLabels {
    platform: &'static str,
    kind: &'static str,
}

/// Labels of `medic_http_connections_shed_total`.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ShedLabels {
    reason: &'static str,
}

/// The platforms, in the order of [`platform_index`].
const PLATFORMS: [Platform; 3] = [Platform::Slack, Platform::Discord, Platform::Console];

fn platform_index(platform: Platform) -> usize {
    match platform {
        Platform::Slack => 0,
        Platform::Discord => 1,
        Platform::Console => 2,
    }
}

/// All of medic's metrics.
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    http_requests: Family<HttpLabels, Counter>,
    connections_shed: Family<ShedLabels, Counter>,
    /// `command_acks`' series resolved once, by platform and outcome: an
    /// ack is then one atomic add, not a locked map lookup.
    ack_counters: [[Counter; AckOutcome::ALL.len()]; PLATFORMS.len()],
    ack_seconds: Histogram,
    diagnostic_seconds: Family<DiagLabels, Histogram>,
    chat_posts: Family<PostLabels, Counter>,
    reports: Family<PostLabels, Counter>,
    alert_deliveries: Family<AlertLabels, Counter>,
    incident_digests: Counter,
    deliveries_parked: Counter,
    jobs_parked: Counter,
    retention_deleted: Family<TableLabels, Counter>,
    outbox_failed: Family<FailedLabels, Counter>,
    duties: Family<DutyLabels, Gauge>,
    chat_refused: Family<RefusedLabels, Counter>,
}

/// Labels of `medic_duty_held`.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct DutyLabels {
    duty: &'static str,
}

/// Labels of `medic_outbox_failed_total`.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct FailedLabels {
    platform: &'static str,
    reason: &'static str,
}

/// Labels of `medic_alert_deliveries_total`.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct AlertLabels {
    source: &'static str,
    outcome: &'static str,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    /// A fresh registry with every metric registered.
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix("medic");
        let http_requests = Family::<HttpLabels, Counter>::default();
        registry.register(
            "http_requests",
            "HTTP requests by route and status",
            http_requests.clone(),
        );
        let connections_shed = Family::<ShedLabels, Counter>::default();
        registry.register(
            "http_connections_shed",
            "HTTP connections closed at the connection cap (server.max_connections): evicted (waited longest on its client, closed to make room) or refused (every connection was running a request)",
            connections_shed.clone(),
        );
        // Shown at 0 from the start, so a rate over them has a series.
        for why in [Shed::Evicted, Shed::Refused] {
            drop(connections_shed.get_or_create(&ShedLabels {
                reason: why.as_str(),
            }));
        }
        let command_acks = Family::<AckLabels, Counter>::default();
        registry.register(
            "slash_command_acks",
            "Slash commands answered, by platform and outcome",
            command_acks.clone(),
        );
        // 0.5 ms … ~4 s: the ack must stay far below the platforms' 3 s.
        let ack_seconds = Histogram::new(exponential_buckets(0.0005, 2.0, 14));
        registry.register(
            "slash_command_ack_seconds",
            "Time from request to acknowledgement of a slash command",
            ack_seconds.clone(),
        );
        let diagnostic_seconds = Family::<DiagLabels, Histogram>::new_with_constructor(|| {
            Histogram::new(exponential_buckets(0.001, 2.0, 15))
        });
        registry.register(
            "diagnostic_duration_seconds",
            "How long diagnostics took, by target kind and resulting status",
            diagnostic_seconds.clone(),
        );
        let chat_posts = Family::<PostLabels, Counter>::default();
        registry.register(
            "chat_posts",
            "Calls to post chat messages, by platform and outcome (ok, rate_limited, retried, failed)",
            chat_posts.clone(),
        );
        let ack_counters = PLATFORMS.map(|platform| {
            AckOutcome::ALL.map(|outcome| {
                command_acks
                    .get_or_create(&AckLabels {
                        platform: platform.as_str(),
                        outcome: outcome.as_str(),
                    })
                    .clone()
            })
        });
        let reports = Family::<PostLabels, Counter>::default();
        registry.register(
            "reports",
            "Accepted commands whose report reached chat (delivered) or could not (failed), by platform",
            reports.clone(),
        );
        let alert_deliveries = Family::<AlertLabels, Counter>::default();
        registry.register(
            "alert_deliveries",
            "Alert webhook deliveries by source and outcome (stored, duplicate, ignored, unauthorized, malformed, failed)",
            alert_deliveries.clone(),
        );
        let incident_digests = Counter::default();
        registry.register(
            "incident_digests",
            "Digest messages posted for alert storms (many new incidents in one channel at once)",
            incident_digests.clone(),
        );
        let outbox_failed = Family::<FailedLabels, Counter>::default();
        registry.register(
            "outbox_failed",
            "Chat messages marked failed in the outbox, by platform and reason (rejected: the platform refused it; gave_up: undelivered for outbox.give_up_after; orphaned: what it belongs under was not posted)",
            outbox_failed.clone(),
        );
        let deliveries_parked = Counter::default();
        registry.register(
            "deliveries_parked",
            "Alert deliveries parked after failing to apply several times (kept in the database with their error; the ones behind them go on)",
            deliveries_parked.clone(),
        );
        let jobs_parked = Counter::default();
        registry.register(
            "jobs_parked",
            "Incident jobs (runbooks, action buttons, postmortem drafts) parked after failing several times (kept with their error for `medic status`; the ones behind them go on)",
            jobs_parked.clone(),
        );
        let retention_deleted = Family::<TableLabels, Counter>::default();
        registry.register(
            "retention_deleted",
            "Rows the retention sweep deleted, by what they were ([retention]: deliveries, outbox, command_runs, incidents, requests)",
            retention_deleted.clone(),
        );
        let duties = Family::<DutyLabels, Gauge>::default();
        registry.register(
            "duty_held",
            "1 for each duty this replica holds now (incidents, outbox, reminders, handoffs, housekeeping), 0 for the others: one replica holds each",
            duties.clone(),
        );
        let chat_refused = Family::<RefusedLabels, Counter>::default();
        registry.register(
            "chat_refused",
            "Chat requests refused because they came from a Slack workspace not in slack.teams or a Discord server not in discord.guilds (or a DM), by platform and kind",
            chat_refused.clone(),
        );
        Metrics {
            registry,
            chat_refused,
            duties,
            outbox_failed,
            alert_deliveries,
            incident_digests,
            deliveries_parked,
            jobs_parked,
            retention_deleted,
            http_requests,
            connections_shed,
            ack_counters,
            ack_seconds,
            diagnostic_seconds,
            chat_posts,
            reports,
        }
    }

    /// Whether this replica holds `duty` now.
    pub fn duty(&self, duty: &'static str, held: bool) {
        self.duties
            .get_or_create(&DutyLabels { duty })
            .set(i64::from(held));
    }

    /// An HTTP request finished. `route` is the matched route template.
    pub fn http_request(&self, route: &'static str, status: u16) {
        self.http_requests
            .get_or_create(&HttpLabels { route, status })
            .inc();
    }

    /// The HTTP server closed a connection at its cap.
    pub fn http_connection_shed(&self, why: Shed) {
        self.connections_shed
            .get_or_create(&ShedLabels {
                reason: why.as_str(),
            })
            .inc();
    }

    /// A slash command was acknowledged after `took`.
    pub fn command_ack(&self, platform: Platform, outcome: AckOutcome, took: Duration) {
        self.ack_counters[platform_index(platform)][outcome.index()].inc();
        self.ack_seconds.observe(took.as_secs_f64());
    }

    /// A diagnostic finished.
    pub fn diagnostic(&self, kind: &str, status: medic_commands::Status, took: Duration) {
        self.diagnostic_seconds
            .get_or_create(&DiagLabels {
                kind: kind.to_string(),
                status: status.word(),
            })
            .observe(took.as_secs_f64());
    }

    /// A chat API call finished with `outcome`.
    pub fn chat_post(&self, platform: &'static str, outcome: &'static str) {
        self.chat_posts
            .get_or_create(&PostLabels { platform, outcome })
            .inc();
    }

    /// An accepted command's report reached chat, or finally could not.
    /// Equal to the accepted count once medic is idle: nothing is lost.
    pub fn report_finished(&self, platform: Platform, delivered: bool) {
        self.reports
            .get_or_create(&PostLabels {
                platform: platform.as_str(),
                outcome: if delivered { "delivered" } else { "failed" },
            })
            .inc();
    }

    /// An alert delivery was answered with `outcome`.
    pub fn alert_delivery(&self, source: &'static str, outcome: &'static str) {
        self.alert_deliveries
            .get_or_create(&AlertLabels { source, outcome })
            .inc();
    }

    /// An outbox message was marked failed, for `reason` (`rejected`,
    /// `gave_up`, `orphaned`).
    pub fn outbox_failed(&self, platform: Platform, reason: &'static str) {
        self.outbox_failed
            .get_or_create(&FailedLabels {
                platform: platform.as_str(),
                reason,
            })
            .inc();
    }

    /// An incident job was parked ([`crate::incidents::worker`]).
    pub fn job_parked(&self) {
        self.jobs_parked.inc();
    }

    /// The retention sweep deleted `rows` of `table`.
    pub fn retention_deleted(&self, table: &'static str, rows: u64) {
        self.retention_deleted
            .get_or_create(&TableLabels { table })
            .inc_by(rows);
    }

    /// A chat request from outside the allow-list was refused.
    pub fn chat_refused(&self, platform: Platform, kind: RequestKind) {
        self.chat_refused
            .get_or_create(&RefusedLabels {
                platform: platform.as_str(),
                kind: kind.as_str(),
            })
            .inc();
    }

    /// A delivery was parked ([`crate::incidents::worker`]).
    pub fn delivery_parked(&self) {
        self.deliveries_parked.inc();
    }

    /// A storm's new incidents were folded into one digest.
    pub fn incident_digest(&self) {
        self.incident_digests.inc();
    }

    /// The Prometheus text exposition.
    pub fn encode(&self) -> String {
        let mut out = String::new();
        prometheus_client::encoding::text::encode(&mut out, &self.registry)
            .expect("writing to a String cannot fail");
        out
    }
}

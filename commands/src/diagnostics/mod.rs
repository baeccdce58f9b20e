//! Built-in diagnostics: one file per target kind behind one small trait.
//!
//! A target in config is a closed enum tagged by `kind` ([`TargetSpec`]), so
//! an unknown kind is a config error, and the exhaustive `match` in
//! [`for_each_kind!`] is the registry: adding a diagnostic is a new file, a
//! new variant and a new arm, all checked by the compiler.
//!
//! A diagnostic is a set of [`Check`]s. They all start at once and each has
//! the target's timeout, so a `/diag` takes as long as its slowest check,
//! not the sum, and a hung check is reported by name while the others
//! still answer. [`Target::start`] yields each check's findings as it
//! finishes, so chat and the terminal can show results while the rest run.
//!
//! Every diagnostic turns failure into findings: a dead target is "connection
//! refused by 127.0.0.1:6399", never an error value or a silent gap.

pub mod dns;
pub mod docker;
pub mod ecs;
pub mod host;
pub mod http;
pub mod kubernetes;
pub mod net;
pub mod postgres;
pub mod redis;
pub mod tcp;
#[cfg(test)]
mod testcerts;
pub mod tls;

use std::collections::BTreeMap;
use std::fmt;
use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::FutureExt;
use futures::future::BoxFuture;
use futures::stream::BoxStream;
use futures::stream::{FuturesUnordered, Stream, StreamExt};
use serde::Deserialize;
use url::Url;

use crate::model::alert::Alert;
use crate::model::report::{Finding, Report, Status, TargetRef};
use crate::redact::Redactor;

/// One kind of diagnostic, implemented by its target's config type.
pub trait Diagnostic {
    /// The kind name, as written in config (`kind = "redis"`).
    const KIND: &'static str;

    /// Where the target is, free of credentials (`127.0.0.1:6379`).
    fn location(&self) -> String;

    /// The most each check may take; past it, that check is reported as
    /// not answering. Checks run at once, so this also bounds the whole.
    fn timeout(&self) -> Duration;

    /// Secrets in this target's config, so that they are masked wherever an
    /// error text might echo them.
    fn redactor(&self) -> Redactor;

    /// The checks of one run, not yet started. Each must not fail: a
    /// failure to reach or query the target is itself a finding. Checks
    /// that depend on a shared step (one connection) share it through a
    /// shared future, and only one of them reports that step's failure.
    fn checks(&self) -> Vec<Check>;
}

/// One independently timed part of a diagnostic: a connection and PING, a
/// disk survey, a lock query.
pub struct Check {
    /// The id of the finding written when it does not answer in time
    /// (`redis.session`).
    pub id: &'static str,
    /// What it asks, for that finding: "PING and INFO".
    pub what: String,
    /// The status of that finding: unknown by default (the check could not
    /// tell), critical for the check whose silence *is* the outage.
    pub when_silent: Status,
    /// A line under that finding saying what such silence usually means.
    pub silence_hint: Option<&'static str>,
    run: BoxFuture<'static, Vec<Finding>>,
}

impl Check {
    /// A check that runs `fut`.
    pub fn new(
        id: &'static str,
        what: impl Into<String>,
        fut: impl Future<Output = Vec<Finding>> + Send + 'static,
    ) -> Self {
        Check {
            id,
            what: what.into(),
            when_silent: Status::Unknown,
            silence_hint: None,
            run: fut.boxed(),
        }
    }

    /// Marks this check as the one whose silence means the target is down.
    pub fn critical_when_silent(mut self) -> Self {
        self.when_silent = Status::Critical;
        self
    }

    /// Adds what silence from this check usually means.
    pub fn silence_hint(mut self, hint: &'static str) -> Self {
        self.silence_hint = Some(hint);
        self
    }

    /// Runs the check within `limit`; past it, one finding says what did
    /// not answer.
    async fn bounded(self, limit: Duration, location: &str) -> Vec<Finding> {
        match tokio::time::timeout(limit, self.run).await {
            Ok(findings) => findings,
            Err(_) => {
                let finding = Finding::new(
                    self.id,
                    self.when_silent,
                    format!(
                        "{} on {location}: no answer within {}",
                        self.what,
                        crate::format::human_duration(limit)
                    ),
                );
                vec![match self.silence_hint {
                    Some(hint) => finding.with_detail(hint),
                    None => finding,
                }]
            }
        }
    }
}

impl fmt::Debug for Check {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Check")
            .field("id", &self.id)
            .field("what", &self.what)
            .finish_non_exhaustive()
    }
}

/// A target's config, tagged by `kind`. New kinds are added here and in
/// [`for_each_kind!`].
#[derive(Debug, Clone, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum TargetSpec {
    /// A Redis server.
    Redis(redis::RedisTarget),
    /// A PostgreSQL server.
    Postgres(postgres::PostgresTarget),
    /// A machine: this one, or one whose filesystem is mounted under `root`.
    Host(host::HostTarget),
    /// An HTTP(S) endpoint: status, latency, body.
    Http(http::HttpTarget),
    /// A TCP port: connect time, optionally a banner.
    Tcp(tcp::TcpTarget),
    /// A TLS endpoint: certificate expiry, issuer, name, trust.
    Tls(tls::TlsTarget),
    /// A DNS name: resolution, answers, time.
    Dns(dns::DnsTarget),
    /// Services on AWS ECS: tasks, deployments, events, stopped tasks, logs.
    Ecs(ecs::EcsTarget),
    /// Docker containers: by name, label or Compose project.
    Docker(docker::DockerTarget),
    /// Pods of a Kubernetes namespace: states, previous logs, events, rollout.
    Kubernetes(kubernetes::KubernetesTarget),
}

/// Applies one expression to whichever diagnostic a [`TargetSpec`] holds:
/// the one place that lists every kind.
macro_rules! for_each_kind {
    ($spec:expr, $t:ident => $body:expr) => {
        match $spec {
            TargetSpec::Redis($t) => $body,
            TargetSpec::Postgres($t) => $body,
            TargetSpec::Host($t) => $body,
            TargetSpec::Http($t) => $body,
            TargetSpec::Tcp($t) => $body,
            TargetSpec::Tls($t) => $body,
            TargetSpec::Dns($t) => $body,
            TargetSpec::Ecs($t) => $body,
            TargetSpec::Docker($t) => $body,
            TargetSpec::Kubernetes($t) => $body,
        }
    };
}

/// The kind name of a diagnostic type, for [`for_each_kind!`].
fn kind_of<D: Diagnostic>(_: &D) -> &'static str {
    D::KIND
}

impl TargetSpec {
    /// The kind name of this spec.
    pub fn kind(&self) -> &'static str {
        for_each_kind!(self, t => kind_of(t))
    }

    /// Where it is, free of credentials.
    pub fn location(&self) -> String {
        for_each_kind!(self, t => t.location())
    }

    /// The redactor for this target's secrets.
    pub fn redactor(&self) -> Redactor {
        for_each_kind!(self, t => t.redactor())
    }

    /// Each check's time limit.
    pub fn timeout(&self) -> Duration {
        for_each_kind!(self, t => t.timeout())
    }

    /// The checks of one run, not started.
    pub fn checks(&self) -> Vec<Check> {
        for_each_kind!(self, t => t.checks())
    }

    /// Whether a run for an incident differs from `/diag`'s: a host
    /// target with `units`, whose journal is read around the first alert.
    pub fn reads_around(&self) -> bool {
        matches!(self, TargetSpec::Host(h) if !h.units.is_empty())
    }

    /// The checks of a run for an incident whose first alert was at
    /// `around` (`None`: a `/diag`, as [`TargetSpec::checks`]). Only a host
    /// target's `units` journal uses it; every other check describes now.
    pub fn checks_around(&self, around: Option<time::OffsetDateTime>) -> Vec<Check> {
        match (self, around) {
            (TargetSpec::Host(h), Some(_)) => {
                h.checks_around(time::OffsetDateTime::now_utc(), around)
            }
            _ => self.checks(),
        }
    }
}

impl TargetSpec {
    /// This target narrowed to what an incident's `alert` names of it —
    /// the pod or container that crashed, of all those the target covers —
    /// so that its run reads that one's logs and events; `None` when the
    /// kind has nothing to narrow or the alert names nothing of it. The
    /// narrowed spec's [`TargetSpec::location`] says what it was narrowed
    /// to, which is also what keeps its run apart from a `/diag` of the
    /// whole target (see `DiagnosticRuns`).
    pub fn focused(&self, alert: &Alert) -> Option<TargetSpec> {
        match self {
            TargetSpec::Redis(_)
            | TargetSpec::Postgres(_)
            | TargetSpec::Host(_)
            | TargetSpec::Http(_)
            | TargetSpec::Tcp(_)
            | TargetSpec::Tls(_)
            | TargetSpec::Dns(_) => None,
            TargetSpec::Ecs(t) => t.focused(alert).map(TargetSpec::Ecs),
            TargetSpec::Docker(t) => t.focused(alert).map(TargetSpec::Docker),
            TargetSpec::Kubernetes(t) => t.focused(alert).map(TargetSpec::Kubernetes),
        }
    }
}

/// An Alertmanager alert with these labels, for the kinds' `focused`
/// tests.
#[cfg(test)]
pub(crate) fn alert_labelled(labels: &[(&str, &str)]) -> Alert {
    use crate::model::alert::{AlertSource, AlertState, Severity};
    Alert {
        source: AlertSource::Alertmanager,
        fingerprint: "f".into(),
        state: AlertState::Firing,
        title: "firing".into(),
        severity: Severity::Critical,
        service: None,
        host: None,
        labels: labels
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
        occurred_at: None,
        link: None,
        details: Vec::new(),
        chain: Vec::new(),
    }
}

/// What `alert` names under any of `keys` — its labels, then its service
/// and host where a key is `service` or `host` — in that order: the
/// candidates a kind's `focused` matches against what the target covers.
pub(crate) fn named<'a>(alert: &'a Alert, keys: &[&str]) -> Vec<&'a str> {
    keys.iter()
        .filter_map(|k| match *k {
            "service" => alert.label(k).or(alert.service.as_deref()),
            "host" => alert.label(k).or(alert.host.as_deref()),
            _ => alert.label(k),
        })
        .collect()
}

/// The kinds that config may name, for help and error messages.
pub const KINDS: &[&str] = &[
    "redis",
    "postgres",
    "host",
    "http",
    "tcp",
    "tls",
    "dns",
    "ecs",
    "docker",
    "kubernetes",
];

/// A named target: what `/diag NAME` runs.
#[derive(Debug, Clone)]
pub struct Target {
    /// The name users type.
    pub name: String,
    /// Its config.
    pub spec: TargetSpec,
}

impl Target {
    /// The secret-free description used in reports.
    pub fn target_ref(&self) -> TargetRef {
        TargetRef {
            name: self.name.clone(),
            kind: self.spec.kind().to_string(),
            location: self.spec.location(),
        }
    }

    /// This target as an incident's run takes it: narrowed to what `alert`
    /// names when its kind can be ([`TargetSpec::focused`]), else as
    /// configured.
    pub fn for_alert(&self, alert: &Alert) -> Target {
        Target {
            name: self.name.clone(),
            spec: self
                .spec
                .focused(alert)
                .unwrap_or_else(|| self.spec.clone()),
        }
    }

    /// Starts every check at once. Each one's findings arrive as it
    /// finishes, and have passed the target's redactor, so a password
    /// echoed by a library error cannot reach a renderer.
    pub fn start(&self) -> Started {
        self.start_around(None)
    }

    /// [`Target::start`] for an incident whose first alert was at `around`
    /// (see [`TargetSpec::checks_around`]).
    pub fn start_around(&self, around: Option<time::OffsetDateTime>) -> Started {
        let checks = self.spec.checks_around(around);
        Started {
            checks: checks.len(),
            results: run_checks(
                checks,
                self.spec.timeout(),
                &self.spec.location(),
                self.spec.redactor(),
            )
            .boxed(),
        }
    }

    /// Runs every check and returns the whole report.
    pub async fn run(&self) -> Report {
        let started = Instant::now();
        let findings: Vec<Finding> = self
            .start()
            .results
            .flat_map(|done| futures::stream::iter(done.findings))
            .collect()
            .await;
        Report::new(self.target_ref(), findings, started.elapsed())
    }
}

/// A run in progress: how many checks it has, and their results as they
/// finish.
pub struct Started {
    /// The number of checks; `results` yields exactly this many items.
    pub checks: usize,
    /// Each check's outcome, in the order they finish.
    pub results: BoxStream<'static, CheckDone>,
}

impl fmt::Debug for Started {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Started")
            .field("checks", &self.checks)
            .finish_non_exhaustive()
    }
}

/// One finished check.
#[derive(Debug, Clone)]
pub struct CheckDone {
    /// The check's id (`host.disk`).
    pub id: &'static str,
    /// What it found; empty when it had nothing to say (a step it depends
    /// on failed and another check reported that).
    pub findings: Vec<Finding>,
}

/// Starts `checks` at once, each within `limit`, and yields each one's
/// findings, redacted, as it finishes.
pub fn run_checks(
    checks: Vec<Check>,
    limit: Duration,
    location: &str,
    redactor: Redactor,
) -> impl Stream<Item = CheckDone> + Send + use<> {
    let location: Arc<str> = location.into();
    let redactor = Arc::new(redactor);
    checks
        .into_iter()
        .map(|check| {
            let location = location.clone();
            let redactor = redactor.clone();
            async move {
                let id = check.id;
                let findings = check
                    .bounded(limit, &location)
                    .await
                    .into_iter()
                    .map(|f| redact_finding(&redactor, f))
                    .collect();
                CheckDone { id, findings }
            }
        })
        .collect::<FuturesUnordered<_>>()
}

/// What `/diag WORD` selects from the configured targets: the target named
/// `WORD`; else every target of kind `WORD` (`/diag postgres` with targets
/// `orders-db` and `users-db`); `all` selects every target. Names win over
/// kinds, and `all` is reserved (config refuses a target named so). `None`
/// when nothing matches.
pub fn select<'a>(targets: &'a BTreeMap<String, Target>, word: &str) -> Option<Vec<&'a Target>> {
    if word == ALL {
        return (!targets.is_empty()).then(|| targets.values().collect());
    }
    if let Some(t) = targets.get(word) {
        return Some(vec![t]);
    }
    let of_kind: Vec<&Target> = targets.values().filter(|t| t.spec.kind() == word).collect();
    (!of_kind.is_empty()).then_some(of_kind)
}

/// Whether [`select`] finds anything for `word`, without collecting it:
/// a command answered at once (busy, already running) needs no more.
pub fn selects(targets: &BTreeMap<String, Target>, word: &str) -> bool {
    if word == ALL {
        return !targets.is_empty();
    }
    targets.contains_key(word) || targets.values().any(|t| t.spec.kind() == word)
}

/// Every kind's default `timeout`: the most each check may take.
pub(crate) fn default_timeout() -> Duration {
    Duration::from_secs(5)
}

/// The word that selects every target.
pub const ALL: &str = "all";

fn redact_finding(r: &Redactor, mut f: Finding) -> Finding {
    f.summary = r.redact(&f.summary);
    f.detail = f.detail.iter().map(|l| r.redact(l)).collect();
    f.evidence = f.evidence.map(|e| r.redact(&e));
    f
}

/// The targets that exist when config names none, so that a first
/// `medic diag redis` and `medic diag postgres` work against local servers
/// on their default ports and `medic diag host` against this machine, with
/// no set-up.
pub fn default_targets() -> BTreeMap<String, TargetSpec> {
    let mut targets = BTreeMap::new();
    targets.insert(
        "redis".to_string(),
        TargetSpec::Redis(redis::RedisTarget::local_default()),
    );
    targets.insert(
        "postgres".to_string(),
        TargetSpec::Postgres(postgres::PostgresTarget::local_default()),
    );
    targets.insert(
        "host".to_string(),
        TargetSpec::Host(host::HostTarget::local_default()),
    );
    targets
}

/// A URL that may carry credentials. Its `Debug` and `Display` never show
/// the password; [`SecretUrl::expose`] is the one door to the full text and
/// is called only where a client library needs it.
#[derive(Clone, PartialEq, Eq)]
pub struct SecretUrl(Url);

impl SecretUrl {
    /// Parses a URL, naming the problem without echoing the URL itself (it
    /// may hold a password).
    pub fn parse(text: &str) -> Result<Self, String> {
        Url::parse(text)
            .map(SecretUrl)
            .map_err(|e| format!("not a valid URL ({e})"))
    }

    /// The full URL, credentials included. Never log or display it.
    pub fn expose(&self) -> &str {
        self.0.as_str()
    }

    /// The parsed URL, for reading host, port and scheme.
    pub fn url(&self) -> &Url {
        &self.0
    }

    /// The password, when the URL has one (percent-decoded forms are also
    /// handled by the redactor).
    pub fn password(&self) -> Option<&str> {
        self.0.password()
    }

    /// A redactor that masks this URL's password.
    pub fn redactor(&self) -> Redactor {
        let mut r = Redactor::new();
        if let Some(p) = self.password() {
            r.add_secret(p);
        }
        r
    }
}

impl fmt::Display for SecretUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut shown = self.0.clone();
        if shown.password().is_some() {
            let _ = shown.set_password(Some(crate::redact::MASK));
        }
        f.write_str(shown.as_str())
    }
}

impl fmt::Debug for SecretUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SecretUrl({self})")
    }
}

impl<'de> Deserialize<'de> for SecretUrl {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        SecretUrl::parse(&text).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secret_url_never_displays_its_password() {
        let url = SecretUrl::parse("redis://:hunter22@10.0.1.1:6379/0").unwrap();
        assert!(!format!("{url}").contains("hunter22"));
        assert!(!format!("{url:?}").contains("hunter22"));
        assert!(url.expose().contains("hunter22"));
    }

    #[test]
    fn bad_url_error_does_not_echo_the_text() {
        let err = SecretUrl::parse("redis//:hunter22@host").unwrap_err();
        assert!(!err.contains("hunter22"), "{err}");
    }

    #[tokio::test]
    async fn checks_report_as_they_finish_and_a_hung_one_is_named() {
        let checks = vec![
            Check::new("t.hung", "The hung step", std::future::pending())
                .silence_hint("Nobody home."),
            Check::new("t.quick", "The quick step", async {
                vec![Finding::ok("t.quick", "fine, password=hunter22")]
            }),
            Check::new("t.quiet", "Nothing to say", async { Vec::new() }),
        ];
        let results: Vec<Vec<Finding>> = run_checks(
            checks,
            Duration::from_millis(50),
            "10.0.0.1:1",
            Redactor::new(),
        )
        .map(|done| done.findings)
        .filter(|findings| std::future::ready(!findings.is_empty()))
        .collect()
        .await;
        // The quick check arrives first; the quiet one has nothing to say;
        // the hung one is reported by name, not waited for.
        assert_eq!(results.len(), 2, "{results:?}");
        assert_eq!(results[0][0].check, "t.quick");
        assert!(!results[0][0].summary.contains("hunter22"), "redacted");
        let hung = &results[1][0];
        assert_eq!(hung.check, "t.hung");
        assert_eq!(hung.status, Status::Unknown);
        assert_eq!(
            hung.summary,
            "The hung step on 10.0.0.1:1: no answer within 50 ms"
        );
        assert_eq!(hung.detail, ["Nobody home."]);
    }

    #[test]
    fn a_word_selects_a_name_then_a_kind_then_all() {
        let spec = |toml: &str| -> TargetSpec { serde_json::from_str(toml).unwrap() };
        let mut targets = BTreeMap::new();
        for (name, json) in [
            ("orders", r#"{"kind":"redis","url":"redis://10.0.0.1"}"#),
            ("sessions", r#"{"kind":"redis","url":"redis://10.0.0.2"}"#),
            ("host", r#"{"kind":"host"}"#),
        ] {
            targets.insert(
                name.to_string(),
                Target {
                    name: name.into(),
                    spec: spec(json),
                },
            );
        }
        let names = |word: &str| -> Option<Vec<String>> {
            select(&targets, word).map(|ts| ts.into_iter().map(|t| t.name.clone()).collect())
        };
        assert_eq!(names("orders").unwrap(), ["orders"]);
        assert_eq!(names("redis").unwrap(), ["orders", "sessions"]);
        assert_eq!(names("host").unwrap(), ["host"], "the name, once");
        assert_eq!(names("all").unwrap(), ["host", "orders", "sessions"]);
        assert_eq!(names("mysql"), None);
        assert_eq!(select(&BTreeMap::new(), "all").map(|v| v.len()), None);
        // `selects` answers as `select` does, word for word.
        for word in ["orders", "redis", "host", "all", "mysql", ""] {
            assert_eq!(
                selects(&targets, word),
                select(&targets, word).is_some(),
                "{word}"
            );
        }
        assert!(!selects(&BTreeMap::new(), "all"));
    }

    #[test]
    fn unknown_kind_is_rejected_by_name() {
        let err = serde_json::from_str::<TargetSpec>(r#"{"kind":"mongo","url":"x"}"#)
            .unwrap_err()
            .to_string();
        assert!(err.contains("mongo"), "{err}");
    }
}

//! Built-in diagnostics: one file per target kind behind one small trait.
//!
//! A target in config is a closed enum tagged by `kind` ([`TargetSpec`]), so
//! an unknown kind is a config error, and the exhaustive `match` in
//! [`Target::run`] is the registry: adding a diagnostic is a new file, a new
//! variant and a new arm, all checked by the compiler.
//!
//! Every diagnostic turns failure into findings: a dead target is "connection
//! refused by 127.0.0.1:6399", never an error value or a silent gap, and the
//! whole run is bounded by the target's timeout.

pub mod host;
pub mod redis;

use std::collections::BTreeMap;
use std::fmt;
use std::future::Future;
use std::time::{Duration, Instant};

use serde::Deserialize;
use url::Url;

use crate::model::report::{Finding, Report, TargetRef};
use crate::redact::Redactor;

/// One kind of diagnostic, implemented by its target's config type.
pub trait Diagnostic {
    /// The kind name, as written in config (`kind = "redis"`).
    const KIND: &'static str;

    /// Where the target is, free of credentials (`127.0.0.1:6379`).
    fn location(&self) -> String;

    /// The most the whole diagnostic may take; past it, what is still
    /// running is reported as timed out.
    fn timeout(&self) -> Duration;

    /// Secrets in this target's config, so that they are masked wherever an
    /// error text might echo them.
    fn redactor(&self) -> Redactor;

    /// Runs every check and returns what it found. Must not fail: a failure
    /// to reach or query the target is itself a finding.
    fn run(&self) -> impl Future<Output = Vec<Finding>> + Send;
}

/// A target's config, tagged by `kind`. New kinds are added here.
#[derive(Debug, Clone, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum TargetSpec {
    /// A Redis server.
    Redis(redis::RedisTarget),
    /// A machine: this one, or one whose filesystem is mounted under `root`.
    Host(host::HostTarget),
}

impl TargetSpec {
    /// The kind name of this spec.
    pub fn kind(&self) -> &'static str {
        match self {
            TargetSpec::Redis(_) => redis::RedisTarget::KIND,
            TargetSpec::Host(_) => host::HostTarget::KIND,
        }
    }

    /// Where it is, free of credentials.
    pub fn location(&self) -> String {
        match self {
            TargetSpec::Redis(t) => t.location(),
            TargetSpec::Host(t) => t.location(),
        }
    }

    /// The redactor for this target's secrets.
    pub fn redactor(&self) -> Redactor {
        match self {
            TargetSpec::Redis(t) => t.redactor(),
            TargetSpec::Host(t) => t.redactor(),
        }
    }
}

/// The kinds that config may name, for help and error messages.
pub const KINDS: &[&str] = &["redis", "host"];

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

    /// Runs this target's diagnostic within its timeout and returns the
    /// report. Every finding is passed through the target's redactor, so a
    /// password echoed by a library error cannot reach a renderer.
    pub async fn run(&self) -> Report {
        let started = Instant::now();
        let findings = match &self.spec {
            TargetSpec::Redis(t) => bounded(t).await,
            TargetSpec::Host(t) => bounded(t).await,
        };
        let redactor = self.spec.redactor();
        let findings = findings
            .into_iter()
            .map(|f| redact_finding(&redactor, f))
            .collect();
        Report::new(self.target_ref(), findings, started.elapsed())
    }
}

/// Runs a diagnostic under its overall timeout; a diagnostic that overruns
/// becomes one critical finding saying so, rather than a hang.
async fn bounded<D: Diagnostic>(d: &D) -> Vec<Finding> {
    let limit = d.timeout();
    match tokio::time::timeout(limit, d.run()).await {
        Ok(findings) => findings,
        Err(_) => vec![Finding::critical(
            format!("{}.timeout", D::KIND),
            format!(
                "No complete answer from {} within {}",
                d.location(),
                crate::format::human_duration(limit)
            ),
        )],
    }
}

fn redact_finding(r: &Redactor, mut f: Finding) -> Finding {
    f.summary = r.redact(&f.summary);
    f.detail = f.detail.iter().map(|l| r.redact(l)).collect();
    f.evidence = f.evidence.map(|e| r.redact(&e));
    f
}

/// The targets that exist when config names none, so that a first
/// `medic diag redis` works against a local server and `medic diag host`
/// against this machine, with no set-up.
pub fn default_targets() -> BTreeMap<String, TargetSpec> {
    let mut targets = BTreeMap::new();
    targets.insert(
        "redis".to_string(),
        TargetSpec::Redis(redis::RedisTarget::local_default()),
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

    #[test]
    fn unknown_kind_is_rejected_by_name() {
        let err = serde_json::from_str::<TargetSpec>(r#"{"kind":"mongo","url":"x"}"#)
            .unwrap_err()
            .to_string();
        assert!(err.contains("mongo"), "{err}");
    }
}

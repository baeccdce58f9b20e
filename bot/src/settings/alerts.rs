//! `[sentry]`, `[pagerduty]`, `[alertmanager]`, `[[routes]]` and
//! `[[runbooks]]`: where alerts come from, how they are verified, where
//! their incidents go and what is diagnosed for them.
//!
//! A source is served only when its section is present: an endpoint that
//! nobody configured answers 404 rather than accepting unverified alerts.

use std::collections::BTreeMap;
use std::fmt;
use std::time::Duration;

use config::Value;
use medic_commands::actions::policy::Principal;
use medic_commands::diagnostics::{self, TargetSpec};
use medic_commands::model::priority::PriorityMap;
use medic_commands::routing::{Route, Runbook};
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;

use super::{Reader, problem};

/// Everything about alert intake.
#[derive(Debug, Clone, Default)]
pub struct AlertSettings {
    /// `[sentry]`, when configured.
    pub sentry: Option<SentrySettings>,
    /// `[pagerduty]`, when configured.
    pub pagerduty: Option<PagerDutySettings>,
    /// `[alertmanager]`, when configured.
    pub alertmanager: Option<AlertmanagerSettings>,
    /// `[[routes]]`, in order: the first match wins.
    pub routes: Vec<Route>,
    /// `[[runbooks]]`: every match adds its targets.
    pub runbooks: Vec<Runbook>,
    /// `[incidents]`: how incidents reopen and how a storm is digested.
    pub incidents: IncidentSettings,
    /// `[triage]`: the knowledge and windows of the "Likely cause" message.
    pub triage: super::TriageSettings,
    /// The sources whose new incidents offer vendor actions
    /// (`offered_on = ["source:pagerduty"]`), filled in once `[actions]`
    /// is read.
    pub action_sources: Vec<&'static str>,
}

impl AlertSettings {
    /// The configured sources, by name (`sentry`, `pagerduty`,
    /// `alertmanager`).
    pub fn sources(&self) -> Vec<&'static str> {
        [
            self.sentry.as_ref().map(|_| "sentry"),
            self.pagerduty.as_ref().map(|_| "pagerduty"),
            self.alertmanager.as_ref().map(|_| "alertmanager"),
        ]
        .into_iter()
        .flatten()
        .collect()
    }
}

/// `[incidents]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IncidentSettings {
    /// How long after a resolve the same fingerprint reopens its incident,
    /// in the same thread, instead of starting a new one (default 1 h).
    pub reopen_window: Duration,
    /// When more new incidents than this wait to be posted in one channel,
    /// the waiting ones are posted as one digest message instead of one
    /// root each (default 5: more than five seconds of backlog at Slack's
    /// one message a second). 0 turns digests off.
    pub digest_after: usize,
    /// `[incidents.severity]`: the P-level each source's alert level opens
    /// its incident at.
    pub severity: PriorityMap,
    /// `may_respond`: who may acknowledge, resolve and reopen an incident
    /// from its root's buttons. Empty: anyone who can see the thread.
    pub may_respond: Vec<Principal>,
    /// How often an unacknowledged incident is reminded about again,
    /// after its severity level's response time (default 15 min).
    pub remind_every: Duration,
    /// The most reminders per incident (default 3; 0 turns them off).
    pub remind_times: i64,
    /// Where a P0's reminders also go: a Slack channel…
    pub escalation_slack_channel: Option<String>,
    /// …and a Discord channel.
    pub escalation_discord_channel: Option<String>,
}

impl Default for IncidentSettings {
    fn default() -> Self {
        IncidentSettings {
            reopen_window: Duration::from_secs(3600),
            digest_after: 5,
            severity: PriorityMap::default(),
            may_respond: Vec::new(),
            remind_every: Duration::from_secs(15 * 60),
            remind_times: 3,
            escalation_slack_channel: None,
            escalation_discord_channel: None,
        }
    }
}

/// `[sentry]`.
#[derive(Clone)]
pub struct SentrySettings {
    /// The integration's client secret: verifies `Sentry-Hook-Signature`.
    pub client_secret: SecretString,
    /// Sentry's API (default `https://sentry.io/api/0/`): triage fetches an
    /// issue's latest event from it when a webhook did not carry the event.
    pub api_url: url::Url,
    /// The token for that API (an internal integration's token with
    /// `event:read`); without it, no event is fetched.
    pub auth_token: Option<SecretString>,
    /// The organization slug, for the `sentry.*` actions' issue URLs.
    pub organization: Option<String>,
}

/// `[pagerduty]`.
#[derive(Clone)]
pub struct PagerDutySettings {
    /// Webhook subscription secrets; several during a rotation.
    pub webhook_secrets: Vec<SecretString>,
    /// PagerDuty's REST API (default `https://api.pagerduty.com/`), for
    /// the `pagerduty.*` actions.
    pub api_url: url::Url,
    /// A REST API key for it (`Authorization: Token token=…`).
    pub api_token: Option<SecretString>,
    /// The email of the PagerDuty user changes are made as (`From:`).
    pub from: Option<String>,
}

/// `[alertmanager]`.
#[derive(Clone)]
pub struct AlertmanagerSettings {
    /// The bearer token Alertmanager sends (`http_config.authorization`);
    /// without one, anyone who can reach medic can post alerts.
    pub token: Option<SecretString>,
}

macro_rules! masked_debug {
    ($t:ty, $name:literal) => {
        impl fmt::Debug for $t {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(concat!($name, " { •••• }"))
            }
        }
    };
}
masked_debug!(SentrySettings, "SentrySettings");
masked_debug!(PagerDutySettings, "PagerDutySettings");
masked_debug!(AlertmanagerSettings, "AlertmanagerSettings");

/// One `@` between a non-empty local part and a dotted domain, no spaces
/// or header-breaking characters: enough to catch a missing or pasted-wrong
/// value; PagerDuty itself says whether it knows the user.
fn plausible_email(s: &str) -> bool {
    match s.split_once('@') {
        Some((local, domain)) => {
            !local.is_empty()
                && domain.contains('.')
                && !domain.starts_with('.')
                && !domain.ends_with('.')
                && !domain.contains('@')
                && s.chars().all(|c| c.is_ascii_graphic())
        }
        None => false,
    }
}

fn blank(s: &SecretString) -> bool {
    s.expose_secret().trim().is_empty()
}

impl Reader {
    /// Reads the alert sections; `targets` checks that runbooks name
    /// targets that exist.
    pub(super) fn alerts(
        &mut self,
        root: &mut config::Map<String, Value>,
        targets: &BTreeMap<String, TargetSpec>,
    ) -> AlertSettings {
        AlertSettings {
            sentry: self.sentry(root.remove("sentry")),
            pagerduty: self.pagerduty(root.remove("pagerduty")),
            alertmanager: self.alertmanager(root.remove("alertmanager")),
            routes: self.routes(root.remove("routes")),
            runbooks: self.runbooks(root.remove("runbooks"), targets),
            incidents: self.incidents(root.remove("incidents")),
            triage: Default::default(),
            action_sources: Vec::new(),
        }
    }

    fn incidents(&mut self, value: Option<Value>) -> IncidentSettings {
        #[derive(Deserialize, Default)]
        #[serde(default, deny_unknown_fields)]
        struct Raw {
            reopen_window: Option<String>,
            digest_after: Option<usize>,
            /// source → medic's alert level → P-level.
            severity: BTreeMap<String, BTreeMap<String, String>>,
            may_respond: Vec<String>,
            remind_every: Option<String>,
            remind_times: Option<i64>,
            escalation_slack_channel: Option<String>,
            escalation_discord_channel: Option<String>,
        }
        let mut settings = IncidentSettings::default();
        let Some(raw) = value.and_then(|v| self.section::<Raw>("incidents", Some(v))) else {
            return settings;
        };
        if let Some(text) = raw.reopen_window {
            match medic_commands::duration::parse(&text) {
                Ok(d) => settings.reopen_window = d,
                Err(e) => self.problems.push(problem("incidents.reopen_window", e)),
            }
        }
        if let Some(n) = raw.digest_after {
            settings.digest_after = n;
        }
        if let Some(text) = raw.remind_every {
            match medic_commands::duration::parse(&text) {
                Ok(d) if d.as_secs() >= 60 => settings.remind_every = d,
                Ok(_) => self
                    .problems
                    .push(problem("incidents.remind_every", "must be at least 1m")),
                Err(e) => self.problems.push(problem("incidents.remind_every", e)),
            }
        }
        if let Some(n) = raw.remind_times {
            settings.remind_times = n.max(0);
        }
        settings.escalation_slack_channel = raw.escalation_slack_channel;
        settings.escalation_discord_channel = raw.escalation_discord_channel;
        for rule in &raw.may_respond {
            match Principal::parse(rule) {
                Ok(p) => settings.may_respond.push(p),
                Err(e) => self.problems.push(problem("incidents.may_respond", e)),
            }
        }
        for (source, levels) in raw.severity {
            use medic_commands::model::alert::{AlertSource, Severity};
            use medic_commands::model::priority::Priority;
            use medic_commands::model::word::Word;
            let key = format!("incidents.severity.{source}");
            let Ok(src) = AlertSource::parse(&source) else {
                self.problems.push(problem(
                    key,
                    "is not an alert source (sentry, pagerduty, alertmanager)",
                ));
                continue;
            };
            for (level, p) in levels {
                let key = format!("{key}.{level}");
                match (Severity::parse(&level), Priority::parse(&p)) {
                    (Ok(l), Some(p)) => settings.severity.set(src, l, p),
                    (Err(_), _) => self.problems.push(problem(
                        key,
                        "is not one of medic's alert levels (critical, error, warning, info)",
                    )),
                    (Ok(_), None) => self.problems.push(problem(
                        key,
                        format!("`{p}` is not a severity level P0, P1, P2 or P3"),
                    )),
                }
            }
        }
        settings
    }

    fn sentry(&mut self, value: Option<Value>) -> Option<SentrySettings> {
        #[derive(Deserialize)]
        struct Raw {
            client_secret: Option<SecretString>,
            api_url: Option<String>,
            auth_token: Option<SecretString>,
            organization: Option<String>,
        }
        let raw: Raw = self.section("sentry", value)?;
        let api_text = raw
            .api_url
            .unwrap_or_else(|| "https://sentry.io/api/0/".into());
        let api_url = match url::Url::parse(&api_text) {
            Ok(mut u) if matches!(u.scheme(), "http" | "https") => {
                // Joined with relative paths: keep the trailing slash.
                if !u.path().ends_with('/') {
                    let p = format!("{}/", u.path());
                    u.set_path(&p);
                }
                u
            }
            _ => {
                self.problems.push(problem(
                    "sentry.api_url",
                    "must be an http(s) URL like https://sentry.io/api/0/",
                ));
                return None;
            }
        };
        let auth_token = raw.auth_token.filter(|t| !blank(t));
        let organization = raw.organization.map(|o| o.trim().to_string());
        if let Some(o) = &organization
            && !medic_commands::actions::sentry::valid_organization(o)
        {
            self.problems.push(problem(
                "sentry.organization",
                "must be the organization's slug (lower-case letters, digits, - and _), as in sentry.io/organizations/SLUG/",
            ));
        }
        match raw.client_secret {
            Some(s) if !blank(&s) => Some(SentrySettings {
                client_secret: s,
                api_url,
                auth_token,
                organization,
            }),
            _ => {
                self.problems.push(problem(
                    "sentry.client_secret",
                    "required to verify Sentry-Hook-Signature (Sentry → Settings → Developer Settings → your integration → Client Secret)",
                ));
                None
            }
        }
    }

    fn pagerduty(&mut self, value: Option<Value>) -> Option<PagerDutySettings> {
        #[derive(Deserialize)]
        struct Raw {
            #[serde(default)]
            webhook_secrets: Vec<SecretString>,
            api_url: Option<String>,
            api_token: Option<SecretString>,
            from: Option<String>,
        }
        let raw: Raw = self.section("pagerduty", value)?;
        if raw.webhook_secrets.is_empty() || raw.webhook_secrets.iter().any(blank) {
            self.problems.push(problem(
                "pagerduty.webhook_secrets",
                "a list of one or more non-empty secrets is required to verify X-PagerDuty-Signature (shown when the webhook subscription is created)",
            ));
            return None;
        }
        let api_text = raw
            .api_url
            .unwrap_or_else(|| "https://api.pagerduty.com/".into());
        let api_url = match url::Url::parse(&api_text) {
            Ok(u) if matches!(u.scheme(), "http" | "https") => u,
            _ => {
                self.problems.push(problem(
                    "pagerduty.api_url",
                    "must be an http(s) URL like https://api.pagerduty.com/",
                ));
                return None;
            }
        };
        let from = raw.from.map(|f| f.trim().to_string());
        if let Some(f) = &from
            && !plausible_email(f)
        {
            self.problems.push(problem(
                "pagerduty.from",
                "must be the email of a PagerDuty user (PagerDuty records changes as made by them)",
            ));
        }
        Some(PagerDutySettings {
            webhook_secrets: raw.webhook_secrets,
            api_url,
            api_token: raw.api_token.filter(|t| !blank(t)),
            from,
        })
    }

    fn alertmanager(&mut self, value: Option<Value>) -> Option<AlertmanagerSettings> {
        #[derive(Deserialize, Default)]
        #[serde(default)]
        struct Raw {
            token: Option<SecretString>,
            allow_unauthenticated: bool,
        }
        let value = value?;
        let raw: Raw = self.section("alertmanager", Some(value))?;
        let token = raw.token.filter(|t| !blank(t));
        // Alertmanager signs nothing: without a token, anyone who reaches
        // medic opens incidents, runs runbooks and pages people. That must
        // be a choice written down, not a default.
        match (&token, raw.allow_unauthenticated) {
            (Some(_), _) => {}
            (None, true) => self.warnings.push(problem(
                "alertmanager.token",
                "not set, and allow_unauthenticated = true: anyone who can reach medic can post alerts",
            )),
            (None, false) => {
                self.problems.push(problem(
                    "alertmanager.token",
                    "not set: anyone who can reach medic could post alerts; set a token and send it from Alertmanager (http_config.authorization), or set allow_unauthenticated = true where only Alertmanager can reach medic",
                ));
                return None;
            }
        }
        Some(AlertmanagerSettings { token })
    }

    fn routes(&mut self, value: Option<Value>) -> Vec<Route> {
        let routes: Vec<Route> = self.section("routes", value).unwrap_or_default();
        for (i, r) in routes.iter().enumerate() {
            if r.slack_channel.is_none() && r.discord_channel.is_none() {
                self.problems.push(problem(
                    format!("routes[{i}]"),
                    "names no channel: set slack_channel (or discord_channel)",
                ));
            }
        }
        routes
    }

    fn runbooks(
        &mut self,
        value: Option<Value>,
        targets: &BTreeMap<String, TargetSpec>,
    ) -> Vec<Runbook> {
        let runbooks: Vec<Runbook> = self.section("runbooks", value).unwrap_or_default();
        for (i, r) in runbooks.iter().enumerate() {
            for word in &r.run {
                let known = word == diagnostics::ALL
                    || targets.contains_key(word)
                    || targets.values().any(|t| t.kind() == word);
                if !known {
                    self.problems.push(problem(
                        format!("runbooks[{i}].run"),
                        format!("`{word}` is no target name or kind configured here"),
                    ));
                }
            }
        }
        runbooks
    }
}

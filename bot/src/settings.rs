//! medic's configuration: one TOML file plus `MEDIC__SECTION__KEY`
//! environment overrides, typed, validated all at once, and safe to print.
//!
//! Loading happens in two steps so that `medic check-config` can report
//! every problem in one go, each with its key path: first the layered
//! sources are merged (a TOML syntax error stops here — there is nothing
//! else to check), then each section and each target is read on its own,
//! collecting every error and every unknown key instead of stopping at the
//! first.
//!
//! Secrets (`slack.signing_secret`, `slack.bot_token`, passwords in URLs)
//! are held in types whose `Debug` and `Display` never show them.

use std::collections::BTreeMap;
use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use config::{Config, Environment, File, FileFormat, Map, Value, ValueKind};
use medic_commands::diagnostics::{self, SecretUrl, TargetSpec};
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use serde::de::DeserializeOwned;

use crate::storage::retention::Swept;

/// The file read when neither `--config` nor `MEDIC_CONFIG` names one. It is
/// optional: without it medic runs with defaults.
pub const DEFAULT_FILE: &str = "medic.toml";
/// The environment prefix: `MEDIC__SLACK__BOT_TOKEN` sets `slack.bot_token`.
pub const ENV_PREFIX: &str = "MEDIC";

/// Sections that later versions read; accepted now so a config written for
/// the full design validates, and reported at start-up as not served yet.
const NOT_YET_SERVED: &[&str] = &[];

/// One problem in the configuration, with the key it is about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// Dotted key path (`slack.api_url`, `targets.cache.url`).
    pub key: String,
    /// What is wrong, in words that say how to fix it.
    pub message: String,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.key, self.message)
    }
}

fn problem(key: impl Into<String>, message: impl Into<String>) -> Problem {
    Problem {
        key: key.into(),
        message: message.into(),
    }
}

/// `[server]`.
#[derive(Debug, Clone)]
pub struct ServerSettings {
    /// Address to listen on (default `127.0.0.1:8080`; port 0 picks one).
    pub bind: SocketAddr,
    /// How long shutdown waits for running diagnostics and pending chat
    /// messages before exiting anyway (default 30 s).
    pub shutdown_grace: Duration,
    /// HTTP connections open at once (default 512); at the cap one that
    /// waits on its client is closed to make room (`http::serve`). Kept well
    /// under the process's file-descriptor limit, which medic's database,
    /// Redis and chat connections share.
    pub max_connections: usize,
    /// How long a request's body may take to arrive once its headers have
    /// (default 10 s); a slower one is answered 408 and closed.
    pub request_timeout: Duration,
}

impl ServerSettings {
    /// The default `max_connections`: half of the common 1,024
    /// file-descriptor soft limit, leaving the rest to medic's other
    /// connections and files.
    pub const MAX_CONNECTIONS: usize = 512;
    /// The default `request_timeout`: far longer than any platform takes
    /// to send a body of at most 1 MiB.
    pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);
}

/// `[database]`.
#[derive(Clone)]
pub struct DatabaseSettings {
    /// `sqlite://FILE` (default `sqlite://medic.db`) or `postgres://…`.
    pub url: SecretUrl,
}

impl fmt::Debug for DatabaseSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "DatabaseSettings {{ url: {} }}", self.url)
    }
}

/// `[slack]`: present when both the signing secret and the bot token are.
#[derive(Clone)]
pub struct SlackSettings {
    /// Verifies that requests come from Slack.
    pub signing_secret: SecretString,
    /// `xoxb-…`, for the Web API.
    pub bot_token: SecretString,
    /// The Web API's base URL (tests point it at a fake).
    pub api_url: url::Url,
    /// `xapp-…`: when set, medic also opens a Socket Mode connection and
    /// takes commands and events there (no public URL needed).
    pub app_token: Option<SecretString>,
    /// The workspaces (team ids, `T…`) whose requests medic serves; empty:
    /// every workspace the app is installed in (a start-up warning says
    /// so). See [`crate::chat::allow`].
    pub teams: Vec<String>,
}

impl fmt::Debug for SlackSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SlackSettings")
            .field("signing_secret", &"••••")
            .field("bot_token", &"••••")
            .field("api_url", &self.api_url.as_str())
            .field("app_token", &self.app_token.as_ref().map(|_| "••••"))
            .field("teams", &self.teams)
            .finish()
    }
}

/// `[limits]`: guards against a runaway script or a heavy hand.
#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LimitSettings {
    /// Commands one person may run per minute, on each platform.
    pub commands_per_minute: u32,
    /// How many of those may come at once.
    pub command_burst: u32,
    /// Diagnostics that may run at the same time; more wait their turn.
    pub concurrent_diagnostics: usize,
    /// Commands accepted whose report is not yet in chat (waiting for a
    /// diagnostic or for the platform's pace); past that, commands are
    /// answered "busy" instead of queueing without bound.
    pub pending_commands: usize,
}

impl Default for LimitSettings {
    fn default() -> Self {
        LimitSettings {
            commands_per_minute: 30,
            command_burst: 10,
            concurrent_diagnostics: 32,
            pending_commands: 256,
        }
    }
}

/// `[outbox]`: how long a chat message keeps trying.
#[derive(Debug, Clone, Copy)]
pub struct OutboxSettings {
    /// A message not delivered this long after it was queued (a chat
    /// outage, a channel that keeps answering 429) is marked failed and
    /// counted (`medic_outbox_gave_up_total`) instead of trying forever.
    /// Default 1 h: an incident's thread an hour late is still worth
    /// having; a report older than that is not.
    pub give_up_after: Duration,
}

impl Default for OutboxSettings {
    fn default() -> Self {
        OutboxSettings {
            give_up_after: Duration::from_secs(3600),
        }
    }
}

/// The whole validated configuration.
#[derive(Debug, Clone)]
pub struct Settings {
    /// `[server]`.
    pub server: ServerSettings,
    /// `[database]`.
    pub database: DatabaseSettings,
    /// `[slack]`, when configured.
    pub slack: Option<SlackSettings>,
    /// `[discord]`, when configured.
    pub discord: Option<DiscordSettings>,
    /// `[redis]` `url`, when configured: medic's own shared state across
    /// replicas (per-person limits and `/diag` coalescing,
    /// [`crate::cluster`]; the lock on the Discord gateway connection).
    pub redis: Option<SecretUrl>,
    /// `[targets.NAME]`; medic's defaults when none are configured.
    pub targets: BTreeMap<String, TargetSpec>,
    /// Whether `targets` came from medic's defaults.
    pub default_targets: bool,
    /// `[limits]`.
    pub limits: LimitSettings,
    /// `[outbox]`.
    pub outbox: OutboxSettings,
    /// `[retention]`.
    pub retention: RetentionSettings,
    /// Alert sources, routes and runbooks.
    pub alerts: AlertSettings,
    /// `[groups]`, `[oncall] users` and `[actions.NAME]`.
    pub remediation: RemediationSettings,
    /// `[oncall]`: people and rotations.
    pub oncall: medic_commands::oncall::OnCall,
    /// Sections present that this version does not serve yet.
    pub not_yet_served: Vec<String>,
    /// The file read, if any.
    pub source: Option<PathBuf>,
}

/// A loaded configuration and what is worth a warning about it.
#[derive(Debug)]
pub struct Loaded {
    /// The settings.
    pub settings: Settings,
    /// Keys that nothing reads (likely typos), and similar notes.
    pub warnings: Vec<Problem>,
}

/// Where configuration comes from.
#[derive(Debug, Clone, Default)]
pub struct Sources {
    /// A TOML file; `required` is true when the user named it.
    pub file: Option<(PathBuf, bool)>,
    /// TOML text (tests, and `--config -` some day).
    pub text: Option<String>,
    /// Whether `MEDIC__…` environment variables apply.
    pub env: bool,
}

impl Sources {
    /// The usual sources: the named file (or `medic.toml` when present) and
    /// the environment.
    pub fn standard(named: Option<&Path>) -> Self {
        let file = match named {
            Some(p) => Some((p.to_path_buf(), true)),
            None => Some((PathBuf::from(DEFAULT_FILE), false)),
        };
        Sources {
            file,
            text: None,
            env: true,
        }
    }

    /// Only this TOML text, no file and no environment.
    pub fn toml(text: &str) -> Self {
        Sources {
            file: None,
            text: Some(text.to_string()),
            env: false,
        }
    }
}

impl Settings {
    /// Loads and validates; `Err` carries every problem found.
    pub fn load(sources: &Sources) -> Result<Loaded, Vec<Problem>> {
        let mut builder = Config::builder();
        let mut source = None;
        if let Some((path, required)) = &sources.file {
            if *required && !path.exists() {
                return Err(vec![problem(
                    "config",
                    format!("{} does not exist", path.display()),
                )]);
            }
            if path.exists() {
                source = Some(path.clone());
            }
            builder = builder.add_source(
                File::from(path.as_path())
                    .format(FileFormat::Toml)
                    .required(*required),
            );
        }
        if let Some(text) = &sources.text {
            builder = builder.add_source(File::from_str(text, FileFormat::Toml));
        }
        if sources.env {
            // `MEDIC__SLACK__BOT_TOKEN` → slack.bot_token. Values stay strings
            // (try_parsing off): parsing would turn a secret like "007" into 7.
            builder = builder.add_source(
                Environment::with_prefix(ENV_PREFIX)
                    .separator("__")
                    .ignore_empty(true),
            );
        }
        let root = builder
            .build()
            .and_then(|c| c.try_deserialize::<Map<String, Value>>())
            .map_err(|e| {
                vec![problem(
                    "config",
                    medic_commands::redact::redact(&e.to_string()),
                )]
            })?;
        let mut s = Reader::default();
        let settings = s.settings(root, source);
        if s.problems.is_empty() {
            let settings = settings.expect("no problems means settings were built");
            Ok(Loaded {
                settings,
                warnings: s.warnings,
            })
        } else {
            Err(s.problems)
        }
    }

    /// Every secret this configuration holds: tokens and signing
    /// secrets, the passwords in its URLs and targets, and the values of
    /// the variables `http` actions' headers name. Every command of the
    /// CLI and every [`crate::app::App`] teaches them to every redactor in
    /// the process ([`medic_commands::redact::configure`]), so that a
    /// secret echoed by a script, an error or an alert is masked whatever
    /// its name.
    pub fn secrets(&self) -> medic_commands::redact::Redactor {
        let mut r = self.database.url.redactor();
        let mut add = |s: &SecretString| r.add_secret(s.expose_secret());
        if let Some(slack) = &self.slack {
            add(&slack.signing_secret);
            add(&slack.bot_token);
            if let Some(t) = &slack.app_token {
                add(t);
            }
        }
        if let Some(discord) = &self.discord {
            add(&discord.bot_token);
        }
        if let Some(sentry) = &self.alerts.sentry {
            add(&sentry.client_secret);
            if let Some(t) = &sentry.auth_token {
                add(t);
            }
        }
        if let Some(pd) = &self.alerts.pagerduty {
            for s in &pd.webhook_secrets {
                add(s);
            }
            if let Some(t) = &pd.api_token {
                add(t);
            }
        }
        if let Some(am) = &self.alerts.alertmanager
            && let Some(t) = &am.token
        {
            add(t);
        }
        if let Some(redis) = &self.redis {
            r.absorb(&redis.redactor());
        }
        for target in self.targets.values() {
            r.absorb(&target.redactor());
        }
        for action in self.remediation.actions.values() {
            if let medic_commands::actions::ActionKind::Http { headers, .. } = &action.kind {
                for var in headers.values() {
                    if let Ok(value) = std::env::var(var) {
                        r.add_secret(&value);
                        if let Some((_, token)) = value.split_once(' ') {
                            r.add_secret(token);
                        }
                    }
                }
            }
        }
        r
    }

    /// The bind address as given, for messages.
    pub fn describe(&self) -> Vec<String> {
        let mut lines = vec![format!("database: {}", self.database.url)];
        lines.push(match &self.slack {
            Some(s) => format!(
                "slack: configured (Web API at {}; {})",
                s.api_url,
                served("workspaces", "any workspace", &s.teams)
            ),
            None => "slack: not configured".into(),
        });
        lines.push(match &self.discord {
            Some(d) => format!(
                "discord: configured (application {}, REST API at {}, interactions over {}; {})",
                d.application_id,
                d.api_url,
                if d.gateway { "the gateway" } else { "HTTP" },
                served("servers", "any server and DMs", &d.guilds)
            ),
            None => "discord: not configured".into(),
        });
        let targets: Vec<String> = self
            .targets
            .iter()
            .map(|(n, t)| format!("{n} ({} {})", t.kind(), t.location()))
            .collect();
        lines.push(format!(
            "targets{}: {}",
            if self.default_targets {
                " (defaults)"
            } else {
                ""
            },
            targets.join(", ")
        ));
        let a = &self.alerts;
        let sources = a.sources();
        lines.push(if sources.is_empty() {
            "alerts: no source configured (add [sentry], [pagerduty] or [alertmanager])".into()
        } else {
            format!(
                "alerts: {} ({} routes, {} runbooks)",
                sources.join(", "),
                a.routes.len(),
                a.runbooks.len()
            )
        });
        let r = &self.remediation;
        if !r.actions.is_empty() {
            let list: Vec<String> = r
                .actions
                .values()
                .map(|a| {
                    format!(
                        "{} ({}, on {})",
                        a.name,
                        a.kind.name(),
                        a.offered_on.join(", ")
                    )
                })
                .collect();
            lines.push(format!(
                "actions: {} ({} groups, {} on call)",
                list.join(", "),
                r.directory.groups.len(),
                r.directory.on_call.len()
            ));
        }
        if !self.oncall.rotations.is_empty() {
            let list: Vec<String> = self
                .oncall
                .rotations
                .values()
                .map(|r| {
                    let s = &r.schedule;
                    let turns = match &s.turns {
                        medic_commands::oncall::Turns::Rotating(t) => format!(
                            "{} × {} d, handover {}",
                            t.members.join(" → "),
                            t.length.days(),
                            t.handover.strftime("%H:%M")
                        ),
                        medic_commands::oncall::Turns::Listed(l) => l.source.clone(),
                    };
                    format!(
                        "{} ({turns} {}, {} overrides)",
                        r.name,
                        s.zone.iana_name().unwrap_or("UTC"),
                        s.overrides.len()
                    )
                })
                .collect();
            lines.push(format!("oncall: {}", list.join(", ")));
        }
        let t = &a.triage;
        lines.push(if t.enabled {
            format!(
                "triage: {} error patterns ({} user files), correlation window {}, timeline window {}",
                t.knowledge.patterns.len(),
                t.knowledge_files.len(),
                medic_commands::format::human_age(t.correlation_window.as_secs()),
                medic_commands::format::human_age(t.timeline_window.as_secs()),
            )
        } else {
            "triage: off".into()
        });
        lines
    }
}

/// Collects problems and warnings while reading sections.
#[derive(Default)]
struct Reader {
    problems: Vec<Problem>,
    warnings: Vec<Problem>,
}

const KNOWN_SECTIONS: &[&str] = &[
    "server",
    "database",
    "redis",
    "slack",
    "discord",
    "targets",
    "limits",
    "outbox",
    "retention",
    "sentry",
    "pagerduty",
    "alertmanager",
    "routes",
    "runbooks",
    "incidents",
    "groups",
    "oncall",
    "actions",
    "triage",
];

impl Reader {
    fn settings(
        &mut self,
        mut root: Map<String, Value>,
        source: Option<PathBuf>,
    ) -> Option<Settings> {
        let mut not_yet_served = Vec::new();
        let mut sections: Vec<&String> = root.keys().collect();
        sections.sort();
        for key in sections {
            if NOT_YET_SERVED.contains(&key.as_str()) {
                not_yet_served.push(key.clone());
            } else if !KNOWN_SECTIONS.contains(&key.as_str()) {
                self.warnings.push(problem(
                    key.clone(),
                    "unknown section; nothing reads it (a typo?)",
                ));
            }
        }

        let server = self.server(root.remove("server"));
        let database = self.database(root.remove("database"));
        let redis = root.remove("redis").and_then(|v| self.redis(v));
        let slack = self.slack(root.remove("slack"));
        let discord = self.discord(root.remove("discord"));
        let limits: LimitSettings = self
            .section("limits", root.remove("limits"))
            .unwrap_or_default();
        let outbox = self.outbox(root.remove("outbox"));
        let retention = self.retention(root.remove("retention"));
        let (targets, default_targets) = self.targets(root.remove("targets"));
        let mut alerts = self.alerts(&mut root, &targets);
        let base = source.as_deref().and_then(std::path::Path::parent);
        alerts.triage = self.triage(root.remove("triage"), base);
        let pagerduty_api = alerts
            .pagerduty
            .as_ref()
            .is_some_and(|p| p.api_token.is_some());
        let oncall = self.oncall(root.remove("oncall"), pagerduty_api);
        let mut remediation = self.remediation(
            root.remove("groups"),
            oncall.users.clone(),
            &oncall.oncall,
            root.remove("actions"),
            &targets,
        );
        self.vendor_actions(&mut alerts, &mut remediation);

        Some(Settings {
            server: server?,
            database: database?,
            slack: slack?,
            discord: discord?,
            redis,
            targets,
            default_targets,
            limits,
            outbox: outbox?,
            retention: retention?,
            alerts,
            remediation,
            oncall: oncall.oncall,
            not_yet_served,
            source,
        })
    }

    /// Deserializes one section, noting unknown keys and the error (with
    /// its key path) instead of stopping.
    fn section<T: DeserializeOwned>(&mut self, name: &str, value: Option<Value>) -> Option<T> {
        let value = value?;
        let mut unknown = Vec::new();
        let result: Result<T, _> =
            serde_ignored::deserialize(value, |path| unknown.push(path.to_string()));
        for path in unknown {
            self.warnings.push(problem(
                format!("{name}.{path}"),
                "unknown key; nothing reads it (a typo?)",
            ));
        }
        match result {
            Ok(t) => Some(t),
            Err(e) => {
                self.problems.push(problem(
                    name,
                    medic_commands::redact::redact(&e.to_string()),
                ));
                None
            }
        }
    }

    fn outbox(&mut self, value: Option<Value>) -> Option<OutboxSettings> {
        #[derive(Deserialize, Default)]
        #[serde(default)]
        struct Raw {
            give_up_after: Option<String>,
        }
        let raw: Raw = match value {
            None => Raw::default(),
            Some(v) => self.section("outbox", Some(v))?,
        };
        let give_up_after = match raw.give_up_after {
            None => Some(OutboxSettings::default().give_up_after),
            Some(t) => self.ok_or(
                "outbox.give_up_after",
                medic_commands::duration::parse(&t).and_then(|d| {
                    if d < Duration::from_secs(10) {
                        Err("must be at least 10s".to_string())
                    } else {
                        Ok(d)
                    }
                }),
            ),
        };
        Some(OutboxSettings {
            give_up_after: give_up_after?,
        })
    }

    fn retention(&mut self, value: Option<Value>) -> Option<RetentionSettings> {
        let Some(value) = value else {
            return Some(RetentionSettings::default());
        };
        let settings: RetentionSettings = self.section("retention", Some(value))?;
        let mut ok = true;
        for what in Swept::ALL {
            let (shortest, why) = RetentionSettings::shortest(what);
            if settings.keep(what) < shortest {
                self.problems
                    .push(problem(format!("retention.{}", what.as_str()), why));
                ok = false;
            }
        }
        ok.then_some(settings)
    }

    fn server(&mut self, value: Option<Value>) -> Option<ServerSettings> {
        #[derive(Deserialize, Default)]
        #[serde(default)]
        struct Raw {
            bind: Option<String>,
            shutdown_grace: Option<String>,
            max_connections: Option<i64>,
            request_timeout: Option<String>,
        }
        let raw: Raw = match value {
            None => Raw::default(),
            Some(v) => self.section("server", Some(v))?,
        };
        let bind_text = raw.bind.unwrap_or_else(|| "127.0.0.1:8080".into());
        let bind = match bind_text.parse::<SocketAddr>() {
            Ok(a) => Some(a),
            Err(_) => {
                self.problems.push(problem(
                    "server.bind",
                    format!("`{bind_text}` is not an address like 127.0.0.1:8080 or 0.0.0.0:8080"),
                ));
                None
            }
        };
        let shutdown_grace = match raw.shutdown_grace {
            None => Some(Duration::from_secs(30)),
            Some(t) => self.ok_or("server.shutdown_grace", medic_commands::duration::parse(&t)),
        };
        let max_connections = match raw.max_connections {
            None => Some(ServerSettings::MAX_CONNECTIONS),
            Some(n) => self.ok_or(
                "server.max_connections",
                usize::try_from(n)
                    .ok()
                    .filter(|n| (1..=1_000_000).contains(n))
                    .ok_or_else(|| format!("{n} is not a number of connections from 1 to 1000000")),
            ),
        };
        let request_timeout = match raw.request_timeout {
            None => Some(ServerSettings::REQUEST_TIMEOUT),
            Some(t) => self.ok_or(
                "server.request_timeout",
                medic_commands::duration::parse(&t).and_then(|d| {
                    if d < Duration::from_secs(1) {
                        Err("must be at least 1s".to_string())
                    } else {
                        Ok(d)
                    }
                }),
            ),
        };
        Some(ServerSettings {
            bind: bind?,
            shutdown_grace: shutdown_grace?,
            max_connections: max_connections?,
            request_timeout: request_timeout?,
        })
    }

    fn database(&mut self, value: Option<Value>) -> Option<DatabaseSettings> {
        #[derive(Deserialize, Default)]
        #[serde(default)]
        struct Raw {
            url: Option<String>,
        }
        let raw: Raw = match value {
            None => Raw::default(),
            Some(v) => self.section("database", Some(v))?,
        };
        let text = raw.url.unwrap_or_else(|| "sqlite://medic.db".into());
        let url = self.ok_or("database.url", SecretUrl::parse(&text))?;
        match url.url().scheme() {
            "sqlite" | "postgres" | "postgresql" => Some(DatabaseSettings { url }),
            other => {
                self.problems.push(problem(
                    "database.url",
                    format!("scheme `{other}` is neither sqlite:// nor postgres://"),
                ));
                None
            }
        }
    }

    fn redis(&mut self, value: Value) -> Option<SecretUrl> {
        #[derive(Deserialize)]
        struct Raw {
            url: String,
        }
        let raw = self.section::<Raw>("redis", Some(value))?;
        let url = self.ok_or("redis.url", SecretUrl::parse(&raw.url))?;
        if !matches!(url.url().scheme(), "redis" | "rediss") {
            self.problems.push(problem(
                "redis.url",
                "must start with redis:// or rediss://",
            ));
            return None;
        }
        Some(url)
    }

    /// `Some(None)`: not configured; `None`: configured with problems.
    fn slack(&mut self, value: Option<Value>) -> Option<Option<SlackSettings>> {
        #[derive(Deserialize, Default)]
        #[serde(default)]
        struct Raw {
            signing_secret: Option<SecretString>,
            bot_token: Option<SecretString>,
            app_token: Option<SecretString>,
            api_url: Option<String>,
            teams: Option<IdList>,
        }
        let Some(value) = value else {
            return Some(None);
        };
        let raw: Raw = self.section("slack", Some(value))?;
        let teams = self.id_list(
            "slack.teams",
            raw.teams,
            |id| id.starts_with('T') && id.len() > 1 && id.chars().all(|c| c.is_ascii_uppercase() || c.is_ascii_digit()),
            "is not a Slack team id (T followed by capitals and digits; the workspace's id, as in its URLs or a slash command's team_id)",
        );
        let app_token = raw
            .app_token
            .filter(|t| !t.expose_secret().trim().is_empty());
        if app_token
            .as_ref()
            .is_some_and(|t| !t.expose_secret().starts_with("xapp-"))
        {
            self.warnings.push(problem(
                "slack.app_token",
                "does not start with xapp-; Socket Mode needs an app-level token with connections:write (Basic Information → App-Level Tokens)",
            ));
        }
        let api_text = raw
            .api_url
            .unwrap_or_else(|| "https://slack.com/api/".into());
        let api_url = match url::Url::parse(&api_text) {
            Ok(u) if u.scheme() == "https" => Some(u),
            Ok(u) if u.scheme() == "http" && is_loopback(&u) => Some(u),
            Ok(_) => {
                self.problems.push(problem(
                    "slack.api_url",
                    "must be https:// (plain http is allowed only for a loopback address, for tests)",
                ));
                None
            }
            Err(e) => {
                self.problems
                    .push(problem("slack.api_url", format!("not a valid URL ({e})")));
                None
            }
        };
        let empty = |s: &Option<SecretString>| {
            s.as_ref()
                .is_none_or(|s| s.expose_secret().trim().is_empty())
        };
        match (empty(&raw.signing_secret), empty(&raw.bot_token)) {
            (true, true) => Some(None),
            (false, false) => {
                let token = raw.bot_token.expect("checked above");
                if !token.expose_secret().starts_with("xoxb-") {
                    self.warnings.push(problem(
                        "slack.bot_token",
                        "does not start with xoxb-; Slack bot tokens do (is this a user or app token?)",
                    ));
                }
                let teams = teams?;
                if teams.is_empty() {
                    self.warnings.push(problem(
                        "slack.teams",
                        "not set: any Slack workspace where this app is installed can use medic (run /diag, read reports); set teams = [\"T…\"] to serve only yours",
                    ));
                }
                Some(Some(SlackSettings {
                    signing_secret: raw.signing_secret.expect("checked above"),
                    bot_token: token,
                    api_url: api_url?,
                    app_token,
                    teams,
                }))
            }
            (true, false) => {
                self.problems.push(problem(
                    "slack.signing_secret",
                    "missing: Slack requests cannot be verified without it (Slack app → Basic Information → Signing Secret)",
                ));
                None
            }
            (false, true) => {
                self.problems.push(problem(
                    "slack.bot_token",
                    "missing: medic cannot post without it (Slack app → OAuth & Permissions → Bot User OAuth Token, xoxb-…)",
                ));
                None
            }
        }
    }

    fn targets(&mut self, value: Option<Value>) -> (BTreeMap<String, TargetSpec>, bool) {
        let mut targets = BTreeMap::new();
        let table = match value.map(|v| v.kind) {
            None => return (diagnostics::default_targets(), true),
            Some(ValueKind::Table(t)) => t,
            Some(_) => {
                self.problems.push(problem(
                    "targets",
                    "must be a table of [targets.NAME] sections",
                ));
                return (targets, false);
            }
        };
        // In name order, so problems are listed the same way every time.
        let table: BTreeMap<String, Value> = table.into_iter().collect();
        for (name, value) in table {
            let key = format!("targets.{name}");
            if !valid_target_name(&name) {
                self.problems.push(problem(
                    &key,
                    "target names are lowercase letters, digits, - and _ (they are typed in chat)",
                ));
                continue;
            }
            if name == diagnostics::ALL {
                self.problems.push(problem(
                    &key,
                    "`all` is reserved: `/diag all` runs every target",
                ));
                continue;
            }
            let Some(spec) = self.section::<TargetSpec>(&key, Some(value)) else {
                continue;
            };
            let check = match &spec {
                TargetSpec::Redis(r) => r.validate().map_err(|m| ("url", m)),
                TargetSpec::Postgres(p) => p.validate(),
                TargetSpec::Host(h) => h.validate(),
                TargetSpec::Http(h) => h.validate(),
                TargetSpec::Tcp(t) => t.validate(),
                TargetSpec::Tls(t) => t.validate(),
                TargetSpec::Dns(d) => d.validate(),
                TargetSpec::Ecs(e) => e.validate(),
                TargetSpec::Docker(d) => d.validate(),
                TargetSpec::Kubernetes(k) => k.validate(),
            };
            match check {
                Ok(()) => {
                    targets.insert(name, spec);
                }
                Err((field, msg)) => self.problems.push(problem(format!("{key}.{field}"), msg)),
            }
        }
        if targets.contains_key("help") {
            self.warnings.push(problem(
                "targets.help",
                "`/diag help` shows help, so this target cannot be reached",
            ));
        }
        (targets, false)
    }

    /// An allow-list of workspace or server ids (`slack.teams`,
    /// `discord.guilds`): each id trimmed and checked with `valid`; `None`
    /// when one is not (each bad one is a problem naming its index).
    fn id_list(
        &mut self,
        key: &str,
        list: Option<IdList>,
        valid: impl Fn(&str) -> bool,
        what: &str,
    ) -> Option<Vec<String>> {
        let before = self.problems.len();
        let ids: Vec<String> = list
            .map(IdList::into_ids)
            .unwrap_or_default()
            .into_iter()
            .enumerate()
            .filter_map(|(i, id)| {
                if valid(&id) {
                    Some(id)
                } else {
                    self.problems
                        .push(problem(format!("{key}[{i}]"), format!("`{id}` {what}")));
                    None
                }
            })
            .collect();
        (self.problems.len() == before).then_some(ids)
    }

    fn ok_or<T>(&mut self, key: &str, r: Result<T, String>) -> Option<T> {
        r.map_err(|m| self.problems.push(problem(key, m))).ok()
    }
}

/// Who a platform serves, for `describe`: the listed ids, or everyone.
fn served(what: &str, everyone: &str, ids: &[String]) -> String {
    if ids.is_empty() {
        format!("serves {everyone}")
    } else {
        format!("serves {what} {}", ids.join(", "))
    }
}

/// A list of ids as TOML writes it (`["T0001", "T0002"]`) or as one
/// environment variable can carry it (`MEDIC__SLACK__TEAMS=T0001,T0002`).
#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum IdList {
    Many(Vec<String>),
    Joined(String),
}

impl IdList {
    fn into_ids(self) -> Vec<String> {
        let ids = match self {
            IdList::Many(ids) => ids,
            IdList::Joined(text) => text.split(',').map(str::to_string).collect(),
        };
        ids.into_iter()
            .map(|id| id.trim().to_string())
            .filter(|id| !id.is_empty())
            .collect()
    }
}

fn valid_target_name(name: &str) -> bool {
    !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_')
}

fn is_loopback(u: &url::Url) -> bool {
    match u.host() {
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        Some(url::Host::Domain(d)) => d == "localhost",
        None => false,
    }
}

mod alerts;
mod discord;
mod oncall;
mod remediation;
mod retention;
pub use discord::DiscordSettings;
#[cfg(test)]
mod tests;
mod triage;
mod vendor;

pub use remediation::RemediationSettings;
pub use retention::RetentionSettings;

pub use alerts::{
    AlertSettings, AlertmanagerSettings, IncidentSettings, PagerDutySettings, SentrySettings,
};
pub use triage::TriageSettings;

//! The command line. Exit codes: 0 ok; for `medic diag`, 1 warning,
//! 2 critical and 3 unknown (the Nagios convention monitoring wrappers
//! expect); 1 for `check-config` problems; 64 for a bad invocation or
//! configuration that stops a command from running.

mod audit;
mod check;
mod console;
mod diag;
pub mod discord;
mod healthcheck;
mod incident;
mod oncall;
mod policy;
mod serve;
mod status;

use std::path::PathBuf;

use clap::{Parser, Subcommand};

use crate::settings::{Loaded, Settings, Sources};

/// Exit code for a bad invocation or configuration (sysexits EX_USAGE).
pub const EXIT_USAGE: u8 = 64;

/// medic runs your runbooks' diagnostics from Slack, or from this terminal.
#[derive(Debug, Parser)]
#[command(name = "medic", version, about, long_about = None)]
pub struct Cli {
    /// Configuration file (TOML). Without it, medic.toml is read when it
    /// exists; MEDIC__SECTION__KEY environment variables override either.
    #[arg(long, short, global = true, env = "MEDIC_CONFIG", value_name = "FILE")]
    pub config: Option<PathBuf>,

    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// medic's subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Serve Slack slash commands, health and metrics over HTTP.
    ///
    /// With no configuration at all this starts on 127.0.0.1:8080 with an
    /// SQLite file in the working directory.
    Serve,
    /// Run a target's diagnostics here and print the report.
    ///
    /// Exit code: 0 ok, 1 warning, 2 critical, 3 unknown.
    Diag {
        /// The target's name, as configured in [targets.NAME] (`redis` works
        /// with no configuration: the local server on port 6379).
        target: String,
        /// Print the report as JSON instead of text.
        #[arg(long)]
        json: bool,
    },
    /// A local chat: /diag redis, alerts from files, buttons by number.
    Console {
        /// The database (sqlite://… or postgres://…); a temporary SQLite
        /// file when not given.
        #[arg(long, value_name = "URL")]
        database: Option<String>,
        /// Who types, as policies name users (`/as USER` changes it).
        #[arg(long = "as", value_name = "USER")]
        user: Option<String>,
    },
    /// Validate the configuration and report every problem at once.
    CheckConfig,
    /// Ask a running `medic serve` for GET /healthz (for container health
    /// checks where there is no curl). Exit 0 when it answers 2xx, 1 if not.
    Healthcheck {
        /// What to ask; default http://SERVER.BIND/healthz from the
        /// configuration (0.0.0.0 and :: are asked on loopback).
        #[arg(long, value_name = "URL")]
        url: Option<String>,
    },
    /// Export the audit log and verify its hash chain (exit 1 if broken).
    Audit {
        /// Only print rows since this time (RFC 3339) or this long ago (24h).
        #[arg(long)]
        since: Option<String>,
        /// Print JSON instead of lines.
        #[arg(long)]
        json: bool,
    },
    /// The incidents medic opened: the open ones, or one in detail.
    Incident {
        /// What to show.
        #[command(subcommand)]
        what: IncidentQuestion,
    },
    /// Who is on call now (or --at a time) and who is next, per rotation.
    Oncall {
        /// One rotation, by name; all when not given.
        rotation: Option<String>,
        /// When to ask about (RFC 3339, e.g. 2026-12-07T09:00:00+01:00).
        #[arg(long, value_name = "TIME")]
        at: Option<String>,
    },
    /// Is medic keeping up? Duties and their holders, the work waiting,
    /// dead letters (parked deliveries and jobs, failed messages) with
    /// their last error, and rows stored against `[retention]`.
    ///
    /// Exit code: 0 no dead letters, 1 some.
    Status,
    /// Ask the remediation policy a question, as a button click would.
    Policy {
        /// What to ask.
        #[command(subcommand)]
        question: PolicyQuestion,
    },
    /// Print the Slack app manifest (YAML) medic needs: commands, scopes,
    /// interactivity and event subscriptions.
    SlackManifest {
        /// For Socket Mode (no public URL; needs slack.app_token).
        #[arg(long)]
        socket_mode: bool,
        /// Where Slack reaches medic over HTTP.
        #[arg(long, value_name = "URL", default_value = "https://medic.example.com")]
        url: String,
    },
    /// Discord set-up.
    Discord {
        /// What to do.
        #[command(subcommand)]
        action: DiscordAction,
    },
}

/// `medic policy …`.
#[derive(Debug, Subcommand)]
pub enum PolicyQuestion {
    /// May USER request ACTION (on --target)? Exit 0 yes, 1 no.
    Check {
        /// A chat user id (`U0123ABCD`).
        user: String,
        /// The action's name, as in [actions.NAME].
        action: String,
        /// The target it would run on; also checks cooldown and runs in
        /// progress in the database.
        #[arg(long)]
        target: Option<String>,
        /// Answer for this moment (RFC 3339): `oncall` and `oncall:ROTATION`
        /// rules mean who is on call then.
        #[arg(long, value_name = "TIME")]
        at: Option<String>,
    },
}

/// `medic incident …`.
#[derive(Debug, Subcommand)]
pub enum IncidentQuestion {
    /// The open incidents, most urgent first (--all: and the latest resolved).
    List {
        /// Also the 50 latest resolved incidents.
        #[arg(long)]
        all: bool,
    },
    /// One incident: its level, state, likely cause, source, thread and
    /// timeline (--markdown: its postmortem draft).
    Show {
        /// The incident's number (`#12` in chat).
        id: i64,
        /// Print the postmortem draft as Markdown instead, for a wiki.
        #[arg(long)]
        markdown: bool,
    },
}

/// `medic discord …`.
#[derive(Debug, Subcommand)]
pub enum DiscordAction {
    /// Register medic's application commands (/diag) with Discord.
    ///
    /// Replaces the application's commands with medic's in one bulk
    /// overwrite; run again after an upgrade.
    Register {
        /// Register in this server only (its id): usable at once, where
        /// global commands can take a while to appear.
        #[arg(long, value_name = "ID")]
        guild: Option<String>,
    },
}

/// The whole program: parses the command line, starts the runtime, runs
/// the command. Shared by the `medic` binary and the test harness's copy of
/// it (Cargo hands integration tests only their own package's binaries).
pub fn main() -> std::process::ExitCode {
    // One TLS crypto provider for the whole process, chosen before any
    // client is built (two in the tree would panic at the first TLS
    // handshake; docs/crates.md § TLS).
    let _ = rustls::crypto::ring::default_provider().install_default();
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("medic: cannot start the async runtime: {e}");
            return std::process::ExitCode::from(70);
        }
    };
    let code = runtime.block_on(run(cli));
    std::process::ExitCode::from(code)
}

/// Runs a parsed command line; returns the process exit code.
pub async fn run(cli: Cli) -> u8 {
    match cli.command {
        Command::Serve => serve::run(cli.config.as_deref()).await,
        Command::Diag { target, json } => diag::run(cli.config.as_deref(), &target, json).await,
        Command::Console { database, user } => {
            console::run(cli.config.as_deref(), console::Options { database, user }).await
        }
        Command::CheckConfig => check::run(cli.config.as_deref()),
        Command::Status => status::run(cli.config.as_deref()).await,
        Command::Healthcheck { url } => {
            healthcheck::run(cli.config.as_deref(), url.as_deref()).await
        }
        Command::Audit { since, json } => {
            audit::run(cli.config.as_deref(), since.as_deref(), json).await
        }
        Command::Policy {
            question:
                PolicyQuestion::Check {
                    user,
                    action,
                    target,
                    at,
                },
        } => {
            policy::check(
                cli.config.as_deref(),
                policy::Question {
                    user: &user,
                    action: &action,
                    target: target.as_deref(),
                    at: at.as_deref(),
                },
            )
            .await
        }
        Command::Incident {
            what: IncidentQuestion::List { all },
        } => incident::list(cli.config.as_deref(), all).await,
        Command::Incident {
            what: IncidentQuestion::Show { id, markdown },
        } => incident::show(cli.config.as_deref(), id, markdown).await,
        Command::Oncall { rotation, at } => {
            oncall::run(cli.config.as_deref(), rotation.as_deref(), at.as_deref()).await
        }
        Command::SlackManifest { socket_mode, url } => {
            print!(
                "{}",
                medic_integrations::chat::slack::manifest::manifest(&url, socket_mode)
            );
            0
        }
        Command::Discord {
            action: DiscordAction::Register { guild },
        } => discord::register(cli.config.as_deref(), guild.as_deref()).await,
    }
}

/// Loads settings for a command that cannot go on without them, printing
/// every problem when there are any.
fn load_or_report(config: Option<&std::path::Path>) -> Option<Loaded> {
    match Settings::load(&Sources::standard(config)) {
        Ok(loaded) => {
            medic_commands::redact::configure(&loaded.settings.secrets());
            Some(loaded)
        }
        Err(problems) => {
            eprintln!(
                "medic: the configuration has {} problem(s):",
                problems.len()
            );
            for p in problems {
                eprintln!("  {p}");
            }
            eprintln!("Run `medic check-config` after fixing them.");
            None
        }
    }
}

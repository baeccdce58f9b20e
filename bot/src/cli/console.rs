//! `medic console`: a local chat, the first thing a new user tries, and
//! the third chat platform. The whole medic runs — a real database (an
//! SQLite file in a temporary directory unless `--database`), the
//! incident logic, the outbox, the remediation flow — with the terminal
//! as its one channel ([`crate::chat::console`]). Type `/diag redis` and
//! the answer comes back as a root message with its thread; feed an alert
//! with `/alert sentry FILE` and its incident opens a thread with its
//! likely cause; press a remediation's button with `click 2`, and have a
//! second person (`/as bob`) approve it with `approve 3`.

use std::io::{IsTerminal, Write};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use medic_commands::diagnostics::SecretUrl;
use tokio::io::{AsyncBufReadExt, BufReader};

use crate::app::App;
use crate::chat::console::{ConsoleRuntime, session};

/// What `medic console` takes besides the configuration.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// The database; a temporary SQLite file when `None`.
    pub database: Option<String>,
    /// Who types (a user id, as policies name them); `$USER` when `None`.
    pub user: Option<String>,
}

pub async fn run(config: Option<&Path>, options: Options) -> u8 {
    crate::telemetry::init("warn");
    let Some(loaded) = super::load_or_report(config) else {
        return super::EXIT_USAGE;
    };
    let mut settings = loaded.settings;
    // No port of its own to speak of: nothing calls a console's HTTP.
    settings.server.bind = SocketAddr::from(([127, 0, 0, 1], 0));
    let scratch = match &options.database {
        Some(_) => None,
        None => match scratch_dir() {
            Ok(dir) => Some(dir),
            Err(e) => {
                eprintln!(
                    "medic: cannot make a temporary directory for the console's database: {e}"
                );
                return 1;
            }
        },
    };
    let url = match (&options.database, &scratch) {
        (Some(url), _) => url.clone(),
        (None, Some(dir)) => format!("sqlite://{}", dir.join("console.db").display()),
        (None, None) => unreachable!("a scratch directory exists without --database"),
    };
    settings.database.url = match SecretUrl::parse(&url) {
        Ok(u) => u,
        Err(e) => {
            eprintln!("medic: --database: {e}");
            return super::EXIT_USAGE;
        }
    };
    let console = ConsoleRuntime::new(Box::new(std::io::stdout()));
    let app = match App::build_with(settings, Some(console)).await {
        Ok(app) => app,
        Err(error) => {
            eprintln!("medic could not start: {error:#}");
            return 1;
        }
    };
    let state = app.state().clone();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let running = tokio::spawn(app.run_until_stopped(async {
        let _ = stopped.await;
    }));

    let console = state.console.as_ref().expect("built with a console");
    let interactive = std::io::stdin().is_terminal();
    let mut user = options
        .user
        .or_else(|| std::env::var("USER").ok())
        .unwrap_or_else(|| "you".into());
    println!(
        "medic console — /diag TARGET, /alert SOURCE FILE, click N, /as USER, /help; quit with /quit or Ctrl-D."
    );
    let mut lines = BufReader::new(tokio::io::stdin()).lines();
    loop {
        if interactive {
            print!("{user} › ");
            let _ = std::io::stdout().flush();
        }
        let Ok(Some(line)) = lines.next_line().await else {
            break;
        };
        if !interactive && !line.trim().is_empty() {
            println!("{user} › {}", line.trim());
        }
        if !session::handle(&state, console, &mut user, &line).await {
            break;
        }
    }
    // Stopping waits for running diagnostics and the outbox, so what is
    // on its way is shown before the prompt returns.
    let _ = stop.send(());
    let code = match running.await {
        Ok(Ok(())) => 0,
        _ => 1,
    };
    drop(state);
    if let Some(dir) = scratch {
        let _ = std::fs::remove_dir_all(dir);
    }
    code
}

/// A fresh directory for the console's database, removed at exit.
fn scratch_dir() -> std::io::Result<PathBuf> {
    let dir = std::env::temp_dir().join(format!("medic-console-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    Ok(dir)
}

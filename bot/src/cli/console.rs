//! `medic console`: a local chat, the first thing a new user tries. Type
//! `/diag redis` and the answer comes back as a root message with its
//! thread, as it would in Slack; no platform, no database needed.

use std::collections::BTreeMap;
use std::io::{IsTerminal, Write};
use std::path::Path;

use medic_commands::Diagnosis;
use medic_commands::command::{ChatCommand, help_text};
use medic_commands::diagnostics::{self, Target};
use medic_integrations::chat::Provenance;
use medic_integrations::chat::console::render::{self, Style};
use tokio::io::{AsyncBufReadExt, BufReader};

pub async fn run(config: Option<&Path>) -> u8 {
    crate::telemetry::init("warn");
    let Some(loaded) = super::load_or_report(config) else {
        return super::EXIT_USAGE;
    };
    let targets: BTreeMap<String, Target> = loaded
        .settings
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
    let refs: Vec<_> = targets.values().map(Target::target_ref).collect();
    let interactive = std::io::stdin().is_terminal();
    let style = Style {
        color: std::io::stdout().is_terminal(),
    };
    let user = std::env::var("USER").unwrap_or_else(|_| "you".into());

    println!("medic console — type /diag TARGET or /help; quit with /quit or Ctrl-D.");
    let mut lines = BufReader::new(tokio::io::stdin()).lines();
    loop {
        if interactive {
            print!("{user} › ");
            let _ = std::io::stdout().flush();
        }
        let Ok(Some(line)) = lines.next_line().await else {
            break;
        };
        let line = line.trim();
        if line.is_empty() {
            continue;
        }
        if matches!(line, "/quit" | "/exit" | "quit" | "exit") {
            break;
        }
        if !interactive {
            println!("{user} › {line}");
        }
        let (first, rest) = line.split_once(char::is_whitespace).unwrap_or((line, ""));
        let parsed = if first.starts_with('/') {
            ChatCommand::parse_slash(first, rest)
        } else {
            let words: Vec<&str> = rest.split_whitespace().collect();
            ChatCommand::parse_words(first, &words)
        };
        match parsed {
            Ok(ChatCommand::Help) => say(&help_text(&refs)),
            Err(e) => say(&format!("{e}\n{}", help_text(&refs))),
            Ok(ChatCommand::Diag { target }) => match diagnostics::select(&targets, &target) {
                None => say(&format!(
                    "I don't know the target `{target}`.\n{}",
                    help_text(&refs)
                )),
                Some(selected) => {
                    let what: Vec<String> = selected
                        .iter()
                        .map(|t| format!("{} ({})", t.name, t.spec.location()))
                        .collect();
                    say(&format!("Running diagnostics for {}…", what.join(", ")));
                    let reports = futures::future::join_all(selected.iter().map(|t| t.run())).await;
                    let diagnosis = Diagnosis::new(target.to_string(), reports);
                    let prov = Provenance {
                        command: format!("/diag {target}"),
                        actor: None,
                        reference: None,
                    };
                    if diagnosis.single().is_none() {
                        say(&format!(
                            "{} {} — {} · {}",
                            diagnosis.status().symbol(),
                            target,
                            diagnosis.status().word(),
                            diagnosis.counts()
                        ));
                    }
                    for report in &diagnosis.reports {
                        say(&render::root(report, style));
                        println!("        ╰─ thread");
                        print!(
                            "{}",
                            render::details(report, Some(&prov), style, "          ")
                        );
                    }
                }
            },
        }
    }
    0
}

/// Prints a message from medic, indented under its name like a chat line.
fn say(text: &str) {
    let mut lines = text.lines();
    if let Some(first) = lines.next() {
        println!("medic › {first}");
    }
    for line in lines {
        println!("        {line}");
    }
}

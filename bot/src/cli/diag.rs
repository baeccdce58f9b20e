//! `medic diag TARGET`: the same diagnostic as `/diag`, printed here, with
//! a spinner while it runs and an exit code for scripts.

use std::io::{IsTerminal, Write};
use std::path::Path;
use std::time::Duration;

use medic_commands::diagnostics::Target;
use medic_integrations::chat::Provenance;
use medic_integrations::chat::console::render::{self, Style};

pub async fn run(config: Option<&Path>, name: &str, json: bool) -> u8 {
    crate::telemetry::init("warn");
    let Some(loaded) = super::load_or_report(config) else {
        return super::EXIT_USAGE;
    };
    let name = name.to_lowercase();
    let Some(spec) = loaded.settings.targets.get(&name).cloned() else {
        let known: Vec<&str> = loaded.settings.targets.keys().map(String::as_str).collect();
        eprintln!(
            "medic: no target named `{name}`. Targets: {}.",
            known.join(", ")
        );
        return super::EXIT_USAGE;
    };
    let target = Target {
        name: name.clone(),
        spec,
    };

    let spinner = std::io::stderr().is_terminal().then(|| {
        let label = format!("Diagnosing {name} ({})…", target.spec.location());
        tokio::spawn(spin(label))
    });
    let report = target.run().await;
    if let Some(handle) = spinner {
        handle.abort();
        eprint!("\r\x1b[2K");
    }

    if json {
        // The overall status and headline are derived, so they are added
        // here for scripts that want one field to branch on.
        let out = serde_json::json!({
            "status": report.status(),
            "headline": report.headline(),
            "report": report,
        });
        println!(
            "{}",
            serde_json::to_string_pretty(&out).expect("a report serializes")
        );
    } else {
        let style = Style {
            color: std::io::stdout().is_terminal(),
        };
        let prov = Provenance {
            command: format!("medic diag {name}"),
            actor: None,
            reference: None,
        };
        print!("{}", render::report(&report, Some(&prov), style));
    }
    report.status().exit_code() as u8
}

async fn spin(label: String) {
    const FRAMES: [&str; 10] = ["⠋", "⠙", "⠹", "⠸", "⠼", "⠴", "⠦", "⠧", "⠇", "⠏"];
    let mut i = 0;
    loop {
        eprint!("\r{} {label}", FRAMES[i % FRAMES.len()]);
        let _ = std::io::stderr().flush();
        i += 1;
        tokio::time::sleep(Duration::from_millis(80)).await;
    }
}

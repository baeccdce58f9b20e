//! `medic diag TARGET`: the same diagnostics as `/diag`, printed here, with
//! live progress while checks run and an exit code for scripts. TARGET is a
//! target name, a kind (every target of it) or `all`.

use std::io::{IsTerminal, Write};
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use futures::StreamExt;
use medic_commands::diagnostics::{self, Target};
use medic_commands::{Diagnosis, Report};
use medic_integrations::chat::Provenance;
use medic_integrations::chat::console::render::{self, Style};

/// Checks answered and checks started, across the request, for the
/// progress line.
#[derive(Debug, Default)]
struct Tally {
    done: AtomicUsize,
    total: AtomicUsize,
}

/// Runs one target's checks, counting each as it answers.
async fn run_counted(target: Target, tally: Arc<Tally>) -> Report {
    let started = Instant::now();
    let run = target.start();
    tally.total.fetch_add(run.checks, Ordering::Relaxed);
    let findings = run
        .results
        .flat_map(|done| {
            tally.done.fetch_add(1, Ordering::Relaxed);
            futures::stream::iter(done.findings)
        })
        .collect()
        .await;
    Report::new(target.target_ref(), findings, started.elapsed())
}

pub async fn run(config: Option<&Path>, name: &str, json: bool) -> u8 {
    crate::telemetry::init("warn");
    let Some(loaded) = super::load_or_report(config) else {
        return super::EXIT_USAGE;
    };
    let name = name.to_lowercase();
    let targets = loaded
        .settings
        .targets
        .iter()
        .map(|(n, spec)| {
            (
                n.clone(),
                Target {
                    name: n.clone(),
                    spec: spec.clone(),
                },
            )
        })
        .collect();
    let Some(selected) = diagnostics::select(&targets, &name) else {
        let known: Vec<&str> = loaded.settings.targets.keys().map(String::as_str).collect();
        eprintln!(
            "medic: no target or kind named `{name}`. Targets: {}; or `all`.",
            known.join(", ")
        );
        return super::EXIT_USAGE;
    };

    let tally = Arc::new(Tally::default());
    let spinner = std::io::stderr().is_terminal().then(|| {
        let what = match selected.as_slice() {
            [only] => format!("{} ({})", only.name, only.spec.location()),
            many => format!("{} targets", many.len()),
        };
        tokio::spawn(spin(format!("Diagnosing {what}"), tally.clone()))
    });
    let reports = futures::future::join_all(
        selected
            .into_iter()
            .map(|t| run_counted(t.clone(), tally.clone())),
    )
    .await;
    if let Some(handle) = spinner {
        handle.abort();
        eprint!("\r\x1b[2K");
    }
    let diagnosis = Diagnosis::new(name.clone(), reports);

    if json {
        // The overall status and headline are derived, so they are added
        // here for scripts that want one field to branch on.
        let out = match diagnosis.single() {
            Some(report) => serde_json::json!({
                "status": report.status(),
                "headline": report.headline(),
                "report": report,
            }),
            None => serde_json::json!({
                "status": diagnosis.status(),
                "headline": diagnosis.headline(),
                "reports": diagnosis.reports,
            }),
        };
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
        if diagnosis.single().is_none() {
            println!(
                "{} {} — {} · {}\n",
                diagnosis.status().symbol(),
                name,
                diagnosis.status().word(),
                diagnosis.counts()
            );
        }
        for report in &diagnosis.reports {
            print!("{}", render::report(report, Some(&prov), style));
        }
    }
    diagnosis.status().exit_code() as u8
}

async fn spin(label: String, tally: Arc<Tally>) {
    const FRAMES: [&str; 10] = ["⠋", "⠙", "⠹", "⠸", "⠼", "⠴", "⠦", "⠧", "⠇", "⠏"];
    let mut i = 0;
    loop {
        let (done, total) = (
            tally.done.load(Ordering::Relaxed),
            tally.total.load(Ordering::Relaxed),
        );
        eprint!(
            "\r\x1b[2K{} {label}… {done} of {total} checks answered",
            FRAMES[i % FRAMES.len()]
        );
        let _ = std::io::stderr().flush();
        i += 1;
        tokio::time::sleep(Duration::from_millis(80)).await;
    }
}

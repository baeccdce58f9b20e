//! One diagnostic run per target at a time, shared by every command that
//! asks for that target while it runs.
//!
//! During an incident many people, in many channels, type `/diag redis` at
//! once, against a Redis that is already struggling. Each extra session
//! costs the sick server a connection, a PING and an INFO, and costs medic
//! a diagnostic slot. So a command that arrives while the same target is
//! being diagnosed waits for that run and gets its report: the answer is
//! never older than one run, and the target is probed once.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use futures::FutureExt;
use futures::future::{BoxFuture, Shared};
use medic_commands::Report;
use medic_commands::diagnostics::Target;
use tokio::sync::Semaphore;

use crate::telemetry::metrics::Metrics;

type Run = Shared<BoxFuture<'static, Arc<Report>>>;

/// The diagnostic runs in progress, by target name.
#[derive(Debug)]
pub struct DiagnosticRuns {
    running: Mutex<HashMap<String, Run>>,
    /// Bounds how many diagnostics run at once, across targets.
    slots: Arc<Semaphore>,
    metrics: Arc<Metrics>,
}

impl DiagnosticRuns {
    /// At most `concurrent` diagnostics run at once; more wait their turn.
    pub fn new(concurrent: usize, metrics: Arc<Metrics>) -> Self {
        DiagnosticRuns {
            running: Mutex::new(HashMap::new()),
            slots: Arc::new(Semaphore::new(concurrent.max(1))),
            metrics,
        }
    }

    /// The report of a run of `target` that starts no earlier than this
    /// call: the one in progress when there is one, else a new one.
    pub async fn report(&self, target: &Target) -> Arc<Report> {
        let run = {
            let mut running = self.running.lock().expect("runs lock");
            match running.get(&target.name) {
                Some(run) => run.clone(),
                None => {
                    let run = self.start(target.clone());
                    running.insert(target.name.clone(), run.clone());
                    run
                }
            }
        };
        let report = run.clone().await;
        // The first waiter to see the run finish retires it, so the next
        // command starts a fresh run.
        let mut running = self.running.lock().expect("runs lock");
        if running
            .get(&target.name)
            .is_some_and(|current| current.ptr_eq(&run))
        {
            running.remove(&target.name);
        }
        report
    }

    fn start(&self, target: Target) -> Run {
        let slots = self.slots.clone();
        let metrics = self.metrics.clone();
        async move {
            let report = {
                let _slot = slots.acquire().await.expect("semaphore never closed");
                target.run().await
            };
            metrics.diagnostic(&report.target.kind, report.status(), report.elapsed);
            Arc::new(report)
        }
        .boxed()
        .shared()
    }
}

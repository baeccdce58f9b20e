//! One diagnostic run per target at a time, shared by every command that
//! asks for that target while it runs, and watched as it runs.
//!
//! During an incident many people, in many channels, type `/diag redis` at
//! once, against a Redis that is already struggling. Each extra session
//! costs the sick server a connection, a PING and an INFO, and costs medic
//! a diagnostic slot. So a command that arrives while the same target is
//! being diagnosed joins that run: the answer is never older than one run,
//! and the target is probed once.
//!
//! A run publishes its progress (findings so far, then the report) on a
//! `watch` channel, so each channel that asked can stream results into its
//! thread as checks finish, at its own pace.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use futures::StreamExt;
use medic_commands::diagnostics::Target;
use medic_commands::{Finding, Report, TargetRef};
use time::OffsetDateTime;
use tokio::sync::{Semaphore, watch};

use crate::telemetry::metrics::Metrics;

/// What a run has produced so far.
#[derive(Debug, Clone, Default)]
pub struct Progress {
    /// Findings in the order their checks finished.
    pub findings: Vec<Finding>,
    /// Checks finished, of `checks`.
    pub checks_done: usize,
    /// Checks in the run (0 until it has started).
    pub checks: usize,
    /// The whole report, once every check has answered.
    pub report: Option<Arc<Report>>,
}

type Running = Arc<Mutex<HashMap<String, watch::Receiver<Progress>>>>;

/// The diagnostic runs in progress, by target name.
#[derive(Debug)]
pub struct DiagnosticRuns {
    running: Running,
    /// Bounds how many diagnostics run at once, across targets.
    slots: Arc<Semaphore>,
    metrics: Arc<Metrics>,
}

impl DiagnosticRuns {
    /// At most `concurrent` diagnostics run at once; more wait their turn.
    pub fn new(concurrent: usize, metrics: Arc<Metrics>) -> Self {
        DiagnosticRuns {
            running: Arc::default(),
            slots: Arc::new(Semaphore::new(concurrent.max(1))),
            metrics,
        }
    }

    /// Watches a run of `target` that starts no earlier than this call: the
    /// one in progress when there is one, else a new one.
    pub fn watch(&self, target: &Target) -> RunWatch {
        self.watch_around(target, None)
    }

    /// [`DiagnosticRuns::watch`] for an incident whose first alert was at
    /// `around`. A target whose run does not depend on it (every kind but
    /// a host with `units`) shares the run of `/diag`; one that does runs
    /// apart, keyed by the instant too, so a `/diag` never gets an
    /// incident's window nor an incident the window ending now. A target
    /// narrowed to what an alert names (`Target::for_alert`) is told apart
    /// by its location, which names the pod or container.
    pub fn watch_around(&self, target: &Target, around: Option<OffsetDateTime>) -> RunWatch {
        let around = around.filter(|_| target.spec.reads_around());
        let key = match around {
            Some(at) => format!(
                "{} {}@{}",
                target.name,
                target.spec.location(),
                at.unix_timestamp()
            ),
            None => format!("{} {}", target.name, target.spec.location()),
        };
        let mut running = self.running.lock().expect("runs lock");
        let rx = match running.get(&key) {
            Some(rx) => rx.clone(),
            None => {
                let (tx, rx) = watch::channel(Progress::default());
                running.insert(key.clone(), rx.clone());
                tokio::spawn(run(
                    target.clone(),
                    around,
                    tx,
                    Retire {
                        running: self.running.clone(),
                        name: key,
                        me: rx.clone(),
                    },
                    self.slots.clone(),
                    self.metrics.clone(),
                ));
                rx
            }
        };
        RunWatch {
            target: target.target_ref(),
            rx,
            seen: 0,
        }
    }

    /// The whole report of a run of `target` (see [`DiagnosticRuns::watch`]).
    pub async fn report(&self, target: &Target) -> Arc<Report> {
        self.watch(target).finished().await
    }

    /// The whole report of a run of `target` for an incident whose first
    /// alert was at `around` (see [`DiagnosticRuns::watch_around`]).
    pub async fn report_around(
        &self,
        target: &Target,
        around: Option<OffsetDateTime>,
    ) -> Arc<Report> {
        self.watch_around(target, around).finished().await
    }
}

/// Runs one target's checks and publishes each result, then the report;
/// then retires the run so that the next command starts a fresh one.
async fn run(
    target: Target,
    around: Option<OffsetDateTime>,
    tx: watch::Sender<Progress>,
    retire: Retire,
    slots: Arc<Semaphore>,
    metrics: Arc<Metrics>,
) {
    // Retired however the run ends: a check that panics must not leave
    // its dead run behind for every later command to join (each would be
    // answered "crashed" until restart).
    let _retire = retire;
    let report = {
        let _slot = slots.acquire().await.expect("semaphore never closed");
        let started = Instant::now();
        let mut run = target.start_around(around);
        tx.send_modify(|p| p.checks = run.checks);
        let mut findings = Vec::new();
        while let Some(done) = run.results.next().await {
            findings.extend(done.findings.iter().cloned());
            tx.send_modify(|p| {
                p.checks_done += 1;
                p.findings.extend(done.findings);
            });
        }
        Arc::new(Report::new(
            target.target_ref(),
            findings,
            started.elapsed(),
        ))
    };
    metrics.diagnostic(&report.target.kind, report.status(), report.elapsed);
    tx.send_modify(|p| p.report = Some(report));
}

/// Takes a run out of the map when dropped, if it is still the target's
/// current run. `name` is the run's key: the target's name, with the
/// alert's instant for a run around one.
struct Retire {
    running: Running,
    name: String,
    me: watch::Receiver<Progress>,
}

impl Drop for Retire {
    fn drop(&mut self) {
        // A poisoned lock (a panic while it was held) still holds a
        // consistent map: each change is one insert or remove.
        let mut running = self
            .running
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if running
            .get(&self.name)
            .is_some_and(|current| current.same_channel(&self.me))
        {
            running.remove(&self.name);
        }
    }
}

/// One reader's view of a run: what it has not taken yet.
#[derive(Debug)]
pub struct RunWatch {
    target: TargetRef,
    rx: watch::Receiver<Progress>,
    seen: usize,
}

impl RunWatch {
    /// The target being diagnosed.
    pub fn target(&self) -> &TargetRef {
        &self.target
    }

    /// Findings that arrived since the last call, and the report once the
    /// run is finished. Never waits.
    pub fn take(&mut self) -> (Vec<Finding>, Option<Arc<Report>>) {
        let progress = self.rx.borrow_and_update();
        let new = progress.findings[self.seen.min(progress.findings.len())..].to_vec();
        self.seen = progress.findings.len();
        (new, progress.report.clone())
    }

    /// Checks finished and checks in all, as of now.
    pub fn counts(&self) -> (usize, usize) {
        let p = self.rx.borrow();
        (p.checks_done, p.checks)
    }

    /// Waits until the run publishes something this reader has not seen.
    /// Returns at once when the run has ended.
    pub async fn changed(&mut self) {
        if self.rx.borrow().report.is_some() {
            return;
        }
        // Err: the run ended without a report (it panicked); the caller's
        // next `take` or `finished` says so.
        let _ = self.rx.changed().await;
    }

    /// Waits for the whole report.
    pub async fn finished(mut self) -> Arc<Report> {
        loop {
            if let Some(report) = self.rx.borrow_and_update().report.clone() {
                return report;
            }
            if self.rx.changed().await.is_err() {
                return self
                    .rx
                    .borrow()
                    .report
                    .clone()
                    .unwrap_or_else(|| crashed(&self.target));
            }
        }
    }

    /// Whether the run ended, with or without a report.
    pub fn ended(&self) -> bool {
        self.rx.borrow().report.is_some() || self.rx.has_changed().is_err()
    }

    /// The report, or a stand-in when the run died without one.
    pub fn report_now(&self) -> Option<Arc<Report>> {
        match self.rx.borrow().report.clone() {
            Some(r) => Some(r),
            None if self.rx.has_changed().is_err() => Some(crashed(&self.target)),
            None => None,
        }
    }
}

/// A report saying medic itself failed, so that a bug in one diagnostic
/// still ends in an answer rather than silence.
fn crashed(target: &TargetRef) -> Arc<Report> {
    Arc::new(Report::new(
        target.clone(),
        vec![Finding::unknown(
            format!("{}.crashed", target.kind),
            "medic's diagnostic stopped unexpectedly; its log has the reason",
        )],
        std::time::Duration::ZERO,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_run_that_panics_is_retired_so_the_next_command_starts_afresh() {
        let running: Running = Arc::default();
        let (tx, rx) = watch::channel(Progress::default());
        running
            .lock()
            .unwrap()
            .insert("redis".to_string(), rx.clone());
        let held = running.clone();
        let died = tokio::spawn(async move {
            let _retire = Retire {
                running: held,
                name: "redis".to_string(),
                me: rx,
            };
            let _tx = tx;
            panic!("a check panicked");
        })
        .await;
        assert!(died.unwrap_err().is_panic());
        assert!(running.lock().unwrap().is_empty(), "retired");

        // A newer run of the same target is not retired by an older one.
        let (_tx_old, old) = watch::channel(Progress::default());
        let (_tx_new, new) = watch::channel(Progress::default());
        running.lock().unwrap().insert("redis".to_string(), new);
        drop(Retire {
            running: running.clone(),
            name: "redis".to_string(),
            me: old,
        });
        assert!(running.lock().unwrap().contains_key("redis"));
    }

    #[tokio::test]
    async fn an_incident_run_reading_around_its_alert_does_not_join_a_diag_run() {
        // On this current-thread runtime the spawned runs do not start
        // before the next await: the map is read as the calls left it.
        let runs = DiagnosticRuns::new(4, Arc::new(Metrics::new()));
        let target = |name: &str, json: serde_json::Value| Target {
            name: name.into(),
            spec: serde_json::from_value(json).unwrap(),
        };
        let redis = target(
            "redis",
            serde_json::json!({"kind": "redis", "url": "redis://127.0.0.1:6399"}),
        );
        let host = target(
            "web1",
            serde_json::json!({"kind": "host", "root": "/nonexistent-medic", "units": ["redis-server"]}),
        );
        let at = OffsetDateTime::from_unix_timestamp(1_769_841_127).unwrap();
        let _w = [
            runs.watch(&redis),
            runs.watch_around(&redis, Some(at)),
            runs.watch(&host),
            runs.watch_around(&host, Some(at)),
            runs.watch_around(&host, Some(at)),
        ];
        let mut keys: Vec<String> = runs.running.lock().unwrap().keys().cloned().collect();
        keys.sort();
        // Redis reads nothing around the alert: one shared run. The host's
        // units journal does: a /diag run and one incident run, shared by
        // that incident's callers.
        assert_eq!(
            keys,
            [
                "redis 127.0.0.1:6399",
                "web1 this machine, files under /nonexistent-medic",
                "web1 this machine, files under /nonexistent-medic@1769841127"
            ]
        );
    }
}

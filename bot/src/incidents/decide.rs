//! What an alert does, decided without the database: plain functions of
//! what is known (the incident of its fingerprint, the configuration),
//! unit-tested here without SQL. The incident logic ([`super`]) reads what
//! they need, calls them, and writes what they return — the incident's
//! change, the messages in its thread, the jobs that follow — in one
//! transaction.

use medic_commands::model::alert::{Alert, AlertState};
use medic_commands::model::inbound::Actor;
use medic_commands::model::timeline::EventKind;
use medic_commands::routing;
use time::OffsetDateTime;

use super::Change;
use crate::settings::AlertSettings;

/// What an alert does to the incidents of its fingerprint. `open` is the
/// open incident; `reopenable` a resolved one within `[incidents]
/// reopen_window`, which matters only when none is open and the alert is
/// news ([`asks_reopenable`]). `Opened(0)`: a new incident, numbered when
/// it is stored.
pub fn decide(state: AlertState, open: Option<i64>, reopenable: Option<i64>) -> Change {
    match (state, open) {
        (AlertState::Resolved, Some(id)) => Change::Resolved(id),
        (AlertState::Resolved | AlertState::Ignored, None) => Change::Nothing,
        (AlertState::Firing | AlertState::Reopened, Some(id)) => Change::Repeated(id),
        (AlertState::Acknowledged | AlertState::Ignored | AlertState::Updated, Some(id)) => {
            Change::Noted(id)
        }
        (AlertState::Updated, None) => Change::Opened(0),
        (AlertState::Firing | AlertState::Reopened | AlertState::Acknowledged, None) => {
            match reopenable {
                Some(id) => Change::Reopened(id),
                None => Change::Opened(0),
            }
        }
    }
}

/// A source's acknowledgement of an incident already acknowledged in
/// medic is not news: it is the echo of medic's own (Acknowledge pressed
/// on the root, then told to PagerDuty, whose webhook says so back), or a
/// second person's. No line in the thread for it.
pub fn echo(change: Change, state: AlertState, acknowledged_here: bool) -> Change {
    match (change, state) {
        (Change::Noted(_), AlertState::Acknowledged) if acknowledged_here => Change::Nothing,
        (change, _) => change,
    }
}

/// Whether [`decide`] needs to know of a recently resolved incident: only
/// when none is open and the alert would otherwise open one.
pub fn asks_reopenable(state: AlertState, open: Option<i64>) -> bool {
    open.is_none()
        && matches!(
            state,
            AlertState::Firing | AlertState::Reopened | AlertState::Acknowledged
        )
}

/// A message a change puts in its incident's channel.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Message {
    /// The incident's root, drawn from the incident.
    Root,
    /// The root again, as the incident now stands.
    Edit,
    /// A note in its thread.
    Note(String),
}

/// The messages of `change` for `alert`, at `at`. A new incident's details
/// wait for its runbook when `deferred` (its likely cause leads the
/// thread, see [`follow_ups`]).
pub fn messages(change: Change, alert: &Alert, at: OffsetDateTime, deferred: bool) -> Vec<Message> {
    let at = format!("{:02}:{:02}:{:02}", at.hour(), at.minute(), at.second());
    let source = alert.source.as_str();
    match change {
        Change::Nothing => Vec::new(),
        Change::Opened(_) => {
            let mut out = vec![Message::Root];
            if !alert.details.is_empty() && !deferred {
                out.push(Message::Note(alert.details.join("\n")));
            }
            out
        }
        Change::Repeated(_) => vec![Message::Edit],
        Change::Resolved(_) => vec![
            Message::Edit,
            Message::Note(format!("✅ Resolved at {at} UTC ({source})")),
        ],
        Change::Reopened(_) => vec![
            Message::Edit,
            Message::Note(format!(
                "🔁 Firing again at {at} UTC, after it was resolved ({source})"
            )),
        ],
        Change::Noted(_) => {
            let what = match alert.state {
                AlertState::Acknowledged => "👀 Acknowledged",
                AlertState::Ignored => "🔕 Ignored",
                AlertState::Reopened => "🔁 Unresolved",
                AlertState::Firing | AlertState::Resolved | AlertState::Updated => "📝 Updated",
            };
            let mut note = format!("{what} at {at} UTC ({source})");
            for line in &alert.details {
                note.push('\n');
                note.push_str(line);
            }
            vec![Message::Note(note)]
        }
    }
}

/// A line of an incident's timeline, before it is recorded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    /// What kind.
    pub kind: EventKind,
    /// Who, when a person did it.
    pub actor: Option<Actor>,
    /// What happened.
    pub text: String,
}

/// The line `change` adds to its incident's timeline: the alert that
/// opened it (or who declared it), the source's resolve, a note from the
/// source. A repeat adds none (the timeline counts them in one line).
pub fn event(change: Change, alert: &Alert) -> Option<Event> {
    let source = alert.source.name();
    if let (Change::Opened(_), Some(d)) = (change, alert.declaration()) {
        return Some(Event {
            kind: EventKind::Declared,
            actor: Some(d.by),
            text: format!("Declared: {}", alert.title),
        });
    }
    let mut text = match change {
        Change::Nothing | Change::Repeated(_) => return None,
        Change::Opened(_) => format!("Alert from {source}: {}", alert.title),
        Change::Reopened(_) => format!("Firing again at {source} after it was resolved"),
        Change::Resolved(_) => format!("Resolved at {source}"),
        Change::Noted(_) => match alert.state {
            AlertState::Acknowledged => format!("Acknowledged at {source}"),
            AlertState::Ignored => format!("Ignored at {source}"),
            AlertState::Reopened => format!("Unresolved at {source}"),
            AlertState::Firing | AlertState::Resolved | AlertState::Updated => {
                format!("Updated at {source}")
            }
        },
    };
    if matches!(change, Change::Noted(_)) {
        for line in &alert.details {
            text.push('\n');
            text.push_str(line);
        }
    }
    let kind = match change {
        Change::Opened(_) => EventKind::Alert,
        Change::Reopened(_) => EventKind::Reopened,
        Change::Resolved(_) => EventKind::Resolved,
        Change::Noted(_) if alert.state == AlertState::Acknowledged => EventKind::Acknowledged,
        Change::Noted(_) | Change::Nothing | Change::Repeated(_) => EventKind::Note,
    };
    Some(Event {
        kind,
        actor: None,
        text,
    })
}

/// Work that follows a new incident, run by the worker.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Job {
    /// `diagnose` or the vendor offers' kind.
    pub kind: &'static str,
    /// Its JSON payload.
    pub payload: String,
}

/// What follows a new incident of `alert`: its runbook's diagnostics (and
/// triage), the vendor's buttons. Also whether its details wait for the
/// runbook ([`messages`]' `deferred`).
pub fn follow_ups(alert: &Alert, config: &AlertSettings) -> (Vec<Job>, bool) {
    let mut jobs = Vec::new();
    let words = routing::runbook_targets(&config.runbooks, alert);
    // With triage on, the runbook job posts the likely cause first and the
    // details after it.
    let deferred = config.triage.enabled && !words.is_empty();
    if !words.is_empty() {
        let job = super::triage::DiagnoseJob {
            run: words,
            alert: Some(alert.clone()),
        };
        jobs.push(Job {
            kind: "diagnose",
            payload: serde_json::to_string(&job).unwrap_or_default(),
        });
    }
    // Buttons for the vendor actions (acknowledge, resolve, …), on every
    // platform alike.
    if let Some(payload) = crate::remediation::vendor::job_payload(alert, &config.action_sources) {
        jobs.push(Job {
            kind: crate::remediation::vendor::JOB_KIND,
            payload,
        });
    }
    (jobs, deferred)
}

#[cfg(test)]
mod tests {
    use medic_commands::model::alert::{AlertSource, Severity};
    use time::macros::datetime;

    use super::*;

    fn alert(state: AlertState, details: &[&str]) -> Alert {
        Alert {
            source: AlertSource::PagerDuty,
            fingerprint: "PGR0VU2".into(),
            state,
            title: "api down".into(),
            severity: Severity::Critical,
            service: None,
            host: None,
            labels: Vec::new(),
            occurred_at: None,
            link: None,
            details: details.iter().map(|d| d.to_string()).collect(),
            chain: Vec::new(),
        }
    }

    #[test]
    fn a_change_says_in_the_timeline_what_the_source_did() {
        let opened = event(Change::Opened(3), &alert(AlertState::Firing, &[])).unwrap();
        assert_eq!(opened.kind, EventKind::Alert);
        assert_eq!(opened.text, "Alert from PagerDuty: api down");
        let acked = event(
            Change::Noted(3),
            &alert(AlertState::Acknowledged, &["by alice"]),
        )
        .unwrap();
        assert_eq!(acked.kind, EventKind::Acknowledged);
        assert_eq!(acked.text, "Acknowledged at PagerDuty\nby alice");
        assert_eq!(
            event(Change::Resolved(3), &alert(AlertState::Resolved, &[])).map(|e| e.kind),
            Some(EventKind::Resolved)
        );
        assert_eq!(
            event(Change::Repeated(3), &alert(AlertState::Firing, &[])),
            None
        );
        // A declared incident names who declared it.
        let alice = Actor {
            id: "U1".into(),
            name: "alice".into(),
        };
        let declared = Alert::declared(
            "Checkout slow",
            medic_commands::model::priority::Priority::P2,
            &medic_commands::model::declared::Declared {
                by: alice.clone(),
                platform: medic_commands::model::inbound::Platform::Slack,
                channel: "C1".into(),
            },
            "d1".into(),
        );
        let e = event(Change::Opened(4), &declared).unwrap();
        assert_eq!((e.kind, e.actor), (EventKind::Declared, Some(alice)));
    }

    #[test]
    fn each_state_against_an_open_incident_or_none() {
        use AlertState::*;
        assert_eq!(decide(Firing, Some(7), None), Change::Repeated(7));
        assert_eq!(decide(Reopened, Some(7), None), Change::Repeated(7));
        assert_eq!(decide(Resolved, Some(7), None), Change::Resolved(7));
        assert_eq!(decide(Acknowledged, Some(7), None), Change::Noted(7));
        assert_eq!(echo(Change::Noted(7), Acknowledged, true), Change::Nothing);
        assert_eq!(
            echo(Change::Noted(7), Acknowledged, false),
            Change::Noted(7)
        );
        assert_eq!(echo(Change::Noted(7), Updated, true), Change::Noted(7));
        assert_eq!(decide(Ignored, Some(7), None), Change::Noted(7));
        assert_eq!(decide(Updated, Some(7), None), Change::Noted(7));
        // Nothing open: a resolve or an ignore of nothing is nothing.
        assert_eq!(decide(Resolved, None, Some(3)), Change::Nothing);
        assert_eq!(decide(Ignored, None, Some(3)), Change::Nothing);
        // News opens one, or reopens one resolved within the window.
        assert_eq!(decide(Firing, None, None), Change::Opened(0));
        assert_eq!(decide(Firing, None, Some(3)), Change::Reopened(3));
        assert_eq!(decide(Acknowledged, None, Some(3)), Change::Reopened(3));
        // An update never reopens: it opens a fresh one.
        assert_eq!(decide(Updated, None, Some(3)), Change::Opened(0));
    }

    #[test]
    fn the_resolved_incident_is_asked_for_only_when_it_can_matter() {
        use AlertState::*;
        for state in [Firing, Reopened, Acknowledged] {
            assert!(asks_reopenable(state, None), "{state:?}");
            assert!(!asks_reopenable(state, Some(1)), "{state:?}");
        }
        for state in [Resolved, Ignored, Updated] {
            assert!(!asks_reopenable(state, None), "{state:?}");
        }
        // With an incident open, no state consults it: the storm's batch
        // decides on its one read of the open incidents alone.
        for state in [Firing, Reopened, Acknowledged, Resolved, Ignored, Updated] {
            assert_eq!(
                decide(state, Some(1), None),
                decide(state, Some(1), Some(2)),
                "{state:?}"
            );
        }
    }

    #[test]
    fn what_each_change_says_in_the_thread() {
        let at = datetime!(2026-11-29 06:35:02 UTC);
        let firing = alert(AlertState::Firing, &["db-1 is down"]);
        assert_eq!(
            messages(Change::Opened(1), &firing, at, false),
            [Message::Root, Message::Note("db-1 is down".into())]
        );
        assert_eq!(
            messages(Change::Opened(1), &firing, at, true),
            [Message::Root],
            "the details wait for the likely cause"
        );
        assert_eq!(
            messages(Change::Repeated(1), &firing, at, false),
            [Message::Edit]
        );
        assert_eq!(
            messages(Change::Resolved(1), &firing, at, false),
            [
                Message::Edit,
                Message::Note("✅ Resolved at 06:35:02 UTC (pagerduty)".into())
            ]
        );
        let acked = alert(AlertState::Acknowledged, &["by Alice"]);
        assert_eq!(
            messages(Change::Noted(1), &acked, at, false),
            [Message::Note(
                "👀 Acknowledged at 06:35:02 UTC (pagerduty)\nby Alice".into()
            )]
        );
        assert!(messages(Change::Nothing, &acked, at, false).is_empty());
    }

    #[test]
    fn a_runbook_defers_the_details_and_queues_its_diagnosis() {
        let firing = alert(AlertState::Firing, &[]);
        let mut config = AlertSettings::default();
        assert_eq!(follow_ups(&firing, &config), (Vec::new(), false));
        config.runbooks = serde_json::from_value(serde_json::json!([
            {"match": {}, "run": ["redis"]}
        ]))
        .unwrap();
        let (jobs, deferred) = follow_ups(&firing, &config);
        assert!(deferred == config.triage.enabled);
        assert_eq!(jobs.len(), 1);
        assert_eq!(jobs[0].kind, "diagnose");
        assert!(jobs[0].payload.contains("\"redis\""), "{}", jobs[0].payload);
    }
}

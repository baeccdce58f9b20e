//! Which duties there are, and which this replica holds now (for
//! `/readyz`): plain data, kept apart from the loop that takes them.

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};

/// The duties, one holder each.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Duty {
    /// Deliveries left pending, runbook jobs, postmortem drafts
    /// ([`crate::incidents::worker`]).
    Incidents,
    /// Sending the outbox ([`crate::outbox::drain`]).
    Outbox,
    /// Response-time reminders ([`crate::incidents::remind`]).
    Reminders,
    /// Scheduled handoff digests ([`crate::oncall::schedule`]).
    Handoffs,
    /// Expiring approvals, forgetting old rows.
    Housekeeping,
    /// The Discord gateway connection: held through a Redis lease
    /// ([`crate::lease`]) rather than a row, since Discord would deliver
    /// every interaction to each connected replica.
    DiscordGateway,
}

impl Duty {
    /// Its name in `duties`, `/readyz` and `/metrics`.
    pub fn as_str(self) -> &'static str {
        match self {
            Duty::Incidents => "incidents",
            Duty::Outbox => "outbox",
            Duty::Reminders => "reminders",
            Duty::Handoffs => "handoffs",
            Duty::Housekeeping => "housekeeping",
            Duty::DiscordGateway => "discord-gateway",
        }
    }
}

/// This replica: its holder id, and the duties it holds now.
#[derive(Debug, Clone)]
pub struct Duties {
    holder: Arc<str>,
    held: Arc<Mutex<BTreeSet<Duty>>>,
}

impl Default for Duties {
    fn default() -> Self {
        Duties::new()
    }
}

impl Duties {
    /// A new replica: a random holder id (host names repeat across
    /// restarts; a restarted process must not renew its dead self's rows).
    pub fn new() -> Duties {
        let mut id = [0u8; 8];
        getrandom::fill(&mut id).expect("the OS has a random source");
        let host = std::env::var("HOSTNAME").unwrap_or_default();
        let hex: String = id.iter().map(|b| format!("{b:02x}")).collect();
        let holder = if host.is_empty() {
            hex
        } else {
            format!("{host}-{hex}")
        };
        Duties {
            holder: holder.into(),
            held: Arc::default(),
        }
    }

    /// This replica's holder id.
    pub fn holder(&self) -> &str {
        &self.holder
    }

    /// The duties this replica holds now, by name.
    pub fn held(&self) -> Vec<&'static str> {
        self.held
            .lock()
            .expect("duties lock")
            .iter()
            .map(|d| d.as_str())
            .collect()
    }

    pub(super) fn mark(&self, duty: Duty, holding: bool) {
        let mut held = self.held.lock().expect("duties lock");
        if holding {
            held.insert(duty);
        } else {
            held.remove(&duty);
        }
    }
}

//! An incident declared from chat (`/incident declare TITLE [P0-P3]`):
//! an alert from [`AlertSource::Chat`] that carries who declared it and
//! where, so that it opens its thread there and its timeline names them.

use super::alert::{Alert, AlertSource, AlertState, Severity};
use super::inbound::{Actor, Platform};
use super::priority::Priority;
use super::word::Word;

/// Who declared an incident from chat, and where: its thread goes there,
/// not to a route's channel.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Declared {
    /// Who typed `/incident declare`.
    pub by: Actor,
    /// Where they typed it.
    pub platform: Platform,
    /// The channel.
    pub channel: String,
}

impl Alert {
    /// The alert of an incident `declared` from chat at `level`: firing,
    /// keyed by `fingerprint` (one per declaration), the title as typed.
    pub fn declared(
        title: &str,
        level: Priority,
        declared: &Declared,
        fingerprint: String,
    ) -> Alert {
        use Priority;
        let severity = match level {
            Priority::P0 | Priority::P1 => Severity::Critical,
            Priority::P2 => Severity::Error,
            Priority::P3 => Severity::Warning,
        };
        let label = |k: &str, v: &str| (k.to_string(), v.to_string());
        Alert {
            source: AlertSource::Chat,
            fingerprint,
            state: AlertState::Firing,
            title: title.to_string(),
            severity,
            service: None,
            host: None,
            labels: vec![
                label("priority", level.as_str()),
                label("declared_by", &declared.by.id),
                label("declared_by_name", &declared.by.name),
                label("platform", declared.platform.as_str()),
                label("channel", &declared.channel),
            ],
            occurred_at: None,
            link: None,
            details: Vec::new(),
            chain: Vec::new(),
        }
    }

    /// Who declared it and where, for an alert from chat.
    pub fn declaration(&self) -> Option<Declared> {
        if self.source != AlertSource::Chat {
            return None;
        }
        let id = self.label("declared_by")?;
        Some(Declared {
            by: Actor {
                id: id.to_string(),
                name: self.label("declared_by_name").unwrap_or(id).to_string(),
            },
            platform: Platform::parse(self.label("platform")?).ok()?,
            channel: self.label("channel")?.to_string(),
        })
    }
}

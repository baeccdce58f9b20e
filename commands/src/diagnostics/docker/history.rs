//! Purpose: `docker events --since 1h --filter container=ID` — how often
//! the container started, died and was OOM-killed in the last hour.
//! `RestartCount` in inspect counts only the restart policy's restarts
//! since the container was created, for its whole life; the events give the
//! last hour's, whoever restarted it (the policy, `docker restart`,
//! `docker compose restart`).

use std::collections::HashMap;

use bollard::models::EventMessage;
use bollard::query_parameters::EventsOptionsBuilder;
use futures::StreamExt;
use time::OffsetDateTime;

use super::HISTORY;
use super::client::{Failed, within};
use super::session::Session;

/// Events read at most per container: a container restarting every
/// second for an hour is a crash loop long before this.
const MAX_EVENTS: usize = 2000;

/// What the last hour's events say about one container.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct History {
    /// Starts that were restarts (its first start after `create` is not).
    pub restarts: u64,
    /// Exits (`die`), whatever the cause.
    pub exits: u64,
    /// OOM kills (`oom`).
    pub ooms: u64,
    /// The exit code of the last `die`, when it carried one.
    pub last_exit_code: Option<i64>,
    /// Whether the container was created within the hour.
    pub created: bool,
}

impl History {
    /// Reads a container's events (oldest first, as the API sends them).
    pub fn from_events(events: &[EventMessage]) -> History {
        let mut h = History::default();
        let mut starts = 0u64;
        let mut created_before_start = false;
        for e in events {
            match e.action.as_deref() {
                Some("create") => h.created = true,
                Some("start") => {
                    if starts == 0 && h.created {
                        created_before_start = true;
                    }
                    starts += 1;
                }
                Some("die") => {
                    h.exits += 1;
                    h.last_exit_code = e
                        .actor
                        .as_ref()
                        .and_then(|a| a.attributes.as_ref())
                        .and_then(|a| a.get("exitCode"))
                        .and_then(|c| c.parse().ok())
                        .or(h.last_exit_code);
                }
                Some("oom") => h.ooms += 1,
                _ => {}
            }
        }
        h.restarts = starts.saturating_sub(u64::from(created_before_start));
        h
    }
}

/// The last hour of `id`'s events, up to `now`.
pub async fn read(session: &Session, id: &str, now: OffsetDateTime) -> Result<History, Failed> {
    let since = (now - HISTORY).unix_timestamp().to_string();
    // Whole seconds: the second `now` is in must be read whole, or a
    // restart a moment ago is missed.
    let until = (now.unix_timestamp() + 1).to_string();
    let filters: HashMap<&str, Vec<&str>> = HashMap::from([
        ("type", vec!["container"]),
        ("container", vec![id]),
        ("event", vec!["create", "start", "die", "oom"]),
    ]);
    let options = EventsOptionsBuilder::default()
        .since(&since)
        .until(&until)
        .filters(&filters)
        .build();
    // With `until` in the past or now, the daemon sends what it has and
    // ends the stream.
    let collect = async {
        let mut stream = session.docker.events(Some(options));
        let mut events = Vec::new();
        while let Some(item) = stream.next().await {
            events.push(item?);
            if events.len() >= MAX_EVENTS {
                break;
            }
        }
        Ok(events)
    };
    let events = within(session.budget, collect).await?;
    Ok(History::from_events(&events))
}

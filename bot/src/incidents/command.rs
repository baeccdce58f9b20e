//! `/incident …` typed in chat: run an incident from its thread, or
//! declare one.
//!
//! Which incident: the one named (`#12`), else the one whose thread the
//! command was typed in (a Discord thread, an `@medic` mention in a Slack
//! thread), else the only one open in the channel. Slack's slash commands
//! do not say which thread they were typed in, so there the number (or a
//! channel with one open incident) says it. What is done goes through
//! [`super::respond`], as a button press does; the answer is private.
//!
//! A declared incident is an alert from [`AlertSource::Chat`], stored as
//! a delivery like a webhook's: it opens its incident in the channel it
//! was declared in, with its root, buttons, reminders, and the runbooks
//! whose `match` its title fits.

use medic_commands::command::IncidentAction;
use medic_commands::model::alert::Alert;
use medic_commands::model::declared::Declared;
use medic_commands::model::inbound::{Actor, Platform};
use medic_commands::model::priority::Priority;

use super::respond::{self, Answer};
use crate::dispatch::typed::{Ack, Typed, ack, rate_limited};
use crate::state::AppState;
use crate::storage::deliveries::{NewDelivery, Recorded};
use crate::storage::incidents::IncidentRow;
use crate::telemetry::metrics::AckOutcome;

/// The level of an incident declared without one.
pub const DECLARED_LEVEL: Priority = Priority::P2;

/// The most characters of timeline one private answer shows: Discord's
/// 2,000, less the heading.
const TIMELINE_MAX: usize = 1800;

/// Runs `/incident ACTION [#N]` as typed; the private answer.
pub async fn run(
    state: &AppState,
    typed: &Typed<'_>,
    action: IncidentAction,
    number: Option<i64>,
) -> Ack {
    let actor = actor(typed);
    let row = match find(state, typed, number).await {
        Ok(row) => row,
        Err(why) => return ack(why, AckOutcome::Help),
    };
    match action {
        IncidentAction::Respond(r) => answered(respond::respond(state, &row, r, &actor).await),
        IncidentAction::Severity(level) => {
            answered(respond::set_level(state, &row, level, &actor).await)
        }
        IncidentAction::Timeline => timeline(state, typed.platform, &row).await,
    }
}

fn actor(typed: &Typed<'_>) -> Actor {
    Actor {
        id: typed.actor_id.to_string(),
        name: typed.actor_name.to_string(),
    }
}

fn answered(answer: Answer) -> Ack {
    let outcome = match answer {
        Answer::Changed(_) | Answer::Unchanged(_) => AckOutcome::Answered,
        Answer::Refused(_) => AckOutcome::Refused,
        Answer::Failed(_) => AckOutcome::Failed,
    };
    ack(answer.text().to_string(), outcome)
}

/// The incident a command is about: see the module docs. `Err` says what
/// to type instead.
async fn find(
    state: &AppState,
    typed: &Typed<'_>,
    number: Option<i64>,
) -> Result<IncidentRow, String> {
    const FAILING: &str =
        "medic could not read its incidents (its database is failing); try again in a minute.";
    if let Some(n) = number {
        return match state.store.incident(n).await {
            Ok(Some(row))
                if row
                    .place
                    .as_ref()
                    .is_some_and(|(p, _)| *p == typed.platform) =>
            {
                Ok(row)
            }
            Ok(_) => Err(format!("There is no incident #{n} here.")),
            Err(error) => {
                tracing::warn!(%error, "Could not read an incident for a command.");
                Err(FAILING.into())
            }
        };
    }
    // Typed in its thread: on Discord the thread is the channel, and its
    // id is the root's.
    for root in typed.thread.into_iter().chain([typed.channel]) {
        match state.store.incident_by_root(typed.platform, root).await {
            Ok(Some(row)) => return Ok(row),
            Ok(None) => {}
            Err(error) => {
                tracing::warn!(%error, "Could not read an incident for a command.");
                return Err(FAILING.into());
            }
        }
    }
    let open = state
        .store
        .open_in_channel(typed.platform, typed.channel)
        .await
        .map_err(|error| {
            tracing::warn!(%error, "Could not read the open incidents for a command.");
            FAILING.to_string()
        })?;
    match open.as_slice() {
        [only] => Ok(only.clone()),
        [] => Err("No incident is open in this channel; name one with its number (`/incident ack #12`), or type the command in its thread.".into()),
        many => Err(format!(
            "Which incident? Add its number: {}.",
            many.iter()
                .map(|i| format!("`#{}` {}", i.id, i.view.title))
                .collect::<Vec<_>>()
                .join(", ")
        )),
    }
}

/// `/incident timeline`: the incident's events in order, the latest
/// that fit in one private answer.
async fn timeline(state: &AppState, platform: Platform, row: &IncidentRow) -> Ack {
    let entries = match state.store.timeline(row).await {
        Ok(e) => e,
        Err(error) => {
            tracing::warn!(%error, incident = row.id, "Could not read an incident's timeline.");
            return ack(
                "medic could not read the timeline (its database is failing); try again in a minute.",
                AckOutcome::Failed,
            );
        }
    };
    let mut lines: Vec<String> = Vec::new();
    let mut len = 0;
    for e in entries.iter().rev() {
        let line = e.chat_line(platform);
        len += line.chars().count() + 1;
        if len > TIMELINE_MAX {
            break;
        }
        lines.push(line);
    }
    lines.reverse();
    let left_out = entries.len() - lines.len();
    let mut text = format!(
        "🕒 Timeline of incident #{} {}{}",
        row.id,
        row.view.level_prefix(),
        row.view.title
    );
    if left_out > 0 {
        text.push_str(&format!(
            "\n… {left_out} earlier event(s): `medic incident show {}` prints them all.",
            row.id
        ));
    }
    for line in lines {
        text.push('\n');
        text.push_str(&line);
    }
    ack(text, AckOutcome::Answered)
}

/// `/incident declare TITLE [P0-P3]`: stores the declaration as a chat
/// alert; the incident logic opens it like any alert's.
pub async fn declare(
    state: &AppState,
    typed: &Typed<'_>,
    title: &str,
    level: Option<Priority>,
) -> Ack {
    let level = level.unwrap_or(DECLARED_LEVEL);
    if let Err(wait) = crate::budget::spend(state, typed.platform, typed.actor_id).await {
        return rate_limited(wait);
    }
    let id = crate::storage::offers::new_id();
    let declared = Declared {
        by: actor(typed),
        platform: typed.platform,
        channel: typed.channel.to_string(),
    };
    let alert = Alert::declared(title, level, &declared, format!("declared-{id}"));
    let delivery = NewDelivery::new("chat", id, vec![alert]);
    match state.ingest.record(delivery).await {
        Ok(Recorded::New(_) | Recorded::Duplicate) => ack(
            format!(
                "📣 Declared *{title}* as {} ({}): its thread opens in this channel, with the runbooks that match it.",
                level.as_str(),
                level.name()
            ),
            // Not `Accepted`: that promises a report to follow the answer.
            AckOutcome::Answered,
        ),
        Err(error) => {
            tracing::error!(%error, "Could not store a declared incident.");
            ack(
                "medic could not store the incident (its database is failing). Try again in a minute; the operator has a log line.",
                AckOutcome::Failed,
            )
        }
    }
}

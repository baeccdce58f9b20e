//! A typed command as the platforms hand it over, and the immediate
//! answer to it: shared by the dispatch and the commands it hands on
//! (`/incident`, in [`crate::incidents::command`]).

use std::borrow::Cow;

use medic_commands::model::inbound::Platform;

use crate::telemetry::metrics::AckOutcome;

/// A command as a platform delivered it, borrowed from the request that
/// carried it.
#[derive(Debug, Clone, Copy)]
pub struct Typed<'a> {
    /// Where it came from.
    pub platform: Platform,
    /// The channel it was typed in.
    pub channel: &'a str,
    /// The thread it was typed in, where the platform says (an `@medic`
    /// mention in a Slack thread; on Discord a thread is the channel).
    pub thread: Option<&'a str>,
    /// The platform's stable id of who typed it.
    pub actor_id: &'a str,
    /// Their name, for people.
    pub actor_name: &'a str,
    /// The command as registered or typed, with or without its slash
    /// (`/diag`, `/medic`, `diag`).
    pub name: &'a str,
    /// The words after it, as typed.
    pub text: &'a str,
}

/// The immediate answer to a command, shown only to its author.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ack {
    /// The text of the ephemeral answer.
    pub text: Cow<'static, str>,
    /// How it was answered, for metrics and tests.
    pub outcome: AckOutcome,
}

pub(crate) fn ack(text: impl Into<Cow<'static, str>>, outcome: AckOutcome) -> Ack {
    Ack {
        text: text.into(),
        outcome,
    }
}

/// The answer to someone over the per-person command limit.
pub(crate) fn rate_limited(wait: std::time::Duration) -> Ack {
    ack(
        format!(
            "You've run a lot of commands in the last minute; try again in {} s.",
            wait.as_secs().max(1)
        ),
        AckOutcome::RateLimited,
    )
}

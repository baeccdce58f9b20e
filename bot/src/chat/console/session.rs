//! What a person types at `medic console`, handled as the other platforms'
//! inbound handlers handle theirs: commands through the same dispatch as a
//! slash command, alerts from a file through the same intake and incident
//! logic as the webhooks, button numbers through the same remediation
//! flow as a click.
//!
//! | typed | does |
//! |---|---|
//! | `/diag redis`, `diag redis`, `/help` | a command, answered in the channel |
//! | `/alert sentry FILE` (`pagerduty`, `alertmanager`) | the file's payload as that source's webhook body |
//! | `click N`, `approve N`, `deny N` | presses button `N` |
//! | `/as USER` | types as `USER` from now on (a second person approves) |
//! | `/quit`, end of input | stops, after the messages on their way are shown |
//!
//! The console is local and its user is at the keyboard, so an alert file
//! is not signed: it is parsed as the source's verified body would be.

use std::path::Path;

use medic_commands::model::inbound::{Actor, ButtonClick, ClickVerb, Place, Platform};
use medic_integrations::alerts::alertmanager::AlertmanagerVerifier;
use medic_integrations::alerts::pagerduty::PagerDutyVerifier;
use medic_integrations::alerts::sentry::SentryVerifier;
use medic_integrations::alerts::{Intake, IntakeError};

use super::{CHANNEL, ConsoleRuntime};
use crate::delivery::Delivery;
use crate::dispatch::{self, Typed};
use crate::remediation::{Notifier, flow};
use crate::state::AppState;
use crate::storage::deliveries::{NewDelivery, Recorded};

/// One line as typed, and what it asks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Line<'a> {
    /// Nothing.
    Empty,
    /// Stop.
    Quit,
    /// Type as someone else from now on.
    As(&'a str),
    /// An alert from a file.
    Alert {
        /// The source's name as typed (`sentry`).
        source: &'a str,
        /// The file.
        file: &'a str,
    },
    /// A button pressed by number; `verb` when the person said which kind
    /// it should be (`approve 3`).
    Press {
        /// The number shown.
        number: usize,
        /// What the person meant it to be.
        verb: Option<ClickVerb>,
    },
    /// A command, for the chat grammar (`/diag redis`, `diag redis`).
    Command {
        /// The command as typed (`/diag`, `diag`).
        name: &'a str,
        /// The words after it.
        text: &'a str,
    },
    /// Something this console does not understand, with why.
    Unknown(String),
}

/// Reads one typed line.
pub fn parse(line: &str) -> Line<'_> {
    let line = line.trim();
    if line.is_empty() {
        return Line::Empty;
    }
    let (first, rest) = line.split_once(char::is_whitespace).unwrap_or((line, ""));
    let rest = rest.trim();
    let press = |verb| match rest.parse::<usize>() {
        Ok(number) => Line::Press { number, verb },
        Err(_) => Line::Unknown(format!("`{first}` takes a button's number: `{first} 2`")),
    };
    match first {
        "/quit" | "/exit" | "quit" | "exit" => Line::Quit,
        "/as" | "as" if !rest.is_empty() && !rest.contains(char::is_whitespace) => Line::As(rest),
        "/as" | "as" => Line::Unknown("`/as USER` takes one user id".into()),
        "/alert" => match rest.split_once(char::is_whitespace) {
            Some((source, file)) => Line::Alert {
                source,
                file: file.trim(),
            },
            None => Line::Unknown(
                "`/alert SOURCE FILE`: sentry, pagerduty or alertmanager, and a JSON file".into(),
            ),
        },
        "click" | "/click" => press(None),
        "approve" | "/approve" => press(Some(ClickVerb::Approve)),
        "deny" | "/deny" => press(Some(ClickVerb::Deny)),
        name => Line::Command { name, text: rest },
    }
}

/// Handles one typed line as `user`; `false` once the person quits.
pub async fn handle(
    state: &AppState,
    console: &ConsoleRuntime,
    user: &mut String,
    line: &str,
) -> bool {
    match parse(line) {
        Line::Empty => {}
        Line::Quit => return false,
        Line::As(who) => {
            *user = who.to_string();
            console.say(&format!("You are {who} now."));
        }
        Line::Alert { source, file } => alert(state, console, source, Path::new(file)).await,
        Line::Press { number, verb } => press(state, console, user, number, verb).await,
        Line::Command { name, text } => {
            let typed = Typed {
                platform: Platform::Console,
                channel: CHANNEL,
                thread: None,
                actor_id: user,
                actor_name: user,
                name,
                text,
            };
            let delivery = || Delivery::Console {
                channel: CHANNEL.to_string(),
            };
            let ack = dispatch::command(state, typed, delivery).await;
            console.say(&ack.text);
        }
        Line::Unknown(why) => console.say(&why),
    }
    true
}

/// `/alert SOURCE FILE`: the file as that source's webhook body.
async fn alert(state: &AppState, console: &ConsoleRuntime, source: &str, file: &Path) {
    let body = match std::fs::read(file) {
        Ok(b) => b,
        Err(e) => return console.say(&format!("Cannot read {}: {e}", file.display())),
    };
    let (intake, headers): (Box<dyn Intake>, axum::http::HeaderMap) = match source {
        "sentry" => {
            let mut headers = axum::http::HeaderMap::new();
            if let Some(resource) = sentry_resource(&body) {
                headers.insert("sentry-hook-resource", resource);
            }
            (Box::new(SentryVerifier::new("")), headers)
        }
        "pagerduty" => (
            Box::new(PagerDutyVerifier::new([""])),
            axum::http::HeaderMap::new(),
        ),
        "alertmanager" => (
            Box::new(AlertmanagerVerifier::new(None)),
            axum::http::HeaderMap::new(),
        ),
        other => {
            return console.say(&format!(
                "`{other}` is not an alert source: sentry, pagerduty or alertmanager."
            ));
        }
    };
    let alerts = match intake.parse(&headers, &body) {
        Ok(a) => a,
        Err(IntakeError::Ignored(why)) => {
            return console.say(&format!("Nothing to act on: {why}."));
        }
        Err(e) => {
            return console.say(&format!(
                "{} is not a {source} webhook body: {e}",
                file.display()
            ));
        }
    };
    let count = alerts.len();
    let name = intake.source().as_str();
    let delivery = NewDelivery::new(name, intake.delivery_id(&headers, &body), alerts);
    match state.ingest.record(delivery).await {
        Ok(Recorded::New(_)) => console.say(&format!("{count} alert(s) from {name} received.")),
        Ok(Recorded::Duplicate) => console.say("That delivery was received before; nothing new."),
        Err(e) => console.say(&format!("The alert could not be stored: {e}")),
    }
}

/// Which Sentry webhook a body is, from its `data`'s one key: the header
/// Sentry sends with it (`Sentry-Hook-Resource`).
fn sentry_resource(body: &[u8]) -> Option<axum::http::HeaderValue> {
    let v: serde_json::Value = serde_json::from_slice(body).ok()?;
    let data = v.get("data")?.as_object()?;
    let resource = [
        ("issue", "issue"),
        ("error", "error"),
        ("event", "event_alert"),
        ("metric_alert", "metric_alert"),
    ]
    .into_iter()
    .find(|(key, _)| data.contains_key(*key))?
    .1;
    Some(axum::http::HeaderValue::from_static(resource))
}

/// `click N`: button `N`, pressed as `user`.
async fn press(
    state: &AppState,
    console: &ConsoleRuntime,
    user: &str,
    number: usize,
    meant: Option<ClickVerb>,
) {
    let Some(button) = console.button(number) else {
        return console.say(&format!("There is no button {number}."));
    };
    if meant.is_some_and(|v| v != button.verb) {
        return console.say(&format!("Button {number} is “{}”.", button.label));
    }
    let click = ButtonClick {
        actor: Actor {
            id: user.to_string(),
            name: user.to_string(),
        },
        place: Place {
            platform: Platform::Console,
            channel: CHANNEL.to_string(),
            thread: None,
        },
        verb: button.verb,
        id: button.id,
    };
    flow::handle(state, click, &Answer(console)).await;
}

/// A click's private answers, on the console.
struct Answer<'a>(&'a ConsoleRuntime);

impl Notifier for Answer<'_> {
    async fn ephemeral(&self, text: &str) {
        self.0.say(text);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn typed_lines_are_read_as_what_they_ask() {
        assert_eq!(parse("  "), Line::Empty);
        assert_eq!(parse("/quit"), Line::Quit);
        assert_eq!(parse("/as bob"), Line::As("bob"));
        assert!(matches!(parse("/as bob smith"), Line::Unknown(_)));
        assert_eq!(
            parse("/alert sentry /tmp/issue.json"),
            Line::Alert {
                source: "sentry",
                file: "/tmp/issue.json"
            }
        );
        assert_eq!(
            parse("approve 3"),
            Line::Press {
                number: 3,
                verb: Some(ClickVerb::Approve)
            }
        );
        assert!(matches!(parse("click two"), Line::Unknown(_)));
        assert_eq!(
            parse("/diag redis"),
            Line::Command {
                name: "/diag",
                text: "redis"
            }
        );
    }

    #[test]
    fn a_sentry_body_names_its_resource() {
        let issue = br#"{"action":"created","data":{"issue":{"id":"1"}}}"#;
        assert_eq!(sentry_resource(issue).unwrap(), "issue");
        let alert = br#"{"action":"triggered","data":{"event":{},"triggered_rule":"r"}}"#;
        assert_eq!(sentry_resource(alert).unwrap(), "event_alert");
        assert!(sentry_resource(b"[]").is_none());
    }
}

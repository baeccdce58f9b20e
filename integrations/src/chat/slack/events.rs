//! Events API bodies (`POST /slack/events`), leniently: the URL check and
//! `app_mention`, the only event medic subscribes to.

use serde::Deserialize;

/// An Events API request body.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct Envelope {
    /// `url_verification` or `event_callback`.
    #[serde(rename = "type")]
    pub kind: String,
    /// The value to echo when `kind` is `url_verification`.
    pub challenge: Option<String>,
    /// Unique per event; Slack's retries repeat it.
    pub event_id: Option<String>,
    /// The workspace the event is for (the app's installation).
    pub team_id: Option<String>,
    /// The event itself.
    pub event: Option<Event>,
}

/// One event.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct Event {
    /// `app_mention`, `message`…
    #[serde(rename = "type")]
    pub kind: String,
    /// Who wrote the message.
    pub user: Option<String>,
    /// Set when a bot wrote it (never answered: no loops between bots).
    pub bot_id: Option<String>,
    /// The message text, mentions as `<@U123>`.
    pub text: String,
    /// The channel.
    pub channel: String,
    /// The message's ts.
    pub ts: String,
    /// The thread it is in, when it is a reply.
    pub thread_ts: Option<String>,
}

/// The body is not an Events API envelope.
#[derive(Debug, thiserror::Error)]
#[error("not a Slack event: {0}")]
pub struct ParseError(String);

impl Envelope {
    /// Parses a request body.
    pub fn parse(body: &[u8]) -> Result<Envelope, ParseError> {
        let de = &mut serde_json::Deserializer::from_slice(body);
        let env: Envelope =
            serde_path_to_error::deserialize(de).map_err(|e| ParseError(e.to_string()))?;
        if env.kind.is_empty() {
            return Err(ParseError("missing field `type`".into()));
        }
        Ok(env)
    }
}

impl Event {
    /// The words addressed to medic: "<@U0MEDIC> diag redis" → `diag`,
    /// `["redis"]`; just a mention → `help`. Other mentions and Slack's
    /// link markup are dropped.
    pub fn command(&self) -> (String, Vec<String>) {
        let mut words = self
            .text
            .split_whitespace()
            .filter(|w| !(w.starts_with("<@") && w.ends_with('>')))
            .map(str::to_string);
        match words.next() {
            Some(first) => (
                first.trim_start_matches('/').to_lowercase(),
                words.collect(),
            ),
            None => ("help".into(), Vec::new()),
        }
    }

    /// The thread an answer belongs in: the mention's thread, or a new one
    /// under the mention.
    pub fn answer_thread(&self) -> &str {
        self.thread_ts.as_deref().unwrap_or(&self.ts)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixture(name: &str) -> Vec<u8> {
        std::fs::read(format!(
            "{}/../tests/fixtures/slack/{name}",
            env!("CARGO_MANIFEST_DIR")
        ))
        .unwrap()
    }

    #[test]
    fn url_verification_carries_the_challenge() {
        let e = Envelope::parse(&fixture("url_verification.json")).unwrap();
        assert_eq!(e.kind, "url_verification");
        assert_eq!(
            e.challenge.as_deref(),
            Some("3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P")
        );
    }

    #[test]
    fn app_mention_fixture_parses() {
        let e = Envelope::parse(&fixture("event_callback_app_mention.json")).unwrap();
        assert_eq!(e.event_id.as_deref(), Some("Ev111"));
        assert_eq!(e.team_id.as_deref(), Some("T111"));
        let ev = e.event.unwrap();
        assert_eq!(ev.kind, "app_mention");
        assert_eq!(ev.channel, "C111");
        assert_eq!(ev.answer_thread(), "1595926230.009600");
        assert_eq!(ev.command(), ("hi".to_string(), vec!["there!".to_string()]));
    }

    #[test]
    fn mention_words_become_a_command() {
        let ev = Event {
            text: "<@U0MEDIC> diag  redis".into(),
            ..Default::default()
        };
        assert_eq!(
            ev.command(),
            ("diag".to_string(), vec!["redis".to_string()])
        );
        let ev = Event {
            text: "<@U0MEDIC>".into(),
            ..Default::default()
        };
        assert_eq!(ev.command(), ("help".to_string(), vec![]));
        assert!(Envelope::parse(b"{}").is_err());
    }
}

//! medic's Slack runtime: the verifier, the Web API client and its pace,
//! built once from `[slack]`; and Slack's inbound handlers.
//!
//! - [`http`]: `POST /slack/commands` and `/slack/events`.
//! - [`interactions`]: `POST /slack/interactions` (buttons).
//! - [`socket`]: Socket Mode, the same handlers over a WebSocket.

pub mod http;
pub mod interactions;
pub mod send;
pub mod socket;

use std::sync::Arc;
use std::time::Duration;

use medic_commands::Diagnosis;
use medic_commands::model::inbound::Platform;
use medic_integrations::chat::Provenance;
use medic_integrations::chat::slack::client::SlackApi;
use medic_integrations::chat::slack::render;
use medic_integrations::chat::slack::verify::SlackVerifier;
use secrecy::ExposeSecret;

use crate::chat::allow::Gate;
use crate::outbox::pace::Pacer;
use crate::settings::SlackSettings;
use crate::telemetry::metrics::Metrics;

/// Slack's documented pace for posting into one channel.
pub const CHANNEL_INTERVAL: Duration = Duration::from_secs(1);
/// How long a report keeps trying to reach Slack through an outage.
pub const DELIVERY_DEADLINE: Duration = Duration::from_secs(15 * 60);

/// Everything medic needs to speak Slack.
#[derive(Debug)]
pub struct SlackRuntime {
    /// Checks inbound request signatures.
    pub verifier: SlackVerifier,
    /// The Web API.
    pub api: SlackApi,
    /// Paces posts per channel.
    pub pace: Pacer,
    /// `slack.teams`: every inbound request asks it first.
    pub gate: Gate,
    /// The Web API's host, also trusted for `response_url` (tests run Slack
    /// as one fake at one address).
    api_host: String,
    http: reqwest::Client,
}

impl SlackRuntime {
    /// Builds the runtime from validated settings.
    pub fn new(
        settings: &SlackSettings,
        metrics: Arc<Metrics>,
        http: reqwest::Client,
    ) -> anyhow::Result<Self> {
        let api = SlackApi::new(
            settings.api_url.as_str(),
            settings.bot_token.expose_secret(),
        )
        .map_err(|e| anyhow::anyhow!("cannot build the Slack client: {e}"))?;
        Ok(SlackRuntime {
            verifier: SlackVerifier::new(settings.signing_secret.expose_secret()),
            api,
            gate: Gate::new(Platform::Slack, &settings.teams, metrics.clone()),
            pace: Pacer::new(
                Platform::Slack,
                CHANNEL_INTERVAL,
                DELIVERY_DEADLINE,
                metrics,
            ),
            api_host: settings.api_url.host_str().unwrap_or_default().to_string(),
            http,
        })
    }

    /// Whether `url` is a Slack `response_url` medic may call: Slack's hooks
    /// host over https, or the configured API host. A verified request
    /// cannot carry a forged URL, but this keeps medic from ever being made
    /// to call an arbitrary address.
    fn trusted_response_url(&self, url: &str) -> bool {
        match url::Url::parse(url) {
            Ok(u) => match u.host_str() {
                Some("hooks.slack.com") => u.scheme() == "https",
                Some(h) => h == self.api_host,
                None => false,
            },
            Err(_) => false,
        }
    }

    /// Answers one person through a `response_url`, seen by them alone:
    /// a refused or expired button click (leaving the clicked message as
    /// it is), or a command's help in Socket Mode, where the
    /// acknowledgement goes out before the command has run.
    pub async fn respond_ephemeral(&self, response_url: &str, text: &str) -> Result<(), String> {
        if !self.trusted_response_url(response_url) {
            return Err("the response_url is not Slack's".into());
        }
        let body = serde_json::json!({
            "response_type": "ephemeral",
            "replace_original": false,
            "text": medic_commands::redact::redact(text),
        });
        let response = self
            .http
            .post(response_url)
            .json(&body)
            .send()
            .await
            .map_err(response_url_error)?;
        if response.status().is_success() {
            Ok(())
        } else {
            Err(format!("the response_url answered {}", response.status()))
        }
    }

    /// Shows a report to the person who asked, through the command's
    /// `response_url`, when medic may not post into the channel.
    pub async fn respond_privately(
        &self,
        response_url: &str,
        report: &Diagnosis,
        prov: &Provenance,
        code: &str,
    ) -> Result<(), String> {
        if !self.trusted_response_url(response_url) {
            return Err(format!(
                "Slack refused the post ({code}) and the response_url is not Slack's"
            ));
        }
        let mut blocks =
            serde_json::to_value(render::diagnosis_root(report, prov).blocks).unwrap_or_default();
        let thread = render::diagnosis_thread(report, prov);
        if let (Some(list), Some(first)) = (blocks.as_array_mut(), thread.first()) {
            if let Ok(serde_json::Value::Array(more)) = serde_json::to_value(&first.blocks) {
                list.extend(more.into_iter().take(render::MAX_BLOCKS - 3));
            }
            list.insert(
                0,
                serde_json::json!({"type": "section", "text": {"type": "mrkdwn", "text":
                    format!("I can't post in this channel (`{code}`): invite me with `/invite @medic`. Meanwhile, here is the report, just for you.")}}),
            );
        }
        let body = serde_json::json!({
            "response_type": "ephemeral",
            "text": format!("{} {} — {}", report.status().symbol(), report.label, report.headline()),
            "blocks": blocks,
        });
        let response = self
            .http
            .post(response_url)
            .json(&body)
            .send()
            .await
            .map_err(response_url_error)?;
        if response.status().is_success() {
            tracing::info!(
                code,
                "medic may not post in the channel; the report went to its requester privately."
            );
            Ok(())
        } else {
            Err(format!(
                "Slack refused the channel ({code}) and the response_url ({})",
                response.status()
            ))
        }
    }
}

/// Why a `response_url` could not be reached, without the URL: its path
/// is a bearer credential for answering in that channel, and this text
/// is logged and stored with the run.
fn response_url_error(error: reqwest::Error) -> String {
    medic_commands::redact::redact(&error.without_url().to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_response_url_error_does_not_carry_the_url() {
        // A response_url on a port nothing listens on: the error names
        // the URL, whose path answers in the channel for half an hour.
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        drop(listener);
        let url = format!("http://127.0.0.1:{port}/commands/T0001/1234/Zm9vYmFyLXNlY3JldA");
        let error = reqwest::Client::new()
            .post(&url)
            .send()
            .await
            .expect_err("nothing listens");
        assert!(error.to_string().contains("Zm9vYmFyLXNlY3JldA"), "{error}");
        let said = response_url_error(error);
        assert!(!said.contains("Zm9vYmFyLXNlY3JldA"), "{said}");
        assert!(!said.contains("/commands/"), "{said}");
    }
}

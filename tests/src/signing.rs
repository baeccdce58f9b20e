//! Signs requests the way the platforms do. Written from the platforms'
//! documentation with hmac/sha2 directly, not with medic's verifier, so a
//! bug in the verifier cannot hide itself.

use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

/// `v0=<hex>` over `v0:{ts}:{body}`, as Slack signs requests.
pub fn slack_signature(secret: &str, ts: i64, body: &[u8]) -> String {
    let mut mac =
        <Hmac<Sha256> as KeyInit>::new_from_slice(secret.as_bytes()).expect("any key length");
    mac.update(format!("v0:{ts}:").as_bytes());
    mac.update(body);
    format!("v0={}", hex::encode(mac.finalize().into_bytes()))
}

/// A slash-command form body shaped like Slack's (see
/// tests/fixtures/slack/slash_command_docs.form.txt).
pub fn slash_form(
    command: &str,
    text: &str,
    channel: &str,
    user_id: &str,
    user_name: &str,
    response_url: &str,
) -> String {
    serde_urlencoded::to_string([
        ("token", "xyzz0WbapA4vBCDEFasx0q6G"),
        ("team_id", "T1DC2JH3J"),
        ("team_domain", "testteamnow"),
        ("channel_id", channel),
        ("channel_name", "incident"),
        ("user_id", user_id),
        ("user_name", user_name),
        ("command", command),
        ("text", text),
        ("api_app_id", "A0MEDIC"),
        ("is_enterprise_install", "false"),
        ("response_url", response_url),
        (
            "trigger_id",
            "398738663015.47445629121.803a0bc887a14d10d2c447fce8b6703c",
        ),
    ])
    .expect("form encodes")
}

/// Sentry's `Sentry-Hook-Signature`: bare hex HMAC-SHA256 of the body with
/// the integration's client secret.
pub fn sentry_signature(secret: &str, body: &[u8]) -> String {
    let mut mac =
        <Hmac<Sha256> as KeyInit>::new_from_slice(secret.as_bytes()).expect("any key length");
    mac.update(body);
    hex::encode(mac.finalize().into_bytes())
}

/// PagerDuty's `X-PagerDuty-Signature` for one secret: `v1=<hex>` of
/// HMAC-SHA256 over the body (several are joined with commas during a
/// rotation).
pub fn pagerduty_signature(secret: &str, body: &[u8]) -> String {
    format!("v1={}", sentry_signature(secret, body))
}

/// A `block_actions` interaction body as Slack posts it (form field
/// `payload=` holding JSON), built from the published payload in
/// tests/fixtures/slack/block_actions_button.json with this click's user,
/// channel, thread, button and `response_url`.
pub fn block_actions_form(
    user: &str,
    channel: &str,
    thread_ts: Option<&str>,
    action_id: &str,
    value: &str,
    response_url: &str,
) -> String {
    let mut v: serde_json::Value =
        serde_json::from_str(include_str!("../fixtures/slack/block_actions_button.json"))
            .expect("fixture parses");
    v["user"]["id"] = user.into();
    v["user"]["username"] = user.to_lowercase().into();
    v["user"]["name"] = user.to_lowercase().into();
    v["channel"]["id"] = channel.into();
    v["container"]["channel_id"] = channel.into();
    v["container"]["is_ephemeral"] = false.into();
    if let Some(ts) = thread_ts {
        v["container"]["thread_ts"] = ts.into();
    }
    v["response_url"] = response_url.into();
    v["actions"][0]["action_id"] = action_id.into();
    v["actions"][0]["value"] = value.into();
    serde_urlencoded::to_string([("payload", v.to_string())]).expect("form encodes")
}

/// A Discord application's Ed25519 key pair, made in the test from
/// `seed` (any 32 bytes are a valid secret key).
pub fn discord_key(seed: u8) -> ed25519_dalek::SigningKey {
    ed25519_dalek::SigningKey::from_bytes(&[seed; 32])
}

/// The hex public key, for `discord.public_key`.
pub fn discord_public_key(key: &ed25519_dalek::SigningKey) -> String {
    hex::encode(key.verifying_key().to_bytes())
}

/// `X-Signature-Ed25519`: hex Ed25519 over the timestamp followed by the
/// raw body, as Discord signs interactions.
pub fn discord_signature(key: &ed25519_dalek::SigningKey, ts: &str, body: &[u8]) -> String {
    use ed25519_dalek::Signer;
    let mut message = ts.as_bytes().to_vec();
    message.extend_from_slice(body);
    hex::encode(key.sign(&message).to_bytes())
}

/// Posts a slash-command form to the medic at `port`, signed with the
/// tests' signing secret as Slack signs it, now.
pub async fn post_slash(
    http: &reqwest::Client,
    port: u16,
    body: String,
) -> reqwest::Result<reqwest::Response> {
    let ts = crate::now_unix();
    let sig = slack_signature(crate::SIGNING_SECRET, ts, body.as_bytes());
    http.post(format!("http://127.0.0.1:{port}/slack/commands"))
        .header("x-slack-request-timestamp", ts.to_string())
        .header("x-slack-signature", sig)
        .header("content-type", "application/x-www-form-urlencoded")
        .body(body)
        .send()
        .await
}

#[cfg(test)]
mod tests {
    #[test]
    fn matches_the_rfc8032_discord_vector() {
        let v: serde_json::Value = serde_json::from_str(include_str!(
            "../fixtures/discord/signature_vector_computed_rfc8032.json"
        ))
        .unwrap();
        let seed: [u8; 32] = hex::decode(v["private_key_seed_hex"].as_str().unwrap())
            .unwrap()
            .try_into()
            .unwrap();
        let key = ed25519_dalek::SigningKey::from_bytes(&seed);
        assert_eq!(
            super::discord_public_key(&key),
            v["public_key_hex"].as_str().unwrap()
        );
        let sig = super::discord_signature(
            &key,
            v["headers"]["X-Signature-Timestamp"].as_str().unwrap(),
            v["body"].as_str().unwrap().as_bytes(),
        );
        assert_eq!(sig, v["headers"]["X-Signature-Ed25519"].as_str().unwrap());
    }

    use super::*;

    #[test]
    fn matches_slacks_published_vector() {
        let v: serde_json::Value =
            serde_json::from_str(include_str!("../fixtures/slack/signing_vector.json")).unwrap();
        let sig = slack_signature(
            v["signing_secret"].as_str().unwrap(),
            v["headers"]["X-Slack-Request-Timestamp"]
                .as_str()
                .unwrap()
                .parse()
                .unwrap(),
            v["body"].as_str().unwrap().as_bytes(),
        );
        assert_eq!(sig, v["headers"]["X-Slack-Signature"].as_str().unwrap());
    }
}

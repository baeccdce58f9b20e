//! Slack's inbound bodies, each through the parser the server uses, on
//! every input: the slash-command form (`POST /slack/commands`) and the
//! chat grammar its text goes to, the interaction form (`payload=<JSON>`,
//! `POST /slack/interactions`), the Events API envelope
//! (`POST /slack/events`), and a Socket Mode frame, read the way
//! `bot/src/chat/slack/socket.rs` reads it (its frame struct is private
//! glue: a `type`, an `envelope_id` and a `payload`, handed to the same
//! three parsers). Never panics; what parses is used as the server uses it.
#![no_main]

use libfuzzer_sys::fuzz_target;
use medic_commands::command::ChatCommand;
use medic_integrations::chat::slack::events::Envelope;
use medic_integrations::chat::slack::interaction;
use medic_integrations::chat::slack::parse::SlashCommand;
use serde_json::Value;

fuzz_target!(|data: &[u8]| {
    slash(data);
    let _ = interaction::parse(data);
    if let Ok(env) = Envelope::parse(data)
        && let Some(event) = &env.event
    {
        mention(event);
    }
    socket_frame(data);
});

fn slash(form: &[u8]) {
    if let Ok(cmd) = SlashCommand::parse(form) {
        let _ = ChatCommand::parse_slash(&cmd.command, &cmd.text);
    }
}

fn mention(event: &medic_integrations::chat::slack::events::Event) {
    let (name, args) = event.command();
    let _ = event.answer_thread();
    let words: Vec<&str> = args.iter().map(String::as_str).collect();
    let _ = ChatCommand::parse_words(&name, &words);
}

/// `socket.rs`: a frame is JSON; slash commands are their form's fields as
/// JSON (re-encoded as a form), events an Events API envelope, interactions
/// the `payload=` JSON.
fn socket_frame(data: &[u8]) {
    let Ok(Value::Object(frame)) = serde_json::from_slice::<Value>(data) else {
        return;
    };
    let payload = frame.get("payload").cloned().unwrap_or(Value::Null);
    match frame
        .get("type")
        .and_then(Value::as_str)
        .unwrap_or_default()
    {
        "slash_commands" => {
            let fields: Vec<(String, String)> = payload
                .as_object()
                .map(|m| {
                    m.iter()
                        .filter_map(|(k, v)| v.as_str().map(|s| (k.clone(), s.to_string())))
                        .collect()
                })
                .unwrap_or_default();
            let form = serde_urlencoded::to_string(&fields).unwrap_or_default();
            slash(form.as_bytes());
        }
        "events_api" => {
            if let Ok(env) = serde_json::from_value::<Envelope>(payload)
                && let Some(event) = &env.event
            {
                mention(event);
            }
        }
        "interactive" => {
            let form =
                serde_urlencoded::to_string([("payload", payload.to_string())]).unwrap_or_default();
            let _ = interaction::parse(form.as_bytes());
        }
        _ => {}
    }
}

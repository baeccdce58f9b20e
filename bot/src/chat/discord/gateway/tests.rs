//! Which way serenity hands medic an interaction, and that both ways end
//! in the interaction the HTTP path would have parsed.

use medic_integrations::chat::discord::parse::InteractionKind;
use serde_json::{Value, json};

use super::*;

/// A `/diag target:redis` with every field Discord sends today, so
/// serenity's strict structs accept it.
fn complete_command() -> Value {
    json!({
        "id": "1300000000000000099",
        "application_id": "1100000000000000001",
        "type": 2,
        "token": "tok-complete",
        "version": 1,
        "guild_id": "1290000000000000001",
        "channel_id": "1200000000000000001",
        "channel": { "id": "1200000000000000001", "type": 0, "name": "incidents" },
        "member": {
            "user": { "id": "53908232506183680", "username": "mason", "global_name": "Mason",
                      "discriminator": "0", "avatar": null },
            "nick": "Mase", "roles": [], "joined_at": "2024-01-01T00:00:00.000000+00:00",
            "deaf": false, "mute": false, "flags": 0, "pending": false, "permissions": "2147483647"
        },
        "data": { "id": "1300000000000000001", "name": "diag", "type": 1,
                  "options": [{ "type": 3, "name": "target", "value": "redis" }] },
        "app_permissions": "2147483647",
        "locale": "en-US",
        "guild_locale": "en-US",
        "entitlements": [],
        "authorizing_integration_owners": { "0": "1290000000000000001" },
        "context": 0,
        "attachment_size_limit": 26214400
    })
}

fn dispatch(d: Value) -> Event {
    serde_json::from_value(json!({ "t": "INTERACTION_CREATE", "d": d }))
        .expect("every INTERACTION_CREATE is an Event, read or not")
}

fn fixture(name: &str) -> Value {
    let path = format!(
        "{}/../tests/fixtures/discord/{name}",
        env!("CARGO_MANIFEST_DIR")
    );
    serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap()
}

#[test]
fn a_complete_interaction_is_read_by_serenity_and_means_what_it_means_over_http() {
    let payload = complete_command();
    let event = dispatch(payload.clone());
    assert!(
        matches!(event, Event::InteractionCreate(_)),
        "serenity reads a complete payload itself: {event:?}"
    );
    let via_serenity = read_interaction(event).unwrap();
    let via_http = Interaction::parse(&serde_json::to_vec(&payload).unwrap()).unwrap();
    assert_eq!(via_serenity.kind, InteractionKind::Command);
    assert_eq!(via_serenity.id, via_http.id);
    assert_eq!(via_serenity.token, via_http.token);
    assert_eq!(via_serenity.command_name(), "diag");
    assert_eq!(via_serenity.options(), via_http.options());
    assert_eq!(via_serenity.channel(), Some("1200000000000000001"));
    assert_eq!(via_serenity.actor(), via_http.actor());
    assert_eq!(via_serenity.actor().name, "Mase");
}

#[test]
fn an_interaction_serenity_cannot_read_arrives_raw_and_medic_reads_it() {
    // The vendor fixtures lack `entitlements` and `attachment_size_limit`.
    for name in [
        "application_command_slash_options_docs.json",
        "message_component_button_docs_2021.json",
        "autocomplete_minimal_djs_test.json",
    ] {
        let payload = fixture(name);
        let event = dispatch(payload.clone());
        assert!(
            matches!(&event, Event::Unknown(u) if u.kind == "INTERACTION_CREATE"),
            "{name}: {event:?}"
        );
        let read = read_interaction(event).unwrap_or_else(|| panic!("{name}"));
        let http = Interaction::parse(&serde_json::to_vec(&payload).unwrap()).unwrap();
        assert_eq!(read.kind, http.kind, "{name}");
        assert_eq!(read.token, http.token, "{name}");
        assert_eq!(read.custom_id(), http.custom_id(), "{name}");
        assert_eq!(read.focused(), http.focused(), "{name}");
    }
}

#[test]
fn other_events_are_not_interactions() {
    let typing: Event = serde_json::from_value(json!({
        "t": "TYPING_START",
        "d": { "channel_id": "1", "user_id": "2", "timestamp": 1 }
    }))
    .unwrap();
    assert!(read_interaction(typing).is_none());
}

#[test]
fn the_intents_are_guilds_only_and_none_privileged() {
    assert_eq!(INTENTS.bits(), 1);
    assert!(!INTENTS.is_privileged());
}

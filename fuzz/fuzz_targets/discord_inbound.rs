//! Discord's inbound interactions (`POST /discord/interactions`, and the
//! gateway's INTERACTION_CREATE, which carries the same JSON), through
//! `Interaction::parse` and every reader a handler calls on the result, the
//! chat grammar a command's words go to, and the `custom_id` parser of
//! medic's buttons — on the custom id found in the interaction and on the
//! raw input as one. Properties: never panics; a custom id that parses
//! names a non-empty id and comes back from `custom_id` unchanged.
#![no_main]

use libfuzzer_sys::fuzz_target;
use medic_commands::command::ChatCommand;
use medic_integrations::chat::discord::components::{click, custom_id, parse_custom_id};
use medic_integrations::chat::discord::parse::Interaction;

fuzz_target!(|data: &[u8]| {
    if let Ok(i) = Interaction::parse(data) {
        let _ = i.actor();
        let _ = i.place();
        let _ = i.focused();
        let options = i.options();
        let words: Vec<&str> = options.iter().map(|(_, v)| v.as_str()).collect();
        let _ = ChatCommand::parse_split(i.command_name(), &words);
        if let Some(id) = i.custom_id() {
            check_custom_id(id);
        }
        let _ = click(&i);
    }
    if let Ok(text) = std::str::from_utf8(data) {
        check_custom_id(text);
    }
});

fn check_custom_id(id: &str) {
    if let Some((verb, rest)) = parse_custom_id(id) {
        assert!(!rest.is_empty(), "{id:?} parsed to an empty id");
        assert_eq!(
            custom_id(verb.action_id(), &rest),
            id,
            "{id:?} does not round-trip"
        );
    }
}

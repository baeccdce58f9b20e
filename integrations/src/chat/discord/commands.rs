//! The application commands medic registers with Discord (`medic discord
//! register`): `/diag` with a `target` option that autocompletes from the
//! configured targets; `/oncall` and `/handoff` with a `rotation` option;
//! `/incident` with an `action` to choose and a free `detail`.

use serde_json::{Value, json};

/// The command's name, as users type it.
pub const DIAG: &str = "diag";
/// Its option naming the target.
pub const TARGET: &str = "target";
/// `/oncall`'s and `/handoff`'s option naming a rotation.
pub const ROTATION: &str = "rotation";
/// `/incident`'s first option: what to do.
pub const ACTION: &str = "action";
/// `/incident`'s second option: the level, the number, or the title.
pub const DETAIL: &str = "detail";

/// The options whose values are the words typed after the command, in
/// the order they are registered.
pub const WORDS: [&str; 4] = [TARGET, ROTATION, ACTION, DETAIL];

/// The body of the bulk overwrite (`PUT …/commands`): every command medic
/// serves. A bulk overwrite also removes commands an older medic
/// registered and this one no longer serves.
pub fn definitions() -> Value {
    let rotation = |what: &str| {
        json!([{
            "type": 3,
            "name": ROTATION,
            "description": what,
            "required": false,
            "max_length": 100
        }])
    };
    json!([{
        "name": DIAG,
        "type": 1,
        "description": "Run a target's diagnostics; the report goes into a thread.",
        "options": [{
            "type": 3,
            "name": TARGET,
            "description": "What to diagnose (a configured target, or all). Empty: the list.",
            "required": false,
            "autocomplete": true,
            "max_length": 100
        }]
    }, {
        "name": "oncall",
        "type": 1,
        "description": "Who is on call now and next.",
        "options": rotation("One rotation; every rotation when empty.")
    }, {
        "name": "handoff",
        "type": 1,
        "description": "Post the rotation's handoff digest in its channel now.",
        "options": rotation("The rotation (needed when there are several).")
    }, {
        "name": "incident",
        "type": 1,
        "description": "Run the incident of this thread, or declare one.",
        "options": [{
            "type": 3,
            "name": ACTION,
            "description": "What to do.",
            "required": true,
            "choices": [
                {"name": "acknowledge", "value": "ack"},
                {"name": "resolve", "value": "resolve"},
                {"name": "reopen", "value": "reopen"},
                {"name": "change severity (detail: P0-P3)", "value": "sev"},
                {"name": "timeline", "value": "timeline"},
                {"name": "declare (detail: title [P0-P3])", "value": "declare"}
            ]
        }, {
            "type": 3,
            "name": DETAIL,
            "description": "P0-P3 for severity; the title (and level) to declare; #N for another incident.",
            "required": false,
            "max_length": 200
        }]
    }])
}

/// Where a registration puts the commands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// Every server the bot is in (`PUT /applications/{app}/commands`).
    Global,
    /// One server (`PUT /applications/{app}/guilds/{guild}/commands`).
    Guild,
}

/// [`definitions`] as registered in `scope`. Global commands are limited
/// to servers that installed the bot (`contexts: [0]`, GUILD;
/// `integration_types: [0]`, GUILD_INSTALL): not offered in DMs with the
/// bot or through a user's own install, where no server can vouch for the
/// person. Discord reads those two fields on global commands only.
/// `default_member_permissions` (a permission bit set in decimal, `"0"`
/// for administrators only) sets who sees the commands until a server's
/// admins change it; `None` leaves them to everyone.
pub fn registration(scope: Scope, default_member_permissions: Option<&str>) -> Value {
    let mut commands = definitions();
    if let Some(list) = commands.as_array_mut() {
        for command in list {
            if scope == Scope::Global {
                command["contexts"] = json!([0]);
                command["integration_types"] = json!([0]);
            }
            if let Some(permissions) = default_member_permissions {
                command["default_member_permissions"] = json!(permissions);
            }
        }
    }
    commands
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn global_commands_are_for_servers_only_and_permissions_apply_everywhere() {
        let global = registration(Scope::Global, Some("0"));
        for c in global.as_array().unwrap() {
            assert_eq!(c["contexts"], json!([0]));
            assert_eq!(c["integration_types"], json!([0]));
            assert_eq!(c["default_member_permissions"], "0");
        }
        let guild = registration(Scope::Guild, None);
        for c in guild.as_array().unwrap() {
            assert!(c.get("contexts").is_none());
            assert!(c.get("integration_types").is_none());
            assert!(c.get("default_member_permissions").is_none());
        }
        assert_eq!(guild, definitions());
    }

    #[test]
    fn diag_has_an_autocompleted_target() {
        let d = definitions();
        assert_eq!(d[0]["name"], "diag");
        assert_eq!(d[0]["options"][0]["name"], "target");
        assert_eq!(d[0]["options"][0]["autocomplete"], true);
        // Discord: descriptions 1–100 characters.
        for c in d.as_array().unwrap() {
            let mut texts = vec![&c["description"]];
            texts.extend(
                c["options"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|o| &o["description"]),
            );
            for text in texts {
                assert!(text.as_str().unwrap().chars().count() <= 100);
            }
        }
        // Every command the chat grammar knows but help is registered.
        let names: Vec<&str> = d
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["name"].as_str().unwrap())
            .collect();
        for c in medic_commands::command::COMMANDS
            .iter()
            .filter(|c| c.name != "help")
        {
            assert!(names.contains(&c.name), "{} is not registered", c.name);
        }
    }
}

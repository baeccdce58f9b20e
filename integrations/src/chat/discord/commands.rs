//! The application commands medic registers with Discord (`medic discord
//! register`): `/diag` with a `target` option that autocompletes from the
//! configured targets; `/oncall` and `/handoff` with a `rotation` option.

use serde_json::{Value, json};

/// The command's name, as users type it.
pub const DIAG: &str = "diag";
/// Its option naming the target.
pub const TARGET: &str = "target";
/// `/oncall`'s and `/handoff`'s option naming a rotation.
pub const ROTATION: &str = "rotation";

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
    }])
}

#[cfg(test)]
mod tests {
    use super::*;

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

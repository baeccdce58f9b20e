//! The application commands medic registers with Discord (`medic discord
//! register`): `/diag` with a `target` option that autocompletes from the
//! configured targets.

use serde_json::{Value, json};

/// The command's name, as users type it.
pub const DIAG: &str = "diag";
/// Its option naming the target.
pub const TARGET: &str = "target";

/// The body of the bulk overwrite (`PUT …/commands`): every command medic
/// serves. A bulk overwrite also removes commands an older medic
/// registered and this one no longer serves.
pub fn definitions() -> Value {
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
        for text in [&d[0]["description"], &d[0]["options"][0]["description"]] {
            assert!(text.as_str().unwrap().chars().count() <= 100);
        }
    }
}

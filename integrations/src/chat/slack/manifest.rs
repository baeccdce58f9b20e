//! The Slack app manifest medic needs (`medic slack-manifest`): paste it at
//! api.slack.com/apps → Create New App → From a manifest.
//!
//! Over HTTP every feature names its URL on medic; with Socket Mode there
//! are no URLs (Slack sends everything over the connection medic opens)
//! and `socket_mode_enabled` is on, which also needs an app-level token
//! with `connections:write` (Basic Information → App-Level Tokens).

use medic_commands::command::COMMANDS;

/// Bot scopes, each with why medic needs it.
pub const BOT_SCOPES: &[(&str, &str)] = &[
    ("commands", "slash commands"),
    ("chat:write", "reports and incident threads"),
    (
        "chat:write.public",
        "incident threads in routed public channels medic was not invited to",
    ),
    ("app_mentions:read", "@medic diag redis"),
    (
        "channels:history",
        "after a restart, whether a message in flight had landed",
    ),
    ("groups:history", "the same, in private channels"),
    (
        "usergroups:write",
        "a rotation's user group (@oncall-db) follows who is on call",
    ),
];

fn quoted(s: &str) -> String {
    format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\""))
}

/// The manifest as YAML. `base_url` is where Slack reaches medic
/// (`https://medic.example.com`); ignored with `socket_mode`.
pub fn manifest(base_url: &str, socket_mode: bool) -> String {
    let base = base_url.trim_end_matches('/');
    let mut y = String::new();
    y.push_str("# medic's Slack app. Create it at https://api.slack.com/apps → From a manifest.\n");
    if socket_mode {
        y.push_str("# Socket Mode: no public URL. Create an app-level token with connections:write\n# (Basic Information → App-Level Tokens) and set it as slack.app_token.\n");
    }
    y.push_str("display_information:\n  name: medic\n");
    y.push_str(
        "  description: Runs your runbooks' diagnostics and posts the findings in a thread.\n",
    );
    y.push_str("features:\n  bot_user:\n    display_name: medic\n    always_online: true\n");
    y.push_str("  slash_commands:\n");
    // `help` is `/diag help` and `@medic help`: one slash command to
    // install, not a generic `/help` that clashes with other apps.
    for c in COMMANDS.iter().filter(|c| c.name != "help") {
        y.push_str(&format!("  - command: /{}\n", c.name));
        if !socket_mode {
            y.push_str(&format!(
                "    url: {}\n",
                quoted(&format!("{base}/slack/commands"))
            ));
        }
        y.push_str(&format!("    description: {}\n", quoted(c.about)));
        // Slack shows the hint as typed after the command: `/diag`'s
        // target may also be `all` or `help`.
        let hint = c.usage.split_once(' ').map_or("", |(_, h)| h);
        let hint = match c.name {
            "diag" => format!("{hint} | all | help"),
            _ => hint.replace(&format!(" · /{} ", c.name), " · "),
        };
        y.push_str(&format!("    usage_hint: {}\n", quoted(&hint)));
        y.push_str("    should_escape: false\n");
    }
    y.push_str("oauth_config:\n  scopes:\n    bot:\n");
    for (scope, why) in BOT_SCOPES {
        y.push_str(&format!("      - {scope} # {why}\n"));
    }
    y.push_str("settings:\n  event_subscriptions:\n");
    if !socket_mode {
        y.push_str(&format!(
            "    request_url: {}\n",
            quoted(&format!("{base}/slack/events"))
        ));
    }
    y.push_str("    bot_events:\n      - app_mention\n");
    y.push_str("  interactivity:\n    is_enabled: true\n");
    if !socket_mode {
        y.push_str(&format!(
            "    request_url: {}\n",
            quoted(&format!("{base}/slack/interactions"))
        ));
    }
    y.push_str("  org_deploy_enabled: false\n");
    y.push_str(&format!("  socket_mode_enabled: {socket_mode}\n"));
    y.push_str("  token_rotation_enabled: false\n");
    y
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn over_http_every_feature_names_its_url() {
        let m = manifest("https://medic.example.com/", false);
        for needle in [
            "  - command: /diag\n    url: \"https://medic.example.com/slack/commands\"",
            "request_url: \"https://medic.example.com/slack/events\"",
            "request_url: \"https://medic.example.com/slack/interactions\"",
            "      - app_mention\n",
            "      - commands # ",
            "      - chat:write # ",
            "socket_mode_enabled: false",
        ] {
            assert!(m.contains(needle), "{needle:?} missing from\n{m}");
        }
        assert!(!m.contains("/help"), "{m}");
    }

    #[test]
    fn socket_mode_has_no_urls() {
        let m = manifest("https://medic.example.com", true);
        assert!(!m.contains("https://medic.example.com"), "{m}");
        assert!(m.contains("socket_mode_enabled: true"));
        assert!(m.contains("    bot_events:\n      - app_mention"));
        assert!(m.contains("  interactivity:\n    is_enabled: true\n"));
    }
}

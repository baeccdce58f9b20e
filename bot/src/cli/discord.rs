//! `medic discord register [--guild ID]`: creates (or replaces) medic's
//! application commands with one bulk overwrite.
//!
//! Global commands reach every server the bot is in but can take a while
//! to show up; a guild's appear at once, which is what you want while
//! trying medic out. A bulk overwrite is idempotent: run it again after an
//! upgrade, and commands an older medic registered and this one does not
//! serve disappear.

use std::path::Path;
use std::time::Duration;

use medic_integrations::chat::discord::client::DiscordApi;
use medic_integrations::chat::discord::commands::definitions;
use secrecy::ExposeSecret;

use super::{EXIT_USAGE, load_or_report};

/// Registers the commands; returns the exit code.
pub async fn register(config: Option<&Path>, guild: Option<&str>) -> u8 {
    let Some(loaded) = load_or_report(config) else {
        return EXIT_USAGE;
    };
    let Some(discord) = &loaded.settings.discord else {
        eprintln!(
            "medic: [discord] is not configured: set discord.application_id, discord.public_key \
             and discord.bot_token (or MEDIC__DISCORD__…) first."
        );
        return EXIT_USAGE;
    };
    if guild.is_some_and(|g| g.is_empty() || !g.chars().all(|c| c.is_ascii_digit())) {
        eprintln!(
            "medic: --guild takes the server's numeric id (Server Settings → Widget, or Copy Server ID)."
        );
        return EXIT_USAGE;
    }
    let http = match reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
    {
        Ok(h) => h,
        Err(e) => {
            eprintln!("medic: cannot build an HTTP client: {e}");
            return 70;
        }
    };
    let api = DiscordApi::new(
        discord.api_url.as_str(),
        &discord.application_id,
        discord.bot_token.expose_secret(),
        http,
    );
    match api.overwrite_commands(guild, &definitions()).await {
        Ok(n) => {
            match guild {
                Some(g) => println!(
                    "Registered {n} command(s) (/diag) for application {} in server {g}; they are usable now.",
                    discord.application_id
                ),
                None => println!(
                    "Registered {n} command(s) (/diag) for application {} globally; Discord can take a while to show them in every server.",
                    discord.application_id
                ),
            }
            println!(
                "Set the Interactions Endpoint URL to https://<your medic>/discord/interactions (Developer Portal → General Information)."
            );
            0
        }
        Err(e) => {
            eprintln!("medic: Discord refused the registration: {e}");
            1
        }
    }
}

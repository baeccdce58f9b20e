//! `medic discord register [--guild ID]`: creates (or replaces) medic's
//! application commands with one bulk overwrite.
//!
//! Global commands reach every server the bot is in but can take a while
//! to show up; a guild's appear at once, which is what you want while
//! trying medic out. A bulk overwrite is idempotent: run it again after an
//! upgrade, and commands an older medic registered and this one does not
//! serve disappear.
//!
//! With `[discord] guilds` set, the commands go to each of those servers
//! and no longer globally: the global list is overwritten with nothing,
//! so a server outside the list is not even offered `/diag` (and an
//! allowed one does not show it twice). Global commands are registered
//! for servers only (no DMs); `default_member_permissions` applies to
//! both.

use std::path::Path;
use std::time::Duration;

use medic_integrations::chat::discord::client::DiscordApi;
use medic_integrations::chat::discord::commands::{Scope, registration};
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
    let permissions = discord.default_member_permissions.as_deref();
    let guilds: Vec<&str> = match guild {
        Some(g) if !discord.guilds.is_empty() && !discord.guilds.iter().any(|a| a == g) => {
            eprintln!(
                "medic: server {g} is not in discord.guilds, so medic would refuse its commands; add it there first."
            );
            return EXIT_USAGE;
        }
        Some(g) => vec![g],
        None => discord.guilds.iter().map(String::as_str).collect(),
    };
    if guilds.is_empty() {
        return match api
            .overwrite_commands(None, &registration(Scope::Global, permissions))
            .await
        {
            Ok(n) => {
                println!(
                    "Registered {n} command(s) (/diag) for application {} globally, for servers only (not in DMs); Discord can take a while to show them in every server.",
                    discord.application_id
                );
                endpoint_hint();
                0
            }
            Err(e) => {
                eprintln!("medic: Discord refused the registration: {e}");
                1
            }
        };
    }
    let commands = registration(Scope::Guild, permissions);
    let mut failed = false;
    for g in &guilds {
        match api.overwrite_commands(Some(g), &commands).await {
            Ok(n) => println!(
                "Registered {n} command(s) (/diag) for application {} in server {g}; they are usable now.",
                discord.application_id
            ),
            Err(e) => {
                eprintln!("medic: Discord refused the registration in server {g}: {e}");
                failed = true;
            }
        }
    }
    if failed {
        return 1;
    }
    // Only a full run clears the global list: a server whose registration
    // failed keeps what it had.
    if guild.is_none() {
        match api.overwrite_commands(None, &serde_json::json!([])).await {
            Ok(_) => println!(
                "Removed medic's global commands: with discord.guilds set, only those servers are offered them."
            ),
            Err(e) => {
                eprintln!("medic: Discord refused to remove the global commands: {e}");
                return 1;
            }
        }
    }
    endpoint_hint();
    0
}

fn endpoint_hint() {
    println!(
        "Set the Interactions Endpoint URL to https://<your medic>/discord/interactions (Developer Portal → General Information)."
    );
}

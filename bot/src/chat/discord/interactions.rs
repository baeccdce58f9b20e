//! One interaction → the response Discord is to get, whichever transport
//! brought it: `POST /discord/interactions` returns it as the HTTP body,
//! gateway mode posts it to the interaction's callback. Keeping this one
//! function is what makes the two modes behave the same.
//!
//! - `/diag` (2) → the same dispatch as Slack's slash command. Accepted:
//!   a deferred answer (5, "medic is thinking…") at once, edited into the
//!   report's root when the diagnostics are done, with the details in a
//!   thread started from it. Anything else (help, an unknown target, a
//!   limit, busy) → an ephemeral message (4, flags 64).
//! - autocomplete (4) → the configured target names matching what is
//!   typed (8).
//! - components (3): remediation buttons, see [`component`]; modals (5)
//!   are not used by medic and get an ephemeral answer.
//! - PING (1) → `{"type":1}` (only HTTP sends it).

use medic_commands::model::inbound::Platform;
use medic_integrations::chat::discord::commands::WORDS;
use medic_integrations::chat::discord::components;
use medic_integrations::chat::discord::parse::{Interaction, InteractionKind};
use medic_integrations::chat::discord::render;

use super::ack::Acked;
use crate::chat::discord::remediation::DiscordNotifier;
use crate::delivery::Delivery;
use crate::dispatch::{self, Typed};
use crate::remediation::flow;
use crate::state::AppState;
use crate::telemetry::metrics::{AckOutcome, RequestKind};

/// The response to `i`. Work it starts (a diagnostic, a button's flow)
/// runs on in the background and waits on `acked` before it uses the
/// interaction's token. An interaction from a server outside
/// `discord.guilds`, or from a DM while that list is set, is refused
/// here, before anything is dispatched, whichever transport brought it.
pub async fn answer(state: &AppState, i: &Interaction, acked: Acked) -> serde_json::Value {
    if let Some(refused) = refuse_outsiders(state, i) {
        return refused;
    }
    match i.kind {
        InteractionKind::Ping => render::pong(),
        InteractionKind::Command => command(state, i, acked).await,
        InteractionKind::Autocomplete => autocomplete(state, i),
        InteractionKind::Component => component(state, i, acked),
        InteractionKind::ModalSubmit => {
            render::ephemeral("medic does not handle this kind of interaction.")
        }
        InteractionKind::Other(n) => {
            tracing::info!(
                kind = n,
                "A Discord interaction of a type this medic does not know."
            );
            render::ephemeral("medic does not handle this kind of interaction.")
        }
    }
}

/// The answer to an interaction from outside `discord.guilds`, if it is
/// one: an ephemeral refusal, or for autocomplete an empty list (a
/// stranger's server learns no target names). PING carries no server and
/// is Discord checking the endpoint: always answered.
fn refuse_outsiders(state: &AppState, i: &Interaction) -> Option<serde_json::Value> {
    let discord = state.discord.as_ref()?;
    let kind = match i.kind {
        InteractionKind::Ping => return None,
        InteractionKind::Command => RequestKind::Command,
        InteractionKind::Autocomplete => RequestKind::Autocomplete,
        InteractionKind::Component => RequestKind::Click,
        InteractionKind::ModalSubmit | InteractionKind::Other(_) => RequestKind::Other,
    };
    let guild = i.guild_id.as_deref().filter(|g| !g.is_empty());
    if discord.gate.admits(guild, kind) {
        return None;
    }
    Some(match kind {
        RequestKind::Autocomplete => render::autocomplete(&[]),
        RequestKind::Command | RequestKind::Click | RequestKind::Mention | RequestKind::Other => {
            render::ephemeral(discord.gate.refusal(guild))
        }
    })
}

/// `/diag [target]`, `/oncall [rotation]`, `/handoff [rotation]`:
/// dispatched like Slack's slash commands.
async fn command(state: &AppState, i: &Interaction, acked: Acked) -> serde_json::Value {
    let name = i.command_name();
    let Some(channel) = i.channel().map(str::to_string) else {
        return render::ephemeral(
            "medic needs the channel this came from, and Discord did not say.",
        );
    };
    // The options medic registered, as the words typed after the command.
    let text = i
        .options()
        .into_iter()
        .filter(|(n, _)| WORDS.contains(&n.as_str()))
        .map(|(_, v)| v)
        .collect::<Vec<_>>()
        .join(" ");
    let actor = i.actor();
    let typed = Typed {
        platform: Platform::Discord,
        channel: &channel,
        thread: None,
        actor_id: &actor.id,
        actor_name: &actor.name,
        name,
        text: &text,
    };
    let delivery = || Delivery::Discord {
        channel: channel.clone(),
        token: i.token.clone(),
        acked,
    };
    let ack = dispatch::command(state, typed, delivery).await;
    match ack.outcome {
        AckOutcome::Accepted => render::deferred(),
        _ => render::ephemeral(&components::bold(&ack.text)),
    }
}

/// The configured targets (and `all`) starting with what is typed, then
/// those containing it; at most 25 (Discord's cap).
fn autocomplete(state: &AppState, i: &Interaction) -> serde_json::Value {
    let typed = i
        .focused()
        .map(|(_, v)| v.trim().to_lowercase())
        .unwrap_or_default();
    let mut names: Vec<String> = state.targets.keys().cloned().collect();
    if state.targets.len() > 1 {
        names.push("all".into());
    }
    let (mut starts, contains): (Vec<String>, Vec<String>) = names
        .into_iter()
        .filter(|n| n.to_lowercase().contains(&typed))
        .partition(|n| n.to_lowercase().starts_with(&typed));
    starts.extend(contains);
    render::autocomplete(&starts)
}

/// Buttons. One of medic's (`custom_id` `medic.request:…`, `medic.approve:…`,
/// `medic.deny:…`) is answered at once with a deferred update (6) and
/// handled in the background by the same flow as Slack's clicks: policy,
/// approvals, single use, audit; what the clicker alone should read comes
/// as ephemeral follow-ups. Anything else (another app's button, a modal)
/// gets an honest ephemeral answer (4, flags 64).
fn component(state: &AppState, i: &Interaction, acked: Acked) -> serde_json::Value {
    let Some(click) = components::click(i) else {
        tracing::info!(
            custom_id = i.custom_id().unwrap_or_default(),
            "A Discord component interaction that is not one of medic's buttons."
        );
        return render::ephemeral("This button is not handled by this medic; nothing was run.");
    };
    if click.actor.id.is_empty() || click.place.channel.is_empty() {
        return render::ephemeral(
            "medic needs to know who clicked and where, and Discord did not say; nothing was run.",
        );
    }
    tracing::info!(actor = %click.actor.id, verb = ?click.verb, "A remediation button was pressed on Discord.");
    let job = state.clone();
    let token = i.token.clone();
    state.tasks.spawn(async move {
        let notifier = DiscordNotifier {
            state: job.clone(),
            token,
            acked,
        };
        flow::handle(&job, click, &notifier).await;
    });
    components::deferred_update()
}

//! Gateway mode (`[discord] gateway = true`): interactions arrive over a
//! WebSocket that medic opens, through serenity's `Client`, instead of as
//! `POST /discord/interactions` — for teams without a public HTTPS
//! endpoint. The handling is the HTTP path's
//! ([`super::interactions::answer`]); only the delivery of the response
//! differs (a callback call instead of the response body).
//!
//! - Intents: `GUILDS` only. Interactions need no intent at all, and medic
//!   reads no messages, members or presences, so nothing privileged.
//! - The WebSocket URL is what `GET {api_url}/api/v10/gateway` names
//!   (serenity asks it when the client is built; `Client::start` runs one
//!   shard, enough below 2 500 servers). serenity's `Http` is pointed at
//!   `discord.api_url` with `proxy`, which it honours only with its rate
//!   limiter off (docs/crates.md § serenity); it makes that one call, so nothing needs
//!   the limiter, and tests and production run the same code.
//! - Heartbeats, RESUME and reconnects are serenity's; medic logs one line
//!   when connected, one per reconnection (and one when a drop shows as a
//!   stage change; serenity warns of an unclean close itself), never the
//!   token.
//! - With `[redis]`, only the replica holding the lease
//!   ([`crate::lease`]) connects — Discord would deliver every interaction
//!   to each connection, and each would answer. Without Redis medic is a
//!   single process and just connects. If Redis is configured but down,
//!   medic does not connect until it can take the lease: a missed
//!   interaction shows "did not respond", two answers would run a
//!   remediation request twice.
//! - Stops with `serve`: the shard is closed (1000), then the lease given
//!   up so a waiting replica takes over at once.
//!
//! serenity's interaction structs are strict (docs/crates.md § serenity), but its
//! `Event` enum ends in an untagged `Unknown` variant, so an
//! `INTERACTION_CREATE` it cannot read still arrives — as raw JSON — at a
//! `RawEventHandler`; medic's own lenient parser reads it. One it can read
//! is serialized back (its `type` restored: serenity leaves it out) and
//! read by the same parser, so both routes end in the same
//! [`Interaction`] the HTTP path builds. (A payload serenity cannot read
//! at all — not JSON — is dropped by serenity with a warning.)

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use medic_integrations::chat::discord::parse::Interaction;
use secrecy::ExposeSecret;
use serenity::all::{
    ClientBuilder, ConnectionStage, Context, Event, EventHandler, GatewayIntents, HttpBuilder,
    RawEventHandler, Ready, ResumedEvent, ShardStageUpdateEvent,
};
use tokio_util::sync::CancellationToken;

use super::ack::Acked;
use super::interactions;
use crate::duty::{Duty, show};
use crate::lease::Lease;
use crate::state::AppState;

/// The intents medic identifies with.
pub const INTENTS: GatewayIntents = GatewayIntents::GUILDS;

/// How long the lease lasts unless renewed: how long a replica that died
/// without releasing it keeps the others waiting.
const LEASE_TTL: Duration = Duration::from_secs(15);
/// How often the holder renews: three chances before it runs out.
const RENEW_EVERY: Duration = Duration::from_secs(5);
/// How often a waiting replica tries to take the lease.
const WAIT_POLL: Duration = Duration::from_secs(2);
/// The longest wait before the client is started again after it failed.
const MAX_BACKOFF: Duration = Duration::from_secs(60);

/// The Redis key of the lease, per application: two medics for two
/// Discord applications do not exclude each other.
pub fn lease_key(application_id: &str) -> String {
    format!("medic:discord:gateway:{application_id}")
}

/// Runs gateway mode until `stop`, when `[discord] gateway = true`.
pub async fn run(state: AppState, stop: CancellationToken) {
    let Some(settings) = state.settings.discord.as_ref().filter(|d| d.gateway) else {
        return;
    };
    let Some(redis) = state.settings.redis.clone() else {
        // One process: the connection is its own.
        show(&state.lease(), Duty::DiscordGateway, true);
        connect_until(&state, &stop).await;
        show(&state.lease(), Duty::DiscordGateway, false);
        return;
    };
    let key = lease_key(&settings.application_id);
    let mut lease = loop {
        match Lease::connect(redis.expose(), &key, LEASE_TTL).await {
            Ok(l) => break l,
            Err(error) => {
                tracing::warn!(%error, "Cannot reach Redis for the Discord gateway lock; not connecting to the gateway until it can be taken.");
                tokio::select! {
                    _ = stop.cancelled() => return,
                    _ = tokio::time::sleep(WAIT_POLL * 5) => {}
                }
            }
        }
    };
    while !stop.is_cancelled() && wait_for_lease(&mut lease, &stop).await {
        hold_and_connect(&state, &mut lease, &stop).await;
    }
}

/// Waits until this replica holds the lease (`true`) or medic stops.
async fn wait_for_lease(lease: &mut Lease, stop: &CancellationToken) -> bool {
    let mut said_waiting = false;
    let mut said_error = false;
    while !stop.is_cancelled() {
        match lease.try_acquire().await {
            Ok(true) => {
                tracing::info!(
                    holder = lease.holder(),
                    "Took the Discord gateway lock; connecting."
                );
                return true;
            }
            Ok(false) if !said_waiting => {
                said_waiting = true;
                said_error = false;
                tracing::info!(
                    "Another medic holds the Discord gateway connection; waiting to take over."
                );
            }
            Ok(false) => {}
            Err(error) if !said_error => {
                said_error = true;
                tracing::warn!(%error, "Cannot take the Discord gateway lock (Redis); retrying.");
            }
            Err(_) => {}
        }
        tokio::select! {
            _ = stop.cancelled() => return false,
            _ = tokio::time::sleep(WAIT_POLL) => {}
        }
    }
    false
}

/// Keeps the gateway connected while renewing the lease; disconnects when
/// medic stops (then releases) or when the lease is lost (another replica
/// may connect now, so this one must not stay).
async fn hold_and_connect(state: &AppState, lease: &mut Lease, stop: &CancellationToken) {
    show(&state.lease(), Duty::DiscordGateway, true);
    let session = stop.child_token();
    let client = tokio::spawn({
        let (state, session) = (state.clone(), session.clone());
        async move { connect_until(&state, &session).await }
    });
    let mut renew = tokio::time::interval(RENEW_EVERY);
    renew.tick().await;
    let mut renewed = Instant::now();
    loop {
        tokio::select! {
            _ = stop.cancelled() => break,
            _ = renew.tick() => match lease.renew().await {
                Ok(true) => renewed = Instant::now(),
                Ok(false) => {
                    tracing::warn!("Lost the Discord gateway lock (it expired); disconnecting so only one medic holds the connection.");
                    break;
                }
                // Past the TTL minus one renewal period the key may be
                // gone, and another replica connected: give way.
                Err(error) if renewed.elapsed() + RENEW_EVERY >= LEASE_TTL => {
                    tracing::warn!(%error, "Could not renew the Discord gateway lock in time; disconnecting.");
                    break;
                }
                Err(error) => {
                    tracing::warn!(%error, "Could not renew the Discord gateway lock; retrying.");
                }
            },
        }
    }
    session.cancel();
    let _ = client.await;
    show(&state.lease(), Duty::DiscordGateway, false);
    if stop.is_cancelled() {
        match lease.release().await {
            Ok(_) => tracing::info!("Released the Discord gateway lock."),
            Err(error) => {
                tracing::warn!(%error, "Could not release the Discord gateway lock; it expires on its own.");
            }
        }
    }
}

/// Runs serenity's client until `stop`, starting it again (with backoff)
/// whenever it gives up — an invalid token, or the first connection
/// failing. Reconnects of a running client are serenity's own.
async fn connect_until(state: &AppState, stop: &CancellationToken) {
    let Some(settings) = state.settings.discord.as_ref() else {
        return;
    };
    let mut backoff = Duration::from_secs(1);
    while !stop.is_cancelled() {
        let handler = Arc::new(Handler {
            state: state.clone(),
            connected: AtomicBool::new(false),
            ready_once: AtomicBool::new(false),
            stopping: AtomicBool::new(false),
        });
        let http = HttpBuilder::new(settings.bot_token.expose_secret())
            .proxy(settings.api_url.as_str().trim_end_matches('/'))
            .ratelimiter_disabled(true)
            .build();
        let built = tokio::select! {
            _ = stop.cancelled() => return,
            built = ClientBuilder::new_with_http(http, INTENTS)
                .event_handler_arc(handler.clone())
                .raw_event_handler(Raw(handler.clone())) => built,
        };
        let outcome = match built {
            Ok(mut client) => {
                let shards = client.shard_manager.clone();
                tokio::select! {
                    ended = client.start() => ended,
                    _ = stop.cancelled() => {
                        handler.stopping.store(true, Ordering::SeqCst);
                        shards.shutdown_all().await;
                        tracing::info!("Disconnected from the Discord gateway.");
                        return;
                    }
                }
            }
            Err(e) => Err(e),
        };
        match outcome {
            Ok(()) => tracing::warn!(
                backoff_secs = backoff.as_secs(),
                "The Discord gateway client stopped; starting it again."
            ),
            Err(error) => tracing::warn!(
                %error,
                backoff_secs = backoff.as_secs(),
                "The Discord gateway client failed; starting it again."
            ),
        }
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = tokio::time::sleep(backoff) => {}
        }
        backoff = (backoff * 2).min(MAX_BACKOFF);
    }
}

/// What one client's events need.
struct Handler {
    state: AppState,
    /// Whether the last line logged said "connected": each change is
    /// logged once, however many retries serenity makes in between.
    connected: AtomicBool,
    /// Whether a READY has been seen (the first is "connected", later
    /// ones "reconnected").
    ready_once: AtomicBool,
    /// Set when medic closes the connection itself.
    stopping: AtomicBool,
}

#[serenity::async_trait]
impl EventHandler for Handler {
    async fn ready(&self, _: Context, ready: Ready) {
        // A READY after the first is a new session: serenity reconnected
        // without always passing through a stage medic saw.
        if !self.ready_once.swap(true, Ordering::SeqCst) {
            tracing::info!(
                bot = %ready.user.name,
                guilds = ready.guilds.len(),
                "Connected to the Discord gateway."
            );
        } else {
            tracing::info!("Reconnected to the Discord gateway (new session).");
        }
        self.connected.store(true, Ordering::SeqCst);
    }

    async fn resume(&self, _: Context, _: ResumedEvent) {
        if !self.connected.swap(true, Ordering::SeqCst) {
            tracing::info!("Reconnected to the Discord gateway (session resumed).");
        }
    }

    async fn shard_stage_update(&self, _: Context, event: ShardStageUpdateEvent) {
        if event.new != ConnectionStage::Connected
            && !self.stopping.load(Ordering::SeqCst)
            && self.connected.swap(false, Ordering::SeqCst)
        {
            tracing::warn!("Lost the Discord gateway connection; reconnecting.");
        }
    }
}

/// The raw side of [`Handler`]: every event, including those serenity
/// could not read into its own structs.
struct Raw(Arc<Handler>);

#[serenity::async_trait]
impl RawEventHandler for Raw {
    async fn raw_event(&self, _: Context, event: Event) {
        let Some(interaction) = read_interaction(event) else {
            return;
        };
        let state = self.0.state.clone();
        // On medic's task tracker, so shutdown waits for the answer.
        self.0
            .state
            .tasks
            .spawn(async move { answer(&state, interaction).await });
    }
}

/// An interaction event → medic's [`Interaction`]; `None` for every other
/// event.
pub fn read_interaction(event: Event) -> Option<Interaction> {
    let json = match event {
        Event::InteractionCreate(created) => {
            // serenity serializes the variant's struct without `type`: it
            // is the variant, so put it back.
            let kind = u8::from(created.interaction.kind());
            let mut value = serde_json::to_value(&created.interaction).ok()?;
            value.as_object_mut()?.insert("type".into(), kind.into());
            serde_json::to_vec(&value).ok()?
        }
        Event::Unknown(unknown) if unknown.kind == "INTERACTION_CREATE" => {
            tracing::debug!("serenity could not read an interaction; medic's own parser reads it.");
            serde_json::to_vec(&unknown.value).ok()?
        }
        _ => return None,
    };
    match Interaction::parse(&json) {
        Ok(i) => Some(i),
        Err(error) => {
            tracing::warn!(%error, "An unreadable Discord interaction over the gateway; ignored.");
            None
        }
    }
}

/// Handles an interaction like the HTTP route and delivers the response
/// through its callback; the work it started waits for that.
async fn answer(state: &AppState, interaction: Interaction) {
    let Some(discord) = &state.discord else {
        return;
    };
    let (ack, acked) = Acked::pending();
    let response = interactions::answer(state, &interaction, acked).await;
    let sent = discord
        .api
        .interaction_callback(&interaction.id, &interaction.token, &response)
        .await;
    if let Err(error) = &sent {
        tracing::warn!(%error, "Could not answer a Discord interaction over the gateway.");
    }
    ack.done(sent.is_ok());
}

#[cfg(test)]
mod tests;

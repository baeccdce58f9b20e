//! Messages to chat go out one channel at a time, at the platform's pace.
//!
//! Slack allows about one message per second per channel and answers 429
//! with `Retry-After` past that; Discord answers 429 per route bucket, and
//! with `global: true` when the bot as a whole went too fast. A [`Pacer`]
//! keeps each channel's messages in order (a thread reply never overtakes
//! its root), spaces them by the platform's interval, honours
//! `Retry-After` (a global one pauses every channel of the platform), and
//! retries transport errors with backoff until a deadline, after which the
//! durable outbox keeps the message for its next round.

use std::collections::HashMap;
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use medic_commands::model::inbound::Platform;
use medic_integrations::chat::discord::client::DiscordApiError;
use medic_integrations::chat::slack::client::SlackApiError;
use tokio::time::Instant;

use crate::telemetry::metrics::Metrics;

/// What the outbox needs to know of a platform's API errors.
pub trait ChatError: Sized {
    /// The platform asked to wait this long (429).
    fn retry_after(&self) -> Option<Duration>;
    /// Whether trying again later may succeed.
    fn is_retryable(&self) -> bool;
    /// The error reported when the deadline passed.
    fn gave_up(message: String) -> Self;
    /// The wait applies to every call to the platform, not one route or
    /// channel (Discord's `global` rate limit).
    fn global(&self) -> bool {
        false
    }
}

impl ChatError for SlackApiError {
    fn retry_after(&self) -> Option<Duration> {
        match self {
            SlackApiError::RateLimited { retry_after } => Some(*retry_after),
            _ => None,
        }
    }
    fn is_retryable(&self) -> bool {
        SlackApiError::is_retryable(self)
    }
    fn gave_up(message: String) -> Self {
        SlackApiError::Transport(message)
    }
}

impl ChatError for DiscordApiError {
    fn retry_after(&self) -> Option<Duration> {
        match self {
            DiscordApiError::RateLimited { retry_after, .. } => Some(*retry_after),
            _ => None,
        }
    }
    fn is_retryable(&self) -> bool {
        DiscordApiError::is_retryable(self)
    }
    fn gave_up(message: String) -> Self {
        DiscordApiError::Transport(message)
    }
    fn global(&self) -> bool {
        matches!(self, DiscordApiError::RateLimited { global: true, .. })
    }
}

/// Paces and retries chat posts per channel.
#[derive(Debug)]
pub struct Pacer {
    platform: Platform,
    interval: Duration,
    deadline: Duration,
    /// Until when every channel waits: a global 429.
    paused: Mutex<Option<Instant>>,
    channels: Mutex<HashMap<String, Arc<tokio::sync::Mutex<Option<Instant>>>>>,
    /// Bounds the API calls in flight across channels. Each is an HTTP/1.1
    /// connection with its buffers: a few hundred channels posting at once
    /// must not open a few hundred connections (memory, and the platform's
    /// own limits make more parallelism pointless).
    calls: tokio::sync::Semaphore,
    metrics: Arc<Metrics>,
}

/// API calls in flight at once, across all channels.
pub const CONCURRENT_CALLS: usize = 16;

impl Pacer {
    /// An outbox sending at most one message per `interval` per channel and
    /// giving up on a message after `deadline` of failures.
    pub fn new(
        platform: Platform,
        interval: Duration,
        deadline: Duration,
        metrics: Arc<Metrics>,
    ) -> Self {
        Pacer {
            platform,
            interval,
            deadline,
            paused: Mutex::new(None),
            channels: Mutex::new(HashMap::new()),
            calls: tokio::sync::Semaphore::new(CONCURRENT_CALLS),
            metrics,
        }
    }

    fn lane(&self, channel: &str) -> Arc<tokio::sync::Mutex<Option<Instant>>> {
        let mut channels = self.channels.lock().expect("outbox map lock");
        // Forget idle channels now and then, so the map does not grow with
        // every channel ever posted to. A lane is idle when nobody holds it
        // *and* its pacing time has passed: forgetting a lane whose next
        // slot is still ahead would let the next message (a thread reply
        // right after its root) skip the pause and earn a 429.
        if channels.len() > 1024 {
            let now = Instant::now();
            channels.retain(|_, lane| {
                Arc::strong_count(lane) > 1
                    || lane
                        .try_lock()
                        .map_or(true, |next| next.is_some_and(|at| at > now))
            });
        }
        channels.entry(channel.to_string()).or_default().clone()
    }

    /// Sends one message with `call`, which is retried as needed. Returns
    /// the call's result, or the error that made it give up: a rejection
    /// (retrying cannot help) or the last error when the deadline passed.
    pub async fn send<T, E, F, Fut>(&self, channel: &str, call: F) -> Result<T, E>
    where
        E: ChatError + std::fmt::Display,
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, E>>,
    {
        self.send_until(channel, Instant::now() + self.deadline, call)
            .await
    }

    /// [`Pacer::send`], giving up at `give_up` instead of after the
    /// pacer's own deadline.
    pub async fn send_until<T, E, F, Fut>(
        &self,
        channel: &str,
        give_up: Instant,
        mut call: F,
    ) -> Result<T, E>
    where
        E: ChatError + std::fmt::Display,
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, E>>,
    {
        let lane = self.lane(channel);
        // Holding the lane while waiting keeps this channel's messages in
        // order; other channels are not held up.
        let mut next_allowed = lane.lock().await;
        let mut backoff = Duration::from_millis(250);
        loop {
            if let Some(at) = *next_allowed {
                tokio::time::sleep_until(at).await;
            }
            // A global 429 holds every lane, however it was reached.
            loop {
                let paused = *self.paused.lock().expect("pause lock");
                match paused {
                    Some(until) if until > Instant::now() => tokio::time::sleep_until(until).await,
                    _ => break,
                }
            }
            let result = {
                let _call = self.calls.acquire().await.expect("never closed");
                // Boxed: an API call's future (the HTTP client's request
                // and connection states) is kilobytes, and unboxed it would
                // sit in every waiting sender's task while it waits for
                // the channel's pace; boxed it exists only while the call
                // runs, at most `CONCURRENT_CALLS` at once.
                Box::pin(call()).await
            };
            let now = Instant::now();
            *next_allowed = Some(now + self.interval);
            match result {
                Ok(v) => {
                    self.metrics.chat_post(self.platform.as_str(), "ok");
                    return Ok(v);
                }
                Err(e) if e.retry_after().is_some() => {
                    let retry_after = e.retry_after().unwrap_or_default();
                    self.metrics
                        .chat_post(self.platform.as_str(), "rate_limited");
                    let until = now + retry_after.max(Duration::from_millis(100));
                    if e.global() {
                        tracing::warn!(
                            retry_after_ms = retry_after.as_millis() as u64,
                            "Chat platform's global rate limit: every channel waits."
                        );
                        let mut paused = self.paused.lock().expect("pause lock");
                        *paused = Some(paused.map_or(until, |p| p.max(until)));
                    } else {
                        tracing::info!(
                            channel,
                            retry_after_ms = retry_after.as_millis() as u64,
                            "Chat platform asked us to slow down; waiting."
                        );
                    }
                    *next_allowed = Some(until);
                }
                Err(e) if e.is_retryable() => {
                    self.metrics.chat_post(self.platform.as_str(), "retried");
                    tracing::warn!(channel, error = %e, backoff_ms = backoff.as_millis() as u64, "Posting to chat failed; retrying.");
                    *next_allowed = Some(now + backoff);
                    backoff = (backoff * 2).min(Duration::from_secs(30));
                }
                Err(e) => {
                    self.metrics.chat_post(self.platform.as_str(), "failed");
                    return Err(e);
                }
            }
            if next_allowed.is_some_and(|at| at > give_up) {
                self.metrics.chat_post(self.platform.as_str(), "failed");
                return Err(E::gave_up(format!(
                    "gave up after {} s of failures",
                    self.deadline.as_secs()
                )));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicU32, Ordering};

    use super::*;

    fn outbox() -> Pacer {
        Pacer::new(
            Platform::Slack,
            Duration::from_secs(1),
            Duration::from_secs(60),
            Arc::new(Metrics::new()),
        )
    }

    #[tokio::test(start_paused = true)]
    async fn messages_in_one_channel_are_spaced_by_the_interval() {
        let o = outbox();
        let start = Instant::now();
        for _ in 0..3 {
            o.send("C1", || async { Ok::<_, SlackApiError>(()) })
                .await
                .unwrap();
        }
        assert_eq!(start.elapsed(), Duration::from_secs(2));
        // Another channel is not held back by C1's pace.
        let before = Instant::now();
        o.send("C2", || async { Ok::<_, SlackApiError>(()) })
            .await
            .unwrap();
        assert_eq!(before.elapsed(), Duration::ZERO);
    }

    #[tokio::test(start_paused = true)]
    async fn pacing_survives_the_eviction_of_idle_channels() {
        let o = outbox();
        for i in 0..1100 {
            o.send(&format!("C{i}"), || async { Ok::<_, SlackApiError>(()) })
                .await
                .unwrap();
        }
        // C5's next slot is a second away; many other channels come and go
        // in between, yet its next message still waits for that slot.
        let before = Instant::now();
        o.send("C1099", || async { Ok::<_, SlackApiError>(()) })
            .await
            .unwrap();
        assert_eq!(before.elapsed(), Duration::from_secs(1));
    }

    #[tokio::test(start_paused = true)]
    async fn retry_after_is_honoured() {
        let o = outbox();
        let calls = AtomicU32::new(0);
        let start = Instant::now();
        let r = o
            .send("C1", || {
                let n = calls.fetch_add(1, Ordering::SeqCst);
                async move {
                    if n == 0 {
                        Err(SlackApiError::RateLimited {
                            retry_after: Duration::from_secs(7),
                        })
                    } else {
                        Ok(n)
                    }
                }
            })
            .await;
        assert_eq!(r, Ok(1));
        assert_eq!(start.elapsed(), Duration::from_secs(7));
        assert!(
            o.metrics
                .encode()
                .contains(r#"medic_chat_posts_total{platform="slack",outcome="rate_limited"} 1"#)
        );
    }

    #[tokio::test(start_paused = true)]
    async fn an_outage_is_retried_until_the_deadline_and_a_rejection_is_not() {
        let o = outbox();
        let calls = AtomicU32::new(0);
        let r: Result<(), _> = o
            .send("C1", || {
                calls.fetch_add(1, Ordering::SeqCst);
                async { Err(SlackApiError::Transport("connection refused".into())) }
            })
            .await;
        assert!(r.is_err());
        let n = calls.load(Ordering::SeqCst);
        assert!((5..20).contains(&n), "retried {n} times within a minute");

        let calls = AtomicU32::new(0);
        let r: Result<(), _> = o
            .send("C1", || {
                calls.fetch_add(1, Ordering::SeqCst);
                async {
                    Err(SlackApiError::Rejected {
                        code: "channel_not_found".into(),
                    })
                }
            })
            .await;
        assert_eq!(
            r,
            Err(SlackApiError::Rejected {
                code: "channel_not_found".into()
            })
        );
        assert_eq!(calls.load(Ordering::SeqCst), 1);
    }

    #[tokio::test(start_paused = true)]
    async fn a_global_429_holds_every_channel_and_a_route_429_only_its_own() {
        let o = Pacer::new(
            Platform::Discord,
            Duration::from_secs(1),
            Duration::from_secs(60),
            Arc::new(Metrics::new()),
        );
        // A route's 429 in one channel: another channel goes at once.
        let calls = AtomicU32::new(0);
        let limited = o.send("A", || {
            let n = calls.fetch_add(1, Ordering::SeqCst);
            async move {
                if n == 0 {
                    Err(DiscordApiError::RateLimited {
                        retry_after: Duration::from_secs(5),
                        global: false,
                    })
                } else {
                    Ok(())
                }
            }
        });
        let other = async {
            let before = Instant::now();
            o.send("B", || async { Ok::<_, DiscordApiError>(()) })
                .await
                .unwrap();
            before.elapsed()
        };
        let (r, waited) = tokio::join!(limited, other);
        r.unwrap();
        assert_eq!(waited, Duration::ZERO);

        // A global 429 in channel C: channel D, idle until now, waits it out.
        let start = Instant::now();
        let calls = AtomicU32::new(0);
        let global = o.send("C", || {
            let n = calls.fetch_add(1, Ordering::SeqCst);
            async move {
                if n == 0 {
                    Err(DiscordApiError::RateLimited {
                        retry_after: Duration::from_secs(7),
                        global: true,
                    })
                } else {
                    Ok(())
                }
            }
        });
        let other = async {
            // D's call starts once C's first answer is in.
            tokio::task::yield_now().await;
            o.send("D", || async { Ok::<_, DiscordApiError>(()) })
                .await
                .unwrap();
            start.elapsed()
        };
        let (r, waited) = tokio::join!(global, other);
        r.unwrap();
        assert_eq!(waited, Duration::from_secs(7));
        assert_eq!(start.elapsed(), Duration::from_secs(7));
    }
}

//! What replicas agree on through `[redis]`: each person's command budget
//! and the `/diag` running in each channel, so that three replicas behind
//! a load balancer limit and coalesce as one medic does.
//!
//! Each replica keeps deciding locally first ([`crate::ratelimit`],
//! [`crate::coalesce`]): that answers a flood at once and holds without
//! Redis. A command that passes locally is then checked here, in one
//! round trip (one script, so the budget and the channel's claim are
//! decided together). Without `[redis]` the limits and coalescing are per
//! replica: a person may run up to N× their budget across N replicas, and
//! two people typing the same `/diag` at two replicas get two reports.
//!
//! Redis is help, not a dependency: when it does not answer within
//! [`CALL_TIMEOUT`] the command is decided locally (it *fails open*: an
//! on-call engineer's `/diag` during an outage matters more than a limit),
//! a warning is logged once, and Redis is not asked again for
//! [`BACK_OFF`], so that an outage does not add a timeout to every ack.

use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::time::Duration;

use medic_commands::diagnostics::SecretUrl;
use medic_commands::model::inbound::Platform;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};

use crate::coalesce::RunningKey;
use crate::settings::LimitSettings;

/// Bounds each call: the ack this waits inside must reach Slack within 3 s.
pub const CALL_TIMEOUT: Duration = Duration::from_millis(300);
/// How long a replica decides alone after Redis failed to answer.
pub const BACK_OFF: Duration = Duration::from_secs(5);
/// How long a channel's claim on a target outlives the replica that made
/// it if that replica dies without releasing it (its run is taken over
/// and delivered by another replica, [`crate::delivery::recover`], which
/// releases the claim then). Also the longest a report held up by a chat
/// outage keeps new `/diag`s of the same target joining it.
pub const RUN_CLAIM: Duration = Duration::from_secs(120);

/// The person's budget (GCRA, as governor keeps it locally: the key holds
/// the theoretical arrival time in ms of Redis's clock, so replicas'
/// clocks play no part) and, with a second key, the channel's claim on a
/// target. Returns `{0, 0}` admitted (and claimed), `{1, wait_ms}` over
/// budget, `{2, run}` already running (`run` is its number, or 0 while
/// it is being recorded). A refused command does not claim; a coalesced
/// one has spent its budget, as locally.
const ADMIT: &str = r"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local interval = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local tat = tonumber(redis.call('GET', KEYS[1]) or '0')
if tat < now then tat = now end
local new_tat = tat + interval
if new_tat - now > burst * interval then
  return {1, new_tat - now - burst * interval}
end
redis.call('SET', KEYS[1], new_tat, 'PX', new_tat - now)
if #KEYS == 1 then return {0, 0} end
if redis.call('SET', KEYS[2], ARGV[3], 'NX', 'PX', ARGV[4]) then return {0, 0} end
local running = redis.call('GET', KEYS[2])
return {2, tonumber(running) or 0}
";

/// Replaces the key's value only while it is still `ARGV[1]`, keeping its
/// expiry: the claim's placeholder becomes the run's number.
const RENAME: &str = "if redis.call('GET', KEYS[1]) == ARGV[1] then \
                      return redis.call('SET', KEYS[1], ARGV[2], 'KEEPTTL') else return 0 end";

/// Deletes the key only while it is still `ARGV[1]`: a claim that expired
/// and was made again by another command is not released by the first.
const RELEASE: &str = "if redis.call('GET', KEYS[1]) == ARGV[1] then \
                       return redis.call('DEL', KEYS[1]) else return 0 end";

/// The shared budget and claims, when `[redis]` is set.
pub struct Cluster {
    conn: ConnectionManager,
    /// Milliseconds between two commands of one person.
    interval_ms: u64,
    burst: u32,
    /// Until when (ms since the Unix epoch) Redis is not asked; 0 when it
    /// answers.
    quiet_until: AtomicI64,
    /// Makes each claim's placeholder unique within this process.
    claims: AtomicU64,
    /// This process's part of the placeholders.
    me: String,
}

impl std::fmt::Debug for Cluster {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Cluster")
            .field("interval_ms", &self.interval_ms)
            .field("burst", &self.burst)
            .finish_non_exhaustive()
    }
}

/// What Redis said of a command that passed this replica's own checks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// It may run; with a claim, the claim is this command's.
    Admitted(Option<Claim>),
    /// The person is over their budget across replicas: wait this long.
    Limited(Duration),
    /// The same target is running in the channel from another replica
    /// (its number, once recorded).
    Running(Option<i64>),
}

/// A channel's claim on a target, made by one command: renamed to the
/// run's number once recorded, released once its report is delivered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Claim {
    key: String,
    value: String,
}

impl Cluster {
    /// A client for `url` with `limits`' budget. Connects lazily: a medic
    /// whose Redis is down still starts, and decides alone until it is up.
    pub fn new(url: &SecretUrl, limits: &LimitSettings) -> redis::RedisResult<Cluster> {
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(CALL_TIMEOUT))
            .set_response_timeout(Some(CALL_TIMEOUT))
            .set_number_of_retries(1);
        let conn =
            ConnectionManager::new_lazy_with_config(redis::Client::open(url.expose())?, config)?;
        let mut id = [0u8; 6];
        getrandom::fill(&mut id).expect("the OS has a random source");
        Ok(Cluster {
            conn,
            interval_ms: 60_000 / u64::from(limits.commands_per_minute.max(1)),
            burst: limits.command_burst.max(1),
            quiet_until: AtomicI64::new(0),
            claims: AtomicU64::new(0),
            me: format!("{}-{}", std::process::id(), hex::encode(id)),
        })
    }

    /// Spends one of the person's commands; with `running`, also claims
    /// the channel for that target. `None` when Redis could not say (the
    /// caller decides alone).
    pub async fn admit(
        &self,
        platform: Platform,
        person: &str,
        running: Option<&RunningKey>,
    ) -> Option<Verdict> {
        let mut eval = redis::cmd("EVAL");
        eval.arg(ADMIT)
            .arg(1 + usize::from(running.is_some()))
            .arg(person_key(platform, person));
        let claim = running.map(|key| Claim {
            key: key.redis_key(),
            value: format!(
                "claim:{}:{}",
                self.me,
                self.claims.fetch_add(1, Ordering::Relaxed)
            ),
        });
        if let Some(c) = &claim {
            eval.arg(&c.key);
        }
        eval.arg(self.interval_ms).arg(self.burst);
        if let Some(c) = &claim {
            eval.arg(&c.value).arg(RUN_CLAIM.as_millis() as u64);
        }
        let (status, n): (u8, i64) = self.call(eval).await?;
        Some(match status {
            0 => Verdict::Admitted(claim),
            1 => Verdict::Limited(Duration::from_millis(n.max(0) as u64)),
            _ => Verdict::Running((n > 0).then_some(n)),
        })
    }

    /// Names the claimed run by its number, for those who join it.
    pub async fn recorded(&self, claim: &mut Claim, run: i64) {
        let number = run.to_string();
        let mut rename = redis::cmd("EVAL");
        rename
            .arg(RENAME)
            .arg(1)
            .arg(&claim.key)
            .arg(&claim.value)
            .arg(&number);
        let _: Option<redis::Value> = self.call(rename).await;
        claim.value = number;
    }

    /// Gives the claim up: the report is delivered (or the command never
    /// ran), so the next `/diag` of that target runs anew.
    pub async fn release(&self, claim: &Claim) {
        let mut release = redis::cmd("EVAL");
        release
            .arg(RELEASE)
            .arg(1)
            .arg(&claim.key)
            .arg(&claim.value);
        let _: Option<i64> = self.call(release).await;
    }

    /// Runs `cmd` unless Redis is being left alone; `None` on any failure,
    /// logged when it starts.
    async fn call<T: redis::FromRedisValue>(&self, cmd: redis::Cmd) -> Option<T> {
        let now = crate::storage::now_ms();
        if self.quiet_until.load(Ordering::Relaxed) > now {
            return None;
        }
        let mut conn = self.conn.clone();
        let answer = tokio::time::timeout(CALL_TIMEOUT, cmd.query_async::<T>(&mut conn)).await;
        let error = match answer {
            Ok(Ok(value)) => {
                if self.quiet_until.swap(0, Ordering::Relaxed) != 0 {
                    tracing::info!(
                        "Redis answers again: limits and coalescing hold across replicas."
                    );
                }
                return Some(value);
            }
            Ok(Err(e)) => e.to_string(),
            Err(_) => format!("no answer within {} ms", CALL_TIMEOUT.as_millis()),
        };
        let until = now + BACK_OFF.as_millis() as i64;
        if self.quiet_until.swap(until, Ordering::Relaxed) == 0 {
            tracing::warn!(
                %error,
                "Redis ([redis] url) is not answering: each replica limits and coalesces commands on its own until it does."
            );
        }
        None
    }
}

impl Claim {
    /// The claim a run holds once recorded: what [`crate::delivery::recover`]
    /// releases for a run it took over from a dead replica.
    pub fn of_run(key: &RunningKey, run: i64) -> Claim {
        Claim {
            key: key.redis_key(),
            value: run.to_string(),
        }
    }
}

/// The key of a person's budget. Ids come from verified requests; their
/// length is written so that no two (platform, id) pairs share a key.
fn person_key(platform: Platform, person: &str) -> String {
    format!(
        "medic:budget:{}:{}:{person}",
        platform.as_str(),
        person.len()
    )
}

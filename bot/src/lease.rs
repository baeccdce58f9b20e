//! One holder among replicas: a Redis key that one process sets (`SET NX
//! PX`) and keeps renewing while it does the work only one may do (today:
//! holding the Discord gateway connection, which Discord would otherwise
//! deliver every interaction to twice).
//!
//! The value is a random holder id, so renewing and releasing are
//! check-and-act scripts: a process whose lease expired (a long pause, a
//! partition) can neither extend nor delete the key another replica has
//! taken since. A holder that stops renewing — killed, or cut off from
//! Redis — loses the key after its TTL and a waiting replica takes over;
//! one that stops cleanly deletes it so the takeover is immediate.

use std::time::Duration;

use redis::aio::MultiplexedConnection;

/// Extends the key's TTL only while it still names this holder.
const RENEW: &str = "if redis.call('GET', KEYS[1]) == ARGV[1] then \
                     return redis.call('PEXPIRE', KEYS[1], ARGV[2]) else return 0 end";
/// Deletes the key only while it still names this holder.
const RELEASE: &str = "if redis.call('GET', KEYS[1]) == ARGV[1] then \
                       return redis.call('DEL', KEYS[1]) else return 0 end";

/// Bounds every Redis call: a hung Redis must not stall the renewal past
/// the TTL unnoticed.
const CALL_TIMEOUT: Duration = Duration::from_secs(2);

/// A lease on one key, held or not.
pub struct Lease {
    conn: MultiplexedConnection,
    key: String,
    holder: String,
    ttl: Duration,
}

impl std::fmt::Debug for Lease {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Lease")
            .field("key", &self.key)
            .field("holder", &self.holder)
            .field("ttl", &self.ttl)
            .finish()
    }
}

impl Lease {
    /// Connects to Redis at `url` for a lease on `key` that lasts `ttl`
    /// unless renewed. Holds nothing yet.
    pub async fn connect(url: &str, key: &str, ttl: Duration) -> redis::RedisResult<Lease> {
        let config = redis::AsyncConnectionConfig::new()
            .set_connection_timeout(Some(CALL_TIMEOUT))
            .set_response_timeout(Some(CALL_TIMEOUT));
        let conn = redis::Client::open(url)?
            .get_multiplexed_async_connection_with_config(&config)
            .await?;
        let mut id = [0u8; 12];
        getrandom::fill(&mut id).expect("the OS has a random source");
        Ok(Lease {
            conn,
            key: key.to_string(),
            holder: format!("{}-{}", std::process::id(), hex::encode(id)),
            ttl,
        })
    }

    /// This process's holder id, as stored in the key.
    pub fn holder(&self) -> &str {
        &self.holder
    }

    /// Takes the key if nobody holds it; `true` when this process now does.
    pub async fn try_acquire(&mut self) -> redis::RedisResult<bool> {
        let set: Option<String> = redis::cmd("SET")
            .arg(&self.key)
            .arg(&self.holder)
            .arg("NX")
            .arg("PX")
            .arg(self.ttl.as_millis() as u64)
            .query_async(&mut self.conn)
            .await?;
        Ok(set.is_some())
    }

    /// Extends the TTL; `false` when the key is no longer this holder's
    /// (it expired, and maybe another replica took it).
    pub async fn renew(&mut self) -> redis::RedisResult<bool> {
        let n: i64 = redis::cmd("EVAL")
            .arg(RENEW)
            .arg(1)
            .arg(&self.key)
            .arg(&self.holder)
            .arg(self.ttl.as_millis() as u64)
            .query_async(&mut self.conn)
            .await?;
        Ok(n == 1)
    }

    /// Gives the key up, if still held, so a waiting replica need not wait
    /// for the TTL.
    pub async fn release(&mut self) -> redis::RedisResult<bool> {
        let n: i64 = redis::cmd("EVAL")
            .arg(RELEASE)
            .arg(1)
            .arg(&self.key)
            .arg(&self.holder)
            .query_async(&mut self.conn)
            .await?;
        Ok(n == 1)
    }
}

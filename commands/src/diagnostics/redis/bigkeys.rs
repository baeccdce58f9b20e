//! Purpose: `redis-cli --bigkeys` / `--memkeys` for the on-call engineer —
//! which keys hold the memory. One big key explains a lot of what Redis
//! alerts look like: memory climbing to maxmemory, a `DEL` or an `HGETALL`
//! that blocks every client (Redis runs one command at a time), one shard
//! of a cluster hotter than the others.
//!
//! Like redis-cli, keys are sampled with `SCAN` (never `KEYS`, which blocks)
//! and measured with `MEMORY USAGE` (its default of 5 sampled elements per
//! aggregate: an estimate, cheap on a list of millions). Sampling stops at
//! [`MAX_KEYS`] keys or its time budget (at most [`BUDGET`]), whichever comes
//! first, and the finding says how much of the keyspace it saw. Only the
//! connection's database is scanned: `SELECT`ing another would move the
//! other checks' shared connection with it.
//!
//! Key names can hold user data (`session:<token>`), so they are shown as
//! the slowlog shows a key: cut to [`slowlog::ARG_CHARS`] characters,
//! control characters replaced, and through the target's redactor.

use std::time::{Duration, Instant};

use redis::Value;

use super::connect::Session;
use super::slowlog::{self, printable};
use crate::format::{human_bytes, human_duration, thousands};
use crate::model::report::Finding;

/// The most keys sampled. redis-cli samples every key; medic answers in
/// seconds, and 10 000 keys take a few dozen round trips.
pub const MAX_KEYS: usize = 10_000;
/// The most time sampling may take (less when the target's timeout is
/// short): SCAN and MEMORY USAGE are cheap, but they are commands on a
/// server that may be in trouble.
pub const BUDGET: Duration = Duration::from_secs(1);
/// Keys asked for per `SCAN` call (a hint to Redis, as `redis-cli --bigkeys`
/// uses).
pub const SCAN_COUNT: usize = 200;
/// A key this big is a warning: reading it whole (`HGETALL`, `LRANGE 0 -1`,
/// `GET`) sends 10 MiB, about 80 ms on a 1 Gbit/s link, and deleting it
/// frees it in one go — near [`slowlog::SLOW_COMMAND`], during which every
/// other client waits.
pub const BIG_KEY: u64 = 10 << 20;
/// How many of the biggest keys are listed.
pub const TOP: usize = 5;

/// One sampled key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Key {
    /// Its name as Redis has it (lossily UTF-8).
    pub name: String,
    /// `string`, `list`, `hash`, `set`, `zset`, `stream`, …
    pub kind: String,
    /// `MEMORY USAGE`, in bytes.
    pub bytes: u64,
}

/// Why sampling stopped before the keyspace was seen whole.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stop {
    /// [`MAX_KEYS`] were sampled.
    Count,
    /// The time budget ran out.
    Time(Duration),
}

/// What a sampling pass saw.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sample {
    /// The database scanned.
    pub db: i64,
    /// Keys in it (`DBSIZE`), when known.
    pub dbsize: Option<u64>,
    /// Keys measured.
    pub sampled: usize,
    /// The [`TOP`] biggest, biggest first.
    pub biggest: Vec<Key>,
    /// `None` when the SCAN went all the way round.
    pub stopped: Option<Stop>,
}

/// Samples the connection's database within `budget` and judges it.
pub async fn check(session: Session, db: i64, budget: Duration) -> Vec<Finding> {
    match sample(session, db, budget.min(BUDGET)).await {
        Ok(s) => vec![findings(&s)],
        Err(e) => vec![
            Finding::unknown(
                "redis.bigkeys",
                "Biggest keys not sampled: SCAN or MEMORY USAGE failed",
            )
            .with_detail("medic's Redis user needs +scan +memory|usage +type +dbsize.")
            .with_evidence(e.to_string()),
        ],
    }
}

async fn sample(session: Session, db: i64, budget: Duration) -> redis::RedisResult<Sample> {
    let mut conn = session.conn;
    let started = Instant::now();
    let dbsize = redis::cmd("DBSIZE")
        .query_async::<u64>(&mut conn)
        .await
        .ok();
    let mut keys: Vec<Key> = Vec::new();
    let mut sampled = 0;
    let mut cursor = 0u64;
    let stopped = loop {
        let (next, names): (u64, Vec<Vec<u8>>) = redis::cmd("SCAN")
            .arg(cursor)
            .arg("COUNT")
            .arg(SCAN_COUNT)
            .query_async(&mut conn)
            .await?;
        let names: Vec<Vec<u8>> = names.into_iter().take(MAX_KEYS - sampled).collect();
        if !names.is_empty() {
            let mut pipe = redis::pipe();
            for name in &names {
                pipe.cmd("MEMORY").arg("USAGE").arg(name);
                pipe.cmd("TYPE").arg(name);
            }
            let replies: Vec<Value> = pipe.query_async(&mut conn).await?;
            for (name, pair) in names.iter().zip(replies.chunks(2)) {
                // Nil: the key expired or was deleted since the SCAN.
                if let [Value::Int(bytes), kind] = pair {
                    keys.push(Key {
                        name: String::from_utf8_lossy(name).into_owned(),
                        kind: text(kind),
                        bytes: (*bytes).max(0) as u64,
                    });
                }
            }
            sampled += names.len();
            keys.sort_by(|a, b| b.bytes.cmp(&a.bytes).then(a.name.cmp(&b.name)));
            keys.truncate(TOP);
        }
        cursor = next;
        if cursor == 0 {
            break None;
        }
        if sampled >= MAX_KEYS {
            break Some(Stop::Count);
        }
        if started.elapsed() >= budget {
            break Some(Stop::Time(budget));
        }
    };
    Ok(Sample {
        db,
        dbsize,
        sampled,
        biggest: keys,
        stopped,
    })
}

fn text(v: &Value) -> String {
    match v {
        Value::SimpleString(s) => s.clone(),
        Value::BulkString(b) => String::from_utf8_lossy(b).into_owned(),
        Value::Okay => "OK".into(),
        _ => "?".into(),
    }
}

/// A key as shown: its type and its name, cut.
pub fn shown(k: &Key) -> String {
    format!("{} {}", k.kind, printable(&k.name, slowlog::ARG_CHARS))
}

/// The biggest key and the [`TOP`] biggest in the detail; a warning from
/// [`BIG_KEY`] up; how much of the keyspace was seen.
pub fn findings(s: &Sample) -> Finding {
    let coverage = match (s.stopped, s.dbsize) {
        (None, _) => format!("all {} keys of db {}", thousands(s.sampled as i64), s.db),
        (Some(stop), size) => {
            let of = size
                .map(|n| format!(" of {}", thousands(n as i64)))
                .unwrap_or_default();
            let why = match stop {
                Stop::Count => format!("the first {} sampled", thousands(MAX_KEYS as i64)),
                Stop::Time(t) => format!("stopped after {}", human_duration(t)),
            };
            format!(
                "{} keys{of} in db {} ({why}; a bigger key may be elsewhere)",
                thousands(s.sampled as i64),
                s.db
            )
        }
    };
    let Some(top) = s.biggest.first() else {
        return Finding::ok("redis.bigkeys", format!("No keys to sample in db {}", s.db));
    };
    let mut f = if top.bytes >= BIG_KEY {
        let count = s.biggest.iter().filter(|k| k.bytes >= BIG_KEY).count();
        let summary = if count == 1 {
            format!("Big key: {} holds {}", shown(top), human_bytes(top.bytes))
        } else {
            format!(
                "{count} big keys, biggest {} with {}",
                shown(top),
                human_bytes(top.bytes)
            )
        };
        Finding::warn("redis.bigkeys", summary)
            .with_detail("A big key is read, written and freed in one go: HGETALL, LRANGE 0 -1, SMEMBERS or GET of it, and a DEL (use UNLINK), block every other client meanwhile; in a cluster it weighs on one shard.")
    } else {
        Finding::ok(
            "redis.bigkeys",
            format!(
                "Biggest key: {} with {}",
                shown(top),
                human_bytes(top.bytes)
            ),
        )
    };
    f = f.with_detail(format!("Sampled {coverage}; the biggest:"));
    for k in &s.biggest {
        f = f.with_detail(format!("• {} {}", human_bytes(k.bytes), shown(k)));
    }
    f.with_detail("By hand: redis-cli --memkeys (or --bigkeys); MEMORY USAGE <key>")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Status;

    fn key(name: &str, kind: &str, bytes: u64) -> Key {
        Key {
            name: name.into(),
            kind: kind.into(),
            bytes,
        }
    }

    fn sample(biggest: Vec<Key>, sampled: usize, stopped: Option<Stop>) -> Sample {
        Sample {
            db: 0,
            dbsize: Some(1_250_000),
            sampled,
            biggest,
            stopped,
        }
    }

    #[test]
    fn a_key_of_ten_mib_is_a_warning_naming_it() {
        let s = sample(
            vec![
                key("orders:queue", "list", 12 << 20),
                key("user:42", "hash", 3 << 20),
            ],
            2,
            None,
        );
        let f = findings(&s);
        assert_eq!(f.status, Status::Warn);
        assert_eq!(f.summary, "Big key: list orders:queue holds 12.0 MiB");
        assert_eq!(f.detail[1], "Sampled all 2 keys of db 0; the biggest:");
        assert_eq!(f.detail[2], "• 12.0 MiB list orders:queue");
        assert_eq!(f.detail[3], "• 3.0 MiB hash user:42");
    }

    #[test]
    fn smaller_keys_are_listed_as_ok_with_what_was_seen() {
        let s = sample(
            vec![key("cache:home", "string", 900 << 10)],
            MAX_KEYS,
            Some(Stop::Count),
        );
        let f = findings(&s);
        assert_eq!(f.status, Status::Ok);
        assert_eq!(f.summary, "Biggest key: string cache:home with 900.0 KiB");
        assert_eq!(
            f.detail[0],
            "Sampled 10 000 keys of 1 250 000 in db 0 (the first 10 000 sampled; a bigger key may be elsewhere); the biggest:"
        );
        let s = sample(
            vec![key("k", "set", 10)],
            700,
            Some(Stop::Time(Duration::from_secs(1))),
        );
        assert!(
            findings(&s).detail[0].contains("(stopped after 1.0 s;"),
            "{:?}",
            findings(&s).detail
        );
        let empty = findings(&sample(Vec::new(), 0, None));
        assert_eq!(empty.summary, "No keys to sample in db 0");
    }

    #[test]
    fn key_names_are_cut_and_made_printable() {
        let long = format!("session:{}", "a".repeat(80));
        let k = key(&long, "string", 1);
        assert_eq!(
            shown(&k),
            format!("string session:{}…", "a".repeat(slowlog::ARG_CHARS - 8))
        );
        assert_eq!(shown(&key("a\r\nb", "list", 1)), "list a··b");
    }
}

//! Purpose: `redis-cli slowlog get` read for the on-call engineer — the
//! slowest commands still in the log, with how long each blocked the
//! server, when, and from which client. Redis runs one command at a time,
//! so one `KEYS *` or a `DEL` of a huge set stalls every client, and their
//! timeouts look like a network problem from the application's side.
//!
//! Arguments can hold secrets (`SET session:… <token>`, `AUTH <password>`),
//! so only the command, its first argument (usually the key, which says
//! *what* was slow) cut to [`ARG_CHARS`], and a count of the rest are shown;
//! `AUTH` never shows any argument. Everything still passes the target's
//! redactor afterwards.

use redis::Value;
use time::OffsetDateTime;

use super::connect::{Session, config_get};
use crate::format::{human_age, human_duration, utc_clock};
use crate::model::report::Finding;

/// How many entries the log is asked for (Redis keeps 128 by default).
pub const FETCH: usize = 128;
/// How many of the slowest are shown.
pub const TOP: usize = 5;
/// A recent command at least this slow is a warning: every other client
/// waited that long, past many client libraries' timeouts.
pub const SLOW_COMMAND: std::time::Duration = std::time::Duration::from_millis(100);
/// "Recent", for that warning: older entries are history, shown as ok.
pub const RECENT: std::time::Duration = std::time::Duration::from_secs(3600);
/// The most characters of an argument that are shown.
pub const ARG_CHARS: usize = 40;

/// One slowlog entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// When it ran (unix seconds).
    pub at: i64,
    /// How long it ran, in microseconds.
    pub micros: u64,
    /// The command and its arguments, as Redis logged them (Redis already
    /// cuts them to 32 arguments of 128 bytes).
    pub args: Vec<String>,
    /// The client's address (`10.0.0.5:51234`), when logged.
    pub client: String,
    /// The client's name (`CLIENT SETNAME`), often empty.
    pub name: String,
}

/// Reads the log over the session and judges it.
pub async fn check(session: Session, now: OffsetDateTime) -> Vec<Finding> {
    let mut conn = session.conn;
    let reply = redis::cmd("SLOWLOG")
        .arg("GET")
        .arg(FETCH)
        .query_async::<Value>(&mut conn)
        .await;
    let threshold = config_get(&mut conn, "slowlog-log-slower-than")
        .await
        .and_then(|v| v.parse::<i64>().ok());
    match reply {
        Ok(value) => findings(&parse(&value), threshold, now),
        Err(e) => vec![
            Finding::unknown(
                "redis.slowlog",
                "SLOWLOG GET failed; slow commands not checked",
            )
            .with_detail(
                "A managed Redis may rename or forbid SLOWLOG; medic's user needs +slowlog|get.",
            )
            .with_evidence(e.to_string()),
        ],
    }
}

/// The entries of a `SLOWLOG GET` reply; malformed entries are skipped.
pub fn parse(value: &Value) -> Vec<Entry> {
    let Value::Array(entries) = value else {
        return Vec::new();
    };
    entries.iter().filter_map(entry).collect()
}

fn entry(value: &Value) -> Option<Entry> {
    let Value::Array(fields) = value else {
        return None;
    };
    let args = match fields.get(3)? {
        Value::Array(args) => args.iter().filter_map(text).collect(),
        _ => return None,
    };
    Some(Entry {
        at: int(fields.get(1)?)?,
        micros: u64::try_from(int(fields.get(2)?)?).ok()?,
        args,
        client: fields.get(4).and_then(text).unwrap_or_default(),
        name: fields.get(5).and_then(text).unwrap_or_default(),
    })
}

/// A reply element as a number, whether Redis sent it as an integer or
/// as its text (the LATENCY replies use both).
pub(super) fn int(v: &Value) -> Option<i64> {
    match v {
        Value::Int(n) => Some(*n),
        other => text(other)?.parse().ok(),
    }
}

/// A reply element as text, whatever string or integer form it came in.
pub(super) fn text(v: &Value) -> Option<String> {
    match v {
        Value::BulkString(b) => Some(String::from_utf8_lossy(b).into_owned()),
        Value::SimpleString(s) => Some(s.clone()),
        Value::Int(n) => Some(n.to_string()),
        _ => None,
    }
}

/// The command as shown: name, first argument cut short, a count of the
/// rest; `AUTH` with no argument at all.
pub fn shown_command(args: &[String]) -> String {
    let Some((name, rest)) = args.split_first() else {
        return "(empty)".into();
    };
    let name = printable(name, ARG_CHARS).to_uppercase();
    if name == "AUTH" {
        return "AUTH (arguments hidden)".into();
    }
    match rest {
        [] => name,
        [first] => format!("{name} {}", printable(first, ARG_CHARS)),
        [first, more @ ..] => format!(
            "{name} {} … (+{} {})",
            printable(first, ARG_CHARS),
            more.len(),
            if more.len() == 1 { "arg" } else { "args" }
        ),
    }
}

/// At most `max` characters, control characters replaced, so a binary key
/// cannot break the chat message. Every check that shows a key uses it.
pub fn printable(s: &str, max: usize) -> String {
    let mut out: String = s
        .chars()
        .take(max)
        .map(|c| if c.is_control() { '·' } else { c })
        .collect();
    if s.chars().count() > max {
        out.push('…');
    }
    out
}

fn line(e: &Entry, now: OffsetDateTime) -> String {
    let at = OffsetDateTime::from_unix_timestamp(e.at).unwrap_or(now);
    let ago = (now - at).whole_seconds().max(0) as u64;
    let client = match (e.client.as_str(), e.name.as_str()) {
        ("", "") => String::new(),
        ("", name) => format!(" from {}", printable(name, ARG_CHARS)),
        (addr, "") => format!(" from {addr}"),
        (addr, name) => format!(" from {addr} ({})", printable(name, ARG_CHARS)),
    };
    format!(
        "{} {} at {} ({} ago){client}",
        human_duration(std::time::Duration::from_micros(e.micros)),
        shown_command(&e.args),
        utc_clock(at),
        human_age(ago),
    )
}

/// Judges the log: the [`TOP`] slowest entries, a warning when one of
/// them in the last [`RECENT`] blocked the server for [`SLOW_COMMAND`] or
/// more. `threshold` is `slowlog-log-slower-than` in µs, when readable.
pub fn findings(entries: &[Entry], threshold: Option<i64>, now: OffsetDateTime) -> Vec<Finding> {
    if entries.is_empty() {
        let summary = match threshold {
            Some(t) if t < 0 => "Slowlog disabled (slowlog-log-slower-than -1)".to_string(),
            Some(t) => format!(
                "Slowlog empty: no command slower than {} logged",
                human_duration(std::time::Duration::from_micros(t as u64))
            ),
            None => "Slowlog empty".to_string(),
        };
        return vec![Finding::ok("redis.slowlog", summary)];
    }
    let mut top: Vec<&Entry> = entries.iter().collect();
    top.sort_by(|a, b| b.micros.cmp(&a.micros).then(b.at.cmp(&a.at)));
    top.truncate(TOP);
    let recent_start = now.unix_timestamp() - RECENT.as_secs() as i64;
    let worst_recent = top
        .iter()
        .find(|e| e.at >= recent_start && e.micros >= SLOW_COMMAND.as_micros() as u64);
    let mut f = match worst_recent {
        Some(e) => Finding::warn(
            "redis.slowlog",
            format!(
                "Slow command: {} blocked Redis for {} ({} ago)",
                shown_command(&e.args),
                human_duration(std::time::Duration::from_micros(e.micros)),
                human_age((now.unix_timestamp() - e.at).max(0) as u64)
            ),
        )
        .with_detail("Redis runs one command at a time: every client waited meanwhile, and client timeouts then look like network errors."),
        None => Finding::ok(
            "redis.slowlog",
            format!(
                "Slowlog: {} entries, slowest {} took {}",
                entries.len(),
                shown_command(&top[0].args),
                human_duration(std::time::Duration::from_micros(top[0].micros))
            ),
        ),
    };
    f = f.with_detail(format!("Slowest {}:", top.len()));
    for e in &top {
        f = f.with_detail(format!("• {}", line(e, now)));
    }
    vec![f.with_detail(
        "By hand: redis-cli slowlog get 10 (arguments are cut here and values never shown)",
    )]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Status;

    fn now() -> OffsetDateTime {
        OffsetDateTime::from_unix_timestamp(1_800_000_000).unwrap()
    }

    fn e(ago: i64, micros: u64, args: &[&str]) -> Entry {
        Entry {
            at: now().unix_timestamp() - ago,
            micros,
            args: args.iter().map(|s| s.to_string()).collect(),
            client: "10.0.0.5:51234".into(),
            name: String::new(),
        }
    }

    #[test]
    fn a_recent_slow_command_is_a_warning_naming_it() {
        let entries = [
            e(30, 900, &["GET", "a"]),
            e(180, 1_250_000, &["KEYS", "*"]),
            e(7200, 5_000_000, &["DEL", "old:big:set"]),
        ];
        let f = &findings(&entries, Some(10_000), now())[0];
        assert_eq!(f.status, Status::Warn);
        assert_eq!(
            f.summary,
            "Slow command: KEYS * blocked Redis for 1.2 s (3 min ago)"
        );
        // The slowest first, old ones included as history.
        assert!(
            f.detail[2].starts_with("• 5.0 s DEL old:big:set at"),
            "{:?}",
            f.detail
        );
        assert!(
            f.detail[3].contains("from 10.0.0.5:51234"),
            "{:?}",
            f.detail
        );
    }

    #[test]
    fn old_or_quick_entries_are_ok() {
        let entries = [
            e(7200, 5_000_000, &["DEL", "k"]),
            e(10, 20_000, &["SET", "k", "v"]),
        ];
        let f = &findings(&entries, None, now())[0];
        assert_eq!(f.status, Status::Ok);
        assert_eq!(f.summary, "Slowlog: 2 entries, slowest DEL k took 5.0 s");
        let f = &findings(&[], Some(10_000), now())[0];
        assert_eq!(
            f.summary,
            "Slowlog empty: no command slower than 10 ms logged"
        );
        let f = &findings(&[], Some(-1), now())[0];
        assert!(f.summary.contains("disabled"));
    }

    #[test]
    fn values_and_auth_arguments_are_never_shown() {
        let cmd = |a: &[&str]| shown_command(&a.iter().map(|s| s.to_string()).collect::<Vec<_>>());
        assert_eq!(cmd(&["auth", "hunter22"]), "AUTH (arguments hidden)");
        assert_eq!(
            cmd(&["AUTH", "medic", "hunter22"]),
            "AUTH (arguments hidden)"
        );
        assert_eq!(
            cmd(&["SET", "session:1", "tok-abc"]),
            "SET session:1 … (+1 arg)"
        );
        assert_eq!(
            cmd(&["CONFIG", "SET", "requirepass", "hunter22"]),
            "CONFIG SET … (+2 args)"
        );
        assert_eq!(cmd(&["PING"]), "PING");
        let long = "k".repeat(100);
        assert_eq!(
            cmd(&["GET", &long]),
            format!("GET {}…", "k".repeat(ARG_CHARS))
        );
        assert_eq!(cmd(&["GET", "a\r\nb"]), "GET a··b");
    }

    #[test]
    fn a_reply_parses_and_junk_is_skipped() {
        let bulk = |s: &str| Value::BulkString(s.as_bytes().to_vec());
        let reply = Value::Array(vec![
            Value::Array(vec![
                Value::Int(4),
                Value::Int(1_795_982_506),
                Value::Int(100_088),
                Value::Array(vec![bulk("debug"), bulk("sleep"), bulk("0.1")]),
                bulk("127.0.0.1:34726"),
                bulk(""),
            ]),
            Value::Int(7),
        ]);
        let entries = parse(&reply);
        assert_eq!(entries.len(), 1);
        assert_eq!(entries[0].micros, 100_088);
        assert_eq!(entries[0].args, ["debug", "sleep", "0.1"]);
        assert_eq!(entries[0].client, "127.0.0.1:34726");
    }
}

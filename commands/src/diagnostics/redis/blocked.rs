//! Purpose: `redis-cli info clients | grep blocked` and `client list`, read
//! together: how many clients wait in a blocking command (BLPOP, BRPOP,
//! BLMOVE, XREAD BLOCK, WAIT), in which commands, and for how long.
//!
//! Queue workers (Sidekiq, Resque, Celery) spend their lives in BRPOP, so
//! blocked clients are normal and reported as ok with their commands; the
//! count matters when it grows with nothing consuming, which the evidence
//! (commands, longest wait) lets a reader judge. Clients blocked in `WAIT`
//! are a warning: they wait for replicas to acknowledge writes, so their
//! wait is replication trouble, not an idle queue.

use std::collections::BTreeMap;

use super::connect::Session;
use super::info::Info;
use crate::format::human_age;
use crate::model::report::Finding;

/// One client of `CLIENT LIST` that is blocked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Blocked {
    /// The command it waits in, upper case (`BLPOP`).
    pub cmd: String,
    /// Seconds since its last command: for a blocked client, how long it
    /// has waited.
    pub idle: u64,
    /// Its address.
    pub addr: String,
}

/// Reads `blocked_clients` and, when there are some, `CLIENT LIST`.
pub async fn check(session: Session) -> Vec<Finding> {
    let Some(info) = session.info else {
        return Vec::new();
    };
    if info.num("blocked_clients").unwrap_or(0) == 0 {
        return findings(&info, None);
    }
    let mut conn = session.conn;
    let list = redis::cmd("CLIENT")
        .arg("LIST")
        .query_async::<String>(&mut conn)
        .await
        .ok()
        .map(|text| parse_client_list(&text));
    findings(&info, list.as_deref())
}

/// The blocked clients of a `CLIENT LIST` reply (flag `b`).
pub fn parse_client_list(text: &str) -> Vec<Blocked> {
    text.lines()
        .filter_map(|line| {
            let field = |k: &str| {
                line.split(' ')
                    .find_map(|kv| kv.strip_prefix(k)?.strip_prefix('='))
            };
            field("flags")?.contains('b').then(|| Blocked {
                cmd: field("cmd").unwrap_or("?").replace('|', " ").to_uppercase(),
                idle: field("idle").and_then(|v| v.parse().ok()).unwrap_or(0),
                addr: field("addr").unwrap_or("?").to_string(),
            })
        })
        .collect()
}

/// Judges `blocked_clients`, with the blocked clients of `CLIENT LIST`
/// when it could be read.
pub fn findings(info: &Info, list: Option<&[Blocked]>) -> Vec<Finding> {
    let Some(count) = info.num("blocked_clients") else {
        return Vec::new();
    };
    if count == 0 {
        return vec![Finding::ok("redis.blocked", "No client blocked")];
    }
    let of = info
        .num("connected_clients")
        .map(|c| format!(" of {c}"))
        .unwrap_or_default();
    let plural = if count == 1 { "client" } else { "clients" };
    let Some(list) = list.filter(|l| !l.is_empty()) else {
        return vec![
            Finding::ok("redis.blocked", format!("{count}{of} {plural} blocked"))
                .with_detail("CLIENT LIST could not be read, so their commands are unknown."),
        ];
    };
    let mut by_cmd: BTreeMap<&str, u64> = BTreeMap::new();
    for b in list {
        *by_cmd.entry(b.cmd.as_str()).or_default() += 1;
    }
    let cmds = by_cmd
        .iter()
        .map(|(cmd, n)| format!("{n} in {cmd}"))
        .collect::<Vec<_>>()
        .join(", ");
    let longest = list.iter().max_by_key(|b| b.idle).expect("not empty");
    let summary = format!("{count}{of} {plural} blocked: {cmds}");
    let waits = list.iter().filter(|b| b.cmd.starts_with("WAIT")).count();
    let f = if waits > 0 {
        Finding::warn("redis.blocked", summary).with_detail(format!(
            "{waits} waiting in WAIT for replicas to acknowledge writes: look at the replication finding."
        ))
    } else {
        Finding::ok("redis.blocked", summary).with_detail(
            "Normal for queue workers waiting for jobs; a count that keeps growing with no producer means a stalled queue.",
        )
    };
    vec![
        f.with_detail(format!(
            "Longest wait: {} in {} ({})",
            human_age(longest.idle),
            longest.cmd,
            longest.addr
        ))
        .with_detail("By hand: redis-cli client list | grep 'flags=b'"),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Status;

    const LIST: &str = "id=3 addr=127.0.0.1:34702 laddr=127.0.0.1:17301 fd=7 name= age=8 idle=0 flags=S db=0 cmd=replconf user=default\n\
id=7 addr=10.0.0.8:5100 laddr=127.0.0.1:6379 fd=9 name=worker age=600 idle=540 flags=b db=0 cmd=brpop user=default\n\
id=8 addr=10.0.0.9:5100 laddr=127.0.0.1:6379 fd=10 name= age=60 idle=12 flags=b db=0 cmd=blpop user=default\n\
id=9 addr=10.0.0.9:5101 laddr=127.0.0.1:6379 fd=11 name= age=60 idle=30 flags=b db=0 cmd=brpop user=default\n";

    #[test]
    fn blocked_clients_are_counted_by_command_with_the_longest_wait() {
        let info = Info::parse("blocked_clients:3\nconnected_clients:5\n");
        let list = parse_client_list(LIST);
        assert_eq!(list.len(), 3);
        let f = &findings(&info, Some(&list))[0];
        assert_eq!(f.status, Status::Ok);
        assert_eq!(f.summary, "3 of 5 clients blocked: 1 in BLPOP, 2 in BRPOP");
        assert_eq!(f.detail[1], "Longest wait: 9 min in BRPOP (10.0.0.8:5100)");
    }

    #[test]
    fn clients_waiting_for_replicas_are_a_warning() {
        let info = Info::parse("blocked_clients:1\n");
        let list = parse_client_list("id=1 addr=a:1 idle=4 flags=b cmd=wait\n");
        let f = &findings(&info, Some(&list))[0];
        assert_eq!(f.status, Status::Warn);
        assert!(f.detail[0].contains("replicas"));
    }

    #[test]
    fn none_blocked_is_ok() {
        let info = Info::parse(include_str!("testdata/redis_info_7.0_master.txt"));
        assert_eq!(findings(&info, None)[0].summary, "No client blocked");
    }
}

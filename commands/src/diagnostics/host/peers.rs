//! Purpose: `ping -c 3 10.0.1.1` and `nc -zv 10.0.1.1 6379` — can this host
//! reach the machines it depends on (`seeds/production-debugging-guide.md`,
//! "Check Network Connectivity").
//!
//! A TCP connect to each `peers` address, not ICMP: ping needs a raw socket
//! (root or CAP_NET_RAW, which medic does not ask for), and a connect to
//! the service's own port answers the question the runbook asks with ping
//! and nc together — is the peer up, and does its service listen.
//!
//! On this machine (whatever `root` is: a mounted host shares medic's
//! network) medic connects itself, within the check's time. Over ssh the
//! connect runs on the far host, where the question is asked: bash's
//! `/dev/tcp` under `timeout`, all peers at once, in the one script of
//! [`super::snapshot`].

use std::time::Duration;

use super::Ctx;
use super::machine::Machine;
use crate::diagnostics::net::{Address, connect};
use crate::diagnostics::tcp::SLOW_CONNECT;
use crate::format::{human_duration, human_latency};
use crate::model::report::Finding;

/// Checks a peer's host: a name or an IP literal, since over ssh it
/// becomes part of a `/dev/tcp/HOST/PORT` path.
pub fn check_host(host: &str) -> Result<(), String> {
    let name = host
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || c == '.' || c == '-')
        && !host.starts_with(['-', '.']);
    let ipv6 = host.contains(':') && host.parse::<std::net::Ipv6Addr>().is_ok();
    if !host.is_empty() && (name || ipv6) {
        Ok(())
    } else {
        Err(format!(
            "`{host}` is not a host name or IP address (write host:port, like 10.0.1.2:6379)"
        ))
    }
}

/// The most each connect may take over ssh, in whole seconds: a quarter of
/// the check's time (the ssh handshake takes half, the other commands
/// share the rest), at least 1 s (a LAN connect takes milliseconds; 1 s is
/// also the first SYN retransmit, so a lossy path reads as unreachable).
pub fn remote_secs(budget: Duration) -> u64 {
    (budget.as_secs() / 4).max(1)
}

/// Connects to every peer at once and reports each.
pub async fn check(ctx: &Ctx, peers: &[Address]) -> Vec<Finding> {
    match &ctx.machine {
        Machine::Local { root } => {
            let limit = ctx.budget.mul_f64(0.9);
            let from = if root == std::path::Path::new("/") {
                String::new()
            } else {
                " (from medic's own network: files under root have no network of their own)".into()
            };
            futures::future::join_all(peers.iter().map(|p| local(p, limit, &from))).await
        }
        Machine::Remote(snap) => peers
            .iter()
            .enumerate()
            .map(|(i, p)| remote(p, snap.peer(i), remote_secs(ctx.budget)))
            .collect(),
    }
}

async fn local(peer: &Address, limit: Duration, from: &str) -> Finding {
    match connect(peer, limit).await {
        Ok((_stream, took)) if took > SLOW_CONNECT => Finding::warn(
            "host.peers",
            format!("Slow: {peer} answered in {}", human_latency(took)),
        )
        .with_detail("A connect this slow on a private network means retransmitted SYNs (packet loss) or a full accept queue.")
        .with_detail(format!("Tried with a TCP connect{from}.")),
        Ok((_stream, took)) => Finding::ok(
            "host.peers",
            format!("{peer} reachable, connect in {}", human_latency(took)),
        ),
        Err(failure) => failure
            .finding("host.peers", peer)
            .with_detail(format!("Tried with a TCP connect{from}; ICMP would need privileges medic does not ask for.")),
    }
}

/// The finding for a connect made on the far host: the exit status and
/// the words bash or `timeout` left.
// NOTE: shown in chat.
pub fn remote(peer: &Address, outcome: Result<(), (i32, String)>, secs: u64) -> Finding {
    let by_hand = format!("By hand on the host: nc -zv {} {}", peer.host, peer.port);
    let (rc, words) = match outcome {
        Ok(()) => {
            return Finding::ok(
                "host.peers",
                format!("{peer} reachable from the host (TCP connect within {secs} s)"),
            );
        }
        Err(e) => e,
    };
    let (summary, hint) = if rc == 127 && words == "missing" {
        return Finding::unknown(
            "host.peers",
            format!("{peer} not checked: the host has no bash (its /dev/tcp makes the connect)"),
        )
        .with_detail(by_hand);
    } else if rc == 124 {
        (
            format!(
                "No answer from {peer} within {} (connect timed out, from the host)",
                human_duration(Duration::from_secs(secs))
            ),
            "A firewall dropping packets, a down peer or a broken private network looks like this.",
        )
    } else if words.contains("Connection refused") {
        (
            format!("Connection refused by {peer} (from the host)"),
            "The peer is up but nothing listens on that port: is the service running?",
        )
    } else if words.contains("not known") || words.contains("name resolution") {
        (
            format!("Cannot resolve {} on the host", peer.host),
            "The name does not resolve there; check its /etc/hosts and resolver, or use the IP.",
        )
    } else {
        (
            format!("Cannot reach {peer} from the host"),
            "No route (an interface down, a missing route) or a firewall rejecting the connect.",
        )
    };
    let f = Finding::critical("host.peers", summary)
        .with_detail(hint)
        .with_detail(by_hand);
    if words.trim().is_empty() {
        f
    } else {
        f.with_evidence(words.trim().to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Status;

    fn addr(s: &str) -> Address {
        Address::parse(s, None).unwrap()
    }

    #[test]
    fn peer_hosts_are_names_or_addresses() {
        for ok in ["10.0.1.2", "db.internal", "::1", "fe80::1", "redis-1"] {
            assert!(check_host(ok).is_ok(), "{ok}");
        }
        for bad in ["", "-oProxy", "a/b", "db internal", "a;b", ":::x"] {
            assert!(check_host(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn remote_outcomes_read_as_an_engineer_would() {
        let p = addr("10.0.1.2:6379");
        assert_eq!(remote(&p, Ok(()), 1).status, Status::Ok);
        let f = remote(
            &p,
            Err((1, "bash: connect: Connection refused bash: line 1: /dev/tcp/10.0.1.2/6379: Connection refused".into())),
            1,
        );
        assert_eq!(f.status, Status::Critical);
        assert_eq!(
            f.summary,
            "Connection refused by 10.0.1.2:6379 (from the host)"
        );
        let f = remote(&p, Err((124, String::new())), 2);
        assert_eq!(
            f.summary,
            "No answer from 10.0.1.2:6379 within 2.0 s (connect timed out, from the host)"
        );
        assert!(f.evidence.is_none());
        let f = remote(&p, Err((127, "missing".into())), 1);
        assert_eq!(f.status, Status::Unknown);
        let f = remote(
            &addr("db.internal:5432"),
            Err((
                1,
                "bash: line 1: db.internal: Name or service not known".into(),
            )),
            1,
        );
        assert_eq!(f.summary, "Cannot resolve db.internal on the host");
        assert_eq!(remote_secs(Duration::from_secs(4)), 1);
        assert_eq!(remote_secs(Duration::from_secs(16)), 4);
    }

    #[tokio::test]
    async fn a_listening_socket_and_a_dead_port() {
        let live = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let dead = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let (live_addr, dead_addr) = (live.local_addr().unwrap(), dead.local_addr().unwrap());
        drop(dead);
        let limit = Duration::from_secs(5);
        let ok = local(&addr(&live_addr.to_string()), limit, "").await;
        assert_ne!(ok.status, Status::Critical, "{ok:#?}");
        assert!(
            ok.summary.contains(&live_addr.to_string()),
            "{}",
            ok.summary
        );
        let refused = local(&addr(&dead_addr.to_string()), limit, "").await;
        assert_eq!(refused.status, Status::Critical);
        assert_eq!(
            refused.summary,
            format!("Connection refused by {dead_addr}")
        );
        assert!(
            refused.detail.iter().any(|d| d.contains("ICMP")),
            "{refused:#?}"
        );
    }
}

//! What the network kinds share: a `host:port` address from config, and a
//! TCP connect whose failure is told in the words an engineer uses
//! ("connection refused", "no answer", "does not resolve").

use std::fmt;
use std::io::ErrorKind as IoKind;
use std::time::{Duration, Instant};

use serde::Deserialize;
use tokio::net::TcpStream;

use crate::format::human_duration;
use crate::model::report::Finding;

/// `host:port`, as written in config: `db.internal:5432`, `10.0.1.1:443`,
/// `[::1]:853`. The host is kept as written (a name is resolved at each
/// run, so a DNS change is seen).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Address {
    /// A name or an IP literal, IPv6 without brackets.
    pub host: String,
    /// The port.
    pub port: u16,
}

impl Address {
    /// Parses `host:port`; `default_port` fills in a missing port where the
    /// kind has an obvious one (DNS: 53), else the port is required.
    pub fn parse(text: &str, default_port: Option<u16>) -> Result<Self, String> {
        let text = text.trim();
        let (host, port) = if let Some(rest) = text.strip_prefix('[') {
            // [v6]:port or [v6]
            let (host, after) = rest
                .split_once(']')
                .ok_or_else(|| format!("`{text}`: an IPv6 address needs its closing ]"))?;
            (host, after.strip_prefix(':'))
        } else if text.matches(':').count() > 1 {
            // A bare IPv6 literal has no room for a port.
            (text, None)
        } else {
            match text.split_once(':') {
                Some((h, p)) => (h, Some(p)),
                None => (text, None),
            }
        };
        if host.is_empty() {
            return Err(format!("`{text}` names no host; write host:port"));
        }
        let port = match (port, default_port) {
            (Some(p), _) => p
                .parse::<u16>()
                .ok()
                .filter(|&p| p != 0)
                .ok_or_else(|| format!("`{text}`: `{p}` is not a port (1-65535)"))?,
            (None, Some(d)) => d,
            (None, None) => return Err(format!("`{text}` has no port; write host:port")),
        };
        Ok(Address {
            host: host.to_string(),
            port,
        })
    }
}

impl fmt::Display for Address {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.host.contains(':') {
            write!(f, "[{}]:{}", self.host, self.port)
        } else {
            write!(f, "{}:{}", self.host, self.port)
        }
    }
}

impl<'de> Deserialize<'de> for Address {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        Address::parse(&text, None).map_err(serde::de::Error::custom)
    }
}

/// Why a TCP connect failed, kept for the finding.
#[derive(Debug)]
pub enum ConnectFailure {
    /// The OS said no: refused, unreachable, unresolvable.
    Io(std::io::Error),
    /// Nothing came back within the limit (a firewall dropping packets).
    TimedOut(Duration),
}

/// Connects to `addr` within `limit`, returning the stream and the time the
/// connect took (name resolution included, as a client sees it).
pub async fn connect(
    addr: &Address,
    limit: Duration,
) -> Result<(TcpStream, Duration), ConnectFailure> {
    let started = Instant::now();
    match tokio::time::timeout(limit, TcpStream::connect((addr.host.as_str(), addr.port))).await {
        Ok(Ok(stream)) => Ok((stream, started.elapsed())),
        Ok(Err(e)) => Err(ConnectFailure::Io(e)),
        Err(_) => Err(ConnectFailure::TimedOut(limit)),
    }
}

impl ConnectFailure {
    /// The critical finding `check` reports for this failure, with a hint
    /// and the OS's own words as evidence.
    pub fn finding(&self, check: &str, addr: &Address) -> Finding {
        let host = &addr.host;
        let port = addr.port;
        let by_hand = format!("By hand: nc -zv {host} {port}");
        match self {
            ConnectFailure::TimedOut(after) => Finding::critical(
                check,
                format!(
                    "No answer from {addr} after {} (connect timed out)",
                    human_duration(*after)
                ),
            )
            .with_detail(
                "A firewall dropping packets, a down host or a broken network path looks like this.",
            )
            .with_detail(by_hand),
            ConnectFailure::Io(e) => {
                let (summary, hint) = match e.kind() {
                    IoKind::ConnectionRefused => (
                        format!("Connection refused by {addr}"),
                        "The host is up but nothing listens on that port: is the service running?",
                    ),
                    IoKind::TimedOut => (
                        format!("Connection to {addr} timed out"),
                        "A firewall, a down host or a broken network path looks like this.",
                    ),
                    _ if e.to_string().contains("lookup address") => (
                        format!("Cannot resolve {host}"),
                        "The name does not resolve from medic's host; check DNS (a dns target) or use the IP.",
                    ),
                    _ => (
                        format!("Cannot reach {addr}"),
                        "Check the network path from medic's host.",
                    ),
                };
                Finding::critical(check, summary)
                    .with_detail(hint)
                    .with_detail(by_hand)
                    .with_evidence(e.to_string())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_parse_as_people_write_them() {
        let a = Address::parse("db.internal:5432", None).unwrap();
        assert_eq!((a.host.as_str(), a.port), ("db.internal", 5432));
        assert_eq!(a.to_string(), "db.internal:5432");
        let a = Address::parse("[::1]:853", None).unwrap();
        assert_eq!((a.host.as_str(), a.port), ("::1", 853));
        assert_eq!(a.to_string(), "[::1]:853");
        assert_eq!(Address::parse("10.0.0.2", Some(53)).unwrap().port, 53);
        assert_eq!(Address::parse("::1", Some(53)).unwrap().host, "::1");
    }

    #[test]
    fn bad_addresses_say_what_is_missing() {
        assert!(
            Address::parse("db.internal", None)
                .unwrap_err()
                .contains("no port")
        );
        assert!(
            Address::parse("db:http", None)
                .unwrap_err()
                .contains("not a port")
        );
        assert!(Address::parse("db:0", None).is_err());
        assert!(
            Address::parse(":443", None)
                .unwrap_err()
                .contains("no host")
        );
        assert!(Address::parse("[::1:443", None).is_err());
    }
}

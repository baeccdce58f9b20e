//! Purpose: `nc -zv host port` — is the port open, and how long does the
//! connect take (`seeds/production-debugging-guide.md`: "can the app reach
//! the service at all?"). With `expect`, also what `nc host 22` shows: the
//! banner a server sends first (`SSH-2.0-…`, `220 mail ESMTP`), which tells
//! a live service from a port that accepts and then hangs (a wedged process
//! whose kernel still completes the handshake).

use std::time::{Duration, Instant};

use serde::Deserialize;
use tokio::io::AsyncReadExt;
use tokio::net::TcpStream;

use super::net::{Address, connect};
use super::{Check, Diagnostic};
use crate::format::{human_duration, human_latency};
use crate::model::report::Finding;
use crate::redact::Redactor;

/// A connect slower than this is a warning: on a LAN or within a region a
/// connect takes well under 10 ms, so half a second means SYN retries
/// (packet loss) or a saturated accept queue.
pub const SLOW_CONNECT: Duration = Duration::from_millis(500);
/// The most of a banner that is read and quoted.
const BANNER_CAP: usize = 1024;

/// `[targets.NAME] kind = "tcp"`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TcpTarget {
    /// `host:port`.
    pub address: Address,
    /// Text the server must send first, on its own (a banner: `SSH-`,
    /// `220 `); without it only the connect is checked.
    #[serde(default)]
    pub expect: Option<String>,
    /// The most the check may take (default 5 s).
    #[serde(
        default = "crate::diagnostics::default_timeout",
        deserialize_with = "crate::duration::deserialize"
    )]
    pub timeout: Duration,
}

impl TcpTarget {
    /// Checks what serde cannot.
    pub fn validate(&self) -> Result<(), (&'static str, String)> {
        if self.expect.as_deref().is_some_and(str::is_empty) {
            return Err((
                "expect",
                "is empty; leave it out to check only the connect".into(),
            ));
        }
        Ok(())
    }

    /// The connect, then the banner when one is expected. Each wait has
    /// most of the timeout, so a silence is reported by this check in its
    /// own words rather than as the check's own timeout.
    pub async fn probe(&self) -> Vec<Finding> {
        let budget = self.timeout.mul_f64(0.9);
        let started = Instant::now();
        let (stream, took) = match connect(&self.address, budget).await {
            Ok(ok) => ok,
            Err(failure) => return vec![failure.finding("tcp.connect", &self.address)],
        };
        let summary = format!(
            "Port open at {}, connect in {}",
            self.address,
            human_latency(took)
        );
        let mut findings = vec![if took > SLOW_CONNECT {
            Finding::warn("tcp.connect", format!("Slow: {summary}")).with_detail(
                "A connect this slow means retransmitted SYNs (packet loss) or a full accept queue.",
            )
        } else {
            Finding::ok("tcp.connect", summary)
        }];
        if let Some(expect) = &self.expect {
            let left = budget.saturating_sub(started.elapsed());
            findings.push(self.banner(stream, expect, left).await);
        }
        findings
    }

    async fn banner(&self, mut stream: TcpStream, expect: &str, limit: Duration) -> Finding {
        let mut buf = Vec::with_capacity(256);
        let read = tokio::time::timeout(limit, async {
            let mut chunk = [0u8; 256];
            loop {
                let n = stream.read(&mut chunk).await?;
                if n == 0 {
                    return Ok::<bool, std::io::Error>(false);
                }
                buf.extend_from_slice(&chunk[..n]);
                if contains(&buf, expect) || buf.len() >= BANNER_CAP {
                    return Ok(true);
                }
            }
        })
        .await;
        let seen = String::from_utf8_lossy(&buf[..buf.len().min(BANNER_CAP)])
            .trim()
            .to_string();
        let addr = &self.address;
        match read {
            Ok(Ok(_)) if contains(&buf, expect) => {
                let line = seen.lines().next().unwrap_or_default();
                Finding::ok("tcp.banner", format!("Banner from {addr}: {line}"))
            }
            Ok(Ok(closed)) => {
                let how = if closed {
                    "sent something else"
                } else {
                    "closed the connection"
                };
                let f = Finding::critical(
                    "tcp.banner",
                    format!("{addr} {how}: expected `{expect}` in its banner"),
                )
                .with_detail(
                    "Another service on that port, or one refusing us (maxclients, an allow-list).",
                );
                if seen.is_empty() {
                    f
                } else {
                    f.with_evidence(seen)
                }
            }
            Ok(Err(e)) => Finding::critical(
                "tcp.banner",
                format!("{addr} dropped the connection before its banner"),
            )
            .with_evidence(e.to_string()),
            Err(_) => {
                let f = Finding::critical(
                    "tcp.banner",
                    format!(
                        "{addr} accepted the connection but sent no `{expect}` within {}",
                        human_duration(limit)
                    ),
                )
                .with_detail(
                    "The port is open but the service does not speak: a hung process, or a proxy with no backend.",
                );
                if seen.is_empty() {
                    f
                } else {
                    f.with_evidence(seen)
                }
            }
        }
    }
}

fn contains(haystack: &[u8], needle: &str) -> bool {
    haystack
        .windows(needle.len().max(1))
        .any(|w| w == needle.as_bytes())
}

impl Diagnostic for TcpTarget {
    const KIND: &'static str = "tcp";

    fn location(&self) -> String {
        self.address.to_string()
    }

    fn timeout(&self) -> Duration {
        self.timeout
    }

    fn redactor(&self) -> Redactor {
        // No secret in a tcp target's config; a quoted banner still passes
        // the redactor's secret shapes.
        Redactor::new()
    }

    fn checks(&self) -> Vec<Check> {
        let target = self.clone();
        vec![
            Check::new(
                "tcp.connect",
                "TCP connect",
                async move { target.probe().await },
            )
            .critical_when_silent()
            .silence_hint("A firewall dropping packets or a down host looks like this."),
        ]
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Status;
    use tokio::io::AsyncWriteExt;
    use tokio::net::TcpListener;

    fn target(addr: std::net::SocketAddr, expect: Option<&str>) -> TcpTarget {
        TcpTarget {
            address: Address::parse(&addr.to_string(), None).unwrap(),
            expect: expect.map(str::to_string),
            timeout: Duration::from_secs(2),
        }
    }

    /// A listener that greets each connection with `banner` (or says
    /// nothing when it is empty) and keeps it open.
    async fn server(banner: &'static str) -> std::net::SocketAddr {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            let mut held = Vec::new();
            while let Ok((mut s, _)) = listener.accept().await {
                if !banner.is_empty() {
                    let _ = s.write_all(banner.as_bytes()).await;
                }
                held.push(s);
            }
        });
        addr
    }

    #[tokio::test]
    async fn an_open_port_reports_its_connect_time() {
        let addr = server("").await;
        let fs = target(addr, None).probe().await;
        assert_eq!(fs.len(), 1, "{fs:#?}");
        assert_eq!(fs[0].status, Status::Ok);
        assert!(
            fs[0]
                .summary
                .starts_with(&format!("Port open at {addr}, connect in ")),
            "{}",
            fs[0].summary
        );
    }

    #[tokio::test]
    async fn a_dead_port_is_refused_and_critical() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        drop(listener);
        let fs = target(addr, None).probe().await;
        assert_eq!(fs.len(), 1);
        assert_eq!(fs[0].status, Status::Critical);
        assert_eq!(fs[0].summary, format!("Connection refused by {addr}"));
        assert!(fs[0].detail.iter().any(|d| d.contains("nc -zv 127.0.0.1")));
    }

    #[tokio::test]
    async fn the_expected_banner_is_quoted() {
        let addr = server("SSH-2.0-OpenSSH_9.2p1 Debian-2\r\n").await;
        let fs = target(addr, Some("SSH-")).probe().await;
        let banner = fs.iter().find(|f| f.check == "tcp.banner").unwrap();
        assert_eq!(banner.status, Status::Ok);
        assert_eq!(
            banner.summary,
            format!("Banner from {addr}: SSH-2.0-OpenSSH_9.2p1 Debian-2")
        );
    }

    #[tokio::test]
    async fn a_silent_or_wrong_service_is_critical_with_what_it_said() {
        let silent = server("").await;
        let fs = target(silent, Some("SSH-")).probe().await;
        let banner = fs.iter().find(|f| f.check == "tcp.banner").unwrap();
        assert_eq!(banner.status, Status::Critical);
        assert!(
            banner.summary.contains("sent no `SSH-` within"),
            "{}",
            banner.summary
        );

        let other = server("220 mail ESMTP\r\n").await;
        let t = TcpTarget {
            timeout: Duration::from_millis(300),
            ..target(other, Some("SSH-"))
        };
        let fs = t.probe().await;
        let banner = fs.iter().find(|f| f.check == "tcp.banner").unwrap();
        assert_eq!(banner.status, Status::Critical);
        assert_eq!(banner.evidence.as_deref(), Some("220 mail ESMTP"));
    }
}

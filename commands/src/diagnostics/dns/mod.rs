//! Purpose: `dig +short api.example.com A @10.0.0.2` — does the name
//! resolve, to what, how fast, and from which server (`seeds/`: "getaddrinfo
//! failures", "Name or service not known" after a resolver change).
//!
//! Choices written down:
//! - The name is asked as written, fully qualified: no search domains from
//!   resolv.conf are appended, and `/etc/hosts` is not consulted — the
//!   question is what DNS answers.
//! - Without `server`, the servers of this machine's `/etc/resolv.conf` are
//!   asked (what medic's host, and usually its apps, use).
//! - NXDOMAIN, SERVFAIL, REFUSED, an empty answer and silence are all
//!   critical: a client cannot connect in any of them.

#[cfg(test)]
mod tests;

use std::net::{IpAddr, SocketAddr};
use std::str::FromStr;
use std::time::{Duration, Instant};

use hickory_resolver::config::{
    ConnectionConfig, NameServerConfig, ResolveHosts, ResolverConfig, ResolverOpts,
};
use hickory_resolver::net::runtime::TokioRuntimeProvider;
use hickory_resolver::net::{DnsError, NetError};
use hickory_resolver::proto::op::ResponseCode;
use hickory_resolver::proto::rr::{Name, RData, RecordType};
use hickory_resolver::{Resolver, TokioResolver};
use serde::{Deserialize, Deserializer};

use super::net::Address;
use super::{Check, Diagnostic};
use crate::format::{human_duration, human_latency};
use crate::model::report::Finding;
use crate::redact::Redactor;

/// A resolution slower than this is a warning: a cached answer takes
/// milliseconds and a cold recursive one a few hundred.
pub const SLOW_RESOLVE: Duration = Duration::from_secs(1);
/// The most answers quoted.
const ANSWERS_SHOWN: usize = 10;

/// `[targets.NAME] kind = "dns"`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DnsTarget {
    /// The name to resolve (`api.example.com`).
    pub name: String,
    /// The record type: `A` (default), `AAAA`, `CNAME`, `MX`, `TXT`, `NS`, …
    #[serde(default = "default_record")]
    pub record: String,
    /// The server to ask, `ip` or `ip:port`; default: this machine's
    /// resolvers from `/etc/resolv.conf`.
    #[serde(default, deserialize_with = "deserialize_server")]
    pub server: Option<SocketAddr>,
    /// An answer that must be among the answers (`10.0.1.5`,
    /// `mail.example.com` for MX, a substring for TXT).
    #[serde(default)]
    pub expect: Option<String>,
    /// The most the lookup may take (default 5 s).
    #[serde(
        default = "crate::diagnostics::default_timeout",
        deserialize_with = "crate::duration::deserialize"
    )]
    pub timeout: Duration,
}

fn default_record() -> String {
    "A".into()
}

fn deserialize_server<'de, D: Deserializer<'de>>(d: D) -> Result<Option<SocketAddr>, D::Error> {
    let text = String::deserialize(d)?;
    let addr = Address::parse(&text, Some(53)).map_err(serde::de::Error::custom)?;
    let ip: IpAddr = addr.host.parse().map_err(|_| {
        serde::de::Error::custom(format!(
            "`{text}`: a DNS server is an IP address (a name would need DNS to find DNS)"
        ))
    })?;
    Ok(Some(SocketAddr::new(ip, addr.port)))
}

impl DnsTarget {
    /// The record type, parsed.
    fn record_type(&self) -> Result<RecordType, String> {
        RecordType::from_str(&self.record.to_ascii_uppercase())
            .ok()
            .filter(|t| !matches!(t, RecordType::Unknown(_) | RecordType::ANY))
            .ok_or_else(|| {
                format!(
                    "`{}` is not a record type like A, AAAA, CNAME, MX, TXT or NS",
                    self.record
                )
            })
    }

    /// The name, fully qualified.
    fn fqdn(&self) -> Result<Name, String> {
        let mut name = Name::from_utf8(&self.name)
            .map_err(|e| format!("`{}` is not a DNS name ({e})", self.name))?;
        name.set_fqdn(true);
        Ok(name)
    }

    /// Checks what serde cannot.
    pub fn validate(&self) -> Result<(), (&'static str, String)> {
        self.fqdn().map_err(|e| ("name", e))?;
        self.record_type().map_err(|e| ("record", e))?;
        if self.expect.as_deref().is_some_and(str::is_empty) {
            return Err((
                "expect",
                "is empty; leave it out to accept any answer".into(),
            ));
        }
        Ok(())
    }

    /// A resolver for this target, and the servers it asks in words
    /// (`10.0.0.2:53`, or `the system resolver (10.0.0.2:53)`).
    fn resolver(&self, budget: Duration) -> Result<(TokioResolver, String), String> {
        let (config, mut opts) = match self.server {
            Some(addr) => {
                let connections = [ConnectionConfig::udp(), ConnectionConfig::tcp()]
                    .into_iter()
                    .map(|mut c| {
                        c.port = addr.port();
                        c
                    })
                    .collect();
                let server = NameServerConfig::new(addr.ip(), true, connections);
                (
                    ResolverConfig::from_parts(None, Vec::new(), vec![server]),
                    ResolverOpts::default(),
                )
            }
            None => hickory_resolver::system_conf::read_system_conf()
                .map_err(|e| format!("cannot read /etc/resolv.conf ({e})"))?,
        };
        // Two tries per server within the budget: one lost UDP packet is
        // not an outage.
        opts.attempts = 2;
        opts.timeout = budget / 2;
        opts.use_hosts_file = ResolveHosts::Never;
        opts.cache_size = 0;
        let words = match self.server {
            Some(s) => s.to_string(),
            None => {
                let servers: Vec<String> = config
                    .name_servers()
                    .iter()
                    .map(|ns| {
                        let port = ns.connections.first().map_or(53, |c| c.port);
                        SocketAddr::new(ns.ip, port).to_string()
                    })
                    .collect();
                format!("the system resolver ({})", servers.join(", "))
            }
        };
        let resolver = Resolver::builder_with_config(config, TokioRuntimeProvider::default())
            .with_options(opts)
            .build()
            .map_err(|e| format!("cannot set up a resolver ({e})"))?;
        Ok((resolver, words))
    }

    /// One lookup, read the way `dig` output is read.
    pub async fn probe(&self) -> Vec<Finding> {
        let (name, rtype) = match (self.fqdn(), self.record_type()) {
            (Ok(n), Ok(t)) => (n, t),
            (Err(e), _) | (_, Err(e)) => {
                return vec![Finding::unknown("dns.resolve", format!("Not checked: {e}"))];
            }
        };
        let budget = self.timeout.mul_f64(0.9);
        let (resolver, server) = match self.resolver(budget) {
            Ok(r) => r,
            Err(e) => return vec![Finding::unknown("dns.resolve", format!("Not checked: {e}"))],
        };
        let asked = format!("{} {rtype}", self.name);
        let started = Instant::now();
        let result = tokio::time::timeout(budget, resolver.lookup(name, rtype)).await;
        let took = started.elapsed();
        let lookup = match result {
            Ok(Ok(lookup)) => lookup,
            Ok(Err(e)) => return vec![self.failure(&asked, &e, &server)],
            Err(_) => {
                return vec![self.silent(&asked, budget, &server)];
            }
        };
        let answers: Vec<String> = lookup
            .answers()
            .iter()
            .filter(|r| r.record_type() == rtype)
            .map(|r| answer_text(&r.data))
            .collect();
        let via: Vec<String> = lookup
            .answers()
            .iter()
            .filter(|r| r.record_type() == RecordType::CNAME && rtype != RecordType::CNAME)
            .map(|r| answer_text(&r.data))
            .collect();
        if answers.is_empty() {
            return vec![
                Finding::critical(
                    "dns.resolve",
                    format!("{asked}: no {rtype} records from {server}"),
                )
                .with_detail(
                    "The name exists but has no record of this type; clients asking for it fail.",
                ),
            ];
        }
        let mut shown = answers
            .iter()
            .take(ANSWERS_SHOWN)
            .cloned()
            .collect::<Vec<_>>()
            .join(", ");
        if answers.len() > ANSWERS_SHOWN {
            shown.push_str(&format!(" and {} more", answers.len() - ANSWERS_SHOWN));
        }
        let summary = format!("{asked} → {shown} in {} from {server}", human_latency(took));
        let mut f = if took > SLOW_RESOLVE {
            Finding::warn("dns.resolve", format!("Slow: {summary}"))
                .with_detail("Every new connection waits this long for its name; check the resolver's upstreams.")
        } else {
            Finding::ok("dns.resolve", summary)
        };
        if !via.is_empty() {
            f = f.with_detail(format!("Via CNAME {}", via.join(" → ")));
        }
        let mut findings = vec![f.with_detail(self.by_hand())];
        if let Some(expect) = &self.expect {
            findings.push(expect_finding(&asked, expect, &answers, rtype));
        }
        findings
    }

    fn by_hand(&self) -> String {
        let at = match self.server {
            Some(s) if s.port() == 53 => format!(" @{}", s.ip()),
            Some(s) => format!(" @{} -p {}", s.ip(), s.port()),
            None => String::new(),
        };
        format!(
            "By hand: dig {} {}{at}",
            self.name,
            self.record.to_ascii_uppercase()
        )
    }

    fn silent(&self, asked: &str, after: Duration, server: &str) -> Finding {
        Finding::critical(
            "dns.resolve",
            format!(
                "{asked}: no answer from {server} within {}",
                human_duration(after)
            ),
        )
        .with_detail("The DNS server is down, unreachable (UDP/TCP 53 blocked), or stuck asking upstream servers.")
        .with_detail(self.by_hand())
    }

    fn failure(&self, asked: &str, e: &NetError, server: &str) -> Finding {
        let (summary, hint) = match e {
            NetError::Dns(DnsError::NoRecordsFound(nr))
                if nr.response_code == ResponseCode::NXDomain =>
            {
                (
                    format!("{asked}: NXDOMAIN from {server}, the name does not exist"),
                    "A typo in the name, a deleted record, or a zone not (yet) published.",
                )
            }
            NetError::Dns(DnsError::NoRecordsFound(_)) => (
                format!(
                    "{asked}: no {} records from {server}",
                    self.record.to_ascii_uppercase()
                ),
                "The name exists but has no record of this type; clients asking for it fail.",
            ),
            NetError::Dns(DnsError::ResponseCode(ResponseCode::ServFail)) => (
                format!("{asked}: SERVFAIL from {server}"),
                "The server could not get an answer: its upstream or the zone's authoritative servers are unreachable, or DNSSEC validation failed.",
            ),
            NetError::Dns(DnsError::ResponseCode(ResponseCode::Refused)) => (
                format!("{asked}: REFUSED by {server}"),
                "The server will not answer medic: recursion not allowed for this client, or an ACL.",
            ),
            NetError::Dns(DnsError::ResponseCode(code)) => (
                format!("{asked}: {code} from {server}"),
                "The server answered with an error code.",
            ),
            NetError::Timeout => return self.silent(asked, self.timeout.mul_f64(0.9), server),
            NetError::Io(io) if io.kind() == std::io::ErrorKind::ConnectionRefused => (
                format!("{asked}: {server} refused (nothing listens on its DNS port)"),
                "The DNS server is not running there.",
            ),
            _ => (
                format!("{asked}: lookup through {server} failed"),
                "See the evidence for the resolver's words.",
            ),
        };
        let f = Finding::critical("dns.resolve", summary)
            .with_detail(hint)
            .with_detail(self.by_hand());
        match e {
            // The summary says it all; the resolver's text is a Debug dump.
            NetError::Dns(DnsError::NoRecordsFound(nr)) => match &nr.soa {
                Some(soa) => f.with_detail(format!(
                    "An authoritative negative answer (SOA {}).",
                    soa.name.to_string().trim_end_matches('.')
                )),
                None => f,
            },
            _ => f.with_evidence(e.to_string()),
        }
    }
}

/// An answer as `dig +short` shows it, without the trailing dot of names.
fn answer_text(data: &RData) -> String {
    match data {
        RData::TXT(txt) => txt
            .txt_data
            .iter()
            .map(|b| String::from_utf8_lossy(b).into_owned())
            .collect::<Vec<_>>()
            .join(""),
        other => other.to_string().trim_end_matches('.').to_string(),
    }
}

/// Whether `expect` is among `answers`: the whole answer, its last field
/// (the host of an MX), or for TXT a substring.
fn expect_finding(asked: &str, expect: &str, answers: &[String], rtype: RecordType) -> Finding {
    let want = expect.trim_end_matches('.').to_ascii_lowercase();
    let found = answers.iter().any(|a| {
        let a = a.to_ascii_lowercase();
        a == want
            || a.split_whitespace()
                .last()
                .is_some_and(|l| l.trim_end_matches('.') == want)
            || (rtype == RecordType::TXT && a.contains(&want))
    });
    if found {
        Finding::ok("dns.expect", format!("{asked} includes {expect}"))
    } else {
        Finding::critical("dns.expect", format!("{asked} does not include {expect}")).with_detail(
            "The record changed: a failover, a migration, or a stale or hijacked answer.",
        )
    }
}

impl Diagnostic for DnsTarget {
    const KIND: &'static str = "dns";

    fn location(&self) -> String {
        let record = self.record.to_ascii_uppercase();
        match self.server {
            Some(s) => format!("{} {record} @{s}", self.name),
            None => format!("{} {record} (system resolver)", self.name),
        }
    }

    fn timeout(&self) -> Duration {
        self.timeout
    }

    fn redactor(&self) -> Redactor {
        // No secret in a dns target's config; TXT answers (which may hold
        // tokens: verification strings, DKIM) pass the redactor's shapes.
        Redactor::new()
    }

    fn checks(&self) -> Vec<Check> {
        let target = self.clone();
        vec![
            Check::new(
                "dns.resolve",
                format!("DNS lookup {} {}", self.name, self.record),
                async move { target.probe().await },
            )
            .critical_when_silent()
            .silence_hint("The DNS server is down or unreachable."),
        ]
    }
}

//! Reading a leaf certificate: pure functions over its DER bytes and "now",
//! so that expiry thresholds are tested on certificates made at test time.

use std::net::IpAddr;
use std::time::Duration;

use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use time::OffsetDateTime;
use time::macros::format_description;
use x509_parser::extensions::GeneralName;
use x509_parser::prelude::{FromDer, X509Certificate};

use crate::format::human_age;
use crate::model::report::{Finding, Status};

/// Fewer days left than this is a warning: time to renew, before a weekend.
pub const WARN_DAYS: u64 = 14;
/// Fewer days left than this is critical: clients start failing soon.
pub const CRITICAL_DAYS: u64 = 3;
/// The most names quoted from a certificate's SANs.
const NAMES_SHOWN: usize = 10;

/// A moment inside the certificate's validity (its middle), at which trust
/// can be judged without expiry getting in the way.
pub fn inside_validity(der: &CertificateDer<'_>) -> Option<UnixTime> {
    let (_, cert) = X509Certificate::from_der(der).ok()?;
    let from = cert.validity().not_before.timestamp();
    let to = cert.validity().not_after.timestamp();
    let mid = from + (to - from) / 2;
    (mid > 0).then(|| UnixTime::since_unix_epoch(Duration::from_secs(mid as u64)))
}

/// Expiry (with subject, issuer and names as detail) and hostname match.
pub fn certificate_findings(
    der: &CertificateDer<'_>,
    name: &ServerName<'_>,
    now: OffsetDateTime,
) -> Vec<Finding> {
    let cert = match X509Certificate::from_der(der) {
        Ok((_, cert)) => cert,
        Err(e) => {
            return vec![
                Finding::critical("tls.expiry", "The certificate cannot be parsed")
                    .with_evidence(e.to_string()),
            ];
        }
    };
    let names = san_names(&cert);
    vec![expiry(&cert, &names, now), hostname(der, name, &names)]
}

fn expiry(cert: &X509Certificate<'_>, names: &[String], now: OffsetDateTime) -> Finding {
    let not_after = cert.validity().not_after.timestamp();
    let not_before = cert.validity().not_before.timestamp();
    let now_ts = now.unix_timestamp();
    let at = date(not_after);
    let left = not_after - now_ts;
    let f = if now_ts < not_before {
        Finding::critical(
            "tls.expiry",
            format!("Certificate not valid until {}", date(not_before)),
        )
        .with_detail(
            "Clients reject it until then; check the clock on the server and on medic's host.",
        )
    } else if left <= 0 {
        Finding::critical(
            "tls.expiry",
            format!(
                "Certificate expired {} ago ({at})",
                human_age((-left) as u64)
            ),
        )
        .with_detail("Every client rejects it now: renew and reload the server.")
    } else {
        let days = left as u64 / 86_400;
        let status = if days < CRITICAL_DAYS {
            Status::Critical
        } else if days < WARN_DAYS {
            Status::Warn
        } else {
            Status::Ok
        };
        let when = if days >= 2 {
            format!("{days} days")
        } else {
            human_age(left as u64)
        };
        let f = Finding::new(
            "tls.expiry",
            status,
            format!("Certificate expires in {when} ({at})"),
        );
        match status {
            Status::Ok => f,
            _ => f.with_detail(format!(
                "Renew it now (warning under {WARN_DAYS} days, critical under {CRITICAL_DAYS}); if renewal is automatic (certbot, cert-manager), it has been failing."
            )),
        }
    };
    let shown: Vec<&str> = names.iter().take(NAMES_SHOWN).map(String::as_str).collect();
    let more = names.len().saturating_sub(NAMES_SHOWN);
    let mut f = f
        .with_detail(format!("Subject: {}", cert.subject()))
        .with_detail(format!("Issuer: {}", cert.issuer()));
    if !shown.is_empty() {
        let list = shown.join(", ");
        f = f.with_detail(match more {
            0 => format!("Names: {list}"),
            n => format!("Names: {list} and {n} more"),
        });
    }
    f
}

fn hostname(der: &CertificateDer<'_>, name: &ServerName<'_>, names: &[String]) -> Finding {
    let shown = name.to_str();
    let covered = webpki::EndEntityCert::try_from(der)
        .map(|ee| ee.verify_is_valid_for_subject_name(name).is_ok())
        .unwrap_or(false);
    if covered {
        Finding::ok("tls.hostname", format!("Certificate covers {shown}"))
    } else {
        let list = if names.is_empty() {
            "no names at all (no subjectAltName)".to_string()
        } else {
            names
                .iter()
                .take(NAMES_SHOWN)
                .cloned()
                .collect::<Vec<_>>()
                .join(", ")
        };
        Finding::critical(
            "tls.hostname",
            format!("Certificate does not cover {shown}; it names {list}"),
        )
        .with_detail("Clients asking for this name reject it: the wrong certificate is installed, or the name is missing from it.")
    }
}

/// DNS names and IP addresses from the subjectAltName extension.
fn san_names(cert: &X509Certificate<'_>) -> Vec<String> {
    let Ok(Some(san)) = cert.subject_alternative_name() else {
        return Vec::new();
    };
    san.value
        .general_names
        .iter()
        .filter_map(|n| match n {
            GeneralName::DNSName(d) => Some(d.to_string()),
            GeneralName::IPAddress(b) => match b.len() {
                4 => Some(IpAddr::from(<[u8; 4]>::try_from(*b).ok()?).to_string()),
                16 => Some(IpAddr::from(<[u8; 16]>::try_from(*b).ok()?).to_string()),
                _ => None,
            },
            _ => None,
        })
        .collect()
}

/// "2027-06-17 20:00 UTC".
fn date(ts: i64) -> String {
    let fmt = format_description!("[year]-[month]-[day] [hour]:[minute] UTC");
    OffsetDateTime::from_unix_timestamp(ts)
        .ok()
        .and_then(|t| t.format(&fmt).ok())
        .unwrap_or_else(|| ts.to_string())
}

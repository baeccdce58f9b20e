//! Purpose: `openssl s_client -connect host:443 -servername host | openssl
//! x509 -noout -dates -issuer -subject -ext subjectAltName` — how long the
//! certificate has left, who issued it, whether it covers the name clients
//! use, and whether a client would trust it (`seeds/`: "SSL errors after an
//! openssl upgrade", "certificate expired" outages).
//!
//! The handshake accepts whatever certificate the server sends, so that an
//! untrusted, expired or misnamed certificate can still be read and
//! described; nothing but the handshake is ever sent on that connection.
//! Trust is then judged separately, by the same webpki rules a client uses,
//! against Mozilla's roots plus `ca_file` — at a moment inside the
//! certificate's validity, so that "untrusted" and "expired" are separate
//! findings rather than one hiding the other. The crypto provider is ring,
//! passed explicitly (never a process default that may be absent).
//!
//! Thresholds (issue #3): under 14 days left is a warning, under 3 days (or
//! expired, or not valid yet) critical.

mod cert;
#[cfg(test)]
mod tests;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, RootCertStore, SignatureScheme};
use serde::Deserialize;
use time::OffsetDateTime;

use super::net::{Address, connect};
use super::{Check, Diagnostic};
use crate::format::{human_duration, human_latency};
use crate::model::report::Finding;
use crate::redact::Redactor;

pub use cert::{CRITICAL_DAYS, WARN_DAYS, certificate_findings};

/// `[targets.NAME] kind = "tls"`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TlsTarget {
    /// `host:port`, usually `host:443`.
    pub address: Address,
    /// The name clients ask for (SNI, and the name the certificate must
    /// cover); default: the host of `address`.
    #[serde(default)]
    pub server_name: Option<String>,
    /// A PEM file of extra CA certificates to trust besides the public
    /// roots: a private CA for internal services.
    #[serde(default)]
    pub ca_file: Option<PathBuf>,
    /// The most the check may take, connect and handshake (default 5 s).
    #[serde(
        default = "crate::diagnostics::default_timeout",
        deserialize_with = "crate::duration::deserialize"
    )]
    pub timeout: Duration,
}

/// ring, explicitly: the one provider in medic's tree (docs/crates.md § TLS).
fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

impl TlsTarget {
    /// The name the certificate must cover.
    pub fn name(&self) -> &str {
        self.server_name.as_deref().unwrap_or(&self.address.host)
    }

    /// Checks what serde cannot.
    pub fn validate(&self) -> Result<(), (&'static str, String)> {
        if ServerName::try_from(self.name().to_string()).is_err() {
            let key = if self.server_name.is_some() {
                "server_name"
            } else {
                "address"
            };
            return Err((
                key,
                format!("`{}` is not a DNS name or an IP address", self.name()),
            ));
        }
        if let Some(path) = &self.ca_file
            && !path.is_absolute()
        {
            return Err(("ca_file", "must be an absolute path to a PEM file".into()));
        }
        Ok(())
    }

    /// Connects, shakes hands, and reads the certificate as of `now`.
    pub async fn probe(&self, now: OffsetDateTime) -> Vec<Finding> {
        let budget = self.timeout.mul_f64(0.9);
        let started = Instant::now();
        let name = match ServerName::try_from(self.name().to_string()) {
            Ok(n) => n,
            Err(_) => {
                return vec![Finding::critical(
                    "tls.handshake",
                    format!("`{}` is not a valid server name", self.name()),
                )];
            }
        };
        let roots = self.roots().await;

        let (stream, _) = match connect(&self.address, budget).await {
            Ok(ok) => ok,
            Err(failure) => return vec![failure.finding("tls.handshake", &self.address)],
        };
        let config = match rustls::ClientConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()
        {
            Ok(b) => b
                .dangerous()
                .with_custom_certificate_verifier(Arc::new(ReadAnything(provider())))
                .with_no_client_auth(),
            Err(e) => {
                return vec![Finding::unknown(
                    "tls.handshake",
                    format!("Not checked: no TLS configuration ({e})"),
                )];
            }
        };
        let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
        let left = budget.saturating_sub(started.elapsed());
        let hs_started = Instant::now();
        let tls = match tokio::time::timeout(left, connector.connect(name.clone(), stream)).await {
            Ok(Ok(tls)) => tls,
            Ok(Err(e)) => {
                return vec![
                    Finding::critical(
                        "tls.handshake",
                        format!("TLS handshake with {} failed", self.address),
                    )
                    .with_detail("Not TLS on that port (plain HTTP?), no protocol or cipher in common, or the server rejected the name.")
                    .with_detail(self.by_hand())
                    .with_evidence(e.to_string()),
                ];
            }
            Err(_) => {
                return vec![
                    Finding::critical(
                        "tls.handshake",
                        format!(
                            "{} accepted the connection but did not complete a TLS handshake within {}",
                            self.address,
                            human_duration(left)
                        ),
                    )
                    .with_detail("A hung server, or a service that waits for the client to speak first (not TLS).")
                    .with_detail(self.by_hand()),
                ];
            }
        };
        let took = hs_started.elapsed();
        let (_, session) = tls.get_ref();
        let version = session
            .protocol_version()
            .and_then(|v| v.as_str())
            .unwrap_or("TLS")
            .replace('_', ".")
            .replace("TLSv", "TLS ");
        let suite = session
            .negotiated_cipher_suite()
            .and_then(|s| s.suite().as_str())
            .unwrap_or("?");
        let chain: Vec<CertificateDer<'static>> = session
            .peer_certificates()
            .unwrap_or_default()
            .iter()
            .map(|c| c.clone().into_owned())
            .collect();
        let mut findings = vec![Finding::ok(
            "tls.handshake",
            format!(
                "{version} handshake with {} in {} ({suite})",
                self.address,
                human_latency(took)
            ),
        )];
        let Some((leaf, intermediates)) = chain.split_first() else {
            findings.push(Finding::critical(
                "tls.certificate",
                "The server sent no certificate",
            ));
            return findings;
        };
        findings.extend(match roots {
            Ok(roots) => vec![trust_finding(roots, leaf, intermediates, &name)],
            Err(problem) => vec![Finding::unknown("tls.trust", problem)],
        });
        findings.extend(certificate_findings(leaf, &name, now));
        findings
    }

    fn by_hand(&self) -> String {
        format!(
            "By hand: openssl s_client -connect {} -servername {}",
            self.address,
            self.name()
        )
    }

    /// Mozilla's roots plus `ca_file`; a `ca_file` that cannot be used is
    /// said in words rather than silently ignored.
    async fn roots(&self) -> Result<Arc<RootCertStore>, String> {
        let mut store = RootCertStore {
            roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
        };
        if let Some(path) = &self.ca_file {
            let pem = tokio::fs::read(path).await.map_err(|e| {
                format!(
                    "Trust not checked: cannot read ca_file {} ({e})",
                    path.display()
                )
            })?;
            let mut added = 0;
            for cert in CertificateDer::pem_slice_iter(&pem) {
                let cert = cert.map_err(|e| {
                    format!(
                        "Trust not checked: ca_file {} is not PEM ({e})",
                        path.display()
                    )
                })?;
                store.add(cert).map_err(|e| {
                    format!(
                        "Trust not checked: a certificate in ca_file {} is not usable as a root ({e})",
                        path.display()
                    )
                })?;
                added += 1;
            }
            if added == 0 {
                return Err(format!(
                    "Trust not checked: ca_file {} holds no certificate",
                    path.display()
                ));
            }
        }
        Ok(Arc::new(store))
    }
}

/// Whether a client would trust this chain for `name`, judged at a moment
/// inside the leaf's validity so that expiry is left to its own finding.
fn trust_finding(
    roots: Arc<RootCertStore>,
    leaf: &CertificateDer<'_>,
    intermediates: &[CertificateDer<'_>],
    name: &ServerName<'_>,
) -> Finding {
    let verifier = match rustls::client::WebPkiServerVerifier::builder_with_provider(
        roots,
        provider(),
    )
    .build()
    {
        Ok(v) => v,
        Err(e) => return Finding::unknown("tls.trust", format!("Trust not checked: {e}")),
    };
    let at = cert::inside_validity(leaf).unwrap_or_else(UnixTime::now);
    match verifier.verify_server_cert(leaf, intermediates, name, &[], at) {
        Ok(_) => Finding::ok(
            "tls.trust",
            "Chain verified: a client trusts this certificate",
        ),
        // The chain was verified before the name was compared; the name has
        // its own finding.
        Err(rustls::Error::InvalidCertificate(
            rustls::CertificateError::NotValidForName
            | rustls::CertificateError::NotValidForNameContext { .. },
        )) => Finding::ok(
            "tls.trust",
            "Chain verified: a client trusts this certificate",
        ),
        Err(e) => {
            let (why, hint) = untrusted_words(&e);
            Finding::critical(
                "tls.trust",
                format!("Clients will reject this certificate: {why}"),
            )
            .with_detail(hint)
            .with_evidence(e.to_string())
        }
    }
}

/// Why a chain failed, in words, and what to do about it.
fn untrusted_words(e: &rustls::Error) -> (&'static str, &'static str) {
    use rustls::CertificateError as C;
    match e {
        rustls::Error::InvalidCertificate(c) => match c {
            C::UnknownIssuer => (
                "it is not signed by a trusted CA",
                "A self-signed certificate, a private CA (set ca_file to trust it), or a missing intermediate in the server's chain.",
            ),
            C::BadSignature => (
                "a signature in the chain does not verify",
                "The server sends a chain that does not belong together: reinstall the certificate with its own intermediates.",
            ),
            C::Expired | C::ExpiredContext { .. } => (
                "a certificate in the chain has expired",
                "An expired intermediate: the server must send the current one.",
            ),
            C::NotValidYet | C::NotValidYetContext { .. } => (
                "a certificate in the chain is not valid yet",
                "Check the clock on the server and on medic's host.",
            ),
            C::Revoked => ("it has been revoked", "Issue a new certificate."),
            C::InvalidPurpose | C::InvalidPurposeContext { .. } => (
                "it is not issued for TLS servers",
                "The certificate lacks the server-authentication purpose.",
            ),
            _ => (
                "the chain does not verify",
                "See the evidence for the verifier's words.",
            ),
        },
        _ => (
            "the chain does not verify",
            "See the evidence for the verifier's words.",
        ),
    }
}

/// A verifier that accepts every certificate (the handshake's signature is
/// still checked, so the server proves it holds the key): what makes a
/// broken certificate readable. Trust is judged after, by [`trust_finding`].
#[derive(Debug)]
struct ReadAnything(Arc<CryptoProvider>);

impl ServerCertVerifier for ReadAnything {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

impl Diagnostic for TlsTarget {
    const KIND: &'static str = "tls";

    fn location(&self) -> String {
        match &self.server_name {
            Some(name) if *name != self.address.host => format!("{} ({name})", self.address),
            _ => self.address.to_string(),
        }
    }

    fn timeout(&self) -> Duration {
        self.timeout
    }

    fn redactor(&self) -> Redactor {
        // No secret in a tls target's config.
        Redactor::new()
    }

    fn checks(&self) -> Vec<Check> {
        let target = self.clone();
        vec![
            Check::new("tls.handshake", "TLS handshake", async move {
                target.probe(OffsetDateTime::now_utc()).await
            })
            .critical_when_silent()
            .silence_hint("A firewall dropping packets or a hung server looks like this."),
        ]
    }
}

//! Test support for the TLS-speaking kinds (tls, http over https):
//! certificates made at test time with rcgen — a private CA written to a PEM
//! file for `ca_file`, and leaves it signs — served by tokio-rustls on
//! loopback.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use rcgen::{
    BasicConstraints, Certificate, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa,
    Issuer, KeyPair, KeyUsagePurpose,
};
use rustls::pki_types::{PrivateKeyDer, PrivatePkcs8KeyDer};
use time::OffsetDateTime;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

/// One day, for validity periods.
pub const DAY: time::Duration = time::Duration::DAY;
/// One hour.
pub const HOUR: time::Duration = time::Duration::HOUR;

/// A CA for this test run, written to a PEM file for `ca_file`.
pub struct Ca {
    issuer: Issuer<'static, KeyPair>,
    /// The CA certificate as PEM; removed when dropped.
    pub pem_file: tempfile::NamedTempFile,
}

/// A new CA, valid from a year ago for ten years.
pub fn ca() -> Ca {
    let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    params
        .distinguished_name
        .push(DnType::CommonName, "medic test CA");
    params.not_before = OffsetDateTime::now_utc() - 365 * DAY;
    params.not_after = OffsetDateTime::now_utc() + 3650 * DAY;
    let key = KeyPair::generate().unwrap();
    let cert = params.self_signed(&key).unwrap();
    let pem_file = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(pem_file.path(), cert.pem()).unwrap();
    Ca {
        issuer: Issuer::new(params, key),
        pem_file,
    }
}

/// Leaf parameters for `name`, valid from `from` to `to` (relative to now).
pub fn leaf_params(name: &str, from: time::Duration, to: time::Duration) -> CertificateParams {
    let mut params = CertificateParams::new(vec![name.to_string()]).unwrap();
    params.distinguished_name.push(DnType::CommonName, name);
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    let now = OffsetDateTime::now_utc();
    params.not_before = now + from;
    params.not_after = now + to;
    params
}

/// A leaf for `name` signed by `ca`, with its key.
pub fn signed(
    ca: &Ca,
    name: &str,
    from: time::Duration,
    to: time::Duration,
) -> (Certificate, KeyPair) {
    let key = KeyPair::generate().unwrap();
    let cert = leaf_params(name, from, to)
        .signed_by(&key, &ca.issuer)
        .unwrap();
    (cert, key)
}

/// Serves `leaf` over TLS on a loopback port, completing handshakes and
/// holding each session briefly.
pub async fn serve(leaf: (Certificate, KeyPair)) -> SocketAddr {
    serve_tls(leaf, None).await
}

/// Serves `leaf` over TLS; after the handshake, reads a request's headers
/// and writes `reply` (a whole HTTP response) when given.
pub async fn serve_tls(
    (cert, key): (Certificate, KeyPair),
    reply: Option<&'static [u8]>,
) -> SocketAddr {
    let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der()));
    let config = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_no_client_auth()
    .with_single_cert(vec![cert.der().clone()], key)
    .unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                let Ok(mut tls) = acceptor.accept(stream).await else {
                    return;
                };
                if let Some(reply) = reply {
                    let mut request = Vec::new();
                    let mut buf = [0u8; 1024];
                    while !request.windows(4).any(|w| w == b"\r\n\r\n") {
                        match tls.read(&mut buf).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => request.extend_from_slice(&buf[..n]),
                        }
                    }
                    let _ = tls.write_all(reply).await;
                    let _ = tls.shutdown().await;
                } else {
                    // Hold the session briefly, as a server would.
                    tokio::time::sleep(Duration::from_secs(2)).await;
                }
            });
        }
    });
    addr
}

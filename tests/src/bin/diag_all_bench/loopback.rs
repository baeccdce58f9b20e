//! The services the bench starts itself on 127.0.0.1, so that every kind
//! has a live target without anything outside this machine: an HTTP
//! server (also the tcp targets' port), a TLS server with a certificate
//! made at start-up, a DNS responder, and the dead ones (a TCP listener
//! that accepts and never answers, a UDP socket that never replies).

use std::net::{SocketAddr, TcpListener as StdTcpListener, UdpSocket as StdUdpSocket};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose,
};
use rustls::pki_types::{PrivateKeyDer, PrivatePkcs8KeyDer};
use tokio::io::AsyncReadExt;
use tokio::net::{TcpListener, UdpSocket};

/// The body the HTTP server answers with, and what the http targets expect.
pub const HTTP_BODY: &str = "medic bench ok";
/// The name the DNS responder answers, and its one address.
pub const DNS_NAME: &str = "bench.medic.test";
pub const DNS_ANSWER: [u8; 4] = [127, 0, 0, 1];

/// An HTTP/1.1 server answering `GET /health` with 200 and [`HTTP_BODY`].
pub async fn http() -> SocketAddr {
    let app = axum::Router::new().route("/health", axum::routing::get(|| async { HTTP_BODY }));
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind http");
    let addr = listener.local_addr().expect("http addr");
    tokio::spawn(async move {
        axum::serve(listener, app).await.expect("http server");
    });
    addr
}

/// A TLS server for 127.0.0.1, with a certificate signed by a CA made here;
/// returns its address and the CA's PEM file (for `ca_file`), which lives
/// in `dir`. Each session completes its handshake and is held until the
/// client closes it (or for 10 s).
pub async fn tls(dir: &std::path::Path) -> (SocketAddr, PathBuf) {
    let mut ca = CertificateParams::new(Vec::<String>::new()).expect("CA params");
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    ca.distinguished_name
        .push(DnType::CommonName, "medic bench CA");
    let ca_key = KeyPair::generate().expect("CA key");
    let ca_cert = ca.self_signed(&ca_key).expect("CA certificate");
    let ca_file = dir.join("bench-ca.pem");
    std::fs::write(&ca_file, ca_cert.pem()).expect("write CA");
    let issuer = Issuer::new(ca, ca_key);

    // rcgen makes an IP address SAN of a name that parses as one.
    let mut leaf = CertificateParams::new(vec!["127.0.0.1".to_string()]).expect("leaf params");
    leaf.distinguished_name
        .push(DnType::CommonName, "127.0.0.1");
    leaf.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    let leaf_key = KeyPair::generate().expect("leaf key");
    let leaf_cert = leaf
        .signed_by(&leaf_key, &issuer)
        .expect("leaf certificate");

    let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(leaf_key.serialize_der()));
    let config = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .expect("TLS versions")
    .with_no_client_auth()
    .with_single_cert(vec![leaf_cert.der().clone()], key)
    .expect("TLS config");
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind tls");
    let addr = listener.local_addr().expect("tls addr");
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                if let Ok(mut session) = acceptor.accept(stream).await {
                    let mut sink = [0u8; 512];
                    let _ = tokio::time::timeout(Duration::from_secs(10), async {
                        while matches!(session.read(&mut sink).await, Ok(n) if n > 0) {}
                    })
                    .await;
                }
            });
        }
    });
    (addr, ca_file)
}

/// A DNS responder on loopback UDP: [`DNS_NAME`] A → [`DNS_ANSWER`],
/// anything else NXDOMAIN.
pub async fn dns() -> SocketAddr {
    let socket = UdpSocket::bind("127.0.0.1:0").await.expect("bind dns");
    let addr = socket.local_addr().expect("dns addr");
    tokio::spawn(async move {
        let mut buf = [0u8; 1500];
        while let Ok((n, from)) = socket.recv_from(&mut buf).await {
            if let Some(reply) = dns_reply(&buf[..n]) {
                let _ = socket.send_to(&reply, from).await;
            }
        }
    });
    addr
}

/// The reply to one query (RFC 1035 §4.1), or `None` for a packet that is
/// not one.
fn dns_reply(query: &[u8]) -> Option<Vec<u8>> {
    let mut i = 12;
    let mut labels = Vec::new();
    loop {
        let len = usize::from(*query.get(i)?);
        i += 1;
        if len == 0 {
            break;
        }
        labels.push(String::from_utf8_lossy(query.get(i..i + len)?).to_ascii_lowercase());
        i += len;
    }
    let qtype = u16::from_be_bytes([*query.get(i)?, *query.get(i + 1)?]);
    let question = query.get(12..i + 4)?;
    let known = labels.join(".") == DNS_NAME;
    let answers = u16::from(known && qtype == 1);
    let mut r = Vec::with_capacity(question.len() + 28);
    r.extend_from_slice(&query[0..2]); // id
    r.push(0x80 | 0x04 | (query[2] & 0x01)); // response, authoritative, RD as asked
    r.push(0x80 | if known { 0 } else { 3 }); // RA; NOERROR or NXDOMAIN
    r.extend_from_slice(&1u16.to_be_bytes()); // the question
    r.extend_from_slice(&answers.to_be_bytes());
    r.extend_from_slice(&[0, 0, 0, 0]); // no authority, no additional
    r.extend_from_slice(question);
    if answers == 1 {
        r.extend_from_slice(&[0xC0, 0x0C]); // the question's name
        r.extend_from_slice(&1u16.to_be_bytes()); // A
        r.extend_from_slice(&1u16.to_be_bytes()); // IN
        r.extend_from_slice(&60u32.to_be_bytes()); // TTL
        r.extend_from_slice(&4u16.to_be_bytes());
        r.extend_from_slice(&DNS_ANSWER);
    }
    Some(r)
}

/// A TCP port that accepts connections and never answers (a blackholed
/// service behind a live TCP stack). The thread lives as long as the process.
pub fn silent_tcp() -> u16 {
    let listener = StdTcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("addr").port();
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for stream in listener.incoming().flatten() {
            held.push(stream);
        }
    });
    port
}

/// A UDP port that reads queries and never replies (a DNS server that
/// drops them).
pub fn silent_udp() -> u16 {
    let socket = StdUdpSocket::bind("127.0.0.1:0").expect("bind udp");
    let port = socket.local_addr().expect("udp addr").port();
    std::thread::spawn(move || {
        let mut buf = [0u8; 1500];
        while socket.recv_from(&mut buf).is_ok() {}
    });
    port
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A query for `name` of type `qtype`, as `dig` would send it.
    fn query(name: &str, qtype: u16) -> Vec<u8> {
        let mut q = vec![0x12, 0x34, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0];
        for label in name.split('.') {
            q.push(label.len() as u8);
            q.extend_from_slice(label.as_bytes());
        }
        q.push(0);
        q.extend_from_slice(&qtype.to_be_bytes());
        q.extend_from_slice(&1u16.to_be_bytes());
        q
    }

    #[test]
    fn the_bench_name_gets_its_address_and_others_nxdomain() {
        let r = dns_reply(&query(DNS_NAME, 1)).expect("a reply");
        assert_eq!(&r[0..2], &[0x12, 0x34]);
        assert_eq!(r[3] & 0x0F, 0, "NOERROR");
        assert_eq!(u16::from_be_bytes([r[6], r[7]]), 1, "one answer");
        assert_eq!(&r[r.len() - 4..], &DNS_ANSWER);

        let r = dns_reply(&query("other.medic.test", 1)).expect("a reply");
        assert_eq!(r[3] & 0x0F, 3, "NXDOMAIN");
        assert_eq!(u16::from_be_bytes([r[6], r[7]]), 0);

        assert!(dns_reply(&[0u8; 5]).is_none());
    }
}

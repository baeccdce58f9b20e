//! The tls diagnostic against real TLS servers on loopback (tokio-rustls),
//! serving certificates made at test time with rcgen: a private CA and its
//! leaves expiring in 2, 10 and 200 days, an expired one, one for another
//! name, and a self-signed one.

use std::net::SocketAddr;

use rcgen::KeyPair;
use tokio::net::TcpListener;

use super::*;
use crate::Status;
use crate::diagnostics::testcerts::{Ca, DAY, HOUR, ca, leaf_params, serve, signed};

fn target(addr: SocketAddr, ca: Option<&Ca>) -> TlsTarget {
    TlsTarget {
        address: Address::parse(&addr.to_string(), None).unwrap(),
        server_name: Some("service.test".into()),
        ca_file: ca.map(|c| c.pem_file.path().to_path_buf()),
        timeout: Duration::from_secs(3),
    }
}

async fn probe(t: &TlsTarget) -> Vec<Finding> {
    // Generous: catches a hang, times nothing.
    tokio::time::timeout(Duration::from_secs(20), t.probe(OffsetDateTime::now_utc()))
        .await
        .expect("the tls diagnostic finishes")
}

fn only<'a>(fs: &'a [Finding], check: &str) -> &'a Finding {
    let found: Vec<&Finding> = fs.iter().filter(|f| f.check == check).collect();
    assert_eq!(found.len(), 1, "one {check} in {fs:#?}");
    found[0]
}

#[tokio::test]
async fn a_healthy_certificate_from_a_private_ca_in_ca_file() {
    let ca = ca();
    let addr = serve(signed(&ca, "service.test", -DAY, 200 * DAY + HOUR)).await;
    let fs = probe(&target(addr, Some(&ca))).await;
    assert!(fs.iter().all(|f| f.status == Status::Ok), "{fs:#?}");
    let hs = only(&fs, "tls.handshake");
    assert!(
        hs.summary
            .starts_with(&format!("TLS 1.3 handshake with {addr} in ")),
        "{}",
        hs.summary
    );
    assert_eq!(
        only(&fs, "tls.trust").summary,
        "Chain verified: a client trusts this certificate"
    );
    let expiry = only(&fs, "tls.expiry");
    assert!(
        expiry
            .summary
            .starts_with("Certificate expires in 200 days ("),
        "{}",
        expiry.summary
    );
    assert!(
        expiry
            .detail
            .contains(&"Issuer: CN=medic test CA".to_string()),
        "{expiry:#?}"
    );
    assert!(
        expiry
            .detail
            .contains(&"Subject: CN=service.test".to_string()),
        "{expiry:#?}"
    );
    assert!(
        expiry.detail.contains(&"Names: service.test".to_string()),
        "{expiry:#?}"
    );
    assert_eq!(
        only(&fs, "tls.hostname").summary,
        "Certificate covers service.test"
    );
}

#[tokio::test]
async fn under_14_days_warns_and_under_3_is_critical() {
    let ca = ca();
    let ten = serve(signed(&ca, "service.test", -DAY, 10 * DAY + HOUR)).await;
    let fs = probe(&target(ten, Some(&ca))).await;
    let f = only(&fs, "tls.expiry");
    assert_eq!(f.status, Status::Warn, "{f:#?}");
    assert!(
        f.summary.starts_with("Certificate expires in 10 days"),
        "{}",
        f.summary
    );
    assert_eq!(only(&fs, "tls.trust").status, Status::Ok);

    let two = serve(signed(
        &ca,
        "service.test",
        -DAY,
        2 * DAY - 90 * time::Duration::MINUTE,
    ))
    .await;
    let fs = probe(&target(two, Some(&ca))).await;
    let f = only(&fs, "tls.expiry");
    assert_eq!(f.status, Status::Critical, "{f:#?}");
    assert!(
        f.summary.starts_with("Certificate expires in 46 h ("),
        "{}",
        f.summary
    );
}

#[tokio::test]
async fn an_expired_certificate_is_still_read_and_its_chain_judged_apart() {
    let ca = ca();
    let addr = serve(signed(&ca, "service.test", -90 * DAY, -3 * DAY - HOUR)).await;
    let fs = probe(&target(addr, Some(&ca))).await;
    let f = only(&fs, "tls.expiry");
    assert_eq!(f.status, Status::Critical);
    assert!(
        f.summary.starts_with("Certificate expired 3 days ago ("),
        "{}",
        f.summary
    );
    // Expiry does not hide that the chain itself is fine.
    assert_eq!(only(&fs, "tls.trust").status, Status::Ok, "{fs:#?}");
    assert_eq!(only(&fs, "tls.hostname").status, Status::Ok);
}

#[tokio::test]
async fn a_certificate_for_another_name_is_critical_and_names_what_it_covers() {
    let ca = ca();
    let addr = serve(signed(&ca, "other.test", -DAY, 200 * DAY)).await;
    let fs = probe(&target(addr, Some(&ca))).await;
    let f = only(&fs, "tls.hostname");
    assert_eq!(f.status, Status::Critical);
    assert_eq!(
        f.summary,
        "Certificate does not cover service.test; it names other.test"
    );
    assert_eq!(only(&fs, "tls.trust").status, Status::Ok, "{fs:#?}");
    assert_eq!(only(&fs, "tls.expiry").status, Status::Ok);
}

#[tokio::test]
async fn an_untrusted_certificate_is_critical_and_says_why() {
    // Self-signed: trusted by nobody.
    let key = KeyPair::generate().unwrap();
    let cert = leaf_params("service.test", -DAY, 200 * DAY)
        .self_signed(&key)
        .unwrap();
    let addr = serve((cert, key)).await;
    let fs = probe(&target(addr, None)).await;
    let f = only(&fs, "tls.trust");
    assert_eq!(f.status, Status::Critical);
    assert_eq!(
        f.summary,
        "Clients will reject this certificate: it is not signed by a trusted CA"
    );
    assert!(f.detail[0].contains("ca_file"), "{f:#?}");
    // The certificate is still read.
    assert_eq!(only(&fs, "tls.expiry").status, Status::Ok);
    assert_eq!(only(&fs, "tls.hostname").status, Status::Ok);

    // A private CA's certificate without that CA in ca_file: the same.
    let ca = ca();
    let addr = serve(signed(&ca, "service.test", -DAY, 200 * DAY)).await;
    let fs = probe(&target(addr, None)).await;
    assert_eq!(only(&fs, "tls.trust").status, Status::Critical);
}

#[tokio::test]
async fn an_unreadable_ca_file_is_said_not_ignored() {
    let ca = ca();
    let addr = serve(signed(&ca, "service.test", -DAY, 200 * DAY)).await;
    let t = TlsTarget {
        ca_file: Some("/nonexistent/medic-ca.pem".into()),
        ..target(addr, None)
    };
    let fs = probe(&t).await;
    let f = only(&fs, "tls.trust");
    assert_eq!(f.status, Status::Unknown);
    assert!(
        f.summary
            .contains("cannot read ca_file /nonexistent/medic-ca.pem"),
        "{}",
        f.summary
    );
    assert_eq!(only(&fs, "tls.expiry").status, Status::Ok);
}

#[tokio::test]
async fn plain_tcp_is_a_failed_handshake() {
    // A server that answers like plain HTTP.
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        use tokio::io::AsyncWriteExt;
        while let Ok((mut s, _)) = listener.accept().await {
            let _ = s
                .write_all(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n")
                .await;
        }
    });
    let fs = probe(&target(addr, None)).await;
    let f = only(&fs, "tls.handshake");
    assert_eq!(f.status, Status::Critical);
    assert_eq!(f.summary, format!("TLS handshake with {addr} failed"));
}

#[test]
fn thresholds_at_their_edges() {
    let ca = ca();
    let (cert, _) = signed(&ca, "service.test", -DAY, 100 * DAY);
    let der = cert.der();
    let name = ServerName::try_from("service.test").unwrap();
    let not_after = OffsetDateTime::now_utc() + 100 * DAY;
    let status_at = |left: time::Duration| {
        let fs = certificate_findings(der, &name, not_after - left);
        fs.iter().find(|f| f.check == "tls.expiry").unwrap().status
    };
    assert_eq!(status_at(14 * DAY + HOUR), Status::Ok);
    assert_eq!(status_at(14 * DAY - HOUR), Status::Warn);
    assert_eq!(status_at(3 * DAY + HOUR), Status::Warn);
    assert_eq!(status_at(3 * DAY - HOUR), Status::Critical);
    assert_eq!(status_at(-HOUR), Status::Critical);
}

#[test]
fn config_names_its_mistakes() {
    let t = |server_name: Option<&str>, ca: Option<&str>| TlsTarget {
        address: Address::parse("api.example.com:443", None).unwrap(),
        server_name: server_name.map(str::to_string),
        ca_file: ca.map(Into::into),
        timeout: Duration::from_secs(5),
    };
    assert!(t(None, None).validate().is_ok());
    assert_eq!(t(None, None).name(), "api.example.com");
    assert_eq!(
        t(Some("bad name!"), None).validate().unwrap_err().0,
        "server_name"
    );
    assert_eq!(t(None, Some("ca.pem")).validate().unwrap_err().0, "ca_file");
    assert_eq!(
        t(Some("www.example.com"), None).location(),
        "api.example.com:443 (www.example.com)"
    );
}

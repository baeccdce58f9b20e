//! The dns diagnostic against a tiny DNS server on loopback UDP, written
//! here by hand from RFC 1035 so that each answer (two A records, NXDOMAIN,
//! SERVFAIL, an empty NOERROR, silence) is exactly what the test says.

use std::net::SocketAddr;

use tokio::net::UdpSocket;

use super::*;
use crate::Status;
use crate::diagnostics::TargetSpec;

/// The answer to one query, or `None` to stay silent.
fn answer(query: &[u8]) -> Option<Vec<u8>> {
    if query.len() < 12 {
        return None;
    }
    let mut i = 12;
    let mut labels = Vec::new();
    loop {
        let len = *query.get(i)? as usize;
        i += 1;
        if len == 0 {
            break;
        }
        labels.push(String::from_utf8_lossy(query.get(i..i + len)?).to_ascii_lowercase());
        i += len;
    }
    let qtype = u16::from_be_bytes([*query.get(i)?, *query.get(i + 1)?]);
    let question_end = i + 4;
    let (rcode, ips): (u8, Vec<[u8; 4]>) = match labels.join(".").as_str() {
        "api.service.test" => (0, vec![[10, 0, 0, 1], [10, 0, 0, 2]]),
        "empty.service.test" => (0, vec![]),
        "broken.service.test" => (2, vec![]),
        "silent.service.test" => return None,
        _ => (3, vec![]),
    };
    let ips = if qtype == 1 { ips } else { Vec::new() };
    let mut r = Vec::with_capacity(64);
    r.extend_from_slice(&query[0..2]); // id
    r.push(0x80 | 0x04 | (query[2] & 0x01)); // QR, AA, RD as asked
    r.push(0x80 | rcode); // RA, rcode
    r.extend_from_slice(&1u16.to_be_bytes()); // one question
    r.extend_from_slice(&(ips.len() as u16).to_be_bytes());
    r.extend_from_slice(&[0, 0, 0, 0]); // no authority, no additional
    r.extend_from_slice(query.get(12..question_end)?);
    for ip in ips {
        r.extend_from_slice(&[0xC0, 0x0C]); // the question's name
        r.extend_from_slice(&1u16.to_be_bytes()); // A
        r.extend_from_slice(&1u16.to_be_bytes()); // IN
        r.extend_from_slice(&60u32.to_be_bytes()); // TTL
        r.extend_from_slice(&4u16.to_be_bytes());
        r.extend_from_slice(&ip);
    }
    Some(r)
}

async fn dns_server() -> SocketAddr {
    let socket = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let addr = socket.local_addr().unwrap();
    tokio::spawn(async move {
        let mut buf = [0u8; 1500];
        while let Ok((n, from)) = socket.recv_from(&mut buf).await {
            if let Some(reply) = answer(&buf[..n]) {
                let _ = socket.send_to(&reply, from).await;
            }
        }
    });
    addr
}

fn target(server: SocketAddr, name: &str) -> DnsTarget {
    DnsTarget {
        name: name.into(),
        record: "A".into(),
        server: Some(server),
        expect: None,
        timeout: Duration::from_millis(1500),
    }
}

async fn probe(t: &DnsTarget) -> Vec<Finding> {
    // Generous: catches a hang, times nothing.
    tokio::time::timeout(Duration::from_secs(20), t.probe())
        .await
        .expect("the dns diagnostic finishes")
}

fn only<'a>(fs: &'a [Finding], check: &str) -> &'a Finding {
    let found: Vec<&Finding> = fs.iter().filter(|f| f.check == check).collect();
    assert_eq!(found.len(), 1, "one {check} in {fs:#?}");
    found[0]
}

#[tokio::test]
async fn answers_are_listed_with_the_server_asked() {
    let server = dns_server().await;
    let fs = probe(&target(server, "api.service.test")).await;
    let f = only(&fs, "dns.resolve");
    assert_eq!(f.status, Status::Ok, "{f:#?}");
    assert!(
        f.summary
            .starts_with("api.service.test A → 10.0.0.1, 10.0.0.2 in "),
        "{}",
        f.summary
    );
    assert!(
        f.summary.ends_with(&format!(" from {server}")),
        "{}",
        f.summary
    );
    assert!(
        f.detail.contains(&format!(
            "By hand: dig api.service.test A @127.0.0.1 -p {}",
            server.port()
        )),
        "{f:#?}"
    );
}

#[tokio::test]
async fn an_expected_answer_must_be_present() {
    let server = dns_server().await;
    let t = DnsTarget {
        expect: Some("10.0.0.2".into()),
        ..target(server, "api.service.test")
    };
    assert_eq!(only(&probe(&t).await, "dns.expect").status, Status::Ok);
    let t = DnsTarget {
        expect: Some("10.0.0.9".into()),
        ..target(server, "api.service.test")
    };
    let fs = probe(&t).await;
    let f = only(&fs, "dns.expect");
    assert_eq!(f.status, Status::Critical);
    assert_eq!(f.summary, "api.service.test A does not include 10.0.0.9");
}

#[tokio::test]
async fn nxdomain_and_servfail_are_critical_and_named() {
    let server = dns_server().await;
    let fs = probe(&target(server, "gone.service.test")).await;
    let f = only(&fs, "dns.resolve");
    assert_eq!(f.status, Status::Critical);
    assert_eq!(
        f.summary,
        format!("gone.service.test A: NXDOMAIN from {server}, the name does not exist")
    );
    assert_eq!(f.evidence, None, "no resolver Debug dump: {f:#?}");

    let fs = probe(&target(server, "broken.service.test")).await;
    let f = only(&fs, "dns.resolve");
    assert_eq!(f.status, Status::Critical);
    assert_eq!(
        f.summary,
        format!("broken.service.test A: SERVFAIL from {server}")
    );
}

#[tokio::test]
async fn a_name_without_the_record_is_critical() {
    let server = dns_server().await;
    let fs = probe(&target(server, "empty.service.test")).await;
    let f = only(&fs, "dns.resolve");
    assert_eq!(f.status, Status::Critical);
    assert_eq!(
        f.summary,
        format!("empty.service.test A: no A records from {server}")
    );
    // Another type for a name that has only A records: the same.
    let t = DnsTarget {
        record: "aaaa".into(),
        ..target(server, "api.service.test")
    };
    let fs = probe(&t).await;
    assert_eq!(only(&fs, "dns.resolve").status, Status::Critical, "{fs:#?}");
}

#[tokio::test]
async fn a_silent_server_is_critical_within_the_timeout() {
    let server = dns_server().await;
    let t = DnsTarget {
        timeout: Duration::from_millis(600),
        ..target(server, "silent.service.test")
    };
    let fs = probe(&t).await;
    let f = only(&fs, "dns.resolve");
    assert_eq!(f.status, Status::Critical);
    assert_eq!(
        f.summary,
        format!("silent.service.test A: no answer from {server} within 540 ms")
    );
}

#[test]
fn config_parses_and_names_its_mistakes() {
    let parse = |v: serde_json::Value| serde_json::from_value::<TargetSpec>(v);
    let TargetSpec::Dns(t) = parse(serde_json::json!({
        "kind": "dns", "name": "api.example.com", "server": "10.0.0.2"
    }))
    .unwrap() else {
        panic!("dns")
    };
    assert_eq!(t.server, Some("10.0.0.2:53".parse().unwrap()));
    assert_eq!(t.record, "A");
    assert!(t.validate().is_ok());
    assert_eq!(t.location(), "api.example.com A @10.0.0.2:53");

    let TargetSpec::Dns(t) =
        parse(serde_json::json!({"kind": "dns", "name": "example.com"})).unwrap()
    else {
        panic!("dns")
    };
    assert_eq!(t.location(), "example.com A (system resolver)");

    let err = parse(serde_json::json!({"kind": "dns", "name": "x.test", "server": "dns.google"}))
        .unwrap_err()
        .to_string();
    assert!(err.contains("is an IP address"), "{err}");

    let bad = DnsTarget {
        record: "BOGUS".into(),
        ..target("127.0.0.1:53".parse().unwrap(), "x.test")
    };
    assert_eq!(bad.validate().unwrap_err().0, "record");
}

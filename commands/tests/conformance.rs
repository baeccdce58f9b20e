//! Every registered diagnostic, against targets that are not there: a port
//! where nothing listens, and a server that accepts and never answers. Each
//! must come back within its timeout with a finding that says so (never a
//! hang, never "all ok", never a panic), and no secret from its config may
//! appear anywhere in the report.
//!
//! A new kind fails [`every_kind_has_a_sample`] until it is added to
//! [`dead_samples`], so no diagnostic escapes these checks.

use std::net::SocketAddr;
use std::time::Duration;

use medic_commands::Status;
use medic_commands::diagnostics::{KINDS, Target, TargetSpec};
use serde_json::{Value, json};

/// The secret every sample carries where its kind has one.
const SECRET: &str = "s3cr3t-Pa55w0rd";
/// Each sample's per-check timeout.
const TIMEOUT: &str = "2s";

/// Configs for `kind` pointing at `addr`, holding [`SECRET`] wherever the
/// kind takes a credential; a kind that reaches its target in more than one
/// way has a sample for each.
fn dead_samples(kind: &str, addr: SocketAddr) -> Option<Vec<Value>> {
    Some(match kind {
        "redis" => vec![json!({
            "kind": "redis",
            "url": format!("redis://medic:{SECRET}@{addr}/0"),
            "connect_timeout": "1s",
            "timeout": TIMEOUT,
        })],
        "postgres" => vec![json!({
            "kind": "postgres",
            "url": format!("postgres://medic:{SECRET}@{addr}/postgres"),
            "connect_timeout": "1s",
            "timeout": TIMEOUT,
        })],
        "host" => vec![
            // A host's files under a root that does not exist: every check
            // must say it could not read, not that all is well.
            // With an interface and the address as a peer, so the network
            // checks face the dead or silent target too, and a unit whose
            // journal is not there.
            json!({
                "kind": "host",
                "root": format!("/nonexistent-medic-root-{}", addr.port()),
                "interfaces": ["enp7s0"],
                "peers": [addr.to_string()],
                "units": ["redis-server"],
                "timeout": TIMEOUT,
            }),
            // A host over ssh at that address (always loopback here).
            json!({
                "kind": "host",
                "ssh": format!("medic@{}", addr.ip()),
                "ssh_port": addr.port(),
                "interfaces": ["enp7s0"],
                "peers": [addr.to_string()],
                "units": ["redis-server"],
                "timeout": TIMEOUT,
            }),
        ],
        // Credentials in the URL, a token in its query and a secret
        // header: none may reach the report, whatever the error says.
        "http" => vec![json!({
            "kind": "http",
            "url": format!("http://medic:{SECRET}@{addr}/health?token={SECRET}"),
            "headers": { "X-Api-Key": SECRET },
            "timeout": TIMEOUT,
        })],
        // With a banner expected, an accepting-but-silent server is a
        // finding too, not "port open, all is well".
        "tcp" => vec![json!({
            "kind": "tcp",
            "address": addr.to_string(),
            "expect": "SSH-",
            "timeout": TIMEOUT,
        })],
        "tls" => vec![json!({
            "kind": "tls",
            "address": addr.to_string(),
            "server_name": "service.test",
            "timeout": TIMEOUT,
        })],
        // The dead or silent address as the DNS server (UDP there is
        // refused or unanswered).
        "dns" => vec![json!({
            "kind": "dns",
            "name": "api.service.test",
            "server": addr.to_string(),
            "timeout": TIMEOUT,
        })],
        // The dead or silent address as the AWS endpoint, with the
        // target's own key pair: the secret key must not reach the report
        // whatever the SDK says.
        "ecs" => vec![json!({
            "kind": "ecs",
            "cluster": "prod",
            "services": ["api"],
            "region": "eu-west-1",
            "endpoint_url": format!("http://{addr}"),
            "access_key_id": "AKIAIOSFODNN7EXAMPLE",
            "secret_access_key": SECRET,
            "timeout": TIMEOUT,
        })],
        // The Docker API over tcp:// (its user and password sent as basic
        // authentication, for a proxy in front of it), over tcp:// with TLS
        // client certificates, and a unix socket that is not there.
        "docker" => {
            let tls = docker_tls_files();
            vec![
                json!({
                    "kind": "docker",
                    "host": format!("tcp://medic:{SECRET}@{addr}"),
                    "compose_project": "pazpaz",
                    "timeout": TIMEOUT,
                }),
                json!({
                    "kind": "docker",
                    "host": format!("tcp://{addr}"),
                    "tls_ca": tls.join("ca.pem"),
                    "tls_cert": tls.join("cert.pem"),
                    "tls_key": tls.join("key.pem"),
                    "containers": ["web"],
                    "timeout": TIMEOUT,
                }),
                json!({
                    "kind": "docker",
                    "host": format!("unix:///nonexistent-medic-{}/docker.sock", addr.port()),
                    "containers": ["web"],
                    "timeout": TIMEOUT,
                }),
            ]
        }
        // A kubeconfig naming the address as the API server, with the
        // secret as its bearer token: over plain HTTP, and over TLS (the
        // rustls client medic builds with ring, before any handshake).
        "kubernetes" => ["http", "https"]
            .into_iter()
            .map(|scheme| {
                json!({
                    "kind": "kubernetes",
                    "kubeconfig": kubeconfig_for(scheme, addr),
                    "namespace": "shop",
                    "deployment": "api",
                    "connect_timeout": "1s",
                    "timeout": TIMEOUT,
                })
            })
            .collect(),
        _ => return None,
    })
}

/// A directory holding a self-signed certificate and its key as the
/// docker sample's CA, client certificate and key (made once, kept for
/// the test binary's life).
fn docker_tls_files() -> &'static std::path::Path {
    static DIR: std::sync::OnceLock<tempfile::TempDir> = std::sync::OnceLock::new();
    DIR.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap();
        let made = rcgen::generate_simple_self_signed(vec!["localhost".to_string()]).unwrap();
        std::fs::write(dir.path().join("ca.pem"), made.cert.pem()).unwrap();
        std::fs::write(dir.path().join("cert.pem"), made.cert.pem()).unwrap();
        std::fs::write(dir.path().join("key.pem"), made.signing_key.serialize_pem()).unwrap();
        dir
    })
    .path()
}

/// A kubeconfig whose one context points at `scheme://addr` with
/// [`SECRET`] as its token, written where the sample can name it.
fn kubeconfig_for(scheme: &str, addr: SocketAddr) -> String {
    let path = std::env::temp_dir().join(format!(
        "medic-conformance-kubeconfig-{}-{scheme}-{}",
        std::process::id(),
        addr.port()
    ));
    let text = format!(
        "apiVersion: v1\nkind: Config\nclusters:\n- name: c\n  cluster:\n    server: {scheme}://{addr}\n\
         users:\n- name: u\n  user:\n    token: {SECRET}\n\
         contexts:\n- name: x\n  context:\n    cluster: c\n    user: u\n\
         current-context: x\n"
    );
    std::fs::write(&path, text).expect("write the sample kubeconfig");
    path.display().to_string()
}

fn spec(value: Value) -> TargetSpec {
    serde_json::from_value(value).expect("sample config parses")
}

/// A loopback port with nothing listening.
async fn dead_addr() -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    addr
}

/// A loopback server that accepts connections and never answers (a
/// blackholed service behind a live TCP stack).
async fn silent_addr() -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((stream, _)) = listener.accept().await {
            held.push(stream);
        }
    });
    addr
}

async fn check_kind(kind: &str, addr: SocketAddr, what: &str) {
    assert!(
        addr.ip().is_loopback(),
        "samples only ever point at loopback"
    );
    for sample in dead_samples(kind, addr).expect("samples") {
        check_sample(kind, sample, addr, what).await;
    }
}

async fn check_sample(kind: &str, sample: Value, addr: SocketAddr, what: &str) {
    let target = Target {
        name: format!("sample-{kind}"),
        spec: spec(sample),
    };
    let limit = target.spec.timeout();
    // Generous on purpose: this catches a hang, it does not time anything.
    let report = tokio::time::timeout(limit + Duration::from_secs(3), target.run())
        .await
        .unwrap_or_else(|_| {
            panic!("{kind} against a {what} ({addr}) did not finish within its timeout")
        });
    assert!(
        !report.findings.is_empty(),
        "{kind} against a {what}: no finding"
    );
    assert_ne!(
        report.status(),
        Status::Ok,
        "{kind} against a {what} must not read as healthy: {report:#?}"
    );
    let all = format!("{report:?}{}", serde_json::to_string(&report).unwrap());
    assert!(
        !all.contains(SECRET),
        "{kind} against a {what} leaked the secret: {report:#?}"
    );
}

#[test]
fn every_kind_has_a_sample() {
    let addr: SocketAddr = "127.0.0.1:9".parse().unwrap();
    for kind in KINDS {
        let samples = dead_samples(kind, addr)
            .unwrap_or_else(|| panic!("add a dead-target sample for `{kind}` to this test"));
        for sample in samples {
            assert_eq!(spec(sample).kind(), *kind);
        }
    }
}

#[tokio::test]
async fn every_kind_reports_a_dead_port_without_leaking() {
    for kind in KINDS {
        check_kind(kind, dead_addr().await, "dead port").await;
    }
}

#[tokio::test]
async fn every_kind_reports_a_silent_server_without_leaking() {
    let addr = silent_addr().await;
    for kind in KINDS {
        check_kind(kind, addr, "silent server").await;
    }
}

//! moto's server mode (a widely used AWS emulator, `pip install
//! 'moto[server]'`), as `scripts/services start` runs it on 55500: the
//! ECS tests set up clusters, services, tasks and log groups there through
//! the same JSON API the SDK speaks, and read back what medic did.
//!
//! Each test uses its own cluster and log group names, so tests share one
//! moto without seeing each other. Without moto a test skips with a note,
//! except under `CI=true`, where it fails.

// Shared with the e2e suite (tests/e2e/main.rs), which uses the rest.
#![allow(dead_code)]

use std::time::Duration;

use medic_commands::diagnostics::ecs::EcsTarget;
use serde_json::{Value, json};

/// Where `scripts/services` starts moto unless told otherwise.
pub const DEFAULT_ENDPOINT: &str = "http://127.0.0.1:55500";
/// The region every test uses.
pub const REGION: &str = "eu-west-1";
/// The access key id every test signs with (moto checks no signature).
pub const ACCESS_KEY_ID: &str = "AKIDMEDICTEST";

fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v == "true" || v == "1")
}

/// A moto server that answered.
#[derive(Debug, Clone)]
pub struct Moto {
    /// Its base URL.
    pub endpoint: String,
    http: reqwest::Client,
}

impl Moto {
    /// The test moto (`MEDIC_TEST_AWS_ENDPOINT`), checked to answer;
    /// `None` (skip) only outside CI.
    pub async fn require() -> Option<Moto> {
        let endpoint = std::env::var("MEDIC_TEST_AWS_ENDPOINT")
            .unwrap_or_else(|_| DEFAULT_ENDPOINT.to_string());
        let http = reqwest::Client::builder()
            .no_proxy()
            .timeout(Duration::from_secs(20))
            .build()
            .unwrap();
        let up = http
            .get(format!("{endpoint}/moto-api/"))
            .send()
            .await
            .is_ok_and(|r| r.status().is_success());
        match up {
            true => Some(Moto { endpoint, http }),
            false if in_ci() => panic!(
                "moto is required at {endpoint} (CI=true: tests never skip). Start it with scripts/services start."
            ),
            false => {
                eprintln!("SKIPPED: no moto at {endpoint}; run scripts/services start.");
                None
            }
        }
    }

    /// A name no other test uses: `prefix-<random>`.
    pub fn unique(prefix: &str) -> String {
        let mut bytes = [0u8; 4];
        getrandom_bytes(&mut bytes);
        format!("{prefix}-{}", hex(&bytes))
    }

    /// One call of the AWS JSON protocol: `service` is the signing name
    /// (`ecs`, `logs`), `target` the X-Amz-Target header.
    pub async fn call(&self, service: &str, target: &str, body: Value) -> Value {
        match self.try_call(service, target, body).await {
            Ok(v) => v,
            Err(e) => panic!("{e}"),
        }
    }

    /// [`Moto::call`], with moto's refusal as the error.
    pub async fn try_call(
        &self,
        service: &str,
        target: &str,
        body: Value,
    ) -> Result<Value, String> {
        // moto routes by the signing scope; it checks no signature.
        let auth = format!(
            "AWS4-HMAC-SHA256 Credential={ACCESS_KEY_ID}/20260101/{REGION}/{service}/aws4_request, SignedHeaders=host;x-amz-date, Signature=0"
        );
        let r = self
            .http
            .post(format!("{}/", self.endpoint))
            .header("content-type", "application/x-amz-json-1.1")
            .header("x-amz-target", target)
            .header("authorization", auth)
            .header("x-amz-date", "20260101T000000Z")
            .body(body.to_string())
            .send()
            .await
            .unwrap_or_else(|e| panic!("{target} on moto: {e}"));
        let status = r.status();
        let text = r.text().await.unwrap();
        if !status.is_success() {
            return Err(format!("{target} on moto: {status} {text}"));
        }
        Ok(serde_json::from_str(&text).unwrap_or(Value::Null))
    }

    /// An ECS call.
    pub async fn ecs(&self, action: &str, body: Value) -> Value {
        self.call(
            "ecs",
            &format!("AmazonEC2ContainerServiceV20141113.{action}"),
            body,
        )
        .await
    }

    /// A CloudWatch Logs call.
    pub async fn logs(&self, action: &str, body: Value) -> Value {
        self.call("logs", &format!("Logs_20140328.{action}"), body)
            .await
    }

    /// A cluster with one service `service` whose task definition has one
    /// container `web` with `memory_mib` and logs in `log_group` under the
    /// stream prefix `ecs`; the service wants 2 tasks (moto starts none,
    /// so its deployment stays IN_PROGRESS).
    pub async fn service(&self, cluster: &str, service: &str, log_group: &str, memory_mib: i64) {
        self.ecs("CreateCluster", json!({ "clusterName": cluster }))
            .await;
        self.ecs(
            "RegisterTaskDefinition",
            json!({
                "family": format!("{cluster}-{service}"),
                "containerDefinitions": [{
                    "name": "web",
                    "image": "registry.example/api:1.4.2",
                    "memory": memory_mib,
                    "essential": true,
                    "logConfiguration": {
                        "logDriver": "awslogs",
                        "options": {
                            "awslogs-group": log_group,
                            "awslogs-region": REGION,
                            "awslogs-stream-prefix": "ecs"
                        }
                    }
                }]
            }),
        )
        .await;
        self.ecs(
            "CreateService",
            json!({
                "cluster": cluster,
                "serviceName": service,
                "taskDefinition": format!("{cluster}-{service}"),
                "desiredCount": 2
            }),
        )
        .await;
    }

    /// Starts one task of `service` (as ECS would, in the group
    /// `service:NAME`) and stops it with `reason`; returns its ARN.
    pub async fn stopped_task(&self, cluster: &str, service: &str, reason: &str) -> String {
        let run = self
            .ecs(
                "RunTask",
                json!({
                    "cluster": cluster,
                    "taskDefinition": format!("{cluster}-{service}"),
                    "launchType": "FARGATE",
                    "group": format!("service:{service}"),
                    "startedBy": "ecs-svc/0000000000000000000",
                    "count": 1
                }),
            )
            .await;
        let arn = run["tasks"][0]["taskArn"].as_str().unwrap().to_string();
        self.ecs(
            "StopTask",
            json!({ "cluster": cluster, "task": arn, "reason": reason }),
        )
        .await;
        arn
    }

    /// Writes `lines` into `group`, in the stream `stream`, each a second
    /// apart and ending a few seconds ago.
    pub async fn log_lines(&self, group: &str, stream: &str, lines: &[&str]) {
        // The group may exist already (another stream of it).
        if let Err(e) = self
            .try_call(
                "logs",
                "Logs_20140328.CreateLogGroup",
                json!({ "logGroupName": group }),
            )
            .await
        {
            assert!(e.contains("ResourceAlreadyExistsException"), "{e}");
        }
        self.logs(
            "CreateLogStream",
            json!({ "logGroupName": group, "logStreamName": stream }),
        )
        .await;
        let now_ms = time::OffsetDateTime::now_utc().unix_timestamp() * 1000;
        let n = lines.len() as i64;
        let events: Vec<Value> = lines
            .iter()
            .enumerate()
            .map(|(i, m)| json!({ "timestamp": now_ms - (n - i as i64 + 2) * 1000, "message": m }))
            .collect();
        self.logs(
            "PutLogEvents",
            json!({ "logGroupName": group, "logStreamName": stream, "logEvents": events }),
        )
        .await;
    }

    /// The service as moto describes it now.
    pub async fn describe_service(&self, cluster: &str, service: &str) -> Value {
        let out = self
            .ecs(
                "DescribeServices",
                json!({ "cluster": cluster, "services": [service] }),
            )
            .await;
        out["services"][0].clone()
    }

    /// The ECS calls of `action` moto recorded that name `cluster`
    /// (moto-api/recorder; `scripts/services` starts moto recording, and
    /// this turns it on for a moto started otherwise).
    pub async fn recorded(&self, action: &str, cluster: &str) -> usize {
        let start = self
            .http
            .post(format!(
                "{}/moto-api/recorder/start-recording",
                self.endpoint
            ))
            .send()
            .await
            .unwrap();
        assert!(start.status().is_success());
        let text = self
            .http
            .get(format!(
                "{}/moto-api/recorder/download-recording",
                self.endpoint
            ))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        let target = format!("AmazonEC2ContainerServiceV20141113.{action}");
        text.lines()
            .filter_map(|l| serde_json::from_str::<Value>(l).ok())
            .filter(|e| {
                e["headers"]
                    .as_object()
                    .and_then(|h| {
                        h.iter()
                            .find(|(k, _)| k.eq_ignore_ascii_case("x-amz-target"))
                    })
                    .is_some_and(|(_, v)| v == target.as_str())
            })
            .filter(|e| body_text(e).contains(&format!("\"{cluster}\"")))
            .count()
    }

    /// A target on this moto for `services` of `cluster`, signed with a
    /// key pair of the target's own.
    pub fn target(&self, cluster: &str, services: &[&str]) -> EcsTarget {
        serde_json::from_value(json!({
            "cluster": cluster,
            "services": services,
            "region": REGION,
            "endpoint_url": self.endpoint,
            "access_key_id": ACCESS_KEY_ID,
            "secret_access_key": "moto-secret-Pa55",
            "timeout": "10s",
        }))
        .expect("target parses")
    }
}

/// A recorded request's body as text (moto base64-encodes bytes).
fn body_text(entry: &Value) -> String {
    let body = entry["body"].as_str().unwrap_or_default();
    if entry["body_encoded"].as_bool() == Some(true) {
        String::from_utf8(base64_decode(body)).unwrap_or_default()
    } else {
        body.to_string()
    }
}

fn base64_decode(s: &str) -> Vec<u8> {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = Vec::new();
    let mut acc = 0u32;
    let mut bits = 0;
    for c in s.bytes() {
        let Some(v) = ALPHABET.iter().position(|&a| a == c) else {
            continue;
        };
        acc = (acc << 6) | v as u32;
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
            acc &= (1 << bits) - 1;
        }
    }
    out
}

fn getrandom_bytes(buf: &mut [u8]) {
    use std::hash::{BuildHasher, Hasher};
    for chunk in buf.chunks_mut(8) {
        let mut h = std::collections::hash_map::RandomState::new().build_hasher();
        h.write_u128(
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_nanos(),
        );
        let v = h.finish().to_le_bytes();
        chunk.copy_from_slice(&v[..chunk.len()]);
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

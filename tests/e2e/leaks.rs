//! What an alert carries in, secrets among it, reaches neither chat nor
//! the database: the redactor runs where the alert enters, on every text
//! of it (title, detail lines, labels, link), whether the secret has a
//! secret's shape (a DSN with a password) or is only known by its value
//! (a token from medic's own configuration).

use std::time::Duration;

use medic_tests::{Options, spawn_medic};
use serde_json::json;

const TOKEN: &str = "am-leak-t0ken";
const CHANNEL: &str = "C0LEAKS";
/// In medic's configuration (Alertmanager's token here), shaped like
/// words: only knowing it masks it.
const KNOWN: &str = "amber-lantern-river-stone";
const DSN_PASSWORD: &str = "hunter2pass";
const LIMIT: Duration = Duration::from_secs(30);

#[tokio::test]
async fn secrets_in_an_alert_reach_neither_chat_nor_the_database() {
    let medic = spawn_medic(Options {
        extra: format!(
            "[alertmanager]\ntoken = \"{TOKEN}\"\n\n\
             [sentry]\nclient_secret = \"{KNOWN}\"\n\n\
             [[routes]]\nmatch = {{}}\nslack_channel = \"{CHANNEL}\"\n\n\
             [incidents]\ndigest_after = 0\n"
        ),
        ..Default::default()
    })
    .await;
    let body = json!({
        "version": "4",
        "groupKey": "{}:{alertname=\"DatabaseDown\"}",
        "status": "firing",
        "receiver": "medic",
        "groupLabels": { "alertname": "DatabaseDown" },
        "commonLabels": {},
        "commonAnnotations": {},
        "externalURL": "http://alertmanager.example:9093",
        "alerts": [{
            "status": "firing",
            "labels": {
                "alertname": "DatabaseDown",
                "severity": "critical",
                "dsn": format!("postgres://app:{DSN_PASSWORD}@db-1:5432/app"),
            },
            "annotations": {
                "summary": format!("cannot log in as app with {KNOWN}"),
                "description": format!("pg: connection to postgres://app:{DSN_PASSWORD}@db-1:5432/app refused\nretry with {KNOWN}"),
            },
            "startsAt": "2026-11-29T20:00:00Z",
            "endsAt": "0001-01-01T00:00:00Z",
            "generatorURL": format!("http://prometheus.example:9090/graph?secret={KNOWN}"),
            "fingerprint": "00000000000000aa",
        }],
    });
    let (status, answer) = medic
        .post_json(
            "/webhooks/alertmanager",
            &[("authorization", format!("Bearer {TOKEN}"))],
            body.to_string().into_bytes(),
        )
        .await;
    assert!((200..300).contains(&status), "{status} {answer}");
    // The root and the alert's detail note in its thread.
    medic
        .slack
        .wait_until("the root and its detail note", LIMIT, |s| {
            let posts = s.posts_in(CHANNEL);
            posts.iter().any(|c| c.thread_ts().is_none())
                && posts
                    .iter()
                    .any(|c| c.thread_ts().is_some() && c.all_text().contains("refused"))
        })
        .await;
    medic.idle().await;
    let said: String = medic
        .slack
        .calls()
        .iter()
        .map(|c| c.body.to_string())
        .collect();
    assert!(said.contains("cannot log in as app with ••••"), "{said}");
    assert!(said.contains("postgres://app:••••@db-1"), "{said}");
    for secret in [KNOWN, DSN_PASSWORD] {
        assert!(!said.contains(secret), "{secret} reached chat: {said}");
    }
    let pool = sqlx::AnyPool::connect(medic.db.url()).await.unwrap();
    let stored: Vec<String> = sqlx::query_scalar(
        "SELECT alerts_json FROM deliveries UNION ALL SELECT alert_json FROM incidents \
         UNION ALL SELECT title FROM incidents UNION ALL SELECT body FROM outbox",
    )
    .fetch_all(&pool)
    .await
    .unwrap();
    assert!(stored.len() >= 4, "{stored:?}");
    for text in &stored {
        for secret in [KNOWN, DSN_PASSWORD] {
            assert!(!text.contains(secret), "{secret} stored: {text}");
        }
    }
    pool.close().await;
    medic.stop().await.unwrap();
}

//! Poison alerts on the real PostgreSQL, whose text columns refuse
//! U+0000: an alert carrying one still reaches its channel (the character
//! replaced where it enters), and a delivery that can never be applied —
//! stored as a medic before that replacement stored it — is parked after a
//! few tries, counted on `/metrics`, and holds up nothing behind it.

use std::time::Duration;

use medic_commands::model::alert::{Alert, AlertSource, AlertState, Severity};
use medic_tests::db::TestDb;
use medic_tests::{Options, TestMedic, spawn_medic};
use sqlx::Connection;

use super::crash::firing;

const TOKEN: &str = "am-poison-t0ken";
const CHANNEL: &str = "C0POISON";
const LIMIT: Duration = Duration::from_secs(30);

async fn medic_on(db: &TestDb) -> TestMedic {
    spawn_medic(Options {
        extra: format!(
            "[alertmanager]\ntoken = \"{TOKEN}\"\n\n\
             [[routes]]\nmatch = {{}}\nslack_channel = \"{CHANNEL}\"\n\n\
             [incidents]\ndigest_after = 0\n"
        ),
        shared_database: Some(db.url().to_string()),
        ..Default::default()
    })
    .await
}

/// Sends one Alertmanager notification; it must be taken.
async fn send(medic: &TestMedic, name: &str, fingerprint: u64) {
    let (status, body) = medic
        .post_json(
            "/webhooks/alertmanager",
            &[("authorization", format!("Bearer {TOKEN}"))],
            firing(name, "t", fingerprint).into_bytes(),
        )
        .await;
    assert!((200..300).contains(&status), "{name}: {status} {body}");
}

/// Waits until every needle is in some root message of the channel.
async fn visible(medic: &TestMedic, needles: &[String]) {
    let needles: Vec<&str> = needles.iter().map(String::as_str).collect();
    medic.slack.wait_for_roots(CHANNEL, &needles, LIMIT).await;
}

#[tokio::test]
async fn an_alert_with_a_nul_reaches_its_channel_and_holds_up_nothing() {
    let Some(db) = TestDb::postgres().await else {
        return;
    };
    let medic = medic_on(&db).await;
    send(&medic, "Poison\u{0}Probe", 1).await;
    let normal: Vec<String> = (0..10).map(|i| format!("NormalProbe{i:02}")).collect();
    for (i, name) in normal.iter().enumerate() {
        send(&medic, name, 100 + i as u64).await;
    }
    let mut all = normal.clone();
    all.push("Poison\u{FFFD}Probe".to_string());
    visible(&medic, &all).await;
    medic.stop().await.unwrap();
    db.drop_database().await;
}

#[tokio::test]
async fn a_delivery_that_can_never_apply_is_parked_and_the_rest_go_on() {
    let Some(db) = TestDb::postgres().await else {
        return;
    };
    let medic = medic_on(&db).await;
    // As a medic before the replacement stored it: pending, with U+0000
    // still in its alert's title. PostgreSQL refuses it as an incident.
    let poison = Alert {
        source: AlertSource::Alertmanager,
        fingerprint: "poison".into(),
        state: AlertState::Firing,
        title: "Stored\u{0}Poison".into(),
        severity: Severity::Critical,
        service: None,
        host: None,
        labels: Vec::new(),
        occurred_at: None,
        link: None,
        details: Vec::new(),
        chain: Vec::new(),
    };
    let mut conn = sqlx::PgConnection::connect(db.url()).await.unwrap();
    sqlx::query(
        "INSERT INTO deliveries (source, delivery_id, received_at, alerts_json, state) \
         VALUES ('alertmanager', 'stored-poison', 0, $1, 'pending')",
    )
    .bind(serde_json::to_string(&vec![poison]).unwrap())
    .execute(&mut conn)
    .await
    .unwrap();

    let normal: Vec<String> = (0..3).map(|i| format!("AfterPoison{i:02}")).collect();
    for (i, name) in normal.iter().enumerate() {
        send(&medic, name, 200 + i as u64).await;
    }
    visible(&medic, &normal).await;
    // Parked after its tries, with why, and counted.
    medic_tests::wait::eventually("the poison parked", LIMIT, || async {
        let metrics = medic.get("/metrics").await.1;
        if metrics.contains("medic_deliveries_parked_total 1") {
            Ok(())
        } else {
            Err("not parked yet".to_string())
        }
    })
    .await;
    let (state, attempts, error): (String, i32, Option<String>) = sqlx::query_as(
        "SELECT state, attempts, error FROM deliveries WHERE delivery_id = 'stored-poison'",
    )
    .fetch_one(&mut conn)
    .await
    .unwrap();
    assert_eq!((state.as_str(), attempts), ("parked", 5));
    assert!(error.is_some_and(|e| !e.is_empty()));
    conn.close().await.unwrap();
    medic.stop().await.unwrap();
    db.drop_database().await;
}

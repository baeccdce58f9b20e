//! What operators and load balancers see: health, readiness, metrics, and
//! clear refusals of bad requests.

use medic_tests::signing::slash_form;
use medic_tests::{CHANNEL, Options, dead_redis_target, spawn_medic, spawn_with_targets};

#[tokio::test]
async fn health_readiness_and_metrics() {
    let medic = spawn_with_targets(dead_redis_target("cache").await).await;
    assert_eq!(medic.get("/healthz").await, (200, "ok\n".to_string()));
    medic.slash("/medic", "help").await;
    medic.slash("/diag", "cache").await;
    medic
        .slack
        .wait_for_posts(CHANNEL, 2, std::time::Duration::from_secs(10))
        .await;
    // Ready, and (one replica) holding every duty: the outbox posted.
    let (status, ready) = medic.get("/readyz").await;
    assert_eq!(status, 200);
    assert!(ready.starts_with("ready\n"), "{ready}");
    assert!(ready.contains("duty: outbox\n"), "{ready}");
    let (status, metrics) = medic.get("/metrics").await;
    assert_eq!(status, 200);
    assert!(
        metrics.contains(r#"medic_duty_held{duty="outbox"} 1"#),
        "{metrics}"
    );
    assert!(
        metrics.contains(r#"medic_http_requests_total{route="/healthz",status="200"} 1"#),
        "{metrics}"
    );
    assert!(
        metrics.contains(r#"medic_http_requests_total{route="/slack/commands",status="200"} 2"#),
        "{metrics}"
    );
    assert!(
        metrics
            .contains(r#"medic_slash_command_acks_total{platform="slack",outcome="accepted"} 1"#),
        "{metrics}"
    );
    assert!(
        metrics.contains(
            r#"medic_diagnostic_duration_seconds_count{kind="redis",status="critical"} 1"#
        ),
        "{metrics}"
    );
    assert!(
        metrics.contains(r#"medic_slash_command_acks_total{platform="slack",outcome="help"} 1"#),
        "{metrics}"
    );
    assert!(
        metrics.contains("medic_slash_command_ack_seconds_bucket"),
        "{metrics}"
    );
    medic.stop().await.unwrap();
}

#[tokio::test]
async fn readiness_fails_when_the_database_is_gone() {
    let medic = spawn_medic(Options::default()).await;
    medic.state.store.close().await;
    let (status, body) = medic.get("/readyz").await;
    assert_eq!((status, body.as_str()), (503, "database unreachable\n"));
    assert_eq!(medic.get("/healthz").await.0, 200, "alive, just not ready");
    medic.stop().await.unwrap();
}

#[tokio::test]
async fn a_body_over_one_mebibyte_is_413() {
    let medic = spawn_medic(Options::default()).await;
    let body = format!(
        "{}&padding={}",
        slash_form("/diag", "redis", CHANNEL, "U1", "a", "http://x/"),
        "x".repeat(1024 * 1024)
    );
    let r = medic
        .post_signed("/slack/commands", &body, medic_tests::now_unix())
        .await;
    assert_eq!(r.status(), 413);
    medic.stop().await.unwrap();
}

#[tokio::test]
async fn a_signed_but_malformed_command_is_400_naming_the_field() {
    let medic = spawn_medic(Options::default()).await;
    let body = "team_id=T1&user_id=U1&command=%2Fdiag&text=redis&response_url=http%3A%2F%2Fx%2F";
    let r = medic
        .post_signed("/slack/commands", body, medic_tests::now_unix())
        .await;
    assert_eq!(r.status(), 400);
    let text = r.text().await.unwrap();
    assert!(text.contains("channel_id"), "{text}");
    medic.stop().await.unwrap();
}

#[tokio::test]
async fn unknown_routes_are_404_and_counted_without_their_path() {
    let medic = spawn_medic(Options::default()).await;
    assert_eq!(medic.get("/wp-admin/setup.php").await.0, 404);
    let metrics = medic.get("/metrics").await.1;
    assert!(
        metrics.contains(r#"route="unmatched",status="404""#),
        "{metrics}"
    );
    assert!(!metrics.contains("wp-admin"));
    medic.stop().await.unwrap();
}

/// The served `POST /slack/commands` skips the router (http::routes); the
/// router still holds the route. Both must answer alike: the same status
/// and body for a signed command, a bad signature and an oversized body,
/// and other methods still get the router's 405.
#[tokio::test]
async fn the_slash_command_route_answers_alike_past_the_router_and_through_it() {
    use http_body_util::BodyExt;
    use tower::ServiceExt;

    let medic = spawn_medic(Options::default()).await;
    let ts = medic_tests::now_unix();
    let help = slash_form("/medic", "help", CHANNEL, "U1", "alice", "http://x/");
    let huge = format!("{help}&padding={}", "x".repeat(1024 * 1024));
    let cases: [(&str, String, bool); 3] = [
        ("signed help", help.clone(), true),
        ("bad signature", help, false),
        ("over 1 MiB", huge, true),
    ];
    for (what, body, signed) in cases {
        let sig = if signed {
            medic_tests::signing::slack_signature(medic_tests::SIGNING_SECRET, ts, body.as_bytes())
        } else {
            "v0=00".to_string()
        };
        let served = medic
            .post_raw(
                "/slack/commands",
                body.clone().into_bytes(),
                Some(ts.to_string()),
                Some(sig.clone()),
            )
            .await;
        let served = (served.status().as_u16(), served.text().await.unwrap());

        let request = axum::http::Request::post("/slack/commands")
            .header("content-type", "application/x-www-form-urlencoded")
            .header("x-slack-request-timestamp", ts.to_string())
            .header("x-slack-signature", sig)
            .body(axum::body::Body::from(body))
            .unwrap();
        let routed = medic::http::router(medic.state.clone())
            .oneshot(request)
            .await
            .unwrap();
        let status = routed.status().as_u16();
        let bytes = routed.into_body().collect().await.unwrap().to_bytes();
        let routed = (status, String::from_utf8_lossy(&bytes).into_owned());
        assert_eq!(served, routed, "{what}");
    }
    let get = medic.get("/slack/commands").await;
    assert_eq!(get.0, 405, "{get:?}");
    medic.stop().await.unwrap();
}

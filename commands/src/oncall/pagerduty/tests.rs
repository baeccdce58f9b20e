use serde_json::json;

use super::parse::Page;
use super::*;

fn ts(s: &str) -> Timestamp {
    s.parse().unwrap()
}

/// The "Response Example" of `listOnCalls` in PagerDuty/api-schema
/// `reference/REST/openapiv3.json` (the page behind
/// developer.pagerduty.com/api-reference/3a6b910f11050), verbatim: no
/// `include[]`, so `user` is a `user_reference`.
fn documented_example() -> serde_json::Value {
    json!({
      "oncalls": [
        {
          "user": {
            "id": "PT23IWX",
            "type": "user_reference",
            "summary": "Tim Wright",
            "self": "https://api.pagerduty.com/users/PT23IWX",
            "html_url": "https://subdomain.pagerduty.com/users/PT23IWX"
          },
          "schedule": {
            "id": "PI7DH85",
            "type": "schedule_reference",
            "summary": "Daily Engineering Rotation",
            "self": "https://api.pagerduty.com/schedules/PI7DH85",
            "html_url": "https://subdomain.pagerduty.com/schedules/PI7DH85"
          },
          "escalation_policy": {
            "id": "PT20YPA",
            "type": "escalation_policy_reference",
            "summary": "Engineering Escalation Policy",
            "self": "https://api.pagerduty.com/escalation_policies/PT20YPA",
            "html_url": "https://subdomain.pagerduty.com/escalation_policies/PT20YPA"
          },
          "escalation_level": 2,
          "start": "2015-03-06T15:28:51-05:00",
          "end": "2015-03-07T15:28:51-05:00"
        }
      ],
      "limit": 25,
      "offset": 0,
      "more": false,
      "total": null
    })
}

fn parse(v: &serde_json::Value) -> Result<Page, ScheduleError> {
    parse_page(&serde_json::to_vec(v).unwrap())
}

#[test]
fn the_documented_example_reads_as_one_shift() {
    let page = parse(&documented_example()).unwrap();
    assert!(!page.more);
    assert_eq!(
        page.shifts,
        vec![Shift {
            user_id: "PT23IWX".into(),
            name: "Tim Wright".into(),
            email: None,
            start: Some(ts("2015-03-06T20:28:51Z")),
            end: Some(ts("2015-03-07T20:28:51Z")),
            escalation_level: 2,
            escalation_policy_id: Some("PT20YPA".into()),
        }]
    );
}

/// With `include[]=users` the user is a full `User` (the `User` schema of
/// the same file: `type: "user"`, `name`, `email`, `time_zone`, ...).
#[test]
fn an_included_user_brings_name_and_email() {
    let mut v = documented_example();
    v["oncalls"][0]["user"] = json!({
        "id": "PT23IWX",
        "type": "user",
        "summary": "Tim Wright",
        "name": "Tim Wright",
        "email": "tim.wright@example.com",
        "time_zone": "America/New_York",
        "role": "user",
        "self": "https://api.pagerduty.com/users/PT23IWX",
        "html_url": "https://subdomain.pagerduty.com/users/PT23IWX"
    });
    let page = parse(&v).unwrap();
    assert_eq!(page.shifts[0].name, "Tim Wright");
    assert_eq!(
        page.shifts[0].email.as_deref(),
        Some("tim.wright@example.com")
    );
}

/// `start`/`end` are `null` for a permanent on-call (the `Oncall`
/// schema's descriptions).
#[test]
fn a_permanent_on_call_has_no_bounds_and_covers_any_time() {
    let mut v = documented_example();
    v["oncalls"][0]["start"] = json!(null);
    v["oncalls"][0]["end"] = json!(null);
    v["more"] = json!(true);
    let page = parse(&v).unwrap();
    assert!(page.more);
    let shift = &page.shifts[0];
    assert_eq!((shift.start, shift.end), (None, None));
    assert!(shift.covers(ts("1999-01-01T00:00:00Z")));
    assert!(shift.covers(ts("2099-01-01T00:00:00Z")));
}

#[test]
fn a_bad_body_names_the_field() {
    let mut v = documented_example();
    v["oncalls"][0]["start"] = json!("yesterday");
    let err = parse(&v).unwrap_err();
    assert!(matches!(err, ScheduleError::BadBody(_)), "{err:?}");
    assert!(err.to_string().contains("oncalls[0].start"), "{err}");

    let mut v = documented_example();
    v["oncalls"][0]["escalation_level"] = json!("two");
    let err = parse(&v).unwrap_err();
    assert!(err.to_string().contains("escalation_level"), "{err}");

    let err = parse(&json!({"incidents": []})).unwrap_err();
    assert!(err.to_string().contains("oncalls"), "{err}");
}

fn shift(user: &str, level: u32, start: &str, end: &str) -> Shift {
    Shift {
        user_id: user.into(),
        name: user.into(),
        email: None,
        start: Some(ts(start)),
        end: Some(ts(end)),
        escalation_level: level,
        escalation_policy_id: None,
    }
}

#[test]
fn at_a_handover_only_the_incoming_person_is_on_call() {
    let shifts = [
        shift("PAAAAAA", 1, "2026-12-06T09:00:00Z", "2026-12-07T09:00:00Z"),
        shift("PBBBBBB", 1, "2026-12-07T09:00:00Z", "2026-12-08T09:00:00Z"),
    ];
    let who = |at: &str| -> Vec<&str> {
        on_call_at(&shifts, ts(at))
            .iter()
            .map(|s| s.user_id.as_str())
            .collect()
    };
    assert_eq!(who("2026-12-07T08:59:59Z"), ["PAAAAAA"]);
    assert_eq!(who("2026-12-07T09:00:00Z"), ["PBBBBBB"]);
    assert_eq!(who("2026-12-07T10:00:00+01:00"), ["PBBBBBB"]);
    assert!(who("2026-12-08T09:00:00Z").is_empty());
}

#[test]
fn on_call_at_lists_each_person_once_lowest_level_first() {
    let day = ("2026-12-06T00:00:00Z", "2026-12-07T00:00:00Z");
    let shifts = [
        shift("PBACKUP", 2, day.0, day.1),
        shift("PPRIMRY", 1, day.0, day.1),
        // The same person through a second policy, at another level.
        shift("PBACKUP", 1, day.0, day.1),
    ];
    let now = on_call_at(&shifts, ts("2026-12-06T12:00:00Z"));
    let who: Vec<(&str, u32)> = now
        .iter()
        .map(|s| (s.user_id.as_str(), s.escalation_level))
        .collect();
    assert_eq!(who, [("PPRIMRY", 1), ("PBACKUP", 1)]);
}

#[test]
fn an_error_status_carries_pagerdutys_message_without_the_token() {
    let token = "y_NbAkKc66ryYTWUXYEu-secret";
    let redactor = Redactor::new().with_secret(token);
    let body = json!({"error": {
        "message": "Authentication failed",
        "code": 2006,
        "errors": [format!("token {token} is not valid")]
    }});
    let err = refused(401, &serde_json::to_vec(&body).unwrap(), &redactor);
    let ScheduleError::Status {
        status,
        code,
        message,
    } = &err
    else {
        panic!("{err:?}")
    };
    assert_eq!((*status, *code), (401, Some(2006)));
    let message = message.as_deref().unwrap();
    assert!(
        message.starts_with("Authentication failed; token "),
        "{message}"
    );
    assert!(!err.to_string().contains(token), "{err}");
    assert!(!format!("{err:?}").contains(token), "{err:?}");

    // A body that is not PagerDuty's (a proxy's page) adds nothing.
    let err = refused(502, b"<html>Bad Gateway</html>", &redactor);
    assert_eq!(err.to_string(), "PagerDuty answered HTTP 502");
}

/// A server that answers every `GET /oncalls` with `body`.
async fn answering(body: serde_json::Value) -> url::Url {
    let app = axum::Router::new().route(
        "/oncalls",
        axum::routing::get(move || {
            let body = body.clone();
            async move { axum::Json(body) }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    url::Url::parse(&format!("http://{addr}/")).unwrap()
}

#[tokio::test]
async fn more_on_an_empty_page_is_a_bad_body_not_a_loop() {
    let url = answering(json!({"oncalls": [], "limit": 100, "offset": 0, "more": true})).await;
    let err = oncalls(
        &reqwest::Client::new(),
        &url,
        &SecretString::from("u+token-0123456789"),
        "PI7DH85",
        ts("2026-12-06T00:00:00Z"),
        ts("2026-12-07T00:00:00Z"),
    )
    .await
    .unwrap_err();
    assert!(matches!(err, ScheduleError::BadBody(_)), "{err:?}");
}

#[tokio::test]
async fn a_closed_port_is_unreachable() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    let url = url::Url::parse(&format!("http://{addr}/")).unwrap();
    let err = oncalls(
        &reqwest::Client::new(),
        &url,
        &SecretString::from("u+token-0123456789"),
        "PI7DH85",
        ts("2026-12-06T00:00:00Z"),
        ts("2026-12-07T00:00:00Z"),
    )
    .await
    .unwrap_err();
    assert!(matches!(err, ScheduleError::Unreachable(_)), "{err:?}");
    assert!(!err.to_string().contains("token-0123456789"), "{err}");
}

//! medic's PagerDuty schedule reader (`medic_commands::oncall::pagerduty`)
//! against the fake's `GET /oncalls`: the reader's requests as PagerDuty
//! documents them, and the fake's answers as PagerDuty gives them.

use std::time::Duration;

use jiff::Timestamp;
use medic_commands::oncall::pagerduty::{PAGE_LIMIT, ScheduleError, Shift, on_call_at, oncalls};
use secrecy::SecretString;

use super::{DEFAULT_LIMIT, FakeOncall, FakePagerDuty, Trouble};

const TOKEN: &str = "y_NbAkKc66ryYTWUXYEu";

fn ts(s: &str) -> Timestamp {
    s.parse().unwrap()
}

async fn read(
    pd: &FakePagerDuty,
    token: &str,
    schedule: &str,
    since: &str,
    until: &str,
) -> Result<Vec<Shift>, ScheduleError> {
    oncalls(
        &reqwest::Client::new(),
        &url::Url::parse(&pd.api_url()).unwrap(),
        &SecretString::from(token),
        schedule,
        ts(since),
        ts(until),
    )
    .await
}

/// `n` back-to-back one-hour periods from 2026-12-06T00:00Z, users `PU0`…
fn hourly(n: usize) -> Vec<FakeOncall> {
    let first = ts("2026-12-06T00:00:00Z");
    (0..n)
        .map(|i| {
            let start = first + jiff::SignedDuration::from_hours(i as i64);
            let end = start + jiff::SignedDuration::from_hours(1);
            FakeOncall::new(
                &format!("PU{i}"),
                &format!("User {i}"),
                &format!("user{i}@example.com"),
                &start.to_string(),
                &end.to_string(),
            )
        })
        .collect()
}

#[tokio::test]
async fn two_shifts_are_read_with_names_emails_and_times() {
    let pd = FakePagerDuty::start(TOKEN).await;
    pd.set_oncalls(
        "PSCHED1",
        vec![
            FakeOncall::new(
                "PADA001",
                "Ada Lovelace",
                "ada@example.com",
                "2026-12-06T09:00:00Z",
                "2026-12-07T09:00:00Z",
            ),
            FakeOncall::new(
                "PGRACE1",
                "Grace Hopper",
                "grace@example.com",
                "2026-12-07T09:00:00Z",
                "2026-12-08T09:00:00Z",
            ),
            // Outside the window asked for.
            FakeOncall::new(
                "PLATE01",
                "Late Person",
                "late@example.com",
                "2026-12-20T09:00:00Z",
                "2026-12-21T09:00:00Z",
            ),
        ],
    );
    // Another schedule's people are not this schedule's.
    pd.set_oncalls("POTHER1", hourly(3));

    let shifts = read(
        &pd,
        TOKEN,
        "PSCHED1",
        "2026-12-06T00:00:00Z",
        "2026-12-08T00:00:00Z",
    )
    .await
    .unwrap();
    assert_eq!(
        shifts,
        vec![
            Shift {
                user_id: "PADA001".into(),
                name: "Ada Lovelace".into(),
                email: Some("ada@example.com".into()),
                start: Some(ts("2026-12-06T09:00:00Z")),
                end: Some(ts("2026-12-07T09:00:00Z")),
                escalation_level: 1,
                escalation_policy_id: Some("PEP0001".into()),
            },
            Shift {
                user_id: "PGRACE1".into(),
                name: "Grace Hopper".into(),
                email: Some("grace@example.com".into()),
                start: Some(ts("2026-12-07T09:00:00Z")),
                end: Some(ts("2026-12-08T09:00:00Z")),
                escalation_level: 1,
                escalation_policy_id: Some("PEP0001".into()),
            },
        ]
    );
    let now = on_call_at(&shifts, ts("2026-12-07T12:00:00Z"));
    assert_eq!(now.len(), 1);
    assert_eq!(now[0].name, "Grace Hopper");

    let calls = pd.oncalls_calls();
    assert_eq!(calls.len(), 1);
    let call = &calls[0];
    assert_eq!(call.status, 200);
    assert_eq!(
        call.authorization.as_deref(),
        Some(format!("Token token={TOKEN}").as_str())
    );
    assert_eq!(
        call.accept.as_deref(),
        Some("application/vnd.pagerduty+json;version=2")
    );
    assert_eq!(call.from, None, "a read sends no From");
    assert_eq!(call.params("schedule_ids[]"), ["PSCHED1"]);
    assert_eq!(call.params("include[]"), ["users"]);
    assert_eq!(call.params("since"), ["2026-12-06T00:00:00Z"]);
    assert_eq!(call.params("until"), ["2026-12-08T00:00:00Z"]);
}

#[tokio::test]
async fn every_page_is_followed() {
    let pd = FakePagerDuty::start(TOKEN).await;
    pd.set_oncalls("PSCHED1", hourly(130));
    let shifts = read(
        &pd,
        TOKEN,
        "PSCHED1",
        "2026-12-06T00:00:00Z",
        "2026-12-13T00:00:00Z",
    )
    .await
    .unwrap();
    let users: Vec<String> = shifts.iter().map(|s| s.user_id.clone()).collect();
    let expected: Vec<String> = (0..130).map(|i| format!("PU{i}")).collect();
    assert_eq!(users, expected, "all of them, once each, in order");

    let calls = pd.oncalls_calls();
    let pages: Vec<(Vec<&str>, Vec<&str>)> = calls
        .iter()
        .map(|c| (c.params("limit"), c.params("offset")))
        .collect();
    let limit = PAGE_LIMIT.to_string();
    assert_eq!(
        pages,
        [
            (vec![limit.as_str()], vec!["0"]),
            (vec![limit.as_str()], vec!["100"])
        ]
    );
}

/// What the reader does not ask for, the fake still answers as
/// PagerDuty does: 25 a page by default, references without `email`.
#[tokio::test]
async fn the_fake_pages_by_25_by_default_and_sends_references_without_include() {
    let pd = FakePagerDuty::start(TOKEN).await;
    pd.set_oncalls("PSCHED1", hourly(30));
    let get = |offset: usize| {
        reqwest::Client::new()
            .get(format!(
                "{}oncalls?schedule_ids[]=PSCHED1&since=2026-12-06T00:00:00Z&until=2026-12-08T00:00:00Z&offset={offset}",
                pd.api_url()
            ))
            .header("authorization", format!("Token token={TOKEN}"))
            .header("accept", "application/vnd.pagerduty+json;version=2")
            .send()
    };
    let first: serde_json::Value = get(0).await.unwrap().json().await.unwrap();
    assert_eq!(first["oncalls"].as_array().unwrap().len(), DEFAULT_LIMIT);
    assert_eq!(
        (&first["limit"], &first["offset"], &first["more"]),
        (&25.into(), &0.into(), &true.into())
    );
    let user = &first["oncalls"][0]["user"];
    assert_eq!(user["type"], "user_reference");
    assert_eq!(user["summary"], "User 0");
    assert!(user.get("email").is_none());
    assert_eq!(first["oncalls"][0]["start"], "2026-12-05T19:00:00-05:00");

    let last: serde_json::Value = get(25).await.unwrap().json().await.unwrap();
    assert_eq!(last["oncalls"].as_array().unwrap().len(), 5);
    assert_eq!(last["more"], false);
}

#[tokio::test]
async fn a_wrong_token_is_a_401_with_pagerdutys_message_and_no_token() {
    let pd = FakePagerDuty::start(TOKEN).await;
    pd.set_oncalls("PSCHED1", hourly(2));
    let wrong = "u+wrong-token-0123456789";
    let err = read(
        &pd,
        wrong,
        "PSCHED1",
        "2026-12-06T00:00:00Z",
        "2026-12-07T00:00:00Z",
    )
    .await
    .unwrap_err();
    match &err {
        ScheduleError::Status {
            status,
            code,
            message,
        } => {
            assert_eq!((*status, *code), (401, Some(2006)));
            assert_eq!(message.as_deref(), Some("Authentication failed"));
        }
        other => panic!("{other:?}"),
    }
    assert!(!err.to_string().contains(wrong), "{err}");
    assert_eq!(pd.oncalls_calls()[0].status, 401);
}

#[tokio::test]
async fn a_server_error_and_rate_limiting_are_typed() {
    let pd = FakePagerDuty::start(TOKEN).await;
    pd.set_oncalls("PSCHED1", hourly(2));
    let window = ("2026-12-06T00:00:00Z", "2026-12-07T00:00:00Z");

    pd.then(Trouble::Status(500));
    let err = read(&pd, TOKEN, "PSCHED1", window.0, window.1)
        .await
        .unwrap_err();
    assert!(
        matches!(err, ScheduleError::Status { status: 500, .. }),
        "{err:?}"
    );

    pd.then(Trouble::RateLimited { seconds: 7 });
    let err = read(&pd, TOKEN, "PSCHED1", window.0, window.1)
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            ScheduleError::RateLimited {
                retry_after: Some(d)
            } if d == Duration::from_secs(7)
        ),
        "{err:?}"
    );

    // The trouble is spent: the next read succeeds, one call each.
    let shifts = read(&pd, TOKEN, "PSCHED1", window.0, window.1)
        .await
        .unwrap();
    assert_eq!(shifts.len(), 2);
    let statuses: Vec<u16> = pd.oncalls_calls().iter().map(|c| c.status).collect();
    assert_eq!(statuses, [500, 429, 200]);
}

#[tokio::test]
async fn a_window_ending_before_it_starts_is_pagerdutys_400() {
    let pd = FakePagerDuty::start(TOKEN).await;
    let err = read(
        &pd,
        TOKEN,
        "PSCHED1",
        "2026-12-07T00:00:00Z",
        "2026-12-06T00:00:00Z",
    )
    .await
    .unwrap_err();
    match err {
        ScheduleError::Status {
            status: 400,
            code: Some(2001),
            message: Some(m),
        } => assert!(m.contains("until cannot be before since"), "{m}"),
        other => panic!("{other:?}"),
    }
}

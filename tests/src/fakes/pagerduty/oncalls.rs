//! `GET /oncalls` of the fake PagerDuty: "List all of the on-calls"
//! (<https://developer.pagerduty.com/api-reference/3a6b910f11050-list-all-of-the-on-calls>;
//! `listOnCalls` in PagerDuty/api-schema `reference/REST/openapiv3.json`).
//!
//! Faithful where a reader of schedules could go wrong:
//! - the same `Authorization` (401, code 2006) and `Accept` (406) checks
//!   as `PUT /incidents/{id}`; no `From` (a read needs none);
//! - `schedule_ids[]` filters (none given: every schedule), and only
//!   periods overlapping `since`..`until` are listed (both default to now,
//!   as PagerDuty's do; `until` before `since` is a 400, code 2001);
//! - `include[]=users` turns each `user_reference` (`summary` only) into a
//!   full user (`name`, `email`), the shapes of the `UserReference` and
//!   `User` schemas; `start`/`end` are `null` for a permanent on-call and
//!   otherwise carry an offset (`-05:00`, as in the documented example), not
//!   `Z`;
//! - classic offset pagination (<https://developer.pagerduty.com/docs/pagination>):
//!   `limit` 25 by default and at most 100, `offset`, `more`, and
//!   `total: null` (PagerDuty fills it only with `total=true`).
//!
//! Left out: `user_ids[]`, `escalation_policy_ids[]`, `earliest`,
//! `time_zone` and the 90-day limit on the window; medic does not use them.

use std::sync::Arc;

use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use jiff::Timestamp;
use serde_json::{Value, json};

use super::super::vendor::{VendorCall, header, trouble_response};
use super::{ACCEPT_V2, Inner, error};

/// PagerDuty's page size when the request names none.
pub const DEFAULT_LIMIT: usize = 25;

/// The most PagerDuty lists on one page, whatever `limit` asks.
pub const MAX_LIMIT: usize = 100;

/// One on-call period a test puts on a schedule.
#[derive(Debug, Clone)]
pub struct FakeOncall {
    /// The PagerDuty user id (`PT23IWX`).
    pub user_id: String,
    /// The user's name (`summary` and `name` on the wire).
    pub name: String,
    /// The user's login email, sent only with `include[]=users`.
    pub email: String,
    /// The escalation level the schedule sits at.
    pub escalation_level: u32,
    /// The escalation policy this period comes from.
    pub escalation_policy_id: String,
    /// `None`: a permanent on-call.
    pub start: Option<Timestamp>,
    /// `None`: does not go off call.
    pub end: Option<Timestamp>,
}

impl FakeOncall {
    /// `name` (`user_id`, `email`) on call from `start` to `end`, at level 1
    /// of escalation policy `PEP0001`.
    pub fn new(user_id: &str, name: &str, email: &str, start: &str, end: &str) -> FakeOncall {
        let at = |t: &str| Some(t.parse::<Timestamp>().expect("an RFC 3339 timestamp"));
        FakeOncall {
            user_id: user_id.into(),
            name: name.into(),
            email: email.into(),
            escalation_level: 1,
            escalation_policy_id: "PEP0001".into(),
            start: at(start),
            end: at(end),
        }
    }

    /// The same period at escalation level `level`.
    pub fn level(mut self, level: u32) -> FakeOncall {
        self.escalation_level = level;
        self
    }

    /// Whether the period overlaps `since`..`until`: an instant when they
    /// are equal (who is on call now), otherwise the half-open range.
    fn overlaps(&self, since: Timestamp, until: Timestamp) -> bool {
        let starts = self.start.is_none_or(|s| s < until || s == since);
        starts && self.end.is_none_or(|e| e > since)
    }

    fn wire(&self, schedule: &str, users: bool) -> Value {
        let offset = jiff::tz::offset(-5);
        let at = |t: Option<Timestamp>| t.map(|t| t.display_with_offset(offset).to_string());
        let user = if users {
            json!({
                "id": self.user_id,
                "type": "user",
                "summary": self.name,
                "name": self.name,
                "email": self.email,
                "time_zone": "America/New_York",
                "role": "user",
                "self": format!("https://api.pagerduty.com/users/{}", self.user_id),
                "html_url": format!("https://subdomain.pagerduty.com/users/{}", self.user_id),
            })
        } else {
            json!({
                "id": self.user_id,
                "type": "user_reference",
                "summary": self.name,
                "self": format!("https://api.pagerduty.com/users/{}", self.user_id),
                "html_url": format!("https://subdomain.pagerduty.com/users/{}", self.user_id),
            })
        };
        let policy = &self.escalation_policy_id;
        json!({
            "user": user,
            "schedule": {
                "id": schedule,
                "type": "schedule_reference",
                "summary": format!("Schedule {schedule}"),
                "self": format!("https://api.pagerduty.com/schedules/{schedule}"),
                "html_url": format!("https://subdomain.pagerduty.com/schedules/{schedule}"),
            },
            "escalation_policy": {
                "id": policy,
                "type": "escalation_policy_reference",
                "summary": format!("Policy {policy}"),
                "self": format!("https://api.pagerduty.com/escalation_policies/{policy}"),
                "html_url": format!("https://subdomain.pagerduty.com/escalation_policies/{policy}"),
            },
            "escalation_level": self.escalation_level,
            "start": at(self.start),
            "end": at(self.end),
        })
    }
}

/// PagerDuty's answer to a bad argument: 400, code 2001, with the detail.
fn invalid(why: &str) -> (u16, Response) {
    let body =
        json!({"error": {"message": "Invalid Input Provided", "code": 2001, "errors": [why]}});
    (
        400,
        (StatusCode::BAD_REQUEST, axum::Json(body)).into_response(),
    )
}

/// The page a well-formed request asks for.
fn list(inner: &Inner, params: &[(String, String)]) -> (u16, Response) {
    let all = |name: &str| -> Vec<&str> {
        params
            .iter()
            .filter(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
            .collect()
    };
    let one = |name: &str| all(name).first().copied();
    let now = Timestamp::now();
    let time = |name: &str| match one(name) {
        None => Ok(now),
        Some(t) => t
            .parse::<Timestamp>()
            .map_err(|_| format!("{name} is invalid")),
    };
    let number = |name: &str, default: usize| match one(name) {
        None => Ok(default),
        Some(n) => n.parse::<usize>().map_err(|_| format!("{name} is invalid")),
    };
    let parsed = (|| {
        let limit = number("limit", DEFAULT_LIMIT)?.clamp(1, MAX_LIMIT);
        Ok::<_, String>((time("since")?, time("until")?, limit, number("offset", 0)?))
    })();
    let (since, until, limit, offset) = match parsed {
        Ok(p) => p,
        Err(why) => return invalid(&why),
    };
    if until < since {
        return invalid("until cannot be before since");
    }
    let wanted = all("schedule_ids[]");
    let users = all("include[]").contains(&"users");
    let schedules = inner.schedules.lock().unwrap();
    let matching: Vec<Value> = schedules
        .iter()
        .filter(|(id, _)| wanted.is_empty() || wanted.contains(&id.as_str()))
        .flat_map(|(id, periods)| {
            periods
                .iter()
                .filter(|p| p.overlaps(since, until))
                .map(|p| p.wire(id, users))
        })
        .collect();
    let page: Vec<Value> = matching.iter().skip(offset).take(limit).cloned().collect();
    let more = offset + page.len() < matching.len();
    let body = json!({
        "oncalls": page,
        "limit": limit,
        "offset": offset,
        "more": more,
        "total": null,
    });
    (200, axum::Json(body).into_response())
}

/// `GET /oncalls`.
pub(super) async fn oncalls(
    State(inner): State<Arc<Inner>>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
) -> Response {
    let query: Vec<(String, String)> =
        url::form_urlencoded::parse(query.unwrap_or_default().as_bytes())
            .into_owned()
            .collect();
    let authorization = header(&headers, "authorization");
    let accept = header(&headers, "accept");
    let (status, response) =
        if authorization.as_deref() != Some(format!("Token token={}", inner.token).as_str()) {
            error(401, "Authentication failed", 2006)
        } else if accept.as_deref() != Some(ACCEPT_V2) {
            error(406, "Accept must ask for version=2", 2001)
        } else if let Some(t) = inner.recorder.next_trouble() {
            trouble_response(
                t,
                json!({"error": {"message": "Scripted trouble", "code": 2000}}),
            )
        } else {
            list(&inner, &query)
        };
    inner.recorder.record(VendorCall {
        method: "GET".into(),
        path: "/oncalls".into(),
        query,
        authorization,
        from: header(&headers, "from"),
        accept,
        body: Value::Null,
        status,
    });
    response
}

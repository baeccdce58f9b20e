//! Purpose: who is on call on a PagerDuty schedule, for the rotations kept
//! in PagerDuty (`pagerduty_schedule = "P…"`) rather than as a member list.
//!
//! PagerDuty REST API v2, "List all of the on-calls"
//! (<https://developer.pagerduty.com/api-reference/3a6b910f11050-list-all-of-the-on-calls>,
//! `listOnCalls` in PagerDuty/api-schema `reference/REST/openapiv3.json`):
//! `GET /oncalls?schedule_ids[]=ID&since=…&until=…&include[]=users`, with the
//! same `Authorization: Token token=…` and
//! `Accept: application/vnd.pagerduty+json;version=2` as the incident
//! actions (`actions::pagerduty`). A read needs no `From`, so this takes the
//! URL and token rather than `actions::vendor::PagerDutyApi`, which cannot
//! exist without `pagerduty.from`. The answer is
//! `{"oncalls": [{"user", "schedule", "escalation_policy",
//! "escalation_level", "start", "end"}], "limit", "offset", "more", "total"}`;
//! `start`/`end` are `null` for a permanent on-call, and `user` is a full
//! user (`name`, `email`) with `include[]=users`, otherwise a reference
//! whose `summary` is the name. Pages follow PagerDuty's classic offset
//! pagination (<https://developer.pagerduty.com/docs/pagination>): `limit`
//! 25 by default, 100 at most, `more` while there is another page.
//!
//! What this returns, and why:
//! - every on-call entry in the window, at every escalation level and
//!   for every escalation policy that uses the schedule. The rotation
//!   decides what it needs: a schedule placed at level 2 of its policy has
//!   no level-1 entries, so filtering on level 1 here would show nobody.
//!   [`on_call_at`] answers "who, right now".
//! - an empty list for a schedule that is on no escalation policy: PagerDuty
//!   computes on-calls from policies, so such a schedule has none. That is
//!   PagerDuty's answer, not an error.
//! - no retry on a `429`: [`ScheduleError::RateLimited`] carries the
//!   `Retry-After` and the caller (a periodic job, or a user's `/oncall`)
//!   decides. Nobody is waiting on a button here, unlike the incident
//!   actions.

use std::collections::HashSet;
use std::time::Duration;

use jiff::Timestamp;
use secrecy::{ExposeSecret, SecretString};

use crate::actions::vendor::join;
use crate::redact::Redactor;

mod parse;

use parse::{parse_page, refused};

/// The page size medic asks for: PagerDuty's largest. `/oncalls` has its
/// own per-operation rate limit, so fewer, larger pages.
pub const PAGE_LIMIT: usize = 100;

/// PagerDuty's classic pagination refuses `offset + limit` past 10,000;
/// medic stops before asking for a page PagerDuty would refuse.
const MAX_OFFSET: usize = 10_000;

/// The most of one page medic reads: a page of shifts is a few KiB.
const PAGE_CAP: usize = 4 << 20;

/// How long one page may take. The shared client has its own timeout,
/// but a rotation must not hang on a client built without one.
const PAGE_TIMEOUT: Duration = Duration::from_secs(10);

/// The `Accept` header that selects REST API v2.
const ACCEPT_V2: &str = "application/vnd.pagerduty+json;version=2";

/// One person's on-call period on the schedule, as PagerDuty computed it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Shift {
    /// The PagerDuty user id (`PT23IWX`).
    pub user_id: String,
    /// The user's name (`summary` when PagerDuty sent only a reference).
    pub name: String,
    /// The user's login email, which is how medic matches a PagerDuty user
    /// to a chat user; `None` when PagerDuty sent only a reference.
    pub email: Option<String>,
    /// When the period starts; `None`: permanently on call.
    pub start: Option<Timestamp>,
    /// When the period ends; `None`: does not go off call.
    pub end: Option<Timestamp>,
    /// The escalation level the schedule sits at (1 is paged first).
    pub escalation_level: u32,
    /// The escalation policy this entry comes from. A schedule used by two
    /// policies yields each period twice; this tells them apart.
    pub escalation_policy_id: Option<String>,
}

impl Shift {
    /// Whether the shift covers `at`: from its start (inclusive) to its end
    /// (exclusive), so at a handover only the incoming person is on call.
    pub fn covers(&self, at: Timestamp) -> bool {
        self.start.is_none_or(|s| s <= at) && self.end.is_none_or(|e| at < e)
    }
}

/// Why the on-calls could not be read. No variant's text holds the token.
#[derive(Debug, thiserror::Error)]
pub enum ScheduleError {
    /// PagerDuty did not answer in time; worth trying again later.
    #[error("PagerDuty did not answer in time")]
    Timeout,
    /// No connection (DNS, refused, TLS): PagerDuty or the network is
    /// down, or `pagerduty.api_url` is wrong.
    #[error("PagerDuty is unreachable: {0}")]
    Unreachable(String),
    /// PagerDuty is rate limiting the token; try again after `retry_after`.
    #[error("PagerDuty is rate limiting medic (HTTP 429)")]
    RateLimited {
        /// PagerDuty's `Retry-After`, when it sent one.
        retry_after: Option<Duration>,
    },
    /// Any other error status: 401 the token is wrong, 403 it may not read
    /// on-calls (`oncalls.read`), 400 the schedule id or the window.
    #[error(
        "PagerDuty answered HTTP {status}{}",
        .message.as_deref().map(|m| format!(": {m}")).unwrap_or_default()
    )]
    Status {
        /// The HTTP status.
        status: u16,
        /// PagerDuty's error code (`2006`: authentication failed).
        code: Option<u32>,
        /// PagerDuty's error message and details, token redacted.
        message: Option<String>,
    },
    /// A success whose body is not the documented list of on-calls.
    #[error("PagerDuty's answer is not a list of on-calls: {0}")]
    BadBody(String),
}

/// Every on-call entry of `schedule` overlapping `since`..`until`, all
/// pages, in PagerDuty's order. See the module doc for what is kept.
pub async fn oncalls(
    http: &reqwest::Client,
    api_url: &url::Url,
    token: &SecretString,
    schedule: &str,
    since: Timestamp,
    until: Timestamp,
) -> Result<Vec<Shift>, ScheduleError> {
    let url = join(api_url, "oncalls").map_err(ScheduleError::Unreachable)?;
    let redactor = Redactor::new().with_secret(token.expose_secret());
    let (since, until) = (since.to_string(), until.to_string());
    let mut shifts = Vec::new();
    let mut offset = 0;
    loop {
        let resp = http
            .get(url.clone())
            .query(&[
                ("schedule_ids[]", schedule),
                ("since", &since),
                ("until", &until),
                ("include[]", "users"),
                ("limit", &PAGE_LIMIT.to_string()),
                ("offset", &offset.to_string()),
            ])
            .header(
                reqwest::header::AUTHORIZATION,
                format!("Token token={}", token.expose_secret()),
            )
            .header(reqwest::header::ACCEPT, ACCEPT_V2)
            .timeout(PAGE_TIMEOUT)
            .send()
            .await
            .map_err(|e| transport(e, &redactor))?;
        let status = resp.status().as_u16();
        let retry_after = resp
            .headers()
            .get(reqwest::header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok())
            .map(Duration::from_secs);
        let body = crate::http_body::read_capped(resp, PAGE_CAP)
            .await
            .map_err(|e| transport(e, &redactor))?;
        if body.truncated {
            return Err(ScheduleError::BadBody(format!(
                "a page longer than {} MiB",
                PAGE_CAP >> 20
            )));
        }
        let body = body.bytes;
        if status == 429 {
            return Err(ScheduleError::RateLimited { retry_after });
        }
        if !(200..300).contains(&status) {
            return Err(refused(status, &body, &redactor));
        }
        let page = parse_page(&body)?;
        let got = page.shifts.len();
        shifts.extend(page.shifts);
        if !page.more {
            return Ok(shifts);
        }
        if got == 0 {
            return Err(ScheduleError::BadBody(
                "`more` is true on an empty page".into(),
            ));
        }
        offset += got;
        if offset + PAGE_LIMIT > MAX_OFFSET {
            return Err(ScheduleError::BadBody(format!(
                "more than {offset} on-calls in the window; ask for a shorter one"
            )));
        }
    }
}

/// Who is on call at `at`: one entry per person, the lowest escalation
/// level first (the person paged first leads), then PagerDuty's order. A
/// person on the schedule through two policies is listed once, at the
/// lower level.
pub fn on_call_at(shifts: &[Shift], at: Timestamp) -> Vec<&Shift> {
    let mut now: Vec<&Shift> = shifts.iter().filter(|s| s.covers(at)).collect();
    now.sort_by_key(|s| s.escalation_level);
    let mut seen = HashSet::new();
    now.retain(|s| seen.insert(s.user_id.as_str()));
    now
}

/// A failed exchange: timed out, or why the connection failed. The URL is
/// left out (it adds nothing to "unreachable"); the token is never in the
/// error, and the redactor runs anyway.
fn transport(e: reqwest::Error, redactor: &Redactor) -> ScheduleError {
    if e.is_timeout() {
        return ScheduleError::Timeout;
    }
    let e = e.without_url();
    let mut why = e.to_string();
    let mut source = std::error::Error::source(&e);
    while let Some(s) = source {
        why.push_str(": ");
        why.push_str(&s.to_string());
        source = s.source();
    }
    ScheduleError::Unreachable(redactor.redact(&why))
}

#[cfg(test)]
mod tests;

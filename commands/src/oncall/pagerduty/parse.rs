//! Reading PagerDuty's answers to `GET /oncalls`: a page of on-calls, or
//! an error body. The shapes are `listOnCalls`'s in PagerDuty/api-schema
//! `reference/REST/openapiv3.json` (its `Oncall`, `UserReference`, `User`
//! and error schemas).

use jiff::Timestamp;
use serde::Deserialize;

use super::{ScheduleError, Shift};
use crate::redact::Redactor;

/// One page, read.
#[derive(Debug)]
pub(super) struct Page {
    pub(super) shifts: Vec<Shift>,
    pub(super) more: bool,
}

/// The wire shapes, as `listOnCalls` documents them; unknown fields are
/// ignored, as PagerDuty adds them.
mod wire {
    use serde::Deserialize;

    #[derive(Deserialize)]
    pub(super) struct Page {
        pub oncalls: Vec<Oncall>,
        /// Absent on a non-paginated answer: then there is no next page.
        #[serde(default)]
        pub more: bool,
    }

    #[derive(Deserialize)]
    pub(super) struct Oncall {
        pub user: User,
        pub escalation_policy: Option<Reference>,
        pub escalation_level: u32,
        pub start: Option<String>,
        pub end: Option<String>,
    }

    /// A full user (`include[]=users`) or a `user_reference`.
    #[derive(Deserialize)]
    pub(super) struct User {
        pub id: String,
        pub name: Option<String>,
        pub summary: Option<String>,
        pub email: Option<String>,
    }

    #[derive(Deserialize)]
    pub(super) struct Reference {
        pub id: String,
    }
}

/// Reads one page of `/oncalls`; a bad field is named by its path.
pub(super) fn parse_page(body: &[u8]) -> Result<Page, ScheduleError> {
    let mut de = serde_json::Deserializer::from_slice(body);
    let page: wire::Page = serde_path_to_error::deserialize(&mut de)
        .map_err(|e| ScheduleError::BadBody(e.to_string()))?;
    let shifts = page
        .oncalls
        .into_iter()
        .enumerate()
        .map(|(i, o)| {
            let at = |field: &str, text: Option<String>| -> Result<_, ScheduleError> {
                text.map(|t| {
                    t.parse::<Timestamp>().map_err(|e| {
                        ScheduleError::BadBody(format!("oncalls[{i}].{field}: `{t}`: {e}"))
                    })
                })
                .transpose()
            };
            Ok(Shift {
                start: at("start", o.start)?,
                end: at("end", o.end)?,
                name: o
                    .user
                    .name
                    .or(o.user.summary)
                    .unwrap_or_else(|| o.user.id.clone()),
                user_id: o.user.id,
                email: o.user.email,
                escalation_level: o.escalation_level,
                escalation_policy_id: o.escalation_policy.map(|p| p.id),
            })
        })
        .collect::<Result<_, ScheduleError>>()?;
    Ok(Page {
        shifts,
        more: page.more,
    })
}

/// PagerDuty's error body: `{"error": {"message", "code", "errors": [...]}}`.
#[derive(Deserialize)]
struct ErrorBody {
    error: ErrorDetail,
}

#[derive(Deserialize)]
struct ErrorDetail {
    message: Option<String>,
    code: Option<u32>,
    #[serde(default)]
    errors: Vec<String>,
}

/// An error status, with PagerDuty's message when the body carries one.
/// Anything else in the body is dropped: a proxy's HTML page says nothing
/// a user can act on.
pub(super) fn refused(status: u16, body: &[u8], redactor: &Redactor) -> ScheduleError {
    let detail = serde_json::from_slice::<ErrorBody>(body)
        .ok()
        .map(|b| b.error);
    let code = detail.as_ref().and_then(|d| d.code);
    let message = detail.and_then(|d| {
        let mut parts: Vec<String> = d.message.into_iter().collect();
        parts.extend(d.errors);
        (!parts.is_empty()).then(|| redactor.redact(&parts.join("; ")))
    });
    ScheduleError::Status {
        status,
        code,
        message,
    }
}

//! Purpose: the `pagerduty.acknowledge`, `pagerduty.resolve` and
//! `pagerduty.reassign` built-ins, offered in a PagerDuty incident's thread
//! and acting on that incident.
//!
//! PagerDuty REST API v2, "Update an incident"
//! (<https://developer.pagerduty.com/api-reference/8a0e1aa2ec666-update-an-incident>):
//! `PUT /incidents/{id}` with `Authorization: Token token=…`,
//! `Accept: application/vnd.pagerduty+json;version=2`, and `From:` the
//! email of a PagerDuty user (required for account-level API keys: the
//! change is recorded as made by that user). The body is
//! `{"incident": {"type": "incident_reference", "status": "acknowledged"}}`
//! (or `"resolved"`); a reassignment sends
//! `"assignments": [{"assignee": {"id": USER, "type": "user_reference"}}]`.

use serde_json::json;

use super::vendor::{PagerDutyApi, VendorRequest, expose, join, plain_id};

/// What a PagerDuty built-in does to the incident.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Op {
    /// Stops the escalation: someone is on it.
    Acknowledge,
    /// Closes the incident.
    Resolve,
    /// Assigns the incident to this PagerDuty user (`assign_to`).
    Reassign {
        /// A PagerDuty user id (`PXPGF42`).
        user: String,
    },
}

impl Op {
    /// The kind's name in config.
    pub fn kind(&self) -> &'static str {
        match self {
            Op::Acknowledge => "pagerduty.acknowledge",
            Op::Resolve => "pagerduty.resolve",
            Op::Reassign { .. } => "pagerduty.reassign",
        }
    }
}

/// Whether `user` looks like a PagerDuty user id: upper-case letters and
/// digits (`PXPGF42`), which is also all a URL or JSON needs to carry it.
pub fn valid_user_id(user: &str) -> bool {
    (2..=20).contains(&user.len())
        && user
            .chars()
            .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit())
}

/// The request that applies `op` to incident `id`.
pub fn request(api: &PagerDutyApi, op: &Op, id: &str) -> Result<VendorRequest, String> {
    if !plain_id(id) {
        return Err(format!("`{id}` is not a PagerDuty incident id"));
    }
    let mut incident = json!({ "type": "incident_reference" });
    match op {
        Op::Acknowledge => incident["status"] = json!("acknowledged"),
        Op::Resolve => incident["status"] = json!("resolved"),
        Op::Reassign { user } => {
            if !valid_user_id(user) {
                return Err(format!("`{user}` is not a PagerDuty user id"));
            }
            incident["assignments"] =
                json!([{ "assignee": { "id": user, "type": "user_reference" } }]);
        }
    }
    let token = expose(&api.token);
    Ok(VendorRequest {
        method: reqwest::Method::PUT,
        url: join(&api.url, &format!("incidents/{id}"))?,
        headers: vec![
            ("authorization", format!("Token token={token}")),
            ("accept", "application/vnd.pagerduty+json;version=2".into()),
            ("from", api.from.clone()),
        ],
        body: json!({ "incident": incident }),
        secret: token,
    })
}

#[cfg(test)]
mod tests {
    use secrecy::SecretString;

    use super::*;

    fn api() -> PagerDutyApi {
        PagerDutyApi {
            url: url::Url::parse("http://127.0.0.1:9/").unwrap(),
            token: SecretString::from("y_NbAkKc66ryYTWUXYEu"),
            from: "oncall@example.com".into(),
        }
    }

    fn header<'a>(r: &'a VendorRequest, name: &str) -> &'a str {
        r.headers
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| v.as_str())
            .unwrap_or_else(|| panic!("no {name} header"))
    }

    #[test]
    fn acknowledge_is_a_put_of_the_status_with_token_and_from() {
        let r = request(&api(), &Op::Acknowledge, "PGR0VU2").unwrap();
        assert_eq!(r.method, reqwest::Method::PUT);
        assert_eq!(r.url.as_str(), "http://127.0.0.1:9/incidents/PGR0VU2");
        assert_eq!(
            header(&r, "authorization"),
            "Token token=y_NbAkKc66ryYTWUXYEu"
        );
        assert_eq!(
            header(&r, "accept"),
            "application/vnd.pagerduty+json;version=2"
        );
        assert_eq!(header(&r, "from"), "oncall@example.com");
        assert_eq!(
            r.body,
            json!({"incident": {"type": "incident_reference", "status": "acknowledged"}})
        );
    }

    #[test]
    fn resolve_and_reassign_bodies() {
        let r = request(&api(), &Op::Resolve, "PGR0VU2").unwrap();
        assert_eq!(r.body["incident"]["status"], "resolved");
        let r = request(
            &api(),
            &Op::Reassign {
                user: "PXPGF42".into(),
            },
            "PGR0VU2",
        )
        .unwrap();
        assert_eq!(
            r.body,
            json!({"incident": {"type": "incident_reference", "assignments": [
                {"assignee": {"id": "PXPGF42", "type": "user_reference"}}
            ]}})
        );
        assert!(r.body["incident"].get("status").is_none());
    }

    #[test]
    fn odd_ids_build_no_request() {
        assert!(request(&api(), &Op::Resolve, "../users/PX").is_err());
        let op = Op::Reassign {
            user: "px\"}".into(),
        };
        assert!(request(&api(), &op, "PGR0VU2").is_err());
    }
}

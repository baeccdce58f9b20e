//! Purpose: the `sentry.resolve` and `sentry.ignore` built-ins, offered in
//! a Sentry issue's thread and acting on that issue.
//!
//! Sentry web API, "Update an Issue"
//! (<https://docs.sentry.io/api/events/update-an-issue/>):
//! `PUT /api/0/organizations/{organization_id_or_slug}/issues/{issue_id}/`
//! with `Authorization: Bearer <token>` (scope `event:write`) and a body
//! of only the attributes to change: `{"status": "resolved"}` or
//! `{"status": "ignored"}` (shown as "Archived" in Sentry's UI; ignored
//! until someone unignores it — no `statusDetails`, so no surprise
//! un-ignore after a count the engineer did not choose).

use serde_json::json;

use super::vendor::{SentryApi, VendorRequest, expose, join};

/// What a Sentry built-in does to the issue.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    /// Marks the issue resolved (a new event reopens it as a regression).
    Resolve,
    /// Ignores (archives) the issue.
    Ignore,
}

impl Op {
    /// The kind's name in config.
    pub fn kind(&self) -> &'static str {
        match self {
            Op::Resolve => "sentry.resolve",
            Op::Ignore => "sentry.ignore",
        }
    }
}

/// Whether `slug` is a plausible organization slug (it goes in a path).
pub fn valid_organization(slug: &str) -> bool {
    !slug.is_empty()
        && slug.len() <= 64
        && slug
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_')
}

/// The request that applies `op` to issue `id` (Sentry issue ids are
/// numbers; a metric alert's incident is not an issue).
pub fn request(api: &SentryApi, op: Op, id: &str) -> Result<VendorRequest, String> {
    if id.is_empty() || id.len() > 20 || !id.chars().all(|c| c.is_ascii_digit()) {
        return Err(format!("`{id}` is not a Sentry issue id"));
    }
    if !valid_organization(&api.organization) {
        return Err(format!(
            "`{}` is not a Sentry organization slug",
            api.organization
        ));
    }
    let status = match op {
        Op::Resolve => "resolved",
        Op::Ignore => "ignored",
    };
    let token = expose(&api.token);
    Ok(VendorRequest {
        method: reqwest::Method::PUT,
        url: join(
            &api.url,
            &format!("organizations/{}/issues/{id}/", api.organization),
        )?,
        headers: vec![("authorization", format!("Bearer {token}"))],
        body: json!({ "status": status }),
        secret: token,
    })
}

#[cfg(test)]
mod tests {
    use secrecy::SecretString;

    use super::*;

    fn api() -> SentryApi {
        SentryApi {
            url: url::Url::parse("http://127.0.0.1:9/api/0/").unwrap(),
            token: SecretString::from("sntrys_0123456789abcdef"),
            organization: "acme".into(),
        }
    }

    #[test]
    fn resolve_is_a_put_on_the_organization_issue_url() {
        let r = request(&api(), Op::Resolve, "1170820242").unwrap();
        assert_eq!(r.method, reqwest::Method::PUT);
        assert_eq!(
            r.url.as_str(),
            "http://127.0.0.1:9/api/0/organizations/acme/issues/1170820242/"
        );
        assert_eq!(
            r.headers,
            vec![(
                "authorization",
                "Bearer sntrys_0123456789abcdef".to_string()
            )]
        );
        assert_eq!(r.body, json!({"status": "resolved"}));
    }

    #[test]
    fn ignore_sends_ignored() {
        let r = request(&api(), Op::Ignore, "42").unwrap();
        assert_eq!(r.body, json!({"status": "ignored"}));
    }

    #[test]
    fn metric_alerts_and_odd_ids_build_no_request() {
        for id in ["metric_alert:7", "", "1/../2", "12a"] {
            assert!(request(&api(), Op::Resolve, id).is_err(), "{id}");
        }
    }
}

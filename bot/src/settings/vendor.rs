//! The `pagerduty.*` and `sentry.*` actions against `[pagerduty]` and
//! `[sentry]`: an action whose source is not configured to call its API
//! is a config error, not a button that fails when someone presses it
//! during an incident.

use medic_commands::actions::vendor::{PagerDutyApi, SentryApi, VendorApis};
use secrecy::ExposeSecret;

use super::alerts::AlertSettings;
use super::remediation::RemediationSettings;
use super::{Reader, problem};

impl AlertSettings {
    /// The vendor APIs the `pagerduty.*` and `sentry.*` actions call;
    /// `None` for a source without its token (and `from` or
    /// `organization`).
    pub fn vendor_apis(&self) -> VendorApis {
        VendorApis {
            pagerduty: self.pagerduty.as_ref().and_then(|p| {
                Some(PagerDutyApi {
                    url: p.api_url.clone(),
                    token: p.api_token.clone()?,
                    from: p.from.clone()?,
                })
            }),
            sentry: self.sentry.as_ref().and_then(|s| {
                Some(SentryApi {
                    url: s.api_url.clone(),
                    token: s.auth_token.clone()?,
                    organization: s.organization.clone()?,
                })
            }),
        }
    }
}

impl Reader {
    /// Checks that every vendor action's API is configured, and notes the
    /// sources whose incidents offer actions.
    pub(super) fn vendor_actions(
        &mut self,
        alerts: &mut AlertSettings,
        remediation: &mut RemediationSettings,
    ) {
        let apis = alerts.vendor_apis();
        let mut unusable = Vec::new();
        for (name, action) in &remediation.actions {
            let Some(source) = action.kind.source() else {
                continue;
            };
            let missing: Vec<&str> = match source {
                "pagerduty" => match &alerts.pagerduty {
                    None => vec!["[pagerduty]"],
                    Some(p) => [
                        p.api_token
                            .as_ref()
                            .filter(|t| !t.expose_secret().is_empty())
                            .map_or(Some("pagerduty.api_token"), |_| None),
                        p.from.as_ref().map_or(Some("pagerduty.from"), |_| None),
                    ]
                    .into_iter()
                    .flatten()
                    .collect(),
                },
                _ => match &alerts.sentry {
                    None => vec!["[sentry]"],
                    Some(s) => [
                        s.auth_token
                            .as_ref()
                            .map_or(Some("sentry.auth_token"), |_| None),
                        s.organization
                            .as_ref()
                            .map_or(Some("sentry.organization"), |_| None),
                    ]
                    .into_iter()
                    .flatten()
                    .collect(),
                },
            };
            let configured = match source {
                "pagerduty" => apis.pagerduty.is_some(),
                _ => apis.sentry.is_some(),
            };
            if !missing.is_empty() || !configured {
                self.problems.push(problem(
                    format!("actions.{name}.kind"),
                    format!(
                        "{} calls the {source} API: set {}",
                        action.kind.name(),
                        missing.join(" and ")
                    ),
                ));
                unusable.push(name.clone());
                continue;
            }
            if !alerts.action_sources.contains(&source) {
                alerts.action_sources.push(source);
            }
        }
        for name in unusable {
            remediation.actions.remove(&name);
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::settings::{Problem, Settings, Sources};

    const ACTIONS: &str = r#"
        [groups]
        sre = ["U1"]
        [actions.ack]
        title = "Acknowledge"
        kind = "pagerduty.acknowledge"
        offered_on = ["source:pagerduty"]
        may_request = ["group:sre"]
        [actions.ignore]
        title = "Ignore"
        kind = "sentry.ignore"
        offered_on = ["source:sentry"]
        may_request = ["group:sre"]
    "#;

    fn problems(text: &str) -> Vec<Problem> {
        Settings::load(&Sources::toml(text))
            .err()
            .unwrap_or_default()
    }

    #[test]
    fn configured_apis_make_the_actions_usable() {
        let text = format!(
            r#"
            [pagerduty]
            webhook_secrets = ["s"]
            api_token = "pd-token"
            from = "oncall@example.com"
            [sentry]
            client_secret = "c"
            auth_token = "sentry-token"
            organization = "acme"
            {ACTIONS}"#
        );
        let s = Settings::load(&Sources::toml(&text))
            .unwrap_or_else(|p| panic!("{p:#?}"))
            .settings;
        assert_eq!(s.alerts.action_sources, vec!["pagerduty", "sentry"]);
        let apis = s.alerts.vendor_apis();
        assert_eq!(
            apis.pagerduty.unwrap().url.as_str(),
            "https://api.pagerduty.com/"
        );
        assert_eq!(apis.sentry.unwrap().organization, "acme");
        assert!(s.remediation.actions["ack"].offered_for_source("pagerduty"));
    }

    #[test]
    fn a_missing_token_from_or_organization_is_named() {
        let text = format!(
            r#"
            [pagerduty]
            webhook_secrets = ["s"]
            [sentry]
            client_secret = "c"
            auth_token = "sentry-token"
            {ACTIONS}"#
        );
        let p = problems(&text);
        let ack = p.iter().find(|p| p.key == "actions.ack.kind").expect("ack");
        assert!(
            ack.message
                .contains("pagerduty.api_token and pagerduty.from"),
            "{p:?}"
        );
        let ignore = p
            .iter()
            .find(|p| p.key == "actions.ignore.kind")
            .expect("ignore");
        assert!(ignore.message.contains("sentry.organization"), "{p:?}");
    }

    #[test]
    fn no_source_section_and_bad_from_or_slug_are_refused() {
        let p = problems(ACTIONS);
        assert!(
            p.iter()
                .any(|p| p.key == "actions.ack.kind" && p.message.contains("[pagerduty]")),
            "{p:?}"
        );
        let text = r#"
            [pagerduty]
            webhook_secrets = ["s"]
            from = "not an email"
            [sentry]
            client_secret = "c"
            organization = "Acme Corp/../x"
        "#;
        let p = problems(text);
        let keys: Vec<&str> = p.iter().map(|p| p.key.as_str()).collect();
        assert!(keys.contains(&"pagerduty.from"), "{p:?}");
        assert!(keys.contains(&"sentry.organization"), "{p:?}");
    }
}

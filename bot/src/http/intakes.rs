//! The configured alert sources' verifiers and parsers, built once from
//! the settings and used by the webhooks ([`super::webhooks`]).

use std::sync::Arc;

use medic_integrations::alerts::Intake;
use medic_integrations::alerts::alertmanager::AlertmanagerVerifier;
use medic_integrations::alerts::pagerduty::PagerDutyVerifier;
use medic_integrations::alerts::sentry::SentryVerifier;
use secrecy::ExposeSecret;

use crate::settings::AlertSettings;

/// The configured alert sources' verifiers and parsers.
#[derive(Default)]
pub struct Intakes {
    pub(super) sentry: Option<Arc<dyn Intake + Send + Sync>>,
    pub(super) pagerduty: Option<Arc<dyn Intake + Send + Sync>>,
    pub(super) alertmanager: Option<Arc<dyn Intake + Send + Sync>>,
}

impl std::fmt::Debug for Intakes {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Intakes")
            .field("sentry", &self.sentry.is_some())
            .field("pagerduty", &self.pagerduty.is_some())
            .field("alertmanager", &self.alertmanager.is_some())
            .finish()
    }
}

impl Intakes {
    /// One intake per configured source.
    pub fn new(settings: &AlertSettings) -> Self {
        Intakes {
            sentry: settings
                .sentry
                .as_ref()
                .map(|s| Arc::new(SentryVerifier::new(s.client_secret.expose_secret())) as Arc<_>),
            pagerduty: settings.pagerduty.as_ref().map(|p| {
                Arc::new(PagerDutyVerifier::new(
                    p.webhook_secrets.iter().map(|s| s.expose_secret()),
                )) as Arc<_>
            }),
            alertmanager: settings.alertmanager.as_ref().map(|a| {
                Arc::new(AlertmanagerVerifier::new(
                    a.token.as_ref().map(|t| t.expose_secret()),
                )) as Arc<_>
            }),
        }
    }
}

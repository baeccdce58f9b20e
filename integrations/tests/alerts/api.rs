//! The shape bot's `http::webhooks` route relies on: each verifier built
//! the way the route builds it from settings, used as
//! `Arc<dyn Intake + Send + Sync>`, and every error variant readable the
//! way the route reads it.

use std::sync::Arc;

use medic_commands::model::alert::AlertSource;
use medic_integrations::alerts::alertmanager::AlertmanagerVerifier;
use medic_integrations::alerts::pagerduty::PagerDutyVerifier;
use medic_integrations::alerts::sentry::SentryVerifier;
use medic_integrations::alerts::{Intake, IntakeError};

use crate::support::*;

#[test]
fn the_routes_construction_compiles_and_names_each_source() {
    // As the route does: secrets exposed as &str for the constructors.
    let sentry_secret = String::from("s");
    let pd_secrets = [String::from("old"), String::from("new")];
    let am_token: Option<String> = None;
    let intakes: Vec<Arc<dyn Intake + Send + Sync>> = vec![
        Arc::new(SentryVerifier::new(sentry_secret.as_str())) as Arc<_>,
        Arc::new(PagerDutyVerifier::new(
            pd_secrets.iter().map(|s| s.as_str()),
        )) as Arc<_>,
        Arc::new(AlertmanagerVerifier::new(am_token.as_deref())) as Arc<_>,
    ];
    let sources: Vec<AlertSource> = intakes.iter().map(|i| i.source()).collect();
    assert_eq!(
        sources,
        [
            AlertSource::Sentry,
            AlertSource::PagerDuty,
            AlertSource::Alertmanager
        ]
    );
}

#[test]
fn errors_display_for_the_log_and_branch_for_the_status() {
    let intake: Arc<dyn Intake + Send + Sync> = Arc::new(SentryVerifier::new("s"));
    let body = b"{}";
    let status = |r: Result<_, IntakeError>| match r {
        Ok(_) => 202,
        Err(IntakeError::Unauthorized(why)) => {
            assert!(!why.is_empty());
            401
        }
        Err(IntakeError::Malformed { field, reason }) => {
            assert!(!field.is_empty() && !reason.is_empty());
            400
        }
        Err(IntakeError::Ignored(_)) => 200,
    };
    assert_eq!(status(intake.accept(&headers(&[]), body)), 401);
    let signed = headers(&[
        ("Sentry-Hook-Signature", &hmac_hex("s", body)),
        ("Sentry-Hook-Resource", "issue"),
    ]);
    assert_eq!(status(intake.accept(&signed, body)), 400);
    let err = intake.accept(&signed, body).unwrap_err();
    assert_eq!(
        err.to_string(),
        "malformed action: missing field `action` at line 1 column 2"
    );
    let as_error: &dyn std::error::Error = &err;
    assert!(as_error.source().is_none());
}

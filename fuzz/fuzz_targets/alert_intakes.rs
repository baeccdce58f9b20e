//! The three alert intakes' parsers, on the (already verified) body, as
//! the webhook route calls them: Sentry under each resource it reads
//! (`Sentry-Hook-Resource`: issue, error, event_alert, metric_alert) and
//! one it ignores, PagerDuty V3 and Alertmanager v4, plus each one's
//! delivery id (header or content hash). Properties: never panics; an
//! accepted delivery has at least one alert (an empty one is `Ignored`).
#![no_main]

use http::{HeaderMap, HeaderValue};
use libfuzzer_sys::fuzz_target;
use medic_integrations::alerts::Intake;
use medic_integrations::alerts::alertmanager::AlertmanagerVerifier;
use medic_integrations::alerts::pagerduty::PagerDutyVerifier;
use medic_integrations::alerts::sentry::{RESOURCE_HEADER, SentryVerifier};

const SENTRY_RESOURCES: [&str; 5] = [
    "issue",
    "error",
    "event_alert",
    "metric_alert",
    "installation",
];

fuzz_target!(|body: &[u8]| {
    let sentry = SentryVerifier::new("fuzz-client-secret");
    for resource in SENTRY_RESOURCES {
        let mut headers = HeaderMap::new();
        headers.insert(RESOURCE_HEADER, HeaderValue::from_static(resource));
        run(&sentry, &headers, body);
    }
    let none = HeaderMap::new();
    run(&sentry, &none, body);
    run(&PagerDutyVerifier::new(["fuzz-secret"]), &none, body);
    run(&AlertmanagerVerifier::new(Some("fuzz-token")), &none, body);
});

fn run(intake: &dyn Intake, headers: &HeaderMap, body: &[u8]) {
    if let Ok(alerts) = intake.parse(headers, body) {
        assert!(
            !alerts.is_empty(),
            "{:?} accepted a delivery with no alert",
            intake.source()
        );
    }
    let _ = intake.delivery_id(headers, body);
}

//! `POST /webhooks/{sentry,pagerduty,alertmanager}`: verify, parse, commit,
//! then answer.
//!
//! The answer comes only after the delivery is committed (Sentry gives a
//! webhook about a second): a 2xx means medic has it and will act on it
//! even if it is killed the next instant. The incident changes commit in
//! the same transaction; diagnostics and chat run from what they queued.
//!
//! | outcome | status |
//! |---|---|
//! | stored, new | 202, `{"ok":true,"alerts":N}` |
//! | a redelivery (same delivery id: the same signed content, whatever its headers) | 200, `{"ok":true,"duplicate":true}` |
//! | verified, nothing to act on (Sentry `installation`) | 200, `{"ok":true,"ignored":"…"}` |
//! | bad or missing signature / token | 401 |
//! | malformed body | 400 naming the field |
//! | over 1 MiB | 413 (the router's body limit) |
//! | the source is not configured | 404 |
//! | the database is failing | 503: the vendor retries later |

use std::sync::Arc;

use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use medic_commands::model::alert::AlertSource;
use medic_integrations::alerts::{Intake, IntakeError};
use serde_json::json;

use crate::state::AppState;
use crate::storage::deliveries::{IngestError, NewDelivery, Recorded};

/// `POST /webhooks/sentry`.
pub async fn sentry(State(state): State<AppState>, headers: HeaderMap, body: Bytes) -> Response {
    let intake = state.intakes.sentry.clone();
    accept(&state, AlertSource::Sentry, intake, &headers, &body).await
}

/// `POST /webhooks/pagerduty`.
pub async fn pagerduty(State(state): State<AppState>, headers: HeaderMap, body: Bytes) -> Response {
    let intake = state.intakes.pagerduty.clone();
    accept(&state, AlertSource::PagerDuty, intake, &headers, &body).await
}

/// `POST /webhooks/alertmanager`.
pub async fn alertmanager(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let intake = state.intakes.alertmanager.clone();
    accept(&state, AlertSource::Alertmanager, intake, &headers, &body).await
}

async fn accept(
    state: &AppState,
    source: AlertSource,
    intake: Option<Arc<dyn Intake + Send + Sync>>,
    headers: &HeaderMap,
    body: &[u8],
) -> Response {
    let name = source.as_str();
    let Some(intake) = intake else {
        tracing::warn!(
            source = name,
            "An alert arrived for a source that is not configured; refused."
        );
        return answer(
            StatusCode::NOT_FOUND,
            json!({"ok": false, "error": format!("[{name}] is not configured on this medic")}),
        );
    };
    let alerts = match intake.accept(headers, body) {
        Ok(alerts) => alerts,
        Err(IntakeError::Unauthorized(why)) => {
            tracing::warn!(source = name, reason = %why, "Alert delivery refused: not verified.");
            state.metrics.alert_delivery(name, "unauthorized");
            return answer(
                StatusCode::UNAUTHORIZED,
                json!({"ok": false, "error": "invalid signature"}),
            );
        }
        Err(IntakeError::Malformed { field, reason }) => {
            tracing::warn!(source = name, %field, %reason, "Alert delivery refused: malformed.");
            state.metrics.alert_delivery(name, "malformed");
            return answer(
                StatusCode::BAD_REQUEST,
                json!({"ok": false, "error": format!("malformed {field}: {reason}"), "field": field}),
            );
        }
        Err(IntakeError::Ignored(why)) => {
            state.metrics.alert_delivery(name, "ignored");
            return answer(StatusCode::OK, json!({"ok": true, "ignored": why}));
        }
    };
    let count = alerts.len();
    let delivery = NewDelivery::new(name, intake.delivery_id(headers, body), alerts);
    match state.ingest.record(delivery).await {
        // Applied to its incidents as it was committed; the writer woke
        // whoever acts on it.
        Ok(Recorded::New(_)) => {
            state.metrics.alert_delivery(name, "stored");
            answer(StatusCode::ACCEPTED, json!({"ok": true, "alerts": count}))
        }
        Ok(Recorded::Duplicate) => {
            state.metrics.alert_delivery(name, "duplicate");
            answer(StatusCode::OK, json!({"ok": true, "duplicate": true}))
        }
        Err(e @ IngestError::Database(_)) | Err(e @ IngestError::Closed) => {
            tracing::error!(source = name, error = %e, "Could not store an alert delivery; the vendor will retry.");
            state.metrics.alert_delivery(name, "failed");
            answer(
                StatusCode::SERVICE_UNAVAILABLE,
                json!({"ok": false, "error": "medic could not store the delivery; retry later"}),
            )
        }
    }
}

fn answer(status: StatusCode, body: serde_json::Value) -> Response {
    (status, Json(body)).into_response()
}

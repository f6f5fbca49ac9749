//! Liveness and readiness.

use std::time::Duration;

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::Serialize;

use crate::state::AppState;

/// `/ready` must answer quickly even when the database hangs.
const READY_TIMEOUT: Duration = Duration::from_secs(2);

#[derive(Serialize, utoipa::ToSchema)]
pub struct HealthStatus {
    /// `ok`
    pub status: &'static str,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct ReadyStatus {
    /// `ready` or `unavailable`
    pub status: &'static str,
    /// Why not ready: `database` or `shutting_down`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<&'static str>,
}

/// Liveness and startup probe: answers as long as the process serves, whatever the database
/// does (a liveness probe that fails on a database outage would restart healthy instances).
#[utoipa::path(get, path = "/health", tag = "health",
    responses((status = 200, description = "The process is serving", body = HealthStatus)))]
pub async fn health() -> Json<HealthStatus> {
    Json(HealthStatus { status: "ok" })
}

/// Readiness: the database answers `SELECT 1` (checked at most once a second) and the schema is
/// migrated.
#[utoipa::path(get, path = "/ready", tag = "health",
    responses(
        (status = 200, description = "Ready to serve", body = ReadyStatus),
        (status = 503, description = "Database unreachable or shutting down", body = ReadyStatus),
    ))]
pub async fn ready(State(state): State<AppState>) -> (StatusCode, Json<ReadyStatus>) {
    let unavailable = |reason| {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(ReadyStatus {
                status: "unavailable",
                reason: Some(reason),
            }),
        )
    };
    if state.is_draining() {
        return unavailable("shutting_down");
    }
    if state.database_ready(READY_TIMEOUT).await && state.is_migrated() {
        (
            StatusCode::OK,
            Json(ReadyStatus {
                status: "ready",
                reason: None,
            }),
        )
    } else {
        unavailable("database")
    }
}

//! `/api/timers`: the caller's pending timers, alarms and reminders, and cancelling one.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::Serialize;

use crate::http::error::{ApiError, ErrorBody};
use crate::http::extract::{Caller, SessionCookie};
use crate::state::AppState;
use crate::store::Timer;

#[derive(Serialize, utoipa::ToSchema)]
pub struct TimerList {
    /// Soonest first.
    pub timers: Vec<Timer>,
}

/// The caller's pending timers, alarms and reminders, soonest first.
#[utoipa::path(get, path = "/api/timers", tag = "timers",
    responses((status = 200, body = TimerList), (status = 503, body = ErrorBody)))]
pub async fn list(
    State(state): State<AppState>,
    caller: Caller,
) -> Result<(SessionCookie, Json<TimerList>), ApiError> {
    let (user, cookie) = caller.identify(&state).await?;
    let timers = state.store().pending_timers(&user).await?;
    Ok((cookie, Json(TimerList { timers })))
}

/// Cancels one of the caller's pending timers; another user's id (or one no longer pending)
/// is 404.
#[utoipa::path(delete, path = "/api/timers/{id}", tag = "timers",
    params(("id" = i64, Path, description = "A timer id")),
    responses(
        (status = 204, description = "Cancelled"),
        (status = 404, body = ErrorBody),
    ))]
pub async fn cancel(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<(StatusCode, SessionCookie, ()), ApiError> {
    let (user, cookie) = caller.identify(&state).await?;
    let id: i64 = id.parse().map_err(|_| ApiError::not_found())?;
    let cancelled = state.store().cancel_timers(&user, &[id]).await?;
    if cancelled.is_empty() {
        return Err(ApiError::not_found());
    }
    Ok((StatusCode::NO_CONTENT, cookie, ()))
}

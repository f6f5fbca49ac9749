//! `DELETE /api/me`: forget me. Every row of the caller goes, and the cookie with it.

use axum::extract::State;
use axum::http::StatusCode;

use crate::http::error::{ApiError, ErrorBody};
use crate::http::extract::{Caller, SessionCookie};
use crate::state::AppState;

/// Deletes the caller's identity and everything stored for it (conversations, settings,
/// usage, sessions), on every instance at once: it is all in the database.
#[utoipa::path(delete, path = "/api/me", tag = "privacy",
    responses(
        (status = 204, description = "Deleted; the session cookie is cleared"),
        (status = 401, description = "Unknown or expired bearer token", body = ErrorBody),
        (status = 503, body = ErrorBody),
    ))]
pub async fn forget(
    State(state): State<AppState>,
    caller: Caller,
) -> Result<(StatusCode, SessionCookie, ()), ApiError> {
    if let Some(user) = caller.known() {
        state.store().delete_user(user).await?;
        tracing::info!("deleted a user at their request");
    }
    Ok((
        StatusCode::NO_CONTENT,
        SessionCookie::cleared(caller.is_secure()),
        (),
    ))
}

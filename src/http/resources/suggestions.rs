//! `/api/turns/{id}/search-suggestions`: Google's Search Suggestion chip of a grounded answer,
//! as a document of its own.
//!
//! Google's terms require the chip (`searchEntryPoint.renderedContent`) to be shown exactly as
//! provided, its HTML and inline CSS unchanged, whenever the grounded answer is. The page's
//! policy allows no inline styles, so the chip is served here under a policy of its own and
//! the page frames it in a sandboxed iframe (no scripts, no same-origin access). Links open
//! in a new tab straight to Google (`<base target="_blank">` is the only thing added, around
//! the content, never inside it).

use axum::extract::{Path, State};
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};

use crate::assistant::Action;
use crate::http::error::{ApiError, ErrorBody};
use crate::http::extract::Caller;
use crate::state::AppState;

/// Inline styles (the chip's own CSS) and images; nothing else, framed only by this origin.
const CHIP_POLICY: &str = "default-src 'none'; style-src 'unsafe-inline'; img-src https: data:; \
    frame-ancestors 'self'; base-uri 'none'; form-action 'none'; sandbox allow-popups \
    allow-popups-to-escape-sandbox";

/// The Search Suggestion chip of one of the caller's grounded turns; 404 for another user's
/// turn or a turn without one.
#[utoipa::path(get, path = "/api/turns/{id}/search-suggestions", tag = "conversation",
    params(("id" = i64, Path, description = "A turn id")),
    responses(
        (status = 200, content_type = "text/html", body = String,
            description = "Google's chip, unchanged, in a minimal document"),
        (status = 404, body = ErrorBody),
    ))]
pub async fn chip(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let id: i64 = id.parse().map_err(|_| ApiError::not_found())?;
    let Some(user) = caller.known() else {
        return Err(ApiError::not_found());
    };
    let turn = state.store().turn(user, id).await?;
    let Some(Action::Grounded {
        search_suggestions: Some(chip),
        ..
    }) = turn.and_then(|t| t.action)
    else {
        return Err(ApiError::not_found());
    };
    let document = format!(
        "<!doctype html><html><head><meta charset=\"utf-8\"><base target=\"_blank\">\
         <meta name=\"color-scheme\" content=\"light dark\"></head><body style=\"margin:0\">{chip}</body></html>"
    );
    let mut response = document.into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CHIP_POLICY),
    );
    headers.insert(
        header::X_FRAME_OPTIONS,
        HeaderValue::from_static("SAMEORIGIN"),
    );
    Ok(response)
}

//! `/api/session`: who am I, and tokens for clients without cookies.

use axum::Json;
use axum::extract::{Request, State};
use axum::http::StatusCode;
use serde::Serialize;

use crate::app::AppState;
use crate::config::MAX_COMMAND_CHARS;
use crate::http::error::{ApiError, ErrorBody};
use crate::http::extract::{Identity, NewSessionSlot, new_token};
use crate::store::hash_token;

#[derive(Serialize, utoipa::ToSchema)]
pub struct SessionInfo {
    pub user_id: String,
    pub assistant: AssistantInfo,
    pub limits: LimitsInfo,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct AssistantInfo {
    /// `gemini`, or `offline` when no model is configured.
    pub mode: &'static str,
    pub model: Option<String>,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct LimitsInfo {
    pub max_command_chars: usize,
    pub max_upload_bytes: usize,
    pub ws_idle_timeout_secs: u64,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct NewSession {
    /// Send as `Authorization: Bearer <token>`, or `?token=` on the WebSocket URL.
    pub token: String,
    pub user_id: String,
}

/// The caller's identity (created on first use, with its cookie) and what the server offers.
#[utoipa::path(get, path = "/api/session", tag = "session",
    responses((status = 200, body = SessionInfo), (status = 401, body = ErrorBody)))]
pub async fn current(State(state): State<AppState>, identity: Identity) -> Json<SessionInfo> {
    let model = state.model();
    let online = model.source() != "offline";
    Json(SessionInfo {
        user_id: identity.user.to_string(),
        assistant: AssistantInfo {
            mode: if online { "gemini" } else { "offline" },
            model: online.then(|| model.model_name().to_owned()),
        },
        limits: LimitsInfo {
            max_command_chars: MAX_COMMAND_CHARS,
            max_upload_bytes: state.config().max_upload_bytes,
            ws_idle_timeout_secs: state.config().ws_idle_timeout.as_secs(),
        },
    })
}

/// A new anonymous identity and its token, for clients that do not keep cookies.
#[utoipa::path(post, path = "/api/session", tag = "session",
    responses((status = 201, body = NewSession), (status = 429, body = ErrorBody), (status = 503, body = ErrorBody)))]
pub async fn create(
    State(state): State<AppState>,
    request: Request,
) -> Result<(StatusCode, Json<NewSession>), ApiError> {
    let token = new_token();
    let user = state.store().create_identity(&hash_token(&token)).await?;
    if let Some(slot) = request.extensions().get::<NewSessionSlot>() {
        *slot.0.lock().unwrap_or_else(|p| p.into_inner()) = Some(token.clone());
    }
    Ok((
        StatusCode::CREATED,
        Json(NewSession {
            token,
            user_id: user.to_string(),
        }),
    ))
}

//! `/api/session`: who am I, what this server offers, and tokens for clients without cookies.

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use serde::Serialize;

use crate::ai::offline::OPERATOR_HINT;
use crate::config::MAX_COMMAND_CHARS;
use crate::http::error::{ApiError, ErrorBody};
use crate::http::extract::{
    Caller, ClientIp, SessionCookie, create_identity, is_https, session_cookie,
};
use crate::state::AppState;

#[derive(Serialize, utoipa::ToSchema)]
pub struct SessionInfo {
    pub user_id: String,
    pub assistant: AssistantInfo,
    pub features: Features,
    pub limits: LimitsInfo,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct AssistantInfo {
    /// `gemini`, or `offline` when no model is configured.
    pub mode: &'static str,
    pub model: Option<String>,
    /// For the operator, in offline mode: how to turn Gemini on. Never spoken to users.
    pub operator_hint: Option<&'static str>,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct Features {
    /// Whether `/api/voice` can transcribe recordings (it needs Gemini).
    pub voice_upload: bool,
    /// Whether Live voice (`/ws/live/{client_id}`) is configured: a Gemini key or Vertex AI,
    /// and non-zero Live budgets. Whether today's minutes are left is told by the socket.
    pub live: bool,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct LimitsInfo {
    /// Counted in Unicode characters (code points), as the server counts them.
    pub max_command_chars: usize,
    pub max_upload_bytes: usize,
    pub ws_idle_timeout_secs: u64,
    /// A socket is closed with 1000 "session lifetime" after this long; reconnect at once.
    pub ws_max_lifetime_secs: u64,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct NewSession {
    /// Send as `Authorization: Bearer <token>`, or `?token=` on the WebSocket URL.
    pub token: String,
    pub user_id: String,
}

/// The caller's identity (created on first use, with its cookie) and what the server offers.
#[utoipa::path(get, path = "/api/session", tag = "session",
    responses(
        (status = 200, body = SessionInfo),
        (status = 401, description = "Unknown or expired bearer token", body = ErrorBody),
        (status = 429, description = "Too many new identities from this network", body = ErrorBody),
    ))]
pub async fn current(
    State(state): State<AppState>,
    caller: Caller,
) -> Result<(SessionCookie, Json<SessionInfo>), ApiError> {
    let (user, cookie) = caller.identify(&state).await?;
    let online = !state.is_offline();
    let config = state.config();
    Ok((
        cookie,
        Json(SessionInfo {
            user_id: user.to_string(),
            assistant: AssistantInfo {
                mode: if online { "gemini" } else { "offline" },
                model: online.then(|| state.model().model_name().to_owned()),
                operator_hint: (!online).then_some(OPERATOR_HINT),
            },
            features: Features {
                voice_upload: online,
                live: state.live().is_some(),
            },
            limits: LimitsInfo {
                max_command_chars: MAX_COMMAND_CHARS,
                max_upload_bytes: config.max_upload_bytes,
                ws_idle_timeout_secs: config.ws_idle_timeout.as_secs(),
                ws_max_lifetime_secs: config.ws_max_lifetime.as_secs(),
            },
        }),
    ))
}

/// A new anonymous identity and its token, for clients that do not keep cookies.
#[utoipa::path(post, path = "/api/session", tag = "session",
    responses(
        (status = 201, body = NewSession),
        (status = 429, description = "Too many new identities from this network", body = ErrorBody),
        (status = 503, body = ErrorBody),
    ))]
pub async fn create(
    State(state): State<AppState>,
    client: ClientIp,
    headers: HeaderMap,
) -> Result<(StatusCode, SessionCookie, Json<NewSession>), ApiError> {
    // No `Caller` here: a client whose token expired comes exactly to get a new one.
    let (user, token) = create_identity(&state, client.key()).await?;
    let secure = is_https(&headers, state.config().trust_proxy);
    let cookie = SessionCookie::new(session_cookie(&token, secure));
    Ok((
        StatusCode::CREATED,
        cookie,
        Json(NewSession {
            token,
            user_id: user.to_string(),
        }),
    ))
}

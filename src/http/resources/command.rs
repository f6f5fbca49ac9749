//! `POST /api/command`: one command, answered as a whole (the WebSocket streams).

use axum::Json;
use axum::extract::State;
use serde::Deserialize;
use serde_json::Value;
use tokio_util::sync::CancellationToken;

use crate::app::AppState;
use crate::http::error::{ApiError, ErrorBody};
use crate::http::extract::{ApiJson, Identity};
use crate::turn::{self, CommandReply, TurnInput};

#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct CommandRequest {
    /// What the user said or typed; 1 to 1000 characters.
    pub command: String,
    /// Accepted for compatibility with the predecessor's clients and ignored: the caller is
    /// identified by its session.
    #[serde(default)]
    #[schema(value_type = Object, nullable = true)]
    #[allow(dead_code)]
    pub user_id: Option<Value>,
    /// The client's IANA time zone (e.g. `Europe/Berlin`), for time and date answers.
    #[serde(default)]
    pub timezone: Option<String>,
}

#[utoipa::path(post, path = "/api/command", tag = "assistant",
    request_body = CommandRequest,
    responses(
        (status = 200, description = "The answer", body = CommandReply),
        (status = 400, description = "Empty or too long", body = ErrorBody),
        (status = 422, description = "Malformed JSON or a field of the wrong type", body = ErrorBody),
        (status = 429, description = "Rate limited", body = ErrorBody),
        (status = 503, description = "Database unavailable", body = ErrorBody),
    ))]
pub async fn handle(
    State(state): State<AppState>,
    identity: Identity,
    ApiJson(request): ApiJson<CommandRequest>,
) -> Result<Json<CommandReply>, ApiError> {
    let input = TurnInput {
        user: identity.user,
        command: request.command,
        timezone: request.timezone,
    };
    let reply = turn::run(&state, input, &mut |_| {}, &CancellationToken::new()).await?;
    Ok(Json(reply))
}

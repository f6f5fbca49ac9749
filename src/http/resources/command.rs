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

/// The longest IANA zone name is 32 characters; anything much longer is not a zone.
pub const MAX_TIMEZONE_CHARS: usize = 64;

/// A time zone must look like an IANA name (`Europe/Berlin`, `Etc/GMT+5`, `UTC`); a well-formed
/// name the zone database does not know is answered in UTC (and the answer says so).
pub fn check_timezone(timezone: &str) -> Result<(), ApiError> {
    let well_formed = timezone.chars().count() <= MAX_TIMEZONE_CHARS
        && timezone.starts_with(|c: char| c.is_ascii_alphabetic())
        && timezone
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '+' | '/' | '-'));
    if well_formed {
        Ok(())
    } else {
        Err(ApiError::invalid_field(
            "timezone",
            format!(
                "timezone must be an IANA zone name such as Europe/Berlin, at most {MAX_TIMEZONE_CHARS} characters."
            ),
        ))
    }
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct CommandRequest {
    /// What the user said or typed; 1 to 1000 characters, not only whitespace.
    #[schema(min_length = 1, max_length = 1000, pattern = r"\S")]
    pub command: String,
    /// Accepted for compatibility with the predecessor's clients and ignored: the caller is
    /// identified by its session.
    #[serde(default)]
    #[allow(dead_code)]
    pub user_id: Option<Value>,
    /// The client's IANA time zone (e.g. `Europe/Berlin`), for time and date answers; an unknown
    /// zone means UTC.
    #[serde(default)]
    #[schema(max_length = 64, pattern = r"^[A-Za-z][A-Za-z0-9_+/-]*$")]
    pub timezone: Option<String>,
}

#[utoipa::path(post, path = "/api/command", tag = "assistant",
    request_body = CommandRequest,
    responses(
        (status = 200, description = "The answer", body = CommandReply),
        (status = 400, description = "Empty or too long", body = ErrorBody),
        (status = 413, description = "Body larger than 64 KiB", body = ErrorBody),
        (status = 415, description = "Body is not JSON", body = ErrorBody),
        (status = 422, description = "Malformed JSON or a field of the wrong type", body = ErrorBody),
        (status = 429, description = "Rate limited", body = ErrorBody),
        (status = 503, description = "Database unavailable", body = ErrorBody),
    ))]
pub async fn handle(
    State(state): State<AppState>,
    identity: Identity,
    ApiJson(request): ApiJson<CommandRequest>,
) -> Result<Json<CommandReply>, ApiError> {
    if let Some(timezone) = &request.timezone {
        check_timezone(timezone)?;
    }
    let input = TurnInput {
        user: identity.user,
        command: request.command,
        timezone: request.timezone,
    };
    let reply = turn::run(&state, input, &mut |_| {}, &CancellationToken::new()).await?;
    Ok(Json(reply))
}

//! `POST /api/command`: one command, answered as a whole (the WebSocket streams).

use axum::Json;
use axum::extract::State;
use serde::Deserialize;
use serde_json::Value;

use crate::http::error::{ApiError, ErrorBody};
use crate::http::extract::{ApiJson, Caller, SessionCookie};
use crate::skills::Coordinates;
use crate::state::AppState;
use crate::turns::{CancelSignal, ClientTimezone, Command, CommandReply, TurnRequest};

#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct CommandRequest {
    /// What the user said or typed: 1 to 1000 characters (Unicode code points), not only
    /// whitespace or invisible characters, no control characters other than tab and newlines.
    #[schema(
        min_length = 1,
        max_length = 1000,
        // At least one character that is neither whitespace, nor a control, nor invisible
        // (the same sets as turns::command), and no controls but tab and newlines anywhere.
        pattern = r"^[^\u0000-\u0008\u000B\u000C\u000E-\u001F\u007F-\u009F]*[^\s\u0000-\u001F\u007F-\u009F\u00AD\u034F\u061C\u115F\u1160\u17B4\u17B5\u180B-\u180F\u200B-\u200F\u202A-\u202E\u2060-\u206F\u3164\uFE00-\uFE0F\uFEFF\uFFA0][^\u0000-\u0008\u000B\u000C\u000E-\u001F\u007F-\u009F]*$"
    )]
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
    /// The browser's position, sent (with the user's permission) when a weather question had
    /// no place.
    #[serde(default)]
    pub location: Option<LocationBody>,
}

#[derive(Debug, Clone, Copy, Deserialize, utoipa::ToSchema)]
pub struct LocationBody {
    #[schema(minimum = -90, maximum = 90)]
    pub latitude: f64,
    #[schema(minimum = -180, maximum = 180)]
    pub longitude: f64,
}

impl LocationBody {
    pub fn parse(self) -> Result<Coordinates, ApiError> {
        Coordinates::new(self.latitude, self.longitude).ok_or_else(|| {
            ApiError::invalid_field(
                "location",
                "location needs a latitude from -90 to 90 and a longitude from -180 to 180.",
            )
        })
    }
}

#[utoipa::path(post, path = "/api/command", tag = "assistant",
    request_body = CommandRequest,
    responses(
        (status = 200, description = "The answer", body = CommandReply),
        (status = 400, description = "Empty, too long, or with control characters", body = ErrorBody),
        (status = 401, description = "Unknown or expired bearer token", body = ErrorBody),
        (status = 413, description = "Body larger than 64 KiB", body = ErrorBody),
        (status = 415, description = "Body is not application/json", body = ErrorBody),
        (status = 422, description = "Malformed JSON or a field of the wrong type", body = ErrorBody),
        (status = 429, description = "Rate limited", body = ErrorBody),
        (status = 503, description = "Database unavailable, or the server is restarting", body = ErrorBody),
    ))]
pub async fn handle(
    State(state): State<AppState>,
    caller: Caller,
    ApiJson(request): ApiJson<CommandRequest>,
) -> Result<(SessionCookie, Json<CommandReply>), ApiError> {
    // Parsed before any identity is created: a request that fails validation leaves nothing.
    let command = Command::parse(&request.command).map_err(|invalid| invalid.problem())?;
    let timezone = request
        .timezone
        .as_deref()
        .map(ClientTimezone::parse)
        .transpose()?;
    let location = request.location.map(LocationBody::parse).transpose()?;
    let (user, cookie) = caller.identify(&state).await?;
    let turn = TurnRequest {
        user,
        client: caller.client(),
        command,
        timezone,
        location,
    };
    let reply = state
        .turns()
        .run(turn, &mut |_| {}, &CancelSignal::new())
        .await
        .map_err(|error| error.problem())?;
    Ok((cookie, Json(CommandReply::from(&reply))))
}

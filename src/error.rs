//! The errors clients see, the same for HTTP and the WebSocket: one `ErrorCode` per kind of
//! failure, with its HTTP status, and a `Problem` that carries the code with a sentence for
//! people. HTTP answers `{"detail","code","field"?,"retry_after_ms"?}`; the socket sends
//! `{"type":"error","code","message","id"?,"retry_after_ms"?}` from the same `Problem`.

use std::time::Duration;

use http::StatusCode;

use crate::limits::RateLimited;
use crate::store::StoreError;

macro_rules! error_codes {
    ($($(#[doc = $doc:literal])* $variant:ident = $text:literal => $status:ident,)+) => {
        /// Every error a client can receive. The doc line of each says when it happens.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum ErrorCode {
            $($(#[doc = $doc])* $variant,)+
        }

        impl ErrorCode {
            pub const ALL: &'static [ErrorCode] = &[$(ErrorCode::$variant),+];

            /// The wire name (`code`).
            pub fn as_str(self) -> &'static str {
                match self { $(ErrorCode::$variant => $text),+ }
            }

            /// The HTTP status of this error (the socket sends the same code in a frame).
            pub fn status(self) -> StatusCode {
                match self { $(ErrorCode::$variant => StatusCode::$status),+ }
            }
        }
    };
}

error_codes! {
    /// 400: the command is empty (or only whitespace and invisible characters).
    InvalidCommand = "invalid_command" => BAD_REQUEST,
    /// 400: the command has more than 1000 characters.
    CommandTooLong = "command_too_long" => BAD_REQUEST,
    /// 400: the command contains control characters (NUL and other C0/C1 controls).
    InvalidCharacters = "invalid_characters" => BAD_REQUEST,
    /// 400: the request body could not be read.
    InvalidBody = "invalid_body" => BAD_REQUEST,
    /// 400: a WebSocket client id outside `[A-Za-z0-9_-]{1,64}`.
    InvalidClientId = "invalid_client_id" => BAD_REQUEST,
    /// 400: a plain HTTP request to a WebSocket endpoint.
    WebsocketExpected = "websocket_expected" => BAD_REQUEST,
    /// 400: a multipart upload that cannot be read.
    InvalidMultipart = "invalid_multipart" => BAD_REQUEST,
    /// 400: a malformed URL path.
    InvalidPath = "invalid_path" => BAD_REQUEST,
    /// 401: an unknown or expired bearer token.
    Unauthorized = "unauthorized" => UNAUTHORIZED,
    /// 403: a WebSocket from an origin that is not allowed.
    ForbiddenOrigin = "forbidden_origin" => FORBIDDEN,
    /// 404: no such route, or another user's resource.
    NotFound = "not_found" => NOT_FOUND,
    /// 405: the route exists with other methods.
    MethodNotAllowed = "method_not_allowed" => METHOD_NOT_ALLOWED,
    /// 408: the request took longer than the API's deadline.
    Timeout = "timeout" => REQUEST_TIMEOUT,
    /// 413: a body (or a recording) above its limit.
    PayloadTooLarge = "payload_too_large" => PAYLOAD_TOO_LARGE,
    /// 415: a body that is not `application/json` (or not an accepted audio type).
    UnsupportedMediaType = "unsupported_media_type" => UNSUPPORTED_MEDIA_TYPE,
    /// 422: the body is not valid JSON.
    InvalidJson = "invalid_json" => UNPROCESSABLE_ENTITY,
    /// 422: a field is missing, of the wrong type or out of range; `field` names it.
    InvalidField = "invalid_field" => UNPROCESSABLE_ENTITY,
    /// 422 (socket only): a JSON frame of no known shape.
    UnknownMessage = "unknown_message" => UNPROCESSABLE_ENTITY,
    /// 422 (socket only): a binary frame on the text protocol.
    UnsupportedFrame = "unsupported_frame" => UNPROCESSABLE_ENTITY,
    /// 429: too many requests; `retry_after_ms` says how long to wait.
    RateLimited = "rate_limited" => TOO_MANY_REQUESTS,
    /// 429: too many new identities from one network.
    TooManySessions = "too_many_sessions" => TOO_MANY_REQUESTS,
    /// 429 (socket only): frames sent faster than a person can; some were dropped.
    TooManyFrames = "too_many_frames" => TOO_MANY_REQUESTS,
    /// 429 (socket only): more commands queued than one socket may have.
    Busy = "busy" => TOO_MANY_REQUESTS,
    /// 429: too many open connections or sockets from one network.
    TooManyConnections = "too_many_connections" => TOO_MANY_REQUESTS,
    /// 500: a bug or an unexpected database error; details are in the logs only.
    Internal = "internal" => INTERNAL_SERVER_ERROR,
    /// 503: the server is shutting down; retry (another instance answers).
    ShuttingDown = "shutting_down" => SERVICE_UNAVAILABLE,
    /// 503: the server is still migrating its database at start.
    StartingUp = "starting_up" => SERVICE_UNAVAILABLE,
    /// 503: the database cannot be reached right now.
    StorageUnavailable = "storage_unavailable" => SERVICE_UNAVAILABLE,
    /// 503: voice upload needs Gemini, and this server runs the offline assistant.
    VoiceUnavailable = "voice_unavailable" => SERVICE_UNAVAILABLE,
    /// 503: Gemini could not transcribe the recording.
    TranscriptionFailed = "transcription_failed" => SERVICE_UNAVAILABLE,
    /// 422 (Live socket only): an audio frame that is empty, of odd length or longer than
    /// 50 ms of 16 kHz PCM16.
    InvalidAudio = "invalid_audio" => UNPROCESSABLE_ENTITY,
    /// 409 (Live socket only): audio sent before `live_ready`.
    LiveNotReady = "live_not_ready" => CONFLICT,
    /// 429 (Live socket only): the user's or the service's Live minutes for today are used up;
    /// the session ends, classic mode still works.
    LiveBudget = "live_budget" => TOO_MANY_REQUESTS,
    /// 408 (Live socket only): nobody spoke for a minute; the session ends.
    LiveIdle = "live_idle" => REQUEST_TIMEOUT,
    /// 503 (Live socket only): Live is not configured here, or Gemini Live failed and the
    /// session cannot continue; use classic mode.
    LiveUnavailable = "live_unavailable" => SERVICE_UNAVAILABLE,
}

/// An error as a client receives it.
#[derive(Debug, Clone, PartialEq)]
pub struct Problem {
    pub code: ErrorCode,
    /// For people.
    pub message: String,
    /// The request field at fault.
    pub field: Option<String>,
    pub retry_after: Option<Duration>,
}

impl Problem {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
            field: None,
            retry_after: None,
        }
    }

    pub fn invalid_field(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            field: Some(field.into()),
            ..Self::new(ErrorCode::InvalidField, message)
        }
    }

    pub fn retry_after(mut self, after: Duration) -> Self {
        self.retry_after = Some(after);
        self
    }

    pub fn not_found() -> Self {
        Self::new(ErrorCode::NotFound, "Not Found")
    }

    pub fn rate_limited(limited: RateLimited) -> Self {
        Self::new(
            ErrorCode::RateLimited,
            format!(
                "Too many requests. Please wait {} seconds before trying again.",
                limited.retry_after_secs()
            ),
        )
        .retry_after(limited.retry_after)
    }

    pub fn shutting_down() -> Self {
        Self::new(
            ErrorCode::ShuttingDown,
            "The server is restarting; please send this again.",
        )
        .retry_after(Duration::from_secs(1))
    }

    pub fn internal() -> Self {
        Self::new(
            ErrorCode::Internal,
            "Something went wrong on our side. Please try again.",
        )
    }

    /// `retry_after` in whole milliseconds, at least 1.
    pub fn retry_after_ms(&self) -> Option<u64> {
        self.retry_after
            .map(|after| (after.as_millis() as u64).max(1))
    }
}

impl From<StoreError> for Problem {
    fn from(error: StoreError) -> Self {
        if error.is_unavailable() {
            tracing::warn!(%error, "the database is unavailable");
            Problem::new(
                ErrorCode::StorageUnavailable,
                "The database is unavailable right now, so that could not be saved. Please try again in a moment.",
            )
            .retry_after(Duration::from_secs(2))
        } else {
            tracing::error!(%error, "database error");
            Problem::internal()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_unique_snake_case_and_statuses_are_errors() {
        let mut seen = std::collections::HashSet::new();
        for code in ErrorCode::ALL {
            assert!(seen.insert(code.as_str()), "{code:?} repeats");
            assert!(
                code.as_str()
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c == '_')
            );
            assert!(code.status().is_client_error() || code.status().is_server_error());
        }
    }
}

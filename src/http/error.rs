//! The HTTP form of an error.
//!
//! Every error answers JSON `{"detail", "code", "field"?, "retry_after_ms"?}`: `detail` is the
//! predecessor's key (its clients read it), `code` is for programs (`crate::error::ErrorCode`,
//! whose doc lines name each status), `field` names the request field at fault. Server-side
//! failures are logged with the request span and answered with a generic message, never with
//! internal details.

use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

pub use crate::error::{ErrorCode, Problem};

/// Handlers return `Result<_, ApiError>`; it is the shared `Problem`.
pub type ApiError = Problem;

#[derive(Serialize, utoipa::ToSchema)]
pub struct ErrorBody {
    /// What went wrong, for people.
    pub detail: String,
    /// What went wrong, for programs (e.g. `invalid_command`, `rate_limited`).
    pub code: String,
    /// The request field at fault, when there is one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
    /// How long to wait before retrying, when waiting helps.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub retry_after_ms: Option<u64>,
}

impl IntoResponse for Problem {
    fn into_response(self) -> Response {
        let status = self.code.status();
        if status.is_server_error() && self.code == ErrorCode::Internal {
            tracing::error!(detail = %self.message, "request failed");
        }
        let retry_after_ms = self.retry_after_ms();
        let body = ErrorBody {
            detail: self.message,
            code: self.code.as_str().to_owned(),
            field: self.field,
            retry_after_ms,
        };
        let mut response = (status, axum::Json(body)).into_response();
        if let Some(ms) = retry_after_ms
            && let Ok(value) = HeaderValue::from_str(&ms.div_ceil(1000).to_string())
        {
            response.headers_mut().insert(header::RETRY_AFTER, value);
        }
        response
    }
}

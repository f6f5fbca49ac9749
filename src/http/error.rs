//! The one error type of the HTTP API.
//!
//! Every error answers JSON `{"detail", "code", "field"?, "retry_after_ms"?}`: `detail` is the
//! predecessor's key (its clients read it), `code` is for programs, `field` names the request
//! field at fault. Server-side failures are logged with the request span and answered with a
//! generic message, never with internal details.

use std::time::Duration;

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

use crate::limits::RateLimited;
use crate::store::StoreError;
use crate::turn::{InvalidCommand, TurnError};

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("{detail}")]
    BadRequest { code: &'static str, detail: String },
    #[error("{detail}")]
    Unprocessable {
        code: &'static str,
        detail: String,
        field: Option<String>,
    },
    #[error("{0}")]
    Unauthorized(String),
    #[error("{detail}")]
    Forbidden { code: &'static str, detail: String },
    #[error("Not Found")]
    NotFound,
    #[error("Method Not Allowed")]
    MethodNotAllowed,
    #[error("{0}")]
    PayloadTooLarge(String),
    #[error("{0}")]
    UnsupportedMediaType(String),
    #[error("{detail}")]
    RateLimited {
        detail: String,
        retry_after: Duration,
    },
    #[error("{detail}")]
    Unavailable { code: &'static str, detail: String },
    #[error("storage: {0}")]
    Storage(#[from] StoreError),
    #[error("internal: {0}")]
    Internal(String),
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct ErrorBody {
    /// What went wrong, for people.
    pub detail: String,
    /// What went wrong, for programs (e.g. `invalid_command`, `rate_limited`).
    pub code: String,
    /// The request field at fault, when there is one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
    /// For `rate_limited`: how long to wait.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub retry_after_ms: Option<u64>,
}

impl ApiError {
    pub fn invalid_field(field: impl Into<String>, detail: impl Into<String>) -> Self {
        ApiError::Unprocessable {
            code: "invalid_field",
            detail: detail.into(),
            field: Some(field.into()),
        }
    }

    pub fn rate_limited(limited: RateLimited) -> Self {
        ApiError::RateLimited {
            detail: format!(
                "Too many requests. Please wait {} seconds before trying again.",
                limited.retry_after_secs()
            ),
            retry_after: limited.retry_after,
        }
    }

    fn status(&self) -> StatusCode {
        match self {
            ApiError::BadRequest { .. } => StatusCode::BAD_REQUEST,
            ApiError::Unprocessable { .. } => StatusCode::UNPROCESSABLE_ENTITY,
            ApiError::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            ApiError::Forbidden { .. } => StatusCode::FORBIDDEN,
            ApiError::NotFound => StatusCode::NOT_FOUND,
            ApiError::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            ApiError::PayloadTooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::UnsupportedMediaType(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ApiError::RateLimited { .. } => StatusCode::TOO_MANY_REQUESTS,
            ApiError::Unavailable { .. } => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::Storage(e) if e.is_unavailable() => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::Storage(_) | ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn body(&self) -> ErrorBody {
        let (code, detail, field) = match self {
            ApiError::BadRequest { code, detail } => (*code, detail.clone(), None),
            ApiError::Unprocessable {
                code,
                detail,
                field,
            } => (*code, detail.clone(), field.clone()),
            ApiError::Unauthorized(detail) => ("unauthorized", detail.clone(), None),
            ApiError::Forbidden { code, detail } => (*code, detail.clone(), None),
            ApiError::NotFound => ("not_found", "Not Found".to_owned(), None),
            ApiError::MethodNotAllowed => {
                ("method_not_allowed", "Method Not Allowed".to_owned(), None)
            }
            ApiError::PayloadTooLarge(detail) => ("payload_too_large", detail.clone(), None),
            ApiError::UnsupportedMediaType(detail) => {
                ("unsupported_media_type", detail.clone(), None)
            }
            ApiError::RateLimited { detail, .. } => ("rate_limited", detail.clone(), None),
            ApiError::Unavailable { code, detail } => (*code, detail.clone(), None),
            ApiError::Storage(e) if e.is_unavailable() => (
                "storage_unavailable",
                "The database is unavailable right now. Please try again in a moment.".to_owned(),
                None,
            ),
            ApiError::Storage(_) | ApiError::Internal(_) => (
                "internal",
                "Something went wrong on our side. Please try again.".to_owned(),
                None,
            ),
        };
        ErrorBody {
            detail,
            code: code.to_owned(),
            field,
            retry_after_ms: match self {
                ApiError::RateLimited { retry_after, .. } => {
                    Some((retry_after.as_millis() as u64).max(1))
                }
                _ => None,
            },
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.status();
        if status.is_server_error() {
            tracing::error!(error = %self, "request failed");
        }
        let body = self.body();
        let mut response = (status, axum::Json(body)).into_response();
        if let ApiError::RateLimited { retry_after, .. } = &self {
            let secs = (retry_after.as_millis() as u64).max(1).div_ceil(1000);
            if let Ok(value) = HeaderValue::from_str(&secs.to_string()) {
                response.headers_mut().insert(header::RETRY_AFTER, value);
            }
        }
        response
    }
}

impl From<InvalidCommand> for ApiError {
    fn from(invalid: InvalidCommand) -> Self {
        ApiError::BadRequest {
            code: invalid.code(),
            detail: invalid.message(),
        }
    }
}

impl From<TurnError> for ApiError {
    fn from(error: TurnError) -> Self {
        match error {
            TurnError::Invalid(invalid) => invalid.into(),
            TurnError::RateLimited(limited) => ApiError::rate_limited(limited),
            TurnError::Storage(error) => ApiError::Storage(error),
            // HTTP turns are never cancelled by the client; a shutdown can.
            TurnError::Cancelled => ApiError::Unavailable {
                code: "cancelled",
                detail: "The reply was interrupted. Please try again.".to_owned(),
            },
        }
    }
}

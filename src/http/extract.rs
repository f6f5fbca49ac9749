//! Request extractors: JSON bodies with precise errors. The caller's identity and address
//! (`Caller`, `ClientIp`) live in `crate::identity`, shared with the WebSocket.

use axum::body::Bytes;
use axum::extract::{FromRequest, Request};
use axum::http::header;
use serde::de::DeserializeOwned;

use super::error::{ApiError, ErrorCode};
pub use crate::identity::{
    Caller, ClientIp, SessionCookie, create_identity, is_https, session_cookie,
};

/// A JSON body. Errors are the API's: 413 too large, 415 not JSON, 422 naming the field.
pub struct ApiJson<T>(pub T);

impl<T, S> FromRequest<S> for ApiJson<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        // A body without Content-Type is refused too: browsers send such cross-site POSTs
        // without a CORS preflight, so accepting them would let any page spend our AI calls
        // with its visitors' cookies.
        let is_json = req
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|ct| ct.to_str().ok())
            .is_some_and(|ct| {
                let essence = ct.split(';').next().unwrap_or_default().trim();
                essence.eq_ignore_ascii_case("application/json")
                    || essence.to_ascii_lowercase().ends_with("+json")
            });
        if !is_json {
            return Err(ApiError::new(
                ErrorCode::UnsupportedMediaType,
                "Send the body as JSON with Content-Type: application/json.",
            ));
        }
        let bytes = Bytes::from_request(req, state).await.map_err(|rejection| {
            if rejection.status() == axum::http::StatusCode::PAYLOAD_TOO_LARGE {
                ApiError::new(
                    ErrorCode::PayloadTooLarge,
                    format!(
                        "The request body is larger than {} bytes.",
                        super::JSON_BODY_LIMIT
                    ),
                )
            } else {
                ApiError::new(
                    ErrorCode::InvalidBody,
                    format!("Could not read the request body: {rejection}"),
                )
            }
        })?;
        parse_json(&bytes).map(ApiJson)
    }
}

/// Deserializes with the path of the failing field, so errors can name it.
pub fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    let mut deserializer = serde_json::Deserializer::from_slice(bytes);
    let value = serde_path_to_error::deserialize(&mut deserializer).map_err(|error| {
        let path = error.path().to_string();
        let inner = error.into_inner();
        let message = inner.to_string();
        if inner.is_syntax() || inner.is_eof() {
            return ApiError::new(
                ErrorCode::InvalidJson,
                format!("The body is not valid JSON: {message}"),
            );
        }
        // serde reports a missing field at the parent's path, naming it in the message.
        let field = if path == "." {
            message
                .strip_prefix("missing field `")
                .and_then(|rest| rest.split('`').next())
                .map(str::to_owned)
        } else {
            Some(path)
        };
        let detail = match &field {
            Some(field) => format!("Invalid field `{field}`: {}", strip_position(&message)),
            None => format!("Invalid body: {}", strip_position(&message)),
        };
        ApiError {
            field,
            ..ApiError::new(ErrorCode::InvalidField, detail)
        }
    })?;
    deserializer.end().map_err(|e| {
        ApiError::new(
            ErrorCode::InvalidJson,
            format!("The body is not valid JSON: {e}"),
        )
    })?;
    Ok(value)
}

fn strip_position(message: &str) -> &str {
    message.split(" at line ").next().unwrap_or(message)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(serde::Deserialize, Debug)]
    #[allow(dead_code)]
    struct Body {
        command: String,
        timezone: Option<String>,
    }

    fn error_of(json: &str) -> (String, Option<String>) {
        let error = parse_json::<Body>(json.as_bytes()).unwrap_err();
        (error.code.as_str().to_owned(), error.field)
    }

    #[test]
    fn json_errors_name_the_field() {
        assert_eq!(
            error_of(r#"{"command": 5}"#),
            ("invalid_field".into(), Some("command".into()))
        );
        assert_eq!(
            error_of(r#"{"command": null}"#),
            ("invalid_field".into(), Some("command".into()))
        );
        assert_eq!(
            error_of(r#"{}"#),
            ("invalid_field".into(), Some("command".into()))
        );
        assert_eq!(
            error_of(r#"{"command": "x", "timezone": 3}"#),
            ("invalid_field".into(), Some("timezone".into()))
        );
        assert_eq!(error_of("not json").0, "invalid_json");
        assert_eq!(error_of(r#"{"command": "x"} trailing"#).0, "invalid_json");
    }
}

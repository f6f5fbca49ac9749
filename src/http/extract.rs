//! Request extractors: JSON bodies with precise errors, the client IP, and the caller's
//! anonymous identity.

use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};

use axum::body::Bytes;
use axum::extract::{ConnectInfo, FromRequest, FromRequestParts, Request};
use axum::http::header::{self, HeaderMap};
use axum::http::request::Parts;
use rand::RngCore;
use serde::de::DeserializeOwned;

use super::error::ApiError;
use crate::app::AppState;
use crate::store::{UserId, hash_token};

pub const SESSION_COOKIE: &str = "ballsy_session";

/// A JSON body. Errors are the API's: 413 too large, 415 not JSON, 422 naming the field.
pub struct ApiJson<T>(pub T);

impl<T, S> FromRequest<S> for ApiJson<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        if let Some(content_type) = req.headers().get(header::CONTENT_TYPE) {
            let is_json = content_type.to_str().is_ok_and(|ct| {
                let essence = ct.split(';').next().unwrap_or_default().trim();
                essence.eq_ignore_ascii_case("application/json") || essence.ends_with("+json")
            });
            if !is_json {
                return Err(ApiError::UnsupportedMediaType(
                    "Send the body as JSON with Content-Type: application/json.".to_owned(),
                ));
            }
        }
        let bytes = Bytes::from_request(req, state).await.map_err(|rejection| {
            if rejection.status() == axum::http::StatusCode::PAYLOAD_TOO_LARGE {
                ApiError::PayloadTooLarge(format!(
                    "The request body is larger than {} bytes.",
                    super::JSON_BODY_LIMIT
                ))
            } else {
                ApiError::BadRequest {
                    code: "invalid_body",
                    detail: format!("Could not read the request body: {rejection}"),
                }
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
            return ApiError::Unprocessable {
                code: "invalid_json",
                detail: format!("The body is not valid JSON: {message}"),
                field: None,
            };
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
        ApiError::Unprocessable {
            code: "invalid_field",
            detail,
            field,
        }
    })?;
    deserializer.end().map_err(|e| ApiError::Unprocessable {
        code: "invalid_json",
        detail: format!("The body is not valid JSON: {e}"),
        field: None,
    })?;
    Ok(value)
}

fn strip_position(message: &str) -> &str {
    message.split(" at line ").next().unwrap_or(message)
}

/// The client's IP: the socket peer, or — only with `TRUST_PROXY=true` — the last
/// `X-Forwarded-For` entry. Cloud Run's front end appends the address it saw as the last entry,
/// so anything a client wrote into the header itself sits to the left and is ignored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientIp(pub IpAddr);

pub fn client_ip(headers: &HeaderMap, peer: Option<SocketAddr>, trust_proxy: bool) -> IpAddr {
    if trust_proxy {
        let forwarded = headers
            .get_all("x-forwarded-for")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .filter_map(|entry| entry.trim().parse::<IpAddr>().ok())
            .next_back();
        if let Some(ip) = forwarded {
            return ip;
        }
    }
    peer.map_or(IpAddr::from([0, 0, 0, 0]), |p| p.ip())
}

impl FromRequestParts<AppState> for ClientIp {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let peer = parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map(|c| c.0);
        Ok(ClientIp(client_ip(
            &parts.headers,
            peer,
            state.config().trust_proxy,
        )))
    }
}

/// Whether the request reached us over HTTPS (directly, or per Cloud Run's front end).
pub fn is_https(headers: &HeaderMap, trust_proxy: bool) -> bool {
    trust_proxy
        && headers
            .get("x-forwarded-proto")
            .and_then(|v| v.to_str().ok())
            .is_some_and(|p| p.trim().eq_ignore_ascii_case("https"))
}

/// Where a request's credential came from.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Credential {
    Cookie(String),
    Bearer(String),
    Query(String),
}

fn credential(parts: &Parts) -> Option<Credential> {
    if let Some(auth) = parts
        .headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        && let Some(token) = auth.strip_prefix("Bearer ").map(str::trim)
        && !token.is_empty()
    {
        return Some(Credential::Bearer(token.to_owned()));
    }
    // Browsers cannot set headers on a WebSocket, so a token may come in the query string.
    if let Some(query) = parts.uri.query() {
        for (key, value) in form_urlencoded::parse(query.as_bytes()) {
            if key == "token" && !value.is_empty() {
                return Some(Credential::Query(value.into_owned()));
            }
        }
    }
    parts
        .headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, value)| *name == SESSION_COOKIE && !value.is_empty())
        .map(|(_, value)| Credential::Cookie(value.to_owned()))
}

/// A new random session token: 256 bits, URL-safe.
pub fn new_token() -> String {
    use base64::Engine;
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// Filled by the identity extractor when it created a new identity, so the middleware can set
/// the session cookie on the response (extractors cannot touch responses).
#[derive(Clone, Default)]
pub struct NewSessionSlot(pub Arc<Mutex<Option<String>>>);

/// The caller. Resolved from the session cookie, a bearer token or `?token=`; a request with
/// none (or with an unknown cookie) gets a fresh anonymous identity and the cookie.
#[derive(Debug, Clone)]
pub struct Identity {
    pub user: UserId,
}

impl FromRequestParts<AppState> for Identity {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        if let Some(identity) = parts.extensions.get::<Identity>() {
            return Ok(identity.clone());
        }
        let store = state.store();
        let user = match credential(parts) {
            Some(Credential::Bearer(token)) | Some(Credential::Query(token)) => {
                // A client that presents a token expects that identity; inventing another would
                // silently lose its data.
                store
                    .user_for_token(&hash_token(&token))
                    .await?
                    .ok_or_else(|| {
                        ApiError::Unauthorized(
                            "Unknown session token. Call POST /api/session for a new one."
                                .to_owned(),
                        )
                    })?
            }
            Some(Credential::Cookie(token)) => {
                match store.user_for_token(&hash_token(&token)).await? {
                    Some(user) => user,
                    None => create_identity(parts, state).await?,
                }
            }
            None => create_identity(parts, state).await?,
        };
        tracing::Span::current().record("user_id", user.as_str());
        let identity = Identity { user };
        parts.extensions.insert(identity.clone());
        Ok(identity)
    }
}

async fn create_identity(parts: &Parts, state: &AppState) -> Result<UserId, ApiError> {
    let token = new_token();
    let user = state.store().create_identity(&hash_token(&token)).await?;
    if let Some(slot) = parts.extensions.get::<NewSessionSlot>() {
        *slot.0.lock().unwrap_or_else(|p| p.into_inner()) = Some(token);
    }
    Ok(user)
}

/// The `Set-Cookie` value for a session token.
pub fn session_cookie(token: &str, secure: bool) -> String {
    format!(
        "{SESSION_COOKIE}={token}; Path=/; Max-Age=31536000; HttpOnly; SameSite=Lax{}",
        if secure { "; Secure" } else { "" }
    )
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
        match parse_json::<Body>(json.as_bytes()).unwrap_err() {
            ApiError::Unprocessable { code, field, .. } => (code.to_owned(), field),
            other => panic!("unexpected {other:?}"),
        }
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

    #[test]
    fn forwarded_for_is_used_only_behind_a_trusted_proxy_and_only_its_last_entry() {
        let mut headers = HeaderMap::new();
        headers.insert("x-forwarded-for", "6.6.6.6, 203.0.113.7".parse().unwrap());
        let peer = Some(SocketAddr::from(([10, 0, 0, 1], 4000)));
        assert_eq!(
            client_ip(&headers, peer, false),
            IpAddr::from([10, 0, 0, 1])
        );
        assert_eq!(
            client_ip(&headers, peer, true),
            IpAddr::from([203, 0, 113, 7])
        );
        headers.insert("x-forwarded-for", "garbage".parse().unwrap());
        assert_eq!(client_ip(&headers, peer, true), IpAddr::from([10, 0, 0, 1]));
    }

    #[test]
    fn tokens_are_long_and_random() {
        let a = new_token();
        assert!(a.len() >= 43, "256 bits in base64");
        assert_ne!(a, new_token());
    }

    #[test]
    fn cookies_are_http_only_and_lax() {
        let c = session_cookie("t", false);
        assert!(c.contains("HttpOnly") && c.contains("SameSite=Lax") && !c.contains("Secure"));
        assert!(session_cookie("t", true).ends_with("; Secure"));
    }
}

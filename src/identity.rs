//! Who is calling: the client's address and network, and the caller's anonymous identity
//! (session cookie, bearer token or `?token=`), for HTTP handlers and the WebSocket alike.

use std::net::{IpAddr, SocketAddr};

use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::header::{self, HeaderMap, HeaderValue};
use axum::http::request::Parts;
use axum::response::{IntoResponseParts, ResponseParts};
use rand::RngCore;

use crate::error::{ErrorCode, Problem};
use crate::limits::ClientKey;
use crate::state::AppState;
use crate::store::{UserId, hash_token};

pub const SESSION_COOKIE: &str = "ballsy_session";

/// The client's IP: the socket peer, or — only with `TRUST_PROXY=true` — the last
/// `X-Forwarded-For` entry. Cloud Run's front end appends the address it saw as the last entry,
/// so anything a client wrote into the header itself sits to the left and is ignored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientIp(pub IpAddr);

impl ClientIp {
    /// The network per-IP limits count (an IPv4 address or an IPv6 /64).
    pub fn key(self) -> ClientKey {
        ClientKey::of(self.0)
    }
}

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
        && let Some((scheme, token)) = auth.trim().split_once(' ')
        // Auth schemes are case-insensitive (RFC 7235 §2.1).
        && scheme.eq_ignore_ascii_case("bearer")
        && !token.trim().is_empty()
    {
        return Some(Credential::Bearer(token.trim().to_owned()));
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

/// The caller, as far as the request tells: a known user (by session cookie, bearer token or
/// `?token=`), or someone without an identity yet. Identities are created only by
/// `Caller::identify`, which handlers call after validating the request, so a request that
/// fails validation creates nothing.
#[derive(Debug, Clone)]
pub struct Caller {
    known: Option<UserId>,
    client: ClientKey,
    secure: bool,
}

/// The `Set-Cookie` for an identity created by this request, if one was.
#[derive(Debug, Clone, Default)]
#[must_use = "a new identity's cookie must be sent with the response"]
pub struct SessionCookie(Option<String>);

impl IntoResponseParts for SessionCookie {
    type Error = std::convert::Infallible;

    fn into_response_parts(self, mut parts: ResponseParts) -> Result<ResponseParts, Self::Error> {
        if let Some(cookie) = self.0
            && let Ok(value) = HeaderValue::from_str(&cookie)
        {
            parts.headers_mut().append(header::SET_COOKIE, value);
        }
        Ok(parts)
    }
}

impl SessionCookie {
    pub fn new(cookie: String) -> Self {
        SessionCookie(Some(cookie))
    }

    /// A cookie that deletes the session cookie (after "forget me").
    pub fn cleared(secure: bool) -> Self {
        SessionCookie(Some(format!(
            "{SESSION_COOKIE}=; Path=/; Max-Age=0; HttpOnly; SameSite=Lax{}",
            if secure { "; Secure" } else { "" }
        )))
    }
}

impl FromRequestParts<AppState> for Caller {
    type Rejection = Problem;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let store = state.store();
        let known = match credential(parts) {
            Some(Credential::Bearer(token)) | Some(Credential::Query(token)) => {
                // A client that presents a token expects that identity; inventing another would
                // silently lose its data.
                Some(store.user_for_token(&hash_token(&token)).await?.ok_or_else(|| {
                    Problem::new(
                        ErrorCode::Unauthorized,
                        "Unknown or expired session token. Call POST /api/session for a new one.",
                    )
                })?)
            }
            // An unknown cookie (expired, or from another deployment) just means a new visitor.
            Some(Credential::Cookie(token)) => store.user_for_token(&hash_token(&token)).await?,
            None => None,
        };
        if let Some(user) = &known {
            tracing::Span::current().record("user_id", user.as_str());
        }
        let peer = parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map(|c| c.0);
        let trust_proxy = state.config().trust_proxy;
        Ok(Caller {
            known,
            client: ClientKey::of(client_ip(&parts.headers, peer, trust_proxy)),
            secure: is_https(&parts.headers, trust_proxy),
        })
    }
}

impl Caller {
    pub fn known(&self) -> Option<&UserId> {
        self.known.as_ref()
    }

    pub fn client(&self) -> ClientKey {
        self.client
    }

    pub fn is_secure(&self) -> bool {
        self.secure
    }

    /// The caller's user, creating an anonymous identity (and its cookie) if they have none.
    /// New identities are limited per client network and hour.
    pub async fn identify(&self, state: &AppState) -> Result<(UserId, SessionCookie), Problem> {
        if let Some(user) = &self.known {
            return Ok((user.clone(), SessionCookie::default()));
        }
        let (user, token) = create_identity(state, self.client).await?;
        tracing::Span::current().record("user_id", user.as_str());
        Ok((
            user,
            SessionCookie(Some(session_cookie(&token, self.secure))),
        ))
    }
}

/// A new identity and its session token, within the new-session limit of `client`.
pub async fn create_identity(
    state: &AppState,
    client: ClientKey,
) -> Result<(UserId, String), Problem> {
    state
        .limits()
        .check_new_session(client)
        .await
        .map_err(|limited| {
            Problem::new(
                ErrorCode::TooManySessions,
                format!(
                    "Too many new sessions from your network. Please wait {} seconds, or keep using your existing session.",
                    limited.retry_after_secs()
                ),
            )
            .retry_after(limited.retry_after)
        })?;
    let token = new_token();
    let user = state.store().create_identity(&hash_token(&token)).await?;
    Ok((user, token))
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

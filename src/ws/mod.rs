//! The voice WebSocket `/ws/voice/{client_id}`.
//!
//! Browsers do not apply CORS to WebSockets: any site can open a socket to us and the browser
//! sends the visitor's cookie along. So the upgrade checks `Origin` against `CORS_ORIGINS` and
//! our own origin before anything else (cross-site WebSocket hijacking), then resolves the
//! caller's identity, then hands the socket to a session task tracked for graceful shutdown.

pub mod protocol;
mod session;

use axum::extract::ws::{OnFailedUpgrade, WebSocketUpgrade};
use axum::extract::{FromRequestParts, Path, Request, State};
use axum::http::{HeaderMap, header};
use axum::response::{IntoResponse, Response};
use tracing::Instrument;

pub use self::session::{IDLE, Peer, RESTARTING, SESSION_LIFETIME, close_for};
use crate::config::CorsOrigins;
use crate::error::{ErrorCode, Problem};
use crate::identity::{Caller, SessionCookie};
use crate::state::AppState;

/// Socket buffers. tungstenite allocates a 128 KiB read buffer per connection by default,
/// which is most of an idle socket's memory; commands are small, so a few KiB do.
const READ_BUFFER: usize = 4 * 1024;
const WRITE_BUFFER: usize = 4 * 1024;
/// A client that stops reading makes writes queue; beyond this the session ends.
const MAX_WRITE_BUFFER: usize = 256 * 1024;

pub async fn upgrade(
    State(state): State<AppState>,
    Path(client_id): Path<String>,
    request: Request,
) -> Response {
    let admitted = match admit(&state, client_id, request).await {
        Ok(admitted) => admitted,
        Err(refused) => return refused,
    };
    let span = tracing::info_span!("ws_session", client_id = %admitted.peer.client_id);
    let sessions = state.sessions().clone();
    let Admitted {
        upgrade,
        peer,
        cookie,
    } = admitted;
    let response =
        configure(upgrade, state.config().max_ws_message_bytes).on_upgrade(move |socket| {
            let session = session::Session::new(state, peer);
            sessions.track_future(session.run(socket).instrument(span))
        });
    (cookie, response).into_response()
}

/// A socket that passed the checks every socket of ours must pass, before the upgrade.
pub(crate) struct Admitted {
    pub upgrade: WebSocketUpgrade,
    pub peer: Peer,
    pub cookie: SessionCookie,
}

/// The rules shared by the voice socket and the Live socket, in order: a valid client id, an
/// allowed origin (before anything else that costs us, see the module comment), a WebSocket
/// upgrade, not draining, the caller's identity, then the per-network socket cap.
pub(crate) async fn admit(
    state: &AppState,
    client_id: String,
    request: Request,
) -> Result<Admitted, Response> {
    let (mut parts, _body) = request.into_parts();
    let headers = &parts.headers;
    if !valid_client_id(&client_id) {
        return Err(Problem::new(
            ErrorCode::InvalidClientId,
            "client_id must be 1 to 64 characters of A-Z, a-z, 0-9, _ and -.",
        )
        .into_response());
    }
    if !origin_allowed(headers, &state.config().cors_origins) {
        tracing::warn!(
            origin = headers
                .get(header::ORIGIN)
                .and_then(|o| o.to_str().ok())
                .unwrap_or(""),
            "refused a cross-origin WebSocket"
        );
        return Err(Problem::new(
            ErrorCode::ForbiddenOrigin,
            "This origin may not open the voice socket.",
        )
        .into_response());
    }
    let upgrade = match WebSocketUpgrade::from_request_parts(&mut parts, state).await {
        Ok(upgrade) => upgrade,
        Err(rejection) => {
            return Err(Problem::new(
                ErrorCode::WebsocketExpected,
                format!("This endpoint speaks WebSocket: {rejection}"),
            )
            .into_response());
        }
    };
    if state.is_draining() {
        return Err(Problem::new(
            ErrorCode::ShuttingDown,
            "This server is restarting; please reconnect.",
        )
        .into_response());
    }
    // Identity only after the origin check, so a hostile page cannot even create users.
    let caller = match Caller::from_request_parts(&mut parts, state).await {
        Ok(caller) => caller,
        Err(problem) => return Err(problem.into_response()),
    };
    // Behind a proxy the TCP peer is the proxy, so open sockets are counted per client network
    // here instead of connections in the accept loop.
    let slot = if state.config().trust_proxy && state.config().rate_limit.enabled {
        match state.sockets().try_acquire(caller.client()) {
            Some(slot) => Some(slot),
            None => {
                return Err(Problem::new(
                    ErrorCode::TooManyConnections,
                    "Too many open voice sockets from your network; close another tab first.",
                )
                .into_response());
            }
        }
    } else {
        None
    };
    let (user, cookie) = match caller.identify(state).await {
        Ok(identified) => identified,
        Err(problem) => return Err(problem.into_response()),
    };
    Ok(Admitted {
        upgrade,
        peer: Peer {
            user,
            client: caller.client(),
            client_id,
            _slot: slot,
        },
        cookie,
    })
}

/// Buffer sizes and message limits of every socket of ours.
pub(crate) fn configure(
    upgrade: WebSocketUpgrade,
    max_message: usize,
) -> WebSocketUpgrade<impl OnFailedUpgrade> {
    upgrade
        .read_buffer_size(READ_BUFFER)
        .write_buffer_size(WRITE_BUFFER)
        .max_write_buffer_size(MAX_WRITE_BUFFER)
        .max_message_size(max_message)
        .max_frame_size(max_message)
        .on_failed_upgrade(|error| tracing::warn!(%error, "WebSocket upgrade failed"))
}

fn valid_client_id(id: &str) -> bool {
    (1..=64).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

/// A request without `Origin` is not from a browser page (and hijacking needs a browser), so it
/// passes; a browser's `Origin` must be listed in CORS_ORIGINS or be this service's own origin.
fn origin_allowed(headers: &HeaderMap, allowed: &CorsOrigins) -> bool {
    let Some(origin) = headers.get(header::ORIGIN) else {
        return true;
    };
    let Ok(origin) = origin.to_str() else {
        return false;
    };
    if allowed.allows(origin) {
        return true;
    }
    let host = headers.get(header::HOST).and_then(|h| h.to_str().ok());
    let origin_host = origin
        .strip_prefix("https://")
        .or_else(|| origin.strip_prefix("http://"));
    matches!((origin_host, host), (Some(o), Some(h)) if o.eq_ignore_ascii_case(h))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(origin: Option<&str>, host: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(header::HOST, host.parse().unwrap());
        if let Some(o) = origin {
            h.insert(header::ORIGIN, o.parse().unwrap());
        }
        h
    }

    #[test]
    fn same_origin_listed_origins_and_originless_clients_pass() {
        let none = CorsOrigins::List(vec![]);
        let listed = CorsOrigins::List(vec!["https://app.example".into()]);
        assert!(origin_allowed(&headers(None, "ballsy.run.app"), &none));
        assert!(origin_allowed(
            &headers(Some("https://ballsy.run.app"), "ballsy.run.app"),
            &none
        ));
        assert!(origin_allowed(
            &headers(Some("http://localhost:8080"), "localhost:8080"),
            &none
        ));
        assert!(origin_allowed(
            &headers(Some("https://app.example"), "ballsy.run.app"),
            &listed
        ));
        assert!(!origin_allowed(
            &headers(Some("https://evil.example"), "ballsy.run.app"),
            &listed
        ));
        assert!(!origin_allowed(
            &headers(
                Some("https://ballsy.run.app.evil.example"),
                "ballsy.run.app"
            ),
            &none
        ));
        assert!(!origin_allowed(
            &headers(Some("null"), "ballsy.run.app"),
            &none
        ));
    }

    #[test]
    fn client_ids() {
        assert!(valid_client_id("tab-1_A"));
        assert!(!valid_client_id(""));
        assert!(!valid_client_id(&"a".repeat(65)));
        assert!(!valid_client_id("a b"));
        assert!(!valid_client_id("ü"));
    }
}

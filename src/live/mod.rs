//! Live voice: the socket `/ws/live/{client_id}`, a relay between the browser and Gemini Live
//! (`BidiGenerateContent`), so the key never reaches the browser and the server keeps the
//! budgets, the tools and the transcripts.
//!
//! The socket is admitted exactly as the voice socket is (`ws::admit`: origin, identity, the
//! per-network cap, not while draining) and obeys the same idle, lifetime and shutdown rules.
//! `upstream` opens Gemini Live; `session` relays one socket; `protocol` has the frames.
//! Optional query parameter: `timezone` (an IANA zone), for the timer and weather tools.

pub mod protocol;
mod session;
pub mod upstream;

use axum::extract::{Path, Query, Request, State};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use tracing::Instrument;

pub use self::upstream::LiveClient;
use crate::error::{ErrorCode, Problem};
use crate::state::AppState;
use crate::turns::ClientTimezone;
use crate::ws::{Admitted, admit, configure};

#[derive(Deserialize)]
pub struct LiveQuery {
    timezone: Option<String>,
}

pub async fn upgrade(
    State(state): State<AppState>,
    Path(client_id): Path<String>,
    Query(query): Query<LiveQuery>,
    request: Request,
) -> Response {
    let admitted = match admit(&state, client_id, request).await {
        Ok(admitted) => admitted,
        Err(refused) => return refused,
    };
    let Some(client) = state.live().cloned() else {
        return Problem::new(
            ErrorCode::LiveUnavailable,
            "Live voice is not configured on this server; use classic mode.",
        )
        .into_response();
    };
    let span = tracing::info_span!("live_session", client_id = %admitted.peer.client_id);
    let sessions = state.sessions().clone();
    let Admitted {
        upgrade,
        peer,
        cookie,
    } = admitted;
    let timezone = ClientTimezone::lenient(query.timezone.as_deref()).and_then(|tz| tz.zone());
    let response =
        configure(upgrade, state.config().max_ws_message_bytes).on_upgrade(move |socket| {
            let session = session::LiveSession::new(state, peer, client, timezone);
            sessions.track_future(session.run(socket).instrument(span))
        });
    (cookie, response).into_response()
}

//! `GET /openapi.json`, generated from the handlers' annotations so it cannot drift from the
//! code (and so the API can be fuzzed with schemathesis).

use axum::Json;
use utoipa::OpenApi;

use super::error::ErrorBody;
use super::resources::{
    command, conversation, export, health, history, me, session, settings, suggestions, timers,
    voice,
};
use crate::turns::CommandReply;

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Ballsy",
        description = "A voice assistant you talk to in the browser. Besides these endpoints, \
            the page talks to the WebSocket /ws/voice/{client_id} (see plan.md).",
    ),
    paths(
        health::health,
        health::ready,
        session::current,
        session::create,
        command::handle,
        voice::handle,
        history::list,
        settings::get,
        settings::update,
        conversation::current,
        conversation::restart,
        conversation::list,
        conversation::detail,
        conversation::reopen,
        export::export,
        me::forget,
        timers::list,
        timers::cancel,
        suggestions::chip,
    ),
    components(schemas(ErrorBody, CommandReply))
)]
pub struct ApiDoc;

pub async fn document() -> Json<utoipa::openapi::OpenApi> {
    Json(ApiDoc::openapi())
}

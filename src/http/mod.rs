//! The HTTP surface: router, middleware and one module per resource.

pub mod error;
pub mod extract;
mod middleware;
pub mod openapi;
mod page;
mod resources;

use std::time::Duration;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::{HeaderName, HeaderValue, Method, header};
use axum::middleware::{from_fn, from_fn_with_state};
use axum::routing::{delete, get, post};
use tower_http::cors::{AllowOrigin, CorsLayer};
use tower_http::timeout::TimeoutLayer;

use crate::config::CorsOrigins;
use crate::state::AppState;
use error::ApiError;

pub use middleware::REQUEST_ID_HEADER;

/// JSON request bodies are small (a command is at most 1000 characters).
pub const JSON_BODY_LIMIT: usize = 64 * 1024;
/// Longest an API request may take; model answers have their own, shorter deadline.
const API_TIMEOUT: Duration = Duration::from_secs(90);

pub fn router(state: AppState) -> Router {
    let voice_limit = state.config().max_upload_bytes + 64 * 1024;
    let api = Router::new()
        .route(
            "/session",
            get(resources::session::current).post(resources::session::create),
        )
        .route("/command", post(resources::command::handle))
        .route(
            "/voice",
            post(resources::voice::handle).layer(DefaultBodyLimit::max(voice_limit)),
        )
        .route("/history/{user_id}", get(resources::history::list))
        .route(
            "/settings/{user_id}",
            get(resources::settings::get).put(resources::settings::update),
        )
        .route(
            "/conversation",
            get(resources::conversation::current).delete(resources::conversation::restart),
        )
        .route("/conversations", get(resources::conversation::list))
        .route("/conversations/{id}", get(resources::conversation::detail))
        .route(
            "/conversations/{id}/reopen",
            post(resources::conversation::reopen),
        )
        .route("/export", get(resources::export::export))
        .route(
            "/turns/{id}/search-suggestions",
            get(resources::suggestions::chip),
        )
        .route("/timers", get(resources::timers::list))
        .route("/timers/{id}", delete(resources::timers::cancel))
        .route("/me", delete(resources::me::forget))
        .fallback(not_found)
        .layer(DefaultBodyLimit::max(JSON_BODY_LIMIT))
        .layer(from_fn(middleware::no_store))
        .layer(TimeoutLayer::with_status_code(
            axum::http::StatusCode::REQUEST_TIMEOUT,
            API_TIMEOUT,
        ))
        .layer(from_fn_with_state(
            state.clone(),
            middleware::require_schema,
        ))
        .layer(from_fn_with_state(state.clone(), middleware::ip_limit));

    // The socket is mounted outside the timeout: an upgraded connection is a long-lived task,
    // and the per-IP limit counts its upgrade.
    let sockets = Router::new()
        .route("/voice/{client_id}", get(crate::ws::upgrade))
        .route("/live/{client_id}", get(crate::live::upgrade))
        .layer(from_fn_with_state(
            state.clone(),
            middleware::require_schema,
        ))
        .layer(from_fn_with_state(state.clone(), middleware::ip_limit));

    Router::new()
        .route("/health", get(resources::health::health))
        .route("/ready", get(resources::health::ready))
        .route("/openapi.json", get(openapi::document))
        .nest("/api", api)
        .nest("/ws", sockets)
        .merge(page::router())
        .method_not_allowed_fallback(method_not_allowed)
        .layer(cors_layer(&state.config().cors_origins))
        .layer(from_fn_with_state(
            state.clone(),
            middleware::request_context,
        ))
        .with_state(state)
}

async fn not_found() -> ApiError {
    ApiError::not_found()
}

async fn method_not_allowed() -> ApiError {
    ApiError::new(error::ErrorCode::MethodNotAllowed, "Method Not Allowed")
}

/// An exact allow-list: a listed origin gets CORS headers (with credentials, since the session
/// is a cookie); any other origin gets none, so the browser blocks it. `*` (development only)
/// allows any origin without credentials — tower-http refuses `*` with credentials.
fn cors_layer(origins: &CorsOrigins) -> CorsLayer {
    let layer = CorsLayer::new()
        .allow_methods([Method::GET, Method::POST, Method::PUT, Method::DELETE])
        .allow_headers([
            header::CONTENT_TYPE,
            header::AUTHORIZATION,
            HeaderName::from_static(REQUEST_ID_HEADER),
        ])
        .expose_headers([
            HeaderName::from_static(REQUEST_ID_HEADER),
            header::RETRY_AFTER,
        ])
        .max_age(Duration::from_secs(600));
    match origins {
        CorsOrigins::Any => layer.allow_origin(AllowOrigin::any()),
        CorsOrigins::List(list) => layer
            .allow_origin(AllowOrigin::list(
                list.iter().filter_map(|o| HeaderValue::from_str(o).ok()),
            ))
            .allow_credentials(true),
    }
}

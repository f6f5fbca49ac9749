//! Cross-cutting HTTP behaviour: request ids, the request log span, security headers, JSON
//! bodies for every error, and the per-network limit.

use std::time::{Duration, Instant};

use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use tracing::Instrument;
use tracing::field::Empty;

use super::error::{ApiError, ErrorBody, ErrorCode};
use super::extract::{ClientIp, is_https};
use crate::state::AppState;
use crate::telemetry::TraceContext;

pub const REQUEST_ID_HEADER: &str = "x-request-id";

/// Wraps every request: takes the caller's `X-Request-Id` (or makes one) and echoes it, opens
/// the span whose fields every log line of the request carries, logs the completion with
/// status and latency, and adds security headers to every response, errors included.
pub async fn request_context(
    State(state): State<AppState>,
    request: Request,
    next: Next,
) -> Response {
    let started = Instant::now();
    let request_id = request
        .headers()
        .get(REQUEST_ID_HEADER)
        .and_then(|v| v.to_str().ok())
        .filter(|id| valid_request_id(id))
        .map(str::to_owned)
        .unwrap_or_else(|| uuid::Uuid::new_v4().to_string());
    let span = tracing::info_span!(
        "request",
        request_id = %request_id,
        method = %request.method(),
        path = %request.uri().path(),
        user_id = Empty,
        trace_id = Empty,
        span_id = Empty,
        trace_sampled = Empty,
        status = Empty,
        latency_ms = Empty,
    );
    if let Some(trace) = TraceContext::from_headers(request.headers()) {
        span.record("trace_id", trace.trace_id.as_str());
        if let Some(span_id) = &trace.span_id {
            span.record("span_id", span_id.as_str());
        }
        span.record("trace_sampled", trace.sampled);
    }
    let trust_proxy = state.config().trust_proxy;
    let https = is_https(request.headers(), trust_proxy);
    let is_probe = matches!(request.uri().path(), "/health" | "/ready");

    let response = next.run(request).instrument(span.clone()).await;
    let mut response = json_error_body(response).await;

    let headers = response.headers_mut();
    add_security_headers(headers, https);
    if let Ok(value) = HeaderValue::from_str(&request_id) {
        headers.insert(REQUEST_ID_HEADER, value);
    }
    let status = response.status().as_u16();
    let latency_ms = started.elapsed().as_secs_f64() * 1000.0;
    span.record("status", status);
    span.record("latency_ms", (latency_ms * 1000.0).round() / 1000.0);
    span.in_scope(|| {
        if status >= 500 {
            tracing::warn!("request completed");
        } else if is_probe {
            // Probes arrive every few seconds; keep them out of the default log.
            tracing::debug!("request completed");
        } else {
            tracing::info!("request completed");
        }
    });
    response
}

fn valid_request_id(id: &str) -> bool {
    !id.is_empty() && id.len() <= 128 && id.bytes().all(|b| b.is_ascii_graphic())
}

/// The page loads only its own scripts and styles (no inline code, no CDN), talks only to its
/// own origin (HTTP and WebSocket: CSP Level 3 `'self'` covers ws: and wss: of the same host, so
/// no request header is echoed into the policy), and may not be framed.
const CONTENT_SECURITY_POLICY: &str = "default-src 'self'; script-src 'self'; style-src 'self'; \
    img-src 'self' data:; media-src 'self' blob:; font-src 'self'; manifest-src 'self'; \
    connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'; \
    object-src 'none'";

/// Errors produced outside the handlers (axum's own rejections, such as an undecodable path)
/// come as plain text; every error leaves as the API's JSON body.
async fn json_error_body(response: Response) -> Response {
    let status = response.status();
    let is_json = response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|ct| ct.starts_with("application/json"));
    if !(status.is_client_error() || status.is_server_error()) || is_json {
        return response;
    }
    let (mut parts, body) = response.into_parts();
    let text = axum::body::to_bytes(body, 4096).await.unwrap_or_default();
    let code = match status.as_u16() {
        400 => ErrorCode::InvalidPath,
        404 => ErrorCode::NotFound,
        405 => ErrorCode::MethodNotAllowed,
        408 => ErrorCode::Timeout,
        413 => ErrorCode::PayloadTooLarge,
        415 => ErrorCode::UnsupportedMediaType,
        422 => ErrorCode::InvalidField,
        429 => ErrorCode::RateLimited,
        503 => ErrorCode::ShuttingDown,
        _ if status.is_client_error() => ErrorCode::InvalidBody,
        _ => ErrorCode::Internal,
    };
    let detail = String::from_utf8_lossy(&text).trim().to_owned();
    let body = ErrorBody {
        detail: if detail.is_empty() {
            status.canonical_reason().unwrap_or("Error").to_owned()
        } else {
            detail
        },
        code: code.as_str().to_owned(),
        field: None,
        retry_after_ms: None,
    };
    let bytes = serde_json::to_vec(&body).unwrap_or_default();
    parts.headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    parts.headers.remove(header::CONTENT_LENGTH);
    Response::from_parts(parts, axum::body::Body::from(bytes))
}

fn add_security_headers(headers: &mut HeaderMap, https: bool) {
    let mut set = |name: &'static str, value: &str| {
        if let Ok(value) = HeaderValue::from_str(value) {
            headers.entry(name).or_insert(value);
        }
    };
    set("x-content-type-options", "nosniff");
    set("referrer-policy", "strict-origin-when-cross-origin");
    set("x-frame-options", "DENY");
    set("cross-origin-opener-policy", "same-origin");
    // Geolocation is allowed for the page itself: a weather question without a place asks the
    // browser for its position (only then, and only with the user's consent).
    set(
        "permissions-policy",
        "microphone=(self), camera=(), geolocation=(self), payment=(), usb=()",
    );
    set("content-security-policy", CONTENT_SECURITY_POLICY);
    if https {
        set(
            "strict-transport-security",
            "max-age=31536000; includeSubDomains",
        );
    }
}

/// Per-IP limit on the API and the WebSocket upgrade.
pub async fn ip_limit(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    request: Request,
    next: Next,
) -> Response {
    match state.limits().check_ip(ClientIp(ip).key()) {
        Ok(()) => next.run(request).await,
        Err(limited) => ApiError::rate_limited(limited).into_response(),
    }
}

/// How long a request that needs the database waits for migrations at start.
const SCHEMA_WAIT: Duration = Duration::from_secs(10);

/// Holds API and socket requests until the schema is current, then lets them through; 503 with
/// `Retry-After` if migrations have not finished in time (the database is unreachable).
pub async fn require_schema(
    State(state): State<AppState>,
    request: Request,
    next: Next,
) -> Response {
    if state.is_migrated() || state.wait_until_migrated(SCHEMA_WAIT).await {
        return next.run(request).await;
    }
    ApiError::new(
        ErrorCode::StartingUp,
        "The server is still setting up its database. Please try again in a moment.",
    )
    .retry_after(Duration::from_secs(5))
    .into_response()
}

/// API responses are per user and must not be cached by browsers or proxies.
pub async fn no_store(request: Request, next: Next) -> Response {
    let mut response = next.run(request).await;
    response
        .headers_mut()
        .entry(header::CACHE_CONTROL)
        .or_insert(HeaderValue::from_static("no-store"));
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_ids_are_bounded_printable_ascii() {
        assert!(valid_request_id("abc-123"));
        assert!(!valid_request_id(""));
        assert!(!valid_request_id("has space"));
        assert!(!valid_request_id(&"x".repeat(129)));
    }

    #[test]
    fn csp_allows_only_our_own_origin_and_echoes_nothing() {
        assert!(CONTENT_SECURITY_POLICY.contains("connect-src 'self';"));
        assert!(CONTENT_SECURITY_POLICY.contains("script-src 'self';"));
        assert!(!CONTENT_SECURITY_POLICY.contains("unsafe-inline"));
        assert!(!CONTENT_SECURITY_POLICY.contains("ws://"));
    }
}

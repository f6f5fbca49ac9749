//! The page: `web/` embedded in the binary at compile time (a release image is one file).

use axum::Router;
use axum::http::{HeaderMap, HeaderValue, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use rust_embed::RustEmbed;
use tower_http::compression::CompressionLayer;

use super::error::{ApiError, ErrorCode};
use crate::state::AppState;

#[derive(RustEmbed)]
#[folder = "web/"]
struct WebAssets;

/// The page's text assets go out compressed (gzip or Brotli, as the browser accepts): about a
/// quarter of their size. Only the page: API replies are small, and streamed ones must not be
/// buffered by a compressor.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/", get(index))
        .route("/{*path}", get(asset))
        .layer(CompressionLayer::new())
}

async fn index(headers: HeaderMap) -> Response {
    serve("index.html", &headers)
}

/// The path is decoded here rather than by axum's `Path`, so an undecodable one (`%c0%ae`)
/// gets the API's JSON error like everything else.
async fn asset(uri: Uri, headers: HeaderMap) -> Response {
    let raw = uri.path().trim_start_matches('/');
    match percent_encoding::percent_decode_str(raw).decode_utf8() {
        Ok(path) => serve(&path, &headers),
        Err(_) => {
            ApiError::new(ErrorCode::InvalidPath, "The path is not valid UTF-8.").into_response()
        }
    }
}

fn serve(path: &str, request_headers: &HeaderMap) -> Response {
    let Some(file) = WebAssets::get(path) else {
        return ApiError::not_found().into_response();
    };
    // The files are not fingerprinted, so browsers revalidate each load; the ETag makes that a
    // 304 without a body. It is weak: the compressed and plain forms share it (RFC 9110 8.8.1).
    let tag = format!("\"{}\"", hex(&file.metadata.sha256_hash()[..16]));
    let etag = format!("W/{tag}");
    let mut response = if request_headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| {
            v.split(',')
                .any(|candidate| candidate.trim().trim_start_matches("W/") == tag)
        }) {
        StatusCode::NOT_MODIFIED.into_response()
    } else {
        (
            [(
                header::CONTENT_TYPE,
                HeaderValue::from_static(content_type(path)),
            )],
            file.data.into_owned(),
        )
            .into_response()
    };
    let headers = response.headers_mut();
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    if let Ok(value) = HeaderValue::from_str(&etag) {
        headers.insert(header::ETAG, value);
    }
    response
}

fn content_type(path: &str) -> &'static str {
    match path.rsplit('.').next().unwrap_or_default() {
        "html" => "text/html; charset=utf-8",
        "js" | "mjs" => "text/javascript; charset=utf-8",
        "css" => "text/css; charset=utf-8",
        "svg" => "image/svg+xml",
        "png" => "image/png",
        "ico" => "image/x-icon",
        "json" | "webmanifest" => "application/manifest+json",
        "txt" => "text/plain; charset=utf-8",
        _ => "application/octet-stream",
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

//! `GET /api/history/{user_id}`: the caller's past commands, newest first.

use axum::Json;
use axum::extract::{Path, Query, State};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::ensure_self;
use crate::app::AppState;
use crate::http::error::{ApiError, ErrorBody};
use crate::http::extract::Identity;

const DEFAULT_LIMIT: usize = 10;
const MAX_LIMIT: usize = 100;

#[derive(Deserialize, utoipa::IntoParams)]
pub struct HistoryQuery {
    /// How many entries, 1 to 100 (default 10).
    pub limit: Option<String>,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct HistoryResponse {
    pub history: Vec<HistoryItem>,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct HistoryItem {
    pub id: i64,
    pub user_id: String,
    pub command: String,
    pub result: String,
    pub action: Option<String>,
    pub source: String,
    pub timestamp: DateTime<Utc>,
}

#[utoipa::path(get, path = "/api/history/{user_id}", tag = "history",
    params(("user_id" = String, Path, description = "`me` or the caller's own id"), HistoryQuery),
    responses(
        (status = 200, body = HistoryResponse),
        (status = 404, description = "Another user's id", body = ErrorBody),
        (status = 422, description = "Bad limit", body = ErrorBody),
    ))]
pub async fn list(
    State(state): State<AppState>,
    identity: Identity,
    Path(user_id): Path<String>,
    Query(query): Query<HistoryQuery>,
) -> Result<Json<HistoryResponse>, ApiError> {
    ensure_self(&identity, &user_id)?;
    let limit = match query.limit.as_deref().map(str::trim) {
        None | Some("") => DEFAULT_LIMIT,
        Some(raw) => raw
            .parse::<usize>()
            .ok()
            .filter(|n| (1..=MAX_LIMIT).contains(n))
            .ok_or_else(|| {
                ApiError::invalid_field(
                    "limit",
                    format!(
                        "limit must be a whole number from 1 to {MAX_LIMIT}, not \"{}\".",
                        raw.chars().take(20).collect::<String>()
                    ),
                )
            })?,
    };
    let history = state
        .store()
        .history(&identity.user, limit)
        .await?
        .into_iter()
        .map(|h| HistoryItem {
            id: h.id,
            user_id: h.user_id,
            command: h.command,
            result: h.result,
            action: h.action,
            source: h.source,
            timestamp: h.created_at,
        })
        .collect();
    Ok(Json(HistoryResponse { history }))
}

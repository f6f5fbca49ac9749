//! `GET /api/history/{user_id}`: the caller's past commands, newest first.

use axum::Json;
use axum::extract::{Path, RawQuery, State};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::ensure_self;
use crate::http::error::{ApiError, ErrorBody};
use crate::http::extract::{Caller, SessionCookie};
use crate::state::AppState;

const DEFAULT_LIMIT: usize = 10;
const MAX_LIMIT: usize = 100;

/// The query string, for the OpenAPI document (the handler parses it itself, see `parse_limit`).
#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)]
pub struct HistoryQuery {
    /// How many entries, 1 to 100 (default 10).
    #[param(value_type = Option<u32>, minimum = 1, maximum = 100, required = false)]
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

/// `limit` from the query string: absent means the default; present more than once, empty or
/// out of range is a 422 naming it. Other parameters are ignored.
fn parse_limit(query: Option<&str>) -> Result<usize, ApiError> {
    let values: Vec<String> = form_urlencoded::parse(query.unwrap_or_default().as_bytes())
        .filter(|(key, _)| key == "limit")
        .map(|(_, value)| value.into_owned())
        .collect();
    let raw = match values.as_slice() {
        [] => return Ok(DEFAULT_LIMIT),
        [one] => one.trim(),
        _ => {
            return Err(ApiError::invalid_field(
                "limit",
                "limit may be given only once.",
            ));
        }
    };
    raw.parse::<usize>()
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
        })
}

#[utoipa::path(get, path = "/api/history/{user_id}", tag = "history",
    params(("user_id" = String, Path, description = "`me` or the caller's own id", example = "me"), HistoryQuery),
    responses(
        (status = 200, body = HistoryResponse),
        (status = 404, description = "Another user's id", body = ErrorBody),
        (status = 422, description = "Bad limit", body = ErrorBody),
    ))]
pub async fn list(
    State(state): State<AppState>,
    caller: Caller,
    Path(user_id): Path<String>,
    RawQuery(query): RawQuery,
) -> Result<(SessionCookie, Json<HistoryResponse>), ApiError> {
    let limit = parse_limit(query.as_deref())?;
    let (user, cookie) = caller.identify(&state).await?;
    ensure_self(&user, &user_id)?;
    let history = state
        .store()
        .history(&user, limit)
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
    Ok((cookie, Json(HistoryResponse { history })))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits() {
        assert_eq!(parse_limit(None).unwrap(), DEFAULT_LIMIT);
        assert_eq!(parse_limit(Some("other=1")).unwrap(), DEFAULT_LIMIT);
        assert_eq!(parse_limit(Some("limit=100")).unwrap(), 100);
        for bad in [
            "limit=",
            "limit=0",
            "limit=101",
            "limit=null",
            "limit=1&limit=2",
            "limit=-3",
        ] {
            assert!(parse_limit(Some(bad)).is_err(), "{bad}");
        }
    }
}

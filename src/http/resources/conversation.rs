//! `/api/conversation`: restore the current conversation after a reload, or start afresh.

use axum::Json;
use axum::extract::State;
use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::Value;

use crate::app::AppState;
use crate::http::error::{ApiError, ErrorBody};
use crate::http::extract::Identity;

/// Enough to fill the page; older messages stay in the database and in /api/history.
const RESTORE_MESSAGES: usize = 100;

#[derive(Serialize, utoipa::ToSchema)]
pub struct ConversationResponse {
    pub conversation_id: i64,
    /// Oldest first.
    pub messages: Vec<MessageView>,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct MessageView {
    pub id: i64,
    /// `user` or `assistant`.
    pub role: String,
    pub content: String,
    pub action: Option<String>,
    #[schema(value_type = Object, nullable = true)]
    pub data: Value,
    pub source: Option<String>,
    /// `complete`, `interrupted` (barge-in) or `failed`.
    pub status: String,
    pub created_at: DateTime<Utc>,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct NewConversation {
    pub conversation_id: i64,
}

#[utoipa::path(get, path = "/api/conversation", tag = "conversation",
    responses((status = 200, body = ConversationResponse), (status = 503, body = ErrorBody)))]
pub async fn current(
    State(state): State<AppState>,
    identity: Identity,
) -> Result<Json<ConversationResponse>, ApiError> {
    let store = state.store();
    let conversation_id = store.current_conversation_id(&identity.user).await?;
    let messages = store
        .recent_messages(&identity.user, RESTORE_MESSAGES)
        .await?
        .into_iter()
        .map(|m| MessageView {
            id: m.id,
            role: m.role,
            content: m.content,
            action: m.action,
            data: m
                .data
                .as_deref()
                .and_then(|d| serde_json::from_str(d).ok())
                .unwrap_or(Value::Null),
            source: m.source,
            status: m.status,
            created_at: m.created_at,
        })
        .collect();
    Ok(Json(ConversationResponse {
        conversation_id,
        messages,
    }))
}

/// Ends the current conversation (it stays in the history) and opens an empty one; the
/// calculator's last result is forgotten too.
#[utoipa::path(delete, path = "/api/conversation", tag = "conversation",
    responses((status = 200, body = NewConversation), (status = 503, body = ErrorBody)))]
pub async fn restart(
    State(state): State<AppState>,
    identity: Identity,
) -> Result<Json<NewConversation>, ApiError> {
    let conversation_id = state.store().start_new_conversation(&identity.user).await?;
    Ok(Json(NewConversation { conversation_id }))
}

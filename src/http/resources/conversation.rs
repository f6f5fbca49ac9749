//! Conversations: the open one (to restore the page after a reload), starting afresh, and the
//! list of past ones (newest first, searchable, reopenable).
//!
//! A conversation is stored as turns; each turn is shown as two messages (see
//! `conversation::messages_of`).

use axum::Json;
use axum::extract::{Path, RawQuery, State};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::conversation::StoredTurn;
pub use crate::conversation::{MessageView, messages_of};
use crate::http::error::{ApiError, ErrorBody};
use crate::http::extract::{Caller, SessionCookie};
use crate::state::AppState;
use crate::store::ConversationSummary;

/// Enough to fill the page; older turns stay in the database and in the conversation view.
const RESTORE_TURNS: usize = 100;
const DEFAULT_LIST: usize = 20;
const MAX_LIST: usize = 100;
const MAX_QUERY_CHARS: usize = 200;

#[derive(Serialize, utoipa::ToSchema)]
pub struct ConversationResponse {
    pub conversation_id: i64,
    pub started_at: DateTime<Utc>,
    /// Oldest first.
    pub messages: Vec<MessageView>,
}

fn messages(turns: &[StoredTurn]) -> Vec<MessageView> {
    turns.iter().flat_map(messages_of).collect()
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct NewConversation {
    pub conversation_id: i64,
    /// The conversation just ended: `POST /api/conversations/{id}/reopen` undoes the restart.
    pub previous_conversation_id: Option<i64>,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct ConversationList {
    /// Newest first.
    pub conversations: Vec<ConversationItem>,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct ConversationItem {
    pub id: i64,
    pub started_at: DateTime<Utc>,
    /// Null for the open conversation.
    pub ended_at: Option<DateTime<Utc>>,
    pub last_activity: DateTime<Utc>,
    pub turns: i64,
    /// The first command.
    pub title: Option<String>,
    /// The last reply.
    pub preview: Option<String>,
    pub open: bool,
}

impl From<ConversationSummary> for ConversationItem {
    fn from(summary: ConversationSummary) -> Self {
        ConversationItem {
            id: summary.id,
            started_at: summary.started_at,
            open: summary.ended_at.is_none(),
            ended_at: summary.ended_at,
            last_activity: summary.last_activity,
            turns: summary.turns,
            title: summary.title,
            preview: summary.preview,
        }
    }
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct ConversationDetail {
    #[serde(flatten)]
    pub conversation: ConversationItem,
    /// Oldest first.
    pub messages: Vec<MessageView>,
}

/// The query string, for the OpenAPI document (the handler parses it itself).
#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)]
pub struct ListQuery {
    /// Only conversations with a command or reply containing this text (case-insensitive).
    #[param(
        max_length = 200,
        pattern = r"^[^\u0000-\u001F\u007F-\u009F]*$",
        required = false
    )]
    pub q: Option<String>,
    /// Only conversations with a smaller id (the next page).
    #[param(value_type = Option<i64>, minimum = 1, required = false)]
    pub before: Option<String>,
    /// How many, 1 to 100 (default 20).
    #[param(value_type = Option<u32>, minimum = 1, maximum = 100, required = false)]
    pub limit: Option<String>,
}

struct ListParams {
    query: Option<String>,
    before: Option<i64>,
    limit: usize,
}

fn parse_list_query(raw: Option<&str>) -> Result<ListParams, ApiError> {
    let mut params = ListParams {
        query: None,
        before: None,
        limit: DEFAULT_LIST,
    };
    for (key, value) in form_urlencoded::parse(raw.unwrap_or_default().as_bytes()) {
        match key.as_ref() {
            "q" => {
                if value.chars().count() > MAX_QUERY_CHARS || value.chars().any(|c| c.is_control())
                {
                    return Err(ApiError::invalid_field(
                        "q",
                        format!(
                            "q must be at most {MAX_QUERY_CHARS} characters, without control characters."
                        ),
                    ));
                }
                params.query = Some(value.into_owned());
            }
            "before" => {
                params.before = Some(
                    value
                        .trim()
                        .parse::<i64>()
                        .ok()
                        .filter(|n| *n > 0)
                        .ok_or_else(|| {
                            ApiError::invalid_field("before", "before must be a conversation id.")
                        })?,
                );
            }
            "limit" => {
                params.limit = value
                    .trim()
                    .parse::<usize>()
                    .ok()
                    .filter(|n| (1..=MAX_LIST).contains(n))
                    .ok_or_else(|| {
                        ApiError::invalid_field(
                            "limit",
                            format!("limit must be a whole number from 1 to {MAX_LIST}."),
                        )
                    })?;
            }
            _ => {}
        }
    }
    Ok(params)
}

#[utoipa::path(get, path = "/api/conversation", tag = "conversation",
    responses(
        (status = 200, body = ConversationResponse, links(
            ("Detail" = (operation_id = "conversation_detail",
                parameters(("id" = "$response.body#/conversation_id")))),
            ("Reopen" = (operation_id = "conversation_reopen",
                parameters(("id" = "$response.body#/conversation_id")))),
        )),
        (status = 503, body = ErrorBody),
    ))]
pub async fn current(
    State(state): State<AppState>,
    caller: Caller,
) -> Result<(SessionCookie, Json<ConversationResponse>), ApiError> {
    let (user, cookie) = caller.identify(&state).await?;
    let open = state
        .store()
        .open_conversation(&user, RESTORE_TURNS)
        .await?;
    Ok((
        cookie,
        Json(ConversationResponse {
            conversation_id: open.id,
            started_at: open.started_at,
            messages: messages(&open.turns),
        }),
    ))
}

/// Ends the current conversation (it stays in the list of past ones) and opens an empty one.
#[utoipa::path(delete, path = "/api/conversation", tag = "conversation",
    responses(
        (status = 200, body = NewConversation, links(
            ("Undo" = (operation_id = "conversation_reopen",
                parameters(("id" = "$response.body#/previous_conversation_id")))),
        )),
        (status = 503, body = ErrorBody),
    ))]
pub async fn restart(
    State(state): State<AppState>,
    caller: Caller,
) -> Result<(SessionCookie, Json<NewConversation>), ApiError> {
    let (user, cookie) = caller.identify(&state).await?;
    let (conversation_id, previous_conversation_id) =
        state.store().start_new_conversation(&user).await?;
    state.hub().publish(
        &user,
        None,
        crate::hub::HubEvent::ConversationChanged { conversation_id },
    );
    Ok((
        cookie,
        Json(NewConversation {
            conversation_id,
            previous_conversation_id,
        }),
    ))
}

/// The caller's conversations, newest first, optionally searched.
#[utoipa::path(get, path = "/api/conversations", tag = "conversation",
    params(ListQuery),
    responses((status = 200, body = ConversationList), (status = 422, body = ErrorBody)))]
pub async fn list(
    State(state): State<AppState>,
    caller: Caller,
    RawQuery(query): RawQuery,
) -> Result<(SessionCookie, Json<ConversationList>), ApiError> {
    let params = parse_list_query(query.as_deref())?;
    let (user, cookie) = caller.identify(&state).await?;
    let conversations = state
        .store()
        .conversations(&user, params.query.as_deref(), params.before, params.limit)
        .await?
        .into_iter()
        .map(ConversationItem::from)
        .collect();
    Ok((cookie, Json(ConversationList { conversations })))
}

/// One of the caller's conversations with every message; another user's id is 404.
#[utoipa::path(get, path = "/api/conversations/{id}", tag = "conversation",
    operation_id = "conversation_detail",
    params(("id" = i64, Path, description = "A conversation id")),
    responses((status = 200, body = ConversationDetail), (status = 404, body = ErrorBody)))]
pub async fn detail(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<(SessionCookie, Json<ConversationDetail>), ApiError> {
    let (user, cookie) = caller.identify(&state).await?;
    let id: i64 = id.parse().map_err(|_| ApiError::not_found())?;
    let (summary, turns) = state
        .store()
        .conversation(&user, id)
        .await?
        .ok_or_else(ApiError::not_found)?;
    Ok((
        cookie,
        Json(ConversationDetail {
            conversation: summary.into(),
            messages: messages(&turns),
        }),
    ))
}

/// Makes a past conversation the open one again (it continues where it left off; the current
/// one is ended, or dropped if it is still empty).
#[utoipa::path(post, path = "/api/conversations/{id}/reopen", tag = "conversation",
    operation_id = "conversation_reopen",
    params(("id" = i64, Path, description = "A conversation id")),
    responses((status = 200, body = ConversationResponse), (status = 404, body = ErrorBody)))]
pub async fn reopen(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<(SessionCookie, Json<ConversationResponse>), ApiError> {
    let (user, cookie) = caller.identify(&state).await?;
    let id: i64 = id.parse().map_err(|_| ApiError::not_found())?;
    state
        .store()
        .reopen_conversation(&user, id)
        .await?
        .ok_or_else(ApiError::not_found)?;
    let open = state
        .store()
        .open_conversation(&user, RESTORE_TURNS)
        .await?;
    // The user's other tabs now show another conversation.
    state.hub().publish(
        &user,
        None,
        crate::hub::HubEvent::ConversationChanged {
            conversation_id: open.id,
        },
    );
    Ok((
        cookie,
        Json(ConversationResponse {
            conversation_id: open.id,
            started_at: open.started_at,
            messages: messages(&open.turns),
        }),
    ))
}

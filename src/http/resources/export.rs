//! `GET /api/export`: everything the caller said and was told, as JSON or Markdown.

use axum::extract::{RawQuery, State};
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use serde::Serialize;

use super::conversation::{ConversationItem, MessageView, messages_of};
use crate::conversation::StoredTurn;
use crate::http::error::{ApiError, ErrorBody};
use crate::http::extract::{Caller, SessionCookie};
use crate::state::AppState;
use crate::store::ConversationSummary;

#[derive(Serialize, utoipa::ToSchema)]
pub struct Export {
    pub user_id: String,
    pub exported_at: DateTime<Utc>,
    /// Oldest first.
    pub conversations: Vec<ExportedConversation>,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct ExportedConversation {
    #[serde(flatten)]
    pub conversation: ConversationItem,
    pub messages: Vec<MessageView>,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Format {
    Json,
    Markdown,
}

fn parse_format(query: Option<&str>) -> Result<Format, ApiError> {
    let format = form_urlencoded::parse(query.unwrap_or_default().as_bytes())
        .find(|(key, _)| key == "format")
        .map(|(_, value)| value.into_owned());
    match format.as_deref() {
        None | Some("json") => Ok(Format::Json),
        Some("md") | Some("markdown") => Ok(Format::Markdown),
        Some(_) => Err(ApiError::invalid_field(
            "format",
            "format must be json or md.",
        )),
    }
}

/// Every conversation of the caller, with timestamps, sources, statuses and actions.
/// The query string, for the OpenAPI document.
#[derive(serde::Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)]
pub struct ExportQuery {
    /// `json` (the default) or `md` (Markdown).
    #[param(pattern = "^(json|md|markdown)$", required = false)]
    pub format: Option<String>,
}

#[utoipa::path(get, path = "/api/export", tag = "privacy",
    params(ExportQuery),
    responses(
        (status = 200, description = "The export as an attachment: JSON, or Markdown with `format=md`",
            content((Export = "application/json"), (String = "text/markdown"))),
        (status = 422, body = ErrorBody),
    ))]
pub async fn export(
    State(state): State<AppState>,
    caller: Caller,
    RawQuery(query): RawQuery,
) -> Result<(SessionCookie, Response), ApiError> {
    let format = parse_format(query.as_deref())?;
    let (user, cookie) = caller.identify(&state).await?;
    let conversations = state.store().export(&user).await?;
    let now = Utc::now();
    let stamp = now.format("%Y%m%d-%H%M%S");
    let (body, content_type, extension) = match format {
        Format::Json => (
            serde_json::to_vec_pretty(&Export {
                user_id: user.to_string(),
                exported_at: now,
                conversations: conversations
                    .into_iter()
                    .map(|(summary, turns)| ExportedConversation {
                        conversation: summary.into(),
                        messages: turns.iter().flat_map(messages_of).collect(),
                    })
                    .collect(),
            })
            .map_err(|_| ApiError::internal())?,
            "application/json",
            "json",
        ),
        Format::Markdown => (
            markdown(&conversations, now).into_bytes(),
            "text/markdown; charset=utf-8",
            "md",
        ),
    };
    let mut response = body.into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    if let Ok(value) = HeaderValue::from_str(&format!(
        "attachment; filename=\"ballsy-export-{stamp}.{extension}\""
    )) {
        headers.insert(header::CONTENT_DISPOSITION, value);
    }
    Ok((cookie, response))
}

fn markdown(
    conversations: &[(ConversationSummary, Vec<StoredTurn>)],
    now: DateTime<Utc>,
) -> String {
    let mut out = format!(
        "# Ballsy conversations\n\nExported {} (UTC).\n",
        now.format("%Y-%m-%d %H:%M")
    );
    for (summary, turns) in conversations {
        out.push_str(&format!(
            "\n## Conversation started {}\n",
            summary.started_at.format("%Y-%m-%d %H:%M")
        ));
        for turn in turns {
            out.push_str(&format!(
                "\n**You** ({}): {}\n\n**Ballsy** ({}, {}{}): {}\n",
                turn.command_at.format("%H:%M:%S"),
                turn.command,
                turn.replied_at.format("%H:%M:%S"),
                turn.source,
                if turn.status == crate::conversation::Status::Complete {
                    String::new()
                } else {
                    format!(", {}", turn.status)
                },
                turn.reply
            ));
            if let Some(action) = &turn.action {
                out.push_str(&format!("\n> {}: {}\n", action.kind(), action.data()));
            }
        }
    }
    out
}

//! One conversation turn, the same for HTTP and the WebSocket: validate, rate-limit, route to a
//! smart command or the model, stream the answer, persist the exchange, then reply.
//!
//! The reply is returned only after the exchange is committed: a command the server has
//! acknowledged is in the database.

use std::time::Instant;

use chrono::Utc;
use futures_util::StreamExt;
use serde::Serialize;
use serde_json::Value;
use tokio_util::sync::CancellationToken;

use crate::ai::{AiError, ChatEvent, ChatRequest, Completion, FinishReason, Role, Turn};
use crate::app::AppState;
use crate::assistant::{self, Action, Context, Question, Routed};
use crate::config::MAX_COMMAND_CHARS;
use crate::limits::RateLimited;
use crate::store::{Budget, StoreError, TurnRecord, UserId};

pub const BUDGET_USER_REPLY: &str = "I've used up today's AI budget for you, so open questions will have to wait until tomorrow. Smart commands like YouTube, maps, math and the time still work.";
pub const BUDGET_TOTAL_REPLY: &str = "I've used up today's AI budget, so open questions will have to wait until tomorrow. Smart commands like YouTube, maps, math and the time still work.";
const MAX_TOKENS_REPLY: &str =
    "That needs a longer answer than I can give out loud. Could you ask about one part of it?";
const CUT_OFF_SUFFIX: &str = " Sorry, I lost my connection there.";

/// A command as received, before validation.
#[derive(Debug, Clone)]
pub struct TurnInput {
    pub user: UserId,
    pub command: String,
    /// The client's IANA time zone, if it sent one.
    pub timezone: Option<String>,
}

/// The answer to a command: the predecessor's `{response, action, data}` plus `source`.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct CommandReply {
    pub response: String,
    /// `open_url`, `search`, `open_app`, `exit`, or null.
    pub action: Option<String>,
    /// `{url, description}`, `{query}`, `{app_name}`, or null.
    #[schema(value_type = Object, nullable = true)]
    pub data: Value,
    /// Who answered: `rule`, `gemini`, `offline`, `budget` (daily AI budget used up) or
    /// `fallback` (the AI failed; a search is offered).
    pub source: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InvalidCommand {
    Empty,
    TooLong { chars: usize },
}

impl InvalidCommand {
    pub fn code(&self) -> &'static str {
        match self {
            InvalidCommand::Empty => "invalid_command",
            InvalidCommand::TooLong { .. } => "command_too_long",
        }
    }

    pub fn message(&self) -> String {
        match self {
            InvalidCommand::Empty => "The command is empty.".to_owned(),
            InvalidCommand::TooLong { chars } => {
                format!("The command is {chars} characters long; the limit is {MAX_COMMAND_CHARS}.")
            }
        }
    }
}

#[derive(Debug)]
pub enum TurnError {
    Invalid(InvalidCommand),
    RateLimited(RateLimited),
    Storage(StoreError),
    /// The client cancelled (barge-in); what was said so far is stored as interrupted.
    Cancelled,
}

impl From<StoreError> for TurnError {
    fn from(error: StoreError) -> Self {
        TurnError::Storage(error)
    }
}

/// Checks length (in characters, before trimming, as the predecessor did) and emptiness.
pub fn validate_command(command: &str) -> Result<&str, InvalidCommand> {
    let chars = command.chars().count();
    if chars > MAX_COMMAND_CHARS {
        return Err(InvalidCommand::TooLong { chars });
    }
    let trimmed = command.trim();
    if trimmed.is_empty() {
        return Err(InvalidCommand::Empty);
    }
    Ok(trimmed)
}

/// Runs one turn. `on_delta` receives answer text as the model streams it (rule-based answers
/// send none). Cancelling `cancel` stops the model, drops the upstream request and stores the
/// partial answer as interrupted.
pub async fn run(
    state: &AppState,
    input: TurnInput,
    on_delta: &mut (dyn FnMut(&str) + Send),
    cancel: &CancellationToken,
) -> Result<CommandReply, TurnError> {
    let started = Instant::now();
    let command = validate_command(&input.command)
        .map_err(TurnError::Invalid)?
        .to_owned();
    state
        .limits()
        .check_user(&input.user)
        .await
        .map_err(TurnError::RateLimited)?;
    let command_at = Utc::now();
    let timezone = input
        .timezone
        .as_deref()
        .and_then(|tz| tz.trim().parse::<chrono_tz::Tz>().ok());
    let previous = if assistant::needs_previous_result(&command) {
        state
            .store()
            .calculator_result(&input.user)
            .await?
            .and_then(|stored| assistant::math::Number::from_stored(&stored))
    } else {
        None
    };
    let routed = assistant::route(
        &command,
        &Context {
            now: command_at,
            timezone,
            previous_result: previous.as_ref(),
        },
    );
    let mut record = TurnRecord {
        user_id: input.user.clone(),
        command: command.clone(),
        command_at,
        reply: String::new(),
        action: None,
        data: None,
        source: String::new(),
        model: None,
        status: "complete",
        replied_at: command_at,
        calculation: None,
    };
    let reply = match routed {
        Routed::Reply(reply) => {
            record.model = Some(reply.rule.to_owned());
            record.calculation = reply.calculation.as_ref().map(|n| n.to_stored());
            finish(reply.response, reply.action, "rule")
        }
        Routed::Ask(question) => {
            match ask_model(state, &input.user, &question, on_delta, cancel, &mut record).await? {
                Some(reply) => reply,
                None => {
                    // Cancelled: keep what the user heard, marked as interrupted.
                    record.replied_at = Utc::now();
                    state.store().record_turn(record).await?;
                    return Err(TurnError::Cancelled);
                }
            }
        }
    };
    record.reply = reply.response.clone();
    record.action = reply.action.clone();
    record.data = (!reply.data.is_null()).then(|| reply.data.to_string());
    record.source = reply.source.clone();
    record.replied_at = Utc::now();
    state.store().record_turn(record.clone()).await?;
    tracing::info!(
        source = %reply.source,
        answered_by = record.model.as_deref().unwrap_or(""),
        turn_status = record.status,
        action = reply.action.as_deref().unwrap_or(""),
        turn_ms = started.elapsed().as_millis() as u64,
        "turn completed"
    );
    Ok(reply)
}

fn finish(response: String, action: Option<Action>, source: &str) -> CommandReply {
    CommandReply {
        response,
        data: action.as_ref().map(Action::data).unwrap_or(Value::Null),
        action: action.map(|a| a.kind().to_owned()),
        source: source.to_owned(),
    }
}

/// Asks the model. Returns None when the turn was cancelled (the partial text is in `record`).
async fn ask_model(
    state: &AppState,
    user: &UserId,
    question: &Question,
    on_delta: &mut (dyn FnMut(&str) + Send),
    cancel: &CancellationToken,
    record: &mut TurnRecord,
) -> Result<Option<CommandReply>, TurnError> {
    let model = state.model();
    record.model = Some(model.model_name().to_owned());
    let online = model.source() != "offline";
    if online {
        match state.limits().consume_ai_request(user).await? {
            Budget::Granted => {}
            Budget::UserExhausted => {
                return Ok(Some(finish(BUDGET_USER_REPLY.to_owned(), None, "budget")));
            }
            Budget::TotalExhausted => {
                tracing::warn!("the service-wide daily AI budget is used up");
                return Ok(Some(finish(BUDGET_TOTAL_REPLY.to_owned(), None, "budget")));
            }
        }
    }
    let history = state
        .store()
        .recent_messages(user, state.config().context_turns)
        .await?
        .into_iter()
        .filter(|m| m.status != "failed")
        .map(|m| Turn {
            role: if m.role == "user" {
                Role::User
            } else {
                Role::Model
            },
            text: m.content,
        })
        .collect();
    let request = ChatRequest {
        system: state.config().persona.clone(),
        history,
        message: question.text.clone(),
    };
    let mut stream = model.stream_chat(request);
    let mut text = String::new();
    let outcome: Result<Option<Completion>, AiError> = loop {
        tokio::select! {
            biased;
            _ = cancel.cancelled() => {
                // Dropping the stream closes the upstream request.
                drop(stream);
                record.reply = text;
                // A barge-in is the user's choice; a reply cut off by a restart is a failure the
                // page offers to retry.
                record.status = if state.is_draining() { "failed" } else { "interrupted" };
                record.source = model.source().to_owned();
                return Ok(None);
            }
            event = stream.next() => match event {
                Some(Ok(ChatEvent::Delta(delta))) => {
                    on_delta(&delta);
                    text.push_str(&delta);
                }
                Some(Ok(ChatEvent::Done(completion))) => break Ok(Some(completion)),
                Some(Err(error)) => break Err(error),
                None => break Ok(None),
            }
        }
    };
    let source = model.source();
    let answer = text.trim().to_owned();
    let reply = match outcome {
        Ok(completion) => {
            if let Some(completion) = &completion {
                record.model = Some(completion.model.clone());
                tracing::info!(
                    model = %completion.model,
                    prompt_tokens = completion.usage.prompt_tokens,
                    output_tokens = completion.usage.output_tokens,
                    thoughts_tokens = completion.usage.thoughts_tokens,
                    finish = ?completion.finish,
                    "model answered"
                );
            }
            if answer.is_empty() {
                match completion.map(|c| c.finish) {
                    Some(FinishReason::MaxTokens) => {
                        finish(MAX_TOKENS_REPLY.to_owned(), None, source)
                    }
                    _ => failed(record, question, &AiError::EmptyAnswer),
                }
            } else if let Some(fallback) = assistant::uncertain_fallback(question, &answer) {
                finish(fallback.response, fallback.action, source)
            } else {
                finish(answer, None, source)
            }
        }
        Err(error) => {
            tracing::warn!(error = %error, kind = error.kind(), partial_chars = answer.chars().count(), "the model failed");
            if answer.is_empty() {
                failed(record, question, &error)
            } else {
                // The user already heard the beginning; keep it and say it was cut off.
                record.status = "failed";
                let ellipsis = if answer.ends_with(['.', '!', '?', '…']) {
                    ""
                } else {
                    "…"
                };
                finish(format!("{answer}{ellipsis}{CUT_OFF_SUFFIX}"), None, source)
            }
        }
    };
    Ok(Some(reply))
}

/// The reply when the model produced nothing: a clear sentence, and a web search where that
/// helps (the predecessor's fallback).
fn failed(record: &mut TurnRecord, question: &Question, error: &AiError) -> CommandReply {
    record.status = "failed";
    let action = error
        .offers_search()
        .then(|| assistant::failure_fallback(question));
    finish(error.spoken().to_owned(), action, "fallback")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exactly_the_limit_is_accepted() {
        let at_limit = "a".repeat(MAX_COMMAND_CHARS);
        assert_eq!(validate_command(&at_limit), Ok(at_limit.as_str()));
        let over = "a".repeat(MAX_COMMAND_CHARS + 1);
        assert_eq!(
            validate_command(&over),
            Err(InvalidCommand::TooLong {
                chars: MAX_COMMAND_CHARS + 1
            })
        );
    }

    #[test]
    fn length_counts_characters_not_bytes() {
        let accents = "é".repeat(MAX_COMMAND_CHARS);
        assert!(validate_command(&accents).is_ok());
    }

    #[test]
    fn blank_commands_are_empty() {
        assert_eq!(validate_command(""), Err(InvalidCommand::Empty));
        assert_eq!(validate_command(" \n\t "), Err(InvalidCommand::Empty));
        assert_eq!(validate_command("  hi  "), Ok("hi"));
    }

    #[test]
    fn messages_are_precise() {
        assert_eq!(
            InvalidCommand::TooLong { chars: 1001 }.message(),
            "The command is 1001 characters long; the limit is 1000."
        );
    }
}

//! The conversation's vocabulary, shared by the turns service, the store and the transports:
//! who answered (`Source`), how the answer ended (`Status`), and the exchange as it is stored
//! (`TurnRecord`, one row per exchange) and read back (`StoredTurn`).
//!
//! A conversation is a list of turns; the "messages" the page shows (a user message and an
//! assistant message per turn) are derived from them, never stored twice.

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::Value;

use crate::assistant::Action;
use crate::store::UserId;

/// Who produced a reply.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Source {
    /// A smart command or skill, answered without a model.
    Rule,
    Gemini,
    /// The keyless offline model.
    Offline,
    /// A daily AI budget was used up.
    Budget,
    /// The model failed; a sentence (and maybe a search) stands in.
    Fallback,
    /// A Gemini Live voice session.
    Live,
}

/// How a reply ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    Complete,
    /// The model reached its output cap; the reply ends at its last full sentence.
    Truncated,
    /// The user barged in; the reply holds what was said until then.
    Interrupted,
    /// The answer broke off mid-way (connection lost, upstream error, server restart).
    CutOff,
    /// Content filters stopped the answer.
    Refused,
    /// No answer at all.
    Failed,
}

macro_rules! text_enum {
    ($name:ident { $($variant:ident => $text:literal),+ $(,)? }) => {
        impl $name {
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            pub fn as_str(self) -> &'static str {
                match self { $($name::$variant => $text),+ }
            }
        }

        impl FromStr for $name {
            type Err = UnknownValue;
            fn from_str(text: &str) -> Result<Self, UnknownValue> {
                match text {
                    $($text => Ok($name::$variant),)+
                    other => Err(UnknownValue(format!(concat!(stringify!($name), " {:?}"), other))),
                }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

text_enum!(Source {
    Rule => "rule",
    Gemini => "gemini",
    Offline => "offline",
    Budget => "budget",
    Fallback => "fallback",
    Live => "live",
});

text_enum!(Status {
    Complete => "complete",
    Truncated => "truncated",
    Interrupted => "interrupted",
    CutOff => "cut_off",
    Refused => "refused",
    Failed => "failed",
});

impl Status {
    /// Whether the model should see this exchange as context for the next question. A question
    /// that got no model answer is left out, so the next request never carries two user
    /// messages in a row (a real model would answer the old question again).
    pub fn is_context(self) -> bool {
        matches!(
            self,
            Status::Complete | Status::Truncated | Status::Interrupted | Status::CutOff
        )
    }
}

/// A stored value the code does not know (a newer binary wrote it, or the row is corrupt).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown {0}")]
pub struct UnknownValue(pub String);

pub type TurnId = i64;

/// One exchange as it is persisted: built once, from the turn's outcome.
#[derive(Debug, Clone, PartialEq)]
pub struct TurnRecord {
    pub user: UserId,
    pub command: String,
    pub command_at: DateTime<Utc>,
    pub reply: String,
    pub action: Option<Action>,
    pub source: Source,
    /// The rule or model that answered.
    pub answered_by: Option<String>,
    pub status: Status,
    pub replied_at: DateTime<Utc>,
    /// The calculator's exact result, when the command was a calculation.
    pub calculation: Option<String>,
}

/// One exchange as read back.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredTurn {
    pub id: TurnId,
    pub conversation_id: i64,
    pub command: String,
    pub command_at: DateTime<Utc>,
    pub reply: String,
    pub action: Option<Action>,
    pub source: Source,
    pub answered_by: Option<String>,
    pub status: Status,
    pub replied_at: DateTime<Utc>,
}

/// One message as clients see it. Each turn is shown as two, the user's and the assistant's,
/// whose ids are derived from the turn's (2n and 2n+1), so they are stable.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct MessageView {
    pub id: i64,
    pub turn_id: TurnId,
    /// `user` or `assistant`.
    pub role: &'static str,
    pub content: String,
    pub action: Option<String>,
    #[schema(value_type = Object, nullable = true)]
    pub data: Value,
    /// Who answered (assistant messages only).
    pub source: Option<Source>,
    /// `complete`, `truncated`, `interrupted`, `cut_off`, `refused` or `failed`.
    pub status: Status,
    pub created_at: DateTime<Utc>,
}

/// The two messages of one turn: what the user said, then what they were told.
pub fn messages_of(turn: &StoredTurn) -> [MessageView; 2] {
    [
        MessageView {
            id: turn.id * 2,
            turn_id: turn.id,
            role: "user",
            content: turn.command.clone(),
            action: None,
            data: Value::Null,
            source: None,
            status: Status::Complete,
            created_at: turn.command_at,
        },
        MessageView {
            id: turn.id * 2 + 1,
            turn_id: turn.id,
            role: "assistant",
            content: turn.reply.clone(),
            action: turn.action.as_ref().map(|a| a.kind().to_owned()),
            data: turn.action.as_ref().map_or(Value::Null, Action::data),
            source: Some(turn.source),
            status: turn.status,
            created_at: turn.replied_at,
        },
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_forms_round_trip_and_match_serde() {
        for source in Source::ALL {
            assert_eq!(source.as_str().parse::<Source>(), Ok(*source));
            assert_eq!(
                serde_json::to_value(source).unwrap(),
                serde_json::json!(source.as_str())
            );
        }
        for status in Status::ALL {
            assert_eq!(status.as_str().parse::<Status>(), Ok(*status));
            assert_eq!(
                serde_json::to_value(status).unwrap(),
                serde_json::json!(status.as_str())
            );
        }
        assert!("bogus".parse::<Status>().is_err());
    }

    #[test]
    fn failed_and_refused_questions_are_not_context() {
        assert!(Status::Complete.is_context());
        assert!(Status::Interrupted.is_context());
        assert!(!Status::Failed.is_context());
        assert!(!Status::Refused.is_context());
    }
}

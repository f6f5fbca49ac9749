//! The voice socket's frames. Client frames keep the predecessor's shapes (`{"command": …}`,
//! `{"status": "listening"}`); server frames add streaming (`response_delta`), `id`s so a
//! client can match replies to commands, and the events that keep a user's tabs in step.

use serde::Serialize;
use serde_json::Value;

use crate::conversation::MessageView;
use crate::error::Problem;
use crate::skills::Coordinates;
use crate::turns::CommandReply;

/// A client-chosen id for a command (a string of up to 64 characters or an integer), echoed
/// on every frame about that command; the server numbers commands that come without one.
pub type MessageId = Value;

#[derive(Debug, Clone, PartialEq)]
pub enum ClientFrame {
    Command {
        /// Any JSON value: a non-string is answered with an `invalid_command` error.
        command: Value,
        timezone: Option<String>,
        id: Option<MessageId>,
        /// `{"latitude", "longitude"}`, sent with a weather question when the user let the
        /// page share its position; anything invalid is ignored.
        location: Option<Coordinates>,
    },
    Listening,
    Cancel,
    Ping,
    Unknown,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InvalidJson;

pub fn parse_client_frame(text: &str) -> Result<ClientFrame, InvalidJson> {
    let value: Value = serde_json::from_str(text).map_err(|_| InvalidJson)?;
    let Some(object) = value.as_object() else {
        return Ok(ClientFrame::Unknown);
    };
    if let Some(command) = object.get("command") {
        return Ok(ClientFrame::Command {
            command: command.clone(),
            timezone: object
                .get("timezone")
                .and_then(Value::as_str)
                .filter(|tz| tz.len() <= 64)
                .map(str::to_owned),
            id: object.get("id").filter(|id| valid_id(id)).cloned(),
            location: object.get("location").and_then(|l| {
                Coordinates::new(l.get("latitude")?.as_f64()?, l.get("longitude")?.as_f64()?)
            }),
        });
    }
    match (
        object.get("type").and_then(Value::as_str),
        object.get("status").and_then(Value::as_str),
    ) {
        (Some("cancel"), _) => Ok(ClientFrame::Cancel),
        (Some("ping"), _) => Ok(ClientFrame::Ping),
        (None, Some("listening")) => Ok(ClientFrame::Listening),
        _ => Ok(ClientFrame::Unknown),
    }
}

fn valid_id(id: &Value) -> bool {
    match id {
        Value::String(s) => !s.is_empty() && s.chars().count() <= 64,
        Value::Number(n) => n.is_i64() || n.is_u64(),
        _ => false,
    }
}

#[derive(Debug, Clone, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ServerFrame {
    StatusUpdate {
        status: &'static str,
    },
    ResponseDelta {
        id: MessageId,
        delta: String,
    },
    CommandResponse {
        id: MessageId,
        data: CommandReply,
    },
    Cancelled {
        id: MessageId,
    },
    /// A turn another tab of the same user finished: its two messages.
    TurnSynced {
        messages: [MessageView; 2],
    },
    /// The user's open conversation changed in another tab (a new one, or a past one
    /// reopened): reload it from `/api/conversation`.
    ConversationChanged {
        conversation_id: i64,
    },
    /// A timer, alarm or reminder is due: ring (within a second of `due_at`).
    TimerDue {
        id: i64,
        kind: String,
        label: String,
        due_at: chrono::DateTime<chrono::Utc>,
    },
    /// One that came due while no page of the user was open; sent once, when a socket opens.
    TimerMissed {
        id: i64,
        kind: String,
        label: String,
        due_at: chrono::DateTime<chrono::Utc>,
    },
    Error {
        code: &'static str,
        message: String,
        #[serde(skip_serializing_if = "Option::is_none")]
        id: Option<MessageId>,
        #[serde(skip_serializing_if = "Option::is_none")]
        retry_after_ms: Option<u64>,
    },
    Pong,
}

impl ServerFrame {
    pub fn error(problem: Problem, id: Option<MessageId>) -> Self {
        ServerFrame::Error {
            code: problem.code.as_str(),
            retry_after_ms: problem.retry_after_ms(),
            message: problem.message,
            id,
        }
    }

    pub fn to_json(&self) -> String {
        // Serializing these types cannot fail (string keys, no maps with non-string keys).
        serde_json::to_string(self).unwrap_or_else(|_| {
            r#"{"type":"error","code":"internal","message":"could not encode a reply"}"#.to_owned()
        })
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::error::ErrorCode;

    #[test]
    fn predecessor_frames_parse() {
        assert_eq!(
            parse_client_frame(r#"{"command": "hello"}"#),
            Ok(ClientFrame::Command {
                command: json!("hello"),
                timezone: None,
                id: None,
                location: None
            })
        );
        assert_eq!(
            parse_client_frame(r#"{"status": "listening"}"#),
            Ok(ClientFrame::Listening)
        );
        assert_eq!(
            parse_client_frame(r#"{"type": "cancel"}"#),
            Ok(ClientFrame::Cancel)
        );
        assert_eq!(
            parse_client_frame(r#"{"type": "ping"}"#),
            Ok(ClientFrame::Ping)
        );
    }

    #[test]
    fn unknown_shapes_and_garbage() {
        for text in [
            r#"{"foo": 1}"#,
            "[1,2]",
            r#"{"status": "other"}"#,
            "42",
            r#""str""#,
        ] {
            assert_eq!(parse_client_frame(text), Ok(ClientFrame::Unknown), "{text}");
        }
        assert_eq!(parse_client_frame("not json"), Err(InvalidJson));
        assert_eq!(parse_client_frame(""), Err(InvalidJson));
    }

    #[test]
    fn ids_are_echoed_only_when_sensible() {
        let id_of = |text: &str| match parse_client_frame(text) {
            Ok(ClientFrame::Command { id, .. }) => id,
            other => panic!("{other:?}"),
        };
        assert_eq!(id_of(r#"{"command":"x","id":"abc"}"#), Some(json!("abc")));
        assert_eq!(id_of(r#"{"command":"x","id":7}"#), Some(json!(7)));
        assert_eq!(id_of(r#"{"command":"x","id":{"a":1}}"#), None);
        assert_eq!(
            id_of(&format!(r#"{{"command":"x","id":"{}"}}"#, "i".repeat(65))),
            None
        );
    }

    #[test]
    fn server_frames_have_the_documented_shape() {
        let frame = ServerFrame::ResponseDelta {
            id: json!(1),
            delta: "Hi".into(),
        };
        assert_eq!(
            serde_json::to_value(&frame).unwrap(),
            json!({"type": "response_delta", "id": 1, "delta": "Hi"})
        );
        let error = ServerFrame::error(
            Problem::new(ErrorCode::RateLimited, "slow down")
                .retry_after(std::time::Duration::from_millis(1500)),
            None,
        );
        assert_eq!(
            serde_json::to_value(&error).unwrap(),
            json!({"type": "error", "code": "rate_limited", "message": "slow down", "retry_after_ms": 1500})
        );
        assert_eq!(
            serde_json::to_value(ServerFrame::StatusUpdate { status: "ready" }).unwrap(),
            json!({"type": "status_update", "status": "ready"})
        );
        assert_eq!(
            serde_json::to_value(ServerFrame::ConversationChanged { conversation_id: 3 }).unwrap(),
            json!({"type": "conversation_changed", "conversation_id": 3})
        );
    }
}

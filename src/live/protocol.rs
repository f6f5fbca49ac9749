//! The Live socket's frames. Audio is binary both ways (16 kHz mono PCM16 LE up, 24 kHz down);
//! everything else is JSON with a `type`, as on the voice socket.

use serde::Serialize;
use serde_json::Value;

use crate::error::Problem;

/// The longest audio frame accepted: 50 ms of 16 kHz PCM16 (the page sends 20–40 ms).
pub const MAX_AUDIO_FRAME: usize = 1600;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClientFrame {
    Ping,
    /// The microphone paused: Gemini is told the audio stream ended, so it answers now.
    AudioEnd,
    /// The user switched Live off: the session is not kept for resumption.
    Stop,
    Unknown,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InvalidJson;

pub fn parse_client_frame(text: &str) -> Result<ClientFrame, InvalidJson> {
    let value: Value = serde_json::from_str(text).map_err(|_| InvalidJson)?;
    Ok(match value.get("type").and_then(Value::as_str) {
        Some("ping") => ClientFrame::Ping,
        Some("audio_end") => ClientFrame::AudioEnd,
        Some("stop") => ClientFrame::Stop,
        _ => ClientFrame::Unknown,
    })
}

/// Why an audio frame is refused, if it is.
pub fn audio_problem(len: usize) -> Option<&'static str> {
    if len == 0 {
        Some("Audio frames must not be empty.")
    } else if len % 2 == 1 {
        Some("Audio frames are 16-bit samples: an even number of bytes.")
    } else if len > MAX_AUDIO_FRAME {
        Some("Audio frames hold at most 50 ms of 16 kHz mono PCM16 (1600 bytes).")
    } else {
        None
    }
}

#[derive(Debug, Clone, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ServerFrame {
    /// Gemini Live is set up: audio may flow.
    LiveReady,
    /// What the user is saying: the whole utterance so far; `final` once the model answers.
    InputTranscript {
        text: String,
        r#final: bool,
    },
    /// The next piece of what the model says (append it).
    OutputTranscript {
        text: String,
    },
    /// The user talked over the model: stop playback now.
    Interrupted,
    /// The model finished its answer; the exchange is stored.
    TurnComplete,
    /// A tool ran: the same `action` and `data` as a classic `command_response`'s `data`
    /// (link cards, timers, weather), with the sentence it produced.
    Action {
        action: &'static str,
        data: Value,
        response: String,
    },
    Error {
        code: &'static str,
        message: String,
    },
    Pong,
}

impl ServerFrame {
    pub fn error(problem: Problem) -> Self {
        ServerFrame::Error {
            code: problem.code.as_str(),
            message: problem.message,
        }
    }

    pub fn to_json(&self) -> String {
        serde_json::to_string(self).unwrap_or_else(|_| {
            r#"{"type":"error","code":"internal","message":"could not encode a frame"}"#.to_owned()
        })
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::error::ErrorCode;

    #[test]
    fn frames_have_the_documented_shapes() {
        let frame = |f: ServerFrame| serde_json::to_value(f).unwrap();
        assert_eq!(frame(ServerFrame::LiveReady), json!({"type": "live_ready"}));
        assert_eq!(
            frame(ServerFrame::InputTranscript {
                text: "hi".into(),
                r#final: true
            }),
            json!({"type": "input_transcript", "text": "hi", "final": true})
        );
        assert_eq!(
            frame(ServerFrame::error(Problem::new(
                ErrorCode::LiveBudget,
                "used up"
            ))),
            json!({"type": "error", "code": "live_budget", "message": "used up"})
        );
        assert_eq!(
            frame(ServerFrame::TurnComplete),
            json!({"type": "turn_complete"})
        );
    }

    #[test]
    fn client_frames_and_audio_sizes() {
        assert_eq!(
            parse_client_frame(r#"{"type":"ping"}"#),
            Ok(ClientFrame::Ping)
        );
        assert_eq!(
            parse_client_frame(r#"{"type":"audio_end"}"#),
            Ok(ClientFrame::AudioEnd)
        );
        assert_eq!(
            parse_client_frame(r#"{"command":"x"}"#),
            Ok(ClientFrame::Unknown)
        );
        assert_eq!(parse_client_frame("nope"), Err(InvalidJson));
        assert!(audio_problem(640).is_none());
        assert!(audio_problem(1600).is_none());
        assert!(audio_problem(0).is_some());
        assert!(audio_problem(641).is_some());
        assert!(audio_problem(1602).is_some());
    }
}

//! `POST /api/voice`: a recording for browsers without speech recognition (Firefox). Gemini
//! transcribes it, then the transcript goes through the same pipeline as a typed command, so
//! "open YouTube" works by voice too.

use axum::Json;
use axum::extract::multipart::MultipartRejection;
use axum::extract::{Multipart, State};
use bytes::{Bytes, BytesMut};
use serde::Serialize;
use tokio_util::sync::CancellationToken;

use crate::ai::AiError;
use crate::ai::gemini::normalize_audio_mime;
use crate::app::AppState;
use crate::http::error::{ApiError, ErrorBody};
use crate::http::extract::Identity;
use crate::store::Budget;
use crate::turn::{self, BUDGET_TOTAL_REPLY, BUDGET_USER_REPLY, CommandReply, TurnInput};

/// What MediaRecorder produces in current browsers, plus WAV and MP3 files, in the normalised
/// form Gemini is sent (`normalize_audio_mime`: no codec parameters, MP3 as `audio/mp3`).
const ACCEPTED_TYPES: [&str; 5] = [
    "audio/webm",
    "audio/ogg",
    "audio/mp4",
    "audio/wav",
    "audio/mp3",
];
const NOTHING_HEARD: &str = "I didn't catch that. Could you please repeat?";

#[derive(Serialize, utoipa::ToSchema)]
pub struct VoiceReply {
    #[serde(flatten)]
    pub reply: CommandReply,
    /// What Gemini heard.
    pub transcript: String,
}

/// The form, for the OpenAPI document only (the handler reads it as a stream): the recording
/// and, optionally, the time zone. The predecessor's page also sent `user_id`, which is
/// accepted and ignored; any other field is refused.
#[derive(serde::Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
pub struct VoiceUpload {
    /// The recording: audio/webm, audio/ogg, audio/mp4, audio/wav or audio/mpeg.
    #[schema(value_type = String, format = Binary)]
    pub file: Vec<u8>,
    /// The client's IANA time zone.
    #[schema(max_length = 64, pattern = r"^[A-Za-z][A-Za-z0-9_+/-]*$")]
    pub timezone: Option<String>,
}

#[utoipa::path(post, path = "/api/voice", tag = "assistant",
    request_body(content((VoiceUpload = "multipart/form-data", encoding(
        ("file" = (content_type = "audio/webm, audio/ogg, audio/mp4, audio/wav, audio/mpeg"))
    )))),
    responses(
        (status = 200, description = "Transcript and answer", body = VoiceReply),
        (status = 400, description = "Malformed multipart body", body = ErrorBody),
        (status = 413, description = "Recording larger than MAX_UPLOAD_BYTES", body = ErrorBody),
        (status = 429, description = "Rate limited (the AI service's quota)", body = ErrorBody),
        (status = 415, description = "Not an accepted audio type", body = ErrorBody),
        (status = 422, description = "No `file` field", body = ErrorBody),
        (status = 503, description = "Offline mode (no GEMINI_API_KEY) or transcription failed", body = ErrorBody),
    ))]
pub async fn handle(
    State(state): State<AppState>,
    identity: Identity,
    multipart: Result<Multipart, MultipartRejection>,
) -> Result<Json<VoiceReply>, ApiError> {
    let model = state.model().clone();
    if model.source() == "offline" {
        return Err(ApiError::Unavailable {
            code: "voice_unavailable",
            detail: "Voice upload needs GEMINI_API_KEY: this server runs the offline assistant. \
                     Use your browser's speech recognition or type instead."
                .to_owned(),
        });
    }
    let mut multipart = multipart.map_err(|_| {
        ApiError::UnsupportedMediaType(
            "Send the recording as multipart/form-data with a `file` field.".to_owned(),
        )
    })?;
    let limit = state.config().max_upload_bytes;
    let mut audio: Option<(Bytes, String)> = None;
    let mut timezone = None;
    while let Some(mut field) = multipart
        .next_field()
        .await
        .map_err(multipart_error(limit))?
    {
        match field.name() {
            Some("file") => {
                let content_type = field
                    .content_type()
                    .map(normalize_audio_mime)
                    .unwrap_or_default();
                if !ACCEPTED_TYPES.contains(&content_type.as_str()) {
                    return Err(ApiError::UnsupportedMediaType(format!(
                        "Unsupported audio type \"{content_type}\"; send audio/webm, audio/ogg, audio/mp4, audio/wav or audio/mpeg."
                    )));
                }
                let mut data = BytesMut::new();
                while let Some(chunk) = field.chunk().await.map_err(multipart_error(limit))? {
                    if data.len() + chunk.len() > limit {
                        return Err(ApiError::PayloadTooLarge(format!(
                            "The recording is larger than the limit of {limit} bytes."
                        )));
                    }
                    data.extend_from_slice(&chunk);
                }
                audio = Some((data.freeze(), content_type));
            }
            Some("timezone") => {
                let value = field.text().await.map_err(multipart_error(limit))?;
                super::command::check_timezone(&value)?;
                timezone = Some(value);
            }
            // The predecessor's page also sent user_id; it is ignored like everywhere else.
            Some("user_id") => {}
            other => {
                let name: String = other.unwrap_or_default().chars().take(40).collect();
                return Err(ApiError::invalid_field(
                    name.clone(),
                    format!(
                        "Unexpected form field \"{name}\"; send `file` and optionally `timezone`."
                    ),
                ));
            }
        }
    }
    let Some((audio, mime_type)) = audio else {
        return Err(ApiError::invalid_field(
            "file",
            "The form has no `file` field with the recording.",
        ));
    };
    if audio.is_empty() {
        // Nothing recorded is nothing heard: answered without a model call.
        return Ok(Json(nothing_heard(String::new())));
    }
    match state.limits().consume_ai_request(&identity.user).await? {
        Budget::Granted => {}
        exhausted => {
            let response = if exhausted == Budget::UserExhausted {
                BUDGET_USER_REPLY
            } else {
                BUDGET_TOTAL_REPLY
            };
            return Ok(Json(VoiceReply {
                reply: CommandReply {
                    response: response.to_owned(),
                    action: None,
                    data: serde_json::Value::Null,
                    source: "budget".to_owned(),
                },
                transcript: String::new(),
            }));
        }
    }
    let transcript = model.transcribe(audio, mime_type).await.map_err(|error| {
        tracing::warn!(%error, kind = error.kind(), "transcription failed");
        match error {
            AiError::RateLimited { retry_after, .. } => ApiError::RateLimited {
                detail: error.spoken().to_owned(),
                retry_after: retry_after.unwrap_or(std::time::Duration::from_secs(60)),
            },
            other => ApiError::Unavailable {
                code: "transcription_failed",
                detail: format!("Could not transcribe the recording. {}", other.spoken()),
            },
        }
    })?;
    if transcript.trim().is_empty() {
        return Ok(Json(nothing_heard(transcript)));
    }
    let input = TurnInput {
        user: identity.user,
        command: transcript
            .chars()
            .take(crate::config::MAX_COMMAND_CHARS)
            .collect(),
        timezone,
    };
    let reply = turn::run(&state, input, &mut |_| {}, &CancellationToken::new()).await?;
    Ok(Json(VoiceReply { reply, transcript }))
}

fn nothing_heard(transcript: String) -> VoiceReply {
    VoiceReply {
        reply: CommandReply {
            response: NOTHING_HEARD.to_owned(),
            action: None,
            data: serde_json::Value::Null,
            source: "rule".to_owned(),
        },
        transcript,
    }
}

fn multipart_error(limit: usize) -> impl Fn(axum::extract::multipart::MultipartError) -> ApiError {
    move |error| {
        if error.status() == axum::http::StatusCode::PAYLOAD_TOO_LARGE {
            ApiError::PayloadTooLarge(format!(
                "The recording is larger than the limit of {limit} bytes."
            ))
        } else {
            ApiError::BadRequest {
                code: "invalid_multipart",
                detail: format!("Could not read the upload: {}", error.body_text()),
            }
        }
    }
}

//! `POST /api/voice`: a recording for browsers without speech recognition (Firefox). Gemini
//! transcribes it, then the transcript goes through the same pipeline as a typed command, so
//! "open YouTube" works by voice too.

use axum::Json;
use axum::extract::multipart::MultipartRejection;
use axum::extract::{Multipart, State};
use bytes::{Bytes, BytesMut};
use serde::Serialize;

use crate::ai::gemini::normalize_audio_mime;
use crate::conversation::Status;
use crate::http::error::{ApiError, ErrorBody, ErrorCode};
use crate::http::extract::{Caller, SessionCookie};
use crate::state::AppState;
use crate::turns::{ClientTimezone, CommandReply, VoiceReplyKind};

/// What MediaRecorder produces in current browsers, plus WAV and MP3 files, in the normalised
/// form Gemini is sent (`normalize_audio_mime`: no codec parameters, MP3 as `audio/mp3`).
const ACCEPTED_TYPES: [&str; 5] = [
    "audio/webm",
    "audio/ogg",
    "audio/mp4",
    "audio/wav",
    "audio/mp3",
];

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
    caller: Caller,
    multipart: Result<Multipart, MultipartRejection>,
) -> Result<(SessionCookie, Json<VoiceReply>), ApiError> {
    if state.is_offline() {
        return Err(crate::turns::TurnError::VoiceUnavailable.problem());
    }
    let (audio, mime_type, timezone) = read_form(&state, multipart).await?;
    let (user, cookie) = caller.identify(&state).await?;
    let outcome = state
        .turns()
        .run_voice(user, caller.client(), audio, mime_type, timezone)
        .await
        .map_err(|error| error.problem())?;
    let reply = match outcome.reply {
        VoiceReplyKind::Turn(turn) => CommandReply::from(&turn),
        VoiceReplyKind::Said { response, source } => CommandReply {
            response,
            action: None,
            data: serde_json::Value::Null,
            source,
            status: Status::Complete,
            turn_id: 0,
        },
    };
    Ok((
        cookie,
        Json(VoiceReply {
            reply,
            transcript: outcome.transcript,
        }),
    ))
}

/// The recording, its normalised type and the time zone, with precise errors for everything
/// else.
async fn read_form(
    state: &AppState,
    multipart: Result<Multipart, MultipartRejection>,
) -> Result<(Bytes, String, Option<ClientTimezone>), ApiError> {
    let mut multipart = multipart.map_err(|_| {
        ApiError::new(
            ErrorCode::UnsupportedMediaType,
            "Send the recording as multipart/form-data with a `file` field.",
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
                    return Err(ApiError::new(
                        ErrorCode::UnsupportedMediaType,
                        format!(
                            "Unsupported audio type \"{content_type}\"; send audio/webm, audio/ogg, audio/mp4, audio/wav or audio/mpeg."
                        ),
                    ));
                }
                let mut data = BytesMut::new();
                while let Some(chunk) = field.chunk().await.map_err(multipart_error(limit))? {
                    if data.len() + chunk.len() > limit {
                        return Err(too_large(limit));
                    }
                    data.extend_from_slice(&chunk);
                }
                audio = Some((data.freeze(), content_type));
            }
            Some("timezone") => {
                let value = field.text().await.map_err(multipart_error(limit))?;
                timezone = Some(ClientTimezone::parse(&value)?);
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
    Ok((audio, mime_type, timezone))
}

fn too_large(limit: usize) -> ApiError {
    ApiError::new(
        ErrorCode::PayloadTooLarge,
        format!("The recording is larger than the limit of {limit} bytes."),
    )
}
fn multipart_error(limit: usize) -> impl Fn(axum::extract::multipart::MultipartError) -> ApiError {
    move |error| {
        if error.status() == axum::http::StatusCode::PAYLOAD_TOO_LARGE {
            too_large(limit)
        } else {
            ApiError::new(
                ErrorCode::InvalidMultipart,
                format!("Could not read the upload: {}", error.body_text()),
            )
        }
    }
}

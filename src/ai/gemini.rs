//! Gemini over REST with server-sent events, for the Developer API (API key) and Vertex AI
//! (service-account token).
//!
//! Our own thin client rather than an SDK crate: the surface is two POSTs, and we need exact
//! control over the failure modes that matter for a voice turn (research/gemini.md §10):
//! `RetryInfo` delays, per-day versus per-minute quota, errors inside a 200 stream, streams
//! that stall, empty answers, and retired models. The policy:
//!
//! * retry 429 (per minute), 500/503/504, transport errors, stalls, malformed data and empty
//!   answers with jittered exponential backoff, honouring `RetryInfo` / `Retry-After` —
//!   **only until the first text has been handed to the caller**, because a retry after that
//!   would make the user hear the beginning twice;
//! * switch to the fallback model on 404 (a retired model) or a per-day quota 429 (quotas are
//!   per model);
//! * never retry 400/401/403 or content blocks;
//! * bound every attempt by a time-to-first-byte and an idle-gap timeout, and the whole answer
//!   by an overall deadline.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use base64::Engine;
use bytes::Bytes;
use eventsource_stream::Eventsource;
use futures_util::StreamExt;
use futures_util::future::BoxFuture;
use rand::Rng;
use reqwest::header::{HeaderValue, RETRY_AFTER};
use secrecy::{ExposeSecret, SecretString};
use serde_json::{Value, json};
use tokio::time::Instant;

use super::vertex::TokenSource;
use super::{
    AiError, ChatEvent, ChatModel, ChatRequest, ChatStream, Completion, FinishReason, FunctionCall,
    Grounding, Role, Tools, Usage,
};
use crate::config::{DEFAULT_GEMINI_BASE_URL, GeminiBackend, GeminiConfig};
use crate::conversation::Source;

/// A 429 asking us to wait longer than this is not retried in a voice turn; the fallback model
/// (a separate quota bucket) is tried instead, or the user gets a clear sentence.
const MAX_RETRY_WAIT: Duration = Duration::from_secs(4);
const BACKOFF_BASE: Duration = Duration::from_millis(250);
/// Leave this much of the overall deadline for the attempt after a backoff sleep.
const MIN_ATTEMPT_TIME: Duration = Duration::from_millis(500);
/// Error bodies are small; read at most this much of one.
const MAX_ERROR_BODY: usize = 64 * 1024;
/// An answer longer than this is not a spoken reply; treat it as a broken stream.
const MAX_ANSWER_BYTES: usize = 256 * 1024;

const TRANSCRIBE_INSTRUCTION: &str = "Transcribe the speech in this recording exactly as spoken, \
in its original language. Reply with the transcript only: no quotes, labels or commentary. \
If there is no intelligible speech, reply with nothing.";

#[derive(Clone)]
pub struct GeminiClient {
    inner: Arc<Inner>,
}

struct Inner {
    http: reqwest::Client,
    auth: Auth,
    base_url: String,
    backend: GeminiBackend,
    project: String,
    /// Vertex AI location (`global` or a region).
    location: String,
    model: String,
    fallback_model: Option<String>,
    timeout: Duration,
    first_byte_timeout: Duration,
    stall_timeout: Duration,
    max_output_tokens: u32,
    max_retries: u32,
    /// Whether requests still carry `store: false` (see `opt_out_of_storage`).
    send_store_false: AtomicBool,
}

enum Auth {
    ApiKey(SecretString),
    Vertex(TokenSource),
}

impl GeminiClient {
    pub fn new(config: &GeminiConfig) -> anyhow::Result<Self> {
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(5))
            .pool_idle_timeout(Duration::from_secs(90))
            .tcp_keepalive(Duration::from_secs(30))
            .user_agent(concat!("ballsy/", env!("CARGO_PKG_VERSION")))
            .build()?;
        let location = config.vertex_location.clone();
        let (auth, default_base) = match config.backend {
            GeminiBackend::DeveloperApi => {
                let key = config
                    .api_key
                    .clone()
                    .ok_or_else(|| anyhow::anyhow!("GEMINI_API_KEY is not set"))?;
                (Auth::ApiKey(key), DEFAULT_GEMINI_BASE_URL.to_owned())
            }
            GeminiBackend::Vertex => {
                // Gemini 3 is served from the global endpoint first; a region has its own host.
                let base = if location == "global" {
                    "https://aiplatform.googleapis.com".to_owned()
                } else {
                    format!("https://{location}-aiplatform.googleapis.com")
                };
                (
                    Auth::Vertex(TokenSource::new(http.clone(), &config.metadata_host)),
                    base,
                )
            }
        };
        Ok(Self {
            inner: Arc::new(Inner {
                http,
                auth,
                base_url: config.base_url.clone().unwrap_or(default_base),
                backend: config.backend,
                project: config.project.clone().unwrap_or_default(),
                location,
                model: config.model.clone(),
                fallback_model: config
                    .fallback_model
                    .clone()
                    .filter(|fallback| *fallback != config.model),
                timeout: config.timeout,
                first_byte_timeout: config.first_byte_timeout,
                stall_timeout: config.stall_timeout,
                max_output_tokens: config.max_output_tokens,
                max_retries: config.max_retries,
                send_store_false: AtomicBool::new(true),
            }),
        })
    }
}

/// A chat request's JSON: its fields, plus the function declarations embedded as they were
/// serialized once (`Tools`) instead of copied into the tree on every request.
#[derive(serde::Serialize)]
struct RequestBody<'r> {
    #[serde(flatten)]
    fields: Value,
    #[serde(skip_serializing_if = "Option::is_none")]
    tools: Option<&'r serde_json::value::RawValue>,
}

impl ChatModel for GeminiClient {
    fn source(&self) -> Source {
        Source::Gemini
    }

    fn model_name(&self) -> &str {
        &self.inner.model
    }

    fn stream_chat(&self, request: ChatRequest) -> ChatStream {
        let inner = self.inner.clone();
        Box::pin(async_stream::stream! {
            let deadline = Instant::now() + inner.timeout;
            let mut policy = RetryPolicy::new(&inner).pinned(!request.rounds.is_empty());
            loop {
                let model = policy.model().to_owned();
                let body = inner.chat_body(&model, &request);
                let mut sent_text = false;
                let outcome: Result<(), AiError> = match inner.send(&model, "streamGenerateContent", &body, deadline).await {
                    Err(error) => Err(error),
                    Ok(response) => {
                        let mut events = response.bytes_stream().eventsource();
                        let mut finish: Option<FinishReason> = None;
                        let mut usage = Usage::default();
                        let mut answer_bytes = 0usize;
                        // The whole model content of this response, verbatim and in order: what a
                        // follow-up request must send back for the calls' thought signatures.
                        let mut model_parts: Vec<Value> = Vec::new();
                        let mut calls: Vec<FunctionCall> = Vec::new();
                        // Gemini resends the accumulated metadata; the last one wins.
                        let mut grounding: Option<Grounding> = None;
                        loop {
                            let gap = if sent_text { inner.stall_timeout } else { inner.first_byte_timeout };
                            let wait = gap.min(deadline.saturating_duration_since(Instant::now()));
                            let next = match tokio::time::timeout(wait, events.next()).await {
                                Ok(next) => next,
                                Err(_) if Instant::now() >= deadline => break Err(AiError::Timeout("overall deadline")),
                                Err(_) if sent_text => break Err(AiError::Timeout("stalled between chunks")),
                                Err(_) => break Err(AiError::Timeout("no first chunk")),
                            };
                            let event = match next {
                                None => {
                                    let done = |finish| Ok(ChatEvent::Done(Completion { finish, usage, model: model.clone() }));
                                    break match finish.take() {
                                        Some(FinishReason::MalformedCall) if !sent_text => Err(AiError::MalformedCall),
                                        Some(finish) if sent_text || !calls.is_empty() => {
                                            if let Some(grounding) = grounding.take() {
                                                yield Ok(ChatEvent::Grounded(grounding));
                                            }
                                            if !calls.is_empty() {
                                                yield Ok(ChatEvent::ToolCalls { calls: std::mem::take(&mut calls), model_parts: std::mem::take(&mut model_parts) });
                                            }
                                            yield done(finish);
                                            Ok(())
                                        }
                                        Some(FinishReason::MaxTokens) => {
                                            // Thinking used the whole budget: say so rather than retry the same thing.
                                            yield done(FinishReason::MaxTokens);
                                            Ok(())
                                        }
                                        Some(FinishReason::Blocked(reason)) => Err(AiError::Blocked(reason)),
                                        Some(_) => Err(AiError::EmptyAnswer),
                                        None => Err(AiError::Transport("the stream ended before the answer was complete".into())),
                                    };
                                }
                                Some(Err(eventsource_stream::EventStreamError::Transport(e))) => {
                                    break Err(AiError::Transport(describe_reqwest(&e)))
                                }
                                Some(Err(e)) => break Err(AiError::Protocol(format!("unreadable event stream: {e}"))),
                                Some(Ok(event)) => event,
                            };
                            let chunk = match parse_chunk(&event.data) {
                                Ok(chunk) => chunk,
                                Err(error) => break Err(inner.redact(error)),
                            };
                            if let Some(u) = chunk.usage {
                                usage = u;
                            }
                            if chunk.finish.is_some() {
                                finish = chunk.finish;
                            }
                            if chunk.grounding.is_some() {
                                grounding = chunk.grounding;
                            }
                            model_parts.extend(chunk.parts);
                            calls.extend(chunk.calls);
                            for text in chunk.texts {
                                answer_bytes += text.len();
                                if answer_bytes > MAX_ANSWER_BYTES {
                                    break;
                                }
                                sent_text = true;
                                yield Ok(ChatEvent::Delta(text));
                            }
                            if answer_bytes > MAX_ANSWER_BYTES {
                                break Err(AiError::Protocol("the answer is far longer than a spoken reply".into()));
                            }
                        }
                    }
                };
                let Err(error) = outcome else { return };
                if sent_text {
                    // Text already reached the user: a retry would repeat it. End with the error;
                    // the caller keeps the partial answer.
                    yield Err(error);
                    return;
                }
                if inner.forget_store_field(&error) {
                    continue;
                }
                match policy.next_step(&error, deadline) {
                    Step::Retry(delay) => {
                        tracing::warn!(error = %error, model = %model, delay_ms = delay.as_millis() as u64, "retrying the model request");
                        tokio::time::sleep(delay).await;
                    }
                    Step::SwitchModel => {
                        tracing::warn!(error = %error, from = %model, to = %policy.fallback_name(), "switching to the fallback model");
                        policy.switch_model();
                    }
                    Step::RefreshToken => {
                        if let Auth::Vertex(tokens) = &inner.auth {
                            tokens.invalidate().await;
                        }
                    }
                    Step::Fail => {
                        yield Err(error);
                        return;
                    }
                }
            }
        })
    }

    fn transcribe(
        &self,
        audio: Bytes,
        mime_type: String,
    ) -> BoxFuture<'static, Result<String, AiError>> {
        let inner = self.inner.clone();
        Box::pin(async move {
            let deadline = Instant::now() + inner.timeout;
            let mime_type = normalize_audio_mime(&mime_type);
            let mut policy = RetryPolicy::new(&inner);
            loop {
                let model = policy.model().to_owned();
                let body = inner.transcription_body(&audio, &mime_type);
                let result = async {
                    let response = inner
                        .send(&model, "generateContent", &body, deadline)
                        .await?;
                    let remaining = deadline.saturating_duration_since(Instant::now());
                    let bytes = tokio::time::timeout(remaining, response.bytes())
                        .await
                        .map_err(|_| AiError::Timeout("overall deadline"))?
                        .map_err(|e| AiError::Transport(describe_reqwest(&e)))?;
                    let text = std::str::from_utf8(&bytes)
                        .map_err(|_| AiError::Protocol("the response is not UTF-8".into()))?;
                    let chunk = parse_chunk(text)?;
                    Ok::<_, AiError>(chunk.texts.concat())
                }
                .await;
                match result {
                    Ok(text) => return Ok(clean_transcript(&text)),
                    Err(error) if inner.forget_store_field(&error) => continue,
                    Err(error) => match policy.next_step(&error, deadline) {
                        Step::Retry(delay) => tokio::time::sleep(delay).await,
                        Step::SwitchModel => policy.switch_model(),
                        Step::RefreshToken => {
                            if let Auth::Vertex(tokens) = &inner.auth {
                                tokens.invalidate().await;
                            }
                        }
                        Step::Fail => return Err(inner.redact(error)),
                    },
                }
            }
        })
    }
}

impl Inner {
    fn url(&self, model: &str, method: &str) -> String {
        let query = if method == "streamGenerateContent" {
            "?alt=sse"
        } else {
            ""
        };
        match self.backend {
            GeminiBackend::DeveloperApi => {
                format!("{}/v1beta/models/{model}:{method}{query}", self.base_url)
            }
            GeminiBackend::Vertex => format!(
                "{}/v1/projects/{}/locations/{}/publishers/google/models/{model}:{method}{query}",
                self.base_url, self.project, self.location
            ),
        }
    }

    /// Sends one request and returns the response if it succeeded (HTTP 2xx, headers received
    /// within the first-byte timeout); any other status becomes a typed error.
    async fn send(
        &self,
        model: &str,
        method: &str,
        body: &impl serde::Serialize,
        deadline: Instant,
    ) -> Result<reqwest::Response, AiError> {
        let mut request = self.http.post(self.url(model, method)).json(body);
        request = match &self.auth {
            Auth::ApiKey(key) => {
                // The key travels only in this header, never in a URL that could be logged.
                let mut value = HeaderValue::from_str(key.expose_secret()).map_err(|_| {
                    AiError::Auth("GEMINI_API_KEY is not a valid header value".into())
                })?;
                value.set_sensitive(true);
                request.header("x-goog-api-key", value)
            }
            Auth::Vertex(tokens) => {
                let mut value = HeaderValue::from_str(&format!("Bearer {}", tokens.token().await?))
                    .map_err(|_| {
                        AiError::Auth("the access token is not a valid header value".into())
                    })?;
                value.set_sensitive(true);
                request.header(reqwest::header::AUTHORIZATION, value)
            }
        };
        let wait = self
            .first_byte_timeout
            .min(deadline.saturating_duration_since(Instant::now()));
        let response = tokio::time::timeout(wait, request.send())
            .await
            .map_err(|_| AiError::Timeout("no response headers"))?
            .map_err(|e| AiError::Transport(describe_reqwest(&e)))?;
        if response.status().is_success() {
            return Ok(response);
        }
        Err(self.redact(error_from_response(response).await))
    }

    fn chat_body<'r>(&self, model: &str, request: &'r ChatRequest) -> RequestBody<'r> {
        // Gemini wants alternating roles that start with the user and end with the user (3.5
        // Flash-Lite rejects a final model turn): merge neighbours of the same role and drop a
        // leading model turn.
        let mut contents: Vec<(Role, Vec<&str>)> = Vec::new();
        let turns = request
            .history
            .iter()
            .map(|t| (t.role, t.text.as_str()))
            .chain(std::iter::once((Role::User, request.message.as_str())));
        for (role, text) in turns {
            if text.trim().is_empty() || (contents.is_empty() && role == Role::Model) {
                continue;
            }
            match contents.last_mut() {
                Some((last, texts)) if *last == role => texts.push(text),
                _ => contents.push((role, vec![text])),
            }
        }
        let mut contents: Vec<Value> = contents
            .into_iter()
            .map(|(role, texts)| {
                json!({
                    "role": match role { Role::User => "user", Role::Model => "model" },
                    "parts": texts.into_iter().map(|t| json!({ "text": t })).collect::<Vec<_>>(),
                })
            })
            .collect();
        // This turn's tool rounds: the model's content exactly as it came, then one response
        // per call, in the same order.
        for round in &request.rounds {
            contents.push(json!({ "role": "model", "parts": round.model_parts }));
            let responses: Vec<Value> = round
                .responses
                .iter()
                .map(|r| {
                    let mut response = json!({ "name": r.name, "response": r.response });
                    if let Some(id) = &r.id {
                        response["id"] = json!(id);
                    }
                    json!({ "functionResponse": response })
                })
                .collect();
            contents.push(json!({ "role": "user", "parts": responses }));
        }
        let tools = request
            .tools
            .as_deref()
            .filter(|t| !t.declarations().is_empty());
        let uses_functions = !request.grounding && tools.is_some();
        let mut generation = json!({ "maxOutputTokens": self.max_output_tokens });
        if let Some(thinking) = thinking_config(model, uses_functions) {
            generation["thinkingConfig"] = thinking;
        }
        let mut body = json!({
            "systemInstruction": { "parts": [{ "text": request.system }] },
            "contents": contents,
            "generationConfig": generation,
        });
        let mut declarations = None;
        if request.grounding {
            body["tools"] = json!([{ "google_search": {} }]);
        } else if uses_functions {
            declarations = tools.map(Tools::json);
            body["toolConfig"] = json!({ "functionCallingConfig": { "mode": "AUTO" } });
        }
        self.opt_out_of_storage(&mut body);
        RequestBody {
            fields: body,
            tools: declarations,
        }
    }

    /// Since 2026-10-26 new paid Developer API projects keep generateContent requests (for up
    /// to 55 days) unless a request says `store: false`. Conversations are the user's, so every
    /// request opts out. The REST field is documented per request; if the API ever rejects it,
    /// `forget_store_field` stops sending it and says so in the log.
    fn opt_out_of_storage(&self, body: &mut Value) {
        if self.backend == GeminiBackend::DeveloperApi
            && self.send_store_false.load(Ordering::Relaxed)
        {
            body["store"] = json!(false);
        }
    }

    /// True once, when `error` is the API refusing the `store` field: the caller retries
    /// without it.
    fn forget_store_field(&self, error: &AiError) -> bool {
        let AiError::BadRequest(message) = error else {
            return false;
        };
        let rejected = message.contains("\"store\"") && message.contains("Unknown name");
        if rejected && self.send_store_false.swap(false, Ordering::Relaxed) {
            tracing::warn!(
                "the Gemini API rejected store:false; sending requests without it. Turn off request logging in Google AI Studio (Logs and datasets, Settings) instead"
            );
            return true;
        }
        false
    }

    fn transcription_body(&self, audio: &[u8], mime_type: &str) -> Value {
        let mut body = json!({
            "contents": [{
                "role": "user",
                "parts": [
                    { "text": TRANSCRIBE_INSTRUCTION },
                    { "inlineData": {
                        "mimeType": mime_type,
                        "data": base64::engine::general_purpose::STANDARD.encode(audio),
                    } },
                ],
            }],
            "generationConfig": { "maxOutputTokens": self.max_output_tokens },
        });
        self.opt_out_of_storage(&mut body);
        body
    }

    /// Removes the API key from an error message, in case an upstream ever echoes it.
    fn redact(&self, error: AiError) -> AiError {
        let Auth::ApiKey(key) = &self.auth else {
            return error;
        };
        let key = key.expose_secret();
        let clean = |m: String| {
            if key.is_empty() {
                m
            } else {
                m.replace(key, "***")
            }
        };
        match error {
            AiError::Unavailable(m) => AiError::Unavailable(clean(m)),
            AiError::NoQuota(m) => AiError::NoQuota(clean(m)),
            AiError::Transport(m) => AiError::Transport(clean(m)),
            AiError::Blocked(m) => AiError::Blocked(clean(m)),
            AiError::BadRequest(m) => AiError::BadRequest(clean(m)),
            AiError::Auth(m) => AiError::Auth(clean(m)),
            AiError::NotFound(m) => AiError::NotFound(clean(m)),
            AiError::Protocol(m) => AiError::Protocol(clean(m)),
            other => other,
        }
    }
}

/// Thinking set explicitly to the lowest level each family supports, so a short spoken answer
/// is never starved by thinking tokens (which count against `maxOutputTokens`). Sending both
/// `thinkingBudget` and `thinkingLevel` is a 400, so exactly one is chosen by model family. A
/// request offering functions gets LOW: at MINIMAL, 3.5 Flash-Lite ends tool loops early.
fn thinking_config(model: &str, uses_functions: bool) -> Option<Value> {
    if model.starts_with("gemini-2.5") {
        // 2.5 Pro cannot turn thinking off; 128 is its minimum.
        let budget = if model.contains("pro") { 128 } else { 0 };
        Some(json!({ "thinkingBudget": budget }))
    } else if model.starts_with("gemini-3") {
        let level = if model.contains("flash-lite") && !uses_functions {
            "MINIMAL"
        } else {
            "LOW"
        };
        Some(json!({ "thinkingLevel": level }))
    } else {
        None
    }
}

/// Browsers label recordings with codec parameters (`audio/webm;codecs=opus`); Gemini wants the
/// bare type, and names MP3 `audio/mp3`.
pub fn normalize_audio_mime(mime_type: &str) -> String {
    let base = mime_type
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase();
    match base.as_str() {
        "audio/mpeg" | "audio/mpeg3" | "audio/x-mp3" => "audio/mp3".into(),
        "audio/x-wav" | "audio/wave" => "audio/wav".into(),
        "video/webm" => "audio/webm".into(),
        _ => base,
    }
}

fn clean_transcript(text: &str) -> String {
    text.trim()
        .trim_matches(|c| c == '"' || c == '\u{201c}' || c == '\u{201d}')
        .trim()
        .to_owned()
}

fn describe_reqwest(error: &reqwest::Error) -> String {
    // reqwest's Display includes the URL, which never carries the key (it is in a header).
    let mut message = error.to_string();
    let mut source = std::error::Error::source(error);
    while let Some(cause) = source {
        message.push_str(": ");
        message.push_str(&cause.to_string());
        source = cause.source();
    }
    message
}

/// One parsed SSE event (or unary response) of `GenerateContentResponse`.
#[derive(Debug, Default, PartialEq)]
pub struct Chunk {
    /// The spoken text (thought summaries excluded).
    pub texts: Vec<String>,
    /// Every part of the candidate's content, verbatim.
    pub parts: Vec<Value>,
    pub calls: Vec<FunctionCall>,
    pub grounding: Option<Grounding>,
    pub finish: Option<FinishReason>,
    pub usage: Option<Usage>,
}

/// Parses one `data:` payload. Never panics, whatever the bytes (fuzzed in tests).
pub fn parse_chunk(data: &str) -> Result<Chunk, AiError> {
    let value: Value = serde_json::from_str(data.trim())
        .map_err(|e| AiError::Protocol(format!("malformed JSON in the stream: {e}")))?;
    if !value.is_object() {
        return Err(AiError::Protocol(
            "a stream event is not a JSON object".into(),
        ));
    }
    // An error object inside a 200 stream: the answer failed, it is not a short answer.
    if let Some(error) = value.get("error") {
        return Err(error_from_body(error, None));
    }
    if let Some(reason) = value
        .pointer("/promptFeedback/blockReason")
        .and_then(Value::as_str)
    {
        return Err(AiError::Blocked(reason.to_owned()));
    }
    let mut chunk = Chunk::default();
    if let Some(candidate) = value.pointer("/candidates/0") {
        if let Some(parts) = candidate
            .pointer("/content/parts")
            .and_then(Value::as_array)
        {
            for part in parts {
                chunk.parts.push(part.clone());
                if let Some(call) = part.get("functionCall")
                    && let Some(name) = call.get("name").and_then(Value::as_str)
                {
                    chunk.calls.push(FunctionCall {
                        id: call.get("id").and_then(Value::as_str).map(str::to_owned),
                        name: name.to_owned(),
                        args: call.get("args").cloned().unwrap_or_else(|| json!({})),
                    });
                }
                // Thought summaries are not part of the spoken answer.
                if part.get("thought").and_then(Value::as_bool) == Some(true) {
                    continue;
                }
                if let Some(text) = part.get("text").and_then(Value::as_str)
                    && !text.is_empty()
                {
                    chunk.texts.push(text.to_owned());
                }
            }
        }
        chunk.grounding = candidate.get("groundingMetadata").and_then(grounding_of);
        chunk.finish = candidate
            .get("finishReason")
            .and_then(Value::as_str)
            .and_then(finish_reason);
    }
    if let Some(usage) = value.get("usageMetadata") {
        let count = |key: &str| {
            usage
                .get(key)
                .and_then(Value::as_u64)
                .map_or(0, |n| n.min(u64::from(u32::MAX)) as u32)
        };
        chunk.usage = Some(Usage {
            prompt_tokens: count("promptTokenCount"),
            output_tokens: count("candidatesTokenCount"),
            thoughts_tokens: count("thoughtsTokenCount"),
        });
    }
    Ok(chunk)
}

/// Sources and the Search Suggestion chip of `groundingMetadata`; None for the empty objects
/// Gemini sends on every chunk before the real one.
fn grounding_of(metadata: &Value) -> Option<Grounding> {
    let sources: Vec<(String, String)> = metadata
        .get("groundingChunks")
        .and_then(Value::as_array)
        .map(|chunks| {
            chunks
                .iter()
                .filter_map(|c| {
                    let web = c.get("web")?;
                    let uri = web.get("uri")?.as_str()?.to_owned();
                    let title = web
                        .get("title")
                        .and_then(Value::as_str)
                        .unwrap_or(&uri)
                        .to_owned();
                    uri.starts_with("https://").then_some((title, uri))
                })
                .collect()
        })
        .unwrap_or_default();
    let search_suggestions = metadata
        .pointer("/searchEntryPoint/renderedContent")
        .and_then(Value::as_str)
        .map(str::to_owned);
    let queries: Vec<String> = metadata
        .get("webSearchQueries")
        .and_then(Value::as_array)
        .map(|q| {
            q.iter()
                .filter_map(|v| v.as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default();
    (!sources.is_empty() || search_suggestions.is_some() || !queries.is_empty()).then_some(
        Grounding {
            sources,
            search_suggestions,
            queries,
        },
    )
}

fn finish_reason(reason: &str) -> Option<FinishReason> {
    Some(match reason {
        "FINISH_REASON_UNSPECIFIED" | "" => return None,
        "STOP" => FinishReason::Stop,
        "MAX_TOKENS" => FinishReason::MaxTokens,
        "MALFORMED_FUNCTION_CALL" => FinishReason::MalformedCall,
        "SAFETY" | "RECITATION" | "BLOCKLIST" | "PROHIBITED_CONTENT" | "SPII" | "LANGUAGE"
        | "IMAGE_SAFETY" | "MODEL_ARMOR" => FinishReason::Blocked(reason.to_owned()),
        other => FinishReason::Other(other.to_owned()),
    })
}

async fn error_from_response(response: reqwest::Response) -> AiError {
    let status = response.status().as_u16();
    let retry_after_header = response
        .headers()
        .get(RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok())
        .map(Duration::from_secs);
    let mut body = Vec::new();
    let mut stream = response.bytes_stream();
    let read = tokio::time::timeout(Duration::from_secs(5), async {
        while let Some(Ok(piece)) = stream.next().await {
            body.extend_from_slice(&piece);
            if body.len() >= MAX_ERROR_BODY {
                break;
            }
        }
    })
    .await;
    let _ = read;
    let parsed: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let mut error = match parsed.get("error") {
        Some(error) => error.clone(),
        None => json!({ "code": status, "message": format!("HTTP {status}") }),
    };
    // The HTTP status is authoritative for the class of error.
    error["code"] = json!(status);
    error_from_body(&error, retry_after_header)
}

/// Maps Google's error object (`{"code","message","status","details"}`) to a typed error.
fn error_from_body(error: &Value, retry_after_header: Option<Duration>) -> AiError {
    let code = error.get("code").and_then(Value::as_u64).unwrap_or(0);
    let status = error.get("status").and_then(Value::as_str).unwrap_or("");
    let full_message = error
        .get("message")
        .and_then(Value::as_str)
        .unwrap_or("no message");
    let message = full_message.chars().take(300).collect::<String>();
    let details = error
        .get("details")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let detail_of = |suffix: &str| {
        details.iter().find(|d| {
            d.get("@type")
                .and_then(Value::as_str)
                .is_some_and(|t| t.ends_with(suffix))
        })
    };
    match (code, status) {
        (429, _) | (_, "RESOURCE_EXHAUSTED") => {
            // RetryInfo is rounded down to whole seconds ("1s" beside "retry in 1.309977334s"):
            // waiting only that long earns another 429, so the longer of the two wins.
            let retry_after = [
                detail_of("google.rpc.RetryInfo")
                    .and_then(|d| d.get("retryDelay"))
                    .and_then(Value::as_str)
                    .and_then(parse_duration),
                parse_retry_in_message(full_message),
            ]
            .into_iter()
            .flatten()
            .max()
            .or(retry_after_header);
            let violations = detail_of("google.rpc.QuotaFailure")
                .and_then(|d| d.get("violations"))
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default();
            // A limit of 0 means the plan has no quota for this model at all (the free tier of
            // some models); waiting until tomorrow would not help.
            let no_quota = full_message.contains("limit: 0,")
                || violations
                    .iter()
                    .any(|v| v.get("quotaValue").and_then(Value::as_str) == Some("0"));
            if no_quota {
                return AiError::NoQuota(message);
            }
            let daily = violations.iter().any(|v| {
                v.get("quotaId")
                    .and_then(Value::as_str)
                    .is_some_and(|id| id.contains("PerDay"))
            });
            AiError::RateLimited { retry_after, daily }
        }
        // An invalid key comes back as 400 INVALID_ARGUMENT; its ErrorInfo reason says what it
        // is, so operators see a credentials problem rather than a malformed request.
        _ if detail_of("google.rpc.ErrorInfo")
            .and_then(|d| d.get("reason"))
            .and_then(Value::as_str)
            .is_some_and(|reason| reason.starts_with("API_KEY_")) =>
        {
            AiError::Auth(message)
        }
        (400, _) | (_, "INVALID_ARGUMENT") | (_, "FAILED_PRECONDITION") => {
            AiError::BadRequest(message)
        }
        (401, _) | (403, _) | (_, "UNAUTHENTICATED") | (_, "PERMISSION_DENIED") => {
            AiError::Auth(message)
        }
        (404, _) | (_, "NOT_FOUND") => AiError::NotFound(message),
        (500..=599, _) | (_, "UNAVAILABLE") | (_, "INTERNAL") | (_, "DEADLINE_EXCEEDED") => {
            AiError::Unavailable(message)
        }
        _ => AiError::Unavailable(format!("HTTP {code} {status}: {message}")),
    }
}

/// A protobuf JSON Duration such as `"53s"` or `"45.837906927s"`.
fn parse_duration(value: &str) -> Option<Duration> {
    let seconds: f64 = value.trim().strip_suffix('s')?.parse().ok()?;
    (0.0..86_400.0)
        .contains(&seconds)
        .then(|| Duration::from_secs_f64(seconds))
}

/// "Please retry in 12.5s." in the message, when no RetryInfo detail came with it.
fn parse_retry_in_message(message: &str) -> Option<Duration> {
    let rest = &message[message.find("retry in ")? + "retry in ".len()..];
    let end = rest.find('s')?;
    parse_duration(&format!("{}s", &rest[..end]))
}

enum Step {
    Retry(Duration),
    SwitchModel,
    RefreshToken,
    Fail,
}

/// Decides what follows a failed attempt that has not produced any text yet.
struct RetryPolicy<'a> {
    inner: &'a Inner,
    on_fallback: bool,
    retries: u32,
    refreshed_token: bool,
    malformed_retried: bool,
    /// Thought signatures belong to the model that made them: a tool loop stays on its model.
    pinned: bool,
}

impl<'a> RetryPolicy<'a> {
    fn new(inner: &'a Inner) -> Self {
        Self {
            inner,
            on_fallback: false,
            retries: 0,
            refreshed_token: false,
            malformed_retried: false,
            pinned: false,
        }
    }

    fn pinned(mut self, pinned: bool) -> Self {
        self.pinned = pinned;
        self
    }

    fn model(&self) -> &str {
        match (&self.inner.fallback_model, self.on_fallback) {
            (Some(fallback), true) => fallback,
            _ => &self.inner.model,
        }
    }

    fn fallback_name(&self) -> &str {
        self.inner.fallback_model.as_deref().unwrap_or("")
    }

    fn can_switch(&self) -> bool {
        self.inner.fallback_model.is_some() && !self.on_fallback && !self.pinned
    }

    fn switch_model(&mut self) {
        self.on_fallback = true;
    }

    fn next_step(&mut self, error: &AiError, deadline: Instant) -> Step {
        let step = match error {
            AiError::NotFound(_)
            | AiError::NoQuota(_)
            | AiError::RateLimited { daily: true, .. } => {
                if self.can_switch() {
                    Step::SwitchModel
                } else {
                    Step::Fail
                }
            }
            AiError::RateLimited { retry_after, .. } => {
                let wait = retry_after.unwrap_or_else(|| self.backoff());
                if self.retries < self.inner.max_retries && wait <= MAX_RETRY_WAIT {
                    Step::Retry(wait + jitter(Duration::from_millis(100)))
                } else if self.can_switch() {
                    Step::SwitchModel
                } else {
                    Step::Fail
                }
            }
            AiError::Unavailable(_)
            | AiError::Transport(_)
            | AiError::Timeout(_)
            | AiError::Protocol(_)
            | AiError::EmptyAnswer => {
                if self.retries < self.inner.max_retries {
                    Step::Retry(self.backoff())
                } else if self.can_switch()
                    && !matches!(error, AiError::Timeout("overall deadline"))
                {
                    Step::SwitchModel
                } else {
                    Step::Fail
                }
            }
            AiError::Auth(_)
                if self.inner.backend == GeminiBackend::Vertex && !self.refreshed_token =>
            {
                self.refreshed_token = true;
                Step::RefreshToken
            }
            // Constrained decoding of the arguments failed: once more, then an apology.
            AiError::MalformedCall if !self.malformed_retried => {
                self.malformed_retried = true;
                Step::Retry(Duration::ZERO)
            }
            AiError::MalformedCall
            | AiError::Auth(_)
            | AiError::BadRequest(_)
            | AiError::Blocked(_)
            | AiError::Offline => Step::Fail,
        };
        match step {
            Step::Retry(delay) => {
                if Instant::now() + delay + MIN_ATTEMPT_TIME > deadline {
                    return Step::Fail;
                }
                self.retries += 1;
                Step::Retry(delay)
            }
            other if Instant::now() + MIN_ATTEMPT_TIME > deadline => {
                let _ = other;
                Step::Fail
            }
            other => other,
        }
    }

    /// Exponential backoff with jitter: half the nominal delay plus a random share of it.
    fn backoff(&self) -> Duration {
        let nominal = BACKOFF_BASE * 2u32.saturating_pow(self.retries.min(6));
        nominal / 2 + jitter(nominal / 2)
    }
}

fn jitter(max: Duration) -> Duration {
    let millis = max.as_millis() as u64;
    if millis == 0 {
        return Duration::ZERO;
    }
    Duration::from_millis(rand::rng().random_range(0..=millis))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_text_finish_and_usage() {
        let chunk = parse_chunk(
            r#"{"candidates":[{"content":{"role":"model","parts":[{"text":"Hel"},{"text":"lo","thought":false},{"text":"hmm","thought":true}]},"finishReason":"STOP"}],
                "usageMetadata":{"promptTokenCount":12,"candidatesTokenCount":3,"thoughtsTokenCount":1,"totalTokenCount":16}}"#,
        )
        .unwrap();
        assert_eq!(chunk.texts, vec!["Hel", "lo"]);
        assert_eq!(chunk.finish, Some(FinishReason::Stop));
        assert_eq!(
            chunk.usage,
            Some(Usage {
                prompt_tokens: 12,
                output_tokens: 3,
                thoughts_tokens: 1
            })
        );
    }

    #[test]
    fn chunks_without_content_are_fine() {
        let chunk = parse_chunk(r#"{"candidates":[{"finishReason":"MAX_TOKENS"}]}"#).unwrap();
        assert!(chunk.texts.is_empty());
        assert_eq!(chunk.finish, Some(FinishReason::MaxTokens));
        assert_eq!(
            parse_chunk(r#"{"candidates":[]}"#).unwrap(),
            Chunk::default()
        );
    }

    #[test]
    fn an_error_inside_the_stream_is_an_error() {
        let err =
            parse_chunk(r#"{"error":{"code":503,"message":"overloaded","status":"UNAVAILABLE"}}"#)
                .unwrap_err();
        assert_eq!(err, AiError::Unavailable("overloaded".into()));
    }

    #[test]
    fn blocked_prompts_and_safety_finishes() {
        assert_eq!(
            parse_chunk(r#"{"promptFeedback":{"blockReason":"SAFETY"}}"#).unwrap_err(),
            AiError::Blocked("SAFETY".into())
        );
        let chunk = parse_chunk(r#"{"candidates":[{"finishReason":"RECITATION"}]}"#).unwrap();
        assert_eq!(
            chunk.finish,
            Some(FinishReason::Blocked("RECITATION".into()))
        );
    }

    #[test]
    fn malformed_json_is_a_protocol_error() {
        assert!(matches!(
            parse_chunk(r#"{"candidates": ["#),
            Err(AiError::Protocol(_))
        ));
        assert!(matches!(parse_chunk("[1,2]"), Err(AiError::Protocol(_))));
    }

    #[test]
    fn rate_limit_details_are_understood() {
        let err = error_from_body(
            &json!({"code":429,"message":"Resource exhausted. Please retry in 45.8s.","status":"RESOURCE_EXHAUSTED","details":[
                {"@type":"type.googleapis.com/google.rpc.QuotaFailure","violations":[{"quotaId":"GenerateRequestsPerMinutePerProjectPerModel-FreeTier"}]},
                {"@type":"type.googleapis.com/google.rpc.RetryInfo","retryDelay":"45.837906927s"}]}),
            None,
        );
        match err {
            AiError::RateLimited {
                retry_after: Some(d),
                daily: false,
            } => {
                assert!((d.as_secs_f64() - 45.837906927).abs() < 1e-6)
            }
            other => panic!("unexpected {other:?}"),
        }
        let daily = error_from_body(
            &json!({"code":429,"status":"RESOURCE_EXHAUSTED","details":[
                {"@type":"type.googleapis.com/google.rpc.QuotaFailure","violations":[{"quotaId":"GenerateRequestsPerDayPerProjectPerModel-FreeTier"}]}]}),
            None,
        );
        assert_eq!(
            daily,
            AiError::RateLimited {
                retry_after: None,
                daily: true
            }
        );
        let from_message =
            error_from_body(&json!({"code":429,"message":"Please retry in 2s."}), None);
        assert_eq!(
            from_message,
            AiError::RateLimited {
                retry_after: Some(Duration::from_secs(2)),
                daily: false
            }
        );
    }

    #[test]
    fn status_codes_map_to_kinds() {
        let kind = |code: u64| error_from_body(&json!({"code": code, "message": "m"}), None).kind();
        assert_eq!(kind(400), "bad_request");
        assert_eq!(kind(401), "auth");
        assert_eq!(kind(403), "auth");
        assert_eq!(kind(404), "not_found");
        assert_eq!(kind(500), "unavailable");
        assert_eq!(kind(503), "unavailable");
        assert_eq!(kind(504), "unavailable");
    }

    #[test]
    fn thinking_is_explicit_per_family() {
        assert_eq!(
            thinking_config("gemini-3.5-flash-lite", false),
            Some(json!({"thinkingLevel":"MINIMAL"}))
        );
        assert_eq!(
            thinking_config("gemini-3.5-flash-lite", true),
            Some(json!({"thinkingLevel":"LOW"})),
            "tool turns think a little"
        );
        assert_eq!(
            thinking_config("gemini-3.8-flash", false),
            Some(json!({"thinkingLevel":"LOW"}))
        );
        assert_eq!(
            thinking_config("gemini-2.5-flash-lite", false),
            Some(json!({"thinkingBudget":0}))
        );
        assert_eq!(
            thinking_config("gemini-2.5-pro", false),
            Some(json!({"thinkingBudget":128}))
        );
        assert_eq!(thinking_config("custom-model", false), None);
    }

    #[test]
    fn audio_mime_types_are_normalised() {
        assert_eq!(normalize_audio_mime("audio/webm;codecs=opus"), "audio/webm");
        assert_eq!(normalize_audio_mime("audio/mpeg"), "audio/mp3");
        assert_eq!(normalize_audio_mime("audio/x-wav"), "audio/wav");
        assert_eq!(normalize_audio_mime("Audio/OGG; codecs=opus"), "audio/ogg");
    }

    #[test]
    fn durations_parse_like_protobuf() {
        assert_eq!(parse_duration("53s"), Some(Duration::from_secs(53)));
        assert_eq!(parse_duration("0.2s"), Some(Duration::from_millis(200)));
        assert_eq!(parse_duration("-1s"), None);
        assert_eq!(parse_duration("NaNs"), None);
        assert_eq!(parse_duration("12"), None);
    }

    proptest::proptest! {
        #[test]
        fn parse_chunk_never_panics(data in ".{0,400}") {
            let _ = parse_chunk(&data);
        }

        #[test]
        fn parse_chunk_never_panics_on_json_shaped_input(
            text in ".{0,40}", reason in "[A-Z_]{0,20}", code in 0u64..700, n in proptest::num::u64::ANY,
        ) {
            let samples = [
                json!({"candidates":[{"content":{"parts":[{"text": text.clone()}]},"finishReason": reason.clone()}]}),
                json!({"candidates":[{"content":{"parts": text.clone()}}]}),
                json!({"candidates": n, "usageMetadata": {"promptTokenCount": n}}),
                json!({"error": {"code": code, "message": text.clone(), "details": [{"@type": "x.RetryInfo", "retryDelay": text.clone()}]}}),
                json!({"promptFeedback": {"blockReason": n}}),
            ];
            for sample in samples {
                let _ = parse_chunk(&sample.to_string());
            }
        }

        #[test]
        fn sse_framing_never_panics(bytes in proptest::collection::vec(proptest::num::u8::ANY, 0..600), split in 0usize..600) {
            let split = split.min(bytes.len());
            let pieces: Vec<Result<Bytes, std::io::Error>> = vec![
                Ok(Bytes::copy_from_slice(&bytes[..split])),
                Ok(Bytes::copy_from_slice(&bytes[split..])),
            ];
            let events = futures_util::stream::iter(pieces).eventsource();
            let collected: Vec<_> = futures_util::FutureExt::now_or_never(events.collect()).unwrap_or_default();
            for event in collected.into_iter().flatten() {
                let _ = parse_chunk(&event.data);
            }
        }
    }
}

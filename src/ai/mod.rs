//! The language-model layer: one streaming interface, a Gemini client (Developer API or
//! Vertex AI) and the keyless offline model.

pub mod gemini;
pub mod offline;
pub(crate) mod vertex;

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures_util::future::BoxFuture;
use futures_util::stream::BoxStream;

use crate::config::Config;
use crate::conversation::Source;

/// Who said a line of the conversation, in Gemini's terms.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    User,
    Model,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Turn {
    pub role: Role,
    pub text: String,
}

/// Everything the model sees for one answer.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ChatRequest {
    /// The persona, sent as `systemInstruction`.
    pub system: String,
    /// Earlier turns of the conversation, oldest first, without the current message.
    pub history: Vec<Turn>,
    /// The user's current message.
    pub message: String,
    /// Function declarations the model may call (`tools[].functionDeclarations`).
    pub tools: Option<Arc<Tools>>,
    /// Ground the answer in Google Search instead of offering functions (Gemini 3 cannot mix
    /// the two in one request without a preview flag).
    pub grounding: bool,
    /// This turn's earlier rounds of function calls and their results, in order.
    pub rounds: Vec<ToolRound>,
}

impl ChatRequest {
    pub fn new(system: String, history: Vec<Turn>, message: String) -> Self {
        Self {
            system,
            history,
            message,
            ..Self::default()
        }
    }
}

/// Function declarations, with the `tools` JSON the Gemini API takes for them serialized once:
/// they are the same on every request, and rebuilding a 3.5 KB JSON tree per turn was a
/// measurable part of an AI turn's CPU (bench/RESULTS.md).
#[derive(Debug)]
pub struct Tools {
    declarations: Vec<serde_json::Value>,
    json: Box<serde_json::value::RawValue>,
}

impl Tools {
    pub fn new(declarations: Vec<serde_json::Value>) -> Self {
        let json = serde_json::value::to_raw_value(
            &serde_json::json!([{ "functionDeclarations": declarations }]),
        )
        .expect("JSON values always serialize");
        Self { declarations, json }
    }

    pub fn declarations(&self) -> &[serde_json::Value] {
        &self.declarations
    }

    /// `[{"functionDeclarations": [...]}]`, ready to embed in a request body.
    pub fn json(&self) -> &serde_json::value::RawValue {
        &self.json
    }
}

impl PartialEq for Tools {
    fn eq(&self, other: &Self) -> bool {
        self.declarations == other.declarations
    }
}

/// A function the model asked to call.
#[derive(Debug, Clone, PartialEq)]
pub struct FunctionCall {
    /// The API's id for the call, when it sent one (echoed in the response; never invented).
    pub id: Option<String>,
    pub name: String,
    pub args: serde_json::Value,
}

/// One round of a tool loop: the model's content exactly as it arrived (every part, in order,
/// thought signatures and empty-text parts included — Gemini 3 answers 400 if a signature is
/// dropped or moved), and one response per call.
#[derive(Debug, Clone, PartialEq)]
pub struct ToolRound {
    pub model_parts: Vec<serde_json::Value>,
    pub responses: Vec<FunctionResponse>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct FunctionResponse {
    pub id: Option<String>,
    pub name: String,
    /// A JSON object (`{"status": …}`).
    pub response: serde_json::Value,
}

/// Where a grounded answer came from, and Google's Search Suggestion chip.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Grounding {
    /// (title, uri) of each source.
    pub sources: Vec<(String, String)>,
    /// `searchEntryPoint.renderedContent`: HTML that must be shown as provided.
    pub search_suggestions: Option<String>,
    pub queries: Vec<String>,
}

/// What a streamed answer yields: text as it arrives; at the end the calls the model made (if
/// any) and the grounding (if any); then one `Done`.
#[derive(Debug, Clone, PartialEq)]
pub enum ChatEvent {
    Delta(String),
    ToolCalls {
        calls: Vec<FunctionCall>,
        model_parts: Vec<serde_json::Value>,
    },
    Grounded(Grounding),
    Done(Completion),
}

#[derive(Debug, Clone, PartialEq)]
pub struct Completion {
    pub finish: FinishReason,
    pub usage: Usage,
    /// The model that actually answered (the fallback model after a switch).
    pub model: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FinishReason {
    Stop,
    /// The output token cap was reached; the text so far is kept.
    MaxTokens,
    /// The model's function call did not fit its declaration.
    MalformedCall,
    /// Content filters stopped the answer (SAFETY, RECITATION, BLOCKLIST, ...).
    Blocked(String),
    Other(String),
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Usage {
    pub prompt_tokens: u32,
    pub output_tokens: u32,
    pub thoughts_tokens: u32,
}

pub type ChatStream = BoxStream<'static, Result<ChatEvent, AiError>>;

/// A model that can answer in a stream of text deltas.
///
/// `stream_chat` returns immediately; the request starts when the stream is first polled, and
/// dropping the stream cancels it (the upstream connection is closed), which is how barge-in
/// stops a reply.
pub trait ChatModel: Send + Sync {
    /// `Gemini` or `Offline`: the `source` of answers from this model.
    fn source(&self) -> Source;
    /// The configured model id.
    fn model_name(&self) -> &str;
    fn stream_chat(&self, request: ChatRequest) -> ChatStream;
    /// Transcribes a short recording (`mime_type` such as audio/webm).
    fn transcribe(
        &self,
        audio: Bytes,
        mime_type: String,
    ) -> BoxFuture<'static, Result<String, AiError>>;
}

/// Why a model could not answer. Every variant maps to a sentence the user hears.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum AiError {
    #[error("rate limited by the model API (daily quota: {daily})")]
    RateLimited {
        retry_after: Option<Duration>,
        daily: bool,
    },
    /// A quota whose limit is 0: the project's plan does not include this model at all (the
    /// free tier for some models). Not "used up for today": it never had any.
    #[error("the model is not available on this project's plan: {0}")]
    NoQuota(String),
    #[error("the model API is unavailable: {0}")]
    Unavailable(String),
    #[error("the model API timed out ({0})")]
    Timeout(&'static str),
    #[error("connection to the model API failed: {0}")]
    Transport(String),
    #[error("the request was blocked: {0}")]
    Blocked(String),
    #[error("the model API rejected the request: {0}")]
    BadRequest(String),
    #[error("the model API refused our credentials: {0}")]
    Auth(String),
    #[error("model not found: {0}")]
    NotFound(String),
    #[error("unexpected data from the model API: {0}")]
    Protocol(String),
    #[error("the model returned an empty answer")]
    EmptyAnswer,
    /// `MALFORMED_FUNCTION_CALL`: the model's function call did not fit its declaration.
    #[error("the model produced a malformed function call")]
    MalformedCall,
    #[error("no model is configured (offline mode)")]
    Offline,
}

impl AiError {
    /// The sentence spoken to the user when this error ends an answer before any text.
    pub fn spoken(&self) -> &'static str {
        match self {
            AiError::RateLimited { daily: true, .. } => {
                "My AI service has used up its quota for today. Smart commands still work, and I'll be back to full strength tomorrow."
            }
            AiError::RateLimited { .. } => {
                "My AI service is getting too many questions right now. Please try again in a minute."
            }
            AiError::NoQuota(_) => {
                "My AI service isn't available on this server's plan right now. Here's a web search for it instead."
            }
            AiError::Unavailable(_) | AiError::Transport(_) | AiError::Protocol(_) => {
                "I couldn't reach my AI service just now. Here's a web search for it instead."
            }
            AiError::Timeout(_) => {
                "My AI service took too long to answer. Here's a web search for it instead."
            }
            AiError::Blocked(_) => {
                "I'd rather not answer that one. Could you ask me something else?"
            }
            AiError::BadRequest(_) | AiError::Auth(_) | AiError::NotFound(_) => {
                "My AI service isn't working right now. Here's a web search for it instead."
            }
            AiError::MalformedCall => {
                "I got mixed up trying to do that. Could you say it another way?"
            }
            AiError::EmptyAnswer => {
                "I don't have a good answer for that. Here's a web search for it instead."
            }
            AiError::Offline => offline::OFFLINE_ANSWER,
        }
    }

    /// Whether offering a web search is the helpful follow-up (as the predecessor did).
    pub fn offers_search(&self) -> bool {
        matches!(
            self,
            AiError::Unavailable(_)
                | AiError::Transport(_)
                | AiError::Protocol(_)
                | AiError::Timeout(_)
                | AiError::BadRequest(_)
                | AiError::Auth(_)
                | AiError::NotFound(_)
                | AiError::NoQuota(_)
                | AiError::EmptyAnswer
        )
    }

    /// A short machine-readable name for logs.
    pub fn kind(&self) -> &'static str {
        match self {
            AiError::RateLimited { daily: true, .. } => "quota_daily",
            AiError::RateLimited { .. } => "rate_limited",
            AiError::NoQuota(_) => "no_quota",
            AiError::Unavailable(_) => "unavailable",
            AiError::Timeout(_) => "timeout",
            AiError::Transport(_) => "transport",
            AiError::Blocked(_) => "blocked",
            AiError::BadRequest(_) => "bad_request",
            AiError::Auth(_) => "auth",
            AiError::NotFound(_) => "not_found",
            AiError::Protocol(_) => "protocol",
            AiError::EmptyAnswer => "empty",
            AiError::MalformedCall => "malformed_call",
            AiError::Offline => "offline",
        }
    }
}

/// Builds the model the configuration asks for: Gemini when a key (or Vertex) is configured,
/// the offline model otherwise.
pub fn model_from_config(config: &Config) -> anyhow::Result<Arc<dyn ChatModel>> {
    if config.gemini.is_online() {
        Ok(Arc::new(gemini::GeminiClient::new(&config.gemini)?))
    } else {
        Ok(Arc::new(offline::OfflineModel::default()))
    }
}

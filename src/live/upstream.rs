//! The server's side of Gemini Live: opening `BidiGenerateContent`, the `setup` message, and
//! what Google's close codes mean for us (research/gemini-next.md §4).
//!
//! The API key travels only in the `x-goog-api-key` header (the Developer API also takes it as
//! `?key=`, but a URL is what proxies and error messages print); on Vertex the service
//! account's token goes in `Authorization`. No error or log line built here contains either.

use std::sync::Arc;
use std::time::Duration;

use futures_util::stream::{SplitSink, SplitStream};
use futures_util::{SinkExt, StreamExt};
use secrecy::{ExposeSecret, SecretString};
use serde_json::{Value, json};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::{self, Message};
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

use crate::ai::vertex::TokenSource;
use crate::config::{Config, GeminiBackend};
use crate::skills::Skills;

const DEVELOPER_URL: &str = "wss://generativelanguage.googleapis.com/ws/google.ai.generativelanguage.v1beta.GenerativeService.BidiGenerateContent";
const VERTEX_PATH: &str = "/ws/google.cloud.aiplatform.v1beta1.LlmBidiService/BidiGenerateContent";
/// From the TCP connect to `setupComplete`.
const SETUP_TIMEOUT: Duration = Duration::from_secs(10);
/// The upstream socket's read buffer (see `open`).
const UPSTREAM_READ_BUFFER: usize = 4 * 1024;
/// One server message: a model audio chunk is tens of KiB of base64; anything near this is
/// not a Live message.
const MAX_UPSTREAM_MESSAGE: usize = 4 * 1024 * 1024;

/// Gemini's prebuilt voices. The page's voice setting names a browser voice in classic mode;
/// when it names one of these, Live speaks with it, otherwise with the model's default.
const PREBUILT_VOICES: &[&str] = &[
    "Zephyr",
    "Puck",
    "Charon",
    "Kore",
    "Fenrir",
    "Leda",
    "Orus",
    "Aoede",
    "Callirrhoe",
    "Autonoe",
    "Enceladus",
    "Iapetus",
    "Umbriel",
    "Algieba",
    "Despina",
    "Erinome",
    "Algenib",
    "Rasalgethi",
    "Laomedeia",
    "Achernar",
    "Alnilam",
    "Schedar",
    "Gacrux",
    "Pulcherrima",
    "Achird",
    "Zubenelgenubi",
    "Vindemiatrix",
    "Sadachbia",
    "Sadaltager",
    "Sulafat",
];

/// Added to the persona: in Live the tools are how cards and timers reach the page.
const LIVE_INSTRUCTION: &str = "You are in a live voice conversation: keep answers short and \
spoken, and let the user interrupt. Use the tools to open sites, search, set and cancel timers, \
convert units, calculate and get the weather; the page shows their cards, so say briefly what \
you did instead of reading links out.";

pub type Socket = WebSocketStream<MaybeTlsStream<TcpStream>>;
pub type Sink = SplitSink<Socket, Message>;
pub type Stream = SplitStream<Socket>;

/// Why a Live connection could not be opened or went away.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum LiveError {
    #[error("could not connect to Gemini Live: {0}")]
    Connect(String),
    #[error("Gemini Live did not complete the setup in time")]
    Timeout,
    #[error("Gemini Live closed the connection ({code}: {reason})")]
    Closed { code: u16, reason: String },
    #[error("unexpected data from Gemini Live: {0}")]
    Protocol(String),
    #[error("no credentials for Gemini Live: {0}")]
    Auth(String),
}

impl LiveError {
    /// What to do next (research/gemini-next.md §4.9).
    pub fn recovery(&self, resuming: bool) -> Recovery {
        match self {
            // A handle Google no longer knows: start a fresh session.
            LiveError::Closed { code: 1008, reason }
                if resuming && reason.to_ascii_lowercase().contains("not found") =>
            {
                Recovery::Fresh
            }
            // 1007 (invalid argument: our setup or a message) and 1008 (policy: the key, a
            // message while a tool call was unanswered) repeat on every attempt.
            LiveError::Closed {
                code: 1007 | 1008, ..
            }
            | LiveError::Auth(_) => Recovery::GiveUp,
            // 1011 (deadline after goAway, keepalive, unavailable), 1000/1001 and broken
            // connections: resume with the last handle.
            _ => Recovery::Retry,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Recovery {
    Retry,
    Fresh,
    GiveUp,
}

enum Auth {
    ApiKey(SecretString),
    Vertex(TokenSource),
}

/// Opens Live connections; one per process, shared by every session.
#[derive(Clone)]
pub struct LiveClient {
    inner: Arc<Inner>,
}

struct Inner {
    url: String,
    auth: Auth,
    /// `models/ID` or the Vertex resource name.
    model_path: String,
    model: String,
    persona: String,
}

impl LiveClient {
    /// None when no model is configured (offline mode) or the Live budgets are zero.
    pub fn from_config(config: &Config) -> anyhow::Result<Option<Self>> {
        if !config.gemini.is_online()
            || config.live.daily_minutes_per_user == 0
            || config.live.daily_minutes_total == 0
        {
            return Ok(None);
        }
        let model = config.live.model.clone();
        let location = &config.gemini.vertex_location;
        let (auth, default_url, model_path) = match config.gemini.backend {
            GeminiBackend::DeveloperApi => {
                let key = config
                    .gemini
                    .api_key
                    .clone()
                    .ok_or_else(|| anyhow::anyhow!("GEMINI_API_KEY is not set"))?;
                (
                    Auth::ApiKey(key),
                    DEVELOPER_URL.to_owned(),
                    format!("models/{model}"),
                )
            }
            GeminiBackend::Vertex => {
                let host = if location == "global" {
                    "aiplatform.googleapis.com".to_owned()
                } else {
                    format!("{location}-aiplatform.googleapis.com")
                };
                let http = reqwest::Client::builder()
                    .connect_timeout(Duration::from_secs(5))
                    .build()?;
                (
                    Auth::Vertex(TokenSource::new(http, &config.gemini.metadata_host)),
                    format!("wss://{host}{VERTEX_PATH}"),
                    format!(
                        "projects/{}/locations/{location}/publishers/google/models/{model}",
                        config.gemini.project.clone().unwrap_or_default()
                    ),
                )
            }
        };
        Ok(Some(LiveClient {
            inner: Arc::new(Inner {
                url: config.live.url.clone().unwrap_or(default_url),
                auth,
                model_path,
                model,
                persona: config.persona.clone(),
            }),
        }))
    }

    pub fn model(&self) -> &str {
        &self.inner.model
    }

    /// The `setup` message: persona, language and voice, audio out with both transcriptions,
    /// the skills as tools, resumption (with the handle to resume, if any) and a sliding
    /// context window so a session can outlast the 15-minute audio limit.
    pub fn setup(&self, language: &str, voice: &str, handle: Option<&str>) -> Value {
        let mut speech = json!({"languageCode": language});
        if let Some(name) = PREBUILT_VOICES
            .iter()
            .find(|name| name.eq_ignore_ascii_case(voice.trim()))
        {
            speech["voiceConfig"] = json!({"prebuiltVoiceConfig": {"voiceName": name}});
        }
        let mut resumption = json!({});
        if let Some(handle) = handle {
            resumption["handle"] = json!(handle);
        }
        json!({"setup": {
            "model": self.inner.model_path,
            "generationConfig": {
                "responseModalities": ["AUDIO"],
                "speechConfig": speech,
            },
            "systemInstruction": {"parts": [{"text": format!("{}\n\n{LIVE_INSTRUCTION}", self.inner.persona)}]},
            "tools": [{"functionDeclarations": Skills::declarations()}],
            "inputAudioTranscription": {},
            "outputAudioTranscription": {},
            "sessionResumption": resumption,
            "contextWindowCompression": {"slidingWindow": {}},
        }})
    }

    /// Connects, sends `setup` and waits for `setupComplete`.
    pub async fn open(&self, setup: &Value) -> Result<(Sink, Stream), LiveError> {
        tokio::time::timeout(SETUP_TIMEOUT, self.open_inner(setup))
            .await
            .map_err(|_| LiveError::Timeout)?
    }

    async fn open_inner(&self, setup: &Value) -> Result<(Sink, Stream), LiveError> {
        let mut request = self
            .inner
            .url
            .as_str()
            .into_client_request()
            .map_err(|e| LiveError::Connect(e.to_string()))?;
        let (name, mut value) = match &self.inner.auth {
            Auth::ApiKey(key) => (
                "x-goog-api-key",
                HeaderValue::from_str(key.expose_secret())
                    .map_err(|_| LiveError::Auth("GEMINI_API_KEY is not a header value".into()))?,
            ),
            Auth::Vertex(tokens) => {
                let token = tokens
                    .token()
                    .await
                    .map_err(|e| LiveError::Auth(e.to_string()))?;
                (
                    "authorization",
                    HeaderValue::from_str(&format!("Bearer {token}")).map_err(|_| {
                        LiveError::Auth("the access token is not a header value".into())
                    })?,
                )
            }
        };
        value.set_sensitive(true);
        request.headers_mut().insert(name, value);
        // tungstenite allocates its read buffer up front, 128 KiB by default: most of what a
        // Live session would cost. A model audio chunk (tens of KiB) is simply read in
        // several calls.
        let config = WebSocketConfig::default()
            .read_buffer_size(UPSTREAM_READ_BUFFER)
            .max_message_size(Some(MAX_UPSTREAM_MESSAGE))
            .max_frame_size(Some(MAX_UPSTREAM_MESSAGE));
        let (socket, _response) =
            tokio_tungstenite::connect_async_with_config(request, Some(config), true)
                .await
                .map_err(|e| match e {
                    tungstenite::Error::Http(response) => {
                        LiveError::Connect(format!("HTTP {}", response.status()))
                    }
                    other => LiveError::Connect(other.to_string()),
                })?;
        let (mut sink, mut stream) = socket.split();
        sink.send(Message::Text(setup.to_string().into()))
            .await
            .map_err(|e| LiveError::Connect(e.to_string()))?;
        loop {
            let message = stream.next().await;
            match parse(message)? {
                Some(message) if message.get("setupComplete").is_some() => {
                    return Ok((sink, stream));
                }
                // Nothing else is expected before setupComplete; skip rather than fail.
                _ => continue,
            }
        }
    }

    /// Forgets a Vertex token the API refused.
    pub async fn invalidate_token(&self) {
        if let Auth::Vertex(tokens) = &self.inner.auth {
            tokens.invalidate().await;
        }
    }
}

/// One upstream message as JSON. Google sends JSON in binary frames as well as text frames.
/// Ok(None): a frame with nothing for us (ping, pong); Err: the connection ended.
pub fn parse(
    message: Option<Result<Message, tungstenite::Error>>,
) -> Result<Option<Value>, LiveError> {
    let message = match message {
        None => {
            return Err(LiveError::Closed {
                code: 1006,
                reason: "connection lost".into(),
            });
        }
        Some(Err(error)) => return Err(LiveError::Connect(error.to_string())),
        // Parsed where it lies: audio chunks are most of what arrives.
        Some(Ok(Message::Text(text))) => serde_json::from_slice(text.as_bytes()),
        Some(Ok(Message::Binary(bytes))) => serde_json::from_slice(&bytes),
        Some(Ok(Message::Close(frame))) => {
            let (code, reason) = frame.map_or((1005, String::new()), |f| {
                (u16::from(f.code), f.reason.as_str().to_owned())
            });
            return Err(LiveError::Closed { code, reason });
        }
        Some(Ok(_)) => return Ok(None),
    };
    message
        .map(Some)
        .map_err(|e| LiveError::Protocol(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn client(lookup: &[(&str, &str)]) -> Option<LiveClient> {
        let config = Config::from_lookup(|name| {
            lookup
                .iter()
                .find(|(n, _)| *n == name)
                .map(|(_, v)| (*v).to_owned())
        })
        .unwrap();
        LiveClient::from_config(&config).unwrap()
    }

    #[test]
    fn live_needs_a_model_and_budgets() {
        assert!(client(&[]).is_none(), "offline");
        assert!(client(&[("GEMINI_API_KEY", "k")]).is_some());
        assert!(client(&[("GEMINI_API_KEY", "k"), ("LIVE_DAILY_MINUTES_TOTAL", "0")]).is_none());
        assert!(client(&[("GEMINI_BACKEND", "vertex"), ("GOOGLE_CLOUD_PROJECT", "p")]).is_some());
    }

    #[test]
    fn setup_carries_what_the_session_needs() {
        let live = client(&[("GEMINI_API_KEY", "secret-key")]).unwrap();
        let setup = live.setup("de-DE", "kore", Some("h-1"));
        let s = &setup["setup"];
        assert_eq!(s["model"], "models/gemini-3.8-live");
        assert_eq!(
            s["generationConfig"]["responseModalities"],
            json!(["AUDIO"])
        );
        assert_eq!(
            s["generationConfig"]["speechConfig"]["languageCode"],
            "de-DE"
        );
        assert_eq!(
            s["generationConfig"]["speechConfig"]["voiceConfig"]["prebuiltVoiceConfig"]["voiceName"],
            "Kore"
        );
        assert!(
            s["generationConfig"]["thinkingConfig"].is_null(),
            "3.8 Live refuses it"
        );
        assert_eq!(s["sessionResumption"]["handle"], "h-1");
        assert!(s["contextWindowCompression"]["slidingWindow"].is_object());
        assert!(
            s["inputAudioTranscription"].is_object() && s["outputAudioTranscription"].is_object()
        );
        let tools = s["tools"][0]["functionDeclarations"].as_array().unwrap();
        assert_eq!(tools.len(), Skills::declarations().len());
        assert!(!setup.to_string().contains("secret-key"));
        // A browser voice name is not a Gemini voice: the model's default is used.
        let browser_voice = live.setup("en-US", "Google UK English Female", None);
        assert!(
            browser_voice["setup"]["generationConfig"]["speechConfig"]["voiceConfig"].is_null()
        );
        assert_eq!(browser_voice["setup"]["sessionResumption"], json!({}));

        let vertex = client(&[
            ("GEMINI_BACKEND", "vertex"),
            ("GOOGLE_CLOUD_PROJECT", "proj"),
            ("VERTEX_LOCATION", "us-central1"),
        ])
        .unwrap();
        assert_eq!(
            vertex.setup("en-US", "", None)["setup"]["model"],
            "projects/proj/locations/us-central1/publishers/google/models/gemini-3.8-live"
        );
        assert_eq!(
            vertex.inner.url,
            format!("wss://us-central1-aiplatform.googleapis.com{VERTEX_PATH}")
        );
    }

    #[test]
    fn close_codes_decide_between_resuming_starting_over_and_giving_up() {
        let closed = |code, reason: &str| LiveError::Closed {
            code,
            reason: reason.into(),
        };
        assert_eq!(
            closed(1011, "Deadline expired before operation could complete.").recovery(true),
            Recovery::Retry
        );
        assert_eq!(
            closed(1008, "BidiGenerateContent session not found").recovery(true),
            Recovery::Fresh
        );
        assert_eq!(
            closed(1008, "The operation was aborted").recovery(true),
            Recovery::GiveUp
        );
        assert_eq!(
            closed(1007, "Request contains an invalid argument.").recovery(false),
            Recovery::GiveUp
        );
        assert_eq!(LiveError::Timeout.recovery(false), Recovery::Retry);
    }
}

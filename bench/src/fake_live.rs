//! A fake Gemini Live server: `BidiGenerateContent` over WebSocket, speaking the real wire JSON
//! (research/gemini-next.md §4) and scriptable per test.
//!
//! A connection must open with `{"setup": {...}}` whose `model` is `models/ID` (Developer API) or
//! `projects/P/locations/L/publishers/google/models/ID` (Vertex); it is answered with
//! `{"setupComplete": {"sessionId"}}`. As Google does, the fake then closes with:
//!
//! * **1007** "Request contains an invalid argument." for a first message that is not a valid
//!   `setup`, or a setup with `generationConfig.thinkingConfig` (refused by 3.8 Live);
//! * **1008** "BidiGenerateContent session not found" for a `sessionResumption.handle` it never
//!   issued, "API key not valid. Please pass a valid API key." for a wrong `x-goog-api-key`
//!   or bearer token, and "The operation was aborted" for `realtimeInput` sent while a
//!   `toolCall` it emitted is unanswered;
//! * whatever a script's [`Event::Close`] says (1011 after a `goAway`, typically).
//!
//! **Scripts.** [`FakeLiveConfig::turns`] is a list of turns, each a list of [`Event`]s. The
//! next turn is played once the client has sent [`FakeLiveConfig::audio_bytes_per_turn`]
//! bytes of `realtimeInput.audio` since the previous one, or an `audioStreamEnd`. The turn
//! counter belongs to the server, not the connection, so a client that resumes on a new
//! connection carries on where it was. [`Event::ToolCall`] waits (up to 10 s) for the matching
//! `toolResponse` before the turn goes on. [`FakeLiveConfig::on_setup`] is played on every
//! connection right after `setupComplete`.
//!
//! Events in JSON are tagged with `kind` (snake_case); durations are in milliseconds:
//!
//! ```json
//! {"kind": "audio", "samples": 480}
//! {"kind": "input_transcript", "text": "play lofi"}
//! {"kind": "output_transcript", "text": "Here you go."}
//! {"kind": "tool_call", "id": "c1", "name": "open_site", "args": {"site": "youtube"}}
//! {"kind": "interrupted"} {"kind": "turn_complete"}
//! {"kind": "resumption", "handle": "h-1", "resumable": true}
//! {"kind": "go_away", "time_left_ms": 50000}
//! {"kind": "usage", "prompt_tokens": 522, "response_tokens": 42}
//! {"kind": "close", "code": 1011, "reason": "Deadline expired before operation could complete."}
//! {"kind": "sleep", "ms": 100}
//! {"kind": "raw", "message": {"serverContent": {}}}
//! ```
//!
//! **Probe mode** ([`FakeLiveConfig::probe_reply_samples`], for the benchmarks): every audio
//! chunk is answered at once with a chunk of the model's voice, both stamped with their send
//! time, so each direction's delay can be measured.
//!
//! In-process tests use [`FakeLive`]; the `fake-live` binary serves the same thing and takes
//! scripts over HTTP: `POST /__fake/config` (a [`FakeLiveConfig`] as JSON; resets the turn
//! counter), `GET /__fake/connections` (every [`Connection`] so far).

use std::collections::HashSet;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use anyhow::Context as _;
use axum::extract::ws::{CloseFrame, Message, WebSocket, WebSocketUpgrade};
use axum::extract::{RawQuery, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use futures_util::{SinkExt, StreamExt};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use tokio::sync::{Notify, mpsc, watch};
use tokio::task::JoinHandle;

use crate::loadgen::Latencies;
use crate::loadgen::stats::unix_micros_now;

/// The Developer API path (what `wss://generativelanguage.googleapis.com` serves).
pub const DEVELOPER_PATH: &str =
    "/ws/google.ai.generativelanguage.v1beta.GenerativeService.BidiGenerateContent";
/// The Vertex AI path.
pub const VERTEX_PATH: &str =
    "/ws/google.cloud.aiplatform.v1beta1.LlmBidiService/BidiGenerateContent";

/// How long a scripted tool call waits for its `toolResponse`.
const TOOL_RESPONSE_WAIT: Duration = Duration::from_secs(10);

/// One thing the fake sends (or does) in a turn.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Event {
    /// `serverContent.modelTurn.parts[].inlineData` with `samples` of 24 kHz PCM16 ([`tone`]).
    Audio {
        samples: usize,
    },
    /// `serverContent.inputTranscription`.
    InputTranscript {
        text: String,
    },
    /// `serverContent.outputTranscription`.
    OutputTranscript {
        text: String,
    },
    /// `toolCall.functionCalls[0]`; the turn waits for its `toolResponse`.
    ToolCall {
        id: String,
        name: String,
        args: Value,
    },
    /// `serverContent.interrupted`.
    Interrupted,
    /// `serverContent.turnComplete`.
    TurnComplete,
    /// `sessionResumptionUpdate`; a resumable handle is accepted by later setups.
    Resumption {
        handle: String,
        resumable: bool,
    },
    /// `goAway.timeLeft`.
    GoAway {
        time_left_ms: u64,
    },
    /// `usageMetadata` (Live names the output `responseTokenCount`).
    Usage {
        prompt_tokens: u64,
        response_tokens: u64,
    },
    /// Closes the connection with this code.
    Close {
        code: u16,
        reason: String,
    },
    Sleep {
        ms: u64,
    },
    /// Any server message, verbatim.
    Raw {
        message: Value,
    },
}

/// What the fake plays; see the module documentation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct FakeLiveConfig {
    pub turns: Vec<Vec<Event>>,
    pub on_setup: Vec<Event>,
    /// Audio bytes (16 kHz PCM16: 32 per millisecond) that make a turn; 3200 = 100 ms.
    pub audio_bytes_per_turn: usize,
    /// The `x-goog-api-key` header or `Authorization: Bearer` token required; None accepts any.
    pub credential: Option<String>,
    /// How long the fake takes before `setupComplete`.
    pub setup_delay_ms: u64,
    /// The benchmark's probe (0: off): every `realtimeInput.audio` chunk is answered at once
    /// with a chunk of this many 24 kHz samples, outside any turn. Both carry a
    /// [`write_stamp`] in their first 8 bytes: the fake records the incoming chunk's delay
    /// ([`FakeLive::take_probe_delays`]) and stamps its answer for the client to do the same.
    pub probe_reply_samples: usize,
}

impl Default for FakeLiveConfig {
    fn default() -> Self {
        FakeLiveConfig {
            turns: Vec::new(),
            on_setup: Vec::new(),
            audio_bytes_per_turn: 3200,
            credential: None,
            setup_delay_ms: 0,
            probe_reply_samples: 0,
        }
    }
}

/// One connection as the fake saw it.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Connection {
    pub path: String,
    pub query: Option<String>,
    pub api_key_header: Option<String>,
    pub authorization_header: Option<String>,
    /// The `setup` object (None until it arrived).
    pub setup: Option<Value>,
    /// Bytes of decoded `realtimeInput.audio` received.
    pub audio_bytes: usize,
    /// The `mimeType` of the first audio chunk.
    pub audio_mime: Option<String>,
    pub audio_stream_ends: usize,
    /// Every `toolResponse.functionResponses[]` received.
    pub tool_responses: Vec<Value>,
    /// The close code the fake sent, if it closed the connection.
    pub closed_with: Option<u16>,
    /// Whether the client closed (or dropped) the connection first.
    pub client_closed: bool,
}

impl Connection {
    /// `setup.sessionResumption.handle`, if the client resumed.
    pub fn resumed_handle(&self) -> Option<String> {
        self.setup.as_ref()?["sessionResumption"]["handle"]
            .as_str()
            .map(str::to_owned)
    }
}

/// Puts the time now (microseconds since the Unix epoch, [`unix_micros_now`]) little-endian in
/// the first 8 bytes of an audio chunk: the probe's stamp. Same machine, same clock.
pub fn write_stamp(chunk: &mut [u8]) {
    if let Some(head) = chunk.get_mut(..8) {
        head.copy_from_slice(&unix_micros_now().to_le_bytes());
    }
}

/// Microseconds since the stamp in `chunk`'s first 8 bytes ([`write_stamp`]), if it has one.
pub fn stamp_age_micros(chunk: &[u8]) -> Option<i64> {
    let head: [u8; 8] = chunk.get(..8)?.try_into().ok()?;
    Some(unix_micros_now() - i64::from_le_bytes(head))
}

/// `samples` of a 24 kHz PCM16 little-endian test signal: a sawtooth, so a test can check that
/// relayed audio arrived byte for byte and in order.
pub fn tone(samples: usize) -> Vec<u8> {
    (0..samples)
        .flat_map(|i| (((i * 97) % 4096) as i16 - 2048).to_le_bytes())
        .collect()
}

struct State_ {
    config: FakeLiveConfig,
    next_turn: usize,
    connections: Vec<Connection>,
    issued_handles: HashSet<String>,
}

struct Shared {
    state: Mutex<State_>,
    /// The probe's upstream delays (its own lock: the probe records one per chunk).
    probe_delays: Mutex<Latencies>,
    stop: watch::Receiver<bool>,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State_> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn update(&self, index: usize, f: impl FnOnce(&mut Connection)) {
        if let Some(connection) = self.lock().connections.get_mut(index) {
            f(connection);
        }
    }
}

/// A running fake Live server. Dropping it (or [`FakeLive::shutdown`]) stops it.
pub struct FakeLive {
    addr: SocketAddr,
    shared: Arc<Shared>,
    shutdown: watch::Sender<bool>,
    task: Option<JoinHandle<()>>,
}

impl FakeLive {
    pub async fn start(config: FakeLiveConfig) -> anyhow::Result<FakeLive> {
        Self::start_on(SocketAddr::from((Ipv4Addr::LOCALHOST, 0)), config).await
    }

    pub async fn start_on(addr: SocketAddr, config: FakeLiveConfig) -> anyhow::Result<FakeLive> {
        let listener = tokio::net::TcpListener::bind(addr)
            .await
            .with_context(|| format!("fake-live: binding {addr}"))?;
        let addr = listener.local_addr()?;
        let (shutdown, stop) = watch::channel(false);
        let shared = Arc::new(Shared {
            state: Mutex::new(State_ {
                config,
                next_turn: 0,
                connections: Vec::new(),
                issued_handles: HashSet::new(),
            }),
            probe_delays: Mutex::new(Latencies::new()),
            stop: stop.clone(),
        });
        let app = Router::new()
            .route(DEVELOPER_PATH, get(upgrade))
            .route(VERTEX_PATH, get(upgrade))
            .route("/__fake/config", axum::routing::post(set_config))
            .route("/__fake/connections", get(list_connections))
            .with_state(shared.clone());
        let mut stop_signal = stop;
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app)
                .with_graceful_shutdown(async move {
                    let _ = stop_signal.wait_for(|stop| *stop).await;
                })
                .await;
        });
        Ok(FakeLive {
            addr,
            shared,
            shutdown,
            task: Some(task),
        })
    }

    fn host(&self) -> String {
        let ip = match self.addr.ip() {
            IpAddr::V4(ip) if ip.is_unspecified() => IpAddr::V4(Ipv4Addr::LOCALHOST),
            IpAddr::V6(ip) if ip.is_unspecified() => IpAddr::V6(Ipv6Addr::LOCALHOST),
            ip => ip,
        };
        SocketAddr::new(ip, self.addr.port()).to_string()
    }

    /// The Developer API endpoint, for `GEMINI_LIVE_URL`.
    pub fn url(&self) -> String {
        format!("ws://{}{DEVELOPER_PATH}", self.host())
    }

    /// The Vertex AI endpoint.
    pub fn vertex_url(&self) -> String {
        format!("ws://{}{VERTEX_PATH}", self.host())
    }

    /// `http://HOST:PORT`, for the control routes.
    pub fn base_url(&self) -> String {
        format!("http://{}", self.host())
    }

    /// Replaces the script and starts again at its first turn.
    pub fn set_config(&self, config: FakeLiveConfig) {
        let mut state = self.shared.lock();
        state.config = config;
        state.next_turn = 0;
    }

    pub fn connections(&self) -> Vec<Connection> {
        self.shared.lock().connections.clone()
    }

    /// The delays the probe recorded so far (sender's stamp to the fake's receipt), and starts
    /// a new record.
    pub fn take_probe_delays(&self) -> Latencies {
        let mut delays = self
            .shared
            .probe_delays
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        std::mem::take(&mut *delays)
    }

    /// How many turns have started playing.
    pub fn turns_played(&self) -> usize {
        self.shared.lock().next_turn
    }

    pub async fn shutdown(mut self) {
        let _ = self.shutdown.send(true);
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }
}

impl Drop for FakeLive {
    fn drop(&mut self) {
        let _ = self.shutdown.send(true);
    }
}

async fn set_config(State(shared): State<Arc<Shared>>, Json(config): Json<FakeLiveConfig>) {
    let mut state = shared.lock();
    state.config = config;
    state.next_turn = 0;
}

async fn list_connections(State(shared): State<Arc<Shared>>) -> Json<Vec<Connection>> {
    Json(shared.lock().connections.clone())
}

async fn upgrade(
    State(shared): State<Arc<Shared>>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    uri: axum::http::Uri,
    upgrade: WebSocketUpgrade,
) -> Response {
    let header = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    };
    let connection = Connection {
        path: uri.path().to_owned(),
        query,
        api_key_header: header("x-goog-api-key"),
        authorization_header: header("authorization"),
        ..Connection::default()
    };
    let index = {
        let mut state = shared.lock();
        state.connections.push(connection);
        state.connections.len() - 1
    };
    upgrade
        .on_upgrade(move |socket| serve(shared, index, socket))
        .into_response()
}

/// What the reader tells the writer to send.
enum Out {
    Text(Value),
    Close(u16, String),
}

async fn serve(shared: Arc<Shared>, index: usize, socket: WebSocket) {
    let (mut sink, mut stream) = socket.split();
    let (out, mut outbox) = mpsc::unbounded_channel::<Out>();
    let writer_shared = shared.clone();
    let writer = tokio::spawn(async move {
        while let Some(message) = outbox.recv().await {
            match message {
                Out::Text(value) => {
                    if sink
                        .send(Message::Text(value.to_string().into()))
                        .await
                        .is_err()
                    {
                        return;
                    }
                }
                Out::Close(code, reason) => {
                    writer_shared.update(index, |c| c.closed_with = Some(code));
                    let _ = sink
                        .send(Message::Close(Some(CloseFrame {
                            code,
                            reason: reason.into(),
                        })))
                        .await;
                    return;
                }
            }
        }
    });
    let tool = Arc::new(ToolGate::default());
    let mut stop = shared.stop.clone();
    let mut set_up = false;
    let mut audio_since_turn = 0usize;
    let mut player: Option<JoinHandle<()>> = None;
    let probe_reply_samples = shared.lock().config.probe_reply_samples;
    loop {
        let message = tokio::select! {
            message = stream.next() => message,
            _ = stop.wait_for(|stop| *stop) => break,
        };
        let text = match message {
            Some(Ok(Message::Text(text))) => text.as_str().to_owned(),
            Some(Ok(Message::Binary(bytes))) => String::from_utf8_lossy(&bytes).into_owned(),
            Some(Ok(Message::Close(_))) | None | Some(Err(_)) => {
                shared.update(index, |c| c.client_closed = true);
                break;
            }
            Some(Ok(_)) => continue,
        };
        let Ok(message) = serde_json::from_str::<Value>(&text) else {
            let _ = out.send(Out::Close(
                1007,
                "Request contains an invalid argument.".into(),
            ));
            break;
        };
        if !set_up {
            match check_setup(&shared, index, &message) {
                Ok(()) => {
                    set_up = true;
                    let delay = shared.lock().config.setup_delay_ms;
                    tokio::time::sleep(Duration::from_millis(delay)).await;
                    let session_id = format!("fake-session-{index}");
                    let _ = out.send(Out::Text(
                        json!({"setupComplete": {"sessionId": session_id}}),
                    ));
                    let on_setup = shared.lock().config.on_setup.clone();
                    if !on_setup.is_empty() {
                        player = Some(spawn_player(
                            shared.clone(),
                            out.clone(),
                            tool.clone(),
                            on_setup,
                        ));
                    }
                }
                Err((code, reason)) => {
                    let _ = out.send(Out::Close(code, reason.into()));
                    break;
                }
            }
            continue;
        }
        if let Some(responses) = message["toolResponse"]["functionResponses"].as_array() {
            shared.update(index, |c| {
                c.tool_responses.extend(responses.iter().cloned())
            });
            for response in responses {
                tool.answered(response["id"].as_str().unwrap_or_default());
            }
            continue;
        }
        let input = &message["realtimeInput"];
        if input.is_object() {
            if tool.is_pending() {
                let _ = out.send(Out::Close(1008, "The operation was aborted".into()));
                break;
            }
            let mut turn_due = false;
            if let Some(data) = input["audio"]["data"].as_str() {
                let audio = BASE64.decode(data).unwrap_or_default();
                let bytes = audio.len();
                if probe_reply_samples > 0 {
                    if let Some(age) = stamp_age_micros(&audio) {
                        shared
                            .probe_delays
                            .lock()
                            .unwrap_or_else(|p| p.into_inner())
                            .record_micros(age);
                    }
                    let mut reply = tone(probe_reply_samples);
                    write_stamp(&mut reply);
                    let _ = out.send(Out::Text(audio_chunk(&reply)));
                }
                let mime = input["audio"]["mimeType"].as_str().map(str::to_owned);
                shared.update(index, |c| {
                    c.audio_bytes += bytes;
                    if c.audio_mime.is_none() {
                        c.audio_mime = mime;
                    }
                });
                audio_since_turn += bytes;
                turn_due = audio_since_turn >= shared.lock().config.audio_bytes_per_turn;
            }
            if input["audioStreamEnd"].as_bool() == Some(true) {
                shared.update(index, |c| c.audio_stream_ends += 1);
                turn_due = true;
            }
            let idle = player.as_ref().is_none_or(JoinHandle::is_finished);
            if turn_due && idle {
                audio_since_turn = 0;
                let events = {
                    let mut state = shared.lock();
                    let turn = state.config.turns.get(state.next_turn).cloned();
                    if turn.is_some() {
                        state.next_turn += 1;
                    }
                    turn
                };
                if let Some(events) = events {
                    player = Some(spawn_player(
                        shared.clone(),
                        out.clone(),
                        tool.clone(),
                        events,
                    ));
                }
            }
        }
    }
    if let Some(player) = player {
        player.abort();
    }
    drop(out);
    let _ = writer.await;
}

/// Checks the first message as Google does; Err carries the close code and reason.
fn check_setup(shared: &Shared, index: usize, message: &Value) -> Result<(), (u16, &'static str)> {
    const INVALID: (u16, &str) = (1007, "Request contains an invalid argument.");
    let setup = message
        .get("setup")
        .filter(|s| s.is_object())
        .ok_or(INVALID)?;
    shared.update(index, |c| c.setup = Some(setup.clone()));
    let model = setup["model"].as_str().unwrap_or_default();
    let developer = model
        .strip_prefix("models/")
        .is_some_and(|id| !id.is_empty());
    let vertex = model.starts_with("projects/") && model.contains("/publishers/google/models/");
    if !(developer || vertex) {
        return Err(INVALID);
    }
    if !setup["generationConfig"]["thinkingConfig"].is_null() {
        return Err(INVALID);
    }
    let state = shared.lock();
    if let Some(expected) = &state.config.credential {
        let connection = &state.connections[index];
        let bearer = format!("Bearer {expected}");
        let ok = connection.api_key_header.as_deref() == Some(expected.as_str())
            || connection.authorization_header.as_deref() == Some(bearer.as_str());
        if !ok {
            return Err((1008, "API key not valid. Please pass a valid API key."));
        }
    }
    if let Some(handle) = setup["sessionResumption"]["handle"].as_str()
        && !state.issued_handles.contains(handle)
    {
        return Err((1008, "BidiGenerateContent session not found"));
    }
    Ok(())
}

/// The tool call a turn is waiting on.
#[derive(Default)]
struct ToolGate {
    pending: Mutex<Option<String>>,
    answered: Notify,
}

impl ToolGate {
    fn is_pending(&self) -> bool {
        self.pending
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .is_some()
    }

    fn answered(&self, id: &str) {
        let mut pending = self.pending.lock().unwrap_or_else(|p| p.into_inner());
        if pending.as_deref() == Some(id) {
            *pending = None;
            self.answered.notify_waiters();
        }
    }
}

/// `serverContent` carrying one chunk of the model's voice.
fn audio_chunk(pcm: &[u8]) -> Value {
    json!({"serverContent": {"modelTurn": {"parts": [
        {"inlineData": {"mimeType": "audio/pcm;rate=24000", "data": BASE64.encode(pcm)}}
    ]}}})
}

fn spawn_player(
    shared: Arc<Shared>,
    out: mpsc::UnboundedSender<Out>,
    tool: Arc<ToolGate>,
    events: Vec<Event>,
) -> JoinHandle<()> {
    tokio::spawn(async move {
        for event in events {
            let message = match event {
                Event::Audio { samples } => audio_chunk(&tone(samples)),
                Event::InputTranscript { text } => {
                    json!({"serverContent": {"inputTranscription": {"text": text}}})
                }
                Event::OutputTranscript { text } => {
                    json!({"serverContent": {"outputTranscription": {"text": text}}})
                }
                Event::ToolCall { id, name, args } => {
                    let answered = tool.answered.notified();
                    tokio::pin!(answered);
                    answered.as_mut().enable();
                    *tool.pending.lock().unwrap_or_else(|p| p.into_inner()) = Some(id.clone());
                    let call = json!({"toolCall": {"functionCalls": [{"id": id, "name": name, "args": args}]}});
                    if out.send(Out::Text(call)).is_err() {
                        return;
                    }
                    if tokio::time::timeout(TOOL_RESPONSE_WAIT, answered)
                        .await
                        .is_err()
                    {
                        return;
                    }
                    continue;
                }
                Event::Interrupted => json!({"serverContent": {"interrupted": true}}),
                Event::TurnComplete => json!({"serverContent": {"turnComplete": true}}),
                Event::Resumption { handle, resumable } => {
                    if resumable {
                        shared.lock().issued_handles.insert(handle.clone());
                    }
                    json!({"sessionResumptionUpdate": {"newHandle": handle, "resumable": resumable}})
                }
                Event::GoAway { time_left_ms } => {
                    json!({"goAway": {"timeLeft": format!("{}s", time_left_ms as f64 / 1000.0)}})
                }
                Event::Usage {
                    prompt_tokens,
                    response_tokens,
                } => json!({"usageMetadata": {
                    "promptTokenCount": prompt_tokens,
                    "responseTokenCount": response_tokens,
                    "totalTokenCount": prompt_tokens + response_tokens,
                }}),
                Event::Close { code, reason } => {
                    let _ = out.send(Out::Close(code, reason));
                    return;
                }
                Event::Sleep { ms } => {
                    tokio::time::sleep(Duration::from_millis(ms)).await;
                    continue;
                }
                Event::Raw { message } => message,
            };
            if out.send(Out::Text(message)).is_err() {
                return;
            }
        }
    })
}

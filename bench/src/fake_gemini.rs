//! A fake Gemini server that speaks Google's wire format: the Developer API
//! (`/v1beta/models/{model}:streamGenerateContent?alt=sse` and `:generateContent`), the Vertex
//! endpoint (`/v1/projects/{p}/locations/{l}/publishers/google/models/{model}:…`) and the GCE
//! metadata server's token route, with scripted failures.
//!
//! Metadata routes: `GET /computeMetadata/v1/instance/service-accounts/default/token` (issues
//! `fake-token-<n>`), `…/default/email`, `/computeMetadata/v1/project/project-id`
//! (`fake-project`), all requiring `Metadata-Flavor: Google`, and `GET /` (the detection ping).
//! Point a client at them with `GCE_METADATA_HOST=`[`FakeGemini::metadata_host`].
//!
//! In-process tests drive it through [`FakeGemini`]; browser tests and benchmarks run the
//! `fake-gemini` binary and drive it over HTTP:
//!
//! | Route | Effect |
//! |---|---|
//! | `POST /__fake/faults[?model=ID]` | queue one [`Fault`] or a JSON array of them (for `ID` only, if given) |
//! | `DELETE /__fake/faults` | drop every queued fault |
//! | `GET /__fake/config`, `POST /__fake/config` | read or patch the config: one of `{"reply": "…"}`, `{"echo": true}` or `{"rounds": […]}` (a tool-turn script, see below), `ttft_ms`, `chunk_delay_ms`, `chunks`, `transcript`, `stamp_chunks`, `known_models` (array or `null` = all), `token_expires_in`, `replay_dir`, `grounding` (object or `null`, see below) |
//! | `GET /__fake/requests`, `DELETE /__fake/requests` | the recorded generate requests ([`RecordedRequest`] as JSON) |
//! | `GET /__fake/stats` | `{"requests","token_requests","completed_streams","dropped_streams","queued_faults"}` |
//!
//! Faults in JSON are tagged with `kind` (snake_case) and use milliseconds for durations:
//!
//! ```json
//! {"kind": "status", "code": 429, "retry_delay": "0.2s", "quota_id": null, "retry_after_header": null}
//! {"kind": "error_in_stream", "after_chunks": 1}
//! {"kind": "stall_after", "chunks": 1, "stall_ms": 30000}
//! {"kind": "malformed_json", "after_chunks": 1}
//! {"kind": "reset_after", "chunks": 1}
//! {"kind": "empty_stop"}
//! {"kind": "finish", "reason": "MAX_TOKENS", "text": "partial answer"}
//! {"kind": "prompt_blocked"}
//! {"kind": "replay", "case": "sse-3-pro-function-call"}
//! ```
//!
//! **Replay.** `replay` serves a real recorded response ([`ReplayCase`], a directory of
//! `status`, `headers`, `body`) verbatim: SSE bodies event by event with the configured
//! delays, JSON error bodies at once. Cases live in [`FakeGeminiConfig::replay_dir`]
//! (default [`replay_cases_dir`]: `$BALLSY_REPLAY_DIR`, else `../shared/replay/cases` next to
//! the workspace). Over HTTP a case that does not load is refused when queued (400); in Rust
//! use [`FakeGemini::push_replay`] for the same early check.
//!
//! **Tool turns.** `rounds` ([`Reply::Rounds`], [`FakeGemini::set_rounds`]) scripts a
//! function-calling turn: request N of a turn gets round N, N being the number of
//! function-response contents after the newest plain user message ([`script_round`]), so a
//! new question starts again at round 0. Requests past the end get a text saying so.
//!
//! ```json
//! {"rounds": [
//!   {"kind": "function_calls", "calls": [{"name": "get_weather", "args": {"city": "Paris"}, "id": "c1"}],
//!    "thought_signature": "sig-1", "split_chunks": false, "late_signature": false},
//!   {"kind": "text", "text": "It is 12 degrees in Paris.", "thought_signature": "sig-2"},
//!   {"kind": "malformed_function_call"}
//! ]}
//! ```
//!
//! Every request's tool history is checked as the real API checks it, with its 400
//! INVALID_ARGUMENT texts: in the current turn, a call the fake sent with a signature must
//! come back with exactly that signature (missing: "Function call is missing a
//! thought_signature in functionCall parts. … function call `default_api:NAME` , position
//! N." with N the 1-based index of the model content; altered: "Corrupted thought
//! signature."), and the first call of every model content must be signed if its round was,
//! so parallel calls re-sent as separate contents fail; anywhere, a content of
//! `functionResponse` parts must follow a model content with as many `functionCall` parts
//! ("Please ensure that the number of function response parts is equal to the number of
//! function call parts of the function call turn.").
//!
//! **Grounding.** `grounding` ([`GroundedReply`]: `{"text", "queries", "sources": [{"title",
//! "uri"?}]}`) answers requests whose `tools` include `google_search` (or `googleSearch`):
//! the text in chunks, then a chunk without content carrying `STOP` and `groundingMetadata`
//! (`searchEntryPoint.renderedContent`, `groundingChunks`, `groundingSupports`,
//! `webSearchQueries`). A request combining Google Search with `functionDeclarations` gets a
//! 400 unless `toolConfig.includeServerSideToolInvocations` is true (Gemini 3 only; 1.x and
//! 2.x models always refuse). [`RecordedRequest::tools`], `tool_config`, `thinking_config`,
//! `function_responses` and `script_round` read a recorded request's tool fields.
//!
//! Prompt directives work without any control call: a `[[fake:NAME]]` in the text of the last
//! user content picks the behaviour of that one request (queued faults win). Names: any
//! HTTP status from 400 to 599 (`429` carries a `RetryInfo` of `45.837906927s`),
//! `stream-error`, `stall` (30 s after one chunk), `malformed`, `reset`, `empty`, `safety`,
//! `recitation`, `max-tokens`, `blocked` (prompt blocked), `slow` (1 s to the first token,
//! 8 chunks 150 ms apart), `replay=CASE` (serve recorded case `CASE`).

mod control;
mod replay;
mod routes;
mod script;
mod tools;
mod wire;

pub use replay::{REPLAY_DIR_ENV, ReplayCase, replay_cases_dir};
pub use tools::{FunctionCall, GroundedReply, GroundingSource, Round, script_round};
pub use wire::tools_chars;

use std::collections::{HashMap, VecDeque};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use anyhow::Context as _;
use axum::serve::ListenerExt as _;
use serde::{Deserialize, Serialize};
use tokio::sync::{Notify, watch};
use tokio::task::JoinHandle;

/// The reply of a default [`FakeGeminiConfig`].
pub const DEFAULT_REPLY: &str =
    "This is a streamed answer from the fake Gemini server. It arrives in several pieces.";

/// How the fake answers requests that no fault or directive claims.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FakeGeminiConfig {
    pub reply: Reply,
    /// Delay before the first SSE event. Response headers go out at once, so a client sees
    /// the 200 immediately and the first event after `ttft`.
    pub ttft: Duration,
    /// Delay between consecutive events.
    pub chunk_delay: Duration,
    /// Split the reply into this many text chunks at word boundaries (fewer when the reply
    /// has fewer words; 0 behaves as 1).
    pub chunks: usize,
    /// `Some(list)`: other model ids get 404 NOT_FOUND, as a retired model does.
    pub known_models: Option<Vec<String>>,
    /// The reply for requests whose contents include an `inlineData` part (audio).
    pub transcript: String,
    /// Prefix each chunk's text with `[t:<unix micros when sent>]` for latency benchmarks.
    pub stamp_chunks: bool,
    /// `expires_in` of metadata tokens, in seconds. Vertex requests with a token older than
    /// this get 401, so a client's refresh logic can be tested with a short lifetime.
    pub token_expires_in: u64,
    /// Where [`Fault::Replay`] and `[[fake:replay=NAME]]` find case `NAME`; defaults to
    /// [`replay_cases_dir`].
    pub replay_dir: PathBuf,
    /// The answer to requests that enable Google Search; `None`: they get the normal reply.
    pub grounding: Option<GroundedReply>,
}

impl Default for FakeGeminiConfig {
    fn default() -> Self {
        Self {
            reply: Reply::Fixed(DEFAULT_REPLY.to_owned()),
            ttft: Duration::ZERO,
            chunk_delay: Duration::ZERO,
            chunks: 4,
            known_models: None,
            transcript: "open youtube".to_owned(),
            stamp_chunks: false,
            token_expires_in: 3599,
            replay_dir: replay_cases_dir(),
            grounding: None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reply {
    Fixed(String),
    /// `"You said: <text of the last user content>"`.
    Echo,
    /// A tool turn: request N of a turn (see [`script_round`]) gets round N. Requests past
    /// the end get the text `fake-gemini: the script has no round N`, so a client stuck in
    /// a loop ends its turn visibly instead of spinning.
    Rounds(Vec<Round>),
}

/// A scripted failure for one generate request. See the module docs for the JSON form.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Fault {
    /// Answer with this HTTP status and Google's error body. 429 carries a
    /// `google.rpc.QuotaFailure` (`quota_id`, default
    /// `GenerateRequestsPerMinutePerProjectPerModel-FreeTier`) and, when `retry_delay` is set,
    /// a `google.rpc.RetryInfo` (e.g. `"0.2s"`). `retry_after_header` also sets `Retry-After`,
    /// which Google itself never sends. Codes outside 100..=999 become 500.
    Status {
        code: u16,
        #[serde(default)]
        retry_delay: Option<String>,
        #[serde(default)]
        quota_id: Option<String>,
        #[serde(default)]
        retry_after_header: Option<u64>,
    },
    /// 200 and that many normal chunks, then a `data: {"error":{"code":503,…}}` event and
    /// the end of the body. A unary request gets a plain 503 instead.
    ErrorInStream {
        #[serde(default)]
        after_chunks: usize,
    },
    /// 200 and `chunks` chunks, then silence for `stall` with the connection open, then the
    /// end of the body without a finish reason.
    StallAfter {
        #[serde(default)]
        chunks: usize,
        #[serde(rename = "stall_ms", with = "duration_ms")]
        stall: Duration,
    },
    /// 200 and that many chunks, then the complete event `data: {"candidates": [` (JSON cut
    /// off) and the end of the body.
    MalformedJson {
        #[serde(default)]
        after_chunks: usize,
    },
    /// 200 and `chunks` chunks, then the connection is closed without the end of the
    /// chunked body, which clients see as a transport error.
    ResetAfter {
        #[serde(default)]
        chunks: usize,
    },
    /// 200 and one event whose candidate has `finishReason: STOP` and a `content` with a role
    /// but no `parts`.
    EmptyStop,
    /// 200, the text (if any) in chunks with `reason` on the last one; without text a single
    /// event whose candidate has no `content` at all (the MAX_TOKENS-from-thinking shape).
    Finish {
        reason: String,
        #[serde(default)]
        text: Option<String>,
    },
    /// 200 and one event with `promptFeedback.blockReason: SAFETY` and no candidates.
    PromptBlocked,
    /// The recorded response `case` (a directory in [`FakeGeminiConfig::replay_dir`]),
    /// verbatim: its status, its headers (less hop-by-hop and length headers) and its body
    /// bytes. An SSE body goes out event by event with the configured `ttft` and
    /// `chunk_delay`; any other body at once. Served as recorded whatever the RPC, so a
    /// unary request gets SSE bytes if the case holds a stream. A case that cannot be loaded
    /// is answered with a 400 `FAILED_PRECONDITION` that says why (never retried by a
    /// client, so the mistake surfaces in the test).
    Replay { case: String },
}

mod duration_ms {
    use std::time::Duration;

    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u64(u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        u64::deserialize(d).map(Duration::from_millis)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Backend {
    Developer,
    Vertex,
}

/// One `generateContent` or `streamGenerateContent` request as it arrived, recorded before
/// authentication so tests can assert on rejected requests too.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RecordedRequest {
    pub backend: Backend,
    pub method: String,
    pub path: String,
    pub query: Option<String>,
    /// Lower-case names, in arrival order.
    pub headers: Vec<(String, String)>,
    /// The parsed body; a body that is not JSON is kept as a JSON string of its (lossy UTF-8)
    /// text.
    pub body: serde_json::Value,
    pub model: String,
    pub stream: bool,
    pub api_key_header: Option<String>,
    pub bearer: Option<String>,
    /// True if the URL carried a `key` query parameter, which a client should never send.
    pub key_in_query: bool,
}

impl RecordedRequest {
    /// The first value of header `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// `tools` of the request body (empty if absent).
    pub fn tools(&self) -> &[serde_json::Value] {
        tools::tools(&self.body)
    }

    /// `toolConfig` (or `tool_config`).
    pub fn tool_config(&self) -> Option<&serde_json::Value> {
        tools::tool_config(&self.body)
    }

    /// `generationConfig.thinkingConfig` (either spelling).
    pub fn thinking_config(&self) -> Option<&serde_json::Value> {
        tools::thinking_config(&self.body)
    }

    /// Names of every function declaration across `tools`, in order.
    pub fn function_declaration_names(&self) -> Vec<String> {
        tools::function_declaration_names(&self.body)
    }

    /// Whether a tool is `google_search` / `googleSearch`.
    pub fn enables_google_search(&self) -> bool {
        tools::enables_google_search(&self.body)
    }

    /// The `functionResponse` objects of the current turn (after the newest plain user
    /// message), in order.
    pub fn function_responses(&self) -> Vec<&serde_json::Value> {
        tools::current_function_responses(&self.body)
    }

    /// The script round this request asked for (see [`script_round`]).
    pub fn script_round(&self) -> usize {
        script_round(&self.body)
    }
}

/// A running fake. Dropping it (or [`FakeGemini::shutdown`]) stops accepting connections and
/// ends in-flight streams.
pub struct FakeGemini {
    addr: SocketAddr,
    shared: Arc<Shared>,
    shutdown: watch::Sender<bool>,
    task: Option<JoinHandle<()>>,
}

impl FakeGemini {
    /// Serves on an ephemeral port of 127.0.0.1.
    pub async fn start(config: FakeGeminiConfig) -> anyhow::Result<FakeGemini> {
        Self::start_on(SocketAddr::from((Ipv4Addr::LOCALHOST, 0)), config).await
    }

    pub async fn start_on(
        addr: SocketAddr,
        config: FakeGeminiConfig,
    ) -> anyhow::Result<FakeGemini> {
        let listener = tokio::net::TcpListener::bind(addr)
            .await
            .with_context(|| format!("fake-gemini: binding {addr}"))?;
        let addr = listener.local_addr()?;
        let (shutdown, stop) = watch::channel(false);
        let shared = Arc::new(Shared::new(config, stop.clone()));
        let app = routes::router(shared.clone());
        // Events are small writes; without TCP_NODELAY Nagle plus delayed ACKs can hold one
        // back ~40 ms, which would distort the timings benchmarks measure.
        let listener = listener.tap_io(|tcp| {
            let _ = tcp.set_nodelay(true);
        });
        let mut stop_signal = stop;
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app)
                .with_graceful_shutdown(async move {
                    let _ = stop_signal.wait_for(|stop| *stop).await;
                })
                .await;
        });
        Ok(FakeGemini {
            addr,
            shared,
            shutdown,
            task: Some(task),
        })
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://127.0.0.1:PORT`; an unspecified bind address is reported as loopback.
    pub fn base_url(&self) -> String {
        format!("http://{}", self.metadata_host())
    }

    /// `127.0.0.1:PORT`, the form `GCE_METADATA_HOST` takes.
    pub fn metadata_host(&self) -> String {
        let ip = match self.addr.ip() {
            IpAddr::V4(ip) if ip.is_unspecified() => IpAddr::V4(Ipv4Addr::LOCALHOST),
            IpAddr::V6(ip) if ip.is_unspecified() => IpAddr::V6(Ipv6Addr::LOCALHOST),
            ip => ip,
        };
        SocketAddr::new(ip, self.addr.port()).to_string()
    }

    pub fn config(&self) -> FakeGeminiConfig {
        self.shared.lock().config.clone()
    }

    /// Applies to requests that arrive afterwards.
    pub fn set_config(&self, config: FakeGeminiConfig) {
        self.shared.lock().config = config;
    }

    /// Queues a fault; each generate request pops at most one (model-specific ones first).
    pub fn push_fault(&self, fault: Fault) {
        self.shared.lock().faults.push_back(fault);
    }

    /// Answers the following requests with `rounds` (a [`Reply::Rounds`] script).
    pub fn set_rounds(&self, rounds: Vec<Round>) {
        self.shared.lock().config.reply = Reply::Rounds(rounds);
    }

    /// Answers requests that enable Google Search with `grounding` (`None`: normal replies).
    pub fn set_grounding(&self, grounding: Option<GroundedReply>) {
        self.shared.lock().config.grounding = grounding;
    }

    /// Loads recorded case `case` from the configured `replay_dir` and queues it as a
    /// [`Fault::Replay`]. Unlike pushing the fault directly, a case that does not exist or
    /// does not load is reported here, at the call site.
    pub fn push_replay(&self, case: &str) -> anyhow::Result<()> {
        let dir = self.shared.lock().config.replay_dir.clone();
        ReplayCase::load_named(&dir, case)?;
        self.push_fault(Fault::Replay {
            case: case.to_owned(),
        });
        Ok(())
    }

    /// Queues a fault that only a request for `model` pops.
    pub fn push_fault_for_model(&self, model: &str, fault: Fault) {
        self.shared
            .lock()
            .model_faults
            .entry(model.to_owned())
            .or_default()
            .push_back(fault);
    }

    pub fn clear_faults(&self) {
        let mut state = self.shared.lock();
        state.faults.clear();
        state.model_faults.clear();
    }

    /// Every generate request so far, in arrival order.
    pub fn requests(&self) -> Vec<RecordedRequest> {
        self.shared.lock().requests.clone()
    }

    pub fn clear_requests(&self) {
        self.shared.lock().requests.clear();
    }

    /// Waits until at least `n` requests are recorded or `timeout` passes, and returns what
    /// is recorded then (possibly fewer than `n`; the caller asserts).
    pub async fn wait_for_requests(&self, n: usize, timeout: Duration) -> Vec<RecordedRequest> {
        self.shared
            .wait_until(timeout, |s| s.lock().requests.len() >= n)
            .await;
        self.requests()
    }

    /// Metadata token fetches so far.
    pub fn token_requests(&self) -> usize {
        self.shared.lock().token_requests
    }

    /// Makes every token issued so far invalid, as if it had expired, so the next Vertex
    /// request with one gets 401.
    pub fn expire_tokens(&self) {
        let now = Instant::now();
        for expiry in self.shared.lock().tokens.values_mut() {
            *expiry = now;
        }
    }

    /// Streams that ran to the end of their script (including fault scripts that end in an
    /// error event or a reset).
    pub fn completed_streams(&self) -> usize {
        self.shared.completed.load(Ordering::SeqCst)
    }

    /// Streams whose client went away before the end of the script. Counted when the server
    /// notices, which can be a moment after the client closes: use
    /// [`FakeGemini::wait_for_dropped_streams`] rather than reading this right after a cancel.
    pub fn dropped_streams(&self) -> usize {
        self.shared.dropped.load(Ordering::SeqCst)
    }

    /// Waits until at least `n` streams were dropped or `timeout` passes; returns the count.
    pub async fn wait_for_dropped_streams(&self, n: usize, timeout: Duration) -> usize {
        self.shared
            .wait_until(timeout, |s| s.dropped.load(Ordering::SeqCst) >= n)
            .await;
        self.dropped_streams()
    }

    /// Waits until at least `n` streams completed or `timeout` passes; returns the count.
    pub async fn wait_for_completed_streams(&self, n: usize, timeout: Duration) -> usize {
        self.shared
            .wait_until(timeout, |s| s.completed.load(Ordering::SeqCst) >= n)
            .await;
        self.completed_streams()
    }

    /// Stops the server and waits (up to 5 s) for its connections to close.
    pub async fn shutdown(mut self) {
        self.shutdown.send_replace(true);
        if let Some(task) = self.task.take() {
            let _ = tokio::time::timeout(Duration::from_secs(5), task).await;
        }
    }
}

impl Drop for FakeGemini {
    fn drop(&mut self) {
        // Graceful shutdown: the listener closes at once and streams end at their next step;
        // the serve task then finishes on its own.
        self.shutdown.send_replace(true);
    }
}

impl std::fmt::Debug for FakeGemini {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FakeGemini")
            .field("addr", &self.addr)
            .finish_non_exhaustive()
    }
}

struct Shared {
    state: Mutex<State>,
    /// Woken whenever a request is recorded or a stream ends.
    changed: Notify,
    completed: AtomicUsize,
    dropped: AtomicUsize,
    next_response_id: AtomicU64,
    shutdown: watch::Receiver<bool>,
}

struct State {
    config: FakeGeminiConfig,
    faults: VecDeque<Fault>,
    model_faults: HashMap<String, VecDeque<Fault>>,
    requests: Vec<RecordedRequest>,
    /// Every function call sent so far, for the thought-signature checks on later requests.
    issued_calls: Vec<tools::IssuedCall>,
    /// Issued token -> when it stops being accepted.
    tokens: HashMap<String, Instant>,
    token_requests: usize,
}

enum TokenStatus {
    Valid,
    Expired,
    Unknown,
}

impl Shared {
    fn new(config: FakeGeminiConfig, shutdown: watch::Receiver<bool>) -> Self {
        Self {
            state: Mutex::new(State {
                config,
                faults: VecDeque::new(),
                model_faults: HashMap::new(),
                requests: Vec::new(),
                issued_calls: Vec::new(),
                tokens: HashMap::new(),
                token_requests: 0,
            }),
            changed: Notify::new(),
            completed: AtomicUsize::new(0),
            dropped: AtomicUsize::new(0),
            next_response_id: AtomicU64::new(1),
            shutdown,
        }
    }

    /// A panicking test thread must not take the fake down with it, so poisoning is ignored:
    /// every critical section leaves the state consistent.
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn record(&self, request: RecordedRequest) {
        self.lock().requests.push(request);
        self.changed.notify_waiters();
    }

    fn pop_fault(&self, model: &str) -> Option<Fault> {
        let mut state = self.lock();
        if let Some(fault) = state
            .model_faults
            .get_mut(model)
            .and_then(VecDeque::pop_front)
        {
            return Some(fault);
        }
        state.faults.pop_front()
    }

    /// Returns the new token and its lifetime in seconds.
    fn issue_token(&self) -> (String, u64) {
        let mut state = self.lock();
        state.token_requests += 1;
        let token = format!("fake-token-{}", state.token_requests);
        let lifetime = state.config.token_expires_in;
        let expiry = Instant::now() + Duration::from_secs(lifetime);
        state.tokens.insert(token.clone(), expiry);
        (token, lifetime)
    }

    fn token_status(&self, token: &str) -> TokenStatus {
        match self.lock().tokens.get(token) {
            Some(expiry) if Instant::now() < *expiry => TokenStatus::Valid,
            Some(_) => TokenStatus::Expired,
            None => TokenStatus::Unknown,
        }
    }

    fn stream_ended(&self, completed: bool) {
        let counter = if completed {
            &self.completed
        } else {
            &self.dropped
        };
        counter.fetch_add(1, Ordering::SeqCst);
        self.changed.notify_waiters();
    }

    fn response_id(&self) -> String {
        let n = self.next_response_id.fetch_add(1, Ordering::Relaxed);
        format!("fakeResp{n:08}")
    }

    async fn wait_until(&self, timeout: Duration, ready: impl Fn(&Self) -> bool) -> bool {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            // Registering before checking closes the window where a notification between the
            // check and the wait would be missed.
            let notified = self.changed.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if ready(self) {
                return true;
            }
            if tokio::time::timeout_at(deadline, notified).await.is_err() {
                return ready(self);
            }
        }
    }
}

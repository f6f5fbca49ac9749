//! One Live socket: a task that owns the browser socket and the current Gemini Live connection
//! and `select!`s over both, the tools it started, the timers and the shutdown signal.
//!
//! * **Audio** goes up as `realtimeInput.audio` (base64) and comes down as binary frames, with
//!   nothing buffered beyond one frame, except while a connection is being replaced (goAway, a
//!   drop), when up to two seconds of the user's audio wait for the new one.
//! * **Tools** (`toolCall`) run through `Skills::call` in their own tasks so audio keeps
//!   flowing; the microphone is held back until every call is answered, because Gemini closes
//!   with 1008 on audio sent while a call of its own is unanswered.
//! * **Transcripts** of one exchange (what the user said, what the model said, the last tool's
//!   card) are stored as one turn of the open conversation with source `live` at
//!   `turnComplete`, and shown in the user's other tabs, as classic turns are.
//! * **Resilience**: every resumable `sessionResumptionUpdate` handle is saved in the database;
//!   on `goAway` the old connection is closed first (Google refuses a resume while it is open)
//!   and a new one resumes with the handle; a dropped connection is resumed the same way with
//!   backoff. A socket opened later for the same tab, on any instance, resumes too.
//! * **Budgets**: the session's wall time (Gemini bills silence too) is charged to the user's
//!   and the service's daily Live seconds every `charge_interval` and when it ends; the session
//!   ends when either runs out, and after a minute in which nobody spoke.
//! * **Memory**: a task's future is allocated at its largest state for the task's whole life,
//!   so the store calls a session makes now and then (settings, handles, usage, storing an
//!   exchange) are boxed: their futures, several KiB each, exist only while they run. A test
//!   holds the resident futures under a bound.

use std::collections::{HashSet, VecDeque};
use std::num::NonZeroU32;
use std::time::Duration;

use axum::extract::ws::{CloseFrame, Message, WebSocket, close_code};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use bytes::Bytes;
use chrono::Utc;
use chrono_tz::Tz;
use futures_util::stream::SplitSink;
use futures_util::{SinkExt, StreamExt};
use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};
use serde_json::{Value, json};
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;
use tokio::time::{Instant, sleep_until};
use tokio_tungstenite::tungstenite::Message as UpMessage;
use tracing::Instrument;

use super::protocol::{ClientFrame, ServerFrame, audio_problem, parse_client_frame};
use super::upstream::{self, LiveClient, LiveError, Recovery};
use crate::assistant::Action;
use crate::conversation::{Source, Status, TurnRecord};
use crate::error::{ErrorCode, Problem};
use crate::hub::HubEvent;
use crate::skills::{SkillContext, SkillOutcome};
use crate::state::AppState;
use crate::store::{LiveLimits, UserId};
use crate::ws::{IDLE, Peer, RESTARTING, SESSION_LIFETIME, close_for};

/// Audio frames per second (20 ms frames are 50 a second) and control frames per second a
/// browser may send before frames are dropped.
const AUDIO_FRAMES_PER_SECOND: u32 = 100;
const AUDIO_BURST: u32 = 200;
const CONTROL_FRAMES_PER_SECOND: u32 = 20;
const CONTROL_BURST: u32 = 60;
const MISSED_PINGS: u32 = 3;
/// Audio kept while a connection is replaced: two seconds of 16 kHz PCM16.
const MAX_HELD_AUDIO: usize = 64_000;
/// Reconnection attempts in a row before the session gives up, and their backoff.
const MAX_RECONNECTS: u32 = 4;
const BACKOFF_BASE: Duration = Duration::from_millis(500);
/// How long storing an exchange may hold up the relay.
const STORE_TIMEOUT: Duration = Duration::from_secs(3);
/// Stored in place of a side of the exchange nobody heard, so the model never sees an empty
/// message as context in classic mode.
const NOTHING_HEARD: &str = "…";

/// Close reasons of this socket beyond the voice socket's.
pub const LIVE_BUDGET: &str = "live budget";
pub const LIVE_STOPPED: &str = "live stopped";
pub const LIVE_FAILED: &str = "live unavailable";

const AUDIO_MIME: &str = "audio/pcm;rate=16000";

/// What the model and the user said in the exchange under way.
#[derive(Default)]
struct Exchange {
    started: Option<chrono::DateTime<Utc>>,
    input: String,
    input_final: bool,
    output: String,
    action: Option<Action>,
    calculation: Option<String>,
    interrupted: bool,
}

impl Exchange {
    fn is_empty(&self) -> bool {
        self.input.trim().is_empty() && self.output.trim().is_empty() && self.action.is_none()
    }

    fn touch(&mut self) {
        self.started.get_or_insert_with(Utc::now);
    }
}

struct ToolDone {
    id: String,
    name: String,
    outcome: SkillOutcome,
}

type BrowserSink = SplitSink<WebSocket, Message>;

pub struct LiveSession {
    state: AppState,
    peer: Peer,
    client: LiveClient,
    timezone: Option<Tz>,
}

/// How the loop ended: the close frame for the browser, and whether the session may be
/// resumed later (the handle is kept).
struct Ending {
    close: Option<(u16, String)>,
    keep_handle: bool,
}

impl LiveSession {
    pub fn new(state: AppState, peer: Peer, client: LiveClient, timezone: Option<Tz>) -> Self {
        Self {
            state,
            peer,
            client,
            timezone,
        }
    }

    /// Charges `seconds` to today's Live budgets; the seconds left, None if the database could
    /// not say (the session goes on: a database hiccup should not cut a conversation).
    async fn charge(&self, seconds: u64) -> Option<u64> {
        charge(&self.state, &self.peer.user, seconds).await
    }

    /// [`Self::charge`] on its own task: the relay loop goes on moving audio while the
    /// database answers (a charge is a write transaction; under load it can take tens of ms).
    fn charge_in_background(&self, seconds: u64) -> JoinHandle<Option<u64>> {
        let state = self.state.clone();
        let user = self.peer.user.clone();
        tokio::spawn(
            async move { charge(&state, &user, seconds).await }
                .instrument(tracing::Span::current()),
        )
    }

    pub async fn run(self, socket: WebSocket) {
        tracing::info!(user_id = %self.peer.user, model = self.client.model(), "live socket opened");
        let (mut sink, stream) = socket.split();
        if self.charge(0).await == Some(0) {
            let _ = send(&mut sink, &budget_frame()).await;
            close_browser(&mut sink, Some((close_code::NORMAL, LIVE_BUDGET.into()))).await;
            tracing::info!("live socket refused: budget used up");
            return;
        }
        let opened = Instant::now();
        let (ending, charged) = Relay::new(&self).run(&mut sink, stream, opened).await;
        // The time since the last charge, rounded up: a session is never free.
        let used = opened.elapsed();
        let _ = self
            .charge(used.saturating_sub(charged).as_secs_f64().ceil() as u64)
            .await;
        if !ending.keep_handle
            && let Err(error) = Box::pin(
                self.state
                    .store()
                    .clear_live_handle(&self.peer.user, &self.peer.client_id),
            )
            .await
        {
            tracing::warn!(%error, "could not forget a Live session");
        }
        close_browser(&mut sink, ending.close.clone()).await;
        tracing::info!(
            close_code = ending.close.as_ref().map(|(c, _)| *c),
            seconds = used.as_secs(),
            "live socket closed"
        );
    }
}

async fn charge(state: &AppState, user: &UserId, seconds: u64) -> Option<u64> {
    let day = Utc::now().format("%Y-%m-%d").to_string();
    let live = &state.config().live;
    let limits = LiveLimits {
        user,
        day: &day,
        per_user_secs: u64::from(live.daily_minutes_per_user) * 60,
        total_secs: u64::from(live.daily_minutes_total) * 60,
    };
    match Box::pin(state.store().charge_live(limits, seconds)).await {
        Ok(budget) => Some(budget.remaining_secs),
        Err(error) => {
            tracing::warn!(%error, "could not charge Live time");
            None
        }
    }
}

/// The loop's state; borrowed from the session for its lifetime.
struct Relay<'a> {
    session: &'a LiveSession,
    up: Option<(upstream::Sink, upstream::Stream)>,
    connecting: Option<Connecting>,
    /// Whether the connection being opened resumes a handle.
    resuming: bool,
    retry_at: Option<Instant>,
    failures: u32,
    ready: bool,
    handle: Option<String>,
    save_handle: watch::Sender<Option<String>>,
    held: VecDeque<Bytes>,
    held_bytes: usize,
    exchange: Exchange,
    tools_pending: HashSet<String>,
    // Boxed: the channel allocates room for 32 messages when it is made, and a session that
    // never calls a tool should not pay for 32 outcomes.
    tool_results: (
        mpsc::UnboundedSender<Box<ToolDone>>,
        mpsc::UnboundedReceiver<Box<ToolDone>>,
    ),
    language: String,
    voice: String,
    last_activity: Instant,
}

impl<'a> Relay<'a> {
    fn new(session: &'a LiveSession) -> Self {
        Relay {
            session,
            up: None,
            connecting: None,
            resuming: false,
            retry_at: None,
            failures: 0,
            ready: false,
            handle: None,
            save_handle: watch::Sender::new(None),
            held: VecDeque::new(),
            held_bytes: 0,
            exchange: Exchange::default(),
            tools_pending: HashSet::new(),
            tool_results: mpsc::unbounded_channel(),
            language: "en-US".into(),
            voice: String::new(),
            last_activity: Instant::now(),
        }
    }

    fn state(&self) -> &AppState {
        &self.session.state
    }

    fn user(&self) -> &UserId {
        &self.session.peer.user
    }

    async fn run(
        mut self,
        sink: &mut BrowserSink,
        mut stream: futures_util::stream::SplitStream<WebSocket>,
        opened: Instant,
    ) -> (Ending, Duration) {
        let state = self.session.state.clone();
        let store = state.store().clone();
        match Box::pin(store.settings(self.user())).await {
            Ok(settings) => {
                self.language = settings.language;
                self.voice = settings.voice;
            }
            Err(error) => tracing::warn!(%error, "could not read settings; Live uses defaults"),
        }
        self.handle =
            match Box::pin(store.live_handle(self.user(), &self.session.peer.client_id)).await {
                Ok(handle) => handle,
                Err(error) => {
                    tracing::warn!(%error, "could not read a Live resumption handle");
                    None
                }
            };
        let saver = spawn_handle_saver(
            state.clone(),
            self.session.peer.user.clone(),
            self.session.peer.client_id.clone(),
            self.save_handle.subscribe(),
        );
        self.connect();

        let config = state.config();
        let live = config.live.clone();
        let ping_every = config.ws_ping_interval;
        let max_message = config.max_ws_message_bytes;
        let mut ping = tokio::time::interval_at(Instant::now() + ping_every, ping_every);
        let mut charge =
            tokio::time::interval_at(Instant::now() + live.charge_interval, live.charge_interval);
        // Charged so far (whole seconds), counting a charge still being written.
        let mut charged = Duration::ZERO;
        let mut charging: Option<JoinHandle<Option<u64>>> = None;
        let mut last_heard = Instant::now();
        let lifetime_deadline = opened + config.ws_max_lifetime;
        let audio_guard: DefaultDirectRateLimiter = limiter(AUDIO_FRAMES_PER_SECOND, AUDIO_BURST);
        let control_guard: DefaultDirectRateLimiter =
            limiter(CONTROL_FRAMES_PER_SECOND, CONTROL_BURST);
        let guard_frames = state.limits().enabled();
        let mut last_warning: Option<Instant> = None;
        let shutdown = state.shutdown_token().clone();
        let far_future = Instant::now() + Duration::from_secs(86_400 * 365);

        let ending = loop {
            let idle_deadline = self.last_activity + live.idle_timeout;
            let retry_at = self.retry_at.unwrap_or(far_future);
            tokio::select! {
                biased;
                _ = shutdown.cancelled() => {
                    // The handle stays: the page reconnects to another instance and resumes.
                    break Ending { close: Some((close_code::AWAY, RESTARTING.into())), keep_handle: true };
                }
                joined = join_connecting(&mut self.connecting), if self.connecting.is_some() => {
                    self.connecting = None;
                    let result = joined.unwrap_or_else(|_| Err(LiveError::Protocol("the connection task failed".into())));
                    match result {
                        Ok(up) => {
                            // `failures` is reset by the first content, not here: a connection
                            // that is set up and then dropped at once must not resume forever.
                            self.up = Some(up);
                            if !self.ready {
                                self.ready = true;
                                self.last_activity = Instant::now();
                                if send(sink, &ServerFrame::LiveReady).await.is_err() {
                                    break gone();
                                }
                            }
                            if self.flush_held().await.is_err() {
                                self.upstream_lost(LiveError::Closed { code: 1006, reason: "connection lost".into() });
                            }
                        }
                        Err(error) => {
                            if let Some(ending) = self.upstream_failed(sink, error).await {
                                break ending;
                            }
                        }
                    }
                }
                _ = sleep_until(retry_at), if self.retry_at.is_some() => {
                    self.retry_at = None;
                    self.connect();
                }
                message = next_upstream(&mut self.up), if self.up.is_some() => {
                    match upstream::parse(message) {
                        Ok(Some(message)) => {
                            if let Err(ending) = self.on_upstream(sink, message).await {
                                break ending;
                            }
                        }
                        Ok(None) => {}
                        Err(error) => {
                            self.up = None;
                            if let Some(ending) = self.upstream_failed(sink, error).await {
                                break ending;
                            }
                        }
                    }
                }
                Some(done) = self.tool_results.1.recv() => {
                    if let Err(ending) = self.on_tool_done(sink, done).await {
                        break ending;
                    }
                }
                message = stream.next() => {
                    let Some(message) = message else { break gone() };
                    let message = match message {
                        Ok(message) => message,
                        Err(error) => {
                            let close = close_for(&error, max_message);
                            break Ending { close, keep_handle: true };
                        }
                    };
                    last_heard = Instant::now();
                    let guard = match &message {
                        Message::Binary(_) => Some(&audio_guard),
                        Message::Text(_) => Some(&control_guard),
                        _ => None,
                    };
                    if let Some(guard) = guard
                        && guard_frames
                        && guard.check().is_err()
                    {
                        if warn_due(&mut last_warning) {
                            let frame = ServerFrame::error(Problem::new(
                                ErrorCode::TooManyFrames,
                                "Too many frames; some were dropped. Please slow down.",
                            ));
                            if send(sink, &frame).await.is_err() {
                                break gone();
                            }
                        }
                        continue;
                    }
                    let reply = match message {
                        Message::Binary(audio) => self.on_audio(audio, &mut last_warning).await,
                        Message::Text(text) => match parse_client_frame(text.as_str()) {
                            Ok(ClientFrame::Ping) => Some(ServerFrame::Pong),
                            Ok(ClientFrame::AudioEnd) => {
                                self.send_up(json!({"realtimeInput": {"audioStreamEnd": true}})).await;
                                None
                            }
                            Ok(ClientFrame::Stop) => {
                                break Ending { close: Some((close_code::NORMAL, LIVE_STOPPED.into())), keep_handle: false };
                            }
                            Ok(ClientFrame::Unknown) => Some(ServerFrame::error(Problem::new(
                                ErrorCode::UnknownMessage,
                                "Unknown message: send {\"type\": \"ping\"}, {\"type\": \"audio_end\"}, {\"type\": \"stop\"} or binary audio.",
                            ))),
                            Err(_) => Some(ServerFrame::error(Problem::new(
                                ErrorCode::InvalidJson,
                                "Text frames must be JSON, such as {\"type\": \"ping\"}.",
                            ))),
                        },
                        Message::Close(_) => break gone(),
                        Message::Ping(_) | Message::Pong(_) => None,
                    };
                    if let Some(frame) = reply
                        && send(sink, &frame).await.is_err()
                    {
                        break gone();
                    }
                }
                _ = ping.tick() => {
                    if last_heard.elapsed() > ping_every * MISSED_PINGS {
                        break Ending { close: Some((close_code::AWAY, "ping timeout".into())), keep_handle: true };
                    }
                    if sink.send(Message::Ping(Default::default())).await.is_err() {
                        break gone();
                    }
                }
                _ = charge.tick(), if charging.is_none() => {
                    let seconds = (opened.elapsed() - charged).as_secs();
                    charged += Duration::from_secs(seconds);
                    charging = Some(self.session.charge_in_background(seconds));
                }
                remaining = join_charging(&mut charging) => {
                    charging = None;
                    if matches!(remaining, Ok(Some(0))) {
                        let _ = send(sink, &budget_frame()).await;
                        break Ending { close: Some((close_code::NORMAL, LIVE_BUDGET.into())), keep_handle: true };
                    }
                }
                _ = sleep_until(idle_deadline), if self.ready => {
                    let frame = ServerFrame::error(Problem::new(
                        ErrorCode::LiveIdle,
                        "Live ended after a minute without speech. Tap the mic to talk again.",
                    ));
                    let _ = send(sink, &frame).await;
                    break Ending { close: Some((close_code::NORMAL, IDLE.into())), keep_handle: true };
                }
                _ = sleep_until(lifetime_deadline) => {
                    break Ending { close: Some((close_code::NORMAL, SESSION_LIFETIME.into())), keep_handle: true };
                }
            }
        };
        // What was said before the end is kept, as an interrupted exchange.
        if !self.exchange.is_empty() {
            self.exchange.interrupted = true;
            self.store_exchange().await;
        }
        if let Some(connecting) = self.connecting.take() {
            connecting.abort();
        }
        if let Some((mut up, _)) = self.up.take() {
            let _ = up.send(UpMessage::Close(None)).await;
        }
        // The saver writes the newest handle before the session ends, so a reconnect finds it.
        drop(self.save_handle);
        let _ = tokio::time::timeout(STORE_TIMEOUT, saver).await;
        if let Some(charging) = charging {
            let _ = tokio::time::timeout(STORE_TIMEOUT, charging).await;
        }
        (ending, charged)
    }

    /// Starts opening a connection, resuming the last handle if there is one.
    fn connect(&mut self) {
        let client = self.session.client.clone();
        let setup = client.setup(&self.language, &self.voice, self.handle.as_deref());
        self.resuming = self.handle.is_some();
        self.connecting = Some(tokio::spawn(
            async move { client.open(&setup).await }.instrument(tracing::Span::current()),
        ));
    }

    /// An upstream connection ended or could not be opened: resume, start over or give up.
    /// Some(ending) when the session must end.
    async fn upstream_failed(
        &mut self,
        sink: &mut BrowserSink,
        error: LiveError,
    ) -> Option<Ending> {
        let recovery = error.recovery(self.resuming);
        tracing::info!(%error, ?recovery, "Gemini Live connection ended");
        if matches!(error, LiveError::Connect(ref e) if e.contains("401") || e.contains("403")) {
            self.session.client.invalidate_token().await;
        }
        match recovery {
            Recovery::Fresh => {
                self.handle = None;
                self.save_handle.send_replace(None);
                let store = self.state().store();
                if let Err(error) =
                    Box::pin(store.clear_live_handle(self.user(), &self.session.peer.client_id))
                        .await
                {
                    tracing::warn!(%error, "could not forget a Live session");
                }
                self.connect();
                None
            }
            Recovery::Retry if self.failures < MAX_RECONNECTS => {
                self.upstream_lost(error);
                None
            }
            _ => {
                let frame = ServerFrame::error(Problem::new(
                    ErrorCode::LiveUnavailable,
                    "Live voice is unavailable right now; classic mode still works.",
                ));
                let _ = send(sink, &frame).await;
                Some(Ending {
                    close: Some((close_code::ERROR, LIVE_FAILED.into())),
                    keep_handle: false,
                })
            }
        }
    }

    /// Schedules a reconnection with backoff (the first one at once).
    fn upstream_lost(&mut self, _error: LiveError) {
        self.up = None;
        let delay = if self.failures == 0 {
            Duration::ZERO
        } else {
            BACKOFF_BASE * 2u32.pow(self.failures - 1)
        };
        self.failures += 1;
        self.retry_at = Some(Instant::now() + delay);
    }

    async fn on_audio(
        &mut self,
        audio: Bytes,
        last_warning: &mut Option<Instant>,
    ) -> Option<ServerFrame> {
        if let Some(problem) = audio_problem(audio.len()) {
            return Some(ServerFrame::error(Problem::new(
                ErrorCode::InvalidAudio,
                problem,
            )));
        }
        if !self.ready {
            return warn_due(last_warning).then(|| {
                ServerFrame::error(Problem::new(
                    ErrorCode::LiveNotReady,
                    "Wait for live_ready before sending audio.",
                ))
            });
        }
        // Gemini closes with 1008 on audio sent while one of its tool calls is unanswered.
        if !self.tools_pending.is_empty() {
            return None;
        }
        if self.up.is_none() {
            self.held_bytes += audio.len();
            self.held.push_back(audio);
            while self.held_bytes > MAX_HELD_AUDIO {
                if let Some(old) = self.held.pop_front() {
                    self.held_bytes -= old.len();
                }
            }
            return None;
        }
        self.send_up_text(audio_message(&audio)).await;
        None
    }

    async fn flush_held(&mut self) -> Result<(), ()> {
        self.held_bytes = 0;
        while let Some(audio) = self.held.pop_front() {
            if let Some((up, _)) = self.up.as_mut() {
                up.send(UpMessage::Text(audio_message(&audio).into()))
                    .await
                    .map_err(|_| ())?;
            }
        }
        Ok(())
    }

    /// Sends a message upstream; a broken connection is noticed (and resumed) by the reader.
    async fn send_up(&mut self, message: Value) {
        self.send_up_text(message.to_string()).await;
    }

    async fn send_up_text(&mut self, message: String) {
        if let Some((up, _)) = self.up.as_mut()
            && let Err(error) = up.send(UpMessage::Text(message.into())).await
        {
            tracing::debug!(%error, "could not send to Gemini Live");
        }
    }

    /// Handles one server message; Err ends the session.
    async fn on_upstream(&mut self, sink: &mut BrowserSink, message: Value) -> Result<(), Ending> {
        if let Some(content) = message.get("serverContent") {
            self.failures = 0;
            // Gemini 3 bundles several fields and turnComplete in one message: content first.
            if let Some(text) = content["inputTranscription"]["text"].as_str()
                && !text.is_empty()
            {
                self.last_activity = Instant::now();
                self.exchange.touch();
                self.exchange.input.push_str(text);
                let frame = ServerFrame::InputTranscript {
                    text: self.exchange.input.clone(),
                    r#final: false,
                };
                send(sink, &frame).await.map_err(|_| gone())?;
            }
            if let Some(parts) = content["modelTurn"]["parts"].as_array() {
                for part in parts {
                    let Some(data) = part["inlineData"]["data"].as_str() else {
                        continue;
                    };
                    let Ok(audio) = BASE64.decode(data) else {
                        tracing::debug!("undecodable audio from Gemini Live");
                        continue;
                    };
                    if audio.is_empty() {
                        continue;
                    }
                    self.last_activity = Instant::now();
                    self.finalize_input(sink).await?;
                    sink.send(Message::Binary(audio.into()))
                        .await
                        .map_err(|_| gone())?;
                }
            }
            if let Some(text) = content["outputTranscription"]["text"].as_str()
                && !text.is_empty()
            {
                self.last_activity = Instant::now();
                self.finalize_input(sink).await?;
                self.exchange.output.push_str(text);
                let frame = ServerFrame::OutputTranscript {
                    text: text.to_owned(),
                };
                send(sink, &frame).await.map_err(|_| gone())?;
            }
            if content["interrupted"].as_bool() == Some(true) {
                self.exchange.interrupted = true;
                send(sink, &ServerFrame::Interrupted)
                    .await
                    .map_err(|_| gone())?;
            }
            if content["turnComplete"].as_bool() == Some(true) {
                self.finalize_input(sink).await?;
                if !self.exchange.is_empty() {
                    self.store_exchange().await;
                }
                send(sink, &ServerFrame::TurnComplete)
                    .await
                    .map_err(|_| gone())?;
            }
        }
        if let Some(calls) = message["toolCall"]["functionCalls"].as_array() {
            self.last_activity = Instant::now();
            for call in calls {
                self.start_tool(call);
            }
        }
        if let Some(ids) = message["toolCallCancellation"]["ids"].as_array() {
            for id in ids.iter().filter_map(Value::as_str) {
                self.tools_pending.remove(id);
            }
        }
        if let Some(update) = message.get("sessionResumptionUpdate")
            && update["resumable"].as_bool() == Some(true)
            && let Some(handle) = update["newHandle"].as_str().filter(|h| !h.is_empty())
        {
            self.handle = Some(handle.to_owned());
            self.save_handle.send_replace(Some(handle.to_owned()));
        }
        if let Some(usage) = message.get("usageMetadata") {
            let tokens = usage["totalTokenCount"].as_u64().unwrap_or(0);
            if tokens > 0 {
                let day = Utc::now().format("%Y-%m-%d").to_string();
                let store = self.state().store();
                if let Err(error) =
                    Box::pin(store.record_live_tokens(self.user(), &day, tokens)).await
                {
                    tracing::warn!(%error, "could not record Live usage");
                }
            }
        }
        if message.get("goAway").is_some() {
            // Close first: Google refuses (1011) a resume while the old socket is open.
            tracing::info!(time_left = %message["goAway"]["timeLeft"], "Gemini Live goAway; resuming on a new connection");
            if let Some((mut up, _)) = self.up.take() {
                let _ = up.send(UpMessage::Close(None)).await;
            }
            self.connect();
        }
        Ok(())
    }

    async fn finalize_input(&mut self, sink: &mut BrowserSink) -> Result<(), Ending> {
        if !self.exchange.input_final && !self.exchange.input.is_empty() {
            self.exchange.input_final = true;
            let frame = ServerFrame::InputTranscript {
                text: self.exchange.input.clone(),
                r#final: true,
            };
            send(sink, &frame).await.map_err(|_| gone())?;
        }
        Ok(())
    }

    fn start_tool(&mut self, call: &Value) {
        let id = call["id"].as_str().unwrap_or_default().to_owned();
        let name = call["name"].as_str().unwrap_or_default().to_owned();
        let args = call.get("args").cloned().unwrap_or_else(|| json!({}));
        self.tools_pending.insert(id.clone());
        self.exchange.touch();
        let skills = self.state().skills().clone();
        let user = self.user().clone();
        let timezone = self.session.timezone;
        let results = self.tool_results.0.clone();
        tokio::spawn(
            async move {
                let ctx = SkillContext {
                    user: &user,
                    now: Utc::now(),
                    timezone,
                    location: None,
                };
                let outcome = skills.call(&name, &args, &ctx).await;
                tracing::info!(tool = %name, rule = outcome.rule, "Live tool call");
                let _ = results.send(Box::new(ToolDone { id, name, outcome }));
            }
            .instrument(tracing::Span::current()),
        );
    }

    async fn on_tool_done(
        &mut self,
        sink: &mut BrowserSink,
        done: Box<ToolDone>,
    ) -> Result<(), Ending> {
        let done = *done;
        // A call Gemini cancelled meanwhile gets no answer and shows no card.
        if !self.tools_pending.remove(&done.id) {
            return Ok(());
        }
        let response = json!({"toolResponse": {"functionResponses": [
            {"id": done.id, "name": done.name, "response": done.outcome.result}
        ]}});
        self.send_up(response).await;
        if done.outcome.rule == "math" {
            self.exchange.calculation = done.outcome.result["exact"].as_str().map(str::to_owned);
        }
        if let Some(action) = done.outcome.action {
            let frame = ServerFrame::Action {
                action: action.kind(),
                data: action.data(),
                response: done.outcome.spoken,
            };
            self.exchange.action = Some(action);
            send(sink, &frame).await.map_err(|_| gone())?;
        }
        Ok(())
    }

    /// Stores the exchange as a turn of the open conversation and shows it in the user's other
    /// tabs; then starts a new exchange.
    async fn store_exchange(&mut self) {
        let exchange = std::mem::take(&mut self.exchange);
        let now = Utc::now();
        let text = |s: &str| {
            let s = s.trim();
            if s.is_empty() {
                NOTHING_HEARD.to_owned()
            } else {
                s.to_owned()
            }
        };
        let record = TurnRecord {
            user: self.user().clone(),
            command: text(&exchange.input),
            command_at: exchange.started.unwrap_or(now),
            reply: text(&exchange.output),
            action: exchange.action,
            source: Source::Live,
            answered_by: Some(self.session.client.model().to_owned()),
            status: if exchange.interrupted {
                Status::Interrupted
            } else {
                Status::Complete
            },
            replied_at: now,
            calculation: exchange.calculation,
        };
        let store = self.state().store();
        match tokio::time::timeout(STORE_TIMEOUT, Box::pin(store.record_turn(record))).await {
            Ok(Ok(turn)) => {
                let origin = self.session.peer.client_id.clone();
                self.state().hub().publish(
                    self.user(),
                    Some(&origin.clone()),
                    HubEvent::TurnSynced { origin, turn },
                );
            }
            Ok(Err(error)) => tracing::warn!(%error, "could not store a Live exchange"),
            Err(_) => tracing::warn!("storing a Live exchange timed out"),
        }
    }
}

/// Writes the newest resumption handle of a session as it changes (the latest one wins, so a
/// slow database never queues stale handles), and once more when the session ends.
fn spawn_handle_saver(
    state: AppState,
    user: UserId,
    client_id: String,
    handles: watch::Receiver<Option<String>>,
) -> JoinHandle<()> {
    tokio::spawn(save_handles(state, user, client_id, handles).instrument(tracing::Span::current()))
}

async fn save_handles(
    state: AppState,
    user: UserId,
    client_id: String,
    mut handles: watch::Receiver<Option<String>>,
) {
    while handles.changed().await.is_ok() {
        let handle = handles.borrow_and_update().clone();
        let Some(handle) = handle else { continue };
        let saving = state
            .store()
            .save_live_handle(&user, &client_id, &handle, Utc::now());
        if let Err(error) = Box::pin(saving).await {
            tracing::warn!(%error, "could not save a Live resumption handle");
        }
    }
}

type Connecting = JoinHandle<Result<(upstream::Sink, upstream::Stream), LiveError>>;

/// The connection being opened; never resolves without one.
async fn join_connecting(
    connecting: &mut Option<Connecting>,
) -> Result<Result<(upstream::Sink, upstream::Stream), LiveError>, tokio::task::JoinError> {
    match connecting {
        Some(task) => task.await,
        None => std::future::pending().await,
    }
}

/// The charge being written; never resolves without one.
async fn join_charging(
    charging: &mut Option<JoinHandle<Option<u64>>>,
) -> Result<Option<u64>, tokio::task::JoinError> {
    match charging {
        Some(task) => task.await,
        None => std::future::pending().await,
    }
}

/// The next upstream message; never resolves without a connection.
async fn next_upstream(
    up: &mut Option<(upstream::Sink, upstream::Stream)>,
) -> Option<Result<UpMessage, tokio_tungstenite::tungstenite::Error>> {
    match up {
        Some((_, stream)) => stream.next().await,
        None => std::future::pending().await,
    }
}

/// `{"realtimeInput": {"audio": {"mimeType", "data"}}}`, written straight into one string: it is
/// sent for every 20–40 ms of every session's audio, and neither part needs JSON escaping (a
/// constant MIME type and base64).
fn audio_message(audio: &[u8]) -> String {
    const START: &str = r#"{"realtimeInput":{"audio":{"mimeType":""#;
    const DATA: &str = r#"","data":""#;
    const END: &str = r#""}}}"#;
    let encoded = audio.len().div_ceil(3) * 4;
    let mut message =
        String::with_capacity(START.len() + AUDIO_MIME.len() + DATA.len() + encoded + END.len());
    message.push_str(START);
    message.push_str(AUDIO_MIME);
    message.push_str(DATA);
    BASE64.encode_string(audio, &mut message);
    message.push_str(END);
    message
}

fn limiter(per_second: u32, burst: u32) -> DefaultDirectRateLimiter {
    RateLimiter::direct(
        Quota::per_second(NonZeroU32::new(per_second).unwrap_or(NonZeroU32::MIN))
            .allow_burst(NonZeroU32::new(burst).unwrap_or(NonZeroU32::MIN)),
    )
}

/// At most one warning a second about dropped frames.
fn warn_due(last: &mut Option<Instant>) -> bool {
    let due = last.is_none_or(|t| t.elapsed() >= Duration::from_secs(1));
    if due {
        *last = Some(Instant::now());
    }
    due
}

fn budget_frame() -> ServerFrame {
    ServerFrame::error(Problem::new(
        ErrorCode::LiveBudget,
        "Today's Live voice minutes are used up; classic mode still works.",
    ))
}

/// The browser went away: keep the handle so a reconnect resumes.
fn gone() -> Ending {
    Ending {
        close: None,
        keep_handle: true,
    }
}

async fn send(sink: &mut BrowserSink, frame: &ServerFrame) -> Result<(), axum::Error> {
    sink.send(Message::Text(frame.to_json().into())).await
}

async fn close_browser(sink: &mut BrowserSink, close: Option<(u16, String)>) {
    if let Some((code, reason)) = close {
        let frame = CloseFrame {
            code,
            reason: reason.into(),
        };
        let _ = sink.send(Message::Close(Some(frame))).await;
    }
    let _ = sink.close().await;
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::Store;

    fn future_size_2<A, B, F: Future>(_: impl FnOnce(A, B) -> F) -> usize {
        std::mem::size_of::<F>()
    }

    fn future_size_4<A, B, C, D, F: Future>(_: impl FnOnce(A, B, C, D) -> F) -> usize {
        std::mem::size_of::<F>()
    }

    fn future_size_5<A, B, C, D, E, F: Future>(_: impl FnOnce(A, B, C, D, E) -> F) -> usize {
        std::mem::size_of::<F>()
    }

    fn future_size_3<A, B, C, F: Future>(_: impl FnOnce(A, B, C) -> F) -> usize {
        std::mem::size_of::<F>()
    }

    /// The futures that live as long as a Live session, the socket's task (which holds the
    /// relay loop) and the handle saver, are what every open session costs before any buffer.
    /// Each must stay smaller than one write transaction it makes would be if it were not
    /// boxed: an unboxed one would make the whole session pay for it for its whole life.
    #[test]
    fn audio_messages_are_the_json_gemini_live_expects() {
        for audio in [&[][..], &[0u8][..], &[1, 2][..], &[255, 0, 7, 9, 200][..]] {
            let message: Value = serde_json::from_str(&audio_message(audio)).unwrap();
            assert_eq!(
                message,
                json!({"realtimeInput": {"audio": {
                    "mimeType": AUDIO_MIME,
                    "data": BASE64.encode(audio),
                }}})
            );
        }
        let chunk = vec![0x5a_u8; 1280];
        let message = audio_message(&chunk);
        assert_eq!(
            message.len(),
            message.capacity(),
            "one allocation, sized exactly"
        );
    }

    #[test]
    fn resident_futures_of_a_live_session_stay_small() {
        let socket_task = future_size_2(LiveSession::run);
        let saver = future_size_4(save_handles);
        let charging = future_size_3(Store::charge_live);
        let recording_usage = future_size_4(Store::record_live_tokens);
        let saving_a_handle = future_size_5(Store::save_live_handle);
        eprintln!(
            "LiveSession::run {socket_task} B, save_handles {saver} B; Store::charge_live \
             {charging} B, record_live_tokens {recording_usage} B, save_live_handle \
             {saving_a_handle} B"
        );
        let smallest_write = charging.min(recording_usage);
        assert!(
            socket_task < smallest_write,
            "the socket task ({socket_task} B) holds a write transaction ({smallest_write} B)"
        );
        assert!(
            saver < saving_a_handle,
            "the handle saver ({saver} B) holds the save itself ({saving_a_handle} B)"
        );
    }
}

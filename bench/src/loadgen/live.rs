//! Live voice sessions streaming stamped audio both ways, for the relay's delay, memory and
//! CPU figures.
//!
//! Every session sends a chunk of 16 kHz PCM16 at a steady pace (20 ms of audio every 20 ms,
//! as the page does) carrying a stamp in its first 8 bytes ([`write_stamp`]). The fake Live
//! server in probe mode (`probe_reply_samples`) records each chunk's delay on arrival and
//! answers it at once with a stamped chunk of 24 kHz audio, whose delay the session records on
//! arrival. Through the relay a session is `/ws/live/{client_id}` (binary audio frames); the
//! floor talks to the fake directly in Gemini Live's own JSON, as a browser holding the key
//! would.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use anyhow::{Context as _, bail};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use futures_util::stream::{SplitSink, SplitStream};
use futures_util::{SinkExt as _, StreamExt as _};
use serde::Serialize;
use serde_json::{Value, json};
use tokio::sync::{Semaphore, watch};
use tokio::task::JoinSet;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest as _;
use tokio_tungstenite::tungstenite::http::HeaderValue;

use super::conn::{Credentials, SessionFactory, Ws};
use super::stats::{Latencies, Percentiles};
use crate::fake_live::{stamp_age_micros, write_stamp};

/// 20 ms of 16 kHz mono PCM16: what the page's capture worklet sends per frame.
pub const CHUNK_BYTES: usize = 640;
pub const CHUNK_EVERY: Duration = Duration::from_millis(20);
const READY_WAIT: Duration = Duration::from_secs(20);

/// Where the sessions go.
#[derive(Debug, Clone)]
pub enum LiveTarget {
    /// Ballsy's relay at `ws://host:port`, every Live session presenting `credentials` (one
    /// user, so memory per session is the sessions', not the users'), or each its own
    /// (`POST /api/session`) when None.
    Relay {
        url_base: String,
        credentials: Option<Credentials>,
    },
    /// The Gemini Live endpoint itself (the floor).
    Direct { url: String },
}

#[derive(Debug, Clone)]
pub struct LiveLoad {
    pub target: LiveTarget,
    pub sessions: usize,
    /// Sessions being set up at once.
    pub parallel: usize,
}

/// What the sessions saw while measuring.
#[derive(Debug, Clone, Default, Serialize)]
pub struct LiveReport {
    pub sessions: usize,
    /// Sessions that were ready (`live_ready`, or `setupComplete` directly) when streaming began.
    pub ready: usize,
    pub setup_secs: f64,
    /// Sessions that ended before they were stopped, and the first few reasons.
    pub ended_early: usize,
    pub failures: Vec<String>,
    /// Chunks sent and received while measuring.
    pub chunks_sent: u64,
    pub chunks_received: u64,
    pub measured_secs: f64,
    /// The fake's stamp to this client's receipt, for chunks received while measuring.
    pub down_delay: Percentiles,
}

impl LiveReport {
    /// Seconds of microphone audio sent while measuring (each chunk is 20 ms).
    pub fn audio_secs_sent(&self) -> f64 {
        self.chunks_sent as f64 * CHUNK_EVERY.as_secs_f64()
    }
}

#[derive(Default)]
struct Counters {
    measuring: AtomicBool,
    sent: AtomicU64,
    received: AtomicU64,
}

/// The sessions, set up and streaming; [`LiveRun::measure`] times a window, dropping it
/// stops them.
pub struct LiveRun {
    report: LiveReport,
    counters: Arc<Counters>,
    stop: watch::Sender<bool>,
    tasks: JoinSet<Result<Latencies, String>>,
}

/// Sets every session up, then starts them streaming, spread evenly over one chunk period
/// (people do not speak in lockstep).
pub async fn start_live(load: LiveLoad) -> anyhow::Result<LiveRun> {
    let started = std::time::Instant::now();
    let permits = Arc::new(Semaphore::new(load.parallel.max(1)));
    let sessions = match &load.target {
        LiveTarget::Relay { url_base, .. } => Some(SessionFactory::new(url_base, load.parallel)),
        LiveTarget::Direct { .. } => None,
    };
    let mut setups = JoinSet::new();
    for i in 0..load.sessions {
        let target = load.target.clone();
        let permits = permits.clone();
        let sessions = sessions.clone();
        setups.spawn(async move {
            let _permit = permits.acquire_owned().await?;
            open(&target, sessions.as_ref(), i).await
        });
    }
    let mut sockets = Vec::with_capacity(load.sessions);
    let mut failures = Vec::new();
    while let Some(joined) = setups.join_next().await {
        match joined.context("a set-up task panicked")? {
            Ok(ws) => sockets.push(ws),
            Err(error) => failures.push(format!("{error:#}")),
        }
    }
    if sockets.is_empty() {
        bail!(
            "no Live session could be set up: {}",
            failures.first().map_or("", String::as_str)
        );
    }
    let report = LiveReport {
        sessions: load.sessions,
        ready: sockets.len(),
        setup_secs: started.elapsed().as_secs_f64(),
        failures,
        ..LiveReport::default()
    };
    let counters = Arc::new(Counters::default());
    let (stop, stopped) = watch::channel(false);
    let direct = matches!(load.target, LiveTarget::Direct { .. });
    let count = sockets.len();
    let mut tasks = JoinSet::new();
    for (i, ws) in sockets.into_iter().enumerate() {
        let offset = CHUNK_EVERY.mul_f64(i as f64 / count as f64);
        tasks.spawn(stream(
            ws,
            direct,
            offset,
            counters.clone(),
            stopped.clone(),
        ));
    }
    Ok(LiveRun {
        report,
        counters,
        stop,
        tasks,
    })
}

impl LiveRun {
    /// Counts and records delays over `window` (what came before is warm-up), then stops the
    /// sessions and reports.
    pub async fn measure(mut self, window: Duration) -> LiveReport {
        self.counters.measuring.store(true, Ordering::SeqCst);
        let started = std::time::Instant::now();
        tokio::time::sleep(window).await;
        self.counters.measuring.store(false, Ordering::SeqCst);
        let mut report = self.report;
        report.measured_secs = started.elapsed().as_secs_f64();
        report.chunks_sent = self.counters.sent.load(Ordering::SeqCst);
        report.chunks_received = self.counters.received.load(Ordering::SeqCst);
        let _ = self.stop.send(true);
        let mut down = Latencies::new();
        while let Some(joined) = self.tasks.join_next().await {
            match joined {
                Ok(Ok(latencies)) => down.merge(&latencies),
                Ok(Err(reason)) => {
                    report.ended_early += 1;
                    if report.failures.len() < 5 {
                        report.failures.push(reason);
                    }
                }
                Err(error) => report
                    .failures
                    .push(format!("a session task failed: {error}")),
            }
        }
        report.down_delay = down.summary();
        report
    }
}

async fn open(
    target: &LiveTarget,
    sessions: Option<&SessionFactory>,
    i: usize,
) -> anyhow::Result<Ws> {
    let (url, token) = match target {
        LiveTarget::Relay {
            url_base,
            credentials,
        } => {
            let credentials = match credentials {
                Some(shared) => shared.clone(),
                None => {
                    sessions
                        .context("relay sessions need a factory")?
                        .create()
                        .await?
                }
            };
            let url = format!("{}/ws/live/bench-{i}", url_base.trim_end_matches('/'));
            (url, Some(credentials.token))
        }
        LiveTarget::Direct { url } => (url.clone(), None),
    };
    let mut request = url
        .as_str()
        .into_client_request()
        .with_context(|| format!("bad WebSocket URL {url}"))?;
    if let Some(token) = token {
        request.headers_mut().insert(
            "authorization",
            HeaderValue::from_str(&format!("Bearer {token}"))?,
        );
    }
    let (mut ws, _) = tokio_tungstenite::connect_async_with_config(request, None, true)
        .await
        .with_context(|| format!("connecting {url}"))?;
    let ready = if matches!(target, LiveTarget::Direct { .. }) {
        let setup = json!({"setup": {"model": "models/gemini-3.8-live",
            "generationConfig": {"responseModalities": ["AUDIO"]}}});
        ws.send(Message::Text(setup.to_string().into())).await?;
        "setupComplete"
    } else {
        "live_ready"
    };
    tokio::time::timeout(READY_WAIT, async {
        while let Some(message) = ws.next().await {
            if let Message::Text(text) = message? {
                let value: Value = serde_json::from_str(text.as_str()).unwrap_or_default();
                if value.get(ready).is_some() || value["type"] == ready {
                    return Ok(());
                }
                if value["type"] == "error" {
                    bail!("the relay answered {value}");
                }
            }
        }
        bail!("the socket closed before {ready}")
    })
    .await
    .with_context(|| format!("no {ready} within {READY_WAIT:?}"))??;
    Ok(ws)
}

/// One session: a sender at the microphone's pace and a reader recording the reply chunks'
/// delays. Err: the session ended before it was stopped.
async fn stream(
    ws: Ws,
    direct: bool,
    offset: Duration,
    counters: Arc<Counters>,
    stopped: watch::Receiver<bool>,
) -> Result<Latencies, String> {
    let (sink, source) = ws.split();
    tokio::select! {
        delays = read(source, direct, counters.clone(), stopped) => delays,
        sent = send(sink, direct, offset, counters) => {
            Err(sent.err().unwrap_or_else(|| "the sender stopped".into()))
        }
    }
}

async fn send(
    mut sink: SplitSink<Ws, Message>,
    direct: bool,
    offset: Duration,
    counters: Arc<Counters>,
) -> Result<(), String> {
    tokio::time::sleep(offset).await;
    let mut tick = tokio::time::interval(CHUNK_EVERY);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut chunk = vec![0u8; CHUNK_BYTES];
    loop {
        tick.tick().await;
        write_stamp(&mut chunk);
        let message = if direct {
            let input = json!({"realtimeInput": {"audio": {
                "data": BASE64.encode(&chunk), "mimeType": "audio/pcm;rate=16000"}}});
            Message::Text(input.to_string().into())
        } else {
            Message::Binary(chunk.clone().into())
        };
        sink.send(message)
            .await
            .map_err(|e| format!("sending audio: {e}"))?;
        if counters.measuring.load(Ordering::Relaxed) {
            counters.sent.fetch_add(1, Ordering::Relaxed);
        }
    }
}

/// The 24 kHz audio in a message: a binary frame from the relay, `serverContent` inline data
/// from Gemini Live.
fn reply_audio(message: &Message, direct: bool) -> Option<Vec<u8>> {
    match message {
        Message::Binary(audio) if !direct => Some(audio.to_vec()),
        Message::Text(text) if direct => {
            let value: Value = serde_json::from_str(text.as_str()).ok()?;
            let data =
                value["serverContent"]["modelTurn"]["parts"][0]["inlineData"]["data"].as_str()?;
            BASE64.decode(data).ok()
        }
        _ => None,
    }
}

async fn read(
    mut source: SplitStream<Ws>,
    direct: bool,
    counters: Arc<Counters>,
    mut stopped: watch::Receiver<bool>,
) -> Result<Latencies, String> {
    let mut delays = Latencies::new();
    loop {
        let message = tokio::select! {
            _ = stopped.wait_for(|stop| *stop) => return Ok(delays),
            message = source.next() => message,
        };
        let message = match message {
            Some(Ok(Message::Close(frame))) => {
                return Err(format!("closed by the server: {frame:?}"));
            }
            Some(Ok(message)) => message,
            Some(Err(error)) => return Err(format!("reading: {error}")),
            None => return Err("the connection ended".into()),
        };
        let Some(audio) = reply_audio(&message, direct) else {
            continue;
        };
        if let Some(age) = stamp_age_micros(&audio)
            && counters.measuring.load(Ordering::Relaxed)
        {
            delays.record_micros(age);
            counters.received.fetch_add(1, Ordering::Relaxed);
        }
    }
}

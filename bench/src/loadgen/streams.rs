//! Streaming AI replies: many sessions ask questions whose answers come from the fake Gemini
//! with `stamp_chunks`, so every chunk carries the moment the fake sent it. The difference to
//! the moment the client receives the matching `response_delta` is the delay added on the way
//! (fake -> server -> client, all on this machine's clock).
//!
//! [`run_direct_streams`] measures the same thing with the server left out (the client reads
//! the fake's SSE itself): the floor of this machine and harness.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use futures_util::{SinkExt as _, StreamExt as _};
use serde::Serialize;
use serde_json::Value;
use tokio::sync::Barrier;
use tokio::time::{Instant, sleep, timeout, timeout_at};
use tokio_tungstenite::tungstenite::Message;

use super::commands::add_counts;
use super::conn::{self, Auth, SessionFactory};
use super::stats::{Latencies, Percentiles, expand, find_stamps, unix_micros_now};

const KEPT_FAILURES: usize = 20;

#[derive(Debug, Clone)]
pub struct StreamLoad {
    pub url_base: String,
    pub sessions: usize,
    /// Questions each session asks, one after the other.
    pub questions_per_session: usize,
    /// A template (`{k}` is replaced) that the server hands to the model, e.g. "tell me
    /// about {k}".
    pub question: String,
    pub auth: Auth,
    /// Once every session is connected, session `i` starts after `i / sessions` of this, so
    /// replies are spread out as independent users' would be; zero starts all at once.
    pub start_spread: Duration,
    /// How long one reply may take, deltas included, before it counts as lost.
    pub timeout: Duration,
    pub session_parallelism: usize,
}

impl StreamLoad {
    pub fn new(url_base: impl Into<String>) -> Self {
        Self {
            url_base: url_base.into(),
            sessions: 500,
            questions_per_session: 1,
            question: "tell me about topic {k}".to_owned(),
            auth: Auth::PerClientSession,
            start_spread: Duration::ZERO,
            timeout: Duration::from_secs(30),
            session_parallelism: 16,
        }
    }
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct StreamReport {
    pub sessions: usize,
    pub connect_failures: u64,
    pub questions: u64,
    /// A `command_response` whose text contains every delta received for it.
    pub completed: u64,
    /// A `command_response` that misses a streamed chunk, or came without any delta.
    pub incomplete: u64,
    /// No reply before the timeout or the socket's end.
    pub lost: u64,
    pub errors: BTreeMap<String, u64>,
    pub close_codes: BTreeMap<String, u64>,
    pub failures: Vec<String>,
    pub deltas: u64,
    /// Deltas without a `[t:…]` stamp (none are expected).
    pub unstamped_deltas: u64,
    pub min_deltas_per_reply: u64,
    pub max_deltas_per_reply: u64,
    /// Most replies streaming at the same moment.
    pub max_in_flight: usize,
    /// Receipt of a delta minus the fake's stamp on it.
    pub added_delay: Percentiles,
    /// Question sent to first delta (the fake's time to first token included).
    pub first_delta: Percentiles,
    /// Question sent to the final reply.
    pub turn: Percentiles,
    /// Last delta to the final reply (the server persists the turn in between).
    pub final_after_last_delta: Percentiles,
    pub elapsed_secs: f64,
}

impl StreamReport {
    /// True when every question got a complete reply.
    pub fn nothing_lost(&self) -> bool {
        self.connect_failures == 0
            && self.lost == 0
            && self.incomplete == 0
            && self.errors.is_empty()
            && self.completed == self.questions
            && self.questions > 0
    }
}

#[derive(Default)]
struct Tally {
    connect_failures: u64,
    questions: u64,
    completed: u64,
    incomplete: u64,
    lost: u64,
    errors: BTreeMap<String, u64>,
    close_codes: BTreeMap<String, u64>,
    failures: Vec<String>,
    deltas: u64,
    unstamped: u64,
    deltas_per_reply: Vec<u64>,
    added: Latencies,
    first: Latencies,
    turn: Latencies,
    tail: Latencies,
    started: Option<Instant>,
    finished: Option<Instant>,
}

impl Tally {
    fn fail(&mut self, message: String) {
        if self.failures.len() < KEPT_FAILURES {
            self.failures.push(message);
        }
    }

    fn record_reply(&mut self, deltas: u64) {
        self.deltas_per_reply.push(deltas);
    }
}

fn report(sessions: usize, tallies: Vec<Tally>, max_in_flight: usize) -> StreamReport {
    let mut r = StreamReport {
        sessions,
        max_in_flight,
        ..StreamReport::default()
    };
    let (mut added, mut first, mut turn, mut tail) = (
        Latencies::new(),
        Latencies::new(),
        Latencies::new(),
        Latencies::new(),
    );
    let start = tallies.iter().filter_map(|t| t.started).min();
    let end = tallies.iter().filter_map(|t| t.finished).max();
    let mut per_reply: Vec<u64> = Vec::new();
    for t in tallies {
        r.connect_failures += t.connect_failures;
        r.questions += t.questions;
        r.completed += t.completed;
        r.incomplete += t.incomplete;
        r.lost += t.lost;
        r.deltas += t.deltas;
        r.unstamped_deltas += t.unstamped;
        add_counts(&mut r.errors, t.errors);
        add_counts(&mut r.close_codes, t.close_codes);
        for f in t.failures {
            if r.failures.len() < KEPT_FAILURES {
                r.failures.push(f);
            }
        }
        per_reply.extend(t.deltas_per_reply);
        added.merge(&t.added);
        first.merge(&t.first);
        turn.merge(&t.turn);
        tail.merge(&t.tail);
    }
    r.min_deltas_per_reply = per_reply.iter().copied().min().unwrap_or(0);
    r.max_deltas_per_reply = per_reply.iter().copied().max().unwrap_or(0);
    r.added_delay = added.summary();
    r.first_delta = first.summary();
    r.turn = turn.summary();
    r.final_after_last_delta = tail.summary();
    if let (Some(s), Some(e)) = (start, end) {
        r.elapsed_secs = e.duration_since(s).as_secs_f64();
    }
    r
}

/// Counts replies in flight and remembers the most at once.
#[derive(Default)]
struct InFlight {
    now: AtomicUsize,
    max: AtomicUsize,
}

impl InFlight {
    fn begin(&self) {
        let now = self.now.fetch_add(1, Ordering::SeqCst) + 1;
        self.max.fetch_max(now, Ordering::SeqCst);
    }

    fn end(&self) {
        self.now.fetch_sub(1, Ordering::SeqCst);
    }
}

/// Runs the streaming load through the server.
pub async fn run_streams(opts: StreamLoad) -> StreamReport {
    let opts = Arc::new(opts);
    let sessions = SessionFactory::new(&opts.url_base, opts.session_parallelism);
    let barrier = Arc::new(Barrier::new(opts.sessions));
    let in_flight = Arc::new(InFlight::default());
    let mut tasks = Vec::with_capacity(opts.sessions);
    for index in 0..opts.sessions {
        tasks.push(tokio::spawn(run_session(
            index,
            opts.clone(),
            sessions.clone(),
            barrier.clone(),
            in_flight.clone(),
        )));
    }
    let mut tallies = Vec::with_capacity(tasks.len());
    for task in tasks {
        match task.await {
            Ok(tally) => tallies.push(tally),
            Err(error) => {
                let mut tally = Tally::default();
                tally.fail(format!("session task failed: {error}"));
                tallies.push(tally);
            }
        }
    }
    report(opts.sessions, tallies, in_flight.max.load(Ordering::SeqCst))
}

fn stagger(index: usize, count: usize, spread: Duration) -> Duration {
    if count == 0 {
        return Duration::ZERO;
    }
    spread.mul_f64(index as f64 / count as f64)
}

async fn run_session(
    index: usize,
    opts: Arc<StreamLoad>,
    sessions: SessionFactory,
    barrier: Arc<Barrier>,
    in_flight: Arc<InFlight>,
) -> Tally {
    let mut tally = Tally::default();
    let connected = async {
        let credentials = conn::credentials_for(&opts.auth, &sessions).await?;
        conn::connect(
            &opts.url_base,
            &format!("stream-{index}"),
            credentials.as_ref(),
        )
        .await
    }
    .await;
    barrier.wait().await;
    let mut ws = match connected {
        Ok(ws) => ws,
        Err(error) => {
            tally.connect_failures += 1;
            tally.fail(format!("session {index}: {error:#}"));
            return tally;
        }
    };
    sleep(stagger(index, opts.sessions, opts.start_spread)).await;
    tally.started = Some(Instant::now());
    'questions: for q in 0..opts.questions_per_session {
        let id = q.to_string();
        let question = expand(
            &opts.question,
            (index * opts.questions_per_session + q) as u64,
        );
        let text = serde_json::json!({"command": question, "id": id}).to_string();
        let sent_at = Instant::now();
        tally.questions += 1;
        in_flight.begin();
        if let Err(error) = ws.send(Message::text(text)).await {
            in_flight.end();
            tally.lost += 1;
            tally.fail(format!("session {index}: send failed: {error}"));
            break;
        }
        let deadline = sent_at + opts.timeout;
        let mut deltas: Vec<String> = Vec::new();
        let mut last_delta: Option<Instant> = None;
        loop {
            let next = timeout_at(deadline, ws.next()).await;
            // Taken before any parsing, so the parse is not counted as server delay.
            let received_unix = unix_micros_now();
            let received = Instant::now();
            let message = match next {
                Err(_) => {
                    in_flight.end();
                    tally.lost += 1;
                    tally.fail(format!("session {index}: question {q} timed out"));
                    continue 'questions;
                }
                Ok(None) | Ok(Some(Err(_))) => {
                    in_flight.end();
                    tally.lost += 1;
                    *tally.close_codes.entry("abnormal".into()).or_default() += 1;
                    break 'questions;
                }
                Ok(Some(Ok(message))) => message,
            };
            let reply = match message {
                Message::Text(reply) => reply,
                Message::Close(frame) => {
                    in_flight.end();
                    tally.lost += 1;
                    let code = frame.map_or("abnormal".into(), |f| u16::from(f.code).to_string());
                    *tally.close_codes.entry(code).or_default() += 1;
                    break 'questions;
                }
                _ => continue,
            };
            let Ok(frame) = serde_json::from_str::<Value>(reply.as_str()) else {
                continue;
            };
            let about_us = frame.get("id").and_then(Value::as_str) == Some(id.as_str());
            match frame.get("type").and_then(Value::as_str) {
                Some("response_delta") if about_us => {
                    let delta = frame
                        .get("delta")
                        .and_then(Value::as_str)
                        .unwrap_or_default();
                    let stamps = find_stamps(delta);
                    if stamps.is_empty() {
                        tally.unstamped += 1;
                    }
                    for stamp in stamps {
                        tally.added.record_micros(received_unix - stamp);
                    }
                    if deltas.is_empty() {
                        tally.first.record(received - sent_at);
                    }
                    tally.deltas += 1;
                    last_delta = Some(received);
                    deltas.push(delta.to_owned());
                }
                Some("command_response") if about_us => {
                    in_flight.end();
                    tally.turn.record(received - sent_at);
                    if let Some(last) = last_delta {
                        tally.tail.record(received - last);
                    }
                    let response = frame
                        .pointer("/data/response")
                        .and_then(Value::as_str)
                        .unwrap_or_default();
                    let whole =
                        !deltas.is_empty() && deltas.iter().all(|d| response.contains(d.trim()));
                    if whole {
                        tally.completed += 1;
                    } else {
                        tally.incomplete += 1;
                        tally.fail(format!(
                            "session {index}: reply {q} misses chunks ({} deltas): {response:?}",
                            deltas.len()
                        ));
                    }
                    tally.record_reply(deltas.len() as u64);
                    break;
                }
                Some("error") | Some("cancelled") if about_us || frame.get("id").is_none() => {
                    in_flight.end();
                    let code = frame
                        .get("code")
                        .and_then(Value::as_str)
                        .unwrap_or("cancelled");
                    *tally.errors.entry(code.to_owned()).or_default() += 1;
                    break;
                }
                _ => {}
            }
        }
    }
    tally.finished = Some(Instant::now());
    let _ = timeout(Duration::from_secs(1), ws.close(None)).await;
    tally
}

/// The streaming floor: the client reads the fake Gemini's SSE directly, with the same
/// number of concurrent streams and the same stagger.
#[derive(Debug, Clone)]
pub struct DirectStreamLoad {
    /// The fake's `http://127.0.0.1:PORT`.
    pub base_url: String,
    pub model: String,
    pub streams: usize,
    pub requests_per_stream: usize,
    pub question: String,
    pub start_spread: Duration,
    pub timeout: Duration,
}

pub async fn run_direct_streams(opts: DirectStreamLoad) -> StreamReport {
    let opts = Arc::new(opts);
    let client = reqwest::Client::builder()
        .tcp_nodelay(true)
        .build()
        .unwrap_or_default();
    let in_flight = Arc::new(InFlight::default());
    let begin = Instant::now();
    let mut tasks = Vec::with_capacity(opts.streams);
    for index in 0..opts.streams {
        let opts = opts.clone();
        let client = client.clone();
        let in_flight = in_flight.clone();
        tasks.push(tokio::spawn(async move {
            tokio::time::sleep_until(begin + stagger(index, opts.streams, opts.start_spread)).await;
            direct_stream(index, &opts, &client, &in_flight).await
        }));
    }
    let mut tallies = Vec::new();
    for task in tasks {
        if let Ok(tally) = task.await {
            tallies.push(tally);
        }
    }
    report(opts.streams, tallies, in_flight.max.load(Ordering::SeqCst))
}

async fn direct_stream(
    index: usize,
    opts: &DirectStreamLoad,
    client: &reqwest::Client,
    in_flight: &InFlight,
) -> Tally {
    let mut tally = Tally {
        started: Some(Instant::now()),
        ..Tally::default()
    };
    let url = format!(
        "{}/v1beta/models/{}:streamGenerateContent?alt=sse",
        opts.base_url.trim_end_matches('/'),
        opts.model
    );
    for q in 0..opts.requests_per_stream {
        let question = expand(
            &opts.question,
            (index * opts.requests_per_stream + q) as u64,
        );
        let body =
            serde_json::json!({"contents": [{"role": "user", "parts": [{"text": question}]}]});
        tally.questions += 1;
        in_flight.begin();
        let sent_at = Instant::now();
        let outcome = timeout(
            opts.timeout,
            read_sse(client, &url, &body, sent_at, &mut tally),
        )
        .await;
        in_flight.end();
        match outcome {
            Ok(Ok(deltas)) if deltas > 0 => {
                tally.completed += 1;
                tally.turn.record(sent_at.elapsed());
                tally.record_reply(deltas);
            }
            Ok(Ok(_)) => tally.incomplete += 1,
            Ok(Err(error)) => {
                tally.lost += 1;
                tally.fail(format!("stream {index}: {error:#}"));
            }
            Err(_) => {
                tally.lost += 1;
                tally.fail(format!("stream {index}: timed out"));
            }
        }
    }
    tally.finished = Some(Instant::now());
    tally
}

/// Reads one SSE response; returns the number of events that carried text.
async fn read_sse(
    client: &reqwest::Client,
    url: &str,
    body: &Value,
    sent_at: Instant,
    tally: &mut Tally,
) -> anyhow::Result<u64> {
    let response = client
        .post(url)
        .header("x-goog-api-key", "bench")
        .json(body)
        .send()
        .await?;
    anyhow::ensure!(
        response.status().is_success(),
        "status {}",
        response.status()
    );
    let mut stream = response.bytes_stream();
    let mut buffer = String::new();
    let mut deltas = 0u64;
    while let Some(chunk) = stream.next().await {
        let chunk = chunk?;
        let received_unix = unix_micros_now();
        let received = Instant::now();
        buffer.push_str(&String::from_utf8_lossy(&chunk));
        while let Some(end) = buffer.find("\r\n\r\n") {
            let event: String = buffer.drain(..end + 4).collect();
            let stamps = find_stamps(&event);
            if stamps.is_empty() {
                continue;
            }
            if deltas == 0 {
                tally.first.record(received - sent_at);
            }
            deltas += 1;
            tally.deltas += 1;
            for stamp in stamps {
                tally.added.record_micros(received_unix - stamp);
            }
        }
    }
    Ok(deltas)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stagger_spreads_starts_evenly() {
        let spread = Duration::from_millis(400);
        assert_eq!(stagger(0, 4, spread), Duration::ZERO);
        assert_eq!(stagger(2, 4, spread), Duration::from_millis(200));
        assert_eq!(stagger(3, 4, spread), Duration::from_millis(300));
        assert_eq!(stagger(0, 0, spread), Duration::ZERO);
    }

    #[test]
    fn nothing_lost_needs_every_reply_complete() {
        let mut r = StreamReport {
            questions: 2,
            completed: 2,
            ..StreamReport::default()
        };
        assert!(r.nothing_lost());
        r.completed = 1;
        r.incomplete = 1;
        assert!(!r.nothing_lost());
        assert!(!StreamReport::default().nothing_lost());
    }
}

//! Closed-loop command load: N clients, one command in flight each, as fast as replies come
//! (or paced), every exchange timed.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use futures_util::{SinkExt as _, StreamExt as _};
use serde::Serialize;
use serde_json::Value;
use tokio::sync::Barrier;
use tokio::time::{Instant, sleep_until, timeout, timeout_at};
use tokio_tungstenite::tungstenite::Message;

use super::conn::{self, Auth, Credentials, SessionFactory, Ws};
use super::stats::{Latencies, Percentiles, expand};

/// How many failure messages a report keeps (the counts are always complete).
const KEPT_FAILURES: usize = 20;

/// A command load. `CommandLoad::new(url)` gives 50 clients sending the default rule-based
/// commands; adjust the fields from there.
#[derive(Debug, Clone)]
pub struct CommandLoad {
    /// `ws://127.0.0.1:PORT`; clients open `<url_base>/ws/voice/loadgen-<i>`.
    pub url_base: String,
    pub clients: usize,
    /// Commands each client sends in the measured phase; with `duration` an upper bound.
    pub commands_per_client: usize,
    /// Ends the measured phase after this long even if commands remain.
    pub duration: Option<Duration>,
    /// Commands each client sends before the measured phase (connections, caches and the
    /// database warm up); they are not timed but are in [`ClientOutcome::acknowledged`].
    pub warmup_per_client: usize,
    /// Templates used in turn; `{k}` becomes a number unique to the command within the run.
    pub commands: Vec<String>,
    pub auth: Auth,
    /// Against the echo floor: the reply must be the exact text sent.
    pub echo_mode: bool,
    /// How long one command may wait for its reply before it counts as lost.
    pub timeout: Duration,
    /// Sockets per client, used in turn. A client still has one command in flight, so this
    /// divides the frame rate each socket sees (Ballsy limits frames per socket) without
    /// changing the concurrency.
    pub connections_per_client: usize,
    /// Least time between two commands on one socket; `None` sends as soon as the reply came.
    pub min_interval: Option<Duration>,
    /// Concurrent `POST /api/session` calls while clients start.
    pub session_parallelism: usize,
}

/// The commands of the benchmark: a greeting, arithmetic and a site rule, all answered by
/// rules (no model) and each persisted.
pub const DEFAULT_COMMANDS: [&str; 3] = ["hello", "5 + {k}", "play {k} on youtube"];

impl CommandLoad {
    pub fn new(url_base: impl Into<String>) -> Self {
        Self {
            url_base: url_base.into(),
            clients: 50,
            commands_per_client: 100,
            duration: None,
            warmup_per_client: 0,
            commands: DEFAULT_COMMANDS.iter().map(|c| (*c).to_owned()).collect(),
            auth: Auth::PerClientSession,
            echo_mode: false,
            timeout: Duration::from_secs(10),
            connections_per_client: 1,
            min_interval: None,
            session_parallelism: 16,
        }
    }
}

/// What a command load observed. Counts cover the measured phase; `per_client` lists every
/// command (warm-up included) for database checks.
#[derive(Debug, Clone, Serialize)]
pub struct CommandReport {
    pub clients: usize,
    pub connections: usize,
    pub sent: u64,
    /// `command_response` frames received for the command (or, in echo mode, the echo).
    pub acknowledged: u64,
    /// Error frames about a command, by code. An id-less `too_many_frames` counts here for
    /// the command in flight: the server dropped it.
    pub errors: BTreeMap<String, u64>,
    /// No reply before the timeout or before the socket closed.
    pub lost: u64,
    pub connect_failures: u64,
    /// Close codes the server sent (`abnormal` = the connection ended without a close frame).
    pub close_codes: BTreeMap<String, u64>,
    /// First failure messages (connects, sessions, closes).
    pub failures: Vec<String>,
    pub elapsed_secs: f64,
    /// Acknowledged commands per second of the measured phase.
    pub throughput_per_sec: f64,
    /// Send to acknowledgement, acknowledged commands only.
    pub latency: Percentiles,
    #[serde(skip)]
    pub per_client: Vec<ClientOutcome>,
}

impl CommandReport {
    /// True when every command sent was acknowledged and nothing failed.
    pub fn is_clean(&self) -> bool {
        self.errors.is_empty()
            && self.lost == 0
            && self.connect_failures == 0
            && self.acknowledged == self.sent
    }
}

/// One client's commands, in the order sent.
#[derive(Debug, Clone, Default)]
pub struct ClientOutcome {
    pub index: usize,
    pub credentials: Option<Credentials>,
    /// Acknowledged commands: the server promised they are stored.
    pub acknowledged: Vec<String>,
    /// Lost commands: sent, no reply; the server may or may not have stored them.
    pub unresolved: Vec<String>,
    /// Commands answered with an error frame: not stored.
    pub refused: Vec<String>,
}

enum Outcome {
    Ack,
    Error(String),
    Lost,
    /// The socket ended; the command in flight is lost.
    Closed(String),
}

#[derive(Default)]
struct ClientResult {
    outcome: ClientOutcome,
    sent: u64,
    acknowledged: u64,
    lost: u64,
    errors: BTreeMap<String, u64>,
    close_codes: BTreeMap<String, u64>,
    failures: Vec<String>,
    connect_failures: u64,
    connections: usize,
    latency: Latencies,
    started: Option<Instant>,
    finished: Option<Instant>,
}

/// Runs the load and reports it. Never panics on server misbehaviour: everything that goes
/// wrong is counted.
pub async fn run_commands(opts: CommandLoad) -> CommandReport {
    let opts = Arc::new(opts);
    let sessions = SessionFactory::new(&opts.url_base, opts.session_parallelism);
    // Everyone connects and warms up first; the measured phase starts together.
    let barrier = Arc::new(Barrier::new(opts.clients));
    let mut tasks = Vec::with_capacity(opts.clients);
    for index in 0..opts.clients {
        let opts = opts.clone();
        let sessions = sessions.clone();
        let barrier = barrier.clone();
        tasks.push(tokio::spawn(run_client(index, opts, sessions, barrier)));
    }
    let mut results = Vec::with_capacity(tasks.len());
    for task in tasks {
        match task.await {
            Ok(result) => results.push(result),
            Err(error) => results.push(ClientResult {
                failures: vec![format!("client task failed: {error}")],
                ..ClientResult::default()
            }),
        }
    }
    summarise(&opts, results)
}

fn summarise(opts: &CommandLoad, results: Vec<ClientResult>) -> CommandReport {
    let mut report = CommandReport {
        clients: opts.clients,
        connections: 0,
        sent: 0,
        acknowledged: 0,
        errors: BTreeMap::new(),
        lost: 0,
        connect_failures: 0,
        close_codes: BTreeMap::new(),
        failures: Vec::new(),
        elapsed_secs: 0.0,
        throughput_per_sec: 0.0,
        latency: Percentiles::default(),
        per_client: Vec::with_capacity(results.len()),
    };
    let mut latency = Latencies::new();
    let start = results.iter().filter_map(|r| r.started).min();
    let end = results.iter().filter_map(|r| r.finished).max();
    for result in results {
        report.connections += result.connections;
        report.sent += result.sent;
        report.acknowledged += result.acknowledged;
        report.lost += result.lost;
        report.connect_failures += result.connect_failures;
        add_counts(&mut report.errors, result.errors);
        add_counts(&mut report.close_codes, result.close_codes);
        for failure in result.failures {
            if report.failures.len() < KEPT_FAILURES {
                report.failures.push(failure);
            }
        }
        latency.merge(&result.latency);
        report.per_client.push(result.outcome);
    }
    if let (Some(start), Some(end)) = (start, end) {
        report.elapsed_secs = end.duration_since(start).as_secs_f64();
    }
    if report.elapsed_secs > 0.0 {
        report.throughput_per_sec = report.acknowledged as f64 / report.elapsed_secs;
    }
    report.latency = latency.summary();
    report
}

pub(super) fn add_counts(into: &mut BTreeMap<String, u64>, from: BTreeMap<String, u64>) {
    for (key, count) in from {
        *into.entry(key).or_default() += count;
    }
}

async fn run_client(
    index: usize,
    opts: Arc<CommandLoad>,
    sessions: SessionFactory,
    barrier: Arc<Barrier>,
) -> ClientResult {
    let mut result = ClientResult {
        outcome: ClientOutcome {
            index,
            ..ClientOutcome::default()
        },
        ..ClientResult::default()
    };
    let sockets = open_sockets(index, &opts, &sessions, &mut result).await;
    let Some(mut sockets) = sockets else {
        // Still take part in the barrier, or every other client would wait forever.
        barrier.wait().await;
        return result;
    };
    result.connections = sockets.len();
    let mut last_send: Vec<Option<Instant>> = vec![None; sockets.len()];
    let mut n: u64 = 0;
    let mut alive = true;
    for _ in 0..opts.warmup_per_client {
        if !exchange_next(
            &opts,
            index,
            &mut n,
            &mut sockets,
            &mut last_send,
            &mut result,
            false,
        )
        .await
        {
            alive = false;
            break;
        }
    }
    barrier.wait().await;
    let started = Instant::now();
    result.started = Some(started);
    let deadline = opts.duration.map(|d| started + d);
    if alive {
        for _ in 0..opts.commands_per_client {
            if deadline.is_some_and(|d| Instant::now() >= d) {
                break;
            }
            if !exchange_next(
                &opts,
                index,
                &mut n,
                &mut sockets,
                &mut last_send,
                &mut result,
                true,
            )
            .await
            {
                break;
            }
        }
    }
    result.finished = Some(Instant::now());
    for mut ws in sockets {
        let _ = timeout(Duration::from_secs(1), ws.close(None)).await;
    }
    result
}

async fn open_sockets(
    index: usize,
    opts: &CommandLoad,
    sessions: &SessionFactory,
    result: &mut ClientResult,
) -> Option<Vec<Ws>> {
    let credentials = match conn::credentials_for(&opts.auth, sessions).await {
        Ok(credentials) => credentials,
        Err(error) => {
            result.connect_failures += 1;
            result
                .failures
                .push(format!("client {index}: session: {error:#}"));
            return None;
        }
    };
    result.outcome.credentials = credentials.clone();
    let per_client = opts.connections_per_client.max(1);
    let mut sockets = Vec::with_capacity(per_client);
    for c in 0..per_client {
        let client_id = if per_client == 1 {
            format!("loadgen-{index}")
        } else {
            format!("loadgen-{index}-{c}")
        };
        match conn::connect(&opts.url_base, &client_id, credentials.as_ref()).await {
            Ok(ws) => sockets.push(ws),
            Err(error) => {
                result.connect_failures += 1;
                result
                    .failures
                    .push(format!("client {index}: connect: {error:#}"));
                return None;
            }
        }
    }
    Some(sockets)
}

/// Sends the client's next command on its next socket and waits for the outcome. Returns
/// false when the client cannot go on (a socket closed).
async fn exchange_next(
    opts: &CommandLoad,
    index: usize,
    n: &mut u64,
    sockets: &mut [Ws],
    last_send: &mut [Option<Instant>],
    result: &mut ClientResult,
    measured: bool,
) -> bool {
    let slot = (*n as usize) % sockets.len();
    let template = &opts.commands[(*n as usize) % opts.commands.len().max(1)];
    // Unique per command in the run: client-major numbering.
    let k = index as u64 * 1_000_000 + *n;
    let command = expand(template, k);
    let id = n.to_string();
    *n += 1;
    if let (Some(interval), Some(last)) = (opts.min_interval, last_send[slot]) {
        sleep_until(last + interval).await;
    }
    let text = serde_json::json!({"command": command, "id": id}).to_string();
    let sent_at = Instant::now();
    last_send[slot] = Some(sent_at);
    let outcome = exchange(
        &mut sockets[slot],
        text,
        &id,
        opts.echo_mode,
        sent_at + opts.timeout,
    )
    .await;
    let elapsed = sent_at.elapsed();
    if measured {
        result.sent += 1;
    }
    match outcome {
        Outcome::Ack => {
            if measured {
                result.acknowledged += 1;
                result.latency.record(elapsed);
            }
            result.outcome.acknowledged.push(command);
            true
        }
        Outcome::Error(code) => {
            if measured {
                *result.errors.entry(code).or_default() += 1;
            }
            result.outcome.refused.push(command);
            true
        }
        Outcome::Lost => {
            if measured {
                result.lost += 1;
            }
            result.outcome.unresolved.push(command);
            true
        }
        Outcome::Closed(code) => {
            if measured {
                result.lost += 1;
            }
            result.outcome.unresolved.push(command);
            if result.failures.len() < KEPT_FAILURES {
                result
                    .failures
                    .push(format!("client {index}: socket closed ({code})"));
            }
            *result.close_codes.entry(code).or_default() += 1;
            false
        }
    }
}

async fn exchange(ws: &mut Ws, text: String, id: &str, echo: bool, deadline: Instant) -> Outcome {
    let expected_echo = echo.then(|| text.clone());
    if let Err(error) = ws.send(Message::text(text)).await {
        return Outcome::Closed(format!("send failed: {error}"));
    }
    loop {
        let message = match timeout_at(deadline, ws.next()).await {
            Err(_) => return Outcome::Lost,
            Ok(None) => return Outcome::Closed("abnormal".to_owned()),
            Ok(Some(Err(_))) => return Outcome::Closed("abnormal".to_owned()),
            Ok(Some(Ok(message))) => message,
        };
        match message {
            Message::Text(reply) => {
                if let Some(expected) = &expected_echo {
                    return if reply.as_str() == expected {
                        Outcome::Ack
                    } else {
                        Outcome::Error("echo_mismatch".to_owned())
                    };
                }
                if let Some(outcome) = classify(reply.as_str(), id) {
                    return outcome;
                }
            }
            Message::Close(frame) => {
                let code =
                    frame.map_or_else(|| "abnormal".to_owned(), |f| u16::from(f.code).to_string());
                return Outcome::Closed(code);
            }
            // Pings are answered by tungstenite itself.
            Message::Binary(_) | Message::Ping(_) | Message::Pong(_) | Message::Frame(_) => {}
        }
    }
}

/// What a server frame means for the command `id` in flight; `None` for frames about
/// something else (deltas, status updates, late replies to earlier commands).
fn classify(text: &str, id: &str) -> Option<Outcome> {
    let frame: Value = serde_json::from_str(text).ok()?;
    let kind = frame.get("type").and_then(Value::as_str)?;
    let frame_id = frame.get("id");
    let about_us = frame_id.and_then(Value::as_str) == Some(id);
    match kind {
        "command_response" if about_us => Some(Outcome::Ack),
        "cancelled" if about_us => Some(Outcome::Error("cancelled".to_owned())),
        "error" if about_us || frame_id.is_none() => {
            // An id-less error is about a frame the server could not attribute; with one
            // command in flight per socket that is ours (e.g. `too_many_frames`: dropped).
            let code = frame
                .get("code")
                .and_then(Value::as_str)
                .unwrap_or("unknown");
            Some(Outcome::Error(code.to_owned()))
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn code(outcome: Option<Outcome>) -> String {
        match outcome {
            None => "none".into(),
            Some(Outcome::Ack) => "ack".into(),
            Some(Outcome::Error(code)) => code,
            Some(Outcome::Lost) => "lost".into(),
            Some(Outcome::Closed(code)) => format!("closed {code}"),
        }
    }

    #[test]
    fn frames_are_matched_to_the_command_in_flight() {
        let reply = r#"{"type":"command_response","id":"7","data":{"response":"Hi"}}"#;
        assert_eq!(code(classify(reply, "7")), "ack");
        assert_eq!(code(classify(reply, "8")), "none", "a late reply");
        let delta = r#"{"type":"response_delta","id":"7","delta":"Hi"}"#;
        assert_eq!(code(classify(delta, "7")), "none");
        let busy = r#"{"type":"error","code":"busy","message":"…","id":"7"}"#;
        assert_eq!(code(classify(busy, "7")), "busy");
        assert_eq!(code(classify(busy, "6")), "none");
        let flood = r#"{"type":"error","code":"too_many_frames","message":"…"}"#;
        assert_eq!(code(classify(flood, "9")), "too_many_frames");
        let cancelled = r#"{"type":"cancelled","id":"3"}"#;
        assert_eq!(code(classify(cancelled, "3")), "cancelled");
        assert_eq!(
            code(classify(
                r#"{"type":"status_update","status":"ready"}"#,
                "1"
            )),
            "none"
        );
        assert_eq!(code(classify("not json", "1")), "none");
    }

    #[test]
    fn a_clean_report_acknowledged_everything() {
        let mut report = summarise(&CommandLoad::new("ws://x"), Vec::new());
        assert!(report.is_clean());
        report.sent = 2;
        report.acknowledged = 1;
        report.lost = 1;
        assert!(!report.is_clean());
    }
}

//! One WebSocket connection.
//!
//! A single task owns the socket and `select!`s over: frames from the client, frames from the
//! running turn (streamed deltas, then the final reply), the ping timer, the idle timer and the
//! shutdown signal. Turns run in their own task so the loop keeps reading — a `cancel` must be
//! seen while a reply streams. Commands that arrive during a turn wait in a short queue; each
//! tab has its own socket and therefore its own replies.

use std::collections::VecDeque;
use std::net::IpAddr;
use std::num::NonZeroU32;
use std::panic::AssertUnwindSafe;
use std::time::Duration;

use axum::extract::ws::{CloseFrame, Message, WebSocket, close_code};
use futures_util::stream::SplitSink;
use futures_util::{FutureExt, SinkExt, StreamExt};
use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};
use serde_json::Value;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio::time::{Instant, sleep_until};
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

use super::protocol::{ClientFrame, MessageId, ServerFrame, parse_client_frame};
use crate::app::AppState;
use crate::store::UserId;
use crate::turn::{self, TurnError, TurnInput, validate_command};

/// Commands accepted while a reply is still running; more are answered with `busy`.
const MAX_QUEUED: usize = 4;
/// Frames per second one connection may send (any kind) before they are dropped. Generous for a
/// person, and it keeps a flooding client from costing other clients anything.
const FRAMES_PER_SECOND: u32 = 20;
const FRAME_BURST: u32 = 60;
/// A peer that has sent nothing, not even a pong, for this many ping intervals is gone.
const MISSED_PINGS: u32 = 3;
/// After a shutdown cancels a reply, how long the turn gets to store it before the socket closes.
const CANCEL_GRACE: Duration = Duration::from_millis(1000);

enum Outbound {
    /// Boxed: tokio's channel allocates its slots up front, and a small message keeps an idle
    /// socket's channel small (measured: about 4.5 KiB less per connection).
    Frame(Box<ServerFrame>),
    /// The running turn has sent its last frame.
    TurnDone,
}

struct Pending {
    id: MessageId,
    command: String,
    timezone: Option<String>,
}

struct Running {
    cancel: CancellationToken,
    handle: JoinHandle<()>,
}

pub struct Session {
    state: AppState,
    user: UserId,
    ip: IpAddr,
    outbound: mpsc::UnboundedSender<Outbound>,
    inbox: mpsc::UnboundedReceiver<Outbound>,
    running: Option<Running>,
    queue: VecDeque<Pending>,
    next_id: u64,
    draining: bool,
}

type Sink = SplitSink<WebSocket, Message>;

impl Session {
    pub fn new(state: AppState, user: UserId, ip: IpAddr) -> Self {
        let (outbound, inbox) = mpsc::unbounded_channel();
        Self {
            state,
            user,
            ip,
            outbound,
            inbox,
            running: None,
            queue: VecDeque::new(),
            next_id: 1,
            draining: false,
        }
    }

    pub async fn run(mut self, socket: WebSocket) {
        tracing::info!(user_id = %self.user, "voice socket opened");
        let (mut sink, mut stream) = socket.split();
        let config = self.state.config();
        let ping_every = config.ws_ping_interval;
        let idle_timeout = config.ws_idle_timeout;
        let max_message = config.max_ws_message_bytes;
        let mut ping = tokio::time::interval_at(Instant::now() + ping_every, ping_every);
        let mut last_heard = Instant::now();
        let mut idle_deadline = Instant::now() + idle_timeout;
        let flood_guard: DefaultDirectRateLimiter = RateLimiter::direct(
            Quota::per_second(NonZeroU32::new(FRAMES_PER_SECOND).unwrap_or(NonZeroU32::MIN))
                .allow_burst(NonZeroU32::new(FRAME_BURST).unwrap_or(NonZeroU32::MIN)),
        );
        let mut last_flood_warning: Option<Instant> = None;
        // The flood guard is a rate limit too: RATE_LIMIT_ENABLED=false (benchmarks, trusted
        // deployments) turns it off with the others.
        let guard_frames = self.state.limits().enabled();
        let shutdown = self.state.shutdown_token().clone();
        let mut cancel_deadline: Option<Instant> = None;
        let far_future = Instant::now() + Duration::from_secs(86_400 * 365);

        let close: Option<(u16, String)> = loop {
            let drain_deadline = self.state.shutdown_deadline().unwrap_or(far_future);
            tokio::select! {
                biased;
                Some(out) = self.inbox.recv() => match out {
                    Outbound::Frame(frame) => {
                        if send(&mut sink, &frame).await.is_err() {
                            break None;
                        }
                    }
                    Outbound::TurnDone => {
                        self.running = None;
                        idle_deadline = Instant::now() + idle_timeout;
                        if self.draining {
                            break Some((close_code::AWAY, "server restarting".into()));
                        }
                        if let Some(next) = self.queue.pop_front() {
                            self.start_turn(next);
                        }
                    }
                },
                _ = shutdown.cancelled(), if !self.draining => {
                    self.draining = true;
                    for pending in std::mem::take(&mut self.queue) {
                        let frame = ServerFrame::error("shutting_down", "The server is restarting; please send this again.", Some(pending.id));
                        if send(&mut sink, &frame).await.is_err() {
                            break;
                        }
                    }
                    if self.running.is_none() {
                        break Some((close_code::AWAY, "server restarting".into()));
                    }
                    // Otherwise the reply in flight may finish until the drain deadline.
                }
                _ = sleep_until(drain_deadline), if self.draining && self.running.is_some() && cancel_deadline.is_none() => {
                    if let Some(running) = &self.running {
                        running.cancel.cancel();
                    }
                    cancel_deadline = Some(Instant::now() + CANCEL_GRACE);
                }
                _ = sleep_until(cancel_deadline.unwrap_or(far_future)), if cancel_deadline.is_some() => {
                    break Some((close_code::AWAY, "server restarting".into()));
                }
                message = stream.next() => {
                    let Some(message) = message else { break None };
                    let message = match message {
                        Ok(message) => message,
                        Err(error) => {
                            if is_too_large(&error) {
                                tracing::info!(limit = max_message, "closing a socket that sent an oversized message");
                                break Some((close_code::SIZE, format!("message larger than {max_message} bytes")));
                            }
                            tracing::debug!(%error, "socket error");
                            break None;
                        }
                    };
                    last_heard = Instant::now();
                    let is_data = matches!(message, Message::Text(_) | Message::Binary(_));
                    if is_data {
                        idle_deadline = Instant::now() + idle_timeout;
                        if guard_frames && flood_guard.check().is_err() {
                            // A dropped command is answered by its id, so the client knows it
                            // was not stored; other dropped frames get a warning a second.
                            let dropped_command = match &message {
                                Message::Text(text) => self.dropped_command_id(text.as_str()),
                                _ => None,
                            };
                            let warn_due = last_flood_warning.is_none_or(|t| t.elapsed() >= Duration::from_secs(1));
                            if dropped_command.is_some() || warn_due {
                                last_flood_warning = Some(Instant::now());
                                let frame = ServerFrame::error("too_many_frames", "Too many messages; some were dropped. Please slow down.", dropped_command);
                                if send(&mut sink, &frame).await.is_err() {
                                    break None;
                                }
                            }
                            continue;
                        }
                    }
                    let reply = match message {
                        Message::Text(text) => self.handle_text(text.as_str()).await,
                        Message::Binary(_) => Some(ServerFrame::error(
                            "unsupported_frame",
                            "Binary frames are not supported; send JSON text frames.",
                            None,
                        )),
                        Message::Close(_) => break None,
                        Message::Ping(_) | Message::Pong(_) => None,
                    };
                    if let Some(frame) = reply
                        && send(&mut sink, &frame).await.is_err()
                    {
                        break None;
                    }
                }
                _ = ping.tick() => {
                    if last_heard.elapsed() > ping_every * MISSED_PINGS {
                        tracing::info!("closing a socket whose peer stopped answering pings");
                        break Some((close_code::AWAY, "ping timeout".into()));
                    }
                    if sink.send(Message::Ping(Default::default())).await.is_err() {
                        break None;
                    }
                }
                _ = sleep_until(idle_deadline), if self.running.is_none() && !self.draining => {
                    break Some((close_code::NORMAL, "idle timeout".into()));
                }
            }
        };

        // A reply whose client is gone is stored as interrupted.
        if let Some(running) = self.running.take() {
            running.cancel.cancel();
            let _ = tokio::time::timeout(CANCEL_GRACE, running.handle).await;
        }
        if let Some((code, reason)) = &close {
            let frame = CloseFrame {
                code: *code,
                reason: reason.as_str().into(),
            };
            let _ = sink.send(Message::Close(Some(frame))).await;
        }
        let _ = sink.close().await;
        tracing::info!(
            close_code = close.as_ref().map(|(c, _)| *c),
            "voice socket closed"
        );
    }

    async fn handle_text(&mut self, text: &str) -> Option<ServerFrame> {
        let frame = match parse_client_frame(text) {
            Ok(frame) => frame,
            Err(_) => {
                return Some(ServerFrame::error(
                    "invalid_json",
                    "Messages must be JSON, such as {\"command\": \"hello\"}.",
                    None,
                ));
            }
        };
        match frame {
            ClientFrame::Listening => Some(ServerFrame::StatusUpdate { status: "ready" }),
            ClientFrame::Ping => Some(ServerFrame::Pong),
            ClientFrame::Cancel => {
                // Barge-in: the user started talking, so queued commands are stale too.
                self.queue.clear();
                if let Some(running) = &self.running {
                    running.cancel.cancel();
                }
                None
            }
            ClientFrame::Unknown => Some(ServerFrame::error(
                "unknown_message",
                "Unknown message format.",
                None,
            )),
            ClientFrame::Command {
                command,
                timezone,
                id,
            } => self.accept_command(command, timezone, id),
        }
    }

    /// The id of a command frame that is being dropped (numbered like an accepted one when the
    /// client sent none), or None for any other frame.
    fn dropped_command_id(&mut self, text: &str) -> Option<MessageId> {
        match parse_client_frame(text) {
            Ok(ClientFrame::Command { id, .. }) => Some(id.unwrap_or_else(|| {
                let id = Value::from(self.next_id);
                self.next_id += 1;
                id
            })),
            _ => None,
        }
    }

    /// Validates a command and starts or queues it; returns an error frame when refused.
    fn accept_command(
        &mut self,
        command: Value,
        timezone: Option<String>,
        id: Option<MessageId>,
    ) -> Option<ServerFrame> {
        let id = id.unwrap_or_else(|| {
            let id = Value::from(self.next_id);
            self.next_id += 1;
            id
        });
        let Value::String(command) = command else {
            return Some(ServerFrame::error(
                "invalid_command",
                "The command must be a string.",
                Some(id),
            ));
        };
        if let Err(invalid) = validate_command(&command) {
            return Some(ServerFrame::error(
                invalid.code(),
                invalid.message(),
                Some(id),
            ));
        }
        if self.draining {
            return Some(ServerFrame::error(
                "shutting_down",
                "The server is restarting; please send this again.",
                Some(id),
            ));
        }
        if let Err(limited) = self.state.limits().check_ip(self.ip) {
            return Some(rate_limited_frame(limited.retry_after_ms(), id));
        }
        let pending = Pending {
            id,
            command,
            timezone,
        };
        if self.running.is_none() {
            self.start_turn(pending);
            None
        } else if self.queue.len() < MAX_QUEUED {
            self.queue.push_back(pending);
            None
        } else {
            Some(ServerFrame::error(
                "busy",
                "Still answering earlier commands; please wait for a reply.",
                Some(pending.id),
            ))
        }
    }

    fn start_turn(&mut self, pending: Pending) {
        let cancel = CancellationToken::new();
        let state = self.state.clone();
        let outbound = self.outbound.clone();
        let user = self.user.clone();
        let turn_cancel = cancel.clone();
        let task = async move {
            let id = pending.id;
            let delta_sink = outbound.clone();
            let delta_id = id.clone();
            let mut on_delta = move |delta: &str| {
                let _ = delta_sink.send(Outbound::Frame(Box::new(ServerFrame::ResponseDelta {
                    id: delta_id.clone(),
                    delta: delta.to_owned(),
                })));
            };
            let input = TurnInput {
                user,
                command: pending.command,
                timezone: pending.timezone,
            };
            // A bug must cost one reply, not the connection: the panic becomes an error frame.
            let result = AssertUnwindSafe(turn::run(&state, input, &mut on_delta, &turn_cancel))
                .catch_unwind()
                .await;
            let frame = match result {
                Ok(Ok(reply)) => ServerFrame::CommandResponse { id, data: reply },
                Ok(Err(TurnError::Cancelled)) if state.is_draining() => ServerFrame::error(
                    "shutting_down",
                    "The server restarted before I finished. Please ask again.",
                    Some(id),
                ),
                Ok(Err(TurnError::Cancelled)) => ServerFrame::Cancelled { id },
                Ok(Err(TurnError::Invalid(invalid))) => {
                    ServerFrame::error(invalid.code(), invalid.message(), Some(id))
                }
                Ok(Err(TurnError::RateLimited(limited))) => {
                    rate_limited_frame(limited.retry_after_ms(), id)
                }
                Ok(Err(TurnError::Storage(error))) => {
                    tracing::error!(%error, "could not store a turn");
                    if error.is_unavailable() {
                        ServerFrame::error(
                            "storage_unavailable",
                            "The database is unavailable right now, so I couldn't save that. Please try again in a moment.",
                            Some(id),
                        )
                    } else {
                        ServerFrame::error(
                            "internal",
                            "Something went wrong on our side. Please try again.",
                            Some(id),
                        )
                    }
                }
                Err(_) => {
                    tracing::error!("a turn panicked");
                    ServerFrame::error(
                        "internal",
                        "Something went wrong on our side. Please try again.",
                        Some(id),
                    )
                }
            };
            let _ = outbound.send(Outbound::Frame(Box::new(frame)));
            let _ = outbound.send(Outbound::TurnDone);
        };
        let handle = tokio::spawn(task.instrument(tracing::Span::current()));
        self.running = Some(Running { cancel, handle });
    }
}

fn rate_limited_frame(retry_after_ms: u64, id: MessageId) -> ServerFrame {
    ServerFrame::Error {
        code: "rate_limited",
        message: format!(
            "Too many commands. Please wait {} seconds.",
            retry_after_ms.div_ceil(1000)
        ),
        id: Some(id),
        retry_after_ms: Some(retry_after_ms),
    }
}

async fn send(sink: &mut Sink, frame: &ServerFrame) -> Result<(), axum::Error> {
    sink.send(Message::Text(frame.to_json().into())).await
}

/// tungstenite reports an oversized message as a capacity error; axum wraps it opaquely.
fn is_too_large(error: &axum::Error) -> bool {
    let text = error.to_string();
    text.contains("Message too long") || text.contains("Space limit exceeded")
}

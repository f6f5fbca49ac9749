//! One WebSocket connection.
//!
//! A single task owns the socket and `select!`s over: frames from the client, frames from the
//! running turn (streamed deltas, then the final reply), events for this user's tabs, the ping
//! timer, the idle and lifetime timers and the shutdown signal. Turns run in their own task so
//! the loop keeps reading — a `cancel` must be seen while a reply streams. Commands that arrive
//! during a turn wait in a short queue; each tab has its own socket and therefore its own
//! replies.
//!
//! Only commands count as activity: pings and other frames do not keep an idle socket (and the
//! Cloud Run instance billed for it) alive, and every socket ends after `WS_MAX_LIFETIME_SECS`
//! with a close reason the page reconnects on without telling the user.

use std::collections::VecDeque;
use std::num::NonZeroU32;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::ws::{CloseFrame, Message, WebSocket, close_code};
use futures_util::stream::SplitSink;
use futures_util::{FutureExt, SinkExt, StreamExt};
use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};
use serde_json::Value;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio::time::{Instant, sleep_until};
use tracing::Instrument;

use super::protocol::{ClientFrame, MessageId, ServerFrame, parse_client_frame};
use crate::conversation::messages_of;
use crate::error::{ErrorCode, Problem};
use crate::hub::{HubEvent, Membership};
use crate::limits::ClientKey;
use crate::net::ConnectionGuard;
use crate::skills::Coordinates;
use crate::state::AppState;
use crate::store::UserId;
use crate::turns::{
    CancelReason, CancelSignal, ClientTimezone, Command, CommandReply, TurnError, TurnRequest,
};

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

/// Close reasons the page reads (web/js/socket.js): it reconnects at once after
/// `SESSION_LIFETIME`, quietly on the next action after `IDLE`, and with backoff otherwise.
pub const IDLE: &str = "idle timeout";
pub const SESSION_LIFETIME: &str = "session lifetime";
pub const RESTARTING: &str = "server restarting";

enum Outbound {
    /// Boxed: tokio's channel allocates its slots up front, and a small message keeps an idle
    /// socket's channel small (measured: about 4.5 KiB less per connection).
    Frame(Box<ServerFrame>),
    /// The running turn has sent its last frame.
    TurnDone,
}

struct Pending {
    id: MessageId,
    command: Command,
    timezone: Option<ClientTimezone>,
    location: Option<Coordinates>,
}

struct Running {
    cancel: CancelSignal,
    handle: JoinHandle<()>,
}

/// Who is on the other end of one socket.
pub struct Peer {
    pub user: UserId,
    pub client: ClientKey,
    pub client_id: String,
    /// The socket's slot of the per-network cap (behind a proxy), held while it is open.
    pub _slot: Option<ConnectionGuard>,
}

pub struct Session {
    state: AppState,
    peer: Peer,
    outbound: mpsc::UnboundedSender<Outbound>,
    inbox: mpsc::UnboundedReceiver<Outbound>,
    running: Option<Running>,
    queue: VecDeque<Pending>,
    next_id: u64,
    draining: bool,
    /// The socket reached its maximum lifetime; it closes once the running turn is answered.
    expiring: bool,
}

type Sink = SplitSink<WebSocket, Message>;

impl Session {
    pub fn new(state: AppState, peer: Peer) -> Self {
        let (outbound, inbox) = mpsc::unbounded_channel();
        Self {
            state,
            peer,
            outbound,
            inbox,
            running: None,
            queue: VecDeque::new(),
            next_id: 1,
            draining: false,
            expiring: false,
        }
    }

    pub async fn run(mut self, socket: WebSocket) {
        tracing::info!(user_id = %self.peer.user, "voice socket opened");
        let (membership, mut events): (Membership, _) =
            self.state.hub().join(&self.peer.user, &self.peer.client_id);
        let (mut sink, mut stream) = socket.split();
        // Timers that rang while no page was open are shown now, once.
        match self.state.store().take_missed_timers(&self.peer.user).await {
            Ok(missed) => {
                for timer in missed {
                    let frame = ServerFrame::TimerMissed {
                        id: timer.id,
                        kind: timer.kind,
                        label: timer.label,
                        due_at: timer.due_at,
                    };
                    if send(&mut sink, &frame).await.is_err() {
                        return;
                    }
                }
            }
            Err(error) => tracing::warn!(%error, "could not read missed timers"),
        }
        let config = self.state.config();
        let ping_every = config.ws_ping_interval;
        let idle_timeout = config.ws_idle_timeout;
        let max_message = config.max_ws_message_bytes;
        let mut ping = tokio::time::interval_at(Instant::now() + ping_every, ping_every);
        let mut last_heard = Instant::now();
        let mut idle_deadline = Instant::now() + idle_timeout;
        let lifetime_deadline = Instant::now() + config.ws_max_lifetime;
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
                            break Some((close_code::AWAY, RESTARTING.into()));
                        }
                        if self.expiring {
                            break Some((close_code::NORMAL, SESSION_LIFETIME.into()));
                        }
                        if let Some(next) = self.queue.pop_front() {
                            self.start_turn(next);
                        }
                    }
                },
                _ = shutdown.cancelled(), if !self.draining => {
                    self.draining = true;
                    for pending in std::mem::take(&mut self.queue) {
                        let frame = ServerFrame::error(Problem::shutting_down(), Some(pending.id));
                        if send(&mut sink, &frame).await.is_err() {
                            break;
                        }
                    }
                    if self.running.is_none() {
                        break Some((close_code::AWAY, RESTARTING.into()));
                    }
                    // Otherwise the reply in flight may finish until the drain deadline, when
                    // the turn cancels itself as a shutdown.
                }
                // Backstop: a turn that has not answered shortly after the drain deadline (its
                // own cancellation should have ended it) does not hold the socket open.
                _ = sleep_until(drain_deadline + CANCEL_GRACE), if self.draining && self.running.is_some() && cancel_deadline.is_none() => {
                    if let Some(running) = &self.running {
                        running.cancel.cancel(CancelReason::Shutdown);
                    }
                    cancel_deadline = Some(Instant::now() + CANCEL_GRACE);
                }
                _ = sleep_until(cancel_deadline.unwrap_or(far_future)), if cancel_deadline.is_some() => {
                    break Some((close_code::AWAY, RESTARTING.into()));
                }
                Some(event) = events.recv() => {
                    if let Some(frame) = self.hub_frame(&event)
                        && send(&mut sink, &frame).await.is_err()
                    {
                        break None;
                    }
                }
                message = stream.next() => {
                    let Some(message) = message else { break None };
                    let message = match message {
                        Ok(message) => message,
                        Err(error) => {
                            let close = close_for(&error, max_message);
                            if let Some((code, reason)) = &close {
                                tracing::info!(close_code = code, reason, "closing a socket after a protocol error");
                            } else {
                                tracing::debug!(%error, "socket error");
                            }
                            break close;
                        }
                    };
                    last_heard = Instant::now();
                    let is_data = matches!(message, Message::Text(_) | Message::Binary(_));
                    if is_data && guard_frames && flood_guard.check().is_err() {
                        // A dropped command is answered by its id, so the client knows it was
                        // not stored; other dropped frames get a warning a second.
                        let dropped_command = match &message {
                            Message::Text(text) => self.dropped_command_id(text.as_str()),
                            _ => None,
                        };
                        let warn_due = last_flood_warning.is_none_or(|t| t.elapsed() >= Duration::from_secs(1));
                        if dropped_command.is_some() || warn_due {
                            last_flood_warning = Some(Instant::now());
                            let frame = ServerFrame::error(
                                Problem::new(ErrorCode::TooManyFrames, "Too many messages; some were dropped. Please slow down."),
                                dropped_command,
                            );
                            if send(&mut sink, &frame).await.is_err() {
                                break None;
                            }
                        }
                        continue;
                    }
                    let (reply, was_command) = match message {
                        Message::Text(text) => self.handle_text(text.as_str()),
                        Message::Binary(_) => (Some(ServerFrame::error(
                            Problem::new(ErrorCode::UnsupportedFrame, "Binary frames are not supported; send JSON text frames."),
                            None,
                        )), false),
                        Message::Close(_) => break None,
                        Message::Ping(_) | Message::Pong(_) => (None, false),
                    };
                    if was_command {
                        idle_deadline = Instant::now() + idle_timeout;
                    }
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
                    break Some((close_code::NORMAL, IDLE.into()));
                }
                _ = sleep_until(lifetime_deadline), if !self.expiring && !self.draining => {
                    self.expiring = true;
                    self.queue.clear();
                    if self.running.is_none() {
                        break Some((close_code::NORMAL, SESSION_LIFETIME.into()));
                    }
                }
            }
        };

        // A reply whose client is gone is stored as interrupted.
        if let Some(running) = self.running.take() {
            running.cancel.cancel(CancelReason::ClientGone);
            let _ = tokio::time::timeout(CANCEL_GRACE, running.handle).await;
        }
        drop(membership);
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

    fn hub_frame(&self, event: &Arc<HubEvent>) -> Option<ServerFrame> {
        match event.as_ref() {
            HubEvent::TurnSynced { origin, turn } if *origin != self.peer.client_id => {
                Some(ServerFrame::TurnSynced {
                    messages: messages_of(turn),
                })
            }
            HubEvent::TurnSynced { .. } => None,
            HubEvent::ConversationChanged { conversation_id } => {
                Some(ServerFrame::ConversationChanged {
                    conversation_id: *conversation_id,
                })
            }
            HubEvent::TimerDue(due) => Some(ServerFrame::TimerDue {
                id: due.id,
                kind: due.kind.clone(),
                label: due.label.clone(),
                due_at: due.due_at,
            }),
        }
    }

    /// The reply to a text frame, if any, and whether it was a command (activity).
    fn handle_text(&mut self, text: &str) -> (Option<ServerFrame>, bool) {
        let frame = match parse_client_frame(text) {
            Ok(frame) => frame,
            Err(_) => {
                return (
                    Some(ServerFrame::error(
                        Problem::new(
                            ErrorCode::InvalidJson,
                            "Messages must be JSON, such as {\"command\": \"hello\"}.",
                        ),
                        None,
                    )),
                    false,
                );
            }
        };
        match frame {
            ClientFrame::Listening => (Some(ServerFrame::StatusUpdate { status: "ready" }), false),
            ClientFrame::Ping => (Some(ServerFrame::Pong), false),
            ClientFrame::Cancel => {
                // Barge-in: the user started talking, so queued commands are stale too.
                self.queue.clear();
                if let Some(running) = &self.running {
                    running.cancel.cancel(CancelReason::BargeIn);
                }
                (None, false)
            }
            ClientFrame::Unknown => (
                Some(ServerFrame::error(
                    Problem::new(ErrorCode::UnknownMessage, "Unknown message format."),
                    None,
                )),
                false,
            ),
            ClientFrame::Command {
                command,
                timezone,
                id,
                location,
            } => (self.accept_command(command, timezone, id, location), true),
        }
    }

    fn next_message_id(&mut self) -> MessageId {
        let id = Value::from(self.next_id);
        self.next_id += 1;
        id
    }

    /// The id of a command frame that is being dropped (numbered like an accepted one when the
    /// client sent none), or None for any other frame.
    fn dropped_command_id(&mut self, text: &str) -> Option<MessageId> {
        match parse_client_frame(text) {
            Ok(ClientFrame::Command { id, .. }) => {
                Some(id.unwrap_or_else(|| self.next_message_id()))
            }
            _ => None,
        }
    }

    /// Validates a command and starts or queues it; returns an error frame when refused.
    fn accept_command(
        &mut self,
        command: Value,
        timezone: Option<String>,
        id: Option<MessageId>,
        location: Option<Coordinates>,
    ) -> Option<ServerFrame> {
        let id = id.unwrap_or_else(|| self.next_message_id());
        let Value::String(command) = command else {
            return Some(ServerFrame::error(
                Problem::new(ErrorCode::InvalidCommand, "The command must be a string."),
                Some(id),
            ));
        };
        let command = match Command::parse(&command) {
            Ok(command) => command,
            Err(invalid) => return Some(ServerFrame::error(invalid.problem(), Some(id))),
        };
        if self.draining || self.expiring {
            return Some(ServerFrame::error(Problem::shutting_down(), Some(id)));
        }
        if let Err(limited) = self.state.limits().check_ip(self.peer.client) {
            return Some(ServerFrame::error(
                TurnError::RateLimited(limited).problem(),
                Some(id),
            ));
        }
        let pending = Pending {
            id,
            command,
            timezone: ClientTimezone::lenient(timezone.as_deref()),
            location,
        };
        if self.running.is_none() {
            self.start_turn(pending);
            None
        } else if self.queue.len() < MAX_QUEUED {
            self.queue.push_back(pending);
            None
        } else {
            Some(ServerFrame::error(
                Problem::new(
                    ErrorCode::Busy,
                    "Still answering earlier commands; please wait for a reply.",
                ),
                Some(pending.id),
            ))
        }
    }

    fn start_turn(&mut self, pending: Pending) {
        let cancel = CancelSignal::new();
        let state = self.state.clone();
        let outbound = self.outbound.clone();
        let request = TurnRequest {
            user: self.peer.user.clone(),
            client: self.peer.client,
            command: pending.command,
            timezone: pending.timezone,
            location: pending.location,
        };
        let origin = self.peer.client_id.clone();
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
            let user = request.user.clone();
            // A bug must cost one reply, not the connection: the panic becomes an error frame.
            let result = AssertUnwindSafe(state.turns().run(request, &mut on_delta, &turn_cancel))
                .catch_unwind()
                .await;
            let frame = match result {
                Ok(Ok(turn)) => {
                    let reply = CommandReply::from(&turn);
                    state.hub().publish(
                        &user,
                        Some(&origin.clone()),
                        HubEvent::TurnSynced { origin, turn },
                    );
                    ServerFrame::CommandResponse { id, data: reply }
                }
                Ok(Err(TurnError::Cancelled(CancelReason::BargeIn | CancelReason::ClientGone))) => {
                    ServerFrame::Cancelled { id }
                }
                Ok(Err(error)) => ServerFrame::error(error.problem(), Some(id)),
                Err(_) => {
                    tracing::error!("a turn panicked");
                    ServerFrame::error(Problem::internal(), Some(id))
                }
            };
            let _ = outbound.send(Outbound::Frame(Box::new(frame)));
            let _ = outbound.send(Outbound::TurnDone);
        };
        let handle = tokio::spawn(task.instrument(tracing::Span::current()));
        self.running = Some(Running { cancel, handle });
    }
}

async fn send(sink: &mut Sink, frame: &ServerFrame) -> Result<(), axum::Error> {
    sink.send(Message::Text(frame.to_json().into())).await
}

/// The close frame for a read error: 1009 for an oversized message, 1007 for text that is not
/// UTF-8, 1002 for other protocol violations; None when the connection simply broke.
pub fn close_for(error: &axum::Error, max_message: usize) -> Option<(u16, String)> {
    use tungstenite::error::{CapacityError, Error as WsError};
    let inner =
        std::error::Error::source(error).and_then(|source| source.downcast_ref::<WsError>());
    match inner {
        Some(WsError::Capacity(CapacityError::MessageTooLong { .. })) => Some((
            close_code::SIZE,
            format!("message larger than {max_message} bytes"),
        )),
        Some(WsError::Capacity(_)) => Some((close_code::SIZE, "frame too large".into())),
        Some(WsError::Utf8(_)) => {
            Some((close_code::INVALID, "text frame is not valid UTF-8".into()))
        }
        Some(WsError::Protocol(violation)) => {
            Some((close_code::PROTOCOL, format!("protocol error: {violation}")))
        }
        _ => None,
    }
}

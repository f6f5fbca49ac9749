//! A streamed response as a list of steps, played into an axum body one step at a time so
//! every event leaves when its delay has elapsed, never buffered.

use std::io;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use bytes::Bytes;
use futures_util::stream;
use tokio::sync::watch;

use super::Shared;
use super::wire::{self, GenerateContentResponse};

pub(super) enum Step {
    Sleep(Duration),
    /// Rendered when sent, so a stamp carries the real send time.
    Event {
        response: Box<GenerateContentResponse>,
        stamp: bool,
    },
    Raw(Vec<u8>),
    /// End the body with an error: hyper then closes the connection without the final
    /// zero-length chunk.
    Reset,
}

/// Counts the stream as completed when its script ends and as dropped when the body is
/// dropped before that, which is what hyper does once the client has gone away.
struct Guard {
    shared: Arc<Shared>,
    running: bool,
}

impl Guard {
    fn finish(&mut self) {
        if std::mem::replace(&mut self.running, false) {
            self.shared.stream_ended(true);
        }
    }

    /// The server is shutting down: neither completed nor dropped by the client.
    fn abandon(&mut self) {
        self.running = false;
    }
}

impl Drop for Guard {
    fn drop(&mut self) {
        if self.running {
            self.shared.stream_ended(false);
        }
    }
}

pub(super) fn sse_body(shared: Arc<Shared>, steps: Vec<Step>) -> Body {
    let stop = shared.shutdown.clone();
    let guard = Guard {
        shared,
        running: true,
    };
    let body = stream::unfold(
        (steps.into_iter(), guard, stop),
        |(mut steps, mut guard, mut stop)| async move {
            loop {
                let item = match steps.next() {
                    None => {
                        guard.finish();
                        return None;
                    }
                    Some(Step::Sleep(delay)) => {
                        if !sleep_unless_stopped(delay, &mut stop).await {
                            guard.abandon();
                            return None;
                        }
                        continue;
                    }
                    Some(Step::Event {
                        mut response,
                        stamp,
                    }) => {
                        if stamp {
                            stamp_text(&mut response);
                        }
                        Ok(Bytes::from(wire::sse_event(&response)))
                    }
                    Some(Step::Raw(bytes)) => Ok(Bytes::from(bytes)),
                    Some(Step::Reset) => {
                        // Returning Pending once makes hyper flush what is buffered, so the
                        // client gets the chunks before the connection dies.
                        tokio::task::yield_now().await;
                        guard.finish();
                        Err(io::Error::new(
                            io::ErrorKind::ConnectionReset,
                            "fake-gemini: injected connection reset",
                        ))
                    }
                };
                return Some((item, (steps, guard, stop)));
            }
        },
    );
    Body::from_stream(body)
}

/// A body that fails before its first byte: the 200 head goes out, then the connection closes.
pub(super) fn reset_body() -> Body {
    Body::from_stream(stream::once(async {
        // Lets hyper flush the 200 head first; see the `Step::Reset` arm above.
        tokio::task::yield_now().await;
        Err::<Bytes, _>(io::Error::new(
            io::ErrorKind::ConnectionReset,
            "fake-gemini: injected connection reset",
        ))
    }))
}

/// Stamps the first part's text. Empty text (the part that closes a Gemini 3 turn, or that
/// carries a late signature) stays empty: a stamp there would turn it into spoken text.
fn stamp_text(response: &mut GenerateContentResponse) {
    let text = response
        .candidates
        .as_mut()
        .and_then(|c| c.first_mut())
        .and_then(|c| c.content.as_mut())
        .and_then(|c| c.parts.as_mut())
        .and_then(|p| p.first_mut())
        .and_then(|p| p.text.as_mut())
        .filter(|text| !text.is_empty());
    if let Some(text) = text {
        *text = format!("[t:{}]{text}", wire::unix_micros());
    }
}

/// Sleeps for `delay`; returns false early if the server is shutting down.
pub(super) async fn sleep_unless_stopped(
    delay: Duration,
    stop: &mut watch::Receiver<bool>,
) -> bool {
    if delay.is_zero() {
        return !*stop.borrow();
    }
    tokio::select! {
        () = tokio::time::sleep(delay) => true,
        () = stopped(stop) => false,
    }
}

async fn stopped(stop: &mut watch::Receiver<bool>) {
    // An error means the sender is gone, which only happens when the server is dropped.
    let _ = stop.wait_for(|stop| *stop).await;
}

//! The accept loop, with the connection-level protection `axum::serve` does not offer.
//!
//! * **Header-read timeout**: a request's headers must be complete within
//!   `HTTP_HEADER_READ_TIMEOUT_SECS` of its first byte (slowloris: thousands of half-sent
//!   requests held open forever, each buffering headers).
//! * **Idle keep-alive timeout**: a connection with no request in flight is closed after
//!   `HTTP_IDLE_TIMEOUT_SECS` without traffic.
//! * **Connections per network**: at most `MAX_CONNECTIONS_PER_IP` open connections per peer
//!   network. Behind Cloud Run every connection comes from Google's front end, which does its own
//!   slowloris protection, so with `TRUST_PROXY=true` the cap counts open WebSockets per client
//!   network instead (see `ws`), the connections that can pin an instance.
//!
//! Activity is observed at the byte level: the socket wrapper notes when bytes arrive, and the
//! service wrapper notes when a request starts and when its response body is finished.

use std::collections::HashMap;
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::ConnectInfo;
use bytes::Bytes;
use http_body::{Body as HttpBody, Frame, SizeHint};
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto::Builder;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Notify;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tower::ServiceExt;

use crate::config::HttpConfig;
use crate::limits::ClientKey;

/// Open connections (or sockets) per client network, with a cap.
#[derive(Clone)]
pub struct ConnectionCounter {
    limit: usize,
    counts: Arc<Mutex<HashMap<ClientKey, usize>>>,
}

/// Holds one slot of a `ConnectionCounter` until dropped.
pub struct ConnectionGuard {
    counts: Arc<Mutex<HashMap<ClientKey, usize>>>,
    key: ClientKey,
}

impl ConnectionCounter {
    pub fn new(limit: usize) -> Self {
        Self {
            limit,
            counts: Arc::default(),
        }
    }

    /// A slot for `key`, or None when it already holds `limit` of them.
    pub fn try_acquire(&self, key: ClientKey) -> Option<ConnectionGuard> {
        let mut counts = self.counts.lock().unwrap_or_else(|p| p.into_inner());
        let count = counts.entry(key).or_default();
        if *count >= self.limit {
            return None;
        }
        *count += 1;
        Some(ConnectionGuard {
            counts: self.counts.clone(),
            key,
        })
    }

    pub fn open(&self, key: ClientKey) -> usize {
        let counts = self.counts.lock().unwrap_or_else(|p| p.into_inner());
        counts.get(&key).copied().unwrap_or(0)
    }
}

impl Drop for ConnectionGuard {
    fn drop(&mut self) {
        let mut counts = self.counts.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(count) = counts.get_mut(&self.key) {
            *count -= 1;
            if *count == 0 {
                counts.remove(&self.key);
            }
        }
    }
}

/// What one connection is doing, in milliseconds since it was accepted.
struct Activity {
    started: Instant,
    /// Last time bytes arrived or a response finished.
    last_activity_ms: AtomicU64,
    /// When the first byte of a request arrived while no request was in flight (0: none).
    head_started_ms: AtomicU64,
    in_flight: AtomicUsize,
    /// Wakes the watchdog when a request's head starts: its header deadline begins then.
    head_started: Notify,
}

impl Activity {
    fn new() -> Self {
        Self {
            started: Instant::now(),
            last_activity_ms: AtomicU64::new(0),
            head_started_ms: AtomicU64::new(0),
            in_flight: AtomicUsize::new(0),
            head_started: Notify::new(),
        }
    }

    fn now_ms(&self) -> u64 {
        // 1 ms after accept at the earliest, so 0 can mean "not set".
        self.started.elapsed().as_millis() as u64 + 1
    }

    fn bytes_read(&self) {
        let now = self.now_ms();
        self.last_activity_ms.store(now, Ordering::Relaxed);
        if self.in_flight.load(Ordering::Acquire) == 0
            && self
                .head_started_ms
                .compare_exchange(0, now, Ordering::AcqRel, Ordering::Relaxed)
                .is_ok()
        {
            self.head_started.notify_one();
        }
    }

    fn request_started(&self) {
        self.in_flight.fetch_add(1, Ordering::AcqRel);
        self.head_started_ms.store(0, Ordering::Release);
    }

    fn request_finished(&self) {
        self.last_activity_ms
            .store(self.now_ms(), Ordering::Relaxed);
        self.in_flight.fetch_sub(1, Ordering::AcqRel);
    }

    /// What the watchdog should do now.
    fn verdict(&self, config: &HttpConfig) -> Verdict {
        if self.in_flight.load(Ordering::Acquire) > 0 {
            return Verdict::Fine;
        }
        let now = self.now_ms();
        let head = self.head_started_ms.load(Ordering::Acquire);
        if head != 0 {
            return if now.saturating_sub(head) > config.header_read_timeout.as_millis() as u64 {
                Verdict::HeadersTooSlow
            } else {
                Verdict::Fine
            };
        }
        let last = self.last_activity_ms.load(Ordering::Relaxed);
        if now.saturating_sub(last) > config.idle_timeout.as_millis() as u64 {
            Verdict::Idle
        } else {
            Verdict::Fine
        }
    }

    /// How long the watchdog may sleep before the verdict could change by itself: until the
    /// header or idle deadline. A request in flight has neither (once it finishes, the idle
    /// deadline is at least `idle_timeout` away), and a head that starts meanwhile wakes the
    /// watchdog through `head_started`. An idle keep-alive connection thus costs one wake-up
    /// per idle timeout, not one per tick.
    fn until_next_check(&self, config: &HttpConfig) -> Duration {
        if self.in_flight.load(Ordering::Acquire) > 0 {
            return config.idle_timeout;
        }
        let head = self.head_started_ms.load(Ordering::Acquire);
        let deadline = if head != 0 {
            head + config.header_read_timeout.as_millis() as u64
        } else {
            self.last_activity_ms.load(Ordering::Relaxed) + config.idle_timeout.as_millis() as u64
        };
        // Just past the deadline, where `verdict` compares with `>`.
        Duration::from_millis(deadline.saturating_sub(self.now_ms()) + 1)
    }
}

enum Verdict {
    Fine,
    HeadersTooSlow,
    Idle,
}

/// The TCP stream, noting when bytes arrive. It also carries the connection's slot of the
/// per-network cap, so an upgraded WebSocket keeps its slot for as long as it is open.
struct Watched {
    stream: TcpStream,
    activity: Arc<Activity>,
    _slot: Option<ConnectionGuard>,
}

impl AsyncRead for Watched {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let result = Pin::new(&mut self.stream).poll_read(cx, buf);
        if matches!(result, Poll::Ready(Ok(()))) && buf.filled().len() > before {
            self.activity.bytes_read();
        }
        result
    }
}

impl AsyncWrite for Watched {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.stream).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.stream).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }
}

/// A response body that marks its request finished when it is done or dropped.
struct TrackedBody {
    body: Body,
    activity: Option<Arc<Activity>>,
}

impl TrackedBody {
    fn finish(&mut self) {
        if let Some(activity) = self.activity.take() {
            activity.request_finished();
        }
    }
}

impl Drop for TrackedBody {
    fn drop(&mut self) {
        self.finish();
    }
}

impl HttpBody for TrackedBody {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, axum::Error>>> {
        let result = Pin::new(&mut self.body).poll_frame(cx);
        if matches!(result, Poll::Ready(None)) {
            self.finish();
        }
        result
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.body.size_hint()
    }
}

/// How often a closing connection's watchdog looks at it (graceful shutdown waits for the
/// request in flight; past the idle deadline it is closed at once).
const WATCH_CLOSING: Duration = Duration::from_millis(500);

/// Resolves when the connection's verdict is worth reading again.
async fn watch(activity: &Activity, config: &HttpConfig, closing: bool) {
    let sleep = if closing {
        WATCH_CLOSING
    } else {
        activity.until_next_check(config)
    };
    tokio::select! {
        _ = tokio::time::sleep(sleep) => {}
        _ = activity.head_started.notified() => {}
    }
}

/// Serves `router` on `listener` until `shutdown` is cancelled, then lets every connection
/// finish its requests (graceful shutdown) and returns once they have. Upgraded connections
/// (WebSockets) are no longer connections here; their sessions are tracked by the caller.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    config: HttpConfig,
    cap_peers: bool,
    shutdown: CancellationToken,
) -> io::Result<()> {
    let peers = ConnectionCounter::new(config.max_connections_per_ip);
    let connections = TaskTracker::new();
    let mut refused_warning: Option<Instant> = None;
    loop {
        let (stream, peer) = tokio::select! {
            _ = shutdown.cancelled() => break,
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(error) => {
                    // Out of file descriptors and similar: back off instead of spinning, and
                    // keep serving the connections already open.
                    tracing::warn!(%error, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        let slot = if cap_peers {
            match peers.try_acquire(ClientKey::of(peer.ip())) {
                Some(slot) => Some(slot),
                None => {
                    if refused_warning.is_none_or(|at| at.elapsed() > Duration::from_secs(10)) {
                        refused_warning = Some(Instant::now());
                        tracing::warn!(
                            client = %ClientKey::of(peer.ip()),
                            limit = config.max_connections_per_ip,
                            "refusing connections over the per-network cap"
                        );
                    }
                    drop(stream);
                    continue;
                }
            }
        } else {
            None
        };
        // Nagle's algorithm would hold a small streamed delta until the client's delayed ACK
        // (40 ms or more on Linux); replies are latency-bound, so every socket sends at once.
        let _ = stream.set_nodelay(true);
        let router = router.clone();
        let shutdown = shutdown.clone();
        connections.spawn(serve_connection(
            stream, peer, slot, router, config, shutdown,
        ));
    }
    connections.close();
    connections.wait().await;
    Ok(())
}

async fn serve_connection(
    stream: TcpStream,
    peer: SocketAddr,
    slot: Option<ConnectionGuard>,
    router: Router,
    config: HttpConfig,
    shutdown: CancellationToken,
) {
    let activity = Arc::new(Activity::new());
    let io = TokioIo::new(Watched {
        stream,
        activity: activity.clone(),
        _slot: slot,
    });
    let service_activity = activity.clone();
    let service =
        hyper::service::service_fn(move |mut request: http::Request<hyper::body::Incoming>| {
            let activity = service_activity.clone();
            activity.request_started();
            request.extensions_mut().insert(ConnectInfo(peer));
            let response = router.clone().oneshot(request.map(Body::new));
            async move {
                let response = match response.await {
                    Ok(response) => response,
                    Err(infallible) => match infallible {},
                };
                Ok::<_, std::convert::Infallible>(response.map(|body| TrackedBody {
                    body,
                    activity: Some(activity),
                }))
            }
        });
    let mut builder = Builder::new(TokioExecutor::new());
    // The CONNECT protocol carries WebSockets over HTTP/2.
    builder.http2().enable_connect_protocol();
    let connection = builder.serve_connection_with_upgrades(io, service);
    tokio::pin!(connection);
    let mut closing = false;
    loop {
        tokio::select! {
            result = connection.as_mut() => {
                if let Err(error) = result {
                    tracing::debug!(error = %error, "connection ended with an error");
                }
                return;
            }
            _ = shutdown.cancelled(), if !closing => {
                closing = true;
                connection.as_mut().graceful_shutdown();
            }
            _ = watch(&activity, &config, closing) => match activity.verdict(&config) {
                Verdict::Fine => {}
                Verdict::HeadersTooSlow => {
                    tracing::info!(peer = %ClientKey::of(peer.ip()), "closing a connection that sent its headers too slowly");
                    return;
                }
                Verdict::Idle if !closing => {
                    closing = true;
                    connection.as_mut().graceful_shutdown();
                }
                Verdict::Idle => {}
            },
        }
    }
}

/// For tests: the future the server runs, boxed.
pub type ServeFuture = Pin<Box<dyn Future<Output = io::Result<()>> + Send>>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_counter_caps_each_network_and_frees_slots_on_drop() {
        let counter = ConnectionCounter::new(2);
        let key = ClientKey::of("2001:db8::1".parse().unwrap());
        let same_network = ClientKey::of("2001:db8::2".parse().unwrap());
        let a = counter.try_acquire(key).expect("first");
        let _b = counter.try_acquire(same_network).expect("second");
        assert!(counter.try_acquire(key).is_none(), "third is over the cap");
        drop(a);
        assert!(counter.try_acquire(key).is_some());
        let other = ClientKey::of("192.0.2.1".parse().unwrap());
        assert!(counter.try_acquire(other).is_some());
    }

    #[test]
    fn slow_headers_and_idle_connections_are_judged_apart() {
        let config = HttpConfig {
            header_read_timeout: Duration::from_millis(0),
            idle_timeout: Duration::from_secs(3600),
            max_connections_per_ip: 1,
        };
        let activity = Activity::new();
        assert!(matches!(activity.verdict(&config), Verdict::Fine));
        activity.bytes_read();
        std::thread::sleep(Duration::from_millis(3));
        assert!(matches!(activity.verdict(&config), Verdict::HeadersTooSlow));
        activity.request_started();
        assert!(
            matches!(activity.verdict(&config), Verdict::Fine),
            "a request is in flight"
        );
        activity.request_finished();
        assert!(matches!(activity.verdict(&config), Verdict::Fine));
    }

    #[test]
    fn the_watchdog_sleeps_until_a_deadline_not_a_tick() {
        let config = HttpConfig {
            header_read_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(60),
            max_connections_per_ip: 1,
        };
        let activity = Activity::new();
        let idle = activity.until_next_check(&config);
        assert!(
            idle > Duration::from_secs(59) && idle <= Duration::from_millis(60_001),
            "a fresh connection is looked at when it would be idle: {idle:?}"
        );
        activity.bytes_read();
        let head = activity.until_next_check(&config);
        assert!(
            head > Duration::from_secs(9) && head <= Duration::from_millis(10_001),
            "a started head is looked at at its header deadline: {head:?}"
        );
        activity.request_started();
        assert_eq!(activity.until_next_check(&config), config.idle_timeout);
        activity.request_finished();
        assert!(activity.until_next_check(&config) > Duration::from_secs(59));
    }

    #[tokio::test]
    async fn a_head_that_starts_wakes_the_watchdog() {
        let config = HttpConfig {
            header_read_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(60),
            max_connections_per_ip: 1,
        };
        let activity = Activity::new();
        let watching = watch(&activity, &config, false);
        tokio::pin!(watching);
        assert!(
            tokio::time::timeout(Duration::from_millis(50), &mut watching)
                .await
                .is_err(),
            "nothing to look at yet"
        );
        activity.bytes_read();
        tokio::time::timeout(Duration::from_millis(500), &mut watching)
            .await
            .expect("the first byte of a request wakes the watchdog");
    }
}

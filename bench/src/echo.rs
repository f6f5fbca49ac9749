//! The floor: a bare axum WebSocket echo server on `/ws/voice/{id}`, with the socket buffer
//! settings Ballsy uses (`src/ws/mod.rs`) and served the same way (`axum::serve`, default
//! socket options), so the difference to Ballsy is Ballsy's own work per message.

use std::net::SocketAddr;

use axum::Router;
use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::response::Response;
use axum::routing::get;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// Ballsy's values (src/ws/mod.rs and the MAX_WS_MESSAGE_BYTES default).
pub const READ_BUFFER: usize = 4 * 1024;
pub const WRITE_BUFFER: usize = 4 * 1024;
pub const MAX_WRITE_BUFFER: usize = 256 * 1024;
pub const MAX_MESSAGE: usize = 16 * 1024;

pub fn router() -> Router {
    Router::new()
        .route("/ws/voice/{id}", get(upgrade))
        .route("/health", get(|| async { "ok" }))
}

async fn upgrade(upgrade: WebSocketUpgrade) -> Response {
    upgrade
        .read_buffer_size(READ_BUFFER)
        .write_buffer_size(WRITE_BUFFER)
        .max_write_buffer_size(MAX_WRITE_BUFFER)
        .max_message_size(MAX_MESSAGE)
        .max_frame_size(MAX_MESSAGE)
        .on_upgrade(echo)
}

/// Every text frame goes straight back; anything else is ignored until the client closes.
async fn echo(mut socket: WebSocket) {
    while let Some(Ok(message)) = socket.recv().await {
        match message {
            Message::Text(text) => {
                if socket.send(Message::Text(text)).await.is_err() {
                    return;
                }
            }
            Message::Close(_) => return,
            Message::Binary(_) | Message::Ping(_) | Message::Pong(_) => {}
        }
    }
}

/// An echo server running in this process.
pub struct EchoServer {
    addr: SocketAddr,
    stop: watch::Sender<bool>,
    task: JoinHandle<()>,
}

impl EchoServer {
    pub async fn start(addr: SocketAddr) -> anyhow::Result<Self> {
        let listener = TcpListener::bind(addr).await?;
        let addr = listener.local_addr()?;
        let (stop, mut stopped) = watch::channel(false);
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, router())
                .with_graceful_shutdown(async move {
                    let _ = stopped.wait_for(|s| *s).await;
                })
                .await;
        });
        Ok(Self { addr, stop, task })
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `ws://127.0.0.1:PORT`
    pub fn ws_base(&self) -> String {
        format!("ws://{}", self.addr)
    }

    pub fn stop(self) {
        self.stop.send_replace(true);
        self.task.abort();
    }
}

//! Opening voice sockets and getting session tokens.

use std::sync::Arc;

use anyhow::{Context as _, bail};
use serde::{Deserialize, Serialize};
use tokio::net::TcpStream;
use tokio::sync::Semaphore;
use tokio_tungstenite::tungstenite::client::IntoClientRequest as _;
use tokio_tungstenite::tungstenite::http::HeaderValue;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

/// Read and write buffer of each client socket.
const CLIENT_BUFFER: usize = 4 * 1024;

/// A client's voice socket.
pub type Ws = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// How clients identify themselves on the voice socket.
#[derive(Debug, Clone, Default)]
pub enum Auth {
    /// No credential: Ballsy creates an anonymous identity at the upgrade (and the echo floor
    /// ignores identity anyway).
    #[default]
    None,
    /// `POST /api/session` once per client and send `Authorization: Bearer <token>`, so every
    /// client is its own user and its commands can be checked in the database.
    PerClientSession,
    /// Every connection presents this one session (cheap for many idle sockets).
    Shared(Credentials),
}

/// A session from `POST /api/session`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Credentials {
    pub token: String,
    pub user_id: String,
}

/// `ws://host:port` -> `http://host:port` (and `wss` -> `https`), for the HTTP API next to the
/// socket.
pub fn http_base(url_base: &str) -> String {
    let trimmed = url_base.trim_end_matches('/');
    if let Some(rest) = trimmed.strip_prefix("wss://") {
        format!("https://{rest}")
    } else if let Some(rest) = trimmed.strip_prefix("ws://") {
        format!("http://{rest}")
    } else {
        trimmed.to_owned()
    }
}

/// Creates sessions over HTTP with bounded parallelism (a burst of hundreds of `POST`s would
/// otherwise queue on the server's database pool and time out).
#[derive(Clone)]
pub struct SessionFactory {
    client: reqwest::Client,
    url: String,
    permits: Arc<Semaphore>,
}

impl SessionFactory {
    pub fn new(url_base: &str, parallel: usize) -> Self {
        Self {
            client: reqwest::Client::builder()
                .tcp_nodelay(true)
                .build()
                .unwrap_or_default(),
            url: format!("{}/api/session", http_base(url_base)),
            permits: Arc::new(Semaphore::new(parallel.max(1))),
        }
    }

    pub async fn create(&self) -> anyhow::Result<Credentials> {
        let _permit = self.permits.acquire().await?;
        let response = self
            .client
            .post(&self.url)
            .send()
            .await
            .with_context(|| format!("POST {}", self.url))?;
        let status = response.status();
        if !status.is_success() {
            let body = response.text().await.unwrap_or_default();
            bail!("POST {} answered {status}: {body}", self.url);
        }
        response
            .json::<Credentials>()
            .await
            .with_context(|| format!("POST {}: unexpected body", self.url))
    }
}

/// The credentials a client uses, per [`Auth`]: `None` for none.
pub async fn credentials_for(
    auth: &Auth,
    sessions: &SessionFactory,
) -> anyhow::Result<Option<Credentials>> {
    match auth {
        Auth::None => Ok(None),
        Auth::Shared(credentials) => Ok(Some(credentials.clone())),
        Auth::PerClientSession => sessions.create().await.map(Some),
    }
}

/// Opens `<url_base>/ws/voice/<client_id>` with Nagle off on our side (the server's side is
/// whatever the server does; that is part of what is measured).
pub async fn connect(
    url_base: &str,
    client_id: &str,
    credentials: Option<&Credentials>,
) -> anyhow::Result<Ws> {
    let url = format!("{}/ws/voice/{client_id}", url_base.trim_end_matches('/'));
    let mut request = url
        .as_str()
        .into_client_request()
        .with_context(|| format!("bad WebSocket URL {url}"))?;
    if let Some(credentials) = credentials {
        let value = HeaderValue::from_str(&format!("Bearer {}", credentials.token))
            .context("token is not a valid header value")?;
        request.headers_mut().insert("authorization", value);
    }
    // Small buffers, as the server uses: tungstenite's default 128 KiB read buffer per socket
    // would make 10,000 idle client sockets cost the load generator over a gigabyte.
    let config = WebSocketConfig::default()
        .read_buffer_size(CLIENT_BUFFER)
        .write_buffer_size(CLIENT_BUFFER);
    let (ws, _response) = tokio_tungstenite::connect_async_with_config(request, Some(config), true)
        .await
        .with_context(|| format!("connecting {url}"))?;
    Ok(ws)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn http_base_follows_the_socket_scheme() {
        assert_eq!(http_base("ws://127.0.0.1:8080"), "http://127.0.0.1:8080");
        assert_eq!(http_base("ws://127.0.0.1:8080/"), "http://127.0.0.1:8080");
        assert_eq!(http_base("wss://ballsy.run.app"), "https://ballsy.run.app");
        assert_eq!(http_base("http://already"), "http://already");
    }
}

//! Access tokens for Vertex AI from the Cloud Run metadata server.
//!
//! On Cloud Run the service account's OAuth token is one unauthenticated GET away, so
//! production can call Gemini through Vertex AI with no API key at all. Tokens live about an
//! hour; we cache one and fetch a new one shortly before it expires. A single async mutex makes
//! concurrent turns share one fetch instead of stampeding the metadata server.

use std::time::Duration;

use serde::Deserialize;
use tokio::sync::Mutex;
use tokio::time::Instant;

use super::AiError;

/// Refresh this long before the token's stated expiry.
const REFRESH_MARGIN: Duration = Duration::from_secs(300);
const FETCH_TIMEOUT: Duration = Duration::from_secs(5);

pub(crate) struct TokenSource {
    http: reqwest::Client,
    url: String,
    cached: Mutex<Option<CachedToken>>,
}

struct CachedToken {
    token: String,
    refresh_at: Instant,
}

#[derive(Deserialize)]
struct TokenResponse {
    access_token: String,
    expires_in: u64,
}

impl TokenSource {
    pub(crate) fn new(http: reqwest::Client, metadata_host: &str) -> Self {
        Self {
            http,
            url: format!(
                "http://{metadata_host}/computeMetadata/v1/instance/service-accounts/default/token"
            ),
            cached: Mutex::new(None),
        }
    }

    pub(crate) async fn token(&self) -> Result<String, AiError> {
        let mut cached = self.cached.lock().await;
        if let Some(token) = cached.as_ref().filter(|t| Instant::now() < t.refresh_at) {
            return Ok(token.token.clone());
        }
        let fetched = self.fetch().await?;
        let lifetime = Duration::from_secs(fetched.expires_in);
        let token = fetched.access_token;
        *cached = Some(CachedToken {
            token: token.clone(),
            refresh_at: Instant::now() + lifetime.saturating_sub(REFRESH_MARGIN),
        });
        Ok(token)
    }

    /// Forgets the cached token, after the API rejected it.
    pub(crate) async fn invalidate(&self) {
        *self.cached.lock().await = None;
    }

    async fn fetch(&self) -> Result<TokenResponse, AiError> {
        let response = tokio::time::timeout(
            FETCH_TIMEOUT,
            self.http
                .get(&self.url)
                .header("Metadata-Flavor", "Google")
                .send(),
        )
        .await
        .map_err(|_| AiError::Timeout("metadata server"))?
        .map_err(|e| AiError::Auth(format!("metadata server unreachable: {e}")))?;
        if !response.status().is_success() {
            return Err(AiError::Auth(format!(
                "metadata server answered {}",
                response.status()
            )));
        }
        let token: TokenResponse = response
            .json()
            .await
            .map_err(|e| AiError::Auth(format!("unexpected metadata token response: {e}")))?;
        if token.access_token.is_empty() {
            return Err(AiError::Auth(
                "metadata server returned an empty token".into(),
            ));
        }
        Ok(token)
    }
}

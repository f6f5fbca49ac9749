//! Building and running the server: shared state, background tasks, graceful shutdown.
//!
//! `Application::build` binds the listener and wires everything the way production does;
//! tests call it with port 0 and their own store, model and configuration.

use std::net::SocketAddr;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use axum::serve::ListenerExt;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::ai::{self, ChatModel};
use crate::config::{Config, CorsOrigins};
use crate::limits::{Limits, SWEEP_INTERVAL};
use crate::store::Store;

/// Delay between migration attempts while the database is unreachable at start.
const MIGRATION_RETRY: Duration = Duration::from_secs(2);
const PRUNE_INTERVAL: Duration = Duration::from_secs(3600);

/// Everything a request handler needs; cheap to clone.
#[derive(Clone)]
pub struct AppState {
    inner: Arc<Inner>,
}

struct Inner {
    config: Config,
    store: Store,
    model: Arc<dyn ChatModel>,
    limits: Limits,
    shutdown: CancellationToken,
    /// Open WebSocket sessions; shutdown waits for them (axum does not wait for upgraded
    /// connections).
    sessions: TaskTracker,
    /// True once the schema is known to be current; `/ready` stays 503 until then and requests
    /// that need the database wait for it (see `wait_until_migrated`).
    migrated: watch::Sender<bool>,
    /// When sessions must have closed their sockets, once shutdown has begun.
    shutdown_deadline: OnceLock<Instant>,
}

impl AppState {
    pub fn new(config: Config, store: Store, model: Arc<dyn ChatModel>) -> Self {
        let limits = Limits::new(&config, store.clone());
        let migrated = !config.migrate_on_start;
        Self {
            inner: Arc::new(Inner {
                config,
                store,
                model,
                limits,
                shutdown: CancellationToken::new(),
                sessions: TaskTracker::new(),
                migrated: watch::Sender::new(migrated),
                shutdown_deadline: OnceLock::new(),
            }),
        }
    }

    pub fn config(&self) -> &Config {
        &self.inner.config
    }

    pub fn store(&self) -> &Store {
        &self.inner.store
    }

    pub fn model(&self) -> &Arc<dyn ChatModel> {
        &self.inner.model
    }

    pub fn limits(&self) -> &Limits {
        &self.inner.limits
    }

    pub fn shutdown_token(&self) -> &CancellationToken {
        &self.inner.shutdown
    }

    pub fn sessions(&self) -> &TaskTracker {
        &self.inner.sessions
    }

    pub fn is_migrated(&self) -> bool {
        *self.inner.migrated.borrow()
    }

    /// Waits up to `limit` for migrations at start to finish. On a cold start the first requests
    /// can arrive while they run (Cloud Run's startup probe is /health); waiting a moment beats
    /// answering them with an error.
    pub async fn wait_until_migrated(&self, limit: Duration) -> bool {
        let mut migrated = self.inner.migrated.subscribe();
        tokio::time::timeout(limit, migrated.wait_for(|done| *done))
            .await
            .is_ok_and(|result| result.is_ok())
    }

    pub fn is_draining(&self) -> bool {
        self.inner.shutdown.is_cancelled()
    }

    /// The moment in-flight replies must give up during shutdown.
    pub fn shutdown_deadline(&self) -> Option<Instant> {
        self.inner.shutdown_deadline.get().copied()
    }

    /// Starts draining: `/ready` turns 503, WebSocket sessions finish their current reply (up
    /// to the grace period) and close with 1001 so clients reconnect to another instance.
    pub fn begin_shutdown(&self) {
        let grace = self.inner.config.shutdown_grace;
        // Sessions need a moment after their deadline to store partial replies and send the
        // close frame before the process exits.
        let _ = self
            .inner
            .shutdown_deadline
            .set(Instant::now() + grace.saturating_sub(Duration::from_millis(1500)));
        self.inner.shutdown.cancel();
    }

    /// Applies migrations, retrying while the database is unreachable, until done or shutdown.
    async fn migrate_until_done(&self) {
        loop {
            match self.store().migrate().await {
                Ok(applied) => {
                    for version in &applied {
                        tracing::info!(version, "applied migration");
                    }
                    self.inner.migrated.send_replace(true);
                    return;
                }
                Err(error) => {
                    tracing::error!(%error, "could not apply migrations; retrying");
                    tokio::select! {
                        _ = self.inner.shutdown.cancelled() => return,
                        _ = tokio::time::sleep(MIGRATION_RETRY) => {}
                    }
                }
            }
        }
    }
}

/// A bound, not yet running server.
pub struct Application {
    listener: TcpListener,
    state: AppState,
}

impl Application {
    /// Builds the server the configuration describes: store, model, listener on 0.0.0.0:PORT.
    pub async fn build(config: Config) -> anyhow::Result<Self> {
        let store = Store::connect_lazy(&config.database_url, config.database_max_connections);
        let model = ai::model_from_config(&config)?;
        let addr = SocketAddr::from(([0, 0, 0, 0], config.port));
        Self::build_with(config, store, model, addr).await
    }

    /// Builds with explicit parts (tests use their own store and fake model).
    pub async fn build_with(
        config: Config,
        store: Store,
        model: Arc<dyn ChatModel>,
        addr: SocketAddr,
    ) -> anyhow::Result<Self> {
        let listener = TcpListener::bind(addr)
            .await
            .map_err(|e| anyhow::anyhow!("cannot listen on {addr}: {e}"))?;
        Ok(Self {
            listener,
            state: AppState::new(config, store, model),
        })
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.listener
            .local_addr()
            .expect("a bound listener has an address")
    }

    pub fn state(&self) -> AppState {
        self.state.clone()
    }

    /// Serves until `shutdown` resolves, then shuts down gracefully within the grace period.
    pub async fn run_until_stopped(
        self,
        shutdown: impl std::future::Future<Output = ()> + Send + 'static,
    ) -> anyhow::Result<()> {
        let state = self.state.clone();
        let config = state.config();
        announce(config, self.local_addr(), state.model().as_ref());
        if config.migrate_on_start {
            let migrating = state.clone();
            tokio::spawn(async move { migrating.migrate_until_done().await });
        }
        spawn_housekeeping(&state);

        let router = crate::http::router(state.clone());
        let draining = state.clone();
        // Nagle's algorithm would hold a small streamed delta until the client's delayed ACK
        // (40 ms or more on Linux); replies are latency-bound, so every socket sends at once.
        let listener = self.listener.tap_io(|tcp| {
            let _ = tcp.set_nodelay(true);
        });
        let server = axum::serve(
            listener,
            router.into_make_service_with_connect_info::<SocketAddr>(),
        )
        .with_graceful_shutdown(async move {
            shutdown.await;
            tracing::info!("shutting down: draining requests and WebSocket sessions");
            draining.begin_shutdown();
        });
        let mut server = tokio::spawn(async move { server.await });

        // Wait for the signal (or the server failing on its own). When the signal comes, the
        // HTTP side may finish at once (upgraded sockets are not connections axum waits for),
        // so the server's end alone never means the sessions are done.
        let mut server_result = tokio::select! {
            biased;
            _ = state.shutdown_token().cancelled() => None,
            result = &mut server => Some(result),
        };
        if !state.is_draining() {
            state.begin_shutdown();
            return match server_result {
                Some(Ok(Ok(()))) | None => Ok(()),
                Some(Ok(Err(error))) => Err(anyhow::anyhow!("server error: {error}")),
                Some(Err(error)) => Err(anyhow::anyhow!("server task failed: {error}")),
            };
        }
        let grace = config.shutdown_grace + Duration::from_millis(500);
        let deadline = Instant::now() + grace;
        state.sessions().close();
        if tokio::time::timeout_at(deadline, state.sessions().wait())
            .await
            .is_err()
        {
            tracing::warn!("some WebSocket sessions did not close in time");
        }
        if server_result.is_none() {
            server_result = tokio::time::timeout_at(deadline, server).await.ok();
        }
        match server_result {
            Some(Ok(Ok(()))) => {}
            Some(Ok(Err(error))) => tracing::error!(%error, "server error"),
            Some(Err(error)) => tracing::error!(%error, "server task failed"),
            None => tracing::warn!("some HTTP requests did not finish in time"),
        }
        // Pending writes are flushed before the pool closes; bounded so exit stays in time.
        let _ = tokio::time::timeout(Duration::from_secs(1), state.store().close()).await;
        tracing::info!("stopped");
        Ok(())
    }
}

fn announce(config: &Config, addr: SocketAddr, model: &dyn ChatModel) {
    let url = if addr.ip().is_unspecified() {
        format!("http://localhost:{}", addr.port())
    } else {
        format!("http://{addr}")
    };
    let assistant = if model.source() == "offline" {
        "offline assistant (set GEMINI_API_KEY to answer open questions with Gemini)".to_owned()
    } else {
        format!("Gemini model {}", model.model_name())
    };
    tracing::info!(
        target: crate::telemetry::STARTUP_TARGET,
        url = %url,
        port = addr.port(),
        database = %config.database_url.describe(),
        revision = config.cloud_run_revision.as_deref().unwrap_or(""),
        "Ballsy is listening on {url} with the {assistant}"
    );
    if config.cors_origins == CorsOrigins::Any && config.on_cloud_run() {
        tracing::warn!(
            "CORS_ORIGINS=* allows every site to call this API; use it only for local development"
        );
    }
    if !config.rate_limit.enabled {
        tracing::warn!("rate limiting is disabled (RATE_LIMIT_ENABLED=false)");
    }
    if let crate::store::url::DatabaseUrl::Postgres(target) = &config.database_url
        && !target.ignored_params.is_empty()
    {
        tracing::warn!(params = ?target.ignored_params, "DATABASE_URL parameters ignored");
    }
}

fn spawn_housekeeping(state: &AppState) {
    let sweeping = state.clone();
    tokio::spawn(async move {
        let mut ticker = tokio::time::interval(SWEEP_INTERVAL);
        let mut last_prune = Instant::now();
        loop {
            tokio::select! {
                _ = sweeping.shutdown_token().cancelled() => return,
                _ = ticker.tick() => {}
            }
            sweeping.limits().sweep();
            if last_prune.elapsed() >= PRUNE_INTERVAL {
                last_prune = Instant::now();
                let yesterday = (chrono::Utc::now() - chrono::Duration::days(1))
                    .format("%Y-%m-%d")
                    .to_string();
                if let Err(error) = sweeping
                    .store()
                    .prune(&yesterday, chrono::Utc::now().timestamp_millis())
                    .await
                {
                    tracing::warn!(%error, "could not prune old counters");
                }
            }
        }
    });
}

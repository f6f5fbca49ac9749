//! Building and running the server: background tasks and graceful shutdown.
//!
//! `Application::build` binds the listener and wires everything from the configuration, the
//! same for production and tests (tests differ only in their configuration: port 0, a test
//! database, the fake Gemini's URL).

use std::net::SocketAddr;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::time::Instant;

use crate::ai::{self, ChatModel};
use crate::config::{Config, CorsOrigins};
use crate::conversation::Source;
use crate::limits::SWEEP_INTERVAL;
use crate::state::AppState;
use crate::store::{SessionPolicy, Store};

/// Delay between migration attempts while the database is unreachable at start.
const MIGRATION_RETRY: Duration = Duration::from_secs(2);
/// How often old data is swept: counters, unused identities, expired sessions, and turns past
/// the retention period.
const PRUNE_INTERVAL: Duration = Duration::from_secs(3600);

/// Applies migrations, retrying while the database is unreachable, until done or shutdown.
async fn migrate_until_done(state: &AppState) {
    loop {
        match state.store().migrate().await {
            Ok(applied) => {
                for version in &applied {
                    tracing::info!(version, "applied migration");
                }
                state.set_migrated();
                return;
            }
            Err(error) => {
                tracing::error!(%error, "could not apply migrations; retrying");
                tokio::select! {
                    _ = state.shutdown_token().cancelled() => return,
                    _ = tokio::time::sleep(MIGRATION_RETRY) => {}
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
        let policy = SessionPolicy {
            ttl: chrono::Duration::from_std(config.session_ttl)?,
            ..SessionPolicy::default()
        };
        let store = Store::connect_lazy_with(
            &config.database_url,
            config.database_max_connections,
            policy,
        );
        let model = ai::model_from_config(&config)?;
        let addr = SocketAddr::from(([0, 0, 0, 0], config.port));
        let listener = TcpListener::bind(addr)
            .await
            .map_err(|e| anyhow::anyhow!("cannot listen on {addr}: {e}"))?;
        Ok(Self {
            listener,
            state: AppState::new(config, store, model)?,
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
            tokio::spawn(async move { migrate_until_done(&migrating).await });
        }
        spawn_housekeeping(&state);
        // The sweep reads the timers table, which a cold start may still be creating in the
        // background: it starts once the schema is current.
        let sweeping = state.clone();
        tokio::spawn(async move {
            let shutdown = sweeping.shutdown_token().clone();
            tokio::select! {
                _ = shutdown.cancelled() => return,
                _ = sweeping.migrated() => {}
            }
            let sweeper = sweeping.skills().sweeper().clone();
            if sweeping.store().is_postgres() {
                tokio::spawn(sweeper.clone().listen(shutdown.clone()));
            }
            sweeper.run(shutdown).await;
        });

        let router = crate::http::router(state.clone());
        let serving = state.shutdown_token().clone();
        let http = config.http;
        // Behind a proxy every peer is the proxy; the per-network cap then counts sockets.
        let cap_peers = !config.trust_proxy && config.rate_limit.enabled;
        let listener = self.listener;
        let mut server = tokio::spawn(async move {
            crate::net::serve(listener, router, http, cap_peers, serving).await
        });
        let draining = state.clone();
        tokio::spawn(async move {
            shutdown.await;
            tracing::info!("shutting down: draining requests and WebSocket sessions");
            draining.begin_shutdown();
        });

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
    let assistant = if model.source() == Source::Offline {
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
    if config.cors_origins == CorsOrigins::Any {
        tracing::warn!(
            "CORS_ORIGINS=* lets every site call this API and open the voice WebSocket with its visitors' cookies; use it only for local development"
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
        let mut last_prune: Option<Instant> = None;
        loop {
            tokio::select! {
                _ = sweeping.shutdown_token().cancelled() => return,
                _ = ticker.tick() => {}
            }
            sweeping.limits().sweep();
            if last_prune.is_some_and(|at| at.elapsed() < PRUNE_INTERVAL) || !sweeping.is_migrated()
            {
                continue;
            }
            last_prune = Some(Instant::now());
            prune(&sweeping).await;
        }
    });
}

/// Deletes what nobody will read again. Each step logs its own failure and the others still
/// run.
pub async fn prune(state: &AppState) {
    let store = state.store();
    let now = chrono::Utc::now();
    let yesterday = (now - chrono::Duration::days(1))
        .format("%Y-%m-%d")
        .to_string();
    if let Err(error) = store
        .prune_counters(&yesterday, now.timestamp_millis())
        .await
    {
        tracing::warn!(%error, "could not prune old counters");
    }
    match store.prune_identities(now).await {
        Ok(pruned) if pruned.users + pruned.sessions > 0 => {
            tracing::info!(
                users = pruned.users,
                sessions = pruned.sessions,
                "pruned identities"
            );
        }
        Ok(_) => {}
        Err(error) => tracing::warn!(%error, "could not prune identities"),
    }
    if let Some(retention) = state.config().retention
        && let Ok(retention) = chrono::Duration::from_std(retention)
    {
        match store.delete_turns_before(now - retention).await {
            Ok(0) => {}
            Ok(deleted) => {
                tracing::info!(deleted, "deleted conversations past the retention period")
            }
            Err(error) => tracing::warn!(%error, "could not apply the retention period"),
        }
    }
}

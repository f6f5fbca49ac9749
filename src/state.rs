//! The state every handler shares, in its own module so that the transports (`http`, `ws`)
//! depend on it and not on each other or on the server that wires them.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::watch;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::ai::ChatModel;
use crate::config::Config;
use crate::conversation::Source;
use crate::hub::Hub;
use crate::limits::Limits;
use crate::live::LiveClient;
use crate::net::ConnectionCounter;
use crate::skills::Skills;
use crate::store::Store;
use crate::turns::{TurnPolicy, Turns};
use crate::weather::{WeatherClient, WeatherConfig};

/// How long a `/ready` answer is reused: probes and load balancers may ask often, and each
/// check is a database round trip.
const READY_CACHE: Duration = Duration::from_secs(1);

/// Resolves when a shutdown's drain deadline passes: the moment in-flight replies give up.
#[derive(Clone)]
pub struct Drain {
    deadline: watch::Receiver<Option<Instant>>,
}

impl Drain {
    pub fn from_receiver(deadline: watch::Receiver<Option<Instant>>) -> Self {
        Self { deadline }
    }

    /// Never resolves while the server is not shutting down.
    pub async fn deadline_passed(&self) {
        let mut deadline = self.deadline.clone();
        let Ok(at) = deadline.wait_for(Option::is_some).await.map(|d| *d) else {
            return std::future::pending().await;
        };
        if let Some(at) = at {
            tokio::time::sleep_until(at).await;
        }
    }

    pub fn deadline(&self) -> Option<Instant> {
        *self.deadline.borrow()
    }
}

/// Everything a request handler needs; cheap to clone.
#[derive(Clone)]
pub struct AppState {
    inner: Arc<Inner>,
}

struct Inner {
    config: Config,
    store: Store,
    limits: Limits,
    turns: Turns,
    shutdown: CancellationToken,
    drain: watch::Sender<Option<Instant>>,
    /// Open WebSocket sessions; shutdown waits for them (axum does not wait for upgraded
    /// connections).
    sessions: TaskTracker,
    /// Open WebSockets per client network (the per-IP cap behind a proxy).
    sockets: ConnectionCounter,
    skills: Skills,
    /// Gemini Live, when a model is configured (None: the Live socket refuses).
    live: Option<LiveClient>,
    /// True once the schema is known to be current; `/ready` stays 503 until then and requests
    /// that need the database wait for it (see `wait_until_migrated`).
    migrated: watch::Sender<bool>,
    ready: Mutex<Option<(Instant, bool)>>,
}

impl AppState {
    pub fn new(config: Config, store: Store, model: Arc<dyn ChatModel>) -> anyhow::Result<Self> {
        let limits = Limits::new(&config, store.clone());
        let migrated = !config.migrate_on_start;
        let (drain, deadline) = watch::channel(None);
        let weather = WeatherClient::new(WeatherConfig {
            forecast_base_url: config.weather_base_url.clone(),
            geocoding_base_url: config.geocoding_base_url.clone(),
            ..WeatherConfig::default()
        })?;
        let skills = Skills::new(store.clone(), weather, Hub::default());
        let turns = Turns::new(
            store.clone(),
            model,
            limits.clone(),
            skills.clone(),
            TurnPolicy {
                persona: config.persona.clone(),
                context_messages: config.context_turns,
                grounding: config.grounding,
            },
            Drain { deadline },
        );
        let sockets = ConnectionCounter::new(config.http.max_connections_per_ip);
        let live = LiveClient::from_config(&config)?;
        Ok(Self {
            inner: Arc::new(Inner {
                config,
                store,
                limits,
                turns,
                shutdown: CancellationToken::new(),
                drain,
                sessions: TaskTracker::new(),
                sockets,
                skills,
                live,
                migrated: watch::Sender::new(migrated),
                ready: Mutex::new(None),
            }),
        })
    }

    pub fn config(&self) -> &Config {
        &self.inner.config
    }

    pub fn store(&self) -> &Store {
        &self.inner.store
    }

    pub fn model(&self) -> &Arc<dyn ChatModel> {
        self.inner.turns.model()
    }

    pub fn is_offline(&self) -> bool {
        self.model().source() == Source::Offline
    }

    pub fn limits(&self) -> &Limits {
        &self.inner.limits
    }

    pub fn turns(&self) -> &Turns {
        &self.inner.turns
    }

    pub fn shutdown_token(&self) -> &CancellationToken {
        &self.inner.shutdown
    }

    pub fn sessions(&self) -> &TaskTracker {
        &self.inner.sessions
    }

    pub fn sockets(&self) -> &ConnectionCounter {
        &self.inner.sockets
    }

    pub fn hub(&self) -> &Hub {
        self.inner.skills.hub()
    }

    pub fn skills(&self) -> &Skills {
        &self.inner.skills
    }

    pub fn live(&self) -> Option<&LiveClient> {
        self.inner.live.as_ref()
    }

    pub fn drain(&self) -> Drain {
        Drain {
            deadline: self.inner.drain.subscribe(),
        }
    }

    pub fn is_migrated(&self) -> bool {
        *self.inner.migrated.borrow()
    }

    pub fn set_migrated(&self) {
        self.inner.migrated.send_replace(true);
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
        *self.inner.drain.borrow()
    }

    /// Starts draining: `/ready` turns 503, in-flight replies may finish until the drain
    /// deadline (then they are cancelled as a shutdown), and sockets close with 1001 so clients
    /// reconnect to another instance.
    pub fn begin_shutdown(&self) {
        let grace = self.inner.config.shutdown_grace;
        // Turns need a moment after their deadline to store what was said and answer before the
        // process exits.
        self.inner.drain.send_if_modified(|deadline| {
            if deadline.is_some() {
                return false;
            }
            *deadline = Some(Instant::now() + grace.saturating_sub(Duration::from_millis(1500)));
            true
        });
        self.inner.shutdown.cancel();
    }

    /// The database check of `/ready`, reused for a second.
    pub async fn database_ready(&self, timeout: Duration) -> bool {
        let cached = *self.inner.ready.lock().unwrap_or_else(|p| p.into_inner());
        if let Some((at, ready)) = cached
            && at.elapsed() < READY_CACHE
        {
            return ready;
        }
        let ready = match tokio::time::timeout(timeout, self.store().ping()).await {
            Ok(Ok(())) => true,
            Ok(Err(error)) => {
                tracing::warn!(%error, "readiness check failed");
                false
            }
            Err(_) => {
                tracing::warn!("readiness check timed out");
                false
            }
        };
        *self.inner.ready.lock().unwrap_or_else(|p| p.into_inner()) = Some((Instant::now(), ready));
        ready
    }
}

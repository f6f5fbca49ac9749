//! Many idle voice sockets, held open (answering the server's pings) until dropped.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use futures_util::StreamExt as _;
use tokio::sync::{Semaphore, mpsc};
use tokio::task::JoinSet;
use tokio::time::Instant;

use super::conn::{self, Auth, SessionFactory};

#[derive(Debug, Clone)]
pub struct IdleLoad {
    pub url_base: String,
    pub connections: usize,
    /// New connections per second (opening 10,000 at once would measure the accept queue,
    /// not idle memory).
    pub connect_rate: f64,
    /// Handshakes in progress at once.
    pub parallel: usize,
    /// `Auth::Shared` keeps set-up cheap; `PerClientSession` creates a user per socket.
    pub auth: Auth,
    /// Client ids are `<prefix>-<i>`.
    pub client_id_prefix: String,
}

impl IdleLoad {
    pub fn new(url_base: impl Into<String>, connections: usize) -> Self {
        Self {
            url_base: url_base.into(),
            connections,
            connect_rate: 2000.0,
            parallel: 64,
            auth: Auth::None,
            client_id_prefix: "idle".to_owned(),
        }
    }
}

/// The open sockets. Dropping it closes them all (their tasks are aborted).
pub struct IdleHandle {
    pub opened: usize,
    pub failed: usize,
    /// The first few failure messages.
    pub failures: Vec<String>,
    /// Time to open all of them.
    pub elapsed: Duration,
    closed: Arc<AtomicUsize>,
    tasks: JoinSet<()>,
}

impl IdleHandle {
    /// Sockets the server has closed since they opened.
    pub fn closed_by_server(&self) -> usize {
        self.closed.load(Ordering::SeqCst)
    }

    pub fn still_open(&self) -> usize {
        self.opened.saturating_sub(self.closed_by_server())
    }

    /// Closes every socket (abruptly: the server sees the TCP connection end) and waits for
    /// the tasks to finish.
    pub async fn close(mut self) {
        self.tasks.abort_all();
        while self.tasks.join_next().await.is_some() {}
    }
}

impl std::fmt::Debug for IdleHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IdleHandle")
            .field("opened", &self.opened)
            .field("failed", &self.failed)
            .field("closed_by_server", &self.closed_by_server())
            .finish()
    }
}

/// Opens the sockets at `connect_rate` and returns once every attempt finished.
pub async fn hold_idle(opts: IdleLoad) -> IdleHandle {
    let started = Instant::now();
    let sessions = SessionFactory::new(&opts.url_base, 16);
    let permits = Arc::new(Semaphore::new(opts.parallel.max(1)));
    let closed = Arc::new(AtomicUsize::new(0));
    let (results, mut results_rx) = mpsc::unbounded_channel::<Result<(), String>>();
    let mut tasks = JoinSet::new();
    let rate = opts.connect_rate.max(1.0);
    for i in 0..opts.connections {
        tokio::time::sleep_until(started + Duration::from_secs_f64(i as f64 / rate)).await;
        let Ok(permit) = permits.clone().acquire_owned().await else {
            break;
        };
        let (url, prefix, auth) = (
            opts.url_base.clone(),
            opts.client_id_prefix.clone(),
            opts.auth.clone(),
        );
        let (sessions, closed, results) = (sessions.clone(), closed.clone(), results.clone());
        tasks.spawn(async move {
            let connected = async {
                let credentials = conn::credentials_for(&auth, &sessions).await?;
                conn::connect(&url, &format!("{prefix}-{i}"), credentials.as_ref()).await
            }
            .await;
            drop(permit);
            // Report, then let go of the sender: the caller waits for all senders to drop.
            let report = connected.as_ref().map(|_| ()).map_err(|e| format!("{e:#}"));
            let _ = results.send(report);
            drop(results);
            let Ok(mut ws) = connected else {
                return;
            };
            // Reading answers the server's pings (tungstenite queues the pong and flushes it
            // on the next read); the loop ends when the server closes the socket.
            while let Some(Ok(_)) = ws.next().await {}
            closed.fetch_add(1, Ordering::SeqCst);
        });
    }
    drop(results);
    let (mut opened, mut failed, mut failures) = (0, 0, Vec::new());
    while let Some(result) = results_rx.recv().await {
        match result {
            Ok(()) => opened += 1,
            Err(message) => {
                failed += 1;
                if failures.len() < 10 {
                    failures.push(message);
                }
            }
        }
    }
    IdleHandle {
        opened,
        failed,
        failures,
        elapsed: started.elapsed(),
        closed,
        tasks,
    }
}

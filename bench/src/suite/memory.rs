//! Scenario 4: resident memory idle and with 10,000 idle WebSocket connections open, for
//! Ballsy on each backend and for the echo floor.

use std::time::Duration;

use serde::Serialize;

use super::db::DbTarget;
use super::{BallsyEnv, Check, Measured, Settings, start_ballsy, start_echo, stop};
use crate::loadgen::{Auth, IdleLoad, SessionFactory, hold_idle};
use crate::process::{ProcStatus, ServerProcess};

const SCENARIO: &str = "4. memory";
/// Targets in decimal megabytes.
const IDLE_TARGET_MB: f64 = 25.0;
const LOADED_TARGET_MB: f64 = 150.0;
/// Let allocations settle (pings, buffers) before reading RSS.
const SETTLE: Duration = Duration::from_secs(2);
const CONNECT_RATE: f64 = 2500.0;

#[derive(Debug, Clone, Serialize)]
pub struct MemoryResult {
    pub connections: usize,
    pub servers: Vec<MemoryRun>,
}

#[derive(Debug, Clone, Serialize)]
pub struct MemoryRun {
    pub name: String,
    /// `None` for the floor.
    pub target: Option<DbTarget>,
    /// Ready, nothing connected yet.
    pub idle: ProcStatus,
    /// With the connections open.
    pub loaded: ProcStatus,
    /// Some seconds after they all closed.
    pub after_close: ProcStatus,
    pub opened: usize,
    pub failed: usize,
    pub failures: Vec<String>,
    /// Still open when `loaded` was read (the server closed none).
    pub open_at_measurement: usize,
    pub connect_secs: f64,
    /// (loaded − idle) / opened.
    pub per_connection_kib: f64,
}

/// KiB (what /proc reports) to decimal megabytes.
pub fn mb(kib: u64) -> f64 {
    kib as f64 * 1024.0 / 1e6
}

impl Measured for MemoryResult {
    fn render(&self, report: &mut String) {
        super::report::memory(self, report);
    }

    fn checks(&self) -> Vec<Check> {
        let mut checks = Vec::new();
        for run in &self.servers {
            let Some(target) = run.target else { continue };
            checks.push(Check::new(
                SCENARIO,
                format!("{}: RSS idle ≤ 25 MB", target.label()),
                format!("{:.1} MB", mb(run.idle.rss_kib)),
                mb(run.idle.rss_kib) <= IDLE_TARGET_MB,
            ));
            checks.push(Check::new(
                SCENARIO,
                format!(
                    "{}: RSS with {} idle WebSockets ≤ 150 MB",
                    target.label(),
                    self.connections
                ),
                format!(
                    "{:.1} MB ({} open, {:.1} KiB each; peak {:.1} MB)",
                    mb(run.loaded.rss_kib),
                    run.open_at_measurement,
                    run.per_connection_kib,
                    mb(run.loaded.hwm_kib)
                ),
                mb(run.loaded.rss_kib) <= LOADED_TARGET_MB
                    && run.open_at_measurement == self.connections,
            ));
        }
        checks
    }
}

async fn measure(
    name: &str,
    target: Option<DbTarget>,
    server: &ServerProcess,
    connections: usize,
    auth: Auth,
) -> anyhow::Result<MemoryRun> {
    tokio::time::sleep(Duration::from_secs(1)).await;
    let idle = server.status()?;
    let mut load = IdleLoad::new(server.ws_base(), connections);
    load.connect_rate = CONNECT_RATE;
    load.auth = auth;
    let handle = hold_idle(load).await;
    tokio::time::sleep(SETTLE).await;
    let loaded = server.status()?;
    let open = handle.still_open();
    let (opened, failed, failures, connect_secs) = (
        handle.opened,
        handle.failed,
        handle.failures.clone(),
        handle.elapsed.as_secs_f64(),
    );
    handle.close().await;
    tokio::time::sleep(SETTLE).await;
    let after_close = server.status()?;
    let per_connection_kib = if opened > 0 {
        loaded.rss_kib.saturating_sub(idle.rss_kib) as f64 / opened as f64
    } else {
        0.0
    };
    eprintln!(
        "   {name}: idle {:.1} MB, {opened} open {:.1} MB ({per_connection_kib:.1} KiB each), after close {:.1} MB; {failed} failed",
        mb(idle.rss_kib),
        mb(loaded.rss_kib),
        mb(after_close.rss_kib)
    );
    Ok(MemoryRun {
        name: name.to_owned(),
        target,
        idle,
        loaded,
        after_close,
        opened,
        failed,
        failures,
        open_at_measurement: open,
        connect_secs,
        per_connection_kib,
    })
}

pub async fn run(settings: &Settings) -> anyhow::Result<MemoryResult> {
    let n = settings.idle_connections;
    let mut servers = Vec::new();
    for target in settings.main_targets() {
        let run = settings
            .with_database(target, async |_, url| {
                let env = BallsyEnv {
                    database_url: url,
                    gemini_base_url: None,
                    log_level: "warn",
                };
                let server = start_ballsy(settings, &env).await?;
                // One session for all sockets: set-up stays fast and memory is the sockets'.
                let credentials = SessionFactory::new(&server.ws_base(), 1).create().await?;
                let run = measure(
                    &format!("ballsy {}", target.label()),
                    Some(target),
                    &server,
                    n,
                    Auth::Shared(credentials),
                )
                .await;
                stop(server).await;
                run
            })
            .await?;
        servers.push(run);
    }
    let echo = start_echo(settings).await?;
    let run = measure("echo floor", None, &echo, n, Auth::None).await;
    stop(echo).await;
    servers.push(run?);
    Ok(MemoryResult {
        connections: n,
        servers,
    })
}

//! Scenario 3: cold start, from spawning the process to the first `200` on `/health` (and on
//! `/ready`, which waits for the migrations), on an empty SQLite file and an empty PostgreSQL
//! database.

use std::time::{Duration, Instant};

use serde::Serialize;

use super::db::DbTarget;
use super::{BallsyEnv, Check, Measured, Settings, stop};
use crate::process::{ServerProcess, free_port, poll_until_ok};

const SCENARIO: &str = "3. cold start";
const TARGET_MS: f64 = 100.0;
/// Between two probes. Connection refused costs a few microseconds, so polling this often
/// barely competes with the starting server for the CPU.
const POLL_INTERVAL: Duration = Duration::from_micros(250);
const GIVE_UP: Duration = Duration::from_secs(20);

#[derive(Debug, Clone, Serialize)]
pub struct ColdStartResult {
    pub runs_per_backend: usize,
    pub poll_interval_us: u64,
    pub backends: Vec<ColdStart>,
}

#[derive(Debug, Clone, Serialize)]
pub struct ColdStart {
    pub target: DbTarget,
    /// `sqlite`, `postgres (TCP)`, `postgres (unix socket)`.
    pub label: String,
    /// Spawn to the first 200 on /health, per run, in milliseconds.
    pub health_ms: Vec<f64>,
    /// Spawn to the first 200 on /ready (migrations applied), per run.
    pub ready_ms: Vec<f64>,
    pub health_median_ms: f64,
    pub ready_median_ms: f64,
    /// Spawn to /ready against a database already migrated (a restart), per run.
    pub ready_current_ms: Vec<f64>,
    pub ready_current_median_ms: f64,
}

impl Measured for ColdStartResult {
    fn render(&self, report: &mut String) {
        super::report::cold_start(self, report);
    }

    fn checks(&self) -> Vec<Check> {
        let mut checks = Vec::new();
        for b in &self.backends {
            checks.push(Check::new(
                SCENARIO,
                format!(
                    "{}: start to first 200 on /health ≤ 100 ms (median of {})",
                    b.label,
                    b.health_ms.len()
                ),
                format!(
                    "{:.1} ms (range {:.1}–{:.1})",
                    b.health_median_ms,
                    min(&b.health_ms),
                    max(&b.health_ms)
                ),
                b.health_median_ms <= TARGET_MS,
            ));
            checks.push(Check::new(
                SCENARIO,
                format!(
                    "{}: start to first 200 on /ready, migrations applied, ≤ 100 ms",
                    b.label
                ),
                format!(
                    "{:.1} ms (range {:.1}–{:.1})",
                    b.ready_median_ms,
                    min(&b.ready_ms),
                    max(&b.ready_ms)
                ),
                b.ready_median_ms <= TARGET_MS,
            ));
        }
        checks
    }
}

pub fn median(values: &[f64]) -> f64 {
    if values.is_empty() {
        return 0.0;
    }
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    let mid = sorted.len() / 2;
    if sorted.len().is_multiple_of(2) {
        (sorted[mid - 1] + sorted[mid]) / 2.0
    } else {
        sorted[mid]
    }
}

pub fn min(values: &[f64]) -> f64 {
    values.iter().copied().fold(f64::INFINITY, f64::min)
}

pub fn max(values: &[f64]) -> f64 {
    values.iter().copied().fold(0.0, f64::max)
}

/// One start against a new, empty database (created before the clock starts, as on Cloud
/// Run): spawn, poll /health, then /ready; both in ms since the spawn.
async fn once_empty(settings: &Settings, target: DbTarget) -> anyhow::Result<(f64, f64)> {
    settings
        .with_database(target, async |_, url| once(settings, url).await)
        .await
}

/// Starts against a database whose schema is already current (a restart): what `/ready`
/// costs without the migrations. The first start migrates and is not counted.
async fn restarts(settings: &Settings, target: DbTarget) -> anyhow::Result<Vec<f64>> {
    settings
        .with_database(target, async |_, url| {
            once(settings, url).await?;
            let mut ready = Vec::new();
            for _ in 0..settings.cold_runs.max(1) {
                ready.push(once(settings, url).await?.1);
            }
            Ok(ready)
        })
        .await
}

async fn once(settings: &Settings, database_url: &str) -> anyhow::Result<(f64, f64)> {
    let port = free_port()?;
    let env = BallsyEnv {
        database_url,
        gemini_base_url: None,
        log_level: "warn",
    };
    let server = ServerProcess::spawn("ballsy", &env.launch(&settings.ballsy_bin, port), port)?;
    let (addr, spawned, pid) = (server.addr(), server.spawned_at(), server.pid());
    let times = tokio::task::spawn_blocking(move || {
        let deadline = Instant::now() + GIVE_UP;
        let health = poll_until_ok(addr, "/health", POLL_INTERVAL, deadline, pid)?;
        let ready = poll_until_ok(addr, "/ready", POLL_INTERVAL, deadline, pid)?;
        Some((health - spawned, ready - spawned))
    })
    .await?;
    let output = server.recent_output();
    stop(server).await;
    let (health, ready) = times.ok_or_else(|| {
        anyhow::anyhow!(
            "ballsy did not become ready (within {GIVE_UP:?}); output:\n{}",
            output.join("\n")
        )
    })?;
    Ok((health.as_secs_f64() * 1000.0, ready.as_secs_f64() * 1000.0))
}

pub async fn run(settings: &Settings) -> anyhow::Result<ColdStartResult> {
    let mut backends = Vec::new();
    for target in settings.targets() {
        let (mut health_ms, mut ready_ms) = (Vec::new(), Vec::new());
        for _ in 0..settings.cold_runs.max(1) {
            let (health, ready) = once_empty(settings, target).await?;
            health_ms.push(health);
            ready_ms.push(ready);
        }
        let ready_current_ms = restarts(settings, target).await?;
        let result = ColdStart {
            target,
            label: target.label().to_owned(),
            ready_current_median_ms: median(&ready_current_ms),
            ready_current_ms,
            health_median_ms: median(&health_ms),
            ready_median_ms: median(&ready_ms),
            health_ms,
            ready_ms,
        };
        eprintln!(
            "   {}: /health {:.1} ms, /ready {:.1} ms, /ready with the schema current {:.1} ms (medians of {})",
            result.label,
            result.health_median_ms,
            result.ready_median_ms,
            result.ready_current_median_ms,
            result.health_ms.len()
        );
        backends.push(result);
    }
    Ok(ColdStartResult {
        runs_per_backend: settings.cold_runs.max(1),
        poll_interval_us: POLL_INTERVAL.as_micros() as u64,
        backends,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn medians() {
        assert_eq!(median(&[3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median(&[4.0, 1.0, 2.0, 3.0]), 2.5);
        assert_eq!(median(&[]), 0.0);
        assert_eq!(min(&[3.0, 1.5]), 1.5);
        assert_eq!(max(&[3.0, 1.5]), 3.0);
    }
}

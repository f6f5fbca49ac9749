//! Scenario 7: what the due-timer sweep costs while 10,000 timers are pending.
//!
//! Every instance runs a sweeper that sleeps until the next due time (at most 500 ms) and
//! claims what is due. Its cost must not grow with the number of pending timers: the server's
//! CPU time is measured over an idle window with none pending, then again after 500 users set
//! 20 timers each through the API (the most a user may have), none due during the window.

use std::time::{Duration, Instant};

use anyhow::Context as _;
use futures_util::StreamExt;
use serde::Serialize;
use serde_json::{Value, json};

use super::db::DbTarget;
use super::{BallsyEnv, Check, Measured, Settings, start_ballsy, stop};
use crate::process::{ServerProcess, cpu_time_precise};

const SCENARIO: &str = "7. timer sweep";
/// CPU per second of wall time the idle server may spend with the timers pending.
const TARGET_CPU_MS_PER_SEC: f64 = 1.0;
const USERS: usize = 500;
/// The per-user cap on pending timers.
const TIMERS_PER_USER: usize = 20;
const WINDOW: Duration = Duration::from_secs(10);
const SETTLE: Duration = Duration::from_secs(2);
/// Requests in flight while the timers are set.
const CONCURRENCY: usize = 32;

#[derive(Debug, Clone, Serialize)]
pub struct TimersResult {
    pub pending: usize,
    pub window_secs: f64,
    pub runs: Vec<TimerSweepRun>,
}

#[derive(Debug, Clone, Serialize)]
pub struct TimerSweepRun {
    pub target: DbTarget,
    /// Server CPU per second, idle, nothing pending.
    pub idle_cpu_ms_per_sec: f64,
    /// Server CPU per second, idle, with `pending` timers pending: the quieter of the two
    /// windows in `pending_windows`.
    pub pending_cpu_ms_per_sec: f64,
    pub pending_windows: [f64; 2],
    /// Timers the API confirmed (`action: "timer"`).
    pub timers_set: usize,
    /// Pending timers the API lists afterwards, summed over the users.
    pub timers_listed: usize,
    pub set_secs: f64,
}

impl Measured for TimersResult {
    fn render(&self, report: &mut String) {
        super::report::timers(self, report);
    }

    fn checks(&self) -> Vec<Check> {
        self.runs
            .iter()
            .map(|run| {
                Check::new(
                    SCENARIO,
                    format!(
                        "{}: idle server CPU with {} pending timers ≤ 1 ms per second",
                        run.target.label(),
                        self.pending
                    ),
                    format!(
                        "{:.3} ms/s (windows {:.3} and {:.3}; nothing pending: {:.3} ms/s); {} set, {} listed",
                        run.pending_cpu_ms_per_sec,
                        run.pending_windows[0],
                        run.pending_windows[1],
                        run.idle_cpu_ms_per_sec,
                        run.timers_set,
                        run.timers_listed
                    ),
                    run.pending_cpu_ms_per_sec <= TARGET_CPU_MS_PER_SEC
                        && run.timers_listed == self.pending,
                )
            })
            .collect()
    }
}

/// Server CPU time per second of wall time over `WINDOW`, at nanosecond resolution (the
/// 10 ms ticks of /proc/PID/stat would round a 10 s window to 1 ms/s).
async fn cpu_ms_per_sec(server: &ServerProcess) -> anyhow::Result<f64> {
    let cpu_before = cpu_time_precise(server.pid())?;
    let started = Instant::now();
    tokio::time::sleep(WINDOW).await;
    let cpu = cpu_time_precise(server.pid())?.saturating_sub(cpu_before);
    Ok(cpu.as_secs_f64() * 1e3 / started.elapsed().as_secs_f64())
}

async fn new_token(client: &reqwest::Client, base: &str) -> anyhow::Result<String> {
    let session: Value = client
        .post(format!("{base}/api/session"))
        .send()
        .await?
        .error_for_status()?
        .json()
        .await?;
    session["token"]
        .as_str()
        .map(str::to_owned)
        .context("POST /api/session gave no token")
}

async fn listed_for(client: &reqwest::Client, base: &str, token: &str) -> anyhow::Result<usize> {
    let listed: Value = client
        .get(format!("{base}/api/timers"))
        .bearer_auth(token)
        .send()
        .await?
        .error_for_status()?
        .json()
        .await?;
    Ok(listed["timers"].as_array().map_or(0, Vec::len))
}

async fn measure(target: DbTarget, server: &ServerProcess) -> anyhow::Result<TimerSweepRun> {
    let base = server.http_base();
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()?;
    tokio::time::sleep(SETTLE).await;
    let idle_cpu_ms_per_sec = cpu_ms_per_sec(server).await?;

    let started = Instant::now();
    let tokens: Vec<String> = futures_util::stream::iter(0..USERS)
        .map(|_| new_token(&client, &base))
        .buffer_unordered(CONCURRENCY)
        .collect::<Vec<_>>()
        .await
        .into_iter()
        .collect::<anyhow::Result<_>>()?;
    let set_per_user = futures_util::stream::iter(tokens.iter().enumerate())
        .map(|(user, token)| set_for(&client, &base, user, token))
        .buffer_unordered(CONCURRENCY)
        .collect::<Vec<_>>()
        .await;
    let mut timers_set = 0;
    for set in set_per_user {
        timers_set += set?;
    }
    let set_secs = started.elapsed().as_secs_f64();
    let mut timers_listed = 0;
    for token in &tokens {
        timers_listed += listed_for(&client, &base, token).await?;
    }

    // The writes' after-effects (SQLite's WAL checkpoint, PostgreSQL's autovacuum of the new
    // rows) are not the sweep's: let them pass, then take the quieter of two windows.
    tokio::time::sleep(SETTLE * 3).await;
    let first = cpu_ms_per_sec(server).await?;
    let second = cpu_ms_per_sec(server).await?;
    let pending_cpu_ms_per_sec = first.min(second);
    eprintln!(
        "   {}: {timers_set} timers set in {set_secs:.1} s, {timers_listed} listed; CPU {idle_cpu_ms_per_sec:.3} ms/s with none, {pending_cpu_ms_per_sec:.3} ms/s with them",
        target.label()
    );
    Ok(TimerSweepRun {
        target,
        idle_cpu_ms_per_sec,
        pending_cpu_ms_per_sec,
        pending_windows: [first, second],
        timers_set,
        timers_listed,
        set_secs,
    })
}

/// One user's timers: durations between 2 and 6 days, so none comes due in the window and
/// the sweeper's next due time is days away (it still wakes every 500 ms, since another
/// instance may add a sooner one).
async fn set_for(
    client: &reqwest::Client,
    base: &str,
    user: usize,
    token: &str,
) -> anyhow::Result<usize> {
    let mut set = 0;
    for n in 0..TIMERS_PER_USER {
        let hours = 48 + (user * TIMERS_PER_USER + n) % 96;
        let reply: Value = client
            .post(format!("{base}/api/command"))
            .bearer_auth(token)
            .json(&json!({ "command": format!("set a timer for {hours} hours") }))
            .send()
            .await?
            .error_for_status()?
            .json()
            .await?;
        if reply["action"] == "timer" {
            set += 1;
        }
    }
    Ok(set)
}

pub async fn run(settings: &Settings) -> anyhow::Result<TimersResult> {
    let mut runs = Vec::new();
    for target in settings.main_targets() {
        let run = settings
            .with_database(target, async |_, url| {
                let env = BallsyEnv {
                    database_url: url,
                    gemini_base_url: None,
                    log_level: "warn",
                };
                let server = start_ballsy(settings, &env).await?;
                let run = measure(target, &server).await;
                stop(server).await;
                run
            })
            .await?;
        runs.push(run);
    }
    Ok(TimersResult {
        pending: USERS * TIMERS_PER_USER,
        window_secs: WINDOW.as_secs_f64(),
        runs,
    })
}

//! Scenario 2: streaming AI replies through the fake Gemini (200 ms to the first token, 8
//! chunks 20 ms apart) at 500 concurrent sessions: the delay Ballsy adds between the fake
//! emitting a chunk and the client receiving it, against the same measurement without Ballsy.

use std::time::Duration;

use serde::Serialize;

use super::db::DbTarget;
use super::{BallsyEnv, Check, Measured, Settings, start_ballsy, stop};
use crate::fake_gemini::{FakeGemini, FakeGeminiConfig, Reply};
use crate::loadgen::{
    DirectStreamLoad, StreamLoad, StreamReport, run_direct_streams, run_streams, stats,
};
use crate::process::ProcStatus;

const SCENARIO: &str = "2. streaming";
const TTFT: Duration = Duration::from_millis(200);
const CHUNK_DELAY: Duration = Duration::from_millis(20);
const CHUNKS: usize = 8;
/// Eighteen words, so the fake splits it into 8 chunks; nothing in it reads as a non-answer
/// to the server's who/what fallback.
const REPLY: &str = "Sure thing. Here is a short spoken answer that arrives in eight separate \
streamed pieces for the benchmark.";
const QUESTION: &str = "tell me about topic {k}";
const TARGET_P99_US: u64 = 2_000;

#[derive(Debug, Clone, Serialize)]
pub struct StreamingResult {
    pub sessions: usize,
    pub questions_per_session: usize,
    pub spread_ms: u64,
    pub ttft_ms: u64,
    pub chunks: usize,
    pub chunk_delay_ms: u64,
    /// The load generator reading the fake's SSE itself, same concurrency and stagger.
    pub floor: StreamReport,
    pub floor_burst: StreamReport,
    pub runs: Vec<StreamRun>,
    /// Upstream streams the fake saw abandoned by their client (Ballsy) mid-way.
    pub fake_dropped_streams: usize,
}

#[derive(Debug, Clone, Serialize)]
pub struct StreamRun {
    pub name: String,
    pub primary: bool,
    pub target: DbTarget,
    pub spread_ms: u64,
    pub report: StreamReport,
    pub server_cpu_secs: f64,
    pub server_memory: ProcStatus,
    /// p99 added delay minus the floor's p99 (same stagger).
    pub p99_over_floor_us: i64,
}

impl Measured for StreamingResult {
    fn render(&self, report: &mut String) {
        super::report::streaming(self, report);
    }

    fn checks(&self) -> Vec<Check> {
        let mut checks = Vec::new();
        for run in self.runs.iter().filter(|r| r.primary) {
            let added = &run.report.added_delay;
            checks.push(Check::new(
                SCENARIO,
                format!("{}: p99 added delay ≤ 2 ms", run.target.label()),
                format!(
                    "{} (floor {}, {} deltas)",
                    stats::ms(added.p99_us),
                    stats::ms(self.floor.added_delay.p99_us),
                    added.count
                ),
                added.p99_us <= TARGET_P99_US && added.count > 0,
            ));
            checks.push(Check::new(
                SCENARIO,
                format!("{}: no reply lost", run.target.label()),
                format!(
                    "{} of {} complete, {} lost, {} incomplete, errors {:?}",
                    run.report.completed,
                    run.report.questions,
                    run.report.lost,
                    run.report.incomplete,
                    run.report.errors
                ),
                run.report.nothing_lost(),
            ));
        }
        checks
    }
}

fn fake_config() -> FakeGeminiConfig {
    FakeGeminiConfig {
        reply: Reply::Fixed(REPLY.to_owned()),
        ttft: TTFT,
        chunk_delay: CHUNK_DELAY,
        chunks: CHUNKS,
        stamp_chunks: true,
        ..FakeGeminiConfig::default()
    }
}

async fn floor(settings: &Settings, fake: &FakeGemini, spread: Duration) -> StreamReport {
    let report = run_direct_streams(DirectStreamLoad {
        base_url: fake.base_url(),
        model: "gemini-3.5-flash-lite".into(),
        streams: settings.stream_sessions,
        requests_per_stream: settings.stream_questions,
        question: QUESTION.into(),
        start_spread: spread,
        timeout: Duration::from_secs(30),
    })
    .await;
    eprintln!(
        "   floor (spread {} ms): added {} · {} of {} complete, max in flight {}",
        spread.as_millis(),
        report.added_delay.brief(),
        report.completed,
        report.questions,
        report.max_in_flight
    );
    report
}

async fn through_ballsy(
    settings: &Settings,
    fake: &FakeGemini,
    target: DbTarget,
    spread: Duration,
    primary: bool,
) -> anyhow::Result<StreamRun> {
    let base = fake.base_url();
    settings.with_database(target, async |_, url| {
        let env = BallsyEnv {
            database_url: url,
            gemini_base_url: Some(&base),
            log_level: "warn",
        };
        let server = start_ballsy(settings, &env).await?;
        let cpu_before = server.cpu_time()?;
        let mut load = StreamLoad::new(server.ws_base());
        load.sessions = settings.stream_sessions;
        load.questions_per_session = settings.stream_questions;
        load.question = QUESTION.into();
        load.start_spread = spread;
        load.timeout = Duration::from_secs(30);
        let report = run_streams(load).await;
        let server_cpu = server.cpu_time()?.saturating_sub(cpu_before);
        let server_memory = server.status()?;
        stop(server).await;
        let name = format!(
            "ballsy {}{}",
            target.label(),
            if spread.is_zero() {
                ", all at once"
            } else {
                ""
            }
        );
        eprintln!(
            "   {name} (spread {} ms): added {} · {} of {} complete, {} lost, errors {:?}, max in flight {}",
            spread.as_millis(),
            report.added_delay.brief(),
            report.completed,
            report.questions,
            report.lost,
            report.errors,
            report.max_in_flight
        );
        Ok(StreamRun {
            name,
            primary,
            target,
            spread_ms: spread.as_millis() as u64,
            server_cpu_secs: server_cpu.as_secs_f64(),
            server_memory,
            p99_over_floor_us: 0,
            report,
        })
    })
    .await
}

pub async fn run(settings: &Settings) -> anyhow::Result<StreamingResult> {
    let fake = FakeGemini::start(fake_config()).await?;
    let spread = Duration::from_millis(settings.stream_spread_ms);
    let floor_staggered = floor(settings, &fake, spread).await;
    let mut runs = Vec::new();
    for target in settings.main_targets() {
        runs.push(through_ballsy(settings, &fake, target, spread, true).await?);
    }
    // The worst case: every session asks at the same instant, so 500 chunks leave the fake
    // within the same millisecond, every 20 ms.
    let floor_burst = floor(settings, &fake, Duration::ZERO).await;
    runs.push(through_ballsy(settings, &fake, DbTarget::SQLITE, Duration::ZERO, false).await?);
    for run in &mut runs {
        let floor = if run.spread_ms == 0 {
            &floor_burst
        } else {
            &floor_staggered
        };
        run.p99_over_floor_us =
            run.report.added_delay.p99_us as i64 - floor.added_delay.p99_us as i64;
    }
    let dropped = fake.dropped_streams();
    fake.shutdown().await;
    Ok(StreamingResult {
        sessions: settings.stream_sessions,
        questions_per_session: settings.stream_questions,
        spread_ms: settings.stream_spread_ms,
        ttft_ms: TTFT.as_millis() as u64,
        chunks: CHUNKS,
        chunk_delay_ms: CHUNK_DELAY.as_millis() as u64,
        floor: floor_staggered,
        floor_burst,
        runs,
        fake_dropped_streams: dropped,
    })
}

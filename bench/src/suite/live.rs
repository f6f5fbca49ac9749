//! Scenario 8: Live voice through the relay (`/ws/live`) at 200 concurrent sessions, each
//! streaming 20 ms of microphone audio every 20 ms while the fake Live server answers every
//! chunk with 20 ms of voice, both stamped (the fake's probe mode): the delay each direction
//! takes, against the same sessions talking to the fake directly; the memory a Live session
//! costs beyond an idle voice socket; the server CPU per second of audio; and what a Live
//! minute costs next to a classic turn.

use std::time::Duration;

use serde::Serialize;

use super::cost::CostResult;
use super::db::DbTarget;
use super::{BallsyEnv, Check, Measured, START_WAIT, Settings, stop};
use crate::fake_live::{FakeLive, FakeLiveConfig};
use crate::loadgen::stats::{Percentiles, ms};
use crate::loadgen::{
    Auth, IdleLoad, LiveLoad, LiveReport, LiveTarget, SessionFactory, hold_idle, start_live,
};
use crate::process::{ProcStatus, ServerProcess, free_port};

const SCENARIO: &str = "8. live relay";
const SESSIONS: usize = 200;
/// 20 ms of 24 kHz audio per answer.
const REPLY_SAMPLES: usize = 480;
const WARMUP: Duration = Duration::from_secs(3);
const WINDOW: Duration = Duration::from_secs(10);
const SETTLE: Duration = Duration::from_secs(2);
const TARGET_P99_US: u64 = 2_000;
const TARGET_KIB_PER_SESSION: f64 = 64.0;

/// Gemini bills audio at about 25 tokens per second, both ways (research/gemini-next.md §5).
const AUDIO_TOKENS_PER_SEC: f64 = 25.0;
/// `gemini-3.8-live`, USD per million tokens: the published rates, whose audio split is
/// unverified (research/gemini-next.md §4.8).
const LIVE_INPUT_PER_M: f64 = 0.75;
const LIVE_OUTPUT_PER_M: f64 = 4.50;
/// `gemini-3.1-flash-live-preview`'s audio rates, the last ones Google documented per modality.
const LIVE_31_AUDIO_INPUT_PER_M: f64 = 3.0;
const LIVE_31_AUDIO_OUTPUT_PER_M: f64 = 12.0;
/// The cost model's conversation: a turn every 10 s, the model speaking 5 s of it.
const TURN_SECS: f64 = 10.0;
const MODEL_SPEECH_SECS: f64 = 5.0;
/// `LIVE_DAILY_MINUTES_TOTAL`'s default.
const DEFAULT_DAILY_MINUTES: f64 = 60.0;

#[derive(Debug, Clone, Serialize)]
pub struct LiveResult {
    pub sessions: usize,
    pub chunk_ms: u64,
    pub reply_samples: usize,
    pub warmup_secs: f64,
    pub window_secs: f64,
    /// The same sessions talking to the fake directly.
    pub floor: LiveDelays,
    pub runs: Vec<LiveRelayRun>,
    pub cost: LiveCost,
}

#[derive(Debug, Clone, Serialize)]
pub struct LiveDelays {
    pub report: LiveReport,
    /// Sender's stamp to the fake's receipt (browser → Gemini).
    pub up: Percentiles,
}

#[derive(Debug, Clone, Serialize)]
pub struct LiveRelayRun {
    pub target: DbTarget,
    pub delays: LiveDelays,
    /// Ready, nothing connected.
    pub idle: ProcStatus,
    /// With `sessions` idle voice sockets (`/ws/voice`) open.
    pub with_idle_sockets: ProcStatus,
    /// With those and `sessions` Live sessions streaming, at the end of the window.
    pub with_live: ProcStatus,
    pub per_idle_socket_kib: f64,
    /// (with_live − with_idle_sockets) / sessions − per_idle_socket_kib.
    pub per_live_session_beyond_idle_kib: f64,
    pub server_cpu_secs: f64,
    /// Server CPU per second of microphone audio relayed (with as much voice coming back).
    pub cpu_ms_per_audio_sec: f64,
}

/// What a minute of Live costs, from the rates and the conversation model above, next to a
/// classic turn as scenario 6 measures it.
#[derive(Debug, Clone, Serialize)]
pub struct LiveCost {
    pub tokens_per_audio_sec: f64,
    pub input_per_m: f64,
    pub output_per_m: f64,
    /// Only listening: the microphone streams (silence is billed), the model says nothing.
    pub listening_minute_usd: f64,
    /// The first minute of a conversation, each turn re-billing the audio before it.
    pub first_minute_usd: f64,
    /// The tenth minute of the same conversation (no context compression yet).
    pub tenth_minute_usd: f64,
    /// The first minute at 3.1 Flash Live's documented audio rates.
    pub first_minute_at_31_rates_usd: f64,
    /// The most a day can cost at the default `LIVE_DAILY_MINUTES_TOTAL` (first-minute rate).
    pub default_daily_cap_usd: f64,
    /// Scenario 6's classic turn (chat model, text in and out), measured in this run.
    pub classic_turn_usd: f64,
    pub classic_turns_per_live_minute: f64,
}

impl Measured for LiveResult {
    fn render(&self, report: &mut String) {
        render(self, report);
    }

    fn checks(&self) -> Vec<Check> {
        let mut checks = Vec::new();
        for run in &self.runs {
            let d = &run.delays;
            let label = run.target.label();
            checks.push(Check::new(
                SCENARIO,
                format!(
                    "{label}: p99 delay of an audio chunk through the relay ≤ 2 ms, each direction"
                ),
                format!(
                    "up {}, down {} (direct to the fake: up {}, down {}); {} and {} chunks",
                    ms(d.up.p99_us),
                    ms(d.report.down_delay.p99_us),
                    ms(self.floor.up.p99_us),
                    ms(self.floor.report.down_delay.p99_us),
                    d.up.count,
                    d.report.down_delay.count
                ),
                d.up.p99_us <= TARGET_P99_US
                    && d.report.down_delay.p99_us <= TARGET_P99_US
                    && d.up.count > 0
                    && d.report.down_delay.count > 0,
            ));
            checks.push(Check::new(
                SCENARIO,
                format!("{label}: every session streamed to the end"),
                format!(
                    "{} of {} ready, {} ended early{}",
                    d.report.ready,
                    d.report.sessions,
                    d.report.ended_early,
                    d.report
                        .failures
                        .first()
                        .map_or(String::new(), |f| format!(" ({f})"))
                ),
                d.report.ready == d.report.sessions && d.report.ended_early == 0,
            ));
            checks.push(Check::new(
                SCENARIO,
                format!("{label}: memory per Live session ≤ 64 KiB beyond an idle socket"),
                format!(
                    "{:.1} KiB (an idle socket: {:.1} KiB)",
                    run.per_live_session_beyond_idle_kib, run.per_idle_socket_kib
                ),
                run.per_live_session_beyond_idle_kib <= TARGET_KIB_PER_SESSION,
            ));
        }
        checks
    }
}

/// Cost of `input` and `output` tokens at the given rates per million.
fn usd(input: f64, output: f64, input_per_m: f64, output_per_m: f64) -> f64 {
    (input * input_per_m + output * output_per_m) / 1e6
}

/// Input and output tokens of minute `minute` (1-based) of the model conversation: each turn
/// bills its own audio and, again, all the audio before it in the session.
fn conversation_minute_tokens(minute: u32) -> (f64, f64) {
    let turns_per_minute = (60.0 / TURN_SECS) as u32;
    let turn_in = TURN_SECS * AUDIO_TOKENS_PER_SEC;
    let turn_out = MODEL_SPEECH_SECS * AUDIO_TOKENS_PER_SEC;
    let (mut input, mut output) = (0.0, 0.0);
    let first = (minute - 1) * turns_per_minute;
    for turn in first..first + turns_per_minute {
        input += turn_in + f64::from(turn) * (turn_in + turn_out);
        output += turn_out;
    }
    (input, output)
}

pub fn cost(classic: &CostResult) -> LiveCost {
    let listening = usd(
        60.0 * AUDIO_TOKENS_PER_SEC,
        0.0,
        LIVE_INPUT_PER_M,
        LIVE_OUTPUT_PER_M,
    );
    let (in1, out1) = conversation_minute_tokens(1);
    let (in10, out10) = conversation_minute_tokens(10);
    let first = usd(in1, out1, LIVE_INPUT_PER_M, LIVE_OUTPUT_PER_M);
    LiveCost {
        tokens_per_audio_sec: AUDIO_TOKENS_PER_SEC,
        input_per_m: LIVE_INPUT_PER_M,
        output_per_m: LIVE_OUTPUT_PER_M,
        listening_minute_usd: listening,
        first_minute_usd: first,
        tenth_minute_usd: usd(in10, out10, LIVE_INPUT_PER_M, LIVE_OUTPUT_PER_M),
        first_minute_at_31_rates_usd: usd(
            in1,
            out1,
            LIVE_31_AUDIO_INPUT_PER_M,
            LIVE_31_AUDIO_OUTPUT_PER_M,
        ),
        default_daily_cap_usd: first * DEFAULT_DAILY_MINUTES,
        classic_turn_usd: classic.cost_per_turn_usd,
        classic_turns_per_live_minute: super::ratio(first, classic.cost_per_turn_usd),
    }
}

/// Ballsy with Live pointed at the fake, budgets out of the way, and no chat model anyone
/// could reach (nothing here asks it anything).
async fn start_relay(
    settings: &Settings,
    database_url: &str,
    fake: &FakeLive,
) -> anyhow::Result<ServerProcess> {
    let port = free_port()?;
    let env = BallsyEnv {
        database_url,
        gemini_base_url: Some("http://127.0.0.1:9"),
        log_level: "warn",
    };
    let launch = env
        .launch(&settings.ballsy_bin, port)
        .env("GEMINI_LIVE_URL", fake.url())
        .env("LIVE_DAILY_MINUTES_PER_USER", "1440")
        .env("LIVE_DAILY_MINUTES_TOTAL", "10000000");
    ServerProcess::start("ballsy", &launch, port, "/ready", START_WAIT).await
}

async fn floor(fake: &FakeLive) -> anyhow::Result<LiveDelays> {
    let run = start_live(LiveLoad {
        target: LiveTarget::Direct { url: fake.url() },
        sessions: SESSIONS,
        parallel: 32,
    })
    .await?;
    tokio::time::sleep(WARMUP).await;
    fake.take_probe_delays();
    let report = run.measure(WINDOW).await;
    let up = fake.take_probe_delays().summary();
    eprintln!(
        "   direct to the fake: up {} · down {}",
        up.brief(),
        report.down_delay.brief()
    );
    Ok(LiveDelays { report, up })
}

async fn relay(
    target: DbTarget,
    server: &ServerProcess,
    fake: &FakeLive,
) -> anyhow::Result<LiveRelayRun> {
    tokio::time::sleep(SETTLE).await;
    let idle = server.status()?;
    // One user for every socket, idle and Live alike: the difference is the Live session's.
    let credentials = SessionFactory::new(&server.ws_base(), 1).create().await?;
    let mut idle_load = IdleLoad::new(server.ws_base(), SESSIONS);
    idle_load.auth = Auth::Shared(credentials.clone());
    let idle_sockets = hold_idle(idle_load).await;
    tokio::time::sleep(SETTLE).await;
    let with_idle_sockets = server.status()?;
    let opened_idle = idle_sockets.opened.max(1);

    let run = start_live(LiveLoad {
        target: LiveTarget::Relay {
            url_base: server.ws_base(),
            credentials: Some(credentials),
        },
        sessions: SESSIONS,
        parallel: 32,
    })
    .await?;
    tokio::time::sleep(WARMUP).await;
    fake.take_probe_delays();
    let cpu_before = server.cpu_time()?;
    let report_task = tokio::spawn(run.measure(WINDOW));
    // Memory at the end of the window, with everything still streaming.
    tokio::time::sleep(WINDOW.saturating_sub(Duration::from_millis(200))).await;
    let with_live = server.status()?;
    let report = report_task.await?;
    let server_cpu_secs = server.cpu_time()?.saturating_sub(cpu_before).as_secs_f64();
    let up = fake.take_probe_delays().summary();
    idle_sockets.close().await;

    let per_idle_socket_kib =
        with_idle_sockets.rss_kib.saturating_sub(idle.rss_kib) as f64 / opened_idle as f64;
    let per_live_session_kib = with_live.rss_kib.saturating_sub(with_idle_sockets.rss_kib) as f64
        / report.ready.max(1) as f64;
    let audio_secs = report.audio_secs_sent();
    let run = LiveRelayRun {
        target,
        idle,
        with_idle_sockets,
        with_live,
        per_idle_socket_kib,
        per_live_session_beyond_idle_kib: per_live_session_kib - per_idle_socket_kib,
        server_cpu_secs,
        cpu_ms_per_audio_sec: if audio_secs > 0.0 {
            server_cpu_secs * 1e3 / audio_secs
        } else {
            0.0
        },
        delays: LiveDelays { report, up },
    };
    eprintln!(
        "   {}: up {} · down {} · {:.1} KiB per session beyond an idle socket ({:.1}) · {:.2} ms CPU per audio second",
        target.label(),
        run.delays.up.brief(),
        run.delays.report.down_delay.brief(),
        run.per_live_session_beyond_idle_kib,
        run.per_idle_socket_kib,
        run.cpu_ms_per_audio_sec
    );
    Ok(run)
}

pub async fn run(settings: &Settings) -> anyhow::Result<LiveResult> {
    let fake = FakeLive::start(FakeLiveConfig {
        probe_reply_samples: REPLY_SAMPLES,
        // No turn is ever played: the probe answers every chunk.
        audio_bytes_per_turn: usize::MAX,
        ..FakeLiveConfig::default()
    })
    .await?;
    let floor = floor(&fake).await?;
    let mut runs = Vec::new();
    for target in settings.main_targets() {
        let run = settings
            .with_database(target, async |_, url| {
                let server = start_relay(settings, url, &fake).await?;
                let run = relay(target, &server, &fake).await;
                stop(server).await;
                run
            })
            .await?;
        runs.push(run);
    }
    fake.shutdown().await;
    let classic = super::cost::run(settings).await?;
    Ok(LiveResult {
        sessions: SESSIONS,
        chunk_ms: crate::loadgen::CHUNK_EVERY.as_millis() as u64,
        reply_samples: REPLY_SAMPLES,
        warmup_secs: WARMUP.as_secs_f64(),
        window_secs: WINDOW.as_secs_f64(),
        floor,
        runs,
        cost: cost(&classic),
    })
}

fn render(r: &LiveResult, s: &mut String) {
    use std::fmt::Write as _;
    let _ = writeln!(s, "## 8. Live voice relay\n");
    let _ = writeln!(
        s,
        "{} Live sessions at once, each sending {} ms of 16 kHz PCM16 every {} ms (as the page does; the sessions are spread evenly over one period) for {:.0} s of warm-up and {:.0} s measured; the fake Live server answers every chunk at once with {} samples of 24 kHz audio. Each chunk carries its send time: \"up\" is the browser's send to the fake's receipt, \"down\" the fake's send to the browser's receipt, same clock. The floor is the same load talking to the fake directly in Gemini Live's JSON. Memory: RSS with {} idle voice sockets open, then with {} Live sessions streaming as well, all of one user.\n",
        r.sessions,
        r.chunk_ms,
        r.chunk_ms,
        r.warmup_secs,
        r.window_secs,
        r.reply_samples,
        r.sessions,
        r.sessions
    );
    let _ = writeln!(
        s,
        "| Run | Up p50 | Up p99 | Up max | Down p50 | Down p99 | Down max | Chunks up / down | Ended early | Server CPU | CPU per audio second | RSS idle → idle sockets → Live | Per idle socket | Per Live session beyond it |\n|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"
    );
    let floor = &r.floor;
    let _ = writeln!(
        s,
        "| direct to the fake (floor) | {} | {} | {} | {} | {} | {} | {} / {} | {} | — | — | — | — | — |",
        ms(floor.up.p50_us),
        ms(floor.up.p99_us),
        ms(floor.up.max_us),
        ms(floor.report.down_delay.p50_us),
        ms(floor.report.down_delay.p99_us),
        ms(floor.report.down_delay.max_us),
        floor.report.chunks_sent,
        floor.report.chunks_received,
        floor.report.ended_early
    );
    for run in &r.runs {
        let d = &run.delays;
        let _ = writeln!(
            s,
            "| ballsy {} | {} | {} | {} | {} | {} | {} | {} / {} | {} | {:.2} s | {:.2} ms | {:.1} → {:.1} → {:.1} MB | {:.1} KiB | {:.1} KiB |",
            run.target.label(),
            ms(d.up.p50_us),
            ms(d.up.p99_us),
            ms(d.up.max_us),
            ms(d.report.down_delay.p50_us),
            ms(d.report.down_delay.p99_us),
            ms(d.report.down_delay.max_us),
            d.report.chunks_sent,
            d.report.chunks_received,
            d.report.ended_early,
            run.server_cpu_secs,
            run.cpu_ms_per_audio_sec,
            super::memory::mb(run.idle.rss_kib),
            super::memory::mb(run.with_idle_sockets.rss_kib),
            super::memory::mb(run.with_live.rss_kib),
            run.per_idle_socket_kib,
            run.per_live_session_beyond_idle_kib
        );
    }
    let c = &r.cost;
    let _ = writeln!(
        s,
        "\nCost, from Google's rates (not measured: the fake bills nothing). Audio is about {:.0} tokens per second each way; `gemini-3.8-live` at ${:.2} in / ${:.2} out per million tokens (its audio split is unverified). The conversation model: a turn every {:.0} s, the model speaking {:.0} s of it, and every turn re-billing the audio before it, as Google says Live does.\n",
        c.tokens_per_audio_sec, c.input_per_m, c.output_per_m, TURN_SECS, MODEL_SPEECH_SECS
    );
    let _ = writeln!(
        s,
        "| | USD |\n|---|---|\n| A Live minute, only listening | {:.4} |\n| The first minute of a conversation | {:.4} |\n| Its tenth minute | {:.4} |\n| The first minute at 3.1 Flash Live's audio rates ($3 / $12) | {:.4} |\n| A day at the default `LIVE_DAILY_MINUTES_TOTAL` (60 first minutes) | {:.2} |\n| A classic turn (scenario 6, measured in this run) | {:.6} |\n| Classic turns per first Live minute | {:.0} |\n",
        c.listening_minute_usd,
        c.first_minute_usd,
        c.tenth_minute_usd,
        c.first_minute_at_31_rates_usd,
        c.default_daily_cap_usd,
        c.classic_turn_usd,
        c.classic_turns_per_live_minute
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_turn_rebills_the_audio_before_it() {
        // Six turns of 250 tokens in and 125 out; turn k re-bills k × 375.
        let (input, output) = conversation_minute_tokens(1);
        assert_eq!(output, 750.0);
        assert_eq!(
            input,
            6.0 * 250.0 + 375.0 * (0.0 + 1.0 + 2.0 + 3.0 + 4.0 + 5.0)
        );
        let (later, _) = conversation_minute_tokens(2);
        assert_eq!(
            later - input,
            6.0 * 6.0 * 375.0,
            "each turn of minute 2 carries 6 more turns"
        );
    }
}

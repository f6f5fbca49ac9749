//! Scenario 1: rule-based commands over the WebSocket from 50 concurrent clients, each
//! exchange persisted, on SQLite and PostgreSQL, against the durable floor of the same database
//! and transport (a bare server that commits one row per exchange before replying), measured
//! right before and after each Ballsy run. The echo floor (no work at all) is reported too.

use std::time::Duration;

use serde::Serialize;

use super::db::{Backend, DbTarget, Verification};
use super::{
    BallsyEnv, Check, Measured, Settings, ratio, start_ballsy, start_durable, start_echo, stop,
};
use crate::loadgen::{Auth, CommandLoad, CommandReport, DEFAULT_COMMANDS, run_commands, stats};
use crate::process::{ProcStatus, ServerProcess, cpu_time};

const SCENARIO: &str = "1. commands";
const COMMAND_TIMEOUT: Duration = Duration::from_secs(10);
/// Sockets per client in the many-tabs run.
const TABS: usize = 16;

#[derive(Debug, Clone, Serialize)]
pub struct CommandsResult {
    pub clients: usize,
    pub connections_per_client: usize,
    pub warmup_per_client: usize,
    pub measured_secs: u64,
    pub commands: Vec<String>,
    /// The echo floor, measured before and after the Ballsy runs (the machine drifts; the
    /// ratios use the mean of the two).
    pub floor: CommandRun,
    pub floor_after: CommandRun,
    pub floor_throughput_per_sec: f64,
    pub floor_p99_us: f64,
    /// Ballsy on each backend (`primary`), then the variants.
    pub runs: Vec<CommandRun>,
}

#[derive(Debug, Clone, Serialize)]
pub struct CommandRun {
    pub name: String,
    /// Counted against the targets (the variants are for information).
    pub primary: bool,
    /// `None` for the floor.
    pub target: Option<DbTarget>,
    pub log_level: Option<String>,
    pub connections_per_client: usize,
    pub report: CommandReport,
    /// Server CPU time over the whole load (connects and warm-up included).
    pub server_cpu_secs: f64,
    /// Server CPU per acknowledged command (warm-up included).
    pub server_cpu_per_command_us: f64,
    /// Load-generator (this process) CPU time over the same span.
    pub loadgen_cpu_secs: f64,
    pub server_memory: ProcStatus,
    pub log_lines: u64,
    pub log_bytes: u64,
    pub verification: Option<Verification>,
    /// Against the echo floor (information).
    pub throughput_vs_floor: f64,
    pub p99_vs_floor: f64,
    /// The durable floor of the same target, measured before and after this run (primary runs).
    pub durable: Option<DurableComparison>,
}

#[derive(Debug, Clone, Serialize)]
pub struct DurableComparison {
    pub before: Box<CommandRun>,
    pub after: Box<CommandRun>,
    pub throughput_per_sec: f64,
    pub p99_us: f64,
    pub cpu_per_command_us: f64,
    pub throughput_ratio: f64,
    pub p99_ratio: f64,
    pub cpu_ratio: f64,
}

impl Measured for CommandsResult {
    fn render(&self, report: &mut String) {
        super::report::commands(self, report);
    }

    fn checks(&self) -> Vec<Check> {
        let mut checks = Vec::new();
        for run in self.runs.iter().filter(|r| r.primary) {
            let Some(target) = run.target else { continue };
            let share = match target.backend {
                Backend::Sqlite => 0.70,
                Backend::Postgres => 0.50,
            };
            if let Some(d) = &run.durable {
                checks.push(Check::new(
                    SCENARIO,
                    format!(
                        "{}: throughput ≥ {:.0}% of the durable floor",
                        target.label(),
                        share * 100.0
                    ),
                    format!(
                        "{:.0}/s = {:.1}% of {:.0}/s",
                        run.report.throughput_per_sec,
                        d.throughput_ratio * 100.0,
                        d.throughput_per_sec
                    ),
                    d.throughput_ratio >= share,
                ));
                checks.push(Check::new(
                    SCENARIO,
                    format!("{}: p99 ≤ 2× the durable floor's", target.label()),
                    format!(
                        "{} = {:.2}× {}",
                        stats::ms(run.report.latency.p99_us),
                        d.p99_ratio,
                        stats::ms(d.p99_us as u64)
                    ),
                    d.p99_ratio <= 2.0 && d.p99_ratio > 0.0,
                ));
                checks.push(Check::new(
                    SCENARIO,
                    format!(
                        "{}: server CPU per command ≤ 2× the durable floor's",
                        target.label()
                    ),
                    format!(
                        "{:.0} µs = {:.2}× {:.0} µs",
                        run.server_cpu_per_command_us, d.cpu_ratio, d.cpu_per_command_us
                    ),
                    d.cpu_ratio <= 2.0 && d.cpu_ratio > 0.0,
                ));
            }
            let verified = run.verification.as_ref().is_some_and(|v| v.ok);
            checks.push(Check::new(
                SCENARIO,
                format!(
                    "{}: every command acknowledged and stored, no errors",
                    target.label()
                ),
                format!(
                    "{} sent, {} acknowledged, {} lost, errors {:?}; database {}",
                    run.report.sent,
                    run.report.acknowledged,
                    run.report.lost,
                    run.report.errors,
                    run.verification
                        .as_ref()
                        .map_or("not checked".to_owned(), |v| format!(
                            "{} rows for {} acknowledged, {} missing, {} unexpected",
                            v.rows, v.acknowledged, v.missing, v.unexpected
                        ))
                ),
                run.report.is_clean() && verified,
            ));
        }
        checks
    }
}

fn load(settings: &Settings, url: String, echo: bool, per_client: usize) -> CommandLoad {
    let mut load = CommandLoad::new(url);
    load.clients = settings.command_clients;
    load.commands_per_client = usize::MAX / 2;
    load.duration = Some(Duration::from_secs(settings.command_secs));
    load.warmup_per_client = settings.command_warmup;
    load.commands = DEFAULT_COMMANDS.iter().map(|c| (*c).to_owned()).collect();
    // The floor does not know users; Ballsy gets one per client so the database can be checked.
    load.auth = if echo {
        Auth::None
    } else {
        Auth::PerClientSession
    };
    load.echo_mode = echo;
    load.timeout = COMMAND_TIMEOUT;
    load.connections_per_client = per_client;
    load
}

/// Runs `load` against `server` and measures the server meanwhile.
async fn measure(
    name: &str,
    server: &ServerProcess,
    load: CommandLoad,
) -> anyhow::Result<CommandRun> {
    let per_client = load.connections_per_client;
    let cpu_before = server.cpu_time()?;
    let self_before = cpu_time(std::process::id())?;
    let (lines_before, bytes_before) = server.output_volume();
    let report = run_commands(load).await;
    let server_cpu = server.cpu_time()?.saturating_sub(cpu_before);
    let loadgen_cpu = cpu_time(std::process::id())?.saturating_sub(self_before);
    let (lines, bytes) = server.output_volume();
    let all_acks: usize = report.per_client.iter().map(|c| c.acknowledged.len()).sum();
    eprintln!(
        "   {name}: {:.0}/s, {} · sent {} acked {} lost {} errors {:?}",
        report.throughput_per_sec,
        report.latency.brief(),
        report.sent,
        report.acknowledged,
        report.lost,
        report.errors
    );
    Ok(CommandRun {
        name: name.to_owned(),
        primary: false,
        target: None,
        log_level: None,
        connections_per_client: per_client,
        server_cpu_secs: server_cpu.as_secs_f64(),
        server_cpu_per_command_us: ratio(server_cpu.as_secs_f64() * 1e6, all_acks as f64),
        loadgen_cpu_secs: loadgen_cpu.as_secs_f64(),
        server_memory: server.status()?,
        log_lines: lines - lines_before,
        log_bytes: bytes - bytes_before,
        verification: None,
        throughput_vs_floor: 0.0,
        p99_vs_floor: 0.0,
        durable: None,
        report,
    })
}

struct Variant {
    name: String,
    target: DbTarget,
    log_level: &'static str,
    per_client: usize,
    primary: bool,
    secs: u64,
    timeout: Duration,
}

async fn run_ballsy(settings: &Settings, v: &Variant) -> anyhow::Result<CommandRun> {
    settings
        .with_database(v.target, async |database, url| {
            let env = BallsyEnv {
                database_url: url,
                gemini_base_url: None,
                log_level: v.log_level,
            };
            let server = start_ballsy(settings, &env).await?;
            let mut load = load(settings, server.ws_base(), false, v.per_client);
            load.duration = Some(Duration::from_secs(v.secs));
            load.timeout = v.timeout;
            let measured = measure(&v.name, &server, load).await;
            stop(server).await;
            let mut run = measured?;
            // After the server stopped: every acknowledged command must be in the database.
            let verification = database.verify(&run.report.per_client).await?;
            eprintln!(
                "   {}: database has {} rows for {} acknowledged ({} missing, {} unexpected)",
                v.name,
                verification.rows,
                verification.acknowledged,
                verification.missing,
                verification.unexpected
            );
            run.verification = Some(verification);
            run.primary = v.primary;
            run.target = Some(v.target);
            run.log_level = Some(v.log_level.to_owned());
            Ok(run)
        })
        .await
}

async fn floor(settings: &Settings, name: &str) -> anyhow::Result<CommandRun> {
    let per_client = settings.connections_per_client;
    let echo = start_echo(settings).await?;
    let floor = measure(
        name,
        &echo,
        load(settings, echo.ws_base(), true, per_client),
    )
    .await;
    stop(echo).await;
    floor
}

/// The durable floor on a fresh database of `target`, under the same load as Ballsy.
async fn durable_floor(
    settings: &Settings,
    target: DbTarget,
    name: &str,
) -> anyhow::Result<CommandRun> {
    settings
        .with_database(target, async |_, url| {
            let server = start_durable(settings, url).await?;
            let mut load = load(
                settings,
                server.ws_base(),
                false,
                settings.connections_per_client,
            );
            // The floor knows no users: every client is anonymous.
            load.auth = Auth::None;
            let measured = measure(name, &server, load).await;
            stop(server).await;
            let mut run = measured?;
            run.target = Some(target);
            Ok(run)
        })
        .await
}

pub async fn run(settings: &Settings) -> anyhow::Result<CommandsResult> {
    let per_client = settings.connections_per_client;
    let floor_before = floor(settings, "echo floor").await?;

    let mut variants: Vec<Variant> = settings
        .targets()
        .into_iter()
        .map(|target| Variant {
            name: format!("ballsy {}", target.label()),
            target,
            log_level: "warn",
            per_client,
            primary: true,
            secs: settings.command_secs,
            timeout: COMMAND_TIMEOUT,
        })
        .collect();
    if settings.info_logging_variant {
        variants.push(Variant {
            name: "ballsy sqlite, LOG_LEVEL=info".into(),
            target: DbTarget::SQLITE,
            log_level: "info",
            per_client,
            primary: false,
            secs: settings.command_secs,
            timeout: COMMAND_TIMEOUT,
        });
    }
    if per_client == 1 {
        // One user with many tabs open: each reply also goes to the user's other sockets
        // (tabs stay in sync), so this run sends TABS frames per command.
        variants.push(Variant {
            name: format!("ballsy sqlite, {TABS} sockets per client (one user's tabs in sync)"),
            target: DbTarget::SQLITE,
            log_level: "warn",
            per_client: TABS,
            primary: false,
            secs: settings.command_secs,
            timeout: COMMAND_TIMEOUT,
        });
    }
    let mut runs = Vec::new();
    for variant in &variants {
        if !variant.primary {
            runs.push(run_ballsy(settings, variant).await?);
            continue;
        }
        // Like with like, in the same minute: the durable floor of this target right before
        // and right after Ballsy's run (the ratios use the mean of the two).
        let label = variant.target.label();
        let before =
            durable_floor(settings, variant.target, &format!("durable floor {label}")).await?;
        let mut run = run_ballsy(settings, variant).await?;
        let after = durable_floor(
            settings,
            variant.target,
            &format!("durable floor {label}, again"),
        )
        .await?;
        let throughput = (before.report.throughput_per_sec + after.report.throughput_per_sec) / 2.0;
        let p99 = (before.report.latency.p99_us + after.report.latency.p99_us) as f64 / 2.0;
        let cpu = (before.server_cpu_per_command_us + after.server_cpu_per_command_us) / 2.0;
        run.durable = Some(DurableComparison {
            throughput_ratio: ratio(run.report.throughput_per_sec, throughput),
            p99_ratio: ratio(run.report.latency.p99_us as f64, p99),
            cpu_ratio: ratio(run.server_cpu_per_command_us, cpu),
            throughput_per_sec: throughput,
            p99_us: p99,
            cpu_per_command_us: cpu,
            before: Box::new(before),
            after: Box::new(after),
        });
        runs.push(run);
    }
    let floor_after = floor(settings, "echo floor, again").await?;
    let floor_throughput =
        (floor_before.report.throughput_per_sec + floor_after.report.throughput_per_sec) / 2.0;
    let floor_p99 =
        (floor_before.report.latency.p99_us + floor_after.report.latency.p99_us) as f64 / 2.0;
    for run in &mut runs {
        run.throughput_vs_floor = ratio(run.report.throughput_per_sec, floor_throughput);
        run.p99_vs_floor = ratio(run.report.latency.p99_us as f64, floor_p99);
    }
    Ok(CommandsResult {
        clients: settings.command_clients,
        connections_per_client: per_client,
        warmup_per_client: settings.command_warmup,
        measured_secs: settings.command_secs,
        commands: DEFAULT_COMMANDS.iter().map(|c| (*c).to_owned()).collect(),
        floor: floor_before,
        floor_after,
        floor_throughput_per_sec: floor_throughput,
        floor_p99_us: floor_p99,
        runs,
    })
}

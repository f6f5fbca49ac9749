//! `bench`: Ballsy's benchmark suite. One command runs everything:
//!
//! ```text
//! cargo run --release -p ballsy-bench --bin bench -- all
//! ```
//!
//! It builds the release `ballsy` binary (as the Dockerfile does) unless `--ballsy-bin` or
//! `--no-build` is given, runs the scenarios against it on SQLite, and on PostgreSQL when
//! `BENCH_DATABASE_URL` (or `BALLSY_TEST_DATABASE_URL`) names an admin connection, and writes
//! `bench/out/results.json` and `bench/out/report.md`. See bench/README.md.

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context as _, bail};
use ballsy_bench::durable::DurableFloor;
use ballsy_bench::echo::EchoServer;
use ballsy_bench::suite::{self, Results, SCENARIOS, Settings, machine::Machine};
use clap::Parser;
use clap::builder::{PossibleValue, PossibleValuesParser};

#[derive(Debug, Parser)]
#[command(
    about = "Ballsy's benchmarks: throughput, streaming delay, cold start, memory, size, cost"
)]
struct Args {
    /// `all`, or one scenario.
    #[arg(value_parser = scenario_names())]
    scenario: String,
    /// The port of `echo-floor` and `durable-floor` (0: any free one).
    #[arg(long, hide = true, default_value_t = 0)]
    port: u16,
    /// The database of `durable-floor`.
    #[arg(long, hide = true)]
    database_url: Option<String>,
    /// The Ballsy binary to measure. Default: build it with `cargo build --release -p ballsy
    /// --bin ballsy` and use `<target>/release/ballsy`.
    #[arg(long, global = true)]
    ballsy_bin: Option<PathBuf>,
    /// Use `<target>/release/ballsy` as it is, without building it first.
    #[arg(long, global = true)]
    no_build: bool,
    /// Where results.json and report.md go.
    #[arg(long, global = true)]
    out: Option<PathBuf>,
    /// PostgreSQL admin URL; each run creates and drops its own database next to it.
    #[arg(long, global = true, env = "BENCH_DATABASE_URL")]
    postgres_url: Option<String>,
    /// Skip PostgreSQL even when a URL is configured.
    #[arg(long, global = true)]
    no_postgres: bool,
    /// Concurrent command clients.
    #[arg(long, global = true, default_value_t = 50)]
    clients: usize,
    /// Measured seconds per command run.
    #[arg(long, global = true, default_value_t = 8)]
    seconds: u64,
    /// Warm-up commands per client before measuring.
    #[arg(long, global = true, default_value_t = 20)]
    warmup: usize,
    /// Sockets per command client, used in turn. Ballsy's frame limits are off in the
    /// benchmarks; several sockets of one client are one user's tabs, which Ballsy keeps in
    /// sync (each reply goes to all of them), so the main runs use one.
    #[arg(long, global = true, default_value_t = 1)]
    sockets_per_client: usize,
    /// Concurrent streaming sessions.
    #[arg(long, global = true, default_value_t = 500)]
    sessions: usize,
    /// Questions per streaming session.
    #[arg(long, global = true, default_value_t = 4)]
    questions: usize,
    /// Spread of the sessions' first questions, in ms (about one reply's duration).
    #[arg(long, global = true, default_value_t = 400)]
    spread_ms: u64,
    /// Idle WebSockets for the memory scenario.
    #[arg(long, global = true, default_value_t = 10_000)]
    idle: usize,
    /// Cold starts per backend.
    #[arg(long, global = true, default_value_t = 7)]
    cold_runs: usize,
    /// Skip the LOG_LEVEL=info variant of the command load.
    #[arg(long, global = true)]
    no_info_variant: bool,
}

/// `all`, every scenario of the registry, and the floors the suite runs as child processes
/// (`echo-floor`, `durable-floor`: hidden).
fn scenario_names() -> PossibleValuesParser {
    let mut names =
        vec![PossibleValue::new("all").help("Every scenario, in one run (under 10 minutes)")];
    names.extend(
        SCENARIOS
            .iter()
            .map(|s| PossibleValue::new(s.name).help(s.about)),
    );
    names.push(PossibleValue::new("echo-floor").hide(true));
    names.push(PossibleValue::new("durable-floor").hide(true));
    PossibleValuesParser::new(names)
}

fn workspace_dir() -> PathBuf {
    let bench = Path::new(env!("CARGO_MANIFEST_DIR"));
    bench.parent().unwrap_or(bench).to_path_buf()
}

/// `<target>` from this executable's path (`<target>/<profile>/bench`).
fn target_dir() -> anyhow::Result<PathBuf> {
    let exe = std::env::current_exe()?;
    exe.parent()
        .and_then(Path::parent)
        .map(Path::to_path_buf)
        .context("cannot locate the target directory from this executable's path")
}

/// Builds the binary the way the Dockerfile does (root package only, release profile).
fn build_ballsy() -> anyhow::Result<()> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    eprintln!("== building: cargo build --release --locked -p ballsy --bin ballsy");
    let status = std::process::Command::new(cargo)
        .args([
            "build",
            "--release",
            "--locked",
            "-p",
            "ballsy",
            "--bin",
            "ballsy",
        ])
        .current_dir(workspace_dir())
        .status()
        .context("running cargo")?;
    if !status.success() {
        bail!("building ballsy failed ({status})");
    }
    Ok(())
}

fn postgres_url(args: &Args) -> Option<String> {
    if args.no_postgres {
        return None;
    }
    args.postgres_url
        .clone()
        .or_else(|| std::env::var("BALLSY_TEST_DATABASE_URL").ok())
        .filter(|u| !u.trim().is_empty())
}

fn open_files_soft_limit() -> Option<u64> {
    let limits = std::fs::read_to_string("/proc/self/limits").ok()?;
    let line = limits.lines().find(|l| l.starts_with("Max open files"))?;
    line.split_whitespace().nth(3)?.parse().ok()
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    match args.scenario.as_str() {
        "echo-floor" => return runtime.block_on(serve_echo(args.port)),
        "durable-floor" => {
            let database_url = args
                .database_url
                .as_deref()
                .context("durable-floor needs --database-url")?;
            return runtime.block_on(serve_durable(args.port, database_url));
        }
        _ => {}
    }
    if cfg!(debug_assertions) {
        eprintln!(
            "warning: this is a debug build of the load generator; run `cargo run --release -p ballsy-bench --bin bench -- …` for real numbers"
        );
    }
    let ballsy_bin = match &args.ballsy_bin {
        Some(path) => path.clone(),
        None => {
            if !args.no_build {
                build_ballsy()?;
            }
            target_dir()?.join("release").join("ballsy")
        }
    };
    if !ballsy_bin.is_file() {
        bail!(
            "{} does not exist; build it with `cargo build --release -p ballsy --bin ballsy` or pass --ballsy-bin",
            ballsy_bin.display()
        );
    }
    if let Some(limit) = open_files_soft_limit()
        && limit < args.idle as u64 + 1024
    {
        eprintln!(
            "warning: the open-files limit is {limit}; {} idle sockets need more (ulimit -n)",
            args.idle
        );
    }
    let postgres = postgres_url(&args);
    let postgres_version = match &postgres {
        Some(url) => Some(
            runtime
                .block_on(suite::db::server_version(url))
                .context("PostgreSQL admin URL: cannot connect")?,
        ),
        None => None,
    };
    let settings = Settings {
        ballsy_bin,
        self_exe: std::env::current_exe()?,
        out_dir: args
            .out
            .clone()
            .unwrap_or_else(|| workspace_dir().join("bench").join("out")),
        workspace: workspace_dir(),
        postgres_enabled: postgres.is_some(),
        postgres_version,
        postgres_socket: postgres
            .as_deref()
            .is_some_and(suite::db::local_socket_available),
        postgres_admin_url: postgres,
        command_clients: args.clients,
        command_secs: args.seconds,
        command_warmup: args.warmup,
        connections_per_client: args.sockets_per_client,
        stream_sessions: args.sessions,
        stream_questions: args.questions,
        stream_spread_ms: args.spread_ms,
        idle_connections: args.idle,
        cold_runs: args.cold_runs,
        info_logging_variant: !args.no_info_variant,
    };
    let results = runtime.block_on(run(&args.scenario, settings))?;
    let failed = results.checks.iter().filter(|c| !c.pass).count();
    eprintln!(
        "\n{} targets checked, {} failed, {} scenario errors",
        results.checks.len(),
        failed,
        results.errors.len()
    );
    for check in &results.checks {
        eprintln!(
            "  [{}] {} — {}: {}",
            if check.pass { "pass" } else { "FAIL" },
            check.scenario,
            check.target,
            check.measured
        );
    }
    Ok(())
}

async fn run(scenario: &str, settings: Settings) -> anyhow::Result<Results> {
    let started = Instant::now();
    let machine = Machine::detect(&settings.workspace);
    eprintln!(
        "ballsy bench · commit {} · {} cores ({}) · {}",
        machine.commit, machine.cores, machine.cpu_model, machine.command
    );
    let mut results = Results::new(machine, settings.clone());
    for entry in SCENARIOS
        .iter()
        .filter(|s| scenario == "all" || s.name == scenario)
    {
        results.run(entry, &settings).await;
    }
    if let Ok(scratch) = settings.scratch_dir() {
        let _ = std::fs::remove_dir_all(scratch);
    }
    results.duration_secs = started.elapsed().as_secs_f64();
    let stem = if scenario == "all" {
        String::new()
    } else {
        format!("-{scenario}")
    };
    results.write(
        &settings.out_dir,
        &format!("results{stem}.json"),
        &format!("report{stem}.md"),
    )?;
    eprintln!(
        "wrote {}/results{stem}.json and report{stem}.md",
        settings.out_dir.display()
    );
    Ok(results)
}

async fn serve_durable(port: u16, database_url: &str) -> anyhow::Result<()> {
    let server = DurableFloor::start(
        std::net::SocketAddr::from(([127, 0, 0, 1], port)),
        database_url,
    )
    .await?;
    println!("durable-floor listening on http://{}", server.addr());
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = signal(SignalKind::terminate())?;
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
    server.stop();
    Ok(())
}

async fn serve_echo(port: u16) -> anyhow::Result<()> {
    let server = EchoServer::start(std::net::SocketAddr::from(([127, 0, 0, 1], port))).await?;
    println!("echo-floor listening on http://{}", server.addr());
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = signal(SignalKind::terminate())?;
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
    server.stop();
    Ok(())
}

//! The benchmark suite behind `bench` (see bench/README.md): the scenarios of [`SCENARIOS`], each comparing
//! Ballsy's release binary with a floor measured in the same run, and a report.
//!
//! Everything runs on this machine over loopback. Servers are child processes (so their RSS
//! and CPU time are theirs alone); the load generator and the fake Gemini run in this process.

pub mod cold_start;
pub mod commands;
pub mod cost;
pub mod db;
pub mod live;
pub mod machine;
pub mod memory;
pub mod report;
pub mod size;
pub mod streaming;
pub mod timers;

use std::collections::BTreeMap;
use std::future::Future;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context as _;
use futures_util::future::LocalBoxFuture;
use serde::Serialize;

use self::db::{Backend, DbTarget, TestDatabase, Transport};
use self::machine::Machine;
use crate::process::{Launch, ServerProcess, free_port};

/// Every scenario must end within this; `all` stays under 10 minutes. (The command scenario
/// measures a durable floor before and after each of its Ballsy runs.)
pub const SCENARIO_LIMIT: Duration = Duration::from_secs(300);
/// How long a server may take to become ready.
pub(crate) const START_WAIT: Duration = Duration::from_secs(30);
/// SIGTERM grace when stopping servers (Ballsy drains sockets for up to 8 s).
const STOP_GRACE: Duration = Duration::from_secs(12);

/// Daily AI budgets high enough that no benchmark ever hits them (the total is the most the
/// server accepts).
pub const AI_BUDGET_PER_USER: &str = "1000000";
pub const AI_BUDGET_TOTAL: &str = "100000000";

/// What to run and how big.
#[derive(Debug, Clone, Serialize)]
pub struct Settings {
    pub ballsy_bin: PathBuf,
    /// This executable; `<self> echo-floor --port N` runs the floor as its own process.
    pub self_exe: PathBuf,
    pub out_dir: PathBuf,
    pub workspace: PathBuf,
    /// PostgreSQL admin URL (a database per run is created next to it); `None` skips
    /// PostgreSQL. Never written to the results (it may hold a password).
    #[serde(skip)]
    pub postgres_admin_url: Option<String>,
    pub postgres_enabled: bool,
    /// The PostgreSQL server also listens on a local unix socket (then PostgreSQL runs are
    /// made over it, as on Cloud Run, and over TCP).
    pub postgres_socket: bool,
    /// `SHOW server_version`, when PostgreSQL is used.
    pub postgres_version: Option<String>,
    pub command_clients: usize,
    pub command_secs: u64,
    pub command_warmup: usize,
    pub connections_per_client: usize,
    pub stream_sessions: usize,
    pub stream_questions: usize,
    pub stream_spread_ms: u64,
    pub idle_connections: usize,
    pub cold_runs: usize,
    /// Also run the command load with `LOG_LEVEL=info` (what logging every turn costs).
    pub info_logging_variant: bool,
}

impl Settings {
    /// Every database target: SQLite, then PostgreSQL over its unix socket (how Cloud Run
    /// reaches Cloud SQL) and over TCP.
    pub fn targets(&self) -> Vec<DbTarget> {
        let mut targets = vec![DbTarget::SQLITE];
        if self.postgres_admin_url.is_some() {
            if self.postgres_socket {
                targets.push(DbTarget {
                    backend: Backend::Postgres,
                    transport: Transport::UnixSocket,
                });
            }
            targets.push(DbTarget {
                backend: Backend::Postgres,
                transport: Transport::Default,
            });
        }
        targets
    }

    /// One target per backend, PostgreSQL the way Cloud Run reaches it when possible: for
    /// scenarios where the transport to the database does not matter.
    pub fn main_targets(&self) -> Vec<DbTarget> {
        let mut targets = self.targets();
        targets.dedup_by_key(|t| t.backend);
        targets
    }

    /// A scratch directory for SQLite files, inside the output directory.
    pub fn scratch_dir(&self) -> anyhow::Result<PathBuf> {
        let dir = self.out_dir.join("scratch");
        std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
        Ok(dir)
    }

    /// Runs `run` against a fresh database of `target` (given it and the URL the server gets)
    /// and removes the database afterwards, whatever `run` returned.
    pub async fn with_database<T>(
        &self,
        target: DbTarget,
        run: impl AsyncFnOnce(&TestDatabase, &str) -> anyhow::Result<T>,
    ) -> anyhow::Result<T> {
        let database = self.database(target.backend).await?;
        let outcome = match database.server_url(target.transport) {
            Ok(url) => run(&database, &url).await,
            Err(error) => Err(error),
        };
        if let Err(error) = database.remove().await {
            eprintln!("warning: removing the database: {error:#}");
        }
        outcome
    }

    pub async fn database(&self, backend: Backend) -> anyhow::Result<TestDatabase> {
        match backend {
            Backend::Sqlite => Ok(TestDatabase::sqlite(&self.scratch_dir()?)),
            Backend::Postgres => {
                let admin = self
                    .postgres_admin_url
                    .as_deref()
                    .context("no PostgreSQL admin URL")?;
                TestDatabase::postgres(admin).await
            }
        }
    }
}

/// How Ballsy is started for a benchmark.
#[derive(Debug, Clone)]
pub struct BallsyEnv<'a> {
    pub database_url: &'a str,
    /// The fake Gemini's base URL; `None` runs the offline model.
    pub gemini_base_url: Option<&'a str>,
    pub log_level: &'a str,
}

impl BallsyEnv<'_> {
    pub fn launch(&self, bin: &Path, port: u16) -> Launch {
        let mut launch = Launch::new(bin)
            .arg("serve")
            .env("PORT", port.to_string())
            .env("DATABASE_URL", self.database_url)
            .env("MIGRATE_ON_START", "true")
            .env("LOG_FORMAT", "json")
            .env("LOG_LEVEL", self.log_level)
            .env("RATE_LIMIT_ENABLED", "false")
            .env("AI_DAILY_REQUESTS_PER_USER", AI_BUDGET_PER_USER)
            .env("AI_DAILY_REQUESTS_PER_IP", AI_BUDGET_PER_USER)
            .env("AI_DAILY_REQUESTS_TOTAL", AI_BUDGET_TOTAL);
        if let Some(base) = self.gemini_base_url {
            launch = launch
                .env("GEMINI_API_KEY", "bench-key")
                .env("GEMINI_BASE_URL", base);
        }
        launch
    }
}

/// Starts Ballsy and waits for `/ready` (migrations applied).
pub async fn start_ballsy(
    settings: &Settings,
    env: &BallsyEnv<'_>,
) -> anyhow::Result<ServerProcess> {
    let port = free_port()?;
    ServerProcess::start(
        "ballsy",
        &env.launch(&settings.ballsy_bin, port),
        port,
        "/ready",
        START_WAIT,
    )
    .await
}

/// Starts the echo floor as its own process.
pub async fn start_echo(settings: &Settings) -> anyhow::Result<ServerProcess> {
    let port = free_port()?;
    let launch = Launch::new(&settings.self_exe)
        .arg("echo-floor")
        .arg("--port")
        .arg(port.to_string());
    ServerProcess::start("echo-floor", &launch, port, "/health", START_WAIT).await
}

/// Starts the durable floor on `database_url` as its own process.
pub async fn start_durable(
    settings: &Settings,
    database_url: &str,
) -> anyhow::Result<ServerProcess> {
    let port = free_port()?;
    let launch = Launch::new(&settings.self_exe)
        .arg("durable-floor")
        .arg("--port")
        .arg(port.to_string())
        .arg("--database-url")
        .arg(database_url);
    ServerProcess::start("durable-floor", &launch, port, "/health", START_WAIT).await
}

pub async fn stop(process: ServerProcess) {
    if let Err(error) = process.stop(STOP_GRACE).await {
        eprintln!("warning: stopping a server: {error:#}");
    }
}

/// Runs a scenario within [`SCENARIO_LIMIT`].
pub async fn bounded<T>(
    name: &str,
    scenario: impl Future<Output = anyhow::Result<T>>,
) -> anyhow::Result<T> {
    eprintln!("== {name}");
    let started = std::time::Instant::now();
    let result = tokio::time::timeout(SCENARIO_LIMIT, scenario)
        .await
        .map_err(|_| anyhow::anyhow!("{name} did not finish within {SCENARIO_LIMIT:?}"))?;
    eprintln!("== {name}: {:.1} s", started.elapsed().as_secs_f64());
    result
}

/// One target of the issue and how this run did against it.
#[derive(Debug, Clone, Serialize)]
pub struct Check {
    pub scenario: String,
    pub target: String,
    pub measured: String,
    pub pass: bool,
}

impl Check {
    pub fn new(
        scenario: &str,
        target: impl Into<String>,
        measured: impl Into<String>,
        pass: bool,
    ) -> Self {
        Self {
            scenario: scenario.to_owned(),
            target: target.into(),
            measured: measured.into(),
            pass,
        }
    }
}

/// What a scenario measured: serialised into results.json under the scenario's key, checked
/// against the targets, and rendered as its section of report.md.
pub trait Measured: Serialize {
    /// Appends this scenario's section (a `## N. Title` heading and its tables).
    fn render(&self, report: &mut String);
    /// The targets this scenario has, and how the run did against them.
    fn checks(&self) -> Vec<Check> {
        Vec::new()
    }
}

/// A finished scenario, already in the forms the report needs.
pub struct Outcome {
    value: serde_json::Value,
    checks: Vec<Check>,
    section: String,
}

impl Outcome {
    pub fn of(measured: &impl Measured) -> anyhow::Result<Self> {
        let mut section = String::new();
        measured.render(&mut section);
        Ok(Self {
            value: serde_json::to_value(measured)?,
            checks: measured.checks(),
            section,
        })
    }
}

type RunScenario = for<'a> fn(&'a Settings) -> LocalBoxFuture<'a, anyhow::Result<Outcome>>;

/// One entry of [`SCENARIOS`].
pub struct ScenarioEntry {
    /// The `bench` subcommand, and the stem of its own results file.
    pub name: &'static str,
    /// Its key in results.json.
    pub key: &'static str,
    /// The numbered title used in progress lines and errors.
    pub title: &'static str,
    /// One line for `bench --help`.
    pub about: &'static str,
    pub run: RunScenario,
}

/// Wraps a scenario's `run` (any `async fn(&Settings) -> anyhow::Result<impl Measured>`).
macro_rules! scenario_run {
    ($run:path) => {
        |settings| Box::pin(async move { Outcome::of(&$run(settings).await?) })
    };
}

/// Every scenario, in the order `all` runs them and the report lists them. A new scenario is
/// a module whose result implements [`Measured`], plus one entry here.
pub static SCENARIOS: &[ScenarioEntry] = &[
    ScenarioEntry {
        name: "commands",
        key: "commands",
        title: "1. commands",
        about: "Rule-based commands from 50 clients vs the durable and echo floors",
        run: scenario_run!(commands::run),
    },
    ScenarioEntry {
        name: "streaming",
        key: "streaming",
        title: "2. streaming",
        about: "Streaming AI replies at 500 sessions: delay added per chunk",
        run: scenario_run!(streaming::run),
    },
    ScenarioEntry {
        name: "cold-start",
        key: "cold_start",
        title: "3. cold start",
        about: "Process start to the first 200 on /health and /ready",
        run: scenario_run!(cold_start::run),
    },
    ScenarioEntry {
        name: "memory",
        key: "memory",
        title: "4. memory",
        about: "RSS idle and with 10,000 idle WebSockets",
        run: scenario_run!(memory::run),
    },
    ScenarioEntry {
        name: "size",
        key: "size",
        title: "5. size",
        about: "Size of the stripped release binary",
        run: scenario_run!(size::run),
    },
    ScenarioEntry {
        name: "cost",
        key: "cost",
        title: "6. cost",
        about: "Tokens and cost of a typical AI turn",
        run: scenario_run!(cost::run),
    },
    ScenarioEntry {
        name: "timers",
        key: "timers",
        title: "7. timer sweep",
        about: "Server CPU of the due-timer sweep with 10,000 timers pending",
        run: scenario_run!(timers::run),
    },
    ScenarioEntry {
        name: "live",
        key: "live",
        title: "8. live relay",
        about: "Live voice relay at 200 sessions: delay per audio chunk, memory, CPU, cost",
        run: scenario_run!(live::run),
    },
];

/// Everything a run measured; written as results.json and rendered as report.md.
#[derive(Debug, Clone, Serialize)]
pub struct Results {
    pub machine: Machine,
    pub settings: Settings,
    /// Each scenario that ran, under its key.
    #[serde(flatten)]
    pub scenarios: BTreeMap<&'static str, serde_json::Value>,
    pub checks: Vec<Check>,
    /// Scenarios that could not run, with the reason.
    pub errors: Vec<String>,
    pub duration_secs: f64,
    /// Each scenario's report.md section, in run order.
    #[serde(skip)]
    pub sections: Vec<String>,
}

impl Results {
    pub fn new(machine: Machine, settings: Settings) -> Self {
        Self {
            machine,
            settings,
            scenarios: BTreeMap::new(),
            checks: Vec::new(),
            errors: Vec::new(),
            duration_secs: 0.0,
            sections: Vec::new(),
        }
    }

    /// Runs one scenario within [`SCENARIO_LIMIT`] and records what it measured, or why it
    /// could not.
    pub async fn run(&mut self, entry: &ScenarioEntry, settings: &Settings) {
        match bounded(entry.title, (entry.run)(settings)).await {
            Ok(outcome) => {
                self.scenarios.insert(entry.key, outcome.value);
                self.checks.extend(outcome.checks);
                self.sections.push(outcome.section);
            }
            Err(e) => self.errors.push(format!("{}: {e:#}", entry.title)),
        }
    }

    /// Writes `<out>/<stem>.json` and `<out>/<report>.md`.
    pub fn write(&self, out_dir: &Path, json_name: &str, md_name: &str) -> anyhow::Result<()> {
        std::fs::create_dir_all(out_dir)?;
        let json = serde_json::to_string_pretty(self)?;
        std::fs::write(out_dir.join(json_name), json + "\n")?;
        std::fs::write(out_dir.join(md_name), report::render(self))?;
        Ok(())
    }
}

/// `a / b`, or 0 when `b` is 0.
pub fn ratio(a: f64, b: f64) -> f64 {
    if b == 0.0 { 0.0 } else { a / b }
}

//! Long reliability runs against the `ballsy` binary under load. They take minutes, so they are
//! ignored by a plain `cargo test`; run them (CI does, with the release binary) with
//!
//!     BALLSY_BIN=target/release/ballsy cargo test --test reliability -- --ignored --test-threads=1
//!
//! (BALLSY_RELIABILITY_RESTART_POSTGRES=1 also restarts the local PostgreSQL cluster mid-load.)
//!
//! Each checks the promise that matters under stress: a command the server acknowledged is in
//! the database, failures are answered clearly and quickly, and the process survives.

#[path = "api/helpers.rs"]
#[allow(dead_code)]
mod helpers;
#[path = "api/server.rs"]
#[allow(dead_code)]
mod server;

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use ballsy::store::{Store, UserId};
use ballsy_bench::fake_gemini::{FakeGemini, FakeGeminiConfig};
use ballsy_bench::loadgen::{CommandLoad, CommandReport, run_commands};
use futures_util::future::join_all;
use helpers::{
    Backend, TcpProxy, TestDb, admin_connection, connect_ws, eventually, postgres_admin_url,
    report_skip,
};
use serde_json::json;
use server::Server;

fn server_env(database_url: &str) -> Vec<(&'static str, String)> {
    vec![
        ("DATABASE_URL", database_url.to_owned()),
        ("LOG_FORMAT", "json".to_owned()),
        ("LOG_LEVEL", "warn".to_owned()),
        // The load comes from one address and a few users at machine speed.
        ("RATE_LIMIT_ENABLED", "false".to_owned()),
    ]
}

fn ws_base(server: &Server) -> String {
    format!("ws://127.0.0.1:{}", server.port)
}

/// Every user's stored commands, oldest first.
async fn stored_commands(
    database_url: &str,
    report: &CommandReport,
) -> BTreeMap<String, Vec<String>> {
    let store = Store::connect_lazy(
        &ballsy::store::url::DatabaseUrl::parse(database_url).unwrap(),
        4,
    );
    let mut stored = BTreeMap::new();
    for client in &report.per_client {
        let Some(credentials) = &client.credentials else {
            continue;
        };
        let user = UserId::from_raw(credentials.user_id.clone());
        let mut commands: Vec<String> = store
            .history(&user, 10_000)
            .await
            .unwrap()
            .into_iter()
            .map(|h| h.command)
            .collect();
        commands.reverse();
        stored.insert(credentials.user_id.clone(), commands);
    }
    store.close().await;
    stored
}

/// Acknowledged commands are all stored, in order; nothing is stored that the client did not
/// send. Returns how many were acknowledged.
async fn assert_nothing_acknowledged_is_lost(
    database_url: &str,
    report: &CommandReport,
    exact: bool,
) -> usize {
    let stored = stored_commands(database_url, report).await;
    let mut acknowledged = 0;
    for client in &report.per_client {
        let Some(credentials) = &client.credentials else {
            continue;
        };
        let commands = &stored[&credentials.user_id];
        acknowledged += client.acknowledged.len();
        if exact {
            assert_eq!(commands, &client.acknowledged, "client {}", client.index);
            continue;
        }
        let stored_set: BTreeSet<&String> = commands.iter().collect();
        for command in &client.acknowledged {
            assert!(
                stored_set.contains(command),
                "client {}: acknowledged {command:?} is missing",
                client.index
            );
        }
        let sent: BTreeSet<&String> = client
            .acknowledged
            .iter()
            .chain(&client.refused)
            .chain(&client.unresolved)
            .collect();
        for command in commands {
            assert!(
                sent.contains(command),
                "client {}: stored {command:?} was never sent",
                client.index
            );
        }
    }
    acknowledged
}

async fn load_held(backend: Backend) {
    let db = TestDb::new(backend).await;
    let server = Server::start(&server_env(&db.url));
    let mut load = CommandLoad::new(ws_base(&server));
    load.clients = 1000;
    load.commands_per_client = 20;
    load.session_parallelism = 32;
    load.timeout = Duration::from_secs(60);
    let report = run_commands(load).await;
    assert!(report.is_clean(), "{report:?}");
    assert_eq!(report.acknowledged, 20_000);
    let acknowledged = assert_nothing_acknowledged_is_lost(&db.url, &report, true).await;
    assert_eq!(
        acknowledged, 20_000,
        "exactly one history row per acknowledged command"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "long: see the top of this file"]
async fn a_thousand_sessions_of_twenty_commands_lose_nothing_on_sqlite() {
    load_held(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "long: see the top of this file"]
async fn a_thousand_sessions_of_twenty_commands_lose_nothing_on_postgres() {
    if postgres_admin_url().is_none() {
        report_skip("a_thousand_sessions_of_twenty_commands_lose_nothing_on_postgres");
        return;
    }
    load_held(Backend::Postgres).await;
}

async fn ready_status(server: &Server) -> u16 {
    reqwest::Client::new()
        .get(server.url("/ready"))
        .timeout(Duration::from_secs(5))
        .send()
        .await
        .map(|r| r.status().as_u16())
        .unwrap_or(0)
}

/// Connections killed, then the database unreachable and back (what a restart looks like from
/// the app), optionally a real restart of the local cluster, all under load.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "long: see the top of this file"]
async fn database_faults_under_load_lose_nothing_and_need_no_restart() {
    let Some(admin) = postgres_admin_url() else {
        report_skip("database_faults_under_load_lose_nothing_and_need_no_restart");
        return;
    };
    let db = TestDb::new(Backend::Postgres).await;
    let upstream = url::Url::parse(&admin).unwrap();
    let proxy = TcpProxy::start(&format!(
        "{}:{}",
        upstream.host_str().unwrap(),
        upstream.port().unwrap_or(5432)
    ))
    .await;
    let mut via_proxy = url::Url::parse(&db.url).unwrap();
    via_proxy.set_host(Some("127.0.0.1")).unwrap();
    via_proxy.set_port(Some(proxy.port())).unwrap();
    let server = Server::start(&server_env(via_proxy.as_str()));
    assert!(
        eventually(Duration::from_secs(15), || async {
            ready_status(&server).await == 200
        })
        .await
    );
    let pid_before = server_pid(&server);

    let mut load = CommandLoad::new(ws_base(&server));
    load.clients = 40;
    load.commands_per_client = 100_000;
    load.duration = Some(Duration::from_secs(16));
    load.min_interval = Some(Duration::from_millis(50));
    load.timeout = Duration::from_secs(20);
    let load = tokio::spawn(run_commands(load));

    let faults = async {
        tokio::time::sleep(Duration::from_secs(2)).await;
        let mut conn = admin_connection(&admin).await;
        let killed: Vec<(bool,)> = sqlx::query_as(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()",
        )
        .bind(db.pg_name().unwrap())
        .fetch_all(&mut conn)
        .await
        .unwrap();
        assert!(!killed.is_empty(), "the server had connections to kill");
        tokio::time::sleep(Duration::from_secs(2)).await;
        proxy.set_down(true).await;
        let went_down = eventually(Duration::from_secs(6), || async {
            ready_status(&server).await == 503
        })
        .await;
        tokio::time::sleep(Duration::from_secs(2)).await;
        proxy.set_down(false).await;
        let came_back = eventually(Duration::from_secs(15), || async {
            ready_status(&server).await == 200
        })
        .await;
        if std::env::var_os("BALLSY_RELIABILITY_RESTART_POSTGRES").is_some() {
            restart_postgres();
            assert!(
                eventually(Duration::from_secs(20), || async {
                    ready_status(&server).await == 200
                })
                .await,
                "ready again after a real PostgreSQL restart"
            );
        }
        (went_down, came_back)
    };
    let (went_down, came_back) = faults.await;
    let report = load.await.unwrap();
    assert!(
        went_down,
        "/ready reports 503 while the database is unreachable"
    );
    assert!(came_back, "/ready returns to 200 by itself");
    assert_eq!(
        report.lost, 0,
        "every command got an answer, none hung: {report:?}"
    );
    assert_eq!(report.connect_failures, 0, "{report:?}");
    for code in report.errors.keys() {
        assert_eq!(
            code, "storage_unavailable",
            "errors during the outage are clear: {report:?}"
        );
    }
    assert!(report.acknowledged > 1000, "the load ran: {report:?}");
    assert!(
        !report.errors.is_empty(),
        "the outage was noticed by commands: {report:?}"
    );
    assert_eq!(
        server_pid(&server),
        pid_before,
        "the process was never restarted"
    );
    assert_eq!(ready_status(&server).await, 200);
    let acknowledged = assert_nothing_acknowledged_is_lost(&db.url, &report, false).await;
    assert!(acknowledged > 0);
}

fn server_pid(server: &Server) -> u32 {
    server.pid()
}

/// A real restart of the machine's cluster (CI machines run one; `pg_ctlcluster` as root).
fn restart_postgres() {
    let version = std::fs::read_dir("/etc/postgresql")
        .unwrap()
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .next()
        .expect("a PostgreSQL cluster");
    let status = std::process::Command::new("pg_ctlcluster")
        .args(["--skip-systemctl-redirect", &version, "main", "restart"])
        .status()
        .expect("pg_ctlcluster runs");
    assert!(status.success(), "PostgreSQL restarted");
}

/// Every failure mode of the model, from many sessions at once: each gets a clear answer
/// within the deadline, and the server stays healthy.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "long: see the top of this file"]
async fn model_faults_are_answered_clearly_within_the_deadline() {
    let fake = FakeGemini::start(FakeGeminiConfig::default())
        .await
        .unwrap();
    let db = TestDb::new(Backend::Sqlite).await;
    let mut env = server_env(&db.url);
    env.extend([
        ("GEMINI_API_KEY", "reliability".to_owned()),
        ("GEMINI_BASE_URL", fake.base_url()),
        ("GEMINI_TIMEOUT_SECS", "6".to_owned()),
        ("GEMINI_FIRST_BYTE_TIMEOUT_SECS", "2".to_owned()),
        ("GEMINI_STALL_TIMEOUT_SECS", "2".to_owned()),
    ]);
    let server = Server::start(&env);
    const DEADLINE: Duration = Duration::from_secs(8);
    let faults = [
        "429",
        "500",
        "503",
        "stream-error",
        "stall",
        "malformed",
        "reset",
        "empty",
        "safety",
        "401",
    ];
    let sessions = faults
        .iter()
        .flat_map(|fault| (0..5).map(move |i| (*fault, i)))
        .map(|(fault, i)| {
            let url = format!("ws://127.0.0.1:{}/ws/voice/fault-{fault}-{i}", server.port);
            async move {
                let mut ws = connect_ws(&url, &[]).await.unwrap();
                let started = Instant::now();
                ws.send_json(json!({"command": format!("[[fake:{fault}]] question {i}")}))
                    .await;
                let (deltas, reply) = ws.collect_reply().await;
                (fault, deltas, reply, started.elapsed())
            }
        });
    for (fault, deltas, reply, elapsed) in join_all(sessions).await {
        assert_eq!(reply["type"], "command_response", "{fault}: {reply}");
        let text = reply["data"]["response"].as_str().unwrap();
        assert!(text.len() > 10, "{fault}: a clear sentence, got {text:?}");
        assert!(elapsed < DEADLINE, "{fault}: answered after {elapsed:?}");
        if !deltas.is_empty() {
            // Text reached the user: the partial answer is kept and marked as cut off.
            assert!(text.starts_with(deltas[0].trim()), "{fault}: {text}");
        }
    }
    // Retries happened only before the first delta: the faults that stream one chunk first
    // were each requested exactly once per session.
    let requests = fake.requests();
    for fault in ["stream-error", "stall", "malformed", "reset"] {
        let count = requests
            .iter()
            .filter(|r| r.body.to_string().contains(&format!("[[fake:{fault}]]")))
            .count();
        assert_eq!(count, 5, "{fault}: no retry after text was streamed");
    }
    let health = reqwest::get(server.url("/health")).await.unwrap();
    assert_eq!(health.status(), 200);
    let mut ws = connect_ws(
        &format!("ws://127.0.0.1:{}/ws/voice/after", server.port),
        &[],
    )
    .await
    .unwrap();
    let (_, reply) = ws.command("why is the sky blue").await;
    assert_eq!(
        reply["data"]["source"], "gemini",
        "the server is healthy afterwards"
    );
}

/// SIGTERM in the middle of a load: replies in flight finish or their sockets close with 1001,
/// the process exits 0 well within Cloud Run's 10 s, and nothing acknowledged is lost.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "long: see the top of this file"]
async fn sigterm_under_load_loses_nothing() {
    let db = TestDb::new(Backend::Sqlite).await;
    let mut server = Server::start(&server_env(&db.url));
    let mut load = CommandLoad::new(ws_base(&server));
    load.clients = 100;
    load.commands_per_client = 100_000;
    load.duration = Some(Duration::from_secs(10));
    load.timeout = Duration::from_secs(15);
    let load = tokio::spawn(run_commands(load));
    tokio::time::sleep(Duration::from_secs(3)).await;
    let signalled = Instant::now();
    server.sigterm();
    let status = server.wait_exit(Duration::from_secs(10));
    assert!(status.success(), "{status:?}");
    let shutdown = signalled.elapsed();
    let report = load.await.unwrap();
    assert!(report.acknowledged > 100, "the load ran: {report:?}");
    assert!(report.errors.is_empty(), "{report:?}");
    for code in report.close_codes.keys() {
        assert_eq!(
            code, "1001",
            "sockets close with 1001 (going away): {report:?}"
        );
    }
    let unresolved: usize = report.per_client.iter().map(|c| c.unresolved.len()).sum();
    assert!(
        unresolved <= report.clients,
        "at most the command in flight per client: {unresolved}"
    );
    let acknowledged = assert_nothing_acknowledged_is_lost(&db.url, &report, false).await;
    assert!(acknowledged > 100);
    assert!(shutdown < Duration::from_secs(10), "{shutdown:?}");
}

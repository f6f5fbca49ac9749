//! The `ballsy` binary as a process: JSON logs, configuration errors, SIGTERM, and secrets that
//! never reach the output.

use std::process::Command;
use std::time::{Duration, Instant};

use ballsy_bench::fake_gemini::{FakeGemini, FakeGeminiConfig};
use futures_util::StreamExt;
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;

use crate::helpers::{Backend, TestDb, connect_ws, postgres_admin_url};
use crate::server::{Server, binary};

fn sqlite_env(db: &TestDb) -> Vec<(&'static str, String)> {
    vec![
        ("DATABASE_URL", db.url.clone()),
        ("LOG_FORMAT", "json".into()),
    ]
}

#[tokio::test]
async fn json_logs_carry_the_request_fields_and_the_trace() {
    let db = TestDb::new(Backend::Sqlite).await;
    let mut env = sqlite_env(&db);
    env.push(("GOOGLE_CLOUD_PROJECT", "my-proj".into()));
    let server = Server::start(&env);
    let client = reqwest::Client::new();
    let response = client
        .post(server.url("/api/command"))
        .header("x-request-id", "req-logs-1")
        .header(
            "x-cloud-trace-context",
            "105445aa7843bc8bf206b12000100000/1;o=1",
        )
        .json(&json!({"command": "hello"}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    tokio::time::sleep(Duration::from_millis(200)).await;
    let lines = server.log_lines();
    let ours: Vec<&Value> = lines
        .iter()
        .filter(|l| l["request_id"] == "req-logs-1")
        .collect();
    assert!(
        ours.len() >= 2,
        "the turn and the completion are logged: {lines:?}"
    );
    for line in &ours {
        assert_eq!(line["path"], "/api/command");
        assert_eq!(line["method"], "POST");
        assert!(
            line["user_id"].as_str().is_some_and(|u| u.len() == 32),
            "{line}"
        );
        assert_eq!(
            line["logging.googleapis.com/trace"],
            "projects/my-proj/traces/105445aa7843bc8bf206b12000100000"
        );
        assert!(line["timestamp"].as_str().is_some());
        assert!(line["message"].as_str().is_some());
    }
    let completion = ours
        .iter()
        .find(|l| l["message"] == "request completed")
        .unwrap();
    assert_eq!(completion["severity"], "INFO");
    assert_eq!(completion["status"], 200);
    assert!(completion["latency_ms"].as_f64().unwrap() >= 0.0);
    // Every line has Cloud Logging's severity names.
    for line in &lines {
        let severity = line["severity"].as_str().unwrap();
        assert!(
            ["DEBUG", "INFO", "WARNING", "ERROR"].contains(&severity),
            "{line}"
        );
    }
}

#[test]
fn bad_configuration_exits_non_zero_with_a_precise_message() {
    let output = Command::new(binary())
        .env_clear()
        .env("PORT", "abc")
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("invalid PORT \"abc\": expected a port number"),
        "{stderr}"
    );

    let output = Command::new(binary())
        .env_clear()
        .env("DATABASE_URL", "mysql://root:hunter2-secret@localhost/db")
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("invalid DATABASE_URL"), "{stderr}");
    assert!(!stderr.contains("hunter2-secret"), "{stderr}");
}

#[test]
fn help_lists_every_environment_variable() {
    let output = Command::new(binary()).arg("--help").output().unwrap();
    assert!(output.status.success());
    let help = String::from_utf8_lossy(&output.stdout);
    for var in ballsy::config::ENV_VARS {
        assert!(help.contains(var.name), "{} missing from --help", var.name);
    }
    for subcommand in ["serve", "migrate"] {
        assert!(help.contains(subcommand));
    }
}

#[tokio::test]
async fn sigterm_closes_sockets_with_1001_and_exits_promptly() {
    let db = TestDb::new(Backend::Sqlite).await;
    let mut server = Server::start(&sqlite_env(&db));
    let mut ws = connect_ws(&format!("ws://127.0.0.1:{}/ws/voice/tab", server.port), &[])
        .await
        .unwrap();
    let (_, reply) = ws.command("hello").await;
    assert_eq!(reply["type"], "command_response");
    let signalled = Instant::now();
    server.sigterm();
    let close = ws
        .expect_close(Duration::from_secs(2))
        .await
        .expect("a close frame");
    assert_eq!(close.code, CloseCode::Away);
    let status = server.wait_exit(Duration::from_secs(2));
    assert!(status.success(), "{status:?}");
    assert!(
        signalled.elapsed() < Duration::from_secs(2),
        "{:?}",
        signalled.elapsed()
    );
}

#[tokio::test]
async fn sigterm_lets_a_streaming_reply_finish() {
    let fake = FakeGemini::start(FakeGeminiConfig {
        chunks: 6,
        chunk_delay: Duration::from_millis(150),
        ..Default::default()
    })
    .await
    .unwrap();
    let db = TestDb::new(Backend::Sqlite).await;
    let mut env = sqlite_env(&db);
    env.push(("GEMINI_API_KEY", "k".into()));
    env.push(("GEMINI_BASE_URL", fake.base_url()));
    let mut server = Server::start(&env);
    let mut ws = connect_ws(&format!("ws://127.0.0.1:{}/ws/voice/tab", server.port), &[])
        .await
        .unwrap();
    ws.send_json(json!({"command": "tell me something"})).await;
    assert_eq!(ws.recv_json().await["type"], "response_delta");
    server.sigterm();
    let reply = loop {
        let frame = tokio::time::timeout(Duration::from_secs(10), ws.stream.next()).await;
        match frame {
            Ok(Some(Ok(tokio_tungstenite::tungstenite::Message::Text(text)))) => {
                let value: Value = serde_json::from_str(text.as_str()).unwrap();
                if value["type"] != "response_delta" {
                    break value;
                }
            }
            other => panic!("{other:?}; server output:\n{}", server.all_output()),
        }
    };
    assert_eq!(
        reply["type"], "command_response",
        "the reply in flight finished"
    );
    let close = ws
        .expect_close(Duration::from_secs(5))
        .await
        .expect("then the socket closes");
    assert_eq!(close.code, CloseCode::Away);
    assert!(server.wait_exit(Duration::from_secs(10)).success());
}

#[tokio::test]
async fn secrets_never_reach_logs_errors_or_responses() {
    const KEY: &str = "AQ.never-log-this-key-7731";
    const DB_PASSWORD: &str = "never-log-this-pw-5521";
    let fake = FakeGemini::start(FakeGeminiConfig::default())
        .await
        .unwrap();
    let mut env = vec![
        ("LOG_FORMAT", "json".to_owned()),
        ("LOG_LEVEL", "debug".to_owned()),
        ("GEMINI_API_KEY", KEY.to_owned()),
        ("GEMINI_BASE_URL", fake.base_url()),
        ("GEMINI_MAX_RETRIES", "1".to_owned()),
    ];
    // The database password travels in DATABASE_URL; with Postgres it is really used (trust
    // authentication accepts it), with SQLite only the key is exercised.
    let pg = postgres_admin_url().map(|_| ());
    let _db;
    match pg {
        Some(()) => {
            let db = TestDb::new(Backend::Postgres).await;
            let mut url = url::Url::parse(&db.url).unwrap();
            url.set_password(Some(DB_PASSWORD)).unwrap();
            env.push(("DATABASE_URL", url.to_string()));
            _db = db;
        }
        None => {
            let db = TestDb::new(Backend::Sqlite).await;
            env.push(("DATABASE_URL", db.url.clone()));
            _db = db;
        }
    }
    let server = Server::start(&env);
    let client = reqwest::Client::new();
    let mut bodies = String::new();
    for command in [
        "hello",
        "why is the sky blue",
        "[[fake:503]] broken",
        "[[fake:429]] busy",
        "[[fake:stream-error]] cut",
        "[[fake:malformed]] garbage",
        "[[fake:reset]] reset",
        "[[fake:401]] auth",
        "[[fake:safety]] blocked",
    ] {
        let response = client
            .post(server.url("/api/command"))
            .json(&json!({"command": command}))
            .send()
            .await
            .unwrap();
        bodies.push_str(&response.text().await.unwrap());
    }
    for path in ["/api/session", "/ready", "/openapi.json", "/api/history/me"] {
        bodies.push_str(
            &client
                .get(server.url(path))
                .send()
                .await
                .unwrap()
                .text()
                .await
                .unwrap(),
        );
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    let output = server.all_output();
    assert!(output.contains("request completed"), "logs were captured");
    for secret in [KEY, DB_PASSWORD] {
        assert!(!output.contains(secret), "{secret} leaked into the logs");
        assert!(!bodies.contains(secret), "{secret} leaked into a response");
    }
    let requests = fake.requests();
    assert!(
        requests.iter().all(|r| !r.key_in_query),
        "the key never travels in a URL"
    );
}

/// A cold start migrates in the background while the server already listens; nothing that
/// needs the schema (the due-timer sweep) may run before it, so a clean start logs no
/// database error at all.
#[tokio::test]
async fn a_cold_start_logs_no_database_errors_while_it_migrates() {
    for backend in [Backend::Sqlite, Backend::Postgres] {
        if backend == Backend::Postgres && postgres_admin_url().is_none() {
            crate::helpers::report_skip("a_cold_start_logs_no_database_errors_while_it_migrates");
            continue;
        }
        let db = TestDb::new(backend).await;
        let env = vec![
            ("DATABASE_URL", db.url.clone()),
            ("LOG_FORMAT", "json".to_owned()),
            ("LOG_LEVEL", "debug".to_owned()),
        ];
        let server = Server::start(&env);
        let client = reqwest::Client::new();
        let ready = crate::helpers::eventually(Duration::from_secs(20), || async {
            client
                .get(server.url("/ready"))
                .send()
                .await
                .is_ok_and(|r| r.status() == 200)
        })
        .await;
        assert!(ready, "{backend:?}: the server becomes ready");
        // Two sweep periods after the schema is in place.
        tokio::time::sleep(Duration::from_millis(1200)).await;
        let lines = server.log_lines();
        assert!(
            lines.iter().any(|l| l["message"] == "applied migration"),
            "{backend:?}: this was a cold start"
        );
        let troubled: Vec<&Value> = lines
            .iter()
            // The test's own polls of /ready are answered 503 until the schema is current,
            // and logged as such: those are not errors.
            .filter(|l| l["message"] != "request completed")
            .filter(|l| {
                let text = l.to_string();
                text.contains("no such table")
                    || text.contains("does not exist")
                    || text.contains("database is unavailable")
                    || l["severity"] == "ERROR"
                    || l["severity"] == "WARNING"
            })
            .collect();
        assert!(troubled.is_empty(), "{backend:?}: {troubled:#?}");
    }
}

//! Hostile input and clients (issue 11): control characters, one poisoned turn among many, one
//! network minting identities to drain the AI budget, IPv6 rotation, slow or idle connections,
//! sockets kept alive by pings, bodies without a content type, shutdown during an AI answer,
//! and the smaller holes (bearer case, close codes, undecodable paths, invisible commands,
//! session expiry).

use std::time::Duration;

use ballsy::conversation::{Source, Status, TurnRecord};
use ballsy::limits::budget_day;
use ballsy::store::{Store, UserId, hash_token};
use ballsy_bench::fake_gemini::{FakeGeminiConfig, Reply};
use chrono::Utc;
use futures_util::StreamExt;
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::helpers::{AppOptions, Backend, TcpProxy, TestApp, new_client, spawn_app};
use crate::on_both_backends;

async fn post_command(client: &reqwest::Client, app: &TestApp, body: &Value) -> reqwest::Response {
    client
        .post(app.url("/api/command"))
        .json(body)
        .send()
        .await
        .unwrap()
}

async fn count_users(app: &TestApp) -> i64 {
    app.state.store().count_rows("users").await.unwrap()
}

// --- 1. NUL and other control characters ----------------------------------------------------

async fn control_characters_are_refused_at_the_edge(backend: Backend) {
    let app = spawn_app(AppOptions::new(backend)).await;
    let users_before = count_users(&app).await;
    let response = post_command(&new_client(), &app, &json!({"command": "hi\u{0}"})).await;
    assert_eq!(response.status(), 400);
    assert!(
        response.headers().get("set-cookie").is_none(),
        "no identity for a request that fails validation"
    );
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["code"], "invalid_characters");
    assert_eq!(
        body["detail"],
        "The command contains the control character U+0000; remove it and send it again."
    );
    assert_eq!(count_users(&app).await, users_before);

    let (token, _) = app.new_session().await;
    let mut ws = app.ws("tab", &token).await;
    ws.send_json(json!({"command": "a\u{1b}[2Jb", "id": "esc"}))
        .await;
    let frame = ws.recv_json().await;
    assert_eq!(frame["code"], "invalid_characters", "{frame}");
    assert_eq!(frame["id"], "esc");
    let (_, reply) = ws.command("hello").await;
    assert_eq!(reply["type"], "command_response", "the socket stays usable");
}
on_both_backends!(control_characters_are_refused_at_the_edge);

async fn a_model_reply_with_nul_is_stored_without_it(backend: Backend) {
    let fake = FakeGeminiConfig {
        reply: Reply::Fixed("Hel\u{0}lo th\u{7}ere. All good.".into()),
        ..Default::default()
    };
    let app = spawn_app(AppOptions::new(backend).with_gemini(fake)).await;
    let reply = app.ask("say hello").await;
    assert_eq!(reply["response"], "Hello there. All good.");
    assert_eq!(reply["status"], "complete");
    let history = crate::helpers::get_json(&app.client, &app.url("/api/history/me")).await;
    assert_eq!(history["history"][0]["result"], "Hello there. All good.");
}
on_both_backends!(a_model_reply_with_nul_is_stored_without_it);

fn record(user: &UserId, reply: &str) -> TurnRecord {
    let now = Utc::now();
    TurnRecord {
        user: user.clone(),
        command: "hello".into(),
        command_at: now,
        reply: reply.into(),
        action: None,
        source: Source::Rule,
        answered_by: Some("greeting".into()),
        status: Status::Complete,
        replied_at: now,
        calculation: None,
    }
}

/// A batch that the database refuses because of one turn: the others are committed anyway.
async fn one_poisoned_turn_never_fails_the_others(backend: Backend) {
    let db = crate::helpers::TestDb::new(backend).await;
    let store = Store::connect_lazy(&db.database_url(), 5);
    store.migrate().await.unwrap();
    let mut users = Vec::new();
    for i in 0..10 {
        users.push(
            store
                .create_identity(&hash_token(&format!("t{i}")))
                .await
                .unwrap(),
        );
    }
    // Poison that every backend refuses: a turn of a user that does not exist (foreign key).
    let ghost = UserId::from_raw("no-such-user");
    for round in 0..5 {
        let mut tasks = Vec::new();
        for (i, user) in users.iter().enumerate() {
            let writer = store.clone();
            let record = record(user, &format!("reply {round}-{i}"));
            tasks.push(tokio::spawn(
                async move { writer.record_turn(record).await },
            ));
            if i == 4 {
                let store = store.clone();
                let poisoned = record_for_ghost(&ghost, round);
                tasks.push(tokio::spawn(
                    async move { store.record_turn(poisoned).await },
                ));
            }
        }
        let mut failures = 0;
        for task in tasks {
            if task.await.unwrap().is_err() {
                failures += 1;
            }
        }
        assert_eq!(failures, 1, "only the poisoned turn fails (round {round})");
    }
    for user in &users {
        assert_eq!(store.history(user, 100).await.unwrap().len(), 5);
    }
}
on_both_backends!(one_poisoned_turn_never_fails_the_others);

fn record_for_ghost(ghost: &UserId, round: usize) -> TurnRecord {
    record(ghost, &format!("ghost {round}"))
}

/// PostgreSQL text cannot hold NUL; a turn carrying one (were it to get past the edge) fails
/// alone, and SQLite agrees on what the others see.
async fn a_nul_in_a_batch_fails_only_its_own_turn(backend: Backend) {
    let db = crate::helpers::TestDb::new(backend).await;
    let store = Store::connect_lazy(&db.database_url(), 5);
    store.migrate().await.unwrap();
    let good = store.create_identity(&hash_token("good")).await.unwrap();
    let bad = store.create_identity(&hash_token("bad")).await.unwrap();
    let mut tasks = Vec::new();
    for i in 0..30 {
        let store = store.clone();
        let (user, reply) = if i == 15 {
            (bad.clone(), "poison\u{0}".to_owned())
        } else {
            (good.clone(), format!("fine {i}"))
        };
        tasks.push(tokio::spawn(async move {
            store.record_turn(record(&user, &reply)).await
        }));
    }
    let results: Vec<_> = futures_util::future::join_all(tasks).await;
    let good_ok = results
        .iter()
        .enumerate()
        .filter(|(i, r)| *i != 15 && r.as_ref().unwrap().is_ok())
        .count();
    assert_eq!(good_ok, 29, "every other turn is committed");
    assert_eq!(store.history(&good, 100).await.unwrap().len(), 29);
}
on_both_backends!(a_nul_in_a_batch_fails_only_its_own_turn);

// --- 2 and 3. One network, many identities ---------------------------------------------------

async fn one_network_cannot_drain_the_ai_budget(backend: Backend) {
    let app = spawn_app(
        AppOptions::new(backend)
            .with_gemini(Default::default())
            .configure(|c| {
                c.ai_daily_requests_per_ip = 3;
                c.ai_daily_requests_per_user = 100;
                c.trust_proxy = true;
            }),
    )
    .await;
    // Every request comes without a cookie (a new identity each time) from addresses of one
    // IPv6 /64, which is one network.
    let mut sources = Vec::new();
    for i in 0..5 {
        let response = new_client()
            .post(app.url("/api/command"))
            .header("x-forwarded-for", format!("2001:db8:7:7::{:x}", i + 1))
            .json(&json!({"command": "why is the sky blue"}))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
        let reply: Value = response.json().await.unwrap();
        sources.push(reply["source"].as_str().unwrap().to_owned());
        if i == 4 {
            assert!(
                reply["response"]
                    .as_str()
                    .unwrap()
                    .starts_with("Your network has used up today's AI budget")
            );
        }
    }
    assert_eq!(sources, ["gemini", "gemini", "gemini", "budget", "budget"]);
    let day = budget_day();
    assert_eq!(
        app.state
            .store()
            .ai_usage("ip:2001:db8:7:7::/64", &day)
            .await
            .unwrap(),
        3
    );
    // Another network still has its own budget; an IPv4-mapped address is its IPv4 network.
    for forwarded in ["::ffff:198.51.100.9", "198.51.100.9"] {
        let reply: Value = new_client()
            .post(app.url("/api/command"))
            .header("x-forwarded-for", forwarded)
            .json(&json!({"command": "why is grass green"}))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(reply["source"], "gemini");
    }
    assert_eq!(
        app.state
            .store()
            .ai_usage("ip:198.51.100.9", &day)
            .await
            .unwrap(),
        2,
        "both spellings count against one network"
    );
}
on_both_backends!(one_network_cannot_drain_the_ai_budget);

async fn new_identities_are_limited_per_network(backend: Backend) {
    let app = spawn_app(AppOptions::new(backend).configure(|c| {
        c.rate_limit.enabled = true;
        c.rate_limit.ip_per_minute = 10_000;
        c.rate_limit.new_sessions_per_ip_per_hour = 3;
    }))
    .await;
    // The test's own client (it keeps its cookie) is the first of three.
    let first = app
        .client
        .get(app.url("/api/session"))
        .send()
        .await
        .unwrap();
    assert_eq!(first.status(), 200);
    for _ in 0..2 {
        let response = new_client()
            .get(app.url("/api/session"))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
    }
    let refused = new_client()
        .get(app.url("/api/session"))
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 429);
    let retry_after: u64 = refused.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=3600).contains(&retry_after), "{retry_after}");
    let body: Value = refused.json().await.unwrap();
    assert_eq!(body["code"], "too_many_sessions");
    let minted = new_client()
        .post(app.url("/api/session"))
        .send()
        .await
        .unwrap();
    assert_eq!(minted.status(), 429, "POST /api/session counts too");
    // Someone who already has an identity is not affected.
    let existing = app
        .client
        .get(app.url("/api/session"))
        .send()
        .await
        .unwrap();
    assert_eq!(existing.status(), 200);
    assert_eq!(app.ask("hello").await["source"], "rule");
}
on_both_backends!(new_identities_are_limited_per_network);

async fn identities_that_never_sent_a_command_are_pruned(backend: Backend) {
    let app = spawn_app(AppOptions::new(backend)).await;
    let store = app.state.store();
    let idle = store.create_identity(&hash_token("idle")).await.unwrap();
    let active = store.create_identity(&hash_token("active")).await.unwrap();
    store.record_turn(record(&active, "Hi!")).await.unwrap();
    let pruned = store
        .prune_identities(Utc::now() + chrono::Duration::hours(25))
        .await
        .unwrap();
    assert!(pruned.users >= 1);
    assert_eq!(store.count_user_rows("users", &idle).await.unwrap(), 0);
    assert_eq!(store.count_user_rows("users", &active).await.unwrap(), 1);
    // A day is not over yet for a fresh identity.
    let fresh = store.create_identity(&hash_token("fresh")).await.unwrap();
    store.prune_identities(Utc::now()).await.unwrap();
    assert_eq!(store.count_user_rows("users", &fresh).await.unwrap(), 1);
}
on_both_backends!(identities_that_never_sent_a_command_are_pruned);

async fn unused_sessions_expire(backend: Backend) {
    let app = spawn_app(AppOptions::new(backend)).await;
    let (token, _) = app.new_session().await;
    let bearer = format!("Bearer {token}");
    let ok = new_client()
        .get(app.url("/api/session"))
        .header("authorization", &bearer)
        .send()
        .await
        .unwrap();
    assert_eq!(ok.status(), 200);
    app.state
        .store()
        .execute_raw(&format!(
            "UPDATE sessions SET last_used_at = '2000-01-01T00:00:00+00:00' WHERE token_hash = '{}'",
            hash_token(&token)
        ))
        .await
        .unwrap();
    // A second process (no cache of this session) sees it expired.
    let other = Store::connect_lazy(&app.db.database_url(), 1);
    assert_eq!(
        other.user_for_token(&hash_token(&token)).await.unwrap(),
        None
    );
}
on_both_backends!(unused_sessions_expire);

// --- 4. Slow and idle connections ------------------------------------------------------------

/// Limits on (tests run with them off), rates high enough not to interfere.
fn limits_on(c: &mut ballsy::config::Config) {
    c.rate_limit.enabled = true;
    c.rate_limit.ip_per_minute = 100_000;
    c.rate_limit.user_per_minute = 100_000;
    c.rate_limit.user_burst = 100_000;
    c.rate_limit.new_sessions_per_ip_per_hour = 100_000;
}

/// Reads until the server closes the connection; true if it did within `within`.
async fn closed_within(stream: &mut TcpStream, within: Duration) -> bool {
    let mut buffer = [0u8; 4096];
    let deadline = tokio::time::Instant::now() + within;
    loop {
        match tokio::time::timeout_at(deadline, stream.read(&mut buffer)).await {
            Ok(Ok(0)) | Ok(Err(_)) => return true,
            Ok(Ok(_)) => continue,
            Err(_) => return false,
        }
    }
}

#[tokio::test]
async fn half_sent_headers_are_cut_off() {
    let app = spawn_app(AppOptions::new(Backend::Sqlite).configure(|c| {
        c.http.header_read_timeout = Duration::from_secs(1);
        c.http.idle_timeout = Duration::from_secs(60);
    }))
    .await;
    let mut slow = TcpStream::connect(app.addr).await.unwrap();
    slow.write_all(b"GET /health HTTP/1.1\r\nHost: x\r\nX-Slow: ")
        .await
        .unwrap();
    let started = std::time::Instant::now();
    assert!(closed_within(&mut slow, Duration::from_secs(4)).await);
    assert!(started.elapsed() >= Duration::from_millis(900));
    // A connection that has sent nothing yet is idle, not slow: it is kept for the idle timeout.
    let mut quiet = TcpStream::connect(app.addr).await.unwrap();
    assert!(!closed_within(&mut quiet, Duration::from_millis(1500)).await);
}

#[tokio::test]
async fn idle_keep_alive_connections_are_closed() {
    let app = spawn_app(AppOptions::new(Backend::Sqlite).configure(|c| {
        c.http.idle_timeout = Duration::from_secs(1);
    }))
    .await;
    let mut stream = TcpStream::connect(app.addr).await.unwrap();
    stream
        .write_all(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    let mut response = vec![0u8; 1024];
    let n = stream.read(&mut response).await.unwrap();
    assert!(String::from_utf8_lossy(&response[..n]).starts_with("HTTP/1.1 200"));
    assert!(closed_within(&mut stream, Duration::from_secs(4)).await);
}

#[tokio::test]
async fn connections_per_network_are_capped() {
    let app = spawn_app(AppOptions::new(Backend::Sqlite).configure(|c| {
        limits_on(c);
        c.http.max_connections_per_ip = 3;
    }))
    .await;
    let mut held = Vec::new();
    for _ in 0..3 {
        held.push(TcpStream::connect(app.addr).await.unwrap());
    }
    let mut refused = TcpStream::connect(app.addr).await.unwrap();
    assert!(
        closed_within(&mut refused, Duration::from_secs(2)).await,
        "the fourth connection is closed at once"
    );
    held.pop();
    tokio::time::sleep(Duration::from_millis(100)).await;
    let health = reqwest::Client::new()
        .get(app.url("/health"))
        .send()
        .await
        .unwrap();
    assert_eq!(health.status(), 200, "a freed slot serves again");
}

#[tokio::test]
async fn sockets_per_client_network_are_capped_behind_a_proxy() {
    let app = spawn_app(AppOptions::new(Backend::Sqlite).configure(|c| {
        limits_on(c);
        c.trust_proxy = true;
        c.http.max_connections_per_ip = 2;
    }))
    .await;
    let (token, _) = app.new_session().await;
    let bearer = format!("Bearer {token}");
    let headers = [
        ("authorization", bearer.as_str()),
        ("x-forwarded-for", "203.0.113.5"),
    ];
    let _a = app.ws_with("a", &headers).await.unwrap();
    let _b = app.ws_with("b", &headers).await.unwrap();
    let third = app.ws_with("c", &headers).await;
    match third {
        Err(tokio_tungstenite::tungstenite::Error::Http(response)) => {
            assert_eq!(response.status(), 429)
        }
        Err(other) => panic!("expected 429, got {other:?}"),
        Ok(_) => panic!("a third socket from one network was accepted"),
    }
    let other_network = [
        ("authorization", bearer.as_str()),
        ("x-forwarded-for", "203.0.113.6"),
    ];
    assert!(app.ws_with("d", &other_network).await.is_ok());
}

// --- 5. Sockets kept alive by a script -------------------------------------------------------

#[tokio::test]
async fn pings_do_not_keep_a_socket_alive_but_commands_do() {
    let app = spawn_app(AppOptions::new(Backend::Sqlite).configure(|c| {
        c.ws_idle_timeout = Duration::from_secs(2);
    }))
    .await;
    let (token, _) = app.new_session().await;
    let mut ws = app.ws("pinger", &token).await;
    let opened = std::time::Instant::now();
    let close = 'pinging: loop {
        ws.send_json(json!({"type": "ping"})).await;
        ws.send_json(json!({"status": "listening"})).await;
        // Read everything the server sent (the pong and the status) until it goes quiet.
        while let Ok(Some(Ok(message))) =
            tokio::time::timeout(Duration::from_millis(300), ws.stream.next()).await
        {
            if let tokio_tungstenite::tungstenite::Message::Close(frame) = message {
                break 'pinging frame;
            }
        }
        assert!(opened.elapsed() < Duration::from_secs(6), "never closed");
    };
    let close = close.expect("a close frame");
    assert_eq!(u16::from(close.code), 1000);
    assert_eq!(close.reason.as_str(), "idle timeout");
    assert!(opened.elapsed() >= Duration::from_millis(1900));

    let mut ws = app.ws("talker", &token).await;
    let opened = std::time::Instant::now();
    for _ in 0..6 {
        let (_, reply) = ws.command("hello").await;
        assert_eq!(reply["type"], "command_response");
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    assert!(
        opened.elapsed() > Duration::from_secs(2),
        "commands kept it open"
    );
}

#[tokio::test]
async fn sockets_end_at_their_maximum_lifetime_with_a_reason_the_page_knows() {
    let app = spawn_app(AppOptions::new(Backend::Sqlite).configure(|c| {
        c.ws_max_lifetime = Duration::from_secs(1);
    }))
    .await;
    let (token, _) = app.new_session().await;
    let mut ws = app.ws("tab", &token).await;
    let (_, reply) = ws.command("hello").await;
    assert_eq!(reply["type"], "command_response");
    let close = ws
        .expect_close(Duration::from_secs(4))
        .await
        .expect("a close frame");
    assert_eq!(u16::from(close.code), 1000);
    assert_eq!(close.reason.as_str(), ballsy::ws::SESSION_LIFETIME);
}

// --- 6. Bodies without a JSON content type ---------------------------------------------------

async fn bodies_must_say_they_are_json(backend: Backend) {
    let app = spawn_app(AppOptions::new(backend)).await;
    for content_type in [
        None,
        Some("text/plain"),
        Some("application/x-www-form-urlencoded"),
    ] {
        let mut request = new_client()
            .post(app.url("/api/command"))
            .body(r#"{"command":"why is the sky blue"}"#);
        if let Some(content_type) = content_type {
            request = request.header("content-type", content_type);
        }
        let response = request.send().await.unwrap();
        assert_eq!(response.status(), 415, "{content_type:?}");
        assert!(response.headers().get("set-cookie").is_none());
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["code"], "unsupported_media_type");
    }
}
on_both_backends!(bodies_must_say_they_are_json);

// --- 7. Shutdown while an AI answer is in flight ---------------------------------------------

async fn shutdown_answers_http_ai_requests_and_refunds_them(backend: Backend) {
    let fake = FakeGeminiConfig {
        ttft: Duration::from_secs(8),
        ..Default::default()
    };
    let mut app = spawn_app(AppOptions::new(backend).with_gemini(fake).configure(|c| {
        c.shutdown_grace = Duration::from_secs(3);
        c.gemini.first_byte_timeout = Duration::from_secs(20);
        c.gemini.timeout = Duration::from_secs(30);
    }))
    .await;
    let (token, user_id) = app.new_session().await;
    let url = app.url("/api/command");
    let question = tokio::spawn(async move {
        reqwest::Client::new()
            .post(url)
            .bearer_auth(token)
            .json(&json!({"command": "why is the sky blue"}))
            .send()
            .await
    });
    let fake = app.fake.take().unwrap();
    assert!(
        crate::helpers::eventually(Duration::from_secs(5), || {
            let n = fake.requests().len();
            async move { n == 1 }
        })
        .await
    );
    app.stop_in_place().await;
    let response = question
        .await
        .unwrap()
        .expect("the request is answered, not dropped");
    assert_eq!(response.status(), 503);
    assert!(response.headers().contains_key("retry-after"));
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["code"], "shutting_down");
    let store = Store::connect_lazy(&app.db.database_url(), 1);
    assert_eq!(
        store.ai_usage(&user_id, &budget_day()).await.unwrap(),
        0,
        "a question that got no answer does not count"
    );
}
on_both_backends!(shutdown_answers_http_ai_requests_and_refunds_them);

// --- 8. The smaller holes ----------------------------------------------------------------------

async fn bearer_scheme_is_case_insensitive_and_unknown_tokens_are_refused(backend: Backend) {
    let app = spawn_app(AppOptions::new(backend)).await;
    let (token, user_id) = app.new_session().await;
    for scheme in ["bearer", "BEARER", "Bearer"] {
        let session: Value = new_client()
            .get(app.url("/api/session"))
            .header("authorization", format!("{scheme} {token}"))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(session["user_id"], user_id, "{scheme}");
    }
    let users = count_users(&app).await;
    let unknown = new_client()
        .get(app.url("/api/session"))
        .header("authorization", "bearer not-a-token")
        .send()
        .await
        .unwrap();
    assert_eq!(unknown.status(), 401);
    assert_eq!(count_users(&app).await, users, "no silent new identity");
}
on_both_backends!(bearer_scheme_is_case_insensitive_and_unknown_tokens_are_refused);

async fn invisible_commands_are_empty(backend: Backend) {
    let app = spawn_app(AppOptions::new(backend)).await;
    for command in ["\u{200b}", "\u{feff} \u{2060}", "\u{ad}\u{200d}"] {
        let response = app.command(command).await;
        assert_eq!(response.status(), 400, "{command:?}");
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["code"], "invalid_command");
    }
}
on_both_backends!(invisible_commands_are_empty);

#[tokio::test]
async fn undecodable_paths_get_the_json_error_body() {
    let app = spawn_app(AppOptions::new(Backend::Sqlite)).await;
    for path in [
        "/%c0%ae%c0%ae/etc/passwd",
        "/api/history/%ff",
        "/api/settings/%c0",
    ] {
        let response = new_client().get(app.url(path)).send().await.unwrap();
        assert!(response.status().is_client_error(), "{path}");
        assert!(
            response.headers()["content-type"]
                .to_str()
                .unwrap()
                .starts_with("application/json"),
            "{path}"
        );
        let body: Value = response.json().await.unwrap();
        assert!(
            body["code"].is_string() && body["detail"].is_string(),
            "{path}: {body}"
        );
    }
}

#[tokio::test]
async fn the_csp_never_echoes_the_host_header() {
    let app = spawn_app(AppOptions::new(Backend::Sqlite)).await;
    let mut stream = TcpStream::connect(app.addr).await.unwrap();
    stream
        .write_all(b"GET /health HTTP/1.1\r\nHost: evil.example; script-src *\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).await.unwrap();
    let csp = response
        .lines()
        .find(|l| {
            l.to_ascii_lowercase()
                .starts_with("content-security-policy:")
        })
        .expect("a CSP header");
    assert!(!csp.contains("evil"), "{csp}");
    assert!(csp.contains("connect-src 'self';"), "{csp}");
}

/// A raw WebSocket handshake, so the test can send frames no well-behaved client would.
async fn raw_socket(app: &TestApp, token: &str) -> TcpStream {
    let mut stream = TcpStream::connect(app.addr).await.unwrap();
    let request = format!(
        "GET /ws/voice/raw?token={token} HTTP/1.1\r\nHost: {}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n",
        app.addr
    );
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        stream.read_exact(&mut byte).await.unwrap();
        head.push(byte[0]);
    }
    assert!(String::from_utf8_lossy(&head).starts_with("HTTP/1.1 101"));
    stream
}

/// A masked client frame (`first` is FIN, RSV and opcode).
fn frame(first: u8, payload: &[u8]) -> Vec<u8> {
    let mask = [1u8, 2, 3, 4];
    let mut bytes = vec![first, 0x80 | payload.len() as u8];
    bytes.extend_from_slice(&mask);
    bytes.extend(payload.iter().enumerate().map(|(i, b)| b ^ mask[i % 4]));
    bytes
}

/// The close code the server sends, skipping other frames.
async fn close_code(stream: &mut TcpStream) -> u16 {
    loop {
        let mut header = [0u8; 2];
        stream.read_exact(&mut header).await.unwrap();
        let len = usize::from(header[1] & 0x7f);
        let len = match len {
            126 => {
                let mut ext = [0u8; 2];
                stream.read_exact(&mut ext).await.unwrap();
                usize::from(u16::from_be_bytes(ext))
            }
            n => n,
        };
        let mut payload = vec![0u8; len];
        stream.read_exact(&mut payload).await.unwrap();
        if header[0] & 0x0f == 0x8 {
            return u16::from_be_bytes([payload[0], payload[1]]);
        }
    }
}

async fn bad_frames_close_with_the_right_codes(backend: Backend) {
    let app = spawn_app(AppOptions::new(backend)).await;
    let (token, _) = app.new_session().await;
    let mut utf8 = raw_socket(&app, &token).await;
    utf8.write_all(&frame(0x81, &[0xff, 0xfe, 0xfd]))
        .await
        .unwrap();
    assert_eq!(close_code(&mut utf8).await, 1007, "invalid UTF-8");
    let mut protocol = raw_socket(&app, &token).await;
    // RSV1 set without a negotiated extension.
    protocol.write_all(&frame(0xC1, b"hi")).await.unwrap();
    assert_eq!(close_code(&mut protocol).await, 1002, "protocol error");
}
on_both_backends!(bad_frames_close_with_the_right_codes);

#[tokio::test]
async fn readiness_reuses_its_database_check_for_a_second() {
    let Some(admin) = crate::helpers::postgres_admin_url() else {
        crate::helpers::report_skip("readiness_reuses_its_database_check_for_a_second");
        return;
    };
    let db = crate::helpers::TestDb::new(Backend::Postgres).await;
    let upstream = url::Url::parse(&admin).unwrap();
    let proxy = TcpProxy::start(&format!(
        "{}:{}",
        upstream.host_str().unwrap(),
        upstream.port().unwrap_or(5432)
    ))
    .await;
    let mut through_proxy = url::Url::parse(&db.url).unwrap();
    through_proxy.set_host(Some("127.0.0.1")).unwrap();
    through_proxy.set_port(Some(proxy.port())).unwrap();
    let mut config = ballsy::config::Config::for_tests();
    config.database_url = ballsy::store::url::DatabaseUrl::parse(through_proxy.as_str()).unwrap();
    let app = crate::helpers::spawn_with_config(config, db, None).await;
    let ready = || async {
        new_client()
            .get(app.url("/ready"))
            .send()
            .await
            .unwrap()
            .status()
    };
    assert_eq!(ready().await, 200);
    proxy.set_down(true).await;
    assert_eq!(
        ready().await,
        200,
        "answered from the check of a moment ago"
    );
    tokio::time::sleep(Duration::from_millis(1100)).await;
    assert_eq!(
        ready().await,
        503,
        "a second later the database is asked again"
    );
    proxy.set_down(false).await;
}

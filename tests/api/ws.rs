//! The voice WebSocket over a real socket.

use std::time::{Duration, Instant};

use ballsy::config::CorsOrigins;
use ballsy::conversation::Status;
use ballsy_bench::fake_gemini::{FakeGeminiConfig, Reply};
use futures_util::SinkExt;
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;

use crate::helpers::{AppOptions, Backend, connect_ws, eventually, get_json, spawn_app};
use crate::on_both_backends;

fn slow_fake(chunks: usize, chunk_delay_ms: u64) -> FakeGeminiConfig {
    FakeGeminiConfig {
        reply: Reply::Fixed(
            (1..=chunks)
                .map(|i| format!("Part {i} of the answer."))
                .collect::<Vec<_>>()
                .join(" "),
        ),
        chunks,
        chunk_delay: Duration::from_millis(chunk_delay_ms),
        ..Default::default()
    }
}

async fn status_ping_and_rule_commands(backend: Backend) {
    let app = spawn_app(AppOptions::new(backend)).await;
    let (token, _) = app.new_session().await;
    let mut ws = app.ws("tab-1", &token).await;
    ws.send_json(json!({"status": "listening"})).await;
    assert_eq!(
        ws.recv_json().await,
        json!({"type": "status_update", "status": "ready"})
    );
    ws.send_json(json!({"type": "ping"})).await;
    assert_eq!(ws.recv_json().await, json!({"type": "pong"}));
    ws.send_json(json!({"command": "open youtube", "id": "c1"}))
        .await;
    let (deltas, reply) = ws.collect_reply().await;
    assert!(
        deltas.is_empty(),
        "rule-based answers send only the final message"
    );
    assert_eq!(reply["type"], "command_response");
    assert_eq!(reply["id"], "c1");
    assert_eq!(reply["data"]["response"], "Opening YouTube");
    assert_eq!(reply["data"]["action"], "open_url");
    assert_eq!(reply["data"]["source"], "rule");
    // Without an id the server numbers commands.
    let (_, reply) = ws.command("hello").await;
    assert!(reply["id"].is_number());
    // Persisted before the reply was sent.
    let history = app
        .state
        .store()
        .history(&user_of(&app, &token).await, 10)
        .await
        .unwrap();
    assert_eq!(history.len(), 2);
}
on_both_backends!(status_ping_and_rule_commands);

async fn user_of(app: &crate::helpers::TestApp, token: &str) -> ballsy::store::UserId {
    app.state
        .store()
        .user_for_token(&ballsy::store::hash_token(token))
        .await
        .unwrap()
        .expect("the token belongs to a user")
}

async fn ai_answers_stream_as_they_arrive(backend: Backend) {
    let app = spawn_app(AppOptions::new(backend).with_gemini(slow_fake(5, 150))).await;
    let (token, _) = app.new_session().await;
    let mut ws = app.ws("tab-1", &token).await;
    let sent = Instant::now();
    ws.send_json(json!({"command": "tell me something long", "id": 7}))
        .await;
    let mut deltas = Vec::new();
    let first_delta_at;
    loop {
        let frame = ws.recv_json().await;
        assert_eq!(frame["id"], 7);
        if frame["type"] == "response_delta" {
            deltas.push(frame["delta"].as_str().unwrap().to_owned());
            continue;
        }
        assert_eq!(frame["type"], "command_response", "{frame}");
        first_delta_at = deltas.len();
        let final_at = sent.elapsed();
        assert!(
            final_at >= Duration::from_millis(600),
            "the fake takes ~750 ms"
        );
        assert_eq!(frame["data"]["source"], "gemini");
        assert_eq!(frame["data"]["response"], deltas.concat().trim());
        break;
    }
    assert!(
        first_delta_at >= 5,
        "one delta per upstream chunk, got {deltas:?}"
    );
}
on_both_backends!(ai_answers_stream_as_they_arrive);

#[tokio::test]
async fn the_first_delta_arrives_long_before_the_upstream_finishes() {
    let app = spawn_app(AppOptions::new(Backend::Sqlite).with_gemini(slow_fake(6, 200))).await;
    let (token, _) = app.new_session().await;
    let mut ws = app.ws("tab-1", &token).await;
    let sent = Instant::now();
    ws.send_json(json!({"command": "explain"})).await;
    let first = ws.recv_json().await;
    let first_at = sent.elapsed();
    assert_eq!(first["type"], "response_delta");
    let (_, last) = ws.collect_reply().await;
    let last_at = sent.elapsed();
    assert_eq!(last["type"], "command_response");
    // Chunks are 200 ms apart: forwarded as they come, the first is ~1 s ahead of the end.
    assert!(
        last_at - first_at >= Duration::from_millis(800),
        "first delta at {first_at:?}, final at {last_at:?}: deltas were buffered"
    );
}

async fn cancel_stops_the_reply_and_keeps_it_as_interrupted(backend: Backend) {
    let app = spawn_app(AppOptions::new(backend).with_gemini(slow_fake(20, 200))).await;
    let (token, _) = app.new_session().await;
    let mut ws = app.ws("tab-1", &token).await;
    ws.send_json(json!({"command": "a long story please", "id": "s1"}))
        .await;
    let first = ws.recv_json().await;
    assert_eq!(first["type"], "response_delta");
    ws.send_json(json!({"type": "cancel"})).await;
    let (_, end) = ws.collect_reply().await;
    assert_eq!(end, json!({"type": "cancelled", "id": "s1"}));
    assert_eq!(
        app.fake()
            .wait_for_dropped_streams(1, Duration::from_secs(5))
            .await,
        1,
        "the upstream request was dropped"
    );
    let turns = app
        .state
        .store()
        .recent_turns(&user_of(&app, &token).await, 10, false)
        .await
        .unwrap();
    let turn = turns.last().unwrap();
    assert_eq!(turn.status, Status::Interrupted);
    assert!(turn.reply.starts_with("Part 1"), "{}", turn.reply);
    assert!(!turn.reply.contains("Part 20"));
    // The socket is still usable.
    let (_, next) = ws.command("hello").await;
    assert_eq!(next["type"], "command_response");
}
on_both_backends!(cancel_stops_the_reply_and_keeps_it_as_interrupted);

#[tokio::test]
async fn two_tabs_of_one_user_each_get_their_own_replies() {
    let app = spawn_app(AppOptions::new(Backend::Sqlite)).await;
    let (token, _) = app.new_session().await;
    let mut tab_a = app.ws("tab-a", &token).await;
    let mut tab_b = app.ws("tab-b", &token).await;
    tab_a
        .send_json(json!({"command": "open youtube", "id": "from-a"}))
        .await;
    tab_b
        .send_json(json!({"command": "open spotify", "id": "from-b"}))
        .await;
    let (_, reply_a) = tab_a.collect_reply().await;
    let (_, reply_b) = tab_b.collect_reply().await;
    assert_eq!(reply_a["id"], "from-a");
    assert_eq!(reply_a["data"]["response"], "Opening YouTube");
    assert_eq!(reply_b["id"], "from-b");
    assert_eq!(reply_b["data"]["response"], "Opening Spotify");
    // Nothing but the other tab's turn (see below) is waiting on either socket.
    for tab in [&mut tab_a, &mut tab_b] {
        tab.send_json(json!({"type": "ping"})).await;
        loop {
            let frame = tab.recv_json().await;
            match frame["type"].as_str() {
                Some("pong") => break,
                Some("turn_synced") => {}
                _ => panic!("a reply crossed tabs: {frame}"),
            }
        }
    }
    // The tabs of one conversation stay in step: each sees the other's turns.
    let (_, reply) = tab_a.command("what's 2 + 2").await;
    assert_eq!(reply["data"]["response"], "4");
    let synced = tab_b.recv_json().await;
    assert_eq!(synced["type"], "turn_synced", "{synced}");
    assert_eq!(synced["messages"][0]["content"], "what's 2 + 2");
    assert_eq!(synced["messages"][1]["content"], "4");
    // So "times 2" in the other tab continues the result it has seen.
    let (_, doubled) = tab_b.command("times 2").await;
    assert_eq!(doubled["data"]["response"], "8");
    // Closing one tab leaves the other working (the predecessor's map lost it).
    drop(tab_a);
    let (_, again) = tab_b.command("hello").await;
    assert_eq!(again["type"], "command_response");
}

#[tokio::test]
async fn conversations_of_two_users_never_mix_in_the_prompt() {
    let fake = FakeGeminiConfig {
        reply: Reply::Echo,
        ..Default::default()
    };
    let app = spawn_app(AppOptions::new(Backend::Sqlite).with_gemini(fake)).await;
    let (alice, _) = app.new_session().await;
    let (bob, _) = app.new_session().await;
    let mut alice_ws = app.ws("a", &alice).await;
    let mut bob_ws = app.ws("b", &bob).await;
    alice_ws.command("my secret is pineapple").await;
    bob_ws.command("what did I just say").await;
    let requests = app.fake().requests();
    let bob_request = requests.last().unwrap();
    assert!(!bob_request.body.to_string().contains("pineapple"));
}

#[tokio::test]
async fn the_prompt_has_roles_system_instruction_and_no_duplicate() {
    let fake = FakeGeminiConfig {
        reply: Reply::Echo,
        ..Default::default()
    };
    let app = spawn_app(
        AppOptions::new(Backend::Sqlite)
            .with_gemini(fake)
            .configure(|c| {
                c.persona = "You are the test persona.".into();
                c.context_turns = 4;
            }),
    )
    .await;
    let (token, _) = app.new_session().await;
    let mut ws = app.ws("tab", &token).await;
    ws.command("first question").await;
    ws.command("open youtube").await;
    ws.command("third question").await;
    let requests = app.fake().requests();
    let body = &requests.last().unwrap().body;
    assert_eq!(
        body["systemInstruction"]["parts"][0]["text"],
        "You are the test persona."
    );
    let contents = body["contents"].as_array().unwrap();
    let roles: Vec<&str> = contents
        .iter()
        .map(|c| c["role"].as_str().unwrap())
        .collect();
    assert_eq!(roles, ["user", "model", "user", "model", "user"]);
    let texts: Vec<&str> = contents
        .iter()
        .map(|c| c["parts"][0]["text"].as_str().unwrap())
        .collect();
    assert_eq!(texts[0], "first question");
    assert_eq!(texts[2], "open youtube");
    assert_eq!(texts[3], "Opening YouTube");
    assert_eq!(texts[4], "third question");
    let mentions = body.to_string().matches("third question").count();
    assert_eq!(mentions, 1, "the current message is sent once");
    // Every question offers the skills as functions, and a request with functions thinks at
    // LOW: at MINIMAL, Flash-Lite ends tool loops early.
    assert!(
        !body["tools"][0]["functionDeclarations"]
            .as_array()
            .unwrap()
            .is_empty()
    );
    assert_eq!(
        body["generationConfig"]["thinkingConfig"]["thinkingLevel"],
        "LOW"
    );
    assert!(
        body["generationConfig"]["maxOutputTokens"]
            .as_u64()
            .unwrap()
            >= 512
    );
}

#[tokio::test]
async fn foreign_origins_are_refused_on_the_upgrade() {
    let app = spawn_app(AppOptions::new(Backend::Sqlite).configure(|c| {
        c.cors_origins = CorsOrigins::List(vec!["https://app.example".into()]);
    }))
    .await;
    let refused = app
        .ws_with("tab", &[("origin", "https://evil.example")])
        .await;
    match refused {
        Err(tokio_tungstenite::tungstenite::Error::Http(response)) => {
            assert_eq!(response.status(), 403)
        }
        other => panic!("expected 403, got {:?}", other.map(|_| "a socket")),
    }
    let own = format!("http://{}", app.addr);
    assert!(
        app.ws_with("tab", &[("origin", &own)]).await.is_ok(),
        "same origin"
    );
    assert!(
        app.ws_with("tab", &[("origin", "https://app.example")])
            .await
            .is_ok(),
        "listed"
    );
    assert!(
        app.ws_with("tab", &[]).await.is_ok(),
        "non-browser clients send no Origin"
    );
    let bad_id = app.ws_with("bad.id", &[]).await;
    assert!(
        matches!(bad_id, Err(tokio_tungstenite::tungstenite::Error::Http(r)) if r.status() == 400)
    );
}

async fn bad_frames_get_errors_and_the_socket_stays_open(backend: Backend) {
    let app = spawn_app(AppOptions::new(backend)).await;
    let (token, _) = app.new_session().await;
    let mut ws = app.ws("tab", &token).await;
    let expect_error = |frame: Value, code: &str| {
        assert_eq!(frame["type"], "error", "{frame}");
        assert_eq!(frame["code"], code, "{frame}");
        assert!(!frame["message"].as_str().unwrap().is_empty());
    };
    ws.send_text("not json").await;
    expect_error(ws.recv_json().await, "invalid_json");
    ws.send_json(json!({"foo": 1})).await;
    expect_error(ws.recv_json().await, "unknown_message");
    ws.send_json(json!([1, 2])).await;
    expect_error(ws.recv_json().await, "unknown_message");
    ws.stream
        .send(Message::Binary(vec![0, 159, 146, 150].into()))
        .await
        .unwrap();
    expect_error(ws.recv_json().await, "unsupported_frame");
    ws.send_json(json!({"command": 5, "id": "n"})).await;
    let frame = ws.recv_json().await;
    expect_error(frame.clone(), "invalid_command");
    assert_eq!(frame["id"], "n");
    ws.send_json(json!({"command": "   "})).await;
    expect_error(ws.recv_json().await, "invalid_command");
    ws.send_json(json!({"command": "a".repeat(1001)})).await;
    expect_error(ws.recv_json().await, "command_too_long");
    ws.send_json(json!({"command": "a".repeat(1000)})).await;
    let (_, ok) = ws.collect_reply().await;
    assert_eq!(
        ok["type"], "command_response",
        "exactly 1000 characters are fine"
    );
}
on_both_backends!(bad_frames_get_errors_and_the_socket_stays_open);

#[tokio::test]
async fn oversized_messages_close_with_1009() {
    let app = spawn_app(AppOptions::new(Backend::Sqlite)).await;
    let (token, _) = app.new_session().await;
    let mut ws = app.ws("tab", &token).await;
    let big = json!({"command": "x".repeat(20 * 1024)}).to_string();
    let _ = ws.stream.send(Message::Text(big.into())).await;
    let close = ws
        .expect_close(Duration::from_secs(5))
        .await
        .expect("a close frame");
    assert_eq!(close.code, CloseCode::Size);
    assert!(close.reason.contains("16384"), "{}", close.reason);
    // Another client is unaffected.
    let mut other = app.ws("other", &token).await;
    assert_eq!(other.command("hello").await.1["type"], "command_response");
}

#[tokio::test]
async fn a_megabyte_frame_and_invalid_utf8_affect_only_their_own_socket() {
    let app = spawn_app(AppOptions::new(Backend::Sqlite)).await;
    let (token, _) = app.new_session().await;
    let mut bystander = app.ws("bystander", &token).await;
    let mut huge = app.ws("huge", &token).await;
    let _ = huge
        .stream
        .send(Message::Text("a".repeat(1024 * 1024).into()))
        .await;
    let close = huge.expect_close(Duration::from_secs(5)).await;
    assert_eq!(close.map(|c| c.code), Some(CloseCode::Size));
    let mut garbage = app.ws("garbage", &token).await;
    let frame = tokio_tungstenite::tungstenite::protocol::frame::Frame::message(
        vec![0xff, 0xfe, 0xfd],
        tokio_tungstenite::tungstenite::protocol::frame::coding::OpCode::Data(
            tokio_tungstenite::tungstenite::protocol::frame::coding::Data::Text,
        ),
        true,
    );
    let _ = garbage.stream.send(Message::Frame(frame)).await;
    let _ = garbage.expect_close(Duration::from_secs(5)).await;
    let (_, reply) = bystander.command("hello").await;
    assert_eq!(
        reply["data"]["response"],
        "Hi there! I'm Ballsy, your voice assistant. How can I help?"
    );
}

#[tokio::test]
async fn a_flood_of_frames_is_dropped_without_hurting_others() {
    let app = spawn_app(AppOptions::new(Backend::Sqlite).configure(|c| {
        c.rate_limit.enabled = true;
        c.rate_limit.ip_per_minute = 100_000;
    }))
    .await;
    let (token, _) = app.new_session().await;
    let mut flooder = app.ws("flood", &token).await;
    let mut bystander = app.ws("calm", &token).await;
    for _ in 0..1000 {
        flooder
            .stream
            .feed(Message::Text(r#"{"type":"ping"}"#.into()))
            .await
            .unwrap();
    }
    flooder.stream.flush().await.unwrap();
    let mut pongs = 0;
    let mut warned = false;
    let deadline = Instant::now() + Duration::from_secs(3);
    while Instant::now() < deadline && !(warned && pongs > 0) {
        let frame = flooder.recv_json().await;
        match frame["type"].as_str() {
            Some("pong") => pongs += 1,
            Some("error") => {
                assert_eq!(frame["code"], "too_many_frames");
                warned = true;
            }
            _ => {}
        }
    }
    assert!(warned, "the flooder is told to slow down");
    assert!(pongs < 1000, "most of the flood was dropped");
    let started = Instant::now();
    let (_, reply) = bystander.command("hello").await;
    assert_eq!(reply["type"], "command_response");
    assert!(started.elapsed() < Duration::from_secs(2));
}

#[tokio::test]
async fn idle_sockets_are_closed_with_1000() {
    let app = spawn_app(AppOptions::new(Backend::Sqlite).configure(|c| {
        c.ws_idle_timeout = Duration::from_secs(1);
    }))
    .await;
    let (token, _) = app.new_session().await;
    let mut ws = app.ws("tab", &token).await;
    let opened = Instant::now();
    let close = ws
        .expect_close(Duration::from_secs(5))
        .await
        .expect("a close frame");
    assert_eq!(close.code, CloseCode::Normal);
    assert_eq!(close.reason.as_str(), "idle timeout");
    assert!(opened.elapsed() >= Duration::from_millis(900));
}

#[tokio::test]
async fn dead_peers_are_detected_by_pings() {
    let app = spawn_app(AppOptions::new(Backend::Sqlite).configure(|c| {
        c.ws_ping_interval = Duration::from_secs(1);
    }))
    .await;
    let (token, _) = app.new_session().await;
    let ws = app.ws("tab", &token).await;
    // A client that never reads never answers pings (tungstenite replies only while reading).
    let sessions = app.state.sessions().clone();
    assert!(eventually(Duration::from_secs(2), || async { sessions.len() == 1 }).await);
    assert!(
        eventually(Duration::from_secs(8), || async { sessions.is_empty() }).await,
        "the silent peer's session ended"
    );
    drop(ws);
}

#[tokio::test]
async fn cookies_identify_socket_users_like_http() {
    let app = spawn_app(AppOptions::new(Backend::Sqlite)).await;
    let response = app
        .client
        .get(app.url("/api/session"))
        .send()
        .await
        .unwrap();
    let cookie = response.headers()["set-cookie"]
        .to_str()
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_owned();
    let user_id = response.json::<Value>().await.unwrap()["user_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let mut ws = connect_ws(&app.ws_url("tab"), &[("cookie", &cookie)])
        .await
        .unwrap();
    ws.command("5 + 5").await;
    let history: Value = get_json(&app.client, &app.url("/api/history/me")).await;
    assert_eq!(history["history"][0]["command"], "5 + 5");
    assert_eq!(history["history"][0]["user_id"], user_id);
    let mut by_query = connect_ws(&format!("{}?token=nope", app.ws_url("tab")), &[]).await;
    assert!(
        matches!(&mut by_query, Err(tokio_tungstenite::tungstenite::Error::Http(r)) if r.status() == 401)
    );
}

#[tokio::test]
async fn a_graceful_stop_closes_idle_sockets_with_1001_and_refuses_new_ones() {
    let app = spawn_app(AppOptions::new(Backend::Sqlite)).await;
    let (token, _) = app.new_session().await;
    let mut ws = app.ws("tab", &token).await;
    let url = app.ws_url("late");
    let stopping = tokio::spawn(app.stop());
    let close = ws
        .expect_close(Duration::from_secs(3))
        .await
        .expect("a close frame");
    assert_eq!(close.code, CloseCode::Away);
    tokio::time::timeout(Duration::from_secs(5), stopping)
        .await
        .unwrap()
        .unwrap();
    assert!(connect_ws(&url, &[]).await.is_err(), "the listener is gone");
}

#[tokio::test]
async fn a_reply_cut_off_by_shutdown_is_a_retryable_failure_not_a_barge_in() {
    let app = spawn_app(
        AppOptions::new(Backend::Sqlite)
            .with_gemini(slow_fake(30, 200))
            .configure(|c| c.shutdown_grace = Duration::from_secs(2)),
    )
    .await;
    let (token, _) = app.new_session().await;
    let user = user_of(&app, &token).await;
    let mut ws = app.ws("tab", &token).await;
    ws.send_json(json!({"command": "a very long story", "id": "long"}))
        .await;
    assert_eq!(ws.recv_json().await["type"], "response_delta");
    let mut app = app;
    let client = async {
        let (_, end) = ws.collect_reply().await;
        let close = ws
            .expect_close(Duration::from_secs(3))
            .await
            .expect("a close frame");
        (end, close)
    };
    let ((end, close), ()) = tokio::join!(client, app.stop_in_place());
    assert_eq!(end["type"], "error", "{end}");
    assert_eq!(end["code"], "shutting_down");
    assert_eq!(end["id"], "long");
    assert_eq!(close.code, CloseCode::Away);
    let store = ballsy::store::Store::connect_lazy(&app.db.database_url(), 1);
    let turns = store.recent_turns(&user, 1, false).await.unwrap();
    assert_eq!(
        turns[0].status,
        Status::CutOff,
        "stored as broken off, which the page offers to retry"
    );
    assert!(turns[0].reply.starts_with("Part 1"));
}

#[tokio::test]
async fn commands_dropped_by_the_flood_guard_are_answered_by_id() {
    let app = spawn_app(AppOptions::new(Backend::Sqlite).configure(|c| {
        c.rate_limit.enabled = true;
        c.rate_limit.ip_per_minute = 100_000;
        c.rate_limit.user_per_minute = 100_000;
        c.rate_limit.user_burst = 100_000;
    }))
    .await;
    let (token, _) = app.new_session().await;
    let mut ws = app.ws("tab", &token).await;
    for i in 0..100 {
        ws.stream
            .feed(Message::Text(
                json!({"command": "hello", "id": format!("c{i}")})
                    .to_string()
                    .into(),
            ))
            .await
            .unwrap();
    }
    ws.stream.flush().await.unwrap();
    let mut answered = std::collections::BTreeSet::new();
    let mut dropped = 0;
    while answered.len() < 100 {
        let frame = ws.recv_json().await;
        if let Some(id) = frame["id"].as_str() {
            assert!(
                answered.insert(id.to_owned()),
                "one answer per command: {frame}"
            );
            if frame["code"] == "too_many_frames" {
                dropped += 1;
            }
        }
    }
    assert!(dropped > 0, "the burst of 100 exceeds the guard");
}

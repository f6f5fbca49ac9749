//! Live voice: the `/ws/live` relay between a real socket and the fake Gemini Live server.

use std::time::Duration;

use ballsy::config::Config;
use ballsy::conversation::{Source, Status};
use ballsy::store::{LiveLimits, UserId};
use ballsy_bench::fake_gemini::FakeGeminiConfig;
use ballsy_bench::fake_live::{Event, FakeLive, FakeLiveConfig, tone};
use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;

use crate::helpers::{
    AppOptions, Backend, TEST_API_KEY, TestApp, TestDb, Ws, connect_ws, eventually, spawn_app,
    spawn_with_config,
};
use crate::on_both_backends;
use crate::server::Server;

/// 20 ms of 16 kHz PCM16.
const FRAME: usize = 640;

/// The app with a Gemini key, the fake Gemini for classic questions and the fake Live server.
async fn live_app(backend: Backend, script: FakeLiveConfig) -> (TestApp, FakeLive) {
    live_app_with(backend, script, |_| {}).await
}

async fn live_app_with(
    backend: Backend,
    script: FakeLiveConfig,
    configure: impl FnOnce(&mut Config) + Send + 'static,
) -> (TestApp, FakeLive) {
    let fake = FakeLive::start(script).await.expect("fake Live starts");
    let url = fake.url();
    let app = spawn_app(
        AppOptions::new(backend)
            .with_gemini(FakeGeminiConfig::default())
            .configure(move |c| {
                c.live.url = Some(url);
                c.live.charge_interval = Duration::from_millis(500);
                configure(c);
            }),
    )
    .await;
    (app, fake)
}

fn live_url(addr: impl std::fmt::Display, client_id: &str) -> String {
    format!("ws://{addr}/ws/live/{client_id}")
}

async fn open_live(app: &TestApp, client_id: &str, token: &str) -> Ws {
    connect_ws(
        &live_url(app.addr, client_id),
        &[("authorization", &format!("Bearer {token}"))],
    )
    .await
    .expect("the Live socket opens")
}

/// What the browser receives: JSON frames and audio.
#[derive(Debug)]
enum Frame {
    Json(Value),
    Audio(Vec<u8>),
    Closed(Option<(u16, String)>),
}

async fn next_frame(ws: &mut Ws) -> Frame {
    loop {
        let message = tokio::time::timeout(Duration::from_secs(10), ws.stream.next())
            .await
            .expect("a frame within 10 s");
        match message {
            Some(Ok(Message::Text(text))) => {
                return Frame::Json(serde_json::from_str(text.as_str()).expect("JSON"));
            }
            Some(Ok(Message::Binary(bytes))) => return Frame::Audio(bytes.to_vec()),
            Some(Ok(Message::Close(frame))) => {
                return Frame::Closed(frame.map(|f| (u16::from(f.code), f.reason.to_string())));
            }
            Some(Ok(_)) => continue,
            Some(Err(_)) | None => return Frame::Closed(None),
        }
    }
}

async fn next_json(ws: &mut Ws) -> Value {
    match next_frame(ws).await {
        Frame::Json(value) => value,
        other => panic!("expected a JSON frame, got {other:?}"),
    }
}

/// Reads frames until one of `type` arrives; returns the frames before it and that one.
async fn until(ws: &mut Ws, kind: &str) -> (Vec<Frame>, Value) {
    let mut before = Vec::new();
    loop {
        match next_frame(ws).await {
            Frame::Json(value) if value["type"] == kind => return (before, value),
            Frame::Closed(close) => {
                panic!("closed with {close:?} while waiting for {kind}; before: {before:?}")
            }
            frame => before.push(frame),
        }
    }
}

async fn send_audio(ws: &mut Ws, bytes: usize) {
    for _ in 0..bytes.div_ceil(FRAME) {
        ws.stream
            .send(Message::Binary(vec![1u8; FRAME].into()))
            .await
            .expect("audio sent");
    }
}

fn script(turns: Vec<Vec<Event>>) -> FakeLiveConfig {
    FakeLiveConfig {
        turns,
        credential: Some(TEST_API_KEY.into()),
        ..FakeLiveConfig::default()
    }
}

fn said(text: &str) -> Event {
    Event::InputTranscript { text: text.into() }
}

fn says(text: &str) -> Event {
    Event::OutputTranscript { text: text.into() }
}

async fn audio_is_relayed_both_ways_and_the_exchange_is_stored(backend: Backend) {
    let (app, fake) = live_app(
        backend,
        script(vec![vec![
            said("what time"),
            said(" is it"),
            Event::Audio { samples: 480 },
            says("It's noon."),
            Event::Audio { samples: 240 },
            Event::Usage {
                prompt_tokens: 500,
                response_tokens: 40,
            },
            Event::TurnComplete,
        ]]),
    )
    .await;
    let (token, _) = app.new_session().await;
    let mut ws = open_live(&app, "tab-1", &token).await;
    assert_eq!(next_json(&mut ws).await, json!({"type": "live_ready"}));
    send_audio(&mut ws, 3200).await;
    let (frames, _) = until(&mut ws, "turn_complete").await;
    let json: Vec<&Value> = frames
        .iter()
        .filter_map(|f| match f {
            Frame::Json(v) => Some(v),
            _ => None,
        })
        .collect();
    assert_eq!(
        json,
        [
            &json!({"type": "input_transcript", "text": "what time", "final": false}),
            &json!({"type": "input_transcript", "text": "what time is it", "final": false}),
            &json!({"type": "input_transcript", "text": "what time is it", "final": true}),
            &json!({"type": "output_transcript", "text": "It's noon."}),
        ]
    );
    let audio: Vec<u8> = frames
        .iter()
        .filter_map(|f| match f {
            Frame::Audio(bytes) => Some(bytes.clone()),
            _ => None,
        })
        .flatten()
        .collect();
    let mut expected = tone(480);
    expected.extend(tone(240));
    assert_eq!(
        audio, expected,
        "the model's audio arrives byte for byte, in order"
    );

    let connections = fake.connections();
    assert_eq!(connections.len(), 1);
    let upstream = &connections[0];
    assert_eq!(
        upstream.audio_bytes, 3200,
        "every byte of the user's audio went up"
    );
    assert_eq!(upstream.audio_mime.as_deref(), Some("audio/pcm;rate=16000"));
    assert_eq!(upstream.api_key_header.as_deref(), Some(TEST_API_KEY));
    assert!(upstream.query.is_none(), "the key is not in the URL");
    let setup = upstream.setup.as_ref().unwrap();
    assert_eq!(setup["model"], "models/gemini-3.8-live");
    assert_eq!(
        setup["generationConfig"]["speechConfig"]["languageCode"],
        "en-US"
    );
    let tools: Vec<&str> = setup["tools"][0]["functionDeclarations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["name"].as_str().unwrap())
        .collect();
    assert!(
        tools.contains(&"open_site") && tools.contains(&"set_timer"),
        "{tools:?}"
    );

    let user = app.user_of(&token).await;
    let turns = app
        .state
        .store()
        .recent_turns(&user, 10, false)
        .await
        .unwrap();
    assert_eq!(turns.len(), 1, "{turns:?}");
    assert_eq!(turns[0].command, "what time is it");
    assert_eq!(turns[0].reply, "It's noon.");
    assert_eq!(turns[0].source, Source::Live);
    assert_eq!(turns[0].status, Status::Complete);
    assert_eq!(turns[0].answered_by.as_deref(), Some("gemini-3.8-live"));
    // The conversation the page reloads shows it, as classic turns are shown.
    let conversation: Value = reqwest::Client::new()
        .get(app.url("/api/conversation"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let messages = conversation["messages"].as_array().unwrap();
    assert_eq!(messages[1]["content"], "It's noon.");
    assert_eq!(messages[1]["source"], "live");
    let day = chrono::Utc::now().format("%Y-%m-%d").to_string();
    assert!(
        eventually(Duration::from_secs(3), || async {
            app.state
                .store()
                .ai_usage(&format!("live_tokens:{user}"), &day)
                .await
                .unwrap()
                == 540
        })
        .await,
        "usageMetadata is counted per user and day"
    );
}
on_both_backends!(audio_is_relayed_both_ways_and_the_exchange_is_stored);

async fn tool_calls_run_the_skills_and_show_the_classic_cards(backend: Backend) {
    let (app, fake) = live_app(
        backend,
        script(vec![
            vec![
                said("play lofi on youtube"),
                Event::ToolCall {
                    id: "c1".into(),
                    name: "open_site".into(),
                    args: json!({"site": "youtube", "query": "lofi"}),
                },
                says("Here's lofi on YouTube."),
                Event::TurnComplete,
            ],
            vec![
                said("set a timer for ten minutes"),
                Event::ToolCall {
                    id: "c2".into(),
                    name: "set_timer".into(),
                    args: json!({"kind": "timer", "duration_seconds": 600, "label": "tea"}),
                },
                says("Ten minutes, starting now."),
                Event::TurnComplete,
            ],
        ]),
    )
    .await;
    let (token, _) = app.new_session().await;
    let mut ws = open_live(&app, "tab-1", &token).await;
    assert_eq!(next_json(&mut ws).await["type"], "live_ready");
    send_audio(&mut ws, 3200).await;
    let (_, card) = until(&mut ws, "action").await;
    assert_eq!(card["action"], "open_url");
    let url = card["data"]["url"].as_str().unwrap();
    assert!(url.contains("youtube.com") && url.contains("lofi"), "{url}");
    // The same card a typed command gives in classic mode.
    let classic = app.ask("lofi on youtube").await;
    assert_eq!(classic["action"], card["action"]);
    assert_eq!(classic["data"], card["data"]);
    until(&mut ws, "turn_complete").await;

    send_audio(&mut ws, 3200).await;
    let (_, timer) = until(&mut ws, "action").await;
    assert_eq!(timer["action"], "timer");
    assert_eq!(timer["data"]["kind"], "timer");
    assert_eq!(timer["data"]["label"], "tea");
    until(&mut ws, "turn_complete").await;

    let responses = fake.connections()[0].tool_responses.clone();
    assert_eq!(responses.len(), 2, "{responses:?}");
    assert_eq!(responses[0]["id"], "c1");
    assert_eq!(responses[0]["name"], "open_site");
    assert_eq!(responses[0]["response"]["status"], "ok");
    assert_eq!(responses[1]["id"], "c2");
    let user = app.user_of(&token).await;
    let timers = app.state.store().pending_timers(&user).await.unwrap();
    assert_eq!(timers.len(), 1, "the tool set a real timer");
    let turns = app
        .state
        .store()
        .recent_turns(&user, 10, false)
        .await
        .unwrap();
    let live: Vec<_> = turns.iter().filter(|t| t.source == Source::Live).collect();
    assert_eq!(live.len(), 2);
    assert_eq!(live[0].command, "play lofi on youtube");
    assert_eq!(live[0].action.as_ref().map(|a| a.kind()), Some("open_url"));
    assert_eq!(live[1].action.as_ref().map(|a| a.kind()), Some("timer"));
}
on_both_backends!(tool_calls_run_the_skills_and_show_the_classic_cards);

async fn a_go_away_is_resumed_on_a_new_connection_with_the_last_handle(backend: Backend) {
    let (app, fake) = live_app(
        backend,
        script(vec![
            vec![
                Event::Resumption {
                    handle: "h-1".into(),
                    resumable: true,
                },
                says("First answer."),
                Event::TurnComplete,
                Event::GoAway {
                    time_left_ms: 50_000,
                },
            ],
            vec![says("Second answer."), Event::TurnComplete],
        ]),
    )
    .await;
    let (token, _) = app.new_session().await;
    let mut ws = open_live(&app, "tab-1", &token).await;
    assert_eq!(next_json(&mut ws).await["type"], "live_ready");
    send_audio(&mut ws, 3200).await;
    until(&mut ws, "turn_complete").await;
    assert!(
        eventually(Duration::from_secs(5), || async {
            fake.connections().len() == 2
        })
        .await,
        "the relay reconnects after goAway"
    );
    send_audio(&mut ws, 3200).await;
    let (frames, _) = until(&mut ws, "turn_complete").await;
    assert!(
        frames
            .iter()
            .any(|f| matches!(f, Frame::Json(v) if v["text"] == "Second answer.")),
        "{frames:?}"
    );
    let connections = fake.connections();
    assert_eq!(connections[1].resumed_handle().as_deref(), Some("h-1"));
    assert!(
        connections[0].client_closed,
        "the old connection was closed first"
    );
    assert!(connections[1].audio_bytes >= 3200);
    let user = app.user_of(&token).await;
    assert_eq!(
        app.state
            .store()
            .live_handle(&user, "tab-1")
            .await
            .unwrap()
            .as_deref(),
        Some("h-1"),
        "the handle is kept in the database"
    );
}
on_both_backends!(a_go_away_is_resumed_on_a_new_connection_with_the_last_handle);

async fn a_restarted_server_resumes_the_session_of_the_tab(backend: Backend) {
    let (mut app, fake) = live_app(
        backend,
        script(vec![vec![
            Event::Resumption {
                handle: "h-7".into(),
                resumable: true,
            },
            says("Hello."),
            Event::TurnComplete,
        ]]),
    )
    .await;
    let (token, _) = app.new_session().await;
    let mut ws = open_live(&app, "tab-9", &token).await;
    assert_eq!(next_json(&mut ws).await["type"], "live_ready");
    send_audio(&mut ws, 3200).await;
    until(&mut ws, "turn_complete").await;
    let user = app.user_of(&token).await;
    assert!(
        eventually(Duration::from_secs(3), || async {
            app.state
                .store()
                .live_handle(&user, "tab-9")
                .await
                .unwrap()
                .is_some()
        })
        .await
    );
    // SIGTERM: the socket closes with 1001 and the page reconnects, here to a new server on
    // the same database.
    let config = app.state.config().clone();
    app.stop_in_place().await;
    match next_frame(&mut ws).await {
        Frame::Closed(Some((code, _))) => assert_eq!(code, 1001),
        other => panic!("expected a 1001 close, got {other:?}"),
    }
    let mut config = config;
    config.database_url = app.db.database_url();
    config.port = 0;
    let second = spawn_with_config(config, TestDb::new(Backend::Sqlite).await, None).await;
    let mut ws = open_live(&second, "tab-9", &token).await;
    assert_eq!(next_json(&mut ws).await["type"], "live_ready");
    let connections = fake.connections();
    assert_eq!(connections.len(), 2);
    assert_eq!(connections[1].resumed_handle().as_deref(), Some("h-7"));
}
on_both_backends!(a_restarted_server_resumes_the_session_of_the_tab);

async fn a_handle_google_forgot_starts_a_fresh_session(backend: Backend) {
    let (app, fake) = live_app(backend, script(vec![])).await;
    let (token, _) = app.new_session().await;
    let user = app.user_of(&token).await;
    app.state
        .store()
        .save_live_handle(&user, "tab-1", "stale", chrono::Utc::now())
        .await
        .unwrap();
    let mut ws = open_live(&app, "tab-1", &token).await;
    assert_eq!(next_json(&mut ws).await["type"], "live_ready");
    let connections = fake.connections();
    assert_eq!(connections.len(), 2);
    assert_eq!(connections[0].resumed_handle().as_deref(), Some("stale"));
    assert_eq!(connections[0].closed_with, Some(1008));
    assert_eq!(connections[1].resumed_handle(), None);
    assert_eq!(
        app.state.store().live_handle(&user, "tab-1").await.unwrap(),
        None
    );
}
on_both_backends!(a_handle_google_forgot_starts_a_fresh_session);

#[tokio::test]
async fn bad_frames_get_error_frames_and_the_session_goes_on() {
    let (app, _fake) = live_app(
        Backend::Sqlite,
        FakeLiveConfig {
            on_setup: vec![],
            ..script(vec![])
        },
    )
    .await;
    let (token, _) = app.new_session().await;
    let mut ws = open_live(&app, "tab-1", &token).await;
    assert_eq!(next_json(&mut ws).await["type"], "live_ready");
    for (bytes, what) in [(0, "empty"), (641, "odd length"), (1602, "oversized")] {
        ws.stream
            .send(Message::Binary(vec![0u8; bytes].into()))
            .await
            .unwrap();
        let frame = next_json(&mut ws).await;
        assert_eq!(frame["type"], "error", "{what}");
        assert_eq!(frame["code"], "invalid_audio", "{what}");
    }
    ws.send_text("not json").await;
    assert_eq!(next_json(&mut ws).await["code"], "invalid_json");
    ws.send_json(json!({"command": "hello"})).await;
    assert_eq!(next_json(&mut ws).await["code"], "unknown_message");
    ws.send_json(json!({"type": "ping"})).await;
    assert_eq!(next_json(&mut ws).await, json!({"type": "pong"}));
    // Larger than MAX_WS_MESSAGE_BYTES: closed with 1009, as the voice socket does.
    ws.stream
        .send(Message::Binary(vec![0u8; 20_000].into()))
        .await
        .unwrap();
    let close = ws
        .expect_close(Duration::from_secs(5))
        .await
        .expect("a close frame");
    assert_eq!(close.code, CloseCode::Size);
}

#[tokio::test]
async fn audio_before_live_ready_is_refused() {
    // A fake that takes its time over the setup: the browser talks too early.
    let (app, fake) = live_app(
        Backend::Sqlite,
        FakeLiveConfig {
            setup_delay_ms: 800,
            ..script(vec![])
        },
    )
    .await;
    let (token, _) = app.new_session().await;
    let mut ws = open_live(&app, "tab-1", &token).await;
    send_audio(&mut ws, FRAME).await;
    let frame = next_json(&mut ws).await;
    assert_eq!(frame["code"], "live_not_ready", "{frame}");
    assert_eq!(next_json(&mut ws).await["type"], "live_ready");
    assert_eq!(
        fake.connections()[0].audio_bytes,
        0,
        "early audio is not sent up"
    );
}

#[tokio::test]
async fn a_refused_key_ends_the_session_with_a_fallback_to_classic() {
    // Google closes with 1008 for a wrong key; retrying cannot help.
    let (app, fake) = live_app_with(Backend::Sqlite, script(vec![]), |c| {
        c.gemini.api_key = Some("wrong-key".to_owned().into());
    })
    .await;
    let (token, _) = app.new_session().await;
    let mut ws = open_live(&app, "tab-1", &token).await;
    let frame = next_json(&mut ws).await;
    assert_eq!(frame["code"], "live_unavailable", "{frame}");
    match next_frame(&mut ws).await {
        Frame::Closed(Some((code, _))) => assert_eq!(code, 1011),
        other => panic!("{other:?}"),
    }
    assert_eq!(fake.connections().len(), 1, "a refused key is not retried");
    assert_eq!(fake.connections()[0].closed_with, Some(1008));
}

#[tokio::test]
async fn a_minute_without_speech_ends_the_session() {
    let (app, _fake) = live_app_with(Backend::Sqlite, script(vec![]), |c| {
        c.live.idle_timeout = Duration::from_millis(700);
    })
    .await;
    let (token, _) = app.new_session().await;
    let mut ws = open_live(&app, "tab-1", &token).await;
    assert_eq!(next_json(&mut ws).await["type"], "live_ready");
    // Silence streams all the time; only speech counts.
    send_audio(&mut ws, FRAME * 4).await;
    let frame = next_json(&mut ws).await;
    assert_eq!(frame["code"], "live_idle");
    match next_frame(&mut ws).await {
        Frame::Closed(Some((code, reason))) => {
            assert_eq!(code, 1000);
            assert_eq!(reason, "idle timeout");
        }
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn live_is_offered_only_with_a_model() {
    let offline = spawn_app(AppOptions::new(Backend::Sqlite)).await;
    let session: Value = offline
        .client
        .get(offline.url("/api/session"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(session["features"]["live"], false);
    let (token, _) = offline.new_session().await;
    let refused = connect_ws(
        &live_url(offline.addr, "tab-1"),
        &[("authorization", &format!("Bearer {token}"))],
    )
    .await;
    match refused {
        Err(tokio_tungstenite::tungstenite::Error::Http(response)) => {
            assert_eq!(response.status(), 503)
        }
        other => panic!("expected 503, got {:?}", other.map(|_| ())),
    }
    let (online, _fake) = live_app(Backend::Sqlite, script(vec![])).await;
    let session: Value = online
        .client
        .get(online.url("/api/session"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(session["features"]["live"], true);
    // The origin check of the voice socket applies.
    let hostile = connect_ws(
        &live_url(online.addr, "tab-1"),
        &[("origin", "https://evil.example")],
    )
    .await;
    assert!(
        matches!(hostile, Err(tokio_tungstenite::tungstenite::Error::Http(ref r)) if r.status() == 403)
    );
}

fn limits<'a>(user: &'a UserId, day: &'a str, config: &Config) -> LiveLimits<'a> {
    LiveLimits {
        user,
        day,
        per_user_secs: u64::from(config.live.daily_minutes_per_user) * 60,
        total_secs: u64::from(config.live.daily_minutes_total) * 60,
    }
}

async fn the_user_budget_ends_the_session_and_refuses_the_next(backend: Backend) {
    let (app, _fake) = live_app_with(backend, script(vec![]), |c| {
        c.live.daily_minutes_per_user = 1;
    })
    .await;
    let (token, _) = app.new_session().await;
    let user = app.user_of(&token).await;
    let day = chrono::Utc::now().format("%Y-%m-%d").to_string();
    // 58 of the 60 seconds are used already.
    app.state
        .store()
        .charge_live(limits(&user, &day, app.state.config()), 58)
        .await
        .unwrap();
    let mut ws = open_live(&app, "tab-1", &token).await;
    assert_eq!(next_json(&mut ws).await["type"], "live_ready");
    let started = std::time::Instant::now();
    let (_, error) = until(&mut ws, "error").await;
    assert_eq!(error["code"], "live_budget");
    assert!(
        started.elapsed() < Duration::from_secs(6),
        "{:?}",
        started.elapsed()
    );
    match next_frame(&mut ws).await {
        Frame::Closed(Some((code, reason))) => {
            assert_eq!((code, reason.as_str()), (1000, "live budget"))
        }
        other => panic!("{other:?}"),
    }
    assert!(
        app.state
            .store()
            .ai_usage(&format!("live:{user}"), &day)
            .await
            .unwrap()
            >= 60
    );
    // The next socket is refused at once; classic mode still answers.
    let mut ws = open_live(&app, "tab-1", &token).await;
    assert_eq!(next_json(&mut ws).await["code"], "live_budget");
    assert_eq!(app.ask("open youtube").await["action"], "open_url");
}
on_both_backends!(the_user_budget_ends_the_session_and_refuses_the_next);

async fn a_session_is_charged_its_length_once(backend: Backend) {
    // Charged every 500 ms while it runs (live_app), and the rest when it ends.
    let (app, _fake) = live_app(backend, script(vec![])).await;
    let (token, _) = app.new_session().await;
    let user = app.user_of(&token).await;
    let day = chrono::Utc::now().format("%Y-%m-%d").to_string();
    let opened = std::time::Instant::now();
    let mut ws = open_live(&app, "tab-1", &token).await;
    assert_eq!(next_json(&mut ws).await["type"], "live_ready");
    tokio::time::sleep(Duration::from_millis(2300)).await;
    ws.send_json(json!({"type": "stop"})).await;
    while !matches!(next_frame(&mut ws).await, Frame::Closed(_)) {}
    let lasted = opened.elapsed().as_secs_f64();
    // The final charge is written before the socket is closed.
    let used = app
        .state
        .store()
        .ai_usage(&format!("live:{user}"), &day)
        .await
        .unwrap();
    assert!(
        used >= 2 && used as f64 <= lasted.ceil() + 1.0,
        "a session of {lasted:.1} s was charged {used} s"
    );
    assert_eq!(
        app.state.store().ai_usage("live:*", &day).await.unwrap(),
        used,
        "the service's counter moved as much"
    );
}
on_both_backends!(a_session_is_charged_its_length_once);

#[tokio::test]
async fn the_total_budget_is_shared_by_two_servers_on_one_database() {
    let Some(_) = crate::helpers::postgres_admin_url() else {
        crate::helpers::report_skip("the_total_budget_is_shared_by_two_servers_on_one_database");
        return;
    };
    let (first, _fake) = live_app_with(Backend::Postgres, script(vec![]), |c| {
        c.live.daily_minutes_total = 1;
    })
    .await;
    let mut config = first.state.config().clone();
    config.database_url = first.db.database_url();
    let second = spawn_with_config(config, TestDb::new(Backend::Sqlite).await, None).await;
    let (token_a, _) = first.new_session().await;
    let (token_b, _) = first.new_session().await;
    let user_a = first.user_of(&token_a).await;
    let day = chrono::Utc::now().format("%Y-%m-%d").to_string();
    // 56 of the service's 60 seconds are used; two sessions on two servers share the rest.
    first
        .state
        .store()
        .charge_live(limits(&user_a, &day, first.state.config()), 56)
        .await
        .unwrap();
    let mut a = open_live(&first, "tab-a", &token_a).await;
    let mut b = open_live(&second, "tab-b", &token_b).await;
    assert_eq!(next_json(&mut a).await["type"], "live_ready");
    assert_eq!(next_json(&mut b).await["type"], "live_ready");
    let started = std::time::Instant::now();
    for ws in [&mut a, &mut b] {
        let (_, error) = until(ws, "error").await;
        assert_eq!(error["code"], "live_budget");
    }
    assert!(
        started.elapsed() < Duration::from_secs(6),
        "both end within a charge or two of the limit: {:?}",
        started.elapsed()
    );
    let total = second.state.store().ai_usage("live:*", &day).await.unwrap();
    assert!(
        (60..=64).contains(&total),
        "at most one charge interval over: {total}"
    );
    let mut again = open_live(&second, "tab-c", &token_a).await;
    assert_eq!(next_json(&mut again).await["code"], "live_budget");
}

#[tokio::test]
async fn the_key_reaches_no_browser_frame_and_no_log_line() {
    let fake_gemini = ballsy_bench::fake_gemini::FakeGemini::start(FakeGeminiConfig::default())
        .await
        .unwrap();
    let fake = FakeLive::start(script(vec![vec![
        said("open maps"),
        Event::ToolCall {
            id: "k1".into(),
            name: "open_site".into(),
            args: json!({"site": "maps"}),
        },
        Event::Resumption {
            handle: "h-k".into(),
            resumable: true,
        },
        says("Opening maps."),
        Event::Audio { samples: 240 },
        Event::TurnComplete,
        Event::GoAway { time_left_ms: 1000 },
    ]]))
    .await
    .unwrap();
    let db = TestDb::new(Backend::Sqlite).await;
    let server = Server::start(&[
        ("DATABASE_URL", db.url.clone()),
        ("LOG_FORMAT", "json".into()),
        ("LOG_LEVEL", "trace".into()),
        ("GEMINI_API_KEY", TEST_API_KEY.into()),
        ("GEMINI_BASE_URL", fake_gemini.base_url()),
        ("GEMINI_LIVE_URL", fake.url()),
    ]);
    let token: Value = reqwest::Client::new()
        .post(server.url("/api/session"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let token = token["token"].as_str().unwrap().to_owned();
    let url = format!("ws://127.0.0.1:{}/ws/live/tab-1", server.port);
    let mut ws = connect_ws(&url, &[("authorization", &format!("Bearer {token}"))])
        .await
        .unwrap();
    let mut seen: Vec<u8> = Vec::new();
    let mut record = |frame: &Frame| match frame {
        Frame::Json(v) => seen.extend(v.to_string().into_bytes()),
        Frame::Audio(bytes) => seen.extend(bytes),
        Frame::Closed(close) => seen.extend(format!("{close:?}").into_bytes()),
    };
    let ready = next_frame(&mut ws).await;
    record(&ready);
    send_audio(&mut ws, 3200).await;
    let (frames, done) = until(&mut ws, "turn_complete").await;
    frames.iter().for_each(&mut record);
    record(&Frame::Json(done));
    assert!(
        eventually(Duration::from_secs(5), || async {
            fake.connections().len() >= 2
        })
        .await
    );
    // A bad frame, then the user switches Live off.
    ws.stream
        .send(Message::Binary(vec![0u8; 3].into()))
        .await
        .unwrap();
    ws.send_json(json!({"type": "stop"})).await;
    loop {
        let frame = next_frame(&mut ws).await;
        record(&frame);
        if matches!(frame, Frame::Closed(_)) {
            break;
        }
    }
    assert!(fake.connections()[0].api_key_header.as_deref() == Some(TEST_API_KEY));
    let seen = String::from_utf8_lossy(&seen);
    assert!(
        seen.contains("Opening maps."),
        "the exchange reached the browser"
    );
    assert!(
        !seen.contains(TEST_API_KEY),
        "a browser frame carried the key"
    );
    tokio::time::sleep(Duration::from_millis(300)).await;
    let output = server.all_output();
    assert!(
        output.contains("live socket opened"),
        "the session was logged"
    );
    assert!(output.contains("Gemini Live"), "the upstream was logged");
    let leaks: Vec<&str> = output
        .lines()
        .filter(|l| l.contains(TEST_API_KEY))
        .collect();
    assert!(leaks.is_empty(), "log lines carried the key: {leaks:#?}");
}

async fn forgetting_me_removes_the_live_handle_and_minutes(backend: Backend) {
    let (app, _fake) = live_app(
        backend,
        script(vec![vec![
            Event::Resumption {
                handle: "h-f".into(),
                resumable: true,
            },
            says("Hi."),
            Event::TurnComplete,
        ]]),
    )
    .await;
    let (token, _) = app.new_session().await;
    let user = app.user_of(&token).await;
    let mut ws = open_live(&app, "tab-1", &token).await;
    assert_eq!(next_json(&mut ws).await["type"], "live_ready");
    send_audio(&mut ws, 3200).await;
    until(&mut ws, "turn_complete").await;
    drop(ws);
    let day = chrono::Utc::now().format("%Y-%m-%d").to_string();
    let store = app.state.store();
    assert!(
        eventually(Duration::from_secs(5), || async {
            store.ai_usage(&format!("live:{user}"), &day).await.unwrap() > 0
                && store.live_handle(&user, "tab-1").await.unwrap().is_some()
        })
        .await,
        "the session's time and handle are stored"
    );
    let response = reqwest::Client::new()
        .delete(app.url("/api/me"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 204);
    assert_eq!(store.live_handle(&user, "tab-1").await.unwrap(), None);
    assert_eq!(
        store.ai_usage(&format!("live:{user}"), &day).await.unwrap(),
        0
    );
}
on_both_backends!(forgetting_me_removes_the_live_handle_and_minutes);

#[tokio::test]
async fn vertex_sessions_use_the_service_account_token() {
    let fake = FakeLive::start(FakeLiveConfig::default()).await.unwrap();
    let url = fake.vertex_url();
    // The fake Gemini server is also the metadata server that issues the token.
    let app = spawn_app(
        AppOptions::new(Backend::Sqlite)
            .with_gemini(FakeGeminiConfig::default())
            .configure(move |c| {
                c.gemini.backend = ballsy::config::GeminiBackend::Vertex;
                c.gemini.api_key = None;
                c.gemini.project = Some("proj".into());
                c.gemini.vertex_location = "us-central1".into();
                c.gemini.metadata_host = c
                    .gemini
                    .base_url
                    .clone()
                    .unwrap()
                    .trim_start_matches("http://")
                    .to_owned();
                c.live.url = Some(url);
            }),
    )
    .await;
    let (token, _) = app.new_session().await;
    let mut ws = open_live(&app, "tab-1", &token).await;
    assert_eq!(next_json(&mut ws).await["type"], "live_ready");
    let connection = &fake.connections()[0];
    let bearer = connection
        .authorization_header
        .as_deref()
        .unwrap_or_default();
    assert!(bearer.starts_with("Bearer fake-token-"), "{bearer}");
    assert_eq!(connection.api_key_header, None);
    assert_eq!(
        connection.setup.as_ref().unwrap()["model"],
        "projects/proj/locations/us-central1/publishers/google/models/gemini-3.8-live"
    );
}

#[tokio::test]
async fn a_connection_that_keeps_dropping_is_given_up() {
    // Set up, then closed at once, every time: resuming cannot help beyond a few tries.
    let (app, fake) = live_app(
        Backend::Sqlite,
        FakeLiveConfig {
            on_setup: vec![Event::Close {
                code: 1011,
                reason: "The service is currently unavailable.".into(),
            }],
            ..script(vec![])
        },
    )
    .await;
    let (token, _) = app.new_session().await;
    let mut ws = open_live(&app, "tab-1", &token).await;
    assert_eq!(next_json(&mut ws).await["type"], "live_ready");
    let (_, error) = until(&mut ws, "error").await;
    assert_eq!(error["code"], "live_unavailable");
    match next_frame(&mut ws).await {
        Frame::Closed(Some((code, _))) => assert_eq!(code, 1011),
        other => panic!("{other:?}"),
    }
    assert_eq!(
        fake.connections().len(),
        5,
        "the first connection and four retries"
    );
}

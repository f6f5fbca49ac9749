//! The Gemini client against the fake Gemini server: wire format, every failure mode, the
//! retry policy, the fallback model and the Vertex AI path.

use std::time::{Duration, Instant};

use ballsy::ai::gemini::GeminiClient;
use ballsy::ai::{AiError, ChatEvent, ChatModel, ChatRequest, FinishReason, Role, Turn};
use ballsy::config::{Config, GeminiBackend, GeminiConfig};
use ballsy_bench::fake_gemini::{
    Backend as FakeBackend, DEFAULT_REPLY, FakeGemini, FakeGeminiConfig, Fault, Reply,
};
use futures_util::StreamExt;
use serde_json::Value;

use crate::helpers::{AppOptions, Backend, TEST_API_KEY, spawn_app};

const PRIMARY: &str = "gemini-3.5-flash-lite";
const FALLBACK: &str = "gemini-3.1-flash-lite";

fn config_for(fake: &FakeGemini) -> GeminiConfig {
    let mut gemini = Config::for_tests().gemini;
    gemini.api_key = Some(TEST_API_KEY.to_owned().into());
    gemini.base_url = Some(fake.base_url());
    gemini.model = PRIMARY.into();
    gemini.fallback_model = Some(FALLBACK.into());
    gemini.timeout = Duration::from_secs(8);
    gemini.first_byte_timeout = Duration::from_secs(2);
    gemini.stall_timeout = Duration::from_millis(600);
    gemini.max_retries = 2;
    gemini
}

fn request(message: &str) -> ChatRequest {
    ChatRequest::new(
        "Be brief.".into(),
        vec![
            Turn {
                role: Role::User,
                text: "earlier question".into(),
            },
            Turn {
                role: Role::Model,
                text: "earlier answer".into(),
            },
        ],
        message.into(),
    )
}

/// Runs a stream to its end: the text deltas, then the final outcome.
async fn run(
    client: &GeminiClient,
    message: &str,
) -> (Vec<String>, Result<ballsy::ai::Completion, AiError>) {
    let mut stream = client.stream_chat(request(message));
    let mut deltas = Vec::new();
    while let Some(event) = stream.next().await {
        match event {
            Ok(ChatEvent::Delta(d)) => deltas.push(d),
            Ok(ChatEvent::Done(done)) => return (deltas, Ok(done)),
            Ok(ChatEvent::ToolCalls { .. } | ChatEvent::Grounded(_)) => {}
            Err(error) => return (deltas, Err(error)),
        }
    }
    panic!("the stream ended without an outcome");
}

async fn setup(fake_config: FakeGeminiConfig) -> (FakeGemini, GeminiClient) {
    let fake = FakeGemini::start(fake_config).await.unwrap();
    let client = GeminiClient::new(&config_for(&fake)).unwrap();
    (fake, client)
}

#[tokio::test]
async fn streams_the_answer_with_the_key_only_in_a_header() {
    let (fake, client) = setup(FakeGeminiConfig::default()).await;
    let (deltas, outcome) = run(&client, "why?").await;
    assert!(deltas.len() >= 2);
    assert_eq!(deltas.concat(), DEFAULT_REPLY);
    let done = outcome.unwrap();
    assert_eq!(done.finish, FinishReason::Stop);
    assert_eq!(done.model, PRIMARY);
    assert!(done.usage.prompt_tokens > 0 && done.usage.output_tokens > 0);
    let requests = fake.requests();
    assert_eq!(requests.len(), 1);
    let r = &requests[0];
    assert_eq!(r.backend, FakeBackend::Developer);
    assert_eq!(
        r.path,
        format!("/v1beta/models/{PRIMARY}:streamGenerateContent")
    );
    assert_eq!(r.query.as_deref(), Some("alt=sse"));
    assert_eq!(r.api_key_header.as_deref(), Some(TEST_API_KEY));
    assert!(!r.key_in_query);
    assert!(
        !r.path.contains(TEST_API_KEY)
            && !r.query.clone().unwrap_or_default().contains(TEST_API_KEY)
    );
    let contents: Vec<(String, String)> = r.body["contents"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                c["role"].as_str().unwrap().into(),
                c["parts"][0]["text"].as_str().unwrap().into(),
            )
        })
        .collect();
    assert_eq!(
        contents,
        [
            ("user".into(), "earlier question".into()),
            ("model".into(), "earlier answer".into()),
            ("user".into(), "why?".into())
        ]
    );
    assert_eq!(r.body["systemInstruction"]["parts"][0]["text"], "Be brief.");
}

#[tokio::test]
async fn retries_429_500_and_503_before_the_first_byte() {
    for fault in [
        Fault::Status {
            code: 429,
            retry_delay: Some("0.3s".into()),
            quota_id: None,
            retry_after_header: None,
        },
        Fault::Status {
            code: 500,
            retry_delay: None,
            quota_id: None,
            retry_after_header: None,
        },
        Fault::Status {
            code: 503,
            retry_delay: None,
            quota_id: None,
            retry_after_header: Some(0),
        },
        Fault::ErrorInStream { after_chunks: 0 },
        Fault::MalformedJson { after_chunks: 0 },
        Fault::ResetAfter { chunks: 0 },
        Fault::EmptyStop,
        Fault::StallAfter {
            chunks: 0,
            stall: Duration::from_secs(5),
        },
    ] {
        let (fake, client) = setup(FakeGeminiConfig::default()).await;
        fake.push_fault(fault.clone());
        let started = Instant::now();
        let (deltas, outcome) = run(&client, "q").await;
        assert!(outcome.is_ok(), "{fault:?}: {outcome:?}");
        assert_eq!(deltas.concat(), DEFAULT_REPLY, "{fault:?}");
        assert_eq!(fake.requests().len(), 2, "{fault:?}: one retry");
        assert!(
            fake.requests().iter().all(|r| r.model == PRIMARY),
            "{fault:?}: same model"
        );
        if matches!(fault, Fault::Status { code: 429, .. }) {
            assert!(
                started.elapsed() >= Duration::from_millis(300),
                "RetryInfo is honoured"
            );
        }
    }
}

#[tokio::test]
async fn never_retries_after_text_reached_the_caller() {
    for (fault, expected) in [
        (Fault::ErrorInStream { after_chunks: 1 }, "unavailable"),
        (
            Fault::StallAfter {
                chunks: 1,
                stall: Duration::from_secs(5),
            },
            "timeout",
        ),
        (Fault::MalformedJson { after_chunks: 1 }, "protocol"),
        (Fault::ResetAfter { chunks: 1 }, "transport"),
    ] {
        let (fake, client) = setup(FakeGeminiConfig::default()).await;
        fake.push_fault(fault.clone());
        let (deltas, outcome) = run(&client, "q").await;
        assert_eq!(deltas.len(), 1, "{fault:?}: the first chunk arrived");
        assert_eq!(outcome.unwrap_err().kind(), expected, "{fault:?}");
        assert_eq!(fake.requests().len(), 1, "{fault:?}: no retry after text");
    }
}

#[tokio::test]
async fn content_blocks_and_bad_requests_are_not_retried() {
    for (fault, expected) in [
        (
            Fault::Finish {
                reason: "SAFETY".into(),
                text: None,
            },
            "blocked",
        ),
        (Fault::PromptBlocked, "blocked"),
        (
            Fault::Status {
                code: 400,
                retry_delay: None,
                quota_id: None,
                retry_after_header: None,
            },
            "bad_request",
        ),
        (
            Fault::Status {
                code: 403,
                retry_delay: None,
                quota_id: None,
                retry_after_header: None,
            },
            "auth",
        ),
    ] {
        let (fake, client) = setup(FakeGeminiConfig::default()).await;
        fake.push_fault(fault.clone());
        let (_, outcome) = run(&client, "q").await;
        assert_eq!(outcome.unwrap_err().kind(), expected, "{fault:?}");
        assert_eq!(fake.requests().len(), 1, "{fault:?}");
    }
}

#[tokio::test]
async fn max_tokens_without_text_is_an_answer_not_an_error() {
    let (fake, client) = setup(FakeGeminiConfig::default()).await;
    fake.push_fault(Fault::Finish {
        reason: "MAX_TOKENS".into(),
        text: None,
    });
    let (deltas, outcome) = run(&client, "q").await;
    assert!(deltas.is_empty());
    assert_eq!(outcome.unwrap().finish, FinishReason::MaxTokens);
    assert_eq!(fake.requests().len(), 1);
}

#[tokio::test]
async fn a_retired_model_or_a_daily_quota_switches_to_the_fallback() {
    let (fake, client) = setup(FakeGeminiConfig {
        known_models: Some(vec![FALLBACK.into()]),
        ..Default::default()
    })
    .await;
    let (_, outcome) = run(&client, "q").await;
    assert_eq!(outcome.unwrap().model, FALLBACK);
    let models: Vec<String> = fake.requests().iter().map(|r| r.model.clone()).collect();
    assert_eq!(models, [PRIMARY, FALLBACK]);

    let (fake, client) = setup(FakeGeminiConfig::default()).await;
    fake.push_fault_for_model(
        PRIMARY,
        Fault::Status {
            code: 429,
            retry_delay: Some("50s".into()),
            quota_id: Some("GenerateRequestsPerDayPerProjectPerModel-FreeTier".into()),
            retry_after_header: None,
        },
    );
    let started = Instant::now();
    let (_, outcome) = run(&client, "q").await;
    assert_eq!(outcome.unwrap().model, FALLBACK);
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "no waiting on a per-day quota"
    );
}

#[tokio::test]
async fn gives_up_after_the_configured_retries_with_a_typed_error() {
    let fake = FakeGemini::start(FakeGeminiConfig::default())
        .await
        .unwrap();
    let mut config = config_for(&fake);
    config.fallback_model = None;
    let client = GeminiClient::new(&config).unwrap();
    for _ in 0..3 {
        fake.push_fault(Fault::Status {
            code: 503,
            retry_delay: None,
            quota_id: None,
            retry_after_header: None,
        });
    }
    let (_, outcome) = run(&client, "q").await;
    let error = outcome.unwrap_err();
    assert_eq!(error.kind(), "unavailable");
    assert!(error.offers_search());
    assert_eq!(fake.requests().len(), 3, "1 attempt + 2 retries");
}

#[tokio::test]
async fn first_byte_timeout_and_overall_deadline_bound_the_wait() {
    let fake = FakeGemini::start(FakeGeminiConfig {
        ttft: Duration::from_secs(3),
        ..Default::default()
    })
    .await
    .unwrap();
    let mut config = config_for(&fake);
    config.fallback_model = None;
    config.first_byte_timeout = Duration::from_millis(300);
    config.timeout = Duration::from_secs(2);
    let client = GeminiClient::new(&config).unwrap();
    let started = Instant::now();
    let (deltas, outcome) = run(&client, "q").await;
    assert!(deltas.is_empty());
    assert_eq!(outcome.unwrap_err().kind(), "timeout");
    assert!(
        started.elapsed() < Duration::from_millis(2500),
        "within the deadline: {:?}",
        started.elapsed()
    );
    assert!(
        fake.requests().len() >= 2,
        "timeouts before the first byte are retried"
    );
}

#[tokio::test]
async fn dropping_the_stream_cancels_the_upstream_request() {
    let (fake, client) = setup(FakeGeminiConfig {
        chunks: 10,
        chunk_delay: Duration::from_millis(200),
        ..Default::default()
    })
    .await;
    let mut stream = client.stream_chat(request("long"));
    assert!(matches!(stream.next().await, Some(Ok(ChatEvent::Delta(_)))));
    drop(stream);
    assert_eq!(
        fake.wait_for_dropped_streams(1, Duration::from_secs(5))
            .await,
        1
    );
}

#[tokio::test]
async fn transcription_sends_inline_audio() {
    let (fake, client) = setup(FakeGeminiConfig {
        transcript: "what time is it".into(),
        ..Default::default()
    })
    .await;
    let text = client
        .transcribe(
            bytes::Bytes::from_static(b"OggS-audio"),
            "audio/ogg;codecs=opus".into(),
        )
        .await
        .unwrap();
    assert_eq!(text, "what time is it");
    let r = &fake.requests()[0];
    assert!(!r.stream);
    assert_eq!(r.path, format!("/v1beta/models/{PRIMARY}:generateContent"));
    assert_eq!(
        r.body["contents"][0]["parts"][1]["inlineData"]["mimeType"],
        "audio/ogg"
    );
}

#[tokio::test]
async fn vertex_uses_the_metadata_token_and_caches_it() {
    let fake = FakeGemini::start(FakeGeminiConfig::default())
        .await
        .unwrap();
    let config = GeminiConfig {
        backend: GeminiBackend::Vertex,
        api_key: None,
        project: Some("my-proj".into()),
        metadata_host: fake.metadata_host(),
        ..config_for(&fake)
    };
    let client = GeminiClient::new(&config).unwrap();
    let (_, first) = run(&client, "q1").await;
    first.unwrap();
    let (_, second) = run(&client, "q2").await;
    second.unwrap();
    assert_eq!(fake.token_requests(), 1, "the token is cached");
    let requests = fake.requests();
    assert_eq!(requests[0].backend, FakeBackend::Vertex);
    assert_eq!(
        requests[0].path,
        format!(
            "/v1/projects/my-proj/locations/global/publishers/google/models/{PRIMARY}:streamGenerateContent"
        )
    );
    assert!(
        requests[0]
            .bearer
            .as_deref()
            .unwrap()
            .starts_with("fake-token-")
    );
    assert_eq!(requests[0].api_key_header, None, "no API key on Vertex");
    // An expired token is refreshed once and the request repeated.
    fake.expire_tokens();
    let (_, third) = run(&client, "q3").await;
    third.unwrap();
    assert_eq!(fake.token_requests(), 2);
}

// --- Through the whole turn: what the user hears ---

#[tokio::test]
async fn persistent_failure_gives_a_clear_sentence_and_a_search() {
    let app = spawn_app(
        AppOptions::new(Backend::Sqlite)
            .with_gemini(Default::default())
            .configure(|c| {
                c.gemini.fallback_model = None;
                c.gemini.max_retries = 1;
            }),
    )
    .await;
    for _ in 0..2 {
        app.fake().push_fault(Fault::Status {
            code: 503,
            retry_delay: None,
            quota_id: None,
            retry_after_header: None,
        });
    }
    let reply = app.ask("tell me a story").await;
    assert_eq!(reply["source"], "fallback");
    assert_eq!(reply["action"], "search");
    assert_eq!(reply["data"]["query"], "tell me a story");
    assert!(
        reply["response"]
            .as_str()
            .unwrap()
            .contains("Here's a web search for it instead.")
    );
    let history: Value = app
        .client
        .get(app.url("/api/conversation"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(history["messages"][1]["status"], "failed");
}

#[tokio::test]
async fn a_failure_mid_answer_keeps_what_was_said() {
    let app = spawn_app(AppOptions::new(Backend::Sqlite).with_gemini(Default::default())).await;
    app.fake().push_fault(Fault::ResetAfter { chunks: 1 });
    let reply = app.ask("explain").await;
    let text = reply["response"].as_str().unwrap();
    assert!(text.starts_with("This is"), "{text}");
    assert!(
        text.ends_with("Sorry, I lost my connection there."),
        "{text}"
    );
    assert_eq!(reply["source"], "gemini");
}

#[tokio::test]
async fn uncertain_answers_about_people_become_a_search() {
    let fake = FakeGeminiConfig {
        reply: Reply::Fixed("I'm not sure who that is.".into()),
        ..Default::default()
    };
    let app = spawn_app(AppOptions::new(Backend::Sqlite).with_gemini(fake)).await;
    let reply = app.ask("who is zorblax").await;
    assert_eq!(reply["action"], "search");
    assert_eq!(reply["data"]["query"], "who is zorblax person biography");
    assert_eq!(reply["response"], "Let me find information about zorblax");
}

#[tokio::test]
async fn safety_blocks_are_spoken_politely_without_a_search() {
    let app = spawn_app(AppOptions::new(Backend::Sqlite).with_gemini(Default::default())).await;
    app.fake().push_fault(Fault::PromptBlocked);
    let reply = app.ask("something nasty").await;
    // The model answered, by refusing: not "the AI is unavailable".
    assert_eq!(reply["source"], "gemini");
    assert_eq!(reply["status"], "refused");
    assert_eq!(reply["action"], Value::Null);
    assert!(reply["response"].as_str().unwrap().contains("rather not"));
}

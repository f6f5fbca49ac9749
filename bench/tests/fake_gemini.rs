//! Black-box tests of the fake Gemini server over real HTTP.

use std::time::{Duration, Instant};

use ballsy_bench::fake_gemini::{
    Backend, DEFAULT_REPLY, FakeGemini, FakeGeminiConfig, Fault, ReplayCase, Reply,
    replay_cases_dir,
};
use futures_util::StreamExt as _;
use serde_json::{Value, json};

const MODEL: &str = "gemini-test";
const WAIT: Duration = Duration::from_secs(5);

async fn start(config: FakeGeminiConfig) -> FakeGemini {
    FakeGemini::start(config).await.expect("fake starts")
}

fn client() -> reqwest::Client {
    reqwest::Client::new()
}

fn user(text: &str) -> Value {
    json!({"contents": [{"role": "user", "parts": [{"text": text}]}]})
}

fn stream_url(fake: &FakeGemini, model: &str) -> String {
    format!(
        "{}/v1beta/models/{model}:streamGenerateContent?alt=sse",
        fake.base_url()
    )
}

fn unary_url(fake: &FakeGemini, model: &str) -> String {
    format!("{}/v1beta/models/{model}:generateContent", fake.base_url())
}

async fn post(url: &str, body: &Value) -> reqwest::Response {
    client()
        .post(url)
        .header("x-goog-api-key", "test-key")
        .json(body)
        .send()
        .await
        .expect("request sent")
}

/// Reads the whole SSE body and returns its events' JSON. Asserts the framing: every event is
/// `data: …` and ends with `\r\n\r\n`.
async fn sse_events(response: reqwest::Response) -> Vec<Value> {
    assert_eq!(response.status(), 200);
    assert_eq!(
        response.headers()["content-type"].to_str().unwrap(),
        "text/event-stream"
    );
    let raw = response.text().await.expect("body");
    parse_sse(&raw)
}

fn parse_sse(raw: &str) -> Vec<Value> {
    assert!(
        raw.is_empty() || raw.ends_with("\r\n\r\n"),
        "unterminated event in {raw:?}"
    );
    assert!(!raw.contains("[DONE]"));
    raw.split("\r\n\r\n")
        .filter(|e| !e.is_empty())
        .map(|event| {
            let data = event.strip_prefix("data: ").expect("data: prefix");
            assert!(!data.contains('\n'), "one line per event: {data:?}");
            serde_json::from_str(data).expect("event is JSON")
        })
        .collect()
}

fn texts(events: &[Value]) -> String {
    events
        .iter()
        .filter_map(|e| e.pointer("/candidates/0/content/parts/0/text"))
        .filter_map(Value::as_str)
        .collect()
}

fn finish_reason(event: &Value) -> Option<&str> {
    event
        .pointer("/candidates/0/finishReason")
        .and_then(Value::as_str)
}

/// Events with their arrival time relative to `start`, until the body ends or errors.
async fn timed_events(
    response: reqwest::Response,
    start: Instant,
) -> (Vec<(Duration, Value)>, Option<reqwest::Error>) {
    let mut body = response.bytes_stream();
    let mut buffer = String::new();
    let mut events = Vec::new();
    while let Some(chunk) = body.next().await {
        match chunk {
            Ok(bytes) => buffer.push_str(std::str::from_utf8(&bytes).unwrap()),
            Err(e) => return (events, Some(e)),
        }
        while let Some(end) = buffer.find("\r\n\r\n") {
            let event: String = buffer.drain(..end + 4).collect();
            events.push((start.elapsed(), parse_sse(&event).remove(0)));
        }
    }
    assert!(buffer.is_empty(), "leftover {buffer:?}");
    (events, None)
}

async fn error_body(response: reqwest::Response, code: u16, status: &str) -> Value {
    assert_eq!(response.status().as_u16(), code);
    assert!(
        response.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("application/json")
    );
    let body: Value = response.json().await.expect("error JSON");
    assert_eq!(body["error"]["code"], code);
    assert_eq!(body["error"]["status"], status);
    assert!(
        body["error"]["message"]
            .as_str()
            .is_some_and(|m| !m.is_empty())
    );
    body
}

fn tokens(chars: usize) -> u64 {
    chars.div_ceil(4) as u64
}

#[tokio::test]
async fn normal_stream_concatenates_to_the_reply_and_finishes_on_the_last_chunk() {
    let fake = start(FakeGeminiConfig::default()).await;
    let request = json!({
        "systemInstruction": {"parts": [{"text": "Answer briefly."}]},
        "contents": [
            {"role": "user", "parts": [{"text": "hi"}]},
            {"role": "model", "parts": [{"text": "hello"}]},
            {"role": "user", "parts": [{"text": "what is up?"}]},
        ],
        "generationConfig": {"maxOutputTokens": 256},
    });
    let events = sse_events(post(&stream_url(&fake, MODEL), &request).await).await;

    assert_eq!(events.len(), 4);
    assert_eq!(texts(&events), DEFAULT_REPLY);
    let prompt = tokens("Answer briefly.".len() + "hi".len() + "hello".len() + "what is up?".len());
    let candidates = tokens(DEFAULT_REPLY.len());
    let id = events[0]["responseId"].clone();
    for (i, event) in events.iter().enumerate() {
        assert_eq!(event["modelVersion"], MODEL);
        assert_eq!(event["responseId"], id);
        assert_eq!(event["candidates"][0]["content"]["role"], "model");
        assert_eq!(event["candidates"][0]["index"], 0);
        assert_eq!(event["usageMetadata"]["promptTokenCount"], prompt);
        if i + 1 < events.len() {
            assert_eq!(finish_reason(event), None);
            assert_eq!(event["usageMetadata"]["totalTokenCount"], prompt);
            assert!(event["usageMetadata"].get("candidatesTokenCount").is_none());
        }
    }
    let last = &events[3];
    assert_eq!(finish_reason(last), Some("STOP"));
    assert_eq!(last["usageMetadata"]["candidatesTokenCount"], candidates);
    assert_eq!(last["usageMetadata"]["thoughtsTokenCount"], 0);
    assert_eq!(
        last["usageMetadata"]["totalTokenCount"],
        prompt + candidates
    );
    assert!(
        last.get("createTime").is_none(),
        "Developer API has no createTime"
    );

    let recorded = fake.requests();
    assert_eq!(recorded.len(), 1);
    let r = &recorded[0];
    assert_eq!(r.backend, Backend::Developer);
    assert_eq!(r.method, "POST");
    assert_eq!(r.model, MODEL);
    assert!(r.stream);
    assert_eq!(r.query.as_deref(), Some("alt=sse"));
    assert_eq!(r.api_key_header.as_deref(), Some("test-key"));
    assert_eq!(r.header("X-Goog-Api-Key"), Some("test-key"));
    assert!(!r.key_in_query);
    assert_eq!(r.bearer, None);
    assert_eq!(r.body, request);
    assert_eq!(fake.wait_for_completed_streams(1, WAIT).await, 1);
    assert_eq!(fake.dropped_streams(), 0);
}

#[tokio::test]
async fn stream_bytes_match_googles_spacing() {
    let fake = start(FakeGeminiConfig {
        reply: Reply::Fixed("Hi".into()),
        chunks: 1,
        ..FakeGeminiConfig::default()
    })
    .await;
    let raw = post(&stream_url(&fake, MODEL), &user("abcd"))
        .await
        .text()
        .await
        .unwrap();
    assert_eq!(
        raw,
        "data: {\"candidates\": [{\"content\": {\"parts\": [{\"text\": \"Hi\"}],\"role\": \
         \"model\"},\"finishReason\": \"STOP\",\"index\": 0}],\"usageMetadata\": \
         {\"promptTokenCount\": 1,\"candidatesTokenCount\": 1,\"totalTokenCount\": 2,\
         \"thoughtsTokenCount\": 0},\"modelVersion\": \"gemini-test\",\"responseId\": \
         \"fakeResp00000001\"}\r\n\r\n"
    );
}

#[tokio::test]
async fn chunk_count_follows_config_and_word_boundaries() {
    let fake = start(FakeGeminiConfig {
        reply: Reply::Fixed("one two three four five six seven".into()),
        chunks: 3,
        ..FakeGeminiConfig::default()
    })
    .await;
    let events = sse_events(post(&stream_url(&fake, MODEL), &user("x")).await).await;
    let pieces: Vec<&str> = events
        .iter()
        .map(|e| {
            e["candidates"][0]["content"]["parts"][0]["text"]
                .as_str()
                .unwrap()
        })
        .collect();
    assert_eq!(pieces, ["one two ", "three four ", "five six seven"]);
}

#[tokio::test]
async fn unary_generate_content_returns_the_whole_text() {
    let fake = start(FakeGeminiConfig::default()).await;
    let response = post(&unary_url(&fake, MODEL), &user("hello")).await;
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    assert_eq!(
        body["candidates"][0]["content"]["parts"][0]["text"],
        DEFAULT_REPLY
    );
    assert_eq!(finish_reason(&body), Some("STOP"));
    assert_eq!(body["usageMetadata"]["promptTokenCount"], tokens(5));
    assert_eq!(
        body["usageMetadata"]["candidatesTokenCount"],
        tokens(DEFAULT_REPLY.len())
    );
    assert_eq!(body["modelVersion"], MODEL);
    assert!(!fake.requests()[0].stream);
}

#[tokio::test]
async fn ttft_and_chunk_delay_are_respected() {
    let fake = start(FakeGeminiConfig {
        ttft: Duration::from_millis(300),
        chunk_delay: Duration::from_millis(120),
        chunks: 4,
        ..FakeGeminiConfig::default()
    })
    .await;
    let start = Instant::now();
    let response = post(&stream_url(&fake, MODEL), &user("x")).await;
    let headers_at = start.elapsed();
    let (events, error) = timed_events(response, start).await;
    assert!(error.is_none());
    assert_eq!(events.len(), 4);
    let times: Vec<Duration> = events.iter().map(|(t, _)| *t).collect();
    assert!(headers_at < times[0], "headers come before the first event");
    assert!(times[0] >= Duration::from_millis(290), "ttft {times:?}");
    for pair in times.windows(2) {
        assert!(
            pair[1] - pair[0] >= Duration::from_millis(100),
            "gap {times:?}"
        );
    }
    assert!(
        times[3] < Duration::from_secs(5),
        "not buffered forever {times:?}"
    );
}

#[tokio::test]
async fn stamped_chunks_carry_their_send_time() {
    let fake = start(FakeGeminiConfig {
        stamp_chunks: true,
        chunk_delay: Duration::from_millis(20),
        ..FakeGeminiConfig::default()
    })
    .await;
    let before = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_micros();
    let events = sse_events(post(&stream_url(&fake, MODEL), &user("x")).await).await;
    let mut last = before;
    let mut unstamped = String::new();
    for event in &events {
        let text = event["candidates"][0]["content"]["parts"][0]["text"]
            .as_str()
            .unwrap();
        let rest = text.strip_prefix("[t:").expect("stamp");
        let (micros, piece) = rest.split_once(']').unwrap();
        let micros: u128 = micros.parse().unwrap();
        assert!(micros >= last, "stamps increase");
        last = micros;
        unstamped.push_str(piece);
    }
    assert_eq!(unstamped, DEFAULT_REPLY);
}

#[tokio::test]
async fn status_429_carries_quota_failure_and_retry_info() {
    let fake = start(FakeGeminiConfig::default()).await;
    fake.push_fault(Fault::Status {
        code: 429,
        retry_delay: Some("0.2s".into()),
        quota_id: None,
        retry_after_header: None,
    });
    let response = post(&stream_url(&fake, MODEL), &user("x")).await;
    assert!(response.headers().get("retry-after").is_none());
    let body = error_body(response, 429, "RESOURCE_EXHAUSTED").await;
    let details = body["error"]["details"].as_array().unwrap();
    let quota = details
        .iter()
        .find(|d| d["@type"] == "type.googleapis.com/google.rpc.QuotaFailure")
        .expect("QuotaFailure");
    assert_eq!(
        quota["violations"][0]["quotaId"],
        "GenerateRequestsPerMinutePerProjectPerModel-FreeTier"
    );
    assert_eq!(quota["violations"][0]["quotaDimensions"]["model"], MODEL);
    let retry = details
        .iter()
        .find(|d| d["@type"] == "type.googleapis.com/google.rpc.RetryInfo")
        .expect("RetryInfo");
    assert_eq!(retry["retryDelay"], "0.2s");

    // A per-day quota without RetryInfo, with a Retry-After header.
    fake.push_fault(Fault::Status {
        code: 429,
        retry_delay: None,
        quota_id: Some("GenerateRequestsPerDayPerProjectPerModel-FreeTier".into()),
        retry_after_header: Some(7),
    });
    let response = post(&unary_url(&fake, MODEL), &user("x")).await;
    assert_eq!(response.headers()["retry-after"], "7");
    let body = error_body(response, 429, "RESOURCE_EXHAUSTED").await;
    let details = body["error"]["details"].as_array().unwrap();
    assert!(
        details
            .iter()
            .all(|d| d["@type"] != "type.googleapis.com/google.rpc.RetryInfo")
    );
    assert_eq!(
        details[0]["violations"][0]["quotaId"],
        "GenerateRequestsPerDayPerProjectPerModel-FreeTier"
    );

    // The fault was used up: the next request succeeds.
    let events = sse_events(post(&stream_url(&fake, MODEL), &user("x")).await).await;
    assert_eq!(texts(&events), DEFAULT_REPLY);
}

#[tokio::test]
async fn other_status_faults_use_canonical_statuses() {
    let fake = start(FakeGeminiConfig::default()).await;
    for (code, status) in [
        (500, "INTERNAL"),
        (503, "UNAVAILABLE"),
        (404, "NOT_FOUND"),
        (400, "INVALID_ARGUMENT"),
        (401, "UNAUTHENTICATED"),
        (403, "PERMISSION_DENIED"),
        (504, "DEADLINE_EXCEEDED"),
    ] {
        fake.push_fault(Fault::Status {
            code,
            retry_delay: None,
            quota_id: None,
            retry_after_header: None,
        });
        let body = error_body(
            post(&stream_url(&fake, MODEL), &user("x")).await,
            code,
            status,
        )
        .await;
        if code == 503 {
            assert_eq!(
                body["error"]["message"],
                "The model is overloaded. Please try again later."
            );
        }
    }
}

#[tokio::test]
async fn faults_are_fifo_one_per_request() {
    let fake = start(FakeGeminiConfig::default()).await;
    for code in [500, 503] {
        fake.push_fault(Fault::Status {
            code,
            retry_delay: None,
            quota_id: None,
            retry_after_header: None,
        });
    }
    let url = stream_url(&fake, MODEL);
    assert_eq!(post(&url, &user("x")).await.status(), 500);
    assert_eq!(post(&url, &user("x")).await.status(), 503);
    assert_eq!(post(&url, &user("x")).await.status(), 200);
}

#[tokio::test]
async fn error_in_stream_sends_an_error_event_after_chunks() {
    let fake = start(FakeGeminiConfig::default()).await;
    fake.push_fault(Fault::ErrorInStream { after_chunks: 2 });
    let events = sse_events(post(&stream_url(&fake, MODEL), &user("x")).await).await;
    assert_eq!(events.len(), 3);
    assert!(events[..2].iter().all(|e| finish_reason(e).is_none()));
    assert!(DEFAULT_REPLY.starts_with(&texts(&events[..2])));
    assert_eq!(events[2]["error"]["code"], 503);
    assert_eq!(events[2]["error"]["status"], "UNAVAILABLE");

    // Unary has no stream to break, so it gets the 503 outright.
    fake.push_fault(Fault::ErrorInStream { after_chunks: 2 });
    error_body(
        post(&unary_url(&fake, MODEL), &user("x")).await,
        503,
        "UNAVAILABLE",
    )
    .await;
}

#[tokio::test]
async fn stall_after_keeps_the_connection_open_then_ends_without_finish() {
    let fake = start(FakeGeminiConfig::default()).await;
    fake.push_fault(Fault::StallAfter {
        chunks: 1,
        stall: Duration::from_millis(400),
    });
    let start = Instant::now();
    let response = post(&stream_url(&fake, MODEL), &user("x")).await;
    let (events, error) = timed_events(response, start).await;
    assert!(error.is_none());
    assert_eq!(events.len(), 1);
    assert!(events[0].0 < Duration::from_millis(300));
    assert!(finish_reason(&events[0].1).is_none());
    assert!(
        start.elapsed() >= Duration::from_millis(390),
        "the body ended after the stall"
    );
    assert_eq!(fake.wait_for_completed_streams(1, WAIT).await, 1);
}

#[tokio::test]
async fn malformed_json_sends_a_truncated_event() {
    let fake = start(FakeGeminiConfig::default()).await;
    fake.push_fault(Fault::MalformedJson { after_chunks: 1 });
    let raw = post(&stream_url(&fake, MODEL), &user("x"))
        .await
        .text()
        .await
        .unwrap();
    let events: Vec<&str> = raw.split("\r\n\r\n").filter(|e| !e.is_empty()).collect();
    assert_eq!(events.len(), 2);
    assert!(serde_json::from_str::<Value>(&events[0]["data: ".len()..]).is_ok());
    assert_eq!(events[1], "data: {\"candidates\": [");
}

#[tokio::test]
async fn reset_after_aborts_the_body() {
    let fake = start(FakeGeminiConfig::default()).await;
    fake.push_fault(Fault::ResetAfter { chunks: 2 });
    let response = post(&stream_url(&fake, MODEL), &user("x")).await;
    assert_eq!(response.status(), 200);
    let (events, error) = timed_events(response, Instant::now()).await;
    assert_eq!(events.len(), 2);
    assert!(error.is_some(), "the body must not end cleanly");

    fake.push_fault(Fault::ResetAfter { chunks: 0 });
    let response = post(&unary_url(&fake, MODEL), &user("x")).await;
    assert!(response.bytes().await.is_err());
}

#[tokio::test]
async fn empty_stop_has_no_parts() {
    let fake = start(FakeGeminiConfig::default()).await;
    fake.push_fault(Fault::EmptyStop);
    let events = sse_events(post(&stream_url(&fake, MODEL), &user("x")).await).await;
    assert_eq!(events.len(), 1);
    let candidate = &events[0]["candidates"][0];
    assert_eq!(candidate["finishReason"], "STOP");
    assert_eq!(candidate["content"], json!({"role": "model"}));
    assert_eq!(events[0]["usageMetadata"]["candidatesTokenCount"], 0);
    assert!(events[0]["usageMetadata"]["totalTokenCount"].is_u64());
}

#[tokio::test]
async fn finish_faults_end_with_their_reason() {
    let fake = start(FakeGeminiConfig::default()).await;
    fake.push_fault(Fault::Finish {
        reason: "MAX_TOKENS".into(),
        text: Some("A partial answer that was cut".into()),
    });
    let events = sse_events(post(&stream_url(&fake, MODEL), &user("x")).await).await;
    assert_eq!(texts(&events), "A partial answer that was cut");
    assert_eq!(finish_reason(events.last().unwrap()), Some("MAX_TOKENS"));
    assert!(
        events[..events.len() - 1]
            .iter()
            .all(|e| finish_reason(e).is_none())
    );

    fake.push_fault(Fault::Finish {
        reason: "SAFETY".into(),
        text: None,
    });
    let events = sse_events(post(&stream_url(&fake, MODEL), &user("x")).await).await;
    assert_eq!(events.len(), 1);
    assert_eq!(finish_reason(&events[0]), Some("SAFETY"));
    assert!(events[0]["candidates"][0].get("content").is_none());
    assert!(events[0]["candidates"][0]["safetyRatings"].is_array());

    fake.push_fault(Fault::Finish {
        reason: "RECITATION".into(),
        text: None,
    });
    let body: Value = post(&unary_url(&fake, MODEL), &user("x"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(finish_reason(&body), Some("RECITATION"));
}

#[tokio::test]
async fn prompt_blocked_has_feedback_and_no_candidates() {
    let fake = start(FakeGeminiConfig::default()).await;
    fake.push_fault(Fault::PromptBlocked);
    let events = sse_events(post(&stream_url(&fake, MODEL), &user("x")).await).await;
    assert_eq!(events.len(), 1);
    assert!(events[0].get("candidates").is_none());
    assert_eq!(events[0]["promptFeedback"]["blockReason"], "SAFETY");
    assert!(events[0]["usageMetadata"]["promptTokenCount"].is_u64());
}

#[tokio::test]
async fn model_faults_only_hit_their_model() {
    let fake = start(FakeGeminiConfig::default()).await;
    fake.push_fault_for_model(
        "primary",
        Fault::Status {
            code: 503,
            retry_delay: None,
            quota_id: None,
            retry_after_header: None,
        },
    );
    assert_eq!(
        post(&stream_url(&fake, "fallback"), &user("x"))
            .await
            .status(),
        200
    );
    assert_eq!(
        post(&stream_url(&fake, "primary"), &user("x"))
            .await
            .status(),
        503
    );
    assert_eq!(
        post(&stream_url(&fake, "primary"), &user("x"))
            .await
            .status(),
        200
    );
}

#[tokio::test]
async fn unknown_models_get_404_when_known_models_is_set() {
    let fake = start(FakeGeminiConfig {
        known_models: Some(vec!["gemini-live".into()]),
        ..FakeGeminiConfig::default()
    })
    .await;
    let body = error_body(
        post(&stream_url(&fake, "gemini-retired"), &user("x")).await,
        404,
        "NOT_FOUND",
    )
    .await;
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("models/gemini-retired is not found")
    );
    assert_eq!(
        post(&stream_url(&fake, "gemini-live"), &user("x"))
            .await
            .status(),
        200
    );

    // The model probe agrees.
    let probe = |model: &str| {
        client()
            .get(format!("{}/v1beta/models/{model}", fake.base_url()))
            .header("x-goog-api-key", "k")
            .send()
    };
    assert_eq!(probe("gemini-retired").await.unwrap().status(), 404);
    let info: Value = probe("gemini-live").await.unwrap().json().await.unwrap();
    assert_eq!(info["name"], "models/gemini-live");
}

#[tokio::test]
async fn developer_api_needs_a_key_and_records_keys_in_the_query() {
    let fake = start(FakeGeminiConfig::default()).await;
    let url = stream_url(&fake, MODEL);
    let response = client().post(&url).json(&user("x")).send().await.unwrap();
    error_body(response, 403, "PERMISSION_DENIED").await;
    let response = client()
        .post(&url)
        .header("x-goog-api-key", "")
        .json(&user("x"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 403);

    let response = client()
        .post(format!("{url}&key=leaky"))
        .json(&user("x"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);

    let recorded = fake.requests();
    assert_eq!(recorded.len(), 3, "rejected requests are recorded too");
    assert!(!recorded[0].key_in_query);
    assert_eq!(recorded[1].api_key_header.as_deref(), Some(""));
    assert!(recorded[2].key_in_query);
    assert_eq!(recorded[2].query.as_deref(), Some("alt=sse&key=leaky"));
}

#[tokio::test]
async fn stream_without_alt_sse_is_rejected() {
    let fake = start(FakeGeminiConfig::default()).await;
    let url = format!(
        "{}/v1beta/models/{MODEL}:streamGenerateContent",
        fake.base_url()
    );
    error_body(post(&url, &user("x")).await, 400, "INVALID_ARGUMENT").await;
}

#[tokio::test]
async fn bad_request_bodies_get_googles_400() {
    let fake = start(FakeGeminiConfig::default()).await;
    let url = stream_url(&fake, MODEL);
    for body in [
        "{\"contents\": [".to_owned(),
        "not json".to_owned(),
        "[]".to_owned(),
        "{}".to_owned(),
        "{\"contents\": []}".to_owned(),
        "{\"contents\": 5}".to_owned(),
        "{\"contents\": [{\"role\": \"assistant\", \"parts\": [{\"text\": \"x\"}]}]}".to_owned(),
        "{\"contents\": [{\"role\": \"user\"}]}".to_owned(),
        String::from_utf8_lossy(&[0xff, 0xfe, 0x00]).into_owned(),
    ] {
        let response = client()
            .post(&url)
            .header("x-goog-api-key", "k")
            .body(body.clone())
            .send()
            .await
            .unwrap();
        error_body(response, 400, "INVALID_ARGUMENT").await;
    }
    assert_eq!(fake.requests()[1].body, json!("not json"));
}

#[tokio::test]
async fn vertex_needs_a_token_from_the_metadata_server() {
    let fake = start(FakeGeminiConfig::default()).await;
    let url = format!(
        "{}/v1/projects/fake-project/locations/global/publishers/google/models/{MODEL}:streamGenerateContent?alt=sse",
        fake.base_url()
    );
    let metadata = format!(
        "http://{}/computeMetadata/v1/instance/service-accounts/default/token",
        fake.metadata_host()
    );

    let body = error_body(
        client().post(&url).json(&user("x")).send().await.unwrap(),
        401,
        "UNAUTHENTICATED",
    )
    .await;
    assert_eq!(body["error"]["details"][0]["reason"], "CREDENTIALS_MISSING");
    let response = client()
        .post(&url)
        .bearer_auth("made-up")
        .json(&user("x"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 401);
    // An API key is not a Vertex credential.
    assert_eq!(post(&url, &user("x")).await.status(), 401);

    assert_eq!(client().get(&metadata).send().await.unwrap().status(), 403);
    assert_eq!(fake.token_requests(), 0);
    let token: Value = client()
        .get(&metadata)
        .header("Metadata-Flavor", "Google")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(token["access_token"], "fake-token-1");
    assert_eq!(token["expires_in"], 3599);
    assert_eq!(token["token_type"], "Bearer");
    assert_eq!(fake.token_requests(), 1);

    let response = client()
        .post(&url)
        .bearer_auth("fake-token-1")
        .json(&user("x"))
        .send()
        .await
        .unwrap();
    let events = sse_events(response).await;
    assert_eq!(texts(&events), DEFAULT_REPLY);
    let last = events.last().unwrap();
    assert!(
        last["createTime"]
            .as_str()
            .is_some_and(|t| t.ends_with('Z'))
    );
    assert_eq!(last["usageMetadata"]["trafficType"], "ON_DEMAND");

    let recorded = fake.requests();
    let ok = recorded.last().unwrap();
    assert_eq!(ok.backend, Backend::Vertex);
    assert_eq!(ok.model, MODEL);
    assert_eq!(ok.bearer.as_deref(), Some("fake-token-1"));

    let project = client()
        .get(format!(
            "http://{}/computeMetadata/v1/project/project-id",
            fake.metadata_host()
        ))
        .header("Metadata-Flavor", "Google")
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(project, "fake-project");
    let root = client()
        .get(format!("http://{}/", fake.metadata_host()))
        .send()
        .await
        .unwrap();
    assert_eq!(root.headers()["metadata-flavor"], "Google");
    let email = client()
        .get(format!(
            "http://{}/computeMetadata/v1/instance/service-accounts/default/email",
            fake.metadata_host()
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(email.status(), 403, "the flavor header is required");

    // An expired token is refused, the way a client's refresh logic must cope with.
    fake.expire_tokens();
    let body = error_body(
        client()
            .post(&url)
            .bearer_auth("fake-token-1")
            .json(&user("x"))
            .send()
            .await
            .unwrap(),
        401,
        "UNAUTHENTICATED",
    )
    .await;
    assert_eq!(
        body["error"]["details"][0]["reason"],
        "ACCESS_TOKEN_EXPIRED"
    );

    // Unary Vertex works the same way.
    let token: Value = client()
        .get(&metadata)
        .header("Metadata-Flavor", "Google")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(token["access_token"], "fake-token-2");
    let unary = url.replace(":streamGenerateContent?alt=sse", ":generateContent");
    let response = client()
        .post(&unary)
        .bearer_auth("fake-token-2")
        .json(&user("x"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
}

#[tokio::test]
async fn short_token_lifetime_expires() {
    let fake = start(FakeGeminiConfig {
        token_expires_in: 0,
        ..FakeGeminiConfig::default()
    })
    .await;
    let token: Value = client()
        .get(format!(
            "{}/computeMetadata/v1/instance/service-accounts/default/token",
            fake.base_url()
        ))
        .header("Metadata-Flavor", "Google")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(token["expires_in"], 0);
    let url = format!(
        "{}/v1/projects/p/locations/us-central1/publishers/google/models/m:generateContent",
        fake.base_url()
    );
    let response = client()
        .post(&url)
        .bearer_auth(token["access_token"].as_str().unwrap())
        .json(&user("x"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 401);
}

#[tokio::test]
async fn echo_and_audio_transcript_replies() {
    let fake = start(FakeGeminiConfig {
        reply: Reply::Echo,
        transcript: "play some jazz".into(),
        ..FakeGeminiConfig::default()
    })
    .await;
    let request = json!({"contents": [
        {"role": "user", "parts": [{"text": "first"}]},
        {"role": "model", "parts": [{"text": "ok"}]},
        {"role": "user", "parts": [{"text": "what time is it"}]},
    ]});
    let events = sse_events(post(&stream_url(&fake, MODEL), &request).await).await;
    assert_eq!(texts(&events), "You said: what time is it");

    let audio = json!({"contents": [{"role": "user", "parts": [
        {"text": "Transcribe and answer."},
        {"inlineData": {"mimeType": "audio/wav", "data": "UklGRgAAAAA="}},
    ]}]});
    let body: Value = post(&unary_url(&fake, MODEL), &audio)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        body["candidates"][0]["content"]["parts"][0]["text"],
        "play some jazz"
    );
}

#[tokio::test]
async fn prompt_directives_pick_the_behaviour() {
    let fake = start(FakeGeminiConfig::default()).await;
    let url = stream_url(&fake, MODEL);
    let ask = |directive: &str| user(&format!("please [[fake:{directive}]] now"));

    let body = error_body(post(&url, &ask("429")).await, 429, "RESOURCE_EXHAUSTED").await;
    assert!(
        body["error"]["details"]
            .as_array()
            .unwrap()
            .iter()
            .any(|d| { d["@type"] == "type.googleapis.com/google.rpc.RetryInfo" })
    );
    error_body(post(&url, &ask("500")).await, 500, "INTERNAL").await;
    error_body(post(&url, &ask("503")).await, 503, "UNAVAILABLE").await;

    let events = sse_events(post(&url, &ask("stream-error")).await).await;
    assert_eq!(events.last().unwrap()["error"]["code"], 503);

    let raw = post(&url, &ask("malformed")).await.text().await.unwrap();
    assert!(raw.ends_with("data: {\"candidates\": [\r\n\r\n"));

    let (_, error) = timed_events(post(&url, &ask("reset")).await, Instant::now()).await;
    assert!(error.is_some());

    let events = sse_events(post(&url, &ask("empty")).await).await;
    assert_eq!(
        events[0]["candidates"][0]["content"],
        json!({"role": "model"})
    );

    let events = sse_events(post(&url, &ask("safety")).await).await;
    assert_eq!(finish_reason(&events[0]), Some("SAFETY"));
    let events = sse_events(post(&url, &ask("max-tokens")).await).await;
    assert_eq!(finish_reason(&events[0]), Some("MAX_TOKENS"));
    let events = sse_events(post(&url, &ask("blocked")).await).await;
    assert_eq!(events[0]["promptFeedback"]["blockReason"], "SAFETY");

    // Only the last user content counts.
    let request = json!({"contents": [
        {"role": "user", "parts": [{"text": "[[fake:500]]"}]},
        {"role": "model", "parts": [{"text": "sorry"}]},
        {"role": "user", "parts": [{"text": "fine"}]},
    ]});
    assert_eq!(post(&url, &request).await.status(), 200);

    // A queued fault beats a directive.
    fake.push_fault(Fault::EmptyStop);
    let events = sse_events(post(&url, &ask("503")).await).await;
    assert_eq!(finish_reason(&events[0]), Some("STOP"));
}

#[tokio::test]
async fn stall_and_slow_directives_set_their_timing() {
    let fake = start(FakeGeminiConfig::default()).await;
    let url = stream_url(&fake, MODEL);

    let start = Instant::now();
    let (events, _) = timed_events(post(&url, &user("[[fake:slow]] tell me")).await, start).await;
    assert_eq!(events.len(), 8);
    assert!(events[0].0 >= Duration::from_millis(950));
    assert!(events[7].0 - events[0].0 >= Duration::from_millis(7 * 140));
    assert_eq!(finish_reason(&events[7].1), Some("STOP"));

    // The stall lasts 30 s; one chunk arrives, then nothing for a good while.
    let response = post(&url, &user("[[fake:stall]]")).await;
    let mut body = response.bytes_stream();
    let first = body.next().await.unwrap().unwrap();
    assert!(first.starts_with(b"data: "));
    let more = tokio::time::timeout(Duration::from_millis(500), body.next()).await;
    assert!(more.is_err(), "nothing after the first chunk");
}

#[tokio::test]
async fn control_endpoints_drive_the_fake() {
    let fake = start(FakeGeminiConfig::default()).await;
    let base = fake.base_url();
    let c = client();

    // Faults: one, an array, and one for a model.
    let queued: Value = c
        .post(format!("{base}/__fake/faults"))
        .json(&json!({"kind": "status", "code": 503}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(queued["queued"], 1);
    c.post(format!("{base}/__fake/faults"))
        .json(&json!([
            {"kind": "stall_after", "chunks": 0, "stall_ms": 10},
            {"kind": "finish", "reason": "MAX_TOKENS"},
        ]))
        .send()
        .await
        .unwrap();
    c.post(format!("{base}/__fake/faults?model=other"))
        .json(&json!({"kind": "prompt_blocked"}))
        .send()
        .await
        .unwrap();
    let bad = c
        .post(format!("{base}/__fake/faults"))
        .json(&json!({"kind": "nonsense"}))
        .send()
        .await
        .unwrap();
    error_body(bad, 400, "INVALID_ARGUMENT").await;
    let stats: Value = c
        .get(format!("{base}/__fake/stats"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(stats["queued_faults"], 4);

    let url = stream_url(&fake, MODEL);
    assert_eq!(post(&url, &user("x")).await.status(), 503);
    assert!(sse_events(post(&url, &user("x")).await).await.is_empty());
    let events = sse_events(post(&url, &user("x")).await).await;
    assert_eq!(finish_reason(&events[0]), Some("MAX_TOKENS"));
    let events = sse_events(post(&stream_url(&fake, "other"), &user("x")).await).await;
    assert!(events[0].get("promptFeedback").is_some());

    // Queued faults can be dropped.
    c.post(format!("{base}/__fake/faults"))
        .json(&json!({"kind": "empty_stop"}))
        .send()
        .await
        .unwrap();
    c.delete(format!("{base}/__fake/faults"))
        .send()
        .await
        .unwrap();
    assert_eq!(
        texts(&sse_events(post(&url, &user("x")).await).await),
        DEFAULT_REPLY
    );

    // Config patches.
    let config: Value = c
        .post(format!("{base}/__fake/config"))
        .json(&json!({"reply": "alpha beta gamma", "chunks": 3, "ttft_ms": 5}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(config["reply"], "alpha beta gamma");
    assert_eq!(config["ttft_ms"], 5);
    assert_eq!(fake.config().ttft, Duration::from_millis(5));
    let events = sse_events(post(&url, &user("x")).await).await;
    assert_eq!(events.len(), 3);
    assert_eq!(texts(&events), "alpha beta gamma");

    c.post(format!("{base}/__fake/config"))
        .json(&json!({"echo": true, "known_models": ["only"]}))
        .send()
        .await
        .unwrap();
    assert_eq!(post(&url, &user("x")).await.status(), 404);
    c.post(format!("{base}/__fake/config"))
        .json(&json!({"known_models": null, "transcript": "t"}))
        .send()
        .await
        .unwrap();
    let events = sse_events(post(&url, &user("hello")).await).await;
    assert_eq!(texts(&events), "You said: hello");
    assert_eq!(fake.config().transcript, "t");
    let bad = c
        .post(format!("{base}/__fake/config"))
        .json(&json!({"ttft": 5}))
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status(), 400);

    // Recorded requests.
    let recorded: Value = c
        .get(format!("{base}/__fake/requests"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let recorded = recorded.as_array().unwrap();
    assert_eq!(recorded.len(), fake.requests().len());
    assert_eq!(recorded[0]["backend"], "developer");
    assert_eq!(recorded[0]["model"], MODEL);
    assert_eq!(recorded[0]["key_in_query"], false);
    let deleted = c
        .delete(format!("{base}/__fake/requests"))
        .send()
        .await
        .unwrap();
    assert_eq!(deleted.status(), 204);
    assert!(fake.requests().is_empty());
}

#[tokio::test]
async fn dropping_the_client_mid_stream_counts_a_dropped_stream() {
    let fake = start(FakeGeminiConfig {
        chunk_delay: Duration::from_millis(200),
        chunks: 4,
        ..FakeGeminiConfig::default()
    })
    .await;
    let response = post(&stream_url(&fake, MODEL), &user("x")).await;
    let mut body = response.bytes_stream();
    body.next().await.unwrap().unwrap();
    drop(body);
    assert_eq!(fake.wait_for_dropped_streams(1, WAIT).await, 1);
    assert_eq!(fake.completed_streams(), 0);

    // Also while the server is silent (a stall), not only when it next writes.
    fake.push_fault(Fault::StallAfter {
        chunks: 1,
        stall: Duration::from_secs(60),
    });
    let response = post(&stream_url(&fake, MODEL), &user("x")).await;
    let mut body = response.bytes_stream();
    body.next().await.unwrap().unwrap();
    let dropped_at = Instant::now();
    drop(body);
    assert_eq!(fake.wait_for_dropped_streams(2, WAIT).await, 2);
    assert!(dropped_at.elapsed() < Duration::from_secs(2));
    assert_eq!(fake.completed_streams(), 0);
}

#[tokio::test]
async fn wait_for_requests_returns_early_or_at_the_timeout() {
    let fake = start(FakeGeminiConfig::default()).await;
    let start = Instant::now();
    assert!(
        fake.wait_for_requests(1, Duration::from_millis(100))
            .await
            .is_empty()
    );
    assert!(start.elapsed() >= Duration::from_millis(100));

    let url = stream_url(&fake, MODEL);
    let sender = tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(50)).await;
        post(&url, &user("x")).await.text().await.unwrap()
    });
    let recorded = fake.wait_for_requests(1, WAIT).await;
    assert_eq!(recorded.len(), 1);
    sender.await.unwrap();
}

#[tokio::test]
async fn many_concurrent_streams_all_complete() {
    let fake = start(FakeGeminiConfig {
        chunk_delay: Duration::from_millis(10),
        ..FakeGeminiConfig::default()
    })
    .await;
    let url = stream_url(&fake, MODEL);
    let tasks: Vec<_> = (0..32)
        .map(|_| {
            let url = url.clone();
            tokio::spawn(async move { sse_events(post(&url, &user("x")).await).await })
        })
        .collect();
    for task in tasks {
        assert_eq!(texts(&task.await.unwrap()), DEFAULT_REPLY);
    }
    assert_eq!(fake.wait_for_completed_streams(32, WAIT).await, 32);
    let ids: std::collections::HashSet<String> =
        fake.requests().iter().map(|r| r.model.clone()).collect();
    assert_eq!(ids.len(), 1);
}

#[tokio::test]
async fn shutdown_ends_stalled_streams_and_closes_the_port() {
    let fake = start(FakeGeminiConfig::default()).await;
    fake.push_fault(Fault::StallAfter {
        chunks: 1,
        stall: Duration::from_secs(60),
    });
    let url = stream_url(&fake, MODEL);
    let response = post(&url, &user("x")).await;
    let started = Instant::now();
    let reader = tokio::spawn(async move { response.text().await });
    tokio::time::sleep(Duration::from_millis(100)).await;
    fake.shutdown().await;
    let _ = tokio::time::timeout(WAIT, reader)
        .await
        .expect("stream ended");
    assert!(started.elapsed() < Duration::from_secs(5));
    assert!(client().post(&url).json(&user("x")).send().await.is_err());
}

#[tokio::test]
async fn dropping_the_fake_frees_it() {
    let fake = start(FakeGeminiConfig::default()).await;
    let url = stream_url(&fake, MODEL);
    drop(fake);
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert!(client().post(&url).json(&user("x")).send().await.is_err());
}

#[test]
fn faults_round_trip_through_json() {
    let faults = [
        Fault::Status {
            code: 429,
            retry_delay: Some("0.2s".into()),
            quota_id: None,
            retry_after_header: Some(1),
        },
        Fault::ErrorInStream { after_chunks: 1 },
        Fault::StallAfter {
            chunks: 1,
            stall: Duration::from_millis(1500),
        },
        Fault::MalformedJson { after_chunks: 0 },
        Fault::ResetAfter { chunks: 2 },
        Fault::EmptyStop,
        Fault::Finish {
            reason: "SAFETY".into(),
            text: None,
        },
        Fault::PromptBlocked,
        Fault::Replay {
            case: "http503-overloaded".into(),
        },
    ];
    for fault in faults {
        let json = serde_json::to_value(&fault).unwrap();
        assert!(json["kind"].is_string());
        assert_eq!(serde_json::from_value::<Fault>(json).unwrap(), fault);
    }
    assert_eq!(
        serde_json::to_value(Fault::StallAfter {
            chunks: 1,
            stall: Duration::from_secs(30)
        })
        .unwrap(),
        json!({"kind": "stall_after", "chunks": 1, "stall_ms": 30000})
    );
    assert_eq!(
        serde_json::to_value(Fault::Replay {
            case: "sse-3-pro-function-call".into()
        })
        .unwrap(),
        json!({"kind": "replay", "case": "sse-3-pro-function-call"})
    );
    let minimal: Fault = serde_json::from_value(json!({"kind": "status", "code": 500})).unwrap();
    assert_eq!(
        minimal,
        Fault::Status {
            code: 500,
            retry_delay: None,
            quota_id: None,
            retry_after_header: None
        }
    );
}

// --- Replay of recorded responses ---

/// The recorded cases; every one must load.
fn recorded_cases() -> Vec<ReplayCase> {
    let cases = ReplayCase::load_all(replay_cases_dir()).expect("recorded cases load");
    assert!(
        cases.len() >= 33,
        "expected at least 33 recorded cases in {}, found {}",
        replay_cases_dir().display(),
        cases.len()
    );
    cases
}

fn recorded(name: &str) -> ReplayCase {
    ReplayCase::named(name).unwrap_or_else(|e| panic!("{e:#}"))
}

#[tokio::test]
async fn replay_serves_every_recorded_case_byte_for_byte() {
    let fake = start(FakeGeminiConfig::default()).await;
    for case in recorded_cases() {
        fake.push_replay(&case.name).unwrap();
        let response = post(&stream_url(&fake, MODEL), &user("x")).await;
        assert_eq!(response.status().as_u16(), case.status, "{}", case.name);
        // Framing headers describe the recorded connection, not this one; the fake drops them.
        let framing = [
            "content-length",
            "transfer-encoding",
            "content-encoding",
            "connection",
            "date",
        ];
        for (name, value) in case
            .headers
            .iter()
            .filter(|(n, _)| !framing.contains(&n.as_str()))
        {
            assert_eq!(
                response.headers().get(name).map(|v| v.to_str().unwrap()),
                Some(value.as_str()),
                "{}: recorded header {name}",
                case.name
            );
        }
        assert_eq!(
            response.headers().contains_key("retry-after"),
            case.header("retry-after").is_some(),
            "{}",
            case.name
        );
        let body = response.bytes().await.unwrap();
        assert_eq!(body.as_ref(), case.body.as_slice(), "{}", case.name);
    }
    assert!(fake.requests().len() >= 33);
}

#[tokio::test]
async fn replayed_streams_arrive_event_by_event_with_the_configured_delays() {
    let fake = start(FakeGeminiConfig {
        ttft: Duration::from_millis(150),
        chunk_delay: Duration::from_millis(100),
        ..FakeGeminiConfig::default()
    })
    .await;
    let case = recorded("sse-2.0-flash-paris");
    fake.push_replay(&case.name).unwrap();
    let start = Instant::now();
    let (events, error) =
        timed_events(post(&stream_url(&fake, MODEL), &user("x")).await, start).await;
    assert!(error.is_none());
    assert_eq!(events.len(), 3);
    assert_eq!(
        texts(&events.iter().map(|(_, e)| e.clone()).collect::<Vec<_>>()),
        "The capital of France is Paris.\n"
    );
    assert!(
        events[0].0 >= Duration::from_millis(140),
        "ttft {:?}",
        events[0].0
    );
    for pair in events.windows(2) {
        assert!(
            pair[1].0 - pair[0].0 >= Duration::from_millis(90),
            "gap {events:?}"
        );
    }
    assert_eq!(fake.wait_for_completed_streams(1, WAIT).await, 1);

    // Bare-LF framing is replayed as recorded, one event at a time too.
    let lf = recorded("sse-3.7-flash-lf-framing");
    assert_eq!(lf.events().len(), 2);
    fake.push_replay(&lf.name).unwrap();
    let response = post(&stream_url(&fake, MODEL), &user("x")).await;
    let mut body = response.bytes_stream();
    let mut pieces = Vec::new();
    while let Some(piece) = body.next().await {
        pieces.push(piece.unwrap());
    }
    assert_eq!(pieces.concat(), lf.body);
    assert!(
        pieces.len() >= 2,
        "streamed, not buffered: {} pieces",
        pieces.len()
    );
}

#[tokio::test]
async fn replay_over_http_by_directive_and_for_unary_requests() {
    let fake = start(FakeGeminiConfig::default()).await;
    let base = fake.base_url();
    let c = client();

    let queued: Value = c
        .post(format!("{base}/__fake/faults"))
        .json(&json!({"kind": "replay", "case": "http429-per-minute-retry-1s"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(queued["queued"], 1);
    let response = post(&stream_url(&fake, MODEL), &user("x")).await;
    assert_eq!(response.status(), 429);
    assert_eq!(
        response.bytes().await.unwrap().as_ref(),
        recorded("http429-per-minute-retry-1s").body.as_slice()
    );

    // A prompt directive needs no control call; JSON bodies are replayed for unary too.
    let blocked = recorded("http403-key-leaked");
    let response = post(
        &unary_url(&fake, MODEL),
        &user("hi [[fake:replay=http403-key-leaked]]"),
    )
    .await;
    assert_eq!(response.status(), 403);
    assert_eq!(
        response.bytes().await.unwrap().as_ref(),
        blocked.body.as_slice()
    );

    // A case that does not exist is a clear error, never a panic: refused when queued over
    // HTTP or from Rust, and answered with a 400 that says why when it comes any other way.
    for case in ["no-such-case", "../replay", ""] {
        let refused = c
            .post(format!("{base}/__fake/faults"))
            .json(&json!({"kind": "replay", "case": case}))
            .send()
            .await
            .unwrap();
        let body = error_body(refused, 400, "INVALID_ARGUMENT").await;
        assert!(
            body["error"]["message"]
                .as_str()
                .unwrap()
                .contains("cannot replay case"),
            "{body}"
        );
    }
    let error = fake.push_replay("no-such-case").unwrap_err();
    assert!(format!("{error:#}").contains("does not exist"), "{error:#}");
    let stats: Value = c
        .get(format!("{base}/__fake/stats"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        stats["queued_faults"], 0,
        "nothing was queued for the refused cases"
    );

    let body = error_body(
        post(
            &stream_url(&fake, MODEL),
            &user("[[fake:replay=no-such-case]]"),
        )
        .await,
        400,
        "FAILED_PRECONDITION",
    )
    .await;
    let message = body["error"]["message"].as_str().unwrap();
    assert!(
        message.contains("fake-gemini cannot replay case \"no-such-case\""),
        "{message}"
    );
    assert!(message.contains("does not exist"), "{message}");
    fake.push_fault(Fault::Replay {
        case: "also-missing".into(),
    });
    error_body(
        post(&stream_url(&fake, MODEL), &user("x")).await,
        400,
        "FAILED_PRECONDITION",
    )
    .await;
}

#[tokio::test]
async fn replay_dir_is_configurable_and_broken_cases_report_the_file() {
    let dir = std::env::temp_dir().join(format!("fake-gemini-replay-{}", std::process::id()));
    let case_dir = dir.join("custom-case");
    std::fs::create_dir_all(&case_dir).unwrap();
    std::fs::write(case_dir.join("status"), "503\n").unwrap();
    std::fs::write(
        case_dir.join("headers"),
        "content-type: application/json; charset=UTF-8\nretry-after: 3\ncontent-length: 999\ntransfer-encoding: chunked\n",
    )
    .unwrap();
    std::fs::write(case_dir.join("body"), "{\"error\": {\"code\": 503}}\n").unwrap();
    let broken = dir.join("broken-case");
    std::fs::create_dir_all(&broken).unwrap();
    std::fs::write(broken.join("status"), "200").unwrap();
    std::fs::write(broken.join("headers"), "").unwrap();

    let case = ReplayCase::load(&case_dir).unwrap();
    assert_eq!(case.name, "custom-case");
    assert_eq!(case.status, 503);
    assert_eq!(case.source, "", "source.txt is optional");
    let error = ReplayCase::load(&broken).unwrap_err();
    assert!(
        format!("{error:#}").contains("broken-case/body"),
        "{error:#}"
    );
    assert!(
        ReplayCase::load_all(&dir).is_err(),
        "one broken case fails the listing"
    );

    let fake = start(FakeGeminiConfig {
        replay_dir: dir.clone(),
        ..FakeGeminiConfig::default()
    })
    .await;
    fake.push_replay("custom-case").unwrap();
    let response = post(&stream_url(&fake, MODEL), &user("x")).await;
    assert_eq!(response.status(), 503);
    assert_eq!(response.headers()["retry-after"], "3");
    assert_ne!(
        response
            .headers()
            .get("content-length")
            .map(|v| v.to_str().unwrap()),
        Some("999"),
        "length headers describe the recorded framing, not this response"
    );
    assert_eq!(
        response.text().await.unwrap(),
        "{\"error\": {\"code\": 503}}\n"
    );

    // Over HTTP too.
    let config: Value = client()
        .post(format!("{}/__fake/config", fake.base_url()))
        .json(&json!({"replay_dir": replay_cases_dir()}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        config["replay_dir"],
        replay_cases_dir().display().to_string()
    );
    assert!(fake.push_replay("custom-case").is_err());
    std::fs::remove_dir_all(&dir).unwrap();
}

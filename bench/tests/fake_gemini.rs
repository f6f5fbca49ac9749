//! Black-box tests of the fake Gemini server over real HTTP.

use std::time::{Duration, Instant};

use ballsy_bench::fake_gemini::{
    Backend, DEFAULT_REPLY, FakeGemini, FakeGeminiConfig, Fault, FunctionCall, GroundedReply,
    GroundingSource, ReplayCase, Reply, Round, replay_cases_dir,
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
async fn function_declarations_count_as_prompt_tokens() {
    // Gemini bills the declarations as input; the cost scenario relies on the fake doing so.
    let fake = start(FakeGeminiConfig::default()).await;
    let tools = json!([{"functionDeclarations": [{"name": "set_timer", "description": "Set a timer.",
        "parameters": {"type": "object", "properties": {"seconds": {"type": "integer"}}}}]}]);
    let mut request = user("hello");
    request["tools"] = tools.clone();
    let body: Value = post(&unary_url(&fake, MODEL), &request)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        body["usageMetadata"]["promptTokenCount"],
        tokens("hello".len() + tools.to_string().len())
    );
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

// --- Function calling ---

const FC_MODEL: &str = "gemini-3-pro-preview";

fn raw_events(raw: &str) -> Vec<&str> {
    raw.split("\r\n\r\n").filter(|e| !e.is_empty()).collect()
}

/// The event's text up to (not including) `marker`, e.g. the candidates before the usage.
fn up_to<'a>(event: &'a str, marker: &str) -> &'a str {
    let end = event
        .find(marker)
        .unwrap_or_else(|| panic!("{marker} in {event}"));
    &event[..end]
}

fn question(text: &str) -> Value {
    json!({"role": "user", "parts": [{"text": text}]})
}

/// The model content a careful client stores: every part of every chunk, verbatim, in one
/// content (research §1.2).
fn model_content(events: &[Value]) -> Value {
    let parts: Vec<Value> = events
        .iter()
        .filter_map(|e| e.pointer("/candidates/0/content/parts"))
        .filter_map(Value::as_array)
        .flatten()
        .cloned()
        .collect();
    json!({"role": "model", "parts": parts})
}

fn responses(names_and_outputs: &[(&str, Value)]) -> Value {
    let parts: Vec<Value> = names_and_outputs
        .iter()
        .map(|(name, output)| {
            json!({"functionResponse": {"name": name, "response": {"output": output}}})
        })
        .collect();
    json!({"role": "user", "parts": parts})
}

fn function_calls(events: &[Value]) -> Vec<(Value, Option<String>)> {
    events
        .iter()
        .filter_map(|e| e.pointer("/candidates/0/content/parts"))
        .filter_map(Value::as_array)
        .flatten()
        .filter_map(|p| {
            let signature = p["thoughtSignature"].as_str().map(str::to_owned);
            p.get("functionCall").map(|c| (c.clone(), signature))
        })
        .collect()
}

fn weather_round() -> Round {
    Round::calls(vec![
        FunctionCall::new("get_weather", json!({"city": "Paris"})),
        FunctionCall::new("get_weather", json!({"city": "Rome"})),
    ])
    .signed("sig-weather-1")
}

fn tools_body(contents: Vec<Value>) -> Value {
    json!({
        "contents": contents,
        "tools": [{"functionDeclarations": [{
            "name": "get_weather",
            "description": "Current weather in a city.",
            "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
        }]}],
        "toolConfig": {"functionCallingConfig": {"mode": "AUTO"}},
        "generationConfig": {"thinkingConfig": {"thinkingLevel": "LOW"}},
    })
}

#[tokio::test]
async fn function_call_round_has_the_recorded_framing() {
    // The recording: a functionCall part with a signature, then an empty text part with STOP.
    let case = recorded("sse-3-pro-function-call");
    let case_body = String::from_utf8(case.body.clone()).unwrap();
    let recorded_events = raw_events(&case_body);
    let signature = case.event_payloads()[0].as_ref().unwrap()["candidates"][0]["content"]["parts"]
        [0]["thoughtSignature"]
        .as_str()
        .unwrap()
        .to_owned();

    let fake = start(FakeGeminiConfig::default()).await;
    fake.set_rounds(vec![
        Round::call("get_country", json!({})).signed(signature),
    ]);
    let raw = post(&stream_url(&fake, FC_MODEL), &user("Which country?"))
        .await
        .text()
        .await
        .unwrap();
    let events = raw_events(&raw);
    assert_eq!(events.len(), recorded_events.len());
    for (ours, theirs) in events.iter().zip(&recorded_events) {
        assert_eq!(
            up_to(ours, ",\"usageMetadata\""),
            up_to(theirs, ",\"usageMetadata\""),
            "candidates byte for byte"
        );
    }

    // A Gemini 3 tool turn ends with the same bare empty-text STOP chunk as
    // sse-3-pro-empty-text-tail's last event.
    let tail = String::from_utf8(recorded("sse-3-pro-empty-text-tail").body).unwrap();
    let tail_last = *raw_events(&tail).last().unwrap();
    assert_eq!(
        up_to(events.last().unwrap(), ",\"usageMetadata\""),
        up_to(tail_last, ",\"usageMetadata\"")
    );
}

#[tokio::test]
async fn signed_text_round_ends_like_gemini_3() {
    // sse-3-flash-server-tools ends with an empty text part carrying the signature and STOP.
    let case = recorded("sse-3-flash-server-tools");
    let payloads = case.event_payloads();
    let last = payloads.last().unwrap().as_ref().unwrap();
    let signature = last["candidates"][0]["content"]["parts"][0]["thoughtSignature"]
        .as_str()
        .unwrap()
        .to_owned();
    let body = String::from_utf8(case.body.clone()).unwrap();
    let recorded_last = *raw_events(&body).last().unwrap();

    let fake = start(FakeGeminiConfig {
        chunks: 2,
        ..FakeGeminiConfig::default()
    })
    .await;
    fake.set_rounds(vec![
        Round::text("The capital of France is Paris.").signed(signature.clone()),
    ]);
    let raw = post(&stream_url(&fake, FC_MODEL), &user("capital?"))
        .await
        .text()
        .await
        .unwrap();
    let events = raw_events(&raw);
    assert_eq!(events.len(), 3, "two text chunks and the signature chunk");
    assert_eq!(
        up_to(events[2], ",\"usageMetadata\""),
        format!(
            "{},\"index\": 0}}]",
            up_to(recorded_last, ",\"index\": 0,\"groundingMetadata\"")
        ),
    );
    let parsed = parse_sse(&raw);
    assert_eq!(texts(&parsed), "The capital of France is Paris.");
    assert!(parsed[..2].iter().all(|e| finish_reason(e).is_none()));

    // Unary: one text part, the signature on it (the last part), STOP.
    let body: Value = post(&unary_url(&fake, FC_MODEL), &user("capital?"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        body["candidates"][0]["content"]["parts"],
        json!([{"text": "The capital of France is Paris.", "thoughtSignature": signature}])
    );
    assert_eq!(finish_reason(&body), Some("STOP"));
}

#[tokio::test]
async fn rounds_follow_the_function_responses_of_the_current_turn() {
    let fake = start(FakeGeminiConfig::default()).await;
    fake.set_rounds(vec![
        weather_round(),
        Round::text("It is 12 degrees in Paris and 17 in Rome."),
    ]);
    let url = stream_url(&fake, FC_MODEL);

    let ask = question("Weather in Paris and Rome?");
    let first = sse_events(post(&url, &tools_body(vec![ask.clone()])).await).await;
    let calls = function_calls(&first);
    assert_eq!(
        calls,
        [
            (
                json!({"name": "get_weather", "args": {"city": "Paris"}}),
                Some("sig-weather-1".into())
            ),
            (
                json!({"name": "get_weather", "args": {"city": "Rome"}}),
                None
            ),
        ],
        "only the first parallel call carries the signature"
    );
    assert_eq!(
        first.len(),
        2,
        "both calls in one chunk, then the closing chunk"
    );
    assert_eq!(finish_reason(&first[1]), Some("STOP"));
    assert_eq!(
        first[1]["candidates"][0]["content"]["parts"],
        json!([{"text": ""}])
    );
    assert_eq!(texts(&first), "");

    let mut contents = vec![
        ask.clone(),
        model_content(&first),
        responses(&[
            ("get_weather", json!({"temp_c": 12})),
            ("get_weather", json!({"temp_c": 17})),
        ]),
    ];
    let second = sse_events(post(&url, &tools_body(contents.clone())).await).await;
    assert_eq!(texts(&second), "It is 12 degrees in Paris and 17 in Rome.");
    assert!(function_calls(&second).is_empty());

    // A new question restarts the script, even after a finished tool turn.
    contents.push(model_content(&second));
    contents.push(question("And tomorrow?"));
    let third = sse_events(post(&url, &tools_body(contents)).await).await;
    assert_eq!(function_calls(&third).len(), 2);

    let recorded = fake.requests();
    let rounds: Vec<usize> = recorded.iter().map(|r| r.script_round()).collect();
    assert_eq!(rounds, [0, 1, 0]);
    assert_eq!(recorded[1].function_responses().len(), 2);
    assert_eq!(
        recorded[1].function_responses()[1]["response"]["output"]["temp_c"],
        17
    );
    assert!(
        recorded[2].function_responses().is_empty(),
        "only the current turn counts"
    );
}

#[tokio::test]
async fn parallel_calls_can_arrive_in_separate_chunks() {
    let fake = start(FakeGeminiConfig::default()).await;
    fake.set_rounds(vec![weather_round().split()]);
    let events = sse_events(post(&stream_url(&fake, FC_MODEL), &user("weather?")).await).await;
    assert_eq!(
        events.len(),
        3,
        "one chunk per call, then the closing chunk"
    );
    for (event, city, signed) in [(&events[0], "Paris", true), (&events[1], "Rome", false)] {
        let parts = event["candidates"][0]["content"]["parts"]
            .as_array()
            .unwrap();
        assert_eq!(parts.len(), 1);
        assert_eq!(parts[0]["functionCall"]["args"]["city"], city);
        assert_eq!(parts[0].get("thoughtSignature").is_some(), signed, "{city}");
        assert_eq!(finish_reason(event), None);
    }
    assert_eq!(finish_reason(&events[2]), Some("STOP"));
}

#[tokio::test]
async fn a_late_signature_arrives_on_an_empty_text_part() {
    let fake = start(FakeGeminiConfig::default()).await;
    fake.set_rounds(vec![
        Round::call("set_timer", json!({"seconds": 600}))
            .signed("late-sig")
            .late_signature(),
        Round::text("Timer set."),
    ]);
    let url = stream_url(&fake, FC_MODEL);
    let ask = question("Ten minute timer");
    let events = sse_events(post(&url, &tools_body(vec![ask.clone()])).await).await;
    assert_eq!(
        function_calls(&events),
        [(json!({"name": "set_timer", "args": {"seconds": 600}}), None)]
    );
    assert_eq!(
        events.last().unwrap()["candidates"][0]["content"]["parts"],
        json!([{"text": "", "thoughtSignature": "late-sig"}])
    );
    // The call itself was sent unsigned, so a client that drops the empty part still passes.
    let stripped = json!({"role": "model", "parts": [{"functionCall": {"name": "set_timer", "args": {"seconds": 600}}}]});
    let answer = sse_events(
        post(
            &url,
            &tools_body(vec![
                ask,
                stripped,
                responses(&[("set_timer", json!("ok"))]),
            ]),
        )
        .await,
    )
    .await;
    assert_eq!(texts(&answer), "Timer set.");
}

#[tokio::test]
async fn malformed_function_call_is_an_empty_200() {
    let fake = start(FakeGeminiConfig::default()).await;
    fake.set_rounds(vec![Round::MalformedFunctionCall]);
    let events = sse_events(post(&stream_url(&fake, FC_MODEL), &user("timer please")).await).await;
    assert_eq!(events.len(), 1);
    let candidate = &events[0]["candidates"][0];
    assert_eq!(candidate["finishReason"], "MALFORMED_FUNCTION_CALL");
    assert!(candidate.get("content").is_none());
    let usage = &events[0]["usageMetadata"];
    assert!(
        usage.get("candidatesTokenCount").is_none(),
        "no output tokens"
    );
    assert_eq!(usage["totalTokenCount"], usage["promptTokenCount"]);
}

#[tokio::test]
async fn missing_or_altered_signatures_are_rejected_like_the_real_api() {
    let fake = start(FakeGeminiConfig::default()).await;
    fake.set_rounds(vec![weather_round(), Round::text("Done.")]);
    let url = stream_url(&fake, FC_MODEL);
    let ask = question("Weather in Paris and Rome?");
    let first = sse_events(post(&url, &tools_body(vec![ask.clone()])).await).await;
    let verbatim = model_content(&first);
    let both = responses(&[("get_weather", json!(12)), ("get_weather", json!(17))]);

    // Verbatim history passes.
    let ok = post(
        &url,
        &tools_body(vec![ask.clone(), verbatim.clone(), both.clone()]),
    )
    .await;
    assert_eq!(ok.status(), 200);

    // The signature dropped from the first call.
    let mut stripped = verbatim.clone();
    stripped["parts"][0]
        .as_object_mut()
        .unwrap()
        .remove("thoughtSignature");
    let body = error_body(
        post(&url, &tools_body(vec![ask.clone(), stripped, both.clone()])).await,
        400,
        "INVALID_ARGUMENT",
    )
    .await;
    assert_eq!(
        body["error"]["message"],
        "Function call is missing a thought_signature in functionCall parts. This is required \
         for tools to work correctly, and missing thought_signature may lead to degraded model \
         performance. Additional data, function call `default_api:get_weather` , position 2. \
         Please refer to https://ai.google.dev/gemini-api/docs/thought-signatures for more \
         details."
    );

    // An altered (here: truncated) signature.
    let mut altered = verbatim.clone();
    altered["parts"][0]["thoughtSignature"] = json!("sig-weather");
    let body = error_body(
        post(&url, &tools_body(vec![ask.clone(), altered, both.clone()])).await,
        400,
        "INVALID_ARGUMENT",
    )
    .await;
    assert_eq!(body["error"]["message"], "Corrupted thought signature.");

    // Parallel calls re-sent as one model content per call: the second content is a new step
    // whose first call has no signature.
    let paris = json!({"role": "model", "parts": [verbatim["parts"][0].clone()]});
    let rome = json!({"role": "model", "parts": [verbatim["parts"][1].clone()]});
    let body = error_body(
        post(
            &url,
            &tools_body(vec![ask.clone(), paris, rome, both.clone()]),
        )
        .await,
        400,
        "INVALID_ARGUMENT",
    )
    .await;
    let message = body["error"]["message"].as_str().unwrap();
    assert!(
        message.starts_with("Function call is missing a thought_signature"),
        "{message}"
    );
    assert!(
        message.contains("`default_api:get_weather` , position 3."),
        "{message}"
    );

    // Only the current turn is checked: once a new question follows, the stripped history of
    // the earlier turn is accepted (research §1.4).
    let mut old = verbatim.clone();
    old["parts"][0]
        .as_object_mut()
        .unwrap()
        .remove("thoughtSignature");
    let later = post(
        &url,
        &tools_body(vec![
            ask,
            old,
            both,
            json!({"role": "model", "parts": [{"text": "Done."}]}),
            question("thanks"),
        ]),
    )
    .await;
    assert_eq!(later.status(), 200);
}

#[tokio::test]
async fn function_responses_must_match_the_calls_in_number() {
    let fake = start(FakeGeminiConfig::default()).await;
    fake.set_rounds(vec![weather_round(), Round::text("Done.")]);
    let url = stream_url(&fake, FC_MODEL);
    let ask = question("Weather in Paris and Rome?");
    let first = sse_events(post(&url, &tools_body(vec![ask.clone()])).await).await;
    let message = "Please ensure that the number of function response parts is equal to the \
                   number of function call parts of the function call turn.";
    // One response for two calls, as a client de-duplicating by name would send.
    let one = responses(&[("get_weather", json!(12))]);
    let body = error_body(
        post(
            &url,
            &tools_body(vec![ask.clone(), model_content(&first), one.clone()]),
        )
        .await,
        400,
        "INVALID_ARGUMENT",
    )
    .await;
    assert_eq!(body["error"]["message"], message);
    // A response with no call before it at all.
    let body = error_body(
        post(&url, &tools_body(vec![ask, one])).await,
        400,
        "INVALID_ARGUMENT",
    )
    .await;
    assert_eq!(body["error"]["message"], message);
    // Unsigned parallel calls split into separate contents fail on the count instead.
    let calls = json!({"role": "model", "parts": [{"functionCall": {"name": "a", "args": {}}}]});
    let more = json!({"role": "model", "parts": [{"functionCall": {"name": "b", "args": {}}}]});
    let body = error_body(
        post(
            &url,
            &tools_body(vec![
                question("x"),
                calls,
                more,
                responses(&[("a", json!(1)), ("b", json!(2))]),
            ]),
        )
        .await,
        400,
        "INVALID_ARGUMENT",
    )
    .await;
    assert_eq!(body["error"]["message"], message);
}

#[tokio::test]
async fn requests_past_the_script_get_a_visible_text() {
    let fake = start(FakeGeminiConfig::default()).await;
    fake.set_rounds(vec![Round::call("lights_off", json!({}))]);
    let url = stream_url(&fake, FC_MODEL);
    let ask = question("lights off");
    let first = sse_events(post(&url, &tools_body(vec![ask.clone()])).await).await;
    let contents = vec![
        ask,
        model_content(&first),
        responses(&[("lights_off", json!("done"))]),
    ];
    let next = sse_events(post(&url, &tools_body(contents)).await).await;
    assert_eq!(texts(&next), "fake-gemini: the script has no round 1");
    assert_eq!(finish_reason(next.last().unwrap()), Some("STOP"));
}

#[tokio::test]
async fn unary_function_calls_come_in_one_content() {
    let fake = start(FakeGeminiConfig::default()).await;
    fake.set_rounds(vec![weather_round().split()]);
    let body: Value = post(&unary_url(&fake, FC_MODEL), &user("weather?"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        body["candidates"][0]["content"]["parts"],
        json!([
            {"functionCall": {"name": "get_weather", "args": {"city": "Paris"}}, "thoughtSignature": "sig-weather-1"},
            {"functionCall": {"name": "get_weather", "args": {"city": "Rome"}}},
        ])
    );
    assert_eq!(finish_reason(&body), Some("STOP"));
}

#[tokio::test]
async fn rounds_and_grounding_are_configurable_over_http() {
    let fake = start(FakeGeminiConfig::default()).await;
    let base = fake.base_url();
    let c = client();
    let rounds = json!([
        {"kind": "function_calls", "calls": [{"name": "set_timer", "args": {"seconds": 60}, "id": "call-1"}],
         "thought_signature": "s1", "split_chunks": true},
        {"kind": "text", "text": "Timer set.", "thought_signature": "s2"},
        {"kind": "malformed_function_call"},
    ]);
    let config: Value = c
        .post(format!("{base}/__fake/config"))
        .json(&json!({"rounds": rounds}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(config["rounds"], rounds);
    assert_eq!(config["reply"], Value::Null);
    assert_eq!(
        fake.config().reply,
        Reply::Rounds(vec![
            Round::FunctionCalls {
                calls: vec![
                    FunctionCall::new("set_timer", json!({"seconds": 60})).with_id("call-1")
                ],
                thought_signature: Some("s1".into()),
                split_chunks: true,
                late_signature: false,
            },
            Round::text("Timer set.").signed("s2"),
            Round::MalformedFunctionCall,
        ])
    );
    let events = sse_events(post(&stream_url(&fake, FC_MODEL), &user("timer")).await).await;
    assert_eq!(
        events[0]["candidates"][0]["content"]["parts"][0]["functionCall"]["id"],
        "call-1"
    );

    let both = c
        .post(format!("{base}/__fake/config"))
        .json(&json!({"reply": "x", "rounds": []}))
        .send()
        .await
        .unwrap();
    assert_eq!(both.status(), 400);

    let grounding =
        json!({"text": "Sunny.", "queries": ["weather"], "sources": [{"title": "weather.gov"}]});
    let config: Value = c
        .post(format!("{base}/__fake/config"))
        .json(&json!({"reply": "plain", "grounding": grounding}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(config["grounding"], grounding);
    assert_eq!(config["rounds"], Value::Null);
    assert_eq!(fake.config().reply, Reply::Fixed("plain".into()));
    c.post(format!("{base}/__fake/config"))
        .json(&json!({"grounding": null}))
        .send()
        .await
        .unwrap();
    assert_eq!(fake.config().grounding, None);
}

#[tokio::test]
async fn recorded_requests_expose_tools_tool_config_and_thinking_config() {
    let fake = start(FakeGeminiConfig::default()).await;
    let body = tools_body(vec![question("hi")]);
    post(&stream_url(&fake, FC_MODEL), &body)
        .await
        .text()
        .await
        .unwrap();
    let snake = json!({
        "contents": [question("hi")],
        "tools": [{"google_search": {}}, {"function_declarations": [{"name": "a"}, {"name": "b"}]}],
        "tool_config": {"include_server_side_tool_invocations": true},
        "generation_config": {"thinking_config": {"thinking_level": "HIGH"}},
    });
    post(&stream_url(&fake, FC_MODEL), &snake)
        .await
        .text()
        .await
        .unwrap();

    let recorded = fake.requests();
    let r = &recorded[0];
    assert_eq!(r.tools(), body["tools"].as_array().unwrap().as_slice());
    assert_eq!(
        r.tool_config(),
        Some(&json!({"functionCallingConfig": {"mode": "AUTO"}}))
    );
    assert_eq!(r.thinking_config(), Some(&json!({"thinkingLevel": "LOW"})));
    assert_eq!(r.function_declaration_names(), ["get_weather"]);
    assert!(!r.enables_google_search());
    let r = &recorded[1];
    assert!(r.enables_google_search());
    assert_eq!(r.function_declaration_names(), ["a", "b"]);
    assert_eq!(
        r.thinking_config(),
        Some(&json!({"thinking_level": "HIGH"}))
    );
    assert_eq!(
        r.tool_config().unwrap()["include_server_side_tool_invocations"],
        true
    );
}

// --- Google Search grounding ---

fn weather_grounding() -> GroundedReply {
    GroundedReply {
        text: "Paris is sunny today at 21°C. Rain is expected tomorrow.".into(),
        queries: vec!["weather in Paris today".into()],
        sources: vec![
            GroundingSource::new("weather.gov"),
            GroundingSource::new("meteo.fr"),
        ],
    }
}

fn search_request(tool: &str) -> Value {
    json!({"contents": [question("Weather in Paris?")], "tools": [{ tool: {} }]})
}

#[tokio::test]
async fn grounded_replies_end_with_metadata_on_a_contentless_chunk() {
    let fake = start(FakeGeminiConfig {
        chunks: 3,
        grounding: Some(weather_grounding()),
        ..FakeGeminiConfig::default()
    })
    .await;
    let url = stream_url(&fake, FC_MODEL);
    let events = sse_events(post(&url, &search_request("google_search")).await).await;
    assert_eq!(
        events.len(),
        4,
        "three text chunks, then the metadata chunk"
    );
    let text = weather_grounding().text;
    assert_eq!(texts(&events), text);
    assert!(events[..3].iter().all(
        |e| finish_reason(e).is_none() && e["candidates"][0].get("groundingMetadata").is_none()
    ));
    let last = &events[3]["candidates"][0];
    assert!(last.get("content").is_none());
    assert_eq!(last["finishReason"], "STOP");
    let metadata = &last["groundingMetadata"];

    // The same fields, in the same order, as the recorded grounded stream.
    let case = recorded("sse-2.5-pro-grounding");
    let payloads = case.event_payloads();
    let real = &payloads.last().unwrap().as_ref().unwrap()["candidates"][0]["groundingMetadata"];
    let keys = |v: &Value| v.as_object().unwrap().keys().cloned().collect::<Vec<_>>();
    let raw = post(&url, &search_request("google_search"))
        .await
        .text()
        .await
        .unwrap();
    let last_raw = *raw_events(&raw).last().unwrap();
    let order = [
        "\"searchEntryPoint\"",
        "\"groundingChunks\"",
        "\"groundingSupports\"",
        "\"webSearchQueries\"",
    ];
    let positions: Vec<usize> = order.iter().map(|k| last_raw.find(k).unwrap()).collect();
    assert!(
        positions.windows(2).all(|w| w[0] < w[1]),
        "key order {positions:?}"
    );
    let mut real_keys = keys(real);
    real_keys.sort();
    let mut our_keys = keys(metadata);
    our_keys.sort();
    assert_eq!(our_keys, real_keys);
    assert_eq!(
        keys(&real["groundingChunks"][0]["web"]).len(),
        keys(&metadata["groundingChunks"][0]["web"]).len()
    );

    assert_eq!(
        metadata["webSearchQueries"],
        json!(["weather in Paris today"])
    );
    let html = metadata["searchEntryPoint"]["renderedContent"]
        .as_str()
        .unwrap();
    assert!(
        html.starts_with("<style>") && html.contains("class=\"chip\""),
        "{html}"
    );
    assert!(
        html.contains(">weather in Paris today</a>") && html.contains("q=weather+in+Paris+today")
    );
    let chunks = metadata["groundingChunks"].as_array().unwrap();
    assert_eq!(chunks.len(), 2);
    assert_eq!(chunks[1]["web"]["title"], "meteo.fr");
    assert!(chunks.iter().all(|c| {
        c["web"]["uri"]
            .as_str()
            .unwrap()
            .starts_with("https://vertexaisearch.cloud.google.com/grounding-api-redirect/")
    }));
    let supports = metadata["groundingSupports"].as_array().unwrap();
    assert_eq!(supports.len(), 2);
    for (i, support) in supports.iter().enumerate() {
        let segment = &support["segment"];
        let start = segment["startIndex"].as_u64().unwrap_or(0) as usize;
        let end = segment["endIndex"].as_u64().unwrap() as usize;
        assert_eq!(segment["text"], &text[start..end], "byte offsets");
        assert_eq!(support["groundingChunkIndices"], json!([i]));
    }
    assert!(
        supports[0]["segment"].get("startIndex").is_none(),
        "zero is omitted"
    );

    // camelCase googleSearch counts too; without the tool the normal reply answers.
    let events = sse_events(post(&url, &search_request("googleSearch")).await).await;
    assert!(
        events.last().unwrap()["candidates"][0]
            .get("groundingMetadata")
            .is_some()
    );
    let events = sse_events(post(&url, &user("Weather in Paris?")).await).await;
    assert_eq!(texts(&events), DEFAULT_REPLY);
    assert!(
        events
            .iter()
            .all(|e| e["candidates"][0].get("groundingMetadata").is_none())
    );

    // Unary: text and metadata in one candidate.
    let body: Value = post(
        &unary_url(&fake, FC_MODEL),
        &search_request("google_search"),
    )
    .await
    .json()
    .await
    .unwrap();
    assert_eq!(
        body["candidates"][0]["content"]["parts"],
        json!([{"text": text}])
    );
    assert_eq!(
        body["candidates"][0]["groundingMetadata"]["webSearchQueries"][0],
        "weather in Paris today"
    );
}

#[tokio::test]
async fn search_with_function_declarations_needs_the_server_side_opt_in() {
    let fake = start(FakeGeminiConfig::default()).await;
    let mixed = |tool_config: Value| {
        json!({
            "contents": [question("Weather, then set a timer")],
            "tools": [{"google_search": {}}, {"functionDeclarations": [{"name": "set_timer"}]}],
            "toolConfig": tool_config,
        })
    };
    let body = error_body(
        post(
            &stream_url(&fake, "gemini-3.5-flash-lite"),
            &mixed(json!({})),
        )
        .await,
        400,
        "INVALID_ARGUMENT",
    )
    .await;
    assert_eq!(
        body["error"]["message"],
        "Please enable tool_config.include_server_side_tool_invocations to use Built-in tools \
         with Function calling."
    );
    let opted_in = mixed(json!({"includeServerSideToolInvocations": true}));
    assert_eq!(
        post(&stream_url(&fake, "gemini-3.5-flash-lite"), &opted_in)
            .await
            .status(),
        200
    );
    // Gemini 2.x cannot combine them at all.
    let body = error_body(
        post(&stream_url(&fake, "gemini-2.5-flash"), &opted_in).await,
        400,
        "INVALID_ARGUMENT",
    )
    .await;
    assert_eq!(
        body["error"]["message"],
        "Tool use with function calling is unsupported by the model."
    );
    // Either alone is fine.
    assert_eq!(
        post(
            &stream_url(&fake, "gemini-2.5-flash"),
            &search_request("google_search")
        )
        .await
        .status(),
        200
    );
    assert_eq!(
        post(
            &stream_url(&fake, "gemini-2.5-flash"),
            &tools_body(vec![question("x")])
        )
        .await
        .status(),
        200
    );
}

#[tokio::test]
async fn every_recorded_real_request_is_accepted() {
    let dir = replay_cases_dir().join("../requests");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .collect();
    files.sort();
    assert!(files.len() >= 6, "{files:?}");
    let fake = start(FakeGeminiConfig::default()).await;
    for file in files {
        let recorded: Value = serde_json::from_slice(&std::fs::read(&file).unwrap()).unwrap();
        let model = recorded["uri"]
            .as_str()
            .and_then(|u| u.split("/models/").nth(1))
            .and_then(|m| m.split(':').next())
            .unwrap()
            .to_owned();
        let response = post(&stream_url(&fake, &model), &recorded["body"]).await;
        assert_eq!(
            response.status(),
            200,
            "{}: {}",
            file.display(),
            response.text().await.unwrap()
        );
    }
}

#[tokio::test]
async fn synthetic_404_is_worded_like_the_recorded_one() {
    let fake = start(FakeGeminiConfig {
        known_models: Some(vec!["other".into()]),
        ..FakeGeminiConfig::default()
    })
    .await;
    let ours = post(&unary_url(&fake, "gemini-3.6-flahs"), &user("x"))
        .await
        .bytes()
        .await
        .unwrap();
    assert_eq!(
        ours.as_ref(),
        recorded("http404-model-not-found").body.as_slice()
    );
}

//! Every recorded Gemini response (`../shared/replay/cases`, bytes exactly as Google sent
//! them) replayed by the fake and read by the real `GeminiClient` through
//! `ChatModel::stream_chat`.
//!
//! `EXPECTED` is the one place that says, per case, what the client must make of it. The
//! cases are found by listing the directory, so a new recording runs at once: it is checked
//! against what its own bytes imply (status, recorded text) and the test then fails until it
//! gets a row in the table.

use std::collections::BTreeSet;
use std::time::Duration;

use ballsy::ai::gemini::GeminiClient;
use ballsy::ai::{
    AiError, ChatEvent, ChatModel, ChatRequest, Completion, FinishReason, FunctionCall, Grounding,
};
use ballsy::config::{Config, GeminiConfig};
use ballsy_bench::fake_gemini::{
    DEFAULT_REPLY, FakeGemini, FakeGeminiConfig, ReplayCase, replay_cases_dir,
};
use futures_util::StreamExt;
use serde_json::Value;

use crate::helpers::TEST_API_KEY;

const PRIMARY: &str = "gemini-3.5-flash-lite";
const FALLBACK: &str = "gemini-3.1-flash-lite";
/// The number of cases recorded when this table was written; fewer means the directory
/// was not found or lost recordings.
const MIN_CASES: usize = 33;

/// What the client yields for a case on its own: no retries and no fallback model, so the
/// outcome is exactly what these bytes mean.
#[derive(Debug)]
enum Outcome {
    /// The deltas join to this text, then `Done` with this finish reason.
    Answer(Text, Finish),
    /// Text reached the caller, then the stream ended in an error of this kind (no retry
    /// after text, so the user keeps what was said).
    PartialThenError(Text, &'static str),
    /// `AiError::Blocked` with this reason and no text.
    Blocked(&'static str),
    /// `AiError::RateLimited`, its `daily` flag and the parsed retry delay.
    RateLimited { daily: bool, retry_after: Duration },
    /// An error of this kind (see `AiError::kind`) whose message contains the text; no text.
    Error(&'static str, &'static str),
    /// No text: the model asked to call these functions, in order, then `Done` (STOP).
    Calls(&'static [&'static str]),
}

#[derive(Debug)]
enum Text {
    Is(&'static str),
    /// The recording's own text (non-thought parts, in order), which starts like this.
    Recorded {
        starts: &'static str,
    },
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Finish {
    Stop,
    MaxTokens,
}

/// What the default retry policy (retries and a fallback model configured) does next.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Next {
    /// The outcome stands: one request.
    Nothing,
    /// The same model again, which then answers.
    Retry,
    /// The fallback model, which then answers.
    Fallback,
}

struct Expected {
    case: &'static str,
    outcome: Outcome,
    next: Next,
}

const fn row(case: &'static str, outcome: Outcome, next: Next) -> Expected {
    Expected {
        case,
        outcome,
        next,
    }
}

use Finish::{MaxTokens, Stop};
use Next::{Fallback, Nothing, Retry};
use Outcome::{Answer, Blocked, Calls, Error, PartialThenError, RateLimited};
use Text::{Is, Recorded};

#[rustfmt::skip]
const EXPECTED: &[Expected] = &[
    // Text, then a usage-only event and the end of the body without any finishReason: an
    // incomplete answer. The text is kept and the turn ends with a transport error.
    row("composed-text-then-usage-only", PartialThenError(Recorded { starts: "1\n2\n3\n" }, "transport"), Nothing),
    row("derived-1.5-flash-safety", Blocked("SAFETY"), Nothing),
    row("derived-2.5-flash-max-tokens-partial", Answer(Is("The capital of France is"), MaxTokens), Nothing),
    row("derived-2.5-flash-model-armor-block", Blocked("MODEL_ARMOR"), Nothing),
    // Thinking used the whole budget: an answer with no text, not an error to retry.
    row("derived-2.5-pro-max-tokens-empty", Answer(Is(""), MaxTokens), Nothing),
    // Gemini 3 ends text with an empty part that carries the thought signature.
    row("derived-3-flash-short-answer", Answer(Is("4"), Stop), Nothing),
    row("derived-3-pro-reasoning", Answer(Is("There are **3** \"r\"s in strawberry.\n\nSt**r**awbe**rr**y"), Stop), Nothing),
    row("derived-3.6-flash-thoughts", Answer(Is("Scoop"), Stop), Nothing),
    row("derived-3.7-flash-prompt-blocked", Blocked("PROHIBITED_CONTENT"), Nothing),
    // A bad key is a 400 on the Developer API, not a 401/403.
    // Sent as 400, but its ErrorInfo reason (API_KEY_INVALID) makes it a credentials error.
    row("http400-api-key-invalid", Error("auth", "API key not valid"), Nothing),
    row("http400-budget-and-level", Error("bad_request", "only one of thinking budget and thinking level"), Nothing),
    row("http400-thinking-minimal-unsupported", Error("bad_request", "Thinking level MINIMAL is not supported"), Nothing),
    row("http403-key-leaked", Error("auth", "reported as leaked"), Nothing),
    row("http403-service-blocked", Error("auth", "StreamGenerateContent are blocked"), Nothing),
    row("http404-model-not-found", Error("not_found", "models/gemini-3.6-flahs is not found"), Fallback),
    // Per-minute, per-minute and per-day violations at once, all with limit 0: the plan has no
    // quota for this model at all, which waiting until tomorrow would not change. The fallback
    // model (its own quota) is tried.
    row("http429-free-tier-limit-0", Error("no_quota", "You exceeded your current quota"), Fallback),
    row("http429-per-day", RateLimited { daily: true, retry_after: Duration::from_nanos(48_180_526_505) }, Fallback),
    // RetryInfo says "1s", the message "Please retry in 1.309977334s": the longer wait wins.
    row("http429-per-minute-retry-1s", RateLimited { daily: false, retry_after: Duration::from_nanos(1_309_977_334) }, Retry),
    // Too long to wait inside a voice turn: the fallback model has its own quota.
    row("http429-per-minute-retry-58s", RateLimited { daily: false, retry_after: Duration::from_nanos(58_217_843_437) }, Fallback),
    row("http500-internal", Error("unavailable", "An internal error has occurred"), Retry),
    row("http503-high-demand", Error("unavailable", "experiencing high demand"), Retry),
    row("http503-overloaded", Error("unavailable", "The model is overloaded"), Retry),
    row("sse-2.0-flash-paris", Answer(Is("The capital of France is Paris.\n"), Stop), Nothing),
    row("sse-2.5-flash-count", Answer(Recorded { starts: "1\n2\n3\n" }, Stop), Nothing),
    // Every chunk carries groundingMetadata; the last one has the sources and the chip
    // (checked by `grounding_and_calls_come_through_as_recorded`).
    row("sse-2.5-pro-grounding", Answer(Recorded { starts: "### Weather in San Francisco" }, Stop), Nothing),
    // Thought summaries (thought: true) are not spoken.
    row("sse-2.5-pro-thought-parts", Answer(Recorded { starts: "This is a great question!" }, Stop), Nothing),
    // executableCode and codeExecutionResult parts are not spoken; the text around them is.
    row("sse-3-flash-code-execution", Answer(Recorded { starts: "The result of $65465" }, Stop), Nothing),
    // Server-side toolCall/toolResponse parts are not spoken (and are no functionCall).
    row("sse-3-flash-server-tools", Answer(Recorded { starts: "The capital of France is **Paris**." }, Stop), Nothing),
    row("sse-3-flash-vertex-one-chunk", Answer(Is("OK"), Stop), Nothing),
    row("sse-3-pro-empty-text-tail", Answer(Is("The capital of Mexico is Mexico City."), Stop), Nothing),
    // A call with a thought signature, then an empty text part with STOP: the call comes out
    // (the parts verbatim: see `grounding_and_calls_come_through_as_recorded`), not a retry.
    row("sse-3-pro-function-call", Calls(&["get_country"]), Nothing),
    row("sse-3.7-flash-lf-framing", Answer(Is("fixture ok"), Stop), Nothing),
    // An error event inside a 200 stream is a failed answer, retried like a 500.
    row("stream-error-event-500", Error("unavailable", "An internal error has occurred"), Retry),
];

fn config_for(fake: &FakeGemini, retries_and_fallback: bool) -> GeminiConfig {
    let mut gemini = Config::for_tests().gemini;
    gemini.api_key = Some(TEST_API_KEY.to_owned().into());
    gemini.base_url = Some(fake.base_url());
    gemini.model = PRIMARY.into();
    gemini.timeout = Duration::from_secs(8);
    gemini.first_byte_timeout = Duration::from_secs(2);
    gemini.stall_timeout = Duration::from_secs(1);
    if retries_and_fallback {
        gemini.fallback_model = Some(FALLBACK.into());
        gemini.max_retries = 2;
    } else {
        gemini.fallback_model = None;
        gemini.max_retries = 0;
    }
    gemini
}

fn request() -> ChatRequest {
    ChatRequest::new("Be brief.".into(), Vec::new(), "replay".into())
}

/// What a stream yields besides text.
#[derive(Debug, Default)]
struct Extras {
    calls: Vec<FunctionCall>,
    model_parts: Vec<Value>,
    grounding: Option<Grounding>,
}

/// Replays `case` once and runs one answer to its end: the deltas, then the outcome.
async fn replay(
    case: &ReplayCase,
    retries_and_fallback: bool,
) -> (FakeGemini, Vec<String>, Result<Completion, AiError>, Extras) {
    let fake = FakeGemini::start(FakeGeminiConfig::default())
        .await
        .unwrap();
    fake.push_replay(&case.name)
        .unwrap_or_else(|e| panic!("{e:#}"));
    let client = GeminiClient::new(&config_for(&fake, retries_and_fallback)).unwrap();
    let mut stream = client.stream_chat(request());
    let mut deltas = Vec::new();
    let mut extras = Extras::default();
    let outcome = loop {
        match stream.next().await {
            Some(Ok(ChatEvent::Delta(d))) => deltas.push(d),
            Some(Ok(ChatEvent::ToolCalls { calls, model_parts })) => {
                extras.calls = calls;
                extras.model_parts = model_parts;
            }
            Some(Ok(ChatEvent::Grounded(grounding))) => extras.grounding = Some(grounding),
            Some(Ok(ChatEvent::Done(done))) => break Ok(done),
            Some(Err(error)) => break Err(error),
            None => panic!("{}: the stream ended without an outcome", case.name),
        }
    };
    (fake, deltas, outcome, extras)
}

/// The spoken text a recording holds: non-thought text parts of every event, in order.
fn recorded_text(case: &ReplayCase) -> String {
    case.event_payloads()
        .iter()
        .filter_map(|payload| payload.as_ref().ok())
        .filter_map(|event| event.pointer("/candidates/0/content/parts"))
        .filter_map(Value::as_array)
        .flatten()
        .filter(|part| part.get("thought").and_then(Value::as_bool) != Some(true))
        .filter_map(|part| part.get("text").and_then(Value::as_str))
        .collect()
}

fn thought_texts(case: &ReplayCase) -> Vec<String> {
    case.event_payloads()
        .iter()
        .filter_map(|payload| payload.as_ref().ok())
        .filter_map(|event| event.pointer("/candidates/0/content/parts"))
        .filter_map(Value::as_array)
        .flatten()
        .filter(|part| part.get("thought").and_then(Value::as_bool) == Some(true))
        .filter_map(|part| part.get("text").and_then(Value::as_str))
        .map(str::to_owned)
        .collect()
}

/// What the bytes alone imply, for every case including ones the table does not know yet.
fn check_against_the_recording(
    case: &ReplayCase,
    deltas: &[String],
    outcome: &Result<Completion, AiError>,
) -> Result<(), String> {
    let said = deltas.concat();
    if case.status != 200 {
        let expected_kinds: &[&str] = match case.status {
            400 => &["bad_request", "auth"],
            401 | 403 => &["auth"],
            404 => &["not_found"],
            429 => &["rate_limited", "quota_daily", "no_quota"],
            500..=599 => &["unavailable"],
            _ => &[],
        };
        return match outcome {
            Err(error) if said.is_empty() && expected_kinds.contains(&error.kind()) => Ok(()),
            other => Err(format!(
                "HTTP {} should be one of {expected_kinds:?} without text, got {said:?} then {other:?}",
                case.status
            )),
        };
    }
    let text = recorded_text(case);
    let consistent = match outcome {
        Ok(_) => said == text,
        Err(_) => text.starts_with(&said),
    };
    if !consistent {
        return Err(format!(
            "the client said {said:?}; the recording holds {text:?}"
        ));
    }
    if let Some(thought) = thought_texts(case)
        .into_iter()
        .find(|t| said.contains(t.as_str()))
    {
        return Err(format!("a thought summary was spoken: {thought:?}"));
    }
    Ok(())
}

fn check_expected(
    case: &ReplayCase,
    expected: &Outcome,
    deltas: &[String],
    outcome: &Result<Completion, AiError>,
    extras: &Extras,
) -> Result<(), String> {
    let said = deltas.concat();
    let text_matches = |text: &Text| match text {
        Is(exact) => said == *exact,
        Recorded { starts } => said == recorded_text(case) && said.starts_with(starts),
    };
    let ok = match (expected, outcome) {
        (Answer(text, finish), Ok(done)) => {
            let finish_matches = match finish {
                Stop => done.finish == FinishReason::Stop,
                MaxTokens => done.finish == FinishReason::MaxTokens,
            };
            text_matches(text) && finish_matches && done.model == PRIMARY
        }
        (PartialThenError(text, kind), Err(error)) => {
            !said.is_empty() && text_matches(text) && error.kind() == *kind
        }
        (Blocked(reason), Err(AiError::Blocked(got))) => said.is_empty() && got == reason,
        (
            RateLimited { daily, retry_after },
            Err(AiError::RateLimited {
                daily: got_daily,
                retry_after: got_retry,
            }),
        ) => said.is_empty() && daily == got_daily && got_retry == &Some(*retry_after),
        (Error(kind, message), Err(error)) => {
            said.is_empty() && error.kind() == *kind && error.to_string().contains(message)
        }
        (Calls(names), Ok(done)) => {
            let called: Vec<&str> = extras.calls.iter().map(|c| c.name.as_str()).collect();
            said.is_empty() && done.finish == FinishReason::Stop && called == *names
        }
        _ => false,
    };
    if ok {
        Ok(())
    } else {
        Err(format!(
            "expected {expected:?}, got {said:?} then {outcome:?}"
        ))
    }
}

fn all_cases() -> Vec<ReplayCase> {
    let dir = replay_cases_dir();
    let cases = ReplayCase::load_all(&dir).unwrap_or_else(|e| panic!("{e:#}"));
    assert!(
        cases.len() >= MIN_CASES,
        "found {} recorded cases in {}, expected at least {MIN_CASES}",
        cases.len(),
        dir.display()
    );
    cases
}

fn expected_for(name: &str) -> Option<&'static Expected> {
    EXPECTED.iter().find(|e| e.case == name)
}

/// Every row names a case that exists, once; every case has a row.
fn table_problems(cases: &[ReplayCase]) -> Vec<String> {
    let names: BTreeSet<&str> = cases.iter().map(|c| c.name.as_str()).collect();
    let mut problems = Vec::new();
    let mut seen = BTreeSet::new();
    for row in EXPECTED {
        if !names.contains(row.case) {
            problems.push(format!(
                "{}: in EXPECTED but not recorded (stale row?)",
                row.case
            ));
        }
        if !seen.insert(row.case) {
            problems.push(format!("{}: more than one row in EXPECTED", row.case));
        }
    }
    for name in names {
        if expected_for(name).is_none() {
            problems.push(format!(
                "{name}: a new recording; it was run against its own bytes, now give it a row \
                 in EXPECTED"
            ));
        }
    }
    problems
}

#[tokio::test]
async fn every_recorded_case_gives_its_expected_outcome() {
    let cases = all_cases();
    let mut failures = table_problems(&cases);
    for case in &cases {
        let (fake, deltas, outcome, extras) = replay(case, false).await;
        let mut problems = Vec::new();
        if let Err(problem) = check_against_the_recording(case, &deltas, &outcome) {
            problems.push(problem);
        }
        if let Some(expected) = expected_for(&case.name)
            && let Err(problem) =
                check_expected(case, &expected.outcome, &deltas, &outcome, &extras)
        {
            problems.push(problem);
        }
        if fake.requests().len() != 1 {
            problems.push(format!(
                "{} requests with retries off",
                fake.requests().len()
            ));
        }
        failures.extend(problems.into_iter().map(|p| format!("{}: {p}", case.name)));
    }
    assert!(failures.is_empty(), "\n{}", failures.join("\n"));
}

#[tokio::test]
async fn the_retry_policy_reacts_to_each_recorded_case() {
    let cases = all_cases();
    let mut failures = Vec::new();
    for case in &cases {
        let Some(expected) = expected_for(&case.name) else {
            // Reported by the table check of the test above.
            continue;
        };
        // The case is queued once: a retry or the fallback model gets the default reply.
        let (fake, deltas, outcome, extras) = replay(case, true).await;
        let models: Vec<String> = fake.requests().iter().map(|r| r.model.clone()).collect();
        let answered_by = |model: &str| {
            deltas.concat() == DEFAULT_REPLY
                && outcome
                    .as_ref()
                    .is_ok_and(|done| done.model == model && done.finish == FinishReason::Stop)
        };
        let ok = match expected.next {
            Nothing => {
                models == [PRIMARY]
                    && check_expected(case, &expected.outcome, &deltas, &outcome, &extras).is_ok()
            }
            Retry => models == [PRIMARY, PRIMARY] && answered_by(PRIMARY),
            Fallback => models == [PRIMARY, FALLBACK] && answered_by(FALLBACK),
        };
        if !ok {
            failures.push(format!(
                "{}: expected {:?}, got requests {models:?}, {:?} then {outcome:?}",
                case.name,
                expected.next,
                deltas.concat()
            ));
        }
    }
    assert!(failures.is_empty(), "\n{}", failures.join("\n"));
}

/// How the turn that meets a recorded response ends: who the page says answered, and how.
#[rustfmt::skip]
const TURN_ENDINGS: &[(&str, &str, &str)] = &[
    ("composed-text-then-usage-only", "gemini", "cut_off"),
    ("derived-1.5-flash-safety", "gemini", "refused"),
    ("derived-2.5-flash-max-tokens-partial", "gemini", "truncated"),
    ("derived-2.5-flash-model-armor-block", "gemini", "refused"),
    ("derived-2.5-pro-max-tokens-empty", "gemini", "truncated"),
    ("derived-3-flash-short-answer", "gemini", "complete"),
    ("derived-3-pro-reasoning", "gemini", "complete"),
    ("derived-3.6-flash-thoughts", "gemini", "complete"),
    ("derived-3.7-flash-prompt-blocked", "gemini", "refused"),
    ("http400-api-key-invalid", "fallback", "failed"),
    ("http400-budget-and-level", "fallback", "failed"),
    ("http400-thinking-minimal-unsupported", "fallback", "failed"),
    ("http403-key-leaked", "fallback", "failed"),
    ("http403-service-blocked", "fallback", "failed"),
    ("http404-model-not-found", "fallback", "failed"),
    ("http429-free-tier-limit-0", "fallback", "failed"),
    ("http429-per-day", "fallback", "failed"),
    ("http429-per-minute-retry-1s", "fallback", "failed"),
    ("http429-per-minute-retry-58s", "fallback", "failed"),
    ("http500-internal", "fallback", "failed"),
    ("http503-high-demand", "fallback", "failed"),
    ("http503-overloaded", "fallback", "failed"),
    ("sse-2.0-flash-paris", "gemini", "complete"),
    ("sse-2.5-flash-count", "gemini", "complete"),
    ("sse-2.5-pro-grounding", "gemini", "complete"),
    ("sse-2.5-pro-thought-parts", "gemini", "complete"),
    ("sse-3-flash-code-execution", "gemini", "complete"),
    ("sse-3-flash-server-tools", "gemini", "complete"),
    ("sse-3-flash-vertex-one-chunk", "gemini", "complete"),
    ("sse-3-pro-empty-text-tail", "gemini", "complete"),
    // The call (to a function Ballsy does not have) is answered with an error result; the
    // follow-up request gets the fake's default answer.
    ("sse-3-pro-function-call", "gemini", "complete"),
    ("sse-3.7-flash-lf-framing", "gemini", "complete"),
    ("stream-error-event-500", "fallback", "failed"),
];

/// Every recorded response, end to end through a turn (retries and the fallback model as
/// configured by default): the reply has a sensible spoken sentence and the badge the page
/// shows for it (source and status).
#[tokio::test]
async fn every_recorded_case_gives_a_sensible_reply_with_the_right_badge() {
    let app = crate::helpers::spawn_app(
        crate::helpers::AppOptions::new(crate::helpers::Backend::Sqlite)
            .with_gemini(FakeGeminiConfig::default())
            .configure(|c| {
                // Retries wait at most a little over a second each on the recorded delays.
                c.gemini.timeout = Duration::from_secs(20);
                c.ai_daily_requests_per_user = 10_000;
            }),
    )
    .await;
    let cases = ReplayCase::load_all(replay_cases_dir()).expect("the recorded cases load");
    let mut actual = Vec::new();
    let mut problems = Vec::new();
    for case in &cases {
        let reply = app.ask(&format!("[[fake:replay={}]]", case.name)).await;
        let source = reply["source"].as_str().unwrap_or_default().to_owned();
        let status = reply["status"].as_str().unwrap_or_default().to_owned();
        let said = reply["response"].as_str().unwrap_or_default().to_owned();
        if said.trim().is_empty() || said.contains("GEMINI") || said.contains('{') {
            problems.push(format!(
                "{}: not a sentence for a person: {said:?}",
                case.name
            ));
        }
        if let Some(thought) = thought_texts(case)
            .into_iter()
            .find(|t| said.contains(t.as_str()))
        {
            problems.push(format!(
                "{}: a thought summary was spoken: {thought:?}",
                case.name
            ));
        }
        match TURN_ENDINGS.iter().find(|(name, _, _)| *name == case.name) {
            Some((_, want_source, want_status)) => {
                if (source.as_str(), status.as_str()) != (*want_source, *want_status) {
                    problems.push(format!(
                        "{}: badge {source}/{status}, expected {want_source}/{want_status}: {said:?}",
                        case.name
                    ));
                }
            }
            None => problems.push(format!("{}: no expected ending in TURN_ENDINGS", case.name)),
        }
        let gist: String = said
            .chars()
            .take(60)
            .collect::<String>()
            .escape_debug()
            .to_string();
        actual.push(format!(
            "    (\"{}\", \"{source}\", \"{status}\"), // {gist}",
            case.name
        ));
    }
    assert!(
        problems.is_empty(),
        "{}\n\nwhat happened:\n{}",
        problems.join("\n"),
        actual.join("\n")
    );
}

/// Every part of the model's content in a recorded stream, in order, as recorded.
fn recorded_model_parts(case: &ReplayCase) -> Vec<Value> {
    case.event_payloads()
        .iter()
        .filter_map(|payload| payload.as_ref().ok())
        .filter_map(|event| event.pointer("/candidates/0/content/parts"))
        .filter_map(Value::as_array)
        .flatten()
        .cloned()
        .collect()
}

/// The model content of the recorded function call, as the client must send it back: every
/// part of every event, in order, byte for byte (the signature on the call part, the empty
/// text part after it). And the recorded grounding: sources and Google's chip.
#[tokio::test]
async fn grounding_and_calls_come_through_as_recorded() {
    let cases = all_cases();
    let case = |name: &str| cases.iter().find(|c| c.name == name).unwrap();

    let call_case = case("sse-3-pro-function-call");
    let recorded_parts = recorded_model_parts(call_case);
    let (_, _, _, extras) = replay(call_case, false).await;
    assert_eq!(extras.model_parts, recorded_parts);
    assert!(
        extras.model_parts[0]["thoughtSignature"]
            .as_str()
            .is_some_and(|s| s.len() > 100),
        "the signature is kept whole"
    );
    assert_eq!(extras.calls.len(), 1);
    assert_eq!(extras.calls[0].name, "get_country");
    assert_eq!(extras.calls[0].id, None, "no id is invented");

    let (_, deltas, outcome, extras) = replay(case("sse-2.5-pro-grounding"), false).await;
    assert!(outcome.is_ok() && !deltas.is_empty());
    let grounding = extras.grounding.expect("the recorded grounding");
    assert!(!grounding.sources.is_empty());
    assert!(
        grounding
            .sources
            .iter()
            .all(|(title, uri)| !title.is_empty() && uri.starts_with("https://"))
    );
    let chip = grounding
        .search_suggestions
        .expect("the Search Suggestion chip");
    assert!(chip.starts_with("<style>") && chip.contains("class=\"chip\" href=\"https://"));
    assert!(!grounding.queries.is_empty());
}

/// Through a whole turn, the recorded call is run and the follow-up request repeats the
/// model's content verbatim, then one functionResponse for the call (no id: none was sent).
#[tokio::test]
async fn a_recorded_call_goes_back_verbatim_with_its_result() {
    let app = crate::helpers::spawn_app(
        crate::helpers::AppOptions::new(crate::helpers::Backend::Sqlite)
            .with_gemini(FakeGeminiConfig::default()),
    )
    .await;
    let case = ReplayCase::load_all(replay_cases_dir())
        .unwrap()
        .into_iter()
        .find(|c| c.name == "sse-3-pro-function-call")
        .unwrap();
    let recorded_parts = recorded_model_parts(&case);
    let reply = app.ask("[[fake:replay=sse-3-pro-function-call]]").await;
    assert_eq!(reply["status"], "complete", "{reply}");
    let requests = app.fake.as_ref().unwrap().requests();
    assert_eq!(requests.len(), 2, "one follow-up request");
    let first = &requests[0];
    assert!(
        first
            .function_declaration_names()
            .contains(&"set_timer".to_owned())
    );
    let contents = requests[1].body["contents"].as_array().unwrap();
    let model = &contents[contents.len() - 2];
    assert_eq!(model["role"], "model");
    assert_eq!(model["parts"], Value::Array(recorded_parts));
    let responses = &contents[contents.len() - 1];
    assert_eq!(responses["role"], "user");
    let parts = responses["parts"].as_array().unwrap();
    assert_eq!(parts.len(), 1);
    let response = &parts[0]["functionResponse"];
    assert_eq!(response["name"], "get_country");
    assert!(response.get("id").is_none());
    assert_eq!(response["response"]["status"], "error");
    assert_eq!(response["response"]["retryable"], false);
}

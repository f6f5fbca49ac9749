//! Scenario 6: the tokens of a typical AI turn as sent (system prompt + 6 earlier messages +
//! the question), so the per-turn Gemini cost can be computed.
//!
//! Ballsy runs against the fake Gemini with the default persona and `CONTEXT_TURNS` default
//! (6). Three earlier questions with realistic two-sentence answers fill the context, then a
//! fourth is asked. The request the fake recorded is measured in characters; the fake's
//! `usageMetadata` (a quarter of the characters, as the server logs it) gives the token count.

use std::time::Duration;

use futures_util::{SinkExt as _, StreamExt as _};
use serde::Serialize;
use serde_json::Value;
use tokio_tungstenite::tungstenite::Message;

use super::db::Backend;
use super::{BallsyEnv, Measured, Settings, start_ballsy, stop};
use crate::fake_gemini::{FakeGemini, FakeGeminiConfig, Reply};
use crate::loadgen::{SessionFactory, connect};

/// gemini-3.5-flash-lite, paid tier, USD per million tokens (research/gemini.md §1.1).
pub const PRICE_INPUT_PER_M: f64 = 0.30;
pub const PRICE_OUTPUT_PER_M: f64 = 2.50;
/// Rule of thumb for English text (research/gemini.md; the fake uses it too).
pub const CHARS_PER_TOKEN: f64 = 4.0;

/// The length of answer the persona asks for: one or two short spoken sentences.
const TYPICAL_ANSWER: &str = "The Eiffel Tower is a wrought-iron lattice tower in Paris, \
finished in 1889 for the World's Fair. It is about 330 metres tall and one of the most visited \
monuments in the world.";
const QUESTIONS: [&str; 4] = [
    "tell me about the Eiffel Tower",
    "how tall is it compared to the Empire State Building",
    "why did people in Paris dislike it at first",
    "is it worth going to the top at sunset",
];

#[derive(Debug, Clone, Serialize)]
pub struct CostResult {
    /// Earlier messages sent with the question (user and model).
    pub context_messages: usize,
    pub system_chars: usize,
    pub history_chars: usize,
    pub question_chars: usize,
    /// The `tools` (the skills' function declarations) as JSON: billed as input.
    pub tools_chars: usize,
    /// `contents` entries in the request (context + question).
    pub contents: usize,
    pub request_body_bytes: usize,
    pub answer_chars: usize,
    /// What the fake reported in `usageMetadata`, as the server logged it.
    pub prompt_tokens_reported: Option<u64>,
    pub output_tokens_reported: Option<u64>,
    /// Characters / 4.
    pub prompt_tokens_estimate: f64,
    pub output_tokens_estimate: f64,
    pub max_output_tokens: Option<u64>,
    /// The thinking setting sent (thinking tokens are billed as output; the fake has none).
    pub thinking_config: Option<Value>,
    pub price_input_per_m: f64,
    pub price_output_per_m: f64,
    pub input_cost_usd: f64,
    pub output_cost_usd: f64,
    pub cost_per_turn_usd: f64,
    pub cost_per_1000_turns_usd: f64,
}

impl Measured for CostResult {
    fn render(&self, report: &mut String) {
        super::report::cost(self, report);
    }
}

fn text_chars(parts: Option<&Value>) -> usize {
    parts
        .and_then(Value::as_array)
        .map(|parts| {
            parts
                .iter()
                .filter_map(|p| p.get("text").and_then(Value::as_str))
                .map(|t| t.chars().count())
                .sum()
        })
        .unwrap_or(0)
}

/// Measures a `generateContent` request body.
pub fn measure_request(body: &Value) -> (usize, usize, usize, usize) {
    let system = text_chars(body.pointer("/systemInstruction/parts"));
    let contents = body
        .get("contents")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let question = contents
        .last()
        .map(|c| text_chars(c.get("parts")))
        .unwrap_or(0);
    let all: usize = contents.iter().map(|c| text_chars(c.get("parts"))).sum();
    (system, all - question, question, contents.len())
}

/// Reads `prompt_tokens` / `output_tokens` from the server's last "model answered" log line.
fn reported_usage(lines: &[String]) -> (Option<u64>, Option<u64>) {
    lines
        .iter()
        .rev()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .find(|v| v.get("message").and_then(Value::as_str) == Some("model answered"))
        .map_or((None, None), |v| {
            (
                v.get("prompt_tokens").and_then(Value::as_u64),
                v.get("output_tokens").and_then(Value::as_u64),
            )
        })
}

async fn ask(ws: &mut crate::loadgen::Ws, question: &str, id: usize) -> anyhow::Result<String> {
    let id = id.to_string();
    ws.send(Message::text(
        serde_json::json!({"command": question, "id": id}).to_string(),
    ))
    .await?;
    loop {
        let message = tokio::time::timeout(Duration::from_secs(20), ws.next())
            .await?
            .ok_or_else(|| anyhow::anyhow!("socket closed"))??;
        let Message::Text(text) = message else {
            continue;
        };
        let frame: Value = serde_json::from_str(text.as_str())?;
        if frame.get("id").and_then(Value::as_str) != Some(id.as_str()) {
            continue;
        }
        match frame.get("type").and_then(Value::as_str) {
            Some("command_response") => {
                return Ok(frame
                    .pointer("/data/response")
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_owned());
            }
            Some("error") => anyhow::bail!("error frame: {text}"),
            _ => {}
        }
    }
}

pub async fn run(settings: &Settings) -> anyhow::Result<CostResult> {
    let fake = FakeGemini::start(FakeGeminiConfig {
        reply: Reply::Fixed(TYPICAL_ANSWER.to_owned()),
        ..FakeGeminiConfig::default()
    })
    .await?;
    let database = settings.database(Backend::Sqlite).await?;
    let base = fake.base_url();
    let env = BallsyEnv {
        database_url: &database.url,
        gemini_base_url: Some(&base),
        // Only the turn's own lines, which carry the token counts the fake reported.
        log_level: "warn,ballsy::turn=info",
    };
    let outcome = async {
        let server = start_ballsy(settings, &env).await?;
        let asked = async {
            let credentials = SessionFactory::new(&server.ws_base(), 1).create().await?;
            let mut ws = connect(&server.ws_base(), "cost", Some(&credentials)).await?;
            let mut answer = String::new();
            for (i, question) in QUESTIONS.iter().enumerate() {
                answer = ask(&mut ws, question, i).await?;
            }
            let _ = ws.close(None).await;
            Ok::<_, anyhow::Error>(answer)
        }
        .await;
        // The server logs "model answered" before it sends the reply, so the line is there.
        let lines = server.recent_output();
        stop(server).await;
        Ok::<_, anyhow::Error>((asked?, lines))
    }
    .await;
    let _ = database.remove().await;
    let (answer, lines) = outcome?;
    let requests = fake.requests();
    fake.shutdown().await;
    let last = requests
        .last()
        .ok_or_else(|| anyhow::anyhow!("the fake recorded no request"))?;
    let (system_chars, history_chars, question_chars, contents) = measure_request(&last.body);
    let (prompt_reported, output_reported) = reported_usage(&lines);
    let tools_chars = crate::fake_gemini::tools_chars(last.body.get("tools"));
    let prompt_estimate =
        (system_chars + history_chars + question_chars + tools_chars) as f64 / CHARS_PER_TOKEN;
    let answer_chars = answer.chars().count();
    let output_estimate = answer_chars as f64 / CHARS_PER_TOKEN;
    let prompt_tokens = prompt_reported.map_or(prompt_estimate, |t| t as f64);
    let output_tokens = output_reported.map_or(output_estimate, |t| t as f64);
    let input_cost = prompt_tokens * PRICE_INPUT_PER_M / 1e6;
    let output_cost = output_tokens * PRICE_OUTPUT_PER_M / 1e6;
    let result = CostResult {
        context_messages: contents.saturating_sub(1),
        system_chars,
        history_chars,
        question_chars,
        tools_chars,
        contents,
        request_body_bytes: last.body.to_string().len(),
        answer_chars,
        prompt_tokens_reported: prompt_reported,
        output_tokens_reported: output_reported,
        prompt_tokens_estimate: prompt_estimate,
        output_tokens_estimate: output_estimate,
        max_output_tokens: last
            .body
            .pointer("/generationConfig/maxOutputTokens")
            .and_then(Value::as_u64),
        thinking_config: last
            .body
            .pointer("/generationConfig/thinkingConfig")
            .cloned(),
        price_input_per_m: PRICE_INPUT_PER_M,
        price_output_per_m: PRICE_OUTPUT_PER_M,
        input_cost_usd: input_cost,
        output_cost_usd: output_cost,
        cost_per_turn_usd: input_cost + output_cost,
        cost_per_1000_turns_usd: (input_cost + output_cost) * 1000.0,
    };
    eprintln!(
        "   {} prompt tokens ({} chars system, {} history, {} question, {} tools), {} output tokens: ${:.6} per turn",
        prompt_tokens,
        system_chars,
        history_chars,
        question_chars,
        tools_chars,
        output_tokens,
        result.cost_per_turn_usd
    );
    Ok(result)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_are_measured_by_role() {
        let body = serde_json::json!({
            "systemInstruction": {"parts": [{"text": "abcd"}]},
            "contents": [
                {"role": "user", "parts": [{"text": "12345"}]},
                {"role": "model", "parts": [{"text": "123"}, {"text": "45"}]},
                {"role": "user", "parts": [{"text": "xyz"}]}
            ]
        });
        assert_eq!(measure_request(&body), (4, 10, 3, 3));
    }

    #[test]
    fn usage_comes_from_the_last_model_answered_line() {
        let lines = vec![
            r#"{"message":"model answered","prompt_tokens":10,"output_tokens":2}"#.to_owned(),
            "not json".to_owned(),
            r#"{"message":"model answered","prompt_tokens":250,"output_tokens":45}"#.to_owned(),
            r#"{"message":"turn completed"}"#.to_owned(),
        ];
        assert_eq!(reported_usage(&lines), (Some(250), Some(45)));
        assert_eq!(reported_usage(&[]), (None, None));
    }
}

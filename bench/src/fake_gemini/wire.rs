//! Gemini's JSON shapes: response bodies, error bodies, and what the fake reads out of a
//! `GenerateContentRequest`.
//!
//! Responses are typed structs rather than `json!` values so the key order matches Google's
//! (`candidates`, `usageMetadata`, `modelVersion`, `responseId`); serde_json's default map
//! sorts keys alphabetically.

use std::io;
use std::time::{SystemTime, UNIX_EPOCH};

use serde::Serialize;
use serde_json::{Value, json};

use super::Backend;

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct GenerateContentResponse {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub candidates: Option<Vec<Candidate>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub prompt_feedback: Option<PromptFeedback>,
    pub usage_metadata: UsageMetadata,
    pub model_version: String,
    /// Vertex only.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub create_time: Option<String>,
    pub response_id: String,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct Candidate {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub content: Option<Content>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub finish_reason: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub safety_ratings: Option<Vec<SafetyRating>>,
    pub index: u32,
    /// After `index`, as in the recorded grounded streams.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub grounding_metadata: Option<GroundingMetadata>,
}

#[derive(Debug, Clone, Serialize)]
pub(super) struct Content {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub parts: Option<Vec<Part>>,
    pub role: &'static str,
}

/// One part of a candidate's content. Google writes a part's keys in alphabetical order
/// (`functionCall`, `text`, `thought`, `thoughtSignature`, `toolCall`: see the recorded cases
/// `sse-3-pro-function-call` and `sse-3-flash-server-tools`), so the fields are declared in
/// that order.
#[derive(Debug, Clone, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct Part {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub function_call: Option<FunctionCallPart>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub thought_signature: Option<String>,
}

impl Part {
    pub fn text(text: impl Into<String>) -> Part {
        Part {
            text: Some(text.into()),
            ..Part::default()
        }
    }
}

/// `{"name", "args"[, "id"]}` in the recorded order (`id` last, as with `executableCode`).
#[derive(Debug, Clone, Serialize)]
pub(super) struct FunctionCallPart {
    pub name: String,
    pub args: Value,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
}

/// `groundingMetadata` with its keys in the order of the recorded case
/// `sse-2.5-pro-grounding`.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct GroundingMetadata {
    pub search_entry_point: SearchEntryPoint,
    pub grounding_chunks: Vec<GroundingChunk>,
    pub grounding_supports: Vec<GroundingSupport>,
    pub web_search_queries: Vec<String>,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct SearchEntryPoint {
    pub rendered_content: String,
}

#[derive(Debug, Clone, Serialize)]
pub(super) struct GroundingChunk {
    pub web: WebSource,
}

#[derive(Debug, Clone, Serialize)]
pub(super) struct WebSource {
    pub uri: String,
    pub title: String,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct GroundingSupport {
    pub segment: Segment,
    pub grounding_chunk_indices: Vec<usize>,
}

/// Byte offsets into the answer text. A zero `startIndex` is left out, as proto3 JSON does
/// (recorded in `sse-3-flash-server-tools`).
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct Segment {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub start_index: Option<usize>,
    pub end_index: usize,
    pub text: String,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct SafetyRating {
    pub category: &'static str,
    pub probability: &'static str,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub blocked: bool,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct PromptFeedback {
    pub block_reason: &'static str,
    pub safety_ratings: Vec<SafetyRating>,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct UsageMetadata {
    pub prompt_token_count: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub candidates_token_count: Option<u64>,
    pub total_token_count: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub thoughts_token_count: Option<u64>,
    /// Vertex only.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub traffic_type: Option<&'static str>,
}

/// Everything that is the same for every event of one response.
#[derive(Debug, Clone)]
pub(super) struct ResponseCtx {
    pub backend: Backend,
    pub model: String,
    pub response_id: String,
    pub prompt_tokens: u64,
}

impl ResponseCtx {
    fn traffic_type(&self) -> Option<&'static str> {
        (self.backend == Backend::Vertex).then_some("ON_DEMAND")
    }

    /// Usage as Google sends it on chunks before the last: prompt only.
    pub fn partial_usage(&self) -> UsageMetadata {
        UsageMetadata {
            prompt_token_count: self.prompt_tokens,
            candidates_token_count: None,
            total_token_count: self.prompt_tokens,
            thoughts_token_count: None,
            traffic_type: self.traffic_type(),
        }
    }

    pub fn final_usage(&self, candidate_tokens: u64) -> UsageMetadata {
        UsageMetadata {
            prompt_token_count: self.prompt_tokens,
            candidates_token_count: Some(candidate_tokens),
            total_token_count: self.prompt_tokens + candidate_tokens,
            thoughts_token_count: Some(0),
            traffic_type: self.traffic_type(),
        }
    }

    pub fn response(
        &self,
        candidate: Option<Candidate>,
        usage: UsageMetadata,
    ) -> GenerateContentResponse {
        GenerateContentResponse {
            candidates: candidate.map(|c| vec![c]),
            prompt_feedback: None,
            usage_metadata: usage,
            model_version: self.model.clone(),
            create_time: (self.backend == Backend::Vertex).then(rfc3339_now),
            response_id: self.response_id.clone(),
        }
    }

    /// A response carrying `text` (if any) and, on the last event, a finish reason.
    pub fn text_response(
        &self,
        text: Option<String>,
        finish_reason: Option<&str>,
        usage: UsageMetadata,
    ) -> GenerateContentResponse {
        self.parts_response(
            text.map(|text| vec![Part::text(text)]),
            finish_reason,
            usage,
        )
    }

    /// A response whose candidate carries `parts` (no `content` at all for `None`).
    pub fn parts_response(
        &self,
        parts: Option<Vec<Part>>,
        finish_reason: Option<&str>,
        usage: UsageMetadata,
    ) -> GenerateContentResponse {
        let safety_ratings = match finish_reason {
            Some("SAFETY") => Some(safety_ratings(true)),
            _ => None,
        };
        let candidate = Candidate {
            content: parts.map(|parts| Content {
                parts: Some(parts),
                role: "model",
            }),
            finish_reason: finish_reason.map(str::to_owned),
            safety_ratings,
            index: 0,
            grounding_metadata: None,
        };
        self.response(Some(candidate), usage)
    }

    pub fn prompt_blocked(&self) -> GenerateContentResponse {
        GenerateContentResponse {
            candidates: None,
            prompt_feedback: Some(PromptFeedback {
                block_reason: "SAFETY",
                safety_ratings: safety_ratings(true),
            }),
            usage_metadata: self.partial_usage(),
            model_version: self.model.clone(),
            create_time: (self.backend == Backend::Vertex).then(rfc3339_now),
            response_id: self.response_id.clone(),
        }
    }
}

fn safety_ratings(block_first: bool) -> Vec<SafetyRating> {
    [
        "HARM_CATEGORY_SEXUALLY_EXPLICIT",
        "HARM_CATEGORY_HATE_SPEECH",
        "HARM_CATEGORY_HARASSMENT",
        "HARM_CATEGORY_DANGEROUS_CONTENT",
    ]
    .into_iter()
    .enumerate()
    .map(|(i, category)| SafetyRating {
        category,
        probability: if block_first && i == 0 {
            "HIGH"
        } else {
            "NEGLIGIBLE"
        },
        blocked: block_first && i == 0,
    })
    .collect()
}

/// Real SSE payloads are compact JSON except for a space after each colon
/// (`{"candidates": [{"content": {"parts": [...],"role": "model"}`), so this formatter
/// reproduces that byte for byte.
struct GoogleSseFormatter;

impl serde_json::ser::Formatter for GoogleSseFormatter {
    fn begin_object_value<W: ?Sized + io::Write>(&mut self, writer: &mut W) -> io::Result<()> {
        writer.write_all(b": ")
    }
}

/// One SSE event: `data: <json>\r\n\r\n`.
pub(super) fn sse_event<T: Serialize>(value: &T) -> Vec<u8> {
    let mut out = b"data: ".to_vec();
    let mut ser = serde_json::Serializer::with_formatter(&mut out, GoogleSseFormatter);
    // Serialising these plain structs into a Vec cannot fail; an empty object keeps the
    // event well-formed if it somehow did.
    if value.serialize(&mut ser).is_err() {
        out.truncate(6);
        out.extend_from_slice(b"{}");
    }
    out.extend_from_slice(b"\r\n\r\n");
    out
}

/// Unary responses and error bodies are pretty-printed by Google.
pub(super) fn pretty_json<T: Serialize>(value: &T) -> Vec<u8> {
    let mut out = serde_json::to_vec_pretty(value).unwrap_or_else(|_| b"{}".to_vec());
    out.push(b'\n');
    out
}

/// Google's error body: `{"error":{"code","message","status","details"?}}`.
#[derive(Debug, Clone, Serialize)]
pub(super) struct ErrorBody {
    pub error: ErrorDetail,
}

#[derive(Debug, Clone, Serialize)]
pub(super) struct ErrorDetail {
    pub code: u16,
    pub message: String,
    pub status: &'static str,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub details: Vec<Value>,
}

pub(super) fn canonical_status(code: u16) -> &'static str {
    match code {
        400 => "INVALID_ARGUMENT",
        401 => "UNAUTHENTICATED",
        403 => "PERMISSION_DENIED",
        404 => "NOT_FOUND",
        409 => "ABORTED",
        429 => "RESOURCE_EXHAUSTED",
        499 => "CANCELLED",
        500 => "INTERNAL",
        501 => "UNIMPLEMENTED",
        503 => "UNAVAILABLE",
        504 => "DEADLINE_EXCEEDED",
        _ => "UNKNOWN",
    }
}

pub(super) const OVERLOADED: &str = "The model is overloaded. Please try again later.";
pub(super) const UNAUTHENTICATED: &str = "Request had invalid authentication credentials. \
    Expected OAuth 2 access token, login cookie or other valid authentication credential. \
    See https://developers.google.com/identity/sign-in/web/devconsole-project.";
pub(super) const NO_API_KEY: &str = "Method doesn't allow unregistered callers (callers without \
    established identity). Please use API Key or other form of API consumer identity to call \
    this API.";

pub(super) fn model_not_found_message(backend: Backend, model: &str, path: &str) -> String {
    match backend {
        // Worded as in the recorded case http404-model-not-found.
        Backend::Developer => format!(
            "models/{model} is not found for API version v1beta, or is not supported for \
             generateContent. Call ModelService.ListModels to see the list of available models \
             and their supported methods."
        ),
        Backend::Vertex => {
            let resource = path
                .trim_start_matches("/v1/")
                .split(':')
                .next()
                .unwrap_or(model);
            format!(
                "Publisher Model `{resource}` was not found or your project does not have access \
                 to it. Please ensure you are using a valid model version. For more information, \
                 see: https://cloud.google.com/vertex-ai/generative-ai/docs/learn/model-versions"
            )
        }
    }
}

/// The error body for an injected `Fault::Status`.
pub(super) fn status_error(
    code: u16,
    backend: Backend,
    model: &str,
    path: &str,
    retry_delay: Option<&str>,
    quota_id: Option<&str>,
) -> ErrorBody {
    let status = canonical_status(code);
    let mut details = Vec::new();
    let message = match code {
        400 => "Request contains an invalid argument.".to_owned(),
        401 => UNAUTHENTICATED.to_owned(),
        403 => "The caller does not have permission".to_owned(),
        404 => model_not_found_message(backend, model, path),
        429 => {
            let quota_id =
                quota_id.unwrap_or("GenerateRequestsPerMinutePerProjectPerModel-FreeTier");
            let limit = if quota_id.contains("PerDay") { 500 } else { 15 };
            let metric = "generativelanguage.googleapis.com/generate_content_free_tier_requests";
            details.push(json!({
                "@type": "type.googleapis.com/google.rpc.QuotaFailure",
                "violations": [{
                    "quotaMetric": metric,
                    "quotaId": quota_id,
                    "quotaDimensions": {"location": "global", "model": model},
                    "quotaValue": limit.to_string(),
                }],
            }));
            details.push(json!({
                "@type": "type.googleapis.com/google.rpc.Help",
                "links": [{
                    "description": "Learn more about Gemini API quotas",
                    "url": "https://ai.google.dev/gemini-api/docs/rate-limits",
                }],
            }));
            let mut message = format!(
                "You exceeded your current quota, please check your plan and billing details. \
                 For more information on this error, head to: \
                 https://ai.google.dev/gemini-api/docs/rate-limits. To monitor your current \
                 usage, head to: https://ai.dev/rate-limit. \n* Quota exceeded for metric: \
                 {metric}, limit: {limit}, model: {model}"
            );
            if let Some(delay) = retry_delay {
                details.push(json!({
                    "@type": "type.googleapis.com/google.rpc.RetryInfo",
                    "retryDelay": delay,
                }));
                message.push_str(&format!("\nPlease retry in {delay}."));
            }
            message
        }
        500 => "An internal error has occurred. Please retry or report in \
                https://developers.generativeai.google/guide/troubleshooting"
            .to_owned(),
        503 => OVERLOADED.to_owned(),
        504 => "Deadline expired before operation could complete.".to_owned(),
        _ => format!("Injected fault with HTTP status {code}."),
    };
    ErrorBody {
        error: ErrorDetail {
            code,
            message,
            status,
            details,
        },
    }
}

pub(super) fn simple_error(code: u16, message: impl Into<String>) -> ErrorBody {
    ErrorBody {
        error: ErrorDetail {
            code,
            message: message.into(),
            status: canonical_status(code),
            details: Vec::new(),
        },
    }
}

pub(super) fn error_info(reason: &str, service: &str) -> Value {
    json!({
        "@type": "type.googleapis.com/google.rpc.ErrorInfo",
        "reason": reason,
        "domain": "googleapis.com",
        "metadata": {"service": service},
    })
}

/// What the fake needs from a `GenerateContentRequest`.
#[derive(Debug, Default)]
pub(super) struct RequestSummary {
    /// All text of `systemInstruction` and `contents`, and the `tools` declarations as JSON
    /// (Gemini bills them as input), for the prompt token count.
    pub prompt_chars: usize,
    /// Text parts of the last `user` content, joined with a space.
    pub last_user_text: String,
    pub has_inline_data: bool,
}

/// Checks the request the way Google does for the mistakes a client can make, and
/// summarises it. Returns the 400 message on failure.
pub(super) fn inspect_request(body: &Value) -> Result<RequestSummary, String> {
    let Some(object) = body.as_object() else {
        return Err("Invalid JSON payload received. Expected an object.".to_owned());
    };
    let contents = match object.get("contents") {
        Some(Value::Array(contents)) if !contents.is_empty() => contents,
        Some(Value::Array(_)) | None | Some(Value::Null) => {
            return Err(
                "* GenerateContentRequest.contents: contents is not specified\n".to_owned(),
            );
        }
        Some(_) => {
            return Err(
                "Invalid JSON payload received. Unknown name \"contents\": Proto field is not \
                 repeating, cannot start list."
                    .to_owned(),
            );
        }
    };

    let mut summary = RequestSummary::default();
    if let Some(parts) = object
        .get("systemInstruction")
        .and_then(|s| s.get("parts"))
        .and_then(Value::as_array)
    {
        summary.prompt_chars += parts.iter().map(part_text_chars).sum::<usize>();
    }

    summary.prompt_chars += tools_chars(object.get("tools"));

    let mut last_user: Option<&Vec<Value>> = None;
    for content in contents {
        let role = content.get("role").and_then(Value::as_str);
        match role {
            None | Some("user") | Some("model") => {}
            Some(_) => return Err("Please use a valid role: user, model.".to_owned()),
        }
        let Some(parts) = content.get("parts").and_then(Value::as_array) else {
            return Err(
                "* GenerateContentRequest.contents.parts: contents.parts must not be empty.\n"
                    .to_owned(),
            );
        };
        summary.prompt_chars += parts.iter().map(part_text_chars).sum::<usize>();
        summary.has_inline_data |= parts.iter().any(|p| p.get("inlineData").is_some());
        if role != Some("model") {
            last_user = Some(parts);
        }
    }
    if let Some(parts) = last_user {
        summary.last_user_text = parts
            .iter()
            .filter_map(|p| p.get("text").and_then(Value::as_str))
            .collect::<Vec<_>>()
            .join(" ");
    }
    Ok(summary)
}

/// Characters of a request's `tools` as JSON (0 without any).
pub fn tools_chars(tools: Option<&Value>) -> usize {
    tools
        .filter(|t| !t.is_null())
        .map_or(0, |t| t.to_string().chars().count())
}

fn part_text_chars(part: &Value) -> usize {
    part.get("text")
        .and_then(Value::as_str)
        .map_or(0, |t| t.chars().count())
}

/// The fake's deterministic token estimate: a quarter of the characters, rounded up.
pub(super) fn tokens_for_chars(chars: usize) -> u64 {
    chars.div_ceil(4) as u64
}

/// Splits `text` into at most `n` pieces at word boundaries. Each piece is whole words with
/// the whitespace that follows them (leading whitespace stays with the first word), so the
/// pieces concatenate back to exactly `text`. Fewer words than `n` gives one piece per word;
/// an empty text gives one empty piece so a stream always has an event to carry the finish.
pub(super) fn split_words(text: &str, n: usize) -> Vec<String> {
    let mut starts = vec![0];
    let mut prev_ws = false;
    let mut seen_word = false;
    for (i, c) in text.char_indices() {
        let ws = c.is_whitespace();
        if !ws {
            if seen_word && prev_ws {
                starts.push(i);
            }
            seen_word = true;
        }
        prev_ws = ws;
    }
    let words: Vec<&str> = starts
        .iter()
        .enumerate()
        .map(|(k, &s)| &text[s..starts.get(k + 1).copied().unwrap_or(text.len())])
        .collect();
    let n = n.clamp(1, words.len());
    (0..n)
        .map(|i| words[i * words.len() / n..(i + 1) * words.len() / n].concat())
        .collect()
}

pub(super) fn unix_micros() -> u128 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_micros())
}

/// `2026-11-24T18:53:00.123456Z`, as Vertex's `createTime`.
pub(super) fn rfc3339_now() -> String {
    let micros = unix_micros();
    let secs = (micros / 1_000_000) as i64;
    let frac = micros % 1_000_000;
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    // Howard Hinnant's civil_from_days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{frac:06}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn split_words_never_loses_or_duplicates() {
        for text in [
            "",
            "one",
            "  leading and trailing  ",
            "a b c d e f g h i j",
            "tabs\tand\nnewlines  double",
            "ünïcödé wörds 😀 here",
        ] {
            for n in 0..12 {
                let pieces = split_words(text, n);
                assert_eq!(pieces.concat(), text, "{text:?} into {n}");
                assert!(!pieces.is_empty());
                assert!(pieces.len() <= n.max(1));
            }
        }
        assert_eq!(split_words("a b c d", 2), vec!["a b ", "c d"]);
        assert_eq!(split_words("a b c", 8), vec!["a ", "b ", "c"]);
        assert_eq!(split_words("  a b", 8), vec!["  a ", "b"]);
    }

    #[test]
    fn sse_event_uses_google_spacing() {
        let event = sse_event(&json!({"a": [1, {"b": "c"}]}));
        assert_eq!(event, b"data: {\"a\": [1,{\"b\": \"c\"}]}\r\n\r\n");
    }

    #[test]
    fn token_estimate_is_a_quarter_rounded_up() {
        assert_eq!(tokens_for_chars(0), 0);
        assert_eq!(tokens_for_chars(1), 1);
        assert_eq!(tokens_for_chars(8), 2);
        assert_eq!(tokens_for_chars(9), 3);
    }

    #[test]
    fn rfc3339_has_the_right_shape() {
        let t = rfc3339_now();
        assert_eq!(t.len(), 27, "{t}");
        assert!(t.starts_with("20") && t.ends_with('Z'), "{t}");
    }
}

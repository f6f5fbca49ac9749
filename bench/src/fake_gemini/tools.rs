//! Function calling and Google Search grounding: scripted rounds of a tool turn, the
//! request checks the real API makes on tool history, and grounded answers.
//!
//! The wire behaviour follows research/gemini-next.md §1 and §2 and the recorded cases
//! `sse-3-pro-function-call`, `sse-3-pro-empty-text-tail`, `sse-3-flash-server-tools` and
//! `sse-2.5-pro-grounding`.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::wire::{
    FunctionCallPart, GroundingChunk, GroundingMetadata, GroundingSupport, SearchEntryPoint,
    Segment, WebSource,
};

/// What the fake answers to one request of a tool turn. A turn's first request (after a
/// plain user message) gets round 0, the request carrying the answers to round 0's calls
/// gets round 1, and so on; see [`script_round`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Round {
    /// Text in `chunks` pieces. Without a signature the last piece carries `STOP` (the
    /// Gemini 2.x shape); with one, a final empty-text part carries the signature and `STOP`,
    /// as Gemini 3 ends a text answer (`derived-3-flash-short-answer`).
    Text {
        text: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        thought_signature: Option<String>,
    },
    /// One or more `functionCall` parts, then a chunk with an empty text part and `STOP`
    /// (the recorded `sse-3-pro-function-call` shape).
    FunctionCalls {
        calls: Vec<FunctionCall>,
        /// Gemini 3's signature: only the FIRST call part carries it, however many calls
        /// run in parallel.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        thought_signature: Option<String>,
        /// Each call in its own SSE chunk instead of all in one, as parallel calls often
        /// arrive.
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        split_chunks: bool,
        /// The signature arrives late: on the closing empty-text part rather than on the
        /// first call. Calls sent this way carry no signature, so none is demanded back.
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        late_signature: bool,
    },
    /// HTTP 200 and one chunk whose candidate has no content, `finishReason:
    /// MALFORMED_FUNCTION_CALL` and no output tokens: the model failed to produce valid
    /// arguments (the chunk quoted in pydantic/pydantic-ai PR #3095).
    MalformedFunctionCall,
}

impl Round {
    pub fn text(text: impl Into<String>) -> Round {
        Round::Text {
            text: text.into(),
            thought_signature: None,
        }
    }

    /// One call, no signature (the Gemini 2.x shape); see [`Round::signed`].
    pub fn call(name: impl Into<String>, args: Value) -> Round {
        Round::calls(vec![FunctionCall::new(name, args)])
    }

    /// Parallel calls in one chunk, no signature.
    pub fn calls(calls: Vec<FunctionCall>) -> Round {
        Round::FunctionCalls {
            calls,
            thought_signature: None,
            split_chunks: false,
            late_signature: false,
        }
    }

    /// The same round with a thought signature (on the first call, or on the closing
    /// empty-text part of a text round).
    pub fn signed(mut self, signature: impl Into<String>) -> Round {
        match &mut self {
            Round::Text {
                thought_signature, ..
            }
            | Round::FunctionCalls {
                thought_signature, ..
            } => *thought_signature = Some(signature.into()),
            Round::MalformedFunctionCall => {}
        }
        self
    }

    /// Parallel calls each in their own chunk. No effect on other rounds.
    pub fn split(mut self) -> Round {
        if let Round::FunctionCalls { split_chunks, .. } = &mut self {
            *split_chunks = true;
        }
        self
    }

    /// The signature on the closing empty-text part instead of the first call.
    pub fn late_signature(mut self) -> Round {
        if let Round::FunctionCalls { late_signature, .. } = &mut self {
            *late_signature = true;
        }
        self
    }
}

/// A `functionCall` as the model sends it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FunctionCall {
    pub name: String,
    /// A JSON object; the Developer API always sends complete arguments.
    #[serde(default = "empty_object")]
    pub args: Value,
    /// The Developer API often omits ids; give one to test that a client echoes it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
}

fn empty_object() -> Value {
    Value::Object(serde_json::Map::new())
}

impl FunctionCall {
    pub fn new(name: impl Into<String>, args: Value) -> FunctionCall {
        FunctionCall {
            name: name.into(),
            args,
            id: None,
        }
    }

    pub fn with_id(mut self, id: impl Into<String>) -> FunctionCall {
        self.id = Some(id.into());
        self
    }

    pub(super) fn part(&self) -> FunctionCallPart {
        FunctionCallPart {
            name: self.name.clone(),
            args: self.args.clone(),
            id: self.id.clone(),
        }
    }

    /// Whether a `functionCall` object from a request is this call: the same id when the
    /// request carries one, else the same name and arguments.
    fn matches(&self, sent: &Value) -> bool {
        match sent.get("id").and_then(Value::as_str) {
            Some(id) if self.id.is_some() => self.id.as_deref() == Some(id),
            _ => {
                sent.get("name").and_then(Value::as_str) == Some(self.name.as_str())
                    && sent.get("args").unwrap_or(&Value::Null) == &self.args
            }
        }
    }
}

/// The answer to a request that enables Google Search (`tools: [{"google_search": {}}]` or
/// `googleSearch`): `text` streamed in chunks, then a content-less final chunk with `STOP`
/// and `groundingMetadata` (research §2.2: metadata usually arrives last, often without
/// content).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GroundedReply {
    pub text: String,
    /// `webSearchQueries`, and the chips of `searchEntryPoint.renderedContent`.
    pub queries: Vec<String>,
    /// `groundingChunks`, in order; every sentence of `text` is supported by one of them in
    /// turn (`groundingSupports`).
    pub sources: Vec<GroundingSource>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GroundingSource {
    /// Google titles web chunks with the site's domain, e.g. `weather.gov`.
    pub title: String,
    /// Default: a `vertexaisearch.cloud.google.com/grounding-api-redirect/…` URL, the form
    /// Google sends instead of the source URL.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uri: Option<String>,
}

impl GroundingSource {
    pub fn new(title: impl Into<String>) -> GroundingSource {
        GroundingSource {
            title: title.into(),
            uri: None,
        }
    }
}

const REDIRECT_BASE: &str = "https://vertexaisearch.cloud.google.com/grounding-api-redirect/";

impl GroundedReply {
    pub(super) fn metadata(&self) -> GroundingMetadata {
        let grounding_chunks: Vec<GroundingChunk> = self
            .sources
            .iter()
            .enumerate()
            .map(|(i, source)| GroundingChunk {
                web: WebSource {
                    uri: source.uri.clone().unwrap_or_else(|| {
                        format!("{REDIRECT_BASE}FAKE{i}-{}", url_encode(&source.title))
                    }),
                    title: source.title.clone(),
                },
            })
            .collect();
        let grounding_supports = if grounding_chunks.is_empty() {
            // Gemini 3 sometimes sends no chunks although searches ran (research §2.2);
            // without chunks there is nothing for a support to point at.
            Vec::new()
        } else {
            sentences(&self.text)
                .into_iter()
                .enumerate()
                .map(|(i, (start, end))| GroundingSupport {
                    segment: Segment {
                        start_index: (start > 0).then_some(start),
                        end_index: end,
                        text: self.text[start..end].to_owned(),
                    },
                    grounding_chunk_indices: vec![i % grounding_chunks.len()],
                })
                .collect()
        };
        GroundingMetadata {
            search_entry_point: SearchEntryPoint {
                rendered_content: search_chip_html(&self.queries),
            },
            grounding_chunks,
            grounding_supports,
            web_search_queries: self.queries.clone(),
        }
    }
}

/// Byte ranges of the sentences of `text` (ending at `.`, `!` or `?` followed by
/// whitespace or the end), without the whitespace between them. Google's segment indices
/// are byte offsets into the UTF-8 answer.
fn sentences(text: &str) -> Vec<(usize, usize)> {
    let mut ranges = Vec::new();
    let mut start = None;
    let mut chars = text.char_indices().peekable();
    while let Some((i, c)) = chars.next() {
        if start.is_none() && !c.is_whitespace() {
            start = Some(i);
        }
        let at_end = chars.peek().is_none_or(|(_, next)| next.is_whitespace());
        if let Some(s) = start
            && ((matches!(c, '.' | '!' | '?') && at_end) || chars.peek().is_none())
        {
            ranges.push((s, i + c.len_utf8()));
            start = None;
        }
    }
    ranges
}

/// A small stand-in for Google's Search Suggestions chip: a styled container with one
/// link per query. Its class names follow Google's (`container`, `chip`, `carousel`) so a
/// page that sandboxes the real HTML renders this the same way.
fn search_chip_html(queries: &[String]) -> String {
    let chips: String = queries
        .iter()
        .map(|q| {
            format!(
                "    <a class=\"chip\" href=\"https://www.google.com/search?q={}&amp;client=fake-gemini\">{}</a>\n",
                url_encode(q),
                html_escape(q)
            )
        })
        .collect();
    format!(
        "<style>\n.container {{ align-items: center; border-radius: 8px; display: flex; \
         font-family: Google Sans, Roboto, sans-serif; font-size: 14px; padding: 8px 12px; }}\n\
         .chip {{ display: inline-block; border: solid 1px; border-radius: 16px; \
         padding: 5px 16px; margin: 0 8px; text-decoration: none; }}\n</style>\n\
         <div class=\"container\">\n  <div class=\"headline\">Google Search</div>\n  \
         <div class=\"carousel\">\n{chips}  </div>\n</div>\n"
    )
}

fn html_escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// `application/x-www-form-urlencoded` style: unreserved bytes as is, space as `+`, the
/// rest percent-encoded.
fn url_encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for byte in text.bytes() {
        match byte {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                out.push(byte as char);
            }
            b' ' => out.push('+'),
            other => out.push_str(&format!("%{other:02X}")),
        }
    }
    out
}

/// A call the fake has sent, kept so a later request replaying it can be checked the way
/// the real API checks thought signatures.
#[derive(Debug, Clone)]
pub(super) struct IssuedCall {
    pub call: FunctionCall,
    /// The signature this call part carried (only a round's first call has one).
    pub signature: Option<String>,
    /// Whether the round it came from was signed on its first call. A later call of such a
    /// round that a client re-sends as the first call of its own model content is then a
    /// new "step" without a signature, which the API rejects (research §1.2, js-genai #1275).
    pub round_signed: bool,
}

pub(super) fn issued_calls(round: &Round) -> Vec<IssuedCall> {
    let Round::FunctionCalls {
        calls,
        thought_signature,
        late_signature,
        ..
    } = round
    else {
        return Vec::new();
    };
    let signature = thought_signature.as_ref().filter(|_| !late_signature);
    calls
        .iter()
        .enumerate()
        .map(|(i, call)| IssuedCall {
            call: call.clone(),
            signature: signature.filter(|_| i == 0).cloned(),
            round_signed: signature.is_some(),
        })
        .collect()
}

fn contents(body: &Value) -> &[Value] {
    body.get("contents")
        .and_then(Value::as_array)
        .map_or(&[], Vec::as_slice)
}

fn parts(content: &Value) -> &[Value] {
    content
        .get("parts")
        .and_then(Value::as_array)
        .map_or(&[], Vec::as_slice)
}

fn is_model(content: &Value) -> bool {
    content.get("role").and_then(Value::as_str) == Some("model")
}

/// Either spelling of a field: the API accepts camelCase and snake_case.
fn field<'a>(object: &'a Value, camel: &str, snake: &str) -> Option<&'a Value> {
    object.get(camel).or_else(|| object.get(snake))
}

fn function_response(part: &Value) -> Option<&Value> {
    field(part, "functionResponse", "function_response")
}

fn function_call(part: &Value) -> Option<&Value> {
    field(part, "functionCall", "function_call")
}

fn thought_signature(part: &Value) -> Option<&str> {
    field(part, "thoughtSignature", "thought_signature").and_then(Value::as_str)
}

fn has_function_response(content: &Value) -> bool {
    parts(content)
        .iter()
        .any(|p| function_response(p).is_some())
}

/// Index of the first content of the current turn: the one after the newest user content
/// that is a plain message rather than function responses (the point the API walks back to
/// when it validates signatures, research §1.4). 0 when there is none.
fn turn_start(contents: &[Value]) -> usize {
    contents
        .iter()
        .rposition(|c| !is_model(c) && !has_function_response(c))
        .map_or(0, |i| i + 1)
}

/// Which round of a script a request asks for: the number of function-response contents
/// in the current turn. A new user question therefore restarts the script at round 0.
pub fn script_round(body: &Value) -> usize {
    let contents = contents(body);
    contents[turn_start(contents)..]
        .iter()
        .filter(|c| has_function_response(c))
        .count()
}

/// Every `functionResponse` object of the current turn, in order.
pub(super) fn current_function_responses(body: &Value) -> Vec<&Value> {
    let contents = contents(body);
    contents[turn_start(contents)..]
        .iter()
        .flat_map(|c| parts(c).iter().filter_map(function_response))
        .collect()
}

pub(super) fn tools(body: &Value) -> &[Value] {
    body.get("tools")
        .and_then(Value::as_array)
        .map_or(&[], Vec::as_slice)
}

pub(super) fn tool_config(body: &Value) -> Option<&Value> {
    field(body, "toolConfig", "tool_config")
}

pub(super) fn thinking_config(body: &Value) -> Option<&Value> {
    field(body, "generationConfig", "generation_config")
        .and_then(|g| field(g, "thinkingConfig", "thinking_config"))
}

pub(super) fn enables_google_search(body: &Value) -> bool {
    tools(body)
        .iter()
        .any(|t| field(t, "googleSearch", "google_search").is_some())
}

pub(super) fn function_declaration_names(body: &Value) -> Vec<String> {
    tools(body)
        .iter()
        .filter_map(|t| field(t, "functionDeclarations", "function_declarations"))
        .filter_map(Value::as_array)
        .flatten()
        .filter_map(|d| d.get("name").and_then(Value::as_str))
        .map(str::to_owned)
        .collect()
}

/// The 400 for a request that mixes Google Search with function declarations without
/// opting in to server-side tool invocations (research §2.5). Gemini 2.x cannot combine
/// them at all; Gemini 3 can with `toolConfig.includeServerSideToolInvocations: true`.
/// Both messages are the real ones (go-genai #323 / celeste-python #197; eino-ext #761).
pub(super) fn check_tool_combination(body: &Value, model: &str) -> Result<(), String> {
    if !enables_google_search(body) || function_declaration_names(body).is_empty() {
        return Ok(());
    }
    if model.starts_with("gemini-2") || model.starts_with("gemini-1") {
        return Err("Tool use with function calling is unsupported by the model.".to_owned());
    }
    let opted_in = tool_config(body)
        .and_then(|c| {
            field(
                c,
                "includeServerSideToolInvocations",
                "include_server_side_tool_invocations",
            )
        })
        .and_then(Value::as_bool)
        == Some(true);
    if opted_in {
        Ok(())
    } else {
        Err(
            "Please enable tool_config.include_server_side_tool_invocations to use Built-in \
             tools with Function calling."
                .to_owned(),
        )
    }
}

/// The real message (lbjlaq/Antigravity-Manager #2157, csells/dartantic #86, quoted in
/// research §1.4), including Google's space before the comma. "position" is the 1-based
/// index of the offending model content in `contents`: the simplest failing request
/// (user, model call, user response) reports position 2 in every published log.
fn missing_signature(name: &str, position: usize) -> String {
    format!(
        "Function call is missing a thought_signature in functionCall parts. This is required \
         for tools to work correctly, and missing thought_signature may lead to degraded model \
         performance. Additional data, function call `default_api:{name}` , position \
         {position}. Please refer to https://ai.google.dev/gemini-api/docs/thought-signatures \
         for more details."
    )
}

/// A signature that is not the one sent for that call (research §1.4: "Corrupted thought
/// signature" when it was altered or truncated).
const CORRUPTED_SIGNATURE: &str = "Corrupted thought signature.";

const RESPONSE_COUNT_MISMATCH: &str = "Please ensure that the number of function response parts \
     is equal to the number of function call parts of the function call turn.";

/// Checks tool history the way the API does and returns the 400 message on failure:
///
/// * thought signatures, in the current turn only: a `functionCall` the fake sent with a
///   signature must come back with exactly that signature; and the first call of every model
///   content must be signed if its round was, which catches parallel calls re-sent as
///   separate model contents (the second content's first call never had a signature);
/// * everywhere: a content of `functionResponse` parts must follow a model content with as
///   many `functionCall` parts.
///
/// Calls the fake never sent are not signature-checked: it cannot know their signatures.
pub(super) fn check_history(body: &Value, issued: &[IssuedCall]) -> Result<(), String> {
    let contents = contents(body);
    for (index, content) in contents.iter().enumerate().skip(turn_start(contents)) {
        if !is_model(content) {
            continue;
        }
        let calls = parts(content)
            .iter()
            .filter_map(|p| function_call(p).map(|call| (call, thought_signature(p))));
        for (k, (call, signature)) in calls.enumerate() {
            let Some(sent) = issued.iter().rev().find(|i| i.call.matches(call)) else {
                continue;
            };
            let expected = match &sent.signature {
                Some(signature) => Some(signature.as_str()),
                // A later parallel call leading its own content: a step without signature.
                None if k == 0 && sent.round_signed => None,
                None => continue,
            };
            match (signature, expected) {
                (Some(got), Some(want)) if got == want => {}
                (None, _) => return Err(missing_signature(&sent.call.name, index + 1)),
                (Some(_), _) => return Err(CORRUPTED_SIGNATURE.to_owned()),
            }
        }
    }
    for (index, content) in contents.iter().enumerate() {
        let responses = parts(content)
            .iter()
            .filter(|p| function_response(p).is_some())
            .count();
        if responses == 0 {
            continue;
        }
        let calls = index
            .checked_sub(1)
            .map(|i| &contents[i])
            .filter(|c| is_model(c))
            .map_or(0, |c| {
                parts(c)
                    .iter()
                    .filter(|p| function_call(p).is_some())
                    .count()
            });
        if calls != responses {
            return Err(RESPONSE_COUNT_MISMATCH.to_owned());
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn sentences_cover_the_text_in_byte_offsets() {
        let text = "Hot today. Rain at 5°C? Maybe";
        let ranges = sentences(text);
        let pieces: Vec<&str> = ranges.iter().map(|&(s, e)| &text[s..e]).collect();
        assert_eq!(pieces, ["Hot today.", "Rain at 5°C?", "Maybe"]);
        assert_eq!(ranges[1], (11, 24), "° is two bytes");
        assert!(sentences("   ").is_empty());
        assert_eq!(sentences("v1.2 is out."), [(0, 12)]);
    }

    #[test]
    fn rounds_count_function_responses_after_the_newest_question() {
        let response =
            json!({"role": "user", "parts": [{"functionResponse": {"name": "f", "response": {}}}]});
        let call = json!({"role": "model", "parts": [{"functionCall": {"name": "f", "args": {}}}]});
        let question = json!({"role": "user", "parts": [{"text": "q"}]});
        let body = |contents: Vec<&Value>| json!({ "contents": contents });
        assert_eq!(script_round(&body(vec![&question])), 0);
        assert_eq!(script_round(&body(vec![&question, &call, &response])), 1);
        assert_eq!(
            script_round(&body(vec![&question, &call, &response, &call, &response])),
            2
        );
        assert_eq!(
            script_round(&body(vec![&question, &call, &response, &question])),
            0,
            "a new question restarts the script"
        );
    }

    #[test]
    fn html_and_urls_are_escaped() {
        assert_eq!(html_escape("<a & \"b\">"), "&lt;a &amp; &quot;b&quot;&gt;");
        assert_eq!(
            url_encode("weather in Zürich?"),
            "weather+in+Z%C3%BCrich%3F"
        );
    }
}

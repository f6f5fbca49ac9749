//! The Gemini-facing routes: Developer API, Vertex and the metadata server.

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{DefaultBodyLimit, State};
use axum::http::header::{AUTHORIZATION, CONTENT_TYPE, RETRY_AFTER};
use axum::http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get, post};
use serde_json::{Value, json};

use super::script::{self, Step};
use super::tools::{self, GroundedReply, Round};
use super::wire::{self, ErrorBody, GenerateContentResponse, Part, ResponseCtx};
use super::{
    Backend, DEFAULT_REPLY, FakeGeminiConfig, Fault, RecordedRequest, ReplayCase, Reply, Shared,
    TokenStatus, control,
};

/// Google accepts inline payloads up to 100 MB (base64), so the fake does too rather than
/// axum's 2 MB default.
const BODY_LIMIT: usize = 100 * 1024 * 1024;

pub(super) fn router(shared: Arc<Shared>) -> Router {
    Router::new()
        .route("/v1beta/models/{*rest}", any(developer))
        .route(
            "/v1/projects/{project}/locations/{location}/publishers/google/models/{*rest}",
            any(vertex),
        )
        .route(
            "/computeMetadata/v1/instance/service-accounts/default/token",
            get(metadata_token),
        )
        .route("/computeMetadata/v1/project/project-id", get(project_id))
        .route(
            "/computeMetadata/v1/instance/service-accounts/default/email",
            get(service_account_email),
        )
        .route("/", get(metadata_root))
        .route(
            "/__fake/faults",
            post(control::push_faults).delete(control::clear_faults),
        )
        .route(
            "/__fake/config",
            get(control::get_config).post(control::patch_config),
        )
        .route(
            "/__fake/requests",
            get(control::get_requests).delete(control::clear_requests),
        )
        .route("/__fake/stats", get(control::stats))
        .fallback(not_found)
        .layer(DefaultBodyLimit::max(BODY_LIMIT))
        .with_state(shared)
}

async fn developer(
    State(shared): State<Arc<Shared>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    models_route(shared, Backend::Developer, method, uri, headers, body).await
}

async fn vertex(
    State(shared): State<Arc<Shared>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    models_route(shared, Backend::Vertex, method, uri, headers, body).await
}

async fn not_found(uri: Uri) -> Response {
    error_response(
        &wire::simple_error(404, format!("fake-gemini has no route for {}", uri.path())),
        None,
    )
}

pub(super) fn error_response(body: &ErrorBody, retry_after: Option<u64>) -> Response {
    let status = StatusCode::from_u16(body.error.code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut response = (
        status,
        [(CONTENT_TYPE, "application/json; charset=UTF-8")],
        wire::pretty_json(body),
    )
        .into_response();
    if let Some(secs) = retry_after {
        response
            .headers_mut()
            .insert(RETRY_AFTER, HeaderValue::from(secs));
    }
    response
}

fn json_response(body: Vec<u8>) -> Response {
    (
        StatusCode::OK,
        [(CONTENT_TYPE, "application/json; charset=UTF-8")],
        body,
    )
        .into_response()
}

fn invalid_argument(message: impl Into<String>) -> Response {
    error_response(&wire::simple_error(400, message), None)
}

/// The part of the path after `/models/`, e.g. `gemini-2.5-flash:streamGenerateContent`.
/// Some clients percent-encode the colon.
fn model_and_rpc(path: &str) -> (String, Option<String>) {
    let rest = path.rsplit_once("/models/").map_or("", |(_, rest)| rest);
    let rest = rest.replace("%3A", ":").replace("%3a", ":");
    match rest.rsplit_once(':') {
        Some((model, rpc)) => (model.to_owned(), Some(rpc.to_owned())),
        None => (rest, None),
    }
}

fn query_params(query: Option<&str>) -> Vec<(&str, &str)> {
    query
        .into_iter()
        .flat_map(|q| q.split('&'))
        .filter(|pair| !pair.is_empty())
        .map(|pair| pair.split_once('=').unwrap_or((pair, "")))
        .collect()
}

fn header_str(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get(name)
        .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
}

fn bearer_token(headers: &HeaderMap) -> Option<String> {
    let value = header_str(headers, AUTHORIZATION.as_str())?;
    let (scheme, token) = value.trim().split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| token.trim().to_owned())
}

async fn models_route(
    shared: Arc<Shared>,
    backend: Backend,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let (model, rpc) = model_and_rpc(uri.path());
    let params = query_params(uri.query());
    let key_in_query = params.iter().any(|(k, _)| *k == "key");
    let api_key_header = header_str(&headers, "x-goog-api-key");
    let bearer = bearer_token(&headers);

    let stream = match (method.clone(), rpc.as_deref()) {
        (Method::POST, Some("streamGenerateContent")) => true,
        (Method::POST, Some("generateContent")) => false,
        (Method::POST, Some("countTokens")) => {
            return auth_rejection(&shared, backend, &headers, &params)
                .unwrap_or_else(|| count_tokens(&body));
        }
        (Method::GET, None) if backend == Backend::Developer => {
            return auth_rejection(&shared, backend, &headers, &params)
                .unwrap_or_else(|| model_info(&shared, &model, uri.path()));
        }
        _ => return not_found(uri).await,
    };

    let parsed: Result<Value, _> = serde_json::from_slice(&body);
    shared.record(RecordedRequest {
        backend,
        method: method.to_string(),
        path: uri.path().to_owned(),
        query: uri.query().map(str::to_owned),
        headers: headers
            .iter()
            .map(|(k, v)| {
                (
                    k.as_str().to_owned(),
                    String::from_utf8_lossy(v.as_bytes()).into_owned(),
                )
            })
            .collect(),
        body: parsed
            .as_ref()
            .cloned()
            .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&body).into_owned())),
        model: model.clone(),
        stream,
        api_key_header,
        bearer,
        key_in_query,
    });

    if let Some(rejection) = auth_rejection(&shared, backend, &headers, &params) {
        return rejection;
    }
    if stream && !params.contains(&("alt", "sse")) {
        return invalid_argument(
            "fake-gemini only speaks SSE: streamGenerateContent needs ?alt=sse (without it \
             Google streams a JSON array instead).",
        );
    }
    let config = shared.lock().config.clone();
    if let Some(known) = &config.known_models
        && !known.contains(&model)
    {
        return error_response(
            &wire::simple_error(
                404,
                wire::model_not_found_message(backend, &model, uri.path()),
            ),
            None,
        );
    }
    let body = match parsed {
        Ok(body) => body,
        Err(e) => {
            return invalid_argument(format!("Invalid JSON payload received. {e}."));
        }
    };
    let summary = match wire::inspect_request(&body) {
        Ok(summary) => summary,
        Err(message) => return invalid_argument(message),
    };
    if let Err(message) = tools::check_tool_combination(&body, &model) {
        return invalid_argument(message);
    }
    let history = tools::check_history(&body, &shared.lock().issued_calls);
    if let Err(message) = history {
        return invalid_argument(message);
    }

    let mut plan = Plan {
        ctx: ResponseCtx {
            backend,
            model: model.clone(),
            response_id: shared.response_id(),
            prompt_tokens: wire::tokens_for_chars(summary.prompt_chars),
        },
        reply: reply_text(&config, &summary),
        chunks: config.chunks,
        ttft: config.ttft,
        chunk_delay: config.chunk_delay,
        stamp: config.stamp_chunks,
        scripted: None,
    };
    let fault = match shared.pop_fault(&model) {
        Some(fault) => Some(fault),
        None => match directive(&summary.last_user_text) {
            Some(Directive::Fault(fault)) => Some(fault),
            Some(Directive::Slow) => {
                plan.ttft = Duration::from_secs(1);
                plan.chunks = 8;
                plan.chunk_delay = Duration::from_millis(150);
                None
            }
            None => None,
        },
    };

    if let Some(Fault::Replay { case }) = &fault {
        return replay(shared, &config, case, &plan);
    }
    if fault.is_none() && !summary.has_inline_data {
        plan.scripted = scripted_answer(&config, &body);
        if let Some(Scripted::Round(round)) = &plan.scripted {
            shared
                .lock()
                .issued_calls
                .extend(tools::issued_calls(round));
        }
    }

    if let Some(Fault::Status {
        code,
        retry_delay,
        quota_id,
        retry_after_header,
    }) = &fault
    {
        let code = if StatusCode::from_u16(*code).is_ok() {
            *code
        } else {
            500
        };
        let body = wire::status_error(
            code,
            backend,
            &model,
            uri.path(),
            retry_delay.as_deref(),
            quota_id.as_deref(),
        );
        return error_response(&body, *retry_after_header);
    }

    if stream {
        let steps = plan.stream_steps(fault.as_ref());
        (
            StatusCode::OK,
            [(CONTENT_TYPE, "text/event-stream")],
            script::sse_body(shared, steps),
        )
            .into_response()
    } else {
        plan.unary(&shared, fault.as_ref()).await
    }
}

/// Serves recorded case `name` verbatim (see [`Fault::Replay`]).
fn replay(shared: Arc<Shared>, config: &FakeGeminiConfig, name: &str, plan: &Plan) -> Response {
    let case = match ReplayCase::load_named(&config.replay_dir, name) {
        Ok(case) => case,
        Err(e) => {
            let mut body = wire::simple_error(
                400,
                format!("fake-gemini cannot replay case {name:?}: {e:#}"),
            );
            body.error.status = "FAILED_PRECONDITION";
            return error_response(&body, None);
        }
    };
    if case.is_event_stream() {
        let steps = case
            .events()
            .into_iter()
            .enumerate()
            .flat_map(|(i, event)| [Step::Sleep(plan.delay_before(i)), Step::Raw(event.to_vec())])
            .collect();
        case.response(script::sse_body(shared, steps))
    } else {
        case.response(Body::from(case.body.clone()))
    }
}

fn reply_text(config: &FakeGeminiConfig, summary: &wire::RequestSummary) -> String {
    if summary.has_inline_data {
        return config.transcript.clone();
    }
    match &config.reply {
        Reply::Fixed(text) => text.clone(),
        Reply::Echo => format!("You said: {}", summary.last_user_text),
        // What a fault cuts short when it interrupts a scripted turn.
        Reply::Rounds(_) => DEFAULT_REPLY.to_owned(),
    }
}

/// The answer a tool-aware config gives this request, if any: the grounded reply for a
/// request that enables Google Search, else the script round the request asks for.
fn scripted_answer(config: &FakeGeminiConfig, body: &Value) -> Option<Scripted> {
    if tools::enables_google_search(body)
        && let Some(grounded) = &config.grounding
    {
        return Some(Scripted::Grounded(grounded.clone()));
    }
    let Reply::Rounds(rounds) = &config.reply else {
        return None;
    };
    let n = tools::script_round(body);
    Some(Scripted::Round(rounds.get(n).cloned().unwrap_or_else(
        || Round::text(format!("fake-gemini: the script has no round {n}")),
    )))
}

enum Scripted {
    Round(Round),
    Grounded(GroundedReply),
}

/// The 403/401 for a request without acceptable credentials; `None` lets it through.
fn auth_rejection(
    shared: &Shared,
    backend: Backend,
    headers: &HeaderMap,
    params: &[(&str, &str)],
) -> Option<Response> {
    match backend {
        Backend::Developer => {
            let header_key =
                header_str(headers, "x-goog-api-key").is_some_and(|k| !k.trim().is_empty());
            let query_key = params.iter().any(|(k, v)| *k == "key" && !v.is_empty());
            (!(header_key || query_key))
                .then(|| error_response(&wire::simple_error(403, wire::NO_API_KEY), None))
        }
        Backend::Vertex => {
            let reason = match bearer_token(headers) {
                None => "CREDENTIALS_MISSING",
                Some(token) => match shared.token_status(&token) {
                    TokenStatus::Valid => return None,
                    TokenStatus::Expired => "ACCESS_TOKEN_EXPIRED",
                    TokenStatus::Unknown => "ACCESS_TOKEN_TYPE_UNSUPPORTED",
                },
            };
            let mut body = wire::simple_error(401, wire::UNAUTHENTICATED);
            body.error.details = vec![wire::error_info(reason, "aiplatform.googleapis.com")];
            Some(error_response(&body, None))
        }
    }
}

fn count_tokens(body: &[u8]) -> Response {
    let Ok(body) = serde_json::from_slice::<Value>(body) else {
        return invalid_argument("Invalid JSON payload received.");
    };
    // countTokens takes either the bare contents or a wrapped GenerateContentRequest.
    let request = body.get("generateContentRequest").unwrap_or(&body);
    match wire::inspect_request(request) {
        Ok(summary) => json_response(wire::pretty_json(&json!({
            "totalTokens": wire::tokens_for_chars(summary.prompt_chars),
        }))),
        Err(message) => invalid_argument(message),
    }
}

/// `GET /v1beta/models/{model}`: the startup probe a client can use to notice a retired model.
fn model_info(shared: &Shared, model: &str, path: &str) -> Response {
    let known = shared
        .lock()
        .config
        .known_models
        .as_ref()
        .is_none_or(|known| known.iter().any(|m| m == model));
    if !known {
        return error_response(
            &wire::simple_error(
                404,
                wire::model_not_found_message(Backend::Developer, model, path),
            ),
            None,
        );
    }
    json_response(wire::pretty_json(&json!({
        "name": format!("models/{model}"),
        "version": "001",
        "displayName": model,
        "description": "A model served by fake-gemini.",
        "inputTokenLimit": 1_048_576,
        "outputTokenLimit": 65_536,
        "supportedGenerationMethods": ["generateContent", "countTokens"],
    })))
}

enum Directive {
    Fault(Fault),
    Slow,
}

/// The first recognised `[[fake:NAME]]` in `text`.
fn directive(text: &str) -> Option<Directive> {
    text.split("[[fake:").skip(1).find_map(|rest| {
        let name = rest.split_once("]]")?.0.trim();
        let finish = |reason: &str| {
            Directive::Fault(Fault::Finish {
                reason: reason.to_owned(),
                text: None,
            })
        };
        Some(match name {
            "stream-error" => Directive::Fault(Fault::ErrorInStream { after_chunks: 1 }),
            "stall" => Directive::Fault(Fault::StallAfter {
                chunks: 1,
                stall: Duration::from_secs(30),
            }),
            "malformed" => Directive::Fault(Fault::MalformedJson { after_chunks: 1 }),
            "reset" => Directive::Fault(Fault::ResetAfter { chunks: 1 }),
            "empty" => Directive::Fault(Fault::EmptyStop),
            "safety" => finish("SAFETY"),
            "recitation" => finish("RECITATION"),
            "max-tokens" => finish("MAX_TOKENS"),
            "blocked" => Directive::Fault(Fault::PromptBlocked),
            "slow" => Directive::Slow,
            replay if replay.starts_with("replay=") => Directive::Fault(Fault::Replay {
                case: replay["replay=".len()..].trim().to_owned(),
            }),
            code => {
                let code: u16 = code.parse().ok().filter(|c| (400..600).contains(c))?;
                Directive::Fault(Fault::Status {
                    code,
                    retry_delay: (code == 429).then(|| "45.837906927s".to_owned()),
                    quota_id: None,
                    retry_after_header: None,
                })
            }
        })
    })
}

/// What one request will be answered with, before faults shape it.
struct Plan {
    ctx: ResponseCtx,
    reply: String,
    chunks: usize,
    ttft: Duration,
    chunk_delay: Duration,
    stamp: bool,
    /// Replaces the reply text when no fault claims the request.
    scripted: Option<Scripted>,
}

impl Plan {
    fn delay_before(&self, events_sent: usize) -> Duration {
        if events_sent == 0 {
            self.ttft
        } else {
            self.chunk_delay
        }
    }

    /// Text events for `pieces`; the last gets `finish` (with full usage) if given.
    fn text_events(
        &self,
        steps: &mut Vec<Step>,
        pieces: &[String],
        finish: Option<(&str, u64)>,
    ) -> usize {
        for (i, piece) in pieces.iter().enumerate() {
            steps.push(Step::Sleep(self.delay_before(i)));
            let (reason, usage) = match finish {
                Some((reason, tokens)) if i + 1 == pieces.len() => {
                    (Some(reason), self.ctx.final_usage(tokens))
                }
                _ => (None, self.ctx.partial_usage()),
            };
            steps.push(self.event(self.ctx.text_response(Some(piece.clone()), reason, usage)));
        }
        pieces.len()
    }

    fn event(&self, response: GenerateContentResponse) -> Step {
        Step::Event {
            response: Box::new(response),
            stamp: self.stamp,
        }
    }

    fn reply_tokens(&self) -> u64 {
        wire::tokens_for_chars(self.reply.chars().count())
    }

    fn first_pieces(&self, n: usize) -> Vec<String> {
        let mut pieces = wire::split_words(&self.reply, self.chunks);
        pieces.truncate(n);
        pieces
    }

    fn stream_steps(&self, fault: Option<&Fault>) -> Vec<Step> {
        let mut steps = Vec::new();
        match fault {
            // Status and replay faults are answered before a stream is planned.
            None | Some(Fault::Status { .. } | Fault::Replay { .. }) => {
                match self.scripted_events() {
                    Some(events) => {
                        for (i, event) in events.into_iter().enumerate() {
                            steps.push(Step::Sleep(self.delay_before(i)));
                            steps.push(self.event(event));
                        }
                    }
                    None => {
                        let pieces = wire::split_words(&self.reply, self.chunks);
                        self.text_events(&mut steps, &pieces, Some(("STOP", self.reply_tokens())));
                    }
                }
            }
            Some(Fault::ErrorInStream { after_chunks }) => {
                let sent = self.text_events(&mut steps, &self.first_pieces(*after_chunks), None);
                steps.push(Step::Sleep(self.delay_before(sent)));
                let error = wire::simple_error(503, wire::OVERLOADED);
                steps.push(Step::Raw(wire::sse_event(&error)));
            }
            Some(Fault::StallAfter { chunks, stall }) => {
                self.text_events(&mut steps, &self.first_pieces(*chunks), None);
                steps.push(Step::Sleep(*stall));
            }
            Some(Fault::MalformedJson { after_chunks }) => {
                let sent = self.text_events(&mut steps, &self.first_pieces(*after_chunks), None);
                steps.push(Step::Sleep(self.delay_before(sent)));
                steps.push(Step::Raw(b"data: {\"candidates\": [\r\n\r\n".to_vec()));
            }
            Some(Fault::ResetAfter { chunks }) => {
                let sent = self.text_events(&mut steps, &self.first_pieces(*chunks), None);
                steps.push(Step::Sleep(self.delay_before(sent)));
                steps.push(Step::Reset);
            }
            Some(Fault::EmptyStop) => {
                steps.push(Step::Sleep(self.ttft));
                steps.push(self.event(self.empty_stop()));
            }
            Some(Fault::Finish { reason, text }) => match text {
                Some(text) => {
                    let pieces = wire::split_words(text, self.chunks);
                    let tokens = wire::tokens_for_chars(text.chars().count());
                    self.text_events(&mut steps, &pieces, Some((reason, tokens)));
                }
                None => {
                    steps.push(Step::Sleep(self.ttft));
                    let usage = self.ctx.final_usage(0);
                    steps.push(self.event(self.ctx.text_response(None, Some(reason), usage)));
                }
            },
            Some(Fault::PromptBlocked) => {
                steps.push(Step::Sleep(self.ttft));
                steps.push(self.event(self.ctx.prompt_blocked()));
            }
        }
        steps
    }

    /// The events of a scripted answer, or `None` for a plain reply.
    fn scripted_events(&self) -> Option<Vec<GenerateContentResponse>> {
        let ctx = &self.ctx;
        let events = match self.scripted.as_ref()? {
            Scripted::Round(Round::Text {
                text,
                thought_signature,
            }) => {
                let tokens = wire::tokens_for_chars(text.chars().count());
                let pieces = wire::split_words(text, self.chunks);
                let last = pieces.len() - 1;
                let mut events: Vec<_> = pieces
                    .into_iter()
                    .enumerate()
                    .map(|(i, piece)| match thought_signature {
                        None if i == last => {
                            ctx.text_response(Some(piece), Some("STOP"), ctx.final_usage(tokens))
                        }
                        _ => ctx.text_response(Some(piece), None, ctx.partial_usage()),
                    })
                    .collect();
                if let Some(signature) = thought_signature {
                    events.push(closing_empty_text(ctx, Some(signature.clone()), tokens));
                }
                events
            }
            Scripted::Round(Round::FunctionCalls {
                calls,
                thought_signature,
                split_chunks,
                late_signature,
            }) => {
                let tokens = calls
                    .iter()
                    .map(|c| wire::tokens_for_chars(c.name.len() + c.args.to_string().len()))
                    .sum();
                let parts: Vec<Part> = calls
                    .iter()
                    .enumerate()
                    .map(|(i, call)| Part {
                        function_call: Some(call.part()),
                        thought_signature: thought_signature
                            .clone()
                            .filter(|_| i == 0 && !late_signature),
                        ..Part::default()
                    })
                    .collect();
                let groups: Vec<Vec<Part>> = if *split_chunks {
                    parts.into_iter().map(|p| vec![p]).collect()
                } else {
                    vec![parts]
                };
                let mut events: Vec<_> = groups
                    .into_iter()
                    .map(|group| ctx.parts_response(Some(group), None, ctx.partial_usage()))
                    .collect();
                let late = thought_signature.clone().filter(|_| *late_signature);
                events.push(closing_empty_text(ctx, late, tokens));
                events
            }
            Scripted::Round(Round::MalformedFunctionCall) => {
                vec![ctx.parts_response(None, Some("MALFORMED_FUNCTION_CALL"), ctx.partial_usage())]
            }
            Scripted::Grounded(grounded) => {
                let tokens = wire::tokens_for_chars(grounded.text.chars().count());
                let mut events: Vec<_> = wire::split_words(&grounded.text, self.chunks)
                    .into_iter()
                    .map(|piece| ctx.text_response(Some(piece), None, ctx.partial_usage()))
                    .collect();
                let mut last = ctx.parts_response(None, Some("STOP"), ctx.final_usage(tokens));
                if let Some(candidate) = last.candidates.as_mut().and_then(|c| c.first_mut()) {
                    candidate.grounding_metadata = Some(grounded.metadata());
                }
                events.push(last);
                events
            }
        };
        Some(events)
    }

    fn empty_stop(&self) -> GenerateContentResponse {
        let mut response = self
            .ctx
            .text_response(None, Some("STOP"), self.ctx.final_usage(0));
        if let Some(candidate) = response.candidates.as_mut().and_then(|c| c.first_mut()) {
            candidate.content = Some(wire::Content {
                parts: None,
                role: "model",
            });
        }
        response
    }

    /// `generateContent`: the same outcomes as a stream, as one JSON body after `ttft`.
    async fn unary(&self, shared: &Shared, fault: Option<&Fault>) -> Response {
        let mut stop = shared.shutdown.clone();
        let mut delay = self.ttft;
        if let Some(Fault::StallAfter { stall, .. }) = fault {
            delay += *stall;
        }
        if !script::sleep_unless_stopped(delay, &mut stop).await {
            return error_response(
                &wire::simple_error(503, "fake-gemini is shutting down"),
                None,
            );
        }
        let response = match fault {
            None | Some(Fault::Status { .. } | Fault::Replay { .. }) => {
                match self.scripted_events() {
                    Some(events) => merge_events(events),
                    None => self.ctx.text_response(
                        Some(self.reply.clone()),
                        Some("STOP"),
                        self.ctx.final_usage(self.reply_tokens()),
                    ),
                }
            }
            Some(Fault::ErrorInStream { .. }) => {
                return error_response(&wire::simple_error(503, wire::OVERLOADED), None);
            }
            Some(Fault::StallAfter { chunks, .. }) => {
                let text = self.first_pieces(*chunks).concat();
                self.ctx
                    .text_response(Some(text), None, self.ctx.partial_usage())
            }
            Some(Fault::MalformedJson { .. }) => {
                return json_response(b"{\"candidates\": [".to_vec());
            }
            Some(Fault::ResetAfter { .. }) => {
                return (
                    StatusCode::OK,
                    [(CONTENT_TYPE, "application/json; charset=UTF-8")],
                    script::reset_body(),
                )
                    .into_response();
            }
            Some(Fault::EmptyStop) => self.empty_stop(),
            Some(Fault::Finish { reason, text }) => {
                let tokens = text
                    .as_deref()
                    .map_or(0, |t| wire::tokens_for_chars(t.chars().count()));
                self.ctx
                    .text_response(text.clone(), Some(reason), self.ctx.final_usage(tokens))
            }
            Some(Fault::PromptBlocked) => self.ctx.prompt_blocked(),
        };
        json_response(wire::pretty_json(&response))
    }
}

/// The chunk Gemini 3 ends a turn with: one empty text part (carrying the signature when it
/// arrives late), `STOP` and the final usage.
fn closing_empty_text(
    ctx: &ResponseCtx,
    signature: Option<String>,
    tokens: u64,
) -> GenerateContentResponse {
    let part = Part {
        thought_signature: signature,
        ..Part::text("")
    };
    ctx.parts_response(Some(vec![part]), Some("STOP"), ctx.final_usage(tokens))
}

/// A stream's events as the single `generateContent` answer: parts in order, with text that
/// the stream split across chunks joined back into one part (its signature, if any, moving
/// along onto the joined part) and unsigned empty text dropped; the last finish reason,
/// usage and grounding win.
fn merge_events(events: Vec<GenerateContentResponse>) -> GenerateContentResponse {
    let mut events = events.into_iter();
    let Some(mut merged) = events.next() else {
        unreachable!("a scripted answer has at least one event")
    };
    for event in events {
        merged.usage_metadata = event.usage_metadata;
        let (Some(into), Some(from)) = (
            merged.candidates.as_mut().and_then(|c| c.first_mut()),
            event.candidates.and_then(|c| c.into_iter().next()),
        ) else {
            continue;
        };
        into.finish_reason = from.finish_reason.or(into.finish_reason.take());
        into.grounding_metadata = from.grounding_metadata.or(into.grounding_metadata.take());
        let new_parts = from.content.and_then(|c| c.parts).unwrap_or_default();
        if new_parts.is_empty() {
            continue;
        }
        let content = into.content.get_or_insert(wire::Content {
            parts: None,
            role: "model",
        });
        let parts = content.parts.get_or_insert_with(Vec::new);
        for part in new_parts {
            let joins = part.function_call.is_none()
                && part.text.is_some()
                && parts.last().is_some_and(|p: &Part| {
                    p.function_call.is_none() && p.text.is_some() && p.thought_signature.is_none()
                });
            match parts.last_mut() {
                Some(last) if joins => {
                    if let (Some(text), Some(more)) = (last.text.as_mut(), part.text.as_deref()) {
                        text.push_str(more);
                    }
                    last.thought_signature = part.thought_signature;
                }
                _ if part.text.as_deref() == Some("") && part.thought_signature.is_none() => {}
                _ => parts.push(part),
            }
        }
    }
    merged
}

async fn metadata_token(State(shared): State<Arc<Shared>>, headers: HeaderMap) -> Response {
    if let Some(rejection) = require_metadata_flavor(&headers) {
        return rejection;
    }
    let (token, expires_in) = shared.issue_token();
    let body = json!({
        "access_token": token,
        "expires_in": expires_in,
        "token_type": "Bearer",
    });
    (
        StatusCode::OK,
        [(CONTENT_TYPE, "application/json"), metadata_flavor()],
        body.to_string(),
    )
        .into_response()
}

/// The real metadata server also demands the header here, so the fake does too.
async fn project_id(headers: HeaderMap) -> Response {
    metadata_text(&headers, "fake-project")
}

async fn service_account_email(headers: HeaderMap) -> Response {
    metadata_text(&headers, "fake-runner@fake-project.iam.gserviceaccount.com")
}

/// Auth libraries ping the metadata root to detect that they run on Google Cloud; the
/// answer's `Metadata-Flavor: Google` header is what they look for.
async fn metadata_root() -> Response {
    (
        StatusCode::OK,
        [(CONTENT_TYPE, "application/text"), metadata_flavor()],
        "computeMetadata/\n",
    )
        .into_response()
}

fn metadata_flavor() -> (HeaderName, &'static str) {
    (HeaderName::from_static("metadata-flavor"), "Google")
}

fn metadata_text(headers: &HeaderMap, text: &'static str) -> Response {
    if let Some(rejection) = require_metadata_flavor(headers) {
        return rejection;
    }
    (
        StatusCode::OK,
        [(CONTENT_TYPE, "application/text"), metadata_flavor()],
        text,
    )
        .into_response()
}

fn require_metadata_flavor(headers: &HeaderMap) -> Option<Response> {
    let ok = headers
        .get("metadata-flavor")
        .is_some_and(|v| v.as_bytes() == b"Google");
    (!ok).then(|| {
        (
            StatusCode::FORBIDDEN,
            [(CONTENT_TYPE, "text/html; charset=UTF-8")],
            "Missing required header: Metadata-Flavor: Google\n",
        )
            .into_response()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_model_and_rpc() {
        assert_eq!(
            model_and_rpc("/v1beta/models/gemini-2.5-flash:streamGenerateContent"),
            (
                "gemini-2.5-flash".to_owned(),
                Some("streamGenerateContent".to_owned())
            )
        );
        assert_eq!(
            model_and_rpc(
                "/v1/projects/p/locations/global/publishers/google/models/m-1%3AgenerateContent"
            ),
            ("m-1".to_owned(), Some("generateContent".to_owned()))
        );
        assert_eq!(model_and_rpc("/v1beta/models/m"), ("m".to_owned(), None));
    }

    #[test]
    fn finds_the_first_recognised_directive() {
        assert!(directive("hello").is_none());
        assert!(directive("[[fake:nonsense]] [[fake:unclosed").is_none());
        assert!(matches!(
            directive("x [[fake:bogus]] y [[fake:503]]"),
            Some(Directive::Fault(Fault::Status { code: 503, .. }))
        ));
        assert!(matches!(directive("[[fake:slow]]"), Some(Directive::Slow)));
        assert!(directive("[[fake:200]]").is_none());
        assert!(matches!(
            directive("[[fake:replay=http503-overloaded]]"),
            Some(Directive::Fault(Fault::Replay { case })) if case == "http503-overloaded"
        ));
    }
}

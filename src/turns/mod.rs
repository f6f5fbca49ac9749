//! The turns service: one command, end to end, the same for every transport (HTTP, the voice
//! socket, voice uploads). Rate-limit → route → answer (a rule, or the model under the AI
//! budgets, streaming) → persist one row → reply.
//!
//! A turn is a value: the answering step returns an `Outcome`, and the stored record and the
//! reply are both built once from it. The reply is returned only after the turn is committed,
//! so a command the server has acknowledged is in the database.

pub mod command;

use std::sync::{Arc, OnceLock};
use std::time::Instant;

use bytes::Bytes;
use chrono::Utc;
use futures_util::StreamExt;
use serde::Serialize;
use serde_json::Value;
use tokio_util::sync::CancellationToken;

pub use self::command::{ClientTimezone, Command, InvalidCommand, sanitize_text};
use crate::ai::{
    AiError, ChatEvent, ChatModel, ChatRequest, Completion, FinishReason, FunctionCall,
    FunctionResponse, Grounding, Role, ToolRound, Turn,
};
use crate::assistant::math::Number;
use crate::assistant::{self, Action, Context, GroundingSource, Question, Routed};
use crate::conversation::{Source, Status, StoredTurn, TurnId, TurnRecord};
use crate::error::{ErrorCode, Problem};
use crate::limits::{ClientKey, Limits, RateLimited};
use crate::skills::{Coordinates, SkillContext, SkillOutcome, Skills};
use crate::state::Drain;
use crate::store::{Budget, Store, StoreError, UserId};

pub const BUDGET_USER_REPLY: &str = "I've used up today's AI budget for you, so open questions will have to wait until tomorrow. Smart commands like YouTube, maps, math and the time still work.";
pub const BUDGET_NETWORK_REPLY: &str = "Your network has used up today's AI budget, so open questions will have to wait until tomorrow. Smart commands like YouTube, maps, math and the time still work.";
pub const BUDGET_TOTAL_REPLY: &str = "I've used up today's AI budget, so open questions will have to wait until tomorrow. Smart commands like YouTube, maps, math and the time still work.";
const MAX_TOKENS_REPLY: &str =
    "That needs a longer answer than I can give out loud. Could you ask about one part of it?";
const TRUNCATED_SUFFIX: &str = " Sorry, that answer was cut short.";
const CUT_OFF_SUFFIX: &str = " Sorry, I lost my connection there.";
const REFUSED_SUFFIX: &str = " I'll stop there.";
const NOTHING_HEARD: &str = "I didn't catch that. Could you please repeat?";
/// Rounds of function calls one turn may run before the model must answer (a voice reply
/// cannot wait for a long agent loop).
const MAX_TOOL_ROUNDS: usize = 3;

/// Why a running turn was stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CancelReason {
    /// The user started talking over the reply.
    BargeIn,
    /// The server is shutting down and the drain deadline passed.
    Shutdown,
    /// The client went away.
    ClientGone,
}

/// Cancels one turn, saying why. Cheap to clone; the first reason wins.
#[derive(Clone, Default)]
pub struct CancelSignal {
    token: CancellationToken,
    reason: Arc<OnceLock<CancelReason>>,
}

impl CancelSignal {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn cancel(&self, reason: CancelReason) {
        let _ = self.reason.set(reason);
        self.token.cancel();
    }

    pub async fn cancelled(&self) -> CancelReason {
        self.token.cancelled().await;
        self.reason
            .get()
            .copied()
            .unwrap_or(CancelReason::ClientGone)
    }
}

/// One command from one user.
#[derive(Debug, Clone)]
pub struct TurnRequest {
    pub user: UserId,
    /// The client's network, for the per-network AI budget.
    pub client: ClientKey,
    pub command: Command,
    pub timezone: Option<ClientTimezone>,
    /// The browser's position, when the page shared it for a weather question.
    pub location: Option<Coordinates>,
}

/// The answer to a command: the turn as committed.
pub type TurnReply = StoredTurn;

/// The wire shape of a reply: the predecessor's `{response, action, data}` plus `source`,
/// `status` and the turn's id.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct CommandReply {
    pub response: String,
    /// `open_url`, `search`, `open_app`, `exit`, or null.
    pub action: Option<String>,
    /// `{url, description}`, `{query}`, `{app_name}`, or null.
    #[schema(value_type = Object, nullable = true)]
    pub data: Value,
    /// Who answered: `rule`, `gemini`, `offline`, `budget` (a daily AI budget is used up) or
    /// `fallback` (the AI failed; a search is offered).
    pub source: Source,
    /// `complete`, `truncated` (cut at the output cap), `cut_off` (broke off mid-way),
    /// `refused` (content filters), `interrupted` or `failed`.
    pub status: Status,
    /// The stored turn.
    pub turn_id: TurnId,
}

impl From<&StoredTurn> for CommandReply {
    fn from(turn: &StoredTurn) -> Self {
        CommandReply {
            response: turn.reply.clone(),
            action: turn.action.as_ref().map(|a| a.kind().to_owned()),
            data: turn.action.as_ref().map_or(Value::Null, Action::data),
            source: turn.source,
            status: turn.status,
            turn_id: turn.id,
        }
    }
}

#[derive(Debug)]
pub enum TurnError {
    RateLimited(RateLimited),
    Storage(StoreError),
    /// The turn was stopped; what the user heard is stored.
    Cancelled(CancelReason),
    /// Voice upload on a server without a model.
    VoiceUnavailable,
    Transcription(AiError),
}

impl From<StoreError> for TurnError {
    fn from(error: StoreError) -> Self {
        TurnError::Storage(error)
    }
}

impl TurnError {
    /// How every transport reports this error.
    pub fn problem(&self) -> Problem {
        match self {
            TurnError::RateLimited(limited) => Problem::new(
                ErrorCode::RateLimited,
                format!(
                    "Too many commands. Please wait {} seconds.",
                    limited.retry_after_secs()
                ),
            )
            .retry_after(limited.retry_after),
            TurnError::Storage(error) => Problem::from(error.clone()),
            TurnError::Cancelled(CancelReason::Shutdown) => Problem::new(
                ErrorCode::ShuttingDown,
                "The server restarted before I finished. Please ask again.",
            )
            .retry_after(std::time::Duration::from_secs(1)),
            TurnError::Cancelled(_) => Problem::new(
                ErrorCode::ShuttingDown,
                "The reply was interrupted. Please try again.",
            ),
            TurnError::VoiceUnavailable => Problem::new(
                ErrorCode::VoiceUnavailable,
                "Voice upload isn't available on this server: it runs without Gemini. Use your browser's speech recognition or type instead.",
            ),
            TurnError::Transcription(AiError::RateLimited { retry_after, .. }) => Problem::new(
                ErrorCode::RateLimited,
                AiError::RateLimited {
                    retry_after: *retry_after,
                    daily: false,
                }
                .spoken(),
            )
            .retry_after(retry_after.unwrap_or(std::time::Duration::from_secs(60))),
            TurnError::Transcription(error) => Problem::new(
                ErrorCode::TranscriptionFailed,
                format!("Could not transcribe the recording. {}", error.spoken()),
            ),
        }
    }
}

/// What a voice upload produced.
#[derive(Debug, Clone, PartialEq)]
pub struct VoiceOutcome {
    /// What Gemini heard (empty when nothing was heard or the budget stopped it).
    pub transcript: String,
    pub reply: VoiceReplyKind,
}

#[derive(Debug, Clone, PartialEq)]
pub enum VoiceReplyKind {
    /// The transcript ran as a command.
    Turn(TurnReply),
    /// Nothing to run (silence, or a daily budget used up); not stored.
    Said { response: String, source: Source },
}

/// How a turn was answered, before it is stored.
struct Outcome {
    text: String,
    action: Option<Action>,
    source: Source,
    status: Status,
    answered_by: Option<String>,
    calculation: Option<String>,
    /// Set when the turn was stopped; the outcome is still stored.
    cancelled: Option<CancelReason>,
}

impl Outcome {
    fn rule(reply: assistant::Reply) -> Self {
        Outcome {
            text: reply.response,
            action: reply.action,
            source: Source::Rule,
            status: Status::Complete,
            answered_by: Some(reply.rule.to_owned()),
            calculation: reply.calculation.as_ref().map(Number::to_stored),
            cancelled: None,
        }
    }

    fn skill(outcome: SkillOutcome) -> Self {
        Outcome {
            text: outcome.spoken,
            action: outcome.action,
            source: Source::Rule,
            status: Status::Complete,
            answered_by: Some(outcome.rule.to_owned()),
            calculation: None,
            cancelled: None,
        }
    }

    fn said(text: &str, source: Source, status: Status, answered_by: &str) -> Self {
        Outcome {
            text: text.to_owned(),
            action: None,
            source,
            status,
            answered_by: Some(answered_by.to_owned()),
            calculation: None,
            cancelled: None,
        }
    }
}

/// The pieces a turn needs; cheap to clone.
#[derive(Clone)]
pub struct Turns {
    inner: Arc<Inner>,
}

struct Inner {
    store: Store,
    model: Arc<dyn ChatModel>,
    limits: Limits,
    skills: Skills,
    policy: TurnPolicy,
    drain: Drain,
}

/// How the model is asked.
#[derive(Debug, Clone, Default)]
pub struct TurnPolicy {
    /// The system instruction.
    pub persona: String,
    /// Earlier messages (user or assistant) sent as context.
    pub context_messages: usize,
    /// Current-events questions go out with Google Search grounding (`GEMINI_GROUNDING`).
    pub grounding: bool,
}

impl Turns {
    pub fn new(
        store: Store,
        model: Arc<dyn ChatModel>,
        limits: Limits,
        skills: Skills,
        policy: TurnPolicy,
        drain: Drain,
    ) -> Self {
        Self {
            inner: Arc::new(Inner {
                store,
                model,
                limits,
                skills,
                policy,
                drain,
            }),
        }
    }

    pub fn model(&self) -> &Arc<dyn ChatModel> {
        &self.inner.model
    }

    /// Runs one turn. `on_delta` receives answer text as the model streams it (rule-based
    /// answers send none). Cancelling stops the model, drops the upstream request and stores
    /// what the user heard; the drain deadline of a shutdown cancels too.
    pub async fn run(
        &self,
        request: TurnRequest,
        on_delta: &mut (dyn FnMut(&str) + Send),
        cancel: &CancelSignal,
    ) -> Result<TurnReply, TurnError> {
        let started = Instant::now();
        let inner = &self.inner;
        inner
            .limits
            .check_user(&request.user)
            .await
            .map_err(TurnError::RateLimited)?;
        let command_at = Utc::now();
        let context = Context {
            now: command_at,
            timezone: request.timezone.and_then(ClientTimezone::zone),
        };
        let outcome = match assistant::route(request.command.as_str(), &context) {
            Routed::Reply(reply) => Outcome::rule(reply),
            Routed::Continue(chained) => {
                let previous = inner
                    .store
                    .last_calculation(&request.user)
                    .await?
                    .and_then(|stored| Number::from_stored(&stored));
                Outcome::rule(chained.answer(previous.as_ref()))
            }
            Routed::Skill(skill) => {
                let ctx = SkillContext {
                    user: &request.user,
                    now: command_at,
                    timezone: context.timezone,
                    location: request.location,
                };
                Outcome::skill(Box::pin(inner.skills.run(skill, &ctx)).await)
            }
            // Boxed, as the skills are: the model's streaming call is by far the largest state
            // of a turn, and a rule command, the common case, should not carry (and copy, each
            // time its task is spawned) room for it.
            Routed::Ask(question) => {
                Box::pin(self.ask(&request, &question, &context, on_delta, cancel)).await?
            }
        };
        let record = TurnRecord {
            user: request.user,
            command: request.command.as_str().to_owned(),
            command_at,
            reply: outcome.text,
            action: outcome.action,
            source: outcome.source,
            answered_by: outcome.answered_by,
            status: outcome.status,
            replied_at: Utc::now(),
            calculation: outcome.calculation,
        };
        let turn = inner.store.record_turn(record).await?;
        tracing::info!(
            source = %turn.source,
            answered_by = turn.answered_by.as_deref().unwrap_or(""),
            turn_status = %turn.status,
            action = turn.action.as_ref().map_or("", Action::kind),
            turn_ms = started.elapsed().as_millis() as u64,
            "turn completed"
        );
        match outcome.cancelled {
            Some(reason) => Err(TurnError::Cancelled(reason)),
            None => Ok(turn),
        }
    }

    /// A recording for browsers without speech recognition: Gemini transcribes it (one AI
    /// request), then the transcript runs as a command.
    pub async fn run_voice(
        &self,
        user: UserId,
        client: ClientKey,
        audio: Bytes,
        mime_type: String,
        timezone: Option<ClientTimezone>,
    ) -> Result<VoiceOutcome, TurnError> {
        let inner = &self.inner;
        if inner.model.source() == Source::Offline {
            return Err(TurnError::VoiceUnavailable);
        }
        let nothing_heard = |transcript: String| VoiceOutcome {
            transcript,
            reply: VoiceReplyKind::Said {
                response: NOTHING_HEARD.to_owned(),
                source: Source::Rule,
            },
        };
        if audio.is_empty() {
            return Ok(nothing_heard(String::new()));
        }
        if let Some(refusal) = budget_refusal(inner.limits.consume_ai_request(&user, client).await?)
        {
            return Ok(VoiceOutcome {
                transcript: String::new(),
                reply: VoiceReplyKind::Said {
                    response: refusal.to_owned(),
                    source: Source::Budget,
                },
            });
        }
        let transcript = inner
            .model
            .transcribe(audio, mime_type)
            .await
            .map_err(|error| {
                tracing::warn!(%error, kind = error.kind(), "transcription failed");
                TurnError::Transcription(error)
            })?;
        let transcript = sanitize_text(&transcript).into_owned();
        let Some(command) = Command::from_transcript(&transcript) else {
            return Ok(nothing_heard(transcript));
        };
        let request = TurnRequest {
            user,
            client,
            command,
            timezone,
            location: None,
        };
        let reply = self.run(request, &mut |_| {}, &CancelSignal::new()).await?;
        Ok(VoiceOutcome {
            transcript,
            reply: VoiceReplyKind::Turn(reply),
        })
    }

    /// The earlier exchanges the model sees: only those that got a model answer, as
    /// alternating user/model messages, at most `context_messages` of them.
    async fn context(&self, user: &UserId) -> Result<Vec<Turn>, StoreError> {
        let limit = self.inner.policy.context_messages;
        let turns = self
            .inner
            .store
            .recent_turns(user, limit.div_ceil(2), true)
            .await?;
        let mut messages: Vec<Turn> = turns
            .into_iter()
            .filter(|turn| !turn.reply.trim().is_empty())
            .flat_map(|turn| {
                [
                    Turn {
                        role: Role::User,
                        text: turn.command,
                    },
                    Turn {
                        role: Role::Model,
                        text: turn.reply,
                    },
                ]
            })
            .collect();
        let excess = messages.len().saturating_sub(limit);
        messages.drain(..excess);
        // The context must start with the user (Gemini rejects a leading model turn).
        if messages.first().is_some_and(|m| m.role == Role::Model) {
            messages.remove(0);
        }
        Ok(messages)
    }

    async fn ask(
        &self,
        request: &TurnRequest,
        question: &Question,
        context: &Context,
        on_delta: &mut (dyn FnMut(&str) + Send),
        cancel: &CancelSignal,
    ) -> Result<Outcome, TurnError> {
        let inner = &self.inner;
        let model = &inner.model;
        let online = model.source() != Source::Offline;
        if online && let Some(refusal) = self.consume_ai_request(request).await? {
            return Ok(Outcome::said(
                refusal,
                Source::Budget,
                Status::Complete,
                "budget",
            ));
        }
        let mut chat = ChatRequest::new(
            inner.policy.persona.clone(),
            self.context(&request.user).await?,
            question.text.clone(),
        );
        // Gemini 3 takes Google Search or function declarations in one request, not both
        // (except behind a preview flag the Vertex API lacks): a cheap rule picks search for
        // questions about current events, everything else may call the skills.
        if online && inner.policy.grounding && assistant::about_current_events(question) {
            chat.grounding = inner.limits.consume_grounded_search().await?;
        }
        if online && !chat.grounding {
            chat.tools = Some(Skills::tools());
        }
        let skill_context = SkillContext {
            user: &request.user,
            now: context.now,
            timezone: context.timezone,
            location: request.location,
        };

        let mut text = String::new();
        let mut answered_by = model.model_name().to_owned();
        // What the skills the model called did: the last sentence and the last card.
        let mut last_skill: Option<SkillOutcome> = None;
        let mut skill_action: Option<Action> = None;
        let mut grounding: Option<Grounding> = None;
        let ended = loop {
            let round = self.stream_round(&chat, &mut text, on_delta, cancel).await;
            let (completion, calls) = match round {
                Ok(Ok(RoundEnd {
                    completion,
                    calls,
                    grounding: grounded,
                })) => {
                    if grounded.is_some() {
                        grounding = grounded;
                    }
                    (completion, calls)
                }
                other => break other.map(|r| r.map(|end| end.completion)),
            };
            if let Some(completion) = &completion {
                answered_by.clone_from(&completion.model);
            }
            let Some((calls, model_parts)) = calls else {
                break Ok(Ok(completion));
            };
            if chat.rounds.len() >= MAX_TOOL_ROUNDS {
                tracing::warn!(
                    rounds = chat.rounds.len(),
                    "the model kept calling functions; answering with what was done"
                );
                break Ok(Ok(completion));
            }
            let mut responses = Vec::with_capacity(calls.len());
            for call in calls {
                let outcome = inner
                    .skills
                    .call(&call.name, &call.args, &skill_context)
                    .await;
                tracing::info!(function = %call.name, rule = outcome.rule, "function called");
                responses.push(FunctionResponse {
                    id: call.id,
                    name: call.name,
                    response: outcome.result.clone(),
                });
                if outcome.action.is_some() {
                    skill_action.clone_from(&outcome.action);
                }
                last_skill = Some(outcome);
            }
            chat.rounds.push(ToolRound {
                model_parts,
                responses,
            });
            // Every model call counts against the budgets; a refusal here still keeps what
            // the skills did.
            if let Some(refusal) = self.consume_ai_request(request).await? {
                tracing::info!(refusal, "budget reached inside a tool loop");
                break Ok(Ok(None));
            }
        };
        let source = model.source();
        let answer = text.trim().to_owned();
        let did_something = last_skill.is_some();
        let mut outcome = Outcome {
            text: answer.clone(),
            action: skill_action,
            source,
            status: Status::Complete,
            answered_by: Some(answered_by),
            calculation: None,
            cancelled: None,
        };
        let skill_said = |outcome: &mut Outcome| {
            if let Some(skill) = &last_skill {
                outcome.text.clone_from(&skill.spoken);
            }
        };
        match ended {
            Err(reason) => {
                outcome.cancelled = Some(reason);
                outcome.status = match reason {
                    // The user's choice (or they left): keep what they heard.
                    CancelReason::BargeIn | CancelReason::ClientGone => Status::Interrupted,
                    CancelReason::Shutdown if answer.is_empty() && !did_something => Status::Failed,
                    CancelReason::Shutdown => Status::CutOff,
                };
                if answer.is_empty() {
                    skill_said(&mut outcome);
                }
                if reason == CancelReason::Shutdown && answer.is_empty() && !did_something && online
                {
                    // Nothing reached the user: a restart must not cost them a question.
                    if let Err(error) = inner
                        .limits
                        .refund_ai_request(&request.user, request.client)
                        .await
                    {
                        tracing::warn!(%error, "could not refund an unanswered AI request");
                    }
                }
            }
            Ok(Ok(completion)) => {
                if let Some(completion) = &completion {
                    tracing::info!(
                        model = %completion.model,
                        prompt_tokens = completion.usage.prompt_tokens,
                        output_tokens = completion.usage.output_tokens,
                        thoughts_tokens = completion.usage.thoughts_tokens,
                        finish = ?completion.finish,
                        tool_rounds = chat.rounds.len(),
                        "model answered"
                    );
                }
                let finish = completion.map_or(FinishReason::Stop, |c| c.finish);
                match (finish, answer.is_empty()) {
                    // A skill ran and the model added nothing: its sentence is the answer.
                    (_, true) if did_something => skill_said(&mut outcome),
                    (FinishReason::MaxTokens, true) => {
                        outcome.text = MAX_TOKENS_REPLY.to_owned();
                        outcome.status = Status::Truncated;
                    }
                    (FinishReason::MaxTokens, false) => {
                        outcome.text = format!("{}{TRUNCATED_SUFFIX}", last_full_sentence(&answer));
                        outcome.status = Status::Truncated;
                    }
                    (FinishReason::Blocked(_), false) => {
                        outcome.text = format!("{}{REFUSED_SUFFIX}", with_ending(&answer));
                        outcome.status = Status::Refused;
                    }
                    (FinishReason::Blocked(reason), true) => {
                        return Ok(failed(question, &AiError::Blocked(reason), source));
                    }
                    (_, true) => return Ok(failed(question, &AiError::EmptyAnswer, source)),
                    (_, false) => {
                        if outcome.action.is_none()
                            && let Some(fallback) = assistant::uncertain_fallback(question, &answer)
                        {
                            outcome.text = fallback.response;
                            outcome.action = fallback.action;
                        }
                    }
                }
            }
            Ok(Err(error)) => {
                tracing::warn!(error = %error, kind = error.kind(), partial_chars = answer.chars().count(), tool_rounds = chat.rounds.len(), "the model failed");
                if answer.is_empty() && did_something {
                    // What the user asked for was done; only the model's wording is missing.
                    skill_said(&mut outcome);
                } else if answer.is_empty() {
                    return Ok(failed(question, &error, source));
                } else {
                    // The user already heard the beginning; keep it and say it broke off.
                    outcome.text = format!("{}{CUT_OFF_SUFFIX}", with_ending(&answer));
                    outcome.status = Status::CutOff;
                }
            }
        }
        if let Some(grounding) = grounding {
            self.count_extra_searches(&grounding).await;
            if outcome.action.is_none() && outcome.status != Status::Failed {
                outcome.action = Some(Action::Grounded {
                    sources: grounding
                        .sources
                        .into_iter()
                        .map(|(title, uri)| GroundingSource { title, uri })
                        .collect(),
                    search_suggestions: grounding.search_suggestions,
                });
            }
        }
        Ok(outcome)
    }

    /// One AI request against the daily budgets; the sentence to say when one is used up.
    async fn consume_ai_request(
        &self,
        request: &TurnRequest,
    ) -> Result<Option<&'static str>, TurnError> {
        Ok(budget_refusal(
            self.inner
                .limits
                .consume_ai_request(&request.user, request.client)
                .await?,
        ))
    }

    /// Gemini 3 bills each search query a grounded answer ran; the first was counted before
    /// the request, the rest are counted now so the monthly free pool is not overrun.
    async fn count_extra_searches(&self, grounding: &Grounding) {
        for _ in 1..grounding.queries.len() {
            if let Err(error) = self.inner.limits.consume_grounded_search().await {
                tracing::warn!(%error, "could not count a grounded search");
                break;
            }
        }
    }

    /// Streams one model request: text goes to `on_delta` (and `text`) as it arrives, and the
    /// round ends with the model's completion, its function calls and its grounding. Stops
    /// when the turn is cancelled or the drain deadline passes; dropping the stream closes
    /// the upstream request (barge-in stops the model too).
    async fn stream_round(
        &self,
        chat: &ChatRequest,
        text: &mut String,
        on_delta: &mut (dyn FnMut(&str) + Send),
        cancel: &CancelSignal,
    ) -> Result<Result<RoundEnd, AiError>, CancelReason> {
        let mut stream = self.inner.model.stream_chat(chat.clone());
        let cancelled = cancel.cancelled();
        let shutdown = self.inner.drain.deadline_passed();
        tokio::pin!(cancelled, shutdown);
        let mut end = RoundEnd::default();
        loop {
            tokio::select! {
                biased;
                reason = &mut cancelled => return Err(reason),
                _ = &mut shutdown => return Err(CancelReason::Shutdown),
                event = stream.next() => match event {
                    Some(Ok(ChatEvent::Delta(delta))) => {
                        let delta = sanitize_text(&delta);
                        on_delta(&delta);
                        text.push_str(&delta);
                    }
                    Some(Ok(ChatEvent::ToolCalls { calls, model_parts })) => {
                        end.calls = Some((calls, model_parts));
                    }
                    Some(Ok(ChatEvent::Grounded(grounding))) => end.grounding = Some(grounding),
                    Some(Ok(ChatEvent::Done(completion))) => {
                        end.completion = Some(completion);
                        return Ok(Ok(end));
                    }
                    Some(Err(error)) => return Ok(Err(error)),
                    None => return Ok(Ok(end)),
                }
            }
        }
    }
}

/// How one model request ended.
#[derive(Default)]
struct RoundEnd {
    completion: Option<Completion>,
    calls: Option<(Vec<FunctionCall>, Vec<Value>)>,
    grounding: Option<Grounding>,
}

fn budget_refusal(budget: Budget) -> Option<&'static str> {
    match budget {
        Budget::Granted => None,
        Budget::UserExhausted => Some(BUDGET_USER_REPLY),
        Budget::IpExhausted => {
            tracing::warn!("a client network used up its daily AI budget");
            Some(BUDGET_NETWORK_REPLY)
        }
        Budget::TotalExhausted => {
            tracing::warn!("the service-wide daily AI budget is used up");
            Some(BUDGET_TOTAL_REPLY)
        }
    }
}

/// The reply when the model produced nothing: a clear sentence; a refusal says so, and other
/// failures offer a web search where that helps (shown as a card, never opened by itself).
fn failed(question: &Question, error: &AiError, model_source: Source) -> Outcome {
    if let AiError::Blocked(_) = error {
        return Outcome::said(error.spoken(), model_source, Status::Refused, "safety");
    }
    let action = error
        .offers_search()
        .then(|| assistant::failure_fallback(question));
    Outcome {
        action,
        ..Outcome::said(
            error.spoken(),
            Source::Fallback,
            Status::Failed,
            error.kind(),
        )
    }
}

/// `text` ending in sentence punctuation (an ellipsis when it broke off mid-sentence).
fn with_ending(text: &str) -> String {
    if text.ends_with(['.', '!', '?', '…']) {
        text.to_owned()
    } else {
        format!("{text}…")
    }
}

/// `text` up to its last complete sentence; an answer without one keeps its words and gets an
/// ellipsis, so the user never hears a clipped sentence as if it were whole.
fn last_full_sentence(text: &str) -> String {
    // A sentence ends at punctuation followed by whitespace or the end ("3.5" does not).
    let end = text
        .char_indices()
        .filter(|(i, c)| {
            matches!(c, '.' | '!' | '?' | '…')
                && text[i + c.len_utf8()..]
                    .chars()
                    .next()
                    .is_none_or(char::is_whitespace)
        })
        .map(|(i, c)| i + c.len_utf8())
        .next_back();
    match end {
        Some(end) => text[..end].trim_end().to_owned(),
        None => with_ending(text.trim_end()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn future_size_4<A, B, C, D, F: Future>(_: impl FnOnce(A, B, C, D) -> F) -> usize {
        std::mem::size_of::<F>()
    }

    fn future_size_6<A, B, C, D, E, G, F: Future>(_: impl FnOnce(A, B, C, D, E, G) -> F) -> usize {
        std::mem::size_of::<F>()
    }

    /// Every command's task holds a turn's future, so a rule command must not pay for the
    /// model call's state (the socket copies the future when it spawns the task).
    #[test]
    fn a_turn_future_does_not_hold_the_model_call() {
        let turn = future_size_4(Turns::run);
        let model_call = future_size_6(Turns::ask);
        eprintln!("Turns::run {turn} B, Turns::ask {model_call} B");
        assert!(
            turn < model_call,
            "a turn ({turn} B) holds the model call ({model_call} B)"
        );
    }

    #[test]
    fn truncated_answers_end_at_their_last_full_sentence() {
        assert_eq!(
            last_full_sentence("Paris is the capital. It has 2.1 million people and"),
            "Paris is the capital."
        );
        assert_eq!(
            last_full_sentence("The capital of France is"),
            "The capital of France is…"
        );
        assert_eq!(last_full_sentence("Done! Next?"), "Done! Next?");
        assert_eq!(
            last_full_sentence("Pi is 3.14 and e is"),
            "Pi is 3.14 and e is…"
        );
    }
}

/// The turn logic on its own: a scripted model and an in-memory database, no transport.
#[cfg(test)]
mod service_tests {
    use std::sync::Mutex;

    use futures_util::future::BoxFuture;
    use tokio::sync::watch;

    use super::*;
    use crate::ai::{ChatStream, Usage};
    use crate::config::Config;
    use crate::store::url::DatabaseUrl;
    use crate::store::{SessionPolicy, hash_token};

    /// Answers every question with the next scripted list of events, and records what it was
    /// asked.
    struct Scripted {
        answers: Mutex<Vec<Vec<Result<ChatEvent, AiError>>>>,
        asked: Mutex<Vec<ChatRequest>>,
        /// Never finishes the stream after its events (to test cancellation).
        hang: bool,
    }

    impl ChatModel for Scripted {
        fn source(&self) -> Source {
            Source::Gemini
        }
        fn model_name(&self) -> &str {
            "scripted"
        }
        fn stream_chat(&self, request: ChatRequest) -> ChatStream {
            self.asked.lock().unwrap().push(request);
            let events = {
                let mut answers = self.answers.lock().unwrap();
                if answers.is_empty() {
                    Vec::new()
                } else {
                    answers.remove(0)
                }
            };
            let hang = self.hang;
            Box::pin(async_stream::stream! {
                for event in events {
                    yield event;
                }
                if hang {
                    std::future::pending::<()>().await;
                }
            })
        }
        fn transcribe(&self, _: Bytes, _: String) -> BoxFuture<'static, Result<String, AiError>> {
            Box::pin(async { Ok("what's 2 + 3".to_owned()) })
        }
    }

    fn done(finish: FinishReason) -> Result<ChatEvent, AiError> {
        Ok(ChatEvent::Done(Completion {
            finish,
            usage: Usage::default(),
            model: "scripted".into(),
        }))
    }

    fn delta(text: &str) -> Result<ChatEvent, AiError> {
        Ok(ChatEvent::Delta(text.to_owned()))
    }

    struct Kit {
        turns: Turns,
        store: Store,
        model: Arc<Scripted>,
        user: UserId,
        drain: watch::Sender<Option<tokio::time::Instant>>,
    }

    async fn kit(answers: Vec<Vec<Result<ChatEvent, AiError>>>, hang: bool) -> Kit {
        let store = Store::connect_lazy_with(
            &DatabaseUrl::parse("sqlite::memory:").unwrap(),
            1,
            SessionPolicy::default(),
        );
        store.migrate().await.unwrap();
        let user = store.create_identity(&hash_token("t")).await.unwrap();
        let model = Arc::new(Scripted {
            answers: Mutex::new(answers),
            asked: Mutex::new(Vec::new()),
            hang,
        });
        let mut config = Config::for_tests();
        config.ai_daily_requests_per_user = 5;
        let limits = Limits::new(&config, store.clone());
        let (drain, deadline) = watch::channel(None);
        let weather =
            crate::weather::WeatherClient::new(crate::weather::WeatherConfig::default()).unwrap();
        let skills = Skills::new(store.clone(), weather, crate::hub::Hub::default());
        let turns = Turns::new(
            store.clone(),
            model.clone(),
            limits,
            skills,
            TurnPolicy {
                persona: "Be brief.".into(),
                context_messages: 6,
                grounding: false,
            },
            crate::state::Drain::from_receiver(deadline),
        );
        Kit {
            turns,
            store,
            model,
            user,
            drain,
        }
    }

    impl Kit {
        fn request(&self, command: &str) -> TurnRequest {
            TurnRequest {
                user: self.user.clone(),
                client: ClientKey::of("192.0.2.1".parse().unwrap()),
                command: Command::parse(command).unwrap(),
                timezone: None,
                location: None,
            }
        }

        async fn ask(&self, command: &str) -> Result<TurnReply, TurnError> {
            self.turns
                .run(self.request(command), &mut |_| {}, &CancelSignal::new())
                .await
        }
    }

    #[tokio::test]
    async fn rules_answer_without_the_model_and_chains_continue_from_the_store() {
        let kit = kit(vec![], false).await;
        let sum = kit.ask("5 + 10").await.unwrap();
        assert_eq!(
            (sum.reply.as_str(), sum.source, sum.status),
            ("15", Source::Rule, Status::Complete)
        );
        assert_eq!(kit.ask("times 2").await.unwrap().reply, "30");
        assert!(kit.model.asked.lock().unwrap().is_empty());
        assert_eq!(
            kit.store
                .last_calculation(&kit.user)
                .await
                .unwrap()
                .as_deref(),
            Some("30")
        );
    }

    #[tokio::test]
    async fn a_calculation_continues_within_the_lookback_and_not_beyond() {
        let kit = kit(vec![], false).await;
        kit.ask("5 + 10").await.unwrap();
        let lookback = crate::store::CALCULATION_LOOKBACK as usize;
        for _ in 1..lookback {
            kit.ask("hello").await.unwrap();
        }
        assert_eq!(kit.ask("times 2").await.unwrap().reply, "30");
        for _ in 0..lookback {
            kit.ask("hello").await.unwrap();
        }
        let stale = kit.ask("times 2").await.unwrap();
        assert_ne!(
            stale.reply, "60",
            "a result {lookback} turns back is not \"that\""
        );
        assert_eq!(kit.store.last_calculation(&kit.user).await.unwrap(), None);
    }

    #[tokio::test]
    async fn outcomes_become_statuses_and_context_skips_unanswered_questions() {
        let kit = kit(
            vec![
                vec![
                    delta("Stars are hot. "),
                    delta("Very."),
                    done(FinishReason::Stop),
                ],
                vec![Err(AiError::Unavailable("down".into()))],
                vec![
                    delta("It is long. And it goes on and"),
                    done(FinishReason::MaxTokens),
                ],
                vec![
                    delta("Half an answer"),
                    Err(AiError::Transport("reset".into())),
                ],
                vec![Err(AiError::Blocked("SAFETY".into()))],
            ],
            false,
        )
        .await;
        let complete = kit.ask("why do stars shine").await.unwrap();
        assert_eq!(
            (complete.status, complete.reply.as_str()),
            (Status::Complete, "Stars are hot. Very.")
        );
        let failed = kit.ask("what is a pulsar").await.unwrap();
        assert_eq!(
            (failed.source, failed.status),
            (Source::Fallback, Status::Failed)
        );
        assert!(
            matches!(failed.action, Some(Action::Search { .. })),
            "a search card is offered"
        );
        let truncated = kit.ask("tell me everything").await.unwrap();
        assert_eq!(truncated.status, Status::Truncated);
        assert_eq!(
            truncated.reply,
            "It is long. Sorry, that answer was cut short."
        );
        let cut = kit.ask("and more").await.unwrap();
        assert_eq!(cut.status, Status::CutOff);
        assert_eq!(
            cut.reply,
            "Half an answer… Sorry, I lost my connection there."
        );
        let refused = kit.ask("something nasty").await.unwrap();
        assert_eq!(
            (refused.source, refused.status),
            (Source::Gemini, Status::Refused)
        );

        let asked = kit.model.asked.lock().unwrap();
        let last = asked.last().unwrap();
        let roles: Vec<Role> = last.history.iter().map(|t| t.role).collect();
        assert!(roles.windows(2).all(|pair| pair[0] != pair[1]), "{roles:?}");
        assert_eq!(roles.first(), Some(&Role::User));
        assert!(!last.history.iter().any(|t| t.text.contains("pulsar")));
    }

    #[tokio::test]
    async fn barge_in_keeps_what_was_said_and_a_shutdown_refunds_an_unanswered_question() {
        let kit = kit(vec![vec![delta("Once upon a time")], vec![]], true).await;
        let cancel = CancelSignal::new();
        let stopper = cancel.clone();
        let mut heard = String::new();
        let mut on_delta = |d: &str| {
            heard.push_str(d);
            stopper.cancel(CancelReason::BargeIn);
        };
        let turn = kit
            .turns
            .run(kit.request("tell me a story"), &mut on_delta, &cancel)
            .await;
        assert!(matches!(
            turn,
            Err(TurnError::Cancelled(CancelReason::BargeIn))
        ));
        assert_eq!(heard, "Once upon a time");
        let stored = kit.store.recent_turns(&kit.user, 1, false).await.unwrap();
        assert_eq!(
            (stored[0].status, stored[0].reply.as_str()),
            (Status::Interrupted, "Once upon a time")
        );

        let day = crate::limits::budget_day();
        assert_eq!(
            kit.store.ai_usage(kit.user.as_str(), &day).await.unwrap(),
            1
        );
        kit.drain.send_replace(Some(tokio::time::Instant::now()));
        let shut = kit.ask("why is the sky blue").await;
        assert!(matches!(
            shut,
            Err(TurnError::Cancelled(CancelReason::Shutdown))
        ));
        assert_eq!(
            kit.store.ai_usage(kit.user.as_str(), &day).await.unwrap(),
            1,
            "the second question was charged, then refunded"
        );
        let stored = kit.store.recent_turns(&kit.user, 1, false).await.unwrap();
        assert_eq!(stored[0].status, Status::Failed);
    }
}

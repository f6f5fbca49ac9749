//! `/__fake/*`: the control surface for out-of-process users (browser tests, benchmarks).
//! Errors use Google's error shape so one client-side decoder fits everything.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Deserializer, Serialize};
use serde_json::{Value, json};

use super::routes::error_response;
use super::{FakeGeminiConfig, Fault, GroundedReply, ReplayCase, Reply, Round, Shared, wire};

fn bad_request(message: impl Into<String>) -> Response {
    error_response(&wire::simple_error(400, message), None)
}

/// `POST /__fake/faults[?model=ID]` with one fault or an array of them.
pub(super) async fn push_faults(
    State(shared): State<Arc<Shared>>,
    Query(query): Query<HashMap<String, String>>,
    body: Bytes,
) -> Response {
    let value: Value = match serde_json::from_slice(&body) {
        Ok(value) => value,
        Err(e) => return bad_request(format!("fault body is not JSON: {e}")),
    };
    let faults: Result<Vec<Fault>, _> = match value {
        Value::Array(items) => items.into_iter().map(serde_json::from_value).collect(),
        one => serde_json::from_value(one).map(|fault| vec![fault]),
    };
    let faults = match faults {
        Ok(faults) => faults,
        Err(e) => return bad_request(format!("not a fault: {e}")),
    };
    // A replay of a case that does not exist is refused now, while the caller is listening,
    // rather than surfacing later as an odd answer to some request.
    let replay_dir = shared.lock().config.replay_dir.clone();
    for fault in &faults {
        if let Fault::Replay { case } = fault
            && let Err(e) = ReplayCase::load_named(&replay_dir, case)
        {
            return bad_request(format!("cannot replay case {case:?}: {e:#}"));
        }
    }
    let queued = faults.len();
    let mut state = shared.lock();
    match query.get("model") {
        Some(model) => state
            .model_faults
            .entry(model.clone())
            .or_default()
            .extend(faults),
        None => state.faults.extend(faults),
    }
    Json(json!({ "queued": queued })).into_response()
}

pub(super) async fn clear_faults(State(shared): State<Arc<Shared>>) -> StatusCode {
    let mut state = shared.lock();
    state.faults.clear();
    state.model_faults.clear();
    StatusCode::NO_CONTENT
}

/// The config as `/__fake/config` shows it.
#[derive(Debug, Serialize)]
struct ConfigView {
    reply: Option<String>,
    echo: bool,
    rounds: Option<Vec<Round>>,
    ttft_ms: u64,
    chunk_delay_ms: u64,
    chunks: usize,
    known_models: Option<Vec<String>>,
    transcript: String,
    stamp_chunks: bool,
    token_expires_in: u64,
    replay_dir: String,
    grounding: Option<GroundedReply>,
}

impl From<&FakeGeminiConfig> for ConfigView {
    fn from(config: &FakeGeminiConfig) -> Self {
        let millis = |d: Duration| u64::try_from(d.as_millis()).unwrap_or(u64::MAX);
        Self {
            reply: match &config.reply {
                Reply::Fixed(text) => Some(text.clone()),
                Reply::Echo | Reply::Rounds(_) => None,
            },
            echo: config.reply == Reply::Echo,
            rounds: match &config.reply {
                Reply::Rounds(rounds) => Some(rounds.clone()),
                Reply::Fixed(_) | Reply::Echo => None,
            },
            ttft_ms: millis(config.ttft),
            chunk_delay_ms: millis(config.chunk_delay),
            chunks: config.chunks,
            known_models: config.known_models.clone(),
            transcript: config.transcript.clone(),
            stamp_chunks: config.stamp_chunks,
            token_expires_in: config.token_expires_in,
            replay_dir: config.replay_dir.display().to_string(),
            grounding: config.grounding.clone(),
        }
    }
}

/// A partial config: absent fields keep their value.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ConfigPatch {
    reply: Option<String>,
    echo: Option<bool>,
    /// A tool-turn script ([`Reply::Rounds`]); replaces the reply.
    rounds: Option<Vec<Round>>,
    ttft_ms: Option<u64>,
    chunk_delay_ms: Option<u64>,
    chunks: Option<usize>,
    /// Absent: unchanged; `null`: every model exists; an array: only these.
    #[serde(default, deserialize_with = "present")]
    known_models: Option<Option<Vec<String>>>,
    transcript: Option<String>,
    stamp_chunks: Option<bool>,
    token_expires_in: Option<u64>,
    replay_dir: Option<std::path::PathBuf>,
    /// Absent: unchanged; `null`: no grounded reply; an object: the grounded reply.
    #[serde(default, deserialize_with = "present")]
    grounding: Option<Option<GroundedReply>>,
}

/// Tells a present `null` (`Some(None)`) from an absent field (`None`, via `default`).
fn present<'de, D: Deserializer<'de>, T: Deserialize<'de>>(
    d: D,
) -> Result<Option<Option<T>>, D::Error> {
    Option::<T>::deserialize(d).map(Some)
}

impl ConfigPatch {
    fn apply(self, config: &mut FakeGeminiConfig) {
        if let Some(reply) = self.reply {
            config.reply = Reply::Fixed(reply);
        }
        if let Some(rounds) = self.rounds {
            config.reply = Reply::Rounds(rounds);
        }
        match self.echo {
            Some(true) => config.reply = Reply::Echo,
            Some(false) if config.reply == Reply::Echo => {
                config.reply = FakeGeminiConfig::default().reply;
            }
            _ => {}
        }
        if let Some(ms) = self.ttft_ms {
            config.ttft = Duration::from_millis(ms);
        }
        if let Some(ms) = self.chunk_delay_ms {
            config.chunk_delay = Duration::from_millis(ms);
        }
        if let Some(chunks) = self.chunks {
            config.chunks = chunks;
        }
        if let Some(known) = self.known_models {
            config.known_models = known;
        }
        if let Some(transcript) = self.transcript {
            config.transcript = transcript;
        }
        if let Some(stamp) = self.stamp_chunks {
            config.stamp_chunks = stamp;
        }
        if let Some(secs) = self.token_expires_in {
            config.token_expires_in = secs;
        }
        if let Some(dir) = self.replay_dir {
            config.replay_dir = dir;
        }
        if let Some(grounding) = self.grounding {
            config.grounding = grounding;
        }
    }
}

pub(super) async fn get_config(State(shared): State<Arc<Shared>>) -> Response {
    Json(ConfigView::from(&shared.lock().config)).into_response()
}

/// Applies the patch and answers with the resulting config.
pub(super) async fn patch_config(State(shared): State<Arc<Shared>>, body: Bytes) -> Response {
    let patch: ConfigPatch = match serde_json::from_slice(&body) {
        Ok(patch) => patch,
        Err(e) => return bad_request(format!("not a config patch: {e}")),
    };
    let replies = [
        patch.reply.is_some(),
        patch.echo == Some(true),
        patch.rounds.is_some(),
    ];
    if replies.into_iter().filter(|given| *given).count() > 1 {
        return bad_request("give one of reply, echo: true or rounds, not several");
    }
    let mut state = shared.lock();
    patch.apply(&mut state.config);
    Json(ConfigView::from(&state.config)).into_response()
}

pub(super) async fn get_requests(State(shared): State<Arc<Shared>>) -> Response {
    Json(shared.lock().requests.clone()).into_response()
}

pub(super) async fn clear_requests(State(shared): State<Arc<Shared>>) -> StatusCode {
    shared.lock().requests.clear();
    StatusCode::NO_CONTENT
}

pub(super) async fn stats(State(shared): State<Arc<Shared>>) -> Response {
    let state = shared.lock();
    Json(json!({
        "requests": state.requests.len(),
        "token_requests": state.token_requests,
        "completed_streams": shared.completed.load(Ordering::SeqCst),
        "dropped_streams": shared.dropped.load(Ordering::SeqCst),
        "queued_faults": state.faults.len()
            + state.model_faults.values().map(std::collections::VecDeque::len).sum::<usize>(),
    }))
    .into_response()
}

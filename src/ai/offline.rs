//! The keyless model used when no Gemini key is configured.
//!
//! Smart commands do not need a model, so Ballsy is useful without one; open questions get an
//! honest sentence, written for the person asking (not for the operator: how to turn Gemini on
//! is in the start-up log and in `GET /api/session`). The answer is streamed in a few pieces
//! like a real one, so the page's streaming path is exercised in local development and in tests
//! without any network.

use std::time::Duration;

use bytes::Bytes;
use futures_util::future::BoxFuture;

use super::{
    AiError, ChatEvent, ChatModel, ChatRequest, ChatStream, Completion, FinishReason, Usage,
};
use crate::conversation::Source;

pub const OFFLINE_MODEL_NAME: &str = "offline";

pub const OFFLINE_ANSWER: &str = "Open questions aren't available on this server, but I can do commands right now. \
Try \"play lofi on YouTube\", \"directions to the airport\", \"what's 15% of 240\" or \"what time is it\". \
Say \"help\" to hear everything I can do.";

/// For operators (logs and `GET /api/session`), never spoken.
pub const OPERATOR_HINT: &str = "No model is configured: set GEMINI_API_KEY (or GEMINI_BACKEND=vertex) to answer open questions with Gemini.";

#[derive(Debug, Clone)]
pub struct OfflineModel {
    /// Pause between streamed pieces.
    pub delay: Duration,
}

impl Default for OfflineModel {
    fn default() -> Self {
        Self {
            delay: Duration::from_millis(40),
        }
    }
}

impl ChatModel for OfflineModel {
    fn source(&self) -> Source {
        Source::Offline
    }

    fn model_name(&self) -> &str {
        OFFLINE_MODEL_NAME
    }

    fn stream_chat(&self, _request: ChatRequest) -> ChatStream {
        let delay = self.delay;
        Box::pin(async_stream::stream! {
            // One piece per sentence: the page speaks sentence by sentence.
            for sentence in OFFLINE_ANSWER.split_inclusive(". ") {
                tokio::time::sleep(delay).await;
                yield Ok(ChatEvent::Delta(sentence.to_owned()));
            }
            yield Ok(ChatEvent::Done(Completion {
                finish: FinishReason::Stop,
                usage: Usage::default(),
                model: OFFLINE_MODEL_NAME.to_owned(),
            }));
        })
    }

    fn transcribe(
        &self,
        _audio: Bytes,
        _mime_type: String,
    ) -> BoxFuture<'static, Result<String, AiError>> {
        Box::pin(async { Err(AiError::Offline) })
    }
}

#[cfg(test)]
mod tests {
    use futures_util::StreamExt;

    use super::*;

    #[tokio::test]
    async fn streams_the_offline_answer_in_several_pieces() {
        let model = OfflineModel {
            delay: Duration::ZERO,
        };
        let events: Vec<_> = model
            .stream_chat(ChatRequest::new(String::new(), vec![], "why?".into()))
            .collect()
            .await;
        let deltas: Vec<String> = events
            .iter()
            .filter_map(|e| match e {
                Ok(ChatEvent::Delta(d)) => Some(d.clone()),
                _ => None,
            })
            .collect();
        assert!(deltas.len() >= 3, "{deltas:?}");
        assert_eq!(deltas.concat(), OFFLINE_ANSWER);
        assert!(matches!(events.last(), Some(Ok(ChatEvent::Done(_)))));
        assert!(
            !OFFLINE_ANSWER.contains("GEMINI"),
            "the offline answer is for users, not operators"
        );
    }

    #[tokio::test]
    async fn cannot_transcribe() {
        let err = OfflineModel::default()
            .transcribe(Bytes::from_static(b"RIFF"), "audio/wav".into())
            .await
            .unwrap_err();
        assert_eq!(err, AiError::Offline);
    }
}

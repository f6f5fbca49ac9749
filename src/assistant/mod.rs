//! The assistant's command engine: decides what a spoken or typed command means and
//! produces the reply, the browser action, or the question to put to the language model.
//!
//! Pure: no I/O, no clock, no randomness. Everything a rule depends on arrives in
//! [`Context`]; everything it wants persisted leaves in [`Reply`].

pub mod clock;
pub mod commands;
pub mod duration;
mod lexer;
pub mod math;
pub mod numbers;
pub mod persona;
mod sites;
pub mod text;
pub mod timers;
pub mod units;

pub use commands::{Chained, about_current_events, failure_fallback, route, uncertain_fallback};

/// Everything a command may depend on besides its text. Built by the caller.
#[derive(Debug, Clone, Copy)]
pub struct Context {
    pub now: chrono::DateTime<chrono::Utc>,
    /// The user's IANA zone if the client sent a valid one; None means UTC.
    pub timezone: Option<chrono_tz::Tz>,
}

/// What to do with a command. The command is classified once: a chained calculation comes
/// back as `Continue`, and only then does the caller load the previous result.
#[derive(Debug, Clone, PartialEq)]
pub enum Routed {
    /// Answered by a rule; no language model needed.
    Reply(Reply),
    /// A calculation that continues the user's last result.
    Continue(Chained),
    /// A skill that needs the database or the network (see `crate::skills`).
    Skill(SkillRequest),
    /// Needs the language model.
    Ask(Question),
}

#[derive(Debug, Clone, PartialEq)]
pub struct Reply {
    pub response: String,
    pub action: Option<Action>,
    /// Which rule produced it: "greeting", "name", "how_are_you", "exit", "time", "date",
    /// "math", "search", "youtube", "spotify", "netflix", "amazon", "twitter", "facebook",
    /// "instagram", "google", "maps", "directions", "news", "email", "open_site", "open_app",
    /// "open_what", "ask_what", "uncertain_search".
    pub rule: &'static str,
    /// Some(new value) when a calculation succeeded: the caller persists it as the user's
    /// new last result.
    pub calculation: Option<math::Number>,
}

impl Reply {
    pub(crate) fn say(rule: &'static str, response: impl Into<String>) -> Reply {
        Reply {
            response: response.into(),
            action: None,
            rule,
            calculation: None,
        }
    }

    pub(crate) fn act(rule: &'static str, response: impl Into<String>, action: Action) -> Reply {
        Reply {
            action: Some(action),
            ..Reply::say(rule, response)
        }
    }
}

/// Something for the browser to do (or show) alongside the spoken reply.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub enum Action {
    OpenUrl {
        url: String,
        description: String,
    },
    Search {
        query: String,
    },
    OpenApp {
        app_name: String,
    },
    Exit,
    /// A timer, alarm or reminder was set; the page shows its countdown.
    Timer(TimerCard),
    /// These timers were cancelled.
    TimerCancelled {
        ids: Vec<i64>,
    },
    /// A weather card (`weather::card`).
    Weather {
        card: serde_json::Value,
    },
    /// The weather needs a place: the page may ask for the browser's location and send the
    /// question again with it.
    NeedLocation,
    /// An answer grounded in Google Search: its sources, and Google's Search Suggestion chip
    /// (HTML to show exactly as provided).
    Grounded {
        sources: Vec<GroundingSource>,
        search_suggestions: Option<String>,
    },
}

#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct TimerCard {
    pub id: i64,
    /// `timer`, `alarm` or `reminder`.
    pub kind: String,
    pub label: String,
    /// RFC 3339, UTC.
    pub due_at: chrono::DateTime<chrono::Utc>,
    pub duration_s: i64,
}

#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct GroundingSource {
    pub title: String,
    pub uri: String,
}

impl Action {
    /// The wire name: "open_url", "search", "open_app", "exit", "timer", "timer_cancelled",
    /// "weather", "need_location" or "grounded".
    pub fn kind(&self) -> &'static str {
        match self {
            Action::OpenUrl { .. } => "open_url",
            Action::Search { .. } => "search",
            Action::OpenApp { .. } => "open_app",
            Action::Exit => "exit",
            Action::Timer(_) => "timer",
            Action::TimerCancelled { .. } => "timer_cancelled",
            Action::Weather { .. } => "weather",
            Action::NeedLocation => "need_location",
            Action::Grounded { .. } => "grounded",
        }
    }

    /// Reads back what `kind` and `data` wrote (stored turns); None for an unknown kind.
    pub fn from_parts(kind: &str, data: &serde_json::Value) -> Option<Action> {
        let text = |key: &str| {
            data.get(key)
                .and_then(serde_json::Value::as_str)
                .map(str::to_owned)
        };
        Some(match kind {
            "open_url" => Action::OpenUrl {
                url: text("url")?,
                description: text("description").unwrap_or_default(),
            },
            "search" => Action::Search {
                query: text("query")?,
            },
            "open_app" => Action::OpenApp {
                app_name: text("app_name")?,
            },
            "exit" => Action::Exit,
            "timer" => Action::Timer(serde_json::from_value(data.clone()).ok()?),
            "timer_cancelled" => Action::TimerCancelled {
                ids: serde_json::from_value(data.get("ids")?.clone()).ok()?,
            },
            "weather" => Action::Weather { card: data.clone() },
            "need_location" => Action::NeedLocation,
            "grounded" => Action::Grounded {
                sources: serde_json::from_value(data.get("sources")?.clone()).ok()?,
                search_suggestions: text("search_suggestions"),
            },
            _ => return None,
        })
    }

    /// The `data` object: the predecessor's open_url {"url","description"}, search {"query"},
    /// open_app {"app_name"}, exit → null; and timer {"id","kind","label","due_at",
    /// "duration_s"}, timer_cancelled {"ids"}, weather (the card), need_location → null,
    /// grounded {"sources","search_suggestions"}.
    pub fn data(&self) -> serde_json::Value {
        match self {
            Action::OpenUrl { url, description } => {
                serde_json::json!({ "url": url, "description": description })
            }
            Action::Search { query } => serde_json::json!({ "query": query }),
            Action::OpenApp { app_name } => serde_json::json!({ "app_name": app_name }),
            Action::Exit | Action::NeedLocation => serde_json::Value::Null,
            Action::Timer(card) => serde_json::to_value(card).unwrap_or_default(),
            Action::TimerCancelled { ids } => serde_json::json!({ "ids": ids }),
            Action::Weather { card } => card.clone(),
            Action::Grounded {
                sources,
                search_suggestions,
            } => serde_json::json!({
                "sources": sources,
                "search_suggestions": search_suggestions,
            }),
        }
    }
}

/// What a skill is asked to do, as the rules understood the command.
#[derive(Debug, Clone, PartialEq)]
pub enum SkillRequest {
    Timer(timers::TimerIntent),
    Weather(crate::weather::WeatherQuestion),
}

/// A command that needs the language model.
#[derive(Debug, Clone, PartialEq)]
pub struct Question {
    /// The user's command, trimmed.
    pub text: String,
    pub kind: QuestionKind,
}

#[derive(Debug, Clone, PartialEq)]
pub enum QuestionKind {
    /// Anything no rule handles.
    General,
    /// "who is …", "what is …", "tell me about …": `subject` is what follows the phrase.
    WhoWhat { subject: String, is_person: bool },
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn action_kinds_and_data_match_the_predecessor_wire_format() {
        let open = Action::OpenUrl {
            url: "https://example.com".into(),
            description: "Example".into(),
        };
        assert_eq!(open.kind(), "open_url");
        assert_eq!(
            open.data(),
            json!({"url": "https://example.com", "description": "Example"})
        );
        let search = Action::Search {
            query: "rust".into(),
        };
        assert_eq!(search.kind(), "search");
        assert_eq!(search.data(), json!({"query": "rust"}));
        let app = Action::OpenApp {
            app_name: "Calculator".into(),
        };
        assert_eq!(app.kind(), "open_app");
        assert_eq!(app.data(), json!({"app_name": "Calculator"}));
        assert_eq!(Action::Exit.kind(), "exit");
        assert_eq!(Action::Exit.data(), serde_json::Value::Null);
        let timer = Action::Timer(TimerCard {
            id: 7,
            kind: "timer".into(),
            label: "pasta".into(),
            due_at: chrono::DateTime::from_timestamp(1_800_000_000, 0).unwrap(),
            duration_s: 480,
        });
        assert_eq!(
            timer.data(),
            json!({"id": 7, "kind": "timer", "label": "pasta", "due_at": "2027-01-15T08:00:00Z", "duration_s": 480})
        );
        let cancelled = Action::TimerCancelled { ids: vec![1, 2] };
        for action in [
            open,
            search,
            app,
            Action::Exit,
            timer,
            cancelled,
            Action::NeedLocation,
        ] {
            assert_eq!(
                Action::from_parts(action.kind(), &action.data()),
                Some(action.clone())
            );
        }
        assert_eq!(Action::from_parts("teleport", &json!({})), None);
    }
}

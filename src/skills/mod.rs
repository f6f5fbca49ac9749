//! Everyday skills — timers, alarms and reminders, the weather, unit conversions, the
//! calculator, opening sites and searching — behind one registry that every path uses: a rule
//! that understood the command (`assistant::route` → `SkillRequest`), a Gemini function call
//! (`declarations` and `call`), and a Live session's tool call (the same `call`).
//!
//! Each skill has its rule phrasings (the pure parsers in `assistant` and `weather`), its
//! function declaration below, and its executor; the executor is the only place its work is
//! done, so "set a timer for 10 minutes" typed, asked in other words of the model, or said in a
//! Live session makes the same timer and the same card.

pub mod timers;
pub mod weather;

use std::sync::{Arc, LazyLock};

use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use serde_json::{Value, json};

use crate::ai::Tools;
use crate::assistant::math::{self, Number};
use crate::assistant::{self, Action, Context, Routed, SkillRequest, units};
use crate::hub::Hub;
use crate::store::{Store, UserId};
use crate::weather::WeatherClient;

pub use self::timers::TimerSweeper;
pub use self::weather::Coordinates;

/// Who asks, and where they are.
#[derive(Debug, Clone, Copy)]
pub struct SkillContext<'a> {
    pub user: &'a UserId,
    pub now: DateTime<Utc>,
    /// The user's zone (None: UTC).
    pub timezone: Option<Tz>,
    /// The browser's position, when the user let the page share it for a weather question.
    pub location: Option<Coordinates>,
}

impl SkillContext<'_> {
    pub fn zone(&self) -> Tz {
        self.timezone.unwrap_or(chrono_tz::UTC)
    }
}

/// What a skill did: the sentence for the user, what the page should show, and the result
/// a model is given (`functionResponse.response`).
#[derive(Debug, Clone, PartialEq)]
pub struct SkillOutcome {
    pub spoken: String,
    pub action: Option<Action>,
    /// The rule that answered (stored as the turn's `answered_by`).
    pub rule: &'static str,
    pub result: Value,
}

impl SkillOutcome {
    pub fn said(rule: &'static str, spoken: impl Into<String>) -> Self {
        let spoken = spoken.into();
        SkillOutcome {
            result: json!({"status": "ok", "said_to_user": spoken}),
            spoken,
            action: None,
            rule,
        }
    }

    pub fn with_action(mut self, action: Action) -> Self {
        self.result["action"] = json!(action.kind());
        self.result["data"] = action.data();
        self.action = Some(action);
        self
    }

    /// A failure the model should not retry (3.8 Live repeats calls that return nothing
    /// useful; an explicit status stops that).
    pub fn refused(rule: &'static str, spoken: impl Into<String>) -> Self {
        let spoken = spoken.into();
        SkillOutcome {
            result: json!({"status": "error", "retryable": false, "message": spoken}),
            spoken,
            action: None,
            rule,
        }
    }
}

#[derive(Clone)]
pub struct Skills {
    inner: Arc<Inner>,
}

struct Inner {
    store: Store,
    weather: WeatherClient,
    hub: Hub,
    sweeper: TimerSweeper,
}

static TOOLS: LazyLock<Arc<Tools>> =
    LazyLock::new(|| Arc::new(Tools::new(Skills::build_declarations())));

impl Skills {
    pub fn new(store: Store, weather: WeatherClient, hub: Hub) -> Self {
        let sweeper = TimerSweeper::new(store.clone(), hub.clone());
        Self {
            inner: Arc::new(Inner {
                store,
                weather,
                hub,
                sweeper,
            }),
        }
    }

    pub fn sweeper(&self) -> &TimerSweeper {
        &self.inner.sweeper
    }

    pub fn hub(&self) -> &Hub {
        &self.inner.hub
    }

    /// Runs what a rule understood.
    pub async fn run(&self, request: SkillRequest, ctx: &SkillContext<'_>) -> SkillOutcome {
        match request {
            SkillRequest::Timer(intent) => {
                timers::run(&self.inner.store, &self.inner.sweeper, intent, ctx).await
            }
            SkillRequest::Weather(question) => {
                weather::run(&self.inner.store, &self.inner.weather, question, ctx).await
            }
        }
    }

    /// The function declarations of every skill, built once.
    pub fn tools() -> Arc<Tools> {
        TOOLS.clone()
    }

    pub fn declarations() -> &'static [Value] {
        TOOLS.declarations()
    }

    /// For `tools[].functionDeclarations`. Flat schemas (scalars and enums): nested arguments
    /// are what makes Gemini produce MALFORMED_FUNCTION_CALL.
    fn build_declarations() -> Vec<Value> {
        let mut declarations = timers::declarations();
        declarations.push(weather::declaration());
        declarations.extend([
            json!({
                "name": "convert_units",
                "description": "Convert an amount between units of length, mass, volume (US cups, tablespoons, teaspoons, fluid ounces, litres), temperature, speed, area, data size or duration, exactly.",
                "parameters": {"type": "object", "properties": {
                    "amount": {"type": "number"},
                    "from_unit": {"type": "string", "description": "e.g. miles, kg, fahrenheit, cups"},
                    "to_unit": {"type": "string", "description": "e.g. km, pounds, celsius, ml"}
                }, "required": ["amount", "from_unit", "to_unit"]}
            }),
            json!({
                "name": "calculate",
                "description": "Evaluate arithmetic exactly (+, -, *, /, powers, percentages, parentheses). Use it instead of doing arithmetic yourself; it can continue the user's previous result when the expression starts with an operator (\"* 2\").",
                "parameters": {"type": "object", "properties": {
                    "expression": {"type": "string", "description": "e.g. 15% of 240, (3 + 4) * 2"}
                }, "required": ["expression"]}
            }),
            json!({
                "name": "open_site",
                "description": "Open a website or app page for the user, optionally searching or playing something there: YouTube, Spotify, Netflix, Amazon, maps, directions, news, email.",
                "parameters": {"type": "object", "properties": {
                    "site": {"type": "string", "description": "e.g. youtube, spotify, maps, netflix"},
                    "query": {"type": "string", "description": "what to search or play there, if anything"}
                }, "required": ["site"]}
            }),
            json!({
                "name": "web_search",
                "description": "Offer the user a web search for something you cannot answer yourself.",
                "parameters": {"type": "object", "properties": {
                    "query": {"type": "string"}
                }, "required": ["query"]}
            }),
        ]);
        declarations
    }

    /// Runs a function call from the model (or a Live session's tool call).
    pub async fn call(&self, name: &str, args: &Value, ctx: &SkillContext<'_>) -> SkillOutcome {
        let text = |key: &str| {
            args.get(key)
                .and_then(Value::as_str)
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(str::to_owned)
        };
        match name {
            "set_timer" | "cancel_timers" | "list_timers" | "timer_time_left" => {
                match timers::intent_from_call(name, args) {
                    Ok(intent) => {
                        timers::run(&self.inner.store, &self.inner.sweeper, intent, ctx).await
                    }
                    Err(message) => SkillOutcome::refused("timer", message),
                }
            }
            "get_weather" => match weather::question_from_call(args) {
                Ok(question) => {
                    weather::run(&self.inner.store, &self.inner.weather, question, ctx).await
                }
                Err(message) => SkillOutcome::refused("weather", message),
            },
            "convert_units" => {
                let amount = args.get("amount").and_then(Value::as_f64);
                match (amount, text("from_unit"), text("to_unit")) {
                    (Some(amount), Some(from), Some(to)) => {
                        convert_units(&format!("convert {amount} {from} to {to}"))
                    }
                    _ => SkillOutcome::refused(
                        "convert",
                        "convert_units needs amount, from_unit and to_unit.",
                    ),
                }
            }
            "calculate" => match text("expression") {
                Some(expression) => self.calculate(&expression, ctx).await,
                None => SkillOutcome::refused("math", "calculate needs an expression."),
            },
            "open_site" => {
                let Some(site) = text("site") else {
                    return SkillOutcome::refused("open_site", "open_site needs a site.");
                };
                let command = match text("query") {
                    Some(query) => format!("{query} on {site}"),
                    None => format!("open {site}"),
                };
                site_action(&command, ctx)
            }
            "web_search" => match text("query") {
                Some(query) => {
                    SkillOutcome::said("search", format!("Here's a web search for {query}."))
                        .with_action(Action::Search { query })
                }
                None => SkillOutcome::refused("search", "web_search needs a query."),
            },
            other => {
                SkillOutcome::refused("unknown_tool", format!("There is no tool named {other}."))
            }
        }
    }

    async fn calculate(&self, expression: &str, ctx: &SkillContext<'_>) -> SkillOutcome {
        let previous = match self.inner.store.last_calculation(ctx.user).await {
            Ok(previous) => previous.and_then(|stored| Number::from_stored(&stored)),
            Err(error) => {
                tracing::warn!(%error, "could not read the last calculation");
                None
            }
        };
        match math::evaluate(expression, previous.as_ref()) {
            Ok(result) => {
                let mut outcome = SkillOutcome::said("math", result.to_string());
                outcome.result["exact"] = json!(result.to_stored());
                outcome
            }
            Err(error) => SkillOutcome::refused("math", error.sentence()),
        }
    }
}

fn convert_units(command: &str) -> SkillOutcome {
    let Some(request) = units::parse_conversion(command) else {
        return SkillOutcome::refused("convert", "I don't know one of those units.");
    };
    match units::convert(&request) {
        Ok(result) => {
            let mut outcome =
                SkillOutcome::said("convert", units::speak_conversion(&request, &result));
            outcome.result["exact"] = json!(result.to_stored());
            outcome
        }
        Err(error) => SkillOutcome::refused("convert", error.sentence()),
    }
}

/// The site rules' answer to a synthesized command ("lofi on youtube", "open maps").
fn site_action(command: &str, ctx: &SkillContext<'_>) -> SkillOutcome {
    let context = Context {
        now: ctx.now,
        timezone: ctx.timezone,
    };
    match assistant::route(command, &context) {
        Routed::Reply(reply) if reply.action.is_some() => {
            let mut outcome = SkillOutcome::said(reply.rule, reply.response);
            if let Some(action) = reply.action {
                outcome = outcome.with_action(action);
            }
            outcome
        }
        _ => SkillOutcome::refused("open_site", "I don't know that site."),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_declaration_is_flat_and_named_once() {
        let declarations = Skills::declarations();
        let mut names = std::collections::HashSet::new();
        for declaration in declarations {
            let name = declaration["name"].as_str().unwrap();
            assert!(names.insert(name), "{name} twice");
            assert!(
                declaration["description"]
                    .as_str()
                    .is_some_and(|d| d.len() > 20)
            );
            for (property, schema) in declaration["parameters"]["properties"].as_object().unwrap() {
                let kind = schema["type"].as_str().unwrap_or_default();
                assert!(
                    ["string", "number", "integer", "boolean"].contains(&kind),
                    "{name}.{property} is {kind}: keep schemas flat"
                );
            }
        }
        for expected in [
            "set_timer",
            "cancel_timers",
            "list_timers",
            "get_weather",
            "convert_units",
            "calculate",
            "open_site",
            "web_search",
        ] {
            assert!(names.contains(expected), "{expected}");
        }
    }

    #[test]
    fn conversions_and_sites_reuse_the_rules() {
        let user = UserId::from_raw("u");
        let ctx = SkillContext {
            user: &user,
            now: Utc::now(),
            timezone: None,
            location: None,
        };
        let converted = convert_units("convert 5 miles to km");
        assert_eq!(converted.spoken, "5 miles is 8.05 kilometres.");
        let site = site_action("lofi on youtube", &ctx);
        assert!(
            matches!(site.action, Some(Action::OpenUrl { .. })),
            "{site:?}"
        );
        assert_eq!(site.result["action"], "open_url");
    }
}

//! The weather skill: where (the place named; else the user's home city; else the browser's
//! position if the user lets the page share it; else "Which city?"), in the user's units, from
//! Open-Meteo, spoken and shown as a card. Upstream trouble becomes an apology, never an error.

use chrono::Weekday;
use serde_json::{Value, json};

use super::{SkillContext, SkillOutcome};
use crate::assistant::Action;
use crate::store::{Settings, Store, UnitSystem};
use crate::weather::{
    Place, Units, WeatherAspect, WeatherClient, WeatherQuestion, WeatherWhen, card, speak,
};

/// A position the browser shared.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Coordinates {
    pub latitude: f64,
    pub longitude: f64,
}

impl Coordinates {
    /// Valid coordinates only.
    pub fn new(latitude: f64, longitude: f64) -> Option<Self> {
        ((-90.0..=90.0).contains(&latitude) && (-180.0..=180.0).contains(&longitude)).then_some(
            Self {
                latitude,
                longitude,
            },
        )
    }
}

const WHICH_CITY: &str =
    "Which city? Say something like \"weather in Boston\", or let me use your location.";

pub async fn run(
    store: &Store,
    client: &WeatherClient,
    question: WeatherQuestion,
    ctx: &SkillContext<'_>,
) -> SkillOutcome {
    let settings = match store.settings(ctx.user).await {
        Ok(settings) => settings,
        Err(error) => {
            tracing::warn!(%error, "weather: could not read settings; using defaults");
            Settings::default()
        }
    };
    let language = settings
        .language
        .split('-')
        .next()
        .unwrap_or("en")
        .to_owned();
    let place = match (&question.place, settings.home_city.trim(), ctx.location) {
        (Some(named), _, _) => client.geocode(named, &language).await,
        (None, home, _) if !home.is_empty() => client.geocode(home, &language).await,
        (None, _, Some(position)) => Ok(Place {
            name: "your location".into(),
            admin1: None,
            country: None,
            latitude: position.latitude,
            longitude: position.longitude,
            timezone: None,
        }),
        (None, _, None) => {
            return SkillOutcome::said("weather", WHICH_CITY).with_action(Action::NeedLocation);
        }
    };
    let place = match place {
        Ok(place) => place,
        Err(error) => {
            tracing::info!(%error, kind = error.kind(), "weather: no place");
            return SkillOutcome::refused("weather", error.sentence());
        }
    };
    let units = match settings.units.resolve(&settings.language) {
        UnitSystem::Imperial => Units::Imperial,
        _ => Units::Metric,
    };
    match client.forecast(&place, units).await {
        Ok(forecast) => {
            let spoken = speak(&question, &forecast, ctx.now);
            SkillOutcome::said("weather", spoken).with_action(Action::Weather {
                card: card(&forecast, ctx.now),
            })
        }
        Err(error) => {
            tracing::warn!(%error, kind = error.kind(), "weather: the forecast failed");
            SkillOutcome::refused("weather", error.sentence())
        }
    }
}

pub fn declaration() -> Value {
    json!({
        "name": "get_weather",
        "description": "Current weather and forecast (up to 7 days). Leave place empty for the user's own place. Never guess the weather; call this.",
        "parameters": {"type": "object", "properties": {
            "place": {"type": "string", "description": "a city, e.g. Boston or Paris, Texas"},
            "when": {"type": "string", "enum": ["now", "today", "tonight", "tomorrow", "weekend", "this_morning", "this_afternoon", "next_hours", "monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"]},
            "aspect": {"type": "string", "enum": ["general", "rain", "snow", "temperature", "wind", "umbrella"]}
        }}
    })
}

pub fn question_from_call(args: &Value) -> Result<WeatherQuestion, String> {
    let when = match args.get("when").and_then(Value::as_str).unwrap_or("now") {
        "now" => WeatherWhen::Now,
        "today" => WeatherWhen::Today,
        "tonight" => WeatherWhen::Tonight,
        "tomorrow" => WeatherWhen::Tomorrow,
        "weekend" => WeatherWhen::Weekend,
        "this_morning" => WeatherWhen::ThisMorning,
        "this_afternoon" => WeatherWhen::ThisAfternoon,
        "next_hours" => WeatherWhen::NextHours,
        "monday" => WeatherWhen::Weekday(Weekday::Mon),
        "tuesday" => WeatherWhen::Weekday(Weekday::Tue),
        "wednesday" => WeatherWhen::Weekday(Weekday::Wed),
        "thursday" => WeatherWhen::Weekday(Weekday::Thu),
        "friday" => WeatherWhen::Weekday(Weekday::Fri),
        "saturday" => WeatherWhen::Weekday(Weekday::Sat),
        "sunday" => WeatherWhen::Weekday(Weekday::Sun),
        other => return Err(format!("when {other} is not one of the listed values.")),
    };
    let aspect = match args
        .get("aspect")
        .and_then(Value::as_str)
        .unwrap_or("general")
    {
        "general" => WeatherAspect::General,
        "rain" => WeatherAspect::Rain,
        "snow" => WeatherAspect::Snow,
        "temperature" => WeatherAspect::Temperature,
        "wind" => WeatherAspect::Wind,
        "umbrella" => WeatherAspect::Umbrella,
        other => return Err(format!("aspect {other} is not one of the listed values.")),
    };
    let place = args
        .get("place")
        .and_then(Value::as_str)
        .map(str::trim)
        .filter(|p| !p.is_empty() && p.chars().count() <= 100)
        .map(str::to_owned);
    Ok(WeatherQuestion {
        place,
        when,
        aspect,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn calls_map_onto_questions() {
        let question =
            question_from_call(&json!({"place": "Paris", "when": "weekend", "aspect": "rain"}))
                .unwrap();
        assert_eq!(question.place.as_deref(), Some("Paris"));
        assert_eq!(question.when, WeatherWhen::Weekend);
        assert_eq!(question.aspect, WeatherAspect::Rain);
        assert!(question_from_call(&json!({"when": "someday"})).is_err());
        assert_eq!(
            question_from_call(&json!({})).unwrap().when,
            WeatherWhen::Now
        );
        assert!(Coordinates::new(91.0, 0.0).is_none());
    }
}

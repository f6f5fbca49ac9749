//! The weather skill: a client for Open-Meteo's keyless forecast and geocoding APIs, a parser
//! for spoken weather questions, and the spoken answer and page card built from a forecast.
//!
//! - [`WeatherClient`] does the I/O: `geocode` turns "Paris, Texas" into a [`Place`],
//!   `forecast` fetches current conditions, 7 days of hourly data and 7 daily summaries. Both
//!   cache their answers and turn every failure into a [`WeatherError`] (never a panic).
//! - [`parse_weather_question`], [`speak`] and [`card`] are pure: no I/O, no clock (the caller
//!   passes `now`).
//!
//! Open-Meteo's free API is for non-commercial use and its data is licensed CC BY 4.0, which
//! asks for a visible credit next to the data: [`ATTRIBUTION_TEXT`] and [`ATTRIBUTION_URL`]
//! (terms: <https://open-meteo.com/en/terms>, licence: <https://open-meteo.com/en/license>).

mod cache;
mod client;
mod conditions;
mod question;
mod speech;
mod wire;

use std::time::Duration;

use chrono::{DateTime, FixedOffset, NaiveDate, Utc};
use serde::Serialize;

pub use client::WeatherClient;
pub use conditions::{Condition, describe_weather_code};
pub use question::{WeatherAspect, WeatherQuestion, WeatherWhen, parse_weather_question};
pub use speech::{card, speak};

pub const DEFAULT_FORECAST_BASE_URL: &str = "https://api.open-meteo.com";
pub const DEFAULT_GEOCODING_BASE_URL: &str = "https://geocoding-api.open-meteo.com";
/// The credit Open-Meteo's licence asks to show next to its data, and where it links.
pub const ATTRIBUTION_TEXT: &str = "Weather data by Open-Meteo.com";
pub const ATTRIBUTION_URL: &str = "https://open-meteo.com/";
/// Days requested from `/v1/forecast` (today included). Seven is the API's default and the
/// smallest count that always contains the coming Saturday and Sunday and every weekday, so
/// "this weekend" and "on Friday" can be answered from one cached response.
pub const FORECAST_DAYS: u32 = 7;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WeatherConfig {
    /// Scheme and host of the forecast API, without a path (`/v1/forecast` is appended).
    pub forecast_base_url: String,
    /// Scheme and host of the geocoding API, without a path (`/v1/search` is appended).
    pub geocoding_base_url: String,
    /// Total time for one HTTP request, connecting and reading the body included.
    pub timeout: Duration,
    /// How long a forecast is reused for the same place and units. Open-Meteo refreshes
    /// current conditions every 15 minutes, so 10 minutes costs little freshness.
    pub forecast_ttl: Duration,
    /// How long a geocoding answer (found or not found) is reused. Places do not move.
    pub geocode_ttl: Duration,
    /// Entries per cache (forecasts and places each); when full, expired entries go first,
    /// then the oldest.
    pub cache_capacity: usize,
}

impl Default for WeatherConfig {
    fn default() -> Self {
        Self {
            forecast_base_url: DEFAULT_FORECAST_BASE_URL.to_owned(),
            geocoding_base_url: DEFAULT_GEOCODING_BASE_URL.to_owned(),
            timeout: Duration::from_secs(3),
            forecast_ttl: Duration::from_secs(10 * 60),
            geocode_ttl: Duration::from_secs(24 * 60 * 60),
            cache_capacity: 512,
        }
    }
}

/// Metric: °C, km/h, mm. Imperial: °F, mph, inches.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Units {
    #[default]
    Metric,
    Imperial,
}

impl Units {
    pub fn as_str(self) -> &'static str {
        match self {
            Units::Metric => "metric",
            Units::Imperial => "imperial",
        }
    }

    /// Open-Meteo's `temperature_unit`.
    pub fn temperature_unit(self) -> &'static str {
        match self {
            Units::Metric => "celsius",
            Units::Imperial => "fahrenheit",
        }
    }

    /// Open-Meteo's `wind_speed_unit`.
    pub fn wind_speed_unit(self) -> &'static str {
        match self {
            Units::Metric => "kmh",
            Units::Imperial => "mph",
        }
    }

    /// Open-Meteo's `precipitation_unit`.
    pub fn precipitation_unit(self) -> &'static str {
        match self {
            Units::Metric => "mm",
            Units::Imperial => "inch",
        }
    }

    /// The symbol shown on the card.
    pub fn temperature_symbol(self) -> &'static str {
        match self {
            Units::Metric => "°C",
            Units::Imperial => "°F",
        }
    }

    pub fn wind_speed_symbol(self) -> &'static str {
        match self {
            Units::Metric => "km/h",
            Units::Imperial => "mph",
        }
    }
}

/// A geocoded place.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Place {
    pub name: String,
    /// State, region or province ("Texas", "Île-de-France").
    pub admin1: Option<String>,
    pub country: Option<String>,
    pub latitude: f64,
    pub longitude: f64,
    /// IANA zone ("America/Chicago") as the geocoder reports it.
    pub timezone: Option<String>,
}

impl Place {
    /// "Paris, Texas, United States": the name and whichever of region and country are
    /// known and different from the name.
    pub fn display_name(&self) -> String {
        let mut parts = vec![self.name.as_str()];
        for extra in [self.admin1.as_deref(), self.country.as_deref()]
            .into_iter()
            .flatten()
        {
            if !extra.is_empty() && !parts.iter().any(|part| part.eq_ignore_ascii_case(extra)) {
                parts.push(extra);
            }
        }
        parts.join(", ")
    }
}

/// One forecast answer. Times are local to the place (`timezone=auto`) and carry their UTC
/// offset, so they compare correctly with any other instant.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Forecast {
    pub place: Place,
    pub units: Units,
    /// The zone Open-Meteo resolved for the coordinates ("America/New_York"; "GMT" if none).
    pub timezone: String,
    /// The zone's offset now, as Open-Meteo reports it; used when `timezone` is not a zone
    /// chrono-tz knows.
    pub utc_offset_seconds: i32,
    pub current: Current,
    /// Hour by hour from 00:00 local today, [`FORECAST_DAYS`] days long.
    pub hourly: Vec<Hour>,
    /// One entry per day from today.
    pub daily: Vec<Day>,
}

impl Forecast {
    /// `instant` on the place's clock.
    pub fn local_time(&self, instant: DateTime<Utc>) -> DateTime<FixedOffset> {
        match self.timezone.parse::<chrono_tz::Tz>() {
            Ok(zone) => instant.with_timezone(&zone).fixed_offset(),
            Err(_) => instant.with_timezone(&self.fixed_offset()),
        }
    }

    pub fn day(&self, date: NaiveDate) -> Option<&Day> {
        self.daily.iter().find(|day| day.date == date)
    }

    fn fixed_offset(&self) -> FixedOffset {
        FixedOffset::east_opt(self.utc_offset_seconds)
            .unwrap_or_else(|| FixedOffset::east_opt(0).expect("zero is a valid offset"))
    }
}

/// Conditions now (Open-Meteo's `current`, a 15-minute value).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Current {
    pub time: DateTime<FixedOffset>,
    pub temperature: f64,
    /// Feels-like temperature.
    pub apparent_temperature: Option<f64>,
    /// WMO weather interpretation code (see [`describe_weather_code`]).
    pub weather_code: Option<u8>,
    pub wind_speed: Option<f64>,
    pub is_day: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Hour {
    /// The start of the hour, local time with offset.
    pub time: DateTime<FixedOffset>,
    pub temperature: Option<f64>,
    /// Chance of more than 0.1 mm in the preceding hour, 0–100. Missing for models without
    /// ensemble data (Open-Meteo then sends `null`).
    pub precipitation_probability: Option<u8>,
    pub weather_code: Option<u8>,
    pub wind_speed: Option<f64>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Day {
    pub date: NaiveDate,
    pub temperature_max: Option<f64>,
    pub temperature_min: Option<f64>,
    pub precipitation_probability_max: Option<u8>,
    /// The most severe condition of the day.
    pub weather_code: Option<u8>,
    pub wind_speed_max: Option<f64>,
    pub sunrise: Option<DateTime<FixedOffset>>,
    pub sunset: Option<DateTime<FixedOffset>>,
}

/// Why a weather answer could not be had. `Display` is for logs; [`WeatherError::sentence`]
/// is what the assistant says.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WeatherError {
    /// The geocoder knows no such place (the name as asked).
    #[error("no place called {0:?} was found")]
    NotFound(String),
    #[error("the weather service did not answer in time")]
    Timeout,
    /// Connection failures and error statuses, with Open-Meteo's `reason` when it sent one.
    #[error("the weather service failed: {0}")]
    Upstream(String),
    /// A 200 whose body is not the JSON we asked for.
    #[error("the weather service sent an unreadable answer: {0}")]
    BadResponse(String),
}

impl WeatherError {
    /// A short spoken apology. It never repeats upstream detail, which is for logs.
    pub fn sentence(&self) -> String {
        match self {
            WeatherError::NotFound(place) if !place.trim().is_empty() => {
                format!("Sorry, I couldn't find a place called {}.", place.trim())
            }
            WeatherError::NotFound(_) => "Sorry, I couldn't tell which place you meant.".into(),
            WeatherError::Timeout => {
                "Sorry, the weather service is taking too long to answer. Please try again in a moment."
                    .into()
            }
            WeatherError::Upstream(_) => {
                "Sorry, I can't reach the weather service right now. Please try again later.".into()
            }
            WeatherError::BadResponse(_) => {
                "Sorry, the weather service sent an answer I couldn't read. Please try again later."
                    .into()
            }
        }
    }

    /// A stable label for logs and metrics.
    pub fn kind(&self) -> &'static str {
        match self {
            WeatherError::NotFound(_) => "not_found",
            WeatherError::Timeout => "timeout",
            WeatherError::Upstream(_) => "upstream",
            WeatherError::BadResponse(_) => "bad_response",
        }
    }
}

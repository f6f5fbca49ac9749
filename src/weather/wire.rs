//! Open-Meteo's JSON, as typed structs that tolerate what the API leaves out.
//!
//! Forecast (`GET /v1/forecast`), documented under "JSON Return Object" at
//! <https://open-meteo.com/en/docs>:
//!
//! ```json
//! {"latitude": 42.36, "longitude": -71.06, "generationtime_ms": 0.9,
//!  "utc_offset_seconds": -14400, "timezone": "America/New_York",
//!  "timezone_abbreviation": "GMT-4", "elevation": 17.0,
//!  "current_units": {"time": "iso8601", "interval": "seconds", "temperature_2m": "°C", …},
//!  "current": {"time": "2026-04-04T09:00", "interval": 900, "temperature_2m": 12.5,
//!              "is_day": 1, "weather_code": 3, …},
//!  "hourly_units": {…}, "hourly": {"time": ["2026-04-04T00:00", …], "temperature_2m": [12.1, …]},
//!  "daily_units": {…}, "daily": {"time": ["2026-04-04", …], "sunrise": ["2026-04-04T06:31", …]}}
//! ```
//!
//! - With `timezone=auto` every time is local wall-clock time *without* an offset
//!   (`"2026-04-04T09:00"`, minutes, no seconds); `utc_offset_seconds` is the offset at the
//!   time of the request, so hours after a DST change are placed with the IANA `timezone`.
//! - Every variable is a parallel array aligned with `time`, and a value the models do not
//!   have is `null` rather than absent (e.g. `precipitation_probability` for models without
//!   ensembles: <https://github.com/open-meteo/open-meteo/issues/1631>).
//! - Codes and percentages are JSON integers in practice, but are read as numbers so that a
//!   `3.0` would not break a whole answer.
//! - Errors: HTTP 400 with `{"error": true, "reason": "Cannot initialize WeatherVariable from
//!   invalid String value tempeture_2m for key hourly"}` (same page, "Errors").
//!
//! Geocoding (`GET /v1/search`), documented at <https://open-meteo.com/en/docs/geocoding-api>:
//! `{"results": [{"id": 2950159, "name": "Berlin", "latitude": 52.52437, "longitude": 13.41053,
//! "elevation": 74.0, "feature_code": "PPLC", "country_code": "DE", "admin1_id": 2950157,
//! "timezone": "Europe/Berlin", "population": 3426354, "postcodes": ["10967"], "country_id":
//! 2921044, "country": "Deutschland", "admin1": "Berlin", …}], "generationtime_ms": 0.5}`.
//! "Empty fields are not returned": the response is protobuf-shaped JSON (see
//! <https://github.com/open-meteo/geocoding-api>, `GeocodingapiController.swift`), so
//! `admin2` and friends disappear when empty and a search without a match returns no
//! `results` key at all, just `{"generationtime_ms": …}`. The same 400 error body is used
//! for a bad `count` ("Parameter count must be between 1 and 100.").

use serde::Deserialize;
use serde_json::Value;

#[derive(Debug, Deserialize)]
pub(super) struct ErrorBody {
    #[serde(default)]
    pub error: bool,
    #[serde(default)]
    pub reason: Option<String>,
}

#[derive(Debug, Deserialize)]
pub(super) struct GeocodingResponse {
    /// Each result is kept as raw JSON and parsed on its own, so one odd entry (Open-Meteo
    /// has returned results without a `timezone`) does not lose the others.
    #[serde(default)]
    pub results: Option<Vec<Value>>,
}

#[derive(Debug, Clone, Deserialize)]
pub(super) struct GeoResult {
    pub name: String,
    pub latitude: f64,
    pub longitude: f64,
    #[serde(default)]
    pub country: Option<String>,
    #[serde(default)]
    pub country_code: Option<String>,
    #[serde(default)]
    pub admin1: Option<String>,
    #[serde(default)]
    pub admin2: Option<String>,
    #[serde(default)]
    pub admin3: Option<String>,
    #[serde(default)]
    pub timezone: Option<String>,
}

#[derive(Debug, Deserialize)]
pub(super) struct ForecastResponse {
    #[serde(default)]
    pub utc_offset_seconds: Option<i32>,
    #[serde(default)]
    pub timezone: Option<String>,
    #[serde(default)]
    pub current: Option<CurrentWire>,
    #[serde(default)]
    pub hourly: Option<HourlyWire>,
    #[serde(default)]
    pub daily: Option<DailyWire>,
}

#[derive(Debug, Deserialize)]
pub(super) struct CurrentWire {
    pub time: String,
    #[serde(default)]
    pub temperature_2m: Option<f64>,
    #[serde(default)]
    pub apparent_temperature: Option<f64>,
    #[serde(default)]
    pub weather_code: Option<f64>,
    #[serde(default)]
    pub wind_speed_10m: Option<f64>,
    /// 1 by day, 0 at night.
    #[serde(default)]
    pub is_day: Option<f64>,
}

#[derive(Debug, Default, Deserialize)]
pub(super) struct HourlyWire {
    #[serde(default)]
    pub time: Vec<String>,
    #[serde(default)]
    pub temperature_2m: Vec<Option<f64>>,
    #[serde(default)]
    pub precipitation_probability: Vec<Option<f64>>,
    #[serde(default)]
    pub weather_code: Vec<Option<f64>>,
    #[serde(default)]
    pub wind_speed_10m: Vec<Option<f64>>,
}

#[derive(Debug, Default, Deserialize)]
pub(super) struct DailyWire {
    #[serde(default)]
    pub time: Vec<String>,
    #[serde(default)]
    pub weather_code: Vec<Option<f64>>,
    #[serde(default)]
    pub temperature_2m_max: Vec<Option<f64>>,
    #[serde(default)]
    pub temperature_2m_min: Vec<Option<f64>>,
    #[serde(default)]
    pub precipitation_probability_max: Vec<Option<f64>>,
    #[serde(default)]
    pub wind_speed_10m_max: Vec<Option<f64>>,
    #[serde(default)]
    pub sunrise: Vec<Option<String>>,
    #[serde(default)]
    pub sunset: Vec<Option<String>>,
}

/// The `index`th value of a parallel array; a short array reads as missing values.
pub(super) fn at<T: Clone>(values: &[Option<T>], index: usize) -> Option<T> {
    values.get(index).cloned().flatten()
}

/// A code or percentage read as a number, if it is a whole number in `0..=255` after
/// rounding (anything else is treated as missing).
pub(super) fn small_integer(value: Option<f64>) -> Option<u8> {
    let value = value?.round();
    (value.is_finite() && (0.0..=255.0).contains(&value)).then_some(value as u8)
}

/// A finite measurement; infinities cannot come from JSON, but a guard costs nothing.
pub(super) fn finite(value: Option<f64>) -> Option<f64> {
    value.filter(|value| value.is_finite())
}

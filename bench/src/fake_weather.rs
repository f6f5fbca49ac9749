//! A fake Open-Meteo: `GET /v1/forecast` and `GET /v1/search` answering in Open-Meteo's
//! real JSON shapes, with scripted weather per city, scripted failures and a record of every
//! request, so the weather client can be tested without the network.
//!
//! Shapes follow Open-Meteo's documentation (<https://open-meteo.com/en/docs>, "JSON Return
//! Object" and "Errors"; <https://open-meteo.com/en/docs/geocoding-api>) and captured live
//! responses:
//!
//! - Forecast: `latitude`, `longitude`, `generationtime_ms`, `utc_offset_seconds`,
//!   `timezone`, `timezone_abbreviation` (`"GMT-4"` style, as the live API now sends),
//!   `elevation`, then `current_units`/`current` (with `time` and `interval: 900`),
//!   `hourly_units`/`hourly` and `daily_units`/`daily`, each present only when asked for and
//!   holding only the variables asked for. Times are local without an offset
//!   (`"2026-04-04T09:00"`), dates `"2026-04-04"`. Units follow the request (`"°F"`, `"mp/h"`,
//!   `"inch"`). An unknown variable or unit is a 400 with `{"error": true, "reason": …}`.
//! - Geocoding: `{"results": [...], "generationtime_ms": …}`, results ordered by population,
//!   empty fields left out, and no `results` key at all when nothing matches. Names match
//!   whole and case-insensitively; a name with a comma ("Paris, Texas") matches nothing, as
//!   on Open-Meteo before it learnt qualifiers, so a client has to split them itself.
//!
//! Fixture cities ([`FakeWeatherConfig::default`]): Boston, Paris (France), Paris (Texas),
//! Paris (Tennessee), New York and Austin, with GeoNames' coordinates and populations. Any
//! coordinates get a forecast (the nearest city's script within ~50 km, else a mild default);
//! any other name gets no results.
//!
//! In-process tests drive it through [`FakeWeather`]; browser tests run the `fake-weather`
//! binary and drive it over HTTP:
//!
//! | Route | Effect |
//! |---|---|
//! | `POST /__fake/faults?endpoint=forecast\|geocoding[&persistent=true]` | queue one [`WeatherFault`] or a JSON array of them (persistent: one fault for every request until cleared) |
//! | `DELETE /__fake/faults` | drop every fault |
//! | `GET /__fake/requests`, `DELETE /__fake/requests` | the recorded requests ([`RecordedWeatherRequest`] as JSON) |
//! | `GET /__fake/stats` | `{"forecast_requests", "geocoding_requests", "queued_faults"}` |
//! | `POST /__fake/now` | pin the clock: `{"now": "2026-04-08T14:05:00Z"}`, or `{"now": null}` for real time |
//!
//! Faults in JSON are tagged with `kind`: `{"kind": "status", "code": 500}`,
//! `{"kind": "status", "code": 400, "reason": "…"}`, `{"kind": "delay", "delay_ms": 5000}`,
//! `{"kind": "malformed_json"}`, `{"kind": "wrong_shape"}`.

use std::collections::VecDeque;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use anyhow::Context as _;
use axum::Router;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use chrono::{
    DateTime, Duration as ChronoDuration, NaiveDate, NaiveDateTime, Offset as _, Timelike as _, Utc,
};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// The two Open-Meteo services the fake stands in for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Endpoint {
    /// `GET /v1/forecast` (api.open-meteo.com).
    Forecast,
    /// `GET /v1/search` (geocoding-api.open-meteo.com).
    Geocoding,
}

/// A scripted failure for one request (or every request, see
/// [`FakeWeather::set_persistent_fault`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum WeatherFault {
    /// This HTTP status. With a `reason` the body is Open-Meteo's error object
    /// `{"error": true, "reason": …}`; without one it is a plain-text body, as a proxy in
    /// front of the API would send.
    Status {
        code: u16,
        #[serde(default)]
        reason: Option<String>,
    },
    /// Wait this long, then answer normally: longer than a client's timeout, it gives up.
    Delay { delay_ms: u64 },
    /// 200 with `application/json` and a body cut off mid-object.
    MalformedJson,
    /// 200 with valid JSON of the wrong shape (`{"results": "none", "current": 42}`).
    WrongShape,
}

/// Conditions a city reports. Temperatures in °C and wind in km/h; the fake converts when
/// the request asks for other units, as Open-Meteo does.
#[derive(Debug, Clone, PartialEq)]
pub struct CityWeather {
    pub temperature: f64,
    pub apparent_temperature: f64,
    pub weather_code: u8,
    pub wind_speed: f64,
    /// `None`: day from 06:00 to 20:00 local time.
    pub is_day: Option<bool>,
    /// Today first; days past the end repeat the last one.
    pub days: Vec<DayWeather>,
}

/// One day of a [`CityWeather`]. Hourly temperatures run from `min` at 05:00 to `max` at
/// 15:00 and back; hourly codes and probabilities are the day's unless overridden.
#[derive(Debug, Clone, PartialEq)]
pub struct DayWeather {
    pub min: f64,
    pub max: f64,
    pub weather_code: u8,
    /// The daily maximum, and each hour's probability unless overridden.
    pub precipitation_probability: u8,
    pub wind_speed_max: f64,
    /// Per local hour from 00:00: the hour's precipitation probability (shorter than 24:
    /// the remaining hours use `precipitation_probability`).
    pub hourly_precipitation_probability: Vec<u8>,
    /// Per local hour from 00:00: the hour's weather code (same rule, with `weather_code`).
    pub hourly_weather_code: Vec<u8>,
}

impl DayWeather {
    pub fn new(min: f64, max: f64, weather_code: u8, precipitation_probability: u8) -> Self {
        Self {
            min,
            max,
            weather_code,
            precipitation_probability,
            wind_speed_max: 15.0,
            hourly_precipitation_probability: Vec::new(),
            hourly_weather_code: Vec::new(),
        }
    }

    /// The same day with `probability` and `code` for local hours `from..to`, and the day's
    /// own probability for the others kept low: "rain this afternoon" is
    /// `DayWeather::new(8.0, 15.0, 61, 80).with_hours(13..18, 80, 61)` (with the rest of the
    /// day at 5% and cloudy).
    pub fn with_hours(mut self, hours: std::ops::Range<u32>, probability: u8, code: u8) -> Self {
        self.hourly_precipitation_probability = (0..24)
            .map(|hour| {
                if hours.contains(&hour) {
                    probability
                } else {
                    5
                }
            })
            .collect();
        self.hourly_weather_code = (0..24)
            .map(|hour| if hours.contains(&hour) { code } else { 3 })
            .collect();
        self
    }

    pub fn with_wind(mut self, wind_speed_max: f64) -> Self {
        self.wind_speed_max = wind_speed_max;
        self
    }
}

/// A fixture place: its geocoding entry (GeoNames' fields, as Open-Meteo returns them) and
/// its weather.
#[derive(Debug, Clone, PartialEq)]
pub struct FakeCity {
    /// Handle for [`FakeWeather::set_weather`]: "boston", "paris", "paris-tx", "paris-tn",
    /// "new-york", "austin".
    pub key: String,
    pub id: u64,
    pub name: String,
    pub latitude: f64,
    pub longitude: f64,
    pub elevation: f64,
    pub feature_code: String,
    pub country_code: String,
    pub country: String,
    pub country_id: u64,
    pub admin1: Option<String>,
    pub admin1_id: Option<u64>,
    pub admin2: Option<String>,
    pub admin2_id: Option<u64>,
    pub timezone: String,
    pub population: u64,
    pub postcodes: Vec<String>,
    pub weather: CityWeather,
}

#[derive(Debug, Clone, PartialEq)]
pub struct FakeWeatherConfig {
    pub cities: Vec<FakeCity>,
    /// The fake's clock. `None` is the real time; a fixed instant makes "today", the hour of
    /// `current` and the first day of `daily` deterministic for tests.
    pub now: Option<DateTime<Utc>>,
}

impl Default for FakeWeatherConfig {
    fn default() -> Self {
        Self {
            cities: default_cities(),
            now: None,
        }
    }
}

/// One request as it arrived.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecordedWeatherRequest {
    pub endpoint: Endpoint,
    pub path: String,
    /// The raw query string.
    pub query: String,
    /// The decoded query parameters, in order.
    pub params: Vec<(String, String)>,
    /// Lower-case names, in arrival order.
    pub headers: Vec<(String, String)>,
}

impl RecordedWeatherRequest {
    /// The first value of query parameter `name`.
    pub fn param(&self, name: &str) -> Option<&str> {
        self.params
            .iter()
            .find(|(key, _)| key == name)
            .map(|(_, value)| value.as_str())
    }

    /// The first value of header `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(key, _)| key.eq_ignore_ascii_case(name))
            .map(|(_, value)| value.as_str())
    }
}

/// A running fake. Dropping it (or [`FakeWeather::shutdown`]) stops it.
pub struct FakeWeather {
    addr: SocketAddr,
    shared: Arc<Shared>,
    shutdown: watch::Sender<bool>,
    task: Option<JoinHandle<()>>,
}

impl FakeWeather {
    /// Serves on an ephemeral port of 127.0.0.1.
    pub async fn start(config: FakeWeatherConfig) -> anyhow::Result<FakeWeather> {
        Self::start_on(SocketAddr::from((Ipv4Addr::LOCALHOST, 0)), config).await
    }

    pub async fn start_on(
        addr: SocketAddr,
        config: FakeWeatherConfig,
    ) -> anyhow::Result<FakeWeather> {
        let listener = tokio::net::TcpListener::bind(addr)
            .await
            .with_context(|| format!("fake-weather: binding {addr}"))?;
        let addr = listener.local_addr()?;
        let shared = Arc::new(Shared {
            state: Mutex::new(FakeState {
                config,
                faults: VecDeque::new(),
                persistent: Vec::new(),
                requests: Vec::new(),
            }),
        });
        let app = Router::new()
            .route("/v1/forecast", get(forecast))
            .route("/v1/search", get(search))
            .route(
                "/__fake/faults",
                axum::routing::post(control_push_faults).delete(control_clear_faults),
            )
            .route(
                "/__fake/requests",
                get(control_requests).delete(control_clear_requests),
            )
            .route("/__fake/stats", get(control_stats))
            .route("/__fake/now", axum::routing::post(control_now))
            .fallback(|| async { (StatusCode::NOT_FOUND, "Not Found") })
            .with_state(shared.clone());
        let (shutdown, mut stop) = watch::channel(false);
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app)
                .with_graceful_shutdown(async move {
                    let _ = stop.wait_for(|stop| *stop).await;
                })
                .await;
        });
        Ok(FakeWeather {
            addr,
            shared,
            shutdown,
            task: Some(task),
        })
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://127.0.0.1:PORT`: the base URL for both the forecast and the geocoding API
    /// (an unspecified bind address is reported as loopback).
    pub fn base_url(&self) -> String {
        let ip = match self.addr.ip() {
            IpAddr::V4(ip) if ip.is_unspecified() => IpAddr::V4(Ipv4Addr::LOCALHOST),
            IpAddr::V6(ip) if ip.is_unspecified() => IpAddr::V6(Ipv6Addr::LOCALHOST),
            ip => ip,
        };
        format!("http://{}", SocketAddr::new(ip, self.addr.port()))
    }

    pub fn config(&self) -> FakeWeatherConfig {
        self.shared.lock().config.clone()
    }

    pub fn set_config(&self, config: FakeWeatherConfig) {
        self.shared.lock().config = config;
    }

    /// Replaces the weather of the city with this key; false if there is none.
    pub fn set_weather(&self, key: &str, weather: CityWeather) -> bool {
        let mut state = self.shared.lock();
        match state.config.cities.iter_mut().find(|city| city.key == key) {
            Some(city) => {
                city.weather = weather;
                true
            }
            None => false,
        }
    }

    /// Pins the fake's clock (`None`: real time).
    pub fn set_now(&self, now: Option<DateTime<Utc>>) {
        self.shared.lock().config.now = now;
    }

    /// Queues a fault for the next request to `endpoint` (first in, first out).
    pub fn push_fault(&self, endpoint: Endpoint, fault: WeatherFault) {
        self.shared.lock().faults.push_back((endpoint, fault));
    }

    /// A fault for every request to `endpoint` until cleared (`None`). Queued faults go
    /// first.
    pub fn set_persistent_fault(&self, endpoint: Endpoint, fault: Option<WeatherFault>) {
        let mut state = self.shared.lock();
        state.persistent.retain(|(e, _)| *e != endpoint);
        if let Some(fault) = fault {
            state.persistent.push((endpoint, fault));
        }
    }

    pub fn clear_faults(&self) {
        let mut state = self.shared.lock();
        state.faults.clear();
        state.persistent.clear();
    }

    /// Every request so far, in arrival order.
    pub fn requests(&self) -> Vec<RecordedWeatherRequest> {
        self.shared.lock().requests.clone()
    }

    pub fn requests_to(&self, endpoint: Endpoint) -> Vec<RecordedWeatherRequest> {
        self.shared
            .lock()
            .requests
            .iter()
            .filter(|request| request.endpoint == endpoint)
            .cloned()
            .collect()
    }

    /// How many requests reached `endpoint`: what caching tests assert on.
    pub fn request_count(&self, endpoint: Endpoint) -> usize {
        self.shared
            .lock()
            .requests
            .iter()
            .filter(|request| request.endpoint == endpoint)
            .count()
    }

    pub fn clear_requests(&self) {
        self.shared.lock().requests.clear();
    }

    /// Stops the server and waits (up to 5 s) for it to finish.
    pub async fn shutdown(mut self) {
        self.shutdown.send_replace(true);
        if let Some(task) = self.task.take() {
            let _ = tokio::time::timeout(Duration::from_secs(5), task).await;
        }
    }
}

impl Drop for FakeWeather {
    fn drop(&mut self) {
        self.shutdown.send_replace(true);
    }
}

impl std::fmt::Debug for FakeWeather {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FakeWeather")
            .field("addr", &self.addr)
            .finish_non_exhaustive()
    }
}

struct Shared {
    state: Mutex<FakeState>,
}

struct FakeState {
    config: FakeWeatherConfig,
    faults: VecDeque<(Endpoint, WeatherFault)>,
    persistent: Vec<(Endpoint, WeatherFault)>,
    requests: Vec<RecordedWeatherRequest>,
}

impl Shared {
    /// A panicking test must not take the fake down with it; every critical section leaves
    /// the state consistent, so poisoning is ignored.
    fn lock(&self) -> MutexGuard<'_, FakeState> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Records the request and returns its fault, if any.
    fn arrive(&self, endpoint: Endpoint, uri: &Uri, headers: &HeaderMap) -> Option<WeatherFault> {
        let query = uri.query().unwrap_or_default().to_owned();
        let params = Query::<Vec<(String, String)>>::try_from_uri(uri)
            .map(|Query(params)| params)
            .unwrap_or_default();
        let headers = headers
            .iter()
            .map(|(name, value)| {
                (
                    name.as_str().to_owned(),
                    String::from_utf8_lossy(value.as_bytes()).into_owned(),
                )
            })
            .collect();
        let mut state = self.lock();
        state.requests.push(RecordedWeatherRequest {
            endpoint,
            path: uri.path().to_owned(),
            query,
            params,
            headers,
        });
        if let Some(index) = state.faults.iter().position(|(e, _)| *e == endpoint) {
            return state.faults.remove(index).map(|(_, fault)| fault);
        }
        state
            .persistent
            .iter()
            .find(|(e, _)| *e == endpoint)
            .map(|(_, fault)| fault.clone())
    }
}

#[derive(Deserialize)]
struct FaultTarget {
    endpoint: Endpoint,
    #[serde(default)]
    persistent: bool,
}

/// `POST /__fake/faults?endpoint=…` with one fault or an array of them.
async fn control_push_faults(
    State(shared): State<Arc<Shared>>,
    Query(target): Query<FaultTarget>,
    body: axum::body::Bytes,
) -> Response {
    let faults: Result<Vec<WeatherFault>, _> = match serde_json::from_slice::<Value>(&body) {
        Ok(Value::Array(items)) => items.into_iter().map(serde_json::from_value).collect(),
        Ok(one) => serde_json::from_value(one).map(|fault| vec![fault]),
        Err(error) => return bad_request(&format!("fault body is not JSON: {error}")),
    };
    let faults = match faults {
        Ok(faults) => faults,
        Err(error) => return bad_request(&format!("not a fault: {error}")),
    };
    let mut state = shared.lock();
    if target.persistent {
        state
            .persistent
            .retain(|(endpoint, _)| *endpoint != target.endpoint);
        if let Some(fault) = faults.into_iter().next() {
            state.persistent.push((target.endpoint, fault));
        }
    } else {
        state
            .faults
            .extend(faults.into_iter().map(|fault| (target.endpoint, fault)));
    }
    StatusCode::NO_CONTENT.into_response()
}

async fn control_clear_faults(State(shared): State<Arc<Shared>>) -> Response {
    let mut state = shared.lock();
    state.faults.clear();
    state.persistent.clear();
    StatusCode::NO_CONTENT.into_response()
}

async fn control_requests(State(shared): State<Arc<Shared>>) -> Response {
    let requests = shared.lock().requests.clone();
    axum::Json(requests).into_response()
}

async fn control_clear_requests(State(shared): State<Arc<Shared>>) -> Response {
    shared.lock().requests.clear();
    StatusCode::NO_CONTENT.into_response()
}

async fn control_stats(State(shared): State<Arc<Shared>>) -> Response {
    let state = shared.lock();
    let count = |endpoint: Endpoint| {
        state
            .requests
            .iter()
            .filter(|request| request.endpoint == endpoint)
            .count()
    };
    axum::Json(json!({
        "forecast_requests": count(Endpoint::Forecast),
        "geocoding_requests": count(Endpoint::Geocoding),
        "queued_faults": state.faults.len(),
    }))
    .into_response()
}

/// `POST /__fake/now` with `{"now": "<RFC 3339>"}` or `{"now": null}`.
async fn control_now(State(shared): State<Arc<Shared>>, body: axum::body::Bytes) -> Response {
    let now = match serde_json::from_slice::<Value>(&body) {
        Ok(value) => match value.get("now") {
            Some(Value::Null) => None,
            Some(Value::String(text)) => match DateTime::parse_from_rfc3339(text) {
                Ok(time) => Some(time.with_timezone(&Utc)),
                Err(error) => return bad_request(&format!("now is not RFC 3339: {error}")),
            },
            _ => return bad_request("expected {\"now\": \"<RFC 3339>\" | null}"),
        },
        Err(error) => return bad_request(&format!("body is not JSON: {error}")),
    };
    shared.lock().config.now = now;
    StatusCode::NO_CONTENT.into_response()
}

/// Applies a fault: a response to send instead of the real one, or None to answer normally
/// (after a delay).
async fn fault_response(fault: WeatherFault) -> Option<Response> {
    match fault {
        WeatherFault::Status { code, reason } => {
            let status = StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            Some(match reason {
                Some(reason) => open_meteo_error(status, &reason),
                None => (
                    status,
                    [(header::CONTENT_TYPE, "text/plain")],
                    status.canonical_reason().unwrap_or("Error").to_owned(),
                )
                    .into_response(),
            })
        }
        WeatherFault::Delay { delay_ms } => {
            tokio::time::sleep(Duration::from_millis(delay_ms)).await;
            None
        }
        WeatherFault::MalformedJson => Some(json_body(
            StatusCode::OK,
            r#"{"latitude": 42.36, "longitude": -71.06, "current": {"time": "2026-"#.to_owned(),
        )),
        WeatherFault::WrongShape => Some(json_body(
            StatusCode::OK,
            r#"{"results": "none", "current": 42, "hourly": [1, 2], "daily": "x"}"#.to_owned(),
        )),
    }
}

/// Open-Meteo's documented error object.
fn open_meteo_error(status: StatusCode, reason: &str) -> Response {
    json_body(status, json!({"error": true, "reason": reason}).to_string())
}

fn json_body(status: StatusCode, body: String) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "application/json; charset=utf-8")],
        body,
    )
        .into_response()
}

fn bad_request(reason: &str) -> Response {
    open_meteo_error(StatusCode::BAD_REQUEST, reason)
}

fn param<'a>(params: &'a [(String, String)], name: &str) -> Option<&'a str> {
    params
        .iter()
        .find(|(key, _)| key == name)
        .map(|(_, value)| value.as_str())
}

/// A comma-separated list; repeated parameters (`&hourly=a&hourly=b`) add up, as on
/// Open-Meteo.
fn list(params: &[(String, String)], name: &str) -> Vec<String> {
    params
        .iter()
        .filter(|(key, _)| key == name)
        .flat_map(|(_, value)| value.split(','))
        .map(str::trim)
        .filter(|value| !value.is_empty())
        .map(str::to_owned)
        .collect()
}

async fn search(State(shared): State<Arc<Shared>>, uri: Uri, headers: HeaderMap) -> Response {
    if let Some(fault) = shared.arrive(Endpoint::Geocoding, &uri, &headers)
        && let Some(response) = fault_response(fault).await
    {
        return response;
    }
    let params = Query::<Vec<(String, String)>>::try_from_uri(&uri)
        .map(|Query(params)| params)
        .unwrap_or_default();
    let Some(name) = param(&params, "name") else {
        return bad_request("Value of type 'String' required for key 'name'.");
    };
    let count = match param(&params, "count").map(str::parse::<i64>) {
        None => 10,
        Some(Ok(count)) if (1..=100).contains(&count) => count as usize,
        Some(_) => return bad_request("Parameter count must be between 1 and 100."),
    };
    match param(&params, "format") {
        None | Some("json") => {}
        Some("protobuf") => return bad_request("The fake only speaks JSON."),
        Some(other) => {
            return bad_request(&format!(
                "Cannot initialize ProtobufSerializationFormat from invalid String value {other}"
            ));
        }
    }
    let wanted = name.trim().to_lowercase();
    let mut matches: Vec<FakeCity> = if wanted.chars().count() < 2 {
        // Documented: an empty string or one character returns an empty result.
        Vec::new()
    } else {
        shared
            .lock()
            .config
            .cities
            .iter()
            .filter(|city| city.name.to_lowercase() == wanted)
            .cloned()
            .collect()
    };
    matches.sort_by_key(|city| std::cmp::Reverse(city.population));
    matches.truncate(count);
    let mut body = Map::new();
    if !matches.is_empty() {
        body.insert(
            "results".into(),
            Value::Array(matches.iter().map(geocoding_result).collect()),
        );
    }
    body.insert("generationtime_ms".into(), json!(0.4839897));
    json_body(StatusCode::OK, Value::Object(body).to_string())
}

/// One result with Open-Meteo's fields, empty ones left out. (Keys come out sorted: the
/// workspace's serde_json has no `preserve_order`, and JSON readers must not care.)
fn geocoding_result(city: &FakeCity) -> Value {
    let mut result = Map::new();
    result.insert("id".into(), json!(city.id));
    result.insert("name".into(), json!(city.name));
    result.insert("latitude".into(), json!(city.latitude));
    result.insert("longitude".into(), json!(city.longitude));
    result.insert("elevation".into(), json!(city.elevation));
    result.insert("feature_code".into(), json!(city.feature_code));
    result.insert("country_code".into(), json!(city.country_code));
    if let Some(id) = city.admin1_id {
        result.insert("admin1_id".into(), json!(id));
    }
    if let Some(id) = city.admin2_id {
        result.insert("admin2_id".into(), json!(id));
    }
    result.insert("timezone".into(), json!(city.timezone));
    result.insert("population".into(), json!(city.population));
    if !city.postcodes.is_empty() {
        result.insert("postcodes".into(), json!(city.postcodes));
    }
    result.insert("country_id".into(), json!(city.country_id));
    result.insert("country".into(), json!(city.country));
    if let Some(admin1) = &city.admin1 {
        result.insert("admin1".into(), json!(admin1));
    }
    if let Some(admin2) = &city.admin2 {
        result.insert("admin2".into(), json!(admin2));
    }
    Value::Object(result)
}

const CURRENT_VARIABLES: &[&str] = &[
    "temperature_2m",
    "apparent_temperature",
    "weather_code",
    "wind_speed_10m",
    "is_day",
    "relative_humidity_2m",
    "precipitation",
];
const HOURLY_VARIABLES: &[&str] = &[
    "temperature_2m",
    "apparent_temperature",
    "precipitation_probability",
    "weather_code",
    "wind_speed_10m",
    "relative_humidity_2m",
    "precipitation",
    "is_day",
];
const DAILY_VARIABLES: &[&str] = &[
    "weather_code",
    "temperature_2m_max",
    "temperature_2m_min",
    "precipitation_probability_max",
    "wind_speed_10m_max",
    "sunrise",
    "sunset",
    "precipitation_sum",
];

#[derive(Clone, Copy)]
struct Units {
    fahrenheit: bool,
    wind: &'static str,
    inch: bool,
}

impl Units {
    fn temperature(self, celsius: f64) -> f64 {
        round1(if self.fahrenheit {
            celsius * 9.0 / 5.0 + 32.0
        } else {
            celsius
        })
    }

    fn wind_speed(self, kmh: f64) -> f64 {
        round1(match self.wind {
            "mph" => kmh / 1.609_344,
            "ms" => kmh / 3.6,
            "kn" => kmh / 1.852,
            _ => kmh,
        })
    }

    fn unit(self, variable: &str) -> &'static str {
        if variable.starts_with("temperature") || variable.starts_with("apparent") {
            if self.fahrenheit { "°F" } else { "°C" }
        } else if variable.starts_with("wind_speed") {
            match self.wind {
                "mph" => "mp/h",
                "ms" => "m/s",
                "kn" => "kn",
                _ => "km/h",
            }
        } else if variable.starts_with("precipitation_probability")
            || variable.starts_with("relative_humidity")
        {
            "%"
        } else if variable.starts_with("precipitation") {
            if self.inch { "inch" } else { "mm" }
        } else if variable == "weather_code" {
            "wmo code"
        } else if variable == "sunrise" || variable == "sunset" {
            "iso8601"
        } else {
            ""
        }
    }
}

fn round1(value: f64) -> f64 {
    (value * 10.0).round() / 10.0
}

async fn forecast(State(shared): State<Arc<Shared>>, uri: Uri, headers: HeaderMap) -> Response {
    if let Some(fault) = shared.arrive(Endpoint::Forecast, &uri, &headers)
        && let Some(response) = fault_response(fault).await
    {
        return response;
    }
    let params = Query::<Vec<(String, String)>>::try_from_uri(&uri)
        .map(|Query(params)| params)
        .unwrap_or_default();
    let config = shared.lock().config.clone();
    match build_forecast(&config, &params) {
        Ok(body) => json_body(StatusCode::OK, body.to_string()),
        Err(reason) => bad_request(&reason),
    }
}

fn coordinate(params: &[(String, String)], name: &str, limit: f64) -> Result<f64, String> {
    let text = param(params, name)
        .ok_or_else(|| format!("Value of type 'Float' required for key '{name}'."))?;
    let value: f64 = text
        .parse()
        .map_err(|_| format!("Value of type 'Float' required for key '{name}'."))?;
    if !(-limit..=limit).contains(&value) {
        let label = if name == "latitude" {
            "Latitude"
        } else {
            "Longitude"
        };
        return Err(format!(
            "{label} must be in range of -{limit} to {limit}°. Given: {value}."
        ));
    }
    Ok(value)
}

fn enum_param(
    params: &[(String, String)],
    name: &str,
    type_name: &str,
    allowed: &[&'static str],
) -> Result<&'static str, String> {
    match param(params, name) {
        None => Ok(allowed[0]),
        Some(value) => allowed
            .iter()
            .find(|allowed| **allowed == value)
            .copied()
            .ok_or_else(|| {
                format!("Cannot initialize {type_name} from invalid String value {value}")
            }),
    }
}

fn build_forecast(
    config: &FakeWeatherConfig,
    params: &[(String, String)],
) -> Result<Value, String> {
    let latitude = coordinate(params, "latitude", 90.0)?;
    let longitude = coordinate(params, "longitude", 180.0)?;
    let units = Units {
        fahrenheit: enum_param(
            params,
            "temperature_unit",
            "TemperatureUnit",
            &["celsius", "fahrenheit"],
        )? == "fahrenheit",
        wind: enum_param(
            params,
            "wind_speed_unit",
            "WindspeedUnit",
            &["kmh", "ms", "mph", "kn"],
        )?,
        inch: enum_param(
            params,
            "precipitation_unit",
            "PrecipitationUnit",
            &["mm", "inch"],
        )? == "inch",
    };
    let days: u32 = match param(params, "forecast_days") {
        None => 7,
        Some(text) => match text.parse() {
            Ok(days) if days <= 16 => days,
            _ => return Err("Forecast days is invalid. Allowed range 0 to 16.".into()),
        },
    };
    let current = list(params, "current");
    let hourly = list(params, "hourly");
    let daily = list(params, "daily");
    for (key, variables, known) in [
        ("current", &current, CURRENT_VARIABLES),
        ("hourly", &hourly, HOURLY_VARIABLES),
        ("daily", &daily, DAILY_VARIABLES),
    ] {
        if let Some(unknown) = variables.iter().find(|v| !known.contains(&v.as_str())) {
            return Err(format!(
                "Cannot initialize WeatherVariable from invalid String value {unknown} for key {key}"
            ));
        }
    }
    let city = nearest_city(&config.cities, latitude, longitude);
    let zone_name = match param(params, "timezone") {
        None | Some("GMT") | Some("UTC") => "GMT".to_owned(),
        Some("auto") => city.map_or_else(|| "GMT".to_owned(), |city| city.timezone.clone()),
        Some(other) => other.to_owned(),
    };
    let zone: chrono_tz::Tz = zone_name
        .parse()
        .map_err(|_| format!("Invalid timezone {zone_name}"))?;
    let weather = city.map_or_else(default_weather, |city| city.weather.clone());
    let now_utc = config.now.unwrap_or_else(Utc::now);
    let now = now_utc.with_timezone(&zone);
    let offset = now.offset().fix().local_minus_utc();
    let today = now.date_naive();

    let mut body = Map::new();
    body.insert("latitude".into(), json!(round4(latitude)));
    body.insert("longitude".into(), json!(round4(longitude)));
    body.insert("generationtime_ms".into(), json!(0.0859498977661133));
    body.insert("utc_offset_seconds".into(), json!(offset));
    body.insert("timezone".into(), json!(zone_name));
    body.insert(
        "timezone_abbreviation".into(),
        json!(gmt_abbreviation(offset)),
    );
    body.insert(
        "elevation".into(),
        json!(city.map_or(10.0, |city| city.elevation)),
    );

    if !current.is_empty() {
        let local = now.naive_local();
        let quarter = local
            .with_minute(local.minute() / 15 * 15)
            .and_then(|time| time.with_second(0))
            .unwrap_or(local);
        let mut values = Map::new();
        let mut value_units = Map::new();
        values.insert("time".into(), json!(iso_minutes(quarter)));
        values.insert("interval".into(), json!(900));
        value_units.insert("time".into(), json!("iso8601"));
        value_units.insert("interval".into(), json!("seconds"));
        let is_day = weather
            .is_day
            .unwrap_or_else(|| (6..20).contains(&local.hour()));
        for variable in &current {
            let value = match variable.as_str() {
                "temperature_2m" => json!(units.temperature(weather.temperature)),
                "apparent_temperature" => json!(units.temperature(weather.apparent_temperature)),
                "weather_code" => json!(weather.weather_code),
                "wind_speed_10m" => json!(units.wind_speed(weather.wind_speed)),
                "is_day" => json!(u8::from(is_day)),
                "relative_humidity_2m" => json!(62),
                "precipitation" => json!(0.0),
                _ => Value::Null,
            };
            values.insert(variable.clone(), value);
            value_units.insert(variable.clone(), json!(units.unit(variable)));
        }
        body.insert("current_units".into(), Value::Object(value_units));
        body.insert("current".into(), Value::Object(values));
    }

    if !hourly.is_empty() {
        let mut columns: Vec<(String, Vec<Value>)> =
            hourly.iter().map(|v| (v.clone(), Vec::new())).collect();
        let mut times = Vec::new();
        for day_index in 0..days {
            let date = today + ChronoDuration::days(i64::from(day_index));
            let day = day_script(&weather, day_index);
            for hour in 0..24u32 {
                let Some(time) = date.and_hms_opt(hour, 0, 0) else {
                    continue;
                };
                times.push(json!(iso_minutes(time)));
                let fraction = diurnal(hour);
                let celsius = day.min + (day.max - day.min) * fraction;
                for (variable, column) in &mut columns {
                    column.push(match variable.as_str() {
                        "temperature_2m" => json!(units.temperature(celsius)),
                        "apparent_temperature" => json!(units.temperature(celsius - 1.5)),
                        "precipitation_probability" => json!(
                            day.hourly_precipitation_probability
                                .get(hour as usize)
                                .copied()
                                .unwrap_or(day.precipitation_probability)
                        ),
                        "weather_code" => json!(
                            day.hourly_weather_code
                                .get(hour as usize)
                                .copied()
                                .unwrap_or(day.weather_code)
                        ),
                        "wind_speed_10m" => {
                            json!(units.wind_speed(day.wind_speed_max * (0.6 + 0.4 * fraction)))
                        }
                        "relative_humidity_2m" => json!(70 - (fraction * 20.0).round() as i64),
                        "precipitation" => json!(0.0),
                        "is_day" => json!(u8::from((6..20).contains(&hour))),
                        _ => Value::Null,
                    });
                }
            }
        }
        let mut values = Map::new();
        let mut value_units = Map::new();
        values.insert("time".into(), Value::Array(times));
        value_units.insert("time".into(), json!("iso8601"));
        for (variable, column) in columns {
            value_units.insert(variable.clone(), json!(units.unit(&variable)));
            values.insert(variable, Value::Array(column));
        }
        body.insert("hourly_units".into(), Value::Object(value_units));
        body.insert("hourly".into(), Value::Object(values));
    }

    if !daily.is_empty() {
        let dates: Vec<NaiveDate> = (0..days)
            .map(|index| today + ChronoDuration::days(i64::from(index)))
            .collect();
        let mut values = Map::new();
        let mut value_units = Map::new();
        values.insert(
            "time".into(),
            Value::Array(
                dates
                    .iter()
                    .map(|d| json!(d.format("%Y-%m-%d").to_string()))
                    .collect(),
            ),
        );
        value_units.insert("time".into(), json!("iso8601"));
        for variable in &daily {
            let column = dates
                .iter()
                .enumerate()
                .map(|(index, date)| {
                    let day = day_script(&weather, index as u32);
                    match variable.as_str() {
                        "weather_code" => json!(day.weather_code),
                        "temperature_2m_max" => json!(units.temperature(day.max)),
                        "temperature_2m_min" => json!(units.temperature(day.min)),
                        "precipitation_probability_max" => json!(
                            day.hourly_precipitation_probability
                                .iter()
                                .copied()
                                .max()
                                .unwrap_or(0)
                                .max(day.precipitation_probability)
                        ),
                        "wind_speed_10m_max" => json!(units.wind_speed(day.wind_speed_max)),
                        "sunrise" => json!(date.and_hms_opt(6, 12, 0).map(iso_minutes)),
                        "sunset" => json!(date.and_hms_opt(19, 48, 0).map(iso_minutes)),
                        "precipitation_sum" => json!(0.0),
                        _ => Value::Null,
                    }
                })
                .collect();
            values.insert(variable.clone(), Value::Array(column));
            value_units.insert(variable.clone(), json!(units.unit(variable)));
        }
        body.insert("daily_units".into(), Value::Object(value_units));
        body.insert("daily".into(), Value::Object(values));
    }
    Ok(Value::Object(body))
}

fn round4(value: f64) -> f64 {
    (value * 10_000.0).round() / 10_000.0
}

/// `"2026-04-04T09:00"`: Open-Meteo's local time format.
fn iso_minutes(time: NaiveDateTime) -> String {
    time.format("%Y-%m-%dT%H:%M").to_string()
}

/// `"GMT-4"`, `"GMT+5:30"`, `"GMT"`.
fn gmt_abbreviation(offset_seconds: i32) -> String {
    if offset_seconds == 0 {
        return "GMT".into();
    }
    let sign = if offset_seconds < 0 { '-' } else { '+' };
    let minutes = offset_seconds.unsigned_abs() / 60;
    match minutes % 60 {
        0 => format!("GMT{sign}{}", minutes / 60),
        rest => format!("GMT{sign}{}:{rest:02}", minutes / 60),
    }
}

/// 0 at 05:00 rising to 1 at 15:00, falling back to 0 by 05:00.
fn diurnal(hour: u32) -> f64 {
    let hour = f64::from(hour);
    if (5.0..=15.0).contains(&hour) {
        (1.0 - (std::f64::consts::PI * (hour - 5.0) / 10.0).cos()) / 2.0
    } else {
        let since_peak = (hour + 24.0 - 15.0) % 24.0;
        (1.0 + (std::f64::consts::PI * since_peak / 14.0).cos()) / 2.0
    }
}

fn day_script(weather: &CityWeather, index: u32) -> DayWeather {
    weather
        .days
        .get(index as usize)
        .or(weather.days.last())
        .cloned()
        .unwrap_or_else(|| DayWeather::new(10.0, 18.0, 2, 10))
}

/// The scripted city within ~50 km (0.5°) of the coordinates, nearest first.
fn nearest_city(cities: &[FakeCity], latitude: f64, longitude: f64) -> Option<&FakeCity> {
    cities
        .iter()
        .map(|city| {
            let distance = (city.latitude - latitude).hypot(city.longitude - longitude);
            (city, distance)
        })
        .filter(|(_, distance)| *distance <= 0.5)
        .min_by(|a, b| a.1.total_cmp(&b.1))
        .map(|(city, _)| city)
}

fn default_weather() -> CityWeather {
    CityWeather {
        temperature: 14.0,
        apparent_temperature: 13.0,
        weather_code: 2,
        wind_speed: 10.0,
        is_day: None,
        days: vec![DayWeather::new(9.0, 17.0, 2, 10)],
    }
}

#[allow(clippy::too_many_arguments)]
fn city(
    key: &str,
    id: u64,
    name: &str,
    (latitude, longitude, elevation): (f64, f64, f64),
    feature_code: &str,
    (country_code, country, country_id): (&str, &str, u64),
    admin1: Option<(&str, u64)>,
    admin2: Option<(&str, u64)>,
    timezone: &str,
    population: u64,
    weather: CityWeather,
) -> FakeCity {
    FakeCity {
        key: key.into(),
        id,
        name: name.into(),
        latitude,
        longitude,
        elevation,
        feature_code: feature_code.into(),
        country_code: country_code.into(),
        country: country.into(),
        country_id,
        admin1: admin1.map(|(name, _)| name.into()),
        admin1_id: admin1.map(|(_, id)| id),
        admin2: admin2.map(|(name, _)| name.into()),
        admin2_id: admin2.map(|(_, id)| id),
        timezone: timezone.into(),
        population,
        postcodes: Vec::new(),
        weather,
    }
}

/// The fixture cities. Weather: Boston cloudy at 12 °C with rain likely this afternoon;
/// Paris mostly sunny with a grey, then wet weekend ahead; Austin hot and dry; New York
/// mild; the smaller Parises plain.
pub fn default_cities() -> Vec<FakeCity> {
    const US: (&str, &str, u64) = ("US", "United States", 6_252_001);
    const FR: (&str, &str, u64) = ("FR", "France", 3_017_382);
    vec![
        city(
            "boston",
            4_930_956,
            "Boston",
            (42.35843, -71.05977, 38.0),
            "PPLA",
            US,
            Some(("Massachusetts", 6_254_926)),
            Some(("Suffolk", 4_952_349)),
            "America/New_York",
            653_833,
            CityWeather {
                temperature: 12.3,
                apparent_temperature: 10.8,
                weather_code: 3,
                wind_speed: 14.8,
                is_day: None,
                days: vec![
                    DayWeather::new(8.1, 15.2, 61, 80).with_hours(13..18, 80, 61),
                    DayWeather::new(9.4, 16.0, 3, 10),
                    DayWeather::new(7.0, 13.5, 63, 90),
                ],
            },
        ),
        city(
            "paris",
            2_988_507,
            "Paris",
            (48.85341, 2.3488, 42.0),
            "PPLC",
            FR,
            Some(("Île-de-France", 3_012_874)),
            Some(("Paris", 2_968_815)),
            "Europe/Paris",
            2_138_551,
            CityWeather {
                temperature: 16.4,
                apparent_temperature: 15.9,
                weather_code: 1,
                wind_speed: 9.0,
                is_day: None,
                days: vec![
                    DayWeather::new(9.0, 18.0, 1, 5),
                    DayWeather::new(8.2, 17.4, 0, 0),
                    DayWeather::new(6.0, 12.0, 3, 15),
                    DayWeather::new(4.0, 9.0, 3, 20),
                    DayWeather::new(3.0, 7.0, 61, 70),
                ],
            },
        ),
        city(
            "paris-tx",
            4_717_560,
            "Paris",
            (33.66094, -95.55551, 180.0),
            "PPLA2",
            US,
            Some(("Texas", 4_736_286)),
            Some(("Lamar", 4_705_086)),
            "America/Chicago",
            24_782,
            CityWeather {
                temperature: 27.0,
                apparent_temperature: 29.0,
                weather_code: 0,
                wind_speed: 12.0,
                is_day: None,
                days: vec![DayWeather::new(19.0, 31.0, 0, 0)],
            },
        ),
        city(
            "paris-tn",
            4_646_571,
            "Paris",
            (36.302, -88.32671, 157.0),
            "PPLA2",
            US,
            Some(("Tennessee", 4_662_168)),
            Some(("Henry", 4_628_094)),
            "America/Chicago",
            10_156,
            CityWeather {
                temperature: 22.0,
                apparent_temperature: 22.0,
                weather_code: 2,
                wind_speed: 8.0,
                is_day: None,
                days: vec![DayWeather::new(14.0, 25.0, 2, 10)],
            },
        ),
        city(
            "new-york",
            5_128_581,
            "New York",
            (40.71427, -74.00597, 10.0),
            "PPL",
            US,
            Some(("New York", 5_128_638)),
            None,
            "America/New_York",
            8_804_190,
            CityWeather {
                temperature: 18.5,
                apparent_temperature: 18.0,
                weather_code: 2,
                wind_speed: 18.0,
                is_day: None,
                days: vec![DayWeather::new(13.0, 21.0, 2, 15)],
            },
        ),
        city(
            "austin",
            4_671_654,
            "Austin",
            (30.26715, -97.74306, 149.0),
            "PPLA",
            US,
            Some(("Texas", 4_736_286)),
            Some(("Travis", 4_736_134)),
            "America/Chicago",
            961_855,
            CityWeather {
                temperature: 33.0,
                apparent_temperature: 36.0,
                weather_code: 0,
                wind_speed: 11.0,
                is_day: None,
                days: vec![
                    DayWeather::new(23.0, 36.0, 0, 0),
                    DayWeather::new(24.0, 37.2, 1, 5),
                ],
            },
        ),
    ]
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone as _;

    use super::*;

    #[test]
    fn the_diurnal_curve_runs_from_min_to_max_and_back() {
        assert!(diurnal(5) < 1e-9);
        assert!((diurnal(15) - 1.0).abs() < 1e-9);
        assert!(diurnal(4) < 0.05 && diurnal(4) >= 0.0);
        assert!(diurnal(10) > 0.4 && diurnal(10) < 0.6);
        assert!((0..24).all(|hour| (0.0..=1.0).contains(&diurnal(hour))));
    }

    #[tokio::test]
    async fn the_control_surface_scripts_faults_and_the_clock() {
        let fake = FakeWeather::start(FakeWeatherConfig::default())
            .await
            .unwrap();
        let base = fake.base_url();
        let http = reqwest::Client::new();
        let response = http
            .post(format!("{base}/__fake/faults?endpoint=forecast"))
            .body(r#"[{"kind": "status", "code": 400, "reason": "nope"}, {"kind": "malformed_json"}]"#)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 204);
        let response = http
            .post(format!("{base}/__fake/now"))
            .body(r#"{"now": "2026-04-08T14:05:00Z"}"#)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 204);

        let forecast =
            format!("{base}/v1/forecast?latitude=48.85&longitude=2.35&daily=sunrise&timezone=auto");
        let first = http.get(&forecast).send().await.unwrap();
        assert_eq!(first.status(), 400);
        assert_eq!(
            first.json::<Value>().await.unwrap(),
            json!({"error": true, "reason": "nope"})
        );
        let second = http
            .get(&forecast)
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        assert!(serde_json::from_str::<Value>(&second).is_err());
        let third: Value = http
            .get(&forecast)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(third["timezone"], "Europe/Paris");
        assert_eq!(third["daily"]["time"][0], "2026-04-08");

        let none: Value = http
            .get(format!(
                "{base}/v1/search?name=Atlantis&count=1&language=en&format=json"
            ))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert!(none.get("results").is_none() && none.get("generationtime_ms").is_some());

        let stats: Value = http
            .get(format!("{base}/__fake/stats"))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(
            stats,
            json!({"forecast_requests": 3, "geocoding_requests": 1, "queued_faults": 0})
        );
        let requests: Vec<RecordedWeatherRequest> = http
            .get(format!("{base}/__fake/requests"))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(requests[3].param("name"), Some("Atlantis"));
        assert_eq!(fake.request_count(Endpoint::Forecast), 3);
        fake.shutdown().await;
    }

    #[test]
    fn abbreviations_look_like_the_live_api() {
        assert_eq!(gmt_abbreviation(-14_400), "GMT-4");
        assert_eq!(gmt_abbreviation(19_800), "GMT+5:30");
        assert_eq!(gmt_abbreviation(0), "GMT");
    }

    #[test]
    fn forecasts_follow_the_request() {
        let config = FakeWeatherConfig {
            now: Some(Utc.with_ymd_and_hms(2026, 4, 8, 16, 20, 0).unwrap()),
            ..FakeWeatherConfig::default()
        };
        let params: Vec<(String, String)> = [
            ("latitude", "42.36"),
            ("longitude", "-71.06"),
            ("current", "temperature_2m,is_day"),
            ("hourly", "temperature_2m,precipitation_probability"),
            ("daily", "weather_code,sunrise"),
            ("timezone", "auto"),
            ("forecast_days", "2"),
            ("temperature_unit", "fahrenheit"),
        ]
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
        let body = build_forecast(&config, &params).unwrap();
        assert_eq!(body["timezone"], "America/New_York");
        assert_eq!(body["utc_offset_seconds"], -14_400);
        assert_eq!(body["timezone_abbreviation"], "GMT-4");
        assert_eq!(body["current"]["time"], "2026-04-08T12:15");
        assert_eq!(body["current"]["interval"], 900);
        assert_eq!(body["current_units"]["temperature_2m"], "°F");
        assert_eq!(body["current"]["temperature_2m"], 54.1);
        assert!(body["current"].get("weather_code").is_none());
        assert_eq!(body["hourly"]["time"].as_array().unwrap().len(), 48);
        assert_eq!(body["hourly"]["time"][0], "2026-04-08T00:00");
        assert_eq!(body["hourly"]["precipitation_probability"][14], 80);
        assert_eq!(body["daily"]["time"], json!(["2026-04-08", "2026-04-09"]));
        assert_eq!(body["daily"]["sunrise"][0], "2026-04-08T06:12");
        assert!(
            body.get("daily")
                .unwrap()
                .get("temperature_2m_max")
                .is_none()
        );

        let bad: Vec<(String, String)> = [
            ("latitude", "1"),
            ("longitude", "2"),
            ("hourly", "tempeture_2m"),
        ]
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
        assert_eq!(
            build_forecast(&config, &bad).unwrap_err(),
            "Cannot initialize WeatherVariable from invalid String value tempeture_2m for key hourly"
        );
    }
}

//! The HTTP side: requests to Open-Meteo, error mapping, caching.

use std::error::Error as _;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Instant;

use anyhow::Context as _;
use chrono::{DateTime, FixedOffset, NaiveDate, NaiveDateTime, TimeZone as _};
use reqwest::Url;
use reqwest::header::ACCEPT;

use super::cache::TtlCache;
use super::wire::{
    self, CurrentWire, DailyWire, ErrorBody, ForecastResponse, GeoResult, GeocodingResponse,
    HourlyWire,
};
use super::{
    Current, Day, FORECAST_DAYS, Forecast, Hour, Place, Units, WeatherConfig, WeatherError,
};

/// A forecast response is about 20 KB; anything past this is not the answer we asked for.
const MAX_BODY_BYTES: usize = 2 * 1024 * 1024;
/// Results asked for when a qualifier ("Paris, Texas") has to pick among places of one name.
/// Open-Meteo ranks by population, so the Paris in Texas is within the first few.
const QUALIFIED_COUNT: u32 = 20;

const CURRENT_VARIABLES: &str =
    "temperature_2m,apparent_temperature,weather_code,wind_speed_10m,is_day";
const HOURLY_VARIABLES: &str =
    "temperature_2m,precipitation_probability,weather_code,wind_speed_10m";
const DAILY_VARIABLES: &str = "weather_code,temperature_2m_max,temperature_2m_min,precipitation_probability_max,wind_speed_10m_max,sunrise,sunset";

/// Open-Meteo's forecast and geocoding APIs. Cheap to clone: clones share the HTTP
/// connection pool and both caches.
#[derive(Clone)]
pub struct WeatherClient {
    inner: Arc<Inner>,
}

struct Inner {
    http: reqwest::Client,
    forecast_url: Url,
    search_url: Url,
    forecasts: Mutex<TtlCache<ForecastKey, Forecast>>,
    places: Mutex<TtlCache<PlaceKey, Option<Place>>>,
}

/// Coordinates in hundredths of a degree (about 1 km), the resolution requests are sent at:
/// finer than any weather model's grid, and the cache key is then exactly what was asked.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
struct ForecastKey {
    latitude: i32,
    longitude: i32,
    units: Units,
}

/// The lower-cased, whitespace-collapsed name and the language code.
type PlaceKey = (String, String);

impl std::fmt::Debug for WeatherClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WeatherClient")
            .field("forecast_url", &self.inner.forecast_url.as_str())
            .field("search_url", &self.inner.search_url.as_str())
            .finish_non_exhaustive()
    }
}

impl WeatherClient {
    pub fn new(config: WeatherConfig) -> anyhow::Result<Self> {
        let http = reqwest::Client::builder()
            .tls_backend_rustls()
            .timeout(config.timeout)
            .connect_timeout(config.timeout)
            .pool_idle_timeout(std::time::Duration::from_secs(90))
            .user_agent(concat!("ballsy/", env!("CARGO_PKG_VERSION")))
            .build()
            .context("building the weather HTTP client")?;
        Ok(Self {
            inner: Arc::new(Inner {
                http,
                forecast_url: endpoint(&config.forecast_base_url, "/v1/forecast")?,
                search_url: endpoint(&config.geocoding_base_url, "/v1/search")?,
                forecasts: Mutex::new(TtlCache::new(config.forecast_ttl, config.cache_capacity)),
                places: Mutex::new(TtlCache::new(config.geocode_ttl, config.cache_capacity)),
            }),
        })
    }

    /// The best match for a spoken place name: Open-Meteo's first result (it ranks by
    /// population), unless the name carries qualifiers after commas ("Paris, Texas",
    /// "Austin, TX", "Paris, France"). Then the city part alone is searched and the first
    /// result whose region, county or country matches the most qualifiers wins; if none
    /// matches, the place is not found rather than silently swapped for another Paris.
    /// A name of several words that finds nothing is retried once with its last word as a
    /// qualifier, for transcripts without the comma ("paris texas").
    ///
    /// `language` is a BCP 47 tag or a bare code ("en-US", "fr"); only its primary
    /// subtag is sent, and "en" if it is not 2–3 letters.
    pub async fn geocode(&self, name: &str, language: &str) -> Result<Place, WeatherError> {
        let query = tidy_name(name);
        if query.chars().filter(|c| c.is_alphanumeric()).count() < 2 {
            // Open-Meteo answers one character with no results; no need to ask.
            return Err(WeatherError::NotFound(query));
        }
        let language = language_code(language);
        let key = (query.to_lowercase(), language.clone());
        if let Some(cached) = lock(&self.inner.places).get(&key, Instant::now()) {
            return cached.ok_or(WeatherError::NotFound(query));
        }
        let found = self.lookup(&query, &language).await?;
        // Not-found is cached too: asking again within a day would get the same answer.
        lock(&self.inner.places).insert(key, found.clone(), Instant::now());
        found.ok_or(WeatherError::NotFound(query))
    }

    /// Current conditions, hourly data and daily summaries for [`FORECAST_DAYS`] days,
    /// in the place's local time. Cached per place (to about 1 km) and units.
    ///
    /// A place whose coordinates are not real coordinates is reported as not found.
    pub async fn forecast(&self, place: &Place, units: Units) -> Result<Forecast, WeatherError> {
        let Some(key) = ForecastKey::new(place, units) else {
            return Err(WeatherError::NotFound(place.name.clone()));
        };
        if let Some(mut cached) = lock(&self.inner.forecasts).get(&key, Instant::now()) {
            // A nearby place can share the entry; the answer is about the one asked for.
            cached.place = merged_place(place, &cached.timezone);
            return Ok(cached);
        }
        let mut url = self.inner.forecast_url.clone();
        url.query_pairs_mut()
            .append_pair("latitude", &hundredths(key.latitude))
            .append_pair("longitude", &hundredths(key.longitude))
            .append_pair("current", CURRENT_VARIABLES)
            .append_pair("hourly", HOURLY_VARIABLES)
            .append_pair("daily", DAILY_VARIABLES)
            .append_pair("timezone", "auto")
            .append_pair("forecast_days", &FORECAST_DAYS.to_string())
            .append_pair("temperature_unit", units.temperature_unit())
            .append_pair("wind_speed_unit", units.wind_speed_unit())
            .append_pair("precipitation_unit", units.precipitation_unit());
        let body = self.get_json(url).await?;
        let response: ForecastResponse = serde_json::from_slice(&body)
            .map_err(|error| WeatherError::BadResponse(format!("forecast: {error}")))?;
        let forecast = convert_forecast(response, place, units)?;
        lock(&self.inner.forecasts).insert(key, forecast.clone(), Instant::now());
        Ok(forecast)
    }

    async fn lookup(&self, query: &str, language: &str) -> Result<Option<Place>, WeatherError> {
        let (city, qualifiers) = split_qualifiers(query);
        if city.chars().filter(|c| c.is_alphanumeric()).count() < 2 {
            return Ok(None);
        }
        if !qualifiers.is_empty() {
            let results = self.search(city, QUALIFIED_COUNT, language).await?;
            return Ok(best_match(&results, &qualifiers).map(to_place));
        }
        let results = self.search(city, 1, language).await?;
        if let Some(first) = results.first() {
            return Ok(Some(to_place(first)));
        }
        if let Some((head, last)) = city.rsplit_once(' ') {
            let results = self.search(head, QUALIFIED_COUNT, language).await?;
            return Ok(best_match(&results, &[last]).map(to_place));
        }
        Ok(None)
    }

    async fn search(
        &self,
        name: &str,
        count: u32,
        language: &str,
    ) -> Result<Vec<GeoResult>, WeatherError> {
        let mut url = self.inner.search_url.clone();
        url.query_pairs_mut()
            .append_pair("name", name)
            .append_pair("count", &count.to_string())
            .append_pair("language", language)
            .append_pair("format", "json");
        let body = self.get_json(url).await?;
        let response: GeocodingResponse = serde_json::from_slice(&body)
            .map_err(|error| WeatherError::BadResponse(format!("geocoding: {error}")))?;
        Ok(response
            .results
            .unwrap_or_default()
            .into_iter()
            .filter_map(|result| serde_json::from_value::<GeoResult>(result).ok())
            .filter(|result| valid_coordinates(result.latitude, result.longitude))
            .collect())
    }

    /// GET `url` and return the body of a successful JSON answer.
    async fn get_json(&self, url: Url) -> Result<Vec<u8>, WeatherError> {
        let mut response = self
            .inner
            .http
            .get(url)
            .header(ACCEPT, "application/json")
            .send()
            .await
            .map_err(transport_error)?;
        let status = response.status();
        let mut body = Vec::new();
        while let Some(chunk) = response.chunk().await.map_err(transport_error)? {
            if body.len() + chunk.len() > MAX_BODY_BYTES {
                return Err(WeatherError::BadResponse(format!(
                    "the body is over {MAX_BODY_BYTES} bytes"
                )));
            }
            body.extend_from_slice(&chunk);
        }
        let error = serde_json::from_slice::<ErrorBody>(&body).ok();
        let reason = error
            .as_ref()
            .and_then(|error| error.reason.clone())
            .filter(|reason| !reason.trim().is_empty());
        if !status.is_success() {
            return Err(WeatherError::Upstream(match reason {
                Some(reason) => format!("HTTP {}: {reason}", status.as_u16()),
                None => format!("HTTP {status}"),
            }));
        }
        // The documented error object is sent with a 400, but one arriving with a 200 is an
        // error all the same and must not be parsed as an empty forecast.
        if error.is_some_and(|error| error.error) {
            return Err(WeatherError::Upstream(format!(
                "error body with HTTP {}: {}",
                status.as_u16(),
                reason.unwrap_or_else(|| "no reason given".into())
            )));
        }
        Ok(body)
    }
}

impl ForecastKey {
    fn new(place: &Place, units: Units) -> Option<Self> {
        if !valid_coordinates(place.latitude, place.longitude) {
            return None;
        }
        // In range, so the products fit an i32 with room to spare.
        Some(Self {
            latitude: (place.latitude * 100.0).round() as i32,
            longitude: (place.longitude * 100.0).round() as i32,
            units,
        })
    }
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic while holding the lock cannot leave a cache inconsistent (each operation is a
    // single map update), so poisoning is ignored rather than turned into more panics.
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

fn endpoint(base: &str, path: &str) -> anyhow::Result<Url> {
    let url = Url::parse(&format!("{}{path}", base.trim().trim_end_matches('/')))
        .with_context(|| format!("weather API base URL {base:?} is not a URL"))?;
    anyhow::ensure!(
        matches!(url.scheme(), "http" | "https"),
        "weather API base URL {base:?} must be http or https"
    );
    Ok(url)
}

fn valid_coordinates(latitude: f64, longitude: f64) -> bool {
    (-90.0..=90.0).contains(&latitude) && (-180.0..=180.0).contains(&longitude)
}

/// `-7106` as `"-71.06"`, from the integer so that no float formatting prints `-0.00`.
fn hundredths(value: i32) -> String {
    let sign = if value < 0 { "-" } else { "" };
    let magnitude = value.unsigned_abs();
    format!("{sign}{}.{:02}", magnitude / 100, magnitude % 100)
}

fn transport_error(error: reqwest::Error) -> WeatherError {
    if error.is_timeout() {
        return WeatherError::Timeout;
    }
    // reqwest's Display leaves out the cause ("connection refused"), which logs need.
    let mut message = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        message.push_str(": ");
        message.push_str(&cause.to_string());
        source = cause.source();
    }
    WeatherError::Upstream(message)
}

/// Whitespace collapsed and closing punctuation dropped: "  Paris ,  Texas? " is
/// "Paris , Texas" (commas are kept; they separate qualifiers).
fn tidy_name(name: &str) -> String {
    let collapsed = name.split_whitespace().collect::<Vec<_>>().join(" ");
    collapsed
        .trim_matches(|c: char| {
            matches!(c, '.' | '?' | '!' | ',' | ';' | ':' | '"') || c.is_whitespace()
        })
        .to_owned()
}

/// The primary language subtag, lower-cased, if it looks like one; otherwise "en".
fn language_code(language: &str) -> String {
    let primary = language
        .trim()
        .split(['-', '_'])
        .next()
        .unwrap_or_default()
        .to_ascii_lowercase();
    if (2..=3).contains(&primary.len()) && primary.chars().all(|c| c.is_ascii_lowercase()) {
        primary
    } else {
        "en".to_owned()
    }
}

/// "Paris, Texas, USA" is ("Paris", ["Texas", "USA"]).
fn split_qualifiers(query: &str) -> (&str, Vec<&str>) {
    let mut parts = query.split(',').map(str::trim);
    let city = parts.next().unwrap_or_default();
    (city, parts.filter(|part| !part.is_empty()).collect())
}

/// The first result (in Open-Meteo's ranking) matching the most qualifiers; None if no
/// result matches any.
fn best_match<'a>(results: &'a [GeoResult], qualifiers: &[&str]) -> Option<&'a GeoResult> {
    let mut best: Option<(&GeoResult, usize)> = None;
    for result in results {
        let score = qualifiers
            .iter()
            .filter(|qualifier| matches_qualifier(result, qualifier))
            .count();
        if score > 0 && best.is_none_or(|(_, best_score)| score > best_score) {
            best = Some((result, score));
        }
    }
    best.map(|(result, _)| result)
}

fn matches_qualifier(result: &GeoResult, qualifier: &str) -> bool {
    let wanted = fold(qualifier);
    if wanted.is_empty() {
        return false;
    }
    let named = [
        &result.admin1,
        &result.admin2,
        &result.admin3,
        &result.country,
    ]
    .into_iter()
    .flatten()
    .any(|field| fold(field) == wanted);
    if named {
        return true;
    }
    let Some(code) = result.country_code.as_deref().map(str::to_ascii_uppercase) else {
        return false;
    };
    if wanted.len() == 2 && wanted.eq_ignore_ascii_case(&code) {
        return true;
    }
    if country_alias(&wanted) == Some(code.as_str()) {
        return true;
    }
    code == "US"
        && us_state(&wanted).is_some_and(|state| {
            result
                .admin1
                .as_deref()
                .is_some_and(|admin1| fold(admin1) == state)
        })
}

/// Lower case, Latin diacritics dropped, periods removed, hyphens as spaces: "Île-de-France"
/// and "ile de france" compare equal, as do "D.C." and "dc".
fn fold(text: &str) -> String {
    let mut folded = String::with_capacity(text.len());
    for c in text.chars().flat_map(char::to_lowercase) {
        let plain = match c {
            'à' | 'á' | 'â' | 'ã' | 'ä' | 'å' | 'ā' => "a",
            'ç' | 'ć' | 'č' => "c",
            'è' | 'é' | 'ê' | 'ë' | 'ē' | 'ę' => "e",
            'ì' | 'í' | 'î' | 'ï' | 'ī' => "i",
            'ñ' | 'ń' => "n",
            'ò' | 'ó' | 'ô' | 'õ' | 'ö' | 'ø' | 'ō' => "o",
            'ù' | 'ú' | 'û' | 'ü' | 'ū' => "u",
            'ý' | 'ÿ' => "y",
            'ß' => "ss",
            'ł' => "l",
            'ś' | 'š' => "s",
            'ź' | 'ż' | 'ž' => "z",
            '.' => "",
            '-' | '_' => " ",
            _ => {
                folded.push(c);
                continue;
            }
        };
        folded.push_str(plain);
    }
    folded.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Country names people say that are not GeoNames' country name or ISO code.
fn country_alias(folded: &str) -> Option<&'static str> {
    Some(match folded {
        "usa"
        | "us"
        | "u s"
        | "u s a"
        | "america"
        | "united states of america"
        | "the united states"
        | "the us"
        | "the usa" => "US",
        "uk" | "u k" | "the uk" | "britain" | "great britain" | "england" | "scotland"
        | "wales" | "northern ireland" => "GB",
        "uae" | "the uae" => "AE",
        "holland" | "the netherlands" => "NL",
        _ => return None,
    })
}

/// The state a USPS abbreviation stands for, folded, for results in the United States.
fn us_state(folded: &str) -> Option<&'static str> {
    const STATES: &[(&str, &str)] = &[
        ("al", "alabama"),
        ("ak", "alaska"),
        ("az", "arizona"),
        ("ar", "arkansas"),
        ("ca", "california"),
        ("co", "colorado"),
        ("ct", "connecticut"),
        ("de", "delaware"),
        ("dc", "washington dc"),
        ("fl", "florida"),
        ("ga", "georgia"),
        ("hi", "hawaii"),
        ("id", "idaho"),
        ("il", "illinois"),
        ("in", "indiana"),
        ("ia", "iowa"),
        ("ks", "kansas"),
        ("ky", "kentucky"),
        ("la", "louisiana"),
        ("me", "maine"),
        ("md", "maryland"),
        ("ma", "massachusetts"),
        ("mi", "michigan"),
        ("mn", "minnesota"),
        ("ms", "mississippi"),
        ("mo", "missouri"),
        ("mt", "montana"),
        ("ne", "nebraska"),
        ("nv", "nevada"),
        ("nh", "new hampshire"),
        ("nj", "new jersey"),
        ("nm", "new mexico"),
        ("ny", "new york"),
        ("nc", "north carolina"),
        ("nd", "north dakota"),
        ("oh", "ohio"),
        ("ok", "oklahoma"),
        ("or", "oregon"),
        ("pa", "pennsylvania"),
        ("ri", "rhode island"),
        ("sc", "south carolina"),
        ("sd", "south dakota"),
        ("tn", "tennessee"),
        ("tx", "texas"),
        ("ut", "utah"),
        ("vt", "vermont"),
        ("va", "virginia"),
        ("wa", "washington"),
        ("wv", "west virginia"),
        ("wi", "wisconsin"),
        ("wy", "wyoming"),
    ];
    STATES
        .iter()
        .find(|(abbreviation, _)| *abbreviation == folded)
        .map(|(_, state)| *state)
}

fn non_empty(value: &Option<String>) -> Option<String> {
    value
        .as_deref()
        .map(str::trim)
        .filter(|value| !value.is_empty())
        .map(str::to_owned)
}

fn to_place(result: &GeoResult) -> Place {
    Place {
        name: result.name.trim().to_owned(),
        admin1: non_empty(&result.admin1),
        country: non_empty(&result.country),
        latitude: result.latitude,
        longitude: result.longitude,
        timezone: non_empty(&result.timezone),
    }
}

/// The place as asked, with the zone the forecast resolved if the geocoder had none.
fn merged_place(place: &Place, timezone: &str) -> Place {
    let mut place = place.clone();
    if place.timezone.is_none() {
        place.timezone = Some(timezone.to_owned());
    }
    place
}

fn convert_forecast(
    response: ForecastResponse,
    place: &Place,
    units: Units,
) -> Result<Forecast, WeatherError> {
    let timezone = response
        .timezone
        .as_deref()
        .map(str::trim)
        .filter(|zone| !zone.is_empty())
        .unwrap_or("GMT")
        .to_owned();
    let offset = response
        .utc_offset_seconds
        .and_then(FixedOffset::east_opt)
        .unwrap_or_else(|| FixedOffset::east_opt(0).expect("zero is a valid offset"));
    let clock = LocalClock {
        zone: timezone.parse().ok(),
        offset,
    };
    let current = response
        .current
        .ok_or_else(|| WeatherError::BadResponse("no current conditions".into()))?;
    Ok(Forecast {
        place: merged_place(place, &timezone),
        units,
        utc_offset_seconds: offset.local_minus_utc(),
        current: convert_current(current, &clock)?,
        hourly: convert_hourly(response.hourly.unwrap_or_default(), &clock),
        daily: convert_daily(response.daily.unwrap_or_default(), &clock),
        timezone,
    })
}

/// Places Open-Meteo's offset-less local times on the timeline.
struct LocalClock {
    zone: Option<chrono_tz::Tz>,
    offset: FixedOffset,
}

impl LocalClock {
    fn parse(&self, text: &str) -> Option<DateTime<FixedOffset>> {
        let naive = NaiveDateTime::parse_from_str(text, "%Y-%m-%dT%H:%M")
            .or_else(|_| NaiveDateTime::parse_from_str(text, "%Y-%m-%dT%H:%M:%S"))
            .ok()?;
        if let Some(zone) = self.zone {
            // The zone knows about DST changes within the week; a time in a spring-forward
            // gap falls through to the fixed offset, an ambiguous one takes the earlier.
            if let Some(local) = zone.from_local_datetime(&naive).earliest() {
                return Some(local.fixed_offset());
            }
        }
        self.offset.from_local_datetime(&naive).single()
    }
}

fn convert_current(current: CurrentWire, clock: &LocalClock) -> Result<Current, WeatherError> {
    let time = clock.parse(&current.time).ok_or_else(|| {
        WeatherError::BadResponse(format!(
            "current time {:?} is not a local time",
            current.time
        ))
    })?;
    let temperature = wire::finite(current.temperature_2m)
        .ok_or_else(|| WeatherError::BadResponse("no current temperature".into()))?;
    Ok(Current {
        time,
        temperature,
        apparent_temperature: wire::finite(current.apparent_temperature),
        weather_code: wire::small_integer(current.weather_code),
        wind_speed: wire::finite(current.wind_speed_10m),
        // Daytime is the safer guess when the flag is missing: "sunny" at night is the
        // only wording it changes.
        is_day: current.is_day.is_none_or(|flag| flag >= 0.5),
    })
}

fn convert_hourly(hourly: HourlyWire, clock: &LocalClock) -> Vec<Hour> {
    hourly
        .time
        .iter()
        .enumerate()
        .filter_map(|(index, time)| {
            Some(Hour {
                time: clock.parse(time)?,
                temperature: wire::finite(wire::at(&hourly.temperature_2m, index)),
                precipitation_probability: wire::small_integer(wire::at(
                    &hourly.precipitation_probability,
                    index,
                ))
                .map(|p| p.min(100)),
                weather_code: wire::small_integer(wire::at(&hourly.weather_code, index)),
                wind_speed: wire::finite(wire::at(&hourly.wind_speed_10m, index)),
            })
        })
        .collect()
}

fn convert_daily(daily: DailyWire, clock: &LocalClock) -> Vec<Day> {
    daily
        .time
        .iter()
        .enumerate()
        .filter_map(|(index, date)| {
            Some(Day {
                date: NaiveDate::parse_from_str(date, "%Y-%m-%d").ok()?,
                temperature_max: wire::finite(wire::at(&daily.temperature_2m_max, index)),
                temperature_min: wire::finite(wire::at(&daily.temperature_2m_min, index)),
                precipitation_probability_max: wire::small_integer(wire::at(
                    &daily.precipitation_probability_max,
                    index,
                ))
                .map(|p| p.min(100)),
                weather_code: wire::small_integer(wire::at(&daily.weather_code, index)),
                wind_speed_max: wire::finite(wire::at(&daily.wind_speed_10m_max, index)),
                sunrise: wire::at(&daily.sunrise, index).and_then(|time| clock.parse(&time)),
                sunset: wire::at(&daily.sunset, index).and_then(|time| clock.parse(&time)),
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn result(name: &str, admin1: &str, country: &str, code: &str) -> GeoResult {
        GeoResult {
            name: name.into(),
            latitude: 1.0,
            longitude: 1.0,
            country: Some(country.into()),
            country_code: Some(code.into()),
            admin1: Some(admin1.into()),
            admin2: None,
            admin3: None,
            timezone: None,
        }
    }

    #[test]
    fn qualifiers_pick_the_matching_region_or_country() {
        let results = [
            result("Paris", "Île-de-France", "France", "FR"),
            result("Paris", "Texas", "United States", "US"),
            result("Paris", "Tennessee", "United States", "US"),
        ];
        let pick = |qualifiers: &[&str]| best_match(&results, qualifiers).map(|r| r.admin1.clone());
        assert_eq!(pick(&["Texas"]), Some(Some("Texas".into())));
        assert_eq!(pick(&["tx"]), Some(Some("Texas".into())));
        assert_eq!(pick(&["TN"]), Some(Some("Tennessee".into())));
        assert_eq!(pick(&["France"]), Some(Some("Île-de-France".into())));
        assert_eq!(pick(&["ile de france"]), Some(Some("Île-de-France".into())));
        assert_eq!(pick(&["fr"]), Some(Some("Île-de-France".into())));
        // The first US result wins a country-only qualifier; more matches beat fewer.
        assert_eq!(pick(&["USA"]), Some(Some("Texas".into())));
        assert_eq!(pick(&["Tennessee", "USA"]), Some(Some("Tennessee".into())));
        assert_eq!(pick(&["Ontario"]), None);
    }

    #[test]
    fn names_and_languages_are_tidied() {
        assert_eq!(tidy_name("  Paris ,  Texas? "), "Paris , Texas");
        assert_eq!(split_qualifiers("Paris , Texas"), ("Paris", vec!["Texas"]));
        assert_eq!(split_qualifiers("Paris,, USA"), ("Paris", vec!["USA"]));
        assert_eq!(language_code("en-US"), "en");
        assert_eq!(language_code("FR"), "fr");
        assert_eq!(language_code(""), "en");
        assert_eq!(language_code("english"), "en");
        assert_eq!(language_code("../x"), "en");
    }

    #[test]
    fn coordinates_are_sent_in_hundredths() {
        assert_eq!(hundredths(-7106), "-71.06");
        assert_eq!(hundredths(4236), "42.36");
        assert_eq!(hundredths(-5), "-0.05");
        assert_eq!(hundredths(0), "0.00");
        assert_eq!(hundredths(18000), "180.00");
    }

    #[test]
    fn local_times_follow_the_zone_across_a_dst_change() {
        let clock = LocalClock {
            zone: Some(chrono_tz::America::New_York),
            offset: FixedOffset::west_opt(4 * 3600).unwrap(),
        };
        // 2025-11-02: EDT until 02:00, EST after.
        assert_eq!(
            clock.parse("2025-11-01T12:00").unwrap().to_rfc3339(),
            "2025-11-01T12:00:00-04:00"
        );
        assert_eq!(
            clock.parse("2025-11-03T12:00").unwrap().to_rfc3339(),
            "2025-11-03T12:00:00-05:00"
        );
        // In the spring-forward gap the reported offset is used.
        assert!(clock.parse("2026-03-08T02:30").is_some());
        assert!(clock.parse("yesterday").is_none());
        let fixed = LocalClock {
            zone: None,
            offset: FixedOffset::east_opt(3600).unwrap(),
        };
        assert_eq!(
            fixed.parse("2025-11-03T12:00:30").unwrap().to_rfc3339(),
            "2025-11-03T12:00:30+01:00"
        );
    }
}

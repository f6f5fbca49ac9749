//! The Open-Meteo client against the fake Open-Meteo: the requests it sends, geocoding with
//! qualifiers, every failure mode, caching, and a spoken answer end to end.

use std::net::{Ipv4Addr, SocketAddr};
use std::time::{Duration, Instant};

use ballsy::weather::{
    Units, WeatherAspect, WeatherClient, WeatherConfig, WeatherError, WeatherQuestion, WeatherWhen,
    parse_weather_question, speak,
};
use ballsy_bench::fake_weather::{
    CityWeather, DayWeather, Endpoint, FakeWeather, FakeWeatherConfig, WeatherFault,
};
use chrono::{DateTime, TimeZone as _, Utc};

/// Wednesday 8 April 2026, 10:05 in Boston (EDT): before noon, so "this afternoon" is ahead.
fn boston_morning() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 4, 8, 14, 5, 0).unwrap()
}

async fn fake() -> FakeWeather {
    FakeWeather::start(FakeWeatherConfig {
        now: Some(boston_morning()),
        ..FakeWeatherConfig::default()
    })
    .await
    .expect("fake Open-Meteo starts")
}

fn config_for(base_url: &str) -> WeatherConfig {
    WeatherConfig {
        forecast_base_url: base_url.to_owned(),
        geocoding_base_url: base_url.to_owned(),
        timeout: Duration::from_secs(3),
        ..WeatherConfig::default()
    }
}

fn client(fake: &FakeWeather) -> WeatherClient {
    WeatherClient::new(config_for(&fake.base_url())).expect("client builds")
}

#[tokio::test]
async fn a_metric_forecast_sends_open_meteos_parameters_and_reads_its_answer() {
    let fake = fake().await;
    let client = client(&fake);

    let place = client.geocode("Boston", "en-US").await.unwrap();
    assert_eq!(place.name, "Boston");
    assert_eq!(place.admin1.as_deref(), Some("Massachusetts"));
    assert_eq!(place.country.as_deref(), Some("United States"));
    assert_eq!(place.timezone.as_deref(), Some("America/New_York"));
    assert!((place.latitude - 42.35843).abs() < 1e-9);

    let search = &fake.requests_to(Endpoint::Geocoding)[0];
    assert_eq!(search.path, "/v1/search");
    assert_eq!(search.param("name"), Some("Boston"));
    assert_eq!(search.param("count"), Some("1"));
    assert_eq!(search.param("language"), Some("en"));
    assert_eq!(search.param("format"), Some("json"));
    assert_eq!(
        search.header("user-agent"),
        Some(concat!("ballsy/", env!("CARGO_PKG_VERSION")))
    );

    let forecast = client.forecast(&place, Units::Metric).await.unwrap();
    let request = &fake.requests_to(Endpoint::Forecast)[0];
    assert_eq!(request.path, "/v1/forecast");
    for (name, value) in [
        ("latitude", "42.36"),
        ("longitude", "-71.06"),
        (
            "current",
            "temperature_2m,apparent_temperature,weather_code,wind_speed_10m,is_day",
        ),
        (
            "hourly",
            "temperature_2m,precipitation_probability,weather_code,wind_speed_10m",
        ),
        (
            "daily",
            "weather_code,temperature_2m_max,temperature_2m_min,precipitation_probability_max,wind_speed_10m_max,sunrise,sunset",
        ),
        ("timezone", "auto"),
        ("forecast_days", "7"),
        ("temperature_unit", "celsius"),
        ("wind_speed_unit", "kmh"),
        ("precipitation_unit", "mm"),
    ] {
        assert_eq!(request.param(name), Some(value), "{name}");
    }

    assert_eq!(forecast.units, Units::Metric);
    assert_eq!(forecast.timezone, "America/New_York");
    assert_eq!(forecast.utc_offset_seconds, -4 * 3600);
    assert_eq!(forecast.current.temperature, 12.3);
    assert_eq!(forecast.current.apparent_temperature, Some(10.8));
    assert_eq!(forecast.current.weather_code, Some(3));
    assert_eq!(forecast.current.wind_speed, Some(14.8));
    assert!(forecast.current.is_day);
    assert_eq!(
        forecast.current.time.to_rfc3339(),
        "2026-04-08T10:00:00-04:00"
    );
    assert_eq!(forecast.hourly.len(), 7 * 24);
    assert_eq!(
        forecast.hourly[0].time.to_rfc3339(),
        "2026-04-08T00:00:00-04:00"
    );
    assert_eq!(forecast.hourly[14].precipitation_probability, Some(80));
    assert_eq!(forecast.hourly[14].weather_code, Some(61));
    assert_eq!(forecast.daily.len(), 7);
    assert_eq!(forecast.daily[0].date.to_string(), "2026-04-08");
    assert_eq!(forecast.daily[0].temperature_max, Some(15.2));
    assert_eq!(forecast.daily[0].precipitation_probability_max, Some(80));
    assert_eq!(
        forecast.daily[0].sunrise.map(|t| t.to_rfc3339()),
        Some("2026-04-08T06:12:00-04:00".to_owned())
    );

    // End to end: the example answer.
    let question = parse_weather_question("what's the weather in Boston").unwrap();
    assert_eq!(
        speak(&question, &forecast, boston_morning()),
        "In Boston it's 12 degrees and cloudy, with a high of 15; rain is likely this afternoon."
    );
}

#[tokio::test]
async fn an_imperial_forecast_asks_for_fahrenheit_and_mph() {
    let fake = fake().await;
    let client = client(&fake);
    let place = client.geocode("austin", "en").await.unwrap();
    let forecast = client.forecast(&place, Units::Imperial).await.unwrap();

    let request = &fake.requests_to(Endpoint::Forecast)[0];
    assert_eq!(request.param("temperature_unit"), Some("fahrenheit"));
    assert_eq!(request.param("wind_speed_unit"), Some("mph"));
    assert_eq!(request.param("precipitation_unit"), Some("inch"));
    assert_eq!(forecast.units, Units::Imperial);
    assert_eq!(forecast.timezone, "America/Chicago");
    assert_eq!(forecast.current.temperature, 91.4);
    assert_eq!(forecast.current.wind_speed, Some(6.8));

    let question = parse_weather_question("how hot will it be tomorrow in austin, texas").unwrap();
    assert_eq!(question.place.as_deref(), Some("austin, texas"));
    assert_eq!(
        speak(&question, &forecast, boston_morning()),
        "Tomorrow in Austin: a high of 99 and a low of 75 degrees."
    );
}

#[tokio::test]
async fn qualifiers_pick_the_right_paris() {
    let fake = fake().await;
    let client = client(&fake);

    let france = client.geocode("Paris", "en").await.unwrap();
    assert_eq!(france.country.as_deref(), Some("France"));

    let texas = client.geocode("Paris, Texas", "en").await.unwrap();
    assert_eq!(texas.admin1.as_deref(), Some("Texas"));
    assert!((texas.latitude - 33.66094).abs() < 1e-9);
    let last = fake.requests_to(Endpoint::Geocoding).pop().unwrap();
    assert_eq!(
        last.param("name"),
        Some("Paris"),
        "the qualifier is matched locally"
    );
    assert_eq!(last.param("count"), Some("20"));

    let tennessee = client.geocode("paris, TN", "en").await.unwrap();
    assert_eq!(tennessee.admin1.as_deref(), Some("Tennessee"));

    let usa = client.geocode("Paris, USA", "en").await.unwrap();
    assert_eq!(
        usa.admin1.as_deref(),
        Some("Texas"),
        "the most populous US Paris"
    );

    // Spoken without the comma: the full name finds nothing, the last word then qualifies.
    fake.clear_requests();
    let spoken = client.geocode("paris texas", "en").await.unwrap();
    assert_eq!(spoken.admin1.as_deref(), Some("Texas"));
    let names: Vec<String> = fake
        .requests_to(Endpoint::Geocoding)
        .iter()
        .filter_map(|r| r.param("name").map(str::to_owned))
        .collect();
    assert_eq!(names, ["paris texas", "paris"]);

    // A qualifier nothing matches is not silently another Paris.
    assert_eq!(
        client.geocode("Paris, Ontario", "en").await,
        Err(WeatherError::NotFound("Paris, Ontario".into()))
    );

    let forecast = client.forecast(&texas, Units::Metric).await.unwrap();
    assert_eq!(forecast.timezone, "America/Chicago");
    assert_eq!(forecast.place.admin1.as_deref(), Some("Texas"));
}

#[tokio::test]
async fn an_unknown_place_is_not_found_and_remembered() {
    let fake = fake().await;
    let client = client(&fake);
    let error = client.geocode("Atlantis", "en").await.unwrap_err();
    assert_eq!(error, WeatherError::NotFound("Atlantis".into()));
    assert_eq!(
        error.sentence(),
        "Sorry, I couldn't find a place called Atlantis."
    );
    assert_eq!(error.kind(), "not_found");
    assert_eq!(fake.request_count(Endpoint::Geocoding), 1);

    assert_eq!(
        client.geocode("atlantis", "en").await,
        Err(WeatherError::NotFound("atlantis".into()))
    );
    assert_eq!(
        fake.request_count(Endpoint::Geocoding),
        1,
        "not-found is cached"
    );

    // Too short to search: answered without a request.
    assert!(matches!(
        client.geocode(" x ", "en").await,
        Err(WeatherError::NotFound(_))
    ));
    assert_eq!(fake.request_count(Endpoint::Geocoding), 1);
}

#[tokio::test]
async fn server_errors_become_upstream_errors_and_are_not_cached() {
    let fake = fake().await;
    let client = client(&fake);
    let place = client.geocode("Boston", "en").await.unwrap();

    fake.push_fault(
        Endpoint::Forecast,
        WeatherFault::Status {
            code: 500,
            reason: None,
        },
    );
    let error = client.forecast(&place, Units::Metric).await.unwrap_err();
    assert!(
        matches!(&error, WeatherError::Upstream(detail) if detail.contains("500")),
        "{error:?}"
    );
    assert_eq!(
        error.sentence(),
        "Sorry, I can't reach the weather service right now. Please try again later."
    );

    fake.push_fault(
        Endpoint::Forecast,
        WeatherFault::Status {
            code: 400,
            reason: Some("Latitude must be in range of -90 to 90°. Given: 91.0.".into()),
        },
    );
    let error = client.forecast(&place, Units::Metric).await.unwrap_err();
    assert_eq!(
        error,
        WeatherError::Upstream(
            "HTTP 400: Latitude must be in range of -90 to 90°. Given: 91.0.".into()
        )
    );

    // The faults were one-shot and failures were not cached.
    assert!(client.forecast(&place, Units::Metric).await.is_ok());
    assert_eq!(fake.request_count(Endpoint::Forecast), 3);

    fake.push_fault(
        Endpoint::Geocoding,
        WeatherFault::Status {
            code: 400,
            reason: Some("Parameter count must be between 1 and 100.".into()),
        },
    );
    assert_eq!(
        client.geocode("New York", "en").await,
        Err(WeatherError::Upstream(
            "HTTP 400: Parameter count must be between 1 and 100.".into()
        ))
    );
    assert_eq!(
        client.geocode("New York", "en").await.unwrap().name,
        "New York"
    );
}

#[tokio::test]
async fn a_slow_answer_is_a_timeout() {
    let fake = fake().await;
    let client = WeatherClient::new(WeatherConfig {
        timeout: Duration::from_millis(300),
        ..config_for(&fake.base_url())
    })
    .unwrap();
    let place = client.geocode("Boston", "en").await.unwrap();

    fake.push_fault(Endpoint::Forecast, WeatherFault::Delay { delay_ms: 2_000 });
    let started = Instant::now();
    let error = client.forecast(&place, Units::Metric).await.unwrap_err();
    assert_eq!(error, WeatherError::Timeout);
    assert!(
        started.elapsed() < Duration::from_millis(1_500),
        "gave up after {:?}",
        started.elapsed()
    );
    assert_eq!(error.kind(), "timeout");

    fake.push_fault(Endpoint::Geocoding, WeatherFault::Delay { delay_ms: 2_000 });
    assert_eq!(
        client.geocode("Paris", "en").await,
        Err(WeatherError::Timeout)
    );
}

#[tokio::test]
async fn unreadable_bodies_are_bad_responses() {
    let fake = fake().await;
    let client = client(&fake);
    let place = client.geocode("Boston", "en").await.unwrap();

    for fault in [WeatherFault::MalformedJson, WeatherFault::WrongShape] {
        fake.push_fault(Endpoint::Forecast, fault.clone());
        let error = client.forecast(&place, Units::Metric).await.unwrap_err();
        assert!(
            matches!(error, WeatherError::BadResponse(_)),
            "{fault:?}: {error:?}"
        );
        fake.push_fault(Endpoint::Geocoding, fault.clone());
        let error = client.geocode("Austin", "en").await.unwrap_err();
        assert!(
            matches!(error, WeatherError::BadResponse(_)),
            "{fault:?}: {error:?}"
        );
    }
    assert_eq!(
        WeatherError::BadResponse("x".into()).sentence(),
        "Sorry, the weather service sent an answer I couldn't read. Please try again later."
    );
}

#[tokio::test]
async fn a_refused_connection_is_an_upstream_error() {
    // A port that was just free: nothing listens there.
    let listener = std::net::TcpListener::bind(SocketAddr::from((Ipv4Addr::LOCALHOST, 0))).unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    let client = WeatherClient::new(config_for(&format!("http://{addr}"))).unwrap();
    let error = client.geocode("Boston", "en").await.unwrap_err();
    assert!(matches!(error, WeatherError::Upstream(_)), "{error:?}");
}

#[tokio::test]
async fn forecasts_and_places_are_cached() {
    let fake = fake().await;
    let client = client(&fake);
    let place = client.geocode("Boston", "en").await.unwrap();
    assert_eq!(client.geocode("  boston ", "en").await.unwrap(), place);
    assert_eq!(fake.request_count(Endpoint::Geocoding), 1);
    client.geocode("Boston", "fr").await.unwrap();
    assert_eq!(fake.request_count(Endpoint::Geocoding), 2, "per language");

    let first = client.forecast(&place, Units::Metric).await.unwrap();
    // A clone shares the cache; a place a few metres away shares the entry.
    let nearby = ballsy::weather::Place {
        name: "Boston Common".into(),
        latitude: place.latitude + 0.001,
        ..place.clone()
    };
    let second = client
        .clone()
        .forecast(&nearby, Units::Metric)
        .await
        .unwrap();
    assert_eq!(fake.request_count(Endpoint::Forecast), 1);
    assert_eq!(second.place.name, "Boston Common");
    assert_eq!(second.current, first.current);

    client.forecast(&place, Units::Imperial).await.unwrap();
    assert_eq!(
        fake.request_count(Endpoint::Forecast),
        2,
        "other units are another entry"
    );

    // A changed script is only seen once the entry expires.
    fake.set_weather(
        "boston",
        CityWeather {
            temperature: -2.0,
            apparent_temperature: -6.0,
            weather_code: 71,
            wind_speed: 20.0,
            is_day: Some(true),
            days: vec![DayWeather::new(-5.0, 0.0, 71, 90)],
        },
    );
    assert_eq!(
        client
            .forecast(&place, Units::Metric)
            .await
            .unwrap()
            .current
            .temperature,
        12.3
    );

    let short = WeatherClient::new(WeatherConfig {
        forecast_ttl: Duration::from_millis(150),
        ..config_for(&fake.base_url())
    })
    .unwrap();
    short.forecast(&place, Units::Metric).await.unwrap();
    tokio::time::sleep(Duration::from_millis(250)).await;
    let fresh = short.forecast(&place, Units::Metric).await.unwrap();
    assert_eq!(fresh.current.temperature, -2.0);
    assert_eq!(fake.request_count(Endpoint::Forecast), 4);

    let question = WeatherQuestion {
        place: Some("Boston".into()),
        when: WeatherWhen::Now,
        aspect: WeatherAspect::Snow,
    };
    assert_eq!(
        speak(&question, &fresh, boston_morning()),
        "Yes, it's snowing in Boston right now."
    );
}

#[tokio::test]
async fn a_bad_base_url_is_a_construction_error() {
    assert!(WeatherClient::new(config_for("not a url")).is_err());
    assert!(WeatherClient::new(config_for("ftp://example.com")).is_err());
    assert!(WeatherClient::new(WeatherConfig::default()).is_ok());
}

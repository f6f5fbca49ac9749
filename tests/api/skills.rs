//! Everyday skills end to end (issue 14): timers, alarms and reminders stored per user and
//! rung on every open socket within a second, exactly once across instances; unit
//! conversions; the weather from a fake Open-Meteo.

use std::time::{Duration, Instant};

use ballsy_bench::fake_weather::{Endpoint, FakeWeather, FakeWeatherConfig, WeatherFault};
use chrono::{DateTime, Utc};
use serde_json::{Value, json};

use crate::helpers::{AppOptions, Backend, TestApp, TestDb, get_json, new_client, spawn_app};
use crate::on_both_backends;

fn due_at(reply: &Value) -> DateTime<Utc> {
    reply["data"]["due_at"]
        .as_str()
        .unwrap()
        .parse()
        .expect("due_at is RFC 3339")
}

async fn timers_are_set_listed_and_cancelled_by_rules(backend: Backend) {
    let app = spawn_app(AppOptions::new(backend)).await;
    let before = Utc::now();
    let timer = app.ask("set a timer for 10 minutes").await;
    assert_eq!(timer["action"], "timer", "{timer}");
    assert_eq!(timer["response"], "Timer set for 10 minutes.");
    assert_eq!(timer["data"]["kind"], "timer");
    assert_eq!(timer["data"]["duration_s"], 600);
    let due = due_at(&timer);
    assert!(
        due >= before + chrono::Duration::seconds(599)
            && due <= Utc::now() + chrono::Duration::seconds(601)
    );
    let pasta = app.ask("a 5 minute pasta timer").await;
    assert_eq!(pasta["data"]["label"], "pasta");
    assert_eq!(pasta["response"], "Pasta timer set for 5 minutes.");
    let reminder = app.ask("remind me in 20 minutes to call mom").await;
    assert_eq!(reminder["data"]["kind"], "reminder");
    assert_eq!(reminder["data"]["label"], "call mom");

    let listed = app.ask("what timers do I have").await;
    let said = listed["response"].as_str().unwrap();
    assert_eq!(
        said,
        "You have the pasta timer with 5 minutes left, and a timer with 10 minutes left."
    );
    let reminders = app.ask("what reminders do I have").await;
    assert!(
        reminders["response"]
            .as_str()
            .unwrap()
            .contains("to call mom"),
        "{reminders}"
    );
    let left = app.ask("how much time is left").await;
    assert!(
        left["response"]
            .as_str()
            .unwrap()
            .contains("left on the pasta timer"),
        "{left}"
    );

    let cancelled = app.ask("cancel the pasta timer").await;
    assert_eq!(cancelled["action"], "timer_cancelled");
    assert_eq!(cancelled["data"]["ids"], json!([pasta["data"]["id"]]));

    let timers = get_json(&app.client, &app.url("/api/timers")).await;
    let ids: Vec<i64> = timers["timers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["id"].as_i64().unwrap())
        .collect();
    assert_eq!(
        ids,
        [
            timer["data"]["id"].as_i64().unwrap(),
            reminder["data"]["id"].as_i64().unwrap()
        ],
        "pending ones, soonest first"
    );
    // Another user cannot touch them.
    let stranger = new_client()
        .delete(app.url(&format!("/api/timers/{}", ids[0])))
        .send()
        .await
        .unwrap();
    assert_eq!(stranger.status(), 404);
    let mine = app
        .client
        .delete(app.url(&format!("/api/timers/{}", ids[0])))
        .send()
        .await
        .unwrap();
    assert_eq!(mine.status(), 204);
    // Only the reminder is left: "cancel all timers" has nothing to do, reminders do.
    let nothing = app.ask("cancel all timers").await;
    assert_eq!(nothing["response"], "You don't have any timers going.");
    let all = app.ask("cancel all reminders").await;
    assert_eq!(all["action"], "timer_cancelled", "{all}");
    let none = app.ask("what reminders do I have").await;
    assert!(
        none["response"]
            .as_str()
            .unwrap()
            .starts_with("You don't have any"),
        "{none}"
    );
}
on_both_backends!(timers_are_set_listed_and_cancelled_by_rules);

async fn timers_have_limits_that_are_said_plainly(backend: Backend) {
    let app = spawn_app(AppOptions::new(backend)).await;
    let too_long = app.ask("set a timer for 8 days").await;
    assert!(too_long["action"].is_null());
    assert!(
        too_long["response"].as_str().unwrap().contains("7 days"),
        "{too_long}"
    );
    for i in 0..20 {
        assert_eq!(
            app.ask(&format!("set a timer for {} minutes", i + 1)).await["action"],
            "timer"
        );
    }
    let refused = app.ask("set a timer for 30 minutes").await;
    assert!(refused["action"].is_null());
    assert!(
        refused["response"].as_str().unwrap().contains("20"),
        "{refused}"
    );
}
on_both_backends!(timers_have_limits_that_are_said_plainly);

async fn alarms_are_set_in_the_users_time_zone(backend: Backend) {
    let app = spawn_app(AppOptions::new(backend)).await;
    let response = app
        .client
        .post(app.url("/api/command"))
        .json(&json!({"command": "set an alarm for 6:30 am tomorrow", "timezone": "America/New_York"}))
        .send()
        .await
        .unwrap();
    let alarm: Value = response.json().await.unwrap();
    assert_eq!(alarm["data"]["kind"], "alarm", "{alarm}");
    let local = due_at(&alarm).with_timezone(&chrono_tz::America::New_York);
    assert_eq!(local.format("%H:%M").to_string(), "06:30");
    let today = Utc::now()
        .with_timezone(&chrono_tz::America::New_York)
        .date_naive();
    assert_eq!(local.date_naive(), today.succ_opt().unwrap());
    assert!(
        alarm["response"]
            .as_str()
            .unwrap()
            .starts_with("Alarm set for 6:30 AM tomorrow")
    );
}
on_both_backends!(alarms_are_set_in_the_users_time_zone);

/// Reads frames until a `timer_due` (or `timer_missed`) arrives.
async fn next_timer_frame(ws: &mut crate::helpers::Ws, within: Duration) -> Value {
    let deadline = Instant::now() + within;
    loop {
        assert!(Instant::now() < deadline, "no timer frame in time");
        let frame = ws.recv_json().await;
        if matches!(frame["type"].as_str(), Some("timer_due" | "timer_missed")) {
            return frame;
        }
    }
}

async fn a_due_timer_rings_every_open_tab_within_a_second(backend: Backend) {
    let app = spawn_app(AppOptions::new(backend)).await;
    let (token, _) = app.new_session().await;
    let mut tab_a = app.ws("a", &token).await;
    let mut tab_b = app.ws("b", &token).await;
    let (_, reply) = tab_a.command("set a timer for 2 seconds").await;
    let timer = &reply["data"];
    assert_eq!(timer["action"], "timer", "{reply}");
    let due = due_at(timer);
    for tab in [&mut tab_a, &mut tab_b] {
        let frame = next_timer_frame(tab, Duration::from_secs(5)).await;
        let rang = Utc::now();
        assert_eq!(frame["type"], "timer_due");
        assert_eq!(frame["id"], timer["data"]["id"]);
        assert_eq!(frame["kind"], "timer");
        assert!(
            rang - due < chrono::Duration::milliseconds(1000),
            "rang {} ms late",
            (rang - due).num_milliseconds()
        );
    }
    let timers = app
        .state
        .store()
        .pending_timers(&app.user_of(&token).await)
        .await
        .unwrap();
    assert!(timers.is_empty(), "it fired");
}
on_both_backends!(a_due_timer_rings_every_open_tab_within_a_second);

async fn a_timer_that_rang_with_no_page_open_is_shown_as_missed(backend: Backend) {
    let app = spawn_app(AppOptions::new(backend)).await;
    let (token, _) = app.new_session().await;
    let set: Value = new_client()
        .post(app.url("/api/command"))
        .bearer_auth(&token)
        .json(&json!({"command": "set a timer for 1 second"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(set["action"], "timer", "{set}");
    tokio::time::sleep(Duration::from_millis(2500)).await;
    let mut ws = app.ws("later", &token).await;
    let frame = next_timer_frame(&mut ws, Duration::from_secs(3)).await;
    assert_eq!(frame["type"], "timer_missed");
    assert_eq!(frame["id"], set["data"]["id"]);
    // Only once.
    let mut again = app.ws("again", &token).await;
    again.send_json(json!({"type": "ping"})).await;
    assert_eq!(again.recv_json().await["type"], "pong");
}
on_both_backends!(a_timer_that_rang_with_no_page_open_is_shown_as_missed);

/// Two `ballsy` processes on one PostgreSQL: both sweep, each timer is claimed once, and a
/// socket on the process that did not claim it still rings.
#[tokio::test]
async fn timers_ring_exactly_once_across_two_processes_on_one_postgres() {
    let Some(_) = crate::helpers::postgres_admin_url() else {
        crate::helpers::report_skip(
            "timers_ring_exactly_once_across_two_processes_on_one_postgres",
        );
        return;
    };
    let db = TestDb::new(Backend::Postgres).await;
    let env = vec![
        ("DATABASE_URL", db.url.clone()),
        ("LOG_FORMAT", "json".to_owned()),
        ("LOG_LEVEL", "info".to_owned()),
    ];
    let first = crate::server::Server::start(&env);
    let second = crate::server::Server::start(&env);
    let client = reqwest::Client::new();
    for server in [&first, &second] {
        let ready = crate::helpers::eventually(Duration::from_secs(20), || async {
            client
                .get(server.url("/ready"))
                .send()
                .await
                .is_ok_and(|r| r.status() == 200)
        })
        .await;
        assert!(ready, "both processes become ready");
    }
    let session: Value = client
        .post(first.url("/api/session"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let token = session["token"].as_str().unwrap();
    let socket = |server: &crate::server::Server, tab: &str| {
        format!(
            "ws://127.0.0.1:{}/ws/voice/{tab}?token={token}",
            server.port
        )
    };
    let mut on_first = crate::helpers::connect_ws(&socket(&first, "one"), &[])
        .await
        .unwrap();
    let mut on_second = crate::helpers::connect_ws(&socket(&second, "two"), &[])
        .await
        .unwrap();
    let mut ids = Vec::new();
    for _ in 0..10 {
        let (_, reply) = on_first.command("set a timer for 2 seconds").await;
        ids.push(reply["data"]["data"]["id"].as_i64().unwrap());
    }
    for ws in [&mut on_first, &mut on_second] {
        let mut rung = Vec::new();
        while rung.len() < ids.len() {
            let frame = next_timer_frame(ws, Duration::from_secs(6)).await;
            assert_eq!(frame["type"], "timer_due");
            rung.push(frame["id"].as_i64().unwrap());
        }
        rung.sort_unstable();
        let mut expected = ids.clone();
        expected.sort_unstable();
        assert_eq!(rung, expected, "each timer rings once on each socket");
        // Nothing rings twice.
        ws.send_json(json!({"type": "ping"})).await;
        loop {
            let frame = ws.recv_json().await;
            assert_ne!(frame["type"], "timer_due", "a timer rang twice: {frame}");
            if frame["type"] == "pong" {
                break;
            }
        }
    }
    // Each timer was claimed by exactly one of the two processes.
    let claims: usize = [&first, &second]
        .iter()
        .map(|server| {
            server
                .log_lines()
                .iter()
                .filter(|line| line["message"] == "a timer is due")
                .count()
        })
        .sum();
    assert_eq!(
        claims,
        ids.len(),
        "one claim per timer across both processes"
    );
}

// --- Conversions ---------------------------------------------------------------------------

async fn conversions_are_exact_and_spoken_rounded(backend: Backend) {
    let app = spawn_app(AppOptions::new(backend)).await;
    for (command, said) in [
        ("convert 5 miles to km", "5 miles is 8.05 kilometres."),
        ("72 fahrenheit in celsius", "72 °F is 22.2 °C."),
        (
            "how many ounces in a pound",
            "There are 16 ounces in a pound.",
        ),
        ("3 cups to ml", "3 US cups is 710 millilitres."),
    ] {
        let reply = app.ask(command).await;
        assert_eq!(reply["response"], said, "{command}");
        assert_eq!(reply["source"], "rule");
    }
}
on_both_backends!(conversions_are_exact_and_spoken_rounded);

// --- Weather -------------------------------------------------------------------------------

async fn weather_app(backend: Backend) -> (TestApp, FakeWeather) {
    let fake = FakeWeather::start(FakeWeatherConfig::default())
        .await
        .unwrap();
    let base = fake.base_url();
    let app = spawn_app(AppOptions::new(backend).configure(move |c| {
        c.weather_base_url = base.clone();
        c.geocoding_base_url = base;
    }))
    .await;
    (app, fake)
}

async fn the_weather_is_spoken_with_a_card(backend: Backend) {
    let (app, fake) = weather_app(backend).await;
    let reply = app.ask("weather in Boston").await;
    assert_eq!(reply["action"], "weather", "{reply}");
    assert_eq!(reply["data"]["place"], "Boston");
    assert!(
        reply["data"]["hours"]
            .as_array()
            .is_some_and(|h| !h.is_empty())
    );
    let said = reply["response"].as_str().unwrap();
    assert!(
        said.contains("Boston") && said.contains("degrees"),
        "{said}"
    );
    let forecasts = fake.requests_to(Endpoint::Forecast).len();
    app.ask("what's the weather like in boston").await;
    assert_eq!(
        fake.requests_to(Endpoint::Forecast).len(),
        forecasts,
        "cached per place"
    );
}
on_both_backends!(the_weather_is_spoken_with_a_card);

async fn the_weather_finds_its_place_or_asks(backend: Backend) {
    let (app, _fake) = weather_app(backend).await;
    let ask = app.ask("what's the weather").await;
    assert_eq!(ask["action"], "need_location", "{ask}");
    assert!(ask["response"].as_str().unwrap().starts_with("Which city?"));
    // With the browser's position.
    let located: Value = app
        .client
        .post(app.url("/api/command"))
        .json(&json!({"command": "what's the weather", "location": {"latitude": 48.85, "longitude": 2.35}}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(located["action"], "weather", "{located}");
    // With a home city in the settings.
    app.client
        .put(app.url("/api/settings/me"))
        .json(&json!({"home_city": "Paris", "units": "imperial"}))
        .send()
        .await
        .unwrap();
    let home = app.ask("will it rain tomorrow").await;
    assert_eq!(home["action"], "weather", "{home}");
    assert_eq!(home["data"]["place"], "Paris");
    assert_eq!(home["data"]["units"], "imperial");
}
on_both_backends!(the_weather_finds_its_place_or_asks);

async fn weather_trouble_is_an_apology_never_an_error(backend: Backend) {
    let (app, fake) = weather_app(backend).await;
    fake.set_persistent_fault(
        Endpoint::Forecast,
        Some(WeatherFault::Status {
            code: 500,
            reason: None,
        }),
    );
    let reply = app.ask("weather in Austin").await;
    assert_eq!(reply["source"], "rule");
    assert!(reply["action"].is_null());
    assert!(
        reply["response"]
            .as_str()
            .unwrap()
            .to_lowercase()
            .contains("sorry"),
        "{reply}"
    );
    let unknown = app.ask("weather in Zzyzxville").await;
    assert!(
        unknown["response"].as_str().unwrap().contains("Zzyzxville"),
        "{unknown}"
    );
}
on_both_backends!(weather_trouble_is_an_apology_never_an_error);

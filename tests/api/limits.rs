//! Rate limits and AI budgets over HTTP and the WebSocket.

use std::time::Duration;

use ballsy::config::RateLimitStore;
use serde_json::{Value, json};

use crate::helpers::{AppOptions, Backend, spawn_app};
use crate::on_both_backends;

fn limited(
    user_per_minute: u32,
    burst: u32,
    ip_per_minute: u32,
) -> impl FnOnce(&mut ballsy::config::Config) + Send {
    move |c| {
        c.rate_limit.enabled = true;
        c.rate_limit.user_per_minute = user_per_minute;
        c.rate_limit.user_burst = burst;
        c.rate_limit.ip_per_minute = ip_per_minute;
    }
}

async fn user_limit_over_http_answers_429_with_retry_after(backend: Backend) {
    let app = spawn_app(AppOptions::new(backend).configure(limited(6, 3, 1000))).await;
    for _ in 0..3 {
        assert_eq!(app.command("hello").await.status(), 200);
    }
    let refused = app.command("hello").await;
    assert_eq!(refused.status(), 429);
    let retry_after: u64 = refused.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=10).contains(&retry_after), "{retry_after}");
    let body: Value = refused.json().await.unwrap();
    assert_eq!(body["code"], "rate_limited");
    assert!(body["retry_after_ms"].as_u64().unwrap() > 0);
    // Another user is not affected.
    let other = crate::helpers::new_client();
    assert_eq!(
        crate::helpers::command_with(&other, &app, "hello")
            .await
            .status(),
        200
    );
}
on_both_backends!(user_limit_over_http_answers_429_with_retry_after);

#[tokio::test]
async fn shared_user_limit_counts_in_the_database() {
    // With RATE_LIMIT_STORE=postgres two instances share one bucket; here two app instances
    // on the same database stand in for two Cloud Run instances.
    let Some(_) = crate::helpers::postgres_admin_url() else {
        crate::helpers::report_skip("shared_user_limit_counts_in_the_database");
        return;
    };
    let configure = |c: &mut ballsy::config::Config| {
        limited(6, 2, 1000)(c);
        c.rate_limit.store = RateLimitStore::Database;
    };
    let first = spawn_app(AppOptions::new(Backend::Postgres).configure(configure)).await;
    let mut config = first.state.config().clone();
    config.database_url = first.db.database_url();
    let second_db = crate::helpers::TestDb::new(Backend::Sqlite).await;
    let second = crate::helpers::spawn_with_config(config, second_db, None).await;
    let (token, _) = first.new_session().await;
    let call = |app: &crate::helpers::TestApp| {
        reqwest::Client::new()
            .post(app.url("/api/command"))
            .bearer_auth(&token)
            .json(&json!({"command": "hello"}))
            .send()
    };
    assert_eq!(call(&first).await.unwrap().status(), 200);
    assert_eq!(call(&second).await.unwrap().status(), 200);
    assert_eq!(
        call(&first).await.unwrap().status(),
        429,
        "the burst of 2 is shared"
    );
    assert_eq!(call(&second).await.unwrap().status(), 429);
}

#[tokio::test]
async fn ip_limit_counts_every_api_request_but_not_health() {
    let app = spawn_app(AppOptions::new(Backend::Sqlite).configure(limited(1000, 1000, 3))).await;
    for _ in 0..3 {
        assert_eq!(
            app.client
                .get(app.url("/api/session"))
                .send()
                .await
                .unwrap()
                .status(),
            200
        );
    }
    assert_eq!(
        app.client
            .get(app.url("/api/session"))
            .send()
            .await
            .unwrap()
            .status(),
        429
    );
    assert_eq!(
        app.client
            .get(app.url("/health"))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    assert_eq!(
        app.client.get(app.url("/")).send().await.unwrap().status(),
        200
    );
}

#[tokio::test]
async fn spoofed_forwarded_for_does_not_buy_fresh_buckets() {
    // Without TRUST_PROXY the header is ignored entirely.
    let app = spawn_app(AppOptions::new(Backend::Sqlite).configure(limited(1000, 1000, 2))).await;
    let statuses = spoofed_requests(&app).await;
    assert_eq!(statuses, [200, 200, 429, 429]);
    // Behind Cloud Run only the last entry (appended by its front end) counts; whatever the
    // client put before it changes nothing.
    let app = spawn_app(AppOptions::new(Backend::Sqlite).configure(|c| {
        limited(1000, 1000, 2)(c);
        c.trust_proxy = true;
    }))
    .await;
    let statuses = spoofed_requests(&app).await;
    assert_eq!(statuses, [200, 200, 429, 429]);
    let other_client = app
        .client
        .get(app.url("/api/session"))
        .header("x-forwarded-for", "198.51.100.1, 203.0.113.99")
        .send()
        .await
        .unwrap();
    assert_eq!(
        other_client.status(),
        200,
        "a different real client has its own bucket"
    );
}

async fn spoofed_requests(app: &crate::helpers::TestApp) -> Vec<u16> {
    let mut statuses = Vec::new();
    for i in 0..4 {
        let response = app
            .client
            .get(app.url("/api/session"))
            .header("x-forwarded-for", format!("10.9.8.{i}, 203.0.113.7"))
            .send()
            .await
            .unwrap();
        statuses.push(response.status().as_u16());
    }
    statuses
}

async fn websocket_rate_limits_answer_with_an_error_frame(backend: Backend) {
    let app = spawn_app(AppOptions::new(backend).configure(limited(6, 2, 1000))).await;
    let (token, _) = app.new_session().await;
    let mut ws = app.ws("tab", &token).await;
    assert_eq!(ws.command("hello").await.1["type"], "command_response");
    assert_eq!(ws.command("hello").await.1["type"], "command_response");
    let (_, refused) = ws.command("hello").await;
    assert_eq!(refused["type"], "error");
    assert_eq!(refused["code"], "rate_limited");
    assert!(refused["retry_after_ms"].as_u64().unwrap() >= 1);
    ws.send_json(json!({"type": "ping"})).await;
    assert_eq!(
        ws.recv_json().await["type"],
        "pong",
        "the connection is kept"
    );
}
on_both_backends!(websocket_rate_limits_answer_with_an_error_frame);

async fn ai_budget_per_user_leaves_smart_commands_working(backend: Backend) {
    let app = spawn_app(
        AppOptions::new(backend)
            .with_gemini(Default::default())
            .configure(|c| c.ai_daily_requests_per_user = 1),
    )
    .await;
    assert_eq!(app.ask("who wrote hamlet").await["source"], "gemini");
    let over = app.ask("who painted the mona lisa").await;
    assert_eq!(over["source"], "budget");
    assert!(over["response"].as_str().unwrap().contains("AI budget"));
    assert_eq!(app.ask("open youtube").await["source"], "rule");
    assert_eq!(
        app.fake().requests().len(),
        1,
        "no model call beyond the budget"
    );
    // Another user still has budget.
    let other = crate::helpers::new_client();
    let reply: Value = crate::helpers::command_with(&other, &app, "why is the sky blue")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(reply["source"], "gemini");
    // Over the WebSocket too.
    let (token, _) = app.new_session().await;
    let mut ws = app.ws("tab", &token).await;
    assert_eq!(
        ws.command("what is rust").await.1["data"]["source"],
        "gemini"
    );
    assert_eq!(ws.command("what is go").await.1["data"]["source"], "budget");
}
on_both_backends!(ai_budget_per_user_leaves_smart_commands_working);

async fn total_ai_budget_is_shared_by_all_users(backend: Backend) {
    let app = spawn_app(
        AppOptions::new(backend)
            .with_gemini(Default::default())
            .configure(|c| c.ai_daily_requests_total = 2),
    )
    .await;
    let mut sources = Vec::new();
    for _ in 0..3 {
        let client = crate::helpers::new_client();
        let reply: Value = crate::helpers::command_with(&client, &app, "tell me a joke")
            .await
            .json()
            .await
            .unwrap();
        sources.push(reply["source"].as_str().unwrap().to_owned());
    }
    assert_eq!(sources, ["gemini", "gemini", "budget"]);
}
on_both_backends!(total_ai_budget_is_shared_by_all_users);

#[tokio::test]
async fn key_memory_stays_bounded_by_sweeping() {
    let app =
        spawn_app(AppOptions::new(Backend::Sqlite).configure(limited(60_000, 1000, 60_000))).await;
    let limits = app.state.limits().clone();
    for i in 0..2000u32 {
        let ip = std::net::IpAddr::from(i.to_be_bytes());
        limits.check_ip(ballsy::limits::ClientKey::of(ip)).unwrap();
    }
    assert_eq!(limits.tracked_keys().1, 2000);
    // At 60 000 per minute a bucket refills in a millisecond; after that it is indistinguishable
    // from a new one and the sweep forgets it.
    tokio::time::sleep(Duration::from_millis(50)).await;
    limits.sweep();
    assert_eq!(limits.tracked_keys().1, 0);
}

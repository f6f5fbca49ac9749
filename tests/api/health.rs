//! Liveness, readiness, CORS, security headers and request ids.

use std::time::Duration;

use ballsy::config::CorsOrigins;
use serde_json::{Value, json};

use crate::helpers::{AppOptions, Backend, eventually, get_json, spawn_app};
use crate::on_both_backends;

async fn health_and_ready(backend: Backend) {
    let app = spawn_app(AppOptions::new(backend)).await;
    let health = app.client.get(app.url("/health")).send().await.unwrap();
    assert_eq!(health.status(), 200);
    assert_eq!(
        health.json::<Value>().await.unwrap(),
        json!({"status": "ok"})
    );
    let ready = app.client.get(app.url("/ready")).send().await.unwrap();
    assert_eq!(ready.status(), 200);
    assert_eq!(
        ready.json::<Value>().await.unwrap(),
        json!({"status": "ready"})
    );
}
on_both_backends!(health_and_ready);

#[tokio::test]
async fn ready_is_503_when_the_database_is_unreachable_and_health_stays_200() {
    // A port nothing listens on: the pool cannot connect.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    drop(listener);
    let app = spawn_unmigrated(&format!("postgres://nobody@127.0.0.1:{port}/none")).await;
    let ready = app.client.get(app.url("/ready")).send().await.unwrap();
    assert_eq!(ready.status(), 503);
    assert_eq!(
        ready.json::<Value>().await.unwrap(),
        json!({"status": "unavailable", "reason": "database"})
    );
    let health = app.client.get(app.url("/health")).send().await.unwrap();
    assert_eq!(
        health.status(),
        200,
        "liveness never depends on the database"
    );
}

/// Starts the app against a database that may be down, without migrating first.
async fn spawn_unmigrated(database_url: &str) -> crate::helpers::TestApp {
    use ballsy::store::url::DatabaseUrl;
    let db = crate::helpers::TestDb::new(Backend::Sqlite).await;
    let mut config = ballsy::config::Config::for_tests();
    config.database_url = DatabaseUrl::parse(database_url).unwrap();
    config.migrate_on_start = true;
    config.database_max_connections = 2;
    let app = ballsy::server::Application::build(config).await.unwrap();
    crate::helpers::adopt(app, db).await
}

#[tokio::test]
async fn ready_recovers_by_itself_when_the_database_comes_back() {
    let Some(admin) = crate::helpers::postgres_admin_url() else {
        crate::helpers::report_skip("ready_recovers_by_itself_when_the_database_comes_back");
        return;
    };
    let db = crate::helpers::TestDb::new(Backend::Postgres).await;
    // The app reaches Postgres through a proxy the test can take down and bring back, which is
    // what a database restart or a network outage looks like from the app.
    let upstream = url::Url::parse(&admin).unwrap();
    let proxy = crate::helpers::TcpProxy::start(&format!(
        "{}:{}",
        upstream.host_str().unwrap(),
        upstream.port().unwrap_or(5432)
    ))
    .await;
    let mut via_proxy = url::Url::parse(&db.url).unwrap();
    via_proxy.set_host(Some("127.0.0.1")).unwrap();
    via_proxy.set_port(Some(proxy.port())).unwrap();
    let app = spawn_unmigrated(via_proxy.as_str()).await;
    let ready = |app: &crate::helpers::TestApp| {
        let request = app.client.get(app.url("/ready"));
        async move {
            request
                .send()
                .await
                .map(|r| r.status().as_u16())
                .unwrap_or(0)
        }
    };
    assert!(
        eventually(Duration::from_secs(15), || async {
            ready(&app).await == 200
        })
        .await
    );
    proxy.set_down(true).await;
    assert!(
        eventually(Duration::from_secs(10), || async {
            ready(&app).await == 503
        })
        .await
    );
    proxy.set_down(false).await;
    assert!(
        eventually(Duration::from_secs(15), || async {
            ready(&app).await == 200
        })
        .await,
        "/ready recovers without a restart"
    );
}

async fn cors_allows_listed_origins_only(backend: Backend) {
    let app = spawn_app(AppOptions::new(backend).configure(|c| {
        c.cors_origins = CorsOrigins::List(vec!["https://app.example".into()]);
    }))
    .await;
    let preflight = app
        .client
        .request(reqwest::Method::OPTIONS, app.url("/api/command"))
        .header("origin", "https://app.example")
        .header("access-control-request-method", "POST")
        .header("access-control-request-headers", "content-type")
        .send()
        .await
        .unwrap();
    assert!(preflight.status().is_success());
    assert_eq!(
        preflight.headers()["access-control-allow-origin"],
        "https://app.example"
    );
    assert_eq!(
        preflight.headers()["access-control-allow-credentials"],
        "true"
    );
    assert!(
        preflight.headers().contains_key("x-content-type-options"),
        "security headers on preflights too"
    );

    let denied = app
        .client
        .get(app.url("/health"))
        .header("origin", "https://evil.example")
        .send()
        .await
        .unwrap();
    assert!(
        !denied.headers().contains_key("access-control-allow-origin"),
        "an unlisted origin gets no CORS headers"
    );
    let allowed = app
        .client
        .get(app.url("/health"))
        .header("origin", "https://app.example")
        .send()
        .await
        .unwrap();
    assert_eq!(
        allowed.headers()["access-control-allow-origin"],
        "https://app.example"
    );
}
on_both_backends!(cors_allows_listed_origins_only);

#[tokio::test]
async fn request_ids_are_echoed_or_generated() {
    let app = spawn_app(AppOptions::new(Backend::Sqlite)).await;
    let echoed = app
        .client
        .get(app.url("/health"))
        .header("x-request-id", "abc-123")
        .send()
        .await
        .unwrap();
    assert_eq!(echoed.headers()["x-request-id"], "abc-123");
    let generated = app.client.get(app.url("/health")).send().await.unwrap();
    let id = generated.headers()["x-request-id"].to_str().unwrap();
    assert!(uuid::Uuid::parse_str(id).is_ok(), "{id}");
    let invalid = app
        .client
        .get(app.url("/health"))
        .header("x-request-id", "x".repeat(500))
        .send()
        .await
        .unwrap();
    assert_ne!(invalid.headers()["x-request-id"], "x".repeat(500).as_str());
}

#[tokio::test]
async fn security_headers_are_on_every_response_including_errors() {
    let app = spawn_app(AppOptions::new(Backend::Sqlite)).await;
    for (method, path) in [
        ("GET", "/"),
        ("GET", "/no/such/page"),
        ("GET", "/api/nothing"),
        ("DELETE", "/health"),
    ] {
        let response = app
            .client
            .request(method.parse().unwrap(), app.url(path))
            .send()
            .await
            .unwrap();
        let headers = response.headers();
        assert_eq!(headers["x-content-type-options"], "nosniff", "{path}");
        assert!(headers.contains_key("referrer-policy"), "{path}");
        let csp = headers["content-security-policy"].to_str().unwrap();
        assert!(
            csp.contains("script-src 'self'") && !csp.contains("unsafe-inline"),
            "{path}: {csp}"
        );
        assert!(
            !headers.contains_key("strict-transport-security"),
            "no HSTS over plain HTTP"
        );
    }
    let missing = app
        .client
        .get(app.url("/api/nothing"))
        .send()
        .await
        .unwrap();
    assert_eq!(missing.status(), 404);
    assert_eq!(missing.json::<Value>().await.unwrap()["code"], "not_found");
    let wrong_method = app.client.delete(app.url("/health")).send().await.unwrap();
    assert_eq!(wrong_method.status(), 405);
}

#[tokio::test]
async fn hsts_is_sent_behind_an_https_proxy() {
    let app = spawn_app(AppOptions::new(Backend::Sqlite).configure(|c| c.trust_proxy = true)).await;
    let response = app
        .client
        .get(app.url("/health"))
        .header("x-forwarded-proto", "https")
        .send()
        .await
        .unwrap();
    assert!(
        response.headers()["strict-transport-security"]
            .to_str()
            .unwrap()
            .starts_with("max-age=")
    );
}

#[tokio::test]
async fn the_page_is_served_with_its_assets() {
    let app = spawn_app(AppOptions::new(Backend::Sqlite)).await;
    let page = app.client.get(app.url("/")).send().await.unwrap();
    assert_eq!(page.status(), 200);
    assert!(
        page.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/html")
    );
    let etag = page.headers()["etag"].clone();
    let html = page.text().await.unwrap();
    assert!(html.contains("Ballsy"));
    assert!(!html.contains("<script>"), "no inline scripts");
    let script = app.client.get(app.url("/app.js")).send().await.unwrap();
    assert_eq!(script.status(), 200);
    assert!(
        script.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/javascript")
    );
    let cached = app
        .client
        .get(app.url("/"))
        .header("if-none-match", etag)
        .send()
        .await
        .unwrap();
    assert_eq!(cached.status(), 304);
}

#[tokio::test]
async fn openapi_describes_every_endpoint() {
    let app = spawn_app(AppOptions::new(Backend::Sqlite)).await;
    let doc: Value = get_json(&app.client, &app.url("/openapi.json")).await;
    assert!(doc["openapi"].as_str().unwrap().starts_with("3."));
    let paths = doc["paths"].as_object().unwrap();
    for path in [
        "/health",
        "/ready",
        "/api/session",
        "/api/command",
        "/api/voice",
        "/api/history/{user_id}",
        "/api/settings/{user_id}",
        "/api/conversation",
    ] {
        assert!(
            paths.contains_key(path),
            "{path} missing from the OpenAPI document"
        );
    }
    assert!(paths["/api/settings/{user_id}"].get("put").is_some());
    assert!(paths["/api/conversation"].get("delete").is_some());
}

#[tokio::test]
async fn requests_during_migrations_at_start_wait_instead_of_failing() {
    // Cloud Run sends traffic once /health answers, which is before migrations finish.
    let db = crate::helpers::TestDb::new(Backend::Sqlite).await;
    let app = spawn_unmigrated(&db.url).await;
    let client = reqwest::Client::new();
    let first = client
        .post(app.url("/api/command"))
        .json(&json!({"command": "hello"}))
        .send()
        .await
        .unwrap();
    assert_eq!(first.status(), 200);
    assert!(app.state.is_migrated());
}

//! Anonymous identities: cookies for browsers, tokens for other clients, and no way to reach
//! another user's data.

use serde_json::{Value, json};

use crate::helpers::{AppOptions, Backend, get_json, new_client, spawn_app};
use crate::on_both_backends;

async fn browsers_get_an_http_only_cookie_once(backend: Backend) {
    let app = spawn_app(AppOptions::new(backend)).await;
    let first = app
        .client
        .get(app.url("/api/session"))
        .send()
        .await
        .unwrap();
    let cookie = first.headers()["set-cookie"].to_str().unwrap().to_owned();
    assert!(cookie.starts_with("ballsy_session="));
    assert!(cookie.contains("HttpOnly") && cookie.contains("SameSite=Lax"));
    assert!(!cookie.contains("Secure"), "plain HTTP: no Secure flag");
    let token = cookie
        .split(';')
        .next()
        .unwrap()
        .trim_start_matches("ballsy_session=");
    assert!(token.len() >= 22, "at least 128 bits");
    let me: Value = first.json().await.unwrap();
    let second = app
        .client
        .get(app.url("/api/session"))
        .send()
        .await
        .unwrap();
    assert!(
        !second.headers().contains_key("set-cookie"),
        "the cookie is kept, not replaced"
    );
    let again: Value = second.json().await.unwrap();
    assert_eq!(me["user_id"], again["user_id"]);
    assert_eq!(me["assistant"]["mode"], "offline");
    assert_eq!(me["limits"]["max_command_chars"], 1000);
    // The database stores the hash, never the token.
    let stored = app.state.store().user_for_token(token).await.unwrap();
    assert_eq!(stored, None, "the raw token is not a key in the database");
}
on_both_backends!(browsers_get_an_http_only_cookie_once);

#[tokio::test]
async fn secure_cookies_behind_https() {
    let app = spawn_app(AppOptions::new(Backend::Sqlite).configure(|c| c.trust_proxy = true)).await;
    let response = app
        .client
        .get(app.url("/api/session"))
        .header("x-forwarded-proto", "https")
        .send()
        .await
        .unwrap();
    assert!(
        response.headers()["set-cookie"]
            .to_str()
            .unwrap()
            .ends_with("; Secure")
    );
}

async fn tokens_work_without_cookies_and_unknown_tokens_are_refused(backend: Backend) {
    let app = spawn_app(AppOptions::new(backend)).await;
    let (token, user_id) = app.new_session().await;
    let plain = reqwest::Client::new();
    let me: Value = plain
        .get(app.url("/api/session"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(me["user_id"], user_id);
    let unknown = plain
        .get(app.url("/api/session"))
        .bearer_auth("not-a-real-token")
        .send()
        .await
        .unwrap();
    assert_eq!(unknown.status(), 401);
    assert_eq!(
        unknown.json::<Value>().await.unwrap()["code"],
        "unauthorized"
    );
    // A client without any credential just works, as a fresh user each time.
    let a: Value = get_json(&plain, &app.url("/api/session")).await;
    let b: Value = get_json(&plain, &app.url("/api/session")).await;
    assert_ne!(a["user_id"], b["user_id"]);
}
on_both_backends!(tokens_work_without_cookies_and_unknown_tokens_are_refused);

async fn user_b_cannot_read_or_change_user_a(backend: Backend) {
    let app = spawn_app(AppOptions::new(backend)).await;
    let alice = new_client();
    let bob = new_client();
    let alice_id = get_json(&alice, &app.url("/api/session")).await["user_id"]
        .as_str()
        .unwrap()
        .to_owned();
    alice
        .post(app.url("/api/command"))
        .json(&json!({"command": "5 + 10"}))
        .send()
        .await
        .unwrap();
    alice
        .put(app.url("/api/settings/me"))
        .json(&json!({"voice": "Alice's voice"}))
        .send()
        .await
        .unwrap();

    // Every path that names Alice's id answers Bob with 404 and changes nothing.
    for (method, path, body) in [
        ("GET", format!("/api/history/{alice_id}"), None),
        ("GET", format!("/api/settings/{alice_id}"), None),
        (
            "PUT",
            format!("/api/settings/{alice_id}"),
            Some(json!({"voice": "hacked"})),
        ),
        ("GET", "/api/history/1".to_owned(), None),
        ("GET", "/api/settings/1".to_owned(), None),
    ] {
        let mut request = bob.request(method.parse().unwrap(), app.url(&path));
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.unwrap();
        assert_eq!(response.status(), 404, "{method} {path}");
    }
    // Bob's own views contain nothing of Alice's.
    let bob_history: Value = get_json(&bob, &app.url("/api/history/me")).await;
    assert_eq!(bob_history["history"], json!([]));
    let bob_conversation: Value = get_json(&bob, &app.url("/api/conversation")).await;
    assert_eq!(bob_conversation["messages"], json!([]));
    let bob_settings: Value = get_json(&bob, &app.url("/api/settings/me")).await;
    assert_eq!(bob_settings["settings"]["voice"], "");
    // Bob's calculator does not continue Alice's.
    let chained: Value = bob
        .post(app.url("/api/command"))
        .json(&json!({"command": "+ 5"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(chained["response"], "5");
    // Bob starting a new conversation leaves Alice's alone.
    bob.delete(app.url("/api/conversation"))
        .send()
        .await
        .unwrap();
    let alice_settings: Value = get_json(&alice, &app.url("/api/settings/me")).await;
    assert_eq!(alice_settings["settings"]["voice"], "Alice's voice");
    let alice_conversation: Value = get_json(&alice, &app.url("/api/conversation")).await;
    assert_eq!(alice_conversation["messages"].as_array().unwrap().len(), 2);
}
on_both_backends!(user_b_cannot_read_or_change_user_a);

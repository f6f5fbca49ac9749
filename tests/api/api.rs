//! The HTTP API: shapes kept from the predecessor, validation, persistence.

use serde_json::{Value, json};

use crate::helpers::{AppOptions, Backend, get_json, spawn_app};
use crate::on_both_backends;

async fn command_replies_with_the_predecessor_shape_plus_source(backend: Backend) {
    let app = spawn_app(AppOptions::new(backend)).await;
    let mut reply = app.ask("play despacito on youtube").await;
    assert!(reply["turn_id"].as_i64().unwrap() > 0, "{reply}");
    reply.as_object_mut().unwrap().remove("turn_id");
    assert_eq!(
        reply,
        json!({
            "response": "Opening despacito on YouTube",
            "action": "open_url",
            "data": {
                "url": "https://www.youtube.com/results?search_query=despacito",
                "description": "despacito on YouTube",
            },
            "source": "rule",
            "status": "complete",
        })
    );
    let greeting = app.ask("hello").await;
    assert_eq!(
        greeting["response"],
        "Hi there! I'm Ballsy, your voice assistant. How can I help?"
    );
    assert_eq!(greeting["action"], Value::Null);
    assert_eq!(greeting["data"], Value::Null);
    let offline = app.ask("why is the sky blue").await;
    assert_eq!(offline["source"], "offline");
    let said = offline["response"].as_str().unwrap();
    assert!(said.contains("aren't available on this server"), "{said}");
    assert!(
        !said.contains("GEMINI"),
        "the offline answer is for users: {said}"
    );
}
on_both_backends!(command_replies_with_the_predecessor_shape_plus_source);

async fn command_validation(backend: Backend) {
    let app = spawn_app(AppOptions::new(backend)).await;
    let empty = app.command("").await;
    assert_eq!(empty.status(), 400);
    let body: Value = empty.json().await.unwrap();
    assert_eq!(body["code"], "invalid_command");
    assert_eq!(body["detail"], "The command is empty.");
    assert_eq!(app.command("   ").await.status(), 400);

    let too_long = app.command(&"a".repeat(1001)).await;
    assert_eq!(too_long.status(), 400);
    let body: Value = too_long.json().await.unwrap();
    assert_eq!(body["code"], "command_too_long");
    assert_eq!(
        body["detail"],
        "The command is 1001 characters long; the limit is 1000."
    );
    assert_eq!(
        app.command(&"a".repeat(1000)).await.status(),
        200,
        "exactly 1000 is accepted"
    );

    for (body, field) in [
        (json!({"command": 5}), Some("command")),
        (json!({"command": null}), Some("command")),
        (json!({}), Some("command")),
        (json!({"command": "hi", "timezone": 7}), Some("timezone")),
    ] {
        let response = app
            .client
            .post(app.url("/api/command"))
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 422, "{body}");
        let error: Value = response.json().await.unwrap();
        assert_eq!(error["field"].as_str(), field, "{body}: {error}");
        assert!(error["detail"].as_str().unwrap().contains(field.unwrap()));
    }
    let malformed = app
        .client
        .post(app.url("/api/command"))
        .header("content-type", "application/json")
        .body("{\"command\": ")
        .send()
        .await
        .unwrap();
    assert_eq!(malformed.status(), 422);
    assert_eq!(
        malformed.json::<Value>().await.unwrap()["code"],
        "invalid_json"
    );
    let wrong_type = app
        .client
        .post(app.url("/api/command"))
        .header("content-type", "text/plain")
        .body("hello")
        .send()
        .await
        .unwrap();
    assert_eq!(wrong_type.status(), 415);
    // The predecessor's clients send user_id; any value is accepted and ignored.
    for user_id in [json!(1), json!("test_user"), json!(null)] {
        let response = app
            .client
            .post(app.url("/api/command"))
            .json(&json!({"command": "hello", "user_id": user_id}))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200, "user_id {user_id}");
    }
    let huge = app
        .client
        .post(app.url("/api/command"))
        .header("content-type", "application/json")
        .body(format!("{{\"command\": \"{}\"}}", "a".repeat(200_000)))
        .send()
        .await
        .unwrap();
    assert_eq!(huge.status(), 413);
    assert_eq!(
        huge.json::<Value>().await.unwrap()["code"],
        "payload_too_large"
    );
}
on_both_backends!(command_validation);

async fn every_command_is_in_the_history_before_the_reply(backend: Backend) {
    let app = spawn_app(AppOptions::new(backend)).await;
    for command in ["hello", "5 + 10", "open youtube", "what is love"] {
        app.ask(command).await;
        // The reply was sent, so the row must already be there.
        let history: Value = get_json(&app.client, &app.url("/api/history/me?limit=1")).await;
        assert_eq!(history["history"][0]["command"], command);
    }
    let history: Value = get_json(&app.client, &app.url("/api/history/me")).await;
    let entries = history["history"].as_array().unwrap();
    assert_eq!(entries.len(), 4);
    assert_eq!(entries[0]["command"], "what is love", "newest first");
    assert_eq!(entries[1]["result"], "Opening YouTube");
    assert_eq!(entries[1]["action"], "open_url");
    assert_eq!(entries[2]["result"], "15");
    assert!(entries[0]["timestamp"].as_str().unwrap().contains('T'));
    for bad in ["0", "101", "-1", "ten"] {
        let response = app
            .client
            .get(app.url(&format!("/api/history/me?limit={bad}")))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 422, "limit={bad}");
        assert_eq!(response.json::<Value>().await.unwrap()["field"], "limit");
    }
    let limited: Value = get_json(&app.client, &app.url("/api/history/me?limit=2")).await;
    assert_eq!(limited["history"].as_array().unwrap().len(), 2);
}
on_both_backends!(every_command_is_in_the_history_before_the_reply);

async fn calculator_chains_across_requests(backend: Backend) {
    let app = spawn_app(AppOptions::new(backend)).await;
    let results: Vec<String> = {
        let mut out = Vec::new();
        for command in ["5 + 10", "+ 6", "* 2", "- 1", "/ 4"] {
            out.push(
                app.ask(command).await["response"]
                    .as_str()
                    .unwrap()
                    .to_owned(),
            );
        }
        out
    };
    assert_eq!(results, ["15", "21", "42", "41", "10.25"]);
    assert_eq!(app.ask("100 / 4").await["response"], "25");
    assert_eq!(app.ask("10 / 3").await["response"], "3.333333333");
    // Another user has no previous result.
    let other = crate::helpers::new_client();
    let reply: Value = crate::helpers::command_with(&other, &app, "* 2")
        .await
        .json()
        .await
        .unwrap();
    assert_ne!(reply["response"], "20");
}
on_both_backends!(calculator_chains_across_requests);

async fn settings_have_one_set_of_defaults_and_are_validated(backend: Backend) {
    let app = spawn_app(AppOptions::new(backend)).await;
    let defaults: Value = get_json(&app.client, &app.url("/api/settings/me")).await;
    let settings = &defaults["settings"];
    assert_eq!(settings["voice"], "");
    assert_eq!(settings["voice_speed"], 175);
    assert_eq!(settings["theme"], "system");
    assert_eq!(settings["auto_listen"], false);
    assert_eq!(settings["language"], "en-US");
    // The first PUT creates the row from the column defaults: nothing changes but the field sent.
    let updated: Value = app
        .client
        .put(app.url("/api/settings/me"))
        .json(&json!({"theme": "dark"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(updated["settings"]["theme"], "dark");
    assert_eq!(updated["settings"]["voice_speed"], 175);
    assert_eq!(updated["settings"]["language"], "en-US");
    // The predecessor's example.
    let example: Value = app
        .client
        .put(app.url(&format!(
            "/api/settings/{}",
            settings["user_id"].as_str().unwrap()
        )))
        .json(&json!({"voice": "Samantha", "voice_speed": 200, "theme": "dark"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(example["settings"]["voice"], "Samantha");
    assert_eq!(example["settings"]["voice_speed"], 200);
    for (body, field) in [
        (json!({"voice_speed": 1000}), "voice_speed"),
        (json!({"voice_speed": 1.5}), "voice_speed"),
        (json!({"theme": "neon"}), "theme"),
        (json!({"language": "not a tag"}), "language"),
        (json!({"voice": "v".repeat(101)}), "voice"),
        (json!({"auto_listen": "yes"}), "auto_listen"),
    ] {
        let response = app
            .client
            .put(app.url("/api/settings/me"))
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 422, "{body}");
        assert_eq!(response.json::<Value>().await.unwrap()["field"], field);
    }
    let after: Value = get_json(&app.client, &app.url("/api/settings/me")).await;
    assert_eq!(
        after["settings"]["voice"], "Samantha",
        "invalid updates change nothing"
    );
}
on_both_backends!(settings_have_one_set_of_defaults_and_are_validated);

async fn conversation_is_restored_and_can_be_restarted(backend: Backend) {
    let app = spawn_app(AppOptions::new(backend)).await;
    app.ask("hello").await;
    app.ask("open maps").await;
    let conversation: Value = get_json(&app.client, &app.url("/api/conversation")).await;
    let messages = conversation["messages"].as_array().unwrap();
    let roles: Vec<&str> = messages
        .iter()
        .map(|m| m["role"].as_str().unwrap())
        .collect();
    assert_eq!(roles, ["user", "assistant", "user", "assistant"]);
    assert_eq!(messages[0]["content"], "hello");
    assert_eq!(messages[3]["action"], "open_url");
    assert!(
        messages[3]["data"]["url"]
            .as_str()
            .unwrap()
            .starts_with("https://")
    );
    assert_eq!(messages[3]["source"], "rule");
    assert_eq!(messages[3]["status"], "complete");
    let first_id = conversation["conversation_id"].as_i64().unwrap();

    let restarted: Value = app
        .client
        .delete(app.url("/api/conversation"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_ne!(restarted["conversation_id"].as_i64().unwrap(), first_id);
    let empty: Value = get_json(&app.client, &app.url("/api/conversation")).await;
    assert_eq!(empty["messages"], json!([]));
    assert_eq!(empty["conversation_id"], restarted["conversation_id"]);
    let history: Value = get_json(&app.client, &app.url("/api/history/me")).await;
    assert_eq!(
        history["history"].as_array().unwrap().len(),
        2,
        "history outlives the conversation"
    );
}
on_both_backends!(conversation_is_restored_and_can_be_restarted);

#[tokio::test]
async fn voice_upload_needs_gemini_offline() {
    let app = spawn_app(AppOptions::new(Backend::Sqlite)).await;
    let form = reqwest::multipart::Form::new().part(
        "file",
        reqwest::multipart::Part::bytes(b"RIFF....WAVE".to_vec())
            .file_name("a.wav")
            .mime_str("audio/wav")
            .unwrap(),
    );
    let response = app
        .client
        .post(app.url("/api/voice"))
        .multipart(form)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 503);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["code"], "voice_unavailable");
    let detail = body["detail"].as_str().unwrap();
    assert!(detail.contains("speech recognition or type"), "{detail}");
    assert!(!detail.contains("GEMINI"), "written for users: {detail}");
}

fn audio_part(bytes: Vec<u8>, mime: &str) -> reqwest::multipart::Form {
    reqwest::multipart::Form::new().part(
        "file",
        reqwest::multipart::Part::bytes(bytes)
            .file_name("speech")
            .mime_str(mime)
            .unwrap(),
    )
}

#[tokio::test]
async fn voice_upload_is_transcribed_then_runs_as_a_command() {
    let app = spawn_app(AppOptions::new(Backend::Sqlite).with_gemini(Default::default())).await;
    let response = app
        .client
        .post(app.url("/api/voice"))
        .multipart(audio_part(vec![1u8; 4000], "audio/webm;codecs=opus"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    // The fake transcribes every recording as "open youtube", which is a smart command.
    assert_eq!(body["transcript"], "open youtube");
    assert_eq!(body["response"], "Opening YouTube");
    assert_eq!(body["action"], "open_url");
    assert_eq!(body["source"], "rule");
    let request = &app.fake().requests()[0];
    assert!(!request.stream);
    let inline = &request.body["contents"][0]["parts"][1]["inlineData"];
    assert_eq!(
        inline["mimeType"], "audio/webm",
        "codec parameters are stripped"
    );
    assert!(!inline["data"].as_str().unwrap().is_empty());
}

#[tokio::test]
async fn voice_upload_limits_are_precise() {
    let app = spawn_app(
        AppOptions::new(Backend::Sqlite)
            .with_gemini(Default::default())
            .configure(|c| c.max_upload_bytes = 64 * 1024),
    )
    .await;
    let too_big = app
        .client
        .post(app.url("/api/voice"))
        .multipart(audio_part(vec![0u8; 64 * 1024 + 1], "audio/wav"))
        .send()
        .await
        .unwrap();
    assert_eq!(too_big.status(), 413);
    let body: Value = too_big.json().await.unwrap();
    assert_eq!(body["code"], "payload_too_large");
    assert!(body["detail"].as_str().unwrap().contains("65536"));
    let far_too_big = app
        .client
        .post(app.url("/api/voice"))
        .multipart(audio_part(vec![0u8; 1024 * 1024], "audio/wav"))
        .send()
        .await
        .unwrap();
    assert_eq!(far_too_big.status(), 413);
    let at_limit = app
        .client
        .post(app.url("/api/voice"))
        .multipart(audio_part(vec![0u8; 64 * 1024], "audio/wav"))
        .send()
        .await
        .unwrap();
    assert_eq!(at_limit.status(), 200, "exactly the limit is accepted");
    // Every type a browser or a file upload sends is accepted, with or without codecs.
    for mime in [
        "audio/webm;codecs=opus",
        "audio/ogg",
        "audio/mp4",
        "audio/wav",
        "audio/x-wav",
        "audio/mpeg",
        "video/webm",
    ] {
        let response = app
            .client
            .post(app.url("/api/voice"))
            .multipart(audio_part(vec![7u8; 100], mime))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200, "{mime}");
    }
    let video = app
        .client
        .post(app.url("/api/voice"))
        .multipart(audio_part(vec![0u8; 100], "video/mp4"))
        .send()
        .await
        .unwrap();
    assert_eq!(video.status(), 415);
    let no_file = app
        .client
        .post(app.url("/api/voice"))
        .multipart(reqwest::multipart::Form::new().text("timezone", "UTC"))
        .send()
        .await
        .unwrap();
    assert_eq!(no_file.status(), 422);
    assert_eq!(no_file.json::<Value>().await.unwrap()["field"], "file");
    let not_multipart = app
        .client
        .post(app.url("/api/voice"))
        .body("x")
        .send()
        .await
        .unwrap();
    assert_eq!(not_multipart.status(), 415);
}

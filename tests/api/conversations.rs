//! Conversations as the one source of truth (issue 13.2), what the model is sent and how its
//! endings are told (issue 12), and what people expect from an app that keeps their words:
//! past conversations, export, forget me, retention.

use std::time::Duration;

use ballsy::store::{Store, hash_token};
use ballsy_bench::fake_gemini::{FakeGeminiConfig, Fault, Reply};
use serde_json::{Value, json};

use crate::helpers::{AppOptions, Backend, TestDb, get_json, new_client, spawn_app};
use crate::on_both_backends;

// --- The schema change keeps existing data --------------------------------------------------

/// Rows written with the first schema (two messages, a history row and a calculator row per
/// exchange) are all there after upgrading to one row per turn.
async fn upgrading_keeps_every_exchange(backend: Backend) {
    let db = TestDb::new(backend).await;
    let store = Store::connect_lazy(&db.database_url(), 2);
    assert_eq!(store.migrate_up_to(Some(1)).await.unwrap(), vec![1]);
    store
        .execute_raw(
            "INSERT INTO users (id, created_at) VALUES ('u1', '2026-11-01T10:00:00+00:00');
             INSERT INTO sessions (token_hash, user_id, created_at)
                 VALUES ('h1', 'u1', '2026-11-01T10:00:00+00:00');
             INSERT INTO conversations (user_id, started_at, ended_at)
                 VALUES ('u1', '2026-11-01T10:00:00+00:00', '2026-11-01T11:00:00+00:00');
             INSERT INTO conversations (user_id, started_at)
                 VALUES ('u1', '2026-11-02T10:00:00+00:00');",
        )
        .await
        .unwrap();
    let message = |conversation: i64,
                   role: &str,
                   content: &str,
                   source: &str,
                   model: &str,
                   status: &str,
                   at: &str| {
        let source = if source.is_empty() {
            "NULL".to_owned()
        } else {
            format!("'{source}'")
        };
        let model = if model.is_empty() {
            "NULL".to_owned()
        } else {
            format!("'{model}'")
        };
        format!(
            "INSERT INTO messages (conversation_id, user_id, role, content, source, model, status, created_at)
             VALUES ({conversation}, 'u1', '{role}', '{content}', {source}, {model}, '{status}', '{at}');"
        )
    };
    let rows = [
        message(
            1,
            "user",
            "hello",
            "",
            "",
            "complete",
            "2026-11-01T10:01:00+00:00",
        ),
        message(
            1,
            "assistant",
            "Hi there!",
            "rule",
            "greeting",
            "complete",
            "2026-11-01T10:01:01+00:00",
        ),
        message(
            2,
            "user",
            "5 + 10",
            "",
            "",
            "complete",
            "2026-11-02T10:01:00+00:00",
        ),
        message(
            2,
            "assistant",
            "15",
            "rule",
            "math",
            "complete",
            "2026-11-02T10:01:01+00:00",
        ),
        message(
            2,
            "user",
            "why is the sky blue",
            "",
            "",
            "complete",
            "2026-11-02T10:02:00+00:00",
        ),
        message(
            2,
            "assistant",
            "Because of Rayleigh",
            "gemini",
            "gemini-3.5-flash-lite",
            "failed",
            "2026-11-02T10:02:05+00:00",
        ),
        message(
            2,
            "user",
            "and the sea",
            "",
            "",
            "complete",
            "2026-11-02T10:03:00+00:00",
        ),
        message(
            2,
            "assistant",
            "I couldn''t reach my AI service.",
            "fallback",
            "unavailable",
            "failed",
            "2026-11-02T10:03:01+00:00",
        ),
    ]
    .concat();
    store.execute_raw(&rows).await.unwrap();
    store
        .execute_raw(
            "INSERT INTO command_history (user_id, command, result, source, created_at)
                 VALUES ('u1', '5 + 10', '15', 'rule', '2026-11-02T10:01:01+00:00');
             INSERT INTO calculator_state (user_id, last_result, updated_at)
                 VALUES ('u1', '15', '2026-11-02T10:01:01+00:00');",
        )
        .await
        .unwrap();
    let applied = store.migrate().await.unwrap();
    assert!(applied.contains(&2), "{applied:?}");

    let user = store
        .user_for_token("h1")
        .await
        .unwrap()
        .expect("the session survives");
    let history = store.history(&user, 10).await.unwrap();
    let commands: Vec<&str> = history.iter().map(|h| h.command.as_str()).collect();
    assert_eq!(
        commands,
        ["and the sea", "why is the sky blue", "5 + 10", "hello"]
    );
    assert_eq!(history[3].result, "Hi there!");
    assert_eq!(
        store.last_calculation(&user).await.unwrap().as_deref(),
        Some("15")
    );
    let open = store.recent_turns(&user, 10, false).await.unwrap();
    let statuses: Vec<&str> = open.iter().map(|t| t.status.as_str()).collect();
    assert_eq!(
        statuses,
        ["complete", "cut_off", "failed"],
        "a failure with text is a cut-off answer, one without is a failure"
    );
    let context = store.recent_turns(&user, 10, true).await.unwrap();
    assert_eq!(context.len(), 2, "the unanswered question is not context");
    let past = store.conversations(&user, None, None, 10).await.unwrap();
    assert_eq!(past.len(), 2);
    assert_eq!(past[1].title.as_deref(), Some("hello"));
}
on_both_backends!(upgrading_keeps_every_exchange);

/// Turns written while `turns` still carried its own `user_id` (schema 4) keep their ids and
/// stay the user's after the column goes: history, one turn by id, export, the calculator's
/// previous result, and forgetting the user.
async fn upgrading_to_lean_turns_keeps_every_turn(backend: Backend) {
    let db = TestDb::new(backend).await;
    let store = Store::connect_lazy(&db.database_url(), 2);
    assert_eq!(
        store.migrate_up_to(Some(4)).await.unwrap(),
        vec![1, 2, 3, 4]
    );
    store
        .execute_raw(
            "INSERT INTO users (id, created_at) VALUES ('u1', '2026-11-01T10:00:00+00:00');
             INSERT INTO users (id, created_at) VALUES ('u2', '2026-11-01T10:00:00+00:00');
             INSERT INTO sessions (token_hash, user_id, created_at, last_used_at)
                 VALUES ('h1', 'u1', '2026-11-01T10:00:00+00:00', '2026-11-01T10:00:00+00:00');
             INSERT INTO sessions (token_hash, user_id, created_at, last_used_at)
                 VALUES ('h2', 'u2', '2026-11-01T10:00:00+00:00', '2026-11-01T10:00:00+00:00');
             INSERT INTO conversations (user_id, started_at, ended_at)
                 VALUES ('u1', '2026-11-01T10:00:00+00:00', '2026-11-01T11:00:00+00:00');
             INSERT INTO conversations (user_id, started_at)
                 VALUES ('u1', '2026-11-02T10:00:00+00:00');
             INSERT INTO conversations (user_id, started_at)
                 VALUES ('u2', '2026-11-02T10:00:00+00:00');",
        )
        .await
        .unwrap();
    let turn = |id: i64, conversation: i64, user: &str, command: &str, reply: &str, calc: &str| {
        let calculation = if calc.is_empty() {
            "NULL".to_owned()
        } else {
            format!("'{calc}'")
        };
        format!(
            "INSERT INTO turns (conversation_id, user_id, command, command_at, reply, source,
                                answered_by, status, replied_at, calculation)
             VALUES ({conversation}, '{user}', '{command}', '2026-11-02T10:0{id}:00+00:00',
                     '{reply}', 'rule', 'test', 'complete', '2026-11-02T10:0{id}:01+00:00',
                     {calculation});"
        )
    };
    let rows = [
        turn(1, 1, "u1", "hello", "Hi there!", ""),
        turn(2, 2, "u1", "5 + 10", "15", "15"),
        turn(3, 3, "u2", "2 + 2", "4", "4"),
        turn(4, 2, "u1", "thanks", "Any time.", ""),
    ]
    .concat();
    store.execute_raw(&rows).await.unwrap();
    assert_eq!(store.migrate().await.unwrap(), vec![5]);

    let u1 = store.user_for_token("h1").await.unwrap().unwrap();
    let u2 = store.user_for_token("h2").await.unwrap().unwrap();
    let history = store.history(&u1, 10).await.unwrap();
    let ids: Vec<i64> = history.iter().map(|h| h.id).collect();
    assert_eq!(ids, [4, 2, 1], "the user's turns, newest first, ids kept");
    assert!(history.iter().all(|h| h.user_id == "u1"));
    assert_eq!(store.turn(&u1, 2).await.unwrap().unwrap().reply, "15");
    assert_eq!(
        store.turn(&u1, 3).await.unwrap(),
        None,
        "another user's turn"
    );
    let export = store.export(&u1).await.unwrap();
    let exported: Vec<(i64, usize)> = export.iter().map(|(c, t)| (c.id, t.len())).collect();
    assert_eq!(exported, [(1, 1), (2, 2)]);
    assert_eq!(
        store.last_calculation(&u1).await.unwrap().as_deref(),
        Some("15")
    );
    assert_eq!(
        store.last_calculation(&u2).await.unwrap().as_deref(),
        Some("4")
    );
    let columns = store.schema_columns().await.unwrap();
    assert!(!columns["turns"].contains(&"user_id".to_owned()));

    store.delete_user(&u1).await.unwrap();
    assert!(store.history(&u1, 10).await.unwrap().is_empty());
    assert_eq!(store.history(&u2, 10).await.unwrap().len(), 1);
    // New rows need no user of their own: the conversation says whose they are.
    store
        .execute_raw("INSERT INTO turns (conversation_id, command, command_at, reply, source, status, replied_at)
                      SELECT 3, 'left', command_at, 'over', source, status, replied_at FROM turns WHERE id = 3")
        .await
        .unwrap();
    assert_eq!(store.history(&u2, 10).await.unwrap().len(), 2);
}
on_both_backends!(upgrading_to_lean_turns_keeps_every_turn);

// --- What the model is sent ------------------------------------------------------------------

fn contents_of(request: &ballsy_bench::fake_gemini::RecordedRequest) -> Vec<(String, String)> {
    request.body["contents"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            let text: String = c["parts"]
                .as_array()
                .unwrap()
                .iter()
                .filter_map(|p| p["text"].as_str())
                .collect::<Vec<_>>()
                .join(" | ");
            (c["role"].as_str().unwrap().to_owned(), text)
        })
        .collect()
}

async fn a_failed_question_is_not_sent_again(backend: Backend) {
    let fake = FakeGeminiConfig {
        reply: Reply::Echo,
        ..Default::default()
    };
    let app = spawn_app(AppOptions::new(backend).with_gemini(fake).configure(|c| {
        c.gemini.max_retries = 0;
        c.gemini.fallback_model = None;
    }))
    .await;
    assert_eq!(app.ask("what is a quasar").await["source"], "gemini");
    app.fake().push_fault(Fault::Status {
        code: 503,
        retry_delay: None,
        quota_id: None,
        retry_after_header: None,
    });
    let failed = app.ask("what is a pulsar").await;
    assert_eq!(failed["source"], "fallback");
    assert_eq!(failed["status"], "failed");
    app.fake().clear_requests();
    assert_eq!(app.ask("what is a magnetar").await["source"], "gemini");
    let requests = app.fake().requests();
    let contents = contents_of(requests.last().unwrap());
    let roles: Vec<&str> = contents.iter().map(|(r, _)| r.as_str()).collect();
    assert_eq!(
        roles,
        ["user", "model", "user"],
        "roles alternate: {contents:?}"
    );
    assert_eq!(contents[0].1, "what is a quasar");
    assert_eq!(contents[2].1, "what is a magnetar");
    assert!(
        !contents.iter().any(|(_, text)| text.contains("pulsar")),
        "the question that got no answer is not resent"
    );
}
on_both_backends!(a_failed_question_is_not_sent_again);

async fn a_capped_answer_ends_at_a_full_sentence_and_says_so(backend: Backend) {
    let app = spawn_app(AppOptions::new(backend).with_gemini(Default::default())).await;
    app.fake().push_fault(Fault::Finish {
        reason: "MAX_TOKENS".into(),
        text: Some("Paris is the capital. It has about two million people and".into()),
    });
    let reply = app.ask("tell me about paris").await;
    assert_eq!(reply["status"], "truncated");
    assert_eq!(
        reply["response"],
        "Paris is the capital. Sorry, that answer was cut short."
    );
    app.fake().push_fault(Fault::Finish {
        reason: "MAX_TOKENS".into(),
        text: Some("The capital of France is".into()),
    });
    let reply = app.ask("what is the capital of france").await;
    assert_eq!(
        reply["response"],
        "The capital of France is… Sorry, that answer was cut short."
    );
}
on_both_backends!(a_capped_answer_ends_at_a_full_sentence_and_says_so);

async fn requests_opt_out_of_storage_at_google(backend: Backend) {
    let app = spawn_app(AppOptions::new(backend).with_gemini(Default::default())).await;
    app.ask("why is the sky blue").await;
    let request = app.fake().requests().pop().unwrap();
    assert_eq!(request.body["store"], json!(false), "{}", request.body);
}
on_both_backends!(requests_opt_out_of_storage_at_google);

async fn help_and_thanks_need_no_model(backend: Backend) {
    let app = spawn_app(AppOptions::new(backend).with_gemini(Default::default())).await;
    for command in ["help", "what can you do?", "thanks!", "thank you"] {
        let reply = app.ask(command).await;
        assert_eq!(reply["source"], "rule", "{command}");
    }
    let help = app.ask("what can you do").await;
    let said = help["response"].as_str().unwrap();
    for skill in ["timers", "weather", "convert units"] {
        assert!(said.contains(skill), "help names {skill}: {said}");
    }
    assert!(app.fake().requests().is_empty());
    let time = app.ask("what time is it").await;
    let said = time["response"].as_str().unwrap();
    assert!(
        said.starts_with("It's ") && said.ends_with(" UTC."),
        "{said}"
    );
    assert!(
        !said.contains("(") && !said.contains(" 0"),
        "spoken form: {said}"
    );
}
on_both_backends!(help_and_thanks_need_no_model);

async fn offline_mode_speaks_to_users_and_tells_operators(backend: Backend) {
    let app = spawn_app(AppOptions::new(backend)).await;
    let session = get_json(&app.client, &app.url("/api/session")).await;
    assert_eq!(session["assistant"]["mode"], "offline");
    assert!(
        session["assistant"]["operator_hint"]
            .as_str()
            .unwrap()
            .contains("GEMINI_API_KEY")
    );
    assert_eq!(session["features"]["voice_upload"], false);
    let reply = app.ask("what is the meaning of life").await;
    assert_eq!(reply["source"], "offline");
    assert!(!reply["response"].as_str().unwrap().contains("GEMINI"));
}
on_both_backends!(offline_mode_speaks_to_users_and_tells_operators);

// --- Past conversations ------------------------------------------------------------------------

async fn past_conversations_can_be_listed_searched_and_reopened(backend: Backend) {
    let app = spawn_app(AppOptions::new(backend)).await;
    app.ask("play jazz on youtube").await;
    app.ask("5 + 10").await;
    let restart = app
        .client
        .delete(app.url("/api/conversation"))
        .send()
        .await
        .unwrap();
    assert_eq!(restart.status(), 200);
    let restart: Value = restart.json().await.unwrap();
    let first = restart["previous_conversation_id"]
        .as_i64()
        .expect("the one just ended");
    // A new conversation starts without a calculator result.
    assert_eq!(
        app.ask("times 2").await["response"],
        app_times_two_without_result().as_str()
    );
    app.ask("open maps").await;

    let list = get_json(&app.client, &app.url("/api/conversations")).await;
    let items = list["conversations"].as_array().unwrap();
    assert_eq!(items.len(), 2, "{list}");
    assert_eq!(items[0]["open"], true, "newest first");
    assert_eq!(items[1]["id"], first);
    assert_eq!(items[1]["title"], "play jazz on youtube");
    assert_eq!(items[1]["turns"], 2);

    let found = get_json(&app.client, &app.url("/api/conversations?q=JAZZ")).await;
    assert_eq!(found["conversations"].as_array().unwrap().len(), 1);
    assert_eq!(found["conversations"][0]["id"], first);
    let none = get_json(&app.client, &app.url("/api/conversations?q=100%25")).await;
    assert!(none["conversations"].as_array().unwrap().is_empty());

    let detail = get_json(
        &app.client,
        &app.url(&format!("/api/conversations/{first}")),
    )
    .await;
    let messages = detail["messages"].as_array().unwrap();
    assert_eq!(messages.len(), 4);
    assert_eq!(messages[0]["role"], "user");
    assert_eq!(messages[3]["content"], "15");

    // Undo "new conversation": the old one continues, calculator included.
    let reopened = app
        .client
        .post(app.url(&format!("/api/conversations/{first}/reopen")))
        .send()
        .await
        .unwrap();
    assert_eq!(reopened.status(), 200);
    assert_eq!(app.ask("times 2").await["response"], "30");

    // Another user sees none of it.
    let stranger = new_client();
    let other = stranger
        .get(app.url(&format!("/api/conversations/{first}")))
        .send()
        .await
        .unwrap();
    assert_eq!(other.status(), 404);
    let other = stranger
        .post(app.url(&format!("/api/conversations/{first}/reopen")))
        .send()
        .await
        .unwrap();
    assert_eq!(other.status(), 404);
}
on_both_backends!(past_conversations_can_be_listed_searched_and_reopened);

/// What "times 2" says in a fresh conversation: there is no previous result to double.
fn app_times_two_without_result() -> String {
    ballsy::assistant::math::MathError::NoPreviousResult
        .sentence()
        .to_owned()
}

// --- Export, forget me, retention ---------------------------------------------------------------

async fn export_has_every_conversation_as_json_and_markdown(backend: Backend) {
    let app = spawn_app(AppOptions::new(backend)).await;
    app.ask("play jazz on youtube").await;
    app.client
        .delete(app.url("/api/conversation"))
        .send()
        .await
        .unwrap();
    app.ask("what's 6 times 7").await;
    let response = app.client.get(app.url("/api/export")).send().await.unwrap();
    assert_eq!(response.status(), 200);
    let disposition = response.headers()["content-disposition"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(
        disposition.starts_with("attachment; filename=\"ballsy-export-")
            && disposition.ends_with(".json\""),
        "{disposition}"
    );
    let export: Value = response.json().await.unwrap();
    let conversations = export["conversations"].as_array().unwrap();
    assert_eq!(conversations.len(), 2);
    let first = &conversations[0]["messages"];
    assert_eq!(first[0]["content"], "play jazz on youtube");
    assert_eq!(first[1]["action"], "open_url");
    assert_eq!(first[1]["source"], "rule");
    assert!(first[1]["created_at"].is_string());
    assert_eq!(conversations[1]["messages"][1]["content"], "42");

    let markdown = app
        .client
        .get(app.url("/api/export?format=md"))
        .send()
        .await
        .unwrap();
    assert!(
        markdown.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/markdown")
    );
    assert!(
        markdown.headers()["content-disposition"]
            .to_str()
            .unwrap()
            .contains(".md\"")
    );
    let text = markdown.text().await.unwrap();
    assert!(text.contains("**You**") && text.contains("what's 6 times 7") && text.contains("42"));
    let bad = app
        .client
        .get(app.url("/api/export?format=pdf"))
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status(), 422);
}
on_both_backends!(export_has_every_conversation_as_json_and_markdown);

async fn forget_me_leaves_no_row_behind(backend: Backend) {
    let app = spawn_app(AppOptions::new(backend).with_gemini(Default::default())).await;
    let (token, user_id) = app.new_session().await;
    let client = new_client();
    let bearer = format!("Bearer {token}");
    for command in ["hello", "5 + 5", "why is the sky blue"] {
        let response = client
            .post(app.url("/api/command"))
            .header("authorization", &bearer)
            .json(&json!({"command": command}))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
    }
    client
        .put(app.url("/api/settings/me"))
        .header("authorization", &bearer)
        .json(&json!({"theme": "dark"}))
        .send()
        .await
        .unwrap();
    // A neighbour whose data must survive.
    app.ask("hello").await;
    let store = app.state.store();
    let user = store
        .user_for_token(&hash_token(&token))
        .await
        .unwrap()
        .unwrap();
    let schema = store.schema_columns().await.unwrap();
    let tables: Vec<&String> = schema
        .iter()
        .filter(|(table, columns)| {
            *table == "users"
                || columns
                    .iter()
                    .any(|c| c == "user_id" || c == "conversation_id")
        })
        .map(|(table, _)| table)
        .collect();
    assert!(tables.len() >= 5, "{tables:?}");
    assert!(tables.iter().any(|t| *t == "turns"), "{tables:?}");
    assert!(store.count_user_rows("turns", &user).await.unwrap() >= 3);
    let before: i64 = {
        let mut total = 0;
        for table in &tables {
            total += store.count_user_rows(table, &user).await.unwrap();
        }
        total
    };
    assert!(before > 5);

    let response = client
        .delete(app.url("/api/me"))
        .header("authorization", &bearer)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 204);
    let cookie = response.headers()["set-cookie"].to_str().unwrap();
    assert!(cookie.contains("Max-Age=0"), "{cookie}");
    for table in &tables {
        assert_eq!(
            store.count_user_rows(table, &user).await.unwrap(),
            0,
            "{table} still has rows of the deleted user"
        );
    }
    // Counters keyed by the user id (no foreign key) are gone too.
    assert_eq!(
        store
            .ai_usage(&user_id, &ballsy::limits::budget_day())
            .await
            .unwrap(),
        0
    );
    let gone = client
        .get(app.url("/api/session"))
        .header("authorization", &bearer)
        .send()
        .await
        .unwrap();
    assert_eq!(gone.status(), 401, "the token is gone with its user");
    assert_eq!(
        app.ask("what's 1 + 1").await["response"],
        "2",
        "others are untouched"
    );
}
on_both_backends!(forget_me_leaves_no_row_behind);

async fn old_conversations_are_swept_after_the_retention_period(backend: Backend) {
    let app = spawn_app(AppOptions::new(backend).configure(|c| {
        c.retention = Some(Duration::from_secs(90 * 86_400));
    }))
    .await;
    app.ask("hello").await;
    app.client
        .delete(app.url("/api/conversation"))
        .send()
        .await
        .unwrap();
    app.ask("open maps").await;
    let store = app.state.store();
    // The first conversation happened long ago.
    store
        .execute_raw(
            "UPDATE turns SET command_at = '2020-01-01T00:00:00+00:00', replied_at = '2020-01-01T00:00:01+00:00'
             WHERE command = 'hello';
             UPDATE conversations SET started_at = '2020-01-01T00:00:00+00:00', ended_at = '2020-01-01T00:10:00+00:00'
             WHERE ended_at IS NOT NULL;",
        )
        .await
        .unwrap();
    ballsy::server::prune(&app.state).await;
    let list = get_json(&app.client, &app.url("/api/conversations")).await;
    let items = list["conversations"].as_array().unwrap();
    assert_eq!(items.len(), 1, "{list}");
    assert_eq!(items[0]["title"], "open maps");
    let history = get_json(&app.client, &app.url("/api/history/me")).await;
    assert_eq!(history["history"].as_array().unwrap().len(), 1);
}
on_both_backends!(old_conversations_are_swept_after_the_retention_period);

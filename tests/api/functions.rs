//! Gemini function calling and Search grounding through whole turns (issue 14): the model
//! calls the same skills the rules use, over the real wire format of the fake Gemini, which
//! checks thought signatures and response counts as the real API does.

use ballsy::limits::{GROUNDED_SEARCHES_KEY, budget_day};
use ballsy_bench::fake_gemini::{
    FakeGeminiConfig, Fault, FunctionCall, GroundedReply, GroundingSource, Round,
};
use serde_json::{Value, json};

use crate::helpers::{AppOptions, Backend, TestApp, get_json, new_client, spawn_app};
use crate::on_both_backends;

async fn app_with(
    backend: Backend,
    configure: impl FnOnce(&mut ballsy::config::Config) + Send + 'static,
) -> TestApp {
    spawn_app(
        AppOptions::new(backend)
            .with_gemini(FakeGeminiConfig::default())
            .configure(configure),
    )
    .await
}

async fn loose_phrasings_become_real_timers(backend: Backend) {
    let app = app_with(backend, |_| {}).await;
    let fake = app.fake();
    fake.set_rounds(vec![
        Round::call(
            "set_timer",
            json!({"kind": "reminder", "duration_seconds": 2400, "label": "the laundry"}),
        )
        .signed("sig-laundry"),
        Round::text("Okay, I'll ping you in 40 minutes about the laundry.").signed("sig-end"),
    ]);
    let reply = app
        .ask("could you ping me when the laundry's done in like forty minutes")
        .await;
    assert_eq!(reply["source"], "gemini", "{reply}");
    assert_eq!(reply["status"], "complete");
    assert_eq!(
        reply["response"],
        "Okay, I'll ping you in 40 minutes about the laundry."
    );
    assert_eq!(reply["action"], "timer");
    assert_eq!(reply["data"]["kind"], "reminder");
    assert_eq!(reply["data"]["label"], "the laundry");
    assert_eq!(reply["data"]["duration_s"], 2400);

    let timers = get_json(&app.client, &app.url("/api/timers")).await;
    assert_eq!(timers["timers"][0]["id"], reply["data"]["id"], "{timers}");

    let requests = fake.requests();
    assert_eq!(requests.len(), 2);
    let first = &requests[0];
    for name in [
        "set_timer",
        "cancel_timers",
        "list_timers",
        "get_weather",
        "convert_units",
        "calculate",
        "open_site",
        "web_search",
    ] {
        assert!(
            first
                .function_declaration_names()
                .contains(&name.to_owned()),
            "{name} is declared"
        );
    }
    assert_eq!(
        first.tool_config(),
        Some(&json!({"functionCallingConfig": {"mode": "AUTO"}}))
    );
    assert_eq!(
        first.thinking_config(),
        Some(&json!({"thinkingLevel": "LOW"})),
        "tool turns think a little"
    );
    assert!(!first.enables_google_search());
    let responses = requests[1].function_responses();
    assert_eq!(responses.len(), 1);
    assert_eq!(responses[0]["name"], "set_timer");
    assert_eq!(responses[0]["response"]["status"], "ok");
    assert_eq!(responses[0]["response"]["action"], "timer");

    // Both model calls were counted.
    let session = get_json(&app.client, &app.url("/api/session")).await;
    let user = session["user_id"].as_str().unwrap();
    let day = budget_day();
    assert_eq!(app.state.store().ai_usage(user, &day).await.unwrap(), 2);
}
on_both_backends!(loose_phrasings_become_real_timers);

#[tokio::test]
async fn parallel_calls_split_across_chunks_each_get_their_response_in_order() {
    let app = app_with(Backend::Sqlite, |_| {}).await;
    let fake = app.fake();
    fake.set_rounds(vec![
        Round::calls(vec![
            FunctionCall::new(
                "convert_units",
                json!({"amount": 5, "from_unit": "miles", "to_unit": "km"}),
            )
            .with_id("call-1"),
            FunctionCall::new("calculate", json!({"expression": "15% of 240"})).with_id("call-2"),
        ])
        .signed("sig-parallel")
        .split(),
        Round::text("Five miles is about 8 kilometres, and 15% of 240 is 36."),
    ]);
    let reply = app.ask("give me 5 miles in km and also 15% of 240").await;
    assert_eq!(reply["status"], "complete", "{reply}");
    assert_eq!(
        reply["response"],
        "Five miles is about 8 kilometres, and 15% of 240 is 36."
    );
    let requests = fake.requests();
    assert_eq!(requests.len(), 2, "the fake accepted the follow-up");
    let responses = requests[1].function_responses();
    let ids: Vec<&str> = responses
        .iter()
        .map(|r| r["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["call-1", "call-2"], "one response per call, in order");
    assert_eq!(
        responses[0]["response"]["said_to_user"],
        "5 miles is 8.05 kilometres."
    );
    assert_eq!(responses[1]["response"]["said_to_user"], "36");
    // The two calls went back as one model content, the signature on the first.
    let contents = requests[1].body["contents"].as_array().unwrap();
    let model = &contents[contents.len() - 2];
    let calls: Vec<&Value> = model["parts"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|p| p.get("functionCall").is_some())
        .collect();
    assert_eq!(calls.len(), 2);
    assert_eq!(calls[0]["thoughtSignature"], "sig-parallel");
    assert!(calls[1].get("thoughtSignature").is_none());
}

#[tokio::test]
async fn a_late_signature_goes_back_on_the_part_it_came_with() {
    let app = app_with(Backend::Sqlite, |_| {}).await;
    let fake = app.fake();
    fake.set_rounds(vec![
        Round::call("list_timers", json!({}))
            .signed("sig-late")
            .late_signature(),
        Round::text("You don't have any timers."),
    ]);
    let reply = app.ask("anything ticking for me right about now").await;
    assert_eq!(reply["response"], "You don't have any timers.", "{reply}");
    let requests = fake.requests();
    assert_eq!(requests.len(), 2);
    let contents = requests[1].body["contents"].as_array().unwrap();
    let parts = contents[contents.len() - 2]["parts"].as_array().unwrap();
    assert!(parts[0].get("functionCall").is_some());
    assert!(parts[0].get("thoughtSignature").is_none());
    assert_eq!(parts.last().unwrap()["thoughtSignature"], "sig-late");
}

#[tokio::test]
async fn a_malformed_call_is_retried_once_then_apologised_for() {
    let app = app_with(Backend::Sqlite, |_| {}).await;
    let fake = app.fake();
    let malformed = || Fault::Finish {
        reason: "MALFORMED_FUNCTION_CALL".into(),
        text: None,
    };
    // Once: the retry gets the normal answer.
    fake.push_fault(malformed());
    let recovered = app.ask("tell me something nice").await;
    assert_eq!(recovered["status"], "complete", "{recovered}");
    assert_eq!(fake.requests().len(), 2);

    // Twice: an apology, no search card, nothing pretended.
    fake.clear_requests();
    fake.push_fault(malformed());
    fake.push_fault(malformed());
    let reply = app.ask("do the thing with the stuff").await;
    assert_eq!(fake.requests().len(), 2, "retried once only");
    assert_eq!(
        reply["response"],
        "I got mixed up trying to do that. Could you say it another way?"
    );
    assert_eq!(reply["status"], "failed");
    assert_eq!(reply["source"], "fallback");
    assert_eq!(reply["action"], Value::Null);
}

#[tokio::test]
async fn a_turn_runs_at_most_three_rounds_of_calls() {
    let app = app_with(Backend::Sqlite, |_| {}).await;
    let fake = app.fake();
    let step = |expression: &str| Round::call("calculate", json!({ "expression": expression }));
    fake.set_rounds(vec![
        step("1 + 1"),
        step("2 + 2"),
        step("3 + 3"),
        step("4 + 4"),
        Round::text("never asked for"),
    ]);
    let reply = app.ask("keep adding things up for a while").await;
    assert_eq!(
        fake.requests().len(),
        4,
        "three rounds run, the fourth call is not"
    );
    assert_eq!(
        reply["response"], "6",
        "the last thing done is said: {reply}"
    );
    assert_eq!(reply["status"], "complete");
}

#[tokio::test]
async fn every_model_call_counts_and_an_exhausted_budget_keeps_what_was_done() {
    let app = app_with(Backend::Sqlite, |c| c.ai_daily_requests_per_user = 1).await;
    let fake = app.fake();
    fake.set_rounds(vec![
        Round::call(
            "set_timer",
            json!({"kind": "timer", "duration_seconds": 300, "label": "tea"}),
        ),
        Round::text("never asked for"),
    ]);
    let reply = app.ask("sort out a tea thing for five minutes").await;
    assert_eq!(
        fake.requests().len(),
        1,
        "no second model call past the budget"
    );
    assert_eq!(reply["action"], "timer", "{reply}");
    assert_eq!(reply["response"], "Tea timer set for 5 minutes.");
    let next = app.ask("why is the sky blue").await;
    assert_eq!(next["source"], "budget");
}

fn grounded_reply() -> GroundedReply {
    GroundedReply {
        text: "The Lakers won 112 to 108.".into(),
        queries: vec!["lakers game last night".into(), "lakers score".into()],
        sources: vec![
            GroundingSource::new("nba.com"),
            GroundingSource::new("espn.com"),
        ],
    }
}

/// Google's chip goes out unchanged, as its own document under a policy that lets its inline
/// CSS through; another user, or a turn without a chip, gets 404.
async fn assert_chip_is_served_to_its_owner_only(app: &TestApp, reply: &Value, chip: &str) {
    let url = app.url(&format!(
        "/api/turns/{}/search-suggestions",
        reply["turn_id"]
    ));
    let response = app.client.get(&url).send().await.unwrap();
    assert_eq!(response.status(), 200);
    let headers = response.headers().clone();
    assert!(
        headers["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/html")
    );
    let policy = headers["content-security-policy"].to_str().unwrap();
    assert!(policy.contains("style-src 'unsafe-inline'"), "{policy}");
    assert!(policy.contains("sandbox"), "{policy}");
    assert!(
        !policy.contains("script-src"),
        "no script may run: {policy}"
    );
    assert_eq!(headers["x-frame-options"], "SAMEORIGIN");
    let body = response.text().await.unwrap();
    assert!(body.contains(chip), "the chip is not altered");
    assert!(body.contains("<base target=\"_blank\">"));

    let stranger = new_client().get(&url).send().await.unwrap();
    assert_eq!(stranger.status(), 404);
    let ungrounded = app.ask("set a timer for 3 minutes").await;
    let other = app
        .client
        .get(app.url(&format!(
            "/api/turns/{}/search-suggestions",
            ungrounded["turn_id"]
        )))
        .send()
        .await
        .unwrap();
    assert_eq!(other.status(), 404);
    let garbage = app
        .client
        .get(app.url("/api/turns/not-a-number/search-suggestions"))
        .send()
        .await
        .unwrap();
    assert_eq!(garbage.status(), 404);
}

async fn current_events_are_grounded_within_their_budget(backend: Backend) {
    let app = app_with(backend, |c| {
        c.grounding = true;
        c.ai_daily_grounded_total = 3;
    })
    .await;
    let fake = app.fake();
    fake.set_grounding(Some(grounded_reply()));

    let reply = app.ask("who won the Lakers game last night").await;
    assert_eq!(reply["response"], "The Lakers won 112 to 108.", "{reply}");
    assert_eq!(reply["action"], "grounded");
    let sources = reply["data"]["sources"].as_array().unwrap();
    let titles: Vec<&str> = sources
        .iter()
        .map(|s| s["title"].as_str().unwrap())
        .collect();
    assert_eq!(titles, ["nba.com", "espn.com"]);
    assert!(
        sources
            .iter()
            .all(|s| s["uri"].as_str().unwrap().starts_with("https://"))
    );
    let chip = reply["data"]["search_suggestions"].as_str().unwrap();
    assert!(chip.contains("lakers score"), "{chip}");
    assert_chip_is_served_to_its_owner_only(&app, &reply, chip).await;
    let request = &fake.requests()[0];
    assert!(request.enables_google_search());
    assert!(
        request.function_declaration_names().is_empty(),
        "search and functions are not mixed"
    );
    let day = budget_day();
    let store = app.state.store();
    assert_eq!(
        store.ai_usage(GROUNDED_SEARCHES_KEY, &day).await.unwrap(),
        2,
        "each search query counts"
    );

    // A timeless question is not grounded; it may call the skills instead.
    fake.clear_requests();
    app.ask("why is the sky blue").await;
    let request = &fake.requests()[0];
    assert!(!request.enables_google_search());
    assert!(!request.function_declaration_names().is_empty());

    // Past the daily budget, current events are answered without search.
    let mars = app.ask("what's the latest on the Mars mission").await;
    assert_eq!(mars["action"], "grounded", "{mars}");
    fake.clear_requests();
    let unground = app.ask("what's the score of the game right now").await;
    assert_eq!(
        store.ai_usage(GROUNDED_SEARCHES_KEY, &day).await.unwrap(),
        3
    );
    assert!(!fake.requests()[0].enables_google_search());
    assert_ne!(unground["action"], "grounded");
}
on_both_backends!(current_events_are_grounded_within_their_budget);

#[tokio::test]
async fn grounding_is_off_unless_configured() {
    let app = app_with(Backend::Sqlite, |_| {}).await;
    let fake = app.fake();
    fake.set_grounding(Some(grounded_reply()));
    let reply = app.ask("who won the game last night").await;
    assert!(!fake.requests()[0].enables_google_search());
    assert_ne!(reply["action"], "grounded");
}

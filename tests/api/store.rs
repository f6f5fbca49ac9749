//! The data layer on both backends: schema parity, migrations, the Cloud Run URL form,
//! recovery from lost connections, concurrency and atomic counters.

use std::collections::BTreeMap;
use std::process::Command;
use std::time::Duration;

use ballsy::store::url::DatabaseUrl;
use ballsy::store::{Budget, BudgetKeys, Settings, SettingsPatch, Store, UserId, hash_token};
use serde_json::json;

use crate::helpers::{
    AppOptions, Backend, TestDb, admin_connection, postgres_admin_url, report_skip, spawn_app,
};
use crate::on_both_backends;

async fn migrated_store(backend: Backend) -> (Store, TestDb) {
    let db = TestDb::new(backend).await;
    let store = Store::connect_lazy(&db.database_url(), 5);
    store.migrate().await.expect("migrations apply");
    (store, db)
}

const EXPECTED_TABLES: [&str; 9] = [
    "ai_usage",
    "conversations",
    "live_sessions",
    "rate_limits",
    "sessions",
    "settings",
    "timers",
    "turns",
    "users",
];

async fn schema_has_every_table(backend: Backend) {
    let (store, _db) = migrated_store(backend).await;
    let schema = store.schema_columns().await.unwrap();
    let tables: Vec<&str> = schema.keys().map(String::as_str).collect();
    assert_eq!(tables, EXPECTED_TABLES);
    assert!(schema["turns"].contains(&"status".to_owned()));
    assert!(schema["sessions"].contains(&"token_hash".to_owned()));
}
on_both_backends!(schema_has_every_table);

#[tokio::test]
async fn both_backends_end_with_the_same_tables_and_columns() {
    let Some(_) = postgres_admin_url() else {
        report_skip("both_backends_end_with_the_same_tables_and_columns");
        return;
    };
    let (sqlite, _a) = migrated_store(Backend::Sqlite).await;
    let (postgres, _b) = migrated_store(Backend::Postgres).await;
    let sqlite: BTreeMap<_, _> = sqlite.schema_columns().await.unwrap();
    let postgres: BTreeMap<_, _> = postgres.schema_columns().await.unwrap();
    assert_eq!(sqlite, postgres);
}

async fn settings_defaults_agree_between_api_and_schema(backend: Backend) {
    let (store, _db) = migrated_store(backend).await;
    let user = store.create_identity(&hash_token("t")).await.unwrap();
    assert_eq!(
        store.settings(&user).await.unwrap(),
        Settings::default(),
        "no row yet"
    );
    assert_eq!(
        store
            .update_settings(&user, &SettingsPatch::default())
            .await
            .unwrap(),
        Settings::default(),
        "a row made from the column defaults"
    );
    let patched = store
        .update_settings(
            &user,
            &SettingsPatch {
                voice_speed: Some(220),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(patched.voice_speed, 220);
    assert_eq!(patched.theme, Settings::default().theme);
}
on_both_backends!(settings_defaults_agree_between_api_and_schema);

async fn identities_are_stored_as_hashes(backend: Backend) {
    let (store, _db) = migrated_store(backend).await;
    let user = store
        .create_identity(&hash_token("secret-token"))
        .await
        .unwrap();
    assert_eq!(user.as_str().len(), 32);
    assert_eq!(
        store
            .user_for_token(&hash_token("secret-token"))
            .await
            .unwrap(),
        Some(user.clone())
    );
    assert_eq!(store.user_for_token("secret-token").await.unwrap(), None);
    assert_eq!(
        store.user_for_token(&hash_token("other")).await.unwrap(),
        None
    );
    let other = store.create_identity(&hash_token("t2")).await.unwrap();
    assert_ne!(user, other);
}
on_both_backends!(identities_are_stored_as_hashes);

fn keys<'a>(user: &'a UserId, day: &'a str, per_user: u32, total: u32) -> BudgetKeys<'a> {
    BudgetKeys {
        user,
        network: "192.0.2.1",
        day,
        per_user,
        per_network: 1_000_000,
        total,
    }
}

async fn ai_budget_counts_are_atomic_under_concurrency(backend: Backend) {
    let (store, _db) = migrated_store(backend).await;
    let user = store.create_identity(&hash_token("budget")).await.unwrap();
    let tasks: Vec<_> = (0..25)
        .map(|_| {
            let store = store.clone();
            let user = user.clone();
            tokio::spawn(async move {
                store
                    .consume_ai_request(keys(&user, "2026-11-24", 10, 1000))
                    .await
            })
        })
        .collect();
    let mut granted = 0;
    for task in tasks {
        if task.await.unwrap().unwrap() == Budget::Granted {
            granted += 1;
        }
    }
    assert_eq!(granted, 10);
    assert_eq!(
        store
            .consume_ai_request(keys(&user, "2026-11-25", 10, 1000))
            .await
            .unwrap(),
        Budget::Granted,
        "a new day starts afresh"
    );
    let other = store.create_identity(&hash_token("other")).await.unwrap();
    assert_eq!(
        store
            .consume_ai_request(keys(&other, "2026-11-26", 10, 1))
            .await
            .unwrap(),
        Budget::Granted
    );
    assert_eq!(
        store
            .consume_ai_request(keys(&user, "2026-11-26", 10, 1))
            .await
            .unwrap(),
        Budget::TotalExhausted
    );
    // A refused request does not consume the user's own budget.
    assert_eq!(
        store
            .consume_ai_request(keys(&user, "2026-11-26", 1, 1000))
            .await
            .unwrap(),
        Budget::Granted
    );
}
on_both_backends!(ai_budget_counts_are_atomic_under_concurrency);

/// Questions asked at the same moment are charged in one transaction; within it a question
/// refused by a later counter (the service's) must give back the ones it had already moved
/// (its user's, its network's), or the refused would still be billed.
async fn a_batch_of_questions_charges_each_all_or_nothing(backend: Backend) {
    let (store, _db) = migrated_store(backend).await;
    let day = "2026-12-03";
    let mut users = Vec::new();
    for n in 0..4 {
        users.push(
            store
                .create_identity(&hash_token(&format!("batch-{n}")))
                .await
                .unwrap(),
        );
    }
    let tasks: Vec<_> = (0..40)
        .map(|i| {
            let store = store.clone();
            let user = users[i % users.len()].clone();
            tokio::spawn(async move {
                let budget = BudgetKeys {
                    user: &user,
                    network: if i % 2 == 0 {
                        "192.0.2.1"
                    } else {
                        "2001:db8::"
                    },
                    day,
                    per_user: 4,
                    per_network: 1_000_000,
                    total: 11,
                };
                (
                    user.clone(),
                    store.consume_ai_request(budget).await.unwrap(),
                )
            })
        })
        .collect();
    let mut granted = BTreeMap::<String, i64>::new();
    let mut refusals = BTreeMap::<String, usize>::new();
    for task in tasks {
        let (user, outcome) = task.await.unwrap();
        match outcome {
            Budget::Granted => *granted.entry(user.to_string()).or_default() += 1,
            other => *refusals.entry(format!("{other:?}")).or_default() += 1,
        }
    }
    let total: i64 = granted.values().sum();
    assert_eq!(total, 11, "the service's limit: {granted:?} {refusals:?}");
    assert!(granted.values().all(|&n| n <= 4), "{granted:?}");
    assert_eq!(refusals.values().sum::<usize>(), 29, "{refusals:?}");
    assert_eq!(store.ai_usage("*", day).await.unwrap(), 11);
    for user in &users {
        assert_eq!(
            store.ai_usage(user.as_str(), day).await.unwrap(),
            granted.get(&user.to_string()).copied().unwrap_or(0),
            "a refused question moved {user}'s counter"
        );
    }
    let networks = store.ai_usage("ip:192.0.2.1", day).await.unwrap()
        + store.ai_usage("ip:2001:db8::", day).await.unwrap();
    assert_eq!(
        networks, 11,
        "a refused question moved its network's counter"
    );
}
on_both_backends!(a_batch_of_questions_charges_each_all_or_nothing);

async fn shared_rate_limit_follows_gcra(backend: Backend) {
    let (store, _db) = migrated_store(backend).await;
    // One request per second, burst of 3.
    let take = |now: i64| {
        let store = store.clone();
        async move {
            store
                .take_shared_rate_limit("k", now, 1000, 2000)
                .await
                .unwrap()
        }
    };
    assert!(take(0).await.is_ok());
    assert!(take(0).await.is_ok());
    assert!(take(0).await.is_ok());
    assert_eq!(take(0).await, Err(1000));
    assert_eq!(take(500).await, Err(500));
    assert!(take(1000).await.is_ok());
    assert!(take(1000).await.is_err());
    assert!(take(10_000).await.is_ok());
    assert_eq!(
        store.prune_counters("2000-01-01", 1_000_000).await.unwrap(),
        1,
        "stale buckets are pruned"
    );
}
on_both_backends!(shared_rate_limit_follows_gcra);

async fn many_concurrent_writers_never_see_database_is_locked(backend: Backend) {
    let app = spawn_app(AppOptions::new(backend)).await;
    let tasks: Vec<_> = (0..60)
        .map(|i| {
            let client = crate::helpers::new_client();
            let url = app.url("/api/command");
            let settings = app.url("/api/settings/me");
            tokio::spawn(async move {
                let mut statuses = Vec::new();
                for j in 0..5 {
                    let command = if j % 2 == 0 {
                        format!("{i} + {j}")
                    } else {
                        "hello".to_owned()
                    };
                    let r = client
                        .post(&url)
                        .json(&json!({"command": command}))
                        .send()
                        .await
                        .unwrap();
                    statuses.push(r.status().as_u16());
                }
                let r = client
                    .put(&settings)
                    .json(&json!({"voice_speed": 100 + i}))
                    .send()
                    .await
                    .unwrap();
                statuses.push(r.status().as_u16());
                statuses
            })
        })
        .collect();
    for task in tasks {
        assert!(task.await.unwrap().iter().all(|s| *s == 200));
    }
}
on_both_backends!(many_concurrent_writers_never_see_database_is_locked);

fn ballsy(args: &[&str], database_url: &str) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_ballsy"))
        .args(args)
        .env_clear()
        .env("DATABASE_URL", database_url)
        .env("LOG_FORMAT", "text")
        .output()
        .expect("ballsy runs")
}

async fn migrate_command_applies_then_reports_up_to_date(backend: Backend) {
    let db = TestDb::new(backend).await;
    let first = ballsy(&["migrate"], &db.url);
    assert!(
        first.status.success(),
        "{}",
        String::from_utf8_lossy(&first.stderr)
    );
    let stdout = String::from_utf8_lossy(&first.stdout);
    assert!(stdout.contains("applied 1 initial"), "{stdout}");
    let second = ballsy(&["migrate"], &db.url);
    assert!(second.status.success());
    assert!(String::from_utf8_lossy(&second.stdout).contains("up to date"));
}
on_both_backends!(migrate_command_applies_then_reports_up_to_date);

#[tokio::test]
async fn two_concurrent_migrations_both_succeed_on_postgres() {
    let Some(_) = postgres_admin_url() else {
        report_skip("two_concurrent_migrations_both_succeed_on_postgres");
        return;
    };
    let db = TestDb::new(Backend::Postgres).await;
    let url = db.url.clone();
    let (a, b) = std::thread::scope(|s| {
        let a = s.spawn(|| ballsy(&["migrate"], &url));
        let b = s.spawn(|| ballsy(&["migrate"], &url));
        (a.join().unwrap(), b.join().unwrap())
    });
    assert!(a.status.success(), "{}", String::from_utf8_lossy(&a.stderr));
    assert!(b.status.success(), "{}", String::from_utf8_lossy(&b.stderr));
    let outputs = [
        String::from_utf8_lossy(&a.stdout),
        String::from_utf8_lossy(&b.stdout),
    ];
    assert_eq!(
        outputs.iter().filter(|o| o.contains("applied 1")).count(),
        1,
        "{outputs:?}"
    );
    assert_eq!(
        outputs.iter().filter(|o| o.contains("up to date")).count(),
        1,
        "{outputs:?}"
    );
}

/// The directory of the local server's unix socket (where Cloud Run would have /cloudsql/…).
fn socket_dir() -> String {
    std::env::var("BALLSY_TEST_PG_SOCKET_DIR").unwrap_or_else(|_| "/var/run/postgresql".to_owned())
}

#[tokio::test]
async fn the_cloud_run_url_form_connects_over_the_unix_socket() {
    let Some(admin) = postgres_admin_url() else {
        report_skip("the_cloud_run_url_form_connects_over_the_unix_socket");
        return;
    };
    let db = TestDb::new(Backend::Postgres).await;
    let admin = url::Url::parse(&admin).unwrap();
    let user = if admin.username().is_empty() {
        "postgres"
    } else {
        admin.username()
    };
    // Exactly the shape Terraform writes, with a password full of URL-special characters
    // (ignored by trust authentication, but it must parse).
    let url = format!(
        "postgresql+psycopg2://{user}:p%40ss%3Aw%2Fo%3Fr%23d%25@/{}?host={}",
        db.pg_name().unwrap(),
        socket_dir()
    );
    let parsed = DatabaseUrl::parse(&url).unwrap();
    let store = Store::connect_lazy(&parsed, 2);
    let all: Vec<i64> = store.known_migrations().iter().map(|(v, _)| *v).collect();
    assert_eq!(store.migrate().await.unwrap(), all);
    store.ping().await.unwrap();
    let output = ballsy(&["migrate"], &url);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(String::from_utf8_lossy(&output.stdout).contains("up to date"));
}

#[tokio::test]
async fn terminated_connections_are_replaced_without_a_restart() {
    let Some(admin) = postgres_admin_url() else {
        report_skip("terminated_connections_are_replaced_without_a_restart");
        return;
    };
    let app = spawn_app(AppOptions::new(Backend::Postgres)).await;
    assert_eq!(app.command("hello").await.status(), 200);
    let mut conn = admin_connection(&admin).await;
    let killed: Vec<(bool,)> = sqlx::query_as(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()",
    )
    .bind(app.db.pg_name().unwrap())
    .fetch_all(&mut conn)
    .await
    .unwrap();
    assert!(!killed.is_empty(), "the app had open connections");
    tokio::time::sleep(Duration::from_millis(100)).await;
    for _ in 0..5 {
        assert_eq!(
            app.command("hello").await.status(),
            200,
            "fresh connections replace the killed ones"
        );
    }
    let ready = app.client.get(app.url("/ready")).send().await.unwrap();
    assert_eq!(ready.status(), 200);
}

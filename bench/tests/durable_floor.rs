//! The durable floor stores what it acknowledges, on SQLite and on PostgreSQL (the command
//! benchmark's ratios mean nothing if a floor only answers errors).

use std::net::SocketAddr;
use std::time::Duration;

use ballsy_bench::durable::DurableFloor;
use ballsy_bench::loadgen::{Auth, CommandLoad, run_commands};
use ballsy_bench::suite::db::{TestDatabase, Transport};
use sqlx::Connection as _;

async fn acknowledges_and_stores(database: &TestDatabase) {
    let url = database.server_url(Transport::Default).unwrap();
    let floor = DurableFloor::start(SocketAddr::from(([127, 0, 0, 1], 0)), &url)
        .await
        .expect("the durable floor starts");
    let mut load = CommandLoad::new(format!("ws://{}", floor.addr()));
    load.clients = 4;
    load.commands_per_client = 25;
    load.auth = Auth::None;
    load.timeout = Duration::from_secs(10);
    let report = run_commands(load).await;
    floor.stop();
    assert!(report.is_clean(), "{report:?}");
    assert_eq!(report.sent, 100);
    let stored: i64 = match database.backend {
        ballsy_bench::suite::db::Backend::Sqlite => {
            let mut db = sqlx::SqliteConnection::connect(&url).await.unwrap();
            sqlx::query_scalar("SELECT count(*) FROM exchanges")
                .fetch_one(&mut db)
                .await
                .unwrap()
        }
        ballsy_bench::suite::db::Backend::Postgres => {
            let mut db = sqlx::PgConnection::connect(&url).await.unwrap();
            sqlx::query_scalar("SELECT count(*) FROM exchanges")
                .fetch_one(&mut db)
                .await
                .unwrap()
        }
    };
    assert_eq!(stored, 100, "one row per acknowledged exchange");
}

#[tokio::test]
async fn the_sqlite_floor_stores_every_exchange() {
    let dir = std::env::temp_dir();
    let database = TestDatabase::sqlite(&dir);
    acknowledges_and_stores(&database).await;
    database.remove().await.unwrap();
}

#[tokio::test]
async fn the_postgres_floor_stores_every_exchange() {
    let Some(admin) = std::env::var("BALLSY_TEST_DATABASE_URL")
        .ok()
        .filter(|u| !u.is_empty())
    else {
        assert!(
            std::env::var_os("BALLSY_REQUIRE_POSTGRES").is_none(),
            "BALLSY_REQUIRE_POSTGRES is set but BALLSY_TEST_DATABASE_URL is not"
        );
        eprintln!(
            "skipped the_postgres_floor_stores_every_exchange: BALLSY_TEST_DATABASE_URL is not set"
        );
        return;
    };
    let database = TestDatabase::postgres(&admin).await.unwrap();
    acknowledges_and_stores(&database).await;
    database.remove().await.unwrap();
}

//! The load generator against the in-process echo floor: the plumbing works end to end (the
//! measurements themselves are in the `bench` suite).

use std::net::SocketAddr;
use std::time::Duration;

use ballsy_bench::echo::EchoServer;
use ballsy_bench::fake_gemini::{FakeGemini, FakeGeminiConfig};
use ballsy_bench::loadgen::{
    Auth, CommandLoad, DirectStreamLoad, IdleLoad, hold_idle, run_commands, run_direct_streams,
};

async fn echo() -> EchoServer {
    EchoServer::start(SocketAddr::from(([127, 0, 0, 1], 0)))
        .await
        .expect("echo server starts")
}

#[tokio::test]
async fn echo_mode_acknowledges_every_command() {
    let server = echo().await;
    let mut load = CommandLoad::new(server.ws_base());
    load.clients = 4;
    load.commands_per_client = 25;
    load.warmup_per_client = 5;
    load.connections_per_client = 2;
    load.auth = Auth::None;
    load.echo_mode = true;
    load.timeout = Duration::from_secs(5);
    let report = run_commands(load).await;
    assert!(report.is_clean(), "{report:?}");
    assert_eq!(report.sent, 100);
    assert_eq!(report.connections, 8);
    assert_eq!(report.latency.count, 100);
    assert!(report.throughput_per_sec > 0.0);
    // Warm-up commands are listed for database checks but not counted.
    assert!(report.per_client.iter().all(|c| c.acknowledged.len() == 30));
    assert_eq!(report.per_client[1].acknowledged[1], "5 + 1000001");
    server.stop();
}

#[tokio::test]
async fn echo_mode_without_a_server_counts_connect_failures() {
    let server = echo().await;
    let url = server.ws_base();
    server.stop();
    tokio::time::sleep(Duration::from_millis(50)).await;
    let mut load = CommandLoad::new(url);
    load.clients = 2;
    load.commands_per_client = 3;
    load.auth = Auth::None;
    load.echo_mode = true;
    let report = run_commands(load).await;
    assert_eq!(report.connect_failures, 2);
    assert_eq!(report.sent, 0);
    assert!(!report.is_clean());
}

#[tokio::test]
async fn idle_sockets_stay_open_until_closed() {
    let server = echo().await;
    let mut load = IdleLoad::new(server.ws_base(), 50);
    load.connect_rate = 5000.0;
    let handle = hold_idle(load).await;
    assert_eq!(handle.opened, 50, "{:?}", handle.failures);
    assert_eq!(handle.failed, 0);
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(handle.still_open(), 50);
    handle.close().await;
    server.stop();
}

#[tokio::test]
async fn direct_streams_measure_stamped_chunks() {
    let fake = FakeGemini::start(FakeGeminiConfig {
        stamp_chunks: true,
        chunks: 4,
        ..FakeGeminiConfig::default()
    })
    .await
    .expect("fake starts");
    let report = run_direct_streams(DirectStreamLoad {
        base_url: fake.base_url(),
        model: "gemini-test".into(),
        streams: 5,
        requests_per_stream: 2,
        question: "q {k}".into(),
        start_spread: Duration::from_millis(20),
        timeout: Duration::from_secs(5),
    })
    .await;
    assert_eq!(report.completed, 10, "{report:?}");
    assert_eq!(report.deltas, 40);
    assert_eq!(report.added_delay.count, 40);
    assert!(report.added_delay.p99_us < 1_000_000);
    assert_eq!(report.min_deltas_per_reply, 4);
}

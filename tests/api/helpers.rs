//! Test harness: the real application on 127.0.0.1:0 with its own fresh database (a SQLite file,
//! or a new PostgreSQL database when BALLSY_TEST_DATABASE_URL is set) and, when asked, the fake
//! Gemini server. Nothing here reaches the network beyond loopback.

use std::io::Write as _;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use ballsy::config::Config;
use ballsy::server::Application;
use ballsy::state::AppState;
use ballsy::store::url::DatabaseUrl;
use ballsy_bench::fake_gemini::{FakeGemini, FakeGeminiConfig};
use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use sqlx::Connection;
use tokio::net::TcpStream;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::{self, Message};
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

pub const TEST_API_KEY: &str = "test-key-3f9a1c";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// The admin URL of the test PostgreSQL server, if tests against it should run. CI sets
/// BALLSY_REQUIRE_POSTGRES so that a missing URL fails instead of skipping.
pub fn postgres_admin_url() -> Option<String> {
    match std::env::var("BALLSY_TEST_DATABASE_URL") {
        Ok(url) if !url.trim().is_empty() => Some(url),
        _ => {
            assert!(
                std::env::var_os("BALLSY_REQUIRE_POSTGRES").is_none(),
                "BALLSY_REQUIRE_POSTGRES is set but BALLSY_TEST_DATABASE_URL is not"
            );
            None
        }
    }
}

/// Says, outside the test harness's output capture, that a Postgres variant did not run.
pub fn report_skip(test: &str) {
    let _ = writeln!(
        std::io::stderr(),
        "skipped {test} on PostgreSQL: BALLSY_TEST_DATABASE_URL is not set"
    );
}

/// Runs `case` on SQLite, and on PostgreSQL when a test server is configured.
#[macro_export]
macro_rules! on_both_backends {
    ($case:ident) => {
        mod $case {
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                super::$case($crate::helpers::Backend::Sqlite).await
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                if $crate::helpers::postgres_admin_url().is_some() {
                    super::$case($crate::helpers::Backend::Postgres).await
                } else {
                    $crate::helpers::report_skip(concat!(module_path!(), "::", stringify!($case)));
                }
            }
        }
    };
}

/// A database that exists for one test and is removed afterwards.
pub struct TestDb {
    pub url: String,
    dir: Option<PathBuf>,
    pg: Option<(String, String)>,
}

impl TestDb {
    pub async fn new(backend: Backend) -> Self {
        match backend {
            Backend::Sqlite => {
                let dir =
                    std::env::temp_dir().join(format!("ballsy-test-{}", uuid::Uuid::new_v4()));
                std::fs::create_dir_all(&dir).expect("temp dir");
                TestDb {
                    url: format!("sqlite://{}", dir.join("ballsy.db").display()),
                    dir: Some(dir),
                    pg: None,
                }
            }
            Backend::Postgres => {
                let admin = postgres_admin_url().expect("BALLSY_TEST_DATABASE_URL");
                let name = format!("ballsy_test_{}", uuid::Uuid::new_v4().simple());
                let mut conn = admin_connection(&admin).await;
                sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE \"{name}\"")))
                    .execute(&mut conn)
                    .await
                    .expect("create the test database");
                let mut url = url::Url::parse(&admin).expect("BALLSY_TEST_DATABASE_URL is a URL");
                url.set_path(&format!("/{name}"));
                TestDb {
                    url: url.to_string(),
                    dir: None,
                    pg: Some((admin, name)),
                }
            }
        }
    }

    pub fn database_url(&self) -> DatabaseUrl {
        DatabaseUrl::parse(&self.url).expect("test database URL parses")
    }

    /// The PostgreSQL database name, for tests that terminate its connections.
    pub fn pg_name(&self) -> Option<&str> {
        self.pg.as_ref().map(|(_, name)| name.as_str())
    }
}

pub async fn admin_connection(admin_url: &str) -> sqlx::PgConnection {
    let DatabaseUrl::Postgres(target) = DatabaseUrl::parse(admin_url).expect("admin URL parses")
    else {
        panic!("BALLSY_TEST_DATABASE_URL must be a postgres:// URL");
    };
    sqlx::PgConnection::connect_with(&target.connect_options())
        .await
        .expect("connect to the test PostgreSQL server")
}

impl Drop for TestDb {
    fn drop(&mut self) {
        if let Some(dir) = self.dir.take() {
            let _ = std::fs::remove_dir_all(dir);
        }
        if let Some((admin, name)) = self.pg.take() {
            // Drop is synchronous; a short-lived runtime on its own thread does the async work.
            let _ = std::thread::spawn(move || {
                let runtime = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build();
                if let Ok(runtime) = runtime {
                    runtime.block_on(async {
                        let mut conn = admin_connection(&admin).await;
                        let _ = sqlx::query(sqlx::AssertSqlSafe(format!(
                            "DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"
                        )))
                        .execute(&mut conn)
                        .await;
                    });
                }
            })
            .join();
        }
    }
}

pub struct AppOptions {
    pub backend: Backend,
    /// Start the fake Gemini server and point the app at it; None runs the offline model.
    pub gemini: Option<FakeGeminiConfig>,
    pub configure: Box<dyn FnOnce(&mut Config) + Send>,
}

impl AppOptions {
    pub fn new(backend: Backend) -> Self {
        Self {
            backend,
            gemini: None,
            configure: Box::new(|_| {}),
        }
    }

    pub fn with_gemini(mut self, config: FakeGeminiConfig) -> Self {
        self.gemini = Some(config);
        self
    }

    pub fn configure(mut self, f: impl FnOnce(&mut Config) + Send + 'static) -> Self {
        self.configure = Box::new(f);
        self
    }
}

pub struct TestApp {
    pub addr: SocketAddr,
    pub state: AppState,
    pub fake: Option<FakeGemini>,
    pub db: TestDb,
    /// A client with its own cookie jar: one anonymous user.
    pub client: reqwest::Client,
    stop: Option<oneshot::Sender<()>>,
    server: Option<JoinHandle<anyhow::Result<()>>>,
}

pub async fn spawn_app(options: AppOptions) -> TestApp {
    let db = TestDb::new(options.backend).await;
    let fake = match options.gemini {
        Some(config) => Some(FakeGemini::start(config).await.expect("fake Gemini starts")),
        None => None,
    };
    let mut config = Config::for_tests();
    config.database_url = db.database_url();
    if let Some(fake) = &fake {
        config.gemini.api_key = Some(TEST_API_KEY.to_owned().into());
        config.gemini.base_url = Some(fake.base_url());
        config.gemini.timeout = Duration::from_secs(10);
        config.gemini.first_byte_timeout = Duration::from_secs(3);
        config.gemini.stall_timeout = Duration::from_secs(2);
    }
    (options.configure)(&mut config);
    spawn_with_config(config, db, fake).await
}

/// Starts the app with a finished configuration, built exactly as production builds it, and
/// returns once its migrations at start are done.
pub async fn spawn_with_config(config: Config, db: TestDb, fake: Option<FakeGemini>) -> TestApp {
    let app = Application::build(config).await.expect("app builds");
    let mut test_app = adopt(app, db).await;
    assert!(
        test_app
            .state
            .wait_until_migrated(Duration::from_secs(30))
            .await,
        "migrations at start finish"
    );
    test_app.fake = fake;
    test_app
}

/// Runs an already built application in the background.
pub async fn adopt(app: Application, db: TestDb) -> TestApp {
    // The server listens on 0.0.0.0; tests talk to it over loopback.
    let addr = SocketAddr::from(([127, 0, 0, 1], app.local_addr().port()));
    let state = app.state();
    let (stop, stopped) = oneshot::channel::<()>();
    let server = tokio::spawn(app.run_until_stopped(async move {
        let _ = stopped.await;
    }));
    TestApp {
        addr,
        state,
        fake: None,
        db,
        client: new_client(),
        stop: Some(stop),
        server: Some(server),
    }
}

/// A TCP forwarder that can be taken down and brought back: from the app's side, a database
/// that restarts or becomes unreachable.
pub struct TcpProxy {
    port: u16,
    down: tokio::sync::watch::Sender<bool>,
    accept: JoinHandle<()>,
}

impl TcpProxy {
    pub async fn start(upstream: &str) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let (down, _) = tokio::sync::watch::channel(false);
        let upstream = upstream.to_owned();
        let watcher = down.clone();
        let accept = tokio::spawn(async move {
            loop {
                let Ok((mut client, _)) = listener.accept().await else {
                    return;
                };
                let mut down = watcher.subscribe();
                if *down.borrow() {
                    drop(client);
                    continue;
                }
                let upstream = upstream.clone();
                tokio::spawn(async move {
                    let Ok(mut server) = TcpStream::connect(&upstream).await else {
                        return;
                    };
                    tokio::select! {
                        _ = tokio::io::copy_bidirectional(&mut client, &mut server) => {}
                        _ = down.wait_for(|d| *d) => {}
                    }
                });
            }
        });
        Self { port, down, accept }
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    pub async fn set_down(&self, down: bool) {
        self.down.send_replace(down);
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

impl Drop for TcpProxy {
    fn drop(&mut self) {
        self.accept.abort();
    }
}

/// GETs `url` and returns its JSON body (any status).
pub async fn get_json(client: &reqwest::Client, url: &str) -> Value {
    client
        .get(url)
        .send()
        .await
        .expect("request")
        .json()
        .await
        .expect("a JSON body")
}

pub fn new_client() -> reqwest::Client {
    reqwest::Client::builder()
        .cookie_store(true)
        .timeout(Duration::from_secs(30))
        .build()
        .expect("client builds")
}

impl TestApp {
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, path)
    }

    pub fn fake(&self) -> &FakeGemini {
        self.fake
            .as_ref()
            .expect("this app runs with the fake Gemini")
    }

    pub async fn command(&self, command: &str) -> reqwest::Response {
        command_with(&self.client, self, command).await
    }

    /// POSTs a command and returns the JSON reply, asserting 200.
    pub async fn ask(&self, command: &str) -> Value {
        let response = self.command(command).await;
        assert_eq!(response.status(), 200, "command {command:?}");
        response.json().await.expect("JSON reply")
    }

    /// The user a session token belongs to.
    pub async fn user_of(&self, token: &str) -> ballsy::store::UserId {
        self.state
            .store()
            .user_for_token(&ballsy::store::hash_token(token))
            .await
            .expect("the store answers")
            .expect("the token is a session")
    }

    /// A new anonymous identity through the API; returns (token, user_id).
    pub async fn new_session(&self) -> (String, String) {
        let response = reqwest::Client::new()
            .post(self.url("/api/session"))
            .send()
            .await
            .expect("request");
        assert_eq!(response.status(), 201);
        let body: Value = response.json().await.unwrap();
        (
            body["token"].as_str().unwrap().to_owned(),
            body["user_id"].as_str().unwrap().to_owned(),
        )
    }

    pub fn ws_url(&self, client_id: &str) -> String {
        format!("ws://{}/ws/voice/{client_id}", self.addr)
    }

    pub async fn ws(&self, client_id: &str, token: &str) -> Ws {
        self.ws_with(client_id, &[("authorization", &format!("Bearer {token}"))])
            .await
            .expect("socket opens")
    }

    pub async fn ws_with(
        &self,
        client_id: &str,
        headers: &[(&str, &str)],
    ) -> Result<Ws, tungstenite::Error> {
        connect_ws(&self.ws_url(client_id), headers).await
    }

    /// Graceful stop, as on SIGTERM.
    pub async fn stop(mut self) {
        self.stop_in_place().await;
    }

    pub async fn stop_in_place(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(server) = self.server.take() {
            let _ = tokio::time::timeout(Duration::from_secs(15), server).await;
        }
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

pub async fn command_with(
    client: &reqwest::Client,
    app: &TestApp,
    command: &str,
) -> reqwest::Response {
    client
        .post(app.url("/api/command"))
        .json(&json!({ "command": command }))
        .send()
        .await
        .expect("request")
}

pub async fn connect_ws(url: &str, headers: &[(&str, &str)]) -> Result<Ws, tungstenite::Error> {
    let mut request = url.into_client_request()?;
    for (name, value) in headers {
        request.headers_mut().insert(
            tungstenite::http::HeaderName::from_bytes(name.as_bytes()).unwrap(),
            value.parse().unwrap(),
        );
    }
    let (stream, _response) = tokio_tungstenite::connect_async(request).await?;
    Ok(Ws { stream })
}

pub struct Ws {
    pub stream: WebSocketStream<MaybeTlsStream<TcpStream>>,
}

pub const WS_TIMEOUT: Duration = Duration::from_secs(10);

impl Ws {
    pub async fn send_json(&mut self, value: Value) {
        self.send_text(&value.to_string()).await;
    }

    pub async fn send_text(&mut self, text: &str) {
        self.stream
            .send(Message::Text(text.into()))
            .await
            .expect("send a frame");
    }

    /// The next data frame as JSON (control frames are skipped).
    pub async fn recv_json(&mut self) -> Value {
        loop {
            let message = tokio::time::timeout(WS_TIMEOUT, self.stream.next())
                .await
                .expect("a frame within the timeout")
                .expect("the socket is open")
                .expect("a valid frame");
            match message {
                Message::Text(text) => {
                    return serde_json::from_str(text.as_str()).expect("JSON frame");
                }
                Message::Ping(_) | Message::Pong(_) => continue,
                other => panic!("expected a text frame, got {other:?}"),
            }
        }
    }

    /// Reads until the server closes; returns its close frame.
    pub async fn expect_close(&mut self, within: Duration) -> Option<CloseFrame> {
        let deadline = tokio::time::Instant::now() + within;
        loop {
            let next = tokio::time::timeout_at(deadline, self.stream.next())
                .await
                .expect("the server closes the socket in time");
            match next {
                Some(Ok(Message::Close(frame))) => return frame,
                Some(Ok(_)) => continue,
                Some(Err(_)) | None => return None,
            }
        }
    }

    /// Sends a command and collects its deltas until the final frame (command_response,
    /// cancelled or error about it).
    pub async fn command(&mut self, command: &str) -> (Vec<String>, Value) {
        self.send_json(json!({ "command": command })).await;
        self.collect_reply().await
    }

    pub async fn collect_reply(&mut self) -> (Vec<String>, Value) {
        let mut deltas = Vec::new();
        loop {
            let frame = self.recv_json().await;
            match frame["type"].as_str() {
                Some("response_delta") => deltas.push(frame["delta"].as_str().unwrap().to_owned()),
                Some("command_response") | Some("cancelled") | Some("error") => {
                    return (deltas, frame);
                }
                // Other tabs of the same user report their turns; not part of this reply.
                Some("turn_synced") | Some("conversation_changed") => continue,
                _ => panic!("unexpected frame {frame}"),
            }
        }
    }
}

/// Polls `condition` until it holds or `within` passes.
pub async fn eventually<F, Fut>(within: Duration, mut condition: F) -> bool
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + within;
    loop {
        if condition().await {
            return true;
        }
        if tokio::time::Instant::now() >= deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

//! The durable floor: a bare axum WebSocket server that commits one row per exchange before it
//! replies, to SQLite with Ballsy's settings or to PostgreSQL over the same socket or TCP as
//! Ballsy's runs.
//!
//! It is what a persisted command must at least cost: the socket, parsing the frame, one row
//! written by group commit (one writer, one statement and one commit per batch, as Ballsy's
//! writer does), and a reply of Ballsy's shape. Comparing Ballsy with it compares like with
//! like; the echo floor (`echo`) stays in the report as the cost of the socket alone.

use std::net::SocketAddr;
use std::str::FromStr;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::Context as _;
use axum::Router;
use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::extract::{Path, State};
use axum::response::Response;
use axum::routing::get;
use axum::serve::ListenerExt as _;
use serde_json::{Value, json};
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};
use tokio::net::TcpListener;
use tokio::sync::{mpsc, oneshot, watch};
use tokio::task::JoinHandle;

use crate::echo::{MAX_MESSAGE, MAX_WRITE_BUFFER, READ_BUFFER, WRITE_BUFFER};

/// Ballsy's batch bound (src/store/writer.rs).
const MAX_BATCH: usize = 128;

enum Db {
    Sqlite(SqlitePool),
    Postgres(PgPool),
}

struct Row {
    socket: String,
    command: String,
    reply: String,
    done: oneshot::Sender<Result<i64, String>>,
}

#[derive(Clone)]
struct Floor {
    writer: mpsc::Sender<Row>,
}

/// Connects (creating the SQLite file or the table) and returns the writer's queue.
async fn connect(database_url: &str) -> anyhow::Result<Db> {
    if let Some(path) = database_url.strip_prefix("sqlite://") {
        // Ballsy's SQLite settings (src/store/mod.rs).
        let options = SqliteConnectOptions::new()
            .filename(path)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Full)
            .busy_timeout(Duration::from_secs(5));
        let pool = SqlitePoolOptions::new()
            .max_connections(5)
            .connect_with(options)
            .await?;
        sqlx::query(
            "CREATE TABLE IF NOT EXISTS exchanges (id INTEGER PRIMARY KEY, socket TEXT NOT NULL,
             command TEXT NOT NULL, reply TEXT NOT NULL, created_ms INTEGER NOT NULL)",
        )
        .execute(&pool)
        .await?;
        Ok(Db::Sqlite(pool))
    } else {
        let options = pg_options(database_url)?;
        let pool = PgPoolOptions::new()
            .max_connections(5)
            .connect_with(options)
            .await?;
        sqlx::query(
            "CREATE TABLE IF NOT EXISTS exchanges (id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
             socket TEXT NOT NULL, command TEXT NOT NULL, reply TEXT NOT NULL, created_ms BIGINT NOT NULL)",
        )
        .execute(&pool)
        .await?;
        Ok(Db::Postgres(pool))
    }
}

/// `postgres://USER@/DB?host=/socket/dir&port=N` (the suite's unix-socket form, which sqlx's
/// URL parser refuses for its empty host) or any URL sqlx understands.
fn pg_options(url: &str) -> anyhow::Result<PgConnectOptions> {
    let rest = url
        .strip_prefix("postgres://")
        .or_else(|| url.strip_prefix("postgresql://"))
        .context("a postgres:// URL")?;
    let Some((user, after)) = rest.split_once("@/") else {
        return PgConnectOptions::from_str(url).context("a PostgreSQL URL");
    };
    let (database, query) = after.split_once('?').unwrap_or((after, ""));
    let mut options = PgConnectOptions::new().username(user).database(database);
    for pair in query.split('&') {
        match pair.split_once('=') {
            Some(("host", dir)) => options = options.socket(dir),
            Some(("port", port)) => options = options.port(port.parse().context("a port")?),
            _ => {}
        }
    }
    Ok(options)
}

const SQLITE_INSERT: &str = "INSERT INTO exchanges (socket, command, reply, created_ms)
    SELECT value ->> '$.socket', value ->> '$.command', value ->> '$.reply', value ->> '$.created_ms'
    FROM json_each($1) ORDER BY key RETURNING id";
// PostgreSQL refuses WITH ORDINALITY next to a column definition list, so each row carries
// its position (`seq`), as Ballsy's writer does.
const POSTGRES_INSERT: &str = "INSERT INTO exchanges (socket, command, reply, created_ms)
    SELECT socket, command, reply, created_ms
    FROM jsonb_to_recordset($1::jsonb)
        AS r(seq bigint, socket text, command text, reply text, created_ms bigint)
    ORDER BY seq RETURNING id";

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

/// Group commit: whatever arrived while the previous transaction ran goes in one statement.
async fn write_batches(db: Db, mut queue: mpsc::Receiver<Row>) {
    let mut batch: Vec<Row> = Vec::with_capacity(MAX_BATCH);
    let mut reported = false;
    while let Some(first) = queue.recv().await {
        batch.push(first);
        while batch.len() < MAX_BATCH {
            match queue.try_recv() {
                Ok(row) => batch.push(row),
                Err(_) => break,
            }
        }
        let created_ms = now_ms();
        let rows = Value::Array(
            batch
                .iter()
                .enumerate()
                .map(|(seq, r)| {
                    json!({"seq": seq, "socket": r.socket, "command": r.command, "reply": r.reply, "created_ms": created_ms})
                })
                .collect(),
        )
        .to_string();
        let result: Result<Vec<(i64,)>, sqlx::Error> = match &db {
            Db::Sqlite(pool) => {
                async {
                    let mut tx = pool.begin_with("BEGIN IMMEDIATE").await?;
                    let ids = sqlx::query_as(SQLITE_INSERT)
                        .bind(&rows)
                        .fetch_all(&mut *tx)
                        .await?;
                    tx.commit().await?;
                    Ok(ids)
                }
                .await
            }
            Db::Postgres(pool) => {
                async {
                    let mut tx = pool.begin().await?;
                    let ids = sqlx::query_as(POSTGRES_INSERT)
                        .bind(&rows)
                        .fetch_all(&mut *tx)
                        .await?;
                    tx.commit().await?;
                    Ok(ids)
                }
                .await
            }
        };
        match result {
            Ok(mut ids) => {
                ids.sort_unstable();
                for (row, (id,)) in batch.drain(..).zip(ids) {
                    let _ = row.done.send(Ok(id));
                }
            }
            Err(error) => {
                let message = error.to_string();
                // A floor that cannot store measures nothing: say why, once.
                if !reported {
                    reported = true;
                    eprintln!("durable floor: a batch was not stored: {message}");
                }
                for row in batch.drain(..) {
                    let _ = row.done.send(Err(message.clone()));
                }
            }
        }
    }
}

fn router(queue: mpsc::Sender<Row>) -> Router {
    Router::new()
        .route("/ws/voice/{id}", get(upgrade))
        .route("/health", get(|| async { "ok" }))
        .with_state(Floor { writer: queue })
}

async fn upgrade(
    State(floor): State<Floor>,
    Path(id): Path<String>,
    upgrade: WebSocketUpgrade,
) -> Response {
    upgrade
        .read_buffer_size(READ_BUFFER)
        .write_buffer_size(WRITE_BUFFER)
        .max_write_buffer_size(MAX_WRITE_BUFFER)
        .max_message_size(MAX_MESSAGE)
        .max_frame_size(MAX_MESSAGE)
        .on_upgrade(move |socket| exchange(socket, id, floor))
}

/// Every command frame is stored, then answered in Ballsy's reply shape.
async fn exchange(mut socket: WebSocket, socket_id: String, floor: Floor) {
    while let Some(Ok(message)) = socket.recv().await {
        let text = match message {
            Message::Text(text) => text,
            Message::Close(_) => return,
            _ => continue,
        };
        let Ok(frame) = serde_json::from_str::<Value>(text.as_str()) else {
            continue;
        };
        let command = frame["command"].as_str().unwrap_or_default().to_owned();
        let reply = format!("ok: {command}");
        let (done, stored) = oneshot::channel();
        let row = Row {
            socket: socket_id.clone(),
            command,
            reply: reply.clone(),
            done,
        };
        if floor.writer.send(row).await.is_err() {
            return;
        }
        let answer = match stored.await {
            Ok(Ok(turn_id)) => json!({
                "type": "command_response",
                "id": frame["id"],
                "data": {"response": reply, "action": null, "data": null, "source": "rule",
                         "status": "complete", "turn_id": turn_id},
            }),
            _ => json!({"type": "error", "id": frame["id"], "code": "storage_unavailable",
                        "message": "not stored"}),
        };
        if socket
            .send(Message::Text(answer.to_string().into()))
            .await
            .is_err()
        {
            return;
        }
    }
}

/// A durable floor running in this process.
pub struct DurableFloor {
    addr: SocketAddr,
    stop: watch::Sender<bool>,
    task: JoinHandle<()>,
}

impl DurableFloor {
    pub async fn start(addr: SocketAddr, database_url: &str) -> anyhow::Result<Self> {
        let db = connect(database_url).await?;
        let (queue, receiver) = mpsc::channel(8192);
        tokio::spawn(write_batches(db, receiver));
        let listener = TcpListener::bind(addr).await?;
        let addr = listener.local_addr()?;
        let (stop, mut stopped) = watch::channel(false);
        let app = router(queue);
        // Ballsy sends every socket's writes at once (TCP_NODELAY); so does the floor.
        let listener = listener.tap_io(|tcp| {
            let _ = tcp.set_nodelay(true);
        });
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app)
                .with_graceful_shutdown(async move {
                    let _ = stopped.wait_for(|s| *s).await;
                })
                .await;
        });
        Ok(Self { addr, stop, task })
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    pub fn stop(self) {
        self.stop.send_replace(true);
        self.task.abort();
    }
}

//! Group commit for conversation turns.
//!
//! A reply may only be sent after its history row is committed, and on SQLite (synchronous =
//! FULL) or Postgres every commit waits for the disk. One writer task therefore collects the
//! turns that arrive while the previous transaction runs and commits them together: one fsync
//! and a handful of multi-row statements per batch instead of per turn. Each caller still
//! waits for its own turn's commit, so durability is unchanged.

use std::time::Duration;

use chrono::{DateTime, Utc};
use std::collections::HashMap;

use serde_json::{Value, json};
use tokio::sync::{mpsc, oneshot};
use tokio::time::Instant;

use super::{BeginWrite, Pool, StoreError, StoreResult, UserId};

/// Turns per transaction. Bounded so statements stay far below both backends' bind-parameter
/// limits (messages: 10 columns × 2 rows per turn).
const MAX_BATCH: usize = 128;
/// A turn not written within this time fails with "unavailable" instead of waiting forever
/// behind a database outage; the client gets an error, never a false acknowledgement.
const SUBMIT_DEADLINE: Duration = Duration::from_secs(8);
/// Upper bound for one batch transaction (a database that stops answering mid-transaction).
const BATCH_TIMEOUT: Duration = Duration::from_secs(10);
const QUEUE_CAPACITY: usize = 8192;

/// One exchange to persist: the user's command, the assistant's reply, the history row, and
/// the calculator's new last result when the command was a calculation.
#[derive(Debug, Clone)]
pub struct TurnRecord {
    pub user_id: UserId,
    pub command: String,
    pub command_at: DateTime<Utc>,
    pub reply: String,
    pub action: Option<String>,
    /// The action's data as JSON text.
    pub data: Option<String>,
    /// rule, gemini, offline, budget or fallback.
    pub source: String,
    /// The rule or model that produced the reply.
    pub model: Option<String>,
    /// complete, interrupted or failed.
    pub status: &'static str,
    pub replied_at: DateTime<Utc>,
    pub calculation: Option<String>,
}

enum Message {
    Write {
        record: Box<TurnRecord>,
        deadline: Instant,
        done: oneshot::Sender<StoreResult<()>>,
    },
    /// Answered after every write queued before it has been handled.
    Flush(oneshot::Sender<()>),
}

pub(super) struct WriterHandle {
    queue: mpsc::Sender<Message>,
}

impl WriterHandle {
    pub(super) async fn submit(&self, record: TurnRecord) -> StoreResult<()> {
        let (done, wait) = oneshot::channel();
        let message = Message::Write {
            record: Box::new(record),
            deadline: Instant::now() + SUBMIT_DEADLINE,
            done,
        };
        if self.queue.send(message).await.is_err() {
            return Err(StoreError::Unavailable("the store is shut down".into()));
        }
        wait.await
            .unwrap_or_else(|_| Err(StoreError::Unavailable("the writer stopped".into())))
    }

    pub(super) async fn close(&self) {
        let (done, wait) = oneshot::channel();
        if self.queue.send(Message::Flush(done)).await.is_ok() {
            let _ = wait.await;
        }
    }
}

pub(super) fn spawn(pool: Pool) -> WriterHandle {
    let (queue, receiver) = mpsc::channel(QUEUE_CAPACITY);
    tokio::spawn(run(pool, receiver));
    WriterHandle { queue }
}

async fn run(pool: Pool, mut receiver: mpsc::Receiver<Message>) {
    let mut batch = Vec::with_capacity(MAX_BATCH);
    let mut flushes = Vec::new();
    while let Some(first) = receiver.recv().await {
        let mut next = Some(first);
        while let Some(message) = next.take() {
            match message {
                Message::Write {
                    record,
                    deadline,
                    done,
                } => {
                    if Instant::now() > deadline {
                        let _ = done.send(Err(StoreError::Unavailable(
                            "timed out waiting for the database".into(),
                        )));
                    } else {
                        batch.push((record, done));
                    }
                }
                Message::Flush(done) => flushes.push(done),
            }
            if batch.len() < MAX_BATCH && flushes.is_empty() {
                next = receiver.try_recv().ok();
            }
        }
        if !batch.is_empty() {
            let records: Vec<&TurnRecord> = batch.iter().map(|(r, _)| r.as_ref()).collect();
            let result =
                match tokio::time::timeout(BATCH_TIMEOUT, write_batch(&pool, &records)).await {
                    Ok(Ok(())) => Ok(()),
                    Ok(Err(e)) => Err(StoreError::from(e)),
                    Err(_) => Err(StoreError::Unavailable(
                        "the database did not finish the write in time".into(),
                    )),
                };
            if let Err(error) = &result {
                tracing::error!(%error, turns = batch.len(), "could not persist a batch of turns");
            }
            for (_, done) in batch.drain(..) {
                let _ = done.send(result.clone());
            }
        }
        for done in flushes.drain(..) {
            let _ = done.send(());
        }
    }
}

/// Finds (or opens) the user's open conversation inside a write transaction.
macro_rules! open_conversation {
    ($tx:expr, $user:expr, $now:expr) => {
        async {
            let existing: Option<(i64,)> = sqlx::query_as(
                "SELECT id FROM conversations WHERE user_id = $1 AND ended_at IS NULL",
            )
            .bind($user)
            .fetch_optional(&mut *$tx)
            .await?;
            match existing {
                Some((id,)) => Ok::<i64, sqlx::Error>(id),
                None => {
                    let (id,): (i64,) = sqlx::query_as(
                        "INSERT INTO conversations (user_id, started_at) VALUES ($1, $2) RETURNING id",
                    )
                    .bind($user)
                    .bind($now)
                    .fetch_one(&mut *$tx)
                    .await?;
                    Ok(id)
                }
            }
        }
    };
}
pub(super) use open_conversation;

/// Batch statements. Each table gets one statement whose text never changes with the batch
/// size: the rows travel as one JSON array parameter, unpacked by the database. Multi-row
/// `VALUES` lists would be a different statement for every batch size, and preparing those
/// again and again (the statement cache cannot hold them all) was most of the writer's CPU.
struct BatchSql {
    open_conversations: &'static str,
    messages: &'static str,
    history: &'static str,
    calculator: &'static str,
}

const POSTGRES_BATCH: BatchSql = BatchSql {
    open_conversations: "SELECT user_id, id FROM conversations
        WHERE ended_at IS NULL AND user_id IN (SELECT jsonb_array_elements_text($1::jsonb))",
    messages: "INSERT INTO messages
            (conversation_id, user_id, role, content, action, data, source, model, status, created_at)
        SELECT conversation_id, user_id, role, content, action, data, source, model, status, created_at
        FROM jsonb_to_recordset($1::jsonb) AS r(seq int, conversation_id bigint, user_id text,
            role text, content text, action text, data text, source text, model text, status text,
            created_at timestamptz)
        ORDER BY seq",
    history: "INSERT INTO command_history (user_id, command, result, action, source, created_at)
        SELECT user_id, command, result, action, source, created_at
        FROM jsonb_to_recordset($1::jsonb) AS r(seq int, user_id text, command text, result text,
            action text, source text, created_at timestamptz)
        ORDER BY seq",
    calculator: "INSERT INTO calculator_state (user_id, last_result, updated_at)
        SELECT user_id, last_result, updated_at
        FROM jsonb_to_recordset($1::jsonb) AS r(user_id text, last_result text, updated_at timestamptz)
        ON CONFLICT (user_id) DO UPDATE
        SET last_result = excluded.last_result, updated_at = excluded.updated_at",
};

const SQLITE_BATCH: BatchSql = BatchSql {
    open_conversations: "SELECT user_id, id FROM conversations
        WHERE ended_at IS NULL AND user_id IN (SELECT value FROM json_each($1))",
    messages: "INSERT INTO messages
            (conversation_id, user_id, role, content, action, data, source, model, status, created_at)
        SELECT value ->> '$.conversation_id', value ->> '$.user_id', value ->> '$.role',
            value ->> '$.content', value ->> '$.action', value ->> '$.data', value ->> '$.source',
            value ->> '$.model', value ->> '$.status', value ->> '$.created_at'
        FROM json_each($1) ORDER BY key",
    history: "INSERT INTO command_history (user_id, command, result, action, source, created_at)
        SELECT value ->> '$.user_id', value ->> '$.command', value ->> '$.result',
            value ->> '$.action', value ->> '$.source', value ->> '$.created_at'
        FROM json_each($1) ORDER BY key",
    calculator: "INSERT INTO calculator_state (user_id, last_result, updated_at)
        SELECT value ->> '$.user_id', value ->> '$.last_result', value ->> '$.updated_at'
        FROM json_each($1) WHERE true
        ON CONFLICT (user_id) DO UPDATE
        SET last_result = excluded.last_result, updated_at = excluded.updated_at",
};

/// Timestamps as sqlx itself writes them to SQLite (RFC 3339), which PostgreSQL also reads.
fn timestamp(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, false)
}

/// The JSON rows of a batch, built once for either backend.
struct BatchRows {
    users: String,
    calculations: Option<String>,
}

fn batch_users_and_calculations(records: &[&TurnRecord], now: DateTime<Utc>) -> BatchRows {
    let mut users: Vec<&str> = records.iter().map(|r| r.user_id.as_str()).collect();
    users.sort_unstable();
    users.dedup();
    // One row per user: an upsert may not touch the same row twice in one statement.
    let mut calculations: Vec<(&str, &str)> = Vec::new();
    for record in records {
        if let Some(value) = &record.calculation {
            let user = record.user_id.as_str();
            calculations.retain(|(u, _)| *u != user);
            calculations.push((user, value));
        }
    }
    let calculations = (!calculations.is_empty()).then(|| {
        Value::Array(
            calculations
                .into_iter()
                .map(|(user, value)| json!({"user_id": user, "last_result": value, "updated_at": timestamp(now)}))
                .collect(),
        )
        .to_string()
    });
    BatchRows {
        users: json!(users).to_string(),
        calculations,
    }
}

/// Parameters larger than this are split over several statements. sqlx 0.9.0 leaves Nagle's
/// algorithm on for TCP connections to PostgreSQL (transact-rs/sqlx#4335): a message larger
/// than the socket's initial send buffer goes out in two writes, and the second waits for the
/// server's delayed ACK (40 ms), while the server waits for the rest of the message. Keeping
/// each message well under 16 KiB avoids the stall; over a unix socket it costs nothing.
const MAX_PARAMETER_BYTES: usize = 6 * 1024;

/// JSON arrays of at most about `MAX_PARAMETER_BYTES` each (a single larger row gets its own).
fn json_chunks(rows: impl IntoIterator<Item = Value>) -> Vec<String> {
    let mut chunks = Vec::new();
    let mut current = String::from("[");
    for row in rows {
        let row = row.to_string();
        if current.len() > 1 && current.len() + row.len() + 1 > MAX_PARAMETER_BYTES {
            current.push(']');
            chunks.push(std::mem::replace(&mut current, String::from("[")));
        }
        if current.len() > 1 {
            current.push(',');
        }
        current.push_str(&row);
    }
    if current.len() > 1 {
        current.push(']');
        chunks.push(current);
    }
    chunks
}

fn message_rows(records: &[&TurnRecord], conversations: &HashMap<String, i64>) -> Vec<String> {
    let mut rows = Vec::with_capacity(records.len() * 2);
    for record in records {
        let conversation_id = conversations[record.user_id.as_str()];
        rows.push(json!({
            "seq": rows.len(),
            "conversation_id": conversation_id,
            "user_id": record.user_id.as_str(),
            "role": "user",
            "content": record.command,
            "action": null, "data": null, "source": null, "model": null,
            "status": "complete",
            "created_at": timestamp(record.command_at),
        }));
        rows.push(json!({
            "seq": rows.len(),
            "conversation_id": conversation_id,
            "user_id": record.user_id.as_str(),
            "role": "assistant",
            "content": record.reply,
            "action": record.action,
            "data": record.data,
            "source": record.source,
            "model": record.model,
            "status": record.status,
            "created_at": timestamp(record.replied_at),
        }));
    }
    json_chunks(rows)
}

fn history_rows(records: &[&TurnRecord]) -> Vec<String> {
    json_chunks(records.iter().enumerate().map(|(seq, record)| {
        json!({
            "seq": seq,
            "user_id": record.user_id.as_str(),
            "command": record.command,
            "result": record.reply,
            "action": record.action,
            "source": record.source,
            "created_at": timestamp(record.replied_at),
        })
    }))
}

/// The batch transaction, the same steps on either backend.
macro_rules! write_batch_body {
    ($pool:expr, $sql:expr, $records:expr) => {{
        let records = $records;
        let sql: &BatchSql = $sql;
        let now = Utc::now();
        let rows = batch_users_and_calculations(records, now);
        let mut tx = $pool.begin_write().await?;
        let mut conversations: HashMap<String, i64> =
            sqlx::query_as::<_, (String, i64)>(sql.open_conversations)
                .bind(&rows.users)
                .fetch_all(&mut *tx)
                .await?
                .into_iter()
                .collect();
        for record in records {
            let user = record.user_id.as_str();
            if !conversations.contains_key(user) {
                let id = open_conversation!(tx, user, now).await?;
                conversations.insert(user.to_owned(), id);
            }
        }
        // Chunks in order, so ids still follow the order of the turns.
        for chunk in message_rows(records, &conversations) {
            sqlx::query(sql.messages)
                .bind(chunk)
                .execute(&mut *tx)
                .await?;
        }
        for chunk in history_rows(records) {
            sqlx::query(sql.history)
                .bind(chunk)
                .execute(&mut *tx)
                .await?;
        }
        if let Some(calculations) = rows.calculations {
            sqlx::query(sql.calculator)
                .bind(calculations)
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await
    }};
}

async fn write_batch(pool: &Pool, records: &[&TurnRecord]) -> Result<(), sqlx::Error> {
    match pool {
        Pool::Postgres(pool) => write_batch_body!(pool, &POSTGRES_BATCH, records),
        Pool::Sqlite(pool) => write_batch_body!(pool, &SQLITE_BATCH, records),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_chunks_stay_small_keep_order_and_lose_nothing() {
        let rows: Vec<Value> = (0..500)
            .map(|i| json!({"seq": i, "text": "x".repeat(i % 90)}))
            .collect();
        let chunks = json_chunks(rows.clone());
        assert!(chunks.len() > 1);
        let mut joined = Vec::new();
        for chunk in &chunks {
            assert!(chunk.len() <= MAX_PARAMETER_BYTES, "{}", chunk.len());
            let parsed: Vec<Value> = serde_json::from_str(chunk).unwrap();
            joined.extend(parsed);
        }
        assert_eq!(joined, rows);
        let big = vec![json!({"text": "y".repeat(10_000)})];
        assert_eq!(json_chunks(big).len(), 1, "an oversized row travels alone");
        assert!(json_chunks(Vec::<Value>::new()).is_empty());
    }
}

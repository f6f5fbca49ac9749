//! Group commit for conversation turns.
//!
//! A reply may only be sent after its turn is committed, and on SQLite (synchronous = FULL) or
//! Postgres every commit waits for the disk. One writer task therefore collects the turns that
//! arrive while the previous transaction runs and commits them together: one statement and
//! one fsync per batch instead of per turn. Each caller still waits for its own turn's commit,
//! so durability is unchanged.
//!
//! One bad turn must never fail another user's: if the batch statement is refused for any
//! reason other than the database being unavailable, the batch is written again turn by turn,
//! each under its own savepoint, and only the turns the database refuses fail.

use std::fmt::Write as _;
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::Serialize;
use tokio::sync::{mpsc, oneshot};
use tokio::time::Instant;

use super::{BeginWrite, Pool, StoreError, StoreResult};
use crate::conversation::{TurnId, TurnRecord};

/// Turns per transaction.
const MAX_BATCH: usize = 128;
/// A turn not written within this time fails with "unavailable" instead of waiting forever
/// behind a database outage; the client gets an error, never a false acknowledgement.
const SUBMIT_DEADLINE: Duration = Duration::from_secs(8);
/// Upper bound for one batch transaction (a database that stops answering mid-transaction).
const BATCH_TIMEOUT: Duration = Duration::from_secs(10);
const QUEUE_CAPACITY: usize = 8192;

/// Where a committed turn went: its id and its conversation's.
pub type Written = (TurnId, i64);

type Done = oneshot::Sender<StoreResult<Written>>;

/// A turn waiting for its batch, with its row already serialized: the writer is the one
/// serial step every turn goes through, so the per-turn work happens in each turn's own task.
struct Queued {
    record: TurnRecord,
    /// The row as a JSON object (`Row`), without its position in the batch.
    row: String,
}

enum Message {
    Write {
        turn: Box<Queued>,
        deadline: Instant,
        done: Done,
    },
    /// Answered after every write queued before it has been handled.
    Flush(oneshot::Sender<()>),
}

pub(super) struct WriterHandle {
    queue: mpsc::Sender<Message>,
}

impl WriterHandle {
    pub(super) async fn submit(&self, record: TurnRecord) -> StoreResult<Written> {
        let (done, wait) = oneshot::channel();
        let row = serde_json::to_string(&row(&record)).expect("a row serializes");
        let message = Message::Write {
            turn: Box::new(Queued { record, row }),
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
    let mut batch: Vec<(Box<Queued>, Done)> = Vec::with_capacity(MAX_BATCH);
    let mut flushes = Vec::new();
    while let Some(first) = receiver.recv().await {
        let mut next = Some(first);
        while let Some(message) = next.take() {
            match message {
                Message::Write {
                    turn,
                    deadline,
                    done,
                } => {
                    if Instant::now() > deadline {
                        let _ = done.send(Err(StoreError::Unavailable(
                            "timed out waiting for the database".into(),
                        )));
                    } else {
                        batch.push((turn, done));
                    }
                }
                Message::Flush(done) => flushes.push(done),
            }
            if batch.len() < MAX_BATCH && flushes.is_empty() {
                next = receiver.try_recv().ok();
            }
        }
        if !batch.is_empty() {
            let turns: Vec<&Queued> = batch.iter().map(|(turn, _)| turn.as_ref()).collect();
            let results = write(&pool, &turns).await;
            for ((_, done), result) in batch.drain(..).zip(results) {
                let _ = done.send(result);
            }
        }
        for done in flushes.drain(..) {
            let _ = done.send(());
        }
    }
}

/// Writes a batch: all at once, or one by one when the database refuses the batch.
async fn write(pool: &Pool, records: &[&Queued]) -> Vec<StoreResult<Written>> {
    let together = match tokio::time::timeout(BATCH_TIMEOUT, write_together(pool, records)).await {
        Ok(result) => result,
        Err(_) => Err(WriteError::Store(StoreError::Unavailable(
            "the database did not finish the write in time".into(),
        ))),
    };
    match together {
        Ok(ids) => ids.into_iter().map(Ok).collect(),
        Err(WriteError::Store(error)) if error.is_unavailable() => {
            tracing::error!(%error, turns = records.len(), "could not persist a batch of turns");
            vec![Err(error); records.len()]
        }
        Err(error) => {
            if records.len() > 1 {
                tracing::warn!(%error, turns = records.len(), "a batch of turns was refused; writing them one by one");
            }
            match tokio::time::timeout(BATCH_TIMEOUT, write_one_by_one(pool, records)).await {
                Ok(results) => results,
                Err(_) => vec![
                    Err(StoreError::Unavailable(
                        "the database did not finish the write in time".into()
                    ));
                    records.len()
                ],
            }
        }
    }
}

#[derive(Debug, thiserror::Error)]
enum WriteError {
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Some turn's user had no open conversation: the statement skipped it.
    #[error("a turn's user has no open conversation")]
    MissingConversation,
}

impl From<sqlx::Error> for WriteError {
    fn from(error: sqlx::Error) -> Self {
        WriteError::Store(error.into())
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

/// The batch statement: the rows travel as one JSON array parameter, unpacked by the database,
/// and each row finds its user's open conversation by a join. Its text never changes with the
/// batch size, so it is prepared once (multi-row `VALUES` lists would be a new statement for
/// every size). Ids come back in insertion order, which is `seq` order.
const POSTGRES_INSERT: &str = "INSERT INTO turns (conversation_id, command, command_at, reply,
        action, data, source, answered_by, status, replied_at, calculation)
    SELECT c.id, r.command, r.command_at, r.reply, r.action, r.data, r.source,
        r.answered_by, r.status, r.replied_at, r.calculation
    FROM jsonb_to_recordset($1::jsonb) AS r(seq int, user_id text, command text,
        command_at timestamptz, reply text, action text, data text, source text,
        answered_by text, status text, replied_at timestamptz, calculation text)
    JOIN conversations c ON c.user_id = r.user_id AND c.ended_at IS NULL
    ORDER BY r.seq
    RETURNING id, conversation_id";

/// On SQLite the batch is one statement outside an explicit transaction. SQLite runs a single
/// statement atomically, so without `BEGIN`/`COMMIT` the batch is still all or nothing, costs two
/// fewer trips to the connection's worker thread, and needs no statement journal (which an
/// explicit transaction keeps for every page the insert touches, in case one row's constraint
/// fails). `jsonb_each` hands each row over as JSONB, which `->>` reads without parsing it again.
/// The LEFT JOIN makes a user without an open conversation fail the whole statement (its
/// `conversation_id` is NOT NULL) instead of silently skipping the row.
const SQLITE_INSERT: &str = "INSERT INTO turns (conversation_id, command, command_at, reply,
        action, data, source, answered_by, status, replied_at, calculation)
    SELECT c.id, r.value ->> 'command', r.value ->> 'command_at',
        r.value ->> 'reply', r.value ->> 'action', r.value ->> 'data', r.value ->> 'source',
        r.value ->> 'answered_by', r.value ->> 'status', r.value ->> 'replied_at',
        r.value ->> 'calculation'
    FROM jsonb_each($1) AS r
    LEFT JOIN conversations c ON c.user_id = r.value ->> 'user_id' AND c.ended_at IS NULL
    ORDER BY r.key
    RETURNING id, conversation_id";

/// Timestamps as sqlx itself writes them to SQLite (RFC 3339), which PostgreSQL also reads.
fn timestamp(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, false)
}

/// One turn as the batch statement reads it; `json_chunks` adds its position (`seq`).
#[derive(Serialize)]
struct Row<'a> {
    user_id: &'a str,
    command: &'a str,
    command_at: String,
    reply: &'a str,
    action: Option<&'static str>,
    /// The action's data as JSON text, stored as it is.
    data: Option<String>,
    source: &'static str,
    answered_by: Option<&'a str>,
    status: &'static str,
    replied_at: String,
    calculation: Option<&'a str>,
}

fn row(record: &TurnRecord) -> Row<'_> {
    Row {
        user_id: record.user.as_str(),
        command: &record.command,
        command_at: timestamp(record.command_at),
        reply: &record.reply,
        action: record.action.as_ref().map(|a| a.kind()),
        data: record
            .action
            .as_ref()
            .map(|a| a.data())
            .filter(|d| !d.is_null())
            .map(|d| d.to_string()),
        source: record.source.as_str(),
        answered_by: record.answered_by.as_deref(),
        status: record.status.as_str(),
        replied_at: timestamp(record.replied_at),
        calculation: record.calculation.as_deref(),
    }
}

/// Appends `row`, a serialized JSON object, to `out` with `"seq": seq` as its first field.
fn push_numbered(out: &mut String, seq: usize, row: &str) {
    debug_assert!(
        row.starts_with('{') && row.len() > 2,
        "a row is a non-empty object"
    );
    // Writing to a String cannot fail.
    let _ = write!(out, "{{\"seq\":{seq},");
    out.push_str(&row[1..]);
}

/// Parameters larger than this are split over several statements. sqlx 0.9.0 leaves Nagle's
/// algorithm on for TCP connections to PostgreSQL (transact-rs/sqlx#4335): a message larger
/// than the socket's initial send buffer goes out in two writes, and the second waits for the
/// server's delayed ACK (40 ms), while the server waits for the rest of the message. Keeping
/// each message well under 16 KiB avoids the stall; over a unix socket it costs nothing.
const MAX_PARAMETER_BYTES: usize = 6 * 1024;

/// The rows as JSON arrays of at most about `max_bytes` each (a single larger row gets its
/// own), numbered in order across them, with the number of rows in each.
fn json_chunks<'a>(
    rows: impl IntoIterator<Item = &'a str>,
    max_bytes: usize,
) -> Vec<(String, usize)> {
    let mut chunks = Vec::new();
    let mut current = String::from("[");
    let mut count = 0;
    for (seq, row) in rows.into_iter().enumerate() {
        // Numbering adds `"seq":`, its digits and a comma; with the comma between rows, at most
        // 19 bytes for any batch.
        if count > 0 && current.len().saturating_add(row.len() + 19) > max_bytes {
            current.push(']');
            chunks.push((std::mem::replace(&mut current, String::from("[")), count));
            count = 0;
        }
        if count > 0 {
            current.push(',');
        }
        push_numbered(&mut current, seq, row);
        count += 1;
    }
    if count > 0 {
        current.push(']');
        chunks.push((current, count));
    }
    chunks
}

/// Inserts one chunk and returns the new ids in the chunk's order.
macro_rules! insert_chunk {
    ($tx:expr, $sql:expr, $chunk:expr, $count:expr) => {
        async {
            let mut ids: Vec<(i64, i64)> = sqlx::query_as($sql)
                .bind($chunk)
                .fetch_all(&mut *$tx)
                .await?;
            if ids.len() != $count {
                return Err(WriteError::MissingConversation);
            }
            // Ids grow in insertion order, which is `seq` order.
            ids.sort_unstable();
            Ok::<Vec<Written>, WriteError>(ids)
        }
    };
}

macro_rules! write_together_body {
    ($pool:expr, $sql:expr, $records:expr) => {{
        let mut tx = $pool.begin_write().await?;
        let mut ids = Vec::with_capacity($records.len());
        let rows = $records.iter().map(|turn| turn.row.as_str());
        for (chunk, count) in json_chunks(rows, MAX_PARAMETER_BYTES) {
            ids.extend(insert_chunk!(tx, $sql, chunk, count).await?);
        }
        tx.commit().await?;
        Ok(ids)
    }};
}

async fn write_together(pool: &Pool, records: &[&Queued]) -> Result<Vec<Written>, WriteError> {
    match pool {
        Pool::Postgres(pool) => write_together_body!(pool, POSTGRES_INSERT, records),
        Pool::Sqlite(pools) => {
            // In-process, so no message size to keep small: one array, one statement.
            let rows = records.iter().map(|turn| turn.row.as_str());
            let (rows, _) = json_chunks(rows, usize::MAX)
                .pop()
                .unwrap_or_else(|| ("[]".to_owned(), 0));
            let mut ids: Vec<Written> = sqlx::query_as(SQLITE_INSERT)
                .bind(rows)
                .fetch_all(&pools.write)
                .await?;
            if ids.len() != records.len() {
                return Err(WriteError::MissingConversation);
            }
            ids.sort_unstable();
            Ok(ids)
        }
    }
}

macro_rules! write_one_by_one_body {
    ($pool:expr, $sql:expr, $records:expr) => {{
        let records = $records;
        let now = Utc::now();
        let mut tx = match $pool.begin_write().await {
            Ok(tx) => tx,
            Err(error) => return vec![Err(StoreError::from(error)); records.len()],
        };
        let mut results = Vec::with_capacity(records.len());
        for turn in records {
            let record = &turn.record;
            let attempt = async {
                sqlx::query("SAVEPOINT turn").execute(&mut *tx).await?;
                let result = async {
                    open_conversation!(tx, record.user.as_str(), now).await?;
                    let (chunk, count) = json_chunks([turn.row.as_str()], usize::MAX)
                        .pop()
                        .expect("one row makes one chunk");
                    insert_chunk!(tx, $sql, chunk, count).await
                }
                .await;
                match result {
                    Ok(ids) => {
                        sqlx::query("RELEASE SAVEPOINT turn").execute(&mut *tx).await?;
                        Ok(ids[0])
                    }
                    Err(error) => {
                        sqlx::query("ROLLBACK TO SAVEPOINT turn")
                            .execute(&mut *tx)
                            .await?;
                        sqlx::query("RELEASE SAVEPOINT turn").execute(&mut *tx).await?;
                        Err(error)
                    }
                }
            }
            .await;
            let attempt = attempt.map_err(|error| match error {
                WriteError::Store(error) => error,
                other => StoreError::Query(other.to_string().into()),
            });
            if let Err(error) = &attempt {
                tracing::error!(%error, user_id = %record.user, "the database refused a turn");
                if error.is_unavailable() {
                    return vec![Err(error.clone()); records.len()];
                }
            }
            results.push(attempt);
        }
        match tx.commit().await {
            Ok(()) => results,
            Err(error) => vec![Err(StoreError::from(error)); records.len()],
        }
    }};
}

async fn write_one_by_one(pool: &Pool, records: &[&Queued]) -> Vec<StoreResult<Written>> {
    match pool {
        Pool::Postgres(pool) => write_one_by_one_body!(pool, POSTGRES_INSERT, records),
        Pool::Sqlite(pools) => write_one_by_one_body!(&pools.write, SQLITE_INSERT, records),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{Value, json};

    #[test]
    fn json_chunks_stay_small_keep_order_and_lose_nothing() {
        let rows: Vec<String> = (0..500)
            .map(|i| json!({"text": "x".repeat(i % 90)}).to_string())
            .collect();
        let chunks = json_chunks(rows.iter().map(String::as_str), MAX_PARAMETER_BYTES);
        assert!(chunks.len() > 1);
        let mut joined = Vec::new();
        for (chunk, count) in &chunks {
            assert!(chunk.len() <= MAX_PARAMETER_BYTES, "{}", chunk.len());
            let parsed: Vec<Value> = serde_json::from_str(chunk).unwrap();
            assert_eq!(parsed.len(), *count);
            joined.extend(parsed);
        }
        assert_eq!(joined.len(), rows.len());
        for (seq, (parsed, row)) in joined.iter().zip(&rows).enumerate() {
            let original: Value = serde_json::from_str(row).unwrap();
            assert_eq!(parsed["seq"], seq, "rows are numbered in order");
            assert_eq!(parsed["text"], original["text"]);
        }
        let big = json!({"text": "y".repeat(10_000)}).to_string();
        assert_eq!(
            json_chunks([big.as_str()], MAX_PARAMETER_BYTES).len(),
            1,
            "an oversized row travels alone"
        );
        assert!(json_chunks(std::iter::empty(), MAX_PARAMETER_BYTES).is_empty());
    }

    #[test]
    fn a_batch_is_one_numbered_array() {
        let rows = [r#"{"a":1}"#, r#"{"b":"x"}"#];
        let chunks = json_chunks(rows, usize::MAX);
        assert_eq!(chunks.len(), 1);
        let array: Value = serde_json::from_str(&chunks[0].0).unwrap();
        assert_eq!(array, json!([{"seq": 0, "a": 1}, {"seq": 1, "b": "x"}]));
        assert_eq!(chunks[0].1, 2);
    }
}

//! Group commit for conversation turns.
//!
//! A reply may only be sent after its history row is committed, and on SQLite (synchronous =
//! FULL) or Postgres every commit waits for the disk. One writer task therefore collects the
//! turns that arrive while the previous transaction runs and commits them together: one fsync
//! and a handful of multi-row statements per batch instead of per turn. Each caller still
//! waits for its own turn's commit, so durability is unchanged.

use std::time::Duration;

use chrono::{DateTime, Utc};
use sqlx::QueryBuilder;
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

macro_rules! write_batch_body {
    ($pool:expr, $records:expr) => {{
        let records = $records;
        let now = Utc::now();
        let mut tx = $pool.begin_write().await?;

        // Conversation ids for the users in this batch, in one query.
        let mut users: Vec<&str> = records.iter().map(|r| r.user_id.as_str()).collect();
        users.sort_unstable();
        users.dedup();
        let mut lookup = QueryBuilder::new(
            "SELECT user_id, id FROM conversations WHERE ended_at IS NULL AND user_id IN (",
        );
        let mut separated = lookup.separated(", ");
        for user in &users {
            separated.push_bind(*user);
        }
        lookup.push(")");
        let mut conversations: std::collections::HashMap<String, i64> =
            lookup.build_query_as::<(String, i64)>().fetch_all(&mut *tx).await?.into_iter().collect();
        for user in &users {
            if !conversations.contains_key(*user) {
                let id = open_conversation!(tx, *user, now).await?;
                conversations.insert((*user).to_owned(), id);
            }
        }

        let mut messages = QueryBuilder::new(
            "INSERT INTO messages (conversation_id, user_id, role, content, action, data, source, model, status, created_at) ",
        );
        messages.push_values(
            records.iter().flat_map(|r| [(r, true), (r, false)]),
            |mut row, (record, is_command)| {
                row.push_bind(conversations[record.user_id.as_str()])
                    .push_bind(record.user_id.as_str().to_owned());
                if is_command {
                    row.push_bind("user")
                        .push_bind(record.command.clone())
                        .push_bind(None::<String>)
                        .push_bind(None::<String>)
                        .push_bind(None::<String>)
                        .push_bind(None::<String>)
                        .push_bind("complete")
                        .push_bind(record.command_at);
                } else {
                    row.push_bind("assistant")
                        .push_bind(record.reply.clone())
                        .push_bind(record.action.clone())
                        .push_bind(record.data.clone())
                        .push_bind(Some(record.source.clone()))
                        .push_bind(record.model.clone())
                        .push_bind(record.status)
                        .push_bind(record.replied_at);
                }
            },
        );
        messages.build().execute(&mut *tx).await?;

        let mut history = QueryBuilder::new(
            "INSERT INTO command_history (user_id, command, result, action, source, created_at) ",
        );
        history.push_values(records.iter(), |mut row, record| {
            row.push_bind(record.user_id.as_str().to_owned())
                .push_bind(record.command.clone())
                .push_bind(record.reply.clone())
                .push_bind(record.action.clone())
                .push_bind(record.source.clone())
                .push_bind(record.replied_at);
        });
        history.build().execute(&mut *tx).await?;

        // One row per user: an upsert may not touch the same row twice in one statement.
        let mut calculations: Vec<(&str, &str)> = Vec::new();
        for record in records.iter() {
            if let Some(value) = &record.calculation {
                let user = record.user_id.as_str();
                calculations.retain(|(u, _)| *u != user);
                calculations.push((user, value));
            }
        }
        if !calculations.is_empty() {
            let mut calculator =
                QueryBuilder::new("INSERT INTO calculator_state (user_id, last_result, updated_at) ");
            calculator.push_values(calculations, |mut row, (user, value)| {
                row.push_bind(user.to_owned())
                    .push_bind(value.to_owned())
                    .push_bind(now);
            });
            calculator.push(
                " ON CONFLICT (user_id) DO UPDATE SET last_result = excluded.last_result, updated_at = excluded.updated_at",
            );
            calculator.build().execute(&mut *tx).await?;
        }
        tx.commit().await
    }};
}

async fn write_batch(pool: &Pool, records: &[&TurnRecord]) -> Result<(), sqlx::Error> {
    match pool {
        Pool::Postgres(pool) => write_batch_body!(pool, records),
        Pool::Sqlite(pool) => write_batch_body!(pool, records),
    }
}

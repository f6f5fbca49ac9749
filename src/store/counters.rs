//! Counters shared by every instance: daily AI budgets and GCRA rate-limit buckets.
//!
//! Every AI question moves three counters (its user, its network, the service), and the
//! service's row is the same for everyone. Charged one question per transaction, the questions
//! queue for that row (on PostgreSQL its row lock, on SQLite the one write lock), each paying a
//! commit: at a few hundred questions at once the last waits hundreds of milliseconds before
//! the model is even asked. So, as turns are (`writer.rs`), the questions that arrive while a
//! batch commits are charged together in the next transaction, in arrival order, each all or
//! nothing, with one commit for all of them.

use std::time::Duration;

use tokio::sync::{mpsc, oneshot};
use tokio::time::Instant;

use super::{BeginWrite, Pool, Store, StoreError, StoreResult, UserId, with_pool, with_write_pool};

/// The outcome of asking for one more AI request today.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Budget {
    Granted,
    UserExhausted,
    /// The caller's network (IPv4 address or IPv6 /64) used its daily share.
    IpExhausted,
    TotalExhausted,
}

/// Which counters one AI request moves, and their daily limits.
#[derive(Debug, Clone, Copy)]
pub struct BudgetKeys<'a> {
    pub user: &'a UserId,
    /// The client's network key (see `limits::ClientKey`).
    pub network: &'a str,
    /// `YYYY-MM-DD`, UTC.
    pub day: &'a str,
    pub per_user: u32,
    pub per_network: u32,
    pub total: u32,
}

impl BudgetKeys<'_> {
    /// The `ai_usage` keys in the order they are checked. User counters keep the bare user id
    /// (the key rows written before networks were counted).
    fn keys(&self) -> BudgetRow {
        [
            (self.user.to_string(), self.per_user, Budget::UserExhausted),
            (
                format!("ip:{}", self.network),
                self.per_network,
                Budget::IpExhausted,
            ),
            ("*".to_owned(), self.total, Budget::TotalExhausted),
        ]
    }
}

type BudgetRow = [(String, u32, Budget); 3];

/// Increments `count` only below the limit; no returned row means the limit was reached. (A
/// first insert always succeeds, and limits are at least 1 when this runs.)
const INCREMENT: &str = "INSERT INTO ai_usage (key, day, count) VALUES ($1, $2, 1)
     ON CONFLICT (key, day) DO UPDATE SET count = ai_usage.count + 1
     WHERE ai_usage.count < $3
     RETURNING count";
const DECREMENT: &str =
    "UPDATE ai_usage SET count = count - 1 WHERE key = $1 AND day = $2 AND count > 0";

/// Questions charged per transaction.
const MAX_BUDGET_BATCH: usize = 256;
/// A question not charged within this time is answered "unavailable", as a turn is.
const BUDGET_DEADLINE: Duration = Duration::from_secs(8);
const BUDGET_QUEUE: usize = 4096;
/// Upper bound for one batch transaction (a database that stops answering mid-transaction).
const BATCH_TIMEOUT: Duration = Duration::from_secs(10);

struct Charge {
    keys: BudgetRow,
    day: String,
    deadline: Instant,
    done: oneshot::Sender<StoreResult<Budget>>,
}

/// The queue of the task that charges AI questions in batches.
pub(super) struct BudgetWriter {
    queue: mpsc::Sender<Charge>,
}

impl BudgetWriter {
    pub(super) fn spawn(pool: Pool) -> Self {
        let (queue, receiver) = mpsc::channel(BUDGET_QUEUE);
        tokio::spawn(charge_batches(pool, receiver));
        BudgetWriter { queue }
    }

    async fn charge(&self, keys: BudgetRow, day: &str) -> StoreResult<Budget> {
        let (done, answer) = oneshot::channel();
        let charge = Charge {
            keys,
            day: day.to_owned(),
            deadline: Instant::now() + BUDGET_DEADLINE,
            done,
        };
        if self.queue.send(charge).await.is_err() {
            return Err(StoreError::Unavailable("the store is shut down".into()));
        }
        answer
            .await
            .unwrap_or_else(|_| Err(StoreError::Unavailable("the budget writer stopped".into())))
    }
}

/// On PostgreSQL, takes the row locks of every counter the batch will move before moving any,
/// creating the missing rows at 0: users' rows first, then networks', then the service's, each
/// group in key order. Every transaction that moves budgets takes them in this order (a single
/// question, and a refund, moves user, network, service), so two instances' batches never
/// wait on each other in a circle.
const LOCK_COUNTERS: &str = "INSERT INTO ai_usage (key, day, count)
     SELECT c.key, c.day, 0 FROM unnest($1::text[], $2::text[]) WITH ORDINALITY AS c(key, day, n)
     ORDER BY c.n
     ON CONFLICT (key, day) DO UPDATE SET count = ai_usage.count";

async fn lock_counters(tx: &mut sqlx::PgConnection, batch: &[Charge]) -> Result<(), sqlx::Error> {
    let (keys, days) = lock_order(batch);
    sqlx::query(LOCK_COUNTERS)
        .bind(keys)
        .bind(days)
        .execute(tx)
        .await?;
    Ok(())
}

/// The counters of a batch in locking order, each once.
fn lock_order(batch: &[Charge]) -> (Vec<String>, Vec<String>) {
    let mut rows: Vec<(usize, &str, &str)> = batch
        .iter()
        .flat_map(|charge| {
            charge
                .keys
                .iter()
                .enumerate()
                .map(|(group, (key, _, _))| (group, key.as_str(), charge.day.as_str()))
        })
        .collect();
    rows.sort_unstable();
    rows.dedup();
    rows.into_iter()
        .map(|(_, key, day)| (key.to_owned(), day.to_owned()))
        .unzip()
}

/// One transaction for the batch, in arrival order: each question's three counters move in
/// turn, and when one is at its limit the ones already moved for that question are moved
/// back, so a refused question costs nothing and never refuses a later one.
macro_rules! charge_together {
    ($pool:expr, $batch:expr, |$tx:ident| $first:block) => {
        async {
            let batch: &[Charge] = $batch;
            let mut $tx = $pool.begin_write().await?;
            $first
            let mut outcomes = Vec::with_capacity(batch.len());
            for charge in batch {
                let mut outcome = Budget::Granted;
                for (moved, (key, limit, exhausted)) in charge.keys.iter().enumerate() {
                    let row: Option<(i64,)> = sqlx::query_as(INCREMENT)
                        .bind(key)
                        .bind(&charge.day)
                        .bind(i64::from(*limit))
                        .fetch_optional(&mut *$tx)
                        .await?;
                    if row.is_none() {
                        for (key, _, _) in &charge.keys[..moved] {
                            sqlx::query(DECREMENT)
                                .bind(key)
                                .bind(&charge.day)
                                .execute(&mut *$tx)
                                .await?;
                        }
                        outcome = *exhausted;
                        break;
                    }
                }
                outcomes.push(outcome);
            }
            $tx.commit().await?;
            Ok::<_, StoreError>(outcomes)
        }
    };
}

async fn charge_batches(pool: Pool, mut receiver: mpsc::Receiver<Charge>) {
    while let Some(first) = receiver.recv().await {
        let mut batch = Vec::with_capacity(16);
        batch.push(first);
        while batch.len() < MAX_BUDGET_BATCH {
            match receiver.try_recv() {
                Ok(charge) => batch.push(charge),
                Err(_) => break,
            }
        }
        let now = Instant::now();
        let (late, batch): (Vec<_>, Vec<_>) = batch.into_iter().partition(|c| now > c.deadline);
        for charge in late {
            let _ = charge.done.send(Err(StoreError::Unavailable(
                "timed out waiting for the database".into(),
            )));
        }
        if batch.is_empty() {
            continue;
        }
        // SQLite has one writer at a time, so there are no row locks to order.
        let outcomes = match &pool {
            Pool::Postgres(pool) => {
                let charging = charge_together!(pool, &batch, |tx| {
                    lock_counters(&mut tx, &batch).await?;
                });
                tokio::time::timeout(BATCH_TIMEOUT, charging).await
            }
            Pool::Sqlite(pools) => {
                let charging = charge_together!(&pools.write, &batch, |tx| {});
                tokio::time::timeout(BATCH_TIMEOUT, charging).await
            }
        }
        .unwrap_or_else(|_| {
            Err(StoreError::Unavailable(
                "the database did not answer in time".into(),
            ))
        });
        match outcomes {
            Ok(outcomes) => {
                for (charge, outcome) in batch.into_iter().zip(outcomes) {
                    let _ = charge.done.send(Ok(outcome));
                }
            }
            Err(error) => {
                for charge in batch {
                    let _ = charge.done.send(Err(error.clone()));
                }
            }
        }
    }
}

impl Store {
    /// Counts one AI request against today's budgets, atomically: every counter moves or none
    /// does. Charged with the other requests of the moment in one transaction (see the module).
    #[tracing::instrument(skip_all, err)]
    pub async fn consume_ai_request(&self, budget: BudgetKeys<'_>) -> StoreResult<Budget> {
        let keys = budget.keys();
        if let Some((_, _, exhausted)) = keys.iter().find(|(_, limit, _)| *limit == 0) {
            return Ok(*exhausted);
        }
        self.inner.budgets.charge(keys, budget.day).await
    }

    /// Counts one use of a service-wide daily allowance under `key` (for example grounded
    /// searches); false once `limit` is reached today.
    #[tracing::instrument(skip_all, err)]
    pub async fn consume_daily(&self, key: &str, day: &str, limit: u32) -> StoreResult<bool> {
        if limit == 0 {
            return Ok(false);
        }
        with_write_pool!(self, |pool| {
            let row: Option<(i64,)> = sqlx::query_as(INCREMENT)
                .bind(key)
                .bind(day)
                .bind(i64::from(limit))
                .fetch_optional(pool)
                .await?;
            Ok::<_, StoreError>(row.is_some())
        })
    }

    /// Gives back one AI request that produced no answer (a shutdown cut it before the first
    /// word), so a restart does not cost users their budget.
    #[tracing::instrument(skip_all, err)]
    pub async fn refund_ai_request(&self, budget: BudgetKeys<'_>) -> StoreResult<()> {
        with_write_pool!(self, |pool| {
            let mut tx = pool.begin_write().await?;
            for (key, _, _) in budget.keys() {
                sqlx::query(DECREMENT)
                    .bind(key)
                    .bind(budget.day)
                    .execute(&mut *tx)
                    .await?;
            }
            tx.commit().await?;
            Ok::<_, StoreError>(())
        })
    }

    /// Today's count of one `ai_usage` key (tests and the session view).
    pub async fn ai_usage(&self, key: &str, day: &str) -> StoreResult<i64> {
        let row: Option<(i64,)> = with_pool!(self, |pool| {
            sqlx::query_as("SELECT count FROM ai_usage WHERE key = $1 AND day = $2")
                .bind(key)
                .bind(day)
                .fetch_optional(pool)
                .await
        })?;
        Ok(row.map_or(0, |(count,)| count))
    }

    /// One GCRA step in a single atomic statement, shared by all instances: `Ok(())` when the
    /// request is allowed, `Err(ms)` with the wait before the next one otherwise.
    /// `period_ms` is the emission interval (60 000 / rate) and `tolerance_ms` the burst
    /// tolerance (period × (burst − 1)). `now_ms` comes from the caller so database clocks
    /// never matter.
    #[tracing::instrument(skip_all, err)]
    pub async fn take_shared_rate_limit(
        &self,
        key: &str,
        now_ms: i64,
        period_ms: i64,
        tolerance_ms: i64,
    ) -> StoreResult<Result<(), u64>> {
        // CASE instead of GREATEST: SQLite has no GREATEST.
        let allowed: Option<(i64,)> = with_write_pool!(self, |pool| {
            sqlx::query_as(
                "INSERT INTO rate_limits (key, tat_ms) VALUES ($1, $2 + $3)
                 ON CONFLICT (key) DO UPDATE SET
                    tat_ms = (CASE WHEN rate_limits.tat_ms > $2 THEN rate_limits.tat_ms ELSE $2 END) + $3
                 WHERE (CASE WHEN rate_limits.tat_ms > $2 THEN rate_limits.tat_ms ELSE $2 END) - $2 <= $4
                 RETURNING tat_ms",
            )
            .bind(key)
            .bind(now_ms)
            .bind(period_ms)
            .bind(tolerance_ms)
            .fetch_optional(pool)
            .await
        })?;
        if allowed.is_some() {
            return Ok(Ok(()));
        }
        let tat: Option<(i64,)> = with_pool!(self, |pool| {
            sqlx::query_as("SELECT tat_ms FROM rate_limits WHERE key = $1")
                .bind(key)
                .fetch_optional(pool)
                .await
        })?;
        let wait = tat.map_or(period_ms, |(tat,)| tat - tolerance_ms - now_ms);
        Ok(Err(wait.max(1) as u64))
    }

    /// Deletes counters nobody will read again: usage of days before `keep_from_day` and rate
    /// limit rows whose state equals a fresh bucket.
    #[tracing::instrument(skip_all, err)]
    pub async fn prune_counters(&self, keep_from_day: &str, now_ms: i64) -> StoreResult<u64> {
        with_write_pool!(self, |pool| {
            let usage = sqlx::query("DELETE FROM ai_usage WHERE day < $1")
                .bind(keep_from_day)
                .execute(pool)
                .await?;
            let limits = sqlx::query("DELETE FROM rate_limits WHERE tat_ms < $1")
                .bind(now_ms)
                .execute(pool)
                .await?;
            Ok(usage.rows_affected() + limits.rows_affected())
        })
    }
}

//! Counters shared by every instance: daily AI budgets and GCRA rate-limit buckets.

use super::{BeginWrite, Store, StoreError, StoreResult, UserId, with_pool};

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
    fn keys(&self) -> [(String, u32, Budget); 3] {
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

/// Increments `count` only below the limit; no returned row means the limit was reached. (A
/// first insert always succeeds, and limits are at least 1 when this runs.)
const INCREMENT: &str = "INSERT INTO ai_usage (key, day, count) VALUES ($1, $2, 1)
     ON CONFLICT (key, day) DO UPDATE SET count = ai_usage.count + 1
     WHERE ai_usage.count < $3
     RETURNING count";

impl Store {
    /// Counts one AI request against today's budgets, atomically: every counter moves or none
    /// does.
    #[tracing::instrument(skip_all, err)]
    pub async fn consume_ai_request(&self, budget: BudgetKeys<'_>) -> StoreResult<Budget> {
        let keys = budget.keys();
        if let Some((_, _, exhausted)) = keys.iter().find(|(_, limit, _)| *limit == 0) {
            return Ok(*exhausted);
        }
        with_pool!(self, |pool| {
            let mut tx = pool.begin_write().await?;
            for (key, limit, exhausted) in &keys {
                let row: Option<(i64,)> = sqlx::query_as(INCREMENT)
                    .bind(key)
                    .bind(budget.day)
                    .bind(i64::from(*limit))
                    .fetch_optional(&mut *tx)
                    .await?;
                if row.is_none() {
                    tx.rollback().await?;
                    return Ok(*exhausted);
                }
            }
            tx.commit().await?;
            Ok::<_, StoreError>(Budget::Granted)
        })
    }

    /// Counts one use of a service-wide daily allowance under `key` (for example grounded
    /// searches); false once `limit` is reached today.
    #[tracing::instrument(skip_all, err)]
    pub async fn consume_daily(&self, key: &str, day: &str, limit: u32) -> StoreResult<bool> {
        if limit == 0 {
            return Ok(false);
        }
        with_pool!(self, |pool| {
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
        with_pool!(self, |pool| {
            let mut tx = pool.begin_write().await?;
            for (key, _, _) in budget.keys() {
                sqlx::query(
                    "UPDATE ai_usage SET count = count - 1 WHERE key = $1 AND day = $2 AND count > 0",
                )
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
        let allowed: Option<(i64,)> = with_pool!(self, |pool| {
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
        with_pool!(self, |pool| {
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

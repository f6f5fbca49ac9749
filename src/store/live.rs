//! Gemini Live: session-resumption handles (so another instance can resume a session) and the
//! daily Live minutes, counted in seconds in `ai_usage` under `live:{user}` and `live:*`, the
//! same atomic counters as the AI budgets and so shared by every instance.

use chrono::{DateTime, Utc};

use super::{BeginWrite, Store, StoreError, StoreResult, UserId, with_pool, with_write_pool};

/// Google keeps a resumption handle valid this long after its session ends.
pub const HANDLE_LIFETIME: chrono::TimeDelta = chrono::TimeDelta::hours(2);

/// After charging some Live time: how many seconds remain today (the smaller of the user's
/// and the service's), zero when a limit was reached.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LiveBudget {
    pub remaining_secs: u64,
}

impl LiveBudget {
    pub fn exhausted(self) -> bool {
        self.remaining_secs == 0
    }
}

/// The daily Live limits, in seconds.
#[derive(Debug, Clone, Copy)]
pub struct LiveLimits<'a> {
    pub user: &'a UserId,
    /// `YYYY-MM-DD`, UTC.
    pub day: &'a str,
    pub per_user_secs: u64,
    pub total_secs: u64,
}

impl LiveLimits<'_> {
    fn keys(&self) -> [(String, u64); 2] {
        [
            (format!("live:{}", self.user), self.per_user_secs),
            ("live:*".to_owned(), self.total_secs),
        ]
    }
}

/// Adds `$3` seconds only while the counter is below its limit `$4`: once a limit is reached no
/// instance can add to it, so concurrent sessions overshoot by at most one charge interval each.
const CHARGE: &str = "INSERT INTO ai_usage (key, day, count) VALUES ($1, $2, $3)
     ON CONFLICT (key, day) DO UPDATE SET count = ai_usage.count + $3
     WHERE ai_usage.count < $4
     RETURNING count";

impl Store {
    /// Charges `seconds` of Live time to the user's and the service's counters of the day, in
    /// one transaction, and returns what is left. Zero seconds only reads.
    #[tracing::instrument(skip_all, err)]
    pub async fn charge_live(
        &self,
        limits: LiveLimits<'_>,
        seconds: u64,
    ) -> StoreResult<LiveBudget> {
        let keys = limits.keys();
        if keys.iter().any(|(_, limit)| *limit == 0) {
            return Ok(LiveBudget { remaining_secs: 0 });
        }
        let seconds = i64::try_from(seconds).unwrap_or(i64::MAX);
        with_write_pool!(self, |pool| {
            let mut tx = pool.begin_write().await?;
            let mut remaining = u64::MAX;
            for (key, limit) in &keys {
                let limit_i = i64::try_from(*limit).unwrap_or(i64::MAX);
                let used: i64 = if seconds == 0 {
                    let row: Option<(i64,)> =
                        sqlx::query_as("SELECT count FROM ai_usage WHERE key = $1 AND day = $2")
                            .bind(key)
                            .bind(limits.day)
                            .fetch_optional(&mut *tx)
                            .await?;
                    row.map_or(0, |(count,)| count)
                } else {
                    let row: Option<(i64,)> = sqlx::query_as(CHARGE)
                        .bind(key)
                        .bind(limits.day)
                        .bind(seconds)
                        .bind(limit_i)
                        .fetch_optional(&mut *tx)
                        .await?;
                    // No row: the limit had already been reached.
                    row.map_or(limit_i, |(count,)| count)
                };
                remaining = remaining.min(u64::try_from(limit_i - used).unwrap_or(0));
            }
            tx.commit().await?;
            Ok::<_, StoreError>(LiveBudget {
                remaining_secs: remaining,
            })
        })
    }

    /// Adds the tokens of a Live `usageMetadata` to the user's and the service's counters of
    /// the day (`live_tokens:{user}`, `live_tokens:*`), for the cost per Live minute.
    #[tracing::instrument(skip_all, err)]
    pub async fn record_live_tokens(
        &self,
        user: &UserId,
        day: &str,
        tokens: u64,
    ) -> StoreResult<()> {
        let tokens = i64::try_from(tokens).unwrap_or(i64::MAX);
        with_write_pool!(self, |pool| {
            let mut tx = pool.begin_write().await?;
            for key in [format!("live_tokens:{user}"), "live_tokens:*".to_owned()] {
                sqlx::query(
                    "INSERT INTO ai_usage (key, day, count) VALUES ($1, $2, $3)
                     ON CONFLICT (key, day) DO UPDATE SET count = ai_usage.count + $3",
                )
                .bind(key)
                .bind(day)
                .bind(tokens)
                .execute(&mut *tx)
                .await?;
            }
            tx.commit().await?;
            Ok::<_, StoreError>(())
        })
    }

    /// The newest resumption handle of this tab's Live session, if it is still valid.
    #[tracing::instrument(skip_all, err)]
    pub async fn live_handle(&self, user: &UserId, client_id: &str) -> StoreResult<Option<String>> {
        let cutoff = Utc::now() - HANDLE_LIFETIME;
        let row: Option<(String,)> = with_pool!(self, |pool| {
            sqlx::query_as(
                "SELECT handle FROM live_sessions
                 WHERE user_id = $1 AND client_id = $2 AND updated_at > $3",
            )
            .bind(user.as_str())
            .bind(client_id)
            .bind(cutoff)
            .fetch_optional(pool)
            .await
        })?;
        Ok(row.map(|(handle,)| handle))
    }

    /// Keeps the newest handle of this tab's session and drops the user's expired ones.
    #[tracing::instrument(skip_all, err)]
    pub async fn save_live_handle(
        &self,
        user: &UserId,
        client_id: &str,
        handle: &str,
        now: DateTime<Utc>,
    ) -> StoreResult<()> {
        with_write_pool!(self, |pool| {
            let mut tx = pool.begin_write().await?;
            sqlx::query(
                "INSERT INTO live_sessions (user_id, client_id, handle, updated_at)
                 VALUES ($1, $2, $3, $4)
                 ON CONFLICT (user_id, client_id)
                 DO UPDATE SET handle = excluded.handle, updated_at = excluded.updated_at",
            )
            .bind(user.as_str())
            .bind(client_id)
            .bind(handle)
            .bind(now)
            .execute(&mut *tx)
            .await?;
            sqlx::query("DELETE FROM live_sessions WHERE user_id = $1 AND updated_at < $2")
                .bind(user.as_str())
                .bind(now - HANDLE_LIFETIME)
                .execute(&mut *tx)
                .await?;
            tx.commit().await?;
            Ok::<_, StoreError>(())
        })
    }

    /// Forgets a handle Google no longer knows (or a session that ended on purpose).
    #[tracing::instrument(skip_all, err)]
    pub async fn clear_live_handle(&self, user: &UserId, client_id: &str) -> StoreResult<()> {
        with_write_pool!(self, |pool| {
            sqlx::query("DELETE FROM live_sessions WHERE user_id = $1 AND client_id = $2")
                .bind(user.as_str())
                .bind(client_id)
                .execute(pool)
                .await
                .map(|_| ())
        })?;
        Ok(())
    }
}

//! Timers, alarms and reminders. The database holds them, so they survive reloads, restarts
//! and a change of instance; a due one is claimed by exactly one instance with one atomic
//! update, however many sweep the same PostgreSQL.

use chrono::{DateTime, Utc};
use sqlx::FromRow;

use super::{BeginWrite, Pool, Store, StoreError, StoreResult, UserId, with_pool, with_write_pool};

/// At most this many pending per user.
pub const MAX_PENDING_TIMERS: i64 = 20;

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
pub struct Timer {
    pub id: i64,
    /// `timer`, `alarm` or `reminder`.
    pub kind: String,
    /// "pasta", a reminder's task, or empty.
    pub label: String,
    pub created_at: DateTime<Utc>,
    pub due_at: DateTime<Utc>,
    pub duration_s: i64,
    /// `pending`, `fired`, `cancelled` or `missed`.
    pub status: String,
}

/// A timer that just came due, with its owner.
#[derive(Debug, Clone, PartialEq, Eq, FromRow)]
pub struct DueTimer {
    pub id: i64,
    pub user_id: String,
    pub kind: String,
    pub label: String,
    pub due_at: DateTime<Utc>,
}

#[derive(FromRow)]
struct TimerRow {
    id: i64,
    kind: String,
    label: String,
    created_at: DateTime<Utc>,
    due_at: DateTime<Utc>,
    duration_s: i64,
    status: String,
}

impl From<TimerRow> for Timer {
    fn from(row: TimerRow) -> Self {
        Timer {
            id: row.id,
            kind: row.kind,
            label: row.label,
            created_at: row.created_at,
            due_at: row.due_at,
            duration_s: row.duration_s,
            status: row.status,
        }
    }
}

/// Why a timer could not be set.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SetTimer {
    Set(Timer),
    /// The user already has `MAX_PENDING_TIMERS` pending.
    TooMany,
}

const COLUMNS: &str = "id, kind, label, created_at, due_at, duration_s, status";

impl Store {
    /// Adds a pending timer unless the user already has the most allowed, atomically.
    #[tracing::instrument(skip_all, err)]
    pub async fn add_timer(
        &self,
        user: &UserId,
        kind: &str,
        label: &str,
        due_at: DateTime<Utc>,
        duration_s: i64,
    ) -> StoreResult<SetTimer> {
        let now = Utc::now();
        let sql = format!(
            "INSERT INTO timers (user_id, kind, label, created_at, due_at, duration_s)
             VALUES ($1, $2, $3, $4, $5, $6) RETURNING {COLUMNS}"
        );
        with_write_pool!(self, |pool| {
            let mut tx = pool.begin_write().await?;
            let (pending,): (i64,) = sqlx::query_as(
                "SELECT COUNT(*) FROM timers WHERE user_id = $1 AND status = 'pending'",
            )
            .bind(user.as_str())
            .fetch_one(&mut *tx)
            .await?;
            if pending >= MAX_PENDING_TIMERS {
                tx.rollback().await?;
                return Ok(SetTimer::TooMany);
            }
            let row: TimerRow = sqlx::query_as(sqlx::AssertSqlSafe(sql))
                .bind(user.as_str())
                .bind(kind)
                .bind(label)
                .bind(now)
                .bind(due_at)
                .bind(duration_s)
                .fetch_one(&mut *tx)
                .await?;
            tx.commit().await?;
            Ok::<_, StoreError>(SetTimer::Set(row.into()))
        })
    }

    /// The user's pending timers, soonest first.
    #[tracing::instrument(skip_all, err)]
    pub async fn pending_timers(&self, user: &UserId) -> StoreResult<Vec<Timer>> {
        let sql = format!(
            "SELECT {COLUMNS} FROM timers WHERE user_id = $1 AND status = 'pending'
             ORDER BY due_at, id"
        );
        let rows: Vec<TimerRow> = with_pool!(self, |pool| {
            sqlx::query_as(sqlx::AssertSqlSafe(sql))
                .bind(user.as_str())
                .fetch_all(pool)
                .await
        })?;
        Ok(rows.into_iter().map(Timer::from).collect())
    }

    /// Cancels the given pending timers of the user; returns the ids actually cancelled
    /// (another user's id, or one no longer pending, is not).
    #[tracing::instrument(skip_all, err)]
    pub async fn cancel_timers(&self, user: &UserId, ids: &[i64]) -> StoreResult<Vec<i64>> {
        let mut cancelled = Vec::new();
        with_write_pool!(self, |pool| {
            let mut tx = pool.begin_write().await?;
            for id in ids {
                let row: Option<(i64,)> = sqlx::query_as(
                    "UPDATE timers SET status = 'cancelled'
                     WHERE id = $1 AND user_id = $2 AND status = 'pending' RETURNING id",
                )
                .bind(id)
                .bind(user.as_str())
                .fetch_optional(&mut *tx)
                .await?;
                cancelled.extend(row.map(|(id,)| id));
            }
            tx.commit().await?;
            Ok::<_, StoreError>(())
        })?;
        Ok(cancelled)
    }

    /// Claims every pending timer due by `now`: each row moves to `fired` once, so whichever
    /// instance's update takes it is the only one that rings it.
    #[tracing::instrument(skip_all, err)]
    pub async fn claim_due_timers(&self, now: DateTime<Utc>) -> StoreResult<Vec<DueTimer>> {
        with_write_pool!(self, |pool| {
            sqlx::query_as(
                "UPDATE timers SET status = 'fired', fired_at = $1
                 WHERE status = 'pending' AND due_at <= $1
                 RETURNING id, user_id, kind, label, due_at",
            )
            .bind(now)
            .fetch_all(pool)
            .await
            .map_err(StoreError::from)
        })
    }

    /// When the next pending timer is due (None: there is none).
    #[tracing::instrument(skip_all, err)]
    pub async fn next_timer_due(&self) -> StoreResult<Option<DateTime<Utc>>> {
        let row: Option<(DateTime<Utc>,)> = with_pool!(self, |pool| {
            sqlx::query_as(
                "SELECT due_at FROM timers WHERE status = 'pending' ORDER BY due_at LIMIT 1",
            )
            .fetch_optional(pool)
            .await
        })?;
        Ok(row.map(|(at,)| at))
    }

    /// Notes that a page received a fired timer.
    #[tracing::instrument(skip_all, err)]
    pub async fn mark_timer_delivered(&self, id: i64, now: DateTime<Utc>) -> StoreResult<()> {
        with_write_pool!(self, |pool| {
            sqlx::query(
                "UPDATE timers SET delivered_at = $2 WHERE id = $1 AND delivered_at IS NULL",
            )
            .bind(id)
            .bind(now)
            .execute(pool)
            .await?;
            Ok(())
        })
    }

    /// Timers of the user that fired while no page was open: they become `missed` and are
    /// returned once, for the page to show.
    #[tracing::instrument(skip_all, err)]
    pub async fn take_missed_timers(&self, user: &UserId) -> StoreResult<Vec<Timer>> {
        let sql = format!(
            "UPDATE timers SET status = 'missed'
             WHERE user_id = $1 AND status = 'fired' AND delivered_at IS NULL
             RETURNING {COLUMNS}"
        );
        let rows: Vec<TimerRow> = with_write_pool!(self, |pool| {
            sqlx::query_as(sqlx::AssertSqlSafe(sql))
                .bind(user.as_str())
                .fetch_all(pool)
                .await
        })?;
        let mut timers: Vec<Timer> = rows.into_iter().map(Timer::from).collect();
        timers.sort_by_key(|t| t.due_at);
        Ok(timers)
    }

    /// Sends `payload` on a PostgreSQL NOTIFY channel (every instance listening hears it).
    /// A no-op on SQLite, which only ever has one instance.
    #[tracing::instrument(skip_all, err)]
    pub async fn notify(&self, channel: &str, payload: &str) -> StoreResult<()> {
        if let Pool::Postgres(pool) = &self.inner.pool {
            sqlx::query("SELECT pg_notify($1, $2)")
                .bind(channel)
                .bind(payload)
                .execute(pool)
                .await?;
        }
        Ok(())
    }

    /// Listens on a PostgreSQL NOTIFY channel; an error on SQLite.
    pub async fn listen(&self, channel: &str) -> StoreResult<Listener> {
        let Pool::Postgres(pool) = &self.inner.pool else {
            return Err(StoreError::Query("LISTEN needs PostgreSQL".into()));
        };
        let mut listener = sqlx::postgres::PgListener::connect_with(pool).await?;
        listener.listen(channel).await?;
        Ok(Listener(listener))
    }
}

/// A subscription to a NOTIFY channel.
pub struct Listener(sqlx::postgres::PgListener);

impl Listener {
    /// The next payload; an error when the connection was lost (listen again).
    pub async fn recv(&mut self) -> StoreResult<String> {
        let notification = self.0.recv().await?;
        Ok(notification.payload().to_owned())
    }
}

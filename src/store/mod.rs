//! The data layer: one API over PostgreSQL (Cloud SQL) and SQLite.
//!
//! Both backends run the same SQL text (sqlx's SQLite driver understands `$N` placeholders), so
//! each method is written once and expanded per backend by `with_pool!`; only the schema
//! (`migrations/postgres`, `migrations/sqlite`) and how a write transaction begins differ.
//! `AnyPool` is avoided on purpose: it cannot carry timestamps and loses type checking.
//!
//! Everything a conversation needs lives here, not in process memory, so any Cloud Run
//! instance can continue any conversation.

pub mod url;
mod writer;

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, Utc};
use rand::RngCore;
use serde::Serialize;
use sha2::{Digest, Sha256};
use sqlx::FromRow;
use sqlx::migrate::Migrate;
use sqlx::postgres::{PgPool, PgPoolOptions};
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};

use self::url::{DatabaseUrl, SqliteTarget};
pub use self::writer::TurnRecord;

static POSTGRES_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/postgres");
static SQLITE_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/sqlite");

/// How long a query waits for a pooled connection. Short, so that while the database is down
/// commands fail with a clear error quickly instead of hanging.
const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(3);
/// Token → user lookups cached in process. A session never changes owner, so the cache can
/// never serve another user's identity; it is bounded by clearing when full.
const IDENTITY_CACHE_CAPACITY: usize = 50_000;

/// A server-generated, unguessable user id (128 random bits, hex).
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(transparent)]
pub struct UserId(String);

impl UserId {
    pub fn generate() -> Self {
        let mut bytes = [0u8; 16];
        rand::rng().fill_bytes(&mut bytes);
        UserId(hex(&bytes))
    }

    /// Wraps a value read from the database or a URL path; not validated, only compared.
    pub fn from_raw(value: impl Into<String>) -> Self {
        UserId(value.into())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for UserId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// Stored form of a session token: its SHA-256 in hex.
pub fn hash_token(token: &str) -> String {
    hex(&Sha256::digest(token.as_bytes()))
}

fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write;
    bytes
        .iter()
        .fold(String::with_capacity(bytes.len() * 2), |mut s, b| {
            let _ = write!(s, "{b:02x}");
            s
        })
}

#[derive(Debug, Clone, thiserror::Error)]
pub enum StoreError {
    /// The database cannot be reached right now (connection refused or lost, pool timed out,
    /// server shutting down). Callers answer 503 and the operation can be retried later.
    #[error("the database is unavailable: {0}")]
    Unavailable(Arc<str>),
    #[error("database error: {0}")]
    Query(Arc<str>),
    #[error("migration failed: {0}")]
    Migration(Arc<str>),
}

impl StoreError {
    pub fn is_unavailable(&self) -> bool {
        matches!(self, StoreError::Unavailable(_))
    }
}

impl From<sqlx::Error> for StoreError {
    fn from(error: sqlx::Error) -> Self {
        let message: Arc<str> = error.to_string().into();
        match &error {
            sqlx::Error::Io(_)
            | sqlx::Error::Tls(_)
            | sqlx::Error::PoolTimedOut
            | sqlx::Error::PoolClosed
            | sqlx::Error::WorkerCrashed
            | sqlx::Error::Protocol(_) => StoreError::Unavailable(message),
            sqlx::Error::Database(db) => {
                let code = db.code().unwrap_or_default();
                // 08xxx: connection exceptions; 57P01-57P03: administrator shutdown, crash
                // shutdown, cannot connect now (a restarting server); 53300: too many
                // connections. SQLite's BUSY/LOCKED after the busy timeout also means "try
                // again later".
                if code.starts_with("08")
                    || matches!(code.as_ref(), "57P01" | "57P02" | "57P03" | "53300")
                    || matches!(code.as_ref(), "5" | "6" | "517" | "262")
                {
                    StoreError::Unavailable(message)
                } else {
                    StoreError::Query(message)
                }
            }
            _ => StoreError::Query(message),
        }
    }
}

impl From<sqlx::migrate::MigrateError> for StoreError {
    fn from(error: sqlx::migrate::MigrateError) -> Self {
        match error {
            sqlx::migrate::MigrateError::Execute(e) => match StoreError::from(e) {
                StoreError::Unavailable(m) => StoreError::Unavailable(m),
                other => StoreError::Migration(other.to_string().into()),
            },
            other => StoreError::Migration(other.to_string().into()),
        }
    }
}

pub type StoreResult<T> = Result<T, StoreError>;

/// A message of a conversation, as stored.
#[derive(Debug, Clone, PartialEq, FromRow, Serialize)]
pub struct StoredMessage {
    pub id: i64,
    pub role: String,
    pub content: String,
    pub action: Option<String>,
    /// JSON text of the action's data.
    pub data: Option<String>,
    pub source: Option<String>,
    pub model: Option<String>,
    pub status: String,
    pub created_at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, FromRow)]
pub struct HistoryEntry {
    pub id: i64,
    pub user_id: String,
    pub command: String,
    pub result: String,
    pub action: Option<String>,
    pub source: String,
    pub created_at: DateTime<Utc>,
}

/// Per-user preferences of the page.
#[derive(Debug, Clone, PartialEq, FromRow)]
pub struct Settings {
    pub voice: String,
    pub voice_speed: i32,
    pub theme: String,
    pub auto_listen: bool,
    pub language: String,
}

impl Default for Settings {
    /// Must equal the column defaults in both migrations (a test checks it).
    fn default() -> Self {
        Settings {
            voice: String::new(),
            voice_speed: 175,
            theme: "system".into(),
            auto_listen: false,
            language: "en-US".into(),
        }
    }
}

/// A partial settings update; `None` leaves a value unchanged.
#[derive(Debug, Clone, Default)]
pub struct SettingsPatch {
    pub voice: Option<String>,
    pub voice_speed: Option<i32>,
    pub theme: Option<String>,
    pub auto_listen: Option<bool>,
    pub language: Option<String>,
}

/// The outcome of asking for one more AI request today.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Budget {
    Granted,
    UserExhausted,
    TotalExhausted,
}

#[derive(Clone)]
pub(crate) enum Pool {
    Postgres(PgPool),
    Sqlite(SqlitePool),
}

/// Runs the same body against whichever pool this store has; the body is type-checked once per
/// backend, so the SQL must be valid for both (tests run on both).
macro_rules! with_pool {
    ($store:expr, |$pool:ident| $body:expr) => {
        match &$store.inner.pool {
            Pool::Postgres($pool) => $body,
            Pool::Sqlite($pool) => $body,
        }
    };
}

/// Write transactions on SQLite must take the write lock up front (`BEGIN IMMEDIATE`):
/// a deferred transaction that reads first and then writes fails with SQLITE_BUSY at once,
/// without honouring the busy timeout, when another connection writes in between.
pub(crate) trait BeginWrite {
    type Db: sqlx::Database;
    fn begin_write(
        &self,
    ) -> impl Future<Output = Result<sqlx::Transaction<'static, Self::Db>, sqlx::Error>> + Send;
}

impl BeginWrite for PgPool {
    type Db = sqlx::Postgres;
    fn begin_write(
        &self,
    ) -> impl Future<Output = Result<sqlx::Transaction<'static, sqlx::Postgres>, sqlx::Error>> + Send
    {
        self.begin()
    }
}

impl BeginWrite for SqlitePool {
    type Db = sqlx::Sqlite;
    fn begin_write(
        &self,
    ) -> impl Future<Output = Result<sqlx::Transaction<'static, sqlx::Sqlite>, sqlx::Error>> + Send
    {
        self.begin_with("BEGIN IMMEDIATE")
    }
}

/// A handle to the database; cheap to clone.
#[derive(Clone)]
pub struct Store {
    inner: Arc<StoreInner>,
}

struct StoreInner {
    pool: Pool,
    writer: writer::WriterHandle,
    identities: Mutex<HashMap<String, UserId>>,
}

impl Store {
    /// Creates the pool without connecting: the first query opens a connection. Start-up stays
    /// fast (Cloud Run cold starts) and the server can come up while the database is still
    /// unreachable; `/ready` reports when it is.
    pub fn connect_lazy(url: &DatabaseUrl, max_connections: u32) -> Self {
        let pool = match url {
            DatabaseUrl::Postgres(target) => Pool::Postgres(
                PgPoolOptions::new()
                    .max_connections(max_connections)
                    .acquire_timeout(ACQUIRE_TIMEOUT)
                    .idle_timeout(Duration::from_secs(600))
                    .connect_lazy_with(target.connect_options()),
            ),
            DatabaseUrl::Sqlite(target) => {
                let options = SqliteConnectOptions::new()
                    .journal_mode(SqliteJournalMode::Wal)
                    // FULL: a commit survives power loss, not only a process crash. Group
                    // commit (writer.rs) pays the fsync once per batch instead of per turn.
                    .synchronous(SqliteSynchronous::Full)
                    .busy_timeout(Duration::from_secs(5))
                    .foreign_keys(true);
                let (options, pool_options) = match target {
                    SqliteTarget::File(path) => (
                        options.filename(path).create_if_missing(true),
                        SqlitePoolOptions::new().max_connections(max_connections),
                    ),
                    // A shared in-memory database lives as long as one connection does; keep
                    // one open forever.
                    SqliteTarget::Memory => (
                        options
                            .filename(format!("file:ballsy-memory-{}", uuid::Uuid::new_v4()))
                            .in_memory(true)
                            .shared_cache(true),
                        SqlitePoolOptions::new()
                            .max_connections(max_connections)
                            .min_connections(1)
                            .idle_timeout(None)
                            .max_lifetime(None),
                    ),
                };
                Pool::Sqlite(
                    pool_options
                        .acquire_timeout(ACQUIRE_TIMEOUT)
                        .connect_lazy_with(options),
                )
            }
        };
        let writer = writer::spawn(pool.clone());
        Store {
            inner: Arc::new(StoreInner {
                pool,
                writer,
                identities: Mutex::new(HashMap::new()),
            }),
        }
    }

    /// Applies pending migrations and returns the versions applied by this call (empty when the
    /// schema was up to date). On Postgres the migrator holds an advisory lock for the whole
    /// run, so concurrent callers (instances starting together, the migration job) wait for
    /// each other and the second finds nothing to do.
    pub async fn migrate(&self) -> StoreResult<Vec<i64>> {
        with_pool!(self, |pool| {
            let migrator = match self.inner.pool {
                Pool::Postgres(_) => &POSTGRES_MIGRATIONS,
                Pool::Sqlite(_) => &SQLITE_MIGRATIONS,
            };
            let mut pooled = pool.acquire().await?;
            let conn = &mut *pooled;
            // The lock is taken here as well as inside `run_direct` (advisory locks nest per
            // session) so that "applied before" and "applied after" are read under it.
            conn.lock().await?;
            let result = async {
                conn.ensure_migrations_table(&migrator.table_name).await?;
                let before =
                    applied_versions(conn.list_applied_migrations(&migrator.table_name).await?);
                migrator.run_direct(None, &mut *conn, false).await?;
                let after =
                    applied_versions(conn.list_applied_migrations(&migrator.table_name).await?);
                Ok::<_, StoreError>(after.into_iter().filter(|v| !before.contains(v)).collect())
            }
            .await;
            conn.unlock().await?;
            result
        })
    }

    /// The versions embedded in this binary for this backend.
    pub fn known_migrations(&self) -> Vec<(i64, String)> {
        let migrator = match self.inner.pool {
            Pool::Postgres(_) => &POSTGRES_MIGRATIONS,
            Pool::Sqlite(_) => &SQLITE_MIGRATIONS,
        };
        migrator
            .iter()
            .map(|m| (m.version, m.description.to_string()))
            .collect()
    }

    /// A lightweight liveness check of the database (`SELECT 1`).
    pub async fn ping(&self) -> StoreResult<()> {
        with_pool!(self, |pool| {
            sqlx::query("SELECT 1").execute(pool).await?;
            Ok(())
        })
    }

    /// Waits for queued writes, then closes all connections.
    pub async fn close(&self) {
        self.inner.writer.close().await;
        with_pool!(self, |pool| pool.close().await)
    }

    // --- Identity ---------------------------------------------------------------------------

    /// Creates a user with a session for `token_hash` and an open conversation.
    pub async fn create_identity(&self, token_hash: &str) -> StoreResult<UserId> {
        let user = UserId::generate();
        let now = Utc::now();
        with_pool!(self, |pool| {
            let mut tx = pool.begin_write().await?;
            sqlx::query("INSERT INTO users (id, created_at) VALUES ($1, $2)")
                .bind(user.as_str())
                .bind(now)
                .execute(&mut *tx)
                .await?;
            sqlx::query(
                "INSERT INTO sessions (token_hash, user_id, created_at) VALUES ($1, $2, $3)",
            )
            .bind(token_hash)
            .bind(user.as_str())
            .bind(now)
            .execute(&mut *tx)
            .await?;
            sqlx::query("INSERT INTO conversations (user_id, started_at) VALUES ($1, $2)")
                .bind(user.as_str())
                .bind(now)
                .execute(&mut *tx)
                .await?;
            tx.commit().await?;
            Ok::<_, StoreError>(())
        })?;
        self.cache_identity(token_hash, &user);
        Ok(user)
    }

    pub async fn user_for_token(&self, token_hash: &str) -> StoreResult<Option<UserId>> {
        if let Some(user) = self.lock_identities().get(token_hash) {
            return Ok(Some(user.clone()));
        }
        let found: Option<(String,)> = with_pool!(self, |pool| {
            sqlx::query_as("SELECT user_id FROM sessions WHERE token_hash = $1")
                .bind(token_hash)
                .fetch_optional(pool)
                .await
        })?;
        let user = found.map(|(id,)| UserId(id));
        if let Some(user) = &user {
            self.cache_identity(token_hash, user);
        }
        Ok(user)
    }

    fn lock_identities(&self) -> std::sync::MutexGuard<'_, HashMap<String, UserId>> {
        // A panic while holding this lock cannot leave the map inconsistent (single inserts),
        // so a poisoned lock is simply taken over.
        self.inner
            .identities
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn cache_identity(&self, token_hash: &str, user: &UserId) {
        let mut cache = self.lock_identities();
        if cache.len() >= IDENTITY_CACHE_CAPACITY {
            cache.clear();
        }
        cache.insert(token_hash.to_owned(), user.clone());
    }

    // --- Conversations ----------------------------------------------------------------------

    /// The last `limit` messages of the user's open conversation, oldest first.
    pub async fn recent_messages(
        &self,
        user: &UserId,
        limit: usize,
    ) -> StoreResult<Vec<StoredMessage>> {
        if limit == 0 {
            return Ok(Vec::new());
        }
        let mut messages: Vec<StoredMessage> = with_pool!(self, |pool| {
            sqlx::query_as(
                "SELECT m.id, m.role, m.content, m.action, m.data, m.source, m.model, m.status, m.created_at
                 FROM messages m
                 JOIN conversations c ON c.id = m.conversation_id
                 WHERE c.user_id = $1 AND c.ended_at IS NULL
                 ORDER BY m.id DESC
                 LIMIT $2",
            )
            .bind(user.as_str())
            .bind(limit as i64)
            .fetch_all(pool)
            .await
        })?;
        messages.reverse();
        Ok(messages)
    }

    /// The id of the user's open conversation, opening one if the user has none.
    pub async fn current_conversation_id(&self, user: &UserId) -> StoreResult<i64> {
        let existing: Option<(i64,)> = with_pool!(self, |pool| {
            sqlx::query_as("SELECT id FROM conversations WHERE user_id = $1 AND ended_at IS NULL")
                .bind(user.as_str())
                .fetch_optional(pool)
                .await
        })?;
        if let Some((id,)) = existing {
            return Ok(id);
        }
        with_pool!(self, |pool| {
            let mut tx = pool.begin_write().await?;
            let id = writer::open_conversation!(tx, user.as_str(), Utc::now()).await?;
            tx.commit().await?;
            Ok(id)
        })
    }

    /// Ends the open conversation, opens a fresh one and forgets the calculator's last result.
    pub async fn start_new_conversation(&self, user: &UserId) -> StoreResult<i64> {
        let now = Utc::now();
        with_pool!(self, |pool| {
            let mut tx = pool.begin_write().await?;
            sqlx::query(
                "UPDATE conversations SET ended_at = $2 WHERE user_id = $1 AND ended_at IS NULL",
            )
            .bind(user.as_str())
            .bind(now)
            .execute(&mut *tx)
            .await?;
            let (id,): (i64,) = sqlx::query_as(
                "INSERT INTO conversations (user_id, started_at) VALUES ($1, $2) RETURNING id",
            )
            .bind(user.as_str())
            .bind(now)
            .fetch_one(&mut *tx)
            .await?;
            sqlx::query("DELETE FROM calculator_state WHERE user_id = $1")
                .bind(user.as_str())
                .execute(&mut *tx)
                .await?;
            tx.commit().await?;
            Ok(id)
        })
    }

    pub async fn calculator_result(&self, user: &UserId) -> StoreResult<Option<String>> {
        let row: Option<(String,)> = with_pool!(self, |pool| {
            sqlx::query_as("SELECT last_result FROM calculator_state WHERE user_id = $1")
                .bind(user.as_str())
                .fetch_optional(pool)
                .await
        })?;
        Ok(row.map(|(r,)| r))
    }

    /// Persists one exchange (the command, the reply, the history row and the calculator
    /// state) and returns once it is committed. Writes from concurrent turns are grouped into
    /// one transaction (group commit), so durability does not cost one fsync per turn.
    pub async fn record_turn(&self, record: TurnRecord) -> StoreResult<()> {
        self.inner.writer.submit(record).await
    }

    pub async fn history(&self, user: &UserId, limit: usize) -> StoreResult<Vec<HistoryEntry>> {
        with_pool!(self, |pool| {
            sqlx::query_as(
                "SELECT id, user_id, command, result, action, source, created_at
                 FROM command_history WHERE user_id = $1 ORDER BY id DESC LIMIT $2",
            )
            .bind(user.as_str())
            .bind(limit as i64)
            .fetch_all(pool)
            .await
            .map_err(StoreError::from)
        })
    }

    // --- Settings ---------------------------------------------------------------------------

    pub async fn settings(&self, user: &UserId) -> StoreResult<Settings> {
        let row: Option<Settings> = with_pool!(self, |pool| {
            sqlx::query_as(
                "SELECT voice, voice_speed, theme, auto_listen, language FROM settings WHERE user_id = $1",
            )
            .bind(user.as_str())
            .fetch_optional(pool)
            .await
        })?;
        Ok(row.unwrap_or_default())
    }

    /// Applies a validated patch. A user's first update creates the row from the column
    /// defaults, which equal `Settings::default()`.
    pub async fn update_settings(
        &self,
        user: &UserId,
        patch: &SettingsPatch,
    ) -> StoreResult<Settings> {
        let now = Utc::now();
        with_pool!(self, |pool| {
            let mut tx = pool.begin_write().await?;
            sqlx::query(
                "INSERT INTO settings (user_id, updated_at) VALUES ($1, $2) ON CONFLICT (user_id) DO NOTHING",
            )
            .bind(user.as_str())
            .bind(now)
            .execute(&mut *tx)
            .await?;
            let settings: Settings = sqlx::query_as(
                "UPDATE settings SET
                    voice = COALESCE($2, voice),
                    voice_speed = COALESCE($3, voice_speed),
                    theme = COALESCE($4, theme),
                    auto_listen = COALESCE($5, auto_listen),
                    language = COALESCE($6, language),
                    updated_at = $7
                 WHERE user_id = $1
                 RETURNING voice, voice_speed, theme, auto_listen, language",
            )
            .bind(user.as_str())
            .bind(patch.voice.as_deref())
            .bind(patch.voice_speed)
            .bind(patch.theme.as_deref())
            .bind(patch.auto_listen)
            .bind(patch.language.as_deref())
            .bind(now)
            .fetch_one(&mut *tx)
            .await?;
            tx.commit().await?;
            Ok(settings)
        })
    }

    /// The settings row as the database's column defaults make it; used by the test that keeps
    /// the API's defaults and the schema's in agreement.
    pub async fn settings_from_column_defaults(&self, user: &UserId) -> StoreResult<Settings> {
        self.update_settings(user, &SettingsPatch::default()).await
    }

    // --- Limits and budgets -----------------------------------------------------------------

    /// Counts one AI request for `user` on `day` (UTC, `YYYY-MM-DD`) against both daily
    /// budgets, atomically: either both counters move or neither does.
    pub async fn consume_ai_request(
        &self,
        user: &UserId,
        day: &str,
        per_user_limit: u32,
        total_limit: u32,
    ) -> StoreResult<Budget> {
        if per_user_limit == 0 {
            return Ok(Budget::UserExhausted);
        }
        if total_limit == 0 {
            return Ok(Budget::TotalExhausted);
        }
        // The conditional DO UPDATE only increments below the limit; no returned row means the
        // limit was reached. (A first insert always succeeds, and limits are at least 1 here.)
        const INCREMENT: &str = "INSERT INTO ai_usage (key, day, count) VALUES ($1, $2, 1)
             ON CONFLICT (key, day) DO UPDATE SET count = ai_usage.count + 1
             WHERE ai_usage.count < $3
             RETURNING count";
        with_pool!(self, |pool| {
            let mut tx = pool.begin_write().await?;
            let user_row: Option<(i64,)> = sqlx::query_as(INCREMENT)
                .bind(user.as_str())
                .bind(day)
                .bind(i64::from(per_user_limit))
                .fetch_optional(&mut *tx)
                .await?;
            if user_row.is_none() {
                tx.rollback().await?;
                return Ok(Budget::UserExhausted);
            }
            let total_row: Option<(i64,)> = sqlx::query_as(INCREMENT)
                .bind("*")
                .bind(day)
                .bind(i64::from(total_limit))
                .fetch_optional(&mut *tx)
                .await?;
            if total_row.is_none() {
                tx.rollback().await?;
                return Ok(Budget::TotalExhausted);
            }
            tx.commit().await?;
            Ok(Budget::Granted)
        })
    }

    /// One GCRA step in a single atomic statement, shared by all instances: `Ok(())` when the
    /// request is allowed, `Err(ms)` with the wait before the next one otherwise.
    /// `period_ms` is the emission interval (60 000 / rate) and `tolerance_ms` the burst
    /// tolerance (period × (burst − 1)). `now_ms` comes from the caller so database clocks
    /// never matter.
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
    pub async fn prune(&self, keep_from_day: &str, now_ms: i64) -> StoreResult<u64> {
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

    // --- Introspection (tests and tooling) --------------------------------------------------

    /// Table name → column names (sorted), excluding sqlx's own bookkeeping table.
    pub async fn schema_columns(&self) -> StoreResult<BTreeMap<String, Vec<String>>> {
        let rows: Vec<(String, String)> = match &self.inner.pool {
            Pool::Postgres(pool) => {
                sqlx::query_as(
                    "SELECT table_name::text, column_name::text FROM information_schema.columns
                     WHERE table_schema = current_schema() AND table_name <> '_sqlx_migrations'",
                )
                .fetch_all(pool)
                .await?
            }
            Pool::Sqlite(pool) => {
                sqlx::query_as(
                    "SELECT m.name, p.name FROM sqlite_master m, pragma_table_info(m.name) p
                     WHERE m.type = 'table' AND m.name NOT LIKE 'sqlite_%' AND m.name <> '_sqlx_migrations'",
                )
                .fetch_all(pool)
                .await?
            }
        };
        let mut tables: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for (table, column) in rows {
            tables.entry(table).or_default().push(column);
        }
        for columns in tables.values_mut() {
            columns.sort();
        }
        Ok(tables)
    }
}

fn applied_versions(applied: Vec<sqlx::migrate::AppliedMigration>) -> Vec<i64> {
    applied.into_iter().map(|m| m.version).collect()
}

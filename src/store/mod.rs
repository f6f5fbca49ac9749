//! The data layer: one API over PostgreSQL (Cloud SQL) and SQLite.
//!
//! Both backends run the same SQL text (sqlx's SQLite driver understands `$N` placeholders), so
//! each method is written once and expanded per backend by `with_pool!`; only the schema
//! (`migrations/postgres`, `migrations/sqlite`) and how a write transaction begins differ.
//! `AnyPool` is avoided on purpose: it cannot carry timestamps and loses type checking.
//!
//! The methods are grouped by aggregate, one module each: `identity` (users and sessions),
//! `conversations` (turns, history, the calculator, export), `settings`, and `counters` (AI
//! budgets and shared rate limits). Everything a conversation needs lives here, not in process
//! memory, so any Cloud Run instance can continue any conversation.

mod conversations;
mod counters;
mod identity;
mod live;
mod settings;
mod timers;
pub mod url;
mod writer;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rand::RngCore;
use serde::Serialize;
use sha2::{Digest, Sha256};
use sqlx::migrate::Migrate;
use sqlx::postgres::{PgPool, PgPoolOptions};
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};

use self::url::{DatabaseUrl, SqliteTarget};
pub use conversations::{
    CALCULATION_LOOKBACK, ConversationSummary, HistoryEntry, OpenConversation,
};
pub use counters::{Budget, BudgetKeys};
pub use identity::SessionPolicy;
pub use live::{HANDLE_LIFETIME, LiveBudget, LiveLimits};
pub use settings::{Settings, SettingsPatch, SpeakReplies, UnitSystem};
pub use timers::{DueTimer, Listener, MAX_PENDING_TIMERS, SetTimer, Timer};

static POSTGRES_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/postgres");
static SQLITE_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/sqlite");

/// How long a query waits for a pooled connection. Short, so that while the database is down
/// commands fail with a clear error quickly instead of hanging.
const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(3);

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
    /// server shutting down or failing over). Callers answer 503 and the operation can be
    /// retried later.
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

/// SQLSTATEs (PostgreSQL) and result codes (SQLite) that mean "the database cannot do this right
/// now; try again later" rather than "this query is wrong".
fn is_transient_code(code: &str) -> bool {
    // 08xxx connection exceptions; 53xxx insufficient resources (53300 too many connections);
    // 57P01-57P03 administrator or crash shutdown, cannot connect now (a restarting server);
    // 57014 statement cancelled (timeout); 55000/55006 object not in prerequisite state or in
    // use (seen while an instance is recovering); 25006 read-only transaction (a failover in
    // progress); 40001/40P01 serialization failure and deadlock; 58xxx system errors.
    code.starts_with("08")
        || code.starts_with("53")
        || code.starts_with("58")
        || matches!(
            code,
            "57P01" | "57P02" | "57P03" | "57014" | "55000" | "55006" | "25006" | "40001" | "40P01"
        )
        // SQLite: BUSY and LOCKED (and their extended codes) after the busy timeout.
        || matches!(code, "5" | "6" | "517" | "262" | "261" | "773")
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
            sqlx::Error::Database(db) if is_transient_code(&db.code().unwrap_or_default()) => {
                StoreError::Unavailable(message)
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

impl From<crate::conversation::UnknownValue> for StoreError {
    fn from(error: crate::conversation::UnknownValue) -> Self {
        StoreError::Query(error.to_string().into())
    }
}

pub type StoreResult<T> = Result<T, StoreError>;

#[derive(Clone)]
pub(crate) enum Pool {
    Postgres(PgPool),
    Sqlite(SqlitePools),
}

/// SQLite admits one writer at a time. A connection that finds the write lock taken sleeps in
/// SQLite's busy handler, in steps of 1, 2, 5 … up to 100 ms, and retries; it is not woken
/// when the lock is freed. With the group-commit writer, budget counters and sessions all
/// writing through one pool, those sleeps put tens of milliseconds on the turns that wait
/// behind them. So every write goes through a pool of one connection, where writers queue
/// and are woken in order as soon as the previous one commits; reads, which WAL never blocks,
/// use the other pool.
#[derive(Clone)]
pub(crate) struct SqlitePools {
    read: SqlitePool,
    write: SqlitePool,
}

/// Runs the same body against whichever pool this store has; the body is type-checked once per
/// backend, so the SQL must be valid for both (tests run on both). For statements that only
/// read; see `with_write_pool!`.
macro_rules! with_pool {
    ($store:expr, |$pool:ident| $body:expr) => {
        match &$store.inner.pool {
            $crate::store::Pool::Postgres($pool) => $body,
            $crate::store::Pool::Sqlite(pools) => {
                let $pool = &pools.read;
                $body
            }
        }
    };
}
pub(crate) use with_pool;

/// `with_pool!` for a body that writes: on SQLite it runs on the one writing connection (see
/// [`SqlitePools`]).
macro_rules! with_write_pool {
    ($store:expr, |$pool:ident| $body:expr) => {
        match &$store.inner.pool {
            $crate::store::Pool::Postgres($pool) => $body,
            $crate::store::Pool::Sqlite(pools) => {
                let $pool = &pools.write;
                $body
            }
        }
    };
}
pub(crate) use with_write_pool;

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
    budgets: counters::BudgetWriter,
    identities: Mutex<HashMap<String, identity::CachedIdentity>>,
    sessions: SessionPolicy,
}

impl Store {
    /// Creates the pool without connecting: the first query opens a connection. Start-up stays
    /// fast (Cloud Run cold starts) and the server can come up while the database is still
    /// unreachable; `/ready` reports when it is.
    pub fn connect_lazy(url: &DatabaseUrl, max_connections: u32) -> Self {
        Self::connect_lazy_with(url, max_connections, SessionPolicy::default())
    }

    pub fn connect_lazy_with(
        url: &DatabaseUrl,
        max_connections: u32,
        sessions: SessionPolicy,
    ) -> Self {
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
                        SqlitePoolOptions::new(),
                    ),
                    // A shared in-memory database lives as long as one connection does; keep
                    // one open forever in each pool.
                    SqliteTarget::Memory => (
                        options
                            .filename(format!("file:ballsy-memory-{}", uuid::Uuid::new_v4()))
                            .in_memory(true)
                            .shared_cache(true),
                        SqlitePoolOptions::new()
                            .min_connections(1)
                            .idle_timeout(None)
                            .max_lifetime(None),
                    ),
                };
                let pool_options = pool_options.acquire_timeout(ACQUIRE_TIMEOUT);
                Pool::Sqlite(SqlitePools {
                    read: pool_options
                        .clone()
                        .max_connections(max_connections)
                        .connect_lazy_with(options.clone()),
                    write: pool_options.max_connections(1).connect_lazy_with(options),
                })
            }
        };
        let writer = writer::spawn(pool.clone());
        let budgets = counters::BudgetWriter::spawn(pool.clone());
        Store {
            inner: Arc::new(StoreInner {
                pool,
                writer,
                budgets,
                identities: Mutex::new(HashMap::new()),
                sessions,
            }),
        }
    }

    pub fn is_postgres(&self) -> bool {
        matches!(self.inner.pool, Pool::Postgres(_))
    }

    fn migrator(&self) -> &'static sqlx::migrate::Migrator {
        match self.inner.pool {
            Pool::Postgres(_) => &POSTGRES_MIGRATIONS,
            Pool::Sqlite(_) => &SQLITE_MIGRATIONS,
        }
    }

    /// Applies pending migrations and returns the versions applied by this call (empty when the
    /// schema was up to date). On Postgres the migrator holds an advisory lock for the whole
    /// run, so concurrent callers (instances starting together, the migration job) wait for
    /// each other and the second finds nothing to do.
    pub async fn migrate(&self) -> StoreResult<Vec<i64>> {
        self.migrate_up_to(None).await
    }

    /// Applies migrations up to `target` (inclusive; `None` = all). Tests use it to write rows
    /// with an older schema and check that upgrading keeps them.
    #[tracing::instrument(skip_all, err)]
    pub async fn migrate_up_to(&self, target: Option<i64>) -> StoreResult<Vec<i64>> {
        let migrator = self.migrator();
        with_write_pool!(self, |pool| {
            let mut pooled = pool.acquire().await?;
            let conn = &mut *pooled;
            // The lock is taken here as well as inside `run_direct` (advisory locks nest per
            // session) so that "applied before" and "applied after" are read under it.
            conn.lock().await?;
            let result = async {
                conn.ensure_migrations_table(&migrator.table_name).await?;
                let before =
                    applied_versions(conn.list_applied_migrations(&migrator.table_name).await?);
                migrator.run_direct(target, &mut *conn, false).await?;
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
        self.migrator()
            .iter()
            .map(|m| (m.version, m.description.to_string()))
            .collect()
    }

    /// A lightweight liveness check of the database (`SELECT 1`).
    #[tracing::instrument(skip_all, err)]
    pub async fn ping(&self) -> StoreResult<()> {
        with_pool!(self, |pool| {
            sqlx::query("SELECT 1").execute(pool).await?;
            Ok(())
        })
    }

    /// Waits for queued writes, then closes all connections.
    pub async fn close(&self) {
        self.inner.writer.close().await;
        match &self.inner.pool {
            Pool::Postgres(pool) => pool.close().await,
            Pool::Sqlite(pools) => {
                pools.write.close().await;
                pools.read.close().await;
            }
        }
    }

    /// Runs raw SQL (introspection and fixtures of the test kit, never request handling).
    #[doc(hidden)]
    pub async fn execute_raw(&self, sql: &str) -> StoreResult<()> {
        with_write_pool!(self, |pool| {
            sqlx::raw_sql(sqlx::AssertSqlSafe(sql.to_owned()))
                .execute(pool)
                .await?;
            Ok(())
        })
    }

    /// Table name → column names (sorted), excluding sqlx's own bookkeeping table; for the
    /// test that keeps both migrations in step.
    #[doc(hidden)]
    pub async fn schema_columns(
        &self,
    ) -> StoreResult<std::collections::BTreeMap<String, Vec<String>>> {
        let rows: Vec<(String, String)> = match &self.inner.pool {
            Pool::Postgres(pool) => {
                sqlx::query_as(
                    "SELECT table_name::text, column_name::text FROM information_schema.columns
                     WHERE table_schema = current_schema() AND table_name <> '_sqlx_migrations'",
                )
                .fetch_all(pool)
                .await?
            }
            Pool::Sqlite(pools) => {
                sqlx::query_as(
                    "SELECT m.name, p.name FROM sqlite_master m, pragma_table_info(m.name) p
                     WHERE m.type = 'table' AND m.name NOT LIKE 'sqlite_%' AND m.name <> '_sqlx_migrations'",
                )
                .fetch_all(&pools.read)
                .await?
            }
        };
        let mut tables: std::collections::BTreeMap<String, Vec<String>> = Default::default();
        for (table, column) in rows {
            tables.entry(table).or_default().push(column);
        }
        for columns in tables.values_mut() {
            columns.sort();
        }
        Ok(tables)
    }

    /// How many rows `table` has (test introspection).
    #[doc(hidden)]
    pub async fn count_rows(&self, table: &str) -> StoreResult<i64> {
        let sql = format!("SELECT COUNT(*) FROM {table}");
        let (count,): (i64,) = with_pool!(self, |pool| {
            sqlx::query_as(sqlx::AssertSqlSafe(sql))
                .fetch_one(pool)
                .await
        })?;
        Ok(count)
    }

    /// How many rows of `table` belong to `user` (through `user_id`, `id` for `users`, the
    /// conversation for `turns`); for the test that "forget me" leaves nothing behind.
    #[doc(hidden)]
    pub async fn count_user_rows(&self, table: &str, user: &UserId) -> StoreResult<i64> {
        let filter = match table {
            "users" => "id = $1",
            // A turn belongs to its user through its conversation.
            "turns" => "conversation_id IN (SELECT id FROM conversations WHERE user_id = $1)",
            _ => "user_id = $1",
        };
        let sql = format!("SELECT COUNT(*) FROM {table} WHERE {filter}");
        let (count,): (i64,) = with_pool!(self, |pool| {
            sqlx::query_as(sqlx::AssertSqlSafe(sql))
                .bind(user.as_str())
                .fetch_one(pool)
                .await
        })?;
        Ok(count)
    }
}

fn applied_versions(applied: Vec<sqlx::migrate::AppliedMigration>) -> Vec<i64> {
    applied.into_iter().map(|m| m.version).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failover_and_recovery_states_are_transient() {
        for code in [
            "08006", "57P01", "55000", "25006", "53300", "40001", "5", "517",
        ] {
            assert!(is_transient_code(code), "{code}");
        }
        for code in ["23505", "22P05", "42P01", "1"] {
            assert!(!is_transient_code(code), "{code}");
        }
    }
}

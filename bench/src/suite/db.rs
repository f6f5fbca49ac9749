//! Databases for a run: a fresh SQLite file, or a fresh PostgreSQL database created from an
//! admin URL and dropped afterwards; and the check that the database holds exactly the
//! commands the server acknowledged.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use anyhow::Context as _;
use serde::Serialize;
use sqlx::postgres::PgPoolOptions;
use sqlx::sqlite::{SqliteConnectOptions, SqlitePoolOptions};
use sqlx::{AssertSqlSafe, Connection as _, PgConnection, PgPool, SqlitePool};

use crate::loadgen::ClientOutcome;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Backend {
    Sqlite,
    Postgres,
}

impl Backend {
    pub fn name(self) -> &'static str {
        match self {
            Backend::Sqlite => "sqlite",
            Backend::Postgres => "postgres",
        }
    }
}

/// How the server reaches its database.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Transport {
    /// SQLite: a file. PostgreSQL: the URL as configured (TCP; sqlx's default
    /// `sslmode=prefer` negotiates TLS when the server offers it).
    Default,
    /// PostgreSQL over the local unix socket, as Cloud Run reaches Cloud SQL (`/cloudsql/…`).
    UnixSocket,
}

/// A backend and how it is reached.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct DbTarget {
    pub backend: Backend,
    pub transport: Transport,
}

impl DbTarget {
    pub const SQLITE: DbTarget = DbTarget {
        backend: Backend::Sqlite,
        transport: Transport::Default,
    };

    /// `sqlite`, `postgres (unix socket)` or `postgres (TCP)`.
    pub fn label(self) -> &'static str {
        match (self.backend, self.transport) {
            (Backend::Sqlite, _) => "sqlite",
            (Backend::Postgres, Transport::Default) => "postgres (TCP)",
            (Backend::Postgres, Transport::UnixSocket) => "postgres (unix socket)",
        }
    }
}

/// A database that exists only for one server run.
#[derive(Debug)]
pub struct TestDatabase {
    pub backend: Backend,
    /// What the server gets as `DATABASE_URL`.
    pub url: String,
    sqlite_path: Option<PathBuf>,
    postgres: Option<(String, String)>,
}

static COUNTER: AtomicU64 = AtomicU64::new(0);

/// `bench_<pid>_<nanos>_<n>`: unique per run and per database, a valid identifier.
fn unique_name(prefix: &str) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    format!(
        "{prefix}_{}_{nanos:x}_{}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    )
}

/// The admin URL with its database name replaced: `postgres://u@h:5432/postgres?x=y` ->
/// `postgres://u@h:5432/<name>?x=y`.
pub fn with_database(admin_url: &str, name: &str) -> anyhow::Result<String> {
    let (base, query) = match admin_url.split_once('?') {
        Some((base, query)) => (base, Some(query)),
        None => (admin_url, None),
    };
    let scheme_end = base.find("://").context("not a URL")? + 3;
    let path_start = base[scheme_end..]
        .find('/')
        .map_or(base.len(), |i| scheme_end + i);
    let mut url = format!("{}/{name}", &base[..path_start]);
    if let Some(query) = query {
        url.push('?');
        url.push_str(query);
    }
    Ok(url)
}

/// Where PostgreSQL puts its socket on Debian-likes and by default.
const SOCKET_DIRS: [&str; 3] = ["/var/run/postgresql", "/run/postgresql", "/tmp"];

/// `SHOW server_version` of the admin URL's server.
pub async fn server_version(admin_url: &str) -> anyhow::Result<String> {
    let mut admin = PgConnection::connect(admin_url).await?;
    let (version,): (String,) = sqlx::query_as("SHOW server_version")
        .fetch_one(&mut admin)
        .await?;
    let _ = admin.close().await;
    Ok(version)
}

/// Whether the admin URL's server can also be reached over a local unix socket.
pub fn local_socket_available(admin_url: &str) -> bool {
    local_socket_url(admin_url, "probe", |path| path.exists()).is_some()
}

/// `postgres://user@127.0.0.1:5432/x` -> `postgres://user@/<name>?host=<dir>&port=5432` when
/// `<dir>/.s.PGSQL.5432` exists (per `exists`); only for loopback hosts.
fn local_socket_url(admin_url: &str, name: &str, exists: impl Fn(&Path) -> bool) -> Option<String> {
    let rest = admin_url
        .strip_prefix("postgres://")
        .or_else(|| admin_url.strip_prefix("postgresql://"))?;
    let authority = rest.split(['/', '?']).next()?;
    let (userinfo, hostport) = match authority.rsplit_once('@') {
        Some((user, host)) => (Some(user), host),
        None => (None, authority),
    };
    let (host, port) = match hostport.rsplit_once(':') {
        Some((host, port)) if !host.ends_with(':') => (host, port),
        _ => (hostport, "5432"),
    };
    if !matches!(host, "127.0.0.1" | "localhost" | "[::1]") {
        return None;
    }
    let dir = SOCKET_DIRS
        .iter()
        .find(|dir| exists(&Path::new(dir).join(format!(".s.PGSQL.{port}"))))?;
    let user = userinfo.map_or(String::new(), |u| format!("{u}@"));
    Some(format!("postgres://{user}/{name}?host={dir}&port={port}"))
}

impl TestDatabase {
    /// A path in `dir` for a SQLite file that does not exist yet (the server creates it and
    /// runs its migrations).
    pub fn sqlite(dir: &Path) -> Self {
        let path = dir.join(format!("{}.db", unique_name("bench")));
        Self {
            backend: Backend::Sqlite,
            url: format!("sqlite://{}", path.display()),
            sqlite_path: Some(path),
            postgres: None,
        }
    }

    /// Creates an empty database next to the admin URL's.
    pub async fn postgres(admin_url: &str) -> anyhow::Result<Self> {
        let name = unique_name("bench");
        let mut admin = PgConnection::connect(admin_url)
            .await
            .context("connecting to the PostgreSQL admin URL")?;
        // The name is ours (`unique_name`: letters, digits, underscores), never input.
        sqlx::query(AssertSqlSafe(format!("CREATE DATABASE \"{name}\"")))
            .execute(&mut admin)
            .await
            .with_context(|| format!("CREATE DATABASE {name}"))?;
        let _ = admin.close().await;
        Ok(Self {
            backend: Backend::Postgres,
            url: with_database(admin_url, &name)?,
            sqlite_path: None,
            postgres: Some((admin_url.to_owned(), name)),
        })
    }

    /// The same PostgreSQL database over the server's local unix socket, when the admin URL
    /// points at this machine and the socket exists: how Cloud Run reaches Cloud SQL
    /// (`/cloudsql/…`), without TCP or TLS.
    pub fn socket_url(&self) -> Option<String> {
        let (admin_url, name) = self.postgres.as_ref()?;
        local_socket_url(admin_url, name, |path| path.exists())
    }

    /// The `DATABASE_URL` for the server, reaching this database by `transport`.
    pub fn server_url(&self, transport: Transport) -> anyhow::Result<String> {
        match transport {
            Transport::Default => Ok(self.url.clone()),
            Transport::UnixSocket => self
                .socket_url()
                .context("no local PostgreSQL socket for this database"),
        }
    }

    /// Removes the file (and its WAL) or drops the database, closing any connection left.
    pub async fn remove(self) -> anyhow::Result<()> {
        if let Some(path) = &self.sqlite_path {
            for suffix in ["", "-wal", "-shm"] {
                let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
            }
        }
        if let Some((admin_url, name)) = &self.postgres {
            let mut admin = PgConnection::connect(admin_url).await?;
            sqlx::query(AssertSqlSafe(format!(
                "DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"
            )))
            .execute(&mut admin)
            .await
            .with_context(|| format!("DROP DATABASE {name}"))?;
            let _ = admin.close().await;
        }
        Ok(())
    }

    /// Reads back what clients' users have in `turns`.
    pub async fn verify(&self, clients: &[ClientOutcome]) -> anyhow::Result<Verification> {
        let reader = match self.backend {
            Backend::Sqlite => {
                let path = self.sqlite_path.as_ref().context("no SQLite path")?;
                Reader::Sqlite(
                    SqlitePoolOptions::new()
                        .max_connections(1)
                        .connect_with(SqliteConnectOptions::new().filename(path).read_only(true))
                        .await?,
                )
            }
            Backend::Postgres => Reader::Postgres(
                PgPoolOptions::new()
                    .max_connections(1)
                    .connect(&self.url)
                    .await?,
            ),
        };
        let mut verification = Verification::default();
        for client in clients {
            let Some(credentials) = &client.credentials else {
                continue;
            };
            let rows = reader.commands(&credentials.user_id).await?;
            verification.add(client, &rows);
        }
        reader.close().await;
        verification.ok = verification.missing == 0 && verification.unexpected == 0;
        Ok(verification)
    }
}

enum Reader {
    Sqlite(SqlitePool),
    Postgres(PgPool),
}

impl Reader {
    async fn commands(&self, user_id: &str) -> anyhow::Result<Vec<String>> {
        const SQL: &str =
            "SELECT t.command FROM turns t JOIN conversations c ON c.id = t.conversation_id
             WHERE c.user_id = $1 ORDER BY t.id";
        let rows: Vec<(String,)> = match self {
            Reader::Sqlite(pool) => sqlx::query_as(SQL).bind(user_id).fetch_all(pool).await?,
            Reader::Postgres(pool) => sqlx::query_as(SQL).bind(user_id).fetch_all(pool).await?,
        };
        Ok(rows.into_iter().map(|(c,)| c).collect())
    }

    async fn close(self) {
        match self {
            Reader::Sqlite(pool) => pool.close().await,
            Reader::Postgres(pool) => pool.close().await,
        }
    }
}

/// Acknowledged commands against stored rows, per user.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Verification {
    pub clients_checked: usize,
    /// Commands the server acknowledged (warm-up included).
    pub acknowledged: u64,
    pub rows: u64,
    /// Acknowledged but not stored: a broken promise.
    pub missing: u64,
    /// Stored commands whose reply was lost (allowed: stored, then the reply went missing).
    pub stored_unresolved: u64,
    /// Stored but never sent, refused or sent more often than stored.
    pub unexpected: u64,
    pub ok: bool,
}

impl Verification {
    fn add(&mut self, client: &ClientOutcome, rows: &[String]) {
        self.clients_checked += 1;
        self.acknowledged += client.acknowledged.len() as u64;
        self.rows += rows.len() as u64;
        let mut expected: HashMap<&str, i64> = HashMap::new();
        for command in &client.acknowledged {
            *expected.entry(command).or_default() += 1;
        }
        let mut unresolved: HashMap<&str, i64> = HashMap::new();
        for command in &client.unresolved {
            *unresolved.entry(command).or_default() += 1;
        }
        for row in rows {
            if let Some(n) = expected.get_mut(row.as_str())
                && *n > 0
            {
                *n -= 1;
            } else if let Some(n) = unresolved.get_mut(row.as_str())
                && *n > 0
            {
                *n -= 1;
                self.stored_unresolved += 1;
            } else {
                self.unexpected += 1;
            }
        }
        self.missing += expected.values().map(|n| *n as u64).sum::<u64>();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn database_names_are_swapped_in() {
        assert_eq!(
            with_database("postgres://postgres@127.0.0.1:5432/postgres", "bench_1").unwrap(),
            "postgres://postgres@127.0.0.1:5432/bench_1"
        );
        assert_eq!(
            with_database("postgres://u:p@h/db?sslmode=disable", "b").unwrap(),
            "postgres://u:p@h/b?sslmode=disable"
        );
        assert_eq!(
            with_database("postgres://u@h:5432", "b").unwrap(),
            "postgres://u@h:5432/b"
        );
    }

    #[test]
    fn local_sockets_replace_loopback_tcp() {
        let only = |dir: &'static str| move |p: &Path| p.starts_with(dir);
        assert_eq!(
            local_socket_url(
                "postgres://postgres@127.0.0.1:5432/postgres",
                "b",
                only("/var/run/postgresql")
            )
            .as_deref(),
            Some("postgres://postgres@/b?host=/var/run/postgresql&port=5432")
        );
        assert_eq!(
            local_socket_url(
                "postgresql://u:p@localhost/db?sslmode=require",
                "b",
                only("/tmp")
            )
            .as_deref(),
            Some("postgres://u:p@/b?host=/tmp&port=5432")
        );
        assert_eq!(
            local_socket_url("postgres://u@db.internal:5432/x", "b", |_| true),
            None
        );
        assert_eq!(
            local_socket_url("postgres://u@127.0.0.1:5433/x", "b", |_| false),
            None
        );
    }

    #[test]
    fn verification_counts_missing_and_unexpected_rows() {
        let client = ClientOutcome {
            acknowledged: vec!["hello".into(), "hello".into(), "5 + 1".into()],
            unresolved: vec!["5 + 2".into()],
            refused: vec!["5 + 3".into()],
            ..ClientOutcome::default()
        };
        let mut v = Verification::default();
        v.add(
            &client,
            &[
                "hello".into(),
                "5 + 1".into(),
                "5 + 2".into(),
                "5 + 3".into(),
            ],
        );
        assert_eq!(v.missing, 1, "one hello is missing");
        assert_eq!(v.stored_unresolved, 1);
        assert_eq!(v.unexpected, 1, "a refused command was stored");
        assert_eq!(v.rows, 4);
    }
}

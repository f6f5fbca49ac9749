//! Parsing `DATABASE_URL`.
//!
//! sqlx's own URL parser rejects the form the owner specified for Cloud Run,
//! `postgresql+psycopg2://USER:PASS@/DB?host=/cloudsql/PROJECT:REGION:INSTANCE` (user-info with an
//! empty host is not a valid URL for the `url` crate), so we parse the libpq URI shape ourselves
//! and build `PgConnectOptions` from the parts. That also lets every error message show the URL
//! with its password replaced, and keeps the password in a `SecretString` from the start.

use std::fmt;
use std::path::PathBuf;

use percent_encoding::percent_decode_str;
use secrecy::{ExposeSecret, SecretString};
use sqlx::postgres::{PgConnectOptions, PgSslMode};

/// The SQLite file used when `DATABASE_URL` is not set: created in the working directory on
/// first start, so `cargo run --release` needs no configuration.
pub const DEFAULT_SQLITE_FILE: &str = "ballsy.db";

const ACCEPTED_FORMS: &str = "postgres://USER:PASSWORD@HOST:5432/DB, postgresql://…, \
postgresql+psycopg2://USER:PASSWORD@/DB?host=/cloudsql/PROJECT:REGION:INSTANCE, \
sqlite://path/to/file.db or sqlite::memory:";

/// Where the data lives, parsed from `DATABASE_URL`.
#[derive(Clone)]
pub enum DatabaseUrl {
    Postgres(PgTarget),
    Sqlite(SqliteTarget),
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SqliteTarget {
    File(PathBuf),
    Memory,
}

#[derive(Clone)]
pub struct PgTarget {
    pub host: PgHost,
    pub user: Option<String>,
    pub password: Option<SecretString>,
    pub database: Option<String>,
    pub ssl_mode: Option<PgSslMode>,
    pub application_name: Option<String>,
    /// Query parameters we do not use; reported once at start-up instead of failing.
    pub ignored_params: Vec<String>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PgHost {
    /// Nothing given: libpq's defaults (sqlx looks for the usual socket directories, then
    /// `localhost`).
    Default {
        port: Option<u16>,
    },
    Tcp {
        host: String,
        port: Option<u16>,
    },
    /// A unix-socket directory such as `/cloudsql/PROJECT:REGION:INSTANCE`; the driver appends
    /// `.s.PGSQL.<port>`.
    Socket {
        dir: PathBuf,
        port: Option<u16>,
    },
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid DATABASE_URL \"{redacted}\": {reason}; accepted forms: {ACCEPTED_FORMS}")]
pub struct DatabaseUrlError {
    redacted: String,
    reason: String,
}

impl DatabaseUrl {
    pub fn default_sqlite() -> Self {
        DatabaseUrl::Sqlite(SqliteTarget::File(PathBuf::from(DEFAULT_SQLITE_FILE)))
    }

    pub fn parse(raw: &str) -> Result<Self, DatabaseUrlError> {
        let url = raw.trim();
        let fail = |reason: &str| DatabaseUrlError {
            redacted: redact_url(url),
            reason: reason.to_owned(),
        };
        if url.is_empty() {
            return Ok(Self::default_sqlite());
        }
        let Some((scheme, rest)) = url.split_once(':') else {
            return Err(fail("no scheme"));
        };
        let scheme = scheme.to_ascii_lowercase();
        // `postgresql+psycopg2`, `postgresql+asyncpg`: the driver suffix names a Python driver and
        // means nothing here, so it is accepted and ignored.
        let base_scheme = scheme.split('+').next().unwrap_or_default();
        match base_scheme {
            "sqlite" => parse_sqlite(rest)
                .map(DatabaseUrl::Sqlite)
                .map_err(|r| fail(&r)),
            "postgres" | "postgresql" => {
                let Some(rest) = rest.strip_prefix("//") else {
                    return Err(fail("expected \"://\" after the scheme"));
                };
                parse_postgres(rest)
                    .map(DatabaseUrl::Postgres)
                    .map_err(|r| fail(&r))
            }
            _ => Err(fail(&format!("unsupported scheme \"{scheme}\""))),
        }
    }

    pub fn is_postgres(&self) -> bool {
        matches!(self, DatabaseUrl::Postgres(_))
    }

    /// A description safe to log: never contains the password.
    pub fn describe(&self) -> String {
        match self {
            DatabaseUrl::Sqlite(SqliteTarget::Memory) => "sqlite::memory:".to_owned(),
            DatabaseUrl::Sqlite(SqliteTarget::File(path)) => format!("sqlite://{}", path.display()),
            DatabaseUrl::Postgres(pg) => {
                let user = pg.user.as_deref().unwrap_or("");
                let secret = if pg.password.is_some() { ":***" } else { "" };
                let db = pg.database.as_deref().unwrap_or("");
                let at = if user.is_empty() && secret.is_empty() {
                    ""
                } else {
                    "@"
                };
                match &pg.host {
                    PgHost::Default { port } => {
                        format!("postgres://{user}{secret}{at}{}/{db}", port_suffix(*port))
                    }
                    PgHost::Tcp { host, port } => {
                        format!(
                            "postgres://{user}{secret}{at}{host}{}/{db}",
                            port_suffix(*port)
                        )
                    }
                    PgHost::Socket { dir, port } => format!(
                        "postgres://{user}{secret}{at}/{db}?host={}{}",
                        dir.display(),
                        port.map(|p| format!("&port={p}")).unwrap_or_default()
                    ),
                }
            }
        }
    }
}

impl fmt::Debug for DatabaseUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.describe())
    }
}

impl fmt::Debug for PgTarget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PgTarget")
            .field("host", &self.host)
            .field("user", &self.user)
            .field("password", &self.password.as_ref().map(|_| "[REDACTED]"))
            .field("database", &self.database)
            .finish_non_exhaustive()
    }
}

impl PgTarget {
    pub fn connect_options(&self) -> PgConnectOptions {
        // `new_without_pgpass` keeps a developer's ~/.pgpass from silently supplying a password
        // the URL did not name.
        let mut options = PgConnectOptions::new_without_pgpass();
        match &self.host {
            PgHost::Default { port } => {
                if let Some(port) = port {
                    options = options.port(*port);
                }
            }
            PgHost::Tcp { host, port } => {
                options = options.host(host);
                if let Some(port) = port {
                    options = options.port(*port);
                }
            }
            PgHost::Socket { dir, port } => {
                options = options.socket(dir);
                if let Some(port) = port {
                    options = options.port(*port);
                }
            }
        }
        if let Some(user) = &self.user {
            options = options.username(user);
        }
        if let Some(password) = &self.password {
            options = options.password(password.expose_secret());
        }
        if let Some(database) = &self.database {
            options = options.database(database);
        }
        if let Some(mode) = self.ssl_mode {
            options = options.ssl_mode(mode);
        }
        options.application_name(self.application_name.as_deref().unwrap_or("ballsy"))
    }
}

fn port_suffix(port: Option<u16>) -> String {
    port.map(|p| format!(":{p}")).unwrap_or_default()
}

fn parse_sqlite(rest: &str) -> Result<SqliteTarget, String> {
    // `sqlite::memory:`, `sqlite://:memory:`, `sqlite://path`, `sqlite:path`, `sqlite:///abs`.
    let path = rest.strip_prefix("//").unwrap_or(rest);
    let path = path.split('?').next().unwrap_or_default();
    if path == ":memory:" || path.is_empty() && rest.contains("mode=memory") {
        return Ok(SqliteTarget::Memory);
    }
    if path.is_empty() {
        return Err("no SQLite file path".to_owned());
    }
    let decoded = decode(path, "SQLite path")?;
    Ok(SqliteTarget::File(PathBuf::from(decoded)))
}

fn parse_postgres(rest: &str) -> Result<PgTarget, String> {
    let (before_query, query) = match rest.split_once('?') {
        Some((b, q)) => (b, Some(q)),
        None => (rest, None),
    };
    if before_query.contains('#') || query.is_some_and(|q| q.contains('#')) {
        return Err("a raw '#' must be percent-encoded as %23".to_owned());
    }
    let (authority, path) = match before_query.split_once('/') {
        Some((a, p)) => (a, p),
        None => (before_query, ""),
    };
    // The password may contain '@' only percent-encoded, but users do paste raw ones; splitting
    // at the last '@' keeps such URLs working because a host never contains '@'.
    let (userinfo, hostport) = match authority.rsplit_once('@') {
        Some((u, h)) => (Some(u), h),
        None => (None, authority),
    };
    let mut target = PgTarget {
        host: PgHost::Default { port: None },
        user: None,
        password: None,
        database: None,
        ssl_mode: None,
        application_name: None,
        ignored_params: Vec::new(),
    };
    if let Some(userinfo) = userinfo {
        let (user, password) = match userinfo.split_once(':') {
            Some((u, p)) => (u, Some(p)),
            None => (userinfo, None),
        };
        if !user.is_empty() {
            target.user = Some(decode(user, "user name")?);
        }
        if let Some(password) = password {
            target.password = Some(SecretString::from(decode(password, "password")?));
        }
    }
    let (host, mut port) = split_host_port(hostport)?;
    if !path.is_empty() {
        target.database = Some(decode(path, "database name")?);
    }
    let mut host_param: Option<String> = None;
    for pair in query
        .unwrap_or_default()
        .split('&')
        .filter(|p| !p.is_empty())
    {
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        let value = decode(value, key)?;
        match key {
            "host" => host_param = Some(value),
            "port" => port = Some(parse_port(&value)?),
            "user" => target.user = Some(value),
            "password" => target.password = Some(SecretString::from(value)),
            "dbname" => target.database = Some(value),
            "sslmode" => {
                target.ssl_mode = Some(
                    value
                        .parse::<PgSslMode>()
                        .map_err(|_| format!("unknown sslmode \"{value}\""))?,
                )
            }
            "application_name" => target.application_name = Some(value),
            other => target.ignored_params.push(other.to_owned()),
        }
    }
    // `host=` in the query wins over the authority, as in libpq; a value starting with '/' is a
    // socket directory (Cloud Run mounts Cloud SQL at /cloudsql/<connection name>).
    let host = host_param.or(host);
    target.host = match host {
        None => PgHost::Default { port },
        Some(h) if h.starts_with('/') => PgHost::Socket {
            dir: PathBuf::from(h),
            port,
        },
        Some(h) => PgHost::Tcp { host: h, port },
    };
    Ok(target)
}

fn split_host_port(hostport: &str) -> Result<(Option<String>, Option<u16>), String> {
    if hostport.is_empty() {
        return Ok((None, None));
    }
    if let Some(rest) = hostport.strip_prefix('[') {
        let (host, after) = rest
            .split_once(']')
            .ok_or_else(|| "unterminated IPv6 address".to_owned())?;
        let port = match after.strip_prefix(':') {
            Some(p) => Some(parse_port(p)?),
            None if after.is_empty() => None,
            None => return Err("unexpected text after the IPv6 address".to_owned()),
        };
        return Ok((Some(host.to_owned()), port));
    }
    match hostport.rsplit_once(':') {
        Some((host, port)) => Ok((
            (!host.is_empty())
                .then(|| decode(host, "host"))
                .transpose()?,
            Some(parse_port(port)?),
        )),
        None => Ok((Some(decode(hostport, "host")?), None)),
    }
}

fn parse_port(value: &str) -> Result<u16, String> {
    value
        .parse::<u16>()
        .ok()
        .filter(|p| *p != 0)
        .ok_or_else(|| format!("invalid port \"{value}\""))
}

fn decode(value: &str, what: &str) -> Result<String, String> {
    percent_decode_str(value)
        .decode_utf8()
        .map(|s| s.into_owned())
        .map_err(|_| format!("the {what} is not valid UTF-8 after percent-decoding"))
}

/// Replaces the password in anything URL-shaped, so error messages can quote what was given.
pub fn redact_url(url: &str) -> String {
    let mut out = url.to_owned();
    if let Some(scheme_end) = out.find("://") {
        let authority_start = scheme_end + 3;
        let authority_end = out[authority_start..]
            .find(['/', '?'])
            .map(|i| authority_start + i)
            .unwrap_or(out.len());
        let authority = &out[authority_start..authority_end];
        if let Some(at) = authority.rfind('@')
            && let Some(colon) = authority[..at].find(':')
        {
            out.replace_range(authority_start + colon + 1..authority_start + at, "***");
        }
    }
    // `password=` in the query string.
    if let Some(pos) = out.find("password=") {
        let start = pos + "password=".len();
        let end = out[start..]
            .find('&')
            .map(|i| start + i)
            .unwrap_or(out.len());
        out.replace_range(start..end, "***");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pg(url: &str) -> PgTarget {
        match DatabaseUrl::parse(url).expect("parses") {
            DatabaseUrl::Postgres(t) => t,
            DatabaseUrl::Sqlite(_) => panic!("expected postgres for {url}"),
        }
    }

    fn password(t: &PgTarget) -> String {
        t.password
            .as_ref()
            .expect("password")
            .expose_secret()
            .to_owned()
    }

    #[test]
    fn postgres_tcp_form() {
        let t = pg("postgres://ballsy:s3cret@db.internal:5432/ballsydb");
        assert_eq!(t.user.as_deref(), Some("ballsy"));
        assert_eq!(password(&t), "s3cret");
        assert_eq!(t.database.as_deref(), Some("ballsydb"));
        assert_eq!(
            t.host,
            PgHost::Tcp {
                host: "db.internal".into(),
                port: Some(5432)
            }
        );
    }

    #[test]
    fn postgresql_scheme_is_the_same() {
        let t = pg("postgresql://u:p@localhost/d");
        assert_eq!(
            t.host,
            PgHost::Tcp {
                host: "localhost".into(),
                port: None
            }
        );
        assert_eq!(t.database.as_deref(), Some("d"));
    }

    #[test]
    fn cloud_run_form_with_driver_suffix_and_socket_dir() {
        let t = pg(
            "postgresql+psycopg2://ballsyuser:pw@/ballsydb?host=/cloudsql/my-proj:us-central1:ballsy-db",
        );
        assert_eq!(t.user.as_deref(), Some("ballsyuser"));
        assert_eq!(password(&t), "pw");
        assert_eq!(t.database.as_deref(), Some("ballsydb"));
        assert_eq!(
            t.host,
            PgHost::Socket {
                dir: PathBuf::from("/cloudsql/my-proj:us-central1:ballsy-db"),
                port: None
            }
        );
    }

    #[test]
    fn url_encoded_special_characters_in_the_password_decode() {
        // What Terraform's urlencode() produces for a password full of URL-special characters.
        let t =
            pg("postgresql+psycopg2://u:p%40ss%3Aw%2Fo%3Fr%23d%25x%5B%5D@/db?host=/cloudsql/p:r:i");
        assert_eq!(password(&t), "p@ss:w/o?r#d%x[]");
    }

    #[test]
    fn plus_in_password_is_literal_not_a_space() {
        let t = pg("postgres://u:a+b@h/d");
        assert_eq!(password(&t), "a+b");
    }

    #[test]
    fn query_parameters_override_and_fill_in() {
        let t = pg("postgres:///d?host=/run/pg&port=5433&user=x&password=y%26z&sslmode=disable");
        assert_eq!(
            t.host,
            PgHost::Socket {
                dir: PathBuf::from("/run/pg"),
                port: Some(5433)
            }
        );
        assert_eq!(t.user.as_deref(), Some("x"));
        assert_eq!(password(&t), "y&z");
        assert!(matches!(t.ssl_mode, Some(PgSslMode::Disable)));
    }

    #[test]
    fn unknown_query_parameters_are_reported_not_fatal() {
        let t = pg("postgres://u@h/d?connect_timeout=5");
        assert_eq!(t.ignored_params, vec!["connect_timeout".to_owned()]);
    }

    #[test]
    fn ipv6_host() {
        let t = pg("postgres://u:p@[::1]:6543/d");
        assert_eq!(
            t.host,
            PgHost::Tcp {
                host: "::1".into(),
                port: Some(6543)
            }
        );
    }

    #[test]
    fn sqlite_forms() {
        let file = |u: &str| match DatabaseUrl::parse(u).expect("parses") {
            DatabaseUrl::Sqlite(t) => t,
            DatabaseUrl::Postgres(_) => panic!("expected sqlite"),
        };
        assert_eq!(
            file("sqlite://path/to/file.db"),
            SqliteTarget::File("path/to/file.db".into())
        );
        assert_eq!(
            file("sqlite:///var/lib/ballsy.db"),
            SqliteTarget::File("/var/lib/ballsy.db".into())
        );
        assert_eq!(
            file("sqlite:ballsy.db"),
            SqliteTarget::File("ballsy.db".into())
        );
        assert_eq!(file("sqlite::memory:"), SqliteTarget::Memory);
        assert_eq!(file("sqlite://:memory:"), SqliteTarget::Memory);
    }

    #[test]
    fn unset_means_the_default_sqlite_file() {
        match DatabaseUrl::parse("").expect("parses") {
            DatabaseUrl::Sqlite(SqliteTarget::File(p)) => assert_eq!(p, PathBuf::from("ballsy.db")),
            other => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn other_schemes_fail_naming_the_forms_with_the_password_redacted() {
        let err = DatabaseUrl::parse("mysql://root:hunter2@localhost/db")
            .expect_err("mysql is not supported")
            .to_string();
        assert!(!err.contains("hunter2"), "{err}");
        assert!(err.contains("mysql://root:***@localhost/db"), "{err}");
        assert!(err.contains("postgresql+psycopg2://"), "{err}");
        assert!(err.contains("sqlite::memory:"), "{err}");
    }

    #[test]
    fn malformed_port_fails_without_leaking_the_password() {
        let err = DatabaseUrl::parse("postgres://u:topsecret@h:99999/d")
            .expect_err("bad port")
            .to_string();
        assert!(err.contains("invalid port"), "{err}");
        assert!(!err.contains("topsecret"), "{err}");
    }

    #[test]
    fn debug_and_describe_never_show_the_password() {
        let url = DatabaseUrl::parse("postgres://u:topsecret@h/d?password=alsosecret").unwrap();
        assert!(!format!("{url:?}").contains("secret"));
        assert!(!url.describe().contains("secret"));
        if let DatabaseUrl::Postgres(t) = &url {
            assert!(!format!("{t:?}").contains("secret"));
        }
    }

    #[test]
    fn redact_url_handles_query_passwords() {
        assert_eq!(
            redact_url("postgres:///d?user=u&password=p&host=/x"),
            "postgres:///d?user=u&password=***&host=/x"
        );
    }
}

//! Every setting Ballsy reads, parsed once at start from the environment.
//!
//! Cloud Run configuration is environment variables (plain or mounted from Secret Manager), so
//! there are no config files. Each variable is declared exactly once, in `env_vars!` below:
//! its name, its default and its meaning. That one table drives the parser (an unset
//! variable parses its declared default, so the documented default *is* the default), the
//! README's configuration table and `ballsy --help`. Parsing takes a lookup function rather
//! than reading `std::env` directly, which lets tests build configurations without touching
//! the process environment. Any bad value stops start-up with a message naming the variable,
//! the value and what was expected; secrets are never echoed.

use std::cell::RefCell;
use std::collections::BTreeSet;
use std::fmt;
use std::io::IsTerminal;
use std::time::Duration;

use secrecy::SecretString;

use crate::assistant::persona::DEFAULT_PERSONA;
use crate::store::url::DatabaseUrl;

/// Public Gemini Developer API endpoint; `/v1beta/models/...` is appended.
pub const DEFAULT_GEMINI_BASE_URL: &str = "https://generativelanguage.googleapis.com";
/// The longest command accepted over HTTP and the WebSocket (the predecessor's limit).
pub const MAX_COMMAND_CHARS: usize = 1000;

/// What an unset variable means.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Default {
    /// Parsed exactly as if the variable were set to this.
    Value(&'static str),
    /// No value; the text says what that means (e.g. "offline assistant").
    Unset(&'static str),
    /// Worked out from other settings, as the text describes.
    Derived(&'static str),
}

impl fmt::Display for Default {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Default::Value(value) => f.write_str(value),
            Default::Unset(text) | Default::Derived(text) => f.write_str(text),
        }
    }
}

/// One documented environment variable.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EnvVar {
    pub name: &'static str,
    pub default: Default,
    pub meaning: &'static str,
}

macro_rules! env_vars {
    ($($ident:ident = $default:expr, $meaning:literal;)+) => {
        /// The variables, one constant each, named as in the environment.
        pub mod vars {
            use super::{Default, EnvVar};
            $(
                #[allow(non_upper_case_globals, unused_imports)]
                pub const $ident: EnvVar = EnvVar {
                    name: stringify!($ident),
                    default: { use Default::*; $default },
                    meaning: $meaning,
                };
            )+
        }
        /// Every variable, in documentation order.
        pub const ENV_VARS: &[EnvVar] = &[$(vars::$ident),+];
    };
}

env_vars! {
    PORT = Value("8080"), "TCP port to listen on (0.0.0.0). Cloud Run injects it.";
    DATABASE_URL = Value("sqlite://ballsy.db"), "postgres://USER:PASS@HOST:5432/DB, postgresql+psycopg2://USER:PASS@/DB?host=/cloudsql/CONNECTION_NAME, sqlite://FILE or sqlite::memory:.";
    DATABASE_MAX_CONNECTIONS = Value("5"), "Connection pool size per process. Keep max_instances x this under the Cloud SQL limit (about 25 on db-f1-micro). On SQLite this many connections read and one more does every write.";
    MIGRATE_ON_START = Value("true"), "Apply pending migrations when `serve` starts (Postgres takes an advisory lock, so instances can start together).";
    GEMINI_API_KEY = Unset("(unset: offline assistant)"), "Gemini Developer API key, sent in the x-goog-api-key header. Without it (and without GEMINI_BACKEND=vertex) Ballsy runs its labelled offline model.";
    GEMINI_BACKEND = Value("developer-api"), "developer-api (API key) or vertex (Vertex AI with the service account's token from the metadata server; needs GOOGLE_CLOUD_PROJECT).";
    GEMINI_MODEL = Value("gemini-3.5-flash-lite"), "Model for open questions.";
    GEMINI_FALLBACK_MODEL = Value("gemini-3.1-flash-lite"), "Model used when the primary is retired (404) or out of quota (429); empty disables.";
    GEMINI_BASE_URL = Derived("https://generativelanguage.googleapis.com (vertex: the VERTEX_LOCATION endpoint)"), "API endpoint; tests point it at the fake Gemini server.";
    GEMINI_TIMEOUT_SECS = Value("30"), "Overall deadline for one AI answer, retries included.";
    GEMINI_FIRST_BYTE_TIMEOUT_SECS = Value("10"), "Longest wait for the first streamed chunk of an attempt.";
    GEMINI_STALL_TIMEOUT_SECS = Value("15"), "Longest silence between two streamed chunks.";
    GEMINI_MAX_OUTPUT_TOKENS = Value("1024"), "Output token cap per answer (thinking included; the persona keeps answers short).";
    GEMINI_MAX_RETRIES = Value("2"), "Retries on 429/500/503/504 and transport errors, only before the first chunk reached the user.";
    GCE_METADATA_HOST = Value("metadata.google.internal"), "Metadata server for Vertex AI tokens (tests point it at a fake).";
    GOOGLE_CLOUD_PROJECT = Unset("(unset)"), "Project id: Vertex AI endpoint, and the trace field of Cloud Logging lines.";
    GOOGLE_CLOUD_REGION = Unset("(unset)"), "Region the service runs in (Cloud Run), e.g. us-central1; shown by check-config. Not the Vertex AI location.";
    VERTEX_LOCATION = Value("global"), "Vertex AI location of the Gemini endpoint: global (where Gemini 3 is served first) or a region such as us-central1.";
    GEMINI_LIVE_MODEL = Value("gemini-3.8-live"), "Gemini Live model for Live voice sessions (/ws/live), on the backend GEMINI_BACKEND chooses.";
    GEMINI_LIVE_URL = Derived("wss://generativelanguage.googleapis.com/ws/…BidiGenerateContent (vertex: the VERTEX_LOCATION endpoint)"), "Gemini Live WebSocket endpoint (ws:// or wss://); tests point it at the fake Live server.";
    LIVE_DAILY_MINUTES_PER_USER = Value("10"), "Minutes of Live voice per user per UTC day, counted in the database; 0 turns Live off for everyone.";
    LIVE_DAILY_MINUTES_TOTAL = Value("60"), "Minutes of Live voice per UTC day for the whole service, counted in the database.";
    GEMINI_GROUNDING = Value("off"), "on: questions about current events (news, scores, prices, \"latest\") are answered with Google Search grounding, within AI_DAILY_GROUNDED_TOTAL; off: never.";
    AI_DAILY_GROUNDED_TOTAL = Value("150"), "Google Search queries that grounded answers may run per UTC day, for the whole service (each query the model runs counts): 150 a day stays within the 5,000 free searches a month; past it, current events are answered without search.";
    WEATHER_BASE_URL = Value("https://api.open-meteo.com"), "Open-Meteo forecast API (free, no key); tests point it at a fake.";
    GEOCODING_BASE_URL = Value("https://geocoding-api.open-meteo.com"), "Open-Meteo geocoding API, for place names; tests point it at a fake.";
    ASSISTANT_PERSONA = Unset("(built-in Ballsy persona)"), "System prompt for the model.";
    ASSISTANT_PERSONA_FILE = Unset("(unset)"), "Read the system prompt from this file instead.";
    CONTEXT_TURNS = Value("6"), "How many earlier messages of the conversation (user or assistant) are sent with each question.";
    CORS_ORIGINS = Unset("(empty: same origin only)"), "Comma-separated exact origins allowed to call the API and open the WebSocket; * (every site, sockets included) only for local development.";
    TRUST_PROXY = Value("false"), "Take the client IP from the last X-Forwarded-For entry (set true on Cloud Run, whose front end appends it).";
    LOG_FORMAT = Derived("json when K_SERVICE is set or stdout is not a terminal, else text"), "json (one Cloud Logging object per line) or text.";
    LOG_LEVEL = Value("info"), "error, warn, info, debug, trace, or a tracing filter such as ballsy=debug,sqlx=warn.";
    RATE_LIMIT_ENABLED = Value("true"), "false turns the per-user, per-IP, new-session and per-socket frame limits and the connection cap off (benchmarks, trusted private deployments).";
    RATE_LIMIT_USER_PER_MINUTE = Value("30"), "Commands per user per minute.";
    RATE_LIMIT_USER_BURST = Value("10"), "Commands a user may send at once before the per-minute rate applies.";
    RATE_LIMIT_IP_PER_MINUTE = Value("120"), "API requests and WebSocket commands per client network (IPv4 address or IPv6 /64) per minute (burst of the same size).";
    RATE_LIMIT_NEW_SESSIONS_PER_IP_PER_HOUR = Value("20"), "New anonymous identities per client network per hour; beyond it 429 with Retry-After.";
    RATE_LIMIT_STORE = Value("memory"), "memory (per instance) or postgres (the per-user and new-session limits are shared by all instances through the database).";
    AI_DAILY_REQUESTS_PER_USER = Value("100"), "AI questions per user per UTC day; smart commands stay available beyond it.";
    AI_DAILY_REQUESTS_PER_IP = Value("100"), "AI questions per client network (IPv4 address or IPv6 /64) per UTC day, counted in the database.";
    AI_DAILY_REQUESTS_TOTAL = Value("450"), "AI questions per UTC day for the whole service (under the free tier's 500 per model).";
    MAX_UPLOAD_BYTES = Value("2097152"), "Largest audio upload to /api/voice.";
    MAX_WS_MESSAGE_BYTES = Value("16384"), "Largest WebSocket message; bigger ones close the socket with 1009.";
    WS_IDLE_TIMEOUT = Value("300"), "Seconds without a command before a WebSocket is closed with 1000 (pings do not count, so idle tabs do not keep an instance billed).";
    WS_MAX_LIFETIME_SECS = Value("1800"), "Longest life of one WebSocket; then it is closed with 1000 \"session lifetime\" and the page reconnects at once.";
    WS_PING_INTERVAL = Value("25"), "Seconds between server pings; a peer silent for three intervals is dropped.";
    HTTP_HEADER_READ_TIMEOUT_SECS = Value("10"), "Longest time a client may take to send a request's headers, counted from its first byte.";
    HTTP_IDLE_TIMEOUT_SECS = Value("60"), "Seconds a keep-alive connection may sit idle between requests before it is closed.";
    MAX_CONNECTIONS_PER_IP = Value("64"), "Open connections per peer network (without TRUST_PROXY), or open WebSockets per client network (with it); more are refused. Off with RATE_LIMIT_ENABLED=false.";
    SESSION_TTL_DAYS = Value("180"), "A session token unused for this many days expires.";
    RETENTION_DAYS = Value("90"), "Conversations older than this many days are deleted by a background sweep; 0 keeps them forever.";
    SHUTDOWN_GRACE_SECS = Value("8"), "On SIGTERM, how long in-flight replies may take before sockets are closed (Cloud Run kills after 10 s).";
    K_SERVICE = Unset("(set by Cloud Run)"), "Marks a Cloud Run deployment: JSON logs by default, warnings for development-only settings.";
    K_REVISION = Unset("(set by Cloud Run)"), "Logged at start-up to tell revisions apart.";
}

/// The README's configuration table and `--help` text, rendered from `ENV_VARS`.
pub fn markdown_table() -> String {
    let mut table = String::from("| Variable | Default | Meaning |\n|---|---|---|\n");
    for var in ENV_VARS {
        table.push_str(&format!(
            "| `{}` | {} | {} |\n",
            var.name, var.default, var.meaning
        ));
    }
    table
}

pub fn help_text() -> String {
    let mut help = String::from("Environment variables:\n");
    for var in ENV_VARS {
        help.push_str(&format!(
            "  {}\n      {} [default: {}]\n",
            var.name, var.meaning, var.default
        ));
    }
    help
}

/// The configuration of one process.
#[derive(Clone)]
pub struct Config {
    pub port: u16,
    pub database_url: DatabaseUrl,
    pub database_max_connections: u32,
    pub migrate_on_start: bool,
    pub gemini: GeminiConfig,
    pub live: LiveConfig,
    pub grounding: bool,
    pub ai_daily_grounded_total: u32,
    pub weather_base_url: String,
    pub geocoding_base_url: String,
    pub persona: String,
    pub context_turns: usize,
    pub cors_origins: CorsOrigins,
    pub trust_proxy: bool,
    pub log_format: LogFormat,
    pub log_level: String,
    pub google_cloud_project: Option<String>,
    pub google_cloud_region: Option<String>,
    pub cloud_run_service: Option<String>,
    pub cloud_run_revision: Option<String>,
    pub rate_limit: RateLimitConfig,
    pub ai_daily_requests_per_user: u32,
    pub ai_daily_requests_per_ip: u32,
    pub ai_daily_requests_total: u32,
    pub max_upload_bytes: usize,
    pub max_ws_message_bytes: usize,
    pub ws_idle_timeout: Duration,
    pub ws_max_lifetime: Duration,
    pub ws_ping_interval: Duration,
    pub http: HttpConfig,
    pub session_ttl: Duration,
    /// None keeps conversations forever.
    pub retention: Option<Duration>,
    pub shutdown_grace: Duration,
}

#[derive(Clone)]
pub struct GeminiConfig {
    pub backend: GeminiBackend,
    pub api_key: Option<SecretString>,
    pub model: String,
    pub fallback_model: Option<String>,
    /// None: the public endpoint of the chosen backend.
    pub base_url: Option<String>,
    pub metadata_host: String,
    pub project: Option<String>,
    /// Vertex AI location: `global` or a region.
    pub vertex_location: String,
    pub timeout: Duration,
    pub first_byte_timeout: Duration,
    pub stall_timeout: Duration,
    pub max_output_tokens: u32,
    pub max_retries: u32,
}

/// Gemini Live voice sessions (`/ws/live`), relayed by the server on the Gemini backend.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LiveConfig {
    pub model: String,
    /// None: the public endpoint of the chosen backend.
    pub url: Option<String>,
    pub daily_minutes_per_user: u32,
    pub daily_minutes_total: u32,
    /// A Live session in which nobody spoke for this long is closed (silence is billed).
    pub idle_timeout: Duration,
    /// How often elapsed time is charged to the daily budgets while a session is open.
    pub charge_interval: Duration,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GeminiBackend {
    DeveloperApi,
    Vertex,
}

impl GeminiConfig {
    /// Whether a real model is configured; otherwise the offline model answers.
    pub fn is_online(&self) -> bool {
        match self.backend {
            GeminiBackend::DeveloperApi => self.api_key.is_some(),
            GeminiBackend::Vertex => true,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CorsOrigins {
    /// `*`: any origin, for local development only.
    Any,
    /// Exact `scheme://host[:port]` strings; empty means same-origin only.
    List(Vec<String>),
}

impl CorsOrigins {
    pub fn allows(&self, origin: &str) -> bool {
        match self {
            CorsOrigins::Any => true,
            CorsOrigins::List(list) => list.iter().any(|o| o.eq_ignore_ascii_case(origin)),
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LogFormat {
    Json,
    Text,
}

#[derive(Clone, Debug)]
pub struct RateLimitConfig {
    pub enabled: bool,
    pub user_per_minute: u32,
    pub user_burst: u32,
    pub ip_per_minute: u32,
    pub new_sessions_per_ip_per_hour: u32,
    pub store: RateLimitStore,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RateLimitStore {
    Memory,
    /// The per-user and new-session limits live in the database, shared by every instance.
    Database,
}

/// Connection-level protection (slow clients, too many connections).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HttpConfig {
    pub header_read_timeout: Duration,
    pub idle_timeout: Duration,
    pub max_connections_per_ip: usize,
}

/// A bad configuration value. The message is what the operator sees before the process exits.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("invalid {var} \"{value}\": expected {expected}")]
    Invalid {
        var: &'static str,
        value: String,
        expected: String,
    },
    #[error("invalid {var}: {reason}")]
    Secret { var: &'static str, reason: String },
    #[error("{0}")]
    Database(#[from] crate::store::url::DatabaseUrlError),
    #[error("{0}")]
    Other(String),
}

impl Config {
    /// Reads the process environment.
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// Builds the configuration from any lookup (tests pass a map).
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let env = Env {
            lookup: &lookup,
            read: RefCell::default(),
        };
        Self::parse(&env)
    }

    /// The names `from_lookup` looks up, for the test that every declared variable is read.
    #[cfg(test)]
    fn names_read(lookup: impl Fn(&str) -> Option<String>) -> BTreeSet<&'static str> {
        let env = Env {
            lookup: &lookup,
            read: RefCell::default(),
        };
        let _ = Self::parse(&env);
        env.read.into_inner()
    }

    fn parse(env: &Env<'_>) -> Result<Self, ConfigError> {
        use vars::*;
        let cloud_run_service = env.string(&K_SERVICE);
        let backend = match env.string(&GEMINI_BACKEND).as_deref() {
            Some("developer-api") | Some("developer") => GeminiBackend::DeveloperApi,
            Some("vertex") => GeminiBackend::Vertex,
            other => {
                return Err(invalid(
                    &GEMINI_BACKEND,
                    other.unwrap_or_default(),
                    "developer-api or vertex",
                ));
            }
        };
        let project = env.string(&GOOGLE_CLOUD_PROJECT);
        let region = env.string(&GOOGLE_CLOUD_REGION);
        if backend == GeminiBackend::Vertex && project.is_none() {
            return Err(ConfigError::Other(
                "GEMINI_BACKEND=vertex needs GOOGLE_CLOUD_PROJECT".into(),
            ));
        }
        // It becomes part of a host name, so only a location's own characters are accepted
        // (infra/variables.tf validates vertex_location the same way).
        let vertex_location = env.string(&VERTEX_LOCATION).unwrap_or_default();
        let is_region = vertex_location.starts_with(|c: char| c.is_ascii_lowercase())
            && vertex_location.ends_with(|c: char| c.is_ascii_digit())
            && vertex_location
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
        if vertex_location != "global" && !is_region {
            return Err(invalid(
                &VERTEX_LOCATION,
                &vertex_location,
                "global or a region such as us-central1",
            ));
        }
        let api_key = match env.raw(&GEMINI_API_KEY) {
            None => None,
            Some(key) if key.trim().is_empty() => None,
            Some(key) => {
                let key = key.trim();
                if key.chars().any(|c| c.is_whitespace() || c.is_control()) {
                    return Err(ConfigError::Secret {
                        var: GEMINI_API_KEY.name,
                        reason: "contains whitespace or control characters".into(),
                    });
                }
                Some(SecretString::from(key.to_owned()))
            }
        };
        let base_url = match env.string(&GEMINI_BASE_URL) {
            None => None,
            Some(url) if url.starts_with("http://") || url.starts_with("https://") => {
                Some(url.trim_end_matches('/').to_owned())
            }
            Some(url) => {
                return Err(invalid(
                    &GEMINI_BASE_URL,
                    &url,
                    "an http:// or https:// URL",
                ));
            }
        };
        let fallback_model = match env.raw(&GEMINI_FALLBACK_MODEL) {
            Some(v) if v.trim().is_empty() => None,
            _ => env.model(&GEMINI_FALLBACK_MODEL)?,
        };
        let gemini = GeminiConfig {
            backend,
            api_key,
            model: env.model(&GEMINI_MODEL)?.unwrap_or_default(),
            fallback_model,
            base_url,
            metadata_host: env.string(&GCE_METADATA_HOST).unwrap_or_default(),
            project: project.clone(),
            vertex_location,
            timeout: env.seconds(&GEMINI_TIMEOUT_SECS, 1, 600)?,
            first_byte_timeout: env.seconds(&GEMINI_FIRST_BYTE_TIMEOUT_SECS, 1, 300)?,
            stall_timeout: env.seconds(&GEMINI_STALL_TIMEOUT_SECS, 1, 300)?,
            max_output_tokens: env.number(&GEMINI_MAX_OUTPUT_TOKENS, 64, 65_536)?,
            max_retries: env.number(&GEMINI_MAX_RETRIES, 0, 5)?,
        };
        let live_url = match env.string(&GEMINI_LIVE_URL) {
            None => None,
            Some(url) if url.starts_with("ws://") || url.starts_with("wss://") => Some(url),
            Some(url) => return Err(invalid(&GEMINI_LIVE_URL, &url, "a ws:// or wss:// URL")),
        };
        let live = LiveConfig {
            model: env.model(&GEMINI_LIVE_MODEL)?.unwrap_or_default(),
            url: live_url,
            daily_minutes_per_user: env.number(&LIVE_DAILY_MINUTES_PER_USER, 0, 1_440)?,
            daily_minutes_total: env.number(&LIVE_DAILY_MINUTES_TOTAL, 0, 10_000_000)?,
            idle_timeout: Duration::from_secs(60),
            charge_interval: Duration::from_secs(10),
        };
        let persona = match (
            env.raw(&ASSISTANT_PERSONA),
            env.string(&ASSISTANT_PERSONA_FILE),
        ) {
            (Some(text), _) if !text.trim().is_empty() => text.trim().to_owned(),
            (_, Some(path)) => {
                let text = std::fs::read_to_string(&path).map_err(|e| {
                    invalid(
                        &ASSISTANT_PERSONA_FILE,
                        &path,
                        &format!("a readable file ({e})"),
                    )
                })?;
                if text.trim().is_empty() {
                    return Err(invalid(&ASSISTANT_PERSONA_FILE, &path, "a non-empty file"));
                }
                text.trim().to_owned()
            }
            _ => DEFAULT_PERSONA.to_owned(),
        };
        let log_format = match env.string(&LOG_FORMAT).map(|s| s.to_ascii_lowercase()) {
            Some(f) if f == "json" => LogFormat::Json,
            Some(f) if f == "text" || f == "pretty" => LogFormat::Text,
            Some(f) => return Err(invalid(&LOG_FORMAT, &f, "json or text")),
            None if cloud_run_service.is_some() || !std::io::stdout().is_terminal() => {
                LogFormat::Json
            }
            None => LogFormat::Text,
        };
        let log_level = env.string(&LOG_LEVEL).unwrap_or_default();
        if tracing_subscriber::EnvFilter::try_new(&log_level).is_err() {
            return Err(invalid(
                &LOG_LEVEL,
                &log_level,
                "error, warn, info, debug, trace or a tracing filter",
            ));
        }
        let rate_limit = RateLimitConfig {
            enabled: env.bool(&RATE_LIMIT_ENABLED)?,
            user_per_minute: env.number(&RATE_LIMIT_USER_PER_MINUTE, 1, 100_000)?,
            user_burst: env.number(&RATE_LIMIT_USER_BURST, 1, 100_000)?,
            ip_per_minute: env.number(&RATE_LIMIT_IP_PER_MINUTE, 1, 1_000_000)?,
            new_sessions_per_ip_per_hour: env.number(
                &RATE_LIMIT_NEW_SESSIONS_PER_IP_PER_HOUR,
                1,
                1_000_000,
            )?,
            store: match env.string(&RATE_LIMIT_STORE).as_deref() {
                Some("memory") => RateLimitStore::Memory,
                Some("postgres") | Some("database") => RateLimitStore::Database,
                other => {
                    return Err(invalid(
                        &RATE_LIMIT_STORE,
                        other.unwrap_or_default(),
                        "memory or postgres",
                    ));
                }
            },
        };
        let database_url = DatabaseUrl::parse(&env.raw_or_default(&DATABASE_URL))?;
        let port = {
            let value = env.string(&PORT).unwrap_or_default();
            value
                .parse::<u16>()
                .map_err(|_| invalid(&PORT, &value, "a port number"))?
        };
        let retention_days: u64 = env.number(&RETENTION_DAYS, 0, 36_500)?;
        let grounding = match env.string(&GEMINI_GROUNDING).as_deref() {
            Some("on") | Some("true") => true,
            Some("off") | Some("false") => false,
            other => {
                return Err(invalid(
                    &GEMINI_GROUNDING,
                    other.unwrap_or_default(),
                    "on or off",
                ));
            }
        };
        let http_url = |var: &EnvVar| -> Result<String, ConfigError> {
            let url = env.string(var).unwrap_or_default();
            if url.starts_with("http://") || url.starts_with("https://") {
                Ok(url.trim_end_matches('/').to_owned())
            } else {
                Err(invalid(var, &url, "an http:// or https:// URL"))
            }
        };
        let session_ttl_days: u64 = env.number(&SESSION_TTL_DAYS, 1, 36_500)?;
        Ok(Config {
            port,
            database_url,
            database_max_connections: env.number(&DATABASE_MAX_CONNECTIONS, 1, 1000)?,
            migrate_on_start: env.bool(&MIGRATE_ON_START)?,
            gemini,
            live,
            grounding,
            ai_daily_grounded_total: env.number(&AI_DAILY_GROUNDED_TOTAL, 0, 1_000_000)?,
            weather_base_url: http_url(&WEATHER_BASE_URL)?,
            geocoding_base_url: http_url(&GEOCODING_BASE_URL)?,
            persona,
            context_turns: env.number(&CONTEXT_TURNS, 0, 100)?,
            cors_origins: parse_cors(env.string(&CORS_ORIGINS).as_deref())?,
            trust_proxy: env.bool(&TRUST_PROXY)?,
            log_format,
            log_level,
            google_cloud_project: project,
            google_cloud_region: region,
            cloud_run_service,
            cloud_run_revision: env.string(&K_REVISION),
            rate_limit,
            ai_daily_requests_per_user: env.number(&AI_DAILY_REQUESTS_PER_USER, 0, 10_000_000)?,
            ai_daily_requests_per_ip: env.number(&AI_DAILY_REQUESTS_PER_IP, 0, 10_000_000)?,
            ai_daily_requests_total: env.number(&AI_DAILY_REQUESTS_TOTAL, 0, 100_000_000)?,
            max_upload_bytes: env.number(&MAX_UPLOAD_BYTES, 1024, 100 * 1024 * 1024)?,
            max_ws_message_bytes: env.number(&MAX_WS_MESSAGE_BYTES, 1024, 16 * 1024 * 1024)?,
            ws_idle_timeout: env.seconds(&WS_IDLE_TIMEOUT, 1, 24 * 3600)?,
            ws_max_lifetime: env.seconds(&WS_MAX_LIFETIME_SECS, 10, 24 * 3600)?,
            ws_ping_interval: env.seconds(&WS_PING_INTERVAL, 1, 3600)?,
            http: HttpConfig {
                header_read_timeout: env.seconds(&HTTP_HEADER_READ_TIMEOUT_SECS, 1, 600)?,
                idle_timeout: env.seconds(&HTTP_IDLE_TIMEOUT_SECS, 1, 3600)?,
                max_connections_per_ip: env.number(&MAX_CONNECTIONS_PER_IP, 1, 1_000_000)?,
            },
            session_ttl: Duration::from_secs(session_ttl_days * 86_400),
            retention: (retention_days > 0).then(|| Duration::from_secs(retention_days * 86_400)),
            shutdown_grace: env.seconds(&SHUTDOWN_GRACE_SECS, 0, 3600)?,
        })
    }

    /// A configuration for tests and tools: in-memory SQLite, offline model, no limits.
    pub fn for_tests() -> Self {
        let mut config = Self::from_lookup(|name| match name {
            "DATABASE_URL" => Some("sqlite::memory:".into()),
            "LOG_FORMAT" => Some("text".into()),
            _ => None,
        })
        .expect("the test configuration is valid");
        config.port = 0;
        config.rate_limit.enabled = false;
        config
    }

    pub fn on_cloud_run(&self) -> bool {
        self.cloud_run_service.is_some()
    }
}

/// `Debug` shows everything an operator may want to check, and nothing secret.
impl fmt::Debug for Config {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Config")
            .field("port", &self.port)
            .field("database_url", &self.database_url)
            .field("database_max_connections", &self.database_max_connections)
            .field("migrate_on_start", &self.migrate_on_start)
            .field("gemini", &self.gemini)
            .field("live", &self.live)
            .field("grounding", &self.grounding)
            .field("ai_daily_grounded_total", &self.ai_daily_grounded_total)
            .field("weather_base_url", &self.weather_base_url)
            .field("geocoding_base_url", &self.geocoding_base_url)
            .field("persona_chars", &self.persona.chars().count())
            .field("context_turns", &self.context_turns)
            .field("cors_origins", &self.cors_origins)
            .field("trust_proxy", &self.trust_proxy)
            .field("log_format", &self.log_format)
            .field("log_level", &self.log_level)
            .field("google_cloud_project", &self.google_cloud_project)
            .field("google_cloud_region", &self.google_cloud_region)
            .field("cloud_run_service", &self.cloud_run_service)
            .field("rate_limit", &self.rate_limit)
            .field(
                "ai_daily_requests_per_user",
                &self.ai_daily_requests_per_user,
            )
            .field("ai_daily_requests_per_ip", &self.ai_daily_requests_per_ip)
            .field("ai_daily_requests_total", &self.ai_daily_requests_total)
            .field("max_upload_bytes", &self.max_upload_bytes)
            .field("max_ws_message_bytes", &self.max_ws_message_bytes)
            .field("ws_idle_timeout", &self.ws_idle_timeout)
            .field("ws_max_lifetime", &self.ws_max_lifetime)
            .field("ws_ping_interval", &self.ws_ping_interval)
            .field("http", &self.http)
            .field("session_ttl", &self.session_ttl)
            .field("retention", &self.retention)
            .field("shutdown_grace", &self.shutdown_grace)
            .finish()
    }
}

impl fmt::Debug for GeminiConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GeminiConfig")
            .field("backend", &self.backend)
            .field("api_key", &self.api_key.as_ref().map(|_| "[REDACTED]"))
            .field("model", &self.model)
            .field("fallback_model", &self.fallback_model)
            .field("base_url", &self.base_url)
            .field("metadata_host", &self.metadata_host)
            .field("project", &self.project)
            .field("vertex_location", &self.vertex_location)
            .field("timeout", &self.timeout)
            .field("first_byte_timeout", &self.first_byte_timeout)
            .field("stall_timeout", &self.stall_timeout)
            .field("max_output_tokens", &self.max_output_tokens)
            .field("max_retries", &self.max_retries)
            .finish()
    }
}

fn invalid(var: &EnvVar, value: &str, expected: &str) -> ConfigError {
    ConfigError::Invalid {
        var: var.name,
        value: value.to_owned(),
        expected: expected.to_owned(),
    }
}

fn parse_cors(value: Option<&str>) -> Result<CorsOrigins, ConfigError> {
    let Some(value) = value else {
        return Ok(CorsOrigins::List(Vec::new()));
    };
    let mut origins = Vec::new();
    for entry in value.split(',').map(str::trim).filter(|e| !e.is_empty()) {
        if entry == "*" {
            return Ok(CorsOrigins::Any);
        }
        let entry = entry.trim_end_matches('/');
        let valid = ["http://", "https://"].iter().any(|scheme| {
            entry.strip_prefix(scheme).is_some_and(|host| {
                !host.is_empty()
                    && !host.contains(['/', '?', '#', ' '])
                    && http::HeaderValue::from_str(entry).is_ok()
            })
        });
        if !valid {
            return Err(invalid(
                &vars::CORS_ORIGINS,
                entry,
                "comma-separated origins like https://example.com or http://localhost:3000 (scheme and host, no path), or *",
            ));
        }
        origins.push(entry.to_ascii_lowercase());
    }
    Ok(CorsOrigins::List(origins))
}

/// Looks variables up by their declaration, so nothing can be read that is not documented, and
/// an unset variable falls back to its declared default.
struct Env<'a> {
    lookup: &'a dyn Fn(&str) -> Option<String>,
    read: RefCell<BTreeSet<&'static str>>,
}

impl Env<'_> {
    /// The value as set, untrimmed; None when unset.
    fn raw(&self, var: &EnvVar) -> Option<String> {
        self.read.borrow_mut().insert(var.name);
        (self.lookup)(var.name)
    }

    fn raw_or_default(&self, var: &EnvVar) -> String {
        match (self.raw(var), var.default) {
            (Some(value), _) => value,
            (None, Default::Value(default)) => default.to_owned(),
            (None, _) => String::new(),
        }
    }

    /// A non-empty, trimmed value, or the declared default; empty counts as unset, as shells and
    /// Terraform often export empty strings for "no value".
    fn string(&self, var: &EnvVar) -> Option<String> {
        self.raw(var)
            .map(|v| v.trim().to_owned())
            .filter(|v| !v.is_empty())
            .or_else(|| match var.default {
                Default::Value(default) => Some(default.to_owned()),
                _ => None,
            })
    }

    fn bool(&self, var: &EnvVar) -> Result<bool, ConfigError> {
        let value = self.string(var).unwrap_or_default().to_ascii_lowercase();
        match value.as_str() {
            "1" | "true" | "yes" | "on" => Ok(true),
            "0" | "false" | "no" | "off" => Ok(false),
            _ => Err(invalid(var, &value, "true or false")),
        }
    }

    fn number<T>(&self, var: &EnvVar, min: T, max: T) -> Result<T, ConfigError>
    where
        T: std::str::FromStr + PartialOrd + fmt::Display + Copy,
    {
        let value = self.string(var).unwrap_or_default();
        value
            .parse::<T>()
            .ok()
            .filter(|n| *n >= min && *n <= max)
            .ok_or_else(|| invalid(var, &value, &format!("a whole number from {min} to {max}")))
    }

    /// Seconds as a plain number, or with an `s`, `m` or `h` suffix.
    fn seconds(&self, var: &EnvVar, min: u64, max: u64) -> Result<Duration, ConfigError> {
        let v = self.string(var).unwrap_or_default();
        let (digits, unit) = match v.chars().last() {
            Some('s') => (&v[..v.len() - 1], 1),
            Some('m') => (&v[..v.len() - 1], 60),
            Some('h') => (&v[..v.len() - 1], 3600),
            _ => (v.as_str(), 1),
        };
        digits
            .trim()
            .parse::<u64>()
            .ok()
            .and_then(|n| n.checked_mul(unit))
            .filter(|s| *s >= min && *s <= max)
            .map(Duration::from_secs)
            .ok_or_else(|| {
                invalid(
                    var,
                    &v,
                    &format!("a number of seconds from {min} to {max} (suffixes s, m, h allowed)"),
                )
            })
    }

    fn model(&self, var: &EnvVar) -> Result<Option<String>, ConfigError> {
        match self.string(var) {
            None => Ok(None),
            Some(m)
                if m.len() <= 100
                    && m.chars()
                        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '.' | '_')) =>
            {
                Ok(Some(m))
            }
            Some(m) => Err(invalid(var, &m, "a model id such as gemini-3.5-flash-lite")),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    fn config(vars: &[(&str, &str)]) -> Result<Config, ConfigError> {
        let map: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Config::from_lookup(|k| map.get(k).cloned())
    }

    #[test]
    fn defaults_need_no_configuration() {
        let c = config(&[]).expect("defaults are valid");
        assert_eq!(c.port, 8080);
        assert!(!c.database_url.is_postgres());
        assert_eq!(c.database_url.describe(), "sqlite://ballsy.db");
        assert!(!c.gemini.is_online());
        assert_eq!(c.gemini.model, "gemini-3.5-flash-lite");
        assert_eq!(
            c.gemini.fallback_model.as_deref(),
            Some("gemini-3.1-flash-lite")
        );
        assert_eq!(c.cors_origins, CorsOrigins::List(vec![]));
        assert_eq!(c.rate_limit.user_per_minute, 30);
        assert_eq!(c.rate_limit.user_burst, 10);
        assert_eq!(c.rate_limit.ip_per_minute, 120);
        assert_eq!(c.ai_daily_requests_per_user, 100);
        assert_eq!(c.ai_daily_requests_total, 450);
        assert_eq!(c.max_upload_bytes, 2 * 1024 * 1024);
        assert_eq!(c.max_ws_message_bytes, 16 * 1024);
        assert_eq!(c.ws_idle_timeout, Duration::from_secs(300));
        assert_eq!(c.context_turns, 6);
        assert_eq!(c.persona, DEFAULT_PERSONA);
    }

    #[test]
    fn bad_port_names_the_variable_and_value() {
        let err = config(&[("PORT", "abc")]).expect_err("abc is not a port");
        assert_eq!(
            err.to_string(),
            "invalid PORT \"abc\": expected a port number"
        );
        assert!(config(&[("PORT", "70000")]).is_err());
        assert_eq!(config(&[("PORT", "9000")]).unwrap().port, 9000);
    }

    #[test]
    fn secrets_never_appear_in_debug_output() {
        let c = config(&[
            ("GEMINI_API_KEY", "AQ.super-secret-key"),
            (
                "DATABASE_URL",
                "postgres://ballsy:db-pass-123@localhost/ballsy",
            ),
        ])
        .unwrap();
        let debug = format!("{c:?}");
        assert!(!debug.contains("super-secret-key"), "{debug}");
        assert!(!debug.contains("db-pass-123"), "{debug}");
        assert!(debug.contains("[REDACTED]"), "{debug}");
        assert!(c.gemini.is_online());
    }

    #[test]
    fn bad_values_fail_fast_with_precise_messages() {
        let cases: &[(&str, &str, &str)] = &[
            (
                "LOG_FORMAT",
                "xml",
                "invalid LOG_FORMAT \"xml\": expected json or text",
            ),
            (
                "RATE_LIMIT_ENABLED",
                "maybe",
                "invalid RATE_LIMIT_ENABLED \"maybe\": expected true or false",
            ),
            (
                "GEMINI_BACKEND",
                "openai",
                "invalid GEMINI_BACKEND \"openai\": expected developer-api or vertex",
            ),
            (
                "RATE_LIMIT_STORE",
                "redis",
                "invalid RATE_LIMIT_STORE \"redis\": expected memory or postgres",
            ),
            (
                "DATABASE_MAX_CONNECTIONS",
                "0",
                "invalid DATABASE_MAX_CONNECTIONS \"0\": expected a whole number from 1 to 1000",
            ),
        ];
        for (var, value, message) in cases {
            let err = config(&[(var, value)]).expect_err(var);
            assert_eq!(&err.to_string(), message);
        }
    }

    #[test]
    fn cors_origins_are_exact_and_validated() {
        let c = config(&[("CORS_ORIGINS", "https://a.example, http://localhost:3000/")]).unwrap();
        assert_eq!(
            c.cors_origins,
            CorsOrigins::List(vec![
                "https://a.example".into(),
                "http://localhost:3000".into()
            ])
        );
        assert!(c.cors_origins.allows("https://a.example"));
        assert!(!c.cors_origins.allows("https://evil.example"));
        assert_eq!(
            config(&[("CORS_ORIGINS", "*")]).unwrap().cors_origins,
            CorsOrigins::Any
        );
        let err = config(&[("CORS_ORIGINS", "example.com")]).expect_err("no scheme");
        assert!(
            err.to_string()
                .starts_with("invalid CORS_ORIGINS \"example.com\"")
        );
        assert!(config(&[("CORS_ORIGINS", "https://a.example/path")]).is_err());
    }

    #[test]
    fn log_format_defaults_to_json_on_cloud_run() {
        let c = config(&[("K_SERVICE", "ballsy")]).unwrap();
        assert_eq!(c.log_format, LogFormat::Json);
        assert!(c.on_cloud_run());
        let c = config(&[("K_SERVICE", "ballsy"), ("LOG_FORMAT", "text")]).unwrap();
        assert_eq!(c.log_format, LogFormat::Text);
    }

    #[test]
    fn vertex_needs_a_project_and_defaults_to_the_global_location() {
        assert!(config(&[("GEMINI_BACKEND", "vertex")]).is_err());
        let c = config(&[("GEMINI_BACKEND", "vertex"), ("GOOGLE_CLOUD_PROJECT", "p")]).unwrap();
        assert!(c.gemini.is_online(), "vertex needs no API key");
        assert_eq!(c.gemini.vertex_location, "global");
        let c = config(&[
            ("GEMINI_BACKEND", "vertex"),
            ("GOOGLE_CLOUD_PROJECT", "p"),
            ("VERTEX_LOCATION", "europe-west4"),
        ])
        .unwrap();
        assert_eq!(c.gemini.vertex_location, "europe-west4");
        assert!(config(&[("VERTEX_LOCATION", "Europe West")]).is_err());
    }

    #[test]
    fn durations_accept_units() {
        let c = config(&[("WS_IDLE_TIMEOUT", "5m"), ("WS_PING_INTERVAL", "10s")]).unwrap();
        assert_eq!(c.ws_idle_timeout, Duration::from_secs(300));
        assert_eq!(c.ws_ping_interval, Duration::from_secs(10));
        assert!(config(&[("WS_IDLE_TIMEOUT", "soon")]).is_err());
    }

    #[test]
    fn empty_fallback_model_disables_it() {
        let c = config(&[("GEMINI_FALLBACK_MODEL", "")]).unwrap();
        assert_eq!(c.gemini.fallback_model, None);
    }

    #[test]
    fn api_key_with_whitespace_is_rejected_without_echoing_it() {
        let err = config(&[("GEMINI_API_KEY", "abc def")]).expect_err("whitespace");
        assert!(!err.to_string().contains("abc def"));
    }

    #[test]
    fn persona_from_env_or_file() {
        let c = config(&[("ASSISTANT_PERSONA", "You are Testy.")]).unwrap();
        assert_eq!(c.persona, "You are Testy.");
        let dir = std::env::temp_dir().join(format!("ballsy-persona-{}", std::process::id()));
        std::fs::write(&dir, "From a file.\n").unwrap();
        let c = config(&[("ASSISTANT_PERSONA_FILE", dir.to_str().unwrap())]).unwrap();
        assert_eq!(c.persona, "From a file.");
        std::fs::remove_file(&dir).ok();
        assert!(config(&[("ASSISTANT_PERSONA_FILE", "/nonexistent/persona.txt")]).is_err());
    }

    #[test]
    fn every_declared_variable_is_read_and_nothing_else() {
        let read = Config::names_read(|_| None);
        let declared: BTreeSet<&str> = ENV_VARS.iter().map(|v| v.name).collect();
        assert_eq!(read, declared);
    }

    #[test]
    fn declared_defaults_are_the_parsed_defaults() {
        // Every `Value` default must parse: the configuration with nothing set is exactly the
        // documented one.
        let c = config(&[]).expect("the declared defaults are valid");
        assert_eq!(
            c.port.to_string(),
            vars::PORT.default.to_string(),
            "PORT default"
        );
        assert_eq!(c.ws_max_lifetime, Duration::from_secs(1800));
        assert_eq!(c.ai_daily_requests_per_ip, 100);
        assert_eq!(c.rate_limit.new_sessions_per_ip_per_hour, 20);
        assert_eq!(c.session_ttl, Duration::from_secs(180 * 86_400));
        assert_eq!(c.retention, Some(Duration::from_secs(90 * 86_400)));
        assert_eq!(c.http.header_read_timeout, Duration::from_secs(10));
        assert_eq!(c.gemini.vertex_location, "global");
        assert_eq!(config(&[("RETENTION_DAYS", "0")]).unwrap().retention, None);
    }

    #[test]
    fn the_markdown_table_has_a_row_per_variable() {
        let table = markdown_table();
        assert_eq!(table.lines().count(), ENV_VARS.len() + 2);
        assert!(table.contains("| `PORT` | 8080 | TCP port to listen on"));
    }
}

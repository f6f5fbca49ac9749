//! Every setting Ballsy reads, parsed once at start from the environment.
//!
//! Cloud Run configuration is environment variables (plain or mounted from Secret Manager), so
//! there are no config files. Parsing takes a lookup function rather than reading
//! `std::env` directly, which lets tests build configurations without touching the process
//! environment. Any bad value stops start-up with a message naming the variable, the value and
//! what was expected; secrets are never echoed.

use std::fmt;
use std::io::IsTerminal;
use std::time::Duration;

use secrecy::SecretString;

use crate::assistant::persona::DEFAULT_PERSONA;
use crate::store::url::DatabaseUrl;

/// Public Gemini Developer API endpoint; `/v1beta/models/...` is appended.
pub const DEFAULT_GEMINI_BASE_URL: &str = "https://generativelanguage.googleapis.com";
pub const DEFAULT_GEMINI_MODEL: &str = "gemini-3.5-flash-lite";
pub const DEFAULT_GEMINI_FALLBACK_MODEL: &str = "gemini-3.1-flash-lite";
pub const DEFAULT_METADATA_HOST: &str = "metadata.google.internal";
pub const DEFAULT_VERTEX_LOCATION: &str = "global";
/// The longest command accepted over HTTP and the WebSocket (the predecessor's limit).
pub const MAX_COMMAND_CHARS: usize = 1000;

/// One documented environment variable. The table drives `--help`, and a test checks that the
/// README's configuration table lists exactly these names.
pub struct EnvVar {
    pub name: &'static str,
    pub default: &'static str,
    pub meaning: &'static str,
}

pub const ENV_VARS: &[EnvVar] = &[
    EnvVar {
        name: "PORT",
        default: "8080",
        meaning: "TCP port to listen on (0.0.0.0). Cloud Run injects it.",
    },
    EnvVar {
        name: "DATABASE_URL",
        default: "sqlite://ballsy.db",
        meaning: "postgres://USER:PASS@HOST:5432/DB, postgresql+psycopg2://USER:PASS@/DB?host=/cloudsql/CONNECTION_NAME, sqlite://FILE or sqlite::memory:.",
    },
    EnvVar {
        name: "DATABASE_MAX_CONNECTIONS",
        default: "5",
        meaning: "Connection pool size per process. Keep max_instances x this under the Cloud SQL limit (about 25 on db-f1-micro).",
    },
    EnvVar {
        name: "MIGRATE_ON_START",
        default: "true",
        meaning: "Apply pending migrations when `serve` starts (Postgres takes an advisory lock, so instances can start together).",
    },
    EnvVar {
        name: "GEMINI_API_KEY",
        default: "(unset: offline assistant)",
        meaning: "Gemini Developer API key, sent in the x-goog-api-key header. Without it (and without GEMINI_BACKEND=vertex) Ballsy runs its labelled offline model.",
    },
    EnvVar {
        name: "GEMINI_BACKEND",
        default: "developer-api",
        meaning: "developer-api (API key) or vertex (Vertex AI with the service account's token from the metadata server; needs GOOGLE_CLOUD_PROJECT, location from VERTEX_LOCATION).",
    },
    EnvVar {
        name: "GEMINI_MODEL",
        default: DEFAULT_GEMINI_MODEL,
        meaning: "Model for open questions.",
    },
    EnvVar {
        name: "GEMINI_FALLBACK_MODEL",
        default: DEFAULT_GEMINI_FALLBACK_MODEL,
        meaning: "Model used when the primary is retired (404) or out of quota (429); empty disables.",
    },
    EnvVar {
        name: "GEMINI_BASE_URL",
        default: "https://generativelanguage.googleapis.com (vertex: https://aiplatform.googleapis.com for global, else https://LOCATION-aiplatform.googleapis.com)",
        meaning: "API endpoint; tests point it at the fake Gemini server.",
    },
    EnvVar {
        name: "GEMINI_TIMEOUT_SECS",
        default: "30",
        meaning: "Overall deadline for one AI answer, retries included.",
    },
    EnvVar {
        name: "GEMINI_FIRST_BYTE_TIMEOUT_SECS",
        default: "10",
        meaning: "Longest wait for the first streamed chunk of an attempt.",
    },
    EnvVar {
        name: "GEMINI_STALL_TIMEOUT_SECS",
        default: "15",
        meaning: "Longest silence between two streamed chunks.",
    },
    EnvVar {
        name: "GEMINI_MAX_OUTPUT_TOKENS",
        default: "1024",
        meaning: "Output token cap per answer (thinking included; the persona keeps answers short).",
    },
    EnvVar {
        name: "GEMINI_MAX_RETRIES",
        default: "2",
        meaning: "Retries on 429/500/503/504 and transport errors, only before the first chunk reached the user.",
    },
    EnvVar {
        name: "GCE_METADATA_HOST",
        default: DEFAULT_METADATA_HOST,
        meaning: "Metadata server for Vertex AI tokens (tests point it at a fake).",
    },
    EnvVar {
        name: "GOOGLE_CLOUD_PROJECT",
        default: "(unset)",
        meaning: "Project id: Vertex AI endpoint, and the trace field of Cloud Logging lines.",
    },
    EnvVar {
        name: "GOOGLE_CLOUD_REGION",
        default: "(unset)",
        meaning: "Region the service runs in (Cloud Run), e.g. us-central1. Not the Vertex AI location.",
    },
    EnvVar {
        name: "VERTEX_LOCATION",
        default: DEFAULT_VERTEX_LOCATION,
        meaning: "Vertex AI location: global (where new Gemini models are served first) or a region such as us-central1.",
    },
    EnvVar {
        name: "ASSISTANT_PERSONA",
        default: "(built-in Ballsy persona)",
        meaning: "System prompt for the model.",
    },
    EnvVar {
        name: "ASSISTANT_PERSONA_FILE",
        default: "(unset)",
        meaning: "Read the system prompt from this file instead.",
    },
    EnvVar {
        name: "CONTEXT_TURNS",
        default: "6",
        meaning: "How many earlier messages of the conversation (user or assistant) are sent with each question.",
    },
    EnvVar {
        name: "CORS_ORIGINS",
        default: "(empty: same origin only)",
        meaning: "Comma-separated exact origins allowed to call the API and open the WebSocket; * only for local development.",
    },
    EnvVar {
        name: "TRUST_PROXY",
        default: "false",
        meaning: "Take the client IP from the last X-Forwarded-For entry (set true on Cloud Run, whose front end appends it).",
    },
    EnvVar {
        name: "LOG_FORMAT",
        default: "json when K_SERVICE is set or stdout is not a terminal, else text",
        meaning: "json (one Cloud Logging object per line) or text.",
    },
    EnvVar {
        name: "LOG_LEVEL",
        default: "info",
        meaning: "error, warn, info, debug, trace, or a tracing filter such as ballsy=debug,sqlx=warn.",
    },
    EnvVar {
        name: "RATE_LIMIT_ENABLED",
        default: "true",
        meaning: "false turns the per-user, per-IP and per-socket frame limits off (benchmarks, trusted private deployments).",
    },
    EnvVar {
        name: "RATE_LIMIT_USER_PER_MINUTE",
        default: "30",
        meaning: "Commands per user per minute.",
    },
    EnvVar {
        name: "RATE_LIMIT_USER_BURST",
        default: "10",
        meaning: "Commands a user may send at once before the per-minute rate applies.",
    },
    EnvVar {
        name: "RATE_LIMIT_IP_PER_MINUTE",
        default: "120",
        meaning: "API requests and WebSocket commands per client IP per minute (burst of the same size).",
    },
    EnvVar {
        name: "RATE_LIMIT_STORE",
        default: "memory",
        meaning: "memory (per instance) or postgres (the per-user limit is shared by all instances through the database).",
    },
    EnvVar {
        name: "AI_DAILY_REQUESTS_PER_USER",
        default: "100",
        meaning: "AI questions per user per UTC day; smart commands stay available beyond it.",
    },
    EnvVar {
        name: "AI_DAILY_REQUESTS_TOTAL",
        default: "450",
        meaning: "AI questions per UTC day for the whole service (under the free tier's 500 per model).",
    },
    EnvVar {
        name: "MAX_UPLOAD_BYTES",
        default: "2097152",
        meaning: "Largest audio upload to /api/voice.",
    },
    EnvVar {
        name: "MAX_WS_MESSAGE_BYTES",
        default: "16384",
        meaning: "Largest WebSocket message; bigger ones close the socket with 1009.",
    },
    EnvVar {
        name: "WS_IDLE_TIMEOUT",
        default: "300",
        meaning: "Seconds without client activity before a WebSocket is closed with 1000 (so idle tabs do not keep an instance billed).",
    },
    EnvVar {
        name: "WS_PING_INTERVAL",
        default: "25",
        meaning: "Seconds between server pings; a peer silent for three intervals is dropped.",
    },
    EnvVar {
        name: "SHUTDOWN_GRACE_SECS",
        default: "8",
        meaning: "On SIGTERM, how long in-flight replies may take before sockets are closed (Cloud Run kills after 10 s).",
    },
    EnvVar {
        name: "K_SERVICE",
        default: "(set by Cloud Run)",
        meaning: "Marks a Cloud Run deployment: JSON logs by default, warnings for development-only settings.",
    },
    EnvVar {
        name: "K_REVISION",
        default: "(set by Cloud Run)",
        meaning: "Logged at start-up to tell revisions apart.",
    },
];

/// The configuration of one process.
#[derive(Clone)]
pub struct Config {
    pub port: u16,
    pub database_url: DatabaseUrl,
    pub database_max_connections: u32,
    pub migrate_on_start: bool,
    pub gemini: GeminiConfig,
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
    pub ai_daily_requests_total: u32,
    pub max_upload_bytes: usize,
    pub max_ws_message_bytes: usize,
    pub ws_idle_timeout: Duration,
    pub ws_ping_interval: Duration,
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
    /// `global` or a region; picks both the Vertex host and the `locations/` path segment.
    pub vertex_location: String,
    pub timeout: Duration,
    pub first_byte_timeout: Duration,
    pub stall_timeout: Duration,
    pub max_output_tokens: u32,
    pub max_retries: u32,
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
    pub store: RateLimitStore,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RateLimitStore {
    Memory,
    /// The per-user limit lives in the database, shared by every instance.
    Database,
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
        let env = Env { lookup: &lookup };
        let cloud_run_service = env.string("K_SERVICE");
        let backend = match env.string("GEMINI_BACKEND").as_deref() {
            None | Some("developer-api") | Some("developer") => GeminiBackend::DeveloperApi,
            Some("vertex") => GeminiBackend::Vertex,
            Some(other) => return Err(invalid("GEMINI_BACKEND", other, "developer-api or vertex")),
        };
        let project = env.string("GOOGLE_CLOUD_PROJECT");
        if backend == GeminiBackend::Vertex && project.is_none() {
            return Err(ConfigError::Other(
                "GEMINI_BACKEND=vertex needs GOOGLE_CLOUD_PROJECT".into(),
            ));
        }
        // It becomes part of a host name, so only a location's own characters are accepted.
        let vertex_location = match env.string("VERTEX_LOCATION") {
            None => DEFAULT_VERTEX_LOCATION.to_owned(),
            Some(l)
                if l == "global"
                    || (l.starts_with(|c: char| c.is_ascii_lowercase())
                        && l.ends_with(|c: char| c.is_ascii_digit())
                        && l.chars()
                            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')) =>
            {
                l
            }
            Some(l) => {
                return Err(invalid(
                    "VERTEX_LOCATION",
                    &l,
                    "global or a region such as us-central1",
                ));
            }
        };
        let api_key = match env.raw("GEMINI_API_KEY") {
            None => None,
            Some(key) if key.trim().is_empty() => None,
            Some(key) => {
                let key = key.trim();
                if key.chars().any(|c| c.is_whitespace() || c.is_control()) {
                    return Err(ConfigError::Secret {
                        var: "GEMINI_API_KEY",
                        reason: "contains whitespace or control characters".into(),
                    });
                }
                Some(SecretString::from(key.to_owned()))
            }
        };
        let base_url = match env.string("GEMINI_BASE_URL") {
            None => None,
            Some(url) if url.starts_with("http://") || url.starts_with("https://") => {
                Some(url.trim_end_matches('/').to_owned())
            }
            Some(url) => {
                return Err(invalid(
                    "GEMINI_BASE_URL",
                    &url,
                    "an http:// or https:// URL",
                ));
            }
        };
        let gemini = GeminiConfig {
            backend,
            api_key,
            model: env
                .model("GEMINI_MODEL")?
                .unwrap_or_else(|| DEFAULT_GEMINI_MODEL.into()),
            fallback_model: match env.raw("GEMINI_FALLBACK_MODEL") {
                Some(v) if v.trim().is_empty() => None,
                Some(_) => env.model("GEMINI_FALLBACK_MODEL")?,
                None => Some(DEFAULT_GEMINI_FALLBACK_MODEL.into()),
            },
            base_url,
            metadata_host: env
                .string("GCE_METADATA_HOST")
                .unwrap_or_else(|| DEFAULT_METADATA_HOST.into()),
            project: project.clone(),
            vertex_location,
            timeout: env.seconds("GEMINI_TIMEOUT_SECS", 30, 1, 600)?,
            first_byte_timeout: env.seconds("GEMINI_FIRST_BYTE_TIMEOUT_SECS", 10, 1, 300)?,
            stall_timeout: env.seconds("GEMINI_STALL_TIMEOUT_SECS", 15, 1, 300)?,
            max_output_tokens: env.number("GEMINI_MAX_OUTPUT_TOKENS", 1024, 64, 65_536)?,
            max_retries: env.number("GEMINI_MAX_RETRIES", 2, 0, 5)?,
        };
        let persona = match (
            env.raw("ASSISTANT_PERSONA"),
            env.string("ASSISTANT_PERSONA_FILE"),
        ) {
            (Some(text), _) if !text.trim().is_empty() => text.trim().to_owned(),
            (_, Some(path)) => {
                let text = std::fs::read_to_string(&path).map_err(|e| {
                    invalid(
                        "ASSISTANT_PERSONA_FILE",
                        &path,
                        &format!("a readable file ({e})"),
                    )
                })?;
                if text.trim().is_empty() {
                    return Err(invalid("ASSISTANT_PERSONA_FILE", &path, "a non-empty file"));
                }
                text.trim().to_owned()
            }
            _ => DEFAULT_PERSONA.to_owned(),
        };
        let log_format = match env.string("LOG_FORMAT").map(|s| s.to_ascii_lowercase()) {
            Some(f) if f == "json" => LogFormat::Json,
            Some(f) if f == "text" || f == "pretty" => LogFormat::Text,
            Some(f) => return Err(invalid("LOG_FORMAT", &f, "json or text")),
            None if cloud_run_service.is_some() || !std::io::stdout().is_terminal() => {
                LogFormat::Json
            }
            None => LogFormat::Text,
        };
        let log_level = env.string("LOG_LEVEL").unwrap_or_else(|| "info".into());
        if tracing_subscriber::EnvFilter::try_new(&log_level).is_err() {
            return Err(invalid(
                "LOG_LEVEL",
                &log_level,
                "error, warn, info, debug, trace or a tracing filter",
            ));
        }
        let rate_limit = RateLimitConfig {
            enabled: env.bool("RATE_LIMIT_ENABLED", true)?,
            user_per_minute: env.number("RATE_LIMIT_USER_PER_MINUTE", 30, 1, 100_000)?,
            user_burst: env.number("RATE_LIMIT_USER_BURST", 10, 1, 100_000)?,
            ip_per_minute: env.number("RATE_LIMIT_IP_PER_MINUTE", 120, 1, 1_000_000)?,
            store: match env.string("RATE_LIMIT_STORE").as_deref() {
                None | Some("memory") => RateLimitStore::Memory,
                Some("postgres") | Some("database") => RateLimitStore::Database,
                Some(other) => {
                    return Err(invalid("RATE_LIMIT_STORE", other, "memory or postgres"));
                }
            },
        };
        let database_url = match env.raw("DATABASE_URL") {
            Some(url) => DatabaseUrl::parse(&url)?,
            None => DatabaseUrl::default_sqlite(),
        };
        Ok(Config {
            port: match env.string("PORT") {
                None => 8080,
                Some(p) => p
                    .parse::<u16>()
                    .map_err(|_| invalid("PORT", &p, "a port number"))?,
            },
            database_url,
            database_max_connections: env.number("DATABASE_MAX_CONNECTIONS", 5, 1, 1000)?,
            migrate_on_start: env.bool("MIGRATE_ON_START", true)?,
            gemini,
            persona,
            context_turns: env.number("CONTEXT_TURNS", 6, 0, 100)?,
            cors_origins: parse_cors(env.string("CORS_ORIGINS").as_deref())?,
            trust_proxy: env.bool("TRUST_PROXY", false)?,
            log_format,
            log_level,
            google_cloud_project: project,
            google_cloud_region: env.string("GOOGLE_CLOUD_REGION"),
            cloud_run_service,
            cloud_run_revision: env.string("K_REVISION"),
            rate_limit,
            ai_daily_requests_per_user: env.number(
                "AI_DAILY_REQUESTS_PER_USER",
                100,
                0,
                10_000_000,
            )?,
            ai_daily_requests_total: env.number("AI_DAILY_REQUESTS_TOTAL", 450, 0, 100_000_000)?,
            max_upload_bytes: env.number(
                "MAX_UPLOAD_BYTES",
                2 * 1024 * 1024,
                1024,
                100 * 1024 * 1024,
            )?,
            max_ws_message_bytes: env.number(
                "MAX_WS_MESSAGE_BYTES",
                16 * 1024,
                1024,
                16 * 1024 * 1024,
            )?,
            ws_idle_timeout: env.seconds("WS_IDLE_TIMEOUT", 300, 1, 24 * 3600)?,
            ws_ping_interval: env.seconds("WS_PING_INTERVAL", 25, 1, 3600)?,
            shutdown_grace: env.seconds("SHUTDOWN_GRACE_SECS", 8, 0, 3600)?,
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
            .field("ai_daily_requests_total", &self.ai_daily_requests_total)
            .field("max_upload_bytes", &self.max_upload_bytes)
            .field("max_ws_message_bytes", &self.max_ws_message_bytes)
            .field("ws_idle_timeout", &self.ws_idle_timeout)
            .field("ws_ping_interval", &self.ws_ping_interval)
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

fn invalid(var: &'static str, value: &str, expected: &str) -> ConfigError {
    ConfigError::Invalid {
        var,
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
                "CORS_ORIGINS",
                entry,
                "comma-separated origins like https://example.com or http://localhost:3000 (scheme and host, no path), or *",
            ));
        }
        origins.push(entry.to_ascii_lowercase());
    }
    Ok(CorsOrigins::List(origins))
}

struct Env<'a> {
    lookup: &'a dyn Fn(&str) -> Option<String>,
}

impl Env<'_> {
    fn raw(&self, name: &str) -> Option<String> {
        (self.lookup)(name)
    }

    /// A non-empty, trimmed value; empty counts as unset, as shells and Terraform often export
    /// empty strings for "no value".
    fn string(&self, name: &str) -> Option<String> {
        self.raw(name)
            .map(|v| v.trim().to_owned())
            .filter(|v| !v.is_empty())
    }

    fn bool(&self, name: &'static str, default: bool) -> Result<bool, ConfigError> {
        match self.string(name).map(|v| v.to_ascii_lowercase()) {
            None => Ok(default),
            Some(v) => match v.as_str() {
                "1" | "true" | "yes" | "on" => Ok(true),
                "0" | "false" | "no" | "off" => Ok(false),
                _ => Err(invalid(name, &v, "true or false")),
            },
        }
    }

    fn number<T>(&self, name: &'static str, default: T, min: T, max: T) -> Result<T, ConfigError>
    where
        T: std::str::FromStr + PartialOrd + fmt::Display + Copy,
    {
        match self.string(name) {
            None => Ok(default),
            Some(v) => v
                .parse::<T>()
                .ok()
                .filter(|n| *n >= min && *n <= max)
                .ok_or_else(|| invalid(name, &v, &format!("a whole number from {min} to {max}"))),
        }
    }

    /// Seconds as a plain number, or with an `s`, `m` or `h` suffix.
    fn seconds(
        &self,
        name: &'static str,
        default: u64,
        min: u64,
        max: u64,
    ) -> Result<Duration, ConfigError> {
        let Some(v) = self.string(name) else {
            return Ok(Duration::from_secs(default));
        };
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
                    name,
                    &v,
                    &format!("a number of seconds from {min} to {max} (suffixes s, m, h allowed)"),
                )
            })
    }

    fn model(&self, name: &'static str) -> Result<Option<String>, ConfigError> {
        match self.string(name) {
            None => Ok(None),
            Some(m)
                if m.len() <= 100
                    && m.chars()
                        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '.' | '_')) =>
            {
                Ok(Some(m))
            }
            Some(m) => Err(invalid(
                name,
                &m,
                "a model id such as gemini-3.5-flash-lite",
            )),
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
    fn vertex_needs_only_the_project_and_defaults_to_the_global_location() {
        let err = config(&[("GEMINI_BACKEND", "vertex")]).expect_err("no project");
        assert_eq!(
            err.to_string(),
            "GEMINI_BACKEND=vertex needs GOOGLE_CLOUD_PROJECT"
        );
        let c = config(&[("GEMINI_BACKEND", "vertex"), ("GOOGLE_CLOUD_PROJECT", "p")]).unwrap();
        assert!(c.gemini.is_online(), "vertex needs no API key");
        assert_eq!(c.gemini.vertex_location, "global");
        // The Cloud Run region is not the Vertex location.
        let c = config(&[
            ("GEMINI_BACKEND", "vertex"),
            ("GOOGLE_CLOUD_PROJECT", "p"),
            ("GOOGLE_CLOUD_REGION", "europe-west1"),
            ("VERTEX_LOCATION", "us-central1"),
        ])
        .unwrap();
        assert_eq!(c.gemini.vertex_location, "us-central1");
        assert_eq!(c.google_cloud_region.as_deref(), Some("europe-west1"));
        for bad in ["us-central1-a", "evil.example/x", "Global", "us"] {
            let err = config(&[("VERTEX_LOCATION", bad)]).expect_err(bad);
            assert!(
                err.to_string().starts_with("invalid VERTEX_LOCATION"),
                "{err}"
            );
        }
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
    fn every_env_var_read_is_documented() {
        // Parse the source for lookups and compare with the documented table, so a new
        // variable cannot ship undocumented.
        // Whitespace removed: rustfmt may break `env.number(` and its name across lines.
        let source: String = include_str!("config.rs").split_whitespace().collect();
        let documented: std::collections::BTreeSet<&str> =
            ENV_VARS.iter().map(|v| v.name).collect();
        let mut read = std::collections::BTreeSet::new();
        for pattern in [
            "env.string(\"",
            "env.raw(\"",
            "env.bool(\"",
            "env.number(\"",
            "env.seconds(\"",
            "env.model(\"",
        ] {
            for piece in source.split(pattern).skip(1) {
                if let Some(name) = piece.split('"').next() {
                    read.insert(name);
                }
            }
        }
        assert!(!read.is_empty());
        for name in &read {
            assert!(
                documented.contains(name),
                "{name} is read but not in ENV_VARS"
            );
        }
        for name in &documented {
            assert!(read.contains(name), "{name} is documented but never read");
        }
    }
}

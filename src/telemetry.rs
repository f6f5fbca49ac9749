//! Logging: one JSON object per line for Cloud Logging, or readable text for a terminal.
//!
//! Cloud Run forwards stdout to Cloud Logging and lifts a few keys of each JSON line into the
//! log entry: `severity` (with Cloud Logging's names, so WARN must become WARNING),
//! `message`, `timestamp`, and `logging.googleapis.com/trace` / `spanId` / `trace_sampled`,
//! which group application lines under the request's own log entry. `tracing-subscriber`'s JSON
//! formatter writes `level` and nests span fields, so Ballsy has its own small layer: every
//! field of every enclosing span (request id, path, method, user id, trace) is copied onto each
//! line logged inside it.

use std::io::Write;
use std::sync::Arc;

use serde_json::{Map, Value};
use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing::{Event, Level, Subscriber};
use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::layer::{Context, SubscriberExt};
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, Layer};

use crate::config::{Config, LogFormat};

/// The target of the start-up announcement, always logged.
pub const STARTUP_TARGET: &str = "ballsy::startup";

/// A dependency's log target whose trace lines carry request headers (see `init`).
pub const SECRET_TRACING_TARGET: &str = "tungstenite::handshake::client";

/// Span field names with a special meaning for Cloud Logging.
pub const TRACE_ID_FIELD: &str = "trace_id";
pub const SPAN_ID_FIELD: &str = "span_id";
pub const TRACE_SAMPLED_FIELD: &str = "trace_sampled";

/// Installs the global subscriber for this process. Call once, before anything logs.
pub fn init(config: &Config) -> anyhow::Result<()> {
    // The start-up line (with the URL to open) is shown whatever LOG_LEVEL says. tungstenite's
    // client handshake traces the raw upgrade request, headers included: the Gemini key or the
    // Vertex token of a Live connection. It is capped whatever LOG_LEVEL says (a more specific
    // directive wins over `trace` or `tungstenite=trace`).
    let filter = EnvFilter::try_new(format!(
        "{},{STARTUP_TARGET}=info,{SECRET_TRACING_TARGET}=debug",
        config.log_level
    ))?;
    match config.log_format {
        LogFormat::Json => tracing_subscriber::registry()
            .with(filter)
            .with(CloudLoggingLayer::new(
                std::io::stdout,
                config.google_cloud_project.clone(),
            ))
            .try_init()?,
        LogFormat::Text => tracing_subscriber::registry()
            .with(filter)
            .with(
                tracing_subscriber::fmt::layer()
                    .compact()
                    .with_target(false),
            )
            .try_init()?,
    }
    install_panic_hook();
    Ok(())
}

/// Panics in a connection task must not go unnoticed: log them as ERROR lines (Error Reporting
/// picks those up) instead of leaving only stderr text.
fn install_panic_hook() {
    let default_hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let location = info
            .location()
            .map(|l| format!("{}:{}", l.file(), l.line()))
            .unwrap_or_default();
        let payload = info
            .payload()
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| info.payload().downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "panic".into());
        tracing::error!(panic.location = %location, "panic: {payload}");
        default_hook(info);
    }));
}

/// Fields recorded on a span, kept in the span's extensions.
struct SpanFields(Map<String, Value>);

pub struct CloudLoggingLayer<W> {
    make_writer: W,
    project: Option<Arc<str>>,
}

impl<W> CloudLoggingLayer<W> {
    pub fn new(make_writer: W, project: Option<String>) -> Self {
        Self {
            make_writer,
            project: project.map(Arc::from),
        }
    }
}

impl<S, W> Layer<S> for CloudLoggingLayer<W>
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    W: for<'w> MakeWriter<'w> + 'static,
{
    fn on_new_span(&self, attrs: &Attributes<'_>, id: &Id, ctx: Context<'_, S>) {
        let Some(span) = ctx.span(id) else { return };
        let mut visitor = JsonVisitor::default();
        attrs.record(&mut visitor);
        span.extensions_mut().insert(SpanFields(visitor.fields));
    }

    fn on_record(&self, id: &Id, values: &Record<'_>, ctx: Context<'_, S>) {
        let Some(span) = ctx.span(id) else { return };
        let mut extensions = span.extensions_mut();
        let mut visitor = JsonVisitor::default();
        values.record(&mut visitor);
        match extensions.get_mut::<SpanFields>() {
            Some(fields) => fields.0.extend(visitor.fields),
            None => extensions.insert(SpanFields(visitor.fields)),
        }
    }

    fn on_event(&self, event: &Event<'_>, ctx: Context<'_, S>) {
        let mut line = Map::new();
        line.insert("severity".into(), severity(event.metadata().level()).into());
        line.insert(
            "timestamp".into(),
            chrono::Utc::now()
                .to_rfc3339_opts(chrono::SecondsFormat::Micros, true)
                .into(),
        );
        // Outer spans first, so an inner span's field wins over an outer one of the same name.
        if let Some(scope) = ctx.event_scope(event) {
            for span in scope.from_root() {
                if let Some(fields) = span.extensions().get::<SpanFields>() {
                    for (k, v) in &fields.0 {
                        line.insert(k.clone(), v.clone());
                    }
                }
            }
        }
        let mut visitor = JsonVisitor::default();
        event.record(&mut visitor);
        let message = visitor.fields.remove("message").unwrap_or(Value::from(""));
        line.extend(visitor.fields);
        line.insert("message".into(), message);
        line.insert("target".into(), event.metadata().target().into());
        self.lift_trace_fields(&mut line);
        let mut bytes = match serde_json::to_vec(&Value::Object(line)) {
            Ok(bytes) => bytes,
            Err(_) => return,
        };
        bytes.push(b'\n');
        // One write per line keeps lines whole when several threads log at once.
        let _ = self.make_writer.make_writer().write_all(&bytes);
    }
}

impl<W> CloudLoggingLayer<W> {
    /// Turns the request span's trace fields into the keys Cloud Logging understands. Without a
    /// project id the trace name cannot be built, so the raw id stays as a plain field.
    fn lift_trace_fields(&self, line: &mut Map<String, Value>) {
        let Some(project) = &self.project else { return };
        if let Some(Value::String(trace_id)) = line.remove(TRACE_ID_FIELD) {
            line.insert(
                "logging.googleapis.com/trace".into(),
                format!("projects/{project}/traces/{trace_id}").into(),
            );
            if let Some(span_id) = line.remove(SPAN_ID_FIELD) {
                line.insert("logging.googleapis.com/spanId".into(), span_id);
            }
            if let Some(sampled) = line.remove(TRACE_SAMPLED_FIELD) {
                line.insert("logging.googleapis.com/trace_sampled".into(), sampled);
            }
        }
    }
}

fn severity(level: &Level) -> &'static str {
    match *level {
        Level::ERROR => "ERROR",
        Level::WARN => "WARNING",
        Level::INFO => "INFO",
        Level::DEBUG | Level::TRACE => "DEBUG",
    }
}

#[derive(Default)]
struct JsonVisitor {
    fields: Map<String, Value>,
}

impl Visit for JsonVisitor {
    fn record_str(&mut self, field: &Field, value: &str) {
        self.fields.insert(field.name().into(), value.into());
    }
    fn record_bool(&mut self, field: &Field, value: bool) {
        self.fields.insert(field.name().into(), value.into());
    }
    fn record_i64(&mut self, field: &Field, value: i64) {
        self.fields.insert(field.name().into(), value.into());
    }
    fn record_u64(&mut self, field: &Field, value: u64) {
        self.fields.insert(field.name().into(), value.into());
    }
    fn record_f64(&mut self, field: &Field, value: f64) {
        self.fields.insert(field.name().into(), value.into());
    }
    fn record_error(&mut self, field: &Field, value: &(dyn std::error::Error + 'static)) {
        self.fields
            .insert(field.name().into(), value.to_string().into());
    }
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        self.fields
            .insert(field.name().into(), format!("{value:?}").into());
    }
}

/// Trace context from the headers Google's front end adds. `traceparent` (W3C) is preferred;
/// `X-Cloud-Trace-Context` (`TRACE/SPAN;o=1`, span id in decimal) is the legacy fallback.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TraceContext {
    pub trace_id: String,
    pub span_id: Option<String>,
    pub sampled: bool,
}

impl TraceContext {
    pub fn from_headers(headers: &http::HeaderMap) -> Option<Self> {
        headers
            .get("traceparent")
            .and_then(|v| v.to_str().ok())
            .and_then(Self::from_traceparent)
            .or_else(|| {
                headers
                    .get("x-cloud-trace-context")
                    .and_then(|v| v.to_str().ok())
                    .and_then(Self::from_cloud_trace_context)
            })
    }

    fn from_traceparent(value: &str) -> Option<Self> {
        let mut parts = value.trim().split('-');
        let _version = parts.next().filter(|v| v.len() == 2)?;
        let trace_id = parts.next().filter(|t| is_hex(t, 32) && !is_zero(t))?;
        let span_id = parts.next().filter(|s| is_hex(s, 16))?;
        let flags = parts.next().filter(|f| is_hex(f, 2))?;
        let sampled = u8::from_str_radix(flags, 16).is_ok_and(|f| f & 1 == 1);
        Some(Self {
            trace_id: trace_id.to_ascii_lowercase(),
            span_id: Some(span_id.to_ascii_lowercase()),
            sampled,
        })
    }

    fn from_cloud_trace_context(value: &str) -> Option<Self> {
        let (ids, options) = match value.trim().split_once(';') {
            Some((ids, options)) => (ids, Some(options)),
            None => (value.trim(), None),
        };
        let (trace_id, span) = match ids.split_once('/') {
            Some((t, s)) => (t, Some(s)),
            None => (ids, None),
        };
        if !is_hex(trace_id, 32) || is_zero(trace_id) {
            return None;
        }
        // Cloud Logging wants the span id as 16 hex digits; the legacy header carries decimal.
        let span_id = span
            .and_then(|s| s.parse::<u64>().ok())
            .map(|s| format!("{s:016x}"));
        let sampled = options.is_some_and(|o| o.trim() == "o=1");
        Some(Self {
            trace_id: trace_id.to_ascii_lowercase(),
            span_id,
            sampled,
        })
    }
}

fn is_hex(s: &str, len: usize) -> bool {
    s.len() == len && s.bytes().all(|b| b.is_ascii_hexdigit())
}

fn is_zero(s: &str) -> bool {
    s.bytes().all(|b| b == b'0')
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use super::*;

    #[derive(Clone, Default)]
    struct Captured(Arc<Mutex<Vec<u8>>>);

    impl Write for Captured {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    impl<'a> MakeWriter<'a> for Captured {
        type Writer = Captured;
        fn make_writer(&'a self) -> Self::Writer {
            self.clone()
        }
    }

    fn capture(project: Option<&str>, f: impl FnOnce()) -> Vec<Value> {
        let captured = Captured::default();
        let subscriber = tracing_subscriber::registry().with(CloudLoggingLayer::new(
            captured.clone(),
            project.map(String::from),
        ));
        tracing::subscriber::with_default(subscriber, f);
        let bytes = captured.0.lock().unwrap().clone();
        String::from_utf8(bytes)
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str(l).expect("each line is one JSON object"))
            .collect()
    }

    #[test]
    fn lines_carry_severity_message_timestamp_and_span_fields() {
        let lines = capture(Some("my-proj"), || {
            let span = tracing::info_span!(
                "request",
                request_id = "req-1",
                path = "/api/command",
                method = "POST",
                user_id = tracing::field::Empty,
                trace_id = "0af7651916cd43dd8448eb211c80319c",
                span_id = "b7ad6b7169203331",
                trace_sampled = true
            );
            let _guard = span.enter();
            tracing::warn!(detail = 3, "something odd");
            span.record("user_id", "u-42");
            tracing::error!("it broke");
        });
        assert_eq!(lines.len(), 2);
        let first = &lines[0];
        assert_eq!(first["severity"], "WARNING");
        assert_eq!(first["message"], "something odd");
        assert_eq!(first["detail"], 3);
        assert_eq!(first["request_id"], "req-1");
        assert_eq!(first["path"], "/api/command");
        assert_eq!(first["method"], "POST");
        assert!(first.get("user_id").is_none(), "user_id only once known");
        assert!(chrono::DateTime::parse_from_rfc3339(first["timestamp"].as_str().unwrap()).is_ok());
        assert_eq!(
            first["logging.googleapis.com/trace"],
            "projects/my-proj/traces/0af7651916cd43dd8448eb211c80319c"
        );
        assert_eq!(first["logging.googleapis.com/spanId"], "b7ad6b7169203331");
        assert_eq!(first["logging.googleapis.com/trace_sampled"], true);
        assert!(first.get("trace_id").is_none());
        assert_eq!(lines[1]["severity"], "ERROR");
        assert_eq!(lines[1]["user_id"], "u-42");
    }

    #[test]
    fn without_a_project_the_trace_stays_a_plain_field() {
        let lines = capture(None, || {
            let span = tracing::info_span!("request", trace_id = "abc");
            let _guard = span.enter();
            tracing::info!("hello");
        });
        assert_eq!(lines[0]["trace_id"], "abc");
        assert!(lines[0].get("logging.googleapis.com/trace").is_none());
        assert_eq!(lines[0]["severity"], "INFO");
    }

    #[test]
    fn traceparent_is_parsed_and_preferred() {
        let mut headers = http::HeaderMap::new();
        headers.insert(
            "traceparent",
            "00-0AF7651916CD43DD8448EB211C80319C-B7AD6B7169203331-01"
                .parse()
                .unwrap(),
        );
        headers.insert(
            "x-cloud-trace-context",
            "11111111111111111111111111111111/1;o=1".parse().unwrap(),
        );
        let t = TraceContext::from_headers(&headers).unwrap();
        assert_eq!(t.trace_id, "0af7651916cd43dd8448eb211c80319c");
        assert_eq!(t.span_id.as_deref(), Some("b7ad6b7169203331"));
        assert!(t.sampled);
    }

    #[test]
    fn legacy_cloud_trace_context_converts_the_decimal_span() {
        let mut headers = http::HeaderMap::new();
        headers.insert(
            "x-cloud-trace-context",
            "105445aa7843bc8bf206b12000100000/1;o=1".parse().unwrap(),
        );
        let t = TraceContext::from_headers(&headers).unwrap();
        assert_eq!(t.trace_id, "105445aa7843bc8bf206b12000100000");
        assert_eq!(t.span_id.as_deref(), Some("0000000000000001"));
        assert!(t.sampled);
    }

    #[test]
    fn malformed_trace_headers_are_ignored() {
        for value in [
            "",
            "00-xyz-abc-01",
            "00-00000000000000000000000000000000-b7ad6b7169203331-01",
        ] {
            let mut headers = http::HeaderMap::new();
            headers.insert("traceparent", value.parse().unwrap());
            assert_eq!(TraceContext::from_headers(&headers), None, "{value}");
        }
    }
}

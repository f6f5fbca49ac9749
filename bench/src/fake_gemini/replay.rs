//! Recorded Gemini responses (`../shared/replay/cases/NAME/`), loaded from disk and served
//! verbatim so the client can be tested against bytes Google really sent.
//!
//! A case directory holds `status` (the HTTP status as text), `headers` (`name: value`
//! lines), `body` (the bytes as sent: an SSE stream or a JSON error body) and, optionally,
//! `source.txt` (where the recording came from).

use std::path::{Path, PathBuf};

use anyhow::{Context as _, bail};
use axum::body::Body;
use axum::http::{HeaderName, HeaderValue, StatusCode};
use axum::response::Response;
use serde_json::Value;

/// Overrides where [`replay_cases_dir`] looks, e.g. for the `fake-gemini` binary outside the
/// source tree.
pub const REPLAY_DIR_ENV: &str = "BALLSY_REPLAY_DIR";

/// The directory of recorded cases: `$BALLSY_REPLAY_DIR` if set, else `shared/replay/cases`
/// next to the workspace (`<workspace>/../shared/replay/cases`).
///
/// The workspace is found from this crate's `CARGO_MANIFEST_DIR` at compile time, because
/// tests run with varying working directories while the shared recordings sit beside every
/// checkout (worktrees included) at the same relative place.
pub fn replay_cases_dir() -> PathBuf {
    match std::env::var_os(REPLAY_DIR_ENV) {
        Some(dir) if !dir.is_empty() => PathBuf::from(dir),
        _ => Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/replay/cases"),
    }
}

/// One recorded response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReplayCase {
    /// The directory name, e.g. `sse-3-pro-function-call`.
    pub name: String,
    pub status: u16,
    /// In file order; names lower-cased.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    /// `source.txt`, or empty when the case has none.
    pub source: String,
}

/// Headers that describe one hop or the framing of the recorded body rather than the
/// response: replaying them would contradict what hyper actually sends (the body goes out
/// chunked, and decoded), so the live values win. `date` is the server's own.
const NOT_REPLAYED: &[&str] = &[
    "connection",
    "keep-alive",
    "proxy-connection",
    "proxy-authenticate",
    "proxy-authorization",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
    "content-length",
    "content-encoding",
    "date",
];

impl ReplayCase {
    /// Loads the case in `dir`. A missing directory or file, an unreadable status or a
    /// malformed header line is an error naming the path.
    pub fn load(dir: impl AsRef<Path>) -> anyhow::Result<ReplayCase> {
        let dir = dir.as_ref();
        if !dir.is_dir() {
            bail!(
                "replay case {} does not exist (or is not a directory)",
                dir.display()
            );
        }
        let name = dir
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .with_context(|| format!("replay case {} has no directory name", dir.display()))?;
        let read_text = |file: &str| {
            let path = dir.join(file);
            std::fs::read_to_string(&path)
                .with_context(|| format!("reading replay file {}", path.display()))
        };
        let status_text = read_text("status")?;
        let status: u16 = status_text.trim().parse().with_context(|| {
            format!(
                "replay case {name}: status {:?} is not an HTTP status",
                status_text.trim()
            )
        })?;
        if StatusCode::from_u16(status).is_err() {
            bail!("replay case {name}: {status} is not a valid HTTP status");
        }
        let headers = read_text("headers")?
            .lines()
            .filter(|line| !line.trim().is_empty())
            .map(|line| {
                let (key, value) = line
                    .split_once(':')
                    .with_context(|| format!("replay case {name}: header line {line:?}"))?;
                Ok((key.trim().to_ascii_lowercase(), value.trim().to_owned()))
            })
            .collect::<anyhow::Result<Vec<_>>>()?;
        let body_path = dir.join("body");
        let body = std::fs::read(&body_path)
            .with_context(|| format!("reading replay file {}", body_path.display()))?;
        let source = match std::fs::read_to_string(dir.join("source.txt")) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
            Err(e) => return Err(e).context(format!("replay case {name}: source.txt")),
        };
        Ok(ReplayCase {
            name,
            status,
            headers,
            body,
            source,
        })
    }

    /// Loads case `name` from `cases_dir`. The name must be one directory name: no path
    /// separators and no `..`, because the control API passes names from the network.
    pub fn load_named(cases_dir: impl AsRef<Path>, name: &str) -> anyhow::Result<ReplayCase> {
        let plain = !name.is_empty()
            && name != "."
            && name != ".."
            && !name.contains(['/', '\\'])
            && !name.contains('\0');
        if !plain {
            bail!("replay case name {name:?} must be a plain directory name");
        }
        Self::load(cases_dir.as_ref().join(name))
    }

    /// Loads case `name` from [`replay_cases_dir`].
    pub fn named(name: &str) -> anyhow::Result<ReplayCase> {
        Self::load_named(replay_cases_dir(), name)
    }

    /// Every case directory in `cases_dir`, sorted by name, so a new recording is picked up
    /// without code changes. Fails on the first case that does not load.
    pub fn load_all(cases_dir: impl AsRef<Path>) -> anyhow::Result<Vec<ReplayCase>> {
        let cases_dir = cases_dir.as_ref();
        let entries = std::fs::read_dir(cases_dir)
            .with_context(|| format!("listing replay cases in {}", cases_dir.display()))?;
        let mut dirs = Vec::new();
        for entry in entries {
            let entry = entry.with_context(|| format!("listing {}", cases_dir.display()))?;
            if entry.file_type()?.is_dir() {
                dirs.push(entry.path());
            }
        }
        dirs.sort();
        dirs.into_iter().map(Self::load).collect()
    }

    /// The first value of header `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub fn is_event_stream(&self) -> bool {
        self.header("content-type")
            .is_some_and(|t| t.trim().starts_with("text/event-stream"))
    }

    /// The body cut into SSE events, each with its own terminating blank line, so the
    /// pieces concatenate back to exactly the body. Both Google's `\r\n\r\n` and the bare
    /// `\n\n` that some recordings use end an event; trailing bytes without a terminator form
    /// a last piece of their own.
    pub fn events(&self) -> Vec<&[u8]> {
        split_events(&self.body)
    }

    /// The JSON payload of every `data:` line of an SSE body (`Err` with the raw text for a
    /// payload that is not JSON). Empty for JSON bodies.
    pub fn event_payloads(&self) -> Vec<Result<Value, String>> {
        if !self.is_event_stream() {
            return Vec::new();
        }
        self.events()
            .into_iter()
            .flat_map(|event| {
                String::from_utf8_lossy(event)
                    .lines()
                    .filter_map(|line| line.strip_prefix("data:"))
                    .map(|data| serde_json::from_str(data.trim()).map_err(|_| data.to_owned()))
                    .collect::<Vec<_>>()
            })
            .collect()
    }

    /// The status line and replayable headers of the recording, with `body`.
    pub(super) fn response(&self, body: Body) -> Response {
        let mut response = Response::new(body);
        *response.status_mut() =
            StatusCode::from_u16(self.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let headers = response.headers_mut();
        for (name, value) in &self.headers {
            if NOT_REPLAYED.contains(&name.as_str()) {
                continue;
            }
            // `load` accepted any text; a line that is not a valid header is skipped rather
            // than failing the whole replay.
            if let (Ok(name), Ok(value)) = (
                HeaderName::from_bytes(name.as_bytes()),
                HeaderValue::from_str(value),
            ) {
                headers.append(name, value);
            }
        }
        response
    }
}

fn split_events(body: &[u8]) -> Vec<&[u8]> {
    let mut events = Vec::new();
    let mut rest = body;
    while !rest.is_empty() {
        let end = find(rest, b"\r\n\r\n")
            .map(|i| i + 4)
            .into_iter()
            .chain(find(rest, b"\n\n").map(|i| i + 2))
            .min()
            .unwrap_or(rest.len());
        let (event, tail) = rest.split_at(end);
        events.push(event);
        rest = tail;
    }
    events
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_split_on_either_framing_and_lose_nothing() {
        let body = b"data: {\"a\": 1}\r\n\r\ndata: {\"b\": 2}\n\ndata: {\"c\"";
        let events = split_events(body);
        assert_eq!(
            events,
            [
                &b"data: {\"a\": 1}\r\n\r\n"[..],
                &b"data: {\"b\": 2}\n\n"[..],
                &b"data: {\"c\""[..],
            ]
        );
        assert_eq!(events.concat(), body);
        assert!(split_events(b"").is_empty());
    }

    #[test]
    fn names_with_path_parts_are_refused() {
        for name in ["", ".", "..", "../etc", "a/b", "a\\b"] {
            let error = ReplayCase::load_named("/nonexistent", name).unwrap_err();
            assert!(error.to_string().contains("plain directory name"), "{name}");
        }
        let error = ReplayCase::load_named("/nonexistent", "missing-case").unwrap_err();
        assert!(error.to_string().contains("does not exist"), "{error}");
    }
}

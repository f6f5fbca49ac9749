//! `fake-gemini`: the fake Gemini server as a process, for browser end-to-end tests and
//! benchmarks. Prints `fake-gemini listening on http://HOST:PORT` as its first stdout line,
//! then serves until SIGTERM or Ctrl-C. Drive it further through `/__fake/*` (see
//! `ballsy_bench::fake_gemini`).

use std::io::Write as _;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::Duration;

use ballsy_bench::fake_gemini::{FakeGemini, FakeGeminiConfig, Reply};
use clap::Parser;

#[derive(Debug, Parser)]
#[command(about = "A fake Gemini server speaking the real wire format")]
struct Args {
    /// Port to listen on; 0 picks a free one (read it from the first stdout line).
    #[arg(long, default_value_t = 0)]
    port: u16,
    /// Address to bind.
    #[arg(long, default_value_t = IpAddr::V4(Ipv4Addr::LOCALHOST))]
    host: IpAddr,
    /// Delay before the first SSE event, in milliseconds.
    #[arg(long, default_value_t = 0)]
    ttft_ms: u64,
    /// Delay between SSE events, in milliseconds.
    #[arg(long, default_value_t = 0)]
    chunk_delay_ms: u64,
    /// Number of text chunks to split each reply into (at word boundaries).
    #[arg(long, default_value_t = 4)]
    chunks: usize,
    /// Fixed reply text.
    #[arg(long, conflicts_with = "echo")]
    reply: Option<String>,
    #[arg(
        long,
        help = "Reply \"You said: <last user text>\" instead of a fixed text"
    )]
    echo: bool,
    #[arg(long, help = "Prefix each chunk with \"[t:<unix micros when sent>]\"")]
    stamp_chunks: bool,
    /// Comma-separated model ids that exist; any other gets 404. Default: every model exists.
    #[arg(long, value_delimiter = ',')]
    known_models: Option<Vec<String>>,
    /// Reply for requests that carry inlineData audio.
    #[arg(long)]
    transcript: Option<String>,
    /// Lifetime of metadata-server tokens, in seconds.
    #[arg(long, default_value_t = 3599)]
    token_expires_in: u64,
    /// Directory of recorded cases for `{"kind":"replay"}` faults and `[[fake:replay=NAME]]`.
    /// Default: $BALLSY_REPLAY_DIR, else ../shared/replay/cases next to the workspace.
    #[arg(long)]
    replay_dir: Option<std::path::PathBuf>,
}

impl Args {
    fn config(self) -> FakeGeminiConfig {
        let defaults = FakeGeminiConfig::default();
        FakeGeminiConfig {
            reply: match (self.echo, self.reply) {
                (true, _) => Reply::Echo,
                (false, Some(text)) => Reply::Fixed(text),
                (false, None) => defaults.reply,
            },
            ttft: Duration::from_millis(self.ttft_ms),
            chunk_delay: Duration::from_millis(self.chunk_delay_ms),
            chunks: self.chunks,
            known_models: self.known_models,
            transcript: self.transcript.unwrap_or(defaults.transcript),
            stamp_chunks: self.stamp_chunks,
            token_expires_in: self.token_expires_in,
            replay_dir: self.replay_dir.unwrap_or(defaults.replay_dir),
            grounding: defaults.grounding,
        }
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let addr = SocketAddr::new(args.host, args.port);
    let server = FakeGemini::start_on(addr, args.config()).await?;
    {
        // Harnesses wait for this exact line, so it goes out before anything else and is
        // flushed even when stdout is a pipe.
        let mut stdout = std::io::stdout().lock();
        writeln!(stdout, "fake-gemini listening on {}", server.base_url())?;
        stdout.flush()?;
    }
    shutdown_signal().await;
    server.shutdown().await;
    Ok(())
}

async fn shutdown_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = term.recv() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

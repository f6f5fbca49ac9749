//! `fake-live`: the fake Gemini Live server as a process, for browser end-to-end tests and
//! benchmarks. Prints `fake-live listening on ws://HOST:PORT/ws/…BidiGenerateContent` as its
//! first stdout line (point `GEMINI_LIVE_URL` at it), then serves until SIGTERM or Ctrl-C.
//! Scripts are posted to `/__fake/config` (see `ballsy_bench::fake_live`).

use std::io::Write as _;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use ballsy_bench::fake_live::{FakeLive, FakeLiveConfig};
use clap::Parser;

#[derive(Debug, Parser)]
#[command(about = "A fake Gemini Live server speaking the real wire format")]
struct Args {
    /// Port to listen on; 0 picks a free one (read it from the first stdout line).
    #[arg(long, default_value_t = 0)]
    port: u16,
    /// Address to bind.
    #[arg(long, default_value_t = IpAddr::V4(Ipv4Addr::LOCALHOST))]
    host: IpAddr,
    /// A script (a FakeLiveConfig as JSON) to start with.
    #[arg(long)]
    script: Option<std::path::PathBuf>,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let config: FakeLiveConfig = match &args.script {
        Some(path) => serde_json::from_slice(&std::fs::read(path)?)?,
        None => FakeLiveConfig::default(),
    };
    let server = FakeLive::start_on(SocketAddr::new(args.host, args.port), config).await?;
    {
        // Harnesses wait for this exact line, so it is flushed even when stdout is a pipe.
        let mut stdout = std::io::stdout().lock();
        writeln!(stdout, "fake-live listening on {}", server.url())?;
        stdout.flush()?;
    }
    let _ = tokio::signal::ctrl_c().await;
    server.shutdown().await;
    Ok(())
}

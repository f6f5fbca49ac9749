//! `fake-weather`: the fake Open-Meteo as a process, for browser end-to-end tests. Prints
//! `fake-weather listening on http://HOST:PORT` as its first stdout line, then serves until
//! SIGTERM or Ctrl-C. Point both `forecast_base_url` and `geocoding_base_url` at that URL and
//! drive it further through `/__fake/*` (see `ballsy_bench::fake_weather`).

use std::io::Write as _;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use ballsy_bench::fake_weather::{FakeWeather, FakeWeatherConfig};
use chrono::{DateTime, Utc};
use clap::Parser;

#[derive(Debug, Parser)]
#[command(about = "A fake Open-Meteo (forecast and geocoding) speaking the real JSON shapes")]
struct Args {
    /// Port to listen on; 0 picks a free one (read it from the first stdout line).
    #[arg(long, default_value_t = 0)]
    port: u16,
    /// Address to bind.
    #[arg(long, default_value_t = IpAddr::V4(Ipv4Addr::LOCALHOST))]
    host: IpAddr,
    /// Pin the fake's clock (RFC 3339, e.g. 2026-04-08T14:05:00Z); default: real time.
    #[arg(long, value_parser = parse_time)]
    now: Option<DateTime<Utc>>,
}

fn parse_time(text: &str) -> Result<DateTime<Utc>, String> {
    DateTime::parse_from_rfc3339(text)
        .map(|time| time.with_timezone(&Utc))
        .map_err(|error| error.to_string())
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let config = FakeWeatherConfig {
        now: args.now,
        ..FakeWeatherConfig::default()
    };
    let server = FakeWeather::start_on(SocketAddr::new(args.host, args.port), config).await?;
    {
        // Harnesses wait for this exact line, so it is flushed even when stdout is a pipe.
        let mut stdout = std::io::stdout().lock();
        writeln!(stdout, "fake-weather listening on {}", server.base_url())?;
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
        if let Ok(mut term) = signal(SignalKind::terminate()) {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = term.recv() => {}
            }
            return;
        }
    }
    let _ = tokio::signal::ctrl_c().await;
}

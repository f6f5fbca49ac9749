//! `echo-floor`: the bare axum WebSocket echo server the benchmarks compare Ballsy against.
//! Prints `echo-floor listening on http://127.0.0.1:PORT` as its first stdout line, then serves
//! `/ws/voice/{id}` until SIGTERM or Ctrl-C.

use std::io::Write as _;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use ballsy_bench::echo::EchoServer;
use clap::Parser;

#[derive(Debug, Parser)]
#[command(about = "Bare axum WebSocket echo server: the floor of the benchmarks")]
struct Args {
    /// Port to listen on; 0 picks a free one (read it from the first stdout line).
    #[arg(long, default_value_t = 0)]
    port: u16,
    #[arg(long, default_value_t = IpAddr::V4(Ipv4Addr::LOCALHOST))]
    host: IpAddr,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let server = EchoServer::start(SocketAddr::new(args.host, args.port)).await?;
    {
        let mut stdout = std::io::stdout().lock();
        writeln!(stdout, "echo-floor listening on http://{}", server.addr())?;
        stdout.flush()?;
    }
    shutdown_signal().await;
    server.stop();
    Ok(())
}

async fn shutdown_signal() {
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

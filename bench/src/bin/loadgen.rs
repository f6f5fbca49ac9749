//! `loadgen`: the load generator on its own, against a server that is already running.
//!
//! ```text
//! loadgen commands --url ws://127.0.0.1:8080 --clients 50 --seconds 10
//! loadgen commands --url ws://127.0.0.1:9000 --echo          # against echo-floor
//! loadgen streams  --url ws://127.0.0.1:8080 --sessions 500   # server must use a stamping fake
//! loadgen idle     --url ws://127.0.0.1:8080 --connections 10000 --hold-secs 30
//! ```
//!
//! Prints the report as JSON on stdout.

use std::time::Duration;

use ballsy_bench::loadgen::{
    Auth, CommandLoad, IdleLoad, SessionFactory, StreamLoad, hold_idle, run_commands, run_streams,
};
use clap::{Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(about = "WebSocket load generator for Ballsy (and the echo floor)")]
struct Args {
    #[command(subcommand)]
    load: Load,
}

#[derive(Debug, Subcommand)]
enum Load {
    /// Clients sending commands, one in flight each.
    Commands {
        #[arg(long)]
        url: String,
        #[arg(long, default_value_t = 50)]
        clients: usize,
        /// Measured seconds (an upper bound on --commands).
        #[arg(long, default_value_t = 10)]
        seconds: u64,
        /// Commands per client.
        #[arg(long, default_value_t = 1_000_000)]
        commands: usize,
        #[arg(long, default_value_t = 0)]
        warmup: usize,
        /// Sockets per client, used in turn.
        #[arg(long, default_value_t = 1)]
        sockets_per_client: usize,
        /// Command templates (`{k}` becomes a number); default: the rule-based set.
        #[arg(long = "command")]
        templates: Vec<String>,
        /// Against the echo floor: expect each message back verbatim, no sessions.
        #[arg(long)]
        echo: bool,
        /// Least milliseconds between two commands on one socket.
        #[arg(long)]
        min_interval_ms: Option<u64>,
    },
    /// Sessions asking AI questions; measures the delay added to stamped chunks.
    Streams {
        #[arg(long)]
        url: String,
        #[arg(long, default_value_t = 500)]
        sessions: usize,
        #[arg(long, default_value_t = 1)]
        questions: usize,
        #[arg(long, default_value_t = 0)]
        spread_ms: u64,
    },
    /// Idle sockets held open.
    Idle {
        #[arg(long)]
        url: String,
        #[arg(long, default_value_t = 10_000)]
        connections: usize,
        #[arg(long, default_value_t = 2000.0)]
        rate: f64,
        #[arg(long, default_value_t = 10)]
        hold_secs: u64,
    },
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    match Args::parse().load {
        Load::Commands {
            url,
            clients,
            seconds,
            commands,
            warmup,
            sockets_per_client,
            templates,
            echo,
            min_interval_ms,
        } => {
            let mut load = CommandLoad::new(url);
            load.clients = clients;
            load.duration = Some(Duration::from_secs(seconds));
            load.commands_per_client = commands;
            load.warmup_per_client = warmup;
            load.connections_per_client = sockets_per_client;
            if !templates.is_empty() {
                load.commands = templates;
            }
            load.echo_mode = echo;
            if echo {
                load.auth = Auth::None;
            }
            load.min_interval = min_interval_ms.map(Duration::from_millis);
            let report = run_commands(load).await;
            println!("{}", serde_json::to_string_pretty(&report)?);
        }
        Load::Streams {
            url,
            sessions,
            questions,
            spread_ms,
        } => {
            let mut load = StreamLoad::new(url);
            load.sessions = sessions;
            load.questions_per_session = questions;
            load.start_spread = Duration::from_millis(spread_ms);
            let report = run_streams(load).await;
            println!("{}", serde_json::to_string_pretty(&report)?);
        }
        Load::Idle {
            url,
            connections,
            rate,
            hold_secs,
        } => {
            let credentials = SessionFactory::new(&url, 1).create().await.ok();
            let mut load = IdleLoad::new(url, connections);
            load.connect_rate = rate;
            load.auth = credentials.map_or(Auth::None, Auth::Shared);
            let handle = hold_idle(load).await;
            eprintln!(
                "{} open, {} failed in {:.1} s; holding {hold_secs} s",
                handle.opened,
                handle.failed,
                handle.elapsed.as_secs_f64()
            );
            tokio::time::sleep(Duration::from_secs(hold_secs)).await;
            println!(
                "{}",
                serde_json::json!({
                    "opened": handle.opened,
                    "failed": handle.failed,
                    "failures": handle.failures,
                    "still_open": handle.still_open(),
                })
            );
            handle.close().await;
        }
    }
    Ok(())
}

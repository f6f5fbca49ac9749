//! The command line: `ballsy [serve]`, `ballsy migrate`, `ballsy check-config`.
//!
//! All configuration comes from the environment (see `--help`); the subcommands only choose
//! what to do with it.

use std::process::ExitCode;

use clap::{Parser, Subcommand};

use crate::config::Config;
use crate::server::Application;
use crate::store::Store;

#[derive(Debug, Parser)]
#[command(
    name = "ballsy",
    version,
    about = "Ballsy: a voice assistant you talk to in the browser.",
    long_about = "Ballsy: a voice assistant you talk to in the browser.\n\n\
        Configured entirely by environment variables; with none set it serves on \
        http://localhost:8080 with an embedded SQLite database and an offline assistant.",
    after_long_help = crate::config::help_text(),
    after_help = "Run `ballsy --help` for every environment variable."
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Debug, Subcommand, PartialEq, Eq)]
pub enum Command {
    /// Serve the page, the API and the voice socket (the default).
    Serve,
    /// Apply pending database migrations to DATABASE_URL and exit.
    Migrate,
    /// Validate the configuration and print it with secrets redacted.
    CheckConfig,
}

/// Parses the command line and runs the chosen subcommand; the process exit code.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    // One TLS provider for the whole process (reqwest and sqlx both use aws-lc-rs).
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    let config = match Config::from_env() {
        Ok(config) => config,
        Err(error) => {
            eprintln!("ballsy: {error}");
            return ExitCode::from(2);
        }
    };
    let command = cli.command.unwrap_or(Command::Serve);
    if command == Command::CheckConfig {
        println!("{config:#?}");
        return ExitCode::SUCCESS;
    }
    if let Err(error) = crate::telemetry::init(&config) {
        eprintln!("ballsy: cannot set up logging: {error}");
        return ExitCode::from(2);
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("ballsy: cannot start the async runtime: {error}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(async {
        match command {
            Command::Serve => serve(config).await,
            Command::Migrate => migrate(config).await,
            Command::CheckConfig => Ok(()),
        }
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            tracing::error!(error = format!("{error:#}"), "ballsy failed");
            eprintln!("ballsy: {error:#}");
            ExitCode::FAILURE
        }
    }
}

async fn serve(config: Config) -> anyhow::Result<()> {
    let app = Application::build(config).await?;
    app.run_until_stopped(shutdown_signal()).await
}

async fn migrate(config: Config) -> anyhow::Result<()> {
    let store = Store::connect_lazy(&config.database_url, 1);
    let applied = store.migrate().await?;
    if applied.is_empty() {
        println!("{}: up to date", config.database_url.describe());
    } else {
        let names = store.known_migrations();
        for version in applied {
            let name = names
                .iter()
                .find(|(v, _)| *v == version)
                .map(|(_, d)| d.as_str())
                .unwrap_or("");
            println!("applied {version} {name}");
        }
    }
    store.close().await;
    Ok(())
}

/// Resolves on SIGTERM (what Cloud Run sends) or Ctrl-C.
async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {}
        _ = terminate => {}
    }
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    use super::*;
    use crate::config::ENV_VARS;

    #[test]
    fn help_documents_every_env_var() {
        let help = Cli::command().render_long_help().to_string();
        for var in ENV_VARS {
            assert!(help.contains(var.name), "--help misses {}", var.name);
        }
    }

    #[test]
    fn serve_is_the_default() {
        assert_eq!(Cli::try_parse_from(["ballsy"]).unwrap().command, None);
        assert_eq!(
            Cli::try_parse_from(["ballsy", "migrate"]).unwrap().command,
            Some(Command::Migrate)
        );
    }
}

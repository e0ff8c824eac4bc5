//! The `zenhook` command line.

use std::process::ExitCode;

use clap::Parser;
use tokio_util::sync::CancellationToken;
use zenhook::cli::{Cli, Command};
use zenhook::config::Settings;

fn main() -> ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("zenhook: cannot start the async runtime: {error}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(execute(cli.command)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("zenhook: {error:#}");
            ExitCode::FAILURE
        }
    }
}

async fn execute(command: Command) -> anyhow::Result<()> {
    match command {
        Command::Serve { config, role } => {
            let settings = Settings::load(config.as_deref())?;
            zenhook::telemetry::init(&settings.log);
            let listener = tokio::net::TcpListener::bind(settings.server.listen)
                .await
                .map_err(|e| anyhow::anyhow!("cannot listen on {}: {e}", settings.server.listen))?;
            let shutdown = CancellationToken::new();
            tokio::spawn(cancel_on_signal(shutdown.clone()));
            let options = zenhook::RunOptions {
                role,
                ..Default::default()
            };
            zenhook::run_with(settings, options, listener, shutdown).await
        }
        Command::Migrate { config } => {
            let settings = Settings::load(config.as_deref())?;
            zenhook::telemetry::init(&settings.log);
            let store = zenhook::open_store(&settings).await?;
            println!(
                "migrations applied ({})",
                store.durability().await.unwrap_or_default()
            );
            Ok(())
        }
        Command::Rules(args) => zenhook::cli::run_rules(args).await,
    }
}

/// SIGTERM (orchestrators) and Ctrl-C (people) both start a graceful shutdown.
async fn cancel_on_signal(shutdown: CancellationToken) {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(term) => term,
                Err(error) => {
                    tracing::error!(%error, "cannot listen for SIGTERM");
                    let _ = ctrl_c.await;
                    shutdown.cancel();
                    return;
                }
            };
        tokio::select! {
            _ = ctrl_c => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    let _ = ctrl_c.await;
    tracing::info!("shutting down: finishing in-flight requests");
    shutdown.cancel();
}

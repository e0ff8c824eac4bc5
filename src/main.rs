//! The `zenhook` command line.

use std::process::ExitCode;

use std::sync::Arc;

use clap::Parser;
use tokio::sync::Notify;
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
            let reload = Arc::new(Notify::new());
            tokio::spawn(reload_on_sighup(reload.clone()));
            let options = zenhook::RunOptions {
                role,
                config_path: config,
                reload_signal: Some(reload),
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
        Command::Check { config, json } => zenhook::cli::run_check(config.as_deref(), json).await,
        Command::Templates(args) => {
            zenhook::cli::run_templates(zenhook::zenml::TemplateOrSnapshot::Template, args).await
        }
        Command::Snapshots(args) => {
            zenhook::cli::run_templates(zenhook::zenml::TemplateOrSnapshot::Snapshot, args).await
        }
        Command::Jobs(args) => zenhook::cli::run_jobs(args).await,
        Command::Deliveries(args) => zenhook::cli::run_deliveries(args).await,
        Command::Reload(args) => zenhook::cli::run_reload(args).await,
        Command::Prune { config, dry_run } => zenhook::cli::run_prune(config, dry_run).await,
    }
}

/// SIGHUP reloads the configuration.
async fn reload_on_sighup(reload: Arc<Notify>) {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        let Ok(mut hangup) = signal(SignalKind::hangup()) else {
            tracing::warn!("cannot listen for SIGHUP: reload with POST /api/v1/admin/reload");
            return;
        };
        while hangup.recv().await.is_some() {
            tracing::info!("SIGHUP: reloading the configuration");
            reload.notify_one();
        }
    }
    #[cfg(not(unix))]
    let _ = reload;
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

//! zenhook turns signed webhooks into ZenML pipeline runs.
//!
//! Dependencies point one way: `verify`, `event` and `rules` are pure; `store` is the
//! only module that knows SQL; `http` composes them. [`run`] takes a bound listener, so
//! tests serve on port 0.

pub mod admin_client;
pub mod check;
pub mod cli;
pub mod clock;
pub mod config;
pub mod event;
pub mod failpoint;
#[doc(hidden)]
pub mod fuzzing;
pub mod http;
pub mod live;
pub mod metrics;
pub mod reload;
pub mod retention;
pub mod rule_cache;
pub mod rules;
pub mod startup;
pub mod store;
pub mod telemetry;
pub mod verify;
pub mod worker;
pub mod zenml;

use std::path::PathBuf;
use std::sync::Arc;

use std::future::IntoFuture;

use anyhow::Context;
use tokio::net::TcpListener;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use crate::clock::{Clock, SystemClock};
use crate::config::Settings;
use crate::live::{Live, LiveConfig};
use crate::reload::Reloader;
use crate::rule_cache::RuleCache;
use crate::store::{CommitQueue, PoolSettings, Store};
use crate::worker::Worker;

/// Opens the configured database and applies the migrations.
pub async fn open_store(settings: &Settings) -> anyhow::Result<Arc<dyn Store>> {
    let pool = PoolSettings {
        max_connections: settings.database.max_connections,
        acquire_timeout: settings.database.acquire_timeout,
    };
    let url = startup::redact_url(&settings.database.url);
    let store = store::connect(&settings.database.url, &pool)
        .await
        .with_context(|| format!("cannot open the database {url}"))?;
    store
        .migrate()
        .await
        .with_context(|| format!("cannot migrate the database {url}"))?;
    Ok(store)
}

/// Which halves of the service a process runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Role {
    /// Webhook intake, the admin API and the worker (the default).
    All,
    /// Webhook intake and the admin API only.
    Api,
    /// The worker only (no HTTP).
    Worker,
}

/// How a process runs, beyond its configuration.
#[derive(Clone)]
pub struct RunOptions {
    pub role: Role,
    /// What "now" is; tests move it forward.
    pub clock: Arc<dyn Clock>,
    /// The file the configuration came from, read again on reload.
    pub config_path: Option<PathBuf>,
    /// The environment the configuration is read with on reload (`None`: the process's).
    pub config_env: Option<Vec<(String, String)>>,
    /// Notified (by SIGHUP) to reload the configuration.
    pub reload_signal: Option<Arc<Notify>>,
}

impl Default for RunOptions {
    fn default() -> Self {
        RunOptions {
            role: Role::All,
            clock: Arc::new(SystemClock),
            config_path: None,
            config_env: None,
            reload_signal: None,
        }
    }
}

/// Runs the whole service on `listener` until `shutdown` is cancelled.
pub async fn run(
    settings: Settings,
    listener: TcpListener,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    run_with(settings, RunOptions::default(), listener, shutdown).await
}

/// Runs `role` until `shutdown` is cancelled, then stops taking requests, lets in-flight
/// ones finish, commits every delivery already accepted and releases unfinished jobs.
pub async fn run_with(
    mut settings: Settings,
    options: RunOptions,
    listener: TcpListener,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    let role = options.role;
    let store = open_store(&settings).await?;
    if role != Role::All && store.backend() == "sqlite" {
        anyhow::bail!(
            "--role {role:?} needs Postgres: on SQLite one process owns the database file, \
             so it runs intake and the worker together"
        );
    }
    let durability = store.durability().await?;
    tracing::info!(%durability, "database ready");

    for target in settings.targets.values() {
        if matches!(target.credential, Some(config::Credential::Token(_))) {
            tracing::warn!(
                target = %target.name,
                "targets.{}.token is a bearer token used as is: it expires, and then every \
                 trigger fails; automation should use a service-account API key (api_key)",
                target.name
            );
        }
    }
    let live_config = LiveConfig::build(&mut settings)?;
    let rules = RuleCache::new(live_config.known());
    let broken = rules.reload(store.as_ref()).await?;
    let current = rules.current();
    let found = startup::Found {
        listen: listener.local_addr()?,
        durability,
        rules: current.len() + broken.len(),
        enabled_rules: current.iter().filter(|r| r.spec.enabled).count(),
    };
    eprint!("{}", startup::summary(&settings, &live_config, &found));
    let live = Live::new(live_config);
    let reloader = Arc::new(Reloader::new(
        &settings,
        options.config_path.clone(),
        options
            .config_env
            .clone()
            .unwrap_or_else(|| std::env::vars().collect()),
        live.clone(),
        rules.clone(),
        store.clone(),
    ));
    let reload_task = options.reload_signal.clone().map(|signal| {
        let reloader = reloader.clone();
        let shutdown = shutdown.clone();
        tokio::spawn(async move {
            loop {
                tokio::select! {
                    _ = shutdown.cancelled() => return,
                    _ = signal.notified() => {
                        if let Err(why) = reloader.reload().await {
                            tracing::error!(%why, "configuration not reloaded; the old one stays");
                        }
                    }
                }
            }
        })
    });

    let pruner = tokio::spawn(retention::run(
        store.clone(),
        settings.retention.clone(),
        options.clock.clone(),
        shutdown.clone(),
    ));
    crate::metrics::install();
    let gauges = tokio::spawn(crate::metrics::refresh_job_gauges(
        store.clone(),
        options.clock.clone(),
        crate::metrics::GAUGE_REFRESH,
        shutdown.clone(),
    ));

    let wake = Arc::new(Notify::new());
    let worker = if role == Role::Api {
        None
    } else {
        let worker = Worker::new(
            store.clone(),
            live.clone(),
            wake.clone(),
            options.clock.clone(),
        );
        Some(tokio::spawn(worker.run(shutdown.clone())))
    };

    if role == Role::Worker {
        drop(listener);
        shutdown.cancelled().await;
    } else {
        let parts = Parts {
            store,
            rules,
            wake,
            live,
            reloader,
            clock: options.clock,
        };
        serve(settings, parts, listener, shutdown).await?;
    }
    if let Some(worker) = worker {
        worker.await.context("the worker failed")?;
    }
    if let Some(task) = reload_task {
        let _ = task.await;
    }
    let _ = pruner.await;
    let _ = gauges.await;
    tracing::info!("stopped");
    Ok(())
}

/// What the HTTP side shares with the rest of the process.
struct Parts {
    store: Arc<dyn Store>,
    rules: RuleCache,
    wake: Arc<Notify>,
    live: Arc<Live>,
    reloader: Arc<Reloader>,
    clock: Arc<dyn Clock>,
}

/// Webhook intake and the admin API, until `shutdown`.
async fn serve(
    settings: Settings,
    parts: Parts,
    listener: TcpListener,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    let Parts {
        store,
        rules,
        wake,
        live,
        reloader,
        clock,
    } = parts;
    let (commits, writer) = CommitQueue::start(
        store.clone(),
        settings.intake.max_batch,
        settings.intake.queue_capacity,
    );
    let follower = tokio::spawn(
        rules
            .clone()
            .follow(store.clone(), settings.admin.rules_poll, shutdown.clone())
            .await,
    );
    let state = http::AppState {
        live,
        rules,
        commits,
        store,
        max_body_bytes: settings.server.max_body_bytes,
        retention: settings.retention.clone(),
        job_wake: wake,
        reloader,
        clock,
    };
    let timeout = settings.server.request_timeout;
    let admin_server = match settings.admin.listen {
        Some(addr) => {
            let admin_listener = TcpListener::bind(addr)
                .await
                .with_context(|| format!("cannot listen on {addr} (admin.listen)"))?;
            let admin = http::admin_router(state.clone(), timeout);
            Some(tokio::spawn(
                axum::serve(admin_listener, admin)
                    .with_graceful_shutdown(shutdown.clone().cancelled_owned())
                    .into_future(),
            ))
        }
        None => None,
    };
    let with_admin = admin_server.is_none();
    let app = http::router(state, timeout, with_admin);
    axum::serve(listener, app)
        .with_graceful_shutdown(shutdown.clone().cancelled_owned())
        .await
        .context("the HTTP server failed")?;
    if let Some(admin_server) = admin_server {
        admin_server
            .await
            .context("the admin server task failed")?
            .context("the admin server failed")?;
    }
    follower.await.context("the rule follower failed")?;
    // The routers (and with them every queue handle) are gone: the writer drains and ends.
    writer.await.context("the commit writer failed")?;
    Ok(())
}

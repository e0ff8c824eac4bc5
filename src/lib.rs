//! zenhook turns signed webhooks into ZenML pipeline runs.
//!
//! Dependencies point one way: `verify`, `event` and `rules` are pure; `store` is the
//! only module that knows SQL; `http` composes them. [`run`] takes a bound listener, so
//! tests serve on port 0.

pub mod cli;
pub mod config;
pub mod event;
pub mod http;
pub mod rule_cache;
pub mod rules;
pub mod startup;
pub mod store;
pub mod telemetry;
pub mod verify;

use std::sync::Arc;

use std::future::IntoFuture;

use anyhow::Context;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::config::Settings;
use crate::rule_cache::{Known, RuleCache};
use crate::store::{CommitQueue, PoolSettings, Store};

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

/// Runs the service on `listener` until `shutdown` is cancelled, then stops taking
/// requests, lets in-flight ones finish and commits every delivery already accepted.
pub async fn run(
    settings: Settings,
    listener: TcpListener,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    let store = open_store(&settings).await?;
    let durability = store.durability().await?;
    tracing::info!(%durability, "database ready");

    let rules = RuleCache::new(Known {
        sources: settings.sources.keys().cloned().collect(),
        targets: settings.targets.keys().cloned().collect(),
    });
    let broken = rules.reload(store.as_ref()).await?;
    let current = rules.current();
    let found = startup::Found {
        listen: listener.local_addr()?,
        durability,
        rules: current.len() + broken.len(),
        enabled_rules: current.iter().filter(|r| r.spec.enabled).count(),
    };
    eprint!("{}", startup::summary(&settings, &found));

    let (commits, writer) = CommitQueue::start(
        store.clone(),
        settings.intake.max_batch,
        settings.intake.queue_capacity,
    );
    let follower = tokio::spawn(rules.clone().follow(
        store.clone(),
        settings.admin.rules_poll,
        shutdown.clone(),
    ));
    let state = http::AppState {
        sources: Arc::new(settings.sources),
        rules,
        commits,
        store,
        max_body_bytes: settings.server.max_body_bytes,
        admin_tokens: Arc::new(settings.admin.tokens),
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
    // The router (and with it every queue handle) is gone: the writer drains and ends.
    writer.await.context("the commit writer failed")?;
    tracing::info!("stopped");
    Ok(())
}

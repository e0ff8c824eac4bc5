//! Retention: removes old delivery bodies, then old deliveries with their jobs, in small
//! steps so intake never waits, and never a delivery with an unfinished job.

use std::sync::Arc;
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use crate::clock::Clock;
use crate::config::RetentionSettings;
use crate::store::{PruneReport, Store, StoreError};

/// Runs passes until nothing is left to remove (or only counts, in a dry run).
pub async fn prune(
    store: &dyn Store,
    settings: &RetentionSettings,
    now_ms: i64,
    dry_run: bool,
) -> Result<PruneReport, StoreError> {
    let bodies_before = now_ms - settings.bodies.as_millis() as i64;
    let deliveries_before = now_ms - settings.deliveries.as_millis() as i64;
    if dry_run {
        // One pass with a batch large enough to count everything due.
        return store
            .prune(bodies_before, deliveries_before, i64::MAX / 2, now_ms, true)
            .await;
    }
    let mut total = PruneReport::default();
    loop {
        let step = store
            .prune(
                bodies_before,
                deliveries_before,
                settings.batch,
                now_ms,
                false,
            )
            .await?;
        total.bodies += step.bodies;
        total.deliveries += step.deliveries;
        total.jobs += step.jobs;
        if step.bodies < settings.batch as u64 && step.deliveries < settings.batch as u64 {
            break;
        }
        // Let intake's writes in between steps.
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    if total != PruneReport::default() {
        store.reclaim_space().await?;
    }
    Ok(total)
}

/// Prunes every `interval` until `shutdown`, saying what it removed.
pub async fn run(
    store: Arc<dyn Store>,
    settings: RetentionSettings,
    clock: Arc<dyn Clock>,
    shutdown: CancellationToken,
) {
    let mut ticker = tokio::time::interval(settings.interval);
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = ticker.tick() => {}
        }
        match prune(store.as_ref(), &settings, clock.now_ms(), false).await {
            Ok(report) if report == PruneReport::default() => {}
            Ok(report) => tracing::info!(
                bodies = report.bodies,
                deliveries = report.deliveries,
                jobs = report.jobs,
                "retention removed old deliveries"
            ),
            Err(error) => tracing::warn!(%error, "retention pass failed; next one at the interval"),
        }
    }
}

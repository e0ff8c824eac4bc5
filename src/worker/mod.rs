//! The worker: drains the job table into ZenML runs.
//!
//! Claims commit a lease before any call; a long call renews it; every result is
//! written fenced by the lease token, so a worker that lost its job cannot overwrite
//! the new holder's result. New jobs wake the worker at once (in process, and through
//! LISTEN/NOTIFY across Postgres replicas); a slow poll is only the fallback.

mod retry;
mod trigger;

pub use retry::delay as retry_delay;
pub use trigger::{job_tag, request_for};

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::Notify;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use crate::config::{Target, WorkerSettings};
use crate::store::{self, Attempt, Channel, JobOutcome, JobRow, Store};
use crate::zenml::ZenmlClient;

/// How jobs of one target are sent.
pub enum TargetClient {
    /// No calls: the job records the request it would have sent.
    Shadow(ZenmlClient),
    Live(ZenmlClient),
}

impl TargetClient {
    pub fn for_target(target: &Target) -> anyhow::Result<TargetClient> {
        let client =
            ZenmlClient::new(target).map_err(|e| anyhow::anyhow!("target {}: {e}", target.name))?;
        Ok(if target.shadow {
            TargetClient::Shadow(client)
        } else {
            TargetClient::Live(client)
        })
    }
}

struct Context {
    store: Arc<dyn Store>,
    targets: Arc<HashMap<String, TargetClient>>,
    settings: WorkerSettings,
    owner: String,
}

pub struct Worker {
    context: Arc<Context>,
    wake: Arc<Notify>,
}

impl Worker {
    /// `wake` is notified by intake whenever it commits new jobs.
    pub fn new(
        store: Arc<dyn Store>,
        targets: Arc<HashMap<String, TargetClient>>,
        settings: WorkerSettings,
        wake: Arc<Notify>,
    ) -> Worker {
        let owner = format!("{}-{}", std::process::id(), uuid::Uuid::new_v4().simple());
        Worker {
            context: Arc::new(Context {
                store,
                targets,
                settings,
                owner,
            }),
            wake,
        }
    }

    /// Runs until `shutdown`, then stops claiming, lets in-flight calls finish within
    /// `shutdown_grace` and puts whatever is still held back in the queue.
    pub async fn run(self, shutdown: CancellationToken) {
        let context = self.context;
        let settings = &context.settings;
        let store = context.store.clone();
        let notifications =
            forward_notifications(store.clone(), self.wake.clone(), shutdown.clone());
        let lease_ms = settings.lease.as_millis() as i64;
        let mut in_flight: JoinSet<()> = JoinSet::new();
        tracing::info!(owner = %context.owner, concurrency = settings.concurrency, "worker started");

        while !shutdown.is_cancelled() {
            let free = settings.concurrency.saturating_sub(in_flight.len());
            if free > 0 {
                match store
                    .claim_jobs(&context.owner, store::now_ms(), lease_ms, free as i64)
                    .await
                {
                    Ok(jobs) => {
                        let claimed = jobs.len();
                        for job in jobs {
                            in_flight.spawn(process(context.clone(), job));
                        }
                        if claimed == free {
                            // There may be more due: claim again once a slot frees.
                            continue;
                        }
                    }
                    Err(error) => {
                        tracing::warn!(%error, "cannot claim jobs; retrying shortly");
                    }
                }
            }
            let wait = match store.next_due().await {
                Ok(Some(due)) => Duration::from_millis((due - store::now_ms()).max(0) as u64),
                Ok(None) => settings.poll,
                Err(_) => Duration::from_secs(1),
            }
            .clamp(Duration::from_millis(10), settings.poll);
            tokio::select! {
                _ = shutdown.cancelled() => {}
                _ = self.wake.notified() => {}
                _ = in_flight.join_next(), if !in_flight.is_empty() => {}
                _ = tokio::time::sleep(wait) => {}
            }
        }

        let grace = settings.shutdown_grace;
        let drained = tokio::time::timeout(grace, async {
            while in_flight.join_next().await.is_some() {}
        })
        .await;
        if drained.is_err() {
            tracing::warn!(
                left = in_flight.len(),
                "calls still running at the end of the grace period"
            );
            in_flight.abort_all();
            while in_flight.join_next().await.is_some() {}
        }
        match store.release_leases(&context.owner, store::now_ms()).await {
            Ok(0) => {}
            Ok(released) => tracing::info!(released, "jobs released back to the queue"),
            Err(error) => {
                tracing::error!(%error, "cannot release leases; they expire on their own")
            }
        }
        notifications.abort();
        tracing::info!("worker stopped");
    }
}

/// Wakes the worker on every job notification from other replicas.
fn forward_notifications(
    store: Arc<dyn Store>,
    wake: Arc<Notify>,
    shutdown: CancellationToken,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let Ok(Some(mut rx)) = store.subscribe(Channel::Jobs).await else {
            return;
        };
        loop {
            tokio::select! {
                _ = shutdown.cancelled() => return,
                got = rx.recv() => match got {
                    Some(()) => wake.notify_one(),
                    None => return,
                },
            }
        }
    })
}

/// One job, start to end: the call, lease renewal while it runs, the fenced result.
async fn process(context: Arc<Context>, job: JobRow) {
    let store = &context.store;
    let (outcome, attempt) = match context.targets.get(&job.target) {
        None => {
            let error = format!(
                "the target {:?} is not configured: add [targets.{}] or change the rule",
                job.target, job.target
            );
            let now = store::now_ms();
            (
                JobOutcome::Dead {
                    counts: false,
                    error: error.clone(),
                },
                Attempt {
                    started_at: now,
                    finished_at: now,
                    http_status: None,
                    error: Some(error),
                },
            )
        }
        Some(TargetClient::Shadow(client)) => shadow(client, &job),
        Some(TargetClient::Live(client)) => {
            let policy = trigger::Policy {
                retry_schedule: &context.settings.retry_schedule,
                max_attempts: context.settings.max_attempts,
                busy_timeout: context.settings.busy_timeout,
            };
            let call = trigger::attempt(client, &job, &policy, store::now_ms);
            let renewal = keep_lease(store.as_ref(), &job, context.settings.lease);
            tokio::pin!(call);
            tokio::select! {
                result = &mut call => result,
                () = renewal => {
                    // The lease is gone: another worker owns the job now. Let the call
                    // finish (ZenML dedupes it by its idempotency key); the fenced write
                    // below will be refused.
                    call.await
                }
            }
        }
    };
    crate::failpoint::hit("worker-after-zenml-answer");
    match store
        .finish_job(&job, &outcome, Some(&attempt), store::now_ms())
        .await
    {
        Ok(true) => {
            tracing::info!(
                job_id = %job.id, delivery_id = %job.delivery_id, status = outcome.status(),
                error = attempt.error.as_deref().unwrap_or(""), "job attempt recorded"
            );
        }
        Ok(false) => tracing::warn!(
            job_id = %job.id,
            "lease lost during the call: the result is left to the job's new holder"
        ),
        Err(error) => tracing::error!(
            job_id = %job.id, %error,
            "cannot record the result; the lease will expire and the run is found by its tag"
        ),
    }
}

fn shadow(client: &ZenmlClient, job: &JobRow) -> (JobOutcome, Attempt) {
    let now = store::now_ms();
    match request_for(job) {
        Ok(request) => (
            JobOutcome::Shadowed {
                request: client.describe_trigger(&request).to_string(),
            },
            Attempt {
                started_at: now,
                finished_at: now,
                http_status: None,
                error: None,
            },
        ),
        Err(error) => (
            JobOutcome::Dead {
                counts: false,
                error: error.clone(),
            },
            Attempt {
                started_at: now,
                finished_at: now,
                http_status: None,
                error: Some(error),
            },
        ),
    }
}

/// Renews the job's lease every third of its length; returns when it is lost.
async fn keep_lease(store: &dyn Store, job: &JobRow, lease: Duration) {
    let Some(token) = job.lease_token.as_deref() else {
        return;
    };
    let mut ticker = tokio::time::interval(lease / 3);
    ticker.tick().await;
    loop {
        ticker.tick().await;
        let until = store::now_ms() + lease.as_millis() as i64;
        match store.renew_lease(&job.id, token, until).await {
            Ok(true) => {}
            Ok(false) => {
                tracing::warn!(job_id = %job.id, "lease lost");
                return;
            }
            // A database hiccup: keep trying while the lease may still be ours.
            Err(error) => tracing::warn!(job_id = %job.id, %error, "cannot renew the lease"),
        }
    }
}

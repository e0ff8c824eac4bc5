//! The worker: drains the job table into ZenML runs.
//!
//! Claims commit a lease before any call; a long call renews it; every result is
//! written fenced by the lease token, so a worker that lost its job cannot overwrite
//! the new holder's result. New jobs wake the worker at once (in process, and through
//! LISTEN/NOTIFY across Postgres replicas); a slow poll is only the fallback.

mod follow;
mod rate;
mod retry;
mod trigger;

pub use follow::TERMINAL;
pub use rate::RateLimiter;
pub use retry::delay as retry_delay;
pub use trigger::{job_tag, request_for};

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{Notify, Semaphore};
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

use crate::clock::Clock;
use crate::config::{Target, WorkerSettings};
use crate::live::Live;
use crate::store::{
    Attempt, Channel, FinishedJob, JobOutcome, JobRow, ResultQueue, RunUpdate, Store,
};
use crate::zenml::ZenmlClient;

/// Jobs held per call slot: the next batches are claimed (their leases made durable)
/// while this batch's calls run, not after them. Measured against a mock that answers at
/// once (zenhook-bench, drain): twice gave about 3,200 jobs/s on SQLite and 2,000 on
/// Postgres, three times 4,300 and 2,500. A held job's lease is renewed while it waits.
const JOBS_PER_CALL: usize = 3;

/// Most results committed in one transaction (and queued for the writer).
const RESULT_BATCH: usize = 256;

/// How jobs of one target are sent.
pub struct TargetClient {
    pub client: ZenmlClient,
    /// No calls: the job records the request it would have sent.
    pub shadow: bool,
    limiter: Option<RateLimiter>,
}

impl TargetClient {
    pub fn for_target(target: &Target) -> anyhow::Result<TargetClient> {
        let client =
            ZenmlClient::new(target).map_err(|e| anyhow::anyhow!("target {}: {e}", target.name))?;
        Ok(TargetClient {
            client,
            shadow: target.shadow,
            limiter: target
                .rate_limit
                .map(|(count, per)| RateLimiter::new(count, per)),
        })
    }

    /// The client of a target that makes calls.
    pub fn live(&self) -> Option<&ZenmlClient> {
        (!self.shadow).then_some(&self.client)
    }
}

/// What the worker's jobs share: the result writer, and the slots for calls to ZenML.
#[derive(Clone)]
struct Lanes {
    results: ResultQueue,
    /// At most `concurrency` calls at once, whatever the number of jobs held.
    calls: Arc<Semaphore>,
    size: usize,
}

impl Lanes {
    /// A reload that changes `concurrency` gets new slots; calls already running keep
    /// theirs until they end.
    fn new(results: ResultQueue, concurrency: usize) -> Lanes {
        Lanes {
            results,
            calls: Arc::new(Semaphore::new(concurrency)),
            size: concurrency,
        }
    }
}

struct Context {
    store: Arc<dyn Store>,
    /// Targets and worker settings; a configuration reload swaps them.
    live: Arc<Live>,
    owner: String,
    clock: Arc<dyn Clock>,
    wake: Arc<Notify>,
}

impl Context {
    fn now_ms(&self) -> i64 {
        self.clock.now_ms()
    }

    fn settings(&self) -> WorkerSettings {
        self.live.current().worker.clone()
    }
}

pub struct Worker {
    context: Arc<Context>,
    wake: Arc<Notify>,
}

impl Worker {
    /// `wake` is notified by intake whenever it commits new jobs.
    pub fn new(
        store: Arc<dyn Store>,
        live: Arc<Live>,
        wake: Arc<Notify>,
        clock: Arc<dyn Clock>,
    ) -> Worker {
        let owner = format!("{}-{}", std::process::id(), uuid::Uuid::new_v4().simple());
        Worker {
            context: Arc::new(Context {
                store,
                live,
                owner,
                clock,
                wake: wake.clone(),
            }),
            wake,
        }
    }

    /// Runs until `shutdown`, then stops claiming, lets in-flight calls finish within
    /// `shutdown_grace` and puts whatever is still held back in the queue.
    pub async fn run(self, shutdown: CancellationToken) {
        let context = self.context;
        let store = context.store.clone();
        let notifications =
            forward_notifications(store.clone(), self.wake.clone(), shutdown.clone());
        let mut in_flight: JoinSet<()> = JoinSet::new();
        // Results are committed in groups: jobs finishing together share one durable
        // transaction, and the slots they free are claimed together.
        let (results, result_writer) =
            ResultQueue::start(store.clone(), RESULT_BATCH, RESULT_BATCH);
        let mut lanes = Lanes::new(results, context.settings().concurrency);
        let follower = tokio::spawn(follow_runs(context.clone(), shutdown.clone()));
        tracing::info!(owner = %context.owner, "worker started");

        while !shutdown.is_cancelled() {
            // Every finished call frees its slot, not just the one that woke us: results
            // are committed in groups, so slots free together and are claimed together.
            while in_flight.try_join_next().is_some() {}
            // Read each round: a configuration reload may have changed them.
            let settings = context.settings();
            let lease_ms = settings.lease.as_millis() as i64;
            if lanes.size != settings.concurrency {
                lanes = Lanes::new(lanes.results.clone(), settings.concurrency);
            }
            let free = (JOBS_PER_CALL * settings.concurrency).saturating_sub(in_flight.len());
            if free > 0 {
                match store
                    .claim_jobs(&context.owner, context.now_ms(), lease_ms, free as i64)
                    .await
                {
                    Ok(jobs) => {
                        let claimed = jobs.len();
                        for job in jobs {
                            let span = job_span(&job);
                            let lanes = lanes.clone();
                            in_flight.spawn(process(context.clone(), lanes, job).instrument(span));
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
            if free == 0 {
                // Every slot is busy: nothing to claim until one frees.
                tokio::select! {
                    _ = shutdown.cancelled() => {}
                    _ = in_flight.join_next() => {}
                }
                continue;
            }
            let wait = match store.next_due().await {
                Ok(Some(due)) => Duration::from_millis((due - context.now_ms()).max(0) as u64),
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

        let grace = context.settings().shutdown_grace;
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
        let _ = follower.await;
        drop(lanes);
        let _ = result_writer.await;
        match store.release_leases(&context.owner, context.now_ms()).await {
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

/// Every log line about a job carries its id and its delivery's.
fn job_span(job: &JobRow) -> tracing::Span {
    tracing::info_span!("job", job_id = %job.id, delivery_id = %job.delivery_id)
}

/// One job, start to end: the call, lease renewal while it runs, the fenced result.
async fn process(context: Arc<Context>, lanes: Lanes, job: JobRow) {
    let live = context.live.current();
    let settings = &live.worker;
    let (outcome, attempt) = match live.targets.get(&job.target) {
        None => {
            let error = format!(
                "the target {:?} is not configured: add [targets.{}] or change the rule",
                job.target, job.target
            );
            dead_without_a_call(error, context.now_ms())
        }
        Some(target) if target.shadow => shadow(&target.client, &job, context.now_ms()),
        Some(target) => {
            let policy = trigger::Policy {
                retry_schedule: &settings.retry_schedule,
                max_attempts: settings.max_attempts,
                busy_timeout: settings.busy_timeout,
            };
            let call = async {
                // The waits for a call slot and a token are covered by the lease renewal
                // below: a wait longer than the lease must not hand the job to a second
                // worker.
                let _call_slot = lanes.calls.acquire().await;
                if let Some(limiter) = &target.limiter {
                    limiter.acquire().await;
                }
                crate::metrics::zenml_call(trigger::attempt(&target.client, &job, &policy, || {
                    context.now_ms()
                }))
                .await
            };
            let renewal = keep_lease(&context, &job, settings.lease);
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
    crate::metrics::trigger_attempt(&job.target, outcome.status());
    let (job_id, delivery_id) = (job.id.clone(), job.delivery_id.clone());
    let status = outcome.status();
    let error = attempt.error.clone().unwrap_or_default();
    let finished = FinishedJob {
        job,
        outcome,
        attempt: Some(attempt),
        now_ms: context.now_ms(),
    };
    match lanes.results.commit_waiting(finished).await {
        Ok(true) => {
            tracing::info!(%job_id, %delivery_id, status, error, "job attempt recorded");
        }
        Ok(false) => tracing::warn!(
            %job_id,
            "lease lost during the call: the result is left to the job's new holder"
        ),
        Err(error) => tracing::error!(
            %job_id, %error,
            "cannot record the result; the lease will expire and the run is found by its tag"
        ),
    }
}

fn shadow(client: &ZenmlClient, job: &JobRow, now: i64) -> (JobOutcome, Attempt) {
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
        Err(error) => dead_without_a_call(error, now),
    }
}

/// A job that can never be sent as it is: dead, without using up an attempt.
pub(crate) fn dead_without_a_call(error: String, now: i64) -> (JobOutcome, Attempt) {
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

/// Renews the job's lease every third of its length; returns when it is lost.
async fn keep_lease(context: &Context, job: &JobRow, lease: Duration) {
    let Some(token) = job.lease_token.as_deref() else {
        return;
    };
    let mut ticker = tokio::time::interval(lease / 3);
    ticker.tick().await;
    loop {
        ticker.tick().await;
        let until = context.now_ms() + lease.as_millis() as i64;
        match context.store.renew_lease(&job.id, token, until).await {
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

/// Follows triggered runs until `shutdown`: each due run is looked at once per round.
async fn follow_runs(context: Arc<Context>, shutdown: CancellationToken) {
    while !shutdown.is_cancelled() {
        let live = context.live.current();
        let settings = &live.worker;
        let schedule = follow::Schedule {
            first: settings.follow_interval,
            max: settings.follow_max_interval,
            deadline: settings.run_deadline,
        };
        let lease_ms = settings.lease.as_millis() as i64;
        let pause = settings.follow_interval.min(settings.poll) / 2;
        let due = context
            .store
            .claim_follows(
                &context.owner,
                context.now_ms(),
                lease_ms,
                settings.concurrency as i64,
            )
            .await
            .unwrap_or_else(|error| {
                tracing::warn!(%error, "cannot claim runs to follow");
                Vec::new()
            });
        let looks = due.into_iter().map(|job| {
            let context = context.clone();
            let live = live.clone();
            let schedule = &schedule;
            let span = job_span(&job);
            async move {
                let update = match live.targets.get(&job.target).and_then(TargetClient::live) {
                    Some(client) => follow::look(client, &job, schedule, context.now_ms()).await,
                    // The target was removed or made a shadow (a reload): nobody can follow
                    // the run any more, and it must not hold its slot for ever.
                    None => RunUpdate {
                        status: "lost".into(),
                        terminal: true,
                        next_check_at: context.now_ms(),
                    },
                };
                let changed = job.run_status.as_deref() != Some(update.status.as_str());
                match context.store.record_run(&job, &update, context.now_ms()).await {
                    Ok(true) => {
                        if changed {
                            tracing::info!(job_id = %job.id, run_id = job.run_id.as_deref().unwrap_or(""), status = %update.status, "run status");
                        }
                        if update.terminal {
                            // A concurrency slot may have freed.
                            context.wake.notify_one();
                        }
                    }
                    Ok(false) => {}
                    Err(error) => tracing::warn!(job_id = %job.id, %error, "cannot record the run status"),
                }
            }
            .instrument(span)
        });
        futures::future::join_all(looks).await;
        tokio::select! {
            _ = shutdown.cancelled() => {}
            _ = tokio::time::sleep(pause.max(Duration::from_millis(50))) => {}
        }
    }
}

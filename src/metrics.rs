//! Prometheus metrics, served at `GET /metrics`. The names are pinned here and every call
//! site is one line.
//!
//! One recorder per process, installed on first use: tests start several services in one
//! process, and they share it (their counts add up). Job gauges come from a count query
//! a background task runs every few seconds, never from a scrape, so scraping costs the
//! database nothing.

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use tokio_util::sync::CancellationToken;

use crate::clock::Clock;
use crate::http::ApiError;
use crate::store::Store;

pub const DELIVERIES: &str = "zenhook_deliveries_total";
pub const VERIFICATION_FAILURES: &str = "zenhook_verification_failures_total";
pub const JOBS: &str = "zenhook_jobs";
pub const TRIGGER_ATTEMPTS: &str = "zenhook_trigger_attempts_total";
pub const ZENML_REQUEST_SECONDS: &str = "zenhook_zenml_request_seconds";
pub const QUEUE_DEPTH: &str = "zenhook_queue_depth";
pub const QUEUE_OLDEST_AGE_SECONDS: &str = "zenhook_queue_oldest_age_seconds";
pub const COMMIT_BATCH_SIZE: &str = "zenhook_commit_batch_size";

/// The `source` label of a request to a source that is not configured: the raw path
/// segment is the sender's choice, and a label per value would grow without bound.
pub const UNKNOWN_SOURCE: &str = "unknown";

/// Every job status, so a status that empties reads 0 instead of its last value.
const JOB_STATUSES: [&str; 10] = [
    "queued",
    "held",
    "running",
    "retrying",
    "succeeded",
    "shadowed",
    "dead",
    "cancelled",
    "skipped",
    "superseded",
];

/// Statuses of jobs not yet triggered: the queue.
const WAITING: [&str; 3] = ["queued", "retrying", "held"];

/// How often the job gauges are recounted.
pub const GAUGE_REFRESH: Duration = Duration::from_secs(5);

static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();

/// Installs the process-wide recorder the first time; later calls return the same handle.
pub fn install() -> &'static PrometheusHandle {
    HANDLE.get_or_init(|| {
        let builder = PrometheusBuilder::new();
        let builder = builder
            .set_buckets_for_metric(
                Matcher::Full(ZENML_REQUEST_SECONDS.into()),
                &[
                    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
                ],
            )
            .and_then(|b| {
                b.set_buckets_for_metric(
                    Matcher::Full(COMMIT_BATCH_SIZE.into()),
                    &[1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0, 256.0, 512.0],
                )
            })
            .unwrap_or_else(|_| PrometheusBuilder::new());
        let recorder = builder.build_recorder();
        let handle = recorder.handle();
        if ::metrics::set_global_recorder(recorder).is_err() {
            // Someone else's recorder is installed (an embedding program): it gets the
            // measurements, and /metrics renders this unused one.
            tracing::warn!("a metrics recorder was already installed; /metrics stays empty");
        }
        handle
    })
}

/// The Prometheus text exposition of every metric.
pub fn render() -> String {
    let handle = install();
    handle.run_upkeep();
    handle.render()
}

/// One webhook answered, by source and outcome (`accepted`, `duplicate`, `pong`,
/// `unauthorized`, `invalid_body`, `too_large`, `unavailable`).
pub fn delivery(source: &str, outcome: &'static str) {
    ::metrics::counter!(DELIVERIES, "source" => source.to_owned(), "outcome" => outcome)
        .increment(1);
}

/// A webhook for a source that is not configured.
pub fn unknown_source() {
    ::metrics::counter!(DELIVERIES, "source" => UNKNOWN_SOURCE, "outcome" => "unknown_source")
        .increment(1);
}

/// A webhook refused by its verifier; `reason` is `Rejection::reason()`.
pub fn unauthorized(source: &str, reason: &'static str) {
    ::metrics::counter!(VERIFICATION_FAILURES, "source" => source.to_owned(), "reason" => reason)
        .increment(1);
    delivery(source, "unauthorized");
}

/// A webhook refused after its source was found, by the error it was answered with.
pub fn refused(source: &str, error: &ApiError) {
    let outcome = match error {
        ApiError::Unauthorized => "unauthorized",
        ApiError::BodyTooLarge { .. } => "too_large",
        ApiError::Unavailable => "unavailable",
        _ => "invalid_body",
    };
    delivery(source, outcome);
}

/// One go at a job, by target and what it came to (the job status it leaves).
pub fn trigger_attempt(target: &str, result: &'static str) {
    ::metrics::counter!(TRIGGER_ATTEMPTS, "target" => target.to_owned(), "result" => result)
        .increment(1);
}

/// How long the calls of one attempt at ZenML took.
pub fn zenml_request(elapsed: Duration) {
    ::metrics::histogram!(ZENML_REQUEST_SECONDS).record(elapsed.as_secs_f64());
}

/// Awaits the calls of one attempt at ZenML, recording how long they took.
pub async fn zenml_call<T>(call: impl std::future::Future<Output = T>) -> T {
    let started = std::time::Instant::now();
    let result = call.await;
    zenml_request(started.elapsed());
    result
}

/// How many deliveries one group commit carried.
pub fn commit_batch(size: usize) {
    ::metrics::histogram!(COMMIT_BATCH_SIZE).record(size as f64);
}

/// Sets the job gauges from a count by status and the creation time of the oldest
/// waiting job.
pub fn set_job_gauges(counts: &[(String, i64)], oldest_waiting_ms: Option<i64>, now_ms: i64) {
    let count_of = |status: &str| {
        counts
            .iter()
            .filter(|(s, _)| s == status)
            .map(|(_, n)| *n)
            .sum::<i64>()
    };
    for status in JOB_STATUSES {
        ::metrics::gauge!(JOBS, "status" => status).set(count_of(status) as f64);
    }
    for (status, count) in counts {
        if !JOB_STATUSES.contains(&status.as_str()) {
            ::metrics::gauge!(JOBS, "status" => status.clone()).set(*count as f64);
        }
    }
    let depth: i64 = WAITING.iter().map(|s| count_of(s)).sum();
    ::metrics::gauge!(QUEUE_DEPTH).set(depth as f64);
    let age_ms = oldest_waiting_ms.map_or(0, |at| (now_ms - at).max(0));
    ::metrics::gauge!(QUEUE_OLDEST_AGE_SECONDS).set(age_ms as f64 / 1000.0);
}

/// Recounts the jobs every `every` until `shutdown`.
pub async fn refresh_job_gauges(
    store: Arc<dyn Store>,
    clock: Arc<dyn Clock>,
    every: Duration,
    shutdown: CancellationToken,
) {
    loop {
        match tokio::try_join!(store.job_counts(), store.oldest_waiting_job()) {
            Ok((counts, oldest)) => set_job_gauges(&counts, oldest, clock.now_ms()),
            Err(error) => tracing::debug!(%error, "cannot count jobs for the metrics"),
        }
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = tokio::time::sleep(every) => {}
        }
    }
}

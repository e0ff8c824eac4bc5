//! One go at one job: from a claimed row to the outcome the store records.
//!
//! Exactly once rests on three guards: the job's idempotency key on every attempt
//! (ZenML answers a repeat within 300 s with the same run), a tag per job and
//! generation on the run (looked up before re-sending whenever an earlier attempt may
//! have reached ZenML), and adopting a run-name conflict when the run carries our tag.

use std::time::Duration;

use serde_json::Value;
use uuid::Uuid;

use crate::store::{Attempt, JobOutcome, JobRow};
use crate::zenml::{hints, TemplateOrSnapshot, TriggerError, TriggerRequest, ZenmlClient};

use super::retry;

/// The settings one attempt needs.
pub struct Policy<'a> {
    pub retry_schedule: &'a [Duration],
    pub max_attempts: u32,
    pub busy_timeout: Duration,
}

/// The tag that finds a job's run in ZenML long after the idempotency window.
/// Without `:`, which ZenML's filters would read as an operator.
pub fn job_tag(job: &JobRow) -> String {
    format!("zenhook-job-{}-{}", job.id, job.generation)
}

/// The request for a job: its rendered run configuration with the job's tag added.
pub fn request_for(job: &JobRow) -> Result<TriggerRequest, String> {
    let mut run_config: Value = serde_json::from_str(&job.run_config)
        .map_err(|e| format!("the stored run configuration is not JSON: {e}"))?;
    let Some(config) = run_config.as_object_mut() else {
        return Err("the run configuration is not a JSON object".into());
    };
    let tag = Value::String(job_tag(job));
    match config.get_mut("tags") {
        None | Some(Value::Null) => {
            config.insert("tags".into(), Value::Array(vec![tag]));
        }
        Some(Value::Array(tags)) => tags.push(tag),
        Some(Value::String(one)) => {
            let one = Value::String(std::mem::take(one));
            config.insert("tags".into(), Value::Array(vec![one, tag]));
        }
        Some(other) => {
            return Err(format!(
                "run_config.tags must be a list of strings, not {other}"
            ))
        }
    }
    let kind = match job.target_kind.as_str() {
        "snapshot" => TemplateOrSnapshot::Snapshot,
        _ => TemplateOrSnapshot::Template,
    };
    Ok(TriggerRequest {
        kind,
        id: Uuid::parse_str(&job.target_id)
            .map_err(|_| format!("the target id {:?} is not a UUID", job.target_id))?,
        run_config,
        idempotency_key: Uuid::parse_str(&job.idempotency_key)
            .map_err(|_| "the idempotency key is not a UUID".to_string())?,
    })
}

/// Runs one attempt against ZenML and says what the store should record.
pub async fn attempt(
    client: &ZenmlClient,
    job: &JobRow,
    policy: &Policy<'_>,
    now_ms: impl Fn() -> i64,
) -> (JobOutcome, Attempt) {
    let started_at = now_ms();
    let request = match request_for(job) {
        Ok(request) => request,
        Err(error) => return super::dead_without_a_call(error, started_at),
    };
    let tag = job_tag(job);

    // An earlier attempt may have created the run: find it before sending again.
    if job.uncertain != 0 {
        match client.find_run_by_tag(&tag).await {
            Ok(Some(run)) => {
                tracing::info!(job_id = %job.id, run_id = %run.id, "run found by tag; adopted");
                let attempt = Attempt {
                    started_at,
                    finished_at: now_ms(),
                    http_status: Some(200),
                    error: None,
                };
                return (
                    JobOutcome::Succeeded {
                        run_id: run.id,
                        run_name: run.name,
                    },
                    attempt,
                );
            }
            Ok(None) => {}
            Err(error) => {
                // Sending without knowing could start a second run: wait instead.
                return failed(job, policy, error, true, started_at, now_ms());
            }
        }
    }

    match client.trigger(&request).await {
        Ok(run) => {
            let attempt = Attempt {
                started_at,
                finished_at: now_ms(),
                http_status: Some(200),
                error: None,
            };
            (
                JobOutcome::Succeeded {
                    run_id: run.id,
                    run_name: run.name,
                },
                attempt,
            )
        }
        Err(TriggerError::RunNameTaken { message }) => {
            // Ours if it carries our tag (a repeat after the idempotency window).
            match client.find_run_by_tag(&tag).await {
                Ok(Some(run)) => (
                    JobOutcome::Succeeded {
                        run_id: run.id,
                        run_name: run.name,
                    },
                    Attempt {
                        started_at,
                        finished_at: now_ms(),
                        http_status: Some(409),
                        error: Some(format!("adopted the existing run: {message}")),
                    },
                ),
                Ok(None) => {
                    let error = format!(
                        "the run name is already used in this project: give the rule a run_name \
                         that differs per event (ZenML said: {message})"
                    );
                    let attempt = Attempt {
                        started_at,
                        finished_at: now_ms(),
                        http_status: Some(409),
                        error: Some(error.clone()),
                    };
                    (
                        JobOutcome::Dead {
                            counts: true,
                            error,
                        },
                        attempt,
                    )
                }
                Err(lookup) => failed(job, policy, lookup, true, started_at, now_ms()),
            }
        }
        Err(error) => failed(job, policy, error, false, started_at, now_ms()),
    }
}

/// Turns a failure into a retry or a dead job.
fn failed(
    job: &JobRow,
    policy: &Policy<'_>,
    error: TriggerError,
    after_send: bool,
    started_at: i64,
    now: i64,
) -> (JobOutcome, Attempt) {
    let summary = match &error {
        // No answer: the message names the URL, the hint where to look (as `zenhook check` does).
        TriggerError::Unreachable { .. } => {
            format!("{} — {}", error.summary(), hints::unreachable(&job.target))
        }
        _ => error.summary(),
    };
    let attempt = Attempt {
        started_at,
        finished_at: now,
        http_status: error.status().map(i64::from),
        error: Some(summary.clone()),
    };
    let mut rng = rand::thread_rng();
    let failed_before = job.attempts.max(0) as u32;
    let outcome = match error {
        TriggerError::Busy { retry_after, .. } => {
            let busy_since = job.busy_since.unwrap_or(started_at);
            if now.saturating_sub(busy_since) >= policy.busy_timeout.as_millis() as i64 {
                JobOutcome::Dead {
                    counts: false,
                    error: format!(
                        "ZenML stayed busy for {} (busy_timeout): {summary}",
                        humantime::format_duration(policy.busy_timeout)
                    ),
                }
            } else {
                let wait =
                    retry::delay(policy.retry_schedule, failed_before, retry_after, &mut rng);
                JobOutcome::Retry {
                    next_attempt_at: now + wait.as_millis() as i64,
                    counts: false,
                    busy_since: Some(busy_since),
                    // A busy answer to the trigger created nothing (ZenML deletes the
                    // run it refused); one to a lookup proves nothing either way.
                    uncertain: job.uncertain != 0 || after_send,
                    error: summary,
                }
            }
        }
        TriggerError::Fatal { .. } => JobOutcome::Dead {
            counts: true,
            error: summary,
        },
        TriggerError::RunNameTaken { .. }
        | TriggerError::Unreachable { .. }
        | TriggerError::Ambiguous { .. }
        | TriggerError::Retryable { .. } => {
            // Only a connection that never opened proves nothing was created; a 5xx or
            // a timeout may have come after ZenML made the run.
            let uncertain = after_send
                || job.uncertain != 0
                || !matches!(error, TriggerError::Unreachable { .. });
            if failed_before + 1 >= policy.max_attempts {
                JobOutcome::Dead {
                    counts: true,
                    error: format!(
                        "gave up after {} failed attempts: {summary}",
                        policy.max_attempts
                    ),
                }
            } else {
                let retry_after = match &error {
                    TriggerError::Retryable { retry_after, .. } => *retry_after,
                    _ => None,
                };
                let wait =
                    retry::delay(policy.retry_schedule, failed_before, retry_after, &mut rng);
                JobOutcome::Retry {
                    next_attempt_at: now + wait.as_millis() as i64,
                    counts: true,
                    busy_since: None,
                    uncertain,
                    error: summary,
                }
            }
        }
    };
    (outcome, attempt)
}

//! The job table: claims with leases, fenced completions, operator actions.
//!
//! The SQL is the same text for both backends (sqlx's SQLite driver reads `$N`
//! placeholders too); only claiming differs, so `job_queries!` expands these methods
//! for each store type with its own claim statement.

use serde::Serialize;

/// A job as read back.
#[derive(Debug, Clone, sqlx::FromRow, Serialize)]
pub struct JobRow {
    pub id: String,
    pub delivery_id: String,
    pub delivery_seq: i64,
    pub rule_id: String,
    pub rule_version: i64,
    pub generation: i64,
    pub idempotency_key: String,
    pub target: String,
    pub target_kind: String,
    pub target_id: String,
    pub run_config: String,
    pub status: String,
    pub attempts: i64,
    pub uncertain: i64,
    pub busy_since: Option<i64>,
    pub next_attempt_at: i64,
    #[serde(skip)]
    pub lease_owner: Option<String>,
    #[serde(skip)]
    pub lease_token: Option<String>,
    pub lease_expires_at: Option<i64>,
    pub run_id: Option<String>,
    pub run_name: Option<String>,
    pub run_status: Option<String>,
    pub run_status_at: Option<i64>,
    pub shadow_request: Option<String>,
    pub last_error: Option<String>,
    pub created_at: i64,
    pub updated_at: i64,
}

/// One call to ZenML for a job, kept for operators.
#[derive(Debug, Clone, sqlx::FromRow, Serialize)]
pub struct AttemptRow {
    pub job_id: String,
    pub generation: i64,
    pub attempt: i64,
    pub started_at: i64,
    pub finished_at: i64,
    pub http_status: Option<i64>,
    pub outcome: String,
    pub error: Option<String>,
}

/// What a worker learned from one go at a job.
#[derive(Debug, Clone, PartialEq)]
pub enum JobOutcome {
    /// ZenML accepted the trigger (or the run was found by its tag).
    Succeeded { run_id: String, run_name: String },
    /// A shadow target: the request that would have been sent.
    Shadowed { request: String },
    /// Try again at `next_attempt_at`.
    Retry {
        next_attempt_at: i64,
        /// False for "busy" answers (429), which do not use up an attempt.
        counts: bool,
        busy_since: Option<i64>,
        /// The trigger may have reached ZenML: look it up by tag before resending.
        uncertain: bool,
        error: String,
    },
    /// Never retried (an operator may start a new generation).
    Dead { counts: bool, error: String },
}

impl JobOutcome {
    pub fn status(&self) -> &'static str {
        match self {
            JobOutcome::Succeeded { .. } => "succeeded",
            JobOutcome::Shadowed { .. } => "shadowed",
            JobOutcome::Retry { .. } => "retrying",
            JobOutcome::Dead { .. } => "dead",
        }
    }
}

/// The record of one attempt.
#[derive(Debug, Clone)]
pub struct Attempt {
    pub started_at: i64,
    pub finished_at: i64,
    pub http_status: Option<i64>,
    pub error: Option<String>,
}

/// What an operator's cancel or retry came to.
#[derive(Debug, Clone)]
pub enum JobAction {
    Done(JobRow),
    /// The job exists but is in a status that does not allow it.
    NotAllowed(String),
    NotFound,
}

pub(super) const FINISH: &str = "UPDATE jobs SET status = $3, attempts = attempts + $4, \
     busy_since = $5, next_attempt_at = $6, uncertain = $7, run_id = COALESCE($8, run_id), \
     run_name = COALESCE($9, run_name), shadow_request = COALESCE($10, shadow_request), \
     last_error = $11, lease_owner = NULL, lease_token = NULL, lease_expires_at = NULL, \
     updated_at = $12 WHERE id = $1 AND lease_token = $2 AND status = 'running'";

pub(super) const RECORD_ATTEMPT: &str = "INSERT INTO job_attempts \
     (job_id, generation, attempt, started_at, finished_at, http_status, outcome, error) \
     VALUES ($1, $2, (SELECT COALESCE(MAX(attempt), 0) + 1 FROM job_attempts \
     WHERE job_id = $1 AND generation = $2), $3, $4, $5, $6, $7)";

pub(super) const RENEW: &str = "UPDATE jobs SET lease_expires_at = $3 \
     WHERE id = $1 AND lease_token = $2 AND status = 'running'";

/// Jobs a stopping worker still holds go back to the queue, marked uncertain: their
/// call may have reached ZenML, so the next worker looks for the run first.
pub(super) const RELEASE: &str = "UPDATE jobs SET \
     status = CASE WHEN attempts = 0 THEN 'queued' ELSE 'retrying' END, uncertain = 1, \
     lease_owner = NULL, lease_token = NULL, lease_expires_at = NULL, next_attempt_at = $2, \
     updated_at = $2 WHERE lease_owner = $1 AND status = 'running'";

pub(super) const NEXT_DUE: &str = "SELECT MIN(CASE WHEN status = 'running' THEN lease_expires_at \
     ELSE next_attempt_at END) FROM jobs WHERE status IN ('queued', 'retrying', 'running')";

pub(super) const CANCEL: &str = "UPDATE jobs SET status = 'cancelled', updated_at = $2, \
     last_error = 'cancelled by an operator' \
     WHERE id = $1 AND status IN ('queued', 'retrying') AND uncertain = 0 RETURNING *";

pub(super) const RETRY: &str = "UPDATE jobs SET status = 'queued', generation = generation + 1, \
     idempotency_key = $2, attempts = 0, uncertain = 0, busy_since = NULL, last_error = NULL, \
     next_attempt_at = $3, updated_at = $3 WHERE id = $1 AND status = 'dead' RETURNING *";

pub(super) const LIST: &str = "SELECT * FROM jobs WHERE (CAST($1 AS TEXT) IS NULL OR status = $1) \
     AND (CAST($2 AS BIGINT) IS NULL OR created_at < $2 OR (created_at = $2 AND id < $3)) \
     ORDER BY created_at DESC, id DESC LIMIT $4";

/// A replayed delivery's jobs are the next generation of each (delivery, rule).
pub(super) const INSERT_GENERATION: &str = "INSERT INTO jobs (id, delivery_id, delivery_seq, \
     rule_id, rule_version, generation, idempotency_key, target, target_kind, target_id, \
     run_config, status, attempts, next_attempt_at, created_at, updated_at) \
     VALUES ($1, $2, $3, $4, $5, (SELECT COALESCE(MAX(generation), 0) + 1 FROM jobs \
     WHERE delivery_id = $2 AND rule_id = $4), $6, $7, $8, $9, $10, 'queued', 0, $11, $11, $11) \
     RETURNING *";

/// Expands the shared job methods as inherent `*_impl` methods of a store type; the
/// trait implementation delegates to them.
macro_rules! job_queries {
    ($store:ty, $claim_sql:expr) => {
        impl $store {
            async fn claim_jobs_impl(
                &self,
                owner: &str,
                now_ms: i64,
                lease_ms: i64,
                limit: i64,
            ) -> Result<Vec<$crate::store::JobRow>, $crate::store::StoreError> {
                let mut tx = self.begin_write().await?;
                let jobs = sqlx::query_as::<_, $crate::store::JobRow>($claim_sql)
                    .bind(owner)
                    .bind(now_ms)
                    .bind(now_ms + lease_ms)
                    .bind(limit)
                    .fetch_all(&mut *tx)
                    .await?;
                tx.commit().await?;
                Ok(jobs)
            }

            async fn renew_lease_impl(
                &self,
                id: &str,
                token: &str,
                until_ms: i64,
            ) -> Result<bool, $crate::store::StoreError> {
                Ok(sqlx::query($crate::store::jobs::RENEW)
                    .bind(id)
                    .bind(token)
                    .bind(until_ms)
                    .execute(&self.pool)
                    .await?
                    .rows_affected()
                    == 1)
            }

            async fn finish_job_impl(
                &self,
                job: &$crate::store::JobRow,
                outcome: &$crate::store::JobOutcome,
                attempt: Option<&$crate::store::Attempt>,
                now_ms: i64,
            ) -> Result<bool, $crate::store::StoreError> {
                use $crate::store::JobOutcome;
                let Some(token) = job.lease_token.as_deref() else {
                    return Ok(false);
                };
                let (counts, busy_since, next_at, uncertain, run, shadow, error) = match outcome {
                    JobOutcome::Succeeded { run_id, run_name } => (
                        true,
                        None,
                        job.next_attempt_at,
                        false,
                        Some((run_id, run_name)),
                        None,
                        None,
                    ),
                    JobOutcome::Shadowed { request } => (
                        false,
                        None,
                        job.next_attempt_at,
                        false,
                        None,
                        Some(request),
                        None,
                    ),
                    JobOutcome::Retry {
                        next_attempt_at,
                        counts,
                        busy_since,
                        uncertain,
                        error,
                    } => (
                        *counts,
                        *busy_since,
                        *next_attempt_at,
                        *uncertain,
                        None,
                        None,
                        Some(error),
                    ),
                    JobOutcome::Dead { counts, error } => (
                        *counts,
                        None,
                        job.next_attempt_at,
                        false,
                        None,
                        None,
                        Some(error),
                    ),
                };
                let mut tx = self.begin_write().await?;
                let updated = sqlx::query($crate::store::jobs::FINISH)
                    .bind(&job.id)
                    .bind(token)
                    .bind(outcome.status())
                    .bind(i64::from(counts))
                    .bind(busy_since)
                    .bind(next_at)
                    .bind(i64::from(uncertain))
                    .bind(run.map(|(id, _)| id))
                    .bind(run.map(|(_, name)| name))
                    .bind(shadow)
                    .bind(error)
                    .bind(now_ms)
                    .execute(&mut *tx)
                    .await?
                    .rows_affected()
                    == 1;
                if !updated {
                    // Fenced: another worker holds the job now; its result stands.
                    return Ok(false);
                }
                if let Some(attempt) = attempt {
                    sqlx::query($crate::store::jobs::RECORD_ATTEMPT)
                        .bind(&job.id)
                        .bind(job.generation)
                        .bind(attempt.started_at)
                        .bind(attempt.finished_at)
                        .bind(attempt.http_status)
                        .bind(outcome.status())
                        .bind(&attempt.error)
                        .execute(&mut *tx)
                        .await?;
                }
                tx.commit().await?;
                Ok(true)
            }

            async fn release_leases_impl(
                &self,
                owner: &str,
                now_ms: i64,
            ) -> Result<u64, $crate::store::StoreError> {
                Ok(sqlx::query($crate::store::jobs::RELEASE)
                    .bind(owner)
                    .bind(now_ms)
                    .execute(&self.pool)
                    .await?
                    .rows_affected())
            }

            async fn next_due_impl(&self) -> Result<Option<i64>, $crate::store::StoreError> {
                Ok(sqlx::query_scalar($crate::store::jobs::NEXT_DUE)
                    .fetch_one(&self.pool)
                    .await?)
            }

            async fn get_job_impl(
                &self,
                id: &str,
            ) -> Result<Option<$crate::store::JobRow>, $crate::store::StoreError> {
                Ok(sqlx::query_as("SELECT * FROM jobs WHERE id = $1")
                    .bind(id)
                    .fetch_optional(&self.pool)
                    .await?)
            }

            async fn job_attempts_impl(
                &self,
                id: &str,
            ) -> Result<Vec<$crate::store::AttemptRow>, $crate::store::StoreError> {
                Ok(sqlx::query_as(
                    "SELECT * FROM job_attempts WHERE job_id = $1 ORDER BY generation, attempt",
                )
                .bind(id)
                .fetch_all(&self.pool)
                .await?)
            }

            async fn list_jobs_impl(
                &self,
                status: Option<&str>,
                before: Option<(i64, &str)>,
                limit: i64,
            ) -> Result<Vec<$crate::store::JobRow>, $crate::store::StoreError> {
                Ok(sqlx::query_as($crate::store::jobs::LIST)
                    .bind(status)
                    .bind(before.map(|(at, _)| at))
                    .bind(before.map(|(_, id)| id))
                    .bind(limit)
                    .fetch_all(&self.pool)
                    .await?)
            }

            async fn cancel_job_impl(
                &self,
                id: &str,
                now_ms: i64,
            ) -> Result<$crate::store::JobAction, $crate::store::StoreError> {
                let row: Option<$crate::store::JobRow> =
                    sqlx::query_as($crate::store::jobs::CANCEL)
                        .bind(id)
                        .bind(now_ms)
                        .fetch_optional(&self.pool)
                        .await?;
                self.job_action(id, row).await
            }

            async fn retry_job_impl(
                &self,
                id: &str,
                idempotency_key: uuid::Uuid,
                now_ms: i64,
            ) -> Result<$crate::store::JobAction, $crate::store::StoreError> {
                let row: Option<$crate::store::JobRow> = sqlx::query_as($crate::store::jobs::RETRY)
                    .bind(id)
                    .bind(idempotency_key.to_string())
                    .bind(now_ms)
                    .fetch_optional(&self.pool)
                    .await?;
                self.job_action(id, row).await
            }

            async fn insert_jobs_impl(
                &self,
                delivery_id: &str,
                delivery_seq: i64,
                jobs: &[$crate::store::NewJob],
                now_ms: i64,
            ) -> Result<Vec<$crate::store::JobRow>, $crate::store::StoreError> {
                let mut tx = self.begin_write().await?;
                let mut rows = Vec::with_capacity(jobs.len());
                for job in jobs {
                    rows.push(
                        sqlx::query_as::<_, $crate::store::JobRow>(
                            $crate::store::jobs::INSERT_GENERATION,
                        )
                        .bind(job.id.to_string())
                        .bind(delivery_id)
                        .bind(delivery_seq)
                        .bind(job.rule_id.to_string())
                        .bind(job.rule_version)
                        .bind(job.idempotency_key.to_string())
                        .bind(&job.target)
                        .bind(job.target_kind)
                        .bind(job.target_id.to_string())
                        .bind(&job.run_config)
                        .bind(now_ms)
                        .fetch_one(&mut *tx)
                        .await?,
                    );
                }
                self.notify_jobs(&mut tx).await?;
                tx.commit().await?;
                Ok(rows)
            }

            async fn job_action(
                &self,
                id: &str,
                changed: Option<$crate::store::JobRow>,
            ) -> Result<$crate::store::JobAction, $crate::store::StoreError> {
                use $crate::store::JobAction;
                Ok(match changed {
                    Some(row) => JobAction::Done(row),
                    None => match self.get_job_impl(id).await? {
                        Some(row) => JobAction::NotAllowed(row.status),
                        None => JobAction::NotFound,
                    },
                })
            }
        }
    };
}
pub(super) use job_queries;

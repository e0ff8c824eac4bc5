//! The job table: its rows, its SQL (the same text for both backends), and the
//! multi-statement steps of flow control (`job_queries!`). The `Store` methods that use
//! them are in `shared.rs`.

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
    pub debounce_key: Option<String>,
    pub debounce_first_at: Option<i64>,
    pub superseded_by: Option<String>,
    pub concurrency_key: Option<String>,
    pub max_running: Option<i64>,
    pub on_busy: Option<String>,
    pub ordered: i64,
    pub run_terminal: i64,
    pub triggered_at: Option<i64>,
    pub run_checks: i64,
    pub next_check_at: Option<i64>,
    pub run_history: Option<String>,
    pub last_error: Option<String>,
    pub created_at: i64,
    pub updated_at: i64,
}

/// What following a triggered run found.
#[derive(Debug, Clone, PartialEq)]
pub struct RunUpdate {
    /// ZenML's status, or `lost` / `overdue`.
    pub status: String,
    /// The run has ended (or is given up on): its concurrency slot frees.
    pub terminal: bool,
    /// When to look again (ignored once terminal).
    pub next_check_at: i64,
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
    Done(Box<JobRow>),
    /// The job exists but is in a status that does not allow it.
    NotAllowed(String),
    NotFound,
}

/// A triggered run is followed from now on; a shadowed job has no run to follow.
/// Records results, fenced by each job's lease token: `FINISH_HEAD`, a VALUES list of
/// (id, token, status, counts, busy_since, next_attempt_at, uncertain, run_id, run_name,
/// shadow_request, error, now) rows, `FINISH_TAIL`; answers the ids it updated. VALUES
/// columns are named column1, column2, ... in both databases.
pub(super) const FINISH_HEAD: &str = "UPDATE jobs SET status = v.column3, \
     attempts = attempts + v.column4, busy_since = v.column5, next_attempt_at = v.column6, \
     uncertain = v.column7, run_id = COALESCE(v.column8, run_id), \
     run_name = COALESCE(v.column9, run_name), \
     shadow_request = COALESCE(v.column10, shadow_request), last_error = v.column11, \
     lease_owner = NULL, lease_token = NULL, lease_expires_at = NULL, \
     triggered_at = CASE WHEN v.column3 = 'succeeded' THEN v.column12 ELSE triggered_at END, \
     next_check_at = CASE WHEN v.column3 = 'succeeded' THEN v.column12 ELSE next_check_at END, \
     run_terminal = CASE WHEN v.column3 = 'succeeded' THEN 0 ELSE 1 END, \
     updated_at = v.column12 FROM (";

pub(super) const FINISH_TAIL: &str = ") AS v \
     WHERE jobs.id = v.column1 AND jobs.lease_token = v.column2 AND jobs.status = 'running' \
     RETURNING jobs.id";

/// The job columns an outcome sets.
pub(super) struct FinishColumns<'a> {
    /// Whether the attempt uses up one of `max_attempts`.
    pub counts: bool,
    pub busy_since: Option<i64>,
    pub next_attempt_at: i64,
    pub uncertain: bool,
    pub run_id: Option<&'a str>,
    pub run_name: Option<&'a str>,
    pub shadow_request: Option<&'a str>,
    pub error: Option<&'a str>,
}

impl<'a> FinishColumns<'a> {
    pub(super) fn of(job: &JobRow, outcome: &'a JobOutcome) -> FinishColumns<'a> {
        let unchanged = FinishColumns {
            counts: false,
            busy_since: None,
            next_attempt_at: job.next_attempt_at,
            uncertain: false,
            run_id: None,
            run_name: None,
            shadow_request: None,
            error: None,
        };
        match outcome {
            JobOutcome::Succeeded { run_id, run_name } => FinishColumns {
                counts: true,
                run_id: Some(run_id),
                run_name: Some(run_name),
                ..unchanged
            },
            JobOutcome::Shadowed { request } => FinishColumns {
                shadow_request: Some(request),
                ..unchanged
            },
            JobOutcome::Retry {
                next_attempt_at,
                counts,
                busy_since,
                uncertain,
                error,
            } => FinishColumns {
                counts: *counts,
                busy_since: *busy_since,
                next_attempt_at: *next_attempt_at,
                uncertain: *uncertain,
                error: Some(error),
                ..unchanged
            },
            JobOutcome::Dead { counts, error } => FinishColumns {
                counts: *counts,
                error: Some(error),
                ..unchanged
            },
        }
    }
}

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

pub(super) const COUNT_BY_STATUS: &str = "SELECT status, COUNT(*) FROM jobs GROUP BY status";

pub(super) const OLDEST_WAITING: &str =
    "SELECT MIN(created_at) FROM jobs WHERE status IN ('queued', 'retrying', 'held')";

/// One minimum per status, each read off an index end instead of scanning the backlog
/// (the worker asks after every commit that wakes it).
pub(super) const NEXT_DUE: &str = "SELECT MIN(due) FROM ( \
     SELECT MIN(next_attempt_at) AS due FROM jobs WHERE status = 'queued' \
     UNION ALL SELECT MIN(next_attempt_at) FROM jobs WHERE status = 'retrying' \
     UNION ALL SELECT MIN(lease_expires_at) FROM jobs WHERE status = 'running') AS due_times";

pub(super) const CANCEL: &str = "UPDATE jobs SET status = 'cancelled', updated_at = $2, \
     last_error = 'cancelled by an operator' \
     WHERE id = $1 AND status IN ('queued', 'retrying') AND uncertain = 0 RETURNING *";

pub(super) const RETRY: &str = "UPDATE jobs SET status = 'queued', generation = generation + 1, \
     idempotency_key = $2, attempts = 0, uncertain = 0, busy_since = NULL, last_error = NULL, \
     next_attempt_at = $3, updated_at = $3 WHERE id = $1 AND status = 'dead' RETURNING *";

pub(super) const LIST: &str = "SELECT * FROM jobs WHERE (CAST($1 AS TEXT) IS NULL OR status = $1) \
     AND (CAST($2 AS BIGINT) IS NULL OR created_at < $2 OR (created_at = $2 AND id < $3)) \
     ORDER BY created_at DESC, id DESC LIMIT $4";

/// A replay's jobs: the next generation of each (delivery, rule), read back.
pub(super) const INSERT_JOB: &str = "INSERT INTO jobs (id, delivery_id, delivery_seq, rule_id, \
     rule_version, generation, idempotency_key, target, target_kind, target_id, run_config, \
     status, attempts, next_attempt_at, debounce_key, debounce_first_at, concurrency_key, \
     max_running, on_busy, ordered, created_at, updated_at) \
     VALUES ($1, $2, $3, $4, $5, (SELECT COALESCE(MAX(generation), 0) + 1 FROM jobs \
     WHERE delivery_id = $2 AND rule_id = $4), $6, $7, $8, $9, $10, 'queued', 0, $11, $12, $13, \
     $14, $15, $16, $17, $18, $18) RETURNING *";

/// One first-generation job of a newly stored delivery, for `insert_first_jobs`.
pub(super) struct FirstJob<'a> {
    pub delivery_id: uuid::Uuid,
    pub delivery_seq: i64,
    pub job: &'a super::NewJob,
    pub next_attempt_at: i64,
    pub debounce_first_at: Option<i64>,
    pub now_ms: i64,
}

/// Jobs of a debounce burst not started yet.
pub(super) const DEBOUNCED: &str = "SELECT * FROM jobs WHERE rule_id = $1 AND debounce_key = $2 \
     AND status = 'queued' ORDER BY delivery_seq";

pub(super) const SUPERSEDE: &str = "UPDATE jobs SET status = 'superseded', superseded_by = $2, \
     lease_owner = NULL, lease_token = NULL, lease_expires_at = NULL, updated_at = $3 \
     WHERE id = $1 AND status IN ('queued', 'held')";

/// Due jobs under a concurrency key, oldest delivery first.
pub(super) const FLOW_CANDIDATES: &str = "SELECT * FROM jobs WHERE concurrency_key IS NOT NULL \
     AND status IN ('queued', 'retrying', 'held') AND next_attempt_at <= $1 \
     ORDER BY delivery_seq LIMIT 500";

/// Runs in flight for a key: claimed and calling ZenML, or triggered and not yet ended.
pub(super) const IN_FLIGHT: &str = "SELECT COUNT(*) FROM jobs WHERE concurrency_key = $1 \
     AND (status = 'running' OR (status = 'succeeded' AND run_terminal = 0))";

/// The first job of a key not yet triggered: in an ordered key, only it may start. A job
/// being sent counts, since its call may fail and leave it retrying.
pub(super) const FIRST_WAITING: &str = "SELECT MIN(delivery_seq) FROM jobs \
     WHERE concurrency_key = $1 AND status IN ('queued', 'retrying', 'held', 'running')";

pub(super) const CLAIM_ONE: &str = "UPDATE jobs SET status = 'running', lease_owner = $2, \
     lease_token = $3, lease_expires_at = $4, updated_at = $5 \
     WHERE id = $1 AND status IN ('queued', 'retrying', 'held') RETURNING *";

pub(super) const HOLD: &str = "UPDATE jobs SET status = 'held', updated_at = $2 \
     WHERE id = $1 AND status <> 'held'";

pub(super) const SKIP: &str =
    "UPDATE jobs SET status = 'skipped', last_error = $2, updated_at = $3 \
     WHERE id = $1";

pub(super) const RECORD_RUN: &str = "UPDATE jobs SET run_status = $3, \
     run_status_at = CASE WHEN run_status IS NULL OR run_status <> $3 THEN $6 ELSE run_status_at END, \
     run_history = $4, run_terminal = $5, run_checks = run_checks + 1, next_check_at = $7, \
     lease_owner = NULL, lease_token = NULL, lease_expires_at = NULL, updated_at = $6 \
     WHERE id = $1 AND lease_token = $2 AND status = 'succeeded'";

/// Deliveries all of whose jobs are finished (a followed run counts until it ends).
const SETTLED: &str = "NOT EXISTS (SELECT 1 FROM jobs j WHERE j.delivery_id = deliveries.id \
     AND (j.status IN ('queued', 'running', 'retrying', 'held') \
     OR (j.status = 'succeeded' AND j.run_terminal = 0)))";

pub(super) fn prune_bodies_sql(count_only: bool) -> String {
    let pick = format!(
        "SELECT id FROM deliveries WHERE received_at < $1 AND body_pruned_at IS NULL AND {SETTLED} \
         ORDER BY seq LIMIT $2"
    );
    if count_only {
        format!("SELECT COUNT(*) FROM ({pick}) AS due")
    } else {
        format!(
            "UPDATE deliveries SET body = $3, headers = '{{}}', body_pruned_at = $4 WHERE id IN ({pick})"
        )
    }
}

pub(super) fn prune_deliveries_sql() -> String {
    format!("SELECT id FROM deliveries WHERE received_at < $1 AND {SETTLED} ORDER BY seq LIMIT $2")
}

/// The trace line a debounced delivery gets when a later event's job replaces its own.
pub(super) fn superseded_trace(trace: &str, job: &JobRow, by: &str, rule_name: &str) -> String {
    let mut entries: Vec<serde_json::Value> = serde_json::from_str(trace).unwrap_or_default();
    entries.push(serde_json::json!({
        "rule_id": job.rule_id,
        "rule": rule_name,
        "version": job.rule_version,
        "outcome": "superseded",
        "filter": "debounce",
        "reason": format!(
            "debounce: job {} was superseded by job {by}, from a later event with the same key",
            job.id
        ),
    }));
    serde_json::Value::Array(entries).to_string()
}

/// A run's history with `status` appended when it changed.
pub(super) fn run_history(job: &JobRow, status: &str, now_ms: i64) -> String {
    let mut history: Vec<serde_json::Value> = job
        .run_history
        .as_deref()
        .and_then(|h| serde_json::from_str(h).ok())
        .unwrap_or_default();
    if job.run_status.as_deref() != Some(status) {
        history.push(serde_json::json!({ "status": status, "at": now_ms }));
    }
    serde_json::Value::Array(history).to_string()
}

/// Expands the job steps that take several statements (flow-controlled claims, parking
/// blocked jobs, inserting a delivery's jobs with debounce) as inherent methods of a
/// store type, for its `Store` implementation to call.
macro_rules! job_queries {
    ($store:ty, $conn:ty) => {
        impl $store {

            /// Claims due jobs under concurrency keys while their keys have free slots
            /// (and, in ordered keys, only the first waiting job); the others are held,
            /// skipped or superseded as their rule says.
            async fn claim_flow_jobs(
                conn: &mut $conn,
                owner: &str,
                now_ms: i64,
                lease_ms: i64,
                room: i64,
            ) -> Result<Vec<$crate::store::JobRow>, $crate::store::StoreError> {
                use $crate::store::jobs as sql;
                use $crate::store::JobRow;
                let candidates: Vec<JobRow> = sqlx::query_as(sql::FLOW_CANDIDATES)
                    .bind(now_ms)
                    .fetch_all(&mut *conn)
                    .await?;
                let mut by_key: std::collections::BTreeMap<String, Vec<JobRow>> =
                    std::collections::BTreeMap::new();
                for job in candidates {
                    let key = job.concurrency_key.clone().unwrap_or_default();
                    by_key.entry(key).or_default().push(job);
                }
                let mut claimed = Vec::new();
                for (key, waiting) in by_key {
                    let in_flight: i64 = sqlx::query_scalar(sql::IN_FLIGHT)
                        .bind(&key)
                        .fetch_one(&mut *conn)
                        .await?;
                    // The newest job's rule version decides the limit.
                    let newest = waiting.last().cloned();
                    let max_running = newest.as_ref().and_then(|j| j.max_running).unwrap_or(1);
                    let mut free = (max_running - in_flight).max(0);
                    let first_waiting: Option<i64> = if waiting.iter().any(|j| j.ordered != 0) {
                        sqlx::query_scalar(sql::FIRST_WAITING)
                            .bind(&key)
                            .fetch_one(&mut *conn)
                            .await?
                    } else {
                        None
                    };
                    let mut blocked = Vec::new();
                    for job in waiting {
                        let in_turn = job.ordered == 0 || first_waiting == Some(job.delivery_seq);
                        let can_claim = free > 0 && in_turn && (claimed.len() as i64) < room;
                        if can_claim {
                            let token = uuid::Uuid::new_v4().simple().to_string();
                            let row: Option<JobRow> = sqlx::query_as(sql::CLAIM_ONE)
                                .bind(&job.id)
                                .bind(owner)
                                .bind(token)
                                .bind(now_ms + lease_ms)
                                .bind(now_ms)
                                .fetch_optional(&mut *conn)
                                .await?;
                            if let Some(row) = row {
                                claimed.push(row);
                                free -= 1;
                            }
                        } else if free == 0 || !in_turn {
                            blocked.push(job);
                        }
                    }
                    Self::park(conn, blocked, &key, in_flight, now_ms).await?;
                }
                Ok(claimed)
            }

            /// Jobs that must wait for a slot (or their turn): held, skipped or
            /// superseded, per the rule's `on_busy`.
            async fn park(
                conn: &mut $conn,
                blocked: Vec<$crate::store::JobRow>,
                key: &str,
                in_flight: i64,
                now_ms: i64,
            ) -> Result<(), $crate::store::StoreError> {
                use $crate::store::jobs as sql;
                let newest_replacing = blocked
                    .iter()
                    .rev()
                    .find(|j| j.on_busy.as_deref() == Some("replace"))
                    .map(|j| j.id.clone());
                for job in &blocked {
                    match job.on_busy.as_deref() {
                        Some("skip") => {
                            let reason = format!(
                                "skipped: {in_flight} run(s) already in flight for concurrency key \"{key}\""
                            );
                            sqlx::query(sql::SKIP)
                                .bind(&job.id)
                                .bind(reason)
                                .bind(now_ms)
                                .execute(&mut *conn)
                                .await?;
                        }
                        Some("replace") if newest_replacing.as_deref() != Some(job.id.as_str()) => {
                            // Only jobs never sent are replaced; a retrying one keeps its turn.
                            if job.status != "retrying" {
                                sqlx::query(sql::SUPERSEDE)
                                    .bind(&job.id)
                                    .bind(newest_replacing.as_deref())
                                    .bind(now_ms)
                                    .execute(&mut *conn)
                                    .await?;
                            }
                        }
                        _ => {
                            if job.status != "retrying" {
                                sqlx::query(sql::HOLD)
                                    .bind(&job.id)
                                    .bind(now_ms)
                                    .execute(&mut *conn)
                                    .await?;
                            }
                        }
                    }
                }
                Ok(())
            }

            /// Inserts the first-generation jobs of newly stored deliveries, nothing read
            /// back (the hot path). Jobs without debounce go many to a statement; a
            /// debounced job joins its burst and is inserted at once, so that a later job
            /// of the same burst, even in this batch, finds it.
            async fn insert_new_jobs(
                conn: &mut $conn,
                deliveries: &[(&$crate::store::NewDelivery, i64)],
            ) -> Result<(), $crate::store::StoreError> {
                use $crate::store::jobs as sql;
                let mut plain = Vec::new();
                for &(delivery, delivery_seq) in deliveries {
                    for job in &delivery.jobs {
                        let now_ms = delivery.received_at_ms;
                        let mut row = sql::FirstJob {
                            delivery_id: delivery.id,
                            delivery_seq,
                            job,
                            next_attempt_at: now_ms,
                            debounce_first_at: None,
                            now_ms,
                        };
                        match &job.debounce {
                            Some(debounce) => {
                                (row.next_attempt_at, row.debounce_first_at) =
                                    Self::join_burst(conn, job, debounce, now_ms).await?;
                                Self::insert_first_jobs(conn, &[row]).await?;
                            }
                            None => plain.push(row),
                        }
                    }
                }
                for chunk in plain.chunks($crate::store::INSERT_CHUNK) {
                    Self::insert_first_jobs(conn, chunk).await?;
                }
                Ok(())
            }

            async fn insert_first_jobs(
                conn: &mut $conn,
                rows: &[$crate::store::jobs::FirstJob<'_>],
            ) -> Result<(), $crate::store::StoreError> {
                let mut insert = sqlx::QueryBuilder::new(
                    "INSERT INTO jobs (id, delivery_id, delivery_seq, rule_id, rule_version, \
                     generation, idempotency_key, target, target_kind, target_id, run_config, \
                     status, attempts, next_attempt_at, debounce_key, debounce_first_at, \
                     concurrency_key, max_running, on_busy, ordered, created_at, updated_at) ",
                );
                insert.push_values(rows, |mut row, first| {
                    let job = first.job;
                    row.push_bind(job.id.to_string())
                        .push_bind(first.delivery_id.to_string())
                        .push_bind(first.delivery_seq)
                        .push_bind(job.rule_id.to_string())
                        .push_bind(job.rule_version)
                        .push("1")
                        .push_bind(job.idempotency_key.to_string())
                        .push_bind(&job.target)
                        .push_bind(job.target_kind)
                        .push_bind(job.target_id.to_string())
                        .push_bind(&job.run_config)
                        .push("'queued'")
                        .push("0")
                        .push_bind(first.next_attempt_at)
                        .push_bind(job.debounce.as_ref().map(|d| d.key.clone()))
                        .push_bind(first.debounce_first_at)
                        .push_bind(job.concurrency.as_ref().map(|c| c.key.clone()))
                        .push_bind(job.concurrency.as_ref().map(|c| c.max_running))
                        .push_bind(job.concurrency.as_ref().map(|c| c.on_busy))
                        .push_bind(i64::from(job.ordered))
                        .push_bind(first.now_ms)
                        .push_bind(first.now_ms);
                });
                insert.build().execute(&mut *conn).await?;
                Ok(())
            }

            /// Debounce: the waiting jobs of `job`'s rule and key are superseded by it, and
            /// it inherits the burst's start and waits its window again. Answers when the
            /// new job is due and when its burst began.
            async fn join_burst(
                conn: &mut $conn,
                job: &$crate::store::NewJob,
                debounce: &$crate::store::JobDebounce,
                now_ms: i64,
            ) -> Result<(i64, Option<i64>), $crate::store::StoreError> {
                use $crate::store::jobs as sql;
                use $crate::store::JobRow;
                let id = job.id.to_string();
                // Replicas may receive events of one burst at once: without the lock each
                // would miss the other's new job and both would run.
                Self::lock_body(conn, &format!("debounce/{}/{}", job.rule_id, debounce.key)).await?;
                let burst: Vec<JobRow> = sqlx::query_as(sql::DEBOUNCED)
                    .bind(job.rule_id.to_string())
                    .bind(&debounce.key)
                    .fetch_all(&mut *conn)
                    .await?;
                let started = burst
                    .iter()
                    .filter_map(|j| j.debounce_first_at)
                    .min()
                    .unwrap_or(now_ms);
                for earlier in &burst {
                    let superseded = sqlx::query(sql::SUPERSEDE)
                        .bind(&earlier.id)
                        .bind(&id)
                        .bind(now_ms)
                        .execute(&mut *conn)
                        .await?
                        .rows_affected()
                        == 1;
                    if !superseded {
                        // A worker claimed it meanwhile: it runs, and its trace stays.
                        continue;
                    }
                    let trace: Option<String> =
                        sqlx::query_scalar("SELECT trace FROM deliveries WHERE id = $1")
                            .bind(&earlier.delivery_id)
                            .fetch_optional(&mut *conn)
                            .await?;
                    if let Some(trace) = trace {
                        sqlx::query("UPDATE deliveries SET trace = $2 WHERE id = $1")
                            .bind(&earlier.delivery_id)
                            .bind(sql::superseded_trace(&trace, earlier, &id, &job.rule_name))
                            .execute(&mut *conn)
                            .await?;
                    }
                }
                let due = (now_ms + debounce.window_ms).min(started + debounce.max_wait_ms);
                Ok((due, Some(started)))
            }

            /// Inserts a replay's jobs: the next generation of each (delivery, rule),
            /// debounced like new ones, read back.
            async fn insert_replay_jobs(
                conn: &mut $conn,
                delivery_id: &str,
                delivery_seq: i64,
                jobs: &[$crate::store::NewJob],
                now_ms: i64,
            ) -> Result<Vec<$crate::store::JobRow>, $crate::store::StoreError> {
                use $crate::store::jobs as sql;
                let mut rows = Vec::with_capacity(jobs.len());
                for job in jobs {
                    let (next_attempt_at, first_at) = match &job.debounce {
                        Some(debounce) => Self::join_burst(conn, job, debounce, now_ms).await?,
                        None => (now_ms, None),
                    };
                    let row = sqlx::query_as(sql::INSERT_JOB)
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
                        .bind(next_attempt_at)
                        .bind(job.debounce.as_ref().map(|d| d.key.clone()))
                        .bind(first_at)
                        .bind(job.concurrency.as_ref().map(|c| c.key.clone()))
                        .bind(job.concurrency.as_ref().map(|c| c.max_running))
                        .bind(job.concurrency.as_ref().map(|c| c.on_busy))
                        .bind(i64::from(job.ordered))
                        .bind(now_ms)
                        .fetch_one(&mut *conn)
                        .await?;
                    rows.push(row);
                }
                Ok(rows)
            }

            async fn job_action(
                &self,
                id: &str,
                changed: Option<$crate::store::JobRow>,
            ) -> Result<$crate::store::JobAction, $crate::store::StoreError> {
                use $crate::store::JobAction;
                Ok(match changed {
                    Some(row) => JobAction::Done(Box::new(row)),
                    None => match $crate::store::Store::get_job(self, id).await? {
                        Some(row) => JobAction::NotAllowed(row.status),
                        None => JobAction::NotFound,
                    },
                })
            }
        }
    };
}
pub(super) use job_queries;

//! Durable storage: the only module that knows SQL.
//!
//! One trait, two implementations (`sqlite.rs`, `postgres.rs`), each with its own
//! embedded migrations. The row types here are shared: both backends store times as
//! unix milliseconds and JSON documents as text, so one set of structs decodes both.

mod jobs;
mod migrations;
mod postgres;
mod shared;
mod sqlite;
mod writer;

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use serde::Serialize;
use uuid::Uuid;

pub use jobs::{Attempt, AttemptRow, JobAction, JobOutcome, JobRow, RunUpdate};
pub use migrations::{migration_status, MigrationStatus};
pub use postgres::PostgresStore;
pub use sqlite::SqliteStore;
pub use writer::{CommitError, CommitQueue, GroupCommit, ResultQueue};

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    #[error("migration error: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error("unsupported database url {0:?}: use sqlite://PATH or postgres://...")]
    UnsupportedUrl(String),
    #[error("stored data is corrupt: {0}")]
    Corrupt(String),
}

/// Rows per multi-row INSERT: well under either database's limit on bound parameters
/// (SQLite 32,766, Postgres 65,535) at twenty parameters a row.
const INSERT_CHUNK: usize = 64;

/// How a delivery is recognised as a redelivery.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dedupe {
    /// By (source, sender delivery id): the unique key does the work.
    DeliveryId,
    /// The sender sends no id: by body hash, within this many milliseconds.
    BodyWithin(i64),
    /// Not deduplicated.
    Off,
}

/// What a delivery's routing came to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum DeliveryOutcome {
    /// At least one rule matched: jobs were created.
    Matched,
    /// No rule matched.
    Unmatched,
    /// A sender's connectivity check (GitHub `ping`).
    Pong,
}

impl DeliveryOutcome {
    pub fn as_str(self) -> &'static str {
        match self {
            DeliveryOutcome::Matched => "matched",
            DeliveryOutcome::Unmatched => "unmatched",
            DeliveryOutcome::Pong => "pong",
        }
    }
}

/// A trigger job created with its delivery.
#[derive(Debug, Clone)]
pub struct NewJob {
    pub id: Uuid,
    pub rule_id: Uuid,
    pub rule_version: i64,
    pub idempotency_key: Uuid,
    pub target: String,
    /// `template` or `snapshot`.
    pub target_kind: &'static str,
    pub target_id: Uuid,
    /// JSON object: the rendered run configuration.
    pub run_config: String,
    /// The rule's name, for the trace of deliveries this job supersedes.
    pub rule_name: String,
    pub debounce: Option<JobDebounce>,
    pub concurrency: Option<JobConcurrency>,
    /// Jobs of the concurrency key start in delivery order.
    pub ordered: bool,
}

/// A debounced job waits `window` for a later event of its key to replace it, but no
/// longer than `max_wait` after the first event of the burst.
#[derive(Debug, Clone, PartialEq)]
pub struct JobDebounce {
    pub key: String,
    pub window_ms: i64,
    pub max_wait_ms: i64,
}

/// At most `max_running` runs in flight per key.
#[derive(Debug, Clone, PartialEq)]
pub struct JobConcurrency {
    pub key: String,
    pub max_running: i64,
    /// `queue`, `skip` or `replace`.
    pub on_busy: &'static str,
}

/// A verified, parsed and routed delivery, ready to be committed with its jobs.
#[derive(Debug, Clone)]
pub struct NewDelivery {
    pub id: Uuid,
    pub source: String,
    pub sender_delivery_id: Option<String>,
    pub event_type: Option<String>,
    pub event_kind: String,
    pub outcome: DeliveryOutcome,
    pub body: Vec<u8>,
    pub body_sha256: String,
    /// JSON object of the request headers, credentials removed.
    pub headers: String,
    /// JSON: the normalised event.
    pub event: String,
    /// JSON: the routing trace.
    pub trace: String,
    pub received_at_ms: i64,
    pub dedupe: Dedupe,
    pub jobs: Vec<NewJob>,
}

/// What one go at a job came to, for `Store::finish_jobs`.
#[derive(Debug, Clone)]
pub struct FinishedJob {
    /// The job as claimed: its lease token fences the write.
    pub job: JobRow,
    pub outcome: JobOutcome,
    pub attempt: Option<Attempt>,
    pub now_ms: i64,
}

/// The result of committing one delivery.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Committed {
    /// Stored, with its sequence number.
    Accepted { id: Uuid, seq: i64 },
    /// A redelivery: nothing was stored; `id` is the first delivery's.
    Duplicate { id: Uuid },
}

/// A stored delivery as read back.
#[derive(Debug, Clone, sqlx::FromRow, Serialize)]
pub struct DeliveryRow {
    pub seq: i64,
    pub id: String,
    pub source: String,
    pub sender_delivery_id: Option<String>,
    pub event_type: Option<String>,
    pub event_kind: String,
    pub outcome: String,
    #[serde(skip)]
    pub body: Vec<u8>,
    pub body_sha256: String,
    pub headers: String,
    pub event: String,
    pub trace: String,
    pub received_at: i64,
}

/// A stored rule: its current version and text (JSON of the rule spec).
#[derive(Debug, Clone, sqlx::FromRow, Serialize)]
pub struct RuleRow {
    pub id: String,
    pub name: String,
    pub version: i64,
    pub spec: String,
    pub created_at: i64,
    pub updated_at: i64,
}

/// Which deliveries to list, newest first.
#[derive(Debug, Clone, Default)]
pub struct DeliveryFilter {
    pub source: Option<String>,
    pub event: Option<String>,
    pub outcome: Option<String>,
    pub since_ms: Option<i64>,
    pub until_ms: Option<i64>,
    /// Only deliveries with a sequence number below this one (the page cursor).
    pub before_seq: Option<i64>,
    pub limit: i64,
}

/// One change made through the admin API.
#[derive(Debug, Clone, sqlx::FromRow, Serialize)]
pub struct AuditRow {
    pub seq: i64,
    pub at: i64,
    pub token_name: String,
    pub action: String,
    pub target: String,
    pub status: i64,
    pub before: Option<String>,
    pub after: Option<String>,
}

/// What a retention pass removed (or would remove, in a dry run).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct PruneReport {
    /// Deliveries whose body and headers were removed (the row, trace and dedupe key stay).
    pub bodies: u64,
    /// Deliveries removed whole, with their jobs and attempts.
    pub deliveries: u64,
    pub jobs: u64,
}

/// Change channels that replicas sharing a Postgres database hear about at once.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Channel {
    /// A rule was created, changed or deleted.
    Rules,
    /// New jobs are ready.
    Jobs,
}

impl Channel {
    pub fn name(self) -> &'static str {
        match self {
            Channel::Rules => "zenhook_rules",
            Channel::Jobs => "zenhook_jobs",
        }
    }
}

/// Pool settings shared by both backends.
#[derive(Debug, Clone)]
pub struct PoolSettings {
    pub max_connections: u32,
    pub acquire_timeout: Duration,
}

#[async_trait]
pub trait Store: Send + Sync + 'static {
    /// `sqlite` or `postgres`.
    fn backend(&self) -> &'static str;

    /// Applies the embedded migrations.
    async fn migrate(&self) -> Result<(), StoreError>;

    /// The durability settings in force, in words, for the start-up log.
    async fn durability(&self) -> Result<String, StoreError>;

    /// A round trip to the database, for `/readyz`.
    async fn ping(&self) -> Result<(), StoreError>;

    /// Commits every delivery and its jobs in ONE transaction, in order. A redelivery,
    /// also of an earlier delivery in the same batch, becomes `Duplicate`.
    async fn commit_deliveries(&self, batch: &[NewDelivery]) -> Result<Vec<Committed>, StoreError>;

    async fn get_delivery(&self, id: Uuid) -> Result<Option<DeliveryRow>, StoreError>;

    async fn jobs_of_delivery(&self, id: Uuid) -> Result<Vec<JobRow>, StoreError>;

    /// How many deliveries are stored (benchmarks and tests compare it with 2xx answers).
    async fn count_deliveries(&self) -> Result<i64, StoreError>;

    /// How many jobs are in each status (the metrics' job gauges).
    async fn job_counts(&self) -> Result<Vec<(String, i64)>, StoreError>;

    /// When the oldest job not yet triggered (queued, retrying or held) was created.
    async fn oldest_waiting_job(&self) -> Result<Option<i64>, StoreError>;

    async fn list_deliveries(
        &self,
        filter: &DeliveryFilter,
    ) -> Result<Vec<DeliveryRow>, StoreError>;

    /// Every rule, by name.
    async fn all_rules(&self) -> Result<Vec<RuleRow>, StoreError>;

    /// A page of rules by name, after `after_name`.
    async fn list_rules(
        &self,
        after_name: Option<&str>,
        limit: i64,
    ) -> Result<Vec<RuleRow>, StoreError>;

    /// A rule by id or by name.
    async fn find_rule(&self, id_or_name: &str) -> Result<Option<RuleRow>, StoreError>;

    /// Creates a rule at version 1. `Ok(None)` when the name is taken.
    async fn create_rule(
        &self,
        id: Uuid,
        name: &str,
        spec: &str,
    ) -> Result<Option<RuleRow>, StoreError>;

    /// Replaces a rule's text, bumping its version. `Ok(None)` when it does not exist or
    /// the new name is taken by another rule.
    async fn update_rule(
        &self,
        id: Uuid,
        name: &str,
        spec: &str,
    ) -> Result<Option<RuleRow>, StoreError>;

    /// Deletes a rule; false when there was none. Its versions stay, for the jobs made
    /// from them.
    async fn delete_rule(&self, id: Uuid) -> Result<bool, StoreError>;

    /// The text of one version of a rule.
    async fn rule_version(&self, id: Uuid, version: i64) -> Result<Option<String>, StoreError>;

    /// A counter bumped by every rule change, to tell a stale cache.
    async fn rules_revision(&self) -> Result<i64, StoreError>;

    /// Claims up to `limit` due jobs for `owner` (and jobs whose lease expired), committing
    /// the lease before any call to ZenML. Each claim gets a fresh lease token.
    async fn claim_jobs(
        &self,
        owner: &str,
        now_ms: i64,
        lease_ms: i64,
        limit: i64,
    ) -> Result<Vec<JobRow>, StoreError>;

    /// Extends a lease still held with `token`; false when it was lost.
    async fn renew_lease(&self, id: &str, token: &str, until_ms: i64) -> Result<bool, StoreError>;

    /// Records jobs' outcomes in one transaction, each fenced by its lease token: `false`
    /// (and nothing written for that job) when another worker has taken it over.
    async fn finish_jobs(&self, results: &[FinishedJob]) -> Result<Vec<bool>, StoreError>;

    /// Puts every job `owner` still holds back in the queue (at shutdown).
    async fn release_leases(&self, owner: &str, now_ms: i64) -> Result<u64, StoreError>;

    /// When the next job falls due (or a lease expires), if any.
    async fn next_due(&self) -> Result<Option<i64>, StoreError>;

    async fn get_job(&self, id: &str) -> Result<Option<JobRow>, StoreError>;

    async fn job_attempts(&self, id: &str) -> Result<Vec<AttemptRow>, StoreError>;

    /// Jobs newest first, optionally of one status, after the `(created_at, id)` cursor.
    async fn list_jobs(
        &self,
        status: Option<&str>,
        before: Option<(i64, &str)>,
        limit: i64,
    ) -> Result<Vec<JobRow>, StoreError>;

    /// Cancels a job not yet sent.
    async fn cancel_job(&self, id: &str, now_ms: i64) -> Result<JobAction, StoreError>;

    /// Starts a new generation of a dead job (a new idempotency key and tag).
    async fn retry_job(
        &self,
        id: &str,
        idempotency_key: Uuid,
        now_ms: i64,
    ) -> Result<JobAction, StoreError>;

    /// Adds the next generation of jobs to a stored delivery (a replay).
    async fn insert_jobs(
        &self,
        delivery_id: &str,
        delivery_seq: i64,
        jobs: &[NewJob],
        now_ms: i64,
    ) -> Result<Vec<JobRow>, StoreError>;

    /// Claims triggered runs that are due for a look (following them to their end).
    async fn claim_follows(
        &self,
        owner: &str,
        now_ms: i64,
        lease_ms: i64,
        limit: i64,
    ) -> Result<Vec<JobRow>, StoreError>;

    /// Records what following a run found, fenced by the follow lease.
    async fn record_run(
        &self,
        job: &JobRow,
        update: &RunUpdate,
        now_ms: i64,
    ) -> Result<bool, StoreError>;

    /// One retention pass of at most `batch` deliveries per stage: bodies of deliveries
    /// received before `bodies_before_ms`, whole deliveries received before
    /// `deliveries_before_ms`; never one with an unfinished job. `dry_run` only counts.
    async fn prune(
        &self,
        bodies_before_ms: i64,
        deliveries_before_ms: i64,
        batch: i64,
        now_ms: i64,
        dry_run: bool,
    ) -> Result<PruneReport, StoreError>;

    /// Gives space freed by pruning back to the file system (SQLite); Postgres leaves it
    /// to autovacuum.
    async fn reclaim_space(&self) -> Result<(), StoreError>;

    /// Records that an operator asked ZenML to stop a job's run, and what ZenML said.
    async fn record_stop_request(
        &self,
        job: &JobRow,
        http_status: Option<i64>,
        outcome: &str,
        message: &str,
        now_ms: i64,
    ) -> Result<(), StoreError>;

    /// Records one change made through the admin API.
    async fn record_audit(&self, entry: &AuditRow) -> Result<(), StoreError>;

    /// The audit log, newest first, before the `seq` cursor.
    async fn list_audit(
        &self,
        before_seq: Option<i64>,
        limit: i64,
    ) -> Result<Vec<AuditRow>, StoreError>;

    /// Notifications on `channel` from other processes sharing the database, or `None`
    /// where one process owns the database (SQLite).
    async fn subscribe(
        &self,
        channel: Channel,
    ) -> Result<Option<tokio::sync::mpsc::Receiver<()>>, StoreError>;
}

/// The listing query shared by both backends; `QueryBuilder` writes each one's
/// placeholders.
fn delivery_query<'a, DB>(filter: &'a DeliveryFilter) -> sqlx::QueryBuilder<'a, DB>
where
    DB: sqlx::Database,
    String: sqlx::Encode<'a, DB> + sqlx::Type<DB>,
    i64: sqlx::Encode<'a, DB> + sqlx::Type<DB>,
{
    let mut query = sqlx::QueryBuilder::new("SELECT * FROM deliveries WHERE 1 = 1");
    if let Some(source) = &filter.source {
        query.push(" AND source = ").push_bind(source.clone());
    }
    if let Some(event) = &filter.event {
        query.push(" AND event_kind = ").push_bind(event.clone());
    }
    if let Some(outcome) = &filter.outcome {
        query.push(" AND outcome = ").push_bind(outcome.clone());
    }
    if let Some(since) = filter.since_ms {
        query.push(" AND received_at >= ").push_bind(since);
    }
    if let Some(until) = filter.until_ms {
        query.push(" AND received_at < ").push_bind(until);
    }
    if let Some(before) = filter.before_seq {
        query.push(" AND seq < ").push_bind(before);
    }
    query
        .push(" ORDER BY seq DESC LIMIT ")
        .push_bind(filter.limit);
    query
}

/// Opens the database named by `url` (without migrating).
pub async fn connect(url: &str, pool: &PoolSettings) -> Result<Arc<dyn Store>, StoreError> {
    if url.starts_with("sqlite:") {
        Ok(Arc::new(SqliteStore::connect(url, pool).await?))
    } else if url.starts_with("postgres:") || url.starts_with("postgresql:") {
        Ok(Arc::new(PostgresStore::connect(url, pool).await?))
    } else {
        Err(StoreError::UnsupportedUrl(url.to_owned()))
    }
}

/// An id read back from the database.
fn parse_id(id: &str) -> Result<Uuid, StoreError> {
    Uuid::parse_str(id).map_err(|_| StoreError::Corrupt(format!("bad uuid {id:?}")))
}

/// Milliseconds since the Unix epoch.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

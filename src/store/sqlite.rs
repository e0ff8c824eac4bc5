//! SQLite: the embedded default. One process owns the file; WAL mode with
//! `synchronous=FULL`, so a commit is on disk before the sender hears 202.

use std::str::FromStr;

use async_trait::async_trait;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{Row, SqliteConnection, SqlitePool};
use uuid::Uuid;

use super::jobs::job_queries;
use super::{
    delivery_query, now_ms, Channel, Committed, Dedupe, DeliveryFilter, DeliveryRow, JobRow,
    NewDelivery, PoolSettings, RuleRow, Store, StoreError,
};
use super::{Attempt, AttemptRow, JobAction, JobOutcome, RunUpdate};

pub struct SqliteStore {
    pool: SqlitePool,
}

impl SqliteStore {
    pub async fn connect(url: &str, settings: &PoolSettings) -> Result<Self, StoreError> {
        let options = SqliteConnectOptions::from_str(url)?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Full)
            .foreign_keys(true)
            // Lets retention give pages back (`PRAGMA incremental_vacuum`); takes effect
            // when the file is created.
            .auto_vacuum(sqlx::sqlite::SqliteAutoVacuum::Incremental)
            // Writers queue on the file lock instead of failing at once.
            .busy_timeout(settings.acquire_timeout);
        let pool = SqlitePoolOptions::new()
            .max_connections(settings.max_connections.max(1))
            .acquire_timeout(settings.acquire_timeout)
            .connect_with(options)
            .await?;
        Ok(SqliteStore { pool })
    }

    /// A transaction that writes: IMMEDIATE takes the file lock up front, so it waits for other writers instead of failing to upgrade later.
    async fn begin_write(&self) -> Result<sqlx::Transaction<'_, sqlx::Sqlite>, StoreError> {
        Ok(self.pool.begin_with("BEGIN IMMEDIATE").await?)
    }

    /// One process owns the file: the in-process wake-up is all there is.
    async fn notify_jobs(&self, _tx: &mut sqlx::SqliteConnection) -> Result<(), StoreError> {
        Ok(())
    }

    pub fn pool(&self) -> &SqlitePool {
        &self.pool
    }
}

async fn commit_one(
    conn: &mut SqliteConnection,
    delivery: &NewDelivery,
) -> Result<Committed, StoreError> {
    if let Dedupe::BodyWithin(window_ms) = delivery.dedupe {
        let earlier: Option<String> = sqlx::query_scalar(
            "SELECT id FROM deliveries WHERE source = ?1 AND body_sha256 = ?2 AND received_at >= ?3 \
             ORDER BY seq LIMIT 1",
        )
        .bind(&delivery.source)
        .bind(&delivery.body_sha256)
        .bind(delivery.received_at_ms - window_ms)
        .fetch_optional(&mut *conn)
        .await?;
        if let Some(id) = earlier {
            return Ok(Committed::Duplicate { id: parse_id(&id)? });
        }
    }
    let seq: Option<i64> = sqlx::query_scalar(
        "INSERT INTO deliveries (id, source, sender_delivery_id, event_type, event_kind, outcome, \
         body, body_sha256, headers, event, trace, received_at) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12) \
         ON CONFLICT (source, sender_delivery_id) DO NOTHING RETURNING seq",
    )
    .bind(delivery.id.to_string())
    .bind(&delivery.source)
    .bind(&delivery.sender_delivery_id)
    .bind(&delivery.event_type)
    .bind(&delivery.event_kind)
    .bind(delivery.outcome.as_str())
    .bind(&delivery.body)
    .bind(&delivery.body_sha256)
    .bind(&delivery.headers)
    .bind(&delivery.event)
    .bind(&delivery.trace)
    .bind(delivery.received_at_ms)
    .fetch_optional(&mut *conn)
    .await?;
    let Some(seq) = seq else {
        let first: String = sqlx::query_scalar(
            "SELECT id FROM deliveries WHERE source = ?1 AND sender_delivery_id = ?2",
        )
        .bind(&delivery.source)
        .bind(&delivery.sender_delivery_id)
        .fetch_one(&mut *conn)
        .await?;
        return Ok(Committed::Duplicate {
            id: parse_id(&first)?,
        });
    };
    SqliteStore::insert_delivery_jobs(
        conn,
        &delivery.id.to_string(),
        seq,
        &delivery.jobs,
        delivery.received_at_ms,
    )
    .await?;
    Ok(Committed::Accepted {
        id: delivery.id,
        seq,
    })
}

fn parse_id(id: &str) -> Result<Uuid, StoreError> {
    Uuid::parse_str(id).map_err(|_| StoreError::Corrupt(format!("bad uuid {id:?}")))
}

#[async_trait]
impl Store for SqliteStore {
    fn backend(&self) -> &'static str {
        "sqlite"
    }

    async fn migrate(&self) -> Result<(), StoreError> {
        sqlx::migrate!("./migrations/sqlite")
            .run(&self.pool)
            .await?;
        Ok(())
    }

    async fn durability(&self) -> Result<String, StoreError> {
        let mut conn = self.pool.acquire().await?;
        let journal: String = sqlx::query_scalar("PRAGMA journal_mode")
            .fetch_one(&mut *conn)
            .await?;
        let synchronous: i64 = sqlx::query_scalar("PRAGMA synchronous")
            .fetch_one(&mut *conn)
            .await?;
        let synchronous = match synchronous {
            0 => "OFF",
            1 => "NORMAL",
            2 => "FULL",
            3 => "EXTRA",
            _ => "unknown",
        };
        Ok(format!(
            "sqlite journal_mode={journal} synchronous={synchronous}"
        ))
    }

    async fn ping(&self) -> Result<(), StoreError> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }

    async fn commit_deliveries(&self, batch: &[NewDelivery]) -> Result<Vec<Committed>, StoreError> {
        // IMMEDIATE takes the write lock up front: a deferred transaction that reads
        // first could fail to upgrade under a concurrent writer instead of waiting.
        let mut tx = self.pool.begin_with("BEGIN IMMEDIATE").await?;
        let mut results = Vec::with_capacity(batch.len());
        for delivery in batch {
            results.push(commit_one(&mut tx, delivery).await?);
        }
        tx.commit().await?;
        Ok(results)
    }

    async fn get_delivery(&self, id: Uuid) -> Result<Option<DeliveryRow>, StoreError> {
        Ok(
            sqlx::query_as::<_, DeliveryRow>("SELECT * FROM deliveries WHERE id = ?1")
                .bind(id.to_string())
                .fetch_optional(&self.pool)
                .await?,
        )
    }

    async fn jobs_of_delivery(&self, id: Uuid) -> Result<Vec<JobRow>, StoreError> {
        Ok(sqlx::query_as::<_, JobRow>(
            "SELECT * FROM jobs WHERE delivery_id = ?1 ORDER BY created_at, id",
        )
        .bind(id.to_string())
        .fetch_all(&self.pool)
        .await?)
    }

    async fn count_deliveries(&self) -> Result<i64, StoreError> {
        let row = sqlx::query("SELECT COUNT(*) AS n FROM deliveries")
            .fetch_one(&self.pool)
            .await?;
        Ok(row.try_get("n")?)
    }

    async fn job_counts(&self) -> Result<Vec<(String, i64)>, StoreError> {
        Ok(sqlx::query_as(super::jobs::COUNT_BY_STATUS)
            .fetch_all(&self.pool)
            .await?)
    }

    async fn oldest_waiting_job(&self) -> Result<Option<i64>, StoreError> {
        Ok(sqlx::query_scalar(super::jobs::OLDEST_WAITING)
            .fetch_one(&self.pool)
            .await?)
    }

    async fn list_deliveries(
        &self,
        filter: &DeliveryFilter,
    ) -> Result<Vec<DeliveryRow>, StoreError> {
        let mut query = delivery_query::<sqlx::Sqlite>(filter);
        Ok(query
            .build_query_as::<DeliveryRow>()
            .fetch_all(&self.pool)
            .await?)
    }

    async fn all_rules(&self) -> Result<Vec<RuleRow>, StoreError> {
        Ok(
            sqlx::query_as::<_, RuleRow>("SELECT * FROM rules ORDER BY name")
                .fetch_all(&self.pool)
                .await?,
        )
    }

    async fn list_rules(
        &self,
        after_name: Option<&str>,
        limit: i64,
    ) -> Result<Vec<RuleRow>, StoreError> {
        Ok(sqlx::query_as::<_, RuleRow>(
            "SELECT * FROM rules WHERE ?1 IS NULL OR name > ?1 ORDER BY name LIMIT ?2",
        )
        .bind(after_name)
        .bind(limit)
        .fetch_all(&self.pool)
        .await?)
    }

    async fn find_rule(&self, id_or_name: &str) -> Result<Option<RuleRow>, StoreError> {
        Ok(
            sqlx::query_as::<_, RuleRow>("SELECT * FROM rules WHERE id = ?1 OR name = ?1")
                .bind(id_or_name)
                .fetch_optional(&self.pool)
                .await?,
        )
    }

    async fn create_rule(
        &self,
        id: Uuid,
        name: &str,
        spec: &str,
    ) -> Result<Option<RuleRow>, StoreError> {
        let now = now_ms();
        let mut tx = self.pool.begin_with("BEGIN IMMEDIATE").await?;
        let row = sqlx::query_as::<_, RuleRow>(
            "INSERT INTO rules (id, name, version, spec, created_at, updated_at) \
             VALUES (?1, ?2, 1, ?3, ?4, ?4) ON CONFLICT (name) DO NOTHING RETURNING *",
        )
        .bind(id.to_string())
        .bind(name)
        .bind(spec)
        .bind(now)
        .fetch_optional(&mut *tx)
        .await?;
        if let Some(row) = &row {
            record_rule_version(&mut tx, row).await?;
        }
        tx.commit().await?;
        Ok(row)
    }

    async fn update_rule(
        &self,
        id: Uuid,
        name: &str,
        spec: &str,
    ) -> Result<Option<RuleRow>, StoreError> {
        let mut tx = self.pool.begin_with("BEGIN IMMEDIATE").await?;
        let taken: Option<String> =
            sqlx::query_scalar("SELECT id FROM rules WHERE name = ?1 AND id <> ?2")
                .bind(name)
                .bind(id.to_string())
                .fetch_optional(&mut *tx)
                .await?;
        if taken.is_some() {
            return Ok(None);
        }
        let row = sqlx::query_as::<_, RuleRow>(
            "UPDATE rules SET name = ?2, spec = ?3, version = version + 1, updated_at = ?4 \
             WHERE id = ?1 RETURNING *",
        )
        .bind(id.to_string())
        .bind(name)
        .bind(spec)
        .bind(now_ms())
        .fetch_optional(&mut *tx)
        .await?;
        if let Some(row) = &row {
            record_rule_version(&mut tx, row).await?;
        }
        tx.commit().await?;
        Ok(row)
    }

    async fn delete_rule(&self, id: Uuid) -> Result<bool, StoreError> {
        let mut tx = self.pool.begin_with("BEGIN IMMEDIATE").await?;
        let deleted = sqlx::query("DELETE FROM rules WHERE id = ?1")
            .bind(id.to_string())
            .execute(&mut *tx)
            .await?
            .rows_affected()
            > 0;
        if deleted {
            bump_rules_revision(&mut tx).await?;
        }
        tx.commit().await?;
        Ok(deleted)
    }

    async fn rule_version(&self, id: Uuid, version: i64) -> Result<Option<String>, StoreError> {
        Ok(
            sqlx::query_scalar(
                "SELECT spec FROM rule_versions WHERE rule_id = ?1 AND version = ?2",
            )
            .bind(id.to_string())
            .bind(version)
            .fetch_optional(&self.pool)
            .await?,
        )
    }

    async fn rules_revision(&self) -> Result<i64, StoreError> {
        Ok(
            sqlx::query_scalar("SELECT value FROM revisions WHERE name = 'rules'")
                .fetch_one(&self.pool)
                .await?,
        )
    }

    async fn claim_jobs(
        &self,
        owner: &str,
        now_ms: i64,
        lease_ms: i64,
        limit: i64,
    ) -> Result<Vec<JobRow>, StoreError> {
        self.claim_jobs_impl(owner, now_ms, lease_ms, limit).await
    }

    async fn renew_lease(&self, id: &str, token: &str, until_ms: i64) -> Result<bool, StoreError> {
        self.renew_lease_impl(id, token, until_ms).await
    }

    async fn finish_job(
        &self,
        job: &JobRow,
        outcome: &JobOutcome,
        attempt: Option<&Attempt>,
        now_ms: i64,
    ) -> Result<bool, StoreError> {
        self.finish_job_impl(job, outcome, attempt, now_ms).await
    }

    async fn release_leases(&self, owner: &str, now_ms: i64) -> Result<u64, StoreError> {
        self.release_leases_impl(owner, now_ms).await
    }

    async fn next_due(&self) -> Result<Option<i64>, StoreError> {
        self.next_due_impl().await
    }

    async fn get_job(&self, id: &str) -> Result<Option<JobRow>, StoreError> {
        self.get_job_impl(id).await
    }

    async fn job_attempts(&self, id: &str) -> Result<Vec<AttemptRow>, StoreError> {
        self.job_attempts_impl(id).await
    }

    async fn list_jobs(
        &self,
        status: Option<&str>,
        before: Option<(i64, &str)>,
        limit: i64,
    ) -> Result<Vec<JobRow>, StoreError> {
        self.list_jobs_impl(status, before, limit).await
    }

    async fn cancel_job(&self, id: &str, now_ms: i64) -> Result<JobAction, StoreError> {
        self.cancel_job_impl(id, now_ms).await
    }

    async fn retry_job(
        &self,
        id: &str,
        idempotency_key: Uuid,
        now_ms: i64,
    ) -> Result<JobAction, StoreError> {
        self.retry_job_impl(id, idempotency_key, now_ms).await
    }

    async fn insert_jobs(
        &self,
        delivery_id: &str,
        delivery_seq: i64,
        jobs: &[super::NewJob],
        now_ms: i64,
    ) -> Result<Vec<JobRow>, StoreError> {
        self.insert_jobs_impl(delivery_id, delivery_seq, jobs, now_ms)
            .await
    }

    async fn claim_follows(
        &self,
        owner: &str,
        now_ms: i64,
        lease_ms: i64,
        limit: i64,
    ) -> Result<Vec<JobRow>, StoreError> {
        self.claim_follows_impl(owner, now_ms, lease_ms, limit)
            .await
    }

    async fn record_run(
        &self,
        job: &JobRow,
        update: &RunUpdate,
        now_ms: i64,
    ) -> Result<bool, StoreError> {
        self.record_run_impl(job, update, now_ms).await
    }

    async fn prune(
        &self,
        bodies_before_ms: i64,
        deliveries_before_ms: i64,
        batch: i64,
        now_ms: i64,
        dry_run: bool,
    ) -> Result<super::PruneReport, StoreError> {
        self.prune_impl(
            bodies_before_ms,
            deliveries_before_ms,
            batch,
            now_ms,
            dry_run,
        )
        .await
    }

    async fn reclaim_space(&self) -> Result<(), StoreError> {
        // Pages freed by pruning go back to the file system a few at a time.
        sqlx::query("PRAGMA incremental_vacuum(2000)")
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    async fn record_stop_request(
        &self,
        job: &JobRow,
        http_status: Option<i64>,
        outcome: &str,
        message: &str,
        now_ms: i64,
    ) -> Result<(), StoreError> {
        self.record_stop_request_impl(job, http_status, outcome, message, now_ms)
            .await
    }

    async fn record_audit(&self, entry: &super::AuditRow) -> Result<(), StoreError> {
        self.record_audit_impl(entry).await
    }

    async fn list_audit(
        &self,
        before_seq: Option<i64>,
        limit: i64,
    ) -> Result<Vec<super::AuditRow>, StoreError> {
        self.list_audit_impl(before_seq, limit).await
    }

    async fn subscribe(
        &self,
        _channel: Channel,
    ) -> Result<Option<tokio::sync::mpsc::Receiver<()>>, StoreError> {
        // One process owns an SQLite file: it tells itself about changes in memory.
        Ok(None)
    }
}

async fn record_rule_version(conn: &mut SqliteConnection, row: &RuleRow) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO rule_versions (rule_id, version, spec, created_at) VALUES (?1, ?2, ?3, ?4)",
    )
    .bind(&row.id)
    .bind(row.version)
    .bind(&row.spec)
    .bind(row.updated_at)
    .execute(&mut *conn)
    .await?;
    bump_rules_revision(conn).await
}

async fn bump_rules_revision(conn: &mut SqliteConnection) -> Result<(), StoreError> {
    sqlx::query("UPDATE revisions SET value = value + 1 WHERE name = 'rules'")
        .execute(&mut *conn)
        .await?;
    Ok(())
}

/// SQLite has no row locks: the IMMEDIATE transaction around the claim serialises
/// claimers, and the UPDATE ... RETURNING takes the due rows in one statement. Jobs under
/// a concurrency key are claimed separately (their slots are counted first); an expired
/// lease is reclaimed whatever the job, marked uncertain.
const CLAIM: &str = "UPDATE jobs SET status = 'running', lease_owner = $1, \
     lease_token = lower(hex(randomblob(16))), lease_expires_at = $3, \
     uncertain = CASE WHEN status = 'running' THEN 1 ELSE uncertain END, updated_at = $2 \
     WHERE id IN (SELECT id FROM jobs WHERE (status IN ('queued', 'retrying') \
     AND next_attempt_at <= $2 AND concurrency_key IS NULL) \
     OR (status = 'running' AND lease_expires_at < $2) ORDER BY next_attempt_at, delivery_seq LIMIT $4) \
     RETURNING *";

/// Triggered runs due for a look, not being looked at by another worker.
const CLAIM_FOLLOW: &str = "UPDATE jobs SET lease_owner = $1, \
     lease_token = lower(hex(randomblob(16))), lease_expires_at = $3 \
     WHERE id IN (SELECT id FROM jobs WHERE status = 'succeeded' AND run_terminal = 0 \
     AND next_check_at <= $2 AND (lease_expires_at IS NULL OR lease_expires_at < $2) \
     ORDER BY next_check_at LIMIT $4) RETURNING *";

job_queries!(
    SqliteStore,
    sqlx::SqliteConnection,
    CLAIM,
    "SELECT 1",
    CLAIM_FOLLOW
);

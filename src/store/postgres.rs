//! Postgres: for several replicas sharing one queue. `synchronous_commit=on` is set on
//! every connection, so a commit is on disk before the sender hears 202.

use std::str::FromStr;

use async_trait::async_trait;
use sqlx::postgres::{PgConnectOptions, PgListener, PgPoolOptions};
use sqlx::{PgConnection, PgPool, Row};
use uuid::Uuid;

use super::jobs::job_queries;
use super::{
    delivery_query, now_ms, Channel, Committed, Dedupe, DeliveryFilter, DeliveryRow, JobRow,
    NewDelivery, PoolSettings, RuleRow, Store, StoreError,
};
use super::{Attempt, AttemptRow, JobAction, JobOutcome, RunUpdate};

pub struct PostgresStore {
    pool: PgPool,
}

impl PostgresStore {
    pub async fn connect(url: &str, settings: &PoolSettings) -> Result<Self, StoreError> {
        let options = PgConnectOptions::from_str(url)?
            .options([("synchronous_commit", "on")])
            .application_name("zenhook");
        let pool = PgPoolOptions::new()
            .max_connections(settings.max_connections.max(1))
            .acquire_timeout(settings.acquire_timeout)
            .connect_with(options)
            .await?;
        Ok(PostgresStore { pool })
    }

    /// A transaction that writes: a plain one.
    async fn begin_write(&self) -> Result<sqlx::Transaction<'_, sqlx::Postgres>, StoreError> {
        Ok(self.pool.begin().await?)
    }

    /// Wakes the workers of every replica when the transaction commits.
    async fn notify_jobs(&self, tx: &mut sqlx::PgConnection) -> Result<(), StoreError> {
        sqlx::query("SELECT pg_notify($1, '')")
            .bind(Channel::Jobs.name())
            .execute(&mut *tx)
            .await?;
        Ok(())
    }

    pub fn pool(&self) -> &PgPool {
        &self.pool
    }
}

async fn commit_one(
    conn: &mut PgConnection,
    delivery: &NewDelivery,
) -> Result<Committed, StoreError> {
    if let Dedupe::BodyWithin(window_ms) = delivery.dedupe {
        // Replicas may receive the same body at once: serialise them on the body hash.
        sqlx::query("SELECT pg_advisory_xact_lock(hashtextextended($1, 0))")
            .bind(format!("{}/{}", delivery.source, delivery.body_sha256))
            .execute(&mut *conn)
            .await?;
        let earlier: Option<String> = sqlx::query_scalar(
            "SELECT id FROM deliveries WHERE source = $1 AND body_sha256 = $2 AND received_at >= $3 \
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
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12) \
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
            "SELECT id FROM deliveries WHERE source = $1 AND sender_delivery_id = $2",
        )
        .bind(&delivery.source)
        .bind(&delivery.sender_delivery_id)
        .fetch_one(&mut *conn)
        .await?;
        return Ok(Committed::Duplicate {
            id: parse_id(&first)?,
        });
    };
    PostgresStore::insert_delivery_jobs(
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
impl Store for PostgresStore {
    fn backend(&self) -> &'static str {
        "postgres"
    }

    async fn migrate(&self) -> Result<(), StoreError> {
        sqlx::migrate!("./migrations/postgres")
            .run(&self.pool)
            .await?;
        Ok(())
    }

    async fn durability(&self) -> Result<String, StoreError> {
        let synchronous_commit: String = sqlx::query_scalar("SHOW synchronous_commit")
            .fetch_one(&self.pool)
            .await?;
        let fsync: String = sqlx::query_scalar("SHOW fsync")
            .fetch_one(&self.pool)
            .await?;
        Ok(format!(
            "postgres synchronous_commit={synchronous_commit} fsync={fsync}"
        ))
    }

    async fn ping(&self) -> Result<(), StoreError> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }

    async fn commit_deliveries(&self, batch: &[NewDelivery]) -> Result<Vec<Committed>, StoreError> {
        let mut tx = self.pool.begin().await?;
        let mut results = Vec::with_capacity(batch.len());
        for delivery in batch {
            results.push(commit_one(&mut tx, delivery).await?);
        }
        let new_jobs = batch
            .iter()
            .zip(&results)
            .any(|(d, r)| !d.jobs.is_empty() && matches!(r, Committed::Accepted { .. }));
        if new_jobs {
            self.notify_jobs(&mut tx).await?;
        }
        tx.commit().await?;
        Ok(results)
    }

    async fn get_delivery(&self, id: Uuid) -> Result<Option<DeliveryRow>, StoreError> {
        Ok(
            sqlx::query_as::<_, DeliveryRow>("SELECT * FROM deliveries WHERE id = $1")
                .bind(id.to_string())
                .fetch_optional(&self.pool)
                .await?,
        )
    }

    async fn jobs_of_delivery(&self, id: Uuid) -> Result<Vec<JobRow>, StoreError> {
        Ok(sqlx::query_as::<_, JobRow>(
            "SELECT * FROM jobs WHERE delivery_id = $1 ORDER BY created_at, id",
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
        let mut query = delivery_query::<sqlx::Postgres>(filter);
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
            "SELECT * FROM rules WHERE $1::text IS NULL OR name > $1 ORDER BY name LIMIT $2",
        )
        .bind(after_name)
        .bind(limit)
        .fetch_all(&self.pool)
        .await?)
    }

    async fn find_rule(&self, id_or_name: &str) -> Result<Option<RuleRow>, StoreError> {
        Ok(
            sqlx::query_as::<_, RuleRow>("SELECT * FROM rules WHERE id = $1 OR name = $1")
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
        let mut tx = self.pool.begin().await?;
        let row = sqlx::query_as::<_, RuleRow>(
            "INSERT INTO rules (id, name, version, spec, created_at, updated_at) \
             VALUES ($1, $2, 1, $3, $4, $4) ON CONFLICT (name) DO NOTHING RETURNING *",
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
        let mut tx = self.pool.begin().await?;
        let taken: Option<String> =
            sqlx::query_scalar("SELECT id FROM rules WHERE name = $1 AND id <> $2")
                .bind(name)
                .bind(id.to_string())
                .fetch_optional(&mut *tx)
                .await?;
        if taken.is_some() {
            return Ok(None);
        }
        let row = sqlx::query_as::<_, RuleRow>(
            "UPDATE rules SET name = $2, spec = $3, version = version + 1, updated_at = $4 \
             WHERE id = $1 RETURNING *",
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
        let mut tx = self.pool.begin().await?;
        let deleted = sqlx::query("DELETE FROM rules WHERE id = $1")
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
                "SELECT spec FROM rule_versions WHERE rule_id = $1 AND version = $2",
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
        // Autovacuum reclaims dead rows; nothing to do by hand.
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
        channel: Channel,
    ) -> Result<Option<tokio::sync::mpsc::Receiver<()>>, StoreError> {
        let mut listener = PgListener::connect_with(&self.pool).await?;
        listener.listen(channel.name()).await?;
        let (tx, rx) = tokio::sync::mpsc::channel(1);
        tokio::spawn(async move {
            loop {
                // `recv` reconnects by itself after a lost connection; notifications sent
                // meanwhile are lost, which the callers' fallback polls cover.
                match listener.recv().await {
                    Ok(_) => {
                        // A full channel already holds a wake-up: that is enough.
                        if let Err(tokio::sync::mpsc::error::TrySendError::Closed(_)) =
                            tx.try_send(())
                        {
                            return;
                        }
                    }
                    Err(error) => {
                        tracing::warn!(%error, channel = channel.name(), "notification listener");
                        if tx.is_closed() {
                            return;
                        }
                        tokio::time::sleep(std::time::Duration::from_secs(1)).await;
                    }
                }
            }
        });
        Ok(Some(rx))
    }
}

async fn record_rule_version(conn: &mut PgConnection, row: &RuleRow) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO rule_versions (rule_id, version, spec, created_at) VALUES ($1, $2, $3, $4)",
    )
    .bind(&row.id)
    .bind(row.version)
    .bind(&row.spec)
    .bind(row.updated_at)
    .execute(&mut *conn)
    .await?;
    bump_rules_revision(conn).await
}

/// Bumps the revision and tells every replica, when the transaction commits.
async fn bump_rules_revision(conn: &mut PgConnection) -> Result<(), StoreError> {
    sqlx::query("UPDATE revisions SET value = value + 1 WHERE name = 'rules'")
        .execute(&mut *conn)
        .await?;
    sqlx::query("SELECT pg_notify($1, '')")
        .bind(Channel::Rules.name())
        .execute(&mut *conn)
        .await?;
    Ok(())
}

/// SKIP LOCKED lets replicas claim side by side without waiting on each other's rows.
/// Jobs under a concurrency key are claimed separately, under an advisory lock, since
/// their slots are counted across replicas. A job whose lease expired was in flight: it
/// is marked uncertain.
const CLAIM: &str = "UPDATE jobs SET status = 'running', lease_owner = $1, \
     lease_token = gen_random_uuid()::text, lease_expires_at = $3, \
     uncertain = CASE WHEN status = 'running' THEN 1 ELSE uncertain END, updated_at = $2 \
     WHERE id IN (SELECT id FROM jobs WHERE (status IN ('queued', 'retrying') \
     AND next_attempt_at <= $2 AND concurrency_key IS NULL) \
     OR (status = 'running' AND lease_expires_at < $2) ORDER BY next_attempt_at, delivery_seq LIMIT $4 \
     FOR UPDATE SKIP LOCKED) RETURNING *";

/// Serialises claims of flow-controlled jobs across replicas (held to the commit).
const FLOW_LOCK: &str = "SELECT pg_advisory_xact_lock(7355608)";

const CLAIM_FOLLOW: &str = "UPDATE jobs SET lease_owner = $1, \
     lease_token = gen_random_uuid()::text, lease_expires_at = $3 \
     WHERE id IN (SELECT id FROM jobs WHERE status = 'succeeded' AND run_terminal = 0 \
     AND next_check_at <= $2 AND (lease_expires_at IS NULL OR lease_expires_at < $2) \
     ORDER BY next_check_at LIMIT $4 FOR UPDATE SKIP LOCKED) RETURNING *";

job_queries!(
    PostgresStore,
    sqlx::PgConnection,
    CLAIM,
    FLOW_LOCK,
    CLAIM_FOLLOW
);

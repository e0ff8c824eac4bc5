//! Postgres: for several replicas sharing one queue. `synchronous_commit=on` is set on
//! every connection, so a commit is on disk before the sender hears 202.

use std::str::FromStr;

use sqlx::postgres::{PgConnectOptions, PgListener, PgPoolOptions};
use sqlx::{PgConnection, PgPool};
use uuid::Uuid;

use super::jobs::job_queries;
use super::shared::store_impl;
#[allow(unused_imports)] // used by the macro expansions below
use super::{
    delivery_query, now_ms, Attempt, AttemptRow, Channel, Committed, Dedupe, DeliveryFilter,
    DeliveryRow, JobAction, JobOutcome, JobRow, NewDelivery, PoolSettings, RuleRow, RunUpdate,
    Store, StoreError,
};

pub struct PostgresStore {
    pool: PgPool,
}

impl PostgresStore {
    const BACKEND: &'static str = "postgres";

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

    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    async fn begin_write(&self) -> Result<sqlx::Transaction<'_, sqlx::Postgres>, StoreError> {
        Ok(self.pool.begin().await?)
    }

    /// Tells every replica, when the transaction commits.
    async fn notify(conn: &mut PgConnection, channel: Channel) -> Result<(), StoreError> {
        sqlx::query("SELECT pg_notify($1, '')")
            .bind(channel.name())
            .execute(&mut *conn)
            .await?;
        Ok(())
    }

    /// Serialises transactions on `key` across replicas until they commit.
    async fn lock_body(conn: &mut PgConnection, key: &str) -> Result<(), StoreError> {
        sqlx::query("SELECT pg_advisory_xact_lock(hashtextextended($1, 0))")
            .bind(key)
            .execute(&mut *conn)
            .await?;
        Ok(())
    }

    async fn migrate_backend(&self) -> Result<(), StoreError> {
        sqlx::migrate!("./migrations/postgres")
            .run(&self.pool)
            .await?;
        Ok(())
    }

    async fn durability_backend(&self) -> Result<String, StoreError> {
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

    async fn subscribe_backend(
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

    /// Autovacuum reclaims dead rows; nothing to do by hand.
    async fn reclaim_backend(&self) -> Result<(), StoreError> {
        Ok(())
    }
}

/// SKIP LOCKED lets replicas claim side by side without waiting on each other's rows.
/// Jobs under a concurrency key are claimed separately, under an advisory lock, since
/// their slots are counted across replicas. A job whose lease expired was in flight: it
/// is marked uncertain.
///
/// The due rows are picked per status, each in `jobs_due` index order, then merged: a
/// claim costs the same with ten jobs waiting or a hundred thousand (one selection over
/// all statuses scanned and sorted the whole backlog on every claim).
const CLAIM: &str = "UPDATE jobs SET status = 'running', lease_owner = $1, \
     lease_token = gen_random_uuid()::text, lease_expires_at = $3, \
     uncertain = CASE WHEN status = 'running' THEN 1 ELSE uncertain END, updated_at = $2 \
     WHERE id IN (SELECT id FROM ( \
     SELECT * FROM (SELECT id, next_attempt_at, delivery_seq FROM jobs WHERE status = 'queued' \
     AND next_attempt_at <= $2 AND concurrency_key IS NULL \
     ORDER BY next_attempt_at, delivery_seq LIMIT $4 FOR UPDATE SKIP LOCKED) AS queued \
     UNION ALL SELECT * FROM (SELECT id, next_attempt_at, delivery_seq FROM jobs \
     WHERE status = 'retrying' AND next_attempt_at <= $2 AND concurrency_key IS NULL \
     ORDER BY next_attempt_at, delivery_seq LIMIT $4 FOR UPDATE SKIP LOCKED) AS retrying \
     UNION ALL SELECT * FROM (SELECT id, next_attempt_at, delivery_seq FROM jobs \
     WHERE status = 'running' AND lease_expires_at < $2 \
     ORDER BY next_attempt_at, delivery_seq LIMIT $4 FOR UPDATE SKIP LOCKED) AS expired \
     ) AS due ORDER BY next_attempt_at, delivery_seq LIMIT $4) RETURNING *";

/// Serialises claims of flow-controlled jobs across replicas (held to the commit).
const FLOW_LOCK: &str = "SELECT pg_advisory_xact_lock(7355608)";

const CLAIM_FOLLOW: &str = "UPDATE jobs SET lease_owner = $1, \
     lease_token = gen_random_uuid()::text, lease_expires_at = $3 \
     WHERE id IN (SELECT id FROM jobs WHERE status = 'succeeded' AND run_terminal = 0 \
     AND next_check_at <= $2 AND (lease_expires_at IS NULL OR lease_expires_at < $2) \
     ORDER BY next_check_at LIMIT $4 FOR UPDATE SKIP LOCKED) RETURNING *";

job_queries!(PostgresStore, PgConnection);
store_impl!(
    PostgresStore,
    PgConnection,
    sqlx::Postgres,
    CLAIM,
    FLOW_LOCK,
    CLAIM_FOLLOW
);

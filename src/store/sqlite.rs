//! SQLite: the embedded default. One process owns the file; WAL mode with
//! `synchronous=FULL`, so a commit is on disk before the sender hears 202.

use std::str::FromStr;

use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{SqliteConnection, SqlitePool};
use tokio_util::sync::{CancellationToken, DropGuard};
use uuid::Uuid;

use super::jobs::job_queries;
use super::shared::store_impl;
#[allow(unused_imports)] // used by the macro expansions below
use super::{
    delivery_query, now_ms, Attempt, AttemptRow, Channel, Committed, Dedupe, DeliveryFilter,
    DeliveryRow, JobAction, JobOutcome, JobRow, NewDelivery, PoolSettings, RuleRow, RunUpdate,
    Store, StoreError,
};

pub struct SqliteStore {
    pool: SqlitePool,
    /// Stops the checkpointer when the store is dropped.
    _checkpointer: DropGuard,
}

/// WAL frames (pages of 4 KB) past which the checkpointer makes the WAL start over: the
/// size `journal_size_limit` truncates it back to.
const WAL_RESTART_FRAMES: i64 = 16_384;

/// How often the checkpointer copies committed pages from the WAL into the database.
/// SQLite's own automatic checkpoint runs inside whichever commit crosses 1,000 pages,
/// and measured a quarter of the writer's time; here it runs beside the writer, and a
/// tenth of a second keeps the WAL to a few megabytes at full intake.
const CHECKPOINT_EVERY: std::time::Duration = std::time::Duration::from_millis(100);

impl SqliteStore {
    const BACKEND: &'static str = "sqlite";

    pub async fn connect(url: &str, settings: &PoolSettings) -> Result<Self, StoreError> {
        let options = SqliteConnectOptions::from_str(url)?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Full)
            .foreign_keys(true)
            // Statement journals in memory, not in temporary files.
            .pragma("temp_store", "memory")
            // Checkpoints run in `checkpoint_loop`, off the commit path; a WAL left
            // larger than this by a burst is truncated when it starts over.
            .pragma("wal_autocheckpoint", "0")
            .pragma("journal_size_limit", "67108864")
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
        let stop = CancellationToken::new();
        tokio::spawn(checkpoint_loop(pool.clone(), stop.clone()));
        Ok(SqliteStore {
            pool,
            _checkpointer: stop.drop_guard(),
        })
    }

    pub fn pool(&self) -> &SqlitePool {
        &self.pool
    }

    /// A transaction that writes. IMMEDIATE takes the file lock up front, so it waits
    /// for other writers instead of failing to upgrade a read later.
    async fn begin_write(&self) -> Result<sqlx::Transaction<'_, sqlx::Sqlite>, StoreError> {
        Ok(self.pool.begin_with("BEGIN IMMEDIATE").await?)
    }

    /// One process owns the file: the in-process wake-ups are all there is.
    async fn notify(_conn: &mut SqliteConnection, _channel: Channel) -> Result<(), StoreError> {
        Ok(())
    }

    /// The file lock already serialises writers.
    async fn lock_body(_conn: &mut SqliteConnection, _key: &str) -> Result<(), StoreError> {
        Ok(())
    }

    async fn migrate_backend(&self) -> Result<(), StoreError> {
        sqlx::migrate!("./migrations/sqlite")
            .run(&self.pool)
            .await?;
        Ok(())
    }

    async fn durability_backend(&self) -> Result<String, StoreError> {
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

    /// One process owns the file: it tells itself about changes in memory.
    async fn subscribe_backend(
        &self,
        _channel: Channel,
    ) -> Result<Option<tokio::sync::mpsc::Receiver<()>>, StoreError> {
        Ok(None)
    }

    /// Pages freed by pruning go back to the file system a few at a time.
    async fn reclaim_backend(&self) -> Result<(), StoreError> {
        sqlx::query("PRAGMA incremental_vacuum(2000)")
            .execute(&self.pool)
            .await?;
        Ok(())
    }
}

/// Copies committed pages from the WAL into the database file every `CHECKPOINT_EVERY`,
/// until the store is dropped. PASSIVE never blocks the writer or readers, but under
/// steady writes it never catches the WAL's end either, and the WAL only starts over
/// from its beginning once everything in it was copied: it reached 360 MB within ten
/// seconds of full intake. Past `WAL_RESTART_FRAMES`, a RESTART copies the
/// little PASSIVE left, holding new writers for that long, so the next commit writes at
/// the WAL's start again.
async fn checkpoint_loop(pool: SqlitePool, stop: CancellationToken) {
    let mut tick = tokio::time::interval(CHECKPOINT_EVERY);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = stop.cancelled() => break,
            _ = tick.tick() => {}
        }
        let passive: Result<(i64, i64, i64), _> = sqlx::query_as("PRAGMA wal_checkpoint(PASSIVE)")
            .fetch_one(&pool)
            .await;
        let restart = match passive {
            Ok((_, wal_frames, _)) => wal_frames > WAL_RESTART_FRAMES,
            Err(error) => {
                if pool.is_closed() {
                    break;
                }
                tracing::warn!(%error, "WAL checkpoint failed; retrying");
                false
            }
        };
        if restart {
            if let Err(error) = sqlx::query("PRAGMA wal_checkpoint(RESTART)")
                .execute(&pool)
                .await
            {
                tracing::warn!(%error, "WAL restart failed; retrying");
            }
        }
    }
}

/// SQLite has no row locks: the IMMEDIATE transaction around the claim serialises
/// claimers, and the UPDATE ... RETURNING takes the due rows in one statement. Jobs under
/// a concurrency key are claimed separately (their slots are counted first); an expired
/// lease is reclaimed whatever the job, marked uncertain. The due rows are picked per
/// status, each in `jobs_due` index order, then merged: a claim costs the same with ten
/// jobs waiting or a hundred thousand (one selection over all statuses sorted the whole
/// backlog on every claim, under the write lock).
const CLAIM: &str = "UPDATE jobs SET status = 'running', lease_owner = $1, \
     lease_token = lower(hex(randomblob(16))), lease_expires_at = $3, \
     uncertain = CASE WHEN status = 'running' THEN 1 ELSE uncertain END, updated_at = $2 \
     WHERE id IN (SELECT id FROM ( \
     SELECT * FROM (SELECT id, next_attempt_at, delivery_seq FROM jobs WHERE status = 'queued' \
     AND next_attempt_at <= $2 AND concurrency_key IS NULL \
     ORDER BY next_attempt_at, delivery_seq LIMIT $4) \
     UNION ALL SELECT * FROM (SELECT id, next_attempt_at, delivery_seq FROM jobs \
     WHERE status = 'retrying' AND next_attempt_at <= $2 AND concurrency_key IS NULL \
     ORDER BY next_attempt_at, delivery_seq LIMIT $4) \
     UNION ALL SELECT * FROM (SELECT id, next_attempt_at, delivery_seq FROM jobs \
     WHERE status = 'running' AND lease_expires_at < $2 \
     ORDER BY next_attempt_at, delivery_seq LIMIT $4)) \
     ORDER BY next_attempt_at, delivery_seq LIMIT $4) \
     RETURNING *";

/// Triggered runs due for a look, not being looked at by another worker.
const CLAIM_FOLLOW: &str = "UPDATE jobs SET lease_owner = $1, \
     lease_token = lower(hex(randomblob(16))), lease_expires_at = $3 \
     WHERE id IN (SELECT id FROM jobs WHERE status = 'succeeded' AND run_terminal = 0 \
     AND next_check_at <= $2 AND (lease_expires_at IS NULL OR lease_expires_at < $2) \
     ORDER BY next_check_at LIMIT $4) RETURNING *";

job_queries!(SqliteStore, SqliteConnection);
store_impl!(
    SqliteStore,
    SqliteConnection,
    sqlx::Sqlite,
    CLAIM,
    "SELECT 1",
    CLAIM_FOLLOW
);

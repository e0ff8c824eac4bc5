//! Which embedded migrations a database still lacks, read without changing anything:
//! `zenhook check` reports them, `zenhook migrate` applies them.

use std::collections::BTreeSet;
use std::str::FromStr;

use sqlx::migrate::Migrator;
use sqlx::postgres::PgConnectOptions;
use sqlx::sqlite::SqliteConnectOptions;
use sqlx::{ConnectOptions, Connection};

use super::{PoolSettings, StoreError};

static SQLITE: Migrator = sqlx::migrate!("./migrations/sqlite");
static POSTGRES: Migrator = sqlx::migrate!("./migrations/postgres");

/// What the database has applied of the migrations this binary carries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MigrationStatus {
    /// How many of this binary's migrations are applied.
    pub applied: usize,
    /// The others, as `<version> <description>`, oldest first.
    pub pending: Vec<String>,
    /// False when an SQLite file does not exist yet (every migration is pending).
    pub exists: bool,
}

/// Opens the database named by `url` read-only (an SQLite file is neither created
/// nor migrated) and compares its applied migrations with the embedded ones.
pub async fn migration_status(
    url: &str,
    settings: &PoolSettings,
) -> Result<MigrationStatus, StoreError> {
    if url.starts_with("sqlite:") {
        let options = SqliteConnectOptions::from_str(url)?
            .create_if_missing(false)
            .read_only(true)
            .busy_timeout(settings.acquire_timeout);
        let file = options.get_filename();
        if file.as_os_str() != ":memory:" && !file.exists() {
            return Ok(status(&SQLITE, &BTreeSet::new(), false));
        }
        let mut conn = options.connect().await?;
        let has_table: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = '_sqlx_migrations'",
        )
        .fetch_one(&mut conn)
        .await?;
        let applied = if has_table > 0 {
            sqlx::query_scalar("SELECT version FROM _sqlx_migrations WHERE success")
                .fetch_all(&mut conn)
                .await?
        } else {
            Vec::new()
        };
        conn.close().await?;
        Ok(status(&SQLITE, &applied.into_iter().collect(), true))
    } else if url.starts_with("postgres:") || url.starts_with("postgresql:") {
        let options = PgConnectOptions::from_str(url)?;
        let mut conn = tokio::time::timeout(settings.acquire_timeout, options.connect())
            .await
            .map_err(|_| StoreError::Database(sqlx::Error::PoolTimedOut))??;
        let has_table: bool =
            sqlx::query_scalar("SELECT to_regclass('_sqlx_migrations') IS NOT NULL")
                .fetch_one(&mut conn)
                .await?;
        let applied = if has_table {
            sqlx::query_scalar("SELECT version FROM _sqlx_migrations WHERE success")
                .fetch_all(&mut conn)
                .await?
        } else {
            Vec::new()
        };
        conn.close().await?;
        Ok(status(&POSTGRES, &applied.into_iter().collect(), true))
    } else {
        Err(StoreError::UnsupportedUrl(url.to_owned()))
    }
}

fn status(migrator: &Migrator, applied: &BTreeSet<i64>, exists: bool) -> MigrationStatus {
    let mut done = 0;
    let mut pending = Vec::new();
    for migration in migrator
        .iter()
        .filter(|m| !m.migration_type.is_down_migration())
    {
        if applied.contains(&migration.version) {
            done += 1;
        } else {
            pending.push(format!(
                "{:04} {}",
                migration.version, migration.description
            ));
        }
    }
    MigrationStatus {
        applied: done,
        pending,
        exists,
    }
}

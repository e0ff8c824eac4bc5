//! Test helpers: a real service on port 0 over a fresh database, SQLite or Postgres.
#![allow(dead_code, unused_macros)]

/// Runs `$body` (an async closure taking a [`TestApp`]) against a fresh service on
/// SQLite and on Postgres, each started with the test file's `config()`. Postgres is
/// skipped only outside CI when it is unreachable.
macro_rules! both_backends {
    ($name:ident, $body:expr) => {
        mod $name {
            use super::*;
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                let app = spawn_app(Backend::Sqlite, &config()).await.expect("sqlite");
                let case = $body;
                case(app).await;
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                if let Some(app) = spawn_app(Backend::Postgres, &config()).await {
                    let case = $body;
                    case(app).await;
                }
            }
        }
    };
}

use std::net::SocketAddr;
use std::sync::Arc;

use hmac::{Hmac, Mac};
use sha2::Sha256;
use tokio::sync::OnceCell;
use tokio_util::sync::CancellationToken;
use zenhook::config::Settings;
use zenhook::store::{PoolSettings, Store};

pub const PG_ADMIN_URL: &str = "postgres://postgres@127.0.0.1:5432/postgres";
pub const PG_PREFIX: &str = "zenhook_test_";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// A database of the test's own.
pub struct TestDb {
    pub url: String,
    _dir: Option<tempfile::TempDir>,
}

static PG_CLEANED: OnceCell<bool> = OnceCell::const_new();

/// Whether Postgres can be used. With `CI` set it must be: an unreachable server fails
/// the test instead of skipping it.
pub async fn postgres_available() -> bool {
    *PG_CLEANED
        .get_or_init(|| async {
            match sqlx::postgres::PgPool::connect(PG_ADMIN_URL).await {
                Ok(pool) => {
                    drop_leftovers(&pool).await;
                    true
                }
                Err(error) => {
                    if std::env::var_os("CI").is_some() {
                        panic!("CI is set and Postgres at {PG_ADMIN_URL} is unreachable: {error}");
                    }
                    eprintln!("skipping Postgres tests: {error}");
                    false
                }
            }
        })
        .await
}

/// Test binaries run one after another, so databases left by an earlier binary (a
/// crashed or killed run) are no one's: drop them by prefix.
async fn drop_leftovers(pool: &sqlx::PgPool) {
    let names: Vec<String> =
        sqlx::query_scalar("SELECT datname FROM pg_database WHERE datname LIKE $1")
            .bind(format!("{PG_PREFIX}%"))
            .fetch_all(pool)
            .await
            .unwrap_or_default();
    for name in names {
        let _ = sqlx::query(&format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"))
            .execute(pool)
            .await;
    }
}

impl TestDb {
    /// A fresh database; `None` when the backend is Postgres and it is not available
    /// outside CI.
    pub async fn new(backend: Backend) -> Option<TestDb> {
        match backend {
            Backend::Sqlite => {
                let dir = tempfile::tempdir().expect("temp dir");
                let url = format!("sqlite://{}", dir.path().join("zenhook.db").display());
                Some(TestDb {
                    url,
                    _dir: Some(dir),
                })
            }
            Backend::Postgres => {
                if !postgres_available().await {
                    return None;
                }
                let name = format!("{PG_PREFIX}{}", uuid::Uuid::new_v4().simple());
                let pool = sqlx::postgres::PgPool::connect(PG_ADMIN_URL)
                    .await
                    .expect("postgres");
                sqlx::query(&format!("CREATE DATABASE \"{name}\""))
                    .execute(&pool)
                    .await
                    .expect("create database");
                Some(TestDb {
                    url: format!("postgres://postgres@127.0.0.1:5432/{name}"),
                    _dir: None,
                })
            }
        }
    }

    pub async fn store(&self) -> Arc<dyn Store> {
        let store = zenhook::store::connect(
            &self.url,
            &PoolSettings {
                max_connections: 4,
                acquire_timeout: std::time::Duration::from_secs(5),
            },
        )
        .await
        .expect("connect");
        store.migrate().await.expect("migrate");
        store
    }
}

/// A running zenhook.
pub struct TestApp {
    pub addr: SocketAddr,
    pub db: TestDb,
    pub client: reqwest::Client,
    pub shutdown: CancellationToken,
    pub handle: tokio::task::JoinHandle<anyhow::Result<()>>,
    _config_dir: tempfile::TempDir,
}

impl TestApp {
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, path)
    }

    /// The configuration file the service was started with (and reloads).
    pub fn config_path(&self) -> std::path::PathBuf {
        self._config_dir.path().join("zenhook.toml")
    }

    pub async fn store(&self) -> Arc<dyn Store> {
        self.db.store().await
    }

    /// Stops the service and waits until it has committed everything it accepted.
    pub async fn stop(self) -> TestDb {
        self.shutdown.cancel();
        self.handle
            .await
            .expect("service task")
            .expect("service result");
        self.db
    }
}

/// Starts zenhook on port 0 with `config` (TOML) layered over the defaults and the
/// database set to a fresh one.
pub async fn spawn_app(backend: Backend, config: &str) -> Option<TestApp> {
    let db = TestDb::new(backend).await?;
    Some(spawn_app_on(db, config).await)
}

pub async fn spawn_app_on(db: TestDb, config: &str) -> TestApp {
    spawn_app_with(db, config, zenhook::RunOptions::default()).await
}

/// Like [`spawn_app_on`], with run options (a manual clock, ...). The configuration file
/// stays in place, at [`TestApp::config_path`], for reload tests to rewrite.
pub async fn spawn_app_with(db: TestDb, config: &str, mut options: zenhook::RunOptions) -> TestApp {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("zenhook.toml");
    std::fs::write(&path, config).expect("write config");
    let env = vec![("ZENHOOK__DATABASE__URL".to_owned(), db.url.clone())];
    let settings = Settings::load_with_env(Some(&path), env.clone()).expect("valid test config");
    options.config_path = Some(path);
    options.config_env = Some(env);
    let serves_http = options.role != zenhook::Role::Worker;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let shutdown = CancellationToken::new();
    let handle = tokio::spawn(zenhook::run_with(
        settings,
        options,
        listener,
        shutdown.clone(),
    ));
    let client = reqwest::Client::new();
    // Ready once the database is migrated and the listener serves.
    for _ in 0..(if serves_http { 200 } else { 0 }) {
        if let Ok(response) = client.get(format!("http://{addr}/readyz")).send().await {
            if response.status().is_success() {
                break;
            }
        }
        tokio::time::sleep(std::time::Duration::from_millis(25)).await;
    }
    TestApp {
        addr,
        db,
        client,
        shutdown,
        handle,
        _config_dir: dir,
    }
}

/// `sha256=<hex>` as GitHub sends it. Tests of the verifiers use independently computed
/// constants; this helper only signs bodies for the HTTP tests.
pub fn github_signature(secret: &str, body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("any key length");
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

/// The KEY=VALUE lines `../shared/zenml/zenml_server.sh start` wrote, from the env file
/// named by `var` (`.ci/run` sets it). Outside CI a missing variable skips the test
/// (`None`); with `CI` set it fails.
pub fn zenml_server(var: &str) -> Option<std::collections::HashMap<String, String>> {
    let Some(path) = std::env::var_os(var) else {
        if std::env::var_os("CI").is_some() {
            panic!("CI is set but {var} is not: .ci/run must start the ZenML server");
        }
        eprintln!("skipped: {var} is not set (see .ci/run)");
        return None;
    };
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.to_string_lossy()));
    Some(
        text.lines()
            .filter_map(|line| line.split_once('='))
            .map(|(k, v)| (k.trim().to_owned(), v.trim().to_owned()))
            .collect(),
    )
}

/// The path of a shared fixture.
pub fn fixture(path: &str) -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../shared/fixtures/webhooks")
        .join(path)
}

impl TestDb {
    /// The same database again, for a second service instance (replicas sharing one
    /// Postgres database). Whoever holds the original keeps any files alive.
    pub fn shared(&self) -> TestDb {
        TestDb {
            url: self.url.clone(),
            _dir: None,
        }
    }
}
pub mod mock_zenml;
pub mod zenhook_api;
pub mod zenml_reader;

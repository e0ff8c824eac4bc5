//! Crashes of the real binary at the worst moments (cargo feature `failpoints`): after
//! ZenML made the run but before the job recorded it, and after intake committed a
//! delivery but before the sender heard back. A restart must finish the work with
//! exactly one run.
#![cfg(feature = "failpoints")]

mod common;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::mock_zenml::{MockZenml, IDEMPOTENCY_WINDOW};
use common::zenhook_api::{attempts, settled, worker_config, Zenhook, API_KEY};
use common::zenml_reader::ZenmlReader;
use serde_json::json;

/// A zenhook process, killed if the test ends while it runs.
struct Service {
    child: Child,
    api: Zenhook,
    log: PathBuf,
}

impl Drop for Service {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Service {
    /// Starts `zenhook serve` on a free port over `db_url`, armed with `failpoint`.
    async fn start(dir: &Path, mock: &MockZenml, db_url: &str, failpoint: Option<&str>) -> Service {
        Self::start_with(
            dir,
            &worker_config(&mock.url(), "1s", ""),
            db_url,
            failpoint,
        )
        .await
    }

    /// Starts `zenhook serve` with `config` (the listen address is added). The port is
    /// found free and then handed to the child, so another test can take it in between:
    /// then it starts again on another port.
    async fn start_with(
        dir: &Path,
        config: &str,
        db_url: &str,
        failpoint: Option<&str>,
    ) -> Service {
        for _ in 0..5 {
            if let Some(service) = Self::try_start(dir, config, db_url, failpoint).await {
                return service;
            }
        }
        panic!("no free port for zenhook in five tries");
    }

    /// `None` when the port was taken before zenhook could listen on it.
    async fn try_start(
        dir: &Path,
        config: &str,
        db_url: &str,
        failpoint: Option<&str>,
    ) -> Option<Service> {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        let config = format!("{config}\n[server]\nlisten = \"127.0.0.1:{port}\"\n");
        let config_path = dir.join(format!("zenhook-{port}.toml"));
        std::fs::write(&config_path, config).expect("write config");
        let log = dir.join(format!("zenhook-{port}.log"));
        let mut command = Command::new(env!("CARGO_BIN_EXE_zenhook"));
        command
            .arg("serve")
            .arg("--config")
            .arg(&config_path)
            .env("ZENHOOK__DATABASE__URL", db_url)
            .env_remove("ZENHOOK_FAILPOINTS")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).expect("log file"));
        if let Some(point) = failpoint {
            command.env("ZENHOOK_FAILPOINTS", point);
        }
        let mut service = Service {
            child: command.spawn().expect("start zenhook"),
            api: Zenhook::new(format!("http://127.0.0.1:{port}")),
            log,
        };
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            let ready = service
                .api
                .client
                .get(format!("{}/readyz", service.api.base))
                .send()
                .await
                .map(|r| r.status().is_success())
                .unwrap_or(false);
            if ready {
                return Some(service);
            }
            if let Ok(Some(status)) = service.child.try_wait() {
                let log = service.log_text();
                if log.contains("Address already in use") {
                    return None;
                }
                panic!("zenhook exited with {status}: {log}");
            }
            assert!(
                Instant::now() < deadline,
                "zenhook not ready: {}",
                service.log_text()
            );
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    }

    /// The job once its status is final, or a failure that shows the service's log.
    async fn settled(&self, id: &str, within: Duration) -> serde_json::Value {
        let deadline = Instant::now() + within;
        loop {
            let job = self.api.job(id).await;
            if settled(job["status"].as_str().unwrap_or("")) {
                return job;
            }
            assert!(
                Instant::now() < deadline,
                "job {id} did not settle: {job:#}\n{}",
                self.log_text()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Waits for the process to end by itself (a failpoint) and says it did not exit cleanly.
    async fn crashed(mut self) {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if let Some(status) = self.child.try_wait().expect("child status") {
                assert!(!status.success(), "aborted, not exited: {status}");
                let log = self.log_text();
                assert!(log.contains("failpoint"), "{log}");
                return;
            }
            assert!(
                Instant::now() < deadline,
                "the failpoint was not reached: {}",
                self.log_text()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

struct World {
    dir: tempfile::TempDir,
    mock: MockZenml,
    db_url: String,
}

async fn world() -> World {
    let dir = tempfile::tempdir().expect("temp dir");
    let db_url = format!("sqlite://{}", dir.path().join("zenhook.db").display());
    World {
        mock: MockZenml::start(API_KEY).await,
        dir,
        db_url,
    }
}

impl World {
    async fn start(&self, failpoint: Option<&str>) -> Service {
        Service::start(self.dir.path(), &self.mock, &self.db_url, failpoint).await
    }
}

/// The process dies after ZenML made the run; the restarted one reclaims the job once
/// its lease is over and, the job being uncertain, finds the run by its tag.
async fn crash_after_the_answer(past_the_idempotency_window: bool) {
    let world = world().await;
    let first = world.start(Some("worker-after-zenml-answer")).await;
    first
        .api
        .create_rule("train-on-push", json!({"tags": ["webhook"]}))
        .await;
    let delivery = first.api.push("crash-answer-1").await;
    first.crashed().await;
    assert_eq!(world.mock.runs_created(), 1, "ZenML made the run");
    assert_eq!(world.mock.trigger_calls(), 1);
    if past_the_idempotency_window {
        // A resend now would make a second run: only the tag can find the first.
        world
            .mock
            .advance(IDEMPOTENCY_WINDOW + Duration::from_secs(1));
    }

    let second = world.start(None).await;
    let id = second.api.job_of(&delivery).await;
    let job = second.settled(&id, Duration::from_secs(10)).await;
    assert_eq!(job["status"], "succeeded", "{job:#}");
    let runs = world.mock.runs();
    assert_eq!(runs.len(), 1, "{runs:#?}");
    assert_eq!(job["run_id"], runs[0].id.as_str());
    assert_eq!(
        world.mock.trigger_calls(),
        1,
        "found by tag, not sent again"
    );
    // The crashed attempt left no record; the adoption is the only one.
    assert_eq!(attempts(&job).len(), 1, "{job:#}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crash_after_zenmls_answer_is_adopted_on_restart() {
    crash_after_the_answer(false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crash_is_adopted_even_after_the_idempotency_window() {
    crash_after_the_answer(true).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crash_after_intake_commit_is_a_duplicate_on_redelivery() {
    let world = world().await;
    let first = world.start(Some("intake-after-commit")).await;
    first
        .api
        .create_rule("train-on-push", json!({"tags": ["webhook"]}))
        .await;
    let lost = first.api.try_push("crash-intake-1").await;
    assert!(lost.is_err(), "the sender heard nothing: {lost:?}");
    first.crashed().await;

    let second = world.start(None).await;
    // GitHub redelivers with the same X-GitHub-Delivery.
    let (status, answer) = second
        .api
        .try_push("crash-intake-1")
        .await
        .expect("answered");
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["status"], "duplicate");
    let (_, deliveries) = second
        .api
        .admin(reqwest::Method::GET, "/deliveries", None)
        .await;
    let items = deliveries["items"].as_array().expect("deliveries");
    assert_eq!(items.len(), 1, "{deliveries:#}");
    assert_eq!(answer["delivery_id"], items[0]["id"]);

    let delivery = items[0]["id"].as_str().unwrap();
    let id = second.api.job_of(delivery).await;
    let job = second.settled(&id, Duration::from_secs(10)).await;
    assert_eq!(job["status"], "succeeded", "{job:#}");
    let (_, jobs) = second.api.admin(reqwest::Method::GET, "/jobs", None).await;
    assert_eq!(jobs["items"].as_array().map(Vec::len), Some(1), "{jobs:#}");
    assert_eq!(world.mock.runs_created(), 1);
    assert_eq!(job["run_id"], world.mock.runs()[0].id.as_str());
}

/// The crash after ZenML's answer, against a REAL ZenML server (`ZENHOOK_ZENML_ENV`,
/// started by `.ci/run`): the restarted service adopts the run by its tag, and ZenML
/// holds exactly one run for the job.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crash_against_real_zenml_gives_one_run() {
    let Some(zenml) = common::zenml_server("ZENHOOK_ZENML_ENV") else {
        return;
    };
    let config =
        common::zenhook_api::worker_config_with_lease(&zenml["ZENML_URL"], "10s", "12s", "")
            .replace(API_KEY, &zenml["ZENML_API_KEY"]);
    let dir = tempfile::tempdir().unwrap();
    let db_url = format!("sqlite://{}", dir.path().join("zenhook.db").display());

    let first = Service::start_with(
        dir.path(),
        &config,
        &db_url,
        Some("worker-after-zenml-answer"),
    )
    .await;
    let (status, body) = first
        .api
        .admin(
            reqwest::Method::POST,
            "/rules",
            Some(json!({
                "name": "real-crash",
                "events": ["push"],
                "target": "default",
                "template_id": zenml["ZENML_TEMPLATE_ID"],
                "run_config": { "run_name": "zenhook-crash-{date}-{time}", "tags": ["zenhook-crash-test"] },
            })),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    let delivery = first
        .api
        .push(&format!("real-crash-{}", uuid::Uuid::new_v4()))
        .await;
    let job_id = first.api.job_of(&delivery).await;
    first.crashed().await;

    let second = Service::start_with(dir.path(), &config, &db_url, None).await;
    // The lease (12 s) must run out before the job is reclaimed, as uncertain.
    let job = second.settled(&job_id, Duration::from_secs(40)).await;
    assert_eq!(job["status"], "succeeded", "{job:#}");
    // ZenML itself holds one run with the job's tag.
    let tag = format!("zenhook-job-{job_id}-1");
    let runs = ZenmlReader::login(&zenml).await.runs_with_tag(&tag).await;
    assert_eq!(runs["total"], 1, "{runs:#}");
    assert_eq!(runs["items"][0]["id"], job["run_id"]);
}

//! A running zenhook seen from outside: its admin API and a GitHub sender, for the
//! worker tests (in-process service or the real binary alike).

use std::time::{Duration, Instant};

use serde_json::{json, Value};

pub const ADMIN_TOKEN: &str = "admin-token-for-worker-tests";
pub const GITHUB_SECRET: &str = "worker-tests-secret";
pub const TEMPLATE: &str = "7b5a3f9e-0c4e-4a55-9e0d-2f7c1c3b8a10";
pub const API_KEY: &str = "ZENKEY_test";

/// The configuration every worker test shares: one GitHub source, the admin token and
/// a live target at `zenml_url`; `extra_worker` adds lines to `[worker]`.
pub fn worker_config(zenml_url: &str, timeout: &str, extra_worker: &str) -> String {
    worker_config_with_lease(zenml_url, timeout, "3s", extra_worker)
}

/// [`worker_config`] with another lease (a target's timeout must be shorter).
pub fn worker_config_with_lease(
    zenml_url: &str,
    timeout: &str,
    lease: &str,
    extra_worker: &str,
) -> String {
    format!(
        r#"
[sources.github]
kind = "github"
secrets = ["{GITHUB_SECRET}"]

[admin]
tokens = ["{ADMIN_TOKEN}"]

[worker]
retry_schedule = ["100ms", "200ms"]
lease = "{lease}"
poll = "1h"
{extra_worker}

[targets.default]
url = "{zenml_url}"
api_key = "{API_KEY}"
timeout = "{timeout}"
"#
    )
}

/// A final job status: the worker will not touch the job again.
pub fn settled(status: &str) -> bool {
    !["queued", "running", "retrying"].contains(&status)
}

#[derive(Clone)]
pub struct Zenhook {
    pub base: String,
    pub client: reqwest::Client,
}

impl Zenhook {
    pub fn new(base: impl Into<String>) -> Zenhook {
        Zenhook {
            base: base.into(),
            client: reqwest::Client::builder()
                .timeout(Duration::from_secs(10))
                .build()
                .expect("a client"),
        }
    }

    pub async fn admin(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> (u16, Value) {
        let mut request = self
            .client
            .request(method, format!("{}/api/v1{path}", self.base))
            .bearer_auth(ADMIN_TOKEN);
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.expect("admin request");
        let status = response.status().as_u16();
        (status, response.json().await.unwrap_or(Value::Null))
    }

    /// A rule matching the GitHub push fixture (branch master) with `run_config`.
    pub async fn create_rule(&self, name: &str, run_config: Value) {
        let (status, body) = self
            .admin(
                reqwest::Method::POST,
                "/rules",
                Some(json!({
                    "name": name,
                    "events": ["push"],
                    "branches": ["master"],
                    "target": "default",
                    "template_id": TEMPLATE,
                    "run_config": run_config,
                })),
            )
            .await;
        assert_eq!(status, 201, "{body}");
    }

    /// Sends the GitHub push fixture signed; the status and the answer, or the
    /// transport error when the connection closed without one.
    pub async fn try_push(&self, delivery: &str) -> Result<(u16, Value), reqwest::Error> {
        let body = std::fs::read(super::fixture("github/push.json")).expect("fixture");
        let response = self
            .client
            .post(format!("{}/hooks/github", self.base))
            .header("Content-Type", "application/json")
            .header("X-GitHub-Event", "push")
            .header("X-GitHub-Delivery", delivery)
            .header(
                "X-Hub-Signature-256",
                super::github_signature(GITHUB_SECRET, &body),
            )
            .body(body)
            .send()
            .await?;
        let status = response.status().as_u16();
        Ok((status, response.json().await.unwrap_or(Value::Null)))
    }

    /// Sends the fixture and returns the new delivery's id.
    pub async fn push(&self, delivery: &str) -> String {
        let (status, answer) = self.try_push(delivery).await.expect("webhook answered");
        assert_eq!(status, 202, "{answer}");
        answer["delivery_id"]
            .as_str()
            .expect("delivery id")
            .to_owned()
    }

    /// The id of the one job a delivery made, once it exists.
    pub async fn job_of(&self, delivery: &str) -> String {
        let (status, view) = self
            .admin(
                reqwest::Method::GET,
                &format!("/deliveries/{delivery}"),
                None,
            )
            .await;
        assert_eq!(status, 200, "{view}");
        let jobs = view["jobs"].as_array().cloned().unwrap_or_default();
        assert_eq!(jobs.len(), 1, "one rule, one job: {view}");
        jobs[0]["id"].as_str().expect("job id").to_owned()
    }

    /// The job with its attempts (GET /api/v1/jobs/{id}).
    pub async fn job(&self, id: &str) -> Value {
        let (status, job) = self
            .admin(reqwest::Method::GET, &format!("/jobs/{id}"), None)
            .await;
        assert_eq!(status, 200, "{job}");
        job
    }

    /// Polls the job until `done` holds, at most `within`.
    pub async fn wait_job(
        &self,
        id: &str,
        within: Duration,
        done: impl Fn(&Value) -> bool,
    ) -> Value {
        let deadline = Instant::now() + within;
        loop {
            let job = self.job(id).await;
            if done(&job) {
                return job;
            }
            assert!(
                Instant::now() < deadline,
                "job {id} did not get there within {within:?}: {job:#}"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Polls the job until its status is final.
    pub async fn settled_job(&self, id: &str, within: Duration) -> Value {
        self.wait_job(id, within, |job| {
            settled(job["status"].as_str().unwrap_or(""))
        })
        .await
    }

    /// Sends the fixture as a new delivery and waits for its job to settle.
    pub async fn push_and_settle(&self, delivery: &str, within: Duration) -> Value {
        let delivery = self.push(delivery).await;
        let id = self.job_of(&delivery).await;
        self.settled_job(&id, within).await
    }
}

/// Unix milliseconds of a time the admin API shows (RFC 3339).
pub fn ms(text: &Value) -> i64 {
    let text = text.as_str().expect("a time");
    let at = humantime::parse_rfc3339(text).expect("RFC 3339");
    at.duration_since(std::time::UNIX_EPOCH)
        .expect("after 1970")
        .as_millis() as i64
}

/// `(started_at, finished_at, http_status, outcome)` of each attempt of the job.
pub fn attempts(job: &Value) -> Vec<(i64, i64, Option<i64>, String)> {
    job["attempts"]
        .as_array()
        .expect("attempts")
        .iter()
        .map(|a| {
            (
                ms(&a["started_at"]),
                ms(&a["finished_at"]),
                a["http_status"].as_i64(),
                a["outcome"].as_str().unwrap_or("").to_owned(),
            )
        })
        .collect()
}

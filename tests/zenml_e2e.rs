//! End to end against a REAL ZenML server (`../shared/zenml/zenml_server.sh`). `.ci/run`
//! starts one server per mode and points these variables at their env files:
//! `ZENHOOK_ZENML_ENV` (templates runnable), `ZENHOOK_ZENML_OSS_ENV` (`--oss-default`:
//! the real 405), `ZENHOOK_ZENML_BUSY_ENV` (`--max-concurrent-runs 1`). Outside CI a
//! missing variable skips its test; with `CI` set it fails.
//!
//! Every triggered run costs the server seconds of CPU: these tests trigger about six,
//! one at a time.

mod common;

use std::collections::HashMap;
use std::time::Duration;

use common::zenml_reader::ZenmlReader;
use common::{github_signature, spawn_app, Backend, TestApp};
use serde_json::{json, Value};

const SECRET: &str = "e2e-secret";
const TOKEN: &str = "e2e-admin-token";

/// One test at a time: the server runs each triggered pipeline on the same two cores.
static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// The KEY=VALUE lines of the server started for `var`.
fn server(var: &str) -> Option<HashMap<String, String>> {
    common::zenml_server(var)
}

fn config(zenml: &HashMap<String, String>) -> String {
    format!(
        r#"
[sources.github]
kind = "github"
secrets = ["{SECRET}"]

[admin]
tokens = ["{TOKEN}"]

[targets.default]
url = "{url}"
api_key = "{key}"
timeout = "20s"

[worker]
retry_schedule = ["1s", "2s"]
busy_timeout = "3m"
lease = "30s"
follow_interval = "500ms"
follow_max_interval = "2s"
"#,
        url = zenml["ZENML_URL"],
        key = zenml["ZENML_API_KEY"],
    )
}

async fn create_rule(app: &TestApp, rule: Value) {
    let response = app
        .client
        .post(app.url("/api/v1/rules"))
        .bearer_auth(TOKEN)
        .json(&rule)
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    assert_eq!(status, 201, "{}", response.text().await.unwrap());
}

fn template_rule(zenml: &HashMap<String, String>, name: &str) -> Value {
    json!({
        "name": name,
        "events": ["push"],
        "target": "default",
        "template_id": zenml["ZENML_TEMPLATE_ID"],
        "run_config": {
            // ZenML fills {date} and {time}: names stay unique across test runs.
            "run_name": "zenhook-e2e-{{ event.branch }}-{date}-{time}",
            "steps": { "say_hello": { "parameters": { "name": "{{ event.repository }}" } } },
            "tags": ["zenhook-e2e", "{{ event.sender }}"]
        }
    })
}

async fn push(app: &TestApp, delivery: &str) -> String {
    let body = std::fs::read(common::fixture("github/push.json")).unwrap();
    let response = app
        .client
        .post(app.url("/hooks/github"))
        .header("Content-Type", "application/json")
        .header("X-GitHub-Event", "push")
        .header("X-GitHub-Delivery", delivery)
        .header("X-Hub-Signature-256", github_signature(SECRET, &body))
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 202);
    let answer: Value = response.json().await.unwrap();
    answer["delivery_id"].as_str().unwrap().to_owned()
}

/// The delivery's jobs once none is waiting or running any more.
async fn settled_jobs(app: &TestApp, delivery: &str, within: Duration) -> Vec<Value> {
    let deadline = tokio::time::Instant::now() + within;
    loop {
        let view: Value = app
            .client
            .get(app.url(&format!("/api/v1/deliveries/{delivery}")))
            .bearer_auth(TOKEN)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let jobs = view["jobs"].as_array().cloned().unwrap_or_default();
        let open = |j: &Value| {
            ["queued", "running", "retrying", "held"].contains(&j["status"].as_str().unwrap_or(""))
        };
        if !jobs.is_empty() && !jobs.iter().any(open) {
            return jobs;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "jobs still open: {jobs:#?}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_signed_push_starts_the_template_with_the_rendered_configuration() {
    let Some(zenml) = server("ZENHOOK_ZENML_ENV") else {
        return;
    };
    let _serial = SERIAL.lock().await;
    let app = spawn_app(Backend::Sqlite, &config(&zenml)).await.unwrap();
    create_rule(&app, template_rule(&zenml, "e2e-template")).await;
    let delivery = push(&app, &format!("e2e-{}", uuid::Uuid::new_v4())).await;
    let jobs = settled_jobs(&app, &delivery, Duration::from_secs(60)).await;
    assert_eq!(jobs.len(), 1);
    let job = &jobs[0];
    assert_eq!(job["status"], "succeeded", "{job:#}");
    let run_id = job["run_id"].as_str().unwrap();

    let zenml_reader = ZenmlReader::login(&zenml).await;
    let run = zenml_reader.get(&format!("/api/v1/runs/{run_id}")).await;
    let name = run["name"].as_str().unwrap();
    assert!(name.starts_with("zenhook-e2e-master-"), "{name}");
    assert_eq!(job["run_name"], name);
    let tags: Vec<&str> = run["resources"]["tags"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap())
        .collect();
    let job_tag = format!("zenhook-job-{}-1", job["id"].as_str().unwrap());
    for expected in ["zenhook-e2e", "github", job_tag.as_str()] {
        assert!(tags.contains(&expected), "{expected} not in {tags:?}");
    }
    // The step parameter rendered from the event reached the run's snapshot.
    let snapshot_id = run["resources"]["snapshot"]["id"].as_str().unwrap();
    let snapshot = zenml_reader
        .get(&format!("/api/v1/pipeline_snapshots/{snapshot_id}"))
        .await;
    assert_eq!(
        snapshot["metadata"]["step_configurations"]["say_hello"]["config"]["parameters"]["name"],
        "Codertocat/Hello-World"
    );
    assert_eq!(zenml_reader.runs_tagged(&job_tag).await, 1);

    // Stopping the run: ZenML answers (on this fake stack the run may not have reached
    // an orchestrator, which ZenML refuses with 403); the job records what it said.
    let job_id = job["id"].as_str().unwrap();
    let stop: Value = app
        .client
        .post(app.url(&format!("/api/v1/jobs/{job_id}/stop-run")))
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let outcome = stop["outcome"].as_str().unwrap();
    assert!(
        ["stop_requested", "stop_refused"].contains(&outcome),
        "{stop:#}"
    );
    if outcome == "stop_refused" {
        assert_eq!(stop["http_status"], 403, "{stop:#}");
        assert!(
            stop["message"]
                .as_str()
                .unwrap()
                .contains("IllegalOperationError")
                || stop["message"].as_str().unwrap().contains("orchestrator"),
            "{stop:#}"
        );
    }
    let shown = job_view(&app, job_id).await;
    let recorded = shown["attempts"]
        .as_array()
        .unwrap()
        .iter()
        .any(|a| a["outcome"] == outcome);
    assert!(recorded, "{shown:#}");
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_snapshot_rule_starts_the_snapshot() {
    let Some(zenml) = server("ZENHOOK_ZENML_ENV") else {
        return;
    };
    let _serial = SERIAL.lock().await;
    let app = spawn_app(Backend::Sqlite, &config(&zenml)).await.unwrap();
    let mut rule = template_rule(&zenml, "e2e-snapshot");
    rule.as_object_mut().unwrap().remove("template_id");
    rule["snapshot_id"] = zenml["ZENML_SNAPSHOT_ID"].clone().into();
    create_rule(&app, rule).await;
    let delivery = push(&app, &format!("e2e-{}", uuid::Uuid::new_v4())).await;
    let jobs = settled_jobs(&app, &delivery, Duration::from_secs(60)).await;
    assert_eq!(jobs[0]["status"], "succeeded", "{:#}", jobs[0]);
    let zenml_reader = ZenmlReader::login(&zenml).await;
    let job_tag = format!("zenhook-job-{}-1", jobs[0]["id"].as_str().unwrap());
    assert_eq!(zenml_reader.runs_tagged(&job_tag).await, 1);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_open_source_server_without_a_workload_manager_makes_the_job_dead() {
    let Some(zenml) = server("ZENHOOK_ZENML_OSS_ENV") else {
        return;
    };
    let _serial = SERIAL.lock().await;
    let app = spawn_app(Backend::Sqlite, &config(&zenml)).await.unwrap();
    create_rule(&app, template_rule(&zenml, "e2e-oss")).await;
    let delivery = push(&app, &format!("e2e-{}", uuid::Uuid::new_v4())).await;
    let jobs = settled_jobs(&app, &delivery, Duration::from_secs(60)).await;
    assert_eq!(jobs[0]["status"], "dead");
    let error = jobs[0]["last_error"].as_str().unwrap();
    assert!(error.contains("405"), "{error}");
    assert!(
        error.contains("this ZenML server cannot run templates"),
        "{error}"
    );
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_busy_server_is_waited_out_until_every_run_is_accepted() {
    let Some(zenml) = server("ZENHOOK_ZENML_BUSY_ENV") else {
        return;
    };
    let _serial = SERIAL.lock().await;
    let app = spawn_app(Backend::Sqlite, &config(&zenml)).await.unwrap();
    create_rule(&app, template_rule(&zenml, "e2e-busy")).await;
    // Two pushes at once on a server that runs one template run at a time: the second
    // meets 429 until the first run ends (it fails within seconds on the fake stack).
    let first = push(&app, &format!("e2e-{}", uuid::Uuid::new_v4())).await;
    let second = push(&app, &format!("e2e-{}", uuid::Uuid::new_v4())).await;
    let zenml_reader = ZenmlReader::login(&zenml).await;
    let mut busy_answers = 0;
    for delivery in [first, second] {
        let jobs = settled_jobs(&app, &delivery, Duration::from_secs(150)).await;
        assert_eq!(jobs[0]["status"], "succeeded", "{:#}", jobs[0]);
        let job_id = jobs[0]["id"].as_str().unwrap();
        let job_tag = format!("zenhook-job-{job_id}-1");
        assert_eq!(zenml_reader.runs_tagged(&job_tag).await, 1);
        let shown = job_view(&app, job_id).await;
        busy_answers += shown["attempts"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|a| a["http_status"] == 429)
            .count();
        // 429s wait; they do not use up attempts: only the accepted one counted.
        assert_eq!(shown["attempts_used"], 1, "{shown:#}");
    }
    assert!(
        busy_answers > 0,
        "the second trigger should have met 429 while the first ran"
    );
    app.stop().await;
}

/// The job's view from the admin API.
async fn job_view(app: &TestApp, id: &str) -> Value {
    app.client
        .get(app.url(&format!("/api/v1/jobs/{id}")))
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn runs_are_followed_to_their_end_and_free_their_slot() {
    let Some(zenml) = server("ZENHOOK_ZENML_ENV") else {
        return;
    };
    let _serial = SERIAL.lock().await;
    let app = spawn_app(Backend::Sqlite, &config(&zenml)).await.unwrap();
    let mut rule = template_rule(&zenml, "e2e-one-at-a-time");
    rule["concurrency"] = json!({ "max_running": 1, "key": "{{ event.repository }}" });
    create_rule(&app, rule).await;
    let first = push(&app, &format!("e2e-{}", uuid::Uuid::new_v4())).await;
    let second = push(&app, &format!("e2e-{}", uuid::Uuid::new_v4())).await;
    let first_job = settled_jobs(&app, &first, Duration::from_secs(60)).await[0].clone();
    let second_job = settled_jobs(&app, &second, Duration::from_secs(90)).await[0].clone();
    assert_eq!(first_job["status"], "succeeded");
    assert_eq!(second_job["status"], "succeeded");

    // The first run is followed until ZenML reports it ended (this fake stack fails it).
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    let first_id = first_job["id"].as_str().unwrap();
    let finished = loop {
        let view = job_view(&app, first_id).await;
        if view["run_terminal"] == 1 {
            break view;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "run never ended: {view:#}"
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
    };
    let status = finished["run_status"].as_str().unwrap();
    assert!(zenhook::worker::TERMINAL.contains(&status), "{finished:#}");
    let history: Value = serde_json::from_str(finished["run_history"].as_str().unwrap()).unwrap();
    assert!(!history.as_array().unwrap().is_empty(), "{history}");

    // The second waited for that slot: it was triggered only after the first run ended.
    let second_view = job_view(&app, second_job["id"].as_str().unwrap()).await;
    let ended_at = history.as_array().unwrap().last().unwrap()["at"]
        .as_i64()
        .unwrap();
    let first_attempt = second_view["attempts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["outcome"] == "succeeded")
        .expect("a succeeded attempt")
        .clone();
    let triggered =
        humantime::parse_rfc3339(first_attempt["started_at"].as_str().unwrap()).unwrap();
    let triggered_ms = triggered
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64;
    assert!(
        triggered_ms >= ended_at,
        "second triggered at {triggered_ms}, first ended at {ended_at}"
    );
    app.stop().await;
}

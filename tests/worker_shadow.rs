//! Webhook to job to (shadow) trigger, end to end on both backends, with no ZenML: the
//! newcomer's path. Also the operator endpoints and replays.

#[macro_use]
mod common;

use std::time::Duration;

use common::{github_signature, spawn_app, Backend, TestApp};
use serde_json::{json, Value};

const SECRET: &str = "shadow-secret";
const TOKEN: &str = "admin-token-for-tests";
const TEMPLATE: &str = "7b5a3f9e-0c4e-4a55-9e0d-2f7c1c3b8a10";

fn config() -> String {
    format!(
        r#"
[sources.github]
kind = "github"
secrets = ["{SECRET}"]

[admin]
tokens = ["{TOKEN}"]

[worker]
poll = "1h"
"#
    )
}

async fn admin(
    app: &TestApp,
    method: reqwest::Method,
    path: &str,
    body: Option<Value>,
) -> (u16, Value) {
    let mut request = app
        .client
        .request(method, app.url(&format!("/api/v1{path}")))
        .bearer_auth(TOKEN);
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request.send().await.expect("admin request");
    let status = response.status().as_u16();
    let body = response.json().await.unwrap_or(Value::Null);
    (status, body)
}

async fn create_rule(app: &TestApp, name: &str, branches: &[&str]) {
    let (status, body) = admin(
        app,
        reqwest::Method::POST,
        "/rules",
        Some(json!({
            "name": name,
            "events": ["push"],
            "branches": branches,
            "target": "default",
            "template_id": TEMPLATE,
            "run_config": {
                "run_name": "train-{{ event.branch }}-{{ event.after[:8] }}",
                "steps": { "trainer": { "parameters": { "commit": "{{ event.after }}" } } },
                "tags": ["webhook", "{{ event.repository }}"]
            }
        })),
    )
    .await;
    assert_eq!(status, 201, "{body}");
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

/// Polls the delivery until every job reaches a final status.
async fn settled_jobs(app: &TestApp, delivery: &str) -> Vec<Value> {
    for _ in 0..200 {
        let (_, view) = admin(
            app,
            reqwest::Method::GET,
            &format!("/deliveries/{delivery}"),
            None,
        )
        .await;
        let jobs = view["jobs"].as_array().cloned().unwrap_or_default();
        let settled = jobs.iter().all(|j| {
            !["queued", "running", "retrying"].contains(&j["status"].as_str().unwrap_or(""))
        });
        if !jobs.is_empty() && settled {
            return jobs;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("jobs of {delivery} did not settle");
}

both_backends!(
    a_push_becomes_a_shadowed_trigger,
    |app: TestApp| async move {
        create_rule(&app, "train-on-master", &["master"]).await;
        let delivery = push(&app, "shadow-1").await;
        // The worker's poll is an hour: only the in-process wake-up can start the job.
        let jobs = settled_jobs(&app, &delivery).await;
        assert_eq!(jobs.len(), 1);
        let job = &jobs[0];
        assert_eq!(job["status"], "shadowed");
        let request = &job["shadow_request"];
        assert_eq!(request["method"], "POST");
        let url = request["url"].as_str().unwrap();
        assert!(
            url.ends_with(&format!("/api/v1/run_templates/{TEMPLATE}/runs")),
            "{url}"
        );
        let sent = &request["body"];
        let fixture: Value =
            serde_json::from_slice(&std::fs::read(common::fixture("github/push.json")).unwrap())
                .unwrap();
        let after = fixture["after"].as_str().unwrap();
        assert_eq!(sent["run_name"], format!("train-master-{}", &after[..8]));
        assert_eq!(sent["steps"]["trainer"]["parameters"]["commit"], after);
        let tags: Vec<&str> = sent["tags"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t.as_str().unwrap())
            .collect();
        let job_tag = format!("zenhook-job-{}-1", job["id"].as_str().unwrap());
        assert_eq!(
            tags,
            vec!["webhook", "Codertocat/Hello-World", job_tag.as_str()]
        );

        // The job, with its attempt, through the jobs API.
        let (status, shown) = admin(
            &app,
            reqwest::Method::GET,
            &format!("/jobs/{}", job["id"].as_str().unwrap()),
            None,
        )
        .await;
        assert_eq!(status, 200);
        assert_eq!(shown["attempts"].as_array().unwrap().len(), 1);
        assert_eq!(shown["delivery"]["id"], delivery.as_str());
        let (_, listed) = admin(&app, reqwest::Method::GET, "/jobs?status=shadowed", None).await;
        assert_eq!(listed["items"].as_array().unwrap().len(), 1);
        app.stop().await;
    }
);

both_backends!(
    replay_routes_against_todays_rules,
    |app: TestApp| async move {
        create_rule(&app, "only-main", &["main"]).await;
        let delivery = push(&app, "replay-1").await;
        let (_, view) = admin(
            &app,
            reqwest::Method::GET,
            &format!("/deliveries/{delivery}"),
            None,
        )
        .await;
        assert_eq!(view["outcome"], "unmatched");
        assert_eq!(
            view["trace"][0]["reason"],
            "branches: \"master\" matches none of [main]"
        );

        create_rule(&app, "on-master", &["master"]).await;
        let (status, replay) = admin(
            &app,
            reqwest::Method::POST,
            &format!("/deliveries/{delivery}/replay"),
            None,
        )
        .await;
        assert_eq!(status, 200, "{replay}");
        assert_eq!(replay["newly_matched"], json!(["on-master"]));
        assert_eq!(replay["no_longer_matched"], json!([]));
        assert_eq!(replay["jobs"].as_array().unwrap().len(), 1);
        assert_eq!(replay["jobs"][0]["generation"], 1);
        // Replaying again makes the next generation, never a second job of the same one.
        let (_, again) = admin(
            &app,
            reqwest::Method::POST,
            &format!("/deliveries/{delivery}/replay"),
            None,
        )
        .await;
        assert_eq!(again["jobs"][0]["generation"], 2);
        let jobs = settled_jobs(&app, &delivery).await;
        assert_eq!(jobs.len(), 2);
        assert!(jobs.iter().all(|j| j["status"] == "shadowed"));
        app.stop().await;
    }
);

both_backends!(
    cancel_and_retry_follow_the_status_rules,
    |app: TestApp| async move {
        let (status, body) = admin(&app, reqwest::Method::POST, "/jobs/nope/cancel", None).await;
        assert_eq!(status, 404, "{body}");
        create_rule(&app, "on-master", &["master"]).await;
        let delivery = push(&app, "ops-1").await;
        let jobs = settled_jobs(&app, &delivery).await;
        let id = jobs[0]["id"].as_str().unwrap();
        // Shadowed: neither cancellable (it was "sent") nor retryable (not dead).
        let (status, body) = admin(
            &app,
            reqwest::Method::POST,
            &format!("/jobs/{id}/cancel"),
            None,
        )
        .await;
        assert_eq!(status, 409, "{body}");
        assert_eq!(body["error"]["code"], "conflict");
        let (status, _) = admin(
            &app,
            reqwest::Method::POST,
            &format!("/jobs/{id}/retry"),
            None,
        )
        .await;
        assert_eq!(status, 409);
        let (status, body) = admin(&app, reqwest::Method::GET, "/jobs?status=bogus", None).await;
        assert_eq!(status, 400, "{body}");
        app.stop().await;
    }
);

/// Two processes on one Postgres: intake on one, the worker on the other, with the
/// worker's poll at an hour. Only LISTEN/NOTIFY can tell the worker of the new job.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_from_one_replica_wakes_the_worker_of_another() {
    let Some(db) = common::TestDb::new(Backend::Postgres).await else {
        return;
    };
    let options = |role| zenhook::RunOptions {
        role,
        ..Default::default()
    };
    let worker =
        common::spawn_app_with(db.shared(), &config(), options(zenhook::Role::Worker)).await;
    let api = common::spawn_app_with(db, &config(), options(zenhook::Role::Api)).await;
    create_rule(&api, "train-on-master", &["master"]).await;
    // Give the worker's listener a moment to subscribe before the notification.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let delivery = push(&api, "across-replicas-1").await;
    let jobs = settled_jobs(&api, &delivery).await;
    assert_eq!(jobs[0]["status"], "shadowed");
    api.stop().await;
    worker.stop().await;
}

#[tokio::test]
async fn a_split_role_on_sqlite_is_refused() {
    let db = common::TestDb::new(Backend::Sqlite).await.unwrap();
    let settings = zenhook::config::Settings::load_with_env(
        None,
        vec![("ZENHOOK__DATABASE__URL".to_owned(), db.url.clone())],
    )
    .unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let options = zenhook::RunOptions {
        role: zenhook::Role::Worker,
        ..Default::default()
    };
    let error = zenhook::run_with(settings, options, listener, Default::default())
        .await
        .expect_err("SQLite is owned by one process");
    assert!(error.to_string().contains("needs Postgres"), "{error}");
}

//! Operations: scoped admin tokens, the audit log, live reload, retention.

mod common;

use std::time::Duration;

use common::{github_signature, spawn_app, spawn_app_with, Backend, TestApp, TestDb};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use zenhook::clock::ManualClock;

const READ: &str = "read-token";
const WRITE: &str = "write-token";
const ADMIN: &str = "admin-token";
const TEMPLATE: &str = "7b5a3f9e-0c4e-4a55-9e0d-2f7c1c3b8a10";

fn config(secrets: &[&str]) -> String {
    let secrets: Vec<String> = secrets.iter().map(|s| format!("\"{s}\"")).collect();
    format!(
        r#"
[sources.github]
kind = "github"
secrets = [{secrets}]

[admin]
tokens = [
  {{ name = "ci", token = "{READ}", scope = "read" }},
  {{ name = "deployer", token = "{WRITE}", scope = "write" }},
  {{ name = "ops", sha256 = "{ops}", scope = "admin" }},
]
"#,
        secrets = secrets.join(", "),
        ops = hex::encode(Sha256::digest(ADMIN.as_bytes())),
    )
}

async fn call(
    app: &TestApp,
    token: Option<&str>,
    method: &str,
    path: &str,
    body: Option<Value>,
) -> (u16, Value) {
    let mut request = app
        .client
        .request(method.parse().unwrap(), app.url(&format!("/api/v1{path}")));
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

fn rule(name: &str) -> Value {
    json!({ "name": name, "events": ["push"], "target": "default", "template_id": TEMPLATE })
}

async fn push(app: &TestApp, secret: &str, delivery: &str) -> u16 {
    let body = std::fs::read(common::fixture("github/push.json")).unwrap();
    app.client
        .post(app.url("/hooks/github"))
        .header("X-GitHub-Event", "push")
        .header("X-GitHub-Delivery", delivery)
        .header("X-Hub-Signature-256", github_signature(secret, &body))
        .body(body)
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

/// (token, method, path, body, expected status)
type Case = (
    Option<&'static str>,
    &'static str,
    &'static str,
    Option<Value>,
    u16,
);

#[tokio::test]
async fn scopes_decide_what_a_token_may_do() {
    let app = spawn_app(Backend::Sqlite, &config(&["s"])).await.unwrap();
    let table: Vec<Case> = vec![
        (None, "GET", "/rules", None, 401),
        (Some("wrong"), "GET", "/rules", None, 401),
        (Some(READ), "GET", "/rules", None, 200),
        (Some(READ), "GET", "/audit", None, 200),
        (
            Some(READ),
            "POST",
            "/rules/test",
            Some(json!({"source": "github", "payload": {}})),
            200,
        ),
        (Some(READ), "POST", "/rules", Some(rule("by-reader")), 403),
        (Some(WRITE), "POST", "/rules", Some(rule("by-writer")), 201),
        (Some(WRITE), "POST", "/admin/reload", None, 403),
        (Some(WRITE), "POST", "/admin/prune?dry_run=true", None, 403),
        (Some(ADMIN), "POST", "/admin/prune?dry_run=true", None, 200),
        (Some(ADMIN), "POST", "/admin/reload", None, 200),
        (Some(ADMIN), "DELETE", "/rules/by-writer", None, 204),
    ];
    for (token, method, path, body, expected) in table {
        let (status, answer) = call(&app, token, method, path, body).await;
        assert_eq!(status, expected, "{token:?} {method} {path}: {answer}");
        if expected == 403 {
            assert_eq!(answer["error"]["code"], "forbidden");
        }
    }
    app.stop().await;
}

#[tokio::test]
async fn the_audit_log_keeps_a_rules_apply_that_deletes_a_rule() {
    let app = spawn_app(Backend::Sqlite, &config(&["s"])).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("rules.yaml");
    let apply = |yaml: String| {
        std::fs::write(&file, yaml).unwrap();
        // The CLI runs while this test's runtime serves the requests it makes.
        tokio::process::Command::new(env!("CARGO_BIN_EXE_zenhook"))
            .args(["rules", "apply"])
            .arg(&file)
            .args(["--url", &app.url(""), "--token", WRITE])
            .output()
    };
    let keep =
        format!("- name: keep\n  events: [push]\n  target: default\n  template_id: {TEMPLATE}\n");
    let doomed = format!(
        "- name: doomed\n  events: [pull_request]\n  target: default\n  template_id: {TEMPLATE}\n"
    );
    for yaml in [format!("{keep}{doomed}"), keep.clone()] {
        let output = apply(yaml).await.unwrap();
        assert!(
            output.status.success(),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
    }

    let (status, log) = call(&app, Some(READ), "GET", "/audit", None).await;
    assert_eq!(status, 200);
    let items = log["items"].as_array().unwrap();
    let deletion = items
        .iter()
        .find(|e| e["action"] == "rule.delete (via rules apply)")
        .unwrap_or_else(|| panic!("no deletion in {log:#}"));
    assert_eq!(deletion["token"], "deployer");
    assert_eq!(deletion["target"], "doomed");
    assert_eq!(deletion["status"], 204);
    assert_eq!(deletion["before"]["events"], json!(["pull_request"]));
    assert!(deletion["after"].is_null());
    let creations = items
        .iter()
        .filter(|e| e["action"] == "rule.create (via rules apply)")
        .count();
    assert_eq!(creations, 2);
    // Reads are not changes.
    assert!(items
        .iter()
        .all(|e| e["action"].as_str().unwrap().starts_with("rule.")));
    app.stop().await;
}

#[tokio::test]
async fn a_rotated_secret_reloads_without_refusing_a_request() {
    let app = spawn_app(Backend::Sqlite, &config(&["old-secret"]))
        .await
        .unwrap();
    let path = app.config_path();
    // A sender keeps posting throughout, first with the old secret, then the new.
    let current = std::sync::Arc::new(std::sync::Mutex::new("old-secret".to_string()));
    let stop = tokio_util::sync::CancellationToken::new();
    let sender = {
        let (client, url, current, stop) = (
            app.client.clone(),
            app.url("/hooks/github"),
            current.clone(),
            stop.clone(),
        );
        tokio::spawn(async move {
            let body = std::fs::read(common::fixture("github/push.json")).unwrap();
            let mut answers = Vec::new();
            let mut n = 0;
            while !stop.is_cancelled() {
                n += 1;
                let secret = current.lock().unwrap().clone();
                let status = client
                    .post(&url)
                    .header("X-GitHub-Event", "push")
                    .header("X-GitHub-Delivery", format!("rot-{n}"))
                    .header("X-Hub-Signature-256", github_signature(&secret, &body))
                    .body(body.clone())
                    .send()
                    .await
                    .unwrap()
                    .status()
                    .as_u16();
                answers.push(status);
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
            answers
        })
    };
    tokio::time::sleep(Duration::from_millis(100)).await;
    // 1. Add the new secret and reload.
    std::fs::write(&path, config(&["old-secret", "new-secret"])).unwrap();
    let (status, report) = call(&app, Some(ADMIN), "POST", "/admin/reload", None).await;
    assert_eq!(status, 200, "{report}");
    tokio::time::sleep(Duration::from_millis(100)).await;
    // 2. Switch the sender.
    *current.lock().unwrap() = "new-secret".into();
    tokio::time::sleep(Duration::from_millis(100)).await;
    // 3. Remove the old secret and reload.
    std::fs::write(&path, config(&["new-secret"])).unwrap();
    let (status, _) = call(&app, Some(ADMIN), "POST", "/admin/reload", None).await;
    assert_eq!(status, 200);
    tokio::time::sleep(Duration::from_millis(100)).await;
    stop.cancel();
    let answers = sender.await.unwrap();
    assert!(
        answers.len() > 10,
        "the sender kept sending: {}",
        answers.len()
    );
    assert!(
        answers.iter().all(|s| *s == 202),
        "a request was refused during the switch: {answers:?}"
    );
    // The old secret is gone now.
    assert_eq!(push(&app, "old-secret", "after-1").await, 401);
    assert_eq!(push(&app, "new-secret", "after-2").await, 202);

    // An invalid file changes nothing and says why.
    std::fs::write(&path, "[sources.github]\nkind = \"github\"\nsecrets = []\n").unwrap();
    let (status, answer) = call(&app, Some(ADMIN), "POST", "/admin/reload", None).await;
    assert_eq!(status, 400);
    let message = answer["error"]["message"].as_str().unwrap();
    assert!(message.contains("sources.github.secrets"), "{message}");
    assert_eq!(
        push(&app, "new-secret", "after-3").await,
        202,
        "the old configuration still serves"
    );
    // A reload that would orphan a stored rule's source is refused too.
    let (status, _) = call(&app, Some(WRITE), "POST", "/rules", Some(json!({
        "name": "github-only", "sources": ["github"], "target": "default", "template_id": TEMPLATE
    }))).await;
    assert_eq!(status, 201);
    std::fs::write(
        &path,
        config(&["new-secret"]).replace("[sources.github]", "[sources.gh]"),
    )
    .unwrap();
    let (status, answer) = call(&app, Some(ADMIN), "POST", "/admin/reload", None).await;
    assert_eq!(status, 400, "{answer}");
    assert!(answer["error"]["message"]
        .as_str()
        .unwrap()
        .contains("github-only"));
    assert_eq!(push(&app, "new-secret", "after-4").await, 202);
    app.stop().await;
}

#[tokio::test]
async fn retention_keeps_dedupe_keys_and_unfinished_jobs() {
    let clock = ManualClock::new();
    let options = zenhook::RunOptions {
        clock: clock.clone(),
        ..Default::default()
    };
    // A target nobody answers: its job stays unfinished (retrying) for days.
    let config = format!(
        "{}\n[targets.default]\nurl = \"http://127.0.0.1:9\"\napi_key = \"ZENKEY_x\"\ntimeout = \"1s\"\n\
         [worker]\nretry_schedule = [\"30d\"]\npoll = \"1h\"\n",
        config(&["s"])
    );
    let db = TestDb::new(Backend::Sqlite).await.unwrap();
    let app = spawn_app_with(db, &config, options).await;
    assert_eq!(push(&app, "s", "old-plain").await, 202);
    let (status, _) = call(&app, Some(WRITE), "POST", "/rules", Some(rule("on-push"))).await;
    assert_eq!(status, 201);
    assert_eq!(push(&app, "s", "old-with-job").await, 202);
    // Let the worker fail its first attempt: the job waits 15-30 days to retry.
    tokio::time::sleep(Duration::from_millis(1500)).await;

    // 31 days later: bodies go, rows stay (dedupe keys), the unfinished job's delivery stays whole.
    clock.advance(Duration::from_secs(31 * 86_400));
    let (status, dry) = call(&app, Some(ADMIN), "POST", "/admin/prune?dry_run=true", None).await;
    assert_eq!(status, 200);
    assert_eq!(dry["report"]["bodies"], 1, "{dry}");
    let (_, done) = call(&app, Some(ADMIN), "POST", "/admin/prune", None).await;
    assert_eq!(
        done["report"],
        json!({ "bodies": 1, "deliveries": 0, "jobs": 0 })
    );
    // A manual redelivery after its body is gone is still a duplicate.
    assert_eq!(push(&app, "s", "old-plain").await, 200);
    let (_, list) = call(&app, Some(READ), "GET", "/deliveries?limit=10", None).await;
    let sizes: Vec<(String, u64)> = list["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| {
            (
                d["sender_delivery_id"].as_str().unwrap().to_owned(),
                d["body_bytes"].as_u64().unwrap(),
            )
        })
        .collect();
    assert!(sizes.contains(&("old-plain".into(), 0)), "{sizes:?}");
    assert!(
        sizes
            .iter()
            .any(|(id, size)| id == "old-with-job" && *size > 0),
        "{sizes:?}"
    );

    // 91 days later: the settled delivery goes whole; the one with the unfinished job stays.
    clock.advance(Duration::from_secs(60 * 86_400));
    let (_, done) = call(&app, Some(ADMIN), "POST", "/admin/prune", None).await;
    assert_eq!(done["report"]["deliveries"], 1, "{done}");
    let (_, list) = call(&app, Some(READ), "GET", "/deliveries?limit=10", None).await;
    let left: Vec<&str> = list["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["sender_delivery_id"].as_str().unwrap())
        .collect();
    assert_eq!(left, vec!["old-with-job"]);
    app.stop().await;
}

//! The admin API end to end on a real socket, against SQLite and against Postgres:
//! rules CRUD and validation, deliveries with their traces and jobs, dry runs,
//! backtests, the OpenAPI document, and rule changes reaching a second replica.

#[macro_use]
mod common;

use std::collections::BTreeSet;
use std::time::Duration;

use common::{github_signature, spawn_app, spawn_app_on, Backend, TestApp, TestDb};
use reqwest::Method;
use serde_json::{json, Value};

const SECRET: &str = "It's a Secret to Everybody";
const TOKEN: &str = "admin-token-1";
const TEMPLATE: &str = "7b5a4c1e-0000-4000-8000-000000000001";
const SCHEDULER_SECRET: &str = "scheduler-secret";

fn config() -> String {
    format!(
        r#"
[admin]
tokens = ["{TOKEN}", "admin-token-2"]

[sources.github]
kind = "github"
secrets = ["{SECRET}"]

[sources.scheduler]
kind = "hmac"
secrets = ["{SCHEDULER_SECRET}"]
header = "X-Signature"
event = {{ json_path = "$.type" }}
"#
    )
}

/// An admin API call with the token; answers the status and the JSON body (Null when
/// there is none).
async fn call(app: &TestApp, method: Method, path: &str, body: Option<Value>) -> (u16, Value) {
    let mut request = app
        .client
        .request(method, app.url(&format!("/api/v1{path}")))
        .bearer_auth(TOKEN);
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request.send().await.expect("request");
    let status = response.status().as_u16();
    let text = response.text().await.expect("body");
    let body = if text.is_empty() {
        Value::Null
    } else {
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("not JSON ({e}): {text}"))
    };
    (status, body)
}

async fn get(app: &TestApp, path: &str) -> Value {
    let (status, body) = call(app, Method::GET, path, None).await;
    assert_eq!(status, 200, "GET {path}: {body}");
    body
}

async fn create_rule(app: &TestApp, rule: Value) -> Value {
    let (status, body) = call(app, Method::POST, "/rules", Some(rule)).await;
    assert_eq!(status, 201, "{body}");
    body
}

fn rule(name: &str, extra: Value) -> Value {
    let mut rule = json!({ "name": name, "target": "default", "template_id": TEMPLATE });
    if let (Some(rule), Some(extra)) = (rule.as_object_mut(), extra.as_object()) {
        rule.extend(extra.clone());
    }
    rule
}

fn push_body() -> Vec<u8> {
    std::fs::read(common::fixture("github/push.json")).expect("fixture")
}

fn push_payload() -> Value {
    serde_json::from_slice(&push_body()).expect("fixture is JSON")
}

/// Sends a signed GitHub delivery; answers the stored delivery's id.
async fn post_github(app: &TestApp, event: &str, delivery: &str, body: &[u8]) -> String {
    let response = app
        .client
        .post(app.url("/hooks/github"))
        .header("Content-Type", "application/json")
        .header("X-GitHub-Event", event)
        .header("X-GitHub-Delivery", delivery)
        .header("X-Hub-Signature-256", github_signature(SECRET, body))
        .body(body.to_vec())
        .send()
        .await
        .expect("request");
    assert!(response.status().is_success(), "{}", response.status());
    let answer: Value = response.json().await.expect("json");
    answer["delivery_id"]
        .as_str()
        .expect("delivery id")
        .to_owned()
}

async fn post_push(app: &TestApp, delivery: &str) -> String {
    post_github(app, "push", delivery, &push_body()).await
}

async fn post_tick(app: &TestApp) -> String {
    use hmac::Mac;
    let body = br#"{"type": "tick"}"#;
    let mut mac =
        hmac::Hmac::<sha2::Sha256>::new_from_slice(SCHEDULER_SECRET.as_bytes()).expect("key");
    mac.update(body);
    let response = app
        .client
        .post(app.url("/hooks/scheduler"))
        .header("X-Signature", hex::encode(mac.finalize().into_bytes()))
        .body(body.to_vec())
        .send()
        .await
        .expect("request");
    assert_eq!(response.status().as_u16(), 202);
    let answer: Value = response.json().await.expect("json");
    answer["delivery_id"]
        .as_str()
        .expect("delivery id")
        .to_owned()
}

fn assert_invalid_rule(status: u16, body: &Value, field: &str, says: &str) {
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["error"]["code"], "invalid_rule", "{body}");
    assert_eq!(body["error"]["field"], field, "{body}");
    let message = body["error"]["message"].as_str().expect("message");
    assert!(message.contains(says), "{message:?} should say {says:?}");
}

fn names(list: &Value) -> Vec<String> {
    list["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|item| item["name"].as_str().expect("name").to_owned())
        .collect()
}

both_backends!(rules_crud, |app: TestApp| async move {
    let created = create_rule(&app, rule("b-train", json!({ "branches": ["main"] }))).await;
    assert_eq!(created["name"], "b-train");
    assert_eq!(created["version"], 1);
    assert_eq!(created["spec"]["branches"], json!(["main"]));
    let id = created["id"].as_str().expect("id").to_owned();

    let by_id = get(&app, &format!("/rules/{id}")).await;
    let by_name = get(&app, "/rules/b-train").await;
    assert_eq!(by_id, created);
    assert_eq!(by_name, created);

    create_rule(&app, rule("c-eval", json!({}))).await;
    create_rule(&app, rule("a-lint", json!({}))).await;

    // Three rules, pages of two, by name.
    let first = get(&app, "/rules?limit=2").await;
    assert_eq!(names(&first), ["a-lint", "b-train"]);
    let cursor = first["next_cursor"].as_str().expect("a next page");
    let second = get(&app, &format!("/rules?limit=2&cursor={cursor}")).await;
    assert_eq!(names(&second), ["c-eval"]);
    assert_eq!(second["next_cursor"], Value::Null);
    assert_eq!(names(&get(&app, "/rules").await).len(), 3);

    // PUT replaces the text and bumps the version.
    let (status, replaced) = call(
        &app,
        Method::PUT,
        "/rules/b-train",
        Some(rule(
            "b-train",
            json!({ "branches": ["main", "release/*"] }),
        )),
    )
    .await;
    assert_eq!(status, 200, "{replaced}");
    assert_eq!(replaced["id"], id.as_str());
    assert_eq!(replaced["version"], 2);
    assert_eq!(replaced["spec"]["branches"], json!(["main", "release/*"]));
    assert_eq!(get(&app, &format!("/rules/{id}")).await["version"], 2);

    // Names are unique, on create and on rename.
    let (status, body) = call(
        &app,
        Method::POST,
        "/rules",
        Some(rule("c-eval", json!({}))),
    )
    .await;
    assert_eq!(status, 409, "{body}");
    assert_eq!(body["error"]["code"], "conflict");
    let (status, body) = call(
        &app,
        Method::PUT,
        &format!("/rules/{id}"),
        Some(rule("a-lint", json!({}))),
    )
    .await;
    assert_eq!(status, 409, "{body}");

    // Delete: 204, then gone.
    let (status, body) = call(&app, Method::DELETE, &format!("/rules/{id}"), None).await;
    assert_eq!(status, 204, "{body}");
    let (status, body) = call(&app, Method::GET, &format!("/rules/{id}"), None).await;
    assert_eq!(status, 404, "{body}");
    assert_eq!(body["error"]["code"], "not_found");
    let (status, _) = call(&app, Method::GET, "/rules/b-train", None).await;
    assert_eq!(status, 404);
    let (status, _) = call(&app, Method::DELETE, "/rules/b-train", None).await;
    assert_eq!(status, 404);
    assert_eq!(names(&get(&app, "/rules").await), ["a-lint", "c-eval"]);
    app.stop().await;
});

both_backends!(invalid_rules_name_their_field, |app: TestApp| async move {
    let cases = [
        (
            rule("x", json!({ "colour": "red" })),
            "colour",
            "unknown field",
        ),
        (
            rule("x", json!({ "branches": ["[a"] })),
            "branches[0]",
            "invalid glob",
        ),
        (
            rule(
                "x",
                json!({ "snapshot_id": "7b5a4c1e-0000-4000-8000-000000000002" }),
            ),
            "template_id",
            "not both",
        ),
        (
            json!({ "name": "x", "target": "default" }),
            "template_id",
            "exactly one",
        ),
        (
            rule("x", json!({ "target": "staging" })),
            "target",
            "unknown target \"staging\" (known: default)",
        ),
        (
            rule("x", json!({ "sources": ["gitlab"] })),
            "sources[0]",
            "unknown source",
        ),
        (
            rule(
                "x",
                json!({ "branches": ["main"], "branches_ignore": ["wip"] }),
            ),
            "branches",
            "cannot both be set",
        ),
        (
            rule("x", json!({ "when": [{ "path": "$.a", "matches": "(" }] })),
            "when[0].matches",
            "invalid regex",
        ),
        (
            rule("x", json!({ "when": [{ "path": "$[", "equals": 1 }] })),
            "when[0].path",
            "invalid JSONPath",
        ),
        (
            rule(
                "x",
                json!({ "run_config": { "run_name": "{{ event.after " } }),
            ),
            "run_config.run_name",
            "invalid template",
        ),
        (
            json!({ "target": "default", "template_id": TEMPLATE }),
            "name",
            "missing field",
        ),
        // `/rules/test` and `/rules/backtest` are other endpoints: a rule so named
        // could never be read, replaced or deleted by name.
        (rule("test", json!({})), "name", "reserved"),
        (rule("backtest", json!({})), "name", "reserved"),
    ];
    for (bad, field, says) in cases {
        let (status, body) = call(&app, Method::POST, "/rules", Some(bad.clone())).await;
        assert_invalid_rule(status, &body, field, says);
        // A replacement is validated the same way.
        let (status, body) = call(&app, Method::PUT, "/rules/x", Some(bad)).await;
        assert!(status == 400 || status == 404, "{status} {body}");
    }

    // GitHub's dashed spelling is an alias, stored under the schema's name.
    let aliased = create_rule(
        &app,
        rule("dashed", json!({ "branches-ignore": ["wip/**"] })),
    )
    .await;
    assert_eq!(aliased["spec"]["branches_ignore"], json!(["wip/**"]));
    // Validation of a replacement, on an existing rule.
    let (status, body) = call(
        &app,
        Method::PUT,
        "/rules/dashed",
        Some(rule("dashed", json!({ "tags": ["v[1"] }))),
    )
    .await;
    assert_invalid_rule(status, &body, "tags[0]", "invalid glob");
    assert_eq!(get(&app, "/rules/dashed").await["version"], 1);

    // None of the refused rules was stored.
    assert_eq!(names(&get(&app, "/rules").await), ["dashed"]);
    app.stop().await;
});

both_backends!(tokens_are_required, |app: TestApp| async move {
    for path in [
        "/api/v1/rules",
        "/api/v1/deliveries",
        "/api/v1/openapi.json",
    ] {
        let anonymous = app.client.get(app.url(path)).send().await.unwrap();
        assert_eq!(anonymous.status().as_u16(), 401, "{path}");
        let body: Value = anonymous.json().await.unwrap();
        assert_eq!(body["error"]["code"], "unauthorized");
        for wrong in [
            "Bearer wrong",
            "Bearer admin-token-",
            "admin-token-1",
            "Basic YTpi",
        ] {
            let response = app
                .client
                .get(app.url(path))
                .header("Authorization", wrong)
                .send()
                .await
                .unwrap();
            assert_eq!(response.status().as_u16(), 401, "{path} with {wrong:?}");
        }
        // Either configured token is accepted.
        for token in [TOKEN, "admin-token-2"] {
            let response = app
                .client
                .get(app.url(path))
                .bearer_auth(token)
                .send()
                .await
                .unwrap();
            assert_eq!(response.status().as_u16(), 200, "{path}");
        }
    }
    // Writes too.
    let response = app
        .client
        .post(app.url("/api/v1/rules"))
        .json(&rule("sneaky", json!({})))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 401);
    assert_eq!(names(&get(&app, "/rules").await), Vec::<String>::new());
    app.stop().await;
});

both_backends!(
    a_new_rule_routes_the_next_delivery,
    |app: TestApp| async move {
        let created = create_rule(
            &app,
            rule(
                "train-on-master",
                json!({
                    "events": ["push"],
                    "branches": ["master"],
                    "run_config": {
                        "run_name": "train-{{ event.branch }}-{{ event.after[:8] }}",
                        "steps": { "trainer": { "parameters": { "commit": "{{ event.after }}" } } },
                        "pusher": "{{ payload.pusher.name }}",
                        "forced": "{{ payload.forced }}"
                    }
                }),
            ),
        )
        .await;
        let id = post_push(&app, "route-1").await;

        let delivery = get(&app, &format!("/deliveries/{id}")).await;
        assert_eq!(delivery["id"], id.as_str());
        assert_eq!(delivery["source"], "github");
        assert_eq!(delivery["event"], "push");
        assert_eq!(delivery["outcome"], "matched");
        assert_eq!(delivery["normalised"]["branch"], "master");
        assert_eq!(
            delivery["normalised"]["repository"],
            "Codertocat/Hello-World"
        );
        assert_eq!(delivery["payload"]["ref"], "refs/heads/master");
        assert_eq!(delivery["headers"]["x-github-event"], "push");

        let trace = delivery["trace"].as_array().expect("trace");
        assert_eq!(trace.len(), 1);
        assert_eq!(trace[0]["rule"], "train-on-master");
        assert_eq!(trace[0]["rule_id"], created["id"]);
        assert_eq!(trace[0]["outcome"], "matched");

        let jobs = delivery["jobs"].as_array().expect("jobs");
        assert_eq!(jobs.len(), 1);
        let job = &jobs[0];
        assert_eq!(job["rule_id"], created["id"]);
        assert_eq!(job["rule_version"], 1);
        assert_eq!(job["target"], "default");
        assert_eq!(job["target_kind"], "template");
        assert_eq!(job["target_id"], TEMPLATE);
        assert_eq!(
            job["run_config"],
            json!({
                "run_name": "train-master-6113728f",
                "steps": { "trainer": { "parameters": {
                    "commit": "6113728f27ae82c7b1a177c8d03f9e96e0adf246" } } },
                "pusher": push_payload()["pusher"]["name"],
                "forced": false,
            })
        );

        let (status, body) = call(&app, Method::GET, "/deliveries/not-a-uuid", None).await;
        assert_eq!(status, 404, "{body}");
        let missing = uuid::Uuid::new_v4();
        let (status, _) = call(&app, Method::GET, &format!("/deliveries/{missing}"), None).await;
        assert_eq!(status, 404);
        app.stop().await;
    }
);

both_backends!(an_unmatched_delivery_says_why, |app: TestApp| async move {
    create_rule(&app, rule("train-on-main", json!({ "branches": ["main"] }))).await;
    create_rule(
        &app,
        rule("only-releases", json!({ "events": ["release"] })),
    )
    .await;
    create_rule(&app, rule("switched-off", json!({ "enabled": false }))).await;
    let id = post_push(&app, "miss-1").await;
    let delivery = get(&app, &format!("/deliveries/{id}")).await;
    assert_eq!(delivery["outcome"], "unmatched");
    assert_eq!(delivery["jobs"], json!([]));
    let trace = delivery["trace"].as_array().expect("trace");
    let entry = |name: &str| {
        trace
            .iter()
            .find(|e| e["rule"] == name)
            .unwrap_or_else(|| panic!("{name} in {trace:?}"))
            .clone()
    };
    let main = entry("train-on-main");
    assert_eq!(main["outcome"], "rejected");
    assert_eq!(main["filter"], "branches");
    assert_eq!(
        main["reason"],
        "branches: \"master\" matches none of [main]"
    );
    let releases = entry("only-releases");
    assert_eq!(releases["filter"], "events");
    assert!(
        releases["reason"]
            .as_str()
            .unwrap()
            .starts_with("events: \"push\""),
        "{releases}"
    );
    assert_eq!(entry("switched-off")["outcome"], "disabled");
    app.stop().await;
});

both_backends!(deliveries_filter_and_page, |app: TestApp| async move {
    create_rule(&app, rule("pushes", json!({ "events": ["push"] }))).await;
    let mut pushes = Vec::new();
    for n in 0..3 {
        pushes.push(post_push(&app, &format!("list-{n}")).await);
    }
    let ping_body = std::fs::read(common::fixture("github/ping.json")).unwrap();
    let ping = post_github(&app, "ping", "list-ping", &ping_body).await;
    let tick = post_tick(&app).await;

    let ids = |list: &Value| -> Vec<String> {
        list["items"]
            .as_array()
            .expect("items")
            .iter()
            .map(|d| d["id"].as_str().expect("id").to_owned())
            .collect()
    };
    // Newest first.
    let all = get(&app, "/deliveries").await;
    let mut expected: Vec<String> = pushes.clone();
    expected.extend([ping.clone(), tick.clone()]);
    expected.reverse();
    assert_eq!(ids(&all), expected);
    assert_eq!(all["next_cursor"], Value::Null);

    let set = |list: &Value| ids(list).into_iter().collect::<BTreeSet<_>>();
    let of = |items: &[&String]| items.iter().map(|s| (*s).clone()).collect::<BTreeSet<_>>();
    let github = get(&app, "/deliveries?source=github").await;
    assert_eq!(set(&github).len(), 4);
    assert!(!set(&github).contains(&tick));
    assert_eq!(
        set(&get(&app, "/deliveries?source=scheduler").await),
        of(&[&tick])
    );
    assert_eq!(
        set(&get(&app, "/deliveries?event=push").await),
        pushes.iter().cloned().collect()
    );
    assert_eq!(
        set(&get(&app, "/deliveries?event=ping").await),
        of(&[&ping])
    );
    assert_eq!(
        set(&get(&app, "/deliveries?outcome=matched").await),
        pushes.iter().cloned().collect()
    );
    assert_eq!(
        set(&get(&app, "/deliveries?outcome=pong").await),
        of(&[&ping])
    );
    assert_eq!(
        set(&get(&app, "/deliveries?outcome=unmatched&source=scheduler").await),
        of(&[&tick])
    );
    assert_eq!(
        set(&get(
            &app,
            "/deliveries?source=github&event=push&outcome=unmatched"
        )
        .await),
        BTreeSet::new()
    );

    // Time window.
    assert_eq!(
        ids(&get(&app, "/deliveries?since=2999-01-01T00:00:00Z").await).len(),
        0
    );
    assert_eq!(
        ids(&get(
            &app,
            "/deliveries?until=2999-01-01T00:00:00Z&since=2000-01-01T00:00:00Z"
        )
        .await)
        .len(),
        5
    );
    let (status, body) = call(&app, Method::GET, "/deliveries?since=yesterday", None).await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["error"]["code"], "invalid_request");
    let (status, _) = call(&app, Method::GET, "/deliveries?colour=red", None).await;
    assert_eq!(status, 400);

    // Pages of two: 2 + 2 + 1, no overlap, same order as one page.
    let mut paged = Vec::new();
    let mut path = "/deliveries?limit=2".to_owned();
    for expected_len in [2, 2, 1] {
        let page = get(&app, &path).await;
        assert_eq!(ids(&page).len(), expected_len, "{page}");
        paged.extend(ids(&page));
        match page["next_cursor"].as_str() {
            Some(cursor) => path = format!("/deliveries?limit=2&cursor={cursor}"),
            None => assert_eq!(expected_len, 1),
        }
    }
    assert_eq!(paged, expected);
    app.stop().await;
});

both_backends!(dry_runs_create_nothing, |app: TestApp| async move {
    create_rule(
        &app,
        rule(
            "train-on-master",
            json!({ "branches": ["master"], "run_config": { "run_name": "train-{{ event.branch }}" } }),
        ),
    )
    .await;
    create_rule(&app, rule("train-on-main", json!({ "branches": ["main"] }))).await;
    let store = app.store().await;
    let stored = post_push(&app, "dry-1").await;
    assert_eq!(store.count_deliveries().await.unwrap(), 1);

    let check = |answer: &Value| {
        assert_eq!(answer["source"], "github");
        assert_eq!(answer["event"]["kind"], "push");
        assert_eq!(answer["event"]["branch"], "master");
        let trace = answer["trace"].as_array().expect("trace");
        assert_eq!(trace.len(), 2, "{answer}");
        let verdict = |name: &str| {
            trace
                .iter()
                .find(|e| e["rule"] == name)
                .expect("rule")
                .clone()
        };
        assert_eq!(verdict("train-on-master")["outcome"], "matched");
        let main = verdict("train-on-main");
        assert_eq!(main["outcome"], "rejected");
        assert_eq!(
            main["reason"],
            "branches: \"master\" matches none of [main]"
        );
        let triggers = answer["triggers"].as_array().expect("triggers");
        assert_eq!(triggers.len(), 1);
        assert_eq!(triggers[0]["rule"], "train-on-master");
        assert_eq!(triggers[0]["template_id"], TEMPLATE);
        assert_eq!(
            triggers[0]["run_config"],
            json!({ "run_name": "train-master" })
        );
    };

    let (status, by_payload) = call(
        &app,
        Method::POST,
        "/rules/test",
        Some(json!({
            "source": "github",
            "headers": { "X-GitHub-Event": "push", "X-GitHub-Delivery": "dry-2" },
            "payload": push_payload(),
        })),
    )
    .await;
    assert_eq!(status, 200, "{by_payload}");
    check(&by_payload);

    let (status, by_delivery) = call(
        &app,
        Method::POST,
        "/rules/test",
        Some(json!({ "delivery_id": stored })),
    )
    .await;
    assert_eq!(status, 200, "{by_delivery}");
    check(&by_delivery);

    // Nothing was created: no delivery, no job.
    assert_eq!(store.count_deliveries().await.unwrap(), 1);
    let first = get(&app, &format!("/deliveries/{stored}")).await;
    assert_eq!(first["jobs"].as_array().map(Vec::len), Some(1));

    // Refusals.
    for (bad, status_wanted) in [
        (json!({}), 400),
        (json!({ "payload": push_payload() }), 400),
        (json!({ "source": "nope", "payload": push_payload() }), 400),
        (json!({ "source": "github", "payload": [1, 2] }), 400),
        (
            json!({ "source": "github", "payload": {}, "delivery_id": stored }),
            400,
        ),
        (json!({ "delivery_id": uuid::Uuid::new_v4() }), 404),
    ] {
        let (status, body) = call(&app, Method::POST, "/rules/test", Some(bad.clone())).await;
        assert_eq!(status, status_wanted, "{bad} -> {body}");
    }
    assert_eq!(store.count_deliveries().await.unwrap(), 1);
    app.stop().await;
});

both_backends!(
    backtest_replays_stored_deliveries,
    |app: TestApp| async move {
        let pushes = [post_push(&app, "bt-1").await, post_push(&app, "bt-2").await];
        let ping_body = std::fs::read(common::fixture("github/ping.json")).unwrap();
        post_github(&app, "ping", "bt-ping", &ping_body).await;
        let tick = post_tick(&app).await;

        let unsaved = rule(
            "would-train",
            json!({
                "events": ["push"],
                "branches": ["master"],
                "run_config": { "run_name": "bt-{{ event.after[:8] }}", "delivery": "{{ source }}" }
            }),
        );
        let (status, report) = call(
            &app,
            Method::POST,
            "/rules/backtest",
            Some(json!({ "rule": unsaved })),
        )
        .await;
        assert_eq!(status, 200, "{report}");
        assert_eq!(report["rule"], "would-train");
        assert_eq!(report["evaluated"], 4);
        assert_eq!(report["matched"], 2);
        let matches = report["matches"].as_array().expect("matches");
        let matched: BTreeSet<String> = matches
            .iter()
            .map(|m| m["delivery_id"].as_str().unwrap().to_owned())
            .collect();
        assert_eq!(matched, pushes.iter().cloned().collect());
        for m in matches {
            assert_eq!(
                m["run_config"],
                json!({ "run_name": "bt-6113728f", "delivery": "github" })
            );
        }
        assert_eq!(report["rejected_by"]["events"], 2, "{report}");

        // A count bounds the replay to the newest deliveries; a source narrows it.
        let (_, newest) = call(
            &app,
            Method::POST,
            "/rules/backtest",
            Some(json!({ "rule": unsaved, "count": 1 })),
        )
        .await;
        assert_eq!(newest["evaluated"], 1);
        assert_eq!(newest["matched"], 0, "the newest is the tick {tick}");
        let (_, github) = call(
            &app,
            Method::POST,
            "/rules/backtest",
            Some(json!({ "rule": unsaved, "source": "github", "since": "2000-01-01T00:00:00Z" })),
        )
        .await;
        assert_eq!(github["evaluated"], 3);
        assert_eq!(github["matched"], 2);

        // Nothing was saved; a saved rule is replayed by name.
        assert_eq!(names(&get(&app, "/rules").await), Vec::<String>::new());
        create_rule(&app, unsaved.clone()).await;
        let (status, saved) = call(
            &app,
            Method::POST,
            "/rules/backtest",
            Some(json!({ "rule": "would-train" })),
        )
        .await;
        assert_eq!(status, 200, "{saved}");
        assert_eq!(saved["matched"], 2);

        // An invalid unsaved rule is refused like a create.
        let (status, body) = call(
            &app,
            Method::POST,
            "/rules/backtest",
            Some(json!({ "rule": rule("bad", json!({ "branches": ["[a"] })) })),
        )
        .await;
        assert_invalid_rule(status, &body, "branches[0]", "invalid glob");
        assert_eq!(app.store().await.count_deliveries().await.unwrap(), 4);
        app.stop().await;
    }
);

both_backends!(openapi_documents_every_route, |app: TestApp| async move {
    let document = get(&app, "/openapi.json").await;
    assert!(document["openapi"].as_str().unwrap().starts_with("3."));
    let paths = document["paths"].as_object().expect("paths");

    // Every route of the router is documented, and nothing else is.
    let endpoints = zenhook::http::admin::endpoints();
    for endpoint in &endpoints {
        let path = format!("/api/v1{}", endpoint.path);
        assert!(
            paths
                .get(&path)
                .and_then(|item| item.get(endpoint.method))
                .is_some(),
            "{} {path} is not documented",
            endpoint.method
        );
    }
    let operations: Vec<(String, String)> = paths
        .iter()
        .flat_map(|(path, item)| {
            item.as_object()
                .expect("path item")
                .keys()
                .map(move |method| (method.clone(), path.clone()))
        })
        .collect();
    assert_eq!(operations.len(), endpoints.len());

    // Every documented operation answers: 401 without a token, and with one
    // something other than 404/405 (the resources it names exist).
    create_rule(&app, rule("probe", json!({}))).await;
    let delivery = post_push(&app, "probe-1").await;
    let job = get(&app, &format!("/deliveries/{delivery}")).await["jobs"][0]["id"]
        .as_str()
        .expect("the probe rule made a job")
        .to_owned();
    let mut operations = operations;
    // Deleting the probe rule last keeps it there for the others.
    operations.sort_by_key(|(method, _)| method == "delete");
    for (method, path) in operations {
        let concrete = path
            .replace("{rule}", "probe")
            .replace("/deliveries/{id}", &format!("/deliveries/{delivery}"))
            .replace("/jobs/{id}", &format!("/jobs/{job}"));
        assert!(
            !concrete.contains('{'),
            "no probe value for the parameter in {path}: add one here"
        );
        let method = Method::from_bytes(method.to_uppercase().as_bytes()).unwrap();
        let with_body = |request: reqwest::RequestBuilder| {
            if method == Method::POST || method == Method::PUT {
                request.json(&json!({}))
            } else {
                request
            }
        };
        let anonymous = with_body(app.client.request(method.clone(), app.url(&concrete)))
            .send()
            .await
            .unwrap();
        assert_eq!(anonymous.status().as_u16(), 401, "{method} {concrete}");
        let authorised = with_body(
            app.client
                .request(method.clone(), app.url(&concrete))
                .bearer_auth(TOKEN),
        )
        .send()
        .await
        .unwrap();
        let status = authorised.status().as_u16();
        let body = authorised.text().await.unwrap_or_default();
        assert!(
            status != 404 && status != 405 && status < 500,
            "{method} {concrete} answered {status}: {body}"
        );
    }
    app.stop().await;
});

/// A port free a moment ago, for a listener the service binds itself.
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admin_listen_moves_the_api_to_its_own_address() {
    let port = free_port();
    let config = config().replace(
        "[admin]\n",
        &format!("[admin]\nlisten = \"127.0.0.1:{port}\"\n"),
    );
    let app = spawn_app(Backend::Sqlite, &config).await.expect("sqlite");
    let admin = format!("http://127.0.0.1:{port}/api/v1/rules");
    let mut answered = None;
    for _ in 0..100 {
        if let Ok(response) = app.client.get(&admin).bearer_auth(TOKEN).send().await {
            answered = Some(response.status().as_u16());
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(answered, Some(200));
    let public = app
        .client
        .get(app.url("/api/v1/rules"))
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(public.status().as_u16(), 404, "not on the webhook listener");
    let hooks = app
        .client
        .post(format!("http://127.0.0.1:{port}/hooks/github"))
        .send()
        .await
        .unwrap();
    assert_eq!(
        hooks.status().as_u16(),
        404,
        "no webhooks on the admin listener"
    );
    app.stop().await;
}

/// Two replicas over one Postgres database, with polling too slow to matter: a rule
/// created through one routes the other's next delivery within seconds, which only
/// LISTEN/NOTIFY can do.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rule_change_reaches_another_replica_at_once() {
    let config = config().replace("[admin]\n", "[admin]\nrules_poll = \"1h\"\n");
    let Some(db) = TestDb::new(Backend::Postgres).await else {
        return;
    };
    let shared = db.shared();
    let a = spawn_app_on(db, &config).await;
    let b = spawn_app_on(shared, &config).await;

    // B routes with no rules at first.
    let before = post_push(&b, "replica-0").await;
    assert_eq!(
        get(&b, &format!("/deliveries/{before}")).await["outcome"],
        "unmatched"
    );

    create_rule(&a, rule("replicated", json!({ "events": ["push"] }))).await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(3);
    let mut attempt = 1;
    loop {
        let id = post_push(&b, &format!("replica-{attempt}")).await;
        let delivery = get(&b, &format!("/deliveries/{id}")).await;
        if delivery["outcome"] == "matched" {
            assert_eq!(delivery["trace"][0]["rule"], "replicated");
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "replica B still routes without the new rule after 3s"
        );
        attempt += 1;
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    // Deletion travels the same way.
    let (status, _) = call(&a, Method::DELETE, "/rules/replicated", None).await;
    assert_eq!(status, 204);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(3);
    loop {
        let id = post_push(&b, &format!("replica-{attempt}")).await;
        if get(&b, &format!("/deliveries/{id}")).await["outcome"] == "unmatched" {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "replica B still routes with the deleted rule after 3s"
        );
        attempt += 1;
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    b.stop().await;
    a.stop().await;
}

//! The intake path end to end on a real socket, against SQLite and against Postgres.

#[macro_use]
mod common;

use common::{github_signature, spawn_app, Backend, TestApp};
use serde_json::Value;

const SECRET: &str = "It's a Secret to Everybody";
const OLD_SECRET: &str = "the-previous-secret";

fn config() -> String {
    format!(
        r#"
[server]
max_body_bytes = 65536

[sources.github]
kind = "github"
secrets = ["{SECRET}", "{OLD_SECRET}"]

[sources.scheduler]
kind = "hmac"
secrets = ["scheduler-secret"]
header = "X-Signature"
event = {{ json_path = "$.type" }}
dedupe_window = "10m"

[sources.nodedupe]
kind = "hmac"
secrets = ["scheduler-secret"]
"#
    )
}

fn push_body() -> Vec<u8> {
    std::fs::read(common::fixture("github/push.json")).expect("fixture")
}

async fn post_github(
    app: &TestApp,
    event: &str,
    delivery: &str,
    body: &[u8],
    secret: &str,
) -> reqwest::Response {
    app.client
        .post(app.url("/hooks/github"))
        .header("Content-Type", "application/json")
        .header("X-GitHub-Event", event)
        .header("X-GitHub-Delivery", delivery)
        .header("X-Hub-Signature-256", github_signature(secret, body))
        .header("Authorization", "Bearer must-not-be-stored")
        .body(body.to_vec())
        .send()
        .await
        .expect("request")
}

async fn assert_error(response: reqwest::Response, status: u16, code: &str) {
    assert_eq!(response.status().as_u16(), status);
    let body: Value = response.json().await.expect("json error body");
    assert_eq!(body["error"]["code"], code, "{body}");
    let message = body["error"]["message"].as_str().expect("message");
    assert!(!message.is_empty());
    assert_eq!(body.as_object().map(|o| o.len()), Some(1), "{body}");
}

both_backends!(
    accepts_and_stores_byte_for_byte,
    |app: TestApp| async move {
        let body = push_body();
        let response = post_github(&app, "push", "d-1", &body, SECRET).await;
        assert_eq!(response.status().as_u16(), 202);
        let answer: Value = response.json().await.unwrap();
        assert_eq!(answer["status"], "accepted");
        let id: uuid::Uuid = answer["delivery_id"].as_str().unwrap().parse().unwrap();

        let store = app.store().await;
        let stored = store
            .get_delivery(id)
            .await
            .unwrap()
            .expect("committed before 202");
        assert_eq!(stored.body, body, "the raw body, byte for byte");
        assert_eq!(stored.source, "github");
        assert_eq!(stored.sender_delivery_id.as_deref(), Some("d-1"));
        assert_eq!(stored.event_type.as_deref(), Some("push"));
        assert_eq!(stored.event_kind, "push");
        assert_eq!(stored.outcome, "unmatched");
        let headers: Value = serde_json::from_str(&stored.headers).unwrap();
        assert_eq!(headers["x-github-delivery"], "d-1");
        assert!(
            headers.get("authorization").is_none(),
            "credentials are not stored"
        );
        let event: Value = serde_json::from_str(&stored.event).unwrap();
        assert_eq!(event["repository"], "Codertocat/Hello-World");
        assert_eq!(event["branch"], "master");

        // Sequence numbers increase.
        let second = post_github(&app, "push", "d-2", &body, SECRET).await;
        let second: Value = second.json().await.unwrap();
        let second_id = second["delivery_id"].as_str().unwrap().parse().unwrap();
        let second = store.get_delivery(second_id).await.unwrap().unwrap();
        assert!(second.seq > stored.seq);
        app.stop().await;
    }
);

both_backends!(redelivery_is_a_duplicate, |app: TestApp| async move {
    let body = push_body();
    let first: Value = post_github(&app, "push", "same-id", &body, SECRET)
        .await
        .json()
        .await
        .unwrap();
    let again = post_github(&app, "push", "same-id", &body, SECRET).await;
    assert_eq!(again.status().as_u16(), 200);
    let again: Value = again.json().await.unwrap();
    assert_eq!(again["status"], "duplicate");
    assert_eq!(again["delivery_id"], first["delivery_id"]);
    assert_eq!(app.store().await.count_deliveries().await.unwrap(), 1);
    app.stop().await;
});

both_backends!(refusals_store_nothing, |app: TestApp| async move {
    let body = push_body();
    // Wrong secret.
    let r = post_github(&app, "push", "x-1", &body, "wrong secret").await;
    assert_error(r, 401, "unauthorized").await;
    // Tampered body.
    let mut tampered = body.clone();
    tampered[10] ^= 1;
    let r = app
        .client
        .post(app.url("/hooks/github"))
        .header("X-GitHub-Event", "push")
        .header("X-Hub-Signature-256", github_signature(SECRET, &body))
        .body(tampered)
        .send()
        .await
        .unwrap();
    assert_error(r, 401, "unauthorized").await;
    // Missing signature.
    let r = app
        .client
        .post(app.url("/hooks/github"))
        .header("X-GitHub-Event", "push")
        .body(body.clone())
        .send()
        .await
        .unwrap();
    assert_error(r, 401, "unauthorized").await;
    // Unknown source.
    let r = post_github(&app, "push", "x-2", &body, SECRET).await;
    assert_eq!(r.status().as_u16(), 202);
    let r = app
        .client
        .post(app.url("/hooks/nope"))
        .body(body.clone())
        .send()
        .await
        .unwrap();
    assert_error(r, 404, "unknown_source").await;
    // Oversized (limit 64 KiB in this config).
    let big = vec![b' '; 70_000];
    let r = post_github(&app, "push", "x-3", &big, SECRET).await;
    assert_error(r, 413, "body_too_large").await;
    // Verified but not JSON.
    let broken = b"{\"ref\": ".to_vec();
    let r = post_github(&app, "push", "x-4", &broken, SECRET).await;
    assert_error(r, 400, "invalid_body").await;
    // Verified JSON that is not an object.
    let r = post_github(&app, "push", "x-5", b"[1,2]", SECRET).await;
    assert_error(r, 400, "invalid_body").await;

    // Only the one good delivery was stored.
    assert_eq!(app.store().await.count_deliveries().await.unwrap(), 1);
    app.stop().await;
});

both_backends!(rotation_accepts_either_secret, |app: TestApp| async move {
    let body = push_body();
    let new = post_github(&app, "push", "rot-1", &body, SECRET).await;
    assert_eq!(new.status().as_u16(), 202);
    let old = post_github(&app, "push", "rot-2", &body, OLD_SECRET).await;
    assert_eq!(old.status().as_u16(), 202);
    app.stop().await;
});

both_backends!(
    ping_is_answered_pong_and_recorded,
    |app: TestApp| async move {
        let body = std::fs::read(common::fixture("github/ping.json")).unwrap();
        let response = post_github(&app, "ping", "ping-1", &body, SECRET).await;
        assert_eq!(response.status().as_u16(), 200);
        let answer: Value = response.json().await.unwrap();
        assert_eq!(answer["status"], "pong");
        let id = answer["delivery_id"].as_str().unwrap().parse().unwrap();
        let stored = app.store().await.get_delivery(id).await.unwrap().unwrap();
        assert_eq!(stored.outcome, "pong");
        app.stop().await;
    }
);

both_backends!(form_encoded_github_payload, |app: TestApp| async move {
    let json = push_body();
    let form: String = form_urlencoded::Serializer::new(String::new())
        .append_pair("payload", std::str::from_utf8(&json).unwrap())
        .finish();
    let response = app
        .client
        .post(app.url("/hooks/github"))
        .header("Content-Type", "application/x-www-form-urlencoded")
        .header("X-GitHub-Event", "push")
        .header("X-GitHub-Delivery", "form-1")
        .header(
            "X-Hub-Signature-256",
            github_signature(SECRET, form.as_bytes()),
        )
        .body(form.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 202);
    let answer: Value = response.json().await.unwrap();
    let id = answer["delivery_id"].as_str().unwrap().parse().unwrap();
    let stored = app.store().await.get_delivery(id).await.unwrap().unwrap();
    assert_eq!(
        stored.body,
        form.as_bytes(),
        "the raw form body is what is kept"
    );
    let event: Value = serde_json::from_str(&stored.event).unwrap();
    assert_eq!(event["repository"], "Codertocat/Hello-World");
    app.stop().await;
});

fn hmac_hex(secret: &str, body: &[u8]) -> String {
    use hmac::Mac;
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(body);
    hex::encode(mac.finalize().into_bytes())
}

both_backends!(
    body_hash_dedupe_only_when_asked,
    |app: TestApp| async move {
        let body = br#"{"type": "tick", "at": "2026-11-29T10:00:00Z"}"#;
        let send = |source: &'static str| {
            let app = &app;
            async move {
                app.client
                    .post(app.url(&format!("/hooks/{source}")))
                    .header("X-Signature", hmac_hex("scheduler-secret", body))
                    .body(body.to_vec())
                    .send()
                    .await
                    .unwrap()
            }
        };
        let first: Value = send("scheduler").await.json().await.unwrap();
        assert_eq!(first["status"], "accepted");
        let second: Value = send("scheduler").await.json().await.unwrap();
        assert_eq!(second["status"], "duplicate");
        assert_eq!(second["delivery_id"], first["delivery_id"]);
        let id = first["delivery_id"].as_str().unwrap().parse().unwrap();
        let stored = app.store().await.get_delivery(id).await.unwrap().unwrap();
        assert_eq!(
            stored.event_kind, "tick",
            "event type from the configured JSON path"
        );

        // Without dedupe_window, a sender without delivery ids is not deduplicated.
        let a: Value = send("nodedupe").await.json().await.unwrap();
        let b: Value = send("nodedupe").await.json().await.unwrap();
        assert_eq!(a["status"], "accepted");
        assert_eq!(b["status"], "accepted");
        assert_ne!(a["delivery_id"], b["delivery_id"]);
        app.stop().await;
    }
);

both_backends!(health_and_readiness, |app: TestApp| async move {
    let health = app.client.get(app.url("/healthz")).send().await.unwrap();
    assert_eq!(health.status().as_u16(), 200);
    let ready = app.client.get(app.url("/readyz")).send().await.unwrap();
    assert_eq!(ready.status().as_u16(), 200);
    let nothing = app.client.get(app.url("/nothing")).send().await.unwrap();
    assert_error(nothing, 404, "not_found").await;
    app.stop().await;
});

both_backends!(
    database_failure_is_503_never_202,
    |app: TestApp| async move {
        let body = push_body();
        let store = app.store().await;
        // Take the table away from under the service: commits fail.
        rename_deliveries(&app, "deliveries", "deliveries_away").await;
        let response = post_github(&app, "push", "down-1", &body, SECRET).await;
        assert_error(response, 503, "unavailable").await;
        // Back again: the sender's retry is accepted.
        rename_deliveries(&app, "deliveries_away", "deliveries").await;
        let response = post_github(&app, "push", "down-1", &body, SECRET).await;
        assert_eq!(response.status().as_u16(), 202);
        assert_eq!(store.count_deliveries().await.unwrap(), 1);
        app.stop().await;
    }
);

async fn rename_deliveries(app: &TestApp, from: &str, to: &str) {
    let sql = format!("ALTER TABLE {from} RENAME TO {to}");
    if app.db.url.starts_with("sqlite") {
        let pool = sqlx::SqlitePool::connect(&app.db.url).await.unwrap();
        sqlx::query(&sql).execute(&pool).await.unwrap();
        pool.close().await;
    } else {
        let pool = sqlx::PgPool::connect(&app.db.url).await.unwrap();
        sqlx::query(&sql).execute(&pool).await.unwrap();
        pool.close().await;
    }
}

both_backends!(
    shutdown_commits_everything_accepted,
    |app: TestApp| async move {
        let body = push_body();
        let mut accepted = 0;
        let requests: Vec<_> = (0..40)
            .map(|i| {
                let client = app.client.clone();
                let url = app.url("/hooks/github");
                let body = body.clone();
                tokio::spawn(async move {
                    client
                        .post(url)
                        .header("X-GitHub-Event", "push")
                        .header("X-GitHub-Delivery", format!("burst-{i}"))
                        .header("X-Hub-Signature-256", github_signature(SECRET, &body))
                        .body(body)
                        .send()
                        .await
                })
            })
            .collect();
        for request in requests {
            if let Ok(Ok(response)) = request.await {
                if response.status().as_u16() == 202 {
                    accepted += 1;
                }
            }
        }
        let db = app.stop().await;
        let stored = db.store().await.count_deliveries().await.unwrap();
        assert_eq!(accepted, 40);
        assert_eq!(stored, accepted, "every 202 is a stored delivery");
    }
);

//! Helpers for the ZenML client tests: targets, requests, and a mock ZenML built from
//! the bodies a real ZenML 0.98.0 server sent (`shared/zenml/samples`).

#![allow(dead_code)]

use std::path::PathBuf;
use std::time::Duration;

use secrecy::SecretString;
use serde_json::{json, Value};
use uuid::Uuid;
use wiremock::matchers::{body_string, header, method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};
use zenhook::config::{Credential, Target};
use zenhook::zenml::{TemplateOrSnapshot, TriggerRequest};

/// Contains characters a form body must percent-encode.
pub const API_KEY: &str = "ZENKEY_eyJpZCI6IjBjMTAiLCJrZXkiOiJhYmMifQ+/=";
pub const API_KEY_FORM: &str = "password=ZENKEY_eyJpZCI6IjBjMTAiLCJrZXkiOiJhYmMifQ%2B%2F%3D";
pub const TEMPLATE_ID: &str = "7c4e5cb8-7967-4a1b-bb8a-eee3f61c67fa";
pub const SNAPSHOT_ID: &str = "e9ee0c26-f38c-4d0e-a48a-fece608e8f15";
pub const RUN_ID: &str = "8db24ec8-fd64-4412-982b-694bd6ff817f";
pub const RUN_NAME: &str = "probe_pipeline-2026_11_29-14_47_33_492247";
pub const PROJECT_ID: &str = "f2fd1d80-ef8b-4501-9120-4b6f7a829189";

pub fn sample(name: &str) -> String {
    let path = PathBuf::from(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../shared/zenml/samples"
    ))
    .join(name);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

pub fn sample_json(name: &str) -> Value {
    serde_json::from_str(&sample(name)).expect("samples are JSON")
}

/// The access token in the login sample.
pub fn sample_token() -> String {
    sample_json("login-api-key-200.json")["access_token"]
        .as_str()
        .expect("a token")
        .to_owned()
}

pub fn login_body(token: &str, expires_in: Option<u64>) -> Value {
    let mut body = sample_json("login-api-key-200.json");
    body["access_token"] = json!(token);
    body["expires_in"] = json!(expires_in);
    body
}

/// The run the trigger sample created, with another status and tags.
pub fn run_body(status: &str, tags: &[&str]) -> Value {
    let mut run = sample_json("run-template-runs-200.json");
    run["body"]["status"] = json!(status);
    run["resources"]["tags"] = tags
        .iter()
        .map(|name| json!({"id": Uuid::new_v4(), "name": name, "permission_denied": false, "body": null, "metadata": null, "resources": null}))
        .collect();
    run
}

pub fn page(items: Vec<Value>) -> Value {
    json!({"index": 1, "max_size": 5, "total_pages": 1, "total": items.len(), "items": items})
}

pub fn target(url: &str) -> Target {
    Target {
        name: "prod".into(),
        url: Some(url.into()),
        credential: Some(Credential::ApiKey(SecretString::from(API_KEY))),
        project: None,
        timeout: Duration::from_secs(5),
        ca_file: None,
        proxy: None,
        shadow: false,
        rate_limit: None,
    }
}

pub fn token_target(url: &str, token: &str) -> Target {
    Target {
        credential: Some(Credential::Token(SecretString::from(token))),
        ..target(url)
    }
}

pub fn run_config(tag: &str) -> Value {
    json!({
        "run_name": "webhook-{date}-{time}",
        "steps": {"say_hello": {"parameters": {"name": "x"}}},
        "tags": ["webhook", tag],
    })
}

pub fn template_request(tag: &str) -> TriggerRequest {
    TriggerRequest {
        kind: TemplateOrSnapshot::Template,
        id: TEMPLATE_ID.parse().expect("a uuid"),
        run_config: run_config(tag),
        idempotency_key: Uuid::new_v4(),
    }
}

pub fn template_runs_path() -> String {
    format!("/api/v1/run_templates/{TEMPLATE_ID}/runs")
}

/// `POST /api/v1/login` answering with `token`; `expect` login calls in all.
pub async fn mount_login(server: &MockServer, token: &str, expires_in: Option<u64>, expect: u64) {
    Mock::given(method("POST"))
        .and(path("/api/v1/login"))
        .and(header("content-type", "application/x-www-form-urlencoded"))
        .and(body_string(API_KEY_FORM))
        .respond_with(ResponseTemplate::new(200).set_body_json(login_body(token, expires_in)))
        .expect(expect)
        .named("login")
        .mount(server)
        .await;
}

/// The template trigger endpoint answering `response` to the sample token.
pub async fn mount_trigger(server: &MockServer, response: ResponseTemplate) {
    Mock::given(method("POST"))
        .and(path(template_runs_path()))
        .and(header(
            "authorization",
            format!("Bearer {}", sample_token()),
        ))
        .respond_with(response)
        .named("trigger")
        .mount(server)
        .await;
}

/// A ZenML-style error answer.
pub fn zenml_error(status: u16, body: Value) -> ResponseTemplate {
    ResponseTemplate::new(status).set_body_json(body)
}

/// A loopback port nobody listens on (bound, then released).
pub async fn closed_port() -> u16 {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let port = listener.local_addr().expect("addr").port();
    drop(listener);
    port
}

/// A server that reads one whole request, then closes the connection without answering.
pub async fn hang_up_server() -> String {
    use tokio::io::AsyncReadExt;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            let mut request = Vec::new();
            let mut buffer = [0u8; 4096];
            loop {
                match socket.read(&mut buffer).await {
                    Ok(0) | Err(_) => break,
                    Ok(n) => request.extend_from_slice(&buffer[..n]),
                }
                if whole_request(&request) {
                    break;
                }
            }
            drop(socket);
        }
    });
    format!("http://{addr}")
}

fn whole_request(request: &[u8]) -> bool {
    let Some(end) = request.windows(4).position(|w| w == b"\r\n\r\n") else {
        return false;
    };
    let head = String::from_utf8_lossy(&request[..end]).to_ascii_lowercase();
    let length = head
        .lines()
        .find_map(|line| line.strip_prefix("content-length:"))
        .and_then(|v| v.trim().parse::<usize>().ok())
        .unwrap_or(0);
    request.len() >= end + 4 + length
}

/// Reads a `KEY=VALUE` env file (the one `zenml_server.sh start` writes).
pub fn read_env_file(path: &str) -> std::collections::HashMap<String, String> {
    std::fs::read_to_string(path)
        .unwrap_or_else(|e| panic!("{path}: {e}"))
        .lines()
        .filter_map(|line| line.split_once('='))
        .map(|(k, v)| (k.trim().to_owned(), v.trim().to_owned()))
        .collect()
}

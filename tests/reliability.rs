//! Reliability under bad input, a database that goes away, crashes of the real binary
//! and a ZenML that misbehaves. Every test is bounded in count and time; the random
//! ones print their seed (set `RELIABILITY_SEED` to replay one).

mod common;

use std::io::Write as _;
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use base64::Engine as _;
use common::mock_zenml::{Fault, MockZenml};
use common::zenhook_api::{settled, worker_config, Zenhook, ADMIN_TOKEN, API_KEY, GITHUB_SECRET};
use common::{github_signature, spawn_app, spawn_app_on, Backend, TestDb};
use hmac::{Hmac, Mac};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::{json, Value};
use sha2::Sha256;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

// ---------------------------------------------------------------------------------------
// Shared: logs at TRACE into a buffer, panics of the service's threads, seeds.

/// Every log line of this test binary, at TRACE, as JSON (what `[log] format = "json"`
/// writes), kept to search for secrets.
fn captured_logs() -> Arc<Mutex<Vec<u8>>> {
    static LOGS: OnceLock<Arc<Mutex<Vec<u8>>>> = OnceLock::new();
    LOGS.get_or_init(|| {
        let buffer = Arc::new(Mutex::new(Vec::new()));
        let sink = buffer.clone();
        let subscriber = tracing_subscriber::fmt()
            .json()
            .with_current_span(true)
            .with_max_level(tracing::Level::TRACE)
            .with_writer(move || LogWriter(sink.clone()))
            .finish();
        let _ = tracing::subscriber::set_global_default(subscriber);
        watch_for_panics();
        buffer
    })
    .clone()
}

struct LogWriter(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for LogWriter {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.lock().expect("log buffer").extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Set when a thread of the services' runtime (not a test's own thread) panics.
static SERVICE_PANICKED: AtomicBool = AtomicBool::new(false);

fn watch_for_panics() {
    let previous = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        if std::thread::current().name() == Some("tokio-runtime-worker") {
            SERVICE_PANICKED.store(true, Ordering::SeqCst);
        }
        previous(info);
    }));
}

fn seed() -> u64 {
    let seed = std::env::var("RELIABILITY_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(rand::random);
    println!("seed: {seed} (RELIABILITY_SEED={seed} replays it)");
    seed
}

fn hmac_sha256(key: &[u8], parts: &[&[u8]]) -> Vec<u8> {
    let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("any key length");
    for part in parts {
        mac.update(part);
    }
    mac.finalize().into_bytes().to_vec()
}

fn push_body() -> Vec<u8> {
    std::fs::read(common::fixture("github/push.json")).expect("fixture")
}

/// A raw HTTP/1.1 exchange: `head` (request line and headers, without the blank line),
/// then the body as chunks with pauses; reading the answer starts at once, so an early
/// answer (413 before the body is all sent) is seen. The status, or 0 when the
/// connection closed without one, and the body.
async fn raw_exchange(addr: SocketAddr, head: &str, body: RawBody) -> (u16, String) {
    let stream = TcpStream::connect(addr).await.expect("connect");
    let (mut reader, mut writer) = stream.into_split();
    let head = format!("{head}\r\n\r\n");
    let sender = tokio::spawn(async move {
        writer.write_all(head.as_bytes()).await?;
        match body {
            RawBody::Repeated {
                chunk,
                count,
                pause,
            } => {
                for _ in 0..count {
                    writer.write_all(&chunk).await?;
                    if !pause.is_zero() {
                        tokio::time::sleep(pause).await;
                    }
                }
            }
        }
        writer.flush().await?;
        // Keep the write half open: closing it may read as an aborted request.
        tokio::time::sleep(Duration::from_secs(30)).await;
        std::io::Result::Ok(())
    });
    let mut answer = Vec::new();
    let mut chunk = [0u8; 16 * 1024];
    let read = tokio::time::timeout(Duration::from_secs(20), async {
        loop {
            match reader.read(&mut chunk).await {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    answer.extend_from_slice(&chunk[..n]);
                    if complete(&answer) {
                        break;
                    }
                }
            }
        }
    })
    .await;
    sender.abort();
    assert!(read.is_ok(), "no answer within 20 s");
    let text = String::from_utf8_lossy(&answer).into_owned();
    let status = text
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let body = text
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_owned())
        .unwrap_or_default();
    (status, body)
}

enum RawBody {
    Repeated {
        chunk: Vec<u8>,
        count: usize,
        pause: Duration,
    },
}

/// A whole answer: the head and as many body bytes as it announced.
fn complete(answer: &[u8]) -> bool {
    let Some(end) = answer.windows(4).position(|w| w == b"\r\n\r\n") else {
        return false;
    };
    let head = String::from_utf8_lossy(&answer[..end]).to_ascii_lowercase();
    let length = head
        .lines()
        .find_map(|l| l.strip_prefix("content-length:"))
        .and_then(|v| v.trim().parse::<usize>().ok())
        .unwrap_or(0);
    answer.len() >= end + 4 + length
}

// ---------------------------------------------------------------------------------------
// Bad input.

const STANDARD_KEY: &[u8] = b"reliability standard signing key";
const SHARED_TOKEN: &str = "reliability-shared-token-7f3a";

fn bad_input_config(mock: &MockZenml) -> String {
    format!(
        r#"
[server]
request_timeout = "1s"

[sources.github]
kind = "github"
secrets = ["{GITHUB_SECRET}"]

[sources.scheduler]
kind = "standard"
secrets = ["whsec_{key}"]

[sources.shared]
kind = "token"
secrets = ["{SHARED_TOKEN}"]

[admin]
tokens = ["{ADMIN_TOKEN}"]

[worker]
retry_schedule = ["100ms"]

[targets.default]
url = "{url}"
api_key = "{API_KEY}"
timeout = "2s"
"#,
        key = base64::engine::general_purpose::STANDARD.encode(STANDARD_KEY),
        url = mock.url(),
    )
}

/// Each secret in every form a careless log line could carry it.
fn secret_forms() -> Vec<(String, Vec<u8>)> {
    let b64 = &base64::engine::general_purpose::STANDARD;
    let b64_nopad = &base64::engine::general_purpose::STANDARD_NO_PAD;
    let url_safe = &base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let mut forms = Vec::new();
    for (name, secret) in [
        ("github secret", GITHUB_SECRET.as_bytes()),
        ("standard key", STANDARD_KEY),
        ("shared token", SHARED_TOKEN.as_bytes()),
        ("admin token", ADMIN_TOKEN.as_bytes()),
        ("ZenML API key", API_KEY.as_bytes()),
    ] {
        forms.push((format!("{name} (raw)"), secret.to_vec()));
        forms.push((format!("{name} (hex)"), hex::encode(secret).into_bytes()));
        forms.push((
            format!("{name} (HEX)"),
            hex::encode_upper(secret).into_bytes(),
        ));
        forms.push((
            format!("{name} (base64)"),
            b64_nopad.encode(secret).into_bytes(),
        ));
        forms.push((
            format!("{name} (base64url)"),
            url_safe.encode(secret).into_bytes(),
        ));
    }
    forms.push((
        "standard key (whsec_)".into(),
        format!("whsec_{}", b64.encode(STANDARD_KEY)).into_bytes(),
    ));
    forms
}

fn find(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

struct Case {
    name: &'static str,
    status: u16,
    code: &'static str,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_gets_its_documented_answer_and_leaks_no_secret() {
    let logs = captured_logs();
    let mock = MockZenml::start(API_KEY).await;
    let app = spawn_app(Backend::Sqlite, &bad_input_config(&mock))
        .await
        .expect("sqlite");
    let api = Zenhook::new(format!("http://{}", app.addr));
    api.create_rule("reliability", json!({"tags": ["reliability"]}))
        .await;
    let client = reqwest::Client::new();
    let body = push_body();
    let good_signature = github_signature(GITHUB_SECRET, &body);
    let mut bodies: Vec<String> = Vec::new();
    let mut failures: Vec<String> = Vec::new();

    // A GitHub delivery with these headers and body.
    let github = |delivery: &str, headers: &[(&str, String)], body: Vec<u8>| {
        let mut request = client
            .post(app.url("/hooks/github"))
            .header("Content-Type", "application/json")
            .header("X-GitHub-Event", "push")
            .header("X-GitHub-Delivery", delivery.to_owned())
            .body(body);
        for (name, value) in headers {
            request = request.header(*name, value.clone());
        }
        request
    };
    let signed = |body: &[u8]| vec![("X-Hub-Signature-256", github_signature(GITHUB_SECRET, body))];

    let truncated = body[..body.len() / 2].to_vec();
    let nested = format!("{}1{}", "{\"a\":".repeat(50_000), "}".repeat(50_000)).into_bytes();
    let nested_arrays = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000)).into_bytes();
    let mut not_utf8 = b"{\"ref\": \"refs/heads/".to_vec();
    not_utf8.extend_from_slice(&[0xff, 0xfe, 0xc3, 0x28]);
    not_utf8.extend_from_slice(b"\"}");
    let huge = "a".repeat(64 * 1024);

    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("after 1970")
        .as_secs();
    let standard = |timestamp: u64| {
        let payload = br#"{"type":"tick"}"#.to_vec();
        let stamp = timestamp.to_string();
        let signature = hmac_sha256(
            STANDARD_KEY,
            &[b"msg_1", b".", stamp.as_bytes(), b".", &payload],
        );
        client
            .post(app.url("/hooks/scheduler"))
            .header("Content-Type", "application/json")
            .header("webhook-id", "msg_1")
            .header("webhook-timestamp", stamp)
            .header(
                "webhook-signature",
                format!(
                    "v1,{}",
                    base64::engine::general_purpose::STANDARD.encode(signature)
                ),
            )
            .body(payload)
    };

    let first = github("replayed", &signed(&body), body.clone());
    let cases: Vec<(Case, reqwest::RequestBuilder)> = vec![
        (
            Case {
                name: "wrong signature",
                status: 401,
                code: "unauthorized",
            },
            github(
                "wrong-sig",
                &[(
                    "X-Hub-Signature-256",
                    github_signature("not the secret", &body),
                )],
                body.clone(),
            ),
        ),
        (
            Case {
                name: "truncated signature",
                status: 401,
                code: "unauthorized",
            },
            github(
                "short-sig",
                &[("X-Hub-Signature-256", good_signature[..40].to_owned())],
                body.clone(),
            ),
        ),
        (
            Case {
                name: "no signature",
                status: 401,
                code: "unauthorized",
            },
            github("no-sig", &[], body.clone()),
        ),
        (
            Case {
                name: "truncated JSON",
                status: 400,
                code: "invalid_body",
            },
            github("truncated", &signed(&truncated), truncated.clone()),
        ),
        (
            Case {
                name: "deeply nested objects",
                status: 400,
                code: "invalid_body",
            },
            github("nested", &signed(&nested), nested.clone()),
        ),
        (
            Case {
                name: "deeply nested arrays",
                status: 400,
                code: "invalid_body",
            },
            github(
                "nested-arrays",
                &signed(&nested_arrays),
                nested_arrays.clone(),
            ),
        ),
        (
            Case {
                name: "invalid UTF-8",
                status: 400,
                code: "invalid_body",
            },
            github("not-utf8", &signed(&not_utf8), not_utf8.clone()),
        ),
        (
            Case {
                name: "64 KB signature header",
                status: 401,
                code: "unauthorized",
            },
            github(
                "huge-sig",
                &[("X-Hub-Signature-256", format!("sha256={huge}"))],
                body.clone(),
            ),
        ),
        (
            Case {
                name: "64 KB unrelated header",
                status: 401,
                code: "unauthorized",
            },
            github("huge-header", &[("X-Padding", huge.clone())], body.clone()),
        ),
        (
            Case {
                name: "repeated signature header",
                status: 401,
                code: "unauthorized",
            },
            github("repeated", &signed(&body), body.clone())
                .header("X-Hub-Signature-256", good_signature.clone()),
        ),
        (
            Case {
                name: "first delivery",
                status: 202,
                code: "",
            },
            first,
        ),
        (
            Case {
                name: "replayed delivery",
                status: 200,
                code: "",
            },
            github("replayed", &signed(&body), body.clone()),
        ),
        (
            Case {
                name: "fresh Standard Webhooks timestamp",
                status: 202,
                code: "",
            },
            standard(now),
        ),
        (
            Case {
                name: "stale Standard Webhooks timestamp",
                status: 401,
                code: "unauthorized",
            },
            standard(now - 3600),
        ),
        (
            Case {
                name: "future Standard Webhooks timestamp",
                status: 401,
                code: "unauthorized",
            },
            standard(now + 3600),
        ),
        (
            Case {
                name: "wrong token",
                status: 401,
                code: "unauthorized",
            },
            client
                .post(app.url("/hooks/shared"))
                .bearer_auth("not-the-token")
                .body("{}"),
        ),
        (
            Case {
                name: "right token",
                status: 202,
                code: "",
            },
            client
                .post(app.url("/hooks/shared"))
                .bearer_auth(SHARED_TOKEN)
                .body("{}"),
        ),
        (
            Case {
                name: "NUL source",
                status: 404,
                code: "unknown_source",
            },
            client.post(app.url("/hooks/%00")).body("{}"),
        ),
        (
            Case {
                name: "dot-dot source",
                status: 404,
                code: "unknown_source",
            },
            client.post(app.url("/hooks/..%2F")).body("{}"),
        ),
        (
            Case {
                name: "dot-dot-slash github",
                status: 404,
                code: "unknown_source",
            },
            client.post(app.url("/hooks/..%2Fgithub")).body("{}"),
        ),
        (
            Case {
                name: "unicode source",
                status: 404,
                code: "unknown_source",
            },
            client
                .post(app.url("/hooks/%E2%80%AEgithub%F0%9F%92%A5"))
                .body("{}"),
        ),
        (
            Case {
                name: "invalid percent-encoding",
                status: 404,
                code: "unknown_source",
            },
            client.post(app.url("/hooks/%FF%FE")).body("{}"),
        ),
    ];
    for (case, request) in cases {
        let response = request.send().await;
        let Ok(response) = response else {
            failures.push(format!("{}: no answer: {response:?}", case.name));
            continue;
        };
        let status = response.status().as_u16();
        let text = response.text().await.unwrap_or_default();
        if status != case.status {
            failures.push(format!(
                "{}: {status} (want {}) {text}",
                case.name, case.status
            ));
        } else if !case.code.is_empty() {
            let answer: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
            if answer["error"]["code"] != case.code {
                failures.push(format!("{}: {text} (want code {})", case.name, case.code));
            }
        }
        bodies.push(text);
    }

    // Many repeated headers: past hyper's header count, refused before any handler.
    let mut many = client.post(app.url("/hooks/github")).body(body.clone());
    for i in 0..150 {
        many = many.header("X-Repeated", format!("value-{i}"));
    }
    match many.send().await {
        Ok(response) => {
            let status = response.status().as_u16();
            if status != 431 {
                failures.push(format!("150 repeated headers: {status} (want 431)"));
            }
            bodies.push(response.text().await.unwrap_or_default());
        }
        Err(error) => failures.push(format!("150 repeated headers: no answer: {error}")),
    }

    // 30 MB, streamed: refused at the 25 MiB limit without being held whole.
    let head = format!(
        "POST /hooks/github HTTP/1.1\r\nHost: zenhook\r\nContent-Type: application/json\r\n\
         X-GitHub-Event: push\r\nX-GitHub-Delivery: too-large\r\n\
         X-Hub-Signature-256: {good_signature}\r\nContent-Length: {}",
        30 * 1024 * 1024
    );
    let (status, text) = raw_exchange(
        app.addr,
        &head,
        RawBody::Repeated {
            chunk: vec![b' '; 64 * 1024],
            count: 480,
            pause: Duration::ZERO,
        },
    )
    .await;
    if status != 413 || !text.contains("body_too_large") {
        failures.push(format!(
            "30 MB body: {status} {text} (want 413 body_too_large)"
        ));
    }
    bodies.push(text);

    // A body that stops arriving: answered when server.request_timeout (1 s) is over.
    let head = format!(
        "POST /hooks/github HTTP/1.1\r\nHost: zenhook\r\nContent-Type: application/json\r\n\
         X-GitHub-Event: push\r\nX-GitHub-Delivery: slow\r\n\
         X-Hub-Signature-256: {good_signature}\r\nContent-Length: {}",
        body.len()
    );
    let started = Instant::now();
    let (status, text) = raw_exchange(
        app.addr,
        &head,
        RawBody::Repeated {
            chunk: body[..16].to_vec(),
            count: 1,
            pause: Duration::ZERO,
        },
    )
    .await;
    let waited = started.elapsed();
    if status != 503
        || waited > Duration::from_secs(5)
        || !text.contains("\"code\":\"unavailable\"")
    {
        failures.push(format!(
            "slow body: {status} after {waited:?} {text} (want a JSON 503 after ~1 s)"
        ));
    }
    bodies.push(text);

    // Still healthy; unknown sources are counted under one label.
    let health = client
        .get(app.url("/healthz"))
        .send()
        .await
        .expect("healthz");
    assert_eq!(health.status().as_u16(), 200);
    let metrics = client
        .get(app.url("/metrics"))
        .send()
        .await
        .expect("metrics")
        .text()
        .await
        .expect("metrics text");
    for line in metrics
        .lines()
        .filter(|l| l.starts_with("zenhook_deliveries_total"))
    {
        let source = line
            .split("source=\"")
            .nth(1)
            .and_then(|s| s.split('"').next())
            .unwrap_or("");
        if !["github", "scheduler", "shared", "unknown"].contains(&source) {
            failures.push(format!("a metric label carries a raw path segment: {line}"));
        }
    }
    assert!(
        metrics.contains(r#"source="unknown""#) && metrics.contains("unknown_source"),
        "{metrics}"
    );
    bodies.push(metrics);

    // The job of the first delivery reaches the mock, so the worker's login and trigger
    // calls (API key, token) are in the logs too.
    let deadline = Instant::now() + Duration::from_secs(10);
    while mock.runs_created() == 0 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(
        mock.runs_created(),
        1,
        "the accepted push triggered its run"
    );
    assert!(
        !SERVICE_PANICKED.load(Ordering::SeqCst),
        "a service thread panicked"
    );
    app.stop().await;

    let logs = logs.lock().expect("log buffer").clone();
    println!(
        "searched {} bytes of TRACE logs and {} answers",
        logs.len(),
        bodies.len()
    );
    assert!(
        find(&logs, b"webhook refused"),
        "TRACE logs were captured ({} bytes)",
        logs.len()
    );
    for (form, bytes) in secret_forms() {
        if find(&logs, &bytes) {
            failures.push(format!("the logs contain the {form}"));
        }
        for body in &bodies {
            if find(body.as_bytes(), &bytes) {
                failures.push(format!("a response body contains the {form}: {body}"));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

// ---------------------------------------------------------------------------------------
// The database goes away.

/// A TCP proxy to the machine's Postgres that the test can cut and restore; while cut,
/// open connections are closed and new ones are closed on arrival.
struct Proxy {
    addr: SocketAddr,
    up: tokio::sync::watch::Sender<bool>,
}

impl Proxy {
    async fn start(upstream: SocketAddr) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind proxy");
        let addr = listener.local_addr().expect("proxy addr");
        let (up, watch) = tokio::sync::watch::channel(true);
        tokio::spawn(async move {
            loop {
                let Ok((mut inbound, _)) = listener.accept().await else {
                    return;
                };
                if !*watch.borrow() {
                    drop(inbound);
                    continue;
                }
                let mut down = watch.clone();
                tokio::spawn(async move {
                    let Ok(mut outbound) = TcpStream::connect(upstream).await else {
                        return;
                    };
                    tokio::select! {
                        _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound) => {}
                        _ = down.wait_for(|up| !*up) => {}
                    }
                });
            }
        });
        Proxy { addr, up }
    }

    fn cut(&self) {
        self.up.send_replace(false);
    }

    fn restore(&self) {
        self.up.send_replace(true);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn intake_refuses_while_the_database_is_down_and_both_halves_recover() {
    let _ = captured_logs();
    let Some(db) = TestDb::new(Backend::Postgres).await else {
        return;
    };
    let proxy = Proxy::start("127.0.0.1:5432".parse().expect("address")).await;
    let mut proxied = db.shared();
    proxied.url = db.url.replace("127.0.0.1:5432", &proxy.addr.to_string());
    let mock = MockZenml::start(API_KEY).await;
    let config = format!(
        "{}\n[database]\nacquire_timeout = \"1s\"\n",
        worker_config(&mock.url(), "2s", "")
    );
    let app = spawn_app_on(proxied, &config).await;
    let api = Zenhook::new(format!("http://{}", app.addr));
    api.create_rule("db-down", json!({"tags": ["db-down"]}))
        .await;

    // Load: four senders, each request with its own delivery id, every answer timed.
    type Answer = (Instant, Instant, u16);
    let answers: Arc<Mutex<Vec<Answer>>> = Arc::default();
    let stop = Arc::new(AtomicBool::new(false));
    let next = Arc::new(AtomicUsize::new(0));
    let mut senders = Vec::new();
    for _ in 0..4 {
        let (api, answers, stop, next) = (api.clone(), answers.clone(), stop.clone(), next.clone());
        senders.push(tokio::spawn(async move {
            while !stop.load(Ordering::SeqCst) {
                let id = format!("db-down-{}", next.fetch_add(1, Ordering::SeqCst));
                let started = Instant::now();
                let status = api.try_push(&id).await.map(|(s, _)| s).unwrap_or(0);
                answers
                    .lock()
                    .unwrap()
                    .push((started, Instant::now(), status));
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        }));
    }
    tokio::time::sleep(Duration::from_millis(700)).await;
    proxy.cut();
    let cut_at = Instant::now();
    tokio::time::sleep(Duration::from_secs(3)).await;
    proxy.restore();
    let restored_at = Instant::now();

    // Intake recovers on its own.
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut recovered = None;
    while Instant::now() < deadline {
        let accepted_after = answers
            .lock()
            .unwrap()
            .iter()
            .any(|(started, _, status)| *started > restored_at && *status == 202);
        if accepted_after {
            recovered = Some(restored_at.elapsed());
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    stop.store(true, Ordering::SeqCst);
    for sender in senders {
        sender.await.expect("sender");
    }
    let answers = answers.lock().unwrap().clone();
    let accepted_before = answers
        .iter()
        .filter(|(_, end, s)| *s == 202 && *end < cut_at)
        .count();
    assert!(
        accepted_before > 0,
        "the load ran before the cut: {answers:?}"
    );
    // Whatever started once the cut had closed the connections and ended before the
    // restore must be refused.
    let during: Vec<&Answer> = answers
        .iter()
        .filter(|(started, ended, _)| {
            *started > cut_at + Duration::from_millis(200) && *ended < restored_at
        })
        .collect();
    assert!(!during.is_empty(), "requests were answered while down");
    for (_, _, status) in &during {
        assert_eq!(*status, 503, "while the database is down: never 202");
    }
    if recovered.is_none() {
        let logs = captured_logs();
        let logs = String::from_utf8_lossy(&logs.lock().unwrap()).into_owned();
        let last = logs
            .lines()
            .rev()
            .find(|l| l.contains("delivery not stored"));
        panic!("no 202 within 20 s of the restore; the last refusal: {last:?}");
    }
    println!(
        "{accepted_before} accepted before the cut, {} refused while down, first 202 {:?} after the restore",
        during.len(),
        recovered
    );

    // Every 202 is stored.
    let store = db.store().await;
    assert!(
        store.count_deliveries().await.expect("count") as usize
            >= answers.iter().filter(|(_, _, s)| *s == 202).count()
    );

    // The worker recovers too: a delivery sent now gets its run.
    let job = api
        .push_and_settle("db-down-after", Duration::from_secs(20))
        .await;
    assert_eq!(job["status"], "succeeded", "{job:#}");
    let tag = job["tag"].as_str().expect("tag");
    assert_eq!(mock.runs_tagged(tag).len(), 1);
    app.stop().await;
}

// ---------------------------------------------------------------------------------------
// Crashes of the real binary.

/// `zenhook serve` as a child process on a fixed port.
struct Process {
    child: Child,
}

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

async fn start_binary(dir: &Path, config: &Path, db_url: &str, port: u16, run: usize) -> Process {
    let log = std::fs::File::create(dir.join(format!("zenhook-{run}.log"))).expect("log file");
    let child = Command::new(env!("CARGO_BIN_EXE_zenhook"))
        .arg("serve")
        .arg("--config")
        .arg(config)
        .env("ZENHOOK__DATABASE__URL", db_url)
        .env_remove("ZENHOOK_FAILPOINTS")
        .env_remove("RUST_LOG")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .expect("start zenhook");
    let mut process = Process { child };
    let client = reqwest::Client::new();
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let ready = client
            .get(format!("http://127.0.0.1:{port}/readyz"))
            .send()
            .await
            .map(|r| r.status().is_success())
            .unwrap_or(false);
        if ready {
            return process;
        }
        if let Ok(Some(status)) = process.child.try_wait() {
            let log = std::fs::read_to_string(dir.join(format!("zenhook-{run}.log")));
            panic!("zenhook exited with {status}: {log:?}");
        }
        assert!(Instant::now() < deadline, "zenhook not ready within 15 s");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_at_random_moments_loses_no_accepted_delivery_and_doubles_no_run() {
    const DELIVERIES: usize = 300;
    const KILLS: usize = 10;
    let seed = seed();
    let mut rng = StdRng::seed_from_u64(seed);
    let dir = tempfile::tempdir().expect("temp dir");
    let db_url = format!("sqlite://{}", dir.path().join("zenhook.db").display());
    let mock = MockZenml::start(API_KEY).await;
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port();
    let config = dir.path().join("zenhook.toml");
    let mut text = worker_config(&mock.url(), "1s", "");
    text.push_str(&format!("\n[server]\nlisten = \"127.0.0.1:{port}\"\n"));
    text = text.replace("lease = \"3s\"", "lease = \"2s\"");
    std::fs::File::create(&config)
        .and_then(|mut f| f.write_all(text.as_bytes()))
        .expect("config");
    let started = Instant::now();
    let mut runs = 0;
    let mut process = start_binary(dir.path(), &config, &db_url, port, runs).await;
    let api = Zenhook::new(format!("http://127.0.0.1:{port}"));
    api.create_rule("crash", json!({"tags": ["crash"]})).await;

    // Senders retry until answered 202 (or 200 duplicate: an earlier try was committed
    // though its answer was lost), as GitHub redelivers.
    let accepted: Arc<Mutex<Vec<(String, String)>>> = Arc::default();
    let next = Arc::new(AtomicUsize::new(0));
    let mut senders = Vec::new();
    for _ in 0..4 {
        let (accepted, next) = (accepted.clone(), next.clone());
        let api = Zenhook {
            base: api.base.clone(),
            client: reqwest::Client::builder()
                .timeout(Duration::from_secs(3))
                .build()
                .expect("client"),
        };
        senders.push(tokio::spawn(async move {
            let deadline = Instant::now() + Duration::from_secs(25);
            loop {
                let i = next.fetch_add(1, Ordering::SeqCst);
                if i >= DELIVERIES {
                    return;
                }
                let id = format!("crash-{i}");
                loop {
                    assert!(Instant::now() < deadline, "{id} never answered");
                    if let Ok((status, answer)) = api.try_push(&id).await {
                        if status == 202 || status == 200 {
                            let delivery = answer["delivery_id"].as_str().unwrap_or("").to_owned();
                            accepted.lock().unwrap().push((id, delivery));
                            break;
                        }
                    }
                    tokio::time::sleep(Duration::from_millis(30)).await;
                }
                // A steady pace, so the kills land among the deliveries.
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        }));
    }

    // Kill and restart while they send: at random points of the run (after a random number
    // of accepted deliveries, then a random few milliseconds), whatever the machine's speed.
    let mut thresholds: Vec<usize> = (0..KILLS)
        .map(|_| rng.gen_range(10..DELIVERIES - 10))
        .collect();
    thresholds.sort_unstable();
    let mut kills = 0;
    for threshold in thresholds {
        while accepted.lock().unwrap().len() < threshold && !senders.iter().all(|s| s.is_finished())
        {
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
        tokio::time::sleep(Duration::from_millis(rng.gen_range(0..20))).await;
        process.child.kill().expect("SIGKILL");
        process.child.wait().expect("reaped");
        kills += 1;
        runs += 1;
        process = start_binary(dir.path(), &config, &db_url, port, runs).await;
    }
    for sender in senders {
        sender.await.expect("sender");
    }
    println!("{kills} kills in {:?}", started.elapsed());

    // Every accepted delivery exists, and each job ends with exactly one run.
    let accepted = accepted.lock().unwrap().clone();
    assert_eq!(accepted.len(), DELIVERIES);
    let store = zenhook::store::connect(
        &db_url,
        &zenhook::store::PoolSettings {
            max_connections: 2,
            acquire_timeout: Duration::from_secs(5),
        },
    )
    .await
    .expect("open the database");
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut pending = accepted.clone();
    while !pending.is_empty() {
        let mut still = Vec::new();
        for (id, delivery) in pending {
            let uuid: uuid::Uuid = delivery.parse().expect("a delivery id");
            let row = store.get_delivery(uuid).await.expect("read");
            let row = row.unwrap_or_else(|| panic!("{id} was answered 2xx but is not stored"));
            assert_eq!(row.sender_delivery_id.as_deref(), Some(id.as_str()));
            let jobs = store.jobs_of_delivery(uuid).await.expect("jobs");
            assert_eq!(jobs.len(), 1, "{id}: one rule, one job");
            if !settled(&jobs[0].status) {
                still.push((id, delivery));
            }
        }
        pending = still;
        if !pending.is_empty() {
            assert!(
                Instant::now() < deadline,
                "jobs not settled: {:?}",
                &pending[..pending.len().min(5)]
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
    let mut jobs = 0;
    for (id, delivery) in &accepted {
        for job in store
            .jobs_of_delivery(delivery.parse().expect("uuid"))
            .await
            .expect("jobs")
        {
            jobs += 1;
            assert_eq!(job.status, "succeeded", "{id}: {job:?}");
            let tag = zenhook::worker::job_tag(&job);
            let tagged = mock.runs_tagged(&tag);
            assert_eq!(tagged.len(), 1, "{id}: exactly one run, found {tagged:#?}");
            assert_eq!(job.run_id.as_deref(), Some(tagged[0].id.as_str()));
        }
    }
    assert_eq!(mock.runs_created(), jobs, "no run without its job");
    assert_eq!(
        store.count_deliveries().await.expect("count") as usize,
        DELIVERIES
    );
    drop(process);
    assert!(
        started.elapsed() < Duration::from_secs(60),
        "took {:?}",
        started.elapsed()
    );
}

// ---------------------------------------------------------------------------------------
// A ZenML that fails, is busy and stalls.

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flaky_zenml_leaves_every_job_succeeded_or_dead_and_never_two_runs() {
    const JOBS: usize = 40;
    let _ = captured_logs();
    let seed = seed();
    let mut rng = StdRng::seed_from_u64(seed);
    let mock = MockZenml::start(API_KEY).await;
    let error = |class: &str, message: &str| json!({"detail": [class, message]}).to_string();
    let mut faults = Vec::new();
    for _ in 0..JOBS * 6 {
        let roll: f64 = rng.gen();
        faults.push(if roll < 0.15 {
            Fault::Status(503, error("ServiceUnavailable", "try again"), None)
        } else if roll < 0.30 {
            Fault::Status(
                429,
                error(
                    "MaxConcurrentTasksError",
                    "Maximum number of concurrent tasks reached.",
                ),
                None,
            )
        } else if roll < 0.36 {
            // Past the 1 s timeout: the run is made, the answer comes too late.
            Fault::Delay(Duration::from_millis(1_300))
        } else {
            Fault::Delay(Duration::ZERO)
        });
    }
    mock.push_faults(faults);
    let app = spawn_app(Backend::Sqlite, &worker_config(&mock.url(), "1s", ""))
        .await
        .expect("sqlite");
    let api = Zenhook::new(format!("http://{}", app.addr));
    api.create_rule("flaky", json!({"tags": ["flaky"]})).await;
    for i in 0..JOBS {
        api.push(&format!("flaky-{i}")).await;
    }
    let store = app.store().await;
    let deadline = Instant::now() + Duration::from_secs(40);
    let jobs = loop {
        let jobs = store.list_jobs(None, None, 1000).await.expect("jobs");
        if jobs.len() == JOBS && jobs.iter().all(|j| settled(&j.status)) {
            break jobs;
        }
        assert!(
            Instant::now() < deadline,
            "not settled: {:?}",
            jobs.iter()
                .filter(|j| !settled(&j.status))
                .map(|j| (&j.id, &j.status, &j.last_error))
                .collect::<Vec<_>>()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let mut succeeded = 0;
    for job in &jobs {
        let tagged = mock.runs_tagged(&zenhook::worker::job_tag(job));
        assert!(tagged.len() <= 1, "two runs for {}: {tagged:#?}", job.id);
        match job.status.as_str() {
            "succeeded" => {
                succeeded += 1;
                assert_eq!(tagged.len(), 1, "{job:?}");
                assert_eq!(job.run_id.as_deref(), Some(tagged[0].id.as_str()));
            }
            "dead" => assert!(
                job.last_error.as_deref().is_some_and(|e| !e.is_empty()),
                "a dead job says why: {job:?}"
            ),
            other => panic!("job {} ended {other}", job.id),
        }
    }
    println!(
        "{succeeded}/{JOBS} succeeded, {} trigger calls, {} runs",
        mock.trigger_calls(),
        mock.runs_created()
    );
    let tagged_runs: usize = jobs
        .iter()
        .map(|job| mock.runs_tagged(&zenhook::worker::job_tag(job)).len())
        .sum();
    assert_eq!(mock.runs_created(), tagged_runs, "no run outside its job");
    assert!(succeeded > 0);
    app.stop().await;
}

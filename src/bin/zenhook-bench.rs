//! zenhook-bench: the pinned benchmark, in one command.
//!
//! ```sh
//! cargo run --release --bin zenhook-bench -- [--seconds 5] [--backends sqlite,postgres]
//! ```
//!
//! For each backend it starts zenhook in-process (a child process per backend, so the
//! resident memory of one does not carry over to the other) with one GitHub source, ten
//! enabled rules of which one matches, and a mock ZenML that answers at once. It measures
//! the trigger latency on an idle service, intake at 1, 16 and 64 connections (a 7.6 KB
//! signed push, each request with its own X-GitHub-Delivery), checks that every 2xx answer
//! is a stored delivery, then the drain rate from a pre-filled queue. It writes the table
//! to BENCHMARKS.md. Postgres gets a database of its own (`zenhook_bench_<random>`),
//! dropped afterwards.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use axum::extract::State;
use axum::routing::{get, post};
use axum::{Json, Router};
use clap::Parser;
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use sha2::Sha256;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;
use zenhook::config::Settings;
use zenhook::store::{
    Committed, Dedupe, DeliveryOutcome, NewDelivery, NewJob, PoolSettings, Store,
};

const SECRET: &str = "zenhook-bench-secret";
const ADMIN_TOKEN: &str = "zenhook-bench-admin";
const API_KEY: &str = "ZENKEY_bench";
const TEMPLATE: &str = "7b5a3f9e-0c4e-4a55-9e0d-2f7c1c3b8a10";
/// The pinned payload size.
const PAYLOAD_BYTES: usize = 7_600;
const TRIGGER_SAMPLES: usize = 30;

#[derive(Parser, Debug)]
#[command(about = "zenhook's pinned benchmark; writes BENCHMARKS.md")]
struct Args {
    /// Length of each load phase.
    #[arg(long, default_value_t = 5.0)]
    seconds: f64,
    /// Backends to run, in order.
    #[arg(long, value_delimiter = ',', default_value = "sqlite,postgres")]
    backends: Vec<String>,
    /// Connection counts of the intake phases.
    #[arg(long, value_delimiter = ',', default_value = "1,16,64")]
    connections: Vec<usize>,
    /// A Postgres server where the benchmark may create and drop a database.
    #[arg(long, default_value = "postgres://postgres@127.0.0.1:5432/postgres")]
    postgres: String,
    /// Jobs queued before the drain phase.
    #[arg(long, default_value_t = 20_000)]
    drain_jobs: usize,
    /// Where the markdown goes.
    #[arg(long, default_value = "BENCHMARKS.md")]
    out: PathBuf,
    /// Internal: run one backend in this process and print its result as JSON.
    #[arg(long, hide = true)]
    child: Option<String>,
}

#[derive(Debug, Serialize, Deserialize)]
struct Phase {
    connections: usize,
    requests: u64,
    ok: u64,
    other: u64,
    seconds: f64,
    per_second: f64,
    p50_ms: f64,
    p99_ms: f64,
    /// Group commits during the phase and their mean size.
    commits: f64,
    mean_batch: f64,
    /// Jobs the worker triggered during the phase.
    triggered: u64,
}

#[derive(Debug, Serialize, Deserialize)]
struct BackendResult {
    backend: String,
    durability: String,
    rss_idle_mb: f64,
    rss_loaded_mb: f64,
    trigger_p50_ms: f64,
    trigger_p99_ms: f64,
    phases: Vec<Phase>,
    ok_answers: u64,
    stored: i64,
    drain_jobs: u64,
    drain_seconds: f64,
    drain_per_second: f64,
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    match &args.child {
        Some(backend) => {
            let result = runtime.block_on(run_backend(&args, backend))?;
            println!("{}", serde_json::to_string(&result)?);
            Ok(())
        }
        None => parent(&args),
    }
}

/// Runs each backend in a child process and writes the report.
fn parent(args: &Args) -> anyhow::Result<()> {
    let exe = std::env::current_exe()?;
    let mut results = Vec::new();
    for backend in &args.backends {
        eprintln!("zenhook-bench: {backend} ...");
        let output = std::process::Command::new(&exe)
            .args(["--child", backend])
            .args(["--seconds", &args.seconds.to_string()])
            .args(["--postgres", &args.postgres])
            .args(["--drain-jobs", &args.drain_jobs.to_string()])
            .arg("--connections")
            .arg(
                args.connections
                    .iter()
                    .map(usize::to_string)
                    .collect::<Vec<_>>()
                    .join(","),
            )
            .stderr(std::process::Stdio::inherit())
            .output()
            .with_context(|| format!("cannot run the {backend} benchmark"))?;
        if !output.status.success() {
            bail!("the {backend} benchmark failed ({})", output.status);
        }
        let line = String::from_utf8_lossy(&output.stdout);
        let result: BackendResult = serde_json::from_str(line.trim())
            .with_context(|| format!("the {backend} benchmark printed no result"))?;
        results.push(result);
    }
    let report = report(args, &results);
    std::fs::write(&args.out, &report)
        .with_context(|| format!("cannot write {}", args.out.display()))?;
    print!("{report}");
    Ok(())
}

// ---------------------------------------------------------------------------------------
// One backend.

async fn run_backend(args: &Args, backend: &str) -> anyhow::Result<BackendResult> {
    let db = BenchDb::create(backend, &args.postgres).await?;
    let result = measure(args, backend, &db).await;
    db.drop_it().await;
    result
}

async fn measure(args: &Args, backend: &str, db: &BenchDb) -> anyhow::Result<BackendResult> {
    let mock = MockZenml::start().await?;
    let dir = scratch_dir()?;
    let body = payload()?;
    let signature = github_signature(&body);
    let phase_length = Duration::from_secs_f64(args.seconds);

    let service = Service::start(&dir, &db.url, &mock.url()).await?;
    create_rules(service.addr).await?;
    tokio::time::sleep(Duration::from_secs(1)).await;
    let rss_idle_mb = rss_mb();
    let mut ok_answers = 0u64;

    // Trigger latency: one webhook at a time on the idle service.
    let mut trigger = Vec::with_capacity(TRIGGER_SAMPLES);
    let mut conn = Conn::connect(service.addr).await?;
    let mut triggers = mock.subscribe();
    for i in 0..TRIGGER_SAMPLES {
        let request = webhook_request(&body, &signature, &format!("trigger-{i}"));
        conn.stream.write_all(&request).await?;
        let sent = Instant::now();
        let status = conn.read_response().await?;
        if !(200..300).contains(&status) {
            bail!("the trigger-latency webhook was answered {status}");
        }
        ok_answers += 1;
        let arrived = tokio::time::timeout(Duration::from_secs(10), triggers.recv())
            .await
            .context("the mock ZenML never saw the trigger")?
            .context("the mock stopped")?;
        trigger.push(arrived.saturating_duration_since(sent));
    }
    drop(triggers);
    mock.stop_reporting();
    let (trigger_p50_ms, trigger_p99_ms) = percentiles(&mut trigger);

    // Intake at each connection count, watching memory.
    let peak_rss = Arc::new(AtomicU64::new(0));
    let sampling = CancellationToken::new();
    let sampler = tokio::spawn(sample_rss(peak_rss.clone(), sampling.clone()));
    let mut phases = Vec::new();
    for &connections in &args.connections {
        let before = commit_stats(service.addr).await.unwrap_or_default();
        let triggered_before = mock.triggers();
        let phase = load(service.addr, connections, phase_length, &body, &signature).await?;
        let after = commit_stats(service.addr).await.unwrap_or_default();
        let commits = after.0 - before.0;
        let mean_batch = if commits > 0.0 {
            (after.1 - before.1) / commits
        } else {
            0.0
        };
        ok_answers += phase.ok;
        eprintln!(
            "  {backend} {connections:>2} connections: {:.0}/s p50 {:.2} ms p99 {:.2} ms \
             ({} ok, {} other), {commits} commits of {mean_batch:.1}",
            phase.per_second, phase.p50_ms, phase.p99_ms, phase.ok, phase.other
        );
        phases.push(Phase {
            commits,
            mean_batch,
            triggered: mock.triggers() - triggered_before,
            ..phase
        });
    }
    sampling.cancel();
    let _ = sampler.await;
    let rss_loaded_mb = peak_rss.load(Ordering::Relaxed) as f64 / 1024.0;
    service.stop().await?;

    let store = open(&db.url).await?;
    let durability = store.durability().await?;
    let stored = store.count_deliveries().await?;
    if stored != ok_answers as i64 {
        eprintln!("  MISMATCH: {ok_answers} 2xx answers but {stored} stored deliveries");
    }

    // Drain: top the queue up to `drain_jobs`, then let a fresh service empty it.
    let waiting = queued(store.as_ref()).await?;
    let wanted = args.drain_jobs as i64;
    if waiting < wanted {
        prefill(store.as_ref(), (wanted - waiting) as usize, &body).await?;
    }
    let backlog = queued(store.as_ref()).await?.max(0) as u64;
    drop(store);
    let before = mock.triggers();
    let service = Service::start(&dir, &db.url, &mock.url()).await?;
    let started = Instant::now();
    let limit = phase_length.max(Duration::from_secs(1));
    while mock.triggers() - before < backlog && started.elapsed() < limit {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let drain_seconds = started.elapsed().as_secs_f64();
    let drain_jobs = mock.triggers() - before;
    service.stop().await?;
    let _ = std::fs::remove_dir_all(&dir);

    Ok(BackendResult {
        backend: backend.to_owned(),
        durability,
        rss_idle_mb,
        rss_loaded_mb,
        trigger_p50_ms,
        trigger_p99_ms,
        phases,
        ok_answers,
        stored,
        drain_jobs,
        drain_seconds,
        drain_per_second: drain_jobs as f64 / drain_seconds,
    })
}

async fn open(url: &str) -> anyhow::Result<Arc<dyn Store>> {
    let pool = PoolSettings {
        max_connections: 2,
        acquire_timeout: Duration::from_secs(10),
    };
    Ok(zenhook::store::connect(url, &pool).await?)
}

async fn queued(store: &dyn Store) -> anyhow::Result<i64> {
    Ok(store
        .job_counts()
        .await?
        .iter()
        .filter(|(status, _)| status == "queued")
        .map(|(_, n)| *n)
        .sum())
}

/// Commits `count` deliveries of one job each, straight into the store.
async fn prefill(store: &dyn Store, count: usize, body: &[u8]) -> anyhow::Result<()> {
    let rule = store
        .find_rule("bench-match")
        .await?
        .context("the matching rule is missing")?;
    let rule_id: Uuid = rule.id.parse()?;
    let now = zenhook::store::now_ms();
    let mut left = count;
    while left > 0 {
        let batch: Vec<NewDelivery> = (0..left.min(500))
            .map(|_| NewDelivery {
                id: Uuid::new_v4(),
                source: "github".into(),
                sender_delivery_id: Some(Uuid::new_v4().to_string()),
                event_type: Some("push".into()),
                event_kind: "push".into(),
                outcome: DeliveryOutcome::Matched,
                body: body.to_vec(),
                body_sha256: String::new(),
                headers: "{}".into(),
                event: "{}".into(),
                trace: "[]".into(),
                received_at_ms: now,
                dedupe: Dedupe::DeliveryId,
                jobs: vec![NewJob {
                    id: Uuid::new_v4(),
                    rule_id,
                    rule_version: rule.version,
                    rule_name: rule.name.clone(),
                    idempotency_key: Uuid::new_v4(),
                    target: "default".into(),
                    target_kind: "template",
                    target_id: TEMPLATE.parse().expect("a uuid"),
                    run_config: r#"{"tags":["bench"]}"#.into(),
                    debounce: None,
                    concurrency: None,
                    ordered: false,
                }],
            })
            .collect();
        left -= batch.len();
        let committed = store.commit_deliveries(&batch).await?;
        if committed
            .iter()
            .any(|c| !matches!(c, Committed::Accepted { .. }))
        {
            bail!("a prefilled delivery was not accepted");
        }
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------
// The database.

struct BenchDb {
    url: String,
    admin_url: Option<String>,
    name: String,
    dir: Option<PathBuf>,
}

impl BenchDb {
    async fn create(backend: &str, postgres: &str) -> anyhow::Result<BenchDb> {
        match backend {
            "sqlite" => {
                let dir = scratch_dir()?;
                Ok(BenchDb {
                    url: format!("sqlite://{}", dir.join("zenhook.db").display()),
                    admin_url: None,
                    name: String::new(),
                    dir: Some(dir),
                })
            }
            "postgres" => {
                let name = format!("zenhook_bench_{}", Uuid::new_v4().simple());
                let pool = sqlx::PgPool::connect(postgres)
                    .await
                    .with_context(|| format!("cannot reach Postgres at {postgres}"))?;
                sqlx::query(&format!("CREATE DATABASE \"{name}\""))
                    .execute(&pool)
                    .await?;
                pool.close().await;
                let mut url = reqwest::Url::parse(postgres)?;
                url.set_path(&format!("/{name}"));
                Ok(BenchDb {
                    url: url.to_string(),
                    admin_url: Some(postgres.to_owned()),
                    name,
                    dir: None,
                })
            }
            other => bail!("unknown backend {other:?}: sqlite or postgres"),
        }
    }

    async fn drop_it(&self) {
        if let Some(admin) = &self.admin_url {
            if let Ok(pool) = sqlx::PgPool::connect(admin).await {
                let drop = format!("DROP DATABASE IF EXISTS \"{}\" WITH (FORCE)", self.name);
                if let Err(error) = sqlx::query(&drop).execute(&pool).await {
                    eprintln!("zenhook-bench: cannot drop {}: {error}", self.name);
                }
                pool.close().await;
            }
        }
        if let Some(dir) = &self.dir {
            let _ = std::fs::remove_dir_all(dir);
        }
    }
}

fn scratch_dir() -> anyhow::Result<PathBuf> {
    let dir = std::env::temp_dir().join(format!("zenhook-bench-{}", Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir)?;
    Ok(dir)
}

// ---------------------------------------------------------------------------------------
// zenhook in this process.

struct Service {
    addr: SocketAddr,
    shutdown: CancellationToken,
    handle: tokio::task::JoinHandle<anyhow::Result<()>>,
}

impl Service {
    async fn start(dir: &Path, db_url: &str, zenml_url: &str) -> anyhow::Result<Service> {
        let config = format!(
            r#"
[sources.github]
kind = "github"
secrets = ["{SECRET}"]

[admin]
tokens = ["{ADMIN_TOKEN}"]

[targets.default]
url = "{zenml_url}"
api_key = "{API_KEY}"
"#
        );
        let path = dir.join("zenhook.toml");
        std::fs::write(&path, config)?;
        let env = vec![("ZENHOOK__DATABASE__URL".to_owned(), db_url.to_owned())];
        let settings = Settings::load_with_env(Some(&path), env)?;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let shutdown = CancellationToken::new();
        let handle = tokio::spawn(zenhook::run(settings, listener, shutdown.clone()));
        let client = reqwest::Client::new();
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let ready = client
                .get(format!("http://{addr}/readyz"))
                .send()
                .await
                .map(|r| r.status().is_success())
                .unwrap_or(false);
            if ready {
                return Ok(Service {
                    addr,
                    shutdown,
                    handle,
                });
            }
            if handle.is_finished() || Instant::now() > deadline {
                bail!("zenhook did not become ready");
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    async fn stop(self) -> anyhow::Result<()> {
        self.shutdown.cancel();
        self.handle.await??;
        Ok(())
    }
}

/// Ten enabled rules; only `bench-match` matches the push (branch master).
async fn create_rules(addr: SocketAddr) -> anyhow::Result<()> {
    let client = reqwest::Client::new();
    for i in 0..10 {
        let (name, branches) = if i == 9 {
            ("bench-match".to_owned(), json!(["master"]))
        } else {
            (
                format!("bench-other-{i}"),
                json!([format!("release/{i}/**")]),
            )
        };
        let rule = json!({
            "name": name,
            "sources": ["github"],
            "events": ["push"],
            "branches": branches,
            "target": "default",
            "template_id": TEMPLATE,
            "run_config": {"run_name": "bench-{{ event.after[:8] }}-{{ event.branch }}", "tags": ["bench"]},
        });
        let response = client
            .post(format!("http://{addr}/api/v1/rules"))
            .bearer_auth(ADMIN_TOKEN)
            .json(&rule)
            .send()
            .await?;
        if response.status().as_u16() != 201 {
            bail!("cannot create a rule: {}", response.text().await?);
        }
    }
    Ok(())
}

/// `(count, sum)` of the commit batch size histogram, from /metrics.
async fn commit_stats(addr: SocketAddr) -> Option<(f64, f64)> {
    let text = reqwest::get(format!("http://{addr}/metrics"))
        .await
        .ok()?
        .text()
        .await
        .ok()?;
    let value = |name: &str| {
        text.lines()
            .find(|line| line.starts_with(name))
            .and_then(|line| line.rsplit(' ').next())
            .and_then(|v| v.parse::<f64>().ok())
    };
    Some((
        value("zenhook_commit_batch_size_count")?,
        value("zenhook_commit_batch_size_sum")?,
    ))
}

// ---------------------------------------------------------------------------------------
// The workload.

/// GitHub's push example, compact, with one commit whose message pads it to 7.6 KB.
fn payload() -> anyhow::Result<Vec<u8>> {
    let fixture =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/fixtures/webhooks/github/push.json");
    let mut push: Value = serde_json::from_slice(
        &std::fs::read(&fixture).with_context(|| format!("cannot read {}", fixture.display()))?,
    )?;
    let commit = |message: String| {
        json!({
            "id": "6113728f27ae82c7b1a177c8d03f9e96e0adf246",
            "tree_id": "4b825dc642cb6eb9a060e54bf8d69288fbee4904",
            "distinct": true,
            "message": message,
            "timestamp": "2019-05-15T15:20:41Z",
            "url": "https://github.com/Codertocat/Hello-World/commit/6113728f27ae82c7b1a177c8d03f9e96e0adf246",
            "author": {"name": "Codertocat", "email": "21031067+Codertocat@users.noreply.github.com", "username": "Codertocat"},
            "committer": {"name": "GitHub", "email": "noreply@github.com", "username": "web-flow"},
            "added": ["models/train.py"], "removed": [], "modified": ["README.md", "models/config.yaml"]
        })
    };
    push["commits"] = json!([commit(String::new())]);
    let bare = serde_json::to_vec(&push)?.len();
    if bare > PAYLOAD_BYTES {
        return Ok(serde_json::to_vec(&push)?);
    }
    push["commits"] = json!([commit("x".repeat(PAYLOAD_BYTES - bare))]);
    Ok(serde_json::to_vec(&push)?)
}

fn github_signature(body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(SECRET.as_bytes()).expect("any key length");
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

fn webhook_request(body: &[u8], signature: &str, delivery: &str) -> Vec<u8> {
    let mut request = format!(
        "POST /hooks/github HTTP/1.1\r\nHost: bench\r\nContent-Type: application/json\r\n\
         User-Agent: GitHub-Hookshot/bench\r\nX-GitHub-Event: push\r\n\
         X-GitHub-Delivery: {delivery}\r\nX-Hub-Signature-256: {signature}\r\n\
         Content-Length: {}\r\n\r\n",
        body.len()
    )
    .into_bytes();
    request.extend_from_slice(body);
    request
}

/// A keep-alive HTTP/1.1 connection that writes prepared requests and reads just
/// enough of each answer: far cheaper than a general client, so the load generator
/// leaves the cores to the service.
struct Conn {
    stream: TcpStream,
    buf: Vec<u8>,
}

impl Conn {
    async fn connect(addr: SocketAddr) -> anyhow::Result<Conn> {
        let stream = TcpStream::connect(addr).await?;
        stream.set_nodelay(true)?;
        Ok(Conn {
            stream,
            buf: Vec::with_capacity(4096),
        })
    }

    /// The status of the next answer, its body skipped.
    async fn read_response(&mut self) -> anyhow::Result<u16> {
        loop {
            if let Some(end) = self.buf.windows(4).position(|w| w == b"\r\n\r\n") {
                let head = std::str::from_utf8(&self.buf[..end])?;
                let status: u16 = head
                    .split(' ')
                    .nth(1)
                    .and_then(|s| s.parse().ok())
                    .context("no status line")?;
                let length: usize = head
                    .lines()
                    .find_map(|line| {
                        let (name, value) = line.split_once(':')?;
                        name.eq_ignore_ascii_case("content-length")
                            .then(|| value.trim().parse().ok())?
                    })
                    .unwrap_or(0);
                let total = end + 4 + length;
                while self.buf.len() < total {
                    self.fill().await?;
                }
                self.buf.drain(..total);
                return Ok(status);
            }
            self.fill().await?;
        }
    }

    async fn fill(&mut self) -> anyhow::Result<()> {
        let mut chunk = [0u8; 4096];
        let read = self.stream.read(&mut chunk).await?;
        if read == 0 {
            bail!("the connection closed");
        }
        self.buf.extend_from_slice(&chunk[..read]);
        Ok(())
    }
}

static NEXT_DELIVERY: AtomicU64 = AtomicU64::new(0);

/// `connections` loops sending webhooks back to back for `length`.
async fn load(
    addr: SocketAddr,
    connections: usize,
    length: Duration,
    body: &[u8],
    signature: &str,
) -> anyhow::Result<Phase> {
    let body: Arc<[u8]> = body.into();
    let signature: Arc<str> = signature.into();
    let started = Instant::now();
    let deadline = started + length;
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..connections {
        let body = body.clone();
        let signature = signature.clone();
        tasks.spawn(async move {
            let mut conn = Conn::connect(addr).await?;
            let mut latencies = Vec::new();
            let (mut ok, mut other) = (0u64, 0u64);
            while Instant::now() < deadline {
                let n = NEXT_DELIVERY.fetch_add(1, Ordering::Relaxed);
                let request = webhook_request(
                    &body,
                    &signature,
                    &format!("bench-{}-{n}", std::process::id()),
                );
                let sent = Instant::now();
                conn.stream.write_all(&request).await?;
                let status = conn.read_response().await?;
                latencies.push(sent.elapsed());
                if (200..300).contains(&status) {
                    ok += 1;
                } else {
                    other += 1;
                }
            }
            anyhow::Ok((latencies, ok, other))
        });
    }
    let mut latencies = Vec::new();
    let (mut ok, mut other) = (0, 0);
    while let Some(result) = tasks.join_next().await {
        let (mut mine, o, x) = result??;
        latencies.append(&mut mine);
        ok += o;
        other += x;
    }
    let seconds = started.elapsed().as_secs_f64();
    let requests = latencies.len() as u64;
    let (p50_ms, p99_ms) = percentiles(&mut latencies);
    Ok(Phase {
        connections,
        requests,
        ok,
        other,
        seconds,
        per_second: requests as f64 / seconds,
        p50_ms,
        p99_ms,
        commits: 0.0,
        mean_batch: 0.0,
        triggered: 0,
    })
}

fn percentiles(samples: &mut [Duration]) -> (f64, f64) {
    if samples.is_empty() {
        return (0.0, 0.0);
    }
    samples.sort_unstable();
    let at = |q: f64| {
        let index = ((samples.len() as f64 * q).ceil() as usize).clamp(1, samples.len()) - 1;
        samples[index].as_secs_f64() * 1000.0
    };
    (at(0.50), at(0.99))
}

// ---------------------------------------------------------------------------------------
// Memory.

/// VmRSS of this process, in MB.
fn rss_mb() -> f64 {
    rss_kb() as f64 / 1024.0
}

fn rss_kb() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|status| {
            status
                .lines()
                .find(|line| line.starts_with("VmRSS:"))
                .and_then(|line| line.split_whitespace().nth(1))
                .and_then(|kb| kb.parse().ok())
        })
        .unwrap_or(0)
}

async fn sample_rss(peak: Arc<AtomicU64>, stop: CancellationToken) {
    while !stop.is_cancelled() {
        peak.fetch_max(rss_kb(), Ordering::Relaxed);
        tokio::select! {
            _ = stop.cancelled() => {}
            _ = tokio::time::sleep(Duration::from_millis(100)) => {}
        }
    }
    peak.fetch_max(rss_kb(), Ordering::Relaxed);
}

// ---------------------------------------------------------------------------------------
// A ZenML that answers at once.

#[derive(Clone)]
struct MockZenml {
    addr: SocketAddr,
    state: Arc<MockState>,
}

struct MockState {
    triggers: AtomicU64,
    reporting: AtomicBool,
    arrivals: Mutex<Option<mpsc::UnboundedSender<Instant>>>,
}

impl MockZenml {
    async fn start() -> anyhow::Result<MockZenml> {
        let state = Arc::new(MockState {
            triggers: AtomicU64::new(0),
            reporting: AtomicBool::new(false),
            arrivals: Mutex::new(None),
        });
        let app = Router::new()
            .route("/api/v1/login", post(mock_login))
            .route("/api/v1/run_templates/{id}/runs", post(mock_trigger))
            .route("/api/v1/runs/{id}", get(mock_run))
            .with_state(state.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Ok(MockZenml { addr, state })
    }

    fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    fn triggers(&self) -> u64 {
        self.state.triggers.load(Ordering::Relaxed)
    }

    /// The arrival time of every trigger call from now on.
    fn subscribe(&self) -> mpsc::UnboundedReceiver<Instant> {
        let (tx, rx) = mpsc::unbounded_channel();
        *self.state.arrivals.lock().expect("mock state") = Some(tx);
        self.state.reporting.store(true, Ordering::Relaxed);
        rx
    }

    fn stop_reporting(&self) {
        self.state.reporting.store(false, Ordering::Relaxed);
        *self.state.arrivals.lock().expect("mock state") = None;
    }
}

async fn mock_login() -> Json<Value> {
    Json(json!({"access_token": "bench-token", "token_type": "bearer"}))
}

async fn mock_trigger(State(state): State<Arc<MockState>>) -> Json<Value> {
    let arrived = Instant::now();
    state.triggers.fetch_add(1, Ordering::Relaxed);
    if state.reporting.load(Ordering::Relaxed) {
        if let Some(tx) = state.arrivals.lock().expect("mock state").as_ref() {
            let _ = tx.send(arrived);
        }
    }
    let id = Uuid::new_v4();
    Json(
        json!({"id": id, "name": format!("bench-{}", id.simple()), "body": {"status": "initializing"}}),
    )
}

async fn mock_run(axum::extract::Path(id): axum::extract::Path<String>) -> Json<Value> {
    Json(
        json!({"id": id, "name": "bench", "body": {"status": "completed"}, "resources": {"tags": []}}),
    )
}

// ---------------------------------------------------------------------------------------
// The report.

fn machine() -> (String, String, String) {
    let cores = std::thread::available_parallelism()
        .map(|n| n.get().to_string())
        .unwrap_or_else(|_| "?".into());
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|info| {
            info.lines()
                .find(|line| line.starts_with("model name"))
                .and_then(|line| line.split_once(':'))
                .map(|(_, model)| model.trim().to_owned())
        })
        .unwrap_or_else(|| "unknown".into());
    let memory = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|info| {
            info.lines()
                .find(|line| line.starts_with("MemTotal:"))
                .and_then(|line| line.split_whitespace().nth(1))
                .and_then(|kb| kb.parse::<f64>().ok())
        })
        .map(|kb| format!("{:.1} GiB", kb / 1024.0 / 1024.0))
        .unwrap_or_else(|| "unknown".into());
    (cores, cpu, memory)
}

/// The median time of a small write followed by fdatasync in the temp directory: what
/// one durable commit costs at least on this disk.
fn fsync_ms() -> Option<f64> {
    use std::io::Write;
    let path = std::env::temp_dir().join(format!("zenhook-bench-fsync-{}", Uuid::new_v4()));
    let mut file = std::fs::File::create(&path).ok()?;
    let mut samples = Vec::new();
    for _ in 0..50 {
        let started = Instant::now();
        file.write_all(&[0u8; 4096]).ok()?;
        file.sync_data().ok()?;
        samples.push(started.elapsed());
    }
    let _ = std::fs::remove_file(&path);
    Some(percentiles(&mut samples).0)
}

fn webhook_binary() -> Option<String> {
    let output = std::process::Command::new("which")
        .arg("webhook")
        .output()
        .ok()?;
    output
        .status
        .success()
        .then(|| String::from_utf8_lossy(&output.stdout).trim().to_owned())
}

fn goal(met: bool) -> &'static str {
    if met {
        "met"
    } else {
        "**missed**"
    }
}

fn report(args: &Args, results: &[BackendResult]) -> String {
    use std::fmt::Write;
    let (cores, cpu, memory) = machine();
    let mut out = String::new();
    let _ = writeln!(out, "# Benchmarks\n");
    let _ = writeln!(
        out,
        "Generated by `cargo run --release --bin zenhook-bench -- --seconds {}` \
         (see README, \"Benchmark\"). Do not edit by hand; rerun it.\n",
        args.seconds
    );
    let _ = writeln!(out, "## Machine\n");
    let _ = writeln!(out, "- cores (`nproc`): {cores}");
    let _ = writeln!(out, "- CPU: {cpu}");
    let _ = writeln!(out, "- memory: {memory}");
    if let Some(ms) = fsync_ms() {
        let _ = writeln!(
            out,
            "- a 4 KiB write + fdatasync in the temp directory: {ms:.2} ms (median of 50)"
        );
    }
    let _ = writeln!(
        out,
        "- load generator, mock ZenML and zenhook share the process and the cores\n"
    );
    let _ = writeln!(out, "## Workload\n");
    let _ = writeln!(
        out,
        "A {PAYLOAD_BYTES}-byte signed GitHub push (the octokit example, compact, with one \
         commit), one source, ten enabled rules of which one matches: one job row and a \
         ten-entry trace per delivery, each request with its own `X-GitHub-Delivery`. \
         Intake phases last {} s each on keep-alive connections; the worker runs as \
         deployed, triggering every job on a mock ZenML that answers at once. Trigger \
         latency: from the last byte of a webhook to the mock receiving the trigger call, \
         {TRIGGER_SAMPLES} webhooks one at a time on an idle service. Drain: a fresh \
         service empties a queue of at least {} jobs (or runs for {} s).\n",
        args.seconds, args.drain_jobs, args.seconds
    );
    let _ = writeln!(out, "## Results\n");
    let _ = writeln!(
        out,
        "| backend | durability | connections | requests/s | p50 ms | p99 ms | 2xx | other | commits | mean batch | jobs triggered meanwhile |"
    );
    let _ = writeln!(
        out,
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
    );
    for result in results {
        for phase in &result.phases {
            let _ = writeln!(
                out,
                "| {} | {} | {} | {:.0} | {:.2} | {:.2} | {} | {} | {:.0} | {:.1} | {} |",
                result.backend,
                result.durability,
                phase.connections,
                phase.per_second,
                phase.p50_ms,
                phase.p99_ms,
                phase.ok,
                phase.other,
                phase.commits,
                phase.mean_batch,
                phase.triggered
            );
        }
    }
    let _ = writeln!(out);
    let _ = writeln!(
        out,
        "| backend | stored = 2xx | RSS idle MB | RSS loaded MB | trigger p50 ms | trigger p99 ms | drain jobs/s |"
    );
    let _ = writeln!(out, "|---|---|---:|---:|---:|---:|---:|");
    for r in results {
        let _ =
            writeln!(
            out,
            "| {} | {} ({} / {}) | {:.1} | {:.1} | {:.2} | {:.2} | {:.0} ({} jobs in {:.1} s) |",
            r.backend,
            if r.stored == r.ok_answers as i64 { "yes" } else { "**NO**" },
            r.stored,
            r.ok_answers,
            r.rss_idle_mb,
            r.rss_loaded_mb,
            r.trigger_p50_ms,
            r.trigger_p99_ms,
            r.drain_per_second,
            r.drain_jobs,
            r.drain_seconds
        );
    }
    let _ = writeln!(out);
    match webhook_binary() {
        Some(path) => {
            let _ = writeln!(
                out,
                "Debian's `webhook` is installed at {path}; it is not driven by this version of the benchmark.\n"
            );
        }
        None => {
            let _ = writeln!(
                out,
                "Debian's `webhook` binary is not installed on this machine (`which webhook` finds nothing), so there is no side-by-side column.\n"
            );
        }
    }
    let _ = writeln!(out, "## Goals\n");
    let _ = writeln!(out, "| goal | measured | |\n|---|---|---|");
    let phase = |backend: &str, connections: usize| {
        results
            .iter()
            .find(|r| r.backend == backend)
            .and_then(|r| r.phases.iter().find(|p| p.connections == connections))
    };
    if let Some(p) = phase("sqlite", 64) {
        let _ = writeln!(
            out,
            "| SQLite ≥ 8,000/s at 64 connections | {:.0}/s | {} |",
            p.per_second,
            goal(p.per_second >= 8000.0)
        );
    }
    if let Some(p) = phase("postgres", 64) {
        let _ = writeln!(
            out,
            "| Postgres ≥ 4,000/s at 64 connections | {:.0}/s | {} |",
            p.per_second,
            goal(p.per_second >= 4000.0)
        );
    }
    for r in results {
        if let Some(p) = phase(&r.backend, 16) {
            let _ = writeln!(
                out,
                "| {} p99 < 25 ms at 16 connections | {:.2} ms | {} |",
                r.backend,
                p.p99_ms,
                goal(p.p99_ms < 25.0)
            );
        }
        let _ = writeln!(
            out,
            "| {} trigger p50 < 10 ms | {:.2} ms | {} |",
            r.backend,
            r.trigger_p50_ms,
            goal(r.trigger_p50_ms < 10.0)
        );
        let _ = writeln!(
            out,
            "| {} drain ≥ 2,000 jobs/s | {:.0}/s | {} |",
            r.backend,
            r.drain_per_second,
            goal(r.drain_per_second >= 2000.0)
        );
        let _ = writeln!(
            out,
            "| {} RSS < 30 MB idle | {:.1} MB | {} |",
            r.backend,
            r.rss_idle_mb,
            goal(r.rss_idle_mb < 30.0)
        );
        let _ = writeln!(
            out,
            "| {} RSS < 150 MB loaded | {:.1} MB | {} |",
            r.backend,
            r.rss_loaded_mb,
            goal(r.rss_loaded_mb < 150.0)
        );
    }
    out
}

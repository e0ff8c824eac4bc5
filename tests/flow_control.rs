//! Flow control end to end: debounce bursts (bounded by `max_wait`, kept across a
//! restart), concurrency slots per key (queue, skip, replace; one SQLite service and two
//! replicas sharing Postgres), order across retries, the per-target rate limit, and run
//! following (to the end, lost, overdue) freeing slots. Runs in flight and call rates are
//! measured at the mock ZenML, not taken from zenhook's word.

mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use common::mock_zenml::{Fault, MockRun, MockZenml};
use common::zenhook_api::{attempts, ms, Zenhook, ADMIN_TOKEN, API_KEY, GITHUB_SECRET, TEMPLATE};
use common::{fixture, github_signature, spawn_app_with, Backend, TestApp, TestDb};
use reqwest::Method;
use serde_json::{json, Value};
use zenhook::clock::ManualClock;

const SETTLE: Duration = Duration::from_secs(10);
const MINUTE: Duration = Duration::from_secs(60);

/// Worker and target settings of one test; follow and poll intervals are always short.
struct Settings {
    retry_schedule: &'static str,
    lease: &'static str,
    timeout: &'static str,
    worker: &'static str,
    target: &'static str,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            retry_schedule: r#""100ms", "200ms""#,
            lease: "3s",
            timeout: "2s",
            worker: "",
            target: "",
        }
    }
}

fn config(zenml: &str, s: &Settings) -> String {
    format!(
        r#"
[sources.github]
kind = "github"
secrets = ["{GITHUB_SECRET}"]

[admin]
tokens = ["{ADMIN_TOKEN}"]

[worker]
retry_schedule = [{retry}]
lease = "{lease}"
poll = "200ms"
follow_interval = "100ms"
follow_max_interval = "300ms"
{worker}

[targets.default]
url = "{zenml}"
api_key = "{API_KEY}"
timeout = "{timeout}"
{target}
"#,
        retry = s.retry_schedule,
        lease = s.lease,
        worker = s.worker,
        timeout = s.timeout,
        target = s.target,
    )
}

struct Flow {
    app: TestApp,
    api: Zenhook,
    mock: MockZenml,
    clock: Arc<ManualClock>,
}

/// A service on a fresh database of `backend`, a fresh mock, and the rule `flow`.
async fn start(backend: Backend, settings: &Settings, flow: Value) -> Option<Flow> {
    let mock = MockZenml::start(API_KEY).await;
    let clock = ManualClock::new();
    let db = TestDb::new(backend).await?;
    let app = spawn(db, &mock, settings, &clock).await;
    let api = api_of(&app);
    create_rule(&api, flow).await;
    Some(Flow {
        app,
        api,
        mock,
        clock,
    })
}

async fn spawn(
    db: TestDb,
    mock: &MockZenml,
    settings: &Settings,
    clock: &Arc<ManualClock>,
) -> TestApp {
    let options = zenhook::RunOptions {
        clock: clock.clone(),
        ..Default::default()
    };
    spawn_app_with(db, &config(&mock.url(), settings), options).await
}

fn api_of(app: &TestApp) -> Zenhook {
    Zenhook::new(format!("http://{}", app.addr))
}

/// A rule matching the push fixture whose run carries the event's commit, with the flow
/// fields (`debounce`, `concurrency`, `ordered`) of `flow`.
async fn create_rule(api: &Zenhook, flow: Value) {
    let mut rule = json!({
        "name": "flow",
        "events": ["push"],
        "branches": ["master"],
        "target": "default",
        "template_id": TEMPLATE,
        "run_config": {"steps": {"x": {"parameters": {"commit": "{{ event.after }}"}}}},
    });
    for (field, value) in flow.as_object().expect("flow fields") {
        rule[field] = value.clone();
    }
    let (status, body) = api.admin(Method::POST, "/rules", Some(rule)).await;
    assert_eq!(status, 201, "{body}");
}

fn commit(n: usize) -> String {
    format!("{n:040x}")
}

/// Sends the push fixture with `after` set to `commit`, signed; the job it made.
async fn push(api: &Zenhook, delivery: &str, commit: &str) -> String {
    let delivery_id = push_delivery(api, delivery, commit).await;
    api.job_of(&delivery_id).await
}

async fn push_delivery(api: &Zenhook, delivery: &str, commit: &str) -> String {
    let fixture = std::fs::read(fixture("github/push.json")).expect("fixture");
    let mut payload: Value = serde_json::from_slice(&fixture).expect("JSON fixture");
    payload["after"] = commit.into();
    let body = serde_json::to_vec(&payload).expect("JSON");
    let response = api
        .client
        .post(format!("{}/hooks/github", api.base))
        .header("Content-Type", "application/json")
        .header("X-GitHub-Event", "push")
        .header("X-GitHub-Delivery", delivery)
        .header(
            "X-Hub-Signature-256",
            github_signature(GITHUB_SECRET, &body),
        )
        .body(body)
        .send()
        .await
        .expect("webhook answered");
    let status = response.status().as_u16();
    let answer: Value = response.json().await.unwrap_or(Value::Null);
    assert_eq!(status, 202, "{answer}");
    answer["delivery_id"]
        .as_str()
        .expect("delivery id")
        .to_owned()
}

async fn wait_status(api: &Zenhook, job: &str, status: &str) -> Value {
    api.wait_job(job, SETTLE, |j| j["status"] == status).await
}

/// Waits until the job's run has ended as zenhook sees it.
async fn wait_run_ended(api: &Zenhook, job: &str) -> Value {
    api.wait_job(job, SETTLE, |j| j["run_terminal"] == 1).await
}

async fn wait_until(what: &str, within: Duration, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + within;
    while !done() {
        assert!(Instant::now() < deadline, "{what}: not within {within:?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// The commit a run was triggered with.
fn commit_of(run: &MockRun) -> &str {
    run.config["steps"]["x"]["parameters"]["commit"]
        .as_str()
        .unwrap_or("")
}

/// The mock's runs carrying the job's tag.
async fn runs_of(api: &Zenhook, mock: &MockZenml, job: &str) -> Vec<MockRun> {
    let view = api.job(job).await;
    mock.runs_tagged(view["tag"].as_str().expect("tag"))
}

/// The most runs the mock had in flight at once: from the trigger until the mock first
/// reported the run terminal (a run not ended yet counts until now).
fn most_in_flight(runs: &[MockRun]) -> usize {
    let now = Instant::now();
    runs.iter()
        .map(|run| {
            runs.iter()
                .filter(|other| {
                    other.triggered <= run.triggered
                        && other.ended_at(now).map_or(true, |end| end > run.triggered)
                })
                .count()
        })
        .max()
        .unwrap_or(0)
}

fn history_statuses(job: &Value) -> Vec<String> {
    let history: Value =
        serde_json::from_str(job["run_history"].as_str().expect("run_history")).expect("JSON");
    history
        .as_array()
        .expect("a list")
        .iter()
        .map(|h| h["status"].as_str().unwrap_or("").to_owned())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_burst_in_one_window_triggers_once_with_the_last_commit() {
    let s = start(
        Backend::Sqlite,
        &Settings::default(),
        json!({"debounce": {"window": "1h", "key": "{{ event.repository }}/{{ event.branch }}"}}),
    )
    .await
    .expect("sqlite");
    let mut jobs = Vec::new();
    let mut deliveries = Vec::new();
    for i in 0..20 {
        let delivery = push_delivery(&s.api, &format!("burst-{i}"), &commit(i)).await;
        jobs.push(s.api.job_of(&delivery).await);
        deliveries.push(delivery);
    }
    // Within the window nothing is sent.
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(s.mock.trigger_calls(), 0);

    for (i, id) in jobs.iter().enumerate().take(19) {
        let job = s.api.job(id).await;
        assert_eq!(job["status"], "superseded", "{job:#}");
        let by = job["superseded_by"].as_str().expect("superseded_by");
        let later = jobs.iter().position(|j| j == by).expect("one of the burst");
        assert!(later > i, "job {i} superseded by earlier job {later}");
        let (status, view) = s
            .api
            .admin(Method::GET, &format!("/deliveries/{}", deliveries[i]), None)
            .await;
        assert_eq!(status, 200);
        let says_so = view["trace"].as_array().expect("trace").iter().any(|t| {
            t["outcome"] == "superseded" && t["reason"].as_str().unwrap_or("").contains(by)
        });
        assert!(says_so, "trace of delivery {i}: {:#}", view["trace"]);
    }
    let (status, listed) = s
        .api
        .admin(Method::GET, "/jobs?status=superseded&limit=100", None)
        .await;
    assert_eq!(status, 200, "{listed}");
    assert_eq!(listed["items"].as_array().map(Vec::len), Some(19));

    s.clock.advance(Duration::from_secs(3601));
    let last = wait_status(&s.api, &jobs[19], "succeeded").await;
    let runs = s.mock.runs();
    assert_eq!(runs.len(), 1, "{runs:#?}");
    assert_eq!(commit_of(&runs[0]), commit(19));
    assert_eq!(last["run_id"], runs[0].id.as_str());
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert_eq!(s.mock.runs_created(), 1, "no superseded job ran later");
    s.app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn max_wait_bounds_a_burst_that_never_pauses() {
    let s = start(
        Backend::Sqlite,
        &Settings::default(),
        json!({"debounce": {"window": "10m", "max_wait": "30m"}}),
    )
    .await
    .expect("sqlite");
    // Events 8 minutes apart (under the window), then one a minute before max_wait.
    let mut jobs = Vec::new();
    for (i, gap) in [0, 8, 8, 8, 5].into_iter().enumerate() {
        s.clock.advance(MINUTE * gap);
        jobs.push(push(&s.api, &format!("steady-{i}"), &commit(i)).await);
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(s.mock.trigger_calls(), 0, "29 minutes in: not due yet");

    let first = s.api.job(&jobs[0]).await;
    let last = s.api.job(&jobs[4]).await;
    assert_eq!(
        last["debounce_first_at"].as_i64(),
        Some(ms(&first["created_at"]))
    );
    assert_eq!(
        ms(&last["next_attempt_at"]),
        ms(&first["created_at"]) + 30 * 60_000,
        "due at max_wait after the first event, not a window after the last: {last:#}"
    );
    // 30 minutes and a second after the first event; the last one's window runs to 39.
    s.clock.advance(Duration::from_secs(61));
    wait_status(&s.api, &jobs[4], "succeeded").await;
    let runs = s.mock.runs();
    assert_eq!(runs.len(), 1);
    assert_eq!(commit_of(&runs[0]), commit(4));
    for id in &jobs[..4] {
        assert_eq!(s.api.job(id).await["status"], "superseded");
    }
    s.app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn debounce_state_survives_a_restart() {
    let flow = json!({"debounce": {"window": "1h"}});
    let s = start(Backend::Sqlite, &Settings::default(), flow)
        .await
        .expect("sqlite");
    let first = push(&s.api, "restart-1", &commit(1)).await;
    let db = s.app.stop().await;

    s.clock.advance(10 * MINUTE);
    let app = spawn(db, &s.mock, &Settings::default(), &s.clock).await;
    let api = api_of(&app);
    let second = push(&api, "restart-2", &commit(2)).await;
    let replaced = api.job(&first).await;
    assert_eq!(replaced["status"], "superseded", "{replaced:#}");
    assert_eq!(replaced["superseded_by"], second.as_str());
    let next = api.job(&second).await;
    assert_eq!(
        next["debounce_first_at"].as_i64(),
        Some(ms(&replaced["created_at"]))
    );

    s.clock.advance(Duration::from_secs(3601));
    wait_status(&api, &second, "succeeded").await;
    let runs = s.mock.runs();
    assert_eq!(runs.len(), 1);
    assert_eq!(commit_of(&runs[0]), commit(2));
    app.stop().await;
}

/// A burst arriving at two replicas at once (one Postgres database) is still one burst:
/// exactly one job is left to run, and it runs once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_burst_across_replicas_triggers_once() {
    let Some(s) = start(
        Backend::Postgres,
        &Settings::default(),
        json!({"debounce": {"window": "1h"}}),
    )
    .await
    else {
        return;
    };
    let other = spawn(s.app.db.shared(), &s.mock, &Settings::default(), &s.clock).await;
    let other_api = api_of(&other);
    // Pairs of events at once, one at each replica: each pair races for the burst.
    let mut jobs = Vec::new();
    for round in 0..10 {
        let (first, second) = (commit(2 * round), commit(2 * round + 1));
        let (a_name, b_name) = (
            format!("replicas-burst-{round}-a"),
            format!("replicas-burst-{round}-b"),
        );
        let (a, b) = tokio::join!(
            push(&s.api, &a_name, &first),
            push(&other_api, &b_name, &second)
        );
        jobs.extend([a, b]);
    }
    let mut waiting = Vec::new();
    for id in &jobs {
        let job = s.api.job(id).await;
        match job["status"].as_str() {
            Some("superseded") => {}
            Some("queued") => waiting.push(job),
            _ => panic!("neither superseded nor waiting: {job:#}"),
        }
    }
    assert_eq!(waiting.len(), 1, "one job per burst: {waiting:#?}");

    s.clock.advance(Duration::from_secs(3601));
    let id = waiting[0]["id"].as_str().expect("id");
    wait_status(&s.api, id, "succeeded").await;
    tokio::time::sleep(Duration::from_millis(400)).await;
    let runs = s.mock.runs();
    assert_eq!(runs.len(), 1, "{runs:#?}");
    assert_eq!(
        commit_of(&runs[0]),
        waiting[0]["run_config"]["steps"]["x"]["parameters"]["commit"]
    );
    other.stop().await;
    s.app.stop().await;
}

/// Three events under `max_running = 1` (runs end half a second after their trigger):
/// three runs, one after another.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_run_in_flight_per_key() {
    let s = start(
        Backend::Sqlite,
        &Settings::default(),
        json!({"concurrency": {"max_running": 1, "key": "{{ event.repository }}"}}),
    )
    .await
    .expect("sqlite");
    s.mock.set_lifecycle(&[
        (Duration::from_millis(200), "running"),
        (Duration::from_millis(500), "completed"),
    ]);
    let mut jobs = Vec::new();
    for i in 0..3 {
        jobs.push(push(&s.api, &format!("one-{i}"), &commit(i)).await);
    }
    for job in &jobs {
        let ended = wait_run_ended(&s.api, job).await;
        assert_eq!(ended["run_status"], "completed", "{ended:#}");
    }
    let runs = s.mock.runs();
    assert_eq!(runs.len(), 3);
    assert_eq!(most_in_flight(&runs), 1, "{runs:#?}");
    s.app.stop().await;
}

/// The same across two service instances sharing one Postgres database, with events
/// arriving at both.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_run_in_flight_per_key_across_replicas() {
    let Some(s) = start(
        Backend::Postgres,
        &Settings::default(),
        json!({"concurrency": {"max_running": 1, "key": "{{ event.repository }}"}}),
    )
    .await
    else {
        return;
    };
    s.mock.set_lifecycle(&[
        (Duration::from_millis(200), "running"),
        (Duration::from_millis(500), "completed"),
    ]);
    let other = spawn(s.app.db.shared(), &s.mock, &Settings::default(), &s.clock).await;
    let other_api = api_of(&other);
    let mut jobs = Vec::new();
    for i in 0..4 {
        let api = if i % 2 == 0 { &s.api } else { &other_api };
        jobs.push(push(api, &format!("replica-{i}"), &commit(i)).await);
    }
    for job in &jobs {
        let ended = s
            .api
            .wait_job(job, Duration::from_secs(15), |j| j["run_terminal"] == 1)
            .await;
        assert_eq!(ended["run_status"], "completed", "{ended:#}");
    }
    let runs = s.mock.runs();
    assert_eq!(runs.len(), 4);
    assert_eq!(most_in_flight(&runs), 1, "{runs:#?}");
    other.stop().await;
    s.app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_busy_skip_drops_events_while_the_key_is_busy() {
    let s = start(
        Backend::Sqlite,
        &Settings::default(),
        json!({"concurrency": {"max_running": 1, "on_busy": "skip"}}),
    )
    .await
    .expect("sqlite");
    let first = push(&s.api, "skip-1", &commit(1)).await;
    let running = wait_status(&s.api, &first, "succeeded").await;
    let second = push(&s.api, "skip-2", &commit(2)).await;
    let skipped = wait_status(&s.api, &second, "skipped").await;
    let reason = skipped["last_error"].as_str().unwrap_or("");
    // The key left empty is the rule's name.
    assert!(
        reason.contains("in flight") && reason.contains("\"flow\""),
        "{skipped:#}"
    );
    assert_eq!(skipped["attempts"].as_array().map(Vec::len), Some(0));

    s.mock
        .set_run_status(running["run_id"].as_str().expect("run id"), "completed");
    wait_run_ended(&s.api, &first).await;
    let third = push(&s.api, "skip-3", &commit(3)).await;
    wait_status(&s.api, &third, "succeeded").await;
    let runs = s.mock.runs();
    let commits: Vec<_> = runs.iter().map(commit_of).collect();
    assert_eq!(commits, [commit(1), commit(3)]);
    assert_eq!(most_in_flight(&runs), 1);
    s.app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_busy_replace_keeps_the_newest_waiting_event() {
    let s = start(
        Backend::Sqlite,
        &Settings::default(),
        json!({"concurrency": {"max_running": 1, "on_busy": "replace"}}),
    )
    .await
    .expect("sqlite");
    let first = push(&s.api, "replace-1", &commit(1)).await;
    let running = wait_status(&s.api, &first, "succeeded").await;
    let second = push(&s.api, "replace-2", &commit(2)).await;
    wait_status(&s.api, &second, "held").await;
    let third = push(&s.api, "replace-3", &commit(3)).await;
    let replaced = wait_status(&s.api, &second, "superseded").await;
    assert_eq!(replaced["superseded_by"], third.as_str());
    let fourth = push(&s.api, "replace-4", &commit(4)).await;
    let replaced = wait_status(&s.api, &third, "superseded").await;
    assert_eq!(replaced["superseded_by"], fourth.as_str());
    wait_status(&s.api, &fourth, "held").await;
    assert_eq!(s.mock.runs_created(), 1);

    s.mock
        .set_run_status(running["run_id"].as_str().expect("run id"), "completed");
    wait_status(&s.api, &fourth, "succeeded").await;
    let runs = s.mock.runs();
    let commits: Vec<_> = runs.iter().map(commit_of).collect();
    assert_eq!(commits, [commit(1), commit(4)]);
    assert_eq!(most_in_flight(&runs), 1, "{runs:#?}");
    for job in [&second, &third] {
        assert!(runs_of(&s.api, &s.mock, job).await.is_empty());
    }
    s.app.stop().await;
}

/// An ordered key with free slots: the second job waits while the first's slow attempt
/// fails and while it waits for its retry, and starts only after the first succeeded.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_ordered_key_waits_for_a_job_that_retries() {
    let settings = Settings {
        retry_schedule: r#""1s""#,
        ..Settings::default()
    };
    let s = start(
        Backend::Sqlite,
        &settings,
        json!({
            "concurrency": {"max_running": 3, "key": "{{ event.repository }}"},
            "ordered": true,
        }),
    )
    .await
    .expect("sqlite");
    let unavailable = json!({"detail": ["RuntimeError", "the log store is unavailable"]});
    s.mock.push_faults([Fault::SlowStatus(
        Duration::from_millis(600),
        503,
        unavailable.to_string(),
    )]);
    let first = push(&s.api, "ordered-1", &commit(1)).await;
    // The first attempt is under way at the mock when the second event arrives.
    wait_until("the first attempt", SETTLE, || s.mock.trigger_calls() == 1).await;
    let second = push(&s.api, "ordered-2", &commit(2)).await;
    wait_status(&s.api, &first, "retrying").await;
    assert_eq!(s.api.job(&second).await["status"], "held");

    let first = wait_status(&s.api, &first, "succeeded").await;
    let second = wait_status(&s.api, &second, "succeeded").await;
    let first_tries = attempts(&first);
    let outcomes: Vec<_> = first_tries.iter().map(|t| (t.2, t.3.as_str())).collect();
    assert_eq!(
        outcomes,
        [(Some(503), "retrying"), (Some(200), "succeeded")]
    );
    let second_tries = attempts(&second);
    assert_eq!(second_tries.len(), 1, "{second:#}");
    assert!(
        second_tries[0].0 >= first_tries[1].1,
        "the second started at {} before the first succeeded at {}",
        second_tries[0].0,
        first_tries[1].1
    );
    let commits: Vec<_> = s
        .mock
        .runs()
        .iter()
        .map(commit_of)
        .map(str::to_owned)
        .collect();
    assert_eq!(commits, [commit(1), commit(2)]);
    s.app.stop().await;
}

/// `rate_limit = "5/s"`: by any time, at most 5 + 5 × (seconds since the first call)
/// trigger calls reached the mock. Jobs waiting for a token keep their lease (2 s here,
/// shorter than the wait of the last ones): each job is sent exactly once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_rate_limit_bounds_trigger_calls() {
    let settings = Settings {
        lease: "2s",
        timeout: "1s",
        worker: "concurrency = 30",
        target: r#"rate_limit = "5/s""#,
        ..Settings::default()
    };
    let s = start(Backend::Sqlite, &settings, json!({}))
        .await
        .expect("sqlite");
    let mut jobs = Vec::new();
    for i in 0..20 {
        jobs.push(push(&s.api, &format!("rate-{i}"), &commit(i)).await);
    }
    for job in &jobs {
        let done = wait_status(&s.api, job, "succeeded").await;
        assert_eq!(done["uncertain"], false, "{done:#}");
        assert_eq!(
            done["attempts"].as_array().map(Vec::len),
            Some(1),
            "{done:#}"
        );
    }
    assert_eq!(s.mock.runs_created(), 20);
    let times = s.mock.trigger_times();
    assert_eq!(times.len(), 20, "one call per job");
    // One token's worth (200 ms) of tolerance for the way from the limiter to the mock.
    for (i, from) in times.iter().enumerate() {
        for (j, to) in times.iter().enumerate().skip(i) {
            let calls = (j - i + 1) as f64;
            let elapsed = to.duration_since(*from).as_secs_f64();
            assert!(
                calls <= 5.0 + 5.0 * (elapsed + 0.2),
                "{calls} calls within {elapsed:.3}s (calls {i}..={j})"
            );
        }
    }
    let span = times[19].duration_since(times[0]);
    assert!(span >= Duration::from_millis(2800), "20 calls in {span:?}");
    s.app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_is_followed_through_its_states_to_its_end() {
    let s = start(Backend::Sqlite, &Settings::default(), json!({}))
        .await
        .expect("sqlite");
    s.mock.set_lifecycle(&[
        (Duration::ZERO, "initializing"),
        (Duration::from_millis(400), "running"),
        (Duration::from_millis(900), "completed"),
    ]);
    let job = push(&s.api, "follow-1", &commit(1)).await;
    let ended = wait_run_ended(&s.api, &job).await;
    assert_eq!(ended["run_status"], "completed", "{ended:#}");
    assert_eq!(
        history_statuses(&ended),
        ["initializing", "running", "completed"]
    );
    let history: Value = serde_json::from_str(ended["run_history"].as_str().unwrap()).unwrap();
    let times: Vec<i64> = history
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["at"].as_i64().expect("at"))
        .collect();
    assert!(times.windows(2).all(|w| w[0] <= w[1]), "{history}");
    // No more looks once it ended.
    let checks = ended["run_checks"].as_i64();
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(s.api.job(&job).await["run_checks"].as_i64(), checks);
    s.app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_zenml_forgets_is_lost_and_frees_its_slot() {
    let s = start(
        Backend::Sqlite,
        &Settings::default(),
        json!({"concurrency": {"max_running": 1}}),
    )
    .await
    .expect("sqlite");
    let first = push(&s.api, "lost-1", &commit(1)).await;
    let running = wait_status(&s.api, &first, "succeeded").await;
    let second = push(&s.api, "lost-2", &commit(2)).await;
    wait_status(&s.api, &second, "held").await;
    // Still held after a few looks at a run that is in flight.
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert_eq!(s.api.job(&second).await["status"], "held");

    let forgotten_at = Instant::now();
    s.mock
        .forget_run(running["run_id"].as_str().expect("run id"));
    let lost = wait_run_ended(&s.api, &first).await;
    assert_eq!(lost["run_status"], "lost", "{lost:#}");
    wait_status(&s.api, &second, "succeeded").await;
    let runs = runs_of(&s.api, &s.mock, &second).await;
    assert_eq!(runs.len(), 1);
    assert!(runs[0].triggered >= forgotten_at);
    s.app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_past_its_deadline_is_overdue_and_frees_its_slot() {
    let settings = Settings {
        worker: r#"run_deadline = "10m""#,
        ..Settings::default()
    };
    let s = start(
        Backend::Sqlite,
        &settings,
        json!({"concurrency": {"max_running": 1}}),
    )
    .await
    .expect("sqlite");
    let first = push(&s.api, "overdue-1", &commit(1)).await;
    wait_status(&s.api, &first, "succeeded").await;
    let second = push(&s.api, "overdue-2", &commit(2)).await;
    wait_status(&s.api, &second, "held").await;
    // Looked at, in flight, within its deadline.
    let looked = s
        .api
        .wait_job(&first, SETTLE, |j| j["run_checks"].as_i64() >= Some(2))
        .await;
    assert_eq!(looked["run_status"], "initializing", "{looked:#}");
    assert_eq!(looked["run_terminal"], 0);
    assert_eq!(s.api.job(&second).await["status"], "held");

    s.clock.advance(11 * MINUTE);
    let overdue = wait_run_ended(&s.api, &first).await;
    assert_eq!(overdue["run_status"], "overdue", "{overdue:#}");
    wait_status(&s.api, &second, "succeeded").await;
    // zenhook gave up on it; ZenML still has it in flight.
    let first_run = &runs_of(&s.api, &s.mock, &first).await[0];
    assert_eq!(first_run.status_at(Instant::now()), "initializing");
    assert_eq!(s.mock.runs_created(), 2);
    s.app.stop().await;
}

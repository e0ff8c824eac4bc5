//! The worker against a ZenML that misbehaves: busy and failing answers, timeouts and
//! dropped connections after the run was made, revoked tokens, refusals, run-name
//! conflicts, replicas racing for jobs and leases lost mid-call. Exactly once is counted
//! in runs created at the mock, never in calls.

mod common;

use std::time::{Duration, Instant};

use common::mock_zenml::{Fault, MockZenml};
use common::zenhook_api::{attempts, worker_config, worker_config_with_lease, Zenhook, API_KEY};
use common::{spawn_app, spawn_app_on, Backend, TestApp, TestDb};
use serde_json::{json, Value};
use zenhook::zenml::{hints, Operation, TemplateOrSnapshot};

const SETTLE: Duration = Duration::from_secs(10);

struct Setup {
    app: TestApp,
    api: Zenhook,
    mock: MockZenml,
}

/// A service on `backend` whose only target is a fresh mock, with one rule matching the
/// push fixture. No run_name: the mock names each run uniquely.
async fn setup(backend: Backend, timeout: &str, extra_worker: &str) -> Option<Setup> {
    setup_with_rule(backend, timeout, extra_worker, json!({"tags": ["webhook"]})).await
}

async fn setup_with_rule(
    backend: Backend,
    timeout: &str,
    extra_worker: &str,
    run_config: Value,
) -> Option<Setup> {
    let mock = MockZenml::start(API_KEY).await;
    let app = spawn_app(backend, &worker_config(&mock.url(), timeout, extra_worker)).await?;
    let api = Zenhook::new(format!("http://{}", app.addr));
    api.create_rule("train-on-push", run_config).await;
    Some(Setup { app, api, mock })
}

macro_rules! both_backends {
    ($name:ident, $body:expr) => {
        mod $name {
            use super::*;
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                let case = $body;
                case(Backend::Sqlite).await;
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                let case = $body;
                case(Backend::Postgres).await;
            }
        }
    };
}

/// The job's run is the mock's only run, it carries the job's tag, and it was answered
/// under the job's idempotency key alone.
fn assert_one_run_for(mock: &MockZenml, job: &Value) {
    let runs = mock.runs();
    assert_eq!(runs.len(), 1, "exactly one run: {runs:#?}");
    let run = &runs[0];
    assert_eq!(job["run_id"], run.id.as_str(), "{job:#}");
    assert_eq!(job["run_name"], run.name.as_str());
    let tag = job["tag"].as_str().expect("job tag");
    assert!(
        run.tags.iter().any(|t| t == tag),
        "{:?} lacks {tag}",
        run.tags
    );
    let key = job["idempotency_key"].as_str().expect("key");
    assert!(run.idempotency_keys.iter().all(|k| k == key), "{run:#?}");
}

fn zenml_error(class: &str, message: &str) -> String {
    json!({"detail": [class, message]}).to_string()
}

both_backends!(
    a_busy_answer_is_retried_without_using_an_attempt,
    |backend| async move {
        let Some(s) = setup(backend, "1s", "").await else {
            return;
        };
        s.mock.push_faults([Fault::Status(
            429,
            zenml_error(
                "MaxConcurrentTasksError",
                "Maximum number of concurrent snapshot tasks reached.",
            ),
            None,
        )]);
        let job = s.api.push_and_settle("busy-1", SETTLE).await;
        assert_eq!(job["status"], "succeeded", "{job:#}");
        // The 429 is recorded but did not count: only the success did.
        assert_eq!(job["attempts"].as_array().map(Vec::len), Some(2));
        let tries = attempts(&job);
        assert_eq!(tries[0].2, Some(429));
        assert_eq!(tries[0].3, "retrying");
        assert_eq!(tries[1].2, Some(200));
        let counted: i64 = s
            .app
            .store()
            .await
            .get_job(job["id"].as_str().unwrap())
            .await
            .unwrap()
            .unwrap()
            .attempts;
        assert_eq!(counted, 1, "a 429 must not use up an attempt");
        assert_eq!(s.mock.trigger_calls(), 2);
        assert_one_run_for(&s.mock, &job);
        s.app.stop().await;
    }
);

both_backends!(unavailable_three_times_then_one_run, |backend| async move {
    let Some(s) = setup(backend, "1s", "").await else {
        return;
    };
    let busy = zenml_error("RuntimeError", "the log store is unavailable");
    s.mock
        .push_faults((0..3).map(|_| Fault::Status(503, busy.clone(), None)));
    let job = s.api.push_and_settle("unavailable-1", SETTLE).await;
    assert_eq!(job["status"], "succeeded", "{job:#}");
    let tries = attempts(&job);
    let statuses: Vec<_> = tries.iter().map(|t| t.2).collect();
    assert_eq!(statuses, [Some(503), Some(503), Some(503), Some(200)]);
    assert_eq!(s.mock.trigger_calls(), 4);
    assert_one_run_for(&s.mock, &job);
    s.app.stop().await;
});

/// After an ambiguous first attempt, the next one must find the run by its tag and
/// not trigger again.
async fn ambiguous_first_attempt_is_adopted(fault: Fault, expected_error: &str) {
    let s = setup(Backend::Sqlite, "1s", "").await.expect("sqlite");
    s.mock.push_faults([fault]);
    let job = s.api.push_and_settle("ambiguous-1", SETTLE).await;
    assert_eq!(job["status"], "succeeded", "{job:#}");
    let tries = attempts(&job);
    assert_eq!(tries.len(), 2, "{job:#}");
    assert_eq!(tries[0].2, None, "no HTTP answer on the first attempt");
    let first_error = job["attempts"][0]["error"].as_str().unwrap_or("");
    assert!(first_error.contains(expected_error), "{first_error}");
    assert_eq!(
        s.mock.trigger_calls(),
        1,
        "the run was found, not triggered again"
    );
    assert!(s.mock.lookups() >= 1);
    assert_one_run_for(&s.mock, &job);
    s.app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_timed_out_trigger_is_adopted_by_tag() {
    ambiguous_first_attempt_is_adopted(
        Fault::Delay(Duration::from_secs(2)),
        "no answer from ZenML, the run may exist: no answer in time",
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dropped_connection_is_adopted_by_tag() {
    ambiguous_first_attempt_is_adopted(Fault::Drop, "no answer from ZenML, the run may exist")
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_busy_lookup_keeps_the_job_uncertain() {
    let s = setup(Backend::Sqlite, "1s", "").await.expect("sqlite");
    s.mock.push_faults([Fault::Delay(Duration::from_secs(2))]);
    // The lookup that should find the run is refused once: that proves nothing.
    s.mock.push_lookup_faults([Fault::Status(
        429,
        json!({"detail": "Minute request limit exceeded."}).to_string(),
        None,
    )]);
    let delivery = s.api.push("busy-lookup-1").await;
    wait_until(Duration::from_secs(5), || s.mock.trigger_calls() == 1).await;
    // Past the idempotency window, a resend would make a second run.
    s.mock
        .advance(common::mock_zenml::IDEMPOTENCY_WINDOW + Duration::from_secs(1));
    let id = s.api.job_of(&delivery).await;
    let job = s.api.settled_job(&id, SETTLE).await;
    assert_eq!(job["status"], "succeeded", "{job:#}");
    let statuses: Vec<_> = attempts(&job).iter().map(|t| t.2).collect();
    assert_eq!(statuses, [None, Some(429), Some(200)], "{job:#}");
    assert_eq!(
        s.mock.trigger_calls(),
        1,
        "never resent while the run may exist"
    );
    assert_one_run_for(&s.mock, &job);
    s.app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_revoked_token_means_one_fresh_login() {
    let s = setup(Backend::Sqlite, "1s", "").await.expect("sqlite");
    let first = s.api.push_and_settle("login-1", SETTLE).await;
    assert_eq!(first["status"], "succeeded", "{first:#}");
    assert_eq!(s.mock.logins(), 1, "the token is kept between jobs");
    s.mock.revoke_tokens();
    let second = s.api.push_and_settle("login-2", SETTLE).await;
    assert_eq!(second["status"], "succeeded", "{second:#}");
    assert_eq!(s.mock.logins(), 2);
    // The 401 was handled inside the attempt: one attempt, no error.
    let tries = attempts(&second);
    assert_eq!(tries.len(), 1);
    assert_eq!(tries[0].2, Some(200));
    assert_eq!(s.mock.runs_created(), 2);
    s.app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refusals_are_dead_at_once_with_their_hint() {
    let s = setup(Backend::Sqlite, "1s", "").await.expect("sqlite");
    let template = Operation::Trigger(TemplateOrSnapshot::Template);
    let cases = [
        (
            402,
            zenml_error(
                "SubscriptionUpgradeRequiredError",
                "Your plan does not include template runs.",
            ),
            hints::for_status(template, 402, "default"),
        ),
        (
            403,
            zenml_error("IllegalOperationError", "Not allowed."),
            hints::for_status(template, 403, "default"),
        ),
        (
            404,
            zenml_error("KeyError", "No run template with this ID found"),
            hints::for_status(template, 404, "default"),
        ),
        (
            404,
            json!({"detail": "Not Found"}).to_string(),
            hints::no_such_endpoint("default"),
        ),
        (
            405,
            json!({"detail": "Method Not Allowed"}).to_string(),
            hints::for_status(template, 405, "default"),
        ),
        (
            422,
            json!([
                "ValueError",
                "1 validation error:\n  {'type': 'bool_parsing'}"
            ])
            .to_string(),
            hints::for_status(template, 422, "default"),
        ),
    ];
    // The wording operators read, pinned here as well as in hints.rs.
    assert!(cases[4].2.contains("without a workload manager"));
    assert!(cases[5].2.contains("fix the rule's run_config"));
    for (n, (status, body, hint)) in cases.into_iter().enumerate() {
        s.mock.push_faults([Fault::Status(status, body, None)]);
        let job = s.api.push_and_settle(&format!("refused-{n}"), SETTLE).await;
        assert_eq!(job["status"], "dead", "{status}: {job:#}");
        let error = job["last_error"].as_str().unwrap_or("");
        assert!(error.starts_with(&format!("HTTP {status}")), "{error}");
        assert!(error.contains(&hint), "{status}: {error:?} lacks {hint:?}");
        let tries = attempts(&job);
        assert_eq!(tries.len(), 1, "{status}: never retried");
        assert_eq!(tries[0].2, Some(i64::from(status)));
        assert_eq!(s.mock.trigger_calls(), n + 1);
    }
    assert_eq!(s.mock.runs_created(), 0);
    s.app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retry_delays_follow_the_pinned_schedule() {
    // Entries far apart, so using the wrong one cannot pass for jitter.
    let schedule = [100, 1000];
    let mock = MockZenml::start(API_KEY).await;
    let config = worker_config(&mock.url(), "1s", "").replace(
        r#"retry_schedule = ["100ms", "200ms"]"#,
        r#"retry_schedule = ["100ms", "1s"]"#,
    );
    assert!(config.contains(r#""1s"]"#));
    let app = spawn_app(Backend::Sqlite, &config).await.expect("sqlite");
    let api = Zenhook::new(format!("http://{}", app.addr));
    api.create_rule("train-on-push", json!({"tags": ["webhook"]}))
        .await;
    let failing = zenml_error("RuntimeError", "boom");
    mock.push_faults([
        Fault::Status(503, failing.clone(), None),
        Fault::Status(502, failing.clone(), None),
        // A Retry-After replaces the schedule's entry (pinned: it is then jittered
        // like any entry).
        Fault::Status(503, failing, Some(1)),
    ]);
    let job = api.push_and_settle("delays-1", SETTLE).await;
    assert_eq!(job["status"], "succeeded", "{job:#}");
    let tries = attempts(&job);
    assert_eq!(tries.len(), 4, "{job:#}");
    // Waking up, claiming and reading the database take a little beyond the wait, more
    // on a loaded 2-core machine running other tests at the same time.
    let slack = 300;
    for n in 0..3 {
        let gap = tries[n + 1].0 - tries[n].1;
        let (low, high) = if n == 2 {
            (500, 1000)
        } else {
            let entry = schedule[n.min(schedule.len() - 1)];
            (entry / 2, entry)
        };
        eprintln!("wait before attempt {}: {gap} ms", n + 2);
        assert!(
            gap >= low && gap <= high + slack,
            "wait before attempt {}: {gap} ms, expected [{low}, {high}] (+{slack})",
            n + 2
        );
    }
    assert_one_run_for(&mock, &job);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_name_conflict_on_our_run_is_adopted() {
    let s = setup_with_rule(
        Backend::Sqlite,
        "1s",
        "",
        json!({"run_name": "nightly-fixed", "tags": ["webhook"]}),
    )
    .await
    .expect("sqlite");
    // The run exists with our tag, but outside the idempotency window: a 409.
    s.mock.push_faults([Fault::EarlierTwin]);
    let job = s.api.push_and_settle("conflict-ours", SETTLE).await;
    assert_eq!(job["status"], "succeeded", "{job:#}");
    let tries = attempts(&job);
    assert_eq!(tries.len(), 1);
    assert_eq!(tries[0].2, Some(409));
    let note = job["attempts"][0]["error"].as_str().unwrap_or("");
    assert!(note.starts_with("adopted the existing run"), "{note}");
    let runs = s.mock.runs();
    assert_eq!(runs.len(), 1, "{runs:#?}");
    assert_eq!(job["run_id"], runs[0].id.as_str());
    assert_eq!(job["run_name"], "nightly-fixed");
    s.app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_name_conflict_on_someone_elses_run_is_dead() {
    let s = setup_with_rule(
        Backend::Sqlite,
        "1s",
        "",
        json!({"run_name": "nightly-fixed", "tags": ["webhook"]}),
    )
    .await
    .expect("sqlite");
    let theirs = s.mock.seed_run("nightly-fixed", &["manual"]);
    let job = s.api.push_and_settle("conflict-theirs", SETTLE).await;
    assert_eq!(job["status"], "dead", "{job:#}");
    let error = job["last_error"].as_str().unwrap_or("");
    assert!(
        error.starts_with("the run name is already used in this project"),
        "{error}"
    );
    assert!(
        error.contains("EntityExistsError"),
        "ZenML's words kept: {error}"
    );
    assert_eq!(job["run_id"], Value::Null, "not adopted");
    let runs = s.mock.runs();
    assert_eq!(runs.len(), 1);
    assert_eq!(runs[0].id, theirs);
    s.app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exhausted_attempts_make_the_job_dead() {
    let s = setup(Backend::Sqlite, "1s", "max_attempts = 3")
        .await
        .expect("sqlite");
    let failing = zenml_error("RuntimeError", "still broken");
    s.mock
        .push_faults((0..5).map(|_| Fault::Status(500, failing.clone(), None)));
    let job = s.api.push_and_settle("exhausted-1", SETTLE).await;
    assert_eq!(job["status"], "dead", "{job:#}");
    let error = job["last_error"].as_str().unwrap_or("");
    assert!(
        error.starts_with("gave up after 3 failed attempts: HTTP 500"),
        "{error}"
    );
    assert_eq!(attempts(&job).len(), 3);
    assert_eq!(s.mock.trigger_calls(), 3);
    assert_eq!(s.mock.faults_left(), 2);
    assert_eq!(s.mock.runs_created(), 0);
    s.app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_releases_a_stalled_job_for_the_next_start() {
    let mock = MockZenml::start(API_KEY).await;
    let config = worker_config(&mock.url(), "2s", "shutdown_grace = \"100ms\"");
    let app = spawn_app(Backend::Sqlite, &config).await.expect("sqlite");
    let api = Zenhook::new(format!("http://{}", app.addr));
    api.create_rule("train-on-push", json!({"tags": ["webhook"]}))
        .await;
    mock.push_faults([Fault::Delay(Duration::from_secs(5))]);
    let delivery = api.push("shutdown-1").await;
    let id = api.job_of(&delivery).await;
    wait_until(Duration::from_secs(5), || mock.trigger_calls() == 1).await;

    let started = Instant::now();
    let db = app.stop().await;
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "the grace period bounds the stop: {:?}",
        started.elapsed()
    );
    let job = db.store().await.get_job(&id).await.unwrap().unwrap();
    assert_eq!(job.status, "queued", "released, not left running: {job:?}");
    assert_eq!(job.uncertain, 1, "the call may have reached ZenML");
    assert_eq!(job.lease_owner, None);

    // The next start finds the run the stalled call made instead of making another.
    let app = spawn_app_on(db, &config).await;
    let api = Zenhook::new(format!("http://{}", app.addr));
    let job = api.settled_job(&id, SETTLE).await;
    assert_eq!(job["status"], "succeeded", "{job:#}");
    assert_eq!(mock.trigger_calls(), 1);
    assert_one_run_for(&mock, &job);
    app.stop().await;
}

async fn wait_until(within: Duration, done: impl Fn() -> bool) {
    let deadline = Instant::now() + within;
    while !done() {
        assert!(Instant::now() < deadline, "not reached within {within:?}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

async fn pg_pool(db: &TestDb) -> sqlx::PgPool {
    sqlx::PgPool::connect(&db.url).await.expect("postgres")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_replicas_share_twenty_jobs_exactly_once() {
    let Some(db) = TestDb::new(Backend::Postgres).await else {
        return;
    };
    let mock = MockZenml::start(API_KEY).await;
    let config = worker_config(&mock.url(), "2s", "");
    let a = spawn_app_on(db, &config).await;
    let api_a = Zenhook::new(format!("http://{}", a.addr));
    api_a
        .create_rule("train-on-push", json!({"tags": ["webhook"]}))
        .await;
    // Started after the rule exists, so both take deliveries.
    let b = spawn_app_on(a.db.shared(), &config).await;
    let api_b = Zenhook::new(format!("http://{}", b.addr));
    // Slow calls keep jobs in flight, so both workers are busy at once.
    mock.push_faults((0..20).map(|_| Fault::Delay(Duration::from_millis(100))));

    let mut deliveries = Vec::new();
    for n in 0..20 {
        let api = if n % 2 == 0 { &api_a } else { &api_b };
        deliveries.push(api.push(&format!("race-{n}")).await);
    }
    let mut run_ids = std::collections::BTreeSet::new();
    for delivery in &deliveries {
        let id = api_a.job_of(delivery).await;
        let job = api_a.settled_job(&id, SETTLE).await;
        assert_eq!(job["status"], "succeeded", "{job:#}");
        assert_eq!(attempts(&job).len(), 1, "sent once: {job:#}");
        let tag = job["tag"].as_str().unwrap();
        let runs = mock.runs_tagged(tag);
        assert_eq!(runs.len(), 1, "{tag}");
        assert_eq!(job["run_id"], runs[0].id.as_str());
        run_ids.insert(runs[0].id.clone());
    }
    assert_eq!(run_ids.len(), 20);
    assert_eq!(mock.runs_created(), 20);
    assert_eq!(mock.trigger_calls(), 20, "no job was sent twice");
    b.stop().await;
    a.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lease_lost_mid_call_is_reclaimed_and_the_late_answer_refused() {
    let Some(db) = TestDb::new(Backend::Postgres).await else {
        return;
    };
    let mock = MockZenml::start(API_KEY).await;
    // A holds one job at a time, so while its call stalls only B can reclaim it.
    let config_a = worker_config_with_lease(&mock.url(), "5s", "6s", "concurrency = 1");
    let config_b = worker_config_with_lease(&mock.url(), "5s", "6s", "");
    let a = spawn_app_on(db, &config_a).await;
    let api = Zenhook::new(format!("http://{}", a.addr));
    api.create_rule("train-on-push", json!({"tags": ["webhook"]}))
        .await;
    mock.push_faults([Fault::Delay(Duration::from_secs(3))]);
    let delivery = api.push("lease-1").await;
    let id = api.job_of(&delivery).await;
    wait_until(Duration::from_secs(5), || mock.trigger_calls() == 1).await;

    let pool = pg_pool(&a.db).await;
    let owner_a: Option<String> = sqlx::query_scalar("SELECT lease_owner FROM jobs WHERE id = $1")
        .bind(&id)
        .fetch_one(&pool)
        .await
        .unwrap();
    let owner_a = owner_a.expect("A holds the job");
    // B's lookup answers only after A's stalled call does, so A's late answer arrives
    // while B holds the job: only the lease token can refuse it then.
    mock.push_lookup_faults([Fault::Delay(Duration::from_millis(3500))]);
    let reclaim_from = zenhook::store::now_ms();
    let b = spawn_app_on(a.db.shared(), &config_b).await;
    // Expire A's lease (A's renewals may restore it: repeat until B holds the job) and
    // wake the workers.
    let deadline = Instant::now() + Duration::from_secs(2);
    loop {
        sqlx::query("UPDATE jobs SET lease_expires_at = 0 WHERE id = $1 AND lease_owner = $2")
            .bind(&id)
            .bind(&owner_a)
            .execute(&pool)
            .await
            .unwrap();
        sqlx::query("SELECT pg_notify($1, '')")
            .bind(zenhook::store::Channel::Jobs.name())
            .execute(&pool)
            .await
            .unwrap();
        let owner: Option<String> =
            sqlx::query_scalar("SELECT lease_owner FROM jobs WHERE id = $1")
                .bind(&id)
                .fetch_one(&pool)
                .await
                .unwrap();
        if owner.as_deref() != Some(owner_a.as_str()) {
            break;
        }
        assert!(Instant::now() < deadline, "B never reclaimed the job");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    // A's call answers at last, while B still waits for its lookup.
    wait_until(Duration::from_secs(5), || mock.answered() == 1).await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    let held: (String, Option<String>) =
        sqlx::query_as("SELECT status, lease_owner FROM jobs WHERE id = $1")
            .bind(&id)
            .fetch_one(&pool)
            .await
            .unwrap();
    assert_eq!(held.0, "running", "A's late answer was refused: {held:?}");
    assert!(held.1.is_some() && held.1.as_deref() != Some(owner_a.as_str()));

    let job = api.settled_job(&id, SETTLE).await;
    assert_eq!(job["status"], "succeeded", "{job:#}");
    let tries = attempts(&job);
    assert_eq!(tries.len(), 1, "only B's adoption is recorded: {job:#}");
    assert!(tries[0].0 >= reclaim_from, "the attempt is B's, not A's");
    assert_eq!(
        mock.trigger_calls(),
        1,
        "B looked the run up instead of sending"
    );
    assert_one_run_for(&mock, &job);
    b.stop().await;
    a.stop().await;
}

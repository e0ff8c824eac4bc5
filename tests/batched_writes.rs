//! Many rows to a statement and many results to a transaction: a batch of deliveries
//! that mixes every dedupe mode and debounce still gives each delivery its own answer;
//! a batch of results is fenced job by job; SQLite's WAL is checkpointed off the commit
//! path; and the worker, holding three times as many jobs as it may call, never calls
//! more than `concurrency` at once.

mod common;

use std::time::{Duration, Instant};

use common::mock_zenml::{Fault, MockZenml};
use common::zenhook_api::{worker_config, Zenhook, API_KEY};
use common::{spawn_app, Backend, TestDb};
use serde_json::json;
use uuid::Uuid;
use zenhook::store::{
    Attempt, Committed, Dedupe, DeliveryOutcome, FinishedJob, JobDebounce, JobOutcome, NewDelivery,
    NewJob, Store,
};

const TEMPLATE: &str = "7b5a3f9e-0c4e-4a55-9e0d-2f7c1c3b8a10";

fn delivery(sender_id: Option<&str>, body: &str, dedupe: Dedupe, jobs: Vec<NewJob>) -> NewDelivery {
    NewDelivery {
        id: Uuid::now_v7(),
        source: "github".into(),
        sender_delivery_id: sender_id.map(str::to_owned),
        event_type: Some("push".into()),
        event_kind: "push".into(),
        outcome: if jobs.is_empty() {
            DeliveryOutcome::Unmatched
        } else {
            DeliveryOutcome::Matched
        },
        body: body.as_bytes().to_vec(),
        body_sha256: format!("{:0>64}", body.len()),
        headers: "{}".into(),
        event: "{}".into(),
        trace: "[]".into(),
        received_at_ms: zenhook::store::now_ms(),
        dedupe,
        jobs,
    }
}

fn job(rule: Uuid, debounce: Option<&str>) -> NewJob {
    NewJob {
        id: Uuid::now_v7(),
        rule_id: rule,
        rule_version: 1,
        rule_name: "batch".into(),
        idempotency_key: Uuid::now_v7(),
        target: "default".into(),
        target_kind: "template",
        target_id: TEMPLATE.parse().unwrap(),
        run_config: r#"{"tags":["batch"]}"#.into(),
        debounce: debounce.map(|key| JobDebounce {
            key: key.into(),
            window_ms: 60_000,
            max_wait_ms: 600_000,
        }),
        concurrency: None,
        ordered: false,
    }
}

fn accepted(committed: &Committed) -> Uuid {
    match committed {
        Committed::Accepted { id, .. } => *id,
        other => panic!("expected accepted, got {other:?}"),
    }
}

fn duplicate_of(committed: &Committed) -> Uuid {
    match committed {
        Committed::Duplicate { id } => *id,
        other => panic!("expected a duplicate, got {other:?}"),
    }
}

async fn one_batch_of_every_kind(backend: Backend) {
    let Some(db) = TestDb::new(backend).await else {
        return;
    };
    let store = db.store().await;
    let rule = Uuid::now_v7();
    // A delivery has at most one job per rule.
    let other_rule = Uuid::now_v7();
    let earlier = store
        .commit_deliveries(&[delivery(Some("seen"), "{}", Dedupe::DeliveryId, vec![])])
        .await
        .unwrap();
    let earlier = accepted(&earlier[0]);

    let batch = vec![
        // 0: plain, two jobs.
        delivery(
            Some("a"),
            "{}",
            Dedupe::DeliveryId,
            vec![job(rule, None), job(other_rule, None)],
        ),
        // 1: a redelivery of 0 in the same batch.
        delivery(Some("a"), "{}", Dedupe::DeliveryId, vec![job(rule, None)]),
        // 2: a redelivery of one stored before.
        delivery(
            Some("seen"),
            "{}",
            Dedupe::DeliveryId,
            vec![job(rule, None)],
        ),
        // 3 and 4: no sender id, the same body, deduplicated by hash within the batch.
        delivery(
            None,
            "{\"same\":1}",
            Dedupe::BodyWithin(60_000),
            vec![job(rule, None)],
        ),
        delivery(
            None,
            "{\"same\":1}",
            Dedupe::BodyWithin(60_000),
            vec![job(rule, None)],
        ),
        // 5 and 6: debounced jobs of one key: the second supersedes the first.
        delivery(
            Some("b"),
            "{}",
            Dedupe::DeliveryId,
            vec![job(rule, Some("main"))],
        ),
        delivery(
            Some("c"),
            "{}",
            Dedupe::DeliveryId,
            vec![job(rule, Some("main")), job(other_rule, None)],
        ),
        // 7: not deduplicated, no sender id.
        delivery(None, "{}", Dedupe::Off, vec![]),
    ];
    let results = store.commit_deliveries(&batch).await.unwrap();
    assert_eq!(results.len(), batch.len());

    let first = accepted(&results[0]);
    assert_eq!(first, batch[0].id);
    assert_eq!(duplicate_of(&results[1]), first);
    assert_eq!(duplicate_of(&results[2]), earlier);
    let by_body = accepted(&results[3]);
    assert_eq!(duplicate_of(&results[4]), by_body);
    for i in [5, 6, 7] {
        assert_eq!(accepted(&results[i]), batch[i].id, "{i}");
    }
    // Every accepted delivery has its own sequence number.
    let mut seqs: Vec<i64> = results
        .iter()
        .filter_map(|r| match r {
            Committed::Accepted { seq, .. } => Some(*seq),
            _ => None,
        })
        .collect();
    seqs.sort();
    seqs.dedup();
    assert_eq!(seqs.len(), 5);

    let jobs_of = |id: Uuid| {
        let store = store.clone();
        async move { store.jobs_of_delivery(id).await.unwrap() }
    };
    let Committed::Accepted { seq: first_seq, .. } = results[0] else {
        unreachable!()
    };
    let jobs = jobs_of(first).await;
    assert_eq!(jobs.len(), 2, "{jobs:#?}");
    for row in &jobs {
        assert_eq!(row.generation, 1);
        assert_eq!(row.status, "queued");
        assert_eq!(row.delivery_seq, first_seq);
        let new = batch[0].jobs.iter().find(|j| j.id.to_string() == row.id);
        let new = new.expect("a job of the delivery");
        assert_eq!(row.idempotency_key, new.idempotency_key.to_string());
        assert_eq!(row.run_config, new.run_config);
    }
    assert_eq!(jobs_of(by_body).await.len(), 1);
    assert!(jobs_of(batch[7].id).await.is_empty());
    let superseded = jobs_of(batch[5].id).await;
    assert_eq!(superseded[0].status, "superseded", "{superseded:#?}");
    let mut burst = jobs_of(batch[6].id).await;
    burst.sort_by_key(|j| j.debounce_key.is_none());
    assert_eq!(burst.len(), 2);
    assert_eq!(burst[0].status, "queued");
    assert_eq!(
        superseded[0].superseded_by.as_deref(),
        Some(burst[0].id.as_str())
    );
    // Redeliveries stored nothing: 1 earlier + 5 accepted.
    assert_eq!(store.count_deliveries().await.unwrap(), 6);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_one_batch_of_every_kind() {
    one_batch_of_every_kind(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_one_batch_of_every_kind() {
    one_batch_of_every_kind(Backend::Postgres).await;
}

fn succeeded(job: zenhook::store::JobRow, run: &str) -> FinishedJob {
    FinishedJob {
        job,
        outcome: JobOutcome::Succeeded {
            run_id: run.into(),
            run_name: format!("name-{run}"),
        },
        attempt: Some(Attempt {
            started_at: 1,
            finished_at: 2,
            http_status: Some(200),
            error: None,
        }),
        now_ms: zenhook::store::now_ms(),
    }
}

async fn results_are_fenced_one_by_one(backend: Backend) {
    let Some(db) = TestDb::new(backend).await else {
        return;
    };
    let store = db.store().await;
    let rule = Uuid::now_v7();
    let batch: Vec<_> = (0..5)
        .map(|i| {
            delivery(
                Some(&format!("f-{i}")),
                "{}",
                Dedupe::DeliveryId,
                vec![job(rule, None)],
            )
        })
        .collect();
    store.commit_deliveries(&batch).await.unwrap();
    let now = zenhook::store::now_ms();
    let claimed = store.claim_jobs("w1", now, 60_000, 10).await.unwrap();
    assert_eq!(claimed.len(), 5);

    // Job 2's lease changed hands meanwhile (expired and reclaimed): its old holder's
    // result must not land. Job 4 is retried, the rest succeed.
    let mut stale = claimed[2].clone();
    stale.lease_token = Some("someone-elses-token".into());
    let mut results: Vec<FinishedJob> = claimed
        .iter()
        .enumerate()
        .map(|(i, job)| succeeded(job.clone(), &format!("run-{i}")))
        .collect();
    results[2] = succeeded(stale, "run-2");
    results[4].outcome = JobOutcome::Retry {
        next_attempt_at: now + 5_000,
        counts: true,
        busy_since: None,
        uncertain: true,
        error: "503 from ZenML".into(),
    };
    results[4].attempt.as_mut().unwrap().http_status = Some(503);
    let recorded = store.finish_jobs(&results).await.unwrap();
    assert_eq!(recorded, [true, true, false, true, true]);

    for (i, claimed) in claimed.iter().enumerate() {
        let row = store.get_job(&claimed.id).await.unwrap().unwrap();
        let tries = store.job_attempts(&claimed.id).await.unwrap();
        match i {
            2 => {
                assert_eq!(row.status, "running", "untouched");
                assert_eq!(row.lease_token, claimed.lease_token);
                assert!(tries.is_empty());
            }
            4 => {
                assert_eq!(row.status, "retrying");
                assert_eq!(row.uncertain, 1);
                assert_eq!(row.attempts, 1);
                assert_eq!(row.next_attempt_at, now + 5_000);
                assert_eq!(row.last_error.as_deref(), Some("503 from ZenML"));
                assert_eq!(tries.len(), 1);
                assert_eq!(tries[0].http_status, Some(503));
            }
            _ => {
                assert_eq!(row.status, "succeeded");
                assert_eq!(row.run_id.as_deref(), Some(format!("run-{i}").as_str()));
                assert_eq!(row.lease_token, None);
                assert_eq!(tries.len(), 1);
                assert_eq!(tries[0].attempt, 1);
            }
        }
    }

    // The retried job's next attempt is numbered after the first.
    let again = store
        .claim_jobs("w1", now + 10_000, 60_000, 10)
        .await
        .unwrap();
    let again: Vec<_> = again
        .into_iter()
        .filter(|j| j.id == claimed[4].id)
        .collect();
    assert_eq!(again.len(), 1);
    let recorded = store
        .finish_jobs(&[succeeded(again[0].clone(), "run-4")])
        .await
        .unwrap();
    assert_eq!(recorded, [true]);
    let tries = store.job_attempts(&claimed[4].id).await.unwrap();
    let numbers: Vec<_> = tries.iter().map(|t| t.attempt).collect();
    assert_eq!(numbers, [1, 2]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_results_are_fenced_one_by_one() {
    results_are_fenced_one_by_one(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_results_are_fenced_one_by_one() {
    results_are_fenced_one_by_one(Backend::Postgres).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_checkpoints_the_wal_beside_the_writer() {
    let db = TestDb::new(Backend::Sqlite).await.expect("sqlite");
    let store: std::sync::Arc<dyn Store> = db.store().await;
    store.migrate().await.unwrap();
    let file = db.url.trim_start_matches("sqlite://").to_owned();
    let size = || std::fs::metadata(&file).map(|m| m.len()).unwrap_or(0);
    let before = size();
    // About 2 MB of bodies: SQLite's own checkpoint is off, so until the checkpointer
    // copies them, they are only in the WAL.
    let body = "x".repeat(64 * 1024);
    let batch: Vec<_> = (0..32)
        .map(|i| delivery(Some(&format!("w-{i}")), &body, Dedupe::DeliveryId, vec![]))
        .collect();
    store.commit_deliveries(&batch).await.unwrap();
    let deadline = Instant::now() + Duration::from_secs(5);
    while size() < before + 2_000_000 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(
        size() >= before + 2_000_000,
        "the database file stayed at {} bytes (from {before}): nothing was checkpointed",
        size()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_worker_holds_three_jobs_a_call_but_calls_no_more_than_concurrency() {
    let mock = MockZenml::start(API_KEY).await;
    let app = spawn_app(
        Backend::Sqlite,
        &worker_config(&mock.url(), "1s", "concurrency = 2"),
    )
    .await
    .expect("sqlite");
    let api = Zenhook::new(format!("http://{}", app.addr));
    api.create_rule("train-on-push", json!({"tags": ["webhook"]}))
        .await;
    let stall = Duration::from_millis(400);
    mock.push_faults((0..6).map(|_| Fault::Delay(stall)));
    for i in 0..6 {
        api.push(&format!("slots-{i}")).await;
    }
    let store = app.store().await;
    // While the first two calls stall, the other four jobs are claimed and wait for a slot.
    let deadline = Instant::now() + Duration::from_secs(5);
    let mut most_running = 0;
    while Instant::now() < deadline && mock.trigger_calls() < 6 {
        let running = store
            .job_counts()
            .await
            .unwrap()
            .into_iter()
            .filter(|(status, _)| status == "running")
            .map(|(_, n)| n)
            .sum::<i64>();
        most_running = most_running.max(running);
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(
        most_running, 6,
        "jobs held: two calling, four claimed ahead"
    );
    let deadline = Instant::now() + Duration::from_secs(10);
    while mock.runs_created() < 6 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(mock.runs_created(), 6);
    // Each call stalls 400 ms: any three calls within less than that overlapped.
    let mut times = mock.trigger_times();
    times.sort();
    for three in times.windows(3) {
        assert!(
            three[2] - three[0] >= stall - Duration::from_millis(50),
            "three calls at once: {times:?}"
        );
    }
    app.stop().await;
}

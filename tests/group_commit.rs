//! Group commit: deliveries waiting together are committed in one transaction, and a
//! batch that fails does not fail its innocent members.

mod common;

use common::{Backend, TestDb};
use uuid::Uuid;
use zenhook::store::{CommitError, CommitQueue, Committed, Dedupe, DeliveryOutcome, NewDelivery};

fn delivery(id: Uuid, sender_id: &str) -> NewDelivery {
    NewDelivery {
        id,
        source: "github".into(),
        sender_delivery_id: Some(sender_id.into()),
        event_type: Some("push".into()),
        event_kind: "push".into(),
        outcome: DeliveryOutcome::Unmatched,
        body: b"{}".to_vec(),
        body_sha256: "44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a".into(),
        headers: "{}".into(),
        event: "{}".into(),
        trace: "[]".into(),
        received_at_ms: zenhook::store::now_ms(),
        dedupe: Dedupe::DeliveryId,
        jobs: Vec::new(),
    }
}

async fn one_bad_delivery_fails_alone(backend: Backend) {
    let Some(db) = TestDb::new(backend).await else {
        return;
    };
    let store = db.store().await;
    let (queue, writer) = CommitQueue::start(store.clone(), 64, 1024);
    let taken = Uuid::new_v4();
    let first = queue.commit(delivery(taken, "first")).await.unwrap();
    assert!(matches!(first, Committed::Accepted { .. }));

    // Forty at once, one of which reuses an id already stored: its batch fails, and the
    // writer retries each delivery alone.
    let commits: Vec<_> = (0..40)
        .map(|i| {
            let queue = queue.clone();
            let id = if i == 17 { taken } else { Uuid::new_v4() };
            tokio::spawn(async move { queue.commit(delivery(id, &format!("d-{i}"))).await })
        })
        .collect();
    let mut accepted = 0;
    let mut failed = Vec::new();
    for (i, commit) in commits.into_iter().enumerate() {
        match commit.await.unwrap() {
            Ok(Committed::Accepted { .. }) => accepted += 1,
            Ok(other) => panic!("{i}: {other:?}"),
            Err(CommitError::Store(_)) => failed.push(i),
            Err(other) => panic!("{i}: {other}"),
        }
    }
    assert_eq!(failed, vec![17], "only the bad delivery fails");
    assert_eq!(accepted, 39);
    assert_eq!(store.count_deliveries().await.unwrap(), 40);

    // Redeliveries in one batch, also of each other, are duplicates of the first.
    let same: Vec<_> = (0..5)
        .map(|_| {
            let queue = queue.clone();
            tokio::spawn(async move { queue.commit(delivery(Uuid::new_v4(), "same")).await })
        })
        .collect();
    let mut ids = Vec::new();
    let mut accepted = 0;
    for commit in same {
        match commit.await.unwrap().unwrap() {
            Committed::Accepted { id, .. } => {
                accepted += 1;
                ids.push(id);
            }
            Committed::Duplicate { id } => ids.push(id),
        }
    }
    assert_eq!(accepted, 1);
    assert!(ids.windows(2).all(|w| w[0] == w[1]), "{ids:?}");
    drop(queue);
    writer.await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_batch_failure_spares_the_innocent() {
    one_bad_delivery_fails_alone(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_batch_failure_spares_the_innocent() {
    one_bad_delivery_fails_alone(Backend::Postgres).await;
}

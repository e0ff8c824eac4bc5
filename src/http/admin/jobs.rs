//! Jobs: list, inspect with every attempt, retry dead ones, cancel unsent ones, and
//! replay a stored delivery against today's rules.

use std::collections::BTreeSet;

use axum::extract::{Path, State};
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Value};
use uuid::Uuid;

use super::deliveries::{find_delivery, payload_of, stored_headers_map, time_text};
use super::rules::{page_size, query};
use crate::event::{self, Event};
use crate::http::{intake, ApiError, AppState};
use crate::rules::{EvalInput, Outcome, TraceEntry};
use crate::store::{self, JobAction, JobRow};
use crate::worker::{job_tag, TargetClient};

/// A job as operators see it: times as text, the run configuration as JSON.
pub fn job_view(job: &JobRow) -> Value {
    let mut view = serde_json::to_value(job).unwrap_or(Value::Null);
    if let Some(object) = view.as_object_mut() {
        object.insert(
            "run_config".into(),
            serde_json::from_str(&job.run_config).unwrap_or(Value::Null),
        );
        if let Some(request) = &job.shadow_request {
            object.insert(
                "shadow_request".into(),
                serde_json::from_str(request).unwrap_or(Value::Null),
            );
        }
        object.insert("uncertain".into(), (job.uncertain != 0).into());
        // `attempts` is the list of calls (in `show`); this is the count that max_attempts bounds.
        if let Some(used) = object.remove("attempts") {
            object.insert("attempts_used".into(), used);
        }
        object.insert("tag".into(), job_tag(job).into());
        for key in [
            "created_at",
            "updated_at",
            "next_attempt_at",
            "lease_expires_at",
            "run_status_at",
            "busy_since",
        ] {
            if let Some(ms) = object.get(key).and_then(Value::as_i64) {
                object.insert(key.into(), time_text(ms).into());
            }
        }
    }
    view
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ListQuery {
    status: Option<String>,
    limit: Option<i64>,
    cursor: Option<String>,
}

const STATUSES: [&str; 10] = [
    "queued",
    "held",
    "running",
    "retrying",
    "succeeded",
    "dead",
    "cancelled",
    "shadowed",
    "skipped",
    "superseded",
];

pub async fn list(
    State(app): State<AppState>,
    uri: axum::http::Uri,
) -> Result<Json<Value>, ApiError> {
    let q: ListQuery = query(uri.query())?;
    if let Some(status) = &q.status {
        if !STATUSES.contains(&status.as_str()) {
            return Err(ApiError::InvalidRequest(format!(
                "status {status:?} is not one of {}",
                STATUSES.join(", ")
            )));
        }
    }
    let limit = page_size(q.limit);
    // The cursor is "<created_at ms>.<job id>" of the last job of the previous page.
    let cursor = match q.cursor.as_deref() {
        None => None,
        Some(text) => Some(
            text.split_once('.')
                .and_then(|(at, id)| Some((at.parse::<i64>().ok()?, id)))
                .ok_or_else(|| ApiError::InvalidRequest("the cursor is malformed".into()))?,
        ),
    };
    let mut rows = app
        .store
        .list_jobs(q.status.as_deref(), cursor, limit + 1)
        .await?;
    let next_cursor = if rows.len() as i64 > limit {
        rows.truncate(limit as usize);
        rows.last().map(|j| format!("{}.{}", j.created_at, j.id))
    } else {
        None
    };
    Ok(Json(json!({
        "items": rows.iter().map(job_view).collect::<Vec<_>>(),
        "next_cursor": next_cursor,
    })))
}

async fn find(app: &AppState, id: &str) -> Result<JobRow, ApiError> {
    app.store
        .get_job(id)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("no job has the id {id:?}")))
}

pub async fn show(
    State(app): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let job = find(&app, &id).await?;
    let attempts = app.store.job_attempts(&id).await?;
    let mut view = job_view(&job);
    view["attempts"] = attempts
        .iter()
        .map(|a| {
            json!({
                "generation": a.generation,
                "attempt": a.attempt,
                "started_at": time_text(a.started_at),
                "finished_at": time_text(a.finished_at),
                "http_status": a.http_status,
                "outcome": a.outcome,
                "error": a.error,
            })
        })
        .collect();
    if let Ok(uuid) = Uuid::parse_str(&job.delivery_id) {
        if let Some(delivery) = app.store.get_delivery(uuid).await? {
            view["delivery"] = json!({
                "id": delivery.id,
                "source": delivery.source,
                "event": delivery.event_kind,
                "received_at": time_text(delivery.received_at),
            });
        }
    }
    Ok(Json(view))
}

fn action_result(action: JobAction, id: &str, verb: &str) -> Result<Json<Value>, ApiError> {
    match action {
        JobAction::Done(job) => Ok(Json(job_view(&job))),
        JobAction::NotAllowed(status) => Err(ApiError::Conflict(format!(
            "job {id} is {status}: only {} jobs can be {verb}",
            if verb == "retried" {
                "dead"
            } else {
                "queued or retrying (never sent)"
            }
        ))),
        JobAction::NotFound => Err(ApiError::NotFound(format!("no job has the id {id:?}"))),
    }
}

pub async fn cancel(
    State(app): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let action = app.store.cancel_job(&id, store::now_ms()).await?;
    tracing::info!(job_id = %id, "cancel requested");
    action_result(action, &id, "cancelled")
}

pub async fn retry(
    State(app): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let job = find(&app, &id).await?;
    if job.status != "dead" {
        return action_result(JobAction::NotAllowed(job.status), &id, "retried");
    }
    // A dead job may still have made a run (a timeout at the last attempt): never start
    // a second one.
    let live = app.live.current();
    if let Some(client) = live.targets.get(&job.target).and_then(TargetClient::live) {
        match client.find_run_by_tag(&job_tag(&job)).await {
            Ok(None) => {}
            Ok(Some(run)) => {
                return Err(ApiError::Conflict(format!(
                    "ZenML already has run {} ({}) for this job: not retried",
                    run.name, run.id
                )))
            }
            Err(error) => {
                tracing::warn!(job_id = %id, error = %error.summary(), "retry: cannot check for a run");
                return Err(ApiError::Upstream(format!(
                    "cannot check ZenML for an existing run, so the job was not retried: {}",
                    error.summary()
                )));
            }
        }
    }
    let action = app
        .store
        .retry_job(&id, Uuid::now_v7(), store::now_ms())
        .await?;
    app.job_wake.notify_one();
    tracing::info!(job_id = %id, "retry requested");
    action_result(action, &id, "retried")
}

fn matched_rules(trace: &[TraceEntry]) -> BTreeSet<String> {
    trace
        .iter()
        .filter(|entry| entry.outcome == Outcome::Matched)
        .map(|entry| entry.rule.clone())
        .collect()
}

pub async fn replay(
    State(app): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let (_, delivery) = find_delivery(&app, &id).await?;
    let headers = stored_headers_map(&delivery.headers);
    let payload = payload_of(&delivery, &headers)?;
    let live = app.live.current();
    let source = live.sources.get(&delivery.source).ok_or_else(|| {
        ApiError::Conflict(format!(
            "the delivery's source {:?} is no longer configured",
            delivery.source
        ))
    })?;
    // Normalise again: today's normaliser may know more than the one that stored it.
    let envelope = event::envelope(source.kind, &source.envelope, &headers, &payload);
    let event: Event = event::normalise(source.kind, &envelope, &headers, &payload);
    let rules = app.rules.current();
    let routing = crate::rules::route(
        &rules,
        &EvalInput {
            source: &source.name,
            event: &event,
            payload: &std::sync::Arc::new(payload),
        },
    );
    let jobs = intake::jobs_for(&routing);
    let created = app
        .store
        .insert_jobs(&delivery.id, delivery.seq, &jobs, store::now_ms())
        .await?;
    if !created.is_empty() {
        app.job_wake.notify_one();
    }
    let original: Vec<TraceEntry> = serde_json::from_str(&delivery.trace).unwrap_or_default();
    let before = matched_rules(&original);
    let now = matched_rules(&routing.trace);
    tracing::info!(delivery_id = %id, jobs = created.len(), "delivery replayed");
    Ok(Json(json!({
        "delivery_id": delivery.id,
        "originally_matched": before,
        "now_matched": now,
        "newly_matched": now.difference(&before).collect::<Vec<_>>(),
        "no_longer_matched": before.difference(&now).collect::<Vec<_>>(),
        "trace": routing.trace,
        "jobs": created.iter().map(job_view).collect::<Vec<_>>(),
    })))
}

/// Asks ZenML to stop the job's run and records what it answered on the job.
pub async fn stop_run(
    State(app): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let job = find(&app, &id).await?;
    let Some(run_id) = job.run_id.clone() else {
        return Err(ApiError::Conflict(format!(
            "job {id} has no ZenML run (it is {}): nothing to stop",
            job.status
        )));
    };
    let live = app.live.current();
    let Some(client) = live.targets.get(&job.target).and_then(TargetClient::live) else {
        return Err(ApiError::Conflict(format!(
            "the job's target {:?} is not configured for calls",
            job.target
        )));
    };
    let now = app.clock.now_ms();
    let (status, outcome, message) = match client.stop_run(&run_id, false).await {
        Ok(()) => (
            Some(200),
            "stop_requested",
            "ZenML accepted the stop request".to_string(),
        ),
        Err(error) => (
            error.status().map(i64::from),
            "stop_refused",
            error.summary(),
        ),
    };
    app.store
        .record_stop_request(&job, status, outcome, &message, now)
        .await?;
    tracing::info!(job_id = %id, run_id = %run_id, outcome, "stop-run requested");
    Ok(Json(json!({
        "job_id": job.id,
        "run_id": run_id,
        "outcome": outcome,
        "http_status": status,
        "message": message,
    })))
}

//! `POST /hooks/{source}`: the webhook hot path, top to bottom.
//!
//! verify the raw bytes → parse → identify and normalise → route through the rules →
//! commit the delivery and its jobs in one transaction → answer. Nothing is answered 202
//! before the commit, and nothing unverified is stored.

use axum::body::Body;
use axum::extract::rejection::PathRejection;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::json;
use sha2::{Digest, Sha256};
use uuid::Uuid;

use super::error::ApiError;
use super::AppState;
use crate::config::Source;
use crate::event::{self, Event};
use crate::rules::{self, EvalInput, Match, Routing, TraceEntry};
use crate::store::{
    CommitError, Committed, Dedupe, DeliveryOutcome, JobConcurrency, JobDebounce, NewDelivery,
    NewJob,
};

pub async fn receive(
    State(app): State<AppState>,
    source_name: Result<Path<String>, PathRejection>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    // A name that does not decode (not UTF-8) names no source: 404 like any other.
    let source_name = source_name.map(|Path(name)| name).unwrap_or_default();
    // One consistent view of the sources for the whole request, even across a reload.
    let live = app.live.current();
    let source = live
        .sources
        .get(&source_name)
        .ok_or(ApiError::UnknownSource)
        .inspect_err(|_| crate::metrics::unknown_source())?;
    let received_at_ms = app.clock.now_ms();
    let body = read_body(body, app.max_body_bytes)
        .await
        .inspect_err(|e| crate::metrics::refused(&source.name, e))?;

    if let Err(rejection) = source
        .verifier
        .verify(&headers, &body, received_at_ms / 1000)
    {
        // The reason is for operators; the sender only learns that it was refused.
        tracing::warn!(source = %source.name, reason = rejection.reason(), "webhook refused");
        crate::metrics::unauthorized(&source.name, rejection.reason());
        return Err(ApiError::Unauthorized);
    }

    let content_type = headers
        .get(axum::http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok());
    // Shared, so that templates read it where it lies (rules/json_object.rs).
    let payload = event::parse_body(content_type, &body)
        .map_err(|e| {
            tracing::info!(source = %source.name, error = %e, "verified body refused");
            ApiError::InvalidBody(e.to_string())
        })
        .inspect_err(|e| crate::metrics::refused(&source.name, e))?;
    let payload = std::sync::Arc::new(payload);
    let envelope = event::envelope(source.kind, &source.envelope, &headers, &payload);
    let event = event::normalise(source.kind, &envelope, &headers, &payload);

    let (outcome, trace, jobs) = if event.kind == "ping" {
        (DeliveryOutcome::Pong, Vec::new(), Vec::new())
    } else {
        route(&app, source, &event, &payload)
    };

    let delivery = NewDelivery {
        // Ids are time-ordered (v7) so each index insert lands at the right edge of its
        // b-tree: random ids touched a different page per row and made the store's time
        // per delivery grow with the table (BENCHMARKS.md).
        id: Uuid::now_v7(),
        source: source.name.clone(),
        dedupe: dedupe_for(source, envelope.delivery_id.is_some()),
        sender_delivery_id: envelope.delivery_id,
        event_type: envelope.event,
        event_kind: event.kind.clone(),
        outcome,
        body_sha256: hex::encode(Sha256::digest(&body)),
        body: body.to_vec(),
        headers: stored_headers(&headers, source),
        event: serde_json::to_string(&event).unwrap_or_else(|_| "{}".into()),
        trace: serde_json::to_string(&trace).unwrap_or_else(|_| "[]".into()),
        received_at_ms,
        jobs,
    };
    let delivery_id = delivery.id;
    let has_jobs = !delivery.jobs.is_empty();
    let committed = app.commits.commit(delivery).await.map_err(|e| {
        match &e {
            CommitError::Busy => {
                tracing::warn!(source = %source.name, %delivery_id, "commit queue full")
            }
            _ => {
                tracing::error!(source = %source.name, %delivery_id, error = %e, "delivery not stored")
            }
        }
        crate::metrics::delivery(&source.name, "unavailable");
        ApiError::Unavailable
    })?;

    crate::failpoint::hit("intake-after-commit");
    Ok(match committed {
        Committed::Accepted { id, seq } => {
            if has_jobs {
                app.job_wake.notify_one();
            }
            tracing::info!(
                delivery_id = %id, seq, source = %source.name, event = %event.kind,
                outcome = outcome.as_str(), "delivery accepted"
            );
            if outcome == DeliveryOutcome::Pong {
                crate::metrics::delivery(&source.name, "pong");
                answer(StatusCode::OK, id, "pong")
            } else {
                crate::metrics::delivery(&source.name, "accepted");
                answer(StatusCode::ACCEPTED, id, "accepted")
            }
        }
        Committed::Duplicate { id } => {
            tracing::info!(delivery_id = %id, discarded = %delivery_id, source = %source.name, "redelivery");
            crate::metrics::delivery(&source.name, "duplicate");
            answer(StatusCode::OK, id, "duplicate")
        }
    })
}

fn answer(status: StatusCode, delivery_id: Uuid, word: &str) -> Response {
    (
        status,
        Json(json!({ "delivery_id": delivery_id, "status": word })),
    )
        .into_response()
}

/// Reads the whole body, refusing it as soon as it passes the limit.
async fn read_body(body: Body, limit: usize) -> Result<axum::body::Bytes, ApiError> {
    axum::body::to_bytes(body, limit).await.map_err(|error| {
        // `to_bytes` reports the limit through a boxed error; anything else is a
        // connection that broke or stalled mid-body.
        let too_large = std::error::Error::source(&error)
            .map(|e| e.is::<http_body_util::LengthLimitError>())
            .unwrap_or(false)
            || error.to_string().contains("length limit");
        if too_large {
            ApiError::BodyTooLarge { limit }
        } else {
            ApiError::InvalidBody("the body could not be read completely".into())
        }
    })
}

/// Evaluates every rule and turns each match into a job.
fn route(
    app: &AppState,
    source: &Source,
    event: &Event,
    payload: &std::sync::Arc<serde_json::Value>,
) -> (DeliveryOutcome, Vec<TraceEntry>, Vec<NewJob>) {
    let rules = app.rules.current();
    let routing = rules::route(
        &rules,
        &EvalInput {
            source: &source.name,
            event,
            payload,
        },
    );
    let jobs = jobs_for(&routing);
    let outcome = if jobs.is_empty() {
        DeliveryOutcome::Unmatched
    } else {
        DeliveryOutcome::Matched
    };
    (outcome, routing.trace, jobs)
}

/// One trigger job per matching rule, each with its own idempotency key.
pub fn jobs_for(routing: &Routing<'_>) -> Vec<NewJob> {
    routing.matches.iter().map(job_for).collect()
}

fn job_for(matched: &Match<'_>) -> NewJob {
    let rule = matched.rule;
    let (target_kind, target_id) = match rule.target() {
        rules::TriggerTarget::Template(id) => ("template", id),
        rules::TriggerTarget::Snapshot(id) => ("snapshot", id),
    };
    let flow = &matched.flow;
    // A key left empty in the rule means one key for the whole rule.
    let scoped = |key: &str| {
        if key.is_empty() {
            rule.spec.name.clone()
        } else {
            key.to_owned()
        }
    };
    NewJob {
        id: Uuid::now_v7(),
        rule_id: rule.id,
        rule_version: rule.version,
        rule_name: rule.spec.name.clone(),
        idempotency_key: Uuid::now_v7(),
        target: rule.spec.target.clone(),
        target_kind,
        target_id,
        run_config: matched.run_config.to_string(),
        debounce: flow.debounce.as_ref().map(|d| JobDebounce {
            key: d.key.clone(),
            window_ms: d.window.as_millis() as i64,
            max_wait_ms: d.max_wait.as_millis() as i64,
        }),
        concurrency: flow.concurrency.as_ref().map(|c| JobConcurrency {
            key: scoped(&c.key),
            max_running: i64::from(c.max_running),
            on_busy: c.on_busy.as_str(),
        }),
        ordered: flow.ordered,
    }
}

fn dedupe_for(source: &Source, has_delivery_id: bool) -> Dedupe {
    match (has_delivery_id, source.dedupe_window) {
        (true, _) => Dedupe::DeliveryId,
        (false, Some(window)) => Dedupe::BodyWithin(window.as_millis() as i64),
        (false, None) => Dedupe::Off,
    }
}

/// Headers that carry credentials, never stored.
const CREDENTIAL_HEADERS: [&str; 4] = [
    "authorization",
    "proxy-authorization",
    "cookie",
    "x-gitlab-token",
];

/// The request headers as a JSON object, credentials removed. Repeated headers keep
/// every value, joined as HTTP would (`, `).
fn stored_headers(headers: &HeaderMap, source: &Source) -> String {
    let token_header = source.verifier.token_header().map(str::to_ascii_lowercase);
    let mut kept = serde_json::Map::new();
    for name in headers.keys() {
        let name_str = name.as_str();
        if CREDENTIAL_HEADERS.contains(&name_str) || token_header.as_deref() == Some(name_str) {
            continue;
        }
        let values: Vec<String> = headers
            .get_all(name)
            .iter()
            .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
            .collect();
        kept.insert(name_str.to_owned(), values.join(", ").into());
    }
    serde_json::Value::Object(kept).to_string()
}

//! Deliveries: what came in, how it was normalised, why each rule did or did not match,
//! and the jobs it made.

use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Value};
use uuid::Uuid;

use super::rules::{page_size, query};
use crate::event;
use crate::http::{ApiError, AppState};
use crate::store::{DeliveryFilter, DeliveryRow};

/// Unix milliseconds as RFC 3339 text (UTC).
pub fn time_text(ms: i64) -> String {
    let at = std::time::UNIX_EPOCH + std::time::Duration::from_millis(ms.max(0) as u64);
    humantime::format_rfc3339_millis(at).to_string()
}

/// A time given as RFC 3339 text or unix milliseconds.
pub fn parse_time(value: &Value) -> Result<i64, ApiError> {
    match value {
        Value::Number(n) => n
            .as_i64()
            .ok_or_else(|| ApiError::InvalidRequest(format!("{n} is not a time"))),
        Value::String(text) => parse_time_text(text),
        other => Err(ApiError::InvalidRequest(format!("{other} is not a time"))),
    }
}

fn parse_time_text(text: &str) -> Result<i64, ApiError> {
    if let Ok(ms) = text.parse::<i64>() {
        return Ok(ms);
    }
    humantime::parse_rfc3339_weak(text)
        .ok()
        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
        .map(|d| d.as_millis() as i64)
        .ok_or_else(|| {
            ApiError::InvalidRequest(format!(
                "{text:?} is not a time: use RFC 3339 (2026-11-29T10:00:00Z) or unix milliseconds"
            ))
        })
}

/// The stored headers (a JSON object) as a header map again.
pub fn stored_headers_map(stored: &str) -> HeaderMap {
    let mut headers = HeaderMap::new();
    if let Ok(Value::Object(map)) = serde_json::from_str::<Value>(stored) {
        for (name, value) in map {
            if let (Ok(name), Some(Ok(value))) = (
                axum::http::HeaderName::try_from(name.as_str()),
                value.as_str().map(axum::http::HeaderValue::try_from),
            ) {
                headers.insert(name, value);
            }
        }
    }
    headers
}

/// The stored raw body parsed again, as intake parsed it.
pub fn payload_of(delivery: &DeliveryRow, headers: &HeaderMap) -> Result<Value, ApiError> {
    let content_type = headers
        .get(axum::http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok());
    event::parse_body(content_type, &delivery.body)
        .map_err(|e| ApiError::InvalidRequest(format!("the stored body no longer parses: {e}")))
}

fn summary(delivery: &DeliveryRow) -> Value {
    json!({
        "id": delivery.id,
        "seq": delivery.seq,
        "source": delivery.source,
        "sender_delivery_id": delivery.sender_delivery_id,
        "event_type": delivery.event_type,
        "event": delivery.event_kind,
        "outcome": delivery.outcome,
        "received_at": time_text(delivery.received_at),
        "body_bytes": delivery.body.len(),
        "body_sha256": delivery.body_sha256,
    })
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ListQuery {
    source: Option<String>,
    event: Option<String>,
    outcome: Option<String>,
    since: Option<String>,
    until: Option<String>,
    limit: Option<i64>,
    cursor: Option<i64>,
}

pub async fn list(
    State(app): State<AppState>,
    uri: axum::http::Uri,
) -> Result<Json<Value>, ApiError> {
    let q: ListQuery = query(uri.query())?;
    let limit = page_size(q.limit);
    let filter = DeliveryFilter {
        source: q.source,
        event: q.event,
        outcome: q.outcome,
        since_ms: q.since.as_deref().map(parse_time_text).transpose()?,
        until_ms: q.until.as_deref().map(parse_time_text).transpose()?,
        before_seq: q.cursor,
        limit: limit + 1,
    };
    let mut rows = app.store.list_deliveries(&filter).await?;
    let next_cursor = if rows.len() as i64 > limit {
        rows.truncate(limit as usize);
        rows.last().map(|d| d.seq.to_string())
    } else {
        None
    };
    Ok(Json(json!({
        "items": rows.iter().map(summary).collect::<Vec<_>>(),
        "next_cursor": next_cursor,
    })))
}

/// A stored delivery by its id, or a 404 that says so.
pub async fn find_delivery(app: &AppState, id: &str) -> Result<(Uuid, DeliveryRow), ApiError> {
    let not_found = || ApiError::NotFound(format!("no delivery has the id {id:?}"));
    let uuid = Uuid::parse_str(id).map_err(|_| not_found())?;
    let delivery = app.store.get_delivery(uuid).await?.ok_or_else(not_found)?;
    Ok((uuid, delivery))
}

pub async fn show(
    State(app): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let (uuid, delivery) = find_delivery(&app, &id).await?;
    let jobs = app.store.jobs_of_delivery(uuid).await?;
    let mut view = summary(&delivery);
    let headers: Value = serde_json::from_str(&delivery.headers).unwrap_or(Value::Null);
    let payload = payload_of(&delivery, &stored_headers_map(&delivery.headers)).ok();
    if let Some(object) = view.as_object_mut() {
        object.insert("headers".into(), headers);
        object.insert("payload".into(), payload.unwrap_or(Value::Null));
        object.insert(
            "normalised".into(),
            serde_json::from_str(&delivery.event).unwrap_or(Value::Null),
        );
        object.insert(
            "trace".into(),
            serde_json::from_str(&delivery.trace).unwrap_or(Value::Null),
        );
        object.insert(
            "jobs".into(),
            jobs.iter().map(super::jobs::job_view).collect(),
        );
    }
    Ok(Json(view))
}

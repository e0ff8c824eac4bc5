//! Operations on the service itself: reload the configuration, prune old deliveries,
//! read the audit log.

use axum::extract::State;
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Value};

use super::deliveries::time_text;
use super::rules::{page_size, query};
use crate::http::{ApiError, AppState};

pub async fn reload(State(app): State<AppState>) -> Result<Json<Value>, ApiError> {
    match app.reloader.reload().await {
        Ok(report) => Ok(Json(json!({ "status": "reloaded", "report": report }))),
        Err(why) => {
            tracing::warn!(%why, "reload refused");
            Err(ApiError::InvalidRequest(format!(
                "the configuration was not reloaded (the old one stays in force): {why}"
            )))
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct PruneQuery {
    #[serde(default)]
    dry_run: bool,
}

pub async fn prune(
    State(app): State<AppState>,
    uri: axum::http::Uri,
) -> Result<Json<Value>, ApiError> {
    let q: PruneQuery = query(uri.query())?;
    let report = crate::retention::prune(
        app.store.as_ref(),
        &app.retention,
        app.clock.now_ms(),
        q.dry_run,
    )
    .await?;
    tracing::info!(
        dry_run = q.dry_run,
        bodies = report.bodies,
        deliveries = report.deliveries,
        "prune requested"
    );
    Ok(Json(json!({ "dry_run": q.dry_run, "report": report })))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct AuditQuery {
    limit: Option<i64>,
    cursor: Option<i64>,
}

pub async fn audit(
    State(app): State<AppState>,
    uri: axum::http::Uri,
) -> Result<Json<Value>, ApiError> {
    let q: AuditQuery = query(uri.query())?;
    let limit = page_size(q.limit);
    let mut rows = app.store.list_audit(q.cursor, limit + 1).await?;
    let next_cursor = if rows.len() as i64 > limit {
        rows.truncate(limit as usize);
        rows.last().map(|r| r.seq.to_string())
    } else {
        None
    };
    let parse = |text: &Option<String>| {
        text.as_deref()
            .and_then(|t| serde_json::from_str::<Value>(t).ok())
    };
    let items: Vec<Value> = rows
        .iter()
        .map(|row| {
            json!({
                "seq": row.seq,
                "at": time_text(row.at),
                "token": row.token_name,
                "action": row.action,
                "target": row.target,
                "status": row.status,
                "before": parse(&row.before),
                "after": parse(&row.after),
            })
        })
        .collect();
    Ok(Json(json!({ "items": items, "next_cursor": next_cursor })))
}

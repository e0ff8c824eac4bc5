//! Rules: create, read, replace, delete; dry runs and backtests.

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Value};
use uuid::Uuid;

use super::deliveries::{parse_time, payload_of, stored_headers_map};
use crate::event::{self, Event};
use crate::http::{ApiError, AppState};
use crate::rules::{self, CompiledRule, EvalInput, RuleError, RuleSpec, Verdict};
use crate::store::{DeliveryFilter, RuleRow};
use crate::zenml::{hints, TemplateOrSnapshot};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Page {
    pub limit: Option<i64>,
    pub cursor: Option<String>,
}

/// The page size asked for, kept within bounds.
pub fn page_size(limit: Option<i64>) -> i64 {
    limit.unwrap_or(50).clamp(1, 500)
}

pub fn query<T: serde::de::DeserializeOwned>(raw: Option<&str>) -> Result<T, ApiError> {
    serde_urlencoded_from(raw.unwrap_or(""))
}

fn serde_urlencoded_from<T: serde::de::DeserializeOwned>(raw: &str) -> Result<T, ApiError> {
    Query::<T>::try_from_uri(
        &format!("/?{raw}")
            .parse()
            .map_err(|_| ApiError::InvalidRequest("the query string is malformed".into()))?,
    )
    .map(|Query(q)| q)
    .map_err(|e| ApiError::InvalidRequest(format!("bad query parameters: {}", e.body_text())))
}

/// A rule as the API shows it: identity and version beside the text as written.
pub fn rule_view(row: &RuleRow) -> Value {
    json!({
        "id": row.id,
        "name": row.name,
        "version": row.version,
        "created_at": super::deliveries::time_text(row.created_at),
        "updated_at": super::deliveries::time_text(row.updated_at),
        "spec": serde_json::from_str::<Value>(&row.spec).unwrap_or(Value::Null),
    })
}

/// Parses a rule body; schema errors (unknown fields, wrong types) are `invalid_rule`.
fn parse_rule(body: &[u8]) -> Result<RuleSpec, ApiError> {
    let text = std::str::from_utf8(body).map_err(|_| {
        ApiError::InvalidRule(RuleError {
            field: String::new(),
            message: "the rule is not UTF-8 text".into(),
        })
    })?;
    rules::parse_rule_json(text).map_err(ApiError::InvalidRule)
}

/// Names that `/rules/{rule}` can never reach: the static routes beside it win.
const RESERVED_NAMES: [&str; 2] = ["test", "backtest"];

fn compile(
    app: &AppState,
    id: Uuid,
    version: i64,
    spec: RuleSpec,
) -> Result<CompiledRule, ApiError> {
    if RESERVED_NAMES.contains(&spec.name.as_str()) {
        return Err(ApiError::InvalidRule(RuleError::new(
            "name",
            format!(
                "\"{}\" is reserved (/api/v1/rules/{} is another endpoint)",
                spec.name, spec.name
            ),
        )));
    }
    CompiledRule::compile(id, version, spec, &app.rules.known().catalog())
        .map_err(ApiError::InvalidRule)
}

/// How many names an "unknown name" answer lists.
const MAX_CANDIDATES: usize = 20;

/// A rule that names its template or snapshot gets the id from its target now; one
/// that gives the id (with or without the name beside it) never needs the target.
async fn resolve_names(app: &AppState, spec: &mut RuleSpec) -> Result<(), ApiError> {
    let (kind, name) = match (&spec.template, &spec.snapshot) {
        (Some(name), None) if spec.template_id.is_none() && spec.snapshot_id.is_none() => {
            (TemplateOrSnapshot::Template, name.clone())
        }
        (None, Some(name)) if spec.template_id.is_none() && spec.snapshot_id.is_none() => {
            (TemplateOrSnapshot::Snapshot, name.clone())
        }
        // Ids, or a combination that compiling refuses with its own message.
        _ => return Ok(()),
    };
    let live = app.live.current();
    let Some(target) = live.targets.get(&spec.target) else {
        return Ok(()); // compiling names the unknown target
    };
    let field = hints::object(kind);
    let invalid = |message: String| ApiError::InvalidRule(RuleError::new(field, message));
    if name.trim().is_empty() {
        return Ok(());
    }
    let Some(client) = target.live() else {
        return Err(invalid(hints::shadow_cannot_resolve(&spec.target, kind)));
    };
    let unresolved = |error: crate::zenml::TriggerError| {
        tracing::warn!(target_name = %spec.target, %error, "cannot resolve a {field} name");
        ApiError::TargetUnavailable(hints::name_unresolved(
            &spec.target,
            kind,
            &name,
            &error.summary(),
        ))
    };
    let found = client.find_by_name(kind, &name).await.map_err(unresolved)?;
    let id = match found.as_slice() {
        [one] => Uuid::parse_str(&one.id).map_err(|_| {
            ApiError::TargetUnavailable(hints::name_unresolved(
                &spec.target,
                kind,
                &name,
                &format!("ZenML gave the id {:?}, which is not a UUID", one.id),
            ))
        })?,
        [] => {
            let mut candidates: Vec<String> = client
                .list_templates(kind, None)
                .await
                .map_err(unresolved)?
                .into_iter()
                .filter_map(|t| t.name)
                .collect();
            candidates.dedup();
            if candidates.len() > MAX_CANDIDATES {
                let more = candidates.len() - MAX_CANDIDATES;
                candidates.truncate(MAX_CANDIDATES);
                candidates.push(format!("and {more} more"));
            }
            return Err(invalid(hints::name_unknown(
                &spec.target,
                kind,
                &name,
                &candidates,
            )));
        }
        many => {
            let ids: Vec<String> = many.iter().map(|t| t.id.clone()).collect();
            return Err(invalid(hints::name_ambiguous(
                &spec.target,
                kind,
                &name,
                &ids,
            )));
        }
    };
    match kind {
        TemplateOrSnapshot::Template => spec.template_id = Some(id),
        TemplateOrSnapshot::Snapshot => spec.snapshot_id = Some(id),
    }
    Ok(())
}

async fn find(app: &AppState, key: &str) -> Result<RuleRow, ApiError> {
    app.store
        .find_rule(key)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("no rule has the id or name {key:?}")))
}

/// Puts a change in force in this process at once (other replicas hear it by NOTIFY).
async fn refresh(app: &AppState) {
    if let Err(error) = app.rules.reload(app.store.as_ref()).await {
        tracing::error!(%error, "cannot reload the rules after a change");
    }
}

pub async fn list(
    State(app): State<AppState>,
    uri: axum::http::Uri,
) -> Result<Json<Value>, ApiError> {
    let page: Page = query(uri.query())?;
    let limit = page_size(page.limit);
    let mut rows = app
        .store
        .list_rules(page.cursor.as_deref(), limit + 1)
        .await?;
    let next_cursor = if rows.len() as i64 > limit {
        rows.truncate(limit as usize);
        rows.last().map(|r| r.name.clone())
    } else {
        None
    };
    Ok(Json(json!({
        "items": rows.iter().map(rule_view).collect::<Vec<_>>(),
        "next_cursor": next_cursor,
    })))
}

pub async fn create(State(app): State<AppState>, body: Bytes) -> Result<Response, ApiError> {
    let mut spec = parse_rule(&body)?;
    resolve_names(&app, &mut spec).await?;
    let id = Uuid::new_v4();
    let rule = compile(&app, id, 1, spec)?;
    let text = serde_json::to_string(&rule.spec).unwrap_or_default();
    let row = app
        .store
        .create_rule(id, &rule.spec.name, &text)
        .await?
        .ok_or_else(|| {
            ApiError::Conflict(format!("a rule named {:?} already exists", rule.spec.name))
        })?;
    refresh(&app).await;
    tracing::info!(rule = %row.name, id = %row.id, "rule created");
    Ok((StatusCode::CREATED, Json(rule_view(&row))).into_response())
}

pub async fn show(
    State(app): State<AppState>,
    Path(key): Path<String>,
) -> Result<Json<Value>, ApiError> {
    Ok(Json(rule_view(&find(&app, &key).await?)))
}

pub async fn replace(
    State(app): State<AppState>,
    Path(key): Path<String>,
    body: Bytes,
) -> Result<Json<Value>, ApiError> {
    let existing = find(&app, &key).await?;
    let id = Uuid::parse_str(&existing.id)
        .map_err(|_| ApiError::NotFound(format!("no rule has the id or name {key:?}")))?;
    let mut spec = parse_rule(&body)?;
    resolve_names(&app, &mut spec).await?;
    let rule = compile(&app, id, existing.version + 1, spec)?;
    let text = serde_json::to_string(&rule.spec).unwrap_or_default();
    let row = app
        .store
        .update_rule(id, &rule.spec.name, &text)
        .await?
        .ok_or_else(|| {
            ApiError::Conflict(format!(
                "another rule is already named {:?}",
                rule.spec.name
            ))
        })?;
    refresh(&app).await;
    tracing::info!(rule = %row.name, version = row.version, "rule replaced");
    Ok(Json(rule_view(&row)))
}

pub async fn remove(
    State(app): State<AppState>,
    Path(key): Path<String>,
) -> Result<StatusCode, ApiError> {
    let existing = find(&app, &key).await?;
    let id = Uuid::parse_str(&existing.id)
        .map_err(|_| ApiError::NotFound(format!("no rule has the id or name {key:?}")))?;
    app.store.delete_rule(id).await?;
    refresh(&app).await;
    tracing::info!(rule = %existing.name, "rule deleted");
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DryRun {
    source: Option<String>,
    #[serde(default)]
    headers: serde_json::Map<String, Value>,
    payload: Option<Value>,
    delivery_id: Option<Uuid>,
}

/// One planned trigger: what a matching rule would start.
fn planned(rule: &CompiledRule, run_config: &Value) -> Value {
    let (kind, id) = match rule.target() {
        rules::TriggerTarget::Template(id) => ("template_id", id),
        rules::TriggerTarget::Snapshot(id) => ("snapshot_id", id),
    };
    json!({
        "rule": rule.spec.name,
        "rule_id": rule.id,
        "rule_version": rule.version,
        "target": rule.spec.target,
        kind: id,
        "run_config": run_config,
    })
}

pub async fn dry_run(State(app): State<AppState>, body: Bytes) -> Result<Json<Value>, ApiError> {
    let request: DryRun = serde_json::from_slice(&body)
        .map_err(|e| ApiError::InvalidRequest(format!("bad dry-run request: {e}")))?;
    let (source_name, headers, payload) = match (request.delivery_id, request.payload) {
        (Some(id), None) => {
            let delivery = app
                .store
                .get_delivery(id)
                .await?
                .ok_or_else(|| ApiError::NotFound(format!("no delivery has the id {id}")))?;
            let headers = stored_headers_map(&delivery.headers);
            let payload = payload_of(&delivery, &headers)?;
            (delivery.source, headers, payload)
        }
        (None, Some(payload)) => {
            let source = request.source.ok_or_else(|| {
                ApiError::InvalidRequest("a dry run of a payload needs its source".into())
            })?;
            let mut headers = axum::http::HeaderMap::new();
            for (name, value) in &request.headers {
                let value = value
                    .as_str()
                    .map(str::to_owned)
                    .unwrap_or_else(|| value.to_string());
                if let (Ok(name), Ok(value)) = (
                    axum::http::HeaderName::try_from(name.as_str()),
                    axum::http::HeaderValue::try_from(value),
                ) {
                    headers.append(name, value);
                }
            }
            (source, headers, payload)
        }
        _ => {
            return Err(ApiError::InvalidRequest(
                "give either {\"source\", \"headers\", \"payload\"} or {\"delivery_id\"}".into(),
            ))
        }
    };
    let live = app.live.current();
    let source = live.sources.get(&source_name).ok_or_else(|| {
        ApiError::InvalidRequest(format!("no source is configured as {source_name:?}"))
    })?;
    if !payload.is_object() {
        return Err(ApiError::InvalidRequest(
            "the payload must be a JSON object".into(),
        ));
    }
    let envelope = event::envelope(source.kind, &source.envelope, &headers, &payload);
    let event = event::normalise(source.kind, &envelope, &headers, &payload);
    let rules = app.rules.current();
    let routing = rules::route(
        &rules,
        &EvalInput {
            source: &source.name,
            event: &event,
            payload: &std::sync::Arc::new(payload),
        },
    );
    Ok(Json(json!({
        "source": source.name,
        "event": event,
        "trace": routing.trace,
        "triggers": routing.matches.iter().map(|m| planned(m.rule, &m.run_config)).collect::<Vec<_>>(),
    })))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Backtest {
    /// An unsaved rule, or the id or name of a saved one.
    rule: Value,
    since: Option<Value>,
    until: Option<Value>,
    /// How many of the newest deliveries in the window to replay (default 100, at most 1000).
    count: Option<i64>,
    source: Option<String>,
}

pub async fn backtest(State(app): State<AppState>, body: Bytes) -> Result<Json<Value>, ApiError> {
    let request: Backtest = serde_json::from_slice(&body)
        .map_err(|e| ApiError::InvalidRequest(format!("bad backtest request: {e}")))?;
    let rule = match &request.rule {
        Value::String(key) => {
            let row = find(&app, key).await?;
            crate::rule_cache::compile_row(&row, &app.rules.known())
                .map_err(ApiError::InvalidRequest)?
        }
        Value::Object(_) => {
            let mut spec = parse_rule(request.rule.to_string().as_bytes())?;
            resolve_names(&app, &mut spec).await?;
            compile(&app, Uuid::nil(), 0, spec)?
        }
        _ => {
            return Err(ApiError::InvalidRequest(
                "rule is a rule object or the id or name of a saved rule".into(),
            ))
        }
    };
    let filter = DeliveryFilter {
        source: request.source.clone(),
        since_ms: request.since.as_ref().map(parse_time).transpose()?,
        until_ms: request.until.as_ref().map(parse_time).transpose()?,
        limit: request.count.unwrap_or(100).clamp(1, 1000),
        ..DeliveryFilter::default()
    };
    let deliveries = app.store.list_deliveries(&filter).await?;
    let mut matches = Vec::new();
    let mut rejected_by = std::collections::BTreeMap::<String, u64>::new();
    for delivery in &deliveries {
        let headers = stored_headers_map(&delivery.headers);
        let (Ok(payload), Ok(event)) = (
            payload_of(delivery, &headers),
            serde_json::from_str::<Event>(&delivery.event),
        ) else {
            *rejected_by.entry("unreadable".into()).or_default() += 1;
            continue;
        };
        let verdict = rule.evaluate(&EvalInput {
            source: &delivery.source,
            event: &event,
            payload: &std::sync::Arc::new(payload),
        });
        match verdict {
            Verdict::Matched { run_config, note } => matches.push(json!({
                "delivery_id": delivery.id,
                "seq": delivery.seq,
                "received_at": super::deliveries::time_text(delivery.received_at),
                "source": delivery.source,
                "event": delivery.event_kind,
                "run_config": run_config,
                "note": note,
            })),
            Verdict::Rejected { filter, .. } => {
                *rejected_by.entry(filter.to_string()).or_default() += 1
            }
            Verdict::RenderFailed { reason } => {
                // Matched, but its run configuration would not render: listed with the
                // reason, not counted as a match.
                matches.push(json!({
                    "delivery_id": delivery.id,
                    "seq": delivery.seq,
                    "received_at": super::deliveries::time_text(delivery.received_at),
                    "render_error": reason,
                }));
            }
            Verdict::Disabled => *rejected_by.entry("enabled".into()).or_default() += 1,
        }
    }
    Ok(Json(json!({
        "rule": rule.spec.name,
        "evaluated": deliveries.len(),
        "matched": matches.iter().filter(|m| m.get("run_config").is_some()).count(),
        "matches": matches,
        "rejected_by": rejected_by,
    })))
}

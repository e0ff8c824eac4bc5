//! The audit log: every change made through the admin API (and so the CLI), with the
//! token that made it, what it acted on, the answer, and for rules the text before and
//! after. Reads and dry runs are not changes and are not recorded.

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::Method;
use axum::middleware::Next;
use axum::response::Response;
use serde_json::Value;

use super::auth::Caller;
use crate::http::AppState;
use crate::store::AuditRow;

/// The action and its target, from the route.
fn describe(method: &Method, path: &str) -> Option<(String, String)> {
    let parts: Vec<&str> = path.trim_matches('/').split('/').collect();
    // Under /api/v1 (nested or not).
    let parts: &[&str] = match parts.iter().position(|p| *p == "v1") {
        Some(at) => &parts[at + 1..],
        None => &parts,
    };
    let action = match (method.as_str(), parts) {
        ("POST", ["rules"]) => ("rule.create", String::new()),
        ("PUT", ["rules", key]) => ("rule.update", key.to_string()),
        ("DELETE", ["rules", key]) => ("rule.delete", key.to_string()),
        ("POST", ["rules", "test" | "backtest"]) => return None,
        ("POST", ["deliveries", id, "replay"]) => ("delivery.replay", id.to_string()),
        ("POST", ["jobs", id, verb]) => {
            return Some((format!("job.{}", verb.replace('-', "_")), id.to_string()))
        }
        ("POST", ["admin", verb]) => return Some((format!("admin.{verb}"), String::new())),
        (m, _) if m == "GET" || m == "HEAD" => return None,
        (m, rest) => {
            return Some((
                format!("{} {}", m.to_lowercase(), rest.join("/")),
                String::new(),
            ))
        }
    };
    Some((action.0.to_string(), action.1))
}

fn rule_text(view: &Value) -> Option<String> {
    view.get("spec").map(Value::to_string)
}

pub async fn record(State(app): State<AppState>, request: Request, next: Next) -> Response {
    let Some((mut action, mut target)) = describe(request.method(), request.uri().path()) else {
        return next.run(request).await;
    };
    let token_name = request
        .extensions()
        .get::<Caller>()
        .map(|c| c.token_name.clone())
        .unwrap_or_default();
    // The CLI says when a change is part of a declarative `rules apply`.
    if let Some(via) = request
        .headers()
        .get("x-zenhook-via")
        .and_then(|v| v.to_str().ok())
    {
        action = format!("{action} (via {via})");
    }
    let before = if action.starts_with("rule.update") || action.starts_with("rule.delete") {
        match app.store.find_rule(&target).await {
            Ok(Some(row)) => {
                target = row.name.clone();
                Some(row.spec)
            }
            _ => None,
        }
    } else {
        None
    };

    let response = next.run(request).await;
    let status = response.status();
    // Only a created or replaced rule's answer is read (for its text after the change);
    // every other answer passes through untouched, whatever its size.
    let records_rule =
        status.is_success() && action.starts_with("rule.") && !action.starts_with("rule.delete");
    let (response, after) = if records_rule {
        let (parts, body) = response.into_parts();
        // Our own handler made this body from a rule that passed the request size limit.
        let bytes = match axum::body::to_bytes(body, usize::MAX).await {
            Ok(bytes) => bytes,
            Err(error) => {
                tracing::error!(%error, "cannot read a rule answer for the audit log");
                return Response::from_parts(parts, Body::empty());
            }
        };
        let view: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        if target.is_empty() {
            target = view["name"].as_str().unwrap_or_default().to_owned();
        }
        let after = rule_text(&view);
        (Response::from_parts(parts, Body::from(bytes)), after)
    } else {
        (response, None)
    };
    let entry = AuditRow {
        seq: 0,
        at: app.clock.now_ms(),
        token_name,
        action,
        target,
        status: i64::from(status.as_u16()),
        before,
        after,
    };
    if let Err(error) = app.store.record_audit(&entry).await {
        tracing::error!(%error, action = %entry.action, "cannot write the audit log");
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes_name_their_actions() {
        let cases = [
            ("POST", "/api/v1/rules", Some(("rule.create", ""))),
            ("PUT", "/api/v1/rules/train", Some(("rule.update", "train"))),
            ("DELETE", "/rules/train", Some(("rule.delete", "train"))),
            ("POST", "/api/v1/rules/test", None),
            ("POST", "/api/v1/rules/backtest", None),
            ("GET", "/api/v1/rules", None),
            (
                "POST",
                "/api/v1/jobs/j1/stop-run",
                Some(("job.stop_run", "j1")),
            ),
            ("POST", "/api/v1/jobs/j1/retry", Some(("job.retry", "j1"))),
            (
                "POST",
                "/api/v1/deliveries/d1/replay",
                Some(("delivery.replay", "d1")),
            ),
            ("POST", "/api/v1/admin/reload", Some(("admin.reload", ""))),
        ];
        for (method, path, expected) in cases {
            let got = describe(&method.parse().unwrap(), path);
            let expected = expected.map(|(a, t)| (a.to_string(), t.to_string()));
            assert_eq!(got, expected, "{method} {path}");
        }
    }
}

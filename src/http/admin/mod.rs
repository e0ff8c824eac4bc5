//! The admin API under `/api/v1`: rules, deliveries, dry runs and backtests.
//!
//! Every route is declared once, in [`endpoints`], with its summary: the router and the
//! OpenAPI document are both built from that list, so neither can miss a route.

mod audit;
mod auth;
mod deliveries;
mod jobs;
mod openapi;
mod rules;
mod system;

use axum::routing::MethodRouter;
use axum::Router;

use super::AppState;

/// One route of the admin API.
pub struct Endpoint {
    pub method: &'static str,
    /// Relative to `/api/v1`, in axum's `{param}` syntax (also OpenAPI's).
    pub path: &'static str,
    pub summary: &'static str,
    /// JSON schema of the request body, when it takes one.
    pub request: Option<serde_json::Value>,
    route: MethodRouter<AppState>,
}

fn endpoint(
    method: &'static str,
    path: &'static str,
    summary: &'static str,
    request: Option<serde_json::Value>,
    route: MethodRouter<AppState>,
) -> Endpoint {
    Endpoint {
        method,
        path,
        summary,
        request,
        route,
    }
}

/// Every admin route.
pub fn endpoints() -> Vec<Endpoint> {
    use axum::routing::{delete, get, post, put};
    vec![
        endpoint("get", "/rules", "List rules by name (`limit`, `cursor`).", None, get(rules::list)),
        endpoint("post", "/rules", "Create a rule.", Some(openapi::rule_schema()), post(rules::create)),
        endpoint("get", "/rules/{rule}", "One rule, by id or name.", None, get(rules::show)),
        endpoint("put", "/rules/{rule}", "Replace a rule (its version goes up).", Some(openapi::rule_schema()), put(rules::replace)),
        endpoint("delete", "/rules/{rule}", "Delete a rule.", None, delete(rules::remove)),
        endpoint("post", "/rules/test", "Dry run: the normalised event, every rule's verdict and the rendered run configurations for a payload or a stored delivery. Creates nothing.", Some(openapi::dry_run_schema()), post(rules::dry_run)),
        endpoint("post", "/rules/backtest", "Which stored deliveries a rule (saved or not) would have matched, with the run configuration each would have produced.", Some(openapi::backtest_schema()), post(rules::backtest)),
        endpoint("get", "/deliveries", "List deliveries, newest first (`source`, `event`, `outcome`, `since`, `until`, `limit`, `cursor`).", None, get(deliveries::list)),
        endpoint("get", "/deliveries/{id}", "One delivery with its event, trace and jobs.", None, get(deliveries::show)),
        endpoint("post", "/deliveries/{id}/replay", "Route a stored delivery again against today's rules: a new generation of jobs, and the difference from the original routing.", None, post(jobs::replay)),
        endpoint("get", "/jobs", "List jobs, newest first (`status`, `limit`, `cursor`).", None, get(jobs::list)),
        endpoint("get", "/jobs/{id}", "One job with every attempt.", None, get(jobs::show)),
        endpoint("post", "/jobs/{id}/retry", "Start a new generation of a dead job, after checking by tag that ZenML has no run for it.", None, post(jobs::retry)),
        endpoint("post", "/jobs/{id}/cancel", "Cancel a job that was never sent.", None, post(jobs::cancel)),
        endpoint("post", "/jobs/{id}/stop-run", "Ask ZenML to stop the job's run, and record what it answered.", None, post(jobs::stop_run)),
        endpoint("post", "/admin/reload", "Re-read the configuration, validate all of it and swap it in (admin scope).", None, post(system::reload)),
        endpoint("post", "/admin/prune", "Remove old deliveries now (`dry_run=true` only counts; admin scope).", None, post(system::prune)),
        endpoint("get", "/audit", "The audit log of changes, newest first (`limit`, `cursor`).", None, get(system::audit)),
        endpoint("get", "/openapi.json", "This document.", None, get(openapi::document)),
    ]
}

/// The admin router, to be nested under `/api/v1`.
pub fn router(state: AppState) -> Router<AppState> {
    let mut router = Router::new();
    for endpoint in endpoints() {
        router = router.route(endpoint.path, endpoint.route);
    }
    // Layers run outside in: the token is checked first, then the change is recorded.
    router
        .route_layer(axum::middleware::from_fn_with_state(
            state.clone(),
            audit::record,
        ))
        .route_layer(axum::middleware::from_fn_with_state(
            state,
            auth::require_token,
        ))
}

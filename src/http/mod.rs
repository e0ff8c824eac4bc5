//! The HTTP edge: routes, shared state and the layers every request passes through.

pub mod admin;
mod error;
mod health;
pub mod intake;

use std::sync::Arc;
use std::time::Duration;

use axum::http::{HeaderName, StatusCode};
use axum::response::IntoResponse;
use axum::routing::{get, post};
use axum::{Json, Router};
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::timeout::TimeoutLayer;
use tower_http::trace::TraceLayer;

pub use error::{error_body, ApiError};

use crate::live::Live;
use crate::reload::Reloader;
use crate::rule_cache::RuleCache;
use crate::store::{CommitQueue, Store};

/// What every handler can reach.
#[derive(Clone)]
pub struct AppState {
    /// Sources, targets, admin tokens: what a reload swaps.
    pub live: Arc<Live>,
    pub rules: RuleCache,
    pub commits: CommitQueue,
    pub store: Arc<dyn Store>,
    pub max_body_bytes: usize,
    pub retention: crate::config::RetentionSettings,
    /// Notified when intake commits new jobs, so the worker starts them at once.
    pub job_wake: Arc<tokio::sync::Notify>,
    pub reloader: Arc<Reloader>,
    /// What "now" is (tests move it).
    pub clock: Arc<dyn crate::clock::Clock>,
}

const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// The public router: webhook intake and health checks, and the admin API under
/// `/api/v1` when `with_admin` (it may have a listener of its own instead).
pub fn router(state: AppState, request_timeout: Duration, with_admin: bool) -> Router {
    let mut router = Router::new()
        .route("/hooks/{source}", post(intake::receive))
        .route("/healthz", get(health::healthz))
        .route("/readyz", get(health::readyz))
        .route("/metrics", get(metrics));
    if with_admin {
        router = router.nest("/api/v1", admin::router(state.clone()));
    }
    with_layers(
        router.fallback(not_found).with_state(state),
        request_timeout,
    )
}

/// The admin API alone, for its own listener.
pub fn admin_router(state: AppState, request_timeout: Duration) -> Router {
    let router = Router::new()
        .nest("/api/v1", admin::router(state.clone()))
        .route("/healthz", get(health::healthz))
        .fallback(not_found)
        .with_state(state);
    with_layers(router, request_timeout)
}

fn with_layers(router: Router, request_timeout: Duration) -> Router {
    router
        .layer(
            tower::ServiceBuilder::new()
                .layer(SetRequestIdLayer::new(REQUEST_ID, MakeRequestUuid))
                .layer(TraceLayer::new_for_http().make_span_with(
                    |request: &axum::http::Request<_>| {
                        let request_id = request
                            .headers()
                            .get(REQUEST_ID)
                            .and_then(|v| v.to_str().ok())
                            .unwrap_or("");
                        tracing::info_span!(
                            "request",
                            method = %request.method(),
                            path = %request.uri().path(),
                            request_id,
                        )
                    },
                ))
                .layer(PropagateRequestIdLayer::new(REQUEST_ID))
                // A backstop: the handlers bound their own waits, this bounds everything else.
                .layer(TimeoutLayer::with_status_code(
                    StatusCode::SERVICE_UNAVAILABLE,
                    request_timeout,
                )),
        )
        // Outermost, so it also sees the timeout's answer.
        .layer(axum::middleware::map_response(json_error_bodies))
}

/// Errors made by layers and extractors rather than handlers (the timeout's 503, a
/// malformed request) come with an empty or plain-text body: give them the one error
/// shape every other answer has.
async fn json_error_bodies(response: axum::response::Response) -> axum::response::Response {
    let status = response.status();
    let is_json = response
        .headers()
        .get(axum::http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    if !(status.is_client_error() || status.is_server_error()) || is_json {
        return response;
    }
    let (code, message) = match status {
        StatusCode::SERVICE_UNAVAILABLE => (
            "unavailable",
            "the request took too long to handle; retry later",
        ),
        StatusCode::REQUEST_TIMEOUT => ("request_timeout", "the request took too long to arrive"),
        StatusCode::PAYLOAD_TOO_LARGE => ("body_too_large", "the body is too large"),
        StatusCode::METHOD_NOT_ALLOWED => (
            "method_not_allowed",
            "this address does not take that method",
        ),
        StatusCode::UNSUPPORTED_MEDIA_TYPE => ("unsupported_media_type", "send the body as JSON"),
        _ if status.is_client_error() => ("bad_request", "the request is malformed"),
        _ => ("internal", "the request could not be handled"),
    };
    let (mut parts, _) = response.into_parts();
    parts.headers.remove(axum::http::header::CONTENT_LENGTH);
    parts.headers.insert(
        axum::http::header::CONTENT_TYPE,
        axum::http::HeaderValue::from_static("application/json"),
    );
    let body = serde_json::to_vec(&error_body(code, message)).unwrap_or_default();
    axum::response::Response::from_parts(parts, axum::body::Body::from(body))
}

/// Prometheus text format; public like the health checks (it carries no secrets).
async fn metrics() -> impl IntoResponse {
    (
        [(
            axum::http::header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        crate::metrics::render(),
    )
}

async fn not_found() -> impl IntoResponse {
    (
        StatusCode::NOT_FOUND,
        Json(error_body("not_found", "there is nothing at this address")),
    )
}

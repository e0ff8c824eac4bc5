//! The one error type at the HTTP edge. Every error answer has the same shape,
//! `{"error": {"code": "<snake_case>", "message": "<one sentence>"}}`; internal details
//! are logged where they happen and never returned.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::json;

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("the request is not authenticated")]
    Unauthorized,
    #[error("no webhook source is configured under this name")]
    UnknownSource,
    #[error("the body is larger than the {limit} bytes this service accepts")]
    BodyTooLarge { limit: usize },
    #[error("{0}")]
    InvalidBody(String),
    #[error("the delivery could not be stored right now; retry later")]
    Unavailable,
    #[error("the request took too long to arrive")]
    RequestTimeout,
    #[error("{0}")]
    Forbidden(String),
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    InvalidRequest(String),
    #[error("{}", .0.message)]
    InvalidRule(crate::rules::RuleError),
    #[error("{0}")]
    Conflict(String),
    /// ZenML could not be asked something the answer depends on.
    #[error("{0}")]
    Upstream(String),
    /// A rule names its template, and the target to look the name up on did not answer.
    #[error("{0}")]
    TargetUnavailable(String),
}

impl From<crate::store::StoreError> for ApiError {
    fn from(error: crate::store::StoreError) -> Self {
        tracing::error!(%error, "database error in the admin API");
        ApiError::Unavailable
    }
}

impl ApiError {
    pub fn status(&self) -> StatusCode {
        match self {
            ApiError::Unauthorized => StatusCode::UNAUTHORIZED,
            ApiError::Forbidden(_) => StatusCode::FORBIDDEN,
            ApiError::UnknownSource | ApiError::NotFound(_) => StatusCode::NOT_FOUND,
            ApiError::InvalidRequest(_) | ApiError::InvalidRule(_) => StatusCode::BAD_REQUEST,
            ApiError::Conflict(_) => StatusCode::CONFLICT,
            ApiError::Upstream(_) => StatusCode::BAD_GATEWAY,
            ApiError::BodyTooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::InvalidBody(_) => StatusCode::BAD_REQUEST,
            ApiError::Unavailable | ApiError::TargetUnavailable(_) => {
                StatusCode::SERVICE_UNAVAILABLE
            }
            ApiError::RequestTimeout => StatusCode::REQUEST_TIMEOUT,
        }
    }

    pub fn code(&self) -> &'static str {
        match self {
            ApiError::Unauthorized => "unauthorized",
            ApiError::UnknownSource => "unknown_source",
            ApiError::BodyTooLarge { .. } => "body_too_large",
            ApiError::InvalidBody(_) => "invalid_body",
            ApiError::Unavailable => "unavailable",
            ApiError::RequestTimeout => "request_timeout",
            ApiError::Forbidden(_) => "forbidden",
            ApiError::NotFound(_) => "not_found",
            ApiError::InvalidRequest(_) => "invalid_request",
            ApiError::InvalidRule(_) => "invalid_rule",
            ApiError::Conflict(_) => "conflict",
            ApiError::Upstream(_) => "upstream_unavailable",
            ApiError::TargetUnavailable(_) => "target_unavailable",
        }
    }
}

/// The error body, for answers built outside [`ApiError`] (fallbacks, layers).
pub fn error_body(code: &str, message: &str) -> serde_json::Value {
    json!({ "error": { "code": code, "message": message } })
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut body = error_body(self.code(), &self.to_string());
        if let ApiError::InvalidRule(error) = &self {
            body["error"]["field"] = error.field.clone().into();
        }
        let mut response = (self.status(), Json(body)).into_response();
        if matches!(self, ApiError::Unavailable) {
            // Senders that honour it come back a little later instead of at once.
            response
                .headers_mut()
                .insert(axum::http::header::RETRY_AFTER, 5.into());
        }
        response
    }
}

//! Bearer-token authentication for the admin API, with scopes. Tokens are compared as
//! SHA-256 digests in constant time, so neither their content nor their length leaks.

use axum::extract::{Request, State};
use axum::http::Method;
use axum::middleware::Next;
use axum::response::Response;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::config::Scope;
use crate::http::{ApiError, AppState};

/// Who made an admin request: its token's name and scope (read by the audit log).
#[derive(Debug, Clone)]
pub struct Caller {
    pub token_name: String,
    pub scope: Scope,
}

/// The scope a request needs: reading is `read`; dry runs change nothing, so they are
/// `read` too; reload and prune are `admin`; every other change is `write`.
pub fn required_scope(method: &Method, path: &str) -> Scope {
    let path = path.trim_end_matches('/');
    if method == Method::GET || method == Method::HEAD {
        return Scope::Read;
    }
    if path.ends_with("/rules/test") || path.ends_with("/rules/backtest") {
        return Scope::Read;
    }
    if path.ends_with("/admin/reload") || path.ends_with("/admin/prune") {
        return Scope::Admin;
    }
    Scope::Write
}

pub async fn require_token(
    State(app): State<AppState>,
    mut request: Request,
    next: Next,
) -> Result<Response, ApiError> {
    let presented = request
        .headers()
        .get(axum::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        // The scheme name is case-insensitive (RFC 9110).
        .and_then(|v| {
            let (scheme, token) = v.split_once(' ')?;
            scheme.eq_ignore_ascii_case("bearer").then_some(token)
        })
        .map(str::trim);
    let Some(presented) = presented else {
        return Err(ApiError::Unauthorized);
    };
    let presented: [u8; 32] = Sha256::digest(presented.as_bytes()).into();
    // Every token is compared, so the time taken does not tell which one matched.
    let mut matched = None;
    for token in app.live.admin_tokens().iter() {
        if bool::from(token.digest.ct_eq(&presented)) {
            matched = Some(Caller {
                token_name: token.name.clone(),
                scope: token.scope,
            });
        }
    }
    let Some(caller) = matched else {
        tracing::warn!("admin request with a wrong token");
        return Err(ApiError::Unauthorized);
    };
    let needed = required_scope(request.method(), request.uri().path());
    if caller.scope < needed {
        tracing::warn!(token = %caller.token_name, needed = needed.as_str(), "admin request beyond its scope");
        return Err(ApiError::Forbidden(format!(
            "the token {:?} has scope {}; this needs {}",
            caller.token_name,
            caller.scope.as_str(),
            needed.as_str()
        )));
    }
    request.extensions_mut().insert(caller);
    Ok(next.run(request).await)
}

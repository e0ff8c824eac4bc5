//! Bearer-token authentication for the admin API, compared in constant time.

use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::Response;
use secrecy::ExposeSecret;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::http::{ApiError, AppState};

pub async fn require_token(
    State(app): State<AppState>,
    request: Request,
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
    // Comparing digests keeps the comparison length-independent.
    let presented = Sha256::digest(presented.as_bytes());
    let mut accepted = subtle::Choice::from(0);
    for token in app.admin_tokens.iter() {
        let expected = Sha256::digest(token.expose_secret().as_bytes());
        accepted |= expected.ct_eq(&presented);
    }
    if bool::from(accepted) {
        Ok(next.run(request).await)
    } else {
        tracing::warn!("admin request with a wrong token");
        Err(ApiError::Unauthorized)
    }
}

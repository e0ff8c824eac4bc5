//! What a target's settings reveal before any call: a token pasted where the API key
//! belongs, a `Bearer ` prefix, a short-lived token, a URL with the API path in it.

use secrecy::ExposeSecret;

use super::report::Report;
use crate::config::{Credential, Target};
use crate::zenml::hints;

/// A URL with ZenML's API path in it: zenhook appends `/api/v1/...` itself. True when
/// the URL is usable.
pub fn check_url(target: &Target, report: &mut Report) -> bool {
    let Some(url) = &target.url else {
        return true;
    };
    let path = url.trim_end_matches('/');
    if path.ends_with("/api/v1") || path.ends_with("/api") {
        report.error(
            format!("target {}", target.name),
            format!("the URL {url} ends with the API path"),
            hints::no_such_endpoint(&target.name),
        );
        return false;
    }
    true
}

/// Findings about `target`'s credential; true when it can be sent (no error here).
pub fn check_credential(target: &Target, report: &mut Report) -> bool {
    let name = target.name.as_str();
    let subject = format!("target {name}");
    let errors_before = report.count(super::Level::Error);
    match &target.credential {
        Some(Credential::ApiKey(key)) => {
            let key = key.expose_secret();
            if has_bearer_prefix(key) {
                report.error(
                    &subject,
                    "api_key starts with `Bearer `",
                    hints::bearer_prefix(name, "api_key"),
                );
            } else if looks_like_jwt(key) {
                report.error(
                    &subject,
                    "api_key is a JWT access token, not an API key",
                    hints::jwt_as_api_key(name),
                );
            }
        }
        Some(Credential::Token(token)) => {
            let token = token.expose_secret();
            if has_bearer_prefix(token) {
                report.error(
                    &subject,
                    "token starts with `Bearer `",
                    hints::bearer_prefix(name, "token"),
                );
            } else if looks_like_api_key(token) {
                report.warning(
                    &subject,
                    "token holds an API key",
                    hints::api_key_as_token(name),
                );
            } else {
                report.warning(
                    &subject,
                    "authenticates with a token",
                    hints::token_expires(name),
                );
            }
        }
        None => {}
    }
    report.count(super::Level::Error) == errors_before
}

fn has_bearer_prefix(value: &str) -> bool {
    value
        .get(..7)
        .is_some_and(|prefix| prefix.eq_ignore_ascii_case("bearer "))
}

fn looks_like_api_key(value: &str) -> bool {
    value.starts_with("ZENKEY_") || value.starts_with("ZENPROKEY_")
}

/// A JWT as ZenML issues them: `eyJ` (base64url of `{"`), three base64url segments.
pub fn looks_like_jwt(value: &str) -> bool {
    let segments: Vec<&str> = value.split('.').collect();
    value.starts_with("eyJ")
        && segments.len() == 3
        && segments[..2].iter().all(|s| !s.is_empty())
        && segments.iter().all(|s| {
            s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b == b'=')
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jwts_are_recognised() {
        assert!(looks_like_jwt(
            "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ4In0.sig-_x"
        ));
        assert!(!looks_like_jwt("ZENKEY_eyJpZCI6IjEifQ=="));
        assert!(!looks_like_jwt("eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ4In0"));
        assert!(!looks_like_jwt("eyJ a.b.c"));
    }

    #[test]
    fn bearer_prefixes_in_any_case() {
        assert!(has_bearer_prefix("Bearer eyJ"));
        assert!(has_bearer_prefix("bearer x"));
        assert!(!has_bearer_prefix("Bear"));
        assert!(!has_bearer_prefix("ZENKEY_x"));
    }
}

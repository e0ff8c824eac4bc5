//! GitLab: the plain `X-Gitlab-Token`, or the Standard Webhooks signing token (`whsec_` secrets).

use http::HeaderMap;
use secrecy::SecretString;

use super::headers::single;
use super::scheme::DEFAULT_TOLERANCE;
use super::standard::{is_signing_key, StandardVerifier};
use super::token::TokenDigests;
use super::{Rejection, SchemeError};

const TOKEN: &str = "x-gitlab-token";

/// Which of GitLab's two mechanisms a source uses is decided by its secrets, once, at start-up:
/// with signing keys the signature is required, so a request carrying only the plain token
/// (which any log or proxy may have seen) is never accepted instead.
#[derive(Debug)]
pub(super) enum GitlabVerifier {
    Token(TokenDigests),
    Signing(StandardVerifier),
}

impl GitlabVerifier {
    pub(super) fn new(secrets: &[SecretString]) -> Result<Self, SchemeError> {
        let signing = secrets
            .iter()
            .filter(|secret| is_signing_key(secret))
            .count();
        if signing == 0 {
            Ok(GitlabVerifier::Token(TokenDigests::new(secrets)))
        } else if signing == secrets.len() {
            StandardVerifier::new("gitlab", secrets, DEFAULT_TOLERANCE).map(GitlabVerifier::Signing)
        } else {
            Err(SchemeError::GitlabMixedSecrets)
        }
    }

    pub(super) fn verify(
        &self,
        headers: &HeaderMap,
        body: &[u8],
        now_unix_secs: i64,
    ) -> Result<(), Rejection> {
        match self {
            GitlabVerifier::Token(tokens) => {
                let token = single(headers, TOKEN, Rejection::MalformedSignature)?
                    .ok_or(Rejection::MissingSignature)?;
                if tokens.matches(token) {
                    Ok(())
                } else {
                    Err(Rejection::SignatureMismatch)
                }
            }
            GitlabVerifier::Signing(standard) => standard.verify(headers, body, now_unix_secs),
        }
    }

    pub(super) fn token_header(&self) -> Option<&'static str> {
        match self {
            GitlabVerifier::Token(_) => Some(TOKEN),
            GitlabVerifier::Signing(_) => None,
        }
    }

    pub(super) fn signs_timestamp(&self) -> bool {
        matches!(self, GitlabVerifier::Signing(_))
    }
}

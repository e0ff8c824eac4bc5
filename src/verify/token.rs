//! Shared-token schemes: the sender puts the secret itself in a header.

use http::{HeaderMap, HeaderName};
use secrecy::{ExposeSecret, SecretBox, SecretString};
use sha2::{Digest, Sha256};
use subtle::{Choice, ConstantTimeEq};

use super::headers::{header_name, single, strip_prefix_ignore_case};
use super::{Rejection, SchemeError, TokenScheme};

/// SHA-256 digests of the accepted tokens.
///
/// Comparing fixed-length digests instead of the tokens keeps the comparison time independent
/// of both the presented token's length and the secret's length.
#[derive(Debug)]
pub(super) struct TokenDigests(Vec<SecretBox<[u8; 32]>>);

impl TokenDigests {
    pub(super) fn new(secrets: &[SecretString]) -> Self {
        TokenDigests(
            secrets
                .iter()
                .map(|secret| SecretBox::new(Box::new(digest(secret.expose_secret().as_bytes()))))
                .collect(),
        )
    }

    /// Checks every token, without stopping at the first match.
    pub(super) fn matches(&self, presented: &[u8]) -> bool {
        let presented = digest(presented);
        let matched = self.0.iter().fold(Choice::from(0), |acc, accepted| {
            acc | accepted.expose_secret().ct_eq(&presented)
        });
        matched.into()
    }
}

fn digest(bytes: &[u8]) -> [u8; 32] {
    Sha256::digest(bytes).into()
}

/// `header: <prefix><token>`.
#[derive(Debug)]
pub(super) struct TokenVerifier {
    header: HeaderName,
    prefix: String,
    tokens: TokenDigests,
}

impl TokenVerifier {
    pub(super) fn new(scheme: TokenScheme, secrets: &[SecretString]) -> Result<Self, SchemeError> {
        let header = header_name("token header", &scheme.header)?;
        Ok(TokenVerifier {
            header,
            prefix: scheme.prefix,
            tokens: TokenDigests::new(secrets),
        })
    }

    pub(super) fn header_name(&self) -> &str {
        self.header.as_str()
    }

    pub(super) fn verify(&self, headers: &HeaderMap) -> Result<(), Rejection> {
        let value = single(headers, &self.header, Rejection::MalformedSignature)?
            .ok_or(Rejection::MissingSignature)?;
        let token = strip_prefix_ignore_case(value, self.prefix.as_bytes())
            .ok_or(Rejection::MalformedSignature)?;
        if self.tokens.matches(token) {
            Ok(())
        } else {
            Err(Rejection::SignatureMismatch)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digests_match_only_the_exact_token() {
        let tokens = TokenDigests::new(&["one".into(), "two".into()]);
        assert!(tokens.matches(b"one"));
        assert!(tokens.matches(b"two"));
        assert!(!tokens.matches(b"on"));
        assert!(!tokens.matches(b"one "));
        assert!(!tokens.matches(b""));
        assert!(!tokens.matches(b"ONE"));
    }
}

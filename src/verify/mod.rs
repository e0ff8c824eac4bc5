//! Webhook authentication: checks a request's signature (or token) on the raw body bytes,
//! before anything parses them, against every active secret of a source.
//!
//! Pure: no I/O and no clock; the caller passes the current time. Every comparison of secret
//! material is constant time, and nothing here logs, returns or formats a secret.

mod custom;
mod error;
mod forge;
mod gitlab;
mod headers;
mod mac;
mod scheme;
mod standard;
mod template;
mod timestamp;
mod token;

pub use error::{Rejection, SchemeError};
pub use scheme::{Algorithm, Encoding, HmacScheme, Scheme, TokenScheme, DEFAULT_TOLERANCE};
pub use secrecy::SecretString;

use http::HeaderMap;
use secrecy::ExposeSecret;

use custom::CustomHmacVerifier;
use forge::{Forge, ForgeVerifier};
use gitlab::GitlabVerifier;
use mac::HmacKeys;
use standard::StandardVerifier;
use token::TokenVerifier;

/// Verifies requests for one source. Its `Debug` output redacts every secret.
#[derive(Debug)]
pub struct Verifier {
    scheme_name: &'static str,
    secret_count: usize,
    inner: Inner,
}

#[derive(Debug)]
enum Inner {
    Forge(ForgeVerifier),
    Gitlab(GitlabVerifier),
    Standard(StandardVerifier),
    Hmac(CustomHmacVerifier),
    Token(TokenVerifier),
}

impl Verifier {
    /// Validates the secrets against the scheme: at least one secret, none empty; Standard needs
    /// `whsec_` base64 keys; GitLab secrets are all `whsec_` or all plain; an HMAC scheme's
    /// `signed_payload` contains `{body}` once, and `{timestamp}` exactly when `timestamp_header` is set;
    /// configured header names are valid; timestamp tolerances are at least one second.
    pub fn new(scheme: Scheme, secrets: Vec<SecretString>) -> Result<Verifier, SchemeError> {
        let scheme_name = scheme.name();
        if secrets.is_empty() {
            return Err(SchemeError::NoSecrets {
                scheme: scheme_name,
            });
        }
        if let Some(index) = secrets.iter().position(|s| s.expose_secret().is_empty()) {
            return Err(SchemeError::EmptySecret {
                scheme: scheme_name,
                position: index + 1,
            });
        }
        let inner = match scheme {
            Scheme::Github { allow_sha1 } => Inner::Forge(ForgeVerifier::new(
                Forge::Github { allow_sha1 },
                raw_keys(&secrets),
            )),
            Scheme::Bitbucket => {
                Inner::Forge(ForgeVerifier::new(Forge::Bitbucket, raw_keys(&secrets)))
            }
            Scheme::Gitea => Inner::Forge(ForgeVerifier::new(Forge::Gitea, raw_keys(&secrets))),
            Scheme::Forgejo => Inner::Forge(ForgeVerifier::new(Forge::Forgejo, raw_keys(&secrets))),
            Scheme::Gitlab => Inner::Gitlab(GitlabVerifier::new(&secrets)?),
            Scheme::Standard { tolerance } => {
                Inner::Standard(StandardVerifier::new(scheme_name, &secrets, tolerance)?)
            }
            Scheme::Hmac(hmac_scheme) => {
                Inner::Hmac(CustomHmacVerifier::new(hmac_scheme, raw_keys(&secrets))?)
            }
            Scheme::Token(token_scheme) => {
                Inner::Token(TokenVerifier::new(token_scheme, &secrets)?)
            }
        };
        Ok(Verifier {
            scheme_name,
            secret_count: secrets.len(),
            inner,
        })
    }

    /// Checks `headers` and the raw `body` bytes; `now_unix_secs` is the receiver's clock, used
    /// only by schemes that sign a timestamp. Succeeds when any configured secret matches.
    pub fn verify(
        &self,
        headers: &HeaderMap,
        body: &[u8],
        now_unix_secs: i64,
    ) -> Result<(), Rejection> {
        match &self.inner {
            Inner::Forge(forge) => forge.verify(headers, body),
            Inner::Gitlab(gitlab) => gitlab.verify(headers, body, now_unix_secs),
            Inner::Standard(standard) => standard.verify(headers, body, now_unix_secs),
            Inner::Hmac(custom) => custom.verify(headers, body, now_unix_secs),
            Inner::Token(token) => token.verify(headers),
        }
    }

    /// True when the scheme signs a timestamp (standard, hmac with a timestamp header, gitlab with
    /// `whsec_` keys), so a captured request stops being accepted after the tolerance.
    /// Other schemes need delivery-id deduplication to resist replays.
    pub fn resists_replay(&self) -> bool {
        match &self.inner {
            Inner::Standard(_) => true,
            Inner::Gitlab(gitlab) => gitlab.signs_timestamp(),
            Inner::Hmac(custom) => custom.signs_timestamp(),
            Inner::Forge(_) | Inner::Token(_) => false,
        }
    }

    /// How many secrets are active (more than one while rotating).
    pub fn secret_count(&self) -> usize {
        self.secret_count
    }

    /// The header that carries a secret in clear (the token scheme's header, or `x-gitlab-token`
    /// for GitLab plain tokens), lowercase; it must never be stored or logged. `None` for
    /// schemes that only send signatures.
    pub fn token_header(&self) -> Option<&str> {
        match &self.inner {
            Inner::Token(token) => Some(token.header_name()),
            Inner::Gitlab(gitlab) => gitlab.token_header(),
            Inner::Forge(_) | Inner::Standard(_) | Inner::Hmac(_) => None,
        }
    }

    /// The scheme's short name (`github`, `standard`, ...), for logs.
    pub fn scheme_name(&self) -> &'static str {
        self.scheme_name
    }
}

/// The secrets' UTF-8 bytes as HMAC keys, as the forges use them.
fn raw_keys(secrets: &[SecretString]) -> HmacKeys {
    HmacKeys::new(
        secrets
            .iter()
            .map(|secret| secret.expose_secret().as_bytes().to_vec())
            .collect(),
    )
}

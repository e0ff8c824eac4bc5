//! Why a request was refused, and why a configuration cannot be used.

/// Why a webhook request failed verification.
///
/// The variants carry no data on purpose: nothing derived from a secret or from the attacker's
/// input ends up in logs or responses, and `reason()` is a bounded set of metric labels.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, thiserror::Error)]
pub enum Rejection {
    /// The header carrying the signature (or token) is absent.
    #[error("the signature header is missing")]
    MissingSignature,
    /// The signature header is present but cannot be parsed (bad prefix, bad hex/base64,
    /// wrong length, repeated header, missing token prefix).
    #[error("the signature header is malformed")]
    MalformedSignature,
    /// The signature names an algorithm this scheme refuses (e.g. `sha1=` where only SHA-256 is allowed).
    #[error("the signature uses an algorithm that is not accepted")]
    UnsupportedAlgorithm,
    /// The signature (or token) is well formed but matches none of the configured secrets.
    #[error("the signature does not match any configured secret")]
    SignatureMismatch,
    /// The scheme signs a timestamp but the timestamp header is absent.
    #[error("the timestamp header is missing")]
    MissingTimestamp,
    /// The timestamp header is not a plain number of unix seconds.
    #[error("the timestamp header is malformed")]
    MalformedTimestamp,
    /// The timestamp is outside the tolerance, in the past or in the future.
    #[error("the timestamp is outside the accepted tolerance")]
    StaleTimestamp,
    /// A Standard Webhooks request lacks its `webhook-id` header (it is part of the signed content).
    #[error("the webhook-id header is missing")]
    MissingWebhookId,
}

impl Rejection {
    /// Every variant, e.g. to pre-register metric labels.
    pub const ALL: [Rejection; 8] = [
        Rejection::MissingSignature,
        Rejection::MalformedSignature,
        Rejection::UnsupportedAlgorithm,
        Rejection::SignatureMismatch,
        Rejection::MissingTimestamp,
        Rejection::MalformedTimestamp,
        Rejection::StaleTimestamp,
        Rejection::MissingWebhookId,
    ];

    /// Stable snake_case name, used as a metric label and a log field.
    pub fn reason(&self) -> &'static str {
        match self {
            Rejection::MissingSignature => "missing_signature",
            Rejection::MalformedSignature => "malformed_signature",
            Rejection::UnsupportedAlgorithm => "unsupported_algorithm",
            Rejection::SignatureMismatch => "signature_mismatch",
            Rejection::MissingTimestamp => "missing_timestamp",
            Rejection::MalformedTimestamp => "malformed_timestamp",
            Rejection::StaleTimestamp => "stale_timestamp",
            Rejection::MissingWebhookId => "missing_webhook_id",
        }
    }
}

/// Why a scheme and its secrets cannot be turned into a [`super::Verifier`].
///
/// Messages name secrets by position only (`secret 2`), never by content.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SchemeError {
    #[error("the {scheme} scheme has no secret configured; at least one is required")]
    NoSecrets { scheme: &'static str },

    #[error("secret {position} of the {scheme} scheme is empty; an empty secret would authenticate anyone")]
    EmptySecret {
        scheme: &'static str,
        position: usize,
    },

    #[error("secret {position} of the {scheme} scheme must be a `whsec_` key followed by base64 ({problem})")]
    InvalidSigningKey {
        scheme: &'static str,
        position: usize,
        problem: &'static str,
    },

    #[error("the gitlab scheme mixes `whsec_` signing tokens with plain secret tokens; use only one kind, because accepting a plain token would let requests bypass the signature")]
    GitlabMixedSecrets,

    #[error("the {field} {name:?} is not a valid HTTP header name")]
    InvalidHeaderName { field: &'static str, name: String },

    #[error("the {scheme} scheme's timestamp tolerance must be greater than zero")]
    ZeroTolerance { scheme: &'static str },

    #[error("signed_payload {template:?} is invalid: {problem}")]
    InvalidSignedPayload {
        template: String,
        problem: &'static str,
    },
}

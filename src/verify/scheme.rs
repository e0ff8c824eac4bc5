//! How a source authenticates its webhooks: the configuration side of verification.

use std::time::Duration;

/// Tolerance used by the Standard Webhooks spec and GitLab's signing token.
pub const DEFAULT_TOLERANCE: Duration = Duration::from_secs(5 * 60);

/// One webhook authentication scheme.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Scheme {
    /// `X-Hub-Signature-256: sha256=<hex>`; legacy `X-Hub-Signature: sha1=<hex>` only when allowed.
    Github { allow_sha1: bool },
    /// `X-Gitlab-Token: <secret>`, or Standard Webhooks headers when the secrets are `whsec_` signing tokens.
    Gitlab,
    /// Bitbucket Cloud and Data Center: `X-Hub-Signature: sha256=<hex>`.
    Bitbucket,
    /// `X-Gitea-Signature: <hex>`.
    Gitea,
    /// `X-Forgejo-Signature: <hex>`.
    Forgejo,
    /// Standard Webhooks: `webhook-id`, `webhook-timestamp`, `webhook-signature: v1,<base64>`.
    Standard { tolerance: Duration },
    /// A configurable HMAC signature.
    Hmac(HmacScheme),
    /// A shared token in a header.
    Token(TokenScheme),
}

impl Scheme {
    /// Short lowercase name for messages and logs.
    pub fn name(&self) -> &'static str {
        match self {
            Scheme::Github { .. } => "github",
            Scheme::Gitlab => "gitlab",
            Scheme::Bitbucket => "bitbucket",
            Scheme::Gitea => "gitea",
            Scheme::Forgejo => "forgejo",
            Scheme::Standard { .. } => "standard",
            Scheme::Hmac(_) => "hmac",
            Scheme::Token(_) => "token",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Algorithm {
    Sha1,
    Sha256,
    Sha512,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Encoding {
    Hex,
    Base64,
}

/// A generic HMAC scheme: `signature_header: <prefix><encoded HMAC(secret, signed_payload)>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HmacScheme {
    pub signature_header: String,
    pub algorithm: Algorithm,
    pub encoding: Encoding,
    /// Text before the encoded signature, e.g. `sha256=`; empty for none.
    pub prefix: String,
    /// When set, this header must carry unix seconds within `tolerance`, and the value must be signed.
    pub timestamp_header: Option<String>,
    /// Template of the signed bytes: `{body}` (required, once) and `{timestamp}` (iff a timestamp
    /// header is set); everything else is literal, e.g. `{timestamp}.{body}`.
    pub signed_payload: String,
    pub tolerance: Duration,
}

impl Default for HmacScheme {
    fn default() -> Self {
        HmacScheme {
            signature_header: "X-Signature".to_owned(),
            algorithm: Algorithm::Sha256,
            encoding: Encoding::Hex,
            prefix: String::new(),
            timestamp_header: None,
            signed_payload: "{body}".to_owned(),
            tolerance: DEFAULT_TOLERANCE,
        }
    }
}

/// A shared token: `header: <prefix><token>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenScheme {
    pub header: String,
    /// Stripped before comparing; matched case-insensitively (auth schemes are case-insensitive).
    pub prefix: String,
}

impl Default for TokenScheme {
    fn default() -> Self {
        TokenScheme {
            header: "Authorization".to_owned(),
            prefix: "Bearer ".to_owned(),
        }
    }
}

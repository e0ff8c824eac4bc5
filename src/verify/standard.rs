//! Standard Webhooks (<https://www.standardwebhooks.com/>), also used by GitLab's signing token.

use std::time::Duration;

use http::HeaderMap;
use secrecy::{ExposeSecret, SecretString};

use super::headers::single;
use super::mac::{decode_base64, decode_base64_key, output_len, HmacKeys};
use super::timestamp::checked_timestamp;
use super::{Algorithm, Rejection, SchemeError};

const ID: &str = "webhook-id";
const TIMESTAMP: &str = "webhook-timestamp";
const SIGNATURE: &str = "webhook-signature";
const KEY_PREFIX: &str = "whsec_";
/// The only signature version that is symmetric HMAC-SHA256; others (e.g. `v1a`) are skipped.
const VERSION: &[u8] = b"v1";

/// True when a secret is a Standard Webhooks signing key rather than a plain token.
pub(super) fn is_signing_key(secret: &SecretString) -> bool {
    secret.expose_secret().starts_with(KEY_PREFIX)
}

#[derive(Debug)]
pub(super) struct StandardVerifier {
    tolerance: Duration,
    keys: HmacKeys,
}

impl StandardVerifier {
    pub(super) fn new(
        scheme: &'static str,
        secrets: &[SecretString],
        tolerance: Duration,
    ) -> Result<Self, SchemeError> {
        if tolerance.as_secs() == 0 {
            return Err(SchemeError::ZeroTolerance { scheme });
        }
        let keys = secrets
            .iter()
            .enumerate()
            .map(|(index, secret)| {
                decode_signing_key(secret).map_err(|problem| SchemeError::InvalidSigningKey {
                    scheme,
                    position: index + 1,
                    problem,
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(StandardVerifier {
            tolerance,
            keys: HmacKeys::new(keys),
        })
    }

    pub(super) fn verify(
        &self,
        headers: &HeaderMap,
        body: &[u8],
        now_unix_secs: i64,
    ) -> Result<(), Rejection> {
        let signatures = single(headers, SIGNATURE, Rejection::MalformedSignature)?
            .ok_or(Rejection::MissingSignature)?;
        let id = single(headers, ID, Rejection::MalformedSignature)?
            .ok_or(Rejection::MissingWebhookId)?;
        let timestamp = checked_timestamp(headers, TIMESTAMP, now_unix_secs, self.tolerance)?;
        let candidates = v1_signatures(signatures)?;
        let signed: &[&[u8]] = &[id, b".", timestamp, b".", body];
        if self
            .keys
            .any_matches(Algorithm::Sha256, signed, &candidates)
        {
            Ok(())
        } else {
            Err(Rejection::SignatureMismatch)
        }
    }
}

/// The decoded `v1` signatures of a space-separated `webhook-signature` list.
///
/// Other versions are ignored, as the spec asks; a list with none but other versions is an
/// unsupported algorithm, and `v1` entries that do not decode are skipped (another may match).
fn v1_signatures(header: &[u8]) -> Result<Vec<Vec<u8>>, Rejection> {
    let mut saw_other_version = false;
    let mut candidates = Vec::new();
    for entry in header
        .split(|&byte| byte == b' ')
        .filter(|entry| !entry.is_empty())
    {
        let Some(comma) = entry.iter().position(|&byte| byte == b',') else {
            continue;
        };
        let (version, signature_with_comma) = entry.split_at(comma);
        if version == VERSION {
            if let Ok(signature) =
                decode_base64(&signature_with_comma[1..], output_len(Algorithm::Sha256))
            {
                candidates.push(signature);
            }
        } else if !version.is_empty() {
            saw_other_version = true;
        }
    }
    match (candidates.is_empty(), saw_other_version) {
        (false, _) => Ok(candidates),
        (true, true) => Err(Rejection::UnsupportedAlgorithm),
        (true, false) => Err(Rejection::MalformedSignature),
    }
}

/// The HMAC key of a `whsec_<base64>` secret. The problem text never quotes the secret.
fn decode_signing_key(secret: &SecretString) -> Result<Vec<u8>, &'static str> {
    let encoded = secret
        .expose_secret()
        .strip_prefix(KEY_PREFIX)
        .ok_or("it does not start with `whsec_`")?;
    match decode_base64_key(encoded) {
        None => Err("the part after `whsec_` is not valid base64"),
        Some(key) if key.is_empty() => Err("the key after `whsec_` is empty"),
        Some(key) => Ok(key),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signature_list_keeps_decodable_v1_entries_only() {
        let zero = "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=";
        let header = format!("v1a,xyz  v1,!!bad v1,{zero} v2,{zero}");
        assert_eq!(v1_signatures(header.as_bytes()), Ok(vec![vec![0; 32]]));
    }

    #[test]
    fn signature_list_without_v1_is_unsupported_or_malformed() {
        assert_eq!(
            v1_signatures(b"v1a,abc v2,abc"),
            Err(Rejection::UnsupportedAlgorithm)
        );
        assert_eq!(v1_signatures(b""), Err(Rejection::MalformedSignature));
        assert_eq!(v1_signatures(b"   "), Err(Rejection::MalformedSignature));
        assert_eq!(
            v1_signatures(b"nocomma"),
            Err(Rejection::MalformedSignature)
        );
        assert_eq!(
            v1_signatures(b"v1,short"),
            Err(Rejection::MalformedSignature)
        );
        assert_eq!(v1_signatures(b",abc"), Err(Rejection::MalformedSignature));
    }

    #[test]
    fn signing_keys_need_prefix_and_base64() {
        assert_eq!(decode_signing_key(&"whsec_AAE=".into()), Ok(vec![0, 1]));
        assert!(decode_signing_key(&"AAE=".into()).is_err());
        assert!(decode_signing_key(&"whsec_".into()).is_err());
        assert!(decode_signing_key(&"whsec_not base64!".into()).is_err());
    }
}

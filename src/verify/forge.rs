//! Git forges that sign the raw body with HMAC and send it hex-encoded:
//! GitHub, Bitbucket (Cloud and Data Center), Gitea and Forgejo.

use http::HeaderMap;

use super::headers::single;
use super::mac::{decode_hex, output_len, HmacKeys};
use super::{Algorithm, Rejection};

const GITHUB_SHA256: &str = "x-hub-signature-256";
/// GitHub's legacy SHA-1 header, which Bitbucket reuses for SHA-256.
const HUB_SIGNATURE: &str = "x-hub-signature";
const GITEA: &str = "x-gitea-signature";
const FORGEJO: &str = "x-forgejo-signature";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Forge {
    Github { allow_sha1: bool },
    Bitbucket,
    Gitea,
    Forgejo,
}

#[derive(Debug)]
pub(super) struct ForgeVerifier {
    forge: Forge,
    keys: HmacKeys,
}

impl ForgeVerifier {
    pub(super) fn new(forge: Forge, keys: HmacKeys) -> Self {
        ForgeVerifier { forge, keys }
    }

    pub(super) fn verify(&self, headers: &HeaderMap, body: &[u8]) -> Result<(), Rejection> {
        match self.forge {
            Forge::Github { allow_sha1 } => self.verify_github(headers, body, allow_sha1),
            Forge::Bitbucket => {
                let value = required(headers, HUB_SIGNATURE)?;
                self.check_labelled(value, "sha256", Algorithm::Sha256, body)
            }
            Forge::Gitea => self.check_bare_hex(required(headers, GITEA)?, body),
            Forge::Forgejo => self.check_bare_hex(required(headers, FORGEJO)?, body),
        }
    }

    /// The SHA-256 header always decides when present, so a sender (or attacker) cannot pick the
    /// weaker SHA-1 header when both are sent.
    fn verify_github(
        &self,
        headers: &HeaderMap,
        body: &[u8],
        allow_sha1: bool,
    ) -> Result<(), Rejection> {
        if let Some(value) = single(headers, GITHUB_SHA256, Rejection::MalformedSignature)? {
            return self.check_labelled(value, "sha256", Algorithm::Sha256, body);
        }
        match single(headers, HUB_SIGNATURE, Rejection::MalformedSignature)? {
            Some(value) if allow_sha1 => self.check_labelled(value, "sha1", Algorithm::Sha1, body),
            Some(_) => Err(Rejection::UnsupportedAlgorithm),
            None => Err(Rejection::MissingSignature),
        }
    }

    /// `<label>=<hex>`; any other label is an algorithm this scheme refuses.
    fn check_labelled(
        &self,
        value: &[u8],
        label: &str,
        algorithm: Algorithm,
        body: &[u8],
    ) -> Result<(), Rejection> {
        let value = value.trim_ascii();
        let separator = value
            .iter()
            .position(|&byte| byte == b'=')
            .ok_or(Rejection::MalformedSignature)?;
        let (sent_label, hex_with_separator) = value.split_at(separator);
        if sent_label.is_empty() || !sent_label.iter().all(u8::is_ascii_alphanumeric) {
            return Err(Rejection::MalformedSignature);
        }
        if !sent_label.eq_ignore_ascii_case(label.as_bytes()) {
            return Err(Rejection::UnsupportedAlgorithm);
        }
        self.check_hex(&hex_with_separator[1..], algorithm, body)
    }

    fn check_bare_hex(&self, value: &[u8], body: &[u8]) -> Result<(), Rejection> {
        self.check_hex(value.trim_ascii(), Algorithm::Sha256, body)
    }

    fn check_hex(&self, hex: &[u8], algorithm: Algorithm, body: &[u8]) -> Result<(), Rejection> {
        let signature = decode_hex(hex, output_len(algorithm))?;
        if self.keys.any_matches(algorithm, &[body], &[signature]) {
            Ok(())
        } else {
            Err(Rejection::SignatureMismatch)
        }
    }
}

fn required<'h>(headers: &'h HeaderMap, name: &str) -> Result<&'h [u8], Rejection> {
    single(headers, name, Rejection::MalformedSignature)?.ok_or(Rejection::MissingSignature)
}

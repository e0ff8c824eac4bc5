//! HMAC computation and signature decoding shared by every signing scheme.

use base64::alphabet;
use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig};
use base64::engine::DecodePaddingMode;
use base64::Engine as _;
use hmac::{Hmac, Mac};
use secrecy::{ExposeSecret, SecretSlice};

use super::{Algorithm, Rejection};

/// Standard alphabet; padding optional because senders differ on it.
const BASE64: GeneralPurpose = GeneralPurpose::new(
    &alphabet::STANDARD,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

/// The active HMAC keys of one source; any of them may match (secret rotation).
#[derive(Debug)]
pub(super) struct HmacKeys(Vec<SecretSlice<u8>>);

impl HmacKeys {
    pub(super) fn new(keys: Vec<Vec<u8>>) -> Self {
        HmacKeys(keys.into_iter().map(SecretSlice::from).collect())
    }

    /// True when some key's HMAC over the concatenated `message` parts equals some candidate.
    ///
    /// Every key is tried against every candidate without stopping early, and each comparison
    /// goes through `Mac::verify_slice`, which is constant time.
    pub(super) fn any_matches(
        &self,
        algorithm: Algorithm,
        message: &[&[u8]],
        candidates: &[Vec<u8>],
    ) -> bool {
        let keys = self.0.iter().map(|key| key.expose_secret());
        match algorithm {
            Algorithm::Sha1 => any_matches_with::<Hmac<sha1::Sha1>>(keys, message, candidates),
            Algorithm::Sha256 => any_matches_with::<Hmac<sha2::Sha256>>(keys, message, candidates),
            Algorithm::Sha512 => any_matches_with::<Hmac<sha2::Sha512>>(keys, message, candidates),
        }
    }
}

fn any_matches_with<'k, M>(
    keys: impl Iterator<Item = &'k [u8]>,
    message: &[&[u8]],
    candidates: &[Vec<u8>],
) -> bool
where
    M: Mac + hmac::digest::KeyInit + Clone,
{
    let mut matched = false;
    for key in keys {
        // HMAC accepts keys of any length, so this cannot fail; a key it refused would match nothing.
        let Ok(mut mac) = <M as Mac>::new_from_slice(key) else {
            continue;
        };
        for part in message {
            mac.update(part);
        }
        // The body is hashed once per key; each candidate only costs a clone and a finalisation.
        for candidate in candidates {
            matched |= mac.clone().verify_slice(candidate).is_ok();
        }
    }
    matched
}

/// Length in bytes of the algorithm's HMAC output.
pub(super) fn output_len(algorithm: Algorithm) -> usize {
    match algorithm {
        Algorithm::Sha1 => 20,
        Algorithm::Sha256 => 32,
        Algorithm::Sha512 => 64,
    }
}

/// Hex (either case) of exactly `len` bytes.
pub(super) fn decode_hex(encoded: &[u8], len: usize) -> Result<Vec<u8>, Rejection> {
    // Checked first so an oversized header is refused without allocating for it.
    if encoded.len() != len * 2 {
        return Err(Rejection::MalformedSignature);
    }
    hex::decode(encoded).map_err(|_| Rejection::MalformedSignature)
}

/// Standard base64 (padding optional) of exactly `len` bytes.
pub(super) fn decode_base64(encoded: &[u8], len: usize) -> Result<Vec<u8>, Rejection> {
    if encoded.len() > len.div_ceil(3) * 4 {
        return Err(Rejection::MalformedSignature);
    }
    match BASE64.decode(encoded) {
        Ok(bytes) if bytes.len() == len => Ok(bytes),
        _ => Err(Rejection::MalformedSignature),
    }
}

/// Decodes a base64 key (padding optional); `None` when it is not base64.
pub(super) fn decode_base64_key(encoded: &str) -> Option<Vec<u8>> {
    BASE64.decode(encoded).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    // RFC 4231 test case 2, HMAC-SHA256 (the RFC's published value).
    const RFC4231_CASE2: &str = "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843";

    fn jefe() -> HmacKeys {
        HmacKeys::new(vec![b"Jefe".to_vec()])
    }

    #[test]
    fn message_parts_are_concatenated() {
        let expected = hex::decode(RFC4231_CASE2).expect("hex constant");
        let whole: &[&[u8]] = &[b"what do ya want for nothing?"];
        let split: &[&[u8]] = &[b"what do ya", b"", b" want for nothing?"];
        assert!(jefe().any_matches(Algorithm::Sha256, whole, std::slice::from_ref(&expected)));
        assert!(jefe().any_matches(Algorithm::Sha256, split, &[expected]));
    }

    #[test]
    fn any_key_and_any_candidate_may_match() {
        let expected = hex::decode(RFC4231_CASE2).expect("hex constant");
        let keys = HmacKeys::new(vec![b"old".to_vec(), b"Jefe".to_vec()]);
        let message: &[&[u8]] = &[b"what do ya want for nothing?"];
        assert!(keys.any_matches(Algorithm::Sha256, message, &[vec![0; 32], expected]));
        assert!(!keys.any_matches(Algorithm::Sha256, message, &[vec![0; 32]]));
        assert!(!keys.any_matches(Algorithm::Sha256, message, &[]));
        // A truncated MAC must not pass.
        let truncated = hex::decode(&RFC4231_CASE2[..32]).expect("hex constant");
        assert!(!keys.any_matches(Algorithm::Sha256, message, &[truncated]));
    }

    #[test]
    fn decode_hex_checks_length_and_accepts_both_cases() {
        assert_eq!(decode_hex(b"ABcd", 2), Ok(vec![0xab, 0xcd]));
        assert_eq!(decode_hex(b"abc", 2), Err(Rejection::MalformedSignature));
        assert_eq!(decode_hex(b"abcd", 1), Err(Rejection::MalformedSignature));
        assert_eq!(decode_hex(b"zzzz", 2), Err(Rejection::MalformedSignature));
    }

    #[test]
    fn decode_base64_checks_length_and_tolerates_missing_padding() {
        assert_eq!(decode_base64(b"AAE=", 2), Ok(vec![0, 1]));
        assert_eq!(decode_base64(b"AAE", 2), Ok(vec![0, 1]));
        assert_eq!(
            decode_base64(b"AAEC", 2),
            Err(Rejection::MalformedSignature)
        );
        assert_eq!(decode_base64(b"A", 2), Err(Rejection::MalformedSignature));
        assert_eq!(
            decode_base64(b"!!!=", 2),
            Err(Rejection::MalformedSignature)
        );
        assert_eq!(
            decode_base64(&[b'A'; 4096], 32),
            Err(Rejection::MalformedSignature)
        );
    }
}

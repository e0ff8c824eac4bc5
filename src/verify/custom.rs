//! The configurable HMAC scheme, for senders without a dedicated kind.

use std::time::Duration;

use http::{HeaderMap, HeaderName};

use super::headers::{header_name, single, strip_prefix_ignore_case};
use super::mac::{decode_base64, decode_hex, output_len, HmacKeys};
use super::template::SignedPayload;
use super::timestamp::checked_timestamp;
use super::{Algorithm, Encoding, HmacScheme, Rejection, SchemeError};

#[derive(Debug)]
pub(super) struct CustomHmacVerifier {
    signature_header: HeaderName,
    algorithm: Algorithm,
    encoding: Encoding,
    prefix: String,
    timestamp: Option<(HeaderName, Duration)>,
    payload: SignedPayload,
    keys: HmacKeys,
}

impl CustomHmacVerifier {
    pub(super) fn new(scheme: HmacScheme, keys: HmacKeys) -> Result<Self, SchemeError> {
        let signature_header = header_name("signature_header", &scheme.signature_header)?;
        let timestamp = match &scheme.timestamp_header {
            None => None,
            Some(name) => {
                if scheme.tolerance.as_secs() == 0 {
                    return Err(SchemeError::ZeroTolerance { scheme: "hmac" });
                }
                Some((header_name("timestamp_header", name)?, scheme.tolerance))
            }
        };
        let payload = SignedPayload::parse(&scheme.signed_payload, timestamp.is_some())?;
        Ok(CustomHmacVerifier {
            signature_header,
            algorithm: scheme.algorithm,
            encoding: scheme.encoding,
            prefix: scheme.prefix,
            timestamp,
            payload,
            keys,
        })
    }

    pub(super) fn verify(
        &self,
        headers: &HeaderMap,
        body: &[u8],
        now_unix_secs: i64,
    ) -> Result<(), Rejection> {
        let value = single(
            headers,
            &self.signature_header,
            Rejection::MalformedSignature,
        )?
        .ok_or(Rejection::MissingSignature)?;
        let encoded = strip_prefix_ignore_case(value.trim_ascii(), self.prefix.as_bytes())
            .ok_or(Rejection::MalformedSignature)?;
        let len = output_len(self.algorithm);
        let signature = match self.encoding {
            Encoding::Hex => decode_hex(encoded, len)?,
            Encoding::Base64 => decode_base64(encoded, len)?,
        };
        let timestamp: &[u8] = match &self.timestamp {
            Some((name, tolerance)) => checked_timestamp(headers, name, now_unix_secs, *tolerance)?,
            None => b"",
        };
        let signed = self.payload.parts(body, timestamp);
        if self.keys.any_matches(self.algorithm, &signed, &[signature]) {
            Ok(())
        } else {
            Err(Rejection::SignatureMismatch)
        }
    }

    pub(super) fn signs_timestamp(&self) -> bool {
        self.timestamp.is_some()
    }
}

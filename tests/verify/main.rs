//! Integration tests of `zenhook::verify`.
//!
//! Every signature constant was computed outside this code base; the command that produced it
//! is written next to it. Fixture bodies are read as raw file bytes.

mod bitbucket;
mod gitea_forgejo;
mod github;
mod gitlab;
mod hmac_scheme;
mod robustness;
mod scheme_errors;
mod standard;
mod token;

use http::{HeaderMap, HeaderName, HeaderValue};
use zenhook::verify::{Scheme, SecretString, Verifier};

const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../shared/fixtures/webhooks/");

/// Raw bytes of a shared fixture file, e.g. `gitea/push.json`.
pub fn fixture(path: &str) -> Vec<u8> {
    let full = format!("{FIXTURES}{path}");
    std::fs::read(&full).unwrap_or_else(|err| panic!("cannot read fixture {full}: {err}"))
}

pub fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
    let mut map = HeaderMap::new();
    for (name, value) in pairs {
        map.append(
            HeaderName::try_from(*name).expect("test header name"),
            HeaderValue::from_str(value).expect("test header value"),
        );
    }
    map
}

pub fn secrets(list: &[&str]) -> Vec<SecretString> {
    list.iter()
        .map(|secret| SecretString::from(*secret))
        .collect()
}

pub fn verifier(scheme: Scheme, list: &[&str]) -> Verifier {
    Verifier::new(scheme, secrets(list)).expect("valid test configuration")
}

/// Every copy of `bytes` with exactly one bit flipped.
pub fn each_bit_flipped(bytes: &[u8]) -> impl Iterator<Item = Vec<u8>> + '_ {
    (0..bytes.len() * 8).map(move |bit| {
        let mut copy = bytes.to_vec();
        copy[bit / 8] ^= 1 << (bit % 8);
        copy
    })
}

/// Every copy of a lowercase hex string with one bit of the bytes it encodes flipped.
pub fn each_hex_bit_flipped(hex_text: &str) -> Vec<String> {
    let bytes = hex::decode(hex_text).expect("hex constant");
    each_bit_flipped(&bytes).map(hex::encode).collect()
}

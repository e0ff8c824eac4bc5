//! The properties the fuzz targets (`fuzz/`) check, in the library so that
//! `tests/fuzz_corpus.rs` replays the saved corpus through the very same code on stable.
//!
//! Each function takes the fuzzer's raw bytes and panics when a property fails:
//! - [`verify_roundtrip`]: a request signed as each scheme says verifies, and flipping
//!   any one bit of the body, the signature, the secret or the signed id fails;
//! - [`verify_any_request`]: arbitrary headers and bodies through every verifier and the
//!   envelope reader never panic;
//! - [`normalise_any`]: any body through `parse_body`, `envelope` and `normalise` never
//!   panics, and the event serialises.
//!
//! The signers here are written from the senders' documentation, independently of
//! `verify`, so a bug on one side is not mirrored on the other.

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine as _;
use hmac::{Hmac, Mac};
use http::{HeaderMap, HeaderName, HeaderValue};
use secrecy::SecretString;
use sha1::Sha1;
use sha2::{Sha256, Sha512};

use crate::event::{self, EnvelopeSpec, Locator, SenderKind};
use crate::verify::{Algorithm, Encoding, HmacScheme, Scheme, TokenScheme, Verifier};

/// The fuzzers' "now": any fixed time will do, the timestamps are relative to it.
const NOW: i64 = 1_700_000_000;
const TOLERANCE_SECS: i64 = 300;

/// Reads the fuzzer's bytes front to back; past the end everything is zero or empty.
struct Input<'a>(&'a [u8]);

impl<'a> Input<'a> {
    fn byte(&mut self) -> u8 {
        match self.0.split_first() {
            Some((first, rest)) => {
                self.0 = rest;
                *first
            }
            None => 0,
        }
    }

    fn u16(&mut self) -> u16 {
        u16::from_be_bytes([self.byte(), self.byte()])
    }

    fn take(&mut self, len: usize) -> &'a [u8] {
        let (head, rest) = self.0.split_at(len.min(self.0.len()));
        self.0 = rest;
        head
    }

    fn rest(self) -> &'a [u8] {
        self.0
    }
}

/// The verifiers, one fuzz target each.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Family {
    /// GitHub (SHA-256 and legacy SHA-1), Bitbucket, Gitea, Forgejo.
    Forge,
    /// GitLab's plain token and its `whsec_` signing token.
    Gitlab,
    Standard,
    /// The configurable HMAC scheme: every algorithm, encoding, prefix, timestamp.
    Hmac,
    Token,
}

impl Family {
    pub const ALL: [Family; 5] = [
        Family::Forge,
        Family::Gitlab,
        Family::Standard,
        Family::Hmac,
        Family::Token,
    ];
}

/// One way of signing, with everything the signer needs.
#[derive(Debug, Clone, Copy)]
enum Signing {
    GithubSha256,
    GithubSha1,
    Bitbucket,
    Gitea,
    Forgejo,
    GitlabToken,
    GitlabWhsec,
    Standard,
    Hmac {
        algorithm: Algorithm,
        encoding: Encoding,
        prefixed: bool,
        timestamped: bool,
    },
    Token,
}

impl Signing {
    fn new(family: Family, byte: u8) -> Signing {
        match family {
            Family::Forge => [
                Signing::GithubSha256,
                Signing::GithubSha1,
                Signing::Bitbucket,
                Signing::Gitea,
                Signing::Forgejo,
            ][usize::from(byte % 5)],
            Family::Gitlab if byte % 2 == 0 => Signing::GitlabToken,
            Family::Gitlab => Signing::GitlabWhsec,
            Family::Standard => Signing::Standard,
            Family::Hmac => Signing::Hmac {
                algorithm: [Algorithm::Sha1, Algorithm::Sha256, Algorithm::Sha512]
                    [usize::from(byte % 3)],
                encoding: if byte & 0x40 == 0 {
                    Encoding::Hex
                } else {
                    Encoding::Base64
                },
                prefixed: byte & 0x80 != 0,
                timestamped: byte & 0x20 != 0,
            },
            Family::Token => Signing::Token,
        }
    }

    fn scheme(self) -> Scheme {
        match self {
            Signing::GithubSha256 => Scheme::Github { allow_sha1: false },
            Signing::GithubSha1 => Scheme::Github { allow_sha1: true },
            Signing::Bitbucket => Scheme::Bitbucket,
            Signing::Gitea => Scheme::Gitea,
            Signing::Forgejo => Scheme::Forgejo,
            Signing::GitlabToken | Signing::GitlabWhsec => Scheme::Gitlab,
            Signing::Standard => Scheme::Standard {
                tolerance: std::time::Duration::from_secs(TOLERANCE_SECS as u64),
            },
            Signing::Hmac {
                algorithm,
                encoding,
                prefixed,
                timestamped,
            } => Scheme::Hmac(HmacScheme {
                algorithm,
                encoding,
                prefix: if prefixed {
                    "sha=".into()
                } else {
                    String::new()
                },
                timestamp_header: timestamped.then(|| "X-Timestamp".into()),
                signed_payload: if timestamped {
                    "{timestamp}.{body}".into()
                } else {
                    "{body}".into()
                },
                tolerance: std::time::Duration::from_secs(TOLERANCE_SECS as u64),
                ..HmacScheme::default()
            }),
            Signing::Token => Scheme::Token(TokenScheme::default()),
        }
    }

    /// Signing keys are `whsec_` + base64 of raw bytes; tokens travel in a header, so
    /// they are visible ASCII; the other secrets are any non-empty UTF-8.
    fn secret(self, raw: &[u8]) -> String {
        let raw = if raw.is_empty() { &b"k"[..] } else { raw };
        match self {
            Signing::GitlabWhsec | Signing::Standard => {
                format!("whsec_{}", BASE64.encode(raw))
            }
            Signing::GitlabToken | Signing::Token => {
                raw.iter().map(|b| char::from(b'!' + b % 94)).collect()
            }
            _ => {
                let text = String::from_utf8_lossy(raw).into_owned();
                if text.is_empty() {
                    "k".into()
                } else {
                    text
                }
            }
        }
    }

    fn signs_body(self) -> bool {
        !matches!(self, Signing::GitlabToken | Signing::Token)
    }
}

/// The request a sender would make: headers, the raw MAC (empty for tokens) and how
/// the MAC is put into its header.
struct Signed {
    headers: HeaderMap,
    mac: Vec<u8>,
}

fn hmac(algorithm: Algorithm, key: &[u8], parts: &[&[u8]]) -> Vec<u8> {
    macro_rules! run {
        ($digest:ty) => {{
            let mut mac = Hmac::<$digest>::new_from_slice(key).expect("HMAC takes any key length");
            for part in parts {
                mac.update(part);
            }
            mac.finalize().into_bytes().to_vec()
        }};
    }
    match algorithm {
        Algorithm::Sha1 => run!(Sha1),
        Algorithm::Sha256 => run!(Sha256),
        Algorithm::Sha512 => run!(Sha512),
    }
}

fn put(headers: &mut HeaderMap, name: &'static str, value: String) {
    let value = HeaderValue::try_from(value).expect("signers write visible ASCII");
    headers.insert(HeaderName::from_static(name), value);
}

/// The signature header's value for `mac`.
fn encode_mac(signing: Signing, mac: &[u8]) -> (&'static str, String) {
    match signing {
        Signing::GithubSha256 => (
            "x-hub-signature-256",
            format!("sha256={}", hex::encode(mac)),
        ),
        Signing::GithubSha1 => ("x-hub-signature", format!("sha1={}", hex::encode(mac))),
        Signing::Bitbucket => ("x-hub-signature", format!("sha256={}", hex::encode(mac))),
        Signing::Gitea => ("x-gitea-signature", hex::encode(mac)),
        Signing::Forgejo => ("x-forgejo-signature", hex::encode(mac)),
        Signing::GitlabWhsec | Signing::Standard => {
            ("webhook-signature", format!("v1,{}", BASE64.encode(mac)))
        }
        Signing::Hmac {
            encoding, prefixed, ..
        } => {
            let encoded = match encoding {
                Encoding::Hex => hex::encode(mac),
                Encoding::Base64 => BASE64.encode(mac),
            };
            let prefix = if prefixed { "sha=" } else { "" };
            ("x-signature", format!("{prefix}{encoded}"))
        }
        Signing::GitlabToken | Signing::Token => ("", String::new()),
    }
}

fn sign(signing: Signing, secret: &str, body: &[u8], id: &str, timestamp: i64) -> Signed {
    let mut headers = HeaderMap::new();
    let key = secret.as_bytes();
    let mac = match signing {
        Signing::GithubSha256 | Signing::Bitbucket | Signing::Gitea | Signing::Forgejo => {
            hmac(Algorithm::Sha256, key, &[body])
        }
        Signing::GithubSha1 => hmac(Algorithm::Sha1, key, &[body]),
        Signing::GitlabWhsec | Signing::Standard => {
            let raw_key = BASE64
                .decode(&secret["whsec_".len()..])
                .expect("the key was encoded above");
            put(&mut headers, "webhook-id", id.to_owned());
            put(&mut headers, "webhook-timestamp", timestamp.to_string());
            let stamp = timestamp.to_string();
            let signed: &[&[u8]] = &[id.as_bytes(), b".", stamp.as_bytes(), b".", body];
            hmac(Algorithm::Sha256, &raw_key, signed)
        }
        Signing::Hmac {
            algorithm,
            timestamped,
            ..
        } => {
            if timestamped {
                put(&mut headers, "x-timestamp", timestamp.to_string());
                hmac(
                    algorithm,
                    key,
                    &[timestamp.to_string().as_bytes(), b".", body],
                )
            } else {
                hmac(algorithm, key, &[body])
            }
        }
        Signing::GitlabToken => {
            put(&mut headers, "x-gitlab-token", secret.to_owned());
            Vec::new()
        }
        Signing::Token => {
            put(&mut headers, "authorization", format!("Bearer {secret}"));
            Vec::new()
        }
    };
    if !mac.is_empty() {
        let (name, value) = encode_mac(signing, &mac);
        put(&mut headers, name, value);
    }
    Signed { headers, mac }
}

fn verifier(signing: Signing, secret: &str) -> Verifier {
    Verifier::new(
        signing.scheme(),
        vec![SecretString::from(secret.to_owned())],
    )
    .expect("the secrets generated here are valid for their scheme")
}

/// Signed requests verify; any one flipped bit of what is signed, of the MAC or of the
/// secret is refused; a timestamp past the tolerance is refused.
///
/// Layout: variant byte (which scheme of the family, which options), secret length and
/// bytes, a timestamp offset, a flip index (u16), an id length and bytes, then the body.
pub fn verify_roundtrip(family: Family, data: &[u8]) {
    let mut input = Input(data);
    let signing = Signing::new(family, input.byte());
    let secret_len = usize::from(input.byte() % 65);
    let secret = signing.secret(input.take(secret_len));
    let offset = i64::from(input.byte()) % TOLERANCE_SECS;
    let flip = usize::from(input.u16());
    let id_len = usize::from(input.byte() % 33);
    let id: String = input
        .take(id_len)
        .iter()
        .map(|b| char::from(b'!' + b % 94))
        .collect();
    let id = if id.is_empty() {
        "msg_1".to_owned()
    } else {
        id
    };
    let body = input.rest();

    let timestamp = NOW - offset;
    let verifier = verifier(signing, &secret);
    let signed = sign(signing, &secret, body, &id, timestamp);
    assert_eq!(
        verifier.verify(&signed.headers, body, NOW),
        Ok(()),
        "{signing:?}: a correctly signed request must verify"
    );

    // One bit of the body, else of the MAC.
    let body_bits = if signing.signs_body() {
        body.len() * 8
    } else {
        0
    };
    let mac_bits = signed.mac.len() * 8;
    if body_bits + mac_bits > 0 {
        let bit = flip % (body_bits + mac_bits);
        if bit < body_bits {
            let mut flipped = body.to_vec();
            flipped[bit / 8] ^= 1 << (bit % 8);
            assert!(
                verifier.verify(&signed.headers, &flipped, NOW).is_err(),
                "{signing:?}: body bit {bit} flipped must fail"
            );
        } else {
            let bit = bit - body_bits;
            let mut mac = signed.mac.clone();
            mac[bit / 8] ^= 1 << (bit % 8);
            let mut headers = signed.headers.clone();
            let (name, value) = encode_mac(signing, &mac);
            put(&mut headers, name, value);
            assert!(
                verifier.verify(&headers, body, NOW).is_err(),
                "{signing:?}: signature bit {bit} flipped must fail"
            );
        }
    }

    // One bit of the secret (a token is the secret itself, in the header; a signing
    // key's bits are those of the key, not of its `whsec_` text).
    if let Some(other) = flipped_secret(signing, &secret, flip) {
        let wrong = sign(signing, &other, body, &id, timestamp);
        assert!(
            verifier.verify(&wrong.headers, body, NOW).is_err(),
            "{signing:?}: a request signed with another secret must fail"
        );
    }

    if matches!(
        signing,
        Signing::Standard
            | Signing::GitlabWhsec
            | Signing::Hmac {
                timestamped: true,
                ..
            }
    ) {
        let stale = sign(
            signing,
            &secret,
            body,
            &id,
            NOW - TOLERANCE_SECS - 1 - offset,
        );
        assert!(
            verifier.verify(&stale.headers, body, NOW).is_err(),
            "{signing:?}: a timestamp past the tolerance must fail"
        );
        if matches!(signing, Signing::Standard | Signing::GitlabWhsec) {
            // The id is signed: another id with the same signature fails.
            let mut headers = signed.headers.clone();
            let bit = flip % (id.len() * 8);
            let mut other_id = id.clone().into_bytes();
            other_id[bit / 8] ^= 1 << (bit % 8);
            if let Ok(value) = HeaderValue::from_bytes(&other_id) {
                headers.insert(HeaderName::from_static("webhook-id"), value);
                assert!(
                    verifier.verify(&headers, body, NOW).is_err(),
                    "{signing:?}: another webhook-id must fail"
                );
            }
        }
    }
}

/// `secret` with one bit flipped, when the result is still a secret of the scheme.
fn flipped_secret(signing: Signing, secret: &str, flip: usize) -> Option<String> {
    let flip_in = |bytes: &mut Vec<u8>| {
        let bit = flip % (bytes.len() * 8);
        bytes[bit / 8] ^= 1 << (bit % 8);
    };
    match signing {
        Signing::GitlabWhsec | Signing::Standard => {
            let mut key = BASE64.decode(&secret["whsec_".len()..]).ok()?;
            flip_in(&mut key);
            Some(format!("whsec_{}", BASE64.encode(key)))
        }
        _ => {
            let mut bytes = secret.as_bytes().to_vec();
            flip_in(&mut bytes);
            let other = String::from_utf8(bytes).ok()?;
            let usable = signing.signs_body() || other.bytes().all(|b| b.is_ascii_graphic());
            usable.then_some(other)
        }
    }
}

/// Headers from `name: value` lines; lines that are not a valid header are skipped.
fn parse_headers(text: &[u8]) -> HeaderMap {
    let mut headers = HeaderMap::new();
    for line in text.split(|&b| b == b'\n') {
        let Some(colon) = line.iter().position(|&b| b == b':') else {
            continue;
        };
        let (name, value) = line.split_at(colon);
        let value = value[1..].trim_ascii();
        if let (Ok(name), Ok(value)) = (
            HeaderName::from_bytes(name.trim_ascii()),
            HeaderValue::from_bytes(value),
        ) {
            headers.append(name, value);
        }
    }
    headers
}

fn every_verifier() -> &'static [Verifier] {
    static VERIFIERS: std::sync::OnceLock<Vec<Verifier>> = std::sync::OnceLock::new();
    VERIFIERS.get_or_init(|| {
        let mut verifiers = Vec::new();
        for family in Family::ALL {
            for byte in [0u8, 1, 2, 3, 4, 0x20, 0x41, 0x62, 0xe0] {
                let signing = Signing::new(family, byte);
                verifiers.push(verifier(signing, &signing.secret(b"fuzzing-secret")));
            }
        }
        verifiers
    })
}

/// Arbitrary headers and bodies through every verifier and the envelope reader: no
/// panic, and a refusal always has a reason.
///
/// Layout: 8 bytes of "now", `name: value` lines up to a NUL byte, then the body.
pub fn verify_any_request(data: &[u8]) {
    let mut input = Input(data);
    let now = i64::from_be_bytes(std::array::from_fn(|_| input.byte()));
    let rest = input.rest();
    let (head, body) = match rest.iter().position(|&b| b == 0) {
        Some(nul) => (&rest[..nul], &rest[nul + 1..]),
        None => (rest, &[][..]),
    };
    let headers = parse_headers(head);
    for verifier in every_verifier() {
        for at in [now, NOW] {
            if let Err(rejection) = verifier.verify(&headers, body, at) {
                assert!(!rejection.reason().is_empty());
            }
        }
    }
    let payload = serde_json::from_slice(body).unwrap_or(serde_json::Value::Null);
    for kind in ALL_KINDS {
        let envelope = event::envelope(kind, &configurable_spec(), &headers, &payload);
        let _ = event::normalise(kind, &envelope, &headers, &payload);
    }
}

const ALL_KINDS: [SenderKind; 8] = [
    SenderKind::Github,
    SenderKind::Gitlab,
    SenderKind::Bitbucket,
    SenderKind::Gitea,
    SenderKind::Forgejo,
    SenderKind::Standard,
    SenderKind::Hmac,
    SenderKind::Token,
];

fn configurable_spec() -> EnvelopeSpec {
    EnvelopeSpec {
        event: Some(Locator::JsonPath("$.type".into())),
        delivery_id: Some(Locator::Header("X-Delivery".into())),
    }
}

/// The header that names the event for each sender.
fn event_header(kind: SenderKind) -> &'static str {
    match kind {
        SenderKind::Github => "x-github-event",
        SenderKind::Gitlab => "x-gitlab-event",
        SenderKind::Bitbucket => "x-event-key",
        SenderKind::Gitea => "x-gitea-event",
        SenderKind::Forgejo => "x-forgejo-event",
        SenderKind::Standard | SenderKind::Hmac | SenderKind::Token => "x-event",
    }
}

/// Any body, as any sender, under any event name: parsing may refuse it, but nothing
/// panics and the normalised event serialises and names its sender.
///
/// Layout: sender byte, content-type byte, event name length and bytes, then the body.
pub fn normalise_any(data: &[u8]) {
    let mut input = Input(data);
    let kind = ALL_KINDS[usize::from(input.byte()) % ALL_KINDS.len()];
    let content_type = [
        None,
        Some("application/json"),
        Some("application/json; charset=utf-8"),
        Some("application/x-www-form-urlencoded"),
        Some("text/plain"),
    ][usize::from(input.byte()) % 5];
    let event_len = usize::from(input.byte() % 41);
    let event_name = input.take(event_len);
    let body = input.rest();

    let mut headers = HeaderMap::new();
    if let Ok(value) = HeaderValue::from_bytes(event_name) {
        headers.insert(HeaderName::from_static(event_header(kind)), value);
    }
    if let Some(content_type) = content_type {
        headers.insert(
            http::header::CONTENT_TYPE,
            HeaderValue::from_static(content_type),
        );
    }
    let Ok(payload) = event::parse_body(content_type, body) else {
        return;
    };
    let envelope = event::envelope(kind, &configurable_spec(), &headers, &payload);
    let normalised = event::normalise(kind, &envelope, &headers, &payload);
    assert_eq!(normalised.sender, kind);
    assert!(!normalised.kind.is_empty(), "every event has a kind");
    serde_json::to_string(&normalised).expect("an event always serialises");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_scheme_round_trips_on_a_simple_input() {
        for family in Family::ALL {
            for variant in 0..=255u8 {
                let mut data = vec![variant, 6];
                data.extend_from_slice(b"secret\x05\x01\x02\x04abcd{\"a\":1}");
                verify_roundtrip(family, &data);
            }
        }
    }

    #[test]
    fn empty_inputs_are_fine() {
        for family in Family::ALL {
            verify_roundtrip(family, &[]);
        }
        verify_any_request(&[]);
        normalise_any(&[]);
    }
}

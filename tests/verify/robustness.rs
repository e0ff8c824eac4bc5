//! No input may panic the verifier, and nothing may print a secret.

use std::time::Duration;

use http::{HeaderMap, HeaderName, HeaderValue};
use zenhook::verify::{Algorithm, Encoding, HmacScheme, Rejection, Scheme, TokenScheme, Verifier};

use crate::verifier;

const SECRET: &str = "robustness-secret-value";
const SIGNING_KEY: &str = "whsec_cm9idXN0bmVzcy1zaWduaW5nLWtleS1ieXRlcw==";

fn all_verifiers() -> Vec<Verifier> {
    vec![
        verifier(Scheme::Github { allow_sha1: true }, &[SECRET]),
        verifier(Scheme::Github { allow_sha1: false }, &[SECRET]),
        verifier(Scheme::Gitlab, &[SECRET]),
        verifier(Scheme::Gitlab, &[SIGNING_KEY]),
        verifier(Scheme::Bitbucket, &[SECRET]),
        verifier(Scheme::Gitea, &[SECRET]),
        verifier(Scheme::Forgejo, &[SECRET]),
        verifier(
            Scheme::Standard {
                tolerance: Duration::from_secs(300),
            },
            &[SIGNING_KEY],
        ),
        verifier(Scheme::Hmac(HmacScheme::default()), &[SECRET]),
        verifier(
            Scheme::Hmac(HmacScheme {
                algorithm: Algorithm::Sha512,
                encoding: Encoding::Base64,
                prefix: "v0=".to_owned(),
                timestamp_header: Some("X-Timestamp".to_owned()),
                signed_payload: "v0:{timestamp}:{body}".to_owned(),
                ..HmacScheme::default()
            }),
            &[SECRET],
        ),
        verifier(Scheme::Token(TokenScheme::default()), &[SECRET]),
    ]
}

/// Every header any scheme reads.
const SIGNATURE_HEADERS: [&str; 12] = [
    "x-hub-signature-256",
    "x-hub-signature",
    "x-gitlab-token",
    "x-gitea-signature",
    "x-forgejo-signature",
    "webhook-id",
    "webhook-timestamp",
    "webhook-signature",
    "x-signature",
    "x-timestamp",
    "authorization",
    "x-other",
];

/// Deterministic xorshift, so a failure is reproducible without a `rand` dependency.
struct Xorshift(u64);

impl Xorshift {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    /// Bytes a header value may hold: visible ASCII, space, tab and obs-text (non-UTF-8 0x80..=0xFF).
    fn header_bytes(&mut self, len: usize) -> Vec<u8> {
        const INTERESTING: &[u8] = b"=, v1sha256whsec_0123456789abcdefABCDEF+/Bearer\t";
        (0..len)
            .map(|_| {
                let pick = self.next();
                match pick % 4 {
                    0 => 0x80 | (pick >> 8) as u8,
                    1 => 0x20 + ((pick >> 8) % 95) as u8,
                    _ => INTERESTING[((pick >> 8) as usize) % INTERESTING.len()],
                }
            })
            .collect()
    }
}

#[test]
fn random_headers_never_pass_or_panic() {
    let verifiers = all_verifiers();
    let mut rng = Xorshift(0x9e37_79b9_7f4a_7c15);
    for round in 0..400 {
        let mut headers = HeaderMap::new();
        for name in SIGNATURE_HEADERS {
            if rng.next() % 3 != 0 {
                let len = (rng.next() % 120) as usize;
                let bytes = rng.header_bytes(len);
                let value = HeaderValue::from_bytes(&bytes).expect("allowed bytes");
                headers.append(HeaderName::from_static(name), value);
            }
        }
        let body_len = (rng.next() % 64) as usize;
        let body = rng.header_bytes(body_len);
        let now = rng.next() as i64;
        for v in &verifiers {
            assert!(
                v.verify(&headers, &body, now).is_err(),
                "round {round}: {} accepted random input",
                v.scheme_name()
            );
        }
    }
}

#[test]
fn hostile_values_are_refused_without_panicking() {
    let huge = vec![b'a'; 256 * 1024];
    let huge_list = "v1,AAAA ".repeat(20_000);
    let values: Vec<&[u8]> = vec![
        b"",
        b" ",
        b"\t",
        b"=",
        b",",
        b"sha256=",
        b"sha256=\xff\xfe",
        b"\xff\xff\xff\xff",
        "sha256=é".as_bytes(),
        b"v1,",
        b"v1,====",
        b"v1,A",
        b"v1,AAAAA",
        b"v1,AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
        b"v1,AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAB=",
        b"Bearer ",
        b"Bearer \xc3",
        b"9223372036854775808",
        b"-9223372036854775808",
        &huge,
        huge_list.as_bytes(),
    ];
    for v in all_verifiers() {
        for value in &values {
            let mut headers = HeaderMap::new();
            for name in SIGNATURE_HEADERS {
                headers.insert(
                    HeaderName::from_static(name),
                    HeaderValue::from_bytes(value).expect("allowed bytes"),
                );
            }
            for body in [&b""[..], &huge[..]] {
                for now in [i64::MIN, 0, i64::MAX] {
                    assert!(
                        v.verify(&headers, body, now).is_err(),
                        "{}",
                        v.scheme_name()
                    );
                }
            }
        }
    }
}

#[test]
fn empty_request_is_missing_signature_for_every_scheme() {
    for v in all_verifiers() {
        assert_eq!(
            v.verify(&HeaderMap::new(), b"", 0),
            Err(Rejection::MissingSignature),
            "{}",
            v.scheme_name()
        );
    }
}

#[test]
fn debug_output_never_contains_secrets() {
    let key_part = SIGNING_KEY.trim_start_matches("whsec_");
    for v in all_verifiers() {
        let debug = format!("{v:?}");
        assert!(!debug.contains(SECRET), "{debug}");
        assert!(!debug.contains(key_part), "{debug}");
        assert!(!debug.contains("robustness"), "{debug}");
        assert!(debug.contains("REDACTED"), "{debug}");
    }
}

#[test]
fn rejection_reasons_are_unique_snake_case_labels() {
    let mut seen = std::collections::HashSet::new();
    for rejection in Rejection::ALL {
        let reason = rejection.reason();
        assert!(seen.insert(reason), "duplicate {reason}");
        assert!(
            !reason.is_empty() && reason.bytes().all(|b| b.is_ascii_lowercase() || b == b'_'),
            "{reason}"
        );
        assert!(!rejection.to_string().is_empty());
    }
    assert_eq!(Rejection::MissingSignature.reason(), "missing_signature");
    assert_eq!(Rejection::StaleTimestamp.reason(), "stale_timestamp");
}

#[test]
fn verifier_can_be_shared_across_request_handlers() {
    fn assert_send_sync<T: Send + Sync + 'static>() {}
    assert_send_sync::<Verifier>();
    assert_send_sync::<Rejection>();
    assert_send_sync::<zenhook::verify::SchemeError>();
}

#[test]
fn secret_count_and_token_header_describe_the_configuration() {
    let rotating = verifier(Scheme::Github { allow_sha1: false }, &["a", "b"]);
    assert_eq!(rotating.secret_count(), 2);
    assert_eq!(rotating.token_header(), None);

    let token = verifier(
        Scheme::Token(TokenScheme {
            header: "X-Api-Key".to_owned(),
            prefix: String::new(),
        }),
        &["t"],
    );
    assert_eq!(token.secret_count(), 1);
    assert_eq!(token.token_header(), Some("x-api-key"));
    assert_eq!(
        verifier(Scheme::Token(TokenScheme::default()), &["t"]).token_header(),
        Some("authorization")
    );

    assert_eq!(
        verifier(Scheme::Gitlab, &["plain"]).token_header(),
        Some("x-gitlab-token")
    );
    assert_eq!(
        verifier(Scheme::Gitlab, &[SIGNING_KEY]).token_header(),
        None
    );
    let standard = verifier(
        Scheme::Standard {
            tolerance: Duration::from_secs(300),
        },
        &[SIGNING_KEY],
    );
    assert_eq!(standard.token_header(), None);
    assert_eq!(
        verifier(Scheme::Hmac(HmacScheme::default()), &["k"]).token_header(),
        None
    );
}

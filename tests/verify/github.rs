use zenhook::verify::{Rejection, Scheme};

use crate::{each_bit_flipped, each_hex_bit_flipped, fixture, headers, verifier};

const SECRET: &str = "It's a Secret to Everybody";
const BODY: &[u8] = b"Hello, World!";
// GitHub docs vector; reproduced with:
// python3 -c "import hmac,hashlib;print(hmac.new(b\"It's a Secret to Everybody\",b'Hello, World!',hashlib.sha256).hexdigest())"
const SHA256: &str = "757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17";
// python3 -c "import hmac,hashlib;print(hmac.new(b\"It's a Secret to Everybody\",b'Hello, World!',hashlib.sha1).hexdigest())"
const SHA1: &str = "01dc10d0c83e72ed246219cdd91669667fe2ca59";
// python3 -c "import hmac,hashlib;print(hmac.new(b\"It's a Secret to Everybody\",b'',hashlib.sha256).hexdigest())"
const EMPTY_BODY_SHA256: &str = "66a0c074deaa0f489ead6537e0d32f9a344b90bbeda705b6ed45ecd3b413fb40";
// python3 -c "import hmac,hashlib;print(hmac.new(b'rotated-secret',b'Hello, World!',hashlib.sha256).hexdigest())"
const ROTATED_SHA256: &str = "05dd26b419b7f0ba26bc551461982933a8f2dedb45d3996dd7db294bce877924";
// cd /work/shared/fixtures/webhooks && openssl dgst -sha256 -hmac 'github-fixture-secret' -r github/push.json
const FIXTURE_PUSH_SHA256: &str =
    "4ae4b6c8942520331b6d26e8d56bcb9e3da362d4933ffda3ac6de8773323bcc6";

const STRICT: Scheme = Scheme::Github { allow_sha1: false };
const LEGACY: Scheme = Scheme::Github { allow_sha1: true };

fn sha256_header(hex: &str) -> http::HeaderMap {
    headers(&[("X-Hub-Signature-256", &format!("sha256={hex}"))])
}

#[test]
fn docs_vector_passes() {
    let v = verifier(STRICT, &[SECRET]);
    assert_eq!(v.verify(&sha256_header(SHA256), BODY, 0), Ok(()));
    assert!(!v.resists_replay());
}

#[test]
fn hex_and_header_name_are_case_insensitive() {
    let v = verifier(STRICT, &[SECRET]);
    let upper = headers(&[(
        "x-hub-signature-256",
        &format!("sha256={}", SHA256.to_uppercase()),
    )]);
    assert_eq!(v.verify(&upper, BODY, 0), Ok(()));
}

#[test]
fn fixture_file_bytes_pass() {
    let v = verifier(STRICT, &["github-fixture-secret"]);
    let body = fixture("github/push.json");
    assert_eq!(
        v.verify(&sha256_header(FIXTURE_PUSH_SHA256), &body, 0),
        Ok(())
    );
}

#[test]
fn empty_body_is_signed_like_any_other() {
    let v = verifier(STRICT, &[SECRET]);
    assert_eq!(v.verify(&sha256_header(EMPTY_BODY_SHA256), b"", 0), Ok(()));
    assert_eq!(
        v.verify(&sha256_header(SHA256), b"", 0),
        Err(Rejection::SignatureMismatch)
    );
}

#[test]
fn wrong_secret_is_a_mismatch() {
    let v = verifier(STRICT, &["It's a secret to everybody"]);
    assert_eq!(
        v.verify(&sha256_header(SHA256), BODY, 0),
        Err(Rejection::SignatureMismatch)
    );
}

#[test]
fn any_flipped_body_bit_is_a_mismatch() {
    let v = verifier(STRICT, &[SECRET]);
    let signed = sha256_header(SHA256);
    for body in each_bit_flipped(BODY) {
        assert_eq!(
            v.verify(&signed, &body, 0),
            Err(Rejection::SignatureMismatch)
        );
    }
    let mut longer = BODY.to_vec();
    longer.push(b'\n');
    assert_eq!(
        v.verify(&signed, &longer, 0),
        Err(Rejection::SignatureMismatch)
    );
}

#[test]
fn any_flipped_signature_bit_is_a_mismatch() {
    let v = verifier(STRICT, &[SECRET]);
    for hex in each_hex_bit_flipped(SHA256) {
        assert_eq!(
            v.verify(&sha256_header(&hex), BODY, 0),
            Err(Rejection::SignatureMismatch)
        );
    }
}

#[test]
fn missing_signature_is_reported() {
    let v = verifier(STRICT, &[SECRET]);
    assert_eq!(
        v.verify(&headers(&[("X-GitHub-Event", "push")]), BODY, 0),
        Err(Rejection::MissingSignature)
    );
}

#[test]
fn malformed_signatures_are_reported() {
    let v = verifier(STRICT, &[SECRET]);
    let truncated = format!("sha256={}", &SHA256[..62]);
    let non_hex = format!("sha256={}zz", &SHA256[..62]);
    let bare = SHA256.to_owned();
    let colon = format!("sha256:{SHA256}");
    for value in [
        truncated.as_str(),
        &non_hex,
        &bare,
        &colon,
        "sha256=",
        "=abc",
        "",
    ] {
        let h = headers(&[("X-Hub-Signature-256", value)]);
        assert_eq!(
            v.verify(&h, BODY, 0),
            Err(Rejection::MalformedSignature),
            "{value:?}"
        );
    }
}

#[test]
fn repeated_signature_header_is_malformed() {
    let v = verifier(STRICT, &[SECRET]);
    let value = format!("sha256={SHA256}");
    let h = headers(&[
        ("X-Hub-Signature-256", &value),
        ("X-Hub-Signature-256", &value),
    ]);
    assert_eq!(v.verify(&h, BODY, 0), Err(Rejection::MalformedSignature));
}

#[test]
fn other_algorithm_in_sha256_header_is_unsupported() {
    let v = verifier(LEGACY, &[SECRET]);
    let h = headers(&[("X-Hub-Signature-256", &format!("sha1={SHA1}"))]);
    assert_eq!(v.verify(&h, BODY, 0), Err(Rejection::UnsupportedAlgorithm));
}

#[test]
fn sha1_passes_only_when_allowed() {
    let legacy = headers(&[("X-Hub-Signature", &format!("sha1={SHA1}"))]);
    assert_eq!(verifier(LEGACY, &[SECRET]).verify(&legacy, BODY, 0), Ok(()));
    assert_eq!(
        verifier(STRICT, &[SECRET]).verify(&legacy, BODY, 0),
        Err(Rejection::UnsupportedAlgorithm)
    );
}

#[test]
fn allowed_sha1_still_checks_the_signature() {
    let v = verifier(LEGACY, &[SECRET]);
    for hex in each_hex_bit_flipped(SHA1) {
        let h = headers(&[("X-Hub-Signature", &format!("sha1={hex}"))]);
        assert_eq!(v.verify(&h, BODY, 0), Err(Rejection::SignatureMismatch));
    }
    let sha256_in_legacy_header = headers(&[("X-Hub-Signature", &format!("sha256={SHA256}"))]);
    assert_eq!(
        v.verify(&sha256_in_legacy_header, BODY, 0),
        Err(Rejection::UnsupportedAlgorithm)
    );
}

#[test]
fn sha256_header_decides_when_both_are_present() {
    let v = verifier(LEGACY, &[SECRET]);
    let good_sha256_bad_sha1 = headers(&[
        ("X-Hub-Signature-256", &format!("sha256={SHA256}")),
        (
            "X-Hub-Signature",
            "sha1=0000000000000000000000000000000000000000",
        ),
    ]);
    assert_eq!(v.verify(&good_sha256_bad_sha1, BODY, 0), Ok(()));

    let bad_sha256_good_sha1 = headers(&[
        ("X-Hub-Signature-256", &format!("sha256={ROTATED_SHA256}")),
        ("X-Hub-Signature", &format!("sha1={SHA1}")),
    ]);
    assert_eq!(
        v.verify(&bad_sha256_good_sha1, BODY, 0),
        Err(Rejection::SignatureMismatch)
    );
}

#[test]
fn either_secret_passes_during_rotation() {
    let v = verifier(STRICT, &[SECRET, "rotated-secret"]);
    assert_eq!(v.verify(&sha256_header(SHA256), BODY, 0), Ok(()));
    assert_eq!(v.verify(&sha256_header(ROTATED_SHA256), BODY, 0), Ok(()));
    let reversed = verifier(STRICT, &["rotated-secret", SECRET]);
    assert_eq!(reversed.verify(&sha256_header(SHA256), BODY, 0), Ok(()));
    let neither = verifier(STRICT, &["old", "new"]);
    assert_eq!(
        neither.verify(&sha256_header(SHA256), BODY, 0),
        Err(Rejection::SignatureMismatch)
    );
}

#[test]
fn clock_is_irrelevant_without_a_signed_timestamp() {
    let v = verifier(STRICT, &[SECRET]);
    for now in [i64::MIN, 0, i64::MAX] {
        assert_eq!(v.verify(&sha256_header(SHA256), BODY, now), Ok(()));
    }
}

use zenhook::verify::{Rejection, Scheme};

use crate::{each_bit_flipped, fixture, headers, verifier};

const SECRET: &str = "bitbucket-secret";
const BODY_FILE: &str = "bitbucket/repo-push-gp.json";
// cd /work/shared/fixtures/webhooks && openssl dgst -sha256 -hmac 'bitbucket-secret' -r bitbucket/repo-push-gp.json
const SHA256: &str = "d721dea7d153bdff071d4fb9d9f102cf4ea7c02746d8c5a225c162e90a0611e8";
// cd /work/shared/fixtures/webhooks && openssl dgst -sha1 -hmac 'bitbucket-secret' -r bitbucket/repo-push-gp.json
const SHA1: &str = "13646c44acac09b0f8703b0f866e91909f6c3bd0";

fn signed(value: &str) -> http::HeaderMap {
    headers(&[("X-Event-Key", "repo:push"), ("X-Hub-Signature", value)])
}

#[test]
fn sha256_over_fixture_bytes_passes() {
    let v = verifier(Scheme::Bitbucket, &[SECRET]);
    let body = fixture(BODY_FILE);
    assert_eq!(
        v.verify(&signed(&format!("sha256={SHA256}")), &body, 0),
        Ok(())
    );
    assert!(!v.resists_replay());
}

#[test]
fn sha1_is_refused_even_when_correct() {
    let v = verifier(Scheme::Bitbucket, &[SECRET]);
    let body = fixture(BODY_FILE);
    assert_eq!(
        v.verify(&signed(&format!("sha1={SHA1}")), &body, 0),
        Err(Rejection::UnsupportedAlgorithm)
    );
    assert_eq!(
        v.verify(&signed(&format!("sha512={SHA256}")), &body, 0),
        Err(Rejection::UnsupportedAlgorithm)
    );
}

#[test]
fn prefix_is_required() {
    let v = verifier(Scheme::Bitbucket, &[SECRET]);
    let body = fixture(BODY_FILE);
    assert_eq!(
        v.verify(&signed(SHA256), &body, 0),
        Err(Rejection::MalformedSignature)
    );
}

#[test]
fn github_style_sha256_header_is_not_read() {
    let v = verifier(Scheme::Bitbucket, &[SECRET]);
    let body = fixture(BODY_FILE);
    let h = headers(&[("X-Hub-Signature-256", &format!("sha256={SHA256}"))]);
    assert_eq!(v.verify(&h, &body, 0), Err(Rejection::MissingSignature));
}

#[test]
fn wrong_secret_and_tampered_body_are_mismatches() {
    let body = fixture(BODY_FILE);
    let h = signed(&format!("sha256={SHA256}"));
    assert_eq!(
        verifier(Scheme::Bitbucket, &["bitbucket-secreT"]).verify(&h, &body, 0),
        Err(Rejection::SignatureMismatch)
    );
    let v = verifier(Scheme::Bitbucket, &[SECRET]);
    // One flipped bit in each of a few positions across the body (the whole body has ~40k bits).
    for tampered in each_bit_flipped(&body).step_by(997) {
        assert_eq!(
            v.verify(&h, &tampered, 0),
            Err(Rejection::SignatureMismatch)
        );
    }
}

#[test]
fn either_secret_passes_during_rotation() {
    let v = verifier(Scheme::Bitbucket, &["next-secret", SECRET]);
    let body = fixture(BODY_FILE);
    assert_eq!(
        v.verify(&signed(&format!("sha256={SHA256}")), &body, 0),
        Ok(())
    );
}

#[test]
fn missing_signature_is_reported() {
    let v = verifier(Scheme::Bitbucket, &[SECRET]);
    let h = headers(&[("X-Event-Key", "repo:push")]);
    assert_eq!(v.verify(&h, b"{}", 0), Err(Rejection::MissingSignature));
}

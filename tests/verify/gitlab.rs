use zenhook::verify::{Rejection, Scheme, SchemeError, Verifier};

use crate::{each_bit_flipped, fixture, headers, secrets, verifier};

/// Token from the shared fixture gitlab/headers/release-create-gp.json (go-playground/webhooks tests).
const TOKEN: &str = "sampleToken!";

// GitLab signing tokens are `whsec_` + base64 of 32 random bytes; this one is
// python3 -c "import base64;print(base64.b64encode(b'gitlab-signing-key-of-32-bytes!!').decode())"
const SIGNING_KEY: &str = "whsec_Z2l0bGFiLXNpZ25pbmcta2V5LW9mLTMyLWJ5dGVzISE=";
const DELIVERY: &str = "9f3c5e0a-6f0e-4b8c-a1f2-2d4c1e7b8a90";
const TS: i64 = 1_700_000_000;
// cd /work/shared/fixtures/webhooks && python3 -c "import hmac,hashlib,base64;print(base64.b64encode(hmac.new(b'gitlab-signing-key-of-32-bytes!!',b'9f3c5e0a-6f0e-4b8c-a1f2-2d4c1e7b8a90.1700000000.'+open('gitlab/push.json','rb').read(),hashlib.sha256).digest()).decode())"
const PUSH_SIGNATURE: &str = "v1,oeC4IKXQeWdVIVj1VuaJvpQxfP+aCVzUP81uJSa0yVE=";

fn token_request(token: &str) -> http::HeaderMap {
    headers(&[
        ("X-Gitlab-Event", "Release Hook"),
        ("X-Gitlab-Token", token),
    ])
}

fn signed_request(signature: &str) -> http::HeaderMap {
    headers(&[
        ("X-Gitlab-Event", "Push Hook"),
        ("webhook-id", DELIVERY),
        ("webhook-timestamp", &TS.to_string()),
        ("webhook-signature", signature),
    ])
}

#[test]
fn fixture_token_passes() {
    let v = verifier(Scheme::Gitlab, &[TOKEN]);
    let body = fixture("gitlab/release-create-gp.json");
    assert_eq!(v.verify(&token_request(TOKEN), &body, 0), Ok(()));
    assert!(!v.resists_replay());
}

#[test]
fn token_must_match_exactly() {
    let v = verifier(Scheme::Gitlab, &[TOKEN]);
    for wrong in [
        "sampleToken",
        "sampleToken!!",
        "sampletoken!",
        " sampleToken!",
        "",
        "x",
    ] {
        assert_eq!(
            v.verify(&token_request(wrong), b"{}", 0),
            Err(Rejection::SignatureMismatch),
            "{wrong:?}"
        );
    }
    for token in each_bit_flipped(TOKEN.as_bytes()) {
        let Ok(value) = http::HeaderValue::from_bytes(&token) else {
            continue; // a flip that yields a control byte cannot be sent as a header
        };
        let mut h = http::HeaderMap::new();
        h.insert("x-gitlab-token", value);
        assert_eq!(v.verify(&h, b"{}", 0), Err(Rejection::SignatureMismatch));
    }
}

#[test]
fn missing_token_is_reported() {
    let v = verifier(Scheme::Gitlab, &[TOKEN]);
    let h = headers(&[("X-Gitlab-Event", "Push Hook")]);
    assert_eq!(v.verify(&h, b"{}", 0), Err(Rejection::MissingSignature));
}

#[test]
fn either_token_passes_during_rotation() {
    let v = verifier(Scheme::Gitlab, &["next-token", TOKEN]);
    assert_eq!(v.verify(&token_request(TOKEN), b"{}", 0), Ok(()));
    assert_eq!(v.verify(&token_request("next-token"), b"{}", 0), Ok(()));
    assert_eq!(
        v.verify(&token_request("other"), b"{}", 0),
        Err(Rejection::SignatureMismatch)
    );
}

#[test]
fn signing_token_verifies_standard_webhooks_headers() {
    let v = verifier(Scheme::Gitlab, &[SIGNING_KEY]);
    let body = fixture("gitlab/push.json");
    assert_eq!(v.verify(&signed_request(PUSH_SIGNATURE), &body, TS), Ok(()));
    assert!(v.resists_replay());
}

#[test]
fn signing_token_uses_a_five_minute_tolerance() {
    let v = verifier(Scheme::Gitlab, &[SIGNING_KEY]);
    let body = fixture("gitlab/push.json");
    let h = signed_request(PUSH_SIGNATURE);
    assert_eq!(v.verify(&h, &body, TS + 300), Ok(()));
    assert_eq!(
        v.verify(&h, &body, TS + 301),
        Err(Rejection::StaleTimestamp)
    );
    assert_eq!(
        v.verify(&h, &body, TS - 301),
        Err(Rejection::StaleTimestamp)
    );
}

#[test]
fn signing_token_is_required_with_no_downgrade_to_plain_token() {
    let v = verifier(Scheme::Gitlab, &[SIGNING_KEY]);
    let body = fixture("gitlab/push.json");
    // The signing key sent as a plain token (as a misconfigured or malicious sender could) is refused.
    assert_eq!(
        v.verify(&token_request(SIGNING_KEY), &body, TS),
        Err(Rejection::MissingSignature)
    );
    let mut both = signed_request("v1,AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=");
    both.insert(
        "x-gitlab-token",
        http::HeaderValue::from_static(SIGNING_KEY),
    );
    assert_eq!(
        v.verify(&both, &body, TS),
        Err(Rejection::SignatureMismatch)
    );
}

#[test]
fn signing_token_detects_tampering() {
    let v = verifier(Scheme::Gitlab, &[SIGNING_KEY]);
    let mut body = fixture("gitlab/push.json");
    body[10] ^= 0x01;
    assert_eq!(
        v.verify(&signed_request(PUSH_SIGNATURE), &body, TS),
        Err(Rejection::SignatureMismatch)
    );
}

#[test]
fn mixing_signing_and_plain_tokens_is_refused_at_start_up() {
    let err = Verifier::new(Scheme::Gitlab, secrets(&[SIGNING_KEY, TOKEN]))
        .expect_err("mixed secrets must be refused");
    assert_eq!(err, SchemeError::GitlabMixedSecrets);
    let message = err.to_string();
    assert!(
        message.contains("whsec_") && message.contains("plain"),
        "{message}"
    );
}

#[test]
fn invalid_signing_key_is_refused_at_start_up() {
    let err = Verifier::new(Scheme::Gitlab, secrets(&["whsec_%%%"])).expect_err("bad base64");
    assert!(matches!(
        err,
        SchemeError::InvalidSigningKey {
            scheme: "gitlab",
            position: 1,
            ..
        }
    ));
    assert!(!err.to_string().contains("%%%"));
}

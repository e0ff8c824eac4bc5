use zenhook::verify::{Rejection, Scheme};

use crate::{each_bit_flipped, each_hex_bit_flipped, fixture, headers, verifier};

const GITEA_SECRET: &str = "IsWishesWereHorsesWedAllBeEatingSteak!";
// Published with the fixture (go-playground/webhooks tests) and reproduced with:
// cd /work/shared/fixtures/webhooks && openssl dgst -sha256 -hmac 'IsWishesWereHorsesWedAllBeEatingSteak!' -r gitea/push.json
const PUSH_SIGNATURE: &str = "60fe446c74fa0cb9474f98cc557db79e10c7aaf22cf324ad65239600b9e4d915";

/// (secret, signature header value, body bytes) of a shared Gitea fixture.
fn gitea_fixture(event: &str) -> (String, String, Vec<u8>) {
    let meta: serde_json::Value =
        serde_json::from_slice(&fixture(&format!("gitea/headers/{event}.json")))
            .expect("fixture headers are JSON");
    let secret = meta["secret"].as_str().expect("secret").to_owned();
    let signature = meta["headers"]["X-Gitea-Signature"]
        .as_str()
        .expect("signature")
        .to_owned();
    let payload = meta["payload"].as_str().expect("payload path");
    let body = fixture(&format!("gitea/headers/{payload}"));
    (secret, signature, body)
}

#[test]
fn push_fixture_passes_on_file_bytes() {
    let (secret, signature, body) = gitea_fixture("push");
    assert_eq!(secret, GITEA_SECRET);
    assert_eq!(signature, PUSH_SIGNATURE);
    let v = verifier(Scheme::Gitea, &[&secret]);
    assert_eq!(
        v.verify(&headers(&[("X-Gitea-Signature", &signature)]), &body, 0),
        Ok(())
    );
    assert!(!v.resists_replay());
}

#[test]
fn every_signed_gitea_fixture_passes() {
    for event in [
        "push",
        "create-branch",
        "pull_request-opened",
        "release-published",
    ] {
        let (secret, signature, body) = gitea_fixture(event);
        let v = verifier(Scheme::Gitea, &[&secret]);
        assert_eq!(
            v.verify(&headers(&[("X-Gitea-Signature", &signature)]), &body, 0),
            Ok(()),
            "{event}"
        );
    }
}

#[test]
fn tampered_fixture_is_a_mismatch() {
    let (secret, signature, body) = gitea_fixture("push");
    let v = verifier(Scheme::Gitea, &[&secret]);
    let h = headers(&[("X-Gitea-Signature", &signature)]);
    for tampered in each_bit_flipped(&body).step_by(1009) {
        assert_eq!(
            v.verify(&h, &tampered, 0),
            Err(Rejection::SignatureMismatch)
        );
    }
    for flipped in each_hex_bit_flipped(&signature) {
        let h = headers(&[("X-Gitea-Signature", &flipped)]);
        assert_eq!(v.verify(&h, &body, 0), Err(Rejection::SignatureMismatch));
    }
}

#[test]
fn gitea_signature_is_bare_hex() {
    let (secret, signature, body) = gitea_fixture("push");
    let v = verifier(Scheme::Gitea, &[&secret]);
    let upper = headers(&[("X-Gitea-Signature", &signature.to_uppercase())]);
    assert_eq!(v.verify(&upper, &body, 0), Ok(()));
    let prefixed = headers(&[("X-Gitea-Signature", &format!("sha256={signature}"))]);
    assert_eq!(
        v.verify(&prefixed, &body, 0),
        Err(Rejection::MalformedSignature)
    );
}

#[test]
fn wrong_secret_is_a_mismatch_and_rotation_accepts_either() {
    let (_, signature, body) = gitea_fixture("push");
    let h = headers(&[("X-Gitea-Signature", &signature)]);
    assert_eq!(
        verifier(Scheme::Gitea, &["IsWishesWereHorses"]).verify(&h, &body, 0),
        Err(Rejection::SignatureMismatch)
    );
    assert_eq!(
        verifier(Scheme::Gitea, &["IsWishesWereHorses", GITEA_SECRET]).verify(&h, &body, 0),
        Ok(())
    );
}

#[test]
fn gitea_ignores_the_github_copy() {
    let (secret, signature, body) = gitea_fixture("push");
    let v = verifier(Scheme::Gitea, &[&secret]);
    let only_copy = headers(&[("X-Hub-Signature-256", &format!("sha256={signature}"))]);
    assert_eq!(
        v.verify(&only_copy, &body, 0),
        Err(Rejection::MissingSignature)
    );
}

#[test]
fn forgejo_uses_its_own_header() {
    // Forgejo signs exactly like Gitea, so the Gitea fixture's HMAC is the Forgejo signature too:
    // cd /work/shared/fixtures/webhooks && openssl dgst -sha256 -hmac 'IsWishesWereHorsesWedAllBeEatingSteak!' -r gitea/push.json
    let body = fixture("gitea/push.json");
    let v = verifier(Scheme::Forgejo, &[GITEA_SECRET]);
    let all_copies = headers(&[
        ("X-Forgejo-Signature", PUSH_SIGNATURE),
        ("X-Gitea-Signature", PUSH_SIGNATURE),
        ("X-Hub-Signature-256", &format!("sha256={PUSH_SIGNATURE}")),
    ]);
    assert_eq!(v.verify(&all_copies, &body, 0), Ok(()));
    assert!(!v.resists_replay());
}

#[test]
fn forgejo_requires_the_forgejo_header() {
    let body = fixture("gitea/push.json");
    let v = verifier(Scheme::Forgejo, &[GITEA_SECRET]);
    let gitea_only = headers(&[("X-Gitea-Signature", PUSH_SIGNATURE)]);
    assert_eq!(
        v.verify(&gitea_only, &body, 0),
        Err(Rejection::MissingSignature)
    );
    // And the Forgejo header decides even when the Gitea copy is right.
    let forged = headers(&[
        ("X-Forgejo-Signature", &"0".repeat(64)),
        ("X-Gitea-Signature", PUSH_SIGNATURE),
    ]);
    assert_eq!(
        v.verify(&forged, &body, 0),
        Err(Rejection::SignatureMismatch)
    );
}

#[test]
fn gitea_does_not_read_the_forgejo_header() {
    let body = fixture("gitea/push.json");
    let v = verifier(Scheme::Gitea, &[GITEA_SECRET]);
    let forgejo_only = headers(&[("X-Forgejo-Signature", PUSH_SIGNATURE)]);
    assert_eq!(
        v.verify(&forgejo_only, &body, 0),
        Err(Rejection::MissingSignature)
    );
}

#[test]
fn malformed_bare_hex_is_reported() {
    let body = fixture("gitea/push.json");
    let v = verifier(Scheme::Forgejo, &[GITEA_SECRET]);
    for value in [
        "",
        "zz",
        &PUSH_SIGNATURE[..63],
        &format!("{PUSH_SIGNATURE}00"),
    ] {
        let h = headers(&[("X-Forgejo-Signature", value)]);
        assert_eq!(
            v.verify(&h, &body, 0),
            Err(Rejection::MalformedSignature),
            "{value:?}"
        );
    }
}

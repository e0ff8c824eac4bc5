use zenhook::verify::{Rejection, Scheme, TokenScheme};

use crate::{headers, verifier};

fn bearer() -> Scheme {
    Scheme::Token(TokenScheme::default())
}

#[test]
fn defaults_are_authorization_bearer() {
    let defaults = TokenScheme::default();
    assert_eq!(defaults.header, "Authorization");
    assert_eq!(defaults.prefix, "Bearer ");
}

#[test]
fn bearer_token_passes() {
    let v = verifier(bearer(), &["s3cr3t-token"]);
    assert_eq!(
        v.verify(
            &headers(&[("Authorization", "Bearer s3cr3t-token")]),
            b"",
            0
        ),
        Ok(())
    );
    // The auth scheme name is case-insensitive (RFC 9110); the token is not.
    assert_eq!(
        v.verify(
            &headers(&[("authorization", "bearer s3cr3t-token")]),
            b"",
            0
        ),
        Ok(())
    );
    assert_eq!(
        v.verify(
            &headers(&[("Authorization", "Bearer S3CR3T-TOKEN")]),
            b"",
            0
        ),
        Err(Rejection::SignatureMismatch)
    );
    assert!(!v.resists_replay());
}

#[test]
fn missing_prefix_is_malformed() {
    let v = verifier(bearer(), &["s3cr3t-token"]);
    for value in [
        "s3cr3t-token",
        "Basic s3cr3t-token",
        "Bearer",
        "Bearers3cr3t-token",
        "",
    ] {
        assert_eq!(
            v.verify(&headers(&[("Authorization", value)]), b"", 0),
            Err(Rejection::MalformedSignature),
            "{value:?}"
        );
    }
}

#[test]
fn missing_header_and_wrong_token_are_reported() {
    let v = verifier(bearer(), &["s3cr3t-token"]);
    assert_eq!(
        v.verify(&headers(&[]), b"", 0),
        Err(Rejection::MissingSignature)
    );
    for wrong in [
        "Bearer s3cr3t-toke",
        "Bearer s3cr3t-token ",
        "Bearer ",
        "Bearer  s3cr3t-token",
    ] {
        assert_eq!(
            v.verify(&headers(&[("Authorization", wrong)]), b"", 0),
            Err(Rejection::SignatureMismatch),
            "{wrong:?}"
        );
    }
}

#[test]
fn custom_header_without_prefix() {
    let scheme = Scheme::Token(TokenScheme {
        header: "X-Api-Key".to_owned(),
        prefix: String::new(),
    });
    let v = verifier(scheme, &["k-123"]);
    assert_eq!(
        v.verify(&headers(&[("x-api-key", "k-123")]), b"x", 0),
        Ok(())
    );
    assert_eq!(
        v.verify(&headers(&[("Authorization", "Bearer k-123")]), b"x", 0),
        Err(Rejection::MissingSignature)
    );
}

#[test]
fn either_token_passes_during_rotation() {
    let v = verifier(bearer(), &["old-token", "new-token"]);
    for token in ["old-token", "new-token"] {
        let h = headers(&[("Authorization", &format!("Bearer {token}"))]);
        assert_eq!(v.verify(&h, b"", 0), Ok(()));
    }
}

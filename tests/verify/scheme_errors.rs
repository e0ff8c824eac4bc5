use std::time::Duration;

use zenhook::verify::{HmacScheme, Scheme, SchemeError, TokenScheme, Verifier};

use crate::secrets;

fn hmac(edit: impl FnOnce(&mut HmacScheme)) -> Scheme {
    let mut scheme = HmacScheme::default();
    edit(&mut scheme);
    Scheme::Hmac(scheme)
}

fn standard() -> Scheme {
    Scheme::Standard {
        tolerance: Duration::from_secs(300),
    }
}

#[test]
fn invalid_configurations_are_refused_with_a_clear_message() {
    // (case, scheme, secrets, expected error, a phrase the message must contain)
    let table: Vec<(&str, Scheme, Vec<&str>, SchemeError, &str)> = vec![
        (
            "no secret",
            Scheme::Github { allow_sha1: false },
            vec![],
            SchemeError::NoSecrets { scheme: "github" },
            "at least one",
        ),
        (
            "no secret (token)",
            Scheme::Token(TokenScheme::default()),
            vec![],
            SchemeError::NoSecrets { scheme: "token" },
            "token scheme",
        ),
        (
            "empty secret",
            Scheme::Gitea,
            vec!["good", ""],
            SchemeError::EmptySecret { scheme: "gitea", position: 2 },
            "secret 2",
        ),
        (
            "standard without whsec_",
            standard(),
            vec!["MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"],
            SchemeError::InvalidSigningKey {
                scheme: "standard",
                position: 1,
                problem: "it does not start with `whsec_`",
            },
            "whsec_",
        ),
        (
            "standard with bad base64",
            standard(),
            vec!["whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "whsec_not*base64"],
            SchemeError::InvalidSigningKey {
                scheme: "standard",
                position: 2,
                problem: "the part after `whsec_` is not valid base64",
            },
            "not valid base64",
        ),
        (
            "standard with empty key",
            standard(),
            vec!["whsec_"],
            SchemeError::InvalidSigningKey {
                scheme: "standard",
                position: 1,
                problem: "the key after `whsec_` is empty",
            },
            "empty",
        ),
        (
            "standard with zero tolerance",
            Scheme::Standard { tolerance: Duration::ZERO },
            vec!["whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"],
            SchemeError::ZeroTolerance { scheme: "standard" },
            "greater than zero",
        ),
        (
            "gitlab mixing whsec_ and plain",
            Scheme::Gitlab,
            vec!["plain-token", "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"],
            SchemeError::GitlabMixedSecrets,
            "bypass the signature",
        ),
        (
            "hmac template without body",
            hmac(|s| s.signed_payload = "{timestamp}".to_owned()),
            vec!["k"],
            SchemeError::InvalidSignedPayload {
                template: "{timestamp}".to_owned(),
                problem: "it must contain {body} exactly once",
            },
            "{body}",
        ),
        (
            "hmac template with timestamp but no header",
            hmac(|s| s.signed_payload = "{timestamp}.{body}".to_owned()),
            vec!["k"],
            SchemeError::InvalidSignedPayload {
                template: "{timestamp}.{body}".to_owned(),
                problem: "it uses {timestamp} but no timestamp_header is set",
            },
            "timestamp_header",
        ),
        (
            "hmac timestamp header not signed",
            hmac(|s| s.timestamp_header = Some("X-Timestamp".to_owned())),
            vec!["k"],
            SchemeError::InvalidSignedPayload {
                template: "{body}".to_owned(),
                problem: "timestamp_header is set but {timestamp} is not signed, so the timestamp could be forged",
            },
            "could be forged",
        ),
        (
            "hmac unknown placeholder",
            hmac(|s| s.signed_payload = "{id}.{body}".to_owned()),
            vec!["k"],
            SchemeError::InvalidSignedPayload {
                template: "{id}.{body}".to_owned(),
                problem: "only the {body} and {timestamp} placeholders exist",
            },
            "placeholders",
        ),
        (
            "hmac bad signature header",
            hmac(|s| s.signature_header = "X Signature".to_owned()),
            vec!["k"],
            SchemeError::InvalidHeaderName {
                field: "signature_header",
                name: "X Signature".to_owned(),
            },
            "not a valid HTTP header name",
        ),
        (
            "hmac bad timestamp header",
            hmac(|s| {
                s.timestamp_header = Some("".to_owned());
                s.signed_payload = "{timestamp}.{body}".to_owned();
            }),
            vec!["k"],
            SchemeError::InvalidHeaderName {
                field: "timestamp_header",
                name: String::new(),
            },
            "timestamp_header",
        ),
        (
            "hmac zero tolerance",
            hmac(|s| {
                s.timestamp_header = Some("X-Timestamp".to_owned());
                s.signed_payload = "{timestamp}.{body}".to_owned();
                s.tolerance = Duration::from_millis(500);
            }),
            vec!["k"],
            SchemeError::ZeroTolerance { scheme: "hmac" },
            "tolerance",
        ),
        (
            "token bad header",
            Scheme::Token(TokenScheme {
                header: "Authorization:".to_owned(),
                prefix: String::new(),
            }),
            vec!["t"],
            SchemeError::InvalidHeaderName {
                field: "token header",
                name: "Authorization:".to_owned(),
            },
            "token header",
        ),
    ];

    for (case, scheme, secret_list, expected, phrase) in table {
        let err = Verifier::new(scheme, secrets(&secret_list)).expect_err(case);
        assert_eq!(err, expected, "{case}");
        let message = err.to_string();
        assert!(message.contains(phrase), "{case}: {message}");
        for secret in secret_list.iter().filter(|s| s.len() > 6) {
            let key_part = secret.trim_start_matches("whsec_");
            assert!(
                !message.contains(key_part),
                "{case}: message leaks a secret: {message}"
            );
        }
    }
}

#[test]
fn valid_configurations_are_accepted() {
    let ok: Vec<(Scheme, Vec<&str>)> = vec![
        (Scheme::Github { allow_sha1: true }, vec!["a", "b"]),
        (Scheme::Bitbucket, vec!["a"]),
        (Scheme::Gitea, vec!["a"]),
        (Scheme::Forgejo, vec!["a"]),
        (Scheme::Gitlab, vec!["plain", "plain2"]),
        (
            Scheme::Gitlab,
            vec!["whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "whsec_AAAA"],
        ),
        (standard(), vec!["whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"]),
        (Scheme::Hmac(HmacScheme::default()), vec!["a"]),
        (
            hmac(|s| {
                s.timestamp_header = Some("X-Timestamp".to_owned());
                s.signed_payload = "t={timestamp},b={body}".to_owned();
            }),
            vec!["a"],
        ),
        (Scheme::Token(TokenScheme::default()), vec!["a"]),
    ];
    for (scheme, secret_list) in ok {
        let name = scheme.name();
        let verifier = Verifier::new(scheme, secrets(&secret_list));
        assert!(verifier.is_ok(), "{name}: {verifier:?}");
        assert_eq!(verifier.map(|v| v.scheme_name()).ok(), Some(name));
    }
}

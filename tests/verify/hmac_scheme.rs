use std::time::Duration;

use zenhook::verify::{Algorithm, Encoding, HmacScheme, Rejection, Scheme};

use crate::{each_bit_flipped, each_hex_bit_flipped, headers, verifier};

const JEFE_DATA: &[u8] = b"what do ya want for nothing?";
// RFC 4231 test case 2 (HMAC-SHA256 and HMAC-SHA512), RFC 2202 test case 2 (HMAC-SHA1); reproduced with:
// python3 -c "import hmac,hashlib;print(hmac.new(b'Jefe',b'what do ya want for nothing?',hashlib.sha256).hexdigest())"
const JEFE_SHA256_HEX: &str = "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843";
// python3 -c "import hmac,hashlib;print(hmac.new(b'Jefe',b'what do ya want for nothing?',hashlib.sha512).hexdigest())"
const JEFE_SHA512_HEX: &str = "164b7a7bfcf819e2e395fbe73b56e0a387bd64222e831fd610270cd7ea2505549758bf75c05a994a6d034f65f8f0e6fdcaeab1a34d4a6b4b636e070a38bce737";
// python3 -c "import hmac,hashlib;print(hmac.new(b'Jefe',b'what do ya want for nothing?',hashlib.sha1).hexdigest())"
const JEFE_SHA1_HEX: &str = "effcdf6ae5eb2fa2d27416d5f184df9c259a7c79";
// python3 -c "import hmac,hashlib,base64;print(base64.b64encode(hmac.new(b'Jefe',b'what do ya want for nothing?',hashlib.sha1).digest()).decode())"
const JEFE_SHA1_BASE64: &str = "7/zfauXrL6LSdBbV8YTfnCWafHk=";
// python3 -c "import hmac,hashlib,base64;print(base64.b64encode(hmac.new(b'Jefe',b'what do ya want for nothing?',hashlib.sha512).digest()).decode())"
const JEFE_SHA512_BASE64: &str =
    "Fkt6e/z4GeLjlfvnO1bgo4e9ZCIugx/WECcM1+olBVSXWL91wFqZSm0DT2X48Ob9yuqxo01Ka0tjbgcKOLznNw==";

// Slack's documented request-signing example (secret, timestamp, body, signature); reproduced with:
// python3 -c "import hmac,hashlib;print(hmac.new(b'8f742231b10e8888abcd99yyyzzz85a5',b'v0:1531420618:token=xyzz0WbapA4vBCDEFasx0q6G&team_id=T1DC2JH3J&team_domain=testteamnow&channel_id=G8PSS9T3V&channel_name=foobar&user_id=U2CERLKJA&user_name=roadrunner&command=%2Fwebhook-collect&text=&response_url=https%3A%2F%2Fhooks.slack.com%2Fcommands%2FT1DC2JH3J%2F397700885554%2F96rGlfmibIGlgcZRskXaIFfN&trigger_id=398738663015.47445629121.803a0bc887a14d10d2c447fce8b6703c',hashlib.sha256).hexdigest())"
const SLACK_SECRET: &str = "8f742231b10e8888abcd99yyyzzz85a5";
const SLACK_TS: i64 = 1_531_420_618;
const SLACK_BODY: &[u8] = b"token=xyzz0WbapA4vBCDEFasx0q6G&team_id=T1DC2JH3J&team_domain=testteamnow&channel_id=G8PSS9T3V&channel_name=foobar&user_id=U2CERLKJA&user_name=roadrunner&command=%2Fwebhook-collect&text=&response_url=https%3A%2F%2Fhooks.slack.com%2Fcommands%2FT1DC2JH3J%2F397700885554%2F96rGlfmibIGlgcZRskXaIFfN&trigger_id=398738663015.47445629121.803a0bc887a14d10d2c447fce8b6703c";
const SLACK_SIGNATURE: &str = "v0=a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503";

// python3 -c "import hmac,hashlib,base64;print(base64.b64encode(hmac.new(b'custom-secret',b'1700000000.{\"ok\":true}',hashlib.sha256).digest()).decode())"
const DOT_TEMPLATE_BASE64: &str = "5D2jiPUTIp2pkq2SnrZ75erSp/wJx888Ch/sj48EBWc=";

fn scheme(algorithm: Algorithm, encoding: Encoding, prefix: &str) -> Scheme {
    Scheme::Hmac(HmacScheme {
        algorithm,
        encoding,
        prefix: prefix.to_owned(),
        ..HmacScheme::default()
    })
}

fn slack() -> Scheme {
    Scheme::Hmac(HmacScheme {
        signature_header: "X-Slack-Signature".to_owned(),
        algorithm: Algorithm::Sha256,
        encoding: Encoding::Hex,
        prefix: "v0=".to_owned(),
        timestamp_header: Some("X-Slack-Request-Timestamp".to_owned()),
        signed_payload: "v0:{timestamp}:{body}".to_owned(),
        tolerance: Duration::from_secs(300),
    })
}

fn slack_request(ts: &str, signature: &str) -> http::HeaderMap {
    headers(&[
        ("X-Slack-Request-Timestamp", ts),
        ("X-Slack-Signature", signature),
    ])
}

#[test]
fn defaults_are_x_signature_sha256_hex_body_five_minutes() {
    let defaults = HmacScheme::default();
    assert_eq!(defaults.signature_header, "X-Signature");
    assert_eq!(defaults.algorithm, Algorithm::Sha256);
    assert_eq!(defaults.encoding, Encoding::Hex);
    assert_eq!(defaults.prefix, "");
    assert_eq!(defaults.timestamp_header, None);
    assert_eq!(defaults.signed_payload, "{body}");
    assert_eq!(defaults.tolerance, Duration::from_secs(300));
}

#[test]
fn rfc4231_case2_passes_with_defaults() {
    let v = verifier(Scheme::Hmac(HmacScheme::default()), &["Jefe"]);
    assert_eq!(
        v.verify(&headers(&[("X-Signature", JEFE_SHA256_HEX)]), JEFE_DATA, 0),
        Ok(())
    );
    assert!(!v.resists_replay());
}

#[test]
fn every_algorithm_and_encoding_passes() {
    let cases = [
        (Algorithm::Sha256, Encoding::Hex, "", JEFE_SHA256_HEX),
        (Algorithm::Sha512, Encoding::Hex, "sha512=", JEFE_SHA512_HEX),
        (Algorithm::Sha1, Encoding::Hex, "", JEFE_SHA1_HEX),
        (Algorithm::Sha1, Encoding::Base64, "sha1=", JEFE_SHA1_BASE64),
        (Algorithm::Sha512, Encoding::Base64, "", JEFE_SHA512_BASE64),
    ];
    for (algorithm, encoding, prefix, signature) in cases {
        let v = verifier(scheme(algorithm, encoding, prefix), &["Jefe"]);
        let h = headers(&[("X-Signature", &format!("{prefix}{signature}"))]);
        assert_eq!(
            v.verify(&h, JEFE_DATA, 0),
            Ok(()),
            "{algorithm:?} {encoding:?}"
        );
        assert_eq!(
            v.verify(&h, b"what do ya want for nothing!", 0),
            Err(Rejection::SignatureMismatch),
            "{algorithm:?} {encoding:?}"
        );
    }
}

#[test]
fn base64_padding_is_optional() {
    let v = verifier(scheme(Algorithm::Sha1, Encoding::Base64, ""), &["Jefe"]);
    let unpadded = JEFE_SHA1_BASE64.trim_end_matches('=');
    assert_eq!(
        v.verify(&headers(&[("X-Signature", unpadded)]), JEFE_DATA, 0),
        Ok(())
    );
}

#[test]
fn signature_of_another_algorithm_is_malformed() {
    // A SHA-1 length signature where SHA-256 is configured is refused before any HMAC.
    let v = verifier(scheme(Algorithm::Sha256, Encoding::Hex, ""), &["Jefe"]);
    assert_eq!(
        v.verify(&headers(&[("X-Signature", JEFE_SHA1_HEX)]), JEFE_DATA, 0),
        Err(Rejection::MalformedSignature)
    );
    let v = verifier(scheme(Algorithm::Sha256, Encoding::Base64, ""), &["Jefe"]);
    assert_eq!(
        v.verify(&headers(&[("X-Signature", JEFE_SHA256_HEX)]), JEFE_DATA, 0),
        Err(Rejection::MalformedSignature)
    );
}

#[test]
fn configured_prefix_is_required() {
    let v = verifier(
        scheme(Algorithm::Sha256, Encoding::Hex, "sha256="),
        &["Jefe"],
    );
    for value in [
        JEFE_SHA256_HEX.to_owned(),
        format!("sha1={JEFE_SHA256_HEX}"),
    ] {
        assert_eq!(
            v.verify(&headers(&[("X-Signature", &value)]), JEFE_DATA, 0),
            Err(Rejection::MalformedSignature)
        );
    }
    let h = headers(&[("X-Signature", &format!("SHA256={JEFE_SHA256_HEX}"))]);
    assert_eq!(v.verify(&h, JEFE_DATA, 0), Ok(()));
}

#[test]
fn tampering_and_wrong_secret_are_mismatches() {
    let v = verifier(Scheme::Hmac(HmacScheme::default()), &["Jefe"]);
    let h = headers(&[("X-Signature", JEFE_SHA256_HEX)]);
    for body in each_bit_flipped(JEFE_DATA) {
        assert_eq!(v.verify(&h, &body, 0), Err(Rejection::SignatureMismatch));
    }
    for signature in each_hex_bit_flipped(JEFE_SHA256_HEX) {
        let h = headers(&[("X-Signature", &signature)]);
        assert_eq!(
            v.verify(&h, JEFE_DATA, 0),
            Err(Rejection::SignatureMismatch)
        );
    }
    let wrong = verifier(Scheme::Hmac(HmacScheme::default()), &["jefe"]);
    assert_eq!(
        wrong.verify(&h, JEFE_DATA, 0),
        Err(Rejection::SignatureMismatch)
    );
}

#[test]
fn missing_signature_is_reported() {
    let v = verifier(Scheme::Hmac(HmacScheme::default()), &["Jefe"]);
    let h = headers(&[("X-Hub-Signature-256", JEFE_SHA256_HEX)]);
    assert_eq!(v.verify(&h, JEFE_DATA, 0), Err(Rejection::MissingSignature));
}

#[test]
fn either_secret_passes_during_rotation() {
    let v = verifier(Scheme::Hmac(HmacScheme::default()), &["next", "Jefe"]);
    let h = headers(&[("X-Signature", JEFE_SHA256_HEX)]);
    assert_eq!(v.verify(&h, JEFE_DATA, 0), Ok(()));
}

#[test]
fn slack_style_timestamped_signature_passes() {
    let v = verifier(slack(), &[SLACK_SECRET]);
    let h = slack_request(&SLACK_TS.to_string(), SLACK_SIGNATURE);
    assert_eq!(v.verify(&h, SLACK_BODY, SLACK_TS), Ok(()));
    assert_eq!(v.verify(&h, SLACK_BODY, SLACK_TS + 300), Ok(()));
    assert!(v.resists_replay());
}

#[test]
fn stale_and_future_timestamps_are_refused() {
    let v = verifier(slack(), &[SLACK_SECRET]);
    let h = slack_request(&SLACK_TS.to_string(), SLACK_SIGNATURE);
    assert_eq!(
        v.verify(&h, SLACK_BODY, SLACK_TS + 301),
        Err(Rejection::StaleTimestamp)
    );
    assert_eq!(
        v.verify(&h, SLACK_BODY, SLACK_TS - 301),
        Err(Rejection::StaleTimestamp)
    );
}

#[test]
fn timestamp_is_signed() {
    let v = verifier(slack(), &[SLACK_SECRET]);
    let replayed = slack_request(&(SLACK_TS + 1000).to_string(), SLACK_SIGNATURE);
    assert_eq!(
        v.verify(&replayed, SLACK_BODY, SLACK_TS + 1000),
        Err(Rejection::SignatureMismatch)
    );
}

#[test]
fn missing_and_malformed_timestamps_are_reported() {
    let v = verifier(slack(), &[SLACK_SECRET]);
    let no_ts = headers(&[("X-Slack-Signature", SLACK_SIGNATURE)]);
    assert_eq!(
        v.verify(&no_ts, SLACK_BODY, SLACK_TS),
        Err(Rejection::MissingTimestamp)
    );
    for ts in ["1531420618.5", "", "abc", "-1531420618"] {
        assert_eq!(
            v.verify(&slack_request(ts, SLACK_SIGNATURE), SLACK_BODY, SLACK_TS),
            Err(Rejection::MalformedTimestamp),
            "{ts:?}"
        );
    }
}

#[test]
fn dot_template_with_base64() {
    let v = verifier(
        Scheme::Hmac(HmacScheme {
            signature_header: "X-Webhook-Signature".to_owned(),
            encoding: Encoding::Base64,
            timestamp_header: Some("X-Webhook-Timestamp".to_owned()),
            signed_payload: "{timestamp}.{body}".to_owned(),
            ..HmacScheme::default()
        }),
        &["custom-secret"],
    );
    let h = headers(&[
        ("X-Webhook-Timestamp", "1700000000"),
        ("X-Webhook-Signature", DOT_TEMPLATE_BASE64),
    ]);
    assert_eq!(v.verify(&h, br#"{"ok":true}"#, 1_700_000_000), Ok(()));
    assert_eq!(
        v.verify(&h, br#"{"ok":false}"#, 1_700_000_000),
        Err(Rejection::SignatureMismatch)
    );
}

#[test]
fn algorithm_and_encoding_deserialize_from_lowercase_names() {
    let algorithms: Vec<Algorithm> =
        serde_json::from_str(r#"["sha1","sha256","sha512"]"#).expect("algorithms");
    assert_eq!(
        algorithms,
        [Algorithm::Sha1, Algorithm::Sha256, Algorithm::Sha512]
    );
    let encodings: Vec<Encoding> = serde_json::from_str(r#"["hex","base64"]"#).expect("encodings");
    assert_eq!(encodings, [Encoding::Hex, Encoding::Base64]);
    assert!(serde_json::from_str::<Algorithm>(r#""md5""#).is_err());
    assert_eq!(
        serde_json::to_string(&Algorithm::Sha512).expect("serialize"),
        r#""sha512""#
    );
}

use std::time::Duration;

use zenhook::verify::{Rejection, Scheme};

use crate::{each_bit_flipped, headers, verifier};

// Standard Webhooks reference-library vector; reproduced with:
// python3 -c "import hmac,hashlib,base64;print(base64.b64encode(hmac.new(base64.b64decode('MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw'),b'msg_p5jXN8AQM9LWM0D4loKWxJek.1614265330.{\"test\": 2432232314}',hashlib.sha256).digest()).decode())"
const KEY: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
const ID: &str = "msg_p5jXN8AQM9LWM0D4loKWxJek";
const TS: i64 = 1_614_265_330;
const BODY: &[u8] = br#"{"test": 2432232314}"#;
const SIGNATURE: &str = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=";

// A second key for rotation: python3 -c "import base64;print(base64.b64encode(b'second-standard-key-rotation-32b').decode())"
const ROTATED_KEY: &str = "whsec_c2Vjb25kLXN0YW5kYXJkLWtleS1yb3RhdGlvbi0zMmI=";
// python3 -c "import hmac,hashlib,base64;print(base64.b64encode(hmac.new(b'second-standard-key-rotation-32b',b'msg_p5jXN8AQM9LWM0D4loKWxJek.1614265330.{\"test\": 2432232314}',hashlib.sha256).digest()).decode())"
const ROTATED_SIGNATURE: &str = "v1,omqxg96Yu/aEw7wT7PqxdlmZIRfIdOn69y87nu8xoCg=";

const FIVE_MIN: Scheme = Scheme::Standard {
    tolerance: Duration::from_secs(300),
};

fn request(id: &str, ts: &str, signature: &str) -> http::HeaderMap {
    headers(&[
        ("webhook-id", id),
        ("webhook-timestamp", ts),
        ("webhook-signature", signature),
    ])
}

fn spec_request(signature: &str) -> http::HeaderMap {
    request(ID, &TS.to_string(), signature)
}

#[test]
fn spec_vector_passes() {
    let v = verifier(FIVE_MIN, &[KEY]);
    assert_eq!(v.verify(&spec_request(SIGNATURE), BODY, TS), Ok(()));
    assert!(v.resists_replay());
}

#[test]
fn header_names_are_case_insensitive() {
    let v = verifier(FIVE_MIN, &[KEY]);
    let h = headers(&[
        ("Webhook-Id", ID),
        ("WEBHOOK-TIMESTAMP", "1614265330"),
        ("Webhook-Signature", SIGNATURE),
    ]);
    assert_eq!(v.verify(&h, BODY, TS), Ok(()));
}

#[test]
fn timestamp_must_be_within_tolerance_both_ways() {
    let v = verifier(FIVE_MIN, &[KEY]);
    let h = spec_request(SIGNATURE);
    assert_eq!(v.verify(&h, BODY, TS + 300), Ok(()));
    assert_eq!(v.verify(&h, BODY, TS - 300), Ok(()));
    // The request is 301 s old: stale.
    assert_eq!(v.verify(&h, BODY, TS + 301), Err(Rejection::StaleTimestamp));
    // The request claims to come from 301 s in the future: refused too.
    assert_eq!(v.verify(&h, BODY, TS - 301), Err(Rejection::StaleTimestamp));
    assert_eq!(v.verify(&h, BODY, 0), Err(Rejection::StaleTimestamp));
}

#[test]
fn tolerance_is_configurable() {
    let v = verifier(
        Scheme::Standard {
            tolerance: Duration::from_secs(10),
        },
        &[KEY],
    );
    let h = spec_request(SIGNATURE);
    assert_eq!(v.verify(&h, BODY, TS + 10), Ok(()));
    assert_eq!(v.verify(&h, BODY, TS + 11), Err(Rejection::StaleTimestamp));
}

#[test]
fn missing_headers_are_named() {
    let v = verifier(FIVE_MIN, &[KEY]);
    let ts = TS.to_string();
    let no_signature = headers(&[("webhook-id", ID), ("webhook-timestamp", &ts)]);
    assert_eq!(
        v.verify(&no_signature, BODY, TS),
        Err(Rejection::MissingSignature)
    );
    let no_id = headers(&[("webhook-timestamp", &ts), ("webhook-signature", SIGNATURE)]);
    assert_eq!(v.verify(&no_id, BODY, TS), Err(Rejection::MissingWebhookId));
    let no_ts = headers(&[("webhook-id", ID), ("webhook-signature", SIGNATURE)]);
    assert_eq!(v.verify(&no_ts, BODY, TS), Err(Rejection::MissingTimestamp));
}

#[test]
fn malformed_timestamps_are_reported() {
    let v = verifier(FIVE_MIN, &[KEY]);
    for ts in [
        "",
        "1614265330.0",
        "+1614265330",
        "-1",
        "1614265330 ",
        "16142653300000000000000",
        "soon",
    ] {
        let h = headers(&[
            ("webhook-id", ID),
            ("webhook-timestamp", ts),
            ("webhook-signature", SIGNATURE),
        ]);
        assert_eq!(
            v.verify(&h, BODY, TS),
            Err(Rejection::MalformedTimestamp),
            "{ts:?}"
        );
    }
}

#[test]
fn any_v1_entry_of_the_list_may_match() {
    let v = verifier(FIVE_MIN, &[KEY]);
    let list = format!(
        "v1,AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA= v1a,ignored {SIGNATURE} v2,ignored"
    );
    assert_eq!(v.verify(&spec_request(&list), BODY, TS), Ok(()));
    let with_garbage = format!("garbage v1,!!! {SIGNATURE}");
    assert_eq!(v.verify(&spec_request(&with_garbage), BODY, TS), Ok(()));
}

#[test]
fn only_other_versions_is_unsupported() {
    let v = verifier(FIVE_MIN, &[KEY]);
    let other = SIGNATURE.replacen("v1,", "v1a,", 1);
    assert_eq!(
        v.verify(&spec_request(&other), BODY, TS),
        Err(Rejection::UnsupportedAlgorithm)
    );
}

#[test]
fn malformed_signature_lists_are_reported() {
    let v = verifier(FIVE_MIN, &[KEY]);
    let without_version = SIGNATURE.trim_start_matches("v1,").to_owned();
    let truncated = SIGNATURE[..20].to_owned();
    for value in ["", "v1,", "v1,not-base64!", &without_version, &truncated] {
        assert_eq!(
            v.verify(&spec_request(value), BODY, TS),
            Err(Rejection::MalformedSignature),
            "{value:?}"
        );
    }
}

#[test]
fn signed_fields_cannot_be_changed() {
    let v = verifier(FIVE_MIN, &[KEY]);
    for body in each_bit_flipped(BODY) {
        assert_eq!(
            v.verify(&spec_request(SIGNATURE), &body, TS),
            Err(Rejection::SignatureMismatch)
        );
    }
    let other_id = request("msg_p5jXN8AQM9LWM0D4loKWxJeK", "1614265330", SIGNATURE);
    assert_eq!(
        v.verify(&other_id, BODY, TS),
        Err(Rejection::SignatureMismatch)
    );
    // A fresh timestamp on a captured request does not help an attacker.
    let later = request(ID, "1614265331", SIGNATURE);
    assert_eq!(
        v.verify(&later, BODY, TS + 1),
        Err(Rejection::SignatureMismatch)
    );
}

#[test]
fn wrong_key_is_a_mismatch() {
    let v = verifier(FIVE_MIN, &[ROTATED_KEY]);
    assert_eq!(
        v.verify(&spec_request(SIGNATURE), BODY, TS),
        Err(Rejection::SignatureMismatch)
    );
}

#[test]
fn either_key_passes_during_rotation() {
    let v = verifier(FIVE_MIN, &[KEY, ROTATED_KEY]);
    assert_eq!(v.verify(&spec_request(SIGNATURE), BODY, TS), Ok(()));
    assert_eq!(v.verify(&spec_request(ROTATED_SIGNATURE), BODY, TS), Ok(()));
    // Senders mid-rotation send both signatures in one header.
    let both = format!("{ROTATED_SIGNATURE} {SIGNATURE}");
    assert_eq!(
        verifier(FIVE_MIN, &[KEY]).verify(&spec_request(&both), BODY, TS),
        Ok(())
    );
}

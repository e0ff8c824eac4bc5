//! Turns a verified request body into the JSON object every normaliser reads.

use serde_json::Value;

const FORM_CONTENT_TYPE: &str = "application/x-www-form-urlencoded";
/// The form field GitHub (and Gitea/Forgejo in form mode) puts the JSON payload in.
const FORM_PAYLOAD_FIELD: &str = "payload";

/// Why a body is not a webhook payload. `Display` is one short sentence for a 400 answer.
#[derive(Debug, thiserror::Error)]
pub enum BodyError {
    #[error("the body is empty")]
    Empty,
    #[error("the body is not valid UTF-8: {0}")]
    NotUtf8(std::str::Utf8Error),
    #[error("the body is not valid JSON: {0}")]
    NotJson(serde_json::Error),
    #[error("the body must be a JSON object, not {0}")]
    NotAnObject(&'static str),
    #[error("the form-encoded body has no payload field")]
    FormWithoutPayload,
    #[error("the form-encoded body has more than one payload field")]
    FormWithSeveralPayloads,
    #[error("the form-encoded payload field is not valid JSON: {0}")]
    FormPayloadNotJson(serde_json::Error),
}

/// Parses a verified body: a JSON object, or GitHub's form-encoded `payload=<json>` variant
/// (content type `application/x-www-form-urlencoded`). The answer is always an object.
///
/// Any other content type is read as JSON: senders label JSON loosely (`text/plain`, none),
/// and the signature was already checked over the raw bytes. A leading UTF-8 byte-order
/// mark is skipped for the same reason. Nesting deeper than serde_json's recursion limit
/// (128) is an error, not a stack overflow.
pub fn parse_body(content_type: Option<&str>, body: &[u8]) -> Result<Value, BodyError> {
    let text = std::str::from_utf8(body).map_err(BodyError::NotUtf8)?;
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    if text.trim().is_empty() {
        return Err(BodyError::Empty);
    }
    if content_type.is_some_and(is_form) {
        let json = form_payload(text)?;
        let value = serde_json::from_str(&json).map_err(BodyError::FormPayloadNotJson)?;
        return into_object(value);
    }
    let value = serde_json::from_str(text).map_err(BodyError::NotJson)?;
    into_object(value)
}

fn is_form(content_type: &str) -> bool {
    content_type
        .split(';')
        .next()
        .is_some_and(|essence| essence.trim().eq_ignore_ascii_case(FORM_CONTENT_TYPE))
}

/// The single `payload` field; two would make "which one was meant" ambiguous.
fn form_payload(text: &str) -> Result<String, BodyError> {
    let mut payloads = form_urlencoded::parse(text.as_bytes())
        .filter(|(name, _)| name == FORM_PAYLOAD_FIELD)
        .map(|(_, value)| value.into_owned());
    let payload = payloads.next().ok_or(BodyError::FormWithoutPayload)?;
    if payloads.next().is_some() {
        return Err(BodyError::FormWithSeveralPayloads);
    }
    Ok(payload)
}

fn into_object(value: Value) -> Result<Value, BodyError> {
    match value {
        Value::Object(map) => Ok(Value::Object(map)),
        Value::Array(_) => Err(BodyError::NotAnObject("an array")),
        Value::String(_) => Err(BodyError::NotAnObject("a string")),
        Value::Number(_) => Err(BodyError::NotAnObject("a number")),
        Value::Bool(_) => Err(BodyError::NotAnObject("a boolean")),
        Value::Null => Err(BodyError::NotAnObject("null")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const JSON: Option<&str> = Some("application/json");
    const FORM: Option<&str> = Some("application/x-www-form-urlencoded");

    fn message(result: Result<Value, BodyError>) -> String {
        result.expect_err("must be rejected").to_string()
    }

    #[test]
    fn json_object_is_returned() {
        let v = parse_body(JSON, br#"{"zen":"x","n":[1,2]}"#).expect("object");
        assert_eq!(v, json!({"zen": "x", "n": [1, 2]}));
    }

    #[test]
    fn content_type_other_than_form_is_read_as_json() {
        for ct in [
            None,
            Some("text/plain"),
            Some("application/json; charset=utf-8"),
        ] {
            assert_eq!(parse_body(ct, b"{}").expect("object"), json!({}), "{ct:?}");
        }
    }

    #[test]
    fn array_is_rejected() {
        assert_eq!(
            message(parse_body(JSON, b"[1,2]")),
            "the body must be a JSON object, not an array"
        );
    }

    #[test]
    fn scalars_are_rejected() {
        assert_eq!(
            message(parse_body(JSON, b"\"s\"")),
            "the body must be a JSON object, not a string"
        );
        assert_eq!(
            message(parse_body(JSON, b"42")),
            "the body must be a JSON object, not a number"
        );
        assert_eq!(
            message(parse_body(JSON, b"true")),
            "the body must be a JSON object, not a boolean"
        );
        assert_eq!(
            message(parse_body(JSON, b"null")),
            "the body must be a JSON object, not null"
        );
    }

    #[test]
    fn broken_json_is_rejected_with_position() {
        assert_eq!(
            message(parse_body(JSON, b"nope")),
            "the body is not valid JSON: expected ident at line 1 column 2"
        );
        assert_eq!(
            message(parse_body(JSON, b"{\"a\":1")),
            "the body is not valid JSON: EOF while parsing an object at line 1 column 6"
        );
        assert!(message(parse_body(JSON, b"{} {}")).contains("trailing characters"));
    }

    #[test]
    fn invalid_utf8_is_rejected() {
        let err = message(parse_body(JSON, b"{\"a\":\"\xff\"}"));
        assert!(err.starts_with("the body is not valid UTF-8: "), "{err}");
        assert!(err.contains("index 6"), "{err}");
    }

    #[test]
    fn empty_and_blank_bodies_are_rejected() {
        assert_eq!(message(parse_body(JSON, b"")), "the body is empty");
        assert_eq!(message(parse_body(JSON, b" \r\n\t")), "the body is empty");
        assert_eq!(message(parse_body(FORM, b"")), "the body is empty");
    }

    #[test]
    fn byte_order_mark_is_skipped() {
        assert_eq!(
            parse_body(JSON, b"\xef\xbb\xbf{\"a\":1}").expect("object"),
            json!({"a": 1})
        );
    }

    #[test]
    fn github_form_encoded_payload_is_decoded() {
        // What GitHub sends with content type "application/x-www-form-urlencoded".
        let body =
            b"payload=%7B%22zen%22%3A%22Keep+it+logically+awesome.%22%2C%22hook_id%22%3A1%7D";
        let v = parse_body(
            Some("Application/X-WWW-Form-Urlencoded; charset=utf-8"),
            body,
        )
        .expect("form payload");
        assert_eq!(
            v,
            json!({"zen": "Keep it logically awesome.", "hook_id": 1})
        );
    }

    #[test]
    fn form_without_payload_or_with_two_is_rejected() {
        assert_eq!(
            message(parse_body(FORM, b"other=1")),
            "the form-encoded body has no payload field"
        );
        assert_eq!(
            message(parse_body(FORM, b"payload=%7B%7D&payload=%7B%7D")),
            "the form-encoded body has more than one payload field"
        );
    }

    #[test]
    fn form_payload_must_be_a_json_object() {
        assert!(message(parse_body(FORM, b"payload=nope"))
            .starts_with("the form-encoded payload field is not valid JSON: "));
        assert_eq!(
            message(parse_body(FORM, b"payload=%5B%5D")),
            "the body must be a JSON object, not an array"
        );
    }

    #[test]
    fn json_body_sent_as_form_is_rejected() {
        assert_eq!(
            message(parse_body(FORM, br#"{"a":1}"#)),
            "the form-encoded body has no payload field"
        );
    }

    #[test]
    fn deep_nesting_is_an_error_not_a_stack_overflow() {
        let depth = 100_000;
        let mut body = Vec::with_capacity(depth * 2);
        body.extend(std::iter::repeat_n(b'[', depth));
        body.extend(std::iter::repeat_n(b']', depth));
        let err = message(parse_body(JSON, &body));
        assert!(err.contains("recursion limit exceeded"), "{err}");

        let nested_objects = "{\"a\":".repeat(depth) + "1" + &"}".repeat(depth);
        let err = message(parse_body(JSON, nested_objects.as_bytes()));
        assert!(err.contains("recursion limit exceeded"), "{err}");

        let form = format!("payload={}", "%5B".repeat(depth));
        let err = message(parse_body(FORM, form.as_bytes()));
        assert!(err.contains("recursion limit exceeded"), "{err}");
    }

    #[test]
    fn nesting_within_the_limit_is_accepted() {
        let body = "{\"a\":".to_owned() + &"[".repeat(100) + &"]".repeat(100) + "}";
        assert!(parse_body(JSON, body.as_bytes()).is_ok());
    }
}

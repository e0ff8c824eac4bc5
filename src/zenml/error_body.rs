//! Reads the error bodies ZenML answers with (API.md §4).
//!
//! ZenML has five shapes, depending on which layer refused the request:
//! `{"detail": "text"}` (FastAPI), `{"detail": ["Class", "text"]}` (ZenML exceptions),
//! a bare `["Class", "text"]` (request validation, 422), `{"error": "text"}`
//! (the idempotency middleware) and plain text (unhandled middleware errors, proxies).

use serde_json::Value;

/// The longest message kept from a body; validation errors carry whole tracebacks.
pub const MAX_MESSAGE_CHARS: usize = 300;

/// What an error body says, reduced to one line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ErrorBody {
    /// The Python exception class when ZenML named one (`EntityExistsError`).
    pub class: Option<String>,
    /// The message, on one line and at most [`MAX_MESSAGE_CHARS`] characters.
    pub message: String,
}

impl ErrorBody {
    /// Never fails: anything that is not a known shape is kept as raw text.
    pub fn parse(body: &[u8]) -> ErrorBody {
        let parsed = serde_json::from_slice::<Value>(body)
            .ok()
            .and_then(|value| from_json(&value));
        match parsed {
            Some((class, message)) => ErrorBody {
                class,
                message: one_line(&message),
            },
            None => ErrorBody {
                class: None,
                message: one_line(&String::from_utf8_lossy(body)),
            },
        }
    }

    /// `Class: message`, or the message alone.
    pub fn display(&self) -> String {
        match &self.class {
            Some(class) if self.message.is_empty() => class.clone(),
            Some(class) => format!("{class}: {}", self.message),
            None => self.message.clone(),
        }
    }
}

fn from_json(value: &Value) -> Option<(Option<String>, String)> {
    match value {
        Value::Object(object) => match object.get("detail") {
            Some(Value::String(text)) => Some((None, text.clone())),
            Some(detail @ Value::Array(_)) => class_and_message(detail),
            Some(other) => Some((None, other.to_string())),
            None => match object.get("error") {
                Some(Value::String(text)) => Some((None, text.clone())),
                _ => None,
            },
        },
        Value::Array(_) => class_and_message(value),
        _ => None,
    }
}

/// `["Class", "message"]`; a longer or odder array is kept as its JSON text.
fn class_and_message(value: &Value) -> Option<(Option<String>, String)> {
    let items = value.as_array()?;
    match items.as_slice() {
        [Value::String(class), Value::String(message)] => {
            Some((Some(class.clone()), message.clone()))
        }
        [Value::String(message)] => Some((None, message.clone())),
        _ => Some((None, value.to_string())),
    }
}

/// Collapses whitespace runs (tracebacks, pretty JSON) and truncates on a char boundary.
fn one_line(text: &str) -> String {
    let collapsed = text.split_whitespace().collect::<Vec<_>>().join(" ");
    match collapsed.char_indices().nth(MAX_MESSAGE_CHARS) {
        Some((cut, _)) => format!("{}…", &collapsed[..cut]),
        None => collapsed,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(body: &str) -> ErrorBody {
        ErrorBody::parse(body.as_bytes())
    }

    #[test]
    fn detail_string() {
        let body = parse(r#"{"detail":"Not authenticated"}"#);
        assert_eq!(body.class, None);
        assert_eq!(body.message, "Not authenticated");
        assert_eq!(body.display(), "Not authenticated");
    }

    #[test]
    fn detail_class_and_message() {
        let body = parse(
            r#"{"detail":["EntityExistsError","Pipeline run name 'x' already exists in this project."]}"#,
        );
        assert_eq!(body.class.as_deref(), Some("EntityExistsError"));
        assert_eq!(
            body.display(),
            "EntityExistsError: Pipeline run name 'x' already exists in this project."
        );
    }

    #[test]
    fn bare_array_with_multiline_message() {
        let body = parse(
            r#"["ValueError","1 validation error:\n  {'type': 'bool_parsing'}\n\n  File x"]"#,
        );
        assert_eq!(body.class.as_deref(), Some("ValueError"));
        assert_eq!(
            body.message,
            "1 validation error: {'type': 'bool_parsing'} File x"
        );
    }

    #[test]
    fn error_key() {
        let body = parse(r#"{"error":"Server too busy. Please try again later."}"#);
        assert_eq!(body.class, None);
        assert_eq!(body.message, "Server too busy. Please try again later.");
    }

    #[test]
    fn plain_text_and_html() {
        assert_eq!(
            parse("Internal Server Error").message,
            "Internal Server Error"
        );
        assert_eq!(
            parse("<html>\n<body>502 Bad Gateway</body>\n</html>").message,
            "<html> <body>502 Bad Gateway</body> </html>"
        );
        assert_eq!(parse("").message, "");
    }

    #[test]
    fn other_json_shapes_are_kept_as_text() {
        assert_eq!(parse(r#"{"message":"x"}"#).message, r#"{"message":"x"}"#);
        assert_eq!(parse(r#"{"detail":{"a":1}}"#).message, r#"{"a":1}"#);
        assert_eq!(parse(r#"[1,2,3]"#).message, "[1,2,3]");
        assert_eq!(parse("42").message, "42");
    }

    #[test]
    fn long_messages_are_truncated_on_a_char_boundary() {
        let long = "é".repeat(1000);
        let body = parse(&format!(r#"{{"detail":"{long}"}}"#));
        assert_eq!(body.message.chars().count(), MAX_MESSAGE_CHARS + 1);
        assert!(body.message.ends_with('…'));
    }

    #[test]
    fn invalid_utf8_does_not_panic() {
        let body = ErrorBody::parse(&[0xff, 0xfe, b'x']);
        assert!(body.message.ends_with('x'));
    }
}

//! Typed reads from an untrusted JSON payload.
//!
//! Every reader answers `None` for a missing key, a value of the wrong type, or an empty
//! string, so normalisers never index, never unwrap, and never mistake `""` for a value.

use serde_json::Value;

/// The value at `path` (object keys only), if every step exists.
pub(super) fn at<'a>(value: &'a Value, path: &[&str]) -> Option<&'a Value> {
    path.iter().try_fold(value, |node, key| node.get(*key))
}

/// A non-empty string at `path`.
pub(super) fn text(value: &Value, path: &[&str]) -> Option<String> {
    at(value, path)
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
}

/// The first non-empty string among several paths.
pub(super) fn first_text(value: &Value, paths: &[&[&str]]) -> Option<String> {
    paths.iter().find_map(|path| text(value, path))
}

/// A boolean at `path`.
pub(super) fn flag(value: &Value, path: &[&str]) -> Option<bool> {
    at(value, path).and_then(Value::as_bool)
}

/// A non-negative integer at `path`.
pub(super) fn number(value: &Value, path: &[&str]) -> Option<u64> {
    at(value, path).and_then(Value::as_u64)
}

/// An array at `path`.
pub(super) fn list<'a>(value: &'a Value, path: &[&str]) -> Option<&'a [Value]> {
    at(value, path).and_then(Value::as_array).map(Vec::as_slice)
}

/// An object at `path` (a JSON object, not `null`).
pub(super) fn object<'a>(value: &'a Value, path: &[&str]) -> Option<&'a Value> {
    at(value, path).filter(|v| v.is_object())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn readers_answer_none_for_wrong_types_and_empty_strings() {
        let v = json!({"a": {"s": "x", "e": "", "n": 3, "b": true, "l": [1], "o": {}}, "arr": [1]});
        assert_eq!(text(&v, &["a", "s"]), Some("x".into()));
        assert_eq!(text(&v, &["a", "e"]), None);
        assert_eq!(text(&v, &["a", "n"]), None);
        assert_eq!(text(&v, &["arr", "0"]), None);
        assert_eq!(number(&v, &["a", "n"]), Some(3));
        assert_eq!(number(&v, &["a", "s"]), None);
        assert_eq!(flag(&v, &["a", "b"]), Some(true));
        assert_eq!(flag(&v, &["a", "n"]), None);
        assert_eq!(list(&v, &["a", "l"]).map(<[Value]>::len), Some(1));
        assert!(object(&v, &["a", "o"]).is_some());
        assert!(object(&v, &["a", "l"]).is_none());
        assert_eq!(at(&json!("scalar"), &["a"]), None);
        assert_eq!(
            first_text(&v, &[&["a", "e"], &["a", "s"]]),
            Some("x".into())
        );
    }
}

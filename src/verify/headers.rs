//! Reading the request headers that carry signatures, tokens and timestamps.

use http::header::AsHeaderName;
use http::{HeaderMap, HeaderName};

use super::{Rejection, SchemeError};

/// A configured header name, validated once at start-up so lookups cannot fail later.
pub(super) fn header_name(field: &'static str, name: &str) -> Result<HeaderName, SchemeError> {
    HeaderName::try_from(name).map_err(|_| SchemeError::InvalidHeaderName {
        field,
        name: name.to_owned(),
    })
}

/// The value of a header that must appear at most once.
///
/// A repeated header is refused with `on_repeat` rather than picking one copy: which copy a
/// proxy or framework would pick differs, and an attacker could exploit that ambiguity.
pub(super) fn single<K: AsHeaderName>(
    headers: &HeaderMap,
    name: K,
    on_repeat: Rejection,
) -> Result<Option<&[u8]>, Rejection> {
    let mut values = headers.get_all(name).iter();
    let first = values.next();
    if values.next().is_some() {
        return Err(on_repeat);
    }
    Ok(first.map(|value| value.as_bytes()))
}

/// `value` without `prefix`, compared ASCII case-insensitively (`Bearer`, `SHA256=` are case-insensitive
/// in practice); `None` when the value does not start with it.
pub(super) fn strip_prefix_ignore_case<'a>(value: &'a [u8], prefix: &[u8]) -> Option<&'a [u8]> {
    if value.len() < prefix.len() {
        return None;
    }
    let (head, rest) = value.split_at(prefix.len());
    head.eq_ignore_ascii_case(prefix).then_some(rest)
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    #[test]
    fn absent_header_is_none_and_present_header_is_its_bytes() {
        let mut headers = HeaderMap::new();
        assert_eq!(
            single(&headers, "x-a", Rejection::MalformedSignature),
            Ok(None)
        );
        headers.insert("x-a", HeaderValue::from_static("v"));
        assert_eq!(
            single(&headers, "X-A", Rejection::MalformedSignature),
            Ok(Some(&b"v"[..]))
        );
    }

    #[test]
    fn repeated_header_is_refused_with_the_given_rejection() {
        let mut headers = HeaderMap::new();
        headers.append("x-a", HeaderValue::from_static("1"));
        headers.append("x-a", HeaderValue::from_static("2"));
        assert_eq!(
            single(&headers, "x-a", Rejection::MalformedTimestamp),
            Err(Rejection::MalformedTimestamp)
        );
    }

    #[test]
    fn prefix_is_stripped_case_insensitively() {
        assert_eq!(
            strip_prefix_ignore_case(b"Bearer abc", b"bearer "),
            Some(&b"abc"[..])
        );
        assert_eq!(
            strip_prefix_ignore_case(b"SHA256=ab", b"sha256="),
            Some(&b"ab"[..])
        );
        assert_eq!(strip_prefix_ignore_case(b"abc", b""), Some(&b"abc"[..]));
        assert_eq!(strip_prefix_ignore_case(b"Bear", b"Bearer "), None);
        assert_eq!(strip_prefix_ignore_case(b"Basic abc", b"Bearer "), None);
        // A multi-byte UTF-8 prefix must not be matched halfway or panic on a char boundary.
        assert_eq!(strip_prefix_ignore_case(b"\xc3", "é".as_bytes()), None);
    }
}

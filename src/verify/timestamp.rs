//! The signed timestamp that bounds how long a captured request can be replayed.

use std::time::Duration;

use http::header::AsHeaderName;
use http::HeaderMap;

use super::headers::single;
use super::Rejection;

/// The raw timestamp header value (as signed by the sender), after checking that it is a plain
/// number of unix seconds within `tolerance` of `now`, in either direction.
pub(super) fn checked_timestamp<K: AsHeaderName>(
    headers: &HeaderMap,
    name: K,
    now_unix_secs: i64,
    tolerance: Duration,
) -> Result<&[u8], Rejection> {
    let raw =
        single(headers, name, Rejection::MalformedTimestamp)?.ok_or(Rejection::MissingTimestamp)?;
    let sent = parse_unix_seconds(raw).ok_or(Rejection::MalformedTimestamp)?;
    if sent.abs_diff(now_unix_secs) > tolerance.as_secs() {
        return Err(Rejection::StaleTimestamp);
    }
    Ok(raw)
}

/// Digits only: no sign, no spaces, no fraction. Signers sign the exact header text, so the
/// text we accept must have a single spelling per instant.
fn parse_unix_seconds(raw: &[u8]) -> Option<i64> {
    if raw.is_empty() || !raw.iter().all(u8::is_ascii_digit) {
        return None;
    }
    std::str::from_utf8(raw).ok()?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    const FIVE_MIN: Duration = Duration::from_secs(300);

    fn with_ts(value: &'static [u8]) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(
            "ts",
            HeaderValue::from_bytes(value).expect("valid header bytes"),
        );
        headers
    }

    #[test]
    fn parses_only_plain_digits() {
        assert_eq!(parse_unix_seconds(b"1614265330"), Some(1_614_265_330));
        assert_eq!(parse_unix_seconds(b"0"), Some(0));
        for bad in [
            &b""[..],
            b"+1",
            b"-1",
            b" 1",
            b"1.5",
            b"1e3",
            b"0x10",
            b"\xff",
        ] {
            assert_eq!(parse_unix_seconds(bad), None, "{bad:?}");
        }
        assert_eq!(
            parse_unix_seconds(b"99999999999999999999999"),
            None,
            "overflow"
        );
    }

    #[test]
    fn accepts_edges_of_tolerance_and_refuses_beyond() {
        let now = 1_000_000;
        let h = with_ts(b"1000000");
        assert_eq!(
            checked_timestamp(&h, "ts", now, FIVE_MIN),
            Ok(&b"1000000"[..])
        );
        assert!(checked_timestamp(&h, "ts", now + 300, FIVE_MIN).is_ok());
        assert!(checked_timestamp(&h, "ts", now - 300, FIVE_MIN).is_ok());
        assert_eq!(
            checked_timestamp(&h, "ts", now + 301, FIVE_MIN),
            Err(Rejection::StaleTimestamp)
        );
        assert_eq!(
            checked_timestamp(&h, "ts", now - 301, FIVE_MIN),
            Err(Rejection::StaleTimestamp)
        );
    }

    #[test]
    fn extreme_clocks_do_not_overflow() {
        let h = with_ts(b"9223372036854775807");
        assert_eq!(
            checked_timestamp(&h, "ts", i64::MIN, FIVE_MIN),
            Err(Rejection::StaleTimestamp)
        );
    }

    #[test]
    fn missing_and_malformed_are_distinguished() {
        assert_eq!(
            checked_timestamp(&HeaderMap::new(), "ts", 0, FIVE_MIN),
            Err(Rejection::MissingTimestamp)
        );
        assert_eq!(
            checked_timestamp(&with_ts(b"soon"), "ts", 0, FIVE_MIN),
            Err(Rejection::MalformedTimestamp)
        );
    }
}

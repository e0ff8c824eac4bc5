//! Parses `Retry-After` (RFC 9110 §10.2.3): delay seconds or an HTTP date.
//!
//! A date is measured against the response's own `Date` header rather than our clock:
//! that is what the server meant, it survives clock skew, and the module reads no
//! wall clock. Without a `Date` header a date-valued `Retry-After` is ignored and
//! the caller's own backoff applies.

use std::time::Duration;

/// A server asking for more than this is treated as asking for this.
pub const MAX_RETRY_AFTER: Duration = Duration::from_secs(3600);

/// The delay a `Retry-After` value asks for, capped at [`MAX_RETRY_AFTER`].
pub fn parse(retry_after: &str, date: Option<&str>) -> Option<Duration> {
    let value = retry_after.trim();
    let delay = if !value.is_empty() && value.bytes().all(|b| b.is_ascii_digit()) {
        // Too many digits to fit is still "a long time".
        Duration::from_secs(value.parse::<u64>().unwrap_or(u64::MAX))
    } else {
        let until = imf_fixdate_seconds(value)?;
        let now = imf_fixdate_seconds(date?.trim())?;
        Duration::from_secs(until.saturating_sub(now).max(0).unsigned_abs())
    };
    Some(delay.min(MAX_RETRY_AFTER))
}

/// Seconds since the Unix epoch of an IMF-fixdate (`Sun, 06 Nov 1994 08:49:37 GMT`),
/// the only date form senders may generate (the obsolete forms are not accepted).
fn imf_fixdate_seconds(text: &str) -> Option<i64> {
    let mut parts = text.split(' ');
    let weekday = parts.next()?;
    let day = parts.next()?;
    let month = parts.next()?;
    let year = parts.next()?;
    let time = parts.next()?;
    let zone = parts.next()?;
    if parts.next().is_some() || zone != "GMT" || !weekday.ends_with(',') {
        return None;
    }
    let day: i64 = digits(day, 2)?;
    let month = month_number(month)?;
    let year: i64 = digits(year, 4)?;
    let mut clock = time.split(':');
    let hour: i64 = digits(clock.next()?, 2)?;
    let minute: i64 = digits(clock.next()?, 2)?;
    let second: i64 = digits(clock.next()?, 2)?;
    if clock.next().is_some() || !(1..=31).contains(&day) || hour > 23 || minute > 59 || second > 60
    {
        return None;
    }
    Some(days_from_civil(year, month, day) * 86_400 + hour * 3600 + minute * 60 + second)
}

fn digits(text: &str, width: usize) -> Option<i64> {
    if text.len() != width || !text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    text.parse().ok()
}

fn month_number(name: &str) -> Option<i64> {
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let index = MONTHS.iter().position(|m| *m == name)?;
    i64::try_from(index).ok().map(|i| i + 1)
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let year = if month <= 2 { year - 1 } else { year };
    let era = year.div_euclid(400);
    let year_of_era = year - era * 400;
    let shifted_month = (month + 9) % 12;
    let day_of_year = (153 * shifted_month + 2) / 5 + day - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    era * 146_097 + day_of_era - 719_468
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seconds() {
        assert_eq!(parse("120", None), Some(Duration::from_secs(120)));
        assert_eq!(parse(" 0 ", None), Some(Duration::ZERO));
    }

    #[test]
    fn seconds_are_capped_at_an_hour() {
        assert_eq!(parse("86400", None), Some(MAX_RETRY_AFTER));
        assert_eq!(
            parse("99999999999999999999999", None),
            Some(MAX_RETRY_AFTER)
        );
    }

    #[test]
    fn date_against_the_date_header() {
        assert_eq!(
            parse(
                "Sun, 06 Nov 1994 08:51:07 GMT",
                Some("Sun, 06 Nov 1994 08:49:37 GMT")
            ),
            Some(Duration::from_secs(90))
        );
        // Across a year boundary and a leap day.
        assert_eq!(
            parse(
                "Fri, 01 Mar 2024 00:00:10 GMT",
                Some("Thu, 29 Feb 2024 23:59:50 GMT")
            ),
            Some(Duration::from_secs(20))
        );
    }

    #[test]
    fn a_date_in_the_past_means_now() {
        assert_eq!(
            parse(
                "Sun, 06 Nov 1994 08:00:00 GMT",
                Some("Sun, 06 Nov 1994 08:49:37 GMT")
            ),
            Some(Duration::ZERO)
        );
    }

    #[test]
    fn a_date_without_a_date_header_is_ignored() {
        assert_eq!(parse("Sun, 06 Nov 1994 08:51:07 GMT", None), None);
    }

    #[test]
    fn epoch_is_zero() {
        assert_eq!(
            imf_fixdate_seconds("Thu, 01 Jan 1970 00:00:00 GMT"),
            Some(0)
        );
        assert_eq!(
            imf_fixdate_seconds("Sun, 06 Nov 1994 08:49:37 GMT"),
            Some(784_111_777)
        );
    }

    #[test]
    fn garbage_is_ignored() {
        for value in [
            "",
            "-5",
            "1.5",
            "soon",
            "Sunday, 06-Nov-94 08:49:37 GMT",
            "Sun Nov  6 08:49:37 1994",
            "Sun, 06 Nov 1994 08:49:37 UTC",
            "Sun, 32 Nov 1994 08:49:37 GMT",
            "Sun, 06 Foo 1994 08:49:37 GMT",
            "Sun, 06 Nov 1994 25:49:37 GMT",
        ] {
            assert_eq!(
                parse(value, Some("Sun, 06 Nov 1994 08:49:37 GMT")),
                None,
                "{value:?}"
            );
        }
    }
}

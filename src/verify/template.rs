//! The `signed_payload` template of the generic HMAC scheme, e.g. `{timestamp}.{body}`.

use super::SchemeError;

#[derive(Debug, Clone, PartialEq, Eq)]
enum Piece {
    Literal(Vec<u8>),
    Body,
    Timestamp,
}

/// A parsed template: the bytes to sign are its pieces concatenated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct SignedPayload(Vec<Piece>);

impl SignedPayload {
    /// `{body}` must appear exactly once. `{timestamp}` must appear when, and only when, a timestamp
    /// header is configured: a timestamp that is checked but not signed could be rewritten by
    /// anyone replaying a request, so it would give no replay protection.
    pub(super) fn parse(template: &str, has_timestamp_header: bool) -> Result<Self, SchemeError> {
        let invalid = |problem| SchemeError::InvalidSignedPayload {
            template: template.to_owned(),
            problem,
        };
        let mut pieces = Vec::new();
        let mut rest = template;
        while let Some(open) = rest.find('{') {
            if open > 0 {
                pieces.push(Piece::Literal(rest.as_bytes()[..open].to_vec()));
            }
            let after_open = &rest[open + 1..];
            let close = after_open
                .find('}')
                .ok_or_else(|| invalid("a `{` is not closed"))?;
            pieces.push(match &after_open[..close] {
                "body" => Piece::Body,
                "timestamp" => Piece::Timestamp,
                _ => {
                    return Err(invalid(
                        "only the {body} and {timestamp} placeholders exist",
                    ))
                }
            });
            rest = &after_open[close + 1..];
        }
        if !rest.is_empty() {
            pieces.push(Piece::Literal(rest.as_bytes().to_vec()));
        }

        let bodies = pieces.iter().filter(|piece| **piece == Piece::Body).count();
        if bodies != 1 {
            return Err(invalid("it must contain {body} exactly once"));
        }
        let signs_timestamp = pieces.contains(&Piece::Timestamp);
        if signs_timestamp && !has_timestamp_header {
            return Err(invalid(
                "it uses {timestamp} but no timestamp_header is set",
            ));
        }
        if has_timestamp_header && !signs_timestamp {
            return Err(invalid(
                "timestamp_header is set but {timestamp} is not signed, so the timestamp could be forged",
            ));
        }
        Ok(SignedPayload(pieces))
    }

    /// The pieces to feed the MAC, in order.
    pub(super) fn parts<'a>(&'a self, body: &'a [u8], timestamp: &'a [u8]) -> Vec<&'a [u8]> {
        self.0
            .iter()
            .map(|piece| match piece {
                Piece::Literal(bytes) => bytes.as_slice(),
                Piece::Body => body,
                Piece::Timestamp => timestamp,
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn signed(template: &str, has_ts: bool, body: &[u8], ts: &[u8]) -> Vec<u8> {
        SignedPayload::parse(template, has_ts)
            .expect("valid template")
            .parts(body, ts)
            .concat()
    }

    #[test]
    fn renders_placeholders_and_literals() {
        assert_eq!(signed("{body}", false, b"B", b""), b"B");
        assert_eq!(signed("{timestamp}.{body}", true, b"B", b"17"), b"17.B");
        assert_eq!(
            signed("v0:{timestamp}:{body}", true, b"B", b"17"),
            b"v0:17:B"
        );
        assert_eq!(signed("{body}}tail", false, b"B", b""), b"B}tail");
        assert_eq!(signed("{body}", false, b"", b""), b"");
    }

    #[test]
    fn refuses_invalid_templates() {
        for (template, has_ts) in [
            ("", false),
            ("{timestamp}", true),
            ("{body}{body}", false),
            ("{Body}", false),
            ("{body", false),
            ("{ body }", false),
            ("{id}.{body}", false),
            ("{timestamp}.{body}", false),
            ("{body}", true),
        ] {
            assert!(
                matches!(
                    SignedPayload::parse(template, has_ts),
                    Err(SchemeError::InvalidSignedPayload { .. })
                ),
                "{template:?} with timestamp header {has_ts}"
            );
        }
    }
}

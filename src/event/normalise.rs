//! Reduces a verified payload to the normalised [`Event`], dispatching on the sender.

use http::HeaderMap;
use serde_json::Value;

use super::github::Dialect;
use super::{bitbucket, github, gitlab, Envelope, Event, SenderKind};

/// The kind of an event whose name nobody stated.
pub(super) const UNKNOWN_KIND: &str = "unknown";

/// Reduces a payload to the normalised Event. Never fails, never panics: missing fields
/// stay `None`, and fields of the wrong type count as missing.
///
/// `headers` is part of the contract for senders that keep meaning outside the envelope;
/// every sender normalised today finds all it needs in the envelope and the payload.
pub fn normalise(
    kind: SenderKind,
    envelope: &Envelope,
    _headers: &HeaderMap,
    payload: &Value,
) -> Event {
    // An empty name names nothing, whoever built the envelope.
    let raw_event = envelope.event.as_deref().filter(|name| !name.is_empty());
    let mut event = match kind {
        SenderKind::Github => github::normalise(kind, Dialect::Github, raw_event, payload),
        SenderKind::Gitea | SenderKind::Forgejo => {
            github::normalise(kind, Dialect::Gitea, raw_event, payload)
        }
        SenderKind::Gitlab => gitlab::normalise(kind, raw_event, payload),
        SenderKind::Bitbucket => bitbucket::normalise(kind, raw_event, payload),
        // Configurable senders have no known payload layout: only the located name is known.
        SenderKind::Standard | SenderKind::Hmac | SenderKind::Token => {
            Event::new(kind, raw_event.unwrap_or(UNKNOWN_KIND))
        }
    };
    event.raw_event = raw_event.map(str::to_owned);
    event
}

/// Whether a pull request comes from another repository; unknown unless both are named.
pub(super) fn is_fork(head: &Option<String>, base: &Option<String>) -> Option<bool> {
    match (head, base) {
        (Some(head), Some(base)) => Some(head != base),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn env(event: Option<&str>) -> Envelope {
        Envelope {
            event: event.map(str::to_owned),
            delivery_id: None,
        }
    }

    #[test]
    fn configurable_senders_only_know_the_located_event() {
        let payload =
            json!({"ref": "refs/heads/main", "repository": {"full_name": "o/r"}, "action": "x"});
        for kind in [SenderKind::Standard, SenderKind::Hmac, SenderKind::Token] {
            let e = normalise(
                kind,
                &env(Some("invoice.paid")),
                &HeaderMap::new(),
                &payload,
            );
            let mut want = Event::new(kind, "invoice.paid");
            want.raw_event = Some("invoice.paid".into());
            assert_eq!(e, want);

            for unnamed in [None, Some("")] {
                let e = normalise(kind, &env(unnamed), &HeaderMap::new(), &payload);
                assert_eq!(e, Event::new(kind, "unknown"));
            }
        }
    }

    #[test]
    fn the_sender_is_the_one_asked_for() {
        for kind in [SenderKind::Gitea, SenderKind::Forgejo] {
            let e = normalise(kind, &env(Some("push")), &HeaderMap::new(), &json!({}));
            assert_eq!(e.sender, kind);
            assert_eq!(e.raw_event.as_deref(), Some("push"));
        }
    }

    #[test]
    fn is_fork_needs_both_names() {
        let some = |s: &str| Some(s.to_owned());
        assert_eq!(is_fork(&some("a/b"), &some("a/b")), Some(false));
        assert_eq!(is_fork(&some("c/b"), &some("a/b")), Some(true));
        assert_eq!(is_fork(&None, &some("a/b")), None);
    }
}

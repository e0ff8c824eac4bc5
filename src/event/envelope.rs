//! The event name and delivery id, from each sender's header conventions.

use http::HeaderMap;
use serde_json::Value;
use serde_json_path::JsonPath;

use super::json::text;
use super::SenderKind;

/// Where a configurable sender (standard, hmac, token) finds a value.
///
/// In TOML: `{ header = "X-Event" }` or `{ json_path = "$.type" }`.
#[derive(Debug, Clone, PartialEq, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Locator {
    Header(String),
    JsonPath(String),
}

/// A locator that can never find anything, reported when the configuration is loaded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LocatorError {
    #[error("`{0}` is not a valid header name")]
    HeaderName(String),
    #[error("`{path}` is not a valid JSONPath: {reason}")]
    JsonPath { path: String, reason: String },
}

impl Locator {
    /// Checks the header name or JSONPath syntax, so a typo fails at start-up instead of
    /// silently locating nothing on every delivery.
    pub fn validate(&self) -> Result<(), LocatorError> {
        match self {
            Locator::Header(name) => http::HeaderName::from_bytes(name.as_bytes())
                .map(drop)
                .map_err(|_| LocatorError::HeaderName(name.clone())),
            Locator::JsonPath(path) => {
                JsonPath::parse(path)
                    .map(drop)
                    .map_err(|e| LocatorError::JsonPath {
                        path: path.clone(),
                        reason: e.to_string(),
                    })
            }
        }
    }

    /// The located value: a non-empty header value, or the single string or number the
    /// JSONPath selects. Anything else (no match, several matches, an object) is `None`.
    pub fn locate(&self, headers: &HeaderMap, payload: &Value) -> Option<String> {
        match self {
            Locator::Header(name) => header(headers, name),
            Locator::JsonPath(path) => {
                let path = JsonPath::parse(path).ok()?;
                let node = path.query(payload).exactly_one().ok()?;
                match node {
                    Value::String(s) if !s.is_empty() => Some(s.clone()),
                    Value::Number(n) => Some(n.to_string()),
                    _ => None,
                }
            }
        }
    }
}

/// How a configurable sender finds its event name and delivery id.
#[derive(Debug, Clone, Default)]
pub struct EnvelopeSpec {
    pub event: Option<Locator>,
    pub delivery_id: Option<Locator>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Envelope {
    pub event: Option<String>,
    pub delivery_id: Option<String>,
}

/// The event name and the sender's delivery id, from each sender's header conventions.
///
/// `spec` applies to the configurable senders only (standard, hmac, token); the forges'
/// conventions are fixed. Empty (or whitespace-only) header values count as absent.
pub fn envelope(
    kind: SenderKind,
    spec: &EnvelopeSpec,
    headers: &HeaderMap,
    payload: &Value,
) -> Envelope {
    let first = |names: &[&str]| names.iter().find_map(|name| header(headers, name));
    let located = |locator: &Option<Locator>| {
        locator
            .as_ref()
            .and_then(|locator| locator.locate(headers, payload))
    };
    let (event, delivery_id) = match kind {
        SenderKind::Github => (first(&["X-GitHub-Event"]), first(&["X-GitHub-Delivery"])),
        // Idempotency-Key (GitLab 17.4+) stays the same across retries; the UUID may not.
        SenderKind::Gitlab => (
            first(&["X-Gitlab-Event"]),
            first(&["Idempotency-Key", "X-Gitlab-Event-UUID"]),
        ),
        // Cloud sends X-Request-UUID, Data Center X-Request-Id.
        SenderKind::Bitbucket => (
            first(&["X-Event-Key"]),
            first(&["X-Request-UUID", "X-Request-Id"]),
        ),
        SenderKind::Gitea => (first(&["X-Gitea-Event"]), first(&["X-Gitea-Delivery"])),
        // Forgejo also sends the Gitea copies; older or proxied deliveries may carry only those.
        SenderKind::Forgejo => (
            first(&["X-Forgejo-Event", "X-Gitea-Event"]),
            first(&["X-Forgejo-Delivery", "X-Gitea-Delivery"]),
        ),
        // Standard Webhooks: the id is signed with the body; `type` is the spec's event name.
        SenderKind::Standard => (
            spec.event.as_ref().map_or_else(
                || text(payload, &["type"]),
                |locator| locator.locate(headers, payload),
            ),
            spec.delivery_id.as_ref().map_or_else(
                || first(&["webhook-id"]),
                |locator| locator.locate(headers, payload),
            ),
        ),
        SenderKind::Hmac | SenderKind::Token => (located(&spec.event), located(&spec.delivery_id)),
    };
    Envelope { event, delivery_id }
}

/// A header's value, trimmed; absent when missing, empty, or not visible ASCII.
fn header(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get(name)
        .and_then(|value| value.to_str().ok())
        .map(str::trim)
        .filter(|value| !value.is_empty())
        .map(str::to_owned)
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::{HeaderName, HeaderValue};
    use serde_json::json;

    fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.append(
                HeaderName::from_bytes(name.as_bytes()).expect("name"),
                HeaderValue::from_str(value).expect("value"),
            );
        }
        map
    }

    fn env(kind: SenderKind, pairs: &[(&str, &str)]) -> Envelope {
        envelope(kind, &EnvelopeSpec::default(), &headers(pairs), &json!({}))
    }

    fn want(event: Option<&str>, delivery: Option<&str>) -> Envelope {
        Envelope {
            event: event.map(str::to_owned),
            delivery_id: delivery.map(str::to_owned),
        }
    }

    #[test]
    fn github_headers() {
        let e = env(
            SenderKind::Github,
            &[
                ("X-GitHub-Event", "push"),
                ("X-GitHub-Delivery", "72d3162e-cc78-11e3-81ab-4c9367dc0958"),
            ],
        );
        assert_eq!(
            e,
            want(Some("push"), Some("72d3162e-cc78-11e3-81ab-4c9367dc0958"))
        );
    }

    #[test]
    fn header_names_are_case_insensitive() {
        let e = env(SenderKind::Github, &[("x-github-event", "ping")]);
        assert_eq!(e, want(Some("ping"), None));
    }

    #[test]
    fn gitlab_prefers_idempotency_key_over_event_uuid() {
        let both = env(
            SenderKind::Gitlab,
            &[
                ("X-Gitlab-Event", "Push Hook"),
                ("X-Gitlab-Event-UUID", "uuid-1"),
                ("Idempotency-Key", "key-1"),
            ],
        );
        assert_eq!(both, want(Some("Push Hook"), Some("key-1")));

        let uuid_only = env(
            SenderKind::Gitlab,
            &[
                ("X-Gitlab-Event", "Push Hook"),
                ("X-Gitlab-Event-UUID", "uuid-1"),
            ],
        );
        assert_eq!(uuid_only, want(Some("Push Hook"), Some("uuid-1")));

        let empty_key = env(
            SenderKind::Gitlab,
            &[("Idempotency-Key", ""), ("X-Gitlab-Event-UUID", "uuid-1")],
        );
        assert_eq!(empty_key, want(None, Some("uuid-1")));
    }

    #[test]
    fn bitbucket_cloud_and_data_center_ids() {
        let cloud = env(
            SenderKind::Bitbucket,
            &[
                ("X-Event-Key", "repo:push"),
                ("X-Request-UUID", "cloud-uuid"),
                ("X-Hook-UUID", "hook"),
            ],
        );
        assert_eq!(cloud, want(Some("repo:push"), Some("cloud-uuid")));

        let dc = env(
            SenderKind::Bitbucket,
            &[
                ("X-Event-Key", "repo:refs_changed"),
                ("X-Request-Id", "dc-id"),
            ],
        );
        assert_eq!(dc, want(Some("repo:refs_changed"), Some("dc-id")));

        let both = env(
            SenderKind::Bitbucket,
            &[("X-Request-Id", "dc-id"), ("X-Request-UUID", "cloud-uuid")],
        );
        assert_eq!(both.delivery_id.as_deref(), Some("cloud-uuid"));
    }

    #[test]
    fn gitea_uses_the_coarse_event_header() {
        let e = env(
            SenderKind::Gitea,
            &[
                ("X-Gitea-Event", "pull_request"),
                ("X-Gitea-Event-Type", "pull_request_sync"),
                ("X-Gitea-Delivery", "d-1"),
                ("X-GitHub-Event", "ignored"),
            ],
        );
        assert_eq!(e, want(Some("pull_request"), Some("d-1")));
    }

    #[test]
    fn forgejo_headers_and_gitea_fallback() {
        let own = env(
            SenderKind::Forgejo,
            &[
                ("X-Forgejo-Event", "push"),
                ("X-Forgejo-Delivery", "f-1"),
                ("X-Gitea-Event", "other"),
                ("X-Gitea-Delivery", "g-1"),
            ],
        );
        assert_eq!(own, want(Some("push"), Some("f-1")));

        let fallback = env(
            SenderKind::Forgejo,
            &[
                ("X-Forgejo-Event", " "),
                ("X-Gitea-Event", "push"),
                ("X-Gitea-Delivery", "g-1"),
            ],
        );
        assert_eq!(fallback, want(Some("push"), Some("g-1")));
    }

    #[test]
    fn standard_webhooks_use_payload_type_and_webhook_id() {
        let h = headers(&[("webhook-id", "msg_p5jXN8AQM9LWM0D4loKWxJek")]);
        let payload = json!({"type": "invoice.paid", "data": {}});
        let e = envelope(SenderKind::Standard, &EnvelopeSpec::default(), &h, &payload);
        assert_eq!(
            e,
            want(Some("invoice.paid"), Some("msg_p5jXN8AQM9LWM0D4loKWxJek"))
        );

        let untyped = envelope(
            SenderKind::Standard,
            &EnvelopeSpec::default(),
            &h,
            &json!({"type": 3}),
        );
        assert_eq!(untyped.event, None);
    }

    #[test]
    fn standard_spec_overrides_the_defaults() {
        let h = headers(&[("webhook-id", "msg_1"), ("X-Kind", "custom")]);
        let spec = EnvelopeSpec {
            event: Some(Locator::Header("X-Kind".into())),
            delivery_id: Some(Locator::JsonPath("$.id".into())),
        };
        let e = envelope(
            SenderKind::Standard,
            &spec,
            &h,
            &json!({"type": "t", "id": "p-9"}),
        );
        assert_eq!(e, want(Some("custom"), Some("p-9")));
    }

    #[test]
    fn hmac_and_token_locate_only_what_is_configured() {
        let h = headers(&[
            ("X-Event", "deploy"),
            ("X-Delivery", "d-7"),
            ("webhook-id", "w"),
        ]);
        let payload = json!({"type": "ignored", "meta": {"id": 12345}});
        for kind in [SenderKind::Hmac, SenderKind::Token] {
            let none = envelope(kind, &EnvelopeSpec::default(), &h, &payload);
            assert_eq!(none, want(None, None), "{kind}");

            let spec = EnvelopeSpec {
                event: Some(Locator::Header("X-Event".into())),
                delivery_id: Some(Locator::JsonPath("$.meta.id".into())),
            };
            assert_eq!(
                envelope(kind, &spec, &h, &payload),
                want(Some("deploy"), Some("12345"))
            );
        }
    }

    #[test]
    fn json_path_locator_needs_exactly_one_string_or_number() {
        let payload = json!({
            "type": "build.done",
            "empty": "",
            "obj": {"a": 1},
            "many": [{"id": "a"}, {"id": "b"}],
            "flag": true
        });
        let h = HeaderMap::new();
        let at = |path: &str| Locator::JsonPath(path.into()).locate(&h, &payload);
        assert_eq!(at("$.type").as_deref(), Some("build.done"));
        assert_eq!(at("$.many[0].id").as_deref(), Some("a"));
        assert_eq!(at("$.many[*].id"), None);
        assert_eq!(at("$.missing"), None);
        assert_eq!(at("$.empty"), None);
        assert_eq!(at("$.obj"), None);
        assert_eq!(at("$.flag"), None);
        assert_eq!(at("not a path"), None);
    }

    #[test]
    fn header_locator_ignores_empty_and_invalid() {
        let h = headers(&[("X-Event", ""), ("X-Other", "  spaced  ")]);
        let p = json!({});
        assert_eq!(Locator::Header("X-Event".into()).locate(&h, &p), None);
        assert_eq!(Locator::Header("X-Missing".into()).locate(&h, &p), None);
        assert_eq!(Locator::Header("not a header".into()).locate(&h, &p), None);
        assert_eq!(
            Locator::Header("x-other".into()).locate(&h, &p).as_deref(),
            Some("spaced")
        );
    }

    #[test]
    fn empty_header_values_count_as_absent_for_every_forge() {
        let cases = [
            (
                SenderKind::Github,
                [("X-GitHub-Event", ""), ("X-GitHub-Delivery", "")],
            ),
            (
                SenderKind::Gitlab,
                [("X-Gitlab-Event", ""), ("Idempotency-Key", "")],
            ),
            (
                SenderKind::Bitbucket,
                [("X-Event-Key", ""), ("X-Request-UUID", "")],
            ),
            (
                SenderKind::Gitea,
                [("X-Gitea-Event", ""), ("X-Gitea-Delivery", "")],
            ),
            (
                SenderKind::Forgejo,
                [("X-Forgejo-Event", ""), ("X-Forgejo-Delivery", "")],
            ),
            (SenderKind::Standard, [("webhook-id", ""), ("X-Unused", "")]),
        ];
        for (kind, pairs) in cases {
            assert_eq!(env(kind, &pairs), want(None, None), "{kind}");
        }
    }

    #[test]
    fn non_ascii_header_values_count_as_absent() {
        let mut h = HeaderMap::new();
        h.insert(
            "X-GitHub-Event",
            HeaderValue::from_bytes(b"p\xfcsh").expect("opaque bytes are allowed"),
        );
        let e = envelope(SenderKind::Github, &EnvelopeSpec::default(), &h, &json!({}));
        assert_eq!(e.event, None);
    }

    #[test]
    fn locators_deserialize_from_toml_shaped_tables() {
        let header: Locator = serde_json::from_value(json!({"header": "X-Event"})).expect("header");
        assert_eq!(header, Locator::Header("X-Event".into()));
        let path: Locator = serde_json::from_value(json!({"json_path": "$.type"})).expect("path");
        assert_eq!(path, Locator::JsonPath("$.type".into()));
        assert!(serde_json::from_value::<Locator>(json!({"query": "x"})).is_err());
    }

    #[test]
    fn validate_reports_bad_header_names_and_paths() {
        assert_eq!(Locator::Header("X-Event".into()).validate(), Ok(()));
        assert_eq!(Locator::JsonPath("$.a.b[0]".into()).validate(), Ok(()));
        assert_eq!(
            Locator::Header("X Event".into()).validate(),
            Err(LocatorError::HeaderName("X Event".into()))
        );
        let err = Locator::JsonPath("$.[".into())
            .validate()
            .expect_err("bad path");
        assert!(
            err.to_string()
                .starts_with("`$.[` is not a valid JSONPath: "),
            "{err}"
        );
    }
}

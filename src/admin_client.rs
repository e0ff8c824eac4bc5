//! A client of the admin API (`/api/v1`), for the command line: one method per call,
//! and every refusal turned into one readable error.

use std::time::Duration;

use reqwest::{Method, StatusCode, Url};
use serde::de::DeserializeOwned;
use serde::Deserialize;
use serde_json::Value;

/// Why a call to the admin API failed.
#[derive(Debug, thiserror::Error)]
pub enum AdminError {
    #[error("{0:?} is not a usable URL for the admin API (give e.g. http://127.0.0.1:8080)")]
    BadUrl(String),
    #[error("cannot reach the admin API at {url}: {reason}")]
    Unreachable { url: String, reason: String },
    #[error("{}", describe_refusal(*.status, .code, .message, .field.as_deref()))]
    Refused {
        status: u16,
        code: String,
        message: String,
        /// The rule field at fault, for `invalid_rule`.
        field: Option<String>,
    },
    #[error("unexpected answer from {url}: {reason}")]
    Unexpected { url: String, reason: String },
}

fn describe_refusal(status: u16, code: &str, message: &str, field: Option<&str>) -> String {
    match (status, field) {
        (401, _) => format!(
            "the admin API refused the token ({code}): give --token or ZENHOOK_TOKEN, \
             or list a token under [admin] tokens"
        ),
        (_, Some(field)) if !field.is_empty() => format!("{code} at {field}: {message}"),
        _ => format!("{code}: {message}"),
    }
}

/// A stored rule as the API shows it.
#[derive(Debug, Clone, Deserialize)]
pub struct RuleView {
    pub id: String,
    pub name: String,
    pub version: i64,
    /// The rule's text, with the same field names as the YAML files.
    pub spec: Value,
}

/// One page of a list.
#[derive(Debug, Clone, Deserialize)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub next_cursor: Option<String>,
}

/// Talks to one running zenhook.
#[derive(Debug, Clone)]
pub struct AdminClient {
    base: Url,
    token: Option<String>,
    http: reqwest::Client,
    /// Sent as `X-Zenhook-Via`, so the audit log says which command made a change.
    via: Option<String>,
}

/// Page size used when reading every rule.
const RULES_PAGE: usize = 200;

impl AdminClient {
    /// `base` is the service's address (`http://host:port`, optionally with a path prefix
    /// a proxy adds); `/api/v1/...` is appended to it.
    pub fn new(base: &str, token: Option<String>) -> Result<AdminClient, AdminError> {
        let base = Url::parse(base)
            .ok()
            .filter(|url| matches!(url.scheme(), "http" | "https") && url.has_host())
            .ok_or_else(|| AdminError::BadUrl(base.to_owned()))?;
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(60))
            .build()
            .map_err(|e| AdminError::Unreachable {
                url: base.to_string(),
                reason: e.to_string(),
            })?;
        Ok(AdminClient {
            base,
            token,
            http,
            via: None,
        })
    }

    /// Marks every change this client makes as part of `command` in the audit log.
    pub fn via(mut self, command: &str) -> AdminClient {
        self.via = Some(command.to_owned());
        self
    }

    /// `GET /api/v1/<segments>?<query>`, the answer as JSON.
    pub async fn get_json(
        &self,
        segments: &[&str],
        query: &[(&str, String)],
    ) -> Result<Value, AdminError> {
        let mut url = self.url(segments);
        for (key, value) in query {
            url.query_pairs_mut().append_pair(key, value);
        }
        self.call(Method::GET, url, None).await
    }

    /// `POST /api/v1/<segments>?<query>` with an optional JSON body.
    pub async fn post_json(
        &self,
        segments: &[&str],
        query: &[(&str, String)],
        body: Option<&Value>,
    ) -> Result<Value, AdminError> {
        let mut url = self.url(segments);
        for (key, value) in query {
            url.query_pairs_mut().append_pair(key, value);
        }
        self.call(Method::POST, url, body).await
    }

    /// `/api/v1/<segments...>`, each segment escaped (rule names may hold any character).
    fn url(&self, segments: &[&str]) -> Url {
        let mut url = self.base.clone();
        if let Ok(mut path) = url.path_segments_mut() {
            path.pop_if_empty().extend(["api", "v1"]).extend(segments);
        }
        url
    }

    async fn call<T: DeserializeOwned>(
        &self,
        method: Method,
        url: Url,
        body: Option<&Value>,
    ) -> Result<T, AdminError> {
        let text = self.send(method, url.clone(), body).await?;
        serde_json::from_str(&text).map_err(|e| AdminError::Unexpected {
            url: url.to_string(),
            reason: format!("the answer is not the expected JSON: {e}"),
        })
    }

    /// Sends one request; a non-2xx answer becomes [`AdminError::Refused`].
    async fn send(
        &self,
        method: Method,
        url: Url,
        body: Option<&Value>,
    ) -> Result<String, AdminError> {
        let mut request = self.http.request(method, url.clone());
        if let Some(token) = &self.token {
            request = request.bearer_auth(token);
        }
        if let Some(via) = &self.via {
            request = request.header("x-zenhook-via", via);
        }
        if let Some(body) = body {
            request = request.json(body);
        }
        let response = request.send().await.map_err(|e| AdminError::Unreachable {
            url: url.to_string(),
            reason: error_chain(&e),
        })?;
        let status = response.status();
        let text = response.text().await.map_err(|e| AdminError::Unreachable {
            url: url.to_string(),
            reason: error_chain(&e),
        })?;
        if status.is_success() {
            Ok(text)
        } else {
            Err(refusal(status, &text))
        }
    }

    /// Every rule, by name, reading page after page.
    pub async fn all_rules(&self) -> Result<Vec<RuleView>, AdminError> {
        let mut rules = Vec::new();
        let mut cursor: Option<String> = None;
        loop {
            let mut url = self.url(&["rules"]);
            url.query_pairs_mut()
                .append_pair("limit", &RULES_PAGE.to_string());
            if let Some(cursor) = &cursor {
                url.query_pairs_mut().append_pair("cursor", cursor);
            }
            let page: Page<RuleView> = self.call(Method::GET, url, None).await?;
            rules.extend(page.items);
            match page.next_cursor {
                // A cursor that does not move would loop for ever.
                Some(next) if cursor.as_deref() != Some(next.as_str()) => cursor = Some(next),
                _ => return Ok(rules),
            }
        }
    }

    /// One rule, by id or name.
    pub async fn rule(&self, id_or_name: &str) -> Result<RuleView, AdminError> {
        self.call(Method::GET, self.url(&["rules", id_or_name]), None)
            .await
    }

    pub async fn create_rule(&self, spec: &Value) -> Result<RuleView, AdminError> {
        self.call(Method::POST, self.url(&["rules"]), Some(spec))
            .await
    }

    /// Replaces a rule (by id or name); its version goes up.
    pub async fn replace_rule(
        &self,
        id_or_name: &str,
        spec: &Value,
    ) -> Result<RuleView, AdminError> {
        self.call(Method::PUT, self.url(&["rules", id_or_name]), Some(spec))
            .await
    }

    pub async fn delete_rule(&self, id_or_name: &str) -> Result<(), AdminError> {
        self.send(Method::DELETE, self.url(&["rules", id_or_name]), None)
            .await
            .map(drop)
    }

    /// `POST /rules/test`: `{"source", "headers", "payload"}` or `{"delivery_id"}`.
    pub async fn dry_run(&self, request: &Value) -> Result<Value, AdminError> {
        self.call(Method::POST, self.url(&["rules", "test"]), Some(request))
            .await
    }

    /// `POST /rules/backtest`.
    pub async fn backtest(&self, request: &Value) -> Result<Value, AdminError> {
        self.call(
            Method::POST,
            self.url(&["rules", "backtest"]),
            Some(request),
        )
        .await
    }
}

/// The API's error body (`{"error": {"code", "message", "field"?}}`), or what can be
/// said without one (a proxy's HTML page, an empty 502).
fn refusal(status: StatusCode, body: &str) -> AdminError {
    #[derive(Deserialize)]
    struct Envelope {
        error: Detail,
    }
    #[derive(Deserialize)]
    struct Detail {
        code: String,
        message: String,
        field: Option<String>,
    }
    match serde_json::from_str::<Envelope>(body) {
        Ok(Envelope { error }) => AdminError::Refused {
            status: status.as_u16(),
            code: error.code,
            message: error.message,
            field: error.field,
        },
        Err(_) => AdminError::Refused {
            status: status.as_u16(),
            code: format!("http_{}", status.as_u16()),
            message: match status.canonical_reason() {
                Some(reason) => format!("{reason} (not an answer of the admin API)"),
                None => "not an answer of the admin API".into(),
            },
            field: None,
        },
    }
}

/// reqwest's outer message alone says little ("error sending request"): add the causes.
fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_are_escaped_under_api_v1() {
        let client = AdminClient::new("http://127.0.0.1:8080", None).expect("valid");
        assert_eq!(
            client.url(&["rules", "a b/c"]).as_str(),
            "http://127.0.0.1:8080/api/v1/rules/a%20b%2Fc"
        );
        let prefixed = AdminClient::new("https://ops.example/zenhook/", None).expect("valid");
        assert_eq!(
            prefixed.url(&["rules"]).as_str(),
            "https://ops.example/zenhook/api/v1/rules"
        );
    }

    #[test]
    fn only_http_urls_are_taken() {
        for bad in ["127.0.0.1:8080", "ftp://host", "not a url", ""] {
            assert!(
                matches!(AdminClient::new(bad, None), Err(AdminError::BadUrl(_))),
                "{bad}"
            );
        }
    }

    #[test]
    fn an_invalid_rule_names_its_field() {
        let body =
            r#"{"error":{"code":"invalid_rule","message":"bad glob","field":"branches[0]"}}"#;
        let error = refusal(StatusCode::BAD_REQUEST, body);
        assert_eq!(error.to_string(), "invalid_rule at branches[0]: bad glob");
    }

    #[test]
    fn a_401_says_what_to_do() {
        let body =
            r#"{"error":{"code":"unauthorized","message":"the request is not authenticated"}}"#;
        let text = refusal(StatusCode::UNAUTHORIZED, body).to_string();
        assert!(
            text.contains("--token") && text.contains("ZENHOOK_TOKEN"),
            "{text}"
        );
    }

    #[test]
    fn a_foreign_error_page_is_still_one_line() {
        let text = refusal(StatusCode::BAD_GATEWAY, "<html>oops</html>").to_string();
        assert_eq!(
            text,
            "http_502: Bad Gateway (not an answer of the admin API)"
        );
    }
}

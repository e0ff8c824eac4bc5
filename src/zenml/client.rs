//! The client for one target: builds requests, sends them with a token, reads the answers.

use std::sync::Arc;
use std::time::Duration;

use reqwest::header::{ACCEPT, CONTENT_TYPE};
use reqwest::{Certificate, Client, Method, Proxy, Url};
use secrecy::{ExposeSecret, SecretString};
use serde::de::DeserializeOwned;
use serde_json::{json, Value};
use uuid::Uuid;

use super::auth::{Auth, Bearer, Credential};
use super::classify::{self, Operation, Reply, Secrets};
use super::error::{TriggerError, ZenmlError};
use super::error_body::ErrorBody;
use super::hints;
use super::model::{RunInfo, RunPage, RunRef, RunResponse, TriggerRequest};
use crate::config::{self, Target};

/// The header ZenML deduplicates authenticated POSTs on (for 300 s, successes only).
pub const IDEMPOTENCY_KEY: &str = "Idempotency-Key";

/// A connect that takes longer than this is not going to succeed within the request
/// timeout either; giving up early keeps "never sent" (safe) apart from "sent".
const MAX_CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// uvicorn closes idle keep-alive connections after 5 s; dropping ours first avoids
/// sending a trigger on a connection the server is closing (which would look ambiguous).
const POOL_IDLE_TIMEOUT: Duration = Duration::from_secs(4);

/// How many runs a tag lookup asks for: one is expected, more means duplicates.
const TAG_LOOKUP_SIZE: &str = "5";

/// One ZenML target. Cheap to clone: clones share the HTTP connections and the token.
#[derive(Clone)]
pub struct ZenmlClient {
    inner: Arc<Inner>,
}

struct Inner {
    target: String,
    /// `None` for a shadow target without a URL.
    base: Option<Url>,
    project: Option<String>,
    shadow: bool,
    http: Client,
    auth: Auth,
    secrets: Secrets,
}

impl std::fmt::Debug for ZenmlClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ZenmlClient")
            .field("target", &self.inner.target)
            .field("url", &self.inner.base.as_ref().map(Url::as_str))
            .field("project", &self.inner.project)
            .field("credential", &self.inner.auth.kind())
            .field("shadow", &self.inner.shadow)
            .finish_non_exhaustive()
    }
}

/// A request ready to send (again, after a fresh login).
struct Prepared {
    method: Method,
    url: Url,
    idempotency_key: Option<Uuid>,
    json: Option<Value>,
}

impl ZenmlClient {
    /// Builds the HTTP client: per-request timeout from `target.timeout`, an optional
    /// extra CA (`target.ca_file`, PEM), an optional proxy, rustls. A shadow target
    /// needs no URL or credential; its client only describes requests.
    pub fn new(target: &Target) -> Result<ZenmlClient, ZenmlError> {
        let name = target.name.clone();
        let invalid = |field: &'static str, message: String| ZenmlError {
            target: name.clone(),
            field,
            message,
        };
        if target.timeout.is_zero() {
            return Err(invalid("timeout", "must be above zero".into()));
        }
        let base = match &target.url {
            Some(url) => Some(parse_base(url).map_err(|m| invalid("url", m))?),
            None if target.shadow => None,
            None => return Err(invalid("url", "give the ZenML server URL".into())),
        };

        let mut builder = Client::builder()
            .use_rustls_tls()
            .timeout(target.timeout)
            .connect_timeout(target.timeout.min(MAX_CONNECT_TIMEOUT))
            .pool_idle_timeout(POOL_IDLE_TIMEOUT)
            // A redirected POST turns into a GET and loses its body: report it instead.
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("zenhook/", env!("CARGO_PKG_VERSION")));
        if let Some(path) = &target.ca_file {
            let pem = std::fs::read(path)
                .map_err(|e| invalid("ca_file", format!("cannot read {}: {e}", path.display())))?;
            let certificates = Certificate::from_pem_bundle(&pem)
                .map_err(|e| invalid("ca_file", format!("{} is not PEM: {e}", path.display())))?;
            if certificates.is_empty() {
                return Err(invalid(
                    "ca_file",
                    format!("{} holds no PEM certificate", path.display()),
                ));
            }
            for certificate in certificates {
                builder = builder.add_root_certificate(certificate);
            }
        }
        let mut secret_values = Vec::new();
        if let Some(proxy) = &target.proxy {
            if let Some(password) = Url::parse(proxy)
                .ok()
                .and_then(|u| u.password().map(str::to_owned))
            {
                secret_values.push(password);
            }
            let proxy = Proxy::all(proxy.as_str())
                .map_err(|_| invalid("proxy", "is not a proxy URL".into()))?;
            builder = builder.proxy(proxy);
        }
        let http = builder
            .build()
            .map_err(|e| invalid("url", format!("cannot build the HTTP client: {e}")))?;

        let credential = match &target.credential {
            Some(config::Credential::ApiKey(key)) => Credential::ApiKey(copy(key)),
            Some(config::Credential::Token(token)) => Credential::Token(copy(token)),
            None => Credential::None,
        };
        if let Credential::ApiKey(secret) | Credential::Token(secret) = &credential {
            secret_values.push(secret.expose_secret().to_owned());
        }
        let secrets = Secrets::new(secret_values);
        let login_url = base.as_ref().map(|b| endpoint(b, ["api", "v1", "login"]));
        Ok(ZenmlClient {
            inner: Arc::new(Inner {
                auth: Auth::new(credential, login_url, target.name.clone(), secrets.clone()),
                target: target.name.clone(),
                base,
                project: target.project.clone(),
                shadow: target.shadow,
                http,
                secrets,
            }),
        })
    }

    /// The target's name (`targets.<name>`).
    pub fn target(&self) -> &str {
        &self.inner.target
    }

    /// Starts a run: `POST /api/v1/run_templates/{id}/runs` with the run config as the
    /// body, or `POST /api/v1/pipeline_snapshots/{id}/runs` with it wrapped in
    /// `run_configuration`; `Idempotency-Key` goes with every attempt.
    pub async fn trigger(&self, req: &TriggerRequest) -> Result<RunRef, TriggerError> {
        let result = self.send_trigger(req).await;
        result.map_err(|e| self.inner.secrets.scrub_error(e))
    }

    /// The run carrying `tag` (the oldest, should there be several), if any:
    /// `GET /api/v1/runs?tags=equals:<tag>&size=5`, within the target's project if set.
    pub async fn find_run_by_tag(&self, tag: &str) -> Result<Option<RunRef>, TriggerError> {
        let result = self.send_find_run_by_tag(tag).await;
        result.map_err(|e| self.inner.secrets.scrub_error(e))
    }

    /// `GET /api/v1/runs/{id}`: the run's `body.status` (not `in_progress`, which
    /// ZenML leaves `true` on failed runs) and tags.
    pub async fn get_run(&self, run_id: &str) -> Result<RunInfo, TriggerError> {
        let result = self.send_get_run(run_id).await;
        result.map_err(|e| self.inner.secrets.scrub_error(e))
    }

    /// Asks ZenML to stop a run: `POST /api/v1/runs/{id}/stop?graceful=<graceful>`.
    /// ZenML refuses (403) a run that has not started on its orchestrator yet.
    pub async fn stop_run(&self, run_id: &str, graceful: bool) -> Result<(), TriggerError> {
        let mut url = endpoint(self.base()?, ["api", "v1", "runs", run_id, "stop"]);
        url.query_pairs_mut()
            .append_pair("graceful", if graceful { "true" } else { "false" });
        let prepared = Prepared {
            method: Method::POST,
            url,
            idempotency_key: None,
            json: None,
        };
        let result = self
            .exchange(Operation::GetRun, &prepared)
            .await
            .map(|_| ());
        result.map_err(|e| self.inner.secrets.scrub_error(e))
    }

    async fn send_trigger(&self, req: &TriggerRequest) -> Result<RunRef, TriggerError> {
        let operation = Operation::Trigger(req.kind);
        let prepared = Prepared {
            method: Method::POST,
            url: endpoint(self.base()?, req.path_segments()),
            idempotency_key: Some(req.idempotency_key),
            json: Some(req.body()),
        };
        let reply = self.exchange(operation, &prepared).await?;
        // The run exists once ZenML answered 2xx: a body we cannot read does not
        // change that, so the caller must find it by tag rather than trigger again.
        parse::<RunResponse>(&reply)
            .map(RunResponse::into_ref)
            .ok_or_else(|| TriggerError::Ambiguous {
                message: format!(
                    "ZenML answered {} but the body is not a pipeline run: {}",
                    reply.status.as_u16(),
                    ErrorBody::parse(&reply.body).display()
                ),
            })
    }

    async fn send_find_run_by_tag(&self, tag: &str) -> Result<Option<RunRef>, TriggerError> {
        let mut url = endpoint(self.base()?, ["api", "v1", "runs"]);
        {
            let mut query = url.query_pairs_mut();
            // An explicit operator: ZenML would read a tag such as `in:x` as `in` + `x`.
            query.append_pair("tags", &format!("equals:{tag}"));
            query.append_pair("size", TAG_LOOKUP_SIZE);
            query.append_pair("sort_by", "asc:created");
            query.append_pair("hydrate", "false");
            if let Some(project) = &self.inner.project {
                query.append_pair("project", project);
            }
        }
        let prepared = Prepared {
            method: Method::GET,
            url,
            idempotency_key: None,
            json: None,
        };
        let reply = self.exchange(Operation::FindRun, &prepared).await?;
        parse::<RunPage>(&reply)
            .map(RunPage::first)
            .ok_or_else(|| self.not_zenml(&reply))
    }

    async fn send_get_run(&self, run_id: &str) -> Result<RunInfo, TriggerError> {
        let prepared = Prepared {
            method: Method::GET,
            url: endpoint(self.base()?, ["api", "v1", "runs", run_id]),
            idempotency_key: None,
            json: None,
        };
        let reply = self.exchange(Operation::GetRun, &prepared).await?;
        parse::<RunResponse>(&reply)
            .and_then(RunResponse::into_info)
            .ok_or_else(|| self.not_zenml(&reply))
    }

    /// The request [`ZenmlClient::trigger`] would send, without credentials: what a
    /// shadow target records instead of sending.
    pub fn describe_trigger(&self, req: &TriggerRequest) -> Value {
        Self::describe_trigger_at(self.inner.base.as_ref().map(Url::as_str), req)
    }

    /// [`ZenmlClient::describe_trigger`] for a base URL (`None`: the path alone).
    pub fn describe_trigger_at(base_url: Option<&str>, req: &TriggerRequest) -> Value {
        let url = match base_url.and_then(|b| parse_base(b).ok()) {
            Some(base) => endpoint(&base, req.path_segments()).to_string(),
            None => format!("/{}", req.path_segments().join("/")),
        };
        json!({
            "method": "POST",
            "url": url,
            "headers": {
                "Content-Type": "application/json",
                "Accept": "application/json",
                IDEMPOTENCY_KEY: req.idempotency_key.to_string(),
            },
            "body": req.body(),
        })
    }

    fn base(&self) -> Result<&Url, TriggerError> {
        match (&self.inner.base, self.inner.shadow) {
            (Some(base), false) => Ok(base),
            _ => Err(TriggerError::Fatal {
                status: None,
                zenml: String::new(),
                hint: hints::shadow(&self.inner.target),
            }),
        }
    }

    fn not_zenml(&self, reply: &Reply) -> TriggerError {
        classify::fatal(
            reply.status.as_u16(),
            ErrorBody::parse(&reply.body).display(),
            hints::not_zenml(&self.inner.target),
        )
    }

    /// Sends with the current token; on a 401 logs in again once and resends (same
    /// `Idempotency-Key`: a 401 means nothing was created). Returns only 2xx answers.
    async fn exchange(
        &self,
        operation: Operation,
        prepared: &Prepared,
    ) -> Result<Reply, TriggerError> {
        let inner = &self.inner;
        let bearer = inner.auth.bearer(&inner.http).await?;
        let mut reply = self.attempt(operation, prepared, &bearer).await?;
        if reply.status == reqwest::StatusCode::UNAUTHORIZED {
            if !inner.auth.can_renew() {
                return Err(inner.auth.rejected(Some(&reply)));
            }
            tracing::info!(
                target_name = %inner.target,
                "ZenML refused the token: logging in again"
            );
            let fresh = inner
                .auth
                .renew_after_rejection(&inner.http, &bearer)
                .await?;
            reply = self.attempt(operation, prepared, &fresh).await?;
            if reply.status == reqwest::StatusCode::UNAUTHORIZED {
                return Err(inner.auth.rejected(Some(&reply)));
            }
        }
        if reply.status.is_success() {
            Ok(reply)
        } else {
            Err(classify::refusal(operation, &inner.target, &reply))
        }
    }

    async fn attempt(
        &self,
        operation: Operation,
        prepared: &Prepared,
        bearer: &Bearer,
    ) -> Result<Reply, TriggerError> {
        let inner = &self.inner;
        let mut request = inner
            .http
            .request(prepared.method.clone(), prepared.url.clone())
            .header(ACCEPT, "application/json");
        if let Some(token) = &bearer.value {
            request = request.bearer_auth(token.expose_secret());
        }
        if let Some(key) = prepared.idempotency_key {
            request = request.header(IDEMPOTENCY_KEY, key.to_string());
        }
        if let Some(body) = &prepared.json {
            request = request
                .header(CONTENT_TYPE, "application/json")
                .body(body.to_string());
        }
        let shown = shown_url(&prepared.url);
        let failed = |e: reqwest::Error| classify::transport(operation, &shown, &e, &inner.secrets);
        let response = request.send().await.map_err(failed)?;
        let status = response.status();
        let headers = response.headers().clone();
        let body = match response.bytes().await {
            Ok(body) => body.to_vec(),
            // A refusal without its body is still a refusal; a 2xx without its body is not an answer.
            Err(_) if !status.is_success() => Vec::new(),
            Err(e) => return Err(failed(e)),
        };
        Ok(Reply {
            status,
            headers,
            body,
        })
    }
}

/// The building blocks `discovery` reads ZenML with: the same connection, token,
/// classification and scrubbing as a trigger.
impl ZenmlClient {
    pub(super) fn project(&self) -> Option<&str> {
        self.inner.project.as_deref()
    }

    pub(super) fn base_url(&self) -> Option<&Url> {
        self.inner.base.as_ref()
    }

    /// The URL of `segments` below the server URL (a shadow target has none).
    pub(super) fn url<S: AsRef<str>>(
        &self,
        segments: impl IntoIterator<Item = S>,
    ) -> Result<Url, TriggerError> {
        Ok(endpoint(self.base()?, segments))
    }

    /// Logs in now (an API key) or does nothing (a token, no credential).
    pub(super) async fn log_in(&self) -> Result<(), TriggerError> {
        let inner = &self.inner;
        let result = inner.auth.bearer(&inner.http).await.map(drop);
        result.map_err(|e| inner.secrets.scrub_error(e))
    }

    /// An authenticated GET whose 2xx body is read as `T`.
    pub(super) async fn get_json<T: DeserializeOwned>(
        &self,
        operation: Operation,
        url: Url,
    ) -> Result<T, TriggerError> {
        let prepared = Prepared {
            method: Method::GET,
            url,
            idempotency_key: None,
            json: None,
        };
        let result = match self.exchange(operation, &prepared).await {
            Ok(reply) => parse::<T>(&reply).ok_or_else(|| self.not_zenml(&reply)),
            Err(error) => Err(error),
        };
        result.map_err(|e| self.inner.secrets.scrub_error(e))
    }

    /// An authenticated POST of `body`; a refusal is an error like a trigger's.
    pub(super) async fn post_json(
        &self,
        operation: Operation,
        url: Url,
        body: Value,
    ) -> Result<(), TriggerError> {
        let prepared = Prepared {
            method: Method::POST,
            url,
            idempotency_key: None,
            json: Some(body),
        };
        let result = self.exchange(operation, &prepared).await.map(drop);
        result.map_err(|e| self.inner.secrets.scrub_error(e))
    }

    /// A GET without credentials, whatever the status (`/api/v1/info` needs none).
    pub(super) async fn get_anonymous(
        &self,
        operation: Operation,
        url: Url,
    ) -> Result<Reply, TriggerError> {
        let inner = &self.inner;
        let shown = shown_url(&url);
        let failed = |e: reqwest::Error| classify::transport(operation, &shown, &e, &inner.secrets);
        let response = inner
            .http
            .get(url.clone())
            .header(ACCEPT, "application/json")
            .send()
            .await
            .map_err(failed)?;
        let status = response.status();
        let headers = response.headers().clone();
        let body = response.bytes().await.map_err(failed)?.to_vec();
        Ok(Reply {
            status,
            headers,
            body,
        })
    }

    /// The error for an answer that is not what ZenML sends, or a refusal of `operation`.
    pub(super) fn refused(&self, operation: Operation, reply: &Reply) -> TriggerError {
        let error = if reply.status.is_success() {
            self.not_zenml(reply)
        } else {
            classify::refusal(operation, &self.inner.target, reply)
        };
        self.inner.secrets.scrub_error(error)
    }
}

/// Accepts `http(s)://host[:port][/prefix]`; the URL must not carry credentials
/// (they would end up in logs, and reqwest would send them instead of the token).
fn parse_base(text: &str) -> Result<Url, String> {
    let url = Url::parse(text.trim_end_matches('/')).map_err(|e| format!("not a URL: {e}"))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err("give an http:// or https:// URL".into());
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err("remove the user name and password from the URL: give api_key instead".into());
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err("give the server URL without ?query or #fragment".into());
    }
    Ok(url)
}

/// `base` with `segments` appended, each percent-encoded as one segment.
fn endpoint<S: AsRef<str>>(base: &Url, segments: impl IntoIterator<Item = S>) -> Url {
    let mut url = base.clone();
    if let Ok(mut path) = url.path_segments_mut() {
        path.pop_if_empty().extend(segments);
    }
    url
}

/// The URL as error messages show it: without the query (tags are not secret, but
/// the path is what identifies the failing call).
fn shown_url(url: &Url) -> String {
    let mut shown = url.clone();
    shown.set_query(None);
    shown.to_string()
}

fn parse<T: DeserializeOwned>(reply: &Reply) -> Option<T> {
    serde_json::from_slice(&reply.body).ok()
}

fn copy(secret: &SecretString) -> SecretString {
    SecretString::from(secret.expose_secret().to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoints_keep_a_path_prefix() {
        let base = parse_base("https://zenml.example/prefix/").expect("a base");
        assert_eq!(
            endpoint(&base, ["api", "v1", "login"]).as_str(),
            "https://zenml.example/prefix/api/v1/login"
        );
        let root = parse_base("http://127.0.0.1:8237").expect("a base");
        assert_eq!(
            endpoint(&root, ["api", "v1", "runs", "a/b?c"]).as_str(),
            "http://127.0.0.1:8237/api/v1/runs/a%2Fb%3Fc"
        );
    }

    #[test]
    fn base_urls_are_checked() {
        assert!(parse_base("ftp://x").is_err());
        assert!(parse_base("https://user:pw@x").is_err());
        assert!(parse_base("https://x/?a=b").is_err());
        assert!(parse_base("not a url").is_err());
    }
}

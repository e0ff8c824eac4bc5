//! A ZenML 0.98 server in miniature, for the worker tests: API-key login, run templates
//! and snapshots triggered with `Idempotency-Key`, run lookup by tag, and scripted faults.
//!
//! It follows what `zenml/API.md` records of the real server: a repeated key within
//! 300 s (of the mock's clock, which tests can move forward) answers with the same run,
//! a taken run name is a 409 `EntityExistsError`, and errors come in ZenML's shapes.
//! Tests count RUNS CREATED, not calls: exactly once is about runs.
//!
//! Runs report `initializing` unless a test scripts them: [`MockZenml::set_lifecycle`]
//! moves new runs through states on a timer, [`MockZenml::set_run_status`] sets one, and
//! [`MockZenml::forget_run`] makes one answer 404. Each run keeps when it was triggered
//! and when the mock first had it terminal, so flow tests can check in-flight overlaps.

use std::collections::{HashMap, HashSet, VecDeque};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant, SystemTime};

use axum::body::{Body, Bytes};
use axum::extract::{Path, RawQuery, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::{json, Value};
use uuid::Uuid;

/// How long ZenML answers a repeated `Idempotency-Key` with the first run.
pub const IDEMPOTENCY_WINDOW: Duration = Duration::from_secs(300);

/// What the next trigger call meets instead of (or on top of) normal handling.
#[derive(Debug, Clone)]
pub enum Fault {
    /// Answer with this status and body (and `Retry-After` seconds); no run is created.
    Status(u16, String, Option<u64>),
    /// Like `Status`, after this long (a failing attempt that takes its time).
    SlowStatus(Duration, u16, String),
    /// Create the run, then answer only after this long (a client timeout makes it ambiguous).
    Delay(Duration),
    /// Create the run, then close the connection without a complete answer.
    Drop,
    /// Before normal handling, a run with this request's name and tags appears, as if an
    /// earlier attempt had created it and its idempotency window were over: the
    /// request then meets a 409 for its run name.
    EarlierTwin,
}

/// ZenML's terminal run states, written out here so the mock does not take zenhook's word.
pub const TERMINAL_STATES: [&str; 7] = [
    "completed",
    "failed",
    "cached",
    "skipped",
    "cancelled",
    "stopped",
    "retried",
];

/// A run as the mock keeps it.
#[derive(Debug, Clone)]
pub struct MockRun {
    pub id: String,
    pub name: String,
    pub tags: Vec<String>,
    /// Every `Idempotency-Key` that was answered with this run.
    pub idempotency_keys: HashSet<String>,
    /// `run_templates` or `pipeline_snapshots`, and the id the run was started from.
    pub collection: String,
    pub source_id: String,
    pub config: Value,
    created: SystemTime,
    /// Real time of the trigger call that created it.
    pub triggered: Instant,
    /// `(after the trigger, status)` steps it goes through, copied at creation.
    lifecycle: Vec<(Duration, String)>,
    /// A status set by the test, and since when; it wins over the lifecycle.
    status_set: Option<(String, Instant)>,
}

impl MockRun {
    /// What `GET /api/v1/runs/{id}` reports at `now`.
    pub fn status_at(&self, now: Instant) -> String {
        if let Some((status, _)) = &self.status_set {
            return status.clone();
        }
        let elapsed = now.saturating_duration_since(self.triggered);
        self.lifecycle
            .iter()
            .rev()
            .find(|(after, _)| *after <= elapsed)
            .map(|(_, status)| status.clone())
            .unwrap_or_else(|| "initializing".into())
    }

    /// When the mock first had the run in a terminal state, if it has yet.
    pub fn ended_at(&self, now: Instant) -> Option<Instant> {
        let scripted = self
            .lifecycle
            .iter()
            .find(|(_, status)| TERMINAL_STATES.contains(&status.as_str()))
            .map(|(after, _)| self.triggered + *after);
        let set = self
            .status_set
            .as_ref()
            .filter(|(status, _)| TERMINAL_STATES.contains(&status.as_str()))
            .map(|(_, at)| *at);
        [scripted, set]
            .into_iter()
            .flatten()
            .filter(|at| *at <= now)
            .min()
    }
}

#[derive(Default)]
struct Counters {
    logins: usize,
    trigger_calls: usize,
    /// Trigger calls whose answer was fully written (delays included).
    answered: usize,
    lookups: usize,
}

struct Inner {
    api_key: String,
    tokens: HashSet<String>,
    faults: VecDeque<Fault>,
    /// Consumed one per run lookup: `Status` answers instead, `Delay` answers late.
    lookup_faults: VecDeque<Fault>,
    runs: Vec<MockRun>,
    /// key → (run id, when the first request with it created the run, mock time).
    idempotency: HashMap<String, (String, SystemTime)>,
    /// Keys whose first request is still being handled: ZenML answers 429 to a repeat.
    in_progress: HashSet<String>,
    clock_offset: Duration,
    counters: Counters,
    /// The lifecycle new runs get.
    lifecycle: Vec<(Duration, String)>,
    /// Runs that answer 404 to `GET /api/v1/runs/{id}`.
    forgotten: HashSet<String>,
    /// Real time of every authenticated trigger call, faulted ones included.
    trigger_times: Vec<Instant>,
}

impl Inner {
    fn now(&self) -> SystemTime {
        SystemTime::now() + self.clock_offset
    }
}

/// A running mock; clones share the server and its state.
#[derive(Clone)]
pub struct MockZenml {
    pub addr: SocketAddr,
    inner: Arc<Mutex<Inner>>,
    _server: Arc<AbortOnDrop>,
}

struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

impl MockZenml {
    /// Serves on 127.0.0.1:0, accepting `api_key` at login.
    pub async fn start(api_key: &str) -> MockZenml {
        let inner = Arc::new(Mutex::new(Inner {
            api_key: api_key.to_owned(),
            tokens: HashSet::new(),
            faults: VecDeque::new(),
            lookup_faults: VecDeque::new(),
            runs: Vec::new(),
            idempotency: HashMap::new(),
            in_progress: HashSet::new(),
            clock_offset: Duration::ZERO,
            counters: Counters::default(),
            lifecycle: Vec::new(),
            forgotten: HashSet::new(),
            trigger_times: Vec::new(),
        }));
        let app = Router::new()
            .route("/api/v1/login", post(login))
            .route("/api/v1/run_templates/{id}/runs", post(trigger_template))
            .route(
                "/api/v1/pipeline_snapshots/{id}/runs",
                post(trigger_snapshot),
            )
            .route("/api/v1/runs", get(list_runs))
            .route("/api/v1/runs/{id}", get(get_run))
            .fallback(|| async { (StatusCode::NOT_FOUND, Json(json!({"detail": "Not Found"}))) })
            .with_state(inner.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind the mock");
        let addr = listener.local_addr().expect("mock address");
        let server = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        MockZenml {
            addr,
            inner,
            _server: Arc::new(AbortOnDrop(server)),
        }
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().expect("mock state")
    }

    /// Queues faults, consumed one per authenticated trigger call.
    pub fn push_faults(&self, faults: impl IntoIterator<Item = Fault>) {
        self.lock().faults.extend(faults);
    }

    /// Queues faults for `GET /api/v1/runs`, one per lookup (`Status` or `Delay`).
    pub fn push_lookup_faults(&self, faults: impl IntoIterator<Item = Fault>) {
        self.lock().lookup_faults.extend(faults);
    }

    pub fn faults_left(&self) -> usize {
        self.lock().faults.len()
    }

    /// Every token issued so far stops working (as after a key rotation); the API key
    /// still logs in.
    pub fn revoke_tokens(&self) {
        self.lock().tokens.clear();
    }

    /// Moves the mock's clock forward (for the idempotency window).
    pub fn advance(&self, by: Duration) {
        self.lock().clock_offset += by;
    }

    /// A run that exists before the test starts (someone else's, or an earlier one).
    pub fn seed_run(&self, name: &str, tags: &[&str]) -> String {
        let mut inner = self.lock();
        let tags = tags.iter().map(|t| t.to_string()).collect();
        create_run(
            &mut inner,
            name.to_owned(),
            tags,
            "run_templates",
            "",
            json!({}),
        )
    }

    pub fn runs(&self) -> Vec<MockRun> {
        self.lock().runs.clone()
    }

    pub fn runs_created(&self) -> usize {
        self.lock().runs.len()
    }

    /// Runs carrying `tag`.
    pub fn runs_tagged(&self, tag: &str) -> Vec<MockRun> {
        self.lock()
            .runs
            .iter()
            .filter(|r| r.tags.iter().any(|t| t == tag))
            .cloned()
            .collect()
    }

    pub fn logins(&self) -> usize {
        self.lock().counters.logins
    }

    /// Authenticated trigger calls (faulted ones included).
    pub fn trigger_calls(&self) -> usize {
        self.lock().counters.trigger_calls
    }

    /// Trigger calls whose answer (after any delay) was handed to the connection.
    pub fn answered(&self) -> usize {
        self.lock().counters.answered
    }

    /// `GET /api/v1/runs` calls (tag lookups).
    pub fn lookups(&self) -> usize {
        self.lock().counters.lookups
    }

    /// Runs created from now on go through `steps`: `(after the trigger, status)`.
    pub fn set_lifecycle(&self, steps: &[(Duration, &str)]) {
        self.lock().lifecycle = steps.iter().map(|(at, s)| (*at, (*s).to_owned())).collect();
    }

    /// The run reports `status` from now on.
    pub fn set_run_status(&self, run_id: &str, status: &str) {
        let mut inner = self.lock();
        let run = inner
            .runs
            .iter_mut()
            .find(|r| r.id == run_id)
            .expect("a run the mock created");
        run.status_set = Some((status.to_owned(), Instant::now()));
    }

    /// The run answers 404 from now on (deleted, or another workspace's database).
    pub fn forget_run(&self, run_id: &str) {
        self.lock().forgotten.insert(run_id.to_owned());
    }

    /// Real times of the authenticated trigger calls, in arrival order.
    pub fn trigger_times(&self) -> Vec<Instant> {
        self.lock().trigger_times.clone()
    }
}

type Shared = State<Arc<Mutex<Inner>>>;

fn lock(inner: &Arc<Mutex<Inner>>) -> MutexGuard<'_, Inner> {
    inner.lock().expect("mock state")
}

/// A scripted answer: `status` with a JSON `body` and an optional `Retry-After`.
fn status_response(status: u16, body: &str, retry_after: Option<u64>) -> Response {
    let mut response = Response::new(Body::from(body.to_owned()));
    *response.status_mut() = StatusCode::from_u16(status).expect("a status");
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        header::HeaderValue::from_static("application/json"),
    );
    if let Some(seconds) = retry_after {
        response.headers_mut().insert(
            header::RETRY_AFTER,
            seconds.to_string().parse().expect("digits"),
        );
    }
    response
}

fn error(status: StatusCode, class: &str, message: &str) -> Response {
    (status, Json(json!({"detail": [class, message]}))).into_response()
}

async fn login(State(inner): Shared, body: Bytes) -> Response {
    let password = form_urlencoded::parse(&body)
        .find(|(name, _)| name == "password")
        .map(|(_, value)| value.into_owned());
    let Some(password) = password else {
        return (
            StatusCode::BAD_REQUEST,
            Json(json!({"detail": "Invalid request: username is required."})),
        )
            .into_response();
    };
    let mut inner = lock(&inner);
    if password != inner.api_key {
        return error(
            StatusCode::UNAUTHORIZED,
            "CredentialsNotValid",
            "Authentication error: could not verify key value for API key webhook",
        );
    }
    let token = format!("eyJmock.{}", Uuid::new_v4().simple());
    inner.tokens.insert(token.clone());
    inner.counters.logins += 1;
    Json(json!({
        "access_token": token, "token_type": "bearer", "expires_in": null,
        "refresh_token": null, "csrf_token": null, "scope": null,
        "device_id": null, "device_metadata": null
    }))
    .into_response()
}

/// `None` when the bearer is one the mock issued and has not revoked.
fn refuse_unauthenticated(inner: &Inner, headers: &HeaderMap) -> Option<Response> {
    let bearer = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "));
    match bearer {
        None => Some(
            (
                StatusCode::UNAUTHORIZED,
                [(header::WWW_AUTHENTICATE, "Bearer")],
                Json(json!({"detail": "Not authenticated"})),
            )
                .into_response(),
        ),
        Some(token) if inner.tokens.contains(token) => None,
        Some(_) => Some(error(
            StatusCode::UNAUTHORIZED,
            "CredentialsNotValid",
            "Authentication error: access token for API key webhook was issued for an API key \
             generation that is no longer valid",
        )),
    }
}

fn create_run(
    inner: &mut Inner,
    name: String,
    tags: Vec<String>,
    collection: &str,
    source_id: &str,
    config: Value,
) -> String {
    let id = Uuid::new_v4().to_string();
    let created = inner.now();
    let lifecycle = inner.lifecycle.clone();
    inner.runs.push(MockRun {
        id: id.clone(),
        name,
        tags,
        idempotency_keys: HashSet::new(),
        collection: collection.to_owned(),
        source_id: source_id.to_owned(),
        config,
        created,
        triggered: Instant::now(),
        lifecycle,
        status_set: None,
    });
    id
}

/// The run name ZenML would give: `run_name` with `{date}` and `{time}` filled in, or
/// the pipeline's name with both.
fn run_name(config: &Value, at: SystemTime) -> String {
    let stamp = humantime::format_rfc3339_micros(at).to_string();
    let date = stamp[..10].replace('-', "_");
    let time = stamp[11..26].replace([':', '.'], "_");
    let pattern = config
        .get("run_name")
        .and_then(Value::as_str)
        .unwrap_or("probe_pipeline-{date}-{time}");
    pattern.replace("{date}", &date).replace("{time}", &time)
}

fn tags_of(config: &Value) -> Vec<String> {
    match config.get("tags") {
        Some(Value::String(one)) => vec![one.clone()],
        Some(Value::Array(tags)) => tags
            .iter()
            .filter_map(|t| t.as_str().map(str::to_owned))
            .collect(),
        _ => Vec::new(),
    }
}

fn run_json(run: &MockRun, index: usize) -> Value {
    let created = humantime::format_rfc3339_micros(run.created).to_string();
    let created = created.trim_end_matches('Z');
    let status = run.status_at(Instant::now());
    let in_progress = !TERMINAL_STATES.contains(&status.as_str());
    let source_key = if run.collection == "run_templates" {
        "template_id"
    } else {
        "source_snapshot_id"
    };
    json!({
        "id": run.id,
        "name": run.name,
        "permission_denied": false,
        "body": {
            "created": created, "updated": created,
            "user_id": "c8165164-0964-405e-9a30-ea8db0fd5c07",
            "project_id": "f2fd1d80-ef8b-4501-9120-4b6f7a829189",
            "status": status, "in_progress": in_progress, "status_reason": null,
            "index": index, "pipeline_id": "92115126-1d28-4322-962e-538d47c00f90",
            "child_key": null, "root_run_id": null
        },
        "metadata": {
            "config": run.config, source_key: run.source_id, "start_time": created,
            "end_time": null, "orchestrator_run_id": null
        },
        "resources": {
            "tags": run.tags.iter().map(|name| json!({
                "id": Uuid::new_v5(&Uuid::NAMESPACE_OID, name.as_bytes()),
                "name": name,
                "body": {"color": "grey", "exclusive": false, "tagged_count": 1}
            })).collect::<Vec<_>>()
        }
    })
}

fn answer_run(inner: &Inner, run_id: &str) -> Response {
    let (index, run) = inner
        .runs
        .iter()
        .enumerate()
        .find(|(_, r)| r.id == run_id)
        .expect("a run the mock created");
    Json(run_json(run, index + 1)).into_response()
}

/// Removes a key from `in_progress` however the request ends (a dropped connection
/// drops the handler future).
struct InProgress {
    inner: Arc<Mutex<Inner>>,
    key: Option<String>,
}

impl Drop for InProgress {
    fn drop(&mut self) {
        if let Some(key) = &self.key {
            if let Ok(mut inner) = self.inner.lock() {
                inner.in_progress.remove(key);
            }
        }
    }
}

async fn trigger_template(
    state: Shared,
    path: Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    trigger(state, "run_templates", path, headers, body).await
}

async fn trigger_snapshot(
    state: Shared,
    path: Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    trigger(state, "pipeline_snapshots", path, headers, body).await
}

/// What the trigger endpoint decided before any delay: an answer now, or a created
/// run's answer to send as the fault says.
enum Decision {
    Now(Response),
    /// An answer to send after a wait, counted as answered once sent.
    Later(Duration, Response),
    Created {
        response: Response,
        fault: Option<Fault>,
        in_progress: InProgress,
    },
}

async fn trigger(
    State(shared): Shared,
    collection: &'static str,
    Path(source_id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let (response, fault, in_progress) =
        match decide(&shared, collection, &source_id, &headers, &body) {
            Decision::Now(response) => return response,
            Decision::Later(wait, response) => {
                tokio::time::sleep(wait).await;
                lock(&shared).counters.answered += 1;
                return response;
            }
            Decision::Created {
                response,
                fault,
                in_progress,
            } => (response, fault, in_progress),
        };
    match fault {
        Some(Fault::Delay(wait)) => tokio::time::sleep(wait).await,
        Some(Fault::Drop) => {
            // The status line may or may not go out; the body never completes.
            let broken = futures::stream::once(async {
                Err::<Bytes, std::io::Error>(std::io::Error::other("connection dropped"))
            });
            return Response::new(Body::from_stream(broken));
        }
        _ => {}
    }
    drop(in_progress);
    lock(&shared).counters.answered += 1;
    response
}

fn decide(
    shared: &Arc<Mutex<Inner>>,
    collection: &'static str,
    source_id: &str,
    headers: &HeaderMap,
    body: &Bytes,
) -> Decision {
    let mut inner = lock(shared);
    if let Some(refusal) = refuse_unauthenticated(&inner, headers) {
        return Decision::Now(refusal);
    }
    inner.counters.trigger_calls += 1;
    inner.trigger_times.push(Instant::now());
    let fault = inner.faults.pop_front();
    if let Some(Fault::Status(status, body, retry_after)) = &fault {
        inner.counters.answered += 1;
        return Decision::Now(status_response(*status, body, *retry_after));
    }
    if let Some(Fault::SlowStatus(wait, status, body)) = &fault {
        return Decision::Later(*wait, status_response(*status, body, None));
    }
    if Uuid::parse_str(source_id).is_err() {
        return Decision::Now(
            (
                StatusCode::UNPROCESSABLE_ENTITY,
                Json(json!([
                    "ValueError",
                    "1 validation error:\n  {'type': 'uuid_parsing'}"
                ])),
            )
                .into_response(),
        );
    }

    // The idempotency middleware comes before the endpoint.
    let key = match headers.get("idempotency-key").map(|v| v.to_str()) {
        None => None,
        Some(Ok(text)) if Uuid::parse_str(text).is_ok() => Some(text.to_owned()),
        Some(_) => {
            return Decision::Now(
                (StatusCode::INTERNAL_SERVER_ERROR, "Internal Server Error").into_response(),
            )
        }
    };
    if let Some(key) = &key {
        let now = inner.now();
        if let Some((run_id, at)) = inner.idempotency.get(key).cloned() {
            let fresh = now.duration_since(at).unwrap_or_default() < IDEMPOTENCY_WINDOW;
            if fresh {
                inner.counters.answered += 1;
                return Decision::Now(answer_run(&inner, &run_id));
            }
        }
        if inner.in_progress.contains(key) {
            return Decision::Now(
                (
                    StatusCode::TOO_MANY_REQUESTS,
                    Json(json!({"error": "Server too busy. Please try again later."})),
                )
                    .into_response(),
            );
        }
    }

    let parsed: Value = if body.is_empty() {
        Value::Null
    } else {
        match serde_json::from_slice(body) {
            Ok(value) => value,
            Err(e) => {
                return Decision::Now(
                    (
                        StatusCode::UNPROCESSABLE_ENTITY,
                        Json(json!(["ValueError", format!("1 validation error: {e}")])),
                    )
                        .into_response(),
                )
            }
        }
    };
    let config = if collection == "pipeline_snapshots" {
        match parsed.as_object() {
            Some(request) => request
                .get("run_configuration")
                .cloned()
                .unwrap_or(Value::Null),
            None => {
                return Decision::Now(
                    (
                        StatusCode::UNPROCESSABLE_ENTITY,
                        Json(json!([
                            "ValueError",
                            "1 validation error:\n  {'type': 'missing', 'loc': ('body',)}"
                        ])),
                    )
                        .into_response(),
                )
            }
        }
    } else {
        parsed
    };
    let config = if config.is_null() { json!({}) } else { config };
    let now = inner.now();
    let name = run_name(&config, now);
    let tags = tags_of(&config);
    if matches!(fault, Some(Fault::EarlierTwin)) {
        create_run(
            &mut inner,
            name.clone(),
            tags.clone(),
            collection,
            source_id,
            config.clone(),
        );
    }
    if inner.runs.iter().any(|r| r.name == name) {
        return Decision::Now(error(
            StatusCode::CONFLICT,
            "EntityExistsError",
            &format!(
                "Pipeline run name '{name}' already exists in this project. Each pipeline run \
                 must have a unique name. If you are using a run name template, make sure it \
                 contains placeholders like {{date}} or {{time}}."
            ),
        ));
    }
    let run_id = create_run(&mut inner, name, tags, collection, source_id, config);
    let mut in_progress = InProgress {
        inner: shared.clone(),
        key: None,
    };
    if let Some(key) = &key {
        inner.idempotency.insert(key.clone(), (run_id.clone(), now));
        if let Some(run) = inner.runs.iter_mut().find(|r| r.id == run_id) {
            run.idempotency_keys.insert(key.clone());
        }
        if matches!(fault, Some(Fault::Delay(_))) {
            inner.in_progress.insert(key.clone());
            in_progress.key = Some(key.clone());
        }
    }
    Decision::Created {
        response: answer_run(&inner, &run_id),
        fault,
        in_progress,
    }
}

/// `GET /api/v1/runs`: `tags` filters (with ZenML's `op:value` operators), oldest first.
async fn list_runs(
    State(shared): Shared,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Response {
    let fault = {
        let mut inner = lock(&shared);
        if let Some(refusal) = refuse_unauthenticated(&inner, &headers) {
            return refusal;
        }
        inner.counters.lookups += 1;
        inner.lookup_faults.pop_front()
    };
    match fault {
        Some(Fault::Status(status, body, retry_after)) => {
            return status_response(status, &body, retry_after)
        }
        Some(Fault::Delay(wait)) => tokio::time::sleep(wait).await,
        _ => {}
    }
    list_page(&lock(&shared), &query.unwrap_or_default())
}

fn list_page(inner: &Inner, query: &str) -> Response {
    let mut tag_filters = Vec::new();
    let mut size = 20usize;
    for (name, value) in form_urlencoded::parse(query.as_bytes()) {
        match name.as_ref() {
            "tags" | "tag" => tag_filters.push(value.into_owned()),
            "size" => match value.parse() {
                Ok(n) if (1..=10_000).contains(&n) => size = n,
                _ => {
                    return (
                        StatusCode::UNPROCESSABLE_ENTITY,
                        Json(json!(["ValueError", "1 validation error: size"])),
                    )
                        .into_response()
                }
            },
            _ => {}
        }
    }
    let matching: Vec<(usize, &MockRun)> = inner
        .runs
        .iter()
        .enumerate()
        .filter(|(_, run)| {
            tag_filters
                .iter()
                .all(|filter| run.tags.iter().any(|tag| tag_matches(filter, tag)))
        })
        .collect();
    let total = matching.len();
    let items: Vec<Value> = matching
        .iter()
        .take(size)
        .map(|(index, run)| run_json(run, index + 1))
        .collect();
    Json(json!({
        "index": 1, "max_size": size, "total_pages": total.div_ceil(size).max(1),
        "total": total, "items": items
    }))
    .into_response()
}

/// ZenML reads a leading `op:` as an operator when it knows the operator.
fn tag_matches(filter: &str, tag: &str) -> bool {
    match filter.split_once(':') {
        Some(("equals", value)) => tag == value,
        Some(("contains", value)) => tag.contains(value),
        Some(("startswith", value)) => tag.starts_with(value),
        Some(("endswith", value)) => tag.ends_with(value),
        _ => tag == filter,
    }
}

async fn get_run(State(inner): Shared, headers: HeaderMap, Path(id): Path<String>) -> Response {
    let inner = lock(&inner);
    if let Some(refusal) = refuse_unauthenticated(&inner, &headers) {
        return refusal;
    }
    if inner.runs.iter().any(|r| r.id == id) && !inner.forgotten.contains(&id) {
        answer_run(&inner, &id)
    } else {
        error(
            StatusCode::NOT_FOUND,
            "KeyError",
            &format!(
                "\"Unable to get pipeline run with ID '{id}': No pipeline run with this ID found\""
            ),
        )
    }
}

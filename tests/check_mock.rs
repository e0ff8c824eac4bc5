//! `zenhook check`, template discovery and rules that name their template, against a
//! mock that answers like ZenML 0.98.0 (bodies recorded in `shared/zenml/samples` and
//! `shared/zenml/API.md`), for what a real server cannot be made to do. And the table
//! that pins every hint sentence.

mod common;
mod zenml_support;

use std::path::PathBuf;

use common::{spawn_app, Backend, TestApp, TestDb};
use serde_json::{json, Value};
use uuid::Uuid;
use wiremock::matchers::{body_string, header, method, path, query_param};
use wiremock::{Mock, MockServer, ResponseTemplate};
use zenhook::check::{self, Level, Report};
use zenhook::zenml::{hints, Operation, TemplateOrSnapshot};
use zenml_support::*;

const TEMPLATE: TemplateOrSnapshot = TemplateOrSnapshot::Template;
const SNAPSHOT: TemplateOrSnapshot = TemplateOrSnapshot::Snapshot;
const ADMIN_TOKEN: &str = "check-admin-token";

// ---------------------------------------------------------------- a mock ZenML

/// `GET /api/v1/info` as ZenML 0.98.0 answers it (API.md §1.3).
fn info_body() -> Value {
    json!({
        "id": "0349e5c8-d146-498f-a823-fa50d386de12", "name": "default", "version": "0.98.0",
        "active": true, "debug": false, "deployment_type": "other", "database_type": "sqlite",
        "secrets_store_type": "sql", "auth_scheme": "OAUTH2_PASSWORD_BEARER",
        "server_url": "http://127.0.0.1:8237", "dashboard_url": "", "analytics_enabled": false,
        "metadata": {}, "pro_dashboard_url": null, "pro_api_url": null,
        "pro_organization_id": null, "pro_organization_name": null,
        "pro_workspace_id": null, "pro_workspace_name": null
    })
}

/// The service account the samples were recorded with (`resources.user` of a template).
fn user_body(service_account: bool) -> Value {
    let mut user = sample_json("run-template-get-200.json")["resources"]["user"].clone();
    user["body"]["is_service_account"] = json!(service_account);
    if !service_account {
        user["name"] = json!("alice");
    }
    user
}

/// The recorded template with changes.
fn template_body(change: impl FnOnce(&mut Value)) -> Value {
    let mut template = sample_json("run-template-get-200.json");
    change(&mut template);
    template
}

fn bearer() -> String {
    format!("Bearer {}", sample_token())
}

async fn mount_get(server: &MockServer, at: &str, response: ResponseTemplate) {
    Mock::given(method("GET"))
        .and(path(at))
        .respond_with(response)
        .mount(server)
        .await;
}

async fn mount_probe(server: &MockServer, kind: TemplateOrSnapshot, response: ResponseTemplate) {
    let collection = match kind {
        TemplateOrSnapshot::Template => "run_templates",
        TemplateOrSnapshot::Snapshot => "pipeline_snapshots",
    };
    Mock::given(method("POST"))
        .and(path(format!("/api/v1/{collection}/not-a-uuid/runs")))
        .and(header("authorization", bearer()))
        .respond_with(response)
        .named("runs probe")
        .mount(server)
        .await;
}

fn validation_422(field: &str) -> ResponseTemplate {
    ResponseTemplate::new(422).set_body_json(json!([
        "ValueError",
        format!("1 validation error:\n  {{'type': 'uuid_parsing', 'loc': ('path', '{field}'), 'msg': 'Input should be a valid UUID'}}")
    ]))
}

/// A healthy workspace: info, login, a service account, the runs route, the template.
async fn healthy_zenml() -> MockServer {
    let server = MockServer::start().await;
    mount_get(
        &server,
        "/api/v1/info",
        ResponseTemplate::new(200).set_body_json(info_body()),
    )
    .await;
    mount_login(&server, &sample_token(), None, 1).await;
    mount_get(
        &server,
        "/api/v1/current-user",
        ResponseTemplate::new(200).set_body_json(user_body(true)),
    )
    .await;
    mount_probe(&server, TEMPLATE, validation_422("template_id")).await;
    mount_get(
        &server,
        &format!("/api/v1/run_templates/{TEMPLATE_ID}"),
        ResponseTemplate::new(200).set_body_json(sample_json("run-template-get-200.json")),
    )
    .await;
    server
}

// ---------------------------------------------------------------- a setup to check

/// A configuration file and a migrated database holding `rules` (JSON specs).
struct Setup {
    _dir: tempfile::TempDir,
    _db: TestDb,
    config: PathBuf,
}

async fn setup(targets: &str, rules: &[Value]) -> Setup {
    let db = TestDb::new(Backend::Sqlite).await.expect("sqlite");
    let store = db.store().await;
    for rule in rules {
        let name = rule["name"].as_str().expect("a name");
        store
            .create_rule(Uuid::new_v4(), name, &rule.to_string())
            .await
            .expect("stored")
            .expect("a new name");
    }
    let dir = tempfile::tempdir().expect("temp dir");
    let config = dir.path().join("zenhook.toml");
    std::fs::write(
        &config,
        format!(
            "[database]\nurl = \"{}\"\n\n[sources.github]\nkind = \"github\"\nsecrets = [\"s\"]\n\n{targets}",
            db.url
        ),
    )
    .expect("config written");
    Setup {
        _dir: dir,
        _db: db,
        config,
    }
}

fn target_toml(name: &str, url: &str, extra: &str) -> String {
    format!(
        "[targets.{name}]\nurl = \"{url}\"\napi_key = \"{API_KEY}\"\ntimeout = \"5s\"\n{extra}\n"
    )
}

fn rule(name: &str, target: &str, run_config: Value) -> Value {
    json!({
        "name": name, "events": ["push"], "target": target,
        "template_id": TEMPLATE_ID, "run_config": run_config,
    })
}

async fn run_check(setup: &Setup) -> Report {
    check::check(Some(&setup.config)).await
}

/// The findings about `subject` at `level`, as (message, fix).
fn found(report: &Report, level: Level, subject: &str) -> Vec<(String, Option<String>)> {
    report
        .findings
        .iter()
        .filter(|f| f.level == level && f.subject == subject)
        .map(|f| (f.message.clone(), f.fix.clone()))
        .collect()
}

/// The one error about `subject`; its fix must be `fix`.
fn assert_error(report: &Report, subject: &str, fix: &str) -> String {
    let errors = found(report, Level::Error, subject);
    assert_eq!(errors.len(), 1, "{}", report.render_text());
    assert_eq!(
        errors[0].1.as_deref(),
        Some(fix),
        "{}",
        report.render_text()
    );
    errors[0].0.clone()
}

// ---------------------------------------------------------------- check

#[tokio::test]
async fn a_healthy_setup_is_all_ok_and_triggers_nothing() {
    let zenml = healthy_zenml().await;
    let setup = setup(
        &target_toml("prod", &zenml.uri(), ""),
        &[rule(
            "train",
            "prod",
            json!({"steps": {"say_hello": {"parameters": {"name": "x"}}}}),
        )],
    )
    .await;
    let report = run_check(&setup).await;
    let text = report.render_text();
    assert!(!report.has_errors(), "{text}");
    assert_eq!(report.count(Level::Warning), 0, "{text}");
    for expected in [
        "ok      database: ",
        "ok      target prod: ZenML 0.98.0 at http://127.0.0.1",
        "ok      target prod: the API key logs in (POST /api/v1/login)",
        "ok      target prod: acts as the service account \"webhook-bridge\"",
        "ok      target prod: the server can run templates",
        &format!("ok      rule train: template {TEMPLATE_ID} exists on target prod (probe-template) and is runnable"),
    ] {
        assert!(text.contains(expected), "{expected:?} missing from\n{text}");
    }
    assert!(text.ends_with("0 errors, 0 warnings, 7 ok\n"), "{text}");
    let json = report.to_json();
    assert_eq!(json["ok"], true);
    assert_eq!(json["findings"].as_array().expect("findings").len(), 7);
    // Nothing but reads and the probe: no trigger reached the mock.
    let requests = zenml.received_requests().await.expect("recorded");
    assert!(requests.iter().all(|r| r.method.as_str() == "GET"
        || r.url.path().ends_with("/login")
        || r.url.path().contains("not-a-uuid")));
}

#[tokio::test]
async fn unknown_steps_warn_and_pipeline_parameters_are_an_error() {
    let zenml = healthy_zenml().await;
    let setup = setup(
        &target_toml("prod", &zenml.uri(), ""),
        &[
            rule(
                "typo",
                "prod",
                json!({"steps": {"say_helo": {"parameters": {"name": "x"}}}}),
            ),
            rule("params", "prod", json!({"parameters": {"name": "x"}})),
        ],
    )
    .await;
    let report = run_check(&setup).await;
    let warnings = found(&report, Level::Warning, "rule typo");
    assert_eq!(warnings.len(), 1, "{}", report.render_text());
    assert_eq!(
        warnings[0].1.as_deref(),
        Some(hints::unknown_step("say_helo", &["say_hello".to_owned()]).as_str())
    );
    assert_error(&report, "rule params", &hints::static_pipeline_parameters());
}

#[tokio::test]
async fn a_url_answering_like_the_pro_management_api_is_named() {
    let server = MockServer::start().await;
    mount_get(
        &server,
        "/api/v1/info",
        ResponseTemplate::new(404).set_body_json(json!({"detail": "Not Found"})),
    )
    .await;
    mount_get(
        &server,
        "/openapi.json",
        ResponseTemplate::new(200).set_body_json(json!({
            "openapi": "3.1.0", "info": {"title": "ZenML Pro API"},
            "paths": {"/auth/login": {}, "/organizations": {}, "/workspaces": {}, "/users/me": {}}
        })),
    )
    .await;
    let setup = setup(&target_toml("prod", &server.uri(), ""), &[]).await;
    let report = run_check(&setup).await;
    let message = assert_error(&report, "target prod", &hints::pro_management_api("prod"));
    assert_eq!(message, "HTTP 404: Not Found");
    // Nothing more is asked of a server that is not a workspace.
    assert!(server
        .received_requests()
        .await
        .expect("recorded")
        .iter()
        .all(|r| r.method.as_str() == "GET"));
}

#[tokio::test]
async fn a_jwt_in_api_key_is_an_error_and_never_sent_to_login() {
    let zenml = MockServer::start().await;
    mount_get(
        &zenml,
        "/api/v1/info",
        ResponseTemplate::new(200).set_body_json(info_body()),
    )
    .await;
    Mock::given(method("POST"))
        .and(path("/api/v1/login"))
        .respond_with(ResponseTemplate::new(401))
        .expect(0)
        .mount(&zenml)
        .await;
    let targets = format!(
        "[targets.prod]\nurl = \"{}\"\napi_key = \"{}\"\ntimeout = \"5s\"\n",
        zenml.uri(),
        sample_token()
    );
    let setup = setup(&targets, &[]).await;
    let report = run_check(&setup).await;
    assert_error(&report, "target prod", &hints::jwt_as_api_key("prod"));
    assert!(!report.render_text().contains(&sample_token()));
    zenml.verify().await;
}

#[tokio::test]
async fn a_bearer_prefix_is_an_error_for_either_field() {
    for field in ["api_key", "token"] {
        let zenml = MockServer::start().await;
        mount_get(
            &zenml,
            "/api/v1/info",
            ResponseTemplate::new(200).set_body_json(info_body()),
        )
        .await;
        let targets = format!(
            "[targets.prod]\nurl = \"{}\"\n{field} = \"Bearer {}\"\ntimeout = \"5s\"\n",
            zenml.uri(),
            sample_token()
        );
        let setup = setup(&targets, &[]).await;
        let report = run_check(&setup).await;
        assert_error(&report, "target prod", &hints::bearer_prefix("prod", field));
    }
}

#[tokio::test]
async fn a_token_for_a_human_user_gives_two_warnings() {
    let zenml = MockServer::start().await;
    mount_get(
        &zenml,
        "/api/v1/info",
        ResponseTemplate::new(200).set_body_json(info_body()),
    )
    .await;
    Mock::given(method("GET"))
        .and(path("/api/v1/current-user"))
        .and(header("authorization", "Bearer static-token"))
        .respond_with(ResponseTemplate::new(200).set_body_json(user_body(false)))
        .mount(&zenml)
        .await;
    Mock::given(method("POST"))
        .and(path("/api/v1/run_templates/not-a-uuid/runs"))
        .respond_with(validation_422("template_id"))
        .mount(&zenml)
        .await;
    let targets = format!(
        "[targets.prod]\nurl = \"{}\"\ntoken = \"static-token\"\ntimeout = \"5s\"\n",
        zenml.uri()
    );
    let setup = setup(&targets, &[]).await;
    let report = run_check(&setup).await;
    assert!(!report.has_errors(), "{}", report.render_text());
    let fixes: Vec<Option<String>> = found(&report, Level::Warning, "target prod")
        .into_iter()
        .map(|(_, fix)| fix)
        .collect();
    assert_eq!(
        fixes,
        [
            Some(hints::token_expires("prod")),
            Some(hints::human_user("prod", "alice"))
        ]
    );
}

#[tokio::test]
async fn a_refused_key_a_missing_project_and_a_server_that_cannot_run_templates() {
    // The key: 401 at login.
    let refused = MockServer::start().await;
    mount_get(
        &refused,
        "/api/v1/info",
        ResponseTemplate::new(200).set_body_json(info_body()),
    )
    .await;
    Mock::given(method("POST"))
        .and(path("/api/v1/login"))
        .and(body_string(API_KEY_FORM))
        .respond_with(ResponseTemplate::new(401).set_body_json(json!({"detail": ["CredentialsNotValid", "Authentication error: API key k1 associated with service account webhook-bridge is not active"]})))
        .mount(&refused)
        .await;
    // The project: ZenML's 404 for an unknown project name.
    let no_project = healthy_zenml().await;
    mount_get(
        &no_project,
        "/api/v1/projects/nosuch",
        ResponseTemplate::new(404).set_body_json(json!({"detail": ["KeyError", "\"Unable to get project with name or ID 'nosuch': 'nosuch' is not a valid  UUID and no project with this name exists.\""]})),
    )
    .await;
    // The runs route: an open-source server's 405, and a plan without template runs.
    let oss = MockServer::start().await;
    let paid = MockServer::start().await;
    for server in [&oss, &paid] {
        mount_get(
            server,
            "/api/v1/info",
            ResponseTemplate::new(200).set_body_json(info_body()),
        )
        .await;
        mount_login(server, &sample_token(), None, 1).await;
        mount_get(
            server,
            "/api/v1/current-user",
            ResponseTemplate::new(200).set_body_json(user_body(true)),
        )
        .await;
    }
    mount_probe(
        &oss,
        TEMPLATE,
        ResponseTemplate::new(405)
            .insert_header("allow", "GET")
            .set_body_json(json!({"detail": "Method Not Allowed"})),
    )
    .await;
    mount_probe(
        &paid,
        TEMPLATE,
        ResponseTemplate::new(402).set_body_json(json!({"detail": ["SubscriptionUpgradeRequiredError", "Your plan does not include template runs."]})),
    )
    .await;

    let targets = [
        target_toml("refused", &refused.uri(), ""),
        target_toml("noproject", &no_project.uri(), "project = \"nosuch\""),
        target_toml("oss", &oss.uri(), ""),
        target_toml("paid", &paid.uri(), ""),
    ]
    .concat();
    let setup = setup(&targets, &[]).await;
    let report = run_check(&setup).await;
    let message = assert_error(
        &report,
        "target refused",
        &hints::api_key_rejected("refused"),
    );
    assert!(
        message.starts_with("HTTP 401: CredentialsNotValid: "),
        "{message}"
    );
    assert_error(
        &report,
        "target noproject",
        &hints::for_status(Operation::ReadProject, 404, "noproject"),
    );
    let message = assert_error(
        &report,
        "target oss",
        &hints::for_status(Operation::ProbeRuns(TEMPLATE), 405, "oss"),
    );
    assert_eq!(
        message,
        "the server cannot run templates: HTTP 405: Method Not Allowed"
    );
    let message = assert_error(
        &report,
        "target paid",
        &hints::for_status(Operation::ProbeRuns(TEMPLATE), 402, "paid"),
    );
    assert!(
        message.contains("Your plan does not include template runs."),
        "{message}"
    );
    assert_eq!(report.count(Level::Error), 4);
}

#[tokio::test]
async fn template_problems_are_named_per_rule() {
    let zenml = healthy_zenml().await;
    let missing = Uuid::new_v4();
    let unrunnable = Uuid::new_v4();
    let elsewhere = Uuid::new_v4();
    mount_get(
        &zenml,
        &format!("/api/v1/run_templates/{missing}"),
        ResponseTemplate::new(404).set_body_json(json!({"detail": ["KeyError", format!("\"Unable to get run template with ID '{missing}': No run template with this ID found\"")]})),
    )
    .await;
    mount_get(
        &zenml,
        &format!("/api/v1/run_templates/{unrunnable}"),
        ResponseTemplate::new(200).set_body_json(template_body(|t| {
            t["id"] = json!(unrunnable);
            t["body"]["runnable"] = json!(false);
        })),
    )
    .await;
    mount_get(
        &zenml,
        &format!("/api/v1/run_templates/{elsewhere}"),
        ResponseTemplate::new(200).set_body_json(template_body(|t| {
            t["id"] = json!(elsewhere);
            t["body"]["project_id"] = json!(Uuid::new_v4());
        })),
    )
    .await;
    mount_get(
        &zenml,
        "/api/v1/projects/default",
        ResponseTemplate::new(200).set_body_json(json!({"body": {"display_name": "default"}, "id": PROJECT_ID, "name": "default", "permission_denied": false})),
    )
    .await;
    let with_id = |name: &str, id: Uuid| {
        let mut rule = rule(name, "prod", json!({}));
        rule["template_id"] = json!(id);
        rule
    };
    let setup = setup(
        &target_toml("prod", &zenml.uri(), "project = \"default\""),
        &[
            with_id("missing", missing),
            with_id("unrunnable", unrunnable),
            with_id("elsewhere", elsewhere),
        ],
    )
    .await;
    let report = run_check(&setup).await;
    let deleted = hints::for_status(Operation::ReadTemplate(TEMPLATE), 404, "prod");
    assert_eq!(
        deleted,
        "the template was deleted or belongs to another project or workspace"
    );
    let message = assert_error(&report, "rule missing", &deleted);
    assert!(message.starts_with("HTTP 404: KeyError: "), "{message}");
    assert_error(&report, "rule unrunnable", &hints::not_runnable(TEMPLATE));
    assert_error(&report, "rule elsewhere", &deleted);
    assert_eq!(report.count(Level::Error), 3, "{}", report.render_text());
}

#[tokio::test]
async fn an_unreachable_target_names_its_url_and_its_rules_wait() {
    let port = closed_port().await;
    let url = format!("http://127.0.0.1:{port}");
    let setup = setup(
        &target_toml("prod", &url, ""),
        &[rule("train", "prod", json!({}))],
    )
    .await;
    let report = run_check(&setup).await;
    let message = assert_error(&report, "target prod", &hints::unreachable("prod"));
    assert!(
        message.starts_with(&format!(
            "ZenML unreachable: cannot connect to {url}/api/v1/info"
        )),
        "{message}"
    );
    let waiting = found(&report, Level::Warning, "rule train");
    assert_eq!(waiting.len(), 1);
    assert_eq!(waiting[0].1.as_deref(), Some("fix target prod first"));
}

#[tokio::test]
async fn the_database_must_be_migrated_and_rules_must_fit_the_config() {
    // No file: check creates nothing, migrates nothing.
    let dir = tempfile::tempdir().expect("temp dir");
    let db_file = dir.path().join("absent.db");
    let config = dir.path().join("zenhook.toml");
    std::fs::write(
        &config,
        format!("[database]\nurl = \"sqlite://{}\"\n", db_file.display()),
    )
    .unwrap();
    let report = check::check(Some(&config)).await;
    assert_error(&report, "database", &hints::pending_migrations());
    assert!(!db_file.exists(), "check must not create the database");

    // A file without zenhook's tables.
    std::fs::write(&db_file, b"").unwrap();
    let report = check::check(Some(&config)).await;
    let message = assert_error(&report, "database", &hints::pending_migrations());
    assert!(message.contains(" migration(s): 0001 "), "{message}");

    // A stored rule whose target the configuration no longer has.
    let setup = setup("", &[rule("orphan", "gone", json!({}))]).await;
    let report = run_check(&setup).await;
    let errors = found(&report, Level::Error, "rule orphan");
    assert_eq!(errors.len(), 1, "{}", report.render_text());
    assert!(
        errors[0].0.contains("unknown target \"gone\""),
        "{}",
        errors[0].0
    );
    // No targets: a warning, and the implicit shadow target is not asked anything.
    assert_eq!(found(&report, Level::Warning, "targets").len(), 1);
}

#[tokio::test]
async fn a_configuration_error_is_the_only_finding() {
    let dir = tempfile::tempdir().expect("temp dir");
    let config = dir.path().join("zenhook.toml");
    std::fs::write(
        &config,
        "[targets.prod]\nurl = \"http://127.0.0.1:1\"\napi_key = { env = \"ZENHOOK_CHECK_TEST_UNSET_VARIABLE\" }\n",
    )
    .unwrap();
    let report = check::check(Some(&config)).await;
    assert_eq!(report.findings.len(), 1);
    assert_eq!(report.findings[0].level, Level::Error);
    assert!(
        report.findings[0]
            .message
            .contains("targets.prod.api_key: the environment variable ZENHOOK_CHECK_TEST_UNSET_VARIABLE is not set"),
        "{}",
        report.findings[0].message
    );
}

#[tokio::test]
async fn the_cli_exits_non_zero_on_errors_and_prints_json() {
    let zenml = healthy_zenml().await;
    let good = setup(&target_toml("prod", &zenml.uri(), ""), &[]).await;
    let output = cli(&["check", "--config", good.config.to_str().unwrap()]).await;
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{stdout}");
    assert!(stdout.ends_with("0 errors, 0 warnings, 6 ok\n"), "{stdout}");

    let port = closed_port().await;
    let bad = setup(
        &target_toml("prod", &format!("http://127.0.0.1:{port}"), ""),
        &[],
    )
    .await;
    let output = cli(&["check", "--json", "--config", bad.config.to_str().unwrap()]).await;
    assert!(!output.status.success());
    let answer: Value = serde_json::from_slice(&output.stdout).expect("JSON");
    assert_eq!(answer["ok"], false);
    assert_eq!(answer["errors"], 1);
    let error = answer["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["level"] == "error")
        .expect("an error");
    assert_eq!(error["subject"], "target prod");
    assert_eq!(error["fix"], hints::unreachable("prod"));
    assert!(String::from_utf8_lossy(&output.stderr).contains("the check found 1 error(s)"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_that_cannot_reach_its_target_names_the_url_and_the_fix() {
    use common::zenhook_api::{worker_config, Zenhook};
    let port = closed_port().await;
    let url = format!("http://127.0.0.1:{port}");
    let app = spawn_app(Backend::Sqlite, &worker_config(&url, "1s", ""))
        .await
        .expect("sqlite");
    let api = Zenhook::new(app.url(""));
    api.create_rule("train", json!({})).await;
    let delivery = api.push("unreachable-1").await;
    let job = api.job_of(&delivery).await;
    let job = api
        .wait_job(&job, std::time::Duration::from_secs(20), |job| {
            job["last_error"].is_string()
        })
        .await;
    let error = job["last_error"].as_str().unwrap();
    assert!(
        error.starts_with(&format!(
            "ZenML unreachable: cannot connect to {url}/api/v1/login"
        )),
        "{error}"
    );
    assert!(
        error.ends_with(&format!(" — {}", hints::unreachable("default"))),
        "{error}"
    );
    app.stop().await;
}

async fn cli(args: &[&str]) -> std::process::Output {
    let mut command = tokio::process::Command::new(env!("CARGO_BIN_EXE_zenhook"));
    command.args(args).kill_on_drop(true);
    tokio::time::timeout(std::time::Duration::from_secs(60), command.output())
        .await
        .expect("the CLI finishes")
        .expect("the CLI runs")
}

// ---------------------------------------------------------------- finding templates

fn page_of(items: Vec<Value>) -> Value {
    json!({"index": 1, "max_size": 100, "total_pages": 1, "total": items.len(), "items": items})
}

fn listed_template(id: &str, name: &str) -> Value {
    let mut item = sample_json("run-templates-list-200.json")["items"][0].clone();
    item["id"] = json!(id);
    item["name"] = json!(name);
    item
}

async fn mount_list(server: &MockServer, name: &str, items: Vec<Value>) {
    Mock::given(method("GET"))
        .and(path("/api/v1/run_templates"))
        .and(query_param("name", name))
        .respond_with(ResponseTemplate::new(200).set_body_json(page_of(items)))
        .mount(server)
        .await;
}

#[tokio::test]
async fn templates_list_prints_a_table_read_from_the_target() {
    let zenml = MockServer::start().await;
    mount_login(&zenml, &sample_token(), None, 1).await;
    Mock::given(method("GET"))
        .and(path("/api/v1/run_templates"))
        .and(query_param("name", "contains:probe"))
        .and(query_param("project", "default"))
        .and(header("authorization", bearer()))
        .respond_with(
            ResponseTemplate::new(200).set_body_json(sample_json("run-templates-list-200.json")),
        )
        .expect(1)
        .mount(&zenml)
        .await;
    let setup = setup(
        &target_toml("prod", &zenml.uri(), "project = \"default\""),
        &[],
    )
    .await;
    let config = setup.config.to_str().unwrap();
    let output = cli(&["templates", "list", "--config", config, "--name", "probe"]).await;
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines[0], format!("target prod ({}):", zenml.uri()));
    let header: Vec<&str> = lines[1].split_whitespace().collect();
    assert_eq!(
        header,
        ["NAME", "ID", "PIPELINE", "RUNNABLE", "TAGS", "LATEST", "RUN"]
    );
    let row: Vec<&str> = lines[2].split_whitespace().collect();
    assert_eq!(
        row,
        [
            "probe-template",
            TEMPLATE_ID,
            "probe_pipeline",
            "yes",
            "-",
            "-"
        ]
    );
    zenml.verify().await;
}

#[tokio::test]
async fn snapshots_list_asks_for_named_snapshots_as_json() {
    let zenml = MockServer::start().await;
    mount_login(&zenml, &sample_token(), None, 1).await;
    let snapshot = sample_json("run-template-get-200.json")["resources"]["source_snapshot"].clone();
    Mock::given(method("GET"))
        .and(path("/api/v1/pipeline_snapshots"))
        .and(query_param("named_only", "true"))
        .respond_with(ResponseTemplate::new(200).set_body_json(page_of(vec![snapshot])))
        .expect(1)
        .mount(&zenml)
        .await;
    let setup = setup(&target_toml("prod", &zenml.uri(), ""), &[]).await;
    let output = cli(&[
        "snapshots",
        "list",
        "--json",
        "--config",
        setup.config.to_str().unwrap(),
    ])
    .await;
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let listed: Value = serde_json::from_slice(&output.stdout).expect("JSON");
    assert_eq!(
        listed,
        json!([{"target": "prod", "kind": "snapshot", "id": SNAPSHOT_ID, "name": "probe-template",
                "pipeline": null, "runnable": true, "tags": [], "latest_run_status": null}])
    );
    zenml.verify().await;
}

// ---------------------------------------------------------------- rules that name a template

fn app_config(targets: &str) -> String {
    format!("[admin]\ntokens = [\"{ADMIN_TOKEN}\"]\n\n[sources.github]\nkind = \"github\"\nsecrets = [\"s\"]\n\n{targets}")
}

async fn post_rule(app: &TestApp, rule: Value) -> (u16, Value) {
    let response = app
        .client
        .post(app.url("/api/v1/rules"))
        .bearer_auth(ADMIN_TOKEN)
        .json(&rule)
        .send()
        .await
        .expect("an answer");
    let status = response.status().as_u16();
    (status, response.json().await.expect("JSON"))
}

fn named_rule(name: &str, target: &str, template: &str) -> Value {
    json!({"name": name, "target": target, "template": template})
}

#[tokio::test]
async fn a_template_name_is_resolved_when_the_rule_is_saved() {
    let zenml = MockServer::start().await;
    mount_login(&zenml, &sample_token(), None, 1).await;
    mount_list(
        &zenml,
        "equals:probe-template",
        sample_json("run-templates-list-200.json")["items"]
            .as_array()
            .unwrap()
            .clone(),
    )
    .await;
    let app = spawn_app(
        Backend::Sqlite,
        &app_config(&target_toml("prod", &zenml.uri(), "")),
    )
    .await
    .expect("sqlite");
    let (status, body) = post_rule(&app, named_rule("train", "prod", "probe-template")).await;
    assert_eq!(status, 201, "{body:#}");
    assert_eq!(body["spec"]["template"], "probe-template");
    assert_eq!(body["spec"]["template_id"], TEMPLATE_ID);
    // Stored with the id: the rule is in force and triggers that template.
    let stored = app
        .store()
        .await
        .find_rule("train")
        .await
        .unwrap()
        .expect("stored");
    let spec: Value = serde_json::from_str(&stored.spec).unwrap();
    assert_eq!(spec["template_id"], TEMPLATE_ID);
    app.stop().await;
}

#[tokio::test]
async fn unknown_and_ambiguous_names_are_400_with_the_candidates() {
    let zenml = MockServer::start().await;
    mount_login(&zenml, &sample_token(), None, 1).await;
    mount_list(&zenml, "equals:nope", vec![]).await;
    let twin = Uuid::new_v4().to_string();
    mount_list(
        &zenml,
        "equals:twin",
        vec![
            listed_template(TEMPLATE_ID, "twin"),
            listed_template(&twin, "twin"),
        ],
    )
    .await;
    // Without a name filter: every template, for the candidates.
    Mock::given(method("GET"))
        .and(path("/api/v1/run_templates"))
        .respond_with(ResponseTemplate::new(200).set_body_json(page_of(vec![
            listed_template(TEMPLATE_ID, "probe-template"),
            listed_template(&twin, "train-model"),
        ])))
        .mount(&zenml)
        .await;
    let app = spawn_app(
        Backend::Sqlite,
        &app_config(&target_toml("prod", &zenml.uri(), "")),
    )
    .await
    .expect("sqlite");

    let (status, body) = post_rule(&app, named_rule("a", "prod", "nope")).await;
    assert_eq!(status, 400, "{body:#}");
    assert_eq!(body["error"]["code"], "invalid_rule");
    assert_eq!(body["error"]["field"], "template");
    assert_eq!(
        body["error"]["message"],
        hints::name_unknown(
            "prod",
            TEMPLATE,
            "nope",
            &["probe-template".into(), "train-model".into()]
        )
    );

    let (status, body) = post_rule(&app, named_rule("b", "prod", "twin")).await;
    assert_eq!(status, 400, "{body:#}");
    assert_eq!(body["error"]["field"], "template");
    assert_eq!(
        body["error"]["message"],
        hints::name_ambiguous(
            "prod",
            TEMPLATE,
            "twin",
            &[TEMPLATE_ID.into(), twin.clone()]
        )
    );
    app.stop().await;
}

#[tokio::test]
async fn names_need_a_reachable_live_target_and_ids_need_none() {
    let port = closed_port().await;
    let targets = [
        target_toml("down", &format!("http://127.0.0.1:{port}"), ""),
        "[targets.dry]\nshadow = true\n".to_owned(),
    ]
    .concat();
    let app = spawn_app(Backend::Sqlite, &app_config(&targets))
        .await
        .expect("sqlite");

    let (status, body) = post_rule(&app, named_rule("a", "down", "probe-template")).await;
    assert_eq!(status, 503, "{body:#}");
    assert_eq!(body["error"]["code"], "target_unavailable");
    let message = body["error"]["message"].as_str().unwrap();
    assert!(
        message.starts_with("target down cannot be asked for the template named \"probe-template\" (ZenML unreachable: cannot connect to "),
        "{message}"
    );

    let (status, body) = post_rule(
        &app,
        json!({"name": "s", "target": "dry", "snapshot": "probe-template"}),
    )
    .await;
    assert_eq!(status, 400, "{body:#}");
    assert_eq!(body["error"]["field"], "snapshot");
    assert_eq!(
        body["error"]["message"],
        hints::shadow_cannot_resolve("dry", SNAPSHOT)
    );

    // An id never needs the target, with or without its name beside it.
    let mut by_id = named_rule("b", "down", "probe-template");
    by_id["template_id"] = json!(TEMPLATE_ID);
    let (status, body) = post_rule(&app, by_id).await;
    assert_eq!(status, 201, "{body:#}");
    assert_eq!(body["spec"]["template"], "probe-template");
    app.stop().await;
}

#[test]
fn exactly_one_kind_of_reference_compiles() {
    use zenhook::rules::{parse_rule_json, Catalog, CompiledRule};
    let sources = vec![];
    let targets = vec!["t".to_owned()];
    let catalog = Catalog {
        sources: &sources,
        targets: &targets,
    };
    let compile = |text: Value| {
        CompiledRule::compile(
            Uuid::nil(),
            1,
            parse_rule_json(&text.to_string()).expect("schema"),
            &catalog,
        )
    };
    let error =
        compile(json!({"name": "r", "target": "t", "template": "a", "snapshot_id": SNAPSHOT_ID}))
            .expect_err("two kinds");
    assert_eq!(error.field, "template");
    assert!(error
        .message
        .contains("exactly one of template_id, snapshot_id, template and snapshot"));
    let error =
        compile(json!({"name": "r", "target": "t", "snapshot": "a"})).expect_err("unresolved");
    assert_eq!(error.field, "snapshot");
    assert!(error
        .message
        .contains("resolved to its id when the rule is saved"));
    compile(json!({"name": "r", "target": "t", "snapshot": "a", "snapshot_id": SNAPSHOT_ID}))
        .expect("a resolved name");
}

// ---------------------------------------------------------------- every hint sentence

/// Each sentence zenhook shows about ZenML, pinned: a change of wording is a change here.
#[test]
fn every_hint_sentence() {
    let t = TEMPLATE;
    let s = SNAPSHOT;
    let status = |operation, code| hints::for_status(operation, code, "prod");
    let table: Vec<(String, &str)> = vec![
        (hints::api_key_rejected("prod"), "the API key was rotated or deactivated: create a new key for the service account and update `targets.prod.api_key`"),
        (hints::token_rejected("prod"), "the token was rejected or expired: use a service-account API key (targets.prod.api_key)"),
        (hints::no_credential("prod"), "ZenML requires authentication: give a service-account API key (targets.prod.api_key)"),
        (hints::login_refused("prod"), "ZenML refused the login request: `targets.prod.api_key` must hold a service-account API key (ZENKEY_...)"),
        (hints::external_login("prod"), "this ZenML server logs users in through an external provider: give `targets.prod` a token the server accepts, or enable API-key logins"),
        (hints::not_zenml("prod"), "the answer is not what a ZenML server sends: check that `targets.prod.url` is the ZenML server URL"),
        (hints::no_such_endpoint("prod"), "this server has no such ZenML endpoint: check that `targets.prod.url` is the ZenML server URL, without /api/v1"),
        (hints::pro_management_api("prod"), "this is the ZenML Pro management API, not a workspace: set `targets.prod.url` to the workspace URL shown in the ZenML Pro dashboard (like https://1bfe8d94-zenml.cloudinfra.zenml.io)"),
        (hints::redirected("prod", "https://x/"), "the server redirects to \"https://x/\": set `targets.prod.url` to the address it redirects to"),
        (hints::unreachable("prod"), "check `targets.prod.url`, the network between zenhook and ZenML, and for TLS errors `targets.prod.ca_file` or `proxy`"),
        (hints::retry_later(), "ZenML is busy or failing right now: run the check again later"),
        (hints::api_key_as_token("prod"), "`targets.prod.token` holds an API key (ZENKEY_...): move it to `targets.prod.api_key`, so zenhook exchanges it for a token instead of sending the key with every request"),
        (hints::shadow("prod"), "`targets.prod` is a shadow target: zenhook never calls ZenML for it"),
        (hints::jwt_as_api_key("prod"), "`targets.prod.api_key` holds an access token (a JWT), not an API key: put the service account's API key (ZENKEY_...) there, or move the token to `targets.prod.token`"),
        (hints::bearer_prefix("prod", "token"), "remove the `Bearer ` prefix from `targets.prod.token`: zenhook adds it"),
        (hints::token_expires("prod"), "a token expires and zenhook cannot renew it: create a service account and put its API key in `targets.prod.api_key` instead of `token`"),
        (hints::human_user("prod", "alice"), "the credential belongs to the user \"alice\", not a service account: create a service account for automation and put its API key in `targets.prod.api_key`"),
        (hints::pending_migrations(), "run `zenhook migrate` (or start `zenhook serve`, which migrates first)"),
        (hints::not_runnable(t), "ZenML runs only a template whose snapshot has a container build for a remote stack: create it from a pipeline built on such a stack"),
        (hints::unknown_step("trainer", &["say_hello".into()]), "`run_config.steps.trainer` names no step of the pipeline (steps: say_hello): ZenML ignores it silently, so fix the step name"),
        (hints::static_pipeline_parameters(), "ZenML refuses pipeline-level `run_config.parameters` for a static pipeline: move them to `run_config.steps.<step>.parameters`"),
        (hints::shadow_cannot_resolve("prod", t), "`targets.prod` is a shadow target, so it cannot look up a template by name: give `template_id` instead"),
        (hints::name_unknown("prod", s, "x", &["a".into(), "b".into()]), "no snapshot is named \"x\" on target prod (candidates: a, b): fix the name, or give `snapshot_id`"),
        (hints::name_unknown("prod", t, "x", &[]), "no template is named \"x\" on target prod (it has none): fix the name, or give `template_id`"),
        (hints::name_ambiguous("prod", t, "x", &["1".into(), "2".into()]), "2 templates are named \"x\" on target prod (1, 2): give `template_id` instead"),
        (hints::name_unresolved("prod", t, "x", "ZenML unreachable: why"), "target prod cannot be asked for the template named \"x\" (ZenML unreachable: why): retry when it answers, or give `template_id`"),
        (status(Operation::Login, 400), "ZenML refused the login request: `targets.prod.api_key` must hold a service-account API key (ZENKEY_...)"),
        (status(Operation::Login, 401), "the API key was rotated or deactivated: create a new key for the service account and update `targets.prod.api_key`"),
        (status(Operation::Login, 403), "the service account may not log in: check that it and its API key are active"),
        (status(Operation::Trigger(t), 400), "ZenML refused the run configuration: fix the rule's run_config"),
        (status(Operation::FindRun, 422), "ZenML refused zenhook's query: this is a zenhook bug, please report it with ZenML's message"),
        (status(Operation::Trigger(t), 402), "this ZenML plan cannot run templates: upgrade the workspace's ZenML Pro plan, or trigger on a workspace whose plan includes it"),
        (status(Operation::ProbeRuns(s), 402), "this ZenML plan cannot run snapshots: upgrade the workspace's ZenML Pro plan, or trigger on a workspace whose plan includes it"),
        (status(Operation::Trigger(t), 403), "the service account is not allowed to run this template: give it that permission in ZenML"),
        (status(Operation::ListTemplates(s), 403), "the service account is not allowed to read snapshots: give it that permission in ZenML"),
        (status(Operation::ReadUser, 403), "the service account is not allowed to read its own account or project: give it that permission in ZenML"),
        (status(Operation::GetRun, 403), "the service account is not allowed to read pipeline runs"),
        (status(Operation::Trigger(s), 404), "the snapshot was deleted or belongs to another project or workspace"),
        (status(Operation::ReadTemplate(t), 404), "the template was deleted or belongs to another project or workspace"),
        (status(Operation::ReadProject, 404), "the project in `targets.prod.project` does not exist or the service account cannot see it"),
        (status(Operation::GetRun, 404), "the run was deleted or belongs to another project or workspace"),
        (status(Operation::Trigger(t), 405), "this ZenML server cannot run templates (an open-source server without a workload manager): point `targets.prod.url` at a ZenML Pro workspace"),
        (status(Operation::ProbeRuns(s), 405), "this ZenML server cannot run snapshots (an open-source server without a workload manager): point `targets.prod.url` at a ZenML Pro workspace"),
        (status(Operation::Trigger(t), 409), "ZenML reports a conflict other than a taken run name: see its message"),
        (status(Operation::Info, 405), "this server has no such ZenML endpoint: check that `targets.prod.url` is the ZenML server URL, without /api/v1"),
        (status(Operation::Trigger(t), 501), "this ZenML server does not implement the operation: check the server's version and edition"),
        (status(Operation::Trigger(t), 418), "ZenML refused the request: see its message"),
    ];
    for (got, expected) in &table {
        assert_eq!(got, expected);
        assert!(
            !got.ends_with('.') && !got.contains('\n'),
            "one sentence, no period: {got}"
        );
    }
}

//! `zenhook check`, template discovery and rules that name their template, against a
//! REAL ZenML server (`../shared/zenml/zenml_server.sh`), gated like `zenml_e2e.rs`:
//! `ZENHOOK_ZENML_ENV` (templates runnable) and `ZENHOOK_ZENML_OSS_ENV`
//! (`--oss-default`, the real 405). Outside CI a missing variable skips its test; with
//! `CI` set it fails. Nothing here triggers a run: these are reads and the runs probe.

mod common;

use std::collections::HashMap;
use std::path::PathBuf;

use common::{spawn_app, Backend, TestDb};
use serde_json::{json, Value};
use uuid::Uuid;
use zenhook::check::{self, Level, Report};
use zenhook::zenml::{hints, Operation, TemplateOrSnapshot, ZenmlClient};

const ADMIN_TOKEN: &str = "e2e-check-admin-token";

/// The KEY=VALUE lines of the server started for `var`.
fn server(var: &str) -> Option<HashMap<String, String>> {
    common::zenml_server(var)
}

/// A configuration file over a migrated database holding `rules`.
struct Setup {
    _dir: tempfile::TempDir,
    _db: TestDb,
    config: PathBuf,
}

async fn setup(targets: &str, rules: &[Value]) -> Setup {
    let db = TestDb::new(Backend::Sqlite).await.expect("sqlite");
    let store = db.store().await;
    for rule in rules {
        store
            .create_rule(
                Uuid::new_v4(),
                rule["name"].as_str().unwrap(),
                &rule.to_string(),
            )
            .await
            .expect("stored")
            .expect("a new name");
    }
    let dir = tempfile::tempdir().expect("temp dir");
    let config = dir.path().join("zenhook.toml");
    std::fs::write(
        &config,
        format!("[database]\nurl = \"{}\"\n\n{targets}", db.url),
    )
    .unwrap();
    Setup {
        _dir: dir,
        _db: db,
        config,
    }
}

fn target(name: &str, url: &str, credential: &str) -> String {
    format!("[targets.{name}]\nurl = \"{url}\"\n{credential}\ntimeout = \"20s\"\n")
}

fn api_key(zenml: &HashMap<String, String>) -> String {
    format!("api_key = \"{}\"", zenml["ZENML_API_KEY"])
}

fn errors(report: &Report, subject: &str) -> Vec<(String, String)> {
    report
        .findings
        .iter()
        .filter(|f| f.level == Level::Error && f.subject == subject)
        .map(|f| (f.message.clone(), f.fix.clone().unwrap_or_default()))
        .collect()
}

fn warnings(report: &Report, subject: &str) -> Vec<String> {
    report
        .findings
        .iter()
        .filter(|f| f.level == Level::Warning && f.subject == subject)
        .map(|f| f.fix.clone().unwrap_or_default())
        .collect()
}

/// The admin's REST session (API.md §1.1), for keys the tests create and deactivate.
struct Admin {
    http: reqwest::Client,
    url: String,
    token: String,
}

impl Admin {
    async fn login(zenml: &HashMap<String, String>) -> Admin {
        let http = reqwest::Client::new();
        let url = zenml["ZENML_URL"].clone();
        let answer: Value = http
            .post(format!("{url}/api/v1/login"))
            .form(&[
                ("username", zenml["ZENML_ADMIN_USER"].as_str()),
                ("password", zenml["ZENML_ADMIN_PASSWORD"].as_str()),
            ])
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let token = answer["access_token"]
            .as_str()
            .expect("an admin token")
            .to_owned();
        Admin { http, url, token }
    }

    async fn call(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> Value {
        let mut request = self
            .http
            .request(method, format!("{}/api/v1{path}", self.url))
            .bearer_auth(&self.token);
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.unwrap();
        assert!(
            response.status().is_success(),
            "{path}: {}",
            response.status()
        );
        response.json().await.unwrap_or(Value::Null)
    }
}

// ---------------------------------------------------------------- check

#[tokio::test]
async fn a_real_workspace_passes_and_each_rule_problem_is_found() {
    let Some(zenml) = server("ZENHOOK_ZENML_ENV") else {
        return;
    };
    let template_id = &zenml["ZENML_TEMPLATE_ID"];
    let unknown = Uuid::new_v4();
    let rule = |name: &str, id: &str, run_config: Value| json!({"name": name, "target": "prod", "template_id": id, "run_config": run_config});
    let setup = setup(
        &target(
            "prod",
            &zenml["ZENML_URL"],
            &format!("{}\nproject = \"default\"", api_key(&zenml)),
        ),
        &[
            rule(
                "good",
                template_id,
                json!({"steps": {"say_hello": {"parameters": {"name": "x"}}}}),
            ),
            rule("typo", template_id, json!({"steps": {"say_helo": {}}})),
            rule("params", template_id, json!({"parameters": {"name": "x"}})),
            rule("gone", &unknown.to_string(), json!({})),
            json!({"name": "snap", "target": "prod", "snapshot_id": zenml["ZENML_SNAPSHOT_ID"]}),
        ],
    )
    .await;
    let report = check::check(Some(&setup.config)).await;
    let text = report.render_text();
    for expected in [
        "ok      target prod: ZenML 0.98.0 at ",
        "ok      target prod: the API key logs in (POST /api/v1/login)",
        "ok      target prod: acts as the service account \"webhook-bridge\"",
        "ok      target prod: the project \"default\" exists",
        "ok      target prod: the server can run templates",
        "ok      target prod: the server can run snapshots",
        "ok      rule good: template ",
        "ok      rule snap: snapshot ",
    ] {
        assert!(text.contains(expected), "{expected:?} missing from\n{text}");
    }
    assert_eq!(
        warnings(&report, "rule typo"),
        [hints::unknown_step("say_helo", &["say_hello".to_owned()])],
        "{text}"
    );
    let params = errors(&report, "rule params");
    assert_eq!(params.len(), 1, "{text}");
    assert_eq!(params[0].1, hints::static_pipeline_parameters());
    let gone = errors(&report, "rule gone");
    assert_eq!(gone.len(), 1, "{text}");
    assert!(
        gone[0].0.starts_with("HTTP 404: KeyError: "),
        "{}",
        gone[0].0
    );
    assert_eq!(
        gone[0].1,
        hints::for_status(
            Operation::ReadTemplate(TemplateOrSnapshot::Template),
            404,
            "prod"
        )
    );
    assert_eq!(report.count(Level::Error), 2, "{text}");
}

#[tokio::test]
async fn a_deactivated_key_is_refused_with_the_rotation_hint() {
    let Some(zenml) = server("ZENHOOK_ZENML_ENV") else {
        return;
    };
    let admin = Admin::login(&zenml).await;
    let account = admin
        .call(
            reqwest::Method::GET,
            "/service_accounts/webhook-bridge",
            None,
        )
        .await;
    let account_id = account["id"]
        .as_str()
        .expect("the service account")
        .to_owned();
    let keys = format!("/service_accounts/{account_id}/api_keys");
    let created = admin
        .call(
            reqwest::Method::POST,
            &keys,
            Some(json!({"name": format!("zenhook-check-{}", Uuid::new_v4().simple())})),
        )
        .await;
    let key_id = created["id"].as_str().expect("a key id").to_owned();
    let key = created["body"]["key"].as_str().expect("the key").to_owned();
    admin
        .call(
            reqwest::Method::PUT,
            &format!("{keys}/{key_id}"),
            Some(json!({"active": false})),
        )
        .await;

    let setup = setup(
        &target("prod", &zenml["ZENML_URL"], &format!("api_key = \"{key}\"")),
        &[],
    )
    .await;
    let report = check::check(Some(&setup.config)).await;
    admin
        .call(reqwest::Method::DELETE, &format!("{keys}/{key_id}"), None)
        .await;
    let refused = errors(&report, "target prod");
    assert_eq!(refused.len(), 1, "{}", report.render_text());
    assert!(
        refused[0].0.starts_with("HTTP 401: CredentialsNotValid: "),
        "{}",
        refused[0].0
    );
    assert!(refused[0].0.contains("is not active"), "{}", refused[0].0);
    assert_eq!(refused[0].1, hints::api_key_rejected("prod"));
    assert!(!report.render_text().contains(&key));
}

#[tokio::test]
async fn wrong_urls_and_a_human_token_are_named() {
    let Some(zenml) = server("ZENHOOK_ZENML_ENV") else {
        return;
    };
    let url = &zenml["ZENML_URL"];
    let admin = Admin::login(&zenml).await;
    let targets = [
        // The dashboard's address, as copied from the browser: HTML, not ZenML's API.
        target("dashboard", &format!("{url}/dashboard"), &api_key(&zenml)),
        target("apipath", &format!("{url}/api/v1"), &api_key(&zenml)),
        target("human", url, &format!("token = \"{}\"", admin.token)),
    ]
    .concat();
    let setup = setup(&targets, &[]).await;
    let report = check::check(Some(&setup.config)).await;
    let text = report.render_text();
    let dashboard = errors(&report, "target dashboard");
    assert_eq!(dashboard.len(), 1, "{text}");
    assert_eq!(dashboard[0].1, hints::not_zenml("dashboard"));
    let apipath = errors(&report, "target apipath");
    assert_eq!(apipath.len(), 1, "{text}");
    assert_eq!(apipath[0].1, hints::no_such_endpoint("apipath"));
    assert!(errors(&report, "target human").is_empty(), "{text}");
    assert_eq!(
        warnings(&report, "target human"),
        [
            hints::token_expires("human"),
            hints::human_user("human", &zenml["ZENML_ADMIN_USER"])
        ],
        "{text}"
    );
    assert!(!text.contains(&admin.token));
}

#[tokio::test]
async fn an_open_source_server_cannot_run_templates() {
    let Some(zenml) = server("ZENHOOK_ZENML_OSS_ENV") else {
        return;
    };
    let setup = setup(&target("oss", &zenml["ZENML_URL"], &api_key(&zenml)), &[]).await;
    let report = check::check(Some(&setup.config)).await;
    let refused = errors(&report, "target oss");
    assert_eq!(refused.len(), 1, "{}", report.render_text());
    assert_eq!(
        refused[0].0,
        "the server cannot run templates: HTTP 405: Method Not Allowed"
    );
    assert_eq!(
        refused[0].1,
        hints::for_status(
            Operation::ProbeRuns(TemplateOrSnapshot::Template),
            405,
            "oss"
        )
    );
}

// ---------------------------------------------------------------- finding templates

fn client(zenml: &HashMap<String, String>) -> ZenmlClient {
    let settings = zenhook::config::Settings::load_with_env(
        None,
        [
            (
                "ZENHOOK__TARGETS__PROD__URL".to_owned(),
                zenml["ZENML_URL"].clone(),
            ),
            (
                "ZENHOOK__TARGETS__PROD__API_KEY".to_owned(),
                zenml["ZENML_API_KEY"].clone(),
            ),
            (
                "ZENHOOK__TARGETS__PROD__PROJECT".to_owned(),
                "default".to_owned(),
            ),
        ],
    )
    .expect("a target from the environment");
    ZenmlClient::new(&settings.targets["prod"]).expect("a client")
}

#[tokio::test]
async fn templates_and_snapshots_are_listed_and_found_by_name() {
    let Some(zenml) = server("ZENHOOK_ZENML_ENV") else {
        return;
    };
    let client = client(&zenml);
    let templates = client
        .list_templates(TemplateOrSnapshot::Template, Some("probe"))
        .await
        .expect("a list");
    let probe = templates
        .iter()
        .find(|t| t.id == zenml["ZENML_TEMPLATE_ID"])
        .expect("the probe template is listed");
    assert_eq!(probe.name.as_deref(), Some("probe-template"));
    assert_eq!(probe.pipeline.as_deref(), Some("probe_pipeline"));
    assert!(probe.runnable);
    let none = client
        .list_templates(TemplateOrSnapshot::Template, Some("no-such-template-here"))
        .await
        .expect("a list");
    assert!(none.is_empty());

    let snapshots = client
        .find_by_name(TemplateOrSnapshot::Snapshot, "probe-template")
        .await
        .expect("a lookup");
    assert_eq!(snapshots.len(), 1);
    assert_eq!(snapshots[0].id, zenml["ZENML_SNAPSHOT_ID"]);
    let detail = client
        .template_detail(
            TemplateOrSnapshot::Template,
            zenml["ZENML_TEMPLATE_ID"].parse().unwrap(),
        )
        .await
        .expect("the template");
    assert_eq!(detail.steps, ["say_hello"]);
    assert_eq!(detail.dynamic, Some(false));
}

#[tokio::test]
async fn rules_that_name_a_template_or_snapshot_store_its_id() {
    let Some(zenml) = server("ZENHOOK_ZENML_ENV") else {
        return;
    };
    let config = format!(
        "[admin]\ntokens = [\"{ADMIN_TOKEN}\"]\n\n{}",
        target("prod", &zenml["ZENML_URL"], &api_key(&zenml))
    );
    let app = spawn_app(Backend::Sqlite, &config).await.expect("sqlite");
    let post = |rule: Value| {
        let request = app
            .client
            .post(app.url("/api/v1/rules"))
            .bearer_auth(ADMIN_TOKEN)
            .json(&rule);
        async move {
            let response = request.send().await.unwrap();
            let status = response.status().as_u16();
            (status, response.json::<Value>().await.unwrap())
        }
    };
    let (status, body) =
        post(json!({"name": "t", "target": "prod", "template": "probe-template"})).await;
    assert_eq!(status, 201, "{body:#}");
    assert_eq!(
        body["spec"]["template_id"],
        zenml["ZENML_TEMPLATE_ID"].as_str()
    );
    assert_eq!(body["spec"]["template"], "probe-template");

    let (status, body) =
        post(json!({"name": "s", "target": "prod", "snapshot": "probe-template"})).await;
    assert_eq!(status, 201, "{body:#}");
    assert_eq!(
        body["spec"]["snapshot_id"],
        zenml["ZENML_SNAPSHOT_ID"].as_str()
    );

    let (status, body) =
        post(json!({"name": "u", "target": "prod", "template": "probe-templat"})).await;
    assert_eq!(status, 400, "{body:#}");
    assert_eq!(body["error"]["field"], "template");
    let message = body["error"]["message"].as_str().unwrap();
    assert!(
        message.starts_with("no template is named \"probe-templat\" on target prod (candidates: ")
            && message.contains("probe-template"),
        "{message}"
    );
    app.stop().await;
}

//! `zenhook rules ...`: the real binary against a running service.

mod common;

use std::path::{Path, PathBuf};
use std::process::Output;

use common::{github_signature, spawn_app, Backend, TestApp};
use serde_json::Value;

const SECRET: &str = "It's a Secret to Everybody";
const TOKEN: &str = "cli-admin-token";
const TEMPLATE: &str = "7b5a4c1e-0000-4000-8000-000000000001";

fn config() -> String {
    format!(
        r#"
[admin]
tokens = ["{TOKEN}"]

[sources.github]
kind = "github"
secrets = ["{SECRET}"]
"#
    )
}

async fn app() -> TestApp {
    spawn_app(Backend::Sqlite, &config()).await.expect("sqlite")
}

/// Runs `zenhook rules <args>` with the service's URL and token from the environment.
async fn rules(app: &TestApp, args: &[&str]) -> Output {
    run(
        args,
        &[("ZENHOOK_URL", &app.url("")), ("ZENHOOK_TOKEN", TOKEN)],
    )
    .await
}

async fn run(args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut command = tokio::process::Command::new(env!("CARGO_BIN_EXE_zenhook"));
    command
        .arg("rules")
        .args(args)
        .env_remove("ZENHOOK_URL")
        .env_remove("ZENHOOK_TOKEN")
        .envs(env.iter().copied())
        .kill_on_drop(true);
    tokio::time::timeout(std::time::Duration::from_secs(60), command.output())
        .await
        .expect("the CLI finishes")
        .expect("the CLI runs")
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

fn assert_ok(output: &Output) -> String {
    assert!(
        output.status.success(),
        "exit {:?}\nstdout:\n{}\nstderr:\n{}",
        output.status,
        stdout(output),
        stderr(output)
    );
    stdout(output)
}

/// A failure: non-zero exit and exactly one line on standard error.
fn assert_fails(output: &Output) -> String {
    assert!(!output.status.success(), "should fail:\n{}", stdout(output));
    let text = stderr(output);
    assert_eq!(text.trim_end().lines().count(), 1, "one line: {text:?}");
    text
}

fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, text).expect("write");
    path
}

/// The stored rules by name: (name, version, spec).
async fn stored(app: &TestApp) -> Vec<(String, i64, Value)> {
    let list: Value = app
        .client
        .get(app.url("/api/v1/rules"))
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    list["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["name"].as_str().unwrap().to_owned(),
                r["version"].as_i64().unwrap(),
                r["spec"].clone(),
            )
        })
        .collect()
}

fn first_version() -> String {
    format!(
        r#"# Rules live in git; `zenhook rules apply` makes the service match.
- name: train-on-main
  events: [push]
  branches: [main]
  target: default
  template_id: {TEMPLATE}
  run_config:
    run_name: "train-{{{{ event.branch }}}}"
- name: nightly-eval
  events: [push]
  target: default
  template_id: {TEMPLATE}
- name: old-rule
  target: default
  template_id: {TEMPLATE}
"#
    )
}

fn second_version() -> String {
    format!(
        r#"- name: train-on-main
  events: [push]
  branches: [main, master]
  target: default
  template_id: {TEMPLATE}
  run_config:
    run_name: "train-{{{{ event.branch }}}}-{{{{ event.after[:8] }}}}"
- name: nightly-eval
  events: [push]
  enabled: true
  target: default
  template_id: {TEMPLATE}
- name: new-rule
  branches-ignore: [wip/**]
  target: default
  snapshot_id: 7b5a4c1e-0000-4000-8000-000000000002
"#
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn apply_makes_the_service_match_the_file() {
    let app = app().await;
    let dir = tempfile::tempdir().unwrap();
    let first = write(dir.path(), "rules.yaml", &first_version());

    let out = assert_ok(&rules(&app, &["apply", first.to_str().unwrap()]).await);
    assert_eq!(
        out,
        "+ create train-on-main\n+ create nightly-eval\n+ create old-rule\n\
         applied: 3 created, 0 updated, 0 deleted, 0 unchanged\n"
    );
    let names: Vec<String> = stored(&app).await.into_iter().map(|r| r.0).collect();
    assert_eq!(names, ["nightly-eval", "old-rule", "train-on-main"]);

    // A dry run shows the diff and changes nothing.
    let second = write(dir.path(), "rules-2.yaml", &second_version());
    let before = stored(&app).await;
    let out = assert_ok(&rules(&app, &["apply", "--dry-run", second.to_str().unwrap()]).await);
    let diff = "~ update train-on-main (fields: branches, run_config)\n\
                = unchanged nightly-eval\n\
                + create new-rule\n\
                - delete old-rule\n";
    assert_eq!(
        out,
        format!(
            "{diff}dry run: 1 to create, 1 to update, 1 to delete, 1 unchanged; nothing was changed\n"
        )
    );
    assert_eq!(stored(&app).await, before);

    // The real thing: the same diff, then the changes.
    let out = assert_ok(&rules(&app, &["apply", second.to_str().unwrap()]).await);
    assert_eq!(
        out,
        format!("{diff}applied: 1 created, 1 updated, 1 deleted, 1 unchanged\n")
    );
    let after = stored(&app).await;
    let summary: Vec<(&str, i64)> = after.iter().map(|r| (r.0.as_str(), r.1)).collect();
    assert_eq!(
        summary,
        [("new-rule", 1), ("nightly-eval", 1), ("train-on-main", 2)]
    );
    assert_eq!(
        after[2].2["branches"],
        serde_json::json!(["main", "master"])
    );
    assert_eq!(after[0].2["branches_ignore"], serde_json::json!(["wip/**"]));

    // Applying again changes nothing.
    let out = assert_ok(&rules(&app, &["apply", second.to_str().unwrap()]).await);
    assert!(
        out.ends_with("applied: 0 created, 0 updated, 0 deleted, 3 unchanged\n"),
        "{out}"
    );
    assert_eq!(stored(&app).await, after);

    // The list shows them.
    let out = assert_ok(&rules(&app, &["list"]).await);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 4, "{out}");
    assert!(lines[0].starts_with("NAME"), "{out}");
    assert!(lines[3].starts_with("train-on-main  2"), "{out}");
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn export_round_trips_through_apply() {
    let app = app().await;
    let dir = tempfile::tempdir().unwrap();
    let file = write(dir.path(), "rules.yaml", &second_version());
    assert_ok(&rules(&app, &["apply", file.to_str().unwrap()]).await);
    let before = stored(&app).await;

    let exported = assert_ok(&rules(&app, &["export"]).await);
    assert_eq!(
        zenhook::rules::parse_rules_yaml(&exported)
            .expect("export is a rule file")
            .len(),
        3
    );
    assert!(exported.contains("- name: train-on-main\n"), "{exported}");
    let again = write(dir.path(), "exported.yaml", &exported);
    let out = assert_ok(&rules(&app, &["apply", again.to_str().unwrap()]).await);
    assert_eq!(
        out,
        "= unchanged new-rule\n= unchanged nightly-eval\n= unchanged train-on-main\n\
         applied: 0 created, 0 updated, 0 deleted, 3 unchanged\n"
    );
    assert_eq!(stored(&app).await, before, "versions unchanged");
    // Exporting twice gives the same text.
    assert_eq!(assert_ok(&rules(&app, &["export"]).await), exported);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn test_prints_each_verdict_and_the_run_configs() {
    let app = app().await;
    let dir = tempfile::tempdir().unwrap();
    let file = write(dir.path(), "rules.yaml", &first_version());
    assert_ok(&rules(&app, &["apply", file.to_str().unwrap()]).await);
    let payload = common::fixture("github/push.json");
    let store = app.store().await;

    let out = assert_ok(
        &rules(
            &app,
            &[
                "test",
                "--source",
                "github",
                "--payload",
                payload.to_str().unwrap(),
                "--header",
                "X-GitHub-Event: push",
            ],
        )
        .await,
    );
    let expected_verdicts = [
        "  matched        nightly-eval\n",
        "  matched        old-rule\n",
        "  rejected       train-on-main: branches: \"master\" matches none of [main]\n",
    ];
    assert!(
        out.starts_with("event: github push repository=Codertocat/Hello-World branch=master"),
        "{out}"
    );
    for line in expected_verdicts {
        assert!(out.contains(line), "{line:?} in\n{out}");
    }
    assert!(out.contains("run configurations:\n"), "{out}");
    assert!(
        out.contains(&format!(
            "  nightly-eval -> target default, template {TEMPLATE}:\n"
        )),
        "{out}"
    );
    assert_eq!(
        store.count_deliveries().await.unwrap(),
        0,
        "a dry run stores nothing"
    );

    // A stored delivery, by id; JSON on request.
    let body = std::fs::read(&payload).unwrap();
    let response = app
        .client
        .post(app.url("/hooks/github"))
        .header("X-GitHub-Event", "push")
        .header("X-GitHub-Delivery", "cli-1")
        .header("X-Hub-Signature-256", github_signature(SECRET, &body))
        .body(body)
        .send()
        .await
        .unwrap();
    let answer: Value = response.json().await.unwrap();
    let id = answer["delivery_id"].as_str().unwrap().to_owned();
    let out = assert_ok(&rules(&app, &["test", "--delivery", &id]).await);
    for line in expected_verdicts {
        assert!(out.contains(line), "{line:?} in\n{out}");
    }
    let json: Value = serde_json::from_str(&assert_ok(
        &rules(&app, &["test", "--delivery", &id, "--json"]).await,
    ))
    .expect("--json prints JSON");
    assert_eq!(json["triggers"].as_array().map(Vec::len), Some(2));
    assert_eq!(store.count_deliveries().await.unwrap(), 1);

    // Without the event header the event type is unknown, rules on events reject it,
    // and the summary says what to pass.
    let out = assert_ok(
        &rules(
            &app,
            &[
                "test",
                "--source",
                "github",
                "--payload",
                payload.to_str().unwrap(),
            ],
        )
        .await,
    );
    assert!(out.starts_with("event: github unknown"), "{out}");
    assert!(out.contains("--header 'X-GitHub-Event: push'"), "{out}");
    assert!(
        out.contains("  rejected       nightly-eval: events:"),
        "{out}"
    );
    assert!(out.contains("  matched        old-rule\n"), "{out}");
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_rule_files_name_the_field_and_change_nothing() {
    let app = app().await;
    let dir = tempfile::tempdir().unwrap();
    let good = write(dir.path(), "good.yaml", &first_version());
    assert_ok(&rules(&app, &["apply", good.to_str().unwrap()]).await);
    let before = stored(&app).await;

    // Refused by the service (bad glob): the field, within the file.
    let bad_glob = write(
        dir.path(),
        "bad-glob.yaml",
        &format!(
            "- name: fine\n  target: default\n  template_id: {TEMPLATE}\n\
             - name: broken\n  branches: [\"[a\"]\n  target: default\n  template_id: {TEMPLATE}\n"
        ),
    );
    let output = rules(&app, &["apply", bad_glob.to_str().unwrap()]).await;
    let error = assert_fails(&output);
    assert!(error.contains("rules[1].branches[0]"), "{error}");
    assert!(error.contains("invalid glob"), "{error}");
    assert!(error.contains("nothing was changed"), "{error}");
    assert_eq!(
        stored(&app).await,
        before,
        "not even the valid rule was applied"
    );

    // Unknown target, refused by the service too.
    let bad_target = write(
        dir.path(),
        "bad-target.yaml",
        &format!("- name: x\n  target: staging\n  template_id: {TEMPLATE}\n"),
    );
    let error = assert_fails(&rules(&app, &["apply", bad_target.to_str().unwrap()]).await);
    assert!(error.contains("rules[0].target"), "{error}");
    assert!(error.contains("unknown target \"staging\""), "{error}");

    // Refused before asking the service (schema).
    let unknown_field = write(
        dir.path(),
        "unknown.yaml",
        &format!("- name: x\n  colour: red\n  target: default\n  template_id: {TEMPLATE}\n"),
    );
    let error = assert_fails(&rules(&app, &["apply", unknown_field.to_str().unwrap()]).await);
    assert!(error.contains("rules[0].colour"), "{error}");
    assert!(error.contains("unknown field"), "{error}");

    let not_a_list = write(dir.path(), "map.yaml", "name: x\n");
    let error = assert_fails(&rules(&app, &["apply", not_a_list.to_str().unwrap()]).await);
    assert!(error.contains("list of rules"), "{error}");

    let missing = dir.path().join("missing.yaml");
    let error = assert_fails(&rules(&app, &["apply", missing.to_str().unwrap()]).await);
    assert!(error.contains("cannot read"), "{error}");

    assert_eq!(stored(&app).await, before);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connection_comes_from_flags_environment_or_config() {
    let app = app().await;
    let dir = tempfile::tempdir().unwrap();

    // Flags.
    let out = assert_ok(&run(&["list", "--url", &app.url(""), "--token", TOKEN], &[]).await);
    assert_eq!(out, "no rules\n");

    // The service's configuration: [server] listen and the first admin token.
    let config = write(
        dir.path(),
        "zenhook.toml",
        &format!(
            "[server]\nlisten = \"{}\"\n\n[admin]\ntokens = [\"{TOKEN}\", \"other\"]\n",
            app.addr
        ),
    );
    let out = assert_ok(&run(&["list", "--config", config.to_str().unwrap()], &[]).await);
    assert_eq!(out, "no rules\n");

    // A wrong token: one line that says what to do.
    let error = assert_fails(
        &run(
            &["list"],
            &[("ZENHOOK_URL", &app.url("")), ("ZENHOOK_TOKEN", "wrong")],
        )
        .await,
    );
    assert!(error.contains("--token"), "{error}");

    // No token at all (defaults have none).
    let error = assert_fails(&run(&["list", "--url", &app.url("")], &[]).await);
    assert!(error.contains("refused the token"), "{error}");

    // Nobody listening.
    let error = assert_fails(
        &run(
            &["list", "--url", "http://127.0.0.1:9", "--token", TOKEN],
            &[],
        )
        .await,
    );
    assert!(error.contains("cannot reach the admin API"), "{error}");

    // A bad --header.
    let payload = common::fixture("github/push.json");
    let error = assert_fails(
        &rules(
            &app,
            &[
                "test",
                "--source",
                "github",
                "--payload",
                payload.to_str().unwrap(),
                "--header",
                "no colon",
            ],
        )
        .await,
    );
    assert!(error.contains("'Name: value'"), "{error}");

    // An unknown source, as the service says it.
    let error = assert_fails(
        &rules(
            &app,
            &[
                "test",
                "--source",
                "gitlab",
                "--payload",
                payload.to_str().unwrap(),
            ],
        )
        .await,
    );
    assert!(
        error.contains("no source is configured as \"gitlab\""),
        "{error}"
    );
    app.stop().await;
}

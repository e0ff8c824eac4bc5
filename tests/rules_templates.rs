//! run_config rendering: typed single-expression leaves, string templates, failures.

mod rules_support;

use rules_support::*;
use serde_json::{json, Value};
use zenhook::event::{Event, SenderKind};
use zenhook::rules::{CompiledRule, Verdict};

fn render(rule: &CompiledRule, event: &Event, payload: &Value) -> Result<Value, String> {
    match verdict_with(rule, "github", event, payload) {
        Verdict::Matched { run_config, .. } => Ok(run_config),
        Verdict::RenderFailed { reason } => Err(reason),
        other => panic!("expected a match or a render failure, got {other:?}"),
    }
}

fn pr_payload() -> Value {
    fixture("github/pull_request-opened.json")
}

#[test]
fn the_briefs_example_renders() {
    let rule = rule(concat!(
        "run_config:\n",
        "  run_name: \"train-{{ event.branch }}-{{ event.after[:8] }}\"\n",
        "  steps: { trainer: { parameters: { commit: \"{{ event.after }}\" } } }\n",
        "  tags: [webhook, \"{{ event.repository }}\"]\n",
    ));
    let payload = fixture("github/push.json");
    let rendered = render(&rule, &branch_push("main", &["a"]), &payload).expect("renders");
    assert_eq!(
        rendered,
        json!({
            "run_name": "train-main-6113728f",
            "steps": {"trainer": {"parameters": {"commit": "6113728f27ae82c7b1a177c8d03f9e96e0adf246"}}},
            "tags": ["webhook", "acme/ml-models"],
        })
    );
}

#[test]
fn a_single_expression_keeps_its_json_type() {
    let rule = rule(concat!(
        "run_config:\n",
        "  number: \"{{ payload.number }}\"\n",
        "  spaced: \"{{payload.number}}\"\n",
        "  trimmed: \"{{- payload.number -}}\"\n",
        "  locked: \"{{ payload.pull_request.locked }}\"\n",
        "  labels: \"{{ payload.pull_request.labels }}\"\n",
        "  base: \"{{ payload.pull_request.base.repo.owner }}\"\n",
        "  nothing: \"{{ none }}\"\n",
        "  sum: \"{{ payload.number + 1 }}\"\n",
    ));
    let payload = pr_payload();
    let rendered = render(&rule, &pull_request("changes", "master"), &payload).expect("renders");
    assert_eq!(rendered["number"], json!(2));
    assert_eq!(rendered["spaced"], json!(2));
    assert_eq!(rendered["trimmed"], json!(2));
    assert_eq!(rendered["locked"], json!(false));
    assert_eq!(rendered["labels"], payload["pull_request"]["labels"]);
    assert_eq!(
        rendered["base"],
        payload["pull_request"]["base"]["repo"]["owner"]
    );
    assert!(rendered["base"].is_object());
    assert_eq!(rendered["nothing"], Value::Null);
    assert_eq!(rendered["sum"], json!(3));
}

#[test]
fn a_leaf_with_text_around_the_expression_is_a_string() {
    let rule = rule(concat!(
        "run_config:\n",
        "  title: \"PR {{ payload.number }}\"\n",
        "  padded: \" {{ payload.number }}\"\n",
        "  two: \"{{ payload.number }}{{ payload.number }}\"\n",
        "  flag: \"{% if payload.pull_request.locked %}yes{% else %}no{% endif %}\"\n",
    ));
    let rendered =
        render(&rule, &pull_request("changes", "master"), &pr_payload()).expect("renders");
    assert_eq!(rendered["title"], json!("PR 2"));
    assert_eq!(rendered["padded"], json!(" 2"));
    assert_eq!(rendered["two"], json!("22"));
    assert_eq!(rendered["flag"], json!("no"));
}

#[test]
fn keys_and_non_string_leaves_are_kept_as_written() {
    let rule = rule(concat!(
        "run_config:\n",
        "  \"{{ key }}\": 1\n",
        "  enabled: true\n",
        "  ratio: 0.5\n",
        "  empty: null\n",
        "  plain: \"no template here\\n\"\n",
    ));
    let rendered = render(&rule, &branch_push("main", &["a"]), &json!({})).expect("renders");
    assert_eq!(
        rendered,
        json!({"{{ key }}": 1, "enabled": true, "ratio": 0.5, "empty": null, "plain": "no template here\n"})
    );
}

#[test]
fn the_source_name_is_in_the_context() {
    let rule = rule("run_config: { from: \"{{ source }}\" }");
    let mut event = Event::new(SenderKind::Gitlab, "push");
    event.branch = Some("main".into());
    match verdict_with(&rule, "gitlab-prod", &event, &json!({})) {
        Verdict::Matched { run_config, .. } => {
            assert_eq!(run_config, json!({"from": "gitlab-prod"}))
        }
        other => panic!("expected a match, got {other:?}"),
    }
}

#[test]
fn an_undefined_variable_is_a_render_failure_naming_the_leaf() {
    let event = branch_push("main", &["a"]);
    let typed = rule("run_config: { steps: { trainer: { n: \"{{ payload.missing }}\" } } }");
    let reason = render(&typed, &event, &json!({})).expect_err("undefined");
    assert!(
        reason.starts_with("run_config.steps.trainer.n: undefined value"),
        "{reason}"
    );
    let text = rule("run_config: { tags: [a, \"x-{{ nope }}\"] }");
    let reason = render(&text, &event, &json!({})).expect_err("undefined");
    assert!(reason.starts_with("run_config.tags[1]: "), "{reason}");
    assert!(reason.contains("undefined"), "{reason}");
    let deeper = rule("run_config: { a: \"{{ payload.nope.deeper }}\" }");
    let reason = render(&deeper, &event, &json!({})).expect_err("undefined");
    assert!(reason.contains("undefined"), "{reason}");
    let absent_field = rule("run_config: { tag: \"{{ event.tag }}\" }");
    assert!(render(&absent_field, &event, &json!({})).is_err());
}

#[test]
fn a_run_config_must_render_to_an_object() {
    let whole = rule("run_config: \"{{ payload.config }}\"");
    let event = branch_push("main", &["a"]);
    let rendered = render(&whole, &event, &json!({"config": {"run_name": "x"}})).expect("renders");
    assert_eq!(rendered, json!({"run_name": "x"}));
    let reason = render(&whole, &event, &json!({"config": "text"})).expect_err("not an object");
    assert_eq!(
        reason,
        "run_config must render to a JSON object, not a string"
    );
}

#[test]
fn a_runtime_error_in_a_filter_is_a_render_failure() {
    let rule =
        rule("run_config: { n: \"{{ payload.text | int }}\", m: \"{{ payload.text + 1 }}\" }");
    let reason =
        render(&rule, &branch_push("main", &["a"]), &json!({"text": "3"})).expect_err("str + int");
    assert!(
        reason.starts_with("run_config.m: invalid operation"),
        "{reason}"
    );
}

//! Validation: every refused rule names the field at fault.

mod rules_support;

use rules_support::*;
use uuid::Uuid;
use zenhook::rules::{parse_rules_yaml, Catalog, CompiledRule, RuleError, TriggerTarget};

fn assert_error(extra: &str, field: &str, message_part: &str) {
    let err = compile_error(extra);
    assert_eq!(err.field, field, "rule: {extra}: {err}");
    assert!(err.message.contains(message_part), "rule: {extra}: {err}");
}

fn unknown_target() -> zenhook::rules::RuleSpec {
    let mut spec = spec_named("r", "");
    spec.target = "prod".into();
    spec
}

#[test]
fn a_bad_glob_names_the_entry() {
    assert_eq!(
        compile_error("branches: [main, '[a']"),
        RuleError {
            field: "branches[1]".into(),
            message: "invalid glob \"[a\": unclosed character class".into(),
        }
    );
    assert_error(
        "tags_ignore: ['v[z-a]']",
        "tags_ignore[0]",
        "invalid range z-a",
    );
    assert_error("paths: ['ok/**', '+x']", "paths[1]", "'+' must follow");
    assert_error(
        "repositories: ['acme/[']",
        "repositories[0]",
        "unclosed character class",
    );
}

#[test]
fn a_list_of_only_exclusions_or_no_patterns_is_refused() {
    assert_error("branches: ['!main']", "branches", "only ! patterns");
    assert_error("paths: []", "paths", "empty pattern list");
}

#[test]
fn a_bad_regex_jsonpath_or_field_names_the_predicate() {
    assert_error(
        "when: [{ path: '$.a', matches: '(' }]",
        "when[0].matches",
        "invalid regex",
    );
    assert_error(
        "when: [{ path: '$.a', equals: 1 }, { path: '$[', equals: 1 }]",
        "when[1].path",
        "invalid JSONPath",
    );
    assert_error(
        "when: [{ field: colour, equals: red }]",
        "when[0].field",
        "unknown event field",
    );
    assert_error(
        "when: [{ path: '$.a' }]",
        "when[0]",
        "exactly one of `equals`",
    );
    let schema = parse_rules_yaml(
        "- name: a\n  target: default\n  when: [{ not: { path: '$.a', in: 3 } }]\n",
    )
    .expect_err("`in` takes a list");
    assert_eq!(schema.field, "rules[0]");
    assert!(schema.message.contains("expected a sequence"), "{schema}");
}

#[test]
fn template_syntax_errors_are_found_at_validation() {
    assert_error(
        "run_config: { steps: { trainer: { commit: \"{{ event.after \" } } }",
        "run_config.steps.trainer.commit",
        "invalid template",
    );
    assert_error(
        "run_config: { tags: [ok, \"{% if %}\"] }",
        "run_config.tags[1]",
        "invalid template",
    );
    assert_error(
        "run_config: { n: \"{{ 1 + }}\" }",
        "run_config.n",
        "invalid template",
    );
    assert_error("run_config: [a, b]", "run_config", "must be an object");
    assert_error(
        "run_config: \"text {{ x }}\"",
        "run_config",
        "must be an object",
    );
}

#[test]
fn unknown_sources_and_targets_are_refused() {
    assert_error(
        "sources: [github, gitbucket]",
        "sources[1]",
        "unknown source \"gitbucket\" (known: github, gitlab, gitea, bitbucket)",
    );
    let err = compile(unknown_target()).expect_err("unknown target");
    assert_eq!(err.field, "target");
    assert!(err.message.contains("unknown target \"prod\""), "{err}");
}

#[test]
fn exactly_one_of_template_id_and_snapshot_id_is_required() {
    let mut both = spec_named("r", "snapshot_id: 5d4c3b2a-1f0e-4d6c-8b5a-4c3d2e1f0a9b");
    assert_eq!(
        compile(both.clone()).expect_err("both").field,
        "template_id"
    );
    both.template_id = None;
    let snapshot = compile(both.clone()).expect("only a snapshot");
    assert_eq!(
        snapshot.target(),
        TriggerTarget::Snapshot(
            Uuid::parse_str("5d4c3b2a-1f0e-4d6c-8b5a-4c3d2e1f0a9b").expect("uuid")
        )
    );
    both.snapshot_id = None;
    let neither = compile(both).expect_err("neither");
    assert_eq!(neither.field, "template_id");
    assert!(neither.message.contains("exactly one"));
    let template = rule("");
    assert_eq!(
        template.target(),
        TriggerTarget::Template(Uuid::parse_str(TEMPLATE_ID).expect("uuid"))
    );
}

#[test]
fn an_include_list_and_its_ignore_list_cannot_both_be_set() {
    assert_error(
        "branches: [main]\nbranches-ignore: [dev]",
        "branches",
        "cannot both be set",
    );
    assert_error(
        "tags: ['v*']\ntags_ignore: ['v0*']",
        "tags",
        "cannot both be set",
    );
    assert_error(
        "paths: [a]\npaths-ignore: [b]",
        "paths",
        "cannot both be set",
    );
}

#[test]
fn an_empty_name_or_entry_is_refused() {
    let err = compile(spec_named("'  '", "")).expect_err("blank name");
    assert_eq!(err.field, "name");
    assert_error("events: [push, '']", "events[1]", "empty entry");
}

#[test]
fn unknown_fields_are_refused_and_aliases_accepted() {
    let err = parse_rules_yaml(&format!(
        "- name: a\n  target: default\n  template_id: {TEMPLATE_ID}\n  debounse: 5s\n"
    ))
    .expect_err("a misspelt field");
    assert_eq!(err.field, "rules[0].debounse");
    let aliased = parse_rules_yaml(&format!(
        "- name: a\n  target: default\n  template_id: {TEMPLATE_ID}\n  branches-ignore: [wip]\n  paths-ignore: ['docs/**']\n  tags-ignore: [x]\n"
    ))
    .expect("aliases");
    assert!(compile(aliased[0].clone()).is_ok());
}

#[test]
fn a_bad_uuid_is_a_schema_error() {
    let err = parse_rules_yaml("- name: a\n  target: default\n  template_id: 7b5a\n")
        .expect_err("bad uuid");
    assert_eq!(err.field, "rules[0]");
    assert!(
        err.message.contains("UUID") || err.message.contains("uuid"),
        "{err}"
    );
}

#[test]
fn a_disabled_rule_is_still_validated() {
    assert_error("enabled: false\nbranches: ['[']", "branches[0]", "unclosed");
}

#[test]
fn the_error_serialises_as_field_and_message() {
    let err = compile(unknown_target()).expect_err("unknown target");
    assert_eq!(
        serde_json::to_value(&err).expect("serialises"),
        serde_json::json!({"field": "target", "message": "unknown target \"prod\" (known: default, staging)"})
    );
    assert_eq!(
        err.to_string(),
        "target: unknown target \"prod\" (known: default, staging)"
    );
}

#[test]
fn an_empty_catalog_is_said_so() {
    let spec = spec_named("r", "sources: [github]");
    let none: Vec<String> = Vec::new();
    let targets = targets();
    let err = CompiledRule::compile(
        Uuid::nil(),
        1,
        spec,
        &Catalog {
            sources: &none,
            targets: &targets,
        },
    )
    .expect_err("no sources");
    assert_eq!(
        err.message,
        "unknown source \"github\" (the config defines none)"
    );
}

#[test]
fn compiled_rules_can_be_shared_across_threads() {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<CompiledRule>();
}

//! Helpers shared by the rules integration tests: rules from YAML fragments, events by hand.
#![allow(dead_code)]

use serde_json::{json, Value};
use uuid::Uuid;
use zenhook::event::{ChangedPaths, Event, SenderKind};
use zenhook::rules::{
    parse_rules_yaml, Catalog, CompiledRule, EvalInput, RuleError, RuleSpec, Verdict,
};

pub const TEMPLATE_ID: &str = "7b5a4c1e-2f3d-4a5b-8c6d-0e1f2a3b4c5d";

pub fn sources() -> Vec<String> {
    ["github", "gitlab", "gitea", "bitbucket"]
        .iter()
        .map(|s| s.to_string())
        .collect()
}

pub fn targets() -> Vec<String> {
    vec!["default".to_string(), "staging".to_string()]
}

/// A rule spec named `name` with `extra` YAML lines (unindented) added to a valid base.
pub fn spec_named(name: &str, extra: &str) -> RuleSpec {
    let mut text = format!("- name: {name}\n  target: default\n  template_id: {TEMPLATE_ID}\n");
    for line in extra.lines() {
        text.push_str("  ");
        text.push_str(line);
        text.push('\n');
    }
    let mut specs = parse_rules_yaml(&text).unwrap_or_else(|e| panic!("{e}\n{text}"));
    specs.remove(0)
}

pub fn compile(spec: RuleSpec) -> Result<CompiledRule, RuleError> {
    let (sources, targets) = (sources(), targets());
    let catalog = Catalog {
        sources: &sources,
        targets: &targets,
    };
    CompiledRule::compile(Uuid::from_u128(1), 3, spec, &catalog)
}

pub fn rule(extra: &str) -> CompiledRule {
    compile(spec_named("r", extra)).unwrap_or_else(|e| panic!("{e}"))
}

pub fn compile_error(extra: &str) -> RuleError {
    compile(spec_named("r", extra)).expect_err("the rule should be refused")
}

pub fn verdict(rule: &CompiledRule, event: &Event) -> Verdict {
    verdict_with(rule, "github", event, &json!({}))
}

pub fn verdict_with(rule: &CompiledRule, source: &str, event: &Event, payload: &Value) -> Verdict {
    rule.evaluate(&EvalInput {
        source,
        event,
        payload: &std::sync::Arc::new(payload.clone()),
    })
}

pub fn matched(rule: &CompiledRule, event: &Event) -> bool {
    matches!(verdict(rule, event), Verdict::Matched { .. })
}

/// The sentence of a rejection (panics on any other verdict).
pub fn rejection(rule: &CompiledRule, event: &Event) -> String {
    match verdict(rule, event) {
        Verdict::Rejected { reason, .. } => reason,
        other => panic!("expected a rejection, got {other:?}"),
    }
}

pub fn changed(paths: &[&str]) -> ChangedPaths {
    ChangedPaths {
        added: Vec::new(),
        modified: paths.iter().map(|p| p.to_string()).collect(),
        removed: Vec::new(),
        complete: true,
    }
}

pub fn branch_push(branch: &str, paths: &[&str]) -> Event {
    let mut event = Event::new(SenderKind::Github, "push");
    event.raw_event = Some("push".into());
    event.repository = Some("acme/ml-models".into());
    event.git_ref = Some(format!("refs/heads/{branch}"));
    event.branch = Some(branch.into());
    event.after = Some("6113728f27ae82c7b1a177c8d03f9e96e0adf246".into());
    event.changed_paths = Some(changed(paths));
    event
}

pub fn tag_push(tag: &str) -> Event {
    let mut event = Event::new(SenderKind::Github, "push");
    event.raw_event = Some("push".into());
    event.repository = Some("acme/ml-models".into());
    event.git_ref = Some(format!("refs/tags/{tag}"));
    event.tag = Some(tag.into());
    event.changed_paths = Some(changed(&[]));
    event
}

pub fn pull_request(source_branch: &str, target_branch: &str) -> Event {
    let mut event = Event::new(SenderKind::Github, "pull_request");
    event.raw_event = Some("pull_request".into());
    event.action = Some("opened".into());
    event.raw_action = Some("opened".into());
    event.repository = Some("acme/ml-models".into());
    event.pull_request = Some(2);
    event.source_branch = Some(source_branch.into());
    event.target_branch = Some(target_branch.into());
    event.head_repository = Some("acme/ml-models".into());
    event.fork = Some(false);
    event
}

pub fn fixture(path: &str) -> Value {
    let full = format!(
        "{}/../shared/fixtures/webhooks/{path}",
        env!("CARGO_MANIFEST_DIR")
    );
    let text = std::fs::read_to_string(&full).unwrap_or_else(|e| panic!("{full}: {e}"));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{full}: {e}"))
}

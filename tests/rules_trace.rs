//! The trace: one readable sentence per filter (golden), and routing over several rules.

mod rules_support;

use rules_support::*;
use serde_json::json;
use uuid::Uuid;
use zenhook::event::{Event, SenderKind};
use zenhook::rules::{route, EvalInput, Outcome, TraceEntry, Verdict};

fn assert_rejected(extra: &str, event: &Event, filter: &str, reason: &str) {
    let rule = rule(extra);
    match verdict(&rule, event) {
        Verdict::Rejected {
            filter: got_filter,
            reason: got_reason,
        } => {
            assert_eq!(got_reason, reason, "rule: {extra}");
            assert_eq!(got_filter, filter, "rule: {extra}");
        }
        other => panic!("rule {extra}: expected a rejection, got {other:?}"),
    }
}

#[test]
fn golden_sources() {
    let rule = rule("sources: [github]");
    match verdict_with(&rule, "gitlab", &branch_push("main", &["a"]), &json!({})) {
        Verdict::Rejected { filter, reason } => {
            assert_eq!(filter, "sources");
            assert_eq!(reason, "sources: \"gitlab\" is not one of [github]");
        }
        other => panic!("expected a rejection, got {other:?}"),
    }
}

#[test]
fn golden_events() {
    assert_rejected(
        "events: [push]",
        &pull_request("feature/x", "main"),
        "events",
        "events: \"pull_request\" is not one of [push]",
    );
    let mut pipeline = Event::new(SenderKind::Gitlab, "pipeline");
    pipeline.raw_event = Some("Pipeline Hook".into());
    assert_rejected(
        "events: [push, 'github:workflow_run']",
        &pipeline,
        "events",
        "events: \"pipeline\" (gitlab:Pipeline Hook) is not one of [push, github:workflow_run]",
    );
}

#[test]
fn golden_actions() {
    let mut closed = pull_request("feature/x", "main");
    closed.action = Some("closed".into());
    assert_rejected(
        "actions: [opened, updated]",
        &closed,
        "actions",
        "actions: \"closed\" is not one of [opened, updated]",
    );
    assert_rejected(
        "actions: [opened]",
        &branch_push("main", &["a"]),
        "actions",
        "actions: the event has no action, and the rule wants one of [opened]",
    );
}

#[test]
fn golden_repositories() {
    assert_rejected(
        "repositories: ['acme/web-*']",
        &branch_push("main", &["a"]),
        "repositories",
        "repositories: \"acme/ml-models\" matches none of [acme/web-*]",
    );
    assert_rejected(
        "repositories: ['acme/**', '!acme/ml-models']",
        &branch_push("main", &["a"]),
        "repositories",
        "repositories: \"acme/ml-models\" is excluded by !acme/ml-models",
    );
    let mut anonymous = branch_push("main", &["a"]);
    anonymous.repository = None;
    assert_rejected(
        "repositories: ['acme/*']",
        &anonymous,
        "repositories",
        "repositories: the event names no repository",
    );
}

#[test]
fn golden_forks() {
    let mut from_fork = pull_request("patch", "main");
    from_fork.fork = Some(true);
    from_fork.head_repository = Some("x/y".into());
    assert_rejected(
        "events: [pull_request]",
        &from_fork,
        "forks",
        "forks: pull request from a fork (head repository \"x/y\") and forks is false",
    );
    from_fork.head_repository = None;
    assert_rejected(
        "events: [pull_request]",
        &from_fork,
        "forks",
        "forks: pull request from a fork and forks is false",
    );
}

#[test]
fn golden_branches_and_tags() {
    assert_rejected(
        "branches: [main, 'release/**']",
        &branch_push("feature/x", &["a"]),
        "branches",
        "branches: \"feature/x\" matches none of [main, release/**]",
    );
    assert_rejected(
        "branches: ['release/**', '!release/**-alpha']",
        &branch_push("release/1-alpha", &["a"]),
        "branches",
        "branches: \"release/1-alpha\" is excluded by !release/**-alpha",
    );
    assert_rejected(
        "branches_ignore: ['wip/**']",
        &branch_push("wip/a", &["a"]),
        "branches_ignore",
        "branches_ignore: \"wip/a\" is ignored by wip/**",
    );
    assert_rejected(
        "tags: ['v*']",
        &branch_push("main", &["a"]),
        "tags",
        "tags: a branch push (\"main\") never matches a rule that filters only tags",
    );
    assert_rejected(
        "branches: [main]",
        &tag_push("v1.0"),
        "branches",
        "branches: a tag push (\"v1.0\") never matches a rule that filters only branches",
    );
    assert_rejected(
        "tags: ['v*']",
        &tag_push("1.0"),
        "tags",
        "tags: \"1.0\" matches none of [v*]",
    );
    assert_rejected(
        "tags: ['v*']",
        &pull_request("feature/x", "main"),
        "tags",
        "tags: a pull request into \"main\" never matches a rule that filters only tags",
    );
    let mut release = Event::new(SenderKind::Github, "release");
    release.tag = Some("0.0.1".into());
    assert_rejected(
        "branches: [main]",
        &release,
        "branches",
        "branches: a release event on tag \"0.0.1\" never matches a rule that filters only branches",
    );
    assert_rejected(
        "branches: [main]",
        &Event::new(SenderKind::Github, "ping"),
        "branches",
        "branches: the event names no branch or tag",
    );
}

#[test]
fn golden_paths() {
    assert_rejected(
        "paths: ['models/**', '!**/*.md']",
        &branch_push("main", &["models/README.md", "src/x.rs"]),
        "paths",
        "paths: no changed path matches [models/**, !**/*.md]",
    );
    assert_rejected(
        "paths_ignore: ['docs/**', '*.md']",
        &branch_push("main", &["docs/a", "README.md"]),
        "paths_ignore",
        "paths_ignore: every changed path is ignored by [docs/**, *.md]",
    );
    assert_rejected(
        "paths: ['**']",
        &branch_push("main", &[]),
        "paths",
        "paths: the event changed no files",
    );
    let mut capped = branch_push("main", &["README.md"]);
    if let Some(paths) = capped.changed_paths.as_mut() {
        paths.complete = false;
    }
    assert_rejected(
        "paths: ['models/**']\npaths_unknown: skip",
        &capped,
        "paths",
        "paths: the changed-path list is incomplete; skipped because paths_unknown is skip",
    );
    let mut no_list = branch_push("main", &[]);
    no_list.changed_paths = None;
    assert_rejected(
        "paths: ['models/**']\npaths_unknown: skip",
        &no_list,
        "paths",
        "paths: the event carries no changed-path list; skipped because paths_unknown is skip",
    );
}

#[test]
fn golden_paths_unknown_match_is_a_matched_trace_with_the_note() {
    let mut capped = branch_push("main", &["README.md"]);
    if let Some(paths) = capped.changed_paths.as_mut() {
        paths.complete = false;
    }
    let rule = rule("paths: ['models/**']");
    let verdict = verdict(&rule, &capped);
    let entry = TraceEntry::new(&rule, &verdict);
    assert_eq!(entry.outcome, Outcome::Matched);
    assert_eq!(entry.filter, None);
    assert_eq!(
        entry.reason,
        "paths: the changed-path list is incomplete; matched because paths_unknown is match"
    );
}

#[test]
fn golden_when() {
    let payload = fixture("github/workflow_run-completed.json");
    let mut run = Event::new(SenderKind::Github, "workflow_run");
    run.raw_event = Some("workflow_run".into());
    let passing = rule("when:\n  - { path: \"$.workflow_run.conclusion\", equals: \"success\" }");
    assert!(matches!(
        verdict_with(&passing, "github", &run, &payload),
        Verdict::Matched { .. }
    ));
    let mut failed = payload.clone();
    failed["workflow_run"]["conclusion"] = json!("failure");
    match verdict_with(&passing, "github", &run, &failed) {
        Verdict::Rejected { filter, reason } => {
            assert_eq!(filter, "when");
            assert_eq!(
                reason,
                "when[0]: $.workflow_run.conclusion is \"failure\", not \"success\""
            );
        }
        other => panic!("expected a rejection, got {other:?}"),
    }
    let second = rule(
        "when:\n  - { path: \"$.workflow_run.conclusion\", equals: \"success\" }\n  - { path: \"$.workflow_run.nope\", exists: true }",
    );
    match verdict_with(&second, "github", &run, &payload) {
        Verdict::Rejected { reason, .. } => {
            assert_eq!(reason, "when[1]: $.workflow_run.nope does not exist")
        }
        other => panic!("expected a rejection, got {other:?}"),
    }
}

#[test]
fn golden_matched_and_disabled() {
    let matching = rule("branches: [main]");
    let event = branch_push("main", &["a"]);
    let entry = TraceEntry::new(&matching, &verdict(&matching, &event));
    assert_eq!(
        entry,
        TraceEntry {
            rule_id: Uuid::from_u128(1),
            rule: "r".into(),
            version: 3,
            outcome: Outcome::Matched,
            filter: None,
            reason: "matched".into(),
        }
    );
    let disabled = rule("enabled: false");
    assert_eq!(verdict(&disabled, &event), Verdict::Disabled);
    let entry = TraceEntry::new(&disabled, &Verdict::Disabled);
    assert_eq!(
        (entry.outcome, entry.reason.as_str()),
        (Outcome::Disabled, "disabled")
    );
}

#[test]
fn trace_entries_serialise_with_snake_case_outcomes() {
    let rule = rule("run_config: { run_name: \"{{ payload.missing }}\" }");
    let entry = TraceEntry::new(&rule, &verdict(&rule, &branch_push("main", &["a"])));
    let json = serde_json::to_value(&entry).expect("serialises");
    assert_eq!(json["outcome"], "render_failed");
    assert_eq!(json["filter"], "run_config");
    assert_eq!(json["rule_id"], "00000000-0000-0000-0000-000000000001");
    let back: TraceEntry = serde_json::from_value(json).expect("deserialises");
    assert_eq!(back, entry);
}

#[test]
fn route_evaluates_every_rule_in_order_and_a_render_failure_does_not_stop_the_others() {
    let rules = vec![
        compile(spec_named(
            "train",
            "branches: [main]\nrun_config: { run_name: \"train-{{ event.branch }}\" }",
        ))
        .expect("valid"),
        compile(spec_named(
            "broken",
            "run_config: { run_name: \"{{ payload.nope.deeper }}\" }",
        ))
        .expect("valid"),
        compile(spec_named("tags-only", "tags: ['v*']")).expect("valid"),
        compile(spec_named("off", "enabled: false")).expect("valid"),
        compile(spec_named(
            "everything",
            "run_config: { source: \"{{ source }}\" }",
        ))
        .expect("valid"),
    ];
    let event = branch_push("main", &["models/a.py"]);
    let payload = json!({"ref": "refs/heads/main"});
    let routing = route(
        &rules,
        &EvalInput {
            source: "github",
            event: &event,
            payload: &std::sync::Arc::new(payload),
        },
    );
    let outcomes: Vec<(&str, Outcome)> = routing
        .trace
        .iter()
        .map(|t| (t.rule.as_str(), t.outcome))
        .collect();
    assert_eq!(
        outcomes,
        vec![
            ("train", Outcome::Matched),
            ("broken", Outcome::RenderFailed),
            ("tags-only", Outcome::Rejected),
            ("off", Outcome::Disabled),
            ("everything", Outcome::Matched),
        ]
    );
    assert!(
        routing.trace[1].reason.starts_with("run_config.run_name: "),
        "{}",
        routing.trace[1].reason
    );
    let matches: Vec<(&str, serde_json::Value)> = routing
        .matches
        .iter()
        .map(|m| (m.rule.spec.name.as_str(), m.run_config.clone()))
        .collect();
    assert_eq!(
        matches,
        vec![
            ("train", json!({"run_name": "train-main"})),
            ("everything", json!({"source": "github"})),
        ]
    );
}

#[test]
fn route_over_no_rules_is_empty() {
    let event = branch_push("main", &["a"]);
    let routing = route(
        &[],
        &EvalInput {
            source: "github",
            event: &event,
            payload: &std::sync::Arc::new(json!({})),
        },
    );
    assert!(routing.trace.is_empty() && routing.matches.is_empty());
}

//! Property-style: `normalise` never panics and keeps its invariants on hostile payloads.
//!
//! Shapes are generated deterministically: every field the normalisers read, set to values
//! of every wrong type, alone, all at once, and in pseudo-random mixes; plus every fixture
//! with single nodes replaced. Each shape goes through every sender and many event names.

mod event_support;

use http::HeaderMap;
use serde_json::{json, Map, Value};
use zenhook::event::*;

const SENDERS: [SenderKind; 8] = [
    SenderKind::Github,
    SenderKind::Gitlab,
    SenderKind::Bitbucket,
    SenderKind::Gitea,
    SenderKind::Forgejo,
    SenderKind::Standard,
    SenderKind::Hmac,
    SenderKind::Token,
];

const EVENT_NAMES: &[Option<&str>] = &[
    None,
    Some(""),
    Some("push"),
    Some("pull_request"),
    Some("release"),
    Some("workflow_run"),
    Some("workflow_job"),
    Some("check_suite"),
    Some("check_run"),
    Some("status"),
    Some("create"),
    Some("delete"),
    Some("ping"),
    Some("issues"),
    Some("Push Hook"),
    Some("Tag Push Hook"),
    Some("Merge Request Hook"),
    Some("Pipeline Hook"),
    Some("Release Hook"),
    Some("Job Hook"),
    Some("System Hook"),
    Some("repo:push"),
    Some("repo:refs_changed"),
    Some("repo:commit_status_updated"),
    Some("pullrequest:fulfilled"),
    Some("pullrequest:"),
    Some("pr:merged"),
    Some("pr:reviewer:approved"),
    Some("diagnostics:ping"),
    Some("\u{1f4a5} odd:name"),
];

/// Every path (object keys) any normaliser reads.
const FIELDS: &[&[&str]] = &[
    &["ref"],
    &["before"],
    &["after"],
    &["created"],
    &["deleted"],
    &["commits"],
    &["total_commits"],
    &["total_commits_count"],
    &["checkout_sha"],
    &["ref_type"],
    &["action"],
    &["number"],
    &["state"],
    &["tag"],
    &["type"],
    &["build_status"],
    &["object_kind"],
    &["event_name"],
    &["user_username"],
    &["repository"],
    &["repository", "full_name"],
    &["repository", "slug"],
    &["repository", "project"],
    &["repository", "project", "key"],
    &["sender"],
    &["sender", "login"],
    &["sender", "username"],
    &["pusher", "login"],
    &["pusher", "name"],
    &["user", "username"],
    &["actor"],
    &["actor", "nickname"],
    &["actor", "name"],
    &["project", "path_with_namespace"],
    &["pull_request"],
    &["pull_request", "number"],
    &["pull_request", "merged"],
    &["pull_request", "head"],
    &["pull_request", "head", "ref"],
    &["pull_request", "head", "repo"],
    &["pull_request", "head", "repo", "full_name"],
    &["pull_request", "base", "ref"],
    &["pull_request", "base", "repo", "full_name"],
    &["release"],
    &["release", "tag_name"],
    &["workflow_run"],
    &["workflow_run", "status"],
    &["workflow_run", "conclusion"],
    &["workflow_run", "head_branch"],
    &["workflow_run", "pull_requests"],
    &["check_suite", "pull_requests"],
    &["check_run", "check_suite", "head_branch"],
    &["workflow_job", "status"],
    &["object_attributes"],
    &["object_attributes", "action"],
    &["object_attributes", "iid"],
    &["object_attributes", "state"],
    &["object_attributes", "ref"],
    &["object_attributes", "tag"],
    &["object_attributes", "status"],
    &["object_attributes", "source", "path_with_namespace"],
    &["object_attributes", "target"],
    &["merge_request"],
    &["merge_request", "iid"],
    &["push"],
    &["push", "changes"],
    &["changes"],
    &["commit_status", "state"],
    &["pullrequest"],
    &["pullrequest", "id"],
    &["pullrequest", "state"],
    &["pullrequest", "source", "branch", "name"],
    &["pullrequest", "destination", "repository"],
    &["pullRequest"],
    &["pullRequest", "id"],
    &["pullRequest", "fromRef"],
    &["pullRequest", "fromRef", "id"],
    &["pullRequest", "toRef", "repository", "project", "key"],
];

/// Keys an array element is likely to be read through (commits, changes, pull requests).
const ELEMENT_KEYS: &[&str] = &[
    "added",
    "modified",
    "removed",
    "new",
    "old",
    "ref",
    "refId",
    "type",
    "number",
    "head",
    "base",
    "target",
    "name",
    "created",
    "closed",
    "fromHash",
    "toHash",
    "displayId",
];

fn scalars() -> Vec<Value> {
    vec![
        Value::Null,
        json!(true),
        json!(false),
        json!(0),
        json!(-1),
        json!(1.5),
        json!(u64::MAX),
        json!(i64::MIN),
        json!(""),
        json!(" "),
        json!("x"),
        json!("refs/heads/"),
        json!("refs/tags/"),
        json!("0000000000000000000000000000000000000000"),
        json!("\u{0}\u{fffd}\u{1f4a5}"),
    ]
}

/// Wrong values of every type: scalars, containers of them, objects that look half right.
fn wrong_values() -> Vec<Value> {
    let scalars = scalars();
    let mut values = scalars.clone();
    values.push(json!([]));
    values.push(json!({}));
    values.push(Value::Array(scalars.clone()));
    for scalar in &scalars {
        let element: Map<String, Value> = ELEMENT_KEYS
            .iter()
            .map(|key| ((*key).to_owned(), scalar.clone()))
            .collect();
        values.push(json!([Value::Object(element.clone()), scalar]));
        values.push(Value::Object(element));
    }
    let mut deep = json!("bottom");
    for _ in 0..100 {
        deep = json!([deep]);
    }
    values.push(deep);
    values
}

/// Sets `value` at `path`, replacing whatever is in the way by objects.
fn set(root: &mut Value, path: &[&str], value: Value) {
    let mut node = root;
    for key in path {
        if !node.is_object() {
            *node = Value::Object(Map::new());
        }
        let Value::Object(map) = node else {
            unreachable!("just made an object")
        };
        node = map.entry((*key).to_owned()).or_insert(Value::Null);
    }
    *node = value;
}

/// Deterministic pseudo-random numbers (64-bit LCG), so failures reproduce.
struct Lcg(u64);

impl Lcg {
    fn next(&mut self, bound: usize) -> usize {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        ((self.0 >> 33) as usize) % bound
    }
}

fn check(kind: SenderKind, event_name: Option<&str>, payload: &Value) {
    let envelope = Envelope {
        event: event_name.map(str::to_owned),
        delivery_id: None,
    };
    let e = normalise(kind, &envelope, &HeaderMap::new(), payload);
    let context = || format!("{kind} {event_name:?} {payload}");
    assert_eq!(e.sender, kind, "{}", context());
    assert!(!e.kind.is_empty(), "{}", context());
    assert_eq!(
        e.raw_event.as_deref(),
        event_name.filter(|n| !n.is_empty()),
        "{}",
        context()
    );
    assert!(e.branch.is_none() || e.tag.is_none(), "{}", context());
    let strings = [
        &e.raw_action,
        &e.action,
        &e.repository,
        &e.git_ref,
        &e.branch,
        &e.tag,
        &e.before,
        &e.after,
        &e.actor,
        &e.source_branch,
        &e.target_branch,
        &e.head_repository,
        &e.ci_status,
        &e.ci_conclusion,
    ];
    for field in strings.into_iter().flatten() {
        assert!(
            !field.is_empty(),
            "empty field in {:?} for {}",
            e,
            context()
        );
    }
    if let Some(paths) = &e.changed_paths {
        for list in [&paths.added, &paths.modified, &paths.removed] {
            let unique: std::collections::HashSet<&String> = list.iter().collect();
            assert_eq!(unique.len(), list.len(), "{}", context());
            assert!(list.iter().all(|p| !p.is_empty()), "{}", context());
        }
    }
    if e.fork.is_some() {
        assert!(e.head_repository.is_some(), "{}", context());
    }
    serde_json::to_value(&e).unwrap_or_else(|err| panic!("{err}: {}", context()));
}

fn check_everywhere(payload: &Value) {
    for kind in SENDERS {
        for name in EVENT_NAMES {
            check(kind, *name, payload);
        }
    }
}

#[test]
fn every_field_with_every_wrong_type() {
    let values = wrong_values();
    let mut shapes = 0;
    for path in FIELDS {
        for value in &values {
            let mut payload = json!({});
            set(&mut payload, path, value.clone());
            check_everywhere(&payload);
            shapes += 1;
        }
    }
    assert!(shapes > 1_000, "{shapes} shapes");
}

#[test]
fn all_fields_wrong_at_once() {
    for value in wrong_values() {
        let mut payload = json!({});
        for path in FIELDS {
            set(&mut payload, path, value.clone());
        }
        check_everywhere(&payload);
    }
}

#[test]
fn pseudo_random_mixes() {
    let values = wrong_values();
    let mut rng = Lcg(0x5eed_2026);
    for _ in 0..400 {
        let mut payload = json!({});
        for _ in 0..1 + rng.next(12) {
            let path = FIELDS[rng.next(FIELDS.len())];
            let value = values[rng.next(values.len())].clone();
            set(&mut payload, path, value);
        }
        check_everywhere(&payload);
    }
}

#[test]
fn non_object_payloads() {
    for value in wrong_values() {
        check_everywhere(&value);
    }
}

/// Every node of `value` as a path of object keys and array indices.
fn node_paths(value: &Value, prefix: &mut Vec<String>, out: &mut Vec<Vec<String>>) {
    match value {
        Value::Object(map) => {
            for (key, child) in map {
                prefix.push(key.clone());
                out.push(prefix.clone());
                node_paths(child, prefix, out);
                prefix.pop();
            }
        }
        Value::Array(items) => {
            for (index, child) in items.iter().enumerate() {
                prefix.push(index.to_string());
                out.push(prefix.clone());
                node_paths(child, prefix, out);
                prefix.pop();
            }
        }
        _ => {}
    }
}

fn replace_at(root: &mut Value, path: &[String], value: Value) {
    let mut node = root;
    for key in path {
        node = match node {
            Value::Object(map) => map.get_mut(key).expect("path from node_paths"),
            Value::Array(items) => {
                let index: usize = key.parse().expect("array index");
                items.get_mut(index).expect("path from node_paths")
            }
            _ => unreachable!("node_paths only descends into containers"),
        };
    }
    *node = value;
}

#[test]
fn fixtures_with_single_nodes_replaced() {
    let replacements = [
        Value::Null,
        json!(7),
        json!(""),
        json!("0000000000000000000000000000000000000000"),
        json!([null, 1]),
        json!({"x": []}),
    ];
    let mut mutations = 0;
    for (root, host, name) in event_support::all_fixtures() {
        let kind = event_support::sender_of(&host);
        let original = event_support::fixture_payload(root, &host, &name);
        let headers = event_support::fixture_headers(root, &host, &name);
        let env = envelope(kind, &EnvelopeSpec::default(), &headers, &original);
        let mut paths = Vec::new();
        node_paths(&original, &mut Vec::new(), &mut paths);
        // At most ~150 nodes per fixture, spread over the whole document.
        let stride = (paths.len() / 150).max(1);
        for path in paths.iter().step_by(stride) {
            for value in &replacements {
                let mut payload = original.clone();
                replace_at(&mut payload, path, value.clone());
                check(kind, env.event.as_deref(), &payload);
                mutations += 1;
            }
        }
    }
    assert!(mutations > 5_000, "{mutations} mutations");
}

//! `when` predicates: tests on the raw payload (JSONPath) or on a normalised event field.

use regex::Regex;
use serde_json::Value;
use serde_json_path::JsonPath;

use super::error::RuleError;
use super::spec::Predicate;

/// Top-level names of the serialised [`crate::event::Event`]; `field` must start with one.
/// A unit test checks this list against a fully populated event, so it cannot drift.
pub(crate) const EVENT_FIELDS: &[&str] = &[
    "sender",
    "kind",
    "raw_event",
    "action",
    "raw_action",
    "repository",
    "ref",
    "branch",
    "tag",
    "before",
    "after",
    "created",
    "deleted",
    "changed_paths",
    "actor",
    "pull_request",
    "source_branch",
    "target_branch",
    "head_repository",
    "fork",
    "merged",
    "ci_status",
    "ci_conclusion",
];

/// Longest rendering of a value in a trace sentence; payload nodes can be huge.
const MAX_SHOWN: usize = 120;

#[derive(Debug, Clone)]
enum Subject {
    Path { written: String, path: JsonPath },
    Field { segments: Vec<String> },
}

#[derive(Debug, Clone)]
enum Test {
    Equals(Value),
    OneOf(Vec<Value>),
    Matches { written: String, regex: Regex },
    Exists(bool),
}

/// A validated `when` entry.
#[derive(Debug, Clone)]
pub(crate) struct CompiledPredicate {
    subject: Subject,
    test: Test,
    /// True under an odd number of `not`s.
    negated: bool,
}

/// What a predicate reads: the raw payload and the serialised event.
pub(crate) struct Facts<'a> {
    pub payload: &'a Value,
    pub event: &'a Value,
}

impl CompiledPredicate {
    /// Validates one entry; `field` is where it sits (`when[0]`, `when[0].not`).
    pub(crate) fn compile(field: &str, predicate: &Predicate) -> Result<Self, RuleError> {
        if let Some(inner) = &predicate.not {
            let beside_not = Predicate {
                not: None,
                ..predicate.clone()
            };
            if beside_not != Predicate::default() {
                return Err(RuleError::new(
                    field,
                    "`not` stands alone: put path/field and the test inside it",
                ));
            }
            let mut compiled = CompiledPredicate::compile(&format!("{field}.not"), inner)?;
            compiled.negated = !compiled.negated;
            return Ok(compiled);
        }
        let subject = match (&predicate.path, &predicate.field) {
            (Some(written), None) => {
                let path = JsonPath::parse(written).map_err(|e| {
                    RuleError::new(
                        format!("{field}.path"),
                        format!("invalid JSONPath \"{written}\": {e}"),
                    )
                })?;
                Subject::Path {
                    written: written.clone(),
                    path,
                }
            }
            (None, Some(name)) => {
                let segments: Vec<String> = name.split('.').map(str::to_string).collect();
                let known = segments
                    .first()
                    .is_some_and(|top| EVENT_FIELDS.contains(&top.as_str()));
                if !known || segments.iter().any(String::is_empty) {
                    return Err(RuleError::new(
                        format!("{field}.field"),
                        format!(
                            "unknown event field \"{name}\" (known: {})",
                            EVENT_FIELDS.join(", ")
                        ),
                    ));
                }
                Subject::Field { segments }
            }
            _ => return Err(RuleError::new(
                field,
                "needs exactly one of `path` (JSONPath into the payload) or `field` (event field)",
            )),
        };
        let tests = [
            predicate.equals.is_some(),
            predicate.one_of.is_some(),
            predicate.matches.is_some(),
            predicate.exists.is_some(),
        ];
        if tests.iter().filter(|set| **set).count() != 1 {
            return Err(RuleError::new(
                field,
                "needs exactly one of `equals`, `in`, `matches`, `exists`",
            ));
        }
        let test = if let Some(expected) = &predicate.equals {
            Test::Equals(expected.clone())
        } else if let Some(options) = &predicate.one_of {
            Test::OneOf(options.clone())
        } else if let Some(written) = &predicate.matches {
            let regex = Regex::new(written).map_err(|e| {
                RuleError::new(
                    format!("{field}.matches"),
                    format!("invalid regex \"{written}\": {e}"),
                )
            })?;
            Test::Matches {
                written: written.clone(),
                regex,
            }
        } else {
            Test::Exists(predicate.exists.unwrap_or(true))
        };
        Ok(CompiledPredicate {
            subject,
            test,
            negated: false,
        })
    }

    /// `Ok` when the predicate holds, else the reason (without the `when[i]: ` prefix).
    pub(crate) fn check(&self, facts: &Facts<'_>) -> Result<(), String> {
        let nodes = self.nodes(facts);
        if self.holds_for(&nodes) != self.negated {
            return Ok(());
        }
        let subject = self.subject_text();
        let found = found_text(&nodes);
        if self.negated {
            return Err(format!(
                "{subject} {found}, which the rule excludes (not {})",
                self.test_text()
            ));
        }
        Err(match (&self.test, nodes.is_empty()) {
            (Test::Exists(true), _) => format!("{subject} does not exist"),
            (Test::Exists(false), _) => format!("{subject} exists ({})", values_text(&nodes)),
            (_, true) => format!(
                "{subject} does not exist, so it cannot satisfy {}",
                self.test_text()
            ),
            (Test::Equals(expected), false) => {
                format!("{subject} {found}, not {}", shown(expected))
            }
            (Test::OneOf(options), false) => {
                format!("{subject} {found}, not one of {}", list_text(options))
            }
            (Test::Matches { written, .. }, false) => {
                format!("{subject} {found}, which does not match {written}")
            }
        })
    }

    fn nodes<'a>(&self, facts: &Facts<'a>) -> Vec<&'a Value> {
        match &self.subject {
            Subject::Path { path, .. } => path.query(facts.payload).all(),
            Subject::Field { segments } => {
                let mut current = facts.event;
                for segment in segments {
                    match current.get(segment) {
                        Some(next) => current = next,
                        None => return Vec::new(),
                    }
                }
                vec![current]
            }
        }
    }

    /// The un-negated test: a subject with several nodes holds when any node does.
    fn holds_for(&self, nodes: &[&Value]) -> bool {
        match &self.test {
            Test::Equals(expected) => nodes.iter().any(|n| loosely_equal(n, expected)),
            Test::OneOf(options) => nodes
                .iter()
                .any(|n| options.iter().any(|o| loosely_equal(n, o))),
            Test::Matches { regex, .. } => nodes
                .iter()
                .any(|n| n.as_str().is_some_and(|s| regex.is_match(s))),
            Test::Exists(wanted) => nodes.is_empty() != *wanted,
        }
    }

    fn subject_text(&self) -> String {
        match &self.subject {
            Subject::Path { written, .. } => written.clone(),
            Subject::Field { segments } => format!("field {}", segments.join(".")),
        }
    }

    fn test_text(&self) -> String {
        match &self.test {
            Test::Equals(expected) => format!("equals {}", shown(expected)),
            Test::OneOf(options) => format!("in {}", list_text(options)),
            Test::Matches { written, .. } => format!("matches {written}"),
            Test::Exists(wanted) => format!("exists: {wanted}"),
        }
    }
}

/// JSON equality, plus a string equal to the text of a number or boolean (`"42"` = `42`),
/// since YAML authors and payloads disagree on quoting; numbers compare by value.
fn loosely_equal(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => {
            x == y || matches!((x.as_f64(), y.as_f64()), (Some(p), Some(q)) if p == q)
        }
        (Value::String(s), other @ (Value::Number(_) | Value::Bool(_)))
        | (other @ (Value::Number(_) | Value::Bool(_)), Value::String(s)) => {
            s.as_str() == other.to_string().as_str()
        }
        _ => a == b,
    }
}

fn found_text(nodes: &[&Value]) -> String {
    match nodes {
        [] => "does not exist".to_string(),
        [one] => format!("is {}", shown(one)),
        many => format!("selects {}", values_text(many)),
    }
}

fn values_text(nodes: &[&Value]) -> String {
    match nodes {
        [one] => shown(one),
        many => {
            let shown_all: Vec<String> = many.iter().map(|v| shown(v)).collect();
            truncate(format!("[{}]", shown_all.join(", ")))
        }
    }
}

fn list_text(values: &[Value]) -> String {
    let shown_all: Vec<String> = values.iter().map(shown).collect();
    truncate(format!("[{}]", shown_all.join(", ")))
}

fn shown(value: &Value) -> String {
    truncate(value.to_string())
}

fn truncate(mut text: String) -> String {
    if text.chars().count() > MAX_SHOWN {
        text = text.chars().take(MAX_SHOWN).collect();
        text.push('…');
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::{ChangedPaths, Event, SenderKind};
    use serde_json::json;

    fn predicate(value: Value) -> CompiledPredicate {
        let spec: Predicate = serde_json::from_value(value).expect("schema");
        CompiledPredicate::compile("when[0]", &spec).expect("valid predicate")
    }

    fn compile_error(value: Value) -> RuleError {
        let spec: Predicate = serde_json::from_value(value).expect("schema");
        CompiledPredicate::compile("when[0]", &spec).expect_err("invalid predicate")
    }

    fn check(p: &CompiledPredicate, payload: &Value, event: &Value) -> Result<(), String> {
        p.check(&Facts { payload, event })
    }

    #[test]
    fn equals_compares_json_values() {
        let p = predicate(json!({"path": "$.a", "equals": {"x": [1, 2]}}));
        assert!(check(&p, &json!({"a": {"x": [1, 2]}}), &json!({})).is_ok());
        assert!(check(&p, &json!({"a": {"x": [2, 1]}}), &json!({})).is_err());
    }

    #[test]
    fn strings_equal_the_text_of_numbers_and_booleans() {
        let number = predicate(json!({"path": "$.n", "equals": "42"}));
        assert!(check(&number, &json!({"n": 42}), &json!({})).is_ok());
        let text = predicate(json!({"path": "$.n", "equals": 42}));
        assert!(check(&text, &json!({"n": "42"}), &json!({})).is_ok());
        assert!(check(&text, &json!({"n": 42.0}), &json!({})).is_ok());
        let flag = predicate(json!({"path": "$.b", "equals": "true"}));
        assert!(check(&flag, &json!({"b": true}), &json!({})).is_ok());
        assert!(check(&flag, &json!({"b": "yes"}), &json!({})).is_err());
    }

    #[test]
    fn equals_null_needs_an_explicit_null() {
        let p = predicate(json!({"path": "$.x", "equals": null}));
        assert!(check(&p, &json!({"x": null}), &json!({})).is_ok());
        assert_eq!(
            check(&p, &json!({}), &json!({})),
            Err("$.x does not exist, so it cannot satisfy equals null".to_string())
        );
    }

    #[test]
    fn any_selected_node_satisfies_the_test() {
        let p = predicate(json!({"path": "$.labels[*].name", "equals": "train"}));
        let payload = json!({"labels": [{"name": "bug"}, {"name": "train"}]});
        assert!(check(&p, &payload, &json!({})).is_ok());
        let none = json!({"labels": [{"name": "bug"}, {"name": "docs"}]});
        assert_eq!(
            check(&p, &none, &json!({})),
            Err("$.labels[*].name selects [\"bug\", \"docs\"], not \"train\"".to_string())
        );
    }

    #[test]
    fn in_matches_and_exists_have_their_wording() {
        let one_of = predicate(json!({"field": "action", "in": ["opened", "reopened"]}));
        assert_eq!(
            check(&one_of, &json!({}), &json!({"action": "closed"})),
            Err("field action is \"closed\", not one of [\"opened\", \"reopened\"]".to_string())
        );
        let regex = predicate(json!({"path": "$.ref", "matches": "^refs/tags/v\\d+"}));
        assert!(check(&regex, &json!({"ref": "refs/tags/v12"}), &json!({})).is_ok());
        assert_eq!(
            check(&regex, &json!({"ref": "refs/heads/main"}), &json!({})),
            Err("$.ref is \"refs/heads/main\", which does not match ^refs/tags/v\\d+".to_string())
        );
        assert!(check(&regex, &json!({"ref": 7}), &json!({})).is_err());
        let exists = predicate(json!({"field": "tag", "exists": true}));
        assert_eq!(
            check(&exists, &json!({}), &json!({})),
            Err("field tag does not exist".to_string())
        );
        let absent = predicate(json!({"field": "tag", "exists": false}));
        assert_eq!(
            check(&absent, &json!({}), &json!({"tag": "v1"})),
            Err("field tag exists (\"v1\")".to_string())
        );
    }

    #[test]
    fn not_negates_its_entry() {
        let p = predicate(json!({"not": {"field": "action", "equals": "closed"}}));
        assert!(check(&p, &json!({}), &json!({"action": "opened"})).is_ok());
        assert!(check(&p, &json!({}), &json!({})).is_ok());
        assert_eq!(
            check(&p, &json!({}), &json!({"action": "closed"})),
            Err(
                "field action is \"closed\", which the rule excludes (not equals \"closed\")"
                    .to_string()
            )
        );
        let twice = predicate(json!({"not": {"not": {"field": "action", "equals": "closed"}}}));
        assert!(check(&twice, &json!({}), &json!({"action": "closed"})).is_ok());
    }

    #[test]
    fn nested_event_fields_are_reachable() {
        let p = predicate(json!({"field": "changed_paths.complete", "equals": false}));
        assert!(check(
            &p,
            &json!({}),
            &json!({"changed_paths": {"complete": false}})
        )
        .is_ok());
    }

    #[test]
    fn long_values_are_shortened_in_reasons() {
        let p = predicate(json!({"path": "$.x", "equals": "short"}));
        let long = "y".repeat(500);
        let reason = check(&p, &json!({"x": long}), &json!({})).expect_err("differs");
        assert!(reason.chars().count() < 200, "{reason}");
        assert!(reason.contains('…'));
    }

    #[test]
    fn malformed_entries_name_their_field() {
        assert_eq!(
            compile_error(json!({"path": "$[", "equals": 1})).field,
            "when[0].path"
        );
        assert_eq!(
            compile_error(json!({"path": "$.a", "matches": "("})).field,
            "when[0].matches"
        );
        assert_eq!(
            compile_error(json!({"field": "nope", "exists": true})).field,
            "when[0].field"
        );
        assert_eq!(compile_error(json!({"equals": 1})).field, "when[0]");
        assert_eq!(
            compile_error(json!({"path": "$.a", "field": "tag", "equals": 1})).field,
            "when[0]"
        );
        assert_eq!(compile_error(json!({"path": "$.a"})).field, "when[0]");
        assert_eq!(
            compile_error(json!({"path": "$.a", "equals": 1, "exists": true})).field,
            "when[0]"
        );
        assert_eq!(
            compile_error(json!({"path": "$.a", "not": {"path": "$.b", "exists": true}})).field,
            "when[0]"
        );
        assert_eq!(
            compile_error(json!({"not": {"path": "$[", "exists": true}})).field,
            "when[0].not.path"
        );
    }

    #[test]
    fn field_list_covers_every_serialised_event_field() {
        let mut event = Event::new(SenderKind::Github, "push");
        event.raw_event = Some("push".into());
        event.action = Some("a".into());
        event.raw_action = Some("a".into());
        event.repository = Some("o/r".into());
        event.git_ref = Some("refs/heads/main".into());
        event.branch = Some("main".into());
        event.tag = Some("v1".into());
        event.before = Some("0".into());
        event.after = Some("1".into());
        event.created = Some(true);
        event.deleted = Some(false);
        event.changed_paths = Some(ChangedPaths::default());
        event.actor = Some("me".into());
        event.pull_request = Some(1);
        event.source_branch = Some("s".into());
        event.target_branch = Some("t".into());
        event.head_repository = Some("f/r".into());
        event.fork = Some(true);
        event.merged = Some(false);
        event.ci_status = Some("completed".into());
        event.ci_conclusion = Some("success".into());
        let serialised = serde_json::to_value(&event).expect("serialises");
        let keys: Vec<&String> = serialised.as_object().expect("object").keys().collect();
        for key in &keys {
            assert!(
                EVENT_FIELDS.contains(&key.as_str()),
                "{key} missing from EVENT_FIELDS"
            );
        }
        assert_eq!(keys.len(), EVENT_FIELDS.len());
    }
}

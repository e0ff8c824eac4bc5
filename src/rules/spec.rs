//! The rule schema, as written in rule files and sent to the JSON API, and its parsing.

use std::collections::HashMap;

use serde::{Deserialize, Deserializer, Serialize};
use serde_json::Value;
use uuid::Uuid;

use super::error::RuleError;
use super::flow::{ConcurrencySpec, DebounceSpec};

/// One routing rule as the user wrote it. Field names are pinned: the same in YAML files
/// and in the JSON API. GitHub's dashed spellings of the `*_ignore` fields are accepted.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RuleSpec {
    pub name: String,
    #[serde(default = "enabled_by_default")]
    pub enabled: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Source names from the config; empty means any source.
    #[serde(default)]
    pub sources: Vec<String>,
    /// Normalised kinds (`push`) or `<sender>:<raw event>` (`github:workflow_run`); empty means any.
    #[serde(default)]
    pub events: Vec<String>,
    /// Normalised actions; empty means any.
    #[serde(default)]
    pub actions: Vec<String>,
    /// Globs over the repository's full name; empty means any.
    #[serde(default)]
    pub repositories: Vec<String>,
    /// Whether pull requests from forks may match.
    #[serde(default)]
    pub forks: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub branches: Option<Vec<String>>,
    #[serde(
        default,
        alias = "branches-ignore",
        skip_serializing_if = "Option::is_none"
    )]
    pub branches_ignore: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tags: Option<Vec<String>>,
    #[serde(
        default,
        alias = "tags-ignore",
        skip_serializing_if = "Option::is_none"
    )]
    pub tags_ignore: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub paths: Option<Vec<String>>,
    #[serde(
        default,
        alias = "paths-ignore",
        skip_serializing_if = "Option::is_none"
    )]
    pub paths_ignore: Option<Vec<String>>,
    #[serde(default)]
    pub paths_unknown: PathsUnknown,
    /// Predicates that must all hold.
    #[serde(default)]
    pub when: Vec<Predicate>,
    /// A target name from the config.
    pub target: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub template_id: Option<Uuid>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub snapshot_id: Option<Uuid>,
    /// A run template by name: the admin API resolves it on the target when the rule is
    /// saved, stores the id in `template_id` and keeps the name for display.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub template: Option<String>,
    /// A pipeline snapshot by name, resolved like `template` into `snapshot_id`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub snapshot: Option<String>,
    /// Rendered per event; string leaves are minijinja templates.
    #[serde(default = "empty_object")]
    pub run_config: Value,
    /// Matching events less than `window` apart (per rendered key) trigger once.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub debounce: Option<DebounceSpec>,
    /// At most `max_running` runs in flight per rendered key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub concurrency: Option<ConcurrencySpec>,
    /// Jobs of one concurrency key start in delivery order, also across retries.
    #[serde(default, skip_serializing_if = "is_false")]
    pub ordered: bool,
}

fn is_false(value: &bool) -> bool {
    !value
}

fn enabled_by_default() -> bool {
    true
}

fn empty_object() -> Value {
    Value::Object(serde_json::Map::new())
}

/// What a path filter does when the event's changed-path list is incomplete or absent.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PathsUnknown {
    /// Match anyway, as GitHub runs a workflow when it cannot compute the diff.
    #[default]
    Match,
    /// Do not match.
    Skip,
}

impl PathsUnknown {
    pub fn as_str(self) -> &'static str {
        match self {
            PathsUnknown::Match => "match",
            PathsUnknown::Skip => "skip",
        }
    }
}

/// One `when` entry: a subject (`path` into the raw payload, or `field` of the normalised
/// event) and exactly one test; or `not` wrapping another entry.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Predicate {
    /// A JSONPath over the raw payload (`$.workflow_run.conclusion`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    /// A normalised event field (`branch`, `ci_conclusion`, `changed_paths.complete`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
    /// Any JSON value, `null` included (hence the custom deserializer).
    #[serde(
        default,
        deserialize_with = "present_value",
        skip_serializing_if = "Option::is_none"
    )]
    pub equals: Option<Value>,
    #[serde(default, rename = "in", skip_serializing_if = "Option::is_none")]
    pub one_of: Option<Vec<Value>>,
    /// A regex, searched in string values.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub matches: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exists: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub not: Option<Box<Predicate>>,
}

/// Keeps an explicit `equals: null` apart from an absent `equals`.
fn present_value<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<Value>, D::Error> {
    Value::deserialize(deserializer).map(Some)
}

/// Parses a rule file: a YAML list of rules (an empty file is an empty list). Names must
/// be unique within the file. Only the schema is checked here; [`super::CompiledRule::compile`]
/// validates the rest against the config.
pub fn parse_rules_yaml(text: &str) -> Result<Vec<RuleSpec>, RuleError> {
    let document: serde_yaml::Value = serde_yaml::from_str(text)
        .map_err(|e| RuleError::new("rules", format!("invalid YAML: {e}")))?;
    let items = match document {
        serde_yaml::Value::Null => return Ok(Vec::new()),
        serde_yaml::Value::Sequence(items) => items,
        _ => {
            return Err(RuleError::new(
                "rules",
                "expected a list of rules (each item starting with \"- name: ...\")",
            ))
        }
    };
    let specs = items
        .into_iter()
        .enumerate()
        .map(|(index, item)| {
            serde_yaml::from_value::<RuleSpec>(item)
                .map_err(|e| schema_error(&e.to_string()).within(&format!("rules[{index}]")))
        })
        .collect::<Result<Vec<_>, _>>()?;
    check_unique_names(&specs)?;
    Ok(specs)
}

/// Parses one rule sent as JSON (the API's body), with the same schema as the YAML files.
pub fn parse_rule_json(text: &str) -> Result<RuleSpec, RuleError> {
    serde_json::from_str(text).map_err(|e| schema_error(&e.to_string()))
}

/// Refuses a second rule with a name already used; the field points at the second one.
pub fn check_unique_names(specs: &[RuleSpec]) -> Result<(), RuleError> {
    let mut first_use: HashMap<&str, usize> = HashMap::new();
    for (index, spec) in specs.iter().enumerate() {
        if let Some(first) = first_use.insert(spec.name.as_str(), index) {
            return Err(RuleError::new(
                format!("rules[{index}].name"),
                format!(
                    "duplicate rule name \"{}\" (also used by rules[{first}])",
                    spec.name
                ),
            ));
        }
    }
    Ok(())
}

/// Turns serde's message into a field-pointing error where serde names the field.
fn schema_error(message: &str) -> RuleError {
    let named_field = ["unknown field `", "missing field `", "duplicate field `"]
        .iter()
        .find_map(|prefix| message.strip_prefix(prefix))
        .and_then(|rest| rest.split('`').next());
    RuleError::new(named_field.unwrap_or_default(), message)
}

#[cfg(test)]
mod tests {
    use super::*;

    const MINIMAL: &str = "- name: a\n  target: default\n";

    #[test]
    fn defaults_apply_to_absent_fields() {
        let specs = parse_rules_yaml(MINIMAL).expect("valid");
        let spec = &specs[0];
        assert!(spec.enabled);
        assert!(!spec.forks);
        assert!(spec.sources.is_empty() && spec.events.is_empty() && spec.when.is_empty());
        assert_eq!(spec.paths_unknown, PathsUnknown::Match);
        assert_eq!(spec.run_config, serde_json::json!({}));
        assert_eq!(spec.branches, None);
    }

    #[test]
    fn empty_document_is_an_empty_list() {
        assert_eq!(parse_rules_yaml("").expect("valid"), vec![]);
        assert_eq!(parse_rules_yaml("# nothing\n").expect("valid"), vec![]);
    }

    #[test]
    fn a_mapping_is_not_a_rule_list() {
        let err = parse_rules_yaml("name: a\ntarget: default\n").expect_err("not a list");
        assert_eq!(err.field, "rules");
    }

    #[test]
    fn unknown_fields_are_refused_and_named() {
        let err = parse_rules_yaml("- name: a\n  target: default\n  colour: red\n")
            .expect_err("unknown field");
        assert_eq!(err.field, "rules[0].colour");
        assert!(err.message.starts_with("unknown field `colour`"));
    }

    #[test]
    fn missing_required_fields_are_named() {
        let err = parse_rules_yaml("- name: a\n").expect_err("no target");
        assert_eq!(err.field, "rules[0].target");
    }

    #[test]
    fn github_dashed_spellings_are_aliases() {
        let text = "- name: a\n  target: t\n  branches-ignore: [wip]\n  tags-ignore: [x]\n  paths-ignore: [docs/**]\n";
        let spec = &parse_rules_yaml(text).expect("valid")[0];
        assert_eq!(spec.branches_ignore, Some(vec!["wip".to_string()]));
        assert_eq!(spec.tags_ignore, Some(vec!["x".to_string()]));
        assert_eq!(spec.paths_ignore, Some(vec!["docs/**".to_string()]));
    }

    #[test]
    fn duplicate_names_point_at_the_second_rule() {
        let err = parse_rules_yaml(
            "- {name: a, target: t}\n- {name: b, target: t}\n- {name: a, target: t}\n",
        )
        .expect_err("duplicate");
        assert_eq!(err.field, "rules[2].name");
        assert!(err.message.contains("rules[0]"));
    }

    #[test]
    fn equals_null_is_kept_apart_from_no_equals() {
        let with_null: Predicate =
            serde_json::from_str(r#"{"path":"$.x","equals":null}"#).expect("valid");
        assert_eq!(with_null.equals, Some(Value::Null));
        let without: Predicate =
            serde_json::from_str(r#"{"path":"$.x","exists":true}"#).expect("valid");
        assert_eq!(without.equals, None);
    }

    #[test]
    fn json_round_trip_keeps_the_rule() {
        let text = r#"{"name":"a","target":"t","branches":["main"],"when":[{"not":{"field":"action","in":["closed"]}}],
            "template_id":"7b5a4c1e-0000-4000-8000-000000000001","run_config":{"run_name":"x"}}"#;
        let spec = parse_rule_json(text).expect("valid");
        let again = serde_json::to_string(&spec).expect("serialises");
        assert_eq!(parse_rule_json(&again).expect("valid"), spec);
    }

    #[test]
    fn json_unknown_field_is_named() {
        let err =
            parse_rule_json(r#"{"name":"a","target":"t","debounse":"5s"}"#).expect_err("unknown");
        assert_eq!(err.field, "debounse");
    }
}

//! `rules apply`: the changes that make the stored rules match a file. Rules are
//! matched by name; the file is the truth.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;

use serde_json::Value;

use crate::admin_client::RuleView;
use crate::rules::RuleSpec;

/// One step of a plan.
#[derive(Debug, Clone, PartialEq)]
pub enum Change {
    Create {
        spec: RuleSpec,
    },
    Update {
        id: String,
        spec: RuleSpec,
        /// The top-level fields that differ, sorted.
        fields: Vec<String>,
    },
    Delete {
        id: String,
        name: String,
    },
    Unchanged {
        name: String,
    },
}

impl Change {
    pub fn name(&self) -> &str {
        match self {
            Change::Create { spec } | Change::Update { spec, .. } => &spec.name,
            Change::Delete { name, .. } | Change::Unchanged { name } => name,
        }
    }
}

/// Every change, in the order they are shown and made: the file's rules in file order,
/// then the deletions by name.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Plan {
    pub changes: Vec<Change>,
}

impl Plan {
    pub fn new(desired: &[RuleSpec], stored: &[RuleView]) -> Plan {
        let by_name: BTreeMap<&str, &RuleView> = stored
            .iter()
            .map(|rule| (rule.name.as_str(), rule))
            .collect();
        let mut changes: Vec<Change> = desired
            .iter()
            .map(|spec| match by_name.get(spec.name.as_str()) {
                None => Change::Create { spec: spec.clone() },
                Some(existing) => {
                    let fields = differing_fields(spec, &existing.spec);
                    if fields.is_empty() {
                        Change::Unchanged {
                            name: spec.name.clone(),
                        }
                    } else {
                        Change::Update {
                            id: existing.id.clone(),
                            spec: spec.clone(),
                            fields,
                        }
                    }
                }
            })
            .collect();
        let wanted: BTreeSet<&str> = desired.iter().map(|spec| spec.name.as_str()).collect();
        changes.extend(
            by_name
                .iter()
                .filter(|(name, _)| !wanted.contains(*name))
                .map(|(name, rule)| Change::Delete {
                    id: rule.id.clone(),
                    name: (*name).to_owned(),
                }),
        );
        Plan { changes }
    }

    /// True when applying would change nothing.
    pub fn is_noop(&self) -> bool {
        self.changes
            .iter()
            .all(|change| matches!(change, Change::Unchanged { .. }))
    }

    /// One line per rule: `+ create a`, `~ update b (fields: branches)`, `- delete c`,
    /// `= unchanged d`.
    pub fn render(&self) -> String {
        let mut text = String::new();
        for change in &self.changes {
            let _ = match change {
                Change::Create { spec } => writeln!(text, "+ create {}", spec.name),
                Change::Update { spec, fields, .. } => writeln!(
                    text,
                    "~ update {} (fields: {})",
                    spec.name,
                    fields.join(", ")
                ),
                Change::Delete { name, .. } => writeln!(text, "- delete {name}"),
                Change::Unchanged { name } => writeln!(text, "= unchanged {name}"),
            };
        }
        text
    }

    /// `3 to create, 1 to update, 0 to delete, 2 unchanged`.
    pub fn counts(&self) -> (usize, usize, usize, usize) {
        self.changes
            .iter()
            .fold((0, 0, 0, 0), |(c, u, d, n), change| match change {
                Change::Create { .. } => (c + 1, u, d, n),
                Change::Update { .. } => (c, u + 1, d, n),
                Change::Delete { .. } => (c, u, d + 1, n),
                Change::Unchanged { .. } => (c, u, d, n + 1),
            })
    }
}

/// Compares both rules in their canonical form (parsed and written again), so spelling
/// (`branches-ignore`), omitted defaults and key order never count as changes.
fn differing_fields(desired: &RuleSpec, stored: &Value) -> Vec<String> {
    let canonical = |value: &Value| -> Option<serde_json::Map<String, Value>> {
        let spec: RuleSpec = serde_json::from_value(value.clone()).ok()?;
        match serde_json::to_value(spec).ok()? {
            Value::Object(map) => Some(map),
            _ => None,
        }
    };
    let desired = serde_json::to_value(desired)
        .ok()
        .and_then(|v| canonical(&v))
        .unwrap_or_default();
    let Some(stored) = canonical(stored) else {
        // A stored text this version cannot read: rewriting it is the only way forward.
        return vec!["spec".to_owned()];
    };
    // A name the service resolved when saving: the id it stored is not a change.
    let mut desired = desired;
    for (name, id) in [("template", "template_id"), ("snapshot", "snapshot_id")] {
        if desired.get(name).is_some() && desired.get(name) == stored.get(name) {
            if let (None, Some(resolved)) = (desired.get(id), stored.get(id)) {
                desired.insert(id.to_owned(), resolved.clone());
            }
        }
    }
    let keys: BTreeSet<&String> = desired.keys().chain(stored.keys()).collect();
    keys.into_iter()
        .filter(|key| desired.get(*key) != stored.get(*key))
        .cloned()
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules::parse_rules_yaml;

    fn stored(id: &str, yaml: &str) -> RuleView {
        let spec = parse_rules_yaml(yaml).expect("valid").remove(0);
        RuleView {
            id: id.into(),
            name: spec.name.clone(),
            version: 1,
            spec: serde_json::to_value(spec).expect("serialises"),
        }
    }

    const T: &str = "template_id: 7b5a4c1e-0000-4000-8000-000000000001";

    #[test]
    fn creates_updates_deletes_and_keeps() {
        let current = vec![
            stored("1", &format!("- name: keep\n  target: default\n  {T}\n")),
            stored(
                "2",
                &format!("- name: change\n  target: default\n  {T}\n  branches: [main]\n"),
            ),
            stored("3", &format!("- name: old\n  target: default\n  {T}\n")),
        ];
        let desired = parse_rules_yaml(&format!(
            "- name: new\n  target: default\n  {T}\n\
             - name: change\n  target: default\n  {T}\n  branches: [dev]\n  run_config: {{a: 1}}\n\
             - name: keep\n  enabled: true\n  target: default\n  {T}\n"
        ))
        .expect("valid");
        let plan = Plan::new(&desired, &current);
        assert_eq!(
            plan.render(),
            "+ create new\n~ update change (fields: branches, run_config)\n= unchanged keep\n- delete old\n"
        );
        assert_eq!(plan.counts(), (1, 1, 1, 1));
        assert!(!plan.is_noop());
        assert!(matches!(&plan.changes[1], Change::Update { id, .. } if id == "2"));
        assert!(matches!(&plan.changes[3], Change::Delete { id, .. } if id == "3"));
    }

    #[test]
    fn spelling_and_defaults_are_not_changes() {
        let current = vec![stored(
            "1",
            &format!("- name: a\n  target: default\n  {T}\n  branches_ignore: [wip]\n"),
        )];
        let desired = parse_rules_yaml(&format!(
            "- name: a\n  target: default\n  {T}\n  branches-ignore: [wip]\n  forks: false\n  paths_unknown: match\n  run_config: {{}}\n"
        ))
        .expect("valid");
        let plan = Plan::new(&desired, &current);
        assert!(plan.is_noop(), "{}", plan.render());
    }

    #[test]
    fn a_name_resolved_by_the_service_is_not_a_change() {
        let current = vec![stored(
            "1",
            &format!("- name: a\n  target: default\n  template: probe\n  {T}\n"),
        )];
        let same =
            parse_rules_yaml("- name: a\n  target: default\n  template: probe\n").expect("valid");
        assert!(Plan::new(&same, &current).is_noop());
        let renamed =
            parse_rules_yaml("- name: a\n  target: default\n  template: other\n").expect("valid");
        assert_eq!(
            Plan::new(&renamed, &current).render(),
            "~ update a (fields: template, template_id)\n"
        );
    }

    #[test]
    fn an_empty_file_deletes_everything() {
        let current = vec![stored(
            "1",
            &format!("- name: a\n  target: default\n  {T}\n"),
        )];
        let plan = Plan::new(&[], &current);
        assert_eq!(plan.render(), "- delete a\n");
    }
}

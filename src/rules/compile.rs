//! Validation: a [`RuleSpec`] becomes a [`CompiledRule`] only when every part of it is usable.

use uuid::Uuid;

use super::error::RuleError;
use super::filters::{Filter, PathFilter, RefFilters};
use super::flow::FlowTemplate;
use super::predicate::CompiledPredicate;
use super::spec::RuleSpec;
use super::template::RunConfigTemplate;

/// The names the config defines, which rules may refer to.
#[derive(Debug, Clone, Copy)]
pub struct Catalog<'a> {
    pub sources: &'a [String],
    pub targets: &'a [String],
}

/// What a matched rule triggers on its target.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TriggerTarget {
    Template(Uuid),
    Snapshot(Uuid),
}

/// A validated rule, ready to evaluate events.
#[derive(Debug, Clone)]
pub struct CompiledRule {
    pub id: Uuid,
    pub version: i64,
    pub spec: RuleSpec,
    pub(crate) matchers: Matchers,
}

/// Everything compiled out of the spec, so evaluation never fails on the rule itself.
#[derive(Debug, Clone)]
pub(crate) struct Matchers {
    pub trigger: TriggerTarget,
    pub repositories: Option<Filter>,
    pub refs: RefFilters,
    pub paths: Option<PathFilter>,
    pub when: Vec<CompiledPredicate>,
    pub run_config: RunConfigTemplate,
    pub flow: FlowTemplate,
}

impl CompiledRule {
    /// Validates everything (globs, regexes, JSONPaths, templates, unknown source or target,
    /// both or neither id, conflicting filters, empty name). The first problem is returned.
    pub fn compile(
        id: Uuid,
        version: i64,
        spec: RuleSpec,
        catalog: &Catalog<'_>,
    ) -> Result<CompiledRule, RuleError> {
        if spec.name.trim().is_empty() {
            return Err(RuleError::new("name", "a rule needs a non-empty name"));
        }
        for (index, source) in spec.sources.iter().enumerate() {
            if !catalog.sources.contains(source) {
                return Err(RuleError::new(
                    format!("sources[{index}]"),
                    format!("unknown source \"{source}\" ({})", known(catalog.sources)),
                ));
            }
        }
        if !catalog.targets.contains(&spec.target) {
            return Err(RuleError::new(
                "target",
                format!(
                    "unknown target \"{}\" ({})",
                    spec.target,
                    known(catalog.targets)
                ),
            ));
        }
        let trigger = trigger_of(&spec)?;
        for (field, entries) in [
            ("events", &spec.events),
            ("actions", &spec.actions),
            ("sources", &spec.sources),
        ] {
            if let Some(index) = entries.iter().position(|e| e.trim().is_empty()) {
                return Err(RuleError::new(
                    format!("{field}[{index}]"),
                    "an empty entry never matches",
                ));
            }
        }
        let repositories = if spec.repositories.is_empty() {
            None
        } else {
            Some(Filter::include("repositories", &spec.repositories)?)
        };
        let branches = Filter::compile_pair(
            ("branches", &spec.branches),
            ("branches_ignore", &spec.branches_ignore),
        )?;
        let tags = Filter::compile_pair(("tags", &spec.tags), ("tags_ignore", &spec.tags_ignore))?;
        let paths =
            Filter::compile_pair(("paths", &spec.paths), ("paths_ignore", &spec.paths_ignore))?
                .map(|filter| PathFilter::new(filter, spec.paths_unknown));
        let when = spec
            .when
            .iter()
            .enumerate()
            .map(|(index, p)| CompiledPredicate::compile(&format!("when[{index}]"), p))
            .collect::<Result<Vec<_>, _>>()?;
        let run_config = RunConfigTemplate::compile(&spec.run_config)?;
        let flow = FlowTemplate::compile(&spec.debounce, &spec.concurrency, spec.ordered)?;
        Ok(CompiledRule {
            id,
            version,
            matchers: Matchers {
                trigger,
                repositories,
                refs: RefFilters::new(branches, tags),
                paths,
                when,
                run_config,
                flow,
            },
            spec,
        })
    }

    /// The run template or snapshot a match triggers.
    pub fn target(&self) -> TriggerTarget {
        self.matchers.trigger
    }
}

/// Exactly one of `template_id`, `snapshot_id`, `template` and `snapshot`; a name beside
/// the id of the same kind is that id's label (the admin API stores both once it has
/// resolved the name).
fn trigger_of(spec: &RuleSpec) -> Result<TriggerTarget, RuleError> {
    const ONE_OF: &str = "set exactly one of template_id, snapshot_id, template and snapshot";
    let template = spec.template_id.is_some() || spec.template.is_some();
    let snapshot = spec.snapshot_id.is_some() || spec.snapshot.is_some();
    if template && snapshot {
        let field = if spec.template_id.is_some() {
            "template_id"
        } else {
            "template"
        };
        return Err(RuleError::new(field, format!("{ONE_OF}, not both kinds")));
    }
    for (field, name) in [("template", &spec.template), ("snapshot", &spec.snapshot)] {
        if name.as_deref().is_some_and(|n| n.trim().is_empty()) {
            return Err(RuleError::new(field, "the name is empty"));
        }
    }
    match (
        spec.template_id,
        spec.snapshot_id,
        &spec.template,
        &spec.snapshot,
    ) {
        (Some(id), None, _, _) => Ok(TriggerTarget::Template(id)),
        (None, Some(id), _, _) => Ok(TriggerTarget::Snapshot(id)),
        (None, None, Some(name), None) => Err(unresolved("template", name)),
        (None, None, None, Some(name)) => Err(unresolved("snapshot", name)),
        _ => Err(RuleError::new("template_id", ONE_OF)),
    }
}

/// A name reaches compilation unresolved only outside the admin API (a rule file
/// checked offline): the id comes from the target when the rule is saved.
fn unresolved(field: &str, name: &str) -> RuleError {
    RuleError::new(
        field,
        format!(
            "the {field} {name:?} is resolved to its id when the rule is saved through the admin API; give {field}_id to use the rule without it"
        ),
    )
}

fn known(names: &[String]) -> String {
    if names.is_empty() {
        "the config defines none".to_string()
    } else {
        format!("known: {}", names.join(", "))
    }
}

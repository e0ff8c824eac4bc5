//! `zenhook check`: a doctor that triggers nothing. It reads the configuration, the
//! database the configuration names (without migrating it) and asks every target's
//! ZenML what a trigger would depend on, then reports one finding per thing checked,
//! each warning and error with the sentence that says what to do (the same sentences
//! job errors carry: [`crate::zenml::hints`]).
//!
//! The findings are computed from the configuration, the store and ZenML's answers;
//! the I/O is only in asking for them.

mod credentials;
mod database;
mod report;
mod rule_targets;
mod run_config;
mod target;

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

pub use credentials::looks_like_jwt;
pub use report::{Finding, Level, Report};

use crate::config::Settings;
use crate::rule_cache::Known;
use crate::rules::TriggerTarget;

/// Loads the configuration (defaults, `file`, the environment) and checks everything.
pub async fn check(file: Option<&Path>) -> Report {
    let mut report = Report::default();
    let settings = match Settings::load(file) {
        Ok(settings) => settings,
        Err(error) => {
            report.error(
                "configuration",
                error.to_string(),
                "correct the setting it names; secrets given as { env = ... } or { file = ... } must resolve".into(),
            );
            return report;
        }
    };
    let shown = file
        .map(|f| format!("{} and the environment", f.display()))
        .unwrap_or_else(|| "the built-in defaults and the environment".into());
    report.ok(
        "configuration",
        format!("{shown} parse, and every secret they reference resolves"),
    );
    check_settings(&settings, &mut report).await;
    report
}

/// Checks loaded settings: the database and its rules, every target, every rule's
/// template or snapshot.
pub async fn check_settings(settings: &Settings, report: &mut Report) {
    if settings.implicit_target {
        report.warning(
            "targets",
            "none configured: jobs go to a shadow target named default that calls nothing",
            "add a [targets.<name>] table with url and api_key to trigger ZenML runs".into(),
        );
    }
    let known = Known {
        sources: settings.sources.keys().cloned().collect(),
        targets: settings.targets.keys().cloned().collect(),
    };
    let rules = database::check_database(settings, &known, report).await;

    // Snapshot runs are probed only where a rule needs them.
    let mut snapshot_targets = BTreeSet::new();
    for rule in &rules {
        if matches!(rule.target(), TriggerTarget::Snapshot(_)) {
            snapshot_targets.insert(rule.spec.target.clone());
        }
    }
    let mut reached = BTreeMap::new();
    for (name, target) in &settings.targets {
        if settings.implicit_target {
            continue;
        }
        let probe_snapshots = snapshot_targets.contains(name);
        if let Some(found) = target::check_target(target, probe_snapshots, report).await {
            reached.insert(name.clone(), found);
        }
    }
    for rule in &rules {
        if let Some(target) = settings.targets.get(&rule.spec.target) {
            rule_targets::check_rule(rule, target, reached.get(&rule.spec.target), report).await;
        }
    }
}

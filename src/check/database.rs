//! The database the configuration names: reachable, migrated (checked, never done
//! here), and its rules valid against the configuration's sources and targets.

use super::report::Report;
use crate::config::Settings;
use crate::rule_cache::{compile_row, Known};
use crate::rules::CompiledRule;
use crate::startup::redact_url;
use crate::store::{self, PoolSettings};
use crate::zenml::hints;

/// The stored rules that compile; the others are errors in `report`. None at all when
/// the database cannot be read or is not migrated.
pub async fn check_database(
    settings: &Settings,
    known: &Known,
    report: &mut Report,
) -> Vec<CompiledRule> {
    let url = redact_url(&settings.database.url);
    let pool = PoolSettings {
        max_connections: 1,
        acquire_timeout: settings.database.acquire_timeout,
    };
    let unreachable_fix = || {
        "check `database.url` and that the database server is up and accepts zenhook's user"
            .to_owned()
    };
    let status = match store::migration_status(&settings.database.url, &pool).await {
        Ok(status) => status,
        Err(error) => {
            report.error(
                "database",
                format!("cannot open {url}: {error}"),
                unreachable_fix(),
            );
            return Vec::new();
        }
    };
    if !status.exists {
        report.error(
            "database",
            format!("{url} does not exist yet"),
            hints::pending_migrations(),
        );
        return Vec::new();
    }
    if !status.pending.is_empty() {
        report.error(
            "database",
            format!(
                "{url} lacks {} migration(s): {}",
                status.pending.len(),
                status.pending.join(", ")
            ),
            hints::pending_migrations(),
        );
        return Vec::new();
    }
    let rows = match store::connect(&settings.database.url, &pool).await {
        Ok(store) => store.all_rules().await,
        Err(error) => Err(error),
    };
    let rows = match rows {
        Ok(rows) => rows,
        Err(error) => {
            report.error(
                "database",
                format!("cannot read the rules from {url}: {error}"),
                unreachable_fix(),
            );
            return Vec::new();
        }
    };
    report.ok(
        "database",
        format!(
            "{url} is reachable and migrated ({} migrations); {} rule(s) stored",
            status.applied,
            rows.len()
        ),
    );
    let mut rules = Vec::new();
    for row in &rows {
        match compile_row(row, known) {
            Ok(rule) => rules.push(rule),
            Err(message) => report.error(
                format!("rule {}", row.name),
                message,
                "correct the rule and apply it again (`zenhook rules apply`), or restore the source or target it names in the configuration".into(),
            ),
        }
    }
    rules
}

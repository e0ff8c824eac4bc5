//! The one error type of rule validation: which field is wrong, and why.

use serde::Serialize;

/// A rule that cannot be accepted. `field` names the offending spot the way a user would
/// write it (`branches[1]`, `when[0].path`, `run_config.steps.trainer`), so an API client or
/// a `zenhook rules check` run can point at it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, Serialize)]
#[error("{field}: {message}")]
pub struct RuleError {
    pub field: String,
    pub message: String,
}

impl RuleError {
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        RuleError {
            field: field.into(),
            message: message.into(),
        }
    }

    /// The same error seen from an enclosing structure (`rules[2]` + `branches[0]`).
    pub fn within(self, prefix: &str) -> Self {
        let field = if self.field.is_empty() {
            prefix.to_string()
        } else if self.field.starts_with('[') {
            format!("{prefix}{}", self.field)
        } else {
            format!("{prefix}.{}", self.field)
        };
        RuleError { field, ..self }
    }
}

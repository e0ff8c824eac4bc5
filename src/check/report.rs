//! The findings of one check, and how they are printed: one line each, or JSON.

use std::fmt::Write as _;

use serde::Serialize;
use serde_json::{json, Value};

use crate::zenml::{hints, TriggerError};

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Level {
    Ok,
    Warning,
    Error,
}

impl Level {
    pub fn as_str(self) -> &'static str {
        match self {
            Level::Ok => "ok",
            Level::Warning => "warning",
            Level::Error => "error",
        }
    }
}

/// One thing found: what it is about (`target prod`, `rule train`), what was found,
/// and for a warning or an error the one sentence that says what to do.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Finding {
    pub level: Level,
    pub subject: String,
    pub message: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fix: Option<String>,
}

impl Finding {
    /// `error   target prod: HTTP 401: ... — create a new key ...`
    pub fn line(&self) -> String {
        let mut line = format!(
            "{:<7} {}: {}",
            self.level.as_str(),
            self.subject,
            self.message
        );
        if let Some(fix) = &self.fix {
            line.push_str(" — ");
            line.push_str(fix);
        }
        line
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Report {
    pub findings: Vec<Finding>,
}

impl Report {
    pub fn push(
        &mut self,
        level: Level,
        subject: impl Into<String>,
        message: impl Into<String>,
        fix: Option<String>,
    ) {
        self.findings.push(Finding {
            level,
            subject: subject.into(),
            message: message.into(),
            fix,
        });
    }

    pub fn ok(&mut self, subject: impl Into<String>, message: impl Into<String>) {
        self.push(Level::Ok, subject, message, None);
    }

    pub fn warning(&mut self, subject: impl Into<String>, message: impl Into<String>, fix: String) {
        self.push(Level::Warning, subject, message, Some(fix));
    }

    pub fn error(&mut self, subject: impl Into<String>, message: impl Into<String>, fix: String) {
        self.push(Level::Error, subject, message, Some(fix));
    }

    /// A failed call to ZenML: its status and ZenML's words, and the hint as the fix
    /// (the same sentence a job's error would carry).
    pub fn zenml_error(&mut self, subject: impl Into<String>, target: &str, error: &TriggerError) {
        let (message, fix) = split(target, error);
        self.push(Level::Error, subject, message, Some(fix));
    }

    pub fn count(&self, level: Level) -> usize {
        self.findings.iter().filter(|f| f.level == level).count()
    }

    pub fn has_errors(&self) -> bool {
        self.count(Level::Error) > 0
    }

    /// Every finding on its line, then a summary line.
    pub fn render_text(&self) -> String {
        let mut text = String::new();
        for finding in &self.findings {
            let _ = writeln!(text, "{}", finding.line());
        }
        let _ = writeln!(
            text,
            "{} errors, {} warnings, {} ok",
            self.count(Level::Error),
            self.count(Level::Warning),
            self.count(Level::Ok)
        );
        text
    }

    pub fn to_json(&self) -> Value {
        json!({
            "ok": !self.has_errors(),
            "errors": self.count(Level::Error),
            "warnings": self.count(Level::Warning),
            "findings": self.findings,
        })
    }
}

/// A ZenML error as a finding: what happened, and what to do.
pub fn split(target: &str, error: &TriggerError) -> (String, String) {
    match error {
        TriggerError::Fatal {
            status,
            zenml,
            hint,
        } => {
            let mut message = match status {
                Some(status) => format!("HTTP {status}"),
                None => "refused".to_owned(),
            };
            if !zenml.is_empty() {
                message.push_str(": ");
                message.push_str(zenml);
            }
            (message, hint.clone())
        }
        TriggerError::Unreachable { .. } | TriggerError::Ambiguous { .. } => {
            (error.summary(), hints::unreachable(target))
        }
        TriggerError::Busy { .. }
        | TriggerError::Retryable { .. }
        | TriggerError::RunNameTaken { .. } => (error.summary(), hints::retry_later()),
    }
}

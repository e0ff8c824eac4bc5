//! Routing a delivery through every rule, and the per-rule trace kept with the delivery.

use serde::{Deserialize, Serialize};
use serde_json::Value;
use uuid::Uuid;

use super::compile::CompiledRule;
use super::evaluate::{EvalInput, Verdict};

/// The kind of a rule's verdict, as stored in a trace.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    Matched,
    Rejected,
    RenderFailed,
    Disabled,
}

/// One line of a delivery's trace.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct TraceEntry {
    pub rule_id: Uuid,
    pub rule: String,
    pub version: i64,
    pub outcome: Outcome,
    /// The filter that decided a rejection (`run_config` for a render failure).
    pub filter: Option<String>,
    /// One readable sentence: `matched`, a match's note, or why it did not match.
    pub reason: String,
}

impl TraceEntry {
    pub fn new(rule: &CompiledRule, verdict: &Verdict) -> Self {
        let (outcome, filter, reason) = match verdict {
            Verdict::Matched { note, .. } => (
                Outcome::Matched,
                None,
                note.clone().unwrap_or_else(|| "matched".to_string()),
            ),
            Verdict::Rejected { filter, reason } => {
                (Outcome::Rejected, Some(filter.to_string()), reason.clone())
            }
            Verdict::RenderFailed { reason } => (
                Outcome::RenderFailed,
                Some("run_config".to_string()),
                reason.clone(),
            ),
            Verdict::Disabled => (Outcome::Disabled, None, "disabled".to_string()),
        };
        TraceEntry {
            rule_id: rule.id,
            rule: rule.spec.name.clone(),
            version: rule.version,
            outcome,
            filter,
            reason,
        }
    }
}

/// The result of routing one delivery.
#[derive(Debug, Clone)]
pub struct Routing<'r> {
    /// One entry per rule, in the rules' order.
    pub trace: Vec<TraceEntry>,
    /// The rules that matched, each with its rendered run config.
    pub matches: Vec<(&'r CompiledRule, Value)>,
}

/// Evaluates every rule (in the given order), returning the trace and the matches. A rule
/// that fails to render is traced and skipped; it does not stop the others.
pub fn route<'r>(rules: &'r [CompiledRule], input: &EvalInput<'_>) -> Routing<'r> {
    let mut routing = Routing {
        trace: Vec::with_capacity(rules.len()),
        matches: Vec::new(),
    };
    for rule in rules {
        let verdict = rule.evaluate(input);
        routing.trace.push(TraceEntry::new(rule, &verdict));
        if let Verdict::Matched { run_config, .. } = verdict {
            routing.matches.push((rule, run_config));
        }
    }
    routing
}

//! Routing a delivery through every rule, and the per-rule trace kept with the delivery.

use serde::{Deserialize, Serialize};
use serde_json::Value;
use uuid::Uuid;

use super::compile::CompiledRule;
use super::evaluate::{EvalInput, Verdict};
use super::flow::Flow;

/// Says in the trace what flow control will do with a match.
fn flow_note(flow: &Flow) -> Option<String> {
    let mut parts = Vec::new();
    if let Some(d) = &flow.debounce {
        parts.push(format!(
            "debounced by key \"{}\" (window {})",
            d.key,
            humantime::format_duration(d.window)
        ));
    }
    if let Some(c) = &flow.concurrency {
        parts.push(format!(
            "at most {} running for key \"{}\" ({}{})",
            c.max_running,
            c.key,
            c.on_busy.as_str(),
            if flow.ordered { ", in order" } else { "" }
        ));
    }
    (!parts.is_empty()).then(|| parts.join("; "))
}

/// The kind of a rule's verdict, as stored in a trace.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    Matched,
    Rejected,
    RenderFailed,
    Disabled,
    /// Matched, then debounced: a later event's job replaced this one's.
    Superseded,
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

/// One rule that matched, with what it renders to.
#[derive(Debug, Clone)]
pub struct Match<'r> {
    pub rule: &'r CompiledRule,
    pub run_config: Value,
    pub flow: Flow,
}

/// The result of routing one delivery.
#[derive(Debug, Clone)]
pub struct Routing<'r> {
    /// One entry per rule, in the rules' order.
    pub trace: Vec<TraceEntry>,
    /// The rules that matched, each with its rendered run config and flow keys.
    pub matches: Vec<Match<'r>>,
}

/// Evaluates every rule (in the given order), returning the trace and the matches. A rule
/// that fails to render is traced and skipped; it does not stop the others.
pub fn route<'r>(rules: &'r [CompiledRule], input: &EvalInput<'_>) -> Routing<'r> {
    let mut routing = Routing {
        trace: Vec::with_capacity(rules.len()),
        matches: Vec::new(),
    };
    for rule in rules {
        let mut verdict = rule.evaluate(input);
        let mut flow = Flow::default();
        if let Verdict::Matched { .. } = verdict {
            match rule.render_flow(input) {
                Ok(rendered) => flow = rendered,
                // A key that cannot render is a render failure like any other.
                Err(reason) => verdict = Verdict::RenderFailed { reason },
            }
        }
        let mut entry = TraceEntry::new(rule, &verdict);
        if let Some(note) = flow_note(&flow) {
            entry.reason = if entry.reason == "matched" {
                format!("matched; {note}")
            } else {
                format!("{}; {note}", entry.reason)
            };
        }
        routing.trace.push(entry);
        if let Verdict::Matched { run_config, .. } = verdict {
            routing.matches.push(Match {
                rule,
                run_config,
                flow,
            });
        }
    }
    routing
}

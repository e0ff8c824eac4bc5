//! Evaluating one rule against one event: each filter in turn, then rendering.

use std::sync::Arc;

use serde_json::Value;

use crate::event::Event;

use super::compile::CompiledRule;
use super::filters::Rejection;
use super::predicate::Facts;
use super::template::RenderInput;

/// One delivery as the rules see it.
#[derive(Debug, Clone, Copy)]
pub struct EvalInput<'a> {
    /// The configured source name the delivery came in on.
    pub source: &'a str,
    pub event: &'a Event,
    /// The raw JSON payload, shared so that templates can read it without a copy.
    pub payload: &'a Arc<Value>,
}

/// What one rule says about one delivery.
#[derive(Debug, Clone, PartialEq)]
pub enum Verdict {
    Matched {
        run_config: Value,
        /// Said when the match was not certain (e.g. paths unknown, matched anyway).
        note: Option<String>,
    },
    Rejected {
        filter: &'static str,
        /// A readable sentence starting with the filter's name.
        reason: String,
    },
    RenderFailed {
        reason: String,
    },
    Disabled,
}

impl CompiledRule {
    /// Runs the filters in a fixed order (sources, events, actions, repositories, forks,
    /// branches/tags, paths, when) and renders the run config when all pass.
    pub fn evaluate(&self, input: &EvalInput<'_>) -> Verdict {
        if !self.spec.enabled {
            return Verdict::Disabled;
        }
        let note = match self.filter(input) {
            Ok(note) => note,
            Err(Rejection { filter, reason }) => return Verdict::Rejected { filter, reason },
        };
        let rendered = self.matchers.run_config.render(&RenderInput {
            source: input.source,
            event: input.event,
            payload: input.payload,
        });
        match rendered {
            Ok(run_config) => Verdict::Matched { run_config, note },
            Err(reason) => Verdict::RenderFailed { reason },
        }
    }

    /// Renders the flow-control keys of a match.
    pub fn render_flow(&self, input: &EvalInput<'_>) -> Result<super::flow::Flow, String> {
        self.matchers.flow.render(&RenderInput {
            source: input.source,
            event: input.event,
            payload: input.payload,
        })
    }

    fn filter(&self, input: &EvalInput<'_>) -> Result<Option<String>, Rejection> {
        let spec = &self.spec;
        let event = input.event;
        if !spec.sources.is_empty() && !spec.sources.iter().any(|s| s == input.source) {
            return Err(Rejection::new(
                "sources",
                format!(
                    "sources: \"{}\" is not one of {}",
                    input.source,
                    list(&spec.sources)
                ),
            ));
        }
        if !spec.events.is_empty() {
            let qualified = event
                .raw_event
                .as_ref()
                .map(|raw| format!("{}:{raw}", event.sender));
            let listed = |entry: &String| {
                *entry == event.kind || qualified.as_ref().is_some_and(|q| q == entry)
            };
            if !spec.events.iter().any(listed) {
                let also = match &event.raw_event {
                    Some(raw) if *raw != event.kind => {
                        format!(" ({})", qualified.unwrap_or_default())
                    }
                    _ => String::new(),
                };
                return Err(Rejection::new(
                    "events",
                    format!(
                        "events: \"{}\"{also} is not one of {}",
                        event.kind,
                        list(&spec.events)
                    ),
                ));
            }
        }
        if !spec.actions.is_empty() {
            match &event.action {
                None => {
                    return Err(Rejection::new(
                        "actions",
                        format!(
                            "actions: the event has no action, and the rule wants one of {}",
                            list(&spec.actions)
                        ),
                    ))
                }
                Some(action) if !spec.actions.contains(action) => {
                    return Err(Rejection::new(
                        "actions",
                        format!(
                            "actions: \"{action}\" is not one of {}",
                            list(&spec.actions)
                        ),
                    ))
                }
                Some(_) => {}
            }
        }
        if let Some(repositories) = &self.matchers.repositories {
            match &event.repository {
                None => {
                    return Err(Rejection::new(
                        "repositories",
                        "repositories: the event names no repository",
                    ))
                }
                Some(repository) => repositories.check_name(repository)?,
            }
        }
        if !spec.forks && event.fork == Some(true) {
            let head = match &event.head_repository {
                Some(head) => format!(" (head repository \"{head}\")"),
                None => String::new(),
            };
            return Err(Rejection::new(
                "forks",
                format!("forks: pull request from a fork{head} and forks is false"),
            ));
        }
        self.matchers.refs.check(event)?;
        let note = match &self.matchers.paths {
            Some(paths) => paths.check(event)?,
            None => None,
        };
        if !self.matchers.when.is_empty() {
            // Serialising an Event cannot fail (plain strings, numbers and booleans).
            let event_json = serde_json::to_value(event).unwrap_or(Value::Null);
            let facts = Facts {
                payload: input.payload,
                event: &event_json,
            };
            for (index, predicate) in self.matchers.when.iter().enumerate() {
                predicate
                    .check(&facts)
                    .map_err(|why| Rejection::new("when", format!("when[{index}]: {why}")))?;
            }
        }
        Ok(note)
    }
}

fn list(entries: &[String]) -> String {
    format!("[{}]", entries.join(", "))
}

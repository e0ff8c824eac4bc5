//! Routing rules: which deliveries trigger which ZenML run, with what run config.
//!
//! A [`RuleSpec`] is what users write (YAML file or JSON API); [`CompiledRule::compile`]
//! validates it against the config's [`Catalog`]; [`route`] evaluates every rule for one
//! delivery and returns a readable [`TraceEntry`] per rule plus the rendered run configs.
//! Pure: no I/O, no clock, no global state.

mod compile;
mod error;
mod evaluate;
mod filters;
mod flow;
mod glob;
mod json_object;
mod predicate;
mod spec;
mod template;
mod trace;

pub use compile::{Catalog, CompiledRule, TriggerTarget};
pub use error::RuleError;
pub use evaluate::{EvalInput, Verdict};
pub use flow::{Concurrency, ConcurrencySpec, Debounce, DebounceSpec, Flow, OnBusy};
pub use spec::{
    check_unique_names, parse_rule_json, parse_rules_yaml, PathsUnknown, Predicate, RuleSpec,
};
pub use trace::{route, Match, Outcome, Routing, TraceEntry};

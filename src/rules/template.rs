//! `run_config` templating: every string leaf is a minijinja template rendered per event.
//!
//! A leaf that is exactly one `{{ expression }}` keeps the expression's JSON type, so
//! `"{{ payload.number }}"` gives a number and `"{{ payload.inputs }}"` an object; any other
//! templated leaf renders to a string. Keys are never rendered.

use minijinja::{Environment, UndefinedBehavior};
use serde_json::{Map, Value};

use crate::event::Event;

use super::error::RuleError;

/// How one string leaf is rendered.
enum Leaf<'a> {
    /// No template syntax: kept byte for byte.
    Plain,
    /// Exactly one `{{ ... }}`: evaluated, keeping the value's type.
    Expression(&'a str),
    /// Anything else with template syntax: rendered to a string.
    Template,
}

fn classify(text: &str) -> Leaf<'_> {
    if !["{{", "{%", "{#"].iter().any(|open| text.contains(open)) {
        return Leaf::Plain;
    }
    let inner = text
        .strip_prefix("{{")
        .and_then(|rest| rest.strip_suffix("}}"))
        .filter(|inner| {
            !["{{", "}}", "{%", "%}", "{#", "#}"]
                .iter()
                .any(|t| inner.contains(t))
        });
    match inner {
        // `{{-` and `-}}` are whitespace control, meaningless around a lone expression.
        Some(inner) => {
            let inner = inner.strip_prefix('-').unwrap_or(inner);
            Leaf::Expression(inner.strip_suffix('-').unwrap_or(inner))
        }
        None => Leaf::Template,
    }
}

/// A validated `run_config`, with the environment its templates render in.
#[derive(Debug, Clone)]
pub(crate) struct RunConfigTemplate {
    config: Value,
    env: Environment<'static>,
    /// Whether any leaf names `payload`: the document is only handed over when one does.
    uses_payload: bool,
}

/// What the templates see.
pub(crate) struct RenderInput<'a> {
    pub source: &'a str,
    pub event: &'a Event,
    pub payload: &'a std::sync::Arc<Value>,
}

impl RenderInput<'_> {
    /// What templates see: `event`, `source` and, for templates that name it (see
    /// [`names_payload`]), `payload`. A template can reach a variable only by its
    /// name, so one that never writes `payload` cannot miss it.
    pub(crate) fn context(&self, uses_payload: bool) -> minijinja::Value {
        let event = minijinja::Value::from_serialize(self.event);
        if !uses_payload {
            return minijinja::context! { event, source => self.source };
        }
        minijinja::context! {
            event,
            payload => super::json_object::template_value(self.payload.clone()),
            source => self.source,
        }
    }
}

/// Whether template text mentions the `payload` variable (or might: the word anywhere).
pub(crate) fn names_payload(text: &str) -> bool {
    text.contains("payload")
}

impl RunConfigTemplate {
    /// Compiles every leaf so that a syntax error is an invalid rule, not a failed delivery.
    pub(crate) fn compile(config: &Value) -> Result<Self, RuleError> {
        let template = RunConfigTemplate {
            config: config.clone(),
            env: environment(),
            uses_payload: names_payload(&config.to_string()),
        };
        let can_be_object = match config {
            Value::Object(_) => true,
            Value::String(text) => matches!(classify(text), Leaf::Expression(_)),
            _ => false,
        };
        if !can_be_object {
            return Err(RuleError::new(
                "run_config",
                "must be an object (or one {{ expression }} that renders to an object)",
            ));
        }
        template.check_syntax(config, "run_config")?;
        Ok(template)
    }

    fn check_syntax(&self, value: &Value, at: &str) -> Result<(), RuleError> {
        match value {
            Value::String(text) => {
                let compiled = match classify(text) {
                    Leaf::Plain => Ok(()),
                    Leaf::Expression(expression) => {
                        self.env.compile_expression(expression).map(|_| ())
                    }
                    Leaf::Template => self.env.template_from_str(text).map(|_| ()),
                };
                compiled.map_err(|e| RuleError::new(at, format!("invalid template: {e}")))
            }
            Value::Array(items) => items
                .iter()
                .enumerate()
                .try_for_each(|(i, item)| self.check_syntax(item, &format!("{at}[{i}]"))),
            Value::Object(map) => map
                .iter()
                .try_for_each(|(key, item)| self.check_syntax(item, &format!("{at}.{key}"))),
            _ => Ok(()),
        }
    }

    /// Renders the run config for one event; the error says which leaf failed and why.
    pub(crate) fn render(&self, input: &RenderInput<'_>) -> Result<Value, String> {
        let rendered = self.render_value(
            &self.config,
            "run_config",
            &input.context(self.uses_payload),
        )?;
        match rendered {
            Value::Object(_) => Ok(rendered),
            other => Err(format!(
                "run_config must render to a JSON object, not {}",
                json_kind(&other)
            )),
        }
    }

    fn render_value(
        &self,
        value: &Value,
        at: &str,
        context: &minijinja::Value,
    ) -> Result<Value, String> {
        match value {
            Value::String(text) => self
                .render_leaf(text, context)
                .map_err(|why| format!("{at}: {why}")),
            Value::Array(items) => items
                .iter()
                .enumerate()
                .map(|(i, item)| self.render_value(item, &format!("{at}[{i}]"), context))
                .collect::<Result<Vec<_>, _>>()
                .map(Value::Array),
            Value::Object(map) => map
                .iter()
                .map(|(key, item)| {
                    self.render_value(item, &format!("{at}.{key}"), context)
                        .map(|rendered| (key.clone(), rendered))
                })
                .collect::<Result<Map<_, _>, _>>()
                .map(Value::Object),
            other => Ok(other.clone()),
        }
    }

    fn render_leaf(&self, text: &str, context: &minijinja::Value) -> Result<Value, String> {
        match classify(text) {
            Leaf::Plain => Ok(Value::String(text.to_string())),
            Leaf::Template => self
                .env
                .render_str(text, context)
                .map(Value::String)
                .map_err(|e| e.to_string()),
            Leaf::Expression(expression) => {
                let value = self
                    .env
                    .compile_expression(expression)
                    .and_then(|compiled| compiled.eval(context))
                    .map_err(|e| e.to_string())?;
                if value.is_undefined() {
                    return Err(format!("undefined value: `{}`", expression.trim()));
                }
                serde_json::to_value(&value).map_err(|e| e.to_string())
            }
        }
    }
}

pub(crate) fn environment() -> Environment<'static> {
    let mut env = Environment::new();
    env.set_undefined_behavior(UndefinedBehavior::Strict);
    // A run config value is data, not a file: keep a trailing newline the author wrote.
    env.set_keep_trailing_newline(true);
    env
}

fn json_kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

//! Flow control per rule: debounce bursts, cap concurrent runs per key, keep order per
//! key. The rule only renders the keys; the job table enforces the rest (it is shared by
//! every replica, and it survives restarts).

use std::time::Duration;

use minijinja::Environment;
use serde::{Deserialize, Serialize};

use super::error::RuleError;
use super::template::{environment, names_payload, RenderInput};

/// `debounce: { window: "2m", max_wait: "15m", key: "{{ event.repository }}/{{ event.branch }}" }`
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DebounceSpec {
    #[serde(with = "humantime_serde")]
    pub window: Duration,
    /// The longest a burst can postpone its trigger, counted from its first event.
    /// Absent: ten windows.
    #[serde(
        default,
        with = "humantime_serde",
        skip_serializing_if = "Option::is_none"
    )]
    pub max_wait: Option<Duration>,
    /// Events with the same rendered key are one burst. Absent: one burst per rule.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub key: String,
}

/// What a job whose concurrency slots are all taken does.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OnBusy {
    /// Wait (`held`) until a slot frees.
    #[default]
    Queue,
    /// Give up (`skipped`).
    Skip,
    /// Wait, and supersede older waiting jobs of the key with the newest.
    Replace,
}

impl OnBusy {
    pub fn as_str(self) -> &'static str {
        match self {
            OnBusy::Queue => "queue",
            OnBusy::Skip => "skip",
            OnBusy::Replace => "replace",
        }
    }
}

/// `concurrency: { max_running: 1, key: "{{ event.repository }}", on_busy: queue }`
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConcurrencySpec {
    pub max_running: u32,
    /// Jobs with the same rendered key share the slots. Absent: one key per rule.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub key: String,
    #[serde(default)]
    pub on_busy: OnBusy,
}

/// The flow control of one matched event, keys rendered.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Flow {
    pub debounce: Option<Debounce>,
    pub concurrency: Option<Concurrency>,
    /// Jobs of the concurrency key start in delivery order.
    pub ordered: bool,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Debounce {
    pub key: String,
    pub window: Duration,
    pub max_wait: Duration,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Concurrency {
    pub key: String,
    pub max_running: u32,
    pub on_busy: OnBusy,
}

/// The compiled flow settings of a rule.
#[derive(Debug, Clone)]
pub(crate) struct FlowTemplate {
    env: Environment<'static>,
    debounce: Option<DebounceSpec>,
    concurrency: Option<ConcurrencySpec>,
    ordered: bool,
    /// Whether a key names `payload` (see `names_payload`).
    uses_payload: bool,
}

impl FlowTemplate {
    pub(crate) fn compile(
        debounce: &Option<DebounceSpec>,
        concurrency: &Option<ConcurrencySpec>,
        ordered: bool,
    ) -> Result<Self, RuleError> {
        let env = environment();
        if let Some(d) = debounce {
            if d.window.is_zero() {
                return Err(RuleError::new("debounce.window", "must be above zero"));
            }
            if d.max_wait.is_some_and(|max| max < d.window) {
                return Err(RuleError::new(
                    "debounce.max_wait",
                    "must be at least the window",
                ));
            }
            env.template_from_str(&d.key)
                .map_err(|e| RuleError::new("debounce.key", format!("invalid template: {e}")))?;
        }
        if let Some(c) = concurrency {
            if c.max_running == 0 {
                return Err(RuleError::new(
                    "concurrency.max_running",
                    "must be at least 1",
                ));
            }
            env.template_from_str(&c.key)
                .map_err(|e| RuleError::new("concurrency.key", format!("invalid template: {e}")))?;
        }
        if ordered && concurrency.is_none() {
            return Err(RuleError::new(
                "ordered",
                "ordering is per concurrency key: add a concurrency block",
            ));
        }
        let keys = [
            debounce.as_ref().map(|d| &d.key),
            concurrency.as_ref().map(|c| &c.key),
        ];
        Ok(FlowTemplate {
            env,
            debounce: debounce.clone(),
            concurrency: concurrency.clone(),
            ordered,
            uses_payload: keys.into_iter().flatten().any(|key| names_payload(key)),
        })
    }

    fn key(&self, template: &str, context: &minijinja::Value) -> Result<String, String> {
        self.env
            .render_str(template, context)
            .map_err(|e| e.to_string())
    }

    /// Renders the keys for one event.
    pub(crate) fn render(&self, input: &RenderInput<'_>) -> Result<Flow, String> {
        if self.debounce.is_none() && self.concurrency.is_none() {
            return Ok(Flow {
                ordered: self.ordered,
                ..Flow::default()
            });
        }
        // One context for both keys.
        let context = input.context(self.uses_payload);
        let debounce = match &self.debounce {
            Some(d) => Some(Debounce {
                key: self
                    .key(&d.key, &context)
                    .map_err(|e| format!("debounce.key: {e}"))?,
                window: d.window,
                max_wait: d.max_wait.unwrap_or(d.window * 10),
            }),
            None => None,
        };
        let concurrency = match &self.concurrency {
            Some(c) => Some(Concurrency {
                key: self
                    .key(&c.key, &context)
                    .map_err(|e| format!("concurrency.key: {e}"))?,
                max_running: c.max_running,
                on_busy: c.on_busy,
            }),
            None => None,
        };
        Ok(Flow {
            debounce,
            concurrency,
            ordered: self.ordered,
        })
    }
}

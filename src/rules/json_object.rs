//! The payload as templates see it: a view of the parsed JSON that minijinja walks as a
//! template reaches into it, instead of a converted copy of the whole document.
//!
//! `Value::from_serialize` rebuilt every key and string of a 7.6 KB push as minijinja
//! values for each render, to read the two or three fields a run config uses: measured,
//! it was most of the time spent routing a delivery (BENCHMARKS.md).

use std::sync::Arc;

use minijinja::value::{Enumerator, Object, ObjectRepr};
use minijinja::Value;
use serde_json::Value as Json;

/// The minijinja value of a JSON document: scalars as themselves, arrays and objects as
/// views resolved on demand.
pub(crate) fn template_value(document: Arc<Json>) -> Value {
    JsonNode {
        root: document,
        path: Vec::new(),
    }
    .into_value()
}

/// One step from a node to a child.
#[derive(Debug, Clone)]
enum Step {
    Key(String),
    Index(usize),
}

/// An array or object inside `root`, found by `path`.
#[derive(Debug)]
struct JsonNode {
    root: Arc<Json>,
    path: Vec<Step>,
}

impl JsonNode {
    fn node(&self) -> &Json {
        self.path
            .iter()
            .try_fold(&*self.root, |node, step| match (node, step) {
                (Json::Object(map), Step::Key(key)) => map.get(key),
                (Json::Array(items), Step::Index(i)) => items.get(*i),
                _ => None,
            })
            // Paths are only built from children that exist, in a document never changed.
            .unwrap_or(&Json::Null)
    }

    fn child(&self, step: Step) -> Value {
        let mut path = self.path.clone();
        path.push(step);
        JsonNode {
            root: self.root.clone(),
            path,
        }
        .into_value()
    }

    /// Scalars become plain values, so templates compare and print them as they would
    /// the converted document; containers stay views.
    fn into_value(self) -> Value {
        match self.node() {
            Json::Null => Value::from(()),
            Json::Bool(b) => Value::from(*b),
            Json::Number(n) => match (n.as_i64(), n.as_u64()) {
                (Some(i), _) => Value::from(i),
                (None, Some(u)) => Value::from(u),
                _ => Value::from(n.as_f64().unwrap_or(f64::NAN)),
            },
            Json::String(s) => Value::from(s.as_str()),
            Json::Array(_) | Json::Object(_) => Value::from_object(self),
        }
    }
}

impl Object for JsonNode {
    fn repr(self: &Arc<Self>) -> ObjectRepr {
        match self.node() {
            Json::Array(_) => ObjectRepr::Seq,
            _ => ObjectRepr::Map,
        }
    }

    fn get_value(self: &Arc<Self>, key: &Value) -> Option<Value> {
        match self.node() {
            Json::Object(map) => {
                let key = key.as_str()?;
                map.contains_key(key)
                    .then(|| self.child(Step::Key(key.to_owned())))
            }
            Json::Array(items) => {
                let index = key.as_usize()?;
                (index < items.len()).then(|| self.child(Step::Index(index)))
            }
            _ => None,
        }
    }

    fn enumerate(self: &Arc<Self>) -> Enumerator {
        match self.node() {
            Json::Object(map) => {
                Enumerator::Values(map.keys().map(|k| Value::from(k.as_str())).collect())
            }
            Json::Array(items) => Enumerator::Seq(items.len()),
            _ => Enumerator::Empty,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// Renders `template` against the view and against the converted document: the two
    /// must agree.
    fn both(template: &str, document: &Json) -> (String, String) {
        let env = minijinja::Environment::new();
        let view = env
            .render_str(
                template,
                minijinja::context! { payload => template_value(Arc::new(document.clone())) },
            )
            .expect("renders with the view");
        let converted = env
            .render_str(
                template,
                minijinja::context! { payload => Value::from_serialize(document) },
            )
            .expect("renders with the converted document");
        (view, converted)
    }

    #[test]
    fn templates_read_the_view_as_they_read_the_converted_document() {
        let document = json!({
            "ref": "refs/heads/main",
            "size": 3,
            "big": 18446744073709551615u64,
            "ratio": 0.5,
            "draft": false,
            "gone": null,
            "repository": {"full_name": "octo/hello", "topics": ["ml", "ops"]},
            "commits": [{"id": "a1", "added": ["x.py"]}, {"id": "b2", "added": []}],
        });
        for template in [
            "{{ payload.ref }}",
            "{{ payload['ref'] }}",
            "{{ payload.size + 1 }}",
            "{{ payload.big }}",
            "{{ payload.ratio * 2 }}",
            "{{ payload.draft }}",
            "{{ payload.gone is none }}",
            "{{ payload.missing is undefined }}",
            "{{ payload.repository.full_name }}",
            "{{ payload.repository.topics | join(',') }}",
            "{{ payload.repository.topics[1] }}",
            "{{ payload.repository.topics | length }}",
            "{{ 'ml' in payload.repository.topics }}",
            "{{ 'full_name' in payload.repository }}",
            "{{ payload.commits[0].id }}",
            "{{ payload.commits | map(attribute='id') | join(' ') }}",
            "{% for c in payload.commits %}{{ loop.index }}{{ c.id }}{% endfor %}",
            "{{ payload.repository }}",
            "{{ payload.commits[1].added }}",
            "{{ payload.repository | items | list }}",
            "{{ payload.repository is mapping }}",
            "{{ payload.commits is sequence }}",
            "{{ payload.repository.topics == ['ml', 'ops'] }}",
        ] {
            let (view, converted) = both(template, &document);
            assert_eq!(view, converted, "{template}");
        }
    }

    #[test]
    fn an_expression_gives_back_the_json_it_points_at() {
        // A run config leaf that is one expression keeps its JSON type (template.rs).
        let document = json!({"repository": {"full_name": "octo/hello", "topics": ["ml"],
            "size": 3, "private": false, "license": null}});
        let env = minijinja::Environment::new();
        let value = env
            .compile_expression("payload.repository")
            .expect("compiles")
            .eval(minijinja::context! { payload => template_value(Arc::new(document.clone())) })
            .expect("evaluates");
        assert_eq!(
            serde_json::to_value(&value).expect("serialises"),
            document["repository"]
        );
    }
}

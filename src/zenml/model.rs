//! What zenhook sends to ZenML and reads back, in ZenML's shapes.

use serde::Deserialize;
use serde_json::{json, Value};
use uuid::Uuid;

/// Run templates are deprecated in ZenML 0.98 in favour of snapshots; both are supported.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TemplateOrSnapshot {
    Template,
    Snapshot,
}

/// One trigger: which template or snapshot, with which run configuration.
#[derive(Debug, Clone)]
pub struct TriggerRequest {
    pub kind: TemplateOrSnapshot,
    pub id: Uuid,
    /// A `PipelineRunConfiguration` (ZenML ignores unknown fields).
    pub run_config: Value,
    /// Sent as `Idempotency-Key` on every attempt: ZenML answers a repeat within
    /// 300 s with the run the first request created.
    pub idempotency_key: Uuid,
}

/// The run a trigger created or a lookup found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunRef {
    pub id: String,
    pub name: String,
}

/// A run's state as ZenML reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunInfo {
    pub id: String,
    pub name: String,
    /// `body.status` (`initializing`, `running`, `failed`, `completed`, ...).
    /// `body.in_progress` is not used: ZenML leaves it `true` on failed runs.
    pub status: String,
    pub tags: Vec<String>,
}

impl TriggerRequest {
    /// The path below the server URL.
    pub(crate) fn path_segments(&self) -> [String; 5] {
        let collection = match self.kind {
            TemplateOrSnapshot::Template => "run_templates",
            TemplateOrSnapshot::Snapshot => "pipeline_snapshots",
        };
        [
            "api".into(),
            "v1".into(),
            collection.into(),
            self.id.to_string(),
            "runs".into(),
        ]
    }

    /// A template takes the run configuration as the whole body; a snapshot wants it
    /// wrapped, and rejects a missing body with 422.
    pub(crate) fn body(&self) -> Value {
        match self.kind {
            TemplateOrSnapshot::Template => self.run_config.clone(),
            TemplateOrSnapshot::Snapshot => json!({ "run_configuration": self.run_config }),
        }
    }
}

/// The part of a `PipelineRunResponse` zenhook reads.
#[derive(Debug, Deserialize)]
pub(crate) struct RunResponse {
    id: String,
    name: String,
    #[serde(default)]
    body: Option<RunBody>,
    #[serde(default)]
    resources: Option<RunResources>,
}

#[derive(Debug, Deserialize)]
struct RunBody {
    status: Option<String>,
}

#[derive(Debug, Deserialize)]
struct RunResources {
    #[serde(default)]
    tags: Option<Vec<Tag>>,
}

/// ZenML returns `TagResponse` objects; a bare string is accepted too.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum Tag {
    Object { name: String },
    Name(String),
}

/// A page of `GET /api/v1/runs`.
#[derive(Debug, Deserialize)]
pub(crate) struct RunPage {
    items: Vec<RunResponse>,
}

impl RunResponse {
    pub(crate) fn into_ref(self) -> RunRef {
        RunRef {
            id: self.id,
            name: self.name,
        }
    }

    /// `None` when the body has no status: not a run as ZenML 0.98 sends it.
    pub(crate) fn into_info(self) -> Option<RunInfo> {
        let status = self.body?.status?;
        let tags = self
            .resources
            .and_then(|r| r.tags)
            .unwrap_or_default()
            .into_iter()
            .map(|tag| match tag {
                Tag::Object { name } | Tag::Name(name) => name,
            })
            .collect();
        Some(RunInfo {
            id: self.id,
            name: self.name,
            status,
            tags,
        })
    }
}

impl RunPage {
    /// The runs are asked for oldest first: if a tag ever marks two runs, the first wins.
    pub(crate) fn first(self) -> Option<RunRef> {
        self.items.into_iter().next().map(RunResponse::into_ref)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(kind: TemplateOrSnapshot) -> TriggerRequest {
        TriggerRequest {
            kind,
            id: Uuid::nil(),
            run_config: json!({"run_name": "x", "tags": ["a"]}),
            idempotency_key: Uuid::nil(),
        }
    }

    #[test]
    fn template_body_is_the_run_config() {
        let req = request(TemplateOrSnapshot::Template);
        assert_eq!(req.body(), json!({"run_name": "x", "tags": ["a"]}));
        assert_eq!(req.path_segments()[2], "run_templates");
    }

    #[test]
    fn snapshot_body_is_wrapped() {
        let req = request(TemplateOrSnapshot::Snapshot);
        assert_eq!(
            req.body(),
            json!({"run_configuration": {"run_name": "x", "tags": ["a"]}})
        );
        assert_eq!(req.path_segments()[2], "pipeline_snapshots");
    }

    #[test]
    fn run_info_reads_status_and_tags() {
        let run: RunResponse = serde_json::from_value(json!({
            "id": "r", "name": "n",
            "body": {"status": "failed", "in_progress": true},
            "resources": {"tags": [{"id": "t", "name": "webhook"}, "plain"]}
        }))
        .expect("a run");
        let info = run.into_info().expect("has a status");
        assert_eq!(info.status, "failed");
        assert_eq!(info.tags, ["webhook", "plain"]);
    }

    #[test]
    fn run_without_status_is_not_info() {
        let run: RunResponse =
            serde_json::from_value(json!({"id": "r", "name": "n"})).expect("a run");
        assert_eq!(run.into_info(), None);
    }
}

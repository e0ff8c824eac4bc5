//! What zenhook asks ZenML besides triggering: the server, the account, the project,
//! the templates and snapshots, and whether the server can run them at all. Used by
//! `zenhook check`, `zenhook templates list` and rules that name their template.
//! Nothing here starts a run.

use serde::Deserialize;
use serde_json::{json, Map, Value};
use uuid::Uuid;

use super::classify::{self, Operation};
use super::client::ZenmlClient;
use super::error::TriggerError;
use super::error_body::ErrorBody;
use super::hints;
use super::model::TemplateOrSnapshot;

/// A list page as large as ZenML allows without strain; lists stop after `MAX_PAGES`.
const PAGE_SIZE: u32 = 100;
const MAX_PAGES: u32 = 50;

/// The id the runs-route probe sends: ZenML validates it (422) only where the route exists.
const PROBE_ID: &str = "not-a-uuid";

/// Hosts of ZenML Pro's organisation-level services, which are never a workspace.
const PRO_MANAGEMENT_HOSTS: [&str; 2] = ["cloudapi.zenml.io", "cloud.zenml.io"];

/// `GET /api/v1/info`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct ServerInfo {
    #[serde(default)]
    pub id: Option<String>,
    #[serde(default)]
    pub name: Option<String>,
    pub version: String,
    #[serde(default)]
    pub deployment_type: Option<String>,
    #[serde(default)]
    pub auth_scheme: Option<String>,
    #[serde(default)]
    pub server_url: Option<String>,
    /// Set on ZenML Pro workspaces.
    #[serde(default)]
    pub pro_workspace_name: Option<String>,
}

/// `GET /api/v1/current-user`: who the credential acts as.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CurrentUser {
    pub id: String,
    pub name: String,
    pub is_service_account: bool,
    pub active: bool,
}

/// `GET /api/v1/projects/{name_or_id}`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Project {
    pub id: String,
    pub name: String,
}

/// A run template or pipeline snapshot as a list shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TemplateInfo {
    pub kind: TemplateOrSnapshot,
    pub id: String,
    /// Snapshots made by a run have none.
    pub name: Option<String>,
    pub project_id: Option<String>,
    pub pipeline: Option<String>,
    pub runnable: bool,
    pub tags: Vec<String>,
    pub latest_run_status: Option<String>,
}

/// One template or snapshot in full: what a rule's run configuration can refer to.
#[derive(Debug, Clone, PartialEq)]
pub struct TemplateDetail {
    pub info: TemplateInfo,
    /// The pipeline's step names (invocation ids), sorted.
    pub steps: Vec<String>,
    /// Whether the pipeline is dynamic; ZenML refuses pipeline-level parameters for a
    /// static one. `None` when the server does not say (before 0.98).
    pub dynamic: Option<bool>,
    /// The default run configuration (`metadata.config_template`), if any.
    pub config_template: Option<Value>,
}

/// Whether the server has the route that runs templates (or snapshots).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RunsRoute {
    /// The route exists (it validated the probe's id with 422).
    Available,
    /// It does not (405) or the plan does not include it (402).
    Missing {
        status: u16,
        zenml: String,
        hint: String,
    },
}

impl ZenmlClient {
    /// `GET /api/v1/info`, which needs no credential. A URL that answers like the ZenML
    /// Pro management API instead of a workspace is an error that says so.
    pub async fn server_info(&self) -> Result<ServerInfo, TriggerError> {
        let operation = Operation::Info;
        let reply = self
            .get_anonymous(operation, self.url(["api", "v1", "info"])?)
            .await?;
        if reply.status.is_success() {
            if let Ok(info) = serde_json::from_slice::<ServerInfo>(&reply.body) {
                return Ok(info);
            }
        }
        if self.is_pro_management_api().await {
            return Err(classify::fatal(
                reply.status.as_u16(),
                ErrorBody::parse(&reply.body).display(),
                hints::pro_management_api(self.target()),
            ));
        }
        Err(self.refused(operation, &reply))
    }

    /// By host, or by an OpenAPI document with the management API's routes
    /// (`/organizations`, `/auth/login`) and without a workspace's.
    async fn is_pro_management_api(&self) -> bool {
        let by_host = self
            .base_url()
            .and_then(|url| url.host_str())
            .is_some_and(|host| {
                PRO_MANAGEMENT_HOSTS
                    .iter()
                    .any(|pro| host == *pro || host.ends_with(&format!(".{pro}")))
            });
        if by_host {
            return true;
        }
        let Ok(url) = self.url(["openapi.json"]) else {
            return false;
        };
        let Ok(reply) = self.get_anonymous(Operation::Info, url).await else {
            return false;
        };
        let Ok(document) = serde_json::from_slice::<Value>(&reply.body) else {
            return false;
        };
        let Some(paths) = document.get("paths").and_then(Value::as_object) else {
            return false;
        };
        let management = paths
            .keys()
            .any(|p| p.starts_with("/organizations") || p.starts_with("/auth/"));
        management && !paths.keys().any(|p| p.starts_with("/api/v1/"))
    }

    /// Logs in with the API key now, so a refused key shows up on its own.
    pub async fn check_login(&self) -> Result<(), TriggerError> {
        self.log_in().await
    }

    /// `GET /api/v1/current-user`.
    pub async fn current_user(&self) -> Result<CurrentUser, TriggerError> {
        let user: UserResponse = self
            .get_json(
                Operation::ReadUser,
                self.url(["api", "v1", "current-user"])?,
            )
            .await?;
        let body = user.body.unwrap_or_default();
        Ok(CurrentUser {
            id: user.id,
            name: user.name,
            is_service_account: body.is_service_account.unwrap_or(false),
            active: body.active.unwrap_or(true),
        })
    }

    /// The target's project (`targets.<name>.project`), if one is set.
    pub async fn project_info(&self) -> Result<Option<Project>, TriggerError> {
        let Some(project) = self.project() else {
            return Ok(None);
        };
        let url = self.url(["api", "v1", "projects", project])?;
        self.get_json(Operation::ReadProject, url).await.map(Some)
    }

    /// Whether the server can run templates (or snapshots), without starting a run:
    /// `POST .../not-a-uuid/runs` answers 422 where the route exists, 405 where not.
    pub async fn probe_runs_route(
        &self,
        kind: TemplateOrSnapshot,
    ) -> Result<RunsRoute, TriggerError> {
        let url = self.url(["api", "v1", collection(kind), PROBE_ID, "runs"])?;
        let body = match kind {
            TemplateOrSnapshot::Template => json!({}),
            TemplateOrSnapshot::Snapshot => json!({ "run_configuration": {} }),
        };
        match self.post_json(Operation::ProbeRuns(kind), url, body).await {
            Ok(()) => Ok(RunsRoute::Available),
            Err(TriggerError::Fatal {
                status: Some(422), ..
            }) => Ok(RunsRoute::Available),
            Err(TriggerError::Fatal {
                status: Some(status @ (402 | 405)),
                zenml,
                hint,
            }) => Ok(RunsRoute::Missing {
                status,
                zenml,
                hint,
            }),
            Err(error) => Err(error),
        }
    }

    /// `GET /api/v1/run_templates/{id}` or `/pipeline_snapshots/{id}`.
    pub async fn template_detail(
        &self,
        kind: TemplateOrSnapshot,
        id: Uuid,
    ) -> Result<TemplateDetail, TriggerError> {
        let mut url = self.url(["api", "v1", collection(kind), &id.to_string()])?;
        url.query_pairs_mut().append_pair("hydrate", "true");
        let item: ItemResponse = self.get_json(Operation::ReadTemplate(kind), url).await?;
        Ok(item.into_detail(kind))
    }

    /// Templates (or named snapshots) in the target's project whose name contains
    /// `pattern` (all of them without one), by name.
    pub async fn list_templates(
        &self,
        kind: TemplateOrSnapshot,
        pattern: Option<&str>,
    ) -> Result<Vec<TemplateInfo>, TriggerError> {
        let filter = pattern
            .filter(|p| !p.is_empty())
            .map(|p| format!("contains:{p}"));
        let mut items = self.list(kind, filter.as_deref()).await?;
        items.sort_by(|a, b| a.name.cmp(&b.name).then_with(|| a.id.cmp(&b.id)));
        Ok(items)
    }

    /// The templates (or snapshots) named exactly `name` in the target's project.
    pub async fn find_by_name(
        &self,
        kind: TemplateOrSnapshot,
        name: &str,
    ) -> Result<Vec<TemplateInfo>, TriggerError> {
        // An explicit operator: ZenML would read a name such as `in:x` as `in` + `x`.
        let found = self.list(kind, Some(&format!("equals:{name}"))).await?;
        Ok(found
            .into_iter()
            .filter(|t| t.name.as_deref() == Some(name))
            .collect())
    }

    async fn list(
        &self,
        kind: TemplateOrSnapshot,
        name_filter: Option<&str>,
    ) -> Result<Vec<TemplateInfo>, TriggerError> {
        let mut items = Vec::new();
        for page in 1..=MAX_PAGES {
            let mut url = self.url(["api", "v1", collection(kind)])?;
            {
                let mut query = url.query_pairs_mut();
                query.append_pair("page", &page.to_string());
                query.append_pair("size", &PAGE_SIZE.to_string());
                query.append_pair("hydrate", "false");
                if let Some(name) = name_filter {
                    query.append_pair("name", name);
                }
                if kind == TemplateOrSnapshot::Snapshot {
                    // Every run leaves an unnamed snapshot behind: only named ones are chosen.
                    query.append_pair("named_only", "true");
                }
                if let Some(project) = self.project() {
                    query.append_pair("project", project);
                }
            }
            let answer: PageResponse = self.get_json(Operation::ListTemplates(kind), url).await?;
            let last = match answer.total_pages {
                _ if answer.items.is_empty() => true,
                Some(total) => u64::from(page) >= total,
                None => true,
            };
            items.extend(answer.items.into_iter().map(|item| item.into_info(kind)));
            if last {
                break;
            }
        }
        Ok(items)
    }
}

fn collection(kind: TemplateOrSnapshot) -> &'static str {
    match kind {
        TemplateOrSnapshot::Template => "run_templates",
        TemplateOrSnapshot::Snapshot => "pipeline_snapshots",
    }
}

#[derive(Deserialize)]
struct UserResponse {
    id: String,
    name: String,
    #[serde(default)]
    body: Option<UserBody>,
}

#[derive(Default, Deserialize)]
struct UserBody {
    active: Option<bool>,
    is_service_account: Option<bool>,
}

#[derive(Deserialize)]
struct PageResponse {
    items: Vec<ItemResponse>,
    #[serde(default)]
    total_pages: Option<u64>,
}

/// A `RunTemplateResponse` or `PipelineSnapshotResponse`: the parts zenhook reads.
#[derive(Deserialize)]
struct ItemResponse {
    id: String,
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    body: Option<ItemBody>,
    #[serde(default)]
    metadata: Option<ItemMetadata>,
    #[serde(default)]
    resources: Option<ItemResources>,
}

#[derive(Default, Deserialize)]
struct ItemBody {
    project_id: Option<String>,
    runnable: Option<bool>,
    is_dynamic: Option<bool>,
}

#[derive(Default, Deserialize)]
struct ItemMetadata {
    config_template: Option<Value>,
    pipeline_spec: Option<PipelineSpec>,
    step_configurations: Option<Map<String, Value>>,
}

#[derive(Default, Deserialize)]
struct PipelineSpec {
    #[serde(default)]
    steps: Vec<SpecStep>,
}

#[derive(Deserialize)]
struct SpecStep {
    invocation_id: Option<String>,
}

#[derive(Default, Deserialize)]
struct ItemResources {
    pipeline: Option<Named>,
    tags: Option<Vec<Tag>>,
    latest_run_status: Option<String>,
    /// A template's snapshot, which says whether the pipeline is dynamic.
    source_snapshot: Option<SnapshotRef>,
}

#[derive(Deserialize)]
struct Named {
    name: Option<String>,
}

#[derive(Deserialize)]
struct SnapshotRef {
    body: Option<ItemBody>,
}

/// ZenML returns `TagResponse` objects; a bare string is accepted too.
#[derive(Deserialize)]
#[serde(untagged)]
enum Tag {
    Object { name: String },
    Name(String),
}

impl ItemResponse {
    fn into_info(self, kind: TemplateOrSnapshot) -> TemplateInfo {
        self.split(kind).0
    }

    fn into_detail(self, kind: TemplateOrSnapshot) -> TemplateDetail {
        let (info, metadata, dynamic) = self.split(kind);
        let metadata = metadata.unwrap_or_default();
        let mut steps: Vec<String> = metadata
            .pipeline_spec
            .unwrap_or_default()
            .steps
            .into_iter()
            .filter_map(|step| step.invocation_id)
            .chain(
                metadata
                    .step_configurations
                    .into_iter()
                    .flat_map(Map::into_iter)
                    .map(|(k, _)| k),
            )
            .chain(
                metadata
                    .config_template
                    .as_ref()
                    .and_then(|c| c.get("steps"))
                    .and_then(Value::as_object)
                    .into_iter()
                    .flat_map(|steps| steps.keys().cloned()),
            )
            .collect();
        steps.sort();
        steps.dedup();
        TemplateDetail {
            info,
            steps,
            dynamic,
            config_template: metadata.config_template.filter(|c| !c.is_null()),
        }
    }

    fn split(self, kind: TemplateOrSnapshot) -> (TemplateInfo, Option<ItemMetadata>, Option<bool>) {
        let body = self.body.unwrap_or_default();
        let resources = self.resources.unwrap_or_default();
        let dynamic = body.is_dynamic.or_else(|| {
            resources
                .source_snapshot
                .as_ref()
                .and_then(|s| s.body.as_ref())
                .and_then(|b| b.is_dynamic)
        });
        let info = TemplateInfo {
            kind,
            id: self.id,
            name: self.name,
            project_id: body.project_id,
            pipeline: resources.pipeline.and_then(|p| p.name),
            runnable: body.runnable.unwrap_or(false),
            tags: resources
                .tags
                .unwrap_or_default()
                .into_iter()
                .map(|tag| match tag {
                    Tag::Object { name } | Tag::Name(name) => name,
                })
                .collect(),
            latest_run_status: resources.latest_run_status,
        };
        (info, self.metadata, dynamic)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_template_lists_its_steps_from_spec_and_config_template() {
        let item: ItemResponse = serde_json::from_value(json!({
            "id": "t", "name": "probe",
            "body": {"project_id": "p", "runnable": true},
            "metadata": {
                "config_template": {"steps": {"say_hello": {}, "extra": {}}},
                "pipeline_spec": {"steps": [{"invocation_id": "say_hello"}]}
            },
            "resources": {"pipeline": {"name": "probe_pipeline"}, "tags": [{"name": "a"}, "b"],
                          "latest_run_status": "failed",
                          "source_snapshot": {"body": {"is_dynamic": false}}}
        }))
        .expect("an item");
        let detail = item.into_detail(TemplateOrSnapshot::Template);
        assert_eq!(detail.steps, ["extra", "say_hello"]);
        assert_eq!(detail.dynamic, Some(false));
        assert_eq!(detail.info.pipeline.as_deref(), Some("probe_pipeline"));
        assert_eq!(detail.info.tags, ["a", "b"]);
        assert!(detail.info.runnable);
    }

    #[test]
    fn a_bare_item_is_not_runnable_and_has_no_steps() {
        let item: ItemResponse = serde_json::from_value(json!({"id": "s"})).expect("an item");
        let detail = item.into_detail(TemplateOrSnapshot::Snapshot);
        assert!(!detail.info.runnable);
        assert!(detail.steps.is_empty());
        assert_eq!(detail.dynamic, None);
        assert_eq!(detail.config_template, None);
    }
}

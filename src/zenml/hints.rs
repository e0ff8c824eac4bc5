//! Every sentence zenhook adds to a ZenML refusal to say what to do about it.
//!
//! Kept in one place so the wording can be reviewed and changed on its own, and so
//! `zenhook check`, job errors, the admin API and the logs say the same thing. One
//! sentence each, no trailing period: they end a `summary()` line or a check finding.

use super::classify::Operation;
use super::model::TemplateOrSnapshot;

/// `template` or `snapshot`, as sentences name them.
pub fn object(kind: TemplateOrSnapshot) -> &'static str {
    match kind {
        TemplateOrSnapshot::Template => "template",
        TemplateOrSnapshot::Snapshot => "snapshot",
    }
}

/// The rule field that holds the id (`template_id`, `snapshot_id`).
pub fn id_field(kind: TemplateOrSnapshot) -> &'static str {
    match kind {
        TemplateOrSnapshot::Template => "template_id",
        TemplateOrSnapshot::Snapshot => "snapshot_id",
    }
}

fn plural(kind: TemplateOrSnapshot) -> &'static str {
    match kind {
        TemplateOrSnapshot::Template => "templates",
        TemplateOrSnapshot::Snapshot => "snapshots",
    }
}

pub fn api_key_rejected(target: &str) -> String {
    format!(
        "the API key was rotated or deactivated: create a new key for the service account and update `targets.{target}.api_key`"
    )
}

pub fn token_rejected(target: &str) -> String {
    format!(
        "the token was rejected or expired: use a service-account API key (targets.{target}.api_key)"
    )
}

pub fn no_credential(target: &str) -> String {
    format!(
        "ZenML requires authentication: give a service-account API key (targets.{target}.api_key)"
    )
}

pub fn login_refused(target: &str) -> String {
    format!(
        "ZenML refused the login request: `targets.{target}.api_key` must hold a service-account API key (ZENKEY_...)"
    )
}

pub fn external_login(target: &str) -> String {
    format!(
        "this ZenML server logs users in through an external provider: give `targets.{target}` a token the server accepts, or enable API-key logins"
    )
}

pub fn not_zenml(target: &str) -> String {
    format!("the answer is not what a ZenML server sends: check that `targets.{target}.url` is the ZenML server URL")
}

pub fn no_such_endpoint(target: &str) -> String {
    format!(
        "this server has no such ZenML endpoint: check that `targets.{target}.url` is the ZenML server URL, without /api/v1"
    )
}

/// The URL answers like ZenML Pro's organisation-level API (cloudapi.zenml.io), which
/// manages workspaces but runs nothing.
pub fn pro_management_api(target: &str) -> String {
    format!(
        "this is the ZenML Pro management API, not a workspace: set `targets.{target}.url` to the workspace URL shown in the ZenML Pro dashboard (like https://1bfe8d94-zenml.cloudinfra.zenml.io)"
    )
}

pub fn redirected(target: &str, location: &str) -> String {
    format!("the server redirects to {location:?}: set `targets.{target}.url` to the address it redirects to")
}

/// No answer at all: the message beside it names the URL and the cause.
pub fn unreachable(target: &str) -> String {
    format!(
        "check `targets.{target}.url`, the network between zenhook and ZenML, and for TLS errors `targets.{target}.ca_file` or `proxy`"
    )
}

/// ZenML answered 429 or 5xx to a check: nothing to fix yet.
pub fn retry_later() -> String {
    "ZenML is busy or failing right now: run the check again later".into()
}

/// An API key in the `token` field: it works, but costs ZenML a key check per request.
pub fn api_key_as_token(target: &str) -> String {
    format!(
        "`targets.{target}.token` holds an API key (ZENKEY_...): move it to `targets.{target}.api_key`, so zenhook exchanges it for a token instead of sending the key with every request"
    )
}

pub fn shadow(target: &str) -> String {
    format!("`targets.{target}` is a shadow target: zenhook never calls ZenML for it")
}

/// A JWT (`eyJ...`, three base64url segments) where the API key belongs.
pub fn jwt_as_api_key(target: &str) -> String {
    format!(
        "`targets.{target}.api_key` holds an access token (a JWT), not an API key: put the service account's API key (ZENKEY_...) there, or move the token to `targets.{target}.token`"
    )
}

/// `Bearer ` pasted in front of the credential: zenhook sends `Bearer <value>` itself.
pub fn bearer_prefix(target: &str, field: &str) -> String {
    format!("remove the `Bearer ` prefix from `targets.{target}.{field}`: zenhook adds it")
}

/// A configured `token`: it works until it expires, and zenhook cannot renew it.
pub fn token_expires(target: &str) -> String {
    format!(
        "a token expires and zenhook cannot renew it: create a service account and put its API key in `targets.{target}.api_key` instead of `token`"
    )
}

pub fn human_user(target: &str, user: &str) -> String {
    format!(
        "the credential belongs to the user {user:?}, not a service account: create a service account for automation and put its API key in `targets.{target}.api_key`"
    )
}

pub fn pending_migrations() -> String {
    "run `zenhook migrate` (or start `zenhook serve`, which migrates first)".into()
}

/// The template or snapshot exists but ZenML will not run it.
pub fn not_runnable(kind: TemplateOrSnapshot) -> String {
    format!(
        "ZenML runs only a {} whose snapshot has a container build for a remote stack: create it from a pipeline built on such a stack",
        object(kind)
    )
}

/// A step under `run_config.steps` that the pipeline does not have.
pub fn unknown_step(step: &str, known: &[String]) -> String {
    let known = if known.is_empty() {
        "it has none".to_owned()
    } else {
        format!("steps: {}", known.join(", "))
    };
    format!(
        "`run_config.steps.{step}` names no step of the pipeline ({known}): ZenML ignores it silently, so fix the step name"
    )
}

/// `run_config.parameters` on a static pipeline, which ZenML refuses with 400.
pub fn static_pipeline_parameters() -> String {
    "ZenML refuses pipeline-level `run_config.parameters` for a static pipeline: move them to `run_config.steps.<step>.parameters`".into()
}

/// A rule names a template or snapshot on a shadow target, which has no ZenML to ask.
pub fn shadow_cannot_resolve(target: &str, kind: TemplateOrSnapshot) -> String {
    format!(
        "`targets.{target}` is a shadow target, so it cannot look up a {} by name: give `{}` instead",
        object(kind),
        id_field(kind)
    )
}

/// No template or snapshot has the name: `candidates` are the names that do exist.
pub fn name_unknown(
    target: &str,
    kind: TemplateOrSnapshot,
    name: &str,
    candidates: &[String],
) -> String {
    let listed = if candidates.is_empty() {
        "it has none".to_owned()
    } else {
        format!("candidates: {}", candidates.join(", "))
    };
    format!(
        "no {} is named {name:?} on target {target} ({listed}): fix the name, or give `{}`",
        object(kind),
        id_field(kind)
    )
}

/// Several templates or snapshots share the name: `ids` tells them apart.
pub fn name_ambiguous(
    target: &str,
    kind: TemplateOrSnapshot,
    name: &str,
    ids: &[String],
) -> String {
    format!(
        "{} {} are named {name:?} on target {target} ({}): give `{}` instead",
        ids.len(),
        plural(kind),
        ids.join(", "),
        id_field(kind)
    )
}

/// Resolving a name needs the target, and it did not answer.
pub fn name_unresolved(
    target: &str,
    kind: TemplateOrSnapshot,
    name: &str,
    failure: &str,
) -> String {
    format!(
        "target {target} cannot be asked for the {} named {name:?} ({failure}): retry when it answers, or give `{}`",
        object(kind),
        id_field(kind)
    )
}

/// The hint for a refusal that only its status explains.
pub fn for_status(operation: Operation, status: u16, target: &str) -> String {
    let (object, runs) = match operation {
        Operation::Trigger(kind)
        | Operation::ReadTemplate(kind)
        | Operation::ListTemplates(kind)
        | Operation::ProbeRuns(kind) => (object(kind), plural(kind)),
        Operation::GetRun | Operation::FindRun => ("run", "templates"),
        Operation::Login => ("login", "templates"),
        Operation::Info | Operation::ReadUser | Operation::ReadProject => ("object", "templates"),
    };
    let runs_anything = matches!(operation, Operation::Trigger(_) | Operation::ProbeRuns(_));
    match (operation, status) {
        (Operation::Login, 400 | 422) => login_refused(target),
        (Operation::Login, 401) => api_key_rejected(target),
        (Operation::Login, 403) => {
            "the service account may not log in: check that it and its API key are active"
                .into()
        }
        (Operation::Trigger(_), 400 | 422) => {
            "ZenML refused the run configuration: fix the rule's run_config".into()
        }
        (_, 400 | 422) => {
            "ZenML refused zenhook's query: this is a zenhook bug, please report it with ZenML's message".into()
        }
        (_, 402) if runs_anything => format!(
            "this ZenML plan cannot run {runs}: upgrade the workspace's ZenML Pro plan, or trigger on a workspace whose plan includes it"
        ),
        (Operation::Trigger(_), 403) => {
            format!("the service account is not allowed to run this {object}: give it that permission in ZenML")
        }
        (Operation::ReadTemplate(_) | Operation::ListTemplates(_), 403) => {
            format!("the service account is not allowed to read {runs}: give it that permission in ZenML")
        }
        (Operation::ReadUser | Operation::ReadProject, 403) => {
            "the service account is not allowed to read its own account or project: give it that permission in ZenML".into()
        }
        (_, 403) => "the service account is not allowed to read pipeline runs".into(),
        (Operation::Trigger(_) | Operation::ReadTemplate(_), 404) => format!(
            "the {object} was deleted or belongs to another project or workspace"
        ),
        (Operation::FindRun | Operation::ReadProject | Operation::ListTemplates(_), 404) => format!(
            "the project in `targets.{target}.project` does not exist or the service account cannot see it"
        ),
        (Operation::GetRun, 404) => {
            "the run was deleted or belongs to another project or workspace".into()
        }
        (_, 405) if runs_anything => format!(
            "this ZenML server cannot run {runs} (an open-source server without a workload manager): point `targets.{target}.url` at a ZenML Pro workspace"
        ),
        (Operation::Trigger(_), 409) => {
            "ZenML reports a conflict other than a taken run name: see its message".into()
        }
        (_, 404 | 405) => no_such_endpoint(target),
        (_, 501) => {
            "this ZenML server does not implement the operation: check the server's version and edition".into()
        }
        _ => "ZenML refused the request: see its message".into(),
    }
}

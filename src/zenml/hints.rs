//! Every sentence zenhook adds to a ZenML refusal to say what to do about it.
//!
//! Kept in one place so the wording can be reviewed and changed on its own.
//! One sentence each, no trailing period: they end a `summary()` line.

use super::classify::Operation;
use super::model::TemplateOrSnapshot;

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

pub fn redirected(target: &str, location: &str) -> String {
    format!("the server redirects to {location:?}: set `targets.{target}.url` to the address it redirects to")
}

pub fn shadow(target: &str) -> String {
    format!("`targets.{target}` is a shadow target: zenhook never calls ZenML for it")
}

/// The hint for a refusal that only its status explains.
pub fn for_status(operation: Operation, status: u16, target: &str) -> String {
    let object = match operation {
        Operation::Trigger(TemplateOrSnapshot::Template) => "template",
        Operation::Trigger(TemplateOrSnapshot::Snapshot) => "snapshot",
        Operation::GetRun | Operation::FindRun => "run",
        Operation::Login => "login",
    };
    let runs = match operation {
        Operation::Trigger(TemplateOrSnapshot::Snapshot) => "snapshots",
        _ => "templates",
    };
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
            "ZenML refused zenhook's run query: this is a zenhook bug, please report it with ZenML's message".into()
        }
        (Operation::Trigger(_), 402) => format!("this ZenML plan cannot run {runs}"),
        (Operation::Trigger(_), 403) => {
            format!("the service account is not allowed to run this {object}")
        }
        (_, 403) => "the service account is not allowed to read pipeline runs".into(),
        (Operation::Trigger(_), 404) => format!(
            "the {object} was deleted or belongs to another project or workspace"
        ),
        (Operation::FindRun, 404) => format!(
            "the project in `targets.{target}.project` does not exist or the service account cannot see it"
        ),
        (Operation::GetRun, 404) => {
            "the run was deleted or belongs to another project or workspace".into()
        }
        (Operation::Trigger(_), 405) => format!(
            "this ZenML server cannot run {runs}: an open-source server without a workload manager"
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

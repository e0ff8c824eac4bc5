//! One target: the server answers as a ZenML workspace, the credential logs in as a
//! service account, the project exists, and the server can run templates at all.

use super::credentials::{check_credential, check_url};
use super::report::Report;
use crate::config::{Credential, Target};
use crate::zenml::{hints, RunsRoute, TemplateOrSnapshot, ZenmlClient};

/// A target that answered and accepted its credential: rules can be checked on it.
pub struct Reached {
    pub client: ZenmlClient,
    /// The id of `targets.<name>.project`, when one is set.
    pub project_id: Option<String>,
}

pub async fn check_target(
    target: &Target,
    probe_snapshots: bool,
    report: &mut Report,
) -> Option<Reached> {
    let name = target.name.as_str();
    let subject = format!("target {name}");
    if target.shadow {
        report.ok(
            &subject,
            "a shadow target: jobs record the request they would send, nothing calls ZenML",
        );
        return None;
    }
    if !check_url(target, report) {
        return None;
    }
    let credential_usable = check_credential(target, report);
    let client = match ZenmlClient::new(target) {
        Ok(client) => client,
        Err(error) => {
            report.error(
                &subject,
                error.to_string(),
                "correct that setting in the configuration".into(),
            );
            return None;
        }
    };

    let info = match client.server_info().await {
        Ok(info) => info,
        Err(error) => {
            report.zenml_error(&subject, name, &error);
            return None;
        }
    };
    let mut about = format!(
        "ZenML {} at {}, deployment {}",
        info.version,
        target.url.as_deref().unwrap_or_default(),
        info.deployment_type.as_deref().unwrap_or("unknown")
    );
    if let Some(workspace) = &info.pro_workspace_name {
        about.push_str(&format!(", ZenML Pro workspace {workspace}"));
    }
    report.ok(&subject, about);
    if !credential_usable {
        return None;
    }

    if let Err(error) = client.check_login().await {
        report.zenml_error(&subject, name, &error);
        return None;
    }
    if matches!(target.credential, Some(Credential::ApiKey(_))) {
        report.ok(&subject, "the API key logs in (POST /api/v1/login)");
    }
    match client.current_user().await {
        Ok(user) if !user.active => {
            report.error(
                &subject,
                format!("the account {:?} is not active", user.name),
                hints::api_key_rejected(name),
            );
            return None;
        }
        Ok(user) if user.is_service_account => report.ok(
            &subject,
            format!("acts as the service account {:?}", user.name),
        ),
        Ok(user) => report.warning(
            &subject,
            format!("acts as {:?}, a human user", user.name),
            hints::human_user(name, &user.name),
        ),
        Err(error) => {
            report.zenml_error(&subject, name, &error);
            return None;
        }
    }
    let project_id = match client.project_info().await {
        Ok(Some(project)) => {
            report.ok(
                &subject,
                format!("the project {:?} exists ({})", project.name, project.id),
            );
            Some(project.id)
        }
        Ok(None) => None,
        Err(error) => {
            report.zenml_error(&subject, name, &error);
            return None;
        }
    };

    let mut kinds = vec![TemplateOrSnapshot::Template];
    if probe_snapshots {
        kinds.push(TemplateOrSnapshot::Snapshot);
    }
    for kind in kinds {
        let what = hints::object(kind);
        match client.probe_runs_route(kind).await {
            Ok(RunsRoute::Available) => report.ok(&subject, format!("the server can run {what}s")),
            Ok(RunsRoute::Missing {
                status,
                zenml,
                hint,
            }) => report.error(
                &subject,
                format!("the server cannot run {what}s: HTTP {status}: {zenml}"),
                hint,
            ),
            Err(error) => report.zenml_error(&subject, name, &error),
        }
    }
    Some(Reached { client, project_id })
}

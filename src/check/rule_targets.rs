//! One rule's template or snapshot on its target: it exists, in the target's project,
//! is runnable, and the rule's run configuration fits it.

use super::report::Report;
use super::run_config::check_run_config;
use super::target::Reached;
use crate::config::Target;
use crate::rules::{CompiledRule, TriggerTarget};
use crate::zenml::{hints, Operation, TemplateOrSnapshot};

pub async fn check_rule(
    rule: &CompiledRule,
    target: &Target,
    reached: Option<&Reached>,
    report: &mut Report,
) {
    let spec = &rule.spec;
    let subject = if spec.enabled {
        format!("rule {}", spec.name)
    } else {
        format!("rule {} (disabled)", spec.name)
    };
    let (kind, id, label) = match rule.target() {
        TriggerTarget::Template(id) => (TemplateOrSnapshot::Template, id, &spec.template),
        TriggerTarget::Snapshot(id) => (TemplateOrSnapshot::Snapshot, id, &spec.snapshot),
    };
    let what = hints::object(kind);
    let shown = match label {
        Some(name) => format!("{what} {name:?} ({id})"),
        None => format!("{what} {id}"),
    };
    if target.shadow {
        report.ok(
            &subject,
            format!(
                "{shown} on the shadow target {}: nothing to check on ZenML",
                target.name
            ),
        );
        return;
    }
    let Some(reached) = reached else {
        report.warning(
            &subject,
            format!(
                "{shown} not checked: target {} failed its checks",
                target.name
            ),
            format!("fix target {} first", target.name),
        );
        return;
    };
    let detail = match reached.client.template_detail(kind, id).await {
        Ok(detail) => detail,
        Err(error) => {
            report.zenml_error(&subject, &target.name, &error);
            return;
        }
    };
    let name = detail.info.name.as_deref().unwrap_or("unnamed");
    let in_other_project = match (&reached.project_id, &detail.info.project_id) {
        (Some(wanted), Some(actual)) => wanted != actual,
        _ => false,
    };
    if in_other_project {
        report.error(
            &subject,
            format!(
                "{shown} belongs to another project than targets.{}.project",
                target.name
            ),
            hints::for_status(Operation::ReadTemplate(kind), 404, &target.name),
        );
        return;
    }
    if !detail.info.runnable {
        report.error(
            &subject,
            format!("{shown} ({name}) is not runnable"),
            hints::not_runnable(kind),
        );
        return;
    }
    report.ok(
        &subject,
        format!(
            "{shown} exists on target {} ({name}) and is runnable",
            target.name
        ),
    );
    check_run_config(&subject, &spec.run_config, &detail, report);
}

//! A rule's run configuration against the template it triggers: what ZenML would
//! silently ignore (unknown steps) and what it would refuse (pipeline parameters on a
//! static pipeline).

use serde_json::Value;

use super::report::Report;
use crate::zenml::{hints, TemplateDetail};

pub fn check_run_config(
    subject: &str,
    run_config: &Value,
    template: &TemplateDetail,
    report: &mut Report,
) {
    if let Some(steps) = run_config.get("steps").and_then(Value::as_object) {
        // A template that lists no steps gives nothing to compare with.
        if !template.steps.is_empty() {
            for step in steps.keys().filter(|s| !template.steps.contains(s)) {
                report.warning(
                    subject,
                    format!("run_config.steps.{step} is not a step of the pipeline"),
                    hints::unknown_step(step, &template.steps),
                );
            }
        }
    }
    let parameters = run_config.get("parameters").filter(|p| !p.is_null());
    if parameters.is_some() && template.dynamic != Some(true) {
        report.error(
            subject,
            "run_config.parameters sets pipeline-level parameters on a static pipeline",
            hints::static_pipeline_parameters(),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::check::Level;
    use crate::zenml::{TemplateInfo, TemplateOrSnapshot};
    use serde_json::json;

    fn template(steps: &[&str], dynamic: Option<bool>) -> TemplateDetail {
        TemplateDetail {
            info: TemplateInfo {
                kind: TemplateOrSnapshot::Template,
                id: "t".into(),
                name: Some("probe".into()),
                project_id: None,
                pipeline: None,
                runnable: true,
                tags: vec![],
                latest_run_status: None,
            },
            steps: steps.iter().map(|s| s.to_string()).collect(),
            dynamic,
            config_template: None,
        }
    }

    #[test]
    fn unknown_steps_warn_and_known_ones_pass() {
        let mut report = Report::default();
        let config = json!({"steps": {"say_hello": {}, "trainer": {}}});
        check_run_config(
            "rule r",
            &config,
            &template(&["say_hello"], Some(false)),
            &mut report,
        );
        assert_eq!(report.findings.len(), 1);
        assert_eq!(report.findings[0].level, Level::Warning);
        assert!(report.findings[0].message.contains("trainer"));
    }

    #[test]
    fn pipeline_parameters_are_an_error_unless_dynamic() {
        let config = json!({"parameters": {"name": "x"}});
        let mut report = Report::default();
        check_run_config("rule r", &config, &template(&[], Some(false)), &mut report);
        assert_eq!(report.count(Level::Error), 1);
        let mut report = Report::default();
        check_run_config("rule r", &config, &template(&[], Some(true)), &mut report);
        assert!(report.findings.is_empty());
    }
}

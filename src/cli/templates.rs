//! `zenhook templates list` and `zenhook snapshots list`: what rules can trigger, read
//! from each configured target directly (not through the admin API).

use std::fmt::Write as _;
use std::io::Write as _;
use std::path::PathBuf;

use anyhow::{anyhow, bail, Context};
use clap::{Args, Subcommand};
use serde_json::{json, Value};

use crate::config::{Settings, Target};
use crate::zenml::{hints, TemplateInfo, TemplateOrSnapshot, ZenmlClient};

#[derive(Debug, Args)]
pub struct TemplatesArgs {
    #[command(subcommand)]
    pub command: TemplatesCommand,
}

#[derive(Debug, Subcommand)]
pub enum TemplatesCommand {
    /// List them by name: id, pipeline, whether ZenML can run it, tags, the latest run's
    /// status. A rule refers to one by `template: <name>` (or `snapshot:`) or by its id.
    List {
        /// Only this target (`targets.<name>`); all that call ZenML by default.
        #[arg(long, value_name = "NAME")]
        target: Option<String>,
        /// Only names that contain PATTERN.
        #[arg(long, value_name = "PATTERN")]
        name: Option<String>,
        /// The service's TOML configuration, for its targets.
        #[arg(long, short, value_name = "FILE")]
        config: Option<PathBuf>,
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
}

/// Runs `templates list` (`kind` Template) or `snapshots list` (Snapshot).
pub async fn run_templates(kind: TemplateOrSnapshot, args: TemplatesArgs) -> anyhow::Result<()> {
    let TemplatesCommand::List {
        target,
        name,
        config,
        json,
    } = args.command;
    let settings = Settings::load(config.as_deref())?;
    let targets = chosen_targets(&settings, target.as_deref())?;
    let mut listed = Vec::new();
    for target in targets {
        let client = ZenmlClient::new(target)?;
        let items = client
            .list_templates(kind, name.as_deref())
            .await
            .map_err(|e| anyhow!("target {}: {e}", target.name))?;
        listed.push((target, items));
    }
    let text = if json {
        let items: Vec<Value> = listed
            .iter()
            .flat_map(|(target, items)| items.iter().map(|item| item_json(&target.name, item)))
            .collect();
        format!("{:#}\n", Value::Array(items))
    } else {
        listed
            .iter()
            .map(|(target, items)| render_templates(target, kind, name.as_deref(), items))
            .collect()
    };
    let mut out = std::io::stdout().lock();
    match out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
        Err(error) if error.kind() != std::io::ErrorKind::BrokenPipe => {
            Err(error).context("cannot write to standard output")
        }
        _ => Ok(()),
    }
}

fn chosen_targets<'a>(
    settings: &'a Settings,
    only: Option<&str>,
) -> anyhow::Result<Vec<&'a Target>> {
    if let Some(name) = only {
        let target = settings.targets.get(name).ok_or_else(|| {
            let known: Vec<&str> = settings.targets.keys().map(String::as_str).collect();
            anyhow!(
                "no target is configured as {name:?} (known: {})",
                known.join(", ")
            )
        })?;
        if target.shadow {
            bail!("{}", hints::shadow(name));
        }
        return Ok(vec![target]);
    }
    let live: Vec<&Target> = settings.targets.values().filter(|t| !t.shadow).collect();
    if live.is_empty() {
        bail!("no target calls ZenML: add a [targets.<name>] table with url and api_key");
    }
    Ok(live)
}

fn item_json(target: &str, item: &TemplateInfo) -> Value {
    json!({
        "target": target,
        "kind": hints::object(item.kind),
        "id": item.id,
        "name": item.name,
        "pipeline": item.pipeline,
        "runnable": item.runnable,
        "tags": item.tags,
        "latest_run_status": item.latest_run_status,
    })
}

/// A table per target: NAME, ID, PIPELINE, RUNNABLE, TAGS, LATEST RUN.
pub fn render_templates(
    target: &Target,
    kind: TemplateOrSnapshot,
    pattern: Option<&str>,
    items: &[TemplateInfo],
) -> String {
    let mut text = format!(
        "target {} ({}):\n",
        target.name,
        target.url.as_deref().unwrap_or_default()
    );
    if items.is_empty() {
        let what = hints::object(kind);
        let _ = match pattern {
            Some(pattern) => writeln!(text, "  no {what} name contains {pattern:?}"),
            None => writeln!(text, "  no {what}s"),
        };
        return text;
    }
    let rows: Vec<[String; 6]> = items
        .iter()
        .map(|item| {
            [
                item.name.clone().unwrap_or_else(|| "-".into()),
                item.id.clone(),
                item.pipeline.clone().unwrap_or_else(|| "-".into()),
                if item.runnable { "yes" } else { "no" }.into(),
                if item.tags.is_empty() {
                    "-".into()
                } else {
                    item.tags.join(",")
                },
                item.latest_run_status.clone().unwrap_or_else(|| "-".into()),
            ]
        })
        .collect();
    let header = ["NAME", "ID", "PIPELINE", "RUNNABLE", "TAGS", "LATEST RUN"].map(String::from);
    let mut widths = header.clone().map(|h| h.chars().count());
    for row in &rows {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(cell.chars().count());
        }
    }
    for row in std::iter::once(&header).chain(&rows) {
        let mut line = String::from(" ");
        for (cell, width) in row.iter().zip(widths) {
            let _ = write!(line, " {cell:<width$}");
        }
        let _ = writeln!(text, "{}", line.trim_end());
    }
    text
}

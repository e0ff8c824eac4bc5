//! Operator commands: jobs, replays, reloads (through a running zenhook's admin API) and
//! pruning (straight on the database, so it works with the service stopped).

use anyhow::Context;
use clap::{Args, Subcommand};
use serde_json::Value;

use super::{resolve_connection, AdminArgs};
use crate::admin_client::AdminClient;
use crate::config::Settings;

#[derive(Debug, Args)]
pub struct JobsArgs {
    #[command(flatten)]
    pub admin: AdminArgs,
    #[command(subcommand)]
    pub command: JobsCommand,
}

#[derive(Debug, Subcommand)]
pub enum JobsCommand {
    /// List jobs, newest first.
    List {
        /// Only jobs in this status (queued, running, retrying, held, succeeded, dead,
        /// cancelled, shadowed, superseded, skipped).
        #[arg(long)]
        status: Option<String>,
        #[arg(long, default_value_t = 50)]
        limit: u32,
    },
    /// One job with every attempt, as JSON.
    Show { id: String },
    /// Start a new generation of a dead job (after checking ZenML has no run for it).
    Retry { id: String },
    /// Cancel a job that was never sent.
    Cancel { id: String },
    /// Ask ZenML to stop the job's run.
    StopRun { id: String },
}

#[derive(Debug, Args)]
pub struct DeliveriesArgs {
    #[command(flatten)]
    pub admin: AdminArgs,
    #[command(subcommand)]
    pub command: DeliveriesCommand,
}

#[derive(Debug, Subcommand)]
pub enum DeliveriesCommand {
    /// Route a stored delivery again against today's rules: a new generation of jobs,
    /// and what changed since the original routing.
    Replay { id: String },
}

fn client(admin: &AdminArgs, via: &str) -> anyhow::Result<AdminClient> {
    let connection = resolve_connection(admin)?;
    Ok(AdminClient::new(&connection.url, connection.token)?.via(via))
}

fn print_json(value: &Value) -> anyhow::Result<()> {
    println!("{}", serde_json::to_string_pretty(value)?);
    Ok(())
}

fn text(value: &Value, key: &str) -> String {
    match &value[key] {
        Value::Null => "-".into(),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

pub async fn run_jobs(args: JobsArgs) -> anyhow::Result<()> {
    let client = client(&args.admin, "jobs")?;
    match args.command {
        JobsCommand::List { status, limit } => {
            let mut query = vec![("limit", limit.to_string())];
            if let Some(status) = status {
                query.push(("status", status));
            }
            let page = client.get_json(&["jobs"], &query).await?;
            let items = page["items"].as_array().cloned().unwrap_or_default();
            if items.is_empty() {
                println!("no jobs");
            }
            for job in items {
                println!(
                    "{}  {:<10}  {:<8}  run {}  {}",
                    text(&job, "id"),
                    text(&job, "status"),
                    text(&job, "target"),
                    text(&job, "run_name"),
                    text(&job, "last_error"),
                );
            }
            Ok(())
        }
        JobsCommand::Show { id } => print_json(&client.get_json(&["jobs", &id], &[]).await?),
        JobsCommand::Retry { id } => {
            print_json(&client.post_json(&["jobs", &id, "retry"], &[], None).await?)
        }
        JobsCommand::Cancel { id } => print_json(
            &client
                .post_json(&["jobs", &id, "cancel"], &[], None)
                .await?,
        ),
        JobsCommand::StopRun { id } => print_json(
            &client
                .post_json(&["jobs", &id, "stop-run"], &[], None)
                .await?,
        ),
    }
}

pub async fn run_deliveries(args: DeliveriesArgs) -> anyhow::Result<()> {
    let client = client(&args.admin, "deliveries")?;
    match args.command {
        DeliveriesCommand::Replay { id } => print_json(
            &client
                .post_json(&["deliveries", &id, "replay"], &[], None)
                .await?,
        ),
    }
}

/// `zenhook reload`: asks a running zenhook to re-read its configuration.
pub async fn run_reload(admin: AdminArgs) -> anyhow::Result<()> {
    let client = client(&admin, "reload")?;
    print_json(&client.post_json(&["admin", "reload"], &[], None).await?)
}

/// `zenhook prune [--dry-run]`: applies `[retention]` to the database now.
pub async fn run_prune(config: Option<std::path::PathBuf>, dry_run: bool) -> anyhow::Result<()> {
    let settings = Settings::load(config.as_deref())?;
    let store = crate::open_store(&settings).await?;
    let report = crate::retention::prune(
        store.as_ref(),
        &settings.retention,
        crate::store::now_ms(),
        dry_run,
    )
    .await
    .context("pruning failed")?;
    let verb = if dry_run { "would remove" } else { "removed" };
    println!(
        "{verb}: {} delivery bodies (older than {}), {} deliveries with {} jobs (older than {})",
        report.bodies,
        humantime::format_duration(settings.retention.bodies),
        report.deliveries,
        report.jobs,
        humantime::format_duration(settings.retention.deliveries),
    );
    Ok(())
}

//! The command line, in the library so tests can parse the Dockerfile's command with it.

mod check;
mod connection;
mod ops;
mod plan;
mod rules;
mod templates;

use std::path::PathBuf;

use clap::{ArgGroup, Args, Parser, Subcommand};
use uuid::Uuid;

pub use check::run_check;
pub use connection::{resolve_connection, Connection};
pub use ops::{
    run_deliveries, run_jobs, run_prune, run_reload, DeliveriesArgs, DeliveriesCommand, JobsArgs,
    JobsCommand,
};
pub use plan::{Change, Plan};
pub use rules::{export_yaml, render_dry_run, render_rule_list, run_rules};
pub use templates::{render_templates, run_templates, TemplatesArgs, TemplatesCommand};

/// zenhook turns signed webhooks (GitHub, GitLab, Bitbucket, Gitea/Forgejo, Standard
/// Webhooks, generic HMAC) into ZenML pipeline runs.
///
/// Configuration comes from the built-in defaults, then the file given with --config,
/// then environment variables ZENHOOK__SECTION__KEY (for example
/// ZENHOOK__DATABASE__URL=postgres://zenhook@db/zenhook).
#[derive(Debug, Parser)]
#[command(name = "zenhook", version, about, long_about)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the service: webhook intake and health checks. With no configuration at all
    /// it runs on an SQLite file (zenhook.db) in the current directory and says what is
    /// missing. Applies pending migrations first.
    Serve {
        /// A TOML file layered over the built-in defaults.
        #[arg(long, short, value_name = "FILE")]
        config: Option<PathBuf>,
        /// Run only one half: `api` (intake and admin API) or `worker`. Postgres only:
        /// on SQLite one process owns the database file.
        #[arg(long, value_enum, default_value = "all")]
        role: crate::Role,
    },
    /// Apply pending database migrations and exit.
    Migrate {
        /// A TOML file layered over the built-in defaults.
        #[arg(long, short, value_name = "FILE")]
        config: Option<PathBuf>,
    },
    /// Manage the routing rules of a running zenhook through its admin API.
    Rules(RulesArgs),
    /// Check the configuration, the database and every ZenML target, template and rule
    /// without triggering anything: one line per finding, each problem with its fix.
    /// Exits non-zero on any error.
    Check {
        /// A TOML file layered over the built-in defaults.
        #[arg(long, short, value_name = "FILE")]
        config: Option<PathBuf>,
        /// Print the findings as JSON.
        #[arg(long)]
        json: bool,
    },
    /// The run templates on the configured ZenML targets.
    Templates(TemplatesArgs),
    /// The named pipeline snapshots on the configured ZenML targets.
    Snapshots(TemplatesArgs),
    /// See and steer trigger jobs: list, show, retry, cancel, stop-run.
    Jobs(JobsArgs),
    /// Replay a stored delivery against today's rules.
    Deliveries(DeliveriesArgs),
    /// Ask a running zenhook to re-read its configuration (as SIGHUP does).
    Reload(AdminArgs),
    /// Apply [retention] to the database now; with --dry-run, only say what would go.
    Prune {
        /// A TOML file layered over the built-in defaults.
        #[arg(long, short, value_name = "FILE")]
        config: Option<PathBuf>,
        #[arg(long)]
        dry_run: bool,
    },
}

#[derive(Debug, Args)]
pub struct RulesArgs {
    #[command(flatten)]
    pub admin: AdminArgs,
    #[command(subcommand)]
    pub command: RulesCommand,
}

/// Where the admin API is and how to authenticate. Unset values come from the
/// configuration: the URL from [admin] listen (else [server] listen), the token from
/// the first of [admin] tokens.
#[derive(Debug, Clone, Args)]
pub struct AdminArgs {
    /// The running zenhook, e.g. http://127.0.0.1:8080 (its admin API is under /api/v1).
    #[arg(long, env = "ZENHOOK_URL", global = true, value_name = "URL")]
    pub url: Option<String>,
    /// An admin API bearer token.
    #[arg(
        long,
        env = "ZENHOOK_TOKEN",
        global = true,
        hide_env_values = true,
        value_name = "TOKEN"
    )]
    pub token: Option<String>,
    /// The service's TOML configuration, read for the defaults of --url and --token.
    #[arg(long, short, global = true, value_name = "FILE")]
    pub config: Option<PathBuf>,
}

#[derive(Debug, Subcommand)]
pub enum RulesCommand {
    /// List the stored rules.
    List,
    /// Make the stored rules match a YAML file: create, update and delete as needed,
    /// printing the changes first.
    Apply {
        /// A YAML list of rules (as `export` prints).
        #[arg(value_name = "FILE")]
        file: PathBuf,
        /// Print the changes and check the rules without changing anything.
        #[arg(long)]
        dry_run: bool,
    },
    /// Print the stored rules as a YAML list that `apply` takes back unchanged.
    Export,
    /// Dry run: every rule's verdict and the rendered run configurations for a payload
    /// or a stored delivery. Creates nothing.
    #[command(group(ArgGroup::new("input").required(true).args(["source", "delivery"])))]
    Test {
        /// The configured source the payload comes in on.
        #[arg(long, requires = "payload", value_name = "NAME")]
        source: Option<String>,
        /// The JSON payload ('-' reads standard input).
        #[arg(long, requires = "source", value_name = "FILE")]
        payload: Option<PathBuf>,
        /// A request header, 'Name: value' (repeatable), e.g. 'X-GitHub-Event: push'.
        #[arg(
            long = "header",
            short = 'H',
            requires = "source",
            value_name = "HEADER"
        )]
        headers: Vec<String>,
        /// A stored delivery to route again instead of a payload.
        #[arg(long, conflicts_with_all = ["source", "payload", "headers"], value_name = "ID")]
        delivery: Option<Uuid>,
        /// Print the API's answer as JSON instead of the summary.
        #[arg(long)]
        json: bool,
    },
}

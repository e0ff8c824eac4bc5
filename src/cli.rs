//! The command line, in the library so tests can parse the Dockerfile's command with it.

use std::path::PathBuf;

use clap::{Parser, Subcommand};

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
    },
    /// Apply pending database migrations and exit.
    Migrate {
        /// A TOML file layered over the built-in defaults.
        #[arg(long, short, value_name = "FILE")]
        config: Option<PathBuf>,
    },
}

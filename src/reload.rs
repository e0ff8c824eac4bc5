//! Live reload: re-read the configuration, validate all of it (including every stored
//! rule against the new sources and targets), then swap it in at once. An invalid file
//! changes nothing and says why.

use std::path::PathBuf;
use std::sync::Arc;

use serde::Serialize;

use crate::config::Settings;
use crate::live::{Live, LiveConfig};
use crate::rule_cache::{compile_row, RuleCache};
use crate::store::Store;

/// What a reload changed, in words.
#[derive(Debug, Clone, Serialize)]
pub struct ReloadReport {
    pub sources: Vec<String>,
    pub targets: Vec<String>,
    pub admin_tokens: usize,
    /// Settings that changed in the file but only take effect after a restart.
    pub restart_needed: Vec<String>,
}

/// Settings a running process cannot change.
#[derive(Debug, Clone, PartialEq)]
struct Fixed {
    listen: std::net::SocketAddr,
    admin_listen: Option<std::net::SocketAddr>,
    database_url: String,
}

impl Fixed {
    fn of(settings: &Settings) -> Fixed {
        Fixed {
            listen: settings.server.listen,
            admin_listen: settings.admin.listen,
            database_url: settings.database.url.clone(),
        }
    }
}

pub struct Reloader {
    config_path: Option<PathBuf>,
    /// The environment the service started with (tests pass their own).
    env: Vec<(String, String)>,
    fixed: Fixed,
    live: Arc<Live>,
    rules: RuleCache,
    store: Arc<dyn Store>,
    /// One reload at a time.
    lock: tokio::sync::Mutex<()>,
}

impl Reloader {
    pub fn new(
        settings: &Settings,
        config_path: Option<PathBuf>,
        env: Vec<(String, String)>,
        live: Arc<Live>,
        rules: RuleCache,
        store: Arc<dyn Store>,
    ) -> Reloader {
        Reloader {
            config_path,
            env,
            fixed: Fixed::of(settings),
            live,
            rules,
            store,
            lock: tokio::sync::Mutex::new(()),
        }
    }

    /// Reloads, or leaves everything as it was and says why not.
    pub async fn reload(&self) -> Result<ReloadReport, String> {
        let _one_at_a_time = self.lock.lock().await;
        let mut settings = Settings::load_with_env(self.config_path.as_deref(), self.env.clone())
            .map_err(|e| e.to_string())?;
        let fixed = Fixed::of(&settings);
        let mut restart_needed = Vec::new();
        if fixed.listen != self.fixed.listen {
            restart_needed.push("server.listen".to_string());
        }
        if fixed.admin_listen != self.fixed.admin_listen {
            restart_needed.push("admin.listen".to_string());
        }
        if fixed.database_url != self.fixed.database_url {
            restart_needed.push("database.url".to_string());
        }
        let config = LiveConfig::build(&mut settings).map_err(|e| format!("{e:#}"))?;
        let known = config.known();
        // Every stored rule must still make sense with the new sources and targets.
        let rows = self
            .store
            .all_rules()
            .await
            .map_err(|e| format!("cannot read the rules: {e}"))?;
        let broken: Vec<String> = rows
            .iter()
            .filter_map(|row| compile_row(row, &known).err())
            .collect();
        if !broken.is_empty() {
            return Err(format!(
                "the new configuration breaks stored rules: {}",
                broken.join("; ")
            ));
        }
        let report = ReloadReport {
            sources: config.sources.keys().cloned().collect(),
            targets: known.targets.clone(),
            admin_tokens: config.admin_tokens.len(),
            restart_needed,
        };
        self.live.replace(config);
        self.rules.set_known(known);
        if let Err(error) = self.rules.reload(self.store.as_ref()).await {
            tracing::warn!(%error, "rules not reloaded after the configuration; the poll will");
        }
        tracing::info!(
            sources = report.sources.len(),
            targets = report.targets.len(),
            restart_needed = ?report.restart_needed,
            "configuration reloaded"
        );
        Ok(report)
    }
}

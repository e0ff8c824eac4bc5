//! The parts of the configuration that reload without a restart (SIGHUP or
//! `POST /api/v1/admin/reload`): sources and their secrets, targets, worker settings and
//! admin tokens. A reload builds and validates the whole new set first, then swaps it in
//! at once; a request sees the old set or the new one, never a mix. Listen addresses
//! and the database URL need a restart.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, RwLock};

use crate::config::{AdminToken, Settings, Source, WorkerSettings};
use crate::rule_cache::Known;
use crate::worker::TargetClient;

/// One consistent set of reloadable settings.
pub struct LiveConfig {
    pub sources: BTreeMap<String, Source>,
    pub targets: HashMap<String, TargetClient>,
    pub worker: WorkerSettings,
    pub admin_tokens: Vec<AdminToken>,
}

impl LiveConfig {
    /// Takes the reloadable parts of `settings` and builds the clients of every
    /// target; fails without side effects.
    pub fn build(settings: &mut Settings) -> anyhow::Result<LiveConfig> {
        let mut targets = HashMap::new();
        for (name, target) in &settings.targets {
            targets.insert(name.clone(), TargetClient::for_target(target)?);
        }
        Ok(LiveConfig {
            sources: std::mem::take(&mut settings.sources),
            targets,
            worker: settings.worker.clone(),
            admin_tokens: settings.admin.tokens.clone(),
        })
    }

    /// What rules may refer to.
    pub fn known(&self) -> Known {
        let mut targets: Vec<String> = self.targets.keys().cloned().collect();
        targets.sort();
        Known {
            sources: self.sources.keys().cloned().collect(),
            targets,
        }
    }
}

/// The reloadable settings in force.
pub struct Live {
    current: RwLock<Arc<LiveConfig>>,
}

impl Live {
    pub fn new(config: LiveConfig) -> Arc<Live> {
        Arc::new(Live {
            current: RwLock::new(Arc::new(config)),
        })
    }

    pub fn current(&self) -> Arc<LiveConfig> {
        // A poisoned lock only means a writer panicked between two whole values.
        self.current
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .clone()
    }

    pub fn admin_tokens(&self) -> Vec<AdminToken> {
        self.current().admin_tokens.clone()
    }

    pub fn replace(&self, config: LiveConfig) {
        *self
            .current
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner()) = Arc::new(config);
    }
}

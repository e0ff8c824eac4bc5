//! The compiled rules the hot path evaluates, held in memory and swapped whole.
//!
//! Readers take a cheap `Arc` of the current set and never block a reload; a reload
//! compiles the new set first and swaps it in at once, so a request sees either the
//! old rules or the new ones, never a mix. Replicas sharing a Postgres database hear
//! of each change through LISTEN/NOTIFY and compare a revision counter as a fallback.

use std::sync::{Arc, RwLock};
use std::time::Duration;

use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use crate::rules::{Catalog, CompiledRule, RuleSpec};
use crate::store::{Channel, RuleRow, Store, StoreError};

/// What the configuration knows, for validating rules.
#[derive(Debug, Clone, Default)]
pub struct Known {
    pub sources: Vec<String>,
    pub targets: Vec<String>,
}

impl Known {
    pub fn catalog(&self) -> Catalog<'_> {
        Catalog {
            sources: &self.sources,
            targets: &self.targets,
        }
    }
}

#[derive(Clone)]
pub struct RuleCache {
    current: Arc<RwLock<Loaded>>,
    known: Arc<RwLock<Arc<Known>>>,
}

#[derive(Clone, Default)]
struct Loaded {
    rules: Arc<Vec<CompiledRule>>,
    revision: i64,
}

/// Compiles a stored rule. A rule that no longer compiles (its source or target was
/// removed from the configuration) is an error the caller reports.
pub fn compile_row(row: &RuleRow, known: &Known) -> Result<CompiledRule, String> {
    let id = Uuid::parse_str(&row.id).map_err(|_| format!("rule {:?}: bad id", row.name))?;
    let spec: RuleSpec = serde_json::from_str(&row.spec)
        .map_err(|e| format!("rule {:?}: stored text unreadable: {e}", row.name))?;
    CompiledRule::compile(id, row.version, spec, &known.catalog())
        .map_err(|e| format!("rule {:?}: {}: {}", row.name, e.field, e.message))
}

impl RuleCache {
    pub fn new(known: Known) -> Self {
        RuleCache {
            current: Arc::default(),
            known: Arc::new(RwLock::new(Arc::new(known))),
        }
    }

    /// What rules may refer to now.
    pub fn known(&self) -> Arc<Known> {
        self.known
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .clone()
    }

    /// New sources and targets (after a configuration reload); reload the rules next.
    pub fn set_known(&self, known: Known) {
        *self
            .known
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner()) = Arc::new(known);
    }

    /// The rules in force now.
    pub fn current(&self) -> Arc<Vec<CompiledRule>> {
        // A poisoned lock only means a writer panicked between two whole values.
        self.current
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .rules
            .clone()
    }

    fn revision(&self) -> i64 {
        self.current
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .revision
    }

    /// Reads every rule from the store and puts them in force. Rules that no longer
    /// compile are left out and returned, so the caller can say so.
    pub async fn reload(&self, store: &dyn Store) -> Result<Vec<String>, StoreError> {
        // Read the revision first: a change landing during the read bumps it again,
        // so the next check reloads instead of trusting a mixed read.
        let revision = store.rules_revision().await?;
        let rows = store.all_rules().await?;
        let mut rules = Vec::with_capacity(rows.len());
        let mut broken = Vec::new();
        let known = self.known();
        for row in &rows {
            match compile_row(row, &known) {
                Ok(rule) => rules.push(rule),
                Err(problem) => broken.push(problem),
            }
        }
        *self
            .current
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner()) = Loaded {
            rules: Arc::new(rules),
            revision,
        };
        for problem in &broken {
            tracing::error!(problem = %problem, "rule left out");
        }
        Ok(broken)
    }

    /// Subscribes to rule change notifications, then keeps the cache fresh until
    /// `shutdown`: reloads on every notification, and every `poll` when the stored
    /// revision moved without one reaching us. The subscription is in place when this
    /// returns, so a change made after it (a replica told "ready") is not missed.
    pub async fn follow(
        self,
        store: Arc<dyn Store>,
        poll: Duration,
        shutdown: CancellationToken,
    ) -> impl std::future::Future<Output = ()> {
        let notifications = match store.subscribe(Channel::Rules).await {
            Ok(notifications) => notifications,
            Err(error) => {
                tracing::warn!(%error, "no rule change notifications; polling only");
                None
            }
        };
        self.keep_fresh(store, notifications, poll, shutdown)
    }

    async fn keep_fresh(
        self,
        store: Arc<dyn Store>,
        mut notifications: Option<tokio::sync::mpsc::Receiver<()>>,
        poll: Duration,
        shutdown: CancellationToken,
    ) {
        let mut ticker = tokio::time::interval(poll);
        ticker.tick().await;
        loop {
            let notified = async {
                match notifications.as_mut() {
                    Some(rx) => rx.recv().await.is_some(),
                    None => std::future::pending().await,
                }
            };
            let reload = tokio::select! {
                _ = shutdown.cancelled() => return,
                alive = notified => {
                    if !alive {
                        notifications = None;
                    }
                    true
                }
                _ = ticker.tick() => match store.rules_revision().await {
                    Ok(revision) => revision != self.revision(),
                    Err(error) => {
                        tracing::warn!(%error, "cannot read the rules revision");
                        false
                    }
                },
            };
            if reload {
                if let Err(error) = self.reload(store.as_ref()).await {
                    tracing::warn!(%error, "cannot reload the rules");
                }
            }
        }
    }
}

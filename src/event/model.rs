//! The normalised event: what every sender's payload is reduced to before routing.
//!
//! Every field but `sender` and `kind` is optional: a value the payload does not carry is
//! absent, never guessed. Serialised with absent fields skipped, so templates and traces
//! only see what the sender really said.

use serde::{Deserialize, Serialize};

/// The sender families zenhook knows how to verify and normalise.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SenderKind {
    Github,
    Gitlab,
    Bitbucket,
    Gitea,
    Forgejo,
    Standard,
    Hmac,
    Token,
}

impl SenderKind {
    pub fn as_str(self) -> &'static str {
        match self {
            SenderKind::Github => "github",
            SenderKind::Gitlab => "gitlab",
            SenderKind::Bitbucket => "bitbucket",
            SenderKind::Gitea => "gitea",
            SenderKind::Forgejo => "forgejo",
            SenderKind::Standard => "standard",
            SenderKind::Hmac => "hmac",
            SenderKind::Token => "token",
        }
    }
}

impl std::fmt::Display for SenderKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Files touched by a push, across every commit the payload lists.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChangedPaths {
    pub added: Vec<String>,
    pub modified: Vec<String>,
    pub removed: Vec<String>,
    /// False when the payload lists only some commits (GitLab caps at 20) or some files.
    pub complete: bool,
}

impl ChangedPaths {
    /// Every path touched, in the order added, modified, removed, without duplicates.
    pub fn all(&self) -> Vec<&str> {
        let mut seen = std::collections::BTreeSet::new();
        self.added
            .iter()
            .chain(&self.modified)
            .chain(&self.removed)
            .map(String::as_str)
            .filter(|p| seen.insert(*p))
            .collect()
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Event {
    /// The sender family (`github`, `gitlab`, ...).
    pub sender: SenderKind,
    /// Normalised kind: `push`, `pull_request`, `release`, `pipeline`, `ping`, or the
    /// sender's own event name for anything else (`create`, `check_suite`, ...).
    pub kind: String,
    /// The event name exactly as the sender gave it (`workflow_run`, `Pipeline Hook`, `repo:push`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub raw_event: Option<String>,
    /// Normalised action: `opened`, `updated`, `closed`, `merged`, `reopened`, `published`, `completed`, ...
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub action: Option<String>,
    /// The action exactly as the sender gave it (`synchronize`, `update`, ...).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub raw_action: Option<String>,
    /// Repository full name, `owner/name` (GitLab: the whole namespace path, subgroups included).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub repository: Option<String>,
    /// The full git ref when the sender gives one (`refs/heads/main`, `refs/tags/v1`).
    #[serde(default, rename = "ref", skip_serializing_if = "Option::is_none")]
    pub git_ref: Option<String>,
    /// Branch name for branch events (never set together with `tag` for a push).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub branch: Option<String>,
    /// Tag name for tag pushes and releases.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tag: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub before: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub after: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deleted: Option<bool>,
    /// Absent when the payload carries no file lists at all (Bitbucket, pull requests).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub changed_paths: Option<ChangedPaths>,
    /// Who caused the event (login or username).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub actor: Option<String>,
    /// Pull/merge request number (GitHub `number`, GitLab `iid`, Bitbucket `id`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pull_request: Option<u64>,
    /// Pull request head branch.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_branch: Option<String>,
    /// Pull request base branch.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target_branch: Option<String>,
    /// Full name of the repository the pull request comes from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub head_repository: Option<String>,
    /// True when the pull request's head repository differs from the base repository.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fork: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub merged: Option<bool>,
    /// CI status (`queued`, `in_progress`, `completed`, GitLab `success`/`failed`/`running`, ...).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ci_status: Option<String>,
    /// CI conclusion where the sender separates it from status (GitHub `success`, `failure`, ...).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ci_conclusion: Option<String>,
}

impl Event {
    /// An event with only its sender and kind known.
    pub fn new(sender: SenderKind, kind: impl Into<String>) -> Self {
        Event {
            sender,
            kind: kind.into(),
            raw_event: None,
            action: None,
            raw_action: None,
            repository: None,
            git_ref: None,
            branch: None,
            tag: None,
            before: None,
            after: None,
            created: None,
            deleted: None,
            changed_paths: None,
            actor: None,
            pull_request: None,
            source_branch: None,
            target_branch: None,
            head_repository: None,
            fork: None,
            merged: None,
            ci_status: None,
            ci_conclusion: None,
        }
    }
}

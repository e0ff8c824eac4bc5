//! GitHub-shaped payloads: GitHub itself, and Gitea/Forgejo, which copy its event names and
//! payload layout (with `synchronized` for `synchronize` and no `created`/`deleted` flags).

use serde_json::Value;

use super::json::{first_text, flag, list, number, object, text};
use super::normalise::{is_fork, UNKNOWN_KIND};
use super::refs::{self, RefKind};
use super::{paths, Event, SenderKind};

/// GitHub's published webhook caps: commits listed per push, files listed per commit.
const GITHUB_MAX_COMMITS: usize = 2048;
const GITHUB_MAX_FILES_PER_COMMIT: usize = 3000;

/// Which forge wrote the payload, for the few places their conventions differ.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Dialect {
    Github,
    /// Gitea and Forgejo.
    Gitea,
}

pub(super) fn normalise(
    sender: SenderKind,
    dialect: Dialect,
    raw_event: Option<&str>,
    payload: &Value,
) -> Event {
    let mut event = Event::new(sender, kind_of(raw_event));
    event.repository = text(payload, &["repository", "full_name"]);
    event.actor = first_text(
        payload,
        &[
            &["sender", "login"],
            &["sender", "username"],
            &["pusher", "login"],
            &["pusher", "username"],
            &["pusher", "name"],
        ],
    );
    event.raw_action = text(payload, &["action"]);
    event.action = event.raw_action.as_deref().map(|raw| action(raw, payload));
    // Pushes, and GitHub's `synchronize`, carry the old and new head at the top level.
    event.before = text(payload, &["before"]);
    event.after = text(payload, &["after"]);

    match raw_event {
        Some("push") => push(&mut event, dialect, payload),
        Some("create" | "delete") => named_ref(&mut event, payload),
        Some("release") => event.tag = text(payload, &["release", "tag_name"]),
        Some(run @ ("workflow_run" | "workflow_job" | "check_suite")) => {
            ci_run(&mut event, payload, run)
        }
        Some("check_run") => {
            ci_run(&mut event, payload, "check_run");
            event.branch = text(payload, &["check_run", "check_suite", "head_branch"]);
        }
        Some("status") => event.ci_status = text(payload, &["state"]),
        _ => {}
    }
    if object(payload, &["pull_request"]).is_some() {
        pull_request(&mut event, payload);
    }
    event
}

fn kind_of(raw_event: Option<&str>) -> String {
    match raw_event {
        Some("workflow_run") => "pipeline",
        Some(other) => other,
        None => UNKNOWN_KIND,
    }
    .to_owned()
}

fn action(raw: &str, payload: &Value) -> String {
    match raw {
        "synchronize" | "synchronized" => "updated",
        "closed" if flag(payload, &["pull_request", "merged"]) == Some(true) => "merged",
        other => other,
    }
    .to_owned()
}

fn push(event: &mut Event, dialect: Dialect, payload: &Value) {
    refs::apply_full_ref(event, text(payload, &["ref"]));
    // GitHub states both flags; Gitea/Forgejo only send the all-zero id.
    event.created =
        flag(payload, &["created"]).or_else(|| event.before.as_deref().map(refs::is_zero_id));
    event.deleted =
        flag(payload, &["deleted"]).or_else(|| event.after.as_deref().map(refs::is_zero_id));
    if let Some(commits) = list(payload, &["commits"]) {
        event.changed_paths = paths::collect(commits).map(|mut changed| {
            changed.complete &= !truncated(dialect, payload, commits);
            changed
        });
    }
}

/// Whether the sender may have left commits or files out of the payload.
fn truncated(dialect: Dialect, payload: &Value, commits: &[Value]) -> bool {
    match dialect {
        Dialect::Github => {
            commits.len() >= GITHUB_MAX_COMMITS
                || paths::largest_commit(commits) >= GITHUB_MAX_FILES_PER_COMMIT
        }
        // Gitea lists a configurable number of commits and states the real count.
        Dialect::Gitea => {
            number(payload, &["total_commits"]).is_some_and(|total| total > commits.len() as u64)
        }
    }
}

/// `create`/`delete`: a short ref name plus `ref_type`.
fn named_ref(event: &mut Event, payload: &Value) {
    let kind = match text(payload, &["ref_type"]).as_deref() {
        Some("branch") => RefKind::Branch,
        Some("tag") => RefKind::Tag,
        _ => return,
    };
    refs::apply_named_ref(event, kind, text(payload, &["ref"]));
}

/// `workflow_run`, `workflow_job`, `check_suite`, `check_run`: the object named like the event.
fn ci_run(event: &mut Event, payload: &Value, key: &str) {
    event.ci_status = text(payload, &[key, "status"]);
    event.ci_conclusion = text(payload, &[key, "conclusion"]);
    event.branch = text(payload, &[key, "head_branch"]);
    // Only an unambiguous association: several pull requests name no single one.
    if let Some([only]) = list(payload, &[key, "pull_requests"]) {
        event.pull_request = number(only, &["number"]);
        event.source_branch = text(only, &["head", "ref"]);
        event.target_branch = text(only, &["base", "ref"]);
    }
}

fn pull_request(event: &mut Event, payload: &Value) {
    event.pull_request =
        number(payload, &["number"]).or_else(|| number(payload, &["pull_request", "number"]));
    event.source_branch = text(payload, &["pull_request", "head", "ref"]);
    event.target_branch = text(payload, &["pull_request", "base", "ref"]);
    event.head_repository = text(payload, &["pull_request", "head", "repo", "full_name"]);
    let base_repository = text(payload, &["pull_request", "base", "repo", "full_name"])
        .or_else(|| event.repository.clone());
    event.fork = is_fork(&event.head_repository, &base_repository);
    event.merged = flag(payload, &["pull_request", "merged"]);
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn github(event: &str, payload: Value) -> Event {
        normalise(SenderKind::Github, Dialect::Github, Some(event), &payload)
    }

    fn gitea(event: &str, payload: Value) -> Event {
        normalise(SenderKind::Gitea, Dialect::Gitea, Some(event), &payload)
    }

    fn commits(count: usize, files_each: usize) -> Value {
        let commit = |i: usize| {
            let files: Vec<String> = (0..files_each).map(|f| format!("c{i}/f{f}")).collect();
            json!({"id": i.to_string(), "added": files, "modified": [], "removed": []})
        };
        Value::Array((0..count).map(commit).collect())
    }

    #[test]
    fn github_push_at_the_commit_cap_is_incomplete() {
        let below = github(
            "push",
            json!({"ref": "refs/heads/main", "commits": commits(2047, 1)}),
        );
        assert_eq!(below.changed_paths.map(|p| p.complete), Some(true));
        let at_cap = github(
            "push",
            json!({"ref": "refs/heads/main", "commits": commits(2048, 1)}),
        );
        let at_cap = at_cap.changed_paths.expect("lists present");
        assert!(!at_cap.complete);
        assert_eq!(at_cap.added.len(), 2048);
    }

    #[test]
    fn github_push_with_a_commit_at_the_file_cap_is_incomplete() {
        let e = github("push", json!({"commits": commits(1, 3000)}));
        assert_eq!(e.changed_paths.map(|p| p.complete), Some(false));
        let e = github("push", json!({"commits": commits(1, 2999)}));
        assert_eq!(e.changed_paths.map(|p| p.complete), Some(true));
    }

    #[test]
    fn gitea_push_with_more_commits_than_listed_is_incomplete() {
        let e = gitea(
            "push",
            json!({"commits": commits(5, 1), "total_commits": 9}),
        );
        assert_eq!(e.changed_paths.map(|p| p.complete), Some(false));
        let e = gitea(
            "push",
            json!({"commits": commits(5, 1), "total_commits": 5}),
        );
        assert_eq!(e.changed_paths.map(|p| p.complete), Some(true));
        // GitHub's 2048 cap is not Gitea's.
        let e = gitea("push", json!({"commits": commits(2048, 0)}));
        assert_eq!(e.changed_paths.map(|p| p.complete), Some(true));
    }

    #[test]
    fn gitea_deletion_push_is_detected_from_the_zero_id() {
        let e = gitea(
            "push",
            json!({"ref": "refs/heads/gone", "before": "abc", "after": "0000000000000000000000000000000000000000", "commits": []}),
        );
        assert_eq!((e.created, e.deleted), (Some(false), Some(true)));
        assert_eq!(e.branch.as_deref(), Some("gone"));
    }

    #[test]
    fn github_flags_win_over_the_ids() {
        let e = github(
            "push",
            json!({"before": "0000000000000000000000000000000000000000", "after": "1", "created": false, "deleted": false}),
        );
        assert_eq!((e.created, e.deleted), (Some(false), Some(false)));
    }

    #[test]
    fn gitea_synchronized_is_updated_and_merged_close_is_merged() {
        let sync = gitea(
            "pull_request",
            json!({"action": "synchronized", "number": 3, "pull_request": {"merged": false}}),
        );
        assert_eq!(sync.action.as_deref(), Some("updated"));
        assert_eq!(sync.raw_action.as_deref(), Some("synchronized"));
        assert_eq!(sync.pull_request, Some(3));

        let merged = gitea(
            "pull_request",
            json!({"action": "closed", "pull_request": {"number": 4, "merged": true}}),
        );
        assert_eq!(merged.action.as_deref(), Some("merged"));
        assert_eq!(merged.merged, Some(true));
        assert_eq!(merged.pull_request, Some(4));
    }

    #[test]
    fn closed_issue_stays_closed() {
        let e = github(
            "issues",
            json!({"action": "closed", "issue": {"number": 1}}),
        );
        assert_eq!(e.kind, "issues");
        assert_eq!(e.action.as_deref(), Some("closed"));
        assert_eq!(e.pull_request, None);
    }

    #[test]
    fn fork_needs_both_repositories() {
        let e = github(
            "pull_request",
            json!({"action": "opened", "pull_request": {"head": {"ref": "x", "repo": null}, "base": {"ref": "main"}}}),
        );
        assert_eq!((e.head_repository, e.fork), (None, None));
        assert_eq!(e.source_branch.as_deref(), Some("x"));

        let e = github(
            "pull_request",
            json!({"repository": {"full_name": "o/r"}, "pull_request": {"head": {"repo": {"full_name": "fork/r"}}}}),
        );
        assert_eq!(
            e.fork,
            Some(true),
            "the base defaults to the event's repository"
        );
    }

    #[test]
    fn workflow_run_with_one_pull_request_names_it() {
        let e = github(
            "workflow_run",
            json!({"action": "completed", "workflow_run": {
                "status": "completed", "conclusion": "failure", "head_branch": "feature",
                "pull_requests": [{"number": 7, "head": {"ref": "feature"}, "base": {"ref": "main"}}]
            }}),
        );
        assert_eq!(e.kind, "pipeline");
        assert_eq!(e.ci_conclusion.as_deref(), Some("failure"));
        assert_eq!(e.pull_request, Some(7));
        assert_eq!(e.source_branch.as_deref(), Some("feature"));
        assert_eq!(e.target_branch.as_deref(), Some("main"));

        let two = github(
            "workflow_run",
            json!({"workflow_run": {"pull_requests": [{"number": 1}, {"number": 2}]}}),
        );
        assert_eq!(two.pull_request, None);
    }

    #[test]
    fn gitea_workflow_run_is_a_pipeline_too() {
        let e = gitea(
            "workflow_run",
            json!({"action": "completed", "workflow_run": {"status": "completed", "conclusion": "success", "head_branch": "main"}}),
        );
        assert_eq!(e.kind, "pipeline");
        assert_eq!(e.branch.as_deref(), Some("main"));
        assert_eq!(e.ci_status.as_deref(), Some("completed"));
    }

    #[test]
    fn check_run_workflow_job_and_status() {
        let run = github(
            "check_run",
            json!({"action": "completed", "check_run": {"status": "completed", "conclusion": "neutral", "check_suite": {"head_branch": "dev"}}}),
        );
        assert_eq!(run.kind, "check_run");
        assert_eq!(run.ci_conclusion.as_deref(), Some("neutral"));
        assert_eq!(run.branch.as_deref(), Some("dev"));

        let job = github(
            "workflow_job",
            json!({"action": "in_progress", "workflow_job": {"status": "in_progress", "head_branch": "main"}}),
        );
        assert_eq!(job.kind, "workflow_job");
        assert_eq!(job.ci_status.as_deref(), Some("in_progress"));
        assert_eq!(job.branch.as_deref(), Some("main"));

        let status = github("status", json!({"state": "failure", "sha": "abc"}));
        assert_eq!(status.ci_status.as_deref(), Some("failure"));
    }

    #[test]
    fn delete_event_names_the_ref() {
        let e = github("delete", json!({"ref": "feature/x", "ref_type": "branch"}));
        assert_eq!(e.kind, "delete");
        assert_eq!(e.branch.as_deref(), Some("feature/x"));
        assert_eq!(e.git_ref.as_deref(), Some("refs/heads/feature/x"));

        let odd = github("create", json!({"ref": "x", "ref_type": "repository"}));
        assert_eq!((odd.branch, odd.tag, odd.git_ref), (None, None, None));
    }

    #[test]
    fn missing_event_name_is_unknown() {
        let e = normalise(
            SenderKind::Github,
            Dialect::Github,
            None,
            &json!({"ref": "refs/heads/main"}),
        );
        assert_eq!(e.kind, "unknown");
        assert_eq!(e.branch, None, "push fields are read only for pushes");
    }
}

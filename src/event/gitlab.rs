//! GitLab payloads: `object_kind` plus `object_attributes`, projects by namespace path.

use serde_json::Value;

use super::json::{first_text, flag, list, number, object, text};
use super::normalise::{is_fork, UNKNOWN_KIND};
use super::refs::{self, RefKind};
use super::{paths, Event, SenderKind};

/// GitLab lists at most this many commits when `total_commits_count` is absent.
const GITLAB_MAX_COMMITS: usize = 20;

pub(super) fn normalise(sender: SenderKind, raw_event: Option<&str>, payload: &Value) -> Event {
    let mut event = Event::new(sender, kind_of(raw_event, payload));
    event.repository = text(payload, &["project", "path_with_namespace"]);
    event.actor = first_text(payload, &[&["user_username"], &["user", "username"]]);
    event.raw_action = first_text(payload, &[&["object_attributes", "action"], &["action"]]);
    event.action = event.raw_action.as_deref().map(action);

    match event.kind.as_str() {
        "push" => push(&mut event, payload),
        "pull_request" => merge_request(&mut event, payload),
        "pipeline" => pipeline(&mut event, payload),
        "release" => event.tag = text(payload, &["tag"]),
        // Job Hook.
        "build" => {
            event.ci_status = text(payload, &["build_status"]);
            short_ref(&mut event, text(payload, &["ref"]), flag(payload, &["tag"]));
        }
        _ => {}
    }
    event
}

/// The header names the hook; `object_kind` (then `event_name`) covers hooks without a
/// mapping here, system hooks included, in GitLab's own snake_case (`note`, `build`, ...).
fn kind_of(raw_event: Option<&str>, payload: &Value) -> String {
    let from_header = match raw_event {
        Some("Push Hook" | "Tag Push Hook") => Some("push"),
        Some("Merge Request Hook") => Some("pull_request"),
        Some("Pipeline Hook") => Some("pipeline"),
        Some("Release Hook") => Some("release"),
        _ => None,
    };
    if let Some(kind) = from_header {
        return kind.to_owned();
    }
    let from_payload = first_text(payload, &[&["object_kind"], &["event_name"]]);
    match from_payload.as_deref() {
        Some("push" | "tag_push") => "push".to_owned(),
        Some("merge_request") => "pull_request".to_owned(),
        Some(other) => other.to_owned(),
        None => raw_event.unwrap_or(UNKNOWN_KIND).to_owned(),
    }
}

fn action(raw: &str) -> String {
    match raw {
        "open" => "opened",
        "close" => "closed",
        "reopen" => "reopened",
        "update" => "updated",
        "merge" => "merged",
        "create" => "created",
        "delete" => "deleted",
        other => other,
    }
    .to_owned()
}

fn push(event: &mut Event, payload: &Value) {
    refs::apply_full_ref(event, text(payload, &["ref"]));
    event.before = text(payload, &["before"]);
    event.after = first_text(payload, &[&["after"], &["checkout_sha"]]);
    event.created = event.before.as_deref().map(refs::is_zero_id);
    event.deleted = event.after.as_deref().map(refs::is_zero_id);
    if let Some(commits) = list(payload, &["commits"]) {
        let listed = commits.len() as u64;
        let truncated = match number(payload, &["total_commits_count"]) {
            Some(total) => total > listed,
            None => commits.len() >= GITLAB_MAX_COMMITS,
        };
        event.changed_paths = paths::collect(commits).map(|mut changed| {
            changed.complete &= !truncated;
            changed
        });
    }
}

fn merge_request(event: &mut Event, payload: &Value) {
    let attrs = |key: &str| text(payload, &["object_attributes", key]);
    event.pull_request = number(payload, &["object_attributes", "iid"]);
    event.source_branch = attrs("source_branch");
    event.target_branch = attrs("target_branch");
    event.head_repository = text(
        payload,
        &["object_attributes", "source", "path_with_namespace"],
    );
    let base_repository = text(
        payload,
        &["object_attributes", "target", "path_with_namespace"],
    )
    .or_else(|| event.repository.clone());
    event.fork = is_fork(&event.head_repository, &base_repository);
    event.merged = attrs("state").map(|state| state == "merged");
}

fn pipeline(event: &mut Event, payload: &Value) {
    event.ci_status = text(payload, &["object_attributes", "status"]);
    short_ref(
        event,
        text(payload, &["object_attributes", "ref"]),
        flag(payload, &["object_attributes", "tag"]),
    );
    if object(payload, &["merge_request"]).is_some() {
        event.pull_request = number(payload, &["merge_request", "iid"]);
        event.source_branch = text(payload, &["merge_request", "source_branch"]);
        event.target_branch = text(payload, &["merge_request", "target_branch"]);
    }
}

/// Pipelines and jobs name a branch or tag by short name plus a `tag` flag; merge request
/// pipelines may run on a full ref (`refs/merge-requests/1/head`) instead.
fn short_ref(event: &mut Event, name: Option<String>, is_tag: Option<bool>) {
    match (name, is_tag) {
        (Some(full), _) if full.starts_with("refs/") => refs::apply_full_ref(event, Some(full)),
        (name, Some(true)) => refs::apply_named_ref(event, RefKind::Tag, name),
        (name, Some(false)) => refs::apply_named_ref(event, RefKind::Branch, name),
        // Without the flag the name could be either; say nothing.
        (_, None) => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn gitlab(header: Option<&str>, payload: Value) -> Event {
        normalise(SenderKind::Gitlab, header, &payload)
    }

    fn merge_request(action: &str, state: &str) -> Event {
        gitlab(
            Some("Merge Request Hook"),
            json!({"object_kind": "merge_request", "object_attributes": {"action": action, "state": state, "iid": 5}}),
        )
    }

    #[test]
    fn merge_request_actions() {
        for (raw, state, action, merged) in [
            ("open", "opened", "opened", false),
            ("update", "opened", "updated", false),
            ("close", "closed", "closed", false),
            ("reopen", "opened", "reopened", false),
            ("merge", "merged", "merged", true),
            ("approved", "opened", "approved", false),
        ] {
            let e = merge_request(raw, state);
            assert_eq!(e.kind, "pull_request");
            assert_eq!(e.action.as_deref(), Some(action), "{raw}");
            assert_eq!(e.raw_action.as_deref(), Some(raw));
            assert_eq!(e.merged, Some(merged), "{raw}");
            assert_eq!(e.pull_request, Some(5));
        }
    }

    #[test]
    fn merge_request_from_a_fork() {
        let e = gitlab(
            Some("Merge Request Hook"),
            json!({
                "project": {"path_with_namespace": "group/sub/app"},
                "object_attributes": {
                    "source": {"path_with_namespace": "someone/app"},
                    "target": {"path_with_namespace": "group/sub/app"}
                }
            }),
        );
        assert_eq!(e.repository.as_deref(), Some("group/sub/app"));
        assert_eq!(e.head_repository.as_deref(), Some("someone/app"));
        assert_eq!(e.fork, Some(true));
    }

    #[test]
    fn kind_falls_back_to_object_kind_for_system_and_unmapped_hooks() {
        let system_push = gitlab(
            Some("System Hook"),
            json!({"object_kind": "push", "ref": "refs/heads/main"}),
        );
        assert_eq!(system_push.kind, "push");
        assert_eq!(system_push.branch.as_deref(), Some("main"));

        let note = gitlab(Some("Note Hook"), json!({"object_kind": "note"}));
        assert_eq!(note.kind, "note");

        let system_event = gitlab(Some("System Hook"), json!({"event_name": "project_create"}));
        assert_eq!(system_event.kind, "project_create");

        let bare = gitlab(Some("Emoji Hook"), json!({}));
        assert_eq!(bare.kind, "Emoji Hook");
        assert_eq!(gitlab(None, json!({})).kind, "unknown");
    }

    #[test]
    fn deletion_push_uses_zero_after_and_no_checkout_sha() {
        let e = gitlab(
            Some("Push Hook"),
            json!({"ref": "refs/heads/old", "before": "abc", "after": "0000000000000000000000000000000000000000",
                   "checkout_sha": null, "commits": [], "total_commits_count": 0}),
        );
        assert_eq!((e.created, e.deleted), (Some(false), Some(true)));
        assert_eq!(e.changed_paths.map(|p| p.complete), Some(true));
    }

    #[test]
    fn checkout_sha_stands_in_for_a_missing_after() {
        let e = gitlab(Some("Push Hook"), json!({"checkout_sha": "abc"}));
        assert_eq!(e.after.as_deref(), Some("abc"));
    }

    #[test]
    fn twenty_commits_without_a_count_may_be_truncated() {
        let commits: Vec<Value> = (0..20)
            .map(|i| json!({"added": [format!("f{i}")]}))
            .collect();
        let e = gitlab(Some("Push Hook"), json!({"commits": commits}));
        assert_eq!(e.changed_paths.map(|p| p.complete), Some(false));
    }

    #[test]
    fn pipeline_on_a_tag_and_on_a_merge_request_ref() {
        let tag = gitlab(
            Some("Pipeline Hook"),
            json!({"object_attributes": {"ref": "v2", "tag": true, "status": "failed"}}),
        );
        assert_eq!((tag.tag.as_deref(), tag.branch), (Some("v2"), None));
        assert_eq!(tag.git_ref.as_deref(), Some("refs/tags/v2"));
        assert_eq!(tag.ci_status.as_deref(), Some("failed"));

        let mr = gitlab(
            Some("Pipeline Hook"),
            json!({"object_attributes": {"ref": "refs/merge-requests/1/head", "tag": false}}),
        );
        assert_eq!((mr.branch, mr.tag), (None, None));
        assert_eq!(mr.git_ref.as_deref(), Some("refs/merge-requests/1/head"));

        let unflagged = gitlab(
            Some("Pipeline Hook"),
            json!({"object_attributes": {"ref": "main"}}),
        );
        assert_eq!((unflagged.branch, unflagged.git_ref), (None, None));
    }

    #[test]
    fn job_hook_status_and_ref() {
        let e = gitlab(
            Some("Job Hook"),
            json!({"object_kind": "build", "ref": "main", "tag": false, "build_status": "success",
                   "user": {"username": "ci"}}),
        );
        assert_eq!(e.kind, "build");
        assert_eq!(e.ci_status.as_deref(), Some("success"));
        assert_eq!(e.branch.as_deref(), Some("main"));
        assert_eq!(e.actor.as_deref(), Some("ci"));
    }

    #[test]
    fn release_update_and_delete() {
        for (raw, action) in [("update", "updated"), ("delete", "deleted")] {
            let e = gitlab(Some("Release Hook"), json!({"action": raw, "tag": "v3"}));
            assert_eq!(e.action.as_deref(), Some(action));
            assert_eq!(e.tag.as_deref(), Some("v3"));
        }
    }
}

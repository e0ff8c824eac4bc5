//! Bitbucket Cloud (`repo:push`, `pullrequest:*`) and Data Center (`repo:refs_changed`, `pr:*`).
//!
//! The action lives in the event key, not the body; neither edition lists changed files.

use serde_json::Value;

use super::json::{first_text, flag, list, number, object, text};
use super::normalise::{is_fork, UNKNOWN_KIND};
use super::refs::{self, RefKind};
use super::{Event, SenderKind};

const CLOUD_PULL_REQUEST: &str = "pullrequest:";
const DATA_CENTER_PULL_REQUEST: &str = "pr:";

pub(super) fn normalise(sender: SenderKind, raw_event: Option<&str>, payload: &Value) -> Event {
    let mut event = Event::new(sender, kind_of(raw_event));
    event.repository = repository_name(payload.get("repository"));
    event.actor = first_text(
        payload,
        &[
            &["actor", "username"],
            &["actor", "nickname"],
            &["actor", "name"],
            &["actor", "slug"],
        ],
    );

    match raw_event {
        Some("repo:push") => cloud_push(&mut event, payload),
        Some("repo:refs_changed") => data_center_push(&mut event, payload),
        Some("repo:commit_status_created" | "repo:commit_status_updated") => {
            event.ci_status = text(payload, &["commit_status", "state"]);
        }
        Some(key) => {
            if let Some(raw) = key.strip_prefix(CLOUD_PULL_REQUEST) {
                set_action(&mut event, raw, cloud_action);
                cloud_pull_request(&mut event, payload);
            } else if let Some(raw) = key.strip_prefix(DATA_CENTER_PULL_REQUEST) {
                set_action(&mut event, raw, data_center_action);
                data_center_pull_request(&mut event, payload);
            }
        }
        None => {}
    }
    event
}

fn kind_of(raw_event: Option<&str>) -> String {
    match raw_event {
        Some("repo:push" | "repo:refs_changed") => "push",
        Some(key) if key.starts_with(CLOUD_PULL_REQUEST) => "pull_request",
        Some(key) if key.starts_with(DATA_CENTER_PULL_REQUEST) => "pull_request",
        // Data Center's "Test connection".
        Some("diagnostics:ping") => "ping",
        Some(other) => other,
        None => UNKNOWN_KIND,
    }
    .to_owned()
}

/// The key's suffix is the action as sent; a bare prefix (`pr:`) names none.
fn set_action(event: &mut Event, raw: &str, normalised: fn(&str) -> String) {
    if !raw.is_empty() {
        event.raw_action = Some(raw.to_owned());
        event.action = Some(normalised(raw));
    }
}

fn cloud_action(raw: &str) -> String {
    match raw {
        "created" => "opened",
        "fulfilled" => "merged",
        "rejected" => "closed",
        "changes_request_created" => "changes_requested",
        other => other,
    }
    .to_owned()
}

fn data_center_action(raw: &str) -> String {
    match raw {
        "from_ref_updated" => "updated".to_owned(),
        "modified" => "edited".to_owned(),
        "declined" => "closed".to_owned(),
        "reviewer:approved" => "approved".to_owned(),
        "reviewer:unapproved" => "unapproved".to_owned(),
        "reviewer:needs_work" | "reviewer:changes_requested" => "changes_requested".to_owned(),
        // `opened`, `merged`, `deleted` already read like GitHub's; `comment:added` and the
        // like become one word.
        other => other.replace(':', "_"),
    }
}

/// Cloud: `full_name`. Data Center: `<project key>/<slug>`.
fn repository_name(repository: Option<&Value>) -> Option<String> {
    let repository = repository?;
    text(repository, &["full_name"]).or_else(|| {
        let project = text(repository, &["project", "key"])?;
        let slug = text(repository, &["slug"])?;
        Some(format!("{project}/{slug}"))
    })
}

/// Cloud `push.changes[]`: one entry per ref; the first one is the event's.
fn cloud_push(event: &mut Event, payload: &Value) {
    let Some(change) = list(payload, &["push", "changes"]).and_then(<[Value]>::first) else {
        return;
    };
    let new = object(change, &["new"]);
    let old = object(change, &["old"]);
    // A deleted ref has no `new`; its name is in `old`.
    if let Some(named) = new.or(old) {
        let kind = match text(named, &["type"]).as_deref() {
            Some("branch") => Some(RefKind::Branch),
            Some("tag") => Some(RefKind::Tag),
            _ => None,
        };
        if let Some(kind) = kind {
            refs::apply_named_ref(event, kind, text(named, &["name"]));
        }
    }
    event.before = old.and_then(|old| text(old, &["target", "hash"]));
    event.after = new.and_then(|new| text(new, &["target", "hash"]));
    event.created = flag(change, &["created"]).or_else(|| change.get("old").map(Value::is_null));
    event.deleted = flag(change, &["closed"]).or_else(|| change.get("new").map(Value::is_null));
}

/// Data Center `changes[]`: `ref.id` is the full ref, `type` is ADD/UPDATE/DELETE.
fn data_center_push(event: &mut Event, payload: &Value) {
    let Some(change) = list(payload, &["changes"]).and_then(<[Value]>::first) else {
        return;
    };
    refs::apply_full_ref(event, first_text(change, &[&["ref", "id"], &["refId"]]));
    if event.branch.is_none() && event.tag.is_none() {
        let kind = match text(change, &["ref", "type"]).as_deref() {
            Some("BRANCH") => Some(RefKind::Branch),
            Some("TAG") => Some(RefKind::Tag),
            _ => None,
        };
        if let Some(kind) = kind {
            refs::apply_named_ref(event, kind, text(change, &["ref", "displayId"]));
        }
    }
    event.before = text(change, &["fromHash"]);
    event.after = text(change, &["toHash"]);
    let change_type = text(change, &["type"]);
    event.created = change_type.as_deref().map(|t| t == "ADD");
    event.deleted = change_type.as_deref().map(|t| t == "DELETE");
}

fn cloud_pull_request(event: &mut Event, payload: &Value) {
    let pr = |path: &[&str]| {
        let mut full = vec!["pullrequest"];
        full.extend_from_slice(path);
        text(payload, &full)
    };
    event.pull_request = number(payload, &["pullrequest", "id"]);
    event.source_branch = pr(&["source", "branch", "name"]);
    event.target_branch = pr(&["destination", "branch", "name"]);
    event.head_repository = pr(&["source", "repository", "full_name"]);
    let base_repository =
        pr(&["destination", "repository", "full_name"]).or_else(|| event.repository.clone());
    event.fork = is_fork(&event.head_repository, &base_repository);
    event.merged = pr(&["state"]).map(|state| state == "MERGED");
}

fn data_center_pull_request(event: &mut Event, payload: &Value) {
    let Some(pr) = object(payload, &["pullRequest"]) else {
        return;
    };
    event.pull_request = number(pr, &["id"]);
    event.source_branch = ref_display_name(pr.get("fromRef"));
    event.target_branch = ref_display_name(pr.get("toRef"));
    event.head_repository = repository_name(pr.get("fromRef").and_then(|r| r.get("repository")));
    let base_repository = repository_name(pr.get("toRef").and_then(|r| r.get("repository")));
    // PR payloads carry no top-level repository: the target repository is the event's.
    if event.repository.is_none() {
        event.repository = base_repository.clone();
    }
    event.fork = is_fork(&event.head_repository, &base_repository);
    event.merged = text(pr, &["state"]).map(|state| state == "MERGED");
}

fn ref_display_name(reference: Option<&Value>) -> Option<String> {
    let reference = reference?;
    text(reference, &["displayId"]).or_else(|| {
        text(reference, &["id"])
            .and_then(|id| id.strip_prefix("refs/heads/").map(str::to_owned))
            .filter(|name| !name.is_empty())
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn bitbucket(key: &str, payload: Value) -> Event {
        normalise(SenderKind::Bitbucket, Some(key), &payload)
    }

    fn cloud_pr(state: &str) -> Value {
        json!({
            "actor": {"nickname": "emmap1"},
            "repository": {"full_name": "team/repo"},
            "pullrequest": {
                "id": 12,
                "state": state,
                "source": {"branch": {"name": "feature"}, "repository": {"full_name": "someone/repo"}},
                "destination": {"branch": {"name": "main"}, "repository": {"full_name": "team/repo"}}
            }
        })
    }

    #[test]
    fn cloud_pull_request_actions_come_from_the_event_key() {
        for (key, state, action, merged) in [
            ("pullrequest:created", "OPEN", "opened", false),
            ("pullrequest:updated", "OPEN", "updated", false),
            ("pullrequest:fulfilled", "MERGED", "merged", true),
            ("pullrequest:rejected", "DECLINED", "closed", false),
            ("pullrequest:approved", "OPEN", "approved", false),
            (
                "pullrequest:changes_request_created",
                "OPEN",
                "changes_requested",
                false,
            ),
            (
                "pullrequest:comment_created",
                "OPEN",
                "comment_created",
                false,
            ),
        ] {
            let e = bitbucket(key, cloud_pr(state));
            assert_eq!(e.kind, "pull_request", "{key}");
            assert_eq!(e.action.as_deref(), Some(action), "{key}");
            assert_eq!(e.raw_action.as_deref(), key.strip_prefix("pullrequest:"));
            assert_eq!(e.merged, Some(merged), "{key}");
            assert_eq!(e.pull_request, Some(12));
            assert_eq!(e.source_branch.as_deref(), Some("feature"));
            assert_eq!(e.target_branch.as_deref(), Some("main"));
            assert_eq!(e.head_repository.as_deref(), Some("someone/repo"));
            assert_eq!(e.fork, Some(true));
            assert_eq!(e.repository.as_deref(), Some("team/repo"));
            assert_eq!(e.actor.as_deref(), Some("emmap1"));
        }
    }

    #[test]
    fn data_center_pull_request_actions() {
        for (key, action) in [
            ("pr:opened", "opened"),
            ("pr:from_ref_updated", "updated"),
            ("pr:modified", "edited"),
            ("pr:merged", "merged"),
            ("pr:declined", "closed"),
            ("pr:deleted", "deleted"),
            ("pr:reviewer:approved", "approved"),
            ("pr:reviewer:needs_work", "changes_requested"),
            ("pr:comment:added", "comment_added"),
        ] {
            let e = bitbucket(key, json!({}));
            assert_eq!(e.kind, "pull_request");
            assert_eq!(e.action.as_deref(), Some(action), "{key}");
            assert_eq!(e.raw_action.as_deref(), key.strip_prefix("pr:"));
        }
    }

    #[test]
    fn data_center_ref_name_falls_back_to_the_ref_id() {
        let e = bitbucket(
            "pr:opened",
            json!({"pullRequest": {"id": 1, "state": "OPEN",
                "fromRef": {"id": "refs/heads/topic", "repository": {"slug": "r", "project": {"key": "~me"}}},
                "toRef": {"displayId": "main", "repository": {"slug": "r", "project": {"key": "P"}}}}}),
        );
        assert_eq!(e.source_branch.as_deref(), Some("topic"));
        assert_eq!(e.target_branch.as_deref(), Some("main"));
        assert_eq!(e.head_repository.as_deref(), Some("~me/r"));
        assert_eq!(e.repository.as_deref(), Some("P/r"));
        assert_eq!(e.fork, Some(true));
        assert_eq!(e.merged, Some(false));
    }

    #[test]
    fn cloud_tag_push_created() {
        let e = bitbucket(
            "repo:push",
            json!({"push": {"changes": [{
                "new": {"type": "tag", "name": "v1", "target": {"hash": "aaa"}},
                "old": null, "created": true, "closed": false
            }]}}),
        );
        assert_eq!(e.kind, "push");
        assert_eq!((e.tag.as_deref(), e.branch), (Some("v1"), None));
        assert_eq!(e.git_ref.as_deref(), Some("refs/tags/v1"));
        assert_eq!((e.before, e.after.as_deref()), (None, Some("aaa")));
        assert_eq!((e.created, e.deleted), (Some(true), Some(false)));
        assert_eq!(e.changed_paths, None);
    }

    #[test]
    fn cloud_branch_deletion_names_the_old_ref() {
        let e = bitbucket(
            "repo:push",
            json!({"push": {"changes": [{"new": null, "old": {"type": "branch", "name": "gone", "target": {"hash": "bbb"}}}]}}),
        );
        assert_eq!(e.branch.as_deref(), Some("gone"));
        assert_eq!(e.before.as_deref(), Some("bbb"));
        // No flags: the null sides say it.
        assert_eq!((e.created, e.deleted), (Some(false), Some(true)));
    }

    #[test]
    fn data_center_tag_added_and_branch_deleted() {
        let add = bitbucket(
            "repo:refs_changed",
            json!({"changes": [{"ref": {"id": "refs/tags/v9", "displayId": "v9", "type": "TAG"},
                "fromHash": "0000000000000000000000000000000000000000", "toHash": "ccc", "type": "ADD"}]}),
        );
        assert_eq!(add.tag.as_deref(), Some("v9"));
        assert_eq!((add.created, add.deleted), (Some(true), Some(false)));

        let delete = bitbucket(
            "repo:refs_changed",
            json!({"changes": [{"ref": {"displayId": "old", "type": "BRANCH"}, "type": "DELETE"}]}),
        );
        assert_eq!(delete.branch.as_deref(), Some("old"));
        assert_eq!(delete.git_ref.as_deref(), Some("refs/heads/old"));
        assert_eq!((delete.created, delete.deleted), (Some(false), Some(true)));
    }

    #[test]
    fn ping_commit_status_and_other_keys() {
        assert_eq!(
            bitbucket("diagnostics:ping", json!({"test": true})).kind,
            "ping"
        );

        let status = bitbucket(
            "repo:commit_status_updated",
            json!({"commit_status": {"state": "SUCCESSFUL", "refname": "main"}}),
        );
        assert_eq!(status.kind, "repo:commit_status_updated");
        assert_eq!(status.ci_status.as_deref(), Some("SUCCESSFUL"));
        assert_eq!(status.branch, None, "refname may name a branch or a tag");

        assert_eq!(bitbucket("repo:fork", json!({})).kind, "repo:fork");
        assert_eq!(
            normalise(SenderKind::Bitbucket, None, &json!({})).kind,
            "unknown"
        );
    }
}

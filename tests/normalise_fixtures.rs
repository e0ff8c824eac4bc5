//! Every published fixture through parse → envelope → normalise, asserting the whole Event:
//! each fact of the fixtures' README that maps to a field, and `None` for everything else.

mod event_support;

use event_support::{deliver, paths, s, Root};
use zenhook::event::*;

const ZERO: &str = "0000000000000000000000000000000000000000";

fn github(name: &str) -> Event {
    deliver(SenderKind::Github, Root::Shared, "github", name).event
}

fn gitlab(name: &str) -> Event {
    deliver(SenderKind::Gitlab, Root::Shared, "gitlab", name).event
}

fn gitea(name: &str) -> Event {
    deliver(SenderKind::Gitea, Root::Shared, "gitea", name).event
}

/// A fresh expectation with the fields every event of a sender shares.
fn want(sender: SenderKind, kind: &str, raw_event: &str, repo: Option<&str>, actor: &str) -> Event {
    let mut e = Event::new(sender, kind);
    e.raw_event = s(raw_event);
    e.repository = repo.map(str::to_owned);
    e.actor = s(actor);
    e
}

fn hello(kind: &str, raw_event: &str) -> Event {
    want(
        SenderKind::Github,
        kind,
        raw_event,
        Some("Codertocat/Hello-World"),
        "Codertocat",
    )
}

// --- GitHub -------------------------------------------------------------------------------

#[test]
fn github_push_branch_created_with_one_file() {
    let mut w = hello("push", "push");
    w.git_ref = s("refs/heads/master");
    w.branch = s("master");
    w.before = s(ZERO);
    w.after = s("6113728f27ae82c7b1a177c8d03f9e96e0adf246");
    w.created = Some(true);
    w.deleted = Some(false);
    w.changed_paths = Some(paths(&["README.md"], &[], &[], true));
    assert_eq!(github("push"), w);
}

#[test]
fn github_push_tag_created_without_commits() {
    let mut w = hello("push", "push");
    w.git_ref = s("refs/tags/simple-tag");
    w.tag = s("simple-tag");
    w.before = s(ZERO);
    w.after = s("6113728f27ae82c7b1a177c8d03f9e96e0adf246");
    w.created = Some(true);
    w.deleted = Some(false);
    // commits=0: an empty, complete list (head_commit is not a pushed commit).
    w.changed_paths = Some(paths(&[], &[], &[], true));
    assert_eq!(github("push-tag"), w);
}

#[test]
fn github_push_tag_deleted() {
    let mut w = hello("push", "push");
    w.git_ref = s("refs/tags/simple-tag");
    w.tag = s("simple-tag");
    w.before = s("6113728f27ae82c7b1a177c8d03f9e96e0adf246");
    w.after = s(ZERO);
    w.created = Some(false);
    w.deleted = Some(true);
    w.changed_paths = Some(paths(&[], &[], &[], true));
    assert_eq!(github("push-tag-delete"), w);
}

fn github_pull_request(action: &str, raw_action: &str) -> Event {
    let mut w = hello("pull_request", "pull_request");
    w.action = s(action);
    w.raw_action = s(raw_action);
    w.pull_request = Some(2);
    w.source_branch = s("changes");
    w.target_branch = s("master");
    w.head_repository = s("Codertocat/Hello-World");
    w.fork = Some(false);
    w.merged = Some(false);
    w
}

#[test]
fn github_pull_request_opened() {
    assert_eq!(
        github("pull_request-opened"),
        github_pull_request("opened", "opened")
    );
}

#[test]
fn github_pull_request_synchronize_is_updated() {
    let mut w = github_pull_request("updated", "synchronize");
    w.before = s("f95f852bd8fca8fcc58a9a2d6c842781e32a215e");
    w.after = s("ec26c3e57ca3a959ca5aad62de7213c562f8c821");
    assert_eq!(github("pull_request-synchronize"), w);
}

#[test]
fn github_pull_request_closed_without_merge_is_closed() {
    assert_eq!(
        github("pull_request-closed"),
        github_pull_request("closed", "closed")
    );
}

#[test]
fn github_pull_request_closed_with_merge_is_merged() {
    // octokit has no merged example: the closed one with `merged` flipped.
    let d = deliver(
        SenderKind::Github,
        Root::Shared,
        "github",
        "pull_request-closed",
    );
    let mut payload = d.payload;
    payload["pull_request"]["merged"] = serde_json::Value::Bool(true);
    let e = normalise(SenderKind::Github, &d.envelope, &d.headers, &payload);
    let mut w = github_pull_request("merged", "closed");
    w.merged = Some(true);
    assert_eq!(e, w);
}

#[test]
fn github_release_published() {
    let mut w = hello("release", "release");
    w.action = s("published");
    w.raw_action = s("published");
    w.tag = s("0.0.1");
    assert_eq!(github("release-published"), w);
}

#[test]
fn github_workflow_run_completed_is_a_pipeline() {
    let mut w = want(
        SenderKind::Github,
        "pipeline",
        "workflow_run",
        Some("octo-org/octo-repo"),
        "Codertocat",
    );
    w.action = s("completed");
    w.raw_action = s("completed");
    w.branch = s("master");
    w.ci_status = s("completed");
    w.ci_conclusion = s("success");
    assert_eq!(github("workflow_run-completed"), w);
}

#[test]
fn github_create_tag() {
    let mut w = hello("create", "create");
    // ref="simple-tag" with ref_type="tag".
    w.tag = s("simple-tag");
    w.git_ref = s("refs/tags/simple-tag");
    assert_eq!(github("create-tag"), w);
}

#[test]
fn github_ping_repository_hook() {
    let w = want(
        SenderKind::Github,
        "ping",
        "ping",
        Some("Octocoders/Hello-World"),
        "Codertocat",
    );
    assert_eq!(github("ping"), w);
}

#[test]
fn github_ping_organization_hook_has_no_repository() {
    let w = want(SenderKind::Github, "ping", "ping", None, "Codertocat");
    assert_eq!(github("ping-org"), w);
}

#[test]
fn github_check_suite_completed() {
    let mut w = hello("check_suite", "check_suite");
    w.action = s("completed");
    w.raw_action = s("completed");
    w.branch = s("main");
    w.ci_status = s("completed");
    w.ci_conclusion = s("success");
    assert_eq!(github("check_suite-completed"), w);
}

#[test]
fn github_check_suite_requested() {
    let mut w = hello("check_suite", "check_suite");
    w.action = s("requested");
    w.raw_action = s("requested");
    w.branch = s("master");
    w.ci_status = s("queued");
    assert_eq!(github("check_suite-requested"), w);
}

// --- GitLab -------------------------------------------------------------------------------

#[test]
fn gitlab_push_lists_two_of_four_commits() {
    let mut w = want(
        SenderKind::Gitlab,
        "push",
        "Push Hook",
        Some("mike/diaspora"),
        "jsmith",
    );
    w.git_ref = s("refs/heads/master");
    w.branch = s("master");
    w.before = s("95790bf891e76fee5e1747ab589903a6a1f80f22");
    w.after = s("da1560886d4f094c3e6c9ef40349f7d38b5d27d7");
    w.created = Some(false);
    w.deleted = Some(false);
    // total_commits_count=4 but only 2 listed.
    w.changed_paths = Some(paths(
        &["CHANGELOG"],
        &["app/controller/application.rb"],
        &[],
        false,
    ));
    assert_eq!(gitlab("push"), w);
}

#[test]
fn gitlab_tag_push_is_a_push_with_tag() {
    let mut w = want(
        SenderKind::Gitlab,
        "push",
        "Tag Push Hook",
        Some("jsmith/example"),
        "jsmith",
    );
    w.git_ref = s("refs/tags/v1.0.0");
    w.tag = s("v1.0.0");
    w.before = s(ZERO);
    w.after = s("82b3d5ae55f7080f1e6022629cdb57bfae7cccc7");
    w.created = Some(true);
    w.deleted = Some(false);
    w.changed_paths = Some(paths(&["CHANGELOG"], &["UPGRADE.md"], &[], true));
    assert_eq!(gitlab("tag_push"), w);
}

#[test]
fn gitlab_merge_request_open() {
    let mut w = want(
        SenderKind::Gitlab,
        "pull_request",
        "Merge Request Hook",
        Some("gitlabhq/gitlab-test"),
        "user1",
    );
    w.action = s("opened");
    w.raw_action = s("open");
    w.pull_request = Some(1);
    w.source_branch = s("ms-viewport");
    w.target_branch = s("master");
    w.head_repository = s("awesome_space/awesome_project");
    // The docs example's target project is awesome_space/awesome_project too.
    w.fork = Some(false);
    w.merged = Some(false);
    assert_eq!(gitlab("merge_request-open"), w);
}

#[test]
fn gitlab_pipeline() {
    let mut w = want(
        SenderKind::Gitlab,
        "pipeline",
        "Pipeline Hook",
        Some("gitlab-org/gitlab-test"),
        "user1",
    );
    // ref="master", tag=false.
    w.branch = s("master");
    w.git_ref = s("refs/heads/master");
    w.ci_status = s("success");
    // merge_request="!1 test -> master".
    w.pull_request = Some(1);
    w.source_branch = s("test");
    w.target_branch = s("master");
    assert_eq!(gitlab("pipeline"), w);
}

fn gitlab_release(name: &str, repo: &str, tag: &str) {
    let mut w = Event::new(SenderKind::Gitlab, "release");
    w.raw_event = s("Release Hook");
    w.repository = s(repo);
    w.action = s("created");
    w.raw_action = s("create");
    w.tag = s(tag);
    assert_eq!(gitlab(name), w);
}

#[test]
fn gitlab_release_create() {
    gitlab_release("release-create", "exm-namespace/example-project", "1.0.0");
}

#[test]
fn gitlab_release_create_go_playground() {
    gitlab_release(
        "release-create-gp",
        "gitlab-org/release-webhook-example",
        "v1.1",
    );
}

// --- Bitbucket ----------------------------------------------------------------------------

#[test]
fn bitbucket_cloud_repo_push() {
    let d = deliver(
        SenderKind::Bitbucket,
        Root::Shared,
        "bitbucket",
        "repo-push-gp",
    );
    let mut w = want(
        SenderKind::Bitbucket,
        "push",
        "repo:push",
        Some("team_name/repo_name"),
        "emmap1",
    );
    w.git_ref = s("refs/heads/name-of-branch");
    w.branch = s("name-of-branch");
    w.before = s("1e65c05c1d5171631d92438a13901ca7dae9618c");
    w.after = s("709d658dc5b6d6afcd46049c2f332ee3f515a67d");
    w.created = Some(false);
    w.deleted = Some(false);
    // files="not in payload": changed_paths stays None.
    assert_eq!(d.event, w);
    // The source sends X-Hook-UUID (names the hook), not a delivery id.
    assert_eq!(d.envelope.delivery_id, None);
}

#[test]
fn bitbucket_data_center_refs_changed() {
    let d = deliver(
        SenderKind::Bitbucket,
        Root::Own,
        "bitbucket-dc",
        "repo-refs_changed",
    );
    let mut w = want(
        SenderKind::Bitbucket,
        "push",
        "repo:refs_changed",
        Some("PROJ/repository"),
        "admin",
    );
    w.git_ref = s("refs/heads/master");
    w.branch = s("master");
    w.before = s("ecddabb624f6f5ba43816f5926e580a5f680a932");
    w.after = s("178864a7d521b6f5e720b386b2c2b0ef8563e0dc");
    w.created = Some(false);
    w.deleted = Some(false);
    assert_eq!(d.event, w);
}

#[test]
fn bitbucket_data_center_pr_merged() {
    let d = deliver(
        SenderKind::Bitbucket,
        Root::Own,
        "bitbucket-dc",
        "pr-merged",
    );
    let mut w = want(
        SenderKind::Bitbucket,
        "pull_request",
        "pr:merged",
        Some("PROJ/repository"),
        "user",
    );
    w.action = s("merged");
    w.raw_action = s("merged");
    w.pull_request = Some(9);
    w.source_branch = s("admin/file-1505781548644");
    w.target_branch = s("master");
    w.head_repository = s("PROJ/repository");
    w.fork = Some(false);
    w.merged = Some(true);
    assert_eq!(d.event, w);
}

// --- Gitea / Forgejo ----------------------------------------------------------------------

#[test]
fn gitea_push_first_to_master() {
    let mut w = want(
        SenderKind::Gitea,
        "push",
        "push",
        Some("example/example"),
        "example",
    );
    w.git_ref = s("refs/heads/master");
    w.branch = s("master");
    w.before = s(ZERO);
    w.after = s("67b56589a45103f891bdee7c0546e5d40bc02001");
    // No flags in Gitea payloads: the all-zero ids say it.
    w.created = Some(true);
    w.deleted = Some(false);
    w.changed_paths = Some(paths(&["example"], &[], &[], true));
    assert_eq!(gitea("push"), w);
}

#[test]
fn gitea_create_branch() {
    let mut w = want(
        SenderKind::Gitea,
        "create",
        "create",
        Some("example/example"),
        "example",
    );
    // ref="master" with ref_type="branch".
    w.branch = s("master");
    w.git_ref = s("refs/heads/master");
    assert_eq!(gitea("create-branch"), w);
}

#[test]
fn gitea_pull_request_opened_from_a_fork() {
    let mut w = want(
        SenderKind::Gitea,
        "pull_request",
        "pull_request",
        Some("example/example"),
        "example2",
    );
    w.action = s("opened");
    w.raw_action = s("opened");
    w.pull_request = Some(2);
    w.source_branch = s("master");
    w.target_branch = s("master");
    w.head_repository = s("example2/example");
    w.fork = Some(true);
    w.merged = Some(false);
    assert_eq!(gitea("pull_request-opened"), w);
}

#[test]
fn gitea_release_published() {
    let mut w = want(
        SenderKind::Gitea,
        "release",
        "release",
        Some("example/example"),
        "example",
    );
    w.action = s("published");
    w.raw_action = s("published");
    w.tag = s("example");
    assert_eq!(gitea("release-published"), w);
}

#[test]
fn forgejo_documented_push() {
    let d = deliver(SenderKind::Forgejo, Root::Own, "forgejo", "push");
    assert_eq!(
        d.envelope,
        Envelope {
            event: s("push"),
            delivery_id: s("f6266f16-1bf3-46a5-9ea4-602e06ead473"),
        }
    );
    let mut w = want(
        SenderKind::Forgejo,
        "push",
        "push",
        Some("forgejo/webhooks"),
        "forgejo",
    );
    w.git_ref = s("refs/heads/develop");
    w.branch = s("develop");
    w.before = s("28e1879d029cb852e4844d9c718537df08844e03");
    w.after = s("bffeb74224043ba2feb48d137756c8a9331c449a");
    w.created = Some(false);
    w.deleted = Some(false);
    // The documented commit carries no file lists: absent, not empty.
    assert_eq!(d.event, w);
}

// --- Envelope of the fixtures -------------------------------------------------------------

#[test]
fn every_fixture_envelope_names_its_event() {
    for (root, host, name) in event_support::all_fixtures() {
        let d = deliver(event_support::sender_of(&host), root, &host, &name);
        assert!(d.envelope.event.is_some(), "{host}/{name}");
        assert_eq!(d.event.raw_event, d.envelope.event, "{host}/{name}");
        assert_ne!(d.event.kind, "unknown", "{host}/{name}");
    }
}

#[test]
fn every_fixture_is_covered_by_a_test_above() {
    // Keeps this file honest when a fixture is added to shared/ or tests/fixtures/.
    let covered = [
        "bitbucket/repo-push-gp",
        "bitbucket-dc/pr-merged",
        "bitbucket-dc/repo-refs_changed",
        "forgejo/push",
        "gitea/create-branch",
        "gitea/pull_request-opened",
        "gitea/push",
        "gitea/release-published",
        "github/check_suite-completed",
        "github/check_suite-requested",
        "github/create-tag",
        "github/ping",
        "github/ping-org",
        "github/pull_request-closed",
        "github/pull_request-opened",
        "github/pull_request-synchronize",
        "github/push",
        "github/push-tag",
        "github/push-tag-delete",
        "github/release-published",
        "github/workflow_run-completed",
        "gitlab/merge_request-open",
        "gitlab/pipeline",
        "gitlab/push",
        "gitlab/release-create",
        "gitlab/release-create-gp",
        "gitlab/tag_push",
    ];
    let mut found: Vec<String> = event_support::all_fixtures()
        .into_iter()
        .map(|(_, host, name)| format!("{host}/{name}"))
        .collect();
    found.sort();
    let mut covered: Vec<String> = covered.iter().map(|c| c.to_string()).collect();
    covered.sort();
    assert_eq!(found, covered);
}

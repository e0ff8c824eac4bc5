//! GitHub's "Filter pattern cheat sheet", row by row, plus the documented `on: push` rules
//! for combining branch, tag and path filters.

mod rules_support;

use rules_support::*;
use zenhook::event::{Event, SenderKind};
use zenhook::rules::Verdict;

/// One cheat-sheet row: the patterns, the doc's example matches, and names it must not match.
struct Row {
    patterns: &'static [&'static str],
    matches: &'static [&'static str],
    misses: &'static [&'static str],
}

fn yaml_list(patterns: &[&str]) -> String {
    let quoted: Vec<String> = patterns.iter().map(|p| format!("'{p}'")).collect();
    format!("[{}]", quoted.join(", "))
}

/// "Patterns to match branches and tags".
const BRANCH_AND_TAG_ROWS: &[Row] = &[
    Row {
        patterns: &["feature/*"],
        matches: &["feature/my-branch", "feature/your-branch"],
        misses: &["feature/beta-a/my-branch", "feature", "features/x"],
    },
    Row {
        patterns: &["feature/**"],
        matches: &[
            "feature/beta-a/my-branch",
            "feature/your-branch",
            "feature/mona/the/octocat",
        ],
        misses: &["feature", "my-feature/x"],
    },
    Row {
        patterns: &["main", "releases/mona-the-octocat"],
        matches: &["main", "releases/mona-the-octocat"],
        misses: &["main2", "releases/mona", "other/main"],
    },
    Row {
        patterns: &["*"],
        matches: &["main", "releases"],
        misses: &["releases/v1", "all/the/branches"],
    },
    Row {
        patterns: &["**"],
        matches: &["all/the/branches", "every/tag", "main"],
        misses: &[],
    },
    Row {
        patterns: &["*feature"],
        matches: &["mona-feature", "feature", "ver-10-feature"],
        misses: &["feature-x", "a/feature"],
    },
    Row {
        patterns: &["v2*"],
        matches: &["v2", "v2.0", "v2.9"],
        misses: &["v1.0", "v2/x", "xv2"],
    },
    Row {
        patterns: &["v[12].[0-9]+.[0-9]+"],
        matches: &["v1.10.1", "v2.0.0"],
        misses: &["v3.0.0", "v1.10", "v1.x.1", "v12.0.0"],
    },
];

/// "Patterns to match file paths".
const PATH_ROWS: &[Row] = &[
    Row {
        patterns: &["*"],
        matches: &["README.md", "server.rb"],
        misses: &["docs/README.md"],
    },
    Row {
        patterns: &["*.jsx?"],
        matches: &["page.js", "page.jsx"],
        misses: &["page.jsxx", "src/page.js"],
    },
    Row {
        patterns: &["**"],
        matches: &["all/the/files.md"],
        misses: &[],
    },
    Row {
        patterns: &["*.js"],
        matches: &["app.js", "index.js"],
        misses: &["js/index.js", "app.jsx"],
    },
    Row {
        patterns: &["**.js"],
        matches: &["index.js", "js/index.js", "src/js/app.js"],
        misses: &["index.jsx"],
    },
    Row {
        patterns: &["docs/*"],
        matches: &["docs/README.md", "docs/file.txt"],
        misses: &["docs/mona/octocat.txt", "README.md"],
    },
    Row {
        patterns: &["docs/**"],
        matches: &["docs/README.md", "docs/mona/octocat.txt"],
        misses: &["README.md", "mydocs/file.txt", "src/docs/a.md"],
    },
    Row {
        patterns: &["docs/**/*.md"],
        matches: &[
            "docs/README.md",
            "docs/mona/hello-world.md",
            "docs/a/markdown/file.md",
        ],
        misses: &["docs/a.txt", "src/docs/a.md"],
    },
    Row {
        patterns: &["**/docs/**"],
        matches: &[
            "docs/hello.md",
            "dir/docs/my-file.txt",
            "space/docs/plan/space.doc",
        ],
        misses: &["mydocs/x.md", "docs.md"],
    },
    Row {
        patterns: &["**/README.md"],
        matches: &["README.md", "js/README.md"],
        misses: &["README.mdx", "js/MYREADME.md"],
    },
    Row {
        patterns: &["**/*src/**"],
        matches: &["a/src/app.js", "my-src/code/js/app.js"],
        misses: &["source/app.js", "src.js"],
    },
    Row {
        patterns: &["**/*-post.md"],
        matches: &["my-post.md", "path/their-post.md"],
        misses: &["my-post.mdx", "post.md"],
    },
    Row {
        patterns: &["**/migrate-*.sql"],
        matches: &[
            "migrate-10909.sql",
            "db/migrate-v1.0.sql",
            "db/sept/migrate-v1.sql",
        ],
        misses: &["migrate.sql", "db/migrate-1.sql.bak"],
    },
    Row {
        patterns: &["*.md", "!README.md"],
        matches: &["hello.md"],
        misses: &["README.md", "docs/hello.md"],
    },
    Row {
        patterns: &["*.md", "!README.md", "README*"],
        matches: &["hello.md", "README.md", "README.doc"],
        misses: &["docs/hello.md"],
    },
];

#[test]
fn branch_patterns_follow_the_cheat_sheet() {
    for row in BRANCH_AND_TAG_ROWS {
        let rule = rule(&format!("branches: {}", yaml_list(row.patterns)));
        for name in row.matches {
            assert!(
                matched(&rule, &branch_push(name, &["a.txt"])),
                "{:?} should match branch {name}",
                row.patterns
            );
        }
        for name in row.misses {
            assert!(
                !matched(&rule, &branch_push(name, &["a.txt"])),
                "{:?} should not match branch {name}",
                row.patterns
            );
        }
    }
}

#[test]
fn tag_patterns_follow_the_cheat_sheet() {
    for row in BRANCH_AND_TAG_ROWS {
        let rule = rule(&format!("tags: {}", yaml_list(row.patterns)));
        for name in row.matches {
            assert!(
                matched(&rule, &tag_push(name)),
                "{:?} should match tag {name}",
                row.patterns
            );
        }
        for name in row.misses {
            assert!(
                !matched(&rule, &tag_push(name)),
                "{:?} should not match tag {name}",
                row.patterns
            );
        }
    }
}

#[test]
fn path_patterns_follow_the_cheat_sheet() {
    for row in PATH_ROWS {
        let rule = rule(&format!("paths: {}", yaml_list(row.patterns)));
        for path in row.matches {
            assert!(
                matched(&rule, &branch_push("main", &[path])),
                "{:?} should match path {path}",
                row.patterns
            );
        }
        for path in row.misses {
            assert!(
                !matched(&rule, &branch_push("main", &[path])),
                "{:?} should not match path {path}",
                row.patterns
            );
        }
    }
}

#[test]
fn a_later_negative_pattern_excludes_and_a_later_positive_one_reincludes() {
    // The docs' example: `releases/**` then `!releases/**-alpha`.
    let rule = rule("branches: ['releases/**', '!releases/**-alpha']");
    assert!(matched(&rule, &branch_push("releases/10", &["a"])));
    assert!(matched(&rule, &branch_push("releases/beta/mona", &["a"])));
    assert!(!matched(&rule, &branch_push("releases/10-alpha", &["a"])));
    assert!(!matched(
        &rule,
        &branch_push("releases/beta/3-alpha", &["a"])
    ));
}

#[test]
fn paths_with_an_exclusion_match_when_any_changed_file_stays_included() {
    // The docs' example: `sub-project/**` then `!sub-project/docs/**`.
    let rule = rule("paths: ['sub-project/**', '!sub-project/docs/**']");
    assert!(matched(
        &rule,
        &branch_push("main", &["sub-project/index.js"])
    ));
    assert!(matched(
        &rule,
        &branch_push("main", &["sub-project/src/index.js"])
    ));
    assert!(!matched(
        &rule,
        &branch_push("main", &["sub-project/docs/readme.md"])
    ));
    assert!(matched(
        &rule,
        &branch_push("main", &["sub-project/docs/readme.md", "sub-project/a.js"])
    ));
}

#[test]
fn paths_ignore_skips_only_when_every_changed_path_is_ignored() {
    let rule = rule("paths-ignore: ['docs/**']");
    assert!(!matched(
        &rule,
        &branch_push("main", &["docs/a.md", "docs/b/c.md"])
    ));
    assert!(matched(
        &rule,
        &branch_push("main", &["docs/a.md", "src/main.rs"])
    ));
}

#[test]
fn branches_ignore_and_tags_ignore_exclude_matching_refs() {
    let branches = rule("branches-ignore: ['wip/**']");
    assert!(!matched(&branches, &branch_push("wip/x/y", &["a"])));
    assert!(matched(&branches, &branch_push("main", &["a"])));
    let tags = rule("tags-ignore: ['*-rc*']");
    assert!(!matched(&tags, &tag_push("v1-rc1")));
    assert!(matched(&tags, &tag_push("v1")));
}

#[test]
fn a_push_that_changed_no_files_never_passes_a_path_filter() {
    assert!(!matched(&rule("paths: ['**']"), &branch_push("main", &[])));
    assert!(!matched(
        &rule("paths-ignore: ['docs/**']"),
        &branch_push("main", &[])
    ));
}

#[test]
fn only_branch_filters_never_match_tags_and_only_tag_filters_never_match_branches() {
    let branches_only = rule("branches: ['**']");
    assert!(matched(&branches_only, &branch_push("main", &["a"])));
    assert!(!matched(&branches_only, &tag_push("v1")));
    let ignore_only = rule("branches-ignore: [main]");
    assert!(!matched(&ignore_only, &tag_push("v1")));
    let tags_only = rule("tags: ['**']");
    assert!(matched(&tags_only, &tag_push("v1")));
    assert!(!matched(&tags_only, &branch_push("main", &["a"])));
    let neither = rule("events: [push]");
    assert!(matched(&neither, &branch_push("main", &["a"])));
    assert!(matched(&neither, &tag_push("v1")));
    let both = rule("branches: [main]\ntags: ['v*']");
    assert!(matched(&both, &branch_push("main", &["a"])));
    assert!(matched(&both, &tag_push("v1")));
    assert!(!matched(&both, &branch_push("dev", &["a"])));
    assert!(!matched(&both, &tag_push("x1")));
}

#[test]
fn a_branch_push_must_satisfy_both_its_branch_and_path_filters() {
    let rule = rule("branches: [main]\npaths: ['models/**']");
    assert!(matched(&rule, &branch_push("main", &["models/a.py"])));
    assert!(!matched(&rule, &branch_push("main", &["README.md"])));
    assert!(!matched(&rule, &branch_push("dev", &["models/a.py"])));
}

#[test]
fn path_filters_are_not_evaluated_for_tag_pushes() {
    let rule = rule("tags: ['v*']\npaths: ['models/**']");
    match verdict(&rule, &tag_push("v1")) {
        Verdict::Matched { note, .. } => {
            assert_eq!(note.as_deref(), Some("paths: not evaluated for a tag push"))
        }
        other => panic!("expected a match, got {other:?}"),
    }
}

#[test]
fn pull_request_branch_filters_look_at_the_target_branch() {
    let rule = rule("events: [pull_request]\nbranches: [main]");
    assert!(matched(&rule, &pull_request("feature/x", "main")));
    assert!(!matched(&rule, &pull_request("main", "develop")));
}

#[test]
fn pipeline_branch_filters_look_at_the_pipeline_branch() {
    let rule = rule("events: [pipeline]\nbranches: [master]");
    let mut pipeline = Event::new(SenderKind::Gitlab, "pipeline");
    pipeline.raw_event = Some("Pipeline Hook".into());
    pipeline.branch = Some("master".into());
    assert!(matched(&rule, &pipeline));
    pipeline.branch = Some("feature".into());
    assert!(!matched(&rule, &pipeline));
}

#[test]
fn the_ref_is_read_from_the_full_git_ref_when_branch_and_tag_are_absent() {
    let rule = rule("tags: ['v*']");
    let mut event = Event::new(SenderKind::Gitea, "push");
    event.git_ref = Some("refs/tags/v2".into());
    assert!(matched(&rule, &event));
}

#[test]
fn incomplete_or_absent_changed_paths_follow_paths_unknown() {
    let mut capped = branch_push("main", &["README.md"]);
    if let Some(paths) = capped.changed_paths.as_mut() {
        paths.complete = false;
    }
    let lenient = rule("paths: ['models/**']");
    assert!(matched(&lenient, &capped));
    let strict = rule("paths: ['models/**']\npaths_unknown: skip");
    assert!(!matched(&strict, &capped));
    let mut no_list = branch_push("main", &[]);
    no_list.changed_paths = None;
    assert!(matched(&lenient, &no_list));
    assert!(!matched(&strict, &no_list));
}

#[test]
fn a_known_changed_path_decides_even_when_the_list_is_incomplete() {
    let mut capped = branch_push("main", &["models/a.py"]);
    if let Some(paths) = capped.changed_paths.as_mut() {
        paths.complete = false;
    }
    let strict = rule("paths: ['models/**']\npaths_unknown: skip");
    assert_eq!(
        verdict(&strict, &capped),
        Verdict::Matched {
            run_config: serde_json::json!({}),
            note: None
        }
    );
}

#[test]
fn repositories_are_globs_over_the_full_name() {
    let rule = rule("repositories: ['acme/ml-*', '!acme/ml-secret']");
    let mut event = branch_push("main", &["a"]);
    assert!(matched(&rule, &event));
    event.repository = Some("acme/ml-secret".into());
    assert!(!matched(&rule, &event));
    event.repository = Some("acme/sub/ml-x".into());
    assert!(!matched(&rule, &event));
    event.repository = None;
    assert!(!matched(&rule, &event));
}

#[test]
fn events_match_the_kind_or_the_sender_qualified_raw_event() {
    let mut run = Event::new(SenderKind::Github, "workflow_run");
    run.raw_event = Some("workflow_run".into());
    assert!(matched(&rule("events: ['github:workflow_run']"), &run));
    assert!(matched(&rule("events: [workflow_run]"), &run));
    assert!(!matched(&rule("events: ['gitlab:workflow_run']"), &run));
    let mut pipeline = Event::new(SenderKind::Gitlab, "pipeline");
    pipeline.raw_event = Some("Pipeline Hook".into());
    assert!(matched(
        &rule("events: ['gitlab:Pipeline Hook']"),
        &pipeline
    ));
    assert!(matched(&rule("events: [pipeline]"), &pipeline));
    let mut bitbucket = Event::new(SenderKind::Bitbucket, "push");
    bitbucket.raw_event = Some("repo:push".into());
    assert!(matched(
        &rule("events: ['bitbucket:repo:push']"),
        &bitbucket
    ));
}

#[test]
fn forks_are_refused_unless_the_rule_allows_them() {
    let mut from_fork = pull_request("patch-1", "main");
    from_fork.fork = Some(true);
    from_fork.head_repository = Some("stranger/ml-models".into());
    assert!(!matched(&rule("events: [pull_request]"), &from_fork));
    assert!(matched(
        &rule("events: [pull_request]\nforks: true"),
        &from_fork
    ));
    assert!(matched(
        &rule("events: [pull_request]"),
        &pull_request("patch-1", "main")
    ));
}

#[test]
fn a_gitea_fork_pull_request_fixture_is_refused_by_default() {
    // The Gitea fixture's head repository (example2/example) differs from its base.
    let payload = fixture("gitea/pull_request-opened.json");
    let mut event = Event::new(SenderKind::Gitea, "pull_request");
    event.action = Some("opened".into());
    event.repository = Some("example/example".into());
    event.target_branch = Some("master".into());
    event.head_repository = Some("example2/example".into());
    event.fork = Some(true);
    let strict = rule("sources: [gitea]\nevents: [pull_request]\nbranches: [master]");
    match verdict_with(&strict, "gitea", &event, &payload) {
        Verdict::Rejected { filter, reason } => {
            assert_eq!(filter, "forks");
            assert_eq!(
                reason,
                "forks: pull request from a fork (head repository \"example2/example\") and forks is false"
            );
        }
        other => panic!("expected a rejection, got {other:?}"),
    }
    let open = rule("sources: [gitea]\nevents: [pull_request]\nbranches: [master]\nforks: true");
    assert!(matches!(
        verdict_with(&open, "gitea", &event, &payload),
        Verdict::Matched { .. }
    ));
}

//! Changed paths from a push payload's `commits[].added/modified/removed` lists.

use std::collections::HashSet;

use serde_json::Value;

use super::ChangedPaths;

const LISTS: [&str; 3] = ["added", "modified", "removed"];

/// The union of every commit's file lists, per category, de-duplicated in first-seen order.
///
/// `None` when the commits carry no file lists at all (Forgejo's documented example, Bitbucket):
/// absent is not the same as "nothing changed". An empty commit list is an empty, complete
/// answer. `complete` is false here only when the lists themselves are partial (some commits
/// without lists, entries that are not strings); callers lower it further for the sender's caps.
pub(super) fn collect(commits: &[Value]) -> Option<ChangedPaths> {
    let mut paths = ChangedPaths {
        complete: true,
        ..ChangedPaths::default()
    };
    let mut seen: [HashSet<String>; 3] = Default::default();
    let mut any_lists = false;

    for commit in commits {
        let lists = LISTS.map(|key| commit.get(key).and_then(Value::as_array));
        if lists.iter().all(Option::is_none) {
            paths.complete = false;
            continue;
        }
        any_lists = true;
        let targets = [&mut paths.added, &mut paths.modified, &mut paths.removed];
        for ((list, target), seen) in lists.into_iter().zip(targets).zip(seen.iter_mut()) {
            for entry in list.into_iter().flatten() {
                match entry.as_str() {
                    Some(path) if !path.is_empty() => {
                        if seen.insert(path.to_owned()) {
                            target.push(path.to_owned());
                        }
                    }
                    _ => paths.complete = false,
                }
            }
        }
    }

    if commits.is_empty() || any_lists {
        Some(paths)
    } else {
        None
    }
}

/// The most files any single commit lists (GitHub reports at most 3000 per commit).
pub(super) fn largest_commit(commits: &[Value]) -> usize {
    commits
        .iter()
        .map(|commit| {
            LISTS
                .iter()
                .filter_map(|key| commit.get(*key).and_then(Value::as_array))
                .map(Vec::len)
                .sum::<usize>()
        })
        .max()
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn commits(v: Value) -> Vec<Value> {
        v.as_array().cloned().unwrap_or_default()
    }

    #[test]
    fn unions_and_deduplicates_across_commits() {
        let c = commits(json!([
            {"added": ["a", "b"], "modified": ["m"], "removed": []},
            {"added": ["a"], "modified": ["m", "a"], "removed": ["r"]}
        ]));
        let p = collect(&c).expect("lists present");
        assert_eq!(p.added, vec!["a", "b"]);
        assert_eq!(p.modified, vec!["m", "a"]);
        assert_eq!(p.removed, vec!["r"]);
        assert!(p.complete);
        assert_eq!(p.all(), vec!["a", "b", "m", "r"]);
    }

    #[test]
    fn commits_without_lists_give_none() {
        let c = commits(json!([{"id": "x", "message": "no lists"}]));
        assert_eq!(collect(&c), None);
    }

    #[test]
    fn empty_commit_list_is_empty_and_complete() {
        let p = collect(&[]).expect("empty list is an answer");
        assert!(p.all().is_empty());
        assert!(p.complete);
    }

    #[test]
    fn partial_lists_are_incomplete() {
        let c = commits(json!([{"added": ["a"]}, {"message": "no lists"}]));
        let p = collect(&c).expect("some lists");
        assert_eq!(p.added, vec!["a"]);
        assert!(!p.complete);

        let c = commits(json!([{"added": ["a", 7, null, ""]}]));
        let p = collect(&c).expect("lists");
        assert_eq!(p.added, vec!["a"]);
        assert!(!p.complete);
    }

    #[test]
    fn largest_commit_counts_all_three_lists() {
        let c =
            commits(json!([{"added": ["a"], "removed": ["b", "c"]}, {"modified": ["d"]}, "junk"]));
        assert_eq!(largest_commit(&c), 3);
        assert_eq!(largest_commit(&[]), 0);
    }
}

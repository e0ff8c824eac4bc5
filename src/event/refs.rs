//! Git ref and commit-id conventions shared by every forge.

use super::Event;

const BRANCH_PREFIX: &str = "refs/heads/";
const TAG_PREFIX: &str = "refs/tags/";

/// What a ref names: a branch, a tag, or something else (`refs/pull/1/merge`, ...).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum RefKind {
    Branch,
    Tag,
}

/// Sets `git_ref` and, for `refs/heads/*` and `refs/tags/*`, `branch` or `tag`.
pub(super) fn apply_full_ref(event: &mut Event, full: Option<String>) {
    let Some(full) = full else { return };
    if let Some(name) = non_empty_suffix(&full, BRANCH_PREFIX) {
        event.branch = Some(name.to_owned());
    } else if let Some(name) = non_empty_suffix(&full, TAG_PREFIX) {
        event.tag = Some(name.to_owned());
    }
    event.git_ref = Some(full);
}

/// Sets `branch` or `tag` from a short name whose kind the sender stated, and the full ref
/// that kind implies (`refs/heads/<name>` / `refs/tags/<name>`).
pub(super) fn apply_named_ref(event: &mut Event, kind: RefKind, name: Option<String>) {
    let Some(name) = name else { return };
    match kind {
        RefKind::Branch => {
            event.git_ref = Some(format!("{BRANCH_PREFIX}{name}"));
            event.branch = Some(name);
        }
        RefKind::Tag => {
            event.git_ref = Some(format!("{TAG_PREFIX}{name}"));
            event.tag = Some(name);
        }
    }
}

fn non_empty_suffix<'a>(full: &'a str, prefix: &str) -> Option<&'a str> {
    full.strip_prefix(prefix).filter(|name| !name.is_empty())
}

/// The all-zero object id senders use for "no commit" (a created or deleted ref).
pub(super) fn is_zero_id(id: &str) -> bool {
    !id.is_empty() && id.bytes().all(|b| b == b'0')
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::SenderKind;

    fn blank() -> Event {
        Event::new(SenderKind::Github, "push")
    }

    #[test]
    fn full_refs_split_into_branch_or_tag() {
        let mut e = blank();
        apply_full_ref(&mut e, Some("refs/heads/feature/x".into()));
        assert_eq!(e.branch.as_deref(), Some("feature/x"));
        assert_eq!(e.tag, None);
        assert_eq!(e.git_ref.as_deref(), Some("refs/heads/feature/x"));

        let mut e = blank();
        apply_full_ref(&mut e, Some("refs/tags/v1".into()));
        assert_eq!((e.branch, e.tag.as_deref()), (None, Some("v1")));
    }

    #[test]
    fn other_refs_keep_only_the_full_ref() {
        for full in [
            "refs/pull/1/merge",
            "refs/heads/",
            "master",
            "refs/merge-requests/1/head",
        ] {
            let mut e = blank();
            apply_full_ref(&mut e, Some(full.into()));
            assert_eq!((e.branch, e.tag), (None, None), "{full}");
            assert_eq!(e.git_ref.as_deref(), Some(full));
        }
    }

    #[test]
    fn named_refs_get_the_full_ref_their_kind_implies() {
        let mut e = blank();
        apply_named_ref(&mut e, RefKind::Tag, Some("simple-tag".into()));
        assert_eq!(e.git_ref.as_deref(), Some("refs/tags/simple-tag"));
        assert_eq!(e.tag.as_deref(), Some("simple-tag"));
        assert_eq!(e.branch, None);
    }

    #[test]
    fn zero_ids() {
        assert!(is_zero_id("0000000000000000000000000000000000000000"));
        assert!(!is_zero_id(""));
        assert!(!is_zero_id("0000000000000000000000000000000000000001"));
    }
}

//! The git filters of a rule: branches, tags and paths, with GitHub's `on: push` rules.
//!
//! A rule with only branch filters never matches a tag, and one with only tag filters never
//! matches a branch. For pull requests the branch filters look at the target (base) branch,
//! as GitHub does. Path filters are not evaluated for tag pushes (GitHub documents the same).

use crate::event::Event;

use super::error::RuleError;
use super::glob::{Decision, PatternList};
use super::spec::PathsUnknown;

/// Why a rule does not match: the filter's field name and a readable sentence.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Rejection {
    pub filter: &'static str,
    pub reason: String,
}

impl Rejection {
    pub(crate) fn new(filter: &'static str, reason: impl Into<String>) -> Self {
        Rejection {
            filter,
            reason: reason.into(),
        }
    }
}

/// One filter field: an include list (`branches`) or an ignore list (`branches_ignore`).
#[derive(Debug, Clone)]
pub(crate) struct Filter {
    field: &'static str,
    list: PatternList,
    ignore: bool,
}

impl Filter {
    /// Compiles the include/ignore pair of one kind; GitHub forbids setting both.
    pub(crate) fn compile_pair(
        (include_field, include): (&'static str, &Option<Vec<String>>),
        (ignore_field, ignore): (&'static str, &Option<Vec<String>>),
    ) -> Result<Option<Filter>, RuleError> {
        match (include, ignore) {
            (Some(_), Some(_)) => Err(RuleError::new(
                include_field,
                format!(
                    "{include_field} and {ignore_field} cannot both be set; use ! patterns in {include_field}"
                ),
            )),
            (Some(entries), None) => Ok(Some(Filter {
                field: include_field,
                list: PatternList::compile(include_field, entries)?,
                ignore: false,
            })),
            (None, Some(entries)) => Ok(Some(Filter {
                field: ignore_field,
                list: PatternList::compile(ignore_field, entries)?,
                ignore: true,
            })),
            (None, None) => Ok(None),
        }
    }

    /// An include list that stands alone (`repositories`).
    pub(crate) fn include(field: &'static str, entries: &[String]) -> Result<Filter, RuleError> {
        Ok(Filter {
            field,
            list: PatternList::compile(field, entries)?,
            ignore: false,
        })
    }

    pub(crate) fn field(&self) -> &'static str {
        self.field
    }

    /// Checks one name (a branch, a tag, a repository).
    pub(crate) fn check_name(&self, name: &str) -> Result<(), Rejection> {
        let field = self.field;
        match (self.ignore, self.list.decide(name)) {
            (false, Decision::Included(_))
            | (true, Decision::Excluded(_) | Decision::Unmatched) => Ok(()),
            (false, Decision::Unmatched) => Err(Rejection::new(
                field,
                format!(
                    "{field}: \"{name}\" matches none of {}",
                    self.list.display()
                ),
            )),
            (false, Decision::Excluded(pattern)) => Err(Rejection::new(
                field,
                format!("{field}: \"{name}\" is excluded by {pattern}"),
            )),
            (true, Decision::Included(pattern)) => Err(Rejection::new(
                field,
                format!("{field}: \"{name}\" is ignored by {pattern}"),
            )),
        }
    }

    /// Whether this one path lets the event through (included, or not ignored).
    fn passes(&self, path: &str) -> bool {
        self.list.decide(path).is_included() != self.ignore
    }
}

/// The git ref a branch or tag filter looks at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum GitRef<'a> {
    Branch(&'a str),
    Tag(&'a str),
}

fn ref_of(event: &Event) -> Option<GitRef<'_>> {
    if event.kind == "pull_request" {
        return event.target_branch.as_deref().map(GitRef::Branch);
    }
    if let Some(branch) = &event.branch {
        return Some(GitRef::Branch(branch));
    }
    if let Some(tag) = &event.tag {
        return Some(GitRef::Tag(tag));
    }
    let full = event.git_ref.as_deref()?;
    full.strip_prefix("refs/heads/")
        .map(GitRef::Branch)
        .or_else(|| full.strip_prefix("refs/tags/").map(GitRef::Tag))
}

/// `a branch push ("main")`, `a pull request into "main"`, `a release event on tag "v1"`.
fn describe(event: &Event, git_ref: GitRef<'_>) -> String {
    match (event.kind.as_str(), git_ref) {
        ("push", GitRef::Branch(name)) => format!("a branch push (\"{name}\")"),
        ("push", GitRef::Tag(name)) => format!("a tag push (\"{name}\")"),
        ("pull_request", GitRef::Branch(name)) => format!("a pull request into \"{name}\""),
        (kind, GitRef::Branch(name)) => format!("a {kind} event on branch \"{name}\""),
        (kind, GitRef::Tag(name)) => format!("a {kind} event on tag \"{name}\""),
    }
}

/// Branch and tag filters together: which applies depends on the event's ref.
#[derive(Debug, Clone)]
pub(crate) struct RefFilters {
    branches: Option<Filter>,
    tags: Option<Filter>,
}

impl RefFilters {
    pub(crate) fn new(branches: Option<Filter>, tags: Option<Filter>) -> Self {
        RefFilters { branches, tags }
    }

    pub(crate) fn check(&self, event: &Event) -> Result<(), Rejection> {
        let first = match (&self.branches, &self.tags) {
            (None, None) => return Ok(()),
            (Some(filter), _) | (None, Some(filter)) => filter.field(),
        };
        match ref_of(event) {
            None => Err(Rejection::new(
                first,
                format!("{first}: the event names no branch or tag"),
            )),
            Some(GitRef::Branch(name)) => match &self.branches {
                Some(filter) => filter.check_name(name),
                None => Err(Rejection::new(
                    first,
                    format!(
                        "{first}: {} never matches a rule that filters only tags",
                        describe(event, GitRef::Branch(name))
                    ),
                )),
            },
            Some(GitRef::Tag(name)) => match &self.tags {
                Some(filter) => filter.check_name(name),
                None => Err(Rejection::new(
                    first,
                    format!(
                        "{first}: {} never matches a rule that filters only branches",
                        describe(event, GitRef::Tag(name))
                    ),
                )),
            },
        }
    }
}

/// `paths` or `paths_ignore`, with what to do when the changed paths are not all known.
#[derive(Debug, Clone)]
pub(crate) struct PathFilter {
    filter: Filter,
    unknown: PathsUnknown,
}

impl PathFilter {
    pub(crate) fn new(filter: Filter, unknown: PathsUnknown) -> Self {
        PathFilter { filter, unknown }
    }

    /// `Ok(note)` when the event passes; the note tells a match that was not certain.
    pub(crate) fn check(&self, event: &Event) -> Result<Option<String>, Rejection> {
        let field = self.filter.field;
        if event.kind == "push" && matches!(ref_of(event), Some(GitRef::Tag(_))) {
            return Ok(Some(format!("{field}: not evaluated for a tag push")));
        }
        let (paths, complete) = match &event.changed_paths {
            Some(changed) => (changed.all(), changed.complete),
            None => (Vec::new(), false),
        };
        // A known path that passes decides even when the list is incomplete.
        if paths.iter().any(|path| self.filter.passes(path)) {
            return Ok(None);
        }
        if complete {
            let reason = if paths.is_empty() {
                format!("{field}: the event changed no files")
            } else if self.filter.ignore {
                format!(
                    "{field}: every changed path is ignored by {}",
                    self.filter.list.display()
                )
            } else {
                format!(
                    "{field}: no changed path matches {}",
                    self.filter.list.display()
                )
            };
            return Err(Rejection::new(field, reason));
        }
        let what = if event.changed_paths.is_none() {
            "the event carries no changed-path list"
        } else {
            "the changed-path list is incomplete"
        };
        match self.unknown {
            PathsUnknown::Match => Ok(Some(format!(
                "{field}: {what}; matched because paths_unknown is match"
            ))),
            PathsUnknown::Skip => Err(Rejection::new(
                field,
                format!("{field}: {what}; skipped because paths_unknown is skip"),
            )),
        }
    }
}

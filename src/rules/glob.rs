//! GitHub Actions filter patterns (`on.push.branches`, `paths`, ...), translated to regexes.
//!
//! The semantics are GitHub's documented ones, not a shell's: `*` stops at `/`, `**` crosses
//! it (and `**/` may match nothing, so `**/README.md` matches `README.md`), `?` and `+` make
//! the preceding character optional or repeatable, `[...]` holds alphanumerics and ranges
//! within `a-z`, `A-Z` or `0-9`, `\` makes the next character literal, and a leading `!`
//! turns the pattern into an exclusion. In a list, the last pattern that matches decides.

use regex::Regex;

use super::error::RuleError;

/// One compiled list entry.
#[derive(Debug, Clone)]
struct Glob {
    /// The entry exactly as written, `!` included, for traces and errors.
    written: String,
    negative: bool,
    regex: Regex,
}

/// What an ordered pattern list says about one name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Decision<'a> {
    /// The last matching pattern was positive (it is quoted as written).
    Included(&'a str),
    /// The last matching pattern was a `!` exclusion.
    Excluded(&'a str),
    /// No pattern matched.
    Unmatched,
}

impl Decision<'_> {
    pub(crate) fn is_included(self) -> bool {
        matches!(self, Decision::Included(_))
    }
}

/// An ordered list of patterns, as one filter field holds it.
#[derive(Debug, Clone)]
pub(crate) struct PatternList {
    globs: Vec<Glob>,
}

impl PatternList {
    /// Compiles every entry of `field`. A list must hold at least one positive pattern:
    /// GitHub requires it, and a list of only exclusions could never include anything.
    pub(crate) fn compile(field: &str, entries: &[String]) -> Result<Self, RuleError> {
        if entries.is_empty() {
            return Err(RuleError::new(
                field,
                "an empty pattern list matches nothing; leave the field out to match everything",
            ));
        }
        let mut globs = Vec::with_capacity(entries.len());
        for (index, written) in entries.iter().enumerate() {
            let (negative, pattern) = match written.strip_prefix('!') {
                Some(rest) => (true, rest),
                None => (false, written.as_str()),
            };
            let regex = pattern_to_regex(pattern)
                .and_then(|source| Regex::new(&source).map_err(|e| e.to_string()))
                .map_err(|why| {
                    RuleError::new(
                        format!("{field}[{index}]"),
                        format!("invalid glob \"{written}\": {why}"),
                    )
                })?;
            globs.push(Glob {
                written: written.clone(),
                negative,
                regex,
            });
        }
        if globs.iter().all(|g| g.negative) {
            return Err(RuleError::new(
                field,
                "a list of only ! patterns matches nothing; add at least one pattern without !",
            ));
        }
        Ok(PatternList { globs })
    }

    /// Runs the whole list over `name`; the last matching pattern wins.
    pub(crate) fn decide(&self, name: &str) -> Decision<'_> {
        self.globs
            .iter()
            .rev()
            .find(|g| g.regex.is_match(name))
            .map_or(Decision::Unmatched, |g| {
                if g.negative {
                    Decision::Excluded(&g.written)
                } else {
                    Decision::Included(&g.written)
                }
            })
    }

    /// `[main, release/**]`, as traces show a list.
    pub(crate) fn display(&self) -> String {
        let written: Vec<&str> = self.globs.iter().map(|g| g.written.as_str()).collect();
        format!("[{}]", written.join(", "))
    }
}

/// Translates one pattern (without its `!`) to an anchored regex, or says what is wrong.
fn pattern_to_regex(pattern: &str) -> Result<String, String> {
    if pattern.is_empty() {
        return Err("empty pattern".into());
    }
    let chars: Vec<char> = pattern.chars().collect();
    let mut out = String::from("^");
    // Whether the last thing emitted is a single character or class that `?`/`+` may repeat.
    let mut repeatable = false;
    let mut i = 0;
    while i < chars.len() {
        match chars[i] {
            '*' if chars.get(i + 1) == Some(&'*') => {
                if chars.get(i + 2) == Some(&'/') {
                    // `**/` may stand for no directory at all: `**/a` matches `a`.
                    out.push_str("(?:.+/)?");
                    i += 3;
                } else {
                    out.push_str(".*");
                    i += 2;
                }
                repeatable = false;
            }
            '*' => {
                out.push_str("[^/]*");
                i += 1;
                repeatable = false;
            }
            quantifier @ ('?' | '+') => {
                if !repeatable {
                    return Err(format!(
                        "'{quantifier}' must follow a character or [...] to repeat; write \\{quantifier} for a literal '{quantifier}'"
                    ));
                }
                out.push(quantifier);
                i += 1;
                repeatable = false;
            }
            '[' => {
                let (class, next) = character_class(&chars, i)?;
                out.push_str(&class);
                i = next;
                repeatable = true;
            }
            '\\' => {
                let Some(&escaped) = chars.get(i + 1) else {
                    return Err("trailing \\ escapes nothing".into());
                };
                out.push_str(&regex::escape(escaped.encode_utf8(&mut [0; 4])));
                i += 2;
                repeatable = true;
            }
            ']' => return Err("']' without a matching '['".into()),
            literal => {
                out.push_str(&regex::escape(literal.encode_utf8(&mut [0; 4])));
                i += 1;
                repeatable = true;
            }
        }
    }
    out.push('$');
    Ok(out)
}

/// Parses `[...]` starting at `open`; returns the regex class and the index after `]`.
fn character_class(chars: &[char], open: usize) -> Result<(String, usize), String> {
    let mut class = String::from("[");
    let mut i = open + 1;
    let mut members = 0;
    loop {
        let Some(&c) = chars.get(i) else {
            return Err("unclosed character class".into());
        };
        if c == ']' {
            break;
        }
        if !c.is_ascii_alphanumeric() {
            return Err(format!(
                "'{c}' in [...]: a class holds only letters, digits and ranges a-z, A-Z, 0-9"
            ));
        }
        if chars.get(i + 1) == Some(&'-') && chars.get(i + 2).is_some_and(|&e| e != ']') {
            let end = chars[i + 2];
            if !same_range_family(c, end) || c > end {
                return Err(format!(
                    "invalid range {c}-{end}: ranges stay within a-z, A-Z or 0-9, low to high"
                ));
            }
            class.push(c);
            class.push('-');
            class.push(end);
            i += 3;
        } else {
            class.push(c);
            i += 1;
        }
        members += 1;
    }
    if members == 0 {
        return Err("empty character class []".into());
    }
    class.push(']');
    Ok((class, i + 1))
}

fn same_range_family(a: char, b: char) -> bool {
    (a.is_ascii_lowercase() && b.is_ascii_lowercase())
        || (a.is_ascii_uppercase() && b.is_ascii_uppercase())
        || (a.is_ascii_digit() && b.is_ascii_digit())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn list(entries: &[&str]) -> PatternList {
        let owned: Vec<String> = entries.iter().map(|s| s.to_string()).collect();
        PatternList::compile("branches", &owned).expect("valid patterns")
    }

    fn error_of(entries: &[&str]) -> RuleError {
        let owned: Vec<String> = entries.iter().map(|s| s.to_string()).collect();
        PatternList::compile("branches", &owned).expect_err("invalid patterns")
    }

    #[test]
    fn single_star_stops_at_slash_and_double_star_crosses_it() {
        assert!(list(&["feature/*"]).decide("feature/a").is_included());
        assert!(!list(&["feature/*"]).decide("feature/a/b").is_included());
        assert!(list(&["feature/**"]).decide("feature/a/b").is_included());
        assert!(list(&["**/README.md"]).decide("README.md").is_included());
    }

    #[test]
    fn question_mark_and_plus_repeat_the_preceding_character() {
        let js = list(&["*.jsx?"]);
        assert!(js.decide("page.js").is_included());
        assert!(js.decide("page.jsx").is_included());
        assert!(!js.decide("page.jsxx").is_included());
        let semver = list(&["v[12].[0-9]+.[0-9]+"]);
        assert!(semver.decide("v1.10.1").is_included());
        assert!(!semver.decide("v3.0.0").is_included());
        assert!(!semver.decide("v1..1").is_included());
    }

    #[test]
    fn dots_and_other_regex_characters_are_literal() {
        let dotted = list(&["v1.0"]);
        assert!(dotted.decide("v1.0").is_included());
        assert!(!dotted.decide("v1x0").is_included());
        assert!(list(&["a(b)|c$"]).decide("a(b)|c$").is_included());
    }

    #[test]
    fn backslash_escapes_special_characters() {
        let plus = list(&["c\\+\\+"]);
        assert!(plus.decide("c++").is_included());
        assert!(!plus.decide("c").is_included());
        assert!(list(&["why\\?"]).decide("why?").is_included());
        assert!(list(&["a\\*"]).decide("a*").is_included());
        assert!(!list(&["a\\*"]).decide("ab").is_included());
    }

    #[test]
    fn the_last_matching_pattern_decides() {
        let rel = list(&["releases/**", "!releases/**-alpha"]);
        assert_eq!(rel.decide("releases/10"), Decision::Included("releases/**"));
        assert_eq!(
            rel.decide("releases/beta/3-alpha"),
            Decision::Excluded("!releases/**-alpha")
        );
        assert_eq!(rel.decide("main"), Decision::Unmatched);
        let reinclude = list(&["*.md", "!README.md", "README*"]);
        assert!(reinclude.decide("README.md").is_included());
    }

    #[test]
    fn matching_is_case_sensitive() {
        assert!(!list(&["main"]).decide("Main").is_included());
    }

    #[test]
    fn malformed_patterns_are_refused_with_the_entry_index() {
        let unclosed = error_of(&["main", "[a"]);
        assert_eq!(unclosed.field, "branches[1]");
        assert_eq!(
            unclosed.message,
            "invalid glob \"[a\": unclosed character class"
        );
        assert!(error_of(&["[]"]).message.contains("empty character class"));
        assert!(error_of(&["[a-Z]"]).message.contains("invalid range a-Z"));
        assert!(error_of(&["[9-0]"]).message.contains("invalid range 9-0"));
        assert!(error_of(&["[_]"]).message.contains("'_' in [...]"));
        assert!(error_of(&["+x"]).message.contains("'+' must follow"));
        assert!(error_of(&["a*?"]).message.contains("'?' must follow"));
        assert!(error_of(&["a++"]).message.contains("'+' must follow"));
        assert!(error_of(&["x\\"]).message.contains("trailing \\"));
        assert!(error_of(&["a]"]).message.contains("']' without"));
        assert!(error_of(&[""]).message.contains("empty pattern"));
        assert!(error_of(&["!"]).message.contains("empty pattern"));
    }

    #[test]
    fn lists_need_a_positive_pattern() {
        let only_negative = error_of(&["!main"]);
        assert_eq!(only_negative.field, "branches");
        assert!(only_negative.message.contains("only ! patterns"));
        assert!(error_of(&[]).message.contains("empty pattern list"));
    }

    #[test]
    fn non_ascii_names_match_literally() {
        assert!(list(&["résumé/*"]).decide("résumé/été").is_included());
    }

    #[test]
    fn display_lists_entries_as_written() {
        assert_eq!(list(&["main", "!wip/**"]).display(), "[main, !wip/**]");
    }
}

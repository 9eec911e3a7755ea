//! [`Matcher`]: one `name op "value"` condition on a label, with Prometheus semantics.

use std::fmt;

use regex::Regex;

use crate::error::LabelsError;
use crate::labels::Labels;
use crate::quote::write_go_quoted;

/// The comparison a [`Matcher`] applies.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MatchOp {
    /// `=`: the value equals the literal.
    Equal,
    /// `!=`: the value differs from the literal.
    NotEqual,
    /// `=~`: the whole value matches the regular expression.
    RegexMatch,
    /// `!~`: the whole value does not match the regular expression.
    RegexNoMatch,
}

impl MatchOp {
    /// The operator as written in a selector: `=`, `!=`, `=~` or `!~`.
    pub fn as_str(self) -> &'static str {
        match self {
            MatchOp::Equal => "=",
            MatchOp::NotEqual => "!=",
            MatchOp::RegexMatch => "=~",
            MatchOp::RegexNoMatch => "!~",
        }
    }
}

impl fmt::Display for MatchOp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How a regular expression is evaluated: common shapes skip the regex engine.
///
/// Every shortcut gives exactly the answer of the anchored regex `^(?:p)$`; note that
/// `.` does not match `\n`, as in Go's (and so Prometheus 2.x's) regexes.
#[derive(Clone, Debug)]
enum Pattern {
    /// `p` has no metacharacters: the value must equal it.
    Literal(String),
    /// `a|b|c` of literals: the value must be one of them (sorted, deduplicated).
    Set(Vec<String>),
    /// `.*`: any value without a newline.
    AnyLine,
    /// `.+`: any non-empty value without a newline.
    NonEmptyLine,
    /// `lit.*`: the value starts with `lit` and the rest has no newline.
    Prefix(String),
    /// Anything else: the compiled, anchored regex.
    Regex(Regex),
}

fn is_literal(p: &str) -> bool {
    regex::escape(p) == p
}

impl Pattern {
    fn compile(p: &str) -> Result<Pattern, LabelsError> {
        if is_literal(p) {
            return Ok(Pattern::Literal(p.to_owned()));
        }
        match p {
            ".*" => return Ok(Pattern::AnyLine),
            ".+" => return Ok(Pattern::NonEmptyLine),
            _ => {}
        }
        if let Some(prefix) = p.strip_suffix(".*") {
            if is_literal(prefix) {
                return Ok(Pattern::Prefix(prefix.to_owned()));
            }
        }
        if p.contains('|') && p.split('|').all(is_literal) {
            let mut set: Vec<String> = p.split('|').map(str::to_owned).collect();
            set.sort_unstable();
            set.dedup();
            return Ok(Pattern::Set(set));
        }
        let invalid = |reason: String| LabelsError::InvalidRegex {
            pattern: p.to_owned(),
            reason,
        };
        // The pattern must be a regex by itself: `a)|(b` would otherwise compile as
        // `^(?:a)|(b)$` and escape the anchors.
        regex_syntax::Parser::new()
            .parse(p)
            .map_err(|e| invalid(e.to_string()))?;
        Regex::new(&format!("^(?:{p})$"))
            .map(Pattern::Regex)
            .map_err(|e| invalid(e.to_string()))
    }

    fn is_match(&self, v: &str) -> bool {
        match self {
            Pattern::Literal(l) => v == l,
            Pattern::Set(set) => set.binary_search_by(|s| s.as_str().cmp(v)).is_ok(),
            Pattern::AnyLine => !v.contains('\n'),
            Pattern::NonEmptyLine => !v.is_empty() && !v.contains('\n'),
            Pattern::Prefix(p) => v
                .strip_prefix(p.as_str())
                .is_some_and(|rest| !rest.contains('\n')),
            Pattern::Regex(re) => re.is_match(v),
        }
    }
}

/// A condition on one label: `name op "value"`.
///
/// A series lacking the label is treated as having the empty value, as in Prometheus:
/// `job=""` selects series without `job`, `job!=""` those with one.
///
/// Regular expressions use the syntax of the `regex` crate, which is RE2's (Go's) syntax
/// except that `\d`, `\w`, `\s` and `\b` are Unicode-aware; they are fully anchored (the
/// pattern `p` is compiled as `^(?:p)$`), so `=~"a"` does not match `"ab"`.
#[derive(Clone, Debug)]
pub struct Matcher {
    name: String,
    op: MatchOp,
    value: String,
    /// Present exactly for the regex ops.
    pattern: Option<Pattern>,
}

impl Matcher {
    /// A matcher `name op value`.
    ///
    /// The name is not validated (a matcher on a name no label can have simply sees the
    /// empty value). For `=~` and `!~` the value is compiled as `^(?:value)$`.
    ///
    /// # Errors
    /// [`LabelsError::InvalidRegex`] if a regex op's value does not compile.
    pub fn new(
        op: MatchOp,
        name: impl Into<String>,
        value: impl Into<String>,
    ) -> Result<Matcher, LabelsError> {
        let value = value.into();
        let pattern = match op {
            MatchOp::Equal | MatchOp::NotEqual => None,
            MatchOp::RegexMatch | MatchOp::RegexNoMatch => Some(Pattern::compile(&value)?),
        };
        Ok(Matcher {
            name: name.into(),
            op,
            value,
            pattern,
        })
    }

    /// `name="value"`; never fails.
    pub fn equal(name: impl Into<String>, value: impl Into<String>) -> Matcher {
        Matcher {
            name: name.into(),
            op: MatchOp::Equal,
            value: value.into(),
            pattern: None,
        }
    }

    /// `name!="value"`; never fails.
    pub fn not_equal(name: impl Into<String>, value: impl Into<String>) -> Matcher {
        Matcher {
            name: name.into(),
            op: MatchOp::NotEqual,
            value: value.into(),
            pattern: None,
        }
    }

    /// The label name the matcher tests.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The comparison.
    pub fn op(&self) -> MatchOp {
        self.op
    }

    /// The literal or the (unanchored, as given) regex.
    pub fn value(&self) -> &str {
        &self.value
    }

    /// Whether a label value satisfies the matcher; `""` stands for an absent label.
    pub fn matches(&self, value: &str) -> bool {
        match (self.op, &self.pattern) {
            (MatchOp::Equal, _) => value == self.value,
            (MatchOp::NotEqual, _) => value != self.value,
            (MatchOp::RegexMatch, Some(p)) => p.is_match(value),
            (MatchOp::RegexNoMatch, Some(p)) => !p.is_match(value),
            // Unreachable by construction; a regex op always has a pattern.
            (MatchOp::RegexMatch | MatchOp::RegexNoMatch, None) => false,
        }
    }

    /// Whether the label set satisfies the matcher (an absent label counts as `""`).
    pub fn matches_labels(&self, l: &Labels) -> bool {
        self.matches(l.get(&self.name).unwrap_or(""))
    }

    /// Whether the matcher selects series that lack the label, i.e. matches `""`.
    pub fn matches_empty(&self) -> bool {
        self.matches("")
    }
}

impl PartialEq for Matcher {
    /// Same name, op and value (the compiled form follows from them).
    fn eq(&self, other: &Matcher) -> bool {
        self.name == other.name && self.op == other.op && self.value == other.value
    }
}

impl Eq for Matcher {}

impl fmt::Display for Matcher {
    /// `name="value"`, `name!="value"`, `name=~"value"` or `name!~"value"`, the value
    /// quoted by Go's `strconv.Quote`, as Prometheus prints matchers.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.name)?;
        f.write_str(self.op.as_str())?;
        write_go_quoted(f, &self.value)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(op: MatchOp, v: &str) -> Matcher {
        Matcher::new(op, "job", v).unwrap()
    }

    #[test]
    fn equal_and_not_equal() {
        let eq = m(MatchOp::Equal, "node");
        assert!(eq.matches("node"));
        assert!(!eq.matches("nodes"));
        assert!(!eq.matches(""));
        assert!(!eq.matches_empty());
        let ne = m(MatchOp::NotEqual, "node");
        assert!(!ne.matches("node"));
        assert!(ne.matches(""));
        assert!(ne.matches_empty());
        assert!(m(MatchOp::Equal, "").matches_empty());
        assert!(!m(MatchOp::NotEqual, "").matches_empty());
    }

    #[test]
    fn regex_is_anchored() {
        let re = m(MatchOp::RegexMatch, "a");
        assert!(re.matches("a"));
        assert!(!re.matches("ab"));
        assert!(!re.matches("ba"));
        let re = m(MatchOp::RegexMatch, "a|b");
        assert!(re.matches("b"));
        assert!(!re.matches("ab"));
        let re = m(MatchOp::RegexMatch, "fo+|ba[rz]");
        assert!(re.matches("fooo"));
        assert!(re.matches("baz"));
        assert!(!re.matches("xfoo"));
        assert!(!re.matches("bazz"));
        let nre = m(MatchOp::RegexNoMatch, "a.*");
        assert!(!nre.matches("abc"));
        assert!(nre.matches("xabc"));
        assert!(nre.matches(""));
        assert!(nre.matches_empty());
    }

    #[test]
    fn regex_empty_semantics() {
        assert!(m(MatchOp::RegexMatch, ".*").matches_empty());
        assert!(!m(MatchOp::RegexMatch, ".+").matches_empty());
        assert!(m(MatchOp::RegexMatch, "a|").matches_empty());
        assert!(!m(MatchOp::RegexNoMatch, ".*").matches_empty());
        assert!(m(MatchOp::RegexNoMatch, ".+").matches_empty());
    }

    #[test]
    fn dot_does_not_match_newline() {
        for p in [".*", ".+", "a.*", "(.*)"] {
            assert!(!m(MatchOp::RegexMatch, p).matches("a\nb"), "{p}");
        }
    }

    #[test]
    fn invalid_regex() {
        let e = Matcher::new(MatchOp::RegexMatch, "a", "(").unwrap_err();
        assert!(matches!(e, LabelsError::InvalidRegex { ref pattern, .. } if pattern == "("));
        // A pattern that would escape the anchoring group is rejected, not re-bracketed.
        assert!(Matcher::new(MatchOp::RegexMatch, "a", "a)|(b").is_err());
        // Literal ops never compile anything.
        assert!(Matcher::new(MatchOp::Equal, "a", "(").is_ok());
    }

    #[test]
    fn labels_and_display() {
        let l = Labels::new([("job", "node"), ("__name__", "up")]).unwrap();
        assert!(m(MatchOp::Equal, "node").matches_labels(&l));
        let absent = Matcher::new(MatchOp::Equal, "zone", "").unwrap();
        assert!(absent.matches_labels(&l));
        let present = Matcher::new(MatchOp::NotEqual, "job", "").unwrap();
        assert!(present.matches_labels(&l));

        assert_eq!(m(MatchOp::Equal, "a\"b").to_string(), r#"job="a\"b""#);
        assert_eq!(m(MatchOp::NotEqual, "x").to_string(), r#"job!="x""#);
        assert_eq!(
            m(MatchOp::RegexMatch, r"a\.b").to_string(),
            r#"job=~"a\\.b""#
        );
        assert_eq!(m(MatchOp::RegexNoMatch, "x").to_string(), r#"job!~"x""#);
        assert_eq!(Matcher::equal("a", "b"), m2("a", MatchOp::Equal, "b"));
        assert_eq!(
            Matcher::not_equal("a", "b"),
            m2("a", MatchOp::NotEqual, "b")
        );
    }

    fn m2(name: &str, op: MatchOp, v: &str) -> Matcher {
        Matcher::new(op, name, v).unwrap()
    }

    #[test]
    fn shortcuts_are_chosen() {
        let kind = |p: &str| match Pattern::compile(p).unwrap() {
            Pattern::Literal(_) => "literal",
            Pattern::Set(_) => "set",
            Pattern::AnyLine => "any",
            Pattern::NonEmptyLine => "nonempty",
            Pattern::Prefix(_) => "prefix",
            Pattern::Regex(_) => "regex",
        };
        assert_eq!(kind("abc"), "literal");
        assert_eq!(kind(""), "literal");
        assert_eq!(kind("a|bc|"), "set");
        assert_eq!(kind(".*"), "any");
        assert_eq!(kind(".+"), "nonempty");
        assert_eq!(kind("foo_.*"), "prefix");
        assert_eq!(kind("a.b"), "regex");
        assert_eq!(kind("(?i)abc"), "regex");
        assert_eq!(kind("a\\|b"), "regex");
    }
}

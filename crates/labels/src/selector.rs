//! PromQL series selectors (`up{job="node", instance=~"a.*"}`) and the Prometheus text
//! form of label sets (`{__name__="up", job="node"}`).
//!
//! Grammar (whitespace — space, tab, `\r`, `\n` — is allowed between tokens):
//!
//! ```text
//! selector    = [ metric_name ] [ "{" [ matcher { "," matcher } [ "," ] ] "}" ]   (not both empty)
//! metric_name = [a-zA-Z_:][a-zA-Z0-9_:]*
//! matcher     = label_name ( "=" | "!=" | "=~" | "!~" ) string
//! label_name  = [a-zA-Z_][a-zA-Z0-9_]*
//! string      = '"' … '"' | "'" … "'" | '`' … '`'
//! ```
//!
//! Quoted strings take Go's escapes (`\a \b \f \n \r \t \v \\`, the enclosing quote,
//! `\ooo` octal, `\xhh`, `\uhhhh`, `\Uhhhhhhhh`) and may not contain a raw newline;
//! the resulting bytes must be UTF-8. Back-quoted strings are raw (Go drops their `\r`).

use std::str::FromStr;

use crate::error::LabelsError;
use crate::labels::{is_valid_metric_name, Labels, METRIC_NAME};
use crate::matcher::{MatchOp, Matcher};

/// Parses a PromQL series selector into its matchers.
///
/// A leading metric name becomes the matcher `__name__="name"`, placed first; the
/// others follow in the order written. Several matchers may name the same label.
///
/// # Errors
/// [`LabelsError::Parse`] with the byte position and what was expected there;
/// [`LabelsError::InvalidRegex`] for a bad `=~`/`!~` pattern; [`LabelsError::EmptySelector`]
/// if every matcher matches the empty string (PromQL rejects such selectors, which
/// would select every series), including `{}`.
pub fn parse_selector(s: &str) -> Result<Vec<Matcher>, LabelsError> {
    let raw = Parser::new(s).selector()?;
    let mut out = Vec::with_capacity(raw.matchers.len() + 1);
    if let Some(name) = raw.metric_name {
        out.push(Matcher::equal(METRIC_NAME, name));
    }
    for m in raw.matchers {
        out.push(Matcher::new(m.op, m.name, m.value)?);
    }
    if out.iter().all(Matcher::matches_empty) {
        return Err(LabelsError::EmptySelector);
    }
    Ok(out)
}

/// Parses the text form of a label set, as [`Labels`]' `Display` prints it:
/// `{a="1", b="2"}`, optionally preceded by a metric name (`up{job="x"}` or just `up`).
///
/// Only `=` is allowed; `{}` is the empty set; empty values are dropped as in
/// [`Labels::new`].
///
/// # Errors
/// [`LabelsError::Parse`] for malformed text or another operator,
/// [`LabelsError::DuplicateName`] if a name (including `__name__`) repeats.
pub fn parse_labels(s: &str) -> Result<Labels, LabelsError> {
    let raw = Parser::new(s).selector()?;
    let mut pairs = Vec::with_capacity(raw.matchers.len() + 1);
    if let Some(name) = raw.metric_name {
        pairs.push((METRIC_NAME.to_owned(), name));
    }
    for m in raw.matchers {
        if m.op != MatchOp::Equal {
            return Err(LabelsError::Parse {
                pos: m.op_pos,
                reason: format!("expected \"=\" in a label set, found {:?}", m.op.as_str()),
            });
        }
        pairs.push((m.name, m.value));
    }
    Labels::new(pairs)
}

impl FromStr for Labels {
    type Err = LabelsError;

    /// Same as [`parse_labels`].
    fn from_str(s: &str) -> Result<Labels, LabelsError> {
        parse_labels(s)
    }
}

struct RawMatcher {
    name: String,
    op: MatchOp,
    op_pos: usize,
    value: String,
}

struct RawSelector {
    metric_name: Option<String>,
    matchers: Vec<RawMatcher>,
}

struct Parser<'a> {
    src: &'a str,
    pos: usize,
}

fn describe(c: Option<char>) -> String {
    match c {
        Some(c) => format!("{c:?}"),
        None => "end of input".to_owned(),
    }
}

impl<'a> Parser<'a> {
    fn new(src: &'a str) -> Parser<'a> {
        Parser { src, pos: 0 }
    }

    fn peek(&self) -> Option<char> {
        self.src[self.pos..].chars().next()
    }

    fn err(&self, pos: usize, reason: impl Into<String>) -> LabelsError {
        LabelsError::Parse {
            pos,
            reason: reason.into(),
        }
    }

    fn expected(&self, what: &str) -> LabelsError {
        self.err(
            self.pos,
            format!("expected {what}, found {}", describe(self.peek())),
        )
    }

    fn skip_ws(&mut self) {
        let rest = &self.src[self.pos..];
        let trimmed = rest.trim_start_matches([' ', '\t', '\r', '\n']);
        self.pos += rest.len() - trimmed.len();
    }

    fn eat(&mut self, c: char) -> bool {
        if self.peek() == Some(c) {
            self.pos += c.len_utf8();
            true
        } else {
            false
        }
    }

    /// The longest run of `[a-zA-Z0-9_]` (plus `:` if `colon`) from here; the caller
    /// checks the first character.
    fn ident(&mut self, colon: bool) -> &'a str {
        let start = self.pos;
        let len = self.src.as_bytes()[start..]
            .iter()
            .take_while(|c| c.is_ascii_alphanumeric() || **c == b'_' || (colon && **c == b':'))
            .count();
        self.pos += len;
        &self.src[start..start + len]
    }

    fn selector(mut self) -> Result<RawSelector, LabelsError> {
        self.skip_ws();
        let mut metric_name = None;
        if matches!(self.peek(), Some(c) if c.is_ascii_alphabetic() || c == '_' || c == ':') {
            let name = self.ident(true);
            debug_assert!(is_valid_metric_name(name));
            metric_name = Some(name.to_owned());
            self.skip_ws();
        }
        let mut matchers = Vec::new();
        if self.eat('{') {
            self.matchers(&mut matchers)?;
            self.skip_ws();
        } else if metric_name.is_none() {
            return Err(self.expected("a metric name or \"{\""));
        }
        if self.pos < self.src.len() {
            return Err(self.expected("end of input"));
        }
        if metric_name.is_some() && matchers.iter().any(|m| m.name == METRIC_NAME) {
            return Err(self.err(0, "metric name must not be set twice"));
        }
        Ok(RawSelector {
            metric_name,
            matchers,
        })
    }

    /// After `{`: matchers separated by commas, an optional trailing comma, then `}`.
    fn matchers(&mut self, out: &mut Vec<RawMatcher>) -> Result<(), LabelsError> {
        loop {
            self.skip_ws();
            if self.eat('}') {
                return Ok(());
            }
            out.push(self.matcher()?);
            self.skip_ws();
            if self.eat('}') {
                return Ok(());
            }
            if !self.eat(',') {
                return Err(self.expected("\",\" or \"}\""));
            }
        }
    }

    fn matcher(&mut self) -> Result<RawMatcher, LabelsError> {
        if !matches!(self.peek(), Some(c) if c.is_ascii_alphabetic() || c == '_') {
            return Err(self.expected("a label name or \"}\""));
        }
        let name = self.ident(false).to_owned();
        self.skip_ws();
        let op_pos = self.pos;
        let rest = &self.src[self.pos..];
        let op = if rest.starts_with("=~") {
            MatchOp::RegexMatch
        } else if rest.starts_with("!~") {
            MatchOp::RegexNoMatch
        } else if rest.starts_with("!=") {
            MatchOp::NotEqual
        } else if rest.starts_with('=') {
            MatchOp::Equal
        } else {
            return Err(self.expected("one of \"=\", \"!=\", \"=~\", \"!~\""));
        };
        self.pos += op.as_str().len();
        self.skip_ws();
        let value = self.string()?;
        Ok(RawMatcher {
            name,
            op,
            op_pos,
            value,
        })
    }

    /// A string literal in `"…"`, `'…'` or `` `…` ``.
    fn string(&mut self) -> Result<String, LabelsError> {
        let start = self.pos;
        let quote = match self.peek() {
            Some(q @ ('"' | '\'' | '`')) => q,
            _ => return Err(self.expected("a quoted string")),
        };
        self.pos += 1;
        if quote == '`' {
            let rest = &self.src[self.pos..];
            let Some(len) = rest.find('`') else {
                return Err(self.err(start, "unterminated raw string"));
            };
            self.pos += len + 1;
            return Ok(rest[..len].replace('\r', ""));
        }
        let mut bytes = Vec::new();
        loop {
            let here = self.pos;
            let Some(c) = self.peek() else {
                return Err(self.err(start, "unterminated quoted string"));
            };
            self.pos += c.len_utf8();
            match c {
                '\n' => return Err(self.err(start, "unterminated quoted string")),
                c if c == quote => break,
                '\\' => self.escape(quote, here, &mut bytes)?,
                c => {
                    let mut buf = [0u8; 4];
                    bytes.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
                }
            }
        }
        String::from_utf8(bytes)
            .map_err(|_| self.err(start, "escapes in the string do not form valid UTF-8"))
    }

    /// After a backslash at `at`, inside a string quoted with `quote`.
    fn escape(&mut self, quote: char, at: usize, out: &mut Vec<u8>) -> Result<(), LabelsError> {
        let Some(c) = self.peek() else {
            return Err(self.err(at, "unterminated escape sequence"));
        };
        self.pos += c.len_utf8();
        let simple = match c {
            'a' => Some(0x07),
            'b' => Some(0x08),
            'f' => Some(0x0c),
            'n' => Some(b'\n'),
            'r' => Some(b'\r'),
            't' => Some(b'\t'),
            'v' => Some(0x0b),
            '\\' => Some(b'\\'),
            c if c == quote => Some(c as u8),
            _ => None,
        };
        if let Some(b) = simple {
            out.push(b);
            return Ok(());
        }
        let bad = |p: &Self| p.err(at, format!("unknown escape sequence \"\\{c}\""));
        match c {
            '0'..='7' => {
                let digits = self.digits(at, 2, 8)?;
                let v = (c as u32 - '0' as u32) * 64 + digits;
                let b = u8::try_from(v).map_err(|_| self.err(at, "octal escape value > 255"))?;
                out.push(b);
            }
            'x' => {
                let v = self.digits(at, 2, 16)?;
                // Two hex digits always fit a byte.
                out.push(u8::try_from(v).map_err(|_| bad(self))?);
            }
            'u' | 'U' => {
                let n = if c == 'u' { 4 } else { 8 };
                let v = self.digits(at, n, 16)?;
                let ch = char::from_u32(v).ok_or_else(|| {
                    self.err(at, "escape sequence is an invalid Unicode code point")
                })?;
                let mut buf = [0u8; 4];
                out.extend_from_slice(ch.encode_utf8(&mut buf).as_bytes());
            }
            _ => return Err(bad(self)),
        }
        Ok(())
    }

    /// Exactly `n` digits of `radix`, as a number.
    fn digits(&mut self, at: usize, n: usize, radix: u32) -> Result<u32, LabelsError> {
        let mut v = 0u32;
        for _ in 0..n {
            let d = self.peek().and_then(|c| c.to_digit(radix));
            let Some(d) = d else {
                return Err(self.err(
                    at,
                    format!(
                        "escape sequence needs {n} base-{radix} digits, found {}",
                        describe(self.peek())
                    ),
                ));
            };
            self.pos += 1;
            v = v * radix + d;
        }
        Ok(v)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(s: &str) -> Vec<String> {
        parse_selector(s)
            .unwrap_or_else(|e| panic!("{s:?}: {e}"))
            .iter()
            .map(ToString::to_string)
            .collect()
    }

    fn err_pos(s: &str) -> usize {
        match parse_selector(s) {
            Err(LabelsError::Parse { pos, .. }) => pos,
            other => panic!("{s:?}: expected a parse error, got {other:?}"),
        }
    }

    #[test]
    fn good() {
        assert_eq!(ms("up"), [r#"__name__="up""#]);
        assert_eq!(
            ms("  node:cpu_seconds:rate5m  "),
            [r#"__name__="node:cpu_seconds:rate5m""#]
        );
        assert_eq!(
            ms(r#"up{job="node"}"#),
            [r#"__name__="up""#, r#"job="node""#]
        );
        assert_eq!(
            ms(r#"{ a != "b" , c=~'d.*', e!~`f\n`, }"#),
            [r#"a!="b""#, r#"c=~"d.*""#, r#"e!~"f\\n""#]
        );
        assert_eq!(ms("up{}"), [r#"__name__="up""#]);
        assert_eq!(
            ms("up {\n job = \"x\" \n}"),
            [r#"__name__="up""#, r#"job="x""#]
        );
        assert_eq!(ms(r#"{__name__="up"}"#), [r#"__name__="up""#]);
        assert_eq!(ms(r#"{a="1",a!="2"}"#), [r#"a="1""#, r#"a!="2""#]);
    }

    #[test]
    fn escapes() {
        let v = |s: &str| parse_selector(s).unwrap()[0].value().to_owned();
        assert_eq!(
            v(r#"{a="\a\b\f\n\r\t\v\\\""}"#),
            "\x07\x08\x0c\n\r\t\x0b\\\""
        );
        assert_eq!(v(r#"{a='\''}"#), "'");
        assert_eq!(v(r#"{a="\x41\101\u00e9\U0001F600"}"#), "AAé😀");
        assert_eq!(v(r#"{a="\xc3\xa9"}"#), "é");
        assert_eq!(v("{a=`x\\ny\r`}"), "x\\ny");
        assert_eq!(v("{a=\"日本\"}"), "日本");
    }

    #[test]
    fn bad() {
        assert_eq!(err_pos(""), 0);
        assert_eq!(err_pos("   "), 3);
        assert_eq!(err_pos("1up"), 0);
        assert_eq!(err_pos("up{"), 3);
        assert_eq!(err_pos("up{a}"), 4);
        assert_eq!(err_pos("up{a=}"), 5);
        assert_eq!(err_pos("up{a==\"b\"}"), 5);
        assert_eq!(err_pos("up{a=\"b\" c=\"d\"}"), 9);
        assert_eq!(err_pos("up{a=\"b\"}}"), 9);
        assert_eq!(err_pos("up{a=\"b}"), 5);
        assert_eq!(err_pos("up{a=\"b\nc\"}"), 5);
        assert_eq!(err_pos("up{a='b\"}"), 5);
        assert_eq!(err_pos("up{a=`b}"), 5);
        assert_eq!(err_pos(r#"up{a="\q"}"#), 6);
        assert_eq!(err_pos(r#"up{a="\'"}"#), 6);
        assert_eq!(err_pos(r#"up{a='\"'}"#), 6);
        assert_eq!(err_pos(r#"up{a="\x4"}"#), 6);
        assert_eq!(err_pos(r#"up{a="\400"}"#), 6);
        assert_eq!(err_pos(r#"up{a="\ud800"}"#), 6);
        assert_eq!(err_pos(r#"up{a="\xff"}"#), 5);
        assert_eq!(err_pos(r#"up{a:b="c"}"#), 4);
        assert_eq!(err_pos(r#"up{,}"#), 3);
        assert_eq!(err_pos(r#"up{a="b",,}"#), 9);
        assert_eq!(err_pos(r#"up[5m]"#), 2);
        assert_eq!(err_pos(r#"up{__name__="x"}"#), 0);
        assert_eq!(err_pos("up{é=\"x\"}"), 3);
        assert_eq!(err_pos("up\\"), 2);
    }

    #[test]
    fn messages_say_what_was_expected() {
        let e = parse_selector("up{a=}").unwrap_err().to_string();
        assert_eq!(
            e,
            "invalid selector at byte 5: expected a quoted string, found '}'"
        );
        let e = parse_selector("up{a=\"b\"").unwrap_err().to_string();
        assert_eq!(
            e,
            "invalid selector at byte 8: expected \",\" or \"}\", found end of input"
        );
    }

    #[test]
    fn empty_selectors() {
        for s in ["{}", r#"{a=""}"#, r#"{a=~".*"}"#, r#"{a!="x", b=~"c|"}"#] {
            assert_eq!(parse_selector(s), Err(LabelsError::EmptySelector), "{s}");
        }
        assert!(parse_selector(r#"{a=~".*", b!=""}"#).is_ok());
    }

    #[test]
    fn invalid_regex() {
        assert!(matches!(
            parse_selector(r#"{a=~"("}"#),
            Err(LabelsError::InvalidRegex { .. })
        ));
    }

    #[test]
    fn labels_text() {
        let l: Labels = r#"{__name__="up", job="a\"b"}"#.parse().unwrap();
        assert_eq!(
            l,
            Labels::new([("__name__", "up"), ("job", "a\"b")]).unwrap()
        );
        assert_eq!(
            parse_labels("up").unwrap(),
            Labels::new([("__name__", "up")]).unwrap()
        );
        assert_eq!(parse_labels("{}").unwrap(), Labels::empty());
        assert_eq!(parse_labels(r#"{a=""}"#).unwrap(), Labels::empty());
        assert!(matches!(
            parse_labels(r#"{a!="x"}"#),
            Err(LabelsError::Parse { pos: 2, .. })
        ));
        assert!(matches!(
            parse_labels(r#"{a="x", a="y"}"#),
            Err(LabelsError::DuplicateName { .. })
        ));
    }
}

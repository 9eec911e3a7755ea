//! What the formats share: scanning a line's bytes, errors at a byte offset, the label set of the
//! Prometheus text format and OpenMetrics, and the buffers that collect a line's labels.

use tsdb_labels::{is_valid_label_name, is_valid_metric_name, Labels, METRIC_NAME};

use crate::error::{ErrorKind, Found, ParseError};
use crate::value::parse_value;
use crate::Sample;

/// An error within a line: the byte offset of the offending text (if at one place) and what is wrong.
#[derive(Debug)]
pub(crate) struct LineError {
    pos: Option<usize>,
    kind: ErrorKind,
}

impl LineError {
    /// An error at byte offset `pos` of the line.
    pub(crate) fn at(pos: usize, kind: ErrorKind) -> LineError {
        LineError {
            pos: Some(pos),
            kind,
        }
    }

    /// An error of the whole line.
    pub(crate) fn line(kind: ErrorKind) -> LineError {
        LineError { pos: None, kind }
    }

    /// The same error, its kind wrapped by `wrap` (the position kept).
    pub(crate) fn map_kind(self, wrap: impl FnOnce(ErrorKind) -> ErrorKind) -> LineError {
        LineError {
            pos: self.pos,
            kind: wrap(self.kind),
        }
    }

    /// The error with a line number and a character column.
    pub(crate) fn at_line(self, line: &str, line_no: usize) -> ParseError {
        let column = self.pos.map(|pos| {
            let pos = pos.min(line.len());
            // Count the characters before `pos`: the bytes that do not continue a UTF-8 sequence.
            line.as_bytes()[..pos]
                .iter()
                .filter(|&&b| b & 0xc0 != 0x80)
                .count()
                + 1
        });
        ParseError {
            line: line_no,
            column,
            kind: self.kind,
        }
    }
}

/// A space or a tab: what separates the parts of a line in every format.
#[inline]
pub(crate) fn is_blank(c: u8) -> bool {
    c == b' ' || c == b'\t'
}

/// The offset of the first non-blank byte at or after `i` (or `b.len()`).
#[inline]
pub(crate) fn skip_blanks(b: &[u8], mut i: usize) -> usize {
    while i < b.len() && is_blank(b[i]) {
        i += 1;
    }
    i
}

/// The offset of the first blank byte at or after `i` (or `b.len()`).
#[inline]
pub(crate) fn token_end(b: &[u8], mut i: usize) -> usize {
    while i < b.len() && !is_blank(b[i]) {
        i += 1;
    }
    i
}

/// How blanks separate the parts of a line: any number of spaces and tabs (the Prometheus text
/// format), or exactly the single spaces of the grammar (OpenMetrics, as Prometheus reads it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Spacing {
    Lenient,
    Strict,
}

impl Spacing {
    /// Skips the blanks at `i` where the grammar has none: lenient, any; strict, an error if any.
    pub(crate) fn none(self, b: &[u8], i: usize) -> Result<usize, LineError> {
        let j = skip_blanks(b, i);
        if self == Spacing::Strict && j != i {
            return Err(LineError::at(i, ErrorKind::UnexpectedBlank));
        }
        Ok(j)
    }

    /// Skips the separator at `i`, before a part that must follow: lenient, any blanks (maybe
    /// none); strict, exactly one space, not at the end of the line.
    pub(crate) fn one(self, line: &str, i: usize) -> Result<usize, LineError> {
        let b = line.as_bytes();
        match self {
            Spacing::Lenient => Ok(skip_blanks(b, i)),
            Spacing::Strict => match b.get(i) {
                Some(b' ') => match b.get(i + 1) {
                    Some(&c) if !is_blank(c) => Ok(i + 1),
                    Some(_) => Err(LineError::at(i + 1, ErrorKind::UnexpectedBlank)),
                    None => Err(LineError::at(i, ErrorKind::UnexpectedBlank)),
                },
                Some(b'\t') => Err(LineError::at(i, ErrorKind::UnexpectedBlank)),
                _ => Err(LineError::at(
                    i,
                    ErrorKind::ExpectedSpace {
                        found: found(line, i),
                    },
                )),
            },
        }
    }
}

/// What is at byte offset `i` of `line`, for an error message.
pub(crate) fn found(line: &str, i: usize) -> Found {
    match line.get(i..).and_then(|s| s.chars().next()) {
        Some(c) => Found::Char(c),
        None => Found::EndOfLine,
    }
}

/// Whether `s` is an optionally signed run of decimal digits.
pub(crate) fn is_integer(s: &str) -> bool {
    let digits = s.strip_prefix(['+', '-']).unwrap_or(s);
    !digits.is_empty() && digits.bytes().all(|c| c.is_ascii_digit())
}

/// One label of the line being parsed: its name and value are ranges of [`Scratch::text`].
#[derive(Debug, Clone, Copy)]
pub(crate) struct LabelSpan {
    pub(crate) name: (usize, usize),
    pub(crate) value: (usize, usize),
    /// Byte offset in the line where the label starts, for errors.
    pub(crate) at: usize,
}

/// Buffers reused from line to line: the unescaped label names and values of the current line.
#[derive(Debug, Default)]
pub(crate) struct Scratch {
    pub(crate) text: String,
    pub(crate) labels: Vec<LabelSpan>,
}

impl Scratch {
    pub(crate) fn clear(&mut self) {
        self.text.clear();
        self.labels.clear();
    }

    pub(crate) fn name(&self, l: &LabelSpan) -> &str {
        &self.text[l.name.0..l.name.1]
    }

    fn value(&self, l: &LabelSpan) -> &str {
        &self.text[l.value.0..l.value.1]
    }

    /// The metric name of a sample line, once [`series_and_value`] has read it.
    pub(crate) fn metric_name(&self) -> &str {
        self.labels.first().map_or("", |l| self.value(l))
    }

    /// Appends a label whose name and value are already unescaped.
    fn push(&mut self, name: &str, value: &str, at: usize) {
        let n0 = self.text.len();
        self.text.push_str(name);
        let n1 = self.text.len();
        self.text.push_str(value);
        let v1 = self.text.len();
        self.labels.push(LabelSpan {
            name: (n0, n1),
            value: (n1, v1),
            at,
        });
    }

    /// Returns the first label (in line order) whose name an earlier label already has.
    pub(crate) fn duplicate(&self) -> Option<&LabelSpan> {
        let ls = &self.labels;
        if ls.len() <= 16 {
            for (i, l) in ls.iter().enumerate() {
                if ls[..i].iter().any(|m| self.name(m) == self.name(l)) {
                    return Some(l);
                }
            }
            None
        } else {
            let mut idx: Vec<usize> = (0..ls.len()).collect();
            idx.sort_by(|&a, &b| self.name(&ls[a]).cmp(self.name(&ls[b])).then(a.cmp(&b)));
            idx.windows(2)
                .filter(|w| self.name(&ls[w[0]]) == self.name(&ls[w[1]]))
                .map(|w| w[1])
                .min()
                .map(|i| &ls[i])
        }
    }

    /// The label set of the labels collected so far (empty values dropped).
    fn labels(&self) -> Result<Labels, LineError> {
        Labels::new(self.labels.iter().map(|l| (self.name(l), self.value(l))))
            .map_err(|e| LineError::line(e.into()))
    }

    /// The label set `{__name__=metric, <labels collected so far>}`.
    pub(crate) fn labels_with_name(&self, metric: &str) -> Result<Labels, LineError> {
        Labels::new(
            std::iter::once((METRIC_NAME, metric))
                .chain(self.labels.iter().map(|l| (self.name(l), self.value(l)))),
        )
        .map_err(|e| LineError::line(e.into()))
    }

    /// Pushes the sample of the labels collected so far (a duplicate label name is an error).
    pub(crate) fn push_sample(
        &self,
        value: f64,
        timestamp_ms: Option<i64>,
        out: &mut Vec<Sample>,
    ) -> Result<(), LineError> {
        if let Some(l) = self.duplicate() {
            return Err(LineError::at(
                l.at,
                ErrorKind::DuplicateLabel {
                    name: self.name(l).to_string(),
                },
            ));
        }
        out.push(Sample {
            labels: self.labels()?,
            value,
            timestamp_ms,
        });
        Ok(())
    }
}

/// Parses the start of a sample line of the Prometheus text format or OpenMetrics, from its metric
/// name at byte `start`: the name and the optional label set into `scratch` (cleared first), then the
/// value. Returns the value and the offset after it (lenient: after the blanks that follow it).
pub(crate) fn series_and_value(
    line: &str,
    start: usize,
    spacing: Spacing,
    scratch: &mut Scratch,
) -> Result<(f64, usize), LineError> {
    let b = line.as_bytes();
    scratch.clear();

    // Metric name: up to a blank or `{`.
    let mut i = start;
    while i < b.len() && !is_blank(b[i]) && b[i] != b'{' {
        i += 1;
    }
    let name = &line[start..i];
    if name.is_empty() {
        return Err(LineError::at(start, ErrorKind::MissingMetricName));
    }
    if !is_valid_metric_name(name) {
        return Err(LineError::at(
            start,
            ErrorKind::InvalidMetricName { name: name.into() },
        ));
    }
    scratch.push(METRIC_NAME, name, start);

    if spacing == Spacing::Lenient {
        i = skip_blanks(b, i);
    }
    if b.get(i) == Some(&b'{') {
        i = parse_label_set(line, i, spacing, scratch)?;
    }

    if skip_blanks(b, i) == b.len() {
        return Err(LineError::at(b.len(), ErrorKind::MissingValue));
    }
    i = spacing.one(line, i)?;
    let end = token_end(b, i);
    let value = parse_value(&line[i..end]).map_err(|e| LineError::at(i, e))?;
    let end = match spacing {
        Spacing::Lenient => skip_blanks(b, end),
        Spacing::Strict => end,
    };
    Ok((value, end))
}

/// Parses the label set that opens at byte `open` (a `{`) into `scratch`, and returns the offset after
/// its closing `}`.
pub(crate) fn parse_label_set(
    line: &str,
    open: usize,
    spacing: Spacing,
    scratch: &mut Scratch,
) -> Result<usize, LineError> {
    let b = line.as_bytes();
    let unterminated = || LineError::at(open, ErrorKind::UnterminatedLabelSet);
    let mut i = open + 1;
    let mut first = true;
    loop {
        i = spacing.none(b, i)?;
        match b.get(i) {
            None => return Err(unterminated()),
            // Strict: no trailing comma.
            Some(b'}') if first || spacing == Spacing::Lenient => return Ok(i + 1),
            _ => {}
        }
        first = false;

        let name_start = i;
        while i < b.len() && !matches!(b[i], b' ' | b'\t' | b'=' | b',' | b'}' | b'"') {
            i += 1;
        }
        let name = &line[name_start..i];
        if name.is_empty() {
            return Err(LineError::at(
                i,
                ErrorKind::ExpectedLabelName {
                    found: found(line, i),
                },
            ));
        }
        if !is_valid_label_name(name) {
            return Err(LineError::at(
                name_start,
                ErrorKind::InvalidLabelName { name: name.into() },
            ));
        }
        i = spacing.none(b, i)?;
        if b.get(i) != Some(&b'=') {
            return Err(LineError::at(
                i,
                ErrorKind::ExpectedEquals {
                    label: name.into(),
                    found: found(line, i),
                },
            ));
        }
        i = spacing.none(b, i + 1)?;
        if b.get(i) != Some(&b'"') {
            return Err(LineError::at(
                i,
                ErrorKind::ExpectedQuote {
                    label: name.into(),
                    found: found(line, i),
                },
            ));
        }

        let n0 = scratch.text.len();
        scratch.text.push_str(name);
        let n1 = scratch.text.len();
        i = read_quoted(line, i, name, &mut scratch.text)?;
        let v1 = scratch.text.len();
        scratch.labels.push(LabelSpan {
            name: (n0, n1),
            value: (n1, v1),
            at: name_start,
        });

        i = spacing.none(b, i)?;
        match b.get(i) {
            Some(b',') => i += 1,
            Some(b'}') => return Ok(i + 1),
            None => return Err(unterminated()),
            Some(_) => {
                return Err(LineError::at(
                    i,
                    ErrorKind::ExpectedCommaOrBrace {
                        label: name.into(),
                        found: found(line, i),
                    },
                ))
            }
        }
    }
}

/// Reads the quoted label value whose opening `"` is at byte `open`, appends it unescaped to `text`,
/// and returns the offset after the closing `"`.
fn read_quoted(line: &str, open: usize, name: &str, text: &mut String) -> Result<usize, LineError> {
    let b = line.as_bytes();
    let unterminated = || {
        LineError::at(
            open,
            ErrorKind::UnterminatedLabelValue { label: name.into() },
        )
    };
    let mut i = open + 1;
    let mut run = i;
    loop {
        match b.get(i) {
            None => return Err(unterminated()),
            Some(b'"') => {
                text.push_str(&line[run..i]);
                return Ok(i + 1);
            }
            Some(b'\\') => {
                text.push_str(&line[run..i]);
                match b.get(i + 1) {
                    Some(b'\\') => text.push('\\'),
                    Some(b'"') => text.push('"'),
                    Some(b'n') => text.push('\n'),
                    Some(_) => {
                        let escaped = line[i + 1..].chars().next().unwrap_or('?');
                        return Err(LineError::at(
                            i,
                            ErrorKind::InvalidEscape {
                                label: name.into(),
                                escaped,
                            },
                        ));
                    }
                    None => return Err(unterminated()),
                }
                i += 2;
                run = i;
            }
            Some(_) => i += 1,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn columns_count_characters_before_the_byte() {
        let e = LineError::at(10, ErrorKind::MissingValue).at_line("a{b=\"ü\"} x", 4);
        assert_eq!((e.line, e.column), (4, Some(10)));
        let e = LineError::line(ErrorKind::MissingValue).at_line("x", 1);
        assert_eq!(e.column, None);
    }

    #[test]
    fn label_sets() {
        let mut s = Scratch::default();
        let line = r#"{a="1", b = "x\"y" ,}rest"#;
        let end = parse_label_set(line, 0, Spacing::Lenient, &mut s).unwrap();
        assert_eq!(&line[end..], "rest");
        let pairs: Vec<_> = s.labels.iter().map(|l| (s.name(l), s.value(l))).collect();
        assert_eq!(pairs, [("a", "1"), ("b", "x\"y")]);
        assert!(s.duplicate().is_none());
    }

    #[test]
    fn duplicates_are_found_in_line_order() {
        for n in [3usize, 40] {
            let mut s = Scratch::default();
            for i in 0..n {
                s.push(&format!("l{i}"), "v", i);
            }
            s.push("l2", "v", 100);
            s.push("l1", "v", 101);
            assert_eq!(s.duplicate().map(|l| l.at), Some(100), "{n} labels");
        }
    }
}

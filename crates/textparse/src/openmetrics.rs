//! OpenMetrics text format 1.0.0.
//!
//! ```text
//! # TYPE http_requests counter
//! # HELP http_requests The total number of HTTP requests.
//! http_requests_total{method="post"} 1027 1700000000.123 # {trace_id="abc"} 1.0 1700000000.001
//! http_requests_created{method="post"} 1699990000
//! # EOF
//! ```
//!
//! The grammar is read as strictly as Prometheus 2.42 reads it (and `promtool tsdb create-blocks-from
//! openmetrics` with it), so that an input we take is one promtool takes:
//!
//! * Sample lines are those of the Prometheus text format (see [`crate::prom_text`]), but with exactly
//!   one space between the parts (name and label set, value, timestamp, exemplar) and no blank
//!   elsewhere: none at the start or the end of the line, none inside a label set (outside its quoted
//!   values), no tab; a label set has no trailing comma.
//! * The timestamp is in seconds, turned into milliseconds as Prometheus does it, truncating (see
//!   [`crate::value::parse_seconds`]).
//! * An exemplar (` # {labels} value [timestamp]`) may end the line of a sample whose metric name
//!   ends in `_total` or `_bucket` (Prometheus refuses it on other samples): it is checked and
//!   skipped.
//! * The only `#` lines are `# TYPE name type` (type one of counter, gauge, histogram,
//!   gaugehistogram, stateset, info, summary, unknown), `# HELP name text` (the text may be empty,
//!   not the space before it), `# UNIT name unit` (the unit, if any, a `_unit` suffix of the name)
//!   and `# EOF`. They are checked and otherwise ignored; there are no other comments and no blank
//!   lines.
//! * Counters' `_created` samples are kept as ordinary series, as promtool keeps them.
//! * The input must end with `# EOF`: a line after it (even a blank one) is an error, and so is an
//!   input without it (see [`crate::finish`]).

use tsdb_labels::is_valid_metric_name;

use crate::error::{ErrorKind, Part};
use crate::lexer::{
    found, is_blank, parse_label_set, series_and_value, skip_blanks, token_end, LineError, Scratch,
    Spacing,
};
use crate::value::{parse_seconds, parse_value};
use crate::{ParserState, Sample};

/// The metric types of OpenMetrics 1.0.
pub(crate) const TYPES: [&str; 8] = [
    "counter",
    "gauge",
    "histogram",
    "gaugehistogram",
    "stateset",
    "info",
    "summary",
    "unknown",
];

/// Parses one line of OpenMetrics text (without its line break).
pub(crate) fn parse(
    line: &str,
    line_no: usize,
    state: &mut ParserState,
    out: &mut Vec<Sample>,
) -> Result<(), LineError> {
    let b = line.as_bytes();
    if let Some(eof_line) = state.eof_line {
        return Err(LineError::at(0, ErrorKind::AfterEof { eof_line }));
    }
    match b.first() {
        None => return Err(LineError::at(0, ErrorKind::EmptyLine)),
        Some(&c) if is_blank(c) => return Err(LineError::at(0, ErrorKind::UnexpectedBlank)),
        Some(b'#') => return metadata(line, line_no, state),
        Some(_) => {}
    }
    let scratch = &mut state.scratch;
    let (value, mut i) = series_and_value(line, 0, STRICT, scratch)?;
    let mut timestamp_ms = None;
    if i < b.len() {
        i = STRICT.one(line, i)?;
        if b[i] != b'#' {
            let end = token_end(b, i);
            timestamp_ms = Some(parse_seconds(&line[i..end]).map_err(|e| LineError::at(i, e))?);
            i = end;
            if i < b.len() {
                i = STRICT.one(line, i)?;
                if b[i] != b'#' {
                    return Err(LineError::at(
                        i,
                        ErrorKind::TextAfter {
                            after: Part::Timestamp,
                            text: line[i..].into(),
                        },
                    ));
                }
            }
        }
        if i < b.len() {
            check_exemplar(line, i, scratch)?;
        }
    }
    scratch.push_sample(value, timestamp_ms, out)
}

/// OpenMetrics separates the parts of a line with exactly one space.
const STRICT: Spacing = Spacing::Strict;

/// Checks a `#` line, which must be `# EOF`, `# TYPE name type`, `# HELP name text` or
/// `# UNIT name unit`.
fn metadata(line: &str, line_no: usize, state: &mut ParserState) -> Result<(), LineError> {
    let b = line.as_bytes();
    if b.get(1) != Some(&b' ') {
        return Err(LineError::at(0, ErrorKind::InvalidComment));
    }
    let ks = 2;
    let ke = token_end(b, ks);
    let keyword = match &line[ks..ke] {
        "EOF" => {
            if ke < b.len() {
                let rest = skip_blanks(b, ke);
                if rest == b.len() {
                    return Err(LineError::at(ke, ErrorKind::UnexpectedBlank));
                }
                return Err(LineError::at(
                    rest,
                    ErrorKind::TextAfter {
                        after: Part::Eof,
                        text: line[rest..].into(),
                    },
                ));
            }
            state.eof_line = Some(line_no);
            return Ok(());
        }
        "TYPE" => "TYPE",
        "HELP" => "HELP",
        "UNIT" => "UNIT",
        _ => return Err(LineError::at(0, ErrorKind::InvalidComment)),
    };
    if skip_blanks(b, ke) == b.len() {
        return Err(LineError::at(
            b.len(),
            ErrorKind::MissingMetadataName { keyword },
        ));
    }
    let ns = STRICT.one(line, ke)?;
    let ne = token_end(b, ns);
    let name = &line[ns..ne];
    if !is_valid_metric_name(name) {
        return Err(LineError::at(
            ns,
            ErrorKind::InvalidMetadataName {
                keyword,
                name: name.into(),
            },
        ));
    }
    // The rest of the line after one space: the type, the help text or the unit.
    let text_at = match b.get(ne) {
        Some(b' ') => ne + 1,
        Some(_) => return Err(LineError::at(ne, ErrorKind::UnexpectedBlank)),
        None if keyword == "TYPE" => {
            return Err(LineError::at(
                ne,
                ErrorKind::MissingMetricType { name: name.into() },
            ))
        }
        None => {
            return Err(LineError::at(
                ne,
                ErrorKind::MissingMetadataText {
                    keyword,
                    name: name.into(),
                },
            ))
        }
    };
    let text = &line[text_at..];
    match keyword {
        "TYPE" => {
            if text.is_empty() {
                return Err(LineError::at(
                    text_at,
                    ErrorKind::MissingMetricType { name: name.into() },
                ));
            }
            let te = token_end(b, text_at);
            let typ = &line[text_at..te];
            if typ.is_empty() {
                return Err(LineError::at(text_at, ErrorKind::UnexpectedBlank));
            }
            if !TYPES.contains(&typ) {
                return Err(LineError::at(
                    text_at,
                    ErrorKind::UnknownMetricType { text: typ.into() },
                ));
            }
            if te < b.len() {
                let rest = skip_blanks(b, te);
                if rest == b.len() {
                    return Err(LineError::at(te, ErrorKind::UnexpectedBlank));
                }
                return Err(LineError::at(
                    rest,
                    ErrorKind::TextAfter {
                        after: Part::MetricType,
                        text: line[rest..].into(),
                    },
                ));
            }
        }
        "UNIT" => {
            let suffix_ok = name
                .strip_suffix(text)
                .is_some_and(|base| base.ends_with('_'));
            if !text.is_empty() && !suffix_ok {
                return Err(LineError::at(
                    text_at,
                    ErrorKind::UnitNotSuffix {
                        name: name.into(),
                        unit: text.into(),
                    },
                ));
            }
        }
        _ => {} // HELP: any text.
    }
    Ok(())
}

/// The suffixes of the metric names whose samples may have an exemplar (as in Prometheus 2.42).
const EXEMPLAR_SUFFIXES: [&str; 2] = ["_total", "_bucket"];

/// Checks the exemplar whose `#` is at byte `hash`: `# {labels} value [timestamp]` up to the end of
/// the line, on a sample whose metric name ends in `_total` or `_bucket`. Leaves `scratch` as it
/// found it.
fn check_exemplar(line: &str, hash: usize, scratch: &mut Scratch) -> Result<(), LineError> {
    let name = scratch.metric_name();
    if !EXEMPLAR_SUFFIXES.iter().any(|s| name.ends_with(s)) {
        return Err(LineError::at(
            hash,
            ErrorKind::Exemplar(Box::new(ErrorKind::ExemplarNotAllowed {
                name: name.into(),
            })),
        ));
    }
    let (labels, text) = (scratch.labels.len(), scratch.text.len());
    let result = exemplar(line, hash, scratch);
    scratch.labels.truncate(labels);
    scratch.text.truncate(text);
    result.map_err(|e| e.map_kind(|k| ErrorKind::Exemplar(Box::new(k))))
}

fn exemplar(line: &str, hash: usize, scratch: &mut Scratch) -> Result<(), LineError> {
    let b = line.as_bytes();
    if skip_blanks(b, hash + 1) == b.len() {
        return Err(LineError::at(
            b.len(),
            ErrorKind::ExpectedExemplarLabels {
                found: found(line, b.len()),
            },
        ));
    }
    let mut i = STRICT.one(line, hash + 1)?;
    if b.get(i) != Some(&b'{') {
        return Err(LineError::at(
            i,
            ErrorKind::ExpectedExemplarLabels {
                found: found(line, i),
            },
        ));
    }
    i = parse_label_set(line, i, STRICT, scratch)?;
    if skip_blanks(b, i) == b.len() {
        return Err(LineError::at(b.len(), ErrorKind::MissingValue));
    }
    i = STRICT.one(line, i)?;
    let end = token_end(b, i);
    parse_value(&line[i..end]).map_err(|e| LineError::at(i, e))?;
    i = end;
    if i < b.len() {
        i = STRICT.one(line, i)?;
        let end = token_end(b, i);
        parse_seconds(&line[i..end]).map_err(|e| LineError::at(i, e))?;
        i = end;
    }
    if i < b.len() {
        i = STRICT.one(line, i)?;
        return Err(LineError::at(
            i,
            ErrorKind::TextAfter {
                after: Part::Timestamp,
                text: line[i..].into(),
            },
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use crate::test_util::{labels, parse_all};
    use crate::{finish, parse_line, Format, ParserState, Sample};

    const OM: Format = Format::OpenMetrics;

    fn one(line: &str) -> Sample {
        let mut state = ParserState::new();
        let mut out = Vec::new();
        parse_line(OM, line.as_bytes(), 1, &mut state, &mut out)
            .unwrap_or_else(|e| panic!("{line:?}: {e}"));
        assert_eq!(out.len(), 1, "{line:?}");
        out.pop().unwrap()
    }

    fn err(line: &str) -> (Option<usize>, String) {
        let mut state = ParserState::new();
        let e = parse_line(OM, line.as_bytes(), 1, &mut state, &mut Vec::new()).expect_err(line);
        (e.column, e.kind.to_string())
    }

    #[test]
    fn timestamps_are_seconds() {
        let s = one("x 1 1700000000.123");
        assert_eq!(s.timestamp_ms, Some(1_700_000_000_123));
        // Truncated as Prometheus truncates.
        assert_eq!(
            one("x 1 1700000000.9999").timestamp_ms,
            Some(1_700_000_000_999)
        );
        assert_eq!(one("x 1 -0.0005").timestamp_ms, Some(0));
        let (col, reason) = err("x 1 17000000x");
        assert_eq!(col, Some(5));
        assert!(
            reason.contains("invalid timestamp \"17000000x\""),
            "{reason}"
        );
        let (_, reason) = err("x 1 1e30");
        assert!(reason.contains("out of range"), "{reason}");
        let (_, reason) = err("x 1 0x1p3");
        assert!(reason.contains("invalid timestamp"), "{reason}");
    }

    #[test]
    fn values_as_prometheus_reads_them() {
        assert_eq!(one("x 1e3 1").value, 1000.0);
        for v in ["0x1p3", "1_0", "0x10", "+nan"] {
            let (col, reason) = err(&format!("x {v} 1"));
            assert_eq!(col, Some(3), "{v}");
            assert_eq!(reason, format!("invalid value {v:?}"));
        }
    }

    #[test]
    fn exemplars_are_skipped() {
        for line in [
            r#"foo_total 17 1700000000 # {trace_id="KOO5S4vxi0o"} 0.67 1700000000.001"#,
            r#"foo_total 17 # {trace_id="x"} 1.0"#,
            r#"foo_total 17 1700000000 # {} 1"#,
            r#"foo_total 17 1700000000 # {a="b # {"} 1e3 1700000000"#,
        ] {
            let s = one(line);
            assert_eq!(s.labels, labels(&[("__name__", "foo_total")]), "{line}");
            assert_eq!(s.value, 17.0);
        }
        // The exemplar's labels stay out of the sample's.
        let s = one(r#"foo_bucket{le="0.5"} 1 # {le="x",trace_id="y"} 1"#);
        assert_eq!(
            s.labels,
            labels(&[("__name__", "foo_bucket"), ("le", "0.5")])
        );

        for (line, col, want) in [
            (
                "foo_bucket 1 # x",
                16,
                "invalid exemplar: expected '{' after '#', found 'x'",
            ),
            (
                "foo_bucket 1 #",
                15,
                "invalid exemplar: expected '{' after '#', found end of line",
            ),
            (
                "foo_bucket 1 # {a=\"b\"}",
                23,
                "invalid exemplar: missing value",
            ),
            (
                "foo_bucket 1 # {a=\"b} 1",
                19,
                "invalid exemplar: unterminated value of label \"a\"",
            ),
            (
                "foo_bucket 1 # {a=\"b\"} x",
                24,
                "invalid exemplar: invalid value \"x\"",
            ),
            (
                "foo_bucket 1 # {a=\"b\"} 1 x",
                26,
                "invalid exemplar: invalid timestamp \"x\"",
            ),
            (
                "foo_bucket 1 # {a=\"b\"} 1 2 3",
                28,
                "invalid exemplar: unexpected text after",
            ),
            (
                "foo 1 # {} 1",
                7,
                "invalid exemplar: metric name \"foo\" does not support exemplars",
            ),
            ("foo_created 1 # {} 1", 15, "does not support exemplars"),
            ("foo 1 2 3", 9, "unexpected text after the timestamp: \"3\""),
            // One space, exactly, between the parts of the exemplar.
            ("foo_total 1 #{} 1", 14, "expected ' ', found '{'"),
            (
                "foo_total 1 #  {} 1",
                15,
                "invalid exemplar: unexpected blank",
            ),
            (
                "foo_total 1 # {}  1",
                18,
                "invalid exemplar: unexpected blank",
            ),
            (
                "foo_total 1 # {} 1 ",
                19,
                "invalid exemplar: unexpected blank",
            ),
            (
                "foo_total 1 # { a=\"b\"} 1",
                16,
                "invalid exemplar: unexpected blank",
            ),
            ("foo_total 1  # {} 1", 13, "unexpected blank"),
        ] {
            let (got_col, reason) = err(line);
            assert!(reason.contains(want), "{line:?}: {reason:?} lacks {want:?}");
            assert_eq!(got_col, Some(col), "{line:?}: {reason}");
        }
    }

    #[test]
    fn metadata_lines() {
        let text = "# TYPE foo counter\n\
                    # HELP foo Help with \\\\ and \\n escapes.\n\
                    # UNIT foo_seconds seconds\n\
                    # HELP bar \n\
                    # UNIT bar \n\
                    foo_total 1 1700000000\n\
                    foo_created 1699990000 1700000000\n\
                    # EOF\n";
        let (samples, errors) = parse_all(OM, text);
        assert_eq!(errors, vec![]);
        assert_eq!(samples.len(), 2);
        // `_created` is an ordinary series.
        assert_eq!(samples[1].labels, labels(&[("__name__", "foo_created")]));
        assert_eq!(samples[1].value, 1_699_990_000.0);

        for (line, col, want) in [
            (
                "# TYPE foo counters",
                12,
                "unknown metric type \"counters\"",
            ),
            ("# TYPE foo untyped", 12, "unknown metric type \"untyped\""),
            ("# TYPE foo", 11, "missing metric type after \"# TYPE foo\""),
            ("# TYPE", 7, "missing metric name after \"# TYPE\""),
            (
                "# HELP 1foo x",
                8,
                "invalid metric name \"1foo\" in \"# HELP\" line",
            ),
            ("# UNIT a-b s", 8, "invalid metric name \"a-b\""),
            (
                "# TYPE foo gauge extra",
                18,
                "unexpected text after the metric type",
            ),
            ("# EOF x", 7, "unexpected text after \"# EOF\""),
            // As Prometheus reads OpenMetrics: only these four comments, one space between parts.
            ("# a free comment", 1, "invalid comment"),
            ("#another", 1, "invalid comment"),
            ("#", 1, "invalid comment"),
            ("# EOF ", 6, "unexpected blank"),
            ("#  TYPE foo gauge", 1, "invalid comment"),
            ("# TYPE  foo gauge", 8, "unexpected blank"),
            ("# TYPE foo  gauge", 12, "unexpected blank"),
            ("# TYPE foo gauge ", 17, "unexpected blank"),
            ("# TYPE foo\tgauge", 11, "unexpected blank"),
            ("# HELP bar", 11, "missing text after \"# HELP bar\""),
            ("# UNIT foo seconds", 12, "unit \"seconds\" is not a suffix"),
            ("# UNIT foo_xseconds seconds", 21, "is not a suffix"),
            ("  # TYPE foo gauge", 1, "unexpected blank"),
        ] {
            let (got_col, reason) = err(line);
            assert!(reason.contains(want), "{line:?}: {reason:?} lacks {want:?}");
            assert_eq!(got_col, Some(col), "{line:?}: {reason}");
        }
    }

    #[test]
    fn eof_is_required_and_ends_the_input() {
        let (samples, errors) = parse_all(OM, "a 1\nb 2\n");
        assert_eq!(samples.len(), 2);
        assert_eq!(errors.len(), 1);
        assert_eq!(errors[0].line, 3);
        assert_eq!(errors[0].column, None);
        assert!(errors[0]
            .kind
            .to_string()
            .contains("must end with \"# EOF\""));

        let (samples, errors) = parse_all(OM, "");
        assert_eq!(samples.len(), 0);
        assert_eq!(errors[0].line, 1);

        // Nothing may follow `# EOF`, not even a blank line (as in Prometheus).
        let (samples, errors) = parse_all(OM, "a 1\n# EOF\n\n  \nb 2\n# EOF\n");
        assert_eq!(samples.len(), 1);
        let lines: Vec<_> = errors.iter().map(|e| e.line).collect();
        assert_eq!(lines, [3, 4, 5, 6]);
        assert_eq!(errors[2].column, Some(1));
        assert!(errors[2]
            .to_string()
            .starts_with("line 5: unexpected text after \"# EOF\" (line 2)"));

        // `finish` is fine once `# EOF` was seen; the line break after it is no line.
        let mut state = ParserState::new();
        let mut out = Vec::new();
        parse_line(OM, b"a 1\n", 1, &mut state, &mut out).unwrap();
        parse_line(OM, b"# EOF\n", 2, &mut state, &mut out).unwrap();
        assert!(state.eof_seen());
        assert_eq!(finish(OM, &state), Ok(()));
        assert_eq!(out.len(), 1);

        // Before it, no blank line either.
        let (_, errors) = parse_all(OM, "a 1\n\nb 2\n# EOF\n");
        assert_eq!(errors.len(), 1);
        assert_eq!((errors[0].line, errors[0].column), (2, Some(1)));
        assert_eq!(
            errors[0].kind.to_string(),
            "empty line: OpenMetrics input has no blank lines"
        );
    }

    #[test]
    fn one_space_between_parts() {
        // Blanks in label values are text.
        let s = one("a{x=\"1 2\",y=\"\t\"} 1 1700000000");
        assert_eq!(s.labels.get("x"), Some("1 2"));
        assert_eq!(s.labels.get("y"), Some("\t"));
        assert_eq!(s.timestamp_ms, Some(1_700_000_000_000));
        for (line, col, want) in [
            (" a 1", 1, "unexpected blank"),
            ("\ta 1", 1, "unexpected blank"),
            ("a  1", 3, "unexpected blank"),
            ("a\t1", 2, "unexpected blank"),
            ("a 1 ", 4, "unexpected blank"),
            ("a 1  1700000000", 5, "unexpected blank"),
            ("a 1 1700000000 ", 15, "unexpected blank"),
            ("a 1\t1700000000", 4, "unexpected blank"),
            ("a {x=\"1\"} 1", 3, "invalid value \"{x=\\\"1\\\"}\""),
            ("a{x=\"1\"}1", 9, "expected ' ', found '1'"),
            ("a{ x=\"1\"} 1", 3, "unexpected blank"),
            ("a{x =\"1\"} 1", 4, "unexpected blank"),
            ("a{x= \"1\"} 1", 5, "unexpected blank"),
            ("a{x=\"1\" } 1", 8, "unexpected blank"),
            ("a{x=\"1\", y=\"2\"} 1", 9, "unexpected blank"),
            ("a{x=\"1\",} 1", 9, "expected a label name, found '}'"),
            ("a{x=\"1\"} ", 10, "missing value"),
        ] {
            let (got_col, reason) = err(line);
            assert!(reason.contains(want), "{line:?}: {reason:?} lacks {want:?}");
            assert_eq!(got_col, Some(col), "{line:?}: {reason}");
        }
    }

    #[test]
    fn samples_like_prometheus_text() {
        let s = one(r#"a_b:c{x="1\n\"\\",y="2"} +Inf"#);
        assert_eq!(
            s.labels,
            labels(&[("__name__", "a_b:c"), ("x", "1\n\"\\"), ("y", "2")])
        );
        assert_eq!(s.value, f64::INFINITY);
        assert!(one("a NaN 1").value.is_nan());
        let (col, reason) = err(r#"a{x="1",x="2"} 1"#);
        assert_eq!(col, Some(9));
        assert!(reason.contains("duplicate label \"x\""));
    }
}

//! The Prometheus text exposition format 0.0.4.
//!
//! ```text
//! # HELP http_requests_total The total number of HTTP requests.
//! # TYPE http_requests_total counter
//! http_requests_total{method="post",code="200"} 1027 1395066363000
//! msdos_file_access_time_seconds{path="C:\\DIR\\FILE.TXT",error="Cannot find file:\n\"FILE.TXT\""} 1.458255915e9
//! ```
//!
//! * A line is blank, a comment (`#` first: `# HELP`, `# TYPE` and any other comment are ignored), or
//!   a sample: a metric name (`[a-zA-Z_:][a-zA-Z0-9_:]*`, stored as `__name__`), an optional label set
//!   `{name="value",...}` (a trailing comma allowed; values escape `\\`, `\"` and `\n`), the value and
//!   an optional timestamp in integer milliseconds (may be negative). Blanks (spaces, tabs) may
//!   separate the parts and end the line.
//! * The value and the timestamp are read as Prometheus reads them: see [`crate::value`].
//! * Prometheus has two readers of this format, which differ at the edges: its scrape parser allows
//!   blanks at the end of a line and refuses a signed timestamp, `promtool check metrics` the other
//!   way round. We allow both, as the format's documentation does.
//! * A label with an empty value is the same as no label and is dropped; a label name given twice
//!   (`__name__` included) is an error.

use crate::error::{ErrorKind, Part};
use crate::lexer::{series_and_value, skip_blanks, token_end, LineError, Spacing};
use crate::value::parse_milliseconds;
use crate::{ParserState, Sample};

/// Parses one line of the Prometheus text format (without its line break).
pub(crate) fn parse(
    line: &str,
    state: &mut ParserState,
    out: &mut Vec<Sample>,
) -> Result<(), LineError> {
    let b = line.as_bytes();
    let i = skip_blanks(b, 0);
    if i == b.len() || b[i] == b'#' {
        return Ok(());
    }
    let scratch = &mut state.scratch;
    let (value, mut i) = series_and_value(line, i, Spacing::Lenient, scratch)?;
    let mut timestamp_ms = None;
    if i < b.len() {
        let end = token_end(b, i);
        timestamp_ms = Some(parse_milliseconds(&line[i..end]).map_err(|e| LineError::at(i, e))?);
        i = skip_blanks(b, end);
    }
    if i < b.len() {
        let after = if timestamp_ms.is_some() {
            Part::Timestamp
        } else {
            Part::Value
        };
        return Err(LineError::at(
            i,
            ErrorKind::TextAfter {
                after,
                text: line[i..].into(),
            },
        ));
    }
    scratch.push_sample(value, timestamp_ms, out)
}

#[cfg(test)]
mod tests {
    use crate::test_util::{labels, parse_all, parse_one};
    use crate::{Format, Sample};

    fn one(line: &str) -> Sample {
        let mut v = parse_one(Format::PromText, line).unwrap_or_else(|e| panic!("{line:?}: {e}"));
        assert_eq!(v.len(), 1, "{line:?}");
        v.pop().unwrap()
    }

    fn err(line: &str) -> (Option<usize>, String) {
        let e = parse_one(Format::PromText, line).expect_err(line);
        assert_eq!(e.line, 1);
        (e.column, e.kind.to_string())
    }

    #[test]
    fn plain_samples() {
        let s = one("up 1");
        assert_eq!(s.labels, labels(&[("__name__", "up")]));
        assert_eq!(s.value, 1.0);
        assert_eq!(s.timestamp_ms, None);

        let s = one(r#"http_requests_total{method="post",code="200"} 1027 1395066363000"#);
        assert_eq!(
            s.labels,
            labels(&[
                ("__name__", "http_requests_total"),
                ("method", "post"),
                ("code", "200")
            ])
        );
        assert_eq!(s.value, 1027.0);
        assert_eq!(s.timestamp_ms, Some(1_395_066_363_000));

        // Colons in names, trailing comma, blanks everywhere, trailing whitespace, CRLF.
        let s = one("  job:rate5m { a = \"1\" , b=\"2\", } \t -1.5e-3 \t -42 \t\r\n");
        assert_eq!(
            s.labels,
            labels(&[("__name__", "job:rate5m"), ("a", "1"), ("b", "2")])
        );
        assert_eq!(s.value, -1.5e-3);
        assert_eq!(s.timestamp_ms, Some(-42));

        // Empty label set, no blank before the value, empty value dropped.
        let s = one(r#"x{}1"#);
        assert_eq!(s.labels, labels(&[("__name__", "x")]));
        let s = one(r#"x{a=""} 1"#);
        assert_eq!(s.labels, labels(&[("__name__", "x")]));
        // Label values keep any text, `#`, braces and commas included.
        let s = one(r#"x{a="} # {,=ü 🦀"} 1"#);
        assert_eq!(s.labels.get("a"), Some("} # {,=ü 🦀"));
    }

    #[test]
    fn escapes_in_label_values() {
        let s = one(
            r#"msdos_file_access_time_seconds{path="C:\\DIR\\FILE.TXT",error="Cannot find file:\n\"FILE.TXT\""} 1.458255915e9"#,
        );
        assert_eq!(s.labels.get("path"), Some(r"C:\DIR\FILE.TXT"));
        assert_eq!(
            s.labels.get("error"),
            Some("Cannot find file:\n\"FILE.TXT\"")
        );
        assert_eq!(s.value, 1.458255915e9);
        let s = one(r#"x{a="\\\\",b="\"",c="\\n"} 1"#);
        assert_eq!(s.labels.get("a"), Some(r"\\"));
        assert_eq!(s.labels.get("b"), Some("\""));
        assert_eq!(s.labels.get("c"), Some(r"\n"));
    }

    #[test]
    fn special_values() {
        for (text, want) in [
            ("NaN", f64::NAN),
            ("nan", f64::NAN),
            ("+Inf", f64::INFINITY),
            ("-Inf", f64::NEG_INFINITY),
            ("Inf", f64::INFINITY),
            ("inf", f64::INFINITY),
            ("-infinity", f64::NEG_INFINITY),
            ("+INFINITY", f64::INFINITY),
            ("-0", -0.0),
            ("0", 0.0),
        ] {
            let v = one(&format!("x {text} 5")).value;
            if want.is_nan() {
                assert!(v.is_nan(), "{text}");
            } else {
                assert_eq!(v.to_bits(), want.to_bits(), "{text}");
            }
        }
    }

    #[test]
    fn timestamps_are_integer_milliseconds() {
        assert_eq!(one("x 1 0").timestamp_ms, Some(0));
        assert_eq!(one("x 1 -1").timestamp_ms, Some(-1));
        assert_eq!(one("x 1 +7").timestamp_ms, Some(7));
        assert_eq!(one("x 1 9223372036854775807").timestamp_ms, Some(i64::MAX));
        assert_eq!(one("x 1 -9223372036854775808").timestamp_ms, Some(i64::MIN));
        let (col, reason) = err("x 1 1.5");
        assert_eq!(col, Some(5));
        assert!(reason.contains("invalid timestamp \"1.5\""), "{reason}");
        assert!(reason.contains("integer milliseconds"), "{reason}");
        let (_, reason) = err("x 1 9223372036854775808");
        assert!(reason.contains("out of range"), "{reason}");
        let (_, reason) = err("x 1 1e3");
        assert!(reason.contains("invalid timestamp"), "{reason}");
    }

    #[test]
    fn comments_and_blank_lines_are_ignored() {
        for line in [
            "",
            "   ",
            "\t",
            "# HELP x Some help with \\ and \"quotes\"",
            "# TYPE x counter",
            "#no space",
            "  # indented comment",
            "# TYPE x whatever-not-checked",
        ] {
            assert_eq!(
                parse_one(Format::PromText, line).unwrap(),
                vec![],
                "{line:?}"
            );
        }
    }

    #[test]
    fn bad_lines() {
        let cases: &[(&str, usize, &str)] = &[
            ("0abc 1", 1, "invalid metric name \"0abc\""),
            ("foo-bar 1", 1, "invalid metric name \"foo-bar\""),
            ("{a=\"b\"} 1", 1, "missing metric name"),
            ("x{a=\"b} 1", 5, "unterminated value of label \"a\""),
            ("x{a=\"b\\\"} 1", 5, "unterminated value of label \"a\""),
            ("x{a=\"b\\t\"} 1", 7, "invalid escape sequence \"\\t\""),
            ("x{a=\"b\\\\\",a=\"c\"} 1", 11, "duplicate label \"a\""),
            ("x{__name__=\"y\"} 1", 3, "duplicate label \"__name__\""),
            ("x{a=\"1\",a=\"\"} 1", 9, "duplicate label \"a\""),
            ("x", 2, "missing value"),
            ("x{a=\"1\"}", 9, "missing value"),
            ("x{a=\"1\"}   ", 12, "missing value"),
            ("x abc", 3, "invalid value \"abc\""),
            ("x 1e999", 3, "out of the range"),
            ("x 1 2 3", 7, "unexpected text after the timestamp: \"3\""),
            ("x 1 2 # c", 7, "unexpected text after the timestamp"),
            ("x 1 abc", 5, "invalid timestamp \"abc\""),
            ("x{0a=\"1\"} 1", 3, "invalid label name \"0a\""),
            ("x{a-b=\"1\"} 1", 3, "invalid label name \"a-b\""),
            (
                "x{a} 1",
                4,
                "expected '=' after label name \"a\", found '}'",
            ),
            (
                "x{a=1} 1",
                5,
                "expected '\"' to open the value of label \"a\", found '1'",
            ),
            (
                "x{a=\"1\" b=\"2\"} 1",
                9,
                "expected ',' or '}' after the value of label \"a\"",
            ),
            ("x{,} 1", 3, "expected a label name, found ','"),
            ("x{a=\"1\"", 2, "unterminated label set"),
            ("x{a=\"1\",", 2, "unterminated label set"),
            ("ü{a=\"1\"} x", 1, "invalid metric name"),
            ("x{a=\"ü\"} x", 10, "invalid value \"x\""),
        ];
        for &(line, col, want) in cases {
            let (got_col, reason) = err(line);
            assert!(reason.contains(want), "{line:?}: {reason:?} lacks {want:?}");
            assert_eq!(got_col, Some(col), "{line:?}: {reason}");
        }
    }

    #[test]
    fn a_bad_line_does_not_stop_the_input() {
        let text = "# TYPE a gauge\n\
                    a 1\n\
                    a{x=\"1} 2\n\
                    b 2 1000\n\
                    \n\
                    c 3 nope\n\
                    d{e=\"f\"} NaN\n";
        let (samples, errors) = parse_all(Format::PromText, text);
        let names: Vec<_> = samples
            .iter()
            .map(|s| s.labels.metric_name().unwrap().to_string())
            .collect();
        assert_eq!(names, ["a", "b", "d"]);
        assert_eq!(errors.len(), 2);
        assert_eq!(errors[0].line, 3);
        assert!(errors[0]
            .to_string()
            .starts_with("line 3: unterminated value"));
        assert_eq!(errors[1].line, 6);
        assert_eq!(errors[1].column, Some(5));
        assert!(errors[1]
            .kind
            .to_string()
            .contains("invalid timestamp \"nope\""));
    }
}

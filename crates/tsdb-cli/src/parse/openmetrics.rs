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
//! Sample lines are those of the Prometheus text format (see [`super::prom_text`]) with two differences:
//!
//! * the timestamp is in seconds, a decimal number (`1700000000`, `1700000000.123`, `1.7e9`), turned
//!   into milliseconds exactly from its digits and rounded to the nearest millisecond (halves away
//!   from zero). Prometheus computes `int64(seconds * 1000)` with floats, which truncates; the two
//!   agree for timestamps with at most three decimals;
//! * an exemplar (` # {labels} value [timestamp]`) may end the line: it is checked and skipped.
//!
//! `# TYPE name type` (type one of counter, gauge, histogram, gaugehistogram, stateset, info,
//! summary, unknown), `# HELP name text` and `# UNIT name unit` lines are checked and otherwise
//! ignored, as are other `#` comments and blank lines. Counters' `_created` samples are kept as
//! ordinary series, as promtool keeps them. The input must end with `# EOF`: a line after it (other
//! than a blank one) is an error, and so is an input without it (see [`super::finish`]).

use tsdb_labels::is_valid_metric_name;

use super::prom_text::{is_integer, parse_label_set, parse_sample, parse_value, Flavor};
use super::{describe, is_blank, skip_blanks, token_end, LineError, ParserState, Sample, Scratch};

/// The metric types of OpenMetrics 1.0.
const TYPES: [&str; 8] = [
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
pub(super) fn parse(
    line: &str,
    line_no: usize,
    state: &mut ParserState,
    out: &mut Vec<Sample>,
) -> Result<(), LineError> {
    let b = line.as_bytes();
    let i = skip_blanks(b, 0);
    if let Some(eof) = state.eof_line {
        if i == b.len() {
            return Ok(());
        }
        return Err(LineError::at(
            i,
            format!("unexpected text after \"# EOF\" (line {eof}): the input must end there"),
        ));
    }
    if i == b.len() {
        return Ok(());
    }
    if b[i] == b'#' {
        return metadata(line, i, line_no, state);
    }
    parse_sample(line, i, Flavor::OpenMetrics, &mut state.scratch, out)
}

/// Checks a `#` line: `# EOF`, `# TYPE`, `# HELP`, `# UNIT`; other comments are ignored.
fn metadata(
    line: &str,
    hash: usize,
    line_no: usize,
    state: &mut ParserState,
) -> Result<(), LineError> {
    let b = line.as_bytes();
    if b.get(hash + 1).is_some_and(|&c| !is_blank(c)) {
        return Ok(()); // `#comment`
    }
    let ks = skip_blanks(b, hash + 1);
    let ke = token_end(b, ks);
    let keyword = &line[ks..ke];
    match keyword {
        "EOF" => {
            let rest = skip_blanks(b, ke);
            if rest < b.len() {
                return Err(LineError::at(
                    rest,
                    format!("unexpected text after \"# EOF\": {:?}", &line[rest..]),
                ));
            }
            state.eof_line = Some(line_no);
            Ok(())
        }
        "TYPE" | "HELP" | "UNIT" => {
            let ns = skip_blanks(b, ke);
            let ne = token_end(b, ns);
            let name = &line[ns..ne];
            if name.is_empty() {
                return Err(LineError::at(
                    ns,
                    format!("missing metric name after \"# {keyword}\""),
                ));
            }
            if !is_valid_metric_name(name) {
                return Err(LineError::at(
                    ns,
                    format!("invalid metric name {name:?} in \"# {keyword}\" line"),
                ));
            }
            if keyword == "TYPE" {
                let ts = skip_blanks(b, ne);
                let te = token_end(b, ts);
                let typ = &line[ts..te];
                if typ.is_empty() {
                    return Err(LineError::at(
                        ts,
                        format!("missing metric type after \"# TYPE {name}\""),
                    ));
                }
                if !TYPES.contains(&typ) {
                    return Err(LineError::at(
                        ts,
                        format!(
                            "unknown metric type {typ:?} (expected one of {})",
                            TYPES.join(", ")
                        ),
                    ));
                }
                let rest = skip_blanks(b, te);
                if rest < b.len() {
                    return Err(LineError::at(
                        rest,
                        format!("unexpected text after the metric type: {:?}", &line[rest..]),
                    ));
                }
            }
            Ok(())
        }
        _ => Ok(()),
    }
}

/// Parses an OpenMetrics timestamp (seconds) into milliseconds.
pub(super) fn parse_timestamp(tok: &str) -> Result<i64, String> {
    seconds_to_ms(tok).map_err(|e| match e {
        TsError::Syntax => format!(
            "invalid timestamp {tok:?}: expected seconds since the epoch, like 1700000000.123"
        ),
        TsError::Range => format!("timestamp {tok:?} is out of range (64-bit milliseconds)"),
    })
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum TsError {
    Syntax,
    Range,
}

/// Converts a decimal number of seconds (`[+-]digits[.digits][e[+-]digits]`, digits on at least one
/// side of the point) to milliseconds from its digits, rounding to nearest with halves away from zero.
fn seconds_to_ms(s: &str) -> Result<i64, TsError> {
    let b = s.as_bytes();
    let (neg, mut i) = match b.first() {
        Some(b'-') => (true, 1),
        Some(b'+') => (false, 1),
        _ => (false, 0),
    };
    let int_start = i;
    while i < b.len() && b[i].is_ascii_digit() {
        i += 1;
    }
    let int = &b[int_start..i];
    let mut frac: &[u8] = &[];
    if b.get(i) == Some(&b'.') {
        i += 1;
        let fs = i;
        while i < b.len() && b[i].is_ascii_digit() {
            i += 1;
        }
        frac = &b[fs..i];
    }
    if int.is_empty() && frac.is_empty() {
        return Err(TsError::Syntax);
    }
    let mut exp: i64 = 0;
    if i < b.len() && (b[i] == b'e' || b[i] == b'E') {
        let digits = &s[i + 1..];
        if !is_integer(digits) {
            return Err(TsError::Syntax);
        }
        let (eneg, digits) = match digits.as_bytes()[0] {
            b'-' => (true, &digits.as_bytes()[1..]),
            b'+' => (false, &digits.as_bytes()[1..]),
            _ => (false, digits.as_bytes()),
        };
        for &c in digits {
            exp = (exp * 10 + i64::from(c - b'0')).min(1 << 40);
        }
        if eneg {
            exp = -exp;
        }
        i = b.len();
    }
    if i != b.len() {
        return Err(TsError::Syntax);
    }

    // seconds = D * 10^(exp - frac.len()), with D the digits of `int` then `frac`; ms = D * 10^k.
    let n = int.len() + frac.len();
    let digit = |j: usize| -> u128 {
        let c = if j < int.len() {
            int[j]
        } else {
            frac[j - int.len()]
        };
        u128::from(c - b'0')
    };
    let Some(first) = (0..n).find(|&j| digit(j) != 0) else {
        return Ok(0);
    };
    let significant = (n - first) as i64;
    let k = exp - frac.len() as i64 + 3;
    // Number of digits of the integer part of the result.
    let int_count = significant + k;
    if int_count > 19 {
        return Err(TsError::Range);
    }
    let keep = if k >= 0 {
        significant
    } else {
        int_count.max(0)
    } as usize;
    let mut mag: u128 = 0;
    for j in first..first + keep {
        mag = mag * 10 + digit(j);
    }
    if k > 0 {
        mag *= 10u128.pow(k as u32); // k <= 18 as int_count <= 19
    } else if k < 0 && int_count >= 0 && digit(first + keep) >= 5 {
        // The first dropped digit decides (it exists: keep < significant when k < 0).
        mag += 1;
    }
    if neg {
        if mag > 1u128 << 63 {
            return Err(TsError::Range);
        }
        Ok((-(mag as i128)) as i64)
    } else {
        i64::try_from(mag).map_err(|_| TsError::Range)
    }
}

/// Checks the exemplar whose `#` is at byte `hash`: `# {labels} value [timestamp]` up to the end of
/// the line. Leaves `scratch` as it found it.
pub(super) fn check_exemplar(
    line: &str,
    hash: usize,
    scratch: &mut Scratch,
) -> Result<(), LineError> {
    let (labels, text) = (scratch.labels.len(), scratch.text.len());
    let result = exemplar(line, hash, scratch);
    scratch.labels.truncate(labels);
    scratch.text.truncate(text);
    result.map_err(|e| LineError {
        pos: e.pos,
        reason: format!("invalid exemplar: {}", e.reason),
    })
}

fn exemplar(line: &str, hash: usize, scratch: &mut Scratch) -> Result<(), LineError> {
    let b = line.as_bytes();
    let mut i = skip_blanks(b, hash + 1);
    if b.get(i) != Some(&b'{') {
        return Err(LineError::at(
            i,
            format!("expected '{{' after '#', found {}", describe(line, i)),
        ));
    }
    i = skip_blanks(b, parse_label_set(line, i, scratch)?);
    if i == b.len() {
        return Err(LineError::at(i, "missing value"));
    }
    let end = token_end(b, i);
    parse_value(line, i, end)?;
    i = skip_blanks(b, end);
    if i < b.len() {
        let end = token_end(b, i);
        parse_timestamp(&line[i..end]).map_err(|r| LineError::at(i, r))?;
        i = skip_blanks(b, end);
    }
    if i < b.len() {
        return Err(LineError::at(
            i,
            format!("unexpected text after the timestamp: {:?}", &line[i..]),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::super::{finish, labels, parse_all, parse_line, Format, ParserState};
    use super::*;

    const OM: Format = Format::OpenMetrics;

    fn one(line: &str) -> Sample {
        let mut state = ParserState::new();
        let mut out = Vec::new();
        parse_line(OM, line, 1, &mut state, &mut out).unwrap_or_else(|e| panic!("{line:?}: {e}"));
        assert_eq!(out.len(), 1, "{line:?}");
        out.pop().unwrap()
    }

    fn err(line: &str) -> (Option<usize>, String) {
        let mut state = ParserState::new();
        let e = parse_line(OM, line, 1, &mut state, &mut Vec::new()).expect_err(line);
        (e.column, e.reason)
    }

    #[test]
    fn timestamps_are_seconds() {
        let ms = |s: &str| seconds_to_ms(s);
        assert_eq!(ms("1700000000"), Ok(1_700_000_000_000));
        assert_eq!(ms("1700000000.123"), Ok(1_700_000_000_123));
        assert_eq!(ms("1700000000.1"), Ok(1_700_000_000_100));
        assert_eq!(ms("1700000000.1234"), Ok(1_700_000_000_123));
        assert_eq!(ms("1700000000.1235"), Ok(1_700_000_000_124));
        assert_eq!(ms("1700000000.12349999999999"), Ok(1_700_000_000_123));
        assert_eq!(ms("1699999230.970"), Ok(1_699_999_230_970));
        assert_eq!(ms("1.7e9"), Ok(1_700_000_000_000));
        assert_eq!(ms("17E8"), Ok(1_700_000_000_000));
        assert_eq!(ms("1.7000000001234e+9"), Ok(1_700_000_000_123));
        assert_eq!(ms("170000000012345e-5"), Ok(1_700_000_000_123));
        assert_eq!(ms(".5"), Ok(500));
        assert_eq!(ms("5."), Ok(5000));
        assert_eq!(ms("+5"), Ok(5000));
        assert_eq!(ms("0"), Ok(0));
        assert_eq!(ms("-0.0"), Ok(0));
        assert_eq!(ms("000.000"), Ok(0));
        assert_eq!(ms("0.0005"), Ok(1));
        assert_eq!(ms("0.00049"), Ok(0));
        assert_eq!(ms("-0.0005"), Ok(-1));
        assert_eq!(ms("-1.5"), Ok(-1500));
        assert_eq!(ms("-0.0015"), Ok(-2));
        assert_eq!(ms("1e-20"), Ok(0));
        assert_eq!(ms("1e-99999999999999999999"), Ok(0));
        assert_eq!(ms("9223372036854775.807"), Ok(i64::MAX));
        assert_eq!(ms("-9223372036854775.808"), Ok(i64::MIN));
        assert_eq!(ms("9223372036854775.808"), Err(TsError::Range));
        assert_eq!(ms("9223372036854775.8074"), Ok(i64::MAX));
        assert_eq!(ms("9223372036854775.8075"), Err(TsError::Range));
        assert_eq!(ms("1e17"), Err(TsError::Range));
        assert_eq!(ms("1e99999999999999999999"), Err(TsError::Range));
        for bad in [
            "", "+", "-", ".", "e5", "1e", "1e+", "1.2.3", "NaN", "+Inf", "1,5", "0x10", "1_0",
            "1 ",
        ] {
            assert_eq!(ms(bad), Err(TsError::Syntax), "{bad:?}");
        }

        let s = one("x 1 1700000000.123");
        assert_eq!(s.timestamp_ms, Some(1_700_000_000_123));
        let (col, reason) = err("x 1 17000000x");
        assert_eq!(col, Some(5));
        assert!(
            reason.contains("invalid timestamp \"17000000x\""),
            "{reason}"
        );
        let (_, reason) = err("x 1 1e30");
        assert!(reason.contains("out of range"), "{reason}");
    }

    #[test]
    fn exemplars_are_skipped() {
        for line in [
            r#"foo_total 17 1700000000 # {trace_id="KOO5S4vxi0o"} 0.67 1700000000.001"#,
            r#"foo_total 17 # {trace_id="x"} 1.0"#,
            r#"foo_total 17 1700000000 # {} 1"#,
            r#"foo_total 17 1700000000 #{a="b # {"}   1e3   1700000000   "#,
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
                "foo 1 # x",
                9,
                "invalid exemplar: expected '{' after '#', found 'x'",
            ),
            (
                "foo 1 #",
                8,
                "invalid exemplar: expected '{' after '#', found end of line",
            ),
            ("foo 1 # {a=\"b\"}", 16, "invalid exemplar: missing value"),
            (
                "foo 1 # {a=\"b} 1",
                12,
                "invalid exemplar: unterminated value of label \"a\"",
            ),
            (
                "foo 1 # {a=\"b\"} x",
                17,
                "invalid exemplar: invalid value \"x\"",
            ),
            (
                "foo 1 # {a=\"b\"} 1 x",
                19,
                "invalid exemplar: invalid timestamp \"x\"",
            ),
            (
                "foo 1 # {a=\"b\"} 1 2 3",
                21,
                "invalid exemplar: unexpected text after",
            ),
            ("foo 1 2 3", 9, "unexpected text after the timestamp: \"3\""),
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
                    # UNIT foo seconds\n\
                    # HELP bar\n\
                    # a free comment\n\
                    #another\n\
                    foo_total 1 1700000000\n\
                    foo_created 1699990000 1700000000\n\
                    \n\
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
        assert!(errors[0].reason.contains("must end with \"# EOF\""));

        let (samples, errors) = parse_all(OM, "");
        assert_eq!(samples.len(), 0);
        assert_eq!(errors[0].line, 1);

        let (samples, errors) = parse_all(OM, "a 1\n# EOF\n\n  \nb 2\n# EOF\n");
        assert_eq!(samples.len(), 1);
        let lines: Vec<_> = errors.iter().map(|e| e.line).collect();
        assert_eq!(lines, [5, 6]);
        assert!(errors[0]
            .to_string()
            .starts_with("line 5: unexpected text after \"# EOF\" (line 2)"));

        // `finish` is fine once `# EOF` was seen, even with blank lines after it.
        let mut state = ParserState::new();
        let mut out = Vec::new();
        parse_line(OM, "# EOF", 1, &mut state, &mut out).unwrap();
        parse_line(OM, "", 2, &mut state, &mut out).unwrap();
        assert!(state.eof_seen());
        assert_eq!(finish(OM, &state), Ok(()));
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

//! The Prometheus text exposition format 0.0.4, and the sample-line syntax it shares with OpenMetrics.
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
//! * The value is read as Go's `strconv.ParseFloat` reads it: decimal (`1`, `-1.5e-3`, `.5`), `NaN`,
//!   `Inf`, `+Inf`, `-Inf`, `Infinity` (any case), hexadecimal (`0x1.8p3`), `_` between digits. A
//!   value too large for a 64-bit float is an error (Go's `ErrRange`). Prometheus's own parser is
//!   stricter: it rejects `_` and hexadecimal values.
//! * A label with an empty value is the same as no label and is dropped; a label name given twice
//!   (`__name__` included) is an error.

use tsdb_labels::{is_valid_label_name, is_valid_metric_name, METRIC_NAME};

use super::{describe, is_blank, skip_blanks, token_end, LineError, ParserState, Sample, Scratch};

/// Parses one line of the Prometheus text format (without its line break).
pub(super) fn parse(
    line: &str,
    state: &mut ParserState,
    out: &mut Vec<Sample>,
) -> Result<(), LineError> {
    let b = line.as_bytes();
    let i = skip_blanks(b, 0);
    if i == b.len() || b[i] == b'#' {
        return Ok(());
    }
    parse_sample(line, i, Flavor::Prom, &mut state.scratch, out)
}

/// The dialect of a sample line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Flavor {
    /// Prometheus text: integer milliseconds, nothing after the timestamp.
    Prom,
    /// OpenMetrics: timestamps in seconds, an exemplar (` # {labels} value [timestamp]`) may follow.
    OpenMetrics,
}

/// Parses the sample line `line` whose metric name starts at byte `start`, and pushes its sample.
pub(super) fn parse_sample(
    line: &str,
    start: usize,
    flavor: Flavor,
    scratch: &mut Scratch,
    out: &mut Vec<Sample>,
) -> Result<(), LineError> {
    let b = line.as_bytes();
    scratch.clear();

    // Metric name: up to a blank or `{`.
    let mut i = start;
    while i < b.len() && !is_blank(b[i]) && b[i] != b'{' {
        i += 1;
    }
    let name = &line[start..i];
    if name.is_empty() {
        return Err(LineError::at(start, "missing metric name before '{'"));
    }
    if !is_valid_metric_name(name) {
        return Err(LineError::at(
            start,
            format!(
                "invalid metric name {name:?}: a metric name must match [a-zA-Z_:][a-zA-Z0-9_:]*"
            ),
        ));
    }
    scratch.push(METRIC_NAME, name, start);

    i = skip_blanks(b, i);
    if b.get(i) == Some(&b'{') {
        i = parse_label_set(line, i, scratch)?;
        i = skip_blanks(b, i);
    }

    // Value.
    if i == b.len() {
        return Err(LineError::at(i, "missing value"));
    }
    let end = token_end(b, i);
    let value = parse_value(line, i, end)?;
    i = skip_blanks(b, end);

    // Timestamp, exemplar.
    let mut timestamp_ms = None;
    if i < b.len() && !(flavor == Flavor::OpenMetrics && b[i] == b'#') {
        let end = token_end(b, i);
        let tok = &line[i..end];
        timestamp_ms = Some(match flavor {
            Flavor::Prom => parse_ms_timestamp(tok).map_err(|r| LineError::at(i, r))?,
            Flavor::OpenMetrics => {
                super::openmetrics::parse_timestamp(tok).map_err(|r| LineError::at(i, r))?
            }
        });
        i = skip_blanks(b, end);
    }
    if i < b.len() {
        if flavor == Flavor::OpenMetrics && b[i] == b'#' {
            super::openmetrics::check_exemplar(line, i, scratch)?;
        } else {
            let what = if timestamp_ms.is_some() {
                "timestamp"
            } else {
                "value"
            };
            return Err(LineError::at(
                i,
                format!("unexpected text after the {what}: {:?}", &line[i..]),
            ));
        }
    }

    scratch.check_duplicates()?;
    out.push(Sample {
        labels: scratch.labels()?,
        value,
        timestamp_ms,
    });
    Ok(())
}

/// Parses the value token `line[start..end]`.
pub(super) fn parse_value(line: &str, start: usize, end: usize) -> Result<f64, LineError> {
    let tok = &line[start..end];
    parse_go_float(tok).map_err(|e| match e {
        FloatError::Syntax => LineError::at(start, format!("invalid value {tok:?}")),
        FloatError::Range => LineError::at(
            start,
            format!("value {tok:?} is out of the range of a 64-bit float"),
        ),
    })
}

/// Parses a Prometheus text timestamp: integer milliseconds.
fn parse_ms_timestamp(tok: &str) -> Result<i64, String> {
    match tok.parse::<i64>() {
        Ok(ms) => Ok(ms),
        Err(_) if is_integer(tok) => Err(format!(
            "timestamp {tok:?} is out of range (64-bit milliseconds)"
        )),
        Err(_) => Err(format!(
            "invalid timestamp {tok:?}: expected integer milliseconds"
        )),
    }
}

/// Whether `s` is an optionally signed run of decimal digits.
pub(super) fn is_integer(s: &str) -> bool {
    let digits = s.strip_prefix(['+', '-']).unwrap_or(s);
    !digits.is_empty() && digits.bytes().all(|c| c.is_ascii_digit())
}

/// Parses the label set that opens at byte `open` (a `{`) into `scratch`, and returns the offset after
/// its closing `}`.
pub(super) fn parse_label_set(
    line: &str,
    open: usize,
    scratch: &mut Scratch,
) -> Result<usize, LineError> {
    let b = line.as_bytes();
    let unterminated = || LineError::at(open, "unterminated label set: missing '}'");
    let mut i = open + 1;
    loop {
        i = skip_blanks(b, i);
        match b.get(i) {
            None => return Err(unterminated()),
            Some(b'}') => return Ok(i + 1),
            _ => {}
        }

        let name_start = i;
        while i < b.len() && !matches!(b[i], b' ' | b'\t' | b'=' | b',' | b'}' | b'"') {
            i += 1;
        }
        let name = &line[name_start..i];
        if name.is_empty() {
            return Err(LineError::at(
                i,
                format!("expected a label name, found {}", describe(line, i)),
            ));
        }
        if !is_valid_label_name(name) {
            return Err(LineError::at(
                name_start,
                format!(
                    "invalid label name {name:?}: a label name must match [a-zA-Z_][a-zA-Z0-9_]*"
                ),
            ));
        }
        i = skip_blanks(b, i);
        if b.get(i) != Some(&b'=') {
            return Err(LineError::at(
                i,
                format!(
                    "expected '=' after label name {name:?}, found {}",
                    describe(line, i)
                ),
            ));
        }
        i = skip_blanks(b, i + 1);
        if b.get(i) != Some(&b'"') {
            return Err(LineError::at(
                i,
                format!(
                    "expected '\"' to open the value of label {name:?}, found {}",
                    describe(line, i)
                ),
            ));
        }

        let n0 = scratch.text.len();
        scratch.text.push_str(name);
        let n1 = scratch.text.len();
        i = read_quoted(line, i, name, &mut scratch.text)?;
        let v1 = scratch.text.len();
        scratch.labels.push(super::LabelSpan {
            name: (n0, n1),
            value: (n1, v1),
            at: name_start,
        });

        i = skip_blanks(b, i);
        match b.get(i) {
            Some(b',') => i += 1,
            Some(b'}') => return Ok(i + 1),
            None => return Err(unterminated()),
            Some(_) => {
                return Err(LineError::at(
                    i,
                    format!(
                        "expected ',' or '}}' after the value of label {name:?}, found {}",
                        describe(line, i)
                    ),
                ))
            }
        }
    }
}

/// Reads the quoted label value whose opening `"` is at byte `open`, appends it unescaped to `text`,
/// and returns the offset after the closing `"`.
fn read_quoted(line: &str, open: usize, name: &str, text: &mut String) -> Result<usize, LineError> {
    let b = line.as_bytes();
    let mut i = open + 1;
    let mut run = i;
    loop {
        match b.get(i) {
            None => {
                return Err(LineError::at(
                    open,
                    format!("unterminated value of label {name:?}: missing closing '\"'"),
                ))
            }
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
                        let c = line[i + 1..].chars().next().unwrap_or('?');
                        return Err(LineError::at(
                            i,
                            format!(
                                "invalid escape sequence \"\\{}\" in the value of label {name:?} \
                                 (only \\\\, \\\" and \\n are allowed)",
                                c.escape_debug()
                            ),
                        ));
                    }
                    None => {
                        return Err(LineError::at(
                            open,
                            format!("unterminated value of label {name:?}: missing closing '\"'"),
                        ))
                    }
                }
                i += 2;
                run = i;
            }
            Some(_) => i += 1,
        }
    }
}

/// Why a float did not parse.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum FloatError {
    /// Not a number in Go's syntax.
    Syntax,
    /// A number, but beyond the largest float (Go returns `±Inf` with `ErrRange`).
    Range,
}

/// Parses `s` as Go's `strconv.ParseFloat(s, 64)` does, except that a number too large is an error
/// rather than an infinity: decimal and hexadecimal (`0x1.8p-3`, the `p` exponent required) numbers,
/// `_` between digits (checked as Go checks it), `inf`, `infinity` and `nan` in any case (the first two
/// with an optional sign).
pub(super) fn parse_go_float(s: &str) -> Result<f64, FloatError> {
    let b = s.as_bytes();
    let (neg, body) = match b.first() {
        Some(b'+') => (false, &b[1..]),
        Some(b'-') => (true, &b[1..]),
        _ => (false, b),
    };
    if body.is_empty() {
        return Err(FloatError::Syntax);
    }
    // Special values. Go accepts a sign on infinities only.
    if body.eq_ignore_ascii_case(b"inf") || body.eq_ignore_ascii_case(b"infinity") {
        return Ok(if neg {
            f64::NEG_INFINITY
        } else {
            f64::INFINITY
        });
    }
    if body.eq_ignore_ascii_case(b"nan") {
        return if body.len() == b.len() {
            Ok(f64::NAN)
        } else {
            Err(FloatError::Syntax)
        };
    }
    if body.contains(&b'_') && !underscore_ok(body) {
        return Err(FloatError::Syntax);
    }
    let v = if body.len() >= 2 && body[0] == b'0' && (body[1] == b'x' || body[1] == b'X') {
        parse_hex_float(&body[2..])?
    } else {
        // Decimal: only digits, '.', 'e', 'E', signs and '_' may appear; Rust's parser checks the
        // structure (and would otherwise accept "inf"/"nan" spellings, handled above).
        if !body
            .iter()
            .all(|&c| c.is_ascii_digit() || matches!(c, b'.' | b'e' | b'E' | b'+' | b'-' | b'_'))
        {
            return Err(FloatError::Syntax);
        }
        let parsed = if body.contains(&b'_') {
            let digits: String = body
                .iter()
                .filter(|&&c| c != b'_')
                .map(|&c| c as char)
                .collect();
            digits.parse::<f64>()
        } else {
            // `body` is ASCII (checked above), so this cannot fail.
            std::str::from_utf8(body)
                .map_err(|_| FloatError::Syntax)?
                .parse::<f64>()
        };
        let v = parsed.map_err(|_| FloatError::Syntax)?;
        if v.is_infinite() {
            return Err(FloatError::Range);
        }
        v
    };
    Ok(if neg { -v } else { v })
}

/// Go's `underscoreOK` for the unsigned body of a number: every `_` sits between two digits, or
/// between the base prefix and a digit.
fn underscore_ok(s: &[u8]) -> bool {
    // Last class seen: b'^' start, b'0' digit or base prefix, b'_' underscore, b'!' other.
    let mut saw = b'^';
    let mut i = 0;
    let mut hex = false;
    if s.len() >= 2 && s[0] == b'0' && matches!(s[1] | 0x20, b'b' | b'o' | b'x') {
        i = 2;
        saw = b'0';
        hex = s[1] | 0x20 == b'x';
    }
    while i < s.len() {
        let c = s[i];
        if c.is_ascii_digit() || (hex && (c | 0x20).is_ascii_hexdigit() && c.is_ascii_alphabetic())
        {
            saw = b'0';
        } else if c == b'_' {
            if saw != b'0' {
                return false;
            }
            saw = b'_';
        } else {
            if saw == b'_' {
                return false;
            }
            saw = b'!';
        }
        i += 1;
    }
    saw != b'_'
}

/// Parses the part of a hexadecimal float after `0x`: hex digits with an optional `.`, then a
/// required `p` or `P` exponent (decimal, optionally signed). Rounds to nearest, ties to even, as Go.
fn parse_hex_float(s: &[u8]) -> Result<f64, FloatError> {
    let mut mant: u64 = 0;
    let mut exp: i64 = 0; // value = mant * 2^exp (before the 'p' exponent)
    let mut sticky = false; // a non-zero digit was dropped
    let mut any_digit = false;
    let mut seen_dot = false;
    let mut i = 0;
    while i < s.len() {
        let c = s[i];
        let d = match c {
            b'_' => {
                i += 1;
                continue;
            }
            b'.' if !seen_dot => {
                seen_dot = true;
                i += 1;
                continue;
            }
            b'0'..=b'9' => c - b'0',
            b'a'..=b'f' => c - b'a' + 10,
            b'A'..=b'F' => c - b'A' + 10,
            _ => break,
        };
        any_digit = true;
        if mant >> 60 == 0 {
            mant = mant << 4 | u64::from(d);
            if seen_dot {
                exp -= 4;
            }
        } else {
            sticky |= d != 0;
            if !seen_dot {
                exp += 4;
            }
        }
        i += 1;
    }
    if !any_digit || i >= s.len() || (s[i] != b'p' && s[i] != b'P') {
        return Err(FloatError::Syntax);
    }
    i += 1;
    let mut exp_neg = false;
    if let Some(&c) = s.get(i) {
        if c == b'+' || c == b'-' {
            exp_neg = c == b'-';
            i += 1;
        }
    }
    let mut e: i64 = 0;
    let mut exp_digits = false;
    while i < s.len() {
        match s[i] {
            b'_' => {}
            c @ b'0'..=b'9' => {
                exp_digits = true;
                e = (e * 10 + i64::from(c - b'0')).min(1 << 40);
            }
            _ => return Err(FloatError::Syntax),
        }
        i += 1;
    }
    if !exp_digits {
        return Err(FloatError::Syntax);
    }
    exp += if exp_neg { -e } else { e };
    if mant == 0 {
        return Ok(0.0);
    }

    // Normalize: the leading 1 at bit 63; value = m * 2^(e2 - 63).
    let lz = mant.leading_zeros();
    let m = mant << lz;
    let top = exp + 63 - i64::from(lz); // the binary exponent of the leading bit
    if top > 1023 {
        return Err(FloatError::Range);
    }
    // Bits of `m` to drop: 11 for a normal result, more for a subnormal one.
    let shift: i64 = if top >= -1022 { 11 } else { 11 + (-1022 - top) };
    let m = u128::from(m);
    let (kept, rem, half) = if shift >= 66 {
        (0u128, m, 1u128 << 65) // far below the smallest subnormal: rounds to zero
    } else {
        let shift = shift as u32;
        (m >> shift, m & ((1u128 << shift) - 1), 1u128 << (shift - 1))
    };
    let round_up = rem > half || (rem == half && (sticky || kept & 1 == 1));
    let kept = (kept + u128::from(round_up)) as u64;
    let bits = if top >= -1022 {
        // kept is in [2^52, 2^53]; adding lets a carry into 2^53 bump the exponent field.
        (((top + 1023) as u64) << 52) + (kept - (1 << 52))
    } else {
        kept // a subnormal (or, after a carry, the smallest normal)
    };
    if bits >= 0x7ff0_0000_0000_0000 {
        return Err(FloatError::Range);
    }
    Ok(f64::from_bits(bits))
}

#[cfg(test)]
mod tests {
    use super::super::{labels, parse_all, parse_one, Format, Sample};
    use super::*;

    fn one(line: &str) -> Sample {
        let mut v = parse_one(Format::PromText, line).unwrap_or_else(|e| panic!("{line:?}: {e}"));
        assert_eq!(v.len(), 1, "{line:?}");
        v.pop().unwrap()
    }

    fn err(line: &str) -> (Option<usize>, String) {
        let e = parse_one(Format::PromText, line).expect_err(line);
        assert_eq!(e.line, 1);
        (e.column, e.reason)
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
    fn go_float_syntax() {
        let ok = [
            ("1", 1.0),
            ("-1", -1.0),
            ("+1", 1.0),
            ("1.", 1.0),
            (".5", 0.5),
            ("-.5e1", -5.0),
            ("1e3", 1000.0),
            ("1E+3", 1000.0),
            ("1e-3", 0.001),
            ("000012", 12.0),
            ("1_000.5", 1000.5),
            ("1.7976931348623157e308", f64::MAX),
            ("5e-324", 5e-324),
            ("1e-400", 0.0), // underflow is no error in Go
            ("0x1p-2", 0.25),
            ("0X1P+2", 4.0),
            ("-0x1.8p1", -3.0),
            ("0x.8p1", 1.0),
            ("0x_1_0p0", 16.0),
            ("0x1p1_0", 1024.0),
            ("0x1.fffffffffffffp1023", f64::MAX),
            ("0x1p-1074", 5e-324),
            ("0x1p-1022", f64::MIN_POSITIVE),
            ("0x0p0", 0.0),
            // Rounding: 2^53 + 1 is a tie, rounds to even (2^53); 2^53 + 3 rounds up.
            ("0x20000000000001p0", 9007199254740992.0),
            ("0x20000000000003p0", 9007199254740996.0),
            // Beyond 16 digits: the dropped non-zero digit breaks the tie upwards.
            ("0x200000000000010000001p-28", 9007199254740994.0),
            // Half the smallest subnormal: a tie with 0, rounds to even (0); a bit more rounds up.
            ("0x1p-1075", 0.0),
            ("0x1.0000001p-1075", 5e-324),
            // The largest subnormal rounding up to the smallest normal.
            ("0x1.fffffffffffff8p-1023", f64::MIN_POSITIVE),
        ];
        for (s, want) in ok {
            let got = parse_go_float(s).unwrap_or_else(|e| panic!("{s}: {e:?}"));
            assert_eq!(got.to_bits(), want.to_bits(), "{s}: got {got:e}");
        }
        for s in [
            "", "+", "-", ".", "e3", "1e", "1e+", "1.2.3", "1_", "_1", "1__0", "1_.5", "+nan",
            "-NaN", "nan1", "infx", "in", "0x", "0x1", "0x1.8", "0xp1", "0x1p", "0x1p_1", "0b1",
            "1f", "1,5", "0x1g", "١", "1 ",
        ] {
            assert_eq!(parse_go_float(s), Err(FloatError::Syntax), "{s:?}");
        }
        for s in [
            "1e309",
            "-1e400",
            "0x1p1024",
            "0x1.fffffffffffff8p1023",
            "1_0e999",
        ] {
            assert_eq!(parse_go_float(s), Err(FloatError::Range), "{s:?}");
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
        assert!(errors[1].reason.contains("invalid timestamp \"nope\""));
    }
}

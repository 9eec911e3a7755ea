//! InfluxDB line protocol.
//!
//! ```text
//! # comment
//! cpu,host=server01,region=us-west usage_idle=92.5,usage_user=3i,up=true 1700000000123456789
//! ```
//!
//! `measurement[,tag=value...] field=value[,field=value...] [timestamp]`:
//!
//! * every field becomes its own series, named `measurement_field` with the tags as labels (InfluxDB's
//!   fan-out, as Prometheus's remote-write adapters do it). Names are sanitized: in the metric name
//!   every character outside `[a-zA-Z0-9_:]` becomes `_`, in a tag key every character outside
//!   `[a-zA-Z0-9_]`; a name starting with a digit gets a `_` in front. Two tags (or fields) that
//!   sanitize to the same name are an error, as is a tag key that becomes `__name__`;
//! * in the measurement `\,` and `\ ` are escapes, in tag keys, tag values and field keys `\,`, `\ `
//!   and `\=`; a backslash before any other character is kept as it is (as InfluxDB does);
//! * field values: floats (`1`, `-1.5`, `1e3`, `.5`; no `NaN` or `Inf`, as in InfluxDB), integers
//!   (`12i`), unsigned integers (`12u`; above 2^53 they lose precision as floats), booleans (`t`, `T`,
//!   `true`, `True`, `TRUE` are 1; `f`, `F`, `false`, `False`, `FALSE` are 0). A string field
//!   (`"..."`) cannot be stored as a sample: the line is rejected;
//! * the timestamp is in nanoseconds (InfluxDB's default precision), turned into milliseconds by
//!   flooring division (`-1` ns is `-1` ms);
//! * blank lines and lines starting with `#` are ignored.

use crate::error::{ErrorKind, Part, TimeUnit};
use crate::lexer::{
    found, is_blank, is_integer, skip_blanks, token_end, LabelSpan, LineError, Scratch,
};
use crate::{ParserState, Sample};

/// The buffers of the line being parsed, reused from line to line.
#[derive(Debug, Default)]
pub(crate) struct Buffers {
    /// Its fields.
    fields: Vec<Field>,
    /// Their sanitized keys.
    keys: String,
    /// The metric name being built.
    name: String,
}

/// Parses one line of line protocol (without its line break).
pub(crate) fn parse(
    line: &str,
    state: &mut ParserState,
    out: &mut Vec<Sample>,
) -> Result<(), LineError> {
    let b = line.as_bytes();
    let mut i = skip_blanks(b, 0);
    if i == b.len() || b[i] == b'#' {
        return Ok(());
    }
    let scratch = &mut state.scratch;
    scratch.clear();

    // Measurement.
    let ms = i;
    i = scan(b, i, |c| c == b',' || is_blank(c));
    if i == ms {
        return Err(LineError::at(ms, ErrorKind::MissingMeasurement));
    }
    let measurement = &line[ms..i];

    // Tags.
    while b.get(i) == Some(&b',') {
        i += 1;
        let ks = i;
        i = scan(b, i, |c| c == b'=' || c == b',' || is_blank(c));
        let key = &line[ks..i];
        if key.is_empty() {
            return Err(LineError::at(ks, ErrorKind::MissingTagKey));
        }
        if b.get(i) != Some(&b'=') {
            return Err(LineError::at(
                ks,
                ErrorKind::TagWithoutValue { key: key.into() },
            ));
        }
        i += 1;
        let vs = i;
        i = scan(b, i, |c| c == b',' || is_blank(c));
        if i == vs {
            return Err(LineError::at(
                ks,
                ErrorKind::EmptyTagValue { key: key.into() },
            ));
        }
        let n0 = scratch.text.len();
        push_sanitized(&mut scratch.text, key, b",= ", false);
        let n1 = scratch.text.len();
        push_unescaped(&mut scratch.text, &line[vs..i], b",= ");
        let v1 = scratch.text.len();
        scratch.labels.push(LabelSpan {
            name: (n0, n1),
            value: (n1, v1),
            at: ks,
        });
    }

    // Fields.
    i = skip_blanks(b, i);
    if i == b.len() {
        return Err(LineError::at(i, ErrorKind::MissingFields));
    }
    let Buffers { fields, keys, name } = &mut state.influx;
    fields.clear();
    keys.clear();
    let timestamp_ms = parse_fields(line, i, fields, keys)?;
    check_duplicates(line, scratch, fields, keys)?;

    // `measurement_` once, then each field's key after it.
    name.clear();
    push_sanitized(name, measurement, b", ", true);
    if name.as_bytes()[0].is_ascii_digit() {
        name.insert(0, '_');
    }
    name.push('_');
    let prefix = name.len();
    for f in fields.iter() {
        name.truncate(prefix);
        name.push_str(&keys[f.name.0..f.name.1]);
        out.push(Sample {
            labels: scratch.labels_with_name(name)?,
            value: f.value,
            timestamp_ms,
        });
    }
    Ok(())
}

/// One field of the line being parsed.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Field {
    /// The key as written: a range of the line.
    raw: (usize, usize),
    /// The sanitized key: a range of `Buffers::keys`.
    name: (usize, usize),
    value: f64,
}

/// Parses the fields starting at byte `i` into `fields` (their sanitized keys into `keys`) and the
/// optional timestamp after them, in milliseconds.
fn parse_fields(
    line: &str,
    mut i: usize,
    fields: &mut Vec<Field>,
    keys: &mut String,
) -> Result<Option<i64>, LineError> {
    let b = line.as_bytes();
    loop {
        let ks = i;
        i = scan(b, i, |c| c == b'=' || c == b',' || is_blank(c));
        let key = &line[ks..i];
        if key.is_empty() {
            return Err(LineError::at(
                ks,
                ErrorKind::ExpectedFieldKey {
                    found: found(line, ks),
                },
            ));
        }
        if b.get(i) != Some(&b'=') {
            return Err(LineError::at(
                ks,
                ErrorKind::FieldWithoutValue { key: key.into() },
            ));
        }
        i += 1;
        if b.get(i) == Some(&b'"') {
            // A string: find its end (`\"` and `\\` escape) to tell a bad line from a string field.
            let mut j = i + 1;
            while j < b.len() && b[j] != b'"' {
                j += if b[j] == b'\\' { 2 } else { 1 };
            }
            if j >= b.len() {
                return Err(LineError::at(
                    i,
                    ErrorKind::UnterminatedString { key: key.into() },
                ));
            }
            return Err(LineError::at(
                ks,
                ErrorKind::StringField { key: key.into() },
            ));
        }
        let vs = i;
        while i < b.len() && b[i] != b',' && !is_blank(b[i]) {
            i += 1;
        }
        let text = &line[vs..i];
        if text.is_empty() {
            return Err(LineError::at(
                vs,
                ErrorKind::EmptyFieldValue { key: key.into() },
            ));
        }
        let value = parse_field_value(text).map_err(|r| LineError::at(vs, r))?;
        let n0 = keys.len();
        push_sanitized(keys, key, b",= ", true);
        fields.push(Field {
            raw: (ks, vs - 1),
            name: (n0, keys.len()),
            value,
        });
        if b.get(i) == Some(&b',') {
            i += 1;
        } else {
            break;
        }
    }

    // Timestamp.
    i = skip_blanks(b, i);
    let mut timestamp_ms = None;
    if i < b.len() {
        let end = token_end(b, i);
        let tok = &line[i..end];
        let unit = TimeUnit::Nanoseconds;
        let ns = if is_integer(tok) {
            tok.parse::<i64>().map_err(|_| {
                LineError::at(
                    i,
                    ErrorKind::TimestampOutOfRange {
                        text: tok.into(),
                        unit,
                    },
                )
            })?
        } else {
            return Err(LineError::at(
                i,
                ErrorKind::InvalidTimestamp {
                    text: tok.into(),
                    unit,
                },
            ));
        };
        timestamp_ms = Some(ns.div_euclid(1_000_000));
        i = skip_blanks(b, end);
    }
    if i < b.len() {
        return Err(LineError::at(
            i,
            ErrorKind::TextAfter {
                after: Part::Timestamp,
                text: line[i..].into(),
            },
        ));
    }
    Ok(timestamp_ms)
}

/// Fails when two tags, or two fields, get the same name.
fn check_duplicates(
    line: &str,
    scratch: &Scratch,
    fields: &[Field],
    keys: &str,
) -> Result<(), LineError> {
    if let Some(l) = scratch
        .labels
        .iter()
        .find(|l| scratch.name(l) == tsdb_labels::METRIC_NAME)
    {
        return Err(LineError::at(l.at, ErrorKind::ReservedTagKey));
    }
    if let Some(l) = scratch.duplicate() {
        return Err(LineError::at(
            l.at,
            ErrorKind::DuplicateTag {
                name: scratch.name(l).into(),
            },
        ));
    }
    for (n, f) in fields.iter().enumerate() {
        let name = &keys[f.name.0..f.name.1];
        if fields[..n]
            .iter()
            .any(|g| &keys[g.name.0..g.name.1] == name)
        {
            return Err(LineError::at(
                f.raw.0,
                ErrorKind::DuplicateField {
                    key: line[f.raw.0..f.raw.1].into(),
                },
            ));
        }
    }
    Ok(())
}

/// The offset of the first byte at or after `i` for which `stop` holds, a backslash escaping the byte
/// after it (or `b.len()`).
#[inline]
fn scan(b: &[u8], mut i: usize, stop: impl Fn(u8) -> bool) -> usize {
    while i < b.len() {
        let c = b[i];
        if c == b'\\' {
            i = (i + 2).min(b.len());
        } else if stop(c) {
            break;
        } else {
            i += 1;
        }
    }
    // Stop bytes are ASCII: `i` is at one of them or at the end, a character boundary.
    i
}

/// Appends `raw` to `out` with the escapes `\c` (`c` one of `escapes`) replaced by `c`.
fn push_unescaped(out: &mut String, raw: &str, escapes: &[u8]) {
    let mut chars = raw.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\\' {
            if let Some(&n) = chars.peek() {
                if n.is_ascii() && escapes.contains(&(n as u8)) {
                    out.push(n);
                    chars.next();
                    continue;
                }
            }
        }
        out.push(c);
    }
}

/// Appends `raw`, unescaped (`\c` for `c` in `escapes`), with every character outside
/// `[a-zA-Z0-9_]` (and `:` when `colon`) replaced by `_`. As a label name (`!colon`), a name starting
/// with a digit gets a `_` in front.
fn push_sanitized(out: &mut String, raw: &str, escapes: &[u8], colon: bool) {
    let start = out.len();
    let mut chars = raw.chars().peekable();
    while let Some(c) = chars.next() {
        let c = match chars.peek() {
            Some(&n) if c == '\\' && n.is_ascii() && escapes.contains(&(n as u8)) => {
                chars.next();
                n
            }
            _ => c,
        };
        out.push(
            if c.is_ascii_alphanumeric() || c == '_' || (colon && c == ':') {
                c
            } else {
                '_'
            },
        );
    }
    if !colon && out.as_bytes().get(start).is_some_and(u8::is_ascii_digit) {
        out.insert(start, '_');
    }
}

/// Parses a (non-string) field value.
fn parse_field_value(s: &str) -> Result<f64, ErrorKind> {
    let text = || s.to_string();
    let b = s.as_bytes();
    let unsigned_digits = |d: &[u8]| !d.is_empty() && d.iter().all(u8::is_ascii_digit);
    match b[b.len() - 1] {
        b'i' => {
            let body = &s[..s.len() - 1];
            let digits = body.strip_prefix('-').unwrap_or(body);
            if !unsigned_digits(digits.as_bytes()) {
                return Err(ErrorKind::InvalidInteger { text: text() });
            }
            body.parse::<i64>()
                .map(|v| v as f64)
                .map_err(|_| ErrorKind::IntegerOutOfRange { text: text() })
        }
        b'u' => {
            let body = &s[..s.len() - 1];
            if !unsigned_digits(body.as_bytes()) {
                return Err(ErrorKind::InvalidUnsigned { text: text() });
            }
            body.parse::<u64>()
                .map(|v| v as f64)
                .map_err(|_| ErrorKind::UnsignedOutOfRange { text: text() })
        }
        _ => match s {
            "t" | "T" | "true" | "True" | "TRUE" => Ok(1.0),
            "f" | "F" | "false" | "False" | "FALSE" => Ok(0.0),
            _ => {
                let first_ok = b[0] == b'-' || b[0] == b'.' || b[0].is_ascii_digit();
                let chars_ok = b
                    .iter()
                    .all(|&c| c.is_ascii_digit() || matches!(c, b'.' | b'e' | b'E' | b'+' | b'-'));
                match s.parse::<f64>() {
                    Ok(v) if first_ok && chars_ok && v.is_finite() => Ok(v),
                    Ok(_) if first_ok && chars_ok => {
                        Err(ErrorKind::FloatOutOfRange { text: text() })
                    }
                    _ => Err(ErrorKind::InvalidFieldValue { text: text() }),
                }
            }
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_util::{labels, parse_all, parse_one};
    use crate::Format;

    const LP: Format = Format::Influx;

    fn ok(line: &str) -> Vec<Sample> {
        parse_one(LP, line).unwrap_or_else(|e| panic!("{line:?}: {e}"))
    }

    fn err(line: &str) -> (Option<usize>, String) {
        let e = parse_one(LP, line).expect_err(line);
        (e.column, e.kind.to_string())
    }

    #[test]
    fn fields_fan_out_into_series() {
        let s = ok("cpu,host=server01,region=us-west usage_idle=92.5,usage_user=3i,up=true 1700000000123456789");
        assert_eq!(s.len(), 3);
        let tags = [("host", "server01"), ("region", "us-west")];
        let with = |name: &str| {
            let mut v = vec![("__name__", name)];
            v.extend(tags);
            labels(&v)
        };
        assert_eq!(s[0].labels, with("cpu_usage_idle"));
        assert_eq!(s[0].value, 92.5);
        assert_eq!(s[1].labels, with("cpu_usage_user"));
        assert_eq!(s[1].value, 3.0);
        assert_eq!(s[2].labels, with("cpu_up"));
        assert_eq!(s[2].value, 1.0);
        assert!(s.iter().all(|s| s.timestamp_ms == Some(1_700_000_000_123)));

        // No tags, no timestamp, blanks around.
        let s = ok("  mem  free=1  ");
        assert_eq!(s[0].labels, labels(&[("__name__", "mem_free")]));
        assert_eq!(s[0].timestamp_ms, None);
    }

    #[test]
    fn values() {
        let v = |text: &str| ok(&format!("m f={text}"))[0].value;
        assert_eq!(v("1.5"), 1.5);
        assert_eq!(v("1"), 1.0);
        assert_eq!(v("-1.5"), -1.5);
        assert_eq!(v("1e3"), 1000.0);
        assert_eq!(v("1.5E-3"), 0.0015);
        assert_eq!(v(".5"), 0.5);
        assert_eq!(v("-0").to_bits(), (-0.0f64).to_bits());
        assert_eq!(v("12i"), 12.0);
        assert_eq!(v("-12i"), -12.0);
        assert_eq!(v("-9223372036854775808i"), -9.223372036854776e18);
        assert_eq!(v("12u"), 12.0);
        assert_eq!(v("18446744073709551615u"), 1.8446744073709552e19);
        for t in ["t", "T", "true", "True", "TRUE"] {
            assert_eq!(v(t), 1.0, "{t}");
        }
        for f in ["f", "F", "false", "False", "FALSE"] {
            assert_eq!(v(f), 0.0, "{f}");
        }
        for bad in [
            "abc", "NaN", "inf", "+Inf", "+1", "1.2.3", "1e", "tRUE", "yes", "1.5i", "+1i", "i",
            "-u", "-1u", "12x", "0x10",
        ] {
            let (col, reason) = err(&format!("m f={bad}"));
            assert_eq!(col, Some(5), "{bad}");
            assert!(reason.contains("field value"), "{bad}: {reason}");
        }
        let (_, reason) = err("m f=1e999");
        assert!(reason.contains("out of the range"), "{reason}");
        let (_, reason) = err("m f=9223372036854775808i");
        assert!(reason.contains("out of range"), "{reason}");
        let (_, reason) = err("m f=18446744073709551616u");
        assert!(reason.contains("out of range"), "{reason}");
    }

    #[test]
    fn string_fields_reject_the_line() {
        let (col, reason) = err(r#"log,host=a level=3i,msg="hello, world = x \"y\"" 1"#);
        assert_eq!(reason, "string field \"msg\" cannot be stored as a sample");
        assert_eq!(col, Some(21));
        let (col, reason) = err(r#"log msg="unterminated"#);
        assert_eq!(col, Some(9));
        assert!(
            reason.contains("unterminated string in field \"msg\""),
            "{reason}"
        );
        let (_, reason) = err(r#"log msg="ends in backslash\""#);
        assert!(reason.contains("unterminated string"), "{reason}");
    }

    #[test]
    fn escapes_and_sanitizing() {
        let s = ok(r"my\ cpu\,x,host\ name=a\ b\,c\=d,we\=ird=\x field\=1\,2=1");
        assert_eq!(
            s[0].labels,
            labels(&[
                ("__name__", "my_cpu_x_field_1_2"),
                ("host_name", "a b,c=d"),
                ("we_ird", r"\x"),
            ])
        );
        let s = ok("1m.load-avg,0zone=eu,dc.name=x ü=2,a:b=3");
        assert_eq!(
            s[0].labels,
            labels(&[
                ("__name__", "_1m_load_avg__"),
                ("_0zone", "eu"),
                ("dc_name", "x")
            ])
        );
        assert_eq!(s[1].labels.metric_name(), Some("_1m_load_avg_a:b"));
        // Tag values keep any character, `=` included.
        let s = ok("m,t=a=b,u=ü f=1");
        assert_eq!(s[0].labels.get("t"), Some("a=b"));
        assert_eq!(s[0].labels.get("u"), Some("ü"));
        // A backslash before a multi-byte character.
        let s = ok("m,t=\\ü f=1");
        assert_eq!(s[0].labels.get("t"), Some("\\ü"));
    }

    #[test]
    fn timestamps_are_nanoseconds() {
        let ts = |t: &str| ok(&format!("m f=1 {t}"))[0].timestamp_ms;
        assert_eq!(ts("1700000000123456789"), Some(1_700_000_000_123));
        assert_eq!(ts("1700000000123999999"), Some(1_700_000_000_123));
        assert_eq!(ts("0"), Some(0));
        assert_eq!(ts("999999"), Some(0));
        assert_eq!(ts("-1"), Some(-1));
        assert_eq!(ts("-1000000"), Some(-1));
        assert_eq!(ts("-1000001"), Some(-2));
        assert_eq!(ts("9223372036854775807"), Some(9_223_372_036_854));
        assert_eq!(ts("-9223372036854775808"), Some(-9_223_372_036_855));
        let (col, reason) = err("m f=1 1.5");
        assert_eq!(col, Some(7));
        assert!(reason.contains("invalid timestamp \"1.5\": expected integer nanoseconds"));
        let (_, reason) = err("m f=1 9223372036854775808");
        assert!(reason.contains("out of range"), "{reason}");
    }

    #[test]
    fn bad_lines() {
        let cases: &[(&str, usize, &str)] = &[
            (",t=1 f=1", 1, "missing measurement name"),
            ("m", 2, "missing fields"),
            ("m,t=1", 6, "missing fields"),
            ("m   ", 5, "missing fields"),
            ("m, f=1", 3, "missing tag key"),
            ("m,t f=1", 3, "tag \"t\" has no value"),
            ("m,t= f=1", 3, "tag \"t\" has an empty value"),
            ("m,t=1,t=2 f=1", 7, "duplicate tag \"t\""),
            ("m,a.b=1,a-b=2 f=1", 9, "duplicate tag \"a_b\""),
            ("m,__name__=x f=1", 3, "tag key \"__name__\" is reserved"),
            ("m f", 3, "field \"f\" has no value"),
            ("m f=", 5, "field \"f\" has an empty value"),
            ("m f=1,", 7, "expected a field key, found end of line"),
            ("m f=1,=2", 7, "expected a field key, found '='"),
            ("m f=1,g", 7, "field \"g\" has no value"),
            ("m f=1,f=2", 7, "duplicate field \"f\""),
            ("m f.x=1,f-x=2", 9, "duplicate field \"f-x\""),
            ("m f=1 2 3", 9, "unexpected text after the timestamp: \"3\""),
            ("m f=1 abc", 7, "invalid timestamp \"abc\""),
        ];
        for &(line, col, want) in cases {
            let (got_col, reason) = err(line);
            assert!(reason.contains(want), "{line:?}: {reason:?} lacks {want:?}");
            assert_eq!(got_col, Some(col), "{line:?}: {reason}");
        }
    }

    #[test]
    fn a_bad_line_does_not_stop_the_input() {
        let text = "# a comment\n\
                    \n\
                    cpu,host=a idle=1,user=2 1000000\n\
                    log,host=a msg=\"x\",n=1i 2000000\n\
                    cpu,host=b idle=3 3000000\n\
                    cpu,host=c idle=NaN\n\
                    mem free=4u\n";
        let (samples, errors) = parse_all(LP, text);
        let got: Vec<_> = samples
            .iter()
            .map(|s| (s.labels.to_string(), s.value, s.timestamp_ms))
            .collect();
        assert_eq!(
            got,
            [
                (
                    r#"{__name__="cpu_idle", host="a"}"#.to_string(),
                    1.0,
                    Some(1)
                ),
                (
                    r#"{__name__="cpu_user", host="a"}"#.to_string(),
                    2.0,
                    Some(1)
                ),
                (
                    r#"{__name__="cpu_idle", host="b"}"#.to_string(),
                    3.0,
                    Some(3)
                ),
                (r#"{__name__="mem_free"}"#.to_string(), 4.0, None),
            ]
        );
        let lines: Vec<_> = errors.iter().map(|e| e.line).collect();
        assert_eq!(lines, [4, 6]);
        assert_eq!(
            errors[0].to_string(),
            "line 4: string field \"msg\" cannot be stored as a sample"
        );
    }
}

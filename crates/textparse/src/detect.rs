//! Guessing the format of an input from its first bytes.

use crate::Format;

/// At most this many counter names from `# TYPE x counter` lines are remembered.
const MAX_COUNTERS: usize = 256;

/// Guesses the format of an input from its first bytes (`head`, say the first 64 KiB; its last line
/// may be cut short). Lines are looked at in order and the first telling sign decides:
///
/// * OpenMetrics: a `# EOF` line; a `# UNIT` line; a `# TYPE` of a type only OpenMetrics has
///   (`unknown`, `info`, `stateset`, `gaugehistogram`); a sample named `x_total` or `x_created` after
///   `# TYPE x counter` (in the Prometheus text format the sample would be named `x`); a sample with a
///   fractional or exponent timestamp (seconds); a sample followed by an exemplar (` # {`).
/// * Prometheus text: a `# TYPE x untyped` line (OpenMetrics says `unknown`).
/// * Influx line protocol: the first sample line (the first non-blank line not starting with `#`) has
///   the shape `measurement[,tags] field=value...`: its first blank-separated token has no `{` and
///   its second token contains `=` (and does not start with `{`, as in `name {label="v"} 1`).
///
/// Without any sign, the Prometheus text format.
pub fn detect(head: &[u8]) -> Format {
    let mut counters: Vec<&[u8]> = Vec::new();
    let mut first_sample = true;
    for raw in head.split(|&c| c == b'\n') {
        let line = trim(raw);
        if line.is_empty() {
            continue;
        }
        if line[0] == b'#' {
            if let Some(f) = comment_hint(line, &mut counters) {
                return f;
            }
            continue;
        }
        if first_sample {
            first_sample = false;
            if looks_influx(line) {
                return Format::Influx;
            }
        }
        if sample_hint(line, &counters) {
            return Format::OpenMetrics;
        }
    }
    Format::PromText
}

fn is_blank(c: u8) -> bool {
    c == b' ' || c == b'\t' || c == b'\r'
}

/// `line` without leading and trailing blanks (and `\r`).
fn trim(line: &[u8]) -> &[u8] {
    let start = line
        .iter()
        .position(|&c| !is_blank(c))
        .unwrap_or(line.len());
    let end = line
        .iter()
        .rposition(|&c| !is_blank(c))
        .map_or(start, |e| e + 1);
    &line[start..end]
}

/// The blank-separated words of `s`.
fn words(s: &[u8]) -> impl Iterator<Item = &[u8]> {
    s.split(|&c| is_blank(c)).filter(|w| !w.is_empty())
}

/// What a `#` line tells, remembering counters' names.
fn comment_hint<'a>(line: &'a [u8], counters: &mut Vec<&'a [u8]>) -> Option<Format> {
    if !line.get(1).is_some_and(|&c| is_blank(c)) {
        return None;
    }
    let mut w = words(&line[1..]);
    match w.next()? {
        b"EOF" if w.next().is_none() => Some(Format::OpenMetrics),
        b"UNIT" => Some(Format::OpenMetrics),
        b"TYPE" => {
            let name = w.next()?;
            match w.next()? {
                b"counter" => {
                    if counters.len() < MAX_COUNTERS {
                        counters.push(name);
                    }
                    None
                }
                b"unknown" | b"info" | b"stateset" | b"gaugehistogram" => Some(Format::OpenMetrics),
                b"untyped" => Some(Format::PromText),
                _ => None,
            }
        }
        _ => None,
    }
}

/// Whether the sample line `line` shows OpenMetrics: a counter's `_total`/`_created` sample, a
/// timestamp in fractional seconds, an exemplar.
fn sample_hint(line: &[u8], counters: &[&[u8]]) -> bool {
    let name_end = line
        .iter()
        .position(|&c| c == b'{' || is_blank(c))
        .unwrap_or(line.len());
    let name = &line[..name_end];
    for suffix in [&b"_total"[..], b"_created"] {
        if let Some(base) = name.strip_suffix(suffix) {
            if counters.contains(&base) {
                return true;
            }
        }
    }
    // Skip the label set, minding quoted values.
    let mut i = name_end;
    while i < line.len() && is_blank(line[i]) {
        i += 1;
    }
    if line.get(i) == Some(&b'{') {
        let mut quoted = false;
        while i < line.len() {
            match line[i] {
                b'\\' if quoted => i += 1,
                b'"' => quoted = !quoted,
                b'}' if !quoted => break,
                _ => {}
            }
            i += 1;
        }
        i += 1;
    }
    let mut w = words(line.get(i..).unwrap_or_default());
    let _value = w.next();
    match w.next() {
        Some(ts) if ts.starts_with(b"#") => true,
        Some(ts) => {
            let seconds = ts.iter().any(|&c| matches!(c, b'.' | b'e' | b'E'))
                && ts
                    .iter()
                    .all(|&c| c.is_ascii_digit() || b".eE+-".contains(&c));
            seconds || w.next().is_some_and(|x| x.starts_with(b"#"))
        }
        None => false,
    }
}

/// Whether `line` has the shape of line protocol: `measurement[,tags] field=value...`.
fn looks_influx(line: &[u8]) -> bool {
    // The first token, up to a blank not escaped by a backslash.
    let mut i = 0;
    while i < line.len() && !is_blank(line[i]) {
        i += if line[i] == b'\\' { 2 } else { 1 };
    }
    let first = &line[..i.min(line.len())];
    if first.is_empty() || first.contains(&b'{') {
        return false;
    }
    let rest = line.get(i..).unwrap_or_default();
    words(rest)
        .next()
        .is_some_and(|second| second[0] != b'{' && second.contains(&b'='))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fixtures() {
        let prom = include_str!("../../../testdata/input/prometheus.prom");
        let om = include_str!("../../../testdata/input/openmetrics.om");
        let lp = include_str!("../../../testdata/input/influx.lp");
        assert_eq!(detect(prom.as_bytes()), Format::PromText);
        assert_eq!(detect(om.as_bytes()), Format::OpenMetrics);
        assert_eq!(detect(lp.as_bytes()), Format::Influx);
        // Cut anywhere, the heads still tell (once the first sample line is whole).
        for cut in [400, 600, 900] {
            assert_eq!(detect(&prom.as_bytes()[..cut]), Format::PromText, "{cut}");
        }
        for cut in [350, 600] {
            assert_eq!(detect(&om.as_bytes()[..cut]), Format::OpenMetrics, "{cut}");
        }
        assert_eq!(detect(&lp.as_bytes()[..200]), Format::Influx);
    }

    #[test]
    fn openmetrics_signs() {
        let om = [
            "a 1\n# EOF\n",
            "# EOF",
            "# HELP x h\n# UNIT x seconds\nx 1\n",
            "# TYPE x info\nx_info{a=\"b\"} 1\n",
            "# TYPE x unknown\nx 1\n",
            "# TYPE x counter\n# HELP x Help.\nx_total 1\n",
            "# TYPE x counter\nx_created{a=\"b\"} 1\n",
            "a 1 1700000000.123\n",
            "a{b=\"c d\"} 1 1.7e9\n",
            "a 1 # {trace_id=\"x\"} 1\n",
            "a 1 1700000000 # {trace_id=\"x\"} 1\n",
            "\n\n# a comment\r\nx 1 1700000000.5\r\n",
        ];
        for text in om {
            assert_eq!(detect(text.as_bytes()), Format::OpenMetrics, "{text:?}");
        }
    }

    #[test]
    fn prometheus_text_signs_and_default() {
        let prom = [
            "",
            "\n\n",
            "# just a comment",
            "a 1\n",
            "a 1 1700000000000\n",
            "# TYPE x_total counter\nx_total 1\n",
            "# TYPE x untyped\nx_total 1 1.5\n",
            "a{b=\"x=1 y=2\"} 1\n",
            "a{b=\"x=1\",c=\"}\"} 1 -5\n",
            "a {b=\"c\"} 1\n",
            "a NaN\n",
            "garbage",
        ];
        for text in prom {
            assert_eq!(detect(text.as_bytes()), Format::PromText, "{text:?}");
        }
    }

    #[test]
    fn influx_shape() {
        let lp = [
            "cpu,host=a usage=1 1700000000000000000\n",
            "cpu usage=1\n",
            "# comment\n\ncpu,host=a idle=1,user=2\n",
            "my\\ cpu,host=a value=1\n",
            "log msg=\"hello world\"\n",
            "  m f=1",
        ];
        for text in lp {
            assert_eq!(detect(text.as_bytes()), Format::Influx, "{text:?}");
        }
        // Only the first sample line counts.
        assert_eq!(detect(b"a 1\ncpu usage=1\n"), Format::PromText);
        // Invalid UTF-8 does not matter.
        assert_eq!(detect(b"m\xff f=1\n"), Format::Influx);
        assert_eq!(detect(b"\xff\xfe"), Format::PromText);
    }
}

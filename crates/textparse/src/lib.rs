//! Streaming parsers for the text formats samples arrive in, turning lines into [`Sample`]s:
//!
//! * [`Format::PromText`]: the Prometheus text exposition format 0.0.4 (`name{l="v"} value [ms]`),
//!   see [`prom_text`];
//! * [`Format::OpenMetrics`]: OpenMetrics text 1.0.0 (timestamps in seconds, `# EOF` at the end,
//!   exemplars), see [`openmetrics`];
//! * [`Format::Influx`]: InfluxDB line protocol (`measurement,tag=v field=1,other=2i ns`), one series
//!   per field, see [`influx`].
//!
//! Values and timestamps are read as Prometheus 2.42 reads them (see [`value`]), so that what parses
//! here is what Prometheus and `promtool` accept.
//!
//! The crate owns the syntax of these formats and the guess of a format from the first bytes of an
//! input ([`detect()`]). It leaves everything else to its callers: reading the input, storing the
//! samples, the time of a sample without a timestamp, checks across lines (order, duplicates), and how
//! errors are shown. Its only dependency in the workspace is `tsdb-labels`, for [`Labels`].
//!
//! The parsers stream: the caller feeds one line at a time to [`parse_line`] with its 1-based number
//! and a [`ParserState`] kept for the whole input, collects the samples it pushes and the
//! [`ParseError`] it returns for a bad line, and goes on with the next line (a bad line never stops the
//! input). At the end, [`finish`] reports what only the end can show (an OpenMetrics input without
//! `# EOF`). Lines are bytes: a line that is not UTF-8 is an error like any other, at its column.
//!
//! ```
//! use tsdb_textparse::{detect, finish, parse_line, ErrorKind, Format, ParserState};
//!
//! let input = "# TYPE up gauge\nup{job=\"node\"} 1 1700000000000\nup{job=\"api\"} x\n";
//! let format = detect(input.as_bytes());
//! assert_eq!(format, Format::PromText);
//!
//! let mut state = ParserState::new();
//! let (mut samples, mut errors) = (Vec::new(), Vec::new());
//! for (i, line) in input.lines().enumerate() {
//!     if let Err(e) = parse_line(format, line.as_bytes(), i + 1, &mut state, &mut samples) {
//!         errors.push(e);
//!     }
//! }
//! finish(format, &state).unwrap();
//!
//! assert_eq!(samples.len(), 1);
//! assert_eq!(samples[0].labels.get("job"), Some("node"));
//! assert_eq!(samples[0].value, 1.0);
//! assert_eq!(samples[0].timestamp_ms, Some(1_700_000_000_000));
//! assert_eq!((errors[0].line, errors[0].column), (3, Some(15)));
//! assert_eq!(errors[0].kind, ErrorKind::InvalidValue { text: "x".into() });
//! assert_eq!(errors[0].to_string(), "line 3: invalid value \"x\"");
//! ```
//!
//! The parsers scan bytes (no regular expressions) and reuse the buffers of the [`ParserState`]: the
//! only allocations per sample are those of building its [`Labels`].

#![warn(missing_docs)]

mod detect;
mod error;
pub mod influx;
mod lexer;
pub mod openmetrics;
pub mod prom_text;
pub mod value;

use std::fmt;
use std::str::FromStr;

use thiserror::Error;
use tsdb_labels::Labels;

pub use detect::detect;
pub use error::{ErrorKind, Found, ParseError, Part, TimeUnit};

use lexer::Scratch;

/// An input format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Format {
    /// Prometheus text exposition format 0.0.4: timestamps in milliseconds.
    PromText,
    /// OpenMetrics text 1.0.0: timestamps in seconds, `# EOF` required at the end.
    OpenMetrics,
    /// InfluxDB line protocol: one series per field, timestamps in nanoseconds.
    Influx,
}

impl Format {
    /// Every format, in the order of their names in help texts.
    pub const ALL: [Format; 3] = [Format::PromText, Format::OpenMetrics, Format::Influx];

    /// The canonical name: `prometheus`, `openmetrics` or `influx` (what `Display` prints and
    /// `FromStr` accepts).
    pub fn name(self) -> &'static str {
        match self {
            Format::PromText => "prometheus",
            Format::OpenMetrics => "openmetrics",
            Format::Influx => "influx",
        }
    }
}

impl fmt::Display for Format {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A format name that [`Format::from_str`] does not know.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("unknown input format {0:?} (expected prometheus, text, openmetrics or influx)")]
pub struct UnknownFormat(pub String);

impl FromStr for Format {
    type Err = UnknownFormat;

    /// `prometheus` or `text`, `openmetrics`, `influx` (ASCII case ignored).
    fn from_str(s: &str) -> Result<Format, UnknownFormat> {
        match s.to_ascii_lowercase().as_str() {
            "prometheus" | "text" => Ok(Format::PromText),
            "openmetrics" => Ok(Format::OpenMetrics),
            "influx" => Ok(Format::Influx),
            _ => Err(UnknownFormat(s.to_string())),
        }
    }
}

/// One sample of one series.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    /// The series, its metric name as `__name__`.
    pub labels: Labels,
    /// The value (`±Inf` and `-0` kept as they are; any `NaN` is Prometheus's normal NaN, see
    /// [`value::NORMAL_NAN_BITS`]).
    pub value: f64,
    /// Milliseconds since the Unix epoch, when the line gives a timestamp.
    pub timestamp_ms: Option<i64>,
}

/// The state of one input stream: create one per input with [`ParserState::new`], pass it to every
/// [`parse_line`] call of that input and then to [`finish`].
#[derive(Debug, Default)]
pub struct ParserState {
    /// The highest line number seen.
    last_line: usize,
    /// OpenMetrics: the line of `# EOF`, once seen.
    eof_line: Option<usize>,
    /// Buffers reused from line to line: the labels of the current line.
    scratch: Scratch,
    /// Influx: the fields of the current line, their sanitized keys, the metric name being built.
    influx: influx::Buffers,
}

impl ParserState {
    /// The state at the start of an input.
    pub fn new() -> ParserState {
        ParserState::default()
    }

    /// Whether an OpenMetrics input has reached its `# EOF` line (after which only blank lines may
    /// follow). Always false for the other formats.
    pub fn eof_seen(&self) -> bool {
        self.eof_line.is_some()
    }
}

/// Parses one line of an input in `format`: pushes its samples to `out` (none for a blank line or a
/// comment, several for an Influx line with several fields) or returns why it is bad, in which case
/// nothing is pushed. `line_no` is the 1-based line number used in errors; a trailing `\n` or `\r\n`
/// on `line` is ignored. A line that is not UTF-8 is an error ([`ErrorKind::InvalidUtf8`], at the
/// column of its first invalid byte). Never panics; after an error, parsing goes on with the next
/// line.
pub fn parse_line(
    format: Format,
    line: &[u8],
    line_no: usize,
    state: &mut ParserState,
    out: &mut Vec<Sample>,
) -> Result<(), ParseError> {
    state.last_line = state.last_line.max(line_no);
    let line = line.strip_suffix(b"\n").unwrap_or(line);
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    let line = match std::str::from_utf8(line) {
        Ok(line) => line,
        Err(e) => {
            // The valid prefix is UTF-8: its characters come before the bad byte.
            let column = String::from_utf8_lossy(&line[..e.valid_up_to()])
                .chars()
                .count()
                + 1;
            return Err(ParseError {
                line: line_no,
                column: Some(column),
                kind: ErrorKind::InvalidUtf8,
            });
        }
    };
    let start = out.len();
    let result = match format {
        Format::PromText => prom_text::parse(line, state, out),
        Format::OpenMetrics => openmetrics::parse(line, line_no, state, out),
        Format::Influx => influx::parse(line, state, out),
    };
    result.map_err(|e| {
        out.truncate(start);
        e.at_line(line, line_no)
    })
}

/// Checks the end of an input: an OpenMetrics input must have ended with `# EOF`. The error is on
/// the line after the last one given to [`parse_line`] (line 1 for an empty input), without a
/// column. The other formats have nothing to check.
pub fn finish(format: Format, state: &ParserState) -> Result<(), ParseError> {
    match format {
        Format::OpenMetrics if state.eof_line.is_none() => Err(ParseError {
            line: state.last_line + 1,
            column: None,
            kind: ErrorKind::MissingEof,
        }),
        _ => Ok(()),
    }
}

/// Helpers of the unit tests.
#[cfg(test)]
mod test_util {
    use super::*;

    /// Parses every line of `text`, then its end: the samples and the errors.
    pub(crate) fn parse_all(format: Format, text: &str) -> (Vec<Sample>, Vec<ParseError>) {
        let mut state = ParserState::new();
        let mut out = Vec::new();
        let mut errors = Vec::new();
        for (i, line) in text.lines().enumerate() {
            if let Err(e) = parse_line(format, line.as_bytes(), i + 1, &mut state, &mut out) {
                errors.push(e);
            }
        }
        if let Err(e) = finish(format, &state) {
            errors.push(e);
        }
        (out, errors)
    }

    /// Parses `line` as the first line of `format` and returns its samples or its error.
    pub(crate) fn parse_one(format: Format, line: &str) -> Result<Vec<Sample>, ParseError> {
        let mut state = ParserState::new();
        let mut out = Vec::new();
        parse_line(format, line.as_bytes(), 1, &mut state, &mut out).map(|()| out)
    }

    pub(crate) fn labels(pairs: &[(&str, &str)]) -> Labels {
        Labels::new(pairs.iter().copied()).unwrap()
    }
}

#[cfg(test)]
mod tests {
    use super::test_util::*;
    use super::*;

    const PROM: &str = include_str!("../../../testdata/input/prometheus.prom");
    const OM: &str = include_str!("../../../testdata/input/openmetrics.om");
    const LP: &str = include_str!("../../../testdata/input/influx.lp");

    #[test]
    fn format_names() {
        for f in Format::ALL {
            assert_eq!(f.to_string().parse::<Format>(), Ok(f));
        }
        assert_eq!("text".parse::<Format>(), Ok(Format::PromText));
        assert_eq!("Prometheus".parse::<Format>(), Ok(Format::PromText));
        assert_eq!("OpenMetrics".parse::<Format>(), Ok(Format::OpenMetrics));
        assert_eq!("influx".parse::<Format>(), Ok(Format::Influx));
        let e = "csv".parse::<Format>().unwrap_err();
        assert_eq!(e, UnknownFormat("csv".into()));
        assert_eq!(
            e.to_string(),
            "unknown input format \"csv\" (expected prometheus, text, openmetrics or influx)"
        );
        assert_eq!(Format::PromText.to_string(), "prometheus");
        assert_eq!(Format::OpenMetrics.to_string(), "openmetrics");
        assert_eq!(Format::Influx.to_string(), "influx");
    }

    #[test]
    fn columns_count_characters() {
        // The bad value `x` is the 10th character, the 11th byte.
        let e = parse_one(Format::PromText, "a{b=\"ü\"} x").unwrap_err();
        assert_eq!(e.column, Some(10));
        let e = parse_one(Format::Influx, "m,t=🦀 f=x").unwrap_err();
        assert_eq!(e.column, Some(9));
    }

    #[test]
    fn invalid_utf8_is_an_error_at_its_column() {
        for format in Format::ALL {
            let mut state = ParserState::new();
            let mut out = Vec::new();
            // The bad byte is the 7th character, after the two bytes of `ü`.
            let e = parse_line(format, b"x{a=\"\xc3\xbc\xff\"} 1", 4, &mut state, &mut out)
                .unwrap_err();
            assert_eq!(e.kind, ErrorKind::InvalidUtf8, "{format}");
            assert_eq!((e.line, e.column), (4, Some(7)), "{format}");
            assert_eq!(e.to_string(), "line 4: the line is not valid UTF-8");
            let e = parse_line(format, b"\xff", 5, &mut state, &mut out).unwrap_err();
            assert_eq!(e.column, Some(1));
            // A cut sequence at the end of the line.
            let e = parse_line(format, b"up 1 \xe2\x82\n", 6, &mut state, &mut out).unwrap_err();
            assert_eq!(e.column, Some(6));
            assert!(out.is_empty());
            // Bad lines count: the end of the input is after them.
            if format == Format::OpenMetrics {
                assert_eq!(finish(format, &state).unwrap_err().line, 7);
            }
        }
    }

    #[test]
    fn a_failed_line_pushes_nothing() {
        let mut state = ParserState::new();
        let mut out = vec![];
        parse_line(Format::Influx, b"m a=1,b=2", 1, &mut state, &mut out).unwrap();
        assert_eq!(out.len(), 2);
        // The first field is fine, the second is a string: nothing of the line is kept.
        let e = parse_line(Format::Influx, b"m a=1,b=\"x\"", 2, &mut state, &mut out).unwrap_err();
        assert_eq!(e.line, 2);
        assert_eq!(out.len(), 2);
        // Nor of a line whose second field has a bad value.
        parse_line(Format::Influx, b"m a=1,b=x", 3, &mut state, &mut out).unwrap_err();
        assert_eq!(out.len(), 2);
    }

    fn key(s: &Sample) -> (String, u64, Option<i64>) {
        (s.labels.to_string(), s.value.to_bits(), s.timestamp_ms)
    }

    #[test]
    fn prometheus_fixture() {
        let (samples, errors) = parse_all(Format::PromText, PROM);
        assert_eq!(errors, vec![]);
        assert_eq!(samples.len(), 15);
        let k: Vec<_> = samples.iter().map(key).collect();
        assert_eq!(
            k[0],
            (
                r#"{__name__="http_requests_total", code="200", method="post"}"#.into(),
                1027f64.to_bits(),
                Some(1_395_066_363_000)
            )
        );
        let s = &samples[2];
        assert_eq!(s.labels.get("path"), Some(r"C:\DIR\FILE.TXT"));
        assert_eq!(
            s.labels.get("error"),
            Some("Cannot find file:\n\"FILE.TXT\"")
        );
        assert_eq!(s.value, 1.458255915e9);
        assert_eq!(s.timestamp_ms, None);
        assert_eq!(samples[4].value, f64::INFINITY);
        assert_eq!(samples[4].timestamp_ms, Some(-3_982_045));
        assert_eq!(
            samples[5].labels.metric_name(),
            Some("job:request_latency_seconds:rate5m")
        );
        assert!(samples[5].value.is_nan());
        assert_eq!(samples[6].value, f64::NEG_INFINITY);
        assert_eq!(
            samples[14].labels.metric_name(),
            Some("http_request_duration_seconds_count")
        );
        assert_eq!(detect(PROM.as_bytes()), Format::PromText);
    }

    #[test]
    fn openmetrics_fixture() {
        let (samples, errors) = parse_all(Format::OpenMetrics, OM);
        assert_eq!(errors, vec![]);
        assert_eq!(samples.len(), 16);
        assert_eq!(samples[0].timestamp_ms, Some(1_700_000_000_123));
        assert_eq!(samples[0].value, 9036.32);
        assert_eq!(
            samples[2].labels.metric_name(),
            Some("acme_http_router_request_seconds_created")
        );
        assert_eq!(
            samples[4].labels.metric_name(),
            Some("process_cpu_seconds_total")
        );
        assert_eq!(samples[4].timestamp_ms, Some(1_700_000_000_000));
        // Exemplars skipped, their labels not taken.
        assert_eq!(
            samples[7].labels.to_string(),
            r#"{__name__="foo_bucket", le="0.1"}"#
        );
        assert_eq!(samples[9].timestamp_ms, Some(1_700_000_000_500));
        assert_eq!(
            samples[13].labels.get("label"),
            Some("a \"quoted\" \\ value\nwith a newline")
        );
        assert!(samples[13].value.is_nan());
        assert_eq!(samples[14].timestamp_ms, Some(-1));
        assert_eq!(detect(OM.as_bytes()), Format::OpenMetrics);

        // Without its `# EOF`, the input is incomplete.
        let cut = OM.strip_suffix("# EOF\n").unwrap();
        let (samples, errors) = parse_all(Format::OpenMetrics, cut);
        assert_eq!(samples.len(), 16);
        assert_eq!(errors.len(), 1);
        assert_eq!(errors[0].line, cut.lines().count() + 1);
    }

    #[test]
    fn influx_fixture() {
        let (samples, errors) = parse_all(Format::Influx, LP);
        assert_eq!(errors, vec![]);
        let k: Vec<_> = samples
            .iter()
            .map(|s| (s.labels.to_string(), s.value, s.timestamp_ms))
            .collect();
        let t0 = Some(1_700_000_000_000);
        let t1 = Some(1_700_000_000_123);
        let t2 = Some(1_700_000_000_999);
        let cpu1 = r#"host="server01", region="us-west"}"#;
        let cpu2 = r#"host="server02", region="us-west"}"#;
        let disk = r#"device="sda,1", mount_point="/mnt=data"}"#;
        assert_eq!(
            k,
            [
                (format!(r#"{{__name__="cpu_usage_idle", {cpu1}"#), 92.5, t0),
                (format!(r#"{{__name__="cpu_usage_user", {cpu1}"#), 3.25, t0),
                (
                    format!(r#"{{__name__="cpu_usage_system", {cpu1}"#),
                    10.0,
                    t0
                ),
                (format!(r#"{{__name__="cpu_usage_idle", {cpu2}"#), 88.0, t1),
                (format!(r#"{{__name__="cpu_cores", {cpu2}"#), 16.0, t1),
                (
                    r#"{__name__="mem_free", host="server01"}"#.into(),
                    1073741824.0,
                    t0
                ),
                (
                    r#"{__name__="mem_swap_on", host="server01"}"#.into(),
                    1.0,
                    t0
                ),
                (r#"{__name__="mem_low", host="server01"}"#.into(), 0.0, t0),
                (
                    format!(r#"{{__name__="disk_io_read_bytes", {disk}"#),
                    1500.0,
                    t2
                ),
                (format!(r#"{{__name__="disk_io_writes", {disk}"#), -7.0, t2),
                (r#"{__name__="weather_temperature"}"#.into(), -3.5, None),
                (r#"{__name__="weather_humidity"}"#.into(), 0.82, None),
            ]
        );
        assert_eq!(detect(LP.as_bytes()), Format::Influx);
    }

    /// The promtool golden input of `tsdb-chunks`: every sample as Prometheus reads it.
    #[test]
    fn promtool_golden_input() {
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../testdata/chunks/input.om"
        );
        let text = std::fs::read_to_string(path).expect(path);
        assert_eq!(detect(&text.as_bytes()[..4096]), Format::OpenMetrics);
        let (samples, errors) = parse_all(Format::OpenMetrics, &text);
        assert_eq!(errors, vec![]);
        assert_eq!(samples.len(), 54_982);
        let series: std::collections::HashSet<_> = samples.iter().map(|s| &s.labels).collect();
        assert_eq!(series.len(), 137);
        // Same values and timestamps as Prometheus's `int64(float(ts) * 1000)`.
        let lines = text.lines().filter(|l| !l.starts_with('#'));
        for (s, line) in samples.iter().zip(lines) {
            let mut w = line.split(' ');
            let (_, v, ts) = (w.next(), w.next().unwrap(), w.next().unwrap());
            let v: f64 = v.parse().unwrap();
            assert!(s.value.to_bits() == v.to_bits() || (v.is_nan() && s.value.is_nan()));
            let ms = (ts.parse::<f64>().unwrap() * 1000.0) as i64;
            assert_eq!(s.timestamp_ms, Some(ms), "{line}");
        }
    }

    /// A small deterministic generator (SplitMix64) for the property tests below.
    struct Rng(u64);

    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
            let mut z = self.0;
            z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
            z ^ (z >> 31)
        }

        fn below(&mut self, n: usize) -> usize {
            (self.next() % n as u64) as usize
        }

        fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
            &items[self.below(items.len())]
        }

        fn string(&mut self, first: &[char], rest: &[char], max_len: usize) -> String {
            let len = self.below(max_len);
            let mut s = String::new();
            if !first.is_empty() {
                s.push(*self.pick(first));
            }
            for _ in 0..len {
                s.push(*self.pick(rest));
            }
            s
        }

        fn blanks(&mut self, min: usize) -> &'static str {
            let b = ["", " ", "\t", "  ", " \t "];
            if min == 0 {
                self.pick::<&str>(&b)
            } else {
                self.pick::<&str>(&b[1..])
            }
        }
    }

    fn chars(s: &str) -> Vec<char> {
        s.chars().collect()
    }

    fn random_value(rng: &mut Rng) -> f64 {
        match rng.below(6) {
            0 => f64::from_bits(rng.next()),
            1 => *rng.pick(&[
                f64::NAN,
                f64::INFINITY,
                f64::NEG_INFINITY,
                0.0,
                -0.0,
                f64::MAX,
                f64::MIN,
                f64::MIN_POSITIVE,
                5e-324,
                -5e-324,
            ]),
            2 => (rng.next() as i64 >> rng.below(64)) as f64,
            3 => (rng.next() % 100_000) as f64 / 100.0,
            _ => f64::from_bits(rng.next() >> 2) * if rng.below(2) == 0 { 1.0 } else { -1.0 },
        }
    }

    fn render_value(rng: &mut Rng, v: f64) -> String {
        if v.is_nan() {
            return rng.pick(&["NaN", "nan", "NAN"]).to_string();
        }
        if v.is_infinite() {
            let s = if v > 0.0 {
                rng.pick(&["+Inf", "Inf", "inf", "+infinity"])
            } else {
                rng.pick(&["-Inf", "-inf", "-Infinity"])
            };
            return s.to_string();
        }
        match rng.below(4) {
            0 => format!("{v:e}"),
            1 => format!("{v}"),
            2 => format!("{v:?}"),
            _ => format!("{v:E}"),
        }
    }

    fn escape(v: &str) -> String {
        v.replace('\\', r"\\")
            .replace('"', "\\\"")
            .replace('\n', r"\n")
    }

    /// A random valid sample, rendered in the Prometheus text format (OpenMetrics when `om`), with
    /// escapes in label values and random blanks, parses back to the same labels, value (bits; any
    /// NaN for NaN) and timestamp.
    fn round_trip(om: bool, seed: u64, cases: usize) {
        let name_first = chars("abcxyzABCXYZ_:");
        let name_rest = chars("abcxyzABCXYZ0189_:");
        let label_first = chars("abcxyzABCXYZ_");
        let label_rest = chars("abcxyzABCXYZ0189_");
        let value_chars = chars("aZ0 \\\"\n\t{}[],=#'üß🦀\\\\n\"\"");
        let mut rng = Rng(seed);
        for case in 0..cases {
            let name = rng.string(&name_first, &name_rest, 12);
            let mut pairs = vec![("__name__".to_string(), name.clone())];
            for _ in 0..rng.below(6) {
                let n = rng.string(&label_first, &label_rest, 8);
                if pairs.iter().any(|(m, _)| *m == n) {
                    continue;
                }
                let v = rng.string(&[], &value_chars, 10);
                pairs.push((n, v));
            }
            let value = random_value(&mut rng);
            let ts: Option<i64> = match rng.below(4) {
                0 => None,
                // OpenMetrics seconds go through a float: stay clear of the edge of the range.
                1 if om => Some(rng.next() as i64 >> 1),
                1 => Some(rng.next() as i64),
                2 => Some(rng.next() as i64 >> rng.below(64)),
                _ => Some(1_700_000_000_000 + rng.below(100_000_000) as i64),
            };

            // OpenMetrics: exactly one space between parts, none elsewhere.
            let blanks = |rng: &mut Rng, min: usize| match (om, min) {
                (true, 0) => "",
                (true, _) => " ",
                (false, _) => rng.blanks(min),
            };
            let mut line = String::from(blanks(&mut rng, 0));
            line.push_str(&name);
            if pairs.len() > 1 || rng.below(3) == 0 {
                line.push_str(blanks(&mut rng, 0));
                line.push('{');
                for (i, (n, v)) in pairs[1..].iter().enumerate() {
                    if i > 0 {
                        line.push(',');
                    }
                    line.push_str(blanks(&mut rng, 0));
                    line.push_str(n);
                    line.push_str(blanks(&mut rng, 0));
                    line.push('=');
                    line.push_str(blanks(&mut rng, 0));
                    line.push('"');
                    line.push_str(&escape(v));
                    line.push('"');
                    line.push_str(blanks(&mut rng, 0));
                }
                if !om && pairs.len() > 1 && rng.below(4) == 0 {
                    line.push(',');
                }
                line.push('}');
                line.push_str(blanks(&mut rng, usize::from(om)));
            } else {
                line.push_str(blanks(&mut rng, 1));
            }
            line.push_str(&render_value(&mut rng, value));
            let mut want_ts = ts;
            if let Some(ms) = ts {
                line.push_str(blanks(&mut rng, 1));
                if om {
                    let ms = i128::from(ms);
                    let sign = if ms < 0 { "-" } else { "" };
                    let (s, frac) = (ms.abs() / 1000, ms.abs() % 1000);
                    let seconds = format!("{sign}{s}.{frac:03}");
                    // What Prometheus makes of it: `int64(float(seconds) * 1000)`, which is the
                    // timestamp written only while floats hold it exactly.
                    let float_ms = (seconds.parse::<f64>().unwrap() * 1000.0) as i64;
                    if ms.abs() < 1 << 40 {
                        assert!((float_ms - ms as i64).abs() <= 1, "case {case}: {seconds}");
                    }
                    want_ts = Some(float_ms);
                    line.push_str(&seconds);
                } else {
                    line.push_str(&ms.to_string());
                }
            }
            line.push_str(blanks(&mut rng, 0));

            let format = if om {
                Format::OpenMetrics
            } else {
                Format::PromText
            };
            let got =
                parse_one(format, &line).unwrap_or_else(|e| panic!("case {case}: {line:?}: {e}"));
            assert_eq!(got.len(), 1, "case {case}: {line:?}");
            let got = &got[0];
            let want = Labels::new(pairs.iter().map(|(n, v)| (n.as_str(), v.as_str()))).unwrap();
            assert_eq!(got.labels, want, "case {case}: {line:?}");
            assert!(
                got.value.to_bits() == value.to_bits() || (value.is_nan() && got.value.is_nan()),
                "case {case}: {line:?}: {} != {}",
                got.value,
                value
            );
            assert_eq!(got.timestamp_ms, want_ts, "case {case}: {line:?}");
        }
    }

    #[test]
    fn prometheus_text_round_trip() {
        round_trip(false, 0x5eed_0001, 4000);
    }

    #[test]
    fn openmetrics_round_trip() {
        round_trip(true, 0x5eed_0002, 2000);
    }

    /// Mangled lines never panic, and a failed line pushes nothing.
    #[test]
    fn mangled_lines_never_panic() {
        let mut seeds: Vec<&str> = PROM.lines().chain(OM.lines()).chain(LP.lines()).collect();
        seeds.extend([
            r#"x{a="\\\"\n"} 0x1.8p3 -1"#,
            r#"m,t=\ü f="s\"" 1"#,
            "# TYPE x counter",
            "# EOF",
            "x 1 # {a=\"b\"} 1 1.5",
        ]);
        let alphabet = chars("{}\"\\=, \t#.e+-0123456789aiuptfxXPü🦀\r\n_:");
        let mut rng = Rng(0xbad_5eed);
        for format in Format::ALL {
            let mut state = ParserState::new();
            let mut out = Vec::new();
            for n in 0..6000 {
                let mut line: Vec<char> = rng.pick(&seeds).chars().collect();
                for _ in 0..1 + rng.below(4) {
                    let at = rng.below(line.len() + 1);
                    match rng.below(3) {
                        0 => line.insert(at, *rng.pick(&alphabet)),
                        1 if at < line.len() => {
                            line.remove(at);
                        }
                        _ if at < line.len() => line[at] = *rng.pick(&alphabet),
                        _ => {}
                    }
                }
                let mut line = String::from_iter(line).into_bytes();
                // Now and then a byte that breaks UTF-8.
                if rng.below(8) == 0 {
                    let at = rng.below(line.len() + 1);
                    line.insert(at, *rng.pick(&[0xff, 0x80, 0xc3]));
                }
                let before = out.len();
                if let Err(e) = parse_line(format, &line, n + 1, &mut state, &mut out) {
                    assert_eq!(out.len(), before, "{format}: {line:?}");
                    // Messages are sentences, never the debug form of the error.
                    let debug = format!("{:?}", e.kind);
                    let variant = debug.split(|c: char| !c.is_alphanumeric()).next();
                    let message = e.to_string();
                    assert!(
                        !message.contains(variant.unwrap_or_default()),
                        "{message} shows {debug}"
                    );
                }
                if state.eof_seen() {
                    state = ParserState::new();
                }
            }
            let _ = finish(format, &state);
        }
    }
}

//! The parsers against `promtool` (Prometheus 2.42) on tricky spellings of values and timestamps:
//! each side must accept and reject the same lines and, for OpenMetrics, store the same timestamps
//! and values.
//!
//! * OpenMetrics: `promtool tsdb create-blocks-from openmetrics` makes a block of the one-line input
//!   (or refuses it), `promtool tsdb dump` prints its sample.
//! * Prometheus text: `promtool check metrics` parses the input (it exits 1 on a parse error, 0 or 3
//!   with lint warnings otherwise).
//!
//! Needs `promtool` on PATH; without it each test prints a note and passes, unless
//! `TSDB_INTEROP=require`, which makes a missing promtool a failure.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use tsdb_textparse::{finish, parse_line, Format, ParseError, ParserState, Sample};

/// Value spellings: decimal forms, signs, exponents, special values, and what Prometheus refuses.
const VALUES: &[&str] = &[
    "1",
    "-1",
    "+1",
    "-0",
    "1.",
    ".5",
    "-.5e1",
    "1e3",
    "1E+3",
    "1.e3",
    "1e-3",
    "000012",
    "5e-324",
    "1e-400",
    "1.7976931348623157e308",
    "1e309",
    "-1e400",
    "0x1p3",
    "0X1P+2",
    "0x10",
    "0x",
    "1_0",
    "1_000.5",
    "1p3",
    "NaN",
    "nan",
    "NAN",
    "+nan",
    "-NaN",
    "Inf",
    "+Inf",
    "-Inf",
    "inf",
    "-inf",
    "infinity",
    "-Infinity",
    "+INFINITY",
    "infx",
    "in",
    "1f",
    "e3",
    ".",
    "1e",
    "1e+",
    "1.2.3",
    "--1",
    "+-1",
    "1,5",
];

/// OpenMetrics timestamp spellings (seconds), sub-millisecond ones included.
const SECONDS: &[&str] = &[
    "1700000000",
    "1700000000.123",
    "1700000000.9999",
    "1700000000.1235",
    "1700000000.123456789",
    "1699999230.970",
    "-0.0005",
    "-0.0015",
    "0.0005",
    "-1.5",
    "1.7e9",
    "17E8",
    "1.7000000001234e+9",
    ".5",
    "5.",
    "+5",
    "0010",
    "1e-20",
    "1e3",
    "0x1p3",
    "0x10",
    "1_0",
    "NaN",
    "Inf",
    "-Inf",
    "abc",
    "1.2.3",
];

/// Whole OpenMetrics inputs of one sample: spaces, blank lines, comments, label sets, metadata, the
/// end, as Prometheus's strict reading of the format has them.
const OM_INPUTS: &[&str] = &[
    "x 1 1700000000\n# EOF\n",
    "x 1 1700000000\n# EOF",
    "x 1 1700000000\n# EOF\n\n",
    "x 1 1700000000\n\n# EOF\n",
    "\nx 1 1700000000\n# EOF\n",
    "x  1 1700000000\n# EOF\n",
    "x 1  1700000000\n# EOF\n",
    "x\t1 1700000000\n# EOF\n",
    "x 1\t1700000000\n# EOF\n",
    "x 1 1700000000 \n# EOF\n",
    " x 1 1700000000\n# EOF\n",
    "# free comment\nx 1 1700000000\n# EOF\n",
    "#c\nx 1 1700000000\n# EOF\n",
    "x 1 1700000000\n# EOF \n",
    "x{a=\"b c\",d=\"\\n\"} 1 1700000000\n# EOF\n",
    "x{a=\"b\",} 1 1700000000\n# EOF\n",
    "x{a=\"b\", c=\"d\"} 1 1700000000\n# EOF\n",
    "x{ a=\"b\"} 1 1700000000\n# EOF\n",
    "x{a = \"b\"} 1 1700000000\n# EOF\n",
    "x{a=\"b\"}1 1700000000\n# EOF\n",
    "x {a=\"b\"} 1 1700000000\n# EOF\n",
    "x{} 1 1700000000\n# EOF\n",
    "# TYPE x gauge\nx 1 1700000000\n# EOF\n",
    "# TYPE x  gauge\nx 1 1700000000\n# EOF\n",
    "# TYPE x gauge \nx 1 1700000000\n# EOF\n",
    "# TYPE x untyped\nx 1 1700000000\n# EOF\n",
    "# TYPE x\nx 1 1700000000\n# EOF\n",
    "# HELP x some help\nx 1 1700000000\n# EOF\n",
    "# HELP x \nx 1 1700000000\n# EOF\n",
    "# HELP x\nx 1 1700000000\n# EOF\n",
    "# UNIT x_seconds seconds\nx_seconds 1 1700000000\n# EOF\n",
    "# UNIT x seconds\nx 1 1700000000\n# EOF\n",
    "# UNIT x_seconds \nx_seconds 1 1700000000\n# EOF\n",
    "x_total 1 1700000000 # {a=\"b\"} 1\n# EOF\n",
    "x_total 1 1700000000 #  {a=\"b\"} 1\n# EOF\n",
    "x_total 1 1700000000 # {a=\"b\"}  1\n# EOF\n",
    "x_total 1 1700000000 # {a=\"b\"} 1 \n# EOF\n",
    "x_total 1 1700000000 #{a=\"b\"} 1\n# EOF\n",
    "x_total 1 1700000000  # {a=\"b\"} 1\n# EOF\n",
    "x_total 1 1700000000 # {a=\"b\",} 1\n# EOF\n",
];

/// Whole Prometheus text inputs: blanks, blank lines, comments, label sets. (Not here: blanks at the
/// end of a sample line, which the format's documentation and Prometheus's scrape parser allow and
/// `promtool check metrics` refuses; we allow them.)
const PROM_INPUTS: &[&str] = &[
    "x  1\n",
    "x\t1\n",
    " x 1\n",
    "x{ a=\"b\" } 1\n",
    "x{a = \"b\"} 1\n",
    "x{a=\"b\",} 1\n",
    "x {a=\"b\"} 1\n",
    "x{a=\"b\"}1\n",
    "x{a=\"b\"}  1\n",
    "\n\nx 1\n",
    "#c\nx 1\n",
    "# TYPE x gauge\nx 1\n",
    "x 1\t1\n",
    "x 1 1 # {a=\"b\"} 1\n",
    "x{a=\"b\",,} 1\n",
];

/// Prometheus text timestamp spellings (milliseconds).
const MILLISECONDS: &[&str] = &[
    "0",
    "-1",
    "+7",
    "007",
    "1700000000000",
    "9223372036854775807",
    "-9223372036854775808",
    "9223372036854775808",
    "-9223372036854775809",
    "1.5",
    "1e3",
    "0x10",
    "1_0",
    "abc",
];

/// `promtool` if it is on PATH. When it is missing: panics under `TSDB_INTEROP=require`, else prints
/// a note and returns `None` (the test then passes without checking).
fn promtool(test: &str) -> Option<PathBuf> {
    let found = std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|p| p.join("promtool"))
            .find(|p| p.is_file())
    });
    if found.is_none() {
        if std::env::var("TSDB_INTEROP").as_deref() == Ok("require") {
            panic!("{test}: promtool is not on PATH and TSDB_INTEROP=require");
        }
        eprintln!(
            "{test}: skipped, promtool is not on PATH (set TSDB_INTEROP=require to fail instead)"
        );
    }
    found
}

/// Parses a whole input: its samples, or its first error.
fn ours(format: Format, text: &str) -> Result<Vec<Sample>, ParseError> {
    let mut state = ParserState::new();
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        parse_line(format, line.as_bytes(), i + 1, &mut state, &mut out)?;
    }
    finish(format, &state)?;
    Ok(out)
}

/// What promtool makes of a one-sample OpenMetrics input.
#[derive(Debug, Clone, Copy)]
enum Promtool {
    /// It refuses the input.
    Refuses,
    /// It stores the sample: its value and timestamp.
    Stores(f64, i64),
    /// It accepts the input but stores nothing: promtool 2.42 aligns the first block's start by
    /// truncating division, which drops samples before the epoch.
    Drops,
}

fn promtool_om_sample(promtool: &Path, dir: &Path, text: &str) -> Promtool {
    let input = dir.join("in.om");
    let out = dir.join("blocks");
    let _ = std::fs::remove_dir_all(&out);
    std::fs::write(&input, text).unwrap();
    let o = Command::new(promtool)
        .args(["tsdb", "create-blocks-from", "openmetrics"])
        .arg(&input)
        .arg(&out)
        .output()
        .expect("run promtool");
    if !o.status.success() {
        return Promtool::Refuses;
    }
    std::fs::create_dir_all(out.join("wal")).unwrap();
    let o = Command::new(promtool)
        .args(["tsdb", "dump"])
        .arg(&out)
        .output()
        .expect("run promtool");
    assert!(
        o.status.success(),
        "promtool tsdb dump: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    let dump = String::from_utf8(o.stdout).unwrap();
    let lines: Vec<&str> = dump.lines().collect();
    if lines.is_empty() {
        return Promtool::Drops;
    }
    assert_eq!(lines.len(), 1, "{text:?}: {dump}");
    // `{__name__="x..."} VALUE TIMESTAMP`
    let mut w = lines[0].rsplitn(3, ' ');
    let (ts, value) = (w.next().unwrap(), w.next().unwrap());
    let value = match value {
        "+Inf" => f64::INFINITY,
        "-Inf" => f64::NEG_INFINITY,
        "NaN" => f64::NAN,
        v => v.parse().unwrap_or_else(|_| panic!("dump value {v:?}")),
    };
    Promtool::Stores(value, ts.parse().unwrap())
}

/// Whether `promtool check metrics` parses a Prometheus text input (lint warnings aside).
fn promtool_checks(promtool: &Path, text: &str) -> bool {
    let mut child = Command::new(promtool)
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run promtool");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    let o = child.wait_with_output().unwrap();
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    match o.status.code() {
        Some(0 | 3) => true,
        Some(1) if said.contains("parsing error") => false,
        other => panic!("promtool check metrics {text:?}: status {other:?}: {said}"),
    }
}

fn same_value(a: f64, b: f64) -> bool {
    a.to_bits() == b.to_bits() || (a.is_nan() && b.is_nan())
}

#[test]
fn openmetrics_values_and_timestamps_as_promtool_stores_them() {
    let Some(pt) = promtool("openmetrics_values_and_timestamps_as_promtool_stores_them") else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let cases = VALUES
        .iter()
        .map(|v| (*v, "1700000000"))
        .chain(SECONDS.iter().map(|t| ("1", *t)))
        .map(|(v, t)| format!("x {v} {t}\n# EOF\n"))
        // Exemplars: their value and timestamp are read as the sample's; only counters' and
        // histogram buckets' samples may have one.
        .chain(
            ["1", "0x1p3", "1_0", "+Inf", "nan"]
                .iter()
                .map(|v| format!("x_total 1 1700000000 # {{a=\"b\"}} {v} 1700000000\n# EOF\n")),
        )
        .chain(
            ["1700000000.5", "0x1p3", "NaN", "1_0"]
                .iter()
                .map(|t| format!("x_bucket 1 1700000000 # {{a=\"b\"}} 1 {t}\n# EOF\n")),
        )
        .chain(
            ["x", "x_created", "x_sum"]
                .iter()
                .map(|name| format!("{name} 1 1700000000 # {{a=\"b\"}} 1 1700000000\n# EOF\n")),
        )
        .chain(OM_INPUTS.iter().map(|s| s.to_string()));
    let mut differences = Vec::new();
    for text in cases {
        let theirs = promtool_om_sample(&pt, tmp.path(), &text);
        let mine = ours(Format::OpenMetrics, &text);
        let agree = match (&mine, theirs) {
            (Ok(s), Promtool::Stores(v, t)) => {
                s.len() == 1 && same_value(s[0].value, v) && s[0].timestamp_ms == Some(t)
            }
            (Ok(s), Promtool::Drops) => s.len() == 1 && s[0].timestamp_ms < Some(0),
            (Err(_), Promtool::Refuses) => true,
            _ => false,
        };
        if !agree {
            differences.push(format!("{text:?}: ours {mine:?}, promtool {theirs:?}"));
        }
    }
    assert!(differences.is_empty(), "{}", differences.join("\n"));
}

#[test]
fn prometheus_text_values_and_timestamps_as_promtool_reads_them() {
    let Some(pt) = promtool("prometheus_text_values_and_timestamps_as_promtool_reads_them") else {
        return;
    };
    let cases = VALUES
        .iter()
        .map(|v| format!("x {v}\n"))
        .chain(
            VALUES
                .iter()
                .map(|v| format!("x{{a=\"b\"}} {v} 1700000000000\n")),
        )
        .chain(MILLISECONDS.iter().map(|t| format!("x 1 {t}\n")))
        .chain(PROM_INPUTS.iter().map(|s| s.to_string()));
    let mut differences = Vec::new();
    for text in cases {
        let theirs = promtool_checks(&pt, &text);
        let mine = ours(Format::PromText, &text);
        if mine.is_ok() != theirs {
            differences.push(format!(
                "{text:?}: ours {mine:?}, promtool accepts: {theirs}"
            ));
        }
    }
    assert!(differences.is_empty(), "{}", differences.join("\n"));
}

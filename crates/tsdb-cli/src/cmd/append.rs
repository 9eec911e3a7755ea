//! `tsdb-cli append`: samples from a file or stdin into a database.
//!
//! The input is read line by line (streamed: any size), parsed in its format, and appended in batches of
//! `--batch` samples, one commit each. A line that does not parse is reported (file, line, column,
//! reason) and skipped; so is a sample the database refuses, unless the database already holds exactly
//! that sample (same series, timestamp and value): appending the same file twice appends nothing the
//! second time and succeeds.

use std::collections::HashMap;
use std::fmt;
use std::fs::File;
use std::io::{self, BufRead, BufReader, IsTerminal, Read, Write};
use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::Args;
use tsdb::{AppendError, Appender, Db};
use tsdb_labels::{Labels, Matcher};

use tsdb_textparse::{self as parse, Format, ParserState, Sample};

use crate::error::{BadLine, CliError};
use crate::open::{open_db_create, ForwardArgs, WriteArgs};
use crate::output;
use crate::progress::Progress;
use crate::timefmt::{now_ms, parse_time};

/// How many problems of each kind are printed before the rest are only counted.
const SHOWN: usize = 100;

/// Bytes read to detect the format.
const DETECT_BYTES: u64 = 64 * 1024;

/// Arguments of `append`.
#[derive(Debug, Args)]
#[command(
    long_about = "Append samples from a file or stdin to a database.\n\n\
        Formats (detected from the first lines unless --format is given):\n  \
        prometheus   the Prometheus text exposition format 0.0.4: `name{label=\"v\"} value [ms]`\n  \
        openmetrics  OpenMetrics text 1.0: timestamps in seconds, `# EOF` at the end\n  \
        influx       InfluxDB line protocol: `measurement,tag=v field=1,other=2i [ns]`; each field \
        becomes the series `measurement_field{tags}`; integers, floats and booleans are numbers, \
        string fields are rejected\n\n\
        Lines without a timestamp get --timestamp (default: now, the same for the whole input). \
        Samples are committed in batches (--batch); each commit is in the WAL before the next begins. \
        The data directory is created if needed and locked before any input is read. As in a running \
        database, the head is persisted as blocks in the background when it spans more than 3 h.\n\n\
        A line that does not parse is reported on stderr as FILE:LINE:COLUMN: REASON and skipped. A \
        sample the database refuses (out of order, a different value for a stored timestamp, or more \
        than an hour older than the newest sample — a live database is not for backfilling: see \
        `import openmetrics`) is reported as FILE:LINE: REASON, unless the database already holds that \
        very sample: appending the same input again is harmless. The summary goes to stdout as `key: \
        value` lines. Exit status 3 if any line or sample was rejected (the rest is appended).",
    after_help = "Examples:\n  \
        tsdb-cli append --data-dir data metrics.prom\n  \
        curl -s http://localhost:9100/metrics | tsdb-cli append --data-dir data\n  \
        tsdb-cli append --data-dir data --format influx --timestamp 2023-11-14T22:13:20Z points.lp\n  \
        tsdb-cli append --data-dir data --wal-mode prometheus --sync always metrics.prom"
)]
pub struct AppendArgs {
    /// The data directory (created if needed).
    #[arg(long, short = 'd', default_value = "data", value_name = "DIR")]
    pub data_dir: PathBuf,

    /// Input format: prometheus (or text), openmetrics, influx. Default: detected.
    #[arg(long, short = 'f', value_parser = parse_format, value_name = "FORMAT")]
    pub format: Option<Format>,

    /// Timestamp of samples whose line has none: Unix ms or RFC 3339. Default: now.
    #[arg(long, short = 't', value_parser = parse_time, allow_hyphen_values = true, value_name = "TIME")]
    pub timestamp: Option<i64>,

    /// Samples per commit.
    #[arg(long, default_value_t = 10_000, value_parser = clap::value_parser!(u32).range(1..), value_name = "N")]
    pub batch: u32,

    #[command(flatten)]
    pub write: WriteArgs,

    #[command(flatten)]
    pub forward: ForwardArgs,

    /// The input file; `-` (the default) reads stdin.
    #[arg(value_name = "FILE", default_value = "-")]
    pub input: PathBuf,
}

fn parse_format(s: &str) -> Result<Format, String> {
    s.parse().map_err(|e: parse::UnknownFormat| e.to_string())
}

/// A sample the database refused at append time, kept to check whether the database holds it already.
struct Refused {
    /// Order of appearance in the input.
    seq: u64,
    line: usize,
    t: i64,
    v: f64,
    error: AppendError,
}

/// Counters of one run.
#[derive(Default)]
struct Totals {
    lines: usize,
    samples: u64,
    appended: u64,
    already: u64,
    rejected: u64,
    bad_lines: usize,
    out_of_bounds: bool,
    commits: u64,
    new_series: u64,
    min_t: Option<i64>,
    max_t: Option<i64>,
}

/// Reports problems on stderr, the first [`SHOWN`] of each kind.
struct Problems<'a> {
    input: &'a str,
    bad_shown: usize,
    rejected_shown: usize,
}

impl Problems<'_> {
    fn bad_line(&mut self, e: &BadLine) {
        self.bad_shown += 1;
        if self.bad_shown <= SHOWN {
            match e.column {
                Some(c) => eprintln!("{}:{}:{c}: {}", self.input, e.line, e.reason),
                None => eprintln!("{}:{}: {}", self.input, e.line, e.reason),
            }
        }
    }

    fn rejected(&mut self, line: usize, reason: impl fmt::Display) {
        self.rejected_shown += 1;
        if self.rejected_shown <= SHOWN {
            eprintln!("{}:{line}: {reason}", self.input);
        }
    }

    fn summary(&self) {
        if self.bad_shown > SHOWN {
            eprintln!("... {} more bad lines not shown", self.bad_shown - SHOWN);
        }
        if self.rejected_shown > SHOWN {
            eprintln!(
                "... {} more rejected samples not shown",
                self.rejected_shown - SHOWN
            );
        }
    }
}

/// Opens the input: a file, or stdin for `-`. A missing file is a usage error.
fn open_input(path: &PathBuf) -> Result<(Box<dyn Read>, Option<u64>, String)> {
    if path.as_os_str() == "-" {
        if io::stdin().is_terminal() {
            eprintln!("reading samples from stdin (end with Ctrl-D; give a FILE to read a file)");
        }
        return Ok((Box::new(io::stdin().lock()), None, "<stdin>".into()));
    }
    let name = path.display().to_string();
    let f = File::open(path).map_err(|e| match e.kind() {
        io::ErrorKind::NotFound => CliError::usage(format!("{name}: no such file")),
        _ => CliError::usage(format!("{name}: {e}")),
    })?;
    let md = f.metadata().with_context(|| format!("stat {name}"))?;
    if md.is_dir() {
        return Err(CliError::usage(format!("{name}: is a directory, not an input file")).into());
    }
    Ok((Box::new(f), Some(md.len()), name))
}

/// Runs `append`.
pub fn run(args: &AppendArgs) -> Result<()> {
    let (mut input, size, name) = open_input(&args.input)?;
    // Take the database (creating the directory, holding its lock) before any input is read: a second
    // writer started meanwhile then fails at once, instead of this command failing after it consumed its
    // input. As a running database, the head is persisted as blocks in the background while a long
    // input streams in.
    let mut opts = tsdb::Options {
        background: true,
        ..args.write.options(&args.data_dir)
    };
    // A one-shot command: closing waits (up to 10 minutes) until the destinations acknowledged the input.
    args.forward
        .apply(&mut opts, std::time::Duration::from_secs(600))?;
    let db = open_db_create(&args.data_dir, opts)?;
    let mut head = Vec::new();
    let (format, detected) = match args.format {
        Some(f) => (f, false),
        None => {
            (&mut input)
                .take(DETECT_BYTES)
                .read_to_end(&mut head)
                .with_context(|| format!("read {name}"))?;
            (parse::detect(&head), true)
        }
    };
    let reader = BufReader::with_capacity(256 * 1024, io::Cursor::new(head).chain(input));
    let default_t = args.timestamp.unwrap_or_else(now_ms);

    let mut totals = Totals {
        new_series: db.head().metrics().series_created,
        ..Totals::default()
    };
    let mut problems = Problems {
        input: &name,
        bad_shown: 0,
        rejected_shown: 0,
    };
    let mut refused: HashMap<Labels, Vec<Refused>> = HashMap::new();
    let result = ingest(
        args,
        reader,
        format,
        default_t,
        size,
        &db,
        &mut totals,
        &mut problems,
        &mut refused,
    );
    if let Err(e) = result {
        let _ = db.close();
        return Err(e);
    }
    settle_refused(&db, refused, &mut totals, &mut problems)?;
    totals.new_series = db.head().metrics().series_created - totals.new_series;
    db.close()
        .with_context(|| format!("close the database in {}", args.data_dir.display()))?;
    problems.summary();

    let mut out = output::stdout();
    let time = |t: Option<i64>| t.map_or_else(|| "-".to_string(), |t| t.to_string());
    writeln!(out, "input: {name}")?;
    let how = if detected { "detected" } else { "given" };
    writeln!(out, "format: {format} ({how})")?;
    writeln!(out, "lines: {}", totals.lines)?;
    writeln!(out, "samples appended: {}", totals.appended)?;
    writeln!(out, "samples already stored: {}", totals.already)?;
    writeln!(out, "samples rejected: {}", totals.rejected)?;
    writeln!(out, "bad lines: {}", totals.bad_lines)?;
    writeln!(out, "new series: {}", totals.new_series)?;
    writeln!(out, "min time: {}", time(totals.min_t))?;
    writeln!(out, "max time: {}", time(totals.max_t))?;
    writeln!(out, "commits: {}", totals.commits)?;
    out.flush()?;

    if totals.bad_lines > 0 || totals.rejected > 0 {
        let plural = |n: u64, one: &str| {
            if n == 1 {
                format!("{n} {one}")
            } else {
                format!("{n} {one}s")
            }
        };
        let mut e = CliError::rejected(format!(
            "{name}: {} and {}; the rest of the input was appended",
            plural(totals.bad_lines as u64, "bad line"),
            plural(totals.rejected, "rejected sample"),
        ));
        if totals.out_of_bounds {
            e = e.with_hint(
                "a live database takes only samples newer than its blocks and at most an hour \
                 older than its newest sample; `tsdb-cli import openmetrics` makes blocks from \
                 older data",
            );
        }
        return Err(e.into());
    }
    Ok(())
}

/// Reads, parses and appends the whole input into `db`.
#[allow(clippy::too_many_arguments)]
fn ingest<'a>(
    args: &AppendArgs,
    mut reader: impl BufRead,
    format: Format,
    default_t: i64,
    size: Option<u64>,
    db: &'a Db,
    totals: &mut Totals,
    problems: &mut Problems<'_>,
    refused: &mut HashMap<Labels, Vec<Refused>>,
) -> Result<()> {
    let mut state = ParserState::new();
    let mut samples: Vec<Sample> = Vec::new();
    let mut buf: Vec<u8> = Vec::new();
    let mut app: Option<Appender<'a>> = None;
    let mut pending = 0u32;
    let mut read_bytes = 0u64;
    let mut progress = Progress::new("append");
    loop {
        buf.clear();
        let n = reader
            .read_until(b'\n', &mut buf)
            .with_context(|| format!("read {}", problems.input))?;
        if n == 0 {
            break;
        }
        read_bytes += n as u64;
        totals.lines += 1;
        let line_no = totals.lines;
        samples.clear();
        if let Err(e) = parse::parse_line(format, &buf, line_no, &mut state, &mut samples) {
            progress.finish();
            totals.bad_lines += 1;
            problems.bad_line(&e.into());
            continue;
        }
        let mut line_bad = false;
        for s in samples.drain(..) {
            totals.samples += 1;
            let t = s.timestamp_ms.unwrap_or(default_t);
            if app.is_none() {
                app = Some(db.appender());
            }
            let Some(a) = app.as_mut() else { continue };
            match a.append(&s.labels, t, s.value) {
                Ok(_) => {
                    pending += 1;
                    totals.min_t = Some(totals.min_t.map_or(t, |m| m.min(t)));
                    totals.max_t = Some(totals.max_t.map_or(t, |m| m.max(t)));
                }
                Err(e @ AppendError::InvalidLabels { .. }) => {
                    if !line_bad {
                        line_bad = true;
                        progress.finish();
                        totals.bad_lines += 1;
                        problems.bad_line(&BadLine {
                            line: line_no,
                            column: None,
                            reason: e.to_string(),
                        });
                    }
                }
                Err(e @ (AppendError::OutOfOrder { .. } | AppendError::OutOfBounds { .. })) => {
                    refused.entry(s.labels).or_default().push(Refused {
                        seq: totals.samples,
                        line: line_no,
                        t,
                        v: s.value,
                        error: e,
                    });
                }
                Err(e) => {
                    progress.finish();
                    totals.rejected += 1;
                    problems.rejected(line_no, e);
                }
            }
            if pending >= args.batch {
                if let Some(a) = app.take() {
                    commit(a, pending, totals, problems)?;
                }
                pending = 0;
            }
        }
        progress.update(|| match size {
            Some(size) if size > 0 => format!(
                "{:.0}% of {}, {} lines, {} samples",
                read_bytes as f64 * 100.0 / size as f64,
                problems.input,
                totals.lines,
                totals.samples
            ),
            _ => format!("{} lines, {} samples", totals.lines, totals.samples),
        });
    }
    progress.finish();
    if let Err(e) = parse::finish(format, &state) {
        totals.bad_lines += 1;
        problems.bad_line(&e.into());
    }
    if let Some(a) = app.take() {
        commit(a, pending, totals, problems)?;
    }
    Ok(())
}

/// Commits a batch of `accepted` samples (those `append` took).
fn commit(
    app: Appender<'_>,
    accepted: u32,
    totals: &mut Totals,
    problems: &mut Problems<'_>,
) -> Result<()> {
    let stats = if app.is_empty() {
        app.rollback();
        tsdb::CommitStats::default()
    } else {
        let stats = app.commit().with_context(|| {
            format!(
                "commit to the WAL failed after {} samples were appended",
                totals.appended
            )
        })?;
        totals.commits += 1;
        stats
    };
    totals.appended += stats.samples;
    // Samples the database held already (same timestamp and value) are accepted and not stored again.
    totals.already += u64::from(accepted).saturating_sub(stats.samples + stats.rejected);
    if stats.rejected > 0 {
        // Only a concurrent writer to the same series makes a commit refuse samples it accepted.
        totals.rejected += stats.rejected;
        problems.rejected_shown += 1;
        eprintln!(
            "{}: {} samples of the commit ending before line {} were refused: another writer \
             appended newer samples to their series meanwhile",
            problems.input, stats.rejected, totals.lines
        );
    }
    Ok(())
}

fn same_value(a: f64, b: f64) -> bool {
    a.to_bits() == b.to_bits() || (a.is_nan() && b.is_nan())
}

/// Sorts the refused samples into those the database already holds (same timestamp, same value) and
/// those truly rejected, which are reported.
fn settle_refused(
    db: &Db,
    refused: HashMap<Labels, Vec<Refused>>,
    totals: &mut Totals,
    problems: &mut Problems<'_>,
) -> Result<()> {
    let mut rejected: Vec<Refused> = Vec::new();
    for (labels, rs) in refused {
        let (lo, hi) = rs.iter().fold((i64::MAX, i64::MIN), |(lo, hi), r| {
            (lo.min(r.t), hi.max(r.t))
        });
        let matchers: Vec<Matcher> = labels.iter().map(|(n, v)| Matcher::equal(n, v)).collect();
        let mut stored = Vec::new();
        let q = db.querier(lo, hi);
        for s in q.select(&matchers).context("look up refused samples")? {
            let s = s.context("look up refused samples")?;
            if *s.labels() == labels {
                s.samples_into(&mut stored)
                    .context("look up refused samples")?;
                break;
            }
        }
        for r in rs {
            let held = stored
                .binary_search_by_key(&r.t, |s| s.0)
                .is_ok_and(|i| same_value(stored[i].1, r.v));
            if held {
                totals.already += 1;
            } else {
                rejected.push(r);
            }
        }
    }
    rejected.sort_by_key(|r| r.seq);
    for r in rejected {
        totals.rejected += 1;
        totals.out_of_bounds |= matches!(r.error, AppendError::OutOfBounds { .. });
        problems.rejected(r.line, &r.error);
    }
    Ok(())
}

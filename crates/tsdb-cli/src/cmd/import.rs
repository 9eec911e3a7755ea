//! `tsdb-cli import openmetrics`: blocks from an OpenMetrics file (backfill), as `promtool tsdb
//! create-blocks-from openmetrics` makes them.
//!
//! The whole input is parsed and checked first; if any line is bad nothing is written. Samples are
//! then grouped into block-duration-aligned windows (2 h by default) and each window becomes one block
//! spanning its first to its last sample (+1 ms), chunked as promtool's block writer chunks them.

use std::collections::{BTreeMap, HashMap};
use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use clap::{Args, Subcommand};
use tsdb::block::{Block, BlockMeta, CutPolicy, WriteOptions, DEFAULT_BLOCK_RANGE};
use tsdb_labels::Labels;

use tsdb_textparse::{self as parse, Format, ParserState, Sample};

use crate::error::{BadLine, CliError};
use crate::output;
use crate::progress::Progress;
use crate::table;

/// How many bad lines are printed before the rest are only counted.
const SHOWN: usize = 100;

/// Commands that make blocks from files.
#[derive(Debug, Subcommand)]
pub enum ImportCommand {
    /// Make blocks from an OpenMetrics file, as `promtool tsdb create-blocks-from openmetrics` does.
    #[command(
        long_about = "Make blocks from an OpenMetrics file (backfill), as `promtool tsdb \
            create-blocks-from openmetrics` does.\n\n\
            Every sample needs a timestamp; the input must end with `# EOF`. Samples are grouped into \
            2 h windows aligned to the epoch (or --max-block-duration), one block per window holding \
            data, written into OUT_DIR (created if needed) and listed as `tsdb-cli ls` lists blocks. \
            Within a window a series' samples must come in time order; a timestamp repeated with the \
            same value is dropped, with another value it is an error.\n\n\
            The whole input is checked before anything is written: on any bad line (each reported as \
            FILE:LINE:COLUMN: REASON) nothing is written and the exit status is 2. Write into a \
            directory no running database uses, then move the blocks into the data directory while \
            the database is stopped.",
        after_help = "Examples:\n  \
            tsdb-cli import openmetrics backfill.om out/\n  \
            tsdb-cli import openmetrics -q backfill.om data/ && tsdb-cli ls --data-dir data"
    )]
    Openmetrics(ImportArgs),
}

/// Arguments of `import openmetrics`.
#[derive(Debug, Args)]
pub struct ImportArgs {
    /// The OpenMetrics file.
    #[arg(value_name = "FILE")]
    pub input: PathBuf,

    /// Where the blocks go (created if needed).
    #[arg(value_name = "OUT_DIR", default_value = "data")]
    pub out_dir: PathBuf,

    /// Print times as UTC dates and sizes in KiB, MiB, ...
    #[arg(long = "human-readable", short = 'r')]
    pub human: bool,

    /// Do not list the blocks written.
    #[arg(long, short = 'q')]
    pub quiet: bool,

    /// Longest block to make, e.g. 24h: the largest of 2h, 6h, 18h, 54h, ... not above it (less than 2h
    /// is ignored).
    #[arg(long, value_parser = parse_duration_ms, value_name = "DURATION")]
    pub max_block_duration: Option<i64>,
}

/// Runs an `import` command.
pub fn run(cmd: ImportCommand) -> Result<()> {
    match cmd {
        ImportCommand::Openmetrics(a) => openmetrics(&a),
    }
}

/// Parses a duration such as `2h`, `90m`, `1d12h`, `500ms` into milliseconds.
fn parse_duration_ms(s: &str) -> Result<i64, String> {
    let bad = || format!("{s:?} is not a duration (examples: 2h, 90m, 1d12h)");
    let mut total: i64 = 0;
    let mut rest = s.trim();
    if rest.is_empty() {
        return Err(bad());
    }
    while !rest.is_empty() {
        let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
        if digits == 0 {
            return Err(bad());
        }
        let n: i64 = rest[..digits].parse().map_err(|_| bad())?;
        rest = &rest[digits..];
        let unit_len = rest.bytes().take_while(u8::is_ascii_alphabetic).count();
        let ms = match &rest[..unit_len] {
            "ms" => 1,
            "s" => 1000,
            "m" => 60_000,
            "h" => 3_600_000,
            "d" => 86_400_000,
            "w" => 7 * 86_400_000,
            "y" => 365 * 86_400_000,
            _ => return Err(bad()),
        };
        rest = &rest[unit_len..];
        total = n
            .checked_mul(ms)
            .and_then(|x| total.checked_add(x))
            .ok_or_else(bad)?;
    }
    Ok(total)
}

/// promtool's block duration for a requested maximum: 2 h, or the largest of 2 h × 3ⁿ (n < 10) not above
/// the maximum.
fn block_duration(max: Option<i64>) -> i64 {
    let base = DEFAULT_BLOCK_RANGE;
    match max {
        Some(max) if max > base => {
            let ranges: Vec<i64> = (0..10).map(|i| base * 3i64.pow(i)).collect();
            let idx = ranges
                .iter()
                .position(|&r| r > max)
                .map_or(ranges.len() - 1, |i| i - 1);
            ranges[idx]
        }
        _ => base,
    }
}

/// One sample of the input with its line.
type Point = (i64, f64, usize);

/// A series and its samples.
type Series = (Labels, Vec<(i64, f64)>);

fn openmetrics(args: &ImportArgs) -> Result<()> {
    let name = args.input.display().to_string();
    let out_dir = &args.out_dir;
    if out_dir.exists() && !out_dir.is_dir() {
        return Err(CliError::usage(format!("{}: not a directory", out_dir.display())).into());
    }
    // A database directory's lock is held for the whole import, so no database opens it meanwhile.
    let _lock = match tsdb::DirLock::acquire_existing(out_dir) {
        Ok(l) => l,
        Err(tsdb::DbError::Locked { .. }) => {
            return Err(CliError::failure(format!(
            "{}: a running database has this directory open",
            out_dir.display()
        ))
        .with_hint(
            "import into another directory, then move the blocks in while the database is stopped",
        )
        .into());
        }
        Err(e) => return Err(e.into()),
    };
    let text = std::fs::read(&args.input).map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound => CliError::usage(format!("{name}: no such file")),
        _ => CliError::usage(format!("{name}: {e}")),
    })?;

    // 1. Parse and check everything.
    let mut errors = 0usize;
    let mut report = |e: &BadLine| {
        errors += 1;
        if errors <= SHOWN {
            match e.column {
                Some(c) => eprintln!("{name}:{}:{c}: {}", e.line, e.reason),
                None => eprintln!("{name}:{}: {}", e.line, e.reason),
            }
        }
    };
    let mut series: HashMap<Labels, Vec<Point>> = HashMap::new();
    let mut state = ParserState::new();
    let mut samples: Vec<Sample> = Vec::new();
    let mut progress = Progress::new("import: parsing");
    let mut line_no = 0usize;
    let mut offset = 0usize;
    for raw in text.split_inclusive(|&c| c == b'\n') {
        line_no += 1;
        offset += raw.len();
        samples.clear();
        if let Err(e) =
            parse::parse_line(Format::OpenMetrics, raw, line_no, &mut state, &mut samples)
        {
            report(&e.into());
            continue;
        }
        for s in samples.drain(..) {
            match s.timestamp_ms {
                // A block's range ends one past its newest sample, so no block holds `i64::MAX`.
                Some(t) if t > tsdb::MAX_TIME => report(&BadLine {
                    line: line_no,
                    column: None,
                    reason: format!(
                        "timestamp {t} of series {} is newer than {}, the newest a block can hold",
                        s.labels,
                        tsdb::MAX_TIME
                    ),
                }),
                Some(t) => series
                    .entry(s.labels)
                    .or_default()
                    .push((t, s.value, line_no)),
                None => report(&BadLine {
                    line: line_no,
                    column: None,
                    reason: format!("expected timestamp for series {}, got none", s.labels),
                }),
            }
        }
        progress.update(|| {
            format!(
                "{:.0}% of {name}",
                offset as f64 * 100.0 / text.len() as f64
            )
        });
    }
    progress.finish();
    if let Err(e) = parse::finish(Format::OpenMetrics, &state) {
        report(&e.into());
    }

    // 2. Group into windows; within a window a series' samples must increase (as promtool's writer).
    let duration = block_duration(args.max_block_duration);
    let mut windows: BTreeMap<i64, Vec<Series>> = BTreeMap::new();
    let mut order_errors: Vec<BadLine> = Vec::new();
    for (labels, mut points) in series {
        points.sort_by_key(|p| p.0.div_euclid(duration));
        let mut i = 0;
        while i < points.len() {
            let w = points[i].0.div_euclid(duration);
            let mut j = i;
            let mut kept: Vec<(i64, f64)> = Vec::new();
            while j < points.len() && points[j].0.div_euclid(duration) == w {
                let (t, v, line) = points[j];
                match kept.last() {
                    Some(&(pt, _)) if t < pt => order_errors.push(BadLine {
                        line,
                        column: None,
                        reason: format!(
                            "out of order sample for series {labels}: timestamp {t} after {pt}"
                        ),
                    }),
                    Some(&(pt, pv)) if t == pt && pv.to_bits() != v.to_bits() => {
                        order_errors.push(BadLine {
                            line,
                            column: None,
                            reason: format!(
                                "duplicate sample for series {labels} at timestamp {t}: value {} after {}",
                                crate::output::GoFloat(v),
                                crate::output::GoFloat(pv)
                            ),
                        })
                    }
                    Some(&(pt, _)) if t == pt => {}
                    _ => kept.push((t, v)),
                }
                j += 1;
            }
            if !kept.is_empty() {
                windows.entry(w).or_default().push((labels.clone(), kept));
            }
            i = j;
        }
    }
    order_errors.sort_by_key(|e| e.line);
    for e in &order_errors {
        report(e);
    }
    if errors > 0 {
        if errors > SHOWN {
            eprintln!("... {} more bad lines not shown", errors - SHOWN);
        }
        return Err(CliError::usage(format!(
            "{name}: {errors} bad {}: nothing written",
            if errors == 1 { "line" } else { "lines" }
        ))
        .into());
    }

    // 3. Write one block per window.
    std::fs::create_dir_all(out_dir)
        .with_context(|| format!("create output directory {}", out_dir.display()))?;
    let opts = WriteOptions {
        cut_policy: CutPolicy::Head {
            chunk_range: duration.saturating_mul(2),
        },
        ..WriteOptions::default()
    };
    let mut out = output::stdout();
    let mut header = !args.quiet;
    let mut progress = Progress::new("import: writing blocks");
    let total = windows.len();
    for (done, (_, list)) in windows.into_iter().enumerate() {
        let mint = list
            .iter()
            .filter_map(|(_, s)| s.first())
            .map(|s| s.0)
            .min();
        let maxt = list.iter().filter_map(|(_, s)| s.last()).map(|s| s.0).max();
        let (Some(mint), Some(maxt)) = (mint, maxt) else {
            continue;
        };
        let meta = tsdb::block::write_block(out_dir, &list, mint, maxt.saturating_add(1), &opts)
            .with_context(|| format!("write a block into {}", out_dir.display()))?;
        if let (Some(meta), false) = (meta, args.quiet) {
            let size = block_size(out_dir, &meta)?;
            table::write_blocks(&mut out, &[(meta, size)], header, args.human)?;
            header = false;
            out.flush()?;
        }
        progress.update(|| format!("{} of {total} blocks", done + 1));
    }
    progress.finish();
    out.flush()?;
    Ok(())
}

fn block_size(dir: &Path, meta: &BlockMeta) -> Result<u64> {
    let d = dir.join(meta.ulid.to_string());
    Block::open(&d)
        .and_then(|b| b.size_bytes())
        .with_context(|| format!("read block {}", d.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration_ms("2h"), Ok(7_200_000));
        assert_eq!(parse_duration_ms("1d12h"), Ok(129_600_000));
        assert_eq!(parse_duration_ms("500ms"), Ok(500));
        assert!(parse_duration_ms("").is_err());
        assert!(parse_duration_ms("2").is_err());
        assert!(parse_duration_ms("h").is_err());
        assert!(parse_duration_ms("2x").is_err());
    }

    #[test]
    fn block_durations_like_promtool() {
        let h = 3_600_000;
        assert_eq!(block_duration(None), 2 * h);
        assert_eq!(block_duration(Some(h)), 2 * h);
        assert_eq!(block_duration(Some(2 * h)), 2 * h);
        assert_eq!(block_duration(Some(6 * h)), 6 * h);
        assert_eq!(block_duration(Some(24 * h)), 18 * h);
        assert_eq!(block_duration(Some(i64::MAX)), 2 * h * 3i64.pow(9));
    }
}

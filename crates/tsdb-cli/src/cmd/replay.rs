//! `tsdb-cli replay`: replay the WAL and head chunks read-only and report what they hold.

use std::io::Write;
use std::path::PathBuf;

use anyhow::Result;
use clap::Args;
use tsdb::ReplayReport;

use crate::error::CliError;
use crate::open::ReadOnly;
use crate::output;

/// Arguments of `replay`.
#[derive(Debug, Args)]
#[command(
    long_about = "Replay the WAL and head chunks read-only and report what they hold.\n\n\
        Opens the head of the data directory as the database would on start-up — head chunk files \
        (chunks_head/) first, then the WAL (wal/) — without writing the WAL or taking over the \
        database, and prints one `key: value` line per figure:\n\n  \
        series, samples          in the head after replay\n  \
        wal samples              samples applied from the WAL\n  \
        head chunks              full chunks read from chunks_head/\n  \
        min time, max time       oldest and newest sample (Unix ms; - when empty)\n  \
        segments                 WAL segments read\n  \
        wal format               native, prometheus (SegmentWAL), wlog (Prometheus's current WAL) or \
        empty\n  \
        skipped records          none, or the wlog records not stored, by type (exemplars, metadata, \
        histograms, ...)\n  \
        skipped samples          WAL samples already in head chunks, out of order, or older than the \
        newest block (dropped)\n  \
        unknown series           WAL samples and head chunks of series the WAL does not define \
        (dropped)\n  \
        missing records          none, or how many WAL samples have no series record (a removed \
        segment or checkpoint)\n  \
        deletes                  deleted ranges applied\n  \
        wal corruption           none, or where reading stopped\n  \
        head chunk damage        none, or where head chunks were cut\n  \
        replay seconds           wall time of the replay\n  \
        forward                  one line per --forward-to destination with a stored position in \
        forward/: its URL, WAL bytes not yet acknowledged, and the position (segment:offset); \
        none without\n\n\
        A damaged WAL is reported and the command fails (exit status 1) after printing the figures: \
        `tsdb-cli wal repair` cuts the log at the damage, as opening the database would. So does a \
        damaged head chunk file (its samples are replayed from the WAL), and samples whose series \
        records are missing. A database \
        open in another process is not replayed (exit status 1).",
    after_help = "Examples:\n  \
        tsdb-cli replay --data-dir data\n  \
        tsdb-cli replay --data-dir data | grep '^samples:'"
)]
pub struct ReplayArgs {
    /// The data directory.
    #[arg(long, short = 'd', default_value = "data", value_name = "DIR")]
    pub data_dir: PathBuf,
}

/// Runs `replay`.
pub fn run(args: &ReplayArgs) -> Result<()> {
    let dir = &args.data_dir;
    // Blocks give the lower bound of the head; the head itself is replayed by the read-only open.
    let ro = ReadOnly::open(dir, true)?;
    if ro.db.is_live() {
        return Err(CliError::failure(format!(
            "{}: the database is open in another process: its head cannot be replayed beside it",
            dir.display()
        ))
        .with_hint("stop that process first; ls, dump and analyze read the blocks meanwhile")
        .into());
    }
    let Some(report) = ro.db.replay_report() else {
        return Err(
            CliError::failure(format!("{}: the head was not replayed", dir.display())).into(),
        );
    };
    let mut out = output::stdout();
    write_report(&mut out, report)?;
    write_forward_lag(&mut out, dir)?;
    out.flush()?;
    if let Some(c) = &report.wal_corruption {
        return Err(CliError::failure(format!("the WAL is damaged: {c}"))
            .with_hint(format!(
                "\"tsdb-cli wal repair {}\" cuts the log at the damage (opening the database does too)",
                dir.display()
            ))
            .into());
    }
    ro.finish()
}

/// A `forward:` line per destination with a position stored in `DIR/forward/`: how far behind the WAL it
/// is (bytes after its position).
fn write_forward_lag(out: &mut impl Write, dir: &std::path::Path) -> Result<()> {
    let positions = tsdb::forward::position::list(&dir.join("forward"))?;
    if positions.is_empty() {
        writeln!(out, "forward: none")?;
    }
    let wal = dir.join("wal");
    for (url, p) in positions {
        let lag = tsdb::forward::lag_bytes_in(&wal, p);
        writeln!(
            out,
            "forward: {url} {lag} bytes behind (at segment {} offset {})",
            p.segment, p.offset
        )?;
    }
    Ok(())
}

/// The `key: value` lines of a replay report.
pub fn write_report(out: &mut impl Write, r: &ReplayReport) -> std::io::Result<()> {
    let time = |t: Option<i64>| t.map_or_else(|| "-".to_string(), |t| t.to_string());
    writeln!(out, "series: {}", r.series)?;
    writeln!(out, "samples: {}", r.samples)?;
    writeln!(out, "wal samples: {}", r.wal_samples)?;
    writeln!(out, "head chunks: {}", r.chunks)?;
    writeln!(out, "min time: {}", time(r.time_range.map(|t| t.0)))?;
    writeln!(out, "max time: {}", time(r.time_range.map(|t| t.1)))?;
    writeln!(out, "segments: {}", r.segments)?;
    writeln!(
        out,
        "wal format: {}",
        r.wal_format
            .as_ref()
            .map_or_else(|| "-".to_string(), crate::cmd::wal::format_name)
    )?;
    if r.skipped_records.is_empty() {
        writeln!(out, "skipped records: none")?;
    } else {
        let parts: Vec<String> = r
            .skipped_records
            .iter()
            .map(|(_, name, n)| format!("{name} {n}"))
            .collect();
        writeln!(out, "skipped records: {}", parts.join(", "))?;
    }
    writeln!(out, "skipped samples: {}", r.skipped)?;
    writeln!(out, "unknown series: {}", r.unknown_refs)?;
    match r.missing_records() {
        Some(m) => writeln!(out, "missing records: {m}")?,
        None => writeln!(out, "missing records: none")?,
    }
    writeln!(out, "deletes: {}", r.deletes)?;
    match &r.wal_corruption {
        Some(c) => writeln!(out, "wal corruption: {c}")?,
        None => writeln!(out, "wal corruption: none")?,
    }
    match &r.chunk_damage {
        Some(d) => writeln!(
            out,
            "head chunk damage: {} at offset {}: {} ({} bytes cut)",
            d.path.display(),
            d.offset,
            d.reason,
            d.truncated_bytes
        )?,
        None => writeln!(out, "head chunk damage: none")?,
    }
    writeln!(out, "replay seconds: {:.6}", r.duration.as_secs_f64())
}

//! `tsdb-cli wal …`: read and repair the write-ahead log.

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use clap::{Args, Subcommand};
use serde::ser::{Serialize, Serializer};
use tsdb_wal::segment::list_segments;
use tsdb_wal::{Corruption, Delete, Entry, Record, RefSample, RefSeries, WalError, WalReader};

use crate::error::CliError;
use crate::open::wal_format_error;
use crate::output::{self, flag_name, flag_names, GoFloat, JsonF64, JsonLabels};
use crate::paths;

/// Commands on the write-ahead log.
#[derive(Debug, Subcommand)]
pub enum WalCommand {
    /// Print every record of the WAL with its segment and offset.
    ///
    /// Without options, records are printed for a person: series with their labels, samples as
    /// `ref t v`, deletes as time ranges `[mint, maxt]`. Timestamps are milliseconds; values are
    /// printed as Go's %g prints them (NaN, +Inf, -Inf included).
    ///
    /// Reading stops at the first damaged entry: the records before it are printed, then the command
    /// fails (exit status 1) naming the segment and offset of the damage. `tsdb-cli wal repair` cuts
    /// the log there.
    ///
    /// A Prometheus wlog is printed from its newest checkpoint (segments named
    /// `checkpoint.NNNNNNNN/NNNNNNNN`) on, then the segments after it (`NNNNNNNN`); flags are then the
    /// records' compression (`snappy`, `zstd`, `uncompressed`). A WAL in a format not recognised is
    /// refused (exit status 1), not called damage.
    #[command(after_help = "Examples:\n  \
        tsdb-cli wal dump data/\n  \
        tsdb-cli wal dump --summary data/wal\n  \
        tsdb-cli wal dump --json data/wal | jq -c 'select(.type == \"samples\")'")]
    Dump(DumpArgs),

    /// Repair a damaged WAL: cut it at the last intact entry.
    ///
    /// The damaged segment is truncated at the first bad entry (removed whole if its header is bad) and
    /// every later segment is removed. Reports what was wrong and where, the bytes dropped, the segments
    /// removed and the entries kept; or says the WAL is intact, and changes nothing. Do not run it on
    /// the WAL of a running database.
    #[command(after_help = "Examples:\n  \
        tsdb-cli wal repair data/\n  \
        tsdb-cli wal repair data/wal && tsdb-cli wal dump --summary data/wal")]
    Repair(RepairArgs),
}

/// Arguments of `wal dump`.
#[derive(Debug, Args)]
pub struct DumpArgs {
    /// A data directory (holding wal/) or the WAL directory itself (holding 000001, 000002, ... or, for a
    /// Prometheus wlog, 00000000, ... and checkpoint.NNNNNNNN/).
    #[arg(value_name = "DIR")]
    pub dir: PathBuf,

    /// Print one JSON object per record, one per line: segment, offset, len, type, flag (the byte),
    /// flags (its names), and the record's content (labels as objects; NaN, +Inf and -Inf values as
    /// strings).
    #[arg(long, conflicts_with = "summary")]
    pub json: bool,

    /// Print only totals, as `key: value` lines: segments, series, samples, deletes, symbols,
    /// min time, max time. The times are the lowest and highest sample timestamps in milliseconds,
    /// `-` when there are no samples.
    #[arg(long)]
    pub summary: bool,
}

/// Arguments of `wal repair`.
#[derive(Debug, Args)]
pub struct RepairArgs {
    /// A data directory (holding wal/) or the WAL directory itself (holding 000001, 000002, ... or, for a
    /// Prometheus wlog, 00000000, ... and checkpoint.NNNNNNNN/).
    #[arg(value_name = "DIR")]
    pub dir: PathBuf,
}

/// Runs a `wal` command.
pub fn run(cmd: WalCommand) -> Result<()> {
    match cmd {
        WalCommand::Dump(a) => dump(&a),
        WalCommand::Repair(a) => repair(&a),
    }
}

/// The error a dump ends with when the log is damaged.
fn corruption_error(c: &Corruption, dir: &Path) -> CliError {
    CliError::failure(format!(
        "WAL corruption in segment {} at offset {}: {}",
        c.file, c.offset, c.reason
    ))
    .with_hint(format!(
        "run \"tsdb-cli wal repair {}\" to cut the log at the last intact entry",
        dir.display()
    ))
}

fn dump(args: &DumpArgs) -> Result<()> {
    let wal = paths::wal_dir(&args.dir)?;
    let detected = tsdb_wal::detect(&wal)?;
    if let tsdb_wal::WalFormat::Unknown(_) = detected {
        return Err(wal_format_error(&wal, &detected));
    }
    let mut r = WalReader::open(&wal)?;
    let mut format = if args.summary {
        Format::Summary(Totals::default())
    } else if args.json {
        Format::Json
    } else {
        Format::Human
    };
    if matches!(format, Format::Human) {
        note_unread(&wal, &r);
        note_format(&detected, &r);
    }
    let mut out = output::stdout();
    let mut stopped = None;
    loop {
        match r.next() {
            Ok(Some(e)) => format.entry(&mut out, &e)?,
            Ok(None) => break,
            Err(WalError::Corruption(c)) => {
                stopped = Some(corruption_error(&c, &args.dir));
                break;
            }
            Err(e) => {
                // Show what was read before the failure, then the failure.
                out.flush()?;
                return Err(e.into());
            }
        }
    }
    if let Format::Summary(t) = &format {
        t.write(&mut out, r.segments().len())?;
        writeln!(out, "format: {}", format_name(&detected))?;
        writeln!(
            out,
            "checkpoint: {}",
            r.checkpoint().map_or_else(
                || "-".to_string(),
                |c| tsdb_wal::wlog::checkpoint_name(c.index)
            )
        )?;
        let skipped = r.skipped().by_type();
        if skipped.is_empty() {
            writeln!(out, "skipped records: none")?;
        } else {
            let parts: Vec<String> = skipped
                .iter()
                .map(|(_, name, n)| format!("{name} {n}"))
                .collect();
            writeln!(out, "skipped records: {}", parts.join(", "))?;
        }
    }
    out.flush()?;
    match stopped {
        Some(e) => Err(e.into()),
        None => Ok(()),
    }
}

/// The short name of a WAL format, for the `format:` lines.
pub fn format_name(f: &tsdb_wal::WalFormat) -> String {
    match f {
        tsdb_wal::WalFormat::Empty => "empty".into(),
        tsdb_wal::WalFormat::Native => "native".into(),
        tsdb_wal::WalFormat::SegmentWal => "prometheus (SegmentWAL)".into(),
        tsdb_wal::WalFormat::Wlog => "wlog (Prometheus's current WAL)".into(),
        other => other.to_string(),
    }
}

/// Tells a person (on stderr) which format the log is in, and for a wlog which checkpoint is read first.
fn note_format(f: &tsdb_wal::WalFormat, r: &WalReader) {
    if *f != tsdb_wal::WalFormat::Wlog {
        return;
    }
    let mut err = std::io::stderr().lock();
    let _ = match r.checkpoint() {
        Some(c) => writeln!(
            err,
            "note: format {}: checkpoint {} first, then the segments after it",
            format_name(f),
            tsdb_wal::wlog::checkpoint_name(c.index)
        ),
        None => writeln!(err, "note: format {}", format_name(f)),
    };
}

/// Tells a person (on stderr) about segments the dump will not show.
fn note_unread(wal: &Path, r: &WalReader) {
    let mut err = std::io::stderr().lock();
    if r.segments().is_empty() {
        let _ = writeln!(err, "note: no WAL segments in {}", wal.display());
    }
    if let (Some(first), Some(last)) = (r.obsolete_segments().first(), r.obsolete_segments().last())
    {
        let _ = writeln!(
            err,
            "note: segments {}..{} are superseded by checkpoint {} and not shown",
            file_name(&first.path),
            file_name(&last.path),
            match r.checkpoint() {
                Some(c) => tsdb_wal::wlog::checkpoint_name(c.index),
                None => r
                    .segments()
                    .first()
                    .map_or_else(String::new, |s| file_name(&s.path)),
            },
        );
    }
}

fn file_name(p: &Path) -> String {
    p.file_name()
        .map_or_else(|| p.display().to_string(), |n| n.to_string_lossy().into())
}

/// How `wal dump` prints.
enum Format {
    Human,
    Json,
    Summary(Totals),
}

impl Format {
    fn entry(&mut self, out: &mut impl Write, e: &Entry<'_>) -> Result<()> {
        match self {
            Format::Human => human_entry(out, e)?,
            Format::Json => {
                serde_json::to_writer(&mut *out, &JsonEntry(e))?;
                out.write_all(b"\n")?;
            }
            Format::Summary(t) => t.add(&e.record),
        }
        Ok(())
    }
}

/// Totals for `--summary`.
#[derive(Debug, Default)]
struct Totals {
    series: u64,
    samples: u64,
    deletes: u64,
    symbols: u64,
    min_t: Option<i64>,
    max_t: Option<i64>,
}

impl Totals {
    fn add(&mut self, r: &Record<'_>) {
        match r {
            Record::Symbols { count, .. } => self.symbols += count,
            Record::Series(s) => self.series += s.len() as u64,
            Record::Deletes(d) => self.deletes += d.len() as u64,
            Record::Samples(s) => {
                self.samples += s.len() as u64;
                for x in s.iter() {
                    self.min_t = Some(self.min_t.map_or(x.t, |m| m.min(x.t)));
                    self.max_t = Some(self.max_t.map_or(x.t, |m| m.max(x.t)));
                }
            }
        }
    }

    fn write(&self, out: &mut impl Write, segments: usize) -> std::io::Result<()> {
        let time = |t: Option<i64>| t.map_or_else(|| "-".to_string(), |t| t.to_string());
        writeln!(out, "segments: {segments}")?;
        writeln!(out, "series: {}", self.series)?;
        writeln!(out, "samples: {}", self.samples)?;
        writeln!(out, "deletes: {}", self.deletes)?;
        writeln!(out, "symbols: {}", self.symbols)?;
        writeln!(out, "min time: {}", time(self.min_t))?;
        writeln!(out, "max time: {}", time(self.max_t))
    }
}

/// The flag of an entry for a person: SegmentWAL flag bits, or a wlog record's compression.
fn entry_flag_name(e: &Entry<'_>) -> String {
    if e.wlog {
        let n = wlog_flag_names(e.flag);
        if n.is_empty() {
            "uncompressed".to_string()
        } else {
            n.join("+")
        }
    } else {
        flag_name(e.flag)
    }
}

/// The compression of a wlog record's fragments (`0x08` snappy, `0x10` zstd; other bits in hex).
fn wlog_flag_names(flag: u8) -> Vec<String> {
    let mut v = Vec::new();
    if flag & 0x08 != 0 {
        v.push("snappy".to_string());
    }
    if flag & 0x10 != 0 {
        v.push("zstd".to_string());
    }
    let other = flag & !0x18;
    if other != 0 {
        v.push(format!("{other:#04x}"));
    }
    v
}

/// Number of characters of `x` in decimal.
fn width(x: impl ToString) -> usize {
    x.to_string().len()
}

fn human_entry(out: &mut impl Write, e: &Entry<'_>) -> std::io::Result<()> {
    write!(out, "segment {} offset {}: ", e.file_name(), e.offset)?;
    let flag = entry_flag_name(e);
    match &e.record {
        Record::Symbols { first, count } => {
            writeln!(
                out,
                "symbols {first}..{} ({count}) [{flag}]",
                first.saturating_add(*count)
            )
        }
        Record::Series(series) => {
            writeln!(out, "series ({}) [{flag}]", series.len())?;
            let w = series.iter().map(|s| width(s.series)).max().unwrap_or(0);
            for s in series.iter() {
                writeln!(out, "  ref={:<w$} {}", s.series, s.labels)?;
            }
            Ok(())
        }
        Record::Samples(samples) => {
            writeln!(out, "samples ({}) [{flag}]", samples.len())?;
            let wr = samples.iter().map(|s| width(s.series)).max().unwrap_or(0);
            let wt = samples.iter().map(|s| width(s.t)).max().unwrap_or(0);
            for s in samples.iter() {
                writeln!(
                    out,
                    "  ref={:<wr$} t={:<wt$} v={}",
                    s.series,
                    s.t,
                    GoFloat(s.v)
                )?;
            }
            Ok(())
        }
        Record::Deletes(deletes) => {
            writeln!(out, "deletes ({}) [{flag}]", deletes.len())?;
            let w = deletes.iter().map(|d| width(d.series)).max().unwrap_or(0);
            for d in deletes.iter() {
                writeln!(out, "  ref={:<w$} [{}, {}]", d.series, d.mint, d.maxt)?;
            }
            Ok(())
        }
    }
}

/// One record as a JSON object:
/// `{"segment":1,"offset":8,"len":40,"type":"samples","flag":5,"flags":["simple","snappy"],"samples":[…]}`.
struct JsonEntry<'a, 'r>(&'a Entry<'r>);

impl Serialize for JsonEntry<'_, '_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let e = self.0;
        let mut m = s.serialize_map(None)?;
        m.serialize_entry("segment", &e.segment)?;
        m.serialize_entry("file", &e.file_name())?;
        if let Some(c) = e.checkpoint {
            m.serialize_entry("checkpoint", &c)?;
        }
        m.serialize_entry("offset", &e.offset)?;
        m.serialize_entry("len", &e.len)?;
        let typ = match e.record {
            Record::Symbols { .. } => "symbols",
            Record::Series(_) => "series",
            Record::Samples(_) => "samples",
            Record::Deletes(_) => "deletes",
        };
        m.serialize_entry("type", typ)?;
        m.serialize_entry("flag", &e.flag)?;
        if e.wlog {
            m.serialize_entry("flags", &wlog_flag_names(e.flag))?;
        } else {
            m.serialize_entry("flags", &flag_names(e.flag))?;
        }
        match &e.record {
            Record::Symbols { first, count } => {
                m.serialize_entry("first", first)?;
                m.serialize_entry("count", count)?;
            }
            Record::Series(x) => m.serialize_entry("series", &JsonSeries(x))?,
            Record::Samples(x) => m.serialize_entry("samples", &JsonSamples(x))?,
            Record::Deletes(x) => m.serialize_entry("deletes", &JsonDeletes(x))?,
        }
        m.end()
    }
}

struct JsonSeries<'a>(&'a [RefSeries]);

impl Serialize for JsonSeries<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        #[derive(serde::Serialize)]
        struct One<'a> {
            #[serde(rename = "ref")]
            series: u64,
            labels: JsonLabels<'a>,
        }
        s.collect_seq(self.0.iter().map(|x| One {
            series: x.series,
            labels: JsonLabels(&x.labels),
        }))
    }
}

struct JsonSamples<'a>(&'a [RefSample]);

impl Serialize for JsonSamples<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        #[derive(serde::Serialize)]
        struct One {
            #[serde(rename = "ref")]
            series: u64,
            t: i64,
            v: JsonF64,
        }
        s.collect_seq(self.0.iter().map(|x| One {
            series: x.series,
            t: x.t,
            v: JsonF64(x.v),
        }))
    }
}

struct JsonDeletes<'a>(&'a [Delete]);

impl Serialize for JsonDeletes<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        #[derive(serde::Serialize)]
        struct One {
            #[serde(rename = "ref")]
            series: u64,
            mint: i64,
            maxt: i64,
        }
        s.collect_seq(self.0.iter().map(|x| One {
            series: x.series,
            mint: x.mint,
            maxt: x.maxt,
        }))
    }
}

fn repair(args: &RepairArgs) -> Result<()> {
    let wal = paths::wal_dir(&args.dir)?;
    // The WAL of a data directory is cut only under the directory's lock: never beside a running writer.
    let data_dir = if wal.file_name().is_some_and(|n| n == "wal") {
        wal.parent().map(Path::to_path_buf)
    } else {
        None
    };
    let _lock = match &data_dir {
        Some(d) => match tsdb::DirLock::acquire_existing(d) {
            Ok(l) => l,
            Err(tsdb::DbError::Locked { dir }) => {
                return Err(CliError::failure(format!(
                "{}: the database is open in another process: its WAL is not repaired beside it",
                dir.display()
            ))
                .with_hint("stop that process first (opening the database repairs the WAL too)")
                .into())
            }
            Err(e) => return Err(e.into()),
        },
        None => None,
    };
    let detected = tsdb_wal::detect(&wal)?;
    if let tsdb_wal::WalFormat::Unknown(_) = detected {
        return Err(wal_format_error(&wal, &detected));
    }
    let rep = tsdb_wal::repair(&wal).with_context(|| format!("repair {}", wal.display()))?;
    let mut out = output::stdout();
    match rep {
        None => {
            let n = list_segments(&wal)?.len();
            let s = if n == 1 { "" } else { "s" };
            writeln!(
                out,
                "WAL {} is intact ({n} segment{s}): nothing to repair",
                wal.display()
            )?;
        }
        Some(rep) => {
            let c = &rep.corruption;
            writeln!(out, "repaired WAL {}", wal.display())?;
            writeln!(
                out,
                "  damage:        segment {} at offset {}: {}",
                c.file, c.offset, c.reason
            )?;
            if rep.bytes_truncated > 0 {
                writeln!(
                    out,
                    "  truncated:     segment {} at offset {} ({} bytes cut)",
                    c.file, c.offset, rep.bytes_truncated
                )?;
            }
            if rep.removed.is_empty() {
                writeln!(out, "  removed:       no segments")?;
            }
            for (path, len) in &rep.removed {
                let name = path.file_name().map_or_else(
                    || path.display().to_string(),
                    |n| n.to_string_lossy().into(),
                );
                writeln!(out, "  removed:       segment {name} ({len} bytes)")?;
            }
            writeln!(out, "  entries kept:  {}", rep.entries_kept)?;
            writeln!(out, "  bytes dropped: {}", rep.bytes_dropped())?;
            if rep.bytes_dropped() > 0 {
                writeln!(
                    out,
                    "  note:          what the dropped part logged is lost, deletes included: samples \
                     deleted by a `tsdb-cli delete` logged there come back; repeat such deletes"
                )?;
            }
        }
    }
    out.flush()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use tsdb_labels::Labels;

    fn render(e: &Entry<'_>) -> String {
        let mut b = Vec::new();
        human_entry(&mut b, e).unwrap();
        String::from_utf8(b).unwrap()
    }

    #[test]
    fn human_lines_are_aligned() {
        let samples = [
            RefSample {
                series: 1,
                t: 5,
                v: 1.0,
            },
            RefSample {
                series: 12,
                t: 1_700_000_000_000,
                v: f64::NAN,
            },
        ];
        let e = Entry {
            segment: 2,
            offset: 1234,
            len: 40,
            flag: 5,
            record: Record::Samples(&samples),
            checkpoint: None,
            wlog: false,
        };
        assert_eq!(
            render(&e),
            "segment 000002 offset 1234: samples (2) [simple+snappy]\n  \
             ref=1  t=5             v=1\n  \
             ref=12 t=1700000000000 v=NaN\n"
        );
        let series = [RefSeries {
            series: 7,
            labels: Labels::new([("__name__", "up"), ("job", "node")]).unwrap(),
        }];
        let e = Entry {
            segment: 1,
            offset: 8,
            len: 40,
            flag: 2,
            record: Record::Series(&series),
            checkpoint: None,
            wlog: false,
        };
        assert_eq!(
            render(&e),
            "segment 000001 offset 8: series (1) [symbolic]\n  ref=7 {__name__=\"up\", job=\"node\"}\n"
        );
    }

    #[test]
    fn json_entry() {
        let deletes = [Delete {
            series: 3,
            mint: -5,
            maxt: 10,
        }];
        let e = Entry {
            segment: 4,
            offset: 99,
            len: 20,
            flag: 1,
            record: Record::Deletes(&deletes),
            checkpoint: None,
            wlog: false,
        };
        assert_eq!(
            serde_json::to_string(&JsonEntry(&e)).unwrap(),
            r#"{"segment":4,"file":"000004","offset":99,"len":20,"type":"deletes","flag":1,"flags":["simple"],"deletes":[{"ref":3,"mint":-5,"maxt":10}]}"#
        );
    }
}

//! The maintenance commands: `compact`, `flush`, `truncate` and `delete`. Each opens the database (its
//! lock taken: not beside a running one), does its one thing and closes it.

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use clap::Args;
use tsdb::block::{Block, BlockMeta};
use tsdb::Db;

use crate::open::{open_db, WriteArgs};
use crate::output;
use crate::selector::parse_match;
use crate::table;
use crate::timefmt::{parse_time, rfc3339};

/// Arguments of `compact`.
#[derive(Debug, Args)]
#[command(
    long_about = "Persist the head as blocks where due, and compact blocks.\n\n\
        Does what a running database does in the background: while the head spans more than 1.5 block \
        ranges (3 h), its oldest 2 h range is written as a block and the head and WAL are truncated; \
        then adjacent blocks are merged into ranges of 6 h, 18 h, 54 h. Prints the blocks written, or \
        says there was nothing to do. `flush` writes the whole head at once.",
    after_help = "Examples:\n  \
        tsdb-cli compact --data-dir data\n  \
        tsdb-cli compact --data-dir data && tsdb-cli ls --data-dir data"
)]
pub struct CompactArgs {
    /// The data directory.
    #[arg(long, short = 'd', default_value = "data", value_name = "DIR")]
    pub data_dir: PathBuf,

    /// Print times as UTC dates and sizes in KiB, MiB, ...
    #[arg(long = "human-readable", short = 'r')]
    pub human: bool,

    #[command(flatten)]
    pub write: WriteArgs,
}

/// Arguments of `flush`.
#[derive(Debug, Args)]
#[command(
    long_about = "Write the whole head as blocks now.\n\n\
        Every sample of the head goes into blocks (one per 2 h range it covers; the last one ends just \
        after the newest sample), then the head and the WAL are emptied. Afterwards the database \
        accepts only samples newer than what it held. Prints the blocks written.",
    after_help = "Examples:\n  \
        tsdb-cli flush --data-dir data\n  \
        tsdb-cli flush --data-dir data && tsdb-cli dump --data-dir data | wc -l"
)]
pub struct FlushArgs {
    /// The data directory.
    #[arg(long, short = 'd', default_value = "data", value_name = "DIR")]
    pub data_dir: PathBuf,

    /// Print times as UTC dates and sizes in KiB, MiB, ...
    #[arg(long = "human-readable", short = 'r')]
    pub human: bool,

    #[command(flatten)]
    pub write: WriteArgs,
}

/// Arguments of `truncate`.
#[derive(Debug, Args)]
#[command(
    long_about = "Remove every sample older than a time.\n\n\
        Blocks wholly before it are deleted, a block straddling it is rewritten without the older \
        samples, and the head and WAL drop them; afterwards samples older than it are rejected. The \
        time is remembered (DIR/truncated_before).",
    after_help = "Examples:\n  \
        tsdb-cli truncate --data-dir data --before 2023-11-14T00:00:00Z\n  \
        tsdb-cli truncate --data-dir data --before $(( ($(date +%s) - 30*86400) * 1000 ))   # keep 30 days"
)]
pub struct TruncateArgs {
    /// The data directory.
    #[arg(long, short = 'd', default_value = "data", value_name = "DIR")]
    pub data_dir: PathBuf,

    /// Samples older than this are removed: Unix ms or RFC 3339.
    #[arg(long, value_parser = parse_time, allow_hyphen_values = true, value_name = "TIME")]
    pub before: i64,

    #[command(flatten)]
    pub write: WriteArgs,
}

/// Arguments of `delete`.
#[derive(Debug, Args)]
#[command(
    long_about = "Delete the samples of selected series in a time range.\n\n\
        The samples of the series the selector matches, in [--min-time, --max-time] (both inclusive, \
        default: all time), are deleted: tombstones in the blocks (compaction removes the samples for \
        good), a deletes record in the WAL for the head. Prints how many series were affected. The \
        selector must have a matcher that does not match the empty string, as in PromQL: \
        `{__name__=~\".+\"}` selects everything.",
    after_help = "Examples:\n  \
        tsdb-cli delete --data-dir data --match 'up{instance=\"old:9100\"}'\n  \
        tsdb-cli delete --data-dir data --match '{job=\"batch\"}' --min-time 2023-11-14T00:00:00Z --max-time 1700006400000"
)]
pub struct DeleteArgs {
    /// The data directory.
    #[arg(long, short = 'd', default_value = "data", value_name = "DIR")]
    pub data_dir: PathBuf,

    /// Series selector in PromQL syntax, e.g. `up{job="node"}`.
    #[arg(long = "match", value_name = "SELECTOR")]
    pub selector: String,

    /// Start of the range (inclusive): Unix ms or RFC 3339. Default: no bound.
    #[arg(long, value_parser = parse_time, allow_hyphen_values = true, value_name = "TIME")]
    pub min_time: Option<i64>,

    /// End of the range (inclusive): Unix ms or RFC 3339. Default: no bound.
    #[arg(long, value_parser = parse_time, allow_hyphen_values = true, value_name = "TIME")]
    pub max_time: Option<i64>,

    #[command(flatten)]
    pub write: WriteArgs,
}

/// `(meta, size)` of blocks just written into `dir`.
fn with_sizes(dir: &Path, metas: &[BlockMeta]) -> Result<Vec<(BlockMeta, u64)>> {
    metas
        .iter()
        .map(|m| {
            let d = dir.join(m.ulid.to_string());
            let size = Block::open(&d)
                .and_then(|b| b.size_bytes())
                .with_context(|| format!("read block {}", d.display()))?;
            Ok((m.clone(), size))
        })
        .collect()
}

fn close(db: Db) -> Result<()> {
    let dir = db.dir().to_path_buf();
    db.close()
        .with_context(|| format!("close the database in {}", dir.display()))
}

fn plural(n: usize, one: &str) -> String {
    if n == 1 {
        format!("{n} {one}")
    } else {
        format!("{n} {one}s")
    }
}

/// Runs `compact`.
pub fn compact(args: &CompactArgs) -> Result<()> {
    let db = open_db(&args.data_dir, args.write.options(&args.data_dir))?;
    let m = db.maintain().context("maintenance")?;
    // Blocks persisted from the head may have been compacted in the same run: only the blocks still
    // there have a size to show.
    let live: Vec<_> = db.blocks().iter().map(|b| b.ulid).collect();
    let (persisted_live, persisted_merged): (Vec<BlockMeta>, Vec<BlockMeta>) = m
        .persisted
        .iter()
        .cloned()
        .partition(|b| live.contains(&b.ulid));
    let persisted = with_sizes(&args.data_dir, &persisted_live)?;
    let compacted = with_sizes(&args.data_dir, &m.compacted)?;
    close(db)?;
    let mut out = output::stdout();
    if m.persisted.is_empty() && compacted.is_empty() && m.retention_removed.is_empty() {
        writeln!(
            out,
            "nothing to do: the head spans at most 1.5 block ranges and no blocks are due for compaction"
        )?;
    }
    if !m.persisted.is_empty() {
        writeln!(
            out,
            "persisted {} from the head:",
            plural(m.persisted.len(), "block")
        )?;
        if !persisted.is_empty() {
            table::write_blocks(&mut out, &persisted, true, args.human)?;
        }
        if !persisted_merged.is_empty() {
            writeln!(
                out,
                "({} compacted in this run into the blocks below)",
                plural(persisted_merged.len(), "block")
            )?;
        }
    }
    if !compacted.is_empty() {
        writeln!(out, "compacted into {}:", plural(compacted.len(), "block"))?;
        table::write_blocks(&mut out, &compacted, true, args.human)?;
    }
    for d in &m.retention_removed {
        writeln!(out, "removed by retention: {}", d.display())?;
    }
    out.flush()?;
    Ok(())
}

/// Runs `flush`.
pub fn flush(args: &FlushArgs) -> Result<()> {
    let opts = tsdb::Options {
        compaction: false,
        ..args.write.options(&args.data_dir)
    };
    let db = open_db(&args.data_dir, opts)?;
    // `Db::flush` visits every 2 h range between the head's oldest and newest sample, also the empty
    // ones (years of them for a head holding old and new samples); maintenance persists the ranges with
    // data and jumps over the gaps, so it goes first and `flush` writes the rest.
    let mut metas = db.maintain().context("persist the head")?.persisted;
    metas.extend(db.flush().context("flush the head")?);
    let blocks = with_sizes(&args.data_dir, &metas)?;
    close(db)?;
    let mut out = output::stdout();
    if blocks.is_empty() {
        writeln!(out, "nothing to do: the head is empty")?;
    } else {
        writeln!(
            out,
            "wrote {} from the head:",
            plural(blocks.len(), "block")
        )?;
        table::write_blocks(&mut out, &blocks, true, args.human)?;
    }
    out.flush()?;
    Ok(())
}

/// Runs `truncate`.
pub fn truncate(args: &TruncateArgs) -> Result<()> {
    let db = open_db(&args.data_dir, args.write.options(&args.data_dir))?;
    let before = db.blocks();
    db.truncate(args.before)
        .with_context(|| format!("truncate before {}", args.before))?;
    let after = db.blocks();
    close(db)?;
    let kept = |m: &BlockMeta| after.iter().any(|a| a.ulid == m.ulid);
    let removed = before
        .iter()
        .filter(|m| !kept(m) && m.max_time <= args.before)
        .count();
    let rewritten = before
        .iter()
        .filter(|m| !kept(m) && m.max_time > args.before)
        .count();
    let mut out = output::stdout();
    writeln!(
        out,
        "removed every sample before {} ({})",
        args.before,
        rfc3339(args.before)
    )?;
    writeln!(out, "blocks removed: {removed}")?;
    writeln!(out, "blocks rewritten: {rewritten}")?;
    writeln!(out, "blocks now: {}", after.len())?;
    out.flush()?;
    Ok(())
}

/// Runs `delete`.
pub fn delete(args: &DeleteArgs) -> Result<()> {
    let matchers = parse_match(&args.selector, false)?;
    let (mint, maxt) = (
        args.min_time.unwrap_or(i64::MIN),
        args.max_time.unwrap_or(i64::MAX),
    );
    let db = open_db(&args.data_dir, args.write.options(&args.data_dir))?;
    let n = db
        .delete(&matchers, mint, maxt)
        .with_context(|| format!("delete {}", args.selector))?;
    close(db)?;
    let mut out = output::stdout();
    let bound = |t: i64, none: &str| {
        if t == i64::MIN || t == i64::MAX {
            none.to_string()
        } else {
            t.to_string()
        }
    };
    writeln!(
        out,
        "deleted [{}, {}] of {n} series matching {}",
        bound(mint, "-inf"),
        bound(maxt, "+inf"),
        args.selector
    )?;
    out.flush()?;
    Ok(())
}

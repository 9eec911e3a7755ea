//! `tsdb-cli ls`: the blocks of a data directory, as `promtool tsdb list` prints them.

use std::io::Write;
use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::Args;

use crate::open::ReadOnly;
use crate::output;
use crate::table;

/// Arguments of `ls`.
#[derive(Debug, Args)]
#[command(
    long_about = "List the blocks, as `promtool tsdb list` does.\n\n\
        One row per block, oldest first, with promtool's columns: BLOCK ULID, MIN TIME and MAX TIME \
        (Unix ms; the block covers [min, max)), DURATION, NUM SAMPLES, NUM CHUNKS, NUM SERIES and \
        SIZE (bytes of its files). The head (samples not yet in a block) is not listed: see `replay`. \
        A block that cannot be opened is reported on stderr and left out of the table (exit status 1).",
    after_help = "Examples:\n  \
        tsdb-cli ls --data-dir data\n  \
        tsdb-cli ls -r --data-dir data\n  \
        tsdb-cli ls --data-dir data | awk 'NR > 1 { s += $5 } END { print s }'   # samples in blocks"
)]
pub struct LsArgs {
    /// The data directory.
    #[arg(long, short = 'd', default_value = "data", value_name = "DIR")]
    pub data_dir: PathBuf,

    /// Print times as UTC dates and sizes in KiB, MiB, ... (promtool's -r).
    #[arg(long = "human-readable", short = 'r')]
    pub human: bool,
}

/// Runs `ls`.
pub fn run(args: &LsArgs) -> Result<()> {
    let ro = ReadOnly::open(&args.data_dir, false)?;
    let mut rows = Vec::new();
    for b in ro.db.blocks() {
        let size = b
            .size_bytes()
            .with_context(|| format!("size of block {}", b.dir().display()))?;
        rows.push((b.meta(), size));
    }
    let mut out = output::stdout();
    table::write_blocks(&mut out, &rows, true, args.human)?;
    out.flush()?;
    ro.finish()
}

//! `tsdb-cli dump`: every sample, as `promtool tsdb dump` prints it.

use std::io::Write;
use std::path::PathBuf;

use anyhow::Result;
use clap::Args;

use crate::open::ReadOnly;
use crate::output::{self, GoFloat};
use crate::selector::parse_match;
use crate::timefmt::parse_time;

/// Arguments of `dump`.
#[derive(Debug, Args)]
#[command(
    long_about = "Print samples as `promtool tsdb dump` does.\n\n\
        One line per sample, `{labels} value timestamp`: the labels in Prometheus's text form, the \
        value as Go's %g prints it (NaN, +Inf, -Inf included), the timestamp in Unix milliseconds. \
        Series in label order, each series' samples oldest first, blocks and head merged (a timestamp \
        present in several places is printed once). For the same data the output is line for line \
        what promtool prints.\n\n\
        Reads the data directory without changing it; beside a running database it reads the blocks \
        only (a warning says so). A damaged block (or chunk), WAL segment or head chunk file is \
        reported on stderr with its file and offset and left out (the WAL still gives what a head \
        chunk file lost); everything else is printed, and the exit status is 1.",
    after_help = "Examples:\n  \
        tsdb-cli dump --data-dir data\n  \
        tsdb-cli dump --data-dir data --match 'http_requests_total{code=~\"5..\"}'\n  \
        tsdb-cli dump --data-dir data --min-time 2023-11-14T00:00:00Z --max-time 1700006400000"
)]
pub struct DumpArgs {
    /// The data directory.
    #[arg(long, short = 'd', default_value = "data", value_name = "DIR")]
    pub data_dir: PathBuf,

    /// Series selector in PromQL syntax: `up`, `up{job="node"}`, `{__name__=~"http_.*"}`. Default:
    /// every series.
    #[arg(long = "match", value_name = "SELECTOR")]
    pub selector: Option<String>,

    /// Oldest timestamp to print (inclusive): Unix ms or RFC 3339. Default: no bound.
    #[arg(long, value_parser = parse_time, allow_hyphen_values = true, value_name = "TIME")]
    pub min_time: Option<i64>,

    /// Newest timestamp to print (inclusive): Unix ms or RFC 3339. Default: no bound.
    #[arg(long, value_parser = parse_time, allow_hyphen_values = true, value_name = "TIME")]
    pub max_time: Option<i64>,
}

/// Runs `dump`.
pub fn run(args: &DumpArgs) -> Result<()> {
    let matchers = match &args.selector {
        Some(s) => parse_match(s, true)?,
        None => Vec::new(),
    };
    let mut ro = ReadOnly::open(&args.data_dir, true)?;
    let (mint, maxt) = (
        args.min_time.unwrap_or(i64::MIN),
        args.max_time.unwrap_or(i64::MAX),
    );
    let mut out = output::stdout();
    let mut line = String::new();
    let mut samples = Vec::new();
    let mut damage = Vec::new();
    let q = ro.db.querier(mint, maxt);
    let mut set = q.select(&matchers)?.skip_damaged();
    for s in set.by_ref() {
        let s = s?;
        s.samples_into_skipping_damage(&mut samples, &mut damage);
        let l = s.labels().to_string();
        for &(t, v) in &samples {
            line.clear();
            use std::fmt::Write as _;
            let _ = writeln!(line, "{l} {} {t}", GoFloat(v));
            out.write_all(line.as_bytes())?;
        }
    }
    damage.extend(set.take_damage());
    drop(set);
    drop(q);
    out.flush()?;
    for e in &damage {
        ro.damage(e);
    }
    ro.finish()
}

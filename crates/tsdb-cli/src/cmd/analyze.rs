//! `tsdb-cli analyze`: churn and label cardinality of one block (or of the head), printed as `promtool
//! tsdb analyze` prints them.

use std::collections::HashMap;
use std::io::Write;
use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::Args;
use tsdb::block::{Block, ChunkMeta};
use tsdb_labels::{Labels, METRIC_NAME};

use crate::error::CliError;
use crate::open::ReadOnly;
use crate::output;
use crate::timefmt::go_duration_ms;

/// Arguments of `analyze`.
#[derive(Debug, Args)]
#[command(
    long_about = "Analyze churn and label cardinality of a block, as `promtool tsdb analyze` does.\n\n\
        Prints the block's ID, duration, series and label names, then the lists promtool prints, \
        highest first: label pairs and label names most involved in churning (how much of the block's \
        time range their series do not cover, in series-equivalents), most common label pairs, label \
        names with the highest cumulative value length, highest-cardinality labels and metric names. \
        Ties are listed by name. With --extended, the fullness of the block's chunks.\n\n\
        BLOCK is a block ULID (see `tsdb-cli ls`) or `head` for the samples not yet in a block; \
        default: the newest block, or the head when there is no block.",
    after_help = "Examples:\n  \
        tsdb-cli analyze --data-dir data\n  \
        tsdb-cli analyze --data-dir data --limit 5 01HF0Q8C8Z6YV3C7PZ1W7WJ9K2\n  \
        tsdb-cli analyze --data-dir data head"
)]
pub struct AnalyzeArgs {
    /// The data directory.
    #[arg(long, short = 'd', default_value = "data", value_name = "DIR")]
    pub data_dir: PathBuf,

    /// The block to analyze: its ULID, or `head`.
    #[arg(value_name = "BLOCK")]
    pub block: Option<String>,

    /// How many items to show in each list.
    #[arg(long, default_value_t = 20, value_name = "N")]
    pub limit: usize,

    /// Also show how full the chunks are (blocks only).
    #[arg(long)]
    pub extended: bool,
}

/// What is analyzed: a block's or the head's series, each with the time range its samples cover.
struct Subject {
    id: String,
    min_time: i64,
    max_time: i64,
    num_series: u64,
    /// Every series with the first and last timestamp of its samples.
    series: Vec<(Labels, i64, i64)>,
    /// Label name → sorted distinct values.
    values: Vec<(String, Vec<String>)>,
    /// Metric name → number of series.
    metric_counts: Vec<(String, u64)>,
}

/// Why block `id` is not among the readable blocks: damaged (a failure, exit status 1: the warning above
/// says what is wrong with it) or not there at all (a usage error).
fn missing_block(ro: &ReadOnly, id: &str) -> CliError {
    let damaged = ro.db.damaged_blocks().iter().any(|b| {
        b.dir
            .file_name()
            .is_some_and(|n| n.to_string_lossy().eq_ignore_ascii_case(id))
    });
    if damaged {
        CliError::failure(format!(
            "block {id} in {} is damaged and cannot be analyzed (see the warning above)",
            ro.db.dir().display()
        ))
    } else {
        CliError::usage(format!("block {id} not found in {}", ro.db.dir().display()))
            .with_hint("`tsdb-cli ls` lists the blocks; `head` names the head")
    }
}

/// Runs `analyze`.
pub fn run(args: &AnalyzeArgs) -> Result<()> {
    let mut ro = ReadOnly::open(&args.data_dir, false)?;
    let want_head = match args.block.as_deref() {
        Some(b) => b == "head",
        None => ro.db.blocks().is_empty(),
    };
    if want_head {
        // Release the first open's lock before the second takes it.
        drop(ro);
        ro = ReadOnly::open(&args.data_dir, true)?;
    }
    let block = match args.block.as_deref() {
        Some("head") => None,
        Some(id) => Some(
            ro.db
                .blocks()
                .iter()
                .find(|b| b.meta().ulid.to_string().eq_ignore_ascii_case(id))
                .ok_or_else(|| missing_block(&ro, id))?,
        ),
        None => ro.db.blocks().last(),
    };
    let subject = match block {
        Some(b) => block_subject(b)?,
        None => head_subject(&ro)?,
    };
    let mut out = output::stdout();
    write_analysis(&mut out, &subject, args.limit)?;
    if args.extended {
        match block {
            Some(b) => write_fullness(&mut out, b)?,
            None => writeln!(
                out,
                "\nCompaction analysis: not available for the head (its chunks are not final)"
            )?,
        }
    }
    out.flush()?;
    ro.finish()
}

fn block_subject(b: &Block) -> Result<Subject> {
    let ctx = || format!("read block {}", b.dir().display());
    let meta = b.meta();
    let ix = b.index();
    let mut series = Vec::new();
    let mut chunks: Vec<ChunkMeta> = Vec::new();
    for r in ix.all_postings().with_context(ctx)?.iter() {
        chunks.clear();
        let labels = ix.series(r, &mut chunks).with_context(ctx)?;
        if let (Some(first), Some(last)) = (chunks.first(), chunks.last()) {
            series.push((labels, first.min_time, last.max_time));
        }
    }
    let mut values = Vec::new();
    for name in ix.label_names() {
        let v: Vec<String> = ix
            .label_values(name)
            .with_context(ctx)?
            .into_iter()
            .map(str::to_owned)
            .collect();
        values.push((name.to_owned(), v));
    }
    let mut metric_counts = Vec::new();
    for name in ix.label_values(METRIC_NAME).with_context(ctx)? {
        let n = ix.postings(METRIC_NAME, name).with_context(ctx)?.len();
        metric_counts.push((name.to_owned(), n as u64));
    }
    Ok(Subject {
        id: meta.ulid.to_string(),
        min_time: meta.min_time,
        max_time: meta.max_time,
        num_series: meta.stats.num_series,
        series,
        values,
        metric_counts,
    })
}

fn head_subject(ro: &ReadOnly) -> Result<Subject> {
    let dir = ro.db.dir().display();
    if ro.db.is_live() {
        return Err(CliError::failure(format!(
            "{dir}: the database is open in another process: its head cannot be read beside it"
        ))
        .with_hint(
            "stop that process first, or analyze one of its blocks (`tsdb-cli ls` lists them)",
        )
        .into());
    }
    let head = match ro.db.head() {
        Some(h) if h.num_series() > 0 => h,
        _ => {
            return Err(CliError::failure(format!(
                "{dir}: no block and an empty head: nothing to analyze"
            ))
            .into())
        }
    };
    let mut series = Vec::new();
    let mut values: HashMap<String, Vec<String>> = HashMap::new();
    let mut metric_counts: HashMap<String, u64> = HashMap::new();
    let mut buf = Vec::new();
    for (r, labels) in head.select(&[]) {
        buf.clear();
        head.samples_into(r, i64::MIN, i64::MAX, &mut buf)?;
        let (Some(first), Some(last)) = (buf.first(), buf.last()) else {
            continue;
        };
        for (n, v) in labels.iter() {
            values.entry(n.to_owned()).or_default().push(v.to_owned());
        }
        if let Some(m) = labels.metric_name() {
            *metric_counts.entry(m.to_owned()).or_default() += 1;
        }
        series.push((labels, first.0, last.0));
    }
    let mut values: Vec<(String, Vec<String>)> = values
        .into_iter()
        .map(|(n, mut v)| {
            v.sort();
            v.dedup();
            (n, v)
        })
        .collect();
    values.sort();
    Ok(Subject {
        id: "head".into(),
        min_time: head.min_time(),
        max_time: head.max_time(),
        num_series: series.len() as u64,
        series,
        values,
        metric_counts: metric_counts.into_iter().collect(),
    })
}

/// Sorts `items` by count, highest first (ties by name), and prints the first `limit` as `COUNT NAME`.
fn write_list(
    out: &mut impl Write,
    mut items: Vec<(String, u64)>,
    limit: usize,
) -> std::io::Result<()> {
    items.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    for (k, n) in items.into_iter().take(limit) {
        writeln!(out, "{n} {k}")?;
    }
    Ok(())
}

fn write_analysis(out: &mut impl Write, s: &Subject, limit: usize) -> std::io::Result<()> {
    let range = s.max_time.wrapping_sub(s.min_time);
    writeln!(out, "Block ID: {}", s.id)?;
    writeln!(out, "Duration: {}", go_duration_ms(range))?;
    writeln!(out, "Series: {}", s.num_series)?;
    writeln!(out, "Label names: {}", s.values.len())?;

    let mut names_uncovered: HashMap<&str, u64> = HashMap::new();
    let mut pairs_uncovered: HashMap<String, u64> = HashMap::new();
    let mut pairs_count: HashMap<String, u64> = HashMap::new();
    let mut entries = 0u64;
    for (labels, first, last) in &s.series {
        // How much of the block's range the series does not cover (Go's unsigned arithmetic).
        let uncovered = (range as u64).wrapping_sub(last.wrapping_sub(*first) as u64);
        for (n, v) in labels.iter() {
            let key = format!("{n}={v}");
            *names_uncovered.entry(n).or_default() += uncovered;
            *pairs_uncovered.entry(key.clone()).or_default() += uncovered;
            *pairs_count.entry(key).or_default() += 1;
            entries += 1;
        }
    }
    writeln!(
        out,
        "Postings (unique label pairs): {}",
        pairs_uncovered.len()
    )?;
    writeln!(out, "Postings entries (total label pairs): {entries}")?;

    let churn = |m: u64| (m as f64 / range as f64) as u64;
    writeln!(out, "\nLabel pairs most involved in churning:")?;
    write_list(
        out,
        pairs_uncovered
            .iter()
            .map(|(k, m)| (k.clone(), churn(*m)))
            .collect(),
        limit,
    )?;
    writeln!(out, "\nLabel names most involved in churning:")?;
    write_list(
        out,
        names_uncovered
            .iter()
            .map(|(k, m)| (k.to_string(), churn(*m)))
            .collect(),
        limit,
    )?;
    writeln!(out, "\nMost common label pairs:")?;
    write_list(out, pairs_count.into_iter().collect(), limit)?;
    writeln!(
        out,
        "\nLabel names with highest cumulative label value length:"
    )?;
    write_list(
        out,
        s.values
            .iter()
            .map(|(n, vs)| (n.clone(), vs.iter().map(|v| v.len() as u64).sum()))
            .collect(),
        limit,
    )?;
    writeln!(out, "\nHighest cardinality labels:")?;
    write_list(
        out,
        s.values
            .iter()
            .map(|(n, vs)| (n.clone(), vs.len() as u64))
            .collect(),
        limit,
    )?;
    writeln!(out, "\nHighest cardinality metric names:")?;
    write_list(out, s.metric_counts.clone(), limit)
}

/// promtool's `--extended` compaction analysis: a histogram of chunk fullness (samples per chunk as a
/// share of 120), in tenths.
fn write_fullness(out: &mut impl Write, b: &Block) -> Result<()> {
    const MAX_SAMPLES: f64 = 120.0;
    const BUCKETS: usize = 10;
    let ctx = || format!("read block {}", b.dir().display());
    let ix = b.index();
    let mut histogram = [0u64; BUCKETS];
    let mut total = 0u64;
    let mut chunks: Vec<ChunkMeta> = Vec::new();
    for r in ix.all_postings().with_context(ctx)?.iter() {
        chunks.clear();
        ix.series(r, &mut chunks).with_context(ctx)?;
        for c in &chunks {
            let data = b.chunk(c.chunk_ref).with_context(ctx)?;
            let n = match data.data {
                [a, b, ..] => u16::from_be_bytes([*a, *b]),
                _ => 0,
            };
            let size = f64::from(n).min(MAX_SAMPLES);
            let bucket =
                ((BUCKETS as f64 * size / MAX_SAMPLES).ceil() as usize).clamp(1, BUCKETS) - 1;
            histogram[bucket] += 1;
            total += 1;
        }
    }
    writeln!(out, "\nCompaction analysis:")?;
    writeln!(
        out,
        "Fullness: Amount of samples in chunks (100% is 120 samples)"
    )?;
    for (i, count) in histogram.iter().enumerate() {
        let pct = (100 * count).checked_div(total).unwrap_or(0);
        writeln!(out, "{:>7}%: {}", (i + 1) * 10, "#".repeat(pct as usize))?;
    }
    Ok(())
}

//! `tsdb-cli bench write`: the write benchmark of `promtool tsdb bench write`, on our engine.
//!
//! The same workload: label sets read from a file (first `--metrics` distinct ones), split among
//! workers of 1,000 series each; rounds of 100 scrapes, the workers of a round run by a pool of one thread
//! per core (as Go runs promtool's goroutines on one thread per core); each scrape
//! one appender and one commit holding one sample per series, timestamps 30 s apart, values starting at
//! 123456789 and rising by 1,000 per scrape. Only the ingestion is timed. The database lives in
//! `OUT/storage`, the WAL on, fsync every 5 s (promtool's Prometheus never fsyncs a commit either),
//! maintenance in the background as in a running database.

use std::collections::HashSet;
use std::fs::File;
use std::io::{BufRead, BufReader, Write};
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use clap::{Args, Subcommand};
use tsdb::{Db, Options};
use tsdb_labels::Labels;

use crate::error::CliError;
use crate::open::{db_error, WriteArgs};
use crate::output::{self, GoFloat};
use crate::timefmt::go_duration;

/// Milliseconds between two scrapes.
const TIME_DELTA: i64 = 30_000;
/// Series per worker.
const SHARD: usize = 1_000;
/// Scrapes per round (every worker of a round does this many).
const ROUND: usize = 100;

/// Benchmarks.
#[derive(Debug, Subcommand)]
pub enum BenchCommand {
    /// Run a write benchmark, as `promtool tsdb bench write` does.
    #[command(
        long_about = "Run a write benchmark: the workload of `promtool tsdb bench write`.\n\n\
            Reads label sets from FILE, one JSON object per line ({\"__name__\": \"up\", \"job\": \
            \"node\"}), keeps the first --metrics distinct ones and ingests --scrapes scrapes of them \
            (rounded up to a multiple of 100): workers of 1,000 series, rounds of 100 scrapes with \
            the workers run by one thread per core, one commit per scrape, timestamps 30 s apart, values rising by \
            1,000. The database is created afresh in OUT/storage. Prints promtool's stage lines and \
            ` > total samples: N` and ` > samples/sec: X` (ingestion time only).",
        after_help = "Examples:\n  \
            tsdb-cli bench write --out /tmp/bench --metrics 20000 --scrapes 3000 series.jsonl\n  \
            tsdb-cli bench write --out /tmp/bench series.jsonl && tsdb-cli replay --data-dir /tmp/bench/storage"
    )]
    Write(BenchWriteArgs),
    // `about` rather than a doc comment, which would replace the long description of the arguments.
    #[command(
        about = "Send remote write requests to a receiver and report samples/s and latency percentiles"
    )]
    RemoteWrite(super::bench_rw::BenchRemoteWriteArgs),
    #[command(about = "Write a deterministic demo data set (demo_* series) as OpenMetrics text")]
    DemoData(super::bench_demo::BenchDemoArgs),
    #[command(
        about = "Time PromQL range queries against one or more servers, alternating, and report medians and ratios"
    )]
    Query(super::bench_query::BenchQueryArgs),
}

/// Arguments of `bench write`.
#[derive(Debug, Args)]
pub struct BenchWriteArgs {
    /// Output directory; the database is OUT/storage (removed first if it exists).
    #[arg(long, default_value = "benchout", value_name = "OUT")]
    pub out: PathBuf,

    /// Number of distinct label sets (series) to read from FILE.
    #[arg(long, default_value_t = 10_000, value_name = "N")]
    pub metrics: usize,

    /// Number of scrapes to simulate (rounded up to a multiple of 100).
    #[arg(long, default_value_t = 3_000, value_name = "N")]
    pub scrapes: usize,

    #[command(flatten)]
    pub write: WriteArgs,

    /// Label sets, one JSON object per line.
    #[arg(value_name = "FILE")]
    pub file: PathBuf,
}

/// Runs a `bench` command.
pub fn run(cmd: BenchCommand) -> Result<()> {
    match cmd {
        BenchCommand::Write(a) => write(&a),
        BenchCommand::RemoteWrite(a) => {
            let labels = read_labels(&a.file, a.metrics)?;
            super::bench_rw::run(&a, labels)
        }
        BenchCommand::DemoData(a) => super::bench_demo::run(&a),
        BenchCommand::Query(a) => super::bench_query::run(&a),
    }
}

/// Reads the first `n` distinct label sets of a JSON-lines file.
fn read_labels(path: &PathBuf, n: usize) -> Result<Vec<Labels>> {
    let name = path.display().to_string();
    let f = File::open(path).map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound => CliError::usage(format!("{name}: no such file")),
        _ => CliError::usage(format!("{name}: {e}")),
    })?;
    let mut seen = HashSet::new();
    let mut out = Vec::new();
    for (i, line) in BufReader::new(f).lines().enumerate() {
        if out.len() >= n {
            break;
        }
        let line = line.with_context(|| format!("read {name}"))?;
        if line.trim().is_empty() {
            continue;
        }
        let bad = |why: String| CliError::usage(format!("{name}:{}: {why}", i + 1));
        let map: serde_json::Map<String, serde_json::Value> =
            serde_json::from_str(&line).map_err(|e| bad(format!("not a JSON object: {e}")))?;
        let mut pairs = Vec::with_capacity(map.len());
        for (k, v) in &map {
            let v = v
                .as_str()
                .ok_or_else(|| bad(format!("label {k:?}: the value is not a string")))?;
            pairs.push((k.as_str(), v));
        }
        let labels = Labels::new(pairs).map_err(|e| bad(e.to_string()))?;
        if seen.insert(labels.clone()) {
            out.push(labels);
        }
    }
    Ok(out)
}

/// Runs `f` as promtool's `measureTime` does: stage lines around it.
fn stage<T>(
    out: &mut impl Write,
    name: &str,
    f: impl FnOnce() -> Result<T>,
) -> Result<(T, Duration)> {
    writeln!(out, ">> start stage={name}")?;
    out.flush()?;
    let start = Instant::now();
    let v = f()?;
    let d = start.elapsed();
    writeln!(
        out,
        ">> completed stage={name} duration={}",
        go_duration(d.as_nanos() as i128)
    )?;
    out.flush()?;
    Ok((v, d))
}

fn write(args: &BenchWriteArgs) -> Result<()> {
    std::fs::create_dir_all(&args.out).with_context(|| format!("create {}", args.out.display()))?;
    let dir = args.out.join("storage");
    if dir.exists() {
        std::fs::remove_dir_all(&dir).with_context(|| format!("remove {}", dir.display()))?;
    }
    let opts = Options {
        background: true,
        // promtool disables compactions; persisting the head still runs, as in a database.
        compaction: false,
        ..args.write.options(&dir)
    };
    let db = Db::open(&dir, opts).map_err(db_error)?;
    let mut out = output::stdout();

    let (labels, _) = stage(&mut out, "readData", || {
        read_labels(&args.file, args.metrics)
    })?;
    let (total, took) = stage(&mut out, "ingestScrapes", || {
        let t = ingest(&db, &labels, args.scrapes)?;
        writeln!(out_line(), "ingestion completed")?;
        Ok(t)
    })?;
    writeln!(out, " > total samples: {total}")?;
    writeln!(
        out,
        " > samples/sec: {}",
        GoFloat(total as f64 / took.as_secs_f64())
    )?;
    stage(&mut out, "stopStorage", || {
        db.close().context("close the database")
    })?;
    out.flush()?;
    Ok(())
}

/// Stdout for a line printed in the middle of a stage (unbuffered, like Go's fmt.Println).
fn out_line() -> std::io::Stdout {
    std::io::stdout()
}

/// The ingestion: rounds of 100 scrapes, one thread per 1,000 series. Returns the samples appended.
fn ingest(db: &Db, labels: &[Labels], scrapes: usize) -> Result<u64> {
    let mut total = 0u64;
    let mut round = 0usize;
    while round < scrapes {
        let base = TIME_DELTA * round as i64;
        // The workers are tasks, as promtool's goroutines are: a pool of one thread per core takes
        // them one after another (a thread per worker, 1,000 of them at 1M series, spent a tenth of
        // the time switching between threads).
        let shards: Vec<&[Labels]> = labels.chunks(SHARD).collect();
        let next = AtomicUsize::new(0);
        let threads = std::thread::available_parallelism()
            .map_or(2, |n| n.get())
            .clamp(1, shards.len().max(1));
        let results: Vec<Result<u64>> = std::thread::scope(|s| {
            let handles: Vec<_> = (0..threads)
                .map(|_| {
                    s.spawn(|| {
                        let mut n = 0u64;
                        while let Some(shard) = shards.get(next.fetch_add(1, Ordering::Relaxed)) {
                            n += ingest_shard(db, shard, ROUND, base)?;
                        }
                        Ok(n)
                    })
                })
                .collect();
            handles
                .into_iter()
                .map(|h| {
                    h.join()
                        .unwrap_or_else(|_| Err(anyhow::anyhow!("a bench worker panicked")))
                })
                .collect()
        });
        for r in results {
            total += r?;
        }
        round += ROUND;
    }
    Ok(total)
}

/// One worker: `scrapes` scrapes of its series, one commit each.
fn ingest_shard(db: &Db, labels: &[Labels], scrapes: usize, base: i64) -> Result<u64> {
    let mut refs: Vec<Option<u64>> = vec![None; labels.len()];
    let mut values: Vec<i64> = vec![123_456_789; labels.len()];
    let mut ts = base;
    let mut total = 0u64;
    for _ in 0..scrapes {
        let mut app = db.appender();
        ts += TIME_DELTA;
        for (i, l) in labels.iter().enumerate() {
            values[i] += 1000;
            let v = values[i] as f64;
            let r = match refs[i] {
                Some(r) => app.append_ref(r, ts, v),
                None => app.append(l, ts, v),
            }
            .with_context(|| format!("append to {l} at {ts}"))?;
            refs[i] = Some(r);
            total += 1;
        }
        app.commit().context("commit")?;
    }
    Ok(total)
}

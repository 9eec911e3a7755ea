//! `tsdb-cli`: the command line of the tsdb storage engine.
//!
//! This file only parses the arguments, dispatches to a command in [`cmd`] and maps the outcome to an
//! exit status: 0 on success (and when stdout is closed early, as by `| head`), 1 when a command fails
//! (a damaged WAL, an I/O error, a locked database), 2 for usage errors (clap's own included) and input
//! that stopped a command before it wrote anything, 3 when some input lines or samples were rejected and
//! the rest was written.

mod cmd;
mod error;
mod open;
mod output;
mod paths;
mod progress;
mod selector;
mod table;
mod timefmt;

use std::io::Write;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// A Prometheus-compatible time-series database, from the shell.
///
/// A data directory (--data-dir, default ./data) holds a write-ahead log (wal/), head chunks
/// (chunks_head/) and immutable blocks (one directory per block), all in Prometheus's formats.
/// `append` writes samples into it; `replay`, `ls`, `dump` and `analyze` read it (they need no running
/// database and work beside one); `compact`, `flush`, `truncate` and `delete` maintain it; `import
/// openmetrics` makes blocks from a file; `bench write` measures ingestion as `promtool tsdb bench write`
/// does.
///
/// Times are Unix milliseconds (1700000000000) or RFC 3339 (2023-11-14T22:13:20Z).
#[derive(Debug, Parser)]
#[command(
    name = "tsdb-cli",
    version,
    propagate_version = true,
    after_help = "Exit status: 0 on success; 1 when a command fails (an I/O error, a damaged WAL, a \
                  locked database); 2 for usage errors and for input that stopped a command before it \
                  wrote anything; 3 when some input lines or samples were rejected (each reported on \
                  stderr) and the rest was written.\n\n\
                  Examples:\n  \
                  tsdb-cli append --data-dir data metrics.prom\n  \
                  tsdb-cli replay --data-dir data\n  \
                  tsdb-cli dump --data-dir data --match 'up{job=\"node\"}'\n  \
                  tsdb-cli ls -r --data-dir data\n  \
                  tsdb-cli wal dump --summary data"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    #[command(
        about = "Append samples from a file or stdin (Prometheus text, OpenMetrics, Influx line protocol)"
    )]
    Append(cmd::append::AppendArgs),
    #[command(about = "Replay the WAL and head chunks read-only and report what they hold")]
    Replay(cmd::replay::ReplayArgs),
    /// Read and repair the write-ahead log (`DIR/wal`).
    #[command(subcommand)]
    Wal(cmd::wal::WalCommand),
    #[command(about = "List the blocks, as `promtool tsdb list` does")]
    Ls(cmd::ls::LsArgs),
    #[command(about = "Print samples as `promtool tsdb dump` does: `{labels} value timestamp`")]
    Dump(cmd::dump::DumpArgs),
    #[command(
        about = "Analyze churn and label cardinality of a block, as `promtool tsdb analyze` does"
    )]
    Analyze(cmd::analyze::AnalyzeArgs),
    #[command(about = "Persist the head as blocks where due, and compact blocks")]
    Compact(cmd::admin::CompactArgs),
    #[command(about = "Write the whole head as blocks now")]
    Flush(cmd::admin::FlushArgs),
    #[command(about = "Remove every sample older than a time")]
    Truncate(cmd::admin::TruncateArgs),
    #[command(about = "Delete the samples of selected series in a time range")]
    Delete(cmd::admin::DeleteArgs),
    /// Make blocks from a file (backfill), as `promtool tsdb create-blocks-from` does.
    #[command(subcommand)]
    Import(cmd::import::ImportCommand),
    // No doc comment here: it would replace the long description of `serve --help`.
    #[command(
        about = "Serve the database over HTTP: remote write and read, the metadata API, /metrics"
    )]
    Serve(cmd::serve::ServeArgs),
    /// Benchmarks.
    #[command(subcommand)]
    Bench(cmd::bench::BenchCommand),
}

/// glibc's malloc gives each thread that allocates concurrently an arena of its own, up to 8 per core;
/// memory freed into one arena is not reused by the others, so a writer with many appender threads and a
/// maintenance thread kept ~10% more resident than it uses (20k series: peak 128 MB, 115 MB with one
/// arena per core, at the same samples/s). One arena per core, set before any thread starts.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn limit_malloc_arenas() {
    extern "C" {
        fn mallopt(param: std::ffi::c_int, value: std::ffi::c_int) -> std::ffi::c_int;
    }
    const M_ARENA_MAX: std::ffi::c_int = -8;
    if std::env::var_os("MALLOC_ARENA_MAX").is_some() {
        return;
    }
    let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
    let arenas = std::ffi::c_int::try_from(cores.max(2)).unwrap_or(std::ffi::c_int::MAX);
    // SAFETY: mallopt only sets a tunable of the allocator; no thread other than this one exists yet.
    unsafe {
        mallopt(M_ARENA_MAX, arenas);
    }
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn limit_malloc_arenas() {}

fn main() -> ExitCode {
    limit_malloc_arenas();
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Append(a) => cmd::append::run(&a),
        Command::Replay(a) => cmd::replay::run(&a),
        Command::Wal(c) => cmd::wal::run(c),
        Command::Ls(a) => cmd::ls::run(&a),
        Command::Dump(a) => cmd::dump::run(&a),
        Command::Analyze(a) => cmd::analyze::run(&a),
        Command::Compact(a) => cmd::admin::compact(&a),
        Command::Flush(a) => cmd::admin::flush(&a),
        Command::Truncate(a) => cmd::admin::truncate(&a),
        Command::Delete(a) => cmd::admin::delete(&a),
        Command::Import(c) => cmd::import::run(c),
        Command::Bench(c) => cmd::bench::run(c),
        Command::Serve(a) => cmd::serve::run(&a),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => report(&err),
    }
}

/// Prints `err` (and its hint, if any) to stderr and chooses the exit status.
fn report(err: &anyhow::Error) -> ExitCode {
    if error::is_broken_pipe(err) {
        // The reader of our output went away (`| head`): nothing more to say to it.
        return ExitCode::SUCCESS;
    }
    let mut stderr = std::io::stderr().lock();
    // A failure to write to stderr leaves us no better channel: ignore it rather than panic.
    let _ = match err.downcast_ref::<error::CliError>() {
        Some(e) => {
            let _ = writeln!(stderr, "error: {}", e.message);
            match &e.hint {
                Some(h) => writeln!(stderr, "hint: {h}"),
                None => Ok(()),
            }
        }
        None => writeln!(stderr, "error: {}", error::render(err)),
    };
    ExitCode::from(error::exit_code(err))
}

#[cfg(test)]
mod tests {
    use super::Cli;
    use clap::CommandFactory;

    #[test]
    fn cli_definition_is_consistent() {
        Cli::command().debug_assert();
    }
}

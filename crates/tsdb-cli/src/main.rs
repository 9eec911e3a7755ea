//! `tsdb-cli`: the command line of the tsdb storage engine.
//!
//! This file only parses the arguments, dispatches to a command group in [`cmd`] and maps the outcome to
//! an exit status: 0 on success (and when stdout is closed early, as by `| head`), 1 when a command fails
//! (a damaged WAL, an I/O error), 2 for usage and input errors (clap's own usage errors included).

mod cmd;
mod error;
mod output;
#[allow(dead_code)] // Used by `append` and `import openmetrics`, still to come.
mod parse;
mod paths;

use std::io::Write;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// Inspect and repair the on-disk state of a tsdb database.
///
/// tsdb stores time series the way Prometheus does: a data directory holds a write-ahead log (`wal/`,
/// segments 000001, 000002, ...), head chunks and immutable blocks. This tool reads those files directly;
/// it does not need a running database.
#[derive(Debug, Parser)]
#[command(
    name = "tsdb-cli",
    version,
    propagate_version = true,
    after_help = "Exit status: 0 on success, 1 when a command fails (for example a damaged WAL), \
                  2 for usage and input errors.\n\n\
                  Examples:\n  \
                  tsdb-cli wal dump data/\n  \
                  tsdb-cli wal repair data/wal"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Read and repair the write-ahead log (`DIR/wal`).
    #[command(subcommand)]
    Wal(cmd::wal::WalCommand),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Wal(c) => cmd::wal::run(c),
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
        None => writeln!(stderr, "error: {err:#}"),
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

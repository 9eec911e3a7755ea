//! The command groups, one module each. Each exposes its clap subcommand type and a `run` function.

pub mod wal;

//! The commands, one module each (or a group of small ones). Each exposes its clap argument types and a
//! `run` function.

pub mod admin;
pub mod analyze;
pub mod append;
pub mod bench;
pub mod bench_demo;
pub mod bench_query;
pub mod bench_rw;
pub mod dump;
pub mod import;
pub mod ls;
pub mod replay;
pub mod serve;
pub mod wal;

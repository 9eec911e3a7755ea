//! The head: the in-memory part of the database where writes land.
//!
//! It owns the series held in memory ([`Head`]), their open and full chunks, the postings that index them
//! by label, the [`Appender`] and its commit protocol (log to the WAL, then apply), replay of the head chunk
//! files and the WAL on open, and [`Head::truncate`]. Files are left to `tsdb-wal` (the log) and
//! `tsdb-chunks` (`chunks_head/` files); blocks are not its business: `tsdb` joins the head and
//! `tsdb-block`.

mod appender;
mod error;
mod head;
mod locks;
mod metrics;
mod options;
mod postings;
mod reftable;
mod replay;
mod series;
mod stripes;

pub use appender::{Appender, CommitStats};
pub use error::{AppendError, HeadError};
pub use head::{Head, HeadSeriesChunk, HeadTruncation};
pub use metrics::HeadMetrics;
pub use options::{HeadOptions, DEFAULT_CHUNK_RANGE, MAX_TIME};
pub use replay::{MissingRecords, ReplayReport};
pub use tsdb_wal::SeriesRef;

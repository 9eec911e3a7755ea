//! The write-ahead log: every acknowledged sample is in it before it is anywhere else.
//!
//! This crate owns the log's files (`wal/000001`, `000002`, …, in Prometheus 2.x `SegmentWAL` format, see
//! [`segment`] and [`entry`]), its typed records and their codecs ([`record`], [`symbols`]), the concurrent
//! [`Wal`] writer with its background actor thread, the streaming [`WalReader`], [`repair()`] of a damaged tail
//! and [`Wal::truncate`]. What the records mean — series, chunks, the head — is left to `tsdb-head`.
//!
//! Three modes: [`WalMode::Prometheus`] writes only what Prometheus's `SegmentWAL` writes (Prometheus up to at
//! least 2.42 migrates such a log when it starts); [`WalMode::Native`] adds symbols records, series labels as
//! symbol ids and snappy-compressed payloads; [`WalMode::Wlog`] writes Prometheus's current format
//! ([`wlog`]). [`detect()`] says which format a directory holds; [`WalReader`] reads all three.

pub mod detect;
pub mod entry;
pub mod error;
pub mod options;
pub mod reader;
pub mod record;
pub mod repair;
pub mod segment;
pub mod symbols;
pub mod truncate;
mod varint;
pub mod wlog;
pub mod writer;

pub use detect::{detect, WalFormat};
pub use entry::Encoder;
pub use error::{Corruption, Result, WalError};
pub use options::{SyncPolicy, WalMode, WalOptions};
pub use reader::{Entry, Record, SegmentStats, WalReader};
pub use record::{Delete, RecordType, RefSample, RefSeries, SeriesRef};
pub use repair::{repair, RepairReport};
pub use wlog::reader::SkippedRecords;
pub use writer::{Batch, ClosedSegment, TruncateReport, Wal, WalMetrics};

/// Go-compatible varint helpers, exposed for fuzz targets and other decoders of Prometheus formats.
pub mod varints {
    pub use crate::varint::{put_uvarint, put_varint, Cursor};
}

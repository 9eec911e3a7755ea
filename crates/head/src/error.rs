//! Errors of the head.

use tsdb_labels::Labels;
use tsdb_wal::SeriesRef;

/// Why one sample was not accepted. Each names the series; the rest of the batch is unaffected.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum AppendError {
    /// The labels are not a valid series (bad name, duplicate name, or no label at all).
    #[error("invalid labels {labels}: {reason}")]
    InvalidLabels {
        /// The labels as given, for a person.
        labels: String,
        /// What is wrong.
        reason: String,
    },
    /// The sample is older than the series' newest sample.
    #[error("out of order sample for {labels}: timestamp {t} is older than the newest sample at {newest}")]
    OutOfOrder {
        /// The series.
        labels: Labels,
        /// The rejected timestamp.
        t: i64,
        /// The series' newest timestamp.
        newest: i64,
    },
    /// A sample with this timestamp exists with another value.
    #[error(
        "duplicate sample for {labels} at timestamp {t}: stored value {stored}, new value {new}"
    )]
    Duplicate {
        /// The series.
        labels: Labels,
        /// The timestamp.
        t: i64,
        /// The value already stored.
        stored: f64,
        /// The rejected value.
        new: f64,
    },
    /// The sample is older than the head's lower bound (data before it is persisted or truncated).
    #[error(
        "sample for {labels} at timestamp {t} is older than the head's lower bound {min_valid}"
    )]
    OutOfBounds {
        /// The series.
        labels: Labels,
        /// The rejected timestamp.
        t: i64,
        /// The lower bound.
        min_valid: i64,
    },
    /// The sample is newer than [`crate::MAX_TIME`], the newest timestamp a block can hold.
    #[error(
        "sample for {labels} at timestamp {t} is newer than {max}, the newest timestamp a block can hold (its range ends one past it)"
    )]
    TooNew {
        /// The series.
        labels: Labels,
        /// The rejected timestamp.
        t: i64,
        /// The newest storable timestamp, [`crate::MAX_TIME`].
        max: i64,
    },
    /// No series has this reference (never created, or removed by truncation).
    #[error("unknown series reference {series}")]
    UnknownRef {
        /// The reference.
        series: SeriesRef,
    },
}

/// Errors of opening, committing, truncating and reading the head.
#[derive(Debug, thiserror::Error)]
pub enum HeadError {
    /// The write-ahead log failed; a failed commit acknowledged nothing.
    #[error(transparent)]
    Wal(#[from] tsdb_wal::WalError),
    /// Head chunk files failed.
    #[error(transparent)]
    Chunks(#[from] tsdb_chunks::ChunkError),
    /// A chunk of a series could not be decoded.
    #[error("series {labels}: chunk {mint}..{maxt}: {reason}")]
    BadChunk {
        /// The series.
        labels: Labels,
        /// Chunk start.
        mint: i64,
        /// Chunk end.
        maxt: i64,
        /// What was wrong.
        reason: String,
    },
    /// A directory operation failed.
    #[error("{op} {}: {source}", path.display())]
    Io {
        /// What was done.
        op: &'static str,
        /// Where.
        path: std::path::PathBuf,
        /// The error.
        #[source]
        source: std::io::Error,
    },
    /// The WAL directory holds a log in a format this crate does not read (neither SegmentWAL, ours nor
    /// Prometheus's wlog, see [`tsdb_wal::detect()`]). Nothing was read or changed: this is not damage, and
    /// no repair applies.
    #[error(
        "this WAL ({}) is in {format} format, which this database does not read; nothing was read or \
         changed (it is not damage, and `wal repair` does not apply: move it away, or read it with the \
         program that wrote it)",
        dir.display()
    )]
    WalFormat {
        /// The WAL directory.
        dir: std::path::PathBuf,
        /// What detection found (always [`tsdb_wal::WalFormat::Unknown`], with the file and the reason).
        format: tsdb_wal::WalFormat,
    },
    /// The head was opened read-only.
    #[error("the head is read-only")]
    ReadOnly,
}

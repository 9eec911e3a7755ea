//! Options of the head.

use tsdb_chunks::HeadFilesOptions;
use tsdb_wal::WalOptions;

/// Two hours in milliseconds: Prometheus's chunk range and block range.
pub const DEFAULT_CHUNK_RANGE: i64 = 2 * 3600 * 1000;

/// The newest timestamp the head stores: `i64::MAX - 1`.
///
/// A block covers the half-open range `[minTime, maxTime)`, so the newest sample a block can hold is one
/// below the largest `maxTime`, `i64::MAX`. A sample at `i64::MAX` could never be persisted; the appender
/// refuses it with [`crate::AppendError::TooNew`] and replay skips it, rather than keeping it in the
/// head for ever. Every other i64, `i64::MIN` included, is a valid timestamp.
pub const MAX_TIME: i64 = i64::MAX - 1;

/// Options of [`crate::Head::open`].
#[derive(Debug, Clone)]
pub struct HeadOptions {
    /// Chunks are cut when a sample crosses a multiple of this many milliseconds. Default 2 h.
    pub chunk_range: i64,
    /// Chunks are cut at this many samples. Default 120, as Prometheus.
    pub samples_per_chunk: u16,
    /// The write-ahead log (`DIR/wal`).
    pub wal: WalOptions,
    /// Head chunk files (`DIR/chunks_head`).
    pub head_chunks: HeadFilesOptions,
    /// Number of stripes of the series map (a power of two). Default 16384.
    pub stripes: usize,
    /// Threads that apply samples during replay; 0 means one per core.
    pub replay_workers: usize,
    /// Lower bound of the head: samples older than this are dropped at replay, rejected at append and
    /// never returned by reads. The head does not persist it: a database passes the end of its newest
    /// block, or the time it last truncated to. Default: no bound.
    pub min_valid: i64,
    /// If set, samples older than the head's newest sample minus this many milliseconds are rejected as out
    /// of bounds (Prometheus uses half the block range), so that a range being persisted as a block cannot
    /// receive late samples. Default: none.
    pub append_window: Option<i64>,
    /// Whether samples are stored in chunks. Off (agent mode, as Prometheus's `--enable-feature=agent`),
    /// the head keeps its series and each one's newest sample (to refuse samples out of order) and
    /// logs everything to the WAL, but stores no chunk and writes no head chunk file: reads find no
    /// samples, and the WAL is the only copy, kept until forwarded (see [`crate::Head::truncate_agent`]).
    /// Default: on.
    pub keep_samples: bool,
}

impl Default for HeadOptions {
    fn default() -> Self {
        HeadOptions {
            chunk_range: DEFAULT_CHUNK_RANGE,
            samples_per_chunk: 120,
            wal: WalOptions::default(),
            head_chunks: HeadFilesOptions::default(),
            stripes: 16384,
            replay_workers: 0,
            min_valid: i64::MIN,
            append_window: None,
            keep_samples: true,
        }
    }
}

//! Options of [`crate::Db::open`].

use std::time::Duration;

use tsdb_wal::{SyncPolicy, WalMode};

/// How a database behaves.
#[derive(Debug, Clone)]
pub struct Options {
    /// Length of a block written from the head, in milliseconds. Default 2 h. The head is persisted when it
    /// spans more than 1.5 × this; blocks are compacted into ranges of this × 3ⁿ.
    pub block_range: i64,
    /// Blocks ending more than this many milliseconds before the newest data are deleted. Default: none.
    pub retention_time: Option<i64>,
    /// Oldest blocks are deleted while blocks take more than this many bytes. Default: none.
    pub retention_size: Option<u64>,
    /// WAL segment size. Default 256 MiB.
    pub wal_segment_size: u64,
    /// When the WAL is fsynced. Default: every 5 s.
    pub sync: SyncPolicy,
    /// WAL record encodings. Default: native.
    pub wal_mode: WalMode,
    /// Size of head chunk files (`chunks_head/`). Default 128 MiB.
    pub head_chunk_file_size: u64,
    /// Skip blocks that fail to open (reported by [`crate::Db::warnings`]) instead of failing `open`.
    pub skip_damaged_blocks: bool,
    /// Run persistence, compaction and retention in a background thread. Default true; without it they
    /// run only when asked ([`crate::Db::maintain`]).
    pub background: bool,
    /// How often the background thread looks for work. Default 1 s.
    pub background_interval: Duration,
    /// Compact blocks (in the background or in `maintain`). Default true.
    pub compaction: bool,
    /// Remote-write receivers every sample of the WAL is forwarded to, each from its own position stored in
    /// `DIR/forward/` (see `tsdb_forward`). While set, the WAL is not truncated past what every destination
    /// acknowledged, up to [`tsdb_forward::ForwardOptions::max_lag_bytes`]. Default: none.
    pub forward: Vec<tsdb_forward::Destination>,
    /// How the forwarders send (shards, batch size, backoff, lag limit).
    pub forward_options: tsdb_forward::ForwardOptions,
    /// How long [`crate::Db::close`] waits for the forwarders to send what the WAL holds before stopping
    /// them (what is left is sent after the next open). Default: zero, stop at once.
    pub forward_drain: Duration,
    /// Agent mode, as Prometheus's `--enable-feature=agent`: for a machine that only collects and ships.
    /// The head keeps no chunks and no block is written; every sample is logged to the WAL and forwarded
    /// to [`Options::forward`] (which must not be empty), and the WAL's segments are folded away as soon
    /// as every destination acknowledged them (series records kept, samples not). Reads find no samples;
    /// [`crate::Db::flush`], [`crate::Db::truncate`], [`crate::Db::delete`] and [`crate::Db::snapshot`]
    /// refuse with [`crate::DbError::Agent`]. A directory holding blocks is refused at open. Default off.
    pub agent: bool,
    /// Agent mode: a series with no sample for this many milliseconds (behind the newest sample of all) is
    /// forgotten at the next WAL truncation; a later sample logs it again. Default 4 h.
    pub agent_series_retention: i64,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            block_range: 2 * 3600 * 1000,
            retention_time: None,
            retention_size: None,
            wal_segment_size: tsdb_wal::segment::DEFAULT_SEGMENT_SIZE,
            sync: SyncPolicy::default(),
            wal_mode: WalMode::Native,
            head_chunk_file_size: tsdb_chunks::DEFAULT_HEAD_FILE_SIZE,
            skip_damaged_blocks: false,
            background: true,
            background_interval: Duration::from_secs(1),
            compaction: true,
            forward: Vec::new(),
            forward_options: tsdb_forward::ForwardOptions::default(),
            forward_drain: Duration::ZERO,
            agent: false,
            agent_series_retention: 4 * 3600 * 1000,
        }
    }
}

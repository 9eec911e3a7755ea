//! Options of the writer.

use std::time::Duration;

use crate::segment::DEFAULT_SEGMENT_SIZE;

/// Which record encodings the writer uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum WalMode {
    /// Our format: symbols records, series labels as symbol ids, snappy-compressed payloads where that is
    /// smaller. Prometheus cannot read it.
    #[default]
    Native,
    /// Only flag-1 series, samples and deletes records: exactly what Prometheus's `SegmentWAL` writes, so
    /// Prometheus (up to at least 2.42) migrates such a log at start-up.
    Prometheus,
    /// Prometheus's current WAL format (`wlog`, see [`crate::wlog`]): segments `%08d` of 32 KiB pages,
    /// records snappy-compressed when that is smaller, checkpoints as `checkpoint.%08d` directories. Read
    /// natively by Prometheus 2.20 and later and by `promtool`. The segment size must be a non-zero multiple
    /// of 32 KiB of at most 256 MiB (Prometheus's default is [`crate::wlog::DEFAULT_SEGMENT_SIZE`]).
    Wlog,
}

impl std::str::FromStr for WalMode {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "native" => Ok(WalMode::Native),
            "prometheus" | "compatible" => Ok(WalMode::Prometheus),
            "wlog" => Ok(WalMode::Wlog),
            _ => Err(format!(
                "unknown WAL mode {s:?}: expected \"native\", \"prometheus\" or \"wlog\""
            )),
        }
    }
}

/// When written entries are made durable with fsync.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SyncPolicy {
    /// Every `log` call returns only once its entries are fsynced; concurrent callers share one fsync
    /// (group commit). Survives power loss.
    Always,
    /// A background loop fsyncs at this interval. Every `log` call still hands its bytes to the operating
    /// system before returning, so a killed process loses nothing; a power loss may lose up to one interval,
    /// and what survives is a prefix of what was logged.
    Interval(Duration),
    /// Never fsync before close; bytes still reach the operating system on every `log` call.
    Never,
}

impl Default for SyncPolicy {
    fn default() -> Self {
        SyncPolicy::Interval(Duration::from_secs(5))
    }
}

/// Options of [`crate::Wal::open`].
#[derive(Debug, Clone)]
pub struct WalOptions {
    /// Size at which segments are cut (an entry larger than this gets a segment of its own).
    /// Default 32 MiB ([`crate::segment::DEFAULT_SEGMENT_SIZE`]).
    pub segment_size: u64,
    /// Record encodings. Default: native.
    pub mode: WalMode,
    /// Durability policy. Default: fsync every 5 s.
    pub sync: SyncPolicy,
    /// Whether new segments are preallocated to `segment_size`. Default true.
    pub preallocate: bool,
    /// Test hook: the background actor sleeps this long before finishing each closed segment.
    #[doc(hidden)]
    pub actor_delay: Option<Duration>,
}

impl Default for WalOptions {
    fn default() -> Self {
        WalOptions {
            segment_size: DEFAULT_SEGMENT_SIZE,
            mode: WalMode::Native,
            sync: SyncPolicy::default(),
            preallocate: true,
            actor_delay: None,
        }
    }
}

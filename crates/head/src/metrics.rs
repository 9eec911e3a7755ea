//! Counters of the head, readable through [`crate::Head::metrics`].

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

#[derive(Default)]
pub(crate) struct Counters {
    pub series_created: AtomicU64,
    pub series_removed: AtomicU64,
    pub samples_appended: AtomicU64,
    pub out_of_order: AtomicU64,
    pub duplicates: AtomicU64,
    pub out_of_bounds: AtomicU64,
    pub unknown_refs: AtomicU64,
    pub invalid_labels: AtomicU64,
    pub chunks_created: AtomicU64,
    pub commits: AtomicU64,
    pub replay_nanos: AtomicU64,
}

impl Counters {
    #[inline]
    pub fn add(c: &AtomicU64, n: u64) {
        if n > 0 {
            c.fetch_add(n, Ordering::Relaxed);
        }
    }
}

/// A snapshot of the head's counters.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct HeadMetrics {
    /// Series in memory now.
    pub series: u64,
    /// Series created since open (replay included).
    pub series_created: u64,
    /// Series removed by truncation since open.
    pub series_removed: u64,
    /// Samples stored since open (replay included).
    pub samples_appended: u64,
    /// Samples rejected as out of order (at append, at commit, or during replay).
    pub out_of_order: u64,
    /// Samples rejected as duplicates with a different value.
    pub duplicates: u64,
    /// Samples rejected as older than the head's lower bound.
    pub out_of_bounds: u64,
    /// Appends to unknown series references.
    pub unknown_refs: u64,
    /// Appends with invalid labels.
    pub invalid_labels: u64,
    /// Chunks started.
    pub chunks_created: u64,
    /// Successful commits.
    pub commits: u64,
    /// Bytes of WAL entries written since open.
    pub wal_bytes: u64,
    /// Time the replay at open took.
    pub replay_duration: Duration,
}

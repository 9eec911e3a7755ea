//! Cutting a stream of samples into XOR chunks.
//!
//! Two policies: [`CutPolicy::Head`] reproduces the Prometheus head (target 120 samples, chunk end
//! predicted after a quarter of them so chunks spread evenly up to the chunk-range boundary, hard
//! limit 240), so a block written from samples holds the chunks Prometheus would have written;
//! [`CutPolicy::Fixed`] cuts every `n` samples, as Prometheus's compaction does when it re-encodes
//! merged series.

use tsdb_chunks::XorChunk;

/// Samples per chunk Prometheus aims for.
pub const SAMPLES_PER_CHUNK: u16 = 120;

/// How samples are grouped into chunks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CutPolicy {
    /// As the Prometheus head with this chunk range (ms; normally the 2 h block range): chunks
    /// never cross a multiple of the range.
    Head {
        /// Width of the aligned windows chunks must not cross.
        chunk_range: i64,
    },
    /// A new chunk every `n` samples (`n >= 1`).
    Fixed(u16),
}

/// A finished chunk: its samples' time range and its encoding.
pub(crate) struct CutChunk {
    pub min_time: i64,
    pub max_time: i64,
    pub chunk: XorChunk,
}

/// Accumulates increasing samples and hands out full chunks.
pub(crate) struct Cutter {
    policy: CutPolicy,
    cur: Option<CutChunk>,
    next_at: i64,
}

/// End of the aligned window of `width` holding `t` (Go's truncating division, as Prometheus).
fn range_end(t: i64, width: i64) -> i64 {
    if width <= 0 {
        return i64::MAX;
    }
    ((t / width) as i128 * width as i128 + width as i128).min(i64::MAX as i128) as i64
}

/// Prometheus's prediction of where a chunk should end so the rest of the range is split evenly.
fn predicted_end(start: i64, cur: i64, max: i64) -> i64 {
    let (s, c, m) = (start as i128, cur as i128, max as i128);
    let per = (c - s + 1) * 4;
    if per <= 0 {
        return max;
    }
    let n = (m - s) / per;
    if n <= 1 {
        return max;
    }
    (s + (m - s) / n) as i64
}

impl Cutter {
    pub(crate) fn new(policy: CutPolicy) -> Self {
        Cutter {
            policy,
            cur: None,
            next_at: i64::MAX,
        }
    }

    /// Appends a sample (timestamps strictly increasing); returns the chunk that was completed
    /// by starting a new one, if any.
    pub(crate) fn push(&mut self, t: i64, v: f64) -> Option<CutChunk> {
        let mut done = None;
        let cut = match (&self.cur, self.policy) {
            (None, _) => true,
            (Some(c), CutPolicy::Fixed(n)) => c.chunk.num_samples() >= n.max(1),
            (Some(c), CutPolicy::Head { .. }) => {
                let n = c.chunk.num_samples();
                if n == SAMPLES_PER_CHUNK / 4 {
                    self.next_at = predicted_end(c.min_time, c.max_time, self.next_at);
                }
                t >= self.next_at || n >= SAMPLES_PER_CHUNK * 2
            }
        };
        if cut {
            done = self.cur.take();
            if let CutPolicy::Head { chunk_range } = self.policy {
                self.next_at = range_end(t, chunk_range);
            }
            // Sized like the series' previous chunk, if any: chunks of one series encode to
            // similar sizes, so the new one rarely reallocates.
            let chunk = match &done {
                Some(prev) => XorChunk::with_capacity(prev.chunk.bytes().len()),
                None => XorChunk::new(),
            };
            self.cur = Some(CutChunk {
                min_time: t,
                max_time: t,
                chunk,
            });
        }
        if let Some(c) = &mut self.cur {
            // A chunk is cut long before its 65535-sample capacity.
            let _ = c.chunk.append(t, v);
            c.max_time = t;
        }
        done
    }

    /// The last, partly filled chunk.
    pub(crate) fn finish(&mut self) -> Option<CutChunk> {
        self.next_at = i64::MAX;
        self.cur.take()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cut(policy: CutPolicy, ts: impl Iterator<Item = i64>) -> Vec<u16> {
        let mut c = Cutter::new(policy);
        let mut sizes = Vec::new();
        for t in ts {
            if let Some(ch) = c.push(t, 1.0) {
                sizes.push(ch.chunk.num_samples());
            }
        }
        if let Some(ch) = c.finish() {
            sizes.push(ch.chunk.num_samples());
        }
        sizes
    }

    #[test]
    fn head_policy_spreads_like_prometheus() {
        let two_h = 7_200_000;
        // 15 s scrapes over 2 h: 480 samples in four chunks of 120.
        let sizes = cut(
            CutPolicy::Head { chunk_range: two_h },
            (0..480).map(|i| i * 15_000),
        );
        assert_eq!(sizes, vec![120, 120, 120, 120]);
        // 200 samples spread over 2 h: one chunk, as the prediction finds no room for two.
        let sizes = cut(
            CutPolicy::Head { chunk_range: two_h },
            (0..200).map(|i| i * 36_000),
        );
        assert_eq!(sizes, vec![200]);
        // 1 s scrapes: capped at 240 until the prediction applies.
        let sizes = cut(
            CutPolicy::Head { chunk_range: two_h },
            (0..1000).map(|i| i * 1000),
        );
        assert!(sizes.iter().all(|&n| n <= 240));
        assert_eq!(sizes.iter().map(|&n| n as usize).sum::<usize>(), 1000);
        // A range boundary always cuts.
        let sizes = cut(
            CutPolicy::Head { chunk_range: two_h },
            [two_h - 1, two_h].into_iter(),
        );
        assert_eq!(sizes, vec![1, 1]);
    }

    #[test]
    fn fixed_policy_cuts_every_n() {
        assert_eq!(cut(CutPolicy::Fixed(120), 0..250), vec![120, 120, 10]);
    }
}

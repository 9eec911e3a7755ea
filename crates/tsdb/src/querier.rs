//! Queries across blocks and the head: series merged by labels, overlapping samples deduplicated.

use std::sync::Arc;

use parking_lot::RwLock;
use tsdb_block::Block;
use tsdb_head::Head;
use tsdb_labels::{Labels, Matcher};

use crate::error::DbError;

/// A series and its samples in the queried range, oldest first, one sample per timestamp.
#[derive(Debug, Clone, PartialEq)]
pub struct Series {
    /// Its labels.
    pub labels: Labels,
    /// `(timestamp ms, value)` pairs.
    pub samples: Vec<(i64, f64)>,
}

/// A consistent view of the database over `[mint, maxt]` (inclusive): the blocks that overlap it as they
/// were when the querier was made (a block compacted or deleted meanwhile stays readable through it), and the
/// head.
///
/// Data that maintenance moves from the head into a new block while the querier is in use is still seen:
/// persisting adds the block to the database before it truncates the head (raising the head's lower
/// bound), so when a read finds the lower bound above where it was when the querier was made, the series
/// is also read from the blocks added since.
pub struct Querier<'a> {
    pub(crate) head: &'a Head,
    pub(crate) blocks: Vec<Arc<Block>>,
    pub(crate) mint: i64,
    pub(crate) maxt: i64,
    /// The database's block list, to find blocks added while the querier is in use (`None`: none are).
    pub(crate) live_blocks: Option<&'a RwLock<Vec<Arc<Block>>>>,
    /// The head's lower bound when the querier was made, read before `blocks` was.
    pub(crate) head_bound: i64,
}

impl Querier<'_> {
    /// The queried range.
    pub fn range(&self) -> (i64, i64) {
        (self.mint, self.maxt)
    }

    /// The series every matcher selects (all series for no matcher) with samples in the range, sorted by
    /// labels. Where blocks overlap each other or the head, a timestamp appears once (blocks in time order
    /// first, then the head). Collects everything; [`for_each_series`](Self::for_each_series) streams.
    pub fn select(&self, matchers: &[Matcher]) -> Result<Vec<Series>, DbError> {
        let mut out = Vec::new();
        self.for_each_series(matchers, |s| {
            out.push(s);
            Ok(())
        })?;
        Ok(out)
    }

    /// Like [`select`](Self::select), but hands the series to `f` one at a time, in label order, holding
    /// only one series of each block and of the head in memory. An error from `f` stops the walk.
    pub fn for_each_series(
        &self,
        matchers: &[Matcher],
        mut f: impl FnMut(Series) -> Result<(), DbError>,
    ) -> Result<(), DbError> {
        let block_err = |b: &Block, e| DbError::Block {
            dir: b.dir().to_path_buf(),
            source: e,
        };
        let head_in_range = self.head.max_time() >= self.mint && self.head.min_time() <= self.maxt;
        let head_series = if head_in_range {
            self.head.select(matchers)
        } else {
            Vec::new()
        };
        // Blocks added since the querier was made, holding what the head no longer does.
        let mut extra: Vec<Arc<Block>> = Vec::new();
        let mut bound = self.head_bound;
        // Read after the head's series: a series the head dropped before they were listed is in a block
        // that was added before the bound moved.
        self.catch_up(&mut bound, &self.blocks, &mut extra);
        // Blocks found now are walked like the others.
        let mut blocks = self.blocks.clone();
        blocks.append(&mut extra);
        // One cursor per block: its series in label order.
        let mut sets = Vec::with_capacity(blocks.len());
        for b in &blocks {
            sets.push(
                b.select(matchers, self.mint, self.maxt)
                    .map_err(|e| block_err(b, e))?
                    .peekable(),
            );
        }
        let mut hi = 0usize;
        let mut buf = Vec::new();
        loop {
            // The smallest label set among the cursors.
            let mut next: Option<Labels> = None;
            for (i, set) in sets.iter_mut().enumerate() {
                match set.peek() {
                    Some(Ok(s)) if next.as_ref().is_none_or(|n| s.labels() < n) => {
                        next = Some(s.labels().clone());
                    }
                    Some(Ok(_)) => {}
                    Some(Err(_)) => {
                        let b = &blocks[i];
                        return match set.next() {
                            Some(Err(e)) => Err(block_err(b, e)),
                            _ => Ok(()),
                        };
                    }
                    None => {}
                }
            }
            if let Some((_, l)) = head_series.get(hi) {
                if next.as_ref().is_none_or(|n| l < n) {
                    next = Some(l.clone());
                }
            }
            let Some(labels) = next else {
                return Ok(());
            };
            let mut samples: Vec<(i64, f64)> = Vec::new();
            let mut sources = 0;
            for (i, set) in sets.iter_mut().enumerate() {
                if set
                    .peek()
                    .is_some_and(|s| s.as_ref().is_ok_and(|s| *s.labels() == labels))
                {
                    if let Some(Ok(s)) = set.next() {
                        let b = &blocks[i];
                        samples.extend(s.collect_samples().map_err(|e| block_err(b, e))?);
                        sources += 1;
                    }
                }
            }
            if head_series.get(hi).is_some_and(|(_, l)| *l == labels) {
                buf.clear();
                self.head
                    .samples_into(head_series[hi].0, self.mint, self.maxt, &mut buf)?;
                samples.extend_from_slice(&buf);
                sources += 1;
                hi += 1;
                // Read after the head: if the bound moved meanwhile, what the head dropped is in a new block.
                self.catch_up(&mut bound, &blocks, &mut extra);
            }
            for b in &extra {
                let n = samples.len();
                read_series(b, &labels, self.mint, self.maxt, &mut samples)?;
                sources += (samples.len() > n) as usize;
            }
            if sources > 1 && !samples.windows(2).all(|w| w[0].0 < w[1].0) {
                // Stable: at equal timestamps the earlier source wins.
                samples.sort_by_key(|s| s.0);
                samples.dedup_by_key(|s| s.0);
            }
            if !samples.is_empty() {
                f(Series { labels, samples })?;
            }
        }
    }

    /// If the head's lower bound moved above `bound`, adds the database's blocks overlapping the range that
    /// are neither in `walked` nor in `extra` to `extra`, and raises `bound`.
    fn catch_up(&self, bound: &mut i64, walked: &[Arc<Block>], extra: &mut Vec<Arc<Block>>) {
        let now = self.head.min_valid();
        if now <= *bound {
            return;
        }
        *bound = now;
        let Some(live) = self.live_blocks else {
            return;
        };
        for b in live.read().iter() {
            let m = b.meta();
            let known = |x: &Arc<Block>| x.dir() == b.dir();
            if m.min_time <= self.maxt
                && m.max_time > self.mint
                && !walked.iter().any(known)
                && !extra.iter().any(known)
            {
                extra.push(b.clone());
            }
        }
    }

    /// Label names across blocks and head, sorted.
    pub fn label_names(&self) -> Result<Vec<String>, DbError> {
        let mut v = self.head.label_names();
        for b in &self.blocks {
            v.extend(b.label_names());
        }
        v.sort();
        v.dedup();
        Ok(v)
    }

    /// Values of a label across blocks and head, sorted.
    pub fn label_values(&self, name: &str) -> Result<Vec<String>, DbError> {
        let mut v = self.head.label_values(name, &[]);
        for b in &self.blocks {
            v.extend(b.label_values(name).map_err(|e| DbError::Block {
                dir: b.dir().to_path_buf(),
                source: e,
            })?);
        }
        v.sort();
        v.dedup();
        Ok(v)
    }
}

/// Appends the samples of the series with exactly `labels` in block `b` over `[mint, maxt]` to `out`.
fn read_series(
    b: &Block,
    labels: &Labels,
    mint: i64,
    maxt: i64,
    out: &mut Vec<(i64, f64)>,
) -> Result<(), DbError> {
    let err = |e| DbError::Block {
        dir: b.dir().to_path_buf(),
        source: e,
    };
    let ms: Vec<Matcher> = labels.iter().map(|(n, v)| Matcher::equal(n, v)).collect();
    for s in b.select(&ms, mint, maxt).map_err(err)? {
        let s = s.map_err(err)?;
        if s.labels() == labels {
            out.extend(s.collect_samples().map_err(err)?);
        }
    }
    Ok(())
}

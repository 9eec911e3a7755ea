//! Queries across blocks and the head: series merged by labels, overlapping samples deduplicated.

use std::sync::Arc;

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
pub struct Querier<'a> {
    pub(crate) head: &'a Head,
    pub(crate) blocks: Vec<Arc<Block>>,
    pub(crate) mint: i64,
    pub(crate) maxt: i64,
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
        // One cursor per block: its series in label order.
        let mut sets = Vec::with_capacity(self.blocks.len());
        for b in &self.blocks {
            sets.push(
                b.select(matchers, self.mint, self.maxt)
                    .map_err(|e| block_err(b, e))?
                    .peekable(),
            );
        }
        let head_in_range = self.head.max_time() >= self.mint && self.head.min_time() <= self.maxt;
        let head_series = if head_in_range {
            self.head.select(matchers)
        } else {
            Vec::new()
        };
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
                        let b = &self.blocks[i];
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
                        let b = &self.blocks[i];
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

//! Queries across blocks and the head: series merged by labels, overlapping samples deduplicated.

use std::collections::BTreeMap;
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
    /// first, then the head).
    pub fn select(&self, matchers: &[Matcher]) -> Result<Vec<Series>, DbError> {
        let mut merged: BTreeMap<Labels, Vec<(i64, f64)>> = BTreeMap::new();
        let mut sources = 0usize;
        for b in &self.blocks {
            let set = b
                .select(matchers, self.mint, self.maxt)
                .map_err(|e| DbError::Block {
                    dir: b.dir().to_path_buf(),
                    source: e,
                })?;
            for s in set {
                let s = s.map_err(|e| DbError::Block {
                    dir: b.dir().to_path_buf(),
                    source: e,
                })?;
                let samples = s.collect_samples().map_err(|e| DbError::Block {
                    dir: b.dir().to_path_buf(),
                    source: e,
                })?;
                if !samples.is_empty() {
                    merged
                        .entry(s.labels().clone())
                        .or_default()
                        .extend(samples);
                }
            }
            sources += 1;
        }
        if self.head.max_time() >= self.mint && self.head.min_time() <= self.maxt {
            let mut buf = Vec::new();
            for (r, labels) in self.head.select(matchers) {
                buf.clear();
                self.head.samples_into(r, self.mint, self.maxt, &mut buf)?;
                if !buf.is_empty() {
                    merged.entry(labels).or_default().extend_from_slice(&buf);
                }
            }
            sources += 1;
        }
        Ok(merged
            .into_iter()
            .map(|(labels, mut samples)| {
                if sources > 1 && !samples.windows(2).all(|w| w[0].0 < w[1].0) {
                    // Stable: at equal timestamps the earlier source wins.
                    samples.sort_by_key(|s| s.0);
                    samples.dedup_by_key(|s| s.0);
                }
                Series { labels, samples }
            })
            .collect())
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

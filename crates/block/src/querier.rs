//! Queries over one block: matchers → postings → series → chunks → samples.
//!
//! The query range `[mint, maxt]` is closed (both ends inclusive), as Prometheus's querier.
//! Samples stream chunk by chunk straight from the memory-mapped segment files; deleted ranges
//! (tombstones) are skipped.

use std::sync::Arc;

use tsdb_chunks::{Encoding, XorIter};
use tsdb_labels::{Labels, Matcher};

use crate::error::{Corruption, Result};
use crate::index::{ChunkMeta, IndexReader, IndexRef};
use crate::reader::Block;
use crate::tombstones::{Intervals, Tombstones};

/// The references of the series matching all `matchers`, ascending (so in label order), by the shared
/// postings engine (`tsdb_labels::postings`) over the block's index.
///
/// Prometheus semantics: a series lacking a label has the empty value for it, so a matcher that
/// matches `""` also selects series without the label. An empty matcher list selects every
/// series.
pub fn postings_for_matchers(ix: &IndexReader, matchers: &[Matcher]) -> Result<Vec<IndexRef>> {
    tsdb_labels::postings::postings_for_matchers(ix, matchers)
}

impl Block {
    /// The series matching all `matchers` (an empty list matches every series) that have
    /// chunks overlapping the closed range `[mint, maxt]` not entirely deleted, ascending by
    /// labels. Each series streams its samples in that range, tombstones applied.
    pub fn select(&self, matchers: &[Matcher], mint: i64, maxt: i64) -> Result<SeriesSet<'_>> {
        let refs = if mint > maxt {
            Vec::new()
        } else {
            postings_for_matchers(self.index(), matchers)?
        };
        Ok(SeriesSet {
            block: self,
            refs,
            next: 0,
            mint,
            maxt,
            stones: self.tombstones(),
            chunks: Vec::new(),
        })
    }
}

/// The series of a [`Block::select`], in label order; an `Iterator` of `Result<BlockSeries>`.
pub struct SeriesSet<'a> {
    block: &'a Block,
    refs: Vec<IndexRef>,
    next: usize,
    mint: i64,
    maxt: i64,
    stones: Arc<Tombstones>,
    chunks: Vec<ChunkMeta>,
}

impl<'a> SeriesSet<'a> {
    /// Number of candidate series left (an upper bound of what the iterator yields).
    pub fn remaining_candidates(&self) -> usize {
        self.refs.len() - self.next
    }
}

impl<'a> Iterator for SeriesSet<'a> {
    type Item = Result<BlockSeries<'a>>;

    fn next(&mut self) -> Option<Self::Item> {
        while let Some(&r) = self.refs.get(self.next) {
            self.next += 1;
            let labels = match self.block.index().series(r, &mut self.chunks) {
                Ok(l) => l,
                Err(e) => {
                    self.next = self.refs.len();
                    return Some(Err(e));
                }
            };
            let (mint, maxt) = (self.mint, self.maxt);
            let deleted = self.stones.get(r as u64);
            self.chunks.retain(|c| {
                c.overlaps_closed(mint, maxt)
                    && !deleted.is_some_and(|d| d.covers(c.min_time, c.max_time))
            });
            if self.chunks.is_empty() {
                continue;
            }
            return Some(Ok(BlockSeries {
                block: self.block,
                series_ref: r,
                labels,
                chunks: std::mem::take(&mut self.chunks),
                deleted: deleted.cloned().unwrap_or_default(),
                mint,
                maxt,
            }));
        }
        None
    }
}

/// One series of a query: its labels and the chunks overlapping the query range.
pub struct BlockSeries<'a> {
    block: &'a Block,
    series_ref: IndexRef,
    labels: Labels,
    chunks: Vec<ChunkMeta>,
    deleted: Intervals,
    mint: i64,
    maxt: i64,
}

impl<'a> BlockSeries<'a> {
    /// The series' labels.
    pub fn labels(&self) -> &Labels {
        &self.labels
    }

    /// The series' reference in the block's index.
    pub fn series_ref(&self) -> IndexRef {
        self.series_ref
    }

    /// Metas of the chunks overlapping the query range and not entirely deleted.
    pub fn chunks(&self) -> &[ChunkMeta] {
        &self.chunks
    }

    /// The series' deleted intervals.
    pub fn deleted(&self) -> &Intervals {
        &self.deleted
    }

    /// The samples in the query range, tombstones applied, decoded chunk by chunk.
    pub fn samples(&self) -> SampleIter<'a> {
        SampleIter::new(
            self.block,
            self.chunks.clone(),
            self.deleted.clone(),
            self.mint,
            self.maxt,
        )
    }

    /// As [`BlockSeries::samples`], consuming the series (no copy of its chunk list).
    pub fn into_samples(self) -> SampleIter<'a> {
        SampleIter::new(self.block, self.chunks, self.deleted, self.mint, self.maxt)
    }

    /// Every sample of [`BlockSeries::samples`] collected.
    pub fn collect_samples(&self) -> Result<Vec<(i64, f64)>> {
        self.samples().collect()
    }
}

/// Streams the samples of a series' chunks within a closed range, skipping deleted intervals.
/// After an error the iterator ends.
pub struct SampleIter<'a> {
    block: &'a Block,
    chunks: Vec<ChunkMeta>,
    next_chunk: usize,
    cur: Option<(XorIter<'a>, ChunkMeta)>,
    deleted: Intervals,
    /// Index of the first deleted interval that may still contain upcoming samples.
    del_pos: usize,
    mint: i64,
    maxt: i64,
    done: bool,
}

impl<'a> SampleIter<'a> {
    pub(crate) fn new(
        block: &'a Block,
        chunks: Vec<ChunkMeta>,
        deleted: Intervals,
        mint: i64,
        maxt: i64,
    ) -> Self {
        SampleIter {
            block,
            chunks,
            next_chunk: 0,
            cur: None,
            deleted,
            del_pos: 0,
            mint,
            maxt,
            done: false,
        }
    }

    fn open_next_chunk(&mut self) -> Result<bool> {
        let Some(&meta) = self.chunks.get(self.next_chunk) else {
            return Ok(false);
        };
        self.next_chunk += 1;
        let data = self.block.chunk(meta.chunk_ref)?;
        if data.encoding != Encoding::XOR {
            return Err(self.block.chunk_error(
                meta.chunk_ref,
                Corruption::UnsupportedEncoding(data.encoding),
            ));
        }
        let it = XorIter::new(data.data).map_err(|e| {
            self.block
                .chunk_error(meta.chunk_ref, Corruption::ChunkDecode(e))
        })?;
        self.cur = Some((it, meta));
        Ok(true)
    }

    #[inline]
    fn is_deleted(&mut self, t: i64) -> bool {
        let ivs = self.deleted.as_slice();
        while let Some(iv) = ivs.get(self.del_pos) {
            if iv.maxt < t {
                self.del_pos += 1;
                continue;
            }
            return iv.mint <= t;
        }
        false
    }
}

impl Iterator for SampleIter<'_> {
    type Item = Result<(i64, f64)>;

    #[inline]
    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        loop {
            if let Some((it, meta)) = &mut self.cur {
                match it.advance() {
                    Ok(true) => {
                        let (t, v) = it.at();
                        if t < self.mint {
                            continue;
                        }
                        if t > self.maxt {
                            // Chunks are in time order: nothing further is in range.
                            self.cur = None;
                            self.done = true;
                            return None;
                        }
                        if !self.deleted.is_empty() && self.is_deleted(t) {
                            continue;
                        }
                        return Some(Ok((t, v)));
                    }
                    Ok(false) => self.cur = None,
                    Err(e) => {
                        let err = self
                            .block
                            .chunk_error(meta.chunk_ref, Corruption::ChunkDecode(e));
                        self.done = true;
                        return Some(Err(err));
                    }
                }
            }
            match self.open_next_chunk() {
                Ok(true) => {}
                Ok(false) => {
                    self.done = true;
                    return None;
                }
                Err(e) => {
                    self.done = true;
                    return Some(Err(e));
                }
            }
        }
    }
}

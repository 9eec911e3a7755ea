//! Queries across blocks and the head, streamed: series merged by labels in label order, each series'
//! samples read only when asked for, overlapping samples deduplicated.

use std::iter::Peekable;
use std::sync::Arc;

use tsdb_block::{Block, BlockSeries};
use tsdb_head::{Head, SeriesRef};
use tsdb_labels::{Labels, Matcher};

use crate::error::DbError;

/// Samples per chunk when [`SelectedSeries::chunks_into`] must encode chunks itself: the head's cut.
pub const ENCODED_CHUNK_SAMPLES: usize = 120;

/// One XOR chunk of a series, as [`SelectedSeries::chunks_into`] gives it: the stored chunk's bytes
/// (sample-count header and bit stream, what Prometheus's remote read sends as `XOR`) and its time range.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EncodedChunk {
    /// Timestamp of its first sample.
    pub min_time: i64,
    /// Timestamp of its last sample.
    pub max_time: i64,
    /// The XOR chunk.
    pub data: Vec<u8>,
}

/// How [`SelectedSeries::chunks_into`] produced its chunks.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ChunkOrigin {
    /// Chunks copied as stored, without decoding.
    pub copied: usize,
    /// Chunks encoded from decoded samples (at the range's ends, over deletes, across sources).
    pub encoded: usize,
}

/// A series and its samples in the queried range, oldest first, one sample per timestamp: the collected
/// form of a [`SelectedSeries`].
#[derive(Debug, Clone, PartialEq)]
pub struct Series {
    /// Its labels.
    pub labels: Labels,
    /// `(timestamp ms, value)` pairs.
    pub samples: Vec<(i64, f64)>,
}

/// A consistent view of the database over `[mint, maxt]` (inclusive): the blocks that overlap it as they
/// were when the querier was made (a block compacted or deleted meanwhile stays readable through it), and the
/// head (absent for a [`crate::ReadOnlyDb`] that could not read it).
pub struct Querier<'a> {
    /// Held while the querier lives: the head is not truncated under it, so a block persisted after the
    /// querier took its list of blocks is still read from the head.
    pub(crate) _gate: Option<parking_lot::RwLockReadGuard<'a, ()>>,
    pub(crate) head: Option<&'a Head>,
    pub(crate) blocks: Vec<Arc<Block>>,
    pub(crate) mint: i64,
    pub(crate) maxt: i64,
}

fn block_err(b: &Block, e: tsdb_block::BlockError) -> DbError {
    DbError::Block {
        dir: b.dir().to_path_buf(),
        source: e,
    }
}

impl Querier<'_> {
    /// The queried range.
    pub fn range(&self) -> (i64, i64) {
        (self.mint, self.maxt)
    }

    /// The series every matcher selects (all series for no matcher) that have data overlapping the range,
    /// in label order, as a stream: the postings of each block and of the head are resolved now, each
    /// series' labels and chunk list when the iterator reaches it, and its samples only through
    /// [`SelectedSeries::samples_into`]. Memory holds one series of each source at a time (plus the head's
    /// matching references), whatever the number of series selected.
    ///
    /// A block that fails while its postings are resolved or its series listed ends the stream with
    /// [`DbError::Block`] naming it (as its first item, for a failure while resolving); see
    /// [`SeriesSet::skip_damaged`] to go on without it.
    pub fn select(&self, matchers: &[Matcher]) -> Result<SeriesSet<'_>, DbError> {
        let mut cursors = Vec::with_capacity(self.blocks.len());
        let mut failed = Vec::new();
        for b in &self.blocks {
            match b.select(matchers, self.mint, self.maxt) {
                Ok(set) => cursors.push(Some(set.peekable())),
                Err(e) => {
                    failed.push(block_err(b, e));
                    cursors.push(None);
                }
            }
        }
        let head = self
            .head
            .filter(|h| h.max_time() >= self.mint && h.min_time() <= self.maxt);
        let head_series = match head {
            Some(h) => h.select(matchers),
            None => Vec::new(),
        };
        Ok(SeriesSet {
            q: self,
            cursors,
            head,
            head_series: head_series.into_iter().peekable(),
            skip_damaged: false,
            failed,
            damage: Vec::new(),
        })
    }

    /// [`select`](Self::select) collected: every selected series with at least one sample in the range,
    /// and its samples. For small results and tests; large ones should stream.
    pub fn select_all(&self, matchers: &[Matcher]) -> Result<Vec<Series>, DbError> {
        let mut out = Vec::new();
        let mut buf = Vec::new();
        for s in self.select(matchers)? {
            let s = s?;
            buf.clear();
            s.samples_into(&mut buf)?;
            if !buf.is_empty() {
                out.push(Series {
                    labels: s.labels,
                    samples: buf.clone(),
                });
            }
        }
        Ok(out)
    }

    /// Label names across blocks and head, sorted.
    pub fn label_names(&self) -> Result<Vec<String>, DbError> {
        let mut v = self.head.map(|h| h.label_names()).unwrap_or_default();
        for b in &self.blocks {
            v.extend(b.label_names());
        }
        v.sort();
        v.dedup();
        Ok(v)
    }

    /// Values of a label across blocks and head, sorted.
    pub fn label_values(&self, name: &str) -> Result<Vec<String>, DbError> {
        let mut v = self
            .head
            .map(|h| h.label_values(name, &[]))
            .unwrap_or_default();
        for b in &self.blocks {
            v.extend(b.label_values(name).map_err(|e| block_err(b, e))?);
        }
        v.sort();
        v.dedup();
        Ok(v)
    }
}

/// The stream of [`Querier::select`]: `Result<SelectedSeries>` in label order, each label set once.
pub struct SeriesSet<'q> {
    q: &'q Querier<'q>,
    /// One cursor per block of the querier (same order); `None` once a damaged block was dropped.
    cursors: Vec<Option<Peekable<tsdb_block::SeriesSet<'q>>>>,
    head: Option<&'q Head>,
    head_series: Peekable<std::vec::IntoIter<(SeriesRef, Labels)>>,
    skip_damaged: bool,
    /// Errors of blocks whose postings could not be resolved (their cursors are `None`): returned first,
    /// or moved to `damage` when skipping.
    failed: Vec<DbError>,
    damage: Vec<DbError>,
}

impl SeriesSet<'_> {
    /// Goes on without a block whose series cannot be listed (a damaged index), instead of ending the
    /// stream: its error is kept for [`damage`](Self::damage) and the other sources are still merged.
    pub fn skip_damaged(mut self) -> Self {
        self.skip_damaged = true;
        self.damage.append(&mut self.failed);
        self
    }

    /// The errors of the blocks dropped by [`skip_damaged`](Self::skip_damaged), in the order met.
    pub fn damage(&self) -> &[DbError] {
        &self.damage
    }

    /// Takes the errors of [`damage`](Self::damage), leaving none.
    pub fn take_damage(&mut self) -> Vec<DbError> {
        std::mem::take(&mut self.damage)
    }
}

impl<'q> Iterator for SeriesSet<'q> {
    type Item = Result<SelectedSeries<'q>, DbError>;

    fn next(&mut self) -> Option<Self::Item> {
        if !self.failed.is_empty() {
            if !self.skip_damaged {
                self.cursors.iter_mut().for_each(|c| *c = None);
                self.head_series = Vec::new().into_iter().peekable();
                let first = self.failed.remove(0);
                self.failed.clear();
                return Some(Err(first));
            }
            self.damage.append(&mut self.failed);
        }
        loop {
            // The smallest label set among the sources' next series.
            let mut next: Option<Labels> = None;
            for i in 0..self.cursors.len() {
                let Some(set) = self.cursors[i].as_mut() else {
                    continue;
                };
                match set.peek() {
                    Some(Ok(s)) if next.as_ref().is_none_or(|n| s.labels() < n) => {
                        next = Some(s.labels().clone());
                    }
                    Some(Ok(_)) => {}
                    Some(Err(_)) => {
                        let b = &self.q.blocks[i];
                        let err = match set.next() {
                            Some(Err(e)) => block_err(b, e),
                            _ => DbError::Invalid("block cursor lost its error".into()),
                        };
                        self.cursors[i] = None;
                        if !self.skip_damaged {
                            self.cursors.iter_mut().for_each(|c| *c = None);
                            self.head_series = Vec::new().into_iter().peekable();
                            return Some(Err(err));
                        }
                        self.damage.push(err);
                        // Look again without it.
                        return self.next();
                    }
                    None => {}
                }
            }
            if let Some((_, l)) = self.head_series.peek() {
                if next.as_ref().is_none_or(|n| l < n) {
                    next = Some(l.clone());
                }
            }
            let labels = next?;
            let mut blocks = Vec::new();
            for (i, c) in self.cursors.iter_mut().enumerate() {
                let Some(set) = c.as_mut() else { continue };
                if matches!(set.peek(), Some(Ok(s)) if *s.labels() == labels) {
                    if let Some(Ok(s)) = set.next() {
                        blocks.push((self.q.blocks[i].as_ref(), s));
                    }
                }
            }
            let mut head = None;
            if self.head_series.peek().is_some_and(|(_, l)| *l == labels) {
                if let (Some(h), Some((r, _))) = (self.head, self.head_series.next()) {
                    if h.overlaps(r, self.q.mint, self.q.maxt) {
                        head = Some((h, r));
                    }
                }
            }
            if blocks.is_empty() && head.is_none() {
                continue;
            }
            return Some(Ok(SelectedSeries {
                labels,
                blocks,
                head,
                mint: self.q.mint,
                maxt: self.q.maxt,
            }));
        }
    }
}

/// One series of a [`SeriesSet`]: its labels and where its data is (the chunks of each block holding it,
/// the head), nothing decoded yet.
pub struct SelectedSeries<'q> {
    labels: Labels,
    blocks: Vec<(&'q Block, BlockSeries<'q>)>,
    head: Option<(&'q Head, SeriesRef)>,
    mint: i64,
    maxt: i64,
}

impl SelectedSeries<'_> {
    /// Its labels.
    pub fn labels(&self) -> &Labels {
        &self.labels
    }

    /// Its labels, owned.
    pub fn into_labels(self) -> Labels {
        self.labels
    }

    /// Number of sources (blocks, head) holding data of this series in the range.
    pub fn sources(&self) -> usize {
        self.blocks.len() + usize::from(self.head.is_some())
    }

    /// Appends its samples in the range to `out` (cleared first), oldest first, tombstones and deletes
    /// applied; where sources overlap, a timestamp appears once (blocks in time order first, then the
    /// head). May leave `out` empty (everything in range deleted). The first damaged source fails it.
    pub fn samples_into(&self, out: &mut Vec<(i64, f64)>) -> Result<(), DbError> {
        self.read(out, None)
    }

    /// Like [`samples_into`](Self::samples_into), but a damaged source is left out (its error pushed to
    /// `damage`) and the others are still read.
    pub fn samples_into_skipping_damage(
        &self,
        out: &mut Vec<(i64, f64)>,
        damage: &mut Vec<DbError>,
    ) {
        // With a damage list, read never fails.
        let _ = self.read(out, Some(damage));
    }

    fn read(
        &self,
        out: &mut Vec<(i64, f64)>,
        damage: Option<&mut Vec<DbError>>,
    ) -> Result<(), DbError> {
        let mut damage = damage;
        out.clear();
        let mut sources = 0;
        for (b, s) in &self.blocks {
            let start = out.len();
            let mut failed = None;
            for x in s.samples() {
                match x {
                    Ok(x) => out.push(x),
                    Err(e) => {
                        failed = Some(block_err(b, e));
                        break;
                    }
                }
            }
            if let Some(e) = failed {
                match damage.as_deref_mut() {
                    Some(d) => {
                        out.truncate(start);
                        d.push(e);
                        continue;
                    }
                    None => return Err(e),
                }
            }
            sources += 1;
        }
        if let Some((h, r)) = self.head {
            let start = out.len();
            if let Err(e) = h.samples_into(r, self.mint, self.maxt, out) {
                match damage {
                    Some(d) => {
                        out.truncate(start);
                        d.push(e.into());
                    }
                    None => return Err(e.into()),
                }
            } else {
                sources += 1;
            }
        }
        if sources > 1 && !out.windows(2).all(|w| w[0].0 < w[1].0) {
            // Stable: at equal timestamps the earlier source wins.
            out.sort_by_key(|s| s.0);
            out.dedup_by_key(|s| s.0);
        }
        Ok(())
    }
}

impl SelectedSeries<'_> {
    /// Appends the series' data in the range to `out` (cleared first) as XOR chunks, oldest first, and
    /// says how many were copied and how many encoded. A series held by one source, with no deleted
    /// interval touching it, gets its stored chunks copied byte for byte where they lie inside the range;
    /// chunks crossing the range's ends are decoded, cut to the range and encoded again, and so is
    /// everything of a series merged from several sources or with deletes (then in chunks of
    /// [`ENCODED_CHUNK_SAMPLES`]). The samples the chunks hold are exactly those of
    /// [`samples_into`](Self::samples_into); `scratch` is a reusable buffer. Fails as `samples_into` fails.
    pub fn chunks_into(
        &self,
        out: &mut Vec<EncodedChunk>,
        scratch: &mut Vec<(i64, f64)>,
    ) -> Result<ChunkOrigin, DbError> {
        out.clear();
        if self.sources() == 1 {
            if let Some(origin) = self.stored_chunks(out, scratch) {
                return Ok(origin);
            }
            out.clear();
        }
        self.samples_into(scratch)?;
        Ok(ChunkOrigin {
            copied: 0,
            encoded: encode_chunks(scratch, out),
        })
    }

    /// The chunks of the one source, or `None` when they cannot be used as stored (then the caller reads
    /// samples, which reports any damage with its context).
    fn stored_chunks(
        &self,
        out: &mut Vec<EncodedChunk>,
        scratch: &mut Vec<(i64, f64)>,
    ) -> Option<ChunkOrigin> {
        let (mint, maxt) = (self.mint, self.maxt);
        let mut origin = ChunkOrigin::default();
        let mut take = |min_time: i64, max_time: i64, data: &[u8]| -> Option<()> {
            if min_time >= mint && max_time <= maxt {
                out.push(EncodedChunk {
                    min_time,
                    max_time,
                    data: data.to_vec(),
                });
                origin.copied += 1;
                return Some(());
            }
            scratch.clear();
            let mut it = tsdb_chunks::XorIter::new(data).ok()?;
            while it.advance().ok()? {
                let (t, v) = it.at();
                if t >= mint && t <= maxt {
                    scratch.push((t, v));
                }
            }
            origin.encoded += encode_chunks(scratch, out);
            Some(())
        };
        if let Some((b, s)) = self.blocks.first() {
            if !s.deleted().is_empty() {
                return None;
            }
            for meta in s.chunks() {
                let c = b.chunk(meta.chunk_ref).ok()?;
                if c.encoding != tsdb_chunks::Encoding::XOR {
                    return None;
                }
                take(meta.min_time, meta.max_time, c.data)?;
            }
            return Some(origin);
        }
        let (h, r) = self.head?;
        h.with_chunks(r, mint, maxt, |chunks| {
            chunks
                .iter()
                .try_for_each(|c| take(c.min_time, c.max_time, c.data))
        })
        .ok()??;
        Some(origin)
    }
}

/// Encodes `samples` into chunks of [`ENCODED_CHUNK_SAMPLES`] appended to `out`; returns how many.
fn encode_chunks(samples: &[(i64, f64)], out: &mut Vec<EncodedChunk>) -> usize {
    let mut n = 0;
    for part in samples.chunks(ENCODED_CHUNK_SAMPLES) {
        let mut c = tsdb_chunks::XorChunk::with_capacity(part.len() * 2 + 8);
        for &(t, v) in part {
            // A chunk holds up to u16::MAX samples; these hold ENCODED_CHUNK_SAMPLES.
            let _ = c.append(t, v);
        }
        out.push(EncodedChunk {
            min_time: part[0].0,
            max_time: part[part.len() - 1].0,
            data: c.into_bytes(),
        });
        n += 1;
    }
    n
}

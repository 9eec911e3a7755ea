//! Writing a block from a [`BlockSource`]: chunks, index, `meta.json` and an empty tombstones
//! file go into `PARENT/ULID.tmp/`, which is fsynced and renamed to `PARENT/ULID` when complete.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use tsdb_chunks::{BlockChunkWriter, Encoding, XorIter, DEFAULT_SEGMENT_SIZE};
use tsdb_labels::Labels;

use crate::cutter::{CutChunk, CutPolicy, Cutter};
use crate::error::{BlockError, Result};
use crate::fsutil;
use crate::index::{ChunkMeta, IndexWriter, INDEX_FILENAME};
use crate::meta::{new_ulid, write_meta, BlockDesc, BlockMeta, BlockStats, Ulid};
use crate::tombstones::{write_tombstones, Tombstones};

/// Prometheus's default block range and head chunk range: 2 h in ms.
pub const DEFAULT_BLOCK_RANGE: i64 = 2 * 60 * 60 * 1000;

/// Name of the chunks directory in a block directory.
pub const CHUNKS_DIRNAME: &str = "chunks";

/// A chunk a source hands over already encoded.
#[derive(Debug, Clone, Copy)]
pub struct SourceChunk<'a> {
    /// Timestamp of its first sample.
    pub min_time: i64,
    /// Timestamp of its last sample.
    pub max_time: i64,
    /// Its encoding; only [`Encoding::XOR`] is accepted.
    pub encoding: Encoding,
    /// The encoded chunk (sample-count header and bit stream).
    pub data: &'a [u8],
}

/// Receives the series of a [`BlockSource`], one call per series, in ascending label order.
///
/// Samples or chunks outside the block's range are dropped, so sources need not trim. Within a
/// series, samples must have strictly increasing timestamps and chunks must not overlap. A
/// series left without samples in the range is not written.
pub trait SeriesSink {
    /// Adds a series given as samples (strictly increasing timestamps). They are cut into chunks
    /// as the Prometheus head cuts them.
    fn add_samples(
        &mut self,
        labels: &Labels,
        samples: &mut dyn Iterator<Item = (i64, f64)>,
    ) -> Result<()>;

    /// Adds a series given as encoded XOR chunks in time order. Chunks entirely inside the
    /// block's range are copied unchanged; chunks crossing its bounds are decoded and re-cut.
    fn add_chunks(&mut self, labels: &Labels, chunks: &[SourceChunk<'_>]) -> Result<()>;
}

/// What a block is written from (the `tsdb` crate implements it over the head).
///
/// `for_each_series` must call the sink once per series that may have samples in
/// `[mint, maxt)`, in ascending label order (`Labels`' `Ord`, Prometheus's order), and pass on
/// any error the sink returns. Failures of the source itself can be wrapped in
/// [`BlockError::Source`].
pub trait BlockSource {
    /// Feeds every series with samples in `[mint, maxt)` to `sink`, in label order.
    fn for_each_series(&self, mint: i64, maxt: i64, sink: &mut dyn SeriesSink) -> Result<()>;
}

/// Series as label sets with samples, in any order: sorted by labels when fed; a series listed
/// twice is merged; samples are sorted by time (at equal timestamps the first listed wins).
impl BlockSource for [(Labels, Vec<(i64, f64)>)] {
    fn for_each_series(&self, _mint: i64, _maxt: i64, sink: &mut dyn SeriesSink) -> Result<()> {
        let mut order: Vec<usize> = (0..self.len()).collect();
        order.sort_by(|&a, &b| self[a].0.cmp(&self[b].0).then(a.cmp(&b)));
        let mut i = 0;
        while i < order.len() {
            let labels = &self[order[i]].0;
            let mut j = i + 1;
            while j < order.len() && self[order[j]].0 == *labels {
                j += 1;
            }
            let first = &self[order[i]].1;
            let increasing = first.windows(2).all(|w| w[0].0 < w[1].0);
            if j == i + 1 && increasing {
                sink.add_samples(labels, &mut first.iter().copied())?;
            } else {
                let mut all: Vec<(i64, f64)> = order[i..j]
                    .iter()
                    .flat_map(|&k| self[k].1.iter().copied())
                    .collect();
                all.sort_by_key(|s| s.0);
                all.dedup_by_key(|s| s.0);
                sink.add_samples(labels, &mut all.into_iter())?;
            }
            i = j;
        }
        Ok(())
    }
}

impl BlockSource for Vec<(Labels, Vec<(i64, f64)>)> {
    fn for_each_series(&self, mint: i64, maxt: i64, sink: &mut dyn SeriesSink) -> Result<()> {
        self.as_slice().for_each_series(mint, maxt, sink)
    }
}

/// Options of [`write_block`].
#[derive(Debug, Clone)]
pub struct WriteOptions {
    /// Compaction level recorded in `meta.json` (1 for a block written from the head).
    pub level: u32,
    /// Source ULIDs recorded in `meta.json`; empty means the new block's own ULID.
    pub sources: Vec<Ulid>,
    /// Parent blocks recorded in `meta.json`.
    pub parents: Vec<BlockDesc>,
    /// How samples are cut into chunks.
    pub cut_policy: CutPolicy,
    /// Size at which chunk segment files are cut.
    pub segment_size: u64,
}

impl Default for WriteOptions {
    fn default() -> Self {
        WriteOptions {
            level: 1,
            sources: Vec::new(),
            parents: Vec::new(),
            cut_policy: CutPolicy::Head {
                chunk_range: DEFAULT_BLOCK_RANGE,
            },
            segment_size: DEFAULT_SEGMENT_SIZE,
        }
    }
}

/// A block directory being written under its temporary name; removed on drop unless committed.
pub(crate) struct TmpBlock {
    pub tmp: PathBuf,
    pub dir: PathBuf,
    pub chunks: Option<BlockChunkWriter>,
    done: bool,
}

impl TmpBlock {
    pub(crate) fn create(parent: &Path, ulid: Ulid, segment_size: u64) -> Result<Self> {
        let dir = parent.join(ulid.to_string());
        let tmp = fsutil::with_suffix(&dir, ".tmp");
        fsutil::remove_dir_if_exists(&tmp)?;
        std::fs::create_dir_all(&tmp).map_err(|e| BlockError::io("create directory", &tmp, e))?;
        let mut b = TmpBlock {
            tmp,
            dir,
            chunks: None,
            done: false,
        };
        b.chunks = Some(BlockChunkWriter::with_segment_size(
            b.tmp.join(CHUNKS_DIRNAME),
            segment_size,
        )?);
        Ok(b)
    }

    pub(crate) fn index_path(&self) -> PathBuf {
        self.tmp.join(INDEX_FILENAME)
    }

    /// Finishes the chunks, writes `meta.json` and an empty tombstones file, fsyncs and renames
    /// the directory into place, and fsyncs the parent.
    pub(crate) fn commit(mut self, meta: &BlockMeta) -> Result<PathBuf> {
        if let Some(w) = self.chunks.take() {
            w.finish()?;
        }
        write_meta(&self.tmp, meta)?;
        write_tombstones(&self.tmp, &Tombstones::new())?;
        fsutil::sync_dir(&self.tmp)?;
        if self.dir.exists() {
            return Err(BlockError::InvalidArgument(format!(
                "block directory {} already exists",
                self.dir.display()
            )));
        }
        tsdb_failpoint::point("block.commit.rename");
        std::fs::rename(&self.tmp, &self.dir)
            .map_err(|e| BlockError::io("rename", &self.tmp, e))?;
        self.done = true;
        if let Some(parent) = self.dir.parent() {
            fsutil::sync_dir(parent)?;
        }
        Ok(self.dir.clone())
    }
}

impl Drop for TmpBlock {
    fn drop(&mut self) {
        if !self.done {
            self.chunks = None;
            let _ = std::fs::remove_dir_all(&self.tmp);
        }
    }
}

/// Chunks this process encoded while writing blocks (cut from samples), and chunks it copied unchanged.
static CHUNKS_ENCODED: AtomicU64 = AtomicU64::new(0);
static CHUNKS_COPIED: AtomicU64 = AtomicU64::new(0);

/// How many chunks block writing (persistence, compaction, imports) has encoded from samples in this
/// process, and how many it copied as they were: `(encoded, copied)`. Persisting the head copies its
/// full chunks, so a test or a metrics page can check that it does not re-encode them.
pub fn chunk_write_counts() -> (u64, u64) {
    (
        CHUNKS_ENCODED.load(Ordering::Relaxed),
        CHUNKS_COPIED.load(Ordering::Relaxed),
    )
}

/// Turns series into chunks written to a chunk writer; shared by [`write_block`] and compaction.
pub(crate) struct ChunkEmitter<'w> {
    pub writer: &'w mut BlockChunkWriter,
    pub stats: BlockStats,
    pub policy: CutPolicy,
    cutter: Cutter,
    metas: Vec<ChunkMeta>,
}

impl<'w> ChunkEmitter<'w> {
    pub(crate) fn new(writer: &'w mut BlockChunkWriter, policy: CutPolicy) -> Self {
        ChunkEmitter {
            writer,
            stats: BlockStats::default(),
            policy,
            cutter: Cutter::new(policy),
            metas: Vec::new(),
        }
    }

    /// Starts a new series.
    pub(crate) fn begin(&mut self) {
        self.metas.clear();
        self.cutter = Cutter::new(self.policy);
    }

    fn emit(&mut self, c: CutChunk) -> Result<()> {
        let r = self.writer.write_xor(&c.chunk)?;
        CHUNKS_ENCODED.fetch_add(1, Ordering::Relaxed);
        self.stats.num_chunks += 1;
        self.stats.num_samples += c.chunk.num_samples() as u64;
        self.metas.push(ChunkMeta {
            min_time: c.min_time,
            max_time: c.max_time,
            chunk_ref: r,
        });
        Ok(())
    }

    /// Appends a sample to the series being cut (strictly increasing timestamps).
    #[inline]
    pub(crate) fn sample(&mut self, t: i64, v: f64) -> Result<()> {
        if let Some(c) = self.cutter.push(t, v) {
            self.emit(c)?;
        }
        Ok(())
    }

    /// Ends the current run of samples (the next sample starts a new chunk).
    pub(crate) fn flush(&mut self) -> Result<()> {
        if let Some(c) = self.cutter.finish() {
            self.emit(c)?;
        }
        self.cutter = Cutter::new(self.policy);
        Ok(())
    }

    /// Copies an encoded chunk unchanged (after flushing any cut samples).
    pub(crate) fn copy_chunk(
        &mut self,
        min_time: i64,
        max_time: i64,
        encoding: Encoding,
        data: &[u8],
        num_samples: u16,
    ) -> Result<()> {
        self.flush()?;
        let r = self.writer.write_chunk(encoding, data)?;
        CHUNKS_COPIED.fetch_add(1, Ordering::Relaxed);
        self.stats.num_chunks += 1;
        self.stats.num_samples += num_samples as u64;
        self.metas.push(ChunkMeta {
            min_time,
            max_time,
            chunk_ref: r,
        });
        Ok(())
    }

    /// Ends the series; returns its chunk metas (empty if it got no sample).
    pub(crate) fn end(&mut self) -> Result<&[ChunkMeta]> {
        self.flush()?;
        if !self.metas.is_empty() {
            self.stats.num_series += 1;
        }
        Ok(&self.metas)
    }
}

/// The sink of [`write_block`]: writes chunks, keeps labels and chunk metas for the index.
struct Collector<'w> {
    em: ChunkEmitter<'w>,
    mint: i64,
    maxt: i64,
    series: Vec<(Labels, Vec<ChunkMeta>)>,
    last: Option<Labels>,
}

impl Collector<'_> {
    fn check_order(&mut self, labels: &Labels) -> Result<()> {
        if let Some(prev) = &self.last {
            if labels <= prev {
                return Err(BlockError::SeriesOutOfOrder {
                    labels: labels.to_string(),
                    previous: prev.to_string(),
                });
            }
        }
        self.last = Some(labels.clone());
        Ok(())
    }

    fn finish_series(&mut self, labels: &Labels) -> Result<()> {
        let metas = self.em.end()?;
        if !metas.is_empty() {
            self.series.push((labels.clone(), metas.to_vec()));
        }
        Ok(())
    }
}

fn out_of_order(labels: &Labels, t: i64, previous: i64) -> BlockError {
    BlockError::SampleOutOfOrder {
        labels: labels.to_string(),
        t,
        previous,
    }
}

impl SeriesSink for Collector<'_> {
    fn add_samples(
        &mut self,
        labels: &Labels,
        samples: &mut dyn Iterator<Item = (i64, f64)>,
    ) -> Result<()> {
        self.check_order(labels)?;
        self.em.begin();
        let mut prev: Option<i64> = None;
        for (t, v) in samples {
            if let Some(p) = prev {
                if t <= p {
                    return Err(out_of_order(labels, t, p));
                }
            }
            prev = Some(t);
            if t < self.mint || t >= self.maxt {
                continue;
            }
            self.em.sample(t, v)?;
        }
        self.finish_series(labels)
    }

    fn add_chunks(&mut self, labels: &Labels, chunks: &[SourceChunk<'_>]) -> Result<()> {
        self.check_order(labels)?;
        self.em.begin();
        let mut prev: Option<i64> = None;
        for c in chunks {
            if c.encoding != Encoding::XOR {
                return Err(BlockError::InvalidArgument(format!(
                    "series {labels}: chunk encoding {} is not supported",
                    c.encoding
                )));
            }
            if let Some(p) = prev {
                if c.min_time <= p {
                    return Err(out_of_order(labels, c.min_time, p));
                }
            }
            prev = Some(c.max_time);
            if c.max_time < self.mint || c.min_time >= self.maxt {
                continue;
            }
            let num = match c.data {
                [a, b, ..] => u16::from_be_bytes([*a, *b]),
                _ => 0,
            };
            if num == 0 {
                continue;
            }
            if c.min_time >= self.mint && c.max_time < self.maxt {
                self.em
                    .copy_chunk(c.min_time, c.max_time, c.encoding, c.data, num)?;
                continue;
            }
            let mut it = XorIter::new(c.data).map_err(|e| {
                BlockError::InvalidArgument(format!("series {labels}: source chunk: {e}"))
            })?;
            let mut last: Option<i64> = None;
            while it.advance().map_err(|e| {
                BlockError::InvalidArgument(format!("series {labels}: source chunk: {e}"))
            })? {
                let (t, v) = it.at();
                if let Some(p) = last {
                    if t <= p {
                        return Err(out_of_order(labels, t, p));
                    }
                }
                last = Some(t);
                if t >= self.mint && t < self.maxt {
                    self.em.sample(t, v)?;
                }
            }
            self.em.flush()?;
        }
        self.finish_series(labels)
    }
}

/// Writes a block holding the samples of `source` in `[mint, maxt)` into
/// `parent/ULID` (through `parent/ULID.tmp`, fsynced, then renamed, then `parent` fsynced).
///
/// Returns the new block's meta, or `None` (and writes nothing) when the source has no sample
/// in the range, as Prometheus does not write empty blocks. The block's `minTime`/`maxTime` are
/// `mint`/`maxt`.
pub fn write_block(
    parent: &Path,
    source: &dyn BlockSource,
    mint: i64,
    maxt: i64,
    opts: &WriteOptions,
) -> Result<Option<BlockMeta>> {
    if mint >= maxt {
        return Err(BlockError::InvalidArgument(format!(
            "block range [{mint}, {maxt}) is empty"
        )));
    }
    let ulid = new_ulid();
    let mut tmp = TmpBlock::create(parent, ulid, opts.segment_size)?;
    let Some(mut chunkw) = tmp.chunks.take() else {
        return Err(BlockError::InvalidArgument("chunk writer missing".into()));
    };
    let mut col = Collector {
        em: ChunkEmitter::new(&mut chunkw, opts.cut_policy),
        mint,
        maxt,
        series: Vec::new(),
        last: None,
    };
    source.for_each_series(mint, maxt, &mut col)?;
    let stats = col.em.stats;
    let series = col.series;
    tmp.chunks = Some(chunkw);
    if stats.num_samples == 0 {
        return Ok(None);
    }

    // The empty string is a symbol of every Prometheus head (its all-series postings key), so
    // blocks Prometheus writes list it; so do ours, for identical index files.
    // Distinct strings first (names and values repeat from series to series), then one sort: cheaper
    // than ordered inserts of every string, a dozen string comparisons each.
    let mut distinct: HashSet<&str> = HashSet::from([""]);
    for (l, _) in &series {
        for (n, v) in l.iter() {
            distinct.insert(n);
            distinct.insert(v);
        }
    }
    let mut symbols: Vec<&str> = distinct.into_iter().collect();
    symbols.sort_unstable();
    let mut iw = IndexWriter::create(tmp.index_path(), symbols)?;
    for (l, metas) in &series {
        iw.add_series(l, metas)?;
    }
    iw.finish()?;

    let mut meta = BlockMeta::new(ulid, mint, maxt);
    meta.stats = stats;
    meta.compaction.level = opts.level.max(1);
    if !opts.sources.is_empty() {
        let mut s = opts.sources.clone();
        s.sort();
        s.dedup();
        meta.compaction.sources = s;
    }
    meta.compaction.parents = opts.parents.clone();
    tmp.commit(&meta)?;
    Ok(Some(meta))
}

//! Compaction: choosing blocks to merge (Prometheus's leveled plan) and merging blocks into one.
//!
//! [`compact`] writes the merged block and leaves the source blocks alone, so the caller (the
//! `Db`) can swap its block list before removing them with [`remove_block_dir`];
//! [`compact_and_remove_sources`] does both, removing the sources only after the new block is
//! renamed into place and its parent directory fsynced.

use std::path::{Path, PathBuf};

use tsdb_chunks::{Encoding, XorIter, DEFAULT_SEGMENT_SIZE};
use tsdb_labels::Labels;

use crate::cutter::{CutPolicy, SAMPLES_PER_CHUNK};
use crate::error::{BlockError, Corruption, Result};
use crate::fsutil;
use crate::index::{ChunkMeta, IndexRef, IndexWriter};
use crate::meta::{new_ulid, BlockMeta, META_VERSION};
use crate::range::aligned_start;
use crate::reader::Block;
use crate::tombstones::Intervals;
use crate::writer::{ChunkEmitter, TmpBlock, DEFAULT_BLOCK_RANGE};

/// `steps` ranges starting at `min`, each `factor` times the previous (Prometheus's
/// `ExponentialBlockRanges`).
pub fn exponential_ranges(min: i64, steps: usize, factor: i64) -> Vec<i64> {
    let mut out = Vec::with_capacity(steps);
    let mut r = min;
    for _ in 0..steps {
        out.push(r);
        r = r.saturating_mul(factor);
    }
    out
}

/// The ranges Prometheus uses with its default retention: 2 h, 6 h, 18 h.
pub fn default_ranges() -> Vec<i64> {
    exponential_ranges(DEFAULT_BLOCK_RANGE, 3, 3)
}

/// Chooses the blocks to compact next, as Prometheus's leveled compactor does, or `None`.
///
/// `blocks` are block directories with their metas, in any order; `ranges` are the compaction
/// ranges (for example [`default_ranges`]: 2 h × 3ⁿ). In order of preference:
/// 1. overlapping blocks (vertical compaction): the first group of blocks whose ranges overlap;
/// 2. leaving out the newest block, the first group of at least two blocks that fall into one
///    aligned window of a larger range, if they fill the window or the newest block starts
///    after it;
/// 3. a large-enough block with more than 5 % tombstones (or one whose every series has a
///    tombstone), compacted alone to drop the deleted data.
///
/// Blocks whose meta says a compaction failed are not chosen in 2.
pub fn plan_compaction(blocks: &[(PathBuf, BlockMeta)], ranges: &[i64]) -> Option<Vec<PathBuf>> {
    if blocks.is_empty() {
        return None;
    }
    let mut ds: Vec<&(PathBuf, BlockMeta)> = blocks.iter().collect();
    ds.sort_by_key(|(_, m)| m.min_time);

    let overlapping = select_overlapping(&ds);
    if !overlapping.is_empty() {
        return Some(overlapping);
    }

    // Leave the newest block out: it may still be backed up or be joined by a neighbour.
    ds.pop();
    if let Some(group) = select_dirs(&ds, ranges) {
        return Some(group.iter().map(|(d, _)| d.clone()).collect());
    }

    let mid = ranges.get(ranges.len() / 2).copied().unwrap_or(i64::MAX);
    for (dir, m) in ds.iter().rev() {
        let s = &m.stats;
        if m.max_time.saturating_sub(m.min_time) < mid {
            if s.num_tombstones > 0 && s.num_tombstones >= s.num_series {
                return Some(vec![dir.clone()]);
            }
            break;
        }
        if s.num_tombstones as f64 / (s.num_series as f64 + 1.0) > 0.05 {
            return Some(vec![dir.clone()]);
        }
    }
    None
}

fn select_overlapping(ds: &[&(PathBuf, BlockMeta)]) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let Some(first) = ds.first() else {
        return out;
    };
    let mut global_max = first.1.max_time;
    for i in 1..ds.len() {
        let (dir, m) = ds[i];
        if m.min_time < global_max {
            if out.is_empty() {
                out.push(ds[i - 1].0.clone());
            }
            out.push(dir.clone());
        } else if !out.is_empty() {
            break;
        }
        global_max = global_max.max(m.max_time);
    }
    out
}

fn select_dirs<'a>(
    ds: &[&'a (PathBuf, BlockMeta)],
    ranges: &[i64],
) -> Option<Vec<&'a (PathBuf, BlockMeta)>> {
    if ranges.len() < 2 || ds.is_empty() {
        return None;
    }
    let high = ds[ds.len() - 1].1.min_time;
    for &r in &ranges[1..] {
        for part in split_by_range(ds, r) {
            if part.iter().any(|(_, m)| m.compaction.failed) {
                continue;
            }
            let mint = part[0].1.min_time;
            let maxt = part[part.len() - 1].1.max_time;
            // In i128: the span of blocks far apart on the i64 line does not fit an i64.
            let span = maxt as i128 - mint as i128;
            if (span == r as i128 || maxt <= high) && part.len() > 1 {
                return Some(part);
            }
        }
    }
    None
}

/// Groups blocks (sorted by min time) by the aligned window of width `r` they fall into
/// entirely; blocks fitting no window are skipped.
fn split_by_range<'a>(
    ds: &[&'a (PathBuf, BlockMeta)],
    r: i64,
) -> Vec<Vec<&'a (PathBuf, BlockMeta)>> {
    let mut out = Vec::new();
    if r <= 0 {
        return out;
    }
    let mut i = 0;
    while i < ds.len() {
        let m = &ds[i].1;
        // The window's end, clamped to the i64 line (a window starting near `i64::MAX` ends there).
        let end = aligned_start(m.min_time, r).saturating_add(r);
        if m.max_time > end {
            i += 1;
            continue;
        }
        let mut group = Vec::new();
        while i < ds.len() && ds[i].1.max_time <= end {
            group.push(ds[i]);
            i += 1;
        }
        if !group.is_empty() {
            out.push(group);
        }
    }
    out
}

/// The meta of a block merging `metas`: union of the ranges, level one more than the highest,
/// union of the sources (sorted), the inputs as parents.
pub fn compact_metas(ulid: crate::meta::Ulid, metas: &[BlockMeta]) -> BlockMeta {
    let mut m = BlockMeta::new(ulid, i64::MAX, i64::MIN);
    m.compaction.sources.clear();
    let mut level = 0;
    for b in metas {
        m.min_time = m.min_time.min(b.min_time);
        m.max_time = m.max_time.max(b.max_time);
        level = level.max(b.compaction.level);
        m.compaction
            .sources
            .extend(b.compaction.sources.iter().copied());
        m.compaction.parents.push(b.desc());
    }
    m.compaction.sources.sort();
    m.compaction.sources.dedup();
    m.compaction.level = level + 1;
    m.version = META_VERSION;
    m
}

/// One block's series stream during a merge.
struct Cursor<'a> {
    block: &'a Block,
    /// The block's own range as a closed interval.
    mint: i64,
    maxt: i64,
    refs: Vec<IndexRef>,
    next: usize,
    cur: Option<(Labels, IndexRef, Vec<ChunkMeta>)>,
}

impl Cursor<'_> {
    fn advance(&mut self) -> Result<()> {
        self.cur = None;
        if let Some(&r) = self.refs.get(self.next) {
            self.next += 1;
            let mut chunks = Vec::new();
            let labels = self.block.index().series(r, &mut chunks)?;
            self.cur = Some((labels, r, chunks));
        }
        Ok(())
    }
}

/// A chunk of the series being merged, with what is needed to read and filter it.
struct MergeChunk {
    meta: ChunkMeta,
    cursor: usize,
    deleted: Option<Intervals>,
}

/// Merges the blocks in `dirs` into one new block under `parent` and returns its meta, or
/// `None` (writing nothing) if no sample survives. The sources are not removed.
///
/// Series are merged by labels. Per series, chunks from all blocks are ordered by time; a chunk
/// that overlaps no other, lies inside its block's range and has no deleted samples is copied
/// unchanged; overlapping chunks (and chunks cut by tombstones or by their block's range) are
/// decoded, their samples merged in time order with duplicates (same timestamp) removed — the
/// block with the earlier start wins — and re-cut into chunks of 120 samples. Samples outside a
/// source block's `[minTime, maxTime)` and deleted samples are dropped.
pub fn compact(parent: &Path, dirs: &[PathBuf]) -> Result<Option<BlockMeta>> {
    if dirs.is_empty() {
        return Err(BlockError::InvalidArgument("nothing to compact".into()));
    }
    let mut blocks = dirs.iter().map(Block::open).collect::<Result<Vec<_>>>()?;
    blocks.sort_by_key(|b| {
        let m = b.meta();
        (m.min_time, m.ulid)
    });
    compact_blocks(parent, &blocks)
}

/// As [`compact`], over blocks already open.
pub fn compact_blocks(parent: &Path, blocks: &[Block]) -> Result<Option<BlockMeta>> {
    if blocks.is_empty() {
        return Err(BlockError::InvalidArgument("nothing to compact".into()));
    }
    let metas: Vec<BlockMeta> = blocks.iter().map(Block::meta).collect();
    let mut order: Vec<usize> = (0..blocks.len()).collect();
    order.sort_by_key(|&i| (metas[i].min_time, metas[i].ulid));

    let ulid = new_ulid();
    let mut meta = compact_metas(ulid, &metas);

    // Symbols: the union of the inputs' symbol tables.
    let mut symbols: Vec<&str> = Vec::new();
    for b in blocks {
        for s in b.index().symbols() {
            symbols.push(s?);
        }
    }
    symbols.sort_unstable();
    symbols.dedup();

    let mut cursors = Vec::with_capacity(blocks.len());
    for &i in &order {
        let b = &blocks[i];
        let refs = b.index().all_postings()?.to_vec_checked(b.index().path())?;
        let mut c = Cursor {
            block: b,
            mint: metas[i].min_time,
            maxt: metas[i].max_time.saturating_sub(1),
            refs,
            next: 0,
            cur: None,
        };
        c.advance()?;
        cursors.push(c);
    }

    let mut tmp = TmpBlock::create(parent, ulid, DEFAULT_SEGMENT_SIZE)?;
    let Some(mut chunkw) = tmp.chunks.take() else {
        return Err(BlockError::InvalidArgument("chunk writer missing".into()));
    };
    let mut iw = IndexWriter::create(tmp.index_path(), &symbols)?;
    let mut em = ChunkEmitter::new(&mut chunkw, CutPolicy::Fixed(SAMPLES_PER_CHUNK));
    let stones: Vec<_> = cursors.iter().map(|c| c.block.tombstones()).collect();
    let mut parts: Vec<MergeChunk> = Vec::new();
    let mut samples: Vec<(i64, f64)> = Vec::new();

    loop {
        // The smallest label set among the cursors' current series.
        let mut min: Option<Labels> = None;
        for c in &cursors {
            if let Some((l, _, _)) = &c.cur {
                let smaller = match &min {
                    None => true,
                    Some(m) => l < m,
                };
                if smaller {
                    min = Some(l.clone());
                }
            }
        }
        let Some(labels) = min else { break };

        parts.clear();
        for (ci, c) in cursors.iter_mut().enumerate() {
            let matches = c.cur.as_ref().is_some_and(|(l, _, _)| *l == labels);
            if !matches {
                continue;
            }
            if let Some((_, r, chunks)) = c.cur.take() {
                let deleted = stones[ci].get(r as u64).cloned();
                for m in chunks {
                    if !m.overlaps_closed(c.mint, c.maxt) {
                        continue;
                    }
                    if deleted
                        .as_ref()
                        .is_some_and(|d| d.covers(m.min_time, m.max_time))
                    {
                        continue;
                    }
                    parts.push(MergeChunk {
                        meta: m,
                        cursor: ci,
                        deleted: deleted.clone(),
                    });
                }
            }
            c.advance()?;
        }
        // Stable: at equal start times the earlier block comes first.
        parts.sort_by_key(|p| p.meta.min_time);

        em.begin();
        let mut i = 0;
        while i < parts.len() {
            let mut j = i + 1;
            let mut run_max = parts[i].meta.max_time;
            while j < parts.len() && parts[j].meta.min_time <= run_max {
                run_max = run_max.max(parts[j].meta.max_time);
                j += 1;
            }
            let p = &parts[i];
            let c = &cursors[p.cursor];
            let clean = j == i + 1
                && p.meta.min_time >= c.mint
                && p.meta.max_time <= c.maxt
                && !p
                    .deleted
                    .as_ref()
                    .is_some_and(|d| d.overlaps(p.meta.min_time, p.meta.max_time));
            if clean {
                let data = c.block.chunk(p.meta.chunk_ref)?;
                let num = match data.data {
                    [a, b, ..] => u16::from_be_bytes([*a, *b]),
                    _ => 0,
                };
                em.copy_chunk(
                    p.meta.min_time,
                    p.meta.max_time,
                    data.encoding,
                    data.data,
                    num,
                )?;
            } else {
                samples.clear();
                for p in &parts[i..j] {
                    let c = &cursors[p.cursor];
                    read_samples(c, p, &mut samples)?;
                }
                // Stable sort keeps the earlier block's sample first at equal timestamps.
                samples.sort_by_key(|s| s.0);
                samples.dedup_by_key(|s| s.0);
                for &(t, v) in &samples {
                    em.sample(t, v)?;
                }
                em.flush()?;
            }
            i = j;
        }
        let metas = em.end()?;
        if !metas.is_empty() {
            iw.add_series(&labels, metas)?;
        }
    }

    meta.stats = em.stats;
    meta.stats.num_tombstones = 0;
    tmp.chunks = Some(chunkw);
    if meta.stats.num_samples == 0 {
        return Ok(None);
    }
    iw.finish()?;
    tmp.commit(&meta)?;
    Ok(Some(meta))
}

/// Appends the samples of one chunk that lie in its block's range and are not deleted.
fn read_samples(c: &Cursor<'_>, p: &MergeChunk, out: &mut Vec<(i64, f64)>) -> Result<()> {
    let r = p.meta.chunk_ref;
    let data = c.block.chunk(r)?;
    if data.encoding != Encoding::XOR {
        return Err(c
            .block
            .chunk_error(r, Corruption::UnsupportedEncoding(data.encoding)));
    }
    let mut it =
        XorIter::new(data.data).map_err(|e| c.block.chunk_error(r, Corruption::ChunkDecode(e)))?;
    while let Some(batch) = it
        .next_batch()
        .map_err(|e| c.block.chunk_error(r, Corruption::ChunkDecode(e)))?
    {
        for &(t, v) in batch {
            if t < c.mint || t > c.maxt {
                continue;
            }
            if p.deleted.as_ref().is_some_and(|d| d.contains(t)) {
                continue;
            }
            out.push((t, v));
        }
    }
    Ok(())
}

/// Removes a block directory: renamed to `DIR.tmp-for-deletion` first (so a crash never leaves
/// a half-deleted block that looks valid), then removed, and the parent fsynced.
pub fn remove_block_dir(dir: &Path) -> Result<()> {
    let doomed = fsutil::with_suffix(dir, ".tmp-for-deletion");
    tsdb_failpoint::point("block.delete.rename");
    std::fs::rename(dir, &doomed).map_err(|e| BlockError::io("rename", dir, e))?;
    if let Some(parent) = dir.parent() {
        fsutil::sync_dir(parent)?;
    }
    fsutil::remove_dir_if_exists(&doomed)
}

/// [`compact`], then removes the source directories — only after the new block is in place
/// (renamed and its parent fsynced). Sources are removed also when nothing survived (no new
/// block, `None`).
pub fn compact_and_remove_sources(parent: &Path, dirs: &[PathBuf]) -> Result<Option<BlockMeta>> {
    let meta = compact(parent, dirs)?;
    for d in dirs {
        remove_block_dir(d)?;
    }
    Ok(meta)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::meta::Ulid;

    fn m(min: i64, max: i64) -> (PathBuf, BlockMeta) {
        let u = new_ulid();
        (
            PathBuf::from(format!("{min}-{max}")),
            BlockMeta::new(u, min, max),
        )
    }

    fn names(p: Option<Vec<PathBuf>>) -> Option<Vec<String>> {
        p.map(|v| v.into_iter().map(|d| d.display().to_string()).collect())
    }

    #[test]
    fn plan_follows_prometheus() {
        let ranges = vec![20, 60, 180, 540];
        // Not enough blocks.
        assert_eq!(plan_compaction(&[m(0, 20)], &ranges), None);
        // Three 20-blocks and a newer one: the first three fill a 60 window.
        let b = vec![m(0, 20), m(20, 40), m(40, 60), m(60, 80)];
        assert_eq!(
            names(plan_compaction(&b, &ranges)),
            Some(vec!["0-20".into(), "20-40".into(), "40-60".into()])
        );
        // Two blocks of a window, the newest not yet beyond it: wait.
        let b = vec![m(0, 20), m(20, 40), m(40, 60)];
        assert_eq!(plan_compaction(&b, &ranges), None);
        // Gap: blocks before the newest one's start are compacted even if not filling the window.
        let b = vec![m(0, 20), m(20, 40), m(60, 80), m(200, 220)];
        assert_eq!(
            names(plan_compaction(&b, &ranges)),
            Some(vec!["0-20".into(), "20-40".into()])
        );
        // Overlapping blocks first.
        let b = vec![m(0, 20), m(10, 30), m(40, 60), m(60, 80)];
        assert_eq!(
            names(plan_compaction(&b, &ranges)),
            Some(vec!["0-20".into(), "10-30".into()])
        );
        // Level-2 blocks combine into 180.
        let b = vec![m(0, 60), m(60, 120), m(120, 180), m(180, 200)];
        assert_eq!(
            names(plan_compaction(&b, &ranges)),
            Some(vec!["0-60".into(), "60-120".into(), "120-180".into()])
        );
    }

    #[test]
    fn plan_picks_blocks_with_many_tombstones() {
        let ranges = vec![20, 60, 180];
        let mut big = m(0, 60);
        big.1.stats.num_series = 10;
        big.1.stats.num_tombstones = 2;
        let b = vec![big, m(60, 80)];
        assert_eq!(
            names(plan_compaction(&b, &ranges)),
            Some(vec!["0-60".into()])
        );
    }

    #[test]
    fn metas_merge() {
        let a = BlockMeta::new(Ulid::from_parts(1, 1), 0, 10);
        let mut b = BlockMeta::new(Ulid::from_parts(2, 2), 10, 20);
        b.compaction.level = 2;
        let c = compact_metas(Ulid::from_parts(3, 3), &[b.clone(), a.clone()]);
        assert_eq!((c.min_time, c.max_time, c.compaction.level), (0, 20, 3));
        assert_eq!(c.compaction.sources, vec![a.ulid, b.ulid]);
        assert_eq!(c.compaction.parents.len(), 2);
    }
}

//! Persisted blocks in Prometheus's v2 block format.
//!
//! This crate owns everything inside a block directory: the index (format v2: symbols, series
//! with their chunk metas, label indices, postings, offset tables, TOC), the `tombstones` file,
//! `meta.json`, the block writer ([`write_block`]), the block reader and querier ([`Block`]:
//! matchers → postings → series → chunks → samples, tombstones applied) and the compaction of
//! blocks ([`plan_compaction`], [`compact`]). Chunk bytes and chunk segment files come from
//! `tsdb-chunks`, label sets and matchers from `tsdb-labels`. It does not know the head: the
//! writer is fed through the [`BlockSource`] trait defined here, which the `tsdb` crate
//! implements over the head (and which `Vec<(Labels, Vec<(i64, f64)>)>` implements for tests and
//! imports). Which blocks make up a database, retention and the choice of when to compact are
//! left to `tsdb`.
//!
//! Files are read through memory maps with every offset and length bounds-checked; damage gives
//! a typed [`BlockError`] naming file and offset, never a panic. Every file that is replaced is written
//! to `NAME.tmp`, fsynced, renamed and its directory fsynced; blocks are written into `ULID.tmp/`
//! and renamed into place when complete.
//!
//! Time ranges: a block covers the half-open `[minTime, maxTime)`; a query range `[mint, maxt]`
//! is closed, as in Prometheus's querier.
//!
//! ```
//! use tsdb_block::{write_block, Block, WriteOptions};
//! use tsdb_labels::{Labels, Matcher};
//!
//! let parent = tempfile::tempdir()?;
//! let up = Labels::new([("__name__", "up"), ("job", "node")])?;
//! let series = vec![(up.clone(), vec![(1_000, 1.0), (16_000, 0.0)])];
//! let meta = write_block(parent.path(), &series, 0, 7_200_000, &WriteOptions::default())?
//!     .expect("the source had samples");
//!
//! let block = Block::open(parent.path().join(meta.ulid.to_string()))?;
//! for s in block.select(&[Matcher::equal("job", "node")], 0, 10_000)? {
//!     let s = s?;
//!     assert_eq!(s.labels(), &up);
//!     assert_eq!(s.collect_samples()?, vec![(1_000, 1.0)]);
//! }
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

#![warn(missing_docs)]

mod compact;
mod cutter;
mod encoding;
mod error;
mod fsutil;
pub mod index;
mod meta;
mod querier;
mod range;
mod reader;
mod tombstones;
mod writer;

pub use compact::{
    compact, compact_and_remove_sources, compact_blocks, compact_metas, default_ranges,
    exponential_ranges, plan_compaction, remove_block_dir,
};
pub use cutter::{CutPolicy, SAMPLES_PER_CHUNK};
pub use error::{BlockError, Corruption, Result};
pub use index::{ChunkMeta, IndexReader, IndexRef, IndexWriter};
pub use meta::{
    block_dirs, new_ulid, parse_block_dir_name, read_meta, write_meta, BlockDesc, BlockMeta,
    BlockMetaCompaction, BlockStats, Ulid, META_FILENAME, META_VERSION,
};
pub use querier::{postings_for_matchers, BlockSeries, SampleIter, SeriesSet};
pub use range::{aligned_start, block_range, MAX_SAMPLE_TIME};
pub use reader::Block;
pub use tombstones::{
    read_tombstones, write_tombstones, Interval, Intervals, Tombstones, TOMBSTONES_FILENAME,
    TOMBSTONES_MAGIC,
};
pub use writer::{
    chunk_write_counts, write_block, BlockSource, SeriesSink, SourceChunk, WriteOptions,
    CHUNKS_DIRNAME, DEFAULT_BLOCK_RANGE,
};

//! [`Block`]: an open block directory (meta, index, chunks, tombstones), its label lookups and
//! deletions. Queries are in [`crate::querier`].

use std::path::{Path, PathBuf};
use std::sync::Arc;

use parking_lot::{Mutex, RwLock};
use tsdb_chunks::{BlockChunkReader, BlockChunkRef, ChunkData};
use tsdb_labels::Matcher;

use crate::error::{BlockError, Corruption, Result};
use crate::fsutil;
use crate::index::{ChunkMeta, IndexReader, INDEX_FILENAME};
use crate::meta::{read_meta, write_meta, BlockMeta};
use crate::querier;
use crate::tombstones::{read_tombstones, write_tombstones, Interval, Tombstones};
use crate::writer::CHUNKS_DIRNAME;

/// An open, immutable block. Safe to share between threads; [`Block::delete`] is the only
/// mutation (tombstones and meta are replaced atomically on disk and in memory).
pub struct Block {
    dir: PathBuf,
    meta: RwLock<BlockMeta>,
    index: IndexReader,
    chunks: BlockChunkReader,
    tombstones: RwLock<Arc<Tombstones>>,
    /// Serializes deletions (read-modify-write of the tombstones file).
    delete_lock: Mutex<()>,
}

impl std::fmt::Debug for Block {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Block")
            .field("dir", &self.dir)
            .field("meta", &*self.meta.read())
            .finish()
    }
}

impl Block {
    /// Opens the block in `dir`: reads `meta.json` and `tombstones` (absent = none), maps the
    /// index (checking its structure) and the chunk segment files (checking their headers).
    pub fn open(dir: impl AsRef<Path>) -> Result<Block> {
        let dir = dir.as_ref().to_path_buf();
        let meta = read_meta(&dir)?;
        // A block is known by its ULID: a directory named as another block (a copy under a new name)
        // would make the same block appear twice.
        let name = dir.file_name().and_then(|n| n.to_str()).unwrap_or("");
        if let Some(named) = crate::meta::parse_block_dir_name(name) {
            if named != meta.ulid {
                return Err(BlockError::Meta {
                    path: dir.join(crate::meta::META_FILENAME),
                    reason: format!(
                        "names block {} but its directory is {name}: a copy of another block?",
                        meta.ulid
                    ),
                });
            }
        }
        let index = IndexReader::open(dir.join(INDEX_FILENAME))?;
        let chunks = BlockChunkReader::open(dir.join(CHUNKS_DIRNAME))?;
        let tombstones = read_tombstones(&dir)?;
        Ok(Block {
            dir,
            meta: RwLock::new(meta),
            index,
            chunks,
            tombstones: RwLock::new(Arc::new(tombstones)),
            delete_lock: Mutex::new(()),
        })
    }

    /// The block directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// A copy of the block's meta (its tombstone count follows deletions).
    pub fn meta(&self) -> BlockMeta {
        self.meta.read().clone()
    }

    /// The index reader.
    pub fn index(&self) -> &IndexReader {
        &self.index
    }

    /// The chunk reader.
    pub fn chunk_reader(&self) -> &BlockChunkReader {
        &self.chunks
    }

    /// The current tombstones.
    pub fn tombstones(&self) -> Arc<Tombstones> {
        self.tombstones.read().clone()
    }

    /// The chunk at `r`, CRC checked.
    pub fn chunk(&self, r: BlockChunkRef) -> Result<ChunkData<'_>> {
        Ok(self.chunks.chunk(r)?)
    }

    /// Path of the segment file a chunk reference points into (for error messages).
    pub(crate) fn segment_path(&self, r: BlockChunkRef) -> PathBuf {
        self.dir
            .join(CHUNKS_DIRNAME)
            .join(format!("{:06}", r.segment() as u64 + 1))
    }

    /// Label names present in the block, ascending.
    pub fn label_names(&self) -> Vec<String> {
        self.index
            .label_names()
            .into_iter()
            .map(str::to_owned)
            .collect()
    }

    /// Values of label `name` in the block, ascending (empty if absent).
    pub fn label_values(&self, name: &str) -> Result<Vec<String>> {
        Ok(self
            .index
            .label_values(name)?
            .into_iter()
            .map(str::to_owned)
            .collect())
    }

    /// Total size of the block's files in bytes (meta, index, chunks, tombstones).
    pub fn size_bytes(&self) -> Result<u64> {
        fsutil::dir_size(&self.dir)
    }

    /// Deletes the samples in the closed range `[mint, maxt]` of the series matching all
    /// `matchers` (an empty list matches every series), by adding tombstones.
    ///
    /// Only series with a chunk overlapping the range get a tombstone, clamped to the series'
    /// own time range (as Prometheus). The tombstones file and then `meta.json` (its
    /// `numTombstones`) are replaced atomically. Returns the number of series affected.
    pub fn delete(&self, matchers: &[Matcher], mint: i64, maxt: i64) -> Result<usize> {
        let _guard = self.delete_lock.lock();
        let refs = querier::postings_for_matchers(&self.index, matchers)?;
        let mut stones = (**self.tombstones.read()).clone();
        let mut chunks: Vec<ChunkMeta> = Vec::new();
        let mut affected = 0;
        for r in refs {
            self.index.series(r, &mut chunks)?;
            if !chunks.iter().any(|c| c.overlaps_closed(mint, maxt)) {
                continue;
            }
            let (Some(first), Some(last)) = (chunks.first(), chunks.last()) else {
                continue;
            };
            let iv = Interval::new(mint.max(first.min_time), maxt.min(last.max_time));
            stones.add(r as u64, iv);
            affected += 1;
        }
        if affected == 0 {
            return Ok(0);
        }
        write_tombstones(&self.dir, &stones)?;
        let mut meta = self.meta.read().clone();
        meta.stats.num_tombstones = stones.total();
        write_meta(&self.dir, &meta)?;
        *self.meta.write() = meta;
        *self.tombstones.write() = Arc::new(stones);
        Ok(affected)
    }

    /// Checks the whole block: every index section against its CRC
    /// ([`IndexReader::verify`]), and every chunk of every series read (CRC checked) and decoded.
    pub fn verify(&self) -> Result<()> {
        self.index.verify()?;
        let mut chunks = Vec::new();
        let all = self
            .index
            .all_postings()?
            .to_vec_checked(self.index.path())?;
        for r in all {
            self.index.series(r, &mut chunks)?;
            for c in &chunks {
                let data = self.chunk(c.chunk_ref)?;
                if data.encoding != tsdb_chunks::Encoding::XOR {
                    continue;
                }
                let mut it = tsdb_chunks::XorIter::new(data.data)
                    .map_err(|e| self.chunk_error(c.chunk_ref, Corruption::ChunkDecode(e)))?;
                while it
                    .next_batch()
                    .map_err(|e| self.chunk_error(c.chunk_ref, Corruption::ChunkDecode(e)))?
                    .is_some()
                {}
            }
        }
        Ok(())
    }

    /// A corruption error naming the segment file and offset of chunk `r`.
    pub(crate) fn chunk_error(&self, r: BlockChunkRef, reason: Corruption) -> BlockError {
        BlockError::corrupt(self.segment_path(r), r.offset() as u64, reason)
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn blocks_are_shareable_between_threads() {
        fn check<T: Send + Sync>() {}
        check::<super::Block>();
    }
}

//! The index file of a block, format v2 (Prometheus `tsdb/docs/format/index.md`).
//!
//! Layout: magic `0xBAAAD700` and version `2`; the symbol table (sorted, deduplicated strings);
//! the series (16-byte aligned, so a series' reference is its offset / 16), each with its label
//! pairs as symbol references and its chunk metas; one label index per label name (legacy, still
//! written); postings lists (4-byte aligned, the all-series list under the empty name/value
//! first); the label offset table; the postings offset table (sorted by name, value); the TOC.
//! Every section carries a length and a CRC32-Castagnoli.
//!
//! [`IndexWriter`] writes the file in one pass; [`IndexReader`] reads it through a memory map,
//! bounds-checking every offset and length, and serves postings to the shared postings engine of
//! `tsdb_labels::postings`.

mod postings;
mod reader;
mod writer;

pub use reader::{IndexReader, PostingsList, Symbols};
pub use writer::IndexWriter;

use tsdb_chunks::BlockChunkRef;

/// Name of the index file in a block directory.
pub const INDEX_FILENAME: &str = "index";
/// Magic number of index files.
pub const INDEX_MAGIC: u32 = 0xBAAA_D700;
/// Index format version written and read.
pub const INDEX_FORMAT_V2: u8 = 2;
/// Size of the header: magic and version.
pub(crate) const HEADER_LEN: usize = 5;
/// Size of the TOC: six offsets and a CRC.
pub(crate) const TOC_LEN: usize = 6 * 8 + 4;

/// Reference of a series inside one block's index: its byte offset divided by 16 (Prometheus's index v2
/// series reference). It means nothing outside that block; it is a different thing from the head's and the
/// WAL's `SeriesRef` (a `u64` naming a series for the life of a head), hence the different name.
pub type IndexRef = u32;

/// Where a chunk of a series lives and which time range it covers (both ends inclusive).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ChunkMeta {
    /// Timestamp of the first sample.
    pub min_time: i64,
    /// Timestamp of the last sample.
    pub max_time: i64,
    /// Reference into the block's chunk segment files.
    pub chunk_ref: BlockChunkRef,
}

impl ChunkMeta {
    /// Whether the chunk's range intersects the closed range `[mint, maxt]`.
    #[inline]
    pub fn overlaps_closed(&self, mint: i64, maxt: i64) -> bool {
        self.min_time <= maxt && mint <= self.max_time
    }
}

/// The table of contents: start offsets of the index sections (0 = absent).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Toc {
    /// Symbol table.
    pub symbols: u64,
    /// First series.
    pub series: u64,
    /// First label index.
    pub label_indices: u64,
    /// Label offset table.
    pub label_indices_table: u64,
    /// First postings list.
    pub postings: u64,
    /// Postings offset table.
    pub postings_table: u64,
}

impl Toc {
    pub(crate) fn encode(&self) -> [u8; TOC_LEN] {
        let mut b = [0u8; TOC_LEN];
        let fields = [
            self.symbols,
            self.series,
            self.label_indices,
            self.label_indices_table,
            self.postings,
            self.postings_table,
        ];
        for (i, f) in fields.iter().enumerate() {
            b[i * 8..i * 8 + 8].copy_from_slice(&f.to_be_bytes());
        }
        let crc = crc32c::crc32c(&b[..48]);
        b[48..].copy_from_slice(&crc.to_be_bytes());
        b
    }
}

//! Chunks: the XOR (Gorilla) float codec and the two kinds of chunk files, byte-compatible with
//! Prometheus 2.x.
//!
//! This crate owns the encoding of samples into chunks ([`XorChunk`], decoded by [`XorIter`]), the
//! segment files of a block's `chunks/` directory ([`BlockChunkWriter`], [`BlockChunkReader`]) and
//! the memory-mapped head chunk files of `chunks_head/` ([`HeadChunkFiles`]). It knows nothing of
//! series labels, indexes, the WAL or the head: callers decide which samples form a chunk, keep
//! the references this crate hands back, and map them to series. Every chunk read from a file has
//! its CRC32-Castagnoli checked; damaged bytes give typed errors naming file and offset, never a
//! panic.
//!
//! Cargo feature `asm` (on by default): on x86-64 CPUs with BMI2 and MOVBE (checked at run time)
//! [`XorIter`] decodes with a loop in assembly; without the feature, or on other CPUs, with the
//! same loop in Rust. Both give the same samples and errors.

mod block_files;
mod bstream;
mod encoding;
mod error;
mod files;
mod head_files;
mod varint;
mod xor;

pub use block_files::{
    BlockChunkIter, BlockChunkReader, BlockChunkRef, BlockChunkWriter, ChunkData,
    BLOCK_CHUNKS_MAGIC, DEFAULT_SEGMENT_SIZE,
};
pub use encoding::Encoding;
pub use error::{ChunkError, ChunkFull, Corruption, DecodeError, Result};
pub use head_files::{
    Damage, HeadChunk, HeadChunkFiles, HeadChunkRef, HeadFilesOptions, ReplayReport, ReplayedChunk,
    DEFAULT_HEAD_FILE_SIZE, DEFAULT_WRITE_BUFFER_SIZE, HEAD_CHUNKS_MAGIC,
};
#[doc(hidden)]
pub use xor::DecodePath;
pub use xor::{XorChunk, XorIter};

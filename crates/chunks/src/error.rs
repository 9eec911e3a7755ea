//! Error types of the crate.
//!
//! Two families: [`DecodeError`] for chunk bytes held in memory (no file involved), and [`ChunkError`] for
//! everything that touches files, which always names the file and, for damage, the byte offset.

use std::io;
use std::path::PathBuf;

/// Why XOR chunk bytes could not be decoded (or appended to).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    /// The chunk is shorter than its 2-byte sample-count header.
    #[error("chunk is {len} bytes, shorter than its 2-byte header")]
    TooShort {
        /// Length of the bytes that were given.
        len: usize,
    },
    /// The bit stream ended before sample number `sample` (0-based) was complete.
    #[error("bit stream ends inside sample {sample}")]
    UnexpectedEnd {
        /// 0-based index of the sample being decoded.
        sample: u16,
    },
    /// A varint of sample `sample` is longer than 10 bytes or overflows 64 bits.
    #[error("varint of sample {sample} overflows 64 bits")]
    VarintOverflow {
        /// 0-based index of the sample being decoded.
        sample: u16,
    },
    /// The leading-zero count and significant-bit width of a value XOR exceed 64 bits.
    #[error("value of sample {sample} has an impossible bit width (leading {leading} + significant {significant} > 64)")]
    BadValueWidth {
        /// 0-based index of the sample being decoded.
        sample: u16,
        /// Leading zero bits announced by the stream.
        leading: u8,
        /// Significant bits announced by the stream.
        significant: u8,
    },
    /// More than 8 unused bits follow the last sample: the bytes were not produced by an XOR appender.
    #[error("{bits} unused bits after the last sample (at most 8 are possible)")]
    TrailingBits {
        /// Number of bits after the end of the last sample.
        bits: u64,
    },
}

/// The chunk already holds 65535 samples, the most its 16-bit header can count.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("chunk is full: it already holds {0} samples")]
pub struct ChunkFull(pub u16);

/// What is wrong with the bytes of a chunk file at some offset.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Corruption {
    /// The file is shorter than the 8-byte file header.
    #[error("file is {len} bytes, shorter than the 8-byte header")]
    ShortHeader {
        /// File length.
        len: u64,
    },
    /// The magic number of the header is not the expected one.
    #[error("magic number {found:#010x}, expected {expected:#010x}")]
    BadMagic {
        /// Magic number found.
        found: u32,
        /// Magic number of this kind of file.
        expected: u32,
    },
    /// The format version byte is not 1.
    #[error("format version {0}, only 1 is known")]
    BadVersion(u8),
    /// The chunk length varint is malformed.
    #[error("malformed chunk length varint")]
    BadLength,
    /// A chunk extends past the end of the file (or of the written part of the file).
    #[error("chunk needs {needed} bytes, only {available} remain")]
    Truncated {
        /// Bytes the chunk needs from its offset on.
        needed: u64,
        /// Bytes from its offset to the end of the data.
        available: u64,
    },
    /// The stored CRC32-Castagnoli does not match the bytes.
    #[error("checksum mismatch: stored {stored:#010x}, computed {computed:#010x}")]
    Checksum {
        /// CRC stored in the file.
        stored: u32,
        /// CRC of the bytes as read.
        computed: u32,
    },
    /// A chunk reference points before the first chunk of a file.
    #[error("offset is inside the file header")]
    InsideHeader,
    /// A chunk starts past 4 GiB, where no 32-bit offset of a reference can point.
    #[error("chunk starts beyond the 4 GiB a reference can address")]
    OffsetOverflow,
}

/// Errors of chunk file writers and readers. Every variant names the file (or directory) concerned.
#[derive(Debug, thiserror::Error)]
pub enum ChunkError {
    /// An operating-system call failed.
    #[error("{op} {}: {source}", path.display())]
    Io {
        /// What was being done ("open", "write", "fsync", …).
        op: &'static str,
        /// File or directory concerned.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: io::Error,
    },
    /// The bytes of a file are damaged at `offset`.
    #[error("{}: corrupt at offset {offset}: {reason}", path.display())]
    Corrupt {
        /// The damaged file.
        path: PathBuf,
        /// Byte offset in the file where the damaged chunk (or header) starts.
        offset: u64,
        /// What is wrong.
        reason: Corruption,
    },
    /// A chunk reference names a file that does not exist (never written, or already deleted).
    #[error("{}: chunk ref {chunk_ref:#018x} names file {file} which is not present", dir.display())]
    UnknownFile {
        /// Directory of the chunk files.
        dir: PathBuf,
        /// The reference asked for.
        chunk_ref: u64,
        /// Segment index (block files) or sequence number (head files) it names.
        file: u64,
    },
    /// Head chunk file sequence numbers have a gap (Prometheus refuses such a directory too).
    #[error("{}: head chunk files are not consecutive: {prev:06} is followed by {next:06}", dir.display())]
    NotSequential {
        /// Directory of the head chunk files.
        dir: PathBuf,
        /// Sequence number before the gap.
        prev: u64,
        /// Sequence number after the gap.
        next: u64,
    },
    /// An argument is outside what the format can hold.
    #[error("{}: invalid argument: {reason}", path.display())]
    InvalidArgument {
        /// Directory or file concerned.
        path: PathBuf,
        /// What is wrong with the argument.
        reason: String,
    },
    /// The head chunk files were closed; no further reads or writes are possible.
    #[error("{}: head chunk files are closed", dir.display())]
    Closed {
        /// Directory of the head chunk files.
        dir: PathBuf,
    },
}

impl ChunkError {
    pub(crate) fn io(op: &'static str, path: impl Into<PathBuf>, source: io::Error) -> Self {
        ChunkError::Io {
            op,
            path: path.into(),
            source,
        }
    }

    pub(crate) fn corrupt(path: impl Into<PathBuf>, offset: u64, reason: Corruption) -> Self {
        ChunkError::Corrupt {
            path: path.into(),
            offset,
            reason,
        }
    }
}

/// Result type of the file-level APIs.
pub type Result<T, E = ChunkError> = std::result::Result<T, E>;

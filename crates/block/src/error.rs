//! Error types of the crate.
//!
//! [`BlockError`] is what every fallible call returns. Damage found in a file is an [`BlockError::Corrupt`]
//! naming the file (whose path includes the block directory), the byte offset and a typed
//! [`Corruption`] reason; damage inside chunk segment files comes from `tsdb-chunks` wrapped in
//! [`BlockError::Chunks`], which names file and offset as well.

use std::io;
use std::path::PathBuf;

/// What is wrong with the bytes of an index, tombstones or chunk at some offset.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Corruption {
    /// The file is shorter than its fixed header and trailer.
    #[error("file is {len} bytes, too short for its header and trailer")]
    ShortFile {
        /// File length.
        len: u64,
    },
    /// The magic number is not the expected one.
    #[error("magic number {found:#010x}, expected {expected:#010x}")]
    BadMagic {
        /// Magic number found.
        found: u32,
        /// Magic number of this kind of file.
        expected: u32,
    },
    /// The format version is not one this crate reads.
    #[error("format version {0} is not supported")]
    BadVersion(u8),
    /// The stored CRC32-Castagnoli does not match the bytes.
    #[error("checksum mismatch: stored {stored:#010x}, computed {computed:#010x}")]
    Checksum {
        /// CRC stored in the file.
        stored: u32,
        /// CRC of the bytes as read.
        computed: u32,
    },
    /// A length or offset points outside the file (or outside its section).
    #[error("needs {needed} bytes, only {available} remain")]
    OutOfBounds {
        /// Bytes needed from the offset on.
        needed: u64,
        /// Bytes available from the offset on.
        available: u64,
    },
    /// A varint is malformed (too long or overflowing).
    #[error("malformed varint")]
    BadVarint,
    /// A symbol reference names no symbol of the symbol table.
    #[error("unknown symbol reference {0}")]
    UnknownSymbol(u64),
    /// A string is not valid UTF-8.
    #[error("string is not valid UTF-8")]
    InvalidUtf8,
    /// Entries that must be strictly increasing are not.
    #[error("entries out of order: {0}")]
    OutOfOrder(&'static str),
    /// A series reference does not point at a series entry.
    #[error("series reference {0} points outside the series section")]
    BadSeriesRef(u64),
    /// A section's declared contents disagree with its length.
    #[error("inconsistent section: {0}")]
    Inconsistent(String),
    /// The labels stored for a series are not a valid label set.
    #[error("invalid labels: {0}")]
    InvalidLabels(String),
    /// A chunk holds samples that do not decode.
    #[error("chunk does not decode: {0}")]
    ChunkDecode(tsdb_chunks::DecodeError),
    /// A chunk's encoding is not XOR (for example a native histogram chunk).
    #[error("chunk encoding {0} is not supported")]
    UnsupportedEncoding(tsdb_chunks::Encoding),
}

/// Errors of the block crate. Every variant names the file or directory concerned.
#[derive(Debug, thiserror::Error)]
pub enum BlockError {
    /// An operating-system call failed.
    #[error("{op} {}: {source}", path.display())]
    Io {
        /// What was being done ("open", "write", "fsync", "rename", …).
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
        /// The damaged file (index, tombstones, or a chunk segment file).
        path: PathBuf,
        /// Byte offset in the file where the damaged entry or section starts.
        offset: u64,
        /// What is wrong.
        reason: Corruption,
    },
    /// Reading or writing chunk segment files failed (names file and offset itself).
    #[error(transparent)]
    Chunks(#[from] tsdb_chunks::ChunkError),
    /// `meta.json` is missing fields, is not JSON, or has an unknown version.
    #[error("{}: invalid meta.json: {reason}", path.display())]
    Meta {
        /// Path of the `meta.json` file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// A block source handed series out of label order (or the same series twice).
    #[error("series {labels} is not after the previous series {previous} in label order")]
    SeriesOutOfOrder {
        /// The series handed over.
        labels: String,
        /// The series handed over before it.
        previous: String,
    },
    /// A block source handed a series samples or chunks out of time order.
    #[error("series {labels}: sample at {t} is not after the previous one at {previous}")]
    SampleOutOfOrder {
        /// The series concerned.
        labels: String,
        /// Timestamp of the offending sample (or chunk start).
        t: i64,
        /// Timestamp of the previous sample (or chunk end).
        previous: i64,
    },
    /// An argument is outside what the format or the operation allows.
    #[error("invalid argument: {0}")]
    InvalidArgument(String),
    /// The block source failed; its error is carried along.
    #[error("block source: {0}")]
    Source(#[source] Box<dyn std::error::Error + Send + Sync>),
}

impl BlockError {
    pub(crate) fn io(op: &'static str, path: impl Into<PathBuf>, source: io::Error) -> Self {
        BlockError::Io {
            op,
            path: path.into(),
            source,
        }
    }

    pub(crate) fn corrupt(path: impl Into<PathBuf>, offset: u64, reason: Corruption) -> Self {
        BlockError::Corrupt {
            path: path.into(),
            offset,
            reason,
        }
    }

    /// Whether the error reports damaged bytes on disk (as opposed to an I/O failure or a
    /// misuse of the API).
    pub fn is_corruption(&self) -> bool {
        match self {
            BlockError::Corrupt { .. } | BlockError::Meta { .. } => true,
            BlockError::Chunks(e) => matches!(
                e,
                tsdb_chunks::ChunkError::Corrupt { .. }
                    | tsdb_chunks::ChunkError::UnknownFile { .. }
            ),
            _ => false,
        }
    }
}

/// Result type of the crate.
pub type Result<T, E = BlockError> = std::result::Result<T, E>;

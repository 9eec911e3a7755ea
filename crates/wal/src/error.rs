//! Errors of the write-ahead log.

use std::fmt;
use std::io;
use std::path::PathBuf;
use std::sync::Arc;

/// Where and why the log stopped being readable.
///
/// `offset` is the byte offset inside segment `segment` of the first entry that could not be read;
/// everything before it was intact. Repair truncates the segment there (see [`crate::repair()`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Corruption {
    /// Sequence number of the damaged (or missing) segment.
    pub segment: u64,
    /// Offset inside that segment of the first unreadable byte.
    pub offset: u64,
    /// What was wrong, for a person.
    pub reason: String,
    /// The damaged file's name relative to the WAL directory: `000001` (SegmentWAL), `00000001` (wlog) or
    /// `checkpoint.00000004/00000000` (a segment inside a wlog checkpoint).
    pub file: String,
    /// For damage inside a wlog checkpoint, the checkpoint's index (`segment` is then the segment inside it).
    pub checkpoint: Option<u64>,
}

impl fmt::Display for Corruption {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "segment {} at offset {}: {}",
            self.file, self.offset, self.reason
        )
    }
}

/// Errors returned by the WAL's writer, reader, repair and truncation.
#[derive(Debug, thiserror::Error)]
pub enum WalError {
    /// An operating-system call failed on a file or directory of the log.
    #[error("{op} {}: {source}", path.display())]
    Io {
        /// What was being done ("open", "write", "fsync", ...).
        op: &'static str,
        /// The file or directory.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: io::Error,
    },
    /// The log holds bytes that are not a valid entry or record.
    #[error("WAL corruption in {0}")]
    Corruption(Corruption),
    /// A record passed to an encoder cannot be represented (for example more than 4 GiB in one entry).
    #[error("cannot encode record: {0}")]
    Encode(String),
    /// The log was closed, or an earlier failure left it unusable: nothing more is acknowledged.
    #[error("WAL unusable after an earlier failure: {0}")]
    Failed(Arc<WalError>),
    /// The log was closed.
    #[error("WAL is closed")]
    Closed,
    /// A wlog segment size that is not a non-zero multiple of 32 KiB of at most 256 MiB.
    #[error("invalid wlog segment size {size}: {reason}")]
    SegmentSize {
        /// The size asked for.
        size: u64,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// The directory holds a log in another format than the writer's mode (or one not recognised).
    #[error("WAL directory {} is in {found} format, cannot open it in {wanted:?} mode", dir.display())]
    FormatMismatch {
        /// The WAL directory.
        dir: PathBuf,
        /// What detection found there.
        found: crate::detect::WalFormat,
        /// The mode asked for.
        wanted: crate::options::WalMode,
    },
    /// The directory holds files that are not a log in any format this crate reads; nothing was changed
    /// (repair refuses to cut what it does not recognise).
    #[error("WAL directory {} is in an unrecognised format ({why}): not repaired, nothing changed", dir.display())]
    UnknownFormat {
        /// The WAL directory.
        dir: PathBuf,
        /// What was found.
        why: String,
    },
    /// Damage that repair will not cut because cutting would lose what the rest of the log depends on
    /// (for example a damaged wlog checkpoint, which holds the series every later segment refers to).
    #[error("cannot repair {}: {reason}", path.display())]
    Unrepairable {
        /// The damaged file or directory.
        path: PathBuf,
        /// Why.
        reason: String,
    },
}

impl WalError {
    pub(crate) fn io(op: &'static str, path: impl Into<PathBuf>, source: io::Error) -> WalError {
        WalError::Io {
            op,
            path: path.into(),
            source,
        }
    }

    pub(crate) fn corruption(segment: u64, offset: u64, reason: impl Into<String>) -> WalError {
        WalError::Corruption(Corruption {
            segment,
            offset,
            reason: reason.into(),
            file: crate::segment::segment_name(segment),
            checkpoint: None,
        })
    }

    /// A corruption in a wlog segment (`checkpoint`: the index of the checkpoint holding it, if any).
    pub(crate) fn wlog_corruption(
        checkpoint: Option<u64>,
        segment: u64,
        offset: u64,
        reason: impl Into<String>,
    ) -> WalError {
        let name = crate::wlog::segment_name(segment);
        WalError::Corruption(Corruption {
            segment,
            offset,
            reason: reason.into(),
            file: match checkpoint {
                Some(i) => format!("{}/{name}", crate::wlog::checkpoint_name(i)),
                None => name,
            },
            checkpoint,
        })
    }

    /// The corruption this error reports, if it is one.
    pub fn as_corruption(&self) -> Option<&Corruption> {
        match self {
            WalError::Corruption(c) => Some(c),
            _ => None,
        }
    }
}

/// Result type of this crate.
pub type Result<T, E = WalError> = std::result::Result<T, E>;

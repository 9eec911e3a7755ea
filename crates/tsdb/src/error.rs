//! Errors of the database.

use std::path::{Path, PathBuf};

/// Errors of [`crate::Db`].
#[derive(Debug, thiserror::Error)]
pub enum DbError {
    /// Another `Db` (in this or another process) has the directory open.
    #[error("{} is locked: another process (or another Db in this one) has it open", dir.display())]
    Locked {
        /// The data directory.
        dir: PathBuf,
    },
    /// The directory holds files that are not a database.
    #[error("{} is not a tsdb data directory: {reason}", dir.display())]
    NotADatabase {
        /// The directory.
        dir: PathBuf,
        /// What gave it away.
        reason: String,
    },
    /// A file of the database is damaged (not a block's or the WAL's, which have their own variants).
    #[error("{}: damaged: {reason}", path.display())]
    Damaged {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// A block could not be opened or read.
    #[error("block {}: {source}", dir.display())]
    Block {
        /// The block directory.
        dir: PathBuf,
        /// What was wrong.
        #[source]
        source: tsdb_block::BlockError,
    },
    /// The head (WAL, head chunks) failed.
    #[error(transparent)]
    Head(#[from] tsdb_head::HeadError),
    /// The WAL failed.
    #[error(transparent)]
    Wal(#[from] tsdb_wal::WalError),
    /// A file operation failed.
    #[error("{op} {}: {source}", path.display())]
    Io {
        /// What was done.
        op: &'static str,
        /// Where.
        path: PathBuf,
        /// The error.
        #[source]
        source: std::io::Error,
    },
    /// Invalid options or arguments.
    #[error("invalid argument: {0}")]
    Invalid(String),
    /// The database was closed.
    #[error("the database is closed")]
    Closed,
}

impl DbError {
    pub(crate) fn io(op: &'static str, path: &Path, source: std::io::Error) -> DbError {
        DbError::Io {
            op,
            path: path.to_path_buf(),
            source,
        }
    }
}

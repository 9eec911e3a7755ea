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
    /// A writable open asked for a WAL mode that cannot continue the log already in the directory (a wlog
    /// opened in a SegmentWAL mode, or a SegmentWAL log in wlog mode). Nothing was changed.
    #[error(
        "the WAL in {} is in {found} format and cannot be continued in {} mode; nothing was changed \
         (open it in {} mode, or move the WAL away to start a new one)",
        dir.display(),
        mode_name(*asked),
        found.mode().map_or("its own", mode_name)
    )]
    WalMode {
        /// The WAL directory.
        dir: PathBuf,
        /// The format found there.
        found: tsdb_wal::WalFormat,
        /// The mode asked for.
        asked: tsdb_wal::WalMode,
    },
    /// The head (WAL, head chunks) failed.
    #[error(transparent)]
    Head(#[from] tsdb_head::HeadError),
    /// The WAL failed.
    #[error(transparent)]
    Wal(#[from] tsdb_wal::WalError),
    /// A forwarder could not start or stopped on an error (it names the destination).
    #[error(transparent)]
    Forward(#[from] tsdb_forward::ForwardError),
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
    /// Not available in agent mode ([`crate::Options::agent`]): the database keeps no samples.
    #[error("{op} is unavailable in agent mode: the database keeps no samples, it forwards them")]
    Agent {
        /// What was asked.
        op: &'static str,
    },
    /// The database was closed.
    #[error("the database is closed")]
    Closed,
}

/// The name of a WAL mode as `--wal-mode` spells it.
pub fn mode_name(m: tsdb_wal::WalMode) -> &'static str {
    match m {
        tsdb_wal::WalMode::Native => "native",
        tsdb_wal::WalMode::Prometheus => "prometheus",
        tsdb_wal::WalMode::Wlog => "wlog",
    }
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

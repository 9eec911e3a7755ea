//! `ReadOnlyDb`: a data directory opened for reading only — its blocks and a read-only replay of its head —
//! for the tools that look without changing anything (dump, analyze, ls, replay), beside a running writer or
//! on a copy.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use tsdb_block::{Block, BlockMeta};
use tsdb_head::{Head, HeadOptions, ReplayReport};

use crate::dir;
use crate::error::DbError;
use crate::lock::DirLock;
use crate::querier::Querier;

/// What [`ReadOnlyDb::open`] reads.
#[derive(Debug, Clone)]
pub struct ReadOnlyOptions {
    /// Replay the head (`chunks_head/`, `wal/`) into memory. Default true. Without it only blocks are read
    /// (fast: for listing blocks or a lower bound).
    pub head: bool,
}

impl Default for ReadOnlyOptions {
    fn default() -> Self {
        ReadOnlyOptions { head: true }
    }
}

/// A block directory that could not be opened, and why (the error names file and offset).
#[derive(Debug)]
pub struct DamagedBlock {
    /// The block directory.
    pub dir: PathBuf,
    /// What is wrong with it.
    pub error: tsdb_block::BlockError,
}

/// Why the head of a [`ReadOnlyDb`] was not read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HeadAbsence {
    /// [`ReadOnlyOptions::head`] was false.
    NotAsked,
    /// Another process holds the directory's lock: its head is being written and a replay beside it could
    /// mistake the chunk being written for a torn one.
    Live,
}

/// A data directory opened read-only. Nothing on disk is changed (no lock file is created, no WAL or head
/// chunk file is repaired, no leftover removed).
///
/// While it is open it holds the directory's lock if the directory has a lock file and nobody else holds it,
/// so no writer opens the directory under it. When a writer holds the lock the database is *live*: the
/// blocks present at open are read (a block the writer compacts away meanwhile stays readable through its
/// open files), the head is not.
///
/// A block that fails to open does not fail the open: it is listed in [`damaged_blocks`](Self::damaged_blocks)
/// and left out of queries, so readers can report it and go on with the others.
pub struct ReadOnlyDb {
    dir: PathBuf,
    blocks: Vec<Arc<Block>>,
    damaged: Vec<DamagedBlock>,
    head: Result<(Head, ReplayReport), HeadAbsence>,
    min_valid: i64,
    _lock: Option<DirLock>,
}

impl ReadOnlyDb {
    /// Opens `dir` read-only.
    ///
    /// Errors: [`DbError::NotADatabase`] when `dir` does not exist, is not a directory, or holds none of a
    /// database's files (`wal/`, `chunks_head/`, a block, `lock`); [`DbError::Damaged`] for an unreadable
    /// `truncated_before`; head replay errors other than damage (damage is reported in
    /// [`replay_report`](Self::replay_report), and replay stops there).
    pub fn open(dir: impl AsRef<Path>, opts: ReadOnlyOptions) -> Result<ReadOnlyDb, DbError> {
        let dir = dir.as_ref().to_path_buf();
        match std::fs::metadata(&dir) {
            Ok(m) if m.is_dir() => {}
            Ok(_) => {
                return Err(DbError::NotADatabase {
                    dir,
                    reason: "it is not a directory".into(),
                })
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(DbError::NotADatabase {
                    dir,
                    reason: "it does not exist".into(),
                })
            }
            Err(e) => return Err(DbError::io("stat", &dir, e)),
        }
        dir::check_database_dir(&dir)?;
        let listing = dir::list(&dir)?;
        let has_head = dir.join("wal").is_dir() || dir.join("chunks_head").is_dir();
        if listing.blocks.is_empty() && !has_head && !dir.join("lock").exists() {
            return Err(DbError::NotADatabase {
                dir,
                reason: "it holds no wal/, chunks_head/ or block".into(),
            });
        }
        let (lock, live) = match DirLock::acquire_existing(&dir) {
            Ok(l) => (l, false),
            Err(DbError::Locked { .. }) => (None, true),
            Err(e) => return Err(e),
        };
        let mut blocks = Vec::new();
        let mut damaged = Vec::new();
        for b in listing.blocks {
            match Block::open(&b) {
                Ok(block) => blocks.push(Arc::new(block)),
                Err(error) => damaged.push(DamagedBlock { dir: b, error }),
            }
        }
        blocks.sort_by_cached_key(|b| {
            let m = b.meta();
            (m.min_time, m.max_time)
        });
        let min_valid = lower_bound(&dir, blocks.iter().map(|b| b.meta()))?;
        let head = if !opts.head {
            Err(HeadAbsence::NotAsked)
        } else if live {
            Err(HeadAbsence::Live)
        } else {
            let hopts = HeadOptions {
                min_valid,
                ..HeadOptions::default()
            };
            Ok(Head::open_read_only(&dir, hopts)?)
        };
        Ok(ReadOnlyDb {
            dir,
            blocks,
            damaged,
            head,
            min_valid,
            _lock: lock,
        })
    }

    /// The data directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Whether another process holds the directory's lock (then the head was not read).
    pub fn is_live(&self) -> bool {
        matches!(self.head, Err(HeadAbsence::Live))
    }

    /// The readable blocks, by time range.
    pub fn blocks(&self) -> &[Arc<Block>] {
        &self.blocks
    }

    /// Metas of the readable blocks, by time range.
    pub fn block_metas(&self) -> Vec<BlockMeta> {
        self.blocks.iter().map(|b| b.meta()).collect()
    }

    /// Block directories that could not be opened.
    pub fn damaged_blocks(&self) -> &[DamagedBlock] {
        &self.damaged
    }

    /// The replayed head, if it was read.
    pub fn head(&self) -> Option<&Head> {
        self.head.as_ref().ok().map(|(h, _)| h)
    }

    /// Why the head was not read, if it was not.
    pub fn head_absence(&self) -> Option<HeadAbsence> {
        self.head.as_ref().err().copied()
    }

    /// What the head's replay found (damage included), if the head was read.
    pub fn replay_report(&self) -> Option<&ReplayReport> {
        self.head.as_ref().ok().map(|(_, r)| r)
    }

    /// The head's lower bound, as [`crate::Db::open`] computes it: the end of the newest block, or the
    /// time the database was truncated to, whichever is later (`i64::MIN` for neither).
    pub fn min_valid(&self) -> i64 {
        self.min_valid
    }

    /// A querier over `[mint, maxt]` (milliseconds, inclusive): the readable blocks overlapping it and the
    /// head (if read), merged as [`crate::Db::querier`] merges them.
    pub fn querier(&self, mint: i64, maxt: i64) -> Querier<'_> {
        Querier {
            _gate: None,
            head: self.head(),
            blocks: self
                .blocks
                .iter()
                .filter(|b| {
                    let m = b.meta();
                    m.min_time <= maxt && m.max_time > mint
                })
                .cloned()
                .collect(),
            mint,
            maxt,
        }
    }
}

/// The head's lower bound of `dir` whose blocks are `metas`.
pub(crate) fn lower_bound(
    dir: &Path,
    metas: impl Iterator<Item = BlockMeta>,
) -> Result<i64, DbError> {
    Ok(metas
        .map(|m| m.max_time)
        .chain(dir::read_truncated_before(dir)?)
        .max()
        .unwrap_or(i64::MIN))
}

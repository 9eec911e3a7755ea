//! Opening a data directory: writable, as a [`tsdb::Db`] (for the commands that change it), or read-only
//! ([`Store`]: its blocks and a replay of its head, for the commands that only look).
//!
//! A read-only look takes the directory's lock while it reads, if it can: then no `Db` opens the
//! directory meanwhile. When a live `Db` holds the lock, the head (`wal/`, `chunks_head/`) is not read —
//! the head's read-only replay may cut what looks like a torn tail of a head chunk file, which in a live
//! database is a chunk being written — and only the blocks are shown, with a warning.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, Result};
use clap::{Args, ValueEnum};
use tsdb::{Db, DbError, DirLock, Options, SyncPolicy, WalMode};
use tsdb_block::{Block, BlockMeta};
use tsdb_head::{Head, HeadOptions, ReplayReport};
use tsdb_labels::{Labels, Matcher};

use crate::error::CliError;
use crate::paths;

/// How the WAL is written: `--wal-mode` and `--sync`, on every command that writes.
#[derive(Debug, Clone, Args)]
pub struct WriteArgs {
    /// WAL record encoding: `native` (symbol tables, snappy; smaller) or `prometheus` (only what
    /// Prometheus's SegmentWAL writes, so Prometheus can read the log).
    #[arg(long, value_enum, default_value_t = WalModeArg::Native, value_name = "MODE")]
    pub wal_mode: WalModeArg,

    /// When the WAL is fsynced: `always` (every commit, group commit), `interval` (every 5 s),
    /// `never` (only at close). The bytes reach the operating system at every commit in any case.
    #[arg(long, value_enum, default_value_t = SyncArg::Interval, value_name = "WHEN")]
    pub sync: SyncArg,
}

/// `--wal-mode`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum WalModeArg {
    /// Our compact encoding.
    Native,
    /// Prometheus's SegmentWAL records only.
    Prometheus,
}

/// `--sync`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum SyncArg {
    /// fsync before every commit returns.
    Always,
    /// fsync every 5 seconds.
    Interval,
    /// fsync only at close.
    Never,
}

impl WriteArgs {
    /// Database options with these WAL settings, maintenance left to the command (no background thread).
    pub fn options(&self) -> Options {
        Options {
            wal_mode: match self.wal_mode {
                WalModeArg::Native => WalMode::Native,
                WalModeArg::Prometheus => WalMode::Prometheus,
            },
            sync: match self.sync {
                SyncArg::Always => SyncPolicy::Always,
                SyncArg::Interval => SyncPolicy::Interval(Duration::from_secs(5)),
                SyncArg::Never => SyncPolicy::Never,
            },
            background: false,
            ..Options::default()
        }
    }
}

/// A database error as the command line reports it: a locked directory or a directory that is not a
/// database gets its own message and hint.
pub fn db_error(e: DbError) -> anyhow::Error {
    match e {
        DbError::Locked { dir } => CliError::failure(format!(
            "{}: the database is locked: another process has it open",
            dir.display()
        ))
        .with_hint(
            "stop the process that has it open (a Prometheus-style server, another tsdb-cli); \
             ls, dump, analyze and replay can read it meanwhile",
        )
        .into(),
        DbError::NotADatabase { dir, reason } => CliError::usage(format!(
            "{}: not a tsdb data directory: {reason}",
            dir.display()
        ))
        .into(),
        e => anyhow::Error::new(e),
    }
}

/// Opens an existing database for writing (the directory must exist: see [`open_db_create`]).
pub fn open_db(dir: &Path, opts: Options) -> Result<Db> {
    paths::existing_data_dir(dir)?;
    open_db_create(dir, opts)
}

/// Opens (creating if needed) a database for writing, and prints the warnings of its open (a repaired
/// WAL, say) to stderr.
pub fn open_db_create(dir: &Path, opts: Options) -> Result<Db> {
    let db = Db::open(dir, opts).map_err(db_error)?;
    for w in db.warnings() {
        eprintln!("warning: {w}");
    }
    Ok(db)
}

/// A data directory opened read-only: its blocks, oldest first, and (unless skipped) its head replayed
/// into memory.
pub struct Store {
    dir: PathBuf,
    blocks: Vec<Block>,
    head: Option<Head>,
    warnings: Vec<String>,
    live: bool,
    _lock: Option<DirLock>,
}

impl Store {
    /// Opens `dir` read-only: every block (a damaged one fails the open, naming it) and, when `with_head`,
    /// a read-only replay of the WAL and head chunks. Nothing is written.
    pub fn open(dir: &Path, with_head: bool) -> Result<Store> {
        paths::existing_data_dir(dir)?;
        let (lock, live) = try_lock(dir);
        let mut blocks = Vec::new();
        let block_dirs = tsdb_block::block_dirs(dir)
            .with_context(|| format!("list the blocks of {}", dir.display()))?;
        for b in block_dirs {
            let block = Block::open(&b).with_context(|| format!("open block {}", b.display()))?;
            blocks.push(block);
        }
        blocks.sort_by_key(|b| {
            let m = b.meta();
            (m.min_time, m.max_time)
        });
        let mut store = Store {
            dir: dir.to_path_buf(),
            blocks,
            head: None,
            warnings: Vec::new(),
            live,
            _lock: lock,
        };
        let has_head = dir.join("wal").is_dir() || dir.join("chunks_head").is_dir();
        if with_head && has_head {
            if live {
                store.warnings.push(format!(
                    "{} is open in another process: its head (wal/, chunks_head/) is not read, \
                     only its blocks",
                    dir.display()
                ));
            } else {
                let (head, report) = replay_read_only(dir, store.min_valid())?;
                if let Some(c) = &report.wal_corruption {
                    store.warnings.push(format!(
                        "the WAL is damaged at {c}: what follows is not read \
                         (\"tsdb-cli wal repair {}\" cuts it there)",
                        dir.display()
                    ));
                }
                store.head = Some(head);
            }
        }
        Ok(store)
    }

    /// The data directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Whether another process has the database open (then the head was not read).
    pub fn live(&self) -> bool {
        self.live
    }

    /// The blocks, by time.
    pub fn blocks(&self) -> &[Block] {
        &self.blocks
    }

    /// The replayed head, if it was read.
    pub fn head(&self) -> Option<&Head> {
        self.head.as_ref()
    }

    /// Prints the warnings to stderr.
    pub fn print_warnings(&self) {
        for w in &self.warnings {
            eprintln!("warning: {w}");
        }
    }

    /// The head's lower bound, as a `Db` opening this directory computes it: the end of the newest block,
    /// or the time the database was truncated to.
    pub fn min_valid(&self) -> i64 {
        lower_bound(&self.dir, self.blocks.iter().map(Block::meta))
    }

    /// Calls `f` with every series that `matchers` select (all for none) and its samples in the closed
    /// range `[mint, maxt]`, in label order; blocks and head merged as `tsdb::Querier` merges them (a
    /// timestamp appears once; at equal timestamps blocks in time order win over the head). Series with
    /// no sample in the range are left out. Streams: one series in memory at a time.
    pub fn for_each_series(
        &self,
        matchers: &[Matcher],
        mint: i64,
        maxt: i64,
        mut f: impl FnMut(&Labels, &[(i64, f64)]) -> Result<()>,
    ) -> Result<()> {
        let mut sets = Vec::new();
        for b in &self.blocks {
            let m = b.meta();
            if m.min_time <= maxt && m.max_time > mint {
                let set = b
                    .select(matchers, mint, maxt)
                    .with_context(|| format!("read block {}", b.dir().display()))?;
                sets.push((b.dir(), set.peekable()));
            }
        }
        let head_series: Vec<(u64, Labels)> = match &self.head {
            Some(h) if h.max_time() >= mint && h.min_time() <= maxt => h.select(matchers),
            _ => Vec::new(),
        };
        let mut head_pos = 0;
        let mut buf: Vec<(i64, f64)> = Vec::new();
        loop {
            // The smallest labels among the next series of every source.
            let mut min: Option<Labels> = None;
            for (dir, set) in sets.iter_mut() {
                match set.peek() {
                    Some(Ok(s)) if min.as_ref().is_none_or(|m| s.labels() < m) => {
                        min = Some(s.labels().clone());
                    }
                    Some(Ok(_)) => {}
                    Some(Err(_)) => {
                        if let Some(Err(e)) = set.next() {
                            return Err(anyhow::Error::new(e)
                                .context(format!("read block {}", dir.display())));
                        }
                    }
                    None => {}
                }
            }
            if let Some((_, l)) = head_series.get(head_pos) {
                if min.as_ref().is_none_or(|m| l < m) {
                    min = Some(l.clone());
                }
            }
            let Some(labels) = min else { break };
            buf.clear();
            let mut sources = 0;
            for (dir, set) in sets.iter_mut() {
                if matches!(set.peek(), Some(Ok(s)) if *s.labels() == labels) {
                    if let Some(Ok(s)) = set.next() {
                        for x in s.into_samples() {
                            buf.push(x.with_context(|| format!("read block {}", dir.display()))?);
                        }
                        sources += 1;
                    }
                }
            }
            if let (Some(h), Some((r, l))) = (&self.head, head_series.get(head_pos)) {
                if *l == labels {
                    h.samples_into(*r, mint, maxt, &mut buf)
                        .with_context(|| format!("read the head of {}", self.dir.display()))?;
                    sources += 1;
                    head_pos += 1;
                }
            }
            if sources > 1 && !buf.windows(2).all(|w| w[0].0 < w[1].0) {
                // Stable: at equal timestamps the earlier source wins.
                buf.sort_by_key(|s| s.0);
                buf.dedup_by_key(|s| s.0);
            }
            if !buf.is_empty() {
                f(&labels, &buf)?;
            }
        }
        Ok(())
    }
}

/// The lower bound of the head of `dir`, whose blocks are `metas`: what `Db::open` computes.
pub fn lower_bound(dir: &Path, metas: impl Iterator<Item = BlockMeta>) -> i64 {
    metas
        .map(|m| m.max_time)
        .chain(paths::truncated_before(dir))
        .max()
        .unwrap_or(i64::MIN)
}

/// Replays the head of `dir` read-only with the lower bound `min_valid`.
pub fn replay_read_only(dir: &Path, min_valid: i64) -> Result<(Head, ReplayReport)> {
    let opts = HeadOptions {
        min_valid,
        ..HeadOptions::default()
    };
    Head::open_read_only(dir, opts)
        .with_context(|| format!("replay the head of {} read-only", dir.display()))
}

/// Takes the lock of `dir` if it has a lock file (a directory without one was never opened by a `Db`);
/// returns the lock and whether another process holds it.
pub fn try_lock(dir: &Path) -> (Option<DirLock>, bool) {
    if !dir.join("lock").is_file() {
        return (None, false);
    }
    match DirLock::acquire(dir) {
        Ok(l) => (Some(l), false),
        Err(DbError::Locked { .. }) => (None, true),
        // Not ours to lock (a read-only file system, another user's files): read without it.
        Err(_) => (None, false),
    }
}

/// Parses a `--match` series selector (PromQL syntax). Unlike PromQL, and like `promtool tsdb dump`, a
/// selector whose every matcher matches the empty string (`{__name__=~".*"}`, `{}`) is accepted when
/// `allow_empty`: it selects every series its matchers accept.
pub fn parse_match(s: &str, allow_empty: bool) -> Result<Vec<Matcher>> {
    use tsdb_labels::LabelsError;
    let bad = |e: LabelsError| CliError::usage(format!("--match {s:?}: {e}"));
    match tsdb_labels::parse_selector(s) {
        Ok(m) => Ok(m),
        Err(LabelsError::EmptySelector) if allow_empty => {
            // Only a `{...}` selector can match nothing but empty values (a metric name is a non-empty
            // equality): parse it again with a non-empty matcher in front, then drop that one.
            let t = s.trim_start();
            let inner = t
                .strip_prefix('{')
                .ok_or_else(|| bad(LabelsError::EmptySelector))?;
            let padded = format!("{{__tsdb_cli__=\"x\", {inner}");
            let mut m = tsdb_labels::parse_selector(&padded).map_err(bad)?;
            m.remove(0);
            Ok(m)
        }
        Err(e) => Err(bad(e).into()),
    }
}

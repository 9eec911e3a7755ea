//! The database: open and recover, append, query, persist, compact, retain, truncate, delete, close.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, Sender};
use parking_lot::{Mutex, RwLock};
use tsdb_block::{Block, BlockMeta, WriteOptions};
use tsdb_head::{Appender, Head, HeadOptions, ReplayReport};
use tsdb_labels::Matcher;
use tsdb_wal::WalOptions;

use crate::dir::{self, sync_dir};
use crate::error::DbError;
use crate::lock::DirLock;
use crate::options::Options;
use crate::querier::Querier;
use crate::source::HeadSource;

/// What maintenance did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Maintenance {
    /// Blocks written from the head. Compaction in the same run may have merged some of them into a
    /// block of `compacted`; those are gone.
    pub persisted: Vec<BlockMeta>,
    /// Blocks written by compaction that are blocks of the database at the end of the run: a block that
    /// a later level merged again in the same run is listed only through the block it went into.
    pub compacted: Vec<BlockMeta>,
    /// Block directories deleted by retention.
    pub retention_removed: Vec<PathBuf>,
    /// WAL segments rewritten into a checkpoint by head truncation.
    pub wal_segments_truncated: usize,
    /// Head chunk files deleted by head truncation.
    pub chunk_files_removed: usize,
}

struct Inner {
    dir: PathBuf,
    opts: Options,
    head: Head,
    blocks: RwLock<Vec<Arc<Block>>>,
    /// Serializes persistence, compaction, retention, truncation and deletes.
    maintenance: Mutex<()>,
    /// Readers (queriers) hold it shared, head truncation exclusive: a querier's list of blocks and the
    /// head it reads stay consistent (a sample moved from the head to a block is seen in one of them).
    read_gate: RwLock<()>,
    warnings: Mutex<Vec<String>>,
    background_error: Mutex<Option<String>>,
    closed: AtomicBool,
    /// The sequence number of the checkpoint segment the last WAL truncation wrote (`u64::MAX`: none).
    checkpoint_seq: AtomicU64,
    /// One per [`Options::forward`] destination; taken out by `close`.
    forwarders: Mutex<Vec<tsdb_forward::Forwarder>>,
    _lock: DirLock,
}

/// An open database directory. `Send + Sync`: share it between threads.
///
/// Appends go to the head through [`Db::appender`] (logged to the WAL before they are applied: a commit that
/// returned is durable under the configured sync policy). Queries see blocks and head merged. A background
/// thread (unless disabled) persists the head as blocks, compacts them and applies retention; appends and
/// queries continue meanwhile.
pub struct Db {
    inner: Arc<Inner>,
    background: Background,
    replay: ReplayReport,
}

/// The maintenance thread; stopped (and joined) when dropped.
struct Background {
    stop: Option<Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl Drop for Background {
    fn drop(&mut self) {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Orders blocks by time range (reading each meta once).
fn sort_blocks(blocks: &mut [Arc<Block>]) {
    blocks.sort_by_cached_key(|b| {
        let m = b.meta();
        (m.min_time, m.max_time)
    });
}

impl Db {
    /// Opens (creating if needed) the database in `dir`.
    ///
    /// Refuses, before changing anything, a WAL whose format is not recognised
    /// ([`tsdb_head::HeadError::WalFormat`] inside [`DbError::Head`]) and one that [`Options::wal_mode`]
    /// cannot continue ([`DbError::WalMode`]: the two SegmentWAL modes continue each other's logs, wlog only
    /// a wlog; open such a directory in the mode its WAL is in, [`tsdb_wal::WalFormat::mode`]).
    ///
    /// Takes the directory lock (a second open fails with [`DbError::Locked`]), loads the blocks (a damaged
    /// block fails the open naming it, unless [`Options::skip_damaged_blocks`]), removes leftover `.tmp`
    /// files, replays head chunks and the WAL (a damaged WAL tail is repaired; see
    /// [`Db::replay_report`]), and starts the background thread. A failed open changes nothing on disk
    /// but the repair of a torn WAL tail.
    pub fn open(dir: impl AsRef<Path>, opts: Options) -> Result<Db, DbError> {
        let dir = dir.as_ref().to_path_buf();
        if opts.block_range <= 0 {
            return Err(DbError::Invalid(format!(
                "block range must be positive, got {}",
                opts.block_range
            )));
        }
        if opts.agent && opts.forward.is_empty() {
            return Err(DbError::Invalid(
                "agent mode keeps samples only until they are forwarded: give at least one forwarding destination".into(),
            ));
        }
        dir::check_database_dir(&dir)?;
        // The WAL's format first, before anything is created or removed: a log we do not read, or one the
        // asked-for mode cannot continue, is refused as it is.
        let wal_dir = dir.join("wal");
        match tsdb_wal::detect(&wal_dir)? {
            format @ tsdb_wal::WalFormat::Unknown(_) => {
                return Err(DbError::Head(tsdb_head::HeadError::WalFormat {
                    dir: wal_dir,
                    format,
                }))
            }
            found if !found.accepts(opts.wal_mode) => {
                return Err(DbError::WalMode {
                    dir: wal_dir,
                    found,
                    asked: opts.wal_mode,
                })
            }
            _ => {}
        }
        std::fs::create_dir_all(&dir).map_err(|e| DbError::io("create", &dir, e))?;
        let lock = DirLock::acquire(&dir)?;
        let mut warnings = Vec::new();
        let mut blocks = Vec::new();
        let listing = dir::list(&dir)?;
        for b in listing.blocks {
            match Block::open(&b) {
                Ok(block) => blocks.push(Arc::new(block)),
                Err(err) if opts.skip_damaged_blocks => {
                    warnings.push(format!("skipped damaged block {}: {err}", b.display()));
                }
                Err(err) => {
                    return Err(DbError::Block {
                        dir: b,
                        source: err,
                    })
                }
            }
        }
        sort_blocks(&mut blocks);
        if opts.agent {
            if let Some(b) = blocks.first() {
                return Err(DbError::NotADatabase {
                    dir: dir.clone(),
                    reason: format!(
                        "it holds blocks ({} first) and agent mode keeps none: give the agent a directory of its own",
                        b.dir().display()
                    ),
                });
            }
        }
        let truncated = dir::read_truncated_before(&dir)?;
        for p in listing.leftovers {
            let r = if p.is_dir() {
                std::fs::remove_dir_all(&p)
            } else {
                std::fs::remove_file(&p)
            };
            r.map_err(|e| DbError::io("remove leftover", &p, e))?;
        }
        let min_valid = blocks
            .iter()
            .map(|b| b.meta().max_time)
            .chain(truncated)
            .max()
            .unwrap_or(i64::MIN);
        let head_opts = HeadOptions {
            chunk_range: opts.block_range,
            wal: WalOptions {
                mode: opts.wal_mode,
                sync: opts.sync,
                segment_size: opts.wal_segment_size,
                ..WalOptions::default()
            },
            head_chunks: tsdb_chunks::HeadFilesOptions {
                max_file_size: opts.head_chunk_file_size,
                ..Default::default()
            },
            min_valid,
            append_window: Some(opts.block_range / 2),
            keep_samples: !opts.agent,
            ..HeadOptions::default()
        };
        let (head, replay) = Head::open(&dir, head_opts)?;
        if let Some(r) = &replay.wal_repair {
            warnings.push(format!(
                "repaired the WAL: {} ({} bytes dropped)",
                r.corruption,
                r.bytes_dropped()
            ));
        }
        if let Some(m) = replay.missing_records() {
            warnings.push(m.to_string());
        }
        if let Some(d) = &replay.chunk_damage {
            warnings.push(format!(
                "cut damaged head chunk file {} at offset {}: {}",
                d.path.display(),
                d.offset,
                d.reason
            ));
        }
        let mut forwarders = Vec::new();
        for dest in &opts.forward {
            forwarders.push(tsdb_forward::Forwarder::start(
                &dir.join("wal"),
                &dir.join(dir::FORWARD_DIR),
                dest.clone(),
                opts.forward_options.clone(),
            )?);
        }
        let inner = Arc::new(Inner {
            forwarders: Mutex::new(forwarders),
            dir,
            head,
            blocks: RwLock::new(blocks),
            maintenance: Mutex::new(()),
            read_gate: RwLock::new(()),
            warnings: Mutex::new(warnings),
            background_error: Mutex::new(None),
            closed: AtomicBool::new(false),
            checkpoint_seq: AtomicU64::new(u64::MAX),
            _lock: lock,
            opts,
        });
        let (stop, thread) = if inner.opts.background {
            let (tx, rx) = crossbeam_channel::bounded::<()>(1);
            let i = inner.clone();
            let t = std::thread::Builder::new()
                .name("tsdb-maintenance".into())
                .spawn(move || background(i, rx))
                .map_err(|e| DbError::io("spawn maintenance thread in", &inner.dir, e))?;
            (Some(tx), Some(t))
        } else {
            (None, None)
        };
        Ok(Db {
            inner,
            background: Background { stop, thread },
            replay,
        })
    }

    /// The data directory.
    pub fn dir(&self) -> &Path {
        &self.inner.dir
    }

    /// The head (for its metrics and direct reads).
    pub fn head(&self) -> &Head {
        &self.inner.head
    }

    /// What replay found when the database was opened.
    pub fn replay_report(&self) -> &ReplayReport {
        &self.replay
    }

    /// Warnings of open (repaired WAL, skipped blocks) and of the background thread.
    pub fn warnings(&self) -> Vec<String> {
        let mut w = self.inner.warnings.lock().clone();
        if let Some(e) = self.inner.background_error.lock().clone() {
            w.push(e);
        }
        w
    }

    /// Each forwarding destination's counters and position ([`Options::forward`]), in the order given.
    pub fn forward_metrics(&self) -> Vec<tsdb_forward::ForwardMetrics> {
        self.inner
            .forwarders
            .lock()
            .iter()
            .map(|f| f.metrics())
            .collect()
    }

    /// The blocks, oldest first.
    pub fn blocks(&self) -> Vec<BlockMeta> {
        self.inner.blocks.read().iter().map(|b| b.meta()).collect()
    }

    /// A new appender on the head.
    pub fn appender(&self) -> Appender<'_> {
        self.inner.head.appender()
    }

    /// A querier over `[mint, maxt]` (milliseconds, inclusive). While it lives the head is not truncated
    /// (persistence waits for it after writing a block), so drop it before calling [`Db::flush`],
    /// [`Db::truncate`] or [`Db::maintain`] on the same thread.
    pub fn querier(&self, mint: i64, maxt: i64) -> Querier<'_> {
        // Recursive: a thread may hold several queriers while truncation waits for the gate.
        let gate = self.inner.read_gate.read_recursive();
        let blocks = self
            .inner
            .blocks
            .read()
            .iter()
            .filter(|b| {
                let m = b.meta();
                m.min_time <= maxt && m.max_time > mint
            })
            .cloned()
            .collect();
        Querier {
            _gate: Some(gate),
            head: Some(&self.inner.head),
            blocks,
            mint,
            maxt,
        }
    }

    /// Whether the database is in agent mode ([`Options::agent`]).
    pub fn is_agent(&self) -> bool {
        self.inner.opts.agent
    }

    fn refuse_in_agent_mode(&self, op: &'static str) -> Result<(), DbError> {
        if self.inner.opts.agent {
            return Err(DbError::Agent { op });
        }
        Ok(())
    }

    /// Persists what is ready, compacts and applies retention, now (what the background thread does).
    /// In agent mode: forgets stale series and folds away the WAL segments every destination has had
    /// acknowledged ([`Maintenance::wal_segments_truncated`]).
    pub fn maintain(&self) -> Result<Maintenance, DbError> {
        self.inner.maintain()
    }

    /// Persists the whole head as blocks now; afterwards the head is empty and accepts only samples newer
    /// than what it held.
    pub fn flush(&self) -> Result<Vec<BlockMeta>, DbError> {
        let inner = &self.inner;
        self.refuse_in_agent_mode("flush")?;
        let _m = inner.maintenance.lock();
        let head = &inner.head;
        let (lo, hi) = (head.min_time(), head.max_time());
        if lo > hi {
            return Ok(Vec::new());
        }
        let range = inner.opts.block_range;
        // The head holds nothing newer than `MAX_TIME` (`i64::MAX - 1`), so this does not overflow.
        let upto = hi.saturating_add(1);
        let mut out = Vec::new();
        let mut next = Some(lo);
        while let Some(first) = next.filter(|&t| t <= hi) {
            let (start, end) = head_block_range(first, range)?;
            // The last block ends just after the newest sample, not at its range boundary: samples
            // appended after the flush must stay above every block's end (the lower bound on restart).
            let end = end.min(upto);
            if let Some(m) = inner.write_head_block(start, end)? {
                out.push(m);
            }
            // Ranges without samples are skipped, not written empty one by one.
            next = inner.head.next_sample_time(end);
        }
        inner.truncate_head(upto)?;
        Ok(out)
    }

    /// Removes every sample older than `mint`: after it returns no query sees one, the head and WAL hold
    /// none, blocks wholly before `mint` are deleted and a block straddling it is rewritten without them.
    pub fn truncate(&self, mint: i64) -> Result<(), DbError> {
        let inner = &self.inner;
        self.refuse_in_agent_mode("truncate")?;
        let _m = inner.maintenance.lock();
        dir::write_truncated_before(&inner.dir, mint)?;
        inner.truncate_head(mint)?;
        let blocks: Vec<Arc<Block>> = inner.blocks.read().clone();
        for b in blocks {
            let m = b.meta();
            if m.max_time <= mint {
                inner.remove_block(&b)?;
            } else if m.min_time < mint {
                b.delete(&[], m.min_time, mint - 1)
                    .map_err(|e| DbError::Block {
                        dir: b.dir().to_path_buf(),
                        source: e,
                    })?;
                // Rewrite it without the deleted range.
                let dir = b.dir().to_path_buf();
                let new =
                    tsdb_block::compact(&inner.dir, std::slice::from_ref(&dir)).map_err(|e| {
                        DbError::Block {
                            dir: dir.clone(),
                            source: e,
                        }
                    })?;
                inner.swap_blocks(&[dir], new)?;
            }
        }
        Ok(())
    }

    /// Deletes `[mint, maxt]` of the series the matchers select: tombstones in blocks, a deletes record in
    /// the WAL for the head. Returns how many distinct series had data in the range (a series held by
    /// several blocks and the head counts once).
    pub fn delete(&self, matchers: &[Matcher], mint: i64, maxt: i64) -> Result<usize, DbError> {
        let inner = &self.inner;
        self.refuse_in_agent_mode("delete")?;
        let _m = inner.maintenance.lock();
        let mut affected = 0;
        if mint <= maxt {
            let q = self.querier(mint, maxt);
            for s in q.select(matchers)? {
                s?;
                affected += 1;
            }
        }
        for b in inner.blocks.read().iter() {
            let m = b.meta();
            if m.min_time <= maxt && m.max_time > mint {
                b.delete(matchers, mint, maxt).map_err(|e| DbError::Block {
                    dir: b.dir().to_path_buf(),
                    source: e,
                })?;
            }
        }
        inner.head.delete(matchers, mint, maxt)?;
        Ok(affected)
    }

    /// Writes a copy of the database into `dir` as blocks only: existing blocks are hard-linked (copied if
    /// links are impossible) and the head is written as blocks. `dir` must not exist or be empty.
    pub fn snapshot(&self, dir: impl AsRef<Path>) -> Result<Vec<BlockMeta>, DbError> {
        self.refuse_in_agent_mode("snapshot")?;
        let dst = dir.as_ref();
        std::fs::create_dir_all(dst).map_err(|e| DbError::io("create", dst, e))?;
        let inner = &self.inner;
        let _m = inner.maintenance.lock();
        let mut out = Vec::new();
        for b in inner.blocks.read().iter() {
            let name = b
                .dir()
                .file_name()
                .map(|n| n.to_owned())
                .unwrap_or_default();
            link_tree(b.dir(), &dst.join(name))?;
            out.push(b.meta());
        }
        let head = &inner.head;
        let (lo, hi) = (head.min_time(), head.max_time());
        if lo <= hi {
            let range = inner.opts.block_range;
            let mut next = Some(lo);
            while let Some(first) = next.filter(|&t| t <= hi) {
                let (start, end) = head_block_range(first, range)?;
                if let Some(m) = tsdb_block::write_block(
                    dst,
                    &HeadSource { head },
                    start,
                    end,
                    &inner.write_options(),
                )
                .map_err(|e| DbError::Block {
                    dir: dst.to_path_buf(),
                    source: e,
                })? {
                    out.push(m);
                }
                next = head.next_sample_time(end);
            }
        }
        sync_dir(dst)?;
        Ok(out)
    }

    /// Stops the background thread, then syncs and closes the WAL and head chunk files.
    pub fn close(self) -> Result<(), DbError> {
        let Db {
            inner, background, ..
        } = self;
        inner.closed.store(true, Ordering::Release);
        drop(background);
        let forwarders = std::mem::take(&mut *inner.forwarders.lock());
        let mut forward_error = None;
        for f in forwarders {
            let url = f.url().to_string();
            match f.finish(inner.opts.forward_drain) {
                Ok(true) => {}
                Ok(false) if inner.opts.forward_drain > Duration::ZERO => eprintln!(
                    "forward to {url}: not everything was acknowledged within {:?}; the rest is sent after the next open",
                    inner.opts.forward_drain
                ),
                Ok(false) => {}
                Err(e) => forward_error = Some(e),
            }
        }
        match Arc::try_unwrap(inner) {
            Ok(i) => {
                i.head.close()?;
                match forward_error {
                    Some(e) => Err(e.into()),
                    None => Ok(()),
                }
            }
            Err(_) => Err(DbError::Invalid(
                "the database is still in use by another thread".into(),
            )),
        }
    }
}

/// The block range `[start, end)` holding the head sample at `t` (see [`tsdb_block::block_range`]): it
/// contains `t`, so every loop persisting the head range by range moves forward. The head refuses samples
/// that no range holds (`i64::MAX`), so an error here means the head holds one anyway.
fn head_block_range(t: i64, range: i64) -> Result<(i64, i64), DbError> {
    tsdb_block::block_range(t, range).ok_or_else(|| {
        DbError::Invalid(format!(
            "no block of range {range} can hold a sample at {t} (the newest storable time is {})",
            tsdb_block::MAX_SAMPLE_TIME
        ))
    })
}

fn link_tree(src: &Path, dst: &Path) -> Result<(), DbError> {
    std::fs::create_dir_all(dst).map_err(|e| DbError::io("create", dst, e))?;
    for e in std::fs::read_dir(src).map_err(|e| DbError::io("list", src, e))? {
        let e = e.map_err(|e| DbError::io("list", src, e))?;
        let to = dst.join(e.file_name());
        if e.path().is_dir() {
            link_tree(&e.path(), &to)?;
        } else if std::fs::hard_link(e.path(), &to).is_err() {
            std::fs::copy(e.path(), &to).map_err(|err| DbError::io("copy", &e.path(), err))?;
        }
    }
    Ok(())
}

fn background(inner: Arc<Inner>, stop: Receiver<()>) {
    let tick = crossbeam_channel::tick(inner.opts.background_interval);
    loop {
        crossbeam_channel::select! {
            recv(stop) -> _ => return,
            recv(tick) -> _ => {
                if let Err(e) = inner.maintain() {
                    *inner.background_error.lock() = Some(format!("background maintenance failed: {e}"));
                }
            }
        }
    }
}

impl Inner {
    fn write_options(&self) -> WriteOptions {
        WriteOptions {
            cut_policy: tsdb_block::CutPolicy::Head {
                chunk_range: self.opts.block_range,
            },
            ..WriteOptions::default()
        }
    }

    fn write_head_block(&self, mint: i64, maxt: i64) -> Result<Option<BlockMeta>, DbError> {
        let meta = tsdb_block::write_block(
            &self.dir,
            &HeadSource { head: &self.head },
            mint,
            maxt,
            &self.write_options(),
        )
        .map_err(|e| DbError::Block {
            dir: self.dir.clone(),
            source: e,
        })?;
        // Copying the range's chunks touched their pages in the head chunk files' mappings.
        self.head.release_resident_pages();
        if let Some(m) = &meta {
            let dir = self.dir.join(m.ulid.to_string());
            let b = Block::open(&dir).map_err(|e| DbError::Block { dir, source: e })?;
            let mut bl = self.blocks.write();
            bl.push(Arc::new(b));
            sort_blocks(&mut bl);
        }
        Ok(meta)
    }

    fn truncate_head(&self, mint: i64) -> Result<tsdb_head::HeadTruncation, DbError> {
        // Waits for the queriers made before the blocks that now hold these samples were listed.
        let _gate = self.read_gate.write();
        self.set_forward_floor();
        Ok(self.head.truncate(mint)?)
    }

    /// Whether a closed WAL segment older than `mint`, below the forwarders' floor and other than the
    /// checkpoint the last truncation wrote, is there to fold (a truncation rewrites the checkpoint, and
    /// this is asked at every background tick). Never without forwarders: head truncation covers that.
    fn wal_fold_due(&self, mint: i64) -> bool {
        let (Some(floor), Some(wal)) = (self.set_forward_floor(), self.head.wal()) else {
            return false;
        };
        let ck = self.checkpoint_seq.load(Ordering::Acquire);
        wal.closed_segments()
            .iter()
            .any(|c| c.seq < floor && c.max_t < mint && c.seq != ck)
    }

    /// Remembers the checkpoint a WAL truncation wrote (the newest segment it folded), so that it alone
    /// does not make another truncation due.
    fn note_checkpoint(&self, t: &tsdb_wal::TruncateReport) {
        if let Some(&last) = t.segments.last() {
            self.checkpoint_seq.store(last, Ordering::Release);
        }
    }

    /// Keeps every WAL segment a forwarder has not had acknowledged yet from truncation; returns that
    /// floor (none without forwarders).
    fn set_forward_floor(&self) -> Option<u64> {
        let floor = self
            .forwarders
            .lock()
            .iter()
            .map(|f| f.keep_from_segment())
            .min();
        if let Some(wal) = self.head.wal() {
            wal.set_truncation_floor(floor);
        }
        floor
    }

    fn remove_block(&self, b: &Arc<Block>) -> Result<(), DbError> {
        let dir = b.dir().to_path_buf();
        self.blocks.write().retain(|x| x.dir() != dir);
        tsdb_block::remove_block_dir(&dir).map_err(|e| DbError::Block { dir, source: e })
    }

    /// Replaces the blocks in `old` (already compacted into `new`) by `new`, then deletes `old`.
    fn swap_blocks(&self, old: &[PathBuf], new: Option<BlockMeta>) -> Result<(), DbError> {
        let added = match &new {
            Some(m) => {
                let dir = self.dir.join(m.ulid.to_string());
                Some(Arc::new(
                    Block::open(&dir).map_err(|e| DbError::Block { dir, source: e })?,
                ))
            }
            None => None,
        };
        {
            let mut bl = self.blocks.write();
            bl.retain(|b| !old.iter().any(|o| o == b.dir()));
            if let Some(a) = added {
                bl.push(a);
            }
            sort_blocks(&mut bl);
        }
        for d in old {
            tsdb_block::remove_block_dir(d).map_err(|e| DbError::Block {
                dir: d.clone(),
                source: e,
            })?;
        }
        Ok(())
    }

    fn maintain(&self) -> Result<Maintenance, DbError> {
        let _m = self.maintenance.lock();
        let mut rep = Maintenance::default();
        if self.closed.load(Ordering::Acquire) {
            return Ok(rep);
        }
        if self.opts.agent {
            // Samples are not kept, so every acknowledged closed segment may go.
            if !self.wal_fold_due(i64::MAX) {
                return Ok(rep);
            }
            let newest = self.head.max_time();
            let before = if newest == i64::MIN {
                i64::MIN
            } else {
                newest.saturating_sub(self.opts.agent_series_retention)
            };
            let t = self.head.truncate_agent(before)?;
            self.note_checkpoint(&t.wal);
            rep.wal_segments_truncated += t.wal.segments.len();
            return Ok(rep);
        }
        // 1. Persist the oldest block range while the head spans more than 1.5 block ranges.
        let range = self.opts.block_range;
        loop {
            let (lo, hi) = (self.head.min_time(), self.head.max_time());
            if lo > hi || hi.saturating_sub(lo) <= range / 2 * 3 {
                break;
            }
            let (start, end) = head_block_range(lo, range)?;
            if let Some(m) = self.write_head_block(start, end)? {
                rep.persisted.push(m);
            }
            let t = self.truncate_head(end)?;
            self.note_checkpoint(&t.wal);
            rep.wal_segments_truncated += t.wal.segments.len();
            rep.chunk_files_removed += t.chunk_files_removed;
        }
        // Segments a forwarder held back at the last head truncation and has released since (caught
        // up, or given up over its lag limit) go now, not at the next persistence a block range later.
        if self.wal_fold_due(self.head.min_valid()) {
            let t = self.head.truncate_wal()?;
            self.note_checkpoint(&t);
            rep.wal_segments_truncated += t.segments.len();
        }
        // 2. Compaction.
        if self.opts.compaction {
            let ranges = tsdb_block::exponential_ranges(range, 3, 3);
            loop {
                let metas: Vec<(PathBuf, BlockMeta)> = self
                    .blocks
                    .read()
                    .iter()
                    .map(|b| (b.dir().to_path_buf(), b.meta()))
                    .collect();
                let Some(plan) = tsdb_block::plan_compaction(&metas, &ranges) else {
                    break;
                };
                let started = Instant::now();
                let new = tsdb_block::compact(&self.dir, &plan).map_err(|e| DbError::Block {
                    dir: self.dir.clone(),
                    source: e,
                })?;
                let _ = started;
                // A block of this run merged again is no longer a block of the database.
                rep.compacted
                    .retain(|m| !plan.iter().any(|d| d.ends_with(m.ulid.to_string())));
                if let Some(m) = &new {
                    rep.compacted.push(m.clone());
                }
                self.swap_blocks(&plan, new)?;
            }
        }
        // 3. Retention.
        let blocks: Vec<Arc<Block>> = self.blocks.read().clone();
        if let (Some(rt), Some(newest)) = (
            self.opts.retention_time,
            blocks.iter().map(|b| b.meta().max_time).max(),
        ) {
            let newest = newest.max(self.head.max_time());
            for b in &blocks {
                if b.meta().max_time < newest.saturating_sub(rt) {
                    rep.retention_removed.push(b.dir().to_path_buf());
                    self.remove_block(b)?;
                }
            }
        }
        if let Some(limit) = self.opts.retention_size {
            let blocks: Vec<Arc<Block>> = self.blocks.read().clone();
            let mut total: u64 = blocks.iter().map(|b| b.size_bytes().unwrap_or(0)).sum();
            for b in &blocks {
                if total <= limit {
                    break;
                }
                total = total.saturating_sub(b.size_bytes().unwrap_or(0));
                rep.retention_removed.push(b.dir().to_path_buf());
                self.remove_block(b)?;
            }
        }
        let removed = &rep.retention_removed;
        rep.compacted
            .retain(|m| !removed.iter().any(|d| d.ends_with(m.ulid.to_string())));
        Ok(rep)
    }
}

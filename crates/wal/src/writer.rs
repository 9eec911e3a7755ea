//! The writer: many threads log concurrently; one short critical section per call copies already framed
//! bytes into the open segment's buffer; bytes reach the operating system before each call returns and are
//! fsynced according to the [`SyncPolicy`].
//!
//! Lock order: a segment's `io` lock, then `state`, then a segment's `sealed` lock. The interner lock is taken
//! before all of them and only by callers that log new series in native mode, so that a symbols entry always
//! precedes, in the log, every entry that uses its ids.

use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;

use crossbeam_channel::{select, Receiver, Sender};
use parking_lot::Mutex;

use crate::entry::{BatchStats, Encoder};
use crate::error::{Result, WalError};
use crate::options::{SyncPolicy, WalMode, WalOptions};
use crate::reader::{SegmentStats, WalReader};
use crate::record::{Delete, RefSample, RefSeries, SeriesRef};
use crate::segment::{create_segment, sync_dir, HEADER_LEN};
use crate::symbols::Interner;

/// Records to log together: they land in one segment, in this order (series, samples, deletes), and are
/// made durable together.
#[derive(Debug, Default, Clone, Copy)]
pub struct Batch<'a> {
    /// New series (logged before samples that refer to them).
    pub series: &'a [RefSeries],
    /// Samples.
    pub samples: &'a [RefSample],
    /// Deleted ranges.
    pub deletes: &'a [Delete],
}

/// Counters of the writer since it was opened.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct WalMetrics {
    /// Bytes of framed entries logged.
    pub bytes_logged: u64,
    /// Calls of `log` that wrote something.
    pub batches: u64,
    /// fsync calls made for durability of logged data.
    pub fsyncs: u64,
    /// Segments created.
    pub segments_created: u64,
}

/// Metadata of a closed segment, used to choose what `truncate` may rewrite.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClosedSegment {
    /// Sequence number.
    pub seq: u64,
    /// Highest sample or delete timestamp (`i64::MIN` if none).
    pub max_t: i64,
    /// Lowest series ref of a series record (`u64::MAX` if none).
    pub min_ref: u64,
}

/// What [`Wal::truncate`] did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TruncateReport {
    /// Segments rewritten into the checkpoint (empty if nothing was old enough).
    pub segments: Vec<u64>,
    /// Series records kept.
    pub series_kept: u64,
    /// Series records dropped.
    pub series_dropped: u64,
    /// Bytes on disk before and after.
    pub bytes_before: u64,
    /// Size of the checkpoint segment.
    pub bytes_after: u64,
}

pub(crate) struct Segment {
    seq: u64,
    path: PathBuf,
    file: File,
    /// Serializes writes to the file; holds the spare buffer swapped with the state's.
    io: Mutex<Vec<u8>>,
    /// Bytes `[0, written)` of the file are written.
    written: AtomicU64,
    /// Bytes `[0, synced)` of the file are fsynced.
    synced: Mutex<u64>,
    /// Set when the segment is cut: the bytes still buffered, their offset, and the final size.
    sealed: Mutex<Option<Sealed>>,
}

struct Sealed {
    tail: Vec<u8>,
    tail_off: u64,
    end: u64,
}

struct State {
    cur: Arc<Segment>,
    buf: Vec<u8>,
    buf_start: u64,
    stats: BatchStats,
    closed: Vec<ClosedSegment>,
    closing: Vec<Arc<Segment>>,
    failed: Option<Arc<WalError>>,
    shut: bool,
}

impl State {
    fn end(&self) -> u64 {
        self.buf_start + self.buf.len() as u64
    }

    fn check(&self) -> Result<()> {
        if let Some(e) = &self.failed {
            return Err(WalError::Failed(e.clone()));
        }
        if self.shut {
            return Err(WalError::Closed);
        }
        Ok(())
    }
}

struct Shared {
    dir: PathBuf,
    /// Offset of a segment's first entry: after the header (SegmentWAL) or 0 (wlog).
    data_start: u64,
    opts: WalOptions,
    state: Mutex<State>,
    interner: Mutex<Interner>,
    encoders: Mutex<Vec<Encoder>>,
    truncating: Mutex<()>,
    dir_synced: Mutex<u64>,
    tx: Sender<Msg>,
    bytes_logged: AtomicU64,
    batches: AtomicU64,
    fsyncs: AtomicU64,
    segments_created: AtomicU64,
    /// Truncation never removes a segment with this sequence number or a later one (`u64::MAX`: no floor).
    keep_from: AtomicU64,
}

enum Msg {
    Finish(Arc<Segment>),
    Stop,
}

/// A write-ahead log open for writing. `Send + Sync`: share it (or an `Arc` of it) between threads.
///
/// Every `log*` call returns once its entries are in the log under the configured [`SyncPolicy`]: handed to
/// the operating system (so they survive the process being killed), and fsynced too under
/// [`SyncPolicy::Always`]. Entries of one call are never split across segments; the log is read back in the
/// order the calls' critical sections ran.
pub struct Wal {
    shared: Arc<Shared>,
    actor: Option<JoinHandle<()>>,
}

impl Wal {
    /// Opens the log in `dir` (created if missing) for writing, after reading it once to check it and learn
    /// its segments. A damaged log is refused with [`WalError::Corruption`]: repair it first
    /// ([`crate::repair()`]). Writing starts in a new segment.
    ///
    /// In [`WalMode::Wlog`] the segment size must be a non-zero multiple of 32 KiB of at most 256 MiB
    /// ([`WalError::SegmentSize`]), and a directory holding a log of another format is refused
    /// ([`WalError::FormatMismatch`]), as is a wlog opened in a SegmentWAL mode.
    pub fn open(dir: impl AsRef<Path>, opts: WalOptions) -> Result<Wal> {
        let dir = dir.as_ref();
        check_format(dir, &opts)?;
        let mut r = WalReader::open(dir)?;
        while r.next()?.is_some() {}
        let stats = r.segment_stats().to_vec();
        Wal::open_with_stats(dir, opts, &stats)
    }

    /// Opens the log for writing using the segment statistics of a complete, error-free read that the
    /// caller just did (for example during replay), so the log is not read twice. Statistics that do not
    /// describe the directory's segments give a log that truncates wrongly.
    pub fn open_with_stats(
        dir: impl AsRef<Path>,
        opts: WalOptions,
        stats: &[SegmentStats],
    ) -> Result<Wal> {
        let dir = dir.as_ref().to_path_buf();
        check_format(&dir, &opts)?;
        std::fs::create_dir_all(&dir).map_err(|e| WalError::io("create directory", &dir, e))?;
        let reader = WalReader::open(&dir)?;
        for s in reader.obsolete_segments() {
            std::fs::remove_file(&s.path).map_err(|e| WalError::io("remove", &s.path, e))?;
        }
        let wlog = opts.mode == WalMode::Wlog;
        if wlog {
            // Older checkpoints and temporary ones left by an interrupted truncation.
            let l = crate::wlog::list(&dir)?;
            let keep_from = l.last_checkpoint().map_or(0, |c| c.index);
            for c in l.checkpoints.iter().filter(|c| c.index < keep_from) {
                std::fs::remove_dir_all(&c.path).map_err(|e| WalError::io("remove", &c.path, e))?;
            }
            for t in &l.temporary {
                std::fs::remove_dir_all(t).map_err(|e| WalError::io("remove", t, e))?;
            }
        }
        let tmp = dir.join("compact.tmp");
        if tmp.exists() {
            std::fs::remove_file(&tmp).map_err(|e| WalError::io("remove", &tmp, e))?;
        }
        // Segments left preallocated by a crash lose their zero tail, so closed segments have none.
        for s in stats {
            if s.file_len > s.data_end {
                let p = seg_path(&dir, s.seq, opts.mode);
                let f = std::fs::OpenOptions::new()
                    .write(true)
                    .open(&p)
                    .map_err(|e| WalError::io("open", &p, e))?;
                f.set_len(s.data_end)
                    .map_err(|e| WalError::io("truncate", &p, e))?;
                f.sync_all().map_err(|e| WalError::io("fsync", &p, e))?;
            }
        }
        let last = reader.segments().last().map(|s| s.seq);
        let seq = if wlog {
            match (last, reader.checkpoint().map(|c| c.index)) {
                (None, None) => 0,
                (a, b) => a.max(b).map_or(0, |x| x + 1),
            }
        } else {
            last.unwrap_or(0) + 1
        };
        let data_start = if wlog { 0 } else { HEADER_LEN };
        let closed = stats
            .iter()
            .map(|s| ClosedSegment {
                seq: s.seq,
                max_t: s.max_t,
                min_ref: s.min_ref,
            })
            .collect();
        let cur = Segment::create(&dir, seq, &opts)?;
        sync_dir(&dir)?;
        let (tx, rx) = crossbeam_channel::unbounded();
        let shared = Arc::new(Shared {
            dir,
            data_start,
            state: Mutex::new(State {
                cur: Arc::new(cur),
                buf: Vec::with_capacity(1 << 20),
                buf_start: data_start,
                stats: BatchStats::default(),
                closed,
                closing: Vec::new(),
                failed: None,
                shut: false,
            }),
            interner: Mutex::new(Interner::new()),
            encoders: Mutex::new(Vec::new()),
            truncating: Mutex::new(()),
            dir_synced: Mutex::new(seq),
            tx,
            bytes_logged: AtomicU64::new(0),
            batches: AtomicU64::new(0),
            fsyncs: AtomicU64::new(0),
            segments_created: AtomicU64::new(1),
            keep_from: AtomicU64::new(u64::MAX),
            opts,
        });
        let sh = shared.clone();
        let actor = std::thread::Builder::new()
            .name("wal-actor".into())
            .spawn(move || sh.run_actor(rx))
            .map_err(|e| WalError::io("spawn actor thread for", &shared.dir, e))?;
        Ok(Wal {
            shared,
            actor: Some(actor),
        })
    }

    /// The directory of the log.
    pub fn dir(&self) -> &Path {
        &self.shared.dir
    }

    /// The options the log was opened with.
    pub fn options(&self) -> &WalOptions {
        &self.shared.opts
    }

    /// Sequence number of the segment being written.
    pub fn current_segment(&self) -> u64 {
        self.shared.state.lock().cur.seq
    }

    /// The closed segments the writer knows of, oldest first.
    pub fn closed_segments(&self) -> Vec<ClosedSegment> {
        self.shared.state.lock().closed.clone()
    }

    /// Counters since open.
    pub fn metrics(&self) -> WalMetrics {
        let s = &self.shared;
        WalMetrics {
            bytes_logged: s.bytes_logged.load(Ordering::Relaxed),
            batches: s.batches.load(Ordering::Relaxed),
            fsyncs: s.fsyncs.load(Ordering::Relaxed),
            segments_created: s.segments_created.load(Ordering::Relaxed),
        }
    }

    /// Logs new series.
    pub fn log_series(&self, series: &[RefSeries]) -> Result<()> {
        self.log(Batch {
            series,
            ..Batch::default()
        })
    }

    /// Logs samples.
    pub fn log_samples(&self, samples: &[RefSample]) -> Result<()> {
        self.log(Batch {
            samples,
            ..Batch::default()
        })
    }

    /// Logs deleted ranges.
    pub fn log_deletes(&self, deletes: &[Delete]) -> Result<()> {
        self.log(Batch {
            deletes,
            ..Batch::default()
        })
    }

    /// Logs a batch: encoded by the calling thread, then copied into the log in one critical section, then
    /// written and synced per the policy. Empty parts write nothing.
    pub fn log(&self, batch: Batch<'_>) -> Result<()> {
        let sh = &self.shared;
        let mut enc = sh
            .encoders
            .lock()
            .pop()
            .unwrap_or_else(|| Encoder::new(sh.opts.mode));
        enc.clear();
        let r = if sh.opts.mode == WalMode::Native && !batch.series.is_empty() {
            let mut interner = sh.interner.lock();
            let r =
                encode_batch(&mut enc, batch, Some(&mut interner)).and_then(|()| sh.write(&enc));
            if r.is_err() {
                // Symbols may have been interned without being logged: start a new table.
                interner.reset();
            }
            r
        } else {
            encode_batch(&mut enc, batch, None).and_then(|()| sh.write(&enc))
        };
        if enc.bytes().len() <= 4 << 20 {
            sh.encoders.lock().push(enc);
        }
        r
    }

    /// Logs entries framed by an [`Encoder`] of the same mode. Entries encoded with symbol ids must come
    /// from [`Wal::log`]; this is for samples, deletes and simple series.
    pub fn log_encoded(&self, enc: &Encoder) -> Result<()> {
        if enc.mode() != self.shared.opts.mode {
            return Err(WalError::Encode(format!(
                "encoder is for {:?} mode, log is {:?}",
                enc.mode(),
                self.shared.opts.mode
            )));
        }
        self.shared.write(enc)
    }

    /// Makes everything logged so far durable (fsync), whatever the policy.
    pub fn sync(&self) -> Result<()> {
        let (seg, end) = {
            let st = self.shared.state.lock();
            st.check()?;
            (st.cur.clone(), st.end())
        };
        self.shared.flush_to(&seg, end)?;
        self.shared.sync_to(&seg, end)
    }

    /// Replaces every closed segment whose samples and deletes are all older than `mint` by one checkpoint
    /// segment holding only the series records whose ref `keep` accepts (Prometheus's `SegmentWAL`
    /// semantics). In [`WalMode::Wlog`] they become a Prometheus checkpoint directory
    /// `checkpoint.<newest>` instead, which also keeps samples and tombstones at or after `mint` (see
    /// [`crate::wlog::checkpoint`]); a checkpoint that exists is folded into the new one. The checkpoint is written as `compact.tmp`, fsynced and renamed over the newest of those
    /// segments, then the others are removed: a crash at any step leaves a log that reads back either as
    /// before or as after. Concurrent logging continues meanwhile.
    pub fn truncate(&self, mint: i64, keep: impl Fn(SeriesRef) -> bool) -> Result<TruncateReport> {
        crate::truncate::truncate(self, mint, &keep)
    }

    /// Holds segments back from truncation: from now on [`truncate`](Self::truncate) removes (or folds into a
    /// checkpoint) only segments whose sequence number is below `seq`, whatever their times. `None` lifts
    /// the floor. Readers that tail the log (a forwarder not yet confirmed past segment `seq`) set it so that
    /// what they have not read stays on disk.
    pub fn set_truncation_floor(&self, seq: Option<u64>) {
        self.shared
            .keep_from
            .store(seq.unwrap_or(u64::MAX), Ordering::Release);
    }

    /// The floor set by [`set_truncation_floor`](Self::set_truncation_floor), if any.
    pub fn truncation_floor(&self) -> Option<u64> {
        match self.shared.keep_from.load(Ordering::Acquire) {
            u64::MAX => None,
            s => Some(s),
        }
    }

    /// Stops the background thread, writes and fsyncs what is buffered, removes the preallocated tail of
    /// the open segment and reports any error a background operation had.
    pub fn close(mut self) -> Result<()> {
        self.shutdown()
    }

    fn shutdown(&mut self) -> Result<()> {
        let Some(actor) = self.actor.take() else {
            return Ok(());
        };
        let _ = self.shared.tx.send(Msg::Stop);
        let _ = actor.join();
        let sh = &self.shared;
        let (seg, end) = {
            let mut st = sh.state.lock();
            if sh.opts.mode == WalMode::Wlog {
                pad_to_page(&mut st);
            }
            let r = (st.cur.clone(), st.end());
            let failed = st.failed.clone();
            st.shut = true;
            if let Some(e) = failed {
                return Err(WalError::Failed(e));
            }
            r
        };
        sh.flush_to(&seg, end)?;
        seg.file
            .set_len(end)
            .map_err(|e| WalError::io("truncate", &seg.path, e))?;
        seg.file
            .sync_all()
            .map_err(|e| WalError::io("fsync", &seg.path, e))?;
        sync_dir(&sh.dir)
    }

    pub(crate) fn shared_dir(&self) -> &Path {
        &self.shared.dir
    }

    pub(crate) fn mode(&self) -> WalMode {
        self.shared.opts.mode
    }

    /// Locks out concurrent truncations and returns the closed segments that `mint` makes candidates, after
    /// making sure they are finished and durable.
    pub(crate) fn truncation_candidates(
        &self,
        mint: i64,
    ) -> Result<(parking_lot::MutexGuard<'_, ()>, Vec<ClosedSegment>)> {
        let guard = self.shared.truncating.lock();
        let floor = self.shared.keep_from.load(Ordering::Acquire);
        let (cands, cur_seq) = {
            let st = self.shared.state.lock();
            st.check()?;
            let c: Vec<ClosedSegment> = st
                .closed
                .iter()
                .take_while(|c| c.max_t < mint && c.seq < floor)
                .copied()
                .collect();
            (c, st.cur.seq)
        };
        if let Some(last) = cands.last() {
            self.shared.sync_earlier(last.seq + 1)?;
        }
        debug_assert!(cands.iter().all(|c| c.seq < cur_seq));
        Ok((guard, cands))
    }

    /// Records that `removed` closed segments are gone (wlog: covered by a checkpoint directory).
    pub(crate) fn remove_closed(&self, removed: &[ClosedSegment]) {
        let mut st = self.shared.state.lock();
        st.closed
            .retain(|c| !removed.iter().any(|r| r.seq == c.seq));
    }

    /// Records that `replaced` closed segments became the checkpoint `ck`.
    pub(crate) fn replace_closed(&self, replaced: &[ClosedSegment], ck: ClosedSegment) {
        let mut st = self.shared.state.lock();
        st.closed
            .retain(|c| !replaced.iter().any(|r| r.seq == c.seq));
        st.closed.insert(0, ck);
    }
}

impl Drop for Wal {
    fn drop(&mut self) {
        let _ = self.shutdown();
    }
}

/// The path of segment `seq` in `dir` under the naming of `mode`.
pub(crate) fn seg_path(dir: &Path, seq: u64, mode: WalMode) -> PathBuf {
    match mode {
        WalMode::Wlog => crate::wlog::segment_path(dir, seq),
        WalMode::Native | WalMode::Prometheus => crate::segment::segment_path(dir, seq),
    }
}

/// Appends zeros to the open segment's buffer up to the next page boundary (the padding a wlog writer leaves
/// after the last record of a segment it finishes).
fn pad_to_page(st: &mut State) {
    let end = st.end();
    let pad = crate::wlog::fragment::page_align(end) - end;
    st.buf.resize(st.buf.len() + pad as usize, 0);
}

/// Refuses a directory whose format the writer's mode cannot continue (and a bad wlog segment size).
fn check_format(dir: &Path, opts: &WalOptions) -> Result<()> {
    use crate::detect::Family;
    if opts.mode == WalMode::Wlog {
        crate::wlog::check_segment_size(opts.segment_size)?;
    }
    let fam = crate::detect::family(dir)?;
    let ok = match (&fam, opts.mode) {
        (Family::Empty, _) => true,
        (Family::Wlog, m) => m == WalMode::Wlog,
        (Family::SegmentWal, m) => m != WalMode::Wlog,
        // A damaged SegmentWAL header: the reader reports it as corruption, with segment and offset.
        (Family::Unknown(_), m) => m != WalMode::Wlog,
    };
    if ok {
        return Ok(());
    }
    Err(WalError::FormatMismatch {
        dir: dir.to_path_buf(),
        found: crate::detect::detect(dir)?,
        wanted: opts.mode,
    })
}

fn encode_batch(
    enc: &mut Encoder,
    batch: Batch<'_>,
    interner: Option<&mut Interner>,
) -> Result<()> {
    match interner {
        Some(i) => enc.series(batch.series, i)?,
        None => enc.series_simple(batch.series)?,
    }
    enc.samples(batch.samples)?;
    enc.deletes(batch.deletes)
}

impl Segment {
    fn create(dir: &Path, seq: u64, opts: &WalOptions) -> Result<Segment> {
        let path = seg_path(dir, seq, opts.mode);
        let prealloc = if opts.preallocate {
            opts.segment_size
        } else {
            0
        };
        let (file, start) = if opts.mode == WalMode::Wlog {
            (crate::wlog::fragment::create_segment(&path, prealloc)?, 0)
        } else {
            (create_segment(&path, 0, prealloc)?, HEADER_LEN)
        };
        Ok(Segment {
            seq,
            path,
            file,
            io: Mutex::new(Vec::new()),
            written: AtomicU64::new(start),
            synced: Mutex::new(0),
            sealed: Mutex::new(None),
        })
    }
}

impl Shared {
    fn fail(&self, e: WalError) -> WalError {
        let e = Arc::new(e);
        let mut st = self.state.lock();
        if st.failed.is_none() {
            st.failed = Some(e.clone());
        }
        WalError::Failed(e)
    }

    /// The critical section: copy framed bytes into the open segment's buffer, cutting first if they do
    /// not fit. Then write them out and sync per policy, outside the lock.
    ///
    /// In wlog mode the records are framed into fragments here, because where a fragment ends depends on
    /// the offset the batch lands at (a CRC per fragment, no allocation); the whole batch stays in one
    /// segment.
    fn write(&self, enc: &Encoder) -> Result<()> {
        let bytes = enc.bytes();
        let stats = enc.stats();
        if bytes.is_empty() {
            return Ok(());
        }
        let wlog = self.opts.mode == WalMode::Wlog;
        let (seg, end, logged) = {
            let mut st = self.state.lock();
            st.check()?;
            let size = st.end();
            let after = if wlog {
                enc.wlog_records().fold(size, |off, (r, _)| {
                    crate::wlog::fragment::framed_end(off, r.len())
                })
            } else {
                size + bytes.len() as u64
            };
            let mut start = size;
            if size > self.data_start && after > self.opts.segment_size {
                self.cut(&mut st)?;
                start = st.end();
            }
            if wlog {
                let mut off = start;
                for (r, flag) in enc.wlog_records() {
                    off = crate::wlog::fragment::frame_record(&mut st.buf, off, r, flag);
                }
            } else {
                st.buf.extend_from_slice(bytes);
            }
            st.stats.merge(stats);
            let end = st.end();
            (st.cur.clone(), end, end - start)
        };
        self.bytes_logged.fetch_add(logged, Ordering::Relaxed);
        self.batches.fetch_add(1, Ordering::Relaxed);
        self.flush_to(&seg, end)?;
        if self.opts.sync == SyncPolicy::Always {
            self.sync_to(&seg, end)?;
        }
        Ok(())
    }

    /// Seals the open segment and starts the next; the actor finishes the sealed one.
    fn cut(&self, st: &mut State) -> Result<()> {
        let old = st.cur.clone();
        let next = match Segment::create(&self.dir, old.seq + 1, &self.opts) {
            Ok(s) => s,
            Err(e) => {
                let e = Arc::new(e);
                st.failed = Some(e.clone());
                return Err(WalError::Failed(e));
            }
        };
        if self.opts.mode == WalMode::Wlog {
            pad_to_page(st);
        }
        let end = st.end();
        let tail = std::mem::take(&mut st.buf);
        *old.sealed.lock() = Some(Sealed {
            tail,
            tail_off: st.buf_start,
            end,
        });
        st.closed.push(ClosedSegment {
            seq: old.seq,
            max_t: st.stats.max_t,
            min_ref: st.stats.min_ref,
        });
        st.stats = BatchStats::default();
        st.closing.push(old.clone());
        st.cur = Arc::new(next);
        st.buf = Vec::with_capacity(1 << 20);
        st.buf_start = self.data_start;
        self.segments_created.fetch_add(1, Ordering::Relaxed);
        let _ = self.tx.send(Msg::Finish(old));
        Ok(())
    }

    /// Makes sure bytes `[0, end)` of `seg` are written to the file.
    fn flush_to(&self, seg: &Arc<Segment>, end: u64) -> Result<()> {
        if seg.written.load(Ordering::Acquire) >= end {
            return Ok(());
        }
        let mut chunk = seg.io.lock();
        if seg.written.load(Ordering::Acquire) >= end {
            return Ok(());
        }
        let off = {
            let mut st = self.state.lock();
            if Arc::ptr_eq(&st.cur, seg) {
                let off = st.buf_start;
                std::mem::swap(&mut st.buf, &mut *chunk);
                st.buf_start += chunk.len() as u64;
                off
            } else {
                drop(st);
                let mut sealed = seg.sealed.lock();
                match sealed.as_mut() {
                    Some(s) => {
                        std::mem::swap(&mut s.tail, &mut *chunk);
                        s.tail_off
                    }
                    None => return Ok(()),
                }
            }
        };
        if !chunk.is_empty() {
            if let Err(e) = seg.file.write_all_at(&chunk, off) {
                return Err(self.fail(WalError::io("write", &seg.path, e)));
            }
        }
        seg.written
            .store(off + chunk.len() as u64, Ordering::Release);
        chunk.clear();
        Ok(())
    }

    /// Makes sure bytes `[0, end)` of `seg`, every earlier segment, and the directory entry of `seg` are
    /// durable. Concurrent callers share one fsync.
    fn sync_to(&self, seg: &Arc<Segment>, end: u64) -> Result<()> {
        self.sync_earlier(seg.seq)?;
        {
            let mut synced = seg.synced.lock();
            if *synced < end {
                let target = seg.written.load(Ordering::Acquire);
                tsdb_failpoint::point("wal.segment.fsync");
                if let Err(e) = seg.file.sync_data() {
                    return Err(self.fail(WalError::io("fsync", &seg.path, e)));
                }
                self.fsyncs.fetch_add(1, Ordering::Relaxed);
                *synced = target;
            }
        }
        let mut d = self.dir_synced.lock();
        if *d < seg.seq {
            if let Err(e) = sync_dir(&self.dir) {
                return Err(self.fail(e));
            }
            *d = seg.seq;
        }
        Ok(())
    }

    /// Makes every sealed segment numbered below `seq` completely durable.
    fn sync_earlier(&self, seq: u64) -> Result<()> {
        let pending: Vec<Arc<Segment>> = self
            .state
            .lock()
            .closing
            .iter()
            .filter(|s| s.seq < seq)
            .cloned()
            .collect();
        for s in pending {
            let Some(end) = s.sealed.lock().as_ref().map(|x| x.end) else {
                continue;
            };
            self.flush_to(&s, end)?;
            let mut synced = s.synced.lock();
            if *synced < end {
                tsdb_failpoint::point("wal.segment.fsync");
                if let Err(e) = s.file.sync_data() {
                    return Err(self.fail(WalError::io("fsync", &s.path, e)));
                }
                self.fsyncs.fetch_add(1, Ordering::Relaxed);
                *synced = end;
            }
        }
        Ok(())
    }

    /// Finishes a sealed segment: writes its tail, cuts the preallocated rest, fsyncs it and the directory.
    fn finish(&self, seg: &Arc<Segment>) -> Result<()> {
        let Some(end) = seg.sealed.lock().as_ref().map(|s| s.end) else {
            return Ok(());
        };
        self.flush_to(seg, end)?;
        seg.file
            .set_len(end)
            .map_err(|e| WalError::io("truncate", &seg.path, e))?;
        seg.file
            .sync_all()
            .map_err(|e| WalError::io("fsync", &seg.path, e))?;
        *seg.synced.lock() = end;
        sync_dir(&self.dir)?;
        let mut st = self.state.lock();
        st.closing.retain(|s| !Arc::ptr_eq(s, seg));
        Ok(())
    }

    fn run_actor(self: Arc<Self>, rx: Receiver<Msg>) {
        let tick = match self.opts.sync {
            SyncPolicy::Interval(d) if !d.is_zero() => crossbeam_channel::tick(d),
            _ => crossbeam_channel::never(),
        };
        loop {
            select! {
                recv(rx) -> msg => match msg {
                    Ok(Msg::Finish(seg)) => {
                        if let Some(d) = self.opts.actor_delay {
                            std::thread::sleep(d);
                        }
                        if let Err(e) = self.finish(&seg) {
                            let _ = self.fail(e);
                        }
                    }
                    Ok(Msg::Stop) | Err(_) => return,
                },
                recv(tick) -> _ => {
                    let (seg, end) = {
                        let st = self.state.lock();
                        if st.failed.is_some() || st.shut {
                            continue;
                        }
                        (st.cur.clone(), st.end())
                    };
                    let _ = self.flush_to(&seg, end).and_then(|()| self.sync_to(&seg, end));
                }
            }
        }
    }
}

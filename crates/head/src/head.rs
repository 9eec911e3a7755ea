//! The head: series map, postings, WAL and head chunk files, reads and truncation.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use parking_lot::{Mutex, RwLock};
use tsdb_chunks::HeadChunkFiles;
use tsdb_labels::{Labels, Matcher};
use tsdb_wal::{Delete, SeriesRef, Wal};

use crate::appender::Appender;
use crate::error::HeadError;
use crate::locks::{SeriesLocks, SlotAlloc};
use crate::metrics::{Counters, HeadMetrics};
use crate::options::HeadOptions;
use crate::postings::MemPostings;
use crate::reftable::{ReadBarrier, RefTable};
use crate::replay::{replay, ReplayReport};
use crate::series::MemSeries;
use crate::stripes::StripeSeries;

/// The in-memory head of a database directory: `DIR/wal` and `DIR/chunks_head` on disk.
///
/// `Send + Sync`: appenders, readers and truncation may run on many threads at once.
pub struct Head {
    pub(crate) opts: HeadOptions,
    dir: PathBuf,
    pub(crate) series: StripeSeries,
    refs: RefTable,
    /// Series whose reference is beyond what `refs` covers.
    overflow: Mutex<HashMap<SeriesRef, Arc<MemSeries>>>,
    /// Appenders and readers hold the read side while they use series; truncation takes the write side
    /// only to unlink removed series.
    barrier: RwLock<()>,
    postings: RwLock<MemPostings>,
    next_ref: AtomicU64,
    pub(crate) wal: Option<Wal>,
    pub(crate) chunks: Option<HeadChunkFiles>,
    min_valid: AtomicI64,
    min_time: AtomicI64,
    max_time: AtomicI64,
    appender_ids: AtomicU64,
    pub(crate) appender_buffers: Mutex<Vec<crate::appender::Buffers>>,
    truncating: Mutex<()>,
    /// The locks of the series' states.
    pub(crate) locks: SeriesLocks,
    pub(crate) counters: Counters,
}

/// One encoded XOR chunk of a head series, as [`Head::with_chunks`] hands it out.
#[derive(Debug, Clone, Copy)]
pub struct HeadSeriesChunk<'a> {
    /// Timestamp of its first sample.
    pub min_time: i64,
    /// Timestamp of its last sample.
    pub max_time: i64,
    /// The chunk's bytes (sample-count header and bit stream).
    pub data: &'a [u8],
    /// Whether it is the series' open chunk (still being appended to; final only for this call).
    pub open: bool,
}

/// What [`Head::truncate`] did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HeadTruncation {
    /// Series removed (no sample left at or after the truncation time).
    pub series_removed: u64,
    /// Head chunk files deleted.
    pub chunk_files_removed: usize,
    /// What the WAL truncation did.
    pub wal: tsdb_wal::TruncateReport,
    /// In wlog mode, the series for which a tombstone `[i64::MIN, mint - 1]` was logged (see
    /// [`Head::truncate`]); 0 in the SegmentWAL modes.
    pub tombstones_logged: u64,
}

impl Head {
    /// Opens the head of `dir`: replays head chunk files, then the WAL (repairing a damaged WAL tail, which
    /// the report describes), then opens the WAL for writing.
    pub fn open(
        dir: impl AsRef<Path>,
        opts: HeadOptions,
    ) -> Result<(Head, ReplayReport), HeadError> {
        Head::open_with(dir.as_ref(), opts, true)
    }

    /// Replays the head of `dir` into memory without changing anything on disk: no WAL writer, no repair
    /// of a damaged WAL or head chunk file (the report says where replay stopped), new full chunks kept in
    /// memory. Commits fail with [`HeadError::ReadOnly`].
    pub fn open_read_only(
        dir: impl AsRef<Path>,
        opts: HeadOptions,
    ) -> Result<(Head, ReplayReport), HeadError> {
        Head::open_with(dir.as_ref(), opts, false)
    }

    fn open_with(
        dir: &Path,
        opts: HeadOptions,
        writable: bool,
    ) -> Result<(Head, ReplayReport), HeadError> {
        // Before anything is opened or created: a WAL we do not recognise is refused as it is.
        let format = tsdb_wal::detect(&dir.join("wal"))?;
        if let tsdb_wal::WalFormat::Unknown(_) = format {
            return Err(HeadError::WalFormat {
                dir: dir.join("wal"),
                format,
            });
        }
        let chunks_dir = dir.join("chunks_head");
        let chunks = if writable || chunks_dir.is_dir() {
            let mut o = opts.head_chunks.clone();
            o.read_only = !writable;
            Some(HeadChunkFiles::open(&chunks_dir, o)?)
        } else {
            None
        };
        let mut head = Head {
            series: StripeSeries::new(opts.stripes),
            refs: RefTable::new(),
            overflow: Mutex::new(HashMap::new()),
            barrier: RwLock::new(()),
            postings: RwLock::new(MemPostings::default()),
            next_ref: AtomicU64::new(1),
            wal: None,
            chunks,
            min_valid: AtomicI64::new(opts.min_valid),
            min_time: AtomicI64::new(i64::MAX),
            max_time: AtomicI64::new(i64::MIN),
            appender_ids: AtomicU64::new(1),
            appender_buffers: Mutex::new(Vec::new()),
            truncating: Mutex::new(()),
            locks: SeriesLocks::default(),
            counters: Counters::default(),
            dir: dir.to_path_buf(),
            opts,
        };
        let mut report = replay(&head, &dir.join("wal"), writable)?;
        report.wal_format = Some(format);
        if writable {
            let wal_dir = dir.join("wal");
            let wal = if report.wal_repair.is_some() {
                Wal::open(&wal_dir, head.opts.wal.clone())?
            } else {
                Wal::open_with_stats(&wal_dir, head.opts.wal.clone(), &report.wal_segments)?
            };
            head.wal = Some(wal);
        }
        head.counters
            .replay_nanos
            .store(report.duration.as_nanos() as u64, Ordering::Relaxed);
        Ok((head, report))
    }

    /// The data directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The options the head was opened with.
    pub fn options(&self) -> &HeadOptions {
        &self.opts
    }

    /// The WAL writer (absent when read-only).
    pub fn wal(&self) -> Option<&Wal> {
        self.wal.as_ref()
    }

    /// A new appender.
    pub fn appender(&self) -> Appender<'_> {
        Appender::new(self, self.appender_ids.fetch_add(1, Ordering::Relaxed))
    }

    /// Samples older than this are rejected as out of bounds.
    pub fn min_valid(&self) -> i64 {
        self.min_valid.load(Ordering::Acquire)
    }

    /// The oldest timestamp an appender accepts now: the lower bound, raised by the append window.
    pub fn append_lower_bound(&self) -> i64 {
        let lb = self.min_valid();
        match self.opts.append_window {
            Some(w) => {
                let max = self.max_time();
                if max == i64::MIN {
                    lb
                } else {
                    lb.max(max.saturating_sub(w))
                }
            }
            None => lb,
        }
    }

    /// Raises the lower bound for new samples (never lowers it).
    pub fn set_min_valid(&self, t: i64) {
        self.min_valid.fetch_max(t, Ordering::AcqRel);
    }

    /// Lowest sample time in the head (`i64::MAX` when empty).
    pub fn min_time(&self) -> i64 {
        self.min_time.load(Ordering::Acquire)
    }

    /// Highest sample time in the head (`i64::MIN` when empty).
    pub fn max_time(&self) -> i64 {
        self.max_time.load(Ordering::Acquire)
    }

    pub(crate) fn note_time_range(&self, min_t: i64, max_t: i64) {
        if min_t <= max_t {
            self.min_time.fetch_min(min_t, Ordering::AcqRel);
            self.max_time.fetch_max(max_t, Ordering::AcqRel);
        }
    }

    /// Number of series in memory.
    pub fn num_series(&self) -> usize {
        self.series.len()
    }

    /// A snapshot of the counters.
    pub fn metrics(&self) -> HeadMetrics {
        let c = &self.counters;
        let l = |a: &AtomicU64| a.load(Ordering::Relaxed);
        HeadMetrics {
            series: self.series.len() as u64,
            series_created: l(&c.series_created),
            series_removed: l(&c.series_removed),
            samples_appended: l(&c.samples_appended),
            out_of_order: l(&c.out_of_order),
            duplicates: l(&c.duplicates),
            out_of_bounds: l(&c.out_of_bounds),
            unknown_refs: l(&c.unknown_refs),
            invalid_labels: l(&c.invalid_labels),
            chunks_created: l(&c.chunks_created),
            commits: l(&c.commits),
            wal_bytes: self.wal.as_ref().map_or(0, |w| w.metrics().bytes_logged),
            replay_duration: Duration::from_nanos(l(&c.replay_nanos)),
        }
    }

    /// The read side of the barrier that keeps series from being unlinked (recursive: never blocks behind
    /// a waiting truncation while this thread already holds it).
    pub(crate) fn read_barrier(&self) -> ReadBarrier<'_> {
        self.barrier.read_recursive()
    }

    /// The series with reference `r`.
    #[inline]
    pub(crate) fn lookup(&self, b: &ReadBarrier<'_>, r: SeriesRef) -> Option<Arc<MemSeries>> {
        if RefTable::covers(r) {
            self.refs.get(b, r)
        } else {
            self.overflow.lock().get(&r).cloned()
        }
    }

    /// The series with reference `r`, borrowed for as long as the caller holds the barrier `b` (no
    /// reference count touched: see [`crate::appender::SeriesPtr`]).
    pub(crate) fn lookup_ptr(
        &self,
        b: &ReadBarrier<'_>,
        r: SeriesRef,
    ) -> Option<crate::appender::SeriesPtr> {
        if RefTable::covers(r) {
            self.refs.get_ptr(b, r).map(crate::appender::SeriesPtr)
        } else {
            self.overflow
                .lock()
                .get(&r)
                .map(crate::appender::SeriesPtr::from_arc)
        }
    }

    fn register(&self, s: &Arc<MemSeries>) {
        if RefTable::covers(s.sref) {
            self.refs.insert(s);
        } else {
            self.overflow.lock().insert(s.sref, s.clone());
        }
    }

    /// The series with `labels`, created (with a lock slot from `slots`) if the head has none.
    pub(crate) fn get_or_create(&self, labels: &Labels, slots: &mut SlotAlloc) -> Arc<MemSeries> {
        let hash = labels.stable_hash();
        if let Some(s) = self.series.get_by_labels(hash, labels) {
            return s;
        }
        let (s, created) = self.series.get_or_create(
            hash,
            labels,
            false,
            || {
                (
                    self.next_ref.fetch_add(1, Ordering::Relaxed),
                    slots.next(&self.locks),
                )
            },
            |s| self.register(s),
        );
        if created {
            self.postings.write().add(s.sref, &s.labels);
            Counters::add(&self.counters.series_created, 1);
        }
        s
    }

    /// Creates a series with a given reference during replay; if the labels already exist under another
    /// reference, that series is returned (the caller maps the reference).
    pub(crate) fn create_replayed(
        &self,
        r: SeriesRef,
        labels: &Labels,
        slots: &mut SlotAlloc,
    ) -> (Arc<MemSeries>, bool) {
        let hash = labels.stable_hash();
        let (s, created) = self.series.get_or_create(
            hash,
            labels,
            true,
            || (r, slots.next(&self.locks)),
            |s| self.register(s),
        );
        if created {
            // Sorted once when replay ends (`finish_replayed_postings`).
            self.postings.write().add_unordered(s.sref, &s.labels);
            Counters::add(&self.counters.series_created, 1);
        }
        // Every reference the WAL used is taken, also one mapped to an older series with the same labels:
        // a new series must never reuse it, or the WAL would give its samples to the old one.
        self.next_ref
            .fetch_max(r.saturating_add(1), Ordering::AcqRel);
        (s, created)
    }

    /// Puts the postings of replayed series in order (see [`create_replayed`](Self::create_replayed)).
    pub(crate) fn finish_replayed_postings(&self) {
        self.postings.write().ensure_order();
    }

    /// The time of the oldest sample at or after `t`, by chunk: the start of the first chunk that ends at or
    /// after `t` (clamped to `t`), over all series. `None` if no sample is that new.
    pub fn next_sample_time(&self, t: i64) -> Option<i64> {
        let mut best: Option<i64> = None;
        for s in self.series.all() {
            let st = self.locks.lock(&s);
            let first = st
                .full
                .iter()
                .map(|c| (c.mint, c.maxt))
                .chain(st.open.as_ref().map(|o| (o.mint, o.maxt())))
                .find(|&(_, maxt)| maxt >= t)
                .map(|(mint, _)| mint.max(t));
            if let Some(f) = first {
                best = Some(best.map_or(f, |b| b.min(f)));
            }
        }
        best
    }

    /// Chunks in the head now: every series' full chunks (in memory or in `chunks_head/`) and its open
    /// chunk. Counted by visiting each series under its slot's lock, so it is exact for a quiet head and
    /// within the appends in flight otherwise.
    pub fn num_chunks(&self) -> u64 {
        self.series
            .all()
            .iter()
            .map(|s| {
                let st = self.locks.lock(s);
                st.full.len() as u64 + u64::from(st.open.is_some())
            })
            .sum()
    }

    /// Drops the pages of the head chunk files from this process's resident set (they stay in the page
    /// cache): persistence calls it after copying a range's full chunks into a block, which touched them.
    pub fn release_resident_pages(&self) {
        if let Some(files) = self.chunks.as_ref() {
            files.release_resident_pages();
        }
    }

    /// Label names of all series, sorted.
    pub fn label_names(&self) -> Vec<String> {
        self.postings.read().label_names()
    }

    /// Values of label `name` across all series, sorted; with matchers, only of the series they select.
    pub fn label_values(&self, name: &str, matchers: &[Matcher]) -> Vec<String> {
        if matchers.is_empty() {
            return self.postings.read().label_values(name);
        }
        let mut v: Vec<String> = self
            .select(matchers)
            .iter()
            .filter_map(|(_, l)| l.get(name).map(str::to_string))
            .collect();
        v.sort();
        v.dedup();
        v
    }

    /// The series the matchers select (all series for no matcher), sorted by labels.
    pub fn select(&self, matchers: &[Matcher]) -> Vec<(SeriesRef, Labels)> {
        let refs = self.postings.read().select(matchers);
        let b = self.read_barrier();
        let mut out: Vec<(SeriesRef, Labels)> = refs
            .into_iter()
            .filter_map(|r| self.lookup(&b, r))
            .filter(|s| matchers.iter().all(|m| m.matches_labels(&s.labels)))
            .map(|s| (s.sref, s.labels.clone()))
            .collect();
        out.sort_by(|a, b| a.1.cmp(&b.1));
        out
    }

    /// The labels of a series.
    pub fn labels(&self, r: SeriesRef) -> Option<Labels> {
        let b = self.read_barrier();
        self.lookup(&b, r).map(|s| s.labels.clone())
    }

    /// Appends the samples of series `r` with `mint <= t <= maxt`, oldest first, deleted ranges left out.
    /// Returns false if there is no such series.
    pub fn samples_into(
        &self,
        r: SeriesRef,
        mint: i64,
        maxt: i64,
        out: &mut Vec<(i64, f64)>,
    ) -> Result<bool, HeadError> {
        let b = self.read_barrier();
        let Some(s) = self.lookup(&b, r) else {
            return Ok(false);
        };
        let mint = mint.max(self.min_valid());
        let st = self.locks.lock(&s);
        st.samples_into(&s.labels, self.chunks.as_ref(), mint, maxt, out)?;
        Ok(true)
    }

    /// Whether series `r` has a chunk overlapping the closed range `[mint, maxt]` (deleted ranges not
    /// considered): a cheap test that reads no chunk. False if there is no such series.
    pub fn overlaps(&self, r: SeriesRef, mint: i64, maxt: i64) -> bool {
        let b = self.read_barrier();
        let Some(s) = self.lookup(&b, r) else {
            return false;
        };
        let mint = mint.max(self.min_valid());
        let st = self.locks.lock(&s);
        st.full.iter().any(|c| c.maxt >= mint && c.mint <= maxt)
            || st
                .open
                .as_ref()
                .is_some_and(|o| o.maxt() >= mint && o.mint <= maxt)
    }

    /// Calls `f` with the chunks of series `r` that overlap the closed range `[mint, maxt]`, oldest first,
    /// as they are encoded (full chunks from their files or memory, then the open chunk), while the
    /// series' lock is held — so the open chunk cannot change under `f`, and appends to this series wait
    /// for it. This is how the head is persisted without decoding and re-encoding its chunks.
    ///
    /// Returns `Ok(None)` without calling `f` when the chunks do not say exactly what the series holds in
    /// the range — a deleted interval or the head's lower bound falls inside one of them — or when there
    /// is no such series: read its samples then ([`samples_into`](Self::samples_into)).
    pub fn with_chunks<T>(
        &self,
        r: SeriesRef,
        mint: i64,
        maxt: i64,
        f: impl FnOnce(&[HeadSeriesChunk<'_>]) -> T,
    ) -> Result<Option<T>, HeadError> {
        let b = self.read_barrier();
        let Some(s) = self.lookup(&b, r) else {
            return Ok(None);
        };
        let min_valid = self.min_valid();
        let st = self.locks.lock(&s);
        let overlaps = |cmin: i64, cmax: i64| cmax >= mint && cmin <= maxt;
        let exact = |cmin: i64, cmax: i64| {
            cmin >= min_valid && !st.deleted.iter().any(|&(a, z)| a <= cmax && z >= cmin)
        };
        // Mapped chunks are read first (they must outlive the slices handed to `f`).
        let mut mapped = Vec::new();
        for c in &st.full {
            if !overlaps(c.mint, c.maxt) {
                continue;
            }
            if !exact(c.mint, c.maxt) {
                return Ok(None);
            }
            if let crate::series::ChunkLoc::Mapped(cr) = &c.loc {
                let Some(files) = self.chunks.as_ref() else {
                    return Err(HeadError::BadChunk {
                        labels: s.labels.clone(),
                        mint: c.mint,
                        maxt: c.maxt,
                        reason: "head chunk files are not open".into(),
                    });
                };
                mapped.push(files.chunk(*cr)?);
            }
        }
        let mut out = Vec::with_capacity(st.full.len() + 1);
        let mut next_mapped = mapped.iter();
        for c in &st.full {
            if !overlaps(c.mint, c.maxt) {
                continue;
            }
            let data = match &c.loc {
                crate::series::ChunkLoc::Memory(b) => &b[..],
                crate::series::ChunkLoc::Mapped(_) => match next_mapped.next() {
                    Some(h) => h.data(),
                    None => return Ok(None),
                },
            };
            out.push(HeadSeriesChunk {
                min_time: c.mint,
                max_time: c.maxt,
                data,
                open: false,
            });
        }
        if let Some(o) = &st.open {
            if overlaps(o.mint, o.maxt()) {
                if !exact(o.mint, o.maxt()) {
                    return Ok(None);
                }
                out.push(HeadSeriesChunk {
                    min_time: o.mint,
                    max_time: o.maxt(),
                    data: o.chunk.bytes(),
                    open: true,
                });
            }
        }
        Ok(Some(f(&out)))
    }

    /// The samples of series `r` with `mint <= t <= maxt`.
    pub fn samples(
        &self,
        r: SeriesRef,
        mint: i64,
        maxt: i64,
    ) -> Result<Vec<(i64, f64)>, HeadError> {
        let mut v = Vec::new();
        self.samples_into(r, mint, maxt, &mut v)?;
        Ok(v)
    }

    /// Marks `[mint, maxt]` of the selected series as deleted: logged to the WAL, then hidden from reads.
    /// Only samples that exist now are deleted: each series' interval ends at its newest sample, so later
    /// appends are not hidden. Returns how many series were affected.
    pub fn delete(&self, matchers: &[Matcher], mint: i64, maxt: i64) -> Result<usize, HeadError> {
        let sel = self.select(matchers);
        let deletes: Vec<Delete> = {
            let b = self.read_barrier();
            sel.iter()
                .filter_map(|(r, _)| {
                    let newest = self.locks.lock(&*self.lookup(&b, *r)?).max_t()?;
                    let end = maxt.min(newest);
                    (mint <= end).then_some(Delete {
                        series: *r,
                        mint,
                        maxt: end,
                    })
                })
                .collect()
        };
        if deletes.is_empty() {
            return Ok(0);
        }
        let wal = self.wal.as_ref().ok_or(HeadError::ReadOnly)?;
        wal.log_deletes(&deletes)?;
        for d in &deletes {
            self.apply_delete(d);
        }
        Ok(deletes.len())
    }

    pub(crate) fn apply_delete(&self, d: &Delete) {
        let b = self.read_barrier();
        if let Some(s) = self.lookup(&b, d.series) {
            self.locks.lock(&s).deleted.push((d.mint, d.maxt));
        }
    }

    /// Drops every sample older than `mint`: chunks that end before it, series left empty (unless an
    /// appender holds samples for them), head chunk files no longer needed, and the WAL's old segments
    /// (keeping the series records of live series). New samples older than `mint` are rejected afterwards.
    ///
    /// In [`tsdb_wal::WalMode::Wlog`] the cut is also logged, as a tombstone `[i64::MIN, mint - 1]` for
    /// every series in the head, before anything is removed: Prometheus (and `promtool`) taking over the
    /// directory know nothing of our lower bound, and would otherwise show what the cut left behind — full
    /// chunks older than `mint` in a head chunk file that also holds newer ones, the older part of a
    /// chunk crossing `mint`, and samples older than `mint` in WAL segments the checkpoint does not
    /// cover. With the tombstones they see exactly what we see.
    pub fn truncate(&self, mint: i64) -> Result<HeadTruncation, HeadError> {
        let _g = self.truncating.lock();
        self.set_min_valid(mint);
        let mut rep = HeadTruncation::default();
        if let (Some(wal), true, Some(maxt)) = (
            &self.wal,
            self.opts.wal.mode == tsdb_wal::WalMode::Wlog,
            mint.checked_sub(1),
        ) {
            let mut deletes: Vec<Delete> = self
                .series
                .all()
                .iter()
                .map(|s| Delete {
                    series: s.sref,
                    mint: i64::MIN,
                    maxt,
                })
                .collect();
            deletes.sort_by_key(|d| d.series);
            if !deletes.is_empty() {
                wal.log_deletes(&deletes)?;
            }
            rep.tombstones_logged = deletes.len() as u64;
        }
        // Drop old chunks series by series (appenders keep going), noting series left empty.
        let mut empty = Vec::new();
        let mut new_min = i64::MAX;
        for s in self.series.all() {
            let mut st = self.locks.lock(&s);
            if st.truncate_before(mint) {
                empty.push(s.clone());
            } else if let Some(f) = st.first_time() {
                new_min = new_min.min(f.max(mint));
            }
        }
        rep.series_removed = self.unlink(&empty, |st| st.is_empty());
        self.min_time.store(new_min, Ordering::Release);
        if let Some(files) = &self.chunks {
            if self.wal.is_some() {
                rep.chunk_files_removed = files.truncate_before(mint)?;
            }
        }
        rep.wal = self.fold_wal(mint)?;
        Ok(rep)
    }

    /// Unlinks the series of `candidates` for which `still` holds under the write barrier (no appender or
    /// reader in between); returns how many.
    fn unlink(
        &self,
        candidates: &[Arc<MemSeries>],
        still: impl Fn(&crate::series::SeriesState) -> bool,
    ) -> u64 {
        let mut gone = HashSet::new();
        {
            let w = self.barrier.write();
            for s in candidates {
                if still(&self.locks.lock(s)) {
                    self.series.remove(s.labels.stable_hash(), s);
                    if RefTable::covers(s.sref) {
                        self.refs.remove(&w, s.sref);
                    } else {
                        self.overflow.lock().remove(&s.sref);
                    }
                    gone.insert(s.sref);
                }
            }
            self.refs
                .free_empty_pages(&w, self.next_ref.load(Ordering::Acquire));
        }
        self.postings.write().remove(&gone);
        let n = gone.len() as u64;
        Counters::add(&self.counters.series_removed, n);
        n
    }

    /// Folds the WAL's closed segments older than the head's lower bound into the checkpoint, as
    /// [`truncate`](Self::truncate) does, without touching the head: for segments a forwarder held back
    /// (the truncation floor) when the head was truncated and has released since.
    pub fn truncate_wal(&self) -> Result<tsdb_wal::TruncateReport, HeadError> {
        let _g = self.truncating.lock();
        self.fold_wal(self.min_valid())
    }

    /// The WAL part of every truncation: closed segments older than `mint` (and below the truncation
    /// floor) become a checkpoint keeping the series records of the series still in the head. Call with
    /// `truncating` held.
    fn fold_wal(&self, mint: i64) -> Result<tsdb_wal::TruncateReport, HeadError> {
        let Some(wal) = &self.wal else {
            return Ok(tsdb_wal::TruncateReport::default());
        };
        let b = self.read_barrier();
        Ok(wal.truncate(mint, |r| self.lookup(&b, r).is_some())?)
    }

    /// Agent mode ([`HeadOptions::keep_samples`] off): forgets the series whose newest sample is older
    /// than `series_before` (a sample for one later makes it a new series, logged again), then folds the
    /// WAL's closed segments below the truncation floor (what every forwarder has had acknowledged, see
    /// [`Wal::set_truncation_floor`]) into a checkpoint holding only the remaining series' records: their
    /// samples were forwarded and are not kept. The head's lower bound does not move.
    pub fn truncate_agent(&self, series_before: i64) -> Result<HeadTruncation, HeadError> {
        let _g = self.truncating.lock();
        let mut rep = HeadTruncation::default();
        let old = |st: &crate::series::SeriesState| st.max_t().is_none_or(|t| t < series_before);
        let stale: Vec<Arc<MemSeries>> = self
            .series
            .all()
            .into_iter()
            .filter(|s| old(&self.locks.lock(s)))
            .collect();
        rep.series_removed = self.unlink(&stale, old);
        rep.wal = self.fold_wal(i64::MAX)?;
        Ok(rep)
    }

    /// Syncs the WAL and head chunk files and closes them.
    pub fn close(mut self) -> Result<(), HeadError> {
        if let Some(wal) = self.wal.take() {
            wal.close()?;
        }
        if let Some(c) = self.chunks.take() {
            c.close()?;
        }
        Ok(())
    }
}

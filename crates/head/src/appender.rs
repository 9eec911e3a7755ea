//! The appender: buffers a batch, then `commit` logs it to the WAL and applies it to the series.

use std::ptr::NonNull;
use std::sync::Arc;

use tsdb_labels::Labels;
use tsdb_wal::{Batch, RefSample, RefSeries, SeriesRef};

use crate::error::{AppendError, HeadError};
use crate::head::Head;
use crate::locks::{SlotAlloc, SlotGuard};
use crate::metrics::Counters;
use crate::options::MAX_TIME;
use crate::reftable::ReadBarrier;
use crate::series::{Appended, MemSeries};
/// What a commit did.
/// A series of the head held by an appender without a reference count: series are unlinked (and their
/// last reference dropped) only under the write side of the head's barrier, and an appender holds the
/// read side for its whole life, so the pointer stays valid for as long as the appender holds it. Taking
/// an `Arc` instead cost two atomic operations on the series' own cache line per buffered sample.
///
/// Invariant: a `SeriesPtr` is only stored in an [`Appender`] (whose barrier outlives it) and is cleared
/// before its buffers go back to the head's pool.
#[derive(Clone, Copy)]
pub(crate) struct SeriesPtr(pub(crate) NonNull<MemSeries>);

// SAFETY: it is a shared reference to a `MemSeries` (which is `Sync`) under the invariant above.
unsafe impl Send for SeriesPtr {}
// SAFETY: as for `Send`.
unsafe impl Sync for SeriesPtr {}

impl SeriesPtr {
    pub(crate) fn from_arc(a: &Arc<MemSeries>) -> SeriesPtr {
        SeriesPtr(NonNull::from(&**a))
    }
}

impl std::ops::Deref for SeriesPtr {
    type Target = MemSeries;
    #[inline]
    fn deref(&self) -> &MemSeries {
        // SAFETY: the invariant of `SeriesPtr`: the holder's read barrier keeps the series alive.
        unsafe { self.0.as_ref() }
    }
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CommitStats {
    /// Samples stored.
    pub samples: u64,
    /// Samples found out of order or conflicting at commit time (a concurrent appender wrote the series
    /// first); they were logged but not stored, exactly as replay will treat them.
    pub rejected: u64,
    /// Series records logged.
    pub series_logged: u64,
}

/// A batch of samples for the head. Samples are checked as they are appended (a rejected sample does not
/// affect the others); nothing is visible to readers or durable until [`commit`](Appender::commit).
/// Dropping an appender without committing rolls it back. While an appender is open, truncation cannot
/// remove series: commit or drop it promptly.
pub struct Appender<'h> {
    head: &'h Head,
    barrier: ReadBarrier<'h>,
    id: u64,
    series: Vec<SeriesPtr>,
    samples: Vec<RefSample>,
    new_series: Vec<RefSeries>,
    scratch: Scratch,
    /// Lock slots for the series this appender creates (they share slots, see [`crate::locks`]).
    slots: SlotAlloc,
    min_t: i64,
    max_t: i64,
}

/// Buffers an appender reuses from the head's pool, so a commit does not grow fresh vectors each time.
#[derive(Default)]
pub(crate) struct Buffers {
    series: Vec<SeriesPtr>,
    samples: Vec<RefSample>,
    new_series: Vec<RefSeries>,
    scratch: Scratch,
}

#[derive(Default)]
struct Scratch {
    order: Vec<u32>,
    accepted: Vec<RefSample>,
    /// (guard index, sample index) of each accepted sample.
    which: Vec<(usize, u32)>,
}

impl<'h> Appender<'h> {
    pub(crate) fn new(head: &'h Head, id: u64) -> Self {
        let b = head.appender_buffers.lock().pop().unwrap_or_default();
        Appender {
            head,
            barrier: head.read_barrier(),
            id,
            series: b.series,
            samples: b.samples,
            new_series: b.new_series,
            scratch: b.scratch,
            slots: SlotAlloc::default(),
            min_t: i64::MAX,
            max_t: i64::MIN,
        }
    }

    /// Samples buffered so far.
    pub fn len(&self) -> usize {
        self.samples.len()
    }

    /// Whether nothing is buffered.
    pub fn is_empty(&self) -> bool {
        self.samples.is_empty()
    }

    /// Appends a sample to the series with `labels`, creating the series if needed; returns its reference
    /// for later [`append_ref`](Self::append_ref) calls.
    pub fn append(&mut self, labels: &Labels, t: i64, v: f64) -> Result<SeriesRef, AppendError> {
        if labels.is_empty() {
            Counters::add(&self.head.counters.invalid_labels, 1);
            return Err(AppendError::InvalidLabels {
                labels: "{}".into(),
                reason: "a series needs at least one label".into(),
            });
        }
        // Out of bounds before anything else, so a rejected sample creates no series.
        if t > MAX_TIME {
            Counters::add(&self.head.counters.out_of_bounds, 1);
            return Err(AppendError::TooNew {
                labels: labels.clone(),
                t,
                max: MAX_TIME,
            });
        }
        let min_valid = self.head.append_lower_bound();
        if t < min_valid {
            Counters::add(&self.head.counters.out_of_bounds, 1);
            return Err(AppendError::OutOfBounds {
                labels: labels.clone(),
                t,
                min_valid,
            });
        }
        let s = SeriesPtr::from_arc(&self.head.get_or_create(labels, &mut self.slots));
        self.buffer(s, t, v)
    }

    /// Appends a sample to the series whose [`Labels::hash_key`] is `key`: the fast path for a receiver
    /// that has label pairs but no `Labels`. An existing series is found by the key's hash and a byte
    /// comparison (a hash shared by other label sets is resolved by the comparison); only for a series not
    /// in the head is `labels` called, and the sample appended as [`append`](Self::append) does.
    ///
    /// `key` must be what `labels()` would return from `hash_key` (build it with
    /// [`Labels::push_hash_key`] from valid pairs sorted by name). If it is not, the sample may go to the
    /// series whose key it is, never to a series of neither set.
    pub fn append_key(
        &mut self,
        key: &[u8],
        labels: impl FnOnce() -> Labels,
        t: i64,
        v: f64,
    ) -> Result<SeriesRef, AppendError> {
        if !key.is_empty() {
            if let Some(s) = self.head.series.get_by_key(tsdb_labels::xxh64(key, 0), key) {
                return self.buffer(SeriesPtr::from_arc(&s), t, v);
            }
        }
        let l = labels();
        debug_assert_eq!(l.hash_key(), key, "append_key: key and labels differ");
        self.append(&l, t, v)
    }

    /// Appends a sample to the series from label pairs, validating them.
    pub fn append_pairs<'a>(
        &mut self,
        pairs: impl IntoIterator<Item = (&'a str, &'a str)> + Clone,
        t: i64,
        v: f64,
    ) -> Result<SeriesRef, AppendError> {
        match Labels::new(pairs.clone()) {
            Ok(l) => self.append(&l, t, v),
            Err(e) => {
                Counters::add(&self.head.counters.invalid_labels, 1);
                let text: Vec<String> = pairs
                    .into_iter()
                    .map(|(n, v)| format!("{n}={}", tsdb_labels::go_quote(v)))
                    .collect();
                Err(AppendError::InvalidLabels {
                    labels: format!("{{{}}}", text.join(", ")),
                    reason: e.to_string(),
                })
            }
        }
    }

    /// Appends a sample to the series with reference `r`.
    pub fn append_ref(&mut self, r: SeriesRef, t: i64, v: f64) -> Result<SeriesRef, AppendError> {
        let Some(s) = self.head.lookup_ptr(&self.barrier, r) else {
            Counters::add(&self.head.counters.unknown_refs, 1);
            return Err(AppendError::UnknownRef { series: r });
        };
        self.buffer(s, t, v)
    }

    /// Checks and buffers one sample.
    fn buffer(&mut self, s: SeriesPtr, t: i64, v: f64) -> Result<SeriesRef, AppendError> {
        let head = self.head;
        if t > MAX_TIME {
            Counters::add(&head.counters.out_of_bounds, 1);
            return Err(AppendError::TooNew {
                labels: s.labels.clone(),
                t,
                max: MAX_TIME,
            });
        }
        let min_valid = head.append_lower_bound();
        if t < min_valid {
            Counters::add(&head.counters.out_of_bounds, 1);
            return Err(AppendError::OutOfBounds {
                labels: s.labels.clone(),
                t,
                min_valid,
            });
        }
        match s.check(self.id, t, v) {
            Ok(true) => {}
            Ok(false) => return Ok(s.sref),
            Err(e) => {
                match e {
                    AppendError::OutOfOrder { .. } => Counters::add(&head.counters.out_of_order, 1),
                    _ => Counters::add(&head.counters.duplicates, 1),
                }
                return Err(e);
            }
        }
        s.note_pending(self.id, t, v);
        if !s.is_logged() && !self.new_series.iter().any(|x| x.series == s.sref) {
            self.new_series.push(RefSeries {
                series: s.sref,
                labels: s.labels.clone(),
            });
        }
        let sref = s.sref;
        self.samples.push(RefSample { series: sref, t, v });
        self.series.push(s);
        self.min_t = self.min_t.min(t);
        self.max_t = self.max_t.max(t);
        Ok(sref)
    }

    /// Logs the batch to the WAL (new series first, then samples) and then applies it, returning once the
    /// WAL accepted it under its sync policy. On a WAL error nothing is applied.
    ///
    /// The series of the batch stay locked (by lock slot, in slot order, so commits cannot deadlock) from the final
    /// check through logging to applying: for every series, the WAL holds its samples in the order they
    /// are applied, and holds only samples that are stored, so replay rebuilds exactly this state.
    pub fn commit(mut self) -> Result<CommitStats, HeadError> {
        let head = self.head;
        let mut stats = CommitStats::default();
        if self.samples.is_empty() {
            return Ok(stats);
        }
        let Some(wal) = head.wal.as_ref() else {
            self.release();
            return Err(HeadError::ReadOnly);
        };
        // Lock order: by slot (then by reference, so a series' samples are together).
        let n = self.samples.len();
        let Scratch {
            mut order,
            mut accepted,
            mut which,
        } = std::mem::take(&mut self.scratch);
        order.clear();
        order.extend(0..n as u32);
        accepted.clear();
        which.clear();
        let key = |i: usize| (self.series[i].slot, self.samples[i].series);
        if !(1..n).all(|i| key(i - 1) <= key(i)) {
            order.sort_by_key(|&i| key(i as usize));
        }
        let mut guards: Vec<SlotGuard<'_>> = Vec::new();
        let (mut ooo, mut dup) = (0u64, 0u64);
        let mut prev: Option<SeriesRef> = None;
        let mut prev_slot: Option<u32> = None;
        let mut newest: Option<(i64, f64)> = None;
        for &i in &order {
            let x = self.samples[i as usize];
            let s = &self.series[i as usize];
            if prev_slot != Some(s.slot) {
                guards.push(head.locks.lock_slot(s.slot));
                prev_slot = Some(s.slot);
            }
            if prev != Some(x.series) {
                if let Some(g) = guards.last_mut() {
                    newest = g.state(s).newest;
                }
                prev = Some(x.series);
            }
            match newest {
                Some((t, v)) if x.t == t && x.v.to_bits() == v.to_bits() => {
                    // An exact duplicate: accepted, nothing to store.
                }
                Some((t, _)) if x.t < t => ooo += 1,
                Some((t, _)) if x.t == t => dup += 1,
                _ => {
                    newest = Some((x.t, x.v));
                    accepted.push(x);
                    which.push((guards.len() - 1, i));
                }
            }
        }
        // Series records for series not yet logged (a series created by an appender that has not
        // committed yet is logged by whichever commits first; duplicates are harmless on replay).
        let barrier = &self.barrier;
        self.new_series.retain(|s| {
            head.lookup(barrier, s.series)
                .is_some_and(|m| !m.is_logged())
        });
        if let Err(e) = wal.log(Batch {
            series: &self.new_series,
            samples: &accepted,
            deletes: &[],
        }) {
            drop(guards);
            self.release();
            return Err(e.into());
        }
        for s in &self.new_series {
            if let Some(m) = head.lookup(&self.barrier, s.series) {
                m.set_logged();
            }
        }
        stats.series_logged = self.new_series.len() as u64;
        let files = head.chunks.as_ref();
        let (range, max) = (head.opts.chunk_range, head.opts.samples_per_chunk);
        let keep = head.opts.keep_samples;
        let mut cuts = 0u64;
        for (x, &(g, i)) in accepted.iter().zip(&which) {
            let s = &self.series[i as usize];
            let st = guards[g].state(s);
            let r = if keep {
                st.append(s.sref, &s.labels, x.t, x.v, range, max, files)
            } else {
                st.note(&s.labels, x.t, x.v)
            };
            if let Ok(Appended::Stored(cut)) = r {
                stats.samples += 1;
                cuts += cut as u64;
                s.publish_newest(st);
            }
        }
        drop(guards);
        stats.rejected = ooo + dup;
        let c = &head.counters;
        Counters::add(&c.samples_appended, stats.samples);
        Counters::add(&c.chunks_created, cuts);
        Counters::add(&c.out_of_order, ooo);
        Counters::add(&c.duplicates, dup);
        Counters::add(&c.commits, 1);
        head.note_time_range(self.min_t, self.max_t);
        self.series.clear();
        self.samples.clear();
        self.scratch = Scratch {
            order,
            accepted,
            which,
        };
        Ok(stats)
    }

    /// Discards the batch.
    pub fn rollback(mut self) {
        self.release();
    }

    fn release(&mut self) {
        for s in self.series.drain(..) {
            s.clear_pending(self.id);
        }
        self.samples.clear();
    }
}

impl Drop for Appender<'_> {
    fn drop(&mut self) {
        self.release();
        // Give the buffers back for the next appender, unless an unusually large batch made them big.
        if self.samples.capacity() <= 1 << 20 {
            self.new_series.clear();
            let b = Buffers {
                series: std::mem::take(&mut self.series),
                samples: std::mem::take(&mut self.samples),
                new_series: std::mem::take(&mut self.new_series),
                scratch: std::mem::take(&mut self.scratch),
            };
            let mut pool = self.head.appender_buffers.lock();
            if pool.len() < 64 {
                pool.push(b);
            }
        }
    }
}

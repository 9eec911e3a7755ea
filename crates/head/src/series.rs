//! One series in memory: its full chunks (in head chunk files, or kept in memory when there are none), its
//! open chunk, its newest sample, and the slot of the lock that guards them (see [`crate::locks`]).

use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};

use tsdb_chunks::{HeadChunkFiles, HeadChunkRef, XorChunk, XorIter};
use tsdb_labels::Labels;
use tsdb_wal::SeriesRef;

use crate::error::{AppendError, HeadError};
use crate::locks::StateCell;

/// Where a full chunk's bytes are.
#[derive(Debug, Clone)]
pub(crate) enum ChunkLoc {
    /// In a head chunk file.
    Mapped(HeadChunkRef),
    /// In memory (a head without chunk files, or a chunk whose file write failed).
    Memory(Box<[u8]>),
}

/// A full chunk: its time range and where its bytes are.
#[derive(Debug, Clone)]
pub(crate) struct ChunkMeta {
    pub mint: i64,
    pub maxt: i64,
    pub loc: ChunkLoc,
}

/// The chunk being appended to.
#[derive(Debug, Clone)]
pub(crate) struct OpenChunk {
    pub chunk: XorChunk,
    pub mint: i64,
    /// First timestamp that must go into the next chunk (the next multiple of the chunk range).
    pub boundary: i64,
}

impl OpenChunk {
    /// Time of its newest sample (an open chunk holds at least one).
    pub fn maxt(&self) -> i64 {
        self.chunk.last().map_or(self.mint, |(t, _)| t)
    }
}

/// Deleted intervals (inclusive) of a series: usually none, so one pointer wide rather than a `Vec`'s
/// three words.
#[derive(Debug, Default)]
// The box is the point: one word in every series instead of three, the extra allocation only for the
// rare series with deletes.
#[allow(clippy::box_collection)]
pub(crate) struct Deleted(Option<Box<Vec<(i64, i64)>>>);

impl Deleted {
    pub fn push(&mut self, d: (i64, i64)) {
        self.0.get_or_insert_with(Default::default).push(d);
    }

    pub fn iter(&self) -> std::slice::Iter<'_, (i64, i64)> {
        self.0.as_deref().map_or(&[][..], Vec::as_slice).iter()
    }

    pub fn is_empty(&self) -> bool {
        self.0.as_ref().is_none_or(|v| v.is_empty())
    }

    pub fn retain(&mut self, keep: impl FnMut(&(i64, i64)) -> bool) {
        if let Some(v) = &mut self.0 {
            v.retain(keep);
            if v.is_empty() {
                self.0 = None;
            }
        }
    }
}

/// Mutable state of a series, behind the lock of its slot ([`crate::locks`]).
#[derive(Debug)]
pub(crate) struct SeriesState {
    pub full: Vec<ChunkMeta>,
    pub open: Option<OpenChunk>,
    /// Newest sample: time and value (`None` before the first; every i64 is a valid time).
    pub newest: Option<(i64, f64)>,
    /// Deleted intervals (inclusive).
    pub deleted: Deleted,
}

/// A series of the head.
#[derive(Debug)]
pub(crate) struct MemSeries {
    pub sref: SeriesRef,
    pub labels: Labels,
    /// Whether a series record for it is in the WAL.
    pub logged: AtomicBool,
    /// Copies of the newest stored sample, readable without the lock: appenders check against them early;
    /// commit checks again under the lock. `has_newest` says whether there is one yet.
    has_newest: AtomicBool,
    newest_t: AtomicI64,
    newest_v: AtomicU64,
    /// The last appender that buffered a sample for this series, and that sample.
    pend_id: AtomicU64,
    pend_t: AtomicI64,
    pend_v: AtomicU64,
    /// The slot of the head's [`SeriesLocks`](crate::locks::SeriesLocks) whose lock guards `state`.
    pub slot: u32,
    /// Reached only through a guard of the slot's lock.
    state: StateCell,
}

/// What a commit-time append did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Appended {
    /// Stored; `true` if it cut a new chunk.
    Stored(bool),
    /// Same timestamp and value as the newest sample: accepted, nothing stored.
    Duplicate,
}

impl MemSeries {
    pub fn new(sref: SeriesRef, slot: u32, labels: Labels, logged: bool) -> MemSeries {
        MemSeries {
            sref,
            slot,
            labels,
            logged: AtomicBool::new(logged),
            has_newest: AtomicBool::new(false),
            newest_t: AtomicI64::new(0),
            newest_v: AtomicU64::new(0),
            pend_id: AtomicU64::new(0),
            pend_t: AtomicI64::new(0),
            pend_v: AtomicU64::new(0),
            state: StateCell::new(SeriesState {
                full: Vec::new(),
                open: None,
                newest: None,
                deleted: Deleted::default(),
            }),
        }
    }

    /// The state, for [`SeriesLocks`](crate::locks::SeriesLocks) alone: dereferencing it needs the lock of
    /// `slot`.
    pub(crate) fn state_ptr(&self) -> *mut SeriesState {
        self.state.get()
    }

    pub fn is_logged(&self) -> bool {
        self.logged.load(Ordering::Acquire)
    }

    pub fn set_logged(&self) {
        self.logged.store(true, Ordering::Release);
    }

    /// Publishes the newest stored sample (call with the state locked, after it changed).
    pub fn publish_newest(&self, st: &SeriesState) {
        if let Some((t, v)) = st.newest {
            self.newest_t.store(t, Ordering::Release);
            self.newest_v.store(v.to_bits(), Ordering::Release);
            self.has_newest.store(true, Ordering::Release);
        }
    }

    /// Checks a sample against the newest stored sample (and, if `appender` buffered one for this series,
    /// against that), without locking. `Ok(false)` for an exact duplicate of the newest sample.
    pub fn check(&self, appender: u64, t: i64, v: f64) -> Result<bool, AppendError> {
        let mut stored = self.has_newest.load(Ordering::Acquire).then(|| {
            (
                self.newest_t.load(Ordering::Acquire),
                self.newest_v.load(Ordering::Acquire),
            )
        });
        if self.pend_id.load(Ordering::Relaxed) == appender {
            let pt = self.pend_t.load(Ordering::Relaxed);
            if stored.is_none_or(|(n, _)| pt > n) {
                stored = Some((pt, self.pend_v.load(Ordering::Relaxed)));
            }
        }
        let Some((newest, newest_v)) = stored else {
            return Ok(true);
        };
        if t > newest {
            return Ok(true);
        }
        if t < newest {
            return Err(AppendError::OutOfOrder {
                labels: self.labels.clone(),
                t,
                newest,
            });
        }
        if v.to_bits() == newest_v {
            return Ok(false);
        }
        Err(AppendError::Duplicate {
            labels: self.labels.clone(),
            t,
            stored: f64::from_bits(newest_v),
            new: v,
        })
    }

    /// Notes that `appender` buffered `(t, v)`.
    pub fn note_pending(&self, appender: u64, t: i64, v: f64) {
        self.pend_id.store(appender, Ordering::Relaxed);
        self.pend_t.store(t, Ordering::Relaxed);
        self.pend_v.store(v.to_bits(), Ordering::Relaxed);
    }

    /// Forgets what `appender` buffered.
    pub fn clear_pending(&self, appender: u64) {
        let _ = self
            .pend_id
            .compare_exchange(appender, 0, Ordering::Relaxed, Ordering::Relaxed);
    }
}

impl SeriesState {
    /// Appends a sample in order, cutting the open chunk at `max_samples` or at the chunk-range boundary;
    /// a cut chunk goes to `files` (or stays in memory without files).
    #[allow(clippy::too_many_arguments)]
    pub fn append(
        &mut self,
        sref: SeriesRef,
        labels: &Labels,
        t: i64,
        v: f64,
        chunk_range: i64,
        max_samples: u16,
        files: Option<&HeadChunkFiles>,
    ) -> Result<Appended, AppendError> {
        if let Some(d) = self.check_order(labels, t, v)? {
            return Ok(d);
        }
        let mut cut = false;
        let must_cut = match &self.open {
            Some(o) => o.chunk.num_samples() >= max_samples || t >= o.boundary,
            None => false,
        };
        // A new chunk is sized like the series' previous one, so appending rarely reallocates; a chunk
        // written to the head files leaves its buffer to the next one (no allocation at all, and no
        // buffer freed on another thread than the one that grew it).
        let mut size_hint = None;
        let mut reuse = None;
        if must_cut {
            if let Some(o) = self.open.take() {
                size_hint = Some(o.chunk.bytes().len());
                let (meta, spare) = cut_chunk(sref, o, files);
                self.full.push(meta);
                reuse = spare;
            }
        }
        let open = self.open.get_or_insert_with(|| {
            cut = true;
            let boundary = match t.div_euclid(chunk_range).checked_add(1) {
                Some(n) => n.saturating_mul(chunk_range),
                None => i64::MAX,
            };
            let chunk = match reuse {
                Some(mut c) => {
                    c.reset();
                    c
                }
                None => size_hint.map_or_else(XorChunk::new, XorChunk::with_capacity),
            };
            OpenChunk {
                chunk,
                mint: t,
                boundary,
            }
        });
        let full = open.chunk.append(t, v).is_err();
        if full {
            // Only at u16::MAX samples, which max_samples prevents; cut and start again.
            if let Some(o) = self.open.take() {
                self.full.push(cut_chunk(sref, o, files).0);
            }
            let mut c = XorChunk::new();
            let _ = c.append(t, v);
            self.open = Some(OpenChunk {
                chunk: c,
                mint: t,
                boundary: t.saturating_add(chunk_range),
            });
            cut = true;
        }
        self.newest = Some((t, v));
        Ok(Appended::Stored(cut))
    }

    /// Agent mode ([`crate::HeadOptions::keep_samples`] off): checks the sample's order as
    /// [`append`](Self::append) does and makes it the newest, storing no chunk.
    pub fn note(&mut self, labels: &Labels, t: i64, v: f64) -> Result<Appended, AppendError> {
        if let Some(d) = self.check_order(labels, t, v)? {
            return Ok(d);
        }
        self.newest = Some((t, v));
        Ok(Appended::Stored(false))
    }

    /// `Some(Duplicate)` for an exact copy of the newest sample, an error for an older one or another
    /// value at the newest one's time, `None` for a sample to store.
    fn check_order(
        &self,
        labels: &Labels,
        t: i64,
        v: f64,
    ) -> Result<Option<Appended>, AppendError> {
        let Some((max_t, last_v)) = self.newest else {
            return Ok(None);
        };
        if t > max_t {
            return Ok(None);
        }
        if t == max_t && v.to_bits() == last_v.to_bits() {
            return Ok(Some(Appended::Duplicate));
        }
        Err(if t == max_t {
            AppendError::Duplicate {
                labels: labels.clone(),
                t,
                stored: last_v,
                new: v,
            }
        } else {
            AppendError::OutOfOrder {
                labels: labels.clone(),
                t,
                newest: max_t,
            }
        })
    }

    /// Drops chunks that end before `mint`; true if nothing is left.
    pub fn truncate_before(&mut self, mint: i64) -> bool {
        self.full.retain(|c| c.maxt >= mint);
        if self.open.as_ref().is_some_and(|o| o.maxt() < mint) {
            self.open = None;
        }
        self.deleted.retain(|d| d.1 >= mint);
        self.is_empty()
    }

    /// Time of the newest sample, if any.
    pub fn max_t(&self) -> Option<i64> {
        self.newest.map(|(t, _)| t)
    }

    /// Whether the series holds no chunk.
    pub fn is_empty(&self) -> bool {
        self.full.is_empty() && self.open.is_none()
    }

    /// Time of the oldest sample held.
    pub fn first_time(&self) -> Option<i64> {
        self.full
            .first()
            .map(|c| c.mint)
            .or(self.open.as_ref().map(|o| o.mint))
    }

    /// Whether `t` is inside a deleted interval.
    fn is_deleted(&self, t: i64) -> bool {
        self.deleted.iter().any(|&(a, b)| a <= t && t <= b)
    }

    /// Appends the samples with `mint <= t <= maxt` that are not deleted to `out`, oldest first.
    pub fn samples_into(
        &self,
        labels: &Labels,
        files: Option<&HeadChunkFiles>,
        mint: i64,
        maxt: i64,
        out: &mut Vec<(i64, f64)>,
    ) -> Result<(), HeadError> {
        for c in &self.full {
            if c.maxt < mint || c.mint > maxt {
                continue;
            }
            match &c.loc {
                ChunkLoc::Memory(b) => {
                    self.decode_into(labels, c.mint, c.maxt, b, mint, maxt, out)?
                }
                ChunkLoc::Mapped(r) => {
                    let Some(files) = files else {
                        return Err(HeadError::BadChunk {
                            labels: labels.clone(),
                            mint: c.mint,
                            maxt: c.maxt,
                            reason: "head chunk files are not open".into(),
                        });
                    };
                    let hc = files.chunk(*r)?;
                    self.decode_into(labels, c.mint, c.maxt, hc.data(), mint, maxt, out)?;
                }
            }
        }
        if let Some(o) = &self.open {
            if o.maxt() >= mint && o.mint <= maxt {
                self.decode_into(labels, o.mint, o.maxt(), o.chunk.bytes(), mint, maxt, out)?;
            }
        }
        Ok(())
    }

    #[allow(clippy::too_many_arguments)]
    fn decode_into(
        &self,
        labels: &Labels,
        cmint: i64,
        cmaxt: i64,
        bytes: &[u8],
        mint: i64,
        maxt: i64,
        out: &mut Vec<(i64, f64)>,
    ) -> Result<(), HeadError> {
        let bad = |e: &dyn std::fmt::Display| HeadError::BadChunk {
            labels: labels.clone(),
            mint: cmint,
            maxt: cmaxt,
            reason: e.to_string(),
        };
        let mut it = XorIter::new(bytes).map_err(|e| bad(&e))?;
        while let Some(batch) = it.next_batch().map_err(|e| bad(&e))? {
            for &(t, v) in batch {
                if t > maxt {
                    return Ok(());
                }
                if t >= mint && (self.deleted.is_empty() || !self.is_deleted(t)) {
                    out.push((t, v));
                }
            }
        }
        Ok(())
    }
}

/// Moves a full open chunk to the head chunk files, or keeps its bytes in memory if there are none or the
/// write fails (the WAL still holds its samples).
/// Closes an open chunk: written to `files` if there are any (and the write succeeds), then its buffer
/// is handed back for the next chunk; otherwise its bytes stay in memory as the full chunk.
fn cut_chunk(
    sref: SeriesRef,
    o: OpenChunk,
    files: Option<&HeadChunkFiles>,
) -> (ChunkMeta, Option<XorChunk>) {
    if let Some(f) = files {
        if let Ok(r) = f.write_xor(sref, o.mint, o.maxt(), &o.chunk) {
            let meta = ChunkMeta {
                mint: o.mint,
                maxt: o.maxt(),
                loc: ChunkLoc::Mapped(r),
            };
            return (meta, Some(o.chunk));
        }
    }
    let meta = ChunkMeta {
        mint: o.mint,
        maxt: o.maxt(),
        loc: ChunkLoc::Memory(o.chunk.into_bytes().into_boxed_slice()),
    };
    (meta, None)
}

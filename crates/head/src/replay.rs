//! Replay on open: head chunk files first, then the WAL, with samples applied by worker threads sharded by
//! the series' lock slot. Samples already inside replayed chunks are skipped.

use std::collections::HashMap;
use std::path::Path;
use std::time::{Duration, Instant};

use crossbeam_channel::{bounded, Receiver, Sender};
use tsdb_chunks::XorIter;
use tsdb_wal::repair::{repair_at, RepairReport};
use tsdb_wal::{Corruption, Record, RefSample, SegmentStats, SeriesRef, WalError, WalReader};

use crate::error::HeadError;
use crate::head::Head;
use crate::locks::SlotAlloc;
use crate::metrics::Counters;
use crate::series::{Appended, ChunkLoc, ChunkMeta};

const BATCH: usize = 8192;

/// What replay found and did.
#[derive(Debug, Clone, Default)]
pub struct ReplayReport {
    /// Series in the head after replay.
    pub series: u64,
    /// Samples in the head after replay (in replayed chunks and from the WAL).
    pub samples: u64,
    /// Samples applied from the WAL.
    pub wal_samples: u64,
    /// Full chunks replayed from head chunk files.
    pub chunks: u64,
    /// WAL samples skipped because a replayed chunk already held them, out of order, below the lower
    /// bound, or newer than [`crate::MAX_TIME`].
    pub skipped: u64,
    /// WAL samples and head chunks of series the WAL does not define (dropped).
    pub unknown_refs: u64,
    /// Of [`unknown_refs`](Self::unknown_refs), the WAL samples: each is evidence that a series record
    /// is missing (our writers log a series before its samples, and a checkpoint keeps every series a
    /// later segment refers to), so a segment or checkpoint before [`first_segment`](Self::first_segment)
    /// was removed or cut. See [`missing_records`](Self::missing_records). (Head chunks of unknown series
    /// are not: a head chunk file may outlive the series a truncation dropped.)
    pub unknown_wal_samples: u64,
    /// File names (relative to `wal/`) of the first WAL segment read and of the segment number before it
    /// (`None`: no segment; no segment before 0).
    pub first_segment: Option<(String, Option<String>)>,
    /// Deleted ranges applied.
    pub deletes: u64,
    /// WAL segments read.
    pub segments: usize,
    /// Lowest and highest sample time (`None` when empty).
    pub time_range: Option<(i64, i64)>,
    /// Where WAL reading stopped on damage.
    pub wal_corruption: Option<Corruption>,
    /// How the damaged WAL was repaired (not in read-only mode).
    pub wal_repair: Option<RepairReport>,
    /// Damage found (and cut away) in head chunk files.
    pub chunk_damage: Option<tsdb_chunks::Damage>,
    /// Statistics of the WAL segments read, for opening the WAL writer without reading it again.
    pub wal_segments: Vec<SegmentStats>,
    /// Wall time of the replay.
    pub duration: Duration,
    /// The format of the WAL replayed, as detected before reading it (`None` only in a report not made
    /// by opening a head).
    pub wal_format: Option<tsdb_wal::WalFormat>,
    /// Records of the WAL recognised but not stored, by type: `(type byte, name, count)` for each type
    /// met at least once (a Prometheus wlog's exemplars, metadata, native histograms, …). Empty for
    /// SegmentWAL logs, which hold none.
    pub skipped_records: Vec<(u8, &'static str, u64)>,
}

/// WAL samples whose series no WAL record defines: evidence of a lost segment or checkpoint
/// ([`ReplayReport::missing_records`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MissingRecords {
    /// Samples dropped because their series is unknown.
    pub samples: u64,
    /// The first segment the WAL has and the one before it, as in [`ReplayReport::first_segment`].
    pub first_segment: Option<(String, Option<String>)>,
}

impl std::fmt::Display for MissingRecords {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} WAL samples refer to series that no WAL record defines (dropped): ",
            self.samples
        )?;
        match &self.first_segment {
            Some((first, Some(before))) => write!(
                f,
                "the log starts at segment {first}; segment {before} (or the checkpoint or segments \
                 before it) is missing or was cut"
            ),
            _ => write!(f, "a segment or checkpoint of the log is missing or was cut"),
        }
    }
}

impl ReplayReport {
    /// `Some` when WAL samples of unknown series were dropped: a segment or checkpoint holding their
    /// series records is gone (removed, or cut by a repair). Replay cannot bring those samples back (their
    /// labels are lost); a caller should report it as damage.
    pub fn missing_records(&self) -> Option<MissingRecords> {
        (self.unknown_wal_samples > 0).then_some(MissingRecords {
            samples: self.unknown_wal_samples,
            first_segment: self.first_segment.clone(),
        })
    }
}

#[derive(Default)]
struct WorkerStats {
    applied: u64,
    skipped: u64,
    unknown: u64,
    cuts: u64,
}

fn worker(
    head: &Head,
    writable: bool,
    rx: Receiver<Vec<RefSample>>,
    back: Sender<Vec<RefSample>>,
) -> WorkerStats {
    let mut ws = WorkerStats::default();
    let files = if writable { head.chunks.as_ref() } else { None };
    let (range, max) = (head.opts.chunk_range, head.opts.samples_per_chunk);
    let keep = head.opts.keep_samples;
    let min_valid = head.min_valid();
    let barrier = head.read_barrier();
    for mut batch in rx {
        for x in &batch {
            // Below the lower bound, or too new for any block (see `MAX_TIME`).
            if x.t < min_valid || x.t > crate::options::MAX_TIME {
                ws.skipped += 1;
                continue;
            }
            // Borrowed under the worker's read barrier: no reference count touched per sample.
            let Some(s) = head.lookup_ptr(&barrier, x.series) else {
                ws.unknown += 1;
                continue;
            };
            let mut st = head.locks.lock(&s);
            if st.max_t().is_some_and(|m| x.t <= m) {
                ws.skipped += 1;
                continue;
            }
            let r = if keep {
                st.append(s.sref, &s.labels, x.t, x.v, range, max, files)
            } else {
                st.note(&s.labels, x.t, x.v)
            };
            match r {
                Ok(Appended::Stored(cut)) => {
                    ws.applied += 1;
                    ws.cuts += cut as u64;
                }
                _ => ws.skipped += 1,
            }
        }
        batch.clear();
        let _ = back.try_send(batch);
    }
    ws
}

pub(crate) fn replay(
    head: &Head,
    wal_dir: &Path,
    writable: bool,
) -> Result<ReplayReport, HeadError> {
    let start = Instant::now();
    let mut rep = ReplayReport::default();

    // 1. Head chunk files: full chunks by series ref.
    let mut mapped: HashMap<SeriesRef, Vec<ChunkMeta>> = HashMap::new();
    if let Some(files) = head.chunks.as_ref() {
        let r = files.replay(|c| {
            mapped.entry(c.series_ref).or_default().push(ChunkMeta {
                mint: c.mint,
                maxt: c.maxt,
                loc: ChunkLoc::Mapped(c.chunk_ref),
            });
        })?;
        rep.chunks = r.chunks;
        rep.chunk_damage = r.damage;
    }

    // 2. The WAL, samples applied by workers sharded by the series' lock slot.
    let workers = match head.opts.replay_workers {
        0 => std::thread::available_parallelism()
            .map_or(2, |n| n.get())
            .min(8),
        n => n,
    };
    let mut reader = WalReader::open(wal_dir)?;
    let mut remap: HashMap<SeriesRef, SeriesRef> = HashMap::new();
    let mut slot_of = SlotOf::default();
    let mut chunk_samples = 0u64;
    let mut corruption = None;
    let stats: Vec<WorkerStats> =
        std::thread::scope(|scope| -> Result<Vec<WorkerStats>, HeadError> {
            let (back_tx, back_rx) = bounded::<Vec<RefSample>>(workers * 8);
            let mut txs = Vec::new();
            let mut handles = Vec::new();
            for _ in 0..workers {
                let (tx, rx) = bounded::<Vec<RefSample>>(8);
                let back = back_tx.clone();
                handles.push(scope.spawn(move || worker(head, writable, rx, back)));
                txs.push(tx);
            }
            let mut bufs: Vec<Vec<RefSample>> =
                (0..workers).map(|_| Vec::with_capacity(BATCH)).collect();
            let send = |i: usize, bufs: &mut Vec<Vec<RefSample>>| {
                let fresh = back_rx
                    .try_recv()
                    .unwrap_or_else(|_| Vec::with_capacity(BATCH));
                let full = std::mem::replace(&mut bufs[i], fresh);
                let _ = txs[i].send(full);
            };
            loop {
                let e = match reader.next() {
                    Ok(Some(e)) => e,
                    Ok(None) => break,
                    Err(WalError::Corruption(c)) => {
                        corruption = Some(c);
                        break;
                    }
                    Err(e) => return Err(e.into()),
                };
                match e.record {
                    Record::Series(ss) => {
                        // The series of one record were created together: they share lock slots
                        // again, as they did when they were written.
                        let mut slots = SlotAlloc::default();
                        for s in ss {
                            let (m, created) =
                                head.create_replayed(s.series, &s.labels, &mut slots);
                            slot_of.note(m.sref, m.slot);
                            if m.sref != s.series {
                                remap.insert(s.series, m.sref);
                            } else {
                                remap.remove(&s.series);
                            }
                            if created {
                                if let Some(cs) = mapped.remove(&s.series) {
                                    chunk_samples += attach_chunks(head, &m, cs);
                                }
                            }
                        }
                    }
                    Record::Samples(ss) => {
                        for x in ss {
                            let r = if remap.is_empty() {
                                x.series
                            } else {
                                remap.get(&x.series).copied().unwrap_or(x.series)
                            };
                            // By lock slot: no two workers take one slot's lock.
                            let i = (slot_of.get(r).map_or(r, u64::from) % workers as u64) as usize;
                            bufs[i].push(RefSample { series: r, ..*x });
                            if bufs[i].len() >= BATCH {
                                send(i, &mut bufs);
                            }
                        }
                    }
                    Record::Deletes(ds) => {
                        for d in ds {
                            let series = remap.get(&d.series).copied().unwrap_or(d.series);
                            head.apply_delete(&tsdb_wal::Delete { series, ..*d });
                            rep.deletes += 1;
                        }
                    }
                    Record::Symbols { .. } => {}
                }
            }
            for i in 0..workers {
                if !bufs[i].is_empty() {
                    send(i, &mut bufs);
                }
            }
            drop(txs);
            Ok(handles
                .into_iter()
                .map(|h| h.join().unwrap_or_default())
                .collect())
        })?;
    head.finish_replayed_postings();
    rep.segments = reader.segment_stats().len() + corruption.is_some() as usize;
    rep.wal_segments = reader.segment_stats().to_vec();
    rep.skipped_records = reader.skipped().by_type();
    rep.first_segment = rep.wal_segments.first().map(|s| {
        let before = s
            .seq
            .checked_sub(1)
            .map(|b| reader.segment_file_name(b, None));
        (reader.segment_file_name(s.seq, None), before)
    });
    for ws in &stats {
        rep.wal_samples += ws.applied;
        rep.skipped += ws.skipped;
        rep.unknown_refs += ws.unknown;
        rep.unknown_wal_samples += ws.unknown;
        Counters::add(&head.counters.chunks_created, ws.cuts);
    }
    rep.unknown_refs += mapped.values().map(|v| v.len() as u64).sum::<u64>();
    Counters::add(&head.counters.samples_appended, rep.wal_samples);
    if let Some(c) = &corruption {
        if writable {
            rep.wal_repair = Some(repair_at(wal_dir, c)?);
        }
    }
    rep.wal_corruption = corruption;
    rep.samples = rep.wal_samples + chunk_samples;

    // 3. The head's time range.
    let (mut lo, mut hi) = (i64::MAX, i64::MIN);
    for s in head.series.all() {
        let st = head.locks.lock(&s);
        s.publish_newest(&st);
        let first = st
            .full
            .first()
            .map(|c| c.mint)
            .or(st.open.as_ref().map(|o| o.mint));
        if let Some(f) = first {
            lo = lo.min(f.max(head.min_valid()));
            hi = hi.max(st.max_t().unwrap_or(f));
        }
    }
    head.note_time_range(lo, hi);
    rep.series = head.series.len() as u64;
    rep.time_range = (lo <= hi).then_some((lo, hi));
    rep.duration = start.elapsed();
    Ok(rep)
}

/// Gives a replayed series its full chunks from head chunk files; returns how many samples they hold.
fn attach_chunks(head: &Head, s: &crate::series::MemSeries, mut cs: Vec<ChunkMeta>) -> u64 {
    let min_valid = head.min_valid();
    cs.retain(|c| c.maxt >= min_valid);
    cs.sort_by_key(|c| c.mint);
    let mut samples = 0u64;
    let mut last = None;
    if let Some(files) = head.chunks.as_ref() {
        for c in &cs {
            if let ChunkLoc::Mapped(r) = &c.loc {
                if let Ok(hc) = files.chunk(*r) {
                    let d = hc.data();
                    if d.len() >= 2 {
                        samples += u16::from_be_bytes([d[0], d[1]]) as u64;
                    }
                }
            }
        }
        if let Some(ChunkMeta {
            loc: ChunkLoc::Mapped(r),
            ..
        }) = cs.last()
        {
            if let Ok(hc) = files.chunk(*r) {
                if let Ok(mut it) = XorIter::new(hc.data()) {
                    while let Ok(Some(batch)) = it.next_batch() {
                        last = batch.last().copied();
                    }
                }
            }
        }
    }
    let mut st = head.locks.lock(s);
    if let Some((t, v)) = last {
        st.newest = Some((t, v));
    } else if let Some(c) = cs.last() {
        // The last chunk could not be read: its end bounds what the WAL may add; its value is unknown.
        st.newest = Some((c.maxt, f64::NAN));
    }
    st.full = cs;
    s.publish_newest(&st);
    samples
}

/// The lock slot of each replayed series by reference, for sharding samples among workers without
/// looking the series up: a dense table for the references a head hands out, nothing for far larger ones
/// (their samples are sharded by reference; the locks keep that correct).
#[derive(Default)]
struct SlotOf(Vec<u32>);

impl SlotOf {
    /// References beyond this are not tabled (4 bytes for each reference below it).
    const DENSE: u64 = 1 << 26;

    fn note(&mut self, r: SeriesRef, slot: u32) {
        if r < Self::DENSE {
            let i = r as usize;
            if self.0.len() <= i {
                self.0.resize((i + 1).next_power_of_two(), u32::MAX);
            }
            self.0[i] = slot;
        }
    }

    fn get(&self, r: SeriesRef) -> Option<u32> {
        usize::try_from(r)
            .ok()
            .and_then(|i| self.0.get(i))
            .copied()
            .filter(|&s| s != u32::MAX)
    }
}

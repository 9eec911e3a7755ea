//! The sender loop: read the WAL from the stored position, send in rounds, store the position.
//!
//! A round is up to `shards × max_samples_per_send × 4` samples read from whole WAL entries. Each shard
//! sends its part of the round in requests of at most `max_samples_per_send`, one after the other (so a
//! series' samples go out in WAL order), the shards concurrently. When every request of the round is
//! acknowledged (or refused for good), the position moves past the round's last entry and is stored.
//! At the end of the written log the reader is dropped; after `poll_interval` the log is opened and read
//! again, entries before the position contributing only their series records.
//!
//! Before a round goes out its end, shard count and request size are stored with the position
//! ([`position::Round`]); after a crash the first round read is cut exactly there and sent the same way,
//! so every request is one the destination holds whole or not at all.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use bytes::Bytes;
use prost::Message;
use tsdb_remote::v1;
use tsdb_wal::{Record, WalReader};

use crate::autoscale::Autoscale;
use crate::client::{Conn, Outcome, Target};
use crate::position::{self, Position};
use crate::{ForwardError, ForwardOptions, Protocol, Shared};

/// Why a round did not complete.
struct Stopped;

pub(crate) fn run(
    shared: Arc<Shared>,
    wal_dir: PathBuf,
    state_dir: PathBuf,
    target: Target,
    opts: ForwardOptions,
    stored: position::Stored,
) -> Result<(), ForwardError> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|source| ForwardError::Start {
            url: shared.url.clone(),
            source,
        })?;
    let mut s = Sender {
        conns: (0..opts.shards)
            .map(|_| Some(Conn::new(target.clone(), opts.request_timeout)))
            .collect(),
        autoscale: Autoscale::new(opts.min_shards, opts.max_shards),
        last_round_took: Duration::ZERO,
        target,
        shared,
        wal_dir,
        state_dir,
        opts,
        pos: stored.at,
        recover: stored.round,
        series: HashMap::new(),
        warm: false,
        last_error: None,
    };
    // The WAL directory as it was before the last read that ended caught up, and when that was.
    let mut unchanged_since: Option<(Fingerprint, Instant)> = None;
    // The last read error, printed only if the next read meets it again (see below).
    let mut seen_once: Option<String> = None;
    loop {
        if s.shared.stop.load(Ordering::Acquire) {
            return Ok(());
        }
        let draining = s.shared.drain.load(Ordering::Acquire);
        // An idle log is not read again (file sizes and modification times unchanged), except once a
        // second, since a modification time is coarse and a preallocated segment keeps its size; a drain
        // always reads.
        let fp = fingerprint(&s.wal_dir);
        if !draining {
            if let Some((old, at)) = &unchanged_since {
                if *old == fp && at.elapsed() < Duration::from_secs(1) {
                    sleep_unless_woken(&s.shared, s.opts.poll_interval, draining);
                    continue;
                }
            }
        }
        let began = Instant::now();
        let scanned = s.scan(&rt);
        // A read of a long log is not repeated more often than it takes: at most half the time reading.
        let pause = s.opts.poll_interval.max(began.elapsed());
        match scanned {
            Ok(true) => {
                s.shared.caught_up.store(true, Ordering::Release);
                s.last_error = None;
                seen_once = None;
                unchanged_since = Some((fp, Instant::now()));
                if draining {
                    return Ok(());
                }
            }
            Ok(false) => return Ok(()),
            Err(e) => {
                s.shared.caught_up.store(false, Ordering::Release);
                let msg = e.to_string();
                // A read racing the writer can see the active segment's tail half written (a zero page
                // before bytes written meanwhile): that is gone on the next read. Only an error met on two
                // reads in a row (or a failure to store the position) is reported.
                let io = matches!(e, ForwardError::Io { .. });
                let repeated = seen_once.as_deref() == Some(msg.as_str());
                seen_once = Some(msg.clone());
                if (io || repeated) && s.last_error.as_deref() != Some(msg.as_str()) {
                    eprintln!("{msg} (reading again in {pause:?})");
                    s.last_error = Some(msg);
                }
                if io {
                    // The position could not be stored: keep trying, but say so each time.
                    s.last_error = None;
                }
            }
        }
        sleep_unless_woken(&s.shared, pause, draining);
    }
}

/// Sleeps for `d`, waking early when asked to stop, or to drain (unless already draining).
fn sleep_unless_woken(shared: &Shared, d: Duration, draining: bool) {
    let mut slept = Duration::ZERO;
    while slept < d
        && !shared.stop.load(Ordering::Acquire)
        && (draining || !shared.drain.load(Ordering::Acquire))
    {
        std::thread::sleep(Duration::from_millis(10));
        slept += Duration::from_millis(10);
    }
}

/// Names, sizes and modification times of a directory's entries.
type Fingerprint = Vec<(String, u64, Option<SystemTime>)>;

/// The [`Fingerprint`] of the WAL directory (checkpoint directories included).
fn fingerprint(dir: &Path) -> Fingerprint {
    let mut v: Fingerprint = std::fs::read_dir(dir)
        .map(|rd| {
            rd.flatten()
                .map(|e| {
                    let md = e.metadata().ok();
                    (
                        e.file_name().to_string_lossy().to_string(),
                        md.as_ref().map_or(0, |m| m.len()),
                        md.and_then(|m| m.modified().ok()),
                    )
                })
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}

struct Sender {
    shared: Arc<Shared>,
    wal_dir: PathBuf,
    state_dir: PathBuf,
    opts: ForwardOptions,
    /// Acknowledged up to here (stored).
    pos: Position,
    /// The round found in flight at start-up, to be sent again exactly as it was (see the module's note).
    recover: Option<position::Round>,
    /// One connection per shard; their number is the shard count.
    conns: Vec<Option<Conn>>,
    target: Target,
    autoscale: Autoscale,
    /// How long the last round took to send.
    last_round_took: Duration,
    series: HashMap<u64, Arc<Vec<v1::Label>>>,
    /// Whether `series` was filled by a read of the whole log.
    warm: bool,
    last_error: Option<String>,
}

/// One request, ready to send.
struct Request {
    body: Bytes,
    samples: u64,
    max_t: i64,
    /// Part of a round sent again after a restart: the destination may hold it already.
    resent: bool,
}

impl Sender {
    fn wal_error(&self, at: Position, source: tsdb_wal::WalError) -> ForwardError {
        ForwardError::Wal {
            url: self.shared.url.clone(),
            dir: self.wal_dir.clone(),
            segment: at.segment,
            offset: at.offset,
            source: Box::new(source),
        }
    }

    /// Reads the log from the beginning and sends everything at or after the position. `Ok(true)`: the
    /// end of the written log was reached with everything sent; `Ok(false)`: asked to stop.
    fn scan(&mut self, rt: &tokio::runtime::Runtime) -> Result<bool, ForwardError> {
        let start = self.pos;
        let mut reader = WalReader::open(&self.wal_dir).map_err(|e| self.wal_error(start, e))?;
        let segs = list_segments(&self.wal_dir);
        self.shared
            .lag
            .store(lag_bytes(&segs, start), Ordering::Relaxed);
        // Over a lag limit, samples of segments before `give_up_before` are dropped, not sent.
        let limit = LagLimit::of(&self.opts);
        let give_up_before = limit.give_up_before(&segs, start, SystemTime::now());
        if let Some((s, why)) = &give_up_before {
            eprintln!(
                "forward to {}: {why}; giving up the samples of segments {}..{} (dropped)",
                self.shared.url,
                start.segment,
                s.saturating_sub(1)
            );
            self.shared.keep_from.store(*s, Ordering::Release);
        }
        let give_up_before = give_up_before.map(|(s, _)| s);
        if let Some(r) = self.recover {
            if r.end <= start {
                self.recover = None;
            } else {
                self.reshard(r.shards);
            }
        }
        let mut shards: Vec<Vec<tsdb_wal::RefSample>> = vec![Vec::new(); self.conns.len()];
        let mut in_round = 0usize;
        let mut last = start;
        let mut dropped_lag = 0u64;
        loop {
            let entry = match reader.next() {
                Ok(Some(e)) => e,
                Ok(None) => break,
                Err(e) => {
                    // Send what was read before the damage (or the torn tail being written), then report.
                    if !self.send_round(rt, &mut shards, &mut in_round, last, false)? {
                        return Ok(false);
                    }
                    return Err(self.wal_error(last, e));
                }
            };
            let here = Position {
                segment: entry.segment,
                offset: entry.offset,
            };
            let live = entry.checkpoint.is_none() && here >= start;
            match entry.record {
                Record::Series(ss) => {
                    for s in ss {
                        // Once the map was built by a whole read, records before the position only add
                        // unknown refs (they are read again at every poll); a record at or after it
                        // may reuse a ref and always wins.
                        if !live && self.warm && self.series.contains_key(&s.series) {
                            continue;
                        }
                        let labels: Vec<v1::Label> =
                            s.labels.iter().map(|(n, v)| v1::Label::new(n, v)).collect();
                        self.series.insert(s.series, Arc::new(labels));
                    }
                }
                Record::Samples(ss) if live => {
                    if give_up_before.is_some_and(|b| entry.segment < b) {
                        dropped_lag += ss.len() as u64;
                        self.shared
                            .dropped
                            .fetch_add(ss.len() as u64, Ordering::Relaxed);
                    } else {
                        for s in ss {
                            if self.series.contains_key(&s.series) {
                                let k = shard_of(s.series, shards.len());
                                shards[k].push(*s);
                                in_round += 1;
                            } else {
                                self.shared.dropped.fetch_add(1, Ordering::Relaxed);
                            }
                        }
                    }
                }
                _ => {}
            }
            if live {
                last = Position {
                    segment: entry.segment,
                    offset: entry.offset + entry.len,
                };
            }
            let round_limit = shards.len() * self.opts.max_samples_per_send * 4;
            let cut = match self.recover {
                Some(r) => last >= r.end,
                None => in_round >= round_limit,
            };
            if cut {
                if !self.send_round(rt, &mut shards, &mut in_round, last, true)? {
                    return Ok(false);
                }
                // The shard count may have changed with the round.
                shards.resize_with(self.conns.len(), Vec::new);
            }
        }
        if dropped_lag > 0 {
            eprintln!(
                "forward to {}: dropped {dropped_lag} samples over the lag limit",
                self.shared.url
            );
        }
        // What is left after the position, from the ends of data the reader found (file sizes count
        // preallocated space).
        let read: Vec<Segment> = reader
            .segment_stats()
            .iter()
            .filter(|s| !s.checkpoint)
            .map(|s| Segment {
                seq: s.seq,
                len: s.data_end,
                modified: None,
            })
            .collect();
        drop(reader);
        self.warm = true;
        let tail = in_round > 0;
        if !self.send_round(rt, &mut shards, &mut in_round, last, false)? {
            return Ok(false);
        }
        let took = if tail {
            self.last_round_took
        } else {
            Duration::ZERO
        };
        let n = self
            .autoscale
            .after_caught_up(self.conns.len(), took, self.opts.poll_interval);
        self.reshard(n);
        self.shared
            .lag
            .store(lag_bytes(&read, self.pos), Ordering::Relaxed);
        Ok(true)
    }

    /// Sends the round's samples; on success stores `last` as the position. `Ok(false)`: asked to stop.
    fn send_round(
        &mut self,
        rt: &tokio::runtime::Runtime,
        shards: &mut [Vec<tsdb_wal::RefSample>],
        in_round: &mut usize,
        last: Position,
        full: bool,
    ) -> Result<bool, ForwardError> {
        let recovering = self.recover.is_some();
        if *in_round > 0 {
            let began = Instant::now();
            let samples = *in_round as u64;
            let per_send = self
                .recover
                .map_or(self.opts.max_samples_per_send, |r| r.per_send);
            // The round is on record before any of it goes out (see the module's note); a round sent
            // again after a restart is already there.
            if !recovering {
                let round = position::Round {
                    end: last,
                    shards: shards.len(),
                    per_send,
                };
                let st = position::Stored {
                    at: self.pos,
                    round: Some(round),
                };
                position::store_stored(&self.state_dir, &self.shared.url, st)?;
            }
            self.shared
                .pending
                .store(*in_round as u64, Ordering::Relaxed);
            let mut work: Vec<Vec<Request>> = Vec::with_capacity(shards.len());
            for part in shards.iter_mut() {
                let reqs = part
                    .chunks(per_send)
                    .map(|c| self.encode(c, recovering))
                    .collect();
                part.clear();
                work.push(reqs);
            }
            *in_round = 0;
            let lag = Arc::new(LagCheck {
                wal_dir: self.wal_dir.clone(),
                from: self.pos,
                limit: LagLimit::of(&self.opts),
            });
            let ok = rt.block_on(self.send_all(work, lag));
            self.shared.pending.store(0, Ordering::Relaxed);
            if !ok {
                return Ok(false);
            }
            self.last_round_took = began.elapsed();
            if full && !recovering {
                let n = self.autoscale.after_full_round(
                    self.conns.len(),
                    samples,
                    self.last_round_took,
                    Instant::now(),
                );
                self.reshard(n);
            }
        }
        self.recover = None;
        if last != self.pos || recovering {
            position::store(&self.state_dir, &self.shared.url, last)?;
            self.pos = last;
            self.shared
                .pos_segment
                .store(last.segment, Ordering::Relaxed);
            self.shared.pos_offset.store(last.offset, Ordering::Relaxed);
            let floor = self
                .shared
                .keep_from
                .load(Ordering::Acquire)
                .max(last.segment);
            self.shared.keep_from.store(floor, Ordering::Release);
        }
        Ok(true)
    }

    /// Sets the shard count to `n` (connections opened lazily, surplus ones closed).
    fn reshard(&mut self, n: usize) {
        let n = n.max(1);
        if n == self.conns.len() {
            return;
        }
        let (target, timeout) = (&self.target, self.opts.request_timeout);
        self.conns
            .resize_with(n, || Some(Conn::new(target.clone(), timeout)));
        self.shared.shards.store(n as u64, Ordering::Relaxed);
    }

    /// Encodes one request in the destination's protocol.
    fn encode(&self, samples: &[tsdb_wal::RefSample], resent: bool) -> Request {
        let (body, max_t) = match self.target.protocol {
            Protocol::V1 => self.encode_v1(samples),
            Protocol::V2 => self.encode_v2(samples),
        };
        Request {
            body: Bytes::from(tsdb_remote::snappy::compress(&body)),
            samples: samples.len() as u64,
            max_t,
            resent,
        }
    }

    /// Remote write 2.0: the samples grouped by series (each series' samples in WAL order), label names
    /// and values as references into the request's symbols table (entry 0 the empty string).
    fn encode_v2(&self, samples: &[tsdb_wal::RefSample]) -> (Vec<u8>, i64) {
        let mut idx: HashMap<u64, usize> = HashMap::new();
        let mut symbols: Vec<String> = vec![String::new()];
        let mut symbol_of: HashMap<&str, u32> = HashMap::new();
        let mut ts: Vec<tsdb_remote::v2::TimeSeries> = Vec::new();
        let mut max_t = i64::MIN;
        for s in samples {
            max_t = max_t.max(s.t);
            let i = match idx.get(&s.series) {
                Some(&i) => i,
                None => {
                    let mut refs = Vec::new();
                    if let Some(labels) = self.series.get(&s.series) {
                        for l in labels.iter() {
                            for text in [l.name.as_str(), l.value.as_str()] {
                                let r = *symbol_of.entry(text).or_insert_with(|| {
                                    symbols.push(text.to_string());
                                    (symbols.len() - 1) as u32
                                });
                                refs.push(r);
                            }
                        }
                    }
                    ts.push(tsdb_remote::v2::TimeSeries {
                        labels_refs: refs,
                        ..Default::default()
                    });
                    idx.insert(s.series, ts.len() - 1);
                    ts.len() - 1
                }
            };
            ts[i].samples.push(tsdb_remote::v2::Sample {
                value: s.v,
                timestamp: s.t,
                start_timestamp: 0,
            });
        }
        let req = tsdb_remote::v2::Request {
            symbols,
            timeseries: ts,
        };
        (req.encode_to_vec(), max_t)
    }

    /// Remote write 1.0: the samples grouped by series, each series' samples in WAL order.
    fn encode_v1(&self, samples: &[tsdb_wal::RefSample]) -> (Vec<u8>, i64) {
        let mut idx: HashMap<u64, usize> = HashMap::new();
        let mut ts: Vec<v1::TimeSeries> = Vec::new();
        let mut max_t = i64::MIN;
        for s in samples {
            max_t = max_t.max(s.t);
            let i = *idx.entry(s.series).or_insert_with(|| {
                ts.push(v1::TimeSeries {
                    labels: self
                        .series
                        .get(&s.series)
                        .map(|l| l.as_ref().clone())
                        .unwrap_or_default(),
                    ..Default::default()
                });
                ts.len() - 1
            });
            ts[i].samples.push(v1::Sample {
                value: s.v,
                timestamp: s.t,
            });
        }
        let req = v1::WriteRequest { timeseries: ts };
        (req.encode_to_vec(), max_t)
    }

    /// Every shard's requests, shards concurrently; `false` if asked to stop first.
    async fn send_all(&mut self, work: Vec<Vec<Request>>, lag: Arc<LagCheck>) -> bool {
        let mut handles = Vec::new();
        for (i, reqs) in work.into_iter().enumerate() {
            let Some(mut conn) = self.conns[i].take() else {
                continue;
            };
            let shared = self.shared.clone();
            let opts = self.opts.clone();
            let lag = lag.clone();
            handles.push((
                i,
                tokio::spawn(async move {
                    for r in reqs {
                        if send_one(&mut conn, r, &shared, &opts, &lag).await.is_err() {
                            return (conn, false);
                        }
                    }
                    (conn, true)
                }),
            ));
        }
        let mut all = true;
        for (i, h) in handles {
            match h.await {
                Ok((conn, ok)) => {
                    self.conns[i] = Some(conn);
                    all &= ok;
                }
                Err(_) => {
                    eprintln!("forward to {}: a shard's task failed", self.shared.url);
                    all = false;
                }
            }
        }
        all
    }
}

/// Sends one request until it is acknowledged or refused for good; `Err` if asked to stop first.
async fn send_one(
    conn: &mut Conn,
    r: Request,
    shared: &Shared,
    opts: &ForwardOptions,
    lag: &LagCheck,
) -> Result<(), Stopped> {
    let mut backoff = opts.min_backoff;
    let mut attempt = 0u64;
    loop {
        if shared.stop.load(Ordering::Acquire) {
            return Err(Stopped);
        }
        match conn.send(r.body.clone()).await {
            Outcome::Ok => {
                shared.sent.fetch_add(r.samples, Ordering::Relaxed);
                shared.highest.fetch_max(r.max_t, Ordering::Relaxed);
                shared.pending.fetch_sub(
                    r.samples.min(shared.pending.load(Ordering::Relaxed)),
                    Ordering::Relaxed,
                );
                return Ok(());
            }
            Outcome::Rejected { status, body } if r.resent => {
                // Resent after a restart: most likely held already (a receiver that refuses samples
                // older than its newest says so), so not counted as failed.
                sub_pending(shared, r.samples);
                eprintln!(
                    "forward to {}: {} samples resent after a restart refused with status {status}, most likely held already (not retried): {body}",
                    shared.url, r.samples
                );
                return Ok(());
            }
            Outcome::Rejected { status, body } => {
                shared.failed.fetch_add(r.samples, Ordering::Relaxed);
                sub_pending(shared, r.samples);
                eprintln!(
                    "forward to {}: {} samples rejected with status {status} (not retried): {body}",
                    shared.url, r.samples
                );
                return Ok(());
            }
            Outcome::Retry { why, retry_after } => {
                attempt += 1;
                shared.retried.fetch_add(r.samples, Ordering::Relaxed);
                let wait = retry_after
                    .map(|d| d.min(Duration::from_secs(300)))
                    .unwrap_or(backoff);
                if attempt.is_power_of_two() {
                    eprintln!(
                        "forward to {}: {why}; retry {attempt} of {} samples in {wait:?}",
                        shared.url, r.samples
                    );
                }
                backoff = (backoff * 2).min(opts.max_backoff);
                if lag.limit.is_set() {
                    let segs = list_segments(&lag.wal_dir);
                    if let Some(over) = lag.limit.exceeded(&segs, lag.from, SystemTime::now()) {
                        shared.dropped.fetch_add(r.samples, Ordering::Relaxed);
                        sub_pending(shared, r.samples);
                        eprintln!(
                            "forward to {}: {over}: dropped {} samples ({why})",
                            shared.url, r.samples
                        );
                        return Ok(());
                    }
                }
                let mut waited = Duration::ZERO;
                while waited < wait {
                    if shared.stop.load(Ordering::Acquire) {
                        return Err(Stopped);
                    }
                    let step = (wait - waited).min(Duration::from_millis(50));
                    tokio::time::sleep(step).await;
                    waited += step;
                }
            }
        }
    }
}

/// What a retry needs to decide whether the destination is too far behind (`max_lag_bytes`).
struct LagCheck {
    wal_dir: PathBuf,
    /// The stored position when the round began.
    from: Position,
    limit: LagLimit,
}

fn sub_pending(shared: &Shared, n: u64) {
    let _ = shared
        .pending
        .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |p| {
            Some(p.saturating_sub(n))
        });
}

fn shard_of(series: u64, shards: usize) -> usize {
    // Fibonacci hashing spreads consecutive refs over the shards.
    (series.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 32) as usize % shards
}

/// A WAL segment file: sequence number, size, last modification.
#[derive(Debug, Clone, Copy)]
struct Segment {
    seq: u64,
    len: u64,
    modified: Option<SystemTime>,
}

/// The WAL directory's segment files (names of digits only), sorted.
fn list_segments(dir: &Path) -> Vec<Segment> {
    let mut out = Vec::new();
    if let Ok(rd) = std::fs::read_dir(dir) {
        for e in rd.flatten() {
            let name = e.file_name().to_string_lossy().to_string();
            if name.is_empty() || !name.bytes().all(|b| b.is_ascii_digit()) {
                continue;
            }
            if let (Ok(seq), Ok(md)) = (name.parse::<u64>(), e.metadata()) {
                out.push(Segment {
                    seq,
                    len: md.len(),
                    modified: md.modified().ok(),
                });
            }
        }
    }
    out.sort_unstable_by_key(|s| s.seq);
    out
}

/// WAL bytes after `pos` in the segment files of `wal_dir` (their sizes, less `pos.offset` in its own
/// segment): how far a destination stored at `pos` is behind.
pub fn lag_bytes_in(wal_dir: &Path, pos: Position) -> u64 {
    lag_bytes(&list_segments(wal_dir), pos)
}

/// Bytes of the segments at and after `pos` (less `pos.offset`).
fn lag_bytes(segs: &[Segment], pos: Position) -> u64 {
    segs.iter()
        .filter(|s| s.seq >= pos.segment)
        .map(|s| {
            if s.seq == pos.segment {
                s.len.saturating_sub(pos.offset)
            } else {
                s.len
            }
        })
        .sum()
}

/// How much unsent WAL a destination may leave behind: `max_lag_bytes` and `max_lag_age`.
#[derive(Debug, Clone, Copy)]
struct LagLimit {
    bytes: Option<u64>,
    age: Option<Duration>,
}

impl LagLimit {
    fn of(o: &ForwardOptions) -> LagLimit {
        LagLimit {
            bytes: o.max_lag_bytes,
            age: o.max_lag_age,
        }
    }

    fn is_set(&self) -> bool {
        self.bytes.is_some() || self.age.is_some()
    }

    /// Whether the unsent WAL after `pos` is over a limit, and which (for the log).
    fn exceeded(&self, segs: &[Segment], pos: Position, now: SystemTime) -> Option<String> {
        if let Some(max) = self.bytes {
            let behind = lag_bytes(segs, pos);
            if behind > max {
                return Some(format!(
                    "{behind} WAL bytes not yet forwarded, more than {max}"
                ));
            }
        }
        if let Some(max) = self.age {
            let oldest = segs.iter().find(|s| s.seq >= pos.segment)?;
            let newest = segs.last()?;
            let age = oldest
                .modified
                .and_then(|m| now.duration_since(m).ok())
                .unwrap_or_default();
            if oldest.seq < newest.seq && age > max {
                return Some(format!(
                    "the oldest WAL segment not yet forwarded ({}) was written {}s ago, more than {}s",
                    oldest.seq,
                    age.as_secs(),
                    max.as_secs()
                ));
            }
        }
        None
    }

    /// When over a limit, the first segment to keep (never past the newest one) and why: at most
    /// `bytes` of segments remain, and none last written longer ago than `age`.
    fn give_up_before(
        &self,
        segs: &[Segment],
        pos: Position,
        now: SystemTime,
    ) -> Option<(u64, String)> {
        let why = self.exceeded(segs, pos, now)?;
        let newest = segs.last()?.seq;
        let mut keep = pos.segment;
        if let Some(max) = self.bytes {
            let mut total = 0u64;
            let mut k = newest;
            for s in segs.iter().rev() {
                total += s.len;
                if total > max {
                    break;
                }
                k = s.seq;
            }
            keep = keep.max(k);
        }
        if let Some(max) = self.age {
            let young = segs.iter().find(|s| {
                s.modified
                    .and_then(|m| now.duration_since(m).ok())
                    .is_none_or(|a| a <= max)
            });
            keep = keep.max(young.map_or(newest, |s| s.seq));
        }
        let keep = keep.min(newest);
        (keep > pos.segment).then_some((keep, why))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn segs(v: &[(u64, u64, u64)], now: SystemTime) -> Vec<Segment> {
        v.iter()
            .map(|&(seq, len, age_s)| Segment {
                seq,
                len,
                modified: Some(now - Duration::from_secs(age_s)),
            })
            .collect()
    }

    #[test]
    fn lag_limit_keeps_the_newest_segments() {
        let now = SystemTime::now();
        let segs = segs(
            &[(1, 100, 400), (2, 100, 300), (3, 100, 200), (4, 50, 0)],
            now,
        );
        let p = Position {
            segment: 1,
            offset: 10,
        };
        let by_bytes = |max| LagLimit {
            bytes: Some(max),
            age: None,
        };
        assert_eq!(lag_bytes(&segs, p), 340);
        assert_eq!(by_bytes(400).give_up_before(&segs, p, now), None);
        assert_eq!(
            by_bytes(160).give_up_before(&segs, p, now).map(|x| x.0),
            Some(3)
        );
        assert_eq!(
            by_bytes(10).give_up_before(&segs, p, now).map(|x| x.0),
            Some(4)
        );
        // By age: segments last written more than 250 s ago go, the newest never does.
        let by_age = |s| LagLimit {
            bytes: None,
            age: Some(Duration::from_secs(s)),
        };
        assert_eq!(by_age(500).give_up_before(&segs, p, now), None);
        let (keep, why) = by_age(250).give_up_before(&segs, p, now).unwrap();
        assert_eq!(keep, 3);
        assert!(why.contains("written 400s ago"), "{why}");
        assert_eq!(
            by_age(1).give_up_before(&segs, p, now).map(|x| x.0),
            Some(4)
        );
        // Both: the stricter wins.
        let both = LagLimit {
            bytes: Some(160),
            age: Some(Duration::from_secs(350)),
        };
        assert_eq!(both.give_up_before(&segs, p, now).map(|x| x.0), Some(3));
        // Only the newest segment left: nothing to give up.
        let last = Position {
            segment: 4,
            offset: 0,
        };
        assert_eq!(by_age(1).give_up_before(&segs, last, now), None);
    }
}

//! Reading wlog segments: fragments back into records, the newest checkpoint first, then the segments after it.
//!
//! Stricter than Prometheus's reader where strictness costs nothing: a fragment must fit its page, the
//! fragments of a record must come in `first, middle…, last` order with one compression flag, the bytes after
//! a page's padding marker must be zero, and a segment must not end inside a record. The first violation stops
//! reading with a [`WalError::Corruption`] naming the segment and the offset of the first byte that is not part
//! of an intact record (the start of the record being assembled): every record returned before it was written
//! by a writer, and repair cuts the segment there.

use std::fs::File;
use std::io::{BufReader, Read};
use std::path::Path;

use super::codec::{self, decompress, is_skipped_type};
use super::fragment::{
    self, FIRST, FLAG_SNAPPY, FLAG_ZSTD, FULL, HEADER_LEN, LAST, MIDDLE, PAGE_TERM, TYPE_MASK,
};
use super::{list, CheckpointDir, PAGE_SIZE};
use crate::error::{Result, WalError};
use crate::reader::SegmentStats;
use crate::record::{decode_deletes, decode_samples, decode_series_simple};
use crate::record::{Delete, RefSample, RefSeries};
use crate::segment::SegmentFile;

const PAGE: usize = PAGE_SIZE as usize;

/// Counts of records the reader recognised but does not return, by record type byte.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SkippedRecords {
    counts: [u64; 256],
}

impl Default for SkippedRecords {
    fn default() -> Self {
        SkippedRecords { counts: [0; 256] }
    }
}

impl SkippedRecords {
    /// Records of type `t` skipped so far.
    pub fn count(&self, t: u8) -> u64 {
        self.counts[t as usize]
    }

    /// All skipped records.
    pub fn total(&self) -> u64 {
        self.counts.iter().sum()
    }

    /// `(type byte, type name, count)` of every type skipped at least once.
    pub fn by_type(&self) -> Vec<(u8, &'static str, u64)> {
        (0..=255u8)
            .filter(|&t| self.counts[t as usize] > 0)
            .map(|t| (t, codec::type_name(t), self.counts[t as usize]))
            .collect()
    }

    fn add(&mut self, t: u8) {
        self.counts[t as usize] += 1;
    }
}

/// One file the reader goes through.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Source {
    /// The segment.
    pub file: SegmentFile,
    /// The index of the checkpoint it belongs to, or `None` for a segment of the WAL directory.
    pub checkpoint: Option<u64>,
}

/// A decoded record (see [`crate::reader::Record`] for the borrowed form the [`crate::WalReader`] returns).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// `series()` holds it.
    Series,
    /// `samples()` holds it.
    Samples,
    /// `deletes()` holds it.
    Tombstones,
}

/// Where a record was and what it held.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Located {
    /// Segment sequence number (inside the checkpoint for checkpoint records).
    pub segment: u64,
    /// The checkpoint holding it, if any.
    pub checkpoint: Option<u64>,
    /// Offset of its first fragment.
    pub offset: u64,
    /// Bytes from its first fragment's header to the end of its last fragment.
    pub len: u64,
    /// Header flags of its fragments ([`FLAG_SNAPPY`], [`FLAG_ZSTD`] or 0).
    pub flag: u8,
    /// What it decoded to.
    pub kind: Kind,
}

struct Cur {
    src: Source,
    rd: BufReader<File>,
    file_len: u64,
    /// File offset of `page[0]`.
    page_off: u64,
    /// Bytes of the page actually in the file (the rest reads as zeros).
    page_len: usize,
    /// Position in the page.
    pos: usize,
    loaded: bool,
    stats: SegmentStats,
}

/// Reads the records of a wlog directory (or of an explicit list of segments) in order.
pub struct WlogReader {
    sources: Vec<Source>,
    obsolete: Vec<SegmentFile>,
    checkpoint: Option<CheckpointDir>,
    next_idx: usize,
    cur: Option<Cur>,
    page: Vec<u8>,
    raw: Vec<u8>,
    plain: Vec<u8>,
    snappy: snap::raw::Decoder,
    series: Vec<RefSeries>,
    samples: Vec<RefSample>,
    deletes: Vec<Delete>,
    stats: Vec<SegmentStats>,
    skipped: SkippedRecords,
    done: bool,
    last_checkpoint: Option<u64>,
}

impl WlogReader {
    /// Opens `dir`: the segments of its newest checkpoint, then the directory's segments numbered above it.
    /// Segments at or below the checkpoint's index are left out (see [`obsolete_segments`](Self::obsolete_segments)).
    pub fn open(dir: &Path) -> Result<WlogReader> {
        let l = list(dir)?;
        let mut sources = Vec::new();
        let mut obsolete = Vec::new();
        let cp = l.last_checkpoint().cloned();
        let mut segs = l.segments;
        if let Some(cp) = &cp {
            for s in list(&cp.path)?.segments {
                sources.push(Source {
                    file: s,
                    checkpoint: Some(cp.index),
                });
            }
            let (old, live): (Vec<_>, Vec<_>) = segs.into_iter().partition(|s| s.seq <= cp.index);
            obsolete = old;
            segs = live;
        }
        sources.extend(segs.into_iter().map(|file| Source {
            file,
            checkpoint: None,
        }));
        let mut r = WlogReader::from_sources(sources);
        r.obsolete = obsolete;
        r.checkpoint = cp;
        Ok(r)
    }

    /// A reader over exactly these sources, in this order (sequence numbers consecutive within a checkpoint
    /// and within the directory).
    pub fn from_sources(sources: Vec<Source>) -> WlogReader {
        WlogReader {
            sources,
            obsolete: Vec::new(),
            checkpoint: None,
            next_idx: 0,
            cur: None,
            page: vec![0u8; PAGE],
            raw: Vec::new(),
            plain: Vec::new(),
            snappy: snap::raw::Decoder::new(),
            series: Vec::new(),
            samples: Vec::new(),
            deletes: Vec::new(),
            stats: Vec::new(),
            skipped: SkippedRecords::default(),
            done: false,
            last_checkpoint: None,
        }
    }

    /// The same reader, expecting the directory segments to continue after checkpoint `cp`.
    pub fn with_checkpoint(mut self, cp: CheckpointDir) -> WlogReader {
        self.checkpoint = Some(cp);
        self
    }

    /// Everything read, in order.
    pub fn sources(&self) -> &[Source] {
        &self.sources
    }

    /// The checkpoint read first, if any.
    pub fn checkpoint(&self) -> Option<&CheckpointDir> {
        self.checkpoint.as_ref()
    }

    /// Directory segments the checkpoint supersedes (left behind by an interrupted truncation); not read.
    pub fn obsolete_segments(&self) -> &[SegmentFile] {
        &self.obsolete
    }

    /// Statistics of every directory segment (not checkpoint segments) read to its end so far.
    pub fn segment_stats(&self) -> &[SegmentStats] {
        &self.stats
    }

    /// The checkpoint index of the record [`next`](Self::next) returned last (`None`: a directory segment).
    pub fn last_checkpoint(&self) -> Option<u64> {
        self.last_checkpoint
    }

    /// Records recognised but not returned (exemplars, metadata, histograms, …), by type.
    pub fn skipped(&self) -> &SkippedRecords {
        &self.skipped
    }

    /// The series of the last [`Kind::Series`] record.
    pub fn series(&self) -> &[RefSeries] {
        &self.series
    }

    /// The samples of the last [`Kind::Samples`] record.
    pub fn samples(&self) -> &[RefSample] {
        &self.samples
    }

    /// The tombstones of the last [`Kind::Tombstones`] record.
    pub fn deletes(&self) -> &[Delete] {
        &self.deletes
    }

    /// The next stored record, `Ok(None)` at the end, or the corruption that stopped reading (after which it
    /// returns `Ok(None)`).
    #[allow(clippy::should_implement_trait)]
    pub fn next(&mut self) -> Result<Option<Located>> {
        if self.done {
            return Ok(None);
        }
        match self.advance() {
            Ok(Some(l)) => {
                self.last_checkpoint = l.checkpoint;
                Ok(Some(l))
            }
            Ok(None) => {
                self.done = true;
                Ok(None)
            }
            Err(e) => {
                self.done = true;
                self.cur = None;
                Err(e)
            }
        }
    }

    fn open_next(&mut self) -> Result<bool> {
        let Some(src) = self.sources.get(self.next_idx).cloned() else {
            return Ok(false);
        };
        let prev = self.next_idx.checked_sub(1).map(|i| &self.sources[i]);
        let expect = match (src.checkpoint, prev) {
            (Some(_), Some(p)) if p.checkpoint == src.checkpoint => Some(p.file.seq + 1),
            (Some(_), _) => None,
            (None, Some(p)) if p.checkpoint.is_none() => Some(p.file.seq + 1),
            (None, _) => self.checkpoint.as_ref().map(|c| c.index + 1),
        };
        if let Some(want) = expect {
            if src.file.seq != want {
                return Err(WalError::wlog_corruption(
                    src.checkpoint,
                    want,
                    0,
                    format!(
                        "segment {} is missing (found {} next)",
                        super::segment_name(want),
                        super::segment_name(src.file.seq)
                    ),
                ));
            }
        }
        self.next_idx += 1;
        let p = &src.file.path;
        let f = File::open(p).map_err(|e| WalError::io("open", p, e))?;
        let file_len = f.metadata().map_err(|e| WalError::io("stat", p, e))?.len();
        self.cur = Some(Cur {
            stats: SegmentStats {
                seq: src.file.seq,
                max_t: i64::MIN,
                min_ref: u64::MAX,
                data_end: 0,
                file_len,
                entries: 0,
                checkpoint: src.checkpoint.is_some(),
            },
            rd: BufReader::with_capacity(16 * PAGE, f),
            file_len,
            page_off: 0,
            page_len: 0,
            pos: 0,
            loaded: false,
            src,
        });
        Ok(true)
    }

    /// Loads the next page of the current segment; false at its end.
    fn load_page(&mut self) -> Result<bool> {
        let Some(c) = self.cur.as_mut() else {
            return Ok(false);
        };
        if c.loaded {
            c.page_off += PAGE_SIZE;
        }
        if c.page_off >= c.file_len {
            return Ok(false);
        }
        let mut n = 0;
        while n < PAGE {
            match c.rd.read(&mut self.page[n..]) {
                Ok(0) => break,
                Ok(k) => n += k,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => return Err(WalError::io("read", &c.src.file.path, e)),
            }
        }
        self.page[n..].fill(0);
        c.page_len = n;
        c.pos = 0;
        c.loaded = true;
        Ok(n > 0)
    }

    fn finish_segment(&mut self) {
        if let Some(c) = self.cur.take() {
            if c.src.checkpoint.is_none() {
                self.stats.push(c.stats);
            }
        }
    }

    fn advance(&mut self) -> Result<Option<Located>> {
        loop {
            if self.cur.is_none() && !self.open_next()? {
                return Ok(None);
            }
            match self.read_record()? {
                Some((offset, len, flag)) => {
                    let Some(c) = self.cur.as_ref() else { continue };
                    let (ck, seq) = (c.src.checkpoint, c.src.file.seq);
                    let kind = match self.decode(flag) {
                        Ok(Some(k)) => k,
                        Ok(None) => continue,
                        Err(reason) => {
                            return Err(WalError::wlog_corruption(ck, seq, offset, reason))
                        }
                    };
                    let Some(c) = self.cur.as_mut() else { continue };
                    c.stats.entries += 1;
                    match kind {
                        Kind::Series => {
                            for s in &self.series {
                                c.stats.min_ref = c.stats.min_ref.min(s.series);
                            }
                        }
                        Kind::Samples => {
                            for s in &self.samples {
                                c.stats.max_t = c.stats.max_t.max(s.t);
                            }
                        }
                        Kind::Tombstones => {
                            for d in &self.deletes {
                                c.stats.max_t = c.stats.max_t.max(d.maxt);
                            }
                        }
                    }
                    return Ok(Some(Located {
                        segment: seq,
                        checkpoint: ck,
                        offset,
                        len,
                        flag,
                        kind,
                    }));
                }
                None => self.finish_segment(),
            }
        }
    }

    /// Assembles the next record of the current segment into `raw`; `None` at the segment's end.
    fn read_record(&mut self) -> Result<Option<(u64, u64, u8)>> {
        self.raw.clear();
        let mut start: Option<(u64, u8)> = None;
        loop {
            let (ck, seq, at, pos) = {
                let Some(c) = self.cur.as_ref() else {
                    return Ok(None);
                };
                (
                    c.src.checkpoint,
                    c.src.file.seq,
                    c.page_off + c.pos as u64,
                    c.pos,
                )
            };
            let need_page = self
                .cur
                .as_ref()
                .is_some_and(|c| !c.loaded || c.pos >= PAGE);
            if need_page {
                if !self.load_page()? {
                    if let Some((first, _)) = start {
                        return Err(WalError::wlog_corruption(
                            ck,
                            seq,
                            first,
                            "torn record: the segment ends before its last fragment",
                        ));
                    }
                    return Ok(None);
                }
                continue;
            }
            let corrupt =
                |off: u64, reason: String| WalError::wlog_corruption(ck, seq, off, reason);
            // Report damage at the start of the record being assembled: everything before it is intact.
            let bad_at = start.map_or(at, |s| s.0);
            if PAGE - pos < HEADER_LEN || self.page[pos] == 0 {
                if let Some(i) = self.page[pos..].iter().position(|&b| b != 0) {
                    return Err(corrupt(
                        bad_at,
                        format!("non-zero byte at offset {} in page padding", at + i as u64),
                    ));
                }
                if start.is_some() {
                    let file_len = self.cur.as_ref().map_or(0, |c| c.file_len);
                    let reason = if at >= file_len {
                        "torn record: the segment ends before its last fragment"
                    } else {
                        "page padding inside a record"
                    };
                    return Err(corrupt(bad_at, reason.into()));
                }
                if let Some(c) = self.cur.as_mut() {
                    c.pos = PAGE;
                }
                continue;
            }
            let h = self.page[pos];
            let typ = h & TYPE_MASK;
            let flag = h & !TYPE_MASK;
            if flag & !(FLAG_SNAPPY | FLAG_ZSTD) != 0 || flag == FLAG_SNAPPY | FLAG_ZSTD {
                return Err(corrupt(
                    bad_at,
                    format!("invalid fragment header byte {h:#04x}"),
                ));
            }
            if typ > LAST || typ == PAGE_TERM {
                return Err(corrupt(
                    bad_at,
                    format!("invalid fragment type {typ} (header byte {h:#04x})"),
                ));
            }
            let len = u16::from_be_bytes([self.page[pos + 1], self.page[pos + 2]]) as usize;
            let want = u32::from_be_bytes([
                self.page[pos + 3],
                self.page[pos + 4],
                self.page[pos + 5],
                self.page[pos + 6],
            ]);
            let end = pos + HEADER_LEN + len;
            if end > PAGE {
                return Err(corrupt(
                    bad_at,
                    format!("fragment of {len} bytes at offset {at} overflows its page"),
                ));
            }
            let page_len = self.cur.as_ref().map_or(0, |c| c.page_len);
            if end > page_len {
                return Err(corrupt(
                    bad_at,
                    format!(
                        "torn fragment at offset {at}: {} bytes claimed, {} left in the segment",
                        HEADER_LEN + len,
                        page_len.saturating_sub(pos)
                    ),
                ));
            }
            let data = &self.page[pos + HEADER_LEN..end];
            let have = crc32c::crc32c(data);
            if have != want {
                return Err(corrupt(
                    bad_at,
                    format!("CRC mismatch in {} fragment at offset {at}: header says {want:#010x}, data gives {have:#010x}", fragment::type_name(typ)),
                ));
            }
            match (typ, start) {
                (FULL | FIRST, None) => start = Some((at, flag)),
                (MIDDLE | LAST, Some((_, f))) if f == flag => {}
                (MIDDLE | LAST, Some(_)) => {
                    return Err(corrupt(
                        bad_at,
                        format!("fragment at offset {at} changes the record's compression"),
                    ))
                }
                _ => {
                    return Err(corrupt(
                        bad_at,
                        format!(
                            "unexpected {} fragment at offset {at}",
                            fragment::type_name(typ)
                        ),
                    ))
                }
            }
            self.raw.extend_from_slice(data);
            if self.raw.len() > codec::MAX_RECORD_LEN {
                return Err(corrupt(bad_at, "record exceeds 1 GiB".into()));
            }
            let Some(c) = self.cur.as_mut() else {
                return Ok(None);
            };
            c.pos = end;
            if typ == FULL || typ == LAST {
                let (first, flag) = start.unwrap_or((at, flag));
                let rec_end = c.page_off + end as u64;
                c.stats.data_end = fragment::page_align(rec_end);
                return Ok(Some((first, rec_end - first, flag)));
            }
        }
    }

    /// Decodes `raw`; `None` for a skipped type.
    fn decode(&mut self, flag: u8) -> std::result::Result<Option<Kind>, String> {
        decompress(flag, &self.raw, &mut self.snappy, &mut self.plain)?;
        let Some((&t, payload)) = self.plain.split_first() else {
            return Err("empty record".into());
        };
        match t {
            codec::SERIES => {
                self.series.clear();
                decode_series_simple(payload, &mut self.series)
                    .map_err(|e| format!("bad series record: {e}"))?;
                Ok(Some(Kind::Series))
            }
            codec::SAMPLES => {
                self.samples.clear();
                decode_samples(payload, &mut self.samples)
                    .map_err(|e| format!("bad samples record: {e}"))?;
                Ok(Some(Kind::Samples))
            }
            codec::SAMPLES_V2 => {
                self.samples.clear();
                codec::decode_samples_v2(payload, &mut self.samples)
                    .map_err(|e| format!("bad samples (v2) record: {e}"))?;
                Ok(Some(Kind::Samples))
            }
            codec::TOMBSTONES => {
                self.deletes.clear();
                decode_deletes(payload, &mut self.deletes)
                    .map_err(|e| format!("bad tombstones record: {e}"))?;
                Ok(Some(Kind::Tombstones))
            }
            t if is_skipped_type(t) => {
                self.skipped.add(t);
                Ok(None)
            }
            t => Err(format!("unknown record type {t}")),
        }
    }
}

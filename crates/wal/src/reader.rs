//! Streaming reader over every record of every segment, in order.
//!
//! The reader stops at the first entry it cannot trust and reports where ([`WalError::Corruption`]): a bad
//! header, an unknown type or flag, a CRC mismatch, a torn (short) entry, a record that does not decode,
//! non-zero bytes after the end-of-data marker, or a missing segment in the sequence. Everything it
//! returned before that was written by a writer: it never invents records.

use std::fs::File;
use std::io::Read;
use std::path::{Path, PathBuf};

use crate::entry::{parse, Parsed};
use crate::error::{Result, WalError};
use crate::record::{
    decode_deletes, decode_samples, decode_series_simple, decode_series_symbolic, decode_symbols,
    Delete, RecordType, RefSample, RefSeries, FLAG_SNAPPY, FLAG_SYMBOLIC,
};
use crate::segment::{decode_header, list_segments, SegmentFile, FLAG_CHECKPOINT, HEADER_LEN};
use crate::symbols::SymbolTable;
use crate::wlog::reader::{Kind, SkippedRecords, WlogReader};
use crate::wlog::CheckpointDir;

const READ_CHUNK: usize = 4 << 20;

/// What the reader learned about one segment it read to the end.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SegmentStats {
    /// Sequence number.
    pub seq: u64,
    /// Highest sample or delete timestamp in it (`i64::MIN` if none).
    pub max_t: i64,
    /// Lowest series ref of its series records (`u64::MAX` if none).
    pub min_ref: u64,
    /// Offset just past its last entry.
    pub data_end: u64,
    /// Its size on disk (larger than `data_end` while preallocated).
    pub file_len: u64,
    /// Number of entries.
    pub entries: u64,
    /// Whether it is a checkpoint written by truncation.
    pub checkpoint: bool,
}

/// A decoded record, borrowing the reader's reusable buffers.
#[derive(Debug)]
pub enum Record<'a> {
    /// Symbols `first .. first + count` were defined (a first id of 0 started a new table).
    Symbols {
        /// First id defined.
        first: u64,
        /// Number of symbols.
        count: u64,
    },
    /// New series.
    Series(&'a [RefSeries]),
    /// Samples.
    Samples(&'a [RefSample]),
    /// Deleted ranges.
    Deletes(&'a [Delete]),
}

/// One entry: where it is, how it was encoded, and its record.
///
/// For a wlog: the record's first fragment (`segment` is the segment inside the checkpoint for checkpoint
/// records), the bytes its fragments span, and the fragments' compression flag (`0x08` snappy, `0x10` zstd).
#[derive(Debug)]
pub struct Entry<'a> {
    /// Segment sequence number.
    pub segment: u64,
    /// Offset of the entry in the segment.
    pub offset: u64,
    /// Length of the entry on disk (header, payload, CRC).
    pub len: u64,
    /// Flag byte.
    pub flag: u8,
    /// The record.
    pub record: Record<'a>,
    /// For a wlog record read from a checkpoint, the checkpoint's index (`segment` is then the segment
    /// inside `checkpoint.NNNNNNNN`); `None` otherwise.
    pub checkpoint: Option<u64>,
    /// Whether the record is from a wlog (which names its segments `%08d`).
    pub wlog: bool,
}

impl Entry<'_> {
    /// The file holding the entry, relative to the WAL directory: `000001` (SegmentWAL), `00000001`
    /// (wlog) or `checkpoint.00000004/00000000` (a wlog checkpoint's segment).
    pub fn file_name(&self) -> String {
        match (self.wlog, self.checkpoint) {
            (true, Some(i)) => format!(
                "{}/{}",
                crate::wlog::checkpoint_name(i),
                crate::wlog::segment_name(self.segment)
            ),
            (true, None) => crate::wlog::segment_name(self.segment),
            (false, _) => crate::segment::segment_name(self.segment),
        }
    }
}

/// Reads a WAL directory from its first live segment to the end of written data.
pub struct WalReader {
    segments: Vec<SegmentFile>,
    obsolete: Vec<SegmentFile>,
    next_idx: usize,
    cur: Option<Current>,
    buf: Vec<u8>,
    pos: usize,
    filled: usize,
    table: SymbolTable,
    plain: Vec<u8>,
    snappy: snap::raw::Decoder,
    series: Vec<RefSeries>,
    samples: Vec<RefSample>,
    deletes: Vec<Delete>,
    stats: Vec<SegmentStats>,
    done: bool,
    /// Samples payloads are CRC-checked but not decoded (see [`WalReader::skipping_samples`]).
    skip_samples: bool,
    /// Set when the directory holds a wlog: every call goes there.
    wlog: Option<Box<WlogReader>>,
    no_skips: SkippedRecords,
}

struct Current {
    file: File,
    path: PathBuf,
    stats: SegmentStats,
    /// File offset of `buf[0]`.
    base: u64,
    eof: bool,
}

/// Where an entry is (segment, offset, length), its flag, and what was decoded.
type Advanced = (u64, u64, u64, u8, Got);

enum Got {
    Symbols(u64, u64),
    Series,
    Samples,
    Deletes,
}

impl WalReader {
    /// Opens the segments of `dir` for reading. A directory without segments (or that does not exist)
    /// reads as empty. Segments below the newest checkpoint are skipped and listed by
    /// [`obsolete_segments`](Self::obsolete_segments).
    ///
    /// A directory holding a wlog ([`crate::detect()`] says [`crate::WalFormat::Wlog`]) is read the wlog way:
    /// its newest checkpoint first, then the segments after it; records this crate does not store are
    /// skipped and counted ([`skipped`](Self::skipped)).
    pub fn open(dir: &Path) -> Result<WalReader> {
        if crate::detect::family(dir)? == crate::detect::Family::Wlog {
            return Ok(WalReader::from_wlog(WlogReader::open(dir)?));
        }
        let all = list_segments(dir)?;
        let mut start = 0;
        for (i, s) in all.iter().enumerate() {
            if let Ok(Ok(flags)) = crate::segment::read_header_flags(&s.path) {
                if flags == FLAG_CHECKPOINT {
                    start = i;
                }
            }
        }
        let mut r = WalReader::from_segments(all[start..].to_vec());
        r.obsolete = all[..start].to_vec();
        Ok(r)
    }

    /// A reader over exactly these segments, in this order (their sequence numbers must be consecutive).
    pub fn from_segments(segments: Vec<SegmentFile>) -> WalReader {
        WalReader {
            segments,
            obsolete: Vec::new(),
            next_idx: 0,
            cur: None,
            buf: Vec::new(),
            pos: 0,
            filled: 0,
            table: SymbolTable::new(),
            plain: Vec::new(),
            snappy: snap::raw::Decoder::new(),
            series: Vec::new(),
            samples: Vec::new(),
            deletes: Vec::new(),
            stats: Vec::new(),
            done: false,
            skip_samples: false,
            wlog: None,
            no_skips: SkippedRecords::default(),
        }
    }

    /// Makes the reader skip the decoding of samples records of SegmentWAL logs: their entries are still
    /// framed and CRC-checked, then come back as an empty [`Record::Samples`]. For readers that need only
    /// series, symbols and deletes (truncation writing a checkpoint), which then cost no decompression.
    pub fn skipping_samples(mut self) -> WalReader {
        self.skip_samples = true;
        self
    }

    /// A reader over a wlog (directory segments only in [`segments`](Self::segments)).
    pub fn from_wlog(w: WlogReader) -> WalReader {
        let segments = w
            .sources()
            .iter()
            .filter(|s| s.checkpoint.is_none())
            .map(|s| s.file.clone())
            .collect();
        let mut r = WalReader::from_segments(segments);
        r.obsolete = w.obsolete_segments().to_vec();
        r.wlog = Some(Box::new(w));
        r
    }

    /// Whether this reader reads a wlog.
    pub fn is_wlog(&self) -> bool {
        self.wlog.is_some()
    }

    /// The wlog checkpoint read before the segments, if any.
    pub fn checkpoint(&self) -> Option<&CheckpointDir> {
        self.wlog.as_ref().and_then(|w| w.checkpoint())
    }

    /// For a wlog, the checkpoint holding the entry [`next`](Self::next) returned last (its `segment` is then
    /// a segment inside `checkpoint.NNNNNNNN`); `None` for a directory segment and for SegmentWAL.
    pub fn entry_checkpoint(&self) -> Option<u64> {
        self.wlog.as_ref().and_then(|w| w.last_checkpoint())
    }

    /// The file of segment `seq` relative to the WAL directory as this reader names it: `000001`
    /// (SegmentWAL), `00000001` (wlog) or `checkpoint.00000004/00000001` (`checkpoint` given).
    pub fn segment_file_name(&self, seq: u64, checkpoint: Option<u64>) -> String {
        match (&self.wlog, checkpoint) {
            (Some(_), Some(i)) => format!(
                "{}/{}",
                crate::wlog::checkpoint_name(i),
                crate::wlog::segment_name(seq)
            ),
            (Some(_), None) => crate::wlog::segment_name(seq),
            (None, _) => crate::segment::segment_name(seq),
        }
    }

    /// Records recognised but not returned so far (wlog exemplars, metadata, histograms, …; always none for
    /// SegmentWAL).
    pub fn skipped(&self) -> &SkippedRecords {
        match &self.wlog {
            Some(w) => w.skipped(),
            None => &self.no_skips,
        }
    }

    /// The live segments, in the order they are read.
    pub fn segments(&self) -> &[SegmentFile] {
        &self.segments
    }

    /// Segments superseded by a checkpoint (left behind by an interrupted truncation); not read.
    pub fn obsolete_segments(&self) -> &[SegmentFile] {
        &self.obsolete
    }

    /// Statistics of every segment read to its end so far.
    pub fn segment_stats(&self) -> &[SegmentStats] {
        if let Some(w) = &self.wlog {
            return w.segment_stats();
        }
        &self.stats
    }

    /// The symbol table as it stands at the current position.
    pub fn symbols(&self) -> &SymbolTable {
        &self.table
    }

    /// The next entry, `Ok(None)` at the end of the log, or the corruption that stopped reading (after
    /// which it returns `Ok(None)`).
    #[allow(clippy::should_implement_trait)]
    pub fn next(&mut self) -> Result<Option<Entry<'_>>> {
        if self.wlog.is_some() {
            return match self.wlog.as_deref_mut() {
                Some(w) => next_wlog(w),
                None => Ok(None),
            };
        }
        if self.done {
            return Ok(None);
        }
        match self.advance() {
            Ok(Some((segment, offset, len, flag, got))) => {
                let record = match got {
                    Got::Symbols(first, count) => Record::Symbols { first, count },
                    Got::Series => Record::Series(&self.series),
                    Got::Samples => Record::Samples(&self.samples),
                    Got::Deletes => Record::Deletes(&self.deletes),
                };
                Ok(Some(Entry {
                    segment,
                    offset,
                    len,
                    flag,
                    record,
                    checkpoint: None,
                    wlog: false,
                }))
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

    fn open_next_segment(&mut self) -> Result<bool> {
        let Some(seg) = self.segments.get(self.next_idx).cloned() else {
            return Ok(false);
        };
        if self.next_idx > 0 {
            let prev = self.segments[self.next_idx - 1].seq;
            if seg.seq != prev + 1 {
                return Err(WalError::corruption(
                    prev + 1,
                    0,
                    format!(
                        "segment {:06} is missing (found {:06} after {:06})",
                        prev + 1,
                        seg.seq,
                        prev
                    ),
                ));
            }
        }
        self.next_idx += 1;
        let mut file = File::open(&seg.path).map_err(|e| WalError::io("open", &seg.path, e))?;
        let file_len = file
            .metadata()
            .map_err(|e| WalError::io("stat", &seg.path, e))?
            .len();
        let mut h = [0u8; HEADER_LEN as usize];
        let n = read_full(&mut file, &mut h).map_err(|e| WalError::io("read", &seg.path, e))?;
        let flags = decode_header(&h[..n]).map_err(|r| WalError::corruption(seg.seq, 0, r))?;
        self.pos = 0;
        self.filled = 0;
        self.cur = Some(Current {
            file,
            path: seg.path,
            stats: SegmentStats {
                seq: seg.seq,
                max_t: i64::MIN,
                min_ref: u64::MAX,
                data_end: HEADER_LEN,
                file_len,
                entries: 0,
                checkpoint: flags == FLAG_CHECKPOINT,
            },
            base: HEADER_LEN,
            eof: false,
        });
        Ok(true)
    }

    /// Reads more of the current segment so that at least `need` bytes are buffered from `pos`.
    /// Returns false at end of file.
    fn fill(&mut self, need: usize) -> Result<bool> {
        let Some(cur) = self.cur.as_mut() else {
            return Ok(false);
        };
        if self.pos > 0 {
            self.buf.copy_within(self.pos..self.filled, 0);
            cur.base += self.pos as u64;
            self.filled -= self.pos;
            self.pos = 0;
        }
        let want = need.max(READ_CHUNK);
        if self.buf.len() < want {
            self.buf.resize(want, 0);
        }
        let mut progressed = false;
        while self.filled < need {
            let n = match cur.file.read(&mut self.buf[self.filled..]) {
                Ok(n) => n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(WalError::io("read", &cur.path, e)),
            };
            if n == 0 {
                cur.eof = true;
                break;
            }
            self.filled += n;
            progressed = true;
        }
        Ok(progressed || self.filled >= need)
    }

    fn finish_segment(&mut self) {
        if let Some(cur) = self.cur.take() {
            self.stats.push(cur.stats);
        }
    }

    /// Checks that everything from `pos` to the end of the segment is zero.
    fn rest_is_zero(&mut self) -> Result<Option<u64>> {
        loop {
            let Some(cur) = self.cur.as_ref() else {
                return Ok(None);
            };
            if let Some(i) = self.buf[self.pos..self.filled].iter().position(|&b| b != 0) {
                return Ok(Some(cur.base + (self.pos + i) as u64));
            }
            if cur.eof {
                return Ok(None);
            }
            self.pos = self.filled;
            if !self.fill(1)? {
                return Ok(None);
            }
        }
    }

    fn advance(&mut self) -> Result<Option<Advanced>> {
        loop {
            if self.cur.is_none() && !self.open_next_segment()? {
                return Ok(None);
            }
            let Some(c) = self.cur.as_ref() else {
                continue;
            };
            let (seq, base, eof, file_len) = (c.stats.seq, c.base, c.eof, c.stats.file_len);
            let offset = base + self.pos as u64;
            match parse(&self.buf[self.pos..self.filled]) {
                Parsed::Entry {
                    typ,
                    flag,
                    payload,
                    len,
                } => {
                    let p = self.pos + payload.start..self.pos + payload.end;
                    let got = self
                        .decode(typ, flag, p)
                        .map_err(|r| WalError::corruption(seq, offset, r))?;
                    self.pos += len;
                    let Some(c) = self.cur.as_mut() else {
                        continue;
                    };
                    c.stats.entries += 1;
                    c.stats.data_end = offset + len as u64;
                    match got {
                        Got::Series => {
                            for s in &self.series {
                                c.stats.min_ref = c.stats.min_ref.min(s.series);
                            }
                        }
                        Got::Samples => {
                            for s in &self.samples {
                                c.stats.max_t = c.stats.max_t.max(s.t);
                            }
                        }
                        Got::Deletes => {
                            for d in &self.deletes {
                                c.stats.max_t = c.stats.max_t.max(d.maxt);
                            }
                        }
                        Got::Symbols(..) => {}
                    }
                    return Ok(Some((seq, offset, len as u64, flag, got)));
                }
                Parsed::End => {
                    if let Some(at) = self.rest_is_zero()? {
                        return Err(WalError::corruption(
                            seq,
                            offset,
                            format!("end-of-data marker followed by non-zero byte at offset {at}"),
                        ));
                    }
                    self.finish_segment();
                }
                Parsed::Incomplete { need } => {
                    let avail = self.filled - self.pos;
                    if avail == 0 {
                        if eof || offset >= file_len {
                            self.finish_segment();
                        } else {
                            self.fill(1)?;
                        }
                        continue;
                    }
                    if eof || offset + need as u64 > file_len {
                        return Err(WalError::corruption(
                            seq,
                            offset,
                            format!(
                                "torn entry: {need} bytes claimed, {} left in the segment",
                                file_len.saturating_sub(offset)
                            ),
                        ));
                    }
                    self.fill(need)?;
                }
                Parsed::Bad(reason) => return Err(WalError::corruption(seq, offset, reason)),
            }
        }
    }

    fn decode(
        &mut self,
        typ: RecordType,
        flag: u8,
        p: std::ops::Range<usize>,
    ) -> std::result::Result<Got, String> {
        if self.skip_samples && typ == RecordType::Samples {
            self.samples.clear();
            return Ok(Got::Samples);
        }
        let payload: &[u8] = if flag & FLAG_SNAPPY != 0 {
            let raw = &self.buf[p];
            let n = snap::raw::decompress_len(raw).map_err(|e| format!("snappy: {e}"))?;
            if self.plain.len() < n {
                self.plain.resize(n, 0);
            }
            let n = self
                .snappy
                .decompress(raw, &mut self.plain)
                .map_err(|e| format!("snappy: {e}"))?;
            &self.plain[..n]
        } else {
            &self.buf[p]
        };
        match typ {
            RecordType::Symbols => {
                let (first, count) = decode_symbols(payload, &mut self.table)
                    .map_err(|e| format!("bad symbols record: {e}"))?;
                Ok(Got::Symbols(first, count))
            }
            RecordType::Series => {
                self.series.clear();
                let r = if flag & FLAG_SYMBOLIC != 0 {
                    decode_series_symbolic(payload, &self.table, &mut self.series)
                } else {
                    decode_series_simple(payload, &mut self.series)
                };
                r.map_err(|e| format!("bad series record: {e}"))?;
                Ok(Got::Series)
            }
            RecordType::Samples => {
                self.samples.clear();
                decode_samples(payload, &mut self.samples)
                    .map_err(|e| format!("bad samples record: {e}"))?;
                Ok(Got::Samples)
            }
            RecordType::Deletes => {
                self.deletes.clear();
                decode_deletes(payload, &mut self.deletes)
                    .map_err(|e| format!("bad deletes record: {e}"))?;
                Ok(Got::Deletes)
            }
        }
    }
}

fn next_wlog(w: &mut WlogReader) -> Result<Option<Entry<'_>>> {
    let Some(l) = w.next()? else {
        return Ok(None);
    };
    let checkpoint = w.last_checkpoint();
    let record = match l.kind {
        Kind::Series => Record::Series(w.series()),
        Kind::Samples => Record::Samples(w.samples()),
        Kind::Tombstones => Record::Deletes(w.deletes()),
    };
    Ok(Some(Entry {
        segment: l.segment,
        offset: l.offset,
        len: l.len,
        flag: l.flag,
        record,
        checkpoint,
        wlog: true,
    }))
}

fn read_full(f: &mut File, b: &mut [u8]) -> std::io::Result<usize> {
    let mut n = 0;
    while n < b.len() {
        match f.read(&mut b[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(n)
}

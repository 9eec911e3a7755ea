//! Entry framing (`type u8 | flag u8 | length u32 BE | payload | CRC32-Castagnoli u32 BE`, the CRC over
//! header and payload) and the [`Encoder`] that turns record batches into framed entries outside any lock.

use crate::error::{Result, WalError};
use crate::options::WalMode;
use crate::record::{
    encode_deletes, encode_samples, encode_series_simple, encode_series_symbolic, encode_symbols,
    Delete, RecordType, RefSample, RefSeries, FLAG_SIMPLE, FLAG_SNAPPY, FLAG_SYMBOLIC,
};
use crate::symbols::Interner;

/// Bytes before the payload.
pub const ENTRY_HEADER_LEN: usize = 6;
/// Bytes after the payload.
pub const ENTRY_CRC_LEN: usize = 4;

/// What is at the start of a byte slice positioned on an entry boundary.
#[derive(Debug, PartialEq, Eq)]
pub enum Parsed {
    /// A whole, checksummed entry: its type, flag, payload range in the slice, and total length.
    Entry {
        /// Entry type.
        typ: RecordType,
        /// Flag byte.
        flag: u8,
        /// Payload position in the slice.
        payload: std::ops::Range<usize>,
        /// Length of the whole entry.
        len: usize,
    },
    /// A zero type byte: the end of written data.
    End,
    /// The slice ends inside the entry; `need` bytes would complete it.
    Incomplete {
        /// Total length the entry claims (header + payload + CRC).
        need: usize,
    },
    /// Not a valid entry.
    Bad(String),
}

/// Parses the entry at the start of `b`.
pub fn parse(b: &[u8]) -> Parsed {
    let Some(&t) = b.first() else {
        return Parsed::Incomplete {
            need: ENTRY_HEADER_LEN,
        };
    };
    if t == 0 {
        return Parsed::End;
    }
    let Some(typ) = RecordType::from_byte(t) else {
        return Parsed::Bad(format!("invalid entry type {t}"));
    };
    if b.len() < ENTRY_HEADER_LEN {
        return Parsed::Incomplete {
            need: ENTRY_HEADER_LEN,
        };
    }
    let flag = b[1];
    if !typ.flag_is_valid(flag) {
        return Parsed::Bad(format!(
            "invalid flag {flag:#04x} for a {} entry",
            typ.name()
        ));
    }
    let plen = u32::from_be_bytes([b[2], b[3], b[4], b[5]]) as usize;
    let len = ENTRY_HEADER_LEN + plen + ENTRY_CRC_LEN;
    if b.len() < len {
        return Parsed::Incomplete { need: len };
    }
    let end = ENTRY_HEADER_LEN + plen;
    let want = u32::from_be_bytes([b[end], b[end + 1], b[end + 2], b[end + 3]]);
    let have = crc32c::crc32c(&b[..end]);
    if want != have {
        return Parsed::Bad(format!(
            "CRC mismatch: entry says {want:#010x}, content gives {have:#010x}"
        ));
    }
    Parsed::Entry {
        typ,
        flag,
        payload: ENTRY_HEADER_LEN..end,
        len,
    }
}

/// What a batch of entries tells about the segment it lands in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BatchStats {
    /// Highest sample or delete timestamp (`i64::MIN` if none).
    pub max_t: i64,
    /// Lowest series ref of a series record (`u64::MAX` if none).
    pub min_ref: u64,
}

impl Default for BatchStats {
    fn default() -> Self {
        BatchStats {
            max_t: i64::MIN,
            min_ref: u64::MAX,
        }
    }
}

impl BatchStats {
    /// Folds `o` into `self`.
    pub fn merge(&mut self, o: BatchStats) {
        self.max_t = self.max_t.max(o.max_t);
        self.min_ref = self.min_ref.min(o.min_ref);
    }
}

/// Encodes record batches into framed entries in its own reusable buffers. One per thread; no locks.
///
/// Empty batches produce no entry (Prometheus writes none either).
pub struct Encoder {
    mode: WalMode,
    out: Vec<u8>,
    scratch: Vec<u8>,
    series_payload: Vec<u8>,
    snappy: snap::raw::Encoder,
    stats: BatchStats,
    /// Wlog mode: each record's range in `out` and its compression flag.
    records: Vec<(std::ops::Range<usize>, u8)>,
}

impl Encoder {
    /// An encoder for `mode`.
    pub fn new(mode: WalMode) -> Self {
        Encoder {
            mode,
            out: Vec::with_capacity(64 * 1024),
            scratch: Vec::new(),
            series_payload: Vec::new(),
            snappy: snap::raw::Encoder::new(),
            stats: BatchStats::default(),
            records: Vec::new(),
        }
    }

    /// The mode this encoder writes.
    pub fn mode(&self) -> WalMode {
        self.mode
    }

    /// Forgets the entries encoded so far.
    pub fn clear(&mut self) {
        self.out.clear();
        self.records.clear();
        self.stats = BatchStats::default();
    }

    /// The framed entries encoded since the last [`clear`](Self::clear). In wlog mode: the records (type
    /// byte and payload, compressed or not) back to back, unframed; see [`wlog_records`](Self::wlog_records).
    pub fn bytes(&self) -> &[u8] {
        &self.out
    }

    /// Wlog mode: the records encoded since the last clear, each with its fragment compression flag
    /// ([`crate::wlog::fragment::FLAG_SNAPPY`] or 0). Empty in the other modes.
    pub fn wlog_records(&self) -> impl ExactSizeIterator<Item = (&[u8], u8)> + '_ {
        self.records.iter().map(|(r, f)| (&self.out[r.clone()], *f))
    }

    /// Statistics of the entries encoded since the last clear.
    pub fn stats(&self) -> BatchStats {
        self.stats
    }

    /// Appends a samples entry.
    pub fn samples(&mut self, samples: &[RefSample]) -> Result<()> {
        if samples.is_empty() {
            return Ok(());
        }
        let mut max_t = self.stats.max_t;
        for s in samples {
            max_t = max_t.max(s.t);
        }
        self.stats.max_t = max_t;
        self.frame(RecordType::Samples, FLAG_SIMPLE, |b| {
            encode_samples(b, samples)
        })
    }

    /// Appends a deletes entry.
    pub fn deletes(&mut self, deletes: &[Delete]) -> Result<()> {
        if deletes.is_empty() {
            return Ok(());
        }
        for d in deletes {
            self.stats.max_t = self.stats.max_t.max(d.maxt);
        }
        self.frame(RecordType::Deletes, FLAG_SIMPLE, |b| {
            encode_deletes(b, deletes)
        })
    }

    /// Appends a series entry with labels spelled out (the only form the Prometheus mode writes).
    pub fn series_simple(&mut self, series: &[RefSeries]) -> Result<()> {
        if series.is_empty() {
            return Ok(());
        }
        self.note_refs(series);
        self.frame(RecordType::Series, FLAG_SIMPLE, |b| {
            encode_series_simple(b, series)
        })
    }

    /// Appends the entries for new series: in native mode a symbols entry for strings `interner` has not
    /// seen, then a series entry with symbol ids; in Prometheus mode a simple series entry.
    /// The caller must log these bytes before any other bytes encoded with the same interner.
    pub fn series(&mut self, series: &[RefSeries], interner: &mut Interner) -> Result<()> {
        if self.mode != WalMode::Native {
            return self.series_simple(series);
        }
        if series.is_empty() {
            return Ok(());
        }
        self.note_refs(series);
        let mut payload = std::mem::take(&mut self.series_payload);
        payload.clear();
        encode_series_symbolic(&mut payload, series, |s| interner.intern(s));
        if let Some((first, syms)) = interner.take_pending() {
            self.frame(RecordType::Symbols, FLAG_SIMPLE, |b| {
                encode_symbols(b, first, syms.iter().map(|s| &**s))
            })?;
        }
        let r = self.frame(RecordType::Series, FLAG_SYMBOLIC, |b| {
            b.extend_from_slice(&payload)
        });
        self.series_payload = payload;
        r
    }

    /// Appends a symbols entry defining `symbols` from id `first` (used when rewriting a log).
    pub fn symbols<'s>(
        &mut self,
        first: u64,
        symbols: impl ExactSizeIterator<Item = &'s str>,
    ) -> Result<()> {
        if symbols.len() == 0 {
            return Ok(());
        }
        self.frame(RecordType::Symbols, FLAG_SIMPLE, |b| {
            encode_symbols(b, first, symbols)
        })
    }

    fn note_refs(&mut self, series: &[RefSeries]) {
        for s in series {
            self.stats.min_ref = self.stats.min_ref.min(s.series);
        }
    }

    /// Frames one entry whose payload `enc` appends; in native mode the payload is snappy-compressed when
    /// that makes it smaller.
    fn frame(&mut self, typ: RecordType, flag: u8, enc: impl FnOnce(&mut Vec<u8>)) -> Result<()> {
        if self.mode == WalMode::Wlog {
            return self.wlog_record(typ, enc);
        }
        let start = self.out.len();
        self.out.extend_from_slice(&[0u8; ENTRY_HEADER_LEN]);
        let mut flag = flag;
        if self.mode == WalMode::Native {
            let mut raw = std::mem::take(&mut self.scratch);
            raw.clear();
            enc(&mut raw);
            let plain = &raw[..];
            let max = snap::raw::max_compress_len(plain.len());
            let at = self.out.len();
            self.out.resize(at + max, 0);
            match self.snappy.compress(plain, &mut self.out[at..]) {
                Ok(n) if n < plain.len() => {
                    self.out.truncate(at + n);
                    flag |= FLAG_SNAPPY;
                }
                _ => {
                    self.out.truncate(at);
                    self.out.extend_from_slice(plain);
                }
            }
            self.scratch = raw;
        } else {
            enc(&mut self.out);
        }
        let plen = self.out.len() - start - ENTRY_HEADER_LEN;
        let Ok(plen32) = u32::try_from(plen) else {
            self.out.truncate(start);
            return Err(WalError::Encode(format!(
                "a {} entry of {plen} bytes exceeds the 4 GiB limit of one entry",
                typ.name()
            )));
        };
        let h = &mut self.out[start..start + ENTRY_HEADER_LEN];
        h[0] = typ as u8;
        h[1] = flag;
        h[2..6].copy_from_slice(&plen32.to_be_bytes());
        let crc = crc32c::crc32c(&self.out[start..]);
        self.out.extend_from_slice(&crc.to_be_bytes());
        Ok(())
    }

    /// Appends one wlog record (type byte, payload), snappy-compressed when that is smaller, as Prometheus
    /// does with compression on (its default since 2.20).
    fn wlog_record(&mut self, typ: RecordType, enc: impl FnOnce(&mut Vec<u8>)) -> Result<()> {
        use crate::wlog::codec;
        let t = match typ {
            RecordType::Series => codec::SERIES,
            RecordType::Samples => codec::SAMPLES,
            RecordType::Deletes => codec::TOMBSTONES,
            RecordType::Symbols => {
                return Err(WalError::Encode(
                    "the wlog format has no symbols records".into(),
                ))
            }
        };
        let mut raw = std::mem::take(&mut self.scratch);
        raw.clear();
        raw.push(t);
        enc(&mut raw);
        let start = self.out.len();
        let flag = if codec::compress_snappy(&mut self.snappy, &raw, &mut self.out) {
            crate::wlog::fragment::FLAG_SNAPPY
        } else {
            self.out.extend_from_slice(&raw);
            0
        };
        self.scratch = raw;
        self.records.push((start..self.out.len(), flag));
        Ok(())
    }
}

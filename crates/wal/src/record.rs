//! Typed records and their payload codecs.
//!
//! Flag-1 ("simple") payloads are byte-identical to those of Prometheus's `SegmentWAL`
//! (`tsdb/wal.go`, v2.42.0):
//! - series: repeated `ref u64 BE | uvarint label count | (uvarint len, name, uvarint len, value)…`
//! - samples: `first ref u64 BE | first t i64 BE`, then per sample
//!   `varint(ref − first ref) | varint(t − first t) | value bits u64 BE`
//! - deletes: repeated `ref u64 BE | varint mint | varint maxt`
//!
//! Native extensions: symbols records (`uvarint first id | uvarint count | (uvarint len, bytes)…`; a record
//! with first id 0 starts a new table) and series records whose labels are symbol ids
//! (`ref u64 BE | uvarint label count | (uvarint name id, uvarint value id)…`, flag [`FLAG_SYMBOLIC`]).
//! Arithmetic on deltas wraps, as Go's does, so every i64 and u64 value round-trips.

use tsdb_labels::Labels;

use crate::symbols::SymbolTable;
use crate::varint::{put_uvarint, put_varint, Cursor};

/// A series reference: the head's identifier of a series, stable for the life of the head.
pub type SeriesRef = u64;

/// Flag bit: Prometheus's "simple" payload codec.
pub const FLAG_SIMPLE: u8 = 0x01;
/// Flag bit: series labels are symbol ids (native mode only).
pub const FLAG_SYMBOLIC: u8 = 0x02;
/// Flag bit: the payload is snappy-compressed (raw block format; native mode only).
pub const FLAG_SNAPPY: u8 = 0x04;

/// Entry type byte of each record kind. Zero is never a type: it marks the end of a segment's data.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum RecordType {
    /// Interned strings (native mode only).
    Symbols = 1,
    /// New series with their labels.
    Series = 2,
    /// Samples of existing series.
    Samples = 3,
    /// Deleted time ranges of series.
    Deletes = 4,
}

impl RecordType {
    /// The record type for an entry type byte, if it is one.
    pub fn from_byte(b: u8) -> Option<RecordType> {
        match b {
            1 => Some(RecordType::Symbols),
            2 => Some(RecordType::Series),
            3 => Some(RecordType::Samples),
            4 => Some(RecordType::Deletes),
            _ => None,
        }
    }

    /// Lower-case name, as `wal dump` prints it.
    pub fn name(self) -> &'static str {
        match self {
            RecordType::Symbols => "symbols",
            RecordType::Series => "series",
            RecordType::Samples => "samples",
            RecordType::Deletes => "deletes",
        }
    }

    /// Whether `flag` is a flag this type may carry.
    pub fn flag_is_valid(self, flag: u8) -> bool {
        let codec = flag & !FLAG_SNAPPY;
        match self {
            RecordType::Series => codec == FLAG_SIMPLE || codec == FLAG_SYMBOLIC,
            _ => codec == FLAG_SIMPLE,
        }
    }
}

/// A series as logged when it is created.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefSeries {
    /// The series reference later samples use.
    pub series: SeriesRef,
    /// Its labels.
    pub labels: Labels,
}

/// One sample of a series.
#[derive(Debug, Clone, Copy)]
pub struct RefSample {
    /// The series reference.
    pub series: SeriesRef,
    /// Timestamp in milliseconds.
    pub t: i64,
    /// Value; NaN payloads are kept bit for bit.
    pub v: f64,
}

impl PartialEq for RefSample {
    /// Bitwise on the value, so NaN equals the same NaN and 0.0 differs from −0.0.
    fn eq(&self, o: &Self) -> bool {
        self.series == o.series && self.t == o.t && self.v.to_bits() == o.v.to_bits()
    }
}

/// A deleted interval `[mint, maxt]` (inclusive, as Prometheus's tombstones) of one series.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Delete {
    /// The series reference.
    pub series: SeriesRef,
    /// First deleted timestamp.
    pub mint: i64,
    /// Last deleted timestamp.
    pub maxt: i64,
}

/// Appends the simple (Prometheus) encoding of `series`.
pub fn encode_series_simple(out: &mut Vec<u8>, series: &[RefSeries]) {
    for s in series {
        out.extend_from_slice(&s.series.to_be_bytes());
        put_uvarint(out, s.labels.len() as u64);
        for (n, v) in s.labels.iter() {
            put_uvarint(out, n.len() as u64);
            out.extend_from_slice(n.as_bytes());
            put_uvarint(out, v.len() as u64);
            out.extend_from_slice(v.as_bytes());
        }
    }
}

/// Appends the symbolic encoding of `series`; `id` maps every label string to its symbol id.
pub fn encode_series_symbolic(
    out: &mut Vec<u8>,
    series: &[RefSeries],
    mut id: impl FnMut(&str) -> u64,
) {
    for s in series {
        out.extend_from_slice(&s.series.to_be_bytes());
        put_uvarint(out, s.labels.len() as u64);
        for (n, v) in s.labels.iter() {
            put_uvarint(out, id(n));
            put_uvarint(out, id(v));
        }
    }
}

/// Appends the encoding of `samples` (Prometheus's simple codec). An empty batch encodes to nothing.
pub fn encode_samples(out: &mut Vec<u8>, samples: &[RefSample]) {
    let Some(first) = samples.first() else { return };
    out.reserve(16 + samples.len() * 14);
    out.extend_from_slice(&first.series.to_be_bytes());
    out.extend_from_slice(&first.t.to_be_bytes());
    for s in samples {
        put_varint(out, (s.series as i64).wrapping_sub(first.series as i64));
        put_varint(out, s.t.wrapping_sub(first.t));
        out.extend_from_slice(&s.v.to_bits().to_be_bytes());
    }
}

/// Appends the encoding of `deletes` (Prometheus's simple codec).
pub fn encode_deletes(out: &mut Vec<u8>, deletes: &[Delete]) {
    for d in deletes {
        out.extend_from_slice(&d.series.to_be_bytes());
        put_varint(out, d.mint);
        put_varint(out, d.maxt);
    }
}

/// Appends a symbols record defining ids `first_id, first_id + 1, …` for `symbols`.
pub fn encode_symbols<'s>(
    out: &mut Vec<u8>,
    first_id: u64,
    symbols: impl ExactSizeIterator<Item = &'s str>,
) {
    put_uvarint(out, first_id);
    put_uvarint(out, symbols.len() as u64);
    for s in symbols {
        put_uvarint(out, s.len() as u64);
        out.extend_from_slice(s.as_bytes());
    }
}

fn labels_from_pairs<'a>(pairs: &[(&'a str, &'a str)]) -> Result<Labels, String> {
    Labels::new(pairs.iter().copied()).map_err(|e| format!("invalid labels: {e}"))
}

/// Decodes a simple series payload, appending to `out`. The error says what was malformed.
pub fn decode_series_simple(b: &[u8], out: &mut Vec<RefSeries>) -> Result<(), String> {
    let mut c = Cursor::new(b);
    let mut local: Vec<(&str, &str)> = Vec::new();
    while c.remaining() > 0 {
        let series = c.be64().ok_or("truncated series ref")?;
        let n = c.uvarint().ok_or("bad label count")?;
        local.clear();
        for _ in 0..n {
            let name = c.uvarint_str().ok_or("bad label name")?;
            let value = c.uvarint_str().ok_or("bad label value")?;
            local.push((name, value));
        }
        let labels = labels_from_pairs(&local)?;
        out.push(RefSeries { series, labels });
    }
    Ok(())
}

/// Decodes a symbolic series payload against `table`, appending to `out`.
pub fn decode_series_symbolic(
    b: &[u8],
    table: &SymbolTable,
    out: &mut Vec<RefSeries>,
) -> Result<(), String> {
    let mut c = Cursor::new(b);
    let mut local: Vec<(&str, &str)> = Vec::new();
    while c.remaining() > 0 {
        let series = c.be64().ok_or("truncated series ref")?;
        let n = c.uvarint().ok_or("bad label count")?;
        local.clear();
        for _ in 0..n {
            let ni = c.uvarint().ok_or("bad label name id")?;
            let vi = c.uvarint().ok_or("bad label value id")?;
            let name = table
                .get(ni)
                .ok_or_else(|| format!("unknown symbol id {ni}"))?;
            let value = table
                .get(vi)
                .ok_or_else(|| format!("unknown symbol id {vi}"))?;
            local.push((name, value));
        }
        let labels = labels_from_pairs(&local)?;
        out.push(RefSeries { series, labels });
    }
    Ok(())
}

/// Decodes a samples payload, appending to `out`.
pub fn decode_samples(b: &[u8], out: &mut Vec<RefSample>) -> Result<(), String> {
    if b.is_empty() {
        return Ok(());
    }
    let mut c = Cursor::new(b);
    let base_ref = c.be64().ok_or("truncated base ref")? as i64;
    let base_t = c.be64().ok_or("truncated base time")? as i64;
    // Each sample takes at least 10 bytes: reserve once, never more than the payload can hold.
    out.reserve(c.remaining() / 10);
    while c.remaining() > 0 {
        let (Some(dr), Some(dt), Some(v)) = (c.varint(), c.varint(), c.be64()) else {
            return Err(format!("truncated sample after {} samples", out.len()));
        };
        out.push(RefSample {
            series: base_ref.wrapping_add(dr) as u64,
            t: base_t.wrapping_add(dt),
            v: f64::from_bits(v),
        });
    }
    Ok(())
}

/// Decodes a deletes payload, appending to `out`.
pub fn decode_deletes(b: &[u8], out: &mut Vec<Delete>) -> Result<(), String> {
    let mut c = Cursor::new(b);
    while c.remaining() > 0 {
        let (Some(series), Some(mint), Some(maxt)) = (c.be64(), c.varint(), c.varint()) else {
            return Err(format!("truncated delete after {} deletes", out.len()));
        };
        out.push(Delete { series, mint, maxt });
    }
    Ok(())
}

/// Decodes a symbols payload into `table`; returns `(first id, count)`.
pub fn decode_symbols(b: &[u8], table: &mut SymbolTable) -> Result<(u64, u64), String> {
    let mut c = Cursor::new(b);
    let first = c.uvarint().ok_or("bad first symbol id")?;
    let count = c.uvarint().ok_or("bad symbol count")?;
    if first == 0 {
        table.clear();
    } else if first != table.len() as u64 {
        return Err(format!(
            "symbols record starts at id {first}, but {} symbols are defined",
            table.len()
        ));
    }
    for i in 0..count {
        let s = c
            .uvarint_str()
            .ok_or_else(|| format!("bad symbol {} of {count}", i))?;
        table.push(s);
    }
    if c.remaining() != 0 {
        return Err(format!("{} unexpected bytes after symbols", c.remaining()));
    }
    Ok((first, count))
}

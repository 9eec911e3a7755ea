//! [`IndexReader`]: reads an index file through a memory map (or from bytes in memory).
//!
//! Opening checks header, TOC, symbol table and postings offset table (lengths, CRCs, order) and
//! keeps in memory the offset of every symbol and of every postings offset entry. Series entries
//! and postings lists are checked (bounds and CRC) when read. Nothing read from the file is
//! trusted: every offset and length is bounds-checked, so damage gives an error, never a panic.

use std::fs::File;
use std::ops::Deref;
use std::path::{Path, PathBuf};

use memmap2::Mmap;
use tsdb_chunks::BlockChunkRef;
use tsdb_labels::Labels;

use super::{ChunkMeta, IndexRef, Toc, HEADER_LEN, INDEX_FORMAT_V2, INDEX_MAGIC, TOC_LEN};
use crate::encoding::{self, DResult, Decbuf, Fault};
use crate::error::{BlockError, Corruption, Result};

enum Backing {
    Mmap(Mmap),
    Bytes(Vec<u8>),
}

impl Deref for Backing {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        match self {
            Backing::Mmap(m) => m,
            Backing::Bytes(b) => b,
        }
    }
}

/// One label name of the postings offset table: its entries are `values[first..end]`.
struct NameEntry {
    name: Box<str>,
    first: usize,
    end: usize,
}

/// One postings offset table entry: where the value string and its postings list are.
#[derive(Clone, Copy)]
struct ValueEntry {
    value_off: u64,
    value_len: u32,
    postings_off: u64,
}

/// Reader of an index file.
pub struct IndexReader {
    path: PathBuf,
    b: Backing,
    toc: Toc,
    /// Absolute offset of every symbol's length prefix.
    symbol_offsets: Vec<u64>,
    names: Vec<NameEntry>,
    values: Vec<ValueEntry>,
    series_start: u64,
    series_end: u64,
}

/// A postings list as stored: big-endian series references, ascending. Borrowed from the file.
#[derive(Debug, Clone, Copy)]
pub struct PostingsList<'a> {
    raw: &'a [u8],
    off: u64,
}

impl<'a> PostingsList<'a> {
    /// An empty list.
    pub fn empty() -> Self {
        PostingsList { raw: &[], off: 0 }
    }

    /// Number of references.
    pub fn len(&self) -> usize {
        self.raw.len() / 4
    }

    /// Whether the list is empty.
    pub fn is_empty(&self) -> bool {
        self.raw.is_empty()
    }

    /// The references in stored order.
    pub fn iter(&self) -> impl Iterator<Item = IndexRef> + 'a {
        self.raw
            .chunks_exact(4)
            .map(|c| u32::from_be_bytes([c[0], c[1], c[2], c[3]]))
    }

    /// The references, checked to be strictly ascending (a damaged list is an error naming
    /// `path` and the list's offset).
    pub fn to_vec_checked(self, path: &Path) -> Result<Vec<IndexRef>> {
        let mut v = Vec::with_capacity(self.len());
        let mut prev: Option<u32> = None;
        for r in self.iter() {
            if prev.is_some_and(|p| p >= r) {
                return Err(BlockError::corrupt(
                    path,
                    self.off,
                    Corruption::OutOfOrder("postings list references"),
                ));
            }
            prev = Some(r);
            v.push(r);
        }
        Ok(v)
    }
}

/// Iterator over the symbol table, in stored (ascending) order.
pub struct Symbols<'a> {
    r: &'a IndexReader,
    i: usize,
}

impl<'a> Iterator for Symbols<'a> {
    type Item = Result<&'a str>;
    fn next(&mut self) -> Option<Self::Item> {
        if self.i >= self.r.symbol_offsets.len() {
            return None;
        }
        let s = self.r.symbol(self.i as u32);
        self.i += 1;
        Some(s)
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        let n = self.r.symbol_offsets.len() - self.i;
        (n, Some(n))
    }
}

impl IndexReader {
    /// Maps the index file at `path` and checks its structure.
    pub fn open(path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref().to_path_buf();
        let f = File::open(&path).map_err(|e| BlockError::io("open", &path, e))?;
        let len = f
            .metadata()
            .map_err(|e| BlockError::io("stat", &path, e))?
            .len();
        if len < (HEADER_LEN + TOC_LEN) as u64 {
            return Err(BlockError::corrupt(&path, 0, Corruption::ShortFile { len }));
        }
        // SAFETY: the file is opened read-only and blocks are immutable once written; like every
        // reader of Prometheus blocks we rely on nobody truncating the file while it is mapped.
        let map = unsafe { Mmap::map(&f) }.map_err(|e| BlockError::io("mmap", &path, e))?;
        Self::from_backing(path, Backing::Mmap(map))
    }

    /// Reads an index held in memory; `path` only names it in errors.
    pub fn from_bytes(bytes: Vec<u8>, path: impl Into<PathBuf>) -> Result<Self> {
        Self::from_backing(path.into(), Backing::Bytes(bytes))
    }

    fn from_backing(path: PathBuf, b: Backing) -> Result<Self> {
        let mut r = IndexReader {
            path,
            b,
            toc: Toc::default(),
            symbol_offsets: Vec::new(),
            names: Vec::new(),
            values: Vec::new(),
            series_start: 0,
            series_end: 0,
        };
        if let Err(f) = r.load() {
            return Err(f.at(&r.path));
        }
        // Loading walked the whole file (symbols, postings offsets, the structure check): hand those
        // pages back, so an open block costs no resident memory until a query reads it.
        r.release_resident_pages();
        Ok(r)
    }

    /// Drops the pages of a mapped index from this process's resident set (they stay in the page cache
    /// and are faulted back in when read). Nothing for an index held in memory.
    pub fn release_resident_pages(&self) {
        if let Backing::Mmap(m) = &self.b {
            // SAFETY: the mapping is read-only and backed by an immutable file: after DONTNEED a read
            // faults the same bytes back in from the file, so no reference into the map sees a change.
            let _ = unsafe { m.unchecked_advise(memmap2::UncheckedAdvice::DontNeed) };
        }
    }

    fn load(&mut self) -> DResult<()> {
        let b: &[u8] = &self.b;
        let len = b.len() as u64;
        if b.len() < HEADER_LEN + TOC_LEN {
            return Err(Fault::new(0, Corruption::ShortFile { len }));
        }
        let mut d = Decbuf::new(b, 0);
        let magic = d.be32()?;
        if magic != INDEX_MAGIC {
            return Err(Fault::new(
                0,
                Corruption::BadMagic {
                    found: magic,
                    expected: INDEX_MAGIC,
                },
            ));
        }
        let version = d.u8()?;
        if version != INDEX_FORMAT_V2 {
            return Err(Fault::new(4, Corruption::BadVersion(version)));
        }

        // TOC.
        let toc_off = len - TOC_LEN as u64;
        let toc_bytes = &b[toc_off as usize..];
        let stored =
            u32::from_be_bytes([toc_bytes[48], toc_bytes[49], toc_bytes[50], toc_bytes[51]]);
        encoding::check_crc(&toc_bytes[..48], stored, toc_off)?;
        let mut d = Decbuf::new(toc_bytes, toc_off);
        let toc = Toc {
            symbols: d.be64()?,
            series: d.be64()?,
            label_indices: d.be64()?,
            label_indices_table: d.be64()?,
            postings: d.be64()?,
            postings_table: d.be64()?,
        };
        for (what, off) in [
            ("symbols", toc.symbols),
            ("series", toc.series),
            ("label indices", toc.label_indices),
            ("label offset table", toc.label_indices_table),
            ("postings", toc.postings),
            ("postings offset table", toc.postings_table),
        ] {
            if off != 0 && (off < HEADER_LEN as u64 || off > toc_off) {
                return Err(Fault::new(
                    toc_off,
                    Corruption::Inconsistent(format!(
                        "TOC offset of {what} {off} outside the file"
                    )),
                ));
            }
        }
        self.toc = toc;

        // Series section bounds: from its start to the next section (or the TOC).
        self.series_start = toc.series;
        self.series_end = [
            toc.label_indices,
            toc.label_indices_table,
            toc.postings,
            toc.postings_table,
            toc_off,
        ]
        .into_iter()
        .filter(|&o| o >= toc.series)
        .min()
        .unwrap_or(toc_off);

        // Symbols.
        if toc.symbols != 0 {
            let (body, body_off) = section(b, toc.symbols)?;
            let mut d = Decbuf::new(body, body_off);
            let count = d.be32()? as usize;
            // Each symbol takes at least one byte: a count beyond that is damage.
            if count > d.remaining() {
                return Err(Fault::new(
                    toc.symbols,
                    Corruption::Inconsistent(format!(
                        "{count} symbols cannot fit {} bytes",
                        d.remaining()
                    )),
                ));
            }
            let mut offsets = Vec::with_capacity(count);
            let mut prev: Option<&[u8]> = None;
            for _ in 0..count {
                let at = d.offset();
                let s = d.uvarint_bytes()?;
                if prev.is_some_and(|p| p >= s) {
                    return Err(Fault::new(at, Corruption::OutOfOrder("symbols")));
                }
                prev = Some(s);
                offsets.push(at);
            }
            self.symbol_offsets = offsets;
        }

        // Postings offset table.
        if toc.postings_table != 0 {
            let (body, body_off) = section(b, toc.postings_table)?;
            let mut d = Decbuf::new(body, body_off);
            let count = d.be32()? as usize;
            if count > d.remaining() / 4 {
                return Err(Fault::new(
                    toc.postings_table,
                    Corruption::Inconsistent(format!(
                        "{count} postings offset entries cannot fit {} bytes",
                        d.remaining()
                    )),
                ));
            }
            let mut names: Vec<NameEntry> = Vec::new();
            let mut values: Vec<ValueEntry> = Vec::with_capacity(count);
            let mut prev: Option<(&[u8], &[u8])> = None;
            for _ in 0..count {
                let at = d.offset();
                let keys = d.uvarint()?;
                if keys != 2 {
                    return Err(Fault::new(
                        at,
                        Corruption::Inconsistent(format!(
                            "postings offset entry with {keys} keys, expected 2"
                        )),
                    ));
                }
                let name_at = d.offset();
                let name = d.uvarint_bytes()?;
                let value_len_at = d.offset();
                let value = d.uvarint_bytes()?;
                let value_off = d.offset() - value.len() as u64;
                let postings_off = d.uvarint()?;
                if prev.is_some_and(|p| p >= (name, value)) {
                    return Err(Fault::new(
                        at,
                        Corruption::OutOfOrder("postings offset table"),
                    ));
                }
                prev = Some((name, value));
                if std::str::from_utf8(value).is_err() {
                    return Err(Fault::new(value_len_at, Corruption::InvalidUtf8));
                }
                if names.last().map(|n| n.name.as_bytes()) != Some(name) {
                    let Ok(name) = std::str::from_utf8(name) else {
                        return Err(Fault::new(name_at, Corruption::InvalidUtf8));
                    };
                    if let Some(last) = names.last_mut() {
                        last.end = values.len();
                    }
                    names.push(NameEntry {
                        name: name.into(),
                        first: values.len(),
                        end: values.len(),
                    });
                }
                values.push(ValueEntry {
                    value_off,
                    value_len: value.len() as u32,
                    postings_off,
                });
            }
            if let Some(last) = names.last_mut() {
                last.end = values.len();
            }
            self.names = names;
            self.values = values;
        }
        Ok(())
    }

    /// The file this reader reads.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Size of the index file in bytes.
    pub fn size(&self) -> u64 {
        self.b.len() as u64
    }

    /// The table of contents.
    pub fn toc(&self) -> Toc {
        self.toc
    }

    /// Number of symbols.
    pub fn num_symbols(&self) -> usize {
        self.symbol_offsets.len()
    }

    /// The symbol with reference `i`.
    pub fn symbol(&self, i: u32) -> Result<&str> {
        let Some(&at) = self.symbol_offsets.get(i as usize) else {
            return Err(BlockError::corrupt(
                &self.path,
                self.toc.symbols,
                Corruption::UnknownSymbol(i as u64),
            ));
        };
        let b: &[u8] = &self.b;
        Decbuf::new(b.get(at as usize..).unwrap_or(&[]), at)
            .uvarint_str()
            .map_err(|f| f.at(&self.path))
    }

    /// The symbols, ascending.
    pub fn symbols(&self) -> Symbols<'_> {
        Symbols { r: self, i: 0 }
    }

    /// Label names of the index, ascending (the empty all-series name excluded).
    pub fn label_names(&self) -> Vec<&str> {
        self.names
            .iter()
            .map(|n| &*n.name)
            .filter(|n| !n.is_empty())
            .collect()
    }

    fn name_entry(&self, name: &str) -> Option<&NameEntry> {
        self.names
            .binary_search_by(|n| (*n.name).cmp(name))
            .ok()
            .map(|i| &self.names[i])
    }

    fn value_bytes(&self, e: &ValueEntry) -> DResult<&[u8]> {
        encoding::range(&self.b, e.value_off, e.value_len as u64)
    }

    fn value_str(&self, e: &ValueEntry) -> Result<&str> {
        let b = self.value_bytes(e).map_err(|f| f.at(&self.path))?;
        std::str::from_utf8(b)
            .map_err(|_| BlockError::corrupt(&self.path, e.value_off, Corruption::InvalidUtf8))
    }

    /// The values of label `name`, ascending (empty if the name is unknown).
    pub fn label_values(&self, name: &str) -> Result<Vec<&str>> {
        let Some(n) = self.name_entry(name) else {
            return Ok(Vec::new());
        };
        let mut out = Vec::with_capacity(n.end - n.first);
        for e in self.values.get(n.first..n.end).unwrap_or(&[]) {
            out.push(self.value_str(e)?);
        }
        Ok(out)
    }

    /// Calls `f` with each value of `name` and its postings offset entry, ascending.
    pub(crate) fn for_each_value(
        &self,
        name: &str,
        mut f: impl FnMut(&str, u64) -> Result<()>,
    ) -> Result<()> {
        let Some(n) = self.name_entry(name) else {
            return Ok(());
        };
        for e in self.values.get(n.first..n.end).unwrap_or(&[]) {
            f(self.value_str(e)?, e.postings_off)?;
        }
        Ok(())
    }

    /// The postings list for `name="value"` (empty if the pair is unknown).
    pub fn postings(&self, name: &str, value: &str) -> Result<PostingsList<'_>> {
        let Some(n) = self.name_entry(name) else {
            return Ok(PostingsList::empty());
        };
        let entries = self.values.get(n.first..n.end).unwrap_or(&[]);
        let mut err = None;
        let found = entries.binary_search_by(|e| match self.value_bytes(e) {
            Ok(v) => v.cmp(value.as_bytes()),
            Err(f) => {
                err.get_or_insert(f);
                std::cmp::Ordering::Less
            }
        });
        if let Some(f) = err {
            return Err(f.at(&self.path));
        }
        match found {
            Ok(i) => self.postings_at(entries[i].postings_off),
            Err(_) => Ok(PostingsList::empty()),
        }
    }

    /// The list of every series, ascending.
    pub fn all_postings(&self) -> Result<PostingsList<'_>> {
        self.postings("", "")
    }

    /// The postings list whose section starts at `off`.
    pub(crate) fn postings_at(&self, off: u64) -> Result<PostingsList<'_>> {
        self.postings_raw(off).map_err(|f| f.at(&self.path))
    }

    fn postings_raw(&self, off: u64) -> DResult<PostingsList<'_>> {
        let (body, body_off) = section(&self.b, off)?;
        let mut d = Decbuf::new(body, body_off);
        let n = d.be32()? as usize;
        if d.remaining() != n.saturating_mul(4) {
            return Err(Fault::new(
                off,
                Corruption::Inconsistent(format!(
                    "postings list of {n} entries in {} bytes",
                    d.remaining()
                )),
            ));
        }
        Ok(PostingsList {
            raw: &body[4..],
            off,
        })
    }

    /// Reads series `r`: returns its labels and fills `chunks` (cleared first) with its chunk
    /// metas.
    pub fn series(&self, r: IndexRef, chunks: &mut Vec<ChunkMeta>) -> Result<Labels> {
        chunks.clear();
        let off = r as u64 * 16;
        let body = self.series_body(r).map_err(|f| f.at(&self.path))?;
        let mut d = Decbuf::new(body.0, body.1);
        let fault = |f: Fault| f.at(&self.path);
        let nlabels = d.uvarint_len().map_err(fault)?;
        if nlabels > d.remaining() / 2 {
            return Err(BlockError::corrupt(
                &self.path,
                off,
                Corruption::Inconsistent(format!("{nlabels} labels cannot fit the series entry")),
            ));
        }
        let mut pairs: Vec<(&str, &str)> = Vec::with_capacity(nlabels);
        for _ in 0..nlabels {
            let n = d.uvarint32().map_err(fault)?;
            let v = d.uvarint32().map_err(fault)?;
            pairs.push((self.symbol(n)?, self.symbol(v)?));
        }
        for w in pairs.windows(2) {
            if w[0].0 >= w[1].0 {
                return Err(BlockError::corrupt(
                    &self.path,
                    off,
                    Corruption::OutOfOrder("series label names"),
                ));
            }
        }
        let labels = Labels::new(pairs).map_err(|e| {
            BlockError::corrupt(&self.path, off, Corruption::InvalidLabels(e.to_string()))
        })?;

        let nchunks = d.uvarint_len().map_err(fault)?;
        if nchunks > d.remaining() / 3 {
            return Err(BlockError::corrupt(
                &self.path,
                off,
                Corruption::Inconsistent(format!("{nchunks} chunks cannot fit the series entry")),
            ));
        }
        if nchunks > 0 {
            chunks.reserve(nchunks);
            let mint = d.varint().map_err(fault)?;
            let maxt = (d.uvarint().map_err(fault)? as i64).wrapping_add(mint);
            let mut r0 = d.uvarint().map_err(fault)?;
            chunks.push(ChunkMeta {
                min_time: mint,
                max_time: maxt,
                chunk_ref: BlockChunkRef(r0),
            });
            let mut t0 = maxt;
            for _ in 1..nchunks {
                let mint = (d.uvarint().map_err(fault)? as i64).wrapping_add(t0);
                let maxt = (d.uvarint().map_err(fault)? as i64).wrapping_add(mint);
                r0 = (r0 as i64).wrapping_add(d.varint().map_err(fault)?) as u64;
                chunks.push(ChunkMeta {
                    min_time: mint,
                    max_time: maxt,
                    chunk_ref: BlockChunkRef(r0),
                });
                t0 = maxt;
            }
        }
        Ok(labels)
    }

    /// Checks every section of the file against its CRC: besides what [`IndexReader::open`]
    /// checks, every series entry (walking the series section), every label index (through the
    /// label offset table) and every postings list (through the postings offset table).
    pub fn verify(&self) -> Result<()> {
        self.verify_inner().map_err(|f| f.at(&self.path))
    }

    fn verify_inner(&self) -> DResult<()> {
        let b: &[u8] = &self.b;
        // Series: 16-byte aligned entries, zero padding between them.
        if self.series_start != 0 {
            let area = encoding::range(b, self.series_start, self.series_end - self.series_start)?;
            let mut d = Decbuf::new(area, self.series_start);
            while d.remaining() > 0 {
                let at = d.offset();
                if !at.is_multiple_of(16) {
                    if d.u8()? != 0 {
                        return Err(Fault::new(
                            at,
                            Corruption::Inconsistent("non-zero padding between series".into()),
                        ));
                    }
                    continue;
                }
                // Padding at the end of the section may be 16-aligned too.
                if area[(at - self.series_start) as usize..]
                    .iter()
                    .all(|&x| x == 0)
                {
                    break;
                }
                let r = u32::try_from(at / 16)
                    .map_err(|_| Fault::new(at, Corruption::BadSeriesRef(at / 16)))?;
                let (body, _) = self.series_body(r)?;
                let len_size = encoding::uvarint_size(body.len() as u64);
                d = Decbuf::new(encoding::range(b, at, self.series_end - at)?, at);
                d.bytes(len_size + body.len() + 4)?;
            }
        }
        // Label indices, through the label offset table.
        if self.toc.label_indices_table != 0 {
            let (body, body_off) = section(b, self.toc.label_indices_table)?;
            let mut d = Decbuf::new(body, body_off);
            let n = d.be32()?;
            for _ in 0..n {
                let at = d.offset();
                let keys = d.uvarint()?;
                if keys != 1 {
                    return Err(Fault::new(
                        at,
                        Corruption::Inconsistent(format!("label offset entry with {keys} keys")),
                    ));
                }
                d.uvarint_str()?;
                let off = d.uvarint()?;
                let (li, _) = section(b, off)?;
                let mut ld = Decbuf::new(li, off + 4);
                let names = ld.be32()? as u64;
                let entries = ld.be32()? as u64;
                if names != 1 || ld.remaining() as u64 != entries.saturating_mul(4) {
                    return Err(Fault::new(
                        off,
                        Corruption::Inconsistent("label index size".into()),
                    ));
                }
            }
            if d.remaining() != 0 {
                return Err(Fault::new(
                    d.offset(),
                    Corruption::Inconsistent("bytes after the label offset entries".into()),
                ));
            }
        }
        // Postings lists.
        for e in &self.values {
            let p = self.postings_raw(e.postings_off)?;
            let mut prev = None;
            for r in p.iter() {
                if prev.is_some_and(|x| x >= r) {
                    return Err(Fault::new(
                        e.postings_off,
                        Corruption::OutOfOrder("postings list references"),
                    ));
                }
                prev = Some(r);
            }
        }
        Ok(())
    }

    /// The CRC-checked body of series `r` and its absolute offset.
    fn series_body(&self, r: IndexRef) -> DResult<(&[u8], u64)> {
        let off = r as u64 * 16;
        if off < self.series_start || off >= self.series_end || self.series_start == 0 {
            return Err(Fault::new(off, Corruption::BadSeriesRef(r as u64)));
        }
        let area = encoding::range(&self.b, off, self.series_end - off)?;
        let mut d = Decbuf::new(area, off);
        let len = d.uvarint()?;
        let body_off = d.offset();
        if len.saturating_add(4) > d.remaining() as u64 {
            return Err(Fault::new(
                off,
                Corruption::OutOfBounds {
                    needed: len.saturating_add(4),
                    available: d.remaining() as u64,
                },
            ));
        }
        let body = d.bytes(len as usize)?;
        let stored = d.be32()?;
        encoding::check_crc(body, stored, off)?;
        Ok((body, body_off))
    }
}

/// The body of the `len(BE32) | body | CRC` section at `off`, CRC checked; and the body's offset.
fn section(b: &[u8], off: u64) -> DResult<(&[u8], u64)> {
    let len_bytes = encoding::range(b, off, 4)?;
    let len = u32::from_be_bytes([len_bytes[0], len_bytes[1], len_bytes[2], len_bytes[3]]) as u64;
    let body_off = off.saturating_add(4);
    let body = encoding::range(b, body_off, len).map_err(|f| Fault::new(off, f.reason))?;
    let crc = encoding::range(b, body_off.saturating_add(len), 4)
        .map_err(|f| Fault::new(off, f.reason))?;
    let stored = u32::from_be_bytes([crc[0], crc[1], crc[2], crc[3]]);
    encoding::check_crc(body, stored, off)?;
    Ok((body, body_off))
}

//! [`IndexWriter`]: writes an index file in one sequential pass.

use std::collections::HashMap;
use std::fs::File;
use std::hash::BuildHasherDefault;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use tsdb_labels::{xxh64, Labels};

use super::{ChunkMeta, IndexRef, Toc, HEADER_LEN, INDEX_FORMAT_V2, INDEX_MAGIC};
use crate::encoding::{put_uvarint, put_uvarint_str, put_varint, uvarint_size};
use crate::error::{BlockError, Result};

/// Writes an index file (format v2).
///
/// Use: [`IndexWriter::create`] with every symbol (label name or value) the series will use,
/// sorted and distinct; [`IndexWriter::add_series`] for each series in ascending label order;
/// [`IndexWriter::finish`], which writes label indices, postings, offset tables and the TOC and
/// fsyncs the file. Memory held: the symbols and one 4-byte entry per label of every series
/// (the postings), as the postings section follows the series section.
pub struct IndexWriter {
    path: PathBuf,
    out: BufWriter<File>,
    pos: u64,
    toc: Toc,
    /// Sorted, distinct symbols; a symbol's reference is its position.
    symbols: Vec<Box<str>>,
    /// Position of each symbol by the XXH64 of its bytes (the first of colliding ones; the others are
    /// found by binary search): every label of every series is looked up, so this is the hot path.
    by_hash: HashMap<u64, u32, BuildHasherDefault<Prehashed>>,
    /// (name symbol << 32 | value symbol) → series references, ascending.
    postings: HashMap<u64, Vec<u32>>,
    all: Vec<u32>,
    last: Option<Labels>,
    buf: Vec<u8>,
}

impl IndexWriter {
    /// Creates (or truncates) the index file at `path` and writes its header and symbol table.
    ///
    /// # Errors
    /// [`BlockError::InvalidArgument`] if the symbols are not strictly ascending or the table exceeds
    /// 4 GiB; [`BlockError::Io`] on file errors.
    pub fn create<I, S>(path: impl AsRef<Path>, symbols: I) -> Result<Self>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let path = path.as_ref().to_path_buf();
        let mut syms: Vec<Box<str>> = Vec::new();
        for s in symbols {
            let s = s.as_ref();
            if let Some(prev) = syms.last() {
                if **prev >= *s {
                    return Err(BlockError::InvalidArgument(format!(
                        "index symbols not strictly ascending: {prev:?} then {s:?}"
                    )));
                }
            }
            syms.push(s.into());
        }
        let mut by_hash = HashMap::with_capacity_and_hasher(syms.len(), Default::default());
        for (i, s) in syms.iter().enumerate() {
            by_hash.entry(xxh64(s.as_bytes(), 0)).or_insert(i as u32);
        }
        let f = File::create(&path).map_err(|e| BlockError::io("create", &path, e))?;
        let mut w = IndexWriter {
            path,
            out: BufWriter::with_capacity(1 << 20, f),
            pos: 0,
            toc: Toc::default(),
            symbols: syms,
            by_hash,
            postings: HashMap::new(),
            all: Vec::new(),
            last: None,
            buf: Vec::with_capacity(1 << 12),
        };
        let mut head = Vec::with_capacity(HEADER_LEN);
        head.extend_from_slice(&INDEX_MAGIC.to_be_bytes());
        head.push(INDEX_FORMAT_V2);
        w.write(&head)?;
        w.write_symbols()?;
        w.toc.series = w.pos;
        Ok(w)
    }

    fn write(&mut self, b: &[u8]) -> Result<()> {
        self.out
            .write_all(b)
            .map_err(|e| BlockError::io("write", &self.path, e))?;
        self.pos += b.len() as u64;
        Ok(())
    }

    fn pad(&mut self, align: u64) -> Result<()> {
        let rem = self.pos % align;
        if rem != 0 {
            let zeros = [0u8; 16];
            self.write(&zeros[..(align - rem) as usize])?;
        }
        Ok(())
    }

    /// Writes `len(BE32) | body | CRC(body)` where `body` is in `self.buf`.
    fn write_section_from_buf(&mut self) -> Result<()> {
        let body = std::mem::take(&mut self.buf);
        let len = u32::try_from(body.len()).map_err(|_| {
            BlockError::InvalidArgument(format!(
                "index section of {} bytes exceeds 4 GiB",
                body.len()
            ))
        })?;
        let crc = crc32c::crc32c(&body);
        let res = self
            .write(&len.to_be_bytes())
            .and_then(|()| self.write(&body))
            .and_then(|()| self.write(&crc.to_be_bytes()));
        self.buf = body;
        self.buf.clear();
        res
    }

    fn write_symbols(&mut self) -> Result<()> {
        self.toc.symbols = self.pos;
        let count = u32::try_from(self.symbols.len())
            .map_err(|_| BlockError::InvalidArgument("more than 2^32 symbols".into()))?;
        let mut body = Vec::with_capacity(
            4 + self
                .symbols
                .iter()
                .map(|s| s.len() + uvarint_size(s.len() as u64))
                .sum::<usize>(),
        );
        body.extend_from_slice(&count.to_be_bytes());
        for s in &self.symbols {
            put_uvarint_str(&mut body, s);
        }
        self.buf = body;
        self.write_section_from_buf()
    }

    fn symbol(&self, s: &str) -> Result<u32> {
        if let Some(&i) = self.by_hash.get(&xxh64(s.as_bytes(), 0)) {
            if self.symbols.get(i as usize).is_some_and(|x| **x == *s) {
                return Ok(i);
            }
        }
        self.symbols
            .binary_search_by(|x| (**x).cmp(s))
            .map(|i| i as u32)
            .map_err(|_| {
                BlockError::InvalidArgument(format!("symbol {s:?} missing from the index symbols"))
            })
    }

    /// Adds a series with its chunk metas; returns its reference (offset / 16).
    ///
    /// # Errors
    /// [`BlockError::SeriesOutOfOrder`] unless `labels` sorts after the previous series;
    /// [`BlockError::InvalidArgument`] for a label string missing from the symbols, chunk metas out of
    /// time order or overlapping, or an index past the 64 GiB that 32-bit references address.
    pub fn add_series(&mut self, labels: &Labels, chunks: &[ChunkMeta]) -> Result<IndexRef> {
        if let Some(prev) = &self.last {
            if labels <= prev {
                return Err(BlockError::SeriesOutOfOrder {
                    labels: labels.to_string(),
                    previous: prev.to_string(),
                });
            }
        }
        for w in chunks.windows(2) {
            if w[1].min_time <= w[0].max_time {
                return Err(BlockError::InvalidArgument(format!(
                    "series {labels}: chunk starting at {} overlaps the previous chunk ending at {}",
                    w[1].min_time, w[0].max_time
                )));
            }
        }
        if let Some(c) = chunks.iter().find(|c| c.min_time > c.max_time) {
            return Err(BlockError::InvalidArgument(format!(
                "series {labels}: chunk min time {} after max time {}",
                c.min_time, c.max_time
            )));
        }
        self.pad(16)?;
        let r = u32::try_from(self.pos / 16).map_err(|_| {
            BlockError::InvalidArgument(
                "index exceeds the 64 GiB that series references address".into(),
            )
        })?;

        let mut body = std::mem::take(&mut self.buf);
        body.clear();
        put_uvarint(&mut body, labels.len() as u64);
        for (n, v) in labels.iter() {
            let ns = self.symbol(n)?;
            let vs = self.symbol(v)?;
            put_uvarint(&mut body, ns as u64);
            put_uvarint(&mut body, vs as u64);
            self.postings
                .entry((ns as u64) << 32 | vs as u64)
                .or_default()
                .push(r);
        }
        put_uvarint(&mut body, chunks.len() as u64);
        if let Some(first) = chunks.first() {
            put_varint(&mut body, first.min_time);
            put_uvarint(
                &mut body,
                first.max_time.wrapping_sub(first.min_time) as u64,
            );
            put_uvarint(&mut body, first.chunk_ref.0);
            let mut t0 = first.max_time;
            let mut ref0 = first.chunk_ref.0 as i64;
            for c in &chunks[1..] {
                put_uvarint(&mut body, c.min_time.wrapping_sub(t0) as u64);
                put_uvarint(&mut body, c.max_time.wrapping_sub(c.min_time) as u64);
                put_varint(&mut body, (c.chunk_ref.0 as i64).wrapping_sub(ref0));
                t0 = c.max_time;
                ref0 = c.chunk_ref.0 as i64;
            }
        }
        let mut lenbuf = Vec::with_capacity(10);
        put_uvarint(&mut lenbuf, body.len() as u64);
        let crc = crc32c::crc32c(&body);
        let res = self
            .write(&lenbuf)
            .and_then(|()| self.write(&body))
            .and_then(|()| self.write(&crc.to_be_bytes()));
        self.buf = body;
        res?;
        self.all.push(r);
        self.last = Some(labels.clone());
        Ok(r)
    }

    /// Number of series added so far.
    pub fn num_series(&self) -> usize {
        self.all.len()
    }

    /// Writes the remaining sections and the TOC, flushes and fsyncs; returns the file size.
    pub fn finish(mut self) -> Result<u64> {
        // Postings keys in (name, value) order: symbol references order like their strings.
        let mut keys: Vec<u64> = self.postings.keys().copied().collect();
        keys.sort_unstable();

        // Label indices: one per name, listing its values.
        self.toc.label_indices = self.pos;
        let mut label_index_offsets: Vec<(u32, u64)> = Vec::new();
        let mut i = 0;
        while i < keys.len() {
            let name = (keys[i] >> 32) as u32;
            let mut j = i;
            while j < keys.len() && (keys[j] >> 32) as u32 == name {
                j += 1;
            }
            self.pad(4)?;
            label_index_offsets.push((name, self.pos));
            self.buf.clear();
            self.buf.extend_from_slice(&1u32.to_be_bytes());
            self.buf.extend_from_slice(&((j - i) as u32).to_be_bytes());
            for k in &keys[i..j] {
                self.buf.extend_from_slice(&(*k as u32).to_be_bytes());
            }
            self.write_section_from_buf()?;
            i = j;
        }

        // Postings: the all-series list first, then by (name, value).
        self.pad(4)?;
        self.toc.postings = self.pos;
        let mut postings_offsets: Vec<(Option<u64>, u64)> = Vec::with_capacity(keys.len() + 1);
        let all = std::mem::take(&mut self.all);
        postings_offsets.push((None, self.pos));
        self.write_postings(&all)?;
        for k in &keys {
            let list = self.postings.remove(k).unwrap_or_default();
            self.pad(4)?;
            postings_offsets.push((Some(*k), self.pos));
            self.write_postings(&list)?;
        }

        // Label offset table.
        self.toc.label_indices_table = self.pos;
        let mut body = Vec::new();
        body.extend_from_slice(&(label_index_offsets.len() as u32).to_be_bytes());
        for (name, off) in &label_index_offsets {
            put_uvarint(&mut body, 1);
            put_uvarint_str(&mut body, self.sym_str(*name));
            put_uvarint(&mut body, *off);
        }
        self.buf = body;
        self.write_section_from_buf()?;

        // Postings offset table.
        self.toc.postings_table = self.pos;
        let mut body = Vec::new();
        body.extend_from_slice(&(postings_offsets.len() as u32).to_be_bytes());
        for (key, off) in &postings_offsets {
            let (n, v) = match key {
                None => ("", ""),
                Some(k) => (self.sym_str((k >> 32) as u32), self.sym_str(*k as u32)),
            };
            put_uvarint(&mut body, 2);
            put_uvarint_str(&mut body, n);
            put_uvarint_str(&mut body, v);
            put_uvarint(&mut body, *off);
        }
        self.buf = body;
        self.write_section_from_buf()?;

        let toc = self.toc.encode();
        self.write(&toc)?;
        let path = self.path;
        let f = self
            .out
            .into_inner()
            .map_err(|e| BlockError::io("flush", &path, e.into_error()))?;
        tsdb_failpoint::point("block.index.fsync");
        f.sync_all()
            .map_err(|e| BlockError::io("fsync", &path, e))?;
        Ok(self.pos)
    }

    fn sym_str(&self, i: u32) -> &str {
        self.symbols.get(i as usize).map(|s| &**s).unwrap_or("")
    }

    fn write_postings(&mut self, list: &[u32]) -> Result<()> {
        self.buf.clear();
        self.buf.reserve(4 + 4 * list.len());
        self.buf
            .extend_from_slice(&(list.len() as u32).to_be_bytes());
        for r in list {
            self.buf.extend_from_slice(&r.to_be_bytes());
        }
        self.write_section_from_buf()
    }
}

/// A hasher for keys that already are well-mixed 64-bit hashes: it passes them through.
#[derive(Default)]
struct Prehashed(u64);

impl std::hash::Hasher for Prehashed {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        // Only u64 keys are hashed through this; fold anything else in for completeness.
        for b in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(*b);
        }
    }
    fn write_u64(&mut self, n: u64) {
        self.0 = n;
    }
}

//! Head chunk files: `chunks_head/000001 …` (Prometheus `tsdb/docs/format/head_chunks.md`).
//!
//! A file is the 8-byte header (magic `0x0130BC91`, version 1, 3 zero bytes) followed by records
//! `series ref u64 | mint u64 | maxt u64 | encoding u8 | uvarint len | data | CRC32-Castagnoli`,
//! all big-endian, the CRC covering everything of the record before it. A record is referenced by
//! `file sequence number << 32 | offset` (file `000003` is sequence 3), as Prometheus does.
//!
//! [`HeadChunkFiles`] is what the head uses: it appends full chunks (buffered, behind a mutex),
//! reads any chunk by reference (memory-mapped files, or the write buffer for the newest chunks),
//! replays everything on start-up, and deletes old files.

use std::collections::BTreeMap;
use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use memmap2::Mmap;
use parking_lot::{Mutex, RwLock};

use crate::encoding::Encoding;
use crate::error::{ChunkError, Corruption, Result};
use crate::files::{self, HEADER_SIZE};
use crate::varint::{self, Uvarint};
use crate::xor::XorChunk;

/// Magic number of head chunk files.
pub const HEAD_CHUNKS_MAGIC: u32 = 0x0130_BC91;
/// Default size at which a new head chunk file is started: 128 MiB.
pub const DEFAULT_HEAD_FILE_SIZE: u64 = 128 * 1024 * 1024;
/// Default size of the write buffer: 4 MiB.
pub const DEFAULT_WRITE_BUFFER_SIZE: usize = 4 * 1024 * 1024;

/// Series ref, mint, maxt and encoding: the fixed part of a record before the length varint.
const FIXED: usize = 8 + 8 + 8 + 1;
const CRC_SIZE: usize = 4;

/// Reference of a chunk in the head chunk files: file sequence number in the high 32 bits, byte
/// offset of the record in the low 32.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct HeadChunkRef(pub u64);

impl HeadChunkRef {
    /// Packs a file sequence number and a byte offset.
    pub fn new(seq: u32, offset: u32) -> Self {
        HeadChunkRef((seq as u64) << 32 | offset as u64)
    }
    /// Sequence number of the file (the number in its name).
    pub fn seq(self) -> u32 {
        (self.0 >> 32) as u32
    }
    /// Byte offset of the record in its file.
    pub fn offset(self) -> u32 {
        self.0 as u32
    }
}

/// Settings of [`HeadChunkFiles`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HeadFilesOptions {
    /// A new file is started when the next record would make the current one larger than this
    /// (a record larger than the limit still goes into a file of its own). `9 ..= 4 GiB`.
    pub max_file_size: u64,
    /// Records are collected in memory until this many bytes are pending, then written to the
    /// file in one system call. 0 writes every record at once.
    pub write_buffer_size: usize,
    /// Open for reading only: nothing in the directory is created, deleted or truncated (damage
    /// found by replay, a bad or short file header included, is reported but not cut), and writes
    /// fail.
    pub read_only: bool,
}

impl Default for HeadFilesOptions {
    fn default() -> Self {
        HeadFilesOptions {
            max_file_size: DEFAULT_HEAD_FILE_SIZE,
            write_buffer_size: DEFAULT_WRITE_BUFFER_SIZE,
            read_only: false,
        }
    }
}

/// A chunk read back by reference. Its bytes stay valid as long as the value lives, even if the
/// file is deleted meanwhile (they borrow a shared memory map, or are a copy of the write buffer).
#[derive(Debug, Clone)]
pub struct HeadChunk {
    /// Series reference written with the chunk.
    pub series_ref: u64,
    /// Minimum time written with the chunk.
    pub mint: i64,
    /// Maximum time written with the chunk.
    pub maxt: i64,
    /// Encoding byte written with the chunk.
    pub encoding: Encoding,
    data: ChunkBytes,
}

#[derive(Debug, Clone)]
enum ChunkBytes {
    Mapped(Arc<Mmap>, Range<usize>),
    Owned(Vec<u8>),
}

impl HeadChunk {
    /// The chunk bytes (CRC checked when read).
    pub fn data(&self) -> &[u8] {
        match &self.data {
            ChunkBytes::Mapped(map, range) => map.get(range.clone()).unwrap_or(&[]),
            ChunkBytes::Owned(v) => v,
        }
    }
}

/// One chunk met during [`HeadChunkFiles::replay`]; the bytes borrow the file's memory map.
#[derive(Debug, Clone, Copy)]
pub struct ReplayedChunk<'a> {
    /// Series reference written with the chunk.
    pub series_ref: u64,
    /// Minimum time written with the chunk.
    pub mint: i64,
    /// Maximum time written with the chunk.
    pub maxt: i64,
    /// Where the chunk lives; valid for [`HeadChunkFiles::chunk`].
    pub chunk_ref: HeadChunkRef,
    /// Encoding byte written with the chunk.
    pub encoding: Encoding,
    /// The chunk bytes, CRC checked.
    pub data: &'a [u8],
}

/// Where replay stopped on damaged data, and what was cut away to repair it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Damage {
    /// The damaged file.
    pub path: PathBuf,
    /// Its sequence number.
    pub seq: u32,
    /// Offset of the first record that did not check out; the file was truncated here.
    pub offset: u64,
    /// What was wrong there.
    pub reason: Corruption,
    /// Bytes removed from the damaged file.
    pub truncated_bytes: u64,
    /// Later files that were deleted (their chunks come after the damage).
    pub removed_files: Vec<PathBuf>,
}

/// Outcome of [`HeadChunkFiles::replay`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReplayReport {
    /// Files walked.
    pub files: usize,
    /// Chunks handed to the callback.
    pub chunks: u64,
    /// `Some` if replay stopped early on damaged or torn data (typically the torn tail of the last
    /// file after a crash). Every chunk before that point was replayed.
    pub damage: Option<Damage>,
}

struct MappedFile {
    path: PathBuf,
    map: Arc<Mmap>,
    /// Bytes of the file that are written and may be read through `map`.
    readable: usize,
    /// Largest maxt of the file's chunks (`i64::MIN` if none); `None` until known.
    maxt: Option<i64>,
}

/// A file whose 8-byte header is short or wrong.
#[derive(Debug, Clone)]
struct BadHeader {
    path: PathBuf,
    len: u64,
    reason: Corruption,
}

struct Current {
    seq: u32,
    path: PathBuf,
    file: File,
    /// Logical end of the file, pending bytes included.
    offset: u64,
    /// Bytes already handed to the operating system.
    flushed: u64,
    pending: Vec<u8>,
    maxt: i64,
}

struct WriterState {
    cur: Option<Current>,
    next_seq: u64,
    cut_pending: bool,
    wrote: bool,
    closed: bool,
}

/// The head chunk files of one `chunks_head/` directory: writer, reader, replay and truncation.
///
/// Thread-safe: writes are serialized by a mutex held only to copy a record into the write
/// buffer (and, every `write_buffer_size` bytes, to hand the buffer to the OS); reads of flushed
/// chunks take a read lock just long enough to clone a shared map.
///
/// Durability: a file is fsynced when it is left for the next one and at [`HeadChunkFiles::close`]
/// ([`HeadChunkFiles::sync`] forces it). New files are created with their header, fsynced and the
/// directory fsynced; so are deletions. Writes after open always go to a new file, so a torn
/// tail left by a crash is never appended to.
pub struct HeadChunkFiles {
    dir: PathBuf,
    opts: HeadFilesOptions,
    files: RwLock<BTreeMap<u32, MappedFile>>,
    /// Files whose header does not check out, by sequence number: not mapped, left for replay to
    /// report (and, when writable, remove).
    bad_headers: Mutex<BTreeMap<u32, BadHeader>>,
    writer: Mutex<WriterState>,
    closed: AtomicBool,
}

impl HeadChunkFiles {
    /// Opens (creating if needed) the head chunk directory `dir` and maps its files.
    ///
    /// File numbers must be consecutive, else this fails. A file whose header is short (0 bytes
    /// included) or wrong does not fail the open: its chunks are unreadable, and [`replay`]
    /// reports it as damage at offset 0 (and, unless read-only, removes it with every later file).
    ///
    /// [`replay`]: HeadChunkFiles::replay
    pub fn open(dir: impl AsRef<Path>, opts: HeadFilesOptions) -> Result<Self> {
        let dir = dir.as_ref().to_path_buf();
        if opts.max_file_size <= HEADER_SIZE as u64 || opts.max_file_size > u32::MAX as u64 {
            return Err(ChunkError::InvalidArgument {
                path: dir,
                reason: format!(
                    "max file size {} outside 9..=4294967295",
                    opts.max_file_size
                ),
            });
        }
        if !opts.read_only {
            fs::create_dir_all(&dir).map_err(|e| ChunkError::io("create directory", &dir, e))?;
        }
        let list = files::list_sequence_files(&dir)?;
        for pair in list.windows(2) {
            if pair[1].0 != pair[0].0 + 1 {
                return Err(ChunkError::NotSequential {
                    dir,
                    prev: pair[0].0,
                    next: pair[1].0,
                });
            }
        }
        let mut map = BTreeMap::new();
        let mut bad_headers = BTreeMap::new();
        for (seq, path) in &list {
            let Ok(seq32) = u32::try_from(*seq) else {
                return Err(ChunkError::InvalidArgument {
                    path: path.clone(),
                    reason: "file sequence number does not fit 32 bits".into(),
                });
            };
            let mapped = files::map_whole(path).and_then(|(m, len)| {
                files::check_header(path, &m, HEAD_CHUNKS_MAGIC).map(|()| (m, len))
            });
            let (m, len) = match mapped {
                Ok(x) => x,
                Err(ChunkError::Corrupt { reason, .. }) => {
                    let len = fs::metadata(path)
                        .map_err(|e| ChunkError::io("stat", path, e))?
                        .len();
                    bad_headers.insert(
                        seq32,
                        BadHeader {
                            path: path.clone(),
                            len,
                            reason,
                        },
                    );
                    continue;
                }
                Err(e) => return Err(e),
            };
            map.insert(
                seq32,
                MappedFile {
                    path: path.clone(),
                    map: Arc::new(m),
                    readable: len as usize,
                    maxt: None,
                },
            );
        }
        let next_seq = list.last().map_or(1, |(s, _)| s + 1);
        Ok(HeadChunkFiles {
            dir,
            opts,
            files: RwLock::new(map),
            bad_headers: Mutex::new(bad_headers),
            writer: Mutex::new(WriterState {
                cur: None,
                next_seq,
                cut_pending: false,
                wrote: false,
                closed: false,
            }),
            closed: AtomicBool::new(false),
        })
    }

    /// The directory of the files.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Sequence numbers of the files present, ascending.
    pub fn file_seqs(&self) -> Vec<u32> {
        self.files.read().keys().copied().collect()
    }

    /// Appends a full chunk of series `series_ref` (not 0: a zero series ref, mint and maxt mark
    /// the end of data in Prometheus's format) covering `[mint, maxt]`, and returns its reference.
    ///
    /// The chunk is readable by [`HeadChunkFiles::chunk`] at once; it reaches the OS when the write
    /// buffer fills (or on [`HeadChunkFiles::flush`]) and the disk when its file is left or on
    /// [`HeadChunkFiles::sync`]. References stay valid across file cuts until the file is deleted
    /// by [`HeadChunkFiles::truncate_before`].
    pub fn write_chunk(
        &self,
        series_ref: u64,
        mint: i64,
        maxt: i64,
        encoding: Encoding,
        data: &[u8],
    ) -> Result<HeadChunkRef> {
        self.refuse_read_only()?;
        if series_ref == 0 {
            return Err(ChunkError::InvalidArgument {
                path: self.dir.clone(),
                reason: "series ref 0 is reserved".into(),
            });
        }
        let Ok(len32) = u32::try_from(data.len()) else {
            return Err(ChunkError::InvalidArgument {
                path: self.dir.clone(),
                reason: format!("chunk of {} bytes is too large", data.len()),
            });
        };
        let mut meta = [0u8; FIXED + varint::MAX_LEN_64];
        meta[0..8].copy_from_slice(&series_ref.to_be_bytes());
        meta[8..16].copy_from_slice(&mint.to_be_bytes());
        meta[16..24].copy_from_slice(&maxt.to_be_bytes());
        meta[24] = encoding.0;
        let mut lenbuf = [0u8; varint::MAX_LEN_64];
        let n = varint::put_uvarint(&mut lenbuf, len32 as u64);
        meta[FIXED..FIXED + n].copy_from_slice(&lenbuf[..n]);
        let meta = &meta[..FIXED + n];
        let crc = crc32c::crc32c_append(crc32c::crc32c(meta), data);
        let size = (meta.len() + data.len() + CRC_SIZE) as u64;

        let mut guard = self.writer.lock();
        let w = &mut *guard;
        if w.closed {
            return Err(ChunkError::Closed {
                dir: self.dir.clone(),
            });
        }
        let keep = match &w.cur {
            Some(c) => {
                !w.cut_pending
                    && (c.offset == HEADER_SIZE as u64
                        || c.offset + size <= self.opts.max_file_size)
            }
            None => false,
        };
        let cur = match (keep, w.cur.as_mut()) {
            (true, Some(c)) => c,
            _ => {
                let c = self.new_file(w)?;
                w.cur.insert(c)
            }
        };
        let Ok(offset) = u32::try_from(cur.offset) else {
            return Err(ChunkError::InvalidArgument {
                path: cur.path.clone(),
                reason: format!("offset {} does not fit a chunk reference", cur.offset),
            });
        };
        cur.pending.extend_from_slice(meta);
        cur.pending.extend_from_slice(data);
        cur.pending.extend_from_slice(&crc.to_be_bytes());
        cur.offset += size;
        cur.maxt = cur.maxt.max(maxt);
        let chunk_ref = HeadChunkRef::new(cur.seq, offset);
        if cur.pending.len() >= self.opts.write_buffer_size {
            self.flush_current(cur)?;
        }
        w.wrote = true;
        Ok(chunk_ref)
    }

    /// Appends an XOR chunk; see [`HeadChunkFiles::write_chunk`].
    pub fn write_xor(
        &self,
        series_ref: u64,
        mint: i64,
        maxt: i64,
        chunk: &XorChunk,
    ) -> Result<HeadChunkRef> {
        self.write_chunk(series_ref, mint, maxt, Encoding::XOR, chunk.bytes())
    }

    /// Leaves the current file (flushed and fsynced) and creates the next one.
    fn new_file(&self, w: &mut WriterState) -> Result<Current> {
        if let Some(old) = w.cur.as_mut() {
            self.flush_current(old)?;
            old.file
                .sync_all()
                .map_err(|e| ChunkError::io("fsync", &old.path, e))?;
            if let Some(f) = self.files.write().get_mut(&old.seq) {
                f.maxt = Some(old.maxt);
            }
        }
        w.cur = None;
        let seq = w.next_seq;
        let Ok(seq32) = u32::try_from(seq) else {
            return Err(ChunkError::InvalidArgument {
                path: self.dir.clone(),
                reason: "file sequence numbers exhausted".into(),
            });
        };
        let (path, file) = files::create_segment(&self.dir, seq, HEAD_CHUNKS_MAGIC)?;
        w.next_seq += 1;
        w.cut_pending = false;
        // Map the whole size the file may reach, so flushes need no remapping.
        let map = files::map(&path, &file, self.opts.max_file_size as usize)?;
        self.files.write().insert(
            seq32,
            MappedFile {
                path: path.clone(),
                map: Arc::new(map),
                readable: HEADER_SIZE,
                maxt: Some(i64::MIN),
            },
        );
        Ok(Current {
            seq: seq32,
            path,
            file,
            offset: HEADER_SIZE as u64,
            flushed: HEADER_SIZE as u64,
            pending: Vec::new(),
            maxt: i64::MIN,
        })
    }

    /// Hands the pending bytes of the current file to the OS and makes them readable via the map.
    fn flush_current(&self, cur: &mut Current) -> Result<()> {
        if cur.pending.is_empty() {
            return Ok(());
        }
        if let Err(e) = cur.file.write_all(&cur.pending) {
            // Drop whatever part got written, so a retry appends at the right offset.
            let _ = cur.file.set_len(cur.flushed);
            return Err(ChunkError::io("write", &cur.path, e));
        }
        cur.flushed += cur.pending.len() as u64;
        cur.pending.clear();
        let mut files = self.files.write();
        if let Some(f) = files.get_mut(&cur.seq) {
            let flushed = cur.flushed as usize;
            if flushed > f.map.len() {
                // Only a record larger than the file size limit gets here.
                f.map = Arc::new(files::map(&cur.path, &cur.file, flushed)?);
            }
            f.readable = flushed;
        }
        Ok(())
    }

    /// Hands buffered chunks to the operating system (no fsync).
    pub fn flush(&self) -> Result<()> {
        let mut w = self.writer.lock();
        match w.cur.as_mut() {
            Some(cur) => self.flush_current(cur),
            None => Ok(()),
        }
    }

    /// Flushes buffered chunks and fsyncs the current file.
    pub fn sync(&self) -> Result<()> {
        let mut w = self.writer.lock();
        match w.cur.as_mut() {
            Some(cur) => {
                self.flush_current(cur)?;
                cur.file
                    .sync_all()
                    .map_err(|e| ChunkError::io("fsync", &cur.path, e))
            }
            None => Ok(()),
        }
    }

    /// Makes the next write start a new file.
    pub fn cut_new_file(&self) {
        self.writer.lock().cut_pending = true;
    }

    /// Reads the chunk at `r`, checking its CRC.
    ///
    /// Errors: [`ChunkError::UnknownFile`] if the file does not exist (deleted or never written),
    /// [`ChunkError::Corrupt`] if the bytes there are damaged or `r` points past the written data,
    /// [`ChunkError::Closed`] after [`HeadChunkFiles::close`].
    pub fn chunk(&self, r: HeadChunkRef) -> Result<HeadChunk> {
        let off = r.offset() as usize;
        let mut last_readable = 0;
        for _ in 0..2 {
            if self.closed.load(Ordering::Acquire) {
                return Err(ChunkError::Closed {
                    dir: self.dir.clone(),
                });
            }
            {
                let files = self.files.read();
                let Some(f) = files.get(&r.seq()) else {
                    return Err(ChunkError::UnknownFile {
                        dir: self.dir.clone(),
                        chunk_ref: r.0,
                        file: r.seq() as u64,
                    });
                };
                if off < f.readable {
                    let bytes = f.map.get(..f.readable).unwrap_or(&[]);
                    let rec = parse_at(bytes, off, true)
                        .map_err(|reason| ChunkError::corrupt(&f.path, off as u64, reason))?;
                    return Ok(HeadChunk {
                        series_ref: rec.series_ref,
                        mint: rec.mint,
                        maxt: rec.maxt,
                        encoding: rec.encoding,
                        data: ChunkBytes::Mapped(Arc::clone(&f.map), rec.data),
                    });
                }
                last_readable = f.readable;
            }
            // Not flushed yet: look in the write buffer (or retry if it was flushed meanwhile).
            let w = self.writer.lock();
            if let Some(cur) = &w.cur {
                if cur.seq == r.seq() && off as u64 >= cur.flushed && (off as u64) < cur.offset {
                    let local = off - cur.flushed as usize;
                    let rec = parse_at(&cur.pending, local, false)
                        .map_err(|reason| ChunkError::corrupt(&cur.path, off as u64, reason))?;
                    return Ok(HeadChunk {
                        series_ref: rec.series_ref,
                        mint: rec.mint,
                        maxt: rec.maxt,
                        encoding: rec.encoding,
                        data: ChunkBytes::Owned(cur.pending[rec.data].to_vec()),
                    });
                }
            }
        }
        Err(ChunkError::corrupt(
            files::segment_path(&self.dir, r.seq() as u64),
            off as u64,
            Corruption::Truncated {
                needed: (FIXED + 1 + CRC_SIZE) as u64,
                available: last_readable.saturating_sub(off) as u64,
            },
        ))
    }

    /// Walks every chunk of every file in file and offset order, calling `f` for each.
    ///
    /// Stops at the first record that does not check out (a torn tail after a crash, or damage),
    /// and repairs the directory so that it reads cleanly next time: the damaged file is truncated
    /// at that record and later files are deleted; [`ReplayReport::damage`] says what was cut. A
    /// file whose header is short or wrong is damage at offset 0: it is deleted with every later
    /// file (`truncated_bytes` is its length). Read-only, nothing is changed on disk: what follows
    /// the damage is only left unread. A
    /// zeroed series ref, mint and maxt (preallocated space in files written by Prometheus) end a
    /// file cleanly. Must run before the first write through this handle; it may run more than once.
    pub fn replay<F>(&self, mut f: F) -> Result<ReplayReport>
    where
        F: FnMut(ReplayedChunk<'_>),
    {
        let mut w = self.writer.lock();
        if w.closed {
            return Err(ChunkError::Closed {
                dir: self.dir.clone(),
            });
        }
        if w.wrote {
            return Err(ChunkError::InvalidArgument {
                path: self.dir.clone(),
                reason: "replay must run before the first write".into(),
            });
        }
        let snapshot: Vec<(u32, PathBuf, Arc<Mmap>, usize)> = self
            .files
            .read()
            .iter()
            .map(|(s, m)| (*s, m.path.clone(), Arc::clone(&m.map), m.readable))
            .collect();
        let mut report = ReplayReport::default();
        let first_bad = self
            .bad_headers
            .lock()
            .iter()
            .next()
            .map(|(s, b)| (*s, b.clone()));
        for (seq, path, map, readable) in snapshot {
            if first_bad.as_ref().is_some_and(|(b, _)| *b < seq) {
                break;
            }
            let bytes = map.get(..readable).unwrap_or(&[]);
            report.files += 1;
            let (maxt, stop) = walk_file(bytes, |at, rec| {
                report.chunks += 1;
                f(ReplayedChunk {
                    series_ref: rec.series_ref,
                    mint: rec.mint,
                    maxt: rec.maxt,
                    chunk_ref: HeadChunkRef::new(seq, at as u32),
                    encoding: rec.encoding,
                    data: bytes.get(rec.data.clone()).unwrap_or(&[]),
                });
            });
            if let Some(m) = self.files.write().get_mut(&seq) {
                m.maxt = Some(maxt);
            }
            if let Some((at, reason)) = stop {
                report.damage = Some(if self.opts.read_only {
                    self.forget_after(seq, path, at, readable, reason)
                } else {
                    self.repair(&mut w, seq, path, at, readable, reason)?
                });
                break;
            }
        }
        if let (None, Some((seq, bad))) = (&report.damage, first_bad) {
            report.files += 1;
            report.damage = Some(self.drop_bad_header(&mut w, seq, bad)?);
        }
        Ok(report)
    }

    /// Header damage of file `seq`: removes it and every later file (in memory only when read-only).
    fn drop_bad_header(&self, w: &mut WriterState, seq: u32, bad: BadHeader) -> Result<Damage> {
        let later: Vec<PathBuf> = {
            let mut files = self.files.write();
            let mut bads = self.bad_headers.lock();
            let mut seqs: Vec<u32> = files.range(seq..).map(|(s, _)| *s).collect();
            seqs.extend(bads.range(seq + 1..).map(|(s, _)| *s));
            seqs.sort_unstable();
            bads.remove(&seq);
            seqs.into_iter()
                .filter_map(|s| {
                    files
                        .remove(&s)
                        .map(|m| m.path)
                        .or_else(|| bads.remove(&s).map(|b| b.path))
                })
                .collect()
        };
        if !self.opts.read_only {
            for p in std::iter::once(&bad.path).chain(&later) {
                fs::remove_file(p).map_err(|e| ChunkError::io("remove", p, e))?;
            }
            files::sync_dir(&self.dir)?;
            w.next_seq = seq as u64;
        }
        Ok(Damage {
            path: bad.path,
            seq,
            offset: 0,
            reason: bad.reason,
            truncated_bytes: bad.len,
            removed_files: later,
        })
    }

    /// Read-only counterpart of `repair`: stops reading file `seq` at `at` and forgets later files, in
    /// memory only.
    fn forget_after(
        &self,
        seq: u32,
        path: PathBuf,
        at: usize,
        readable: usize,
        reason: Corruption,
    ) -> Damage {
        let mut files = self.files.write();
        if let Some(m) = files.get_mut(&seq) {
            m.readable = at;
        }
        let later: Vec<u32> = files.range(seq + 1..).map(|(s, _)| *s).collect();
        let mut removed: Vec<PathBuf> = later
            .into_iter()
            .filter_map(|s| files.remove(&s).map(|m| m.path))
            .collect();
        removed.extend(self.take_bad_headers_after(seq));
        removed.sort();
        Damage {
            path,
            seq,
            offset: at as u64,
            reason,
            truncated_bytes: (readable - at) as u64,
            removed_files: removed,
        }
    }

    /// Forgets the files with a bad header numbered after `seq`, returning their paths.
    fn take_bad_headers_after(&self, seq: u32) -> Vec<PathBuf> {
        let mut bads = self.bad_headers.lock();
        let later: Vec<u32> = bads.range(seq + 1..).map(|(s, _)| *s).collect();
        later
            .into_iter()
            .filter_map(|s| bads.remove(&s).map(|b| b.path))
            .collect()
    }

    fn refuse_read_only(&self) -> Result<()> {
        if self.opts.read_only {
            return Err(ChunkError::InvalidArgument {
                path: self.dir.clone(),
                reason: "head chunk files are open read-only".into(),
            });
        }
        Ok(())
    }

    /// Truncates file `seq` at `at` and deletes every later file.
    fn repair(
        &self,
        w: &mut WriterState,
        seq: u32,
        path: PathBuf,
        at: usize,
        readable: usize,
        reason: Corruption,
    ) -> Result<Damage> {
        let f = OpenOptions::new()
            .write(true)
            .open(&path)
            .map_err(|e| ChunkError::io("open", &path, e))?;
        f.set_len(at as u64)
            .map_err(|e| ChunkError::io("truncate", &path, e))?;
        tsdb_failpoint::point("chunks.head.fsync");
        f.sync_all()
            .map_err(|e| ChunkError::io("fsync", &path, e))?;
        let later: Vec<(u32, PathBuf)> = {
            let mut files = self.files.write();
            if let Some(m) = files.get_mut(&seq) {
                m.readable = at;
            }
            let later: Vec<u32> = files.range(seq + 1..).map(|(s, _)| *s).collect();
            let mut later: Vec<(u32, PathBuf)> = later
                .into_iter()
                .filter_map(|s| files.remove(&s).map(|m| (s, m.path)))
                .collect();
            later.extend(self.take_bad_headers_after(seq).into_iter().map(|p| (0, p)));
            later.sort_by(|a, b| a.1.cmp(&b.1));
            later
        };
        for (_, p) in &later {
            fs::remove_file(p).map_err(|e| ChunkError::io("remove", p, e))?;
        }
        files::sync_dir(&self.dir)?;
        w.next_seq = seq as u64 + 1;
        Ok(Damage {
            path,
            seq,
            offset: at as u64,
            reason,
            truncated_bytes: (readable - at) as u64,
            removed_files: later.into_iter().map(|(_, p)| p).collect(),
        })
    }

    /// Drops the pages of every mapped file from this process's resident set: after persistence read
    /// the full chunks of a range, they would otherwise stay counted until the files are deleted. The
    /// pages stay in the page cache; a later read faults them back in. Bytes not yet flushed to the file
    /// are not in the mappings and are not affected.
    pub fn release_resident_pages(&self) {
        let maps: Vec<Arc<Mmap>> = self.files.read().values().map(|f| f.map.clone()).collect();
        for m in maps {
            // SAFETY: read-only mappings of files that are only appended to: after DONTNEED a read
            // faults the same bytes back in from the file, so no chunk slice handed out sees a change.
            let _ = unsafe { m.unchecked_advise(memmap2::UncheckedAdvice::DontNeed) };
        }
    }

    /// Deletes the oldest files whose chunks all end before `mint` (their maxt `< mint`), and
    /// returns how many were deleted. Files are deleted in order, stopping at the first one that
    /// must stay, so the remaining numbers stay consecutive; the file being written is never
    /// deleted, but if it holds chunks the next write starts a new file so that it can be later.
    /// References into deleted files become [`ChunkError::UnknownFile`].
    pub fn truncate_before(&self, mint: i64) -> Result<usize> {
        self.refuse_read_only()?;
        let mut w = self.writer.lock();
        if w.closed {
            return Err(ChunkError::Closed {
                dir: self.dir.clone(),
            });
        }
        let cur_seq = w.cur.as_ref().map(|c| c.seq);
        let candidates: Vec<(u32, Option<i64>, Arc<Mmap>, usize)> = self
            .files
            .read()
            .iter()
            .filter(|(s, _)| Some(**s) != cur_seq)
            .map(|(s, m)| (*s, m.maxt, Arc::clone(&m.map), m.readable))
            .collect();
        let mut doomed = Vec::new();
        for (seq, maxt, map, readable) in candidates {
            let maxt = match maxt {
                Some(m) => Some(m),
                None => {
                    let bytes = map.get(..readable).unwrap_or(&[]);
                    let (m, stop) = walk_file(bytes, |_, _| {});
                    // A damaged file's extent is unknown: keep it.
                    let known = stop.is_none().then_some(m);
                    if let (Some(m), Some(f)) = (known, self.files.write().get_mut(&seq)) {
                        f.maxt = Some(m);
                    }
                    known
                }
            };
            match maxt {
                Some(m) if m < mint => doomed.push(seq),
                _ => break,
            }
        }
        if let Some(cur) = &w.cur {
            if cur.offset > HEADER_SIZE as u64 {
                w.cut_pending = true;
            }
        }
        let removed: Vec<PathBuf> = {
            let mut files = self.files.write();
            doomed
                .iter()
                .filter_map(|s| files.remove(s).map(|m| m.path))
                .collect()
        };
        for p in &removed {
            fs::remove_file(p).map_err(|e| ChunkError::io("remove", p, e))?;
        }
        if !removed.is_empty() {
            files::sync_dir(&self.dir)?;
        }
        Ok(removed.len())
    }

    /// Flushes and fsyncs the current file and releases all maps. Later calls of any method
    /// return [`ChunkError::Closed`] (a second `close` is a no-op).
    pub fn close(&self) -> Result<()> {
        let mut w = self.writer.lock();
        if w.closed {
            return Ok(());
        }
        w.closed = true;
        self.closed.store(true, Ordering::Release);
        let res = match w.cur.as_mut() {
            Some(cur) => self.flush_current(cur).and_then(|()| {
                cur.file
                    .sync_all()
                    .map_err(|e| ChunkError::io("fsync", &cur.path, e))
            }),
            None => Ok(()),
        };
        w.cur = None;
        self.files.write().clear();
        res
    }
}

impl Drop for HeadChunkFiles {
    fn drop(&mut self) {
        let _ = self.close();
    }
}

struct Record {
    series_ref: u64,
    mint: i64,
    maxt: i64,
    encoding: Encoding,
    /// Range of the chunk data within the bytes parsed.
    data: Range<usize>,
    /// Offset just past the record.
    end: usize,
}

/// Parses the record at `at` of `b`. `in_file` says `b` is a whole file (so `at` must be past the
/// header) rather than a write buffer.
fn parse_at(b: &[u8], at: usize, in_file: bool) -> Result<Record, Corruption> {
    if in_file && at < HEADER_SIZE {
        return Err(Corruption::InsideHeader);
    }
    let rest = b.get(at..).unwrap_or(&[]);
    let available = rest.len() as u64;
    if rest.len() < FIXED + 1 {
        return Err(Corruption::Truncated {
            needed: (FIXED + 1 + CRC_SIZE) as u64,
            available,
        });
    }
    let series_ref = files::be_u64(rest, 0);
    let mint = files::be_u64(rest, 8) as i64;
    let maxt = files::be_u64(rest, 16) as i64;
    let encoding = Encoding(rest[24]);
    let (len, n) = match varint::uvarint(&rest[FIXED..]) {
        Uvarint::Ok(len, n) => (len, n),
        Uvarint::Short => {
            return Err(Corruption::Truncated {
                needed: available + 1,
                available,
            })
        }
        Uvarint::Overflow => return Err(Corruption::BadLength),
    };
    if len > u32::MAX as u64 {
        return Err(Corruption::BadLength);
    }
    let data_start = FIXED + n;
    let crc_at = data_start + len as usize;
    let needed = (crc_at + CRC_SIZE) as u64;
    if needed > available {
        return Err(Corruption::Truncated { needed, available });
    }
    let stored = files::be_u32(rest, crc_at);
    let computed = crc32c::crc32c(&rest[..crc_at]);
    if stored != computed {
        return Err(Corruption::Checksum { stored, computed });
    }
    Ok(Record {
        series_ref,
        mint,
        maxt,
        encoding,
        data: at + data_start..at + crc_at,
        end: at + crc_at + CRC_SIZE,
    })
}

/// Walks the records of a whole file, calling `f(offset, record)` for each. Returns the largest
/// maxt seen (`i64::MIN` if none) and, if it stopped on bad data, where and why.
fn walk_file(b: &[u8], mut f: impl FnMut(usize, &Record)) -> (i64, Option<(usize, Corruption)>) {
    let mut at = HEADER_SIZE;
    let mut maxt = i64::MIN;
    while at < b.len() {
        let rest = &b[at..];
        // Zeroed series ref, mint and maxt: end of data (preallocated space).
        let zero_head = rest.len() >= FIXED - 1 && rest[..FIXED - 1].iter().all(|&x| x == 0);
        if zero_head || (rest.len() < FIXED - 1 && rest.iter().all(|&x| x == 0)) {
            break;
        }
        if at > u32::MAX as usize {
            return (maxt, Some((at, Corruption::OffsetOverflow)));
        }
        match parse_at(b, at, true) {
            Ok(rec) => {
                f(at, &rec);
                maxt = maxt.max(rec.maxt);
                at = rec.end;
            }
            Err(reason) => return (maxt, Some((at, reason))),
        }
    }
    (maxt, None)
}

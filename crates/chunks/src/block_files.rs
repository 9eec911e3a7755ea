//! Block chunk segment files: `BLOCK/chunks/000001 …` (Prometheus `tsdb/docs/format/chunks.md`).
//!
//! A file is the 8-byte header (magic `0x85BD40DD`, version 1, 3 zero bytes) followed by chunks,
//! each `uvarint len | encoding byte | data | CRC32-Castagnoli(encoding, data)`, big-endian CRC.
//! A chunk is referenced by `segment index << 32 | offset`, where the segment index is the 0-based
//! position of the file among the block's segment files (`000001` is index 0), as in Prometheus.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use memmap2::Mmap;

use crate::encoding::Encoding;
use crate::error::{ChunkError, Corruption, Result};
use crate::files::{self, HEADER_SIZE};
use crate::varint::{self, Uvarint};
use crate::xor::XorChunk;

/// Magic number of block chunk segment files.
pub const BLOCK_CHUNKS_MAGIC: u32 = 0x85BD_40DD;
/// Default size at which a new segment file is started: 512 MiB.
pub const DEFAULT_SEGMENT_SIZE: u64 = 512 * 1024 * 1024;

/// Bytes a chunk takes besides its data, with the length counted at its longest, as Prometheus
/// counts it when deciding to cut.
const MAX_OVERHEAD: u64 = (varint::MAX_LEN_32 + 1 + 4) as u64;

/// Reference of a chunk in a block: segment index in the high 32 bits, byte offset in the low 32.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct BlockChunkRef(pub u64);

impl BlockChunkRef {
    /// Packs a 0-based segment index and a byte offset.
    pub fn new(segment: u32, offset: u32) -> Self {
        BlockChunkRef((segment as u64) << 32 | offset as u64)
    }
    /// The 0-based segment index (file `000001` is 0).
    pub fn segment(self) -> u32 {
        (self.0 >> 32) as u32
    }
    /// Byte offset of the chunk's length field in its file.
    pub fn offset(self) -> u32 {
        self.0 as u32
    }
}

/// One chunk as stored in a file: encoding and the encoded bytes (borrowed from the file's map).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChunkData<'a> {
    /// The encoding byte.
    pub encoding: Encoding,
    /// The chunk bytes (for XOR: sample count header and bit stream).
    pub data: &'a [u8],
}

struct Segment {
    index: u32,
    path: PathBuf,
    out: BufWriter<File>,
    offset: u64,
}

/// Writes chunks into the segment files of one block's `chunks/` directory.
///
/// Segments are created on demand (none if no chunk is written), each starting with its header.
/// A new segment is started when the next chunk would push the current one past the segment
/// size (unless the current one is still empty, so a huge chunk gets a file of its own).
/// Every segment is flushed and fsynced when it is left and at [`BlockChunkWriter::finish`], which
/// also fsyncs the directory. Dropping the writer without `finish` leaves the data unsynced.
pub struct BlockChunkWriter {
    dir: PathBuf,
    segment_size: u64,
    cur: Option<Segment>,
    segments: u32,
}

impl BlockChunkWriter {
    /// A writer into `dir` (created if missing) with 512 MiB segments.
    /// Fails if `dir` already holds segment files.
    pub fn create(dir: impl AsRef<Path>) -> Result<Self> {
        Self::with_segment_size(dir, DEFAULT_SEGMENT_SIZE)
    }

    /// As [`BlockChunkWriter::create`], with segments cut at `segment_size` bytes
    /// (`9 ..= 4 GiB`, so offsets fit the 32-bit half of a reference).
    pub fn with_segment_size(dir: impl AsRef<Path>, segment_size: u64) -> Result<Self> {
        let dir = dir.as_ref().to_path_buf();
        if segment_size <= HEADER_SIZE as u64 || segment_size > u32::MAX as u64 {
            return Err(ChunkError::InvalidArgument {
                path: dir,
                reason: format!("segment size {segment_size} outside 9..=4294967295"),
            });
        }
        std::fs::create_dir_all(&dir).map_err(|e| ChunkError::io("create directory", &dir, e))?;
        if let Some((_, p)) = files::list_sequence_files(&dir)?.first() {
            return Err(ChunkError::InvalidArgument {
                path: dir.clone(),
                reason: format!("already holds segment file {}", p.display()),
            });
        }
        Ok(BlockChunkWriter {
            dir,
            segment_size,
            cur: None,
            segments: 0,
        })
    }

    /// Appends one chunk and returns its reference. The bytes may sit in a buffer until the
    /// segment is left or [`BlockChunkWriter::finish`] is called.
    pub fn write_chunk(&mut self, encoding: Encoding, data: &[u8]) -> Result<BlockChunkRef> {
        let Ok(len32) = u32::try_from(data.len()) else {
            return Err(ChunkError::InvalidArgument {
                path: self.dir.clone(),
                reason: format!("chunk of {} bytes is too large", data.len()),
            });
        };
        let estimate = MAX_OVERHEAD + data.len() as u64;
        let mut seg = match self.cur.take() {
            Some(s)
                if s.offset == HEADER_SIZE as u64 || s.offset + estimate <= self.segment_size =>
            {
                s
            }
            old => {
                if let Some(old) = old {
                    finish_segment(old)?;
                }
                self.new_segment()?
            }
        };
        let written = append_chunk(&mut seg, encoding, data, len32);
        self.cur = Some(seg);
        written
    }

    /// Appends an XOR chunk; see [`BlockChunkWriter::write_chunk`].
    pub fn write_xor(&mut self, chunk: &XorChunk) -> Result<BlockChunkRef> {
        self.write_chunk(Encoding::XOR, chunk.bytes())
    }

    /// Number of segment files created so far.
    pub fn segments(&self) -> u32 {
        self.segments
    }

    fn new_segment(&mut self) -> Result<Segment> {
        let index = self.segments;
        let (path, f) = files::create_segment(&self.dir, index as u64 + 1, BLOCK_CHUNKS_MAGIC)?;
        self.segments += 1;
        Ok(Segment {
            index,
            path,
            out: BufWriter::with_capacity(1 << 20, f),
            offset: HEADER_SIZE as u64,
        })
    }

    /// Flushes and fsyncs the last segment and fsyncs the directory. Returns the number of
    /// segment files written.
    pub fn finish(mut self) -> Result<u32> {
        if let Some(seg) = self.cur.take() {
            finish_segment(seg)?;
        }
        files::sync_dir(&self.dir)?;
        Ok(self.segments)
    }
}

/// Writes one chunk at the end of `seg`.
fn append_chunk(
    seg: &mut Segment,
    encoding: Encoding,
    data: &[u8],
    len32: u32,
) -> Result<BlockChunkRef> {
    let Ok(offset) = u32::try_from(seg.offset) else {
        return Err(ChunkError::InvalidArgument {
            path: seg.path.clone(),
            reason: format!("offset {} does not fit a chunk reference", seg.offset),
        });
    };
    let mut lenbuf = [0u8; varint::MAX_LEN_64];
    let n = varint::put_uvarint(&mut lenbuf, len32 as u64);
    let crc = crc32c::crc32c_append(crc32c::crc32c(&[encoding.0]), data);
    let w = &mut seg.out;
    w.write_all(&lenbuf[..n])
        .and_then(|()| w.write_all(&[encoding.0]))
        .and_then(|()| w.write_all(data))
        .and_then(|()| w.write_all(&crc.to_be_bytes()))
        .map_err(|e| ChunkError::io("write", &seg.path, e))?;
    seg.offset += (n + 1 + data.len() + 4) as u64;
    Ok(BlockChunkRef::new(seg.index, offset))
}

/// Flushes and fsyncs a segment that is complete.
fn finish_segment(seg: Segment) -> Result<()> {
    let path = seg.path;
    let f = seg
        .out
        .into_inner()
        .map_err(|e| ChunkError::io("flush", &path, e.into_error()))?;
    tsdb_failpoint::point("chunks.segment.fsync");
    f.sync_all().map_err(|e| ChunkError::io("fsync", &path, e))
}

struct MappedSegment {
    path: PathBuf,
    map: Mmap,
}

/// Reads the segment files of one block's `chunks/` directory through memory maps.
///
/// Every chunk handed out has had its CRC checked; damage is an [`ChunkError::Corrupt`] naming file and
/// offset. Chunk bytes borrow from the maps and live as long as the reader.
pub struct BlockChunkReader {
    dir: PathBuf,
    segments: Vec<MappedSegment>,
}

impl BlockChunkReader {
    /// Maps every segment file of `dir` (files named by decimal numbers, in numeric order) and
    /// checks their headers.
    pub fn open(dir: impl AsRef<Path>) -> Result<Self> {
        let dir = dir.as_ref().to_path_buf();
        let mut segments = Vec::new();
        for (_, path) in files::list_sequence_files(&dir)? {
            let (map, _) = files::map_whole(&path)?;
            files::check_header(&path, &map, BLOCK_CHUNKS_MAGIC)?;
            segments.push(MappedSegment { path, map });
        }
        if segments.len() > u32::MAX as usize {
            return Err(ChunkError::InvalidArgument {
                path: dir,
                reason: "too many segment files".into(),
            });
        }
        Ok(BlockChunkReader { dir, segments })
    }

    /// Number of segment files.
    pub fn segment_count(&self) -> usize {
        self.segments.len()
    }

    /// Total size in bytes of the segment files.
    pub fn size(&self) -> u64 {
        self.segments.iter().map(|s| s.map.len() as u64).sum()
    }

    /// The chunk at `r`, CRC checked.
    pub fn chunk(&self, r: BlockChunkRef) -> Result<ChunkData<'_>> {
        let Some(seg) = self.segments.get(r.segment() as usize) else {
            return Err(ChunkError::UnknownFile {
                dir: self.dir.clone(),
                chunk_ref: r.0,
                file: r.segment() as u64,
            });
        };
        parse_chunk(&seg.map, r.offset() as usize)
            .map(|(c, _)| c)
            .map_err(|reason| ChunkError::corrupt(&seg.path, r.offset() as u64, reason))
    }

    /// Every chunk of every segment, in file order, with its reference. Ends after the first
    /// error (which is yielded).
    pub fn iter(&self) -> BlockChunkIter<'_> {
        BlockChunkIter {
            reader: self,
            segment: 0,
            offset: HEADER_SIZE,
            failed: false,
        }
    }
}

/// Parses the chunk starting at `offset`; returns it and the offset just past it.
fn parse_chunk(b: &[u8], offset: usize) -> Result<(ChunkData<'_>, usize), Corruption> {
    if offset < HEADER_SIZE {
        return Err(Corruption::InsideHeader);
    }
    let available = b.len().saturating_sub(offset) as u64;
    let rest = b.get(offset..).unwrap_or(&[]);
    let (len, n) = match varint::uvarint(rest) {
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
    let needed = n as u64 + 1 + len + 4;
    if needed > available {
        return Err(Corruption::Truncated { needed, available });
    }
    let enc_at = n;
    let crc_at = n + 1 + len as usize;
    let body = &rest[enc_at..crc_at];
    let stored = files::be_u32(rest, crc_at);
    let computed = crc32c::crc32c(body);
    if stored != computed {
        return Err(Corruption::Checksum { stored, computed });
    }
    Ok((
        ChunkData {
            encoding: Encoding(body[0]),
            data: &body[1..],
        },
        offset + needed as usize,
    ))
}

/// Iterator over all chunks of a [`BlockChunkReader`]; see [`BlockChunkReader::iter`].
pub struct BlockChunkIter<'a> {
    reader: &'a BlockChunkReader,
    segment: usize,
    offset: usize,
    failed: bool,
}

impl<'a> Iterator for BlockChunkIter<'a> {
    type Item = Result<(BlockChunkRef, ChunkData<'a>)>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.failed {
            return None;
        }
        loop {
            let seg = self.reader.segments.get(self.segment)?;
            if self.offset >= seg.map.len() {
                self.segment += 1;
                self.offset = HEADER_SIZE;
                continue;
            }
            let at = self.offset;
            return Some(match parse_chunk(&seg.map, at) {
                Ok((chunk, end)) => {
                    self.offset = end;
                    // Offsets past 4 GiB cannot be referenced; treat such a file as damaged.
                    match u32::try_from(at) {
                        Ok(off) => Ok((BlockChunkRef::new(self.segment as u32, off), chunk)),
                        Err(_) => {
                            self.failed = true;
                            Err(ChunkError::corrupt(
                                &seg.path,
                                at as u64,
                                Corruption::OffsetOverflow,
                            ))
                        }
                    }
                }
                Err(reason) => {
                    self.failed = true;
                    Err(ChunkError::corrupt(&seg.path, at as u64, reason))
                }
            });
        }
    }
}

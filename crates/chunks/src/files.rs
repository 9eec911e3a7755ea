//! File plumbing shared by block segment files and head chunk files: names, headers, creation,
//! directory fsync and memory maps.

use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

use memmap2::{Mmap, MmapOptions};

use crate::error::{ChunkError, Corruption, Result};

/// Size of the file header: 4-byte magic, 1-byte version, 3 bytes of padding.
pub(crate) const HEADER_SIZE: usize = 8;
/// The only format version of both kinds of chunk files.
pub(crate) const FORMAT_V1: u8 = 1;

/// `dir/000042`: the name Prometheus gives file number 42.
pub(crate) fn segment_path(dir: &Path, seq: u64) -> PathBuf {
    dir.join(format!("{seq:06}"))
}

/// Files of `dir` whose names are decimal numbers, sorted by number.
pub(crate) fn list_sequence_files(dir: &Path) -> Result<Vec<(u64, PathBuf)>> {
    let rd = fs::read_dir(dir).map_err(|e| ChunkError::io("read directory", dir, e))?;
    let mut out = Vec::new();
    for entry in rd {
        let entry = entry.map_err(|e| ChunkError::io("read directory", dir, e))?;
        let name = entry.file_name();
        let Some(name) = name.to_str() else { continue };
        if name.is_empty() || !name.bytes().all(|b| b.is_ascii_digit()) {
            continue;
        }
        let Ok(seq) = name.parse::<u64>() else {
            continue;
        };
        out.push((seq, entry.path()));
    }
    out.sort();
    Ok(out)
}

/// The 8 header bytes of a chunk file with `magic`.
pub(crate) fn header(magic: u32) -> [u8; HEADER_SIZE] {
    let mut h = [0u8; HEADER_SIZE];
    h[..4].copy_from_slice(&magic.to_be_bytes());
    h[4] = FORMAT_V1;
    h
}

/// Checks the header of file `path` whose contents are `bytes`.
pub(crate) fn check_header(path: &Path, bytes: &[u8], magic: u32) -> Result<()> {
    let Some(h) = bytes.first_chunk::<HEADER_SIZE>() else {
        return Err(ChunkError::corrupt(
            path,
            0,
            Corruption::ShortHeader {
                len: bytes.len() as u64,
            },
        ));
    };
    let found = u32::from_be_bytes([h[0], h[1], h[2], h[3]]);
    if found != magic {
        return Err(ChunkError::corrupt(
            path,
            0,
            Corruption::BadMagic {
                found,
                expected: magic,
            },
        ));
    }
    if h[4] != FORMAT_V1 {
        return Err(ChunkError::corrupt(path, 4, Corruption::BadVersion(h[4])));
    }
    Ok(())
}

/// Fsyncs a directory so that file creations, renames and removals in it are durable.
pub(crate) fn sync_dir(dir: &Path) -> Result<()> {
    let d = File::open(dir).map_err(|e| ChunkError::io("open directory", dir, e))?;
    tsdb_failpoint::point("chunks.dir.sync");
    d.sync_all()
        .map_err(|e| ChunkError::io("fsync directory", dir, e))
}

/// Creates `dir/NNNNNN` holding only the header: written to `NNNNNN.tmp`, fsynced, renamed into
/// place, directory fsynced. Returns the final path and the file opened for reading and appending.
pub(crate) fn create_segment(dir: &Path, seq: u64, magic: u32) -> Result<(PathBuf, File)> {
    let path = segment_path(dir, seq);
    let tmp = path.with_extension("tmp");
    let mut f = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .open(&tmp)
        .map_err(|e| ChunkError::io("create", &tmp, e))?;
    f.write_all(&header(magic))
        .map_err(|e| ChunkError::io("write header", &tmp, e))?;
    tsdb_failpoint::point("chunks.file.fsync");
    f.sync_all().map_err(|e| ChunkError::io("fsync", &tmp, e))?;
    drop(f);
    tsdb_failpoint::point("chunks.file.rename");
    fs::rename(&tmp, &path).map_err(|e| ChunkError::io("rename", &tmp, e))?;
    sync_dir(dir)?;
    // Readable too: head chunk files map the file being written.
    let f = OpenOptions::new()
        .read(true)
        .append(true)
        .open(&path)
        .map_err(|e| ChunkError::io("open", &path, e))?;
    Ok((path, f))
}

/// Maps `len` bytes of `file` read-only (`len` may exceed the file's current size; pages past the
/// end must then not be touched until the file has grown over them).
pub(crate) fn map(path: &Path, file: &File, len: usize) -> Result<Mmap> {
    // SAFETY: chunk files are only ever appended to (or, during repair, truncated past every byte
    // that is still read), by this process; bytes that readers look at are not modified after
    // they have been written. Callers bound every access by the written length.
    unsafe { MmapOptions::new().len(len).map(file) }.map_err(|e| ChunkError::io("mmap", path, e))
}

/// Opens `path` read-only and maps the whole file. Returns the map and the file length.
pub(crate) fn map_whole(path: &Path) -> Result<(Mmap, u64)> {
    let f = File::open(path).map_err(|e| ChunkError::io("open", path, e))?;
    let len = f
        .metadata()
        .map_err(|e| ChunkError::io("stat", path, e))?
        .len();
    let Ok(len_usize) = usize::try_from(len) else {
        return Err(ChunkError::InvalidArgument {
            path: path.to_path_buf(),
            reason: format!("file of {len} bytes cannot be mapped"),
        });
    };
    if len_usize < HEADER_SIZE {
        return Err(ChunkError::corrupt(
            path,
            0,
            Corruption::ShortHeader { len },
        ));
    }
    Ok((map(path, &f, len_usize)?, len))
}

/// Reads a big-endian u32 at `at` (caller checked bounds).
#[inline]
pub(crate) fn be_u32(b: &[u8], at: usize) -> u32 {
    let mut x = [0u8; 4];
    x.copy_from_slice(&b[at..at + 4]);
    u32::from_be_bytes(x)
}

/// Reads a big-endian u64 at `at` (caller checked bounds).
#[inline]
pub(crate) fn be_u64(b: &[u8], at: usize) -> u64 {
    let mut x = [0u8; 8];
    x.copy_from_slice(&b[at..at + 8]);
    u64::from_be_bytes(x)
}

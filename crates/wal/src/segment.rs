//! Segment files: names, the 8-byte header, listing, creation and directory sync.
//!
//! A segment is `wal/NNNNNN` (a decimal sequence number, six digits or more), starting with
//! `magic u32 BE | version u8 | kind u8 | 2 zero bytes`. Prometheus's `SegmentWAL` writes the kind byte as
//! zero and ignores it on reading; we write [`FLAG_CHECKPOINT`] there on a segment written by
//! [`crate::Wal::truncate`]: such a segment holds everything still needed from the segments numbered below it,
//! so readers skip those. The kind byte is a pattern several bits apart from zero, and the padding must be
//! zero, so that a flipped bit in a header is reported as damage instead of silently making a segment a
//! checkpoint.

use std::fs::{self, File, OpenOptions};
use std::io::Read;
use std::path::{Path, PathBuf};

use crate::error::{Result, WalError};

/// Magic number every segment starts with (big-endian).
pub const SEGMENT_MAGIC: u32 = 0x43AF_00EF;
/// The only segment format version.
pub const SEGMENT_VERSION: u8 = 1;
/// Length of the segment header in bytes.
pub const HEADER_LEN: u64 = 8;
/// Header kind byte of a checkpoint: this segment is the result of a truncation and supersedes every
/// lower-numbered segment. (Zero is an ordinary segment; any other value is damage.)
pub const FLAG_CHECKPOINT: u8 = 0xC5;
/// Default segment size: 32 MiB (about 7 million samples in the native format). Truncation removes only
/// whole segments older than the head, so smaller segments let each persisted block drop the WAL behind
/// it, and a restart reads only what the head still holds (with 256 MiB segments a day of 20k series
/// stayed in one segment and was read whole at every restart); cuts stay rare.
pub const DEFAULT_SEGMENT_SIZE: u64 = 32 * 1024 * 1024;

/// The file name of segment `seq`.
pub fn segment_name(seq: u64) -> String {
    format!("{seq:06}")
}

/// The path of segment `seq` in `dir`.
pub fn segment_path(dir: &Path, seq: u64) -> PathBuf {
    dir.join(segment_name(seq))
}

/// Encodes a segment header.
pub fn encode_header(flags: u8) -> [u8; HEADER_LEN as usize] {
    let m = SEGMENT_MAGIC.to_be_bytes();
    [m[0], m[1], m[2], m[3], SEGMENT_VERSION, flags, 0, 0]
}

/// Checks a segment header and returns its flags byte; the error text says what is wrong.
pub fn decode_header(b: &[u8]) -> std::result::Result<u8, String> {
    if b.len() < HEADER_LEN as usize {
        return Err(format!(
            "segment header is {} bytes, want {HEADER_LEN}",
            b.len()
        ));
    }
    let magic = u32::from_be_bytes([b[0], b[1], b[2], b[3]]);
    if magic != SEGMENT_MAGIC {
        return Err(format!(
            "bad magic {magic:#010x}, want {SEGMENT_MAGIC:#010x}"
        ));
    }
    if b[4] != SEGMENT_VERSION {
        return Err(format!("unknown segment format version {}", b[4]));
    }
    if b[5] != 0 && b[5] != FLAG_CHECKPOINT {
        return Err(format!("unknown segment kind {:#04x}", b[5]));
    }
    if b[6] != 0 || b[7] != 0 {
        return Err(format!(
            "non-zero header padding {:#04x} {:#04x}",
            b[6], b[7]
        ));
    }
    Ok(b[5])
}

/// One segment file found in a WAL directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SegmentFile {
    /// Sequence number (the file name).
    pub seq: u64,
    /// Full path.
    pub path: PathBuf,
}

/// Lists the segment files of `dir` in sequence order; other files (such as `compact.tmp`) are ignored.
/// A directory that does not exist has no segments.
pub fn list_segments(dir: &Path) -> Result<Vec<SegmentFile>> {
    let rd = match fs::read_dir(dir) {
        Ok(rd) => rd,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(WalError::io("list", dir, e)),
    };
    let mut out = Vec::new();
    for ent in rd {
        let ent = ent.map_err(|e| WalError::io("list", dir, e))?;
        let name = ent.file_name();
        let Some(name) = name.to_str() else { continue };
        if name.is_empty() || !name.bytes().all(|c| c.is_ascii_digit()) {
            continue;
        }
        let Ok(seq) = name.parse::<u64>() else {
            continue;
        };
        out.push(SegmentFile {
            seq,
            path: ent.path(),
        });
    }
    out.sort_by_key(|s| s.seq);
    Ok(out)
}

/// Reads the header flags of a segment; `Err(reason)` if the header is missing or invalid.
pub fn read_header_flags(path: &Path) -> Result<std::result::Result<u8, String>> {
    let mut f = File::open(path).map_err(|e| WalError::io("open", path, e))?;
    let mut b = [0u8; HEADER_LEN as usize];
    let mut n = 0;
    while n < b.len() {
        match f.read(&mut b[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(WalError::io("read", path, e)),
        }
    }
    Ok(decode_header(&b[..n]))
}

/// Creates a new segment file with its header and, if `prealloc` is non-zero, its size set to `prealloc`
/// bytes (the tail reads as zeros, which marks the end of written data).
pub fn create_segment(path: &Path, flags: u8, prealloc: u64) -> Result<File> {
    let f = OpenOptions::new()
        .read(true)
        .write(true)
        .create_new(true)
        .open(path)
        .map_err(|e| WalError::io("create", path, e))?;
    use std::os::unix::fs::FileExt;
    f.write_all_at(&encode_header(flags), 0)
        .map_err(|e| WalError::io("write header", path, e))?;
    if prealloc > HEADER_LEN {
        f.set_len(prealloc)
            .map_err(|e| WalError::io("preallocate", path, e))?;
    }
    Ok(f)
}

/// Fsyncs a directory so that file creations, renames and removals in it are durable.
pub fn sync_dir(dir: &Path) -> Result<()> {
    let d = File::open(dir).map_err(|e| WalError::io("open directory", dir, e))?;
    tsdb_failpoint::point("wal.dir.sync");
    d.sync_all()
        .map_err(|e| WalError::io("fsync directory", dir, e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_round_trip_and_errors() {
        let h = encode_header(FLAG_CHECKPOINT);
        assert_eq!(h[..4], [0x43, 0xAF, 0x00, 0xEF]);
        assert_eq!(decode_header(&h), Ok(FLAG_CHECKPOINT));
        assert_eq!(decode_header(&encode_header(0)), Ok(0));
        assert!(decode_header(&h[..5]).unwrap_err().contains("5 bytes"));
        let mut bad = h;
        bad[0] = 0;
        assert!(decode_header(&bad).unwrap_err().contains("magic"));
        let mut bad = h;
        bad[4] = 2;
        assert!(decode_header(&bad).unwrap_err().contains("version"));
        for (i, bit) in [(5usize, 1u8), (5, 0x40), (6, 1), (7, 0x80)] {
            let mut bad = encode_header(0);
            bad[i] ^= bit;
            assert!(decode_header(&bad).is_err(), "flip of byte {i} undetected");
            let mut bad = encode_header(FLAG_CHECKPOINT);
            bad[i] ^= bit;
            assert!(decode_header(&bad).is_err(), "flip of byte {i} undetected");
        }
    }

    #[test]
    fn listing_ignores_other_files_and_sorts() {
        let d = tempfile::tempdir().unwrap();
        for n in ["000010", "000002", "compact.tmp", "abc", "000003.tmp"] {
            std::fs::write(d.path().join(n), b"").unwrap();
        }
        let segs = list_segments(d.path()).unwrap();
        assert_eq!(segs.iter().map(|s| s.seq).collect::<Vec<_>>(), vec![2, 10]);
        assert!(list_segments(&d.path().join("missing")).unwrap().is_empty());
    }
}

//! Prometheus's current WAL format (`tsdb/wlog`, `tsdb/docs/format/wal.md`), written by [`crate::WalMode::Wlog`].
//!
//! A segment is `wal/NNNNNNNN` (eight digits, from `00000000`) without a header, written in 32 KiB pages.
//! A record (a type byte, then the payload of [`crate::record`]'s simple codecs) is stored as one `full`
//! fragment, or as `first`, `middle`…, `last` fragments when it does not fit the rest of its page; a page whose
//! rest cannot hold a fragment header is zero padding. A record never crosses a segment. A checkpoint is a
//! directory `checkpoint.NNNNNNNN` of segments of the same format holding what is still needed from the
//! segments numbered up to `NNNNNNNN`.
//!
//! Modules: [`fragment`] (pages and fragment framing), [`codec`] (record type bytes and compression),
//! [`reader`] (fragments back into records, for one segment or a whole directory), [`checkpoint`]
//! (truncation) and [`repair`].

pub mod checkpoint;
pub mod codec;
pub mod fragment;
pub mod reader;
pub mod repair;

use std::path::{Path, PathBuf};

use crate::error::{Result, WalError};

/// Page size: fragments never cross a page.
pub const PAGE_SIZE: u64 = 32 * 1024;
/// Default segment size of Prometheus: 128 MiB.
pub const DEFAULT_SEGMENT_SIZE: u64 = 128 * 1024 * 1024;
/// Largest segment size the writer accepts: 256 MiB.
pub const MAX_SEGMENT_SIZE: u64 = 256 * 1024 * 1024;
/// Name prefix of checkpoint directories.
pub const CHECKPOINT_PREFIX: &str = "checkpoint.";

/// The file name of wlog segment `seq` (`%08d`).
pub fn segment_name(seq: u64) -> String {
    format!("{seq:08}")
}

/// The path of wlog segment `seq` in `dir`.
pub fn segment_path(dir: &Path, seq: u64) -> PathBuf {
    dir.join(segment_name(seq))
}

/// The directory name of checkpoint `index` (`checkpoint.%08d`).
pub fn checkpoint_name(index: u64) -> String {
    format!("{CHECKPOINT_PREFIX}{index:08}")
}

/// Checks that `size` is a segment size the wlog writer accepts: a non-zero multiple of 32 KiB, at most 256 MiB.
pub fn check_segment_size(size: u64) -> Result<()> {
    let reason = if size == 0 {
        "must not be zero"
    } else if !size.is_multiple_of(PAGE_SIZE) {
        "must be a multiple of the 32 KiB page size"
    } else if size > MAX_SEGMENT_SIZE {
        "must be at most 256 MiB"
    } else {
        return Ok(());
    };
    Err(WalError::SegmentSize { size, reason })
}

/// One checkpoint directory found in a WAL directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckpointDir {
    /// The last segment it covers (the number in its name).
    pub index: u64,
    /// Full path.
    pub path: PathBuf,
}

/// What a WAL directory holds in wlog terms: segments named `%08d`, finished checkpoints and temporary
/// checkpoint directories (left by an interrupted truncation).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Listing {
    /// Segment files in sequence order (only names of exactly eight digits).
    pub segments: Vec<crate::segment::SegmentFile>,
    /// Finished checkpoints, oldest first.
    pub checkpoints: Vec<CheckpointDir>,
    /// `checkpoint.*.tmp` directories.
    pub temporary: Vec<PathBuf>,
}

impl Listing {
    /// The newest finished checkpoint.
    pub fn last_checkpoint(&self) -> Option<&CheckpointDir> {
        self.checkpoints.last()
    }
}

fn is_digits(s: &str, n: usize) -> bool {
    s.len() == n && s.bytes().all(|c| c.is_ascii_digit())
}

/// Lists the wlog contents of `dir`; a directory that does not exist is empty.
pub fn list(dir: &Path) -> Result<Listing> {
    let rd = match std::fs::read_dir(dir) {
        Ok(rd) => rd,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Listing::default()),
        Err(e) => return Err(WalError::io("list", dir, e)),
    };
    let mut out = Listing::default();
    for ent in rd {
        let ent = ent.map_err(|e| WalError::io("list", dir, e))?;
        let name = ent.file_name();
        let Some(name) = name.to_str() else { continue };
        if is_digits(name, 8) {
            if let Ok(seq) = name.parse::<u64>() {
                out.segments.push(crate::segment::SegmentFile {
                    seq,
                    path: ent.path(),
                });
            }
        } else if let Some(rest) = name.strip_prefix(CHECKPOINT_PREFIX) {
            if let Some(idx) = rest.strip_suffix(".tmp") {
                if is_digits(idx, 8) {
                    out.temporary.push(ent.path());
                }
            } else if is_digits(rest, 8) {
                if let Ok(index) = rest.parse::<u64>() {
                    out.checkpoints.push(CheckpointDir {
                        index,
                        path: ent.path(),
                    });
                }
            }
        }
    }
    out.segments.sort_by_key(|s| s.seq);
    out.checkpoints.sort_by_key(|c| c.index);
    out.temporary.sort();
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_sizes() {
        assert_eq!(segment_name(0), "00000000");
        assert_eq!(segment_name(42), "00000042");
        assert_eq!(checkpoint_name(7), "checkpoint.00000007");
        assert!(check_segment_size(PAGE_SIZE).is_ok());
        assert!(check_segment_size(MAX_SEGMENT_SIZE).is_ok());
        for bad in [0, PAGE_SIZE + 1, 1000, MAX_SEGMENT_SIZE + PAGE_SIZE] {
            assert!(matches!(
                check_segment_size(bad),
                Err(WalError::SegmentSize { size, .. }) if size == bad
            ));
        }
    }

    #[test]
    fn listing_sorts_and_separates() {
        let d = tempfile::tempdir().unwrap();
        for n in ["00000003", "00000001", "000002", "abc"] {
            std::fs::write(d.path().join(n), b"").unwrap();
        }
        for n in [
            "checkpoint.00000002",
            "checkpoint.00000000",
            "checkpoint.00000004.tmp",
        ] {
            std::fs::create_dir(d.path().join(n)).unwrap();
        }
        let l = list(d.path()).unwrap();
        assert_eq!(
            l.segments.iter().map(|s| s.seq).collect::<Vec<_>>(),
            vec![1, 3]
        );
        assert_eq!(
            l.checkpoints.iter().map(|c| c.index).collect::<Vec<_>>(),
            vec![0, 2]
        );
        assert_eq!(l.temporary.len(), 1);
        assert!(list(&d.path().join("missing")).unwrap().segments.is_empty());
    }
}

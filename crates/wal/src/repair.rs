//! Repair: cut the log at the last intact entry.
//!
//! The damaged segment is truncated at the offset of the first bad entry (removed whole if its header is
//! bad, or if it is missing), and every segment after it is removed. What stays is exactly the prefix a
//! reader returned before it stopped.

use std::path::{Path, PathBuf};

use crate::error::{Corruption, Result, WalError};
use crate::reader::WalReader;
use crate::segment::{list_segments, sync_dir, HEADER_LEN};

/// What a repair did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RepairReport {
    /// The corruption that was repaired.
    pub corruption: Corruption,
    /// Bytes cut from the damaged segment (including any preallocated zero tail).
    pub bytes_truncated: u64,
    /// Segments removed whole, with their sizes.
    pub removed: Vec<(PathBuf, u64)>,
    /// Entries of the log that were read intact before the damage.
    pub entries_kept: u64,
}

impl RepairReport {
    /// Total bytes dropped.
    pub fn bytes_dropped(&self) -> u64 {
        self.bytes_truncated + self.removed.iter().map(|r| r.1).sum::<u64>()
    }
}

/// Reads the whole log; returns the first corruption, if any, and the number of intact entries before it.
pub fn check(dir: &Path) -> Result<(Option<Corruption>, u64)> {
    let mut r = WalReader::open(dir)?;
    let mut n = 0;
    loop {
        match r.next() {
            Ok(Some(_)) => n += 1,
            Ok(None) => return Ok((None, n)),
            Err(WalError::Corruption(c)) => return Ok((Some(c), n)),
            Err(e) => return Err(e),
        }
    }
}

/// Reads the log and, if it is damaged, repairs it. `Ok(None)` means it was intact and nothing changed.
///
/// A directory whose format is not recognised ([`crate::WalFormat::Unknown`]) is not cut:
/// [`WalError::UnknownFormat`], and nothing changes.
pub fn repair(dir: &Path) -> Result<Option<RepairReport>> {
    refuse_unknown(dir)?;
    let (c, kept) = check(dir)?;
    match c {
        None => Ok(None),
        Some(c) => {
            let mut rep = repair_at(dir, &c)?;
            rep.entries_kept = kept;
            Ok(Some(rep))
        }
    }
}

/// Repairs the log at a corruption a reader reported.
///
/// A wlog (see [`crate::wlog::repair::repair_at`]) keeps its damaged segment's records before the damage,
/// padded to a page, and refuses to cut a damaged checkpoint ([`WalError::Unrepairable`]).
pub fn repair_at(dir: &Path, c: &Corruption) -> Result<RepairReport> {
    refuse_unknown(dir)?;
    if crate::detect::family(dir)? == crate::detect::Family::Wlog {
        return crate::wlog::repair::repair_at(dir, c);
    }
    let mut rep = RepairReport {
        corruption: c.clone(),
        bytes_truncated: 0,
        removed: Vec::new(),
        entries_kept: 0,
    };
    for s in list_segments(dir)? {
        if s.seq < c.segment {
            continue;
        }
        let len = std::fs::metadata(&s.path)
            .map_err(|e| WalError::io("stat", &s.path, e))?
            .len();
        if s.seq == c.segment && c.offset >= HEADER_LEN {
            if len > c.offset {
                let f = std::fs::OpenOptions::new()
                    .write(true)
                    .open(&s.path)
                    .map_err(|e| WalError::io("open", &s.path, e))?;
                f.set_len(c.offset)
                    .map_err(|e| WalError::io("truncate", &s.path, e))?;
                f.sync_all()
                    .map_err(|e| WalError::io("fsync", &s.path, e))?;
                rep.bytes_truncated = len - c.offset;
            }
        } else {
            std::fs::remove_file(&s.path).map_err(|e| WalError::io("remove", &s.path, e))?;
            rep.removed.push((s.path, len));
        }
    }
    sync_dir(dir)?;
    Ok(rep)
}

/// [`WalError::UnknownFormat`] for a directory whose format is not recognised.
fn refuse_unknown(dir: &Path) -> Result<()> {
    if let crate::detect::Family::Unknown(why) = crate::detect::family(dir)? {
        return Err(WalError::UnknownFormat {
            dir: dir.to_path_buf(),
            why,
        });
    }
    Ok(())
}

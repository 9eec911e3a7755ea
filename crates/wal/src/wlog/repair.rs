//! Repair of a wlog, as Prometheus's `Repair`: the damaged segment keeps exactly its records before the
//! damage (the rest of its last page becomes zero padding) and every later segment is removed. Damage inside
//! a checkpoint is not cut: the checkpoint holds the series every later segment refers to.

use std::path::Path;

use super::fragment::page_align;
use super::list;
use crate::error::{Corruption, Result, WalError};
use crate::repair::RepairReport;
use crate::segment::sync_dir;

/// Repairs the wlog in `dir` at a corruption its reader reported.
pub fn repair_at(dir: &Path, c: &Corruption) -> Result<RepairReport> {
    let l = list(dir)?;
    if let Some(i) = c.checkpoint {
        return Err(WalError::Unrepairable {
            path: dir.join(super::checkpoint_name(i)),
            reason: format!(
                "damaged checkpoint ({c}); it holds the series the later segments refer to"
            ),
        });
    }
    let mut rep = RepairReport {
        corruption: c.clone(),
        bytes_truncated: 0,
        removed: Vec::new(),
        entries_kept: 0,
    };
    for s in l.segments {
        if s.seq < c.segment {
            continue;
        }
        let len = std::fs::metadata(&s.path)
            .map_err(|e| WalError::io("stat", &s.path, e))?
            .len();
        if s.seq == c.segment {
            if len > c.offset {
                let f = std::fs::OpenOptions::new()
                    .write(true)
                    .open(&s.path)
                    .map_err(|e| WalError::io("open", &s.path, e))?;
                f.set_len(c.offset)
                    .map_err(|e| WalError::io("truncate", &s.path, e))?;
                // Zeros to the page's end: the padding a writer leaves after its last record.
                f.set_len(page_align(c.offset))
                    .map_err(|e| WalError::io("pad", &s.path, e))?;
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

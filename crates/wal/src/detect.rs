//! Which of the three formats a `wal/` directory holds, from what is on disk, never a guess.
//!
//! - SegmentWAL (ours and Prometheus 2.0's): segments named `%06d` (more digits past 999999), each starting
//!   with the magic `0x43AF00EF` (one segment with the magic is enough: a damaged magic beside intact
//!   segments is damage, reported by the reader with segment and offset). It is [`WalFormat::Native`] if any segment is a checkpoint (header kind
//!   byte) or any entry is a symbols entry or carries a flag other than Prometheus's `1` (symbol ids,
//!   snappy); otherwise [`WalFormat::SegmentWal`], what our Prometheus mode writes.
//! - [`WalFormat::Wlog`]: segments named `%08d` (and/or `checkpoint.%08d` directories), the first one not
//!   starting with the magic. Only a wlog writer names files so (a SegmentWAL reaches eight digits at segment
//!   10000000, and then has the magic); the magic's first byte `0x43` is not a valid fragment header either.
//!   Damage inside the segments is the reader's to report, with segment and offset.
//! - [`WalFormat::Empty`]: no segment at all; [`WalFormat::Unknown`] for anything else, with the reason.

use std::fmt;
use std::fs::File;
use std::io::{BufReader, Read};
use std::path::Path;

use crate::entry::{ENTRY_CRC_LEN, ENTRY_HEADER_LEN};
use crate::error::{Result, WalError};
use crate::options::WalMode;
use crate::record::{RecordType, FLAG_SIMPLE};
use crate::segment::{list_segments, segment_name, FLAG_CHECKPOINT, HEADER_LEN, SEGMENT_MAGIC};

/// The format of a WAL directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WalFormat {
    /// No segments (or no directory): any mode may start writing here.
    Empty,
    /// SegmentWAL framing with our extensions (symbols, symbol ids, snappy, checkpoint segments).
    Native,
    /// SegmentWAL exactly as Prometheus 2.0 wrote it (and our Prometheus mode writes).
    SegmentWal,
    /// Prometheus's current WAL (`wlog`: 32 KiB pages, fragments, checkpoint directories).
    Wlog,
    /// Not a WAL this crate reads; the reason says what was found.
    Unknown(String),
}

impl WalFormat {
    /// The writer mode that continues a log of this format (`None` for empty or unknown directories).
    pub fn mode(&self) -> Option<WalMode> {
        match self {
            WalFormat::Native => Some(WalMode::Native),
            WalFormat::SegmentWal => Some(WalMode::Prometheus),
            WalFormat::Wlog => Some(WalMode::Wlog),
            WalFormat::Empty | WalFormat::Unknown(_) => None,
        }
    }

    /// Whether a writer in `mode` may append to a log of this format: the two SegmentWAL modes read each
    /// other's logs, wlog only its own.
    pub fn accepts(&self, mode: WalMode) -> bool {
        match self {
            WalFormat::Empty => true,
            WalFormat::Native | WalFormat::SegmentWal => mode != WalMode::Wlog,
            WalFormat::Wlog => mode == WalMode::Wlog,
            WalFormat::Unknown(_) => false,
        }
    }
}

impl fmt::Display for WalFormat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            WalFormat::Empty => f.write_str("empty (no segments)"),
            WalFormat::Native => f.write_str("native (SegmentWAL with extensions)"),
            WalFormat::SegmentWal => f.write_str("Prometheus SegmentWAL"),
            WalFormat::Wlog => f.write_str("Prometheus wlog"),
            WalFormat::Unknown(why) => write!(f, "unrecognised ({why})"),
        }
    }
}

/// The family of a directory without telling native from plain SegmentWAL (no scan of entries).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Family {
    Empty,
    SegmentWal,
    Wlog,
    Unknown(String),
}

fn read_prefix(path: &Path, n: usize) -> Result<Vec<u8>> {
    let f = File::open(path).map_err(|e| WalError::io("open", path, e))?;
    let mut b = Vec::with_capacity(n);
    f.take(n as u64)
        .read_to_end(&mut b)
        .map_err(|e| WalError::io("read", path, e))?;
    Ok(b)
}

pub(crate) fn family(dir: &Path) -> Result<Family> {
    let all = list_segments(dir)?;
    let wl = crate::wlog::list(dir)?;
    if all.is_empty() && wl.checkpoints.is_empty() {
        return Ok(Family::Empty);
    }
    if all.is_empty() {
        // Only checkpoint directories: what a wlog truncation leaves when every segment was covered.
        return Ok(Family::Wlog);
    }
    let name = |s: &crate::segment::SegmentFile| {
        s.path
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or_default()
            .to_string()
    };
    // SegmentWAL if any segment named the SegmentWAL way starts with the magic, or with a part of it (a
    // segment torn while it was created, down to an empty file: only a SegmentWAL writer names files so):
    // a first segment whose magic was damaged (flipped, cut) beside intact ones is damage, the reader's to
    // report with its offset, not another format.
    let mut magic = false;
    for s in all.iter().filter(|s| name(s) == segment_name(s.seq)) {
        let head = read_prefix(&s.path, HEADER_LEN as usize)?;
        let want = SEGMENT_MAGIC.to_be_bytes();
        let n = head.len().min(want.len());
        if head[..n] == want[..n] {
            magic = true;
            break;
        }
    }
    if magic {
        if let Some(s) = all.iter().find(|s| name(s) != segment_name(s.seq)) {
            return Ok(Family::Unknown(format!(
                "SegmentWAL segments next to file {}, which is not named as a SegmentWAL segment",
                name(s)
            )));
        }
        if let Some(c) = wl.checkpoints.first() {
            return Ok(Family::Unknown(format!(
                "SegmentWAL segments next to wlog checkpoint {}",
                c.path.display()
            )));
        }
        return Ok(Family::SegmentWal);
    }
    if let Some(s) = all
        .iter()
        .find(|s| name(s) != crate::wlog::segment_name(s.seq))
    {
        return Ok(Family::Unknown(format!(
            "segment {} does not start with the SegmentWAL magic and is not named like a wlog segment",
            name(s)
        )));
    }
    // Named the wlog way and without the magic: only a wlog writer names files so. Whether its bytes are
    // intact is the reader's to say (it reports damage with segment and offset).
    Ok(Family::Wlog)
}

/// Says which format `dir` holds. Reads the first bytes of the first segment and, for SegmentWAL, the entry
/// headers (not the payloads) of every segment until an extension shows up. Damage beyond the first bytes
/// is not judged here: the reader reports it.
pub fn detect(dir: &Path) -> Result<WalFormat> {
    Ok(match family(dir)? {
        Family::Empty => WalFormat::Empty,
        Family::Wlog => WalFormat::Wlog,
        Family::Unknown(why) => WalFormat::Unknown(why),
        Family::SegmentWal => {
            for s in list_segments(dir)? {
                if uses_extensions(&s.path)? {
                    return Ok(WalFormat::Native);
                }
            }
            WalFormat::SegmentWal
        }
    })
}

/// Whether a SegmentWAL segment is a checkpoint or holds an entry only the native mode writes. Stops quietly
/// at the first header that is not an entry (end of data or damage).
fn uses_extensions(path: &Path) -> Result<bool> {
    let f = File::open(path).map_err(|e| WalError::io("open", path, e))?;
    let mut r = BufReader::with_capacity(64 * 1024, f);
    let mut h = [0u8; HEADER_LEN as usize];
    if r.read_exact(&mut h).is_err() {
        return Ok(false);
    }
    if h[5] == FLAG_CHECKPOINT {
        return Ok(true);
    }
    let mut e = [0u8; ENTRY_HEADER_LEN];
    loop {
        if r.read_exact(&mut e).is_err() {
            return Ok(false);
        }
        let Some(typ) = RecordType::from_byte(e[0]) else {
            return Ok(false);
        };
        if typ == RecordType::Symbols || e[1] != FLAG_SIMPLE {
            return Ok(true);
        }
        let skip = u32::from_be_bytes([e[2], e[3], e[4], e[5]]) as i64 + ENTRY_CRC_LEN as i64;
        if r.seek_relative(skip).is_err() {
            return Ok(false);
        }
    }
}

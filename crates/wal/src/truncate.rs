//! Truncation: old segments become one checkpoint segment of the live series.

use std::fs::File;
use std::io::Write;

use crate::entry::Encoder;
use crate::error::{Result, WalError};
use crate::reader::{Record, WalReader};
use crate::record::{RefSeries, SeriesRef};
use crate::segment::{encode_header, segment_path, sync_dir, SegmentFile, FLAG_CHECKPOINT};
use crate::writer::{ClosedSegment, TruncateReport, Wal};

/// Test hook: where a simulated crash stops a truncation.
#[doc(hidden)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CrashPoint {
    /// After writing `compact.tmp`, before fsync and rename.
    AfterTempWritten,
    /// After renaming the checkpoint into place, before removing older segments.
    AfterRename,
    /// After removing the first older segment.
    AfterFirstRemoval,
}

pub(crate) fn truncate(
    wal: &Wal,
    mint: i64,
    keep: &dyn Fn(SeriesRef) -> bool,
) -> Result<TruncateReport> {
    truncate_with(wal, mint, keep, None)
}

/// `truncate`, stopping at `crash` as if the process had died there (test hook).
#[doc(hidden)]
pub fn truncate_until(
    wal: &Wal,
    mint: i64,
    keep: &dyn Fn(SeriesRef) -> bool,
    crash: CrashPoint,
) -> Result<TruncateReport> {
    truncate_with(wal, mint, keep, Some(crash))
}

/// Wlog: the closed segments whose samples and tombstones are all older than `mint` become the Prometheus
/// checkpoint `checkpoint.<newest of them>` (see [`crate::wlog::checkpoint`]), together with the previous
/// checkpoint; then they and the previous checkpoint are removed.
fn truncate_wlog(wal: &Wal, mint: i64, keep: &dyn Fn(SeriesRef) -> bool) -> Result<TruncateReport> {
    let (_guard, cands) = wal.truncation_candidates(mint)?;
    let Some(last) = cands.last().copied() else {
        return Ok(TruncateReport::default());
    };
    let cp = crate::wlog::checkpoint::checkpoint(wal.shared_dir(), last.seq, mint, keep)?;
    wal.remove_closed(&cands);
    Ok(TruncateReport {
        segments: cp.segments,
        series_kept: cp.series_kept,
        series_dropped: cp.series_dropped,
        bytes_before: cp.bytes_before,
        bytes_after: cp.bytes_after,
    })
}

fn truncate_with(
    wal: &Wal,
    mint: i64,
    keep: &dyn Fn(SeriesRef) -> bool,
    crash: Option<CrashPoint>,
) -> Result<TruncateReport> {
    if wal.mode() == crate::options::WalMode::Wlog {
        return truncate_wlog(wal, mint, keep);
    }
    let (_guard, cands) = wal.truncation_candidates(mint)?;
    let mut rep = TruncateReport::default();
    let Some(last) = cands.last().copied() else {
        return Ok(rep);
    };
    let dir = wal.shared_dir().to_path_buf();
    let files: Vec<SegmentFile> = cands
        .iter()
        .map(|c| SegmentFile {
            seq: c.seq,
            path: segment_path(&dir, c.seq),
        })
        .collect();
    for f in &files {
        rep.bytes_before += std::fs::metadata(&f.path)
            .map_err(|e| WalError::io("stat", &f.path, e))?
            .len();
    }
    rep.segments = cands.iter().map(|c| c.seq).collect();

    let tmp = dir.join("compact.tmp");
    let _ = std::fs::remove_file(&tmp);
    let mut out = File::create(&tmp).map_err(|e| WalError::io("create", &tmp, e))?;
    let mut write =
        |b: &[u8]| -> Result<()> { out.write_all(b).map_err(|e| WalError::io("write", &tmp, e)) };
    write(&encode_header(FLAG_CHECKPOINT))?;
    let mut size = encode_header(0).len() as u64;
    let mut enc = Encoder::new(wal.mode());
    let mut kept: Vec<RefSeries> = Vec::new();
    let mut min_ref = u64::MAX;
    // Only series (and symbols) go into the checkpoint: samples are framed and checked, not decoded.
    let mut r = WalReader::from_segments(files.clone()).skipping_samples();
    loop {
        let entry = match r.next() {
            Ok(Some(e)) => e,
            Ok(None) => break,
            Err(e) => {
                let _ = std::fs::remove_file(&tmp);
                return Err(e);
            }
        };
        let Record::Series(series) = entry.record else {
            continue;
        };
        kept.clear();
        for s in series {
            if keep(s.series) {
                kept.push(s.clone());
                min_ref = min_ref.min(s.series);
            } else {
                rep.series_dropped += 1;
            }
        }
        rep.series_kept += kept.len() as u64;
        enc.series_simple(&kept)?;
        if enc.bytes().len() >= 1 << 20 {
            write(enc.bytes())?;
            size += enc.bytes().len() as u64;
            enc.clear();
        }
    }
    // Later segments may use symbol ids defined in the rewritten ones: define the table again, from id 0.
    if !r.symbols().is_empty() {
        enc.symbols(0, r.symbols().iter())?;
    }
    write(enc.bytes())?;
    size += enc.bytes().len() as u64;
    if crash == Some(CrashPoint::AfterTempWritten) {
        return Ok(rep);
    }
    tsdb_failpoint::point("wal.checkpoint.fsync");
    out.sync_all().map_err(|e| WalError::io("fsync", &tmp, e))?;
    drop(out);
    let target = segment_path(&dir, last.seq);
    tsdb_failpoint::point("wal.checkpoint.rename");
    std::fs::rename(&tmp, &target).map_err(|e| WalError::io("rename", &tmp, e))?;
    sync_dir(&dir)?;
    wal.replace_closed(
        &cands,
        ClosedSegment {
            seq: last.seq,
            max_t: i64::MIN,
            min_ref,
        },
    );
    if crash == Some(CrashPoint::AfterRename) {
        return Ok(rep);
    }
    for (i, f) in files[..files.len() - 1].iter().enumerate() {
        std::fs::remove_file(&f.path).map_err(|e| WalError::io("remove", &f.path, e))?;
        if i == 0 && crash == Some(CrashPoint::AfterFirstRemoval) {
            return Ok(rep);
        }
    }
    sync_dir(&dir)?;
    rep.bytes_after = size;
    Ok(rep)
}

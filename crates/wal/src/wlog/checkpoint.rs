//! Truncation of a wlog as a Prometheus checkpoint.
//!
//! `checkpoint(dir, last, mint, keep)` reads the newest checkpoint and the segments after it up to `last`,
//! and writes `checkpoint.<last>` holding the series whose ref `keep` accepts, the samples at or after `mint`
//! and the tombstones whose end is at or after `mint` (records this crate does not store — exemplars,
//! metadata, histograms — are dropped and counted). It is written as `checkpoint.<last>.tmp`, every file and
//! the directory fsynced, renamed into place and the WAL directory fsynced; only then are the segments up to
//! `last` and the older checkpoints removed. A crash at any step leaves a directory that reads as before or as
//! after: readers ignore temporary directories and segments a checkpoint covers, and the writer removes them
//! when it opens the log.

use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};

use super::fragment::{frame_record, framed_end, page_align};
use super::reader::{Kind, Source, WlogReader};
use super::{checkpoint_name, list, segment_path, DEFAULT_SEGMENT_SIZE};
use crate::entry::Encoder;
use crate::error::{Result, WalError};
use crate::options::WalMode;
use crate::record::{Delete, RefSample, RefSeries, SeriesRef};
use crate::segment::sync_dir;

/// What a checkpoint kept and dropped.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CheckpointReport {
    /// The checkpoint written (`None` if nothing was to be done).
    pub checkpoint: Option<PathBuf>,
    /// Directory segments it covers and removed.
    pub segments: Vec<u64>,
    /// Series kept and dropped.
    pub series_kept: u64,
    /// Series whose ref `keep` refused.
    pub series_dropped: u64,
    /// Samples kept.
    pub samples_kept: u64,
    /// Samples older than `mint`.
    pub samples_dropped: u64,
    /// Tombstones kept.
    pub tombstones_kept: u64,
    /// Tombstones ending before `mint`.
    pub tombstones_dropped: u64,
    /// Records of types this crate does not store, dropped.
    pub other_dropped: u64,
    /// Bytes of the segments and the previous checkpoint read.
    pub bytes_before: u64,
    /// Bytes of the new checkpoint.
    pub bytes_after: u64,
}

/// Test hook: where a simulated crash stops a checkpoint.
#[doc(hidden)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CrashPoint {
    /// After writing the temporary directory, before its rename.
    BeforeRename,
    /// After the rename, before removing the covered segments.
    AfterRename,
}

/// Writes wlog segments into a directory, cutting them at `size` bytes; every finished file is fsynced.
pub(crate) struct SegmentWriter {
    dir: PathBuf,
    size: u64,
    seq: u64,
    file: Option<File>,
    off: u64,
    buf: Vec<u8>,
    pub(crate) bytes: u64,
}

impl SegmentWriter {
    pub(crate) fn new(dir: &Path, size: u64) -> SegmentWriter {
        SegmentWriter {
            dir: dir.to_path_buf(),
            size,
            seq: 0,
            file: None,
            off: 0,
            buf: Vec::new(),
            bytes: 0,
        }
    }

    pub(crate) fn log(&mut self, rec: &[u8], flag: u8) -> Result<()> {
        if self.file.is_some() && self.off > 0 && framed_end(self.off, rec.len()) > self.size {
            self.finish_file()?;
            self.seq += 1;
        }
        if self.file.is_none() {
            let p = segment_path(&self.dir, self.seq);
            let f = File::create(&p).map_err(|e| WalError::io("create", &p, e))?;
            self.file = Some(f);
            self.off = 0;
        }
        self.off = frame_record(&mut self.buf, self.off, rec, flag);
        if self.buf.len() >= 1 << 20 {
            self.flush()?;
        }
        Ok(())
    }

    fn flush(&mut self) -> Result<()> {
        if let Some(f) = self.file.as_mut() {
            let p = segment_path(&self.dir, self.seq);
            f.write_all(&self.buf)
                .map_err(|e| WalError::io("write", &p, e))?;
            self.bytes += self.buf.len() as u64;
            self.buf.clear();
        }
        Ok(())
    }

    fn finish_file(&mut self) -> Result<()> {
        let pad = page_align(self.off) - self.off;
        self.buf.resize(self.buf.len() + pad as usize, 0);
        self.off += pad;
        self.flush()?;
        if let Some(f) = self.file.take() {
            let p = segment_path(&self.dir, self.seq);
            tsdb_failpoint::point("wal.checkpoint.fsync");
            f.sync_all().map_err(|e| WalError::io("fsync", &p, e))?;
        }
        Ok(())
    }

    /// Finishes the last file (an empty directory gets one empty segment, as Prometheus leaves) and fsyncs
    /// the directory.
    pub(crate) fn close(mut self) -> Result<u64> {
        if self.file.is_none() {
            let p = segment_path(&self.dir, 0);
            let f = File::create(&p).map_err(|e| WalError::io("create", &p, e))?;
            self.file = Some(f);
        }
        self.finish_file()?;
        sync_dir(&self.dir)?;
        Ok(self.bytes)
    }
}

/// Checkpoints the wlog in `dir` up to segment `last` (see the module documentation).
pub fn checkpoint(
    dir: &Path,
    last: u64,
    mint: i64,
    keep: &dyn Fn(SeriesRef) -> bool,
) -> Result<CheckpointReport> {
    checkpoint_with(dir, last, mint, keep, None)
}

/// `checkpoint`, stopping at `crash` as if the process had died there (test hook).
#[doc(hidden)]
pub fn checkpoint_until(
    dir: &Path,
    last: u64,
    mint: i64,
    keep: &dyn Fn(SeriesRef) -> bool,
    crash: CrashPoint,
) -> Result<CheckpointReport> {
    checkpoint_with(dir, last, mint, keep, Some(crash))
}

fn file_len(p: &Path) -> Result<u64> {
    Ok(std::fs::metadata(p)
        .map_err(|e| WalError::io("stat", p, e))?
        .len())
}

fn checkpoint_with(
    dir: &Path,
    last: u64,
    mint: i64,
    keep: &dyn Fn(SeriesRef) -> bool,
    crash: Option<CrashPoint>,
) -> Result<CheckpointReport> {
    let l = list(dir)?;
    let mut rep = CheckpointReport::default();
    let prev = l.last_checkpoint().cloned();
    let from = prev.as_ref().map_or(0, |c| c.index + 1);
    let mut sources = Vec::new();
    if let Some(cp) = &prev {
        if cp.index >= last {
            return Ok(rep);
        }
        for s in list(&cp.path)?.segments {
            rep.bytes_before += file_len(&s.path)?;
            sources.push(Source {
                file: s,
                checkpoint: Some(cp.index),
            });
        }
    }
    let covered: Vec<_> = l
        .segments
        .iter()
        .filter(|s| s.seq >= from && s.seq <= last)
        .cloned()
        .collect();
    if covered.is_empty() && prev.is_none() {
        return Ok(rep);
    }
    for s in &covered {
        rep.bytes_before += file_len(&s.path)?;
        rep.segments.push(s.seq);
        sources.push(Source {
            file: s.clone(),
            checkpoint: None,
        });
    }
    let mut r = WlogReader::from_sources(sources);
    if let Some(cp) = prev.clone() {
        r = r.with_checkpoint(cp);
    }

    let final_dir = dir.join(checkpoint_name(last));
    let tmp = dir.join(format!("{}.tmp", checkpoint_name(last)));
    if tmp.exists() {
        std::fs::remove_dir_all(&tmp).map_err(|e| WalError::io("remove", &tmp, e))?;
    }
    std::fs::create_dir(&tmp).map_err(|e| WalError::io("create directory", &tmp, e))?;
    let result = (|| -> Result<u64> {
        let mut w = SegmentWriter::new(&tmp, DEFAULT_SEGMENT_SIZE);
        let mut enc = Encoder::new(WalMode::Wlog);
        let mut series: Vec<RefSeries> = Vec::new();
        let mut samples: Vec<RefSample> = Vec::new();
        let mut deletes: Vec<Delete> = Vec::new();
        while let Some(loc) = r.next()? {
            enc.clear();
            match loc.kind {
                Kind::Series => {
                    series.clear();
                    series.extend(r.series().iter().filter(|s| keep(s.series)).cloned());
                    rep.series_kept += series.len() as u64;
                    rep.series_dropped += (r.series().len() - series.len()) as u64;
                    enc.series_simple(&series)?;
                }
                Kind::Samples => {
                    samples.clear();
                    samples.extend(r.samples().iter().filter(|s| s.t >= mint));
                    rep.samples_kept += samples.len() as u64;
                    rep.samples_dropped += (r.samples().len() - samples.len()) as u64;
                    enc.samples(&samples)?;
                }
                Kind::Tombstones => {
                    deletes.clear();
                    deletes.extend(r.deletes().iter().filter(|d| d.maxt >= mint));
                    rep.tombstones_kept += deletes.len() as u64;
                    rep.tombstones_dropped += (r.deletes().len() - deletes.len()) as u64;
                    enc.deletes(&deletes)?;
                }
            }
            for (rec, flag) in enc.wlog_records() {
                w.log(rec, flag)?;
            }
        }
        rep.other_dropped = r.skipped().total();
        let n = w.close()?;
        sync_dir(&tmp)?;
        Ok(n)
    })();
    match result {
        Ok(n) => rep.bytes_after = n,
        Err(e) => {
            let _ = std::fs::remove_dir_all(&tmp);
            return Err(e);
        }
    }
    if crash == Some(CrashPoint::BeforeRename) {
        return Ok(rep);
    }
    if final_dir.exists() {
        std::fs::remove_dir_all(&final_dir).map_err(|e| WalError::io("remove", &final_dir, e))?;
    }
    tsdb_failpoint::point("wal.checkpoint.rename");
    std::fs::rename(&tmp, &final_dir).map_err(|e| WalError::io("rename", &tmp, e))?;
    sync_dir(dir)?;
    rep.checkpoint = Some(final_dir);
    if crash == Some(CrashPoint::AfterRename) {
        return Ok(rep);
    }
    tsdb_failpoint::point("wal.checkpoint.remove");
    remove_covered(dir, last)?;
    Ok(rep)
}

/// Removes the segments numbered up to `last`, the checkpoints older than `checkpoint.<last>` and temporary
/// checkpoint directories, then fsyncs `dir`.
pub(crate) fn remove_covered(dir: &Path, last: u64) -> Result<()> {
    let l = list(dir)?;
    for s in l.segments.iter().filter(|s| s.seq <= last) {
        std::fs::remove_file(&s.path).map_err(|e| WalError::io("remove", &s.path, e))?;
    }
    for c in l.checkpoints.iter().filter(|c| c.index < last) {
        std::fs::remove_dir_all(&c.path).map_err(|e| WalError::io("remove", &c.path, e))?;
    }
    for t in &l.temporary {
        std::fs::remove_dir_all(t).map_err(|e| WalError::io("remove", t, e))?;
    }
    sync_dir(dir)
}

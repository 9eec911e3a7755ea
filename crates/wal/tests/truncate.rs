//! `truncate(mint, keep)`: old segments become one checkpoint of the kept series; a crash at any step leaves
//! a log that reads back as the old or the new state.

mod common;

use std::path::Path;

use common::{read_all, read_placed, segment_sizes, Rec};
use tsdb_wal::truncate::{truncate_until, CrashPoint};
use tsdb_wal::{Batch, SyncPolicy, Wal, WalMode, WalOptions};

const T0: i64 = 1_700_000_000_000;

/// Ten rounds, each creating ten series and logging samples of every series so far at `T0 + round * 1000`.
fn build(dir: &Path, mode: WalMode) -> Wal {
    let wal = Wal::open(
        dir,
        WalOptions {
            mode,
            segment_size: 1024,
            sync: SyncPolicy::Never,
            ..WalOptions::default()
        },
    )
    .unwrap();
    for round in 0..10u64 {
        let series = common::make_series(round * 10, 10);
        let samples = common::make_samples(0, round * 10 + 10, T0 + round as i64 * 1000);
        wal.log(Batch {
            series: &series,
            samples: &samples,
            deletes: &[],
        })
        .unwrap();
    }
    wal
}

fn keep(r: u64) -> bool {
    !r.is_multiple_of(3)
}

/// What the log must read as after truncating at `mint`, from its records and segment stats before.
fn expected_after(dir: &Path, wal: &Wal, mint: i64) -> (Vec<Rec>, Vec<u64>) {
    let cands: Vec<u64> = wal
        .closed_segments()
        .iter()
        .take_while(|c| c.max_t < mint)
        .map(|c| c.seq)
        .collect();
    let mut want = Vec::new();
    for p in read_placed(dir) {
        let Some(rec) = p.rec else { continue };
        if cands.contains(&p.segment) {
            if let Rec::Series(s) = rec {
                let kept: Vec<_> = s.into_iter().filter(|s| keep(s.series)).collect();
                if !kept.is_empty() {
                    want.push(Rec::Series(kept));
                }
            }
        } else {
            want.push(rec);
        }
    }
    (want, cands)
}

#[test]
fn truncation_keeps_live_series_and_newer_segments() {
    for mode in [WalMode::Native, WalMode::Prometheus] {
        let dir = tempfile::tempdir().unwrap();
        let wal = build(dir.path(), mode);
        let mint = T0 + 5000;
        let (want, cands) = expected_after(dir.path(), &wal, mint);
        assert!(
            cands.len() >= 2,
            "{mode:?}: {cands:?} of {:?}",
            wal.closed_segments()
        );
        let before = segment_sizes(dir.path()).len();
        let rep = wal.truncate(mint, keep).unwrap();
        assert_eq!(rep.segments, cands);
        assert!(rep.series_dropped > 0 && rep.series_kept > 0);
        assert_eq!(segment_sizes(dir.path()).len(), before - cands.len() + 1);
        // New series written after truncation reuse symbol ids defined in the removed segments.
        let more = common::make_series(1000, 5);
        wal.log_series(&more).unwrap();
        wal.close().unwrap();
        let (got, err) = read_all(dir.path());
        assert!(err.is_none(), "{mode:?}: {err:?}");
        let mut want = want;
        want.push(Rec::Series(more));
        assert!(
            got == want,
            "{mode:?}: read {} records, want {}",
            got.len(),
            want.len()
        );
        // The log opens again, and truncating again rewrites the checkpoint with what is still old.
        let wal = Wal::open(dir.path(), WalOptions::default()).unwrap();
        let rep = wal.truncate(i64::MAX, |_| true).unwrap();
        assert!(!rep.segments.is_empty());
        wal.close().unwrap();
        let (got, err) = read_all(dir.path());
        assert!(err.is_none(), "{err:?}");
        assert!(got.iter().all(|r| matches!(r, Rec::Series(_))));
    }
}

#[test]
fn nothing_old_enough_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let wal = build(dir.path(), WalMode::Native);
    let (before, _) = read_all(dir.path());
    let rep = wal.truncate(T0, |_| false).unwrap();
    assert!(rep.segments.is_empty());
    let (after, _) = read_all(dir.path());
    assert_eq!(before, after);
}

#[test]
fn a_crash_at_any_step_reads_as_old_or_new() {
    let points = [
        (CrashPoint::AfterTempWritten, false),
        (CrashPoint::AfterRename, true),
        (CrashPoint::AfterFirstRemoval, true),
    ];
    for mode in [WalMode::Native, WalMode::Prometheus] {
        for (point, is_new) in points {
            let dir = tempfile::tempdir().unwrap();
            let wal = build(dir.path(), mode);
            let mint = T0 + 6000;
            let (old, _) = read_all(dir.path());
            let (new, _) = expected_after(dir.path(), &wal, mint);
            assert!(old != new);
            truncate_until(&wal, mint, &keep, point).unwrap();
            // The process dies here: nothing else runs (threads are leaked, files are left as they are).
            std::mem::forget(wal);
            let (got, err) = read_all(dir.path());
            assert!(err.is_none(), "{point:?}: {err:?}");
            assert!(
                &got == if is_new { &new } else { &old },
                "{mode:?} {point:?}: {} records",
                got.len()
            );
            // Reopening cleans up (compact.tmp, superseded segments) and reads the same.
            let wal = Wal::open(dir.path(), WalOptions::default()).unwrap();
            assert!(!dir.path().join("compact.tmp").exists());
            wal.close().unwrap();
            let (again, err) = read_all(dir.path());
            assert!(err.is_none());
            assert!(again == got);
        }
    }
}

//! Damaged logs: the reader never panics and never yields a record that was not written; repair keeps exactly
//! the intact prefix.

mod common;

use std::os::unix::fs::FileExt;
use std::path::Path;

use common::{assert_prefix, batch_records, copy_dir, read_all, read_placed, Rec};
use proptest::prelude::*;
use tsdb_wal::segment::list_segments;
use tsdb_wal::{repair, Batch, Delete, SyncPolicy, Wal, WalError, WalMode, WalOptions};

/// Writes a log of several segments; returns the records written.
fn build(dir: &Path, mode: WalMode) -> Vec<Rec> {
    let opts = WalOptions {
        mode,
        segment_size: 8 * 1024,
        sync: SyncPolicy::Never,
        ..WalOptions::default()
    };
    let wal = Wal::open(dir, opts).unwrap();
    let mut want = Vec::new();
    for i in 0..40u64 {
        let series = if i % 5 == 0 {
            common::make_series(i * 10, 10)
        } else {
            vec![]
        };
        let samples = common::make_samples(0, 10 + i * 5, 1_700_000_000_000 + i as i64 * 15_000);
        let deletes = if i % 7 == 3 {
            vec![Delete {
                series: i,
                mint: 0,
                maxt: i as i64,
            }]
        } else {
            vec![]
        };
        wal.log(Batch {
            series: &series,
            samples: &samples,
            deletes: &deletes,
        })
        .unwrap();
        want.extend(batch_records(&series, &samples, &deletes));
    }
    // The log ends with a samples entry.
    let last = common::make_samples(0, 3, 1_800_000_000_000);
    wal.log_samples(&last).unwrap();
    want.push(Rec::Samples(last));
    wal.close().unwrap();
    want
}

fn corruption_of(e: Option<WalError>) -> tsdb_wal::Corruption {
    match e {
        Some(WalError::Corruption(c)) => c,
        other => panic!("expected a corruption, got {other:?}"),
    }
}

/// Repairs `dir`, then checks that it reads without error exactly as `got` did before.
fn repair_keeps(dir: &Path, got: &[Rec]) {
    let rep = repair(dir).unwrap().expect("a repair");
    assert!(rep.bytes_dropped() > 0 || !rep.removed.is_empty() || rep.bytes_truncated == 0);
    let (again, err) = read_all(dir);
    assert!(err.is_none(), "after repair: {err:?}");
    assert_eq!(again, got, "repair kept a different prefix");
    assert!(repair(dir).unwrap().is_none(), "second repair found damage");
}

#[test]
fn cut_at_every_offset_inside_the_last_entry() {
    for mode in [WalMode::Native, WalMode::Prometheus] {
        let base = tempfile::tempdir().unwrap();
        let want = build(base.path(), mode);
        let placed = read_placed(base.path());
        let last = placed.last().unwrap().clone();
        let seg = list_segments(base.path()).unwrap().pop().unwrap();
        assert_eq!(seg.seq, last.segment);
        for cut in last.offset..last.offset + last.len {
            let d = tempfile::tempdir().unwrap();
            copy_dir(base.path(), d.path());
            let f = std::fs::OpenOptions::new()
                .write(true)
                .open(d.path().join(seg.path.file_name().unwrap()))
                .unwrap();
            f.set_len(cut).unwrap();
            let (got, err) = read_all(d.path());
            assert_eq!(got, want[..want.len() - 1], "cut at {cut}");
            if cut == last.offset {
                assert!(err.is_none(), "a cut on an entry boundary is a clean end");
                continue;
            }
            let c = corruption_of(err);
            assert_eq!((c.segment, c.offset), (last.segment, last.offset));
            assert!(c.reason.contains("torn"), "{}", c.reason);
            repair_keeps(d.path(), &got);
        }
    }
}

#[test]
fn zeroed_tail_keeps_the_prefix() {
    let base = tempfile::tempdir().unwrap();
    let want = build(base.path(), WalMode::Native);
    let seg = list_segments(base.path()).unwrap().pop().unwrap();
    let len = std::fs::metadata(&seg.path).unwrap().len();
    for from in (8..len).step_by(97) {
        let d = tempfile::tempdir().unwrap();
        copy_dir(base.path(), d.path());
        let f = std::fs::OpenOptions::new()
            .write(true)
            .open(d.path().join(seg.path.file_name().unwrap()))
            .unwrap();
        f.write_all_at(&vec![0u8; (len - from) as usize], from)
            .unwrap();
        let (got, err) = read_all(d.path());
        assert_prefix(&got, &want);
        assert!(got.len() < want.len());
        if err.is_some() {
            corruption_of(err);
            repair_keeps(d.path(), &got);
        }
    }
}

#[test]
fn missing_middle_segment_stops_before_it() {
    let base = tempfile::tempdir().unwrap();
    let want = build(base.path(), WalMode::Prometheus);
    let segs = list_segments(base.path()).unwrap();
    assert!(segs.len() >= 4, "{} segments", segs.len());
    let placed = read_placed(base.path());
    let gone = segs[1].seq;
    std::fs::remove_file(&segs[1].path).unwrap();
    let (got, err) = read_all(base.path());
    let before: Vec<Rec> = placed
        .iter()
        .filter(|p| p.segment < gone)
        .filter_map(|p| p.rec.clone())
        .collect();
    assert_eq!(got, before);
    assert_prefix(&got, &want);
    let c = corruption_of(err);
    assert_eq!((c.segment, c.offset), (gone, 0));
    assert!(c.reason.contains("missing"), "{}", c.reason);
    repair_keeps(base.path(), &got);
    assert_eq!(list_segments(base.path()).unwrap().len(), 1);
}

#[test]
fn bad_segment_header_removes_that_segment_and_later() {
    let base = tempfile::tempdir().unwrap();
    let want = build(base.path(), WalMode::Native);
    let segs = list_segments(base.path()).unwrap();
    let f = std::fs::OpenOptions::new()
        .write(true)
        .open(&segs[2].path)
        .unwrap();
    f.write_all_at(&[0xde, 0xad], 0).unwrap();
    let (got, err) = read_all(base.path());
    assert_prefix(&got, &want);
    let c = corruption_of(err);
    assert_eq!((c.segment, c.offset), (segs[2].seq, 0));
    repair_keeps(base.path(), &got);
    assert_eq!(list_segments(base.path()).unwrap().len(), 2);
}

struct Base {
    dir: tempfile::TempDir,
    want: Vec<Rec>,
    files: Vec<(std::path::PathBuf, u64)>,
}

fn base(mode: WalMode) -> Base {
    let dir = tempfile::tempdir().unwrap();
    let want = build(dir.path(), mode);
    let files = list_segments(dir.path())
        .unwrap()
        .into_iter()
        .map(|s| {
            let l = std::fs::metadata(&s.path).unwrap().len();
            (s.path, l)
        })
        .collect();
    Base { dir, want, files }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, .. ProptestConfig::default() })]

    /// Random byte flips anywhere: always detected (every byte of a closed log is covered by a header or
    /// a CRC), never a panic, never an invented record; repair keeps exactly what was read.
    #[test]
    fn random_flips_are_detected(
        native in any::<bool>(),
        flips in prop::collection::vec((any::<prop::sample::Index>(), any::<prop::sample::Index>(), 1u8..=255), 1..4),
    ) {
        let b = base(if native { WalMode::Native } else { WalMode::Prometheus });
        let d = tempfile::tempdir().unwrap();
        copy_dir(b.dir.path(), d.path());
        for (fi, off, x) in &flips {
            let (p, len) = &b.files[fi.index(b.files.len())];
            let p = d.path().join(p.file_name().unwrap());
            let off = off.index(*len as usize) as u64;
            let f = std::fs::OpenOptions::new().read(true).write(true).open(&p).unwrap();
            let mut byte = [0u8];
            f.read_exact_at(&mut byte, off).unwrap();
            f.write_all_at(&[byte[0] ^ x], off).unwrap();
        }
        let (got, err) = read_all(d.path());
        assert_prefix(&got, &b.want);
        corruption_of(err);
        repair_keeps(d.path(), &got);
    }

    /// Random truncation and random garbage appended to the last segment.
    #[test]
    fn random_truncation_and_garbage(
        native in any::<bool>(),
        cut in any::<prop::sample::Index>(),
        garbage in prop::collection::vec(any::<u8>(), 0..64),
    ) {
        let b = base(if native { WalMode::Native } else { WalMode::Prometheus });
        let d = tempfile::tempdir().unwrap();
        copy_dir(b.dir.path(), d.path());
        let (p, len) = b.files.last().unwrap();
        let p = d.path().join(p.file_name().unwrap());
        let cut = cut.index(*len as usize) as u64;
        let f = std::fs::OpenOptions::new().write(true).open(&p).unwrap();
        f.set_len(cut).unwrap();
        f.write_all_at(&garbage, cut).unwrap();
        let (got, err) = read_all(d.path());
        assert_prefix(&got, &b.want);
        if let Some(e) = err {
            corruption_of(Some(e));
            repair_keeps(d.path(), &got);
        }
    }
}

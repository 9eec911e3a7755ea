//! Compaction over several levels in one `maintain`: the report lists only blocks that exist.

use std::path::Path;

use tsdb::{Db, Options};
use tsdb_block::{write_block, WriteOptions};
use tsdb_labels::Labels;

const TWO_H: i64 = 7_200_000;

fn opts() -> Options {
    Options {
        background: false,
        ..Options::default()
    }
}

/// Writes `n` consecutive 2 h blocks of one series into `dir` from `base`, one sample a minute.
fn two_hour_blocks(dir: &Path, base: i64, n: i64) -> Vec<(i64, f64)> {
    let l = Labels::new([("__name__", "m")]).unwrap();
    let mut all = Vec::new();
    for i in 0..n {
        let samples: Vec<(i64, f64)> = (0..120)
            .map(|k| (base + i * TWO_H + k * 60_000, (i * 1000 + k) as f64))
            .collect();
        all.extend(samples.iter().copied());
        let src = vec![(l.clone(), samples)];
        let start = base + i * TWO_H;
        write_block(dir, &src, start, start + TWO_H, &WriteOptions::default())
            .unwrap()
            .unwrap();
    }
    all
}

#[test]
fn eight_two_hour_blocks_compact_to_completion_in_one_run() {
    let dir = tempfile::tempdir().unwrap();
    // From 6 h: the first two 6 h windows fill, and the 18 h window then takes both 6 h blocks.
    let want = two_hour_blocks(dir.path(), 3 * TWO_H, 8);
    let db = Db::open(dir.path(), opts()).unwrap();
    let m = db.maintain().unwrap();
    let present: Vec<_> = db.blocks().iter().map(|b| b.ulid).collect();
    assert!(!m.compacted.is_empty());
    // More than one level happened: some block spans more than 6 h.
    assert!(
        db.blocks()
            .iter()
            .any(|b| b.max_time - b.min_time > 3 * TWO_H),
        "{:?}",
        db.blocks()
    );
    for c in &m.compacted {
        assert!(
            present.contains(&c.ulid),
            "the report lists block {} [{}, {}), which was compacted again in the same run",
            c.ulid,
            c.min_time,
            c.max_time
        );
        assert!(dir
            .path()
            .join(c.ulid.to_string())
            .join("meta.json")
            .is_file());
    }
    // Nothing is left to do, and every sample is there.
    let again = db.maintain().unwrap();
    assert!(again.compacted.is_empty(), "{again:?}");
    let got = db.querier(i64::MIN, i64::MAX).select_all(&[]).unwrap();
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].samples, want);
    db.close().unwrap();
}

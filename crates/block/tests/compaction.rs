//! Compaction of blocks (acceptance 3): overlapping and adjacent blocks with tombstones merge
//! into one block holding the expected samples, which promtool reads.

mod common;

use std::collections::BTreeMap;
use std::path::PathBuf;

use common::*;
use tsdb_block::*;
use tsdb_labels::{Labels, MatchOp, Matcher};

const H: i64 = 3_600_000;

/// Expected content of a merge: blocks in min-time order, each clipped to its range with its
/// tombstones applied; at equal timestamps the earlier block's sample wins.
/// A block's data, range and deletions (matchers, interval).
type BlockSpec = (Data, i64, i64, Vec<(Vec<Matcher>, Interval)>);

fn merged(blocks: &[BlockSpec]) -> BTreeMap<Labels, Vec<(i64, f64)>> {
    let mut acc: BTreeMap<Labels, BTreeMap<i64, f64>> = BTreeMap::new();
    for (data, mint, maxt, dels) in blocks {
        for (l, s) in data {
            let mut d = Intervals::new();
            for (ms, iv) in dels {
                if ms.iter().all(|m| m.matches_labels(l)) {
                    d.add(*iv);
                }
            }
            for &(t, v) in s {
                if t >= *mint && t < *maxt && !d.contains(t) {
                    acc.entry(l.clone()).or_default().entry(t).or_insert(v);
                }
            }
        }
    }
    acc.into_iter()
        .filter(|(_, s)| !s.is_empty())
        .map(|(l, s)| (l, s.into_iter().collect()))
        .collect()
}

#[test]
fn three_blocks_compact_into_one_with_the_expected_samples() {
    let dir = tempfile::tempdir().unwrap();
    let parent = dir.path();
    let base = 100 * 2 * H;
    // A: [0, 2h), B: [2h, 4h) adjacent; C: [1h, 3h) overlaps both. C shares A's first series
    // (same labels, interleaved and duplicate timestamps with other values).
    let a = gen_data(1, 40, 400, base, 15_000);
    let b = gen_data(2, 50, 400, base + 2 * H, 15_000);
    let mut c = gen_data(1, 20, 300, base + H, 10_000);
    for (_, s) in c.iter_mut() {
        for (_, v) in s.iter_mut() {
            *v += 0.5;
        }
    }
    let mk = |d: &Data, lo: i64, hi: i64| {
        let m = write_block(parent, d, lo, hi, &WriteOptions::default())
            .unwrap()
            .unwrap();
        parent.join(m.ulid.to_string())
    };
    let da = mk(&a, base, base + 2 * H);
    let db = mk(&b, base + 2 * H, base + 4 * H);
    let dc = mk(&c, base + H, base + 3 * H);

    let del_a = (
        vec![Matcher::new(MatchOp::Equal, "job", "api").unwrap()],
        Interval::new(base + 1000, base + H),
    );
    let del_c = (
        vec![Matcher::new(MatchOp::RegexMatch, "__name__", "metric_[12]").unwrap()],
        Interval::new(base + H + 1, base + 2 * H + 600_000),
    );
    Block::open(&da)
        .unwrap()
        .delete(&del_a.0, del_a.1.mint, del_a.1.maxt)
        .unwrap();
    Block::open(&dc)
        .unwrap()
        .delete(&del_c.0, del_c.1.mint, del_c.1.maxt)
        .unwrap();

    let metas: Vec<(PathBuf, BlockMeta)> = [&da, &db, &dc]
        .iter()
        .map(|d| ((*d).clone(), read_meta(d).unwrap()))
        .collect();
    // The overlap is what the planner picks first.
    let mut plan = plan_compaction(&metas, &default_ranges()).unwrap();
    plan.sort();
    let mut all = vec![da.clone(), db.clone(), dc.clone()];
    all.sort();
    assert_eq!(plan, all);

    let want = merged(&[
        (a.clone(), base, base + 2 * H, vec![del_a]),
        (c.clone(), base + H, base + 3 * H, vec![del_c]),
        (b.clone(), base + 2 * H, base + 4 * H, vec![]),
    ]);

    let meta = compact_and_remove_sources(parent, &[db.clone(), dc.clone(), da.clone()])
        .unwrap()
        .unwrap();
    assert!(!da.exists() && !db.exists() && !dc.exists());
    let out = parent.join(meta.ulid.to_string());
    assert_eq!(block_dirs(parent).unwrap(), vec![out.clone()]);
    assert_eq!((meta.min_time, meta.max_time), (base, base + 4 * H));
    assert_eq!(meta.compaction.level, 2);
    assert_eq!(meta.compaction.sources.len(), 3);
    assert_eq!(meta.compaction.parents.len(), 3);
    assert_eq!(meta.stats.num_tombstones, 0);

    let blk = Block::open(&out).unwrap();
    assert_eq!(blk.meta(), meta);
    assert!(blk.tombstones().is_empty());
    let got = query(&blk, &[], i64::MIN, i64::MAX);
    assert_same(&got, &want);
    assert_eq!(
        meta.stats.num_samples,
        want.values().map(|s| s.len() as u64).sum::<u64>()
    );
    assert_eq!(meta.stats.num_series, want.len() as u64);
    // Re-encoded chunks hold at most 120 samples; chunks do not overlap.
    for s in blk.select(&[], i64::MIN, i64::MAX).unwrap() {
        let s = s.unwrap();
        for w in s.chunks().windows(2) {
            assert!(w[0].max_time < w[1].min_time);
        }
        for c in s.chunks() {
            let data = blk.chunk(c.chunk_ref).unwrap();
            let n = u16::from_be_bytes([data.data[0], data.data[1]]);
            assert!(n <= 240 && n > 0);
        }
    }

    if let Some(pt) = promtool("three_blocks_compact_into_one_with_the_expected_samples") {
        std::fs::create_dir(parent.join("wal")).unwrap();
        let d = parent.to_str().unwrap();
        let list = run(&pt, &["tsdb", "list", d]);
        assert!(list.contains(&meta.ulid.to_string()), "{list}");
        run(&pt, &["tsdb", "analyze", d]);
        let dump = parse_dump(&run(&pt, &["tsdb", "dump", d]));
        assert_same(&dump, &want);
    }
}

#[test]
fn compacting_fully_deleted_blocks_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let data = gen_data(5, 10, 50, 0, 1000);
    let m = write_block(dir.path(), &data, 0, 2 * H, &WriteOptions::default())
        .unwrap()
        .unwrap();
    let d = dir.path().join(m.ulid.to_string());
    Block::open(&d)
        .unwrap()
        .delete(&[], i64::MIN, i64::MAX)
        .unwrap();
    assert_eq!(read_meta(&d).unwrap().stats.num_tombstones, 10);
    // A block whose every series has a tombstone is planned on its own, if not the newest.
    let newer = write_block(dir.path(), &data, 2 * H, 4 * H, &WriteOptions::default());
    assert!(newer.unwrap().is_none());
    assert!(compact(dir.path(), std::slice::from_ref(&d))
        .unwrap()
        .is_none());
    assert_eq!(block_dirs(dir.path()).unwrap(), vec![d]);
}

#[test]
fn non_overlapping_chunks_are_copied_unchanged() {
    let dir = tempfile::tempdir().unwrap();
    let clip = |mut d: Data, lo: i64, hi: i64| {
        for (_, s) in d.iter_mut() {
            s.retain(|(t, _)| (lo..hi).contains(t));
        }
        d
    };
    let a = clip(gen_data(9, 10, 480, 0, 15_000), 0, 2 * H);
    let b = clip(gen_data(9, 10, 480, 2 * H, 15_000), 2 * H, 4 * H);
    let ma = write_block(dir.path(), &a, 0, 2 * H, &WriteOptions::default())
        .unwrap()
        .unwrap();
    let mb = write_block(dir.path(), &b, 2 * H, 4 * H, &WriteOptions::default())
        .unwrap()
        .unwrap();
    let m = compact(
        dir.path(),
        &[
            dir.path().join(ma.ulid.to_string()),
            dir.path().join(mb.ulid.to_string()),
        ],
    )
    .unwrap()
    .unwrap();
    assert_eq!(
        m.stats.num_chunks,
        ma.stats.num_chunks + mb.stats.num_chunks
    );
    assert_eq!(
        m.stats.num_samples,
        ma.stats.num_samples + mb.stats.num_samples
    );
    let blk = Block::open(dir.path().join(m.ulid.to_string())).unwrap();
    let mut want = a.clone();
    for (i, (_, s)) in want.iter_mut().enumerate() {
        s.extend(b[i].1.iter().copied());
    }
    assert_same(
        &query(&blk, &[], i64::MIN, i64::MAX),
        &model(&want, &[], i64::MIN, i64::MAX, &no_deletes),
    );
}

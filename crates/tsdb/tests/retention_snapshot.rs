//! Retention by time and by size, and snapshots.

use std::path::Path;

use tsdb::{Db, Options, SyncPolicy};
use tsdb_labels::Labels;

const MIN: i64 = 60_000;
const T0: i64 = 1_700_000_000_000;

fn fill(db: &Db, from: i64, minutes: i64) {
    let l = Labels::new([("__name__", "m"), ("job", "x")]).unwrap();
    for m in from..from + minutes {
        let mut app = db.appender();
        app.append(&l, T0 + m * MIN, m as f64).unwrap();
        app.commit().unwrap();
    }
}

fn opts() -> Options {
    Options {
        block_range: 10 * MIN,
        sync: SyncPolicy::Never,
        background: false,
        compaction: false,
        ..Options::default()
    }
}

fn oldest_sample(db: &Db) -> i64 {
    db.querier(i64::MIN, i64::MAX).select_all(&[]).unwrap()[0].samples[0].0
}

#[test]
fn retention_by_time_deletes_old_blocks() {
    let dir = tempfile::tempdir().unwrap();
    let db = Db::open(
        dir.path(),
        Options {
            retention_time: Some(30 * MIN),
            ..opts()
        },
    )
    .unwrap();
    fill(&db, 0, 120);
    let m = db.maintain().unwrap();
    assert!(!m.persisted.is_empty());
    assert!(!m.retention_removed.is_empty(), "{m:?}");
    let newest = T0 + 119 * MIN;
    for b in db.blocks() {
        assert!(
            b.max_time >= newest - 30 * MIN,
            "block ending {} kept",
            b.max_time
        );
    }
    assert!(oldest_sample(&db) >= newest - 40 * MIN);
    db.close().unwrap();
}

#[test]
fn retention_by_size_keeps_the_newest_blocks_within_the_limit() {
    let dir = tempfile::tempdir().unwrap();
    let db = Db::open(dir.path(), opts()).unwrap();
    fill(&db, 0, 120);
    db.maintain().unwrap();
    let all = db.blocks();
    assert!(all.len() >= 5, "{} blocks", all.len());
    db.close().unwrap();
    let size = |d: &Path| -> u64 {
        let mut n = 0;
        for e in walk(d) {
            n += std::fs::metadata(e).unwrap().len();
        }
        n
    };
    let one = size(&dir.path().join(all[0].ulid.to_string()));
    let db = Db::open(
        dir.path(),
        Options {
            retention_size: Some(one * 2 + one / 2),
            ..opts()
        },
    )
    .unwrap();
    let m = db.maintain().unwrap();
    assert_eq!(m.retention_removed.len(), all.len() - 2, "{m:?}");
    let kept = db.blocks();
    assert_eq!(kept.len(), 2);
    assert_eq!(kept[1].ulid, all[all.len() - 1].ulid);
    db.close().unwrap();
}

fn walk(d: &Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(d).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            out.extend(walk(&p));
        } else {
            out.push(p);
        }
    }
    out
}

#[test]
fn a_snapshot_holds_blocks_and_head_and_opens_as_a_database() {
    let dir = tempfile::tempdir().unwrap();
    let snap = tempfile::tempdir().unwrap();
    let db = Db::open(dir.path(), opts()).unwrap();
    fill(&db, 0, 45);
    db.maintain().unwrap();
    assert!(!db.blocks().is_empty());
    let want = db.querier(i64::MIN, i64::MAX).select_all(&[]).unwrap();
    let metas = db.snapshot(snap.path().join("copy")).unwrap();
    assert!(
        metas.len() > db.blocks().len(),
        "the head went into blocks too"
    );
    db.close().unwrap();
    let copy = Db::open(snap.path().join("copy"), opts()).unwrap();
    assert_eq!(
        copy.querier(i64::MIN, i64::MAX).select_all(&[]).unwrap(),
        want
    );
    copy.close().unwrap();
}
